"""Node faults seen through the real clients: ipmitool (SEL, SDR, chassis status), freeipmi's
ipmi-sensors, httpx on Redfish, and the node's workload endpoint, against a rack on loopback
running at 100x (the fan's heat takes minutes of emulated time, seconds of real time).

Each fault is injected on the model on the rack's own loop thread (``rack.call``), as the
control plane does; what the clients print is asserted, so a record a client misreads fails
here.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.harness import RackThread
from emulator.rack import Rack
from nodes.faults import NodeFault, PartKind
from nodes.power import HostState
from tests.client_helpers import workload_answer
from tests.conftest import require_tool, wait_for
from tests.snmp_helpers import integer, run, v2c, values

pytestmark = pytest.mark.tools

SPEED = 100.0
TOOL_TIMEOUT = 30.0


class Probe:
    """One node of a running rack, through its clients."""

    def __init__(self, rack: RackThread, device: str, sdr_cache: Path) -> None:
        self.rack = rack
        self.device = device
        self.ipmi_ep = rack.endpoint(device, "ipmi")
        self.rf_ep = rack.endpoint(device, "redfish")
        self.work_ep = rack.endpoint(device, "workload")
        self.sdr_cache = sdr_cache
        sdr_cache.mkdir(mode=0o700, exist_ok=True)

    # -- the model, on the rack's loop ------------------------------------------------------------
    def model(self, fn: Callable[[Any], Any]) -> Any:
        device = self.device
        return self.rack.call(lambda r: fn(r.nodes[device]))

    def inject(self, fault: NodeFault, target: str = "") -> None:
        self.model(lambda n: n.inject_fault(fault, target))

    def boot(self) -> None:
        self.model(lambda n: n.power_on())
        assert wait_for(lambda: self.model(lambda n: n.state) is HostState.RUNNING, 20)

    # -- the clients ------------------------------------------------------------------------------
    def ipmitool(self, *args: str) -> subprocess.CompletedProcess[str]:
        e = self.ipmi_ep
        argv = [require_tool("ipmitool"), "-I", "lanplus", "-C", "17", "-N", "1", "-R", "1"]
        argv += ["-H", e.address, "-p", str(e.port), "-U", e.username, "-P", e.password, *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT)

    def ipmi_ok(self, *args: str) -> str:
        done = self.ipmitool(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def sel(self) -> list[str]:
        """``ipmitool sel elist`` lines, without the record id and time columns."""
        out = self.ipmi_ok("sel", "elist")
        return [" | ".join(p.strip() for p in line.split("|")[3:]) for line in out.splitlines()]

    def sensors(self) -> dict[str, list[str]]:
        """freeipmi's ipmi-sensors table, by sensor name: [type, reading, units, event]."""
        e = self.ipmi_ep
        argv = [
            require_tool("ipmi-sensors"), "-D", "LAN_2_0", "-h", f"{e.address}:{e.port}",
            "-u", e.username, "-p", e.password, f"--sdr-cache-directory={self.sdr_cache}",
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
        assert done.returncode == 0, done.stderr
        rows = [[c.strip() for c in line.split("|")] for line in done.stdout.splitlines()[1:]]
        return {row[1]: row[2:] for row in rows if len(row) >= 6}

    def get(self, path: str, timeout: float = 5.0) -> dict[str, Any]:
        e = self.rf_ep
        r = httpx.get(
            f"{e.scheme}://{e.address}:{e.port}{path}",
            auth=(e.username, e.password),
            verify=False,
            timeout=timeout,
        )
        assert r.status_code == 200, (path, r.status_code, r.text)
        return dict(r.json())

    @property
    def system(self) -> str:
        return f"/redfish/v1/Systems/{self.device}"

    @property
    def chassis(self) -> str:
        return f"/redfish/v1/Chassis/{self.device}"

    def workload(self, timeout: float = 1.0) -> dict[str, Any] | None:
        """The workload endpoint's answer, or None when nothing comes back in time."""
        return workload_answer(self.work_ep, timeout)


def has(lines: list[str], *parts: str) -> bool:
    return any(all(p in line for p in parts) for line in lines)


@pytest.fixture
def rack(rack_factory: Callable[..., RackThread]) -> RackThread:
    return rack_factory(speed=SPEED)


# -- PSUs ------------------------------------------------------------------------------------------
def test_psu_one_then_both(rack: RackThread, tmp_path: Path) -> None:
    n = Probe(rack, "n01", tmp_path / "sdr")
    n.model(lambda node: node.set_power_restore_policy("previous"))
    n.boot()
    n.inject(NodeFault.PSU, "PSU1")
    sel = n.sel()
    assert has(sel, "PSU1 Status", "Failure detected", "Asserted"), sel
    assert has(sel, "PS Redundancy", "Redundancy Lost"), sel
    asserted = n.ipmi_ok("sdr", "get", "PSU1 Status").split("Assertions Enabled")[0]
    assert "[Presence detected]" in asserted and "[Failure detected]" in asserted, asserted
    assert n.ipmi_ok("chassis", "power", "status").strip() == "Chassis Power is on"
    psu1 = n.get(f"{n.chassis}/PowerSubsystem/PowerSupplies/PSU1")
    assert psu1["Status"]["Health"] == "Critical" and psu1["LineInputStatus"] == "Normal"
    assert n.get(n.system)["Status"]["Health"] == "Warning"
    assert n.get(f"{n.chassis}/PowerSubsystem")["Status"]["Health"] == "Warning"

    n.inject(NodeFault.PSU, "PSU2")
    assert n.ipmi_ok("chassis", "power", "status").strip() == "Chassis Power is off"
    status = n.ipmi_ok("chassis", "status")
    assert "Main Power Fault     : true" in status and "Last Power Event     : fault" in status
    refused = n.ipmitool("chassis", "power", "on")
    assert refused.returncode != 0, refused.stdout
    system = n.get(n.system)
    assert system["PowerState"] == "Off" and system["Status"]["Health"] == "Critical"
    r = httpx.post(
        f"{n.rf_ep.scheme}://{n.rf_ep.address}:{n.rf_ep.port}{n.system}"
        "/Actions/ComputerSystem.Reset",
        json={"ResetType": "On"},
        auth=(n.rf_ep.username, n.rf_ep.password),
        verify=False,
        timeout=5,
    )
    assert r.status_code == 409, r.text
    assert n.get(n.system)["PowerState"] == "Off"  # refused, nothing changed

    # A new PSU2 arrives: a new serial, and the restore policy ("previous") powers it on.
    old = n.get(f"{n.chassis}/PowerSubsystem/PowerSupplies/PSU2")["SerialNumber"]
    n.model(lambda node: node.replace_part(PartKind.PSU, "PSU2"))
    psu2 = n.get(f"{n.chassis}/PowerSubsystem/PowerSupplies/PSU2")
    assert psu2["SerialNumber"] != old and psu2["Status"]["Health"] == "OK"
    assert wait_for(lambda: n.get(n.system)["PowerState"] == "On", 10)
    assert has(n.sel(), "PSU2 Status", "Failure detected", "Deasserted")


# -- fans ------------------------------------------------------------------------------------------
def test_fan_failure_heats_the_node(rack: RackThread, tmp_path: Path) -> None:
    n = Probe(rack, "n02", tmp_path / "sdr")
    n.boot()
    n.inject(NodeFault.FAN, "Fan3")
    sensors = n.sensors()
    assert sensors["Fan3"][1:3] == ["0.00", "RPM"] and "Critical" in sensors["Fan3"][3], sensors
    assert has(n.sel(), "Fan3", "Lower Critical going low", "Asserted")
    fan = n.get(f"{n.chassis}/ThermalSubsystem/Fans/Fan3")
    assert fan["Status"]["Health"] == "Critical" and fan["SpeedPercent"]["SpeedRPM"] == 0
    assert not has(n.sel(), "Temperature")  # nothing at once: it takes minutes
    # ~6.5 emulated minutes to CPU1's upper critical; at 100x a few seconds.
    assert wait_for(lambda: has(n.sel(), "CPU1 Temp", "Upper Critical going high"), 30)
    sel = n.sel()
    warn = next(i for i, s in enumerate(sel) if "CPU1 Temp" in s and "Non-critical" in s)
    crit = next(i for i, s in enumerate(sel) if "CPU1 Temp" in s and "Upper Critical" in s)
    assert warn < crit, sel
    cpu = n.get(f"{n.chassis}/Sensors/Cpu1Temp")
    assert cpu["Reading"] >= 95 and cpu["Status"]["Health"] == "Critical", cpu
    assert n.get(n.system)["Status"]["Health"] == "Critical"
    assert n.get(f"{n.chassis}/ThermalSubsystem")["Status"]["Health"] == "Critical"
    assert "Critical" in n.sensors()["CPU1 Temp"][3]

    n.model(lambda node: node.replace_part(PartKind.FAN, "Fan3"))
    assert wait_for(
        lambda: has(n.sel(), "CPU1 Temp", "Upper Non-critical going high", "Deasserted"), 30
    )
    assert wait_for(lambda: n.get(n.system)["Status"]["Health"] == "OK", 30)
    assert n.get(f"{n.chassis}/ThermalSubsystem/Fans/Fan3")["Status"]["Health"] == "OK"


# -- memory and drives -----------------------------------------------------------------------------
def test_dimm_data_disk_and_boot_drives(rack: RackThread, tmp_path: Path) -> None:
    n = Probe(rack, "n03", tmp_path / "sdr")
    n.boot()
    assert wait_for(lambda: n.workload() is not None, 10)
    total = n.get(n.system)["MemorySummary"]["TotalSystemMemoryGiB"]

    n.inject(NodeFault.DIMM, "A3")
    sel = n.sel()
    assert has(sel, "Memory ECC", "Uncorrectable ECC", "Asserted"), sel
    assert has(sel, "OS Stop", "Run-time critical stop"), sel
    assert n.workload() is None  # the OS is gone
    dimm = n.get(f"{n.system}/Memory/A3")
    assert dimm["Status"] == {"State": "Enabled", "Health": "Critical"}
    assert n.get(n.system)["Status"]["Health"] == "Critical"
    n.ipmi_ok("chassis", "power", "cycle")
    assert wait_for(lambda: n.workload() is not None, 20)  # back, without the DIMM
    assert has(n.sel(), "Memory ECC", "Memory Device Disabled")
    assert n.get(f"{n.system}/Memory/A3")["Status"]["State"] == "Disabled"
    assert n.get(n.system)["MemorySummary"]["TotalSystemMemoryGiB"] == total - 32

    n.inject(NodeFault.DATA_DISK, "Disk.2")
    assert has(n.sel(), "Disk.2", "Drive Fault", "Asserted")
    assert n.get(f"{n.chassis}/Drives/Disk.2")["Status"]["Health"] == "Critical"
    assert n.get(f"{n.system}/Storage/HBA")["Status"]["Health"] == "Warning"
    assert "Drive Fault          : true" in n.ipmi_ok("chassis", "status")

    n.inject(NodeFault.BOOT_DRIVE, "BOSS.1")
    assert n.get(f"{n.system}/Storage/BOSS")["Status"]["Health"] == "Warning"
    assert n.workload() is not None  # the mirror carries on
    n.inject(NodeFault.BOOT_DRIVE, "BOSS.2")
    assert n.get(f"{n.system}/Storage/BOSS")["Status"]["Health"] == "Critical"
    assert n.workload() is None
    n.ipmi_ok("chassis", "power", "reset")
    assert wait_for(lambda: has(n.sel(), "POST Error", "Unrecoverable"), 20)
    time.sleep(200 / SPEED)  # longer than an OS boot: it never comes
    assert n.model(lambda node: node.state) is HostState.POST
    assert n.workload() is None
    # A new boot drive: the next reset boots.
    n.model(lambda node: node.replace_part(PartKind.BOOT_DRIVE, "BOSS.1"))
    n.ipmi_ok("chassis", "power", "reset")
    assert wait_for(lambda: n.workload() is not None, 20)


# -- network, OS and BMC ---------------------------------------------------------------------------
def test_nic_port_os_hang_and_bmc_hang(rack: RackThread, tmp_path: Path) -> None:
    n = Probe(rack, "n04", tmp_path / "sdr")
    n.boot()
    assert wait_for(lambda: (n.workload() or {}).get("paths") == ["tor-a", "tor-b"], 10)

    n.inject(NodeFault.NIC_PORT, "nic1")
    nic1 = n.get(f"{n.system}/EthernetInterfaces/nic1")
    assert nic1["LinkStatus"] == "LinkDown" and nic1["Status"]["Health"] == "Critical"
    assert n.get(f"{n.system}/EthernetInterfaces/nic2")["LinkStatus"] == "LinkUp"
    assert n.get(n.system)["Status"]["Health"] == "Warning"
    # The switch port went down with it: the workload answers through tor-b only.
    answer = n.workload()
    assert answer is not None and answer["paths"] == ["tor-b"], answer
    # ... and tor-a's agent says so: ifOperStatus down (2) on the port cabled to nic1.
    far = rack.call(lambda r: r.links["n04:nic1"])
    switch, port = far.split(":", 1)
    if_index = port.rsplit("/", 1)[1]
    oper = f".1.3.6.1.2.1.2.2.1.8.{if_index}"

    def if_oper() -> int:
        done = run(v2c("snmpget", rack.endpoint(switch, "snmp"), oper))
        assert done.returncode == 0, done.stderr
        return integer(values(done.stdout)[oper])

    assert switch == "tor-a" and if_oper() == 2
    n.model(lambda node: node.clear_fault(NodeFault.NIC_PORT, "nic1"))
    assert wait_for(lambda: (n.workload() or {}).get("paths") == ["tor-a", "tor-b"], 10)
    assert if_oper() == 1

    n.inject(NodeFault.OS_HANG)
    assert n.workload() is None
    n.ipmi_ok("chassis", "power", "soft")  # ignored by a hung OS
    time.sleep(60 / SPEED)
    assert n.ipmi_ok("chassis", "power", "status").strip() == "Chassis Power is on"
    n.ipmi_ok("chassis", "power", "reset")  # a reset ends the hang
    assert wait_for(lambda: n.workload() is not None, 20)
    assert n.model(lambda node: node.active_faults) == []

    n.inject(NodeFault.BMC_HANG)
    t0 = time.monotonic()
    silent = n.ipmitool("mc", "info")
    assert silent.returncode != 0 and time.monotonic() - t0 >= 1.0, silent.stderr
    with pytest.raises(httpx.TimeoutException):
        n.get("/redfish/v1/", timeout=2)
    assert n.workload() is not None  # the host runs on
    n.model(lambda node: node.clear_fault(NodeFault.BMC_HANG))
    assert wait_for(lambda: n.ipmitool("mc", "info").returncode == 0, 10)
    assert n.get("/redfish/v1/")["Id"] == "RootService"


def test_a_fault_through_the_rack_is_one_story(rack: RackThread, tmp_path: Path) -> None:
    """The same fault read back from the model, IPMI and Redfish at one moment agrees."""
    n = Probe(rack, "n02", tmp_path / "sdr")
    n.boot()

    def inject_both(r: Rack) -> list[tuple[NodeFault, str]]:
        node = r.nodes["n02"]
        node.inject_fault(NodeFault.DATA_DISK, "Disk.4")
        node.inject_fault(NodeFault.PSU, "PSU2")
        return node.active_faults

    faults = rack.call(inject_both)
    assert faults == [(NodeFault.DATA_DISK, "Disk.4"), (NodeFault.PSU, "PSU2")]
    assert has(n.sel(), "Disk.4", "Drive Fault") and has(n.sel(), "PSU2 Status", "Failure")
    assert n.get(f"{n.chassis}/Drives/Disk.4")["Status"]["Health"] == "Critical"
    assert n.get(f"{n.chassis}/PowerSubsystem/PowerSupplies/PSU2")["Status"]["Health"] == (
        "Critical"
    )
    entries = n.get("/redfish/v1/Managers/bmc/LogServices/SEL/Entries")["Members"]
    critical = [e for e in entries if e.get("Severity") == "Critical"]
    assert len(critical) >= 2, entries


# -- the Redfish events a fault makes (the translation, no sockets) --------------------------------
def test_part_faults_become_redfish_resource_events() -> None:
    from bmc.redfish.events import Translator
    from nodes.clock import VirtualClock
    from nodes.events import Event
    from tests.model_helpers import make_node

    clock = VirtualClock()
    seen: list[Event] = []
    node = make_node(clock, seen)
    t = Translator(node)
    t.baseline()

    def notices() -> list[tuple[str, str, tuple[str, ...]]]:
        out = [(n.key, n.origin, n.args) for e in seen for n in t(e)]
        seen.clear()
        return out

    node.inject_fault(NodeFault.DATA_DISK, "Disk.2")
    drive = "/redfish/v1/Chassis/n01/Drives/Disk.2"
    got = notices()
    assert ("ResourceStatusChangedCritical", drive, (drive, "Critical")) in got
    system = "/redfish/v1/Systems/n01"
    assert ("ResourceStatusChangedWarning", system, (system, "Warning")) in got
    sel_created = [k for k, origin, _ in got if origin.startswith("/redfish/v1/Managers/bmc/Log")]
    assert sel_created == ["ResourceCreated"]
    node.replace_part(PartKind.DATA_DISK, "Disk.2")
    got = notices()
    assert ("ResourceChanged", drive, ()) in got
    assert ("ResourceStatusChangedOK", drive, (drive, "OK")) in got
    node.inject_fault(NodeFault.PSU, "PSU1")
    psu = "/redfish/v1/Chassis/n01/PowerSubsystem/PowerSupplies/PSU1"
    assert ("ResourceStatusChangedCritical", psu, (psu, "Critical")) in notices()
    node.inject_fault(NodeFault.BMC_HANG)  # the BMC is no Redfish part of its own
    assert not [k for k, origin, _ in notices() if "Managers" in origin and "Log" not in origin]


# -- a whole replacement node ----------------------------------------------------------------------
def test_a_replacement_node_answers_with_factory_credentials(
    rack: RackThread, tmp_path: Path
) -> None:
    n = Probe(rack, "n03", tmp_path / "sdr")
    n.boot()
    n.inject(NodeFault.DATA_DISK, "Disk.1")
    before = n.get(n.system)
    assert n.sel()  # boot and fault records

    n.model(
        lambda node: node.replace(
            "CSNEW0001", username="root", password="calvin", firmware={"bios": "2.26.0"}
        )
    )
    # The rack's credentials are gone: both protocols refuse them.
    e = n.rf_ep
    url = f"{e.scheme}://{e.address}:{e.port}{n.system}"
    assert httpx.get(url, auth=(e.username, e.password), verify=False, timeout=5).status_code == 401
    refused = n.ipmitool("chassis", "power", "status")
    assert refused.returncode != 0 and "Unable to establish" in refused.stderr, refused.stderr
    # The factory ones work, and show a new machine: serial, UUID, firmware, empty SEL, off.
    r = httpx.get(url, auth=("root", "calvin"), verify=False, timeout=5)
    assert r.status_code == 200, r.text
    system = r.json()
    assert system["SerialNumber"] == "CSNEW0001" != before["SerialNumber"]
    assert system["UUID"] != before["UUID"] and system["BiosVersion"] == "2.26.0"
    assert system["PowerState"] == "Off" and system["Status"]["Health"] == "OK"
    ipmi = [
        require_tool("ipmitool"), "-I", "lanplus", "-C", "17", "-N", "1", "-R", "1",
        "-H", n.ipmi_ep.address, "-p", str(n.ipmi_ep.port), "-U", "root", "-P", "calvin",
    ]  # fmt: skip
    sel = subprocess.run([*ipmi, "sel", "elist"], capture_output=True, text=True, timeout=30)
    assert sel.returncode == 0 and "Drive Fault" not in sel.stdout, sel.stdout
    fru = subprocess.run([*ipmi, "fru", "print", "0"], capture_output=True, text=True, timeout=30)
    assert "CSNEW0001" in fru.stdout, fru.stdout


def test_a_hung_bmc_sends_no_redfish_events() -> None:
    """While hung, the BMC notices nothing: a fault then is never sent, even after it recovers;
    once back, it reports again."""
    import asyncio

    from bmc.redfish import registries
    from bmc.redfish.events import EventChannel, Filters
    from nodes.clock import VirtualClock
    from tests.model_helpers import make_node

    async def main() -> list[str]:
        channel: EventChannel | None = None

        def sink(e: Any) -> None:
            if channel is not None:
                channel.on_event(e)

        node = make_node(VirtualClock(), sink)
        channel = EventChannel(node, registries.load())
        listener = channel.listen(Filters())
        node.inject_fault(NodeFault.BMC_HANG)
        node.inject_fault(NodeFault.DATA_DISK, "Disk.1")
        await asyncio.sleep(0.01)
        assert len(listener.inbox) == 0
        node.clear_fault(NodeFault.BMC_HANG)
        node.inject_fault(NodeFault.DATA_DISK, "Disk.2")
        await asyncio.sleep(0.01)
        records = await listener.inbox.take(100, timeout=1)
        return [r.notice.origin for r in records]

    origins = asyncio.run(main())
    assert "/redfish/v1/Chassis/n01/Drives/Disk.2" in origins
    assert "/redfish/v1/Chassis/n01/Drives/Disk.1" not in origins


def test_a_hung_bmc_holds_redfish_requests_and_serves_them_once_it_recovers(
    rack: RackThread, tmp_path: Path
) -> None:
    """A hung BMC's TCP stack still accepts but its firmware never answers: a request waits
    (the client times out, the connection is not reset), on a new or a kept-alive connection,
    and one still waiting when the hang clears is answered."""
    n = Probe(rack, "n03", tmp_path / "sdr")
    e = n.rf_ep
    url = f"{e.scheme}://{e.address}:{e.port}"
    with httpx.Client(base_url=url, auth=(e.username, e.password), verify=False) as kept:
        assert kept.get("/redfish/v1/", timeout=5).status_code == 200  # kept alive
        n.inject(NodeFault.BMC_HANG)
        for client in (kept, None):
            t0 = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):  # not a RemoteProtocolError: no reset
                if client is None:
                    httpx.get(url + "/redfish/v1/", verify=False, timeout=1.5)
                else:
                    client.get("/redfish/v1/", timeout=1.5)
            assert time.monotonic() - t0 >= 1.4
        # A request sent while hung, answered once the hang clears while the client waits.
        results: list[httpx.Response | BaseException] = []

        def wait_for_answer() -> None:
            try:
                results.append(kept.get("/redfish/v1/Systems/n03", timeout=20))
            except BaseException as exc:  # reported by the assertion below
                results.append(exc)

        waiter = threading.Thread(target=wait_for_answer)
        waiter.start()
        time.sleep(1.0)
        assert results == []  # held
        n.model(lambda node: node.clear_fault(NodeFault.BMC_HANG))
        waiter.join(25)
        assert not waiter.is_alive()
        (answer,) = results
        assert isinstance(answer, httpx.Response), answer
        assert answer.status_code == 200 and answer.json()["Id"] == "n03"

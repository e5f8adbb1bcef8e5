"""Every fault of the catalogue, injected through the control plane (the ``scaleunit`` CLI or its
HTTP API), checked through the real clients: ipmitool (SEL, chassis, sensors), freeipmi's
ipmi-sensors, a Redfish client (httpx), net-snmp's snmpget/snmpwalk and snmptrapd, and the
nodes' workload endpoints.

The headline: ``scaleunit fault inject n02 psu-both`` powers n02 off, and ipmitool, Redfish, SNMP
and ``scaleunit status`` all tell the same story. Then one test per group of faults, each fault
on its own node or switch of one rack so that the group shares a boot, each with its clear.

Racks run at ``SPEED`` times real time; every wait is bounded (``wait_until``).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest

from bmc.snmp.traps import engine_id
from emulator import topology
from emulator.endpoints import Endpoint
from switches.model import PortRole
from switches.spec import port_name
from tests.client_helpers import workload_answer
from tests.conftest import (
    TEST_IPMI_PORT,
    TEST_REDFISH_PORT,
    TEST_SNMP_PORT,
    next_base_address,
    require_tool,
)
from tests.snmp_helpers import TrapReceiver, free_udp_port, integer, run, v2c, values
from tests.test_bmc_traps import V3TrapDaemon

if TYPE_CHECKING:
    from emulator.harness import RackThread

pytestmark = [pytest.mark.timeout(240), pytest.mark.tools]

T = TypeVar("T")

SPEED = 100.0
BOOTED_WITHIN = 30.0  # real seconds

SYS_NAME = ".1.3.6.1.2.1.1.5.0"
IF_OPER = ".1.3.6.1.2.1.2.2.1.8"
IF_INDEX = ".1.3.6.1.2.1.2.2.1.1"
ENT_STATE_OPER = ".1.3.6.1.2.1.131.1.1.1.3"
ENT_NAME = ".1.3.6.1.2.1.47.1.1.1.1.7"
TRAP_OID = ".1.3.6.1.6.3.1.1.4.1.0"
LINK_DOWN, LINK_UP, COLD_START = (
    ".1.3.6.1.6.3.1.1.5.3",
    ".1.3.6.1.6.3.1.1.5.4",
    ".1.3.6.1.6.3.1.1.5.1",
)
ENT_OPER_DISABLED, ENT_OPER_ENABLED = ".1.3.6.1.2.1.131.0.2", ".1.3.6.1.2.1.131.0.1"
UP, DOWN = 1, 2
PEER_LINK = PortRole.PEER_LINK


# -- the rack and the clients ---------------------------------------------------------------------


def rack_text(trap_port: int, bmc_trap_port: int) -> str:
    base = next_base_address()
    prefix = base.rsplit(".", 1)[0]
    text = topology.generate(
        4,
        base_address=base,
        ipmi_port=TEST_IPMI_PORT,
        redfish_port=TEST_REDFISH_PORT,
        redfish_tls=False,
        switch_base_address=prefix + ".240",
        snmp_port=TEST_SNMP_PORT,
        snmp_receivers=[f"{{address: 127.0.0.1, port: {trap_port}, version: v2c, kind: trap}}"],
        host_base_address=prefix + ".200",
        control_address="127.0.0.1",
        control_port=0,
        bmc_trap_receivers=[f"127.0.0.1:{bmc_trap_port}"],
    )
    # A BMC reset of 300 emulated seconds (3 real ones): long enough for a client to see the
    # silence whatever the machine's load.
    assert "  bmc_cold_reset_s: 30.0\n" in text
    return text.replace("  bmc_cold_reset_s: 30.0\n", "  bmc_cold_reset_s: 300.0\n")


def wait_until(check: Callable[[], T], what: str, within: float = 15.0) -> T:
    """Poll ``check`` until it returns something truthy, at most ``within`` real seconds."""
    deadline = time.monotonic() + within
    last: T = check()
    while not last:
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} within {within} s (last: {last!r})")
        time.sleep(0.1)
        last = check()
    return last


class Clients:
    """The real clients, pointed at one rack."""

    def __init__(self, rack: RackThread, traps: TrapReceiver, bmc_traps: V3TrapDaemon) -> None:
        self.rack = rack
        self.traps = traps
        self.bmc_traps = bmc_traps
        self.api = httpx.Client(
            base_url=rack.control_url,
            headers={"Authorization": f"Bearer {rack.token}"},
            timeout=10,
        )

    # control plane
    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "SCALEUNIT_URL": self.rack.control_url,
            "SCALEUNIT_TOKEN": self.rack.token,
            "COLUMNS": "200",
        }
        return subprocess.run(
            [require_tool("scaleunit"), *args], capture_output=True, text=True, env=env, timeout=30
        )

    def inject(self, kind: str, device: str, part: str | None = None) -> dict[str, Any]:
        body = {"kind": kind, "device": device} | ({"part": part} if part else {})
        resp = self.api.post("/faults", json=body)
        assert resp.status_code == 201, resp.text
        record: dict[str, Any] = resp.json()
        assert record["state"] == "active", record
        return record

    def clear(self, record: dict[str, Any]) -> dict[str, Any]:
        resp = self.api.delete(f"/faults/{record['id']}")
        assert resp.status_code == 200, resp.text
        cleared: dict[str, Any] = resp.json()
        assert (cleared["state"], cleared["cleared_by"]) == ("cleared", "operator")
        return cleared

    def fault(self, fault_id: str) -> dict[str, Any]:
        return next(f for f in self.api.get("/faults").json() if f["id"] == fault_id)

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = self.api.get("/status").json()
        return data

    def node_status(self, name: str) -> dict[str, Any]:
        return next(n for n in self.status()["nodes"] if n["name"] == name)

    def boot_all(self) -> None:
        for n in self.rack.topology.nodes:
            assert self.api.post(f"/nodes/{n.name}/start").status_code == 200
        wait_until(
            lambda: all(n["host_state"] == "running" for n in self.status()["nodes"]),
            "every host running",
            BOOTED_WITHIN,
        )

    # IPMI
    def ipmitool(self, node: str, *args: str) -> subprocess.CompletedProcess[str]:
        e = self.rack.endpoint(node, "ipmi")
        cmd = [require_tool("ipmitool"), "-I", "lanplus", "-C", "17", "-N", "1", "-R", "1"]
        cmd += ["-H", e.address, "-p", str(e.port), "-U", e.username, "-P", e.password, *args]
        return run(cmd, timeout=20)

    def sel(self, node: str) -> list[str]:
        done = self.ipmitool(node, "sel", "elist")
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    def power_status(self, node: str) -> str:
        return self.ipmitool(node, "chassis", "power", "status").stdout.strip()

    def ipmi_sensors(self, node: str, types: str) -> dict[str, tuple[str, str]]:
        """freeipmi's ipmi-sensors: {name: (reading, event)}."""
        e = self.rack.endpoint(node, "ipmi")
        done = run(
            [
                require_tool("ipmi-sensors"),
                "-D",
                "LAN_2_0",
                "-h",
                f"{e.address}:{e.port}",
                "-u",
                e.username,
                "-p",
                e.password,
                "-t",
                types,
                "--comma-separated-output",
                "--no-header-output",
            ],
            timeout=20,
        )
        assert done.returncode == 0, done.stderr
        out = {}
        for line in done.stdout.splitlines():
            _, name, _, reading, _, event = line.split(",", 5)
            out[name] = (reading, event)
        return out

    # Redfish
    def redfish(self, node: str, path: str, timeout: float = 5.0) -> dict[str, Any]:
        e = self.rack.endpoint(node, "redfish")
        resp = httpx.get(
            f"{e.scheme}://{e.address}:{e.port}{path}",
            auth=(e.username, e.password),
            verify=False,
            timeout=timeout,
        )
        assert resp.status_code == 200, (path, resp.status_code, resp.text)
        data: dict[str, Any] = resp.json()
        return data

    @contextlib.contextmanager
    def redfish_stream(self, node: str) -> Iterator[Iterator[str]]:
        """The node's Redfish SSE stream (EventService/SSE), open: its lines."""
        e = self.rack.endpoint(node, "redfish")
        with (
            httpx.Client(
                base_url=f"{e.scheme}://{e.address}:{e.port}",
                auth=(e.username, e.password),
                verify=False,
                timeout=httpx.Timeout(10.0, read=10.0),
            ) as client,
            client.stream("GET", "/redfish/v1/EventService/SSE") as stream,
        ):
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines).startswith(":")  # open: what happens from now on comes here
            yield lines

    def health(self, node: str, path: str) -> str:
        return str(self.redfish(node, path)["Status"]["Health"])

    def redfish_silent(self, node: str) -> bool:
        """Whether a Redfish request gets no HTTP answer at all."""
        e = self.rack.endpoint(node, "redfish")
        try:
            httpx.get(
                f"{e.scheme}://{e.address}:{e.port}/redfish/v1/",
                auth=(e.username, e.password),
                timeout=1.5,
            )
        except httpx.TimeoutException:
            return True  # held: the path is down, nothing comes back
        except (httpx.RemoteProtocolError, httpx.ConnectError):
            return True  # the BMC's firmware is down: the connection ends with no answer
        return False

    # SNMP
    def snmp(self, switch: str) -> Endpoint:
        return self.rack.endpoint(switch, "snmp")

    def snmpget(
        self, switch: str, oid: str, timeout: str = "2"
    ) -> subprocess.CompletedProcess[str]:
        cmd = v2c("snmpget", self.snmp(switch), oid)
        cmd[cmd.index("-t") + 1] = timeout
        cmd[cmd.index("-r") + 1] = "0"
        return run(cmd)

    def snmp_silent(self, switch: str) -> bool:
        done = self.snmpget(switch, SYS_NAME, timeout="0.5")
        return done.returncode != 0 and "Timeout" in done.stderr

    def if_oper(self, switch: str) -> dict[int, int]:
        """snmpwalk of ifOperStatus: {ifIndex: 1 up / 2 down}."""
        done = run(v2c("snmpwalk", self.snmp(switch), IF_OPER))
        assert done.returncode == 0, done.stderr
        return {int(oid.rsplit(".", 1)[1]): integer(v) for oid, v in values(done.stdout).items()}

    def entity_oper(self, switch: str) -> dict[str, int]:
        """entStateOper by entity name: 3 enabled, 2 disabled."""
        e = self.snmp(switch)
        names = values(run(v2c("snmpwalk", e, ENT_NAME)).stdout)
        opers = values(run(v2c("snmpwalk", e, ENT_STATE_OPER)).stdout)
        by_index = {oid.rsplit(".", 1)[1]: v.split('"')[1] for oid, v in names.items()}
        return {by_index[oid.rsplit(".", 1)[1]]: integer(v) for oid, v in opers.items()}

    def trap_seen(self, switch: str, trap: str, *also: str, within: float = 10.0) -> bool:
        address = f"[{self.snmp(switch).address}]"
        return self.traps.wait_for(
            lambda line: (
                address in line
                and f"{TRAP_OID} = OID: {trap}" in line
                and all(a in line for a in also)
            ),
            within,
        )

    def bmc_trap(self, node: str, name: str, *also: str, within: float = 10.0) -> bool:
        """Whether snmptrapd decrypted the BMC's SNMPv3 trap ``name`` (SCALEUNIT-BMC-MIB)."""
        address = self.rack.endpoint(node, "ipmi").address
        return self.bmc_traps.wait_for(
            lambda line: (
                line.startswith(f"TRAP UDP: [{address}]:")
                and f"SCALEUNIT-BMC-MIB::{name}" in line
                and all(a in line for a in also)
            ),
            within,
        )

    def bmc_traps_from(self, node: str) -> list[str]:
        address = self.rack.endpoint(node, "ipmi").address
        return [t for t in self.bmc_traps.traps() if t.startswith(f"TRAP UDP: [{address}]:")]

    # workloads
    def workload(self, node: str, timeout: float = 1.0) -> dict[str, Any] | None:
        return workload_answer(self.rack.endpoint(node, "workload"), timeout)


def tor_port(node: str) -> int:
    """The ToR port (and ifIndex) a node's NIC is cabled to: n01 on port 1, n02 on 2..."""
    return int(node[1:])


@pytest.fixture
def clients(rack_factory: Callable[..., RackThread]) -> Iterator[Clients]:
    """A booted rack at SPEED whose switches send v2c traps to one snmptrapd and whose BMCs send
    SNMPv3 hardware traps to another, which knows each BMC's engine ID and user."""
    bmc_port = free_udp_port()
    text = None
    with TrapReceiver() as traps:
        text = rack_text(traps.port, bmc_port)
        t = topology.load_text(text, "<test>")
        users = [
            f"createUser -e 0x{engine_id(n).hex()} {user} SHA {auth} AES {priv}"
            for n in t.nodes
            for user, auth, priv in [t.bmc_trap_user(n)]
        ]
        auth_users = sorted({f"authUser log {t.bmc_trap_user(n)[0]}" for n in t.nodes})
        bmc_traps = V3TrapDaemon(bmc_port, users, auth_users)
        try:
            rack = rack_factory(speed=SPEED, text=text)
            c = Clients(rack, traps, bmc_traps)
            c.boot_all()
            yield c
            c.api.close()
        finally:
            bmc_traps.close()


# -- the headline ---------------------------------------------------------------------------------


def test_psu_both_through_the_cli_and_every_protocol_tells_the_same_story(
    clients: Clients,
) -> None:
    c = clients
    # A Redfish client listening on n02's SSE stream while the CLI injects the fault.
    psus = "/redfish/v1/Chassis/n02/PowerSubsystem/PowerSupplies"
    critical: set[str] = set()
    with c.redfish_stream("n02") as lines:
        injected = c.cli("fault", "inject", "n02", "psu-both")
        assert injected.returncode == 0, injected.stderr
        assert injected.stdout.startswith("f-0001 psu-both n02 active"), injected.stdout
        deadline = time.monotonic() + 15
        for line in lines:
            assert time.monotonic() < deadline, critical
            if line.startswith("data: "):
                for event in json.loads(line[6:])["Events"]:
                    if event["MessageId"].endswith(".ResourceStatusChangedCritical"):
                        critical.add(event["OriginOfCondition"]["@odata.id"])
            if critical >= {f"{psus}/PSU1", f"{psus}/PSU2"}:
                break

    # IPMI: the chassis is off, the SEL has both supplies' failures and the redundancy loss.
    wait_until(lambda: c.power_status("n02") == "Chassis Power is off", "n02 off (ipmitool)")
    sel = c.sel("n02")
    for psu in ("PSU1", "PSU2"):
        assert any(
            f"Power Supply {psu} Status | Failure detected | Asserted" in line for line in sel
        ), sel
    assert any("Redundancy Lost" in line for line in sel), sel
    sensors = c.ipmi_sensors("n02", "Power_Supply")
    assert "Failure detected" in sensors["PSU1 Status"][1], sensors
    # The BMC sent its SNMPv3 hardware traps, decrypted by snmptrapd.
    assert c.bmc_trap("n02", "suBmcPowerSupplyCritical", "suBmcNodeName.0"), c.bmc_traps.lines
    # A power-on is refused: no supply delivers.
    assert c.ipmitool("n02", "chassis", "power", "on").returncode != 0
    assert c.power_status("n02") == "Chassis Power is off"

    # Redfish: PowerState Off, both PSUs Critical, the system Critical.
    system = c.redfish("n02", "/redfish/v1/Systems/n02")
    assert system["PowerState"] == "Off" and system["Status"]["Health"] == "Critical"
    assert [c.health("n02", f"{psus}/{p}") for p in ("PSU1", "PSU2")] == ["Critical", "Critical"]
    # Its neighbours are untouched.
    assert c.redfish("n01", "/redfish/v1/Systems/n01")["PowerState"] == "On"

    # SNMP: both ToRs see n02's port down, the others up, and sent linkDown for it.
    port = tor_port("n02")
    for tor in ("tor-a", "tor-b"):
        oper = c.if_oper(tor)
        assert oper[port] == DOWN, (tor, oper)
        assert all(oper[tor_port(n)] == UP for n in ("n01", "n03", "n04")), (tor, oper)
        assert c.trap_seen(tor, LINK_DOWN, f"{IF_INDEX}.{port} = INTEGER: {port}"), c.traps.lines
    # The workload is gone, the others answer.
    assert c.workload("n02") is None and c.workload("n01") is not None

    # scaleunit status agrees, as a table and as JSON.
    table = c.cli("status")
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if " n02 " in line)
    assert "Stopped" in row and "off" in row and "psu-both" in row, row
    as_json = json.loads(c.cli("status", "--format", "json").stdout)
    n02 = next(n for n in as_json["nodes"] if n["name"] == "n02")
    assert (n02["power_state"], n02["host_state"], n02["faults"]) == (
        "stopped",
        "off",
        ["psu-both"],
    )
    assert n02["health"] == "critical"  # as Redfish says
    listed = c.cli("fault", "list")
    assert listed.stdout.startswith("f-0001 psu-both n02 active"), listed.stdout

    # Cleared through the CLI: the SEL says so, Redfish is OK again, and the node powers on.
    cleared = c.cli("fault", "clear", "f-0001")
    assert cleared.returncode == 0 and "cleared by operator" in cleared.stdout, cleared
    sel = c.sel("n02")
    assert any("PSU1 Status | Failure detected | Deasserted" in line for line in sel), sel
    assert any("Fully Redundant" in line for line in sel), sel
    assert [c.health("n02", f"{psus}/{p}") for p in ("PSU1", "PSU2")] == ["OK", "OK"]
    assert c.ipmitool("n02", "chassis", "power", "on").returncode == 0
    wait_until(lambda: c.if_oper("tor-a")[port] == UP, "n02's tor-a port up again")
    assert c.trap_seen("tor-a", LINK_UP, f"{IF_INDEX}.{port} = INTEGER: {port}"), c.traps.lines
    assert c.cli("fault", "list").stdout.strip() == "no active or scheduled faults"


def test_a_bad_cli_request_is_one_error_line_and_changes_nothing(clients: Clients) -> None:
    c = clients
    before = c.api.get("/faults").json(), c.status()["nodes"]
    for args, needle in [
        (("fault", "inject", "n02", "psu-bth"), "did you mean 'psu-both'"),
        (("fault", "inject", "n02", "psu-one", "PSU7"), "valid: PSU1, PSU2"),
        (("fault", "inject", "tor-a", "fan"), "switch"),
        (("fault", "clear", "f-0042"), "f-0042"),
    ]:
        done = c.cli(*args)
        assert done.returncode == 1, (args, done)
        assert done.stderr.startswith("error: ") and needle in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1
    after = c.api.get("/faults").json(), c.status()["nodes"]
    assert after[0] == before[0] == []
    assert [(n["name"], n["host_state"], n["faults"]) for n in after[1]] == [
        (n["name"], n["host_state"], n["faults"]) for n in before[1]
    ]


# -- node hardware: SEL, sensors, Redfish -------------------------------------------------------


def test_psu_fan_dimm_and_data_disk_faults_in_the_sel_sensors_and_redfish(
    clients: Clients,
) -> None:
    c = clients
    # One scheduled through the CLI: 100 emulated seconds from now (one real second).
    later = c.cli("fault", "inject", "n01", "fan", "Fan6", "--in", "100")
    assert later.returncode == 0 and " scheduled at " in later.stdout, later
    psu = c.inject("psu-one", "n01", "PSU2")
    fan = c.inject("fan", "n02", "Fan2")
    dimm = c.inject("dimm-ue", "n03", "A3")
    disk = c.inject("data-disk", "n04", "Disk.2")

    # psu-one: redundancy lost, the node stays on.
    sel = c.sel("n01")
    assert any("Power Supply PSU2 Status | Failure detected | Asserted" in s for s in sel), sel
    assert any("Redundancy Lost" in s for s in sel), sel
    assert c.power_status("n01") == "Chassis Power is on"
    supplies = "/redfish/v1/Chassis/n01/PowerSubsystem/PowerSupplies"
    assert c.health("n01", f"{supplies}/PSU2") == "Critical"
    assert c.health("n01", f"{supplies}/PSU1") == "OK"
    assert c.redfish("n01", "/redfish/v1/Systems/n01")["PowerState"] == "On"
    assert c.bmc_trap("n01", "suBmcPowerSupplyCritical"), c.bmc_traps.lines
    assert c.bmc_trap("n01", "suBmcPowerSupplyWarning"), c.bmc_traps.lines  # redundancy lost

    # fan: 0 RPM at once, then the temperatures climb over emulated minutes: warning, critical.
    readings = c.ipmi_sensors("n02", "Fan")
    assert float(readings["Fan2"][0]) == 0.0 and "Lower Critical" in readings["Fan2"][1]
    assert float(readings["Fan1"][0]) > 0
    fan_rf = c.redfish("n02", "/redfish/v1/Chassis/n02/ThermalSubsystem/Fans/Fan2")
    assert fan_rf["SpeedPercent"]["SpeedRPM"] == 0 and fan_rf["Status"]["Health"] == "Critical"
    wait_until(
        lambda: any(
            "CPU1 Temp | Upper Non-critical going high | Asserted" in s for s in c.sel("n02")
        ),
        "a CPU temperature warning in the SEL",
        20,
    )
    wait_until(
        lambda: any("CPU1 Temp | Upper Critical going high | Asserted" in s for s in c.sel("n02")),
        "a critical CPU temperature in the SEL",
        20,
    )
    temps = c.ipmi_sensors("n02", "Temperature")
    assert "Upper Critical" in temps["CPU1 Temp"][1], temps
    for trap in ("suBmcFanCritical", "suBmcTemperatureWarning", "suBmcTemperatureCritical"):
        assert c.bmc_trap("n02", trap), (trap, c.bmc_traps.lines)

    # dimm-ue: the SEL names the error and the crash; Redfish's DIMM is Critical; no workload.
    sel = c.sel("n03")
    assert any("Memory" in s and "Uncorrectable ECC | Asserted" in s for s in sel), sel
    assert any("OS Critical Stop" in s and "Run-time critical stop" in s for s in sel), sel
    assert c.health("n03", "/redfish/v1/Systems/n03/Memory/A3") == "Critical"
    assert c.health("n03", "/redfish/v1/Systems/n03/Memory/A2") == "OK"
    assert c.workload("n03") is None
    assert c.bmc_trap("n03", "suBmcMemoryCritical") and c.bmc_trap("n03", "suBmcOsStopCritical")

    # data-disk: a drive fault; Redfish's drive is Critical; the host runs on.
    sel = c.sel("n04")
    assert any("Drive Slot / Bay Disk.2 | Drive Fault | Asserted" in s for s in sel), sel
    assert c.health("n04", "/redfish/v1/Chassis/n04/Drives/Disk.2") == "Critical"
    assert c.health("n04", "/redfish/v1/Chassis/n04/Drives/Disk.1") == "OK"
    assert c.workload("n04") is not None
    assert c.bmc_trap("n04", "suBmcDriveCritical"), c.bmc_traps.lines

    # The scheduled one fired: its SEL record, from the BMC's SNMPv3 trap too.
    wait_until(
        lambda: any("Fan Fan6 | Lower Critical going low  | Asserted" in s for s in c.sel("n01")),
        "the scheduled fan fault in n01's SEL",
    )
    assert c.bmc_trap("n01", "suBmcFanCritical"), c.bmc_traps.lines
    scheduled = c.fault(later.stdout.split()[0])
    assert scheduled["state"] == "active"
    # On time, give or take the loop's latency (scaled by SPEED: 0.5 s real is 50 s here).
    assert 0 <= scheduled["injected_at"] - scheduled["scheduled_for"] < 50, scheduled

    # Cleared: deassertions in the SEL, health back.
    for record in (psu, fan, dimm, disk, scheduled):
        c.clear(record)
    assert any("PSU2 Status | Failure detected | Deasserted" in s for s in c.sel("n01"))
    assert c.health("n01", f"{supplies}/PSU2") == "OK"
    assert float(c.ipmi_sensors("n02", "Fan")["Fan2"][0]) > 0
    assert any("Disk.2 | Drive Fault | Deasserted" in s for s in c.sel("n04"))
    assert c.health("n04", "/redfish/v1/Chassis/n04/Drives/Disk.2") == "OK"
    assert c.status()["nodes"][0]["faults"] == []
    assert c.bmc_trap("n01", "suBmcPowerSupplyInfo") and c.bmc_trap("n04", "suBmcDriveInfo")


def test_a_fan_fault_raises_its_hardware_alert_from_the_trap_and_clear_closes_it(
    clients: Clients,
) -> None:
    """``scaleunit fault inject n02 fan``: the BMC's SNMPv3 trap (decrypted by snmptrapd) raises
    the operator's fan alert, the climbing temperatures their own; ``fault clear`` sends the
    clearing traps, which close each alert as its sensor returns."""
    c = clients

    def open_alerts() -> dict[str, dict[str, Any]]:
        resp = c.api.get("/alerts", params={"open_only": True})
        assert resp.status_code == 200, resp.text
        return {a["kind"]: a for a in resp.json() if a["component"] == "n02"}

    injected = c.cli("fault", "inject", "n02", "fan")
    assert injected.returncode == 0, injected.stderr
    fault_id = injected.stdout.split()[0]
    assert c.bmc_trap("n02", "suBmcFanCritical"), c.bmc_traps.lines
    fan = wait_until(lambda: open_alerts().get("fan-failure"), "the fan alert", 5)
    assert (fan["title"], fan["severity"], fan["open"]) == ("Fan failure", "Critical", True)
    assert fan["hardware_id"].startswith(c.rack.topology.node("n02").serial + "/")
    # The temperatures climb over emulated minutes (seconds here): warning, then critical.
    wait_until(lambda: "temperature-critical" in open_alerts(), "the critical temperature", 20)
    assert {"fan-failure", "temperature-warning", "temperature-critical"} <= set(open_alerts())
    assert c.bmc_trap("n02", "suBmcTemperatureCritical"), c.bmc_traps.lines
    listed = c.cli("alert", "list")
    assert listed.returncode == 0 and "Fan failure" in listed.stdout, listed
    status = json.loads(c.cli("status", "--format", "json").stdout)
    assert {"fan-failure", "temperature-critical"} <= {
        a["kind"] for a in status["alerts"] if a["component"] == "n02"
    }

    cleared = c.cli("fault", "clear", fault_id)
    assert cleared.returncode == 0 and "cleared by operator" in cleared.stdout, cleared
    assert c.bmc_trap("n02", "suBmcFanInfo"), c.bmc_traps.lines  # the fan deasserts at once
    # The temperatures fall back within emulated seconds: each clearing trap closes its alert.
    wait_until(lambda: not open_alerts(), "n02's hardware alerts closed", 10)
    closed = [
        a
        for a in c.api.get("/alerts").json()
        if a["component"] == "n02" and a["kind"] in ("fan-failure", "temperature-critical")
    ]
    assert {(a["kind"], a["closed_by"]) for a in closed} == {
        ("fan-failure", "system"),
        ("temperature-critical", "system"),
    }


def test_boot_drive_faults_degrade_then_stop_the_boot(clients: Clients) -> None:
    c = clients
    one = c.inject("boot-drive-one", "n01")
    assert one["part"] == "BOSS.1"
    assert any("BOSS.1 | Drive Fault | Asserted" in s for s in c.sel("n01"))
    assert c.health("n01", "/redfish/v1/Chassis/n01/Drives/BOSS.1") == "Critical"
    assert c.health("n01", "/redfish/v1/Systems/n01/Storage/BOSS") == "Warning"  # degraded
    assert c.workload("n01") is not None  # the mirror's other half runs the OS

    both = c.inject("boot-drive-both", "n02")
    sel = c.sel("n02")
    assert all(any(f"{d} | Drive Fault | Asserted" in s for s in sel) for d in ("BOSS.1", "BOSS.2"))
    assert c.health("n02", "/redfish/v1/Systems/n02/Storage/BOSS") == "Critical"
    # A power cycle (ipmitool) ends in POST with no bootable device: no OS, no workload.
    assert c.ipmitool("n02", "chassis", "power", "cycle").returncode == 0
    wait_until(
        lambda: any("POST Error" in s for s in c.sel("n02")), "a POST error in n02's SEL", 20
    )
    assert c.redfish("n02", "/redfish/v1/Systems/n02")["Status"]["Health"] == "Critical"
    assert c.workload("n02") is None
    assert c.node_status("n02")["host_state"] != "running"

    c.clear(one)
    c.clear(both)
    assert c.health("n01", "/redfish/v1/Systems/n01/Storage/BOSS") == "OK"
    assert c.ipmitool("n02", "chassis", "power", "reset").returncode == 0
    wait_until(lambda: c.workload("n02") is not None, "n02's OS back after a reset", 20)


# -- power, the host and firmware ---------------------------------------------------------------


def test_ac_loss_os_hang_firmware_drift_and_bmc_reboot(clients: Clients) -> None:
    c = clients
    # ac-loss on n01: off, the SEL says AC lost, chassis status says ac-failed.
    ac = c.inject("ac-loss", "n01")
    status = c.ipmitool("n01", "chassis", "status").stdout
    assert "System Power         : off" in status and "ac-failed" in status, status
    sel = c.sel("n01")
    assert any("PSU1 Status | Power Supply AC lost | Asserted" in s for s in sel), sel
    assert c.redfish("n01", "/redfish/v1/Systems/n01")["PowerState"] == "Off"
    assert c.bmc_trap("n01", "suBmcPowerSupplyCritical", "input lost"), c.bmc_traps.lines

    # os-hang on n02: power on, BMC answers, the workload is silent, a soft off does nothing.
    hang = c.inject("os-hang", "n02")
    assert c.power_status("n02") == "Chassis Power is on"
    assert c.redfish("n02", "/redfish/v1/Systems/n02")["PowerState"] == "On"
    assert c.workload("n02") is None
    assert c.ipmitool("n02", "chassis", "power", "soft").returncode == 0
    time.sleep(1.0)  # 100 emulated seconds: longer than an OS shutdown
    assert c.power_status("n02") == "Chassis Power is on"

    # firmware-drift on n03: the BIOS a version behind in Redfish's inventory.
    drift = c.inject("firmware-drift", "n03", "bios")
    inventory = "/redfish/v1/UpdateService/FirmwareInventory/bios"
    assert c.redfish("n03", inventory)["Version"] == "2.26.0" == drift["version"]
    assert c.redfish("n04", inventory)["Version"] == "2.27.0"
    # The operator's Repair wants the baseline: refused, with the component named.
    refused = c.api.post("/nodes/n03/repair")
    assert refused.status_code == 409, refused.text
    assert "not at the baseline" in refused.json()["error"] and "bios 2.26.0" in refused.text

    # bmc-reboot on n04: the BMC is silent, then back by itself; the host ran on.
    reboot = c.inject("bmc-reboot", "n04")
    assert c.ipmitool("n04", "mc", "info").returncode != 0
    assert c.workload("n04") is not None
    wait_until(lambda: c.ipmitool("n04", "mc", "info").returncode == 0, "n04's BMC back", 15)
    wait_until(lambda: c.fault(reboot["id"])["state"] == "cleared", "bmc-reboot ended")
    assert c.fault(reboot["id"])["cleared_by"] == "self"
    assert c.power_status("n04") == "Chassis Power is on"

    # Clears: the power-restore policy (always-off) keeps n01 off; the OS hang needs a reset.
    c.clear(ac)
    assert any("PSU1 Status | Power Supply AC lost | Deasserted" in s for s in c.sel("n01"))
    time.sleep(0.5)
    assert c.power_status("n01") == "Chassis Power is off"
    c.clear(hang)
    wait_until(lambda: c.workload("n02") is not None, "n02's OS answering again")
    c.clear(drift)
    assert c.redfish("n03", inventory)["Version"] == "2.27.0"


# -- network: NIC ports, cables, the BMC -------------------------------------------------------


def test_nic_port_cables_and_bmc_hang_on_the_wire(clients: Clients) -> None:
    c = clients
    nic = c.inject("nic-port", "n01", "nic1")
    cable = c.inject("cable-nic", "n02", "nic2")
    bmc_cable = c.inject("cable-bmc", "n03")
    hang = c.inject("bmc-hang", "n04")

    # The ToR ports go down and say so; Redfish shows the NIC without link; workloads answer
    # through the other ToR.
    wait_until(lambda: c.if_oper("tor-a")[tor_port("n01")] == DOWN, "n01's tor-a port down")
    assert c.if_oper("tor-b")[tor_port("n02")] == DOWN
    assert c.if_oper("tor-a")[tor_port("n02")] == UP
    for tor, node in (("tor-a", "n01"), ("tor-b", "n02")):
        p = tor_port(node)
        assert c.trap_seen(tor, LINK_DOWN, f"{IF_INDEX}.{p} = INTEGER: {p}"), c.traps.lines
    nic1 = c.redfish("n01", "/redfish/v1/Systems/n01/EthernetInterfaces/nic1")
    assert nic1["LinkStatus"] == "LinkDown"
    nic2 = c.redfish("n02", "/redfish/v1/Systems/n02/EthernetInterfaces/nic2")
    assert nic2["LinkStatus"] == "LinkDown"
    assert (c.workload("n01") or {}).get("paths") == ["tor-b"]
    assert (c.workload("n02") or {}).get("paths") == ["tor-a"]

    # The BMC cable: n03's BMC port on the BMC switch is down, IPMI and Redfish time out, the
    # host runs on. The hung BMC of n04: same silence, its port still up.
    oper = c.if_oper("bmc-switch")
    assert oper[tor_port("n03")] == DOWN and oper[tor_port("n04")] == UP, oper
    for node in ("n03", "n04"):
        assert c.ipmitool(node, "chassis", "power", "status").returncode != 0
        assert c.redfish_silent(node)
        assert c.workload(node) is not None
    assert not c.node_status("n04")["bmc_reachable"]
    # Neither BMC gets a hardware trap out: one has no path, the other is hung.
    disk = c.inject("data-disk", "n03", "Disk.3")
    fan = c.inject("fan", "n04", "Fan4")
    time.sleep(1.5)  # a trap on loopback takes milliseconds
    assert c.bmc_traps_from("n03") == [] and c.bmc_traps_from("n04") == []
    c.clear(disk)
    c.clear(fan)

    for record in (nic, cable, bmc_cable, hang):
        c.clear(record)
    wait_until(lambda: c.if_oper("tor-a")[tor_port("n01")] == UP, "n01's tor-a port up")
    assert c.if_oper("tor-b")[tor_port("n02")] == UP
    assert c.if_oper("bmc-switch")[tor_port("n03")] == UP
    for node in ("n03", "n04"):
        wait_until(lambda n=node: c.power_status(n) == "Chassis Power is on", f"{node}'s BMC")
    assert c.redfish("n01", "/redfish/v1/Systems/n01/EthernetInterfaces/nic1")["LinkStatus"] == (
        "LinkUp"
    )


# -- switches -----------------------------------------------------------------------------------


def test_switch_psu_fan_and_port_faults_over_snmp(clients: Clients) -> None:
    c = clients
    psu = c.inject("switch-psu", "tor-a", "PSU2")
    fan = c.inject("switch-fan", "tor-b", "Fan3")
    port = c.inject("switch-port", "tor-b", port_name(tor_port("n03")))

    oper = c.entity_oper("tor-a")
    assert (oper["PSU1"], oper["PSU2"]) == (3, 2), oper
    assert c.trap_seen("tor-a", ENT_OPER_DISABLED), c.traps.lines
    oper = c.entity_oper("tor-b")
    assert (oper["Fan2"], oper["Fan3"]) == (3, 2), oper
    assert c.trap_seen("tor-b", ENT_OPER_DISABLED), c.traps.lines
    assert c.snmpget("tor-a", SYS_NAME).returncode == 0  # both stay up

    p = tor_port("n03")
    assert c.if_oper("tor-b")[p] == DOWN
    assert c.trap_seen("tor-b", LINK_DOWN, f"{IF_INDEX}.{p} = INTEGER: {p}"), c.traps.lines
    nic2 = c.redfish("n03", "/redfish/v1/Systems/n03/EthernetInterfaces/nic2")
    assert nic2["LinkStatus"] == "LinkDown"

    for record in (psu, fan, port):
        c.clear(record)
    assert c.entity_oper("tor-a")["PSU2"] == 3 and c.entity_oper("tor-b")["Fan3"] == 3
    assert c.trap_seen("tor-a", ENT_OPER_ENABLED), c.traps.lines
    wait_until(lambda: c.if_oper("tor-b")[p] == UP, "n03's tor-b port up")


def test_switch_power_and_reboot(clients: Clients) -> None:
    c = clients
    power = c.inject("switch-power", "tor-b")
    assert c.snmp_silent("tor-b")
    # tor-a sees its peer links to tor-b go down, and every node's nic2 loses link.
    peers = c.rack.call(
        lambda r: [p.index for p in r.switches["tor-a"].ports.values() if p.role is PEER_LINK]
    )
    assert len(peers) == 2
    oper = c.if_oper("tor-a")
    assert all(oper[p] == DOWN for p in peers), oper
    assert c.trap_seen("tor-a", LINK_DOWN, f"{IF_INDEX}.{peers[0]} = INTEGER: {peers[0]}")
    nic2 = c.redfish("n01", "/redfish/v1/Systems/n01/EthernetInterfaces/nic2")
    assert nic2["LinkStatus"] == "LinkDown"
    assert (c.workload("n01") or {}).get("paths") == ["tor-a"]
    c.clear(power)
    wait_until(lambda: c.snmpget("tor-b", SYS_NAME).returncode == 0, "tor-b booted", 20)
    assert c.trap_seen("tor-b", COLD_START), c.traps.lines

    reboot = c.inject("switch-reboot", "tor-a")
    assert c.snmp_silent("tor-a")
    wait_until(lambda: c.snmpget("tor-a", SYS_NAME).returncode == 0, "tor-a back", 20)
    wait_until(lambda: c.fault(reboot["id"])["state"] == "cleared", "switch-reboot ended")
    assert c.fault(reboot["id"])["cleared_by"] == "self"
    wait_until(lambda: (c.workload("n01") or {}).get("paths") == ["tor-a", "tor-b"], "both paths")


def test_switch_config_loss_until_the_backup_is_restored(clients: Clients) -> None:
    c = clients
    assert "tor-a" in c.snmpget("tor-a", SYS_NAME).stdout
    loss = c.inject("switch-config-loss", "tor-a")
    # It reloads with factory defaults: no management address nor SNMP, no data path.
    time.sleep(1.5)  # the reload (150 emulated seconds)
    assert c.snmp_silent("tor-a")
    wait_until(lambda: (c.workload("n01") or {}).get("paths") == ["tor-b"], "n01 via tor-b only")
    tor_a = next(s for s in c.status()["switches"] if s["name"] == "tor-a")
    assert tor_a["faults"] == ["switch-config-loss"] and not tor_a["managed"]
    # Clearing loads the backup and saves it: the agent answers with its name again.
    wait_until(lambda: c.api.delete(f"/faults/{loss['id']}").status_code == 200, "the restore")
    wait_until(lambda: "tor-a" in c.snmpget("tor-a", SYS_NAME).stdout, "tor-a's agent back")
    wait_until(lambda: (c.workload("n01") or {}).get("paths") == ["tor-a", "tor-b"], "both paths")
    assert c.fault(loss["id"])["cleared_by"] == "operator"

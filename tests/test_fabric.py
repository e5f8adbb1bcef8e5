"""The fabric: what reaches what when switches and ports fail.

First on the virtual clock (the rules of ``emulator.fabric``, no sockets), then on a running rack
with the real tools: a ToR lost (its agent silent, every node's NIC on that side down in Redfish,
workloads answering through the other ToR, linkDown traps from the survivor's peer links), both
ToRs lost (no workload answers), the BMC switch lost (ipmitool and Redfish time out, workloads
answer), and everything back (counters resume, coldStart).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from bmc.redfish import mapping
from bmc.redfish.events import Notice, Translator
from emulator import topology as topo
from emulator.endpoints import Endpoint
from emulator.fabric import BmcPathChanged, DataPathChanged, FabricChanged, ManagementPathChanged
from emulator.harness import RackThread
from emulator.rack import Rack
from nodes.clock import VirtualClock
from nodes.events import Event, LinkChanged
from switches.spec import port_name
from tests.client_helpers import ipmitool, redfish_get, workload_answer
from tests.conftest import wait_for
from tests.rack_helpers import rack_fixture, running, seen_fixture  # noqa: F401 (fixtures)
from tests.snmp_helpers import TrapReceiver, integer, run, v2c, values

# -- the rules, on the virtual clock -----------------------------------------------------------


def fabric_events(seen: list[Event]) -> list[FabricChanged]:
    return [e for e in seen if isinstance(e, FabricChanged)]


def test_a_rack_starts_with_every_bmc_and_switch_reachable_and_no_workload(rack: Rack) -> None:
    f = rack.fabric
    assert all(f.bmc_path_up(n) and f.bmc_answering(n) for n in rack.nodes)
    assert all(f.management_path_up(s) for s in rack.switches)
    # Hosts are off: no NIC transmits, no data path, no workload; carrier is there all the same.
    assert all(f.data_path(n) == () and not f.workload_answering(n) for n in rack.nodes)
    nodes = rack.nodes.values()
    assert all(all(n.nic_carrier.values()) and not n.network_degraded() for n in nodes)


def test_hosts_coming_up_get_both_tors(rack: Rack, clock: VirtualClock, seen: list[Event]) -> None:
    running(rack, clock)
    f = rack.fabric
    assert all(f.data_path(n) == ("tor-a", "tor-b") for n in rack.nodes)
    assert all(f.workload_answering(n) for n in rack.nodes)
    ups = [e for e in fabric_events(seen) if isinstance(e, DataPathChanged)]
    assert {e.device for e in ups} == set(rack.nodes)
    assert all(e.up for e in ups) and ups[-1].via == ("tor-a", "tor-b")
    # A host whose OS hangs keeps its path, not its workload.
    rack.nodes["n02"].os_responsive = False
    assert f.data_path_up("n02") and not f.workload_answering("n02")


def test_one_tor_lost_is_n_minus_1_both_lost_isolate(
    rack: Rack, clock: VirtualClock, seen: list[Event]
) -> None:
    running(rack, clock)
    f = rack.fabric
    seen.clear()
    rack.switches["tor-a"].power_off()
    assert all(f.data_path(n) == ("tor-b",) and f.workload_answering(n) for n in rack.nodes)
    for name, node in rack.nodes.items():
        assert not node.nic_link_up("nic1") and node.nic_link_up("nic2")
        assert not f.nic_link_up(name, "nic1") and f.nic_link_up(name, "nic2")
        assert node.network_degraded() and mapping.health(node) == "Warning"
    events = fabric_events(seen)
    assert sorted((e.device, e.via) for e in events if isinstance(e, DataPathChanged)) == [
        (n, ("tor-b",)) for n in sorted(rack.nodes)
    ]
    assert [(e.device, e.up) for e in events if isinstance(e, ManagementPathChanged)] == [
        ("tor-a", False)
    ]
    assert not any(isinstance(e, BmcPathChanged) for e in events)  # BMCs are on the BMC switch
    # The survivor sees its peer links go down (its linkDown traps).
    down = {(e.device, e.port) for e in seen if isinstance(e, LinkChanged) and not e.up}
    assert {("tor-b", port_name(49)), ("tor-b", port_name(50))} <= down
    assert f.management_path_up("tor-b")

    seen.clear()
    rack.switches["tor-b"].power_off()
    assert not any(f.data_path_up(n) or f.workload_answering(n) for n in rack.nodes)
    assert all(not e.up for e in fabric_events(seen) if isinstance(e, DataPathChanged))
    assert all(f.bmc_answering(n) for n in rack.nodes)  # the BMC network is separate

    for tor in ("tor-a", "tor-b"):
        rack.switches[tor].power_on()
    clock.advance(rack.switches["tor-a"].spec.boot_s)
    assert all(f.data_path(n) == ("tor-a", "tor-b") for n in rack.nodes)
    assert all(mapping.health(n) == "OK" for n in rack.nodes.values())
    assert all(f.management_path_up(s) for s in rack.switches)


def test_bmc_switch_lost_silences_bmcs_and_tor_management_not_workloads(
    rack: Rack, clock: VirtualClock, seen: list[Event]
) -> None:
    running(rack, clock)
    f = rack.fabric
    seen.clear()
    rack.switches["bmc-switch"].power_off()
    assert not any(f.bmc_path_up(n) or f.bmc_answering(n) for n in rack.nodes)
    assert not rack.bmc_port_up("n01")  # the rack's old name asks the fabric
    assert all(f.workload_answering(n) and f.data_path(n) == ("tor-a", "tor-b") for n in rack.nodes)
    events = fabric_events(seen)
    assert sorted(e.device for e in events if isinstance(e, BmcPathChanged)) == sorted(rack.nodes)
    # The ToRs are managed in band over their links to the BMC switch.
    assert {e.device for e in events if isinstance(e, ManagementPathChanged)} == {
        "tor-a",
        "tor-b",
        "bmc-switch",
    }
    assert not any(isinstance(e, DataPathChanged) for e in events)
    rack.switches["bmc-switch"].power_on()
    clock.advance(rack.switches["bmc-switch"].spec.boot_s)
    assert all(f.bmc_answering(n) for n in rack.nodes)
    assert all(f.management_path_up(s) for s in rack.switches)


def test_ports_shut_one_by_one(rack: Rack, clock: VirtualClock, seen: list[Event]) -> None:
    running(rack, clock)
    f = rack.fabric
    bmc_switch, tor_a = rack.switches["bmc-switch"], rack.switches["tor-a"]
    seen.clear()
    bmc_switch.set_admin(port_name(2), False)  # n02's BMC port
    assert [(e.device, e.up) for e in fabric_events(seen)] == [("n02", False)]
    assert not f.bmc_path_up("n02") and f.bmc_path_up("n01")
    bmc_switch.set_admin(port_name(2), True)
    assert f.bmc_path_up("n02")

    seen.clear()
    tor_a.set_admin(port_name(3), False)  # n03's nic1
    assert f.data_path("n03") == ("tor-b",) and f.data_path("n01") == ("tor-a", "tor-b")
    assert not rack.nodes["n03"].nic_carrier["nic1"]
    assert mapping.health(rack.nodes["n03"]) == "Warning"
    assert mapping.health(rack.nodes["n01"]) == "OK"
    assert [e.device for e in fabric_events(seen)] == ["n03"]
    tor_a.set_admin(port_name(3), True)
    assert f.data_path("n03") == ("tor-a", "tor-b") and rack.nodes["n03"].nic_carrier["nic1"]

    # An unused port changes nothing anyone can reach.
    seen.clear()
    tor_a.set_admin(port_name(40), False)
    assert fabric_events(seen) == []


def test_a_lost_nic_link_is_a_redfish_health_event(rack: Rack, clock: VirtualClock) -> None:
    running(rack, clock)
    translators = {name: Translator(node) for name, node in rack.nodes.items()}
    for t in translators.values():
        t.baseline()
    notices: list[Notice] = []
    rack.bus.subscribe(
        lambda e: notices.extend(translators[e.device](e)) if e.device in translators else None
    )
    rack.switches["tor-b"].power_off()
    warned = [n for n in notices if n.key == "ResourceStatusChangedWarning"]
    assert sorted(n.origin for n in warned) == [
        f"/redfish/v1/Systems/{n}" for n in sorted(rack.nodes)
    ]
    notices.clear()
    rack.switches["tor-b"].power_on()
    clock.advance(rack.switches["tor-b"].spec.boot_s)
    assert sum(n.key == "ResourceStatusChangedOK" for n in notices) == len(rack.nodes)


def test_a_tor_without_uplinks_carries_traffic_over_the_peer_link(
    rack: Rack, clock: VirtualClock, seen: list[Event]
) -> None:
    running(rack, clock)
    f = rack.fabric
    tor_a = rack.switches["tor-a"]
    for p in (51, 52):  # both of tor-a's border uplinks
        tor_a.set_admin(port_name(p), False)
    assert all(f.data_path(n) == ("tor-a", "tor-b") for n in rack.nodes)
    for p in (49, 50):  # and the peer links: tor-a is an island
        tor_a.set_admin(port_name(p), False)
    assert all(f.data_path(n) == ("tor-b",) for n in rack.nodes)
    # Its NIC links are up all the same: the host cannot see past the switch.
    assert all(f.nic_link_up(n, "nic1") for n in rack.nodes)
    # A link lost where the path does not change is still announced (health follows links).
    seen.clear()
    tor_a.set_admin(port_name(1), False)
    changed = [e for e in fabric_events(seen) if isinstance(e, DataPathChanged)]
    assert len(changed) == len(fabric_events(seen))
    assert [(e.device, e.via, e.links) for e in changed] == [("n01", ("tor-b",), ("nic2",))]
    assert f.management_path_up("tor-a")  # its management goes over the BMC switch


def tors_attached(nodes: int = 4) -> topo.Topology:
    """The standard rack without a BMC switch: odd nodes' BMCs on tor-a, even on tor-b."""
    tree: Any = topo._to_plain(topo.parse_yaml(topo.generate(nodes)))
    tree["bmc_attach"] = "tors"
    tree["switches"] = [s for s in tree["switches"] if s["role"] != "bmc"]
    cables = []
    for c in tree["cabling"]:
        if c["a"].endswith(":bmc"):
            i = int(c["a"][1:3])
            tor = "tor-a" if i % 2 else "tor-b"
            cables.append({"a": c["a"], "b": f"{tor}:{port_name(20 + i)}"})
        elif not (c["a"].startswith("bmc-switch:") or c["b"].startswith("bmc-switch:")):
            cables.append(c)
    tree["cabling"] = cables
    t = topo.Topology.model_validate(tree)
    assert topo.check(t) == []
    return t


def test_bmcs_on_the_tors_follow_their_tor(clock: VirtualClock) -> None:
    rack = Rack(tors_attached(), clock)
    f = rack.fabric
    assert all(f.bmc_path_up(n) for n in rack.nodes)
    rack.switches["tor-a"].power_off()
    assert [n for n in rack.nodes if f.bmc_path_up(n)] == ["n02", "n04"]
    assert f.bmc_switch_of("n01") == "tor-a"
    # No BMC switch: the ToRs are managed out of band, each while it is up.
    assert not f.management_path_up("tor-a") and f.management_path_up("tor-b")


def test_host_addresses_are_derived_or_given() -> None:
    t = topo.default(4)
    assert [str(t.host_address(n)) for n in t.nodes] == [f"127.0.3.{i}" for i in range(1, 5)]
    t = topo.load_text(topo.generate(4, host_base_address="127.9.9.100"))
    assert str(t.host_address(t.nodes[3])) == "127.9.9.104"
    tree: Any = topo._to_plain(topo.parse_yaml(topo.generate(4)))
    tree["nodes"][1]["host_address"] = "127.0.3.1"
    with pytest.raises(topo.TopologyError, match=r"host address 127\.0\.3\.1 is also used"):
        topo.load_text(json.dumps(tree))


# -- the real tools against a running rack ----------------------------------------------------

SYS_NAME = ".1.3.6.1.2.1.1.5.0"
IF_HC_IN = ".1.3.6.1.2.1.31.1.1.1.6"
TRAP_OID = ".1.3.6.1.6.3.1.1.4.1.0"
LINK_DOWN, COLD_START = ".1.3.6.1.6.3.1.1.5.3", ".1.3.6.1.6.3.1.1.5.1"
IF_INDEX = ".1.3.6.1.2.1.2.2.1.1"


def probe_all(rack: RackThread, timeout: float = 1.0) -> dict[str, dict[str, Any] | None]:
    eps = [e for e in rack.endpoints if e.protocol == "workload"]
    with ThreadPoolExecutor(len(eps)) as pool:
        answers = pool.map(lambda e: workload_answer(e, timeout), eps)
        return dict(zip([e.device for e in eps], answers, strict=True))


def start_every_host(rack: RackThread) -> None:
    rack.call(lambda r: [n.power_on() for n in r.nodes.values()])
    assert wait_for(lambda: all(a is not None for a in probe_all(rack, 0.5).values()), 20)


def snmp_get(e: Endpoint, oid: str, timeout: str = "2") -> subprocess.CompletedProcess[str]:
    cmd = v2c("snmpget", e, oid)
    cmd[cmd.index("-t") + 1] = timeout
    cmd[cmd.index("-r") + 1] = "0"
    return run(cmd)


def receiver(port: int) -> str:
    return f"{{address: 127.0.0.1, port: {port}, version: v2c, kind: trap}}"


@pytest.mark.tools
def test_tor_loss_with_the_real_tools(rack_factory: Callable[..., RackThread]) -> None:
    with TrapReceiver() as traps:
        rack = rack_factory(speed=100, snmp_receivers=[receiver(traps.port)])
        nodes = [e.device for e in rack.endpoints if e.protocol == "ipmi"]
        tor_a, tor_b = rack.endpoint("tor-a", "snmp"), rack.endpoint("tor-b", "snmp")
        start_every_host(rack)
        assert all(a and a["paths"] == ["tor-a", "tor-b"] for a in probe_all(rack).values())
        assert snmp_get(tor_a, SYS_NAME).returncode == 0

        rack.call(lambda r: r.switches["tor-a"].power_off())
        silent = snmp_get(tor_a, SYS_NAME, timeout="0.5")
        assert silent.returncode != 0 and "Timeout" in silent.stderr
        # Every workload still answers, through tor-b only.
        answers = probe_all(rack)
        assert all(a and a["paths"] == ["tor-b"] for a in answers.values()), answers
        assert all(a and a["nics"] == {"nic1": False, "nic2": True} for a in answers.values())
        # Every node's BMC says its nic1 has no link, and the system is degraded.
        for name in nodes:
            e = rack.endpoint(name, "redfish")
            base = f"/redfish/v1/Systems/{name}"
            nic1 = redfish_get(e, f"{base}/EthernetInterfaces/nic1").json()
            nic2 = redfish_get(e, f"{base}/EthernetInterfaces/nic2").json()
            assert nic1["LinkStatus"] == "LinkDown" and nic2["LinkStatus"] == "LinkUp"
            assert nic1["Status"]["Health"] == "Warning"
            assert redfish_get(e, base).json()["Status"]["Health"] == "Warning"

        def link_down(port: int) -> Callable[[str], bool]:
            return lambda line: (
                f"[{tor_b.address}]" in line
                and f"{TRAP_OID} = OID: {LINK_DOWN}" in line
                and f"{IF_INDEX}.{port} = INTEGER: {port}" in line
            )

        assert traps.wait_for(link_down(49), 10) and traps.wait_for(link_down(50), 10), traps.lines
        assert not any(f"[{tor_a.address}]" in t and LINK_DOWN in t for t in traps.traps())

        # Both ToRs lost: nothing answers, nothing is refused either.
        rack.call(lambda r: r.switches["tor-b"].power_off())
        t0 = time.monotonic()
        assert all(a is None for a in probe_all(rack).values())
        assert time.monotonic() - t0 >= 0.9  # each probe waited out its timeout

        # Back: workloads on both paths, agents answer, coldStart, counters move again.
        rack.call(lambda r: [r.switches[t].power_on() for t in ("tor-a", "tor-b")])
        assert wait_for(
            lambda: all(a and a["paths"] == ["tor-a", "tor-b"] for a in probe_all(rack).values()),
            20,
        )
        assert snmp_get(tor_a, SYS_NAME).returncode == 0
        assert traps.wait_for(
            lambda s: f"[{tor_a.address}]" in s and f"{TRAP_OID} = OID: {COLD_START}" in s, 10
        ), traps.lines
        peer = f"{IF_HC_IN}.49"
        first = integer(values(run(v2c("snmpget", tor_a, peer)).stdout)[peer])
        assert wait_for(
            lambda: integer(values(run(v2c("snmpget", tor_a, peer)).stdout)[peer]) > first, 5
        )
        e = rack.endpoint(nodes[0], "redfish")
        assert redfish_get(e, f"/redfish/v1/Systems/{nodes[0]}").json()["Status"]["Health"] == "OK"


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.monotonic()
    try:
        out = fn()
    except Exception as exc:
        out = exc
    return out, time.monotonic() - t0


@pytest.mark.tools
def test_bmc_switch_loss_with_the_real_tools(rack_factory: Callable[..., RackThread]) -> None:
    with TrapReceiver() as traps:
        rack = rack_factory(speed=100, snmp_receivers=[receiver(traps.port)])
        ipmi = [e for e in rack.endpoints if e.protocol == "ipmi"]
        rf = [e for e in rack.endpoints if e.protocol == "redfish"]
        start_every_host(rack)
        assert all(ipmitool(e, "chassis", "power", "status").returncode == 0 for e in ipmi)

        rack.call(lambda r: r.switches["bmc-switch"].power_off())
        with ThreadPoolExecutor(len(ipmi) + len(rf)) as pool:
            ipmi_runs = list(pool.map(lambda e: timed(lambda: ipmitool(e, "mc", "info")), ipmi))
            rf_runs = list(
                pool.map(lambda e: timed(lambda: redfish_get(e, "/redfish/v1/", timeout=2)), rf)
            )
        for done, seconds in ipmi_runs:
            assert done.returncode != 0 and seconds >= 1.0, (done.stderr, seconds)
        for exc, seconds in rf_runs:
            # Held, not refused: the client's own timeout ends it.
            assert isinstance(exc, httpx.TimeoutException), exc
            assert seconds >= 1.9, seconds
        # Tenant traffic does not cross the BMC switch.
        assert all(a and a["paths"] == ["tor-a", "tor-b"] for a in probe_all(rack).values())
        # The ToRs are managed over the BMC switch: their agents are out of reach too.
        assert "Timeout" in snmp_get(rack.endpoint("tor-a", "snmp"), SYS_NAME, "0.5").stderr

        rack.call(lambda r: r.switches["bmc-switch"].power_on())
        assert wait_for(lambda: ipmitool(ipmi[0], "chassis", "power", "status").returncode == 0, 20)
        assert all(ipmitool(e, "chassis", "power", "status").returncode == 0 for e in ipmi)
        assert all(redfish_get(e, "/redfish/v1/").status_code == 200 for e in rf)
        bmc_switch = rack.endpoint("bmc-switch", "snmp")
        assert traps.wait_for(
            lambda s: f"[{bmc_switch.address}]" in s and f"{TRAP_OID} = OID: {COLD_START}" in s, 10
        ), traps.lines
        assert snmp_get(rack.endpoint("tor-a", "snmp"), SYS_NAME).returncode == 0


@pytest.mark.tools
def test_a_held_redfish_request_is_served_when_the_path_returns(
    rack_factory: Callable[..., RackThread],
) -> None:
    rack = rack_factory(speed=100)
    e = rack.endpoint("n01", "redfish")
    port = port_name(1)  # n01's BMC port on the BMC switch
    assert redfish_get(e, "/redfish/v1/").status_code == 200
    rack.call(lambda r: r.switches["bmc-switch"].set_admin(port, False))
    result: list[Any] = []
    client = threading.Thread(
        target=lambda: result.append(
            timed(lambda: redfish_get(e, "/redfish/v1/Systems", timeout=10))
        )
    )
    client.start()
    time.sleep(1.0)
    assert not result  # still waiting: nothing came back, nothing was refused
    rack.call(lambda r: r.switches["bmc-switch"].set_admin(port, True))
    client.join(timeout=15)
    assert result, "the request never finished"
    response, seconds = result[0]
    assert isinstance(response, httpx.Response) and response.status_code == 200, response
    assert 1.0 <= seconds < 5.0

"""Switch faults, configuration loss and cable pulls on the virtual clock (no sockets), then with
the real tools (snmptrapd, snmpwalk) on a rack on loopback.

The model's rules: ``Switch.inject_fault/clear_fault`` (power, PSU, fan, port), ``factory_reset``,
``replace`` and ``load_config``, ``snapshot/restore``; the rack's ``pull_cable/plug_cable`` and its
``snapshot/restore``; and the fabric's verdicts on each.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable

import httpx
import pytest

from emulator import topology as topo
from emulator.endpoints import Endpoint
from emulator.fabric import BmcPathChanged, CableChanged, DataPathChanged, ManagementPathChanged
from emulator.harness import RackThread
from emulator.rack import Rack
from nodes.clock import VirtualClock
from nodes.errors import InvalidArgument, InvalidState, NotFound
from nodes.events import Event, LinkChanged
from switches.events import (
    ConfigSaved,
    PsuChanged,
    SwitchConfigChanged,
    SwitchEvent,
    SwitchFaultChanged,
    SwitchReplaced,
    SwitchState,
)
from switches.model import FACTORY_HOSTNAME, SwitchFault
from switches.spec import port_name
from tests.client_helpers import ipmitool, redfish_get
from tests.conftest import wait_for
from tests.rack_helpers import rack_fixture, running, seen_fixture  # noqa: F401 (fixtures)
from tests.snmp_helpers import TrapReceiver, integer, run, v2c, values

P1, P2, P49, P50, P51, P52, P53 = (port_name(i) for i in (1, 2, 49, 50, 51, 52, 53))


def fresh(clock: VirtualClock) -> Rack:
    return Rack(topo.default(4), clock)


# -- snapshot and restore ------------------------------------------------------------------------


def test_a_switch_snapshot_round_trips_through_json(rack: Rack, clock: VirtualClock) -> None:
    tor = rack.switches["tor-a"]
    tor.set_admin(port_name(30), False)
    tor.save_config()
    tor.set_admin(port_name(31), False)  # running only
    tor.inject_fault(SwitchFault.FAN, "Fan2")
    tor.inject_fault(SwitchFault.PORT, P2)
    tor.set_psu_input("PSU1", False)
    data = json.loads(json.dumps(tor.snapshot()))
    assert data["faults"] == [["fan", "Fan2"], ["port", P2]]
    assert data["saved"]["shutdown"] == [port_name(30)]
    assert data["running"]["shutdown"] == [port_name(30), port_name(31)]

    other = fresh(clock)
    copy = other.switches["tor-a"]
    seen: list[Event] = []
    other.bus.subscribe(seen.append)
    events = copy.restore(data)
    assert copy.snapshot() == data
    assert copy.running_config() == tor.running_config()
    assert copy.saved_config() == tor.saved_config()
    assert copy.active_faults == [(SwitchFault.FAN, "Fan2"), (SwitchFault.PORT, P2)]
    assert not copy.ports[P2].oper_up and not copy.fan_ok("Fan2") and not copy.psu_ok("PSU1")
    assert copy.up  # PSU2 still feeds it
    # The far end follows: tor-b's peer links are untouched, n02's NIC on tor-a has no carrier.
    assert not other.nodes["n02"].nic_carrier["nic1"]
    assert events and all(e in seen for e in events)
    assert all(e.device == "tor-a" for e in events if isinstance(e, SwitchEvent))


def test_a_powerless_replaced_switch_restores_dark_with_its_serial(
    rack: Rack, clock: VirtualClock
) -> None:
    bmc = rack.switches["bmc-switch"]
    bmc.replace("BMCS0099")
    clock.advance(bmc.spec.boot_s + 1)
    bmc.inject_fault(SwitchFault.POWER)
    data = bmc.snapshot()
    assert data["serial"] == "BMCS0099" and data["running"]["provisioned"] is False

    other = fresh(clock)
    copy = other.switches["bmc-switch"]
    copy.restore(data)
    assert copy.serial == "BMCS0099" and copy.psus[0].serial == "BMCS0099-P1"
    assert copy.state is SwitchState.OFF and copy.active_faults == [(SwitchFault.POWER, "")]
    assert not other.fabric.bmc_path_up("n01")
    copy.clear_fault(SwitchFault.POWER)
    clock.advance(copy.spec.boot_s + 1)
    assert copy.up and not copy.provisioned and copy.running.hostname == FACTORY_HOSTNAME


def test_a_bad_switch_snapshot_changes_nothing(rack: Rack) -> None:
    tor = rack.switches["tor-b"]
    before = tor.snapshot()
    good = tor.snapshot()
    for bad in (
        {k: v for k, v in good.items() if k != "saved"},
        {**good, "faults": [["melted", ""]]},
        {**good, "faults": [["port", "ethernet9/9/9"]]},
        {**good, "psu_input": {"PSU7": True}},
        {**good, "running": {**good["running"], "shutdown": ["nope"]}},
    ):
        with pytest.raises(InvalidArgument):
            tor.restore(bad)
        assert tor.snapshot() == before


def test_rack_snapshot_restores_the_pulled_cables(rack: Rack, clock: VirtualClock) -> None:
    rack.pull_cable("n02:bmc")
    rack.pull_cable(f"tor-b:{P49}")
    data = json.loads(json.dumps(rack.snapshot()))
    assert data == {"pulled_cables": ["n02:bmc", f"tor-b:{P49}"]}
    other = fresh(clock)
    events = other.restore(data)
    assert other.pulled_cables == ["n02:bmc", f"tor-b:{P49}"]
    assert not other.fabric.bmc_path_up("n02") and other.fabric.bmc_path_up("n01")
    assert not other.switches["tor-a"].ports[P49].oper_up
    assert any(isinstance(e, CableChanged) for e in events)
    with pytest.raises(InvalidArgument):
        fresh(clock).restore({"pulled_cables": ["n09:bmc"]})


# -- faults ----------------------------------------------------------------------------------------


def test_power_fault_darkens_the_switch_and_its_return_boots_it(
    rack: Rack, clock: VirtualClock, seen: list[Event]
) -> None:
    running(rack, clock)
    tor = rack.switches["tor-a"]
    events = tor.inject_fault("power")
    assert tor.state is SwitchState.OFF and tor.active_faults == [(SwitchFault.POWER, "")]
    assert [e.psu for e in events if isinstance(e, PsuChanged)] == ["PSU1", "PSU2"]
    assert isinstance(events[-1], SwitchFaultChanged) and events[-1].active
    f = rack.fabric
    # Its ports are dark: tor-b's peer links go down, every node runs through tor-b only.
    assert not rack.switches["tor-b"].ports[P49].oper_up
    assert all(f.data_path(n) == ("tor-b",) for n in rack.nodes)
    assert not f.agent_answering("tor-a") and not any(
        n.nic_carrier["nic1"] for n in rack.nodes.values()
    )
    with pytest.raises(InvalidState):
        tor.inject_fault(SwitchFault.POWER)
    with pytest.raises(InvalidArgument):
        tor.inject_fault(SwitchFault.POWER, "PSU1")
    tor.clear_fault(SwitchFault.POWER)
    assert tor.state is SwitchState.BOOTING and not f.agent_answering("tor-a")
    clock.advance(tor.spec.boot_s + 1)
    assert tor.up and f.agent_answering("tor-a")
    assert all(f.data_path(n) == ("tor-a", "tor-b") for n in rack.nodes)
    with pytest.raises(InvalidState):
        tor.clear_fault(SwitchFault.POWER)


def test_psu_fault_keeps_the_switch_up(rack: Rack, seen: list[Event]) -> None:
    tor = rack.switches["tor-b"]
    tor.inject_fault(SwitchFault.PSU, "PSU2")
    assert tor.up and not tor.psu_ok("PSU2") and tor.psu_ok("PSU1")
    assert [(e.psu, e.ok, e.reason) for e in seen if isinstance(e, PsuChanged)] == [
        ("PSU2", False, "fault")
    ]
    # The last PSU failing takes the switch down; clearing one brings it back.
    tor.inject_fault(SwitchFault.PSU, "PSU1")
    assert tor.state is SwitchState.OFF
    tor.clear_fault(SwitchFault.PSU, "PSU1")
    assert tor.state is SwitchState.BOOTING
    assert tor.active_faults == [(SwitchFault.PSU, "PSU2")]


def test_fan_fault_heats_the_switch_over_time(rack: Rack, clock: VirtualClock) -> None:
    tor = rack.switches["tor-a"]
    asic = [s.name for s in tor.temp_sensors].index("ASIC")
    before = tor.temperature(asic).value
    assert before is not None
    tor.inject_fault(SwitchFault.FAN, "Fan1")
    assert tor.fan_rpm(0).ok is False
    assert tor.temperature(asic).value == before  # not instant
    clock.advance(600)
    after = tor.temperature(asic).value
    assert after is not None and after > before + 5
    assert tor.fan_rpm(0).value == 0 and (tor.fan_rpm(1).value or 0) > 6600
    tor.clear_fault(SwitchFault.FAN, "Fan1")
    clock.advance(900)
    cooled = tor.temperature(asic).value
    assert cooled is not None and cooled < before + 1


def test_port_fault_drops_the_link_at_both_ends(
    rack: Rack, clock: VirtualClock, seen: list[Event]
) -> None:
    running(rack, clock)
    tor_a, tor_b = rack.switches["tor-a"], rack.switches["tor-b"]
    seen.clear()
    # A host port: n01's NIC loses carrier, its data path runs through tor-b only.
    tor_a.inject_fault(SwitchFault.PORT, P1)
    assert not tor_a.ports[P1].oper_up and tor_a.ports[P1].admin_up
    assert not rack.nodes["n01"].nic_carrier["nic1"] and not rack.nodes["n01"].nic_link_up("nic1")
    assert rack.fabric.data_path("n01") == ("tor-b",)
    assert [(e.device, e.port, e.up) for e in seen if isinstance(e, LinkChanged)] == [
        ("tor-a", P1, False)
    ]
    # A peer link: tor-b's end goes down too.
    tor_a.inject_fault(SwitchFault.PORT, P49)
    assert not tor_b.ports[P49].oper_up and tor_b.ports[P50].oper_up
    # A reboot does not mend hardware.
    tor_a.reboot()
    clock.advance(tor_a.spec.boot_s + 1)
    assert not tor_a.ports[P1].oper_up and not tor_b.ports[P49].oper_up
    tor_a.clear_fault(SwitchFault.PORT, P49)
    tor_a.clear_fault(SwitchFault.PORT, P1)
    assert tor_b.ports[P49].oper_up and tor_a.ports[P1].oper_up
    assert rack.fabric.data_path("n01") == ("tor-a", "tor-b")


def test_bad_fault_requests_change_nothing(rack: Rack, seen: list[Event]) -> None:
    tor = rack.switches["tor-a"]
    before = tor.snapshot()
    for fault, target, error in (
        ("melted", "", InvalidArgument),
        ("psu", "", InvalidArgument),
        ("psu", "PSU9", NotFound),
        ("fan", "Fan99", NotFound),
        ("port", "ethernet1/1/99", NotFound),
        ("port", "", InvalidArgument),
    ):
        with pytest.raises(error):
            tor.inject_fault(fault, target)
    with pytest.raises(InvalidState):
        tor.clear_fault("fan", "Fan1")
    assert tor.snapshot() == before and seen == []


# -- configuration loss, restore, replacement ----------------------------------------------------


def test_factory_reset_breaks_the_tor_until_its_backup_is_loaded(
    rack: Rack, clock: VirtualClock, seen: list[Event]
) -> None:
    running(rack, clock)
    tor = rack.switches["tor-a"]
    tor.set_admin(port_name(40), False)
    tor.save_config()
    backup = tor.running_config()  # what the HLH keeps
    tor.factory_reset()
    assert tor.state is SwitchState.BOOTING
    assert [e.cause for e in seen if isinstance(e, SwitchConfigChanged)] == ["factory-reset"]
    clock.advance(tor.spec.boot_s + 1)
    f = rack.fabric
    # Up, links up (factory ports are enabled, LLDP works), but it routes nothing and is silent.
    assert tor.up and not tor.provisioned and tor.ports[P1].oper_up and tor.ports[P49].oper_up
    assert tor.ports[port_name(40)].admin_up
    assert "hostname OS10" in tor.running_config() and "snmp-server" not in tor.saved_config()
    assert all(f.data_path(n) == ("tor-b",) for n in rack.nodes)
    assert not f.agent_answering("tor-a") and f.agent_answering("tor-b")
    # tor-b cannot use tor-a's uplinks either: with tor-b's own uplinks pulled, nothing routes.
    rack.pull_cable(f"tor-b:{P51}")
    rack.pull_cable(f"tor-b:{P52}")
    assert all(f.data_path(n) == () for n in rack.nodes)
    # The backup goes back in: the ToR routes (and gives tor-b the border over the peer link).
    seen.clear()
    tor.load_config(backup)
    assert tor.provisioned and not tor.ports[port_name(40)].admin_up
    assert all(f.data_path(n) == ("tor-a", "tor-b") for n in rack.nodes)
    assert f.agent_answering("tor-a")
    assert [e.cause for e in seen if isinstance(e, SwitchConfigChanged)] == ["load"]
    assert any(isinstance(e, ManagementPathChanged) and e.up for e in seen)
    # Loaded is not saved: a reload before save_config loses it again.
    assert not tor.saved.provisioned
    tor.save_config()
    assert tor.saved_config() == backup
    tor.reboot()
    clock.advance(tor.spec.boot_s + 1)
    assert tor.running_config() == backup


def test_a_factory_bmc_switch_still_bridges_bmcs_but_not_tor_management(
    rack: Rack, clock: VirtualClock
) -> None:
    bmc = rack.switches["bmc-switch"]
    bmc.factory_reset()
    clock.advance(bmc.spec.boot_s + 1)
    f = rack.fabric
    assert all(f.bmc_path_up(n) for n in rack.nodes)
    assert not any(f.agent_answering(s) for s in rack.switches)


def test_a_bad_configuration_text_changes_nothing(rack: Rack, seen: list[Event]) -> None:
    tor = rack.switches["tor-a"]
    good = tor.running_config()
    for text, needle in (
        (good.replace("lldp enable", "ip routing bogus"), "line 5: unknown command"),
        (good.replace(f"interface {port_name(3)}\n", "interface ethernet1/1/99\n"), "no interface"),
        (good.replace("hostname tor-a\n", ""), "no hostname"),
        (good.replace(" no shutdown", "  frobnicate", 1), "unknown interface command"),
    ):
        with pytest.raises(InvalidArgument, match=needle):
            tor.load_config(text)
    assert tor.running_config() == good and seen == []
    tor.inject_fault(SwitchFault.POWER)
    with pytest.raises(InvalidState):
        tor.load_config(good)
    with pytest.raises(InvalidState):
        tor.factory_reset()


def test_a_replacement_switch_has_a_new_serial_and_factory_config(
    rack: Rack, clock: VirtualClock, seen: list[Event]
) -> None:
    tor = rack.switches["tor-b"]
    backup = tor.running_config()
    tor.inject_fault(SwitchFault.FAN, "Fan3")
    tor.inject_fault(SwitchFault.POWER)
    seen.clear()
    tor.replace("TORB0002")
    replaced = [e for e in seen if isinstance(e, SwitchReplaced)]
    assert [(e.old_serial, e.serial) for e in replaced] == [("TORB0001", "TORB0002")]
    assert tor.active_faults == [] and tor.fan_ok("Fan3") and tor.has_power()
    assert tor.serial == "TORB0002" and tor.fans[0].serial == "TORB0002-F1"
    assert tor.state is SwitchState.BOOTING
    clock.advance(tor.spec.boot_s + 1)
    assert tor.up and not tor.provisioned and not rack.fabric.agent_answering("tor-b")
    # The OEM procedure: load the backup (its build line names the old serial: fine), save.
    tor.load_config(backup)
    tor.save_config()
    assert rack.fabric.agent_answering("tor-b") and tor.saved.provisioned
    assert "TORB0002" in tor.running_config()
    assert any(isinstance(e, ConfigSaved) for e in seen)
    with pytest.raises(InvalidArgument):
        tor.replace("TORB0002")
    with pytest.raises(InvalidArgument):
        tor.replace("")


# -- cable pulls ---------------------------------------------------------------------------------


def test_pulling_a_node_nic_cable(rack: Rack, clock: VirtualClock, seen: list[Event]) -> None:
    running(rack, clock)
    seen.clear()
    rack.pull_cable("n02:nic2")
    tor_b = rack.switches["tor-b"]
    assert not tor_b.ports[P2].oper_up and tor_b.ports[P2].admin_up
    node = rack.nodes["n02"]
    assert not node.nic_carrier["nic2"] and not node.nic_link_up("nic2") and node.network_degraded()
    assert rack.fabric.data_path("n02") == ("tor-a",)
    assert rack.pulled_cables == ["n02:nic2"]
    assert [(e.a, e.b, e.plugged) for e in seen if isinstance(e, CableChanged)] == [
        ("n02:nic2", f"tor-b:{P2}", False)
    ]
    assert [(e.device, e.port, e.up) for e in seen if isinstance(e, LinkChanged)] == [
        ("tor-b", P2, False)
    ]
    assert [e.links for e in seen if isinstance(e, DataPathChanged)] == [("nic1",)]
    # A host power cycle does not bring the link back while the cable is out.
    node.power_off()
    node.power_on()
    clock.advance(300)
    assert not tor_b.ports[P2].oper_up
    # Plugged back (by its other end) with the host on: link.
    rack.plug_cable(f"tor-b:{P2}")
    assert tor_b.ports[P2].oper_up and node.nic_link_up("nic2")
    assert rack.pulled_cables == [] and rack.fabric.data_path("n02") == ("tor-a", "tor-b")


def test_pulling_a_bmc_cable_silences_that_bmc_only(
    rack: Rack, clock: VirtualClock, seen: list[Event]
) -> None:
    rack.pull_cable("n03:bmc")
    f = rack.fabric
    assert not f.bmc_path_up("n03") and not f.bmc_answering("n03")
    assert all(f.bmc_path_up(n) for n in ("n01", "n02", "n04"))
    assert not rack.switches["bmc-switch"].ports[port_name(3)].oper_up
    assert [(e.device, e.up) for e in seen if isinstance(e, BmcPathChanged)] == [("n03", False)]
    rack.plug_cable("n03:bmc")
    assert f.bmc_answering("n03")


def test_pulling_switch_to_switch_cables(rack: Rack, clock: VirtualClock) -> None:
    running(rack, clock)
    f = rack.fabric
    # Both BMC uplinks out: the ToRs lose in-band management; the BMCs are still reachable.
    rack.pull_cable(f"bmc-switch:{P51}")
    assert not f.agent_answering("tor-a") and f.agent_answering("tor-b")
    assert not rack.switches["tor-a"].ports[P53].oper_up
    # tor-a's uplinks out: it still reaches the border over the peer links.
    rack.pull_cable(f"tor-a:{P51}")
    rack.pull_cable("border-2:eth1")  # by the external end
    assert all(f.data_path(n) == ("tor-a", "tor-b") for n in rack.nodes)
    rack.pull_cable(f"tor-a:{P49}")
    rack.pull_cable(f"tor-b:{P50}")
    assert all(f.data_path(n) == ("tor-b",) for n in rack.nodes)
    # Rebooting the far switch does not revive a pulled link.
    tor_b = rack.switches["tor-b"]
    tor_b.reboot()
    clock.advance(tor_b.spec.boot_s + 1)
    assert not tor_b.ports[P49].oper_up and not rack.switches["tor-a"].ports[P49].oper_up
    for end in list(rack.pulled_cables):
        rack.plug_cable(end)
    assert rack.switches["tor-a"].ports[P49].oper_up and f.agent_answering("tor-a")
    assert all(f.data_path(n) == ("tor-a", "tor-b") for n in rack.nodes)


def test_bad_cable_requests_change_nothing(rack: Rack, seen: list[Event]) -> None:
    for end, error, needle in (
        ("n09:bmc", NotFound, "no device named 'n09'"),
        ("n01:nic7", NotFound, "n01 has no port 'nic7'"),
        ("tor-a:ethernet1/1/99", NotFound, "no port"),
        ("tor-a", InvalidArgument, "device:port"),
        (f"tor-a:{port_name(30)}", InvalidState, "nothing is cabled"),
    ):
        with pytest.raises(error, match=needle):
            rack.pull_cable(end)
    with pytest.raises(InvalidState, match="not pulled"):
        rack.plug_cable("n01:nic1")
    rack.pull_cable("n01:nic1")
    with pytest.raises(InvalidState, match="already pulled"):
        rack.pull_cable(f"tor-a:{P1}")  # the same cable by its other end
    assert rack.pulled_cables == ["n01:nic1"]
    assert sum(isinstance(e, CableChanged) for e in seen) == 1


# -- with the real tools ---------------------------------------------------------------------------

SYS_NAME, SYS_DESCR = ".1.3.6.1.2.1.1.5.0", ".1.3.6.1.2.1.1.1.0"
IF_OPER = ".1.3.6.1.2.1.2.2.1.8"
IF_INDEX = ".1.3.6.1.2.1.2.2.1.1"
TRAP_OID = ".1.3.6.1.6.3.1.1.4.1.0"
LINK_DOWN, LINK_UP, COLD_START = (f".1.3.6.1.6.3.1.1.5.{i}" for i in (3, 4, 1))
ENT_STATE_OPER_DISABLED = ".1.3.6.1.2.1.131.0.2"


def oper_status(e: Endpoint) -> dict[int, int]:
    out = run(v2c("snmpwalk", e, IF_OPER))
    assert out.returncode == 0, out.stderr
    return {int(oid.rsplit(".", 1)[1]): integer(v) for oid, v in values(out.stdout).items()}


def sys_get(e: Endpoint, oid: str, timeout: str = "2") -> subprocess.CompletedProcess[str]:
    cmd = v2c("snmpget", e, oid)
    cmd[cmd.index("-t") + 1] = timeout
    cmd[cmd.index("-r") + 1] = "0"
    return run(cmd)


def link_trap(e: Endpoint, trap: str, port: int) -> Callable[[str], bool]:
    return lambda line: (
        f"[{e.address}]" in line
        and f"{TRAP_OID} = OID: {trap}" in line
        and f"{IF_INDEX}.{port} = INTEGER: {port}" in line
    )


@pytest.mark.tools
def test_port_fault_and_cable_pull_seen_by_snmptrapd_and_snmpwalk(
    rack_factory: Callable[..., RackThread],
) -> None:
    with TrapReceiver() as traps:
        receiver = f"{{address: 127.0.0.1, port: {traps.port}, version: v2c, kind: trap}}"
        rack = rack_factory(speed=100, snmp_receivers=[receiver])
        tor_a, tor_b = rack.endpoint("tor-a", "snmp"), rack.endpoint("tor-b", "snmp")
        assert oper_status(tor_b)[49] == 1 and oper_status(tor_b)[50] == 1

        # A port's hardware fails on tor-a: linkDown from both ends of the peer link.
        rack.call(lambda r: r.switches["tor-a"].inject_fault("port", port_name(49)))
        assert traps.wait_for(link_trap(tor_a, LINK_DOWN, 49), 10), traps.lines
        assert traps.wait_for(link_trap(tor_b, LINK_DOWN, 49), 10), traps.lines
        assert oper_status(tor_a)[49] == 2 and oper_status(tor_b)[49] == 2
        assert oper_status(tor_b)[50] == 1
        rack.call(lambda r: r.switches["tor-a"].clear_fault("port", port_name(49)))
        assert traps.wait_for(link_trap(tor_b, LINK_UP, 49), 10), traps.lines
        assert oper_status(tor_b)[49] == 1

        # The other peer link's cable pulled (by tor-b's end): both ends down, then back.
        rack.call(lambda r: r.pull_cable(f"tor-b:{port_name(50)}"))
        assert traps.wait_for(link_trap(tor_a, LINK_DOWN, 50), 10), traps.lines
        assert traps.wait_for(link_trap(tor_b, LINK_DOWN, 50), 10), traps.lines
        assert oper_status(tor_a)[50] == 2 and oper_status(tor_b)[50] == 2
        # A node's BMC cable: the BMC switch's port goes down with a linkDown.
        bmc = rack.endpoint("bmc-switch", "snmp")
        rack.call(lambda r: r.pull_cable("n02:bmc"))
        assert traps.wait_for(link_trap(bmc, LINK_DOWN, 2), 10), traps.lines
        assert oper_status(bmc)[2] == 2 and oper_status(bmc)[1] == 1
        assert rack.call(lambda r: r.pulled_cables) == [f"tor-b:{port_name(50)}", "n02:bmc"]

        # A PSU fails: ENTITY-STATE entStateOperDisabled; the agent keeps answering.
        rack.call(lambda r: r.switches["tor-b"].inject_fault("psu", "PSU1"))
        assert traps.wait_for(
            lambda s: f"[{tor_b.address}]" in s and ENT_STATE_OPER_DISABLED in s, 10
        ), traps.lines
        assert sys_get(tor_b, SYS_NAME).returncode == 0


@pytest.mark.tools
def test_switch_power_loss_and_configuration_loss_with_the_real_tools(
    rack_factory: Callable[..., RackThread],
) -> None:
    with TrapReceiver() as traps:
        receiver = f"{{address: 127.0.0.1, port: {traps.port}, version: v2c, kind: trap}}"
        rack = rack_factory(speed=100, snmp_receivers=[receiver])
        tor_a = rack.endpoint("tor-a", "snmp")
        boot_s = rack.call(lambda r: r.switches["tor-a"].spec.boot_s) / 100

        # Power: silent (a timeout, not an error), then back with coldStart.
        rack.call(lambda r: r.switches["tor-a"].inject_fault("power"))
        silent = sys_get(tor_a, SYS_NAME, timeout="0.5")
        assert silent.returncode != 0 and "Timeout" in silent.stderr
        rack.call(lambda r: r.switches["tor-a"].clear_fault("power"))
        assert traps.wait_for(
            lambda s: f"[{tor_a.address}]" in s and f"{TRAP_OID} = OID: {COLD_START}" in s,
            boot_s + 10,
        ), traps.lines
        assert "tor-a" in sys_get(tor_a, SYS_NAME).stdout

        # Configuration loss: it reloads and comes back with factory defaults, silent to SNMP
        # (no management address, no communities): no coldStart either.
        backup = rack.call(lambda r: r.switches["tor-a"].running_config())
        colds = len([t for t in traps.traps() if COLD_START in t])
        rack.call(lambda r: r.switches["tor-a"].factory_reset())
        assert wait_for(lambda: rack.call(lambda r: r.switches["tor-a"].up), boot_s + 10)
        assert sys_get(tor_a, SYS_NAME, timeout="0.5").returncode != 0
        assert len([t for t in traps.traps() if COLD_START in t]) == colds
        # A replacement arrives meanwhile; the backup is loaded and saved: it answers again,
        # with the replacement's serial and the backup's name.
        rack.call(lambda r: r.switches["tor-a"].replace("TORA0777"))
        assert wait_for(lambda: rack.call(lambda r: r.switches["tor-a"].up), boot_s + 10)
        assert sys_get(tor_a, SYS_NAME, timeout="0.5").returncode != 0
        rack.call(lambda r: r.switches["tor-a"].load_config(backup))
        rack.call(lambda r: r.switches["tor-a"].save_config())
        assert 'STRING: "tor-a"' in sys_get(tor_a, SYS_NAME).stdout
        assert "TORA0777" in sys_get(tor_a, SYS_DESCR).stdout
        assert oper_status(tor_a)[49] == 1


def test_every_fan_failed_takes_the_temperatures_past_critical(
    rack: Rack, clock: VirtualClock
) -> None:
    tor = rack.switches["tor-b"]
    for fan in tor.fans:
        tor.inject_fault(SwitchFault.FAN, fan.name)
    clock.advance(30)
    assert all(tor.temperature(i).ok for i in range(len(tor.temp_sensors)))  # not yet
    clock.advance(900)
    for i, sensor in enumerate(tor.temp_sensors[1:], start=1):
        reading = tor.temperature(i)
        assert reading.value is not None and reading.value > sensor.critical_c and not reading.ok


@pytest.mark.tools
def test_pulled_node_cables_with_ipmitool_and_redfish(
    rack_factory: Callable[..., RackThread],
) -> None:
    rack = rack_factory(speed=100)
    n01, n02 = rack.endpoint("n01", "ipmi"), rack.endpoint("n02", "ipmi")
    rf01, rf02 = rack.endpoint("n01", "redfish"), rack.endpoint("n02", "redfish")
    assert ipmitool(n01, "chassis", "power", "on").returncode == 0
    nic1 = "/redfish/v1/Systems/n01/EthernetInterfaces/nic1"
    assert wait_for(lambda: redfish_get(rf01, nic1).json()["LinkStatus"] == "LinkUp", 20)

    # n01's nic1 cable out: Redfish says LinkDown, the system is degraded.
    rack.call(lambda r: r.pull_cable("n01:nic1"))
    body = redfish_get(rf01, nic1).json()
    assert body["LinkStatus"] == "LinkDown" and body["Status"]["Health"] == "Warning"
    assert redfish_get(rf01, "/redfish/v1/Systems/n01").json()["Status"]["Health"] == "Warning"

    # n02's BMC cable out: ipmitool and Redfish time out (held, not refused); n01 answers.
    rack.call(lambda r: r.pull_cable("n02:bmc"))
    t0 = time.monotonic()
    silent = ipmitool(n02, "mc", "info")
    assert silent.returncode != 0 and time.monotonic() - t0 >= 1.0, silent.stderr
    with pytest.raises(httpx.TimeoutException):
        redfish_get(rf02, "/redfish/v1/", timeout=1.5)
    assert ipmitool(n01, "mc", "info").returncode == 0

    # Both back.
    rack.call(lambda r: [r.plug_cable(end) for end in list(r.pulled_cables)])
    assert ipmitool(n02, "chassis", "power", "status").returncode == 0
    assert redfish_get(rf02, "/redfish/v1/").status_code == 200
    assert redfish_get(rf01, nic1).json()["LinkStatus"] == "LinkUp"


def test_a_factory_tor_drops_the_bmcs_cabled_to_it(clock: VirtualClock) -> None:
    from tests.test_fabric import tors_attached

    rack = Rack(tors_attached(), clock)
    tor_a = rack.switches["tor-a"]
    tor_a.factory_reset()
    clock.advance(tor_a.spec.boot_s + 1)
    f = rack.fabric
    # Up, its BMC ports have link, but no BMC VLAN: odd nodes' BMCs are cut off.
    assert tor_a.up and tor_a.ports[port_name(21)].oper_up
    assert [n for n in rack.nodes if f.bmc_path_up(n)] == ["n02", "n04"]
    assert not f.management_path_up("tor-a") and f.management_path_up("tor-b")
    # No backup kept: the configuration regenerated from the worksheet (a fresh rack's) does.
    regenerated = Rack(tors_attached(), clock).switches["tor-a"].running_config()
    tor_a.load_config(regenerated)
    assert tor_a.provisioned and all(f.bmc_path_up(n) for n in rack.nodes)


def test_a_failed_nic_gives_no_link_when_its_cable_is_plugged_back(
    rack: Rack, clock: VirtualClock
) -> None:
    running(rack, clock)
    rack.pull_cable("n03:nic1")
    rack.nodes["n03"].inject_fault("nic-port", "nic1")
    rack.plug_cable("n03:nic1")
    assert not rack.switches["tor-a"].ports[port_name(3)].oper_up
    rack.nodes["n03"].clear_fault("nic-port", "nic1")
    assert rack.switches["tor-a"].ports[port_name(3)].oper_up

"""Switch faults, configuration loss and cable pulls on the virtual clock (no sockets), then with
the real tools (snmptrapd, snmpwalk) on a rack on loopback.

The model's rules: ``Switch.inject_fault/clear_fault`` (power, PSU, fan, port), ``factory_reset``,
``replace`` and ``load_config``, ``snapshot/restore``; the rack's ``pull_cable/plug_cable`` and its
``snapshot/restore``; and the fabric's verdicts on each.
"""

from __future__ import annotations

import json

import pytest

from emulator import topology as topo
from emulator.fabric import CableChanged
from emulator.rack import Rack
from nodes.clock import VirtualClock
from nodes.errors import InvalidArgument, NotFound
from nodes.events import Event
from nodes.power import HostState
from switches.events import (
    SwitchEvent,
    SwitchState,
)
from switches.model import FACTORY_HOSTNAME, SwitchFault
from switches.spec import port_name

P1, P2, P49, P50, P51, P52, P53 = (port_name(i) for i in (1, 2, 49, 50, 51, 52, 53))


@pytest.fixture
def rack(clock: VirtualClock) -> Rack:
    return Rack(topo.default(4), clock)


@pytest.fixture
def seen(rack: Rack) -> list[Event]:
    out: list[Event] = []
    rack.bus.subscribe(out.append)
    return out


def running(rack: Rack, clock: VirtualClock) -> None:
    for node in rack.nodes.values():
        node.power_on()
    clock.advance(300)
    assert all(n.state is HostState.RUNNING for n in rack.nodes.values())


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
        with pytest.raises((InvalidArgument, NotFound)):
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

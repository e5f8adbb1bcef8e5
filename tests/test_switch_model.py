"""The switch model on the virtual clock: counters, boot and reboot timing, links across the rack,
LLDP from the cabling, configuration, PSUs and fans. No sockets."""

from __future__ import annotations

import itertools

import pytest

from emulator import topology as topo
from emulator.rack import Rack
from nodes.clock import VirtualClock
from nodes.errors import InvalidState, NotFound
from nodes.events import Event, LinkChanged
from switches.events import (
    ConfigSaved,
    FanChanged,
    PortAdminChanged,
    PsuChanged,
    SwitchBooted,
    SwitchState,
    SwitchStateChanged,
)
from switches.model import PortRole

P1, P49, P51, P53 = (f"ethernet1/1/{i}" for i in (1, 49, 51, 53))


@pytest.fixture
def rack(clock: VirtualClock) -> Rack:
    return Rack(topo.default(4), clock)


@pytest.fixture
def events(rack: Rack) -> list[Event]:
    seen: list[Event] = []
    rack.bus.subscribe(seen.append)
    return seen


def test_roles_follow_the_cabling(rack: Rack) -> None:
    tor_a, bmc = rack.switches["tor-a"], rack.switches["bmc-switch"]
    assert tor_a.ports[P1].role is PortRole.NODE_NIC
    assert tor_a.ports[P49].role is PortRole.PEER_LINK
    assert tor_a.ports[P51].role is PortRole.UPLINK
    assert tor_a.ports[P53].role is PortRole.BMC_UPLINK
    assert tor_a.ports["ethernet1/1/30"].role is PortRole.UNUSED
    assert bmc.ports[P1].role is PortRole.BMC_PORT
    assert bmc.ports[P51].role is PortRole.BMC_UPLINK


def test_lldp_neighbours_are_the_far_ends(rack: Rack, clock: VirtualClock) -> None:
    tor_a, tor_b = rack.switches["tor-a"], rack.switches["tor-b"]
    peer = tor_a.neighbour(tor_a.ports[P49])
    assert peer is not None
    assert (peer.system_name, peer.port_id, peer.chassis_id) == ("tor-b", P49, tor_b.chassis_mac)
    assert peer.port_description == "tor-a:ethernet1/1/49"  # tor-b's description of its port
    # A node's NIC is learnt only while its link is up (the host is on).
    assert tor_a.neighbour(tor_a.ports[P1]) is None
    rack.nodes["n01"].power_on()
    clock.advance(2)
    nic = tor_a.neighbour(tor_a.ports[P1])
    assert nic is not None and nic.system_name == "n01"
    assert nic.port_id == rack.topology.node("n01").nics[0].mac and nic.port_id_is_mac
    bmc_port = rack.switches["bmc-switch"].ports[P1]
    assert rack.switches["bmc-switch"].neighbour(bmc_port) is not None  # BMCs on standby power


def test_counters_grow_only_while_the_link_is_up(rack: Rack, clock: VirtualClock) -> None:
    tor_a = rack.switches["tor-a"]
    port = tor_a.ports[P1]
    assert tor_a.counters(port).in_octets == 0  # host off: no link, no traffic
    rack.nodes["n01"].power_on()
    clock.advance(1)
    readings = []
    for _ in range(20):
        clock.advance(7.3)
        readings.append(tor_a.counters(port))
    for a, b in itertools.pairwise(readings):
        assert b.in_octets > a.in_octets and b.out_octets > a.out_octets
        assert b.in_ucast >= a.in_ucast and b.in_multicast >= a.in_multicast
    rate = (readings[-1].in_octets - readings[0].in_octets) / (19 * 7.3)
    assert 50e6 < rate < 400e6  # the node-NIC profile: ~180 MB/s, +-50%
    assert readings[-1].in_octets > 2**32  # past a 32-bit counter's wrap: why HC counters exist
    rack.nodes["n01"].power_off()
    frozen = tor_a.counters(port)
    clock.advance(60)
    assert tor_a.counters(port) == frozen
    # The peer link carried traffic all along.
    assert tor_a.counters(tor_a.ports[P49]).out_octets > 0


def test_reboot_takes_boot_s_is_silent_and_resets_counters(
    rack: Rack, clock: VirtualClock, events: list[Event]
) -> None:
    tor_a, tor_b = rack.switches["tor-a"], rack.switches["tor-b"]
    clock.advance(100)
    assert tor_a.uptime() == pytest.approx(100)
    before = tor_a.counters(tor_a.ports[P49]).in_octets
    assert before > 0
    tor_a.reboot()
    assert tor_a.state is SwitchState.BOOTING and tor_a.uptime() is None
    assert not tor_a.ports[P49].oper_up and not tor_b.ports[P49].oper_up
    clock.advance(tor_a.spec.boot_s - 1)
    assert tor_a.state is SwitchState.BOOTING
    assert not any(isinstance(e, SwitchBooted) for e in events)
    clock.advance(1)
    assert tor_a.state is SwitchState.UP and tor_a.uptime() == 0
    booted = [e for e in events if isinstance(e, SwitchBooted)]
    assert [(b.device, b.boot_count) for b in booted] == [("tor-a", 2)]
    assert tor_a.ports[P49].oper_up and tor_b.ports[P49].oper_up
    assert tor_a.counters(tor_a.ports[P49]).in_octets == 0  # counters restart at boot
    clock.advance(10)
    assert tor_a.counters(tor_a.ports[P49]).in_octets > 0
    tor_a.power_off()
    with pytest.raises(InvalidState):
        tor_a.reboot()  # only an up switch reloads


def test_a_tor_power_loss_drops_its_links_and_the_peers_side(
    rack: Rack, clock: VirtualClock, events: list[Event]
) -> None:
    tor_a, tor_b = rack.switches["tor-a"], rack.switches["tor-b"]
    for node in rack.nodes.values():
        node.power_on()
    clock.advance(2)
    assert all(rack.nic_link_up(n, "nic1") and rack.nic_link_up(n, "nic2") for n in rack.nodes)
    events.clear()
    tor_a.power_off()
    assert tor_a.state is SwitchState.OFF
    # N-1: every node keeps its link to tor-b, loses the one to tor-a.
    assert not any(rack.nic_link_up(n, "nic1") for n in rack.nodes)
    assert all(rack.nic_link_up(n, "nic2") for n in rack.nodes)
    down = {(e.device, e.port) for e in events if isinstance(e, LinkChanged) and not e.up}
    assert {("tor-b", P49), ("tor-b", "ethernet1/1/50"), ("bmc-switch", P51)} <= down
    assert not rack.switches["bmc-switch"].ports[P51].oper_up
    assert tor_a.temperature(0).value is None and tor_a.fan_rpm(0).value is None
    tor_a.power_on()
    clock.advance(tor_a.spec.boot_s)
    assert all(rack.nic_link_up(n, "nic1") for n in rack.nodes)
    assert tor_b.ports[P49].oper_up and rack.switches["bmc-switch"].ports[P51].oper_up


def test_admin_shutdown_and_the_saved_configuration(
    rack: Rack, clock: VirtualClock, events: list[Event]
) -> None:
    tor_a, tor_b = rack.switches["tor-a"], rack.switches["tor-b"]
    saved = tor_a.saved_config()
    assert tor_a.running_config() == saved
    assert "! Build 1.0.0" in saved and "hostname tor-a" in saved
    assert saved == Rack(topo.default(4), VirtualClock()).switches["tor-a"].saved_config()
    out = tor_a.set_admin(P49, False)
    assert [type(e) for e in out] == [PortAdminChanged, LinkChanged]
    assert not tor_a.ports[P49].oper_up and not tor_b.ports[P49].oper_up
    assert tor_a.set_admin(P49, False) == []
    running = tor_a.running_config()
    assert running != saved
    block = running.split(f"interface {P49}\n")[1].split("!")[0]
    assert " shutdown" in block.splitlines()
    # Not saved: a reload brings the port back.
    tor_a.reboot()
    clock.advance(tor_a.spec.boot_s)
    assert tor_a.ports[P49].admin_up and tor_b.ports[P49].oper_up
    # Saved: it stays shut across a reload.
    tor_a.set_admin(P49, False)
    assert isinstance(tor_a.save_config()[0], ConfigSaved)
    assert tor_a.saved_config() == tor_a.running_config()
    tor_a.reboot()
    clock.advance(tor_a.spec.boot_s)
    assert not tor_a.ports[P49].admin_up and not tor_b.ports[P49].oper_up
    with pytest.raises(NotFound):
        tor_a.set_admin("ethernet1/1/99", True)


def test_psus_and_fans(rack: Rack, clock: VirtualClock, events: list[Event]) -> None:
    tor_a = rack.switches["tor-a"]
    assert tor_a.temperature(2).value == pytest.approx(tor_a.ambient_c + 30)
    tor_a.fail_psu("PSU1")
    assert [e.ok for e in events if isinstance(e, PsuChanged)] == [False]
    assert tor_a.up  # redundant
    tor_a.set_psu_input("PSU2", False)
    assert tor_a.state is SwitchState.OFF
    assert [e.cause for e in events if isinstance(e, SwitchStateChanged)] == ["power-lost"]
    tor_a.set_psu_input("PSU2", True)  # a switch boots when power returns
    assert tor_a.state is SwitchState.BOOTING
    clock.advance(tor_a.spec.boot_s)
    assert tor_a.up
    events.clear()
    hot_before = tor_a.temperature(2).value
    tor_a.fail_fan("Fan2")
    assert [(e.fan, e.ok) for e in events if isinstance(e, FanChanged)] == [("Fan2", False)]
    clock.advance(60)
    assert tor_a.fan_rpm(1).value == 0 and not tor_a.fan_rpm(1).ok
    assert tor_a.fan_rpm(0).value is not None and tor_a.fan_rpm(0).value > 6600  # speeds up
    clock.advance(600)
    hot_after = tor_a.temperature(2).value
    assert hot_before is not None and hot_after is not None and hot_after > hot_before + 5
    with pytest.raises(NotFound):
        tor_a.fail_fan("Fan9")

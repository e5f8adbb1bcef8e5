"""Node faults, part and node replacement, snapshot and restore, on the virtual clock."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodes import sensors as sn
from nodes.bios import ATTRIBUTES
from nodes.clock import VirtualClock
from nodes.errors import InvalidArgument, InvalidState, NotFound, PowerUnavailable
from nodes.events import (
    Event,
    LinkChanged,
    MemoryMappedOut,
    NodeReplaced,
    NodeRestored,
    OsStateChanged,
    PartFaultChanged,
    PartReplaced,
)
from nodes.faults import PART_OF, NodeFault, PartKind
from nodes.firmware import JobState, build_image
from nodes.node import BootTarget, Node
from nodes.power import HostState
from nodes.sel import EventType, SelRecord, SensorType
from nodes.sensors import Health
from nodes.spec import PowerRestorePolicy, TimingSpec
from nodes.users import LockoutPolicy, Privilege
from tests.model_helpers import make_node

T = TimingSpec()
BOOT = T.power_on_s + T.post_s + T.os_boot_s + 0.01


def boot(clock: VirtualClock, node: Node) -> None:
    node.power_on()
    clock.advance(BOOT)
    assert node.state is HostState.RUNNING


def fresh(clock: VirtualClock, events: list[Event] | None = None, **spec: Any) -> Node:
    return make_node(clock, events, **spec)


def records(node: Node, sensor_type: int, offset: int | None = None) -> list[SelRecord]:
    return [
        r
        for r in node.sel.records()
        if r.sensor_type == sensor_type and (offset is None or r.offset == offset)
    ]


# -- snapshot and restore --------------------------------------------------------------------------
def _busy_node(clock: VirtualClock) -> Node:
    """A node that has been used: SEL records (one deleted), users, lockout, BIOS current and
    pending, boot override, restore policy, media, a staged and a finished update, faults."""
    node = fresh(clock)
    boot(clock, node)
    node.users.provision(3, "ops", "opspass", Privilege.OPERATOR)
    node.users.set_password(2, "n3wpass")
    node.users.set_password_change_required(3, True)
    node.users.set_lockout_policy(LockoutPolicy(3, 120.0, 30.0))
    node.bios.stage({"ProcTurboMode": "Disabled"})
    node.hard_reset()  # applies it
    clock.advance(BOOT)
    node.bios.stage({"SriovGlobalEnable": "Enabled", "AcPwrRcvryUserDelay": 90})
    node.set_boot_override(BootTarget.PXE, persistent=True, uefi=False)
    node.set_power_restore_policy(PowerRestorePolicy.PREVIOUS)
    node.media.insert("CD", "http://10.0.0.1/images/os.iso")
    node.sel.delete(node.sel.first_id() or 0)
    node.start_firmware_update(build_image("nic", "CS-2400", "14.33.0", size=4096))
    clock.advance(600)
    node.start_firmware_update(build_image("bios", "CS-2400", "2.28.0", size=4096))
    clock.advance(600)  # installed, pending a host reset
    node.inject_fault(NodeFault.DATA_DISK, "Disk.3")
    node.inject_fault(NodeFault.PSU, "PSU2")
    node.replace_part(PartKind.FAN, "Fan2")
    node.power_off()
    return node


def test_snapshot_is_json_and_restores_on_a_fresh_node(clock: VirtualClock) -> None:
    node = _busy_node(clock)
    snap = node.snapshot()
    assert json.loads(json.dumps(snap)) == snap
    assert snap["host_on"] is False

    events: list[Event] = []
    other = fresh(clock, events)
    other.restore(snap)
    again = other.snapshot()
    # One record is added: the AC loss the restart is (Power Unit, offset 04h).
    added = again["sel"]["records"][-1]
    assert (added["sensor_type"], added["event_data"][:2]) == (SensorType.POWER_UNIT, "04")
    again["sel"]["records"] = again["sel"]["records"][:-1]
    for key in ("next_id", "last_add"):
        again["sel"].pop(key)
        snap["sel"].pop(key)
    assert again == snap
    assert [type(e) for e in events[:1]] == [NodeRestored]

    # What the protocols read is back too.
    assert other.users.get(2).password == "n3wpass"
    assert other.users.get(3).password_change_required
    assert other.users.lockout == LockoutPolicy(3, 120.0, 30.0)
    assert other.bios.current["ProcTurboMode"] == "Disabled"
    assert other.bios.pending == {"SriovGlobalEnable": "Enabled", "AcPwrRcvryUserDelay": 90}
    assert other.boot_override.target is BootTarget.PXE and other.boot_override.persistent
    assert other.firmware["nic"] == "14.33.0"
    assert [j.state for j in other.update_jobs] == [
        JobState.COMPLETED,
        JobState.PENDING_ACTIVATION,
    ]
    assert other.active_faults == [(NodeFault.DATA_DISK, "Disk.3"), (NodeFault.PSU, "PSU2")]
    assert other.part_serial(PartKind.FAN, "Fan2") == node.part_serial(PartKind.FAN, "Fan2")
    assert [r.record_id for r in other.sel.records()[:-1]] == [
        r.record_id for r in node.sel.records()
    ]
    # The staged BIOS image activates at the next POST, on the restored node too.
    other.power_on()
    clock.advance(BOOT)
    assert other.firmware["bios"] == "2.28.0"


def test_restore_interrupts_a_running_update_and_keeps_the_old_version(
    clock: VirtualClock,
) -> None:
    node = fresh(clock)
    job = node.start_firmware_update(build_image("bmc", "CS-2400", "7.10.0", size=4096))
    clock.advance(T.firmware.job_start_s + 2)
    assert node.update_job(job.id).state is JobState.RUNNING
    snap = node.snapshot()

    other = fresh(clock)
    other.restore(snap)
    restored = other.update_job(job.id)
    assert restored.state is JobState.EXCEPTION
    assert restored.failure is not None and "interrupted" in restored.failure
    assert other.firmware["bmc"] == "7.00.00.184"
    clock.advance(3600)
    assert other.firmware["bmc"] == "7.00.00.184"
    # The next job gets a new id.
    nxt = other.start_firmware_update(build_image("nic", "CS-2400", "14.40.0", size=1024))
    assert nxt.id != job.id


@pytest.mark.parametrize(
    ("policy", "was_on", "comes_on"),
    [
        (PowerRestorePolicy.ALWAYS_ON, False, True),
        (PowerRestorePolicy.ALWAYS_ON, True, True),
        (PowerRestorePolicy.PREVIOUS, True, True),
        (PowerRestorePolicy.PREVIOUS, False, False),
        (PowerRestorePolicy.ALWAYS_OFF, True, False),
    ],
)
def test_restore_applies_the_power_restore_policy(
    clock: VirtualClock, policy: PowerRestorePolicy, was_on: bool, comes_on: bool
) -> None:
    node = fresh(clock)
    node.set_power_restore_policy(policy)
    if was_on:
        boot(clock, node)
    other = fresh(clock)
    other.restore(node.snapshot())
    assert (other.state is not HostState.OFF) is comes_on
    if comes_on:
        clock.advance(BOOT)
        assert other.state is HostState.RUNNING


def test_restore_with_both_psus_failed_stays_off_until_one_is_back(clock: VirtualClock) -> None:
    node = fresh(clock, power_restore_policy=PowerRestorePolicy.PREVIOUS)
    boot(clock, node)
    node.inject_fault(NodeFault.PSU, "PSU1")
    snap_on = node.snapshot()
    node.inject_fault(NodeFault.PSU, "PSU2")
    assert node.state is HostState.OFF
    other = fresh(clock)
    other.restore(node.snapshot())
    assert other.state is HostState.OFF
    with pytest.raises(PowerUnavailable):
        other.power_on()
    other.replace_part(PartKind.PSU, "PSU2")
    assert other.state is HostState.POWERING_ON  # "previous": it was on when power went
    third = fresh(clock)
    third.restore(snap_on)
    assert third.state is HostState.POWERING_ON


def test_volatile_faults_end_with_the_restart(clock: VirtualClock) -> None:
    node = fresh(clock)
    boot(clock, node)
    node.inject_fault(NodeFault.OS_HANG)
    node.inject_fault(NodeFault.BMC_HANG)
    node.inject_fault(NodeFault.NIC_PORT, "nic2")
    other = fresh(clock)
    other.restore(node.snapshot())
    assert other.active_faults == [(NodeFault.NIC_PORT, "nic2")]
    assert other.bmc_answering() and other.os_responsive


def test_restore_refuses_another_node_or_format(clock: VirtualClock) -> None:
    node = fresh(clock)
    snap = node.snapshot()
    with pytest.raises(InvalidArgument):
        fresh(clock).restore({**snap, "format": 99})
    with pytest.raises(InvalidArgument):
        fresh(clock).restore({**snap, "name": "n09"})


_CHANGES = st.lists(
    st.sampled_from(
        [
            "user",
            "password",
            "bios",
            "override",
            "policy",
            "sel-clear",
            "sel-delete",
            "fault",
            "part",
            "lockout",
            "media",
        ]
    ),
    max_size=8,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=_CHANGES, seed=st.integers(0, 1000))
def test_every_change_a_snapshot_shows_is_announced_and_restored(
    clock: VirtualClock, changes: list[str], seed: int
) -> None:
    """Hypothesis: after any sequence of changes, each that altered the snapshot emitted an
    event naming the node, and snapshot -> fresh node -> restore -> snapshot is the same."""
    events: list[Event] = []
    node = fresh(clock, events)
    for i, change in enumerate(changes):
        before = node.snapshot()
        events.clear()
        n = seed + i
        if change == "user":
            node.users.provision(3 + n % 5, f"u{n}", "pw", Privilege.USER)
            node.users.set_enabled(3 + n % 5, bool(n % 2))
        elif change == "password":
            node.users.set_password(2, f"pw{n}")
        elif change == "bios":
            attr = [a for a in ATTRIBUTES if a.values][n % 5]
            node.bios.stage({attr.name: attr.values[n % len(attr.values)]})
        elif change == "override":
            node.set_boot_override(list(BootTarget)[n % len(BootTarget)], persistent=bool(n % 2))
        elif change == "policy":
            # (always-on would power the restored node on: a test above covers it)
            node.set_power_restore_policy(
                (PowerRestorePolicy.PREVIOUS, PowerRestorePolicy.ALWAYS_OFF)[n % 2]
            )
        elif change == "sel-clear":
            node.sel.clear(sn.EVENT_LOG)
        elif change == "sel-delete":
            first = node.sel.first_id()
            if first is not None:
                node.sel.delete(first)
        elif change == "fault":
            fault, target = [
                (NodeFault.DATA_DISK, f"Disk.{1 + n % 8}"),
                (NodeFault.FAN, f"Fan{1 + n % 6}"),
                (NodeFault.PSU, "PSU1"),
            ][n % 3]
            if node.fault_active(fault, target):
                node.clear_fault(fault, target)
            else:
                node.inject_fault(fault, target)
        elif change == "part":
            node.replace_part(PartKind.DIMM, f"A{1 + n % 12}")
        elif change == "lockout":
            node.users.set_lockout_policy(LockoutPolicy(1 + n % 9, 300.0, 60.0))
        elif change == "media":
            if node.media.slot("USB").attached:
                node.media.eject("USB")
            else:
                node.media.insert("USB", f"http://10.0.0.1/i{n}.img")
        after = node.snapshot()
        if after != before:
            assert any(e.device == node.name for e in events), change
    snap = node.snapshot()
    other = fresh(clock)
    other.restore(snap)
    again = other.snapshot()
    again["sel"]["records"].pop()  # the AC loss record
    for s in (again, snap):
        s["sel"].pop("next_id")
        s["sel"].pop("last_add")
    assert again == snap


# -- faults: errors --------------------------------------------------------------------------------
def test_bad_faults_raise_and_change_nothing(clock: VirtualClock) -> None:
    events: list[Event] = []
    node = fresh(clock, events)
    boot(clock, node)
    before, n_events = node.snapshot(), len(events)
    with pytest.raises(NotFound):
        node.inject_fault("meteor", "")
    with pytest.raises(NotFound):
        node.inject_fault(NodeFault.PSU, "PSU9")
    with pytest.raises(NotFound):
        node.inject_fault(NodeFault.DIMM, "Z1")
    with pytest.raises(InvalidArgument):
        node.inject_fault(NodeFault.PSU, "")
    with pytest.raises(InvalidArgument):
        node.inject_fault(NodeFault.OS_HANG, "nic1")
    with pytest.raises(InvalidState):
        node.clear_fault(NodeFault.FAN, "Fan1")
    with pytest.raises(NotFound):
        node.replace_part("gpu", "G1")
    node.inject_fault(NodeFault.FAN, "Fan1")
    mid, n_mid = node.snapshot(), len(events)
    with pytest.raises(InvalidState):
        node.inject_fault(NodeFault.FAN, "Fan1")
    assert node.snapshot() == mid and len(events) == n_mid
    node.clear_fault(NodeFault.FAN, "Fan1")
    assert node.active_faults == []
    assert before["faults"] == [] and len(events) > n_events


# -- psu -------------------------------------------------------------------------------------------
def test_one_psu_fails_redundancy_lost_node_stays_up(clock: VirtualClock) -> None:
    node = fresh(clock)
    boot(clock, node)
    node.inject_fault(NodeFault.PSU, "PSU1")
    assert node.state is HostState.RUNNING
    failure = [r for r in records(node, SensorType.POWER_SUPPLY, 0x01) if r.event_type == 0x6F]
    assert [r.sensor_number for r in failure] == [sn.PSU_STATUS_BASE]
    redundancy = [r for r in records(node, SensorType.POWER_SUPPLY) if r.event_type == 0x0B]
    assert redundancy[-1].offset == 0x01  # redundancy lost
    assert node.read(sn.PSU_STATUS_BASE).state & 0x02
    assert node.read(sn.PSU_REDUNDANCY).state == 0x02
    assert node.read(sn.PSU_POWER_BASE).value == 0.0
    assert node.part_health(PartKind.PSU, "PSU1") is Health.CRITICAL
    assert node.hardware_health() is Health.WARNING
    node.clear_fault(NodeFault.PSU, "PSU1")
    assert records(node, SensorType.POWER_SUPPLY, 0x01)[-1].asserted is False
    assert node.hardware_health() is Health.OK


def test_both_psus_fail_node_off_refuses_power_then_policy(clock: VirtualClock) -> None:
    node = fresh(clock, power_restore_policy=PowerRestorePolicy.PREVIOUS)
    boot(clock, node)
    node.inject_fault(NodeFault.PSU, "PSU1")
    node.inject_fault(NodeFault.PSU, "PSU2")
    assert node.state is HostState.OFF
    assert node.bmc_answering()  # standby power still reaches the BMC
    with pytest.raises(PowerUnavailable):
        node.power_on()
    assert node.hardware_health() is Health.CRITICAL
    node.replace_part(PartKind.PSU, "PSU2")
    assert node.state is HostState.POWERING_ON  # it was on: "previous" powers it on


# -- fan -------------------------------------------------------------------------------------------
def _temps(node: Node) -> tuple[float, float]:
    cpu, exhaust = node.read(sn.CPU_TEMP_BASE).value, node.read(sn.EXHAUST_TEMP).value
    assert cpu is not None and exhaust is not None
    return cpu, exhaust


def test_fan_failure_heats_the_node_over_minutes_with_threshold_events(
    clock: VirtualClock,
) -> None:
    node = fresh(clock)
    boot(clock, node)
    clock.advance(300)
    t0 = clock.now()
    node.inject_fault(NodeFault.FAN, "Fan3")
    assert node.read(sn.FAN_BASE + 2).value == 0.0
    (low,) = records(node, SensorType.FAN)
    assert (low.sensor_number, low.event_type, low.offset) == (sn.FAN_BASE + 2, 0x01, 0x02)
    temp_records = lambda: records(node, SensorType.TEMPERATURE)  # noqa: E731
    assert temp_records() == []  # nothing at inject time
    assert node.hardware_health() is Health.CRITICAL  # 0 RPM is below lower critical
    clock.advance(60)
    cpu, _ = _temps(node)
    assert 58 < cpu < 90 and temp_records() == []  # climbing, not there yet
    clock.advance(30 * 60)
    cpu, exhaust = _temps(node)
    assert cpu >= 95 and exhaust >= 75
    assert node.sensor_health() is Health.CRITICAL
    got = temp_records()
    cpu1 = [r for r in got if r.sensor_number == sn.CPU_TEMP_BASE]
    assert [(r.offset, r.asserted) for r in cpu1] == [(0x07, True), (0x09, True)]
    # Logged when crossed: minutes after the fan failed, warning before critical.
    assert 120 < cpu1[0].timestamp - t0 < cpu1[1].timestamp - t0 < 900
    assert all(r.event_type == EventType.THRESHOLD and r.event_data[0] & 0xF0 == 0x50 for r in got)
    exhaust_rs = [r for r in got if r.sensor_number == sn.EXHAUST_TEMP]
    assert [r.offset for r in exhaust_rs] == [0x07, 0x09]
    # The fan is replaced: temperatures fall back, each threshold deasserted.
    node.replace_part(PartKind.FAN, "Fan3")
    clock.advance(10 * 60)
    cpu, exhaust = _temps(node)
    assert cpu < 60 and exhaust < 40
    cpu1 = [r for r in temp_records() if r.sensor_number == sn.CPU_TEMP_BASE]
    assert [(r.offset, r.asserted) for r in cpu1[2:]] == [(0x09, False), (0x07, False)]
    assert records(node, SensorType.FAN)[-1].asserted is False
    assert node.hardware_health() is Health.OK


def test_fan_failure_with_the_host_off_does_not_heat(clock: VirtualClock) -> None:
    node = fresh(clock)
    node.inject_fault(NodeFault.FAN, "Fan1")
    clock.advance(3600)
    assert records(node, SensorType.TEMPERATURE) == []


# -- dimm ------------------------------------------------------------------------------------------
def test_dimm_ue_crashes_the_host_and_post_maps_it_out(clock: VirtualClock) -> None:
    events: list[Event] = []
    node = fresh(clock, events)
    boot(clock, node)
    total = node.memory_gib()
    node.inject_fault(NodeFault.DIMM, "A3")
    (ue,) = records(node, SensorType.MEMORY, 0x01)
    assert ue.event_data[2] == 2  # the third DIMM
    (stop,) = records(node, SensorType.OS_STOP)
    assert stop.offset == 0x01  # run-time critical stop
    assert not node.os_responsive and node.state is HostState.RUNNING
    assert any(isinstance(e, OsStateChanged) and not e.responsive for e in events)
    soft = node.soft_off()
    assert soft == []  # a crashed OS ignores the power button
    node.power_cycle()
    clock.advance(T.power_cycle_off_s + BOOT)
    assert node.state is HostState.RUNNING and node.os_responsive
    assert node.mapped_out_dimms == ("A3",)
    assert records(node, SensorType.MEMORY, 0x04)[0].event_data[2] == 2
    assert node.memory_gib() == total - 32
    assert any(isinstance(e, MemoryMappedOut) for e in events)
    assert node.part_health(PartKind.DIMM, "A3") is Health.CRITICAL
    old_serial = node.part_serial(PartKind.DIMM, "A3")
    node.replace_part(PartKind.DIMM, "A3")
    assert node.part_serial(PartKind.DIMM, "A3") != old_serial
    assert node.active_faults == []
    node.hard_reset()
    assert node.mapped_out_dimms == () and node.memory_gib() == total


# -- drives ----------------------------------------------------------------------------------------
def test_data_disk_fault(clock: VirtualClock) -> None:
    node = fresh(clock)
    boot(clock, node)
    node.inject_fault(NodeFault.DATA_DISK, "Disk.2")
    (rec,) = records(node, SensorType.DRIVE_SLOT, 0x01)
    assert rec.sensor_number == sn.DRIVE_BASE + 1
    assert node.read(sn.DRIVE_BASE + 1).state == 0x03
    assert node.part_health(PartKind.DATA_DISK, "Disk.2") is Health.CRITICAL
    assert node.hardware_health() is Health.WARNING
    assert node.state is HostState.RUNNING and node.os_responsive


def test_boot_drives_one_degrades_both_crash_and_no_boot(clock: VirtualClock) -> None:
    node = fresh(clock)
    boot(clock, node)
    node.inject_fault(NodeFault.BOOT_DRIVE, "BOSS.1")
    assert node.os_responsive and node.hardware_health() is Health.WARNING
    node.inject_fault(NodeFault.BOOT_DRIVE, "BOSS.2")
    assert not node.os_responsive
    assert records(node, SensorType.OS_STOP, 0x01)
    assert node.hardware_health() is Health.CRITICAL
    node.hard_reset()
    clock.advance(3600)
    assert node.state is HostState.POST  # never RUNNING
    (post,) = records(node, SensorType.SYSTEM_FIRMWARE_PROGRESS, 0x00)
    assert post.event_data[0] == 0xC0 and post.event_data[1] == 0x03
    # A PXE boot still works: the BIOS does not need the boot drives for it.
    node.set_boot_override(BootTarget.PXE)
    node.hard_reset()
    clock.advance(BOOT)
    assert node.state is HostState.RUNNING
    node.replace_part(PartKind.BOOT_DRIVE, "BOSS.1")
    node.hard_reset()
    clock.advance(BOOT)
    assert node.state is HostState.RUNNING and node.last_boot_device == "disk"


# -- nic -------------------------------------------------------------------------------------------
def test_nic_port_fault_drops_link_whatever_the_carrier(clock: VirtualClock) -> None:
    events: list[Event] = []
    node = fresh(clock, events)
    boot(clock, node)
    events.clear()
    node.inject_fault(NodeFault.NIC_PORT, "nic1")
    assert [e for e in events if isinstance(e, LinkChanged)] == [
        LinkChanged(device="n01", at=clock.now(), port="nic1", up=False)
    ]
    assert not node.nic_link_up("nic1") and node.nic_link_up("nic2")
    assert node.network_degraded()
    # A power cycle does not bring it back.
    events.clear()
    node.power_cycle()
    clock.advance(T.power_cycle_off_s + BOOT)
    ups = [e.port for e in events if isinstance(e, LinkChanged) and e.up]
    assert ups == ["nic2"]
    events.clear()
    node.clear_fault(NodeFault.NIC_PORT, "nic1")
    assert [e.up for e in events if isinstance(e, LinkChanged)] == [True]
    assert node.nic_link_up("nic1")


def test_a_nic_failing_while_its_switch_port_is_down_stays_dark_when_the_port_returns(
    clock: VirtualClock,
) -> None:
    """Engineer B's report: the NIC's own link is powered and not failed; the switch end follows
    it, so a port brought back up sees no link from a failed NIC until the fault is cleared."""
    from emulator import topology
    from emulator.rack import Rack

    rack = Rack(topology.default(4), clock)
    node = rack.nodes["n01"]
    node.power_on()
    clock.advance(120.0)
    tor, port = rack.links["n01:nic1"].split(":", 1)
    switch = rack.switches[tor]
    assert switch.ports[port].oper_up and node.nic_link_up("nic1")
    switch.set_admin(port, False)
    assert not switch.ports[port].oper_up and not node.nic_link_up("nic1")
    node.inject_fault(NodeFault.NIC_PORT, "nic1")
    assert not node.nic_driving("nic1") and node.nic_driving("nic2")
    switch.set_admin(port, True)
    clock.advance(60.0)
    assert not switch.ports[port].oper_up  # was up before the fix: the failed NIC "had link"
    assert not node.nic_link_up("nic1") and node.nic_link_up("nic2")
    node.clear_fault(NodeFault.NIC_PORT, "nic1")
    assert switch.ports[port].oper_up and node.nic_link_up("nic1")
    # And a power cycle with the NIC failed and the port down keeps it dark as well.
    switch.set_admin(port, False)
    node.inject_fault(NodeFault.NIC_PORT, "nic1")
    node.power_cycle()
    clock.advance(T.power_cycle_off_s + BOOT)
    switch.set_admin(port, True)
    assert not switch.ports[port].oper_up


# -- os hang ---------------------------------------------------------------------------------------
def test_os_hang_ignores_soft_off_graceful_forces_off_and_reset_clears(
    clock: VirtualClock,
) -> None:
    events: list[Event] = []
    node = fresh(clock, events)
    with pytest.raises(InvalidState):
        node.inject_fault(NodeFault.OS_HANG)  # no OS runs
    boot(clock, node)
    node.inject_fault(NodeFault.OS_HANG)
    assert not node.os_responsive and node.state is HostState.RUNNING
    node.graceful_shutdown(timeout_s=100)
    clock.advance(99)
    assert node.state is HostState.RUNNING
    clock.advance(2)
    assert node.state is HostState.OFF
    assert node.active_faults == [] and node.os_responsive
    ended = [e for e in events if isinstance(e, PartFaultChanged) and not e.faulted]
    assert ended[-1].cause == "reset"
    boot(clock, node)
    node.inject_fault(NodeFault.OS_HANG)
    node.clear_fault(NodeFault.OS_HANG)
    assert node.os_responsive


# -- bmc hang --------------------------------------------------------------------------------------
def test_bmc_hang_until_cleared_or_ac_cycle(clock: VirtualClock) -> None:
    node = fresh(clock)
    boot(clock, node)
    node.inject_fault(NodeFault.BMC_HANG)
    assert not node.bmc_answering() and node.state is HostState.RUNNING
    clock.advance(3600)
    assert not node.bmc_answering()
    node.clear_fault(NodeFault.BMC_HANG)
    assert node.bmc_answering()
    node.inject_fault(NodeFault.BMC_HANG)
    node.set_psu_input("PSU1", False)
    assert not node.bmc_answering()
    node.set_psu_input("PSU2", False)
    node.set_psu_input("PSU2", True)
    assert node.bmc_answering() and node.active_faults == []


# -- replacement -----------------------------------------------------------------------------------
def test_replace_node_arrives_factory_fresh(clock: VirtualClock) -> None:
    events: list[Event] = []
    node = _busy_node(clock)
    node._emit_sink = events.append
    boot_guid, boot_serial = node.guid, node.spec.serial
    node.power_on()
    with pytest.raises(InvalidArgument):
        node.replace("NEW1", username="root", password="calvin", firmware={"gpu": "1"})
    assert node.state is HostState.POWERING_ON  # refused: nothing changed
    node.replace("NEW1", username="root", password="calvin", firmware={"bios": "2.10.0"})
    assert node.state is HostState.OFF
    assert node.spec.serial == "NEW1" and node.guid != boot_guid
    assert node.fru.product_serial == "NEW1" and boot_serial != "NEW1"
    assert node.part_serial(PartKind.PSU, "PSU1") == "NEW1-PSU1"
    assert [u.name for u in node.users.all() if u.name] == ["root"]
    assert node.users.authenticate("root", "calvin") is not None
    assert node.firmware["bios"] == "2.10.0" and node.update_jobs == []
    assert node.bios.pending == {} and node.bios.current["ProcTurboMode"] == "Enabled"
    assert node.bios.current["SystemServiceTag"] == "NEW1"
    assert len(node.sel) == 0 and node.active_faults == []
    assert not node.boot_override.active
    assert any(isinstance(e, NodeReplaced) for e in events)
    assert node.snapshot()["serial"] == "NEW1"


def test_replace_part_emits_and_changes_serial(clock: VirtualClock) -> None:
    events: list[Event] = []
    node = fresh(clock, events)
    old = node.part_serial("nic", "nic2")
    node.replace_part("nic", "nic2")
    (e,) = [e for e in events if isinstance(e, PartReplaced)]
    assert e.serial == node.part_serial("nic", "nic2") != old


# -- the operator's view tells the same story -----------------------------------------------------
def test_operator_sees_psu_faults_as_the_bmc_reports_them(clock: VirtualClock) -> None:
    from bmc.snmp.traps import BmcTrapSender
    from emulator import topology
    from emulator.operator import AlertKind, NodeStatus, OperatorView
    from emulator.rack import Rack

    rack = Rack(topology.default(4), clock)
    BmcTrapSender(rack).follow()  # the operator's hardware alerts come from the BMCs' traps
    fabric = OperatorView(rack, members=list(rack.nodes))
    for node in rack.nodes.values():
        node.power_on()
    clock.advance(120.0)

    def open_alerts() -> set[AlertKind]:
        return {a.kind for a in fabric.alerts(open_only=True) if a.component == "n02"}

    n02 = rack.nodes["n02"]
    n02.inject_fault(NodeFault.PSU, "PSU1")  # the BMC's trap: at once
    assert open_alerts() == {AlertKind.PSU_REDUNDANCY_LOST}
    n02.inject_fault(NodeFault.PSU, "PSU2")
    assert fabric.node_status("n02") is NodeStatus.STOPPED
    clock.advance(300.0)
    # The host is off, its BMC still answers (standby power): not "BMC not responding".
    assert AlertKind.BMC_NOT_RESPONDING not in open_alerts()
    assert AlertKind.NODE_OFFLINE in open_alerts()
    n02.replace_part(PartKind.PSU, "PSU1")
    n02.replace_part(PartKind.PSU, "PSU2")
    clock.advance(300.0)
    assert AlertKind.PSU_REDUNDANCY_LOST not in open_alerts()


# -- Hypothesis: any mix of faults, repairs and power commands -------------------------------------
_TARGETS = {
    NodeFault.PSU: ["PSU1", "PSU2"],
    NodeFault.FAN: ["Fan1", "Fan4"],
    NodeFault.DIMM: ["A1", "A7"],
    NodeFault.DATA_DISK: ["Disk.1"],
    NodeFault.BOOT_DRIVE: ["BOSS.1", "BOSS.2"],
    NodeFault.NIC_PORT: ["nic1", "nic2"],
    NodeFault.OS_HANG: [""],
    NodeFault.BMC_HANG: [""],
}
_STEPS = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(["inject", "clear", "replace"]),
            st.sampled_from([(f, t) for f, ts in _TARGETS.items() for t in ts]),
        ),
        st.tuples(
            st.sampled_from(["on", "off", "cycle", "reset", "graceful", "ac-off", "ac-on"]),
            st.just((NodeFault.OS_HANG, "")),
        ),
        st.tuples(
            st.just("wait"), st.sampled_from([(NodeFault.OS_HANG, "1"), (NodeFault.OS_HANG, "200")])
        ),
    ),
    max_size=25,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=_STEPS)
def test_faults_hold_their_rules_under_any_sequence(
    clock: VirtualClock, steps: list[tuple[str, tuple[NodeFault, str]]]
) -> None:
    """Refusals change nothing; the fault sets match active_faults; a failed NIC never has
    link; no PSU delivering means the host is off; the OS answers only when no fault stopped
    it; the BMC answers unless hung; and every state survives snapshot -> fresh -> restore."""
    node = fresh(clock, power_restore_policy=PowerRestorePolicy.PREVIOUS)
    for action, (fault, target) in steps:
        before = node.snapshot()
        try:
            if action == "inject":
                node.inject_fault(fault, target)
            elif action == "clear":
                node.clear_fault(fault, target)
            elif action == "replace":
                if fault in (NodeFault.OS_HANG, NodeFault.BMC_HANG):
                    continue
                kind = PART_OF[fault]
                assert kind is not None
                node.replace_part(kind, target)
            elif action == "on":
                node.power_on()
            elif action == "off":
                node.power_off()
            elif action == "cycle":
                node.power_cycle()
            elif action == "reset":
                node.hard_reset()
            elif action == "graceful":
                node.graceful_shutdown(60)
            elif action == "ac-off":
                node.set_psu_input("PSU1", False)
                node.set_psu_input("PSU2", False)
            elif action == "ac-on":
                node.set_psu_input("PSU1", True)
                node.set_psu_input("PSU2", True)
            elif action == "wait":
                clock.advance(float(target))
        except (InvalidState, InvalidArgument, NotFound):
            assert node.snapshot() == before, (action, fault, target)
        faults = node.active_faults
        by = {f: {t for g, t in faults if g is f} for f in NodeFault}
        assert by[NodeFault.PSU] == node.failed_psus
        assert by[NodeFault.FAN] == node.failed_fans
        assert by[NodeFault.DIMM] == node.failed_dimms
        assert by[NodeFault.DATA_DISK] | by[NodeFault.BOOT_DRIVE] == node.failed_drives
        assert by[NodeFault.NIC_PORT] == node.failed_nics
        assert all(not node.nic_link_up(nic) for nic in node.failed_nics)
        if not node.has_input_power():
            assert node.state is HostState.OFF
        assert node.bmc_answering() is (NodeFault.BMC_HANG not in by or not by[NodeFault.BMC_HANG])
        if (NodeFault.OS_HANG, "") in faults:
            assert not node.os_responsive and node.state is not HostState.OFF
        if node.state is HostState.RUNNING and node.boot_drives_failed() == 2:
            assert not node.os_responsive or node.last_boot_device != "disk"
    snap = node.snapshot()
    other = fresh(clock)
    other.restore(snap)
    volatile = (NodeFault.OS_HANG, NodeFault.BMC_HANG)
    assert other.active_faults == [(f, t) for f, t in node.active_faults if f not in volatile]
    assert other.firmware == node.firmware and other.users.all() == node.users.all()


def test_sel_changes_without_a_record_are_announced(clock: VirtualClock) -> None:
    """Deleting a record, setting the SEL clock and the log filling up change what a snapshot
    shows, so each is an event naming the node (the state store writes on events)."""
    from nodes.events import SelFull, SelRecordDeleted, SelTimeSet

    events: list[Event] = []
    node = fresh(clock, events, node_options={"sel_capacity": 16})
    for i in range(16):
        node.sel.log(SensorType.FAN, sn.FAN_BASE, 0x02, f"r{i}")
    events.clear()
    assert node.sel.log(SensorType.FAN, sn.FAN_BASE, 0x02, "one too many") is None
    assert node.sel.log(SensorType.FAN, sn.FAN_BASE, 0x02, "and another") is None
    assert [type(e) for e in events] == [SelFull] and node.snapshot()["sel"]["overflow"]
    node.sel.delete(3)
    node.sel.set_time(1_800_000_000)
    assert [type(e) for e in events[1:]] == [SelRecordDeleted, SelTimeSet]
    assert all(e.device == "n01" for e in events)
    other = fresh(clock)
    other.restore(node.snapshot())
    assert other.sel.now() - node.sel.now() < 1 and 3 not in {
        r.record_id for r in other.sel.records()
    }

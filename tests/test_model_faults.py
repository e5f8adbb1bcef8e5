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
from nodes.errors import InvalidArgument, PowerUnavailable
from nodes.events import (
    Event,
    NodeRestored,
)
from nodes.faults import NodeFault, PartKind
from nodes.firmware import JobState, build_image
from nodes.node import BootTarget, Node
from nodes.power import HostState
from nodes.sel import SelRecord, SensorType
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


# -- snapshot and restore ------------------------------------------------------------------------
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

"""The node model on a virtual clock: power, boot, sensors, SEL, users, BMC reset."""

from __future__ import annotations

import pytest

from nodes import sensors as sn
from nodes.clock import VirtualClock
from nodes.errors import (
    CapacityExceeded,
    InvalidArgument,
    InvalidState,
    NotFound,
    PowerUnavailable,
    ReservationCanceled,
)
from nodes.events import BmcReady, BmcResetStarted, Event, LinkChanged, PowerChanged
from nodes.node import BmcResetKind, BootTarget, PowerEvent, RestartCause
from nodes.power import HostState
from nodes.sel import SelEntryInput, SensorType, SystemEventLog
from nodes.spec import PowerRestorePolicy, TimingSpec
from nodes.users import Privilege
from tests.model_helpers import make_node

T = TimingSpec()


def boot(clock: VirtualClock, node) -> None:  # type: ignore[no-untyped-def]
    node.power_on()
    clock.advance(T.power_on_s + T.post_s + T.os_boot_s + 0.001)
    assert node.state is HostState.RUNNING


def test_power_on_walks_through_post_and_os_boot_with_real_durations(clock: VirtualClock) -> None:
    events: list[Event] = []
    node = make_node(clock, events)
    node.power_on()
    assert node.state is HostState.POWERING_ON and not node.chassis_on
    clock.advance(T.power_on_s)
    assert node.state is HostState.POST and node.chassis_on
    clock.advance(T.post_s - 0.01)
    assert node.state is HostState.POST
    clock.advance(0.02)
    assert node.state is HostState.BOOTING
    clock.advance(T.os_boot_s)
    assert node.state is HostState.RUNNING
    changes = [(e.old, e.new) for e in events if isinstance(e, PowerChanged)]
    assert changes == [
        (HostState.OFF, HostState.POWERING_ON),
        (HostState.POWERING_ON, HostState.POST),
        (HostState.POST, HostState.BOOTING),
        (HostState.BOOTING, HostState.RUNNING),
    ]
    links = [(e.port, e.up) for e in events if isinstance(e, LinkChanged)]
    assert links == [("nic1", True), ("nic2", True)]
    messages = [r.message for r in node.sel.records()]
    assert messages == [
        "System Boot Initiated: power up",
        "ACPI S0/G0 working",
        "OS boot completed (disk)",
    ]
    assert node.last_power_event is PowerEvent.COMMAND
    assert node.restart_cause is RestartCause.CHASSIS_CONTROL


def test_power_on_is_refused_without_input_power_and_changes_nothing(clock: VirtualClock) -> None:
    node = make_node(clock)
    node.set_psu_input("PSU1", False)
    node.power_on()  # one PSU is enough
    node.power_off()
    node.set_psu_input("PSU2", False)
    before = len(node.sel)
    with pytest.raises(PowerUnavailable):
        node.power_on()
    assert node.state is HostState.OFF and len(node.sel) == before


def test_soft_off_needs_a_running_os(clock: VirtualClock) -> None:
    node = make_node(clock)
    node.power_on()
    clock.advance(T.power_on_s + 1)
    assert node.soft_off() == [] and node.state is HostState.POST  # BIOS ignores ACPI
    clock.advance(T.post_s + T.os_boot_s)
    node.soft_off()
    assert node.state is HostState.SHUTTING_DOWN
    clock.advance(T.os_shutdown_s + 0.01)
    assert node.state is HostState.OFF
    assert node.sel.records()[-1].message == "ACPI S5/G2 soft-off"


def test_graceful_shutdown_forces_power_off_when_the_os_does_not_answer(
    clock: VirtualClock,
) -> None:
    node = make_node(clock)
    boot(clock, node)
    node.os_responsive = False
    node.graceful_shutdown(timeout_s=120)
    clock.advance(119)
    assert node.state is HostState.RUNNING
    clock.advance(2)
    assert node.state is HostState.OFF


def test_graceful_shutdown_deadline_is_cancelled_by_a_clean_shutdown(clock: VirtualClock) -> None:
    node = make_node(clock)
    boot(clock, node)
    node.graceful_shutdown(timeout_s=100)
    clock.advance(T.os_shutdown_s + 1)
    assert node.state is HostState.OFF
    node.power_on()
    clock.advance(200)
    assert node.state is HostState.RUNNING  # the old deadline did not kill the new boot


def test_power_cycle_and_reset_need_power(clock: VirtualClock) -> None:
    node = make_node(clock)
    with pytest.raises(InvalidState):
        node.power_cycle()
    with pytest.raises(InvalidState):
        node.hard_reset()
    with pytest.raises(InvalidState):
        node.diag_interrupt()
    assert node.state is HostState.OFF and len(node.sel) == 0
    boot(clock, node)
    node.power_cycle()
    assert node.state is HostState.OFF
    clock.advance(T.power_cycle_off_s + T.power_on_s + 0.01)
    assert node.state is HostState.POST
    node.hard_reset()
    assert node.state is HostState.POST
    assert node.sel.records()[-1].message == "System Boot Initiated: hard reset"
    node.diag_interrupt()
    assert node.sel.records()[-1].sensor_type == SensorType.CRITICAL_INTERRUPT


def test_power_off_during_a_power_cycle_keeps_the_host_off(clock: VirtualClock) -> None:
    node = make_node(clock)
    boot(clock, node)
    node.power_cycle()
    node.power_off()
    clock.advance(600)
    assert node.state is HostState.OFF


def test_one_time_boot_override_is_used_once_and_persistent_stays(clock: VirtualClock) -> None:
    node = make_node(clock)
    node.set_boot_override(BootTarget.PXE, persistent=False, uefi=True)
    boot(clock, node)
    assert node.last_boot_device == "pxe"
    assert not node.boot_override.active
    assert node.sel.records()[-1].offset == 0x02  # PXE boot completed
    node.set_boot_override("cdrom", persistent=True, uefi=False)
    node.hard_reset()
    clock.advance(T.post_s + T.os_boot_s + 1)
    assert node.last_boot_device == "cdrom" and node.boot_override.target is BootTarget.CDROM
    with pytest.raises(InvalidArgument):
        node.set_boot_override("tape")


def test_boot_to_bios_setup_stays_in_post(clock: VirtualClock) -> None:
    node = make_node(clock)
    node.set_boot_override(BootTarget.BIOS)
    node.power_on()
    clock.advance(3600)
    assert node.state is HostState.POST and node.in_setup


def test_identify_turns_itself_off(clock: VirtualClock) -> None:
    node = make_node(clock)
    node.identify(15)
    assert node.identify_on
    clock.advance(15.01)
    assert not node.identify_on
    node.identify(None)
    clock.advance(1000)
    assert node.identify_on
    with pytest.raises(InvalidArgument):
        node.identify(300)


@pytest.mark.parametrize(
    ("policy", "was_on", "comes_back"),
    [
        (PowerRestorePolicy.ALWAYS_OFF, True, False),
        (PowerRestorePolicy.ALWAYS_ON, False, True),
        (PowerRestorePolicy.PREVIOUS, True, True),
        (PowerRestorePolicy.PREVIOUS, False, False),
    ],
)
def test_ac_loss_and_the_power_restore_policy(
    clock: VirtualClock, policy: PowerRestorePolicy, was_on: bool, comes_back: bool
) -> None:
    node = make_node(clock)
    node.set_power_restore_policy(policy)
    if was_on:
        boot(clock, node)
    node.set_psu_input("PSU1", False)
    assert node.state is (HostState.RUNNING if was_on else HostState.OFF)
    node.set_psu_input("PSU2", False)
    assert node.state is HostState.OFF
    assert node.last_power_event is PowerEvent.AC_FAILED
    node.set_psu_input("PSU1", True)
    assert (node.state is not HostState.OFF) is comes_back
    if comes_back:
        assert node.restart_cause in (RestartCause.ALWAYS_RESTORE, RestartCause.RESTORE_PREVIOUS)
    with pytest.raises(NotFound):
        node.set_psu_input("PSU9", True)


def test_bmc_reset_makes_the_bmc_silent_while_the_host_runs(clock: VirtualClock) -> None:
    events: list[Event] = []
    node = make_node(clock, events)
    boot(clock, node)
    node.bmc_reset(BmcResetKind.COLD)
    assert not node.bmc_answering()
    clock.advance(T.bmc_cold_reset_s - 0.1)
    assert not node.bmc_answering() and node.state is HostState.RUNNING
    clock.advance(0.2)
    assert node.bmc_answering()
    kinds = [type(e) for e in events if isinstance(e, BmcResetStarted | BmcReady)]
    assert kinds == [BmcResetStarted, BmcReady]
    node.bmc_reset(BmcResetKind.WARM)
    clock.advance(T.bmc_warm_reset_s + 0.01)
    assert node.bmc_answering()


def test_sensors_follow_the_host_state(clock: VirtualClock) -> None:
    node = make_node(clock)
    assert node.read(sn.CPU_TEMP_BASE).value is None  # main power off: unavailable
    assert node.read(sn.FAN_BASE).value is None
    inlet = node.read(sn.INLET_TEMP).value
    assert inlet is not None and 15 < inlet < 30
    standby = node.read(sn.POWER_CONSUMPTION).value
    assert standby is not None and standby < 30
    boot(clock, node)
    clock.advance(300)
    cpu = node.read(sn.CPU_TEMP_BASE).value
    assert cpu is not None and 50 < cpu < 65
    assert node.read(sn.FAN_BASE).value == pytest.approx(3600)
    watts = node.read(sn.POWER_CONSUMPTION).value
    assert watts is not None and watts > 200
    psu1 = node.read(sn.PSU_POWER_BASE).value
    assert psu1 is not None and psu1 == pytest.approx(watts / 2, abs=1)
    node.set_psu_input("PSU1", False)
    assert node.read(sn.PSU_POWER_BASE).value == 0
    assert node.read(sn.PSU_STATUS_BASE).state & 0x08
    assert node.read(sn.PSU_REDUNDANCY).state == 0x02
    node.power_off()
    clock.advance(1)
    warm = node.thermal.cpu_lag.value(clock.now())
    clock.advance(600)
    assert node.thermal.cpu_lag.value(clock.now()) < warm  # it cools down


def test_cpu_temperature_rises_smoothly_after_power_on(clock: VirtualClock) -> None:
    node = make_node(clock)
    node.power_on()
    clock.advance(T.power_on_s + 0.1)
    readings = []
    for _ in range(5):
        value = node.read(sn.CPU_TEMP_BASE).value
        assert value is not None
        readings.append(value)
        clock.advance(5)
    assert readings == sorted(readings) and readings[-1] > readings[0]


def test_sel_semantics(clock: VirtualClock) -> None:
    sel = SystemEventLog("n01", clock, lambda e: None, capacity=16)
    records = [sel.log(SensorType.POWER_UNIT, 0x43, 0, f"e{i}") for i in range(16)]
    assert [r.record_id for r in records if r] == list(range(1, 17))
    assert sel.log(SensorType.POWER_UNIT, 0x43, 0, "dropped") is None and sel.overflow
    with pytest.raises(CapacityExceeded):
        sel.add(SelEntryInput(sensor_type=1, sensor_number=1, offset=0))
    reservation = sel.reserve()
    sel.check_reservation(reservation)
    sel.delete(5)
    with pytest.raises(ReservationCanceled):
        sel.check_reservation(reservation)
    assert sel.next_id_after(4) == 6
    with pytest.raises(NotFound):
        sel.get(5)
    cleared = sel.clear(0x44)
    assert cleared is not None and len(sel) == 1 and not sel.overflow
    assert cleared.record_id == 17  # ids are not reused
    assert cleared.sensor_type == SensorType.EVENT_LOGGING_DISABLED and cleared.offset == 0x02
    sel.set_time(2_000_000_000)
    assert abs(sel.now() - 2_000_000_000) <= 1


def test_users_keep_ipmi_rules(clock: VirtualClock) -> None:
    node = make_node(clock)
    users = node.users
    assert users.get(2).name == "admin" and users.get(2).privilege is Privilege.ADMINISTRATOR
    assert not users.get(1).enabled
    users.set_name(3, "operator")
    users.set_password(3, "x" * 20)
    users.set_privilege(3, Privilege.OPERATOR)
    users.set_enabled(3, True)
    assert users.by_name("operator") == users.get(3)
    with pytest.raises(InvalidState):
        users.set_name(4, "operator")
    with pytest.raises(InvalidArgument):
        users.set_password(3, "x" * 21)
    with pytest.raises(InvalidArgument):
        users.set_name(3, "n" * 17)
    with pytest.raises(InvalidArgument):
        users.set_name(1, "anon")
    with pytest.raises(NotFound):
        users.get(17)
    assert users.get(3).name == "operator"  # failed commands changed nothing

"""Node.graceful_restart on a virtual clock: ACPI shutdown, then power on once off (or after the
forced-off deadline); other power commands cancel the power-on."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nodes.clock import VirtualClock
from nodes.errors import InvalidState
from nodes.events import Event, PowerChanged
from nodes.node import Node
from nodes.power import HostState
from nodes.spec import TimingSpec
from tests.model_helpers import make_node

T = TimingSpec()
BOOT = T.power_on_s + T.post_s + T.os_boot_s


def running(clock: VirtualClock, events: list[Event] | None = None) -> Node:
    node = make_node(clock, events)
    node.power_on()
    clock.advance(BOOT + 0.001)
    assert node.state is HostState.RUNNING
    return node


def changes(events: list[Event]) -> list[tuple[HostState, str]]:
    return [(e.new, e.cause) for e in events if isinstance(e, PowerChanged)]


def test_restart_shuts_the_os_down_then_boots_again(clock: VirtualClock) -> None:
    events: list[Event] = []
    node = running(clock, events)
    events.clear()
    node.graceful_restart()
    assert node.state is HostState.SHUTTING_DOWN
    clock.advance(T.os_shutdown_s + 0.001)
    assert node.state is HostState.OFF
    clock.advance(T.power_cycle_off_s)
    assert node.state is HostState.POWERING_ON
    clock.advance(BOOT)
    assert node.state is HostState.RUNNING
    assert changes(events)[:3] == [
        (HostState.SHUTTING_DOWN, "soft-off"),
        (HostState.OFF, "timer"),
        (HostState.POWERING_ON, "chassis-control"),
    ]
    messages = [r.message for r in node.sel.records()]
    assert messages[-4:] == [
        "ACPI S5/G2 soft-off",
        "System Boot Initiated: power up",
        "ACPI S0/G0 working",
        "OS boot completed (disk)",
    ]


def test_a_hung_os_is_forced_off_at_the_deadline_then_powered_on(clock: VirtualClock) -> None:
    events: list[Event] = []
    node = running(clock, events)
    node.os_responsive = False
    events.clear()
    node.graceful_restart(timeout_s=30)
    assert node.state is HostState.RUNNING  # the OS ignores the ACPI request
    clock.advance(29.9)
    assert node.state is HostState.RUNNING
    clock.advance(0.2 + T.power_cycle_off_s)
    assert changes(events) == [
        (HostState.OFF, "graceful-timeout"),
        (HostState.POWERING_ON, "chassis-control"),
    ]


def test_restart_is_refused_while_off_and_changes_nothing(clock: VirtualClock) -> None:
    node = make_node(clock)
    with pytest.raises(InvalidState):
        node.graceful_restart()
    clock.advance(1000)
    assert node.state is HostState.OFF


@pytest.mark.parametrize(
    ("command", "final", "power_ons"),
    [
        (lambda n: n.power_off(), HostState.OFF, 0),
        (lambda n: n.graceful_shutdown(), HostState.OFF, 0),
        (lambda n: n.hard_reset(), HostState.RUNNING, 0),
        (lambda n: n.power_cycle(), HostState.RUNNING, 1),
    ],
    ids=["off", "shutdown", "reset", "cycle"],
)
def test_another_power_command_cancels_the_power_on(
    clock: VirtualClock,
    command: Callable[[Node], object],
    final: HostState,
    power_ons: int,
) -> None:
    events: list[Event] = []
    node = running(clock, events)
    node.graceful_restart()
    events.clear()
    command(node)
    clock.advance(T.os_shutdown_s + T.graceful_timeout_s + BOOT + 10)
    assert node.state is final  # no forced-off deadline or power-on left behind
    assert [c for c in changes(events) if c[0] is HostState.POWERING_ON] == [
        (HostState.POWERING_ON, "power-cycle")
    ] * power_ons


def test_losing_input_power_cancels_the_power_on(clock: VirtualClock) -> None:
    node = running(clock)
    node.graceful_restart()
    node.set_psu_input("PSU1", False)
    node.set_psu_input("PSU2", False)
    node.set_psu_input("PSU1", True)  # policy: stay off (the default)
    clock.advance(T.graceful_timeout_s + 10)
    assert node.state is HostState.OFF


def test_power_off_between_off_and_on_keeps_the_host_off(clock: VirtualClock) -> None:
    node = running(clock)
    node.os_responsive = False
    node.graceful_restart(timeout_s=0)
    clock.advance(T.power_cycle_off_s / 2)  # forced off at once; the power-on is pending
    assert node.state is HostState.OFF
    node.power_off()
    clock.advance(10)
    assert node.state is HostState.OFF

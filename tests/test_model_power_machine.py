"""Hypothesis drives the power state machine with random commands, PSU changes and time.

Invariants: a refused command changes nothing; every PowerChanged continues from the last one;
NIC links are up exactly while the chassis is; no host is stuck in a timed state; the table in
``nodes.power`` says what each command does.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from nodes.clock import VirtualClock
from nodes.errors import InvalidState, PowerUnavailable
from nodes.events import Event, LinkChanged, PowerChanged
from nodes.node import BootTarget
from nodes.power import TRANSITIONS, Command, HostState
from nodes.spec import TimingSpec
from tests.model_helpers import make_node

LONGEST = sum(
    getattr(TimingSpec(), f)
    for f in ("power_on_s", "post_s", "os_boot_s", "os_shutdown_s", "power_cycle_off_s")
)


class PowerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock()
        self.events: list[Event] = []
        self.node = make_node(self.clock, self.events)
        self.seen = 0
        self.last_state = HostState.OFF
        self.links_up = False
        #: Set by a power-off; only power on, a power cycle or returning AC may end it.
        self.held_off = False

    def _command(self, command: Command, call) -> None:  # type: ignore[no-untyped-def]
        before = self.node.state
        expected = TRANSITIONS[command][before]
        sel_before = len(self.node.sel)
        try:
            call()
        except PowerUnavailable:
            assert command is Command.POWER_ON and not self.node.has_input_power()
            assert self.node.state is before and len(self.node.sel) == sel_before
            return
        except InvalidState:
            assert expected == "refused"
            assert self.node.state is before and len(self.node.sel) == sel_before
            return
        assert expected != "refused"
        if expected == "same":
            if command in (Command.SOFT_OFF, Command.GRACEFUL_SHUTDOWN, Command.POWER_ON):
                assert self.node.state is before
        elif command in (Command.SOFT_OFF, Command.GRACEFUL_SHUTDOWN):
            assert self.node.state in (expected, before)  # a hung OS ignores ACPI
        else:
            assert self.node.state is expected

    @rule()
    def power_on(self) -> None:
        self.held_off = False
        self._command(Command.POWER_ON, self.node.power_on)

    @rule()
    def power_off(self) -> None:
        self._command(Command.POWER_OFF, self.node.power_off)
        self.held_off = True

    @rule()
    def soft_off(self) -> None:
        self._command(Command.SOFT_OFF, self.node.soft_off)

    @rule(timeout=st.floats(min_value=0, max_value=400))
    def graceful(self, timeout: float) -> None:
        self._command(Command.GRACEFUL_SHUTDOWN, lambda: self.node.graceful_shutdown(timeout))

    @rule()
    def cycle(self) -> None:
        if self.node.chassis_on:
            self.held_off = False
        self._command(Command.POWER_CYCLE, self.node.power_cycle)

    @rule()
    def reset(self) -> None:
        self._command(Command.HARD_RESET, self.node.hard_reset)

    @rule()
    def nmi(self) -> None:
        self._command(Command.DIAG_INTERRUPT, self.node.diag_interrupt)

    @rule(psu=st.sampled_from(["PSU1", "PSU2"]), has_input=st.booleans())
    def psu(self, psu: str, has_input: bool) -> None:
        if has_input:
            self.held_off = False  # the power-restore policy may power on
        self.node.set_psu_input(psu, has_input)

    @rule(hung=st.booleans())
    def os_hang(self, hung: bool) -> None:
        self.node.os_responsive = not hung

    @rule(device=st.sampled_from(list(BootTarget)), persistent=st.booleans())
    def bootdev(self, device: BootTarget, persistent: bool) -> None:
        self.node.set_boot_override(device, persistent=persistent)

    @rule(seconds=st.floats(min_value=0, max_value=200))
    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @precondition(
        lambda self: (
            self.node.os_responsive
            and not self.node.in_setup
            and self.node.boot_override.target is not BootTarget.BIOS
        )
    )
    @rule()
    def settle(self) -> None:
        """With nothing else happening, every timed state ends."""
        self.clock.advance(LONGEST + TimingSpec().graceful_timeout_s + 1)
        assert self.node.state in (HostState.OFF, HostState.RUNNING)

    @invariant()
    def events_chain(self) -> None:
        for event in self.events[self.seen :]:
            if isinstance(event, PowerChanged):
                assert event.old is self.last_state
                # Only a hard reset re-enters the state it left (POST again).
                assert event.new is not event.old or event.cause == "hard-reset"
                self.last_state = event.new
            elif isinstance(event, LinkChanged):
                self.links_up = event.up
        self.seen = len(self.events)
        assert self.last_state is self.node.state
        assert self.links_up == self.node.chassis_on

    @invariant()
    def stays_off_after_power_off(self) -> None:
        if self.held_off:
            assert self.node.state is HostState.OFF

    @invariant()
    def off_without_input(self) -> None:
        if not self.node.has_input_power():
            assert self.node.state is HostState.OFF


TestPowerMachine = PowerMachine.TestCase
TestPowerMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)

"""The host's power state machine.

Rules it keeps (the table below is the whole of it):

* ``power_on`` from OFF powers the rails up (POWERING_ON), runs POST, boots the OS, and the
  host is RUNNING; it is refused while no PSU has input.
* ``power_off`` (the button held, or IPMI power down) drops the host to OFF from any state.
* ``soft_off`` (an ACPI request) is honoured only by a running, responsive OS, which then takes
  ``os_shutdown_s`` to stop; otherwise it does nothing, as on real hardware.
* ``graceful_shutdown`` is ``soft_off`` with a deadline after which power is forced off.
* ``power_cycle`` and ``hard_reset`` need the chassis powered; ``hard_reset`` restarts POST.
* Losing input on every PSU drops the host to OFF at once; the power-restore policy decides what
  happens when input returns.
"""

from __future__ import annotations

from enum import StrEnum


class HostState(StrEnum):
    OFF = "off"
    POWERING_ON = "powering-on"
    POST = "post"
    BOOTING = "booting"
    RUNNING = "running"
    SHUTTING_DOWN = "shutting-down"

    @property
    def chassis_on(self) -> bool:
        """Whether the main power rails are up (IPMI's "chassis power is on")."""
        return self not in (HostState.OFF, HostState.POWERING_ON)


class Command(StrEnum):
    POWER_ON = "power_on"
    POWER_OFF = "power_off"
    SOFT_OFF = "soft_off"
    GRACEFUL_SHUTDOWN = "graceful_shutdown"
    POWER_CYCLE = "power_cycle"
    HARD_RESET = "hard_reset"
    DIAG_INTERRUPT = "diag_interrupt"


#: What each command does in each state: the state it moves to at once, "same" for no change,
#: or "refused" (the model raises InvalidState).
S = HostState
TRANSITIONS: dict[Command, dict[HostState, HostState | str]] = {
    Command.POWER_ON: {
        S.OFF: S.POWERING_ON,
        S.POWERING_ON: "same",
        S.POST: "same",
        S.BOOTING: "same",
        S.RUNNING: "same",
        S.SHUTTING_DOWN: "same",
    },
    Command.POWER_OFF: {s: S.OFF for s in S} | {S.OFF: "same"},
    Command.SOFT_OFF: {
        S.OFF: "same",
        S.POWERING_ON: "same",
        S.POST: "same",
        S.BOOTING: "same",
        S.RUNNING: S.SHUTTING_DOWN,
        S.SHUTTING_DOWN: "same",
    },
    Command.GRACEFUL_SHUTDOWN: {
        S.OFF: "same",
        S.POWERING_ON: "same",
        S.POST: "same",
        S.BOOTING: "same",
        S.RUNNING: S.SHUTTING_DOWN,
        S.SHUTTING_DOWN: "same",
    },
    Command.POWER_CYCLE: {s: S.OFF for s in S} | {S.OFF: "refused", S.POWERING_ON: "refused"},
    Command.HARD_RESET: {s: S.POST for s in S} | {S.OFF: "refused", S.POWERING_ON: "refused"},
    Command.DIAG_INTERRUPT: {s: "same" for s in S} | {S.OFF: "refused", S.POWERING_ON: "refused"},
}

#: What follows each timed state when its duration ends.
NEXT_STATE: dict[HostState, HostState] = {
    S.POWERING_ON: S.POST,
    S.POST: S.BOOTING,
    S.BOOTING: S.RUNNING,
    S.SHUTTING_DOWN: S.OFF,
}
del S

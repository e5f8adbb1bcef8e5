"""The host's side of a node: power, its inputs and the restore policy, boot, and the OS.

Rules it keeps (the power transitions themselves are the table in :mod:`nodes.power`):

* Each command checks ``TRANSITIONS``; a timed state (POWERING_ON, POST, BOOTING,
  SHUTTING_DOWN) moves on to ``NEXT_STATE`` after its duration from the node's timings. POST
  waits for a reset when the boot target is BIOS setup, or when the disk is the target and
  every boot drive has failed (a "no bootable device" POST error is logged).
* Entering a state logs what a BMC logs (power up, hard reset, ACPI S0 and S5, power off, OS
  boot with the device and virtual-media image), turns the NICs' links with the rails, moves
  the temperatures and power draw, and lets BIOS settings, the memory map and firmware updates
  that wait for a host reset or POST take effect. A one-time boot override is used up when the
  OS starts booting.
* A graceful restart powers the host on ``power_cycle_off_s`` after it reaches OFF, unless
  another power command (or an AC loss) came first.
* PSU inputs: when no PSU delivers (input, not failed) the host drops off at once and the BMC
  remembers whether it was on; when one delivers again the restore policy decides (always-on
  powers on, previous powers on if it was on, always-off stays off). The BMC's standby power is
  :mod:`nodes.bmc_lifecycle`'s business.
* The OS can stop (crash: a Run-time critical stop is logged; hang: silent); the next host
  reset or power-off brings it back, and ends an ``os-hang`` fault with cause ``reset``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from nodes import sensors as sn
from nodes.clock import Timer
from nodes.errors import InvalidArgument, InvalidState, NotFound, PowerUnavailable
from nodes.events import (
    BootOverrideChanged,
    Event,
    EventSink,
    LinkChanged,
    OsStateChanged,
    PowerChanged,
    PowerRestorePolicyChanged,
    PsuInputChanged,
)
from nodes.faults import NodeFault
from nodes.media import MediaKind
from nodes.power import NEXT_STATE, TRANSITIONS, Command, HostState
from nodes.sel import SensorType
from nodes.spec import PowerRestorePolicy

if TYPE_CHECKING:
    from nodes.node import Node


#: Redfish/IPMI-neutral boot targets.
class BootTarget(StrEnum):
    NONE = "none"
    PXE = "pxe"
    DISK = "disk"
    CDROM = "cdrom"
    BIOS = "bios"
    FLOPPY = "floppy"
    USB = "usb"
    DIAGS = "diags"


class RestartCause(StrEnum):
    UNKNOWN = "unknown"
    CHASSIS_CONTROL = "chassis-control"
    RESET_BUTTON = "reset-button"
    POWER_BUTTON = "power-button"
    WATCHDOG = "watchdog"
    ALWAYS_RESTORE = "always-restore"
    RESTORE_PREVIOUS = "restore-previous"
    SOFT_RESET = "soft-reset"


class PowerEvent(StrEnum):
    """Why power last changed, as IPMI's Get Chassis Status reports it."""

    NONE = "none"
    AC_FAILED = "ac-failed"
    OVERLOAD = "overload"
    INTERLOCK = "interlock"
    FAULT = "fault"
    COMMAND = "command"


@dataclass(frozen=True)
class BootOverride:
    target: BootTarget = BootTarget.NONE
    persistent: bool = False
    uefi: bool = True

    @property
    def active(self) -> bool:
        return self.target is not BootTarget.NONE


#: OS Boot sensor offsets by boot device (IPMI 2.0 table 42-3, sensor type 1Fh).
_OS_BOOT_OFFSET = {
    "disk": 0x01,
    "pxe": 0x02,
    "diags": 0x03,
    "cdrom": 0x04,
    "usb": 0x06,
    "floppy": 0x00,
}

#: The virtual media a boot target boots from, when an image is inserted there.
_MEDIA_OF = {BootTarget.CDROM: MediaKind.CD, BootTarget.USB: MediaKind.USB}

#: Event data 1 with a sensor-specific extension code in byte 2 (bits 7:6 = 11b).
_DATA2_EXTENSION: Final = 0xC0
#: System Firmware Progress 0Fh, offset 00h (POST error), data 2: unrecoverable hard-disk
#: failure, what a BIOS reports when no boot device is left.
_POST_ERROR_NO_BOOT_DISK: Final = 0x03

#: The states in which the host OS runs (and can crash).
OS_STATES: Final = (HostState.BOOTING, HostState.RUNNING, HostState.SHUTTING_DOWN)


class HostPower:
    """One node's host: its power state, PSU inputs, restore policy, boot override and OS."""

    def __init__(self, node: Node, emit: EventSink) -> None:
        self._node = node
        self._emit = emit
        self.state = HostState.OFF
        self.state_since = node.clock.now()
        self._transition: Timer | None = None
        self._deadline: Timer | None = None
        #: A graceful restart waits for the host to reach OFF, then powers it on.
        self._restart_requested = False
        self._restart: Timer | None = None
        self.in_setup = False
        self.os_responsive = True
        #: Why the OS stopped answering ("hang", "crash"), when a fault stopped it.
        self.os_stopped: str | None = None
        self.last_boot_device = ""
        #: The virtual media image the host last booted from ("" when none).
        self.last_boot_image = ""
        self.boot_override = BootOverride()

        self.power_restore_policy = node.spec.power_restore_policy
        self.last_power_event = PowerEvent.NONE
        self.restart_cause = RestartCause.UNKNOWN
        self._was_on_at_ac_loss = False
        self.psu_input = {psu.name: True for psu in node.spec.hardware.psus}

    def _now(self) -> float:
        return self._node.clock.now()

    # -- power inputs --------------------------------------------------------------------------
    def psu_delivering(self, psu: str) -> bool:
        return self.psu_input[psu] and psu not in self._node.failed_psus

    def has_input_power(self) -> bool:
        """Whether some PSU delivers power (it has input and has not failed)."""
        return any(self.psu_delivering(p) for p in self.psu_input)

    def psu_redundant(self) -> bool:
        """Whether every PSU delivers (redundancy is not lost)."""
        return all(self.psu_delivering(p) for p in self.psu_input)

    # -- transitions ---------------------------------------------------------------------------
    def _check(self, command: Command) -> HostState | None:
        outcome = TRANSITIONS[command][self.state]
        if outcome == "refused":
            raise InvalidState(f"{command.value} is not possible while the host is {self.state}")
        if outcome == "same":
            return None
        assert isinstance(outcome, HostState)
        return outcome

    def enter(self, new: HostState, cause: str) -> list[Event]:
        """Move to ``new`` now, with everything that follows (events, SEL, timers)."""
        node = self._node
        old = self.state
        now = self._now()
        if self._transition is not None:
            self._transition.cancel()
            self._transition = None
        if new is HostState.OFF and self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self.state = new
        self.state_since = now
        if new is not HostState.POST:
            self.in_setup = False
        node.thermal.host_entered(now, new)
        changed = PowerChanged(device=node.name, at=now, old=old, new=new, cause=cause)
        events: list[Event] = [changed]
        self._emit(changed)
        if old.chassis_on != new.chassis_on:
            for nic in node.spec.nics:
                if nic.name in node.failed_nics:
                    continue  # a failed port never had link
                link = LinkChanged(device=node.name, at=now, port=nic.name, up=new.chassis_on)
                events.append(link)
                self._emit(link)
        events.extend(self._on_enter(old, new, cause))
        duration = self._duration(new)
        if duration is not None:
            self._transition = node.clock.call_later(duration, self._advance)
        if new is HostState.OFF and self._restart_requested:
            self._restart_requested = False
            if cause != "ac-lost":
                # The second half of a graceful restart: power on after a moment off.
                self._restart = node.clock.call_later(
                    node.timings.power_cycle_off_s, self._restart_on
                )
        return events

    def _duration(self, state: HostState) -> float | None:
        t = self._node.timings
        if state is HostState.POWERING_ON:
            return t.power_on_s
        if state is HostState.POST:
            return None if self.boot_target() is BootTarget.BIOS else t.post_s
        if state is HostState.BOOTING:
            return t.os_boot_s
        if state is HostState.SHUTTING_DOWN:
            return t.os_shutdown_s
        return None

    def boot_target(self) -> BootTarget:
        return self.boot_override.target if self.boot_override.active else BootTarget.DISK

    def _no_boot_device(self) -> bool:
        boot_drives = self._node.spec.hardware.boot_drives
        return self.boot_target() is BootTarget.DISK and self._node.boot_drives_failed() == len(
            boot_drives
        )

    def _advance(self) -> None:
        self._transition = None
        if self.state is HostState.POST and self._no_boot_device():
            # The BIOS finds nothing to boot from and stays in POST until a reset.
            self._node.sel.log(
                SensorType.SYSTEM_FIRMWARE_PROGRESS,
                sn.POST_ERROR,
                0x00,
                "System Firmware Error: no bootable device (both boot drives failed)",
                raw_data1=_DATA2_EXTENSION,
                data2=_POST_ERROR_NO_BOOT_DISK,
            )
            return
        nxt = NEXT_STATE.get(self.state)
        if nxt is not None:
            self.enter(nxt, "timer")

    def _on_enter(self, old: HostState, new: HostState, cause: str) -> list[Event]:
        """SEL records and side effects of entering ``new``."""
        node = self._node
        sel = node.sel
        events: list[Event] = []
        if new in (HostState.OFF, HostState.POST):
            events += self.os_restarts(cause)
        if new is HostState.POST:
            events += node.bios.host_reset()  # pending BIOS settings take effect as POST starts
            if self.boot_target() is BootTarget.BIOS:
                self.in_setup = True
            offset = 0x01 if old.chassis_on else 0x00  # hard reset : power up
            sel.log(
                SensorType.SYSTEM_BOOT_INITIATED,
                sn.SYSTEM_BOOT,
                offset,
                "System Boot Initiated: " + ("hard reset" if offset else "power up"),
            )
            if not old.chassis_on:
                sel.log(SensorType.ACPI_POWER_STATE, sn.ACPI_STATE, 0x00, "ACPI S0/G0 working")
            events += node.parts.map_memory()
        elif new is HostState.BOOTING:
            target = self.boot_target()
            self.last_boot_device = target.value
            medium = _MEDIA_OF.get(target)
            slot = node.media.visible(medium) if medium is not None else None
            self.last_boot_image = slot.image if slot is not None else ""
            if self.boot_override.active and not self.boot_override.persistent:
                self.set_override(BootOverride(uefi=self.boot_override.uefi))
        elif new is HostState.RUNNING:
            device = self.last_boot_device or "disk"
            sel.log(
                SensorType.OS_BOOT,
                sn.OS_BOOT,
                _OS_BOOT_OFFSET.get(device, 0x06),
                f"OS boot completed ({device}"
                + (f", virtual media {self.last_boot_image})" if self.last_boot_image else ")"),
            )
        elif new is HostState.OFF:
            if cause in ("soft-off", "timer"):
                sel.log(SensorType.ACPI_POWER_STATE, sn.ACPI_STATE, 0x05, "ACPI S5/G2 soft-off")
            elif cause == "ac-lost":
                pass  # logged by the PSU sensors
            else:
                sel.log(SensorType.POWER_UNIT, sn.POWER_UNIT, 0x00, "Power off/down")
        return events + node.updater.host_entered(new)

    # -- power commands ------------------------------------------------------------------------
    def power_on(self, cause: RestartCause = RestartCause.CHASSIS_CONTROL) -> list[Event]:
        """Press the power button (or IPMI power up / Redfish On)."""
        new = self._check(Command.POWER_ON)
        if new is None:
            return []
        if not self.has_input_power():
            raise PowerUnavailable("no power supply has input power")
        self.restart_cause = cause
        if cause is RestartCause.CHASSIS_CONTROL:
            self.last_power_event = PowerEvent.COMMAND
        return self.enter(new, cause.value)

    def power_off(self, cause: str = "power-off") -> list[Event]:
        """Cut power at once (IPMI power down, Redfish ForceOff)."""
        new = self._check(Command.POWER_OFF)
        self._cancel_restart()
        if new is None:
            # Off already, but maybe between the two halves of a power cycle: stay off.
            if self._transition is not None:
                self._transition.cancel()
                self._transition = None
            return []
        return self.enter(new, cause)

    def soft_off(self) -> list[Event]:
        """An ACPI power-button request: a running, responsive OS shuts down."""
        new = self._check(Command.SOFT_OFF)
        if new is None or not self.os_responsive:
            return []
        return self.enter(new, "soft-off")

    def graceful_shutdown(self, timeout_s: float | None = None) -> list[Event]:
        """Ask the OS to shut down; force power off if it has not within ``timeout_s``."""
        self._cancel_restart()
        if self.state is HostState.OFF:
            return []
        events = self.soft_off()
        timeout = self._node.timings.graceful_timeout_s if timeout_s is None else timeout_s
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self._node.clock.call_later(timeout, self._force_off_after_timeout)
        return events

    def _force_off_after_timeout(self) -> None:
        self._deadline = None
        if self.state is not HostState.OFF:
            self.enter(HostState.OFF, "graceful-timeout")

    def graceful_restart(self, timeout_s: float | None = None) -> list[Event]:
        """A graceful shutdown (forced off after ``timeout_s``), then power on
        ``power_cycle_off_s`` after the host is off.

        Refused while the host is off. Another power command before the host is back on
        (off, shutdown, cycle, reset) cancels the power-on; losing input power does too.
        """
        if self.state is HostState.OFF:
            raise InvalidState("the host is off: power it on instead")
        events = self.graceful_shutdown(timeout_s)
        self._restart_requested = True
        return events

    def _restart_on(self) -> None:
        self._restart = None
        if self.state is HostState.OFF and self.has_input_power():
            self.power_on()

    def _cancel_restart(self) -> None:
        self._restart_requested = False
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None

    def power_cycle(self) -> list[Event]:
        """Power down, wait, power up (IPMI power cycle, Redfish PowerCycle)."""
        self._check(Command.POWER_CYCLE)
        self._cancel_restart()
        self._node.sel.log(SensorType.POWER_UNIT, sn.POWER_UNIT, 0x01, "Power cycle")
        events = self.enter(HostState.OFF, "power-cycle")
        self._transition = self._node.clock.call_later(
            self._node.timings.power_cycle_off_s, self._cycle_on
        )
        self.restart_cause = RestartCause.CHASSIS_CONTROL
        self.last_power_event = PowerEvent.COMMAND
        return events

    def _cycle_on(self) -> None:
        self._transition = None
        if self.state is HostState.OFF and self.has_input_power():
            self.enter(HostState.POWERING_ON, "power-cycle")

    def hard_reset(self) -> list[Event]:
        """The reset button: POST again without dropping power."""
        new = self._check(Command.HARD_RESET)
        assert new is not None
        self._cancel_restart()
        if self._deadline is not None:  # a pending graceful shutdown is superseded
            self._deadline.cancel()
            self._deadline = None
        self.restart_cause = RestartCause.CHASSIS_CONTROL
        return self.enter(new, "hard-reset")

    def diag_interrupt(self) -> list[Event]:
        """Pulse a diagnostic interrupt (NMI) to the host."""
        self._check(Command.DIAG_INTERRUPT)
        self._node.sel.log(
            SensorType.CRITICAL_INTERRUPT,
            sn.CRITICAL_INTERRUPT,
            0x00,
            "Front panel NMI / diagnostic interrupt",
        )
        return []

    # -- power input and restore policy --------------------------------------------------------
    def set_psu_input(self, psu: str, has_input: bool) -> list[Event]:
        node = self._node
        if psu not in self.psu_input:
            raise NotFound(f"no PSU {psu!r} in {node.name}")
        if self.psu_input[psu] == has_input:
            return []
        had_standby = node.bmc_powered()
        had_power = self.has_input_power()
        was_on = self.state is not HostState.OFF
        self.psu_input[psu] = has_input
        if had_power and not self.has_input_power():
            # Before the event, so that a listener (the state store) sees it: supply_changed
            # sets the same, after the SEL records, and emits nothing when the host was off.
            self._was_on_at_ac_loss = was_on
            self.last_power_event = PowerEvent.AC_FAILED
        now = self._now()
        changed = PsuInputChanged(device=node.name, at=now, psu=psu, has_input=has_input)
        events: list[Event] = [changed]
        self._emit(changed)
        index = list(self.psu_input).index(psu)
        node.sel.log(
            SensorType.POWER_SUPPLY,
            sn.PSU_STATUS_BASE + index,
            0x03,
            f"{psu} input lost" if not has_input else f"{psu} input restored",
            asserted=not has_input,
        )
        self.log_redundancy()
        events += self.supply_changed(had_standby, had_power, was_on, PowerEvent.AC_FAILED)
        return events

    def log_redundancy(self) -> None:
        redundant = self.psu_redundant()
        self._node.sel.log(
            SensorType.POWER_SUPPLY,
            sn.PSU_REDUNDANCY,
            0x00 if redundant else 0x01,
            "Fully redundant" if redundant else "Redundancy lost",
            event_type=0x0B,
        )

    def supply_changed(
        self, had_standby: bool, had_power: bool, was_on: bool, why: PowerEvent
    ) -> list[Event]:
        """What follows a PSU's input or health changing: the BMC's standby power (any PSU
        with input) and the host's power (a PSU that delivers) may have gone or come back."""
        bmc = self._node.bmc_lifecycle
        events: list[Event] = []
        standby = bmc.powered()
        if had_standby and not standby:
            events += bmc.standby_lost()
        if had_power and not self.has_input_power():
            self._was_on_at_ac_loss = was_on
            self.last_power_event = why
            if was_on:
                events += self.enter(HostState.OFF, "ac-lost")
        if not had_standby and standby:
            events += bmc.standby_restored()
        if not had_power and self.has_input_power():
            events += self._restore_after_ac()
        return events

    def _restore_after_ac(self) -> list[Event]:
        policy = self.power_restore_policy
        if policy is PowerRestorePolicy.ALWAYS_ON:
            return self.power_on(RestartCause.ALWAYS_RESTORE)
        if policy is PowerRestorePolicy.PREVIOUS and self._was_on_at_ac_loss:
            return self.power_on(RestartCause.RESTORE_PREVIOUS)
        return []

    def set_power_restore_policy(self, policy: PowerRestorePolicy | str) -> list[Event]:
        try:
            policy = PowerRestorePolicy(policy)
        except ValueError:
            raise InvalidArgument(f"unknown power restore policy {policy!r}") from None
        self.power_restore_policy = policy
        event = PowerRestorePolicyChanged(
            device=self._node.name, at=self._now(), policy=policy.value
        )
        self._emit(event)
        return [event]

    # -- boot override -------------------------------------------------------------------------
    def set_override(self, override: BootOverride) -> list[Event]:
        self.boot_override = override
        event = BootOverrideChanged(
            device=self._node.name,
            at=self._now(),
            target=override.target.value,
            persistent=override.persistent,
            uefi=override.uefi,
        )
        self._emit(event)
        return [event]

    def set_boot_override(
        self, target: BootTarget | str, *, persistent: bool = False, uefi: bool = True
    ) -> list[Event]:
        try:
            target = BootTarget(target)
        except ValueError:
            raise InvalidArgument(f"unknown boot target {target!r}") from None
        return self.set_override(BootOverride(target, persistent, uefi))

    # -- the OS --------------------------------------------------------------------------------
    def os_stops(self, why: str, message: str) -> list[Event]:
        """The OS crashes ("crash": a critical stop is logged) or hangs ("hang")."""
        if self.os_stopped is not None:
            return []
        self.os_stopped = why
        self.os_responsive = False
        if why == "crash":
            self._node.sel.log(
                SensorType.OS_STOP, sn.OS_STOP, 0x01, f"Run-time critical stop: {message}"
            )
        event = OsStateChanged(device=self._node.name, at=self._now(), responsive=False, cause=why)
        self._emit(event)
        return [event]

    def os_restarts(self, cause: str) -> list[Event]:
        """The host reset or lost power: a crashed or hung OS is gone (the next boot runs)."""
        events = self._node.fault_book.end(NodeFault.OS_HANG, "", "reset")
        if self.os_stopped is not None:
            events += self._os_answers(cause)
        return events

    def os_unhangs(self) -> list[Event]:
        """A hung OS answers again (a crashed one stays down)."""
        if self.os_stopped != "hang":
            return []
        return self._os_answers("cleared")

    def _os_answers(self, cause: str) -> list[Event]:
        self.os_stopped = None
        self.os_responsive = True
        event = OsStateChanged(device=self._node.name, at=self._now(), responsive=True, cause=cause)
        self._emit(event)
        return [event]

    # -- persistence ---------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The host's part of a node snapshot (keys of ``nodes.persist``'s format)."""
        override = self.boot_override
        return {
            "host_on": self.state is not HostState.OFF,
            "was_on_at_power_loss": self._was_on_at_ac_loss,
            "power_restore_policy": self.power_restore_policy.value,
            "last_power_event": self.last_power_event.value,
            "restart_cause": self.restart_cause.value,
            "boot_override": {
                "target": override.target.value,
                "persistent": override.persistent,
                "uefi": override.uefi,
            },
            "psu_input": dict(self.psu_input),
        }

    def restore_settings(self, data: dict[str, Any]) -> None:
        """Put back the policy, the last power event and restart cause, and the boot override
        from a snapshot (the host is off; power comes back with :meth:`restore_power`)."""
        self.power_restore_policy = PowerRestorePolicy(data["power_restore_policy"])
        self.last_power_event = PowerEvent(data["last_power_event"])
        self.restart_cause = RestartCause(data["restart_cause"])
        o = data["boot_override"]
        self.boot_override = BootOverride(
            BootTarget(o["target"]), bool(o["persistent"]), bool(o["uefi"])
        )

    def restore_power(self, data: dict[str, Any]) -> list[Event]:
        """Back as after an AC loss: every PSU without input at first, then those that had it
        in the snapshot; the updater sees the loss and the return, the policy decides."""
        node = self._node
        events: list[Event] = []
        self.psu_input = dict.fromkeys(self.psu_input, False)
        # A node without power when the snapshot was taken remembers how its host was then.
        inputs = {str(k): bool(v) for k, v in data["psu_input"].items()}
        powered = any(v and (k not in node.failed_psus) for k, v in inputs.items())
        self._was_on_at_ac_loss = (
            bool(data["host_on"]) if powered else bool(data["was_on_at_power_loss"])
        )
        events += node.updater.ac_lost()
        node.sel.log(SensorType.POWER_UNIT, sn.POWER_UNIT, 0x04, "AC lost / power input lost")
        for psu in self.psu_input:
            self.psu_input[psu] = inputs.get(psu, True)
        if any(self.psu_input.values()):
            events += node.updater.ac_restored()
        if self.has_input_power():
            events += self._restore_after_ac()
        return events

    def factory_settings(self) -> None:
        """A new node's: no boot override, the spec's restore policy."""
        self.boot_override = BootOverride()
        self.power_restore_policy = self._node.spec.power_restore_policy


__all__ = [
    "OS_STATES",
    "BootOverride",
    "BootTarget",
    "HostPower",
    "PowerEvent",
    "RestartCause",
]

"""A server node and its BMC, as one protocol-free model.

A :class:`Node` is built from a :class:`~nodes.spec.NodeSpec`, a clock and an event sink. Its
methods are the commands a BMC can be given (``power_on``, ``set_boot_override``, ``bmc_reset``,
...); each returns the events it caused at once, and later transitions (POST done, OS up, BMC
back) arrive through the sink. Nothing here knows about IPMI framing, HTTP or sockets: the
protocol adapters in ``bmc/`` translate.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from enum import StrEnum

from nodes import sensors as sn
from nodes.bios import Bios
from nodes.clock import Clock, Timer
from nodes.errors import InvalidArgument, InvalidState, NotFound, PowerUnavailable
from nodes.events import (
    BmcReady,
    BmcResetStarted,
    BootOverrideChanged,
    Event,
    EventSink,
    IdentifyChanged,
    LinkChanged,
    PowerChanged,
    PowerRestorePolicyChanged,
    PsuInputChanged,
)
from nodes.firmware import ApplyTime, FirmwareUpdater, UpdateJob
from nodes.media import MediaKind, VirtualMedia
from nodes.power import NEXT_STATE, TRANSITIONS, Command, HostState
from nodes.sel import SensorType, SystemEventLog
from nodes.sensors import Health, Lag, Reading, SensorDef
from nodes.spec import NodeSpec, PowerRestorePolicy, TimingSpec
from nodes.users import Privilege, UserTable


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


class BmcResetKind(StrEnum):
    COLD = "cold"
    WARM = "warm"


@dataclass(frozen=True)
class BootOverride:
    target: BootTarget = BootTarget.NONE
    persistent: bool = False
    uefi: bool = True

    @property
    def active(self) -> bool:
        return self.target is not BootTarget.NONE


@dataclass(frozen=True)
class FruInfo:
    chassis_type: int
    chassis_part: str
    chassis_serial: str
    board_manufacturer: str
    board_product: str
    board_serial: str
    board_part: str
    board_mfg_minutes: int  # minutes since 1996-01-01, as IPMI FRU encodes it
    product_manufacturer: str
    product_name: str
    product_part: str
    product_version: str
    product_serial: str
    asset_tag: str


@dataclass(frozen=True)
class FirmwareComponent:
    id: str
    name: str
    version: str
    updateable: bool = True


@dataclass(frozen=True)
class LanConfig:
    address: str
    netmask: str
    gateway: str
    mac: str
    vlan: int = 0


_FIRMWARE_NAMES = {
    "bios": "BIOS",
    "bmc": "BMC Firmware",
    "nic": "Network Adapter",
    "disk": "Storage Controller",
    "cpld": "System CPLD",
    "boot_drive": "Boot Storage Controller",
}

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

_TARGETS = {
    HostState.POWERING_ON: 50.0,
    HostState.POST: 45.0,
    HostState.BOOTING: 55.0,
    HostState.RUNNING: 58.0,
    HostState.SHUTTING_DOWN: 50.0,
}
_WATTS = {
    HostState.OFF: 18.0,
    HostState.POWERING_ON: 60.0,
    HostState.POST: 310.0,
    HostState.BOOTING: 280.0,
    HostState.RUNNING: 240.0,
    HostState.SHUTTING_DOWN: 200.0,
}


class Node:
    """One server: host power, boot, sensors, SEL, FRU, firmware, and its BMC."""

    def __init__(
        self,
        spec: NodeSpec,
        clock: Clock,
        emit: EventSink,
        timings: TimingSpec | None = None,
        *,
        username: str,
        password: str,
        sel_capacity: int = 512,
        ambient_c: float = 23.0,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.clock = clock
        self._emit_sink = emit
        self.timings = timings or TimingSpec()
        self.ambient_c = ambient_c

        self.state = HostState.OFF
        self.state_since = clock.now()
        self._transition: Timer | None = None
        self._deadline: Timer | None = None
        #: A graceful restart waits for the host to reach OFF, then powers it on.
        self._restart_requested = False
        self._restart: Timer | None = None
        self.in_setup = False
        self.os_responsive = True
        self.last_boot_device = ""
        #: The virtual media image the host last booted from ("" when none).
        self.last_boot_image = ""

        self.power_restore_policy = spec.power_restore_policy
        self.last_power_event = PowerEvent.NONE
        self.restart_cause = RestartCause.UNKNOWN
        self._was_on_at_ac_loss = False

        self.boot_override = BootOverride()
        self.identify_on = False
        self.identify_until: float | None = None
        self._identify_timer: Timer | None = None

        self.psu_input = {psu.name: True for psu in spec.hardware.psus}
        self.failed_fans: set[str] = set()
        #: Whether the far end of each NIC's cable transmits (its switch port is up). The
        #: rack's fabric sets it; a node on its own sees carrier on every NIC.
        self.nic_carrier = {nic.name: True for nic in spec.nics}

        self.bmc_ready_at = clock.now()
        self._bmc_timer: Timer | None = None
        self.bmc_resets = 0
        self.guid = uuid.uuid5(uuid.NAMESPACE_DNS, f"{spec.serial}.{spec.name}.scaleunit")
        self.lan = LanConfig(
            address=str(spec.bmc.address),
            netmask=str(spec.bmc.netmask),
            gateway=str(spec.bmc.gateway) if spec.bmc.gateway else "0.0.0.0",
            mac=spec.bmc.mac,
        )

        self.sel = SystemEventLog(self.name, clock, self._emit, capacity=sel_capacity)
        self.users = UserTable(self.name, clock, self._emit)
        self.users.provision(1, "", "", Privilege.NO_ACCESS, enabled=False)
        self.users.provision(2, username, password, Privilege.ADMINISTRATOR)
        for uid, extra in enumerate(spec.bmc.extra_users, start=3):
            self.users.provision(
                uid, extra.name, extra.password, Privilege.from_name(extra.privilege), extra.enabled
            )

        hw = spec.hardware
        drives = [d.slot for d in hw.data_disks] + [d.slot for d in hw.boot_drives]
        self.sensors: list[SensorDef] = sn.build_sensors(
            hw.cpu.count, [f.name for f in hw.fans], [p.name for p in hw.psus], drives
        )
        self._by_number = {s.number: s for s in self.sensors}
        now = clock.now()
        self._cpu_lag = Lag(ambient_c, now, tau=25.0)
        self._exhaust_lag = Lag(ambient_c + 1.0, now, tau=40.0)
        self._power_lag = Lag(_WATTS[HostState.OFF], now, tau=3.0)
        #: The inputs for which every reading stays OK (see sensor_health).
        self._health_ok_for: object = None

        self.firmware: dict[str, str] = spec.firmware.model_dump()
        self._updater = FirmwareUpdater(self, self._emit)
        self.media = VirtualMedia(self.name, clock, self._emit)
        self.bios = Bios(
            self.name,
            clock,
            self._emit,
            {"SystemServiceTag": spec.serial[:63], "AssetTag": spec.asset_tag[:63]},
        )
        self.fru = FruInfo(
            chassis_type=0x17,  # rack mount chassis
            chassis_part=spec.model,
            chassis_serial=spec.serial,
            board_manufacturer=spec.manufacturer,
            board_product=f"{spec.model} Mainboard",
            board_serial=f"{spec.serial}-MB",
            board_part="0MB" + spec.model.replace("-", "")[:8],
            board_mfg_minutes=15_000_000,
            product_manufacturer=spec.manufacturer,
            product_name=spec.model,
            product_part=spec.model,
            product_version="A00",
            product_serial=spec.serial,
            asset_tag=spec.asset_tag,
        )

    # -- plumbing ----------------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        self._emit_sink(event)

    def _now(self) -> float:
        return self.clock.now()

    # -- host power --------------------------------------------------------------------------
    @property
    def chassis_on(self) -> bool:
        return self.state.chassis_on

    def has_input_power(self) -> bool:
        return any(self.psu_input.values())

    # -- network links ---------------------------------------------------------------------------
    def set_nic_carrier(self, nic: str, up: bool) -> None:
        """The far end of ``nic``'s cable started (``up``) or stopped transmitting."""
        if nic not in self.nic_carrier:
            raise NotFound(f"{self.name} has no NIC {nic!r}")
        self.nic_carrier[nic] = up

    def nic_link_up(self, nic: str) -> bool:
        """Whether ``nic`` has link: the host is powered (the NIC transmits) and has carrier."""
        return self.chassis_on and self.nic_carrier.get(nic, False)

    def network_degraded(self) -> bool:
        """The host is powered and at least one of its NICs has no link (lost redundancy)."""
        return self.chassis_on and not all(self.nic_carrier.values())

    def _check(self, command: Command) -> HostState | None:
        outcome = TRANSITIONS[command][self.state]
        if outcome == "refused":
            raise InvalidState(f"{command.value} is not possible while the host is {self.state}")
        if outcome == "same":
            return None
        assert isinstance(outcome, HostState)
        return outcome

    def _enter(self, new: HostState, cause: str) -> list[Event]:
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
        self._cpu_lag.retarget(now, _TARGETS.get(new, self.ambient_c))
        exhaust = {HostState.OFF: self.ambient_c + 1.0, HostState.POWERING_ON: self.ambient_c + 2}
        self._exhaust_lag.retarget(now, exhaust.get(new, self.ambient_c + 12.0))
        self._power_lag.retarget(now, _WATTS[new])
        changed = PowerChanged(device=self.name, at=now, old=old, new=new, cause=cause)
        events: list[Event] = [changed]
        self._emit(changed)
        if old.chassis_on != new.chassis_on:
            for nic in self.spec.nics:
                link = LinkChanged(device=self.name, at=now, port=nic.name, up=new.chassis_on)
                events.append(link)
                self._emit(link)
        events.extend(self._on_enter(old, new, cause))
        duration = self._duration(new)
        if duration is not None:
            self._transition = self.clock.call_later(duration, self._advance)
        if new is HostState.OFF and self._restart_requested:
            self._restart_requested = False
            if cause != "ac-lost":
                # The second half of a graceful restart: power on after a moment off.
                self._restart = self.clock.call_later(
                    self.timings.power_cycle_off_s, self._restart_on
                )
        return events

    def _duration(self, state: HostState) -> float | None:
        t = self.timings
        if state is HostState.POWERING_ON:
            return t.power_on_s
        if state is HostState.POST:
            return None if self._boot_target() is BootTarget.BIOS else t.post_s
        if state is HostState.BOOTING:
            return t.os_boot_s
        if state is HostState.SHUTTING_DOWN:
            return t.os_shutdown_s
        return None

    def _boot_target(self) -> BootTarget:
        return self.boot_override.target if self.boot_override.active else BootTarget.DISK

    def _advance(self) -> None:
        self._transition = None
        nxt = NEXT_STATE.get(self.state)
        if nxt is not None:
            self._enter(nxt, "timer")

    def _on_enter(self, old: HostState, new: HostState, cause: str) -> list[Event]:
        """SEL records and side effects of entering ``new``."""
        sel = self.sel
        events: list[Event] = []
        if new is HostState.POST:
            events += self.bios.host_reset()  # pending BIOS settings take effect as POST starts
            if self._boot_target() is BootTarget.BIOS:
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
        elif new is HostState.BOOTING:
            target = self._boot_target()
            self.last_boot_device = target.value
            medium = _MEDIA_OF.get(target)
            slot = self.media.visible(medium) if medium is not None else None
            self.last_boot_image = slot.image if slot is not None else ""
            if self.boot_override.active and not self.boot_override.persistent:
                self._set_override(BootOverride(uefi=self.boot_override.uefi))
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
        return events + self._updater.host_entered(new)

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
        return self._enter(new, cause.value)

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
        return self._enter(new, cause)

    def soft_off(self) -> list[Event]:
        """An ACPI power-button request: a running, responsive OS shuts down."""
        new = self._check(Command.SOFT_OFF)
        if new is None or not self.os_responsive:
            return []
        return self._enter(new, "soft-off")

    def graceful_shutdown(self, timeout_s: float | None = None) -> list[Event]:
        """Ask the OS to shut down; force power off if it has not within ``timeout_s``."""
        self._cancel_restart()
        if self.state is HostState.OFF:
            return []
        events = self.soft_off()
        timeout = self.timings.graceful_timeout_s if timeout_s is None else timeout_s
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.clock.call_later(timeout, self._force_off_after_timeout)
        return events

    def _force_off_after_timeout(self) -> None:
        self._deadline = None
        if self.state is not HostState.OFF:
            self._enter(HostState.OFF, "graceful-timeout")

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
        self.sel.log(SensorType.POWER_UNIT, sn.POWER_UNIT, 0x01, "Power cycle")
        events = self._enter(HostState.OFF, "power-cycle")
        self._transition = self.clock.call_later(self.timings.power_cycle_off_s, self._cycle_on)
        self.restart_cause = RestartCause.CHASSIS_CONTROL
        self.last_power_event = PowerEvent.COMMAND
        return events

    def _cycle_on(self) -> None:
        self._transition = None
        if self.state is HostState.OFF and self.has_input_power():
            self._enter(HostState.POWERING_ON, "power-cycle")

    def hard_reset(self) -> list[Event]:
        """The reset button: POST again without dropping power."""
        new = self._check(Command.HARD_RESET)
        assert new is not None
        self._cancel_restart()
        if self._deadline is not None:  # a pending graceful shutdown is superseded
            self._deadline.cancel()
            self._deadline = None
        self.restart_cause = RestartCause.CHASSIS_CONTROL
        return self._enter(new, "hard-reset")

    def diag_interrupt(self) -> list[Event]:
        """Pulse a diagnostic interrupt (NMI) to the host."""
        self._check(Command.DIAG_INTERRUPT)
        self.sel.log(
            SensorType.CRITICAL_INTERRUPT,
            sn.CRITICAL_INTERRUPT,
            0x00,
            "Front panel NMI / diagnostic interrupt",
        )
        return []

    # -- power input and restore policy --------------------------------------------------------
    def set_psu_input(self, psu: str, has_input: bool) -> list[Event]:
        if psu not in self.psu_input:
            raise NotFound(f"no PSU {psu!r} in {self.name}")
        if self.psu_input[psu] == has_input:
            return []
        had_power = self.has_input_power()
        was_on = self.state is not HostState.OFF
        self.psu_input[psu] = has_input
        now = self._now()
        changed = PsuInputChanged(device=self.name, at=now, psu=psu, has_input=has_input)
        events: list[Event] = [changed]
        self._emit(changed)
        index = list(self.psu_input).index(psu)
        self.sel.log(
            SensorType.POWER_SUPPLY,
            sn.PSU_STATUS_BASE + index,
            0x03,
            f"{psu} input lost" if not has_input else f"{psu} input restored",
            asserted=not has_input,
        )
        redundant = all(self.psu_input.values())
        self.sel.log(
            SensorType.POWER_SUPPLY,
            sn.PSU_REDUNDANCY,
            0x00 if redundant else 0x01,
            "Fully redundant" if redundant else "Redundancy lost",
            event_type=0x0B,
        )
        if had_power and not self.has_input_power():
            self._was_on_at_ac_loss = was_on
            self.last_power_event = PowerEvent.AC_FAILED
            events += self._updater.ac_lost()
            if was_on:
                events += self._enter(HostState.OFF, "ac-lost")
        elif not had_power and self.has_input_power():
            events += self._updater.ac_restored()
            events += self._restore_after_ac()
        return events

    def _restore_after_ac(self) -> list[Event]:
        policy = self.power_restore_policy
        if policy is PowerRestorePolicy.ALWAYS_ON:
            return self.power_on(RestartCause.ALWAYS_RESTORE)
        if policy is PowerRestorePolicy.PREVIOUS and self._was_on_at_ac_loss:
            return self.power_on(RestartCause.RESTORE_PREVIOUS)
        return []

    def set_power_restore_policy(self, policy: PowerRestorePolicy) -> list[Event]:
        self.power_restore_policy = PowerRestorePolicy(policy)
        event = PowerRestorePolicyChanged(device=self.name, at=self._now(), policy=policy.value)
        self._emit(event)
        return [event]

    # -- boot override and identify ------------------------------------------------------------
    def _set_override(self, override: BootOverride) -> list[Event]:
        self.boot_override = override
        event = BootOverrideChanged(
            device=self.name,
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
        return self._set_override(BootOverride(target, persistent, uefi))

    def identify(self, seconds: float | None) -> list[Event]:
        """Light the identify LED for ``seconds`` (0 turns it off, None means until told)."""
        if seconds is not None and not 0 <= seconds <= 255:
            raise InvalidArgument("identify interval is 0 to 255 seconds")
        if self._identify_timer is not None:
            self._identify_timer.cancel()
            self._identify_timer = None
        now = self._now()
        on = seconds is None or seconds > 0
        self.identify_on = on
        self.identify_until = None if seconds is None or not on else now + seconds
        if self.identify_until is not None:
            self._identify_timer = self.clock.call_at(self.identify_until, self._identify_expired)
        event = IdentifyChanged(device=self.name, at=now, on=on, until=self.identify_until)
        self._emit(event)
        return [event]

    def _identify_expired(self) -> None:
        self._identify_timer = None
        self.identify(0)

    # -- the BMC itself -------------------------------------------------------------------------
    def bmc_answering(self) -> bool:
        """Whether the BMC's firmware is up (the fabric decides if its packets get through)."""
        return self._now() >= self.bmc_ready_at

    def bmc_reset(self, kind: BmcResetKind) -> list[Event]:
        """Restart the BMC: unreachable for a while, the host keeps running."""
        kind = BmcResetKind(kind)
        seconds = (
            self.timings.bmc_cold_reset_s
            if kind is BmcResetKind.COLD
            else self.timings.bmc_warm_reset_s
        )
        now = self._now()
        self.bmc_ready_at = now + seconds
        self.bmc_resets += 1
        if self._bmc_timer is not None:
            self._bmc_timer.cancel()
        self._bmc_timer = self.clock.call_at(self.bmc_ready_at, self._bmc_back)
        event = BmcResetStarted(device=self.name, at=now, kind=kind.value, until=self.bmc_ready_at)
        self._emit(event)
        return [event, *self._updater.bmc_reset_started()]

    def _bmc_back(self) -> None:
        self._bmc_timer = None
        self._updater.bmc_back()
        self._emit(BmcReady(device=self.name, at=self._now()))

    # -- sensors -------------------------------------------------------------------------------
    def sensor(self, number: int) -> SensorDef:
        try:
            return self._by_number[number]
        except KeyError:
            raise NotFound(f"no sensor {number:#04x} on {self.name}") from None

    def read(self, number: int) -> Reading:
        return self._read(self.sensor(number), self._now())

    def readings(self) -> list[Reading]:
        now = self._now()
        return [self._read(s, now) for s in self.sensors]

    def sensor_health(self) -> Health:
        """The worst health of the sensors' readings now (a BMC's health rollup), cheaply.

        A reading follows the host state, the ambient temperature, the failed fans, the PSU
        inputs and the lags; with those fixed, it moves only along a lag, monotonically towards
        its target. A reading's health is best in one band of values and worse on either side,
        so when every reading is OK now and would be OK at its lag's target, it is OK at every
        moment until one of those inputs changes: that verdict is kept for them. Anything else
        (a reading not OK, or heading out of the band) is read again on every call.
        """
        lags = (self._cpu_lag, self._exhaust_lag, self._power_lag)
        key = (
            self.state,
            self.ambient_c,
            frozenset(self.failed_fans),
            tuple(self.psu_input.values()),
            tuple((lag.start, lag.target, lag.t0) for lag in lags),
        )
        if key == self._health_ok_for:
            return Health.OK
        now = self._now()
        worst = max((self._read(s, now).health for s in self.sensors), default=Health.OK)
        if worst is Health.OK:
            settled = max((self._read(s, math.inf).health for s in self.sensors), default=worst)
            if settled is Health.OK:
                self._health_ok_for = key
        return worst

    def _read(self, s: SensorDef, now: float) -> Reading:
        on = self.chassis_on
        if not on and not s.standby:
            return Reading(s, None)
        if s.number == sn.INLET_TEMP:
            return Reading(s, round(self.ambient_c + (1.0 if on else 0.0), 1))
        if s.number == sn.EXHAUST_TEMP:
            return Reading(s, round(self._exhaust_lag.value(now), 1))
        if s.sensor_type is SensorType.TEMPERATURE and s.part.startswith("CPU"):
            bias = 0.0 if s.part == "CPU1" else -2.0
            return Reading(s, round(self._cpu_lag.value(now) + bias, 1))
        if s.sensor_type is SensorType.FAN:
            if s.part in self.failed_fans:
                return Reading(s, 0.0)
            spec = next(f for f in self.spec.hardware.fans if f.name == s.part)
            share = 1.0 if self.state in (HostState.POWERING_ON, HostState.POST) else 0.6
            return Reading(s, float(round(spec.nominal_rpm * share, -1)))
        if s.number == sn.POWER_CONSUMPTION:
            return Reading(s, round(self._power_lag.value(now)))
        if s.sensor_type is SensorType.OTHER_UNITS and s.part in self.psu_input:
            feeding = [p for p, ok in self.psu_input.items() if ok]
            if s.part not in feeding:
                return Reading(s, 0.0)
            return Reading(s, round(self._power_lag.value(now) / len(feeding)))
        if s.sensor_type is SensorType.POWER_SUPPLY and s.part in self.psu_input:
            state = 0x01  # presence detected
            if not self.psu_input[s.part]:
                state |= 0x08  # input lost
            return Reading(s, None, state)
        if s.number == sn.PSU_REDUNDANCY:
            return Reading(s, None, 0x01 if all(self.psu_input.values()) else 0x02)
        if s.sensor_type is SensorType.VOLTAGE:
            if s.number == sn.VBAT:
                return Reading(s, 3.02)
            assert s.nominal is not None
            return Reading(s, round(s.nominal * 1.004, 2))
        if s.sensor_type is SensorType.DRIVE_SLOT:
            return Reading(s, None, 0x01)  # drive presence
        if s.sensor_type is SensorType.ACPI_POWER_STATE:
            return Reading(s, None, 0x01 if on else 0x20)  # S0/G0 : S5/G2
        return Reading(s, None, 0)

    # -- firmware updates ----------------------------------------------------------------------
    def start_firmware_update(
        self,
        image: bytes,
        *,
        targets: list[str] | None = None,
        apply_time: ApplyTime | str = ApplyTime.IMMEDIATE,
    ) -> UpdateJob:
        """Check ``image`` and start flashing it (see ``nodes.firmware`` for the rules).

        Raises before changing anything; the job then moves on the clock, and its progress
        arrives through the sink as ``FirmwareUpdateProgressed`` and ``FirmwareChanged``.
        """
        return self._updater.start(image, targets=targets, apply_time=apply_time)

    def cancel_firmware_update(self, job_id: str) -> UpdateJob:
        """Cancel a job that is new, transferring, verifying or awaiting activation."""
        return self._updater.cancel(job_id)

    def update_job(self, job_id: str) -> UpdateJob:
        return self._updater.job(job_id)

    @property
    def update_jobs(self) -> list[UpdateJob]:
        """Every update job still remembered, oldest first (finished ones are bounded)."""
        return self._updater.jobs()

    # -- inventory -----------------------------------------------------------------------------
    def firmware_inventory(self) -> list[FirmwareComponent]:
        return [
            FirmwareComponent(cid, _FIRMWARE_NAMES.get(cid, cid), version)
            for cid, version in self.firmware.items()
        ]

    def bmc_version(self) -> tuple[int, int]:
        """The BMC firmware's major and minor revision, for IPMI's Get Device ID."""
        parts = [int(p) for p in self.firmware["bmc"].replace("-", ".").split(".") if p.isdigit()]
        major = parts[0] if parts else 0
        minor = parts[1] if len(parts) > 1 else 0
        return major, minor

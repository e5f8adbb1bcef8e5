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
from typing import Any

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
    MemoryMappedOut,
    OsStateChanged,
    PartFaultChanged,
    PartReplaced,
    PowerChanged,
    PowerRestorePolicyChanged,
    PsuInputChanged,
)
from nodes.faults import FAULT_OF, PART_OF, SUMMARY, NodeFault, PartKind
from nodes.firmware import ApplyTime, FirmwareUpdater, UpdateJob
from nodes.media import MediaKind, VirtualMedia
from nodes.power import NEXT_STATE, TRANSITIONS, Command, HostState
from nodes.sel import EventType, SensorType, SystemEventLog
from nodes.sensors import Health, Lag, Reading, SensorDef, raw_byte
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

#: With a fan failed and the host powered, the CPU and exhaust temperatures climb this much
#: above their usual targets, slowly (time constants in seconds): over the upper non-critical
#: and then the upper critical threshold within minutes, short of non-recoverable.
_FAN_FAULT_CPU_RISE = 40.0
_FAN_FAULT_EXHAUST_RISE = 42.0
_CPU_TAU = 25.0
_EXHAUST_TAU = 40.0
_CPU_TAU_FAN_FAULT = 150.0
_EXHAUST_TAU_FAN_FAULT = 180.0

#: Threshold event offsets (IPMI 2.0 table 42-2): (threshold field, offset, upper).
_THRESHOLD_OFFSETS = (
    ("lower_non_critical", 0x00, False),
    ("lower_critical", 0x02, False),
    ("lower_non_recoverable", 0x04, False),
    ("upper_non_critical", 0x07, True),
    ("upper_critical", 0x09, True),
    ("upper_non_recoverable", 0x0B, True),
)
_THRESHOLD_NAMES = {
    "lower_non_critical": "Lower Non-critical going low",
    "lower_critical": "Lower Critical going low",
    "lower_non_recoverable": "Lower Non-recoverable going low",
    "upper_non_critical": "Upper Non-critical going high",
    "upper_critical": "Upper Critical going high",
    "upper_non_recoverable": "Upper Non-recoverable going high",
}
#: Event data 1 of a threshold event: trigger reading in byte 2, trigger threshold in byte 3.
_THRESHOLD_DATA1 = 0x50
#: Event data 1 with a sensor-specific extension code in byte 2 (bits 7:6 = 11b).
_DATA2_EXTENSION = 0xC0
#: Event data 1 with a sensor-specific extension code in byte 3 (bits 5:4 = 11b).
_DATA3_EXTENSION = 0x30
#: System Firmware Progress 0Fh, offset 00h (POST error), data 2: unrecoverable hard-disk
#: failure, what a BIOS reports when no boot device is left.
_POST_ERROR_NO_BOOT_DISK = 0x03

#: The states in which the host OS runs (and can crash).
_OS_STATES = (HostState.BOOTING, HostState.RUNNING, HostState.SHUTTING_DOWN)


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
        #: Active faults, in the order they were injected (see nodes.faults).
        self._faults: dict[tuple[NodeFault, str], float] = {}
        self.failed_psus: set[str] = set()
        self.failed_dimms: set[str] = set()
        self.failed_drives: set[str] = set()
        self.failed_nics: set[str] = set()
        #: DIMMs the last POST left out of the memory map.
        self.mapped_out_dimms: tuple[str, ...] = ()
        #: Why the OS stopped answering ("hang", "crash"), when a fault stopped it.
        self._os_stopped: str | None = None
        self.bmc_hung = False
        #: The serial number of each replaceable part, by (kind, name).
        self.part_serials: dict[tuple[PartKind, str], str] = {}
        self._replacements = 0
        #: Threshold events asserted now, per sensor number (threshold field names).
        self._asserted: dict[int, set[str]] = {}
        self._thermal_timer: Timer | None = None

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

        self._init_part_serials()

    def _init_part_serials(self) -> None:
        spec, hw = self.spec, self.spec.hardware
        serial = spec.serial
        serials: dict[tuple[PartKind, str], str] = {}
        for psu in hw.psus:
            serials[(PartKind.PSU, psu.name)] = psu.serial or f"{serial}-{psu.name}"
        for fan in hw.fans:
            serials[(PartKind.FAN, fan.name)] = f"{serial}-{fan.name}"
        for dimm in hw.dimms:
            serials[(PartKind.DIMM, dimm.slot)] = dimm.serial or f"{serial}-{dimm.slot}"
        for disk in hw.data_disks:
            serials[(PartKind.DATA_DISK, disk.slot)] = disk.serial or f"{serial}-{disk.slot}"
        for disk in hw.boot_drives:
            serials[(PartKind.BOOT_DRIVE, disk.slot)] = disk.serial or f"{serial}-{disk.slot}"
        for nic in spec.nics:
            serials[(PartKind.NIC, nic.name)] = f"{serial}-{nic.name}"
        self.part_serials = serials

    def part_serial(self, kind: PartKind | str, name: str) -> str:
        """The serial number of a part (it changes when the part is replaced)."""
        try:
            return self.part_serials[(PartKind(kind), name)]
        except (KeyError, ValueError):
            raise NotFound(f"{self.name} has no {kind} {name!r}") from None

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
        """Whether some PSU delivers power (it has input and has not failed)."""
        return any(self.psu_delivering(p) for p in self.psu_input)

    def bmc_powered(self) -> bool:
        """Whether the BMC has standby power: some PSU has input (a failed supply's standby
        rail still feeds it, so both PSUs failed leave the BMC up and the host off)."""
        return any(self.psu_input.values())

    def psu_delivering(self, psu: str) -> bool:
        return self.psu_input[psu] and psu not in self.failed_psus

    def psu_redundant(self) -> bool:
        """Whether every PSU delivers (redundancy is not lost)."""
        return all(self.psu_delivering(p) for p in self.psu_input)

    # -- network links ---------------------------------------------------------------------------
    def set_nic_carrier(self, nic: str, up: bool) -> None:
        """The far end of ``nic``'s cable started (``up``) or stopped transmitting."""
        if nic not in self.nic_carrier:
            raise NotFound(f"{self.name} has no NIC {nic!r}")
        self.nic_carrier[nic] = up

    def nic_driving(self, nic: str) -> bool:
        """Whether ``nic`` transmits into its cable (the far end can see a link): the host is
        powered and the port has not failed, whatever its carrier. ``LinkChanged`` from the node
        follows this; the switch port at the far end takes it as its peer's state."""
        return self.chassis_on and nic in self.nic_carrier and nic not in self.failed_nics

    def nic_link_up(self, nic: str) -> bool:
        """Whether ``nic`` has link: the host is powered (the NIC transmits), the port has not
        failed and it has carrier."""
        return self.chassis_on and self.nic_carrier.get(nic, False) and nic not in self.failed_nics

    def network_degraded(self) -> bool:
        """The host is powered and at least one of its NICs has no link (lost redundancy)."""
        return self.chassis_on and not all(self.nic_link_up(nic) for nic in self.nic_carrier)

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
        self._retarget_thermal(now)
        self._power_lag.retarget(now, _WATTS[new])
        changed = PowerChanged(device=self.name, at=now, old=old, new=new, cause=cause)
        events: list[Event] = [changed]
        self._emit(changed)
        if old.chassis_on != new.chassis_on:
            for nic in self.spec.nics:
                if nic.name in self.failed_nics:
                    continue  # a failed port never had link
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
        if self.state is HostState.POST and self._no_boot_device():
            # The BIOS finds nothing to boot from and stays in POST until a reset.
            self.sel.log(
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
            self._enter(nxt, "timer")

    def _on_enter(self, old: HostState, new: HostState, cause: str) -> list[Event]:
        """SEL records and side effects of entering ``new``."""
        sel = self.sel
        events: list[Event] = []
        if new in (HostState.OFF, HostState.POST):
            events += self._os_restarts(cause)
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
            events += self._map_memory()
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
        had_standby = any(self.psu_input.values())
        had_power = self.has_input_power()
        was_on = self.state is not HostState.OFF
        self.psu_input[psu] = has_input
        if had_power and not self.has_input_power():
            # Before the event, so that a listener (the state store) sees it: _supply_changed
            # sets the same, after the SEL records, and emits nothing when the host was off.
            self._was_on_at_ac_loss = was_on
            self.last_power_event = PowerEvent.AC_FAILED
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
        self._log_redundancy()
        events += self._supply_changed(had_standby, had_power, was_on, PowerEvent.AC_FAILED)
        return events

    def _log_redundancy(self) -> None:
        redundant = self.psu_redundant()
        self.sel.log(
            SensorType.POWER_SUPPLY,
            sn.PSU_REDUNDANCY,
            0x00 if redundant else 0x01,
            "Fully redundant" if redundant else "Redundancy lost",
            event_type=0x0B,
        )

    def _supply_changed(
        self, had_standby: bool, had_power: bool, was_on: bool, why: PowerEvent
    ) -> list[Event]:
        """What follows a PSU's input or health changing.

        The BMC runs on standby power, which any PSU with input gives (a failed supply's
        standby rail still feeds it); the host needs a PSU that delivers (input, not failed).
        """
        events: list[Event] = []
        standby = self.bmc_powered()
        if had_standby and not standby:
            events += self._updater.ac_lost()
        if had_power and not self.has_input_power():
            self._was_on_at_ac_loss = was_on
            self.last_power_event = why
            if was_on:
                events += self._enter(HostState.OFF, "ac-lost")
        if not had_standby and standby:
            events += self._updater.ac_restored()
            if self.bmc_hung:  # the BMC lost power: it boots afresh
                events += self._end_fault(NodeFault.BMC_HANG, "", "ac-cycle")
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
        """Whether the BMC's firmware is up and not hung (the fabric decides if its packets
        get through)."""
        return not self.bmc_hung and self._now() >= self.bmc_ready_at

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
        events: list[Event] = [event]
        if self.bmc_hung:  # a restart gets a hung BMC going again
            events += self._end_fault(NodeFault.BMC_HANG, "", "bmc-reset")
        return [*events, *self._updater.bmc_reset_started()]

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
            frozenset(self.failed_psus),
            tuple((lag.start, lag.target, lag.t0, lag.tau) for lag in lags),
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
            feeding = [p for p in self.psu_input if self.psu_delivering(p)]
            if s.part not in feeding:
                return Reading(s, 0.0)
            return Reading(s, round(self._power_lag.value(now) / len(feeding)))
        if s.sensor_type is SensorType.POWER_SUPPLY and s.part in self.psu_input:
            state = 0x01  # presence detected
            if s.part in self.failed_psus:
                state |= 0x02  # power supply failure detected
            if not self.psu_input[s.part]:
                state |= 0x08  # input lost
            return Reading(s, None, state)
        if s.number == sn.PSU_REDUNDANCY:
            return Reading(s, None, 0x01 if self.psu_redundant() else 0x02)
        if s.sensor_type is SensorType.VOLTAGE:
            if s.number == sn.VBAT:
                return Reading(s, 3.02)
            assert s.nominal is not None
            return Reading(s, round(s.nominal * 1.004, 2))
        if s.sensor_type is SensorType.DRIVE_SLOT:
            # Drive presence, and drive fault while it has failed.
            return Reading(s, None, 0x03 if s.part in self.failed_drives else 0x01)
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

    # -- faults --------------------------------------------------------------------------------
    @property
    def active_faults(self) -> list[tuple[NodeFault, str]]:
        """The faults active now, in the order they were injected."""
        return list(self._faults)

    def fault_active(self, fault: NodeFault | str, target: str = "") -> bool:
        return (NodeFault(fault), target) in self._faults

    def _parts(self, kind: PartKind) -> list[str]:
        return [name for (k, name) in self.part_serials if k is kind]

    def _fault_key(self, fault: NodeFault | str, target: str) -> tuple[NodeFault, str]:
        """Check a fault and its target (nothing changes): NotFound for an unknown fault or
        part, InvalidArgument for a target where none belongs or none where one does."""
        try:
            kind = NodeFault(fault)
        except ValueError:
            raise NotFound(
                f"no fault {fault!r}: one of {', '.join(f.value for f in NodeFault)}"
            ) from None
        if not isinstance(target, str):
            raise InvalidArgument(f"a fault's target is a part name, not {target!r}")
        part = PART_OF[kind]
        if part is None:
            if target:
                raise InvalidArgument(f"{kind.value} takes no target (got {target!r})")
            return kind, ""
        if not target:
            raise InvalidArgument(f"{kind.value} needs a target: one of {self._parts(part)}")
        if (part, target) not in self.part_serials:
            raise NotFound(
                f"{self.name} has no {part.value} {target!r}: one of {self._parts(part)}"
            )
        return kind, target

    def inject_fault(self, fault: NodeFault | str, target: str = "") -> list[Event]:
        """Make a part (or the OS, or the BMC) fail now; see ``nodes.faults`` for the effects.

        NotFound for an unknown fault or part, InvalidArgument for a bad target, InvalidState
        if that fault is already active; nothing changes when it raises.
        """
        key = self._fault_key(fault, target)
        kind, target = key
        if key in self._faults:
            raise InvalidState(f"{kind.value} {target} is already failed on {self.name}".strip())
        if kind is NodeFault.OS_HANG and self.state not in _OS_STATES:
            raise InvalidState(f"the OS of {self.name} is not running (the host is {self.state})")
        if kind is NodeFault.OS_HANG and self._os_stopped is not None:
            raise InvalidState(f"the OS of {self.name} has already stopped ({self._os_stopped})")
        now = self._now()
        self._faults[key] = now
        # The effects first, so whoever hears the event finds the node failed already.
        events: list[Event] = _INJECT[kind](self, target)
        label = f"{target} {SUMMARY[kind]}".strip()
        changed = PartFaultChanged(
            device=self.name, at=now, part_kind=kind.value, part=target, faulted=True, summary=label
        )
        self._emit(changed)
        return [*events, changed]

    def clear_fault(self, fault: NodeFault | str, target: str = "") -> list[Event]:
        """End a fault (the part works again); InvalidState if it is not active."""
        kind, target = self._fault_key(fault, target)
        if (kind, target) not in self._faults:
            raise InvalidState(f"{kind.value} {target} is not failed on {self.name}".strip())
        return self._end_fault(kind, target, "cleared")

    def _end_fault(self, kind: NodeFault, target: str, cause: str) -> list[Event]:
        if self._faults.pop((kind, target), None) is None:
            return []
        events: list[Event] = _CLEAR[kind](self, target)
        now = self._now()
        label = f"{target} {SUMMARY[kind]}".strip()
        changed = PartFaultChanged(
            device=self.name,
            at=now,
            part_kind=kind.value,
            part=target,
            faulted=False,
            summary=label,
            cause=cause,
        )
        self._emit(changed)
        return [*events, changed]

    def _index(self, kind: PartKind, name: str) -> int:
        return self._parts(kind).index(name)

    # psu
    def _fail_psu(self, psu: str) -> list[Event]:
        had_standby = any(self.psu_input.values())
        had_power = self.has_input_power()
        was_on = self.state is not HostState.OFF
        was_redundant = self.psu_redundant()
        self.failed_psus.add(psu)
        self.sel.log(
            SensorType.POWER_SUPPLY,
            sn.PSU_STATUS_BASE + self._index(PartKind.PSU, psu),
            0x01,
            f"{psu} Power Supply Failure detected",
        )
        if was_redundant:
            self._log_redundancy()
        return self._supply_changed(had_standby, had_power, was_on, PowerEvent.FAULT)

    def _mend_psu(self, psu: str) -> list[Event]:
        had_standby = any(self.psu_input.values())
        had_power = self.has_input_power()
        was_on = self.state is not HostState.OFF
        self.failed_psus.discard(psu)
        self.sel.log(
            SensorType.POWER_SUPPLY,
            sn.PSU_STATUS_BASE + self._index(PartKind.PSU, psu),
            0x01,
            f"{psu} Power Supply Failure cleared",
            asserted=False,
        )
        if self.psu_redundant():
            self._log_redundancy()
        return self._supply_changed(had_standby, had_power, was_on, PowerEvent.FAULT)

    # fan
    def _fan_threshold_event(self, fan: str, asserted: bool) -> None:
        number = sn.FAN_BASE + self._index(PartKind.FAN, fan)
        sensor = self.sensor(number)
        limit = sensor.thresholds.lower_critical or 0.0
        self.sel.log(
            SensorType.FAN,
            number,
            0x02,
            f"{fan} Lower Critical going low: reading 0 RPM"
            if asserted
            else f"{fan} Lower Critical going low deasserted",
            asserted=asserted,
            event_type=EventType.THRESHOLD,
            raw_data1=_THRESHOLD_DATA1,
            data2=raw_byte(sensor, 0.0 if asserted else limit + 1),
            data3=raw_byte(sensor, limit),
        )

    def _fail_fan(self, fan: str) -> list[Event]:
        self.failed_fans.add(fan)
        self._fan_threshold_event(fan, True)
        self._retarget_thermal(self._now())
        return []

    def _mend_fan(self, fan: str) -> list[Event]:
        self.failed_fans.discard(fan)
        self._fan_threshold_event(fan, False)
        self._retarget_thermal(self._now())
        return []

    # temperatures: lags retargeted on every change, threshold events when they cross
    def _retarget_thermal(self, now: float) -> None:
        state = self.state
        hot = bool(self.failed_fans) and state.chassis_on
        cpu = _TARGETS.get(state, self.ambient_c)
        exhaust_of = {
            HostState.OFF: self.ambient_c + 1.0,
            HostState.POWERING_ON: self.ambient_c + 2,
        }
        exhaust = exhaust_of.get(state, self.ambient_c + 12.0)
        if hot:
            cpu += _FAN_FAULT_CPU_RISE
            exhaust += _FAN_FAULT_EXHAUST_RISE
        self._cpu_lag.retarget(now, cpu)
        self._exhaust_lag.retarget(now, exhaust)
        self._cpu_lag.tau = _CPU_TAU_FAN_FAULT if hot else _CPU_TAU
        self._exhaust_lag.tau = _EXHAUST_TAU_FAN_FAULT if hot else _EXHAUST_TAU
        self._check_thresholds()

    def _thermal_sensors(self) -> list[tuple[SensorDef, Lag, float]]:
        out = []
        for s in self.sensors:
            if s.number == sn.EXHAUST_TEMP:
                out.append((s, self._exhaust_lag, 0.0))
            elif s.sensor_type is SensorType.TEMPERATURE and s.part.startswith("CPU"):
                out.append((s, self._cpu_lag, 0.0 if s.part == "CPU1" else -2.0))
        return out

    def _check_thresholds(self) -> None:
        """Log the threshold crossings of the lag-driven temperatures up to now, then set a
        timer for the next one (a lag moves monotonically between retargets, so the moment
        it crosses a limit is exact)."""
        if self._thermal_timer is not None:
            self._thermal_timer.cancel()
            self._thermal_timer = None
        now = self._now()
        soonest: float | None = None
        for sensor, lag, bias in self._thermal_sensors():
            value = lag.value(now) + bias
            asserted = self._asserted.setdefault(sensor.number, set())
            for field_name, offset, upper in _THRESHOLD_OFFSETS:
                limit: float | None = getattr(sensor.thresholds, field_name)
                if limit is None:
                    continue
                beyond = value >= limit if upper else value <= limit
                if beyond != (field_name in asserted):
                    (asserted.add if beyond else asserted.discard)(field_name)
                    self.sel.log(
                        SensorType.TEMPERATURE,
                        sensor.number,
                        offset,
                        f"{sensor.name} {_THRESHOLD_NAMES[field_name]}: "
                        f"reading {value:.1f} C, threshold {limit:g} C"
                        + ("" if beyond else " (deasserted)"),
                        asserted=beyond,
                        event_type=EventType.THRESHOLD,
                        raw_data1=_THRESHOLD_DATA1,
                        data2=raw_byte(sensor, value),
                        data3=raw_byte(sensor, limit),
                    )
                when = _crossing(lag, limit - bias, now)
                if when is not None and (soonest is None or when < soonest):
                    soonest = when
        if soonest is not None:
            self._thermal_timer = self.clock.call_at(soonest, self._thermal_tick)

    def _thermal_tick(self) -> None:
        self._thermal_timer = None
        self._check_thresholds()

    # dimm
    def _fail_dimm(self, slot: str) -> list[Event]:
        self.failed_dimms.add(slot)
        index = self._index(PartKind.DIMM, slot)
        self.sel.log(
            SensorType.MEMORY,
            sn.MEMORY_ECC,
            0x01,
            f"Uncorrectable ECC error, DIMM {slot}",
            raw_data1=_DATA3_EXTENSION,
            data3=index,
        )
        if self.state in _OS_STATES:
            return self._os_stops("crash", f"uncorrectable memory error in DIMM {slot}")
        return []

    def _mend_dimm(self, slot: str) -> list[Event]:
        self.failed_dimms.discard(slot)
        # The error condition deasserts (the BMC's trap that clears it); a DIMM left out of the
        # map stays out until the next POST, which logs its Memory Device Disabled deasserted.
        self.sel.log(
            SensorType.MEMORY,
            sn.MEMORY_ECC,
            0x01,
            f"Uncorrectable ECC error cleared, DIMM {slot}",
            asserted=False,
            raw_data1=_DATA3_EXTENSION,
            data3=self._index(PartKind.DIMM, slot),
        )
        return []

    def _map_memory(self) -> list[Event]:
        """POST: failed DIMMs are left out of the memory map, good ones are used."""
        mapped_out = tuple(d for d in self._parts(PartKind.DIMM) if d in self.failed_dimms)
        if mapped_out == self.mapped_out_dimms:
            return []
        for slot in mapped_out:
            if slot not in self.mapped_out_dimms:
                self.sel.log(
                    SensorType.MEMORY,
                    sn.MEMORY_ECC,
                    0x04,
                    f"Memory Device Disabled, DIMM {slot}",
                    raw_data1=_DATA3_EXTENSION,
                    data3=self._index(PartKind.DIMM, slot),
                )
        for slot in self.mapped_out_dimms:
            if slot not in mapped_out and slot in self._parts(PartKind.DIMM):
                self.sel.log(
                    SensorType.MEMORY,
                    sn.MEMORY_ECC,
                    0x04,
                    f"Memory Device Enabled, DIMM {slot}",
                    asserted=False,
                    raw_data1=_DATA3_EXTENSION,
                    data3=self._index(PartKind.DIMM, slot),
                )
        self.mapped_out_dimms = mapped_out
        event = MemoryMappedOut(device=self.name, at=self._now(), slots=mapped_out)
        self._emit(event)
        return [event]

    def memory_gib(self) -> float:
        """The memory the host has, without the DIMMs the last POST left out."""
        return float(
            sum(d.size_gb for d in self.spec.hardware.dimms if d.slot not in self.mapped_out_dimms)
        )

    # drives
    def _drive_event(self, slot: str, asserted: bool) -> None:
        hw = self.spec.hardware
        drives = [d.slot for d in hw.data_disks] + [d.slot for d in hw.boot_drives]
        self.sel.log(
            SensorType.DRIVE_SLOT,
            sn.DRIVE_BASE + drives.index(slot),
            0x01,
            f"{slot} Drive Fault" + ("" if asserted else " cleared"),
            asserted=asserted,
        )

    def _fail_data_disk(self, slot: str) -> list[Event]:
        self.failed_drives.add(slot)
        self._drive_event(slot, True)
        return []

    def _mend_drive(self, slot: str) -> list[Event]:
        self.failed_drives.discard(slot)
        self._drive_event(slot, False)
        return []

    def boot_drives_failed(self) -> int:
        return sum(1 for d in self.spec.hardware.boot_drives if d.slot in self.failed_drives)

    def _fail_boot_drive(self, slot: str) -> list[Event]:
        self.failed_drives.add(slot)
        self._drive_event(slot, True)
        if self.boot_drives_failed() == len(self.spec.hardware.boot_drives) and (
            self.state in _OS_STATES and self.last_boot_device in ("disk", "")
        ):
            return self._os_stops("crash", "the OS lost its boot volume")
        return []

    def _no_boot_device(self) -> bool:
        return self._boot_target() is BootTarget.DISK and self.boot_drives_failed() == len(
            self.spec.hardware.boot_drives
        )

    # nic
    def _fail_nic(self, nic: str) -> list[Event]:
        # It stops transmitting, with or without carrier: a switch port that comes up later
        # must not see a link from a failed NIC.
        driving = self.nic_driving(nic)
        self.failed_nics.add(nic)
        if not driving:
            return []
        link = LinkChanged(device=self.name, at=self._now(), port=nic, up=False)
        self._emit(link)
        return [link]

    def _mend_nic(self, nic: str) -> list[Event]:
        self.failed_nics.discard(nic)
        if not self.chassis_on:
            return []
        link = LinkChanged(device=self.name, at=self._now(), port=nic, up=True)
        self._emit(link)
        return [link]

    # the OS
    def _os_stops(self, why: str, message: str) -> list[Event]:
        """The OS crashes ("crash": a critical stop is logged) or hangs ("hang")."""
        if self._os_stopped is not None:
            return []
        self._os_stopped = why
        self.os_responsive = False
        if why == "crash":
            self.sel.log(SensorType.OS_STOP, sn.OS_STOP, 0x01, f"Run-time critical stop: {message}")
        event = OsStateChanged(device=self.name, at=self._now(), responsive=False, cause=why)
        self._emit(event)
        return [event]

    def _os_restarts(self, cause: str) -> list[Event]:
        """The host reset or lost power: a crashed or hung OS is gone (the next boot runs)."""
        events: list[Event] = []
        if (NodeFault.OS_HANG, "") in self._faults:
            events += self._end_fault(NodeFault.OS_HANG, "", "reset")
        if self._os_stopped is not None:
            self._os_stopped = None
            self.os_responsive = True
            event = OsStateChanged(device=self.name, at=self._now(), responsive=True, cause=cause)
            self._emit(event)
            events.append(event)
        return events

    def _hang_os(self, _: str) -> list[Event]:
        return self._os_stops("hang", "the OS stopped answering")

    def _unhang_os(self, _: str) -> list[Event]:
        if self._os_stopped != "hang":
            return []
        self._os_stopped = None
        self.os_responsive = True
        event = OsStateChanged(device=self.name, at=self._now(), responsive=True, cause="cleared")
        self._emit(event)
        return [event]

    # the BMC
    def _hang_bmc(self, _: str) -> list[Event]:
        self.bmc_hung = True
        return []

    def _unhang_bmc(self, _: str) -> list[Event]:
        self.bmc_hung = False
        return []

    # -- health of parts -------------------------------------------------------------------------
    def part_health(self, kind: PartKind | str, name: str) -> Health:
        """A part's own health: Critical while it has failed (or, for a PSU, has no input:
        Warning), else OK."""
        kind = PartKind(kind)
        self.part_serial(kind, name)
        if kind is PartKind.PSU:
            if name in self.failed_psus:
                return Health.CRITICAL
            return Health.OK if self.psu_input[name] else Health.WARNING
        failed = {
            PartKind.FAN: self.failed_fans,
            PartKind.DIMM: self.failed_dimms,
            PartKind.DATA_DISK: self.failed_drives,
            PartKind.BOOT_DRIVE: self.failed_drives,
            PartKind.NIC: self.failed_nics,
        }[kind]
        if name in failed or (kind is PartKind.DIMM and name in self.mapped_out_dimms):
            return Health.CRITICAL
        return Health.OK

    def hardware_health(self) -> Health:
        """The rollup a BMC reports for the system: the worst sensor, and the parts.

        Lost PSU redundancy, a failed fan or data disk, one boot drive of the mirror, a NIC
        without link: Warning. No PSU delivering, a failed or mapped-out DIMM, both boot
        drives: Critical.
        """
        worst = self.sensor_health()
        hw = self.spec.hardware
        if not self.has_input_power() or self.failed_dimms or self.mapped_out_dimms:
            return max(worst, Health.CRITICAL)
        if self.boot_drives_failed() == len(hw.boot_drives):
            return max(worst, Health.CRITICAL)
        if (
            not self.psu_redundant()
            or not all(self.psu_input.values())
            or self.failed_fans
            or self.failed_drives
            or self.network_degraded()
            or (self.failed_nics and self.chassis_on)
        ):
            return max(worst, Health.WARNING)
        return worst

    # -- replacements ----------------------------------------------------------------------------
    def replace_part(self, kind: PartKind | str, target: str) -> list[Event]:
        """A new part in the slot: a new serial number, and its fault (if any) cleared."""
        try:
            part = PartKind(kind)
        except ValueError:
            raise NotFound(
                f"no part kind {kind!r}: one of {', '.join(k.value for k in PartKind)}"
            ) from None
        if (part, target) not in self.part_serials:
            raise NotFound(
                f"{self.name} has no {part.value} {target!r}: one of {self._parts(part)}"
            )
        self._replacements += 1
        serial = f"{self.spec.serial}-{target}-R{self._replacements}"
        self.part_serials[(part, target)] = serial
        event = PartReplaced(
            device=self.name, at=self._now(), part_kind=part.value, part=target, serial=serial
        )
        self._emit(event)
        events: list[Event] = [event]
        fault = FAULT_OF[part]
        if (fault, target) in self._faults:
            events += self._end_fault(fault, target, "replaced")
        return events

    def _silence_faults(self) -> None:
        """Forget every fault and its effects, with no records (a new node, or a restore)."""
        self._faults.clear()
        self.failed_psus.clear()
        self.failed_fans.clear()
        self.failed_dimms.clear()
        self.failed_drives.clear()
        self.failed_nics.clear()
        self.mapped_out_dimms = ()
        self._os_stopped = None
        self.os_responsive = True
        self.bmc_hung = False

    # -- persistence (see nodes.persist) ---------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything the node holds, JSON-safe (see ``nodes.persist``)."""
        from nodes import persist

        return persist.snapshot(self)

    def restore(self, data: dict[str, Any]) -> list[Event]:
        """Put a snapshot back on a freshly built node, then act as after an AC loss."""
        from nodes import persist

        return persist.restore(self, data)

    def replace(
        self, serial: str, *, username: str, password: str, firmware: dict[str, str]
    ) -> list[Event]:
        """A whole replacement node arrives in the slot (see ``nodes.persist``)."""
        from nodes import persist

        return persist.replace(
            self, serial, username=username, password=password, firmware=firmware
        )


def _crossing(lag: Lag, limit: float, now: float) -> float | None:
    """When ``lag`` next crosses ``limit`` after ``now`` (None: it never does)."""
    start = lag.value(now)
    target = lag.target
    if (start - limit) * (target - limit) >= 0 or start == target:
        return None  # on the same side as its target (or on the limit): no crossing ahead
    return now + lag.tau * math.log((start - target) / (limit - target)) + 1e-6


_Effect = Any  # Callable[[Node, str], list[Event]]

_INJECT: dict[NodeFault, _Effect] = {
    NodeFault.PSU: Node._fail_psu,
    NodeFault.FAN: Node._fail_fan,
    NodeFault.DIMM: Node._fail_dimm,
    NodeFault.DATA_DISK: Node._fail_data_disk,
    NodeFault.BOOT_DRIVE: Node._fail_boot_drive,
    NodeFault.NIC_PORT: Node._fail_nic,
    NodeFault.OS_HANG: Node._hang_os,
    NodeFault.BMC_HANG: Node._hang_bmc,
}
_CLEAR: dict[NodeFault, _Effect] = {
    NodeFault.PSU: Node._mend_psu,
    NodeFault.FAN: Node._mend_fan,
    NodeFault.DIMM: Node._mend_dimm,
    NodeFault.DATA_DISK: Node._mend_drive,
    NodeFault.BOOT_DRIVE: Node._mend_drive,
    NodeFault.NIC_PORT: Node._mend_nic,
    NodeFault.OS_HANG: Node._unhang_os,
    NodeFault.BMC_HANG: Node._unhang_bmc,
}

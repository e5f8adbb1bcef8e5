"""A server node and its BMC, as one protocol-free model.

A :class:`Node` is built from a :class:`~nodes.spec.NodeSpec`, a clock and an event sink. Its
methods are the commands a BMC can be given (``power_on``, ``set_boot_override``, ``bmc_reset``,
...); each returns the events it caused at once, and later transitions (POST done, OS up, BMC
back) arrive through the sink. Nothing here knows about IPMI framing, HTTP or sockets: the
protocol adapters in ``bmc/`` translate.

``Node`` is the one face of the model; its concepts live in helpers it owns, each with its
rules stated at its top:

======================  =======================================================================
``node.host``           :mod:`nodes.host`: host power, PSU inputs, restore policy, boot, the OS
``node.bmc_lifecycle``  :mod:`nodes.bmc_lifecycle`: the BMC's standby power, resets and hang
``node.thermal``        :mod:`nodes.thermal`: temperatures, power draw, threshold events
``node.parts``          :mod:`nodes.parts`: serials, failed parts, memory map, links, health
``node.fault_book``     :mod:`nodes.part_faults`: active faults; each kind's fail and mend
``node.updater``        :mod:`nodes.firmware`: firmware update jobs
(persistence)           :mod:`nodes.persist`: snapshot, restore, a whole replacement node
======================  =======================================================================

Here stay identity (FRU, GUID, LAN), sensors and their readings, the identify LED, firmware
inventory, and the commands, delegated to the helper that keeps their rules.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from dataclasses import replace as dc_replace
from typing import Any

from nodes import sensors as sn
from nodes.bios import Bios
from nodes.bmc_lifecycle import BmcLifecycle, BmcResetKind
from nodes.clock import Clock, Timer
from nodes.errors import InvalidArgument, NotFound
from nodes.events import Event, EventSink, IdentifyChanged
from nodes.faults import NodeFault, PartKind
from nodes.firmware import ApplyTime, FirmwareUpdater, UpdateJob
from nodes.host import BootOverride, BootTarget, HostPower, PowerEvent, RestartCause
from nodes.media import VirtualMedia
from nodes.part_faults import FaultBook
from nodes.parts import Parts
from nodes.power import HostState
from nodes.sel import SensorType, SystemEventLog
from nodes.sensors import Health, Reading, SensorDef
from nodes.spec import NodeSpec, PowerRestorePolicy, TimingSpec
from nodes.thermal import Thermal, cpu_bias
from nodes.users import Privilege, UserTable


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

        self.identify_on = False
        self.identify_until: float | None = None
        self._identify_timer: Timer | None = None

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
        #: The inputs for which every reading stays OK (see sensor_health).
        self._health_ok_for: object = None

        self.host = HostPower(self, self._emit)
        self.bmc_lifecycle = BmcLifecycle(self, self._emit)
        self.parts = Parts(self, self._emit)
        self.fault_book = FaultBook(self, self._emit)
        self.thermal = Thermal(self)

        self.firmware: dict[str, str] = spec.firmware.model_dump()
        self.updater = FirmwareUpdater(self, self._emit)
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

    # -- identity --------------------------------------------------------------------------------
    def set_identity(self, serial: str, guid: uuid.UUID) -> None:
        """A new serial number and GUID (a restore, or a replacement node); the FRU follows."""
        self.spec = self.spec.model_copy(update={"serial": serial})
        self.guid = guid
        self.fru = dc_replace(
            self.fru,
            chassis_serial=serial,
            board_serial=f"{serial}-MB",
            product_serial=serial,
        )

    # -- host power (nodes.host) -----------------------------------------------------------------
    @property
    def state(self) -> HostState:
        return self.host.state

    @property
    def state_since(self) -> float:
        return self.host.state_since

    @property
    def chassis_on(self) -> bool:
        return self.host.state.chassis_on

    @property
    def in_setup(self) -> bool:
        return self.host.in_setup

    @property
    def os_responsive(self) -> bool:
        return self.host.os_responsive

    @os_responsive.setter
    def os_responsive(self, value: bool) -> None:
        self.host.os_responsive = value

    @property
    def last_boot_device(self) -> str:
        return self.host.last_boot_device

    @property
    def last_boot_image(self) -> str:
        """The virtual media image the host last booted from ("" when none)."""
        return self.host.last_boot_image

    @property
    def boot_override(self) -> BootOverride:
        return self.host.boot_override

    @property
    def power_restore_policy(self) -> PowerRestorePolicy:
        return self.host.power_restore_policy

    @property
    def last_power_event(self) -> PowerEvent:
        return self.host.last_power_event

    @property
    def restart_cause(self) -> RestartCause:
        return self.host.restart_cause

    @property
    def psu_input(self) -> dict[str, bool]:
        return self.host.psu_input

    def has_input_power(self) -> bool:
        """Whether some PSU delivers power (it has input and has not failed)."""
        return self.host.has_input_power()

    def psu_delivering(self, psu: str) -> bool:
        return self.host.psu_delivering(psu)

    def psu_redundant(self) -> bool:
        """Whether every PSU delivers (redundancy is not lost)."""
        return self.host.psu_redundant()

    def power_on(self, cause: RestartCause = RestartCause.CHASSIS_CONTROL) -> list[Event]:
        """Press the power button (or IPMI power up / Redfish On)."""
        return self.host.power_on(cause)

    def power_off(self, cause: str = "power-off") -> list[Event]:
        """Cut power at once (IPMI power down, Redfish ForceOff)."""
        return self.host.power_off(cause)

    def soft_off(self) -> list[Event]:
        """An ACPI power-button request: a running, responsive OS shuts down."""
        return self.host.soft_off()

    def graceful_shutdown(self, timeout_s: float | None = None) -> list[Event]:
        """Ask the OS to shut down; force power off if it has not within ``timeout_s``."""
        return self.host.graceful_shutdown(timeout_s)

    def graceful_restart(self, timeout_s: float | None = None) -> list[Event]:
        """A graceful shutdown, then power on (see ``HostPower.graceful_restart``)."""
        return self.host.graceful_restart(timeout_s)

    def power_cycle(self) -> list[Event]:
        """Power down, wait, power up (IPMI power cycle, Redfish PowerCycle)."""
        return self.host.power_cycle()

    def hard_reset(self) -> list[Event]:
        """The reset button: POST again without dropping power."""
        return self.host.hard_reset()

    def diag_interrupt(self) -> list[Event]:
        """Pulse a diagnostic interrupt (NMI) to the host."""
        return self.host.diag_interrupt()

    def set_psu_input(self, psu: str, has_input: bool) -> list[Event]:
        return self.host.set_psu_input(psu, has_input)

    def set_power_restore_policy(self, policy: PowerRestorePolicy | str) -> list[Event]:
        return self.host.set_power_restore_policy(policy)

    def set_boot_override(
        self, target: BootTarget | str, *, persistent: bool = False, uefi: bool = True
    ) -> list[Event]:
        return self.host.set_boot_override(target, persistent=persistent, uefi=uefi)

    # -- identify LED ----------------------------------------------------------------------------
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

    # -- the BMC itself (nodes.bmc_lifecycle) ----------------------------------------------------
    def bmc_powered(self) -> bool:
        """Whether the BMC has standby power: some PSU has input (a failed supply's standby
        rail still feeds it, so both PSUs failed leave the BMC up and the host off)."""
        return self.bmc_lifecycle.powered()

    def bmc_answering(self) -> bool:
        """Whether the BMC's firmware is up and not hung (the fabric decides if its packets
        get through)."""
        return self.bmc_lifecycle.answering()

    def bmc_reset(self, kind: BmcResetKind) -> list[Event]:
        """Restart the BMC: unreachable for a while, the host keeps running."""
        return self.bmc_lifecycle.reset(kind)

    @property
    def bmc_hung(self) -> bool:
        return self.bmc_lifecycle.hung

    @property
    def bmc_ready_at(self) -> float:
        return self.bmc_lifecycle.ready_at

    @property
    def bmc_resets(self) -> int:
        return self.bmc_lifecycle.resets

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
        key = (
            self.state,
            self.ambient_c,
            frozenset(self.failed_fans),
            tuple(self.psu_input.values()),
            frozenset(self.failed_psus),
            tuple((lag.start, lag.target, lag.t0, lag.tau) for lag in self.thermal.lags()),
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
        thermal = self.thermal
        if not on and not s.standby:
            return Reading(s, None)
        if s.number == sn.INLET_TEMP:
            return Reading(s, round(self.ambient_c + (1.0 if on else 0.0), 1))
        if s.number == sn.EXHAUST_TEMP:
            return Reading(s, round(thermal.exhaust_lag.value(now), 1))
        if s.sensor_type is SensorType.TEMPERATURE and s.part.startswith("CPU"):
            return Reading(s, round(thermal.cpu_lag.value(now) + cpu_bias(s.part), 1))
        if s.sensor_type is SensorType.FAN:
            if s.part in self.failed_fans:
                return Reading(s, 0.0)
            spec = next(f for f in self.spec.hardware.fans if f.name == s.part)
            share = 1.0 if self.state in (HostState.POWERING_ON, HostState.POST) else 0.6
            return Reading(s, float(round(spec.nominal_rpm * share, -1)))
        if s.number == sn.POWER_CONSUMPTION:
            return Reading(s, round(thermal.power_lag.value(now)))
        if s.sensor_type is SensorType.OTHER_UNITS and s.part in self.psu_input:
            feeding = [p for p in self.psu_input if self.psu_delivering(p)]
            if s.part not in feeding:
                return Reading(s, 0.0)
            return Reading(s, round(thermal.power_lag.value(now) / len(feeding)))
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

    # -- firmware updates (nodes.firmware) -------------------------------------------------------
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
        return self.updater.start(image, targets=targets, apply_time=apply_time)

    def cancel_firmware_update(self, job_id: str) -> UpdateJob:
        """Cancel a job that is new, transferring, verifying or awaiting activation."""
        return self.updater.cancel(job_id)

    def update_job(self, job_id: str) -> UpdateJob:
        return self.updater.job(job_id)

    @property
    def update_jobs(self) -> list[UpdateJob]:
        """Every update job still remembered, oldest first (finished ones are bounded)."""
        return self.updater.jobs()

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

    # -- parts (nodes.parts) ---------------------------------------------------------------------
    @property
    def part_serials(self) -> dict[tuple[PartKind, str], str]:
        """The serial number of each replaceable part, by (kind, name)."""
        return self.parts.serials

    def part_serial(self, kind: PartKind | str, name: str) -> str:
        """The serial number of a part (it changes when the part is replaced)."""
        return self.parts.serial(kind, name)

    @property
    def failed_psus(self) -> set[str]:
        return self.parts.failed_psus

    @property
    def failed_fans(self) -> set[str]:
        return self.parts.failed_fans

    @property
    def failed_dimms(self) -> set[str]:
        return self.parts.failed_dimms

    @property
    def failed_drives(self) -> set[str]:
        return self.parts.failed_drives

    @property
    def failed_nics(self) -> set[str]:
        return self.parts.failed_nics

    @property
    def mapped_out_dimms(self) -> tuple[str, ...]:
        """DIMMs the last POST left out of the memory map."""
        return self.parts.mapped_out_dimms

    def memory_gib(self) -> float:
        """The memory the host has, without the DIMMs the last POST left out."""
        return self.parts.memory_gib()

    def boot_drives_failed(self) -> int:
        return self.parts.boot_drives_failed()

    @property
    def nic_carrier(self) -> dict[str, bool]:
        """Whether the far end of each NIC's cable transmits (the rack's fabric sets it)."""
        return self.parts.nic_carrier

    def set_nic_carrier(self, nic: str, up: bool) -> None:
        """The far end of ``nic``'s cable started (``up``) or stopped transmitting."""
        self.parts.set_nic_carrier(nic, up)

    def nic_driving(self, nic: str) -> bool:
        """Whether ``nic`` transmits into its cable (the far end can see a link): the host is
        powered and the port has not failed, whatever its carrier. ``LinkChanged`` from the node
        follows this; the switch port at the far end takes it as its peer's state."""
        return self.parts.nic_driving(nic)

    def nic_link_up(self, nic: str) -> bool:
        """Whether ``nic`` has link: the host is powered (the NIC transmits), the port has not
        failed and it has carrier."""
        return self.parts.nic_link_up(nic)

    def network_degraded(self) -> bool:
        """The host is powered and at least one of its NICs has no link (lost redundancy)."""
        return self.parts.network_degraded()

    def part_health(self, kind: PartKind | str, name: str) -> Health:
        """A part's own health: Critical while it has failed (or, for a PSU, has no input:
        Warning), else OK."""
        return self.parts.health(kind, name)

    def hardware_health(self) -> Health:
        """The rollup a BMC reports for the system: the worst sensor, and the parts.

        Lost PSU redundancy, a failed fan or data disk, one boot drive of the mirror, a NIC
        without link: Warning. No PSU delivering, a failed or mapped-out DIMM, both boot
        drives: Critical.
        """
        return self.parts.hardware_health()

    def replace_part(self, kind: PartKind | str, target: str) -> list[Event]:
        """A new part in the slot: a new serial number, and its fault (if any) cleared."""
        return self.parts.replace(kind, target)

    # -- faults (nodes.part_faults) --------------------------------------------------------------
    @property
    def active_faults(self) -> list[tuple[NodeFault, str]]:
        """The faults active now, in the order they were injected."""
        return self.fault_book.active

    def fault_active(self, fault: NodeFault | str, target: str = "") -> bool:
        return self.fault_book.is_active(fault, target)

    def inject_fault(self, fault: NodeFault | str, target: str = "") -> list[Event]:
        """Make a part (or the OS, or the BMC) fail now; see ``nodes.faults`` for the effects.

        NotFound for an unknown fault or part, InvalidArgument for a bad target, InvalidState
        if that fault is already active; nothing changes when it raises.
        """
        return self.fault_book.inject(fault, target)

    def clear_fault(self, fault: NodeFault | str, target: str = "") -> list[Event]:
        """End a fault (the part works again); InvalidState if it is not active."""
        return self.fault_book.clear(fault, target)

    # -- persistence (nodes.persist) -------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything the node holds, JSON-safe (see ``nodes.persist``)."""
        from nodes import persist

        return persist.snapshot(self)

    def restore(self, data: dict[str, Any]) -> list[Event]:
        """Put a snapshot back on a freshly built node, then act as after an AC loss."""
        from nodes import persist

        return persist.restore(self, data, self._emit)

    def replace(
        self,
        serial: str,
        *,
        username: str,
        password: str,
        firmware: dict[str, str],
        cpu_model: str | None = None,
    ) -> list[Event]:
        """A whole replacement node arrives in the slot (see ``nodes.persist``); ``cpu_model``:
        its processors are another model than the topology's."""
        from nodes import persist

        return persist.replace(
            self,
            serial,
            self._emit,
            username=username,
            password=password,
            firmware=firmware,
            cpu_model=cpu_model,
        )


__all__ = [
    "BmcResetKind",
    "BootOverride",
    "BootTarget",
    "FirmwareComponent",
    "FruInfo",
    "LanConfig",
    "Node",
    "PowerEvent",
    "RestartCause",
]

"""Model values <-> Redfish values: the tables the routers share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from bmc.redfish.errors import error
from bmc.redfish.schemas.systems import BootPatch
from nodes.faults import PartKind
from nodes.node import BootOverride, BootTarget, Node
from nodes.power import HostState
from nodes.sel import SelRecord, SensorType
from nodes.sel_meaning import Level, meaning
from nodes.sensors import Health, SensorDef, Unit
from nodes.spec import DiskSpec

MANAGER_ID = "bmc"

PowerState = Literal["On", "Off", "PoweringOn", "PoweringOff"]
_POWER_STATE: dict[HostState, PowerState] = {
    HostState.OFF: "Off",
    HostState.POWERING_ON: "PoweringOn",
    HostState.POST: "On",
    HostState.BOOTING: "On",
    HostState.RUNNING: "On",
    HostState.SHUTTING_DOWN: "PoweringOff",
}
_HOST_STATE: dict[HostState, Literal["Enabled", "StandbyOffline", "Starting"]] = {
    HostState.OFF: "StandbyOffline",
    HostState.POWERING_ON: "Starting",
    HostState.POST: "Starting",
    HostState.BOOTING: "Starting",
    HostState.RUNNING: "Enabled",
    HostState.SHUTTING_DOWN: "Enabled",
}

BOOT_TARGET_OUT: dict[
    BootTarget, Literal["None", "Pxe", "Floppy", "Cd", "Usb", "Hdd", "BiosSetup"]
] = {
    BootTarget.NONE: "None",
    BootTarget.PXE: "Pxe",
    BootTarget.DISK: "Hdd",
    BootTarget.CDROM: "Cd",
    BootTarget.BIOS: "BiosSetup",
    BootTarget.FLOPPY: "Floppy",
    BootTarget.USB: "Usb",
}
BOOT_TARGET_IN = {v: k for k, v in BOOT_TARGET_OUT.items()}

HEALTH_OF: dict[Health, Literal["OK", "Warning", "Critical"]] = {
    Health.OK: "OK",
    Health.WARNING: "Warning",
    Health.CRITICAL: "Critical",
    Health.NON_RECOVERABLE: "Critical",
}


def power_state(state: HostState) -> PowerState:
    return _POWER_STATE[state]


def host_state(state: HostState) -> Literal["Enabled", "StandbyOffline", "Starting"]:
    return _HOST_STATE[state]


def health(node: Node) -> Literal["OK", "Warning", "Critical"]:
    """The system's and chassis's rollup: sensors and parts (see Node.hardware_health)."""
    return HEALTH_OF[node.hardware_health()]


def part_health(node: Node, kind: PartKind, name: str) -> Literal["OK", "Warning", "Critical"]:
    return HEALTH_OF[node.part_health(kind, name)]


def storage_health(node: Node, storage_id: str) -> Literal["OK", "Warning", "Critical"]:
    """A controller's rollup: a failed data disk degrades the HBA's set; one boot drive lost
    degrades the BOSS mirror, both lose it."""
    disks = storages(node)[storage_id]
    failed = sum(1 for d in disks if d.slot in node.failed_drives)
    if not failed:
        return "OK"
    if storage_id == "BOSS" and failed == len(disks):
        return "Critical"
    return "Warning"


def boot_override(current: BootOverride, patch: BootPatch) -> BootOverride:
    """The override a Boot PATCH asks for, from the present one (validated, not applied)."""
    target = current.target
    persistent = current.persistent
    active = current.active
    if patch.boot_source_override_target is not None:
        target = BOOT_TARGET_IN[patch.boot_source_override_target]
        active = target is not BootTarget.NONE
    enabled = patch.boot_source_override_enabled
    if enabled is not None:
        if enabled == "Disabled":
            active = False
        else:
            persistent = enabled == "Continuous"
            if target is BootTarget.NONE:
                raise error(
                    400,
                    "PropertyValueConflict",
                    "BootSourceOverrideEnabled",
                    "BootSourceOverrideTarget",
                    related=["Boot/BootSourceOverrideEnabled"],
                )
            active = True
    elif patch.boot_source_override_target is not None and not current.active:
        persistent = False  # a new override with no Enabled given: once
    uefi = current.uefi
    if patch.boot_source_override_mode is not None:
        uefi = patch.boot_source_override_mode == "UEFI"
    if not active:
        return BootOverride(BootTarget.NONE, False, uefi)
    return BootOverride(target, persistent, uefi)


STORAGE_NAMES = {"HBA": "Storage Controller (data disks)", "BOSS": "Boot Optimized Storage"}


def storages(node: Node) -> dict[str, list[DiskSpec]]:
    hw = node.spec.hardware
    return {"HBA": list(hw.data_disks), "BOSS": list(hw.boot_drives)}


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


# -- sensors ---------------------------------------------------------------------------------------
_UNITS = {
    Unit.DEGREES_C: ("Temperature", "Cel"),
    Unit.VOLTS: ("Voltage", "V"),
    Unit.WATTS: ("Power", "W"),
    Unit.RPM: ("Rotational", "RPM"),
    Unit.AMPS: ("Current", "A"),
}


def sensor_id(s: SensorDef) -> str:
    return "".join(c for c in s.name.title() if c.isalnum()) if s.name else f"S{s.number}"


def redfish_sensors(node: Node) -> dict[str, SensorDef]:
    """The analog sensors Redfish shows, by Redfish Id."""
    return {
        sensor_id(s): s for s in node.sensors if s.analog and not s.event_only and s.unit in _UNITS
    }


def sensor_kind(s: SensorDef) -> tuple[str, str]:
    return _UNITS[s.unit]


def physical_context(s: SensorDef) -> str:
    if s.name == "Inlet Temp":
        return "Intake"
    if s.name == "Exhaust Temp":
        return "Exhaust"
    if s.part.startswith("CPU"):
        return "CPU"
    if s.sensor_type is SensorType.FAN:
        return "Fan"
    if s.part.startswith("PSU"):
        return "PowerSupply"
    if s.sensor_type is SensorType.VOLTAGE:
        return "VoltageRegulator"
    return "SystemBoard"


# -- SEL -------------------------------------------------------------------------------------------
_SEL_SENSOR_TYPES = {
    SensorType.TEMPERATURE: "Temperature",
    SensorType.VOLTAGE: "Voltage",
    SensorType.CURRENT: "Current",
    SensorType.FAN: "Fan",
    SensorType.PHYSICAL_SECURITY: "Physical Chassis Security",
    SensorType.PROCESSOR: "Processor",
    SensorType.POWER_SUPPLY: "Power Supply / Converter",
    SensorType.POWER_UNIT: "PowerUnit",
    SensorType.OTHER_UNITS: "Other Units-based Sensor",
    SensorType.MEMORY: "Memory",
    SensorType.DRIVE_SLOT: "Drive Slot/Bay",
    SensorType.SYSTEM_FIRMWARE_PROGRESS: "System Firmware Progress",
    SensorType.EVENT_LOGGING_DISABLED: "Event Logging Disabled",
    SensorType.SYSTEM_EVENT: "System Event",
    SensorType.CRITICAL_INTERRUPT: "Critical Interrupt",
    SensorType.MANAGEMENT_SUBSYSTEM_HEALTH: "Management Subsystem Health",
    SensorType.SYSTEM_BOOT_INITIATED: "SystemBoot/Restart",
    SensorType.OS_BOOT: "BaseOSBoot/InstallationStatus",
    SensorType.OS_STOP: "OS Stop/Shutdown",
    SensorType.ACPI_POWER_STATE: "System ACPI PowerState",
    SensorType.WATCHDOG_2: "Watchdog",
    SensorType.LAN: "LAN",
    SensorType.BATTERY: "Battery",
}
_SEVERITY: dict[Level, Literal["OK", "Warning", "Critical"]] = {
    Level.INFO: "OK",
    Level.WARNING: "Warning",
    Level.CRITICAL: "Critical",
}


def sel_sensor_type(record: SelRecord) -> str | None:
    try:
        return _SEL_SENSOR_TYPES.get(SensorType(record.sensor_type), "OEM")
    except ValueError:
        return "OEM" if record.sensor_type >= 0xC0 else None


def sel_severity(record: SelRecord) -> Literal["OK", "Warning", "Critical"]:
    """A LogEntry's Severity: the level :mod:`nodes.sel_meaning` reads from the record."""
    meant = meaning(record)
    return "OK" if meant is None else _SEVERITY[meant.level]


#: The service's own registry of SEL messages (``data/registries/ScaleunitSel.1.0.0.json``).
SEL_REGISTRY = "ScaleunitSel"


def sel_message(record: SelRecord) -> tuple[str, tuple[str, ...]]:
    """The ``ScaleunitSel`` message of a SEL record: its key and arguments.

    A standard record the model logged with text says that text (asserted or deasserted); one
    without (an IPMI Add SEL Entry, say) is named by its sensor and offset; an OEM record by
    its type and data.
    """
    if record.record_type >= 0xC0:
        return "OemRecord", (f"0x{record.record_type:02X}", record.oem.hex().upper() or "none")
    if record.message:
        key = "SensorEventAsserted" if record.asserted else "SensorEventDeasserted"
        return key, (record.message,)
    direction = "Assert" if record.asserted else "Deassert"
    sensor, kind = f"0x{record.sensor_number:02X}", f"0x{record.sensor_type:02X}"
    return "SensorEventUndecoded", (sensor, kind, str(record.offset), direction)

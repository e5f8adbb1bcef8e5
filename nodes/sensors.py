"""Sensors whose readings follow the node's state.

A sensor is declared once (:class:`SensorDef`: number, name, type, unit, thresholds); its reading
is computed on demand from the node's state and the time since that state began, so readings
move smoothly (a CPU warms up over tens of seconds after power-on) without any periodic task.
Sensors on main power read "unavailable" while the host is off, as on real BMCs; the inlet
temperature, the PSUs and the RTC battery are on standby power and always read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

from nodes.sel import EventType, SensorType


class Unit(IntEnum):
    """IPMI sensor unit type codes (IPMI 2.0 table 43-15)."""

    UNSPECIFIED = 0
    DEGREES_C = 1
    VOLTS = 4
    AMPS = 5
    WATTS = 6
    RPM = 18


class Health(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    NON_RECOVERABLE = 3


@dataclass(frozen=True)
class Thresholds:
    lower_non_recoverable: float | None = None
    lower_critical: float | None = None
    lower_non_critical: float | None = None
    upper_non_critical: float | None = None
    upper_critical: float | None = None
    upper_non_recoverable: float | None = None

    def health(self, value: float) -> Health:
        def over(limit: float | None) -> bool:
            return limit is not None and value >= limit

        def under(limit: float | None) -> bool:
            return limit is not None and value <= limit

        if over(self.upper_non_recoverable) or under(self.lower_non_recoverable):
            return Health.NON_RECOVERABLE
        if over(self.upper_critical) or under(self.lower_critical):
            return Health.CRITICAL
        if over(self.upper_non_critical) or under(self.lower_non_critical):
            return Health.WARNING
        return Health.OK


@dataclass(frozen=True)
class SensorDef:
    """A sensor as the SDR describes it.

    ``event_type`` is THRESHOLD for analog sensors; discrete sensors give their reading as
    ``state`` bits. ``range_max`` bounds the analog value so adapters can pick a linear encoding.
    ``standby`` sensors read while the host is off.
    """

    number: int
    name: str
    sensor_type: SensorType
    unit: Unit = Unit.UNSPECIFIED
    event_type: EventType = EventType.THRESHOLD
    thresholds: Thresholds = Thresholds()
    range_min: float = 0.0
    range_max: float = 255.0
    nominal: float | None = None
    standby: bool = False
    entity_id: int = 0x07  # system board
    entity_instance: int = 1
    event_only: bool = False
    #: Which hardware part it watches, e.g. "Fan3" or "PSU1" (empty: the whole node).
    part: str = ""

    @property
    def analog(self) -> bool:
        return self.event_type == EventType.THRESHOLD


@dataclass(frozen=True)
class Reading:
    """A sensor's reading now. ``value`` is None when unavailable (host off, part absent)."""

    sensor: SensorDef
    value: float | None
    state: int = 0

    @property
    def available(self) -> bool:
        return self.value is not None or not self.sensor.analog

    @property
    def health(self) -> Health:
        if self.value is None or not self.sensor.analog:
            return Health.OK
        return self.sensor.thresholds.health(self.value)


@dataclass(frozen=True, slots=True)
class Linear:
    """(The SDR's encoding lives here because SEL threshold records carry raw bytes too.)"""

    """A linear conversion ``value = M * raw * 10^R`` (B = 0), unsigned or two's complement."""

    m: int
    r_exp: int
    signed: bool

    @property
    def step(self) -> float:
        return float(self.m * 10.0**self.r_exp)

    def raw(self, value: float) -> int:
        """The byte that encodes ``value``, clamped to the representable range."""
        x = round(value / self.step)
        if self.signed:
            return max(-128, min(127, x)) & 0xFF
        return max(0, min(255, x))

    def value(self, raw: int) -> float:
        if self.signed and raw & 0x80:
            raw -= 256
        return raw * self.step


def choose_linear(range_min: float, range_max: float) -> Linear:
    """The coarsest "nice" step (1, 2 or 5 x 10^R) that still covers the sensor's range."""
    signed = range_min < 0
    needed = max(-range_min / 128.0, range_max / 127.0) if signed else range_max / 255.0
    needed = max(needed, 1e-6)
    exp = math.floor(math.log10(needed))
    for r_exp in (exp, exp + 1):
        for m in (1, 2, 5):
            if m * 10.0**r_exp >= needed * (1 - 1e-9):
                return Linear(m, max(-8, min(7, r_exp)), signed)
    raise AssertionError("unreachable")  # pragma: no cover


def raw_byte(sensor: SensorDef, value: float) -> int:
    """The one-byte reading that encodes ``value`` for an analog sensor (its SDR's linear
    conversion), as threshold events carry it in event data 2 and 3."""
    return choose_linear(sensor.range_min, sensor.range_max).raw(value)


class Lag:
    """A first-order lag: the value approaches ``target`` with time constant ``tau`` seconds."""

    __slots__ = ("start", "t0", "target", "tau")

    def __init__(self, value: float, at: float, tau: float) -> None:
        self.start = value
        self.target = value
        self.t0 = at
        self.tau = tau

    def value(self, now: float) -> float:
        dt = max(0.0, now - self.t0)
        return self.target + (self.start - self.target) * math.exp(-dt / self.tau)

    def retarget(self, now: float, target: float) -> None:
        self.start = self.value(now)
        self.t0 = now
        self.target = target


# Sensor numbers: one block per kind, so that SEL records and SDRs agree.
INLET_TEMP = 0x01
EXHAUST_TEMP = 0x02
CPU_TEMP_BASE = 0x03  # CPU1 = 0x03, CPU2 = 0x04, ...
FAN_BASE = 0x10
PSU_POWER_BASE = 0x20
POWER_CONSUMPTION = 0x24
PSU_STATUS_BASE = 0x28
PSU_REDUNDANCY = 0x2C
VOLT_12 = 0x30
VOLT_5 = 0x31
VOLT_3_3 = 0x32
VBAT = 0x33
ACPI_STATE = 0x40
SYSTEM_BOOT = 0x41
OS_BOOT = 0x42
POWER_UNIT = 0x43
EVENT_LOG = 0x44
CRITICAL_INTERRUPT = 0x45
MEMORY_ECC = 0x46
DRIVE_BASE = 0x50
BMC_HEALTH = 0x47
FIRMWARE_VERSION = 0x48
OS_STOP = 0x49
POST_ERROR = 0x4A


def build_sensors(
    cpus: int, fans: list[str], psus: list[str], drives: list[str]
) -> list[SensorDef]:
    """The sensor catalogue of a node with this hardware."""
    temp = Unit.DEGREES_C
    sensors = [
        SensorDef(
            INLET_TEMP,
            "Inlet Temp",
            SensorType.TEMPERATURE,
            temp,
            thresholds=Thresholds(None, -7, 3, 42, 47, None),
            range_min=-40,
            range_max=125,
            nominal=23,
            standby=True,
            entity_id=0x37,
        ),
        SensorDef(
            EXHAUST_TEMP,
            "Exhaust Temp",
            SensorType.TEMPERATURE,
            temp,
            thresholds=Thresholds(None, 3, 8, 70, 75, None),
            range_min=-40,
            range_max=125,
            nominal=35,
        ),
    ]
    for i in range(cpus):
        sensors.append(
            SensorDef(
                CPU_TEMP_BASE + i,
                f"CPU{i + 1} Temp",
                SensorType.TEMPERATURE,
                temp,
                thresholds=Thresholds(None, 3, 8, 90, 95, 100),
                range_min=-40,
                range_max=125,
                nominal=55,
                entity_id=0x03,
                entity_instance=i + 1,
                part=f"CPU{i + 1}",
            )
        )
    for i, fan in enumerate(fans):
        sensors.append(
            SensorDef(
                FAN_BASE + i,
                fan,
                SensorType.FAN,
                Unit.RPM,
                thresholds=Thresholds(None, 480, 840, None, None, None),
                range_min=0,
                range_max=25_500,
                nominal=4800,
                entity_id=0x1D,
                entity_instance=i + 1,
                part=fan,
            )
        )
    for i, psu in enumerate(psus):
        sensors.append(
            SensorDef(
                PSU_POWER_BASE + i,
                f"{psu} Input",
                SensorType.OTHER_UNITS,
                Unit.WATTS,
                thresholds=Thresholds(None, None, None, 800, 900, None),
                range_min=0,
                range_max=2040,
                standby=True,
                entity_id=0x0A,
                entity_instance=i + 1,
                part=psu,
            )
        )
    sensors.append(
        SensorDef(
            POWER_CONSUMPTION,
            "Pwr Consumption",
            SensorType.CURRENT,
            Unit.WATTS,
            thresholds=Thresholds(None, None, None, 1200, 1400, None),
            range_min=0,
            range_max=2040,
            standby=True,
            entity_id=0x15,
        )
    )
    for i, psu in enumerate(psus):
        sensors.append(
            SensorDef(
                PSU_STATUS_BASE + i,
                f"{psu} Status",
                SensorType.POWER_SUPPLY,
                event_type=EventType.SENSOR_SPECIFIC,
                standby=True,
                entity_id=0x0A,
                entity_instance=i + 1,
                part=psu,
            )
        )
    sensors.append(
        SensorDef(
            PSU_REDUNDANCY,
            "PS Redundancy",
            SensorType.POWER_SUPPLY,
            event_type=EventType.REDUNDANCY,
            standby=True,
            entity_id=0x13,
        )
    )
    for number, name, nominal, low, high in (
        (VOLT_12, "12V", 12.0, 10.8, 13.2),
        (VOLT_5, "5V", 5.0, 4.5, 5.5),
        (VOLT_3_3, "3.3V", 3.3, 2.97, 3.63),
    ):
        sensors.append(
            SensorDef(
                number,
                name,
                SensorType.VOLTAGE,
                Unit.VOLTS,
                thresholds=Thresholds(None, low, None, None, high, None),
                range_min=0,
                range_max=nominal * 1.5,
                nominal=nominal,
            )
        )
    sensors.append(
        SensorDef(
            VBAT,
            "VBAT",
            SensorType.VOLTAGE,
            Unit.VOLTS,
            thresholds=Thresholds(None, 2.5, 2.7, None, None, None),
            range_min=0,
            range_max=4.0,
            nominal=3.0,
            standby=True,
            entity_id=0x07,
        )
    )
    for number, name, sensor_type in (
        (ACPI_STATE, "ACPI State", SensorType.ACPI_POWER_STATE),
        (SYSTEM_BOOT, "System Boot", SensorType.SYSTEM_BOOT_INITIATED),
        (OS_BOOT, "OS Boot", SensorType.OS_BOOT),
        (POWER_UNIT, "Power Unit", SensorType.POWER_UNIT),
        (EVENT_LOG, "Event Log", SensorType.EVENT_LOGGING_DISABLED),
        (CRITICAL_INTERRUPT, "Critical Int", SensorType.CRITICAL_INTERRUPT),
        (MEMORY_ECC, "Memory ECC", SensorType.MEMORY),
        (BMC_HEALTH, "BMC Health", SensorType.MANAGEMENT_SUBSYSTEM_HEALTH),
        (FIRMWARE_VERSION, "FW Version", SensorType.VERSION_CHANGE),
        (OS_STOP, "OS Stop", SensorType.OS_STOP),
        (POST_ERROR, "POST Error", SensorType.SYSTEM_FIRMWARE_PROGRESS),
    ):
        sensors.append(
            SensorDef(
                number,
                name,
                sensor_type,
                event_type=EventType.SENSOR_SPECIFIC,
                standby=True,
                event_only=True,
            )
        )
    for i, drive in enumerate(drives):
        sensors.append(
            SensorDef(
                DRIVE_BASE + i,
                drive,
                SensorType.DRIVE_SLOT,
                event_type=EventType.SENSOR_SPECIFIC,
                standby=True,
                entity_id=0x04,
                entity_instance=i + 1,
                part=drive,
            )
        )
    return sensors

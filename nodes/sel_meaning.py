"""What a SEL record means: its IPMI sensor type, event type, offset and direction decoded once.

Protocol-free (no SNMP, Redfish or alert names here). The BMC's trap sender
(``bmc.snmp.traps``), the Redfish LogEntry mapping (``bmc.redfish.mapping``) and the operator's
alerting (``emulator.operator``) all read a record through :func:`decode`, so they agree on
which records are about hardware and how bad each is.

Rules (IPMI 2.0 tables 42-1 to 42-3):

* Only a system event record (type 02h) has a meaning; OEM records have none.
* A threshold record (event type 01h): going low or high past a non-critical limit (offsets
  0, 1, 6, 7) is a warning, past a critical or non-recoverable one critical; deasserted, info.
* A redundancy record (event type 0Bh): "non-redundant, insufficient resources" (offset 5) is
  critical, the other degraded states a warning, fully redundant (offset 0) info; deasserted,
  info. A redundancy sensor is in one state at a time.
* A sensor-specific record, asserted: the offset's level from :data:`SPECIFIC`; an offset not
  listed is critical for processor and critical-interrupt sensors, a warning for the other
  hardware sensor types, info for the rest (boot progress, ACPI states, log housekeeping).
  Deasserted: info (the condition cleared).
* Hardware sensor types (:data:`HARDWARE`): power supply and power unit, fan, temperature,
  voltage and current, memory, drive slot, processor, critical interrupt, OS stop and watchdog,
  LAN, battery.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from nodes.sel import SYSTEM_EVENT_RECORD, EventType, SelRecord, SensorType

__all__ = [
    "HARDWARE",
    "SPECIFIC",
    "Level",
    "SelMeaning",
    "decode",
    "meaning",
    "threshold_level",
]


class Level(IntEnum):
    """How bad the condition a record reports is."""

    INFO = 1  # cleared, or benign
    WARNING = 2
    CRITICAL = 3


_I, _W, _C = Level.INFO, Level.WARNING, Level.CRITICAL

#: The sensor types of hardware conditions.
HARDWARE: Final = frozenset(
    {
        SensorType.POWER_SUPPLY,
        SensorType.POWER_UNIT,
        SensorType.FAN,
        SensorType.TEMPERATURE,
        SensorType.VOLTAGE,
        SensorType.CURRENT,
        SensorType.MEMORY,
        SensorType.DRIVE_SLOT,
        SensorType.PROCESSOR,
        SensorType.CRITICAL_INTERRUPT,
        SensorType.OS_STOP,
        SensorType.WATCHDOG_2,
        SensorType.LAN,
        SensorType.BATTERY,
    }
)

#: Sensor-specific offsets (IPMI 2.0 table 42-3) -> level when asserted.
SPECIFIC: Final[dict[int, dict[int, Level]]] = {
    # presence, failure, predictive failure, input lost, input lost/out of range, out of range,
    # configuration error, inactive
    SensorType.POWER_SUPPLY: {0: _I, 1: _C, 2: _W, 3: _C, 4: _C, 5: _C, 6: _W, 7: _I},
    # power off, cycle, 240VA down, interlock down, AC lost, soft control failure, failure,
    # predictive failure
    SensorType.POWER_UNIT: {0: _I, 1: _I, 2: _W, 3: _W, 4: _C, 5: _C, 6: _C, 7: _W},
    # correctable ECC, uncorrectable ECC, parity, scrub failed, disabled, ECC log limit,
    # presence, configuration error, spare, throttled, critical overtemperature
    SensorType.MEMORY: {0: _W, 1: _C, 2: _C, 3: _C, 4: _W, 5: _W, 6: _I, 7: _W, 8: _I, 9: _W},
    # presence, fault, predictive failure, hot spare, check in progress, in critical array,
    # in failed array, rebuild in progress, rebuild aborted
    SensorType.DRIVE_SLOT: {0: _I, 1: _C, 2: _W, 3: _I, 4: _I, 5: _C, 6: _C, 7: _W, 8: _C},
    # IERR, thermal trip, FRB1-3, configuration error, uncorrectable CPU complex error,
    # presence, disabled, terminator, throttled, machine check, correctable machine check
    SensorType.PROCESSOR: {7: _I, 8: _W, 9: _I, 10: _W, 12: _W},
    # critical stop during load, run-time critical stop, graceful stop, graceful shutdown,
    # soft shutdown by PEF, agent not responding
    SensorType.OS_STOP: {0: _C, 1: _C, 2: _I, 3: _I, 4: _I, 5: _C},
    SensorType.WATCHDOG_2: {0: _I, 1: _C, 2: _C, 3: _C, 8: _I},
    SensorType.LAN: {0: _W, 1: _I},  # cable / link lost, link restored
    SensorType.BATTERY: {0: _W, 1: _C, 2: _I},
    SensorType.SYSTEM_FIRMWARE_PROGRESS: {0: _C},  # POST error
}
#: Sensor types whose every asserted offset not listed in SPECIFIC is critical.
_CRITICAL_BY_DEFAULT: Final = frozenset({SensorType.PROCESSOR, SensorType.CRITICAL_INTERRUPT})
#: Threshold offsets (table 42-2) of the non-critical limits, going low (0, 1) or high (6, 7).
_NON_CRITICAL_THRESHOLDS: Final = frozenset({0x00, 0x01, 0x06, 0x07})
#: Redundancy offsets: fully redundant (0) is fine, non-redundant insufficient (5) critical.
_REDUNDANCY_FULL: Final = 0
_REDUNDANCY_INSUFFICIENT: Final = 5


def threshold_level(offset: int) -> Level:
    """The level of an asserted threshold crossing at ``offset``."""
    return _W if offset in _NON_CRITICAL_THRESHOLDS else _C


@dataclass(frozen=True)
class SelMeaning:
    """What one system event record says."""

    sensor_type: int
    sensor_number: int
    event_type: int
    offset: int
    asserted: bool
    level: Level
    #: A hardware condition (:data:`HARDWARE`).
    hardware: bool
    #: A redundancy sensor: in one state at a time, a new record replaces the last one's.
    one_state: bool
    #: Which one of the sensor's parts the record names (a memory record's DIMM, from event
    #: data 3), else None.
    instance: int | None


def _level(sensor_type: int, event_type: int, offset: int, asserted: bool) -> Level:
    if event_type == EventType.THRESHOLD:
        return threshold_level(offset) if asserted else _I
    if event_type == EventType.REDUNDANCY:
        if not asserted or offset == _REDUNDANCY_FULL:
            return _I
        return _C if offset == _REDUNDANCY_INSUFFICIENT else _W
    if not asserted:
        return _I  # the condition cleared
    table = SPECIFIC.get(sensor_type, {})
    if offset in table:
        return table[offset]
    if sensor_type in _CRITICAL_BY_DEFAULT:
        return _C
    return _W if sensor_type in HARDWARE else _I


def decode(
    sensor_type: int,
    sensor_number: int,
    event_type: int,
    offset: int,
    asserted: bool,
    data3: int = 0xFF,
) -> SelMeaning:
    """The meaning of a system event record given by its fields."""
    return SelMeaning(
        sensor_type=sensor_type,
        sensor_number=sensor_number,
        event_type=event_type,
        offset=offset,
        asserted=asserted,
        level=_level(sensor_type, event_type, offset, asserted),
        hardware=sensor_type in HARDWARE,
        one_state=event_type == EventType.REDUNDANCY,
        instance=data3 if sensor_type == SensorType.MEMORY else None,
    )


def meaning(record: SelRecord) -> SelMeaning | None:
    """The meaning of ``record``, or None for a record that is not a system event (OEM)."""
    if record.record_type != SYSTEM_EVENT_RECORD:
        return None
    return decode(
        record.sensor_type,
        record.sensor_number,
        record.event_type,
        record.offset,
        record.asserted,
        record.event_data[2],
    )

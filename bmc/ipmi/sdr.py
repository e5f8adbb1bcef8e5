"""Sensor Data Records and sensor reading encodings for one node (IPMI 2.0 chapters 35-36, 43).

Everything here is built once per node by :func:`build_repository` (SDRs only change when the
hardware does) and then only read, so the hot path of Get Sensor Reading is one dictionary
lookup, one model read and a few integer operations.

Records, in repository order:

* one type 01h Full Sensor Record per analog (threshold) sensor: owner 20h, LUN 0, linear
  conversion ``y = M * x * 10^R`` with M and R chosen from the sensor's range, thresholds
  readable, hysteresis readable, units, entity id/instance and the sensor name;
* one type 02h Compact Sensor Record per discrete or event-only sensor;
* a type 11h FRU Device Locator for the logical FRU device 0 on the BMC;
* a type 12h Management Controller Device Locator for the BMC itself.

Record ids count from 1; the repository's add/erase timestamps are derived from the board's
manufacture date and the records' bytes, so they are stable for one hardware build (freeipmi's
SDR cache stays valid across runs) and change when the hardware does.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from nodes.sel import EventType, SensorType
from nodes.sensors import Linear, Reading, SensorDef, Thresholds, choose_linear

SDR_VERSION = 0x51
FULL_SENSOR = 0x01
COMPACT_SENSOR = 0x02
FRU_DEVICE_LOCATOR = 0x11
MC_DEVICE_LOCATOR = 0x12

BMC_ADDRESS = 0x20
#: Additional device support / device capabilities: chassis, event receiver, FRU, SEL, SDR
#: repository, sensor device (the same bit order in Get Device ID and the MC locator).
DEVICE_SUPPORT = 0x80 | 0x10 | 0x08 | 0x04 | 0x02 | 0x01

#: 1996-01-01T00:00:00Z, the epoch of FRU manufacture dates.
FRU_EPOCH = 820_454_400

#: 8-bit ASCII + Latin 1 type/length code (bits 7:6 = 11b).
_ASCII = 0xC0
_MAX_NAME = 16

# Threshold order in SDR bytes, reading masks and Get Sensor Thresholds:
# bit 0 LNC, 1 LC, 2 LNR, 3 UNC, 4 UC, 5 UNR.
_LNC, _LC, _LNR, _UNC, _UC, _UNR = range(6)

#: Discrete states each sensor type can report (assertion / reading mask), by sensor type.
_DISCRETE_STATES = {
    SensorType.POWER_SUPPLY: 0x007F,
    SensorType.DRIVE_SLOT: 0x01FF,
    SensorType.ACPI_POWER_STATE: 0x3FFF,
    SensorType.SYSTEM_BOOT_INITIATED: 0x00FF,
    SensorType.OS_BOOT: 0x007F,
    SensorType.POWER_UNIT: 0x00FF,
    SensorType.EVENT_LOGGING_DISABLED: 0x003F,
    SensorType.CRITICAL_INTERRUPT: 0x0FFF,
    SensorType.MEMORY: 0x07FF,
    SensorType.MANAGEMENT_SUBSYSTEM_HEALTH: 0x003F,
    SensorType.OS_STOP: 0x000F,
    SensorType.SYSTEM_FIRMWARE_PROGRESS: 0x0007,
}
#: Generic redundancy (event/reading type 0Bh): offsets 0-7.
_REDUNDANCY_STATES = 0x00FF


@dataclass(frozen=True, slots=True)
class SensorEntry:
    """What the BMC knows about one sensor, precomputed for Get Sensor Reading and friends."""

    sensor: SensorDef
    linear: Linear | None
    #: Raw threshold bytes in LNC, LC, LNR, UNC, UC, UNR order (0 when not readable).
    thresholds: bytes
    readable: int
    assertion_mask: int
    deassertion_mask: int
    hysteresis: int

    def event_enable(self) -> bytes:
        """Get Sensor Event Enable: event messages and scanning on, and the enabled events."""
        a, d = self.assertion_mask & 0x0FFF, self.deassertion_mask & 0x0FFF
        if self.linear is None:
            a, d = self.assertion_mask & 0x7FFF, self.deassertion_mask & 0x7FFF
        return bytes((0xC0, a & 0xFF, a >> 8, d & 0xFF, d >> 8))

    def reading_bytes(self, reading: Reading) -> bytes:
        """Get Sensor Reading response data."""
        if self.linear is None:
            state = reading.state
            return bytes((0, 0xC0, state & 0xFF, 0x80 | ((state >> 8) & 0x7F)))
        value = reading.value
        if value is None:
            # Bit 5 of byte 2: reading unavailable (host off, part absent).
            return b"\x00\xe0\xc0"
        return bytes((self.linear.raw(value), 0xC0, 0xC0 | _threshold_status(self.sensor, value)))


def _threshold_status(sensor: SensorDef, value: float) -> int:
    t = sensor.thresholds
    bits = 0
    for bit, limit in enumerate(_lower(t)):
        if limit is not None and value <= limit:
            bits |= 1 << bit
    for bit, limit in enumerate(_upper(t), start=3):
        if limit is not None and value >= limit:
            bits |= 1 << bit
    return bits


def _lower(t: Thresholds) -> tuple[float | None, float | None, float | None]:
    return t.lower_non_critical, t.lower_critical, t.lower_non_recoverable


def _upper(t: Thresholds) -> tuple[float | None, float | None, float | None]:
    return t.upper_non_critical, t.upper_critical, t.upper_non_recoverable


def _all(t: Thresholds) -> tuple[float | None, ...]:
    return _lower(t) + _upper(t)


def id_string(name: str, limit: int = _MAX_NAME) -> bytes:
    """A type/length byte (8-bit ASCII+Latin1) and the name, truncated to ``limit`` bytes."""
    raw = name.encode("latin-1", "replace")[:limit]
    return bytes((_ASCII | len(raw),)) + raw


def _entry(sensor: SensorDef) -> SensorEntry:
    if not sensor.analog:
        states = (
            _REDUNDANCY_STATES
            if sensor.event_type == EventType.REDUNDANCY
            else _DISCRETE_STATES.get(sensor.sensor_type, 0x7FFF)
        )
        return SensorEntry(sensor, None, bytes(6), 0, states, states, 0)
    linear = choose_linear(sensor.range_min, sensor.range_max)
    limits = _all(sensor.thresholds)
    readable = sum(1 << i for i, limit in enumerate(limits) if limit is not None)
    raw = bytes(0 if limit is None else linear.raw(limit) for limit in limits)
    # Events: lower thresholds "going low" (bits 0, 2, 4), upper ones "going high" (7, 9, 11).
    events = 0
    for i, bit in ((_LNC, 0), (_LC, 2), (_LNR, 4), (_UNC, 7), (_UC, 9), (_UNR, 11)):
        if readable & (1 << i):
            events |= 1 << bit
    # Bits 14:12 of the assertion/deassertion words: which comparisons Get Sensor Reading
    # returns (lower thresholds in the assertion word, upper ones in the deassertion word).
    assertion = events | ((readable & 0x07) << 12)
    deassertion = events | (((readable >> 3) & 0x07) << 12)
    return SensorEntry(sensor, linear, raw, readable, assertion, deassertion, 1)


def _header(record_id: int, record_type: int, body: bytes) -> bytes:
    return bytes((record_id & 0xFF, record_id >> 8, SDR_VERSION, record_type, len(body))) + body


def _full_record(record_id: int, e: SensorEntry) -> bytes:
    s = e.sensor
    lin = e.linear
    assert lin is not None
    units1 = 0x80 if lin.signed else 0x00  # analog data format: 2's complement / unsigned
    m = lin.m & 0x3FF
    nominal = 0 if s.nominal is None else lin.raw(s.nominal)
    body = bytes(
        (
            BMC_ADDRESS,
            0x00,  # owner LUN 0, channel 0
            s.number,
            s.entity_id,
            s.entity_instance & 0x7F,
            0x7F,  # init: scanning, events, thresholds, hysteresis, type; events+scan enabled
            0x55,  # auto re-arm, hysteresis readable, thresholds readable, entire-sensor events
            int(s.sensor_type),
            int(s.event_type),
            e.assertion_mask & 0xFF,
            e.assertion_mask >> 8,
            e.deassertion_mask & 0xFF,
            e.deassertion_mask >> 8,
            e.readable,  # readable threshold mask
            0x00,  # settable threshold mask: none
            units1,
            int(s.unit),
            0x00,  # modifier unit
            0x00,  # linearization: linear
            m & 0xFF,
            (m >> 8) << 6,  # M MS bits, tolerance 0
            0x00,  # B = 0
            0x00,  # B MS bits, accuracy 0
            0x00,  # accuracy MS, accuracy exp, sensor direction unspecified
            ((lin.r_exp & 0x0F) << 4) | 0x00,  # R exponent, B exponent 0
            0x01 if s.nominal is not None else 0x00,  # analog flags: nominal specified
            nominal,
            0xFF if not lin.signed else 0x7F,  # normal maximum (unspecified: full scale)
            0x00 if not lin.signed else 0x80,  # normal minimum
            0xFF if not lin.signed else 0x7F,  # sensor maximum reading
            0x00 if not lin.signed else 0x80,  # sensor minimum reading
            e.thresholds[_UNR],
            e.thresholds[_UC],
            e.thresholds[_UNC],
            e.thresholds[_LNR],
            e.thresholds[_LC],
            e.thresholds[_LNC],
            e.hysteresis,  # positive-going hysteresis
            e.hysteresis,  # negative-going hysteresis
            0x00,
            0x00,  # reserved
            0x00,  # OEM
        )
    )
    return _header(record_id, FULL_SENSOR, body + id_string(s.name))


def _compact_record(record_id: int, e: SensorEntry) -> bytes:
    s = e.sensor
    body = bytes(
        (
            BMC_ADDRESS,
            0x00,
            s.number,
            s.entity_id,
            s.entity_instance & 0x7F,
            0x67,  # init: scanning, events, sensor type; events + scanning enabled
            0x41,  # auto re-arm, no hysteresis, no thresholds, entire-sensor events
            int(s.sensor_type),
            int(s.event_type),
            e.assertion_mask & 0xFF,
            (e.assertion_mask >> 8) & 0x7F,
            e.deassertion_mask & 0xFF,
            (e.deassertion_mask >> 8) & 0x7F,
            e.assertion_mask & 0xFF,  # discrete reading mask
            (e.assertion_mask >> 8) & 0x7F,
            0xC0,  # units 1: no analog reading
            0x00,
            0x00,
            0x01,  # record sharing: share count 1
            0x00,
            0x00,  # positive hysteresis
            0x00,  # negative hysteresis
            0x00,
            0x00,
            0x00,  # reserved
            0x00,  # OEM
        )
    )
    return _header(record_id, COMPACT_SENSOR, body + id_string(s.name))


def _fru_locator(record_id: int, name: str) -> bytes:
    body = bytes(
        (
            BMC_ADDRESS,  # device access address
            0x00,  # FRU device id 0
            0x80,  # logical FRU device, LUN 0, private bus 0
            0x00,  # channel 0
            0x00,  # reserved
            0x10,  # device type: FRU inventory device behind a management controller
            0x00,  # device type modifier
            0x07,  # FRU entity: system board
            0x01,  # entity instance
            0x00,  # OEM
        )
    )
    return _header(record_id, FRU_DEVICE_LOCATOR, body + id_string(name))


def _mc_locator(record_id: int, name: str) -> bytes:
    body = bytes(
        (
            BMC_ADDRESS,
            0x00,  # channel 0
            0x00,  # no ACPI notifications, event message generation enabled
            DEVICE_SUPPORT,
            0x00,
            0x00,
            0x00,  # reserved
            0x06,  # entity: system management module
            0x01,  # entity instance
            0x00,  # OEM
        )
    )
    return _header(record_id, MC_DEVICE_LOCATOR, body + id_string(name))


class SdrRepository:
    """A node's SDR repository: immutable records plus the lookups the commands need."""

    def __init__(self, records: list[bytes], entries: list[SensorEntry], timestamp: int) -> None:
        self.records = records
        self.ids = [r[0] | (r[1] << 8) for r in records]
        self._position = {rid: i for i, rid in enumerate(self.ids)}
        self.sensors = {e.sensor.number: e for e in entries}
        self.timestamp = timestamp
        self.size = sum(len(r) for r in records)

    def __len__(self) -> int:
        return len(self.records)

    def get(self, record_id: int) -> tuple[int, bytes] | None:
        """The record with this id (0000h first, FFFFh last) and the id that follows it
        (FFFFh after the last), or None if there is no such record."""
        if not self.records:
            return None
        if record_id == 0x0000:
            i = 0
        elif record_id == 0xFFFF:
            i = len(self.records) - 1
        else:
            found = self._position.get(record_id)
            if found is None:
                return None
            i = found
        following = self.ids[i + 1] if i + 1 < len(self.ids) else 0xFFFF
        return following, self.records[i]


def build_repository(sensors: list[SensorDef], board_mfg_minutes: int) -> SdrRepository:
    entries = [_entry(s) for s in sensors]
    records: list[bytes] = []
    for e in entries:
        if e.linear is not None:
            records.append(_full_record(len(records) + 1, e))
    for e in entries:
        if e.linear is None:
            records.append(_compact_record(len(records) + 1, e))
    records.append(_fru_locator(len(records) + 1, "Builtin FRU"))
    records.append(_mc_locator(len(records) + 1, "BMC"))
    digest = zlib.crc32(b"".join(records))
    timestamp = FRU_EPOCH + board_mfg_minutes * 60 + digest % 86_400
    return SdrRepository(records, entries, timestamp)

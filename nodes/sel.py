"""The System Event Log, with IPMI semantics.

Record ids start at 1 and grow; they are never reused until the log is cleared. Each standard
record (type 02h) names the sensor type, sensor number, event/reading type, direction and three
bytes of event data, exactly the fields of an IPMI SEL entry, because that is what the SEL is on
every BMC (Redfish shows the same entries as LogEntry with EntryType SEL). A full log stops
taking records and sets its overflow flag, as most BMCs do. Clearing it adds the standard
"Log area reset/cleared" record.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from nodes.clock import Clock
from nodes.errors import CapacityExceeded, InvalidArgument, NotFound, ReservationCanceled
from nodes.events import (
    EventSink,
    SelCleared,
    SelFull,
    SelRecordAdded,
    SelRecordDeleted,
    SelTimeSet,
)


class SensorType(IntEnum):
    """IPMI sensor type codes (IPMI 2.0 table 42-3)."""

    TEMPERATURE = 0x01
    VOLTAGE = 0x02
    CURRENT = 0x03
    FAN = 0x04
    PHYSICAL_SECURITY = 0x05
    PROCESSOR = 0x07
    POWER_SUPPLY = 0x08
    POWER_UNIT = 0x09
    OTHER_UNITS = 0x0B
    MEMORY = 0x0C
    DRIVE_SLOT = 0x0D
    SYSTEM_FIRMWARE_PROGRESS = 0x0F
    EVENT_LOGGING_DISABLED = 0x10
    SYSTEM_EVENT = 0x12
    CRITICAL_INTERRUPT = 0x13
    MANAGEMENT_SUBSYSTEM_HEALTH = 0x28
    SYSTEM_BOOT_INITIATED = 0x1D
    OS_BOOT = 0x1F
    OS_STOP = 0x20
    ACPI_POWER_STATE = 0x22
    WATCHDOG_2 = 0x23
    LAN = 0x27
    VERSION_CHANGE = 0x2B
    BATTERY = 0x29
    OEM = 0xC0


class EventType(IntEnum):
    """Event/reading type codes (IPMI 2.0 table 42-1/42-2)."""

    THRESHOLD = 0x01
    DISCRETE_STATE = 0x03
    REDUNDANCY = 0x0B
    SENSOR_SPECIFIC = 0x6F


#: Record types of the SEL.
SYSTEM_EVENT_RECORD = 0x02
#: The BMC's own generator id (slave address 20h, LUN 0).
BMC_GENERATOR = 0x0020
#: The event message revision for IPMI 2.0.
EVM_REV = 0x04


@dataclass(frozen=True)
class SelRecord:
    """One SEL entry. For OEM record types (C0h-FFh) only ``record_type``, ``timestamp`` and
    ``oem`` are meaningful."""

    record_id: int
    record_type: int
    timestamp: int
    generator_id: int = BMC_GENERATOR
    evm_rev: int = EVM_REV
    sensor_type: int = 0
    sensor_number: int = 0
    event_type: int = EventType.SENSOR_SPECIFIC
    asserted: bool = True
    event_data: bytes = b"\xff\xff\xff"
    oem: bytes = b""
    message: str = ""

    @property
    def offset(self) -> int:
        """The event offset (low nibble of event data 1)."""
        return self.event_data[0] & 0x0F


@dataclass(frozen=True)
class SelEntryInput:
    """What a caller (a model transition or an IPMI Add SEL Entry) wants logged."""

    sensor_type: int
    sensor_number: int
    offset: int
    event_type: int = EventType.SENSOR_SPECIFIC
    asserted: bool = True
    data2: int = 0xFF
    data3: int = 0xFF
    message: str = ""
    record_type: int = SYSTEM_EVENT_RECORD
    generator_id: int = BMC_GENERATOR
    evm_rev: int = EVM_REV
    oem: bytes = b""
    raw_data1: int | None = None


class SystemEventLog:
    """A node's SEL. Synchronous; time comes from the clock, events go to the sink."""

    def __init__(self, device: str, clock: Clock, emit: EventSink, capacity: int = 512) -> None:
        if capacity < 16:
            raise InvalidArgument("a SEL holds at least 16 records")
        self._device = device
        self._clock = clock
        self._emit = emit
        self.capacity = capacity
        self._records: dict[int, SelRecord] = {}
        #: snapshot()'s dict of each record, made once per record: record_id -> (record, dict).
        self._snapshot_cache: dict[int, tuple[SelRecord, dict[str, Any]]] = {}
        self._next_id = 1
        self.overflow = False
        self.last_add: int | None = None
        self.last_erase: int | None = None
        self._reservation = 0
        #: Set by SEL time (Set SEL Time): an offset from the clock, as BMCs keep their own RTC.
        self.time_offset = 0.0
        #: While True the model's own records (:meth:`log`) are dropped: no BMC is there to log
        #: them (the hardware is being pulled out of the slot). Not kept in a snapshot.
        self.muted = False

    # -- reading -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._records)

    def records(self) -> list[SelRecord]:
        return list(self._records.values())

    def get(self, record_id: int) -> SelRecord:
        try:
            return self._records[record_id]
        except KeyError:
            raise NotFound(f"no SEL record {record_id}") from None

    def first_id(self) -> int | None:
        return next(iter(self._records), None)

    def next_id_after(self, record_id: int) -> int | None:
        """The id of the record after ``record_id``, or None at the end."""
        ids = iter(self._records)
        for rid in ids:
            if rid == record_id:
                return next(ids, None)
        raise NotFound(f"no SEL record {record_id}")

    def last_id(self) -> int | None:
        return next(reversed(self._records), None) if self._records else None

    def now(self) -> int:
        return int(self._clock.now() + self.time_offset)

    def set_time(self, epoch: int) -> None:
        self.time_offset = float(epoch) - self._clock.now()
        self._emit(SelTimeSet(device=self._device, at=self._clock.now(), offset=self.time_offset))

    # -- reservations (IPMI semantics: any change cancels the reservation) -----------------
    def reserve(self) -> int:
        self._reservation = (self._reservation % 0xFFFF) + 1
        return self._reservation

    def check_reservation(self, reservation: int) -> None:
        if reservation != self._reservation:
            raise ReservationCanceled(f"SEL reservation {reservation} is not current")

    # -- writing -----------------------------------------------------------------------------
    def add(self, entry: SelEntryInput) -> SelRecord:
        """Log one record; raises CapacityExceeded (and sets ``overflow``) when full."""
        if len(self._records) >= self.capacity:
            if not self.overflow:
                self.overflow = True
                self._emit(SelFull(device=self._device, at=self._clock.now()))
            raise CapacityExceeded("the SEL is full")
        if not 0 <= entry.sensor_type <= 0xFF or not 0 <= entry.sensor_number <= 0xFF:
            raise InvalidArgument("sensor type and number are one byte each")
        if not 0 <= entry.record_type <= 0xFF:
            raise InvalidArgument("record type is one byte")
        now = self.now()
        record_id = self._next_id
        self._next_id = record_id + 1 if record_id < 0xFFFD else 1
        if entry.raw_data1 is not None:
            data1 = entry.raw_data1 & 0xFF
        else:
            data1 = entry.offset & 0x0F
            if entry.data2 != 0xFF or entry.data3 != 0xFF:
                # Event data 2/3 hold OEM codes: say so in bits 7:4 of data 1.
                data1 |= 0xA0
        record = SelRecord(
            record_id=record_id,
            record_type=entry.record_type,
            timestamp=now,
            generator_id=entry.generator_id,
            evm_rev=entry.evm_rev,
            sensor_type=entry.sensor_type,
            sensor_number=entry.sensor_number,
            event_type=entry.event_type,
            asserted=entry.asserted,
            event_data=bytes((data1, entry.data2 & 0xFF, entry.data3 & 0xFF)),
            oem=entry.oem,
            message=entry.message,
        )
        self._records[record_id] = record
        self.last_add = now
        self._emit(SelRecordAdded(device=self._device, at=self._clock.now(), record=record))
        return record

    def log(
        self,
        sensor_type: int,
        sensor_number: int,
        offset: int,
        message: str,
        *,
        asserted: bool = True,
        event_type: int = EventType.SENSOR_SPECIFIC,
        data2: int = 0xFF,
        data3: int = 0xFF,
        raw_data1: int | None = None,
    ) -> SelRecord | None:
        """Log an event from the model itself; a full log drops it (overflow is set).
        ``raw_data1`` gives event data 1's bits 7:4 (the offset goes in bits 3:0)."""
        if self.muted:
            return None
        try:
            return self.add(
                SelEntryInput(
                    sensor_type=sensor_type,
                    sensor_number=sensor_number,
                    offset=offset,
                    event_type=event_type,
                    asserted=asserted,
                    data2=data2,
                    data3=data3,
                    message=message,
                    raw_data1=None if raw_data1 is None else (raw_data1 & 0xF0) | (offset & 0x0F),
                )
            )
        except CapacityExceeded:
            return None

    def delete(self, record_id: int) -> None:
        if record_id not in self._records:
            raise NotFound(f"no SEL record {record_id}")
        del self._records[record_id]
        self._invalidate()
        self._emit(SelRecordDeleted(device=self._device, at=self._clock.now(), record_id=record_id))

    def clear(self, cleared_sensor_number: int) -> SelRecord | None:
        """Erase every record, then log "Log area reset/cleared" as real BMCs do."""
        self._records.clear()
        self.overflow = False
        self.last_erase = self.now()
        self._invalidate()
        self._emit(SelCleared(device=self._device, at=self._clock.now()))
        return self.log(
            SensorType.EVENT_LOGGING_DISABLED,
            cleared_sensor_number,
            0x02,
            "Log area reset/cleared",
        )

    def _invalidate(self) -> None:
        if self._reservation:
            self._reservation = (self._reservation % 0xFFFF) + 1

    # -- persistence -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything the log holds, JSON-safe (bytes as hex).

        The state store takes one at every event, so each record's dict is made once and kept
        while that record is (records are frozen): callers must not change them."""
        rows = self._snapshot_cache
        for rid, r in self._records.items():
            cached = rows.get(rid)
            if cached is None or cached[0] is not r:
                rows[rid] = (
                    r,
                    {
                        "record_id": r.record_id,
                        "record_type": r.record_type,
                        "timestamp": r.timestamp,
                        "generator_id": r.generator_id,
                        "evm_rev": r.evm_rev,
                        "sensor_type": r.sensor_type,
                        "sensor_number": r.sensor_number,
                        "event_type": r.event_type,
                        "asserted": r.asserted,
                        "event_data": r.event_data.hex(),
                        "oem": r.oem.hex(),
                        "message": r.message,
                    },
                )
        if len(rows) > len(self._records):
            for rid in [rid for rid in rows if rid not in self._records]:
                del rows[rid]
        return {
            "records": [rows[rid][1] for rid in self._records],
            "next_id": self._next_id,
            "overflow": self.overflow,
            "last_add": self.last_add,
            "last_erase": self.last_erase,
            "time_offset": self.time_offset,
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Put back what :meth:`snapshot` returned (ids and timestamps as they were)."""
        records: dict[int, SelRecord] = {}
        for d in data["records"]:
            fields = dict(d)
            fields["event_data"] = bytes.fromhex(d["event_data"])
            fields["oem"] = bytes.fromhex(d["oem"])
            record = SelRecord(**fields)
            records[record.record_id] = record
        self._records = records
        self._next_id = int(data["next_id"])
        self.overflow = bool(data["overflow"])
        self.last_add = data["last_add"]
        self.last_erase = data["last_erase"]
        self.time_offset = float(data["time_offset"])
        self._invalidate()

"""The BMC trap events on the rack's bus (protocol-free: no SNMP here, so that the operator's
view can follow them without loading an SNMP stack). :mod:`bmc.snmp.traps` emits them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from nodes.events import Event

__all__ = ["INFO", "BmcTrapEvent", "BmcTrapLost", "BmcTrapSent"]

#: ``severity`` of a trap that reports a condition cleared or a benign one.
INFO: Final = "info"


@dataclass(frozen=True, kw_only=True)
class BmcTrapEvent(Event):
    """A hardware trap a BMC raised (``device`` is the node)."""

    _log_name = "bmc.trap"
    trap: str  # dotted trap OID
    category: str
    severity: str
    record_id: int
    message: str
    #: The SEL record's sensor, event type, offset and direction: which part the trap is about,
    #: and whether its condition asserted or cleared (what a receiver reads back with
    #: ``ipmitool sel get <record_id>``; the sensor type is in the suBmcSensorType varbind).
    sensor_type: int
    sensor_number: int
    event_type: int
    offset: int
    asserted: bool
    #: The SEL record's event data 3 (0xFF when unused): which DIMM a memory record names.
    data3: int = 0xFF

    @property
    def name(self) -> str:
        return self._log_name


@dataclass(frozen=True, kw_only=True)
class BmcTrapSent(BmcTrapEvent):
    """The BMC sent the trap to ``receivers`` ("address:port", comma-separated)."""

    _log_name = "bmc.trap_sent"
    receivers: str


@dataclass(frozen=True, kw_only=True)
class BmcTrapLost(BmcTrapEvent):
    """The trap never left: ``reason`` "no-power" (no PSU has input: no standby power),
    "bmc-silent" (firmware resetting or hung) or "no-path" (BMC switch down, cable pulled)."""

    _log_name = "bmc.trap_lost"
    reason: str

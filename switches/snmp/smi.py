"""The SMI value types the switch MIBs return: plain ``int``/``bytes``/``tuple`` subclasses.

:class:`~switches.snmp.mib.SwitchMib` computes every value as one of these, and both wire paths
read the same objects: the BER fast path (:mod:`switches.snmp.ber`) encodes them by their
:attr:`tag`, and the pysnmp path turns them into pysnmp objects with :func:`to_pysnmp`. They cost
what an ``int`` costs to build (a pysnmp value is ~3 us, because pyasn1 checks constraints when
it is built); ranges are checked when a value is encoded, as pyasn1 would when it is built.

Tags are the BER identifier octets of RFC 2578 (SNMPv2-SMI) and RFC 3416 (SNMPv2-PDU).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pysnmp.proto import rfc1902

#: BER identifier octets of the universal and application types SNMP uses.
INTEGER, OCTET_STRING, NULL, OBJECT_IDENTIFIER, SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30
IP_ADDRESS, COUNTER32, GAUGE32, TIMETICKS, OPAQUE, COUNTER64 = 0x40, 0x41, 0x42, 0x43, 0x44, 0x46
#: The exceptions of a v2 varbind value (RFC 3416): context-specific, primitive, empty.
NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW = 0x80, 0x81, 0x82


class Integer32(int):
    __slots__ = ()
    tag: ClassVar[int] = INTEGER


class Counter32(int):
    __slots__ = ()
    tag: ClassVar[int] = COUNTER32


class Gauge32(int):
    __slots__ = ()
    tag: ClassVar[int] = GAUGE32


class Unsigned32(int):
    """Same wire type as Gauge32 (RFC 2578 7.1.11)."""

    __slots__ = ()
    tag: ClassVar[int] = GAUGE32


class TimeTicks(int):
    __slots__ = ()
    tag: ClassVar[int] = TIMETICKS


class Counter64(int):
    __slots__ = ()
    tag: ClassVar[int] = COUNTER64


class OctetString(bytes):
    __slots__ = ()
    tag: ClassVar[int] = OCTET_STRING


class Bits(OctetString):
    """BITS is an OCTET STRING on the wire (RFC 2578 7.1.4); named here for pysnmp's sake."""

    __slots__ = ()


class IpAddress(bytes):
    __slots__ = ()
    tag: ClassVar[int] = IP_ADDRESS


class ObjectIdentifier(tuple[int, ...]):
    __slots__ = ()
    tag: ClassVar[int] = OBJECT_IDENTIFIER


Value = (
    Integer32
    | Counter32
    | Gauge32
    | Unsigned32
    | TimeTicks
    | Counter64
    | OctetString
    | IpAddress
    | ObjectIdentifier
)

_PYSNMP: dict[type, Any] = {
    Integer32: rfc1902.Integer32,
    Counter32: rfc1902.Counter32,
    Gauge32: rfc1902.Gauge32,
    Unsigned32: rfc1902.Unsigned32,
    TimeTicks: rfc1902.TimeTicks,
    Counter64: rfc1902.Counter64,
    OctetString: rfc1902.OctetString,
    Bits: rfc1902.Bits,
    IpAddress: rfc1902.IpAddress,
    ObjectIdentifier: rfc1902.ObjectIdentifier,
}


def to_pysnmp(value: Value) -> Any:
    """The pysnmp (rfc1902) object of ``value``, for the pysnmp engine's path."""
    return _PYSNMP[type(value)](value)

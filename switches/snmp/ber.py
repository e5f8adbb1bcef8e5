"""A small BER codec for the SNMPv1/v2c messages the fast path answers (RFC 3416, RFC 1157).

Decoding is strict: :func:`decode_request` accepts only a whole, well-formed message (definite
lengths, single-octet tags, minimal INTEGER and sub-identifier encodings, nothing after the
message) of version 0 or 1, with a GetRequest, GetNextRequest or GetBulkRequest PDU whose
error-status and error-index are 0 (GETBULK: non-repeaters and max-repetitions in 0..2^31-1), a
request-id in the Integer32 range and only NULL values. Anything else is not an error here: it is
"not mine" (``None``), and the agent hands the datagram to pysnmp, which decides as it always
has. Nothing in this module raises on input bytes.

Encoding builds a GetResponse from pre-encoded varbinds (:func:`encode_varbind`), with minimal
lengths and integers, so that the bytes are those pyasn1's encoder would produce for the same
message (the agent's tests compare both paths byte for byte).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from switches.snmp import smi

OID = tuple[int, ...]

GET, GETNEXT, RESPONSE, SET, GETBULK = 0xA0, 0xA1, 0xA2, 0xA3, 0xA5
V1, V2C = 0, 1
_REQUESTS = frozenset((GET, GETNEXT, GETBULK))

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
_U32_MAX, _U64_MAX = (1 << 32) - 1, (1 << 64) - 1
_SUBID_MAX = _U32_MAX
_OCTETS_MAX = 65535  # SNMPv2-SMI OCTET STRING (SIZE (0..65535))

_BYTE = [bytes((i,)) for i in range(256)]
NULL_TLV = b"\x05\x00"
NO_SUCH_OBJECT = b"\x80\x00"
NO_SUCH_INSTANCE = b"\x81\x00"
END_OF_MIB_VIEW = b"\x82\x00"


class BerError(ValueError):
    """Bytes the fast path does not decode (malformed, or merely unusual: pysnmp decides)."""


@dataclass(frozen=True, slots=True)
class Request:
    """A decoded v1/v2c read request: ``names`` are the varbinds' OIDs (their values are NULL).
    For GET/GETNEXT ``non_repeaters`` and ``max_repetitions`` are 0."""

    version: int
    community: bytes
    pdu: int
    request_id: int
    non_repeaters: int
    max_repetitions: int
    names: tuple[OID, ...]


# -- lengths and integers ------------------------------------------------------------------------
def encode_length(n: int) -> bytes:
    if n < 0x80:
        return _BYTE[n]
    size = (n.bit_length() + 7) // 8
    return _BYTE[0x80 | size] + n.to_bytes(size, "big")


def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return _BYTE[tag] + _BYTE[n] + content
    return _BYTE[tag] + encode_length(n) + content


def tlv_size(content_size: int) -> int:
    """The size of a TLV (single-octet tag) whose content is ``content_size`` octets."""
    if content_size < 0x80:
        return 2 + content_size
    return 2 + (content_size.bit_length() + 7) // 8 + content_size


def integer_content(n: int) -> bytes:
    """Minimal two's complement (X.690 8.3)."""
    if 0 <= n < 0x80:
        return _BYTE[n]
    if n >= 0:
        return n.to_bytes((n.bit_length() + 8) // 8, "big")
    return n.to_bytes(((~n).bit_length() + 8) // 8, "big", signed=True)


def encode_integer(n: int, tag: int = smi.INTEGER) -> bytes:
    return tlv(tag, integer_content(n))


# -- object identifiers --------------------------------------------------------------------------
def _subid(n: int) -> bytes:
    if n < 0x80:
        return _BYTE[n]
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def oid_content(oid: OID) -> bytes:
    """The content octets of an OID (X.690 8.19): the first two arcs make one sub-identifier."""
    if len(oid) < 2:
        raise ValueError(f"an OID has at least two arcs: {oid!r}")
    first, second = oid[0], oid[1]
    if not 0 <= first <= 2 or second < 0 or (first < 2 and second >= 40):
        raise ValueError(f"bad first arcs: {oid!r}")
    head = first * 40 + second
    rest = oid[2:]
    if head < 0x80 and all(0 <= a < 0x80 for a in rest):
        return bytes((head, *rest))
    for a in rest:
        if not 0 <= a <= _SUBID_MAX:
            raise ValueError(f"sub-identifier out of range: {oid!r}")
    return b"".join(_subid(a) for a in (head, *rest))


def encode_oid(oid: OID) -> bytes:
    return tlv(smi.OBJECT_IDENTIFIER, oid_content(oid))


def decode_oid(data: bytes) -> OID:
    """The OID of content octets ``data``; BerError unless canonical (X.690 8.19)."""
    if not data or data[-1] & 0x80:
        raise BerError("empty or truncated OID")
    if max(data) < 0x80:  # every sub-identifier is one octet: the usual case
        head = data[0]
        first = 2 if head >= 80 else head // 40
        return (first, head - 40 * first, *data[1:])
    arcs: list[int] = []
    value = 0
    fresh = True
    for b in data:
        if fresh and b == 0x80:
            raise BerError("non-minimal sub-identifier")
        value = (value << 7) | (b & 0x7F)
        fresh = not b & 0x80
        if fresh:
            arcs.append(value)
            value = 0
    head = arcs[0]
    first = 2 if head >= 80 else head // 40
    out = (first, head - 40 * first, *arcs[1:])
    if any(a > _SUBID_MAX for a in out):
        raise BerError("sub-identifier out of range")
    return out


# -- values --------------------------------------------------------------------------------------
def _unsigned(tag: int, limit: int, value: int) -> bytes:
    if not 0 <= value <= limit:
        raise ValueError(f"{type(value).__name__} out of range: {value}")
    return tlv(tag, integer_content(value))


def _integer32(value: int) -> bytes:
    if not INT32_MIN <= value <= INT32_MAX:
        raise ValueError(f"Integer32 out of range: {value}")
    return tlv(smi.INTEGER, integer_content(value))


def _octets(value: bytes) -> bytes:
    if len(value) > _OCTETS_MAX:
        raise ValueError(f"OCTET STRING too long: {len(value)}")
    return tlv(smi.OCTET_STRING, value)


def _ip(value: bytes) -> bytes:
    if len(value) != 4:
        raise ValueError(f"IpAddress is 4 octets: {value!r}")
    return b"\x40\x04" + value


def _oid_value(value: OID) -> bytes:
    return encode_oid(value)


_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    smi.Integer32: _integer32,
    smi.Counter32: partial(_unsigned, smi.COUNTER32, _U32_MAX),
    smi.Gauge32: partial(_unsigned, smi.GAUGE32, _U32_MAX),
    smi.Unsigned32: partial(_unsigned, smi.GAUGE32, _U32_MAX),
    smi.TimeTicks: partial(_unsigned, smi.TIMETICKS, _U32_MAX),
    smi.Counter64: partial(_unsigned, smi.COUNTER64, _U64_MAX),
    smi.OctetString: _octets,
    smi.Bits: _octets,
    smi.IpAddress: _ip,
    smi.ObjectIdentifier: _oid_value,
}


def encode_value(value: smi.Value) -> bytes:
    """The TLV of an SMI value; ValueError if it is out of its type's range."""
    return _ENCODERS[type(value)](value)


def encode_varbind(name_tlv: bytes, value_tlv: bytes) -> bytes:
    return tlv(smi.SEQUENCE, name_tlv + value_tlv)


def encode_response(
    version: int,
    community: bytes,
    request_id: int,
    error_status: int,
    error_index: int,
    varbinds: bytes,
) -> bytes:
    """A GetResponse message; ``varbinds`` is the concatenation of encoded varbinds."""
    pdu = b"".join(
        (
            encode_integer(request_id),
            encode_integer(error_status),
            encode_integer(error_index),
            tlv(smi.SEQUENCE, varbinds),
        )
    )
    return tlv(
        smi.SEQUENCE,
        b"".join((encode_integer(version), tlv(smi.OCTET_STRING, community), tlv(RESPONSE, pdu))),
    )


def response_size(community: int, request_id: int, varbinds: int) -> int:
    """The size of :func:`encode_response`'s message with error-status and -index 0, for a
    community of ``community`` octets and ``varbinds`` octets of encoded varbinds."""
    pdu = len(encode_integer(request_id)) + 3 + 3 + tlv_size(varbinds)
    return tlv_size(3 + tlv_size(community) + tlv_size(pdu))


# -- decoding ------------------------------------------------------------------------------------
def _header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the TLV at ``pos``, which must end by ``end``."""
    if pos + 2 > end:
        raise BerError("truncated header")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise BerError("multi-octet tag")
    n = data[pos + 1]
    pos += 2
    if n & 0x80:
        size = n & 0x7F
        if size == 0 or size > 4 or pos + size > end:
            raise BerError("indefinite or oversized length")
        n = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    if pos + n > end:
        raise BerError("truncated content")
    return tag, pos, pos + n


def _expect(data: bytes, pos: int, end: int, tag: int) -> tuple[int, int]:
    got, start, stop = _header(data, pos, end)
    if got != tag:
        raise BerError(f"tag {got:#x}, expected {tag:#x}")
    return start, stop


def _integer(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """(value, next position) of the INTEGER at ``pos``."""
    start, stop = _expect(data, pos, end, smi.INTEGER)
    size = stop - start
    if size == 0 or size > 8:
        raise BerError("empty or oversized INTEGER")
    if size > 1:
        a, b = data[start], data[start + 1]
        if (a == 0 and b < 0x80) or (a == 0xFF and b >= 0x80):
            raise BerError("non-minimal INTEGER")
    return int.from_bytes(data[start:stop], "big", signed=True), stop


def decode_request(data: bytes) -> Request | None:
    """The v1/v2c read request in ``data``, or None if it is anything else (see the module)."""
    try:
        return _decode(data)
    except BerError:
        return None


def _decode(data: bytes) -> Request:
    end = len(data)
    start, stop = _expect(data, 0, end, smi.SEQUENCE)
    if stop != end:
        raise BerError("octets after the message")
    version, pos = _integer(data, start, stop)
    if version not in (V1, V2C):
        raise BerError("not v1/v2c")
    c0, c1 = _expect(data, pos, stop, smi.OCTET_STRING)
    community = data[c0:c1]
    pdu, p0, p1 = _header(data, c1, stop)
    if p1 != stop or pdu not in _REQUESTS or (pdu == GETBULK and version == V1):
        raise BerError("not a read request")
    request_id, pos = _integer(data, p0, p1)
    a, pos = _integer(data, pos, p1)
    b, pos = _integer(data, pos, p1)
    if not INT32_MIN <= request_id <= INT32_MAX:
        raise BerError("request-id out of range")
    if pdu == GETBULK:
        if a < 0 or b < 0 or a > INT32_MAX or b > INT32_MAX:
            raise BerError("non-repeaters or max-repetitions out of range")
    elif a or b:
        raise BerError("error-status or error-index in a request")
    v0, v1 = _expect(data, pos, p1, smi.SEQUENCE)
    if v1 != p1:
        raise BerError("octets after the varbinds")
    names: list[OID] = []
    pos = v0
    while pos < v1:
        b0, b1 = _expect(data, pos, v1, smi.SEQUENCE)
        n0, n1 = _expect(data, b0, b1, smi.OBJECT_IDENTIFIER)
        names.append(decode_oid(data[n0:n1]))
        tag, z0, z1 = _header(data, n1, b1)
        if tag != smi.NULL or z0 != z1 or z1 != b1:
            raise BerError("a varbind value other than NULL")
        pos = b1
    return Request(version, community, pdu, request_id, a, b, tuple(names))

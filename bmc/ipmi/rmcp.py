"""RMCP / ASF / IPMI LAN framing: wire constants and pure byte helpers.

Nothing here does I/O or keeps state. Layouts follow the IPMI v2.0 spec:

* RMCP header (13.1.3): ``06 00 <seq> <class>``; class 06h is ASF, 07h is IPMI.
* ASF presence ping / pong (13.2.3, DSP0136 3.2.4.1).
* IPMI v1.5 session header (13.6): auth type, session sequence, session id,
  [16-byte auth code], message length.
* IPMI v2.0 / RMCP+ session header (13.6): auth type 06h, payload type, session id,
  session sequence, 2-byte payload length, payload, integrity trailer.
* IPMI LAN message (13.8): rsAddr, netFn/rsLUN, chk1, rqAddr, rqSeq/rqLUN, cmd, data, chk2.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final, NamedTuple

RMCP_VERSION: Final = 0x06
RMCP_SEQ_NO_ACK: Final = 0xFF
RMCP_CLASS_ASF: Final = 0x06
RMCP_CLASS_IPMI: Final = 0x07
RMCP_IPMI_HEADER: Final = b"\x06\x00\xff\x07"

ASF_IANA: Final = b"\x00\x00\x11\xbe"
ASF_PING: Final = 0x80
ASF_PONG: Final = 0x40

# Session header authentication type / format byte.
AUTH_NONE: Final = 0x00
AUTH_MD2: Final = 0x01
AUTH_MD5: Final = 0x02
AUTH_PASSWORD: Final = 0x04
AUTH_RMCPP: Final = 0x06  # "format = RMCP+" (IPMI v2.0)

# RMCP+ payload types (13.27.3).
PAYLOAD_IPMI: Final = 0x00
PAYLOAD_SOL: Final = 0x01
PAYLOAD_OEM: Final = 0x02
PAYLOAD_OPEN_SESSION_REQUEST: Final = 0x10
PAYLOAD_OPEN_SESSION_RESPONSE: Final = 0x11
PAYLOAD_RAKP1: Final = 0x12
PAYLOAD_RAKP2: Final = 0x13
PAYLOAD_RAKP3: Final = 0x14
PAYLOAD_RAKP4: Final = 0x15
PAYLOAD_ENCRYPTED: Final = 0x80
PAYLOAD_AUTHENTICATED: Final = 0x40

BMC_SLAVE_ADDR: Final = 0x20
REMOTE_SWID: Final = 0x81

# RMCP+ / RAKP status codes (table 13-15).
STATUS_OK: Final = 0x00
STATUS_NO_RESOURCES: Final = 0x01
STATUS_INVALID_SESSION_ID: Final = 0x02
STATUS_INVALID_PAYLOAD_TYPE: Final = 0x03
STATUS_INVALID_AUTH_ALGORITHM: Final = 0x04
STATUS_INVALID_INTEGRITY_ALGORITHM: Final = 0x05
STATUS_NO_MATCHING_AUTH_PAYLOAD: Final = 0x06
STATUS_NO_MATCHING_INTEGRITY_PAYLOAD: Final = 0x07
STATUS_INACTIVE_SESSION_ID: Final = 0x08
STATUS_INVALID_ROLE: Final = 0x09
STATUS_UNAUTHORIZED_ROLE: Final = 0x0A
STATUS_NO_RESOURCES_FOR_ROLE: Final = 0x0B
STATUS_INVALID_NAME_LENGTH: Final = 0x0C
STATUS_UNAUTHORIZED_NAME: Final = 0x0D
STATUS_UNAUTHORIZED_GUID: Final = 0x0E
STATUS_INVALID_INTEGRITY_CHECK: Final = 0x0F
STATUS_INVALID_CONFIDENTIALITY_ALGORITHM: Final = 0x10
STATUS_NO_CIPHER_SUITE_MATCH: Final = 0x11
STATUS_ILLEGAL_PARAMETER: Final = 0x12

STATUS_TEXT: Final = {
    0x00: "no errors",
    0x01: "insufficient resources to create a session",
    0x02: "invalid session id",
    0x03: "invalid payload type",
    0x04: "invalid authentication algorithm",
    0x05: "invalid integrity algorithm",
    0x06: "no matching authentication payload",
    0x07: "no matching integrity payload",
    0x08: "inactive session id",
    0x09: "invalid role",
    0x0A: "unauthorized role or privilege level requested",
    0x0B: "insufficient resources to create a session at the requested role",
    0x0C: "invalid name length",
    0x0D: "unauthorized name",
    0x0E: "unauthorized GUID",
    0x0F: "invalid integrity check value",
    0x10: "invalid confidentiality algorithm",
    0x11: "no cipher suite match with proposed security algorithms",
    0x12: "illegal or unrecognized parameter",
}

# Privilege levels.
PRIV_CALLBACK: Final = 1
PRIV_USER: Final = 2
PRIV_OPERATOR: Final = 3
PRIV_ADMINISTRATOR: Final = 4
PRIV_OEM: Final = 5
PRIV_NO_ACCESS: Final = 0x0F

# NetFn / commands handled by the session layer itself (App netFn, section 22).
NETFN_APP: Final = 0x06
CMD_GET_CHANNEL_AUTH_CAPABILITIES: Final = 0x38
CMD_GET_SESSION_CHALLENGE: Final = 0x39
CMD_ACTIVATE_SESSION: Final = 0x3A
CMD_SET_SESSION_PRIVILEGE: Final = 0x3B
CMD_CLOSE_SESSION: Final = 0x3C
CMD_GET_SESSION_INFO: Final = 0x3D
CMD_GET_CHANNEL_CIPHER_SUITES: Final = 0x54

# IPMI v1.5 "legacy PAD" lengths (13.6 note): add one zero byte to avoid them.
_LEGACY_PAD_LENGTHS: Final = frozenset({56, 84, 112, 128, 156})

_UNPACK_V15 = struct.Struct("<BII").unpack_from  # auth type, seq, session id
_UNPACK_V20 = struct.Struct("<BBIIH").unpack_from  # auth type, payload, sid, seq, len
_PACK_V20 = struct.Struct("<4sBBIIH").pack


def checksum(data: bytes | bytearray | memoryview) -> int:
    """The IPMI 2's-complement checksum: sum(data) + checksum == 0 mod 256."""
    return -sum(data) & 0xFF


class LanMessage(NamedTuple):
    """One IPMI request or response as carried in a LAN payload (13.8)."""

    rs_addr: int
    netfn: int
    rs_lun: int
    rq_addr: int
    rq_seq: int
    rq_lun: int
    cmd: int
    data: bytes


def parse_lan_message(msg: bytes | memoryview) -> LanMessage | None:
    """Parse and checksum-verify an IPMI LAN message; None when malformed."""
    if len(msg) < 7:
        return None
    if (msg[0] + msg[1] + msg[2]) & 0xFF:
        return None
    if sum(msg[3:]) & 0xFF:
        return None
    b1 = msg[1]
    b4 = msg[4]
    return LanMessage(msg[0], b1 >> 2, b1 & 3, msg[3], b4 >> 2, b4 & 3, msg[5], bytes(msg[6:-1]))


def build_lan_response(req: LanMessage, cc: int, data: bytes = b"") -> bytes:
    """The response message to ``req`` (netFn | 1, addresses swapped, checksums)."""
    h0 = req.rq_addr
    h1 = ((req.netfn | 1) << 2) | req.rq_lun
    body = bytes((req.rs_addr, (req.rq_seq << 2) | req.rs_lun, req.cmd, cc)) + data
    return bytes((h0, h1, -(h0 + h1) & 0xFF)) + body + bytes((-sum(body) & 0xFF,))


def build_lan_request(
    netfn: int, cmd: int, data: bytes, rq_seq: int, *, rs_addr: int = BMC_SLAVE_ADDR, lun: int = 0
) -> bytes:
    """A request message from the remote console software id (81h)."""
    h1 = (netfn << 2) | lun
    body = bytes((REMOTE_SWID, (rq_seq & 0x3F) << 2, cmd)) + data
    return bytes((rs_addr, h1, -(rs_addr + h1) & 0xFF)) + body + bytes((-sum(body) & 0xFF,))


# --------------------------------------------------------------------------- ASF


def asf_pong_for(packet: bytes) -> bytes | None:
    """The presence pong answering an ASF presence ping, or None if not a ping."""
    if len(packet) < 12 or packet[3] != RMCP_CLASS_ASF or packet[4:8] != ASF_IANA:
        return None
    if packet[8] != ASF_PING:
        return None
    tag = packet[9]
    return (
        bytes((RMCP_VERSION, 0, packet[2], RMCP_CLASS_ASF))
        + ASF_IANA
        + bytes((ASF_PONG, tag, 0x00, 0x10))
        + ASF_IANA  # OEM IANA: none, ASF
        + b"\x00\x00\x00\x00"  # OEM defined
        + b"\x81"  # supported entities: IPMI supported, ASF 1.0
        + b"\x00"  # supported interactions
        + b"\x00" * 6
    )


def asf_ping(tag: int = 0) -> bytes:
    return bytes((RMCP_VERSION, 0, 0xFF, RMCP_CLASS_ASF)) + ASF_IANA + bytes((ASF_PING, tag, 0, 0))


# --------------------------------------------------------------------------- v1.5


@dataclass(frozen=True, slots=True)
class V15Packet:
    auth_type: int
    seq: int
    session_id: int
    auth_code: bytes  # b"" when auth_type is none
    message: bytes


def parse_v15(packet: bytes) -> V15Packet | None:
    """Parse an RMCP + IPMI v1.5 session packet; None when malformed."""
    if len(packet) < 14:
        return None
    auth_type, seq, sid = _UNPACK_V15(packet, 4)
    if auth_type == AUTH_NONE:
        off = 13
        code = b""
    elif auth_type in (AUTH_MD2, AUTH_MD5, AUTH_PASSWORD):
        off = 29
        if len(packet) < 30:
            return None
        code = packet[13:29]
    else:
        return None
    length = packet[off]
    msg = packet[off + 1 : off + 1 + length]
    if len(msg) != length:
        return None
    return V15Packet(auth_type, seq, sid, code, msg)


def build_v15(auth_type: int, seq: int, session_id: int, auth_code: bytes, message: bytes) -> bytes:
    out = (
        RMCP_IPMI_HEADER
        + struct.pack("<BII", auth_type, seq, session_id)
        + auth_code
        + bytes((len(message),))
        + message
    )
    if len(out) in _LEGACY_PAD_LENGTHS:
        out += b"\x00"
    return out


# --------------------------------------------------------------------------- v2.0


def parse_v20_header(packet: bytes) -> tuple[int, int, int, int, int] | None:
    """(payload type byte, session id, session seq, payload offset, payload length)."""
    if len(packet) < 16:
        return None
    _, ptype, sid, seq, plen = _UNPACK_V20(packet, 4)
    if ptype & 0x3F == PAYLOAD_OEM:  # OEM explicit: IANA + payload id; unsupported
        return None
    if 16 + plen > len(packet):
        return None
    return ptype, sid, seq, 16, plen


def build_v20_unauthenticated(payload_type: int, session_id: int, payload: bytes) -> bytes:
    return _PACK_V20(RMCP_IPMI_HEADER, AUTH_RMCPP, payload_type, session_id, 0, len(payload)) + (
        payload
    )


def v20_header(payload_type: int, session_id: int, seq: int, length: int) -> bytes:
    return _PACK_V20(RMCP_IPMI_HEADER, AUTH_RMCPP, payload_type, session_id, seq, length)


def integrity_pad(body_len: int) -> bytes:
    """Integrity pad + pad length + next header (07h) for a session body of ``body_len``.

    ``body_len`` counts from the auth-type byte through the end of the payload; the
    result makes (body + pad + 2) a multiple of 4 (13.28.4).
    """
    n = (-(body_len + 2)) & 3
    return b"\xff" * n + bytes((n, 0x07))

"""Server-side IPMI LAN session layer: one asyncio datagram endpoint per BMC address.

The endpoint owns RMCP framing, ASF presence ping, RMCP+ session establishment (Open
Session, RAKP 1-4 with cipher suites 3 and 17), optional IPMI v1.5 MD5 sessions, packet
integrity/confidentiality and sequence windows, and the few App commands that belong to
the session layer (Get Channel Authentication Capabilities, Get Channel Cipher Suites,
Get Session Challenge, Activate Session, Set Session Privilege Level, Close Session, Get
Session Info). Every other command becomes a :class:`Request` handed to the
:class:`IpmiBackend`, which answers with a completion code and data.

Rules this module keeps:

* nothing raised while handling a datagram escapes ``datagram_received``; malformed or
  unauthenticated input is dropped (debug log) or answered with the status a BMC gives;
* sessions are keyed by ``(remote address, BMC session id)`` inside one endpoint; session
  ids are random per endpoint; pending handshakes count against ``max_sessions``;
* expiry is lazy and uses real loop time, never the emulated clock;
* passwords, keys and auth codes are never logged.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol, cast

from bmc.ipmi import codes, crypto, rmcp
from bmc.ipmi.crypto import CipherSuite, SessionCrypto
from bmc.ipmi.rmcp import LanMessage

log = logging.getLogger("bmc.ipmi")

Address = tuple[Any, ...]  # (host, port) for IPv4, 4-tuple for IPv6

# ------------------------------------------------------------------ backend contract


@dataclass(frozen=True)
class Credential:
    user_id: int  # 1..N slot in the BMC user table
    name: bytes
    password: bytes  # the K_UID key, up to 20 bytes
    max_privilege: int  # 1 callback, 2 user, 3 operator, 4 administrator, 0x0F no access
    enabled: bool


@dataclass(frozen=True, slots=True)
class Request:
    netfn: int
    cmd: int
    lun: int
    data: bytes
    privilege: int  # current session privilege level
    user_id: int
    session_id: int
    remote: tuple[str, int]
    rq_addr: int = rmcp.REMOTE_SWID
    rs_addr: int = rmcp.BMC_SLAVE_ADDR


class IpmiBackend(Protocol):
    def answering(self) -> bool:
        """False: silently drop every packet (BMC resetting or unreachable)."""
        ...

    def system_guid(self) -> bytes:
        """16 bytes, used in RAKP."""
        ...

    def credential(self, name: bytes) -> Credential | None:
        """By user name; None if unknown."""
        ...

    def credential_by_privilege(self, privilege: int) -> Credential | None:
        """For a null user name: first enabled user whose max privilege is >= privilege."""
        ...

    def login_failed(self, user_id: int) -> None:
        """A RAKP handshake proved the wrong password (counts towards the lockout)."""
        ...

    def login_succeeded(self, user_id: int) -> None:
        """A RAKP handshake completed (clears the failure count)."""
        ...

    def dispatch(self, request: Request) -> tuple[int, bytes]:
        """Completion code and response data."""
        ...


@dataclass(frozen=True)
class EndpointOptions:
    max_sessions: int = 32
    idle_timeout: float = 60.0  # seconds of real (loop) time
    handshake_timeout: float = 10.0  # an unfinished Open Session / RAKP / challenge
    lan_channel: int = 1
    kg: bytes | None = None  # BMC key K_G; None means K_UID is used (13.31)
    cipher_suites: tuple[int, ...] = (3, 17)
    ipmi15: bool = True  # accept IPMI v1.5 sessions with MD5 authentication


# ------------------------------------------------------------------ session state

_OPENED: Final = 1  # Open Session Response sent, waiting for RAKP1
_RAKP2_SENT: Final = 2  # waiting for RAKP3
_CHALLENGED: Final = 3  # v1.5: Get Session Challenge answered, waiting for Activate Session
_ACTIVE: Final = 4

_SEQ_WINDOW: Final = 32
_SEQ_MASK: Final = (1 << _SEQ_WINDOW) - 1
_CHALLENGE_MD5: Final = rmcp.AUTH_MD5


class _Session:
    """Mutable state of one session or pending handshake (internal)."""

    __slots__ = (
        "bmc_sid",
        "challenge",
        "console_sid",
        "cred",
        "crypto",
        "handle",
        "last_seen",
        "max_priv",
        "open_reply",
        "out_seq",
        "privilege",
        "rakp3",
        "rakp4_reply",
        "rakp_name",
        "rc",
        "remote",
        "rm",
        "role_byte",
        "seen_high",
        "seen_mask",
        "state",
        "suite",
        "v15",
    )

    def __init__(self, remote: Address, bmc_sid: int, now: float) -> None:
        self.remote = remote
        self.bmc_sid = bmc_sid
        self.console_sid = 0
        self.state = _OPENED
        self.suite: CipherSuite | None = None
        self.cred: Credential | None = None
        self.crypto: SessionCrypto | None = None
        self.handle = 0
        self.last_seen = now
        self.max_priv = 0
        self.privilege = 0
        self.open_reply = b""
        self.rakp3 = b""
        self.rakp4_reply = b""
        self.rakp_name = b""  # the user name exactly as sent in RAKP1
        self.rm = b""
        self.rc = b""
        self.role_byte = 0
        self.out_seq = 0
        self.seen_high = 0
        self.seen_mask = 0
        self.challenge = b""
        self.v15 = False

    def accept_seq(self, seq: int) -> bool:
        """Sliding-window replay check: new numbers up to 32 ahead, unseen ones 32 behind."""
        high = self.seen_high
        if seq > high:
            shift = seq - high
            if shift > _SEQ_WINDOW and high != 0:
                return False
            self.seen_mask = ((self.seen_mask << shift) | 1) & _SEQ_MASK
            self.seen_high = seq
            return True
        back = high - seq
        if seq == 0 or back >= _SEQ_WINDOW or self.seen_mask >> back & 1:
            return False
        self.seen_mask |= 1 << back
        return True


# ------------------------------------------------------------------ the endpoint

_UNPACK_V20: Final = struct.Struct("<BBIIH").unpack_from
_U32: Final = struct.Struct("<I")


def _name(cred: Credential | None) -> str:
    return cred.name.decode("utf-8", "replace") if cred is not None else "?"


def _fmt(addr: Address) -> str:
    return f"{addr[0]}:{addr[1]}" if len(addr) >= 2 else str(addr)


class IpmiEndpoint(asyncio.DatagramProtocol):
    """The IPMI LAN interface of one BMC: bind one per address (see :func:`serve_ipmi`)."""

    def __init__(
        self,
        backend: IpmiBackend,
        device: str,
        options: EndpointOptions | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._backend = backend
        self.device = device
        self.options = options or EndpointOptions()
        self._suites = {
            s.suite_id: s for n in self.options.cipher_suites if (s := crypto.SUITES.get(n))
        }
        self._clock = clock
        self._transport: asyncio.DatagramTransport | None = None
        self._sessions: dict[tuple[Address, int], _Session] = {}
        self._by_sid: dict[int, _Session] = {}
        self._next_handle = 0

    # -- asyncio plumbing

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)
        if self._clock is None:
            self._clock = asyncio.get_running_loop().time

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self.drop_sessions()

    def error_received(self, exc: Exception) -> None:
        log.debug("node=%s proto=ipmi event=socket.error error=%r", self.device, exc)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        try:
            reply = self.process(data, addr)
            if reply is not None and self._transport is not None:
                self._transport.sendto(reply, addr)
        except Exception:
            log.debug(
                "node=%s proto=ipmi event=packet.error remote=%s",
                self.device,
                _fmt(addr),
                exc_info=True,
            )

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # -- public state

    @property
    def session_count(self) -> int:
        """Sessions and pending handshakes currently held (expired ones purged first)."""
        self._purge_expired()
        return len(self._sessions)

    def drop_sessions(self) -> int:
        """Forget every session (BMC reset); returns how many were dropped."""
        n = len(self._sessions)
        self._sessions.clear()
        self._by_sid.clear()
        if n:
            log.info("node=%s proto=ipmi event=sessions.dropped count=%d", self.device, n)
        return n

    # -- packet entry point

    def process(self, data: bytes, addr: Address) -> bytes | None:
        """Handle one datagram and return the datagram to send back, if any."""
        if len(data) < 5 or data[0] != rmcp.RMCP_VERSION:
            return None
        if not self._backend.answering():
            return None
        cls = data[3] & 0x1F  # bit 7 is the ACK flag
        if cls == rmcp.RMCP_CLASS_IPMI:
            if data[4] == rmcp.AUTH_RMCPP:
                return self._v20(data, addr)
            return self._v15(data, addr)
        if cls == rmcp.RMCP_CLASS_ASF:
            return rmcp.asf_pong_for(data)
        return None

    def _now(self) -> float:
        clock = self._clock
        return clock() if clock is not None else 0.0

    def _drop(self, addr: Address, why: str) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "node=%s proto=ipmi event=packet.dropped remote=%s reason=%s",
                self.device,
                _fmt(addr),
                why,
            )

    # ------------------------------------------------------------------ IPMI v2.0

    def _v20(self, data: bytes, addr: Address) -> bytes | None:
        if len(data) < 16:
            self._drop(addr, "short")
            return None
        _, ptype, sid, seq, plen = _UNPACK_V20(data, 4)
        if 16 + plen > len(data):
            self._drop(addr, "bad_length")
            return None
        kind = ptype & 0x3F
        if sid == 0:
            if ptype & 0xC0:
                self._drop(addr, "protected_presession")
                return None
            payload = data[16 : 16 + plen]
            if kind == rmcp.PAYLOAD_OPEN_SESSION_REQUEST:
                return self._open_session(payload, addr)
            if kind == rmcp.PAYLOAD_RAKP1:
                return self._rakp1(payload, addr)
            if kind == rmcp.PAYLOAD_RAKP3:
                return self._rakp3(payload, addr)
            if kind == rmcp.PAYLOAD_IPMI:
                msg = rmcp.parse_lan_message(payload)
                if msg is None:
                    self._drop(addr, "bad_message")
                    return None
                out = self._presession_command(msg, v15=False)
                if out is None:
                    return None
                return rmcp.build_v20_unauthenticated(rmcp.PAYLOAD_IPMI, 0, out)
            self._drop(addr, "presession_payload")
            return None
        return self._v20_in_session(data, addr, ptype, sid, seq, plen)

    def _v20_in_session(
        self, data: bytes, addr: Address, ptype: int, sid: int, seq: int, plen: int
    ) -> bytes | None:
        s = self._sessions.get((addr, sid))
        if s is None or s.state != _ACTIVE or s.v15:
            self._drop(addr, "unknown_session")
            return None
        now = self._now()
        if self._expired(s, now):
            self._expire(s)
            self._drop(addr, "expired_session")
            return None
        if ptype != (rmcp.PAYLOAD_ENCRYPTED | rmcp.PAYLOAD_AUTHENTICATED | rmcp.PAYLOAD_IPMI):
            self._drop(addr, "payload_type")
            return None
        c = s.crypto
        assert c is not None
        end = len(data) - c.integrity_len
        if end < 18 + plen or data[end - 1] != 0x07 or 18 + plen + data[end - 2] != end:
            self._drop(addr, "bad_trailer")
            return None
        view = memoryview(data)
        if not c.verify(view[4:end], view[end:]):
            self._drop(addr, "bad_auth_code")
            return None
        if not s.accept_seq(seq):
            self._drop(addr, "replay")
            return None
        plain = c.decrypt(view[16 : 16 + plen])
        if plain is None:
            self._drop(addr, "bad_ciphertext")
            return None
        msg = rmcp.parse_lan_message(plain)
        if msg is None or msg.netfn & 1:
            self._drop(addr, "bad_message")
            return None
        s.last_seen = now
        out = self._session_command(s, msg, addr)
        body = self._seal_v20(s, out)
        if s.state != _ACTIVE:  # closed by this very request
            self._forget(s)
        return body

    def _seal_v20(self, session: _Session, message: bytes) -> bytes:
        c = session.crypto
        assert c is not None
        enc = c.encrypt(message)
        session.out_seq = (session.out_seq + 1) & 0xFFFFFFFF or 1
        head = rmcp.v20_header(0xC0, session.console_sid, session.out_seq, len(enc)) + enc
        head += rmcp.integrity_pad(len(head) - 4)
        return head + c.sign(memoryview(head)[4:])

    # -- RMCP+ open session / RAKP

    def _new_session(self, addr: Address) -> _Session | None:
        if len(self._sessions) >= self.options.max_sessions:
            self._purge_expired()
        if len(self._sessions) >= self.options.max_sessions:
            # Full: a handshake still pending gives way (oldest first), so a flood of
            # Open Session Requests cannot lock out consoles; active sessions never do.
            pending = [x for x in self._sessions.values() if x.state != _ACTIVE]
            if not pending:
                return None
            self._forget(min(pending, key=_last_seen))
        while True:
            sid = int.from_bytes(os.urandom(4), "little")
            if sid and sid not in self._by_sid:
                break
        s = _Session(addr, sid, self._now())
        self._sessions[(addr, sid)] = s
        self._by_sid[sid] = s
        return s

    def _open_session(self, packet: bytes, addr: Address) -> bytes | None:
        if len(packet) < 32:
            self._drop(addr, "short_open_session")
            return None
        tag = packet[0]
        console_sid = _U32.unpack_from(packet, 4)[0]

        def fail(status: int) -> bytes:
            log.info(
                "node=%s proto=ipmi event=session.rejected remote=%s stage=open status=0x%02x",
                self.device,
                _fmt(addr),
                status,
            )
            reply = bytes((tag, status, 0, 0)) + packet[4:8]
            return rmcp.build_v20_unauthenticated(rmcp.PAYLOAD_OPEN_SESSION_RESPONSE, 0, reply)

        role = packet[1] & 0x0F
        if role > rmcp.PRIV_OEM:
            return fail(rmcp.STATUS_INVALID_ROLE)
        if console_sid == 0:
            return fail(rmcp.STATUS_INVALID_SESSION_ID)
        if packet[8] != 0x00 or packet[16] != 0x01 or packet[24] != 0x02:
            return fail(rmcp.STATUS_ILLEGAL_PARAMETER)
        auth, integ, conf = packet[12] & 0x3F, packet[20] & 0x3F, packet[28] & 0x3F
        if auth not in crypto.KNOWN_AUTH:
            return fail(rmcp.STATUS_INVALID_AUTH_ALGORITHM)
        if integ not in crypto.KNOWN_INTEGRITY:
            return fail(rmcp.STATUS_INVALID_INTEGRITY_ALGORITHM)
        if conf not in crypto.KNOWN_CONFIDENTIALITY:
            return fail(rmcp.STATUS_INVALID_CONFIDENTIALITY_ALGORITHM)
        suite = crypto.suite_for(auth, integ, conf)
        if suite is None or suite.suite_id not in self._suites:
            return fail(rmcp.STATUS_NO_CIPHER_SUITE_MATCH)
        # A retransmitted request gets the same answer, not a second session.
        for old in self._sessions.values():
            if (
                old.state == _OPENED
                and old.remote == addr
                and old.console_sid == console_sid
                and old.open_reply
            ):
                return old.open_reply
        s = self._new_session(addr)
        if s is None:
            return fail(rmcp.STATUS_NO_RESOURCES)
        s.console_sid = console_sid
        s.suite = suite
        s.max_priv = role or rmcp.PRIV_ADMINISTRATOR
        reply = (
            bytes((tag, 0, s.max_priv, 0))
            + packet[4:8]
            + _U32.pack(s.bmc_sid)
            + bytes((0, 0, 0, 8, auth, 0, 0, 0))
            + bytes((1, 0, 0, 8, integ, 0, 0, 0))
            + bytes((2, 0, 0, 8, conf, 0, 0, 0))
        )
        s.open_reply = rmcp.build_v20_unauthenticated(rmcp.PAYLOAD_OPEN_SESSION_RESPONSE, 0, reply)
        return s.open_reply

    def _rakp1(self, packet: bytes, addr: Address) -> bytes | None:
        if len(packet) < 28:
            self._drop(addr, "short_rakp1")
            return None
        tag = packet[0]
        bmc_sid = _U32.unpack_from(packet, 4)[0]
        s = self._pending(addr, bmc_sid)

        def fail(status: int, console_sid: int, user: str = "?") -> bytes:
            log.info(
                "node=%s proto=ipmi event=auth.failed remote=%s stage=rakp1 user=%s "
                "status=0x%02x reason=%s",
                self.device,
                _fmt(addr),
                user,
                status,
                rmcp.STATUS_TEXT.get(status, "?").replace(" ", "_"),
            )
            if s is not None and s.state != _ACTIVE:
                self._forget(s)
            reply = bytes((tag, status, 0, 0)) + _U32.pack(console_sid)
            return rmcp.build_v20_unauthenticated(rmcp.PAYLOAD_RAKP2, 0, reply)

        if s is None or s.state not in (_OPENED, _RAKP2_SENT) or s.v15:
            return fail(rmcp.STATUS_INVALID_SESSION_ID, 0)
        assert s.suite is not None
        name_len = packet[27]
        name = packet[28 : 28 + name_len]
        shown = name.decode("utf-8", "replace")
        if name_len > 16 or len(name) != name_len:
            return fail(rmcp.STATUS_INVALID_NAME_LENGTH, s.console_sid)
        role_byte = packet[24]
        role = role_byte & 0x0F
        if not rmcp.PRIV_CALLBACK <= role <= rmcp.PRIV_OEM or role_byte & 0xE0:
            return fail(rmcp.STATUS_INVALID_ROLE, s.console_sid, shown)
        if name or role_byte & 0x10:  # name-only lookup, or a name was given
            cred = self._backend.credential(name)
        else:  # null name, name+privilege lookup
            cred = self._backend.credential_by_privilege(role)
        if cred is None or not cred.enabled or not 1 <= cred.max_privilege <= 5:
            return fail(rmcp.STATUS_UNAUTHORIZED_NAME, s.console_sid, shown)
        if role > cred.max_privilege or role > s.max_priv:
            return fail(rmcp.STATUS_UNAUTHORIZED_ROLE, s.console_sid, shown)
        s.cred = cred
        s.rm = packet[8:24]
        s.rakp_name = name
        s.rc = os.urandom(16)
        s.role_byte = role_byte
        s.state = _RAKP2_SENT
        s.last_seen = self._now()
        guid = self._guid()
        code = crypto.rakp2_auth_code(
            s.suite, cred.password, s.console_sid, s.bmc_sid, s.rm, s.rc, guid, role_byte, name
        )
        reply = bytes((tag, 0, 0, 0)) + _U32.pack(s.console_sid) + s.rc + guid + code
        return rmcp.build_v20_unauthenticated(rmcp.PAYLOAD_RAKP2, 0, reply)

    def _guid(self) -> bytes:
        guid = bytes(self._backend.system_guid())
        return guid[:16].ljust(16, b"\x00")

    def _rakp3(self, packet: bytes, addr: Address) -> bytes | None:
        if len(packet) < 8:
            self._drop(addr, "short_rakp3")
            return None
        tag = packet[0]
        bmc_sid = _U32.unpack_from(packet, 4)[0]
        s = self._pending(addr, bmc_sid)

        def reply(status: int, console_sid: int, icv: bytes = b"") -> bytes:
            body = bytes((tag, status, 0, 0)) + _U32.pack(console_sid) + icv
            return rmcp.build_v20_unauthenticated(rmcp.PAYLOAD_RAKP4, 0, body)

        if s is not None and s.state == _ACTIVE and not s.v15:
            if s.rakp3 == packet:  # retransmitted RAKP3: the RAKP4 was lost
                return s.rakp4_reply
            self._drop(addr, "rakp3_on_active")
            return None
        if s is None or s.state != _RAKP2_SENT:
            return reply(rmcp.STATUS_INVALID_SESSION_ID, 0)
        suite, cred = s.suite, s.cred
        assert suite is not None and cred is not None
        if packet[1] != 0:  # the console rejected our RAKP2; it gives up too
            log.info(
                "node=%s proto=ipmi event=session.aborted remote=%s user=%s status=0x%02x",
                self.device,
                _fmt(addr),
                _name(cred),
                packet[1],
            )
            if packet[1] == rmcp.STATUS_INVALID_INTEGRITY_CHECK:  # our RAKP2 HMAC: its password
                self._backend.login_failed(cred.user_id)
            self._forget(s)
            return None
        name = s.rakp_name
        expected = crypto.rakp3_auth_code(
            suite, cred.password, s.rc, s.console_sid, s.role_byte, name
        )
        if not hmac.compare_digest(expected, packet[8:]):
            log.info(
                "node=%s proto=ipmi event=auth.failed remote=%s stage=rakp3 user=%s "
                "status=0x0f reason=invalid_integrity_check_value",
                self.device,
                _fmt(addr),
                _name(cred),
            )
            self._forget(s)
            self._backend.login_failed(cred.user_id)
            return reply(rmcp.STATUS_INVALID_INTEGRITY_CHECK, s.console_sid)
        self._backend.login_succeeded(cred.user_id)
        kg = self.options.kg or cred.password
        sik = crypto.session_integrity_key(suite, kg, s.rm, s.rc, s.role_byte, name)
        icv = crypto.rakp4_icv(suite, sik, s.rm, s.bmc_sid, self._guid())
        s.crypto = SessionCrypto(suite, sik)
        s.max_priv = min(s.role_byte & 0x0F, cred.max_privilege)
        s.privilege = min(s.max_priv, rmcp.PRIV_USER)
        s.handle = self._allocate_handle()
        s.state = _ACTIVE
        s.last_seen = self._now()
        s.rakp3 = packet
        s.rakp4_reply = reply(0, s.console_sid, icv)
        log.info(
            "node=%s proto=ipmi event=session.opened user=%s suite=%d remote=%s sid=0x%08x "
            "max_priv=%d",
            self.device,
            _name(cred),
            suite.suite_id,
            _fmt(addr),
            s.bmc_sid,
            s.max_priv,
        )
        return s.rakp4_reply

    # ------------------------------------------------------------------ IPMI v1.5

    def _v15(self, data: bytes, addr: Address) -> bytes | None:
        pkt = rmcp.parse_v15(data)
        if pkt is None:
            self._drop(addr, "bad_v15")
            return None
        if pkt.session_id == 0:
            if pkt.auth_type != rmcp.AUTH_NONE:
                self._drop(addr, "v15_presession_auth")
                return None
            msg = rmcp.parse_lan_message(pkt.message)
            if msg is None:
                self._drop(addr, "bad_message")
                return None
            out: bytes | None
            if (
                msg.netfn == rmcp.NETFN_APP
                and msg.cmd == rmcp.CMD_GET_SESSION_CHALLENGE
                and self.options.ipmi15
            ):
                out = self._get_session_challenge(msg, addr)
            else:
                out = self._presession_command(msg, v15=True)
            if out is None:
                return None
            return rmcp.build_v15(rmcp.AUTH_NONE, 0, 0, b"", out)
        s = self._sessions.get((addr, pkt.session_id))
        if s is None or not s.v15:
            self._drop(addr, "unknown_session")
            return None
        cred = s.cred
        assert cred is not None
        if pkt.auth_type != rmcp.AUTH_MD5:
            self._drop(addr, "v15_auth_type")
            return None
        code = crypto.md5_auth_code(cred.password, s.bmc_sid, pkt.message, pkt.seq)
        if not hmac.compare_digest(code, pkt.auth_code):
            self._drop(addr, "bad_auth_code")
            return None
        msg = rmcp.parse_lan_message(pkt.message)
        if msg is None or msg.netfn & 1:
            self._drop(addr, "bad_message")
            return None
        now = self._now()
        if self._expired(s, now):
            self._expire(s)
            self._drop(addr, "expired_session")
            return None
        if s.state == _CHALLENGED:
            if msg.netfn != rmcp.NETFN_APP or msg.cmd != rmcp.CMD_ACTIVATE_SESSION:
                self._drop(addr, "not_activated")
                return None
            out = self._activate_session(s, msg, pkt.seq, addr)
            # The Activate Session response carries the console's initial outbound
            # sequence number; later responses count up from it.
            seq = 0
            if s.state == _ACTIVE:
                seq = s.out_seq
                s.out_seq = (seq + 1) & 0xFFFFFFFF or 1
            else:
                self._forget(s)
            code = crypto.md5_auth_code(cred.password, s.bmc_sid, out, seq)
            return rmcp.build_v15(rmcp.AUTH_MD5, seq, s.bmc_sid, code, out)
        if not s.accept_seq(pkt.seq):
            self._drop(addr, "replay")
            return None
        s.last_seen = now
        out = self._session_command(s, msg, addr)
        seq = s.out_seq
        s.out_seq = (seq + 1) & 0xFFFFFFFF or 1
        reply = rmcp.build_v15(
            rmcp.AUTH_MD5,
            seq,
            s.bmc_sid,
            crypto.md5_auth_code(cred.password, s.bmc_sid, out, seq),
            out,
        )
        if s.state != _ACTIVE:
            self._forget(s)
        return reply

    def _get_session_challenge(self, msg: LanMessage, addr: Address) -> bytes:
        d = msg.data
        if len(d) < 17:
            return rmcp.build_lan_response(msg, codes.CC_REQUEST_DATA_LENGTH_INVALID)
        if d[0] & 0x0F != rmcp.AUTH_MD5:
            return rmcp.build_lan_response(msg, codes.CC_INVALID_DATA_FIELD)
        name = d[1:17].rstrip(b"\x00")
        cred = self._backend.credential(name)
        if cred is None or not cred.enabled or not 1 <= cred.max_privilege <= 5:
            log.info(
                "node=%s proto=ipmi event=auth.failed remote=%s stage=challenge user=%s "
                "reason=unauthorized_name",
                self.device,
                _fmt(addr),
                name.decode("utf-8", "replace"),
            )
            return rmcp.build_lan_response(
                msg, codes.CC_NULL_USER_NAME_DISABLED if not name else codes.CC_INVALID_USER_NAME
            )
        s = self._new_session(addr)
        if s is None:
            return rmcp.build_lan_response(msg, codes.CC_NODE_BUSY)
        s.v15 = True
        s.state = _CHALLENGED
        s.cred = cred
        s.challenge = os.urandom(16)
        return rmcp.build_lan_response(msg, 0, _U32.pack(s.bmc_sid) + s.challenge)

    def _activate_session(
        self, session: _Session, msg: LanMessage, seq: int, addr: Address
    ) -> bytes:
        d = msg.data
        cred = session.cred
        assert cred is not None
        if len(d) < 22:
            return rmcp.build_lan_response(msg, codes.CC_REQUEST_DATA_LENGTH_INVALID)
        if d[0] & 0x0F != rmcp.AUTH_MD5 or not hmac.compare_digest(d[2:18], session.challenge):
            return rmcp.build_lan_response(msg, codes.CC_INVALID_DATA_FIELD)
        role = d[1] & 0x0F
        if not rmcp.PRIV_CALLBACK <= role <= rmcp.PRIV_OEM:
            return rmcp.build_lan_response(msg, codes.CC_INVALID_DATA_FIELD)
        if role > cred.max_privilege:
            return rmcp.build_lan_response(msg, codes.CC_PRIVILEGE_EXCEEDS_LIMIT)
        session.out_seq = _U32.unpack_from(d, 18)[0] or 1
        inbound = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF or 1
        session.seen_high = inbound - 1
        session.seen_mask = 0
        session.max_priv = role
        session.privilege = min(role, rmcp.PRIV_USER)
        session.handle = self._allocate_handle()
        session.state = _ACTIVE
        session.last_seen = self._now()
        log.info(
            "node=%s proto=ipmi event=session.opened user=%s suite=v1.5-md5 remote=%s "
            "sid=0x%08x max_priv=%d",
            self.device,
            _name(cred),
            _fmt(addr),
            session.bmc_sid,
            role,
        )
        data = (
            bytes((rmcp.AUTH_MD5,))
            + _U32.pack(session.bmc_sid)
            + _U32.pack(inbound)
            + bytes((role,))
        )
        return rmcp.build_lan_response(msg, 0, data)

    # ------------------------------------------------------------------ commands

    def _presession_command(self, msg: LanMessage, *, v15: bool) -> bytes | None:
        """Sessionless App commands; None (drop) for anything needing a session."""
        if msg.netfn != rmcp.NETFN_APP or msg.netfn & 1:
            return None
        if msg.cmd == rmcp.CMD_GET_CHANNEL_AUTH_CAPABILITIES:
            return self._auth_capabilities(msg)
        if msg.cmd == rmcp.CMD_GET_CHANNEL_CIPHER_SUITES:
            return self._cipher_suites(msg)
        return None

    def _channel_ok(self, number: int) -> bool:
        return number in (0x0E, self.options.lan_channel)

    def _auth_capabilities(self, msg: LanMessage) -> bytes:
        d = msg.data
        if len(d) < 2:
            return rmcp.build_lan_response(msg, codes.CC_REQUEST_DATA_LENGTH_INVALID)
        priv = d[1] & 0x0F
        if not self._channel_ok(d[0] & 0x0F) or not 1 <= priv <= 5:
            return rmcp.build_lan_response(msg, codes.CC_INVALID_DATA_FIELD)
        extended = bool(d[0] & 0x80)
        auth_types = (0x04 if self.options.ipmi15 else 0) | (0x80 if extended else 0)
        status = 0x04 | (0x20 if self.options.kg else 0)  # non-null user names; K_G set
        support = (0x02 | (0x01 if self.options.ipmi15 else 0)) if extended else 0
        data = bytes((self.options.lan_channel, auth_types, status, support, 0, 0, 0, 0))
        return rmcp.build_lan_response(msg, 0, data)

    def _cipher_suites(self, msg: LanMessage) -> bytes:
        d = msg.data
        if len(d) < 3:
            return rmcp.build_lan_response(msg, codes.CC_REQUEST_DATA_LENGTH_INVALID)
        if not self._channel_ok(d[0] & 0x0F) or d[1] > 1:
            return rmcp.build_lan_response(msg, codes.CC_INVALID_DATA_FIELD)
        suites = self._suites.values()
        if d[2] & 0x80:
            records = b"".join(s.record for s in suites)
        else:
            algs = {s.auth for s in suites} | {0x40 | s.integrity for s in suites}
            algs |= {0x80 | s.confidentiality for s in suites}
            records = bytes(sorted(algs))
        index = d[2] & 0x3F
        chunk = records[16 * index : 16 * index + 16]
        return rmcp.build_lan_response(msg, 0, bytes((self.options.lan_channel,)) + chunk)

    def _session_command(self, session: _Session, msg: LanMessage, addr: Address) -> bytes:
        if msg.netfn == rmcp.NETFN_APP:
            cmd = msg.cmd
            if cmd == rmcp.CMD_SET_SESSION_PRIVILEGE:
                return self._set_privilege(session, msg)
            if cmd == rmcp.CMD_CLOSE_SESSION:
                return self._close_session(session, msg)
            if cmd == rmcp.CMD_GET_SESSION_INFO:
                return self._session_info(session, msg)
            if cmd == rmcp.CMD_GET_CHANNEL_AUTH_CAPABILITIES:
                return self._auth_capabilities(msg)
            if cmd == rmcp.CMD_GET_CHANNEL_CIPHER_SUITES:
                return self._cipher_suites(msg)
        cred = session.cred
        assert cred is not None
        request = Request(
            msg.netfn,
            msg.cmd,
            msg.rs_lun,
            msg.data,
            session.privilege,
            cred.user_id,
            session.bmc_sid,
            (addr[0], addr[1]),
            msg.rq_addr,
            msg.rs_addr,
        )
        try:
            cc, data = self._backend.dispatch(request)
            return rmcp.build_lan_response(msg, cc, bytes(data))
        except Exception:
            log.exception(
                "node=%s proto=ipmi event=dispatch.error netfn=0x%02x cmd=0x%02x",
                self.device,
                msg.netfn,
                msg.cmd,
            )
            return rmcp.build_lan_response(msg, codes.CC_UNSPECIFIED)

    def _set_privilege(self, session: _Session, msg: LanMessage) -> bytes:
        if len(msg.data) < 1:
            return rmcp.build_lan_response(msg, codes.CC_REQUEST_DATA_LENGTH_INVALID)
        level = msg.data[0] & 0x0F
        if level == 0:
            return rmcp.build_lan_response(msg, 0, bytes((session.privilege,)))
        if not rmcp.PRIV_USER <= level <= rmcp.PRIV_OEM:
            return rmcp.build_lan_response(msg, codes.CC_INVALID_DATA_FIELD)
        if level > session.max_priv:
            return rmcp.build_lan_response(msg, codes.CC_PRIVILEGE_NOT_AVAILABLE)
        session.privilege = level
        return rmcp.build_lan_response(msg, 0, bytes((level,)))

    def _close_session(self, session: _Session, msg: LanMessage) -> bytes:
        d = msg.data
        if len(d) < 4:
            return rmcp.build_lan_response(msg, codes.CC_REQUEST_DATA_LENGTH_INVALID)
        sid = _U32.unpack_from(d, 0)[0]
        target: _Session | None
        if sid == 0:
            if len(d) < 5:
                return rmcp.build_lan_response(msg, codes.CC_REQUEST_DATA_LENGTH_INVALID)
            target = next((x for x in self._active() if x.handle == d[4]), None)
            missing = codes.CC_INVALID_SESSION_HANDLE
        else:
            target = self._by_sid.get(sid)
            if target is not None and target.state != _ACTIVE:
                target = None
            missing = codes.CC_INVALID_SESSION_ID
        if target is None:
            return rmcp.build_lan_response(msg, missing)
        if target is not session and session.privilege < rmcp.PRIV_ADMINISTRATOR:
            return rmcp.build_lan_response(msg, codes.CC_INSUFFICIENT_PRIVILEGE)
        log.info(
            "node=%s proto=ipmi event=session.closed user=%s remote=%s sid=0x%08x reason=close",
            self.device,
            _name(target.cred),
            _fmt(target.remote),
            target.bmc_sid,
        )
        if target is session:
            session.state = 0  # the caller seals the reply with s's keys, then forgets it
        else:
            self._forget(target)
        return rmcp.build_lan_response(msg, 0)

    def _session_info(self, session: _Session, msg: LanMessage) -> bytes:
        d = msg.data
        if len(d) < 1:
            return rmcp.build_lan_response(msg, codes.CC_REQUEST_DATA_LENGTH_INVALID)
        self._purge_expired()
        active = self._active()
        index = d[0]
        target: _Session | None
        if index == 0:
            target = session
        elif index == 0xFE:
            if len(d) < 2:
                return rmcp.build_lan_response(msg, codes.CC_REQUEST_DATA_LENGTH_INVALID)
            target = next((x for x in active if x.handle == d[1]), None)
        elif index == 0xFF:
            if len(d) < 5:
                return rmcp.build_lan_response(msg, codes.CC_REQUEST_DATA_LENGTH_INVALID)
            target = next((x for x in active if x.bmc_sid == _U32.unpack_from(d, 1)[0]), None)
        elif index <= 0x3F:
            target = active[index - 1] if index <= len(active) else None
        else:
            return rmcp.build_lan_response(msg, codes.CC_INVALID_DATA_FIELD)
        head = bytes(
            (
                target.handle if target else 0,
                min(self.options.max_sessions, 0x3F),
                min(len(active), 0x3F),
            )
        )
        if target is None or target.cred is None:
            return rmcp.build_lan_response(msg, 0, head)
        try:
            ip = socket.inet_aton(target.remote[0])
        except (OSError, TypeError):
            ip = b"\x00" * 4
        body = (
            bytes(
                (
                    target.cred.user_id & 0x3F,
                    target.privilege & 0x0F,
                    (0x00 if target.v15 else 0x10) | self.options.lan_channel,
                )
            )
            + ip
            + b"\x00" * 6
            + struct.pack("<H", target.remote[1] & 0xFFFF)  # LS-byte first
        )
        return rmcp.build_lan_response(msg, 0, head + body)

    # ------------------------------------------------------------------ bookkeeping

    def _active(self) -> list[_Session]:
        return sorted((x for x in self._sessions.values() if x.state == _ACTIVE), key=_handle)

    def _allocate_handle(self) -> int:
        used = {x.handle for x in self._sessions.values() if x.state == _ACTIVE}
        for _ in range(255):
            self._next_handle = self._next_handle % 255 + 1
            if self._next_handle not in used:
                return self._next_handle
        return 0

    def _forget(self, session: _Session) -> None:
        self._sessions.pop((session.remote, session.bmc_sid), None)
        if self._by_sid.get(session.bmc_sid) is session:
            del self._by_sid[session.bmc_sid]

    def _expire(self, session: _Session) -> None:
        if session.state == _ACTIVE:
            log.info(
                "node=%s proto=ipmi event=session.closed user=%s remote=%s sid=0x%08x "
                "reason=timeout",
                self.device,
                _name(session.cred),
                _fmt(session.remote),
                session.bmc_sid,
            )
        self._forget(session)

    def _expired(self, session: _Session, now: float) -> bool:
        if session.state == _ACTIVE:
            return now - session.last_seen > self.options.idle_timeout
        limit = min(self.options.handshake_timeout, self.options.idle_timeout)
        return now - session.last_seen > limit

    def _pending(self, addr: Address, bmc_sid: int) -> _Session | None:
        """The session a RAKP message names, unless its handshake has timed out."""
        s = self._sessions.get((addr, bmc_sid))
        if s is not None and s.state != _ACTIVE and self._expired(s, self._now()):
            self._forget(s)
            return None
        return s

    def _purge_expired(self) -> None:
        now = self._now()
        for s in [x for x in self._sessions.values() if self._expired(x, now)]:
            self._expire(s)


def _handle(session: _Session) -> int:
    return session.handle


def _last_seen(session: _Session) -> float:
    return session.last_seen


async def serve_ipmi(
    loop: asyncio.AbstractEventLoop,
    host: str,
    port: int,
    backend: IpmiBackend,
    device: str,
    options: EndpointOptions | None = None,
    *,
    sock: socket.socket | None = None,
) -> tuple[asyncio.DatagramTransport, IpmiEndpoint]:
    """Serve one BMC's IPMI LAN interface on ``host:port`` (UDP), or on ``sock`` when the
    caller has bound it already (so that bind errors keep their errno on every loop)."""
    if sock is None:
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: IpmiEndpoint(backend, device, options), local_addr=(host, port)
        )
    else:
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: IpmiEndpoint(backend, device, options), sock=sock
        )
    return transport, protocol

"""Minimal asyncio IPMI v2.0 (lanplus) client for tests, benchmarks and the controller.

    async with LanplusClient("127.0.9.1", 16230, "admin", "secret", cipher_suite=17) as c:
        cc, data = await c.raw(0x06, 0x01)

One UDP socket and one RMCP+ session per client; requests on a client are sequential
(an internal lock serialises concurrent callers). Many clients can share one loop.

Error tree::

    IpmiError                 anything that went wrong talking to the BMC
    ├── IpmiTimeout           no (valid) answer after timeout * (1 + retries)
    ├── IpmiAuthError         session establishment refused: .status is the RMCP+ status
    │                         code (0x0D unknown user, 0x0F bad password, 0x11 no suite...)
    └── IpmiCompletionError   a command the client needs answered with cc != 0: .cc

``raw()`` returns the completion code rather than raising; ``call()`` raises
:class:`IpmiCompletionError` on a non-zero completion code.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import struct
from typing import Any, Final

from bmc.ipmi import crypto, rmcp
from bmc.ipmi.crypto import CipherSuite, SessionCrypto

__all__ = [
    "IpmiAuthError",
    "IpmiCompletionError",
    "IpmiError",
    "IpmiTimeout",
    "LanplusClient",
]


class IpmiError(Exception):
    """Base of every client error."""


class IpmiTimeout(IpmiError):
    """No valid answer within the timeout and retries."""


class IpmiAuthError(IpmiError):
    """Session establishment refused; ``status`` is the RMCP+/RAKP status code."""

    def __init__(self, status: int, stage: str, detail: str = "") -> None:
        self.status = status
        self.stage = stage
        text = rmcp.STATUS_TEXT.get(status, "unknown status")
        super().__init__(
            f"{stage}: status 0x{status:02x} ({text}){': ' + detail if detail else ''}"
        )


class IpmiCompletionError(IpmiError):
    """A command answered with a non-zero completion code."""

    def __init__(self, cc: int, netfn: int, cmd: int) -> None:
        self.cc = cc
        self.netfn = netfn
        self.cmd = cmd
        super().__init__(f"netfn 0x{netfn:02x} cmd 0x{cmd:02x}: completion code 0x{cc:02x}")


_UNPACK_V20: Final = struct.Struct("<BBIIH").unpack_from
_U32: Final = struct.Struct("<I")
_IPMI_SEALED: Final = rmcp.PAYLOAD_ENCRYPTED | rmcp.PAYLOAD_AUTHENTICATED | rmcp.PAYLOAD_IPMI


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, owner: LanplusClient) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._owner._received(data)

    def error_received(self, exc: Exception) -> None:
        pass  # e.g. ICMP port unreachable: the request times out and is retried


class LanplusClient:
    """One RMCP+ session to one BMC (cipher suite 3 or 17)."""

    def __init__(
        self,
        host: str,
        port: int = 623,
        username: str | bytes = b"",
        password: str | bytes = b"",
        *,
        cipher_suite: int = 3,
        privilege: int = rmcp.PRIV_ADMINISTRATOR,
        timeout: float = 1.0,
        retries: int = 3,
        kg: bytes | None = None,
        name_only_lookup: bool = True,
    ) -> None:
        suite = crypto.SUITES.get(cipher_suite)
        if suite is None:
            raise ValueError(f"unsupported cipher suite {cipher_suite} (3 or 17)")
        if not rmcp.PRIV_CALLBACK <= privilege <= rmcp.PRIV_OEM:
            raise ValueError(f"invalid privilege level {privilege}")
        self.host = host
        self.port = port
        self._name = username.encode() if isinstance(username, str) else bytes(username)
        self._password = password.encode() if isinstance(password, str) else bytes(password)
        if len(self._name) > 16 or len(self._password) > 20:
            raise ValueError("user name is at most 16 bytes, password at most 20")
        self._kg = kg
        self.suite: CipherSuite = suite
        self.privilege = privilege
        self.timeout = timeout
        self.retries = retries
        self._role = privilege | (0x10 if name_only_lookup else 0)
        self._transport: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._waiter: asyncio.Future[Any] | None = None
        self._expect: Any = None  # callable(packet) -> result | None for the pending waiter
        self._crypto: SessionCrypto | None = None
        self.console_sid = 0
        self.bmc_sid = 0
        self._seq = 0  # our outbound session sequence number
        self._rq_seq = 0
        self._tag = 0
        self._in_high = 0
        self.last_packet = b""  # last datagram sent (tests replay it)
        self.datagrams_received = 0

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> LanplusClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Create the socket and establish the session (Open Session, RAKP 1-4, privilege)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Socket(self), remote_addr=(self.host, self.port)
        )
        self._transport = transport
        try:
            await self._establish()
        except IpmiError:
            await self.close()  # a session that got as far as RAKP 4 is closed too
            raise
        except BaseException:
            self._crypto = None
            self._close_transport()
            raise

    async def close(self) -> None:
        """Close the session (best effort, one short attempt) and the socket."""
        try:
            if self._crypto is not None and self._transport is not None:
                with contextlib.suppress(IpmiError):
                    await self._request(
                        rmcp.NETFN_APP,
                        rmcp.CMD_CLOSE_SESSION,
                        _U32.pack(self.bmc_sid),
                        attempts=1,
                    )
        finally:
            self._crypto = None
            self._close_transport()

    def _close_transport(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # ------------------------------------------------------------------ requests

    async def raw(
        self, netfn: int, cmd: int, data: bytes = b"", *, lun: int = 0
    ) -> tuple[int, bytes]:
        """Send one request in the session; returns (completion code, response data)."""
        if self._crypto is None:
            raise IpmiError("session is not open")
        return await self._request(netfn, cmd, bytes(data), lun=lun)

    async def call(self, netfn: int, cmd: int, data: bytes = b"", *, lun: int = 0) -> bytes:
        """Like :meth:`raw`, raising :class:`IpmiCompletionError` when cc != 0."""
        cc, out = await self.raw(netfn, cmd, data, lun=lun)
        if cc:
            raise IpmiCompletionError(cc, netfn, cmd)
        return out

    @property
    def local_address(self) -> tuple[str, int]:
        """This client's (host, port), as the BMC sees it on loopback."""
        if self._transport is None:
            raise IpmiError("socket is closed")
        host, port = self._transport.get_extra_info("sockname")[:2]
        return host, port

    def send_datagram(self, data: bytes) -> None:
        """Send raw bytes from this client's socket (tests: replays, malformed input)."""
        if self._transport is None:
            raise IpmiError("socket is closed")
        self._transport.sendto(data)

    async def _request(
        self, netfn: int, cmd: int, data: bytes, *, lun: int = 0, attempts: int | None = None
    ) -> tuple[int, bytes]:
        async with self._lock:
            c = self._crypto
            assert c is not None
            self._rq_seq = (self._rq_seq + 1) & 0x3F
            rq_seq = self._rq_seq
            message = rmcp.build_lan_request(netfn, cmd, data, rq_seq, lun=lun)
            rsp_netfn = netfn | 1

            def match(packet: bytes) -> tuple[int, bytes] | None:
                msg = self._open_sealed(packet)
                if msg is None or msg.rq_seq != rq_seq or msg.cmd != cmd:
                    return None
                if msg.netfn != rsp_netfn or len(msg.data) < 1:
                    return None
                return msg.data[0], msg.data[1:]

            n = self.retries + 1 if attempts is None else attempts
            for _ in range(n):
                packet = self._seal(message)
                result = await self._exchange(packet, match)
                if result is not None:
                    cc, out = result
                    return cc, bytes(out)
            raise IpmiTimeout(
                f"{self.host}:{self.port}: no answer to netfn 0x{netfn:02x} cmd 0x{cmd:02x} "
                f"after {n} attempt(s) of {self.timeout:g}s"
            )

    def _seal(self, message: bytes) -> bytes:
        c = self._crypto
        assert c is not None
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        enc = c.encrypt(message)
        head = rmcp.v20_header(_IPMI_SEALED, self.bmc_sid, self._seq, len(enc)) + enc
        head += rmcp.integrity_pad(len(head) - 4)
        return head + c.sign(memoryview(head)[4:])

    def _open_sealed(self, packet: bytes) -> rmcp.LanMessage | None:
        c = self._crypto
        if c is None or len(packet) < 16 or packet[4] != rmcp.AUTH_RMCPP:
            return None
        _, ptype, sid, seq, plen = _UNPACK_V20(packet, 4)
        if ptype != _IPMI_SEALED or sid != self.console_sid:
            return None
        end = len(packet) - c.integrity_len
        if end < 18 + plen or packet[end - 1] != 0x07 or 18 + plen + packet[end - 2] != end:
            return None
        view = memoryview(packet)
        if not c.verify(view[4:end], view[end:]):
            return None
        if seq <= self._in_high - 32:  # stale or replayed; the BMC counts up from 1
            return None
        self._in_high = max(self._in_high, seq)
        plain = c.decrypt(view[16 : 16 + plen])
        return rmcp.parse_lan_message(plain) if plain is not None else None

    # ------------------------------------------------------------------ datagram plumbing

    def _received(self, packet: bytes) -> None:
        self.datagrams_received += 1
        w = self._waiter
        if w is None or w.done():
            return
        try:
            result = self._expect(packet)
        except Exception as exc:  # a bug in parsing must not hang the caller
            w.set_exception(IpmiError(f"cannot parse answer: {exc!r}"))
            return
        if result is not None:
            w.set_result(result)

    async def _exchange(self, packet: bytes, match: Any) -> Any:
        """Send ``packet`` once; the first datagram ``match`` accepts, or None on timeout."""
        loop = self._loop
        transport = self._transport
        if loop is None or transport is None:
            raise IpmiError("socket is closed")
        fut: asyncio.Future[Any] = loop.create_future()
        self._waiter = fut
        self._expect = match
        timer = loop.call_later(self.timeout, _expire, fut)
        self.last_packet = packet
        transport.sendto(packet)
        try:
            return await fut
        finally:
            timer.cancel()
            self._waiter = None
            self._expect = None

    async def _handshake_step(self, build: Any, payload_type: int, stage: str) -> bytes:
        """Send an unauthenticated RMCP+ payload; return the matching answer's payload."""
        for _ in range(self.retries + 1):
            self._tag = (self._tag + 1) & 0xFF
            tag = self._tag
            packet = rmcp.build_v20_unauthenticated(build[0], 0, build[1](tag))

            def match(p: bytes, tag: int = tag) -> bytes | None:
                if len(p) < 16 or p[4] != rmcp.AUTH_RMCPP or p[5] != payload_type:
                    return None
                plen = struct.unpack_from("<H", p, 14)[0]
                body = p[16 : 16 + plen]
                if len(body) < 8 or len(body) != plen or body[0] != tag:
                    return None
                return body

            result = await self._exchange(packet, match)
            if result is not None:
                return bytes(result)
        raise IpmiTimeout(
            f"{self.host}:{self.port}: no answer to {stage} after {self.retries + 1} "
            f"attempt(s) of {self.timeout:g}s"
        )

    # ------------------------------------------------------------------ session setup

    async def _establish(self) -> None:
        suite = self.suite
        while True:
            self.console_sid = int.from_bytes(os.urandom(4), "little")
            if self.console_sid:
                break
        csid = _U32.pack(self.console_sid)

        def open_request(tag: int) -> bytes:
            return (
                bytes((tag, self.privilege, 0, 0))
                + csid
                + bytes((0, 0, 0, 8, suite.auth, 0, 0, 0))
                + bytes((1, 0, 0, 8, suite.integrity, 0, 0, 0))
                + bytes((2, 0, 0, 8, suite.confidentiality, 0, 0, 0))
            )

        body = await self._handshake_step(
            (rmcp.PAYLOAD_OPEN_SESSION_REQUEST, open_request),
            rmcp.PAYLOAD_OPEN_SESSION_RESPONSE,
            "open session",
        )
        if body[1] != 0:
            raise IpmiAuthError(body[1], "open session")
        if len(body) < 36 or body[4:8] != csid:
            raise IpmiError("malformed open session response")
        self.bmc_sid = _U32.unpack_from(body, 8)[0]
        bsid = body[8:12]
        if (body[16] & 0x3F, body[24] & 0x3F, body[32] & 0x3F) != (
            suite.auth,
            suite.integrity,
            suite.confidentiality,
        ):
            raise IpmiError("BMC chose other algorithms than proposed")

        rm = os.urandom(16)
        name = self._name

        def rakp1(tag: int) -> bytes:
            return bytes((tag, 0, 0, 0)) + bsid + rm + bytes((self._role, 0, 0, len(name))) + name

        body = await self._handshake_step((rmcp.PAYLOAD_RAKP1, rakp1), rmcp.PAYLOAD_RAKP2, "RAKP 1")
        if body[1] != 0:
            raise IpmiAuthError(body[1], "RAKP 2")
        if len(body) < 40 + len(hmac.digest(b"", b"", suite.digest)) or body[4:8] != csid:
            raise IpmiError("malformed RAKP 2")
        rc, guid, code = body[8:24], body[24:40], body[40:]
        expected = crypto.rakp2_auth_code(
            suite, self._password, self.console_sid, self.bmc_sid, rm, rc, guid, self._role, name
        )
        if not self._rakp2_ok(expected, code):
            # Tell the BMC, as ipmitool does, then give up.
            reply = bytes((self._tag, rmcp.STATUS_INVALID_INTEGRITY_CHECK, 0, 0)) + bsid
            self.send_datagram(rmcp.build_v20_unauthenticated(rmcp.PAYLOAD_RAKP3, 0, reply))
            raise IpmiAuthError(
                rmcp.STATUS_INVALID_INTEGRITY_CHECK, "RAKP 2", "wrong password or Kg"
            )

        auth3 = crypto.rakp3_auth_code(
            suite, self._password, rc, self.console_sid, self._role, name
        )

        def rakp3(tag: int) -> bytes:
            return bytes((tag, 0, 0, 0)) + bsid + auth3

        body = await self._handshake_step((rmcp.PAYLOAD_RAKP3, rakp3), rmcp.PAYLOAD_RAKP4, "RAKP 3")
        if body[1] != 0:
            raise IpmiAuthError(body[1], "RAKP 4")
        sik = crypto.session_integrity_key(
            suite, self._kg or self._password, rm, rc, self._role, name
        )
        icv = crypto.rakp4_icv(suite, sik, rm, self.bmc_sid, guid)
        if body[4:8] != csid or not hmac.compare_digest(icv, body[8:]):
            raise IpmiAuthError(rmcp.STATUS_INVALID_INTEGRITY_CHECK, "RAKP 4", "bad ICV")
        self._crypto = SessionCrypto(suite, sik)
        self._seq = 0
        self._in_high = 0
        if self.privilege > rmcp.PRIV_USER:
            cc, _ = await self._request(
                rmcp.NETFN_APP, rmcp.CMD_SET_SESSION_PRIVILEGE, bytes((self.privilege,))
            )
            if cc:
                raise IpmiCompletionError(cc, rmcp.NETFN_APP, rmcp.CMD_SET_SESSION_PRIVILEGE)

    def _rakp2_ok(self, expected: bytes, code: bytes) -> bool:
        return hmac.compare_digest(expected, code)


def _expire(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_result(None)

"""The IPMI LAN session layer on loopback, driven by our client, ipmitool, freeipmi and
raw sockets. The back end is a toy defined here; the session layer is the unit under test.

Addresses 127.0.9.1..16, port 16230 (never a non-loopback address). Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import socket
import struct
from collections import Counter
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

import pytest

from bmc.ipmi import codes, crypto, rmcp
from bmc.ipmi.client import (
    IpmiAuthError,
    IpmiCompletionError,
    IpmiTimeout,
    LanplusClient,
)
from bmc.ipmi.session import Credential, EndpointOptions, IpmiEndpoint, Request, serve_ipmi

PORT = 16230
HOST = "127.0.9.1"
GUID = bytes(range(0xA0, 0xB0))

DEVICE_ID = bytes((0x20, 0x81, 0x01, 0x05, 0x02, 0xBF)) + (343).to_bytes(3, "little")
DEVICE_ID += (0x1234).to_bytes(2, "little") + b"\x00\x00\x00\x00"
CHASSIS_STATUS = bytes((0x01, 0x00, 0x40, 0x00))

T = TypeVar("T")

pytestmark = pytest.mark.timeout(120)


class ToyBackend:
    """Get Device ID, Get Chassis Status, C1h for anything else; counts dispatches."""

    def __init__(self) -> None:
        self.up = True
        self.calls: Counter[tuple[int, int]] = Counter()
        self.requests: list[Request] = []
        self.failures: Counter[int] = Counter()
        self.users = {
            c.name: c
            for c in (
                Credential(2, b"admin", b"secret", 4, True),
                Credential(3, b"oper", b"op-pass", 3, True),
                Credential(4, b"off", b"x", 4, False),
                Credential(5, b"long", b"p" * 20, 4, True),
            )
        }

    def answering(self) -> bool:
        return self.up

    def system_guid(self) -> bytes:
        return GUID

    def credential(self, name: bytes) -> Credential | None:
        return self.users.get(name)

    def credential_by_privilege(self, privilege: int) -> Credential | None:
        return next(
            (c for c in self.users.values() if c.enabled and c.max_privilege >= privilege), None
        )

    def login_failed(self, user_id: int) -> None:
        self.failures[user_id] += 1

    def login_succeeded(self, user_id: int) -> None:
        self.failures.pop(user_id, None)

    def dispatch(self, request: Request) -> tuple[int, bytes]:
        self.calls[(request.netfn, request.cmd)] += 1
        self.requests.append(request)
        if (request.netfn, request.cmd) == (0x06, 0x01):
            return 0, DEVICE_ID
        if (request.netfn, request.cmd) == (0x00, 0x01):
            return 0, CHASSIS_STATUS
        return 0xC1, b""


class Rack:
    def __init__(self) -> None:
        self.endpoints: list[IpmiEndpoint] = []
        self.backends: list[ToyBackend] = []
        self.transports: list[asyncio.DatagramTransport] = []

    @property
    def ep(self) -> IpmiEndpoint:
        return self.endpoints[0]

    @property
    def backend(self) -> ToyBackend:
        return self.backends[0]


@contextlib.asynccontextmanager
async def serving(n: int = 1, options: EndpointOptions | None = None) -> AsyncIterator[Rack]:
    loop = asyncio.get_running_loop()
    rack = Rack()
    try:
        for i in range(n):
            backend = ToyBackend()
            transport, ep = await serve_ipmi(
                loop, f"127.0.9.{i + 1}", PORT, backend, f"n{i + 1:02d}", options
            )
            rack.backends.append(backend)
            rack.endpoints.append(ep)
            rack.transports.append(transport)
        yield rack
    finally:
        for t in rack.transports:
            t.close()
        await asyncio.sleep(0)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def client(user: str = "admin", password: str = "secret", **kw: Any) -> LanplusClient:
    kw.setdefault("timeout", 0.5)
    kw.setdefault("retries", 1)
    return LanplusClient(kw.pop("host", HOST), PORT, user, password, **kw)


# --------------------------------------------------------------------------- raw datagrams


class RawSocket:
    """A plain UDP socket for sessionless and malformed packets (bounded waits)."""

    def __init__(self, host: str = HOST) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.connect((host, PORT))

    def close(self) -> None:
        self.sock.close()

    async def ask(self, data: bytes, timeout: float = 0.5) -> bytes | None:
        loop = asyncio.get_running_loop()
        self.sock.send(data)
        try:
            return await asyncio.wait_for(loop.sock_recv(self.sock, 4096), timeout)
        except TimeoutError:
            return None


def v15_request(netfn: int, cmd: int, data: bytes, seq: int = 1) -> bytes:
    return rmcp.build_v15(0, 0, 0, b"", rmcp.build_lan_request(netfn, cmd, data, seq))


def v15_answer(packet: bytes | None) -> rmcp.LanMessage:
    assert packet is not None, "no answer"
    pkt = rmcp.parse_v15(packet)
    assert pkt is not None
    msg = rmcp.parse_lan_message(pkt.message)
    assert msg is not None
    return msg


def open_session_request(auth: int, integrity: int, conf: int, role: int = 4) -> bytes:
    body = (
        bytes((0x42, role, 0, 0))
        + struct.pack("<I", 0x11223344)
        + bytes((0, 0, 0, 8, auth, 0, 0, 0))
        + bytes((1, 0, 0, 8, integrity, 0, 0, 0))
        + bytes((2, 0, 0, 8, conf, 0, 0, 0))
    )
    return rmcp.build_v20_unauthenticated(rmcp.PAYLOAD_OPEN_SESSION_REQUEST, 0, body)


# --------------------------------------------------------------------------- sessionless


def test_asf_presence_ping_gets_pong() -> None:
    async def main() -> None:
        async with serving():
            raw = RawSocket()
            try:
                pong = await raw.ask(rmcp.asf_ping(tag=0x5A))
            finally:
                raw.close()
            assert pong is not None
            assert pong[:4] == b"\x06\x00\xff\x06"
            assert pong[4:8] == rmcp.ASF_IANA
            assert pong[8] == rmcp.ASF_PONG and pong[9] == 0x5A and pong[11] == 0x10
            assert pong[20] == 0x81  # IPMI supported

    run(main())


def test_channel_auth_capabilities_v15_and_v20_extended() -> None:
    async def main() -> None:
        async with serving():
            raw = RawSocket()
            try:
                plain = v15_answer(await raw.ask(v15_request(6, 0x38, b"\x0e\x04")))
                ext = v15_answer(await raw.ask(v15_request(6, 0x38, b"\x8e\x04", seq=2)))
                bad = v15_answer(await raw.ask(v15_request(6, 0x38, b"\x07\x04", seq=3)))
                # The same command in an unauthenticated RMCP+ packet.
                msg = rmcp.build_lan_request(6, 0x38, b"\x8e\x04", 4)
                v2 = await raw.ask(rmcp.build_v20_unauthenticated(0, 0, msg))
            finally:
                raw.close()
            assert plain.data[0] == 0 and plain.data[1] == 1  # cc, channel 1
            assert plain.data[2] == 0x04  # MD5 only, no v2.0 bit when not asked
            assert plain.data[4] == 0
            assert ext.data[2] == 0x84  # MD5 + "IPMI v2.0 extended capabilities"
            assert ext.data[4] == 0x03  # channel supports v1.5 and v2.0
            assert len(ext.data) == 9
            assert bad.data[0] == codes.CC_INVALID_DATA_FIELD
            assert v2 is not None and v2[4] == rmcp.AUTH_RMCPP
            inner = rmcp.parse_lan_message(v2[16:])
            assert inner is not None and inner.data[2] == 0x84

    run(main())


def test_channel_cipher_suites_lists_3_and_17() -> None:
    async def main() -> None:
        async with serving():
            raw = RawSocket()
            try:
                first = v15_answer(await raw.ask(v15_request(6, 0x54, b"\x0e\x00\x80")))
                second = v15_answer(await raw.ask(v15_request(6, 0x54, b"\x0e\x00\x81", 2)))
                algs = v15_answer(await raw.ask(v15_request(6, 0x54, b"\x0e\x00\x00", 3)))
            finally:
                raw.close()
            assert first.data[0] == 0
            assert first.data[2:] == crypto.SUITE_3.record + crypto.SUITE_17.record
            assert first.data[2:] == bytes.fromhex("c0 03 01 41 81 c0 11 03 44 81")
            assert second.data == b"\x00\x01"  # end of list
            assert set(algs.data[2:]) == {0x01, 0x03, 0x41, 0x44, 0x81}

    run(main())


@pytest.mark.parametrize(
    ("algorithms", "status"),
    [
        ((0x20, 1, 1), rmcp.STATUS_INVALID_AUTH_ALGORITHM),
        ((1, 0x20, 1), rmcp.STATUS_INVALID_INTEGRITY_ALGORITHM),
        ((1, 1, 0x20), rmcp.STATUS_INVALID_CONFIDENTIALITY_ALGORITHM),
        ((1, 0, 0), rmcp.STATUS_NO_CIPHER_SUITE_MATCH),  # suite 1
        ((3, 1, 1), rmcp.STATUS_NO_CIPHER_SUITE_MATCH),  # mixed
        ((0, 0, 0), rmcp.STATUS_NO_CIPHER_SUITE_MATCH),  # suite 0
    ],
)
def test_open_session_status_codes(algorithms: tuple[int, int, int], status: int) -> None:
    async def main() -> None:
        async with serving() as rack:
            raw = RawSocket()
            try:
                answer = await raw.ask(open_session_request(*algorithms))
                invalid_role = await raw.ask(open_session_request(1, 1, 1, role=9))
            finally:
                raw.close()
            assert answer is not None and answer[5] == rmcp.PAYLOAD_OPEN_SESSION_RESPONSE
            assert answer[16] == 0x42 and answer[17] == status
            assert answer[20:24] == struct.pack("<I", 0x11223344)
            assert invalid_role is not None and invalid_role[17] == rmcp.STATUS_INVALID_ROLE
            assert rack.ep.session_count == 0

    run(main())


# --------------------------------------------------------------------------- our client


@pytest.mark.parametrize("suite", [3, 17])
def test_client_round_trips(suite: int) -> None:
    async def main() -> None:
        async with serving() as rack, client(cipher_suite=suite) as c:
            cc, data = await c.raw(0x06, 0x01)
            assert (cc, data) == (0, DEVICE_ID) and len(data) == 15
            assert await c.call(0x00, 0x01) == CHASSIS_STATUS
            cc, _ = await c.raw(0x2E, 0x99, b"\x01\x02")
            assert cc == 0xC1
            with pytest.raises(IpmiCompletionError) as err:
                await c.call(0x0A, 0x10)
            assert err.value.cc == 0xC1
            for _ in range(200):  # sequence numbers keep counting; nothing is dropped
                assert (await c.raw(0x00, 0x01))[0] == 0
            req = rack.backend.requests[0]
            assert req.privilege == 4 and req.user_id == 2
            assert req.session_id == c.bmc_sid and req.remote[0] == "127.0.0.1"
            info = await c.call(0x06, 0x3D, b"\x00")  # Get Session Info, this session
            assert info[1] == 32 and info[2] == 1  # slots, active
            assert info[3] == 2 and info[4] == 4  # user id, privilege
            assert info[5] == 0x11  # RMCP+, channel 1
            assert info[6:10] == socket.inet_aton("127.0.0.1")
            assert rack.ep.session_count == 1
        assert rack.ep.session_count == 0  # Close Session on exit

    run(main())


def test_client_auth_failures_and_privileges() -> None:
    async def main() -> None:
        async with serving() as rack:
            cases: list[tuple[LanplusClient, int]] = [
                (client(password="wrong"), rmcp.STATUS_INVALID_INTEGRITY_CHECK),
                (client(user="nobody"), rmcp.STATUS_UNAUTHORIZED_NAME),
                (client(user="off", password="x"), rmcp.STATUS_UNAUTHORIZED_NAME),
                (client("oper", "op-pass", privilege=4), rmcp.STATUS_UNAUTHORIZED_ROLE),
            ]
            for c, status in cases:
                with pytest.raises(IpmiAuthError) as err:
                    await c.open()
                assert err.value.status == status
            assert rack.ep.session_count == 0
            # The wrong password is reported to the backend (towards the lockout), once.
            assert rack.backend.failures == {2: 1}
            # Operator at its own maximum works, but cannot raise itself to admin.
            async with client("oper", "op-pass", privilege=3) as c:
                cc, _data = await c.raw(0x06, 0x3B, b"\x04")
                assert cc == 0x81
                assert await c.call(0x06, 0x3B, b"\x00") == b"\x03"
                assert await c.call(0x06, 0x3B, b"\x02") == b"\x02"
                await c.call(0x00, 0x01)
                assert rack.backend.requests[-1].privilege == 2
            # A 20-byte password (the full K_UID) works with both suites.
            for suite in (3, 17):
                async with client("long", "p" * 20, cipher_suite=suite) as c:
                    await c.call(0x06, 0x01)

    run(main())


def test_bad_rakp3_is_answered_with_invalid_integrity_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A console that skips the RAKP 2 check still cannot get in: RAKP 4 says 0Fh."""
    monkeypatch.setattr(LanplusClient, "_rakp2_ok", lambda self, a, b: True)

    async def main() -> None:
        async with serving() as rack:
            with pytest.raises(IpmiAuthError) as err:
                await client(password="wrong").open()
            assert err.value.status == rmcp.STATUS_INVALID_INTEGRITY_CHECK
            assert err.value.stage == "RAKP 4"
            assert rack.ep.session_count == 0

    run(main())


def test_null_user_name_privilege_lookup() -> None:
    async def main() -> None:
        async with serving() as rack:
            # Name+privilege lookup with a null name: first user allowed at operator
            # level is "admin" (slot 2), whose password is "secret".
            c = client("", "secret", privilege=3, name_only_lookup=False)
            async with c:
                await c.call(0x06, 0x01)
            assert rack.backend.requests[-1].user_id == 2
            # Name-only lookup of the null user: there is none.
            with pytest.raises(IpmiAuthError) as err:
                await client("", "secret", privilege=3).open()
            assert err.value.status == rmcp.STATUS_UNAUTHORIZED_NAME

    run(main())


def test_sixteen_endpoints_in_parallel() -> None:
    async def main() -> None:
        async with serving(16) as rack:

            async def drive(i: int) -> int:
                suite = 3 if i % 2 else 17
                async with client(host=f"127.0.9.{i + 1}", cipher_suite=suite) as c:
                    for _ in range(50):
                        assert await c.call(0x00, 0x01) == CHASSIS_STATUS
                    return c.bmc_sid

            sids = await asyncio.wait_for(asyncio.gather(*(drive(i) for i in range(16))), 60)
            assert len(set(sids)) == 16
            assert all(b.calls[(0, 1)] == 50 for b in rack.backends)
            assert all(ep.session_count == 0 for ep in rack.endpoints)

    run(main())


def test_replayed_packet_is_rejected() -> None:
    async def main() -> None:
        async with serving() as rack, client() as c:
            await c.call(0x00, 0x01)
            replay = c.last_packet
            before = c.datagrams_received
            for _ in range(3):
                c.send_datagram(replay)
            await asyncio.sleep(0.3)
            assert c.datagrams_received == before
            assert rack.backend.calls[(0, 1)] == 1
            # An older-but-unseen number inside the window is still accepted; the same
            # number twice is not.
            await c.call(0x00, 0x01)
            assert rack.backend.calls[(0, 1)] == 2

    run(main())


def test_sequence_window() -> None:
    """The server-side window in isolation (session internals, no sockets)."""
    from bmc.ipmi.session import _Session

    s = _Session(("127.0.0.1", 1), 1, 0.0)
    assert s.accept_seq(1) and not s.accept_seq(1)
    assert s.accept_seq(5) and s.accept_seq(3) and not s.accept_seq(3)
    assert s.accept_seq(2) and s.accept_seq(4) and not s.accept_seq(5)
    assert not s.accept_seq(0)
    assert not s.accept_seq(5 + 33)  # too far ahead
    assert s.accept_seq(5 + 32)
    assert not s.accept_seq(5)  # fell out of the window behind


def test_idle_timeout_and_close_and_reset() -> None:
    async def main() -> None:
        options = EndpointOptions(idle_timeout=0.4)
        async with serving(options=options) as rack:
            c = client(timeout=0.2, retries=1)
            await c.open()
            await c.call(0x00, 0x01)
            await asyncio.sleep(0.2)
            await c.call(0x00, 0x01)  # activity keeps it alive
            await asyncio.sleep(0.6)
            with pytest.raises(IpmiTimeout):
                await c.raw(0x00, 0x01)
            assert rack.ep.session_count == 0
            await c.close()

            # Close Session from the client: the session id is no longer accepted.
            c = client(timeout=0.2, retries=0)
            await c.open()
            await c.call(0x00, 0x01)
            assert rack.ep.session_count == 1
            await c.raw(0x06, 0x3C, struct.pack("<I", c.bmc_sid))
            assert rack.ep.session_count == 0
            with pytest.raises(IpmiTimeout):
                await c.raw(0x00, 0x01)
            await c.close()

            # drop_sessions() (BMC reset) forgets everything.
            async with client(timeout=0.2, retries=0) as c:
                await c.call(0x00, 0x01)
                assert rack.ep.drop_sessions() == 1
                with pytest.raises(IpmiTimeout):
                    await c.raw(0x00, 0x01)

    run(main())


def test_max_sessions_answers_insufficient_resources() -> None:
    async def main() -> None:
        async with serving(options=EndpointOptions(max_sessions=2)) as rack:
            a, b = client(), client(cipher_suite=17)
            await a.open()
            await b.open()
            with pytest.raises(IpmiAuthError) as err:
                await client().open()
            assert err.value.status == rmcp.STATUS_NO_RESOURCES
            await a.close()
            async with client() as c:
                await c.call(0x06, 0x01)
            await b.close()
            assert rack.ep.session_count == 0

    run(main())


def test_not_answering_backend_drops_everything() -> None:
    async def main() -> None:
        async with serving() as rack:
            raw = RawSocket()
            try:
                rack.backend.up = False
                assert await raw.ask(rmcp.asf_ping(), timeout=0.2) is None
                assert await raw.ask(v15_request(6, 0x38, b"\x8e\x04"), timeout=0.2) is None
                with pytest.raises(IpmiTimeout):
                    await client(timeout=0.1, retries=0).open()
                rack.backend.up = True
                assert await raw.ask(rmcp.asf_ping()) is not None
            finally:
                raw.close()

    run(main())


def test_dispatch_exception_becomes_ff() -> None:
    async def main() -> None:
        async with serving() as rack, client() as c:

            def boom(request: Request) -> tuple[int, bytes]:
                raise RuntimeError("bug in a command handler")

            rack.backend.dispatch = boom  # type: ignore[method-assign]
            assert (await c.raw(0x00, 0x01))[0] == 0xFF

    run(main())


# --------------------------------------------------------------------------- malformed input


def _mutations(valid: list[bytes], rng: random.Random) -> list[bytes]:
    out: list[bytes] = [
        b"",
        b"\x06",
        b"\x06\x00\xff\x07",
        b"\x06\x00\xff\x07\x00",
        b"\x06\x00\xff\x07\x06",
        b"\x06\x00\xff\x06\x00\x00\x11\xbe\x80",  # truncated ASF ping
        b"\x06\x00\xff\x07\x00" + b"\x00" * 8 + b"\xff" + b"\x20",  # v1.5 length 255
        b"\x06\x00\xff\x07\x06\x00" + b"\x00" * 8 + b"\xff\xff",  # v2.0 length 65535
        b"\x06\x00\xff\x07\x06\x02" + b"\x00" * 20,  # OEM payload
        b"\x06\x00\xff\x07\x06\x10" + b"\x00" * 8 + b"\x05\x00abcde",  # short open session
        b"\x06\x00\xff\x07\x06\x12" + b"\x00" * 8 + b"\x1c\x00" + b"\x00" * 28,  # RAKP1 bad sid
        b"\x06\x00\xff\x07\x06\x14" + b"\x00" * 8 + b"\x08\x00" + b"\x00" * 8,  # RAKP3 bad sid
        b"\x06\x00\xff\x07\x06\xc0" + b"\xff" * 14,  # sealed, unknown session
        v15_request(6, 0x38, b"\x8e\x04")[:-1] + b"\x00",  # bad checksum
        v15_request(6, 0x38, b""),  # too short data
        v15_request(6, 0x54, b"\x0e"),
        v15_request(7, 0x38, b"\x8e\x04"),  # a response netFn
        v15_request(6, 0x3A, b"\x00" * 22),  # activate session without a session
        rmcp.build_v15(rmcp.AUTH_MD5, 1, 0x1234, b"\x00" * 16, b"\x20\x18\xc8\x81\x04\x3b\x04"),
    ]
    out += [bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 80))) for _ in range(300)]
    out += [b"\x06\x00\xff\x07" + bytes(rng.getrandbits(8) for _ in range(40)) for _ in range(300)]
    for packet in valid:
        for _ in range(60):
            p = bytearray(packet)
            kind = rng.randrange(4)
            if kind == 0:
                p = p[: rng.randrange(len(p))]
            elif kind == 1:
                p[rng.randrange(len(p))] ^= 1 << rng.randrange(8)
            elif kind == 2:
                p += bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 20)))
            else:
                i = rng.randrange(len(p))
                p[i] = rng.getrandbits(8)
            out.append(bytes(p))
    return out


def test_malformed_packets_never_raise_nor_stop_the_endpoint(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rng = random.Random(623)

    async def main() -> None:
        async with serving() as rack, client() as c:
            await c.call(0x00, 0x01)
            sealed = c.last_packet
            valid = [
                sealed,
                open_session_request(1, 1, 1),
                rmcp.asf_ping(),
                v15_request(6, 0x38, b"\x8e\x04"),
                v15_request(6, 0x39, b"\x02admin" + b"\x00" * 11),
            ]
            packets = _mutations(valid, rng)
            # 1. Directly: process() must never raise, whatever it is given.
            for p in packets:
                rack.ep.process(p, ("127.0.0.2", 40000))
                rack.ep.process(p, c.local_address)
            # 2. Over the wire, from a raw socket and from the session's own socket
            #    (bad HMAC, truncated, bit flips of a real sealed packet).
            raw = RawSocket()
            try:
                for p in packets[:400]:
                    raw.sock.send(p)
                for _ in range(20):
                    bad = bytearray(sealed)
                    bad[-1] ^= 0xFF  # bad auth code
                    c.send_datagram(bytes(bad))
                    c.send_datagram(sealed[: len(sealed) // 2])
                await asyncio.sleep(0.2)
            finally:
                raw.close()
            assert rack.backend.calls[(0, 1)] == 1  # nothing forged got dispatched
            # 3. The session and the endpoint still work.
            assert await c.call(0x00, 0x01) == CHASSIS_STATUS
            async with client(cipher_suite=17) as c2:
                assert await c2.call(0x06, 0x01) == DEVICE_ID

    with caplog.at_level("DEBUG", logger="bmc.ipmi"):
        run(main())
    assert not [r for r in caplog.records if "packet.error" in r.getMessage()]
    text = caplog.text
    assert "secret" not in text and "op-pass" not in text


# --------------------------------------------------------------------------- real tools

IPMITOOL = shutil.which("ipmitool")
BMC_INFO = shutil.which("bmc-info")
IPMI_RAW = shutil.which("ipmi-raw")

needs_ipmitool = pytest.mark.skipif(IPMITOOL is None, reason="ipmitool not installed")
needs_freeipmi = pytest.mark.skipif(
    BMC_INFO is None or IPMI_RAW is None, reason="freeipmi-tools not installed"
)


async def tool(*argv: str, timeout: float = 30.0) -> tuple[int, str]:
    """Run a CLI tool without blocking the loop that serves the BMC; bounded in time."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"{argv[0]} did not finish within {timeout}s") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


def ipmitool(*args: str, user: str = "admin", password: str = "secret") -> list[str]:
    assert IPMITOOL is not None
    base = [IPMITOOL, "-H", HOST, "-p", str(PORT), "-U", user, "-P", password, "-N", "1"]
    return [*base, "-R", "2", *args]


async def still_answering() -> None:
    async with client() as c:
        assert await c.call(0x06, 0x01) == DEVICE_ID


@pytest.mark.tools
@needs_ipmitool
@pytest.mark.parametrize("suite", [["-C", "3"], ["-C", "17"], []], ids=["C3", "C17", "auto"])
def test_ipmitool_lanplus(suite: list[str]) -> None:
    async def main() -> None:
        async with serving() as rack:
            rc, out = await tool(*ipmitool("-I", "lanplus", *suite, "raw", "0x06", "0x01"))
            assert rc == 0, out
            assert out.split() == [f"{b:02x}" for b in DEVICE_ID]
            rc, out = await tool(*ipmitool("-I", "lanplus", *suite, "mc", "info"))
            assert rc == 0, out
            assert "Manufacturer ID           : 343" in out
            assert "IPMI Version              : 2.0" in out
            rc, out = await tool(*ipmitool("-I", "lanplus", *suite, "chassis", "status"))
            assert rc == 0, out
            assert "System Power         : on" in out
            rc, out = await tool(*ipmitool("-I", "lanplus", *suite, "session", "info", "active"))
            assert rc == 0, out
            assert "IPMIv2/RMCP+" in out and "ADMINISTRATOR" in out
            assert rack.backend.calls[(6, 1)] >= 2  # ipmitool also asks on its own
            assert rack.ep.session_count == 0  # ipmitool closes its sessions

    run(main())


@pytest.mark.tools
@needs_ipmitool
@pytest.mark.parametrize(
    ("args", "user", "password", "message"),
    [
        (["-C", "3"], "admin", "wrong", "Unable to establish IPMI v2 / RMCP+ session"),
        (["-C", "17"], "nobody", "secret", "Unable to establish IPMI v2 / RMCP+ session"),
        (["-C", "1"], "admin", "secret", "no matching cipher suite"),
        (["-C", "3", "-L", "ADMINISTRATOR"], "oper", "op-pass", "Unable to establish"),
    ],
    ids=["wrong-password", "unknown-user", "suite-1", "role-above-max"],
)
def test_ipmitool_lanplus_failures(args: list[str], user: str, password: str, message: str) -> None:
    async def main() -> None:
        async with serving() as rack:
            argv = ipmitool("-I", "lanplus", *args, "raw", "0x06", "0x01", user=user)
            argv[argv.index("-P") + 1] = password
            rc, out = await tool(*argv)
            assert rc != 0
            assert message in out, out
            assert rack.backend.calls[(6, 1)] == 0
            await still_answering()

    run(main())


@pytest.mark.tools
@needs_ipmitool
def test_ipmitool_lan_v15_md5() -> None:
    async def main() -> None:
        async with serving() as rack:
            rc, out = await tool(*ipmitool("-I", "lan", "raw", "0x06", "0x01"))
            assert rc == 0, out
            assert out.split() == [f"{b:02x}" for b in DEVICE_ID]
            rc, out = await tool(*ipmitool("-I", "lan", "chassis", "status"))
            assert rc == 0 and "System Power         : on" in out, out
            # Wrong password: the Activate Session packet fails authentication and is
            # dropped, as a BMC does; ipmitool gives up after its retries.
            argv = ipmitool("-I", "lan", "raw", "0x06", "0x01")
            argv[argv.index("-P") + 1] = "wrong"
            rc, out = await tool(*argv)
            assert rc != 0 and "Unable to establish" in out, out
            assert rack.ep.session_count <= 1  # at most the pending challenge
            await still_answering()

    run(main())


@pytest.mark.tools
@needs_freeipmi
@pytest.mark.parametrize("driver", [["-D", "LAN_2_0"], ["-D", "LAN_2_0", "-I", "17"], []])
def test_freeipmi(driver: list[str]) -> None:
    assert BMC_INFO is not None and IPMI_RAW is not None
    target = ["-h", f"{HOST}:{PORT}", "-u", "admin", "-p", "secret", *driver]

    async def main() -> None:
        async with serving() as rack:
            rc, out = await tool(BMC_INFO, *target, "--get-device-id")
            assert rc == 0, out
            assert "Device ID             : 32" in out
            assert "Firmware Revision     : 1.05" in out
            rc, out = await tool(IPMI_RAW, *target, "0", "0", "1")
            assert rc == 0, out
            assert out.split() == ["rcvd:", "01", "00", "01", "00", "40", "00"]
            assert rack.ep.session_count == 0

    run(main())


@pytest.mark.tools
@needs_freeipmi
@pytest.mark.parametrize(
    ("user", "password", "message"),
    [("admin", "wrong", "password invalid"), ("nobody", "x", "username invalid")],
)
def test_freeipmi_failures(user: str, password: str, message: str) -> None:
    assert BMC_INFO is not None
    argv = [BMC_INFO, "-h", f"{HOST}:{PORT}", "-u", user, "-p", password, "-D", "LAN_2_0"]

    async def main() -> None:
        async with serving():
            rc, out = await tool(*argv, "--get-device-id")
            assert rc != 0 and message in out, out
            await still_answering()

    run(main())

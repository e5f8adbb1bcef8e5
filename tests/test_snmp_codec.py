"""The SNMP BER fast path: the codec against pyasn1 (byte for byte), malformed input, and the
two wire paths of a live agent (fast path on and off) compared response by response over every
MIB, on a virtual clock so that nothing moves between the two answers.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pyasn1.type import univ
from pysnmp.proto import rfc1902
from pysnmp.proto.api import v1 as api_v1
from pysnmp.proto.api import v2c as api_v2c

from emulator import topology as topo
from emulator.rack import Rack
from nodes.clock import VirtualClock
from switches.snmp import ber, smi
from switches.snmp.agent import SwitchAgent, bind_udp
from switches.snmp.fastpath import FastPath
from switches.spec import TrapReceiverSpec
from tests.conftest import require_tool

OID = tuple[int, ...]
IF_TABLE: OID = (1, 3, 6, 1, 2, 1, 2, 2)
IFX_TABLE: OID = (1, 3, 6, 1, 2, 1, 31, 1, 1)
SYS_DESCR: OID = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_NAME: OID = (1, 3, 6, 1, 2, 1, 1, 5, 0)
HC_IN_OCTETS_1: OID = (*IFX_TABLE, 1, 6, 1)
ENT_PHYSICAL_ENTRY: OID = (1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1)

arcs = st.integers(0, (1 << 32) - 1)
oids = st.tuples(st.integers(0, 1), st.integers(0, 39)).flatmap(
    lambda head: st.lists(arcs, max_size=20).map(lambda rest: (*head, *rest))
) | st.lists(arcs, max_size=20).map(lambda rest: (2, 999, *rest))


# -- building requests and reading responses with pysnmp's own API (an independent encoder) -----
def request(
    names: list[OID],
    *,
    pdu: str = "get",
    version: int = 1,
    community: bytes = b"public",
    request_id: int = 4242,
    non_repeaters: int = 0,
    max_repetitions: int = 10,
) -> bytes:
    api: Any = api_v1 if version == 0 else api_v2c
    kind = {
        "get": api.GetRequestPDU,
        "next": api.GetNextRequestPDU,
        "bulk": getattr(api, "GetBulkRequestPDU", None),
        "set": api.SetRequestPDU,
    }[pdu]
    p = kind()
    if pdu == "bulk":
        api.apiBulkPDU.set_defaults(p)
        api.apiBulkPDU.set_non_repeaters(p, non_repeaters)
        api.apiBulkPDU.set_max_repetitions(p, max_repetitions)
    else:
        api.apiPDU.set_defaults(p)
    api.apiPDU.set_request_id(p, request_id)
    if pdu == "set":
        api.apiPDU.set_varbinds(p, [(n, api.Integer(2)) for n in names])
    else:
        api.apiPDU.set_varbinds(p, [(n, api.Null("")) for n in names])
    msg = api.Message()
    api.apiMessage.set_defaults(msg)
    api.apiMessage.set_community(msg, community)
    api.apiMessage.set_pdu(msg, p)
    return bytes(encoder.encode(msg))


def response(data: bytes) -> tuple[int, int, int, list[tuple[OID, Any]]]:
    """(request-id, error-status, error-index, [(oid, value)]) of a v1 or v2c response."""
    version = int(decoder.decode(data, asn1Spec=api_v2c.Message())[0]["version"])
    api: Any = api_v1 if version == 0 else api_v2c
    msg, rest = decoder.decode(data, asn1Spec=api.Message())
    assert not rest
    pdu = api.apiMessage.get_pdu(msg)
    return (
        int(api.apiPDU.get_request_id(pdu)),
        int(api.apiPDU.get_error_status(pdu)),
        int(api.apiPDU.get_error_index(pdu, muteErrors=True)),
        [(tuple(name), value) for name, value in api.apiPDU.get_varbinds(pdu)],
    )


# -- the codec -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        smi.Integer32(0),
        smi.Integer32(127),
        smi.Integer32(128),
        smi.Integer32(-1),
        smi.Integer32(-128),
        smi.Integer32(-129),
        smi.Integer32(-(1 << 31)),
        smi.Integer32((1 << 31) - 1),
        smi.Counter32(0),
        smi.Counter32((1 << 32) - 1),
        smi.Gauge32(1 << 31),
        smi.Unsigned32(255),
        smi.TimeTicks(8_640_000),
        smi.Counter64(0),
        smi.Counter64((1 << 63) - 1),
        smi.Counter64(1 << 63),
        smi.Counter64((1 << 64) - 1),
        smi.OctetString(b""),
        smi.OctetString(b"x" * 127),
        smi.OctetString(b"x" * 128),
        smi.OctetString(b"x" * 256),
        smi.OctetString(b"x" * 65535),
        smi.Bits(b"\x40"),
        smi.IpAddress(b"\x0a\x00\x00\x01"),
        smi.ObjectIdentifier((0, 0)),
        smi.ObjectIdentifier((1, 3, 6, 1, 4, 1, 32473, 1, 1, 1)),
        smi.ObjectIdentifier((2, 999, 3)),
        smi.ObjectIdentifier((1, 3, (1 << 32) - 1, 128, 16384)),
    ],
    ids=lambda v: f"{type(v).__name__}-{str(v)[:20]}",
)
def test_values_encode_as_pyasn1_does(value: smi.Value) -> None:
    ours = ber.encode_value(value)
    if isinstance(value, int) and pyasn1_quirk(value):
        assert decoder.decode(ours, asn1Spec=smi.to_pysnmp(value))[0] == value
    else:
        assert ours == encoder.encode(smi.to_pysnmp(value))


@pytest.mark.parametrize(
    "value",
    [
        smi.Integer32(1 << 31),
        smi.Counter32(-1),
        smi.Counter32(1 << 32),
        smi.Counter64(1 << 64),
        smi.IpAddress(b"\x01\x02\x03"),
        smi.OctetString(b"x" * 65536),
    ],
)
def test_out_of_range_values_refuse_to_encode(value: smi.Value) -> None:
    with pytest.raises(ValueError):
        ber.encode_value(value)
    with pytest.raises(Exception):  # noqa: B017 - pyasn1's constraint error: pysnmp refuses too
        encoder.encode(smi.to_pysnmp(value))


def pyasn1_quirk(n: int) -> bool:
    """pyasn1 encodes -2^(8k-1) (-128, -32768, ...) one octet longer than X.690 8.3.2 allows
    (``ff 80`` for -128); we encode the minimal form, which every decoder reads the same."""
    return n < 0 and (-n) & (-n - 1) == 0 and (-n).bit_length() % 8 == 0


@given(st.integers(-(1 << 70), 1 << 70))
def test_integers_are_minimal_twos_complement(n: int) -> None:
    ours = ber.encode_integer(n)
    value, rest = decoder.decode(ours, asn1Spec=univ.Integer())
    assert int(value) == n and not rest
    assert len(ours) == 2 + ((n if n >= 0 else ~n).bit_length() // 8) + 1  # minimal
    if not pyasn1_quirk(n):
        assert ours == encoder.encode(univ.Integer(n))


def test_pyasn1_quirk_is_what_we_think() -> None:
    assert encoder.encode(univ.Integer(-128)) == b"\x02\x02\xff\x80"
    assert ber.encode_integer(-128) == b"\x02\x01\x80"
    assert [n for n in range(-70000, 0) if pyasn1_quirk(n)] == [-32768, -128]


@pytest.mark.parametrize("n", [0, 1, 127, 128, 255, 256, 65535, 65536, 1 << 24])
def test_lengths_short_and_long_form(n: int) -> None:
    content = b"\x00" * n
    encoded = ber.tlv(0x04, content)
    assert encoded == encoder.encode(univ.OctetString(content))
    assert len(encoded) == ber.tlv_size(n)


@given(oids)
def test_oids_round_trip_and_match_pyasn1(oid: OID) -> None:
    encoded = ber.encode_oid(oid)
    assert encoded == encoder.encode(univ.ObjectIdentifier(oid))
    tag, start, stop = ber._header(encoded, 0, len(encoded))
    assert tag == smi.OBJECT_IDENTIFIER and stop == len(encoded)
    assert ber.decode_oid(encoded[start:]) == oid


@pytest.mark.parametrize(
    "content",
    [b"", b"\x2b\x86", b"\x2b\x80\x01", b"\x80\x01", b"\x2b\x90\x80\x80\x80\x80\x00"],
    ids=["empty", "truncated", "non-minimal", "non-minimal-first", "over-32-bits"],
)
def test_bad_oids_are_refused(content: bytes) -> None:
    with pytest.raises(ber.BerError):
        ber.decode_oid(content)


@given(
    request_id=st.integers(ber.INT32_MIN, ber.INT32_MAX),
    names=st.lists(oids, max_size=12),
    community=st.binary(max_size=40),
    non_repeaters=st.integers(0, ber.INT32_MAX),
    max_repetitions=st.integers(0, ber.INT32_MAX),
    pdu=st.sampled_from(["get", "next", "bulk"]),
)
def test_requests_decode_as_pysnmp_encoded_them(
    request_id: int,
    names: list[OID],
    community: bytes,
    non_repeaters: int,
    max_repetitions: int,
    pdu: str,
) -> None:
    assume(not pyasn1_quirk(request_id))  # pyasn1's non-minimal form: see the next test
    data = request(
        names,
        pdu=pdu,
        community=community,
        request_id=request_id,
        non_repeaters=non_repeaters,
        max_repetitions=max_repetitions,
    )
    got = ber.decode_request(data)
    assert got is not None
    assert (got.version, got.community, got.request_id, got.names) == (
        1,
        community,
        request_id,
        tuple(names),
    )
    assert got.pdu == {"get": ber.GET, "next": ber.GETNEXT, "bulk": ber.GETBULK}[pdu]
    if pdu == "bulk":
        assert (got.non_repeaters, got.max_repetitions) == (non_repeaters, max_repetitions)


def test_a_non_minimal_request_id_is_left_to_pysnmp() -> None:
    assert ber.decode_request(request([SYS_NAME], request_id=-128)) is None  # 02 02 ff 80


def test_long_lengths_in_a_request() -> None:
    names = [(*IF_TABLE, 1, c, i) for c in range(1, 23) for i in range(1, 57)]  # 1,232 varbinds
    data = request(names, pdu="get")
    assert len(data) > 65536 // 4 and data[1] == 0x82  # two-octet lengths
    got = ber.decode_request(data)
    assert got is not None and got.names == tuple(names)
    # A non-minimal long form is still BER (and pyasn1 reads it): accepted.
    short = request([SYS_NAME], pdu="get")
    stretched = b"\x30\x81" + short[1:]
    assert decoder.decode(stretched, asn1Spec=api_v2c.Message())[0]
    got = ber.decode_request(stretched)
    assert got is not None and got.names == (SYS_NAME,)


@pytest.mark.parametrize(
    "data",
    [
        request([SYS_NAME], pdu="set"),  # a write: pysnmp's
        request([SYS_NAME], version=0, request_id=1 << 31),  # outside Integer32
        request([SYS_NAME], pdu="get") + b"\x00",  # octets after the message
        b"\x30\x80" + request([SYS_NAME])[2:] + b"\x00\x00",  # indefinite length
        request([SYS_NAME]).replace(b"\x02\x01\x01", b"\x02\x02\x00\x01", 1),  # non-minimal
        request([SYS_NAME]).replace(b"\x05\x00", b"\x02\x01\x05"),  # a value in a GET
        bytes.fromhex("3029020103300f02020001020205dc0401040201030400"),  # SNMPv3 (truncated)
    ],
    ids=["set", "request-id", "trailing", "indefinite", "non-minimal-int", "value", "v3"],
)
def test_requests_the_fast_path_leaves_to_pysnmp(data: bytes) -> None:
    assert ber.decode_request(data) is None


def test_v1_getbulk_is_left_to_pysnmp() -> None:
    data = bytearray(request([SYS_NAME], pdu="bulk"))
    data[4] = 0  # version 0 with a GetBulk PDU: not a v1 message at all
    assert ber.decode_request(bytes(data)) is None


def test_every_truncation_is_refused() -> None:
    data = request([SYS_NAME, (*IF_TABLE, 1, 2, 300)], pdu="bulk", max_repetitions=300)
    for n in range(len(data)):
        assert ber.decode_request(data[:n]) is None


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(data: bytes) -> None:
    ber.decode_request(data)
    ber.decode_request(b"\x30" + bytes([len(data) & 0x7F]) + data)


@settings(max_examples=300)
@given(st.data())
def test_corrupted_requests_never_raise(data: st.DataObject) -> None:
    good = bytearray(request([SYS_NAME, HC_IN_OCTETS_1], pdu="bulk", non_repeaters=1))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(good) - 1))
        good[i] = data.draw(st.integers(0, 255))
    got = ber.decode_request(bytes(good))
    assert got is None or isinstance(got, ber.Request)


def test_responses_encode_as_pyasn1_does() -> None:
    varbinds: list[tuple[OID, Any]] = [
        (SYS_NAME, smi.OctetString(b"tor-a")),
        (HC_IN_OCTETS_1, smi.Counter64((1 << 64) - 1)),
        ((*IF_TABLE, 1, 2, 1), smi.OctetString(b"y" * 300)),
    ]
    body = b"".join(
        ber.encode_varbind(ber.encode_oid(n), ber.encode_value(v)) for n, v in varbinds
    ) + ber.encode_varbind(ber.encode_oid((1, 2, 3)), ber.END_OF_MIB_VIEW)
    ours = ber.encode_response(1, b"public", -7, 0, 0, body)
    p = api_v2c.ResponsePDU()
    api_v2c.apiPDU.set_defaults(p)
    api_v2c.apiPDU.set_request_id(p, -7)
    api_v2c.apiPDU.set_varbinds(
        p,
        [(n, smi.to_pysnmp(v)) for n, v in varbinds] + [((1, 2, 3), api_v2c.EndOfMibView(""))],
    )
    msg = api_v2c.Message()
    api_v2c.apiMessage.set_defaults(msg)
    api_v2c.apiMessage.set_community(msg, b"public")
    api_v2c.apiMessage.set_pdu(msg, p)
    assert ours == encoder.encode(msg)
    assert ber.response_size(6, -7, len(body)) == len(ours)
    for size in (0, 100, 127, 128, 255, 256, 65535, 65536):
        assert ber.response_size(9, 1 << 20, size) == len(
            ber.encode_response(1, b"x" * 9, 1 << 20, 0, 0, b"\x00" * size)
        )


# -- both wire paths of a live agent ---------------------------------------------------------------
class Client:
    """A UDP client on the test's loop: one request, one answer (or None after ``timeout``)."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.bind(("127.0.0.1", 0))

    async def ask(self, data: bytes, timeout: float = 2.0) -> bytes | None:
        loop = asyncio.get_running_loop()
        await loop.sock_sendto(self.sock, data, self.address)
        try:
            reply, _ = await asyncio.wait_for(loop.sock_recvfrom(self.sock, 70_000), timeout)
        except TimeoutError:
            return None
        return reply


class Paths:
    """One switch's agent and a client; :meth:`both` asks the same request through each path."""

    def __init__(self, agent: SwitchAgent, client: Client) -> None:
        self.agent = agent
        self.client = client
        assert agent.fast_path is not None
        self.fast: FastPath = agent.fast_path
        self.compared = 0

    async def via(self, fast: bool, data: bytes, timeout: float = 2.0) -> bytes | None:
        self.agent.fast_path = self.fast if fast else None
        try:
            return await self.client.ask(data, timeout)
        finally:
            self.agent.fast_path = self.fast

    async def both(self, data: bytes, *, answered: bool = True, timeout: float = 2.0) -> bytes:
        """The response, after checking that both paths give the same bytes and that the fast
        path answered it itself (``answered``) or declined it."""
        before = self.fast.answered
        fast = await self.via(True, data, timeout)
        assert (self.fast.answered - before == 1) is answered
        slow = await self.via(False, data, timeout)
        assert fast == slow, (response(fast) if fast else None, response(slow) if slow else None)
        self.compared += 1
        return fast or b""


def run_agents(
    body: Callable[[dict[str, Paths], Rack], Awaitable[None]],
    *,
    receivers: list[TrapReceiverSpec] | None = None,
    v1: bool = False,
    max_message_size: int | None = None,
) -> None:
    """A rack on a virtual clock (two hosts on, an hour of traffic), an agent per switch on
    127.0.0.1, and ``body(paths, rack)`` on their loop. ``v1``: the communities also serve
    SNMPv1 (the agents' default; without it no VACM group for security model 1 exists)."""
    clock = VirtualClock()
    rack = Rack(topo.default(4), clock)
    for node in ("n01", "n02"):
        rack.nodes[node].power_on()
    clock.advance(3600)

    async def main() -> None:
        paths: dict[str, Paths] = {}
        agents: list[SwitchAgent] = []
        clients: list[Client] = []
        try:
            for name, switch in rack.switches.items():
                agent = SwitchAgent(
                    switch,
                    rack="r1",
                    address="127.0.0.1",
                    port=0,
                    receivers=receivers or [],
                    snmpv1=v1,
                )
                agents.append(agent)
                sock = bind_udp("127.0.0.1", 0)
                await agent.start(sock)
                if max_message_size is not None:
                    agent.fast_path = FastPath(
                        agent._engine, agent.mib, max_message_size=max_message_size
                    )
                client = Client(sock.getsockname())
                clients.append(client)
                paths[name] = Paths(agent, client)
            await body(paths, rack)
        finally:
            for client in clients:
                client.sock.close()
            for agent in agents:
                agent.close()

    asyncio.run(main())


def chunks(items: list[OID], n: int) -> Iterator[list[OID]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


async def walk(p: Paths, *, version: int = 1) -> list[tuple[OID, Any]]:
    """GETNEXT from 1.0 (the read view is 1) to the end of the MIB, each step through both
    paths."""
    out: list[tuple[OID, Any]] = []
    name: OID = (1, 0)
    while True:
        reply = await p.both(request([name], pdu="next", version=version, request_id=len(out)))
        _, status, _, ((found, value),) = response(reply)
        if status or isinstance(value, api_v2c.EndOfMibView):
            return out
        out.append((found, value))
        name = found


def test_both_paths_agree_over_every_mib() -> None:
    async def body(paths: dict[str, Paths], rack: Rack) -> None:
        for device, p in paths.items():
            objects = await walk(p)
            ports = len(rack.switches[device].ports)
            assert len(objects) > 40 * ports  # the whole tree: system, IF-MIB, ENTITY, LLDP
            names = [n for n, _ in objects]
            assert names == sorted(names)
            switch = rack.switches[device]
            entities = 1 + len(switch.psus) + 2 * len(switch.fans) + len(switch.temp_sensors)
            descr = [n for n in names if n[:-1] == (*ENT_PHYSICAL_ENTRY, 2)]
            assert len(descr) == entities + ports  # fan trays and their sensors interleave
            assert any(isinstance(v, rfc1902.Counter64) for _, v in objects)
            # GET of every instance, 25 at a time, and of names that are not instances.
            for batch in chunks(names, 25):
                await p.both(request(batch, request_id=7))
            missing = [(*IF_TABLE, 1, 2, 999), (*IF_TABLE, 1, 99, 1), (1, 2, 3), (0, 0)]
            _, _, _, got = response(await p.both(request([*missing, SYS_NAME])))
            assert [type(v).__name__ for _, v in got] == [
                "NoSuchInstance",
                "NoSuchObject",
                "NoSuchObject",
                "NoSuchObject",
                "OctetString",
            ]
            # GETBULK walks with every shape the responders distinguish.
            for n, m, starts in [
                (0, 10, [IF_TABLE]),
                (0, 50, [IFX_TABLE]),
                (0, 100, [(1, 0)]),  # M capped to 64
                (1, 5, [SYS_NAME, IF_TABLE, IFX_TABLE]),
                (2, 3, [SYS_NAME, SYS_DESCR, (1, 0, 8802), (1, 3, 6, 1, 2, 1, 47)]),
                (5, 7, [IF_TABLE]),  # more non-repeaters than varbinds
            ]:
                cursor = list(starts)
                for _ in range(400):
                    reply = await p.both(
                        request(cursor, pdu="bulk", non_repeaters=n, max_repetitions=m)
                    )
                    _, status, _, got = response(reply)
                    assert status == 0
                    r = max(len(cursor) - min(n, len(cursor)), 0)
                    if not r or all(isinstance(v, api_v2c.EndOfMibView) for _, v in got[-r:]):
                        break
                    cursor = cursor[: min(n, len(cursor))] + [o for o, _ in got[-r:]]
            # Nothing results: pysnmp means genErr but raises on it, so no answer at all.
            for data in (
                request([IF_TABLE], pdu="bulk", max_repetitions=0),
                request([IF_TABLE] * 65, pdu="bulk", max_repetitions=1),  # 64 // 65 == 0
                request([], pdu="bulk"),
            ):
                assert await p.both(data, answered=False, timeout=0.3) == b""
            # The end of the MIB, an empty GET, and the read-write community.
            _, _, _, got = response(await p.both(request([(2, 1)], pdu="next")))
            assert isinstance(got[0][1], api_v2c.EndOfMibView)
            await p.both(request([], pdu="get"))
            await p.both(request([SYS_NAME, IF_TABLE], pdu="next", community=b"private"))

    run_agents(body)


def test_both_paths_agree_for_snmpv1() -> None:
    async def body(paths: dict[str, Paths], rack: Rack) -> None:
        p = paths["tor-a"]
        objects = await walk(p, version=0)
        hc = [n for n, _ in objects if n[: len(IFX_TABLE) + 1] == (*IFX_TABLE, 1)]
        assert hc and all(n[len(IFX_TABLE) + 1] not in range(6, 14) for n in hc)  # no Counter64
        for batch in chunks([n for n, _ in objects][:300], 20):
            await p.both(request(batch, version=0))
        # noSuchName at the lowest missing index; a Counter64 scanned from the end stops it.
        cases = {
            (SYS_NAME, (1, 2, 3), (*IF_TABLE, 1, 2, 999)): 2,
            (SYS_NAME, HC_IN_OCTETS_1): 2,
            ((1, 2, 3), SYS_NAME, HC_IN_OCTETS_1): 3,
            (HC_IN_OCTETS_1, (1, 2, 3)): 1,
        }
        for names, index in cases.items():
            _, status, got_index, got = response(await p.both(request(list(names), version=0)))
            assert (status, got_index) == (2, index)
            assert [n for n, _ in got] == list(names)  # the request's varbinds
        # GETNEXT steps over Counter64 columns; past the end is noSuchName.
        _, _, _, got = response(
            await p.both(request([(*IFX_TABLE, 1, 5, 56)], pdu="next", version=0))
        )
        assert got[0][0] == (*IFX_TABLE, 1, 14, 1)
        _, status, index, _ = response(
            await p.both(request([SYS_NAME, (2, 1)], pdu="next", version=0))
        )
        assert (status, index) == (2, 2)

    run_agents(body, v1=True)


def test_snmpv1_without_a_vacm_group_reads_nothing_on_either_path() -> None:
    async def body(paths: dict[str, Paths], rack: Rack) -> None:
        p = paths["tor-b"]
        _, status, index, _ = response(await p.both(request([SYS_NAME], version=0)))
        assert (status, index) == (2, 1)
        _, status, index, _ = response(await p.both(request([SYS_NAME], pdu="next", version=0)))
        assert (status, index) == (2, 1)

    run_agents(body)


def test_what_the_fast_path_declines_behaves_as_before() -> None:
    trap_only = TrapReceiverSpec.model_validate(
        {"address": "127.0.0.1", "port": 9, "community": "traps-only"}
    )

    async def body(paths: dict[str, Paths], rack: Rack) -> None:
        p = paths["tor-a"]
        # Unknown and notification-only communities: no answer, on either path.
        for community in (b"guess", b"traps-only", b""):
            data = request([SYS_NAME], community=community)
            assert await p.both(data, answered=False, timeout=0.3) == b""
        # A SET goes to pysnmp: read-only is refused, read-write shuts the port.
        refused = await p.both(request([(*IF_TABLE, 1, 7, 5)], pdu="set"), answered=False)
        assert response(refused)[1] != 0
        shut = await p.via(True, request([(*IF_TABLE, 1, 7, 5)], pdu="set", community=b"private"))
        assert shut is not None and response(shut)[1] == 0
        assert not rack.switches["tor-a"].ports["ethernet1/1/5"].admin_up
        # Garbage and a v3 message: declined, and the agent carries on.
        declined = p.fast.declined
        for data in (b"", b"\x30", b"\xa5" * 100, bytes.fromhex("3003020163")):
            assert await p.client.ask(data, timeout=0.2) is None
        assert p.fast.declined == declined + 4
        _, _, _, got = response(await p.both(request([SYS_NAME])))
        assert got == [(SYS_NAME, rfc1902.OctetString(b"tor-a"))]

    run_agents(body, receivers=[trap_only])


def test_response_size_limit_truncates_bulk_and_answers_too_big() -> None:
    async def body(paths: dict[str, Paths], rack: Rack) -> None:
        p = paths["tor-a"]
        assert p.fast.max_message_size == 484
        # GETBULK: as many varbinds as fit, in order, the message within the limit.
        data = request([IF_TABLE], pdu="bulk", max_repetitions=60)
        reply = await p.client.ask(data)
        assert reply is not None and 400 < len(reply) <= 484
        _, status, _, got = response(reply)
        full = await p.via(False, data)
        assert full is not None and status == 0
        assert got == response(full)[3][: len(got)] and len(got) < 60
        # GET that does not fit: tooBig, no varbinds (v2c); the request's varbinds (v1).
        too_many = request([SYS_DESCR] * 8)
        assert response(await p.client.ask(too_many) or b"")[1:] == (1, 0, [])
        _, status, index, got = response(
            await p.client.ask(request([SYS_DESCR] * 8, version=0)) or b""
        )
        assert (status, index, len(got)) == (1, 0, 8)

    run_agents(body, v1=True, max_message_size=484)


@pytest.mark.tools
def test_net_snmp_walks_through_truncated_bulk_responses() -> None:
    async def body(paths: dict[str, Paths], rack: Rack) -> None:
        p = paths["tor-a"]
        host, port = p.client.address
        target = f"{host}:{port}"

        async def tool(*args: str) -> tuple[int, str]:
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await proc.communicate()
            return proc.returncode or 0, out.decode()

        quiet = ["-On", "-m", "", "-v2c", "-c", "public", "-t", "2", "-r", "0"]
        code, out = await tool(
            require_tool("snmpbulkwalk"), *quiet, "-Cr50", target, "1.3.6.1.2.1.2.2"
        )
        assert code == 0, out
        assert len([line for line in out.splitlines() if " = " in line]) == 18 * 56
        code, out = await tool(
            require_tool("snmpget"), *quiet, target, *(["1.3.6.1.2.1.1.1.0"] * 8)
        )
        assert code != 0 and "tooBig" in out, out

    run_agents(body, v1=True, max_message_size=484)


def test_a_model_error_subclass_takes_its_parents_snmp_error() -> None:
    """The SET error table is looked up through the class hierarchy: a subclass of a model
    error gets its parent's error-status, not genErr; only an error with no row is genErr."""
    from pysnmp.smi import error as smi_error

    from nodes.errors import InvalidArgument, ModelError, PowerUnavailable
    from switches.snmp.mib import wire_error

    class VlanOutOfRange(InvalidArgument):
        pass

    assert wire_error(VlanOutOfRange("vlan 5000")) is smi_error.WrongValueError
    assert wire_error(InvalidArgument("bad")) is smi_error.WrongValueError
    assert wire_error(PowerUnavailable("no input")) is smi_error.InconsistentValueError
    assert wire_error(ModelError("?")) is smi_error.GenError

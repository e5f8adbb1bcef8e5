"""One uvicorn server for every BMC of a rack.

Each BMC has its own listening socket (its address and port), bound here before the server
starts; uvicorn serves them all (``Server.serve(sockets=...)``) on the rack's loop, with one TLS
identity. The app picks the BMC per request from the local address.

A BMC that is restarting does not answer: the HTTP protocol below aborts the connection (no
response at all) when it is made or when a request arrives on a kept-alive one. A BMC the network
does not reach (the fabric drops its packets: its switch or port is down) answers nothing and
refuses nothing: the connection is held, what the client sends is kept (as TCP would retransmit
it), and the client times out, as across a real network. If the path comes back while the client
still waits, the request is served then. (The TLS handshake, done by asyncio before the HTTP
protocol sees the connection, still completes: the first request is what hangs.)
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import uvicorn

from bmc.redfish import errors, tls
from bmc.redfish import registries as reg
from bmc.redfish.app import create_app
from bmc.redfish.deps import encode
from bmc.redfish.errors import Msg
from bmc.redfish.service import BmcService, Directory
from bmc.serving import Serving

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Http
except ImportError:  # pragma: no cover - uvicorn without httptools
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Http  # type: ignore[assignment]


#: A request line whose method is a valid token: when the parser still refuses the request,
#: it is because it does not know the method.
_REQUEST_LINE = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+ \S+ HTTP/1\.[01]\r?\n")


#: How often a held connection looks whether its BMC is reachable again (seconds, real time).
HOLD_POLL_S = 0.1
#: What a held connection keeps of the client's bytes; beyond it they are dropped.
HOLD_BUFFER = 64 * 1024

Local = tuple[str, int | None] | None


def _unknown_method(request_line: bytes) -> bool:
    """Whether the HTTP parser refuses ``request_line`` for its method alone (httptools knows
    a fixed list of methods; h11 takes any token)."""
    try:
        import httptools
    except ImportError:  # pragma: no cover - uvicorn without httptools
        return False
    parser = httptools.HttpRequestParser(None)
    try:
        parser.feed_data(request_line.split(b"\n", 1)[0].rstrip(b"\r") + b"\r\n\r\n")
    except httptools.HttpParserInvalidMethodError:
        return True
    except httptools.HttpParserError:
        return False
    return False


def _bad_header(data: bytes) -> str:
    """The name of the first header line of ``data`` the parser refuses (for the message)."""
    try:
        import httptools
    except ImportError:  # pragma: no cover - uvicorn without httptools
        return "(unparsable)"
    lines = data.split(b"\r\n\r\n", 1)[0].split(b"\n")[1:]
    for line in lines:
        parser = httptools.HttpRequestParser(None)
        try:
            parser.feed_data(b"GET / HTTP/1.1\r\n" + line.rstrip(b"\r") + b"\r\n\r\n")
        except httptools.HttpParserError:
            name = line.split(b":", 1)[0][:64]
            return name.decode("latin-1").encode("ascii", "backslashreplace").decode()
    return "(unparsable)"


def _raw_response(status: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\n"
        b"content-type: application/json; charset=utf-8\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"odata-version: 4.0\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n" + body
    )


def gated_protocol(
    answering: Callable[[Local], bool],
    not_implemented: bytes = b"",
    delivered: Callable[[Local], bool] = lambda local: True,
    bad_request: Callable[[str], bytes] | None = None,
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol, dropping connections to a BMC that is not answering
    (``answering`` false: aborted) and holding those the network does not deliver
    (``delivered`` false: nothing is answered until it is delivered again).

    A request the HTTP parser refuses is answered with a Redfish error body, and the connection
    closed (``Connection: close``: the parser cannot go on): a method it does not know
    (httptools knows a fixed list) 501 Not Implemented with ``not_implemented``; anything else
    (a header it refuses) 400 Bad Request with ``bad_request(header name)``.
    """

    class Gated(_Http):
        _last = b""
        _held: list[bytes] | None = None
        _held_size = 0
        _poll: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if not delivered(self.server):
                self._hold(b"")
            elif not answering(self.server):
                transport.abort()

        def data_received(self, data: bytes) -> None:
            if self._held is not None or not delivered(self.server):
                self._hold(data)
                return
            if not answering(self.server):
                self.transport.abort()
                return
            self._last = data
            super().data_received(data)

        def _hold(self, data: bytes) -> None:
            if self._held is None:
                self._held = []
                self._poll = self.loop.call_later(HOLD_POLL_S, self._check_held)
            if data and self._held_size + len(data) <= HOLD_BUFFER:
                self._held.append(data)
                self._held_size += len(data)

        def _check_held(self) -> None:
            self._poll = None
            if self.transport.is_closing():
                return
            if not delivered(self.server):
                self._poll = self.loop.call_later(HOLD_POLL_S, self._check_held)
                return
            data = b"".join(self._held or [])
            self._held, self._held_size = None, 0
            if not answering(self.server):
                self.transport.abort()
            elif data:
                self.data_received(data)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._poll is not None:
                self._poll.cancel()
                self._poll = None
            super().connection_lost(exc)
            # uvicorn cancels its keep-alive timer only when the connection ended cleanly; after
            # a reset (a TLS client that just closes its socket) the timer held this protocol,
            # its TLS protocol and read buffer for the whole keep-alive timeout (30 s).
            if self.timeout_keep_alive_task is not None:
                self.timeout_keep_alive_task.cancel()
                self.timeout_keep_alive_task = None

        def send_400_response(self, msg: str) -> None:
            if not _REQUEST_LINE.match(self._last):
                super().send_400_response(msg)
                return
            if _unknown_method(self._last):
                if not not_implemented:
                    super().send_400_response(msg)
                    return
                self.transport.write(_raw_response(b"501 Not Implemented", not_implemented))
            elif bad_request is not None:
                body = bad_request(_bad_header(self._last))
                self.transport.write(_raw_response(b"400 Bad Request", body))
            else:
                super().send_400_response(msg)
                return
            self.transport.close()

    return Gated


class BindError(OSError):
    """A BMC's Redfish socket could not be bound."""

    def __init__(self, bmc: BmcService, exc: OSError) -> None:
        super().__init__(exc.errno, exc.strerror)
        self.bmc = bmc


def bind(address: str, port: int, backlog: int = 128) -> socket.socket:
    """A listening socket whose connections send at once (TCP_NODELAY).

    asyncio sets TCP_NODELAY only on sockets whose ``proto`` says TCP (an accepted socket takes
    the listener's), and with Nagle plus the client's delayed ACK every response on a kept-alive
    connection waited ~40 ms on the plain asyncio loop; uvloop sets it regardless. The option is
    also set on the listener, which Linux passes on to accepted sockets.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((address, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class RedfishServer:
    """Serves every BMC in ``services`` from one uvicorn server on the running loop."""

    def __init__(
        self,
        services: Sequence[BmcService],
        *,
        tls: tuple[Path, Path] | None,
        registries: reg.Registries | None = None,
    ) -> None:
        self.directory = Directory(services)
        self.registries = registries or reg.load()
        self.tls = tls
        self._sockets: list[socket.socket] = []
        self._serving: Serving | None = None

    def _answering(self, local: Local) -> bool:
        if local is None or local[1] is None:
            return True
        bmc = self.directory.at(local[0], local[1])
        return bmc is None or bmc.reachable()

    def _delivered(self, local: Local) -> bool:
        if local is None or local[1] is None:
            return True
        bmc = self.directory.at(local[0], local[1])
        # A hung BMC is silent as an unreachable one is: requests wait, unanswered.
        return bmc is None or (bmc.path_up() and not bmc.node.bmc_hung)

    def bind_all(self) -> None:
        """Bind every BMC's socket; :class:`BindError` names the one that failed."""
        for bmc in self.directory:
            try:
                self._sockets.append(bind(bmc.address, bmc.port))
            except OSError as exc:
                for sock in self._sockets:
                    sock.close()
                self._sockets.clear()
                raise BindError(bmc, exc) from None

    async def start(self, timeout: float = 10.0) -> None:
        if not self._sockets:
            self.bind_all()
        app = create_app(self.directory, self.registries)
        base = self.registries.base
        unknown_method = encode(errors.body(base, [Msg("OperationNotAllowed")]))

        def bad_request(header: str) -> bytes:
            return encode(errors.body(base, [Msg("HeaderInvalid", (header,))]))

        http: Any = gated_protocol(self._answering, unknown_method, self._delivered, bad_request)
        if self.tls:
            http = tls.tls_protocol(http, tls.server_context(*self.tls))
        config = uvicorn.Config(
            app,
            http=http,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
        )
        self._serving = Serving(config, self._sockets, "the Redfish server")
        await self._serving.started(timeout)

    async def stop(self) -> None:
        if self._serving is not None:
            await self._serving.stop()
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()
        self._serving = None

"""One uvicorn server for every BMC of a rack.

Each BMC has its own listening socket (its address and port), bound here before the server
starts; uvicorn serves them all (``Server.serve(sockets=...)``) on the rack's loop, with one TLS
identity. The app picks the BMC per request from the local address.

A BMC that is restarting, or whose cable leads nowhere, does not answer: the HTTP protocol
below aborts the connection (no response at all) when it is made or when a request arrives on a
kept-alive one, the way a client sees a BMC that is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import uvicorn

from bmc.redfish import errors
from bmc.redfish import registries as reg
from bmc.redfish.app import create_app
from bmc.redfish.deps import encode
from bmc.redfish.errors import Msg
from bmc.redfish.service import BmcService, Directory

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Http
except ImportError:  # pragma: no cover - uvicorn without httptools
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Http  # type: ignore[assignment]


#: A request line whose method is a valid token: when the parser still refuses the request,
#: it is because it does not know the method.
_REQUEST_LINE = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+ \S+ HTTP/1\.[01]\r?\n")


def gated_protocol(
    answering: Callable[[tuple[str, int | None] | None], bool],
    not_implemented: bytes = b"",
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol, dropping connections to a BMC that is not answering.

    A method the HTTP parser does not know (httptools knows a fixed list) is answered
    501 Not Implemented with ``not_implemented`` as the Redfish error body, not 400.
    """

    class Gated(_Http):
        _last = b""

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if not answering(self.server):
                transport.abort()

        def data_received(self, data: bytes) -> None:
            if not answering(self.server):
                self.transport.abort()
                return
            self._last = data
            super().data_received(data)

        def send_400_response(self, msg: str) -> None:
            if not not_implemented or not _REQUEST_LINE.match(self._last):
                super().send_400_response(msg)
                return
            self.transport.write(
                b"HTTP/1.1 501 Not Implemented\r\n"
                b"content-type: application/json; charset=utf-8\r\n"
                b"content-length: " + str(len(not_implemented)).encode() + b"\r\n"
                b"odata-version: 4.0\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
                + not_implemented
            )
            self.transport.close()

    return Gated


class BindError(OSError):
    """A BMC's Redfish socket could not be bound."""

    def __init__(self, bmc: BmcService, exc: OSError) -> None:
        super().__init__(exc.errno, exc.strerror)
        self.bmc = bmc


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers: the rack's owner handles signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind(address: str, port: int, backlog: int = 128) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    def _answering(self, local: tuple[str, int | None] | None) -> bool:
        if local is None or local[1] is None:
            return True
        bmc = self.directory.at(local[0], local[1])
        return bmc is None or bmc.reachable()

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
        unknown_method = encode(errors.body(self.registries.base, [Msg("OperationNotAllowed")]))
        config = uvicorn.Config(
            app,
            http=gated_protocol(self._answering, unknown_method),
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            ssl_certfile=str(self.tls[0]) if self.tls else None,
            ssl_keyfile=str(self.tls[1]) if self.tls else None,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
        )
        server = _Server(config)
        self._server = server
        self._task = asyncio.create_task(server.serve(sockets=self._sockets))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise RuntimeError("the Redfish server stopped while starting")
            if loop.time() > deadline:
                raise TimeoutError("the Redfish server did not start in time")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(self._task, timeout=5)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()
        self._server = None
        self._task = None

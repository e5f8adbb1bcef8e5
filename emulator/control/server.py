"""The control plane's uvicorn server on the rack's loop, on its own pre-bound socket.

The socket is bound before the server starts (TCP_NODELAY, as for Redfish: see
``bmc.redfish.server.bind``), on the topology's ``control`` address and port; when that port is
taken or may not be bound, on ``fallback_port`` (0: any free port) unless that is null.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI

from bmc.redfish.server import bind


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers: the rack's owner handles signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind_control(address: str, port: int, fallback_port: int | None) -> socket.socket:
    """The listening socket: ``port``, else ``fallback_port`` when ``port`` is taken or
    privileged; the OSError of ``port`` when there is no fallback or it fails too."""
    try:
        return bind(address, port)
    except OSError as exc:
        if fallback_port is None or exc.errno not in (errno.EADDRINUSE, errno.EACCES):
            raise
        try:
            return bind(address, fallback_port)
        except OSError:
            raise exc from None


class ControlServer:
    """Serves ``app`` on ``sock`` from the running loop: ``await start()``, ``await stop()``."""

    def __init__(self, app: FastAPI, sock: socket.socket) -> None:
        self.app = app
        self._sock = sock
        self.address, self.port = sock.getsockname()[:2]
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def listening_socket(self) -> socket.socket:
        return self._sock

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    async def start(self, timeout: float = 10.0) -> None:
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
        )
        server = _Server(config)
        self._server = server
        self._task = asyncio.create_task(server.serve(sockets=[self._sock]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the control server stopped while starting")
            if loop.time() > deadline:
                raise TimeoutError("the control server did not start in time")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(self._task, timeout=5)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
        self._sock.close()
        self._server = None
        self._task = None

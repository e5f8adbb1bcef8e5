"""The control plane's uvicorn server on the rack's loop, on its own pre-bound socket.

The socket is bound before the server starts (TCP_NODELAY, as for Redfish: see
``bmc.redfish.server.bind``), on the topology's ``control`` address and port; when that port is
taken or may not be bound, on ``fallback_port`` (0: any free port) unless that is null.
"""

from __future__ import annotations

import errno
import socket

import uvicorn
from fastapi import FastAPI

from bmc.redfish.server import bind
from bmc.serving import Serving


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
        self._serving: Serving | None = None

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
        self._serving = Serving(config, [self._sock], "the control server")
        await self._serving.started(timeout)

    async def stop(self) -> None:
        if self._serving is not None:
            await self._serving.stop()
        self._sock.close()
        self._serving = None

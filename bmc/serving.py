"""An ASGI app served by uvicorn on sockets bound beforehand, as a task of the running loop.

Both HTTP front ends (the BMCs' Redfish, ``bmc.redfish.server``, and the rack's control plane,
``emulator.control.server``) bind their own sockets and run uvicorn's ``Server.serve(sockets=...)``
on the rack's loop; this is that one piece: start, wait until uvicorn says it started (or the
task ended, or the time is up), and stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator, Sequence

import uvicorn


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers: the rack's owner handles signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Serving:
    """``config``'s app served on ``sockets`` from the running loop, from construction on.

    ``what`` names the server in the errors of :meth:`started` ("the Redfish server"). The
    sockets stay the caller's: :meth:`stop` does not close them.
    """

    def __init__(self, config: uvicorn.Config, sockets: Sequence[socket.socket], what: str) -> None:
        self.what = what
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=list(sockets)))

    async def started(self, timeout: float) -> None:
        """Return once uvicorn serves; raise what stopped it, or :class:`RuntimeError` if it
        stopped without an error, or :class:`TimeoutError` after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise RuntimeError(f"{self.what} stopped while starting")
            if loop.time() > deadline:
                raise TimeoutError(f"{self.what} did not start in time")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Ask uvicorn to exit (it waits up to the config's graceful shutdown time), cancel the
        task if it has not ended in 5 s."""
        self._server.should_exit = True
        try:
            await asyncio.wait_for(self._task, timeout=5)
        except (TimeoutError, asyncio.CancelledError):
            self._task.cancel()

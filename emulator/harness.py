"""Run a rack in a background thread: for test suites (ours and users') that drive it with
real clients from the main thread.

    with RackThread(topology.default(4), speed=50) as rack:
        subprocess.run(["ipmitool", "-H", rack.endpoints[0].address, ...])
        state = rack.call(lambda r: r.nodes["n01"].state)
        httpx.post(rack.control_url + "/nodes/n01/start",          # the control plane
                   headers={"Authorization": f"Bearer {rack.token}"})

Everything touching the model goes through :meth:`RackThread.call`, which runs on the rack's
own loop thread, so the model never sees two threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from emulator.endpoints import Endpoint
from emulator.rack import Rack
from emulator.runtime import RackRuntime
from emulator.topology import Topology

T = TypeVar("T")


class RackThread:
    def __init__(
        self,
        topology: Topology,
        *,
        speed: float = 1.0,
        state_dir: Path | None = None,
        fresh: bool = False,
        token: str | None = None,
        power_on: bool = False,
        start_timeout: float = 30.0,
        virtual: bool = False,
    ):
        self.topology = topology
        #: Without a state_dir, a temporary one (removed by close()): a test never writes into
        #: the user's data directory.
        self._tmp_state: Path | None = None
        if state_dir is None:
            self._tmp_state = state_dir = Path(tempfile.mkdtemp(prefix="scaleunit-state-"))
        self.runtime = RackRuntime(
            topology,
            speed=speed,
            state_dir=state_dir,
            fresh=fresh,
            token=token,
            power_on=power_on,
            virtual=virtual,
        )
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, name=f"rack-{topology.name}", daemon=True)
        self._start_timeout = start_timeout

    @property
    def endpoints(self) -> list[Endpoint]:
        return self.runtime.endpoints

    @property
    def control_url(self) -> str:
        """The control plane's base URL (``http://127.0.0.1:8470``)."""
        assert self.runtime.control is not None, "the control plane is not serving"
        return self.runtime.control.url

    @property
    def token(self) -> str:
        """The control plane's bearer token."""
        return self.runtime.token

    def endpoint(self, device: str, protocol: str = "ipmi") -> Endpoint:
        return next(e for e in self.endpoints if e.device == device and e.protocol == protocol)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.runtime.start()
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        try:
            await self._stop.wait()
        finally:
            await self.runtime.stop()

    def start(self) -> RackThread:
        self._thread.start()
        self._ready.result(timeout=self._start_timeout)
        return self

    def call(self, fn: Callable[[Rack], T], timeout: float = 10.0) -> T:
        """Run ``fn(rack)`` on the rack's loop thread and return its result."""
        rack = self.runtime.rack
        assert rack is not None, "the rack is not started"

        async def run() -> T:
            return fn(rack)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def close(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
        if self._tmp_state is not None and not self._thread.is_alive():
            shutil.rmtree(self._tmp_state, ignore_errors=True)
            self._tmp_state = None

    def __enter__(self) -> RackThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

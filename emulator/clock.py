"""The real-time clock for a running rack: wall time, scaled by ``--speed``, on an asyncio loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable

from nodes.clock import Timer, VirtualClock


class _LoopTimer:
    __slots__ = ("_handle", "_when")

    def __init__(self, when: float, handle: asyncio.TimerHandle) -> None:
        self._when = when
        self._handle = handle

    @property
    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self._handle.cancel()


class ScaledClock:
    """Emulated time = the wall time at start + (elapsed real time) x ``speed``.

    Timers are asyncio timers on ``loop``: a 45 s POST at ``speed=10`` fires after 4.5 s.
    Must be used from the loop's thread.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, speed: float = 1.0, not_before: float = 0.0
    ) -> None:
        if not speed > 0:
            raise ValueError("speed must be greater than zero")
        self.loop = loop
        self.speed = speed
        # A rack restored from its state continues from where its emulated time had got to
        # (at a speed above 1 it runs ahead of the wall clock): time never goes backwards.
        self._wall0 = max(time.time(), not_before)
        self._loop0 = loop.time()

    def now(self) -> float:
        return self._wall0 + (self.loop.time() - self._loop0) * self.speed

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        loop_when = self._loop0 + (when - self._wall0) / self.speed
        return _LoopTimer(when, self.loop.call_at(loop_when, callback))

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(self.now() + max(0.0, delay), callback)


class SteppedClock(VirtualClock):
    """Virtual time for a running rack (``--virtual``): emulated time stands still until a client
    (the controller, while it waits) asks it to move, then jumps from timer to timer.

    It starts at the wall time, so SEL timestamps look current. Timers are kept and fired on the
    rack's loop thread (:meth:`step` runs there), so the model still never sees two threads. A
    client on another thread moves it with :meth:`advance_threadsafe`.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, start: float | None = None) -> None:
        super().__init__(time.time() if start is None else start)
        self.loop = loop

    async def step(self, seconds: float) -> float:
        """Fire, in order, every timer due within ``seconds``, letting the loop run the I/O
        each one starts before the next; returns the new time."""
        deadline = self.now() + max(0.0, seconds)
        while True:
            when = self.next_deadline()
            if when is None or when > deadline:
                break
            self.run_until(when)
            await asyncio.sleep(0)
        self.run_until(deadline)
        return self.now()

    def advance_threadsafe(self, seconds: float) -> concurrent.futures.Future[float]:
        """:meth:`step` on the clock's loop, from any thread."""
        return asyncio.run_coroutine_threadsafe(self.step(seconds), self.loop)

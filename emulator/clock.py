"""The real-time clock for a running rack: wall time, scaled by ``--speed``, on an asyncio loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from nodes.clock import Timer


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

    def __init__(self, loop: asyncio.AbstractEventLoop, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError("speed must be greater than zero")
        self.loop = loop
        self.speed = speed
        self._wall0 = time.time()
        self._loop0 = loop.time()

    def now(self) -> float:
        return self._wall0 + (self.loop.time() - self._loop0) * self.speed

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        loop_when = self._loop0 + (when - self._wall0) / self.speed
        return _LoopTimer(when, self.loop.call_at(loop_when, callback))

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(self.now() + max(0.0, delay), callback)

"""Time for the models.

Models never read the system time and never sleep. They ask a :class:`Clock` for ``now()``
(emulated seconds since the Unix epoch, so SEL timestamps look like a real BMC's) and schedule
their delayed transitions with :meth:`Clock.call_at`. Two clocks exist:

* :class:`VirtualClock` (here): time moves only when a test calls :meth:`VirtualClock.advance`,
  so a five-minute firmware flash runs in microseconds and always the same way;
* ``emulator.clock.ScaledClock``: real time multiplied by a ``--speed`` factor, driven by the
  asyncio loop that hosts the rack.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Protocol

#: 2026-01-01T00:00:00Z, the default start of virtual time.
DEFAULT_EPOCH = 1_767_225_600.0


class Timer(Protocol):
    """A scheduled callback that can be cancelled."""

    @property
    def when(self) -> float: ...

    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the models need from time."""

    def now(self) -> float:
        """Emulated time, in seconds since the Unix epoch."""
        ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` once when emulated time reaches ``when``."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` once ``delay`` emulated seconds from now."""
        ...


class _VirtualTimer:
    __slots__ = ("_callback", "_cancelled", "_when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self._when = when
        self._callback: Callable[[], None] | None = callback
        self._cancelled = False

    @property
    def when(self) -> float:
        return self._when

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        self._cancelled = True
        self._callback = None

    def fire(self) -> None:
        callback = self._callback
        self._callback = None
        if callback is not None and not self._cancelled:
            callback()


class VirtualClock:
    """A clock that only moves when told to; timers fire in time order, ties in schedule order."""

    def __init__(self, start: float = DEFAULT_EPOCH) -> None:
        self._now = start
        self._queue: list[tuple[float, int, _VirtualTimer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = _VirtualTimer(max(when, self._now), callback)
        heapq.heappush(self._queue, (timer.when, next(self._seq), timer))
        return timer

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(self._now + delay, callback)

    def pending(self) -> int:
        """Timers scheduled and not cancelled."""
        return sum(1 for _, _, t in self._queue if not t.cancelled)

    def next_deadline(self) -> float | None:
        while self._queue and self._queue[0][2].cancelled:
            heapq.heappop(self._queue)
        return self._queue[0][0] if self._queue else None

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing every timer that falls due on the way."""
        if seconds < 0:
            raise ValueError("time does not run backwards")
        self.run_until(self._now + seconds)

    def run_until(self, deadline: float) -> None:
        while True:
            when = self.next_deadline()
            if when is None or when > deadline:
                break
            _, _, timer = heapq.heappop(self._queue)
            self._now = max(self._now, when)
            timer.fire()
        self._now = max(self._now, deadline)

    def run_all(self, limit: float = 86_400.0) -> None:
        """Fire timers until none is left or ``limit`` seconds have passed."""
        self.run_until(self._now + limit)

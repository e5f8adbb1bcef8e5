"""Every event on the rack's bus, as JSON, for the control plane's event stream.

:func:`encode` turns any bus event (node, switch, fabric, fault) into ``{seq, type, device, at,
...fields}`` with plain JSON values. :class:`EventFeed` keeps the last ``history`` of them and
hands each live subscriber its own bounded queue: a client that reads too slowly is dropped with a
final ``stream.dropped`` message instead of growing memory, and :meth:`EventFeed.close` ends every
stream with ``stream.closed`` (the server can then stop without waiting on them).

After a restart, :meth:`EventFeed.seed` puts the state store's history (what happened before the
kill) ahead of this run's events (:func:`stored_item` turns a history row into an item), and
this run's ``seq`` continue after the stored ones.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import ipaddress
import math
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from nodes.events import _EVENT_NAMES, Event

#: Events a subscriber may have waiting before it is dropped.
QUEUE_LIMIT = 1000
#: Events kept for ``GET /events``.
HISTORY = 1000


def jsonable(value: Any) -> Any:
    """A plain JSON value for a model value (enums, tuples, dataclasses, bytes, addresses)."""
    if value is None or isinstance(value, bool | int | str):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


def encode(event: Event, seq: int = 0) -> dict[str, Any]:
    """``{seq, type, device, at, ...fields}``; a SEL record's fields are nested under
    ``record``; private fields (``_name``) are left out."""
    out: dict[str, Any] = {"seq": seq, "type": event.name, "device": event.device, "at": event.at}
    for f in dataclasses.fields(event):
        if f.name in ("device", "at") or f.name.startswith("_"):
            continue
        out[f.name] = jsonable(getattr(event, f.name))
    return out


@functools.cache
def _event_types() -> dict[str, str]:
    """Every event class's name -> its dotted ``type`` (``PowerChanged`` -> ``power.changed``)."""
    out: dict[str, str] = {}
    todo: list[type[Event]] = [Event]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        log_name = getattr(cls, "_log_name", None)
        out[cls.__name__] = (
            log_name if isinstance(log_name, str) else _EVENT_NAMES.get(cls.__name__, cls.__name__)
        )
    return out


def stored_item(
    seq: int, kind: str, device: str, at: float, data: dict[str, Any]
) -> dict[str, Any]:
    """A state store history row (``emulator.state.HistoryRecord``: the event's class name and
    its fields) as the item :func:`encode` made of the event."""
    out: dict[str, Any] = {
        "seq": seq,
        "type": _event_types().get(kind, kind),
        "device": device,
        "at": at,
    }
    for key, value in data.items():
        if not key.startswith("_"):
            out[key] = jsonable(value)
    return out


class Subscription:
    """One live stream's queue; see :meth:`EventFeed.subscribe`."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._items: deque[dict[str, Any]] = deque()
        self._wake = asyncio.Event()
        self.dropped = False
        self.closed = False

    def push(self, item: dict[str, Any]) -> None:
        if self.dropped or self.closed:
            return
        if len(self._items) >= self._limit:
            self.dropped = True
            self._items.clear()  # memory goes back at once; the client gets the final message
        else:
            self._items.append(item)
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def items(self) -> AsyncIterator[dict[str, Any]]:
        """The events as they come, then one final ``stream.dropped`` or ``stream.closed``."""
        while True:
            while self._items and not self.dropped:
                yield self._items.popleft()
            if self.dropped:
                yield {
                    "type": "stream.dropped",
                    "reason": f"the client read too slowly ({self._limit} events waiting)",
                }
                return
            if self.closed:
                yield {"type": "stream.closed", "reason": "the rack is stopping"}
                return
            self._wake.clear()
            await self._wake.wait()


class EventFeed:
    """Subscribes to the rack's bus: ``feed = EventFeed(); rack.bus.subscribe(feed)``."""

    def __init__(self, *, history: int = HISTORY, queue_limit: int = QUEUE_LIMIT) -> None:
        self._seq = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=history)
        self._subs: set[Subscription] = set()
        #: Events a new subscriber may have waiting before it is dropped.
        self.queue_limit = queue_limit
        self._closed = False

    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def __call__(self, event: Event) -> None:
        self._seq += 1
        item = encode(event, self._seq)
        self.recent.append(item)
        for sub in self._subs:
            sub.push(item)

    def seed(self, stored: list[dict[str, Any]], last_seq: int) -> None:
        """Put the events of earlier runs (``stored``, oldest first, numbered up to
        ``last_seq``) ahead of those seen so far, which are numbered on from ``last_seq``, as
        every later one is. Called once, at start-up, before any subscriber."""
        mine = [{**item, "seq": item["seq"] + last_seq} for item in self.recent]
        self._seq += last_seq
        self.recent.clear()
        self.recent.extend([*stored, *mine])

    def subscribe(self, since: int | None = None) -> Subscription:
        """A new live stream; ``since`` first replays the kept events after that ``seq``."""
        sub = Subscription(self.queue_limit)
        if since is not None:
            for item in self.recent:
                if item["seq"] > since:
                    sub.push(item)
        if self._closed:
            sub.close()
        else:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def close(self) -> None:
        """End every stream (they send ``stream.closed``); later subscribers end at once."""
        self._closed = True
        for sub in self._subs:
            sub.close()
        self._subs.clear()

    def stream(
        self, sub: Subscription, fmt: Callable[[dict[str, Any]], bytes]
    ) -> AsyncIterator[bytes]:
        """``sub``'s items formatted by ``fmt``; unsubscribes when the client goes."""

        async def gen() -> AsyncIterator[bytes]:
            try:
                async for item in sub.items():
                    yield fmt(item)
            finally:
                self.unsubscribe(sub)

        return gen()

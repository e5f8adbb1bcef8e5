"""Building blocks for model tests: a node on a virtual clock that records its events."""

from __future__ import annotations

from typing import Any

from nodes.clock import VirtualClock
from nodes.events import Event, EventSink
from nodes.node import Node
from nodes.spec import BmcSpec, NicSpec, NodeSpec, TimingSpec


def make_node(
    clock: VirtualClock,
    events: list[Event] | EventSink | None = None,
    *,
    timings: TimingSpec | None = None,
    node_options: dict[str, Any] | None = None,
    **spec_overrides: Any,
) -> Node:
    """Node n01 (serial SN0001, user admin/secret). ``events`` is a list to append to or a sink;
    ``node_options`` go to the Node constructor (e.g. sel_capacity), the rest to its NodeSpec."""
    if isinstance(events, list):
        sink: EventSink = events.append
    else:
        sink = events if events is not None else (lambda e: None)
    spec = NodeSpec(
        name="n01",
        serial="SN0001",
        nics=[
            NicSpec(name="nic1", mac="02:00:00:00:01:01"),
            NicSpec(name="nic2", mac="02:00:00:00:01:02"),
        ],
        bmc=BmcSpec(address="127.0.1.3", mac="02:00:00:00:02:01"),  # type: ignore[arg-type]
        **spec_overrides,
    )
    return Node(
        spec,
        clock,
        sink,
        timings or TimingSpec(),
        username="admin",
        password="secret",
        **(node_options or {}),
    )

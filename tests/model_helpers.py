"""Building blocks for model tests: a node on a virtual clock that records its events."""

from __future__ import annotations

from nodes.clock import VirtualClock
from nodes.events import Event
from nodes.node import Node
from nodes.spec import BmcSpec, NicSpec, NodeSpec, TimingSpec


def make_node(
    clock: VirtualClock, events: list[Event] | None = None, **spec_overrides: object
) -> Node:
    sink = events.append if events is not None else (lambda e: None)
    spec = NodeSpec(
        name="n01",
        serial="SN0001",
        nics=[
            NicSpec(name="nic1", mac="02:00:00:00:01:01"),
            NicSpec(name="nic2", mac="02:00:00:00:01:02"),
        ],
        bmc=BmcSpec(address="127.0.1.3", mac="02:00:00:00:02:01"),  # type: ignore[arg-type]
        **spec_overrides,  # type: ignore[arg-type]
    )
    return Node(spec, clock, sink, TimingSpec(), username="admin", password="secret")

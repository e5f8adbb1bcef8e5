"""Shared fixtures: racks on loopback addresses that each test owns.

Every rack gets its own 127.x.0.0/24 block, so racks never collide with each other or with a
rack a developer has running on 127.0.1.x.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from emulator import topology
from nodes.clock import VirtualClock

if TYPE_CHECKING:
    from emulator.harness import RackThread

_blocks = itertools.count(0)

#: IPMI's standard port when we may bind it (root, as in CI), else an unprivileged one.
TEST_IPMI_PORT = 623 if os.geteuid() == 0 else 16230


def next_base_address() -> str:
    k = next(_blocks)
    return f"127.{60 + (os.getpid() + k) % 150}.{k % 250}.0"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def rack_factory() -> Iterator[Callable[..., RackThread]]:
    """``rack_factory(nodes=4, speed=50, ipmi_port=..., text=None)`` starts a rack in a thread."""
    racks: list[RackThread] = []

    def make(
        nodes: int = 4,
        speed: float = 50.0,
        ipmi_port: int = TEST_IPMI_PORT,
        text: str | None = None,
    ) -> RackThread:
        from emulator.harness import RackThread

        if text is None:
            text = topology.generate(nodes, base_address=next_base_address(), ipmi_port=ipmi_port)
        rack = RackThread(topology.load_text(text, "<test>"), speed=speed)
        racks.append(rack)
        return rack.start()

    yield make
    for rack in racks:
        rack.close()


def require_tool(name: str) -> str:
    """The path of a real client; its absence is an error, not a skip (CI installs it)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run .ci/run or apt-get install it")
    return path

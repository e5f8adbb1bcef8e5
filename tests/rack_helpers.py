"""Building blocks for rack model tests (no sockets): a 4-node rack on the virtual clock, the
events on its bus, and its hosts brought up.

The fixtures are named ``rack`` and ``seen`` and are imported by the test modules that use them
(``from tests.rack_helpers import rack_fixture, seen_fixture``; the functions' own names differ so
the parameters do not shadow the import), so a module that builds its rack differently keeps its
own ``rack`` fixture.
"""

from __future__ import annotations

import pytest

from emulator import topology as topo
from emulator.rack import Rack
from nodes.clock import VirtualClock
from nodes.events import Event
from nodes.power import HostState


@pytest.fixture(name="rack")
def rack_fixture(clock: VirtualClock) -> Rack:
    """The default 4-node topology on the test's virtual clock."""
    return Rack(topo.default(4), clock)


@pytest.fixture(name="seen")
def seen_fixture(rack: Rack) -> list[Event]:
    """Every event on the rack's bus from the moment the test starts."""
    out: list[Event] = []
    rack.bus.subscribe(out.append)
    return out


def running(rack: Rack, clock: VirtualClock) -> None:
    """Power every node on and let the virtual clock run until all their hosts are up."""
    for node in rack.nodes.values():
        node.power_on()
    clock.advance(300)
    assert all(n.state is HostState.RUNNING for n in rack.nodes.values())

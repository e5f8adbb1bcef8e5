"""Node.sensor_health(), the cached health rollup, always equals the worst health of reading every
sensor, whatever the node went through and however long ago (Hypothesis, virtual clock)."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.clock import VirtualClock
from nodes.errors import ModelError
from nodes.node import Node
from nodes.sensors import Health
from nodes.spec import TimingSpec
from tests.model_helpers import make_node


def brute_force(node: Node) -> Health:
    return max((r.health for r in node.readings()), default=Health.OK)


def _fan(node: Node, fail: bool) -> None:
    fan = node.spec.hardware.fans[0].name
    (node.failed_fans.add if fail else node.failed_fans.discard)(fan)


def _psu(node: Node, ok: bool) -> None:
    node.set_psu_input(node.spec.hardware.psus[0].name, ok)


ACTIONS = {
    "on": lambda n: n.power_on(),
    "off": lambda n: n.power_off(),
    "shutdown": lambda n: n.graceful_shutdown(),
    "reset": lambda n: n.hard_reset(),
    "fail fan": lambda n: _fan(n, True),
    "fix fan": lambda n: _fan(n, False),
    "lose psu": lambda n: _psu(n, False),
    "restore psu": lambda n: _psu(n, True),
    "hot room": lambda n: setattr(n, "ambient_c", 45.0),  # inlet over its warning threshold
    "warm room": lambda n: setattr(n, "ambient_c", 62.0),  # exhaust crosses 70 while running
    "cool room": lambda n: setattr(n, "ambient_c", 23.0),
}

steps = st.lists(
    st.tuples(st.sampled_from(sorted(ACTIONS)), st.floats(0, 300), st.integers(1, 4)),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_sensor_health_is_the_worst_reading(steps: list[tuple[str, float, int]]) -> None:
    clock = VirtualClock()
    node = make_node(clock)
    assert node.sensor_health() == brute_force(node)
    for action, wait, looks in steps:
        with contextlib.suppress(ModelError):  # refused in this state: nothing changed
            ACTIONS[action](node)
        for _ in range(looks):  # several looks while the readings move along their lags
            assert node.sensor_health() == brute_force(node), (action, clock.now())
            clock.advance(wait / looks)
        assert node.sensor_health() == brute_force(node)


def test_health_follows_a_reading_along_its_lag_then_is_kept() -> None:
    clock = VirtualClock()
    node = make_node(clock)
    node.ambient_c = 62.0  # the exhaust heads for 74 C (Warning at 70)
    node.power_on()
    clock.advance(600)
    node.ambient_c = 23.0  # the inlet is fine again; the exhaust is still hot
    assert node.sensor_health() is Health.WARNING
    node.hard_reset()  # POST: the exhaust now cools towards 35 C, under 70 in about 4 s
    clock.advance(1)
    assert node.sensor_health() is Health.WARNING
    clock.advance(30)
    assert node.sensor_health() is Health.OK
    assert node._health_ok_for is not None  # OK now and at the lags' targets: kept
    clock.advance(600)
    assert node.sensor_health() is Health.OK == brute_force(node)
    _fan(node, True)  # the inputs changed: read again
    assert node.sensor_health() is Health.CRITICAL == brute_force(node)


def test_a_reading_heading_out_of_its_band_is_not_kept_as_ok() -> None:
    clock = VirtualClock()
    node = make_node(clock, timings=TimingSpec(post_s=900))
    node.power_on()
    clock.advance(600)
    node.ambient_c = 62.0
    node.hard_reset()  # a long POST: the exhaust heads for 74 C (Warning at 70) ...
    node.ambient_c = 23.0  # ... while the inlet is fine
    assert node.sensor_health() is Health.OK == brute_force(node)
    clock.advance(300)
    assert node.sensor_health() is Health.WARNING == brute_force(node)

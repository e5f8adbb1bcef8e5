"""Chaos mode on the virtual clock: reproducible from its seed, within its limits, and never
asking the rack for something impossible."""

from __future__ import annotations

import pytest

from emulator import topology as topo
from emulator.chaos import MIN_DURATION_S, MIN_MEAN_INTERVAL_S, Chaos, ChaosStep
from emulator.faults import (
    FAULT_KINDS,
    SELF_CLEARING,
    FaultCleared,
    FaultError,
    FaultInjected,
    FaultInjector,
)
from emulator.rack import Rack
from nodes.clock import VirtualClock
from nodes.events import Event
from nodes.power import HostState

HOUR = 3600.0


def running_rack(clock: VirtualClock, nodes: int = 4) -> Rack:
    rack = Rack(topo.default(nodes), clock)
    for node in rack.nodes.values():
        node.power_on()
    clock.advance(300)
    assert all(n.state is HostState.RUNNING for n in rack.nodes.values())
    return rack


def run(
    seed: int, hours: float = 6.0, nodes: int = 4, **options: object
) -> tuple[list[ChaosStep], list[tuple[str, str, str, str, float | None, str]]]:
    """Chaos on a fresh rack for ``hours`` of virtual time: its steps and every fault record."""
    clock = VirtualClock()
    rack = running_rack(clock, nodes)
    faults = FaultInjector(rack)
    settings: dict[str, object] = {"mean_interval_s": 300.0, "max_active": 3, **options}
    chaos = Chaos(faults, clock, seed=seed, **settings)  # type: ignore[arg-type]
    chaos.start()
    clock.advance(hours * HOUR)
    chaos.stop()
    records = [
        (r.kind, r.device, r.part, r.state, r.cleared_at, r.cleared_by) for r in faults.records()
    ]
    return chaos.history, records


def test_the_same_seed_gives_the_same_faults_at_the_same_virtual_times() -> None:
    steps, records = run(seed=42)
    again_steps, again_records = run(seed=42)
    assert len(steps) >= 20  # six hours at one every five minutes, three at most at once
    assert steps == again_steps
    assert records == again_records
    assert len({s.kind for s in steps}) >= 8  # it wanders over the catalogue


def test_another_seed_gives_other_faults() -> None:
    steps, _ = run(seed=42)
    other, _ = run(seed=43)
    assert [(s.at, s.kind, s.device, s.part) for s in steps] != [
        (s.at, s.kind, s.device, s.part) for s in other
    ]


def test_max_active_is_respected_and_every_fault_ends(clock: VirtualClock) -> None:
    rack = running_rack(clock)
    faults = FaultInjector(rack)
    chaos = Chaos(faults, clock, seed=7, mean_interval_s=60.0, max_active=2, mean_duration_s=600)
    most = 0

    def watch(event: Event) -> None:
        nonlocal most
        if isinstance(event, FaultInjected):
            most = max(most, len(faults.records(active_only=True)))

    rack.bus.subscribe(watch)
    chaos.start()
    clock.advance(4 * HOUR)
    assert most == 2  # reached, never passed
    assert chaos.skipped > 0  # arrivals while two were active were passed over
    stopped_at = clock.now()
    chaos.stop(clear=True)
    clock.advance(HOUR)
    assert faults.records(active_only=True) == []
    ended_by = {r.cleared_by for r in faults.records()}
    assert "chaos" in ended_by and ended_by <= {"chaos", "self"}
    # Chaos's own clears are the planned ones: each at its drawn time (or later, when the
    # models refused it for a while), except those stop(clear=True) ended.
    by_id = {r.id: r for r in faults.records()}
    for step in chaos.history:
        record = by_id[step.fault_id]
        if step.clear_at is not None and record.cleared_by == "chaos":
            assert record.cleared_at is not None
            if record.cleared_at != stopped_at:
                assert record.cleared_at >= step.clear_at - 1e-6
        if step.kind in SELF_CLEARING:
            assert step.clear_at is None


def test_kinds_limit_what_it_injects() -> None:
    steps, records = run(seed=5, kinds=["fan", "switch-port"])
    assert steps and {s.kind for s in steps} <= {"fan", "switch-port"}
    assert {r[0] for r in records} <= {"fan", "switch-port"}


def test_it_leaves_alone_the_devices_not_eligible() -> None:
    steps, _ = run(seed=11, eligible=lambda device: device != "n02")
    assert steps and all(s.device != "n02" for s in steps)


def model_faults(faults: FaultInjector) -> dict[str, set[tuple[str, str]]]:
    """What the active records say the models hold, per device."""
    rack = faults.rack
    out: dict[str, set[tuple[str, str]]] = {d: set() for d in [*rack.nodes, *rack.switches]}
    both = {"psu-both": ("psu", "PSU"), "boot-drive-both": ("boot-drive", "BOSS.")}
    single = {"psu-one": "psu", "dimm-ue": "dimm", "boot-drive-one": "boot-drive"}
    for r in faults.records(active_only=True):
        if r.kind in both:
            what, prefix = both[r.kind]
            out[r.device] |= {(what, f"{prefix}{i}") for i in (1, 2)}
        elif r.kind in single:
            out[r.device].add((single[r.kind], r.part))
        elif r.kind in ("fan", "data-disk", "nic-port", "os-hang", "bmc-hang"):
            out[r.device].add((r.kind, r.part))
        elif r.kind in ("switch-power", "switch-psu", "switch-fan", "switch-port"):
            out[r.device].add((r.kind.removeprefix("switch-"), r.part))
    return out


def test_it_only_asks_for_faults_the_rack_can_take_now(clock: VirtualClock) -> None:
    """Over many seeds and long runs, at every fault: what the models hold is exactly what the
    active records say (nothing twice, nothing lost, nothing left over), pulled cables match,
    and a scheduled-but-refused fault never happens."""
    for seed in range(6):
        rack = running_rack(clock)
        faults = FaultInjector(rack)
        chaos = Chaos(faults, clock, seed=seed, mean_interval_s=120.0, max_active=4)
        checked = 0

        def consistent(event: Event, rack: Rack = rack, faults: FaultInjector = faults) -> None:
            nonlocal checked
            if not isinstance(event, FaultInjected | FaultCleared):
                return
            checked += 1
            expected = model_faults(faults)
            for name, node in rack.nodes.items():
                assert {(f.value, t) for f, t in node.active_faults} == expected[name]
            for name, switch in rack.switches.items():
                assert {(f.value, t) for f, t in switch.active_faults} == expected[name]
            cables = {
                f"{r.device}:{r.part or 'bmc'}"
                for r in faults.records(active_only=True)
                if r.kind.startswith("cable-")
            }
            assert set(rack.pulled_cables) == cables

        rack.bus.subscribe(consistent)
        chaos.start()
        clock.advance(3 * HOUR)
        chaos.stop(clear=True)
        clock.advance(HOUR)
        assert len(chaos.history) >= 10 and checked >= 20
        assert all(r.cleared_by != "skipped" for r in faults.records())
        assert faults.records(active_only=True) == []
        assert all(not n.active_faults for n in rack.nodes.values())
        assert all(not s.active_faults for s in rack.switches.values())
        assert rack.pulled_cables == []


def test_uncabled_switch_ports_are_never_picked() -> None:
    steps, _ = run(seed=3, kinds=["switch-port"], hours=3)
    clock = VirtualClock()
    rack = Rack(topo.default(4), clock)
    assert steps
    for step in steps:
        assert rack.switches[step.device].ports[step.part].peer


def test_stop_ends_arrivals_and_the_faults_end_as_planned(clock: VirtualClock) -> None:
    rack = running_rack(clock)
    faults = FaultInjector(rack)
    chaos = Chaos(faults, clock, seed=1, mean_interval_s=60.0, max_active=5, kinds=["fan"])
    chaos.start()
    clock.advance(600)
    chaos.stop()
    assert not chaos.running
    count = len(chaos.history)
    active = faults.records(active_only=True)
    assert active and all(r.clear_by == "chaos" and r.clear_at for r in active)
    clock.advance(10 * HOUR)
    assert len(chaos.history) == count  # no more arrivals
    for record in active:
        after = faults.get(record.id)
        assert (after.state, after.cleared_by, after.cleared_at) == (
            "cleared",
            "chaos",
            record.clear_at,
        )


def test_chaos_faults_still_end_after_a_restart(clock: VirtualClock) -> None:
    """The planned clears are in the records: a restored injector (no Chaos any more) ends
    each chaos fault at its time."""
    rack = running_rack(clock)
    faults = FaultInjector(rack)
    chaos = Chaos(
        faults,
        clock,
        seed=9,
        mean_interval_s=60.0,
        max_active=4,
        kinds=["fan", "dimm-ue"],
        mean_duration_s=HOUR,
    )
    chaos.start()
    clock.advance(900)
    active = faults.records(active_only=True)
    assert len(active) >= 2
    snapshots = {n: node.snapshot() for n, node in rack.nodes.items()}
    data = faults.snapshot()
    chaos.stop()

    fresh = Rack(topo.default(4), clock)
    for name, snap in snapshots.items():
        fresh.nodes[name].restore(snap)
    restored = FaultInjector(fresh)
    restored.restore(data)
    assert {r.id for r in restored.records(active_only=True)} == {r.id for r in active}
    clock.advance(10 * HOUR)
    for record in active:
        after = restored.get(record.id)
        assert (after.state, after.cleared_by, after.cleared_at) == (
            "cleared",
            "chaos",
            record.clear_at,
        )
    assert all(not n.active_faults for n in fresh.nodes.values())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mean_interval_s": 0.0}, "mean_interval_s"),
        ({"mean_interval_s": float("inf")}, "mean_interval_s"),
        ({"max_active": 0}, "max_active"),
        ({"kinds": []}, "kinds is empty"),
        ({"kinds": ["fna"]}, "did you mean 'fan'"),
        ({"mean_duration_s": -1.0}, "mean_duration_s"),
    ],
)
def test_bad_settings_are_refused(
    clock: VirtualClock, options: dict[str, object], message: str
) -> None:
    faults = FaultInjector(Rack(topo.default(4), clock))
    settings: dict[str, object] = {"mean_interval_s": 60.0, "max_active": 2, **options}
    with pytest.raises(FaultError, match=message):
        Chaos(faults, clock, seed=1, **settings)  # type: ignore[arg-type]
    assert clock.pending() == 0


def test_starting_twice_is_refused(clock: VirtualClock) -> None:
    faults = FaultInjector(running_rack(clock))
    chaos = Chaos(faults, clock, seed=1, mean_interval_s=60.0, max_active=2)
    chaos.start()
    with pytest.raises(FaultError, match="already running"):
        chaos.start()
    chaos.stop()


def test_every_catalogue_kind_can_be_drawn() -> None:
    steps, _ = run(seed=2024, hours=48, nodes=4, mean_interval_s=120.0, max_active=6)
    assert {s.kind for s in steps} == set(FAULT_KINDS)


def test_through_the_control_plane_a_node_under_repair_is_left_alone(clock: VirtualClock) -> None:
    """The control plane starts chaos with the operator's view deciding what it may touch: a
    node being repaired (its replacement under way) gets no fault until the repair ends."""
    from emulator.control.plane import ControlPlane
    from emulator.operator import OperatorView

    rack = running_rack(clock)
    operator = OperatorView(rack, members=list(rack.nodes))
    faults = FaultInjector(rack, baseline=operator.baseline)
    plane = ControlPlane(rack, operator, faults)
    clock.advance(120)
    operator.shutdown("n02")
    clock.advance(300)
    operator.repair("n02")
    assert operator.node("n02").operation == "repair"
    run = plane.start_chaos(seed=4, mean_interval_s=60.0, kinds=None, max_active=3)
    clock.advance(2 * HOUR)  # the repair takes about three hours
    assert operator.node("n02").operation == "repair"
    steps = run.chaos.history
    assert len(steps) >= 20 and all(s.device != "n02" for s in steps)
    plane.stop_chaos()


class TickingClock(VirtualClock):
    """A virtual clock that moves on by ``tick`` at every reading, as the rack's scaled wall
    clock does between two reads of one callback (at --speed 10000 a tenth of a millisecond
    is a second)."""

    def __init__(self, tick: float) -> None:
        super().__init__()
        self.tick = tick

    def now(self) -> float:
        self._now += self.tick
        return self._now


def test_a_clock_that_moves_between_reads_leaves_no_chaos_fault_without_an_end() -> None:
    """The inject and its planned clear come from one reading of the clock: read twice, the
    clear was judged 'in the past', the fault stayed active with no planned end, and stopping
    chaos left it behind."""
    clock = TickingClock(tick=0.0)
    rack = running_rack(clock)
    faults = FaultInjector(rack)
    clock.tick = 0.05  # every reading moves time on by 50 ms
    chaos = Chaos(
        faults,
        clock,
        seed=3,
        mean_interval_s=MIN_MEAN_INTERVAL_S,
        max_active=50,
        kinds=["fan", "dimm-ue", "psu-one"],
    )
    chaos.start()
    clock.advance(120)
    chaos.stop()
    assert len(chaos.history) >= 20
    ours = {step.fault_id for step in chaos.history}
    for record in faults.records(active_only=True):
        if record.id in ours:
            assert record.clear_by == "chaos" and record.clear_at is not None, record
    for step in chaos.history:
        assert step.clear_at is None or step.clear_at - step.at >= MIN_DURATION_S
    clock.advance(HOUR * 24 * 7)
    left = [r for r in faults.records(active_only=True) if r.id in ours]
    assert not left, left


def test_the_mean_interval_has_a_floor(clock: VirtualClock) -> None:
    faults = FaultInjector(Rack(topo.default(4), clock))
    with pytest.raises(FaultError, match="mean_interval_s must be from 1"):
        Chaos(faults, clock, seed=1, mean_interval_s=1e-9, max_active=2)
    with pytest.raises(FaultError, match="mean_interval_s"):
        Chaos(faults, clock, seed=1, mean_interval_s=float("nan"), max_active=2)
    assert clock.pending() == 0

"""The state store in process, on the virtual clock: what an event commits, loads, the history
bound, a damaged, foreign, newer or locked database, a topology mismatch, --fresh, and round
trips of the operator's fabric and a whole rack."""

from __future__ import annotations

import multiprocessing
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator import topology
from emulator.faults import FaultInjector
from emulator.operator import FabricSettings, NodeStatus, OperatorView, ScaleUnitStatus
from emulator.operator.events import AddFailed, RepairFailed
from emulator.rack import Rack
from emulator.state import (
    StateCorrupt,
    StateLocked,
    StateStore,
    StateTooNew,
    TopologyMismatch,
    topology_identity,
    track_rack,
)
from emulator.state.store import DB_NAME, SCHEMA_VERSION
from nodes.clock import VirtualClock
from nodes.events import Event, EventBus
from nodes.power import HostState

BOOT = 106.0
HOUR = 3600.0


@dataclass(frozen=True, kw_only=True)
class Poked(Event):
    value: int


class Box:
    """A provider: a value that emits Poked when it changes."""

    def __init__(self, name: str, bus: EventBus) -> None:
        self.name = name
        self.value = 0
        self.bus = bus
        self.restored: list[Any] = []

    def poke(self, value: int) -> None:
        self.value = value
        self.bus(Poked(device=self.name, at=1.0, value=value))

    def snapshot(self) -> dict[str, Any]:
        return {"value": self.value}

    def restore(self, data: dict[str, Any]) -> None:
        self.restored.append(data)
        self.value = data["value"]


def _store(path: Path, bus: EventBus, *boxes: Box, **options: Any) -> StateStore:
    store = StateStore(path, **options)
    for box in boxes:
        store.track(f"box:{box.name}", box.snapshot, box.restore)
    bus.subscribe(store)
    return store


def _committed(path: Path, key: str) -> Any:
    """What another connection (another process, after a kill) reads."""
    import json

    with sqlite3.connect(path / DB_NAME) as db:
        row = db.execute("SELECT data FROM state WHERE key = ?", (key,)).fetchone()
    return None if row is None else json.loads(row[0])


def test_an_event_commits_the_device_it_names_before_the_bus_returns(tmp_path: Path) -> None:
    bus = EventBus()
    a, b = Box("a", bus), Box("b", bus)
    store = _store(tmp_path, bus, a, b)
    a.poke(7)
    # Another connection sees it at once: committed inside the bus callback.
    assert _committed(tmp_path, "box:a") == {"value": 7}
    assert _committed(tmp_path, "box:b") is None  # b was not touched
    history = store.history()
    assert [(h.kind, h.device, h.data) for h in history] == [("Poked", "a", {"value": 7})]
    assert history[0].at == 1.0 and history[0].wall > 0
    commits = store.commits
    a.poke(7)  # the same state: only the history row is written
    assert store.commits == commits + 1
    store.close()


def test_load_restores_in_tracking_order_and_reopens(tmp_path: Path) -> None:
    bus = EventBus()
    a, b = Box("a", bus), Box("b", bus)
    store = _store(tmp_path, bus, a, b)
    a.poke(1)
    b.poke(2)
    store.close()

    bus2 = EventBus()
    a2, b2 = Box("a", bus2), Box("b", bus2)
    store2 = _store(tmp_path, bus2, a2, b2)
    assert store2.load() == ["box:a", "box:b"]
    assert (a2.value, b2.value) == (1, 2)
    assert len(store2.history()) == 2
    store2.close()


def test_events_during_load_are_committed_after_every_restore(tmp_path: Path) -> None:
    """A restore that emits events half-way is not written half-restored."""
    bus = EventBus()
    a = Box("a", bus)
    store = _store(tmp_path, bus, a)
    a.poke(5)
    store.close()

    bus2 = EventBus()

    class Noisy(Box):
        def restore(self, data: dict[str, Any]) -> None:
            self.bus(Poked(device="a", at=2.0, value=-1))  # emitted before the value is back
            super().restore(data)

    a2 = Noisy("a", bus2)
    store2 = _store(tmp_path, bus2, a2)
    store2.load()
    assert _committed(tmp_path, "box:a") == {"value": 5}
    assert [h.data["value"] for h in store2.history()] == [5, -1]
    store2.close()


def test_history_is_bounded(tmp_path: Path) -> None:
    bus = EventBus()
    a = Box("a", bus)
    store = _store(tmp_path, bus, a, history_limit=50)
    for i in range(1600):  # bounded: 1600 events
        a.poke(i)
    # Trimmed as rows come (every 500), so never more than limit + 500 rows.
    assert store.history_count() <= 50 + 500
    store.trim_history()
    assert store.history_count() == 50
    assert [h.data["value"] for h in store.history(limit=3)] == [1597, 1598, 1599]
    assert _committed(tmp_path, "box:a") == {"value": 1599}
    store.close()


def test_a_file_that_is_not_a_database_is_named_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not SQLite, just some text " * 100)
    with pytest.raises(StateCorrupt, match=str(tmp_path / DB_NAME)) as info:
        StateStore(tmp_path)
    assert "--fresh" in str(info.value)
    assert (tmp_path / DB_NAME).read_bytes().startswith(b"this is not SQLite")
    # The lock was released: --fresh can start over in the same directory.
    store = StateStore(tmp_path, fresh=True)
    assert store.integrity_check() == "ok"
    store.close()


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO photos (name) VALUES ('cat.jpg')")
    with pytest.raises(StateCorrupt, match="not a scaleunit state database"):
        StateStore(tmp_path)
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        assert db.execute("SELECT name FROM photos").fetchall() == [("cat.jpg",)]


def test_a_truncated_database_is_reported(tmp_path: Path) -> None:
    bus = EventBus()
    a = Box("a", bus)
    store = _store(tmp_path, bus, a)
    for i in range(300):
        a.poke(i)
    store.close()
    data = (tmp_path / DB_NAME).read_bytes()
    assert len(data) > 8192
    (tmp_path / DB_NAME).write_bytes(data[:4096] + b"\xff" * 4096 + data[8192:])
    with pytest.raises(StateCorrupt, match=str(tmp_path / DB_NAME)):
        s = StateStore(tmp_path)
        s.track("box:a", a.snapshot, a.restore)
        s.load()
        s.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    StateStore(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StateTooNew, match="newer scaleunit"):
        StateStore(tmp_path)


def _hold(path: str, ready: Any, release: Any) -> None:
    store = StateStore(Path(path))
    ready.set()
    release.wait(10)
    store.close()


def test_a_state_dir_is_used_by_one_process_at_a_time(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(StateLocked, match=rf"in use by another scaleunit \(pid {holder.pid}\)"):
            StateStore(tmp_path)
        with pytest.raises(StateLocked):
            StateStore(tmp_path, fresh=True)  # --fresh does not break someone else's state
    finally:
        release.set()
        holder.join(10)
    StateStore(tmp_path).close()  # released with the process


def test_a_different_topology_is_refused(tmp_path: Path) -> None:
    four = topology.default(4)
    store = StateStore(tmp_path)
    store.bind_topology(topology_identity(four))
    store.close()
    store = StateStore(tmp_path)
    store.bind_topology(topology_identity(four))  # the same rack: fine
    store.close()
    store = StateStore(tmp_path)
    with pytest.raises(TopologyMismatch) as info:
        store.bind_topology(topology_identity(topology.default(5)))
    store.close()
    message = str(info.value)
    assert str(tmp_path / DB_NAME) in message and "--fresh" in message
    assert "nodes.n05" in message
    # --fresh starts over with the new rack.
    store = StateStore(tmp_path, fresh=True)
    store.bind_topology(topology_identity(topology.default(5)))
    store.close()


# -- the operator's fabric ----------------------------------------------------------------------
def _booted(clock: VirtualClock, **settings: Any) -> tuple[Rack, OperatorView]:
    rack = Rack(topology.default(4), clock)
    fabric = OperatorView(rack, settings=FabricSettings(**settings))
    for node in rack.nodes.values():
        node.power_on()
    clock.advance(BOOT + 40)
    fabric.evaluate_health()
    return rack, fabric


def _restarted(clock: VirtualClock, rack: Rack) -> tuple[Rack, OperatorView]:
    """A new rack, its nodes' host state as it was (the node snapshot's business)."""
    rack2 = Rack(topology.default(4), clock)
    for name, node in rack.nodes.items():
        if node.state is HostState.RUNNING:
            rack2.nodes[name].power_on()
    clock.advance(BOOT + 1)
    return rack2, OperatorView(rack2)


def test_fabric_round_trip(clock: VirtualClock) -> None:
    rack, fabric = _booted(clock)
    fabric.drain("n02")
    fabric.stop("n02")
    clock.advance(60)
    fabric.evaluate_health()
    fabric.start("n02")
    clock.advance(BOOT + 5)
    fabric.resume("n02")
    clock.advance(40)
    fabric.evaluate_health()
    before = fabric.snapshot()
    assert any(not a.open for a in fabric.alerts()), "alerts closed, kept as history"
    assert any(j.running for j in fabric.storage_jobs())

    rack2, fabric2 = _restarted(clock, rack)
    fabric2.restore(before)
    assert [a.id for a in fabric2.alerts()] == [a.id for a in fabric.alerts()]
    assert [(a.id, a.closed_by) for a in fabric2.alerts()] == [
        (a.id, a.closed_by) for a in fabric.alerts()
    ]
    assert [w.name for w in fabric2.workloads()] == [w.name for w in fabric.workloads()]
    assert {w.name: w.node for w in fabric2.workloads()} == {
        w.name: w.node for w in fabric.workloads()
    }
    assert [j.id for j in fabric2.storage_jobs()] == [j.id for j in fabric.storage_jobs()]
    # The running storage job goes on to its end.
    clock.advance(2 * HOUR)
    assert not any(j.running for j in fabric2.storage_jobs())
    assert fabric2.scale_unit_status() is ScaleUnitStatus.RUNNING
    # New alerts continue the numbering.
    rack2.nodes["n03"].power_off()
    clock.advance(31)
    fabric2.evaluate_health()
    new_ids = {a.id for a in fabric2.alerts()} - {a.id for a in fabric.alerts()}
    assert new_ids and min(new_ids) > max(a.id for a in fabric.alerts())


def test_a_repair_running_at_the_kill_ends_as_failed(clock: VirtualClock) -> None:
    rack, fabric = _booted(clock)
    fabric.stop("n03")
    clock.advance(10)
    fabric.repair("n03")
    clock.advance(600)
    assert fabric.node_status("n03") is NodeStatus.REPAIRING
    data = fabric.snapshot()

    _, fabric2 = _restarted(clock, rack)
    events = fabric2.restore(data)
    failed = [e for e in events if isinstance(e, RepairFailed)]
    assert [e.device for e in failed] == ["n03"]
    assert "interrupted" in failed[0].reason
    assert fabric2.node_status("n03") is NodeStatus.REQUIRES_REMEDIATION
    # Nothing left running: a new repair is accepted.
    assert not fabric2.repair("n03") or fabric2.node_status("n03") is NodeStatus.REPAIRING


def test_an_add_running_at_the_kill_fails_and_counts_until_repaired(clock: VirtualClock) -> None:
    rack = Rack(topology.default(4), clock)
    fabric = OperatorView(rack, members=["n01", "n02", "n03"])
    for node in rack.nodes.values():
        node.power_on()
    clock.advance(BOOT + 40)
    fabric.add("n04")
    clock.advance(600)
    data = fabric.snapshot()

    rack2 = Rack(topology.default(4), clock)
    for node in rack2.nodes.values():
        node.power_on()
    clock.advance(BOOT + 1)
    fabric2 = OperatorView(rack2, members=["n01", "n02", "n03"])
    events = fabric2.restore(data)
    assert [e.device for e in events if isinstance(e, AddFailed)] == ["n04"]
    assert fabric2.node_status("n04") is NodeStatus.STOPPED
    assert "n04" in fabric2.members()


def test_a_bad_fabric_snapshot_changes_nothing_it_can_check(clock: VirtualClock) -> None:
    _, fabric = _booted(clock)
    with pytest.raises(ValueError, match="version"):
        fabric.restore({"version": 99})


# -- the whole rack through the store ------------------------------------------------------------
def test_track_rack_tracks_in_restore_order(tmp_path: Path, clock: VirtualClock) -> None:
    rack = Rack(topology.default(4), clock)
    fabric = OperatorView(rack)
    store = StateStore(tmp_path)
    keys = track_rack(store, rack, operator=fabric)
    assert keys[-1] == "operator"
    switches = [k for k in keys if k.startswith("switch:")]
    nodes = [k for k in keys if k.startswith("node:")]
    if switches and nodes:
        assert keys.index(switches[-1]) < keys.index(nodes[0])
    store.close()


def _rack_with_store(
    path: Path, clock: VirtualClock, **options: Any
) -> tuple[Rack, OperatorView, StateStore]:
    rack = Rack(topology.default(4), clock)
    fabric = OperatorView(rack)
    store = StateStore(path, **options)
    store.bind_topology(topology_identity(rack.topology))
    track_rack(store, rack, operator=fabric)
    rack.bus.subscribe(store)
    return rack, fabric, store


def test_a_whole_rack_comes_back_from_the_store(tmp_path: Path, clock: VirtualClock) -> None:
    from nodes.spec import PowerRestorePolicy
    from switches.model import SwitchFault

    rack, fabric, store = _rack_with_store(tmp_path, clock)
    store.load()  # nothing yet: commits the rack as built
    for node in rack.nodes.values():
        node.power_on()
    clock.advance(BOOT + 40)
    fabric.evaluate_health()
    n2 = rack.nodes["n02"]
    n2.users.set_name(5, "alice")
    n2.users.set_password(5, "Alice-pw-2026")
    n2.bios.stage({"AssetTag": "rack-7"})
    n2.set_power_restore_policy(PowerRestorePolicy.ALWAYS_ON)
    rack.nodes["n03"].set_power_restore_policy(PowerRestorePolicy.ALWAYS_OFF)
    rack.nodes["n04"].power_off()
    rack.nodes["n01"].inject_fault("fan", "Fan3")
    rack.switches["tor-b"].inject_fault(SwitchFault.FAN, rack.switches["tor-b"].fans[0].name)
    rack.pull_cable("n04:nic1")
    fabric.drain("n01")
    clock.advance(60)
    fabric.evaluate_health()
    # What the store committed is what the model holds, without closing (as after a kill).
    nodes_before = {name: node.snapshot() for name, node in rack.nodes.items()}
    switches_before = {name: sw.snapshot() for name, sw in rack.switches.items()}
    alerts_before = fabric.alerts()
    for name in rack.nodes:
        assert store.stored(f"node:{name}") == json_round_trip(nodes_before[name])
    for name in rack.switches:
        assert store.stored(f"switch:{name}") == json_round_trip(switches_before[name])
    assert store.stored("rack:cables") == json_round_trip(rack.snapshot())
    assert store.stored("operator") == json_round_trip(fabric.snapshot())
    assert store.integrity_check() == "ok"
    # A kill: the store is never closed; the OS releases the lock with the process (here: by
    # hand), and a new process opens the same files.
    store._unlock()

    clock2 = VirtualClock(clock.now() + 30)
    rack2, fabric2, store2 = _rack_with_store(tmp_path, clock2)
    restored = store2.load()
    assert restored[0].startswith("switch:") and restored[-1] == "operator"
    m2 = rack2.nodes["n02"]
    assert m2.users.get(5).name == "alice"
    assert m2.users.check_password(5, "Alice-pw-2026")
    assert m2.bios.pending == {"AssetTag": "rack-7"}
    assert rack2.nodes["n01"].active_faults == rack.nodes["n01"].active_faults != []
    assert rack2.switches["tor-b"].active_faults == rack.switches["tor-b"].active_faults != []
    assert rack2.pulled_cables == rack.pulled_cables == ["n04:nic1"]
    sel_before = nodes_before["n02"]["sel"]["records"]
    assert m2.snapshot()["sel"]["records"][: len(sel_before)] == sel_before
    # The power-restore policy: always-on comes back, always-off does not, previous follows the
    # host (n01 on, n04 off).
    clock2.advance(BOOT + 10)
    states = {name: node.state for name, node in rack2.nodes.items()}
    assert states["n02"] is HostState.RUNNING
    assert states["n03"] is HostState.OFF
    assert states["n04"] is HostState.OFF
    assert [a.id for a in fabric2.alerts()][: len(alerts_before)] == [a.id for a in alerts_before]
    assert fabric2.node_status("n01") in (NodeStatus.MAINTENANCE,)
    store2.close()


def json_round_trip(value: Any) -> Any:
    import json

    from emulator.state.store import dumps

    return json.loads(dumps(value))


def test_sel_records_are_rows_and_a_clear_or_delete_removes_them(
    tmp_path: Path, clock: VirtualClock
) -> None:
    from nodes.sel import SensorType

    rack, _, store = _rack_with_store(tmp_path, clock)
    store.load()
    sel = rack.nodes["n03"].sel

    def rows() -> list[int]:
        with sqlite3.connect(tmp_path / DB_NAME) as db:
            return [
                i
                for (i,) in db.execute(
                    "SELECT item_id FROM items WHERE key = 'node:n03' ORDER BY item_id"
                )
            ]

    for i in range(5):
        sel.log(SensorType.TEMPERATURE, 0x30, 0x07, f"record {i}")
    assert rows() == [1, 2, 3, 4, 5]
    # The node's own row does not carry them.
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        (text,) = db.execute("SELECT data FROM state WHERE key = 'node:n03'").fetchone()
    assert '"records":[]' in text and "record 3" not in text
    sel.delete(2)
    assert rows() == [1, 3, 4, 5]
    sel.clear(0x40)
    assert rows() == [6]  # "Log area reset/cleared"
    assert store.stored("node:n03")["sel"]["records"] == json_round_trip(
        rack.nodes["n03"].snapshot()["sel"]["records"]
    )
    store._unlock()

    rack2, _, store2 = _rack_with_store(tmp_path, VirtualClock(clock.now() + 5))
    store2.load()
    ids = [r.record_id for r in rack2.nodes["n03"].sel.records()]
    assert ids[0] == 6 and "reset/cleared" in rack2.nodes["n03"].sel.get(6).message.lower()
    store2.close()


def test_a_version_1_database_is_migrated(tmp_path: Path) -> None:
    from emulator.state import store as store_mod

    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute(f"PRAGMA application_id={store_mod.APPLICATION_ID}")
    db.executescript(store_mod._SCHEMA_V1)
    db.execute("INSERT INTO state (key, data, at, wall) VALUES ('box:a', '{\"value\": 3}', 0, 0)")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    bus = EventBus()
    a = Box("a", bus)
    store = _store(tmp_path, bus, a)
    assert store.load() == ["box:a"] and a.value == 3
    with sqlite3.connect(tmp_path / DB_NAME) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert check.execute("SELECT count(*) FROM items").fetchone()[0] == 0
    store.close()


def test_a_snapshot_that_cannot_be_restored_is_reported_and_kept(tmp_path: Path) -> None:
    bus = EventBus()
    a = Box("a", bus)
    store = _store(tmp_path, bus, a)
    a.poke(9)
    store.close()

    class Broken(Box):
        def restore(self, data: dict[str, Any]) -> None:
            raise KeyError("value")

    store2 = _store(tmp_path, EventBus(), Broken("a", EventBus()))
    with pytest.raises(StateCorrupt, match=r"snapshot of box:a cannot be restored .*--fresh"):
        store2.load()
    store2.close()
    assert _committed(tmp_path, "box:a") == {"value": 9}  # not written over


# -- acknowledged implies committed, over random operations --------------------------------------
_FOUR = topology.default(4)

_OPS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "power_on",
                "power_off",
                "user",
                "password",
                "bios",
                "sel",
                "sel_clear",
                "policy",
                "psu_input",
                "node_fault",
                "switch_fault",
                "cable",
                "drain",
                "resume",
                "boot",
                "advance",
                "firmware",
                "bmc_reset",
                "login_failed",
                "stop",
                "start",
                "repair",
                "inject",
                "clear",
                "schedule",
                "switch_reset",
                "replace_part",
                "replace_node",
                "replace_switch",
            ]
        ),
        st.sampled_from(["n01", "n02", "n03", "n04"]),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=25,
)


def _apply(
    rack: Rack, fabric: OperatorView, faults: Any, clock: VirtualClock, op: str, name: str, k: int
) -> None:
    from emulator.faults import FaultError
    from nodes.errors import ModelError
    from nodes.firmware import build_image
    from nodes.node import BmcResetKind, BootTarget
    from nodes.sel import SensorType
    from nodes.spec import PowerRestorePolicy

    node = rack.nodes[name]
    try:
        if op == "power_on":
            node.power_on()
        elif op == "power_off":
            node.power_off()
        elif op == "user":
            node.users.set_name(3 + k, f"user{k}")
        elif op == "password":
            node.users.set_password(3 + k, f"Pass-{k}-word")
        elif op == "bios":
            node.bios.stage({"AssetTag": f"tag-{k}"})
        elif op == "sel":
            node.sel.log(SensorType.TEMPERATURE, 0x30, k, f"hot {k}")
        elif op == "sel_clear":
            node.sel.clear(0x40)
        elif op == "policy":
            node.set_power_restore_policy(list(PowerRestorePolicy)[k % 3])
        elif op == "psu_input":
            node.set_psu_input(f"PSU{1 + k % 2}", k >= 3)
        elif op == "node_fault":
            fan = f"Fan{1 + k}"
            if ("fan", fan) in [(f.value, t) for f, t in node.active_faults]:
                node.clear_fault("fan", fan)
            else:
                node.inject_fault("fan", fan)
        elif op == "switch_fault":
            switch = rack.switches[["tor-a", "tor-b", "bmc-switch"][k % 3]]
            fan = switch.fans[k % len(switch.fans)].name
            if any(t == fan for _, t in switch.active_faults):
                switch.clear_fault("fan", fan)
            else:
                switch.inject_fault("fan", fan)
        elif op == "cable":
            end = f"{name}:nic{1 + k % 2}"
            if end in rack.pulled_cables:
                rack.plug_cable(end)
            else:
                rack.pull_cable(end)
        elif op == "drain":
            fabric.drain(name)
        elif op == "resume":
            fabric.resume(name)
        elif op == "boot":
            node.set_boot_override(BootTarget.PXE if k % 2 else BootTarget.DISK, persistent=k > 2)
        elif op == "advance":
            clock.advance(10.0 * (k + 1))
        elif op == "firmware":
            component, version = [("bios", "2.31.0"), ("nic", "14.32.30.00")][k % 2]
            image = build_image(component, "CS-2400", version, size=4096)
            node.start_firmware_update(image, apply_time="OnReset" if k > 3 else "Immediate")
        elif op == "bmc_reset":
            node.bmc_reset(BmcResetKind.COLD)
        elif op == "login_failed":
            node.users.login_failed(2)
        elif op in ("stop", "start", "repair"):
            getattr(fabric, op)(name)
        elif op == "inject":
            faults.inject(
                ["psu-one", "fan", "data-disk"][k % 3], name, ["PSU1", "Fan2", "Disk.1"][k % 3]
            )
        elif op == "schedule":
            faults.inject("fan", name, f"Fan{1 + k}", at=clock.now() + 100.0 * (k + 1))
        elif op == "clear":
            active = faults.records(active_only=True)
            if active:
                faults.clear(active[k % len(active)].id)
        elif op == "switch_reset":
            rack.switches[["tor-a", "tor-b", "bmc-switch"][k % 3]].factory_reset()
        elif op == "replace_node":
            firmware = {c: v for c, v in node.firmware.items()}
            node.replace(f"NEW{k}{name}", username="root", password="calvin", firmware=firmware)
        elif op == "replace_switch":
            rack.switches[["tor-a", "tor-b", "bmc-switch"][k % 3]].replace(f"SW-NEW-{k}")
        elif op == "replace_part":
            node.replace_part(["psu", "fan", "data-disk"][k % 3], ["PSU1", "Fan2", "Disk.1"][k % 3])
    except (ModelError, FaultError):
        pass  # refused: nothing changed, and nothing to commit


def _volatile(value: Any) -> Any:
    """A snapshot without what moves with time alone (an update job's percent)."""
    if isinstance(value, dict):
        return {k: _volatile(v) for k, v in value.items() if k != "percent"}
    if isinstance(value, list):
        return [_volatile(v) for v in value]
    return value


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=_OPS)
def test_after_every_command_the_store_holds_what_the_model_holds(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, str, int]]
) -> None:
    """What a protocol would acknowledge after a command returns is what a kill would leave."""
    path = tmp_path_factory.mktemp("state")
    clock = VirtualClock()
    rack = Rack(_FOUR, clock)
    fabric = OperatorView(rack)
    faults = FaultInjector(rack, baseline=fabric.baseline)
    store = StateStore(path)
    track_rack(store, rack, operator=fabric, faults=faults)
    rack.bus.subscribe(store)
    store.load()
    try:
        for op, name, k in ops:
            _apply(rack, fabric, faults, clock, op, name, k)
            if op == "advance":
                continue  # time alone: timers' events were committed as they fired
            for key, live in [
                *((f"node:{n}", x.snapshot()) for n, x in rack.nodes.items()),
                *((f"switch:{n}", x.snapshot()) for n, x in rack.switches.items()),
                ("rack:cables", rack.snapshot()),
                ("operator", fabric.snapshot()),
                ("faults", faults.snapshot()),
            ]:
                assert _volatile(store.stored(key)) == _volatile(json_round_trip(live)), (
                    op,
                    name,
                    k,
                    key,
                )
    finally:
        store.close()


def test_a_change_after_the_last_event_is_caught_by_the_safety_net(tmp_path: Path) -> None:
    bus = EventBus()
    a = Box("a", bus)
    queue: list[Any] = []
    store = _store(tmp_path, bus, a, defer=queue.append)
    a.poke(1)
    a.value = 2  # a model breaking the rule: changed after its event
    assert _committed(tmp_path, "box:a") == {"value": 1}
    assert len(queue) == 1
    a.poke(2)  # another event in the same loop iteration: no second callback
    assert len(queue) == 1
    a.value = 3
    queue.pop()()  # the loop runs the deferred check
    assert _committed(tmp_path, "box:a") == {"value": 3}
    assert store.late_writes == 1
    a.poke(3)
    queue.pop()()  # nothing changed after the event: nothing written
    assert store.late_writes == 1
    store.close()


def test_the_database_is_the_owners_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    bus = EventBus()
    a = Box("a", bus)
    store = _store(state, bus, a)
    a.poke(1)
    assert state.stat().st_mode & 0o777 == 0o700
    for name in (DB_NAME, DB_NAME + "-wal", "state.lock"):
        assert (state / name).stat().st_mode & 0o077 == 0, name
    store.close()


def test_items_come_back_in_id_order() -> None:
    from emulator.state.store import _id_order

    ids = ["f-10000", "f-0002", "f-9999", "f-0010"]
    assert sorted(ids, key=_id_order) == ["f-0002", "f-0010", "f-9999", "f-10000"]
    assert sorted([12, 3, 100], key=_id_order) == [3, 12, 100]


def test_a_replaced_node_and_switch_come_back_as_replaced(
    tmp_path: Path, clock: VirtualClock
) -> None:
    rack, _, store = _rack_with_store(tmp_path, clock)
    store.load()
    n2 = rack.nodes["n02"]
    n2.replace("CSNEW0002", username="root", password="calvin", firmware={"bios": "2.26.0"})
    rack.switches["tor-b"].replace("SWNEW0001")
    guid = n2.snapshot()["guid"]
    store._unlock()  # a kill

    rack2, _, store2 = _rack_with_store(tmp_path, VirtualClock(clock.now() + 5))
    store2.load()  # the topology still names the old serials: this is the same rack
    m2 = rack2.nodes["n02"]
    assert m2.snapshot()["serial"] == "CSNEW0002" and m2.snapshot()["guid"] == guid
    assert m2.users.authenticate("root", "calvin") is not None
    assert m2.firmware["bios"] == "2.26.0"
    assert rack2.switches["tor-b"].snapshot()["serial"] == "SWNEW0001"
    store2.close()


def test_rack_thread_keeps_its_state_where_told_and_nothing_otherwise(tmp_path: Path) -> None:
    from emulator.harness import RackThread
    from tests.conftest import (
        TEST_IPMI_PORT,
        TEST_REDFISH_PORT,
        TEST_SNMP_PORT,
        next_base_address,
    )

    base = next_base_address()
    prefix = base.rsplit(".", 1)[0]
    t = topology.load_text(
        topology.generate(
            4,
            base_address=base,
            ipmi_port=TEST_IPMI_PORT,
            redfish_port=TEST_REDFISH_PORT,
            switch_base_address=prefix + ".240",
            snmp_port=TEST_SNMP_PORT,
            host_base_address=prefix + ".200",
        ),
        "<test>",
    )
    state = tmp_path / "state"
    with RackThread(t, speed=50, state_dir=state) as rack:
        rack.call(lambda r: r.nodes["n03"].users.set_name(6, "dora"))
    with RackThread(t, speed=50, state_dir=state) as rack:
        assert rack.call(lambda r: r.nodes["n03"].users.get(6).name) == "dora"
        assert rack.runtime.state is not None and rack.runtime.state.restored
    with RackThread(t, speed=50, state_dir=state, fresh=True) as rack:
        assert rack.call(lambda r: r.nodes["n03"].users.get(6).name) == ""
    temporary = RackThread(t, speed=50)
    with temporary:
        made = temporary.runtime.state_dir
        assert made.is_dir() and (made / DB_NAME).exists()
    assert not made.exists()  # removed with the rack


def test_an_event_that_cannot_be_encoded_is_still_kept(tmp_path: Path) -> None:
    @dataclass(frozen=True, kw_only=True)
    class Odd(Event):
        loop: list[Any]

    bus = EventBus()
    store = _store(tmp_path, bus)
    cycle: list[Any] = []
    cycle.append(cycle)  # json cannot encode a list that holds itself
    bus(Odd(device="x", at=1.0, loop=cycle))
    (row,) = store.history()
    assert row.kind == "Odd" and "unencodable" in row.data
    store.close()

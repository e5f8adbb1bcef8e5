"""What persisting every event costs: a 4-node rack on the virtual clock with its state store,
changes made straight on the model (no protocol), each one committed in the bus callback.

    python3 bench/state.py [--events 2000] [--sel 0,100,512] [--synchronous NORMAL,FULL]

For each SEL fill (records in the node's log, the bulk of a node snapshot) and SQLite
synchronous mode it prints events/s, microseconds per event, and where they go: the node's
snapshot(), and the store (finding the SEL records that changed, JSON, the SQLite
transaction), and the size of the node's row (its SEL records are rows of their own).

Then a fault storm: on a 16-node rack, fault injects and clears through the fault injector
(``emulator.faults``, which keeps the last 1000 ended faults) until 1000 records are kept, each
with and without the store: microseconds per inject or clear.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a clone, not installed

from emulator import topology
from emulator.operator import OperatorView
from emulator.rack import Rack
from emulator.state import StateStore, track_rack
from emulator.state.store import dumps
from nodes.clock import VirtualClock
from nodes.sel import SensorType


def run(events: int, sel: int, synchronous: str) -> dict[str, float]:
    clock = VirtualClock()
    rack = Rack(topology.default(4), clock)
    fabric = OperatorView(rack)
    node = rack.nodes["n02"]
    for i in range(sel):
        node.sel.log(SensorType.TEMPERATURE, 0x30, i % 8, f"bench record {i}")
    with tempfile.TemporaryDirectory() as tmp:
        store = StateStore(Path(tmp), synchronous=synchronous)
        track_rack(store, rack, operator=fabric)
        rack.bus.subscribe(store)
        store.load()
        commits0 = store.commits
        t0 = time.perf_counter()
        for i in range(events):
            # One IPMI "user set name": one UserChanged event, one node snapshot written.
            node.users.set_name(3 + i % 6, f"user{i}")
        elapsed = time.perf_counter() - t0
        commits = store.commits - commits0
        store.close()
    # Where the time goes: the node's snapshot(), measured apart; the rest is the store's.
    snap = []
    for _ in range(200):
        a = time.perf_counter()
        node.snapshot()
        snap.append(time.perf_counter() - a)
    per_event_us = elapsed / events * 1e6
    snapshot_us = statistics.median(snap) * 1e6
    data = node.snapshot()
    row = dumps({**data, "sel": {**data["sel"], "records": []}})
    return {
        "events_per_s": events / elapsed,
        "us_per_event": per_event_us,
        "snapshot_us": snapshot_us,
        "store_us": per_event_us - snapshot_us,
        "commits": commits,
        "row_bytes": len(row),
        "sel_bytes": len(dumps(data["sel"]["records"])),
    }


def faults(ops: int, with_store: bool) -> float:
    """Microseconds per fault inject or clear on 16 nodes, ``ops`` of them."""
    from emulator.faults import FaultInjector

    clock = VirtualClock()
    rack = Rack(topology.default(16), clock)
    fabric = OperatorView(rack)
    injector = FaultInjector(rack, baseline=fabric.baseline)
    with tempfile.TemporaryDirectory() as tmp:
        store = None
        if with_store:
            store = StateStore(Path(tmp))
            track_rack(store, rack, operator=fabric, faults=injector)
            rack.bus.subscribe(store)
            store.load()
        for node in rack.nodes.values():
            node.power_on()
        clock.advance(200)
        names = list(rack.nodes)
        t0 = time.perf_counter()
        for i in range(ops // 2):
            record = injector.inject("fan", names[i % 16], f"Fan{1 + (i // 16) % 6}")
            injector.clear(record.id)
        elapsed = time.perf_counter() - t0
        if store is not None:
            store.close()
    return elapsed / ops * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--sel", default="0,100,512")
    parser.add_argument("--synchronous", default="NORMAL,FULL")
    parser.add_argument("--fault-ops", type=int, default=2400)
    args = parser.parse_args()
    print(
        f"{'SEL':>5} {'sync':>6} {'events/s':>9} {'us/event':>9} {'snapshot':>9} "
        f"{'store':>7} {'row KiB':>8} {'SEL KiB':>8}"
    )
    for sel in (int(s) for s in args.sel.split(",")):
        for mode in args.synchronous.split(","):
            r = run(args.events, sel, mode)
            print(
                f"{sel:>5} {mode:>6} {r['events_per_s']:>9.0f} {r['us_per_event']:>9.1f} "
                f"{r['snapshot_us']:>9.1f} {r['store_us']:>7.1f} "
                f"{r['row_bytes'] / 1024:>8.1f} {r['sel_bytes'] / 1024:>8.1f}"
            )
    if args.fault_ops:
        bare, stored = faults(args.fault_ops, False), faults(args.fault_ops, True)
        print(
            f"\nfault storm, 16 nodes, {args.fault_ops} injects and clears: "
            f"{bare:.0f} us each without the store, {stored:.0f} us with it"
        )


if __name__ == "__main__":
    main()

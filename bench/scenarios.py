"""Controller benchmark: the procedure library on the virtual clock, each on its own rack.

    python bench/scenarios.py                     # the library on 4 nodes + leveling on 16
    python bench/scenarios.py --only firmware-leveling --nodes 16 --json

For each scenario: its result, the wall time of the run (the rack's start and boot excluded,
reported apart), the emulated time it covered, and the controller's own CPU (its thread: the rack
runs in another) per emulated hour. The target for ``firmware-leveling`` on 16 nodes
(``--virtual``): under 10 s wall.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console

from emulator.controller import cli as ccli

LIBRARY = ("node-repair", "node-replace", "bmc-switch-loss", "firmware-leveling")


def one(name: str, nodes: int) -> dict[str, Any]:
    t0, cpu0 = time.perf_counter(), time.thread_time()
    with tempfile.TemporaryDirectory(prefix="scaleunit-bench-") as out:
        journal = ccli.execute(
            ccli.SCENARIOS / f"{name}.yaml",
            nodes=nodes,
            report_dir=Path(out),
            console=Console(stderr=True, quiet=True),
        )
    total, cpu = time.perf_counter() - t0, time.thread_time() - cpu0
    emulated_h = (journal.get("elapsed_s") or 0.0) / 3600
    return {
        "scenario": name,
        "nodes": nodes,
        "status": journal["status"],
        "run_wall_s": round(journal.get("wall_s") or 0.0, 2),
        "rack_start_wall_s": round(total - (journal.get("wall_s") or 0.0), 2),
        "emulated_h": round(emulated_h, 2),
        "controller_cpu_s": round(cpu, 2),
        "controller_cpu_s_per_emulated_h": round(cpu / emulated_h, 2) if emulated_h else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=LIBRARY)
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    runs = [(args.only, args.nodes)] if args.only else [(n, 4) for n in LIBRARY]
    if not args.only:
        runs.append(("firmware-leveling", 16))
    rows = [one(name, nodes) for name, nodes in runs]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    head = f"{'scenario':20} {'nodes':>5} {'status':>10} {'run s':>7} {'start s':>7} "
    print(head + f"{'emul h':>7} {'cpu s':>6} {'cpu s/emul h':>12}")
    for r in rows:
        per = r["controller_cpu_s_per_emulated_h"]
        print(
            f"{r['scenario']:20} {r['nodes']:5d} {r['status']:>10} {r['run_wall_s']:7.2f} "
            f"{r['rack_start_wall_s']:7.2f} {r['emulated_h']:7.2f} {r['controller_cpu_s']:6.2f} "
            f"{per if per is not None else '-':>12}"
        )


if __name__ == "__main__":
    main()

"""Control-plane benchmark: request latency of the HTTP API against a live rack, in process.

    python bench/control.py                  # a 16-node rack, 300 requests per case
    python bench/control.py --nodes 4 --requests 1000 --json

The rack runs in a RackThread (its own loop thread, speed 1) on loopback addresses of its own;
httpx runs in the bench's main thread over one kept-alive connection. Cases:

* ``GET /status``: every node's and switch's row, the open alerts;
* ``POST /nodes/n01/resume`` refused (409): an action through the operator's view, whose refusal
  is an event on the bus (so the state store commits it) and an error body;
* ``POST /faults`` then ``DELETE /faults/{id}`` of a fan fault: two model changes with their SEL
  records and events, both committed by the state store before the answer;
* 20 concurrent ``GET /status`` (asyncio.gather over httpx.AsyncClient): wall time of the batch;
* stream delay: from sending a fault inject to its ``fault.injected`` line on a live NDJSON stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator import topology
from emulator.harness import RackThread


def percentiles(samples: list[float]) -> dict[str, float]:
    xs = sorted(samples)
    return {
        "p50_ms": round(statistics.median(xs), 2),
        "p99_ms": round(xs[min(len(xs) - 1, int(len(xs) * 0.99))], 2),
    }


def timed(fn: Callable[[], Any], n: int) -> dict[str, float]:
    for _ in range(min(20, n)):
        fn()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return percentiles(samples)


def run(nodes: int, requests: int) -> dict[str, Any]:
    text = topology.generate(
        nodes,
        base_address="127.0.91.0",
        ipmi_port=16239,
        redfish_port=18449,
        switch_base_address="127.0.92.0",
        snmp_port=16169,
        host_base_address="127.0.93.0",
        control_port=0,
    )
    out: dict[str, Any] = {"nodes": nodes, "requests": requests}
    with (
        tempfile.TemporaryDirectory() as state,
        RackThread(topology.load_text(text, "<bench>"), state_dir=Path(state)) as rack,
    ):
        headers = {"Authorization": f"Bearer {rack.token}"}
        with httpx.Client(base_url=rack.control_url, headers=headers, timeout=30) as c:
            out["GET /status"] = timed(lambda: c.get("/status").raise_for_status(), requests)

            def refused() -> None:
                assert c.post("/nodes/n01/resume").status_code == 409

            out["POST resume, refused (409)"] = timed(refused, requests)

            def inject_clear() -> None:
                body = {"kind": "fan", "device": "n02", "part": "Fan1"}
                fault = c.post("/faults", json=body).raise_for_status().json()
                c.delete(f"/faults/{fault['id']}").raise_for_status()

            out["POST /faults + DELETE (fan)"] = timed(inject_clear, max(1, requests // 2))

            async def batch() -> float:
                async with httpx.AsyncClient(
                    base_url=rack.control_url, headers=headers, timeout=30
                ) as ac:
                    await asyncio.gather(*(ac.get("/status") for _ in range(20)))
                    t0 = time.perf_counter()
                    rs = await asyncio.gather(*(ac.get("/status") for _ in range(20)))
                    assert {r.status_code for r in rs} == {200}
                    return (time.perf_counter() - t0) * 1000

            out["20 concurrent GET /status, wall ms"] = round(
                statistics.median(asyncio.run(batch()) for _ in range(10)), 1
            )

            delays: list[float] = []
            seen = threading.Event()
            sent_at = [0.0]

            def watch() -> None:
                w = httpx.Client(base_url=rack.control_url, headers=headers, timeout=30)
                with w, w.stream("GET", "/events/stream") as resp:
                    for line in resp.iter_lines():
                        if json.loads(line)["type"] == "fault.injected":
                            delays.append((time.perf_counter() - sent_at[0]) * 1000)
                            seen.set()
                            if len(delays) >= 50:
                                return

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            time.sleep(0.5)
            for _ in range(50):
                seen.clear()
                sent_at[0] = time.perf_counter()
                body = {"kind": "fan", "device": "n03", "part": "Fan2"}
                fault = c.post("/faults", json=body).raise_for_status().json()
                assert seen.wait(10), "no fault.injected on the stream"
                c.delete(f"/faults/{fault['id']}").raise_for_status()
            watcher.join(timeout=10)
            out["stream delay (inject -> line)"] = percentiles(delays)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=16, choices=range(4, 17), metavar="4..16")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.nodes, args.requests)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"control plane, {args.nodes} nodes, {args.requests} requests per case")
    for case, value in result.items():
        if case in ("nodes", "requests"):
            continue
        if isinstance(value, dict):
            print(f"  {case:36} p50 {value['p50_ms']:7.2f} ms   p99 {value['p99_ms']:7.2f} ms")
        else:
            print(f"  {case:36} {value:7.1f} ms")


if __name__ == "__main__":
    main()

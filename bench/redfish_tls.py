"""Redfish TLS connection churn: the server's RSS as clients open and close TLS connections.

    python3 bench/redfish_tls.py                          # 16,000 connections, 200 at a time
    python3 bench/redfish_tls.py --connections 4000 --concurrency 100 --json

Issue 10 saw ``scaleunit up``'s RSS grow from 116 MB to 188 MB over about 16,000 new TLS
connections, levelling off. The cause: asyncio's TLS protocol keeps a 256 KiB read buffer per
connection, and uvicorn's keep-alive timer held every connection that ended with a reset (a
client that closes its socket without a TLS close_notify, as most do) for its 30 s timeout, so
the server held (connections in the last 30 s) x (buffer + TLS state) and the allocator kept the
peak. ``bmc/redfish/tls.py`` now reads into 32 KiB and the HTTP protocol cancels the timer on
any connection loss.

The rack (4 nodes, HTTPS) runs in a child process (``emulator.harness.RackThread``, on this
script's own 127.0.x.0/24); this process opens ``--concurrency`` TLS connections at once, sends
one kept-alive GET on each, reads the answer, then closes them all (no close_notify), in rounds
until ``--connections`` have been made or ``--seconds`` have passed (both bound the run). The
child's RSS (``/proc/PID/statm``) is read before the first round, after every round, and
``--settle`` seconds after the last; "growth" is the final RSS less the RSS after the first round.
The child is killed in ``finally``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ADDRESS_BASE = "127.0.93.1"
PORT = 18493

CHILD = f"""
import sys, tempfile, pathlib
sys.path.insert(0, {str(REPO)!r})
from emulator import topology
from emulator.harness import RackThread
text = topology.generate(4, base_address={ADDRESS_BASE!r}, ipmi_port=16293,
                         redfish_port={PORT}, redfish_tls=True)
rack = RackThread(topology.load_text(text, "<bench>"), speed=50)
rack.runtime.state_dir = pathlib.Path(tempfile.mkdtemp(prefix="su-tls-bench-"))
with rack:
    e = rack.endpoint("n01", "redfish")
    print(e.address, e.port, flush=True)
    sys.stdin.read()  # until the bench closes our stdin
"""


def rss_mib(pid: int) -> float:
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def one_round(address: str, port: int, count: int, context: ssl.SSLContext) -> int:
    held: list[ssl.SSLSocket] = []
    errors = 0
    try:
        for _ in range(count):
            try:
                s = context.wrap_socket(socket.create_connection((address, port), timeout=10))
                held.append(s)
                s.sendall(b"GET /redfish/v1/ HTTP/1.1\r\nHost: bmc\r\n\r\n")
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if not data.startswith(b"HTTP/1.1 200"):
                    errors += 1
            except OSError:
                errors += 1
    finally:
        for s in held:
            s.close()
    return errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--connections", type=int, default=16000)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=300.0, help="hard bound on the churn")
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        address, port = child.stdout.readline().split()
        start = rss_mib(child.pid)
        samples: list[tuple[int, float]] = []
        made = errors = 0
        deadline = time.monotonic() + args.seconds
        while made < args.connections and time.monotonic() < deadline:
            n = min(args.concurrency, args.connections - made)
            errors += one_round(address, int(port), n, context)
            made += n
            samples.append((made, rss_mib(child.pid)))
        time.sleep(args.settle)
        final = rss_mib(child.pid)
        first = samples[0][1] if samples else start
        result = {
            "connections": made,
            "concurrency": args.concurrency,
            "errors": errors,
            "rss_start_mib": round(start, 1),
            "rss_after_first_round_mib": round(first, 1),
            "rss_peak_mib": round(max([s for _, s in samples] + [start]), 1),
            "rss_final_mib": round(final, 1),
            "growth_mib": round(final - first, 1),
        }
        if args.json:
            print(json.dumps(result))
        else:
            step = max(1, len(samples) // 8)
            for count, rss in samples[::step]:
                print(f"{count:>7} connections  RSS {rss:7.1f} MiB")
            print("\n".join(f"{k:>26}: {v}" for k, v in result.items()))
        return 1 if errors else 0
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


if __name__ == "__main__":
    sys.exit(main())

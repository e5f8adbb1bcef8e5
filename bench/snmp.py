"""SNMP benchmark: snmpbulkwalk of ifTable + ifXTable of a 56-port ToR, our agent beside snmpsim
and net-snmp's snmpd.

    python bench/snmp.py                        # every peer, 5 s of walks each
    python bench/snmp.py --seconds 3 --max-repetitions 50
    python bench/snmp.py --only ours --json

One run, one client: every walk is net-snmp's ``snmpbulkwalk -v2c -c public -Cr<M>`` of
ifTable (1.3.6.1.2.1.2.2) and then ifXTable (1.3.6.1.2.1.31.1.1), spawned from this script, one
walk after the other. Peers, each in its own process group on its own 127.0.x.y:

* ``ours``: ``scaleunit up`` on a generated 4-node rack; the walks go to tor-a's agent (56 ports,
  18 ifTable + 19 ifXTable columns: 2,072 varbinds a walk);
* ``snmpsim``: snmpsim-command-responder (PyPI) serving a recording of the same two tables, made
  in this run from our agent (``snmpbulkwalk -On`` turned into ``public.snmprec``). As root it
  refuses to start unless ``SNMPSIM_ALLOW_ROOT=true`` (an environment variable, not a flag: its
  privilege drop is then skipped);
* ``snmpd``: net-snmp's agent (Debian) with a generated config, serving the ifTable/ifXTable of
  this machine's own interfaces (fewer rows: compare per varbind). The practical ceiling.

Server CPU is user+sys of every thread of the server process (``/proc/PID/task/*/schedstat``,
ns) read before and after the measured window, divided by the varbinds received. Each peer is
bounded by ``--seconds`` and ``--max-walks``; servers are killed in ``finally`` (SIGTERM, then
SIGKILL), also on Ctrl-C. A peer that cannot be measured is an error under the table, exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

IF_TABLE = "1.3.6.1.2.1.2.2"
IFX_TABLE = "1.3.6.1.2.1.31.1.1"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
COMMUNITY = "public"
ADDRESSES = {"ours": "127.0.74.241", "snmpsim": "127.0.75.1", "snmpd": "127.0.76.1"}
PEERS = tuple(ADDRESSES)


class BenchError(Exception):
    pass


@dataclass
class Result:
    peer: str
    walks: int = 0
    varbinds: int = 0
    varbinds_per_walk: int = 0
    seconds: float = 0.0
    server_cpu_s: float = 0.0
    walks_per_s: float = 0.0
    varbinds_per_s: float = 0.0
    server_us_per_varbind: float = 0.0
    error: str = ""


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BenchError(f"{name} is not installed")
    return path


def cpu_ns(pid: int) -> int:
    """User+sys of every thread of ``pid``, in ns (schedstat's first field is run time)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


def bulkwalk(address: str, port: int, oid: str, reps: int, *extra: str) -> list[str]:
    out = subprocess.run(
        [
            tool("snmpbulkwalk"),
            "-v2c",
            "-c",
            COMMUNITY,
            "-m",
            "",
            "-On",
            f"-Cr{reps}",
            "-t",
            "5",
            "-r",
            "1",
            *extra,
            f"{address}:{port}",
            oid,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if out.returncode != 0:
        raise BenchError(f"snmpbulkwalk {address}:{port} {oid}: {out.stderr.strip()}")
    return [
        line
        for line in out.stdout.splitlines()
        if " = " in line and "No more variables" not in line
    ]


@contextlib.contextmanager
def server(
    cmd: list[str], env: dict[str, str] | None = None, log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        if log:
            out.close()  # type: ignore[union-attr]


def wait_answering(proc: subprocess.Popen[bytes], address: str, port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"server exited with {proc.returncode} before answering")
        got = subprocess.run(
            [
                tool("snmpget"),
                "-v2c",
                "-c",
                COMMUNITY,
                "-m",
                "",
                "-t",
                "0.3",
                "-r",
                "0",
                f"{address}:{port}",
                SYS_NAME,
            ],
            capture_output=True,
        )
        if got.returncode == 0:
            return
    raise BenchError(f"{address}:{port} did not answer within {seconds:.0f} s")


def measure(
    peer: str, proc: subprocess.Popen[bytes], address: str, port: int, args: argparse.Namespace
) -> Result:
    reps = args.max_repetitions
    per_walk = len(bulkwalk(address, port, IF_TABLE, reps)) + len(
        bulkwalk(address, port, IFX_TABLE, reps)
    )  # warm-up, and the walk's size
    result = Result(peer, varbinds_per_walk=per_walk)
    cpu0, t0 = cpu_ns(proc.pid), time.perf_counter()
    deadline = t0 + args.seconds
    while time.perf_counter() < deadline and result.walks < args.max_walks:
        result.varbinds += len(bulkwalk(address, port, IF_TABLE, reps))
        result.varbinds += len(bulkwalk(address, port, IFX_TABLE, reps))
        result.walks += 1
    result.seconds = time.perf_counter() - t0
    result.server_cpu_s = (cpu_ns(proc.pid) - cpu0) / 1e9
    result.walks_per_s = result.walks / result.seconds
    result.varbinds_per_s = result.varbinds / result.seconds
    result.server_us_per_varbind = result.server_cpu_s / max(1, result.varbinds) * 1e6
    return result


# -- the recording for snmpsim ---------------------------------------------------------------
_TYPES = {
    "INTEGER": "2",
    "Gauge32": "66",
    "Counter32": "65",
    "Counter64": "70",
    "Timeticks": "67",
    "OID": "6",
}


def to_snmprec(lines: list[str]) -> str:
    """``snmpbulkwalk -On -Oe -Ox`` lines as snmpsim's ``OID|TYPE|VALUE`` records."""
    out = []
    for line in lines:
        oid, value = line.split(" = ", 1)
        oid = oid.lstrip(".")
        if value == '""':
            out.append(f"{oid}|4|")
            continue
        kind, _, text = value.partition(": ")
        if kind == "Hex-STRING":
            out.append(f"{oid}|4x|{text.replace(' ', '').lower()}")
        elif kind == "STRING":
            out.append(f"{oid}|4|{text.strip(chr(34))}")
        elif kind == "Timeticks":
            out.append(f"{oid}|67|{text.split('(')[1].split(')')[0]}")
        elif kind in _TYPES:
            out.append(f"{oid}|{_TYPES[kind]}|{text.strip().lstrip('.')}")
        else:
            raise BenchError(f"cannot record {line!r}")
    return "\n".join(out) + "\n"


# -- peers ---------------------------------------------------------------------------------------
def run_ours(args: argparse.Namespace, work: Path, recording: Path) -> Result:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from emulator import topology

    text = topology.generate(
        4,
        base_address="127.0.74.0",
        switch_base_address="127.0.74.240",
        snmp_port=args.port,
        ipmi_port=args.port + 1,
        redfish_port=args.port + 2,
        redfish_tls=False,
    )
    (work / "rack.yaml").write_text(text)
    address = ADDRESSES["ours"]
    # A state directory of the bench's own, as built (--fresh) at every run, as bench/ipmi.py.
    state = ["--state-dir", str(work / "state"), "--fresh"]
    cmd = [tool("scaleunit"), "up", "--topology", str(work / "rack.yaml"), *state]
    cmd += ["--log-level", "warning"]
    env = {**os.environ}
    with server(cmd, env, work / "ours.log") as proc:
        wait_answering(proc, address, args.port, 60)
        # SNMP answers before the control plane is up; its control.json is the last start-up
        # step, so the measured window does not count the rest of the start-up.
        deadline = time.monotonic() + 30
        while not (work / "state" / "control.json").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError("ours answers SNMP but did not finish starting (ours.log)")
            time.sleep(0.01)
        result = measure("ours", proc, address, args.port, args)
        lines = bulkwalk(address, args.port, IF_TABLE, 50, "-Oe", "-Ox")
        lines += bulkwalk(address, args.port, IFX_TABLE, 50, "-Oe", "-Ox")
        recording.write_text(to_snmprec(lines))
    return result


def run_snmpsim(args: argparse.Namespace, work: Path, recording: Path) -> Result:
    if not recording.exists():
        raise BenchError("no recording (the 'ours' peer makes it: do not leave it out)")
    data = work / "snmpsim-data"
    data.mkdir(exist_ok=True)
    shutil.copy(recording, data / f"{COMMUNITY}.snmprec")
    address = ADDRESSES["snmpsim"]
    cmd = [
        tool("snmpsim-command-responder"),
        f"--data-dir={data}",
        f"--cache-dir={work / 'snmpsim-cache'}",
        f"--agent-udpv4-endpoint={address}:{args.port}",
        "--logging-method=null",
    ]
    env = {**os.environ}
    if os.geteuid() == 0:
        env["SNMPSIM_ALLOW_ROOT"] = "true"  # else it refuses to run as root
    with server(cmd, env, work / "snmpsim.log") as proc:
        wait_answering(proc, address, args.port, 60)
        return measure("snmpsim", proc, address, args.port, args)


def run_snmpd(args: argparse.Namespace, work: Path, recording: Path) -> Result:
    address = ADDRESSES["snmpd"]
    conf = work / "snmpd.conf"
    conf.write_text(
        f"agentAddress udp:{address}:{args.port}\n"
        f"rocommunity {COMMUNITY} 127.0.0.0/8\n"
        "sysName bench-snmpd\n"
    )
    persistent = work / "snmpd-state"
    persistent.mkdir(exist_ok=True)
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(persistent), "MIBS": ""}
    cmd = [tool("snmpd"), "-f", "-Lo", "-C", "-c", str(conf), "-M", "/dev/null"]
    with server(cmd, env, work / "snmpd.log") as proc:
        wait_answering(proc, address, args.port, 30)
        return measure("snmpd", proc, address, args.port, args)


RUNNERS = {"ours": run_ours, "snmpsim": run_snmpsim, "snmpd": run_snmpd}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=PEERS)
    parser.add_argument("--seconds", type=float, default=5.0, help="per peer (default 5)")
    parser.add_argument("--max-walks", type=int, default=500, help="per peer (default 500)")
    parser.add_argument(
        "--max-repetitions", type=int, default=10, help="snmpbulkwalk -Cr (default 10, its own)"
    )
    parser.add_argument("--port", type=int, default=16161, help="UDP port of every peer")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    peers = [p for p in PEERS if not args.only or p in args.only]
    results: list[Result] = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="bench-snmp-") as tmp:
        work = Path(tmp)
        recording = work / "tor-a.snmprec"
        for peer in peers:
            try:
                results.append(RUNNERS[peer](args, work, recording))
            except (BenchError, OSError, subprocess.SubprocessError) as exc:
                results.append(Result(peer, error=str(exc)))
            except KeyboardInterrupt:
                print("interrupted", file=sys.stderr)
                return 130
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print(
            f"snmpbulkwalk -v2c -Cr{args.max_repetitions} of ifTable + ifXTable, "
            f"{args.seconds:g} s per peer, one walk at a time\n"
        )
        print(
            f"{'peer':8} {'vb/walk':>8} {'walks':>6} {'walks/s':>8} {'varbinds/s':>11} "
            f"{'server CPU':>11} {'us/varbind':>11}"
        )
        for r in results:
            if r.error:
                continue
            print(
                f"{r.peer:8} {r.varbinds_per_walk:8d} {r.walks:6d} {r.walks_per_s:8.1f} "
                f"{r.varbinds_per_s:11.0f} {r.server_cpu_s:10.2f}s {r.server_us_per_varbind:11.1f}"
            )
        for r in results:
            if r.error:
                print(f"error: {r.peer}: {r.error}", file=sys.stderr)
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Switch CLI benchmark: our SSH CLI (tor-a of ``scaleunit up``) beside OpenSSH's sshd serving a
``cat`` of the same configuration text, in one run.

    python bench/switch_cli.py                  # 5 s of each measurement per peer
    python bench/switch_cli.py --seconds 2 --max-sessions 200 --json

Measured, with the same client (asyncssh, in this process) against both peers, each on its own
127.0.x.y and high port:

* ``sessions/s``: connect, authenticate (ours: password; sshd: an Ed25519 key: sshd as a plain
  user cannot check passwords), run one exec request (``show running-configuration`` / ``cat
  running.txt``), read all of it, close; one after the other;
* ``latency``: over ONE kept interactive session (no PTY), the command written and its output
  read up to the prompt (ours: ``tor-a# ``; sshd: a shell, ``cat running.txt; echo <marker>``):
  median and 95th percentile;
* ``memory``: ours: the ``scaleunit up`` process's resident set (VmRSS) divided by its three
  switches (the whole rack: nodes, BMCs, agents and the SSH servers); sshd: the listener's VmRSS
  plus that of the per-connection processes of one kept session.

Every loop is bounded by ``--seconds`` and ``--max-sessions``/``--max-commands``. Servers run in
their own process groups and are killed in ``finally`` (SIGTERM, then SIGKILL). sshd's config and
host key live in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncssh

ROOT = Path(__file__).resolve().parent.parent
OURS_ADDRESS, SSHD_ADDRESS = "127.0.75.241", "127.0.76.1"


class BenchError(Exception):
    pass


@dataclass
class Result:
    peer: str
    sessions: int
    sessions_per_s: float
    commands: int
    latency_median_ms: float
    latency_p95_ms: float
    bytes_per_command: int
    rss_mib: float
    rss_note: str


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(proc.name))
    return out


@contextlib.contextmanager
def server(
    cmd: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
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


def wait_listening(proc: subprocess.Popen[bytes], address: str, port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the server at {address}:{port} exited ({proc.returncode})")
        with contextlib.suppress(OSError), socket.create_connection((address, port), 0.5) as s:
            s.settimeout(2)
            if s.recv(4).startswith(b"SSH-"):
                return
        time.sleep(0.1)
    raise BenchError(f"nothing answers SSH at {address}:{port}")


async def measure(
    peer: str,
    connect: dict[str, object],
    command: str,
    shell_command: str,
    prompt: str,
    args: argparse.Namespace,
) -> tuple[int, float, list[float], int]:
    opts = {"known_hosts": None, **connect}
    n, t0 = 0, time.perf_counter()
    while n < args.max_sessions and time.perf_counter() - t0 < args.seconds:
        async with asyncssh.connect(**opts) as conn:  # type: ignore[arg-type]
            result = await conn.run(command, check=False)
            if not str(result.stdout).startswith("!"):
                raise BenchError(f"{peer}: unexpected answer {str(result.stdout)[:80]!r}")
        n += 1
    per_s = n / (time.perf_counter() - t0)
    times: list[float] = []
    size = 0
    async with asyncssh.connect(**opts) as conn:  # type: ignore[arg-type]
        proc = await conn.create_process(term_type=None)
        if peer == "ours":
            await proc.stdout.readuntil(prompt)
        t1 = time.perf_counter()
        while len(times) < args.max_commands and time.perf_counter() - t1 < args.seconds:
            start = time.perf_counter()
            proc.stdin.write(shell_command + "\n")
            out = await proc.stdout.readuntil(prompt)
            times.append(time.perf_counter() - start)
            size = len(out)
        proc.stdin.write("exit\n")
    return n, per_s, times, size


def result(peer: str, m: tuple[int, float, list[float], int], rss: float, note: str) -> Result:
    n, per_s, times, size = m
    ordered = sorted(times)
    return Result(
        peer, n, round(per_s, 1), len(times),
        round(statistics.median(ordered) * 1000, 3),
        round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3),
        size, round(rss / 1024, 1), note,
    )  # fmt: skip


def run_ours(args: argparse.Namespace, work: Path) -> tuple[Result, str]:
    sys.path.insert(0, str(ROOT))
    from emulator import topology

    text = topology.generate(
        4, base_address="127.0.75.0", switch_base_address="127.0.75.240",
        snmp_port=args.port + 1, ipmi_port=args.port + 2, redfish_port=args.port + 3,
        redfish_tls=False, ssh_port=args.port,
    )  # fmt: skip
    (work / "rack.yaml").write_text(text)
    cmd = [sys.executable, "-m", "emulator.cli", "up", "--topology", str(work / "rack.yaml"),
           "--state-dir", str(work / "state"), "--fresh", "--log-level", "warning"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with server(cmd, work / "ours.log", env) as proc:
        wait_listening(proc, OURS_ADDRESS, args.port, 60)
        spec = topology.load_text(text, "<bench>").switches[0]
        password = spec.cli.users[0].password
        connect = {
            "host": OURS_ADDRESS,
            "port": args.port,
            "username": "admin",
            "password": password,
        }
        m = asyncio.run(measure("ours", connect, "show running-configuration",
                                "show running-configuration", "tor-a# ", args))  # fmt: skip
        config = asyncio.run(_fetch(connect))
        rss = rss_kib(proc.pid) / 3
    return result("ours", m, rss, "rack process RSS / 3 switches"), config


async def _fetch(connect: dict[str, object]) -> str:
    async with asyncssh.connect(known_hosts=None, **connect) as conn:  # type: ignore[arg-type]
        return str((await conn.run("show running-configuration", check=True)).stdout)


def run_sshd(args: argparse.Namespace, work: Path, config: str) -> Result:
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(sshd).exists():
        raise BenchError("OpenSSH's sshd is not installed (apt-get install openssh-server)")
    privsep = Path("/run/sshd")  # sshd's privilege-separation directory (Debian's unit makes it)
    if not privsep.is_dir():
        if os.geteuid() != 0:
            raise BenchError("sshd needs /run/sshd: create it (root, mode 0755) or run as root")
        privsep.mkdir(mode=0o755)
    d = work / "sshd"
    d.mkdir()
    (d / "running.txt").write_text(config)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host")], check=True
    )
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "client")], check=True
    )
    (d / "authorized_keys").write_text((d / "client.pub").read_text())
    os.chmod(d / "authorized_keys", 0o600)
    port = args.port + 10
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress {SSHD_ADDRESS}\nHostKey {d / 'host'}\nPidFile {d / 'pid'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nStrictModes no\nUsePAM no\n"
        "PasswordAuthentication no\nPermitRootLogin yes\nMaxStartups 100:30:200\n"
        "MaxSessions 100\nUseDNS no\nPrintMotd no\nPrintLastLog no\n"
    )
    user = (
        os.environ.get("USER")
        or subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    )
    with server([sshd, "-D", "-e", "-f", str(d / "sshd_config")], work / "sshd.log") as proc:
        wait_listening(proc, SSHD_ADDRESS, port, 20)
        key = asyncssh.read_private_key(d / "client")
        connect = {"host": SSHD_ADDRESS, "port": port, "username": user, "client_keys": [key]}
        marker = "__scaleunit_end__"
        cat = f"cat {d / 'running.txt'}"
        m = asyncio.run(measure("sshd", connect, cat, f"{cat}; echo {marker}", marker + "\n", args))

        async def kept_rss() -> float:
            async with asyncssh.connect(known_hosts=None, **connect) as conn:  # type: ignore[arg-type]
                p = await conn.create_process(term_type=None)
                p.stdin.write(f"echo {marker}\n")
                await p.stdout.readuntil(marker)
                pids = [proc.pid]
                for child in children(proc.pid):
                    pids += [child, *children(child)]
                total = sum(rss_kib(pid) for pid in pids)
                p.stdin.write("exit\n")
                return float(total)

        rss = asyncio.run(kept_rss())
    return result("sshd", m, rss, "listener + one kept session's processes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement (default 5)")
    parser.add_argument("--max-sessions", type=int, default=2000)
    parser.add_argument("--max-commands", type=int, default=5000)
    parser.add_argument("--port", type=int, default=17022)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scaleunit-bench-ssh-") as tmp:
        work = Path(tmp)
        try:
            ours, config = run_ours(args, work)
            sshd = run_sshd(args, work, config)
        except BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    results = [ours, sshd]
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
        return 0
    print(
        f"{'peer':<6} {'sessions/s':>10} {'median ms':>10} {'p95 ms':>8} {'bytes':>7} "
        f"{'RSS MiB':>8}  memory"
    )
    for r in results:
        print(f"{r.peer:<6} {r.sessions_per_s:>10} {r.latency_median_ms:>10} {r.latency_p95_ms:>8} "
              f"{r.bytes_per_command:>7} {r.rss_mib:>8}  {r.rss_note}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

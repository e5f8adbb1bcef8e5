"""Redfish benchmark: GET Systems/{id} on our rack, sushy-tools' fake driver and bare FastAPI.

    python bench/redfish.py                        # every peer, 5 s per load phase
    python bench/redfish.py --only ours --only sushy --seconds 3
    python bench/redfish.py --json > redfish-bench.json
    python bench/redfish.py --profile              # what-if runs + cProfile of ours-http

One load tool drives every server: wrk (Debian's 4.1.0, C, epoll, keep-alive) with
``peers/redfish/targets.lua``, which gives each wrk thread one target (address, system path,
auth header) and pre-builds its request. wrk is always run with as many threads as
connections, so "16 BMCs, 16 conns" is exactly one connection per BMC, and the only
difference from "1 BMC, 16 conns" is where the connections go. wrk does not verify
certificates, so HTTPS to our self-signed BMCs is measured the same way.

Peers, each on its own 127.0.x.0/24 that this script picks, same TCP port (``--port``):

- ``ours-http`` / ``ours-https``: ``scaleunit up`` with a 16-node topology (one process, one
  uvicorn server, one socket per BMC), ``redfish_tls`` off / on; auth: HTTP Basic, then an
  X-Auth-Token session per BMC (POST SessionService/Sessions before the phase);
- ``sushy`` / ``sushy-htpasswd``: ``sushy-emulator --fake`` (Flask on werkzeug's threaded
  server) with 16 fake systems on one address; no auth (the issue's baseline), then its
  htpasswd Basic auth with the cheapest bcrypt cost it accepts (4; bcrypt runs per request);
- ``fastapi-h11`` / ``fastapi-httptools``: ``peers/redfish/bare_fastapi.py``, one uvicorn
  server on 16 addresses returning a static copy of our n01 ComputerSystem (same bytes), h11
  on asyncio / httptools on uvloop: the ceiling for our stack. No auth.

For each peer, with every auth mode it has, three phases: 1 BMC with 1 connection, 1 BMC with
16, and 16 BMCs with 16 (one each; for sushy, 16 systems behind its one address). Each phase
is a ``--warmup`` s wrk run (not measured) and a ``--seconds`` s one; rate, p50/p99 latency
and errors come from wrk (non-2xx, timeouts, socket errors). Server CPU is user+sys of every
server process (``/proc/PID/stat``, exited threads included) over the measured run / requests;
wrk's own CPU comes from its rusage. Server RSS (summed over its processes) is sampled every
``SAMPLE_S`` during load: ready (before any load), at the start of the first measured phase,
peak, and at the end of the last; "flat" means end - start < ``FLAT_MIB``.

Every phase is bounded (wrk's ``-d`` plus a hard deadline), every address is in this
script's own /24s of 127.0.0.0/8 and checked free before a server starts, and every server
is killed (its process group, SIGTERM then SIGKILL) in ``finally``, also on Ctrl-C/SIGTERM.
A peer that cannot be started or measured is an error printed under the tables (exit 1);
the others still run.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.table import Table

PEERS_DIR = Path(__file__).resolve().parent / "peers" / "redfish"
WRK_SCRIPT = PEERS_DIR / "targets.lua"

# One /24 per peer (ours also uses the next /24 for its switches' management addresses), so
# that a leftover server of one peer can never answer for another.
SUBNETS = {
    "ours-http": "127.0.81",
    "ours-https": "127.0.83",
    "fastapi-h11": "127.0.85",
    "fastapi-httptools": "127.0.86",
    "sushy": "127.0.87",
    "sushy-htpasswd": "127.0.88",
}
PEER_NAMES = tuple(SUBNETS)
GROUPS = {
    "ours": ("ours-http", "ours-https"),
    "fastapi": ("fastapi-h11", "fastapi-httptools"),
    "sushy": ("sushy", "sushy-htpasswd"),
}
SUSHY_USER, SUSHY_PASSWORD = "admin", "password"
SUSHY_BCRYPT_ROUNDS = 4  # the minimum bcrypt accepts; htpasswd -B defaults to 5

SAMPLE_S = 0.25  # RSS sampling period during load
IDLE_WINDOW_S = 1.0  # server CPU with no client, right after start-up
FLAT_MIB = 10.0  # RSS growth over all measured load that still counts as flat
WRK_TIMEOUT_S = 5  # wrk's per-request timeout (sushy's p99 is about 1 s)
OVERRUN_S = 15  # a wrk run still alive this long after its -d is killed: an error

# Targets from the issue.
TARGET_SPEEDUP = 20.0
TARGET_P99_MS = 20.0


class BenchError(Exception):
    """A peer could not be started or measured; the message says why."""


@dataclass(frozen=True)
class Target:
    """One Redfish System to GET: where it is served and its path."""

    address: str
    port: int
    path: str


# --------------------------------------------------------------------------- peers


class Peer(ABC):
    """How to start one kind of server for ``nodes`` systems.

    ``prepare`` writes whatever the server needs into ``workdir``; ``commands`` are the
    processes to start; ``targets`` (once it answers) the systems to GET, one per BMC.
    """

    name: str
    stack: str  # what serves HTTP, for the table
    scheme = "http"
    auth_modes: tuple[str, ...] = ("none",)
    probe_path = "/redfish/v1/"
    stop_grace_s = 3.0  # between SIGTERM and SIGKILL

    def __init__(self, nodes: int, port: int, workdir: Path) -> None:
        self.nodes = nodes
        self.port = port
        self.workdir = workdir

    @property
    def subnet(self) -> str:
        return SUBNETS[self.name]

    def addresses(self) -> list[str]:
        """Every address the server listens on."""
        return [f"{self.subnet}.{i}" for i in range(1, self.nodes + 1)]

    def prepare(self) -> None:  # noqa: B027 - optional
        pass

    @abstractmethod
    def commands(self) -> list[list[str]]: ...

    @abstractmethod
    def targets(self, client: httpx.Client) -> list[Target]: ...

    def basic_auth(self) -> tuple[str, str]:
        raise NotImplementedError

    def ready(self) -> bool:
        """Whether the server has finished starting, once every address answers (the peers
        serve Redfish alone, so answering is ready; ours overrides it)."""
        return True

    def url(self, address: str, path: str = "/") -> str:
        return f"{self.scheme}://{address}:{self.port}{path}"


class OursPeer(Peer):
    """Our rack: ``scaleunit up --topology FILE``, one process for every node."""

    auth_modes = ("basic", "session")

    def __init__(
        self,
        nodes: int,
        port: int,
        workdir: Path,
        tls: bool,
        variants: Sequence[str] = (),
        pstats: Path | None = None,
    ) -> None:
        super().__init__(nodes, port, workdir)
        self.name = "ours-https" if tls else "ours-http"
        self.scheme = "https" if tls else "http"
        self.stack = "uvicorn httptools+uvloop" + (", TLS" if tls else "")
        self.tls = tls
        self.endpoints: list[dict[str, Any]] = []
        #: Run through peers/redfish/profile_ours.py: what-if patches, cProfile (--profile).
        self.variants = list(variants)
        self.pstats = pstats
        if pstats is not None:
            self.stop_grace_s = 30.0  # it writes the profile on its way out

    def _scaleunit(self, *args: str) -> str:
        exe = shutil.which("scaleunit")
        if exe is None:
            raise BenchError("`scaleunit` is not on PATH (pip install -e '.[test,bench]')")
        proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise BenchError(
                f"`scaleunit {' '.join(args)}` exited {proc.returncode}:\n{_tail(proc.stderr)}"
            )
        return proc.stdout

    def prepare(self) -> None:
        """A 16-node topology on this peer's /24, every port ours, Redfish TLS on or off.

        ``topology init`` has no Redfish options, so the bmc_network and snmp blocks of what
        it writes are edited here (and the result validated by ``scaleunit`` itself).
        """
        self.topology = self.workdir / f"topology-{self.nodes}.yaml"
        self._scaleunit(
            "topology",
            "init",
            "--nodes",
            str(self.nodes),
            "--base-address",
            f"{self.subnet}.0",  # nodes' BMCs from .3; switches: next /24
            "--ipmi-port",
            str(self.port + 1),
            "--ipmi-fallback-port",
            str(self.port + 1),
            "-o",
            str(self.topology),
        )
        text = self.topology.read_text()
        text, n = re.subn(
            r"^(bmc_network:\n)",
            rf"\1  redfish_port: {self.port}\n  redfish_fallback_port: {self.port}\n"
            f"  redfish_tls: {'true' if self.tls else 'false'}\n",
            text,
            count=1,
            flags=re.M,
        )
        text, m = re.subn(
            r"^(snmp:.*\n)  port: \d+(.*\n)  fallback_port: \d+",
            rf"\1  port: {self.port + 2}\2  fallback_port: {self.port + 2}",
            text,
            count=1,
            flags=re.M,
        )
        if n != 1 or m != 1:
            raise BenchError(f"cannot set the Redfish/SNMP ports in {self.topology}")
        self.topology.write_text(text)
        listed = json.loads(
            self._scaleunit("endpoints", "--topology", str(self.topology), "--format", "json")
        )
        self.endpoints = [e for e in listed if e["protocol"].lower() == "redfish"]
        if len(self.endpoints) != self.nodes:
            raise BenchError(f"expected {self.nodes} Redfish endpoints, topology lists {listed}")
        for e in self.endpoints:
            if (e["port"], e["scheme"]) != (self.port, self.scheme):
                raise BenchError(
                    f"{e['device']}: Redfish at {e['scheme']}://{e['address']}:"
                    f"{e['port']}, wanted {self.scheme} on port {self.port}"
                )

    def addresses(self) -> list[str]:
        return [e["address"] for e in self.endpoints]

    def ready(self) -> bool:
        # Redfish answers before SNMP, the traps and the control plane are up; control.json
        # is written last, so the idle window does not measure the rest of the start-up.
        return (self.workdir / "state" / "control.json").exists()

    def commands(self) -> list[list[str]]:
        # warning: no per-request log lines (the other peers' are off too, except werkzeug's).
        args = [
            "up",
            "--topology",
            str(self.topology),
            "--state-dir",
            str(self.workdir / "state"),
            "--fresh",  # the rack as built at every run
            "--log-level",
            "warning",
        ]
        if not self.variants and self.pstats is None:
            return [[str(shutil.which("scaleunit")), *args]]
        harness = [sys.executable, str(PEERS_DIR / "profile_ours.py")]
        harness += [arg for v in self.variants for arg in ("--variant", v)]
        if self.pstats is not None:
            harness += ["--pstats", str(self.pstats)]
        return [[*harness, "--", *args]]

    def targets(self, client: httpx.Client) -> list[Target]:
        return [
            Target(e["address"], self.port, f"/redfish/v1/Systems/{e['device']}")
            for e in self.endpoints
        ]

    def basic_auth(self) -> tuple[str, str]:
        e = self.endpoints[0]
        return e["username"], e["password"]


class BareFastApiPeer(Peer):
    """``peers/redfish/bare_fastapi.py``: a static body of our System's size, 16 addresses."""

    def __init__(self, nodes: int, port: int, workdir: Path, http: str, body: bytes) -> None:
        super().__init__(nodes, port, workdir)
        self.http = http
        self.name = f"fastapi-{http}"
        self.loop = "uvloop" if http == "httptools" else "asyncio"
        self.stack = f"uvicorn {http}+{self.loop}"
        self.body = body
        self.probe_path = "/redfish/v1/Systems/n01"

    def prepare(self) -> None:
        (self.workdir / "system.json").write_bytes(self.body)

    def commands(self) -> list[list[str]]:
        binds = [arg for a in self.addresses() for arg in ("--bind", f"{a}:{self.port}")]
        return [
            [
                sys.executable,
                str(PEERS_DIR / "bare_fastapi.py"),
                "--body",
                str(self.workdir / "system.json"),
                "--http",
                self.http,
                "--loop",
                self.loop,
                *binds,
            ]
        ]

    def targets(self, client: httpx.Client) -> list[Target]:
        return [
            Target(a, self.port, f"/redfish/v1/Systems/n{i:02d}")
            for i, a in enumerate(self.addresses(), start=1)
        ]


class SushyPeer(Peer):
    """``sushy-emulator --config`` with the fake driver and ``nodes`` systems, one address."""

    stack = "Flask, werkzeug threaded"

    def __init__(self, nodes: int, port: int, workdir: Path, htpasswd: bool) -> None:
        super().__init__(nodes, port, workdir)
        self.htpasswd = htpasswd
        self.name = "sushy-htpasswd" if htpasswd else "sushy"
        self.auth_modes = ("basic",) if htpasswd else ("none",)

    def addresses(self) -> list[str]:
        return [f"{self.subnet}.1"]

    def prepare(self) -> None:
        exe = shutil.which("sushy-emulator")
        if exe is None:
            raise BenchError("sushy-emulator not found: pip install sushy-tools")
        self.exe = exe
        auth_file = ""
        if self.htpasswd:
            import bcrypt  # a sushy-tools dependency

            digest = bcrypt.hashpw(
                SUSHY_PASSWORD.encode(), bcrypt.gensalt(rounds=SUSHY_BCRYPT_ROUNDS)
            ).decode()
            auth_file = str(self.workdir / "htpasswd")
            Path(auth_file).write_text(f"{SUSHY_USER}:{digest}\n")
        template = string.Template((PEERS_DIR / "sushy_emulator.conf.in").read_text())
        (self.workdir / "state").mkdir()
        self.config = self.workdir / "sushy-emulator.conf"
        self.config.write_text(
            template.substitute(
                address=self.addresses()[0],
                port=self.port,
                state_dir=self.workdir / "state",
                systems=self.nodes,
                auth_file=auth_file,
            )
        )

    def commands(self) -> list[list[str]]:
        return [[self.exe, "--config", str(self.config)]]

    def targets(self, client: httpx.Client) -> list[Target]:
        """The systems its collection lists (the fake driver names them by UUID)."""
        r = client.get(self.url(self.addresses()[0], "/redfish/v1/Systems"))
        if r.status_code != 200:
            raise BenchError(f"sushy: GET /redfish/v1/Systems: {r.status_code} {r.text[:200]}")
        members = [m["@odata.id"] for m in r.json().get("Members", [])]
        if len(members) != self.nodes:
            raise BenchError(f"sushy: expected {self.nodes} systems, got {members}")
        return [Target(self.addresses()[0], self.port, path) for path in sorted(members)]

    def basic_auth(self) -> tuple[str, str]:
        return SUSHY_USER, SUSHY_PASSWORD


def make_peer(name: str, nodes: int, port: int, workdir: Path, body: bytes) -> Peer:
    if name.startswith("ours-"):
        return OursPeer(nodes, port, workdir, tls=name == "ours-https")
    if name.startswith("fastapi-"):
        return BareFastApiPeer(nodes, port, workdir, name.removeprefix("fastapi-"), body)
    return SushyPeer(nodes, port, workdir, htpasswd=name == "sushy-htpasswd")


# --------------------------------------------------------------------------- processes


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass
class Spawned:
    command: list[str]
    popen: subprocess.Popen[bytes]
    log: Path

    def log_tail(self) -> str:
        try:
            return _tail(self.log.read_text(errors="replace"))
        except OSError:
            return ""


@dataclass
class RunningPeer:
    """Server processes of one peer, started and known to answer."""

    peer: Peer
    spawned: list[Spawned]
    startup_s: float = 0.0

    def processes(self) -> list[psutil.Process]:
        """The spawned processes and all their descendants still alive."""
        procs: list[psutil.Process] = []
        for s in self.spawned:
            with contextlib.suppress(psutil.NoSuchProcess):
                root = psutil.Process(s.popen.pid)
                procs.append(root)
                procs.extend(root.children(recursive=True))
        return procs

    def cpu_seconds(self) -> float:
        """user+sys of every server process, its exited threads included.

        From /proc/PID/stat (clock ticks, 10 ms), not per-thread schedstat as bench/ipmi.py
        does: werkzeug (sushy) runs a thread per connection, and a thread that has exited
        is gone from /proc/PID/task but still counted in the process's own times.
        """
        total = 0.0
        for p in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def threads(self) -> int:
        total = 0
        for p in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.num_threads()
        return total

    def rss(self) -> int:
        total = 0
        for p in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
        return total

    def check_alive(self) -> None:
        for s in self.spawned:
            if s.popen.poll() is not None:
                raise BenchError(
                    f"{self.peer.name}: `{' '.join(s.command)}` exited "
                    f"{s.popen.returncode}:\n{s.log_tail()}"
                )

    def logs(self) -> str:
        return "\n".join(t for s in self.spawned if (t := s.log_tail()))


def _check_addresses(peer: Peer) -> None:
    """Only ever load addresses that this bench chose, and only free ones."""
    subnet = ipaddress.ip_network(f"{peer.subnet}.0/24")
    for address in peer.addresses():
        if ipaddress.ip_address(address) not in subnet:
            raise BenchError(f"{peer.name}: {address} is outside the bench's {subnet}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # As the servers do: connections of a previous run in TIME_WAIT are no conflict.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((address, peer.port))
            except OSError as exc:
                raise BenchError(
                    f"{peer.name}: {address}:{peer.port} is already in use ({exc.strerror}); "
                    "a leftover server? choose another --port"
                ) from None


def _kill(spawned: Sequence[Spawned], grace: float = 3.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for s in spawned:
            if s.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(s.popen.pid, sig)  # start_new_session: pgid == pid
        deadline = time.monotonic() + grace
        for s in spawned:
            with contextlib.suppress(subprocess.TimeoutExpired):
                s.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        if all(s.popen.poll() is not None for s in spawned):
            return


def http_client(auth: tuple[str, str] | None = None) -> httpx.Client:
    # verify=False: our BMCs' certificate is self-signed (wrk does not verify either).
    return httpx.Client(verify=False, timeout=5.0, auth=auth)


@contextlib.contextmanager
def running(peer: Peer, startup_timeout: float) -> Iterator[RunningPeer]:
    """Start ``peer``, wait until every address answers, yield it, always kill it."""
    peer.prepare()
    _check_addresses(peer)
    spawned: list[Spawned] = []
    try:
        t0 = time.perf_counter()
        for i, cmd in enumerate(peer.commands()):
            log = peer.workdir / f"{peer.name}-{i:02d}.log"
            with log.open("wb") as out:
                popen = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=peer.workdir,
                    start_new_session=True,
                )
            spawned.append(Spawned(cmd, popen, log))
        run = RunningPeer(peer, spawned)
        wait_until_answering(run, startup_timeout)
        run.startup_s = time.perf_counter() - t0
        yield run
    finally:
        _kill(spawned, peer.stop_grace_s)


def wait_until_answering(run: RunningPeer, timeout: float, interval: float = 0.02) -> None:
    """GET ``probe_path`` on every address until each has answered 200 once and the peer
    is ready."""
    peer = run.peer
    auth = peer.basic_auth() if "none" not in peer.auth_modes else None
    pending = set(peer.addresses())
    deadline = time.perf_counter() + timeout
    last = ""
    with http_client(auth) as client:
        while pending or not peer.ready():
            for address in sorted(pending):
                try:
                    r = client.get(peer.url(address, peer.probe_path), timeout=1.0)
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                    continue
                if r.status_code == 200:
                    pending.discard(address)
                else:
                    last = f"{r.status_code} {r.text[:200]}"
            run.check_alive()
            if time.perf_counter() > deadline:
                what = (
                    f"no 200 for GET {peer.probe_path} from {', '.join(sorted(pending))}"
                    if pending
                    else "every address answers but the server has not finished starting"
                )
                raise BenchError(
                    f"{peer.name}: {what} after {timeout:g}s (last: {last})\n{run.logs()}".rstrip()
                )
            if pending or not peer.ready():
                time.sleep(interval)


# --------------------------------------------------------------------------- load


@dataclass
class AuthHeader:
    name: str = ""
    value: str = ""


def auth_headers(
    run: RunningPeer, mode: str, targets: Sequence[Target], client: httpx.Client
) -> list[AuthHeader]:
    """One header per target: nothing, Basic, or an X-Auth-Token from a fresh session per BMC.

    Every target is checked with its header (200 and a body) before any load.
    """
    peer = run.peer
    if mode == "none":
        headers = [AuthHeader() for _ in targets]
    elif mode == "basic":
        user, password = peer.basic_auth()
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers = [AuthHeader("Authorization", f"Basic {token}") for _ in targets]
    elif mode == "session":
        user, password = peer.basic_auth()
        tokens: dict[str, str] = {}
        for t in targets:
            if t.address in tokens:
                continue
            r = client.post(
                peer.url(t.address, "/redfish/v1/SessionService/Sessions"),
                json={"UserName": user, "Password": password},
                auth=httpx.Auth(),  # no Basic on the login itself
            )
            token = r.headers.get("x-auth-token")
            if r.status_code != 201 or not token:
                raise BenchError(
                    f"{peer.name}: POST Sessions on {t.address}: {r.status_code} {r.text[:200]}"
                )
            tokens[t.address] = token
        headers = [AuthHeader("X-Auth-Token", tokens[t.address]) for t in targets]
    else:
        raise ValueError(mode)
    for t, h in zip(targets, headers, strict=True):
        r = client.get(
            peer.url(t.address, t.path),
            headers={h.name: h.value} if h.name else {},
            auth=httpx.Auth(),  # only the header under test
        )
        if r.status_code != 200 or not r.content:
            raise BenchError(
                f"{peer.name}: GET {t.path} on {t.address} with {mode} auth: "
                f"{r.status_code} {r.text[:200]}"
            )
    return headers


@dataclass
class WrkRun:
    summary: dict[str, Any]
    wrk_cpu_s: float
    server_cpu_s: float
    samples: list[tuple[float, int, int]]  # (seconds from start, RSS bytes, threads)


def run_wrk(
    run: RunningPeer,
    targets: Sequence[Target],
    headers: Sequence[AuthHeader],
    connections: int,
    seconds: int,
    workdir: Path,
) -> WrkRun:
    """One bounded wrk run (``connections`` threads x 1 connection), sampling server RSS."""
    peer = run.peer
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk not found: apt-get install -y wrk")
    tsv = workdir / "targets.tsv"
    tsv.write_text(
        "".join(
            f"{t.address}\t{t.port}\t{t.path}\t{h.name}\t{h.value}\n"
            for t, h in zip(targets, headers, strict=True)
        )
    )
    out = workdir / "wrk.json"
    out.unlink(missing_ok=True)
    log = workdir / "wrk.log"
    cmd = [
        wrk,
        "-t",
        str(connections),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        f"{WRK_TIMEOUT_S}s",
        "-s",
        str(WRK_SCRIPT),
        peer.url(targets[0].address, targets[0].path),
    ]
    env = dict(os.environ, SCALEUNIT_WRK_TARGETS=str(tsv), SCALEUNIT_WRK_OUT=str(out))
    run.check_alive()
    cpu0 = run.cpu_seconds()
    t0 = time.perf_counter()
    samples = [(0.0, run.rss(), run.threads())]
    with log.open("wb") as logf:
        popen = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    rusage = None
    try:
        deadline = t0 + seconds + OVERRUN_S
        while True:
            pid, status, rusage = os.wait4(popen.pid, os.WNOHANG)
            if pid:
                popen.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.perf_counter() > deadline:
                raise BenchError(
                    f"{peer.name}: wrk still running {OVERRUN_S}s after its {seconds}s"
                )
            time.sleep(SAMPLE_S)
            samples.append((time.perf_counter() - t0, run.rss(), run.threads()))
    finally:
        if popen.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait()
    cpu1 = run.cpu_seconds()
    samples.append((time.perf_counter() - t0, run.rss(), run.threads()))
    run.check_alive()
    if popen.returncode != 0 or not out.exists():
        raise BenchError(
            f"{peer.name}: `{' '.join(cmd)}` exited {popen.returncode}:\n"
            f"{_tail(log.read_text(errors='replace'))}"
        )
    assert rusage is not None
    return WrkRun(
        summary=json.loads(out.read_text()),
        wrk_cpu_s=rusage.ru_utime + rusage.ru_stime,
        server_cpu_s=cpu1 - cpu0,
        samples=samples,
    )


@dataclass
class PhaseResult:
    peer: str
    stack: str
    scheme: str
    auth: str
    scenario: str
    bmcs: int
    connections: int
    requests: int
    errors: int
    error_kinds: dict[str, int]
    seconds: float
    rate: float
    p50_us: float
    p90_us: float
    p99_us: float
    max_us: float
    bytes_per_response: float  # headers included
    server_cpu_us: float  # per request
    server_cores: float
    wrk_cores: float
    rss_start: int
    rss_peak: int
    rss_end: int
    spread: list[list[int]]  # [target index, requests sent] per wrk thread
    threads_peak: int = 0
    samples: list[tuple[float, int, int]] = field(default_factory=list)


def load_phase(
    run: RunningPeer,
    auth: str,
    targets: Sequence[Target],
    headers: Sequence[AuthHeader],
    connections: int,
    opts: Options,
    workdir: Path,
) -> PhaseResult:
    if opts.warmup > 0:
        run_wrk(run, targets, headers, connections, opts.warmup, workdir)
    w = run_wrk(run, targets, headers, connections, opts.seconds, workdir)
    s = w.summary
    n = s["requests"]
    secs = s["duration_us"] / 1e6
    lat = s["latency_us"]
    per = 1e6 / n if n else float("nan")
    kinds = {k: v for k, v in s["errors"].items() if v}
    many = "BMCs" if len(targets) > 1 else "BMC"
    conns = "conns" if connections > 1 else "conn"
    rss = [b for _, b, _ in w.samples]
    return PhaseResult(
        peer=run.peer.name,
        stack=run.peer.stack,
        scheme=run.peer.scheme,
        auth=auth,
        scenario=f"{len(targets)} {many}, {connections} {conns}",
        bmcs=len(targets),
        connections=connections,
        requests=n,
        errors=sum(kinds.values()),
        error_kinds=kinds,
        seconds=secs,
        rate=n / secs if secs else float("nan"),
        p50_us=lat["p50"] if n else float("nan"),
        p90_us=lat["p90"] if n else float("nan"),
        p99_us=lat["p99"] if n else float("nan"),
        max_us=lat["max"] if n else float("nan"),
        bytes_per_response=s["bytes"] / n if n else float("nan"),
        server_cpu_us=w.server_cpu_s * per,
        server_cores=w.server_cpu_s / secs if secs else float("nan"),
        wrk_cores=w.wrk_cpu_s / secs if secs else float("nan"),
        rss_start=rss[0],
        rss_peak=max(rss),
        rss_end=rss[-1],
        spread=s["threads"],
        threads_peak=max(n for _, _, n in w.samples),
        samples=w.samples,
    )


# --------------------------------------------------------------------------- driver


@dataclass
class ServerResult:
    peer: str
    stack: str
    processes: int
    threads: int  # when ready
    startup_s: float
    idle_cpu_pct: float
    rss_ready: int
    rss_load_start: int = 0  # at the start of the first measured phase (after a warm-up)
    rss_peak: int = 0
    rss_end: int = 0  # at the end of the last measured phase
    threads_peak: int = 0  # during load

    @property
    def growth(self) -> int:
        return self.rss_end - self.rss_load_start

    @property
    def flat(self) -> bool:
        return self.growth < FLAT_MIB * 2**20


@dataclass
class Options:
    seconds: int
    warmup: int
    nodes: int
    connections: int
    port: int
    startup_timeout: float


def scenarios(targets: Sequence[Target], connections: int) -> list[tuple[list[Target], int]]:
    """1 BMC x 1 conn, 1 BMC x N conns, every BMC x N conns (spread round-robin)."""
    first = list(targets[:1])
    return [(first, 1), (first, connections), (list(targets), connections)]


def bench_peer(peer: Peer, opts: Options) -> tuple[list[PhaseResult], ServerResult]:
    with running(peer, opts.startup_timeout) as run:
        procs = run.processes()
        idle0 = run.cpu_seconds()
        time.sleep(IDLE_WINDOW_S)
        idle1 = run.cpu_seconds()
        server = ServerResult(
            peer=peer.name,
            stack=peer.stack,
            processes=len(procs),
            threads=run.threads(),
            startup_s=run.startup_s,
            idle_cpu_pct=(idle1 - idle0) / IDLE_WINDOW_S * 100,
            rss_ready=run.rss(),
        )
        auth = peer.basic_auth() if "none" not in peer.auth_modes else None
        phases: list[PhaseResult] = []
        with http_client(auth) as client:
            targets = peer.targets(client)
            for mode in peer.auth_modes:
                headers = auth_headers(run, mode, targets, client)
                by_target = dict(zip(targets, headers, strict=True))
                for chosen, conns in scenarios(targets, opts.connections):
                    phases.append(
                        load_phase(
                            run,
                            mode,
                            chosen,
                            [by_target[t] for t in chosen],
                            conns,
                            opts,
                            peer.workdir,
                        )
                    )
        server.rss_load_start = phases[0].rss_start
        server.rss_peak = max(p.rss_peak for p in phases)
        server.rss_end = phases[-1].rss_end
        server.threads_peak = max(p.threads_peak for p in phases)
    return phases, server


def reference_body(opts: Options, tmp: Path) -> bytes:
    """Our n01 ComputerSystem, as served: the body the bare FastAPI app returns."""
    peer = OursPeer(opts.nodes, opts.port, tmp / "reference", tls=False)
    peer.workdir.mkdir()
    with running(peer, opts.startup_timeout), http_client(peer.basic_auth()) as client:
        t = peer.targets(client)[0]
        r = client.get(peer.url(t.address, t.path))
        if r.status_code != 200:
            raise BenchError(f"reference body: GET {t.path}: {r.status_code}")
        return r.content


def run_all(
    names: Sequence[str], opts: Options
) -> tuple[list[PhaseResult], list[ServerResult], dict[str, str], int]:
    phases: list[PhaseResult] = []
    servers: list[ServerResult] = []
    errors: dict[str, str] = {}
    body = b""
    with tempfile.TemporaryDirectory(prefix="redfish-bench-") as tmpdir:
        tmp = Path(tmpdir)
        for name in names:
            try:
                if name.startswith("fastapi-") and not body:
                    body = reference_body(opts, tmp)
                workdir = tmp / name
                workdir.mkdir()
                ph, server = bench_peer(make_peer(name, opts.nodes, opts.port, workdir, body), opts)
            except BenchError as exc:
                errors[name] = str(exc)
                continue
            phases.extend(ph)
            servers.append(server)
    return phases, servers, errors, len(body)


# --------------------------------------------------------------------------- profile

#: What-if runs of ours (HTTP, Basic, every BMC at once): each adds one patch, applied in the
#: server process by peers/redfish/profile_ours.py, to price a change before anyone makes it.
WHAT_IF: list[tuple[str, tuple[str, ...]]] = [
    ("as is", ()),
    ("sync deps + endpoints inline (= async def)", ("inline-sync",)),
    ("+ pydantic model_dump_json", ("inline-sync", "fast-json")),
    ("+ Health without reading 35 sensors", ("inline-sync", "fast-json", "no-health")),
    ("+ no reachability gate", ("inline-sync", "fast-json", "no-health", "no-gate")),
]

#: Where a request's time goes, as a share of uvicorn's run_asgi: (file suffix, function).
BREAKDOWN = [
    ("uvicorn/protocols/http/httptools_impl.py", "run_asgi", "the whole request (ASGI)"),
    ("bmc/redfish/app.py", "__call__", "RedfishFront: BMC lookup, headers, Allow"),
    ("bmc/redfish/app.py", "allowed", "  Allow: regex scan of every route"),
    ("starlette/routing.py", "__call__", "  FastAPI app below its middleware"),
    ("fastapi/routing.py", "_match", "    route matching"),
    ("fastapi/dependencies/utils.py", "solve_dependencies", "    solve_dependencies (nested)"),
    ("bmc/redfish/deps.py", "authenticate", "      authenticate (Basic)"),
    ("fastapi/routing.py", "run_endpoint_function", "    the endpoint"),
    ("bmc/redfish/routers/systems.py", "render_system", "      render_system (pydantic)"),
    ("bmc/redfish/mapping.py", "health", "        mapping.health: every sensor read"),
    ("bmc/redfish/deps.py", "reply", "      reply: dump, json.dumps, ETag"),
    ("uvicorn/protocols/http/httptools_impl.py", "send", "  uvicorn send (headers, write)"),
]


@dataclass
class ProfileReport:
    what_if: list[PhaseResult]
    breakdown: list[tuple[str, float, float]]  # (label, % of run_asgi, calls per request)
    top: str  # pstats' own listing, by internal time


def _one_phase(peer: OursPeer, opts: Options) -> PhaseResult:
    """Basic auth, every BMC with one connection each: the issue's headline case."""
    with running(peer, opts.startup_timeout) as run:
        with http_client(peer.basic_auth()) as client:
            targets = peer.targets(client)
            headers = auth_headers(run, "basic", targets, client)
        return load_phase(run, "basic", targets, headers, opts.connections, opts, peer.workdir)


def profile_ours(opts: Options, tmp: Path) -> ProfileReport:
    results = []
    for i, (label, variants) in enumerate(WHAT_IF):
        workdir = tmp / f"what-if-{i}"
        workdir.mkdir()
        r = _one_phase(OursPeer(opts.nodes, opts.port, workdir, tls=False, variants=variants), opts)
        r.stack = label
        results.append(r)
    # cProfile with the thread pool out of the way, so that the loop thread does everything
    # and cumulative times add up (cProfile counts wall time; pool threads mostly wait).
    workdir = tmp / "cprofile"
    workdir.mkdir()
    out = workdir / "ours.pstats"
    peer = OursPeer(
        opts.nodes, opts.port, workdir, tls=False, variants=("inline-sync",), pstats=out
    )
    _one_phase(peer, opts)
    if not out.exists():
        raise BenchError(f"the profiled server wrote no {out}")
    import io
    import pstats

    stats = pstats.Stats(str(out))
    table: Any = stats.stats  # type: ignore[attr-defined]
    found: dict[tuple[str, str], tuple[float, int]] = {}
    for (file, _line, func), (_cc, ncalls, _tt, cumtime, _callers) in table.items():
        for suffix, name, _label in BREAKDOWN:
            # Several functions may share a name in one file (fastapi's `app`): the
            # outermost, with the largest cumulative time, is the one meant.
            if (
                func == name
                and file.endswith(suffix)
                and cumtime > found.get((suffix, name), (0.0, 0))[0]
            ):
                found[(suffix, name)] = (cumtime, ncalls)
    whole, requests = found.get(BREAKDOWN[0][:2], (0.0, 0))
    breakdown = [
        (label, found[(suffix, name)][0] / whole * 100, found[(suffix, name)][1] / requests)
        for suffix, name, label in BREAKDOWN
        if (suffix, name) in found and whole and requests
    ]
    buf = io.StringIO()
    pstats.Stats(str(out), stream=buf).strip_dirs().sort_stats("tottime").print_stats(20)
    top = buf.getvalue()
    top = top[top.index("   ncalls") :] if "   ncalls" in top else top
    return ProfileReport(results, breakdown, top)


def print_profile(console: Console, report: ProfileReport) -> None:
    t = Table(
        title="ours-http, Basic, every BMC at once: what each change would buy "
        "(patched in the server process only)"
    )
    t.add_column("variant")
    for col in ("req/s", "x as is", "p50 ms", "p99 ms", "server CPU\nus/req", "errors"):
        t.add_column(col, justify="right")
    base = report.what_if[0].rate if report.what_if else float("nan")
    for r in report.what_if:
        t.add_row(
            r.stack,
            _num(r.rate),
            _num(r.rate / base, ".2f"),
            _ms(r.p50_us),
            _ms(r.p99_us),
            _num(r.server_cpu_us),
            str(r.errors),
        )
    console.print(t)
    b = Table(title="cProfile (inline-sync variant): share of a request's time")
    b.add_column("where")
    b.add_column("% of request", justify="right")
    b.add_column("calls/request", justify="right")
    for label, pct, calls in report.breakdown:
        b.add_row(label, f"{pct:.1f}", f"{calls:.1f}")
    console.print(b)
    console.print(
        "[dim]top 20 by internal time (cProfile wall time; the loop's idle time is "
        "in runners.run)[/dim]"
    )
    console.print(report.top, markup=False, highlight=False)


# --------------------------------------------------------------------------- report


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f}"


def _num(x: float, fmt: str = ".0f") -> str:
    return "-" if x != x else format(x, fmt)  # NaN -> "-"


def _ms(us: float) -> str:
    return _num(us / 1000, ".2f")


def _find(
    phases: Sequence[PhaseResult], peer: str, auth: str | None, scenario: str
) -> PhaseResult | None:
    for p in phases:
        if p.peer == peer and p.scenario == scenario and (auth is None or p.auth == auth):
            return p
    return None


@dataclass
class Verdict:
    """The issue's targets for one phase of ours."""

    peer: str
    auth: str
    scenario: str
    rate: float
    speedup: float | None  # over sushy (no auth), same scenario
    speedup_ok: bool | None  # None where the target does not apply (1 connection)
    of_ceiling_pct: float | None  # of bare FastAPI httptools+uvloop, same scenario
    p99_ms: float
    p99_ok: bool


def verdicts(phases: Sequence[PhaseResult]) -> list[Verdict]:
    """Ours against the issue: >= 20x sushy at 16 connections, p99 < 20 ms (memory: servers)."""
    out = []
    for p in phases:
        if not p.peer.startswith("ours-"):
            continue
        sushy = _find(phases, "sushy", "none", p.scenario)
        ceiling = _find(phases, "fastapi-httptools", "none", p.scenario)
        speedup = p.rate / sushy.rate if sushy is not None and sushy.rate > 0 else None
        out.append(
            Verdict(
                peer=p.peer,
                auth=p.auth,
                scenario=p.scenario,
                rate=p.rate,
                speedup=speedup,
                speedup_ok=(
                    None if speedup is None or p.connections == 1 else speedup >= TARGET_SPEEDUP
                ),
                of_ceiling_pct=(
                    p.rate / ceiling.rate * 100 if ceiling is not None and ceiling.rate else None
                ),
                p99_ms=p.p99_us / 1000,
                p99_ok=p.p99_us / 1000 < TARGET_P99_MS and p.errors == 0,
            )
        )
    return out


def print_report(
    console: Console,
    phases: Sequence[PhaseResult],
    servers: Sequence[ServerResult],
    errors: dict[str, str],
    opts: Options,
    body_size: int,
) -> None:
    t = Table(
        title=f"GET /redfish/v1/Systems/{{id}} with wrk ({opts.seconds} s per row, after "
        f"{opts.warmup} s warm-up; threads = connections)"
    )
    for col in ("peer", "stack", "auth", "scenario"):
        t.add_column(col)
    for col in (
        "requests",
        "errors",
        "req/s",
        "p50\nms",
        "p99\nms",
        "max\nms",
        "bytes\n/resp",
        "server\nCPU us/req",
        "server\ncores",
        "wrk\ncores",
        "RSS MiB\nstart>peak>end",
    ):
        t.add_column(col, justify="right")
    last = ""
    for r in phases:
        if last and r.peer != last:
            t.add_section()
        last = r.peer
        t.add_row(
            r.peer,
            r.stack,
            r.auth,
            r.scenario,
            str(r.requests),
            f"[red]{r.errors}[/red]" if r.errors else "0",
            _num(r.rate),
            _ms(r.p50_us),
            _ms(r.p99_us),
            _ms(r.max_us),
            _num(r.bytes_per_response),
            _num(r.server_cpu_us),
            _num(r.server_cores, ".2f"),
            _num(r.wrk_cores, ".2f"),
            f"{_mib(r.rss_start)}>{_mib(r.rss_peak)}>{_mib(r.rss_end)}",
        )
    if phases:
        console.print(t)

    m = Table(title="Servers: start-up and memory (RSS summed over the server's processes)")
    for col in ("peer", "stack"):
        m.add_column(col)
    for col in (
        "procs",
        "threads\nready/load",
        "start s",
        "idle CPU %",
        "RSS ready",
        "RSS load start",
        "RSS peak",
        "RSS end",
        "growth",
        "flat",
    ):
        m.add_column(col, justify="right")
    for s in servers:
        m.add_row(
            s.peer,
            s.stack,
            str(s.processes),
            f"{s.threads}/{s.threads_peak}",
            f"{s.startup_s:.2f}",
            f"{s.idle_cpu_pct:.1f}",
            _mib(s.rss_ready),
            _mib(s.rss_load_start),
            _mib(s.rss_peak),
            _mib(s.rss_end),
            f"{s.growth / 2**20:+.1f}",
            "yes" if s.flat else "[red]no[/red]",
        )
    if servers:
        console.print(m)

    v = verdicts(phases)
    if v:
        vt = Table(
            title=f"Targets (issue 3): >= {TARGET_SPEEDUP:g}x sushy (no auth, same scenario) at "
            f"{opts.connections} connections, p99 < {TARGET_P99_MS:g} ms, memory flat (above)"
        )
        for col in ("peer", "auth", "scenario"):
            vt.add_column(col)
        for col in ("req/s", "x sushy", "met", "% of bare\nhttptools", "p99 ms", "met"):
            vt.add_column(col, justify="right")

        def met(ok: bool | None) -> str:
            return "-" if ok is None else ("yes" if ok else "[red]NO[/red]")

        for x in v:
            vt.add_row(
                x.peer,
                x.auth,
                x.scenario,
                _num(x.rate),
                "-" if x.speedup is None else f"{x.speedup:.1f}x",
                met(x.speedup_ok),
                "-" if x.of_ceiling_pct is None else f"{x.of_ceiling_pct:.0f}%",
                f"{x.p99_ms:.1f}",
                met(x.p99_ok),
            )
        console.print(vt)
    console.print(
        f"[dim]wrk {WRK_TIMEOUT_S} s request timeout; errors = non-2xx/3xx + socket errors + "
        "timeouts. server CPU = user+sys of the server's processes over the measured run / "
        "requests; cores = CPU seconds per second (wrk's from its rusage): on this "
        f"{os.cpu_count()}-CPU machine server + wrk cores near {os.cpu_count()} means the "
        "machine, not the server alone, set the rate. "
        + (
            f"Bare FastAPI returns {body_size} bytes (our n01 ComputerSystem). "
            if body_size
            else ""
        )
        + "bytes/resp includes headers. RSS sampled every "
        f"{SAMPLE_S:g} s; flat = end of last phase - start of first < {FLAT_MIB:g} MiB.[/dim]"
    )
    for r in phases:
        if r.error_kinds:
            console.print(f"[yellow]{r.peer} / {r.auth} / {r.scenario}: errors {r.error_kinds}")
    for name, msg in errors.items():
        console.print(f"[bold red]{name} FAILED:[/bold red] {msg}")


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """NaN (no request answered) is not JSON: write null."""
    return {k: None if isinstance(v, float) and v != v else v for k, v in row.items()}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--seconds", type=int, default=5, help="length of each measured phase (wrk -d)")
    p.add_argument("--warmup", type=int, default=1, help="unmeasured wrk run before each phase")
    p.add_argument(
        "--only",
        action="append",
        choices=(*PEER_NAMES, *GROUPS),
        help="peer (or group: ours, fastapi, sushy) to run; repeatable",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--nodes", type=int, default=16, help="BMCs (systems) per server, 4..16")
    p.add_argument("--connections", type=int, default=16, help="connections in the wide phases")
    p.add_argument(
        "--port",
        type=int,
        default=18443,
        help="TCP port on every 127.0.x.y "
        "(ours also binds UDP PORT+1 for IPMI and PORT+2 for SNMP)",
    )
    p.add_argument("--startup-timeout", type=float, default=30.0)
    p.add_argument(
        "--profile",
        action="store_true",
        help="instead of the comparison: what-if runs of ours-http and a cProfile of it "
        "(peers/redfish/profile_ours.py)",
    )
    args = p.parse_args(argv)
    if not 4 <= args.nodes <= 16:
        p.error("--nodes must be 4..16 (scaleunit's racks)")
    if args.seconds < 1 or args.warmup < 0 or args.connections < 1:
        p.error("--seconds and --connections must be >= 1, --warmup >= 0")
    return args


def _raise_system_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # so that every `finally` kills what it started


def run_profile(opts: Options, as_json: bool) -> int:
    try:
        with tempfile.TemporaryDirectory(prefix="redfish-profile-") as tmp:
            report = profile_ours(opts, Path(tmp))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"profile FAILED: {exc}", file=sys.stderr)
        return 1
    if as_json:
        json.dump(
            {
                "options": asdict(opts),
                "what_if": [_finite(asdict(r)) for r in report.what_if],
                "breakdown": report.breakdown,
                "top": report.top,
            },
            sys.stdout,
            indent=2,
        )
        print()
    else:
        print_profile(Console(width=None if sys.stdout.isatty() else 200), report)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    opts = Options(
        seconds=args.seconds,
        warmup=args.warmup,
        nodes=args.nodes,
        connections=args.connections,
        port=args.port,
        startup_timeout=args.startup_timeout,
    )
    wanted = {n for o in (args.only or PEER_NAMES) for n in GROUPS.get(o, (o,))}
    names = [n for n in PEER_NAMES if n in wanted]
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _raise_system_exit)
    signal.signal(signal.SIGHUP, _raise_system_exit)
    if args.profile:
        return run_profile(opts, args.json)
    try:
        phases, servers, errors, body_size = run_all(names, opts)
    except KeyboardInterrupt:  # servers are already killed by then
        print("interrupted", file=sys.stderr)
        return 130
    if args.json:
        json.dump(
            {
                "options": asdict(opts),
                "cpus": os.cpu_count(),
                "load_tool": subprocess.run(
                    ["wrk", "--version"],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                ).stdout.splitlines()[0:1],
                "bare_body_bytes": body_size,
                "phases": [_finite(asdict(r)) for r in phases],
                "servers": [dict(asdict(s), growth=s.growth, flat=s.flat) for s in servers],
                "targets": [asdict(v) for v in verdicts(phases)],
                "errors": errors,
            },
            sys.stdout,
            indent=2,
        )
        print()
        for name, msg in errors.items():
            print(f"{name} FAILED: {msg}", file=sys.stderr)
    else:
        console = Console(width=None if sys.stdout.isatty() else 200)
        print_report(console, phases, servers, errors, opts, body_size)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

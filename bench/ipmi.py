"""IPMI 2.0 (lanplus) benchmark: our emulator against pyghmi's fakebmc and OpenIPMI's ipmi_sim.

    python bench/ipmi.py                       # every peer, 5 s per load phase
    python bench/ipmi.py --only fakebmc --only ipmi_sim --seconds 3
    python bench/ipmi.py --json > ipmi-bench.json

Every server runs in its own process group on 127.0.x.y addresses that this script picks
(one /24 per peer), and every server is driven by the same client, ``bmc.ipmi.client.
LanplusClient`` (cipher suite 3, ADMINISTRATOR), from this process. For each peer, one
server with ``--nodes`` BMCs (default 16) is started and:

1. start-up: time from the first spawn until every endpoint answers a sessionless
   ``Get Channel Authentication Capabilities`` and the server has finished starting (ours
   serves IPMI first, then Redfish, SNMP and its control plane, and writes the control
   plane's ``control.json`` last); then RSS/PSS, and CPU over 1 s idle;
2. *1 of 16 BMCs, 1 loop*: one session to the first BMC, ``Get Chassis Status`` sent
   sequentially;
3. *16 BMCs, 16 loops*: one session per BMC, 16 concurrent loops on one asyncio loop.

Peers: ``ours`` (``scaleunit up``, one process), ``fakebmc`` (16 processes *and* one
process serving 16, see ``--fakebmc-layout``), ``ipmi_sim`` (16 processes, config in
``peers/ipmi_sim/``).

Server CPU is user+sys of every server process and thread (``/proc/PID/task/*/schedstat``,
ns resolution; psutil's tick-based user+sys is kept in the JSON as a cross-check) read just
before and after the measured window, divided by the successful round trips; client CPU
is ``time.process_time()`` of this process. Every load phase is bounded by ``--seconds``
*and* ``--max-requests``; a hard deadline turns a phase stretched by stuck requests into an
error. Servers are always killed (process group, SIGTERM then SIGKILL) in ``finally``, also
on Ctrl-C and SIGTERM.

A peer that cannot be started is an error, not a skipped row: the other peers still run,
the error is printed under the table and the exit status is 1. Use ``--only`` to choose.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import select
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psutil
from rich.console import Console
from rich.table import Table

PEERS_DIR = Path(__file__).resolve().parent / "peers"

# IPMI wire numbers used by the benchmark (the client takes raw netfn/cmd).
NETFN_CHASSIS = 0x00
CMD_GET_CHASSIS_STATUS = 0x01
CIPHER_SUITE = 3
PRIV_ADMIN = 4

USERNAME = "admin"
PASSWORD = "password"

# One /24 per peer, so that a leftover process of one peer can never answer for another.
SUBNETS = {"ours": "127.0.71", "fakebmc": "127.0.72", "ipmi_sim": "127.0.73"}
PEER_NAMES = tuple(SUBNETS)


class BenchError(Exception):
    """A peer could not be started or measured; the message says why."""


@dataclass(frozen=True)
class Endpoint:
    address: str
    port: int
    username: str
    password: str

    def __str__(self) -> str:
        return f"{self.address}:{self.port}"


# --------------------------------------------------------------------------- peers


class Peer(ABC):
    """How to start one kind of server for ``nodes`` BMCs.

    ``prepare`` writes whatever config the server needs into ``workdir`` (not timed) and
    returns the endpoints it will serve; ``commands`` are the processes to start (timed
    from the first spawn until every endpoint answers).
    """

    name: str
    layout: str = ""

    def __init__(self, nodes: int, port: int, workdir: Path) -> None:
        self.nodes = nodes
        self.port = port
        self.workdir = workdir

    def addresses(self) -> list[str]:
        return [f"{SUBNETS[self.name]}.{i}" for i in range(1, self.nodes + 1)]

    @abstractmethod
    def prepare(self) -> list[Endpoint]: ...

    @abstractmethod
    def commands(self) -> list[list[str]]: ...

    def ready(self) -> bool:
        """Whether the server has finished starting, once every endpoint answers (the
        peers serve IPMI alone, so answering is ready; ours overrides it)."""
        return True


class FakeBmcPeer(Peer):
    """pyghmi's stock ``FakeBmc`` via ``peers/fakebmc_serve.py`` (which adds a bind address).

    ``procs``: one process per BMC (each has its own GIL, as 16 real BMCs would);
    ``one``: one process serving every BMC from pyghmi's single ``listen()`` loop.
    """

    name = "fakebmc"

    def __init__(self, nodes: int, port: int, workdir: Path, layout: str = "procs") -> None:
        super().__init__(nodes, port, workdir)
        self.layout = layout

    def prepare(self) -> list[Endpoint]:
        return [Endpoint(a, self.port, USERNAME, PASSWORD) for a in self.addresses()]

    def commands(self) -> list[list[str]]:
        base = [
            sys.executable,
            str(PEERS_DIR / "fakebmc_serve.py"),
            "--user",
            USERNAME,
            "--password",
            PASSWORD,
        ]
        binds = [f"{a}:{self.port}" for a in self.addresses()]
        if self.layout == "one":
            return [base + [arg for b in binds for arg in ("--bind", b)]]
        return [[*base, "--bind", b] for b in binds]


class IpmiSimPeer(Peer):
    """OpenIPMI ``ipmi_sim``: one process per BMC, configured from ``peers/ipmi_sim/``."""

    name = "ipmi_sim"
    layout = "procs"

    def prepare(self) -> list[Endpoint]:
        binary = shutil.which("ipmi_sim")
        if binary is None:
            raise BenchError("ipmi_sim not found: apt-get install -y openipmi")
        self.binary = binary
        template = string.Template((PEERS_DIR / "ipmi_sim" / "lan.conf.in").read_text())
        self.instances: list[Path] = []
        for i, address in enumerate(self.addresses(), start=1):
            inst = self.workdir / f"ipmi_sim{i:02d}"
            (inst / "state").mkdir(parents=True)
            (inst / "lan.conf").write_text(
                template.substitute(
                    name=f"bench{i:02d}",
                    address=address,
                    port=self.port,
                    guid=uuid.uuid4().hex,
                    username=USERNAME,
                    password=PASSWORD,
                )
            )
            self.instances.append(inst)
        return [Endpoint(a, self.port, USERNAME, PASSWORD) for a in self.addresses()]

    def commands(self) -> list[list[str]]:
        emu = str(PEERS_DIR / "ipmi_sim" / "bmc.emu")
        return [
            # -n: no console on stdin/stdout (it would exit or block otherwise);
            # -s: keep its persistence files out of /var/lib.
            [self.binary, "-n", "-c", str(i / "lan.conf"), "-f", emu, "-s", str(i / "state")]
            for i in self.instances
        ]


class OursPeer(Peer):
    """Our rack: ``scaleunit up --topology FILE``, one process for every node."""

    name = "ours"
    layout = "one"

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

    def prepare(self) -> list[Endpoint]:
        self.topology = self.workdir / f"topology-{self.nodes}.yaml"
        self._scaleunit(
            "topology", "init",
            "--nodes", str(self.nodes),
            "--base-address", f"{SUBNETS[self.name]}.0",  # nodes' BMCs from .3
            "--ipmi-port", str(self.port),
            "-o", str(self.topology),
        )  # fmt: skip
        listed = json.loads(
            self._scaleunit("endpoints", "--topology", str(self.topology), "--format", "json")
        )
        endpoints = [
            Endpoint(e["address"], int(e["port"]), e["username"], e["password"])
            for e in listed
            if e["protocol"].lower() == "ipmi"
        ]
        if len(endpoints) != self.nodes:
            raise BenchError(f"expected {self.nodes} IPMI endpoints, topology lists {listed}")
        return endpoints

    def commands(self) -> list[list[str]]:
        # warning: no per-request log lines (the peers do not log requests either).
        exe = str(shutil.which("scaleunit"))
        # A state directory of the bench's own, as built (--fresh) at every run.
        state = ["--state-dir", str(self.workdir / "state"), "--fresh"]
        return [[exe, "up", "--topology", str(self.topology), *state, "--log-level", "warning"]]

    def ready(self) -> bool:
        # IPMI answers before Redfish, SNMP and the control plane are up; control.json is
        # written last, so the idle window does not measure the rest of the start-up.
        return (self.workdir / "state" / "control.json").exists()


def make_peer(name: str, nodes: int, port: int, workdir: Path, fakebmc_layout: str = "") -> Peer:
    if name == "fakebmc":
        return FakeBmcPeer(nodes, port, workdir, fakebmc_layout or "procs")
    if name == "ipmi_sim":
        return IpmiSimPeer(nodes, port, workdir)
    return OursPeer(nodes, port, workdir)


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
    endpoints: list[Endpoint]
    spawned: list[Spawned]
    startup_s: float

    def processes(self) -> list[psutil.Process]:
        """The spawned processes and all their descendants still alive."""
        procs: list[psutil.Process] = []
        for s in self.spawned:
            with contextlib.suppress(psutil.NoSuchProcess):
                root = psutil.Process(s.popen.pid)
                procs.append(root)
                procs.extend(root.children(recursive=True))
        return procs

    def cpu_seconds(self) -> tuple[float, float]:
        """(on-CPU time from schedstat, user+sys from psutil), seconds, all server threads.

        Both are user+sys; ``/proc/PID/task/TID/schedstat`` counts nanoseconds while the
        psutil figure comes in clock ticks (10 ms per process), so the first is the one
        reported and the second is kept in the JSON as a cross-check.
        """
        sched = ticks = 0.0
        for p in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                t = p.cpu_times()
                ticks += t.user + t.system
                sched += _schedstat_seconds(p.pid)
        return sched, ticks

    def memory(self) -> tuple[int, int]:
        """(sum of RSS, sum of PSS) in bytes; PSS splits shared pages between processes."""
        rss = pss = 0
        for p in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                info = p.memory_full_info()
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
        return rss, pss

    def check_alive(self) -> None:
        for s in self.spawned:
            if s.popen.poll() is not None:
                raise BenchError(
                    f"{self.peer.name}: `{' '.join(s.command)}` exited "
                    f"{s.popen.returncode}:\n{s.log_tail()}"
                )


def _schedstat_seconds(pid: int) -> float:
    total = 0
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def _check_endpoints(peer: Peer, endpoints: Sequence[Endpoint]) -> None:
    """Only ever load addresses that this bench chose: its own /24 of 127.0.0.0/8."""
    subnet = ipaddress.ip_network(f"{SUBNETS[peer.name]}.0/24")
    for e in endpoints:
        if ipaddress.ip_address(e.address) not in subnet:
            raise BenchError(f"{peer.name}: endpoint {e} is outside the bench's {subnet}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((e.address, e.port))
            except OSError as exc:
                raise BenchError(
                    f"{peer.name}: {e} is already in use ({exc.strerror}); "
                    "a leftover server? choose another --port"
                ) from None


def _kill(spawned: Sequence[Spawned]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for s in spawned:
            if s.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(s.popen.pid, sig)  # start_new_session: pgid == pid
        deadline = time.monotonic() + 3.0
        for s in spawned:
            with contextlib.suppress(subprocess.TimeoutExpired):
                s.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        if all(s.popen.poll() is not None for s in spawned):
            return


@contextlib.contextmanager
def running(peer: Peer, startup_timeout: float) -> Iterator[RunningPeer]:
    """Start ``peer``, wait until every endpoint answers, yield it, always kill it."""
    endpoints = peer.prepare()
    _check_endpoints(peer, endpoints)
    spawned: list[Spawned] = []
    try:
        t0 = time.perf_counter()
        for i, cmd in enumerate(peer.commands()):
            log = peer.workdir / f"{peer.name}-{peer.nodes}-{i:02d}.log"
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
        run = RunningPeer(peer, endpoints, spawned, startup_s=0.0)
        wait_until_answering(run, startup_timeout - (time.perf_counter() - t0))
        run.startup_s = time.perf_counter() - t0
        yield run
    finally:
        _kill(spawned)


# --------------------------------------------------------------------------- readiness


def _auth_caps_request() -> bytes:
    """Sessionless Get Channel Authentication Capabilities (IPMI 1.5 framing, as ipmitool).

    Channel 0Eh (this channel) with the "IPMI 2.0 extended data" bit, ADMINISTRATOR.
    """
    rs_addr, netfn_lun, rq_addr, rq_seq_lun, cmd = 0x20, 0x06 << 2, 0x81, 0x00, 0x38
    body = bytes([rq_addr, rq_seq_lun, cmd, 0x8E, PRIV_ADMIN])
    msg = bytes([rs_addr, netfn_lun, -(rs_addr + netfn_lun) & 0xFF]) + body
    msg += bytes([-sum(body) & 0xFF])
    rmcp = bytes([0x06, 0x00, 0xFF, 0x07])
    session = bytes([0x00]) + bytes(4) + bytes(4) + bytes([len(msg)])
    return rmcp + session + msg


def _is_auth_caps_ok(packet: bytes) -> bool:
    # RMCP(4) + IPMI 1.5 session header(10) + rqAddr netFn chk rsAddr seq cmd cc
    return (
        len(packet) >= 21
        and packet[:4] == b"\x06\x00\xff\x07"
        and packet[15] >> 2 == 0x07  # netfn App response
        and packet[19] == 0x38
        and packet[20] == 0x00
    )


def wait_until_answering(run: RunningPeer, timeout: float, interval: float = 0.01) -> None:
    """Probe every endpoint every ``interval`` s until all answered; fail on exit/timeout."""
    deadline = time.perf_counter() + timeout
    request = _auth_caps_request()
    socks: dict[socket.socket, Endpoint] = {}
    try:
        for e in run.endpoints:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            socks[s] = e
        pending = set(socks)
        while pending or not run.peer.ready():
            for s in pending:
                e = socks[s]
                with contextlib.suppress(OSError):  # ECONNREFUSED while not bound yet
                    s.sendto(request, (e.address, e.port))
            step_end = time.perf_counter() + interval
            while pending and (left := step_end - time.perf_counter()) > 0:
                readable, _, _ = select.select(list(pending), [], [], left)
                for s in readable:
                    with contextlib.suppress(OSError):
                        if _is_auth_caps_ok(s.recv(512)):
                            pending.discard(s)
            run.check_alive()
            if time.perf_counter() > deadline:
                logs = "\n".join(t for sp in run.spawned if (t := sp.log_tail()))
                what = (
                    "no Get Channel Auth Caps answer from "
                    + ", ".join(sorted(str(socks[s]) for s in pending))
                    if pending
                    else "every endpoint answers but the server has not finished starting"
                )
                raise BenchError(f"{run.peer.name}: {what} after {timeout:g}s\n{logs}".rstrip())
            if not pending and not run.peer.ready():
                time.sleep(interval)
    finally:
        for s in socks:
            s.close()


# --------------------------------------------------------------------------- load


class Client(Protocol):
    async def raw(self, netfn: int, cmd: int, data: bytes = b"") -> tuple[int, bytes]: ...


ClientFactory = Callable[[Endpoint], contextlib.AbstractAsyncContextManager[Client]]


def lanplus_client(e: Endpoint) -> contextlib.AbstractAsyncContextManager[Client]:
    """The project's client; every peer is driven through it."""
    try:
        from bmc.ipmi.client import LanplusClient
    except ImportError as exc:
        raise BenchError(f"bmc.ipmi.client.LanplusClient is not available: {exc}") from None
    client: contextlib.AbstractAsyncContextManager[Client] = LanplusClient(
        e.address,
        e.port,
        e.username,
        e.password,
        cipher_suite=CIPHER_SUITE,
        privilege=PRIV_ADMIN,
        timeout=1.0,
        retries=3,
    )
    return client


@dataclass
class Budget:
    """Shared request budget: a loop may send only while ``take()`` says yes.

    ``closed_at`` is when it first said no (deadline reached or requests used up): the
    end of the window the rate is computed over. Answers that arrive later (a request in
    its retries) still count for CPU per round trip but not for the rate.
    """

    left: int
    deadline: float
    closed_at: float = float("inf")

    def take(self) -> bool:
        now = time.perf_counter()
        if self.left <= 0 or now >= self.deadline:
            self.closed_at = min(self.closed_at, now)
            return False
        self.left -= 1
        return True


@dataclass
class LoopStats:
    ok: int = 0
    errors: int = 0
    first_error: str = ""
    latencies: list[float] = field(default_factory=list)
    done_at: list[float] = field(default_factory=list)


MAX_CONSECUTIVE_ERRORS = 20
OVERRUN_S = 10  # > timeout * (1 + retries) of the client
IDLE_WINDOW_S = 1.0  # server CPU with no client, right after start-up


async def _loop(client: Client, budget: Budget, stats: LoopStats) -> None:
    """Send until the budget says stop; a session failing 20 times in a row is given up."""
    clock = time.perf_counter
    streak = 0
    while streak < MAX_CONSECUTIVE_ERRORS and budget.take():
        t = clock()
        try:
            cc, _ = await client.raw(NETFN_CHASSIS, CMD_GET_CHASSIS_STATUS)
        except Exception as exc:  # counted and reported, the phase goes on
            error = f"{type(exc).__name__}: {exc}"
        else:
            if cc == 0:
                done = clock()
                stats.ok += 1
                stats.latencies.append(done - t)
                stats.done_at.append(done)
                streak = 0
                continue
            error = f"completion code {cc:#04x}"
        stats.errors += 1
        streak += 1
        stats.first_error = stats.first_error or error


@dataclass
class PhaseResult:
    peer: str
    layout: str
    scenario: str
    bmcs: int
    processes: int
    round_trips: int
    errors: int
    seconds: float  # the window: until the deadline or the last request sent
    tail_seconds: float  # then waiting for the requests in flight (retries)
    rate: float  # answers received inside the window / window
    server_cpu_us: float
    server_cpu_us_psutil: float
    client_cpu_us: float
    p50_us: float
    p99_us: float
    first_error: str = ""


async def load_phase(
    run: RunningPeer,
    endpoints: Sequence[Endpoint],
    scenario: str,
    client_factory: ClientFactory,
    seconds: float,
    max_requests: int,
    warmup: float,
) -> PhaseResult:
    """One session per endpoint, one loop per session, all at once; measured window only.

    Sessions are opened (and a warm-up run) before the window; server CPU counts every
    process of ``run``, also those serving BMCs that are not loaded.
    """
    async with contextlib.AsyncExitStack() as stack:
        try:
            async with asyncio.timeout(30):
                clients = [await stack.enter_async_context(client_factory(e)) for e in endpoints]
        except BenchError:
            raise
        except Exception as exc:
            raise BenchError(
                f"{run.peer.name}: cannot open a lanplus session: {type(exc).__name__}: {exc}"
            ) from exc

        async def phase(duration: float, budget_requests: int) -> tuple[Budget, list[LoopStats]]:
            budget = Budget(budget_requests, time.perf_counter() + duration)
            stats = [LoopStats() for _ in clients]
            # A request that hangs past the deadline is cut off (timeout * retries + slack).
            try:
                async with asyncio.timeout(duration + OVERRUN_S):
                    async with asyncio.TaskGroup() as tg:
                        for c, st in zip(clients, stats, strict=True):
                            tg.create_task(_loop(c, budget, st))
            except TimeoutError:
                raise BenchError(
                    f"{run.peer.name}: requests still pending {OVERRUN_S}s after the "
                    f"{duration:g}s load phase ended"
                ) from None
            return budget, stats

        if warmup > 0:
            await phase(warmup, max_requests)
        run.check_alive()
        (server0, ticks0), client0 = run.cpu_seconds(), time.process_time()
        t0 = time.perf_counter()
        budget, stats = await phase(seconds, max_requests)
        t1 = time.perf_counter()
        (server1, ticks1), client1 = run.cpu_seconds(), time.process_time()
        run.check_alive()

    ok = sum(s.ok for s in stats)
    window_end = min(budget.closed_at, t1)
    in_window = sum(1 for s in stats for done in s.done_at if done <= window_end)
    lat = sorted(x for s in stats for x in s.latencies)
    per = 1e6 / ok if ok else float("nan")
    return PhaseResult(
        peer=run.peer.name,
        layout=run.peer.layout,
        scenario=scenario,
        bmcs=len(endpoints),
        processes=len(run.processes()),
        round_trips=ok,
        errors=sum(s.errors for s in stats),
        seconds=window_end - t0,
        tail_seconds=t1 - window_end,
        rate=in_window / (window_end - t0),
        server_cpu_us=(server1 - server0) * per,
        server_cpu_us_psutil=(ticks1 - ticks0) * per,
        client_cpu_us=(client1 - client0) * per,
        p50_us=statistics.median(lat) * 1e6 if lat else float("nan"),
        p99_us=lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e6 if lat else float("nan"),
        first_error=next((s.first_error for s in stats if s.first_error), ""),
    )


# --------------------------------------------------------------------------- driver


@dataclass
class RackResult:
    peer: str
    layout: str
    bmcs: int
    processes: int
    startup_s: float
    idle_cpu_pct: float
    rss_ready: int
    pss_ready: int
    rss_loaded: int = 0
    pss_loaded: int = 0


@dataclass
class Options:
    seconds: float
    max_requests: int
    nodes: int
    port: int
    warmup: float
    startup_timeout: float
    fakebmc_layout: str


async def bench_peer(
    name: str, layout: str, opts: Options, client_factory: ClientFactory
) -> tuple[list[PhaseResult], RackResult]:
    """Start one N-BMC server; load one of its BMCs, then all of them; always kill it."""
    with tempfile.TemporaryDirectory(prefix=f"ipmi-bench-{name}-") as tmp:
        peer = make_peer(name, opts.nodes, opts.port, Path(tmp), layout)
        with running(peer, opts.startup_timeout) as run:
            rss, pss = run.memory()
            idle0 = run.cpu_seconds()[0]
            await asyncio.sleep(IDLE_WINDOW_S)
            idle1 = run.cpu_seconds()[0]
            rack = RackResult(
                peer=name,
                layout=peer.layout,
                bmcs=opts.nodes,
                processes=len(run.processes()),
                startup_s=run.startup_s,
                idle_cpu_pct=(idle1 - idle0) / IDLE_WINDOW_S * 100,
                rss_ready=rss,
                pss_ready=pss,
            )
            phases = []
            for endpoints, scenario in (
                (run.endpoints[:1], f"1 of {opts.nodes} BMCs, 1 loop"),
                (run.endpoints, f"{opts.nodes} BMCs, {opts.nodes} loops"),
            ):
                result = await load_phase(
                    run, endpoints, scenario, client_factory,
                    opts.seconds, opts.max_requests, opts.warmup,
                )  # fmt: skip
                phases.append(result)
            rack.rss_loaded, rack.pss_loaded = run.memory()
    return phases, rack


def _layout(layout: str, processes: int) -> str:
    """What serves the BMCs: "16 procs", "1 proc" (``layout`` is the requested shape)."""
    return f"{processes} proc" + ("s" if processes != 1 else "")


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f}"


def _num(x: float, fmt: str = ".0f") -> str:
    return "-" if x != x else format(x, fmt)  # NaN -> "-"


def print_tables(
    console: Console,
    phases: Sequence[PhaseResult],
    racks: Sequence[RackResult],
    errors: dict[str, str],
    opts: Options,
) -> None:
    t = Table(
        title=f"Get Chassis Status over lanplus, cipher suite {CIPHER_SUITE} "
        f"({opts.seconds:g} s or {opts.max_requests} requests per row)",
    )
    for col in ("peer", "layout", "scenario", "round trips", "errors", "rt/s"):
        t.add_column(col, justify="left" if col in ("peer", "layout", "scenario") else "right")
    t.add_column("server CPU\nus/rt", justify="right")
    t.add_column("server\ncores", justify="right")
    t.add_column("client CPU\nus/rt", justify="right")
    t.add_column("client\ncores", justify="right")
    t.add_column("p50\nus", justify="right")
    t.add_column("p99\nus", justify="right")
    for r in phases:
        t.add_row(
            r.peer, _layout(r.layout, r.processes), r.scenario, str(r.round_trips),
            str(r.errors) if not r.errors else f"[red]{r.errors}[/red]",
            _num(r.rate),
            _num(r.server_cpu_us, ".1f"), _num(r.server_cpu_us * r.rate / 1e6, ".2f"),
            _num(r.client_cpu_us, ".1f"), _num(r.client_cpu_us * r.rate / 1e6, ".2f"),
            _num(r.p50_us), _num(r.p99_us),
        )  # fmt: skip
    if phases:
        console.print(t)

    m = Table(title=f"{opts.nodes}-BMC server: start-up and memory")
    for col in ("peer", "layout", "start -> all answer (s)", "idle CPU %"):
        m.add_column(col, justify="left" if col in ("peer", "layout") else "right")
    for col in ("RSS ready MiB", "PSS ready MiB", "RSS loaded MiB", "PSS loaded MiB"):
        m.add_column(col, justify="right")
    for k in racks:
        m.add_row(
            k.peer, _layout(k.layout, k.processes), f"{k.startup_s:.3f}", f"{k.idle_cpu_pct:.1f}",
            _mib(k.rss_ready), _mib(k.pss_ready), _mib(k.rss_loaded), _mib(k.pss_loaded),
        )  # fmt: skip
    if racks:
        console.print(m)
    console.print(
        "[dim]server CPU = user+sys of all server processes over the measured window / "
        "successful round trips; client = this process (one asyncio loop, one core at most); "
        "cores = CPU seconds per second, so client cores near 1.00 means the client, not "
        "the server, set the rate. RSS sums count shared pages once per process, PSS shares "
        "them out. Start-up = first spawn until every endpoint answers Get Channel Auth "
        "Caps (ours: and its control plane is up, the last of its start-up); idle CPU over "
        f"{IDLE_WINDOW_S:g} s with no client, from then. {os.cpu_count()} CPUs.[/dim]"
    )
    for r in phases:
        if r.tail_seconds > 0.5:
            console.print(
                f"[yellow]{r.peer} / {r.scenario}: {r.tail_seconds:.1f} s waiting for requests "
                "still in flight after the window (client retries); not in rt/s"
            )
        if r.first_error:
            console.print(f"[yellow]{r.peer} / {r.scenario}: first error: {r.first_error}")
    for name, msg in errors.items():
        console.print(f"[bold red]{name} FAILED:[/bold red] {msg}")


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """NaN (no successful round trip) is not JSON: write null."""
    return {k: None if isinstance(v, float) and v != v else v for k, v in row.items()}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--seconds", type=float, default=5.0, help="length of each load phase")
    p.add_argument("--max-requests", type=int, default=200_000, help="cap per load phase")
    p.add_argument("--only", action="append", choices=PEER_NAMES, help="peer to run (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--nodes", type=int, default=16, help="BMCs in the concurrent case")
    p.add_argument("--port", type=int, default=16230, help="UDP port on every 127.0.x.y")
    p.add_argument("--warmup", type=float, default=0.5, help="unmeasured load before each phase")
    p.add_argument("--startup-timeout", type=float, default=30.0)
    p.add_argument(
        "--fakebmc-layout",
        choices=("procs", "one", "both"),
        default="both",
        help="fakebmc: one process per BMC, one process for all BMCs, or both (two rows)",
    )
    args = p.parse_args(argv)
    if not 1 <= args.nodes <= 254:
        p.error("--nodes must be 1..254")
    if args.seconds <= 0 or args.max_requests <= 0:
        p.error("--seconds and --max-requests must be positive")
    return args


def _raise_system_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # so that every `finally` kills what it started


async def run(
    peers: Sequence[str], opts: Options, client_factory: ClientFactory
) -> tuple[list[PhaseResult], list[RackResult], dict[str, str]]:
    phases: list[PhaseResult] = []
    racks: list[RackResult] = []
    errors: dict[str, str] = {}
    for name in peers:
        layouts = [""]
        if name == "fakebmc":
            both = opts.fakebmc_layout == "both"
            layouts = ["procs", "one"] if both else [opts.fakebmc_layout]
        for layout in layouts:
            try:
                ph, rack = await bench_peer(name, layout, opts, client_factory)
            except BenchError as exc:
                errors[f"{name} {layout}".strip()] = str(exc)
                continue
            phases.extend(ph)
            racks.append(rack)
    return phases, racks, errors


def main(argv: Sequence[str] | None = None, client_factory: ClientFactory = lanplus_client) -> int:
    args = parse_args(argv)
    opts = Options(
        seconds=args.seconds,
        max_requests=args.max_requests,
        nodes=args.nodes,
        port=args.port,
        warmup=args.warmup,
        startup_timeout=args.startup_timeout,
        fakebmc_layout=args.fakebmc_layout,
    )
    peers = [p for p in PEER_NAMES if p in (args.only or PEER_NAMES)]
    if client_factory is lanplus_client:
        try:
            import bmc.ipmi.client  # noqa: F401  # fail before starting any server
        except ImportError as exc:
            print(f"bmc.ipmi.client is not available: {exc}", file=sys.stderr)
            return 2
    signal.signal(signal.SIGTERM, _raise_system_exit)
    signal.signal(signal.SIGHUP, _raise_system_exit)
    try:
        phases, racks, errors = asyncio.run(run(peers, opts, client_factory))
    except KeyboardInterrupt:  # servers are already killed by then
        print("interrupted", file=sys.stderr)
        return 130
    if args.json:
        json.dump(
            {
                "options": asdict(opts),
                "cpus": os.cpu_count(),
                "phases": [_finite(asdict(r)) for r in phases],
                "racks": [asdict(r) for r in racks],
                "errors": errors,
            },
            sys.stdout,
            indent=2,
        )
        print()
        for name, msg in errors.items():
            print(f"{name} FAILED: {msg}", file=sys.stderr)
    else:
        console = Console(width=None if sys.stdout.isatty() else 150)
        print_tables(console, phases, racks, errors, opts)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

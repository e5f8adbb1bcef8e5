"""kill -9 of a real ``scaleunit up`` (``python -m emulator.cli up``) in the middle of a firmware
update and of a storm of changes, then a restart on the same --state-dir: nothing a client saw
acknowledged is lost, the database is sound, the update is reported interrupted with the old
version in place, and the power-restore policy decides which hosts come back on.

The clients are the real ones (ipmitool, httpx for Redfish); every change is recorded by the
test the moment its client returns success. Loopback addresses of the test's own block only;
every loop is bounded in count and time.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator import topology as topo
from nodes.firmware import build_image
from tests.conftest import (
    TEST_IPMI_PORT,
    TEST_REDFISH_PORT,
    TEST_SNMP_PORT,
    next_base_address,
    require_tool,
)

pytestmark = [pytest.mark.tools, pytest.mark.timeout(300)]

V1 = "/redfish/v1"
MODEL = "CS-2400"
TOOL_TIMEOUT = 20.0
PASSWORD = topo.DEFAULT_PASSWORD


# -- a rack in its own process -------------------------------------------------------------------
class RackProcess:
    """``scaleunit up`` as a child process, its output in files (a pipe nobody reads would
    block it)."""

    def __init__(self, topology: Path, state_dir: Path, logs: Path, speed: float) -> None:
        self.topology = topology
        self.state_dir = state_dir
        self.logs = logs
        self.speed = speed
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self, *extra: str) -> None:
        self.runs += 1
        out = self.logs / f"up-{self.runs}.out"
        err = self.logs / f"up-{self.runs}.err"
        argv = [sys.executable, "-m", "emulator.cli", "up", "--topology", str(self.topology)]
        argv += ["--speed", str(self.speed), "--state-dir", str(self.state_dir), *extra]
        with out.open("wb") as o, err.open("wb") as e:
            self.proc = subprocess.Popen(argv, stdout=o, stderr=e, env=dict(os.environ))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "ready in" in out.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(
            f"up did not start (rc {self.proc.poll()}): {err.read_text(errors='replace')[-3000:]}"
        )

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc is not None else 0
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise

    def stderr(self) -> str:
        return (self.logs / f"up-{self.runs}.err").read_text(errors="replace")


@pytest.fixture
def rack_files(tmp_path: Path) -> tuple[topo.Topology, Path]:
    base = next_base_address()
    prefix = base.rsplit(".", 1)[0]
    text = topo.generate(
        4,
        base_address=base,
        ipmi_port=TEST_IPMI_PORT,
        redfish_port=TEST_REDFISH_PORT,
        switch_base_address=prefix + ".240",
        snmp_port=TEST_SNMP_PORT,
        host_base_address=prefix + ".200",
    )
    path = tmp_path / "rack.yaml"
    path.write_text(text)
    return topo.load(path), path


@pytest.fixture
def running(
    tmp_path: Path, rack_files: tuple[topo.Topology, Path], request: pytest.FixtureRequest
) -> Iterator[tuple[topo.Topology, RackProcess]]:
    t, path = rack_files
    speed = getattr(request, "param", 50.0)
    rack = RackProcess(path, tmp_path / "state", tmp_path, speed)
    try:
        yield t, rack
    finally:
        rack.stop()


def ipmi(t: topo.Topology, node: str, *args: str, user: str = "admin", pw: str = PASSWORD) -> str:
    """ipmitool against ``node``; raises CalledProcessError when it fails."""
    address = str(next(n for n in t.nodes if n.name == node).bmc.address)
    argv = [require_tool("ipmitool"), "-I", "lanplus", "-H", address, "-p", str(TEST_IPMI_PORT)]
    argv += ["-U", user, "-P", pw, "-N", "1", "-R", "2", *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, args, proc.stdout, proc.stderr)
    return proc.stdout


def redfish(t: topo.Topology, node: str) -> httpx.Client:
    address = str(next(n for n in t.nodes if n.name == node).bmc.address)
    return httpx.Client(
        base_url=f"https://{address}:{TEST_REDFISH_PORT}",
        auth=("admin", PASSWORD),
        verify=False,
        timeout=5,
    )


def restart_after_kill(rack: RackProcess, enough: bool, too_few: str) -> None:
    """The process died of the SIGKILL, after ``enough`` changes (else fail with ``too_few``); its
    database passes :func:`check_database`; start it again on the same state directory."""
    assert rack.proc is not None and rack.proc.wait(10) == -signal.SIGKILL
    assert enough, too_few
    check_database(rack.state_dir)
    rack.start()


def killed(rack: RackProcess) -> bool:
    """Whether a client's failure is the kill: the process is gone (given 2 s to be reaped)."""
    assert rack.proc is not None
    deadline = time.monotonic() + 2
    while rack.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return rack.proc.poll() is not None


def check_database(state_dir: Path) -> None:
    """After the kill, before any restart: SQLite finds the file sound."""
    db = sqlite3.connect(state_dir / "state.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        keys = {k for (k,) in db.execute("SELECT key FROM state")}
        assert {"node:n01", "node:n02", "node:n03", "node:n04"} <= keys, keys
    finally:
        db.close()


def users(t: topo.Topology, node: str) -> dict[int, str]:
    names = {}
    for line in ipmi(t, node, "user", "list").splitlines()[1:]:
        parts = line.split()
        if parts and parts[0].isdigit():
            names[int(parts[0])] = line[4:21].strip()
    return names


def password_ok(t: topo.Topology, node: str, user_id: int, password: str) -> bool:
    try:
        return "Success" in ipmi(t, node, "user", "test", str(user_id), "16", password)
    except subprocess.CalledProcessError:
        return False


def sel_lines(t: topo.Topology, node: str) -> list[str]:
    return [line.strip() for line in ipmi(t, node, "sel", "list").splitlines() if line.strip()]


# -- (a) a firmware update ------------------------------------------------------------------------
@pytest.mark.parametrize("running", [20.0], indirect=True)
def test_kill_during_a_firmware_update(
    running: tuple[topo.Topology, RackProcess], tmp_path: Path
) -> None:
    t, rack = running
    rack.start()
    # Before the update: a user, SEL records (ours and the boot's), a power-restore policy.
    ipmi(t, "n02", "user", "set", "name", "5", "alice")
    ipmi(t, "n02", "user", "set", "password", "5", "Alice-pw-2026")
    events = tmp_path / "events.txt"
    events.write_text("0x04 0x01 0x30 0x01 0x57 0x00 0x00\n0x04 0x02 0x31 0x01 0x52 0x00 0x00\n")
    ipmi(t, "n02", "sel", "add", str(events))
    ipmi(t, "n02", "chassis", "policy", "always-on")
    ipmi(t, "n02", "chassis", "power", "on")
    deadline = time.monotonic() + 30
    while "OS Boot" not in ipmi(t, "n02", "sel", "list"):  # 106 emulated s: about 5 s
        assert time.monotonic() < deadline
        time.sleep(0.3)
    before = sel_lines(t, "n02")
    assert len(before) >= 5

    with redfish(t, "n02") as c:
        old = c.get(f"{V1}/UpdateService/FirmwareInventory/bios").json()["Version"]
        image = build_image("bios", MODEL, "2.31.0", size=64 * 1024)
        files = {
            "UpdateParameters": (None, json.dumps({}), "application/json"),
            "UpdateFile": ("bios.bin", image, "application/octet-stream"),
        }
        r = c.post(f"{V1}/UpdateService/update-multipart", files=files)
        assert r.status_code == 202, r.text
        task = r.headers["Location"]
        # Kill while it transfers or flashes (a BIOS flash is 180 emulated s: 9 s here).
        seen: list[str] = []
        deadline = time.monotonic() + 30
        for _ in range(300):
            body = c.get(task).json()
            seen.append(body["TaskState"])
            ids = [m["MessageId"].rsplit(".", 1)[-1] for m in body.get("Messages", [])]
            if body["TaskState"] == "Running" and (
                "InstallingOnComponent" in ids or "TransferringToComponent" in ids
            ):
                break
            assert body["TaskState"] in ("New", "Starting", "Running"), body
            assert time.monotonic() < deadline, seen
            time.sleep(0.1)
    rack.kill9()
    check_database(rack.state_dir)

    rack.start()
    with redfish(t, "n02") as c:
        body = c.get(task).json()
        assert body["TaskState"] == "Exception", body
        ids = [m["MessageId"].rsplit(".", 1)[-1] for m in body["Messages"]]
        assert ids[-1] == "TaskAborted" and ids[-2].endswith("Failed"), ids
        assert c.get(f"{V1}/UpdateService/FirmwareInventory/bios").json()["Version"] == old
    # The model says why, in the structured log.
    assert re.search(
        r"node=n02 proto=model event=firmware.update job_id=\S+ component=bios state=exception"
        r".*interrupted",
        rack.stderr(),
    ), rack.stderr()[-3000:]
    # Everything from before is there: the user and password, every SEL record as it was.
    assert users(t, "n02")[5] == "alice"
    assert password_ok(t, "n02", 5, "Alice-pw-2026")
    after = sel_lines(t, "n02")
    assert after[: len(before)] == before, (before, after)
    assert "Power Restore Policy : always-on" in ipmi(t, "n02", "chassis", "status")
    # always-on: the host comes back by itself.
    deadline = time.monotonic() + 20
    while "is on" not in ipmi(t, "n02", "chassis", "power", "status"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert rack.stop() == 0, rack.stderr()[-2000:]


# -- (b) a storm of changes -----------------------------------------------------------------------
POLICIES = {"n01": "always-on", "n02": "previous", "n03": "always-off", "n04": "previous"}


@dataclass
class Ledger:
    """What the clients saw acknowledged; ``maybe`` is the one change in flight at the kill
    (it may or may not have been committed)."""

    acked: dict[tuple[str, ...], str] = field(default_factory=dict)
    maybe: dict[tuple[str, ...], str] = field(default_factory=dict)
    count: int = 0

    def allowed(self, key: tuple[str, ...]) -> set[str]:
        return {v for v in (self.acked.get(key), self.maybe.get(key)) if v is not None}


def storm_step(t: topo.Topology, rng: random.Random, n: int) -> tuple[tuple[str, ...], str, Any]:
    """One change: (ledger key, value, a function that makes it through a real client)."""
    node = rng.choice([s.name for s in t.nodes])
    kind = rng.choice(["name", "password", "bios", "power", "power"])
    if kind in ("name", "password"):  # `ipmitool user set name|password <uid> <value>`
        uid = rng.randint(3, 8)
        if kind == "name":
            value = f"u{n}x{rng.randint(0, 999)}"
        else:
            value = f"Pw{n}-{rng.randint(0, 99999)}"
        return (
            (node, kind, str(uid)),
            value,
            lambda: ipmi(t, node, "user", "set", kind, str(uid), value),
        )
    if kind == "bios":
        tag = f"tag-{n}"

        def patch() -> None:
            with redfish(t, node) as c:
                r = c.patch(
                    f"{V1}/Systems/{node}/Bios/Settings", json={"Attributes": {"AssetTag": tag}}
                )
                r.raise_for_status()

        return (node, "asset-tag"), tag, patch
    state = rng.choice(["on", "off"])
    return (node, "power"), state, lambda: ipmi(t, node, "chassis", "power", state)


def test_kill_during_a_storm_loses_nothing_acknowledged(
    running: tuple[topo.Topology, RackProcess],
) -> None:
    t, rack = running
    seed = int(os.environ.get("SCALEUNIT_STORM_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    rack.start()
    for node, policy in POLICIES.items():
        ipmi(t, node, "chassis", "policy", policy)
    ledger = Ledger()
    for node in POLICIES:
        ipmi(t, node, "chassis", "power", "on")
        ledger.acked[(node, "power")] = "on"

    kill_after = rng.uniform(2.0, 6.0)
    killer = threading.Timer(kill_after, rack.kill9)
    killer.start()
    deadline = time.monotonic() + 30
    try:
        for n in range(400):
            assert time.monotonic() < deadline, "the kill never came"
            key, value, make = storm_step(t, rng, n)
            try:
                make()
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, httpx.HTTPError):
                if killed(rack):
                    ledger.maybe[key] = value  # in flight at the kill
                    break
                raise
            ledger.acked[key] = value
            ledger.count += 1
    finally:
        killer.join(15)
    restart_after_kill(
        rack, ledger.count >= 5, f"seed {seed}: only {ledger.count} changes before the kill"
    )
    failures = []
    for node in POLICIES:
        names = users(t, node)
        with redfish(t, node) as c:
            pending = c.get(f"{V1}/Systems/{node}/Bios/Settings").json()["Attributes"]
            current = c.get(f"{V1}/Systems/{node}/Bios").json()["Attributes"]
        tags = {pending.get("AssetTag"), current.get("AssetTag")}
        # A key only the change in flight touched may hold anything it held before: not checked.
        for key in [k for k in ledger.acked if k[0] == node]:
            allowed = ledger.allowed(key)
            if key[1] == "name" and names.get(int(key[2])) not in allowed:
                failures.append(f"{key}: {names.get(int(key[2]))!r} not in {allowed}")
            if key[1] == "password" and not any(
                password_ok(t, node, int(key[2]), pw) for pw in allowed
            ):
                failures.append(f"{key}: none of {allowed} is the password")
            if key[1] == "asset-tag" and not tags & allowed:
                failures.append(f"{key}: AssetTag {tags} not in {allowed}")
        status = ipmi(t, node, "chassis", "status")
        if f"Power Restore Policy : {POLICIES[node]}" not in status:
            failures.append(f"{node}: policy lost: {status}")
    # The power-restore policy decides which hosts come back on.
    for node, policy in POLICIES.items():
        allowed = ledger.allowed((node, "power"))
        if policy == "always-on":
            expect = {"on"}
        elif policy == "always-off":
            expect = {"off"}
        else:
            expect = allowed
        got = ""
        deadline = time.monotonic() + 15
        for _ in range(100):
            got = "on" if "is on" in ipmi(t, node, "chassis", "power", "status") else "off"
            if got in expect or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if got not in expect:
            failures.append(f"{node} ({policy}, last acknowledged {allowed}): host {got}")
    assert not failures, f"seed {seed}, {ledger.count} changes: " + "; ".join(failures)
    assert rack.stop() == 0, rack.stderr()[-2000:]


# -- (c) a fault storm through the control plane --------------------------------------------------
#: Faults that stay until cleared (a reboot ends by itself, and is closed on restart).
STORM_FAULTS: list[tuple[str, str, list[str]]] = [
    ("psu-one", "node", ["PSU1", "PSU2"]),
    ("fan", "node", ["Fan1", "Fan2", "Fan3", "Fan4", "Fan5", "Fan6"]),
    ("data-disk", "node", ["Disk.1", "Disk.2", "Disk.3", "Disk.4"]),
    ("boot-drive-one", "node", ["BOSS.1", "BOSS.2"]),
    ("nic-port", "node", ["nic1", "nic2"]),
    ("switch-fan", "switch", ["Fan1", "Fan2", "Fan3", "Fan4"]),
    ("switch-psu", "switch", ["PSU1", "PSU2"]),
]


def control(state_dir: Path) -> httpx.Client:
    info = json.loads((state_dir / "control.json").read_text())
    return httpx.Client(
        base_url=info["url"], headers={"Authorization": f"Bearer {info['token']}"}, timeout=5
    )


def test_kill_during_a_fault_storm_keeps_every_acknowledged_fault(
    running: tuple[topo.Topology, RackProcess],
) -> None:
    t, rack = running
    seed = int(os.environ.get("SCALEUNIT_STORM_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    rack.start()
    nodes = [n.name for n in t.nodes]
    switches = ["tor-a", "tor-b"]
    #: fault id -> (kind, device, part, state the client last saw acknowledged)
    acked: dict[str, tuple[str, str, str, str]] = {}
    in_flight: str | None = None  # a clear in flight at the kill: either state is right
    killer = threading.Timer(rng.uniform(1.5, 4.0), rack.kill9)
    killer.start()
    deadline = time.monotonic() + 30
    try:
        with control(rack.state_dir) as api:
            for _ in range(300):
                assert time.monotonic() < deadline, "the kill never came"
                active = [f for f, v in acked.items() if v[3] == "active"]
                try:
                    if active and rng.random() < 0.3:
                        fid = rng.choice(active)
                        in_flight = fid
                        r = api.delete(f"/faults/{fid}")
                        in_flight = None
                        assert r.status_code == 200, r.text
                        acked[fid] = (*acked[fid][:3], r.json()["state"])
                        continue
                    kind, scope, parts = rng.choice(STORM_FAULTS)
                    device = rng.choice(nodes if scope == "node" else switches)
                    part = rng.choice(parts)
                    body: dict[str, Any] = {"kind": kind, "device": device, "part": part}
                    if rng.random() < 0.2:
                        body["in_s"] = 3600.0  # scheduled an hour ahead: still scheduled after
                    r = api.post("/faults", json=body)
                except httpx.HTTPError:
                    if killed(rack):
                        break
                    raise
                if r.status_code in (400, 409) and "already" in r.text:
                    continue  # that part has it already: refused, nothing changed
                assert r.status_code == 201, r.text
                f = r.json()
                acked[f["id"]] = (kind, device, part, f["state"])
    finally:
        killer.join(15)
    restart_after_kill(
        rack, len(acked) >= 3, f"seed {seed}: only {len(acked)} faults before the kill"
    )
    with control(rack.state_dir) as api:
        after = {f["id"]: f for f in api.get("/faults").json()}
        status = api.get("/status").json()
    failures = []
    for fid, (kind, device, part, state) in acked.items():
        got = after.get(fid)
        if got is None:
            failures.append(f"{fid} ({kind} {device} {part}) lost")
            continue
        if (got["kind"], got["device"], got["part"]) != (kind, device, part):
            failures.append(f"{fid}: {got} is not {kind} {device} {part}")
        allowed = {state} | ({"active", "cleared"} if fid == in_flight else set())
        if got["state"] not in allowed:
            failures.append(f"{fid} ({kind} {device} {part}): {got['state']}, acked {state}")
    # The models agree: a node's active faults are in the status the control plane shows.
    for node in status["nodes"]:
        want = {
            f"{kind}:{part}"
            for kind, device, part, state in acked.values()
            if device == node["name"] and state == "active"
        }
        if not want <= set(node["faults"]) and in_flight is None:
            failures.append(f"{node['name']}: faults {node['faults']}, acked active {want}")
    assert not failures, f"seed {seed}, {len(acked)} faults: " + "; ".join(failures)
    assert rack.stop() == 0, rack.stderr()[-2000:]


# -- the CLI's refusals ----------------------------------------------------------------------------
def up_once(topology: Path, state_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``up`` that is expected to refuse to start: its exit code and output."""
    argv = [sys.executable, "-m", "emulator.cli", "up", "--topology", str(topology)]
    argv += ["--state-dir", str(state_dir), *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_up_refuses_a_locked_foreign_or_damaged_state_dir(
    running: tuple[topo.Topology, RackProcess], tmp_path: Path
) -> None:
    t, rack = running
    rack.start()
    ipmi(t, "n01", "user", "set", "name", "5", "bob")
    second = up_once(rack.topology, rack.state_dir)
    assert second.returncode == 1
    assert second.stderr.startswith(f"error: {rack.state_dir}: the state directory is in use")
    assert "Traceback" not in second.stderr
    assert rack.proc is not None and rack.proc.poll() is None  # the first one runs on
    assert rack.stop() == 0

    other = tmp_path / "other.yaml"
    other.write_text(topo.generate(5, base_address=next_base_address(), ipmi_port=TEST_IPMI_PORT))
    refused = up_once(other, rack.state_dir)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"error: {rack.state_dir / 'state.db'}: this state was made for another rack" in (
        refused.stderr
    )
    assert "--fresh" in refused.stderr

    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "state.db").write_bytes(b"not a database at all, " * 400)
    bad = up_once(rack.topology, damaged)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert f"error: {damaged / 'state.db'}: not a usable state database" in bad.stderr
    assert (damaged / "state.db").read_bytes().startswith(b"not a database")  # left alone

    # --fresh starts over: the rack as built, where the old state was.
    rack.start("--fresh")
    assert "(new: the rack as built)" in (tmp_path / f"up-{rack.runs}.out").read_text()
    assert users(t, "n01").get(5, "") == ""
    assert rack.stop() == 0
    rack.start()  # and what --fresh made is kept from then on
    assert users(t, "n01").get(5, "") == ""
    ipmi(t, "n01", "user", "set", "name", "5", "carol")
    assert rack.stop() == 0
    rack.start()
    assert "(the rack as it was left" in (tmp_path / f"up-{rack.runs}.out").read_text()
    assert users(t, "n01")[5] == "carol"
    assert rack.stop() == 0


# -- (d) chaos ------------------------------------------------------------------------------------
def test_kill_during_chaos_keeps_every_fault_seen(
    running: tuple[topo.Topology, RackProcess],
) -> None:
    """Chaos injects (and plans the clears of) faults of every kind at random; whatever the
    control plane showed before the kill is there after it, never gone back in time."""
    _, rack = running
    rng = random.Random()
    rack.start()
    seen: dict[str, dict[str, Any]] = {}
    with control(rack.state_dir) as api:
        r = api.post("/chaos", json={"seed": 7, "mean_interval_s": 20.0, "max_active": 6})
        assert r.status_code == 201, r.text
        killer = threading.Timer(rng.uniform(3.0, 6.0), rack.kill9)
        killer.start()
        try:
            for _ in range(200):
                try:
                    faults = api.get("/faults").json()
                except httpx.HTTPError:
                    if killed(rack):
                        break
                    raise
                seen.update({f["id"]: f for f in faults})
                time.sleep(0.1)
        finally:
            killer.join(15)
    restart_after_kill(rack, len(seen) >= 3, f"chaos made only {len(seen)} faults before the kill")
    with control(rack.state_dir) as api:
        after = {f["id"]: f for f in api.get("/faults").json()}
    later = {"scheduled": {"scheduled", "active", "cleared"}, "active": {"active", "cleared"}}
    failures = []
    for fid, f in seen.items():
        got = after.get(fid)
        if got is None:
            failures.append(f"{fid} {f['kind']} {f['device']} lost")
        elif (got["kind"], got["device"], got["part"]) != (f["kind"], f["device"], f["part"]):
            failures.append(f"{fid}: {got} is not {f}")
        elif got["state"] not in later.get(f["state"], {f["state"]}):
            failures.append(f"{fid} {f['kind']}: {f['state']} before the kill, {got['state']}")
    assert not failures, f"{len(seen)} faults: " + "; ".join(failures)
    assert rack.stop() == 0, rack.stderr()[-2000:]

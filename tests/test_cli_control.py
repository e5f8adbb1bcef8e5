"""The control plane's CLI, as a user runs it: `scaleunit up` in a subprocess on loopback with a
temporary state directory, then `scaleunit status|node|fault|events|replace` as subprocesses that
find it through control.json."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from emulator import topology as topo
from emulator.cli import main
from emulator.control.client import default_state_dir
from tests.conftest import TEST_IPMI_PORT, TEST_REDFISH_PORT, TEST_SNMP_PORT, next_base_address

pytestmark = pytest.mark.timeout(240)

SCALEUNIT = [sys.executable, "-m", "emulator.cli"]


class Rack:
    def __init__(self, proc: subprocess.Popen[str], state: Path, log: Path) -> None:
        self.proc = proc
        self.state = state
        self.log = log

    def run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*SCALEUNIT, *args, "--state-dir", str(self.state)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ok(self, *args: str) -> str:
        out = self.run(*args)
        assert out.returncode == 0, (args, out.stdout, out.stderr)
        return out.stdout

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.ok("status", "--format", "json"))
        return data

    def settled_status(self, within: float = 20.0) -> dict[str, Any]:
        """The status (without the clock) once two looks a few health ticks apart agree."""
        deadline = time.monotonic() + within
        last = self.status()
        last.pop("now")
        while time.monotonic() < deadline:
            time.sleep(0.7)
            now = self.status()
            now.pop("now")
            if now == last:
                return now
            last = now
        pytest.fail(f"the rack did not settle within {within} s")

    def wait(self, check: Any, what: str, within: float = 40) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            s = self.status()
            if check(s):
                return s
            time.sleep(0.2)
        pytest.fail(f"not {what} within {within} s: {self.status()}")


@pytest.fixture
def rack(tmp_path: Path) -> Iterator[Rack]:
    base = next_base_address()
    prefix = base.rsplit(".", 1)[0]
    path = tmp_path / "rack.yaml"
    path.write_text(
        topo.generate(
            4,
            base_address=base,
            ipmi_port=TEST_IPMI_PORT,
            redfish_port=TEST_REDFISH_PORT,
            switch_base_address=prefix + ".240",
            snmp_port=TEST_SNMP_PORT,
            host_base_address=prefix + ".200",
            control_port=0,
        )
    )
    state = tmp_path / "state"
    log = tmp_path / "up.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [*SCALEUNIT, "up", "--topology", str(path), "--state-dir", str(state)]
            + ["--speed", "100"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
    try:
        deadline = time.monotonic() + 60
        while not (state / "control.json").exists():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "no control.json: " + log.read_text()
            time.sleep(0.1)
        yield Rack(proc, state, log)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def boot(rack: Rack) -> None:
    for n in ("n01", "n02", "n03", "n04"):
        assert "start accepted" in rack.ok("node", "start", n)
    rack.wait(lambda s: all(n["host_state"] == "running" for n in s["nodes"]), "booted")
    for n in ("n01", "n02", "n03", "n04"):
        assert f"{n}: resume accepted; {n} is Running" in rack.ok("node", "resume", n)
    rack.wait(lambda s: s["scale_unit"] == "running", "running", 20)


def test_status_drain_twice_faults_and_errors(rack: Rack) -> None:
    table = rack.ok("status")
    assert "scale unit Stopped" in table
    for word in ("n01", "n04", "tor-a", "bmc-switch", "open alerts: none"):
        assert word in table, table
    boot(rack)
    table = rack.ok("status")
    assert "scale unit Running" in table and table.count("Running") >= 9, table

    # drain n01, then n02: the second is accepted and punished, as the real system does.
    out = rack.ok("node", "drain", "n01")
    assert out.strip() == (
        "n01: drain accepted; n01 is Maintenance (power Running); scale unit Running"
    )
    out = rack.ok("node", "drain", "n02")
    assert "scale unit Requires Remediation" in out
    table = rack.ok("status")
    assert "scale unit Requires Remediation  STORAGE AT RISK" in table
    # A refused action: one clear line, exit 1, nothing changed.
    before = rack.settled_status()
    refused = rack.run("node", "drain", "n02")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == "error: n02 is Maintenance: drain needs Running (409)\n"
    after = rack.status()
    after.pop("now")
    assert after == before
    rack.ok("node", "resume", "n02")
    rack.ok("node", "resume", "n01")
    rack.wait(lambda s: s["scale_unit"] == "running", "running again", 20)

    # Faults: inject, list, clear.
    out = rack.ok("fault", "inject", "n03", "psu-one", "PSU1")
    assert out.startswith("f-0001 psu-one n03 PSU1 active since "), out
    assert rack.ok("fault", "list").startswith("f-0001 psu-one n03 PSU1 active")
    listed = json.loads(rack.ok("fault", "list", "--format", "json"))
    assert [(f["id"], f["state"]) for f in listed] == [("f-0001", "active")]
    assert "psu-one:PSU1" in rack.ok("status")
    assert "f-0001 psu-one n03 PSU1 cleared by operator" in rack.ok("fault", "clear", "f-0001")
    assert rack.ok("fault", "list").strip() == "no active or scheduled faults"
    assert "cleared by operator" in rack.ok("fault", "list", "--all")
    later = rack.ok("fault", "inject", "n04", "fan", "Fan2", "--in", "3600")
    assert later.startswith("f-0002 fan n04 Fan2 scheduled at "), later
    bad = rack.run("fault", "inject", "n04", "psu-onne")
    assert bad.returncode == 1 and bad.stderr.startswith("error: unknown fault kind 'psu-onne'")
    assert "psu-both" in rack.ok("fault", "kinds")

    # Other errors: one line, exit 1.
    wrong = rack.run("status", "--token", "not-the-token")
    assert wrong.returncode == 1
    assert wrong.stderr == (
        "error: the control plane refused the token (401): the token is not valid\n"
    )
    unknown = rack.run("node", "stop", "n09")
    assert unknown.returncode == 1 and unknown.stderr == (
        "error: no node named 'n09' in the rack (404)\n"
    )
    usage = rack.run("node", "drain")
    assert usage.returncode == 2 and "Missing argument 'NAME'" in usage.stderr

    # The token is never in the rack's log.
    token = json.loads((rack.state / "control.json").read_text())["token"]
    assert token not in rack.log.read_text()


def _reader(stream: Any, out: queue.Queue[str]) -> None:
    for line in stream:
        out.put(line)


def test_events_follow_shows_a_power_change(rack: Rack) -> None:
    boot(rack)
    follow = subprocess.Popen(
        [*SCALEUNIT, "events", "--follow", "--state-dir", str(rack.state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_reader, args=(follow.stdout, lines), daemon=True).start()
    try:
        time.sleep(1.0)  # subscribed
        assert "n04: stop accepted; n04 is Stopped (power Stopped)" in rack.ok(
            "node", "stop", "n04"
        )
        seen = []
        deadline = time.monotonic() + 20
        found = ""
        while time.monotonic() < deadline and not found:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            seen.append(line)
            if " n04 power.changed " in line:
                found = line
        assert found, "".join(seen) + (follow.stderr.read() if follow.poll() is not None else "")
        assert "old=running new=off cause=fabric-stop" in found
    finally:
        follow.send_signal(signal.SIGINT)
        follow.wait(timeout=10)
    recent = rack.ok("events", "--limit", "200", "--json")
    types = [json.loads(line)["type"] for line in recent.splitlines()]
    assert "fabric.node.stopped" in types and "power.changed" in types


def test_replace_node_after_shutdown(rack: Rack) -> None:
    boot(rack)
    rack.ok("node", "shutdown", "n02")
    rack.wait(lambda s: s["nodes"][1]["host_state"] == "off", "n02 off", 20)
    out = rack.ok("replace", "node", "n02")
    assert "n02: node replaced; serial " in out and "root / calvin" in out, out
    assert "factory firmware: bios 2.26.0, bmc 7.00.00.183" in out
    refused = rack.run("replace", "node", "n01")
    assert refused.returncode == 1 and "n01 is powered on" in refused.stderr
    switch = rack.ok("replace", "switch", "tor-b", "--serial", "TORB0099")
    assert switch.strip() == "tor-b: switch replaced; serial TORB0099"
    # A wrong delivery: another CPU model, shown as it arrives; a bad model changes nothing.
    rack.ok("node", "shutdown", "n03")
    rack.wait(lambda s: s["nodes"][2]["host_state"] == "off", "n03 off", 20)
    serial = rack.status()["nodes"][2]["serial"]
    bad = rack.run("replace", "node", "n03", "--cpu-model", "Xeon\u0007")
    assert bad.returncode != 0 and "cpu_model" in bad.stderr, bad.stderr
    assert rack.status()["nodes"][2]["serial"] == serial
    wrong = rack.ok("replace", "node", "n03", "--cpu-model", "AMD EPYC 7452", "--format", "json")
    assert json.loads(wrong)["cpu_model"] == "AMD EPYC 7452"


def test_without_a_rack_every_command_says_so(tmp_path: Path) -> None:
    runner = CliRunner()
    for args in (["status"], ["fault", "list"], ["node", "drain", "n01"], ["events"]):
        result = runner.invoke(main, [*args, "--state-dir", str(tmp_path)])
        assert result.exit_code == 1, (args, result.output)
        assert result.output.startswith(
            f"error: no rack is running with state directory {tmp_path} (no control.json)"
        )
    # A stale control.json (a rack killed with -9): the URL does not answer.
    (tmp_path / "control.json").write_text(
        json.dumps({"url": "http://127.0.0.1:9", "token": "t", "pid": 1})
    )
    result = runner.invoke(main, ["status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith(
        "error: cannot reach the control plane at http://127.0.0.1:9 (ConnectError)"
    )


def test_the_default_state_dir_is_ups() -> None:
    from emulator.runtime import default_state_dir as ups

    assert default_state_dir() == ups()


def test_endpoints_list_the_control_plane() -> None:
    rows = json.loads(CliRunner().invoke(main, ["endpoints", "--format", "json"]).output)
    control = [r for r in rows if r["protocol"] == "control"]
    assert control == [
        {
            "device": "control",
            "protocol": "control",
            "address": "127.0.0.1",
            "port": 8470,
            "username": "",
            "password": "",
            "scheme": "http",
            "note": "bearer token: see control.json in the state directory",
        }
    ]

"""Lab mode graded with a scripted trainee: ``scaleunit lab scenarios/node-repair.yaml`` in a
process of its own (the real CLI), and a "person" in another that uses ipmitool, curl and the
scaleunit CLI as the documented procedure says. The lab sets the stage (PSU1 of n02 fails) and
then only watches: steps ticked as the rack shows them, rule breaks flagged at once, a grade.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.support.ui import WebDriverWait

from emulator import topology
from emulator.controller import runbook as rb
from tests.browser_helpers import attr as _attr
from tests.browser_helpers import browser_fixture  # noqa: F401  (the browser fixture)
from tests.conftest import TEST_IPMI_PORT, TEST_REDFISH_PORT, next_base_address, require_tool

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "scenarios" / "node-repair.yaml"
SPEED = 100.0
#: Bounds on every wait: the rack's start, a step to show, the whole lab.
START_S = 120.0
STEP_S = 60.0


class LabProcess:
    """``scaleunit lab`` running in a subprocess on a loopback block of its own."""

    def __init__(self, tmp: Path, *, fresh: bool = True, state_dir: Path | None = None) -> None:
        base = next_base_address()
        prefix = base.rsplit(".", 1)[0]
        self.topology_path = tmp / "rack.yaml"
        if not self.topology_path.exists():
            self.topology_path.write_text(
                topology.generate(
                    4,
                    base_address=base,
                    ipmi_port=TEST_IPMI_PORT,
                    redfish_port=TEST_REDFISH_PORT,
                    switch_base_address=prefix + ".240",
                    host_base_address=prefix + ".200",
                    control_address="127.0.0.1",
                    control_port=0,
                ),
                encoding="utf-8",
            )
        self.state_dir = state_dir or tmp / "state"
        self.report = tmp / "report"
        self.log = tmp / f"lab-{len(list(tmp.glob('lab-*.log')))}.log"
        args = [
            sys.executable, "-m", "emulator.cli", "lab", str(SCENARIO),
            "--topology", str(self.topology_path), "--speed", str(SPEED),
            "--state-dir", str(self.state_dir), "--report", str(self.report),
        ]  # fmt: skip
        if fresh:
            args.append("--fresh")
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self._out = self.log.open("ab")
        self.proc = subprocess.Popen(args, stdout=self._out, stderr=subprocess.STDOUT, env=env)
        self._wait_for_stage()
        self.endpoints = {
            (e["device"], e["protocol"]): e
            for e in json.loads(
                self.cli("endpoints", "--topology", str(self.topology_path), "--format", "json")
            )
        }
        cfg = json.loads((self.state_dir / "control.json").read_text())
        self.url, self.token = cfg["url"], cfg["token"]

    def _wait_for_stage(self) -> None:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"scaleunit lab exited: {self.log.read_text()}")
            if "the stage is set" in self.log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise AssertionError(f"the lab never set its stage: {self.log.read_text()}")

    def cli(self, *args: str, check: bool = True, find: bool = False) -> str:
        """``scaleunit ARGS --state-dir DIR``; ``find``: without it (the registry of running
        racks finds the only one)."""
        env = dict(os.environ, PYTHONPATH=str(REPO))
        bare = find or args[0] in ("endpoints",)
        control = () if bare else ("--state-dir", str(self.state_dir))
        out = subprocess.run(
            [sys.executable, "-m", "emulator.cli", *args, *control],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        if check and out.returncode != 0:
            raise AssertionError(f"scaleunit {' '.join(args)}: {out.stdout}{out.stderr}")
        return out.stdout + out.stderr

    def lab(self) -> dict[str, Any]:
        return json.loads(self.cli("lab", "status", "--format", "json"))

    def step(self, title: str) -> dict[str, Any]:
        return next(s for s in self.lab()["steps"] if s["title"] == title)

    def wait_step(self, title: str) -> dict[str, Any]:
        deadline = time.monotonic() + STEP_S
        while time.monotonic() < deadline:
            step = self.step(title)
            if step["done"]:
                return step
            time.sleep(0.3)
        raise AssertionError(f"step {title!r} never done: {self.lab()}")

    # -- what a person types ------------------------------------------------------------------
    def ipmitool(self, node: str, *command: str) -> str:
        e = self.endpoints[(node, "ipmi")]
        out = subprocess.run(
            [require_tool("ipmitool"), "-I", "lanplus", "-H", e["address"], "-p", str(e["port"]),
             "-U", e["username"], "-P", e["password"], "-N", "1", "-R", "3", *command],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        return out.stdout

    def curl(self, node: str, path: str) -> Any:
        e = self.endpoints[(node, "redfish")]
        out = subprocess.run(
            [require_tool("curl"), "-sk", "-u", f"{e['username']}:{e['password']}",
             f"https://{e['address']}:{e['port']}{path}"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def wait_power(self, node: str, state: str) -> None:
        deadline = time.monotonic() + STEP_S
        while time.monotonic() < deadline:
            if f"Chassis Power is {state}" in self.ipmitool(node, "chassis", "power", "status"):
                return
            time.sleep(0.3)
        raise AssertionError(f"{node} never powered {state}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()


@pytest.fixture
def start_lab(tmp_path: Path) -> Iterator[Callable[..., LabProcess]]:
    labs: list[LabProcess] = []

    def start(**kw: Any) -> LabProcess:
        lab = LabProcess(tmp_path, **kw)
        labs.append(lab)
        return lab

    yield start
    for lab in labs:
        lab.stop()


def _repair_by_hand(lab: LabProcess) -> None:
    """The documented node repair, as a person does it with real clients."""
    # Triage: the BMC's SEL and Redfish say what failed.
    sel = lab.ipmitool("n02", "sel", "elist")
    assert "Power Supply" in sel
    lab.wait_step("Redfish shows the system unhealthy")
    status = lab.curl("n02", "/redfish/v1/Systems/n02")["Status"]
    assert status["Health"] in ("Warning", "Critical"), status
    # Restoration: shut down, swap the part, firmware at the baseline, start, resume.
    lab.cli("node", "shutdown", "n02")
    lab.wait_power("n02", "off")
    lab.wait_step("the node is off")
    lab.cli("replace", "part", "n02", "psu", "PSU1")
    inventory = lab.curl("n02", "/redfish/v1/UpdateService/FirmwareInventory")
    assert inventory["Members"]
    lab.wait_step("bring its firmware to the baseline")
    lab.cli("node", "start", "n02")
    lab.wait_power("n02", "on")
    lab.wait_step("the host runs")
    lab.cli("node", "resume", "n02")


def test_a_correct_node_repair_gets_full_marks(start_lab: Callable[..., LabProcess]) -> None:
    lab = start_lab()
    state = lab.lab()
    assert state["state"] == "running"
    assert [s["done"] for s in state["steps"]][:1] == [False] or state["steps"][0]["done"]
    _repair_by_hand(lab)
    lab.wait_step("the node's alerts are closed")
    out = json.loads(lab.cli("lab", "finish", "--format", "json"))
    grade = out["grade"]
    book = rb.load(SCENARIO)
    trainee_steps = sum(
        1 for phase in book.method for step in phase.steps if step.kind != "fault-inject"
    )
    assert grade["steps_done"] == grade["steps_total"] == trainee_steps, grade
    assert grade["out_of_order"] == [] and grade["rule_breaks"] == [] and grade["hints_used"] == 0
    assert all(p["rto_met"] for p in grade["phases"]), grade["phases"]
    assert grade["score"] == 100, grade
    # The same reports as scaleunit run: JSON journal, JUnit (one case per step), HTML.
    html = (lab.report / "report.html").read_text()
    assert "lab: Node repair" in html and "Grade: 100 / 100" in html
    junit = (lab.report / "junit.xml").read_text()
    assert junit.count("<testcase") == trainee_steps and "<failure" not in junit
    journal = json.loads((lab.report / "journal.json").read_text())
    assert journal["grade"]["score"] == 100


def test_draining_a_second_node_is_flagged_at_once(start_lab: Callable[..., LabProcess]) -> None:
    lab = start_lab()
    lab.cli("node", "drain", "n02")
    lab.cli("node", "drain", "n03")
    # Flagged the moment it happens (on the event, not at the end).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not lab.lab()["rule_breaks"]:
        time.sleep(0.2)
    breaks = lab.lab()["rule_breaks"]
    assert breaks and breaks[0]["rule"] == "max-out-of-service", breaks
    assert "n02" in breaks[0]["detail"] and "n03" in breaks[0]["detail"]
    assert "Requires Remediation" in breaks[0]["consequence"]
    events = lab.cli("events", "--json")
    assert '"lab.rule"' in events
    out = lab.cli("lab", "finish")
    assert "rules broken 2" in out or "rules broken 1" in out, out
    grade = json.loads(lab.cli("lab", "status", "--format", "json"))["grade"]
    assert grade["score"] < 100 and any(
        b["rule"] == "max-out-of-service" for b in grade["rule_breaks"]
    )


def test_hints_name_the_next_step_and_cost_points(start_lab: Callable[..., LabProcess]) -> None:
    lab = start_lab()
    lab.wait_step("Redfish shows the system unhealthy")
    first = lab.cli("lab", "hint", find=True)  # the only running rack: no --state-dir
    assert "scaleunit node shutdown n02" in first
    lab.cli("node", "shutdown", "n02")
    lab.wait_step("the node is off")
    second = lab.cli("lab", "hint")
    assert "scaleunit replace part n02 psu PSU1" in second
    status = lab.lab()
    assert status["hints_used"] == 2
    grade = json.loads(lab.cli("lab", "finish", "--format", "json"))["grade"]
    assert grade["hints_used"] == 2 and grade["parts"]["hints"] == -4.0
    assert grade["missing"], "the repair was not finished"


def test_a_lab_survives_a_restart_of_the_rack(
    start_lab: Callable[..., LabProcess], tmp_path: Path
) -> None:
    lab = start_lab()
    lab.cli("node", "shutdown", "n02")
    lab.wait_step("the node is off")
    done_before = [s["title"] for s in lab.lab()["steps"] if s["done"]]
    lab.stop(signal.SIGKILL)  # no clean shutdown: what the state store committed is all
    again = start_lab(fresh=False, state_dir=lab.state_dir)
    state = again.lab()
    assert state["state"] == "running"
    assert [s["title"] for s in state["steps"] if s["done"]] == done_before
    again.cli("replace", "part", "n02", "psu", "PSU1")
    again.wait_step("swap the part")


def test_bad_lab_input_is_refused(start_lab: Callable[..., LabProcess], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\nmethod:\n  - phase: initial triage\n    rto: 5m\n    steps:\n"
                   "      - {kind: node-acton, node: n01}\n")  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "emulator.cli", "lab", str(bad)],
        capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip
    assert out.returncode == 2
    assert "bad.yaml:6" in out.stderr and "node-acton" in out.stderr
    # Asking a rack that runs no lab: a clear 404, not a crash.
    from emulator.harness import RackThread

    with RackThread(topology.load_text(topology.generate(4, base_address=next_base_address(),
                    ipmi_port=TEST_IPMI_PORT, redfish_port=TEST_REDFISH_PORT,
                    control_address="127.0.0.1", control_port=0))) as rack:  # fmt: skip
        r = httpx.get(
            rack.control_url + "/labs/current",
            headers={"Authorization": f"Bearer {rack.token}"},
            timeout=10,
        )
        assert r.status_code == 404 and "no lab" in r.json()["error"]


def test_the_rack_view_ticks_the_step_the_trainee_does(
    start_lab: Callable[..., LabProcess], browser: webdriver.Chrome
) -> None:
    lab = start_lab()
    browser.delete_all_cookies()
    browser.get(f"{lab.url}/ui?token={lab.token}")
    WebDriverWait(browser, 20).until(lambda d: d.find_elements("id", "lab-steps"))
    step = "lab-step-m1_0"  # "shut the node down"
    assert _attr(browser, step, "data-done") == "false"
    lab.cli("node", "shutdown", "n02")
    WebDriverWait(browser, 20).until(
        lambda d: _attr(d, step, "data-done") == "true",
        message="the lab panel never ticked the shutdown",
    )
    assert "shut the node down" in (_attr(browser, step, "textContent") or "")
    # The timeline shows the lab's own events beside the rack's.
    assert browser.find_elements("css selector", "#timeline li[data-type='lab.step']")
    lab.cli("node", "drain", "n03")  # a second node out: the rule break shows at once
    WebDriverWait(browser, 20).until(
        lambda d: d.find_elements("css selector", "#lab .rule-break"),
        message="the rule break never showed",
    )


def test_a_repair_before_the_firmware_baseline_is_a_rule_break(
    start_lab: Callable[..., LabProcess],
) -> None:
    lab = start_lab()
    lab.cli("fault", "inject", "n02", "firmware-drift", "bios")  # the part came with old BIOS
    lab.cli("node", "shutdown", "n02")
    lab.wait_power("n02", "off")
    bmc = lab.endpoints[("n02", "ipmi")]["address"]
    out = lab.cli("node", "repair", "n02", "--bmc-address", bmc, check=False)
    assert "not at the baseline" in out
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not lab.lab()["rule_breaks"]:
        time.sleep(0.2)
    breaks = lab.lab()["rule_breaks"]
    assert [b["rule"] for b in breaks] == ["repair-before-baseline"], breaks
    assert "bios" in breaks[0]["detail"] and "deploying the OS" in breaks[0]["consequence"]


def test_a_wrong_switch_configuration_loaded_is_a_rule_break(
    start_lab: Callable[..., LabProcess], tmp_path: Path
) -> None:
    import functools
    import http.server
    import threading

    lab = start_lab()
    ssh = lab.endpoints[("tor-b", "ssh")]
    sshpass, client = require_tool("sshpass"), require_tool("ssh")
    base = [sshpass, "-p", ssh["password"], client, "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-p", str(ssh["port"]),
            f"{ssh['username']}@{ssh['address']}"]  # fmt: skip
    backup = subprocess.run(
        [*base, "show running-configuration"], capture_output=True, text=True, timeout=60
    ).stdout
    assert "hostname tor-b" in backup
    # The wrong backup: another switch's location (an operator picked the wrong file).
    wrong = backup.replace("hostname tor-b", 'hostname tor-b\nsnmp-server location "row 9"')
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "tor-b.cfg").write_text(wrong)
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www")
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/tor-b.cfg"
        out = subprocess.run(
            [*base, f"copy {url} running-configuration"], capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not lab.lab()["rule_breaks"]:
            time.sleep(0.3)
    finally:
        server.shutdown()
    breaks = lab.lab()["rule_breaks"]
    assert [b["rule"] for b in breaks] == ["switch-config-mismatch"], breaks
    assert "tor-b" in breaks[0]["detail"] and "row 9" in breaks[0]["detail"]

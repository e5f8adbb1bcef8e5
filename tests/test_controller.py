"""The controller (issue 12): runbooks, the engine and the procedure library, run on the virtual
clock against an embedded rack's real protocol servers (control plane, Redfish, IPMI).

Each run starts its own rack on a loopback block of its own; the virtual clock moves only while
the controller waits, so hours of emulated procedure take seconds.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from junitparser import JUnitXml

from emulator.cli import main
from emulator.controller import cli as ccli
from emulator.controller import images
from emulator.controller import runbook as rb
from nodes import firmware as fw

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
CONTROLLER = ROOT / "emulator" / "controller"

pytestmark = pytest.mark.timeout(300)


# -- the controller is a client ---------------------------------------------------------------
def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_no_controller_module_imports_the_rack_model() -> None:
    forbidden = ("nodes", "switches", "emulator.rack")
    offenders = {
        f"{path.name}: {name}"
        for path in CONTROLLER.glob("*.py")
        for name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    }
    assert offenders == set()
    # ...and importing the controller (all but the launcher) loads none of them.
    code = (
        "import sys, emulator.controller.engine, emulator.controller.cli, "
        "emulator.controller.report\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('nodes', 'switches') "
        "or m == 'emulator.rack'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_checker_sees_a_model_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from nodes.node import Node\nimport switches.model\n")
    assert _imports(bad) == {"nodes.node", "switches.model"}


def test_images_are_the_bmcs_format() -> None:
    mine = images.pack_image("bios", "CS-2400", "2.27.0")
    assert mine == fw.build_image("bios", "CS-2400", "2.27.0", size=4096)
    header = fw.read_header(mine)
    assert (header.component, header.model, header.version) == ("bios", "CS-2400", "2.27.0")
    assert images.corrupt(mine) == fw.corrupt_image(mine)


# -- runbooks ---------------------------------------------------------------------------------
def test_every_scenario_loads() -> None:
    files = sorted(SCENARIOS.glob("*.yaml"))
    assert {f.stem for f in files} >= {"node-repair", "firmware-leveling"}
    for f in files:
        book = rb.load(f)
        assert book.method and all(p.rto > 0 for p in book.method)


GOOD_STEP = "      - {kind: wait, for: 5m}\n"


def _book(steps: str) -> str:
    return f"title: t\nmethod:\n  - phase: initial triage\n    rto: 1h\n    steps:\n{steps}"


@pytest.mark.parametrize(
    ("steps", "line", "key", "message"),
    [
        (
            GOOD_STEP + "      - kind: node-actoin\n        node: n01\n",
            7,
            "method.0.steps.1.kind",
            "unknown step kind 'node-actoin' (did you mean 'node-action'?)",
        ),
        (
            GOOD_STEP + "      - kind: wait\n        for: 5m\n        colour: red\n",
            9,
            "method.0.steps.1.colour",
            "unknown key",
        ),
        (
            "      - kind: node-action\n        node: n01\n",
            6,
            "method.0.steps.0.action",
            "required key is missing",
        ),
        (
            GOOD_STEP + "      - kind: status\n        expect: {range: [3, 1]}\n",
            8,
            "method.0.steps.1.expect",
            "the low bound is above the high one",
        ),
        (
            "      - kind: status\n        expect: {regex: '(('}\n",
            7,
            "method.0.steps.0.expect.regex",
            "not a regular expression",
        ),
        (
            "      - kind: status\n        expect: {jsonpath: '$.[[', value: 1}\n",
            7,
            "method.0.steps.0.expect.jsonpath",
            "not a JSONPath expression",
        ),
        (
            "      - kind: status\n        fallback:\n          - kind: wait\n"
            "            rollback:\n              - {kind: wait, forr: 3}\n",
            10,
            "method.0.steps.0.fallback.0.rollback.0.forr",
            "unknown key",
        ),
        (
            "      - kind: wait\n        for: soon\n",
            7,
            "method.0.steps.0.for",
            "is not a duration",
        ),
    ],
)
def test_bad_runbooks_name_file_line_and_key(
    tmp_path: Path, steps: str, line: int, key: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(_book(steps))
    with pytest.raises(rb.RunbookError) as err:
        rb.load(path)
    text = str(err.value)
    assert f"{path}:{line}: {key}: " in text, text
    assert message in text


def test_variables_substitute_whole_values_and_text() -> None:
    v = {"node": "n02", "plan": {"update": ["n01", "n03"]}}
    assert rb.substitute("${plan.update}", v) == ["n01", "n03"]
    assert rb.substitute("/Systems/${node}/x", v) == "/Systems/n02/x"
    with pytest.raises(rb.UnknownVariable, match=r"unknown variable \$\{nod\}"):
        rb.substitute("${nod}", v)
    assert rb.parse_var("count=3") == ("count", 3)
    assert rb.parse_var("drift=[bios]") == ("drift", ["bios"])


def test_dry_run_prints_the_plan_and_touches_nothing() -> None:
    result = CliRunner().invoke(
        main, ["run", str(SCENARIOS / "node-repair.yaml"), "--dry-run", "--var", "node=n03"]
    )
    assert result.exit_code == 0, result.output
    assert "dry run" in result.output
    assert "var node = 'n03'" in result.output
    assert "hardware restoration (RTO 2h00m00s)" in result.output
    assert "shut the node down [node-action]" in result.output


# -- running the library on the virtual clock -------------------------------------------------
def run(scenario: str, tmp_path: Path, **kw: Any) -> dict[str, Any]:
    out = tmp_path / "report"
    journal = ccli.execute(SCENARIOS / f"{scenario}.yaml", report_dir=out, **kw)
    on_disk = json.loads((out / "journal.json").read_text())
    assert on_disk["status"] == journal["status"]
    return journal


def failed_step(journal: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in journal["steps"] if s["status"] == "failed")


def test_node_repair_passes_with_one_junit_case_per_step(tmp_path: Path) -> None:
    journal = run("node-repair", tmp_path)
    assert journal["status"] == "completed", journal["failure"]
    assert [p["phase"] for p in journal["phases"]] == list(rb.PHASES)
    assert all(p["rto_met"] for p in journal["phases"])
    xml = JUnitXml.fromfile(str(tmp_path / "report" / "junit.xml"))
    suites = list(xml)
    assert len(suites) == 1 and suites[0].name == journal["title"]
    cases = list(suites[0])
    assert len(cases) == len(journal["steps"])
    assert all(c.is_passed for c in cases)
    page = (tmp_path / "report" / "report.html").read_text()
    assert "<svg" in page and "hardware restoration" in page and "<script" not in page
    # The rack's own events during the run are on the report's timeline.
    types = {e["type"] for e in journal["events"]}
    assert {"fault.injected", "power.changed", "fabric.alert.raised"} <= types
    assert "fault.injected" in page


def test_node_repair_of_a_dimm_needs_the_host_off(tmp_path: Path) -> None:
    journal = run(
        "node-repair",
        tmp_path,
        variables={"part": "dimm", "fault": "dimm-ue", "target": "A1", "node": "n03"},
    )
    assert journal["status"] == "completed", journal["failure"]
    # The hung OS does not shut down: the documented fallback (Stop) turns it off.
    off = next(s for s in journal["steps"] if s["name"] == "the node is off")
    assert off["status"] == "recovered" and "last seen: 'running'" in off["reason"]
    after = next(s for s in journal["steps"] if s["name"] == "the node is off after Stop")
    assert after["status"] == "succeeded" and after["output"]["host_state"] == "off"


def test_firmware_leveling_levels_every_node_one_at_a_time(tmp_path: Path) -> None:
    journal = run("firmware-leveling", tmp_path)
    assert journal["status"] == "completed", journal["failure"]
    tor_os = [s["output"] for s in journal["steps"] if s["kind"] == "snmp-get"]
    assert tor_os[:2] == ["10.6.1.0", "10.6.1.0"]  # the drifted ToRs' OS, read by SNMP
    plan = next(s for s in journal["steps"] if s["name"] == "read every inventory and plan")
    assert plan["output"]["update"] == ["n01", "n02", "n03", "n04"]
    assert plan["output"]["switch_update"] == ["tor-a", "tor-b"]
    assert plan["output"]["drift"]["tor-a"] == {"switch-os": ["10.6.1.0", "10.6.1.1"]}
    assert plan["output"]["drift"]["n01"]["bios"] == ["2.26.0", "2.27.0"]
    levels = [s for s in journal["steps"] if s["name"] == "update the drifted components"]
    assert [s["output"] for s in levels] == [{"bios": "2.27.0", "nic": "14.32.21.04"}] * 4
    # Never two nodes down: each node's drain comes after the previous one is back.
    order = [(s["name"], s["id"].split("/")[2]) for s in journal["steps"] if s["id"][:3] == "m1/"]
    drains = [i for i, (name, _) in enumerate(order) if name == "drain"]
    backs = [i for i, (name, _) in enumerate(order) if name.startswith("back in service")]
    assert all(b < d for b, d in zip(backs, drains[1:], strict=False))
    repaired = [i for i, (name, _) in enumerate(order) if name.endswith("storage repaired")]
    assert len(repaired) == 4 and all(r < d for r, d in zip(repaired, drains[1:], strict=False))
    # A node's leveling follows the documented durations: the flash, the reboots, then the
    # storage repair (30 min after a node returns): about 1 h emulated per node.
    waits = [
        s["ended_at"] - s["started_at"]
        for s in journal["steps"]
        if s["name"] == "back in service, storage repaired"
    ]
    assert all(25 * 60 <= w <= 35 * 60 for w in waits), waits
    level = [
        s["ended_at"] - s["started_at"]
        for s in journal["steps"]
        if s["name"] == "update the drifted components"
    ]
    assert all(20 * 60 <= t <= 45 * 60 for t in level), level
    # Then both ToRs, ToR-1 completely before ToR-2, after the last node.
    tors = [s["id"] for s in journal["steps"] if s["id"].startswith("m1/1/")]
    last_a = max(i for i, sid in enumerate(tors) if "/tor-a/" in sid)
    assert last_a < min(i for i, sid in enumerate(tors) if "/tor-b/" in sid)
    assert max(i for i, s in enumerate(journal["steps"]) if s["name"] == "drain") < min(
        i for i, s in enumerate(journal["steps"]) if s["id"].startswith("m1/1/")
    )
    for tor in ("tor-a", "tor-b"):
        read = [
            s
            for s in journal["steps"]
            if s["name"] == f"{tor}: show version reads back the image's version"
        ]
        assert len(read) == 1 and "OS Version: 10.6.1.1\n" in read[0]["output"][0]
    done = next(s for s in journal["steps"] if s["name"] == "every ToR at the baseline")
    assert done["output"]["switch_noop"] == ["tor-a", "tor-b"]


def test_a_corrupt_switch_image_stops_leveling_at_tor_1(tmp_path: Path) -> None:
    journal = run("firmware-leveling", tmp_path, variables={"drift": [], "switch_corrupt": True})
    assert journal["status"] == "failed"
    step = failed_step(journal)
    assert step["name"] == "tor-a: install the image to the standby partition"
    assert "corrupt image" in step["reason"]
    assert journal["failure"]["where"].startswith("hardware restoration")
    assert not any("/tor-b/" in s["id"] for s in journal["steps"] if s["id"].startswith("m1/"))
    rollback = next(s for s in journal["steps"] if s["phase"].startswith("rollback"))
    assert (
        rollback["name"] == "tor-a boots the image it runs (nothing was staged for the next boot)"
    )
    assert rollback["status"] == "succeeded" and "[A] active" in rollback["output"][1]


def test_an_image_failing_verification_stops_leveling_with_the_reason(tmp_path: Path) -> None:
    journal = run("firmware-leveling", tmp_path, variables={"corrupt": ["nic"]})
    assert journal["status"] == "failed"
    step = failed_step(journal)
    assert step["name"] == "update the drifted components"
    assert "n01: updating nic to 14.32.21.04 ended Exception" in step["reason"]
    assert "verif" in step["reason"].lower()
    # Stopped at the first failure: no other node was touched, the rollback resumed n01.
    assert not any(s["id"].startswith("m1/0/n02/") for s in journal["steps"])
    rollback = next(s for s in journal["steps"] if s["phase"].startswith("rollback"))
    assert rollback["name"] == "resume after a failed update"
    assert rollback["status"] == "succeeded", rollback
    junit = (tmp_path / "report" / "junit.xml").read_text()
    assert "ended Exception" in junit


def test_a_resumed_run_continues_where_it_stopped(tmp_path: Path) -> None:
    """On the same rack, without rollbacks: the node stays drained, the run resumes at the
    update that failed, now with the good image, and finishes."""
    import asyncio

    from emulator.controller import embed, engine

    book = rb.load(SCENARIOS / "firmware-leveling.yaml")
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    kw: dict[str, Any] = {"strategy": "never", "source": "t", "progress": None}
    with embed.embedded(embed.loopback_topology(4)) as (inventory, clock, _):
        failed = asyncio.run(
            ccli._drive(
                book,
                inventory,
                clock,
                variables={"corrupt": ["bios"]},
                journal=first,
                resume=None,
                **kw,
            )
        )
        assert failed["status"] == "failed"
        resumed = asyncio.run(
            ccli._drive(
                book,
                inventory,
                clock,
                variables={"corrupt": []},
                journal=second,
                resume=engine.load_journal(first),
                **kw,
            )
        )
    assert resumed["status"] == "completed", resumed["failure"]
    skipped = [s for s in resumed["steps"] if s["status"] == "skipped"]
    assert {s["name"] for s in skipped} >= {"list the nodes", "drift", "drain"}
    where = next(s for s in failed["steps"] if s["status"] == "failed")["id"]
    assert resumed["steps"][len(skipped)]["id"] == where
    assert resumed["resumed_from"] == str(first)


def test_a_second_node_taken_down_mid_update_trips_the_safeguard(tmp_path: Path) -> None:
    variant = tmp_path / "variant.yaml"
    text = (SCENARIOS / "firmware-leveling.yaml").read_text()
    anchor = "          - name: update the drifted components\n"
    insert = (
        "          - {name: someone else pulls n04's power, kind: fault-inject, device: n04,"
        " fault: psu-both}\n"
    )
    variant.write_text(text.replace(anchor, insert + anchor, 1))
    journal = ccli.execute(variant, report_dir=tmp_path / "report")
    assert journal["status"] == "interrupted"
    assert "safeguard max-out-of-service breached" in journal["failure"]["reason"]
    assert "n01" in journal["failure"]["reason"] and "n04" in journal["failure"]["reason"]


def test_a_silent_bmc_fails_the_repair_naming_the_timeout(tmp_path: Path) -> None:
    variant = tmp_path / "silent.yaml"
    text = (SCENARIOS / "node-repair.yaml").read_text()
    anchor = "      - name: swap the part\n"
    insert = (
        "      - {name: the BMC hangs, kind: fault-inject, device: '${node}', fault: bmc-hang}\n"
    )
    variant.write_text(text.replace(anchor, insert + anchor, 1))
    journal = ccli.execute(variant, report_dir=tmp_path / "report")
    assert journal["status"] == "failed"
    step = failed_step(journal)
    assert step["name"] == "bring its firmware to the baseline"
    assert "n02: the BMC did not answer Redfish" in step["reason"]
    assert "(timeout)" in step["reason"]


def test_scaleunit_run_exits_non_zero_when_the_scenario_fails(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "emulator.cli", "run", str(SCENARIOS / "firmware-leveling.yaml")]
        + ["--virtual", "--report", str(out), "--var", "corrupt=[bios]"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=240,
    )
    assert done.returncode == 1, done.stderr
    assert "Firmware leveling: failed" in done.stderr
    assert (out / "report.html").exists() and (out / "junit.xml").exists()


def test_node_replace_sets_credentials_levels_firmware_and_repairs(tmp_path: Path) -> None:
    journal = run("node-replace", tmp_path)
    assert journal["status"] == "completed", journal["failure"]
    steps = {s["name"]: s for s in journal["steps"]}
    new = steps["the replacement node is racked"]["output"]
    assert (new["username"], new["password"]) == ("root", "calvin")
    assert new["firmware"]["bios"] == "2.26.0"
    leveled = steps["level every component to the baseline"]["output"]
    assert leveled == {
        "bios": "2.27.0",
        "bmc": "7.00.00.184",
        "nic": "14.32.21.04",
        "disk": "16.17.01.00",
        "cpld": "1.1.4",
        "boot_drive": "2.5.13.3024",
    }
    repair = steps["the repair ends (about 3 h)"]
    assert 2.5 * 3600 <= repair["ended_at"] - steps["repair the node"]["started_at"] <= 4 * 3600
    # The password never reaches the journal.
    assert "scaleunit-lab1" not in (tmp_path / "report" / "journal.json").read_text()


def test_a_replacement_with_the_wrong_cpu_fails_naming_the_mismatch(tmp_path: Path) -> None:
    wrong = "AMD EPYC 7452 32-Core Processor"
    journal = run("node-replace", tmp_path, variables={"cpu_model": wrong})
    assert journal["status"] == "failed"
    racked = next(s for s in journal["steps"] if s["name"] == "the replacement node is racked")
    assert racked["output"]["cpu_model"] == wrong
    step = failed_step(journal)
    assert step["name"] == "the same processor as its peers"
    assert step["reason"].startswith("CPU mismatch: n03's processor model (the replacement)")
    assert "Intel(R) Xeon(R) Gold 6248" in step["reason"] and wrong in str(step["evidence"])
    assert journal["failure"]["where"] == "hardware restoration: the same processor as its peers"
    # Nothing was levelled onto the wrong node; the report names the mismatch.
    assert not any(s["name"] == "level every component to the baseline" for s in journal["steps"])
    for page in ("report.html", "junit.xml"):
        assert "CPU mismatch" in (tmp_path / "report" / page).read_text()


def test_bmc_switch_loss_names_every_timeout_and_spares_the_workloads(tmp_path: Path) -> None:
    journal = run("bmc-switch-loss", tmp_path)
    assert journal["status"] == "completed", journal["failure"]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for s in journal["steps"]:
        by_name.setdefault(s["name"], []).append(s)
    assert len(by_name["workload answers"]) == 4
    assert all(s["output"]["os_responsive"] for s in by_name["workload answers"])
    for s in by_name["IPMI times out"] + by_name["Redfish times out"]:
        assert "(timeout)" in s["output"]["failed_as_expected"]
    stop = by_name["a power operation is impossible"][0]["output"]["failed_as_expected"]
    assert "did not respond" in stop
    assert all(s["output"] == "on" for s in by_name["IPMI answers"])


def test_scaleunit_level_dry_run_and_run(tmp_path: Path) -> None:
    baseline = SCENARIOS / "baselines" / "default.yaml"
    dry = CliRunner().invoke(main, ["level", "--baseline", str(baseline), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"var baseline = '{baseline}'" in dry.output and "var drift = []" in dry.output
    out = tmp_path / "out"
    done = CliRunner().invoke(main, ["level", "--baseline", str(baseline), "--report", str(out)])
    assert done.exit_code == 0, done.output
    journal = json.loads((out / "journal.json").read_text())
    plan = next(s for s in journal["steps"] if s["name"] == "read every inventory and plan")
    assert plan["output"]["noop"] == ["n01", "n02", "n03", "n04"]  # a fresh rack is level
    assert plan["output"]["switch_noop"] == ["tor-a", "tor-b"]
    assert not any(s["name"].endswith(": reload") for s in journal["steps"])


def test_a_running_rack_is_driven_through_its_control_plane(tmp_path: Path) -> None:
    """``scaleunit run --target URL --token T --topology FILE --speed X``: the controller
    drives a rack it did not start, in the rack's own (scaled wall) time."""
    import asyncio

    from emulator import topology
    from emulator.controller import embed
    from emulator.harness import RackThread

    text = embed.loopback_topology_text(4)
    rack_file = tmp_path / "rack.yaml"
    rack_file.write_text(text)
    with RackThread(topology.load_text(text), speed=200, power_on=True) as rack:
        _, clock = embed.remote(rack.control_url, rack.token, topology.load_text(text), 200)
        asyncio.run(embed._until_running(clock, rack.control_url, rack.token, 3600))
        args = ["run", str(SCENARIOS / "node-repair.yaml"), "--target", rack.control_url]
        args += ["--token", rack.token, "--topology", str(rack_file), "--speed", "200"]
        done = CliRunner().invoke(main, [*args, "--report", str(tmp_path / "out")])
        refused = CliRunner().invoke(main, [*args[:-2], "--virtual"])
    assert done.exit_code == 0, done.output
    journal = json.loads((tmp_path / "out" / "journal.json").read_text())
    assert journal["status"] == "completed"
    assert journal["elapsed_s"] > 60  # emulated time passed in the rack's own clock
    assert refused.exit_code == 2 and "--virtual needs the rack started here" in refused.output


def test_switch_cli_steps_speak_ssh(tmp_path: Path) -> None:
    """The switch-cli step kind against an asyncssh server on loopback answering exec requests
    (issue 11 brings the switches' own; this pins the client side: user, password, one exec
    request per command, outputs in order, a failing command named)."""
    import asyncio

    import asyncssh
    import httpx

    from emulator.controller.images import ImageServer
    from emulator.controller.steps import Context, Inventory, StepFailed, SwitchAccess, switch_cli

    seen: list[tuple[str, str]] = []

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return (username, password) == ("admin", "s3cret")

    async def handle(process: asyncssh.SSHServerProcess[str]) -> None:
        command = process.command or ""
        seen.append((process.get_extra_info("username"), command))
        if command == "show version":
            process.stdout.write("Dell SmartFabric OS10 Enterprise\nOS Version: 10.6.1.1\n")
            process.exit(0)
        else:
            process.stderr.write(f"% Error: Unrecognized command {command!r}\n")
            process.exit(1)

    async def main() -> None:
        key = asyncssh.generate_private_key("ssh-ed25519")
        server = await asyncssh.create_server(
            Server, "127.0.0.1", 0, server_host_keys=[key], process_factory=handle
        )
        port = server.sockets[0].getsockname()[1]
        inv = Inventory("http://127.0.0.1:1", "t", "u", "p")
        inv.switches["tor-a"] = SwitchAccess(
            ssh=("127.0.0.1", port), username="admin", password="s3cret"
        )
        images = ImageServer()
        async with httpx.AsyncClient() as http:
            ctx = Context(inv, None, images, http)  # type: ignore[arg-type]
            step = rb.SwitchCli(kind="switch-cli", switch="tor-a", commands=["show version"])
            out = await switch_cli(step, ctx)
            assert out == ["Dell SmartFabric OS10 Enterprise\nOS Version: 10.6.1.1\n"]
            bad = rb.SwitchCli(kind="switch-cli", switch="tor-a", commands=["show versoin"])
            with pytest.raises(StepFailed, match="'show versoin': % Error: Unrecognized command"):
                await switch_cli(bad, ctx)
        images.close()
        server.close()

    asyncio.run(main())
    assert seen == [("admin", "show version"), ("admin", "show versoin")]


def test_a_baseline_file_is_found_from_the_checkout_or_named_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from emulator.controller import steps

    monkeypatch.chdir(tmp_path)  # scenarios name it from the checkout's root
    assert steps._baseline("scenarios/baselines/default.yaml")["switch-os"] == "10.6.1.1"
    with pytest.raises(steps.StepFailed, match=r"^nope.yaml: cannot read the baseline file"):
        steps._baseline("nope.yaml")


def test_a_null_value_tolerance_and_publish() -> None:
    from emulator.controller.tolerance import Tolerance

    silent = Tolerance.model_validate({"value": None})
    assert silent.check(None)[0] and not silent.check({"node": "n01"})[0]
    with pytest.raises(ValueError, match="exactly one of"):
        Tolerance.model_validate({"jsonpath": "$.a"})
    server = images.ImageServer()
    try:
        import httpx

        url = server.add("tor-a.cfg", b"hostname tor-a\n")
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url).content == b"hostname tor-a\n"
        assert httpx.get(url + ".missing").status_code == 404
    finally:
        server.close()


def test_the_stepped_clock_moves_only_when_advanced_from_another_thread() -> None:
    import asyncio
    import threading

    from emulator.clock import SteppedClock

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        clock = asyncio.run_coroutine_threadsafe(_make_clock(), loop).result(5)
        fired: list[tuple[str, float, bool]] = []

        def note(name: str) -> None:
            fired.append((name, clock.now(), threading.current_thread() is thread))

        t0 = clock.now()
        loop.call_soon_threadsafe(clock.call_later, 90.0, lambda: note("b"))
        loop.call_soon_threadsafe(clock.call_later, 30.0, lambda: note("a"))
        assert clock.advance_threadsafe(0).result(5) == t0  # nothing moves by itself
        assert fired == []
        assert clock.advance_threadsafe(60.0).result(5) == t0 + 60.0
        assert fired == [("a", t0 + 30.0, True)]  # on the loop's thread, at its own time
        clock.advance_threadsafe(3600.0).result(5)
        assert fired[1] == ("b", t0 + 90.0, True) and clock.now() == t0 + 3660.0
        assert isinstance(clock, SteppedClock)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


async def _make_clock() -> Any:
    import asyncio

    from emulator.clock import SteppedClock

    return SteppedClock(asyncio.get_running_loop(), start=1_767_225_600.0)

"""The switch side of the controller's procedure library (issue 12 on issue 11's CLI): tor-loss,
tor-loss-both, switch-os-update and rack-restoration, each run on the virtual clock against an
embedded rack's real protocol servers (control plane, SSH, SNMP, Redfish, IPMI, workloads), and
their broken variants failing for the right reason; and the step kinds they added (serve-file,
serve-image, compare, switch-cli's shell).

Each run starts its own rack on a loopback block of its own.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from junitparser import JUnitXml

from emulator.controller import cli as ccli
from emulator.controller import runbook as rb
from emulator.controller import steps
from emulator.controller.images import ImageServer
from nodes import firmware as fw

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
SWITCH_SCENARIOS = ("tor-loss", "tor-loss-both", "switch-os-update", "rack-restoration")

pytestmark = pytest.mark.timeout(300)


def run(scenario: str, tmp_path: Path, **kw: Any) -> dict[str, Any]:
    out = tmp_path / "report"
    journal = ccli.execute(SCENARIOS / f"{scenario}.yaml", report_dir=out, **kw)
    on_disk = json.loads((out / "journal.json").read_text())
    assert on_disk["status"] == journal["status"]
    return journal


def by_name(journal: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for s in journal["steps"]:
        out.setdefault(s["name"], []).append(s)
    return out


def one(journal: dict[str, Any], name: str) -> dict[str, Any]:
    found = by_name(journal)[name]
    assert len(found) == 1, found
    return found[0]


def failed_step(journal: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in journal["steps"] if s["status"] == "failed")


# -- the step kinds ----------------------------------------------------------------------------
def test_the_switch_scenarios_load_and_bad_fields_name_the_line() -> None:
    for name in SWITCH_SCENARIOS:
        book = rb.load(SCENARIOS / f"{name}.yaml")
        assert book.method and all(p.rto > 0 for p in book.method)
    text = (
        "title: t\nmethod:\n  - phase: initial triage\n    rto: 1h\n    steps:\n"
        "      - {kind: wait, for: 1s}\n"
        "      - kind: compare\n        actual: a\n        expected: b\n        ignore: '(('\n"
    )
    with pytest.raises(rb.RunbookError) as err:
        rb.load_text(text, "x.yaml")
    assert "x.yaml:10: method.0.steps.1.ignore: not a regular expression" in str(err.value)
    with pytest.raises(rb.RunbookError, match=r"x.yaml:6: method.0.steps.0.op"):
        rb.load_text(
            text.split("      - {kind: wait")[0] + "      - {kind: compare, "
            "actual: 1, expected: 2, op: less}\n",
            "x.yaml",
        )
    with pytest.raises(rb.RunbookError, match=r"did you mean 'serve-file'"):
        rb.load_text(text.split("      - {kind: wait")[0] + "      - {kind: serve-fil}\n")


def _ctx(images: ImageServer) -> steps.Context:
    import httpx

    inv = steps.Inventory(control_url="http://127.0.0.1:9", token="t", username="u", password="p")
    return steps.Context(
        inventory=inv, time=steps.WallTime(), images=images, control=httpx.AsyncClient()
    )


def test_compare_passes_equal_texts_and_fails_with_the_first_differing_line() -> None:
    images = ImageServer()
    try:
        ctx = _ctx(images)
        ok = rb.Compare(kind="compare", actual="a\nb \n", expected=["a", "b"])
        assert asyncio.run(steps.compare(ok, ctx)) == {"equal": True, "lines": 2}
        bad = rb.Compare(kind="compare", what="the config", actual="a\nc\n", expected="a\nb\n")
        with pytest.raises(steps.StepFailed) as err:
            asyncio.run(steps.compare(bad, ctx))
        assert err.value.reason == (
            "the config differs from what was expected in 2 line(s), first: -b"
        )
        assert "+c" in err.value.evidence
        ignored = bad.model_copy(update={"ignore": "(?m)^[bc]$"})
        assert asyncio.run(steps.compare(ignored, ctx))["equal"] is True
        more = rb.Compare(kind="compare", op="greater", actual="12", expected="3", what="n")
        assert asyncio.run(steps.compare(more, ctx)) == {"actual": "12", "expected": "3"}
        with pytest.raises(steps.StepFailed, match=r"^n: 3 is not above 3$"):
            asyncio.run(steps.compare(more.model_copy(update={"actual": "3"}), ctx))
        with pytest.raises(steps.StepFailed, match=r"is no number"):
            asyncio.run(steps.compare(more.model_copy(update={"actual": "lots"}), ctx))
    finally:
        images.close()


def test_serve_file_and_serve_image_put_them_on_the_controllers_server() -> None:
    images = ImageServer()
    try:
        ctx = _ctx(images)
        out = asyncio.run(
            steps.serve_file(
                rb.ServeFile(kind="serve-file", file="tor-a.cfg", content="hostname tor-a\n"), ctx
            )
        )
        assert out == {"url": f"{images.url}/tor-a.cfg", "server": images.url}
        with urllib.request.urlopen(out["url"], timeout=5) as answer:
            assert answer.read() == b"hostname tor-a\n"
        with pytest.raises(steps.StepFailed, match="not a plain file name"):
            asyncio.run(
                steps.serve_file(rb.ServeFile(kind="serve-file", file="../x", content=""), ctx)
            )
        step = rb.ServeImage(kind="serve-image", model="S5248F-ON", version="10.6.2.0")
        with urllib.request.urlopen(asyncio.run(steps.serve_image(step, ctx)), timeout=5) as a:
            image = a.read()
        assert image == fw.build_image("switch-os", "S5248F-ON", "10.6.2.0", size=4096)
        bad = step.model_copy(update={"corrupt": "true"})
        with urllib.request.urlopen(asyncio.run(steps.serve_image(bad, ctx)), timeout=5) as a:
            assert a.read() == fw.corrupt_image(image)
    finally:
        images.close()


def test_the_trap_receiver_keeps_v2c_traps_and_ignores_anything_else() -> None:
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        NotificationType,
        ObjectIdentity,
        SnmpEngine,
        UdpTransportTarget,
        send_notification,
    )
    from pysnmp.proto.rfc1902 import Integer

    from emulator.controller.traps import TrapReceiver

    receiver = TrapReceiver()
    try:

        async def send() -> None:
            target = await UdpTransportTarget.create((receiver.address, receiver.port))
            await send_notification(
                SnmpEngine(),
                CommunityData("public", mpModel=1),
                target,
                ContextData(),
                "trap",
                NotificationType(ObjectIdentity("1.3.6.1.6.3.1.1.5.3")).add_varbinds(
                    ("1.3.6.1.2.1.2.2.1.1.7", Integer(7))
                ),
            )

        import socket
        import time

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as junk:
            junk.sendto(b"\x30\x03junk", (receiver.address, receiver.port))
        asyncio.run(send())
        deadline = time.monotonic() + 5
        while not receiver.traps() and time.monotonic() < deadline:
            time.sleep(0.05)
        got = [t.as_dict() for t in receiver.traps()]
        assert len(got) == 1, got
        assert got[0]["trap"] == "linkDown" and got[0]["source"] == "127.0.0.1"
        assert got[0]["varbinds"]["1.3.6.1.2.1.2.2.1.1.7"] == "7"
        assert "{address: 127.0.0.1, port: " in receiver.topology_entry()
    finally:
        receiver.close()


# -- tor-loss ----------------------------------------------------------------------------------
def test_tor_loss_runs_n_minus_one_then_restores_the_replacement_over_ssh(tmp_path: Path) -> None:
    journal = run("tor-loss", tmp_path)
    assert journal["status"] == "completed", journal["failure"]
    assert [p["phase"] for p in journal["phases"]] == list(rb.PHASES)
    assert all(p["rto_met"] for p in journal["phases"])
    steps_ = by_name(journal)
    # N-1: every workload through tor-b only, every nic1 down, the peer link down on tor-b.
    through = steps_["workload answers through tor-b only"]
    assert len(through) == 4 and all(s["output"]["paths"] == ["tor-b"] for s in through)
    assert all(
        s["output"]["LinkStatus"] == "LinkDown" for s in steps_["NIC to tor-a is down (Redfish)"]
    )
    assert one(journal, "the peer link is down on the other ToR (SNMP ifOperStatus)")["output"] in (
        "2",
        "down",
    )
    # linkDown traps from the surviving ToR reached the controller's own receiver, one of them
    # for the peer link (ifIndex 49, ethernet1/1/49).
    traps = one(journal, "the other ToR sent linkDown for the peer link (SNMP trap)")["output"]
    assert traps and all(t["trap"] == "linkDown" for t in traps)
    assert any(t["varbinds"].get("1.3.6.1.2.1.2.2.1.1.49") == "49" for t in traps), traps
    silent = one(journal, "the lost ToR is silent over SSH")["output"]["failed_as_expected"]
    assert "did not answer SSH" in silent and "(timeout)" in silent
    # The replacement arrived at factory configuration, with a new serial.
    # (the journal keeps the first 4000 characters of a long output)
    factory = str(one(journal, "it is at factory configuration (factory login)")["output"])
    assert "Factory default configuration" in factory and "hostname OS10" in factory
    serial = one(journal, "replace the switch")["output"]["serial"]
    assert serial != "TORA0001"
    # Restored from the controller's own file server, then validated.
    url = one(journal, "put the backup on the HLH's file server")["output"]["url"]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/tor-a-backup.cfg")
    for name in (
        "the running configuration is the one the switch ran",
        "the startup configuration is the same",
        "links are as before",
        "LLDP neighbours match the cabling",
        "every BGP neighbour is Established again",
        "show version is the build noted before",
    ):
        assert one(journal, name)["output"]["equal"] is True, name
    assert one(journal, "SNMP answers again")["output"] == "tor-a"
    assert int(one(journal, "counters are moving")["output"]) > int(
        one(journal, "read a node port's counter")["output"]
    )
    both = steps_["workload answers through both ToRs"]
    assert len(both) == 4 and all(s["output"]["paths"] == ["tor-a", "tor-b"] for s in both)
    # The admin password of the switch never reaches the journal.
    assert "tor-a-Admin-1" not in (tmp_path / "report" / "journal.json").read_text()


def test_a_stale_backup_restores_a_wrong_configuration_and_fails_naming_the_line(
    tmp_path: Path,
) -> None:
    change = 'snmp-server location "row 2, rack 7"'
    journal = run("tor-loss", tmp_path, variables={"late_changes": [change]})
    assert journal["status"] == "failed"
    step = failed_step(journal)
    assert step["name"] == "the running configuration is the one the switch ran"
    assert step["reason"] == (
        "the restored running configuration differs from what was expected in 1 line(s), "
        f"first: -{change}"
    )
    assert journal["failure"]["where"] == f"validation and hand-off: {step['name']}"
    junit = (tmp_path / "report" / "junit.xml").read_text()
    assert "row 2, rack 7" in junit
    html = (tmp_path / "report" / "report.html").read_text()
    assert "differs from what was expected" in html


def test_scaleunit_run_tor_loss_virtual_exits_zero(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "emulator.cli", "run", str(SCENARIOS / "tor-loss.yaml")]
        + ["--virtual", "--report", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ToR loss: completed" in done.stderr
    cases = list(next(iter(JUnitXml.fromfile(str(out / "junit.xml")))))
    assert cases and all(c.is_passed for c in cases)


# -- tor-loss-both -----------------------------------------------------------------------------
def test_both_tors_lost_isolates_everything_then_the_restart_path(tmp_path: Path) -> None:
    journal = run("tor-loss-both", tmp_path)
    assert journal["status"] == "completed", journal["failure"]
    steps_ = by_name(journal)
    assert [s["output"] for s in steps_["the workload is unreachable"]] == [None] * 4
    assert len(steps_["the second NIC is down too"]) == 4
    down = one(journal, "both ToRs are down")["output"]
    assert down["scale_unit"] == "requires-remediation"
    assert all(n["bmc_reachable"] for n in down["nodes"])  # the HLH still reaches the BMCs
    # ToR-1 completely, then ToR-2: traffic came back through ToR-1 alone first.
    order = [s["name"] for s in journal["steps"]]
    assert order.index("save ToR-1's configuration") < order.index("replace ToR-2")
    first = steps_["the workload answers through tor-a"]
    assert len(first) == 4 and all(s["output"]["paths"] == ["tor-a"] for s in first)
    for name in ("ToR-1 runs its backup", "ToR-2 runs its backup"):
        assert one(journal, name)["output"]["equal"] is True
    assert one(journal, "the scale unit runs again")["output"]["scale_unit"] == "running"


# -- the switch OS ------------------------------------------------------------------------------
def test_switch_os_update_does_tor_1_completely_then_tor_2(tmp_path: Path) -> None:
    journal = run("switch-os-update", tmp_path)
    assert journal["status"] == "completed", journal["failure"]
    ids = [s["id"] for s in journal["steps"] if s["id"].startswith("m1/")]
    last_a = max(i for i, sid in enumerate(ids) if "/tor-a/" in sid)
    first_b = min(i for i, sid in enumerate(ids) if "/tor-b/" in sid)
    assert last_a < first_b
    for tor in ("tor-a", "tor-b"):
        shown = one(journal, f"{tor}: show version reads back the image's version")["output"][0]
        assert "OS Version: 10.6.2.0\n" in shown
        rev = one(journal, f"{tor}: SNMP entPhysicalSoftwareRev reads back the image's version")
        assert rev["output"] == "10.6.2.0"
    one_path = [s["output"]["paths"] for s in by_name(journal)["n01 answers on one path"]]
    assert one_path == [["tor-b"], ["tor-a"]]  # each reload: the other ToR carried the traffic


def test_a_corrupt_switch_image_stops_at_tor_1_and_keeps_its_image(tmp_path: Path) -> None:
    journal = run("switch-os-update", tmp_path, variables={"corrupt": True})
    assert journal["status"] == "failed"
    step = failed_step(journal)
    assert step["name"] == "tor-a: install the image to the standby partition"
    assert "corrupt image: the payload's SHA-256 does not match the header" in step["reason"]
    assert not any("/tor-b/" in s["id"] for s in journal["steps"] if s["id"].startswith("m1/"))
    rollback = next(s for s in journal["steps"] if s["phase"].startswith("rollback"))
    assert rollback["status"] == "succeeded"
    assert "[A] 10.6.1.1" in rollback["output"][1] and "[A] active" in rollback["output"][1]
    assert journal["steady_after_rollback"] is True


def test_a_version_read_back_wrong_rolls_back_to_the_other_image_and_stops(
    tmp_path: Path,
) -> None:
    journal = run("switch-os-update", tmp_path, variables={"image_version": "10.6.1.9"})
    assert journal["status"] == "failed"
    verify = one(journal, "tor-a: show version reads back the image's version")
    assert verify["status"] == "failed" and "OS Version: 10.6.1.9" in verify["reason"]
    assert one(journal, "tor-a: roll back: boot the other image")["status"] == "succeeded"
    back = one(journal, "tor-a: runs what it ran before")["output"]
    assert "OS Version: 10.6.1.1\n" in back[0]  # select gives the list of matches
    assert one(journal, "tor-a: rolled back, stop")["output"]["equal"] is True
    reason = journal["failure"]["reason"]
    assert reason.startswith(
        "tor-a: the update to 10.6.2.0 failed verification and was rolled back; stopped."
    )
    assert not any("/tor-b/" in s["id"] for s in journal["steps"] if s["id"].startswith("m1/"))


# -- rack restoration ---------------------------------------------------------------------------
def test_rack_restoration_reports_the_rto_of_each_part(tmp_path: Path) -> None:
    journal = run("rack-restoration", tmp_path)
    assert journal["status"] == "completed", journal["failure"]
    phases = [p["phase"] for p in journal["phases"]]
    assert phases == [
        "initial triage: the rack comes back factory-fresh",
        "hardware restoration: switch configurations",
        "hardware restoration: BMC credentials",
        "hardware restoration: firmware leveling",
        "hardware restoration: hardware checks",
        "validation and hand-off",
    ]
    assert all(p["rto_met"] and p["elapsed_s"] >= 0 for p in journal["phases"])
    assert journal["phases"][3]["elapsed_s"] > 0  # leveling takes emulated time
    steps_ = by_name(journal)
    refused = steps_["n01: the rack's credentials are refused"][0]["output"]["failed_as_expected"]
    assert "IPMI session refused" in refused
    cut = one(journal, "the BMCs are cut off behind the factory BMC switch")["output"]
    assert not any(n["bmc_reachable"] for n in cut["nodes"])
    for sw in ("bmc-switch", "tor-a", "tor-b"):
        factory = str(steps_[f"{sw} is up at factory configuration"][0]["output"])
        assert "Factory default configuration" in factory
        assert steps_[f"{sw}: SNMP answers with its name"][0]["output"] == sw
    plan = one(journal, "read every inventory and plan")["output"]
    assert plan["update"] == ["n01", "n02", "n03", "n04"]
    # The factory-fresh rack is made of the fault kinds, and the ToRs' OS is updated too.
    injected = json.dumps([s["output"] for s in journal["steps"] if s["kind"] == "fault-inject"])
    for kind in ("bmc-factory-reset", "firmware-drift", "switch-os-drift", "switch-config-loss"):
        assert f'"kind": "{kind}"' in injected or f"'kind': '{kind}'" in injected, kind
    assert all(
        s["status"] == "succeeded" for s in steps_["n01: the BMC resets to factory defaults"]
    )
    assert plan["switch_update"] == ["tor-a", "tor-b"]
    assert plan["drift"]["tor-b"] == {"switch-os": ["10.6.1.0", "10.6.1.1"]}
    for tor in ("tor-a", "tor-b"):
        rev = one(journal, f"{tor}: SNMP entPhysicalSoftwareRev reads back the image's version")
        assert rev["output"] == "10.6.1.1"
    leveled = steps_["n01: update the drifted components"][0]["output"]
    assert leveled == {"bios": "2.27.0", "nic": "14.32.21.04"}
    assert one(journal, "no switch fault remains")["status"] == "succeeded"
    cases = list(next(iter(JUnitXml.fromfile(str(tmp_path / "report" / "junit.xml")))))
    assert {c.classname for c in cases} >= {"hardware restoration: firmware leveling"}


def test_switch_cli_errors_fail_the_step_with_the_switchs_own_words(tmp_path: Path) -> None:
    book = tmp_path / "bad-cli.yaml"
    book.write_text(
        "title: bad CLI input\n"
        "method:\n"
        "  - phase: initial triage\n"
        "    rto: 1h\n"
        "    steps:\n"
        "      - name: an unknown command\n"
        "        kind: switch-cli\n"
        "        switch: tor-a\n"
        "        commands: [show nonsense]\n"
        "        fails-with: \"^tor-a: 'show nonsense': % Error: Unrecognized command\\\\.$\"\n"
        "      - name: a bad configuration line in a shell\n"
        "        kind: switch-cli\n"
        "        switch: tor-a\n"
        "        shell: true\n"
        "        commands: [configure terminal, hostname bad_name!, end]\n"
        "        fails-with: '^tor-a: % Error: '\n"
        "      - name: the hostname did not change\n"
        "        kind: switch-cli\n"
        "        switch: tor-a\n"
        "        commands: [show running-configuration]\n"
        "        expect: {jsonpath: '$[0]', regex: '(?m)^hostname tor-a$'}\n"
        "      - name: a wrong password\n"
        "        kind: switch-cli\n"
        "        switch: tor-a\n"
        "        password: not-the-password\n"
        "        commands: [show version]\n"
        "        fails-with: '^tor-a: SSH: '\n"
    )
    journal = ccli.execute(book, report_dir=tmp_path / "report")
    assert journal["status"] == "completed", journal["failure"]
    shell = one(journal, "a bad configuration line in a shell")["output"]["failed_as_expected"]
    assert shell == (
        "tor-a: % Error: tor-a: configuration line: unknown command: 'hostname bad_name!'"
    )

"""The scaleunit command line: bad arguments get clear errors; `up` serves and stops on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from emulator import topology as topo
from emulator.cli import main
from tests.conftest import TEST_IPMI_PORT, next_base_address, require_tool

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_topology_validate_ok_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["topology", "validate", str(EXAMPLES / "rack-8.yaml")])
    assert ok.exit_code == 0 and "ok (8 nodes, 3 switches" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        topo.generate(4)
        .replace("  serial: TORA0001", "  serial: TORA0001")
        .replace("model: CS-2400", "modle: CS-2400", 1)
    )
    result = runner.invoke(main, ["topology", "validate", str(bad)])
    assert result.exit_code == 1
    assert f"error: {bad}:22: nodes[0].modle: unknown key 'modle' (did you mean 'model'?)" in (
        result.output
    )


def test_topology_init_writes_a_valid_rack(tmp_path: Path) -> None:
    out = tmp_path / "r.yaml"
    result = CliRunner().invoke(
        main, ["topology", "init", "--nodes", "6", "--base-address", "127.0.5.0", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    t = topo.load(out)
    assert len(t.nodes) == 6 and str(t.nodes[5].bmc.address) == "127.0.5.8"


def test_bad_arguments_are_usage_errors() -> None:
    runner = CliRunner()
    for args, needle in [
        (["topology", "init", "--nodes", "17"], "17 is not in the range 4<=x<=16"),
        (["up", "--speed", "-1"], "'--speed'"),
        (["endpoints", "--format", "xml"], "'xml' is not one of"),
        (["endpoints", "--topology", "/no/such/file.yaml"], "does not exist"),
        (["topology", "init", "--base-address", "not-an-ip"], "Invalid value"),
    ]:
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.output, (args, result.output)


def test_endpoints_json_lists_every_bmc() -> None:
    result = CliRunner().invoke(main, ["endpoints", "--nodes", "16", "--format", "json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    ipmi = [r for r in rows if r["protocol"] == "ipmi"]
    assert [r["device"] for r in ipmi] == [f"n{i:02d}" for i in range(1, 17)]
    assert ipmi[0]["address"] == "127.0.1.3" and ipmi[15]["address"] == "127.0.1.18"
    assert {r["username"] for r in ipmi} == {"admin"}
    assert all(r["port"] in (623, 6230) for r in ipmi)


def test_up_serves_ipmi_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    ipmitool = require_tool("ipmitool")
    path = tmp_path / "rack.yaml"
    path.write_text(topo.generate(4, base_address=next_base_address(), ipmi_port=TEST_IPMI_PORT))
    t = topo.load(path)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator.cli",
            "up",
            "--topology",
            str(path),
            "--speed",
            "50",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        seen = ""
        while "ready in" not in seen and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen += line
        assert "ready in" in seen, seen + (proc.stderr.read() if proc.stderr else "")
        address = str(t.nodes[1].bmc.address)
        assert address in seen and "admin" in seen
        base = [
            ipmitool,
            "-I",
            "lanplus",
            "-H",
            address,
            "-p",
            str(TEST_IPMI_PORT),
            "-U",
            "admin",
            "-P",
            topo.DEFAULT_PASSWORD,
        ]
        out = subprocess.run(
            base + ["chassis", "power", "on"], capture_output=True, text=True, timeout=20
        )
        assert out.returncode == 0 and "Up/On" in out.stdout, out
        deadline = time.monotonic() + 20
        status = ""
        while time.monotonic() < deadline:
            status = subprocess.run(
                base + ["chassis", "power", "status"], capture_output=True, text=True, timeout=20
            ).stdout
            if "is on" in status:
                break
            time.sleep(0.1)
        assert "Chassis Power is on" in status
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert "node=n02 proto=model event=power.changed" in err
    assert "node=n02 proto=ipmi event=command name=chassis_control user_id=2" in err
    assert topo.DEFAULT_PASSWORD not in err  # no secrets in logs


def test_up_reports_an_address_in_use(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "rack.yaml"
    path.write_text(topo.generate(4, base_address=next_base_address(), ipmi_port=TEST_IPMI_PORT))
    t = topo.load(path)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as blocker:
        blocker.bind((str(t.nodes[2].bmc.address), TEST_IPMI_PORT))
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "emulator.cli",
                "up",
                "--topology",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 1
    assert f"n03: cannot bind IPMI on {t.nodes[2].bmc.address}:{TEST_IPMI_PORT}/udp" in proc.stderr
    assert "is a rack already running?" in proc.stderr


def test_topology_init_dash_writes_to_standard_output(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["topology", "init", "--nodes", "5", "-o", "-"])
    assert result.exit_code == 0, result.output
    assert not (Path.cwd() / "-").exists()
    t = topo.load_text(result.output, "<stdout>")
    assert len(t.nodes) == 5


def test_endpoints_json_gives_snmpv3_users_and_bmc_trap_settings(tmp_path: Path) -> None:
    from bmc.snmp.traps import engine_id as bmc_engine_id
    from nodes.clock import VirtualClock
    from switches.model import Switch
    from switches.snmp.agent import engine_id as switch_engine_id

    text = topo.generate(4, bmc_trap_receivers=["127.0.0.1:10162"])
    path = tmp_path / "rack.yaml"
    path.write_text(text)
    t = topo.load(path)
    result = CliRunner().invoke(main, ["endpoints", "--topology", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    snmp = [r for r in rows if r["protocol"] == "snmp"]
    assert [r["device"] for r in snmp] == [s.name for s in t.switches]
    for row, spec in zip(snmp, t.switches, strict=True):
        assert spec.snmp.users, "the generated rack has v3 users"
        assert [u["name"] for u in row["v3_users"]] == [u.name for u in spec.snmp.users]
        for got, want in zip(row["v3_users"], spec.snmp.users, strict=True):
            assert got["auth_protocol"] == want.auth.value and got["auth_key"] == want.auth_key
            assert got["priv_protocol"] == want.priv.value and got["priv_key"] == want.priv_key
            assert got["access"] == want.access.value
            assert got["net_snmp_args"][:5] == ["-v3", "-l", got["security_level"], "-u", want.name]
        # the engine ID the running agent will have
        switch = Switch(spec, VirtualClock(), lambda e: None)
        assert row["engine_id"] == switch_engine_id(switch).hex()
    traps = [r for r in rows if r["protocol"] == "snmp-trap"]
    assert [r["device"] for r in traps] == [n.name for n in t.nodes]
    for row, node in zip(traps, t.nodes, strict=True):
        name, auth_key, priv_key = t.bmc_trap_user(node)
        (user,) = row["v3_users"]
        assert (user["name"], user["auth_key"], user["priv_key"]) == (name, auth_key, priv_key)
        assert user["auth_protocol"] == "sha" and user["priv_protocol"] == "aes128"
        assert "-a" in user["net_snmp_args"] and "SHA" in user["net_snmp_args"]
        assert row["receivers"] == ["127.0.0.1:10162"]
        assert row["address"] == str(node.bmc.address)
        assert row["engine_id"] == bmc_engine_id(node).hex()
    # the table says where the keys are, not the keys
    table = CliRunner().invoke(main, ["endpoints", "--topology", str(path)])
    assert table.exit_code == 0 and "snmp-trap" in table.output
    assert all(u.auth_key not in table.output for s in t.switches for u in s.snmp.users)

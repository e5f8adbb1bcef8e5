"""The DMTF Redfish Service Validator against the running rack, offline (``--skipschema`` with the
DSP8010 2025.4 CSDL in ../shared/redfish-schemas/csdl): zero failures.

The 4-node rack is validated on one BMC with session auth and on another with Basic auth; the
16-node rack on its first and last BMC (in parallel: the validator is CPU-bound and each run
takes ~15 s here), plus a check that every BMC answers as its own node. Set
``SCALEUNIT_VALIDATE_ALL=1`` to run the validator on every BMC of the 16-node rack.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.conftest import require_tool

if TYPE_CHECKING:
    from emulator.endpoints import Endpoint
    from emulator.harness import RackThread

pytestmark = [pytest.mark.tools, pytest.mark.timeout(900)]

SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "redfish-schemas" / "csdl"
VALIDATOR_TIMEOUT = 300.0
_SUMMARY = re.compile(r"\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|")


def _schemas() -> Path:
    if not (SCHEMAS / "ServiceRoot_v1.xml").is_file():
        pytest.fail(f"the DSP8010 CSDL is not at {SCHEMAS}")
    return SCHEMAS


def validate(e: Endpoint, logdir: Path, authtype: str = "Session") -> dict[str, object]:
    """Run the validator on one BMC; returns its counts, the time taken and its failures."""
    argv = [
        require_tool("rf_service_validator"),
        "--ip", f"{e.scheme}://{e.address}:{e.port}",
        "-u", e.username, "-p", e.password,
        "--authtype", authtype,
        "--schema_directory", str(_schemas()),
        "--skipschema",
        "--logdir", str(logdir),
        "--timeout", "30",
    ]  # fmt: skip
    t0 = time.monotonic()
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=VALIDATOR_TIMEOUT, check=False
    )
    seconds = time.monotonic() - t0
    match = _SUMMARY.search(proc.stdout)
    assert match, f"no summary from the validator:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    passed, warned, failed, skipped = (int(g) for g in match.groups())
    failures = [
        line.split(" - ", 3)[-1]
        for log in logdir.rglob("RedfishServiceValidatorDebug_*.log")
        for line in log.read_text(errors="replace").splitlines()
        if " - ERROR - " in line or " - CRITICAL - " in line
    ]
    return {
        "device": e.device,
        "returncode": proc.returncode,
        "pass": passed,
        "warn": warned,
        "fail": failed,
        "skip": skipped,
        "seconds": round(seconds, 1),
        "failures": failures,
    }


def _assert_clean(result: dict[str, object]) -> None:
    assert result["fail"] == 0 and result["failures"] == [], result
    assert result["returncode"] == 0, result
    assert isinstance(result["pass"], int) and result["pass"] > 1000, result


def test_validator_4_nodes(rack_factory: Callable[..., RackThread], tmp_path: Path) -> None:
    rack = rack_factory(nodes=4)
    session = validate(rack.endpoint("n01", "redfish"), tmp_path / "n01", "Session")
    basic = validate(rack.endpoint("n03", "redfish"), tmp_path / "n03", "Basic")
    print(session, basic)
    _assert_clean(session)
    _assert_clean(basic)


def test_validator_16_nodes(rack_factory: Callable[..., RackThread], tmp_path: Path) -> None:
    rack = rack_factory(nodes=16)
    endpoints = [e for e in rack.endpoints if e.protocol == "redfish"]
    assert len(endpoints) == 16
    # Every BMC answers as its own node, on its own address (one server, sixteen sockets).
    for e in endpoints:
        with httpx.Client(verify=False, auth=(e.username, e.password), timeout=10) as c:
            r = c.get(f"{e.scheme}://{e.address}:{e.port}/redfish/v1/Systems")
            assert r.status_code == 200, r.text
            assert r.json()["Members"] == [{"@odata.id": f"/redfish/v1/Systems/{e.device}"}]
    chosen = (
        endpoints if os.environ.get("SCALEUNIT_VALIDATE_ALL") else endpoints[:: len(endpoints) - 1]
    )
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda e: validate(e, tmp_path / e.device), chosen))
    print(f"{len(chosen)} BMCs validated in {time.monotonic() - t0:.1f} s:", results)
    for result in results:
        _assert_clean(result)

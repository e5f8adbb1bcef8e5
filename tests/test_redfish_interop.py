"""The DMTF Redfish Interop Validator against a running BMC, with the profile of what an OEM
deployment and restoration tool needs (``tests/redfish/scaleunit-bmc.profile.json``): power and
boot control, inventory, health, logs, firmware update with tasks, sessions, accounts, events and
virtual media. Zero failures, offline (the profile requires no other profile, and nothing is
fetched from the network).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from nodes.power import HostState
from tests.conftest import require_tool
from tests.test_redfish_clients import wait_model
from tests.test_redfish_update import MODEL, SPEED, build_image, client, poll, push

if TYPE_CHECKING:
    from emulator.harness import RackThread

pytestmark = [pytest.mark.tools, pytest.mark.timeout(900)]

PROFILE = Path(__file__).resolve().parent / "redfish" / "scaleunit-bmc.profile.json"
VALIDATOR_TIMEOUT = 600.0
_SUMMARY = re.compile(r"\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|")
V1 = "/redfish/v1"


def test_profile_covers_the_tool_s_needs() -> None:
    profile = json.loads(PROFILE.read_text())
    assert "RequiredProfiles" not in profile  # nothing to fetch
    needed = {
        "ComputerSystem", "Chassis", "PowerSupply", "Sensor", "Manager", "LogService", "LogEntry",
        "UpdateService", "SoftwareInventory", "TaskService", "Task", "SessionService", "Session",
        "AccountService", "ManagerAccount", "EventService", "EventDestination", "VirtualMedia",
    }  # fmt: skip
    assert needed <= set(profile["Resources"])
    reset = profile["Resources"]["ComputerSystem"]["ActionRequirements"]["Reset"]
    assert {"On", "ForceOff"} <= set(reset["Parameters"]["ResetType"]["ParameterValues"])


def test_interop_validator_passes_the_profile(
    rack_factory: Callable[..., RackThread], tmp_path: Path
) -> None:
    rack = rack_factory(nodes=4, speed=SPEED)
    e = rack.endpoint("n01", "redfish")
    # Every resource the profile names has an instance: a boot (SEL entries), a finished update
    # task, an event subscription and an inserted virtual CD.
    with client(e) as c:
        r = c.post(f"{V1}/Systems/n01/Actions/ComputerSystem.Reset", json={"ResetType": "On"})
        assert r.status_code == 204, r.text
        wait_model(rack, "n01", lambda n: n.state is HostState.RUNNING)
        task = push(c, build_image("nic", MODEL, "14.33.0.0", size=4096))
        assert poll(c, task.headers["Location"]).json()["TaskState"] == "Completed"
        sub = c.post(f"{V1}/EventService/Subscriptions", json={
            "Destination": "https://127.0.0.1:9/events", "Protocol": "Redfish",
            "Context": "interop"})  # fmt: skip
        assert sub.status_code == 201, sub.text
    argv = [
        require_tool("rf_interop_validator"),
        "--ip", f"{e.scheme}://{e.address}:{e.port}",
        "-u", e.username, "-p", e.password,
        "--authtype", "Session",
        "--logdir", str(tmp_path),
        "--timeout", "30",
        str(PROFILE),
    ]  # fmt: skip
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=VALIDATOR_TIMEOUT, check=False, cwd=tmp_path
    )
    print(proc.stdout[-5000:])
    match = _SUMMARY.search(proc.stdout)
    assert match, f"no summary from the validator:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    passed, _warned, failed, _skipped = (int(g) for g in match.groups())
    failures = [
        line.split(" - ", 3)[-1]
        for log in tmp_path.rglob("RedfishInteropValidatorDebug_*.log")
        for line in log.read_text(errors="replace").splitlines()
        if " - ERROR - " in line or " - CRITICAL - " in line
    ]
    assert failed == 0 and failures == [], failures
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert passed > 300, passed

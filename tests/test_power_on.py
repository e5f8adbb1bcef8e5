"""``scaleunit up --power-on``: a new rack starts as a deployed scale unit (every member node
powered on, then Running in service), seen through ipmitool; a restored rack's power is left to
the power-restore policy."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from emulator import topology
from emulator.harness import RackThread
from emulator.operator.states import NodeStatus, ScaleUnitStatus
from nodes.power import HostState
from tests.conftest import TEST_IPMI_PORT, next_base_address, require_tool


def _rack(tmp_path: Path, *, power_on: bool, fresh: bool = False) -> RackThread:
    base = next_base_address()
    text = topology.generate(4, base_address=base, ipmi_port=TEST_IPMI_PORT)
    return RackThread(
        topology.load_text(text, "<test>"),
        speed=200,
        state_dir=tmp_path / "state",
        fresh=fresh,
        power_on=power_on,
    ).start()


def _power_status(rack: RackThread, node: str) -> str:
    e = rack.endpoint(node, "ipmi")
    cmd = [require_tool("ipmitool"), "-I", "lanplus", "-H", e.address, "-p", str(e.port)]
    cmd += ["-U", e.username, "-P", e.password, "chassis", "power", "status"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()


def test_power_on_starts_a_deployed_scale_unit(tmp_path: Path) -> None:
    rack = _rack(tmp_path, power_on=True)
    try:
        operator = rack.runtime.operator
        assert operator is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            states = rack.call(lambda r: {n.name: n.state for n in r.nodes.values()})
            if set(states.values()) == {HostState.RUNNING}:
                break
            time.sleep(0.1)
        assert set(states.values()) == {HostState.RUNNING}, states
        assert _power_status(rack, "n03") == "Chassis Power is on"
        statuses = rack.call(lambda r: {n: operator.node_status(n) for n in operator.members()})
        assert set(statuses.values()) == {NodeStatus.RUNNING}
        assert rack.call(lambda r: operator.scale_unit_status()) is ScaleUnitStatus.RUNNING
    finally:
        rack.close()


def test_without_power_on_a_new_rack_is_off(tmp_path: Path) -> None:
    rack = _rack(tmp_path, power_on=False)
    try:
        time.sleep(0.5)  # 100 emulated seconds: nothing powers on by itself
        assert rack.call(lambda r: {n.state for n in r.nodes.values()}) == {HostState.OFF}
        assert _power_status(rack, "n01") == "Chassis Power is off"
    finally:
        rack.close()

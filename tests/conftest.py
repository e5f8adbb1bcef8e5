"""Shared fixtures: racks on loopback addresses that each test owns.

Every rack gets its own 127.x.0.0/24 block, so racks never collide with each other or with a
rack a developer has running on 127.0.1.x.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from emulator import topology
from nodes.clock import VirtualClock

if TYPE_CHECKING:
    from emulator.harness import RackThread

_blocks = itertools.count(0)

#: IPMI's standard port when we may bind it (root, as in CI), else an unprivileged one.
TEST_IPMI_PORT = 623 if os.geteuid() == 0 else 16230
#: Redfish's standard HTTPS port when we may bind it, else an unprivileged one.
TEST_REDFISH_PORT = 443 if os.geteuid() == 0 else 18443
#: SNMP's standard port when we may bind it, else an unprivileged one.
TEST_SNMP_PORT = 161 if os.geteuid() == 0 else 16161


def next_base_address() -> str:
    k = next(_blocks)
    return f"127.{60 + (os.getpid() + k) % 150}.{k % 250}.0"


@pytest.fixture(autouse=True)
def _no_state_in_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """``scaleunit up`` without --state-dir (a subprocess, a RackRuntime) keeps its state under
    the user data directory: point it (XDG_DATA_HOME, which platformdirs follows) at a fresh
    temporary directory for each test, so tests never write into the home directory nor share
    a state."""
    saved = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("XDG_DATA_HOME", None)
        else:
            os.environ["XDG_DATA_HOME"] = saved


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def rack_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., RackThread]]:
    """``rack_factory(nodes=4, speed=50, ipmi_port=..., redfish_port=..., redfish_tls=True,
    text=None, snmp_port=..., snmp_receivers=(), power_on=False)`` starts a rack (IPMI,
    Redfish, an SNMP agent per switch on .241-.243 of the rack's block, and a workload endpoint
    per node from .201) in a thread; its state directory (the TLS certificate) is a fresh
    temporary directory; ``power_on`` starts it as a deployed scale unit."""
    racks: list[RackThread] = []

    def make(
        nodes: int = 4,
        speed: float = 50.0,
        ipmi_port: int = TEST_IPMI_PORT,
        text: str | None = None,
        redfish_port: int = TEST_REDFISH_PORT,
        redfish_tls: bool = True,
        snmp_port: int = TEST_SNMP_PORT,
        snmp_receivers: Sequence[str] = (),
        power_on: bool = False,
    ) -> RackThread:
        from emulator.harness import RackThread

        if text is None:
            base = next_base_address()
            text = topology.generate(
                nodes,
                base_address=base,
                ipmi_port=ipmi_port,
                redfish_port=redfish_port,
                redfish_tls=redfish_tls,
                switch_base_address=base.rsplit(".", 1)[0] + ".240",
                snmp_port=snmp_port,
                snmp_receivers=snmp_receivers,
                host_base_address=base.rsplit(".", 1)[0] + ".200",
            )
        rack = RackThread(topology.load_text(text, "<test>"), speed=speed, power_on=power_on)
        rack.runtime.state_dir = tmp_path_factory.mktemp("state")
        racks.append(rack)
        return rack.start()

    yield make
    for rack in racks:
        rack.close()


def require_tool(name: str) -> str:
    """The path of a real client; its absence is an error, not a skip (CI installs it)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run .ci/run or apt-get install it")
    return path


def wait_for(predicate: Callable[[], Any], seconds: float, step: float = 0.1) -> bool:
    """Poll ``predicate`` every ``step`` seconds (wall clock) until it is true or ``seconds`` have
    passed; then one last look. For clients against a running rack, not for the virtual clock."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())

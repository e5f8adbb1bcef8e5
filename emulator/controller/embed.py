"""The launcher: a rack for the controller to drive (the one controller module that may start
a rack; the controller itself still reaches it only through its endpoints).

``embedded(...)`` starts a rack in a thread (emulator.harness.RackThread) on loopback, with the
virtual clock (``--virtual``: emulator.clock.SteppedClock, moved by the controller's waits) or a
scaled one, waits until every member node is Running, and gives the controller an
:class:`~emulator.controller.steps.Inventory` of addresses and a time source. ``remote(...)``
builds the same for a rack already running (``--target URL``), from its topology file.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from emulator.controller.steps import Inventory, NodeAccess, SwitchAccess, WallTime


class VirtualTime:
    """The rack's SteppedClock, moved from the controller's thread."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock

    def now(self) -> float:
        return float(self.clock.now())

    async def sleep(self, seconds: float) -> None:
        await asyncio.wrap_future(self.clock.advance_threadsafe(seconds))


def _inventory(endpoints: list[Any], control_url: str, token: str, topo: Any) -> Inventory:
    inv = Inventory(
        control_url=control_url,
        token=token,
        username=topo.credentials.username,
        password=topo.credentials.password,
    )
    by: dict[tuple[str, str], Any] = {(e.device, e.protocol): e for e in endpoints}
    for spec in topo.nodes:
        ipmi = by.get((spec.name, "ipmi"))
        red = by.get((spec.name, "redfish"))
        work = by.get((spec.name, "workload"))
        if ipmi is None or red is None:
            continue
        inv.nodes[spec.name] = NodeAccess(
            ipmi=(ipmi.address, ipmi.port),
            redfish=f"{red.scheme or 'https'}://{red.address}:{red.port}",
            workload=(work.address, work.port) if work is not None else None,
        )
    for name in topo.switch_names() if hasattr(topo, "switch_names") else ():
        snmp = by.get((name, "snmp"))
        ssh = by.get((name, "ssh"))
        inv.switches[name] = SwitchAccess(
            snmp=(snmp.address, snmp.port) if snmp else None,
            ssh=(ssh.address, ssh.port) if ssh else None,
            username=ssh.username if ssh else None,
            password=ssh.password if ssh else None,
        )
    for e in endpoints:
        if e.protocol in ("snmp", "ssh") and e.device not in inv.nodes:
            old = inv.switches.get(e.device, SwitchAccess())
            if e.protocol == "snmp":
                inv.switches[e.device] = dataclasses.replace(old, snmp=(e.address, e.port))
            else:  # the SSH endpoint names the switch's sysadmin login
                inv.switches[e.device] = dataclasses.replace(
                    old, ssh=(e.address, e.port), username=e.username, password=e.password
                )
    return inv


def loopback_topology(nodes: int, receivers: tuple[str, ...] = ()) -> Any:
    """A rack of ``nodes`` on a loopback block of its own (plain HTTP Redfish); its switches
    send their traps to ``receivers`` (topology lines: the controller's own receiver)."""
    from emulator import topology

    return topology.load_text(loopback_topology_text(nodes, receivers))


def loopback_topology_text(nodes: int, receivers: tuple[str, ...] = ()) -> str:
    """The YAML of :func:`loopback_topology`."""
    from emulator import topology

    k = random.Random(os.getpid() ^ time.monotonic_ns()).randrange(0, 40000)
    base = f"127.{100 + k % 150}.{(k // 150) % 250}.0"
    prefix = base.rsplit(".", 1)[0]
    text = topology.generate(
        nodes,
        base_address=base,
        redfish_tls=False,
        switch_base_address=prefix + ".240",
        host_base_address=prefix + ".200",
        control_address="127.0.0.1",
        control_port=0,
        snmp_receivers=receivers,
    )
    # The documented firmware durations (PROCEDURES.md: about 1 h of firmware per node, with
    # the reboots and the storage repair), not the model's short lab defaults.
    anchor = "  bmc_warm_reset_s: 10.0\n"
    assert anchor in text
    return text.replace(anchor, anchor + OEM_FIRMWARE_TIMINGS, 1)


#: Flash durations of a Dell 14G-like server's components, in emulated seconds (the BIOS is
#: applied by the Lifecycle Controller during POST; a BMC flash restarts the BMC).
OEM_FIRMWARE_TIMINGS = (
    "  firmware: {flash_bios_s: 1200.0, flash_bmc_s: 480.0, flash_nic_s: 600.0, "
    "flash_disk_s: 240.0, flash_cpld_s: 180.0, flash_boot_drive_s: 240.0}\n"
)


async def _until_running(time_source: Any, url: str, token: str, within: float) -> None:
    """Let emulated time pass until every member node is Running (the rack boots)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
        deadline = time_source.now() + within
        while True:
            data = (await client.get("/status")).json()
            members = [n for n in data["nodes"] if n["status"] != "not-a-member"]
            if data["scale_unit"] == "running" and all(
                n["status"] == "running" and n["host_state"] == "running" for n in members
            ):
                return
            if time_source.now() > deadline:
                raise RuntimeError(f"the rack did not come up within {within:.0f} emulated s")
            await time_source.sleep(15.0)


@contextlib.contextmanager
def embedded(
    topo: Any, *, virtual: bool = True, speed: float = 1.0, state_dir: Path | None = None
) -> Iterator[tuple[Inventory, Any, Any]]:
    """(inventory, time source, the RackThread) of a started rack, every node Running."""
    from emulator.harness import RackThread

    with RackThread(
        topo, speed=speed, virtual=virtual, power_on=True, state_dir=state_dir, fresh=True
    ) as rack:
        clock = rack.runtime.clock
        assert clock is not None
        source: Any = VirtualTime(clock) if virtual else WallTime(speed, clock.now())
        inv = _inventory(rack.endpoints, rack.control_url, rack.token, topo)
        asyncio.run(_until_running(source, rack.control_url, rack.token, 4 * 3600.0))
        yield inv, source, rack


def remote(url: str, token: str, topo: Any, speed: float = 1.0) -> tuple[Inventory, Any]:
    """A rack already running at ``url`` (its topology file gives the addresses)."""
    from emulator.endpoints import plan_endpoints

    endpoints = plan_endpoints(topo)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        now = c.get("/status").json()["now"]
    return _inventory(endpoints, url, token, topo), WallTime(speed, now)

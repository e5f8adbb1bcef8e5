"""A whole rack under the real clients: 16 BMCs driven at once, garbage on the wire, and a
third client library (pyghmi's) beside ipmitool and freeipmi."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Callable

from emulator.harness import RackThread
from nodes.power import HostState
from tests.conftest import require_tool, wait_for


def ipmitool_args(rack: RackThread, device: str, *args: str, suite: str = "17") -> list[str]:
    e = rack.endpoint(device)
    return [
        require_tool("ipmitool"),
        "-I",
        "lanplus",
        "-C",
        suite,
        "-H",
        e.address,
        "-p",
        str(e.port),
        "-U",
        e.username,
        "-P",
        e.password,
        "-N",
        "1",
        "-R",
        "3",
        *args,
    ]


def run_all(
    commands: list[list[str]], timeout: float = 60
) -> list[subprocess.CompletedProcess[str]]:
    """Start every command at once, then collect them (bounded by ``timeout``)."""
    procs = [
        subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    deadline = time.monotonic() + timeout
    results = []
    for cmd, proc in zip(commands, procs, strict=True):
        try:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        results.append(subprocess.CompletedProcess(cmd, proc.returncode, out, err))
    return results


def test_sixteen_bmcs_driven_in_parallel_by_ipmitool_and_freeipmi(
    rack_factory: Callable[..., RackThread],
) -> None:
    rack = rack_factory(nodes=16, speed=100)
    devices = [f"n{i:02d}" for i in range(1, 17)]
    # Every BMC at once, alternating cipher suites.
    results = run_all(
        [
            ipmitool_args(rack, d, "chassis", "power", "on", suite="3" if i % 2 else "17")
            for i, d in enumerate(devices)
        ]
    )
    for r in results:
        assert r.returncode == 0 and "Chassis Power Control: Up/On" in r.stdout, r
    assert wait_for(
        lambda: rack.call(lambda m: all(n.state is HostState.RUNNING for n in m.nodes.values())),
        30,
        0.05,
    )
    # SEL and sensors of all 16 in parallel: each BMC reports its own node's boot.
    sels = run_all([ipmitool_args(rack, d, "sel", "elist") for d in devices])
    for r in sels:
        assert r.returncode == 0 and "OS Boot" in r.stdout and "C: boot completed" in r.stdout, r
    sensors = run_all([ipmitool_args(rack, d, "sensor", "get", "CPU1 Temp") for d in devices])
    for r in sensors:
        assert "Sensor Reading" in r.stdout and "degrees C" in r.stdout, r
    # freeipmi's own fan-out: one ipmipower over all 16 hosts (host:port list).
    hosts = ",".join(f"{rack.endpoint(d).address}:{rack.endpoint(d).port}" for d in devices)
    e = rack.endpoint("n01")
    out = subprocess.run(
        [
            require_tool("ipmipower"),
            "-D",
            "LAN_2_0",
            "-h",
            hosts,
            "-u",
            e.username,
            "-p",
            e.password,
            "--stat",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    assert len(lines) == 16 and all(ln.endswith(": on") for ln in lines), out
    # Power off half of them through IPMI; the model agrees node by node.
    results = run_all([ipmitool_args(rack, d, "chassis", "power", "off") for d in devices[::2]])
    assert all(r.returncode == 0 for r in results)
    states = rack.call(lambda m: {n: m.nodes[n].state for n in devices})
    assert [states[d] is HostState.OFF for d in devices] == [i % 2 == 0 for i in range(16)]


def test_malformed_datagrams_do_not_stop_the_rack(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory(nodes=4)
    victim, bystander = rack.endpoint("n01"), rack.endpoint("n02")
    rng = random.Random(7)
    garbage = [
        b"",
        b"\x06",
        b"\x06\x00\xff\x07",
        b"\x06\x00\xff\x07\x06\x10" + b"\x00" * 4,
        b"\x06\x00\xff\x07\x06\xc0\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff",  # huge length
        b"\x06\x00\xff\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10" + b"\x20" * 3,
        *(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))) for _ in range(300)),
        *(
            b"\x06\x00\xff\x07" + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80)))
            for _ in range(300)
        ),
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for packet in garbage:
            s.sendto(packet, (victim.address, victim.port))
    for endpoint in (victim, bystander):
        out = subprocess.run(
            ipmitool_args(rack, endpoint.device, "chassis", "power", "status"),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0 and "Chassis Power is off" in out.stdout, out
    assert rack.call(lambda m: len(m.nodes["n01"].sel)) == 0  # nothing reached the model


def test_pyghmi_client_drives_a_bmc(rack_factory: Callable[..., RackThread]) -> None:
    from pyghmi.ipmi import command

    rack = rack_factory(nodes=4, speed=100)
    e = rack.endpoint("n03")
    ipmi = command.Command(bmc=e.address, userid=e.username, password=e.password, port=e.port)
    try:
        assert ipmi.get_power() == {"powerstate": "off"}
        ipmi.set_power("on", wait=False)
        assert wait_for(lambda: ipmi.get_power()["powerstate"] == "on", 20, 0.05)
        ipmi.set_bootdev("network", persist=True, uefiboot=True)
        boot = ipmi.get_bootdev()
        assert boot["bootdev"] == "network" and boot["persistent"] is True
        assert rack.call(lambda m: m.nodes["n03"].boot_override.target.value) == "pxe"
        names = {reading.name for reading in ipmi.get_sensor_data()}
        assert {"Inlet Temp", "CPU1 Temp", "Fan1", "PSU1 Input"} <= names
        inventory = dict(ipmi.get_inventory())
        assert inventory["System"]["Serial Number"] == rack.call(
            lambda m: m.nodes["n03"].spec.serial
        )
    finally:
        ipmi.ipmi_session.logout()

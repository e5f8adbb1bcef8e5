"""The control plane without HTTP (emulator.control.plane) on a virtual clock: actions and their
refusals, replacement rules, chaos through the plane (the same seed gives the same faults at the
same virtual times), and the status table."""

from __future__ import annotations

import pytest

from emulator import topology
from emulator.control.errors import status_of
from emulator.control.plane import ControlPlane, previous_version
from emulator.errors import RequestRefused
from emulator.faults import FaultInjector
from emulator.operator import OperatorView
from emulator.rack import Rack
from nodes.clock import VirtualClock
from nodes.power import HostState

BOOT = 106.0


def plane(clock: VirtualClock, boot: bool = True) -> ControlPlane:
    rack = Rack(topology.default(4), clock)
    operator = OperatorView(rack)
    p = ControlPlane(rack, operator, FaultInjector(rack, baseline=operator.baseline))
    if boot:
        for name in rack.nodes:
            rack.nodes[name].power_on()
        clock.advance(BOOT + 30)
    return p


@pytest.mark.parametrize(
    ("version", "previous"),
    [
        ("2.27.0", "2.26.0"),
        ("7.00.00.184", "7.00.00.183"),
        ("16.17.01.00", "16.17.00.00"),
        ("1.1.4", "1.1.3"),
        ("2.5.13.3024", "2.5.13.3023"),
        ("10.0", "9.0"),
        ("0.0.0", "0.0.0"),
    ],
)
def test_previous_version(version: str, previous: str) -> None:
    assert previous_version(version) == previous


def test_actions_and_refusals(clock: VirtualClock) -> None:
    p = plane(clock)
    assert p.status()["scale_unit"] == "running"
    events = p.node_action("n01", "drain")
    assert [e.name for e in events][-2:] == ["fabric.node.drained", "fabric.node.status"]
    with pytest.raises(RequestRefused) as err:
        p.node_action("n01", "drain")
    assert (status_of(err.value), str(err.value)) == (
        409,
        "n01 is Maintenance: drain needs Running",
    )
    with pytest.raises(RequestRefused) as err:
        p.node_action("n09", "drain")
    assert status_of(err.value) == 404
    with pytest.raises(RequestRefused) as err:
        p.node_action("n01", "reboot")
    assert status_of(err.value) == 404 and "one of: drain, resume" in str(err.value)
    with pytest.raises(RequestRefused) as err:
        p.node_action("n02", "drain", bmc_address="127.0.1.4")
    assert status_of(err.value) == 400
    assert p.operator.node_status("n02").value == "running"  # the bad request changed nothing


def test_replacement_rules(clock: VirtualClock) -> None:
    p = plane(clock)
    node = p.rack.nodes["n03"]
    old = node.spec.serial
    with pytest.raises(RequestRefused) as err:
        p.replace_node("n03")
    assert status_of(err.value) == 409 and "n03 is powered on (running)" in str(err.value)
    with pytest.raises(RequestRefused) as err:
        p.replace_part("n03", "dimm", "A1")
    assert status_of(err.value) == 409 and "not hot-swap" in str(err.value)
    p.replace_part("n03", "fan", "Fan1")  # hot-swap
    node.power_off()
    with pytest.raises(RequestRefused) as err:
        p.replace_node("n03", firmware={"gpu": "1.0"})
    assert status_of(err.value) == 400 and node.spec.serial == old
    with pytest.raises(RequestRefused) as err:
        p.replace_node("n03", serial=p.rack.nodes["n01"].spec.serial)
    assert status_of(err.value) == 409 and node.spec.serial == old
    _, info = p.replace_node("n03", firmware={"bios": "2.20.0"})
    assert info["serial"] == f"{old}-R1" == node.spec.serial
    assert info["firmware"]["bios"] == "2.20.0" and info["firmware"]["bmc"] == "7.00.00.183"
    assert node.firmware["bios"] == "2.20.0"
    assert node.users.by_name("root") is not None and node.users.by_name("admin") is None
    _, again = p.replace_node("n03")
    assert again["serial"] == f"{old}-R2"  # not R1-R2: the base serial is kept
    assert node.state is HostState.OFF


def test_chaos_through_the_plane_is_reproducible(clock: VirtualClock) -> None:
    def run(seed: int) -> list[tuple[str, str, str, float | None]]:
        c = VirtualClock()
        p = plane(c)
        p.start_chaos(seed, 120.0, ["fan", "data-disk", "psu-one"], 2)
        with pytest.raises(RequestRefused) as err:
            p.start_chaos(seed, 120.0, None, 1)
        assert status_of(err.value) == 409
        c.advance(3600)
        p.stop_chaos()
        with pytest.raises(RequestRefused):
            p.stop_chaos()
        count = len(p.faults.records())
        c.advance(3600)
        assert len(p.faults.records()) == count  # stopped: nothing new
        return [(f.kind, f.device, f.part, f.injected_at) for f in p.faults.records()]

    first = run(42)
    assert len(first) >= 5
    assert run(42) == first
    assert run(43) != first


def test_status_rows(clock: VirtualClock) -> None:
    p = plane(clock)
    p.faults.inject("fan", "n02", "Fan3")
    p.faults.inject("switch-psu", "tor-a", "PSU1")
    s = p.status()
    assert [n["name"] for n in s["nodes"]] == ["n01", "n02", "n03", "n04"]
    n02 = s["nodes"][1]
    assert n02["faults"] == ["fan:Fan3"] and n02["host_state"] == "running"
    assert n02["status"] == "running" and n02["bmc_reachable"] and n02["vms"] == 3
    tor_a = s["switches"][0]
    assert (tor_a["name"], tor_a["faults"], tor_a["up"]) == ("tor-a", ["switch-psu:PSU1"], True)
    assert s["now"] == clock.now()


def test_one_status_table_looked_up_through_the_class_hierarchy() -> None:
    """A subclass without a row gets its parent's; a model refusal met while applying a fault
    becomes the fault error of its kind, so its status comes from the class alone."""
    from emulator import errors
    from nodes import errors as model

    class NoSuchTray(errors.UnknownName):
        pass

    class Overheated(model.InvalidState):
        pass

    assert status_of(NoSuchTray("no tray 9")) == 404
    assert status_of(Overheated("too hot")) == 409
    assert status_of(errors.FaultConflict("already")) == 409
    assert status_of(errors.FaultError("bad part")) == 400
    for refusal, status in (
        (model.NotFound("no record"), 404),
        (model.InvalidState("off"), 409),
        (model.NotSupported("no"), 501),
        (model.InvalidArgument("bad"), 400),
        (model.CapacityExceeded("full"), 400),
    ):
        fault = errors.refused_by_model(refusal, f"n01: {refusal}")
        assert isinstance(fault, errors.FaultError) and str(fault) == f"n01: {refusal}"
        assert status_of(fault) == status

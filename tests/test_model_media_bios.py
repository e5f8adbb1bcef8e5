"""Virtual media and BIOS settings in the model, on the virtual clock (no sockets)."""

from __future__ import annotations

import pytest

from nodes.bios import BiosSettingsRejected, Problem
from nodes.clock import VirtualClock
from nodes.errors import InvalidArgument, InvalidState, NotFound
from nodes.events import BiosSettingsApplied, BiosSettingsStaged, Event, VirtualMediaChanged
from nodes.node import BootTarget, Node
from nodes.power import HostState
from nodes.sel import SensorType
from tests.model_helpers import make_node

ISO = "http://10.0.0.5/images/installer.iso"


def run_to(clock: VirtualClock, node: Node, state: HostState, limit: float = 600.0) -> None:
    step = 0.5
    for _ in range(int(limit / step)):
        if node.state is state:
            return
        clock.advance(step)
    raise AssertionError(f"not {state} after {limit} s")


def test_insert_eject_and_events(clock: VirtualClock) -> None:
    events: list[Event] = []
    node = make_node(clock, events)
    node.media.insert("CD", ISO, write_protected=True)
    cd = node.media.slot("CD")
    assert cd.inserted and cd.image == ISO and cd.image_name == "installer.iso"
    assert cd.transfer_protocol == "HTTP"
    assert [e for e in events if isinstance(e, VirtualMediaChanged)][-1].image == ISO
    with pytest.raises(InvalidState):
        node.media.insert("CD", "http://10.0.0.5/other.iso")
    assert node.media.slot("CD").image == ISO  # unchanged
    node.media.eject("CD")
    assert not node.media.slot("CD").attached and not node.media.slot("CD").inserted
    assert node.media.eject("CD") == []  # nothing to eject: no event


@pytest.mark.parametrize(
    "uri",
    ["", "gopher://x/y.iso", "http:///nohost.iso", "http://h/dir/", "http://h/a b.iso", "x" * 2000],
)
def test_bad_image_uris_change_nothing(clock: VirtualClock, uri: str) -> None:
    events: list[Event] = []
    node = make_node(clock, events)
    with pytest.raises(InvalidArgument):
        node.media.insert("CD", uri)
    assert not node.media.slot("CD").attached and events == []
    with pytest.raises(NotFound):
        node.media.insert("FLOPPY", ISO)
    with pytest.raises(InvalidArgument):
        node.media.insert("USB", ISO, transfer_protocol="NFS")


def test_boot_from_virtual_cd_is_a_cdrom_boot_in_the_sel(clock: VirtualClock) -> None:
    node = make_node(clock)
    node.media.insert("CD", ISO)
    node.set_boot_override(BootTarget.CDROM, persistent=False)
    node.power_on()
    run_to(clock, node, HostState.RUNNING)
    assert node.last_boot_device == "cdrom" and node.last_boot_image == ISO
    boot = [r for r in node.sel.records() if r.sensor_type == SensorType.OS_BOOT][-1]
    assert boot.offset == 0x04  # CD-ROM boot completed (IPMI table 42-3)
    assert "installer.iso" in boot.message
    assert not node.boot_override.active  # the one-time override was used


def test_bios_pending_applies_at_the_next_post_only(clock: VirtualClock) -> None:
    events: list[Event] = []
    node = make_node(clock, events)
    node.bios.stage({"ProcVirtualization": "Disabled", "AcPwrRcvryUserDelay": 120})
    assert node.bios.current["ProcVirtualization"] == "Enabled"
    assert node.bios.pending == {"ProcVirtualization": "Disabled", "AcPwrRcvryUserDelay": 120}
    assert isinstance(events[-1], BiosSettingsStaged)
    node.power_on()
    run_to(clock, node, HostState.RUNNING)
    assert node.bios.current["ProcVirtualization"] == "Disabled"
    assert node.bios.current["AcPwrRcvryUserDelay"] == 120
    assert node.bios.pending == {}
    applied = [e for e in events if isinstance(e, BiosSettingsApplied)]
    assert applied and ("ProcVirtualization", "Enabled", "Disabled") in applied[0].changes
    # Staged while running: nothing until the host resets.
    node.bios.reset_defaults()
    clock.advance(60)
    assert node.bios.current["ProcVirtualization"] == "Disabled"
    node.hard_reset()
    assert node.bios.current["ProcVirtualization"] == "Enabled" and node.bios.pending == {}


def test_bios_rejects_all_problems_at_once_and_changes_nothing(clock: VirtualClock) -> None:
    events: list[Event] = []
    node = make_node(clock, events)
    before = node.bios.current
    with pytest.raises(BiosSettingsRejected) as info:
        node.bios.stage(
            {
                "ProcVirtualization": "Disabled",  # fine, but the request is refused as a whole
                "NoSuchThing": "x",
                "SysProfile": "Fastest",
                "AcPwrRcvryUserDelay": 5,
                "NumLock": True,
                "SystemServiceTag": "X",
            }
        )
    problems = {p.name: p.problem for p in info.value.problems}
    assert problems == {
        "NoSuchThing": Problem.UNKNOWN,
        "SysProfile": Problem.NOT_IN_LIST,
        "AcPwrRcvryUserDelay": Problem.OUT_OF_RANGE,
        "NumLock": Problem.WRONG_TYPE,
        "SystemServiceTag": Problem.READ_ONLY,
    }
    assert node.bios.current == before and node.bios.pending == {} and events == []
    assert node.bios.current["SystemServiceTag"] == "SN0001"

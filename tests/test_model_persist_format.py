"""A node snapshot written by an earlier version loads, and the format has not drifted.

``data/node_snapshot_format1.json`` was written by the node model as it was before ``Node``
was split into helpers (commit 7712fc3): a running node with a replaced fan, a persistent PXE
override, the "previous" restore policy, and faults on a DIMM (mapped out), PSU2, Fan1, nic2
and the BMC (volatile).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nodes.clock import VirtualClock
from nodes.events import Event, NodeRestored
from nodes.faults import NodeFault, PartKind
from nodes.node import BootTarget, RestartCause
from nodes.power import HostState
from nodes.sel import SensorType
from nodes.spec import PowerRestorePolicy
from tests.model_helpers import make_node

STORED = Path(__file__).parent / "data" / "node_snapshot_format1.json"


def _stored() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(STORED.read_text())
    return data


def test_a_snapshot_written_before_the_split_restores(clock: VirtualClock) -> None:
    data = _stored()
    clock.advance(data["faults"][-1][2] - clock.now() + 60)
    events: list[Event] = []
    node = make_node(clock, events)
    node.restore(data)

    assert isinstance(events[0], NodeRestored) and events[0].host_was_on is True
    assert str(node.guid) == data["guid"] and node.spec.serial == "SN0001"
    assert node.part_serial(PartKind.FAN, "Fan2") == "SN0001-Fan2-R1"
    # The volatile BMC hang ended with the power loss a restore stands for; the rest came back.
    assert node.active_faults == [
        (NodeFault.DIMM, "A2"),
        (NodeFault.PSU, "PSU2"),
        (NodeFault.FAN, "Fan1"),
        (NodeFault.NIC_PORT, "nic2"),
    ]
    assert (node.failed_dimms, node.failed_psus, node.failed_fans, node.failed_nics) == (
        {"A2"},
        {"PSU2"},
        {"Fan1"},
        {"nic2"},
    )
    assert node.mapped_out_dimms == ("A2",) and node.bmc_answering()
    assert node.power_restore_policy is PowerRestorePolicy.PREVIOUS
    assert node.boot_override.target is BootTarget.PXE and node.boot_override.persistent
    # PSU1 delivers and the host was on: the "previous" policy powers it on again.
    assert node.state is HostState.POWERING_ON
    assert node.restart_cause is RestartCause.RESTORE_PREVIOUS

    again = node.snapshot()
    assert list(again) == list(data)  # the same keys, in the same order
    same = ("name", "serial", "guid", "replacements", "part_serials", "boot_override")
    assert {k: again[k] for k in same} == {k: data[k] for k in same}
    assert again["faults"] == data["faults"][:-1]
    for key in ("users", "firmware", "updates", "bios", "media", "mapped_out_dimms"):
        assert again[key] == data[key], key
    # Every stored SEL record is kept; the restart adds the AC loss (Power Unit, offset 04h).
    kept = again["sel"]["records"][: len(data["sel"]["records"])]
    assert kept == data["sel"]["records"]
    added = again["sel"]["records"][len(data["sel"]["records"])]
    assert (added["sensor_type"], added["event_data"][:2]) == (SensorType.POWER_UNIT, "04")


def test_a_snapshot_of_a_fresh_node_has_the_stored_keys(clock: VirtualClock) -> None:
    snap = make_node(clock).snapshot()
    assert list(snap) == list(_stored())
    assert list(snap["boot_override"]) == list(_stored()["boot_override"])

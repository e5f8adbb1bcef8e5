"""Model events -> Redfish event notices, on the virtual clock (no sockets, no loop): health,
BMC reset, firmware update tasks, BIOS and virtual media; SSE ``$filter`` parsing."""

from __future__ import annotations

import pytest

from bmc.redfish.events import Filters, Notice, Translator, parse_sse_filter, split_message_id
from nodes.clock import VirtualClock
from nodes.events import Event
from nodes.firmware import build_image
from nodes.node import BmcResetKind, Node
from tests.model_helpers import make_node


def notices(clock: VirtualClock) -> tuple[Node, Translator, list[Notice]]:
    out: list[Notice] = []
    holder: list[Translator] = []

    def sink(e: Event) -> None:
        if holder:
            out.extend(holder[0](e))

    node = make_node(clock, sink)
    t = Translator(node)
    t.baseline()
    holder.append(t)
    return node, t, out


def keys(ns: list[Notice]) -> list[str]:
    return [n.key for n in ns]


def test_losing_a_psu_is_a_health_change_and_a_psu_state_change(clock: VirtualClock) -> None:
    node, _, out = notices(clock)
    node.set_psu_input(next(iter(node.psu_input)), False)
    assert "ResourceStatusChangedWarning" in keys(out)
    health = next(n for n in out if n.key == "ResourceStatusChangedWarning")
    assert health.args == ("/redfish/v1/Systems/n01", "Warning")
    psu = next(n for n in out if n.resource_type == "PowerSupply")
    assert psu.key == "ResourceStateChanged" and psu.args[1] == "UnavailableOffline"
    sel = [n for n in out if n.resource_type == "LogEntry"]
    assert sel and all(n.log_entry == n.origin for n in sel)
    out.clear()
    node.set_psu_input(next(iter(node.psu_input)), True)
    assert "ResourceStatusChangedOK" in keys(out)


def test_bmc_reset_is_a_manager_state_change(clock: VirtualClock) -> None:
    node, _, out = notices(clock)
    node.bmc_reset(BmcResetKind.WARM)
    clock.advance(600)
    manager = [n for n in out if n.resource_type == "Manager"]
    assert [n.args for n in manager] == [
        ("/redfish/v1/Managers/bmc", "Starting"),
        ("/redfish/v1/Managers/bmc", "Enabled"),
    ]


def test_a_firmware_update_is_a_task_that_starts_progresses_and_completes(
    clock: VirtualClock,
) -> None:
    node, _, out = notices(clock)
    job = node.start_firmware_update(build_image("nic", "CS-2400", "99.0.0", size=4096))
    clock.advance(3600)
    tasks = [n for n in out if n.prefix == "TaskEvent"]
    assert tasks[0].key == "TaskStarted" and tasks[-1].key == "TaskCompletedOK"
    assert {n.origin for n in tasks} == {f"/redfish/v1/TaskService/Tasks/{job.id}"}
    assert any(n.key == "TaskProgressChanged" for n in tasks)
    assert any(n.resource_type == "SoftwareInventory" for n in out)


def test_bios_and_media_changes_name_their_resources(clock: VirtualClock) -> None:
    node, _, out = notices(clock)
    node.bios.stage({"NumLock": "Off"})
    node.media.insert("USB", "https://10.0.0.1/x.img")
    origins = [n.origin for n in out]
    assert origins == [
        "/redfish/v1/Systems/n01/Bios/Settings",
        "/redfish/v1/Managers/bmc/VirtualMedia/USB",
    ]


def test_filters() -> None:
    n = Notice("ResourceEvent", "ResourcePoweredOn", (), "/redfish/v1/Systems/n01", "X", 0.0)
    mid = "ResourceEvent.1.4.ResourcePoweredOn"
    assert Filters(origins=("/redfish/v1/Systems",), subordinate=True).matches(n, mid)
    assert not Filters(origins=("/redfish/v1/Systems",)).matches(n, mid)
    assert not Filters(origins=("/redfish/v1/Systems/n0",), subordinate=True).matches(n, mid)
    assert Filters(message_ids=frozenset({("ResourceEvent", "ResourcePoweredOn")})).matches(n, mid)
    assert not Filters(registry_prefixes=frozenset({"TaskEvent"})).matches(n, mid)
    f = parse_sse_filter(f"MessageId eq '{mid}' or MessageId eq 'X.Y' and ResourceType eq 'X'")
    assert f.matches(n, mid) and not parse_sse_filter("ResourceType eq 'Y'").matches(n, mid)
    assert split_message_id("Base.1.22.Success") == ("Base", "Success")
    assert split_message_id("Base.Success") == ("Base", "Success")
    assert split_message_id("Base.x.y.Success") is None


@pytest.mark.parametrize("text", ["", "MessageId", "MessageId eq", "Foo eq 'x'", "a or or b"])
def test_bad_sse_filters(text: str) -> None:
    with pytest.raises(ValueError):
        parse_sse_filter(text)

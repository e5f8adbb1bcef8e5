"""The fault catalogue and the injector, on the virtual clock (no sockets).

Every catalogue entry is injected, its effect checked on the models, its events checked on the
bus, and cleared; scheduled faults fire at their virtual time; faults that end by themselves
(BMC and switch reboots), by a replacement or by the model are recorded as such; every bad
request is a FaultError that changes nothing; snapshot/restore keeps records and re-arms what
was scheduled.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator import topology as topo
from emulator.faults import (
    FAULT_KINDS,
    FaultCleared,
    FaultClearPlanned,
    FaultConflict,
    FaultError,
    FaultEvent,
    FaultInjected,
    FaultInjector,
    FaultRecord,
    FaultScheduled,
    drift_version,
)
from emulator.operator.baseline import Baseline
from emulator.rack import Rack
from nodes.clock import VirtualClock
from nodes.errors import ModelError, PowerUnavailable
from nodes.events import (
    BmcReady,
    Event,
    FirmwareChanged,
    PartFaultChanged,
)
from nodes.faults import NodeFault
from nodes.power import HostState
from nodes.sel import SensorType
from nodes.spec import PowerRestorePolicy
from switches.events import SwitchState
from switches.model import SwitchFault

HOURS = 6 * 3600.0
BOOT_S = 400.0  # comfortably longer than any switch boot or host boot in the default timings

# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def rack(clock: VirtualClock) -> Rack:
    r = Rack(topo.default(4), clock)
    for node in r.nodes.values():
        node.power_on()
    clock.advance(300)
    assert all(n.state is HostState.RUNNING for n in r.nodes.values())
    return r


@pytest.fixture
def faults(rack: Rack) -> FaultInjector:
    return FaultInjector(rack)


@pytest.fixture
def seen(rack: Rack) -> list[Event]:
    out: list[Event] = []
    rack.bus.subscribe(out.append)
    return out


def fault_events(seen: list[Event]) -> list[FaultEvent]:
    return [e for e in seen if isinstance(e, FaultEvent)]


def fingerprint(rack: Rack, faults: FaultInjector) -> str:
    """Everything a refused request must leave as it was."""
    state: dict[str, Any] = {
        "nodes": {
            name: {
                "state": n.state.value,
                "faults": [[f.value, t] for f, t in n.active_faults],
                "psu_input": n.psu_input,
                "firmware": n.firmware,
                "bmc": n.bmc_answering(),
                "sel": len(n.sel),
            }
            for name, n in rack.nodes.items()
        },
        "switches": {
            name: {
                "state": s.state.value,
                "faults": [[f.value, t] for f, t in s.active_faults],
                "provisioned": s.provisioned,
                "saved": s.saved_config(),
            }
            for name, s in rack.switches.items()
        },
        "pulled": rack.pulled_cables,
        "faults": faults.snapshot(),
    }
    return json.dumps(state, sort_keys=True)


# -- the catalogue -------------------------------------------------------------------------------


def test_the_catalogue_has_every_documented_fault_with_a_one_line_summary() -> None:
    node = {
        "psu-one",
        "psu-both",
        "fan",
        "dimm-ue",
        "data-disk",
        "boot-drive-one",
        "boot-drive-both",
        "nic-port",
        "os-hang",
        "ac-loss",
        "bmc-hang",
        "bmc-reboot",
        "bmc-factory-reset",
        "cable-bmc",
        "cable-nic",
        "firmware-drift",
    }
    switch = {
        "switch-power",
        "switch-psu",
        "switch-fan",
        "switch-port",
        "switch-reboot",
        "switch-config-loss",
        "switch-os-drift",
    }
    assert set(FAULT_KINDS) == node | switch
    for name, kind in FAULT_KINDS.items():
        assert kind.name == name
        assert kind.scope == ("node" if name in node else "switch")
        assert kind.summary and "\n" not in kind.summary and len(kind.summary) < 200
    assert FAULT_KINDS["psu-one"].part == "psu"
    assert FAULT_KINDS["firmware-drift"].part == "firmware"
    assert FAULT_KINDS["switch-port"].part == "port"
    assert FAULT_KINDS["psu-both"].part is None


@pytest.mark.parametrize(
    ("version", "drifted"),
    [
        ("2.27.0", "2.26.0"),
        ("7.00.00.184", "7.00.00.183"),
        ("14.32.21.04", "14.32.21.03"),
        ("16.17.01.00", "16.17.00.00"),
        ("1.1.4", "1.1.3"),
        ("0.0", "0.0-oem"),
        ("A10", "A09"),
    ],
)
def test_drift_version_decrements_the_last_nonzero_number(version: str, drifted: str) -> None:
    assert drift_version(version) == drifted


# -- every kind: inject, the model's state, the events, clear -------------------------------------


def sel_types(rack: Rack, node: str) -> list[int]:
    return [r.sensor_type for r in rack.nodes[node].sel.records()]


def test_psu_one_loses_redundancy_and_the_node_stays_up(
    rack: Rack, faults: FaultInjector, seen: list[Event], clock: VirtualClock
) -> None:
    n02 = rack.nodes["n02"]
    before = len(n02.sel)
    record = faults.inject("psu-one", "n02")
    assert (record.kind, record.device, record.part, record.state) == (
        "psu-one",
        "n02",
        "PSU1",
        "active",
    )
    assert record.injected_at == clock.now() and record.id == "f-0001"
    assert n02.active_faults == [(NodeFault.PSU, "PSU1")]
    assert n02.state is HostState.RUNNING
    new_sel = n02.sel.records()[before:]
    assert any(r.sensor_type == SensorType.POWER_SUPPLY for r in new_sel)
    # The model's events come first, then FaultInjected with the record already active.
    kinds = [type(e) for e in seen]
    assert kinds.index(PartFaultChanged) < kinds.index(FaultInjected)
    injected = fault_events(seen)
    assert [type(e) for e in injected] == [FaultInjected]
    assert injected[0].device == "n02" and injected[0].fault_id == record.id
    assert injected[0].part == "PSU1" and injected[0].at == clock.now()

    cleared = faults.clear(record.id)
    assert cleared.state == "cleared" and cleared.cleared_by == "operator"
    assert n02.active_faults == [] and n02.state is HostState.RUNNING
    assert isinstance(seen[-1], FaultCleared) and seen[-1].by == "operator"
    assert faults.records(active_only=True) == []
    assert [r.id for r in faults.records()] == [record.id]


def test_psu_one_names_the_second_psu(rack: Rack, faults: FaultInjector) -> None:
    faults.inject("psu-one", "n03", "PSU2")
    assert rack.nodes["n03"].active_faults == [(NodeFault.PSU, "PSU2")]
    # The other PSU can fail on its own too: the node then has none left.
    faults.inject("psu-one", "n03", "PSU1")
    assert rack.nodes["n03"].state is HostState.OFF


def test_psu_both_powers_the_node_off_and_refuses_power_on(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    n02 = rack.nodes["n02"]
    record = faults.inject("psu-both", "n02")
    assert record.part == ""
    assert sorted(n02.active_faults) == [(NodeFault.PSU, "PSU1"), (NodeFault.PSU, "PSU2")]
    assert n02.state is HostState.OFF
    with pytest.raises(PowerUnavailable):
        n02.power_on()
    # Its ToR ports lose link, and the fabric has no data path for it.
    assert not rack.fabric.nic_link_up("n02", "nic1")
    assert rack.fabric.data_path("n02") == ()
    faults.clear(record.id)
    assert n02.active_faults == []
    n02.power_on()
    clock.advance(BOOT_S)
    assert n02.state is HostState.RUNNING


def test_fan_reads_zero_and_temperatures_climb(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    n01 = rack.nodes["n01"]
    record = faults.inject("fan", "n01", "Fan3")
    assert n01.active_faults == [(NodeFault.FAN, "Fan3")]
    fan = next(r for r in n01.readings() if r.sensor.part == "Fan3")
    assert fan.value == 0.0
    cpu_before = next(r for r in n01.readings() if r.sensor.part == "CPU1").value
    clock.advance(600)
    cpu_after = next(r for r in n01.readings() if r.sensor.part == "CPU1").value
    assert cpu_before is not None and cpu_after is not None and cpu_after > cpu_before
    faults.clear(record.id)
    fan = next(r for r in n01.readings() if r.sensor.part == "Fan3")
    assert fan.value is not None and fan.value > 0


def test_dimm_ue_crashes_the_host(rack: Rack, faults: FaultInjector) -> None:
    n01 = rack.nodes["n01"]
    record = faults.inject("dimm-ue", "n01", "A3")
    assert n01.active_faults == [(NodeFault.DIMM, "A3")]
    assert not n01.os_responsive
    assert SensorType.MEMORY in sel_types(rack, "n01")
    assert not rack.fabric.workload_answering("n01")
    faults.clear(record.id)
    assert n01.active_faults == []


def test_data_disk_fails_the_drive(rack: Rack, faults: FaultInjector) -> None:
    n01 = rack.nodes["n01"]
    record = faults.inject("data-disk", "n01", "Disk.4")
    assert n01.active_faults == [(NodeFault.DATA_DISK, "Disk.4")]
    assert n01.state is HostState.RUNNING
    assert SensorType.DRIVE_SLOT in sel_types(rack, "n01")
    faults.clear(record.id)
    assert n01.active_faults == []


def test_boot_drive_one_degrades_and_both_stop_the_boot(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    n01 = rack.nodes["n01"]
    one = faults.inject("boot-drive-one", "n01")
    assert one.part == "BOSS.1"
    assert n01.active_faults == [(NodeFault.BOOT_DRIVE, "BOSS.1")]
    assert n01.state is HostState.RUNNING and n01.os_responsive
    faults.clear(one.id)

    both = faults.inject("boot-drive-both", "n01")
    assert sorted(n01.active_faults) == [
        (NodeFault.BOOT_DRIVE, "BOSS.1"),
        (NodeFault.BOOT_DRIVE, "BOSS.2"),
    ]
    assert not n01.os_responsive
    n01.power_cycle()
    clock.advance(BOOT_S)
    assert n01.state is not HostState.RUNNING  # no bootable device
    faults.clear(both.id)
    assert n01.active_faults == []


def test_nic_port_takes_the_link_down_at_both_ends(rack: Rack, faults: FaultInjector) -> None:
    record = faults.inject("nic-port", "n02", "nic2")
    assert rack.nodes["n02"].active_faults == [(NodeFault.NIC_PORT, "nic2")]
    assert not rack.fabric.nic_link_up("n02", "nic2")
    assert rack.fabric.nic_link_up("n02", "nic1")
    assert rack.fabric.data_path("n02") == ("tor-a",)
    faults.clear(record.id)
    assert rack.fabric.data_path("n02") == ("tor-a", "tor-b")


def test_os_hang_keeps_power_and_silences_the_host(rack: Rack, faults: FaultInjector) -> None:
    n01 = rack.nodes["n01"]
    record = faults.inject("os-hang", "n01")
    assert record.part == ""
    assert n01.active_faults == [(NodeFault.OS_HANG, "")]
    assert n01.state is HostState.RUNNING and not n01.os_responsive
    assert not rack.fabric.workload_answering("n01")
    assert rack.fabric.bmc_answering("n01")
    faults.clear(record.id)
    assert n01.os_responsive


def test_os_hang_ends_with_a_reset_and_is_recorded_as_ended_by_itself(
    rack: Rack, faults: FaultInjector, seen: list[Event]
) -> None:
    record = faults.inject("os-hang", "n01")
    rack.nodes["n01"].hard_reset()
    after = faults.get(record.id)
    assert after.state == "cleared" and after.cleared_by == "self"
    assert [e.by for e in fault_events(seen) if isinstance(e, FaultCleared)] == ["self"]


@pytest.mark.parametrize(
    ("policy", "back_on"),
    [
        (PowerRestorePolicy.ALWAYS_OFF, False),
        (PowerRestorePolicy.PREVIOUS, True),
        (PowerRestorePolicy.ALWAYS_ON, True),
    ],
)
def test_ac_loss_then_the_power_restore_policy_decides(
    rack: Rack,
    faults: FaultInjector,
    clock: VirtualClock,
    policy: PowerRestorePolicy,
    back_on: bool,
) -> None:
    n03 = rack.nodes["n03"]
    n03.set_power_restore_policy(policy)
    record = faults.inject("ac-loss", "n03")
    assert n03.psu_input == {"PSU1": False, "PSU2": False}
    assert n03.state is HostState.OFF
    assert n03.active_faults == []  # the PSUs are fine, their feed is not
    faults.clear(record.id)
    assert n03.psu_input == {"PSU1": True, "PSU2": True}
    clock.advance(BOOT_S)
    assert (n03.state is HostState.RUNNING) is back_on


def test_bmc_hang_silences_the_bmc_and_the_host_runs(rack: Rack, faults: FaultInjector) -> None:
    record = faults.inject("bmc-hang", "n04")
    n04 = rack.nodes["n04"]
    assert n04.active_faults == [(NodeFault.BMC_HANG, "")]
    assert not n04.bmc_answering() and not rack.fabric.bmc_answering("n04")
    assert n04.state is HostState.RUNNING
    faults.clear(record.id)
    assert rack.fabric.bmc_answering("n04")


def test_bmc_hang_ends_with_an_ac_cycle(rack: Rack, faults: FaultInjector) -> None:
    hang = faults.inject("bmc-hang", "n04")
    loss = faults.inject("ac-loss", "n04")
    faults.clear(loss.id)
    assert faults.get(hang.id).state == "cleared"
    assert faults.get(hang.id).cleared_by == "self"
    assert rack.nodes["n04"].bmc_answering()


def test_bmc_reboot_ends_by_itself_when_the_bmc_is_back(
    rack: Rack, faults: FaultInjector, clock: VirtualClock, seen: list[Event]
) -> None:
    n02 = rack.nodes["n02"]
    record = faults.inject("bmc-reboot", "n02")
    assert not n02.bmc_answering() and n02.state is HostState.RUNNING
    with pytest.raises(FaultError, match="ends by itself"):
        faults.clear(record.id)
    assert faults.get(record.id).state == "active"
    clock.advance(rack.topology.timings.bmc_cold_reset_s + 0.001)
    after = faults.get(record.id)
    assert (after.state, after.cleared_by) == ("cleared", "self")
    assert after.cleared_at == pytest.approx(
        record.injected_at + rack.topology.timings.bmc_cold_reset_s  # type: ignore[operator]
    )
    ready = [e for e in seen if isinstance(e, BmcReady)]
    ended = [e for e in seen if isinstance(e, FaultCleared)]
    assert len(ready) == len(ended) == 1 and ready[0].at == ended[0].at


def test_cable_bmc_is_pulled_and_plugged_back(rack: Rack, faults: FaultInjector) -> None:
    record = faults.inject("cable-bmc", "n02")
    assert rack.pulled_cables == ["n02:bmc"]
    assert not rack.fabric.bmc_path_up("n02")
    assert rack.fabric.workload_answering("n02")
    faults.clear(record.id)
    assert rack.pulled_cables == [] and rack.fabric.bmc_path_up("n02")


def test_cable_nic_pulls_the_first_nic_unless_named(rack: Rack, faults: FaultInjector) -> None:
    first = faults.inject("cable-nic", "n02")
    assert first.part == "nic1" and rack.pulled_cables == ["n02:nic1"]
    second = faults.inject("cable-nic", "n02", "nic2")
    assert rack.pulled_cables == ["n02:nic1", "n02:nic2"]
    assert rack.fabric.data_path("n02") == ()
    faults.clear(first.id)
    faults.clear(second.id)
    assert rack.fabric.data_path("n02") == ("tor-a", "tor-b")


def test_a_cable_plugged_back_by_other_means_ends_the_fault(
    rack: Rack, faults: FaultInjector
) -> None:
    record = faults.inject("cable-nic", "n01", "nic2")
    rack.plug_cable(rack.links.get("n01:nic2") or "n01:nic2")
    assert faults.get(record.id).state == "cleared"
    assert faults.get(record.id).cleared_by == "self"


def test_switch_power_darkens_the_switch_and_clear_boots_it(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    tor_a = rack.switches["tor-a"]
    record = faults.inject("switch-power", "tor-a")
    assert tor_a.active_faults == [(SwitchFault.POWER, "")]
    assert tor_a.state is SwitchState.OFF
    assert rack.fabric.data_path("n01") == ("tor-b",)
    faults.clear(record.id)
    clock.advance(BOOT_S)
    assert tor_a.state is SwitchState.UP and tor_a.active_faults == []
    assert rack.fabric.data_path("n01") == ("tor-a", "tor-b")


@pytest.mark.parametrize(
    ("kind", "part", "fault"),
    [
        ("switch-psu", "PSU2", SwitchFault.PSU),
        ("switch-fan", "Fan2", SwitchFault.FAN),
    ],
)
def test_switch_psu_and_fan_leave_the_switch_up(
    rack: Rack, faults: FaultInjector, kind: str, part: str, fault: SwitchFault
) -> None:
    bmc = rack.switches["bmc-switch"]
    record = faults.inject(kind, "bmc-switch", part)
    assert bmc.active_faults == [(fault, part)]
    assert bmc.state is SwitchState.UP
    faults.clear(record.id)
    assert bmc.active_faults == []


def test_switch_port_defaults_to_the_first_cabled_port(rack: Rack, faults: FaultInjector) -> None:
    tor_b = rack.switches["tor-b"]
    first_cabled = next(p for p in tor_b.ports.values() if p.peer)
    record = faults.inject("switch-port", "tor-b")
    assert record.part == first_cabled.name
    assert tor_b.active_faults == [(SwitchFault.PORT, first_cabled.name)]
    assert not first_cabled.oper_up
    faults.clear(record.id)
    assert first_cabled.oper_up


def test_switch_reboot_ends_by_itself_when_booted(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    tor_b = rack.switches["tor-b"]
    record = faults.inject("switch-reboot", "tor-b")
    assert tor_b.state is SwitchState.BOOTING
    with pytest.raises(FaultError, match="ends by itself"):
        faults.clear(record.id)
    clock.advance(tor_b.spec.boot_s + 0.001)
    assert tor_b.state is SwitchState.UP
    after = faults.get(record.id)
    assert (after.state, after.cleared_by) == ("cleared", "self")


def test_switch_config_loss_then_the_backup_is_loaded_and_saved(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    tor_a = rack.switches["tor-a"]
    deployed = tor_a.saved_config()
    record = faults.inject("switch-config-loss", "tor-a")
    assert not tor_a.provisioned and tor_a.state is SwitchState.BOOTING
    assert "Factory default" in tor_a.saved_config()
    # While it boots, the backup cannot be loaded: refused, nothing changed.
    with pytest.raises(FaultError, match="not up"):
        faults.clear(record.id)
    assert faults.get(record.id).state == "active"
    clock.advance(tor_a.spec.boot_s + 0.001)
    assert not rack.fabric.management_path_up("tor-a")
    assert rack.fabric.data_path("n01") == ("tor-b",)
    faults.clear(record.id)
    assert tor_a.provisioned and tor_a.saved_config() == deployed
    assert rack.fabric.management_path_up("tor-a")
    assert rack.fabric.data_path("n01") == ("tor-a", "tor-b")


def test_switch_config_loss_ends_when_a_backup_is_loaded_by_other_means(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    tor_a = rack.switches["tor-a"]
    backup = tor_a.saved_config()
    record = faults.inject("switch-config-loss", "tor-a")
    clock.advance(tor_a.spec.boot_s + 0.001)
    tor_a.load_config(backup)
    assert faults.get(record.id).cleared_by == "self"


def test_firmware_drift_changes_the_version_and_the_baseline_sees_it(
    rack: Rack, faults: FaultInjector, seen: list[Event]
) -> None:
    n02 = rack.nodes["n02"]
    baseline = Baseline.from_topology(rack.topology)
    assert baseline.drift(n02.firmware) == []
    record = faults.inject("firmware-drift", "n02", "bios")
    assert record.version == "2.26.0" and n02.firmware["bios"] == "2.26.0"
    changed = [e for e in seen if isinstance(e, FirmwareChanged)]
    assert [(e.device, e.component, e.old, e.new) for e in changed] == [
        ("n02", "bios", "2.27.0", "2.26.0")
    ]
    assert [d.component for d in baseline.drift(n02.firmware)] == ["bios"]
    assert any(c.id == "bios" and c.version == "2.26.0" for c in n02.firmware_inventory())
    faults.clear(record.id)
    assert n02.firmware["bios"] == "2.27.0" and baseline.drift(n02.firmware) == []


def test_firmware_drift_to_a_given_version(rack: Rack, faults: FaultInjector) -> None:
    record = faults.inject("firmware-drift", "n01", "bmc", version="6.10.30.00")
    assert rack.nodes["n01"].firmware["bmc"] == "6.10.30.00" and record.version == "6.10.30.00"


def test_switch_os_drift_is_ended_by_the_documented_os_update(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    from nodes.firmware import build_image

    tor_a = rack.switches["tor-a"]
    good = tor_a.os_version
    record = faults.inject("switch-os-drift", "tor-a")
    assert record.version != good and tor_a.os_version == record.version
    with pytest.raises(FaultConflict):
        faults.inject("switch-os-drift", "tor-a", version=record.version)
    with pytest.raises(FaultError, match="should run"):
        faults.inject("switch-os-drift", "tor-b", version=rack.switches["tor-b"].os_version)
    # install to standby, boot standby, reload: the documented update ends it
    tor_a.install_image(build_image("switch-os", tor_a.spec.model, good, size=4096), "test")
    clock.advance(tor_a.spec.install_s + 1)
    tor_a.boot_system("standby")
    tor_a.reboot()
    clock.advance(tor_a.spec.boot_s + 1)
    assert tor_a.os_version == good
    ended = faults.get(record.id)
    assert (ended.state, ended.cleared_by) == ("cleared", "update")


def test_switch_os_drift_clear_puts_the_version_back(rack: Rack, faults: FaultInjector) -> None:
    tor_b = rack.switches["tor-b"]
    good = tor_b.os_version
    record = faults.inject("switch-os-drift", "tor-b", version="10.5.9.9")
    assert tor_b.os_version == "10.5.9.9"
    faults.clear(record.id)
    assert tor_b.os_version == good


# -- scheduling ---------------------------------------------------------------------------------


def test_a_scheduled_fault_fires_at_its_virtual_time(
    rack: Rack, faults: FaultInjector, clock: VirtualClock, seen: list[Event]
) -> None:
    at = clock.now() + 120.0
    record = faults.inject("psu-both", "n02", at=at)
    assert (record.state, record.scheduled_for, record.injected_at) == ("scheduled", at, None)
    scheduled = fault_events(seen)
    assert len(scheduled) == 1 and isinstance(scheduled[0], FaultScheduled)
    assert scheduled[0].when == at and scheduled[0].at == clock.now()
    clock.advance(119.9)
    assert rack.nodes["n02"].state is HostState.RUNNING
    assert faults.get(record.id).state == "scheduled"
    clock.advance(0.2)
    fired = faults.get(record.id)
    assert fired.state == "active" and fired.injected_at == at
    assert rack.nodes["n02"].state is HostState.OFF
    assert isinstance(fault_events(seen)[-1], FaultInjected)


def test_at_now_injects_at_once_and_a_delay_is_now_plus_it(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    assert faults.inject("fan", "n01", at=clock.now()).state == "active"
    later = faults.inject("fan", "n01", "Fan2", at=clock.now() + 5)
    clock.advance(5)
    assert faults.get(later.id).state == "active"


def test_a_scheduled_fault_cleared_before_its_time_never_fires(
    rack: Rack, faults: FaultInjector, clock: VirtualClock, seen: list[Event]
) -> None:
    record = faults.inject("switch-power", "tor-b", at=clock.now() + 60)
    cancelled = faults.clear(record.id)
    assert (cancelled.state, cancelled.cleared_by, cancelled.injected_at) == (
        "cleared",
        "operator",
        None,
    )
    clock.advance(120)
    assert rack.switches["tor-b"].state is SwitchState.UP
    assert [type(e) for e in fault_events(seen)] == [FaultScheduled, FaultCleared]


def test_a_scheduled_fault_that_cannot_be_injected_when_due_is_skipped(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    record = faults.inject("os-hang", "n01", at=clock.now() + 30)
    rack.nodes["n01"].power_off()
    clock.advance(31)
    after = faults.get(record.id)
    assert (after.state, after.cleared_by) == ("cleared", "skipped")
    assert after.detail.startswith("not injected:") and "not running" in after.detail
    assert rack.nodes["n01"].active_faults == []


# -- bad requests: FaultError, nothing changed --------------------------------------------------

BAD: list[tuple[str, Callable[[FaultInjector, float], object], str]] = [
    ("unknown kind", lambda f, now: f.inject("psu-bth", "n02"), "did you mean 'psu-both'"),
    ("unknown device", lambda f, now: f.inject("fan", "n9"), "no device 'n9'"),
    ("switch kind on a node", lambda f, now: f.inject("switch-power", "n01"), "switch fault"),
    ("node kind on a switch", lambda f, now: f.inject("psu-one", "tor-a"), "node fault"),
    ("unknown part", lambda f, now: f.inject("psu-one", "n01", "PSU3"), "valid: PSU1, PSU2"),
    ("unknown fan", lambda f, now: f.inject("fan", "n01", "Fan9"), "did you mean"),
    ("unknown port", lambda f, now: f.inject("switch-port", "tor-a", "eth9"), "no port"),
    ("part where none", lambda f, now: f.inject("psu-both", "n01", "PSU1"), "takes no part"),
    ("version elsewhere", lambda f, now: f.inject("fan", "n01", version="1.0"), "firmware-drift"),
    (
        "bad version",
        lambda f, now: f.inject("firmware-drift", "n01", "bios", version="2.0 beta"),
        "not a firmware version",
    ),
    (
        "baseline version",
        lambda f, now: f.inject("firmware-drift", "n01", "bios", version="2.27.0"),
        "baseline",
    ),
    (
        "unknown component",
        lambda f, now: f.inject("firmware-drift", "n01", "gpu"),
        "valid: bios, bmc",
    ),
    ("in the past", lambda f, now: f.inject("fan", "n01", at=now - 1), "in the past"),
    ("not a time", lambda f, now: f.inject("fan", "n01", at=float("nan")), "finite"),
    ("unknown id", lambda f, now: f.clear("f-0999"), "no fault 'f-0999'"),
    ("device not a name", lambda f, now: f.inject("fan", ["n01"]), "not \\['n01'\\]"),  # type: ignore[arg-type]
    ("part not a name", lambda f, now: f.inject("fan", "n01", 3), "not 3"),  # type: ignore[arg-type]
    ("kind not a name", lambda f, now: f.inject(["fan"], "n01"), "unknown fault kind"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("what", "call", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_request_is_a_fault_error_and_changes_nothing(
    rack: Rack,
    faults: FaultInjector,
    clock: VirtualClock,
    seen: list[Event],
    what: str,
    call: Callable[[FaultInjector, float], object],
    message: str,
) -> None:
    faults.inject("fan", "n04", "Fan6")  # something already there, kept as it is
    before = fingerprint(rack, faults)
    count = len(seen)
    with pytest.raises(FaultError, match=message.replace("(", r"\(")):
        call(faults, clock.now())
    assert fingerprint(rack, faults) == before
    assert len(seen) == count


CONFLICTS: list[tuple[str, list[tuple[str, str, str | None]], tuple[str, str, str | None], str]] = [
    ("same psu twice", [("psu-one", "n02", "PSU1")], ("psu-one", "n02", "PSU1"), "already has"),
    ("both after one", [("psu-one", "n02", "PSU2")], ("psu-both", "n02", None), "already has"),
    ("one after both", [("psu-both", "n02", None)], ("psu-one", "n02", "PSU2"), "already has"),
    ("boot both", [("boot-drive-one", "n02", "BOSS.2")], ("boot-drive-both", "n02", None), "f-"),
    ("ac twice", [("ac-loss", "n02", None)], ("ac-loss", "n02", None), "already has ac-loss"),
    ("cable twice", [("cable-nic", "n02", "nic2")], ("cable-nic", "n02", "nic2"), "already"),
    ("bmc cable", [("cable-bmc", "n02", None)], ("cable-bmc", "n02", None), "already"),
    ("drift twice", [("firmware-drift", "n02", "nic")], ("firmware-drift", "n02", "nic"), "f-"),
    ("switch twice", [("switch-port", "tor-a", None)], ("switch-port", "tor-a", None), "already"),
    ("os-hang when off", [("ac-loss", "n03", None)], ("os-hang", "n03", None), "not running"),
    ("reboot when off", [("switch-power", "tor-a", None)], ("switch-reboot", "tor-a", None), "off"),
    ("reboot a hung bmc", [("bmc-hang", "n01", None)], ("bmc-reboot", "n01", None), "not up"),
]


@pytest.mark.parametrize(
    ("what", "first", "second", "message"), CONFLICTS, ids=[c[0] for c in CONFLICTS]
)
def test_a_fault_already_there_is_refused_and_nothing_changes(
    rack: Rack,
    faults: FaultInjector,
    seen: list[Event],
    what: str,
    first: list[tuple[str, str, str | None]],
    second: tuple[str, str, str | None],
    message: str,
) -> None:
    for kind, device, part in first:
        faults.inject(kind, device, part)
    before = fingerprint(rack, faults)
    count = len(seen)
    with pytest.raises(FaultError, match=message):
        faults.inject(*second)
    assert fingerprint(rack, faults) == before and len(seen) == count


def test_the_same_fault_already_active_or_scheduled_is_a_conflict(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    active = faults.inject("fan", "n01", "Fan2")
    later = faults.inject("fan", "n02", "Fan1", at=clock.now() + 600)
    before = fingerprint(rack, faults)
    with pytest.raises(FaultConflict, match=f"already has fan on Fan2 \\({active.id}\\)"):
        faults.inject("fan", "n01", "Fan2")
    for when in (None, clock.now() + 60):
        with pytest.raises(FaultConflict, match=f"scheduled at .* \\({later.id}\\): clear it"):
            faults.inject("fan", "n02", "Fan1", at=when)
    with pytest.raises(FaultConflict):
        faults.check("fan", "n02", "Fan1")
    assert fingerprint(rack, faults) == before
    # A bad value is not a conflict; a cancelled schedule frees the part.
    with pytest.raises(FaultError) as bad:
        faults.inject("fan", "n02", "Fan9")
    assert not isinstance(bad.value, FaultConflict)
    faults.clear(later.id)
    with pytest.raises(FaultConflict, match="already ended"):
        faults.clear(later.id)
    assert faults.inject("fan", "n02", "Fan1").state == "active"


def test_a_fault_put_on_the_model_by_other_means_is_refused(
    rack: Rack, faults: FaultInjector
) -> None:
    rack.nodes["n01"].inject_fault(NodeFault.FAN, "Fan2")
    with pytest.raises(FaultError, match="already has a fan fault on Fan2"):
        faults.inject("fan", "n01", "Fan2")
    assert faults.records() == []


def test_clearing_twice_is_refused(rack: Rack, faults: FaultInjector) -> None:
    record = faults.inject("fan", "n01")
    faults.clear(record.id)
    before = fingerprint(rack, faults)
    with pytest.raises(FaultError, match="already ended"):
        faults.clear(record.id)
    assert fingerprint(rack, faults) == before


# -- ended by a replacement ---------------------------------------------------------------------


def test_replacing_the_faulty_part_ends_the_fault(
    rack: Rack, faults: FaultInjector, seen: list[Event]
) -> None:
    record = faults.inject("psu-one", "n02", "PSU2")
    other = faults.inject("fan", "n02", "Fan1")
    rack.nodes["n02"].replace_part("psu", "PSU2")
    after = faults.get(record.id)
    assert (after.state, after.cleared_by) == ("cleared", "replacement")
    assert faults.get(other.id).state == "active"
    assert [e.by for e in fault_events(seen) if isinstance(e, FaultCleared)] == ["replacement"]


def test_psu_both_ends_when_both_psus_are_replaced(rack: Rack, faults: FaultInjector) -> None:
    record = faults.inject("psu-both", "n02")
    n02 = rack.nodes["n02"]
    n02.replace_part("psu", "PSU1")
    assert faults.get(record.id).state == "active"  # PSU2 has still failed
    assert n02.active_faults == [(NodeFault.PSU, "PSU2")]
    n02.replace_part("psu", "PSU2")
    assert faults.get(record.id).cleared_by == "replacement"


def test_a_partly_replaced_psu_both_clears_what_is_left(rack: Rack, faults: FaultInjector) -> None:
    record = faults.inject("psu-both", "n02")
    rack.nodes["n02"].replace_part("psu", "PSU1")
    faults.clear(record.id)
    assert rack.nodes["n02"].active_faults == []


def test_a_replacement_node_ends_every_fault_it_had(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    kept = faults.inject("cable-bmc", "n02")  # the rack's cable, not the node's
    ended = [
        faults.inject("psu-one", "n02"),
        faults.inject("bmc-hang", "n02"),
        faults.inject("firmware-drift", "n02", "nic"),
    ]
    other = faults.inject("fan", "n01")
    n02 = rack.nodes["n02"]
    n02.replace(
        "SNREPL01",
        username="root",
        password="calvin",
        firmware={**rack.topology.node("n02").firmware.model_dump(), "bios": "2.10.0"},
    )
    for record in ended:
        after = faults.get(record.id)
        assert (after.state, after.cleared_by) == ("cleared", "replacement"), record.kind
    assert faults.get(kept.id).state == "active"
    assert faults.get(other.id).state == "active"


def test_a_replacement_node_ends_a_drift_even_at_the_same_factory_version(
    rack: Rack, faults: FaultInjector
) -> None:
    drift = faults.inject("firmware-drift", "n02", "bios")  # 2.26.0, one behind
    rack.nodes["n02"].power_off()
    rack.nodes["n02"].replace(
        "SNREPL02",
        username="root",
        password="calvin",
        firmware={**rack.topology.node("n02").firmware.model_dump(), "bios": "2.26.0"},
    )
    assert rack.nodes["n02"].firmware["bios"] == "2.26.0"
    assert faults.get(drift.id).cleared_by == "replacement"


def test_a_replacement_switch_ends_its_faults_and_its_config_loss(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    tor_a = rack.switches["tor-a"]
    port = faults.inject("switch-port", "tor-a")
    fan = faults.inject("switch-fan", "tor-a")
    loss = faults.inject("switch-config-loss", "tor-a")
    clock.advance(tor_a.spec.boot_s + 1)
    tor_a.replace("SWREPL01")
    for record in (port, fan, loss):
        after = faults.get(record.id)
        assert (after.state, after.cleared_by) == ("cleared", "replacement"), record.kind
    clock.advance(1)
    assert all(faults.get(r.id).cleared_by == "replacement" for r in (port, fan, loss))


def test_a_firmware_update_to_another_version_ends_the_drift(
    rack: Rack, faults: FaultInjector, seen: list[Event]
) -> None:
    record = faults.inject("firmware-drift", "n01", "cpld")
    n01 = rack.nodes["n01"]
    # What an update job does when it activates (nodes.firmware's FirmwareChanged with its job).
    n01.firmware["cpld"] = "1.1.4"
    rack.bus(
        FirmwareChanged(
            device="n01", at=0.0, component="cpld", old="1.1.3", new="1.1.4", job_id="JID_1"
        )
    )
    assert faults.get(record.id).cleared_by == "update"


def test_events_of_other_devices_and_parts_leave_records_alone(
    rack: Rack, faults: FaultInjector
) -> None:
    record = faults.inject("psu-one", "n02", "PSU1")
    rack.nodes["n02"].replace_part("psu", "PSU2")
    rack.nodes["n01"].replace_part("psu", "PSU1")
    rack.nodes["n01"].set_psu_input("PSU1", False)
    rack.nodes["n02"].set_psu_input("PSU2", False)
    rack.nodes["n02"].set_psu_input("PSU2", True)
    assert faults.get(record.id).state == "active"


# -- snapshot and restore -----------------------------------------------------------------------


def test_snapshot_restore_keeps_records_and_rearms_scheduled_faults(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    active = faults.inject("psu-one", "n02")
    drift = faults.inject("firmware-drift", "n03", "bios")
    done = faults.inject("fan", "n01")
    faults.clear(done.id)
    reboot = faults.inject("bmc-reboot", "n04")
    later = faults.inject("switch-port", "tor-b", at=clock.now() + 600)
    data = json.loads(json.dumps(faults.snapshot()))  # JSON-safe

    # A restarted emulator: a fresh rack on the same clock, the models restored first.
    fresh = Rack(topo.default(4), clock)
    for name, node in rack.nodes.items():
        fresh.nodes[name].restore(json.loads(json.dumps(node.snapshot())))
    restored = FaultInjector(fresh)
    seen: list[Event] = []
    fresh.bus.subscribe(seen.append)
    restored.restore(data)
    by_id = {r.id: r for r in restored.records()}
    assert by_id[active.id].state == "active" and by_id[drift.id].state == "active"
    assert by_id[done.id].cleared_by == "operator"
    # A BMC reboot under way at the restart is over: the BMC is up.
    assert (by_id[reboot.id].state, by_id[reboot.id].cleared_by) == ("cleared", "self")
    assert by_id[later.id].state == "scheduled"
    assert [(type(e), e.fault_id) for e in seen if isinstance(e, FaultEvent)] == [
        (FaultCleared, reboot.id)
    ]
    # New ids continue after the old ones; clearing a restored fault undoes it on the model.
    assert restored.inject("fan", "n01").id == "f-0006"
    restored.clear(drift.id)
    assert fresh.nodes["n03"].firmware["bios"] == "2.27.0"
    restored.clear(active.id)
    assert fresh.nodes["n02"].active_faults == []
    clock.advance(600)
    assert restored.get(later.id).state == "active"
    assert fresh.switches["tor-b"].active_faults == [
        (SwitchFault.PORT, restored.get(later.id).part)
    ]


def test_a_scheduled_fault_already_due_at_restore_fires_at_once(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    record = faults.inject("fan", "n01", at=clock.now() + 10)
    data = faults.snapshot()
    clock.advance(60)  # the emulator was down past the fault's time (nothing fired: restarted)
    fresh = Rack(topo.default(4), clock)
    restored = FaultInjector(fresh)
    restored.restore(data)
    clock.advance(0)
    assert restored.get(record.id).state == "active"
    assert fresh.nodes["n01"].active_faults == [(NodeFault.FAN, "Fan1")]


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"version": 2, "seq": 0, "records": []},
        {"version": 1, "seq": 1, "records": [{"id": "f-0001"}]},
        {
            "version": 1,
            "seq": 1,
            "records": [FaultRecord("f-0001", "psu-tri", "n01", "", "active").to_dict()],
        },
        {
            "version": 1,
            "seq": 1,
            "records": [FaultRecord("f-0001", "fan", "n01", "Fan1", "scheduled").to_dict()],
        },
    ],
)
def test_restore_refuses_what_is_not_a_snapshot_and_changes_nothing(
    rack: Rack, faults: FaultInjector, data: dict[str, Any]
) -> None:
    faults.inject("fan", "n02")
    before = fingerprint(rack, faults)
    with pytest.raises(FaultError, match="not a fault snapshot"):
        faults.restore(data)
    assert fingerprint(rack, faults) == before


def test_reconcile_closes_records_the_models_no_longer_have(
    rack: Rack, faults: FaultInjector
) -> None:
    record = faults.inject("psu-one", "n01")
    data = faults.snapshot()
    fresh = Rack(topo.default(4), rack.clock)  # the node's snapshot was lost: no fault there
    restored = FaultInjector(fresh)
    restored.restore(data)
    assert restored.get(record.id).state == "active"
    closed = restored.reconcile()
    assert [r.id for r in closed] == [record.id]
    assert restored.get(record.id).cleared_by == "self"


# -- planned clears -----------------------------------------------------------------------------


def test_a_planned_clear_ends_the_fault_at_its_time(
    rack: Rack, faults: FaultInjector, clock: VirtualClock, seen: list[Event]
) -> None:
    record = faults.inject("fan", "n01")
    when = clock.now() + 90
    planned = faults.schedule_clear(record.id, when, by="chaos")
    assert (planned.clear_at, planned.clear_by, planned.state) == (when, "chaos", "active")
    assert isinstance(seen[-1], FaultClearPlanned) and seen[-1].when == when
    clock.advance(89)
    assert faults.get(record.id).state == "active"
    clock.advance(2)
    after = faults.get(record.id)
    assert (after.state, after.cleared_by, after.cleared_at) == ("cleared", "chaos", when)
    assert rack.nodes["n01"].active_faults == []


def test_a_planned_clear_can_be_cancelled_and_goes_with_the_fault(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    record = faults.inject("fan", "n01")
    faults.schedule_clear(record.id, clock.now() + 30)
    cancelled = faults.schedule_clear(record.id, None)
    assert (cancelled.clear_at, cancelled.clear_by) == (None, "")
    clock.advance(60)
    assert faults.get(record.id).state == "active"
    faults.schedule_clear(record.id, clock.now() + 30)
    faults.clear(record.id)  # cleared before: the plan goes with it
    clock.advance(60)
    assert faults.get(record.id).cleared_by == "operator"


def test_a_planned_clear_of_a_scheduled_fault(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    record = faults.inject("switch-fan", "tor-a", at=clock.now() + 10)
    with pytest.raises(FaultError, match="clear it after that"):
        faults.schedule_clear(record.id, clock.now() + 5)
    faults.schedule_clear(record.id, clock.now() + 40, by="chaos")
    clock.advance(20)
    assert faults.get(record.id).state == "active"
    clock.advance(30)
    assert faults.get(record.id).cleared_by == "chaos"
    assert rack.switches["tor-a"].active_faults == []


def test_a_refused_planned_clear_is_tried_again_later(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    tor_a = rack.switches["tor-a"]
    loss = faults.inject("switch-config-loss", "tor-a")
    power = faults.inject("switch-power", "tor-a")  # no power: the backup cannot be loaded
    faults.schedule_clear(loss.id, clock.now() + 10, by="chaos")
    faults.schedule_clear(power.id, clock.now() + 200, by="chaos")
    clock.advance(100)
    assert faults.get(loss.id).state == "active"
    retry_at = faults.get(loss.id).clear_at
    assert retry_at is not None and retry_at > clock.now()  # backing off
    clock.advance(HOURS)
    assert faults.get(loss.id).cleared_by == "chaos" and tor_a.provisioned
    assert faults.get(power.id).cleared_by == "chaos"


@pytest.mark.parametrize(
    ("make", "at", "message"),
    [
        (lambda f: f.inject("bmc-reboot", "n01").id, 10.0, "ends by itself"),
        (lambda f: f.inject("fan", "n01").id, -1.0, "in the past"),
        (lambda f: f.inject("fan", "n01").id, float("inf"), "finite"),
        (lambda f: "f-0404", 10.0, "no fault 'f-0404'"),
    ],
)
def test_a_bad_planned_clear_is_refused_and_changes_nothing(
    rack: Rack,
    faults: FaultInjector,
    clock: VirtualClock,
    seen: list[Event],
    make: Callable[[FaultInjector], str],
    at: float,
    message: str,
) -> None:
    fault_id = make(faults)
    before = fingerprint(rack, faults)
    count = len(seen)
    with pytest.raises(FaultError, match=message):
        faults.schedule_clear(fault_id, clock.now() + at)
    assert fingerprint(rack, faults) == before and len(seen) == count


def test_a_planned_clear_survives_a_restore(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    record = faults.inject("psu-one", "n03")
    when = clock.now() + 500
    faults.schedule_clear(record.id, when, by="chaos")
    data = json.loads(json.dumps(faults.snapshot()))
    snapshot = rack.nodes["n03"].snapshot()
    fresh = Rack(topo.default(4), clock)
    fresh.nodes["n03"].restore(snapshot)
    restored = FaultInjector(fresh)
    restored.restore(data)
    clock.advance(600)
    after = restored.get(record.id)
    assert (after.state, after.cleared_by, after.cleared_at) == ("cleared", "chaos", when)
    assert fresh.nodes["n03"].active_faults == []


def test_only_the_last_ended_records_are_kept(
    rack: Rack, faults: FaultInjector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("emulator.faults.injector.MAX_CLEARED", 3)
    active = faults.inject("psu-one", "n04")
    ids = []
    for _ in range(5):
        record = faults.inject("fan", "n01")
        faults.clear(record.id)
        ids.append(record.id)
    assert [r.id for r in faults.records()] == [active.id, *ids[-3:]]
    with pytest.raises(FaultError, match=f"no fault '{ids[0]}'"):
        faults.get(ids[0])
    # Ids are never reused, and a restore keeps the same bound and order.
    data = faults.snapshot()
    restored = FaultInjector(Rack(topo.default(4), rack.clock))
    restored.restore(data)
    assert [r.id for r in restored.records()] == [active.id, *ids[-3:]]
    record = restored.inject("fan", "n02")
    assert record.id == "f-0007"
    restored.clear(record.id)
    assert [r.id for r in restored.records()] == [active.id, *ids[-2:], record.id]


def fault_state(rack: Rack) -> str:
    """What a cleared fault must give back (not the SEL, which keeps its history, nor the host
    state, which the power-restore policy and the operator decide)."""
    return json.dumps(
        {
            "nodes": {
                name: [
                    [[f.value, t] for f, t in n.active_faults],
                    n.psu_input,
                    n.firmware,
                    n.bmc_answering(),
                ]
                for name, n in rack.nodes.items()
            },
            "switches": {
                name: [
                    [[f.value, t] for f, t in s.active_faults],
                    s.state.value,
                    s.provisioned,
                    s.saved_config(),
                ]
                for name, s in rack.switches.items()
            },
            "pulled": rack.pulled_cables,
        },
        sort_keys=True,
    )


@pytest.mark.parametrize("kind", list(FAULT_KINDS))
def test_every_kind_changes_the_models_announces_itself_and_clears(
    rack: Rack, faults: FaultInjector, clock: VirtualClock, seen: list[Event], kind: str
) -> None:
    spec = FAULT_KINDS[kind]
    device = "n02" if spec.scope == "node" else "tor-a"
    before = fault_state(rack)
    record = faults.inject(kind, device)
    assert (record.kind, record.device, record.state) == (kind, device, "active")
    if spec.part == "port":  # the first port with a cable
        expected = next(p.name for p in rack.switches[device].ports.values() if p.peer)
    else:
        expected = faults.parts(kind, device)[0] if spec.part else ""
    assert record.part == expected
    assert fault_state(rack) != before, "the models did not change"
    announced = fault_events(seen)
    assert len(announced) == 1 and isinstance(announced[0], FaultInjected)
    assert (announced[0].device, announced[0].kind, announced[0].fault_id) == (
        device,
        kind,
        record.id,
    )
    assert any(not isinstance(e, FaultEvent) for e in seen[: seen.index(announced[0])])
    if kind in ("bmc-reboot", "switch-reboot"):
        clock.advance(BOOT_S)
        by = "self"
    else:
        clock.advance(BOOT_S)  # reboots and boots the fault caused are over
        faults.clear(record.id)
        by = "operator"
    clock.advance(BOOT_S)  # a switch powered back boots
    ended = fault_events(seen)[-1]
    assert isinstance(ended, FaultCleared) and (ended.fault_id, ended.by) == (record.id, by)
    assert faults.get(record.id).cleared_by == by
    assert fault_state(rack) == before
    assert faults.records(active_only=True) == []


# -- random sequences ---------------------------------------------------------------------------

#: What a step may do: the injector's own requests (good and bad), and what else changes the
#: models behind its back (a part or a switch replaced, a cable plugged, a reset, time passing).
STEPS = st.one_of(
    st.tuples(
        st.just("inject"),
        st.sampled_from([*FAULT_KINDS, "psu-tri"]),
        st.sampled_from(["n01", "n02", "tor-a", "bmc-switch", "n9"]),
        st.sampled_from(
            [
                None,
                "",
                "PSU1",
                "PSU2",
                "Fan1",
                "A1",
                "Disk.1",
                "BOSS.2",
                "nic1",
                "nic2",
                "bios",
                "ethernet1/1/1",
                "nope",
            ]
        ),
        st.sampled_from([None, 0.0, 30.0, -5.0]),
    ),
    st.tuples(st.just("clear"), st.integers(0, 12)),
    st.tuples(st.just("advance"), st.sampled_from([1.0, 45.0, 200.0, 900.0])),
    st.tuples(
        st.just("replace_part"),
        st.sampled_from(["n01", "n02"]),
        st.sampled_from([("psu", "PSU1"), ("fan", "Fan1"), ("dimm", "A1"), ("nic", "nic1")]),
    ),
    st.tuples(st.just("replace_switch"), st.sampled_from(["tor-a", "bmc-switch"])),
    st.tuples(st.just("plug"), st.integers(0, 3)),
    st.tuples(st.just("reset"), st.sampled_from(["n01", "n02"])),
)

_HELD = {"psu-one": "psu", "dimm-ue": "dimm", "boot-drive-one": "boot-drive"}


def expected_model_faults(faults: FaultInjector) -> dict[str, set[tuple[str, str]]]:
    rack = faults.rack
    out: dict[str, set[tuple[str, str]]] = {d: set() for d in [*rack.nodes, *rack.switches]}
    for r in faults.records(active_only=True):
        if r.kind == "psu-both":
            wanted = {("psu", "PSU1"), ("psu", "PSU2")}
        elif r.kind == "boot-drive-both":
            wanted = {("boot-drive", "BOSS.1"), ("boot-drive", "BOSS.2")}
        elif r.kind in _HELD:
            wanted = {(_HELD[r.kind], r.part)}
        elif r.kind in ("fan", "data-disk", "nic-port", "os-hang", "bmc-hang"):
            wanted = {(r.kind, r.part)}
        elif r.kind in ("switch-power", "switch-psu", "switch-fan", "switch-port"):
            wanted = {(r.kind.removeprefix("switch-"), r.part)}
        else:
            continue
        out[r.device] |= wanted
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEPS, min_size=1, max_size=25))
def test_random_sequences_keep_records_and_models_in_step(steps: list[tuple[Any, ...]]) -> None:
    """Whatever happens, in any order: a refusal changes nothing; the faults the models hold
    (of the kinds the injector puts there) are those of the active records, except a psu-both or
    boot-drive-both half replaced (the record stays while one part is still failed); pulled
    cables are those of the active cable records; the ids stay unique."""
    clock = VirtualClock()
    rack = Rack(topo.default(4), clock)
    for node in rack.nodes.values():
        node.power_on()
    clock.advance(300)
    faults = FaultInjector(rack)
    serials = iter(f"SWR{i:04d}" for i in range(100))
    for step in steps:
        op = step[0]
        before = fingerprint(rack, faults)
        try:
            if op == "inject":
                _, kind, device, part, delay = step
                at = None if delay is None else clock.now() + delay
                faults.inject(kind, device, part, at=at)
            elif op == "clear":
                ids = [r.id for r in faults.records()]
                faults.clear(ids[step[1] % len(ids)] if ids else "f-0001")
            elif op == "advance":
                clock.advance(step[1])
            elif op == "replace_part":
                rack.nodes[step[1]].replace_part(*step[2])
            elif op == "replace_switch":
                rack.switches[step[1]].replace(next(serials))
            elif op == "plug":
                pulled = rack.pulled_cables
                if pulled:
                    rack.plug_cable(pulled[step[1] % len(pulled)])
            elif op == "reset":
                rack.nodes[step[1]].hard_reset()
        except FaultError:
            assert fingerprint(rack, faults) == before, step
        except ModelError:
            pass  # the models refused a direct command (a reset while off...): theirs to test
        clock.advance(0)  # what a switch replacement settles on the next tick
        expected = expected_model_faults(faults)
        for name, node in rack.nodes.items():
            held = {(f.value, t) for f, t in node.active_faults}
            assert held >= expected[name] or _half_replaced(faults, name, held), (step, name)
            assert held <= expected[name], (step, name, held, expected[name])
        for name, switch in rack.switches.items():
            assert {(f.value, t) for f, t in switch.active_faults} == expected[name], (step, name)
        cables = {
            f"{r.device}:{r.part or 'bmc'}"
            for r in faults.records(active_only=True)
            if r.kind.startswith("cable-")
        }
        assert set(rack.pulled_cables) == cables, step
        ids = [r.id for r in faults.records()]
        assert len(ids) == len(set(ids))


def _half_replaced(faults: FaultInjector, node: str, held: set[tuple[str, str]]) -> bool:
    """A psu-both or boot-drive-both with one of its parts replaced: still active, half held."""
    for r in faults.records(active_only=True):
        if r.device == node and r.kind in ("psu-both", "boot-drive-both"):
            what = "psu" if r.kind == "psu-both" else "boot-drive"
            if any(w == what for w, _ in held):
                return True
    return False

"""The operator's view (the fabric) on a virtual clock: actions, rules, workloads, storage jobs,
alerts and the firmware baseline, over a rack built from the default topology."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bmc.snmp.traps import BmcTrapLost, BmcTrapSender
from emulator import topology
from emulator.operator import (
    ACCEPTED_FROM,
    ALERT_KINDS,
    BMC_NO_ANSWER,
    Action,
    AlertKind,
    Baseline,
    BaselineError,
    FabricSettings,
    NodeStatus,
    OperatorView,
    PowerState,
    ScaleUnitStatus,
    Severity,
    VmState,
)
from emulator.operator import baseline as baseline_mod
from emulator.operator.events import (
    ActionFailed,
    ActionRefused,
    AddCompleted,
    AddFailed,
    AddStarted,
    AlertClosed,
    AlertRaised,
    FabricEvent,
    NodeDrained,
    NodePowerStateChanged,
    NodeResumed,
    NodeShutDown,
    NodeStarted,
    NodeStatusChanged,
    NodeStopped,
    RepairCompleted,
    RepairFailed,
    RepairStarted,
    ScaleUnitStatusChanged,
    ShutdownFailed,
    ShutdownStarted,
    StorageExpansionCompleted,
    StorageExpansionStarted,
    StorageRepairCompleted,
    StorageRepairStarted,
    WorkloadFailed,
    WorkloadMoved,
    WorkloadStarted,
)
from emulator.rack import Rack
from nodes.clock import VirtualClock
from nodes.events import Event, NodeReplaced
from nodes.node import BmcResetKind, Node
from nodes.power import HostState
from switches.spec import port_name

BOOT = 106.0  # power_on_s + post_s + os_boot_s of the default timings
SHUTDOWN = 20.0  # os_shutdown_s
TICK = 30.0
HOUR = 3600.0

E = TypeVar("E", bound=Event)


class Unit:
    """A booted scale unit: the rack, its fabric and every event on the bus."""

    def __init__(
        self, clock: VirtualClock, nodes: int = 4, members: int | None = None, **settings: Any
    ) -> None:
        self.clock = clock
        self.rack = Rack(topology.default(nodes), clock)
        self.seen: list[Event] = []
        self.rack.bus.subscribe(self.seen.append)
        BmcTrapSender(self.rack).follow()  # the BMCs' traps, which raise the hardware alerts
        names = list(self.rack.nodes)[: members or nodes]
        self.fabric = OperatorView(self.rack, members=names, settings=FabricSettings(**settings))
        for name in names:
            self.rack.nodes[name].power_on()
        clock.advance(120.0)  # booted at 106 s, health evaluated at 120 s
        self.seen.clear()

    def node(self, name: str) -> Node:
        return self.rack.nodes[name]

    def snapshot(self) -> Any:
        f = self.fabric
        return (
            f.scale_unit_status(),
            f.nodes(),
            f.workloads(),
            f.alerts(),
            f.storage_jobs(),
            {n: (node.state, node.boot_override) for n, node in self.rack.nodes.items()},
        )

    def open_alerts(self, component: str | None = None) -> list[tuple[AlertKind, str]]:
        return [
            (a.kind, a.component)
            for a in self.fabric.alerts(open_only=True)
            if component is None or a.component == component
        ]

    def vms_on(self, name: str) -> tuple[str, ...]:
        return self.fabric.node(name).vms


def of(events: list[Event], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


def only(events: list[Event], kind: type[E]) -> E:
    found = of(events, kind)
    assert len(found) == 1, f"{len(found)} {kind.__name__} in {events}"
    return found[0]


@pytest.fixture
def unit(clock: VirtualClock) -> Unit:
    return Unit(clock)


NODE_DOWN = {AlertKind.NODE_OFFLINE, AlertKind.NODE_NOT_CONNECTED, AlertKind.NODE_NO_PLACEMENT}


# -- a healthy scale unit ------------------------------------------------------------------------
def test_a_booted_scale_unit_runs_its_vms_spread_evenly_and_has_no_alerts(unit: Unit) -> None:
    f = unit.fabric
    assert f.scale_unit_status() is ScaleUnitStatus.RUNNING
    for view in f.nodes():
        assert (view.status, view.power_state) == (NodeStatus.RUNNING, PowerState.RUNNING)
        assert len(view.vms) == 3 and view.in_storage_pool
        assert view.bmc_address == str(unit.node(view.name).spec.bmc.address)
        assert view.cores == 40 and view.memory_gb == 12 * 32
    assert all(w.state is VmState.RUNNING for w in f.workloads())
    assert f.alerts() == [] and f.storage_jobs() == []
    assert f.verify("n01").ok


def test_a_cold_rack_is_a_stopped_scale_unit_that_raises_nothing(clock: VirtualClock) -> None:
    rack = Rack(topology.default(), clock)
    fabric = OperatorView(rack)
    assert fabric.scale_unit_status() is ScaleUnitStatus.STOPPED
    assert {fabric.node_status(n) for n in rack.nodes} == {NodeStatus.STOPPED}
    clock.advance(10 * TICK)
    assert fabric.alerts() == []  # its health service runs on it
    assert {w.state for w in fabric.workloads()} == {VmState.PENDING}


def test_the_power_state_follows_the_host(unit: Unit) -> None:
    unit.fabric.stop("n01")
    assert unit.fabric.power_state("n01") is PowerState.STOPPED
    unit.fabric.start("n01")
    assert unit.fabric.power_state("n01") is PowerState.STARTING
    unit.clock.advance(BOOT)
    assert unit.fabric.power_state("n01") is PowerState.RUNNING
    unit.fabric.shutdown("n01")
    assert unit.fabric.power_state("n01") is PowerState.STOPPING
    changes = [(e.old, e.new) for e in of(unit.seen, NodePowerStateChanged)]
    assert changes == [
        (PowerState.RUNNING, PowerState.STOPPED),
        (PowerState.STOPPED, PowerState.STARTING),
        (PowerState.STARTING, PowerState.RUNNING),
        (PowerState.RUNNING, PowerState.STOPPING),
    ]


# -- drain and resume ----------------------------------------------------------------------------
def test_drain_moves_the_workloads_live_and_resume_does_not_move_them_back(unit: Unit) -> None:
    f = unit.fabric
    before = unit.vms_on("n01")
    events = f.drain("n01")
    drained = only(events, NodeDrained)
    assert drained.device == "n01" and drained.moved == before
    moves = of(events, WorkloadMoved)
    assert [m.vm for m in moves] == list(before)
    assert all(m.live and m.device == "n01" and m.target != "n01" for m in moves)
    status = only(events, NodeStatusChanged)
    assert (status.old, status.new, status.cause) == (
        NodeStatus.RUNNING,
        NodeStatus.MAINTENANCE,
        "drain",
    )
    assert f.node_status("n01") is NodeStatus.MAINTENANCE
    assert f.power_state("n01") is PowerState.RUNNING
    assert unit.vms_on("n01") == ()
    assert f.scale_unit_status() is ScaleUnitStatus.RUNNING  # one node out is tolerated
    assert all(w.state is VmState.RUNNING for w in f.workloads())

    events = f.resume("n01")
    assert of(events, NodeResumed) and f.node_status("n01") is NodeStatus.RUNNING
    assert unit.vms_on("n01") == ()  # workloads do not fail back
    assert not of(events, StorageRepairStarted)  # it never left the pool
    unit.clock.advance(TICK)
    assert unit.open_alerts() == []


def test_draining_a_second_node_puts_storage_at_risk_and_fails_the_workloads(unit: Unit) -> None:
    """As documented: only one node may be drained or powered off at once."""
    f = unit.fabric
    f.drain("n01")
    events = f.drain("n02")
    assert of(events, NodeDrained)  # not refused: punished
    assert f.storage_at_risk()
    assert f.scale_unit_status() is ScaleUnitStatus.REQUIRES_REMEDIATION
    su = only(events, ScaleUnitStatusChanged)
    assert (su.old, su.new) == (ScaleUnitStatus.RUNNING, ScaleUnitStatus.REQUIRES_REMEDIATION)
    failed = of(events, WorkloadFailed)
    assert len(failed) == 12 and all("storage at risk: n01, n02" in e.reason for e in failed)
    assert {w.state for w in f.workloads()} == {VmState.FAILED}

    events = f.resume("n02")
    assert f.scale_unit_status() is ScaleUnitStatus.RUNNING
    restarted = of(events, WorkloadStarted)
    assert len(restarted) == 12 and all(e.restarted for e in restarted)
    assert all(w.state is VmState.RUNNING and w.node != "n01" for w in f.workloads())


# -- stop, shutdown, start -----------------------------------------------------------------------
def test_stop_powers_off_through_the_bmc_and_the_workloads_restart_elsewhere(unit: Unit) -> None:
    f = unit.fabric
    vms = unit.vms_on("n03")
    events = f.stop("n03")
    assert of(events, NodeStopped)
    assert unit.node("n03").state is HostState.OFF  # at once: the power button
    assert unit.node("n03").sel.records()[-1].message == "Power off/down"
    assert (f.node_status("n03"), f.power_state("n03")) == (NodeStatus.STOPPED, PowerState.STOPPED)
    moves = of(events, WorkloadMoved)
    assert [m.vm for m in moves] == list(vms) and not any(m.live for m in moves)
    assert f.scale_unit_status() is ScaleUnitStatus.RUNNING

    events = f.stop("n04")  # a second node powered off
    assert f.scale_unit_status() is ScaleUnitStatus.REQUIRES_REMEDIATION
    assert {w.state for w in f.workloads()} == {VmState.FAILED}


@pytest.mark.parametrize("how", ["bmc-reset", "bmc-port-down", "credentials", "no-power"])
def test_stop_fails_with_the_documented_message_when_the_bmc_does_not_answer(
    unit: Unit, how: str
) -> None:
    node = unit.node("n02")
    if how == "bmc-reset":
        node.bmc_reset(BmcResetKind.COLD)
    elif how == "bmc-port-down":
        unit.rack.switches["bmc-switch"].set_admin(port_name(2), False)
    elif how == "credentials":
        node.users.set_password(2, "factory-pw")
    before = unit.snapshot()
    if how == "no-power":
        node.set_psu_input("PSU1", False)
        node.set_psu_input("PSU2", False)
        assert unit.fabric.start("n02")[-1] == ActionFailed(
            device="n02",
            at=unit.clock.now(),
            action=Action.START,
            reason=BMC_NO_ANSWER.format(address="127.0.1.4"),
        )
        return
    events = unit.fabric.stop("n02")
    assert events == [
        ActionFailed(
            device="n02",
            at=unit.clock.now(),
            action=Action.STOP,
            reason="The BMC IP address 127.0.1.4 did not respond to a general query in the "
            "expected time",
        )
    ]
    assert unit.snapshot() == before and node.state is HostState.RUNNING


def test_stop_works_again_once_the_bmc_is_back(unit: Unit) -> None:
    unit.node("n02").bmc_reset(BmcResetKind.COLD)
    assert of(unit.fabric.stop("n02"), ActionFailed)
    unit.clock.advance(unit.rack.topology.timings.bmc_cold_reset_s)
    assert of(unit.fabric.stop("n02"), NodeStopped)


def test_shutdown_drains_then_shuts_the_os_down_gracefully(unit: Unit) -> None:
    f = unit.fabric
    vms = unit.vms_on("n01")
    events = f.shutdown("n01")
    started = only(events, ShutdownStarted)
    assert started.moved == vms and all(m.live for m in of(events, WorkloadMoved))
    assert (f.node_status("n01"), f.power_state("n01")) == (
        NodeStatus.MAINTENANCE,
        PowerState.STOPPING,
    )
    unit.clock.advance(SHUTDOWN)
    assert of(unit.seen, NodeShutDown)
    assert (f.node_status("n01"), f.power_state("n01")) == (NodeStatus.STOPPED, PowerState.STOPPED)
    assert unit.node("n01").sel.records()[-1].message == "ACPI S5/G2 soft-off"
    assert f.scale_unit_status() is ScaleUnitStatus.RUNNING


def test_a_shutdown_that_fails_leaves_the_node_powered_and_stop_is_the_fallback(
    unit: Unit,
) -> None:
    f = unit.fabric
    unit.node("n01").os_responsive = False  # the OS hangs: it ignores the request
    events = f.shutdown("n01")
    assert of(events, ShutdownStarted)
    assert not any(m.live for m in of(events, WorkloadMoved))  # a hung host cannot migrate
    unit.clock.advance(f.settings.shutdown_timeout_s - 1)
    assert not of(unit.seen, ShutdownFailed)
    unit.clock.advance(1)
    failed = only(unit.seen, ShutdownFailed)
    assert "did not shut down in the expected time" in failed.reason
    assert failed.remediation.startswith("Drain the node, then Stop it")
    assert f.node_status("n01") is NodeStatus.MAINTENANCE
    assert f.power_state("n01") is PowerState.RUNNING
    refused = only(f.drain("n01"), ActionRefused)  # already drained
    assert refused.reason == "n01 is Maintenance: drain needs Running"
    assert of(f.stop("n01"), NodeStopped)
    assert (f.node_status("n01"), f.power_state("n01")) == (NodeStatus.STOPPED, PowerState.STOPPED)


def test_start_powers_on_and_the_node_waits_in_maintenance_until_resumed(unit: Unit) -> None:
    f = unit.fabric
    f.shutdown("n01")
    unit.clock.advance(SHUTDOWN)
    events = f.start("n01")
    assert of(events, NodeStarted) and unit.node("n01").state is HostState.POWERING_ON
    assert f.node_status("n01") is NodeStatus.STOPPED
    unit.clock.advance(BOOT)
    assert (f.node_status("n01"), f.power_state("n01")) == (
        NodeStatus.MAINTENANCE,
        PowerState.RUNNING,
    )
    assert unit.vms_on("n01") == ()  # not used for placement
    assert f.scale_unit_status() is ScaleUnitStatus.RUNNING

    events = f.resume("n01")
    job = only(events, StorageRepairStarted)  # it had been powered off
    assert job.device == "n01" and job.reason == "node returned"
    assert job.expected_end == unit.clock.now() + f.settings.storage_repair_s
    assert unit.vms_on("n01") == ()
    unit.clock.advance(TICK)
    verdict = f.verify("n01")
    assert not verdict.ok and verdict.problems == (
        f"storage repair job {job.job_id} (n01) is still running",
    )
    unit.clock.advance(f.settings.storage_repair_s)
    assert only(unit.seen, StorageRepairCompleted).job_id == job.job_id
    assert f.verify("n01").ok


def test_a_node_that_crashes_and_comes_back_by_itself_rejoins_and_resyncs(unit: Unit) -> None:
    f = unit.fabric
    node = unit.node("n04")
    vms = unit.vms_on("n04")
    node.power_cycle()
    moves = of(unit.seen, WorkloadMoved)
    assert [m.vm for m in moves] == list(vms) and not any(m.live for m in moves)
    assert f.node_status("n04") is NodeStatus.STOPPED
    unit.clock.advance(TICK)
    assert set(unit.open_alerts("n04")) == {(k, "n04") for k in NODE_DOWN}
    unit.clock.advance(2 + BOOT)
    assert f.node_status("n04") is NodeStatus.RUNNING
    assert only(unit.seen, StorageRepairStarted).device == "n04"
    unit.clock.advance(TICK)
    assert unit.open_alerts() == []


# -- repair --------------------------------------------------------------------------------------
def test_repair_takes_about_three_hours_then_a_storage_repair_runs(unit: Unit) -> None:
    f = unit.fabric
    f.shutdown("n02")
    unit.clock.advance(SHUTDOWN + TICK)
    assert set(unit.open_alerts("n02")) == {(k, "n02") for k in NODE_DOWN}
    now = unit.clock.now()
    events = f.repair("n02")
    started = only(events, RepairStarted)
    assert started.expected_end == now + 3 * HOUR and started.bmc_address == "127.0.1.4"
    assert f.node_status("n02") is NodeStatus.REPAIRING
    assert f.node("n02").operation == "repair"
    unit.clock.advance(BOOT)
    assert unit.node("n02").last_boot_device == "pxe"  # powered on through the BMC, redeployed
    assert f.node_status("n02") is NodeStatus.REPAIRING  # still, for hours
    unit.clock.run_until(now + 3 * HOUR - 1)
    assert not of(unit.seen, RepairCompleted)
    unit.clock.advance(1)
    assert only(unit.seen, RepairCompleted).device == "n02"
    assert f.node_status("n02") is NodeStatus.RUNNING
    job = only(unit.seen, StorageRepairStarted)
    assert job.reason == "node repaired"
    assert job.expected_end == now + 3 * HOUR + f.settings.storage_repair_after_repair_s
    unit.clock.advance(TICK)
    closed = {(e.kind, e.by) for e in of(unit.seen, AlertClosed) if e.device == "n02"}
    assert closed == {(k, "system") for k in NODE_DOWN}
    assert not f.verify("n02").ok
    unit.clock.advance(f.settings.storage_repair_after_repair_s)
    assert f.verify("n02").ok


def test_only_one_repair_at_a_time(unit: Unit) -> None:
    f = unit.fabric
    f.stop("n01")
    f.repair("n01")
    f.stop("n02")
    before = unit.snapshot()
    refused = only(f.repair("n02"), ActionRefused)
    assert refused.reason == "a repair of n01 is running: one repair at a time"
    assert unit.snapshot() == before


def test_repair_fails_with_the_documented_message_when_the_bmc_does_not_answer(
    unit: Unit,
) -> None:
    f = unit.fabric
    f.stop("n01")
    unit.node("n01").bmc_reset(BmcResetKind.COLD)
    before = unit.snapshot()
    failed = only(f.repair("n01"), ActionFailed)
    assert failed.reason == BMC_NO_ANSWER.format(address="127.0.1.3")
    assert unit.snapshot() == before and f.node_status("n01") is NodeStatus.STOPPED
    unit.clock.advance(30)
    wrong = only(f.repair("n01", bmc_address="127.0.1.99"), ActionFailed)  # nobody is there
    assert wrong.reason.startswith("The BMC IP address 127.0.1.99 did not respond")
    assert of(f.repair("n01", bmc_address="127.0.1.3"), RepairStarted)


def test_repair_fails_when_the_bmc_has_factory_credentials(unit: Unit) -> None:
    unit.fabric.stop("n01")
    unit.node("n01").users.set_name(2, "root")
    failed = only(unit.fabric.repair("n01"), ActionFailed)
    assert failed.reason == BMC_NO_ANSWER.format(address="127.0.1.3")


def test_repair_is_refused_while_firmware_is_off_the_baseline(unit: Unit) -> None:
    f = unit.fabric
    f.stop("n01")
    node = unit.node("n01")
    node.firmware["bios"] = "2.26.0"
    node.firmware["cpld"] = "1.0.9"
    before = unit.snapshot()
    refused = only(f.repair("n01"), ActionRefused)
    assert refused.reason == (
        "the firmware of n01 is not at the baseline scaleunit-4-topology: "
        "bios 2.26.0 (baseline 2.27.0), cpld 1.0.9 (baseline 1.1.4); "
        "level it with the OEM's tools before Repair"
    )
    assert unit.snapshot() == before
    node.firmware.update(bios="2.27.0", cpld="1.1.4")
    assert of(f.repair("n01"), RepairStarted)


def test_a_repair_after_which_the_node_is_not_back_requires_remediation(unit: Unit) -> None:
    f = unit.fabric
    f.stop("n01")
    f.repair("n01")
    node = unit.node("n01")
    unit.clock.advance(HOUR)
    node.set_psu_input("PSU1", False)
    node.set_psu_input("PSU2", False)
    unit.clock.advance(2 * HOUR)
    failed = only(unit.seen, RepairFailed)
    assert "did not come up in the expected time (power state Stopped" in failed.reason
    assert f.node_status("n01") is NodeStatus.REQUIRES_REMEDIATION
    assert f.scale_unit_status() is ScaleUnitStatus.REQUIRES_REMEDIATION
    assert of(f.resume("n01"), ActionRefused)
    node.set_psu_input("PSU1", True)
    node.set_psu_input("PSU2", True)
    assert of(f.repair("n01"), RepairStarted)
    unit.clock.advance(3 * HOUR)
    assert f.node_status("n01") is NodeStatus.RUNNING
    assert f.scale_unit_status() is ScaleUnitStatus.RUNNING


def test_repair_durations_are_configurable(clock: VirtualClock) -> None:
    unit = Unit(clock, repair_s=900.0, storage_repair_after_repair_s=60.0)
    unit.fabric.stop("n03")
    unit.fabric.repair("n03")
    clock.advance(900.0)
    assert unit.fabric.node_status("n03") is NodeStatus.RUNNING
    clock.advance(60.0)
    assert of(unit.seen, StorageRepairCompleted)


# -- add -----------------------------------------------------------------------------------------
def test_add_expands_compute_then_storage(clock: VirtualClock) -> None:
    unit = Unit(clock, nodes=6, members=4)
    f = unit.fabric
    assert f.members() == ["n01", "n02", "n03", "n04"]
    now = clock.now()
    events = f.add("n05")
    started = only(events, AddStarted)
    assert started.expected_end == now + f.settings.add_compute_s
    assert started.bmc_address == "127.0.1.7"
    assert f.node_status("n05") is NodeStatus.ADDING
    assert f.scale_unit_status() is ScaleUnitStatus.EXPANDING
    assert (
        only(f.add("n06"), ActionRefused).reason
        == "an add of n05 is in progress: one add at a time"
    )
    f.stop("n01")
    assert only(f.repair("n01"), ActionRefused).reason == (
        "an add of n05 is in progress: no repair until it ends"
    )
    f.start("n01")
    clock.advance(BOOT)
    f.resume("n01")
    clock.run_until(now + f.settings.add_compute_s)
    assert only(unit.seen, AddCompleted).device == "n05"
    assert f.node_status("n05") is NodeStatus.RUNNING
    assert f.node("n05").in_storage_pool
    assert f.scale_unit_status() is ScaleUnitStatus.CONFIGURING_STORAGE
    expansion = only(unit.seen, StorageExpansionStarted)
    assert expansion.node == "n05"
    assert of(f.add("n06"), ActionRefused)  # still in progress while storage is configured
    clock.run_until(expansion.expected_end)
    assert only(unit.seen, StorageExpansionCompleted).node == "n05"
    assert f.scale_unit_status() is ScaleUnitStatus.RUNNING
    statuses = [e.new for e in of(unit.seen, ScaleUnitStatusChanged)]
    assert statuses == [
        ScaleUnitStatus.EXPANDING,
        ScaleUnitStatus.CONFIGURING_STORAGE,
        ScaleUnitStatus.RUNNING,
    ]
    assert of(f.add("n06"), AddStarted)


def test_a_failed_add_leaves_the_node_stopped_and_repair_fixes_it(clock: VirtualClock) -> None:
    unit = Unit(clock, nodes=6, members=4)
    f = unit.fabric
    new = unit.node("n05")
    new.firmware["bmc"] = "6.10.00.00"  # factory firmware, not levelled
    assert of(f.add("n05"), AddStarted)  # Add does not check: the deployment fails
    clock.advance(f.settings.add_compute_s)
    failed = only(unit.seen, AddFailed)
    assert "firmware not at the baseline" in failed.reason and "bmc 6.10.00.00" in failed.reason
    assert (f.node_status("n05"), f.power_state("n05")) == (NodeStatus.STOPPED, PowerState.STOPPED)
    assert f.scale_unit_status() is ScaleUnitStatus.REQUIRES_REMEDIATION
    assert all(w.state is VmState.RUNNING for w in f.workloads())  # tenants are not affected
    assert only(f.add("n06"), ActionRefused).reason == (
        "the failed add of n05 counts as in progress: Repair n05 first"
    )
    assert "not at the baseline" in only(f.repair("n05"), ActionRefused).reason
    new.firmware["bmc"] = "7.00.00.184"
    assert of(f.repair("n05"), RepairStarted)
    clock.advance(f.settings.repair_s)
    assert of(unit.seen, RepairCompleted)
    assert f.scale_unit_status() is ScaleUnitStatus.CONFIGURING_STORAGE
    clock.advance(f.settings.add_storage_s)
    assert f.scale_unit_status() is ScaleUnitStatus.RUNNING
    assert of(f.add("n06"), AddStarted)


def test_add_needs_a_new_node_whose_bmc_answers(clock: VirtualClock) -> None:
    unit = Unit(clock, nodes=5, members=4)
    f = unit.fabric
    assert only(f.add("n01"), ActionRefused).reason == "n01 is already in the scale unit (Running)"
    assert only(f.add("n09"), ActionRefused).reason == "no node named 'n09' in the rack"
    assert (
        only(f.drain("n05"), ActionRefused).reason == "n05 is not in the scale unit: Add it first"
    )
    unit.node("n05").users.set_password(2, "calvin")  # factory credentials
    before = unit.snapshot()
    assert only(f.add("n05"), ActionFailed).reason == BMC_NO_ANSWER.format(address="127.0.1.7")
    assert unit.snapshot() == before and "n05" not in f.members()


# -- refusals ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("resume", "n01 is Running: resume needs Stopped or Maintenance"),
        ("start", "n01 is Running: start needs Stopped or Maintenance or Requires Remediation"),
        ("repair", "n01 is Running: repair needs Stopped or Maintenance or Requires Remediation"),
    ],
)
def test_refused_actions_change_nothing_and_say_why(unit: Unit, action: str, reason: str) -> None:
    before = unit.snapshot()
    events = getattr(unit.fabric, action)("n01")
    assert events == [
        ActionRefused(device="n01", at=unit.clock.now(), action=Action(action), reason=reason)
    ]
    assert unit.snapshot() == before


def test_resume_needs_the_node_powered_on_and_actions_wait_for_a_repair(unit: Unit) -> None:
    f = unit.fabric
    f.stop("n01")
    reason = only(f.resume("n01"), ActionRefused).reason
    assert reason == "n01 is powered stopped: Start it and wait for its OS before Resume"
    assert only(f.stop("n01"), ActionRefused).reason == "n01 is already powered off"
    f.repair("n01")
    for action in ("drain", "resume", "stop", "shutdown", "start"):
        refused = only(getattr(f, action)("n01"), ActionRefused)
        assert refused.reason == "n01 is Repairing: wait for that operation to end"


def test_the_action_table_covers_every_action() -> None:
    assert set(ACCEPTED_FROM) == set(Action) - {Action.CLOSE_ALERT}
    assert NodeStatus.REQUIRES_REMEDIATION.label == "Requires Remediation"
    assert ScaleUnitStatus.CONFIGURING_STORAGE.label == "Configuring Storage"


# -- alerts --------------------------------------------------------------------------------------
def test_alerts_open_on_power_loss_and_close_by_themselves_on_recovery(unit: Unit) -> None:
    f = unit.fabric
    node = unit.node("n02")
    node.set_psu_input("PSU1", False)
    raised = only(unit.seen, AlertRaised)  # a BMC trap: at once
    assert (raised.kind, raised.device, raised.severity) == (
        AlertKind.PSU_REDUNDANCY_LOST,
        "n02",
        Severity.WARNING,
    )
    assert (
        f.scale_unit_status() is ScaleUnitStatus.RUNNING
        and f.node_status("n02") is NodeStatus.RUNNING
    )

    node.set_psu_input("PSU2", False)  # the node is off
    assert f.node_status("n02") is NodeStatus.STOPPED
    unit.clock.advance(TICK)
    assert set(unit.open_alerts("n02")) == {(k, "n02") for k in NODE_DOWN} | {
        (AlertKind.PSU_REDUNDANCY_LOST, "n02")
    }
    unit.clock.advance(2 * TICK)  # silent for 60 s
    assert (AlertKind.BMC_NOT_RESPONDING, "n02") in unit.open_alerts("n02")
    offline = next(a for a in f.alerts() if a.kind is AlertKind.NODE_OFFLINE)
    assert offline.title == "Scale unit node is offline"
    assert offline.severity is Severity.CRITICAL and offline.component == "n02"
    assert offline.id.startswith("alert-") and offline.opened_at == unit.clock.now() - 2 * TICK
    assert offline.remediation == ALERT_KINDS[AlertKind.NODE_OFFLINE].remediation
    assert offline.open and offline.closed_at is None

    node.set_psu_input("PSU1", True)
    node.set_psu_input("PSU2", True)  # always-off: the host stays off
    unit.clock.advance(TICK)
    assert set(unit.open_alerts("n02")) == {(k, "n02") for k in NODE_DOWN}
    f.start("n02")
    unit.clock.advance(BOOT + TICK)
    assert unit.open_alerts() == []
    assert all(a.closed_by == "system" and a.closed_at is not None for a in f.alerts())
    f.resume("n02")
    unit.clock.advance(f.settings.storage_repair_s)
    assert f.verify("n02").ok


def test_hardware_alerts_do_not_close_by_themselves_after_a_whole_node_swap(unit: Unit) -> None:
    f = unit.fabric
    old = unit.node("n02")
    old.set_psu_input("PSU1", False)
    psu_alert = f.alerts(open_only=True)[0]
    assert psu_alert.hardware_id == "CSSCALEU002/CSSCALEU002-MB"
    f.shutdown("n02")
    unit.clock.advance(SHUTDOWN)
    # The OEM swaps the whole node: new serials, same name, address and cabling.
    topo = unit.rack.topology
    spec = old.spec.model_copy(update={"serial": "NEWSERIAL01"})
    user, password = topo.bmc_credentials(spec)
    unit.rack.nodes["n02"] = Node(
        spec, unit.clock, unit.rack.bus, topo.timings, username=user, password=password
    )
    f.repair("n02")
    unit.clock.advance(f.settings.repair_s + TICK)
    assert f.node_status("n02") is NodeStatus.RUNNING
    assert unit.open_alerts() == [(AlertKind.PSU_REDUNDANCY_LOST, "n02")]  # still open
    verdict = f.verify("n02")
    assert f"alert {psu_alert.id} is open: Power supply redundancy lost" in verdict.problems
    events = f.close_alert(psu_alert.id)
    closed = only(events, AlertClosed)
    assert (closed.alert_id, closed.by) == (psu_alert.id, "operator")
    assert only(f.close_alert(psu_alert.id), ActionRefused).reason == (
        f"alert {psu_alert.id} is already closed"
    )
    unit.clock.advance(f.settings.storage_repair_after_repair_s)
    assert f.verify("n02").ok


def test_the_same_hardware_closes_its_alert_when_the_psu_returns(unit: Unit) -> None:
    node = unit.node("n03")
    node.set_psu_input("PSU2", False)
    node.set_psu_input("PSU2", True)
    closed = only(unit.seen, AlertClosed)
    assert (closed.kind, closed.by) == (AlertKind.PSU_REDUNDANCY_LOST, "system")


def test_no_trap_arrives_while_the_bmc_switch_is_down(unit: Unit) -> None:
    unit.rack.switches["bmc-switch"].power_off()
    unit.node("n01").set_psu_input("PSU1", False)
    assert not of(unit.seen, AlertRaised)


def test_a_hardware_alert_comes_only_from_a_trap_that_was_sent(unit: Unit) -> None:
    """The trap lost while the BMC could not send is never raised later: the BMC sends it once,
    when its SEL logs the record (the operator polls no PSU state)."""
    bmc_switch = unit.rack.switches["bmc-switch"]
    bmc_switch.power_off()
    unit.node("n01").set_psu_input("PSU1", False)
    bmc_switch.power_on()
    unit.clock.advance(900.0)  # booted
    assert unit.rack.bmc_port_up("n01")
    unit.node("n02").inject_fault("bmc-hang")
    unit.node("n02").inject_fault("psu", "PSU2")
    lost = {(e.device, e.reason) for e in of(unit.seen, BmcTrapLost)}
    assert lost == {("n01", "no-path"), ("n02", "bmc-silent")}
    unit.node("n02").clear_fault("bmc-hang")
    unit.clock.advance(10 * TICK)  # every BMC answers again, n02's PSU2 still failed
    assert unit.node("n02").bmc_answering()
    assert [a for a in unit.fabric.alerts() if a.kind is AlertKind.PSU_REDUNDANCY_LOST] == []
    # The next trap the BMC sends is heard.
    unit.seen.clear()
    unit.node("n01").set_psu_input("PSU1", True)  # "input restored", "fully redundant": info
    unit.node("n01").inject_fault("psu", "PSU2")
    raised = only(unit.seen, AlertRaised)
    assert (raised.kind, raised.device) == (AlertKind.PSU_REDUNDANCY_LOST, "n01")
    # Only the trap of every part that raised it clears it: PSU1 mended leaves PSU2 failed.
    unit.node("n01").inject_fault("psu", "PSU1")
    unit.node("n01").clear_fault("psu", "PSU1")
    unit.clock.advance(TICK)
    assert (AlertKind.PSU_REDUNDANCY_LOST, "n01") in unit.open_alerts()
    unit.node("n01").clear_fault("psu", "PSU2")
    assert (AlertKind.PSU_REDUNDANCY_LOST, "n01") not in unit.open_alerts()
    closed = only(unit.seen, AlertClosed)
    assert (closed.kind, closed.by) == (AlertKind.PSU_REDUNDANCY_LOST, "system")


def test_a_hardware_alert_outlives_node_replace_until_the_operator_closes_it(unit: Unit) -> None:
    f = unit.fabric
    old = unit.node("n02")
    old.inject_fault("psu", "PSU1")
    (alert,) = f.alerts(open_only=True)
    f.shutdown("n02")
    unit.clock.advance(SHUTDOWN)
    creds = unit.rack.topology.credentials
    replaced = old.replace(
        "NEWSERIAL02", username=creds.username, password=creds.password, firmware={}
    )
    assert of(replaced, NodeReplaced)
    new = unit.node("n02")
    assert f.alerts(open_only=True) == [alert]
    # The new node's PSU failing and mending raises and closes its own alert only.
    new.inject_fault("psu", "PSU2")
    new.clear_fault("psu", "PSU2")
    kinds = [(a.kind, a.hardware_id, a.open) for a in f.alerts()]
    assert kinds == [
        (AlertKind.PSU_REDUNDANCY_LOST, alert.hardware_id, True),
        (AlertKind.PSU_REDUNDANCY_LOST, f"NEWSERIAL02/{new.fru.board_serial}", False),
    ]
    unit.clock.advance(10 * TICK)
    assert f.alert(alert.id).open
    assert only(f.close_alert(alert.id), AlertClosed).by == "operator"


# -- hardware alerts from every trap category ---------------------------------------------------
HW_KINDS = {kind for kind, spec in ALERT_KINDS.items() if spec.hardware}


def raised_kinds(unit: Unit) -> list[AlertKind]:
    return [e.kind for e in of(unit.seen, AlertRaised)]


def closed_kinds(unit: Unit) -> list[AlertKind]:
    return [e.kind for e in of(unit.seen, AlertClosed)]


def test_every_hardware_alert_is_in_the_catalogue_as_the_oems() -> None:
    assert {
        AlertKind.PSU_REDUNDANCY_LOST,
        AlertKind.FAN_FAILURE,
        AlertKind.TEMPERATURE_WARNING,
        AlertKind.TEMPERATURE_CRITICAL,
        AlertKind.MEMORY_ERROR,
        AlertKind.DRIVE_FAILURE,
        AlertKind.BOOT_DRIVE_DEGRADED,
        AlertKind.BOOT_DRIVE_FAILED,
        AlertKind.PROCESSOR_ERROR,
        AlertKind.OS_CRITICAL_STOP,
    } == HW_KINDS
    for kind in HW_KINDS:
        spec = ALERT_KINDS[kind]
        assert spec.title and "{component}" in spec.description and spec.remediation


def test_a_fan_trap_raises_its_alert_and_the_temperatures_their_own_as_they_climb(
    unit: Unit,
) -> None:
    f, node = unit.fabric, unit.node("n02")
    node.inject_fault("fan", "Fan1")
    raised = only(unit.seen, AlertRaised)  # the fan's trap, at once
    assert (raised.kind, raised.device, raised.severity) == (
        AlertKind.FAN_FAILURE,
        "n02",
        Severity.CRITICAL,
    )
    assert raised.title == "Fan failure"
    unit.clock.advance(240.0)  # the CPUs and the exhaust climb, not yet past a threshold
    assert raised_kinds(unit) == [AlertKind.FAN_FAILURE]
    unit.clock.advance(60.0)
    assert raised_kinds(unit)[1:] == [AlertKind.TEMPERATURE_WARNING]
    unit.clock.advance(150.0)
    assert raised_kinds(unit)[2:] == [AlertKind.TEMPERATURE_CRITICAL]
    critical = next(a for a in f.alerts() if a.kind is AlertKind.TEMPERATURE_CRITICAL)
    assert critical.severity is Severity.CRITICAL and critical.hardware_id
    # A second fan fails: mending the first leaves the fan alert open.
    node.inject_fault("fan", "Fan2")
    node.clear_fault("fan", "Fan1")
    unit.clock.advance(TICK)
    assert (AlertKind.FAN_FAILURE, "n02") in unit.open_alerts()
    assert closed_kinds(unit) == []
    unit.seen.clear()
    node.clear_fault("fan", "Fan2")  # its deassert trap closes the fan alert at once
    assert [(e.kind, e.by) for e in of(unit.seen, AlertClosed)] == [
        (AlertKind.FAN_FAILURE, "system")
    ]
    assert {k for k, _ in unit.open_alerts()} == {
        AlertKind.TEMPERATURE_WARNING,
        AlertKind.TEMPERATURE_CRITICAL,
    }
    # The temperatures fall: critical clears first, then the warning, each on its own trap.
    unit.clock.advance(300.0)
    assert closed_kinds(unit)[1:] == [
        AlertKind.TEMPERATURE_CRITICAL,
        AlertKind.TEMPERATURE_WARNING,
    ]
    assert unit.open_alerts() == []
    assert all(a.closed_by == "system" for a in f.alerts())


def test_a_memory_trap_raises_its_alert_until_every_dimm_is_mended_and_mapped_in(
    unit: Unit,
) -> None:
    f, node = unit.fabric, unit.node("n03")
    node.inject_fault("dimm", "A1")
    assert raised_kinds(unit) == [AlertKind.MEMORY_ERROR, AlertKind.OS_CRITICAL_STOP]
    memory = next(a for a in f.alerts() if a.kind is AlertKind.MEMORY_ERROR)
    assert (memory.severity, memory.title) == (Severity.CRITICAL, "Memory error")
    node.inject_fault("dimm", "A2")  # a second DIMM on the same ECC sensor
    node.hard_reset()
    unit.clock.advance(BOOT)  # POST maps A1 and A2 out: Memory Device Disabled
    assert node.mapped_out_dimms == ("A1", "A2")
    node.clear_fault("dimm", "A1")  # the UE deasserts; A1 is still mapped out until POST
    unit.clock.advance(TICK)
    assert (AlertKind.MEMORY_ERROR, "n03") in unit.open_alerts()
    node.clear_fault("dimm", "A2")
    node.hard_reset()
    unit.clock.advance(BOOT)  # A1 and A2 mapped back in: offset 04h deasserted, per DIMM
    assert node.mapped_out_dimms == ()
    assert (AlertKind.MEMORY_ERROR, "n03") not in unit.open_alerts()
    assert f.alert(memory.id).closed_by == "system"
    # The OS stop is an event, never deasserted: the operator closes it.
    unit.clock.advance(10 * TICK)
    (stop,) = [a for a in f.alerts(open_only=True) if a.kind is AlertKind.OS_CRITICAL_STOP]
    assert only(f.close_alert(stop.id), AlertClosed).by == "operator"


def test_one_mended_dimm_leaves_the_memory_alert_open_while_the_other_is_disabled(
    unit: Unit,
) -> None:
    node = unit.node("n03")
    node.inject_fault("dimm", "A1")
    node.inject_fault("dimm", "A2")
    node.clear_fault("dimm", "A1")
    node.hard_reset()
    unit.clock.advance(BOOT)  # A1 back in, A2 out
    assert node.mapped_out_dimms == ("A2",)
    assert (AlertKind.MEMORY_ERROR, "n03") in unit.open_alerts()
    node.clear_fault("dimm", "A2")  # its UE clears, it stays disabled until the next POST
    assert (AlertKind.MEMORY_ERROR, "n03") in unit.open_alerts()
    node.hard_reset()
    unit.clock.advance(BOOT)
    assert (AlertKind.MEMORY_ERROR, "n03") not in unit.open_alerts()


def test_a_data_disk_trap_raises_a_drive_alert_closed_by_every_disk_mended(unit: Unit) -> None:
    node = unit.node("n04")
    node.inject_fault("data-disk", "Disk.1")
    raised = only(unit.seen, AlertRaised)
    assert (raised.kind, raised.severity) == (AlertKind.DRIVE_FAILURE, Severity.CRITICAL)
    node.inject_fault("data-disk", "Disk.3")
    node.clear_fault("data-disk", "Disk.1")
    unit.clock.advance(TICK)
    assert unit.open_alerts() == [(AlertKind.DRIVE_FAILURE, "n04")]
    node.clear_fault("data-disk", "Disk.3")
    assert unit.open_alerts() == []
    assert only(unit.seen, AlertClosed).by == "system"


def test_boot_drive_traps_raise_degraded_then_failed_and_close_as_each_drive_returns(
    unit: Unit,
) -> None:
    node = unit.node("n02")
    node.inject_fault("boot-drive", "BOSS.1")
    raised = only(unit.seen, AlertRaised)
    assert (raised.kind, raised.severity) == (AlertKind.BOOT_DRIVE_DEGRADED, Severity.WARNING)
    assert AlertKind.DRIVE_FAILURE not in raised_kinds(unit)  # not a data disk
    node.inject_fault("boot-drive", "BOSS.2")  # the OS loses its boot volume
    assert raised_kinds(unit)[1:] == [AlertKind.BOOT_DRIVE_FAILED, AlertKind.OS_CRITICAL_STOP]
    node.clear_fault("boot-drive", "BOSS.1")  # one back: degraded, no longer failed
    assert closed_kinds(unit) == [AlertKind.BOOT_DRIVE_FAILED]
    assert (AlertKind.BOOT_DRIVE_DEGRADED, "n02") in unit.open_alerts()
    node.clear_fault("boot-drive", "BOSS.2")
    assert closed_kinds(unit) == [AlertKind.BOOT_DRIVE_FAILED, AlertKind.BOOT_DRIVE_DEGRADED]


def test_a_critical_interrupt_raises_a_processor_alert_that_only_the_operator_closes(
    unit: Unit,
) -> None:
    f = unit.fabric
    unit.node("n01").diag_interrupt()
    raised = only(unit.seen, AlertRaised)
    assert (raised.kind, raised.severity) == (AlertKind.PROCESSOR_ERROR, Severity.CRITICAL)
    unit.node("n01").diag_interrupt()  # the same alert is still open: nothing new
    unit.clock.advance(10 * TICK)
    assert unit.open_alerts() == [(AlertKind.PROCESSOR_ERROR, "n01")]
    assert only(f.close_alert(raised.alert_id), AlertClosed).by == "operator"
    unit.seen.clear()
    unit.node("n01").diag_interrupt()  # a new event: a new alert
    assert only(unit.seen, AlertRaised).alert_id != raised.alert_id


#: A fault, its part, and the alerts its traps raise at once.
_HW_FAULTS = [
    ("fan", "Fan1", {AlertKind.FAN_FAILURE}),
    ("dimm", "A1", {AlertKind.MEMORY_ERROR, AlertKind.OS_CRITICAL_STOP}),
    ("data-disk", "Disk.2", {AlertKind.DRIVE_FAILURE}),
    ("boot-drive", "BOSS.1", {AlertKind.BOOT_DRIVE_DEGRADED}),
]


@pytest.mark.parametrize(("fault", "part", "kinds"), _HW_FAULTS)
def test_no_hardware_alert_is_raised_from_a_trap_lost_behind_the_bmc_switch(
    unit: Unit, fault: str, part: str, kinds: set[AlertKind]
) -> None:
    bmc_switch = unit.rack.switches["bmc-switch"]
    bmc_switch.power_off()
    unit.node("n02").inject_fault(fault, part)
    assert {e.device for e in of(unit.seen, BmcTrapLost)} == {"n02"}
    assert not of(unit.seen, AlertRaised)
    bmc_switch.power_on()
    unit.clock.advance(900.0)  # booted, every BMC answers; the part is still failed
    assert unit.rack.bmc_port_up("n02")
    assert not kinds & {a.kind for a in unit.fabric.alerts()}
    if fault == "fan":  # the temperatures crossed their thresholds once the path was back
        assert AlertKind.TEMPERATURE_WARNING in raised_kinds(unit)
    unit.node("n01").diag_interrupt()  # the path is back: the next trap is heard
    assert AlertKind.PROCESSOR_ERROR in raised_kinds(unit)


@pytest.mark.parametrize(("fault", "part", "kinds"), _HW_FAULTS)
def test_a_hardware_alert_of_each_kind_outlives_node_replace_and_a_snapshot(
    unit: Unit, fault: str, part: str, kinds: set[AlertKind]
) -> None:
    f = unit.fabric
    old = unit.node("n02")
    old.inject_fault(fault, part)
    unit.clock.advance(600.0)  # a fan's temperatures climb too
    hardware = [a for a in f.alerts(open_only=True) if a.kind in HW_KINDS]
    assert kinds <= {a.kind for a in hardware}
    # The scale unit's health service restarts from its snapshot: the alerts and the trapped
    # conditions come back, and the same hardware's clearing trap still closes them.
    data = f.snapshot()
    f.close()
    f2 = unit.fabric = OperatorView(unit.rack, settings=f.settings)
    f2.restore(data)
    assert [a for a in f2.alerts(open_only=True) if a.kind in HW_KINDS] == hardware
    f2.shutdown("n02")
    unit.clock.advance(SHUTDOWN)
    creds = unit.rack.topology.credentials
    old.replace("NEWSERIAL02", username=creds.username, password=creds.password, firmware={})
    unit.clock.advance(10 * TICK)
    still = [a for a in f2.alerts(open_only=True) if a.kind in HW_KINDS]
    assert still == hardware  # the new hardware sent no clearing trap for the old one's
    for alert in still:
        assert only(f2.close_alert(alert.id), AlertClosed).by == "operator"
    assert not [a for a in f2.alerts(open_only=True) if a.kind in HW_KINDS]


def test_a_restored_fabric_closes_a_hardware_alert_on_the_clearing_trap(unit: Unit) -> None:
    f = unit.fabric
    node = unit.node("n03")
    node.inject_fault("dimm", "A3")
    node.inject_fault("data-disk", "Disk.4")
    data = f.snapshot()
    f.close()
    f2 = OperatorView(unit.rack, settings=f.settings)
    f2.restore(data)
    node.clear_fault("data-disk", "Disk.4")
    node.clear_fault("dimm", "A3")  # the UE clears; A3 is not mapped out (no POST since)
    closed = {(a.kind, a.closed_by) for a in f2.alerts() if not a.open}
    assert closed == {(AlertKind.DRIVE_FAILURE, "system"), (AlertKind.MEMORY_ERROR, "system")}


def test_a_silent_bmc_is_alerted_after_a_minute_and_the_alert_closes_when_it_answers(
    unit: Unit,
) -> None:
    bmc_switch = unit.rack.switches["bmc-switch"]
    bmc_switch.set_admin(port_name(3), False)
    unit.clock.advance(TICK)
    assert unit.open_alerts() == []  # a BMC restart is not an incident
    unit.clock.advance(2 * TICK)
    assert unit.open_alerts() == [(AlertKind.BMC_NOT_RESPONDING, "n03")]
    assert of(unit.fabric.stop("n03"), ActionFailed)
    bmc_switch.set_admin(port_name(3), True)
    unit.clock.advance(TICK)
    assert unit.open_alerts() == []
    assert unit.fabric.scale_unit_status() is ScaleUnitStatus.RUNNING  # tenants never noticed


def test_switch_down_alerts_and_what_losing_both_tors_does(unit: Unit) -> None:
    f = unit.fabric
    tor_a, tor_b = unit.rack.switches["tor-a"], unit.rack.switches["tor-b"]
    tor_a.power_off()
    unit.clock.advance(TICK)
    assert unit.open_alerts() == [(AlertKind.TOR_SWITCH_DOWN, "tor-a")]
    tor = f.alerts()[0]
    assert tor.severity is Severity.CRITICAL and tor.title == "Top-of-rack switch is not responding"
    assert f.scale_unit_status() is ScaleUnitStatus.RUNNING  # the other ToR carries the traffic
    assert all(w.state is VmState.RUNNING for w in f.workloads())

    tor_b.power_off()
    assert f.scale_unit_status() is ScaleUnitStatus.REQUIRES_REMEDIATION
    assert {w.state for w in f.workloads()} == {VmState.FAILED}
    unit.clock.advance(TICK)
    kinds = {k for k, _ in unit.open_alerts()}
    assert kinds == {
        AlertKind.TOR_SWITCH_DOWN,
        AlertKind.ROUTE_PUBLICATION_FAILURE,
        AlertKind.NODE_NOT_CONNECTED,
        AlertKind.NODE_NO_PLACEMENT,
    }
    assert (AlertKind.ROUTE_PUBLICATION_FAILURE, "scaleunit-4") in unit.open_alerts()

    tor_a.power_on()
    tor_b.power_on()
    unit.clock.advance(tor_a.spec.boot_s + TICK)
    assert unit.open_alerts() == []
    assert f.scale_unit_status() is ScaleUnitStatus.RUNNING
    assert all(w.state is VmState.RUNNING for w in f.workloads())
    assert {e.device for e in of(unit.seen, StorageRepairStarted)} == set(unit.rack.nodes)


def test_a_bmc_switch_down_is_a_warning_and_every_bmc_goes_silent(unit: Unit) -> None:
    unit.rack.switches["bmc-switch"].power_off()
    unit.clock.advance(TICK)
    assert unit.open_alerts() == [(AlertKind.BMC_SWITCH_DOWN, "bmc-switch")]
    assert unit.fabric.alerts()[0].severity is Severity.WARNING
    unit.clock.advance(2 * TICK)
    assert {k for k, _ in unit.open_alerts()} == {
        AlertKind.BMC_SWITCH_DOWN,
        AlertKind.BMC_NOT_RESPONDING,
    }
    assert of(unit.fabric.stop("n01"), ActionFailed)
    assert unit.fabric.scale_unit_status() is ScaleUnitStatus.RUNNING  # tenants are unaffected


def test_unknown_alerts_cannot_be_closed(unit: Unit) -> None:
    refused = only(unit.fabric.close_alert("alert-9999"), ActionRefused)
    assert (refused.device, refused.reason) == ("scaleunit-4", "no alert 'alert-9999'")


# -- events --------------------------------------------------------------------------------------
def test_every_change_is_an_event_on_the_rack_bus(unit: Unit) -> None:
    returned = unit.fabric.drain("n01")
    fabric_events = [e for e in unit.seen if isinstance(e, FabricEvent)]
    assert fabric_events == [e for e in returned if isinstance(e, FabricEvent)]
    assert [e.name for e in fabric_events][-2:] == ["fabric.node.drained", "fabric.node.status"]
    unit.fabric.stop("n01")
    assert {e.name for e in unit.seen} >= {"power.changed", "fabric.node.stopped"}


def test_close_stops_watching_the_rack(unit: Unit) -> None:
    unit.fabric.close()
    unit.node("n01").power_off()
    unit.clock.advance(10 * TICK)
    assert not any(isinstance(e, FabricEvent) for e in unit.seen)


# -- the baseline --------------------------------------------------------------------------------
def test_the_baseline_comes_from_the_topology_by_default() -> None:
    base = Baseline.from_topology(topology.default())
    assert base.model == "CS-2400"
    assert base.firmware == {
        "bios": "2.27.0",
        "bmc": "7.00.00.184",
        "nic": "14.32.21.04",
        "disk": "16.17.01.00",
        "cpld": "1.1.4",
        "boot_drive": "2.5.13.3024",
    }
    assert [str(d) for d in base.drift({**base.firmware, "nic": "14.30.00.00"})] == [
        "nic 14.30.00.00 (baseline 14.32.21.04)"
    ]


def test_a_baseline_loads_from_yaml_and_names_bad_keys() -> None:
    base = baseline_mod.load_text("name: oem-2408\nfirmware:\n  bios: 2.28.0\n  bmc: 7.10.00.00\n")
    assert (base.name, base.model, base.firmware) == (
        "oem-2408",
        None,
        {"bios": "2.28.0", "bmc": "7.10.00.00"},
    )
    with pytest.raises(
        BaselineError, match=r"b.yaml:3: firmware.gpu: unknown firmware component 'gpu'"
    ):
        baseline_mod.load_text("name: x\nfirmware:\n  gpu: 1.0.0\n", "b.yaml")
    with pytest.raises(
        BaselineError,
        match=r"b.yaml:3: firmware.bios: the version of 'bios' reads as a number: quote it "
        r"\(bios: '2.5'\)",
    ):
        baseline_mod.load_text("name: x\nfirmware:\n  bios: 2.5\n", "b.yaml")
    with pytest.raises(BaselineError, match=r"b.yaml:2: firmwre: unknown key 'firmwre'"):
        baseline_mod.load_text("name: x\nfirmwre:\n  bios: 1.0\n", "b.yaml")


def test_a_separate_baseline_decides_what_repair_accepts(clock: VirtualClock) -> None:
    unit = Unit(clock)
    unit.fabric.baseline = Baseline(name="oem-2410", firmware={"bios": "2.28.0"})
    unit.fabric.stop("n01")
    reason = only(unit.fabric.repair("n01"), ActionRefused).reason
    assert "baseline oem-2410: bios 2.27.0 (baseline 2.28.0)" in reason
    unit.node("n01").firmware["bios"] = "2.28.0"
    assert of(unit.fabric.repair("n01"), RepairStarted)


# -- what blocks an update ----------------------------------------------------------------------
def test_the_update_precheck_lists_what_blocks_an_update(clock: VirtualClock) -> None:
    unit = Unit(clock, nodes=5, members=4)
    f = unit.fabric
    assert f.update_precheck() == []
    f.add("n05")
    assert f.update_precheck() == ["an add of n05 is in progress", "the scale unit is Expanding"]
    clock.advance(f.settings.add_compute_s + f.settings.add_storage_s)
    assert f.update_precheck() == []
    unit.node("n02").bmc_reset(BmcResetKind.COLD)
    assert f.update_precheck() == ["the BMC of n02 does not answer (127.0.1.4)"]


def test_a_repair_through_a_new_bmc_address_keeps_that_address(unit: Unit) -> None:
    f = unit.fabric
    f.stop("n04")
    node = unit.node("n04")
    node.lan = replace(node.lan, address="127.0.1.40")  # set from the HLH on the replacement
    assert of(f.repair("n04"), ActionFailed)  # the fabric still knows the old address
    started = only(f.repair("n04", bmc_address="127.0.1.40"), RepairStarted)
    assert started.bmc_address == "127.0.1.40" == f.node("n04").bmc_address
    clock_end = started.expected_end
    unit.clock.run_until(clock_end)
    assert f.node_status("n04") is NodeStatus.RUNNING
    assert of(f.stop("n04"), NodeStopped)  # later actions use the new address


# -- invariants under random operation ---------------------------------------------------------
_ACTIONS = ("drain", "resume", "stop", "shutdown", "start", "repair")
_FAULTS = ("psu-both", "psu-restore", "bmc-reset", "power-cycle", "hang", "unhang")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(_ACTIONS + _FAULTS),
            st.sampled_from(("n01", "n02", "n03", "n04")),
            st.sampled_from((0.0, 5.0, 30.0, 130.0, 700.0, 3 * HOUR)),
        ),
        max_size=25,
    )
)
def test_invariants_hold_whatever_the_operator_and_the_rack_do(
    steps: list[tuple[str, str, float]],
) -> None:
    unit = Unit(VirtualClock(), repair_s=1200.0)
    f = unit.fabric
    for what, name, wait in steps:
        node = unit.node(name)
        if what in _ACTIONS:
            before = unit.snapshot()
            events = getattr(f, what)(name)
            if any(isinstance(e, ActionRefused | ActionFailed) for e in events):
                assert len(events) == 1 and unit.snapshot() == before
        elif what == "psu-both":
            node.set_psu_input("PSU1", False)
            node.set_psu_input("PSU2", False)
        elif what == "psu-restore":
            node.set_psu_input("PSU1", True)
            node.set_psu_input("PSU2", True)
        elif what == "bmc-reset":
            node.bmc_reset(BmcResetKind.WARM)
        elif what == "power-cycle" and node.state not in (HostState.OFF, HostState.POWERING_ON):
            node.power_cycle()
        elif what in ("hang", "unhang"):
            node.os_responsive = what == "unhang"
        unit.clock.advance(wait)
        f.evaluate_health()

        views = {v.name: v for v in f.nodes()}
        in_service = {
            n
            for n, v in views.items()
            if v.status is NodeStatus.RUNNING and v.power_state is PowerState.RUNNING
        }
        for w in f.workloads():
            if w.state is VmState.RUNNING:
                assert w.node in in_service, (w, views[w.node or "n01"])
            else:
                assert w.node is None
        out = [n for n, v in views.items() if v.in_storage_pool and n not in in_service]
        if len(out) >= 2:
            assert f.storage_at_risk()
            assert all(w.state is not VmState.RUNNING for w in f.workloads())
            assert f.scale_unit_status() in (
                ScaleUnitStatus.REQUIRES_REMEDIATION,
                ScaleUnitStatus.STOPPED,
            )
        assert sum(v.status is NodeStatus.REPAIRING for v in views.values()) <= 1
        for v in views.values():
            assert v.power_state is {
                HostState.OFF: PowerState.STOPPED,
                HostState.RUNNING: PowerState.RUNNING,
                HostState.SHUTTING_DOWN: PowerState.STOPPING,
            }.get(unit.node(v.name).state, PowerState.STARTING)
        for alert in f.alerts():
            assert alert.title == ALERT_KINDS[alert.kind].title
            assert alert.open == (alert.closed_at is None)

"""The scale unit as the cloud operator sees it: node and scale-unit states, actions, rules,
workloads, storage jobs and alerts, over one :class:`~emulator.rack.Rack`. Synchronous, no I/O,
on the rack's clock.

The rules it keeps (``../shared/PROCEDURES.md`` gives the sources):

* A node *in service* is Running, its host runs with a responsive OS, and at least one NIC has
  link. VMs run only on nodes in service; each node starts with ``vms_per_node`` of them.
* A node *out* is a node of the storage pool that is not in service: drained, stopped, booting,
  crashed, cut off, being repaired. One node out is tolerated (N-1). A second one puts storage at
  risk: the scale unit Requires Remediation and every VM fails. When at most one is out again,
  the failed VMs restart on the nodes in service.
* Drain moves VMs live to the least-loaded nodes in service; a node that goes down without a
  drain has its VMs restarted elsewhere (interrupted). Resume does not move them back.
* A node that left the pool (powered off or cut off) and comes back into service starts a storage
  repair job (longer after a Repair, which may bring new data drives).
* Stop, Start, Repair and Add go through the node's BMC: it must have power, be up, have its
  switch port up, sit at the address the fabric knows and accept the rack's credentials; else
  "The BMC IP address ... did not respond to a general query in the expected time".
  Shutdown goes through the OS, not the BMC.
* One repair at a time; no repair or add while an add runs; a failed add counts as running for
  another add until its node is repaired. Repair needs the firmware baseline.
* A refused action (:class:`ActionRefused`) or a failed one (:class:`ActionFailed`) changes
  nothing. Every action returns the events it caused at once; later ones (a repair ending, a
  storage job, alerts) arrive on the rack's bus, as every event does.
* Health is evaluated every ``health_interval_s`` (alerts open and close then). Nothing is
  evaluated while the whole scale unit is Stopped: its health service runs on it.
* Hardware alerts come only from the BMCs' SNMPv3 traps, at once (``BmcTrapSent`` of
  :mod:`bmc.snmp.events`; the sender of :mod:`bmc.snmp.traps` must follow the rack's bus): a
  trap lost (BMC unpowered, hung or resetting, its cable out, the BMC switch down) raises nothing. A
  hardware alert closes by itself when the same hardware's BMC sends the trap that clears every
  condition it raised (deasserted, or back to fully redundant); a trap from other hardware (a
  whole-node or motherboard swap, as ``serial/board serial``) never closes it: the operator does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from bmc.snmp.events import BmcTrapSent
from emulator.operator.alerts import CATALOGUE, Alert, AlertKind, Severity
from emulator.operator.baseline import Baseline
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
from emulator.operator.states import (
    ACCEPTED_FROM,
    POWER_STATE,
    Action,
    NodeStatus,
    PowerState,
    ScaleUnitStatus,
    VmState,
)
from emulator.rack import Rack
from emulator.topology import MAX_NODES
from nodes.clock import Timer
from nodes.events import (
    BmcReady,
    BmcResetStarted,
    Event,
    FirmwareChanged,
    LinkChanged,
    NodeReplaced,
    PartFaultChanged,
    PowerChanged,
    PsuInputChanged,
    UserChanged,
)
from nodes.node import BootTarget, Node
from nodes.power import HostState
from nodes.sel import SensorType
from nodes.sel_meaning import Level, SelMeaning, decode, threshold_level
from nodes.sensors import DRIVE_BASE
from nodes.users import Privilege
from switches.events import PortAdminChanged, SwitchStateChanged
from switches.model import PortRole
from switches.spec import SwitchRole

#: The documented error of Add and Repair (and here Start and Stop) when the BMC does not answer
#: or refuses the rack's credentials.
BMC_NO_ANSWER: Final = (
    "The BMC IP address {address} did not respond to a general query in the expected time"
)

_SHUTDOWN_FALLBACK: Final = (
    "Drain the node, then Stop it (power off through its BMC); if Stop fails twice, power it "
    "off through the BMC's own interface."
)

#: Events from the rack that can change what the fabric sees.
_WATCHED: Final = (
    PowerChanged,
    LinkChanged,
    PsuInputChanged,
    PartFaultChanged,
    NodeReplaced,
    BmcResetStarted,
    BmcReady,
    FirmwareChanged,
    UserChanged,
    SwitchStateChanged,
    PortAdminChanged,
)

#: The hardware alerts a trap of each IPMI sensor type may open or close (voltage, battery and
#: LAN raise none yet; the NIC port fault logs no SEL record, the network alerts cover it).
_TRAP_ALERTS: Final[dict[int, tuple[AlertKind, ...]]] = {
    SensorType.POWER_SUPPLY: (AlertKind.PSU_REDUNDANCY_LOST,),
    SensorType.FAN: (AlertKind.FAN_FAILURE,),
    SensorType.TEMPERATURE: (AlertKind.TEMPERATURE_WARNING, AlertKind.TEMPERATURE_CRITICAL),
    SensorType.MEMORY: (AlertKind.MEMORY_ERROR,),
    SensorType.DRIVE_SLOT: (
        AlertKind.DRIVE_FAILURE,
        AlertKind.BOOT_DRIVE_DEGRADED,
        AlertKind.BOOT_DRIVE_FAILED,
    ),
}
#: Traps that report an event, never deasserted: each one asserted raises its alert (if none is
#: open), which only the operator closes.
_EVENT_TRAP_ALERTS: Final[dict[int, AlertKind]] = {
    SensorType.PROCESSOR: AlertKind.PROCESSOR_ERROR,
    SensorType.CRITICAL_INTERRUPT: AlertKind.PROCESSOR_ERROR,
    SensorType.OS_STOP: AlertKind.OS_CRITICAL_STOP,
    SensorType.WATCHDOG_2: AlertKind.OS_CRITICAL_STOP,
}


def _meaning(trap: BmcTrapSent) -> SelMeaning:
    """What the SEL record behind ``trap`` means (the sender decoded it the same way)."""
    return decode(
        trap.sensor_type,
        trap.sensor_number,
        trap.event_type,
        trap.offset,
        trap.asserted,
        trap.data3,
    )


class FabricSettings(BaseModel):
    """Durations in emulated seconds, and the workload set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    health_interval_s: float = Field(30.0, gt=0, le=3600)
    repair_s: float = Field(3 * 3600.0, gt=0, description="Repairing -> Running (about 3 h)")
    add_compute_s: float = Field(4 * 3600.0, gt=0, description="Expanding")
    add_storage_s: float = Field(8 * 3600.0, gt=0, description="Configuring Storage")
    storage_repair_s: float = Field(1800.0, gt=0, description="after a node returns")
    storage_repair_after_repair_s: float = Field(
        2 * 3600.0, gt=0, description="after a Repair (new data drives take hours)"
    )
    shutdown_timeout_s: float = Field(600.0, gt=0, description="the OS must be off by then")
    bmc_alert_after_s: float = Field(60.0, ge=0, description="a BMC silent this long is alerted")
    vms_per_node: int = Field(3, ge=0, le=1000)


# -- snapshots ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    name: str
    node: str | None
    state: VmState


@dataclass(frozen=True)
class StorageJob:
    id: str
    node: str
    reason: str
    started_at: float
    expected_end: float
    completed_at: float | None

    @property
    def running(self) -> bool:
        return self.completed_at is None


@dataclass(frozen=True)
class NodeView:
    """One row of the operator's node list."""

    name: str
    status: NodeStatus
    power_state: PowerState
    bmc_address: str
    model: str
    serial: str
    cores: int
    memory_gb: int
    in_storage_pool: bool
    vms: tuple[str, ...]
    operation: str | None


@dataclass(frozen=True)
class Verification:
    """After a repair: the storage repair finished and the node's alerts are closed."""

    node: str
    ok: bool
    problems: tuple[str, ...]


# -- internal state -----------------------------------------------------------------------------
class _Refused(Exception):
    pass


class _Failed(Exception):
    pass


@dataclass
class _Record:
    name: str
    status: NodeStatus
    bmc_address: str
    in_pool: bool
    available: bool = False
    storage_away: bool = False
    after_repair: bool = False
    start_pending: bool = False
    shutdown_timer: Timer | None = None
    shown_status: NodeStatus = NodeStatus.RUNNING
    shown_power: PowerState = PowerState.STOPPED


@dataclass
class _Vm:
    name: str
    #: Where it is first placed (spread evenly); elsewhere if that node is out at a health tick.
    home: str
    node: str | None = None
    state: VmState = VmState.PENDING


@dataclass
class _Operation:
    action: Action
    node: str
    started_at: float
    ends_at: float
    timer: Timer | None
    #: For an add: "compute", "storage" or "failed".
    phase: str = "compute"


@dataclass
class _StorageJob:
    id: str
    node: str
    reason: str
    started_at: float
    ends_at: float
    timer: Timer | None = None
    completed_at: float | None = None


_AlertKey = tuple[AlertKind, str, str]  # kind, component, hardware id
#: A BMC sensor of one piece of hardware: node, hardware id, IPMI sensor type, sensor number,
#: and the part the record names in its event data 3 (the DIMM of a memory record, else 0xFF).
_SensorKey = tuple[str, str, int, int, int]


@dataclass
class _Conditions:
    """What one health evaluation found: True (alert), False (clear), None (cannot tell)."""

    found: dict[tuple[AlertKind, str], tuple[bool | None, str]] = field(default_factory=dict)

    def set(self, kind: AlertKind, component: str, value: bool | None, hw: str = "") -> None:
        self.found[(kind, component)] = (value, hw)


class Fabric:
    """The fabric of one scale unit: ``Fabric(rack)``; ``members`` are the nodes already in the
    scale unit (default: all of the rack's), the others can be added."""

    def __init__(
        self,
        rack: Rack,
        *,
        settings: FabricSettings | None = None,
        baseline: Baseline | None = None,
        members: Iterable[str] | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.rack = rack
        self.clock = rack.clock
        self.name = rack.topology.name
        self.settings = settings or FabricSettings()
        self.baseline = baseline or Baseline.from_topology(rack.topology)
        creds = rack.topology.credentials
        self._credentials = credentials or (creds.username, creds.password)

        names = list(rack.nodes) if members is None else list(members)
        for name in names:
            if name not in rack.nodes:
                raise ValueError(f"no node named {name!r} in the rack")
        self._records: dict[str, _Record] = {}
        for name in names:
            spec = rack.nodes[name].spec
            rec = _Record(name, NodeStatus.RUNNING, str(spec.bmc.address), in_pool=True)
            rec.available = self._available(name)
            rec.shown_status = self._shown_status(rec)
            rec.shown_power = self._power_state(name)
            self._records[name] = rec
        self._vms: dict[str, _Vm] = {}
        for i in range(self.settings.vms_per_node * len(names)):
            vm = _Vm(f"vm-{i + 1:03d}", home=names[i % len(names)])
            self._vms[vm.name] = vm
        self._ticking = False
        self._repair_op: _Operation | None = None
        self._add_op: _Operation | None = None
        self._jobs: dict[str, _StorageJob] = {}
        self._job_ids = 0
        self._alerts: dict[str, Alert] = {}
        self._open: dict[_AlertKey, str] = {}
        self._seen: dict[_AlertKey, float] = {}
        self._alert_ids = 0
        #: What the BMCs' traps said is wrong: each sensor's offsets asserted (warning or worse).
        self._trapped: dict[_SensorKey, set[int]] = {}

        self._capture: list[Event] | None = None
        self._cause = "health"
        self._reconciling = False
        self._dirty = False
        self._closed = False
        self._status = self._scale_unit_status()
        self._unsubscribe = rack.bus.subscribe(self._on_event)
        self._tick_timer: Timer | None = self.clock.call_later(
            self.settings.health_interval_s, self._tick
        )
        self._reconcile()

    def close(self) -> None:
        """Stop watching the rack and cancel every timer."""
        self._closed = True
        self._unsubscribe()
        timers = [self._tick_timer]
        timers += [op.timer for op in (self._repair_op, self._add_op) if op is not None]
        timers += [job.timer for job in self._jobs.values()]
        timers += [rec.shutdown_timer for rec in self._records.values()]
        for timer in timers:
            if timer is not None:
                timer.cancel()

    # -- queries -------------------------------------------------------------------------------
    def scale_unit_status(self) -> ScaleUnitStatus:
        return self._status

    def members(self) -> list[str]:
        return list(self._records)

    def node_status(self, name: str) -> NodeStatus:
        return self._shown_status(self._record(name))

    def power_state(self, name: str) -> PowerState:
        return self._power_state(name)

    def nodes(self) -> list[NodeView]:
        return [self.node(name) for name in self._records]

    def node(self, name: str) -> NodeView:
        """The node's row; KeyError for a node that is not in the scale unit."""
        rec = self._record(name)
        node = self._node(name)
        hw = node.spec.hardware
        op = next(
            (o for o in (self._repair_op, self._add_op) if o is not None and o.node == name), None
        )
        return NodeView(
            name=name,
            status=self._shown_status(rec),
            power_state=self._power_state(name),
            bmc_address=rec.bmc_address,
            model=node.spec.model,
            serial=node.spec.serial,
            cores=hw.cpu.count * hw.cpu.cores,
            memory_gb=sum(d.size_gb for d in hw.dimms),
            in_storage_pool=rec.in_pool,
            vms=tuple(v.name for v in self._vms.values() if v.node == name),
            operation=None if op is None else op.action.value,
        )

    def workloads(self) -> list[Workload]:
        return [Workload(v.name, v.node, v.state) for v in self._vms.values()]

    def storage_jobs(self) -> list[StorageJob]:
        return [
            StorageJob(j.id, j.node, j.reason, j.started_at, j.ends_at, j.completed_at)
            for j in self._jobs.values()
        ]

    def alerts(self, *, open_only: bool = False) -> list[Alert]:
        return [a for a in self._alerts.values() if a.open or not open_only]

    def alert(self, alert_id: str) -> Alert:
        return self._alerts[alert_id]

    def storage_at_risk(self) -> bool:
        return len(self._out()) >= 2

    def update_precheck(self) -> list[str]:
        """What blocks an update (firmware or OS) now; empty when it may start. Nothing runs
        while an add runs or has failed, or while a repair runs; the health check of the BMCs
        must pass; the scale unit must be Running with its storage repaired."""
        blockers = []
        add = self._add_op
        if add is not None:
            blockers.append(
                f"the failed add of {add.node} counts as in progress"
                if add.phase == "failed"
                else f"an add of {add.node} is in progress"
            )
        if self._repair_op is not None:
            blockers.append(f"a repair of {self._repair_op.node} is running")
        if self._status is not ScaleUnitStatus.RUNNING:
            blockers.append(f"the scale unit is {self._status.label}")
        for name, rec in self._records.items():
            if rec.status is not NodeStatus.ADDING and self._bmc_problem(name, rec.bmc_address):
                blockers.append(f"the BMC of {name} does not answer ({rec.bmc_address})")
        for job in self._jobs.values():
            if job.completed_at is None:
                blockers.append(f"storage repair job {job.id} ({job.node}) is still running")
        return blockers

    def verify(self, name: str) -> Verification:
        """The procedure's last step: the node is back, storage repair finished, alerts closed."""
        rec = self._record(name)
        problems = []
        shown = self._shown_status(rec)
        if shown is not NodeStatus.RUNNING:
            problems.append(f"{name} is {shown.label}, not Running")
        for job in self._jobs.values():
            if job.completed_at is None:
                problems.append(f"storage repair job {job.id} ({job.node}) is still running")
        for alert in self._alerts.values():
            if alert.open and alert.component == name:
                problems.append(f"alert {alert.id} is open: {alert.title}")
        return Verification(name, not problems, tuple(problems))

    # -- actions -------------------------------------------------------------------------------
    def drain(self, name: str) -> list[Event]:
        """Running -> Maintenance: the node's VMs move, live, to the other nodes."""
        return self._run(Action.DRAIN, name, lambda: self._drain(name))

    def resume(self, name: str) -> list[Event]:
        """Back to Running (placement); VMs that moved away stay where they are."""
        return self._run(Action.RESUME, name, lambda: self._resume(name))

    def stop(self, name: str) -> list[Event]:
        """Power off through the BMC, like the power button: the OS gets no signal."""
        return self._run(Action.STOP, name, lambda: self._stop(name))

    def shutdown(self, name: str) -> list[Event]:
        """Drain, then ask the OS to shut down; :class:`ShutdownFailed` if it is not off in time."""
        return self._run(Action.SHUTDOWN, name, lambda: self._shutdown(name))

    def start(self, name: str) -> list[Event]:
        """Power on through the BMC; the node is not used for placement until resumed."""
        return self._run(Action.START, name, lambda: self._start(name))

    def repair(self, name: str, bmc_address: str | None = None) -> list[Event]:
        """Redeploy the node (Repairing -> Running after ``repair_s``) through its BMC at
        ``bmc_address`` (default: the address the fabric knows)."""
        return self._run(Action.REPAIR, name, lambda: self._repair(name, bmc_address))

    def add(self, name: str, bmc_address: str | None = None) -> list[Event]:
        """Add a node of the rack that is not in the scale unit (a new or newly cabled one)."""
        return self._run(Action.ADD, name, lambda: self._add(name, bmc_address))

    def close_alert(self, alert_id: str) -> list[Event]:
        """Close an alert by hand (hardware alerts after a swap need this)."""
        return self._run(Action.CLOSE_ALERT, self.name, lambda: self._close_by_hand(alert_id))

    def set_bmc_credentials(self, username: str, password: str) -> None:
        """The credentials the fabric uses with every BMC (after rotating them on the BMCs)."""
        self._credentials = (username, password)

    def evaluate_health(self) -> list[Event]:
        """Run the health evaluation now (it also runs every ``health_interval_s``)."""
        with self._recording() as events:
            self._ticking = True
            try:
                self._reconcile()
            finally:
                self._ticking = False
            self._evaluate()
        return events

    # -- persistence ---------------------------------------------------------------------------
    #: Why an operation running when the emulator died ends as failed on restore.
    INTERRUPTED: Final = (
        "interrupted: the emulator stopped while it ran (as after a power loss of the hosts "
        "running the deployment)"
    )

    def snapshot(self) -> dict[str, Any]:
        """Everything the fabric holds, JSON-safe: node records, VMs, the running repair or add,
        storage jobs, alerts open and closed, counters, the scale unit's status and the BMC
        credentials it uses. :meth:`restore` takes it back."""

        def op(o: _Operation | None) -> dict[str, Any] | None:
            if o is None:
                return None
            return {
                "action": o.action.value,
                "node": o.node,
                "started_at": o.started_at,
                "ends_at": o.ends_at,
                "phase": o.phase,
            }

        return {
            "version": 1,
            "records": [
                {
                    "name": r.name,
                    "status": r.status.value,
                    "bmc_address": r.bmc_address,
                    "in_pool": r.in_pool,
                    "storage_away": r.storage_away,
                    "after_repair": r.after_repair,
                    "start_pending": r.start_pending,
                    "shutting_down": r.shutdown_timer is not None,
                    "shown_status": r.shown_status.value,
                    "shown_power": r.shown_power.value,
                }
                for r in self._records.values()
            ],
            "vms": [
                {"name": v.name, "home": v.home, "node": v.node, "state": v.state.value}
                for v in self._vms.values()
            ],
            "repair": op(self._repair_op),
            "add": op(self._add_op),
            "jobs": [
                {
                    "id": j.id,
                    "node": j.node,
                    "reason": j.reason,
                    "started_at": j.started_at,
                    "ends_at": j.ends_at,
                    "completed_at": j.completed_at,
                }
                for j in self._jobs.values()
            ],
            "job_ids": self._job_ids,
            "alerts": [
                {
                    "id": a.id,
                    "kind": a.kind.value,
                    "title": a.title,
                    "severity": a.severity.value,
                    "component": a.component,
                    "description": a.description,
                    "remediation": a.remediation,
                    "opened_at": a.opened_at,
                    "closed_at": a.closed_at,
                    "closed_by": a.closed_by,
                    "hardware_id": a.hardware_id,
                }
                for a in self._alerts.values()
            ],
            "alert_ids": self._alert_ids,
            "trapped": [[*key, sorted(offsets)] for key, offsets in self._trapped.items()],
            "status": self._status.value,
            "credentials": list(self._credentials),
        }

    def _storage_timer(self, job: _StorageJob) -> Timer:
        job_id = job.id
        return self.clock.call_at(job.ends_at, lambda: self._storage_repair_ended(job_id))

    def restore(self, data: dict[str, Any]) -> list[Event]:
        """Put back what :meth:`snapshot` returned, on a fabric built over the restored rack.

        A repair that was running ends as failed (the node Requires Remediation), and an add in
        its compute phase fails (the node Stopped, the add counting as running until the node is
        repaired), as a real deployment does when it loses power. Storage jobs (a repair job, a
        storage expansion) go on to their end time. A shutdown under way is forgotten: its host
        lost power too. Then the fabric looks at the rack again, and emits what differs."""
        if data.get("version") != 1:
            raise ValueError(f"unknown fabric snapshot version {data.get('version')!r}")
        for timer in (
            [op.timer for op in (self._repair_op, self._add_op) if op is not None]
            + [j.timer for j in self._jobs.values()]
            + [r.shutdown_timer for r in self._records.values()]
        ):
            if timer is not None:
                timer.cancel()
        now = self._now()
        records: dict[str, _Record] = {}
        for r in data["records"]:
            if r["name"] not in self.rack.nodes:
                raise ValueError(f"the snapshot names {r['name']!r}, not in the rack")
            rec = _Record(
                r["name"],
                NodeStatus(r["status"]),
                r["bmc_address"],
                in_pool=r["in_pool"],
                storage_away=r["storage_away"],
                after_repair=r["after_repair"],
                start_pending=r["start_pending"],
                shown_status=NodeStatus(r["shown_status"]),
                shown_power=PowerState(r["shown_power"]),
            )
            rec.available = self._available(rec.name)
            records[rec.name] = rec
        self._records = records
        self._vms = {
            v["name"]: _Vm(v["name"], v["home"], v["node"], VmState(v["state"]))
            for v in data["vms"]
        }
        self._jobs = {}
        for j in data["jobs"]:
            job = _StorageJob(
                j["id"],
                j["node"],
                j["reason"],
                j["started_at"],
                j["ends_at"],
                completed_at=j["completed_at"],
            )
            if job.completed_at is None:
                job.timer = self._storage_timer(job)
            self._jobs[job.id] = job
        self._job_ids = int(data["job_ids"])
        self._alerts = {}
        self._open = {}
        self._seen = {}
        for a in data["alerts"]:
            alert = Alert(
                id=a["id"],
                kind=AlertKind(a["kind"]),
                title=a["title"],
                severity=Severity(a["severity"]),
                component=a["component"],
                description=a["description"],
                remediation=a["remediation"],
                opened_at=a["opened_at"],
                closed_at=a["closed_at"],
                closed_by=a["closed_by"],
                hardware_id=a["hardware_id"],
            )
            self._alerts[alert.id] = alert
            if alert.open:
                self._open[(alert.kind, alert.component, alert.hardware_id)] = alert.id
        self._alert_ids = int(data["alert_ids"])
        self._trapped = {}
        for row in data.get("trapped", []):  # absent before the traps
            n, hw, st, sn, *part, offsets = row  # no part before the memory alerts
            key = (str(n), str(hw), int(st), int(sn), int(part[0]) if part else 0xFF)
            self._trapped[key] = {int(o) for o in offsets}
        self._status = ScaleUnitStatus(data["status"])
        username, password = data["credentials"]
        self._credentials = (username, password)
        self._repair_op = None
        self._add_op = None
        with self._recording() as events, self._because("restore"):
            repair, add = data["repair"], data["add"]
            if repair is not None:
                rec = self._records[repair["node"]]
                rec.status = NodeStatus.REQUIRES_REMEDIATION
                self._emit(RepairFailed(device=rec.name, at=now, reason=self.INTERRUPTED))
            if add is not None:
                op = _Operation(
                    Action.ADD, add["node"], add["started_at"], add["ends_at"], None, add["phase"]
                )
                self._add_op = op
                if op.phase == "compute":
                    op.phase = "failed"
                    self._records[op.node].status = NodeStatus.STOPPED
                    self._emit(AddFailed(device=op.node, at=now, reason=self.INTERRUPTED))
                elif op.phase == "storage":
                    op.timer = self.clock.call_at(op.ends_at, self._expansion_ended)
            self._reconcile()
        return events

    # -- action bodies -------------------------------------------------------------------------
    def _drain(self, name: str) -> None:
        rec = self._accept(Action.DRAIN, name)
        rec.status = NodeStatus.MAINTENANCE
        moved = () if self.storage_at_risk() else self._evacuate(name, live=self._available(name))
        self._emit(NodeDrained(device=name, at=self._now(), moved=moved))

    def _resume(self, name: str) -> None:
        rec = self._accept(Action.RESUME, name)
        node = self._node(name)
        if node.state is not HostState.RUNNING:
            raise _Refused(
                f"{name} is powered {self._power_state(name).label.lower()}: Start it and wait "
                "for its OS before Resume"
            )
        if not self._available(name):
            raise _Refused(f"{name}'s operating system does not answer on the network")
        rec.status = NodeStatus.RUNNING
        self._emit(NodeResumed(device=name, at=self._now()))

    def _stop(self, name: str) -> None:
        rec = self._accept(Action.STOP, name)
        if self._node(name).state is HostState.OFF:
            raise _Refused(f"{name} is already powered off")
        self._check_bmc(name, rec.bmc_address)
        if rec.status is not NodeStatus.REQUIRES_REMEDIATION:
            rec.status = NodeStatus.STOPPED
        rec.start_pending = False
        self._cancel_shutdown(rec)
        self._node(name).power_off("fabric-stop")
        self._emit(NodeStopped(device=name, at=self._now()))

    def _shutdown(self, name: str) -> None:
        rec = self._accept(Action.SHUTDOWN, name)
        node = self._node(name)
        if node.state is not HostState.RUNNING:
            raise _Refused(
                f"{name}'s operating system is not running (power state "
                f"{self._power_state(name).label}): use Stop"
            )
        if rec.shutdown_timer is not None:
            raise _Refused(f"a shutdown of {name} is already under way")
        moved: tuple[str, ...] = ()
        if rec.status is NodeStatus.RUNNING:
            rec.status = NodeStatus.MAINTENANCE
            if not self.storage_at_risk():
                moved = self._evacuate(name, live=self._available(name))
        rec.start_pending = False
        rec.shutdown_timer = self.clock.call_later(
            self.settings.shutdown_timeout_s, lambda: self._shutdown_timed_out(name)
        )
        self._emit(ShutdownStarted(device=name, at=self._now(), moved=moved))
        if self._connected(name):  # the request reaches the OS over the network
            node.soft_off()  # a hung OS ignores it

    def _start(self, name: str) -> None:
        rec = self._accept(Action.START, name)
        if self._node(name).state is not HostState.OFF:
            raise _Refused(
                f"{name} is already powered on (power state {self._power_state(name).label})"
            )
        self._check_bmc(name, rec.bmc_address)
        if rec.status is NodeStatus.RUNNING:
            rec.status = NodeStatus.STOPPED  # it was down: it comes back paused
        rec.start_pending = True
        self._emit(NodeStarted(device=name, at=self._now()))
        self._node(name).power_on()

    def _repair(self, name: str, bmc_address: str | None) -> None:
        rec = self._accept(Action.REPAIR, name)
        if self._repair_op is not None:
            raise _Refused(f"a repair of {self._repair_op.node} is running: one repair at a time")
        add = self._add_op
        if add is not None and add.phase != "failed":
            raise _Refused(f"an add of {add.node} is in progress: no repair until it ends")
        node = self._node(name)
        self._check_hardware(name)
        self._check_bmc(name, bmc_address or rec.bmc_address)
        self._check_baseline(node)
        # Everything is checked: from here on the repair runs.
        now = self._now()
        ends = now + self.settings.repair_s
        rec.status = NodeStatus.REPAIRING
        rec.bmc_address = bmc_address or rec.bmc_address  # a replacement's BMC may have moved
        rec.start_pending = False
        self._cancel_shutdown(rec)
        timer = self.clock.call_at(ends, self._repair_ended)
        self._repair_op = _Operation(Action.REPAIR, name, now, ends, timer)
        self._emit(
            RepairStarted(device=name, at=now, bmc_address=rec.bmc_address, expected_end=ends)
        )
        self._deploy(node)

    def _add(self, name: str, bmc_address: str | None) -> None:
        if name not in self.rack.nodes:
            raise _Refused(f"no node named {name!r} in the rack")
        if name in self._records:
            shown = self._shown_status(self._records[name]).label
            raise _Refused(f"{name} is already in the scale unit ({shown})")
        add = self._add_op
        if add is not None:
            if add.phase == "failed":
                raise _Refused(
                    f"the failed add of {add.node} counts as in progress: Repair {add.node} first"
                )
            raise _Refused(f"an add of {add.node} is in progress: one add at a time")
        if self._repair_op is not None:
            raise _Refused(f"a repair of {self._repair_op.node} is running: wait for it to end")
        if len(self._records) >= MAX_NODES:
            raise _Refused(f"a scale unit has at most {MAX_NODES} nodes")
        self._check_hardware(name)
        node = self._node(name)
        address = bmc_address or str(node.spec.bmc.address)
        self._check_bmc(name, address)
        now = self._now()
        ends = now + self.settings.add_compute_s
        rec = _Record(name, NodeStatus.ADDING, address, in_pool=False)
        rec.shown_status = NodeStatus.ADDING
        rec.shown_power = self._power_state(name)
        self._records[name] = rec
        timer = self.clock.call_at(ends, self._add_compute_ended)
        self._add_op = _Operation(Action.ADD, name, now, ends, timer)
        self._emit(AddStarted(device=name, at=now, bmc_address=address, expected_end=ends))
        self._emit(
            NodeStatusChanged(
                device=name, at=now, old=NodeStatus.STOPPED, new=NodeStatus.ADDING, cause="add"
            )
        )
        self._deploy(node)

    def _close_by_hand(self, alert_id: str) -> None:
        alert = self._alerts.get(alert_id)
        if alert is None:
            raise _Refused(f"no alert {alert_id!r}")
        if not alert.open:
            raise _Refused(f"alert {alert_id} is already closed")
        self._close_alert(alert, "operator")

    # -- checks --------------------------------------------------------------------------------
    def _accept(self, action: Action, name: str) -> _Record:
        if name not in self._records:
            if name in self.rack.nodes:
                raise _Refused(f"{name} is not in the scale unit: Add it first")
            raise _Refused(f"no node named {name!r} in the scale unit")
        rec = self._records[name]
        shown = self._shown_status(rec)
        if shown not in ACCEPTED_FROM[action]:
            if shown in (NodeStatus.REPAIRING, NodeStatus.ADDING):
                raise _Refused(f"{name} is {shown.label}: wait for that operation to end")
            allowed = " or ".join(s.label for s in NodeStatus if s in ACCEPTED_FROM[action])
            raise _Refused(f"{name} is {shown.label}: {action.value} needs {allowed}")
        return rec

    def _bmc_problem(self, name: str, address: str) -> str | None:
        """Why the BMC at ``address`` does not answer the fabric, or None when it does."""
        node = self._node(name)
        reachable = (
            node.bmc_powered()
            and node.bmc_answering()
            and self.rack.bmc_port_up(name)
            and node.lan.address == address
        )
        if reachable:
            username, password = self._credentials
            user = node.users.by_name(username)
            reachable = (
                user is not None
                and user.enabled
                and user.password == password
                and user.privilege in (Privilege.OPERATOR, Privilege.ADMINISTRATOR, Privilege.OEM)
            )
        return None if reachable else BMC_NO_ANSWER.format(address=address)

    def _check_bmc(self, name: str, address: str) -> None:
        problem = self._bmc_problem(name, address)
        if problem is not None:
            raise _Failed(problem)

    def _check_baseline(self, node: Node) -> None:
        base = self.baseline
        if base.model is not None and node.spec.model != base.model:
            raise _Refused(
                f"{node.name} is a {node.spec.model}; the firmware baseline {base.name} is for "
                f"{base.model}"
            )
        drift = base.drift(node.firmware)
        if drift:
            raise _Refused(
                f"the firmware of {node.name} is not at the baseline {base.name}: "
                + ", ".join(str(d) for d in drift)
                + "; level it with the OEM's tools before Repair"
            )

    def _check_hardware(self, name: str) -> None:
        """A node must match the scale unit's: same CPU model, memory, data disks."""
        others = [n for n, r in self._records.items() if r.in_pool and n != name]
        if not others:
            return

        def shape(node_name: str) -> tuple[str, int, int, tuple[int, ...]]:
            hw = self._node(node_name).spec.hardware
            return (
                hw.cpu.model,
                hw.cpu.count,
                sum(d.size_gb for d in hw.dimms),
                tuple(sorted(d.capacity_gb for d in hw.data_disks)),
            )

        usual = Counter(shape(n) for n in others).most_common(1)[0][0]
        mine = shape(name)
        if mine[0] != usual[0]:
            raise _Refused(
                f"{name} has CPU {mine[0]!r}, the scale unit {usual[0]!r}: a different CPU model "
                "is not supported (that means redeploying)"
            )
        if mine != usual:
            raise _Refused(
                f"{name}'s memory or data disks differ from the scale unit's nodes "
                f"({mine[2]} GB, disks {list(mine[3])} against {usual[2]} GB, "
                f"disks {list(usual[3])})"
            )

    # -- operations on the clock ---------------------------------------------------------------
    def _deploy(self, node: Node) -> None:
        """Through the BMC: power off if on, boot from the network once, power on."""
        if node.state is not HostState.OFF:
            node.power_off("fabric-deploy")
        node.set_boot_override(BootTarget.PXE)
        node.power_on()

    def _repair_ended(self) -> None:
        op = self._repair_op
        if op is None or self._closed:
            return
        self._repair_op = None
        name = op.node
        rec = self._records[name]
        with self._because("repair"):
            reason = self._deployment_problem(name)
            if reason is None:
                rec.status = NodeStatus.RUNNING
                add = self._add_op
                if add is not None and add.phase == "failed" and add.node == name:
                    # The repaired node was a failed add: storage expands onto it now.
                    self._add_op = None
                    rec.in_pool = True
                    self._emit(RepairCompleted(device=name, at=self._now()))
                    self._start_expansion(name)
                else:
                    rec.in_pool = True
                    rec.storage_away = True
                    rec.after_repair = True
                    self._emit(RepairCompleted(device=name, at=self._now()))
            else:
                rec.status = NodeStatus.REQUIRES_REMEDIATION
                self._emit(RepairFailed(device=name, at=self._now(), reason=reason))
            self._reconcile()

    def _add_compute_ended(self) -> None:
        op = self._add_op
        if op is None or op.phase != "compute" or self._closed:
            return
        name = op.node
        rec = self._records[name]
        with self._because("add"):
            reason = self._deployment_problem(name)
            if reason is None:
                rec.status = NodeStatus.RUNNING
                rec.in_pool = True
                self._emit(AddCompleted(device=name, at=self._now()))
                self._start_expansion(name)
            else:
                op.phase = "failed"
                op.timer = None
                rec.status = NodeStatus.STOPPED
                self._emit(AddFailed(device=name, at=self._now(), reason=reason))
                node = self._node(name)
                if (
                    node.state is not HostState.OFF
                    and self._bmc_problem(name, rec.bmc_address) is None
                ):
                    node.power_off("fabric-add-failed")
            self._reconcile()

    def _deployment_problem(self, name: str) -> str | None:
        node = self._node(name)
        drift = self.baseline.drift(node.firmware)
        if drift:
            return (
                "the operating system could not be deployed: firmware not at the baseline "
                f"{self.baseline.name} (" + ", ".join(str(d) for d in drift) + ")"
            )
        if not self._available(name):
            return (
                f"{name} did not come up in the expected time (power state "
                f"{self._power_state(name).label}"
                + (", no network link" if not self._connected(name) else "")
                + ")"
            )
        return None

    def _start_expansion(self, name: str) -> None:
        now = self._now()
        ends = now + self.settings.add_storage_s
        timer = self.clock.call_at(ends, self._expansion_ended)
        self._add_op = _Operation(Action.ADD, name, now, ends, timer, phase="storage")
        self._emit(StorageExpansionStarted(device=self.name, at=now, node=name, expected_end=ends))

    def _expansion_ended(self) -> None:
        op = self._add_op
        if op is None or op.phase != "storage" or self._closed:
            return
        self._add_op = None
        with self._because("add"):
            self._emit(StorageExpansionCompleted(device=self.name, at=self._now(), node=op.node))
            self._reconcile()

    def _shutdown_timed_out(self, name: str) -> None:
        rec = self._records.get(name)
        if rec is None or self._closed:
            return
        rec.shutdown_timer = None
        if self._node(name).state is HostState.OFF:
            return
        with self._because("shutdown"):
            self._emit(
                ShutdownFailed(
                    device=name,
                    at=self._now(),
                    reason=f"the operating system of {name} did not shut down in the expected time",
                    remediation=_SHUTDOWN_FALLBACK,
                )
            )
            self._reconcile()

    def _cancel_shutdown(self, rec: _Record) -> None:
        if rec.shutdown_timer is not None:
            rec.shutdown_timer.cancel()
            rec.shutdown_timer = None

    def _start_storage_repair(self, rec: _Record) -> None:
        self._job_ids += 1
        job_id = f"storage-repair-{self._job_ids}"
        now = self._now()
        if rec.after_repair:
            length, reason = self.settings.storage_repair_after_repair_s, "node repaired"
        else:
            length, reason = self.settings.storage_repair_s, "node returned"
        job = _StorageJob(job_id, rec.name, reason, now, now + length)
        job.timer = self.clock.call_at(job.ends_at, lambda: self._storage_repair_ended(job_id))
        self._jobs[job_id] = job
        rec.storage_away = False
        rec.after_repair = False
        self._emit(
            StorageRepairStarted(
                device=rec.name, at=now, job_id=job_id, reason=reason, expected_end=job.ends_at
            )
        )

    def _storage_repair_ended(self, job_id: str) -> None:
        job = self._jobs[job_id]
        if self._closed:
            return
        job.timer = None
        job.completed_at = self._now()
        with self._because("storage"):
            self._emit(StorageRepairCompleted(device=job.node, at=self._now(), job_id=job_id))

    # -- what the rack tells us ----------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if self._capture is not None:
            self._capture.append(event)
        if isinstance(event, BmcTrapSent):
            self._on_trap(event)
            return
        if isinstance(event, FabricEvent) or not isinstance(event, _WATCHED):
            return
        if event.device not in self.rack.nodes and event.device not in self.rack.switches:
            return
        self._reconcile()

    def _on_trap(self, trap: BmcTrapSent) -> None:
        """A hardware trap a member's BMC sent: raise its alert, or close it once the same
        hardware's BMC reports every condition of that kind cleared."""
        name = trap.device
        event_kind = _EVENT_TRAP_ALERTS.get(trap.sensor_type)
        kinds = _TRAP_ALERTS.get(trap.sensor_type)
        if name not in self._records or self._status is ScaleUnitStatus.STOPPED:
            return  # not a member, or nobody listens (see _evaluate)
        if kinds is None and event_kind is None:
            return  # no alert of its own
        node = self._node(name)
        hw = self._hw_id(node)
        conditions = _Conditions()
        if event_kind is not None:
            if trap.asserted and _meaning(trap).level > Level.INFO:
                conditions.set(event_kind, name, True, hw)
                self._apply(conditions)
            return
        assert kinds is not None
        for old in [k for k in self._trapped if k[0] == name and k[1] != hw]:
            del self._trapped[old]  # swapped hardware: its alerts wait for the operator
        meant = _meaning(trap)
        part = 0xFF if meant.instance is None else meant.instance
        key = (name, hw, trap.sensor_type, trap.sensor_number, part)
        offsets = self._trapped.setdefault(key, set())
        bad = meant.level > Level.INFO
        if meant.one_state:
            offsets.clear()  # a redundancy sensor is in one state at a time
            if bad:
                offsets.add(trap.offset)
        elif trap.asserted and bad:
            offsets.add(trap.offset)
        elif not trap.asserted:
            offsets.discard(trap.offset)
        if not offsets:
            del self._trapped[key]
        active = self._trapped_kinds(node, hw)
        for kind in kinds:
            conditions.set(kind, name, kind in active, hw)
        self._apply(conditions)

    def _trapped_kinds(self, node: Node, hw: str) -> set[AlertKind]:
        """The hardware alerts the conditions the node's BMC trapped (and did not clear) hold."""
        found: set[AlertKind] = set()
        data_disks = len(node.spec.hardware.data_disks)
        boot_failed = 0
        for (name, key_hw, sensor_type, number, _part), offsets in self._trapped.items():
            if name != node.name or key_hw != hw:
                continue
            if sensor_type == SensorType.TEMPERATURE:
                for offset in offsets:
                    found.add(
                        AlertKind.TEMPERATURE_WARNING
                        if threshold_level(offset) is Level.WARNING
                        else AlertKind.TEMPERATURE_CRITICAL
                    )
            elif sensor_type == SensorType.DRIVE_SLOT:
                if number - DRIVE_BASE < data_disks:
                    found.add(AlertKind.DRIVE_FAILURE)
                else:
                    boot_failed += 1
            else:
                found.update(_TRAP_ALERTS.get(sensor_type, ()))
        if boot_failed:
            found.add(AlertKind.BOOT_DRIVE_DEGRADED)
        if boot_failed and boot_failed >= len(node.spec.hardware.boot_drives):
            found.add(AlertKind.BOOT_DRIVE_FAILED)
        return found

    def _tick(self) -> None:
        if self._closed:
            return
        self._tick_timer = self.clock.call_later(self.settings.health_interval_s, self._tick)
        self._ticking = True
        try:
            self._reconcile()
        finally:
            self._ticking = False
        self._evaluate()

    def _reconcile(self) -> None:
        """Bring states, workloads and storage in line with the rack (idempotent)."""
        if self._reconciling:
            self._dirty = True
            return
        self._reconciling = True
        try:
            for _ in range(10):
                self._dirty = False
                self._reconcile_once()
                if not self._dirty:
                    break
        finally:
            self._reconciling = False

    def _reconcile_once(self) -> None:
        for rec in self._records.values():
            node = self._node(rec.name)
            available = self._available(rec.name)
            if rec.available and not available and rec.in_pool:
                rec.storage_away = True  # its copy of the data is going stale
            rec.available = available
            if rec.shutdown_timer is not None and node.state is HostState.OFF:
                self._cancel_shutdown(rec)
                if rec.status is NodeStatus.MAINTENANCE:
                    rec.status = NodeStatus.STOPPED
                self._emit(NodeShutDown(device=rec.name, at=self._now()))
            if rec.start_pending and node.state is HostState.RUNNING:
                rec.start_pending = False
                if rec.status is NodeStatus.STOPPED:
                    rec.status = NodeStatus.MAINTENANCE
            if rec.storage_away and rec.in_pool and self._in_service(rec):
                self._start_storage_repair(rec)
        self._reconcile_workloads()
        for rec in self._records.values():
            shown = self._shown_status(rec)
            if shown is not rec.shown_status:
                old, rec.shown_status = rec.shown_status, shown
                self._emit(
                    NodeStatusChanged(
                        device=rec.name, at=self._now(), old=old, new=shown, cause=self._cause
                    )
                )
            power = self._power_state(rec.name)
            if power is not rec.shown_power:
                old_power, rec.shown_power = rec.shown_power, power
                self._emit(
                    NodePowerStateChanged(device=rec.name, at=self._now(), old=old_power, new=power)
                )
        status = self._scale_unit_status()
        if status is not self._status:
            old_status, self._status = self._status, status
            self._emit(
                ScaleUnitStatusChanged(
                    device=self.name, at=self._now(), old=old_status, new=status, cause=self._cause
                )
            )

    def _reconcile_workloads(self) -> None:
        now = self._now()
        if self.storage_at_risk():
            out = ", ".join(sorted(r.name for r in self._out()))
            for vm in self._vms.values():
                if vm.state is VmState.RUNNING:
                    device = vm.node or self.name
                    vm.state, vm.node = VmState.FAILED, None
                    self._emit(
                        WorkloadFailed(
                            device=device,
                            at=now,
                            vm=vm.name,
                            reason=f"storage at risk: {out} are out of the scale unit at once",
                        )
                    )
            return
        for vm in self._vms.values():
            if vm.state is VmState.RUNNING and vm.node is not None and not self._available(vm.node):
                self._move(vm, live=False)
        for vm in self._vms.values():
            if vm.state is not VmState.RUNNING:
                home = self._records.get(vm.home)
                if vm.state is VmState.PENDING and home is not None and self._in_service(home):
                    target: str | None = vm.home
                elif vm.state is VmState.PENDING and not self._ticking:
                    continue  # its home may come up in a moment (a cold start)
                else:
                    target = self._least_loaded(exclude=None)
                if target is None:
                    break
                restarted = vm.state is VmState.FAILED
                vm.state, vm.node = VmState.RUNNING, target
                self._emit(WorkloadStarted(device=target, at=now, vm=vm.name, restarted=restarted))

    def _evacuate(self, name: str, *, live: bool) -> tuple[str, ...]:
        moved = []
        for vm in self._vms.values():
            if vm.state is VmState.RUNNING and vm.node == name and self._move(vm, live=live):
                moved.append(vm.name)
        return tuple(moved)

    def _move(self, vm: _Vm, *, live: bool) -> bool:
        source = vm.node or self.name
        target = self._least_loaded(exclude=source)
        if target is None:
            vm.state, vm.node = VmState.FAILED, None
            self._emit(
                WorkloadFailed(
                    device=source, at=self._now(), vm=vm.name, reason="no node can take it"
                )
            )
            return False
        vm.node = target
        self._emit(
            WorkloadMoved(device=source, at=self._now(), vm=vm.name, target=target, live=live)
        )
        return True

    def _least_loaded(self, exclude: str | None) -> str | None:
        load = Counter(v.node for v in self._vms.values() if v.state is VmState.RUNNING)
        candidates = [
            r.name for r in self._records.values() if r.name != exclude and self._in_service(r)
        ]
        if not candidates:
            return None
        return min(candidates, key=lambda n: (load[n], n))

    # -- health and alerts ---------------------------------------------------------------------
    def _evaluate(self) -> None:
        if self._status is ScaleUnitStatus.STOPPED:
            return  # the health service runs on the scale unit
        c = _Conditions()
        for rec in self._records.values():
            name = rec.name
            if rec.status is NodeStatus.ADDING:
                continue
            node = self._node(name)
            host_up = node.state is HostState.RUNNING and node.os_responsive
            reachable = host_up and self._connected(name)
            c.set(AlertKind.NODE_OFFLINE, name, not host_up)
            c.set(AlertKind.NODE_NOT_CONNECTED, name, not reachable)
            c.set(
                AlertKind.NODE_NO_PLACEMENT,
                name,
                not reachable or rec.status is NodeStatus.REQUIRES_REMEDIATION,
            )
            c.set(
                AlertKind.BMC_NOT_RESPONDING,
                name,
                self._bmc_problem(name, rec.bmc_address) is not None,
            )
        uplink = False
        for switch in self.rack.switches.values():
            up = bool(getattr(switch, "up", True))
            if switch.spec.role is SwitchRole.TOR:
                c.set(AlertKind.TOR_SWITCH_DOWN, switch.name, not up)
                uplink = uplink or any(
                    p.role is PortRole.UPLINK and p.oper_up for p in switch.ports.values()
                )
            else:
                c.set(AlertKind.BMC_SWITCH_DOWN, switch.name, not up)
        c.set(AlertKind.ROUTE_PUBLICATION_FAILURE, self.name, not uplink)
        self._apply(c)

    @staticmethod
    def _hw_id(node: Node) -> str:
        return f"{node.spec.serial}/{node.fru.board_serial}"

    def _apply(self, c: _Conditions) -> None:
        now = self._now()
        for (kind, component), (value, hw) in c.found.items():
            for key, alert_id in list(self._open.items()):
                if key[0] is kind and key[1] == component and key[2] == hw and value is False:
                    self._close_alert(self._alerts[alert_id], "system")
            key = (kind, component, hw)
            if value is not True:
                self._seen.pop(key, None)
                continue
            if key in self._open:
                continue
            first = self._seen.setdefault(key, now)
            grace = self.settings.bmc_alert_after_s if kind is AlertKind.BMC_NOT_RESPONDING else 0
            if now - first >= grace:
                self._open_alert(kind, component, hw)

    def _open_alert(self, kind: AlertKind, component: str, hw: str) -> None:
        spec = CATALOGUE[kind]
        self._alert_ids += 1
        alert = Alert(
            id=f"alert-{self._alert_ids:04d}",
            kind=kind,
            title=spec.title,
            severity=spec.severity,
            component=component,
            description=spec.description.format(component=component),
            remediation=spec.remediation,
            opened_at=self._now(),
            hardware_id=hw,
        )
        self._alerts[alert.id] = alert
        self._open[(kind, component, hw)] = alert.id
        self._seen.pop((kind, component, hw), None)
        self._emit(
            AlertRaised(
                device=component,
                at=alert.opened_at,
                alert_id=alert.id,
                kind=kind,
                title=alert.title,
                severity=alert.severity,
                description=alert.description,
                remediation=alert.remediation,
            )
        )

    def _close_alert(self, alert: Alert, by: str) -> None:
        closed = replace(alert, closed_at=self._now(), closed_by=by)
        self._alerts[alert.id] = closed
        self._open.pop((alert.kind, alert.component, alert.hardware_id), None)
        self._emit(
            AlertClosed(
                device=alert.component,
                at=self._now(),
                alert_id=alert.id,
                kind=alert.kind,
                title=alert.title,
                by=by,
            )
        )

    # -- derived state -------------------------------------------------------------------------
    def _node(self, name: str) -> Node:
        return self.rack.nodes[name]  # looked up each time: a swapped node is a new object

    def _record(self, name: str) -> _Record:
        try:
            return self._records[name]
        except KeyError:
            raise KeyError(f"{name} is not in the scale unit") from None

    def _connected(self, name: str) -> bool:
        return any(self.rack.nic_link_up(name, nic.name) for nic in self._node(name).spec.nics)

    def _available(self, name: str) -> bool:
        """The host runs a responsive OS that the cluster reaches over at least one NIC."""
        node = self._node(name)
        return node.state is HostState.RUNNING and node.os_responsive and self._connected(name)

    def _in_service(self, rec: _Record) -> bool:
        return rec.status is NodeStatus.RUNNING and self._available(rec.name)

    def _out(self) -> list[_Record]:
        return [r for r in self._records.values() if r.in_pool and not self._in_service(r)]

    def _shown_status(self, rec: _Record) -> NodeStatus:
        if rec.status is NodeStatus.RUNNING and not self._available(rec.name):
            return NodeStatus.STOPPED
        return rec.status

    def _power_state(self, name: str) -> PowerState:
        return POWER_STATE[self._node(name).state]

    def _scale_unit_status(self) -> ScaleUnitStatus:
        pool = [r for r in self._records.values() if r.in_pool]
        if not any(self._node(r.name).state is HostState.RUNNING for r in pool):
            return ScaleUnitStatus.STOPPED
        add = self._add_op
        if (
            self.storage_at_risk()
            or any(r.status is NodeStatus.REQUIRES_REMEDIATION for r in self._records.values())
            or (add is not None and add.phase == "failed")
        ):
            return ScaleUnitStatus.REQUIRES_REMEDIATION
        if add is not None:
            return (
                ScaleUnitStatus.EXPANDING
                if add.phase == "compute"
                else ScaleUnitStatus.CONFIGURING_STORAGE
            )
        return ScaleUnitStatus.RUNNING

    # -- plumbing ------------------------------------------------------------------------------
    def _now(self) -> float:
        return self.clock.now()

    def _emit(self, event: FabricEvent) -> None:
        self.rack.bus(event)

    @contextmanager
    def _recording(self) -> Iterator[list[Event]]:
        outer = self._capture
        events: list[Event] = []
        self._capture = events
        try:
            yield events
        finally:
            self._capture = outer
            if outer is not None:
                outer.extend(events)

    @contextmanager
    def _because(self, cause: str) -> Iterator[None]:
        outer = self._cause
        self._cause = cause
        try:
            yield
        finally:
            self._cause = outer

    def _run(self, action: Action, device: str, body: Callable[[], None]) -> list[Event]:
        with self._recording() as events, self._because(action.value):
            try:
                body()
            except _Refused as refused:
                self._emit(
                    ActionRefused(device=device, at=self._now(), action=action, reason=str(refused))
                )
            except _Failed as failed:
                self._emit(
                    ActionFailed(device=device, at=self._now(), action=action, reason=str(failed))
                )
            else:
                self._reconcile()
        return events

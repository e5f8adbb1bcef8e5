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

The class is split along its seams, each a module behind :class:`OperatorView`: ``records``
(settings, the rows it shows, the records it keeps), ``core`` (state, derived state, plumbing),
``actions`` (action bodies and their rules), ``timers`` (operations on the clock),
``alerting`` (alerts from traps and the health evaluation), ``placement`` (VM placement) and
``persistence`` (snapshot, restore). This module holds the public face: construction,
queries, the actions and following the rack's bus.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from bmc.snmp.events import BmcTrapSent
from emulator.operator.actions import Actions
from emulator.operator.alerts import Alert
from emulator.operator.baseline import Baseline
from emulator.operator.events import (
    FabricEvent,
    NodePowerStateChanged,
    NodeShutDown,
    NodeStatusChanged,
    ScaleUnitStatusChanged,
)
from emulator.operator.persistence import Persistence
from emulator.operator.records import (
    FabricSettings,
    NodeRecord,
    NodeView,
    StorageJob,
    Verification,
    VmRecord,
    Workload,
)
from emulator.operator.states import (
    Action,
    NodeStatus,
    PowerState,
    ScaleUnitStatus,
)
from emulator.rack import Rack
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
from nodes.power import HostState
from switches.events import PortAdminChanged, SwitchStateChanged

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


class OperatorView(Actions, Persistence):
    """The operator's view of one scale unit (its fabric, in Azure Stack Hub's words):
    ``OperatorView(rack)``; ``members`` are the nodes already in the scale unit (default: all
    of the rack's), the others can be added."""

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
        self._records = {}
        for name in names:
            spec = rack.nodes[name].spec
            rec = NodeRecord(name, NodeStatus.RUNNING, str(spec.bmc.address), in_pool=True)
            rec.available = self._available(name)
            rec.shown_status = self._shown_status(rec)
            rec.shown_power = self._power_state(name)
            self._records[name] = rec
        self._vms = {}
        for i in range(self.settings.vms_per_node * len(names)):
            vm = VmRecord(f"vm-{i + 1:03d}", home=names[i % len(names)])
            self._vms[vm.name] = vm
        self._ticking = False
        self._repair_op = None
        self._add_op = None
        self._jobs = {}
        self._job_ids = 0
        self._alerts = {}
        self._open = {}
        self._seen = {}
        self._alert_ids = 0
        #: What the BMCs' traps said is wrong: each sensor's offsets asserted (warning or worse).
        self._trapped = {}

        self._capture = None
        self._cause = "health"
        self._reconciling = False
        self._dirty = False
        self._closed = False
        self._status = self._scale_unit_status()
        self._unsubscribe = rack.bus.subscribe(self._on_event)
        self._tick_timer = self.clock.call_later(self.settings.health_interval_s, self._tick)
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
            self._health_pass()
        return events

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

    def _tick(self) -> None:
        if self._closed:
            return
        self._tick_timer = self.clock.call_later(self.settings.health_interval_s, self._tick)
        self._health_pass()

    def _health_pass(self) -> None:
        """What a health tick does: reconcile as a tick (pending VMs go elsewhere), evaluate."""
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

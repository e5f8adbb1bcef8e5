"""What the fabric did or saw: frozen, past-tense events on the rack's bus.

``device`` is the node (or switch) an event is about, or the scale unit's name for scale-unit-wide
events; ``at`` is emulated time. Every field is a plain value (str, float, bool, an enum, a tuple
of str), so that loggers, the control plane's event stream and persistence can take them as they
are.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator.operator.alerts import AlertKind, Severity
from emulator.operator.states import Action, NodeStatus, PowerState, ScaleUnitStatus
from nodes.events import Event


@dataclass(frozen=True, kw_only=True)
class FabricEvent(Event):
    _log_name = "fabric.event"

    @property
    def name(self) -> str:
        return self._log_name


# -- states -----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class NodeStatusChanged(FabricEvent):
    """A node's operational status, as shown, changed; ``cause`` is the action or "health"."""

    _log_name = "fabric.node.status"
    old: NodeStatus
    new: NodeStatus
    cause: str


@dataclass(frozen=True, kw_only=True)
class NodePowerStateChanged(FabricEvent):
    _log_name = "fabric.node.power"
    old: PowerState
    new: PowerState


@dataclass(frozen=True, kw_only=True)
class ScaleUnitStatusChanged(FabricEvent):
    _log_name = "fabric.scaleunit.status"
    old: ScaleUnitStatus
    new: ScaleUnitStatus
    cause: str


# -- actions ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class ActionRefused(FabricEvent):
    """A rule or the node's state forbids the action; nothing changed."""

    _log_name = "fabric.action.refused"
    action: Action
    reason: str


@dataclass(frozen=True, kw_only=True)
class ActionFailed(FabricEvent):
    """The action was tried and did not work (the BMC did not answer); nothing changed."""

    _log_name = "fabric.action.failed"
    action: Action
    reason: str


@dataclass(frozen=True, kw_only=True)
class NodeDrained(FabricEvent):
    """Running -> Maintenance; ``moved`` are the VMs live-migrated off the node."""

    _log_name = "fabric.node.drained"
    moved: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class NodeResumed(FabricEvent):
    _log_name = "fabric.node.resumed"


@dataclass(frozen=True, kw_only=True)
class NodeStopped(FabricEvent):
    """Powered off through the BMC, like the power button: no signal to the OS."""

    _log_name = "fabric.node.stopped"


@dataclass(frozen=True, kw_only=True)
class ShutdownStarted(FabricEvent):
    """Drained (``moved`` VMs) and asked the OS to shut down."""

    _log_name = "fabric.node.shutdown-started"
    moved: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class NodeShutDown(FabricEvent):
    _log_name = "fabric.node.shut-down"


@dataclass(frozen=True, kw_only=True)
class ShutdownFailed(FabricEvent):
    """The OS did not shut down in the expected time; the node stays drained and powered."""

    _log_name = "fabric.node.shutdown-failed"
    reason: str
    remediation: str


@dataclass(frozen=True, kw_only=True)
class NodeStarted(FabricEvent):
    """Powered on through the BMC; not used for placement until resumed."""

    _log_name = "fabric.node.started"


@dataclass(frozen=True, kw_only=True)
class RepairStarted(FabricEvent):
    _log_name = "fabric.repair.started"
    bmc_address: str
    expected_end: float


@dataclass(frozen=True, kw_only=True)
class RepairCompleted(FabricEvent):
    _log_name = "fabric.repair.completed"


@dataclass(frozen=True, kw_only=True)
class RepairFailed(FabricEvent):
    """The node did not come back by the end of the repair: Requires Remediation."""

    _log_name = "fabric.repair.failed"
    reason: str


@dataclass(frozen=True, kw_only=True)
class AddStarted(FabricEvent):
    _log_name = "fabric.add.started"
    bmc_address: str
    expected_end: float


@dataclass(frozen=True, kw_only=True)
class AddCompleted(FabricEvent):
    """The compute phase ended: the node is Running; storage expansion follows."""

    _log_name = "fabric.add.completed"


@dataclass(frozen=True, kw_only=True)
class AddFailed(FabricEvent):
    """The node was not deployed: it is left Stopped, and a Repair fixes it."""

    _log_name = "fabric.add.failed"
    reason: str


@dataclass(frozen=True, kw_only=True)
class StorageExpansionStarted(FabricEvent):
    _log_name = "fabric.storage.expansion-started"
    node: str
    expected_end: float


@dataclass(frozen=True, kw_only=True)
class StorageExpansionCompleted(FabricEvent):
    _log_name = "fabric.storage.expansion-completed"
    node: str


@dataclass(frozen=True, kw_only=True)
class StorageRepairStarted(FabricEvent):
    """A node returned to the storage pool and its data is being resynchronised."""

    _log_name = "fabric.storage.repair-started"
    job_id: str
    reason: str
    expected_end: float


@dataclass(frozen=True, kw_only=True)
class StorageRepairCompleted(FabricEvent):
    _log_name = "fabric.storage.repair-completed"
    job_id: str


# -- workloads --------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class WorkloadStarted(FabricEvent):
    """A VM started on ``device``; ``restarted`` when it had failed or was pending before."""

    _log_name = "fabric.vm.started"
    vm: str
    restarted: bool


@dataclass(frozen=True, kw_only=True)
class WorkloadMoved(FabricEvent):
    """A VM left ``device`` for ``target``: live-migrated (``live``) or restarted there."""

    _log_name = "fabric.vm.moved"
    vm: str
    target: str
    live: bool


@dataclass(frozen=True, kw_only=True)
class WorkloadFailed(FabricEvent):
    _log_name = "fabric.vm.failed"
    vm: str
    reason: str


# -- alerts -----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class AlertRaised(FabricEvent):
    _log_name = "fabric.alert.raised"
    alert_id: str
    kind: AlertKind
    title: str
    severity: Severity
    description: str
    remediation: str


@dataclass(frozen=True, kw_only=True)
class AlertClosed(FabricEvent):
    """``by`` is "system" when the condition cleared, "operator" when closed by hand."""

    _log_name = "fabric.alert.closed"
    alert_id: str
    kind: AlertKind
    title: str
    by: str

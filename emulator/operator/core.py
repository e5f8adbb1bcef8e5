"""The state every part of the operator's view holds, what it derives from the rack, and
the plumbing (clock, bus, recording an action's events)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from emulator.operator.alerts import Alert
from emulator.operator.baseline import Baseline
from emulator.operator.events import FabricEvent
from emulator.operator.records import (
    BMC_NO_ANSWER,
    AlertKey,
    FabricSettings,
    NodeRecord,
    Operation,
    SensorKey,
    StorageJobRecord,
    VmRecord,
)
from emulator.operator.states import (
    POWER_STATE,
    NodeStatus,
    PowerState,
    ScaleUnitStatus,
)
from emulator.rack import Rack
from nodes.clock import Clock, Timer
from nodes.events import Event
from nodes.node import Node
from nodes.power import HostState
from nodes.users import Privilege


class ViewCore:
    """What every part of the view holds and reads: the state, derived state and plumbing."""

    rack: Rack
    clock: Clock
    name: str
    settings: FabricSettings
    baseline: Baseline
    _credentials: tuple[str, str]
    _records: dict[str, NodeRecord]
    _vms: dict[str, VmRecord]
    _ticking: bool
    _repair_op: Operation | None
    _add_op: Operation | None
    _jobs: dict[str, StorageJobRecord]
    _job_ids: int
    _alerts: dict[str, Alert]
    _open: dict[AlertKey, str]
    _seen: dict[AlertKey, float]
    _alert_ids: int
    #: What the BMCs' traps said is wrong: each sensor's offsets asserted (warning or worse).
    _trapped: dict[SensorKey, set[int]]
    _capture: list[Event] | None
    _cause: str
    _reconciling: bool
    _dirty: bool
    _closed: bool
    _status: ScaleUnitStatus
    _unsubscribe: Callable[[], None]
    _tick_timer: Timer | None

    def _reconcile(self) -> None:
        """Bring states, workloads and storage in line with the rack (the view's own)."""
        raise NotImplementedError

    def storage_at_risk(self) -> bool:
        return len(self._out()) >= 2

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

    @staticmethod
    def _hw_id(node: Node) -> str:
        return f"{node.spec.serial}/{node.fru.board_serial}"

    def _node(self, name: str) -> Node:
        return self.rack.nodes[name]  # looked up each time: a swapped node is a new object

    def _record(self, name: str) -> NodeRecord:
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

    def _in_service(self, rec: NodeRecord) -> bool:
        return rec.status is NodeStatus.RUNNING and self._available(rec.name)

    def _out(self) -> list[NodeRecord]:
        return [r for r in self._records.values() if r.in_pool and not self._in_service(r)]

    def _shown_status(self, rec: NodeRecord) -> NodeStatus:
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

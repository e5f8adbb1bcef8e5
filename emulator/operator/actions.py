"""The operator's actions and their rules: each action's body, the checks that refuse it
(Refused: nothing changed) or find its BMC silent (Failed), and running one as a unit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from emulator.operator.alerting import Alerting
from emulator.operator.events import (
    ActionFailed,
    ActionRefused,
    AddStarted,
    NodeDrained,
    NodeResumed,
    NodeStarted,
    NodeStatusChanged,
    NodeStopped,
    RepairStarted,
    ShutdownStarted,
)
from emulator.operator.placement import Placement
from emulator.operator.records import (
    Failed,
    NodeRecord,
    Operation,
    Refused,
)
from emulator.operator.states import (
    ACCEPTED_FROM,
    Action,
    NodeStatus,
)
from emulator.operator.timers import Timers
from emulator.topology import MAX_NODES
from nodes.events import Event
from nodes.node import Node
from nodes.power import HostState


class Actions(Timers, Placement, Alerting):
    """Action bodies and their checks."""

    def _drain(self, name: str) -> None:
        rec = self._accept(Action.DRAIN, name)
        rec.status = NodeStatus.MAINTENANCE
        moved = () if self.storage_at_risk() else self._evacuate(name, live=self._available(name))
        self._emit(NodeDrained(device=name, at=self._now(), moved=moved))

    def _resume(self, name: str) -> None:
        rec = self._accept(Action.RESUME, name)
        node = self._node(name)
        if node.state is not HostState.RUNNING:
            raise Refused(
                f"{name} is powered {self._power_state(name).label.lower()}: Start it and wait "
                "for its OS before Resume"
            )
        if not self._available(name):
            raise Refused(f"{name}'s operating system does not answer on the network")
        rec.status = NodeStatus.RUNNING
        self._emit(NodeResumed(device=name, at=self._now()))

    def _stop(self, name: str) -> None:
        rec = self._accept(Action.STOP, name)
        if self._node(name).state is HostState.OFF:
            raise Refused(f"{name} is already powered off")
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
            raise Refused(
                f"{name}'s operating system is not running (power state "
                f"{self._power_state(name).label}): use Stop"
            )
        if rec.shutdown_timer is not None:
            raise Refused(f"a shutdown of {name} is already under way")
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
            raise Refused(
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
            raise Refused(f"a repair of {self._repair_op.node} is running: one repair at a time")
        add = self._add_op
        if add is not None and add.phase != "failed":
            raise Refused(f"an add of {add.node} is in progress: no repair until it ends")
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
        self._repair_op = Operation(Action.REPAIR, name, now, ends, timer)
        self._emit(
            RepairStarted(device=name, at=now, bmc_address=rec.bmc_address, expected_end=ends)
        )
        self._deploy(node)

    def _add(self, name: str, bmc_address: str | None) -> None:
        if name not in self.rack.nodes:
            raise Refused(f"no node named {name!r} in the rack")
        if name in self._records:
            shown = self._shown_status(self._records[name]).label
            raise Refused(f"{name} is already in the scale unit ({shown})")
        add = self._add_op
        if add is not None:
            if add.phase == "failed":
                raise Refused(
                    f"the failed add of {add.node} counts as in progress: Repair {add.node} first"
                )
            raise Refused(f"an add of {add.node} is in progress: one add at a time")
        if self._repair_op is not None:
            raise Refused(f"a repair of {self._repair_op.node} is running: wait for it to end")
        if len(self._records) >= MAX_NODES:
            raise Refused(f"a scale unit has at most {MAX_NODES} nodes")
        self._check_hardware(name)
        node = self._node(name)
        address = bmc_address or str(node.spec.bmc.address)
        self._check_bmc(name, address)
        now = self._now()
        ends = now + self.settings.add_compute_s
        rec = NodeRecord(name, NodeStatus.ADDING, address, in_pool=False)
        rec.shown_status = NodeStatus.ADDING
        rec.shown_power = self._power_state(name)
        self._records[name] = rec
        timer = self.clock.call_at(ends, self._add_compute_ended)
        self._add_op = Operation(Action.ADD, name, now, ends, timer)
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
            raise Refused(f"no alert {alert_id!r}")
        if not alert.open:
            raise Refused(f"alert {alert_id} is already closed")
        self._close_alert(alert, "operator")

    def _accept(self, action: Action, name: str) -> NodeRecord:
        if name not in self._records:
            if name in self.rack.nodes:
                raise Refused(f"{name} is not in the scale unit: Add it first")
            raise Refused(f"no node named {name!r} in the scale unit")
        rec = self._records[name]
        shown = self._shown_status(rec)
        if shown not in ACCEPTED_FROM[action]:
            if shown in (NodeStatus.REPAIRING, NodeStatus.ADDING):
                raise Refused(f"{name} is {shown.label}: wait for that operation to end")
            allowed = " or ".join(s.label for s in NodeStatus if s in ACCEPTED_FROM[action])
            raise Refused(f"{name} is {shown.label}: {action.value} needs {allowed}")
        return rec

    def _check_bmc(self, name: str, address: str) -> None:
        problem = self._bmc_problem(name, address)
        if problem is not None:
            raise Failed(problem)

    def _check_baseline(self, node: Node) -> None:
        base = self.baseline
        if base.model is not None and node.spec.model != base.model:
            raise Refused(
                f"{node.name} is a {node.spec.model}; the firmware baseline {base.name} is for "
                f"{base.model}"
            )
        drift = base.drift(node.firmware)
        if drift:
            raise Refused(
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
            raise Refused(
                f"{name} has CPU {mine[0]!r}, the scale unit {usual[0]!r}: a different CPU model "
                "is not supported (that means redeploying)"
            )
        if mine != usual:
            raise Refused(
                f"{name}'s memory or data disks differ from the scale unit's nodes "
                f"({mine[2]} GB, disks {list(mine[3])} against {usual[2]} GB, "
                f"disks {list(usual[3])})"
            )

    def _run(self, action: Action, device: str, body: Callable[[], None]) -> list[Event]:
        with self._recording() as events, self._because(action.value):
            try:
                body()
            except Refused as refused:
                self._emit(
                    ActionRefused(device=device, at=self._now(), action=action, reason=str(refused))
                )
            except Failed as failed:
                self._emit(
                    ActionFailed(device=device, at=self._now(), action=action, reason=str(failed))
                )
            else:
                self._reconcile()
        return events

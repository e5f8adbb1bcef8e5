"""Operations on the clock: a repair's and an add's deployment, storage expansion and
repair jobs, a shutdown's time-out."""

from __future__ import annotations

from emulator.operator.core import ViewCore
from emulator.operator.events import (
    AddCompleted,
    AddFailed,
    RepairCompleted,
    RepairFailed,
    ShutdownFailed,
    StorageExpansionCompleted,
    StorageExpansionStarted,
    StorageRepairCompleted,
    StorageRepairStarted,
)
from emulator.operator.records import (
    SHUTDOWN_FALLBACK,
    NodeRecord,
    Operation,
    StorageJobRecord,
)
from emulator.operator.states import (
    Action,
    NodeStatus,
)
from nodes.clock import Timer
from nodes.node import BootTarget, Node
from nodes.power import HostState


class Timers(ViewCore):
    """What ends later, on the rack's clock."""

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
        self._add_op = Operation(Action.ADD, name, now, ends, timer, phase="storage")
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
                    remediation=SHUTDOWN_FALLBACK,
                )
            )
            self._reconcile()

    def _cancel_shutdown(self, rec: NodeRecord) -> None:
        if rec.shutdown_timer is not None:
            rec.shutdown_timer.cancel()
            rec.shutdown_timer = None

    def _start_storage_repair(self, rec: NodeRecord) -> None:
        self._job_ids += 1
        job_id = f"storage-repair-{self._job_ids}"
        now = self._now()
        if rec.after_repair:
            length, reason = self.settings.storage_repair_after_repair_s, "node repaired"
        else:
            length, reason = self.settings.storage_repair_s, "node returned"
        job = StorageJobRecord(job_id, rec.name, reason, now, now + length)
        job.timer = self.clock.call_at(job.ends_at, lambda: self._storage_repair_ended(job_id))
        self._jobs[job_id] = job
        rec.storage_away = False
        rec.after_repair = False
        self._emit(
            StorageRepairStarted(
                device=rec.name, at=now, job_id=job_id, reason=reason, expected_end=job.ends_at
            )
        )

    def _storage_timer(self, job: StorageJobRecord) -> Timer:
        job_id = job.id
        return self.clock.call_at(job.ends_at, lambda: self._storage_repair_ended(job_id))

    def _storage_repair_ended(self, job_id: str) -> None:
        job = self._jobs[job_id]
        if self._closed:
            return
        job.timer = None
        job.completed_at = self._now()
        with self._because("storage"):
            self._emit(StorageRepairCompleted(device=job.node, at=self._now(), job_id=job_id))

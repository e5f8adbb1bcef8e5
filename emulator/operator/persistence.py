"""The view's persistence: :meth:`Persistence.snapshot` and :meth:`Persistence.restore`."""

from __future__ import annotations

from typing import Any, Final

from emulator.operator.alerts import Alert, AlertKind, Severity
from emulator.operator.events import (
    AddFailed,
    RepairFailed,
)
from emulator.operator.records import (
    NodeRecord,
    Operation,
    StorageJobRecord,
    VmRecord,
)
from emulator.operator.states import (
    Action,
    NodeStatus,
    PowerState,
    ScaleUnitStatus,
    VmState,
)
from emulator.operator.timers import Timers
from nodes.events import Event


class Persistence(Timers):
    """Snapshot and restore."""

    #: Why an operation running when the emulator died ends as failed on restore.
    INTERRUPTED: Final = (
        "interrupted: the emulator stopped while it ran (as after a power loss of the hosts "
        "running the deployment)"
    )

    def snapshot(self) -> dict[str, Any]:
        """Everything the fabric holds, JSON-safe: node records, VMs, the running repair or add,
        storage jobs, alerts open and closed, counters, the scale unit's status and the BMC
        credentials it uses. :meth:`restore` takes it back."""

        def op(o: Operation | None) -> dict[str, Any] | None:
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
        records: dict[str, NodeRecord] = {}
        for r in data["records"]:
            if r["name"] not in self.rack.nodes:
                raise ValueError(f"the snapshot names {r['name']!r}, not in the rack")
            rec = NodeRecord(
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
            v["name"]: VmRecord(v["name"], v["home"], v["node"], VmState(v["state"]))
            for v in data["vms"]
        }
        self._jobs = {}
        for j in data["jobs"]:
            job = StorageJobRecord(
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
                op = Operation(
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

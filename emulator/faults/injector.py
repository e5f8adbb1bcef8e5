"""The injector: records, scheduling, retries and persistence of faults on one rack.

What a fault does is its kind's business (:mod:`emulator.faults.kind`, the classes under
:mod:`emulator.faults.kinds`); the injector keeps these rules, the same for every kind:

* **Validation first.** ``inject`` checks the kind, the device and its scope, the part, the
  version and the time before touching anything, and raises :class:`FaultError` (a clear message
  naming the valid choices) with nothing changed. A fault already active on the same part of the
  same device is refused, whether the injector or something else put it there.
* **Now or later.** ``at`` is absolute on the rack's clock; a time in the future schedules the
  fault (``scheduled``), which is checked again when it falls due: if it can no longer be
  injected then, its record is closed with ``cleared_by="skipped"`` and the reason in ``detail``.
* **Clearing.** ``clear`` undoes the fault on the model (a scheduled one is cancelled). Kinds
  that end by themselves (a BMC reboot when the BMC is back, a switch reboot when it has booted)
  refuse it. A fault also ends when the model no longer has it, as its kind recognises: its part
  or its node was replaced (``"replacement"``), a firmware update brought the component to
  another version (``"update"``), the rack's credentials were set again on a BMC reset to
  factory defaults (``"credentials"``), or the model ended it itself (``"self"``).
* **Events.** :class:`FaultScheduled`, :class:`FaultInjected` and :class:`FaultCleared` go on the
  rack's bus, after the model's own events, so a subscriber (the state store, the event stream)
  sees the record already in its new state.
* **Planned clears.** ``schedule_clear(id, at, by=)`` ends a fault at a time (chaos does so); the
  plan is part of the record, and a clear the models refuse when due is retried, backing off.
* **State.** ``snapshot`` is JSON-safe; ``restore`` puts the records back and re-arms the
  scheduled faults and planned clears (those already due fire at once). The models restore their
  own fault state. The records of ended faults are kept, the last MAX_CLEARED of them.
"""

from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from emulator.errors import FaultConflict, FaultError, refused_by_model
from emulator.faults.kind import FAULT_KINDS, Device, FaultKind, Plan, Site
from emulator.faults.records import (
    FaultCleared,
    FaultClearPlanned,
    FaultEvent,
    FaultInjected,
    FaultRecord,
    FaultScheduled,
    FaultState,
)
from emulator.logs import kv
from emulator.operator.baseline import Baseline
from emulator.rack import Rack
from nodes.clock import Timer
from nodes.errors import ModelError
from nodes.events import Event

__all__ = ["CLEAR_RETRIES", "CLEAR_RETRY_S", "MAX_CLEARED", "FaultInjector"]

log = logging.getLogger("emulator.faults")

#: A planned clear the models refuse when due (a configuration loss on a switch with no power) is
#: tried again this many times, after CLEAR_RETRY_S emulated seconds, doubling up to an hour.
CLEAR_RETRIES = 20
CLEAR_RETRY_S = 30.0
#: How many records of ended faults are kept (the oldest go first): a long chaos run stays
#: bounded in memory and in the state store's snapshot.
MAX_CLEARED = 1000


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- the injector -------------------------------------------------------------------------------


class FaultInjector:
    """Injects, schedules, clears and remembers faults on one rack (see the module's rules).

    Must be used on the rack's loop thread (the models are not thread-safe)."""

    def __init__(self, rack: Rack, *, baseline: Baseline | None = None) -> None:
        self.rack = rack
        self.clock = rack.clock
        #: The firmware baseline firmware-drift departs from (default: the topology's).
        self.baseline = baseline or Baseline.from_topology(rack.topology)
        self._records: dict[str, FaultRecord] = {}
        #: The active records, in the order they became active (what most checks look at).
        self._active: dict[str, FaultRecord] = {}
        #: The ids of ended records, in the order they ended (the oldest are dropped).
        self._ended: dict[str, None] = {}
        self._timers: dict[str, Timer] = {}
        #: Planned clears, and how many times each was refused so far.
        self._clear_timers: dict[str, Timer] = {}
        self._clear_tries: dict[str, int] = {}
        #: What clear needs, by fault id: firmware-drift's old version, config-loss's backup.
        self._undo_data: dict[str, str] = {}
        self._seq = 0
        #: The record being cleared: the model's events about it are ours, not news.
        self._clearing: str | None = None
        rack.bus.subscribe(self._on_event)

    @property
    def site(self) -> Site:
        """What the kinds work on: the rack and the baseline."""
        return Site(self.rack, self.baseline)

    # -- queries ---------------------------------------------------------------------------------
    def records(self, *, active_only: bool = False) -> list[FaultRecord]:
        """Every record, oldest first (copies); ``active_only``: those active now."""
        records = self._active if active_only else self._records
        return [replace(r) for r in records.values()]

    def get(self, fault_id: str) -> FaultRecord:
        return replace(self._record(fault_id))

    def _record(self, fault_id: str) -> FaultRecord:
        try:
            return self._records[fault_id]
        except KeyError:
            ids = list(self._records)
            known = f"{ids[0]} ... {ids[-1]}" if len(ids) > 2 else (", ".join(ids) or "none yet")
            raise FaultError(
                f"no fault {fault_id!r}{_suggest(str(fault_id), ids)}; faults: {known}"
            ) from None

    def parts(self, kind: str, device: str) -> list[str]:
        """The parts ``kind`` may target on ``device`` (empty for kinds without a part)."""
        spec = self._kind(kind)
        return spec.parts(self._device(spec, device))

    def check(
        self, kind: str, device: str, part: str | None = None, *, version: str | None = None
    ) -> None:
        """Raise FaultError if ``inject(kind, device, part)`` would be refused now."""
        plan = self._plan(kind, device, part, version)
        self._check_not_scheduled(plan)
        self._check_free(plan)
        self._check_model(plan)

    # -- inject ----------------------------------------------------------------------------------
    def inject(
        self,
        kind: str,
        device: str,
        part: str | None = None,
        *,
        at: float | None = None,
        version: str | None = None,
    ) -> FaultRecord:
        """Inject a fault now, or at ``at`` (absolute emulated time, not in the past)."""
        plan = self._plan(kind, device, part, version)
        now = self.clock.now()
        if at is not None:
            if not isinstance(at, int | float) or not math.isfinite(at):
                raise FaultError(f"at must be a finite time, not {at!r}")
            if at < now:
                raise FaultError(
                    f"at {at:.3f} is in the past (the rack's clock reads {now:.3f}); "
                    "give a time from now on"
                )
        self._check_not_scheduled(plan)
        if at is not None and at > now:
            record = self._new_record(plan, "scheduled")
            record.scheduled_for = at
            self._arm(record)
            self.rack.bus(
                FaultScheduled(
                    device=record.device,
                    at=now,
                    fault_id=record.id,
                    kind=record.kind,
                    part=record.part,
                    when=at,
                )
            )
            return replace(record)
        self._check_free(plan)
        self._check_model(plan)
        detail, undo = self._apply_checked(plan)
        record = self._new_record(plan, "active")
        self._activated(record, detail, undo)
        return replace(record)

    def _new_record(self, plan: Plan, state: FaultState) -> FaultRecord:
        self._seq += 1
        record = FaultRecord(
            id=f"f-{self._seq:04d}",
            kind=plan.kind.name,
            device=plan.device,
            part=plan.part,
            state=state,
            version=plan.version,
        )
        self._records[record.id] = record
        return record

    def _apply_checked(self, plan: Plan) -> tuple[str, str]:
        """Apply ``plan`` on the models; a refusal of the model is a FaultError, nothing done."""
        try:
            return self._apply(plan)
        except ModelError as exc:
            raise refused_by_model(exc, f"{plan.device}: {exc}") from None

    def _activated(self, record: FaultRecord, detail: str, undo: str) -> None:
        record.state = "active"
        self._active[record.id] = record
        record.injected_at = self.clock.now()
        record.detail = detail
        if undo:
            self._undo_data[record.id] = undo
        self.rack.bus(
            FaultInjected(
                device=record.device,
                at=record.injected_at,
                fault_id=record.id,
                kind=record.kind,
                part=record.part,
                detail=detail,
            )
        )

    def _arm(self, record: FaultRecord) -> None:
        assert record.scheduled_for is not None
        fault_id = record.id
        self._timers[fault_id] = self.clock.call_at(
            record.scheduled_for, lambda: self._fire(fault_id)
        )

    def _fire(self, fault_id: str) -> None:
        self._timers.pop(fault_id, None)
        record = self._records.get(fault_id)
        if record is None or record.state != "scheduled":
            return
        try:
            plan = self._plan(record.kind, record.device, record.part, record.version or None)
            self._check_free(plan)
            self._check_model(plan)
            detail, undo = self._apply_checked(plan)
        except FaultError as exc:
            record.detail = f"not injected: {exc}"
            self._close(record, "skipped")
            return
        self._activated(record, detail, undo)

    # -- planned clears ----------------------------------------------------------------------------
    def schedule_clear(
        self, fault_id: str, at: float | None, *, by: str = "operator"
    ) -> FaultRecord:
        """Plan the clear of a scheduled or active fault at ``at`` (absolute emulated time; None
        cancels the plan). The plan is part of the record, so it survives a restart. When due,
        a clear the models refuse (a switch with no power cannot load its backup) is tried again
        after CLEAR_RETRY_S, doubling up to an hour, CLEAR_RETRIES times at most."""
        record = self._record(fault_id)
        if record.state == "cleared":
            raise FaultConflict(f"{fault_id} ({record.kind} on {record.device}) has already ended")
        now = self.clock.now()
        if at is not None:
            if FAULT_KINDS[record.kind].ends_by_itself:
                raise FaultError(f"{fault_id}: a {record.kind} ends by itself; no clear to plan")
            if not isinstance(at, int | float) or not math.isfinite(at):
                raise FaultError(f"at must be a finite time, not {at!r}")
            if at < now:
                raise FaultError(f"at {at:.3f} is in the past (the rack's clock reads {now:.3f})")
            if record.scheduled_for is not None and at < record.scheduled_for:
                raise FaultError(
                    f"{fault_id} is injected at {record.scheduled_for:.3f}: clear it after that"
                )
        timer = self._clear_timers.pop(fault_id, None)
        if timer is not None:
            timer.cancel()
        self._clear_tries.pop(fault_id, None)
        record.clear_at = at
        record.clear_by = by if at is not None else ""
        if at is not None:
            self._arm_clear(record)
        self.rack.bus(
            FaultClearPlanned(
                device=record.device,
                at=now,
                fault_id=record.id,
                kind=record.kind,
                part=record.part,
                when=at,
                by=record.clear_by,
            )
        )
        return replace(record)

    def _arm_clear(self, record: FaultRecord) -> None:
        assert record.clear_at is not None
        fault_id = record.id
        self._clear_timers[fault_id] = self.clock.call_at(
            record.clear_at, lambda: self._planned_clear(fault_id)
        )

    def _planned_clear(self, fault_id: str) -> None:
        self._clear_timers.pop(fault_id, None)
        record = self._records.get(fault_id)
        if record is None or record.state == "cleared":
            return
        by = record.clear_by or "operator"
        try:
            self.clear(fault_id, by=by)
        except FaultError as exc:
            tries = self._clear_tries.get(fault_id, 0) + 1
            if tries > CLEAR_RETRIES:
                self._clear_tries.pop(fault_id, None)
                record.clear_at = None
                log.warning(
                    kv(
                        **{FAULT_KINDS[record.kind].scope: record.device},
                        proto="faults",
                        event="fault.clear_abandoned",
                        fault_id=fault_id,
                        by=by,
                        error=str(exc),
                    )
                )
                return
            self._clear_tries[fault_id] = tries
            record.clear_at = self.clock.now() + min(CLEAR_RETRY_S * 2 ** min(tries - 1, 7), 3600.0)
            self._arm_clear(record)

    # -- clear -----------------------------------------------------------------------------------
    def clear(self, fault_id: str, *, by: str = "operator") -> FaultRecord:
        """Undo an active fault on the model, or cancel a scheduled one."""
        record = self._record(fault_id)
        if record.state == "cleared":
            raise FaultConflict(
                f"{fault_id} ({record.kind} on {record.device}) already ended at "
                f"{record.cleared_at:.3f} ({record.cleared_by})"
            )
        if record.state == "scheduled":
            timer = self._timers.pop(fault_id, None)
            if timer is not None:
                timer.cancel()
            self._close(record, by)
            return replace(record)
        if FAULT_KINDS[record.kind].ends_by_itself:
            raise FaultError(
                f"{fault_id}: a {record.kind} ends by itself when the device is back; "
                "it cannot be cleared"
            )
        self._clearing = record.id
        try:
            self._undo(record)
        except ModelError as exc:
            raise refused_by_model(exc, f"{record.device}: {exc}") from None
        finally:
            self._clearing = None
        self._close(record, by)
        return replace(record)

    def _close(self, record: FaultRecord, by: str) -> None:
        record.state = "cleared"
        self._active.pop(record.id, None)
        timer = self._clear_timers.pop(record.id, None)
        if timer is not None:
            timer.cancel()
        self._clear_tries.pop(record.id, None)
        record.cleared_at = self.clock.now()
        record.cleared_by = by
        self._undo_data.pop(record.id, None)
        self._ended[record.id] = None
        while len(self._ended) > MAX_CLEARED:
            oldest = next(iter(self._ended))
            del self._ended[oldest]
            self._records.pop(oldest, None)
        self.rack.bus(
            FaultCleared(
                device=record.device,
                at=record.cleared_at,
                fault_id=record.id,
                kind=record.kind,
                part=record.part,
                by=by,
            )
        )

    # -- state -----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Every record and what clearing them needs, JSON-safe."""
        return {
            "version": 1,
            "seq": self._seq,
            "records": [r.to_dict() for r in self._records.values()],
            "undo": dict(self._undo_data),
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Put the records back (on a fresh injector, after the emulator restarted). Scheduled
        faults are armed again (those already due fire at once); active ones are remembered, as
        the models restore their own fault state. A BMC or switch reboot that was under way is
        over: a restarted emulator has every BMC and switch up, so those are closed ("self").
        FaultError and nothing changed for a snapshot that is not one."""
        try:
            if data.get("version") != 1:
                raise ValueError(f"version {data.get('version')!r}, expected 1")
            records = [FaultRecord.from_dict(r) for r in data["records"]]
            seq = int(data["seq"])
            undo = {str(k): str(v) for k, v in data.get("undo", {}).items()}
            for r in records:
                if r.kind not in FAULT_KINDS or r.state not in ("scheduled", "active", "cleared"):
                    raise ValueError(f"record {r.id}: kind {r.kind!r}, state {r.state!r}")
                if r.state == "scheduled" and r.scheduled_for is None:
                    raise ValueError(f"record {r.id} is scheduled for no time")
                for when in (r.scheduled_for, r.clear_at):
                    if when is not None and not isinstance(when, int | float):
                        raise ValueError(f"record {r.id}: {when!r} is not a time")
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise FaultError(f"not a fault snapshot: {exc}") from None
        for timer in [*self._timers.values(), *self._clear_timers.values()]:
            timer.cancel()
        self._timers.clear()
        self._clear_timers.clear()
        self._clear_tries.clear()
        self._records = {r.id: r for r in records}
        self._active = {r.id: r for r in records if r.state == "active"}
        ended = sorted(
            (r for r in records if r.state == "cleared"), key=lambda r: r.cleared_at or 0.0
        )
        self._ended = {r.id: None for r in ended}
        self._undo_data = undo
        self._seq = max(
            [seq, *(int(r.id.rpartition("-")[2]) for r in records if r.id[2:].isdigit())]
        )
        for record in records:
            if record.state == "scheduled":
                self._arm(record)
            elif record.state == "active" and FAULT_KINDS[record.kind].ends_by_itself:
                self._close(record, "self")
                continue
            if record.state != "cleared" and record.clear_at is not None:
                self._arm_clear(record)

    # -- following the models --------------------------------------------------------------------
    def reconcile(self, by: str = "self") -> list[FaultRecord]:
        """Close every active record whose fault the models no longer have (after a restore of
        the models, say); returns the records closed."""
        closed = []
        for record in list(self._active.values()):
            if not self._still_active(record):
                self._close(record, by)
                closed.append(replace(record))
        return closed

    def _on_event(self, event: Event) -> None:
        """A fault may have ended without us: only an event that says so about the record's part
        is looked at (a model being restored passes through states that would mislead), and
        then the model decides."""
        if isinstance(event, FaultEvent):
            return
        for record in list(self._active.values()):
            if record.id == self._clearing:
                continue
            by = self._ends(record, event)
            if by is None:
                continue
            # Some kinds are over with a replacement whatever state the new hardware is in (a
            # factory configuration or firmware): the replacement procedure deals with that.
            forced = by == "replacement" and FAULT_KINDS[record.kind].replacement_ends_it
            if forced or not self._still_active(record):
                if by == "later":
                    self._close_later(record.id)
                else:
                    self._close(record, by)

    def _close_later(self, fault_id: str) -> None:
        """A switch clears its faults before it announces a replacement: wait for the end of the
        command to tell a replacement (closed then) from another cause."""

        def check() -> None:
            record = self._records.get(fault_id)
            if record is not None and record.state == "active" and not self._still_active(record):
                self._close(record, "self")

        self.clock.call_later(0.0, check)

    def _ends(self, record: FaultRecord, event: Event) -> str | None:
        """Whether ``event`` speaks of the end of ``record``'s fault, and how to record it (the
        kind says)."""
        target = self._target(record)
        if target is None:
            return None
        return FAULT_KINDS[record.kind].ends(self.site, record, target, event)

    # -- planning: validation, no side effects ---------------------------------------------------
    def _kind(self, kind: str) -> FaultKind:
        try:
            return FAULT_KINDS[kind]
        except (KeyError, TypeError):
            raise FaultError(
                f"unknown fault kind {kind!r}{_suggest(str(kind), FAULT_KINDS)}; kinds: "
                + ", ".join(FAULT_KINDS)
            ) from None

    def _device(self, spec: FaultKind, device: str) -> Device:
        if not isinstance(device, str):
            raise FaultError(f"a device is a node or switch name, not {device!r}")
        node = self.rack.nodes.get(device)
        switch = self.rack.switches.get(device)
        if node is None and switch is None:
            every = [*self.rack.nodes, *self.rack.switches]
            raise FaultError(
                f"no device {device!r}{_suggest(str(device), every)}; nodes: "
                f"{', '.join(self.rack.nodes)}; switches: {', '.join(self.rack.switches)}"
            )
        if spec.scope == "node":
            if node is None:
                raise FaultError(
                    f"{spec.name} is a node fault and {device} is a switch; "
                    f"nodes: {', '.join(self.rack.nodes)}"
                )
            return node
        if switch is None:
            raise FaultError(
                f"{spec.name} is a switch fault and {device} is a node; "
                f"switches: {', '.join(self.rack.switches)}"
            )
        return switch

    def _target(self, record: FaultRecord) -> Device | None:
        return self.rack.nodes.get(record.device) or self.rack.switches.get(record.device)

    def _plan(self, kind: str, device: str, part: str | None, version: str | None) -> Plan:
        spec = self._kind(kind)
        target = self._device(spec, device)
        parts = spec.parts(target)
        if spec.part is None:
            if part:
                raise FaultError(
                    f"{spec.name} takes no part (it applies to the whole {spec.scope}), "
                    f"not {part!r}"
                )
            part = ""
        elif part is None or part == "":
            part = spec.default_part(target, parts)
        elif not isinstance(part, str):
            raise FaultError(f"a part is a name (one of {', '.join(parts)}), not {part!r}")
        elif part not in parts:
            raise FaultError(
                f"{device} has no {spec.part} {part!r}{_suggest(str(part), parts)}; "
                f"valid: {', '.join(parts)}"
            )
        plan = Plan(spec, device, part)
        plan.version = spec.version(self.site, target, part, version)
        plan.claims = spec.claims(target, part)
        return plan

    def _record_claims(self, record: FaultRecord) -> frozenset[tuple[str, str]]:
        target = self._target(record)
        if target is None:
            return frozenset()
        return FAULT_KINDS[record.kind].claims(target, record.part)

    def _check_free(self, plan: Plan) -> None:
        for other in self._active.values():
            if other.device != plan.device:
                continue
            if self._record_claims(other) & plan.claims:
                raise FaultConflict(
                    f"{plan.device} already has {other.kind}"
                    + (f" on {other.part}" if other.part else "")
                    + f" ({other.id}): clear it first"
                )

    def _check_not_scheduled(self, plan: Plan) -> None:
        """The same fault on the same part, already scheduled, is a conflict: clear (cancel) it
        first. Other faults scheduled there are allowed; whichever comes second is skipped."""
        for fault_id in self._timers:
            other = self._records.get(fault_id)
            if (
                other is not None
                and other.state == "scheduled"
                and (other.kind, other.device, other.part)
                == (plan.kind.name, plan.device, plan.part)
            ):
                raise FaultConflict(
                    f"{plan.device} already has {other.kind}"
                    + (f" on {other.part}" if other.part else "")
                    + f" scheduled at {other.scheduled_for:.3f} ({other.id}): clear it first"
                )

    def _check_model(self, plan: Plan) -> None:
        """Refuse what the models already have (put there by other means) or cannot take now."""
        plan.kind.check(self.site, plan, self._device(plan.kind, plan.device))

    # -- applying and undoing ----------------------------------------------------------------------
    def _apply(self, plan: Plan) -> tuple[str, str]:
        """Change the models: (detail, what clear needs to undo it). A ModelError leaves
        everything as it was."""
        return plan.kind.apply(self.site, plan, self._device(plan.kind, plan.device))

    def _undo(self, record: FaultRecord) -> None:
        spec = FAULT_KINDS[record.kind]
        target = self._device(spec, record.device)
        spec.undo(self.site, record, target, self._undo_data.get(record.id, ""))

    def _still_active(self, record: FaultRecord) -> bool:
        """Whether the models still have the fault ``record`` put there."""
        target = self._target(record)
        if target is None:
            return False
        return FAULT_KINDS[record.kind].still_active(self.site, record, target)

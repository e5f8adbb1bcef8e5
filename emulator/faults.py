"""The fault catalogue and the injector: break the rack the way real racks break.

Every kind in :data:`CATALOGUE` maps onto the models' own commands (``Node.inject_fault``,
``Switch.inject_fault``, ``Rack.pull_cable``, ``Node.set_psu_input``, ``Node.bmc_reset``,
``Switch.reboot``, ``Switch.factory_reset``, a firmware version change), so each fault shows on
every protocol at once: the models emit the events the protocol adapters translate (SEL records,
Redfish health and events, SNMP traps, reachability).

The rules :class:`FaultInjector` keeps:

* **Validation first.** ``inject`` checks the kind, the device and its scope, the part, the
  version and the time before touching anything, and raises :class:`FaultError` (a clear message
  naming the valid choices) with nothing changed. A fault already active on the same part of the
  same device is refused, whether the injector or something else put it there.
* **Now or later.** ``at`` is absolute on the rack's clock; a time in the future schedules the
  fault (``scheduled``), which is checked again when it falls due: if it can no longer be
  injected then, its record is closed with ``cleared_by="skipped"`` and the reason in ``detail``.
* **Clearing.** ``clear`` undoes the fault on the model (a scheduled one is cancelled). Some
  faults end by themselves: a BMC reboot when the BMC is back, a switch reboot when it has booted
  (``cleared_by="self"``). A fault also ends when the model no longer has it: its part or its
  node was replaced (``"replacement"``), a firmware update brought the component to another
  version (``"update"``), or the model ended it itself (``"self"``).
* **Events.** :class:`FaultScheduled`, :class:`FaultInjected` and :class:`FaultCleared` go on the
  rack's bus, after the model's own events, so a subscriber (the state store, the event stream)
  sees the record already in its new state.
* **Planned clears.** ``schedule_clear(id, at, by=)`` ends a fault at a time (chaos does so); the
  plan is part of the record, and a clear the models refuse when due is retried, backing off.
* **State.** ``snapshot`` is JSON-safe; ``restore`` puts the records back and re-arms the
  scheduled faults and planned clears (those already due fire at once). The models restore their
  own fault state. The records of ended faults are kept, the last MAX_CLEARED of them.

Errors::

    ValueError
     └── FaultError      bad kind, device, part, version or time; a conflict; a refusal of the
                         model (its message); nothing was changed
"""

from __future__ import annotations

import difflib
import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from emulator.errors import FaultConflict, FaultError, refused_by_model
from emulator.fabric import CableChanged
from emulator.logs import kv
from emulator.operator.baseline import Baseline
from emulator.rack import Rack
from nodes.clock import Timer
from nodes.errors import ModelError
from nodes.events import (
    BmcReady,
    Event,
    FirmwareChanged,
    NodeReplaced,
    PartFaultChanged,
    PartReplaced,
    PsuInputChanged,
)
from nodes.faults import FAULT_OF, NodeFault, PartKind
from nodes.faults import SUMMARY as NODE_SUMMARY
from nodes.node import BmcResetKind, Node
from switches.cabling import BMC_PORT_NAME
from switches.events import (
    SwitchBooted,
    SwitchConfigChanged,
    SwitchFaultChanged,
    SwitchReplaced,
    SwitchState,
)
from switches.model import Switch, SwitchFault

__all__ = [
    "CATALOGUE",
    "FaultClearPlanned",
    "FaultCleared",
    "FaultConflict",
    "FaultError",
    "FaultEvent",
    "FaultInjected",
    "FaultInjector",
    "FaultKind",
    "FaultRecord",
    "FaultScheduled",
    "drift_version",
]

log = logging.getLogger("emulator.faults")

Scope = Literal["node", "switch"]
FaultState = Literal["scheduled", "active", "cleared"]

#: A firmware version, as the topology and the image header allow it.
_VERSION = re.compile(r"^[0-9A-Za-z._+-]{1,64}$")


@dataclass(frozen=True)
class FaultKind:
    """One entry of the catalogue. ``part`` is the kind of part the target names ("psu", "fan",
    "port", "firmware"...), or None when the fault takes no part."""

    name: str
    scope: Scope
    part: str | None
    summary: str


def _kinds(*kinds: FaultKind) -> dict[str, FaultKind]:
    return {k.name: k for k in kinds}


#: Every fault the emulator can inject, by name; ``summary`` is what ``scaleunit fault list``
#: shows: the effects on every protocol at once.
CATALOGUE: dict[str, FaultKind] = _kinds(
    FaultKind(
        "psu-one",
        "node",
        "psu",
        "one PSU fails (the first unless named): the node runs on the other; SEL supply failure"
        " and redundancy lost, Redfish PSU Critical, BMC traps",
    ),
    FaultKind(
        "psu-both",
        "node",
        None,
        "both PSUs fail: the host goes off and refuses power-on; SEL supply failures, Redfish "
        "Off with both PSUs Critical, its ToR ports down, BMC traps",
    ),
    FaultKind(
        "fan",
        "node",
        "fan",
        "a fan stops (the first unless named): 0 RPM, CPU and exhaust temperatures climb to "
        "warning then critical (SEL, sensors, Redfish, BMC traps)",
    ),
    FaultKind(
        "dimm-ue",
        "node",
        "dimm",
        "uncorrectable ECC error: SEL memory record, the OS crashes, POST maps the DIMM out; "
        "Redfish Memory Critical, BMC traps",
    ),
    FaultKind(
        "data-disk",
        "node",
        "data-disk",
        "a data disk fails (the first unless named): SEL drive fault, Redfish Drive Critical, "
        "BMC trap; the host runs on",
    ),
    FaultKind(
        "boot-drive-one",
        "node",
        "boot-drive",
        "one boot drive fails (the first unless named): SEL drive fault, boot mirror degraded "
        "(Redfish Warning); the host runs on",
    ),
    FaultKind(
        "boot-drive-both",
        "node",
        None,
        "both boot drives fail: the OS crashes and POST finds no bootable device; SEL drive "
        "faults and POST error, Redfish boot storage Critical",
    ),
    FaultKind(
        "nic-port",
        "node",
        "nic",
        "a NIC port fails (the first unless named): no link at either end (ifOperStatus down, "
        "linkDown trap, Redfish LinkDown); one data path left",
    ),
    FaultKind(
        "os-hang",
        "node",
        None,
        "the OS hangs: power stays on, the workload is silent, soft-off is ignored; IPMI and "
        "Redfish still answer; a reset ends it",
    ),
    FaultKind(
        "ac-loss",
        "node",
        None,
        "both PSU feeds lost: host off, SEL input-lost records, chassis status ac-failed, ToR "
        "ports down; on clear the power-restore policy decides",
    ),
    FaultKind(
        "bmc-hang",
        "node",
        None,
        "the BMC hangs: IPMI, Redfish and its traps are silent, the host runs on; ends on clear"
        " or after an AC loss and return",
    ),
    FaultKind(
        "bmc-reboot",
        "node",
        None,
        "the BMC cold-resets: IPMI and Redfish silent for the reset time, sessions dropped, the"
        " host runs on; ends by itself",
    ),
    FaultKind(
        "cable-bmc",
        "node",
        None,
        "the BMC cable is pulled: IPMI and Redfish time out, no traps, the BMC switch port goes"
        " down (linkDown); clear plugs it back",
    ),
    FaultKind(
        "cable-nic",
        "node",
        "nic",
        "a NIC cable is pulled (the first NIC unless named): link down at both ends, linkDown "
        "trap, Redfish LinkDown; clear plugs it back",
    ),
    FaultKind(
        "switch-power",
        "switch",
        None,
        "the switch loses power: agent silent, every port dark, the peers' ports down "
        "(linkDown), nodes lose that path; clear boots it (coldStart)",
    ),
    FaultKind(
        "switch-psu",
        "switch",
        "psu",
        "a switch PSU fails (the first unless named): the switch stays up; entStateOper "
        "disabled and an entStateOperDisabled trap",
    ),
    FaultKind(
        "switch-fan",
        "switch",
        "fan",
        "a switch fan fails (the first unless named): 0 RPM, temperatures climb; entStateOper "
        "disabled and an entStateOperDisabled trap",
    ),
    FaultKind(
        "switch-port",
        "switch",
        "port",
        "a port fails (the first cabled one unless named): ifOperStatus down, linkDown trap, "
        "the far end loses link",
    ),
    FaultKind(
        "switch-reboot",
        "switch",
        None,
        "the switch reloads: agent silent and ports down while it boots, then coldStart; ends "
        "by itself",
    ),
    FaultKind(
        "switch-config-loss",
        "switch",
        None,
        "factory defaults, then a reload: agent silent, a ToR carries no traffic, until clear "
        "loads and saves the backup, or a replacement",
    ),
    FaultKind(
        "firmware-drift",
        "node",
        "firmware",
        "a component runs another version than the baseline's (default: its last number minus "
        "one): the Redfish firmware inventory shows it, Repair refuses the node",
    ),
)

#: Kinds that end by themselves (``clear`` refuses them).
SELF_CLEARING = frozenset({"bmc-reboot", "switch-reboot"})

#: A planned clear the models refuse when due (a configuration loss on a switch with no power) is
#: tried again this many times, after CLEAR_RETRY_S emulated seconds, doubling up to an hour.
CLEAR_RETRIES = 20
CLEAR_RETRY_S = 30.0
#: How many records of ended faults are kept (the oldest go first): a long chaos run stays
#: bounded in memory and in the state store's snapshot.
MAX_CLEARED = 1000

_NODE_FAULTS = frozenset(f.value for f in NodeFault)
_SWITCH_FAULTS = frozenset(f.value for f in SwitchFault)
_PARTS = frozenset(p.value for p in PartKind)
#: ``FaultInjector.list`` shadows the builtin inside the class.
_List = list


# -- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FaultEvent(Event):
    """A fault record changed state; ``device`` is the faulty node or switch."""

    _log_name = "fault.event"
    fault_id: str
    kind: str
    part: str

    @property
    def name(self) -> str:
        return self._log_name


@dataclass(frozen=True, kw_only=True)
class FaultScheduled(FaultEvent):
    """A fault will be injected at ``when`` (emulated time)."""

    _log_name = "fault.scheduled"
    when: float


@dataclass(frozen=True, kw_only=True)
class FaultClearPlanned(FaultEvent):
    """A fault will be cleared at ``when`` by ``by`` (``when`` None: a planned clear was
    cancelled)."""

    _log_name = "fault.clear_planned"
    when: float | None
    by: str


@dataclass(frozen=True, kw_only=True)
class FaultInjected(FaultEvent):
    _log_name = "fault.injected"
    detail: str


@dataclass(frozen=True, kw_only=True)
class FaultCleared(FaultEvent):
    """A fault ended (or a scheduled one was cancelled or skipped): ``by`` says how."""

    _log_name = "fault.cleared"
    by: str


# -- records ------------------------------------------------------------------------------------


@dataclass
class FaultRecord:
    id: str
    kind: str
    device: str
    part: str
    state: FaultState
    scheduled_for: float | None = None
    injected_at: float | None = None
    cleared_at: float | None = None
    cleared_by: str = ""
    detail: str = ""
    #: firmware-drift: the version the component is set to ("" for the other kinds).
    version: str = ""
    #: A planned clear (emulated time) and who planned it ("chaos"...): kept across restarts.
    clear_at: float | None = None
    clear_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        # Every field is a plain value: a shallow copy of the instance's fields (no asdict deep
        # copy). The state store takes a snapshot at every fault event, of up to MAX_CLEARED +
        # active records: 15 -> 1 us a record.
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def drift_version(version: str) -> str:
    """The default drifted version: ``version`` with its last non-zero number decremented,
    keeping each field's width ("2.27.0" -> "2.26.0", "7.00.00.184" -> "7.00.00.183");
    with no such number, ``version + "-oem"``."""
    fields = re.split(r"([0-9]+)", version)
    for i in range(len(fields) - 1, -1, -1):
        text = fields[i]
        if text.isdigit() and int(text) > 0:
            fields[i] = str(int(text) - 1).zfill(len(text))
            return "".join(fields)
    return version + "-oem"


def _describe(fault: NodeFault | SwitchFault, part: str) -> str:
    if isinstance(fault, NodeFault):
        return f"{part} {NODE_SUMMARY[fault]}".strip()
    return f"{fault.value} {part} failed".replace("  ", " ")


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- the injector -------------------------------------------------------------------------------


@dataclass
class _Plan:
    """A checked request: what ``inject`` will do."""

    kind: FaultKind
    device: str
    part: str
    version: str = ""
    claims: frozenset[tuple[str, str]] = field(default_factory=frozenset)


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

    # -- queries ---------------------------------------------------------------------------------
    def list(self, *, active_only: bool = False) -> _List[FaultRecord]:
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

    def parts(self, kind: str, device: str) -> _List[str]:
        """The parts ``kind`` may target on ``device`` (empty for kinds without a part)."""
        spec = self._kind(kind)
        return self._valid_parts(spec, self._device(spec, device))

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

    def _new_record(self, plan: _Plan, state: FaultState) -> FaultRecord:
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

    def _apply_checked(self, plan: _Plan) -> tuple[str, str]:
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
            if record.kind in SELF_CLEARING:
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
                        **{CATALOGUE[record.kind].scope: record.device},
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
        if record.kind in SELF_CLEARING:
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
                if r.kind not in CATALOGUE or r.state not in ("scheduled", "active", "cleared"):
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
            elif record.state == "active" and record.kind in SELF_CLEARING:
                self._close(record, "self")
                continue
            if record.state != "cleared" and record.clear_at is not None:
                self._arm_clear(record)

    # -- following the models --------------------------------------------------------------------
    def reconcile(self, by: str = "self") -> _List[FaultRecord]:
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
            # A replacement comes with factory configuration or firmware: a new state of
            # things, which the replacement procedure deals with (even when the factory version
            # happens to be the drifted one); the fault itself is over.
            forced = by == "replacement" and record.kind in ("switch-config-loss", "firmware-drift")
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
        """Whether ``event`` speaks of the end of ``record``'s fault, and how to record it."""
        kind = record.kind
        if isinstance(event, CableChanged):
            if event.plugged and kind.startswith("cable-"):
                end = self._cable_end(record.kind, record.device, record.part)
                return "self" if end in (event.a, event.b) else None
            return None
        if event.device != record.device:
            return None
        claims = self._record_claims(record)
        if isinstance(event, PartFaultChanged):
            if not event.faulted and (event.part_kind, event.part) in claims:
                return "replacement" if event.cause.startswith("replace") else "self"
        elif isinstance(event, PartReplaced):
            fault = FAULT_OF.get(PartKind(event.part_kind)) if event.part_kind in _PARTS else None
            if fault is not None and (fault.value, event.part) in claims:
                return "replacement"
        elif isinstance(event, NodeReplaced | SwitchReplaced):
            return "replacement"
        elif isinstance(event, SwitchFaultChanged):
            if not event.active and (f"switch-{event.fault}", event.target) in claims:
                return "later"
        elif isinstance(event, BmcReady):
            return "self" if kind == "bmc-reboot" else None
        elif isinstance(event, SwitchBooted):
            return "self" if kind == "switch-reboot" else None
        elif isinstance(event, SwitchConfigChanged):
            return "self" if kind == "switch-config-loss" and event.provisioned else None
        elif isinstance(event, PsuInputChanged):
            return "self" if kind == "ac-loss" and event.has_input else None
        elif (
            isinstance(event, FirmwareChanged)
            and kind == "firmware-drift"
            and event.component == record.part
        ):
            return "update" if event.job_id else "self"
        return None

    # -- planning: validation, no side effects ---------------------------------------------------
    def _kind(self, kind: str) -> FaultKind:
        try:
            return CATALOGUE[kind]
        except (KeyError, TypeError):
            raise FaultError(
                f"unknown fault kind {kind!r}{_suggest(str(kind), CATALOGUE)}; kinds: "
                + ", ".join(CATALOGUE)
            ) from None

    def _device(self, spec: FaultKind, device: str) -> Node | Switch:
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

    @staticmethod
    def _valid_parts(spec: FaultKind, target: Node | Switch) -> _List[str]:
        if spec.part is None:
            return []
        if isinstance(target, Node):
            hw = target.spec.hardware
            node_parts = {
                "psu": [p.name for p in hw.psus],
                "fan": [f.name for f in hw.fans],
                "dimm": [d.slot for d in hw.dimms],
                "data-disk": [d.slot for d in hw.data_disks],
                "boot-drive": [d.slot for d in hw.boot_drives],
                "nic": [n.name for n in target.spec.nics],
                "firmware": list(target.firmware),
            }
            return node_parts[spec.part]
        switch_parts = {
            "psu": [p.name for p in target.psus],
            "fan": [f.name for f in target.fans],
            "port": list(target.ports),
        }
        return switch_parts[spec.part]

    @staticmethod
    def _default_part(spec: FaultKind, target: Node | Switch, parts: _List[str]) -> str:
        if spec.part == "port" and isinstance(target, Switch):
            cabled = [p.name for p in target.ports.values() if p.peer]
            if cabled:
                return cabled[0]
        if not parts:
            raise FaultError(f"{target.name} has no {spec.part} for {spec.name}")
        return parts[0]

    def _plan(self, kind: str, device: str, part: str | None, version: str | None) -> _Plan:
        spec = self._kind(kind)
        target = self._device(spec, device)
        parts = self._valid_parts(spec, target)
        if spec.part is None:
            if part:
                raise FaultError(
                    f"{spec.name} takes no part (it applies to the whole {spec.scope}), "
                    f"not {part!r}"
                )
            part = ""
        elif part is None or part == "":
            part = self._default_part(spec, target, parts)
        elif not isinstance(part, str):
            raise FaultError(f"a part is a name (one of {', '.join(parts)}), not {part!r}")
        elif part not in parts:
            raise FaultError(
                f"{device} has no {spec.part} {part!r}{_suggest(str(part), parts)}; "
                f"valid: {', '.join(parts)}"
            )
        plan = _Plan(spec, device, part)
        if spec.name == "firmware-drift":
            assert isinstance(target, Node)
            wanted = self.baseline.firmware.get(part)
            if version is None or version == "":
                if wanted is None:
                    raise FaultError(
                        f"the baseline {self.baseline.name} names no {part} version: give one"
                    )
                version = drift_version(wanted)
            if not isinstance(version, str) or not _VERSION.match(version):
                raise FaultError(
                    f"version {version!r} is not a firmware version "
                    "(1 to 64 of 0-9 A-Z a-z . _ + -)"
                )
            if wanted is not None and version == wanted:
                raise FaultError(
                    f"{version} is the baseline's {part} version ({self.baseline.name}); "
                    "a drift needs another one"
                )
            plan.version = version
        elif version is not None:
            raise FaultError(f"a version applies to firmware-drift only, not to {spec.name}")
        plan.claims = self._claims(spec.name, target, part)
        return plan

    @staticmethod
    def _claims(kind: str, target: Node | Switch, part: str) -> frozenset[tuple[str, str]]:
        """What a fault holds on its device, as (what, part): two faults that hold the same
        thing conflict. For the models' own faults, ``what`` is the NodeFault value, or
        "switch-" and the SwitchFault value."""
        if isinstance(target, Node):
            hw = target.spec.hardware
            if kind == "psu-both":
                return frozenset(("psu", p.name) for p in hw.psus)
            if kind == "boot-drive-both":
                return frozenset(("boot-drive", d.slot) for d in hw.boot_drives)
        what = {"psu-one": "psu", "dimm-ue": "dimm", "boot-drive-one": "boot-drive"}.get(kind, kind)
        return frozenset({(what, part)})

    def _record_claims(self, record: FaultRecord) -> frozenset[tuple[str, str]]:
        target = self.rack.nodes.get(record.device) or self.rack.switches.get(record.device)
        if target is None:
            return frozenset()
        return self._claims(record.kind, target, record.part)

    @staticmethod
    def _model_faults(
        scope: Scope, claims: frozenset[tuple[str, str]]
    ) -> _List[tuple[NodeFault | SwitchFault, str]]:
        """The (NodeFault or SwitchFault, target) pairs a fault sets on its model, in order."""
        out: _List[tuple[NodeFault | SwitchFault, str]] = []
        for what, part in sorted(claims):
            if scope == "node" and what in _NODE_FAULTS:
                out.append((NodeFault(what), part))
            elif scope == "switch" and what.removeprefix("switch-") in _SWITCH_FAULTS:
                out.append((SwitchFault(what.removeprefix("switch-")), part))
        return out

    def _check_free(self, plan: _Plan) -> None:
        for other in self._active.values():
            if other.device != plan.device:
                continue
            if self._record_claims(other) & plan.claims:
                raise FaultConflict(
                    f"{plan.device} already has {other.kind}"
                    + (f" on {other.part}" if other.part else "")
                    + f" ({other.id}): clear it first"
                )

    def _check_not_scheduled(self, plan: _Plan) -> None:
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

    def _check_model(self, plan: _Plan) -> None:
        """Refuse what the models already have (put there by other means) or cannot take now."""
        target = self._device(plan.kind, plan.device)
        held = self._model_faults(plan.kind.scope, plan.claims)
        if held:
            active = {(str(f), t) for f, t in target.active_faults}
            for fault, part in held:
                if (str(fault), part) in active:
                    raise FaultConflict(
                        f"{plan.device} already has a {fault} fault"
                        + (f" on {part}" if part else "")
                    )
        name = plan.kind.name
        if name.startswith("cable-"):
            end = self._cable_end(name, plan.device, plan.part)
            if end in self.rack.pulled_cables:
                raise FaultConflict(f"the cable at {end} is already pulled")
            if end not in self.rack.links:
                raise FaultError(f"nothing is cabled at {end}")
        elif name == "ac-loss":
            assert isinstance(target, Node)
            if not any(target.psu_input.values()):
                raise FaultConflict(f"{plan.device} already has no input power on any PSU")
        elif name == "firmware-drift":
            assert isinstance(target, Node)
            if target.firmware[plan.part] == plan.version:
                raise FaultConflict(f"{plan.device}'s {plan.part} already runs {plan.version}")
            busy = [
                j.id
                for j in target.update_jobs
                if j.component == plan.part and not j.state.finished
            ]
            if busy:
                raise FaultError(
                    f"{plan.device} has a {plan.part} update job in progress ({busy[0]}): "
                    "wait for it to end"
                )
        elif name in ("switch-reboot", "switch-config-loss"):
            assert isinstance(target, Switch)
            if target.state is not SwitchState.UP:
                raise FaultError(f"{plan.device} is {target.state.value}, not up")
        elif name == "bmc-reboot":
            assert isinstance(target, Node)
            if not target.bmc_answering():
                raise FaultError(f"the BMC of {plan.device} is not up (resetting or hung)")

    @staticmethod
    def _cable_end(kind: str, device: str, part: str) -> str:
        return f"{device}:{BMC_PORT_NAME if kind == 'cable-bmc' else part}"

    # -- applying and undoing ----------------------------------------------------------------------
    def _apply(self, plan: _Plan) -> tuple[str, str]:
        """Change the models: (detail, what clear needs to undo it). A ModelError leaves
        everything as it was."""
        name = plan.kind.name
        target = self._device(plan.kind, plan.device)
        held = self._model_faults(plan.kind.scope, plan.claims)
        if held:
            done: _List[tuple[NodeFault | SwitchFault, str]] = []
            try:
                for fault, part in held:
                    if isinstance(target, Node):
                        target.inject_fault(NodeFault(fault), part)
                    else:
                        target.inject_fault(SwitchFault(fault), part)
                    done.append((fault, part))
            except ModelError:
                for fault, part in reversed(done):
                    if isinstance(target, Node):
                        target.clear_fault(NodeFault(fault), part)
                    else:
                        target.clear_fault(SwitchFault(fault), part)
                raise
            return "; ".join(_describe(f, p) for f, p in held), ""
        if isinstance(target, Node):
            if name == "ac-loss":
                for psu in target.psu_input:
                    target.set_psu_input(psu, False)
                return "input lost on " + ", ".join(target.psu_input), ""
            if name == "bmc-reboot":
                target.bmc_reset(BmcResetKind.COLD)
                return f"BMC cold reset, back at {target.bmc_ready_at:.3f}", ""
            if name.startswith("cable-"):
                end = self._cable_end(name, plan.device, plan.part)
                self.rack.pull_cable(end)
                return f"cable pulled at {end}", ""
            if name == "firmware-drift":
                old = target.firmware[plan.part]
                return self._set_firmware(target, plan.part, plan.version), old
        else:
            if name == "switch-reboot":
                target.reboot(cause="fault")
                return "reload", ""
            if name == "switch-config-loss":
                backup = target.saved_config()
                target.factory_reset()
                return "running and saved configuration back to factory defaults, reload", backup
        raise FaultError(f"{name} is not supported yet")  # pragma: no cover - every kind is above

    def _set_firmware(self, node: Node, component: str, version: str) -> str:
        old = node.firmware[component]
        node.firmware[component] = version
        self.rack.bus(
            FirmwareChanged(
                device=node.name,
                at=self.clock.now(),
                component=component,
                old=old,
                new=version,
                job_id="",
            )
        )
        return f"{component} {old} -> {version}"

    def _undo(self, record: FaultRecord) -> None:
        name = record.kind
        spec = CATALOGUE[name]
        target = self._device(spec, record.device)
        held = self._model_faults(spec.scope, self._record_claims(record))
        if held:
            active = {(str(f), t) for f, t in target.active_faults}
            for fault, part in held:
                if (str(fault), part) not in active:
                    continue  # a part of psu-both replaced meanwhile
                if isinstance(target, Node):
                    target.clear_fault(NodeFault(fault), part)
                else:
                    target.clear_fault(SwitchFault(fault), part)
            return
        if isinstance(target, Node):
            if name == "ac-loss":
                for psu in target.psu_input:
                    target.set_psu_input(psu, True)
                return
            if name.startswith("cable-"):
                self.rack.plug_cable(self._cable_end(name, record.device, record.part))
                return
            if name == "firmware-drift":
                previous = self._undo_data.get(record.id) or self.baseline.firmware.get(
                    record.part, ""
                )
                if not previous:
                    raise FaultError(f"{record.id}: the version to put back is not known")
                self._set_firmware(target, record.part, previous)
                return
        elif name == "switch-config-loss":
            # The OEM procedure: load the backup kept on the HLH, validate, save.
            backup = self._undo_data.get(record.id) or ""
            if not backup:
                raise FaultError(f"{record.id}: no configuration backup to restore")
            target.load_config(backup)
            target.save_config()
            return
        raise FaultError(f"{name} is not supported yet")  # pragma: no cover

    def _still_active(self, record: FaultRecord) -> bool:
        """Whether the models still have the fault ``record`` put there."""
        target = self.rack.nodes.get(record.device) or self.rack.switches.get(record.device)
        if target is None:
            return False
        spec = CATALOGUE[record.kind]
        held = self._model_faults(spec.scope, self._record_claims(record))
        if held:
            active = {(str(f), t) for f, t in target.active_faults}
            return any((str(f), p) in active for f, p in held)
        name = record.kind
        if isinstance(target, Node):
            if name == "ac-loss":
                return not any(target.psu_input.values())
            if name == "bmc-reboot":
                return not target.bmc_answering()
            if name.startswith("cable-"):
                return self._cable_end(name, record.device, record.part) in self.rack.pulled_cables
            if name == "firmware-drift":
                return target.firmware.get(record.part) == record.version
            return True
        if name == "switch-reboot":
            return target.state is not SwitchState.UP
        if name == "switch-config-loss":
            return not target.provisioned
        return True

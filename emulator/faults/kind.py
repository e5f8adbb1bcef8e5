"""What a fault kind is, and the registry of every kind by name.

A kind is a class; defining a subclass of :class:`FaultKind` with a ``name`` registers one
instance of it in :data:`FAULT_KINDS` (no ``exec``, no import by string). A kind says:

* **what it applies to:** ``scope`` (a node or a switch) and ``part`` (the kind of part its
  target names: "psu", "fan", "port", "firmware"..., or None when it takes none), with
  :meth:`FaultKind.parts` and :meth:`FaultKind.default_part`;
* **what it holds** on its device (:meth:`FaultKind.claims`): two faults holding the same thing
  conflict;
* **how an injection is checked** (:meth:`FaultKind.check`): FaultError or FaultConflict, with
  nothing changed;
* **how it is applied, undone and recognised as still active** (:meth:`FaultKind.apply`,
  :meth:`FaultKind.undo`, :meth:`FaultKind.still_active`);
* **what ends it** (:meth:`FaultKind.ends`: which events of the rack may mean its end, and how
  to record it: "self", "replacement", "update", "credentials"...; ``ends_by_itself``: a kind
  the operator cannot clear; ``replacement_ends_it``: a replacement ends it whatever state the
  new hardware comes in).

The injector (:mod:`emulator.faults.injector`) keeps records, scheduling, retries and
persistence, and asks the kind everything else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from emulator.errors import FaultConflict, FaultError
from emulator.fabric import CableChanged
from nodes.errors import ModelError
from nodes.events import Event, NodeReplaced, PartFaultChanged, PartReplaced
from nodes.faults import FAULT_OF, NodeFault, PartKind
from nodes.faults import SUMMARY as NODE_SUMMARY
from nodes.node import Node
from switches.events import SwitchFaultChanged, SwitchReplaced
from switches.model import Switch, SwitchFault

if TYPE_CHECKING:
    from emulator.faults.records import FaultRecord
    from emulator.operator.baseline import Baseline
    from emulator.rack import Rack

__all__ = [
    "FAULT_KINDS",
    "Claims",
    "Device",
    "FaultKind",
    "ModelFaultKind",
    "Plan",
    "Scope",
    "Site",
]

Scope = Literal["node", "switch"]
#: What a fault holds on its device, as (what, part) pairs.
Claims = frozenset[tuple[str, str]]
Device = Node | Switch

#: Every fault kind the emulator can inject, by name, in the order they were defined.
FAULT_KINDS: dict[str, FaultKind] = {}

_PARTS = frozenset(p.value for p in PartKind)

#: The parts of a node a kind's ``part`` names.
_NODE_PARTS: dict[str, Callable[[Node], list[str]]] = {
    "psu": lambda n: [p.name for p in n.spec.hardware.psus],
    "fan": lambda n: [f.name for f in n.spec.hardware.fans],
    "dimm": lambda n: [d.slot for d in n.spec.hardware.dimms],
    "data-disk": lambda n: [d.slot for d in n.spec.hardware.data_disks],
    "boot-drive": lambda n: [d.slot for d in n.spec.hardware.boot_drives],
    "nic": lambda n: [nic.name for nic in n.spec.nics],
    "firmware": lambda n: list(n.firmware),
}
#: The parts of a switch a kind's ``part`` names.
_SWITCH_PARTS: dict[str, Callable[[Switch], list[str]]] = {
    "psu": lambda s: [p.name for p in s.psus],
    "fan": lambda s: [f.name for f in s.fans],
    "port": lambda s: list(s.ports),
}


def _parts_of(part: str, target: Device) -> list[str]:
    if isinstance(target, Node):
        return _NODE_PARTS[part](target)
    return _SWITCH_PARTS[part](target)


@dataclass(frozen=True)
class Site:
    """What a kind works on: the rack and the firmware baseline the injector uses."""

    rack: Rack
    baseline: Baseline

    def bus(self, event: Event) -> None:
        self.rack.bus(event)

    def now(self) -> float:
        return self.rack.clock.now()


@dataclass
class Plan:
    """A checked request: what ``inject`` will do."""

    kind: FaultKind
    device: str
    part: str
    version: str = ""
    claims: Claims = field(default_factory=frozenset)


class FaultKind:
    """One kind of fault; subclasses with a ``name`` register themselves (see the module)."""

    name: ClassVar[str]
    scope: ClassVar[Scope]
    #: The kind of part the target names, or None when the fault takes no part.
    part: ClassVar[str | None] = None
    #: What ``scaleunit fault kinds`` shows: the effects on every protocol at once (one line).
    summary: ClassVar[str]
    #: It ends when the device is back; ``clear`` refuses it, and after a restart it is over.
    ends_by_itself: ClassVar[bool] = False
    #: A replacement of the device or part ends it, whatever the new one comes with.
    replacement_ends_it: ClassVar[bool] = False
    #: It takes a firmware version (``inject(..., version=)``).
    takes_version: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name is None:
            return  # an abstract family
        if name in FAULT_KINDS:
            raise TypeError(f"fault kind {name!r} is defined twice ({cls.__qualname__})")
        FAULT_KINDS[name] = cls()

    def __repr__(self) -> str:
        return f"<fault kind {self.name}>"

    # -- what it applies to ------------------------------------------------------------------
    def parts(self, target: Device) -> list[str]:
        """The parts this kind may target on ``target`` (empty when it takes none)."""
        return [] if self.part is None else _parts_of(self.part, target)

    def default_part(self, target: Device, parts: list[str]) -> str:
        if not parts:
            raise FaultError(f"{target.name} has no {self.part} for {self.name}")
        return parts[0]

    def version(self, site: Site, target: Device, part: str, version: str | None) -> str:
        """The version the fault sets ("" for the kinds that take none)."""
        if version is not None:
            takers = ", ".join(k.name for k in FAULT_KINDS.values() if k.takes_version)
            raise FaultError(f"a version applies to {takers} only, not to {self.name}")
        return ""

    def claims(self, target: Device, part: str) -> Claims:
        """What the fault holds on its device: two faults that hold the same thing conflict."""
        return frozenset({(self.name, part)})

    # -- checking, applying, undoing -----------------------------------------------------------
    def check(self, site: Site, plan: Plan, target: Device) -> None:
        """Refuse what the models already have (put there by other means) or cannot take now:
        FaultError or FaultConflict, nothing changed."""

    def apply(self, site: Site, plan: Plan, target: Device) -> tuple[str, str]:
        """Change the models: (detail, what ``undo`` needs). A ModelError leaves everything as
        it was."""
        raise NotImplementedError

    def undo(self, site: Site, record: FaultRecord, target: Device, data: str) -> None:
        """Take the fault away (the operator's clear); ``data`` is what ``apply`` returned."""
        raise NotImplementedError

    def still_active(self, site: Site, record: FaultRecord, target: Device) -> bool:
        """Whether the models still have the fault ``record`` put there."""
        return True

    # -- what ends it --------------------------------------------------------------------------
    def ends(self, site: Site, record: FaultRecord, target: Device, event: Event) -> str | None:
        """Whether ``event`` speaks of the end of ``record``'s fault, and how to record it
        ("later": look again once the command that caused it is over). The injector then asks
        :meth:`still_active` (unless a replacement ends this kind whatever it brings)."""
        if isinstance(event, CableChanged) or event.device != record.device:
            return None
        claims = self.claims(target, record.part)
        if isinstance(event, PartFaultChanged):
            if not event.faulted and (event.part_kind, event.part) in claims:
                return "replacement" if event.cause.startswith("replace") else "self"
        elif isinstance(event, PartReplaced):
            fault = FAULT_OF.get(PartKind(event.part_kind)) if event.part_kind in _PARTS else None
            if fault is not None and (fault.value, event.part) in claims:
                return "replacement"
        elif isinstance(event, NodeReplaced | SwitchReplaced):
            return "replacement"
        elif (
            isinstance(event, SwitchFaultChanged)
            and not event.active
            and (f"switch-{event.fault}", event.target) in claims
        ):
            return "later"
        return None


class ModelFaultKind(FaultKind):
    """A kind that sets one of the models' own faults (``NodeFault`` or ``SwitchFault``) on
    each part it claims: psu-one sets NodeFault.PSU on its PSU, psu-both on every PSU."""

    #: The model's fault this kind sets.
    fault: ClassVar[NodeFault | SwitchFault]
    #: Set on every part of this kind at once (psu-both: "psu"), not on the one named.
    every: ClassVar[str | None] = None

    @classmethod
    def _what(cls) -> str:
        fault = cls.fault
        return fault.value if isinstance(fault, NodeFault) else f"switch-{fault.value}"

    def claims(self, target: Device, part: str) -> Claims:
        if self.every is None:
            return frozenset({(self._what(), part)})
        return frozenset((self._what(), p) for p in _parts_of(self.every, target))

    def held(self, claims: Iterable[tuple[str, str]]) -> list[tuple[NodeFault | SwitchFault, str]]:
        """The (fault, target) pairs this kind sets on its model, in order."""
        return [(self.fault, part) for _, part in sorted(claims)]

    def check(self, site: Site, plan: Plan, target: Device) -> None:
        active = {(str(f), t) for f, t in target.active_faults}
        for fault, part in self.held(plan.claims):
            if (str(fault), part) in active:
                raise FaultConflict(
                    f"{plan.device} already has a {fault} fault" + (f" on {part}" if part else "")
                )

    def apply(self, site: Site, plan: Plan, target: Device) -> tuple[str, str]:
        held = self.held(plan.claims)
        done: list[tuple[NodeFault | SwitchFault, str]] = []
        try:
            for fault, part in held:
                _inject(target, fault, part)
                done.append((fault, part))
        except ModelError:
            for fault, part in reversed(done):
                _clear(target, fault, part)
            raise
        return "; ".join(_describe(f, p) for f, p in held), ""

    def undo(self, site: Site, record: FaultRecord, target: Device, data: str) -> None:
        active = {(str(f), t) for f, t in target.active_faults}
        for fault, part in self.held(self.claims(target, record.part)):
            if (str(fault), part) in active:  # not a part of psu-both replaced meanwhile
                _clear(target, fault, part)

    def still_active(self, site: Site, record: FaultRecord, target: Device) -> bool:
        active = {(str(f), t) for f, t in target.active_faults}
        return any((str(f), p) in active for f, p in self.held(self.claims(target, record.part)))


def _inject(target: Device, fault: NodeFault | SwitchFault, part: str) -> None:
    if isinstance(target, Node):
        target.inject_fault(NodeFault(fault), part)
    else:
        target.inject_fault(SwitchFault(fault), part)


def _clear(target: Device, fault: NodeFault | SwitchFault, part: str) -> None:
    if isinstance(target, Node):
        target.clear_fault(NodeFault(fault), part)
    else:
        target.clear_fault(SwitchFault(fault), part)


def _describe(fault: NodeFault | SwitchFault, part: str) -> str:
    if isinstance(fault, NodeFault):
        return f"{part} {NODE_SUMMARY[fault]}".strip()
    return f"{fault.value} {part} failed".replace("  ", " ")

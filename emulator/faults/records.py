"""A fault's record, and the events the injector puts on the rack's bus when one changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from nodes.events import Event

__all__ = [
    "FaultClearPlanned",
    "FaultCleared",
    "FaultEvent",
    "FaultInjected",
    "FaultRecord",
    "FaultScheduled",
    "FaultState",
]

FaultState = Literal["scheduled", "active", "cleared"]


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

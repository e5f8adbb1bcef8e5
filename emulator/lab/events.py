"""What a lab puts on the rack's event stream (device ``lab``): the stage set, each step seen
done, each rule broken, each hint given, the grade. The state store keeps the lab with them."""

from __future__ import annotations

from dataclasses import dataclass

from nodes.events import Event


@dataclass(frozen=True, kw_only=True)
class LabEvent(Event):
    _log_name = "lab.event"

    @property
    def name(self) -> str:
        return self._log_name


@dataclass(frozen=True, kw_only=True)
class LabStarted(LabEvent):
    _log_name = "lab.started"
    title: str


@dataclass(frozen=True, kw_only=True)
class LabStepDone(LabEvent):
    _log_name = "lab.step"
    step: str
    title: str
    took_s: float
    out_of_order: bool


@dataclass(frozen=True, kw_only=True)
class LabRuleBroken(LabEvent):
    _log_name = "lab.rule"
    rule: str
    detail: str
    consequence: str


@dataclass(frozen=True, kw_only=True)
class LabHintGiven(LabEvent):
    _log_name = "lab.hint"
    step: str
    hint: str


@dataclass(frozen=True, kw_only=True)
class LabFinished(LabEvent):
    _log_name = "lab.finished"
    score: int
    why: str

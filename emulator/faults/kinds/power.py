"""Node power: a PSU fails, both fail, or both lose their input (AC loss)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emulator.errors import FaultConflict
from emulator.faults.kind import Device, FaultKind, ModelFaultKind, Plan, Site
from nodes.events import Event, PsuInputChanged
from nodes.faults import NodeFault
from nodes.node import Node

if TYPE_CHECKING:
    from emulator.faults.records import FaultRecord


class PsuOne(ModelFaultKind):
    name = "psu-one"
    scope = "node"
    part = "psu"
    fault = NodeFault.PSU
    summary = (
        "one PSU fails (the first unless named): the node runs on the other; SEL supply failure"
        " and redundancy lost, Redfish PSU Critical, BMC traps"
    )


class PsuBoth(ModelFaultKind):
    name = "psu-both"
    scope = "node"
    fault = NodeFault.PSU
    every = "psu"
    summary = (
        "both PSUs fail: the host goes off and refuses power-on; SEL supply failures, Redfish "
        "Off with both PSUs Critical, its ToR ports down, BMC traps"
    )


class AcLoss(FaultKind):
    """Both feeds lost; the clear gives them back and the power-restore policy decides."""

    name = "ac-loss"
    scope = "node"
    summary = (
        "both PSU feeds lost: host off, SEL input-lost records, chassis status ac-failed, ToR "
        "ports down; on clear the power-restore policy decides"
    )

    def check(self, site: Site, plan: Plan, target: Device) -> None:
        assert isinstance(target, Node)
        if not any(target.psu_input.values()):
            raise FaultConflict(f"{plan.device} already has no input power on any PSU")

    def apply(self, site: Site, plan: Plan, target: Device) -> tuple[str, str]:
        assert isinstance(target, Node)
        for psu in target.psu_input:
            target.set_psu_input(psu, False)
        return "input lost on " + ", ".join(target.psu_input), ""

    def undo(self, site: Site, record: FaultRecord, target: Device, data: str) -> None:
        assert isinstance(target, Node)
        for psu in target.psu_input:
            target.set_psu_input(psu, True)

    def still_active(self, site: Site, record: FaultRecord, target: Device) -> bool:
        assert isinstance(target, Node)
        return not any(target.psu_input.values())

    def ends(self, site: Site, record: FaultRecord, target: Device, event: Event) -> str | None:
        if isinstance(event, PsuInputChanged) and event.device == record.device:
            return "self" if event.has_input else None
        return super().ends(site, record, target, event)

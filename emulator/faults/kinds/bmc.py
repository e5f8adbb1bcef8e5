"""The BMC itself: it hangs, or it cold-resets (and ends by itself when it is back)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emulator.errors import FaultError
from emulator.faults.kind import Device, FaultKind, ModelFaultKind, Plan, Site
from nodes.events import BmcReady, Event
from nodes.faults import NodeFault
from nodes.node import BmcResetKind, Node

if TYPE_CHECKING:
    from emulator.faults.records import FaultRecord


def require_bmc_up(plan: Plan, target: Device) -> None:
    """Refuse a fault that needs the BMC's firmware running (not resetting, not hung)."""
    assert isinstance(target, Node)
    if not target.bmc_answering():
        raise FaultError(f"the BMC of {plan.device} is not up (resetting or hung)")


class BmcHang(ModelFaultKind):
    name = "bmc-hang"
    scope = "node"
    fault = NodeFault.BMC_HANG
    summary = (
        "the BMC hangs: IPMI, Redfish and its traps are silent, the host runs on; ends on clear"
        " or after an AC loss and return"
    )


class BmcReboot(FaultKind):
    name = "bmc-reboot"
    scope = "node"
    ends_by_itself = True
    summary = (
        "the BMC cold-resets: IPMI and Redfish silent for the reset time, sessions dropped, the"
        " host runs on; ends by itself"
    )

    def check(self, site: Site, plan: Plan, target: Device) -> None:
        require_bmc_up(plan, target)

    def apply(self, site: Site, plan: Plan, target: Device) -> tuple[str, str]:
        assert isinstance(target, Node)
        target.bmc_reset(BmcResetKind.COLD)
        return f"BMC cold reset, back at {target.bmc_ready_at:.3f}", ""

    def still_active(self, site: Site, record: FaultRecord, target: Device) -> bool:
        assert isinstance(target, Node)
        return not target.bmc_answering()

    def ends(self, site: Site, record: FaultRecord, target: Device, event: Event) -> str | None:
        if isinstance(event, BmcReady) and event.device == record.device:
            return "self"
        return super().ends(site, record, target, event)

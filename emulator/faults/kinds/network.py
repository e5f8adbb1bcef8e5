"""Node networking: a NIC port fails, or a cable (the BMC's, a NIC's) is pulled."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emulator.errors import FaultConflict, FaultError
from emulator.fabric import CableChanged
from emulator.faults.kind import Device, FaultKind, ModelFaultKind, Plan, Site
from nodes.events import Event
from nodes.faults import NodeFault
from switches.cabling import BMC_PORT_NAME

if TYPE_CHECKING:
    from emulator.faults.records import FaultRecord


class NicPort(ModelFaultKind):
    name = "nic-port"
    scope = "node"
    part = "nic"
    fault = NodeFault.NIC_PORT
    summary = (
        "a NIC port fails (the first unless named): no link at either end (ifOperStatus down, "
        "linkDown trap, Redfish LinkDown); one data path left"
    )


class _CablePulled(FaultKind):
    """A cable pulled at one end of the node; the clear, or anyone plugging it, ends it."""

    def cable_end(self, device: str, part: str) -> str:
        """The cable's end on the node, as the rack's fabric names it."""
        return f"{device}:{part}"

    def check(self, site: Site, plan: Plan, target: Device) -> None:
        end = self.cable_end(plan.device, plan.part)
        if end in site.rack.pulled_cables:
            raise FaultConflict(f"the cable at {end} is already pulled")
        if end not in site.rack.links:
            raise FaultError(f"nothing is cabled at {end}")

    def apply(self, site: Site, plan: Plan, target: Device) -> tuple[str, str]:
        end = self.cable_end(plan.device, plan.part)
        site.rack.pull_cable(end)
        return f"cable pulled at {end}", ""

    def undo(self, site: Site, record: FaultRecord, target: Device, data: str) -> None:
        site.rack.plug_cable(self.cable_end(record.device, record.part))

    def still_active(self, site: Site, record: FaultRecord, target: Device) -> bool:
        return self.cable_end(record.device, record.part) in site.rack.pulled_cables

    def ends(self, site: Site, record: FaultRecord, target: Device, event: Event) -> str | None:
        if isinstance(event, CableChanged):
            if not event.plugged:
                return None
            end = self.cable_end(record.device, record.part)
            return "self" if end in (event.a, event.b) else None
        return super().ends(site, record, target, event)


class CableBmc(_CablePulled):
    name = "cable-bmc"
    scope = "node"
    summary = (
        "the BMC cable is pulled: IPMI and Redfish time out, no traps, the BMC switch port goes"
        " down (linkDown); clear plugs it back"
    )

    def cable_end(self, device: str, part: str) -> str:
        return f"{device}:{BMC_PORT_NAME}"


class CableNic(_CablePulled):
    name = "cable-nic"
    scope = "node"
    part = "nic"
    summary = (
        "a NIC cable is pulled (the first NIC unless named): link down at both ends, linkDown "
        "trap, Redfish LinkDown; clear plugs it back"
    )

"""bmc-factory-reset: the BMC reboots to its factory defaults.

It comes back with the OEM's factory credentials (those a replacement node's BMC has), its
other users, SEL and LAN settings cleared (:func:`nodes.bmc_factory.factory_reset_bmc`); the
host runs on. The rack's tools no longer get in: IPMI's RAKP and Redfish refuse the rack's
credentials and take the factory ones. Hardware alerts raised before it stay open (a factory
reset sends no trap that clears them; PROCEDURES.md).

It ends when the rack's credentials work on the BMC again: the operator (a trainee, a
controller) sets them through IPMI user commands or Redfish's AccountService
(``cleared_by="credentials"``), or the operator's clear does that same step
(``"operator"``). A replacement of the node ends it too (its new BMC is another story, with
the same procedure).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emulator.errors import FaultConflict, FaultError
from emulator.faults.kind import Device, FaultKind, Plan, Site
from emulator.faults.kinds.bmc import require_bmc_up
from nodes.bmc_factory import (
    FACTORY_PASSWORD,
    FACTORY_USER_ID,
    FACTORY_USERNAME,
    factory_reset_bmc,
    has_credentials,
)
from nodes.events import Event, UserChanged
from nodes.node import Node
from nodes.users import Privilege

if TYPE_CHECKING:
    from emulator.faults.records import FaultRecord


def _rack_credentials(site: Site, node: Node) -> tuple[str, str]:
    return site.rack.topology.bmc_credentials(node.spec)


class BmcFactoryReset(FaultKind):
    name = "bmc-factory-reset"
    scope = "node"
    replacement_ends_it = True
    summary = (
        "the BMC reboots to factory defaults: factory credentials (root/calvin), users, SEL and "
        "LAN settings cleared, the host runs on; ends when the rack's credentials are set again"
    )

    def check(self, site: Site, plan: Plan, target: Device) -> None:
        assert isinstance(target, Node)
        username, password = _rack_credentials(site, target)
        if (username, password) == (FACTORY_USERNAME, FACTORY_PASSWORD):
            raise FaultError(
                f"{plan.device}'s BMC credentials are the factory ones: a factory reset would "
                "not show"
            )
        require_bmc_up(plan, target)
        if not has_credentials(target, username, password):
            raise FaultConflict(
                f"the BMC of {plan.device} already refuses the rack's credentials "
                "(a factory reset or a replacement not set up yet)"
            )

    def apply(self, site: Site, plan: Plan, target: Device) -> tuple[str, str]:
        assert isinstance(target, Node)
        factory_reset_bmc(target, FACTORY_USERNAME, FACTORY_PASSWORD)
        return (
            f"BMC reset to factory defaults (user {FACTORY_USERNAME}), users, SEL and LAN "
            f"settings cleared, back at {target.bmc_ready_at:.3f}",
            "",
        )

    def undo(self, site: Site, record: FaultRecord, target: Device, data: str) -> None:
        """What the operator does: set the rack's user and password on the BMC again."""
        assert isinstance(target, Node)
        if not target.bmc_answering():
            raise FaultError(
                f"the BMC of {record.device} is not up (resetting or hung): its credentials "
                "cannot be set now"
            )
        username, password = _rack_credentials(site, target)
        users = target.users
        other = users.by_name(username)
        if other is not None and other.user_id != FACTORY_USER_ID:
            users.set_name(other.user_id, "")
        users.set_name(FACTORY_USER_ID, username)
        users.set_password(FACTORY_USER_ID, password)
        users.set_privilege(FACTORY_USER_ID, Privilege.ADMINISTRATOR)
        users.set_enabled(FACTORY_USER_ID, True)

    def still_active(self, site: Site, record: FaultRecord, target: Device) -> bool:
        assert isinstance(target, Node)
        return not has_credentials(target, *_rack_credentials(site, target))

    def ends(self, site: Site, record: FaultRecord, target: Device, event: Event) -> str | None:
        if isinstance(event, UserChanged) and event.device == record.device:
            return "credentials"
        return super().ends(site, record, target, event)

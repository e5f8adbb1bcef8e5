"""A BMC reset to its factory defaults (what ``racadm racresetcfg`` does to an iDRAC).

The BMC restarts (a cold reset: unreachable for the reset time, sessions dropped) and comes back
with what it shipped with; the host keeps running. What goes back to the factory's:

* **users:** every slot emptied but user 2, which holds the OEM's factory credentials (the
  same a replacement node's BMC has, :func:`nodes.persist.replace`), an enabled administrator;
  failure counts and locks are forgotten and the lockout settings are the defaults;
* **the SEL:** erased, with the "Log area reset/cleared" record a BMC logs after an erase;
* **LAN settings:** the VLAN tag is dropped. The address stays: the emulator wires each BMC at
  its slot's address (a real BMC would fall back to its DHCP or static default, and step 4 of
  the procedure sets the address again);

What does not change: the host (power, OS, its faults), firmware, BIOS settings, the FRU.
:func:`has_credentials` tells whether someone set the rack's credentials again (through IPMI
user commands or Redfish's AccountService): that ends the fault this models.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Final

from nodes import sensors as sn
from nodes.events import Event
from nodes.users import LockoutPolicy, Privilege

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = [
    "FACTORY_PASSWORD",
    "FACTORY_USERNAME",
    "FACTORY_USER_ID",
    "factory_reset_bmc",
    "has_credentials",
]

#: The OEM's factory BMC credentials (as on Dell iDRACs), also a replacement node's.
FACTORY_USERNAME: Final = "root"
FACTORY_PASSWORD: Final = "calvin"
#: The slot that holds the factory user (user 1 is the anonymous user).
FACTORY_USER_ID = 2


def factory_reset_bmc(node: Node, username: str, password: str) -> list[Event]:
    """Reset ``node``'s BMC to factory defaults with ``username``/``password`` as its only
    user; returns the events it caused (every change is announced, so a store writes it)."""
    from nodes.node import BmcResetKind

    events = node.bmc_reset(BmcResetKind.COLD)
    users = node.users
    for user in users.all():
        if user.user_id == FACTORY_USER_ID or not (user.name or user.enabled):
            continue
        users.set_enabled(user.user_id, False)
        users.set_privilege(user.user_id, Privilege.NO_ACCESS)
        users.set_password(user.user_id, "")
        if user.user_id != 1:  # the anonymous user keeps its (empty) name
            users.set_name(user.user_id, "")
    users.set_name(FACTORY_USER_ID, username)
    users.set_password(FACTORY_USER_ID, password)
    users.set_privilege(FACTORY_USER_ID, Privilege.ADMINISTRATOR)
    users.set_enabled(FACTORY_USER_ID, True)
    for user in users.all():
        users.unlock(user.user_id, cause="factory-reset")
    users.set_lockout_policy(LockoutPolicy())
    node.sel.clear(sn.EVENT_LOG)
    node.lan = replace(node.lan, vlan=0)
    return events


def has_credentials(node: Node, username: str, password: str) -> bool:
    """Whether ``node``'s BMC has an enabled administrator (or operator) with these
    credentials: what the rack's tools log in with."""
    user = node.users.by_name(username)
    return (
        user is not None
        and user.enabled
        and user.password == password
        and user.privilege in (Privilege.OPERATOR, Privilege.ADMINISTRATOR, Privilege.OEM)
    )

"""The operator's states and the tables of what each action may do from each.

Names and meanings follow Azure Stack Hub's administrator view (see ``../shared/PROCEDURES.md``
and the node-actions and add-node articles it cites). Values are kebab-case like the node model's;
:attr:`label` gives the name the portal shows ("Requires Remediation").
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from nodes.power import HostState


class _Labelled(StrEnum):
    @property
    def label(self) -> str:
        """The name the administrator portal shows."""
        return " ".join(word.capitalize() for word in self.value.split("-"))


class NodeStatus(_Labelled):
    """A scale-unit node's operational status."""

    RUNNING = "running"  # actively participating in the scale unit
    STOPPED = "stopped"  # unavailable
    ADDING = "adding"  # being added to the scale unit
    REPAIRING = "repairing"  # being repaired
    MAINTENANCE = "maintenance"  # paused (drained): no user workload runs on it
    REQUIRES_REMEDIATION = "requires-remediation"  # an error needs the node to be repaired


class PowerState(_Labelled):
    """A node's power state as the fabric reports it, derived from the host's."""

    RUNNING = "running"
    STARTING = "starting"
    STOPPING = "stopping"
    STOPPED = "stopped"


class ScaleUnitStatus(_Labelled):
    RUNNING = "running"  # every node participates
    STOPPED = "stopped"  # no node of the scale unit is up
    EXPANDING = "expanding"  # a node is being added as compute capacity
    CONFIGURING_STORAGE = "configuring-storage"  # compute added, storage expansion running
    REQUIRES_REMEDIATION = "requires-remediation"  # storage at risk, or a node needs a repair


class VmState(_Labelled):
    PENDING = "pending"  # not placed yet (no node could take it)
    RUNNING = "running"
    FAILED = "failed"


class Action(StrEnum):
    DRAIN = "drain"
    RESUME = "resume"
    STOP = "stop"
    SHUTDOWN = "shutdown"
    START = "start"
    REPAIR = "repair"
    ADD = "add"
    CLOSE_ALERT = "close-alert"


#: The host's power state as the fabric shows it.
POWER_STATE: Final[dict[HostState, PowerState]] = {
    HostState.OFF: PowerState.STOPPED,
    HostState.POWERING_ON: PowerState.STARTING,
    HostState.POST: PowerState.STARTING,
    HostState.BOOTING: PowerState.STARTING,
    HostState.RUNNING: PowerState.RUNNING,
    HostState.SHUTTING_DOWN: PowerState.STOPPING,
}

_S = NodeStatus
#: The operational statuses (as shown) each node action is accepted from; every other status
#: refuses it. ADD is for a node that is not in the scale unit at all. Further conditions
#: (power, BMC, baseline, one operation at a time) are checked by the fabric after this table.
ACCEPTED_FROM: Final[dict[Action, frozenset[NodeStatus]]] = {
    Action.DRAIN: frozenset({_S.RUNNING}),
    Action.RESUME: frozenset({_S.MAINTENANCE, _S.STOPPED}),
    Action.STOP: frozenset({_S.RUNNING, _S.MAINTENANCE, _S.STOPPED, _S.REQUIRES_REMEDIATION}),
    Action.SHUTDOWN: frozenset({_S.RUNNING, _S.MAINTENANCE, _S.STOPPED, _S.REQUIRES_REMEDIATION}),
    Action.START: frozenset({_S.MAINTENANCE, _S.STOPPED, _S.REQUIRES_REMEDIATION}),
    Action.REPAIR: frozenset({_S.MAINTENANCE, _S.STOPPED, _S.REQUIRES_REMEDIATION}),
    Action.ADD: frozenset(),
}
del _S

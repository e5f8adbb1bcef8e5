"""The alert catalogue: what the fabric raises, and the alerts it holds.

The three node-down alerts are Azure Stack Hub's own titles (azure-stack-replace-node.md: a node
that is down raises all three, Critical). The others are written in the same voice; their names
are not documented. Every alert closes by itself when its condition clears, except that a
*hardware* alert belongs to the hardware that raised it (serial, board): after a whole-node or
motherboard swap it stays open until an operator closes it, as the documentation says. Hardware
alerts open and close only on the traps the BMC sent (see ``emulator.operator.fabric``).

================================  ==========  ========  ========  ===========================
kind                              severity    on        hardware  raised when
================================  ==========  ========  ========  ===========================
node-offline                      Critical    node      no        the host is not running
node-not-connected                Critical    node      no        host down, or no NIC link
node-no-placement                 Critical    node      no        host down, no NIC link, or the
                                                                  node Requires Remediation
psu-redundancy-lost               Warning     node      yes       the BMC's PSU trap: a supply
                                                                  lost input or failed
bmc-not-responding                Warning     node      no        BMC silent or refusing the
                                                                  rack's credentials for 60 s
tor-switch-down                   Critical    switch    no        a ToR is not up
bmc-switch-down                   Warning     switch    no        the BMC switch is not up
route-publication-failure         Critical    unit      no        no ToR uplink to the border
================================  ==========  ========  ========  ===========================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Severity(StrEnum):
    CRITICAL = "Critical"
    WARNING = "Warning"


class AlertKind(StrEnum):
    NODE_OFFLINE = "node-offline"
    NODE_NOT_CONNECTED = "node-not-connected"
    NODE_NO_PLACEMENT = "node-no-placement"
    PSU_REDUNDANCY_LOST = "psu-redundancy-lost"
    BMC_NOT_RESPONDING = "bmc-not-responding"
    TOR_SWITCH_DOWN = "tor-switch-down"
    BMC_SWITCH_DOWN = "bmc-switch-down"
    ROUTE_PUBLICATION_FAILURE = "route-publication-failure"


@dataclass(frozen=True)
class AlertSpec:
    kind: AlertKind
    title: str
    severity: Severity
    #: "{component}" is replaced by the node, switch or scale unit.
    description: str
    remediation: str
    #: A hardware alert does not close by itself once the hardware that raised it is swapped.
    hardware: bool = False


_NODE_DOWN_FIX = (
    "Check the node's power and its BMC. If the node has failed, follow the OEM's field "
    "replacement procedure: Shutdown the node (if that fails, Drain then Stop; if Stop fails "
    "twice, use the BMC directly), replace the part, level its firmware to the baseline, Repair, "
    "then verify that the storage repair finished and the alerts closed."
)

CATALOGUE: Final[dict[AlertKind, AlertSpec]] = {
    spec.kind: spec
    for spec in (
        AlertSpec(
            AlertKind.NODE_OFFLINE,
            "Scale unit node is offline",
            Severity.CRITICAL,
            "The scale unit node {component} is inaccessible.",
            _NODE_DOWN_FIX,
        ),
        AlertSpec(
            AlertKind.NODE_NOT_CONNECTED,
            "Node not connected to network controller",
            Severity.CRITICAL,
            "The network controller cannot reach the node {component}.",
            "Check that the node is powered on and that its NIC ports have link to the "
            "top-of-rack switches. " + _NODE_DOWN_FIX,
        ),
        AlertSpec(
            AlertKind.NODE_NO_PLACEMENT,
            "Node inaccessible for virtual machine placement",
            Severity.CRITICAL,
            "Virtual machines cannot be placed on the node {component}.",
            _NODE_DOWN_FIX,
        ),
        AlertSpec(
            AlertKind.PSU_REDUNDANCY_LOST,
            "Power supply redundancy lost",
            Severity.WARNING,
            "A power supply of {component} has no input; the node runs on the other one.",
            "Check the power feed and the cable of the power supply; replace the power supply "
            "if it has failed (OEM field replacement). A hardware alert does not close by itself "
            "after the node or its motherboard is replaced: close it once the part is swapped.",
            hardware=True,
        ),
        AlertSpec(
            AlertKind.BMC_NOT_RESPONDING,
            "BMC is not responding",
            Severity.WARNING,
            "The baseboard management controller of {component} did not respond to a general "
            "query in the expected time.",
            "Check the BMC's network cable and its port on the BMC switch, its IP address, and "
            "that it has the rack's BMC credentials. Start, Stop, Repair and Add fail until it "
            "answers.",
        ),
        AlertSpec(
            AlertKind.TOR_SWITCH_DOWN,
            "Top-of-rack switch is not responding",
            Severity.CRITICAL,
            "The top-of-rack switch {component} is down or unreachable; tenant traffic runs "
            "through the other one.",
            "Check the switch's power and its console. Replace it if it has failed: restore its "
            "configuration from the backup on the hardware lifecycle host, then validate BGP "
            "neighbours and the OS version.",
        ),
        AlertSpec(
            AlertKind.BMC_SWITCH_DOWN,
            "BMC switch is not responding",
            Severity.WARNING,
            "The BMC switch {component} is down or unreachable: no BMC answers, hardware alerts "
            "stop arriving, and Start, Stop, Repair and Add fail.",
            "Check the switch's power and its uplinks to the top-of-rack switches. Replace it if "
            "it has failed, restoring its configuration from the backup on the hardware "
            "lifecycle host.",
        ),
        AlertSpec(
            AlertKind.ROUTE_PUBLICATION_FAILURE,
            "Route publication failure",
            Severity.CRITICAL,
            "The scale unit {component} cannot publish its routes: no top-of-rack switch has an "
            "uplink to the border.",
            "Check the top-of-rack switches and their uplinks to the border devices; BGP needs one "
            "uplink up.",
        ),
    )
}


@dataclass(frozen=True)
class Alert:
    """One alert, open (``closed_at`` None) or closed."""

    id: str
    kind: AlertKind
    title: str
    severity: Severity
    component: str
    description: str
    remediation: str
    opened_at: float
    closed_at: float | None = None
    closed_by: str | None = None
    #: For hardware alerts: the hardware that raised it ("serial/board serial"), else "".
    hardware_id: str = ""

    @property
    def open(self) -> bool:
        return self.closed_at is None

"""The alert catalogue: what the fabric raises, and the alerts it holds.

The three node-down alerts are Azure Stack Hub's own titles (azure-stack-replace-node.md: a node
that is down raises all three, Critical). The others are written in the same voice; their names
are not documented. Every alert closes by itself when its condition clears, except that a
*hardware* alert belongs to the hardware that raised it (serial, board): after a whole-node or
motherboard swap it stays open until an operator closes it, as the documentation says. Hardware
alerts open and close only on the traps the BMC sent (see ``emulator.operator.view``).

================================  ==========  ========  ========  ===========================
kind                              severity    on        hardware  raised when
================================  ==========  ========  ========  ===========================
node-offline                      Critical    node      no        the host is not running
node-not-connected                Critical    node      no        host down, or no NIC link
node-no-placement                 Critical    node      no        host down, no NIC link, or the
                                                                  node Requires Remediation
psu-redundancy-lost               Warning     node      yes       the BMC's PSU trap: a supply
                                                                  lost input or failed
fan-failure                       Critical    node      yes       a fan trap (below its lower
                                                                  threshold: stopped)
temperature-warning               Warning     node      yes       a temperature trap: a reading
                                                                  past its non-critical threshold
temperature-critical              Critical    node      yes       a temperature trap: a reading
                                                                  past its critical or
                                                                  non-recoverable threshold
memory-error                      Critical    node      yes       a memory trap: uncorrectable
                                                                  ECC, DIMM disabled (per DIMM)
drive-failure                     Critical    node      yes       a drive trap from a data disk
boot-drive-degraded               Warning     node      yes       a drive trap from a boot drive:
                                                                  the mirror runs on one
boot-drive-failed                 Critical    node      yes       every boot drive has trapped
processor-error                   Critical    node      yes       a processor or critical
                                                                  interrupt trap (an event)
os-critical-stop                  Critical    node      yes       an OS critical stop or watchdog
                                                                  trap (an event)
bmc-not-responding                Warning     node      no        BMC silent or refusing the
                                                                  rack's credentials for 60 s
tor-switch-down                   Critical    switch    no        a ToR is not up
bmc-switch-down                   Warning     switch    no        the BMC switch is not up
route-publication-failure         Critical    unit      no        no ToR uplink to the border
================================  ==========  ========  ========  ===========================

The hardware alerts beyond the PSU's are **[inferred]**: the real ones are OEM-defined (the OEM's
trap OIDs and its health provider's titles), so the kinds, titles and texts here are the
emulator's own, written in the voice of the documented ones. Temperatures raise two kinds, not one
whose severity moves: every catalogue entry has one severity, as an alert's severity never changes
while it is open, and the warning stays open, on its own, while a reading is past the warning
threshold after it fell back below the critical one. The processor, critical interrupt and OS
stop traps report events, which IPMI never deasserts: those alerts stay open until the operator
closes them, and the next such trap raises a new one. The NIC port fault logs no SEL record, so
no trap: the network alerts (``node-not-connected``) cover it. Voltage, battery and LAN traps
raise nothing yet (no fault of the model logs them).
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
    FAN_FAILURE = "fan-failure"
    TEMPERATURE_WARNING = "temperature-warning"
    TEMPERATURE_CRITICAL = "temperature-critical"
    MEMORY_ERROR = "memory-error"
    DRIVE_FAILURE = "drive-failure"
    BOOT_DRIVE_DEGRADED = "boot-drive-degraded"
    BOOT_DRIVE_FAILED = "boot-drive-failed"
    PROCESSOR_ERROR = "processor-error"
    OS_CRITICAL_STOP = "os-critical-stop"
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


_HW_SWAP = (
    " A hardware alert does not close by itself after the node or its motherboard is replaced: "
    "close it once the part is swapped."
)

_NODE_DOWN_FIX = (
    "Check the node's power and its BMC. If the node has failed, follow the OEM's field "
    "replacement procedure: Shutdown the node (if that fails, Drain then Stop; if Stop fails "
    "twice, use the BMC directly), replace the part, level its firmware to the baseline, Repair, "
    "then verify that the storage repair finished and the alerts closed."
)

ALERT_KINDS: Final[dict[AlertKind, AlertSpec]] = {
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
            AlertKind.FAN_FAILURE,
            "Fan failure",
            Severity.CRITICAL,
            "A fan of {component} has stopped; its temperatures rise while the host runs.",
            "Check the fan's seating and replace the fan (OEM field replacement; a hot-plug part "
            "in most chassis). The alert closes when the BMC reports the fan back above its "
            "threshold." + _HW_SWAP,
            hardware=True,
        ),
        AlertSpec(
            AlertKind.TEMPERATURE_WARNING,
            "Temperature above the warning threshold",
            Severity.WARNING,
            "A temperature sensor of {component} reads above its warning threshold.",
            "Check the node's fans, its air flow (blanking panels, blocked vents) and the inlet "
            "temperature of the rack. The alert closes when the BMC reports every reading back "
            "below its threshold." + _HW_SWAP,
            hardware=True,
        ),
        AlertSpec(
            AlertKind.TEMPERATURE_CRITICAL,
            "Temperature above the critical threshold",
            Severity.CRITICAL,
            "A temperature sensor of {component} reads above its critical threshold; the node "
            "may throttle or shut down to protect itself.",
            "Drain the node if the temperature keeps rising, then check its fans, its air flow "
            "and the inlet temperature of the rack; replace a failed fan (OEM field "
            "replacement). The alert closes when the BMC reports every reading back below its "
            "critical threshold." + _HW_SWAP,
            hardware=True,
        ),
        AlertSpec(
            AlertKind.MEMORY_ERROR,
            "Memory error",
            Severity.CRITICAL,
            "A memory module of {component} reported an uncorrectable error or was disabled; "
            "the node runs with less memory.",
            "Shutdown the node and replace the memory module the BMC's log names (OEM field "
            "replacement), then Start and Resume it. The alert closes when the BMC reports the "
            "error cleared and the module enabled again at the next boot." + _HW_SWAP,
            hardware=True,
        ),
        AlertSpec(
            AlertKind.DRIVE_FAILURE,
            "Physical disk failure",
            Severity.CRITICAL,
            "A data disk of {component} has failed; the storage pool runs with less resiliency "
            "until it is replaced.",
            "Replace the disk the BMC's log names (OEM field replacement, hot-plug); a storage "
            "repair job then rebuilds onto it. The alert closes when the BMC reports the drive "
            "fault cleared." + _HW_SWAP,
            hardware=True,
        ),
        AlertSpec(
            AlertKind.BOOT_DRIVE_DEGRADED,
            "Boot drive mirror degraded",
            Severity.WARNING,
            "A boot drive of {component} has failed; the operating system runs on the other one.",
            "Replace the failed boot drive (OEM field replacement) and let the mirror rebuild. "
            "The alert closes when the BMC reports the drive fault cleared." + _HW_SWAP,
            hardware=True,
        ),
        AlertSpec(
            AlertKind.BOOT_DRIVE_FAILED,
            "Boot drives failed",
            Severity.CRITICAL,
            "Every boot drive of {component} has failed: the operating system has lost its boot "
            "volume and the node cannot boot.",
            "Shutdown the node (if that fails, Drain then Stop), replace the boot drives (OEM "
            "field replacement), then Repair it to redeploy its operating system. The alert "
            "closes when the BMC reports a boot drive's fault cleared." + _HW_SWAP,
            hardware=True,
        ),
        AlertSpec(
            AlertKind.PROCESSOR_ERROR,
            "Processor error",
            Severity.CRITICAL,
            "The BMC of {component} reported a processor error or a critical interrupt.",
            "Check the BMC's event log for the processor or interrupt it names; replace the "
            "processor or the motherboard if it recurs (OEM field replacement; a different CPU "
            "model means redeploying). The error is an event: close the alert once it is "
            "handled.",
            hardware=True,
        ),
        AlertSpec(
            AlertKind.OS_CRITICAL_STOP,
            "Operating system critical stop",
            Severity.CRITICAL,
            "The operating system of {component} stopped on a critical error; its virtual "
            "machines restart on other nodes.",
            "Check the BMC's event log for the hardware error before the stop (memory, boot "
            "drives) and remediate it, then Start and Resume the node. The stop is an event: "
            "close the alert once it is handled.",
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

"""The hardware faults a node can suffer, and the parts they name.

A fault is injected on the model (``Node.inject_fault``) and shows on every protocol at once,
because every protocol reads the same model: SEL records with the IPMI sensor type and offset
of IPMI 2.0 table 42-3, sensor readings, Redfish Status/Health of the part and its rollups,
events on the bus, and reachability. The rules (``nodes.node`` implements them):

======================  ===========================================================================
fault (target)          effect
======================  ===========================================================================
psu (PSU name)          the supply fails: Power Supply 08h offset 01h, redundancy lost (0Bh); with
                        both failed no supply delivers: the host drops off, power-on is refused,
                        and the power-restore policy decides when one delivers again
fan (fan name)          0 RPM (lower-critical going low); while the host is on, CPU and exhaust
                        temperatures climb over minutes and their threshold events are logged
                        when each is crossed; cleared: they fall back (deassertions)
dimm (slot)             uncorrectable ECC (Memory 0Ch offset 01h, the DIMM in event data 3); a
                        running OS crashes (OS Critical Stop 20h); every POST until it is cleared
                        maps the DIMM out (0Ch offset 04h, Memory Device Disabled); cleared:
                        the ECC condition deasserts, and the next POST maps the DIMM back in
                        (offset 04h deasserted)
data-disk (slot)        Drive Slot 0Dh offset 01h (drive fault); the drive reads Critical
boot-drive (slot)       one: the boot mirror is degraded; both: the running OS crashes, and POST
                        ends in "no bootable device" (System Firmware Progress 0Fh offset 00h)
nic-port (NIC name)     the NIC has no link whatever its carrier (``LinkChanged`` up=False)
os-hang ("")            the host stays powered, its OS answers nothing (soft-off ignored); a
                        reset or power cycle ends it
bmc-hang ("")           the BMC answers nothing (IPMI, Redfish, traps) until cleared or an AC
                        loss and return; the host runs on
======================  ===========================================================================

Errors: an unknown part is :class:`~nodes.errors.NotFound`, a target where none belongs (or a
missing one) :class:`~nodes.errors.InvalidArgument`, a fault already active (or, on clear, not
active) :class:`~nodes.errors.InvalidState`; nothing changes when one is raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class NodeFault(StrEnum):
    PSU = "psu"  # target: PSU name ("PSU1"): the supply itself fails (not its input)
    FAN = "fan"  # target: fan name ("Fan3")
    DIMM = "dimm"  # target: DIMM slot ("A1"): uncorrectable ECC error, the host crashes
    DATA_DISK = "data-disk"  # target: data disk slot ("Disk.1")
    BOOT_DRIVE = "boot-drive"  # target: boot drive slot
    NIC_PORT = "nic-port"  # target: NIC name
    OS_HANG = "os-hang"  # target: "" (host powered, OS silent)
    BMC_HANG = "bmc-hang"  # target: "" (host runs, BMC silent until cleared or AC cycled)


class PartKind(StrEnum):
    """The replaceable parts of a node (``Node.replace_part``'s ``kind``)."""

    PSU = "psu"
    FAN = "fan"
    DIMM = "dimm"
    DATA_DISK = "data-disk"
    BOOT_DRIVE = "boot-drive"
    NIC = "nic"


@dataclass(frozen=True)
class FaultInfo:
    """What the model says of one fault: the part its target names (None: it takes no target)
    and one line for events and logs."""

    part: PartKind | None
    summary: str


#: Every fault of the model, in one table (a new NodeFault is one row here).
FAULT_INFO: Final[dict[NodeFault, FaultInfo]] = {
    NodeFault.PSU: FaultInfo(PartKind.PSU, "power supply failed"),
    NodeFault.FAN: FaultInfo(PartKind.FAN, "fan failed"),
    NodeFault.DIMM: FaultInfo(PartKind.DIMM, "uncorrectable ECC error"),
    NodeFault.DATA_DISK: FaultInfo(PartKind.DATA_DISK, "drive fault"),
    NodeFault.BOOT_DRIVE: FaultInfo(PartKind.BOOT_DRIVE, "boot drive failed"),
    NodeFault.NIC_PORT: FaultInfo(PartKind.NIC, "network port failed"),
    NodeFault.OS_HANG: FaultInfo(None, "operating system hung"),
    NodeFault.BMC_HANG: FaultInfo(None, "BMC hung"),
}

#: The part each fault's target names (None: the fault takes no target).
PART_OF: Final[dict[NodeFault, PartKind | None]] = {f: i.part for f, i in FAULT_INFO.items()}

#: The fault a replaced part takes away.
FAULT_OF: Final[dict[PartKind, NodeFault]] = {
    part: fault for fault, part in PART_OF.items() if part is not None
}

#: One line per fault for events and logs.
SUMMARY: Final[dict[NodeFault, str]] = {f: i.summary for f, i in FAULT_INFO.items()}

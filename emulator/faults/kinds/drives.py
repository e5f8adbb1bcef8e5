"""Node drives: a data disk, one boot drive, or both boot drives fail."""

from __future__ import annotations

from emulator.faults.kind import ModelFaultKind
from nodes.faults import NodeFault


class DataDisk(ModelFaultKind):
    name = "data-disk"
    scope = "node"
    part = "data-disk"
    fault = NodeFault.DATA_DISK
    summary = (
        "a data disk fails (the first unless named): SEL drive fault, Redfish Drive Critical, "
        "BMC trap; the host runs on"
    )


class BootDriveOne(ModelFaultKind):
    name = "boot-drive-one"
    scope = "node"
    part = "boot-drive"
    fault = NodeFault.BOOT_DRIVE
    summary = (
        "one boot drive fails (the first unless named): SEL drive fault, boot mirror degraded "
        "(Redfish Warning); the host runs on"
    )


class BootDriveBoth(ModelFaultKind):
    name = "boot-drive-both"
    scope = "node"
    fault = NodeFault.BOOT_DRIVE
    every = "boot-drive"
    summary = (
        "both boot drives fail: the OS crashes and POST finds no bootable device; SEL drive "
        "faults and POST error, Redfish boot storage Critical"
    )

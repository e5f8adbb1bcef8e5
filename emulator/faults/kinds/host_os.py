"""The host's operating system hangs."""

from __future__ import annotations

from emulator.faults.kind import ModelFaultKind
from nodes.faults import NodeFault


class OsHang(ModelFaultKind):
    name = "os-hang"
    scope = "node"
    fault = NodeFault.OS_HANG
    summary = (
        "the OS hangs: power stays on, the workload is silent, soft-off is ignored; IPMI and "
        "Redfish still answer; a reset ends it"
    )

"""Node memory: an uncorrectable ECC error on a DIMM."""

from __future__ import annotations

from emulator.faults.kind import ModelFaultKind
from nodes.faults import NodeFault


class DimmUe(ModelFaultKind):
    name = "dimm-ue"
    scope = "node"
    part = "dimm"
    fault = NodeFault.DIMM
    summary = (
        "uncorrectable ECC error: SEL memory record, the OS crashes, POST maps the DIMM out; "
        "Redfish Memory Critical, BMC traps"
    )

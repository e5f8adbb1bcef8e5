"""Node cooling: a fan stops."""

from __future__ import annotations

from emulator.faults.kind import ModelFaultKind
from nodes.faults import NodeFault


class Fan(ModelFaultKind):
    name = "fan"
    scope = "node"
    part = "fan"
    fault = NodeFault.FAN
    summary = (
        "a fan stops (the first unless named): 0 RPM, CPU and exhaust temperatures climb to "
        "warning then critical (SEL, sensors, Redfish, BMC traps)"
    )

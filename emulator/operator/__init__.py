"""The operator's view of the scale unit (Azure Stack Hub's fabric), protocol-free.

``OperatorView(rack)`` watches a :class:`~emulator.rack.Rack` and offers the documented node actions
(drain, resume, stop, shutdown, start, repair, add), enforces the rules (one node out at a time,
one repair at a time, nothing else while an add runs), keeps a workload set, storage jobs and
alerts, and puts every change on the rack's bus as a frozen event. See ``view`` for the rules,
``states`` for the state tables, ``alerts`` for the catalogue and ``baseline`` for the firmware
baseline that Repair needs.
"""

from emulator.errors import BaselineError
from emulator.operator.alerts import ALERT_KINDS, Alert, AlertKind, AlertSpec, Severity
from emulator.operator.baseline import Baseline, Drift
from emulator.operator.records import (
    BMC_NO_ANSWER,
    FabricSettings,
    NodeView,
    StorageJob,
    Verification,
    Workload,
)
from emulator.operator.states import (
    ACCEPTED_FROM,
    Action,
    NodeStatus,
    PowerState,
    ScaleUnitStatus,
    VmState,
)
from emulator.operator.view import OperatorView

__all__ = [
    "ACCEPTED_FROM",
    "ALERT_KINDS",
    "BMC_NO_ANSWER",
    "Action",
    "Alert",
    "AlertKind",
    "AlertSpec",
    "Baseline",
    "BaselineError",
    "Drift",
    "FabricSettings",
    "NodeStatus",
    "NodeView",
    "OperatorView",
    "PowerState",
    "ScaleUnitStatus",
    "Severity",
    "StorageJob",
    "Verification",
    "VmState",
    "Workload",
]

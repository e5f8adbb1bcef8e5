"""Faults: break the rack the way real racks break.

Every kind (:data:`FAULT_KINDS`, the registry; one class per kind under
:mod:`emulator.faults.kinds`) maps onto the models' own commands (``Node.inject_fault``,
``Switch.inject_fault``, ``Rack.pull_cable``, ``Node.set_psu_input``, ``Node.bmc_reset``,
``Switch.reboot``, ``Switch.factory_reset``, a firmware version change, a BMC's factory reset),
so each fault shows on every protocol at once: the models emit the events the protocol adapters
translate (SEL records, Redfish health and events, SNMP traps, reachability).

* :mod:`emulator.faults.kind`: what a kind says (device, parts, check, apply, undo, still
  active, what ends it) and the registry;
* :mod:`emulator.faults.kinds`: the kinds;
* :mod:`emulator.faults.injector`: :class:`FaultInjector`, records, scheduling, retries and
  persistence (its rules are in that module);
* :mod:`emulator.faults.records`: :class:`FaultRecord` and the events on the rack's bus.

Errors (:mod:`emulator.errors`)::

    ScaleunitError
     └── RequestRefused
          └── InvalidRequest
               └── FaultError      bad kind, device, part, version or time; a refusal of the
                    │              model (its message); nothing was changed
                    └── FaultConflict   the fault (or its part) is taken, or already ended
"""

from __future__ import annotations

from emulator.errors import FaultConflict, FaultError
from emulator.faults import kinds as _kinds  # noqa: F401  (registers every kind)
from emulator.faults.injector import FaultInjector
from emulator.faults.kind import FAULT_KINDS, FaultKind
from emulator.faults.kinds.firmware import drift_version
from emulator.faults.records import (
    FaultCleared,
    FaultClearPlanned,
    FaultEvent,
    FaultInjected,
    FaultRecord,
    FaultScheduled,
)

#: The kinds that end by themselves (``clear`` refuses them).
SELF_CLEARING = frozenset(k.name for k in FAULT_KINDS.values() if k.ends_by_itself)

__all__ = [
    "FAULT_KINDS",
    "SELF_CLEARING",
    "FaultClearPlanned",
    "FaultCleared",
    "FaultConflict",
    "FaultError",
    "FaultEvent",
    "FaultInjected",
    "FaultInjector",
    "FaultKind",
    "FaultRecord",
    "FaultScheduled",
    "drift_version",
]

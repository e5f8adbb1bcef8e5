"""What of a rack the state store keeps, and in which order it comes back.

:func:`track_rack` registers, in restore order:

1. each switch (``switch:<name>``: ``Switch.snapshot()/restore()``: configuration, faults);
2. the cabling (``rack:cables``: ``Rack.snapshot()/restore()``: pulled cables);
3. each node (``node:<name>``: ``Node.snapshot()/restore()``: SEL, users, firmware, BIOS, faults;
   ``Node.restore`` ends with the power-restore policy, so the switches and cables it boots into
   are back first);
4. the fault injector (``faults``: its records, scheduled ones re-armed);
5. the operator's fabric (``operator``: node states, alerts, jobs; last, so it sees the restored
   rack). A change the fabric makes at a health tick with no event of its own (a node whose OS
   hung marks its storage stale) is committed with the next event of the rack.

A provider whose object lacks ``snapshot``/``restore`` is not tracked (logged once): the model
keeps working, only that part is not persisted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from emulator.logs import kv
from emulator.state.store import StateStore
from emulator.topology import Topology
from nodes.events import Event

log = logging.getLogger("emulator.state")


class _Snapshottable(Protocol):
    def snapshot(self) -> Any: ...

    def restore(self, data: Any) -> object: ...


def _is_fabric_event(event: Event) -> bool:
    from emulator.operator.events import FabricEvent

    return isinstance(event, FabricEvent)


def _any_event(event: Event) -> bool:
    return True


def _is_fault_event(event: Event) -> bool:
    return type(event).__module__.startswith(("emulator.faults", "emulator.chaos"))


def topology_identity(topology: Topology) -> dict[str, Any]:
    """What makes a rack this rack, for :meth:`StateStore.bind_topology`: its name, its nodes'
    names and serials (as built; a replacement changes the live serial, not this) and its
    switches'."""
    return {
        "rack": topology.name,
        "nodes": {n.name: n.serial for n in topology.nodes},
        "switches": {s.name: s.serial for s in topology.switches},
    }


def _track(
    store: StateStore,
    key: str,
    obj: object,
    touched_by: Callable[[Event], bool] | None = None,
    items: tuple[str, str, str] | None = None,
) -> bool:
    snapshot = getattr(obj, "snapshot", None)
    restore = getattr(obj, "restore", None)
    if not callable(snapshot) or not callable(restore):
        log.warning(
            kv(proto="state", event="state.not-tracked", key=key, reason="no snapshot/restore")
        )
        return False
    store.track(key, snapshot, restore, touched_by=touched_by, items=items)
    return True


def track_rack(
    store: StateStore,
    rack: Any,
    *,
    operator: object | None = None,
    faults: object | None = None,
) -> list[str]:
    """Track every part of ``rack`` (an :class:`emulator.rack.Rack`), and the operator's
    fabric and the fault injector when given; returns the keys tracked."""
    for name, switch in rack.switches.items():

        def switch_touched(event: Event, name: str = name) -> bool:
            return event.device == name and not _is_fabric_event(event)

        _track(store, f"switch:{name}", switch, switch_touched)

    def cables_touched(event: Event) -> bool:
        # Small (a list of pulled cable ends): looked at for every model event, written when
        # it changed.
        return not _is_fabric_event(event)

    _track(store, "rack:cables", rack, cables_touched)
    for name, node in rack.nodes.items():

        def node_touched(event: Event, name: str = name) -> bool:
            return event.device == name and not _is_fabric_event(event)

        # SEL records one row each: an event writes the records it added, not the whole log.
        _track(store, f"node:{name}", node, node_touched, items=("sel", "records", "record_id"))
    if faults is not None:
        # Up to a thousand records ended and those active: one row each.
        _track(store, "faults", faults, _is_fault_event, items=("", "records", "id"))
    if operator is not None:
        # Looked at for every event: the fabric follows the rack (a node that leaves the pool
        # marks its storage stale with no event of its own); 30-110 us for 4-16 nodes, written
        # only when it changed. Alerts, open and closed, pile up over a long run: one row each.
        _track(store, "operator", operator, _any_event, items=("", "alerts", "id"))
    return store.keys

"""How each fault of :mod:`nodes.faults` shows on the model, and the node's record of them.

Rules it keeps:

* One class per fault kind, registered by its :class:`~nodes.faults.NodeFault`: ``fail`` and
  ``mend`` side by side (what the part does when it breaks and when it works again), ``check``
  (why it cannot happen now: InvalidState, nothing changed), ``volatile`` (it does not outlive
  a power loss of the BMC and the host, so a restore drops it) and ``mark`` (the failed state
  put back quietly, from a snapshot).
* :class:`FaultBook` keeps the active faults in the order they were injected. ``inject`` checks
  the fault and its target (NotFound for an unknown fault or part, InvalidArgument for a target
  where none belongs or none where one does, InvalidState if already active), applies the
  effects, then emits ``PartFaultChanged`` (faulted), so whoever hears it finds the node failed
  already. ``end`` undoes the effects and emits ``PartFaultChanged`` (not faulted) with its
  cause: ``cleared`` (the operator), ``replaced``, ``reset``, ``bmc-reset``, ``ac-cycle``,
  ``replacement`` (the whole node).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from nodes import sensors as sn
from nodes.errors import InvalidArgument, InvalidState, NotFound
from nodes.events import Event, EventSink, PartFaultChanged
from nodes.faults import PART_OF, SUMMARY, NodeFault, PartKind
from nodes.host import OS_STATES, PowerEvent
from nodes.power import HostState
from nodes.sel import EventType, SensorType
from nodes.sensors import raw_byte
from nodes.thermal import THRESHOLD_DATA1

if TYPE_CHECKING:
    from nodes.node import Node


class FaultEffect(ABC):
    """What one kind of fault does to a node, and how it is undone."""

    fault: ClassVar[NodeFault]
    #: Whether the fault ends with a power loss of the BMC and the host (a restore drops it).
    volatile: ClassVar[bool] = False

    def check(self, node: Node) -> None:
        """Raise InvalidState if the fault cannot happen now (nothing changes); most faults
        can happen at any time."""
        return None

    @abstractmethod
    def fail(self, node: Node, target: str) -> list[Event]: ...

    @abstractmethod
    def mend(self, node: Node, target: str) -> list[Event]: ...

    def mark(self, node: Node, target: str) -> None:
        """Put the failed state back quietly (its records are in the SEL already)."""
        part = PART_OF[self.fault]
        if part is not None:
            node.parts.failed(part).add(target)


#: The effect of each fault kind.
EFFECTS: dict[NodeFault, FaultEffect] = {}

_E = TypeVar("_E", bound=type[FaultEffect])


def register(cls: _E) -> _E:
    """Register a fault kind's effects (a class decorator)."""
    EFFECTS[cls.fault] = cls()
    return cls


class PartFailure(FaultEffect):
    """A part that fails and is mended: it joins (leaves) its kind's failed set, the BMC logs
    its record asserted (deasserted), then what follows on the host (:meth:`then`)."""

    def fail(self, node: Node, target: str) -> list[Event]:
        node.parts.failed(self.part()).add(target)
        self.record(node, target, asserted=True)
        return self.then(node, target, failed=True)

    def mend(self, node: Node, target: str) -> list[Event]:
        node.parts.failed(self.part()).discard(target)
        self.record(node, target, asserted=False)
        return self.then(node, target, failed=False)

    def part(self) -> PartKind:
        part = PART_OF[self.fault]
        assert part is not None
        return part

    @abstractmethod
    def record(self, node: Node, target: str, *, asserted: bool) -> None:
        """Log the SEL record of the part failing (asserted) or mended (deasserted)."""

    def then(self, node: Node, target: str, *, failed: bool) -> list[Event]:
        """What follows on the host once the part failed or was mended."""
        return []


@register
class PsuFailure(FaultEffect):
    """Power Supply 08h offset 01h; redundancy lost or regained (0Bh); with no supply
    delivering the host drops off and the restore policy decides when one delivers again."""

    fault = NodeFault.PSU

    def fail(self, node: Node, psu: str) -> list[Event]:
        return self._change(node, psu, failed=True)

    def mend(self, node: Node, psu: str) -> list[Event]:
        return self._change(node, psu, failed=False)

    @staticmethod
    def _change(node: Node, psu: str, *, failed: bool) -> list[Event]:
        had_standby = node.bmc_powered()
        had_power = node.has_input_power()
        was_on = node.state is not HostState.OFF
        was_redundant = node.psu_redundant()
        failed_psus = node.parts.failed_psus
        (failed_psus.add if failed else failed_psus.discard)(psu)
        node.sel.log(
            SensorType.POWER_SUPPLY,
            sn.PSU_STATUS_BASE + node.parts.index(PartKind.PSU, psu),
            0x01,
            f"{psu} Power Supply Failure " + ("detected" if failed else "cleared"),
            asserted=failed,
        )
        if node.psu_redundant() != was_redundant:
            node.host.log_redundancy()
        return node.host.supply_changed(had_standby, had_power, was_on, PowerEvent.FAULT)


@register
class FanFailure(PartFailure):
    """0 RPM (lower critical going low); the temperatures climb while the host is on."""

    fault = NodeFault.FAN

    def record(self, node: Node, fan: str, *, asserted: bool) -> None:
        number = sn.FAN_BASE + node.parts.index(PartKind.FAN, fan)
        sensor = node.sensor(number)
        limit = sensor.thresholds.lower_critical or 0.0
        node.sel.log(
            SensorType.FAN,
            number,
            0x02,
            f"{fan} Lower Critical going low: reading 0 RPM"
            if asserted
            else f"{fan} Lower Critical going low deasserted",
            asserted=asserted,
            event_type=EventType.THRESHOLD,
            raw_data1=THRESHOLD_DATA1,
            data2=raw_byte(sensor, 0.0 if asserted else limit + 1),
            data3=raw_byte(sensor, limit),
        )

    def then(self, node: Node, fan: str, *, failed: bool) -> list[Event]:
        node.thermal.retarget(node.clock.now())
        return []


@register
class DimmFailure(PartFailure):
    """Uncorrectable ECC (Memory 0Ch offset 01h): a running OS crashes; POST maps it out.

    Mended, the error condition deasserts (the BMC's trap that clears it); a DIMM left out of
    the map stays out until the next POST, which logs its Memory Device Disabled deasserted."""

    fault = NodeFault.DIMM

    def record(self, node: Node, slot: str, *, asserted: bool) -> None:
        what = "Uncorrectable ECC error" + ("" if asserted else " cleared")
        node.parts.log_dimm(0x01, f"{what}, DIMM {slot}", slot, asserted)

    def then(self, node: Node, slot: str, *, failed: bool) -> list[Event]:
        if failed and node.state in OS_STATES:
            return node.host.os_stops("crash", f"uncorrectable memory error in DIMM {slot}")
        return []


@register
class DataDiskFailure(PartFailure):
    """Drive Slot 0Dh offset 01h (drive fault)."""

    fault = NodeFault.DATA_DISK

    def record(self, node: Node, slot: str, *, asserted: bool) -> None:
        hw = node.spec.hardware
        drives = [d.slot for d in hw.data_disks] + [d.slot for d in hw.boot_drives]
        node.sel.log(
            SensorType.DRIVE_SLOT,
            sn.DRIVE_BASE + drives.index(slot),
            0x01,
            f"{slot} Drive Fault" + ("" if asserted else " cleared"),
            asserted=asserted,
        )


@register
class BootDriveFailure(DataDiskFailure):
    """A drive fault on a boot drive; with both failed the OS booted from disk crashes."""

    fault = NodeFault.BOOT_DRIVE

    def then(self, node: Node, slot: str, *, failed: bool) -> list[Event]:
        if (
            failed
            and node.boot_drives_failed() == len(node.spec.hardware.boot_drives)
            and node.state in OS_STATES
            and node.last_boot_device in ("disk", "")
        ):
            return node.host.os_stops("crash", "the OS lost its boot volume")
        return []


@register
class NicFailure(FaultEffect):
    """The NIC has no link whatever its carrier."""

    fault = NodeFault.NIC_PORT

    def fail(self, node: Node, nic: str) -> list[Event]:
        # It stops transmitting, with or without carrier: a switch port that comes up later
        # must not see a link from a failed NIC.
        driving = node.nic_driving(nic)
        node.parts.failed_nics.add(nic)
        if not driving:
            return []
        return node.parts.link_changed(nic, False)

    def mend(self, node: Node, nic: str) -> list[Event]:
        node.parts.failed_nics.discard(nic)
        if not node.chassis_on:
            return []
        return node.parts.link_changed(nic, True)


@register
class OsHang(FaultEffect):
    """The host stays powered, its OS answers nothing; a reset or power cycle ends it."""

    fault = NodeFault.OS_HANG
    volatile = True

    def check(self, node: Node) -> None:
        if node.state not in OS_STATES:
            raise InvalidState(f"the OS of {node.name} is not running (the host is {node.state})")
        if node.host.os_stopped is not None:
            raise InvalidState(
                f"the OS of {node.name} has already stopped ({node.host.os_stopped})"
            )

    def fail(self, node: Node, target: str) -> list[Event]:
        return node.host.os_stops("hang", "the OS stopped answering")

    def mend(self, node: Node, target: str) -> list[Event]:
        return node.host.os_unhangs()


@register
class BmcHang(FaultEffect):
    """The BMC answers nothing until cleared, reset, or power-cycled; the host runs on."""

    fault = NodeFault.BMC_HANG
    volatile = True

    def fail(self, node: Node, target: str) -> list[Event]:
        return node.bmc_lifecycle.hang()

    def mend(self, node: Node, target: str) -> list[Event]:
        return node.bmc_lifecycle.unhang()


class FaultBook:
    """The faults active on one node, in the order they were injected, and when."""

    def __init__(self, node: Node, emit: EventSink) -> None:
        self._node = node
        self._emit = emit
        self._active: dict[tuple[NodeFault, str], float] = {}

    @property
    def active(self) -> list[tuple[NodeFault, str]]:
        return list(self._active)

    def is_active(self, fault: NodeFault | str, target: str = "") -> bool:
        return (NodeFault(fault), target) in self._active

    def key(self, fault: NodeFault | str, target: str) -> tuple[NodeFault, str]:
        """Check a fault and its target (nothing changes): NotFound for an unknown fault or
        part, InvalidArgument for a target where none belongs or none where one does."""
        parts = self._node.parts
        try:
            kind = NodeFault(fault)
        except ValueError:
            raise NotFound(
                f"no fault {fault!r}: one of {', '.join(f.value for f in NodeFault)}"
            ) from None
        if not isinstance(target, str):
            raise InvalidArgument(f"a fault's target is a part name, not {target!r}")
        part = PART_OF[kind]
        if part is None:
            if target:
                raise InvalidArgument(f"{kind.value} takes no target (got {target!r})")
            return kind, ""
        if not target:
            raise InvalidArgument(f"{kind.value} needs a target: one of {parts.names(part)}")
        if not parts.has(part, target):
            raise NotFound(
                f"{self._node.name} has no {part.value} {target!r}: one of {parts.names(part)}"
            )
        return kind, target

    def inject(self, fault: NodeFault | str, target: str = "") -> list[Event]:
        node = self._node
        key = self.key(fault, target)
        kind, target = key
        if key in self._active:
            raise InvalidState(f"{kind.value} {target} is already failed on {node.name}".strip())
        effect = EFFECTS[kind]
        effect.check(node)
        now = node.clock.now()
        self._active[key] = now
        # The effects first, so whoever hears the event finds the node failed already.
        events = effect.fail(node, target)
        changed = self._changed(kind, target, now, faulted=True)
        return [*events, changed]

    def clear(self, fault: NodeFault | str, target: str = "") -> list[Event]:
        kind, target = self.key(fault, target)
        if (kind, target) not in self._active:
            raise InvalidState(f"{kind.value} {target} is not failed on {self._node.name}".strip())
        return self.end(kind, target, "cleared")

    def end(self, kind: NodeFault, target: str, cause: str) -> list[Event]:
        """End a fault if it is active (nothing happens if not), with ``cause``."""
        if self._active.pop((kind, target), None) is None:
            return []
        events = EFFECTS[kind].mend(self._node, target)
        changed = self._changed(kind, target, self._node.clock.now(), faulted=False, cause=cause)
        return [*events, changed]

    def end_all(self, cause: str) -> list[Event]:
        events: list[Event] = []
        for kind, target in list(self._active):
            events += self.end(kind, target, cause)
        return events

    def _changed(
        self, kind: NodeFault, target: str, at: float, *, faulted: bool, cause: str = ""
    ) -> PartFaultChanged:
        label = f"{target} {SUMMARY[kind]}".strip()
        changed = PartFaultChanged(
            device=self._node.name,
            at=at,
            part_kind=kind.value,
            part=target,
            faulted=faulted,
            summary=label,
            cause=cause,
        )
        self._emit(changed)
        return changed

    def silence(self) -> None:
        """Forget every fault and its effects, with no records (a new node, or a restore)."""
        node = self._node
        self._active.clear()
        node.parts.silence()
        node.host.os_stopped = None
        node.host.os_responsive = True
        node.bmc_lifecycle.hung = False

    # -- persistence ---------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"faults": [[f.value, t, at] for (f, t), at in self._active.items()]}

    def restore(self, data: dict[str, Any]) -> None:
        """Faults come back quietly (their records are in the SEL already); the volatile ones
        end with the power loss a restore stands for."""
        self.silence()
        for fault, target, at in data["faults"]:
            effect = EFFECTS[NodeFault(fault)]
            if effect.volatile:
                continue
            self._active[(effect.fault, str(target))] = float(at)
            effect.mark(self._node, str(target))


__all__ = ["EFFECTS", "FaultBook", "FaultEffect", "register"]

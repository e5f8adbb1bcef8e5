"""A node's replaceable parts: their serial numbers, which have failed, health, replacement.

Rules it keeps:

* Every PSU, fan, DIMM, data disk, boot drive and NIC has a serial number (the spec's, or the
  node's serial and the part's name); a replaced part gets ``<serial>-<name>-R<n>``, ``n``
  counting the node's replacements, and its fault (if any) ends with cause ``replaced``.
* The failed sets are what the faults of :mod:`nodes.part_faults` leave; nothing else fails a
  part. POST leaves failed DIMMs out of the memory map (Memory Device Disabled, 0Ch offset 04h)
  and maps mended ones back in (deasserted); a mapped-out DIMM reads Critical until then.
* A part's own health: Critical while it has failed (a PSU without input: Warning), else OK.
  The system's rollup (:meth:`Parts.hardware_health`): the worst sensor and, over it, Warning
  for lost PSU redundancy, a failed fan or drive, one boot drive of the mirror, a NIC without
  link; Critical for no PSU delivering, a failed or mapped-out DIMM, both boot drives.
* A NIC transmits (its far end sees link) while the host is powered and the port has not
  failed; it has link when, besides, the far end transmits (its carrier, set by the fabric).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from nodes import sensors as sn
from nodes.errors import NotFound
from nodes.events import Event, EventSink, LinkChanged, MemoryMappedOut, PartReplaced
from nodes.faults import FAULT_OF, PartKind
from nodes.sel import SensorType
from nodes.sensors import Health

if TYPE_CHECKING:
    from nodes.node import Node

#: Event data 1 with a sensor-specific extension code in byte 3 (bits 5:4 = 11b).
DATA3_EXTENSION: Final = 0x30


class Parts:
    """One node's parts: serials, failed sets, the memory map, NIC carrier, health."""

    def __init__(self, node: Node, emit: EventSink) -> None:
        self._node = node
        self._emit = emit
        self.failed_psus: set[str] = set()
        self.failed_fans: set[str] = set()
        self.failed_dimms: set[str] = set()
        self.failed_drives: set[str] = set()
        self.failed_nics: set[str] = set()
        #: DIMMs the last POST left out of the memory map.
        self.mapped_out_dimms: tuple[str, ...] = ()
        #: Whether the far end of each NIC's cable transmits (its switch port is up). The
        #: rack's fabric sets it; a node on its own sees carrier on every NIC.
        self.nic_carrier = {nic.name: True for nic in node.spec.nics}
        #: The serial number of each replaceable part, by (kind, name).
        self.serials: dict[tuple[PartKind, str], str] = {}
        self._replacements = 0
        self.new_parts()

    def new_parts(self) -> None:
        """Every part as it came from the factory (serials from the spec, no replacements)."""
        spec, hw = self._node.spec, self._node.spec.hardware
        serial = spec.serial
        serials: dict[tuple[PartKind, str], str] = {}
        for psu in hw.psus:
            serials[(PartKind.PSU, psu.name)] = psu.serial or f"{serial}-{psu.name}"
        for fan in hw.fans:
            serials[(PartKind.FAN, fan.name)] = f"{serial}-{fan.name}"
        for dimm in hw.dimms:
            serials[(PartKind.DIMM, dimm.slot)] = dimm.serial or f"{serial}-{dimm.slot}"
        for disk in hw.data_disks:
            serials[(PartKind.DATA_DISK, disk.slot)] = disk.serial or f"{serial}-{disk.slot}"
        for disk in hw.boot_drives:
            serials[(PartKind.BOOT_DRIVE, disk.slot)] = disk.serial or f"{serial}-{disk.slot}"
        for nic in spec.nics:
            serials[(PartKind.NIC, nic.name)] = f"{serial}-{nic.name}"
        self.serials = serials
        self._replacements = 0

    def serial(self, kind: PartKind | str, name: str) -> str:
        """The serial number of a part (it changes when the part is replaced)."""
        try:
            return self.serials[(PartKind(kind), name)]
        except (KeyError, ValueError):
            raise NotFound(f"{self._node.name} has no {kind} {name!r}") from None

    def names(self, kind: PartKind) -> list[str]:
        """The parts of one kind, in the spec's order."""
        return [name for (k, name) in self.serials if k is kind]

    def index(self, kind: PartKind, name: str) -> int:
        return self.names(kind).index(name)

    def has(self, kind: PartKind, name: str) -> bool:
        return (kind, name) in self.serials

    def failed(self, kind: PartKind) -> set[str]:
        """The failed parts of one kind (data disks and boot drives share a set, by slot)."""
        return {
            PartKind.PSU: self.failed_psus,
            PartKind.FAN: self.failed_fans,
            PartKind.DIMM: self.failed_dimms,
            PartKind.DATA_DISK: self.failed_drives,
            PartKind.BOOT_DRIVE: self.failed_drives,
            PartKind.NIC: self.failed_nics,
        }[kind]

    def silence(self) -> None:
        """Nothing failed, nothing mapped out (no records: a new node, or a restore)."""
        for kind in PartKind:
            self.failed(kind).clear()
        self.mapped_out_dimms = ()

    # -- replacement ---------------------------------------------------------------------------
    def replace(self, kind: PartKind | str, target: str) -> list[Event]:
        """A new part in the slot: a new serial number, and its fault (if any) cleared."""
        node = self._node
        try:
            part = PartKind(kind)
        except ValueError:
            raise NotFound(
                f"no part kind {kind!r}: one of {', '.join(k.value for k in PartKind)}"
            ) from None
        if (part, target) not in self.serials:
            raise NotFound(f"{node.name} has no {part.value} {target!r}: one of {self.names(part)}")
        self._replacements += 1
        serial = f"{node.spec.serial}-{target}-R{self._replacements}"
        self.serials[(part, target)] = serial
        event = PartReplaced(
            device=node.name, at=node.clock.now(), part_kind=part.value, part=target, serial=serial
        )
        self._emit(event)
        events: list[Event] = [event]
        events += node.fault_book.end(FAULT_OF[part], target, "replaced")
        return events

    # -- memory --------------------------------------------------------------------------------
    def map_memory(self) -> list[Event]:
        """POST: failed DIMMs are left out of the memory map, good ones are used."""
        node = self._node
        dimms = self.names(PartKind.DIMM)
        mapped_out = tuple(d for d in dimms if d in self.failed_dimms)
        if mapped_out == self.mapped_out_dimms:
            return []
        for slot in mapped_out:
            if slot not in self.mapped_out_dimms:
                self.log_dimm(0x04, f"Memory Device Disabled, DIMM {slot}", slot, True)
        for slot in self.mapped_out_dimms:
            if slot not in mapped_out and slot in dimms:
                self.log_dimm(0x04, f"Memory Device Enabled, DIMM {slot}", slot, False)
        self.mapped_out_dimms = mapped_out
        event = MemoryMappedOut(device=node.name, at=node.clock.now(), slots=mapped_out)
        self._emit(event)
        return [event]

    def log_dimm(self, offset: int, message: str, slot: str, asserted: bool) -> None:
        """A Memory (0Ch) record about one DIMM (its index in event data 3)."""
        self._node.sel.log(
            SensorType.MEMORY,
            sn.MEMORY_ECC,
            offset,
            message,
            asserted=asserted,
            raw_data1=DATA3_EXTENSION,
            data3=self.index(PartKind.DIMM, slot),
        )

    def memory_gib(self) -> float:
        """The memory the host has, without the DIMMs the last POST left out."""
        dimms = self._node.spec.hardware.dimms
        return float(sum(d.size_gb for d in dimms if d.slot not in self.mapped_out_dimms))

    # -- drives --------------------------------------------------------------------------------
    def boot_drives_failed(self) -> int:
        return sum(1 for d in self._node.spec.hardware.boot_drives if d.slot in self.failed_drives)

    # -- network links -------------------------------------------------------------------------
    def set_nic_carrier(self, nic: str, up: bool) -> None:
        """The far end of ``nic``'s cable started (``up``) or stopped transmitting."""
        if nic not in self.nic_carrier:
            raise NotFound(f"{self._node.name} has no NIC {nic!r}")
        self.nic_carrier[nic] = up

    def nic_driving(self, nic: str) -> bool:
        """Whether ``nic`` transmits into its cable: the host is powered and the port has not
        failed, whatever its carrier."""
        return self._node.chassis_on and nic in self.nic_carrier and nic not in self.failed_nics

    def nic_link_up(self, nic: str) -> bool:
        """Whether ``nic`` has link: it transmits, and it has carrier."""
        node = self._node
        return node.chassis_on and self.nic_carrier.get(nic, False) and nic not in self.failed_nics

    def link_changed(self, nic: str, up: bool) -> list[Event]:
        """Announce that ``nic``'s link went up or down (its port failed or was mended)."""
        link = LinkChanged(device=self._node.name, at=self._node.clock.now(), port=nic, up=up)
        self._emit(link)
        return [link]

    def network_degraded(self) -> bool:
        """The host is powered and at least one of its NICs has no link (lost redundancy)."""
        return self._node.chassis_on and not all(self.nic_link_up(n) for n in self.nic_carrier)

    # -- health --------------------------------------------------------------------------------
    def health(self, kind: PartKind | str, name: str) -> Health:
        """A part's own health: Critical while it has failed (or, for a PSU, has no input:
        Warning), else OK."""
        kind = PartKind(kind)
        self.serial(kind, name)
        if kind is PartKind.PSU:
            if name in self.failed_psus:
                return Health.CRITICAL
            return Health.OK if self._node.psu_input[name] else Health.WARNING
        if name in self.failed(kind) or (kind is PartKind.DIMM and name in self.mapped_out_dimms):
            return Health.CRITICAL
        return Health.OK

    def hardware_health(self) -> Health:
        """The rollup a BMC reports for the system: the worst sensor, and the parts."""
        node = self._node
        worst = node.sensor_health()
        hw = node.spec.hardware
        if not node.has_input_power() or self.failed_dimms or self.mapped_out_dimms:
            return max(worst, Health.CRITICAL)
        if self.boot_drives_failed() == len(hw.boot_drives):
            return max(worst, Health.CRITICAL)
        if (
            not node.psu_redundant()
            or not all(node.psu_input.values())
            or self.failed_fans
            or self.failed_drives
            or self.network_degraded()
            or (self.failed_nics and node.chassis_on)
        ):
            return max(worst, Health.WARNING)
        return worst

    # -- persistence ---------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The parts' share of a node snapshot (keys of ``nodes.persist``'s format)."""
        return {
            "replacements": self._replacements,
            "part_serials": [[k.value, name, s] for (k, name), s in self.serials.items()],
            "mapped_out_dimms": list(self.mapped_out_dimms),
        }

    def restore_serials(self, data: dict[str, Any]) -> None:
        """Put back the serial numbers and the replacement count (unknown parts are ignored)."""
        self._replacements = int(data["replacements"])
        for kind, name, serial in data["part_serials"]:
            key = (PartKind(kind), str(name))
            if key in self.serials:
                self.serials[key] = str(serial)

    def restore_memory_map(self, data: dict[str, Any]) -> None:
        self.mapped_out_dimms = tuple(data["mapped_out_dimms"])


__all__ = ["DATA3_EXTENSION", "Parts"]

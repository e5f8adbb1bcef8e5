"""The fabric: what reaches what, computed in one place from the switches' and cables' state.

Protocol-free and synchronous, like the models it reads. The protocol adapters ask it whether
to answer (IPMI, Redfish, SNMP, the nodes' workload endpoints); the operator view and alerts
can subscribe to its events. Who is looking matters, so the observers are fixed:

* the **management network** (HLH, NMS, trap receivers) sits on the BMC network: attached to the
  BMC switch, or, with ``bmc_attach: tors`` (no BMC switch), carried by both ToRs;
* the **tenant / controller** probing workloads sits beyond the border, behind the ToRs' uplinks.

The rules it keeps:

* **Cables.** A switch port is oper up while both ends transmit (``switches.model``); a node's
  NIC has *carrier* while its switch port transmits (switch up, port admin up), and *link* while
  the host is also powered. A BMC's NIC always transmits (the node model keeps its BMC up without
  AC input, so that it can refuse a power-on; the operator view decides what AC loss means).
* **BMC path.** A BMC's packets get through while the switch its cable leads to (the BMC switch,
  or with ``bmc_attach: tors`` its ToR) is up and that port is oper up. Otherwise they are dropped:
  IPMI is silent, Redfish connections hang until the client gives up. A BMC *answers* while its
  path is up and its firmware is up (not resetting).
* **Data path.** A node's data path runs through every ToR that is up, whose port to that node is
  oper up, and that reaches the border: an uplink of its own oper up, or a peer link oper up to a
  ToR with one. The data path is up while at least one such ToR exists (N-1: one ToR lost leaves
  every node reachable through the other, with its NIC on the lost side down and its health
  Warning); both lost isolate every node. A workload answers while its host runs a responsive OS
  and its data path is up.
* **Switch management.** A switch's SNMP agent answers (and its notifications leave) while the
  switch is up and its management path is up. The BMC switch is on the management network
  itself; a ToR is managed in band over its link to the BMC switch (a BMC-uplink port oper up),
  so a BMC switch loss silences the ToRs' agents too; with no BMC switch, the ToRs are managed
  out of band (a dedicated port, always up while the switch is).

* **Cables.** A pulled cable (``Rack.pull_cable``) is gone from the rack's links: the switch
  port at either end goes oper down, a node's NIC loses carrier, a BMC loses its path.
* **Configuration.** A switch carries traffic as its deployment configuration says (VLANs,
  VLT/MLAG and BGP, its management address and SNMP). After a configuration loss
  (``Switch.factory_reset``, or a replacement switch, until ``Switch.load_config`` puts a backup
  back) the switch has factory defaults: every port enabled and in the default VLAN, so links
  come up and LLDP is learnt, but a **ToR** carries no data (no host VLANs, no VLT, no BGP to the
  border or the peer: it is in no node's data path and the other ToR cannot reach the border
  through it), carries no management VLAN, and (with ``bmc_attach: tors``) no BMC traffic; the
  **BMC switch** still bridges its BMC ports at layer 2 (the HLH and the BMCs share that
  segment, so BMC paths stay up), but its uplinks no longer carry the ToRs' in-band
  management. Either way the switch itself has no management address and no SNMP
  configuration: its agent is silent.

Changes are announced on the rack's bus as :class:`FabricChanged` events, one per device and
kind, when the value differs from the last one announced: :class:`DataPathChanged` (a node's
ToRs and NIC links), :class:`BmcPathChanged` and :class:`ManagementPathChanged`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from nodes.events import Event, LinkChanged, PowerChanged
from nodes.power import HostState
from switches.events import SwitchEvent
from switches.model import Port, PortRole, Switch
from switches.spec import SwitchRole

if TYPE_CHECKING:
    from emulator.rack import Rack

__all__ = [
    "BmcPathChanged",
    "CableChanged",
    "DataPathChanged",
    "FabricChanged",
    "ManagementPathChanged",
    "WireFabric",
]

BMC_PORT = "bmc"


@dataclass(frozen=True, kw_only=True)
class FabricChanged(Event):
    """What a device can reach changed (``device`` is the node or the switch)."""

    _log_name = "fabric.changed"
    up: bool

    @property
    def name(self) -> str:
        return self._log_name


@dataclass(frozen=True, kw_only=True)
class DataPathChanged(FabricChanged):
    """A node's data path: ``via`` the ToRs it runs through now (empty: isolated), and
    ``links`` its NICs that have link (one may lose it while the path stays the same)."""

    _log_name = "fabric.data_path"
    via: tuple[str, ...]
    links: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class BmcPathChanged(FabricChanged):
    """Whether a node's BMC packets get through (its firmware may still be resetting)."""

    _log_name = "fabric.bmc_path"
    switch: str


@dataclass(frozen=True, kw_only=True)
class ManagementPathChanged(FabricChanged):
    """Whether a switch is reachable from the management network (its SNMP agent)."""

    _log_name = "fabric.management_path"


@dataclass(frozen=True, kw_only=True)
class CableChanged(Event):
    """A cable was pulled (``plugged`` False) or plugged back; ``device`` is ``a``'s device."""

    _log_name = "cable.changed"
    a: str
    b: str
    plugged: bool

    @property
    def name(self) -> str:
        return self._log_name


@dataclass(frozen=True)
class _Snapshot:
    data: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]  # node: (via, links)
    bmc: dict[str, bool]
    management: dict[str, bool]


class WireFabric:
    """Reachability over one rack. Built by the rack after cabling; follows its bus."""

    def __init__(self, rack: Rack) -> None:
        self.rack = rack
        self._has_bmc_switch = any(s.spec.role is SwitchRole.BMC for s in rack.switches.values())
        self._sync_carriers()
        self._last = self._snapshot()
        rack.bus.subscribe(self._on_event)

    # -- queries ---------------------------------------------------------------------------------
    def _far_end(self, end: str) -> tuple[Switch, Port] | None:
        """The switch port at the other end of ``end``'s cable ("device:port"), if any."""
        peer = self.rack.links.get(end)
        if peer is None:
            return None
        device, port = peer.split(":", 1)
        switch = self.rack.switches.get(device)
        if switch is None or port not in switch.ports:
            return None
        return switch, switch.ports[port]

    def nic_link_up(self, node: str, nic: str) -> bool:
        """Whether a node's NIC has link: the host is on and its switch port is oper up."""
        far = self._far_end(f"{node}:{nic}")
        return far is not None and far[1].oper_up

    def _links(self, node: str) -> tuple[str, ...]:
        return tuple(
            nic.name for nic in self.rack.nodes[node].spec.nics if self.nic_link_up(node, nic.name)
        )

    def bmc_switch_of(self, node: str) -> str | None:
        far = self._far_end(f"{node}:{BMC_PORT}")
        return far[0].name if far is not None else None

    def bmc_path_up(self, node: str) -> bool:
        """Whether the BMC's packets get through: its switch is up and the port is oper up."""
        far = self._far_end(f"{node}:{BMC_PORT}")
        if far is None:
            return False
        switch, port = far
        # A BMC switch bridges its BMC ports even with factory defaults; a ToR needs its VLANs.
        configured = switch.spec.role is SwitchRole.BMC or switch.provisioned
        return switch.up and port.oper_up and configured

    def bmc_answering(self, node: str) -> bool:
        """Whether the BMC answers on the network: its path is up and its firmware is up."""
        return self.bmc_path_up(node) and self.rack.nodes[node].bmc_answering()

    def _reaches_border(self, tor: Switch) -> bool:
        def has_uplink(s: Switch) -> bool:
            return s.provisioned and any(
                p.role is PortRole.UPLINK and p.oper_up for p in s.ports.values()
            )

        if not tor.provisioned:
            return False
        if has_uplink(tor):
            return True
        for p in tor.ports.values():
            if p.role is PortRole.PEER_LINK and p.oper_up:
                other = self.rack.switches.get(p.peer.split(":", 1)[0])
                if other is not None and other.up and has_uplink(other):
                    return True
        return False

    def data_path(self, node: str) -> tuple[str, ...]:
        """The ToRs a node's traffic runs through now, in cabling order (empty: isolated)."""
        out = []
        for nic in self.rack.nodes[node].spec.nics:
            far = self._far_end(f"{node}:{nic.name}")
            if far is None:
                continue
            tor, port = far
            usable = tor.spec.role is SwitchRole.TOR and tor.up and port.oper_up and tor.provisioned
            if usable and tor.name not in out and self._reaches_border(tor):
                out.append(tor.name)
        return tuple(out)

    def data_path_up(self, node: str) -> bool:
        return bool(self.data_path(node))

    def workload_answering(self, node: str) -> bool:
        """Whether the node's workload answers: a responsive OS and a data path."""
        n = self.rack.nodes[node]
        return n.state is HostState.RUNNING and n.os_responsive and self.data_path_up(node)

    def management_path_up(self, switch: str) -> bool:
        """Whether the management network reaches the switch (see the module's rules)."""
        return self.rack.switches[switch].provisioned and self.cli_path_up(switch)

    def cli_path_up(self, switch: str) -> bool:
        """Whether the management network reaches the switch's SSH CLI: as for SNMP, but a
        switch with factory configuration answers too (OS10 keeps SSH and its management
        port on by default: the way its configuration is restored)."""
        s = self.rack.switches[switch]
        if not s.up:
            return False
        if s.spec.role is SwitchRole.BMC or not self._has_bmc_switch:
            return True
        for p in s.ports.values():
            if p.role is PortRole.BMC_UPLINK and p.oper_up:
                far = self.rack.switches.get(p.peer.split(":", 1)[0])
                if far is not None and far.provisioned:  # it carries the management VLAN
                    return True
        return False

    def agent_answering(self, switch: str) -> bool:
        """Whether the switch's SNMP agent answers: the switch is up and managed."""
        return self.management_path_up(switch)

    # -- following the rack ----------------------------------------------------------------------
    def _sync_carriers(self) -> None:
        """Node NICs' carrier follows their switch ends (whether those transmit)."""
        for name, node in self.rack.nodes.items():
            for nic in node.spec.nics:
                far = self._far_end(f"{name}:{nic.name}")
                node.set_nic_carrier(nic.name, far is not None and far[1].driving)

    def _on_event(self, event: Event) -> None:
        if not isinstance(event, LinkChanged | PowerChanged | SwitchEvent | CableChanged):
            return
        # Carrier first, from the ports as they are now: events arrive nested (a switch going
        # down makes its peers emit before this sees the switch's own event), and whoever
        # hears what is announced next must find the nodes' NICs already right.
        self._sync_carriers()
        self._announce()

    def _snapshot(self) -> _Snapshot:
        return _Snapshot(
            data={n: (self.data_path(n), self._links(n)) for n in self.rack.nodes},
            bmc={n: self.bmc_path_up(n) for n in self.rack.nodes},
            management={s: self.management_path_up(s) for s in self.rack.switches},
        )

    def _announce(self) -> None:
        now = self.rack.clock.now()
        new = self._snapshot()
        old, self._last = self._last, new
        emit = self.rack.bus
        for node, (via, links) in new.data.items():
            if old.data.get(node) != (via, links):
                emit(DataPathChanged(device=node, at=now, up=bool(via), via=via, links=links))
        for node, up in new.bmc.items():
            if old.bmc.get(node) != up:
                switch = self.bmc_switch_of(node) or ""
                emit(BmcPathChanged(device=node, at=now, up=up, switch=switch))
        for name, up in new.management.items():
            if old.management.get(name) != up:
                emit(ManagementPathChanged(device=name, at=now, up=up))

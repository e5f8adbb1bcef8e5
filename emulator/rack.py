"""A whole scale unit as one protocol-free value: nodes, switches, cabling and one event bus.

There is no global rack: build as many as you like (two sites, two tests in one process).
"""

from __future__ import annotations

from emulator.fabric import Fabric
from emulator.topology import Topology
from nodes.clock import Clock
from nodes.events import Event, EventBus, LinkChanged
from nodes.node import Node
from switches.cabling import cable_switches
from switches.events import PortAdminChanged, SwitchStateChanged
from switches.model import Switch


class Rack:
    def __init__(self, topology: Topology, clock: Clock) -> None:
        self.topology = topology
        self.clock = clock
        self.bus = EventBus()
        self.nodes: dict[str, Node] = {}
        for spec in topology.nodes:
            username, password = topology.bmc_credentials(spec)
            self.nodes[spec.name] = Node(
                spec, clock, self.bus, topology.timings, username=username, password=password
            )
        self.switches: dict[str, Switch] = {
            spec.name: Switch(spec, clock, self.bus) for spec in topology.switches
        }
        #: "device:port" -> "device:port", both directions.
        self.links: dict[str, str] = {}
        for cable in topology.cabling:
            self.links[cable.a] = cable.b
            self.links[cable.b] = cable.a
        cable_switches(
            self.switches,
            {spec.name: spec for spec in topology.nodes},
            [(cable.a, cable.b) for cable in topology.cabling],
        )
        self._bring_up_static_links()
        self.bus.subscribe(self._follow_links)
        #: What reaches what (BMCs, data paths, switch management): see emulator.fabric.
        self.fabric = Fabric(self)

    def _bring_up_static_links(self) -> None:
        """Links whose far end is not a host NIC (switch-to-switch, uplinks, BMC ports) are up;
        host NIC links follow host power."""
        for switch in self.switches.values():
            for port in switch.ports.values():
                if not port.peer:
                    continue
                device, far_port = port.peer.split(":", 1)
                host_nic = device in self.nodes and far_port != "bmc"
                if device in self.switches:
                    switch.set_peer_link(port.name, self.switches[device].driving(far_port))
                elif not host_nic:
                    switch.set_peer_link(port.name, True)

    def _follow_links(self, event: Event) -> None:
        if isinstance(event, LinkChanged) and event.device in self.nodes:
            peer = self.links.get(f"{event.device}:{event.port}")
            if peer is None:
                return
            device, port = peer.split(":", 1)
            if device in self.switches:
                self.switches[device].set_peer_link(port, event.up)
        elif isinstance(event, SwitchStateChanged | PortAdminChanged):
            # A switch end started or stopped transmitting: the far switch ends follow.
            switch = self.switches[event.device]
            for end in switch.ports.values():
                far_device, _, far_port = end.peer.partition(":")
                if far_device in self.switches:
                    self.switches[far_device].set_peer_link(far_port, end.driving)

    def nic_link_up(self, node: str, nic: str) -> bool:
        """Whether a node's NIC has link: the host is on and the switch port is up."""
        return self.fabric.nic_link_up(node, nic)

    def bmc_port_up(self, node: str) -> bool:
        """Whether the node's BMC packets get through (the fabric's BMC path)."""
        return self.fabric.bmc_path_up(node)

"""A whole scale unit as one protocol-free value: nodes, switches, cabling and one event bus.

There is no global rack: build as many as you like (two sites, two tests in one process).

Cables can be pulled and plugged back (:meth:`Rack.pull_cable`, :meth:`Rack.plug_cable`): a
pulled cable is gone from :attr:`Rack.links`, so both ends lose link (a switch port goes oper
down, a node's NIC loses carrier, a BMC loses its path: see ``emulator.fabric``); the switch
ports keep what the cabling taught them (role, alias, LLDP neighbour) for when it returns.
"""

from __future__ import annotations

from typing import Any

from emulator.fabric import CableChanged, WireFabric
from emulator.topology import Topology
from nodes.clock import Clock
from nodes.errors import InvalidArgument, InvalidState, NotFound
from nodes.events import Event, EventBus, LinkChanged
from nodes.node import Node
from switches.cabling import BMC_PORT_NAME, cable_switches
from switches.events import SwitchEvent
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
        #: Pulled cables: the end named when pulling -> the other end.
        self._pulled: dict[str, str] = {}
        cable_switches(
            self.switches,
            {spec.name: spec for spec in topology.nodes},
            [(cable.a, cable.b) for cable in topology.cabling],
            {s.name: str(topology.switch_address(s)) for s in topology.switches},
        )
        self._bring_up_static_links()
        self.bus.subscribe(self._follow_links)
        #: What reaches what (BMCs, data paths, switch management): see emulator.fabric.
        self.fabric = WireFabric(self)

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
        elif isinstance(event, SwitchEvent) and event.device in self.switches:
            # A switch end may have started or stopped transmitting (state, admin, a port
            # fault, a new configuration): the far switch ends follow, over cables still in.
            switch = self.switches[event.device]
            for end in switch.ports.values():
                peer = self.links.get(f"{switch.name}:{end.name}")
                if peer is None:
                    continue
                far_device, _, far_port = peer.partition(":")
                if far_device in self.switches:
                    self.switches[far_device].set_peer_link(far_port, end.driving)

    # -- cables ------------------------------------------------------------------------------------
    @property
    def pulled_cables(self) -> list[str]:
        """The pulled cables, each by the end it was pulled by, in the order pulled."""
        return list(self._pulled)

    def _known_end(self, end: str) -> None:
        device, sep, port = end.partition(":")
        if not sep or not device or not port:
            raise InvalidArgument(f"cable end {end!r}: expected device:port (n02:nic1, n02:bmc)")
        if device in self.nodes:
            nics = {n.name for n in self.nodes[device].spec.nics}
            if port not in nics | {BMC_PORT_NAME}:
                allowed = ", ".join(sorted(nics | {BMC_PORT_NAME}))
                raise NotFound(f"{device} has no port {port!r} (one of {allowed})")
        elif device in self.switches:
            if port not in self.switches[device].ports:
                raise NotFound(f"{device} has no port {port!r}")
        elif device not in self.topology.external:
            raise NotFound(f"no device named {device!r}")

    def _pulled_key(self, end: str) -> str | None:
        for key, other in self._pulled.items():
            if end in (key, other):
                return key
        return None

    def pull_cable(self, end: str) -> list[Event]:
        """Pull the cable at ``end`` ("n02:bmc", "n02:nic1", "tor-a:ethernet1/1/49"): both ends
        lose link. NotFound for an unknown device or port, InvalidState for a port with no cable
        or one already pulled; nothing changes when it raises."""
        self._known_end(end)
        if self._pulled_key(end) is not None:
            raise InvalidState(f"the cable at {end} is already pulled")
        other = self.links.get(end)
        if other is None:
            raise InvalidState(f"nothing is cabled at {end}")
        del self.links[end]
        del self.links[other]
        self._pulled[end] = other
        return self._cable_changed(end, other, plugged=False)

    def plug_cable(self, end: str) -> list[Event]:
        """Plug a pulled cable back in (by either of its ends): links come back as they would
        (a host that is off gives its switch port no link). InvalidState if it is not pulled."""
        self._known_end(end)
        key = self._pulled_key(end)
        if key is None:
            raise InvalidState(f"the cable at {end} is not pulled")
        other = self._pulled.pop(key)
        self.links[key] = other
        self.links[other] = key
        return self._cable_changed(key, other, plugged=True)

    def _cable_changed(self, a: str, b: str, *, plugged: bool) -> list[Event]:
        event = CableChanged(
            device=a.split(":", 1)[0], at=self.clock.now(), a=a, b=b, plugged=plugged
        )
        self.bus(event)
        events: list[Event] = [event]
        for here, there in ((a, b), (b, a)):
            device, port = here.split(":", 1)
            switch = self.switches.get(device)
            if switch is None:
                continue
            events += switch.set_peer_link(port, plugged and self._transmits(there))
        return events

    def _transmits(self, end: str) -> bool:
        """Whether the device at ``end`` sends light into its cable."""
        device, port = end.split(":", 1)
        if device in self.switches:
            return self.switches[device].driving(port)
        node = self.nodes.get(device)
        if node is not None and port != BMC_PORT_NAME:
            # A host NIC transmits while the host is powered, unless its port failed.
            return node.nic_driving(port)
        return True  # a BMC, the border

    def snapshot(self) -> dict[str, Any]:
        """What the rack itself holds beyond its devices: the pulled cables (JSON-safe)."""
        return {"pulled_cables": self.pulled_cables}

    def restore(self, data: dict[str, Any]) -> list[Event]:
        """Pull again the cables of a snapshot on a freshly built rack (every cable in). Each
        end is checked first: InvalidArgument and nothing changed if one is bad."""
        try:
            ends = [str(end) for end in data["pulled_cables"]]
            for end in ends:
                self._known_end(end)
                if end not in self.links:
                    raise InvalidState(f"nothing is cabled at {end}")
        except (KeyError, TypeError, NotFound, InvalidState) as exc:
            raise InvalidArgument(f"bad rack snapshot: {exc}") from None
        events: list[Event] = []
        for end in ends:
            if self._pulled_key(end) is None:
                events += self.pull_cable(end)
        return events

    def nic_link_up(self, node: str, nic: str) -> bool:
        """Whether a node's NIC has link: the host is on and the switch port is up."""
        return self.fabric.nic_link_up(node, nic)

    def bmc_port_up(self, node: str) -> bool:
        """Whether the node's BMC packets get through (the fabric's BMC path)."""
        return self.fabric.bmc_path_up(node)

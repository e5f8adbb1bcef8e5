"""What a switch port learns from its cable: the port's role and its LLDP neighbour.

The rack calls :func:`cable_switches` once, with every cable; roles follow PROCEDURES.md (node NIC
ports on both ToRs, the ToR peer links, uplinks to the border, the BMC switch's ports to each
node's BMC and its uplinks to the ToRs), neighbours are what the far end would advertise over LLDP:
a node's NIC its MAC and the node's name, a BMC its MAC, a switch its chassis MAC, port name and
interface description.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from nodes.spec import NodeSpec
from switches.model import Neighbour, PortRole, Switch, mac_of
from switches.netconfig import plan
from switches.spec import SwitchRole

BMC_PORT_NAME = "bmc"


def _role(
    here: Switch,
    far_device: str,
    far_port: str,
    nodes: Mapping[str, NodeSpec],
    switches: Mapping[str, Switch],
) -> PortRole:
    if far_device in nodes:
        return PortRole.BMC_PORT if far_port == BMC_PORT_NAME else PortRole.NODE_NIC
    far = switches.get(far_device)
    if far is None:
        return PortRole.UPLINK
    if SwitchRole.BMC in (here.spec.role, far.spec.role):
        return PortRole.BMC_UPLINK
    return PortRole.PEER_LINK


def _neighbour(
    far_device: str, far_port: str, nodes: Mapping[str, NodeSpec], switches: Mapping[str, Switch]
) -> Neighbour:
    node = nodes.get(far_device)
    if node is not None:
        if far_port == BMC_PORT_NAME:
            return Neighbour(
                chassis_id=node.bmc.mac,
                port_id=node.bmc.mac,
                port_description=f"{node.name} BMC",
                system_name=f"{node.name}-bmc",
                system_description=f"{node.manufacturer} {node.model} BMC",
                port_id_is_mac=True,
            )
        nic = next(n for n in node.nics if n.name == far_port)
        return Neighbour(
            chassis_id=node.nics[0].mac,
            port_id=nic.mac,
            port_description=f"{nic.name} ({nic.model})",
            system_name=node.name,
            system_description=f"{node.manufacturer} {node.model}",
            port_id_is_mac=True,
        )
    switch = switches.get(far_device)
    if switch is not None:
        spec = switch.spec
        return Neighbour(
            chassis_id=switch.chassis_mac,
            port_id=far_port,
            port_description=switch.ports[far_port].alias,
            system_name=spec.name,
            system_description=f"{spec.manufacturer} {spec.model} OS {switch.os_version}",
        )
    return Neighbour(
        chassis_id=mac_of(far_device),
        port_id=far_port,
        port_description=f"to {far_port}",
        system_name=far_device,
        system_description="border router",
    )


def cable_switches(
    switches: Mapping[str, Switch],
    nodes: Mapping[str, NodeSpec],
    cables: Iterable[tuple[str, str]],
    addresses: Mapping[str, str] | None = None,
) -> None:
    """Cable every switch end of ``cables`` ("device:port" pairs): peer, alias, role, neighbour.
    Aliases first, because a switch neighbour's port description is the far port's alias.
    Then each switch's deployment network (``switches.netconfig.plan``), with the switches'
    management ``addresses`` (default: their specs')."""
    ends = [(a, b) for x, y in cables for a, b in ((x, y), (y, x))]
    for end, other in ends:
        device, port = end.split(":", 1)
        if device in switches:
            switches[device].ports[port].alias = other
    for end, other in ends:
        device, port = end.split(":", 1)
        here = switches.get(device)
        if here is None:
            continue
        far_device, far_port = other.split(":", 1)
        here.cable(
            port,
            other,
            role=_role(here, far_device, far_port, nodes, switches),
            neighbour=_neighbour(far_device, far_port, nodes, switches),
            alias=other,
        )
    if addresses is None:
        addresses = {
            n: str(sw.spec.address) for n, sw in switches.items() if sw.spec.address is not None
        }
    index = {f"{n}:{p.name}": p.index for n, sw in switches.items() for p in sw.ports.values()}
    for name, sw in switches.items():
        ports = [(p.index, p.name, p.peer, p.role.value) for p in sw.ports.values()]
        tor = sw.spec.role is SwitchRole.TOR
        sw.set_plan(plan(name, tor, ports, addresses, index), switches)

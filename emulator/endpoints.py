"""Where a rack's endpoints are: computed from the topology, without starting anything."""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass

from emulator.errors import StartupError  # noqa: F401  (re-exported) as StartupError  # noqa: F401  (re-exported),
from emulator.topology import Topology
from nodes.spec import NodeSpec


@dataclass(frozen=True)
class Endpoint:
    device: str
    protocol: str
    address: str
    port: int
    username: str
    password: str
    scheme: str = ""
    #: Anything else a client needs (SNMP: the v3 user names).
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _wanted_port(topology: Topology, spec: NodeSpec) -> tuple[int, bool]:
    """The node's IPMI port and whether the rack's fallback may replace it."""
    if spec.bmc.ipmi_port is not None:
        return spec.bmc.ipmi_port, False
    return topology.bmc_network.ipmi_port, True


def _may_bind(address: str, port: int, kind: int = socket.SOCK_DGRAM) -> bool:
    """Whether this process may bind ``port`` (a port in use still counts as allowed)."""
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((address, port))
        except PermissionError:
            return False
        except OSError:
            return True
    return True


def plan_endpoints(topology: Topology) -> list[Endpoint]:
    """The endpoints ``scaleunit up`` serves for this topology, on this machine."""
    out = []
    fallback = topology.bmc_network.ipmi_fallback_port
    for spec in topology.nodes:
        port, may_fall_back = _wanted_port(topology, spec)
        address = str(spec.bmc.address)
        if may_fall_back and port < 1024 and not _may_bind(address, port):
            port = fallback
        username, password = topology.bmc_credentials(spec)
        out.append(Endpoint(spec.name, "ipmi", address, port, username, password))
    return (
        out
        + plan_redfish(topology)
        + plan_snmp(topology)
        + plan_ssh(topology)
        + plan_workload(topology)
        + plan_control(topology)
    )


def plan_redfish(topology: Topology) -> list[Endpoint]:
    """One Redfish endpoint per node: the rack's port (443) when this process may bind it,
    else the fallback (8443), as for IPMI; ``scheme`` is https unless ``redfish_tls`` is off."""
    net = topology.bmc_network
    scheme = "https" if net.redfish_tls else "http"
    out = []
    for spec in topology.nodes:
        address = str(spec.bmc.address)
        port = net.redfish_port
        if port < 1024 and not _may_bind(address, port, socket.SOCK_STREAM):
            port = net.redfish_fallback_port
        username, password = topology.bmc_credentials(spec)
        out.append(Endpoint(spec.name, "redfish", address, port, username, password, scheme))
    return out


def plan_snmp(topology: Topology) -> list[Endpoint]:
    """One SNMP agent per switch on its management address: the rack's port (161) when this
    process may bind it, else the fallback (1161). ``username`` is the read-only community,
    ``password`` the read-write one ("" when there is none), ``note`` the SNMPv3 users."""
    settings = topology.snmp
    out = []
    for spec in topology.switches:
        address = str(topology.switch_address(spec))
        port = settings.port
        if port < 1024 and not _may_bind(address, port):
            port = settings.fallback_port
        snmp = spec.snmp
        users = ", ".join(f"{u.name} ({u.access.value})" for u in snmp.users)
        out.append(
            Endpoint(
                spec.name,
                "snmp",
                address,
                port,
                snmp.ro_community,
                snmp.rw_community or "",
                note=f"v3 users: {users}" if users else "",
            )
        )
    return out


def plan_ssh(topology: Topology) -> list[Endpoint]:
    """One SSH server (the OS10 CLI) per switch on its management address: the rack's port
    (22) when this process may bind it, else the fallback (2222). ``username``/``password``:
    the switch's first sysadmin user; ``note`` the other users."""
    settings = topology.ssh
    out = []
    for spec in topology.switches:
        address = str(topology.switch_address(spec))
        port = settings.port
        if port < 1024 and not _may_bind(address, port, socket.SOCK_STREAM):
            port = settings.fallback_port
        admin = next(u for u in spec.cli.users if u.role == "sysadmin")
        others = ", ".join(f"{u.name} ({u.role})" for u in spec.cli.users if u is not admin)
        out.append(
            Endpoint(
                spec.name,
                "ssh",
                address,
                port,
                admin.name,
                admin.password,
                note=f"users: {others}; factory switch: admin/admin" if others else "",
            )
        )
    return out


def plan_workload(topology: Topology) -> list[Endpoint]:
    """One workload endpoint per node on its host's data-path address (see emulator.workload):
    TCP, no credentials; it answers while the host runs and its data path is up."""
    port = topology.workload.port
    return [
        Endpoint(
            spec.name,
            "workload",
            str(topology.host_address(spec)),
            port,
            "",
            "",
            "tcp",
            note="connect, read one JSON line (node, host state, ToR paths)",
        )
        for spec in topology.nodes
    ]


def plan_control(topology: Topology) -> list[Endpoint]:
    """The control plane (emulator.control): HTTP with a bearer token, on ``control.address``
    and ``port``. A port that is taken at start is replaced by the fallback (any free port by
    default): ``scaleunit up`` prints the one it serves, and the state directory's control.json
    holds it with the token."""
    settings = topology.control
    if not settings.enabled:
        return []
    return [
        Endpoint(
            "control",
            "control",
            str(settings.address),
            settings.port,
            "",
            "",
            "http",
            note="bearer token: see control.json in the state directory",
        )
    ]

"""Where a rack's endpoints are: computed from the topology, without starting anything."""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass

from emulator.errors import StartupError  # noqa: F401  (re-exported) as StartupError  # noqa: F401  (re-exported),
from emulator.topology import Topology
from nodes.spec import NodeSpec
from switches.spec import AuthProtocol, PrivProtocol

#: net-snmp's names for the USM protocols (``snmpget -a ... -x ...``).
_NET_SNMP_AUTH = {AuthProtocol.SHA256: "SHA-256", AuthProtocol.SHA: "SHA"}
_NET_SNMP_PRIV = {PrivProtocol.AES128: "AES"}


@dataclass(frozen=True)
class SnmpV3User:
    """One SNMPv3 USM user as a client needs it: the keys are passphrases (net-snmp's ``-A``
    and ``-X``), localized by the engine ``engine_id`` names."""

    name: str
    auth_protocol: str
    auth_key: str
    priv_protocol: str
    priv_key: str | None
    access: str

    @property
    def security_level(self) -> str:
        return "authPriv" if self.priv_key is not None else "authNoPriv"

    def net_snmp_args(self) -> list[str]:
        """The net-snmp options for this user (``snmpget`` and friends, ``createUser``)."""
        args = ["-v3", "-l", self.security_level, "-u", self.name]
        args += ["-a", _NET_SNMP_AUTH[AuthProtocol(self.auth_protocol)], "-A", self.auth_key]
        if self.priv_key is not None:
            args += ["-x", _NET_SNMP_PRIV[PrivProtocol(self.priv_protocol)], "-X", self.priv_key]
        return args

    def as_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "security_level": self.security_level,
            "net_snmp_args": self.net_snmp_args(),
        }


@dataclass(frozen=True)
class Endpoint:
    device: str
    protocol: str
    address: str
    port: int
    username: str
    password: str
    scheme: str = ""
    #: Anything else a client needs, in words (SNMP: the v3 user names).
    note: str = ""
    #: SNMP: the agent's v3 users; snmp-trap: the user the BMC sends its traps as.
    v3_users: tuple[SnmpV3User, ...] = ()
    #: SNMP and snmp-trap: the authoritative SnmpEngineID (hex), as built (RFC 3411 format 3).
    engine_id: str = ""
    #: snmp-trap: where the traps go ("ADDRESS:PORT").
    receivers: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """The fields; the SNMPv3 ones only on the rows that have them."""
        out = asdict(self)
        for key in ("v3_users", "engine_id", "receivers"):
            if not out[key]:
                del out[key]
        if self.v3_users:
            out["v3_users"] = [u.as_dict() for u in self.v3_users]
        if self.receivers:
            out["receivers"] = list(self.receivers)
        return out


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
        + plan_bmc_traps(topology)
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
    ``password`` the read-write one ("" when there is none), ``note`` the SNMPv3 user names,
    ``v3_users`` each with its protocols, keys and access, ``engine_id`` the agent's engine as
    built (a replaced switch gets a new one; clients discover it anyway)."""
    from switches.model import mac_of  # the chassis MAC the agent derives its engine ID from

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
                v3_users=tuple(
                    SnmpV3User(
                        u.name,
                        u.auth.value,
                        u.auth_key,
                        u.priv.value,
                        u.priv_key if u.priv is not PrivProtocol.NONE else None,
                        u.access.value,
                    )
                    for u in snmp.users
                ),
                engine_id=_engine_id(mac_of(f"{spec.serial}/{spec.name}")),
            )
        )
    return out


def _engine_id(mac: str) -> str:
    """RFC 3411 SnmpEngineID, MAC format under enterprise 32473 (as the agents and BMCs use)."""
    return "80007ed903" + mac.replace(":", "")


def plan_bmc_traps(topology: Topology) -> list[Endpoint]:
    """The BMCs' SNMPv3 trap senders (``bmc_network.traps``; only when it has receivers): one
    row per BMC, ``protocol`` snmp-trap, from the BMC's address (any UDP port: ``port`` 0), with
    the USM user it sends as, its authoritative ``engine_id`` (snmptrapd's ``createUser -e``)
    and the ``receivers``. ``username`` is the user's name; ``password`` is left empty (the keys
    are in ``v3_users``)."""
    traps = topology.bmc_network.traps
    if not traps.receivers:
        return []
    receivers = tuple(f"{a}:{p}" for a, p in traps.targets())
    out = []
    for spec in topology.nodes:
        name, auth_key, priv_key = topology.bmc_trap_user(spec)
        user = SnmpV3User(
            name,
            traps.auth.value,
            auth_key,
            traps.priv.value,
            priv_key if traps.priv is not PrivProtocol.NONE else None,
            "notify",
        )
        out.append(
            Endpoint(
                spec.name,
                "snmp-trap",
                str(spec.bmc.address),
                0,
                name,
                "",
                "snmpv3",
                note=f"SNMPv3 traps to {', '.join(receivers)}",
                v3_users=(user,),
                engine_id=_engine_id(spec.bmc.mac),
                receivers=receivers,
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

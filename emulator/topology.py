"""The rack's topology: a YAML file loaded into pydantic models.

Every error names the file, the line and the key: unknown keys (``extra="forbid"``), missing
keys, bad values, and the cross-checks a rack needs (4 to 16 nodes, unique names, addresses and
MACs, every node cabled to both ToRs and to the BMC switch). :func:`generate` writes the standard
rack that ``scaleunit topology init`` prints and that ``scaleunit up`` uses by default.
"""

from __future__ import annotations

import difflib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from emulator.errors import TopologyError
from nodes.spec import MAX_BMC_PASSWORD, MAX_BMC_USERNAME, NodeSpec, TimingSpec
from switches.spec import (
    AuthProtocol,
    PrivProtocol,
    SnmpSettings,
    SnmpVersion,
    SshSettings,
    SwitchRole,
    SwitchSpec,
    port_name,
)

MIN_NODES = 4
MAX_NODES = 16
DEFAULT_USERNAME = "admin"
DEFAULT_PASSWORD = "scaleunit-lab1"  # a lab default, printed by `scaleunit endpoints`


class BmcAttach(StrEnum):
    """Where the nodes' BMC ports are cabled: the BMC switch, or (Dell 16G style) the ToRs."""

    SWITCH = "switch"
    TORS = "tors"


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str = Field(DEFAULT_USERNAME, min_length=1, max_length=MAX_BMC_USERNAME)
    password: str = Field(DEFAULT_PASSWORD, min_length=1, max_length=MAX_BMC_PASSWORD)


#: An SNMPv3 USM key (RFC 3414 asks for at least 8 characters): printable, no spaces.
_USM_KEY = r"^[\x21-\x7e]{8,64}$"


class BmcTraps(BaseModel):
    """The BMCs' SNMPv3 hardware traps (see bmc.snmp.traps): each BMC sends, from its own
    address, as its own USM user (by default the BMC's user and password as both keys), with
    authentication and AES privacy, to every receiver ("ADDRESS" or "ADDRESS:PORT", UDP 162
    by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    receivers: list[str] = Field(default_factory=list, max_length=8)
    user: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$")
    auth: AuthProtocol = AuthProtocol.SHA
    auth_key: str | None = None
    priv: PrivProtocol = PrivProtocol.AES128
    priv_key: str | None = None

    @field_validator("auth_key", "priv_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and not re.match(_USM_KEY, value):
            raise ValueError(
                f"an SNMPv3 key is 8 to 64 printable characters without spaces, "
                f"not {len(value)} characters"
            )
        return value

    @field_validator("receivers")
    @classmethod
    def _receivers(cls, value: list[str]) -> list[str]:
        for r in value:
            address, _, port = r.partition(":")
            try:
                IPv4Address(address)
                ok = not port or 1 <= int(port) <= 65535
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"receiver {r!r}: expected ADDRESS or ADDRESS:PORT")
        return value

    def targets(self) -> list[tuple[str, int]]:
        out = []
        for r in self.receivers:
            address, _, port = r.partition(":")
            out.append((address, int(port or 162)))
        return out


class BmcNetwork(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ipmi_port: int = Field(623, ge=1, le=65535)
    ipmi_fallback_port: int = Field(6230, ge=1024, le=65535)
    redfish_port: int = Field(443, ge=1, le=65535, description="used when it may be bound")
    redfish_fallback_port: int = Field(8443, ge=1024, le=65535, description="otherwise")
    redfish_tls: bool = Field(True, description="HTTPS (one self-signed certificate); false: HTTP")
    traps: BmcTraps = BmcTraps()


class WorkloadSettings(BaseModel):
    """The nodes' workload endpoints: a TCP port on each host's data-path address."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: int = Field(7070, ge=1024, le=65535)
    base_address: IPv4Address | None = Field(
        None,
        description="hosts get the addresses after it (.1, .2, ...); default: the /24 two after "
        "the BMC network's (127.0.3.x for BMCs on 127.0.1.x)",
    )


class ControlSettings(BaseModel):
    """The control plane (emulator.control): an HTTP API on its own address, bearer token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    address: IPv4Address = IPv4Address("127.0.0.1")
    port: int = Field(8470, ge=0, le=65535, description="0: any free port")
    fallback_port: int | None = Field(
        0,
        ge=0,
        le=65535,
        description="when `port` is taken or may not be bound: 0 is any free port (`up` prints "
        "it and writes it to the state directory's control.json); null makes it an error",
    )
    spares: list[str] = Field(
        default_factory=list,
        description="nodes in the rack that are not yet in the scale unit (`scaleunit node add`)",
    )


class Cable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    a: str = Field(pattern=r"^[a-z][a-z0-9-]*:[A-Za-z0-9/._-]+$")
    b: str = Field(pattern=r"^[a-z][a-z0-9-]*:[A-Za-z0-9/._-]+$")


class Topology(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("scaleunit", pattern=r"^[a-z][a-z0-9-]{0,40}$")
    credentials: Credentials = Credentials()
    bmc_network: BmcNetwork = BmcNetwork()
    bmc_attach: BmcAttach = BmcAttach.SWITCH
    timings: TimingSpec = TimingSpec()
    nodes: list[NodeSpec]
    switches: list[SwitchSpec]
    external: list[str] = Field(
        default_factory=list, description="devices outside the rack that cables reach (border)"
    )
    cabling: list[Cable]
    snmp: SnmpSettings = SnmpSettings()
    ssh: SshSettings = SshSettings()
    workload: WorkloadSettings = WorkloadSettings()
    control: ControlSettings = ControlSettings()

    def node(self, name: str) -> NodeSpec:
        return next(n for n in self.nodes if n.name == name)

    def switch_by_role(self, role: SwitchRole) -> list[SwitchSpec]:
        return [s for s in self.switches if s.role is role]

    def switch_address(self, switch: SwitchSpec) -> IPv4Address:
        """The switch's management address: its ``address``, else the n-th address of the /24
        after the BMC network's (127.0.2.1, .2, .3 for a BMC network on 127.0.1.0)."""
        if switch.address is not None:
            return switch.address
        first_bmc = int(self.nodes[0].bmc.address) if self.nodes else int(IPv4Address("127.0.1.0"))
        index = next(i for i, s in enumerate(self.switches) if s.name == switch.name)
        return IPv4Address((first_bmc & ~0xFF) + 256 + index + 1)

    def host_address(self, node: NodeSpec) -> IPv4Address:
        """The host's data-path address (its workload endpoint): its ``host_address``, else the
        n-th address after ``workload.base_address``, else of the /24 two after the BMC
        network's (127.0.3.1, .2, ... for a BMC network on 127.0.1.0)."""
        if node.host_address is not None:
            return node.host_address
        index = next(i for i, n in enumerate(self.nodes) if n.name == node.name)
        if self.workload.base_address is not None:
            return self.workload.base_address + index + 1
        first_bmc = int(self.nodes[0].bmc.address)
        return IPv4Address((first_bmc & ~0xFF) + 512 + index + 1)

    def bmc_credentials(self, node: NodeSpec) -> tuple[str, str]:
        return (
            node.bmc.username or self.credentials.username,
            node.bmc.password or self.credentials.password,
        )

    def bmc_trap_user(self, node: NodeSpec) -> tuple[str, str, str]:
        """The SNMPv3 user a BMC sends its traps as: (name, auth key, priv key)."""
        username, password = self.bmc_credentials(node)
        traps = self.bmc_network.traps
        return (
            traps.user or username,
            traps.auth_key or password,
            traps.priv_key or password,
        )


# -- errors ------------------------------------------------------------------------------------
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    loc: Loc
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = _dotted(self.loc)
        return f"{where}: {key}: {self.message}" if key else f"{where}: {self.message}"


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(tree: Any, loc: Loc) -> int | None:
    """The 1-based line of ``loc`` in a ruamel round-trip tree (the deepest part that exists)."""
    node = tree
    line: int | None = None
    for part in loc:
        if isinstance(node, CommentedMap) and isinstance(part, str) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    if line is None and isinstance(tree, CommentedMap | CommentedSeq):
        line = tree.lc.line + 1
    return line


def _allowed_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys allowed where ``loc`` points, for "did you mean" hints."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(part)
        if field is None:
            return []
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _explain(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return f"missing required key '{err['loc'][-1]}'"
    if kind.startswith("literal_error") or kind == "enum":
        return f"{err['msg']} (got {err.get('input')!r})"
    return str(err["msg"]).removeprefix("Value error, ")


# -- loading -----------------------------------------------------------------------------------
def parse_yaml(text: str, file: str = "<topology>") -> Any:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(io.StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        msg = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise TopologyError([Problem(file, line, (), f"YAML syntax: {msg}")]) from None
    except Exception as exc:  # ruamel raises a few unmarked errors on broken input
        raise TopologyError([Problem(file, None, (), f"YAML syntax: {exc}")]) from None


def _to_plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_to_plain(v) for v in node]
    return node


def load_text(text: str, file: str = "<topology>") -> Topology:
    tree = parse_yaml(text, file)
    if not isinstance(tree, CommentedMap):
        raise TopologyError([Problem(file, 1, (), "a topology is a YAML mapping of keys")])
    try:
        topo = Topology.model_validate(_to_plain(tree))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc: Loc = tuple(err["loc"])
            message = _explain(err)
            if err["type"] == "extra_forbidden":
                allowed = _allowed_keys(Topology, loc)
                close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
                message = f"unknown key '{loc[-1]}'" + (
                    f" (did you mean '{close[0]}'?)" if close else ""
                )
                if allowed:
                    message += f"; allowed here: {', '.join(allowed)}"
            problems.append(Problem(file, _line_of(tree, loc), loc, message))
        raise TopologyError(problems) from None
    problems = [Problem(file, _line_of(tree, loc), loc, msg) for loc, msg in check(topo)]
    if problems:
        raise TopologyError(problems)
    return topo


def load(path: str | Path) -> Topology:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise TopologyError([Problem(str(p), None, (), f"cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise TopologyError([Problem(str(p), None, (), "not a UTF-8 text file")]) from None
    return load_text(text, str(p))


# -- cross-checks ------------------------------------------------------------------------------
def check(topo: Topology) -> list[tuple[Loc, str]]:
    """Rules no single field can check. Returns (location, message) pairs, empty when fine."""
    out: list[tuple[Loc, str]] = []
    n = len(topo.nodes)
    if not MIN_NODES <= n <= MAX_NODES:
        out.append((("nodes",), f"a scale unit has {MIN_NODES} to {MAX_NODES} nodes, not {n}"))

    def dupes(values: Iterable[tuple[Loc, object]], what: str) -> None:
        seen: dict[object, Loc] = {}
        for loc, value in values:
            if value in seen:
                out.append((loc, f"{what} {value} is also used at {_dotted(seen[value])}"))
            else:
                seen[value] = loc

    devices: list[tuple[Loc, object]] = [
        (("nodes", i, "name"), nd.name) for i, nd in enumerate(topo.nodes)
    ]
    devices += [(("switches", i, "name"), sw.name) for i, sw in enumerate(topo.switches)]
    devices += [(("external", i), name) for i, name in enumerate(topo.external)]
    dupes(devices, "device name")
    dupes([(("nodes", i, "serial"), nd.serial) for i, nd in enumerate(topo.nodes)], "serial")
    macs: list[tuple[Loc, object]] = []
    for i, nd in enumerate(topo.nodes):
        macs += [(("nodes", i, "nics", j, "mac"), nic.mac) for j, nic in enumerate(nd.nics)]
        macs.append((("nodes", i, "bmc", "mac"), nd.bmc.mac))
        names = [nic.name for nic in nd.nics]
        if "bmc" in names or len(set(names)) != len(names):
            out.append((("nodes", i, "nics"), "NIC names must be unique and not 'bmc'"))
    dupes(macs, "MAC")
    dupes(
        [
            (("nodes", i, "bmc", "address"), (str(nd.bmc.address), nd.bmc.ipmi_port))
            for i, nd in enumerate(topo.nodes)
        ],
        "BMC address and port",
    )
    if topo.nodes:
        dupes(
            [
                (("switches", i, "address"), str(topo.switch_address(sw)))
                for i, sw in enumerate(topo.switches)
            ],
            "switch address",
        )
    if topo.nodes:
        dupes(
            [
                (("nodes", i, "host_address"), str(topo.host_address(nd)))
                for i, nd in enumerate(topo.nodes)
            ],
            "host address",
        )
    traps = topo.bmc_network.traps
    if traps.receivers:
        short = [
            (which, nd.name, len(key))
            for nd in topo.nodes
            for key, which in zip(topo.bmc_trap_user(nd)[1:], ("auth_key", "priv_key"), strict=True)
            if len(key) < 8
        ]
        for which in ("auth_key", "priv_key"):
            first = next(((nd_name, size) for w, nd_name, size in short if w == which), None)
            if first is not None:
                out.append(
                    (
                        ("bmc_network", "traps", which),
                        f"{first[0]}'s BMC password ({first[1]} characters) is too short for an "
                        "SNMPv3 "
                        f"key (at least 8): set bmc_network.traps.{which}",
                    )
                )
    for i, receiver in enumerate(topo.snmp.receivers):
        if receiver.version is SnmpVersion.V3:
            for sw in topo.switches:
                if receiver.user not in {u.name for u in sw.snmp.users}:
                    out.append(
                        (
                            ("snmp", "receivers", i, "user"),
                            f"switch {sw.name} has no SNMPv3 user {receiver.user!r} to send as",
                        )
                    )

    tors = topo.switch_by_role(SwitchRole.TOR)
    bmcs = topo.switch_by_role(SwitchRole.BMC)
    if len(tors) != 2:
        out.append(
            (("switches",), f"a scale unit has two ToR switches (role: tor), not {len(tors)}")
        )
    want_bmc = 1 if topo.bmc_attach is BmcAttach.SWITCH else 0
    if len(bmcs) != want_bmc:
        out.append(
            (
                ("switches",),
                f"bmc_attach: {topo.bmc_attach.value} needs {want_bmc} BMC switch "
                f"(role: bmc), found {len(bmcs)}",
            )
        )
    node_names = {node.name for node in topo.nodes}
    for i, spare in enumerate(topo.control.spares):
        if spare not in node_names:
            out.append((("control", "spares", i), f"no node named {spare!r}"))
    dupes(((("control", "spares", i), s) for i, s in enumerate(topo.control.spares)), "spare node")
    members = len(node_names - set(topo.control.spares))
    if topo.control.spares and members < MIN_NODES:
        out.append(
            (
                ("control", "spares"),
                f"the scale unit keeps at least {MIN_NODES} nodes, not {members}",
            )
        )
    if out:
        return out
    out += _check_cabling(topo)
    return out


def _check_cabling(topo: Topology) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    ports: dict[str, set[str]] = {}
    for nd in topo.nodes:
        ports[nd.name] = {nic.name for nic in nd.nics} | {"bmc"}
    for sw in topo.switches:
        ports[sw.name] = set(sw.port_names())
    used: dict[str, Loc] = {}
    links: dict[str, str] = {}
    for i, cable in enumerate(topo.cabling):
        for end in ("a", "b"):
            loc: Loc = ("cabling", i, end)
            value = getattr(cable, end)
            device, port = value.split(":", 1)
            if device in topo.external:
                continue
            if device not in ports:
                out.append((loc, f"no device named {device!r}"))
                continue
            if port not in ports[device]:
                hint = difflib.get_close_matches(port, sorted(ports[device]), n=1)
                out.append(
                    (
                        loc,
                        f"{device} has no port {port!r}"
                        + (f" (did you mean {hint[0]!r}?)" if hint else ""),
                    )
                )
                continue
            if value in used:
                out.append((loc, f"port {value} is already cabled at {_dotted(used[value])}"))
                continue
            used[value] = loc
        links[cable.a] = cable.b
        links[cable.b] = cable.a
    if out:
        return out
    tors = [s.name for s in topo.switch_by_role(SwitchRole.TOR)]
    bmc_switch = next((s.name for s in topo.switch_by_role(SwitchRole.BMC)), None)
    for i, nd in enumerate(topo.nodes):
        reached = []
        for j, nic in enumerate(nd.nics):
            peer = links.get(f"{nd.name}:{nic.name}")
            if peer is None:
                out.append((("nodes", i, "nics", j), f"{nd.name}:{nic.name} is not cabled"))
                continue
            reached.append(peer.split(":")[0])
        if len(reached) == 2 and sorted(reached) != sorted(tors):
            out.append(
                (
                    ("nodes", i, "nics"),
                    f"{nd.name}'s two NIC ports must go one to each ToR ({' and '.join(tors)}), "
                    f"not to {' and '.join(reached)}",
                )
            )
        peer = links.get(f"{nd.name}:bmc")
        # Without a BMC switch (Dell 16G), odd nodes' BMCs plug into the first ToR, even the second.
        expected = bmc_switch or tors[i % 2]
        if peer is None:
            out.append((("nodes", i, "bmc"), f"{nd.name}:bmc is not cabled (to {expected})"))
        elif peer.split(":")[0] != expected:
            out.append(
                (
                    ("nodes", i, "bmc"),
                    f"{nd.name}:bmc must be cabled to {expected}, not {peer.split(':')[0]}",
                )
            )
    if len(tors) == 2 and not any(
        a.split(":")[0] in tors and b.split(":")[0] in tors and a.split(":")[0] != b.split(":")[0]
        for a, b in links.items()
    ):
        out.append((("cabling",), "the two ToRs need at least one peer link between them"))
    return out


# -- the standard rack -------------------------------------------------------------------------
def _mac(kind: int, node: int, port: int) -> str:
    return f"02:5a:{kind:02x}:00:{node:02x}:{port:02x}"


def generate(
    nodes: int = 4,
    *,
    name: str | None = None,
    base_address: str = "127.0.1.0",
    ipmi_port: int = 623,
    ipmi_fallback_port: int = 6230,
    redfish_port: int = 443,
    redfish_fallback_port: int = 8443,
    redfish_tls: bool = True,
    username: str = DEFAULT_USERNAME,
    password: str = DEFAULT_PASSWORD,
    switch_base_address: str | None = None,
    snmp_port: int = 161,
    snmp_fallback_port: int = 1161,
    snmp_receivers: Sequence[str] = (),
    ssh_port: int = 22,
    ssh_fallback_port: int = 2222,
    host_base_address: str | None = None,
    control_address: str | None = None,
    control_port: int | None = None,
    bmc_trap_receivers: Sequence[str] = (),
) -> str:
    """YAML text of a standard rack of ``nodes`` nodes (the BMC network: gateway .1, HLH .2,
    nodes from .3, as PROCEDURES.md describes; the switches' management addresses .1, .2, .3 of
    ``switch_base_address``, by default the /24 after the BMC network's). ``snmp_receivers`` are
    YAML flow mappings, e.g. ``{address: 127.0.0.1, port: 16200, version: v2c}``; the hosts'
    data-path addresses follow ``host_base_address``, by default the /24 two after the BMC
    network's. ``control_address``/``control_port`` place the control plane (default
    127.0.0.1:8470); like ``workload``, the section is written only when asked for."""
    if not MIN_NODES <= nodes <= MAX_NODES:
        raise ValueError(f"a scale unit has {MIN_NODES} to {MAX_NODES} nodes, not {nodes}")
    base = IPv4Address(base_address)
    gateway = base + 1
    rack = name or f"scaleunit-{nodes}"
    lines = [
        f"# A {nodes}-node scale unit: {nodes} servers, two ToR switches, one BMC switch.",
        "# Made by `scaleunit topology init`; edit it, then `scaleunit topology validate FILE`.",
        f"name: {rack}",
        "credentials:            # the rack's BMC credentials (the same on every BMC, <= 16 chars)",
        f"  username: {username}",
        f"  password: {password}",
        "bmc_network:",
        f"  ipmi_port: {ipmi_port}          # used when the process may bind it",
        f"  ipmi_fallback_port: {ipmi_fallback_port}  # otherwise",
    ]
    # Redfish: HTTPS on 443 when the process may bind it, else 8443. Written only when not the
    # default, so that the standard file (and the line numbers its users quote) stays the same.
    if redfish_port != 443:
        lines.append(f"  redfish_port: {redfish_port}")
    if redfish_fallback_port != 8443:
        lines.append(f"  redfish_fallback_port: {redfish_fallback_port}")
    if not redfish_tls:
        lines.append("  redfish_tls: false      # plain HTTP")
    if bmc_trap_receivers:  # written only when asked for, like the Redfish ports
        receivers = ", ".join(f"'{r}'" for r in bmc_trap_receivers)
        lines.append(
            f"  traps: {{receivers: [{receivers}]}}  # SNMPv3 hardware traps (BMC user, SHA, AES)"
        )
    lines += [
        "bmc_attach: switch     # or 'tors': odd nodes' BMCs on tor-a, even on tor-b",
        "timings:               # emulated seconds; `scaleunit up --speed X` runs X times faster",
        "  power_on_s: 1.0",
        "  post_s: 45.0",
        "  os_boot_s: 60.0",
        "  os_shutdown_s: 20.0",
        "  graceful_timeout_s: 300.0",
        "  bmc_cold_reset_s: 30.0",
        "  bmc_warm_reset_s: 10.0",
        "nodes:",
    ]
    for i in range(1, nodes + 1):
        nid = f"n{i:02d}"
        lines += [
            f"  - name: {nid}",
            "    manufacturer: Contoso",
            "    model: CS-2400",
            f"    serial: CS{rack.upper().replace('-', '')[:6]}{i:03d}",
            "    power_restore_policy: always-off",
        ]
        if i == 1:
            lines += [
                "    hardware: &hardware",
                "      cpu: {model: 'Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz', count: 2, "
                "cores: 20, threads: 40, speed_mhz: 2500}",
                "      dimms: ["
                + ", ".join(f"{{slot: {b}{s}, size_gb: 32}}" for b in "AB" for s in range(1, 7))
                + "]",
                "      data_disks: ["
                + ", ".join(
                    f"{{slot: Disk.{d}, model: SAMSUNG MZ7LH960HAJR, capacity_gb: 960}}"
                    for d in range(1, 5)
                )
                + "]",
                "      boot_drives: [{slot: BOSS.1, model: MTFDDAV240TDU, capacity_gb: 240}, "
                "{slot: BOSS.2, model: MTFDDAV240TDU, capacity_gb: 240}]",
                "      psus: [{name: PSU1, capacity_w: 750}, {name: PSU2, capacity_w: 750}]",
                "      fans: [" + ", ".join(f"{{name: Fan{f}}}" for f in range(1, 7)) + "]",
                "    firmware: &baseline {bios: 2.27.0, bmc: 7.00.00.184, nic: 14.32.21.04, "
                "disk: 16.17.01.00, cpld: 1.1.4, boot_drive: 2.5.13.3024}",
            ]
        else:
            lines += ["    hardware: *hardware", "    firmware: *baseline"]
        lines += [
            "    nics:",
            f"      - {{name: nic1, mac: '{_mac(1, i, 1)}', speed_gbps: 25}}",
            f"      - {{name: nic2, mac: '{_mac(1, i, 2)}', speed_gbps: 25}}",
            "    bmc:",
            f"      address: {base + 2 + i}",
            f"      gateway: {gateway}",
            f"      mac: '{_mac(2, i, 0)}'",
        ]
    lines += [
        "switches:",
    ]
    switch_base = IPv4Address(switch_base_address) if switch_base_address else base + 256
    for k, (sw, role, model, serial, ports, speed) in enumerate(
        (
            ("tor-a", "tor", "S5248F-ON", "TORA0001", 56, 25),
            ("tor-b", "tor", "S5248F-ON", "TORB0001", 56, 25),
            ("bmc-switch", "bmc", "N3248TE-ON", "BMCS0001", 52, 1),
        ),
        start=1,
    ):
        lines += [
            f"  - name: {sw}",
            f"    role: {role}",
            f"    model: {model}",
            f"    serial: {serial}",
            "    os_version: 10.6.1.1",
            f"    ports: {ports}",
        ]
        if speed != 25:
            lines.append(f"    port_speed_gbps: {speed}")
        lines += [
            f"    address: {switch_base + k}  # management address (SNMP)",
            "    snmp:                 # per switch, never shared",
            "      ro_community: public",
            "      rw_community: private",
            "      users:              # SNMPv3 USM: SHA-256 or SHA, with AES-128",
            f"        - {{name: ops, auth: sha256, auth_key: {sw}-ops-auth, priv: aes128, "
            f"priv_key: {sw}-ops-priv, access: rw}}",
            f"        - {{name: monitor, auth: sha, auth_key: {sw}-mon-auth, priv: aes128, "
            f"priv_key: {sw}-mon-priv, access: ro}}",
            "    cli:                  # SSH users (a factory switch has admin/admin)",
            "      users:",
            f"        - {{name: admin, password: {sw}-Admin-1, role: sysadmin}}",
            f"        - {{name: monitor, password: {sw}-Monitor-1, role: netoperator}}",
        ]
    lines += [
        "external: [border-1, border-2]",
        "cabling:",
    ]
    for i in range(1, nodes + 1):
        nid = f"n{i:02d}"
        lines += [
            f"  - {{a: '{nid}:nic1', b: 'tor-a:{port_name(i)}'}}",
            f"  - {{a: '{nid}:nic2', b: 'tor-b:{port_name(i)}'}}",
            f"  - {{a: '{nid}:bmc', b: 'bmc-switch:{port_name(i)}'}}",
        ]
    lines += [
        "  # ToR peer links (MLAG/VLT, iBGP between the ToRs)",
        f"  - {{a: 'tor-a:{port_name(49)}', b: 'tor-b:{port_name(49)}'}}",
        f"  - {{a: 'tor-a:{port_name(50)}', b: 'tor-b:{port_name(50)}'}}",
        "  # uplinks to the border (BGP, one link up is enough)",
        f"  - {{a: 'tor-a:{port_name(51)}', b: 'border-1:eth1'}}",
        f"  - {{a: 'tor-a:{port_name(52)}', b: 'border-2:eth1'}}",
        f"  - {{a: 'tor-b:{port_name(51)}', b: 'border-1:eth2'}}",
        f"  - {{a: 'tor-b:{port_name(52)}', b: 'border-2:eth2'}}",
        "  # the BMC switch's uplinks, one to each ToR",
        f"  - {{a: 'bmc-switch:{port_name(51)}', b: 'tor-a:{port_name(53)}'}}",
        f"  - {{a: 'bmc-switch:{port_name(52)}', b: 'tor-b:{port_name(53)}'}}",
    ]
    lines += [
        f"snmp:                  # the switches' agents: UDP {snmp_port} when the process may "
        f"bind it, else {snmp_fallback_port}",
        f"  port: {snmp_port}",
        f"  fallback_port: {snmp_fallback_port}",
    ]
    if snmp_receivers:
        lines += ["  receivers:"] + [f"    - {r}" for r in snmp_receivers]
    else:
        lines += [
            "  receivers: []        # traps and informs, e.g. "
            "- {address: 127.0.0.1, port: 162, version: v2c, community: public}"
        ]
    lines += [
        f"ssh:                   # the switches' CLI: TCP {ssh_port} when the process may bind "
        f"it, else {ssh_fallback_port}",
        f"  port: {ssh_port}",
        f"  fallback_port: {ssh_fallback_port}",
    ]
    # Written only when asked for, so that the standard file stays the same.
    if host_base_address is not None:
        lines += [
            "workload:              # each node's workload endpoint (TCP) on its data-path address",
            f"  base_address: {host_base_address}  # hosts get .1, .2, ... after it",
        ]
    if control_address is not None or control_port is not None:
        lines += ["control:               # the control plane's HTTP API (bearer token)"]
        if control_address is not None:
            lines.append(f"  address: {control_address}")
        if control_port is not None:
            lines.append(f"  port: {control_port}          # 0: any free port")
    return "\n".join(lines) + "\n"


def default(nodes: int = 4) -> Topology:
    """The built-in rack used when no topology file is given."""
    return load_text(generate(nodes), "<built-in default>")

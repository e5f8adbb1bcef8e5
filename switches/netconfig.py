"""A switch's network configuration: management address, VLANs, VLT and BGP, OS10 style.

:class:`Net` is that part of a :class:`~switches.model.SwitchConfig`; :func:`plan` derives the
deployment one from the switch's spec, its cabling and the rack's management addresses (ASNs
and /30 link addresses follow from the topology, the same every time); :class:`NetBuilder`
reads the lines back (a backup, or ``configure terminal`` line by line) and :func:`render`
writes them. A configuration *mode* is the path of block lines entered, e.g.
``("router bgp 64801", "neighbor 100.71.49.2")``. Nothing here knows about SSH.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

#: The host (data) VLAN on the ToRs and the BMC VLAN, as the deployment configuration has them.
HOST_VLAN = 100
BMC_VLAN = 200
#: The ToRs' iBGP AS; a border router's AS is 64900 + a hash of its name (see ``border_as``).
TOR_AS = 64801
MGMT_PORT = "mgmt1/1/1"
MGMT_PREFIX = 24

Mode = tuple[str, ...]


@dataclass(frozen=True)
class Vlan:
    vid: int
    description: str = ""
    enabled: bool = True


@dataclass(frozen=True)
class Neighbor:
    address: str
    remote_as: int | None = None
    enabled: bool = False  # OS10: a neighbor is shut until ``no shutdown``


@dataclass(frozen=True)
class Bgp:
    asn: int
    router_id: str | None = None
    neighbors: tuple[Neighbor, ...] = ()

    def neighbor(self, address: str) -> Neighbor | None:
        return next((n for n in self.neighbors if n.address == address), None)


@dataclass(frozen=True)
class Vlt:
    domain: int
    discovery: tuple[str, ...] = ()  # port names
    backup: str | None = None
    mac: str | None = None


@dataclass(frozen=True)
class Net:
    """The network part of one configuration; the factory one is empty."""

    mgmt: str | None = None  # "A/prefix"
    mgmt_up: bool = False
    vlans: tuple[Vlan, ...] = ()
    access: tuple[tuple[str, int], ...] = ()  # (port, VLAN): ``switchport access vlan``
    vlt: Vlt | None = None
    bgp: Bgp | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "mgmt": self.mgmt,
            "mgmt_up": self.mgmt_up,
            "vlans": [[v.vid, v.description, v.enabled] for v in self.vlans],
            "access": [[p, v] for p, v in self.access],
            "vlt": None
            if self.vlt is None
            else [self.vlt.domain, list(self.vlt.discovery), self.vlt.backup, self.vlt.mac],
            "bgp": None
            if self.bgp is None
            else [
                self.bgp.asn,
                self.bgp.router_id,
                [[n.address, n.remote_as, n.enabled] for n in self.bgp.neighbors],
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Net:
        """Raises KeyError/TypeError/ValueError for a bad record (the caller names it)."""
        vlt, bgp = data["vlt"], data["bgp"]
        mgmt = data["mgmt"]
        return cls(
            None if mgmt is None else str(IPv4Interface(str(mgmt))),
            bool(data["mgmt_up"]),
            tuple(Vlan(int(v), str(d), bool(e)) for v, d, e in data["vlans"]),
            tuple((str(p), int(v)) for p, v in data["access"]),
            None
            if vlt is None
            else Vlt(
                int(vlt[0]),
                tuple(str(p) for p in vlt[1]),
                None if vlt[2] is None else str(IPv4Address(vlt[2])),
                None if vlt[3] is None else str(vlt[3]),
            ),
            None
            if bgp is None
            else Bgp(
                int(bgp[0]),
                None if bgp[1] is None else str(IPv4Address(bgp[1])),
                tuple(
                    Neighbor(str(IPv4Address(a)), None if r is None else int(r), bool(e))
                    for a, r, e in bgp[2]
                ),
            ),
        )


#: A configuration with no network part (the factory's). Immutable.
NO_NET = Net()


# -- the deployment plan -------------------------------------------------------------------------
@dataclass(frozen=True)
class Link:
    """A BGP session's link as planned: the local port, the far device and its address/AS."""

    port: str
    device: str
    local: str
    remote: str
    remote_as: int


@dataclass(frozen=True)
class Plan:
    net: Net
    links: tuple[Link, ...] = ()

    def link(self, address: str) -> Link | None:
        return next((k for k in self.links if k.remote == address), None)


def border_as(device: str) -> int:
    return 64900 + zlib.crc32(device.encode()) % 100


def vlt_mac(a: str, b: str) -> str:
    digest = hashlib.sha256("vlt/{}/{}".format(*sorted((a, b))).encode()).digest()
    return "02:5a:0f:" + ":".join(f"{x:02x}" for x in digest[:3])


def plan(
    name: str,
    tor: bool,
    ports: Iterable[tuple[int, str, str, str]],
    addresses: Mapping[str, str],
    port_index: Mapping[str, int],
) -> Plan:
    """The deployment network of switch ``name`` (a ToR when ``tor``): ``ports`` are (index,
    name, far "device:port", role) of its cabled ports, ``addresses`` the switches' management
    addresses, ``port_index`` a far "device:port"'s front-panel index (for the /30s)."""
    ports = [p for p in ports if p[2]]
    roles = {role for _, _, _, role in ports}
    access: list[tuple[str, int]] = []
    vlans: list[Vlan] = []
    if tor:
        vlans.append(Vlan(HOST_VLAN, "hosts"))
    if not tor or roles & {"bmc-port", "bmc-uplink"}:
        vlans.append(Vlan(BMC_VLAN, "bmc"))
    for _, port, _, role in ports:
        if role == "node-nic" and tor:
            access.append((port, HOST_VLAN))
        elif role in ("bmc-port", "bmc-uplink"):
            access.append((port, BMC_VLAN))
    mgmt = addresses.get(name)
    net = Net(
        None if mgmt is None else f"{mgmt}/{MGMT_PREFIX}",
        mgmt is not None,
        tuple(vlans),
        tuple(sorted(access, key=lambda a: _port_key(a[0]))),
    )
    if not tor:
        return Plan(net)
    links: list[Link] = []
    peer_ports = [port for _, port, _, role in ports if role == "peer-link"]
    peer_device = next((far.split(":")[0] for _, _, far, r in ports if r == "peer-link"), "")
    side = 72 + (1 if peer_device and name > peer_device else 0)
    for index, port, far, role in ports:
        device = far.split(":", 1)[0]
        if role == "peer-link":
            lower = name < device
            base = index if lower else port_index.get(far, index)
            net30 = f"100.71.{base % 256}"
            here, there = (f"{net30}.1", f"{net30}.2") if lower else (f"{net30}.2", f"{net30}.1")
            links.append(Link(port, device, here, there, TOR_AS))
        elif role == "uplink":
            up30 = f"100.{side}.{index % 256}"
            links.append(Link(port, device, f"{up30}.2", f"{up30}.1", border_as(device)))
    if peer_ports:
        net = replace(
            net,
            vlt=Vlt(1, tuple(peer_ports), addresses.get(peer_device), vlt_mac(name, peer_device)),
        )
    if links:
        router_id = mgmt or f"10.255.{zlib.crc32(name.encode()) % 250}.1"
        neighbors = tuple(Neighbor(k.remote, k.remote_as, True) for k in links)
        net = replace(net, bgp=Bgp(TOR_AS, router_id, neighbors))
    return Plan(net, tuple(links))


def _port_key(port: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", port))


# -- text ----------------------------------------------------------------------------------------
def render_top(net: Net) -> list[str]:
    """The blocks before the front-panel interfaces: management, VLANs."""
    lines: list[str] = []
    if net.mgmt is not None:
        lines += [
            "!",
            f"interface {MGMT_PORT}",
            f" ip address {net.mgmt}",
            " no shutdown" if net.mgmt_up else " shutdown",
        ]
    for v in net.vlans:
        lines += ["!", f"interface vlan{v.vid}"]
        lines.append(f" description {v.description}" if v.description else " no description")
        lines.append(" no shutdown" if v.enabled else " shutdown")
    return lines


def render_port(net: Net, port: str) -> list[str]:
    vid = dict(net.access).get(port)
    return [] if vid is None else [f" switchport access vlan {vid}"]


def render_bottom(net: Net) -> list[str]:
    """The blocks after the interfaces: VLT, BGP."""
    lines: list[str] = []
    if net.vlt is not None:
        vlt = net.vlt
        lines += ["!", f"vlt-domain {vlt.domain}"]
        if vlt.backup is not None:
            lines.append(f" backup destination {vlt.backup}")
        if vlt.discovery:
            first, *rest = vlt.discovery
            lines.append(
                " discovery-interface "
                + ",".join([first, *(p.removeprefix("ethernet") for p in rest)])
            )
        if vlt.mac is not None:
            lines.append(f" vlt-mac {vlt.mac}")
    if net.bgp is not None:
        bgp = net.bgp
        lines += ["!", f"router bgp {bgp.asn}"]
        if bgp.router_id is not None:
            lines.append(f" router-id {bgp.router_id}")
        for n in bgp.neighbors:
            lines += [" !", f" neighbor {n.address}"]
            if n.remote_as is not None:
                lines.append(f"  remote-as {n.remote_as}")
            lines.append("  no shutdown" if n.enabled else "  shutdown")
    return lines


_IP = r"(\d{1,3}(?:\.\d{1,3}){3})"
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class Refused(Exception):
    """A line this grammar knows but refuses; the caller names the line."""


def _ip(text: str) -> str:
    try:
        return str(IPv4Address(text))
    except ValueError:
        raise Refused(f"bad IPv4 address {text!r}") from None


def _asn(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 4294967295:
        raise Refused(f"bad AS number {text!r} (1-4294967295)")
    return int(text)


def _vid(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 4093:
        raise Refused(f"bad VLAN id {text!r} (1-4093)")
    return int(text)


@dataclass
class NetBuilder:
    """Mutable reader of :class:`Net` lines; ``ports`` are the switch's port names."""

    ports: frozenset[str]
    mgmt: str | None = None
    mgmt_up: bool = False
    vlans: dict[int, Vlan] = field(default_factory=dict)
    access: dict[str, int] = field(default_factory=dict)
    vlt: Vlt | None = None
    bgp: Bgp | None = None

    @classmethod
    def of(cls, net: Net, ports: Iterable[str]) -> NetBuilder:
        return cls(
            frozenset(ports),
            net.mgmt,
            net.mgmt_up,
            {v.vid: v for v in net.vlans},
            dict(net.access),
            net.vlt,
            net.bgp,
        )

    def result(self) -> Net:
        return Net(
            self.mgmt,
            self.mgmt_up,
            tuple(self.vlans[v] for v in sorted(self.vlans)),
            tuple(sorted(self.access.items(), key=lambda a: _port_key(a[0]))),
            self.vlt,
            self.bgp,
        )

    # -- top level: returns the mode entered, or None when the line is not one of these ---------
    def top(self, line: str) -> Mode | None:
        if m := re.match(r"^interface (?:vlan ?(\S+))$", line):
            vid = _vid(m.group(1))
            self.vlans.setdefault(vid, Vlan(vid))
            return (f"interface vlan{vid}",)
        if m := re.match(r"^no interface vlan ?(\S+)$", line):
            vid = _vid(m.group(1))
            if vid not in self.vlans:
                raise Refused(f"no VLAN {vid}")
            if vid in self.access.values():
                raise Refused(f"VLAN {vid} has access ports")
            del self.vlans[vid]
            return ()
        if line in (f"interface {MGMT_PORT}", "interface mgmt 1/1/1"):
            return (f"interface {MGMT_PORT}",)
        if m := re.match(r"^vlt-domain (\S+)$", line):
            domain = m.group(1)
            if not domain.isdigit() or not 1 <= int(domain) <= 255:
                raise Refused("the VLT domain is 1-255")
            if self.vlt is not None and self.vlt.domain != int(domain):
                raise Refused(f"VLT domain {self.vlt.domain} is configured")
            self.vlt = self.vlt or Vlt(int(domain))
            return (f"vlt-domain {domain}",)
        if m := re.match(r"^no vlt-domain (\S+)$", line):
            if self.vlt is None or str(self.vlt.domain) != m.group(1):
                raise Refused(f"no VLT domain {m.group(1)}")
            self.vlt = None
            return ()
        if m := re.match(r"^router bgp (\S+)$", line):
            asn = _asn(m.group(1))
            if self.bgp is not None and self.bgp.asn != asn:
                raise Refused(f"BGP is already running with AS {self.bgp.asn}")
            self.bgp = self.bgp or Bgp(asn)
            return (f"router bgp {asn}",)
        if m := re.match(r"^no router bgp(?: (\S+))?$", line):
            if self.bgp is None:
                raise Refused("BGP is not configured")
            self.bgp = None
            return ()
        return None

    def sub(self, mode: Mode, command: str) -> Mode | None:
        """A command inside ``mode`` (its innermost block): the mode it leaves (``neighbor A``
        enters one), or None when the block does not know it."""
        head = mode[-1]
        if head == f"interface {MGMT_PORT}":
            return self._mgmt(mode, command)
        if m := re.match(r"^interface vlan(\d+)$", head):
            return self._vlan(mode, int(m.group(1)), command)
        if head.startswith("interface ethernet"):
            return self._port(mode, head.split()[1], command)
        if head.startswith("vlt-domain "):
            return self._vlt(mode, command)
        if head.startswith("router bgp "):
            return self._bgp(mode, command)
        if head.startswith("neighbor "):
            return self._neighbor(mode, head.split()[1], command)
        return None

    def _mgmt(self, mode: Mode, command: str) -> Mode | None:
        if m := re.match(r"^ip address (\S+)$", command):
            try:
                iface = IPv4Interface(m.group(1))
            except ValueError:
                raise Refused(f"bad address {m.group(1)!r} (A.B.C.D/prefix)") from None
            if "/" not in m.group(1):
                raise Refused("the address needs its prefix length (A.B.C.D/prefix)")
            self.mgmt = str(iface)
        elif command == "no ip address":
            self.mgmt = None
        elif command in ("shutdown", "no shutdown"):
            self.mgmt_up = command == "no shutdown"
        else:
            return None
        return mode

    def _vlan(self, mode: Mode, vid: int, command: str) -> Mode | None:
        vlan = self.vlans[vid]
        if m := re.match(r"^description (\S.*)$", command):
            vlan = replace(vlan, description=m.group(1))
        elif command == "no description":
            vlan = replace(vlan, description="")
        elif command in ("shutdown", "no shutdown"):
            vlan = replace(vlan, enabled=command == "no shutdown")
        else:
            return None
        self.vlans[vid] = vlan
        return mode

    def _port(self, mode: Mode, port: str, command: str) -> Mode | None:
        if m := re.match(r"^switchport access vlan (\S+)$", command):
            vid = _vid(m.group(1))
            if vid not in self.vlans:
                raise Refused(f"VLAN {vid} does not exist (interface vlan {vid} first)")
            self.access[port] = vid
        elif command in ("no switchport access vlan", "no switchport"):
            self.access.pop(port, None)
        else:
            return None
        return mode

    def _vlt(self, mode: Mode, command: str) -> Mode | None:
        assert self.vlt is not None
        if m := re.match(rf"^backup destination {_IP}$", command):
            self.vlt = replace(self.vlt, backup=_ip(m.group(1)))
        elif command == "no backup destination":
            self.vlt = replace(self.vlt, backup=None)
        elif m := re.match(r"^discovery-interface (\S+)$", command):
            ports = []
            for item in m.group(1).split(","):
                name = item if item.startswith("ethernet") else f"ethernet{item}"
                if name not in self.ports:
                    raise Refused(f"no interface {name!r}")
                ports.append(name)
            self.vlt = replace(self.vlt, discovery=tuple(ports))
        elif command == "no discovery-interface":
            self.vlt = replace(self.vlt, discovery=())
        elif m := re.match(r"^vlt-mac (\S+)$", command):
            if not _MAC.match(m.group(1)):
                raise Refused(f"bad MAC address {m.group(1)!r}")
            self.vlt = replace(self.vlt, mac=m.group(1))
        elif command == "no vlt-mac":
            self.vlt = replace(self.vlt, mac=None)
        else:
            return None
        return mode

    def _bgp(self, mode: Mode, command: str) -> Mode | None:
        assert self.bgp is not None
        if m := re.match(r"^router-id (\S+)$", command):
            self.bgp = replace(self.bgp, router_id=_ip(m.group(1)))
        elif command == "no router-id":
            self.bgp = replace(self.bgp, router_id=None)
        elif m := re.match(r"^neighbor (\S+)$", command):
            address = _ip(m.group(1))
            if self.bgp.neighbor(address) is None:
                self.bgp = replace(self.bgp, neighbors=(*self.bgp.neighbors, Neighbor(address)))
            return (*mode, f"neighbor {address}")
        elif m := re.match(r"^no neighbor (\S+)$", command):
            address = _ip(m.group(1))
            if self.bgp.neighbor(address) is None:
                raise Refused(f"no neighbor {address}")
            self.bgp = replace(
                self.bgp, neighbors=tuple(n for n in self.bgp.neighbors if n.address != address)
            )
        else:
            return None
        return mode

    def _neighbor(self, mode: Mode, address: str, command: str) -> Mode | None:
        assert self.bgp is not None
        n = self.bgp.neighbor(address)
        assert n is not None
        if m := re.match(r"^remote-as (\S+)$", command):
            n = replace(n, remote_as=_asn(m.group(1)))
        elif command == "no remote-as":
            n = replace(n, remote_as=None)
        elif command in ("shutdown", "no shutdown"):
            n = replace(n, enabled=command == "no shutdown")
        else:
            return None
        self.bgp = replace(
            self.bgp,
            neighbors=tuple(n if x.address == address else x for x in self.bgp.neighbors),
        )
        return mode


def prompt_mode(head: str) -> str:
    """OS10's prompt for a block: ``conf-if-eth1/1/1``, ``conf-if-vl-100``,
    ``conf-if-ma-1/1/1``, ``conf-vlt-1``, ``config-router-bgp-64801``,
    ``config-router-neighbor``."""
    word, _, arg = head.partition(" ")
    if word == "interface":
        if arg.startswith("vlan"):
            return f"conf-if-vl-{arg[4:]}"
        if arg.startswith("mgmt"):
            return f"conf-if-ma-{arg[4:]}"
        return f"conf-if-{arg.replace('ethernet', 'eth')}"
    if word == "vlt-domain":
        return f"conf-vlt-{arg}"
    if word == "router":
        return f"config-router-bgp-{arg.split()[-1]}"
    if word == "neighbor":
        return "config-router-neighbor"
    return "config"

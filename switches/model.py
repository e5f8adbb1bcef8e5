"""A switch as a protocol-free model.

A :class:`Switch` is built from a :class:`~switches.spec.SwitchSpec`, a clock and an event sink;
the rack cables its ports (:meth:`Switch.cable`) and tells it when the far end of a link starts or
stops transmitting (:meth:`Switch.set_peer_link`). Its commands are what an operator or a fault
does to a switch: ``power_off``, ``power_on``, ``reboot``, ``set_admin`` (shutdown / no
shutdown), ``save_config``, ``set_psu_input``, ``fail_psu``, ``fail_fan``... Each returns the
events it caused; later transitions (the end of a boot) arrive through the sink.

The rules it keeps:

* state is OFF -> BOOTING -> UP; ``reboot`` goes UP -> BOOTING; the boot takes ``spec.boot_s``
  emulated seconds, and a switch with no PSU delivering power is OFF;
* a port transmits (:meth:`Switch.driving`) while the switch is UP and the port is admin up; it is
  oper up while it transmits, is cabled, and the far end transmits;
* a boot loads the saved configuration (admin states not saved are lost), resets the counters,
  and restarts uptime; the running configuration is rendered from the state, on demand;
* counters, temperatures and fan speeds are functions of time (see ``switches.traffic`` and
  ``nodes.sensors.Lag``), computed when read.

Nothing here knows about SNMP or sockets: ``switches.snmp`` translates.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from nodes.clock import Clock, Timer
from nodes.errors import InvalidArgument, InvalidState, NotFound
from nodes.events import Event, EventSink, LinkChanged
from nodes.sensors import Lag
from switches.accounts import (
    FACTORY_USERS,
    USER_NAME,
    CliRole,
    CliUser,
    Lockout,
    LoginGuard,
    LoginRefused,
    valid_hash,
)
from switches.events import (
    BootPartitionSet,
    CliLogin,
    ConfigSaved,
    FanChanged,
    ImageInstallChanged,
    OsVersionChanged,
    PortAdminChanged,
    PsuChanged,
    SwitchBooted,
    SwitchChangeMade,
    SwitchConfigChanged,
    SwitchFaultChanged,
    SwitchReplaced,
    SwitchState,
    SwitchStateChanged,
)
from switches.images import ImageBank, InstallState, check_image
from switches.netconfig import (
    NO_NET,
    Mode,
    Neighbor,
    Net,
    NetBuilder,
    Plan,
    Refused,
    render_bottom,
    render_port,
    render_top,
)
from switches.spec import SwitchRole, SwitchSpec
from switches.traffic import Counters, TrafficMeter, TrafficProfile

__all__ = [
    "FACTORY_HOSTNAME",
    "Actor",
    "LogEntry",
    "Neighbour",
    "Port",
    "PortRole",
    "Switch",
    "SwitchConfig",
    "SwitchFault",
    "SwitchState",
]


class SwitchFault(StrEnum):
    """What can break in a switch (``Switch.inject_fault``); the target names the part."""

    POWER = "power"  # target "": every PSU loses its input, the switch goes dark
    PSU = "psu"  # target: a PSU name ("PSU1"): the supply itself fails
    FAN = "fan"  # target: a fan name ("Fan2")
    PORT = "port"  # target: a port name ("ethernet1/1/3"): its hardware fails, no light


#: What a switch calls itself out of the box (OS10's default hostname).
FACTORY_HOSTNAME = "OS10"
#: How many entries the switch's own log keeps (``show logging``); the oldest go first.
LOG_SIZE = 200


@dataclass(frozen=True)
class Actor:
    """Who asks for a change over the CLI: a user, from an address."""

    user: str
    address: str


@dataclass(frozen=True)
class LogEntry:
    at: float
    severity: int  # syslog: 2 critical, 4 warning, 5 notice, 6 informational
    tag: str  # OS10's message tag, e.g. IFM_OSTATE_DN
    text: str

    def to_list(self) -> list[Any]:
        return [self.at, self.severity, self.tag, self.text]


def deployed_users(spec: SwitchSpec) -> tuple[CliUser, ...]:
    return tuple(CliUser.make(u.name, u.password, u.role) for u in spec.cli.users)


@dataclass(frozen=True)
class SwitchConfig:
    """One configuration (running or saved), as the model keeps it.

    ``provisioned``: the deployment configuration generated from the worksheet is there
    (VLANs, VLT/MLAG and BGP to the peer and the border, the management address and SNMP). A
    factory configuration has none of it: see ``emulator.fabric`` for what that breaks.
    ``shutdown``: the ports shut. SNMP communities and users are the topology's (the worksheet
    holds them, and the rendered text masks the keys), present while provisioned.
    """

    provisioned: bool
    hostname: str
    contact: str
    location: str
    build: str
    shutdown: frozenset[str] = frozenset()
    #: CLI users (``username`` lines) and the login lockout (``password-attributes``).
    users: tuple[CliUser, ...] = FACTORY_USERS
    lockout: Lockout | None = None
    #: Management address, VLANs, VLT and BGP (``switches.netconfig``).
    net: Net = NO_NET

    @classmethod
    def factory(cls) -> SwitchConfig:
        return cls(False, FACTORY_HOSTNAME, "", "", "")

    @classmethod
    def deployed(cls, spec: SwitchSpec, net: Net = NO_NET) -> SwitchConfig:
        """``net``: the network part the switch's cabling plans (``Switch.set_plan``)."""
        return cls(
            True,
            spec.name,
            spec.snmp.contact,
            spec.snmp.location,
            spec.config_build,
            users=deployed_users(spec),
            lockout=Lockout(spec.cli.max_retry, spec.cli.lockout_period_min),
            net=net,
        )

    def user(self, name: str) -> CliUser | None:
        return next((u for u in self.users if u.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "provisioned": self.provisioned,
            "hostname": self.hostname,
            "contact": self.contact,
            "location": self.location,
            "build": self.build,
            "shutdown": sorted(self.shutdown),
            "users": [[u.name, u.role.value, u.secret] for u in self.users],
            "lockout": None
            if self.lockout is None
            else [self.lockout.max_retry, self.lockout.period_min],
            "net": self.net.to_dict(),
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], spec: SwitchSpec | None = None, net: Net = NO_NET
    ) -> SwitchConfig:
        """``spec``: for records written before users were kept (a provisioned one gets the
        topology's users back, a factory one admin/admin); ``net``: the same for records
        written before the network part was kept (a provisioned one gets the planned one)."""
        try:
            provisioned = bool(data["provisioned"])
            if "users" in data:
                users = tuple(CliUser(str(n), CliRole(r), str(h)) for n, r, h in data["users"])
                lock = data["lockout"]
                lockout = None if lock is None else Lockout(int(lock[0]), int(lock[1]))
            elif provisioned and spec is not None:
                users = deployed_users(spec)
                lockout = Lockout(spec.cli.max_retry, spec.cli.lockout_period_min)
            else:
                users, lockout = FACTORY_USERS, None
            if not users or any(not valid_hash(u.secret) for u in users):
                raise TypeError("users need a name, a role and a $6$ hash")
            return cls(
                provisioned,
                str(data["hostname"]),
                str(data["contact"]),
                str(data["location"]),
                str(data["build"]),
                frozenset(str(p) for p in data["shutdown"]),
                users,
                lockout,
                Net.from_dict(data["net"]) if "net" in data else (net if provisioned else Net()),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InvalidArgument(f"bad switch configuration record: {exc!r}") from None


class PortRole(StrEnum):
    UNUSED = "unused"
    NODE_NIC = "node-nic"  # a ToR port to a node's NIC
    PEER_LINK = "peer-link"  # ToR to ToR (MLAG/VLT, iBGP)
    UPLINK = "uplink"  # ToR to the border
    BMC_PORT = "bmc-port"  # to a node's BMC
    BMC_UPLINK = "bmc-uplink"  # between the BMC switch and a ToR (both ends)


#: Mean traffic per role, bytes/s in and out of the port (the ToR's view).
PROFILES: dict[PortRole, TrafficProfile] = {
    PortRole.UNUSED: TrafficProfile(0.0, 0.0),
    PortRole.NODE_NIC: TrafficProfile(180e6, 140e6, mean_packet_bytes=1100.0),
    PortRole.PEER_LINK: TrafficProfile(320e6, 320e6, mean_packet_bytes=1200.0),
    PortRole.UPLINK: TrafficProfile(90e6, 120e6, mean_packet_bytes=800.0, discard_rate=2e-6),
    PortRole.BMC_PORT: TrafficProfile(6e3, 9e3, mean_packet_bytes=300.0, swing=0.8),
    PortRole.BMC_UPLINK: TrafficProfile(180e3, 120e3, mean_packet_bytes=400.0),
}


@dataclass(frozen=True)
class Neighbour:
    """What a port learns over LLDP from the far end of its cable."""

    chassis_id: str  # a MAC address, aa:bb:cc:dd:ee:ff
    port_id: str  # the far port's name (interfaceName) or MAC (for a NIC)
    port_description: str
    system_name: str
    system_description: str
    port_id_is_mac: bool = False


class Port:
    __slots__ = (
        "admin_up",
        "alias",
        "changed_at",
        "failed",
        "index",
        "meter",
        "name",
        "neighbour",
        "neighbour_since",
        "peer",
        "peer_up",
        "role",
        "speed_gbps",
        "switch_up",
    )

    def __init__(self, index: int, name: str, speed_gbps: int, at: float) -> None:
        self.index = index  # 1-based, front-panel order
        self.name = name
        self.speed_gbps = speed_gbps
        self.peer = ""  # "device:port" at the other end of the cable, "" when nothing is cabled
        self.alias = ""
        self.role = PortRole.UNUSED
        self.neighbour: Neighbour | None = None
        self.admin_up = True
        self.failed = False  # the port's hardware (transceiver, PHY) failed: it sends no light
        self.peer_up = False  # whether the far end transmits
        self.switch_up = False  # whether this switch is UP (ports are dark otherwise)
        self.changed_at = at
        self.neighbour_since = at
        self.meter = TrafficMeter(PROFILES[PortRole.UNUSED], phase=0.0)

    @property
    def driving(self) -> bool:
        """Whether this end transmits (the far end sees a link)."""
        return self.switch_up and self.admin_up and not self.failed

    @property
    def oper_up(self) -> bool:
        return self.driving and self.peer_up and bool(self.peer)


@dataclass(frozen=True)
class Psu:
    name: str
    capacity_w: int
    serial: str


@dataclass(frozen=True)
class Fan:
    name: str
    nominal_rpm: int
    serial: str


@dataclass(frozen=True)
class TempSensor:
    name: str
    idle_rise_c: float  # above ambient once the switch has warmed up
    warning_c: float
    critical_c: float


@dataclass(frozen=True)
class Reading:
    """A sensor value now; ``value`` None when unavailable (the switch is off)."""

    value: float | None
    ok: bool


_MODEL_WATTS = {SwitchRole.TOR: 320.0, SwitchRole.BMC: 90.0}


def mac_of(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "02:5a:03:" + ":".join(f"{b:02x}" for b in digest[:2]) + ":00"


_PASSWORD = re.compile(r"(\bpassword\s+)\S+")


def _masked(line: str) -> str:
    """A command as the log and the bus may show it: any password replaced."""
    return _PASSWORD.sub(r"\1********", line)


class _Builder:
    """Reads configuration lines into a :class:`SwitchConfig`, one at a time: a whole text
    (``whole``: a backup; users only from its lines; blocks by indentation) or ``configure
    terminal`` lines on top of the running configuration (blocks by the mode the session is
    in). Raises InvalidArgument naming the line; the result is built only at the end, so
    nothing changes before every line is read."""

    def __init__(self, switch: Switch, base: SwitchConfig, *, whole: bool) -> None:
        self.switch = switch
        self.whole = whole
        self.build, self.provisioned = base.build, base.provisioned
        self.hostname, self.hostname_seen = base.hostname, False
        self.contact, self.location = base.contact, base.location
        self.shutdown = set(base.shutdown)
        self.users: dict[str, CliUser] = {} if whole else {u.name: u for u in base.users}
        self.lockout = None if whole else base.lockout
        self.net = NetBuilder.of(Net() if whole else base.net, switch.ports)
        #: The blocks entered (``("router bgp 64801", "neighbor 100.71.49.2")``).
        self.mode: Mode = ()

    def result(self) -> SwitchConfig:
        users = tuple(self.users.values()) or FACTORY_USERS
        return SwitchConfig(
            self.provisioned,
            self.hostname,
            self.contact,
            self.location,
            self.build,
            frozenset(self.shutdown),
            users,
            self.lockout,
            self.net.result(),
        )

    def feed(self, raw: str, number: int | None = None) -> None:
        """A line of a whole text: its indentation says how deep in the blocks it is."""
        line = raw.rstrip()
        if not line:
            return
        depth = len(line) - len(line.lstrip(" "))
        command = line.strip()
        bad = self._bad(raw, number)
        if command.startswith("!"):
            m = re.match(r"^! Build (\S+) generated by scaleunit for ", line)
            if m and self.whole and depth == 0:
                self.build, self.provisioned = m.group(1), True
            self.mode = self.mode[:depth]
            return
        try:
            if depth == 0:
                new = self._top(command)
                if new is None:
                    raise bad("unknown command")
            else:
                if not self.mode:
                    raise bad("an interface command outside an interface")
                mode = self.mode[: max(depth, 1)]
                new = self._sub(mode, command)
                if new is None:
                    raise bad(self._unknown(mode))
        except Refused as exc:
            raise bad(str(exc)) from None
        self.mode = new

    def feed_cli(self, text: str) -> None:
        """A ``configure terminal`` line in ``self.mode``: a command the innermost block does
        not know is tried in the blocks around it, then at the top (as OS10 does)."""
        bad = self._bad(text, None)
        try:
            mode = self.mode
            while mode:
                new = self._sub(mode, text)
                if new is not None:
                    self.mode = new
                    return
                mode = mode[:-1]
            top = self._top(text)
        except Refused as exc:
            raise bad(str(exc)) from None
        if top is None:
            raise bad(self._unknown(self.mode) if self.mode else "unknown command")
        self.mode = top

    def _bad(self, raw: str, number: int | None) -> Callable[[str], InvalidArgument]:
        where = "configuration line" if number is None else f"configuration line {number}"
        return lambda why: InvalidArgument(f"{self.switch.name}: {where}: {why}: {_masked(raw)!r}")

    @staticmethod
    def _unknown(mode: Mode) -> str:
        return (
            "unknown interface command" if mode[-1].startswith("interface ") else "unknown command"
        )

    def _sub(self, mode: Mode, command: str) -> Mode | None:
        head = mode[-1]
        if head.startswith("interface ethernet"):
            port = head.split()[1]
            if command == "shutdown":
                self.shutdown.add(port)
                return mode
            if command == "no shutdown":
                self.shutdown.discard(port)
                return mode
            if re.match(r"^(no description|description \S.*|speed \d+)$", command):
                return mode
        return self.net.sub(mode, command)

    def _top(self, line: str) -> Mode | None:
        """A top-level line: the mode it enters (``()`` for none), None when unknown."""
        mode = self.net.top(line)
        if mode is not None:
            return mode
        if m := re.match(r"^hostname ([A-Za-z0-9][A-Za-z0-9-]{0,62})$", line):
            self.hostname, self.hostname_seen = m.group(1), True
        elif m := re.match(r'^snmp-server (contact|location) "([^"]*)"$', line):
            if m.group(1) == "contact":
                self.contact = m.group(2)
            else:
                self.location = m.group(2)
        elif m := re.match(r"^interface (\S+)$", line):
            if m.group(1) not in self.switch.ports:
                raise Refused(f"{self.switch.name} has no interface {m.group(1)!r}")
            return (f"interface {m.group(1)}",)
        elif m := re.match(r"^username (\S+) password (\S+) role (\S+)(?: priv-lvl \d+)?$", line):
            name, secret, role = m.groups()
            if not USER_NAME.match(name):
                raise Refused("bad user name")
            try:
                user = (
                    CliUser(name, CliRole(role), secret)
                    if valid_hash(secret)
                    else CliUser.make(name, secret, role)
                )
            except (ValueError, InvalidArgument) as exc:
                raise Refused(str(exc).split(": ")[-1] if str(exc) else "bad user") from None
            self.users[name] = user
        elif m := re.match(r"^no username (\S+)$", line):
            if m.group(1) not in self.users:
                raise Refused(f"no user {m.group(1)!r}")
            if (
                sum(u.role is CliRole.SYSADMIN for u in self.users.values() if u.name != m.group(1))
                == 0
            ):
                raise Refused("the last sysadmin user cannot be removed")
            del self.users[m.group(1)]
        elif m := re.match(r"^password-attributes max-retry (\d+) lockout-period (\d+)$", line):
            retry, period = int(m.group(1)), int(m.group(2))
            if not (1 <= retry <= 16 and 1 <= period <= 43200):
                raise Refused("max-retry is 1-16, lockout-period 1-43200 minutes")
            self.lockout = Lockout(retry, period)
        elif line == "no password-attributes":
            self.lockout = None
        elif not (
            line in ("lldp enable", "end")
            or re.match(r"^snmp-server (community \S+ (ro|rw)|user \S+ (ro|rw) auth \S+ .*)$", line)
        ):
            return None
        return ()


_LINK_TAGS = {
    True: ("IFM_OSTATE_UP", "Interface operational state is up"),
    False: ("IFM_OSTATE_DN", "Interface operational state is down"),
}


def _log_entry(event: Event) -> tuple[int, str, str] | None:
    """The switch's own log line for an event, OS10 style (severity, tag, text)."""
    match event:
        case LinkChanged(port=port, up=up):
            tag, text = _LINK_TAGS[up]
            return (5 if up else 4), tag, f"{text} :{port}"
        case SwitchBooted(os_version=version):
            return 5, "SYSTEM_BOOT", f"System booted, OS version {version}"
        case SwitchStateChanged(new=new, cause=cause):
            return 5, "SYSTEM_STATE", f"System state {new.value} ({cause})"
        case CliLogin(user=user, address=address, ok=ok, reason=reason):
            if ok:
                return 6, "ALM_USER_LOGIN", f"User {user} logged in via SSH from {address}"
            return 4, "ALM_USER_LOGIN_FAIL", f"Login of {user} via SSH from {address}: {reason}"
        case SwitchChangeMade(user=user, address=address, action=action):
            return 6, "CLI_CONFIG", f"{user} ({address}): {action}"
        case ConfigSaved():
            return 5, "CFG_SAVE", "Running configuration saved to startup configuration"
        case SwitchConfigChanged(cause=cause, provisioned=provisioned):
            kind = "deployment" if provisioned else "factory"
            return 5, "CFG_CHANGE", f"Running configuration replaced ({cause}, {kind})"
        case ImageInstallChanged(partition=part, version=version, state=state, detail=detail):
            return 5, "IMAGE_INSTALL", f"Image {version} to partition {part}: {state} {detail}"
        case BootPartitionSet(partition=part, version=version):
            return 5, "IMAGE_BOOT", f"Next boot: partition {part} ({version})"
        case OsVersionChanged(old=old, new=new, cause=cause):
            return 4, "OS_VERSION", f"OS version {old} -> {new} ({cause})"
        case PsuChanged(psu=psu, ok=ok, reason=reason):
            return (5 if ok else 2), "EQM_PSU", f"{psu} {'ok' if ok else 'failed'} ({reason})"
        case FanChanged(fan=fan, ok=ok):
            return (5 if ok else 2), "EQM_FAN", f"{fan} {'ok' if ok else 'failed'}"
        case PortAdminChanged(port=port, up=up):
            return 5, "IFM_ASTATE", f"Interface admin state {'up' if up else 'down'} :{port}"
    return None


class Switch:
    """One switch: power and boot, ports and their links, LLDP, PSUs, fans, temperatures,
    its OS version and its configuration."""

    def __init__(
        self,
        spec: SwitchSpec,
        clock: Clock,
        emit: EventSink,
        *,
        powered: bool = True,
        ambient_c: float = 24.0,
    ) -> None:
        """``powered``: the switch starts up and booted (as when a rack starts), without events;
        otherwise it starts off."""
        self.spec = spec
        self.name = spec.name
        self._clock = clock
        self._sink = emit
        #: The switch's own log (``show logging``), newest last.
        self.log: deque[LogEntry] = deque(maxlen=LOG_SIZE)
        self.logins = LoginGuard()
        self.images = ImageBank(spec.os_version)
        self._install_timer: Timer | None = None
        self.ambient_c = ambient_c
        now = clock.now()
        self.ports: dict[str, Port] = {
            name: Port(i, name, spec.port_speed_gbps, now)
            for i, name in enumerate(spec.port_names(), start=1)
        }
        self._by_index = list(self.ports.values())
        #: The chassis serial: the topology's, until a replacement switch arrives. The chassis MAC
        #: stays (the SNMP engine ID and the peers' LLDP view are made from it once).
        self.serial = spec.serial
        self.chassis_mac = mac_of(f"{spec.serial}/{spec.name}")
        watts = 750 if spec.role is SwitchRole.TOR else 400
        self.psus = [Psu(f"PSU{i}", watts, f"{spec.serial}-P{i}") for i in (1, 2)]
        self.psu_input = {p.name: True for p in self.psus}
        self.psu_failed = {p.name: False for p in self.psus}
        self.fans = [
            Fan(f"Fan{i}", 12000 if spec.role is SwitchRole.TOR else 8000, f"{spec.serial}-F{i}")
            for i in range(1, spec.fans + 1)
        ]
        self.failed_fans: set[str] = set()
        self.temp_sensors = [
            TempSensor("Inlet", 0.0, 45.0, 55.0),
            TempSensor("CPU", 22.0, 85.0, 95.0),
            TempSensor("ASIC", 30.0, 95.0, 105.0),
        ]
        self._temp_lags = [Lag(ambient_c, now, tau=90.0) for _ in self.temp_sensors]
        self._fan_lags = [Lag(0.0, now, tau=4.0) for _ in self.fans]

        self.state = SwitchState.OFF
        self.state_since = now
        self.booted_at: float | None = None
        self.boot_count = 0
        self._boot_timer: Timer | None = None
        #: The deployment network (management, VLANs, VLT, BGP) the cabling plans, and the
        #: rack's switches (a BGP session needs the far switch's configuration): set_plan.
        self.plan = Plan(NO_NET)
        self.fabric: Mapping[str, Switch] = {}
        #: The running configuration but its ports' admin states (those are the ports').
        self._running = SwitchConfig.deployed(spec)
        #: The saved configuration (what a boot loads).
        self.saved = SwitchConfig.deployed(spec)
        self.config_saved_at: float | None = None
        #: Active faults, in the order injected.
        self._faults: dict[tuple[SwitchFault, str], None] = {}
        if powered:
            self.state = SwitchState.UP
            self.booted_at = now
            self.boot_count = 1
            for p in self._by_index:
                p.switch_up = True
            self._retarget_thermals(now)
            for i, lag in enumerate(self._fan_lags):
                lag.retarget(now, self._fan_target(i))
            for lag in (*self._temp_lags, *self._fan_lags):
                lag.start = lag.target  # already warm and spinning

    @property
    def os_version(self) -> str:
        """The running OS version: the active partition's."""
        return self.images.running

    def _emit(self, event: Event) -> None:
        entry = _log_entry(event)
        if entry is not None:
            self.log.append(LogEntry(event.at, *entry))
        self._sink(event)

    def _changed_by(self, by: Actor | None, action: str) -> list[Event]:
        if by is None:
            return []
        event = SwitchChangeMade(
            device=self.name, at=self._clock.now(), user=by.user, address=by.address, action=action
        )
        self._emit(event)
        return [event]

    # -- cabling (the rack calls these) ------------------------------------------------------
    def cable(
        self,
        port: str,
        peer: str,
        *,
        role: PortRole = PortRole.UNUSED,
        neighbour: Neighbour | None = None,
        alias: str = "",
    ) -> None:
        p = self._port(port)
        p.peer = peer
        p.alias = alias or peer
        p.role = role
        p.neighbour = neighbour
        p.meter = TrafficMeter(PROFILES[role], phase=0.7 * p.index)

    def set_peer_link(self, port: str, up: bool) -> list[Event]:
        """The far end of ``port`` started (``up``) or stopped transmitting."""
        p = self._port(port)
        if p.peer_up == up:
            return []
        before = p.oper_up
        p.peer_up = up
        return self._changed(p, before)

    def set_plan(self, plan: Plan, fabric: Mapping[str, Switch]) -> None:
        """The rack's cabling is known: the deployment configuration gains its network part
        (a running or saved configuration still the deployment one follows)."""
        old = SwitchConfig.deployed(self.spec, self.plan.net)
        self.plan, self.fabric = plan, fabric
        new = SwitchConfig.deployed(self.spec, plan.net)
        if self._running == old:
            self._running = new
        if self.saved == old:
            self.saved = new

    def bgp_session(self, neighbor: Neighbor) -> tuple[bool, float]:
        """Whether the BGP session to ``neighbor`` (of the running configuration) is
        Established, and since when its link is as it is. Established while BGP runs here, the
        neighbor is enabled with a remote AS, the address is the far end of a cabled link that
        is up, and the far end agrees: a switch up with BGP in that AS and a matching enabled
        neighbor back to this one; a border router (not modelled) in the planned AS."""
        bgp = self._running.net.bgp
        link = self.plan.link(neighbor.address)
        if link is None:
            return False, self.state_since
        port = self.ports[link.port]
        since = port.changed_at
        if bgp is None or not self.up or not neighbor.enabled or not port.oper_up:
            return False, since
        far = self.fabric.get(link.device)
        if far is None:
            return neighbor.remote_as == link.remote_as, since
        far_bgp = far.config.net.bgp
        if not far.up or far_bgp is None or far_bgp.asn != neighbor.remote_as:
            return False, since
        back = far_bgp.neighbor(link.local)
        ok = back is not None and back.enabled and back.remote_as == bgp.asn
        return ok, since

    def driving(self, port: str) -> bool:
        return self._port(port).driving

    def port_by_index(self, index: int) -> Port:
        return self._by_index[index - 1]

    def port_mac(self, port: Port) -> str:
        base = int(self.chassis_mac.replace(":", ""), 16) + port.index
        return ":".join(f"{(base >> s) & 0xFF:02x}" for s in range(40, -8, -8))

    # -- power and boot ----------------------------------------------------------------------
    @property
    def up(self) -> bool:
        return self.state is SwitchState.UP

    def has_power(self) -> bool:
        return any(self.psu_input[p.name] and not self.psu_failed[p.name] for p in self.psus)

    def uptime(self) -> float | None:
        """Seconds since the OS finished booting; None while off or booting."""
        if self.booted_at is None:
            return None
        return max(0.0, self._clock.now() - self.booted_at)

    def power_on(self, cause: str = "power-on") -> list[Event]:
        if self.state is not SwitchState.OFF:
            return []
        if not self.has_power():
            raise InvalidState(f"{self.name}: no PSU delivers power")
        return self._boot(cause)

    def power_off(self, cause: str = "power-off") -> list[Event]:
        if self.state is SwitchState.OFF:
            return []
        return self._enter(SwitchState.OFF, cause)

    def reboot(self, cause: str = "reload", by: Actor | None = None) -> list[Event]:
        """``reload``: the OS restarts; the agent is silent until the boot ends, which loads the
        partition ``next_boot`` names."""
        if self.state is not SwitchState.UP:
            raise InvalidState(f"{self.name} is {self.state.value}, not up")
        events = self._changed_by(by, "reload")
        return events + self._boot(cause)

    def _boot(self, cause: str) -> list[Event]:
        events = self._enter(SwitchState.BOOTING, cause)
        self._boot_timer = self._clock.call_later(self.spec.boot_s, self._boot_done)
        return events

    def _boot_done(self) -> None:
        self._boot_timer = None
        now = self._clock.now()
        self.boot_count += 1
        self.booted_at = now
        self.logins.clear()
        old_version = self.os_version
        self.images.active = self.images.next_boot
        if self.os_version != old_version:
            self._emit(
                OsVersionChanged(
                    device=self.name, at=now, old=old_version, new=self.os_version, cause="boot"
                )
            )
        self._running = self.saved
        for p in self._by_index:
            p.admin_up = p.name not in self.saved.shutdown
            p.meter.reset(now)
        self._enter(SwitchState.UP, "boot-complete")
        self._emit(
            SwitchBooted(
                device=self.name, at=now, os_version=self.os_version, boot_count=self.boot_count
            )
        )

    def _enter(self, new: SwitchState, cause: str) -> list[Event]:
        now = self._clock.now()
        old = self.state
        if self._boot_timer is not None:
            self._boot_timer.cancel()
            self._boot_timer = None
        if new is not SwitchState.UP:
            self._abort_install(f"aborted: the switch went {new.value} ({cause})")
        self.state = new
        self.state_since = now
        if new is not SwitchState.UP:
            self.booted_at = None
        on = new is not SwitchState.OFF
        for lag in self._temp_lags:
            lag.retarget(now, self.ambient_c)
        self._retarget_thermals(now)
        for i, lag in enumerate(self._fan_lags):
            lag.retarget(now, self._fan_target(i) if on else 0.0)
        before = [p.oper_up for p in self._by_index]
        for p in self._by_index:
            p.switch_up = new is SwitchState.UP
        # Subscribers see the ports' new transmit state (the rack's peer links follow it).
        event = SwitchStateChanged(device=self.name, at=now, old=old, new=new, cause=cause)
        self._emit(event)
        events: list[Event] = [event]
        for p, was_up in zip(self._by_index, before, strict=True):
            events += self._changed(p, was_up)
        return events

    # -- ports -------------------------------------------------------------------------------
    def _port(self, port: str) -> Port:
        try:
            return self.ports[port]
        except KeyError:
            raise NotFound(f"{self.name} has no port {port!r}") from None

    def set_admin(self, port: str, up: bool) -> list[Event]:
        """``shutdown`` (False) or ``no shutdown`` (True) in the running configuration."""
        p = self._port(port)
        if self.state is not SwitchState.UP:
            raise InvalidState(f"{self.name} is {self.state.value}, not up")
        if p.admin_up == up:
            return []
        before = p.oper_up
        p.admin_up = up
        event = PortAdminChanged(device=self.name, at=self._clock.now(), port=port, up=up)
        self._emit(event)
        return [event, *self._changed(p, before)]

    def _changed(self, p: Port, before: bool) -> list[Event]:
        if p.oper_up == before:
            return []
        now = self._clock.now()
        p.changed_at = now
        if p.oper_up:
            p.meter.start(now)
            p.neighbour_since = now
        else:
            p.meter.stop(now)
        event = LinkChanged(device=self.name, at=now, port=p.name, up=p.oper_up, peer=p.peer)
        self._emit(event)
        return [event]

    def counters(self, port: Port) -> Counters:
        return port.meter.counters(self._clock.now())

    def neighbour(self, port: Port) -> Neighbour | None:
        """The LLDP neighbour learnt on ``port``: present while the link is up."""
        return port.neighbour if port.oper_up else None

    # -- PSUs, fans, temperatures ------------------------------------------------------------
    def psu_ok(self, psu: str) -> bool:
        return self.psu_input[psu] and not self.psu_failed[psu]

    def _psu(self, psu: str) -> str:
        if psu not in self.psu_input:
            raise NotFound(f"{self.name} has no PSU {psu!r}")
        return psu

    def set_psu_input(self, psu: str, has_input: bool) -> list[Event]:
        """A PSU's feed was lost or restored; with no PSU left the switch goes dark, and it boots
        again when power returns (switches have no power button)."""
        self._psu(psu)
        if self.psu_input[psu] == has_input:
            return []
        return self._psu_change(psu, lambda: self.psu_input.__setitem__(psu, has_input), "input")

    def fail_psu(self, psu: str, failed: bool = True) -> list[Event]:
        self._psu(psu)
        if self.psu_failed[psu] == failed:
            return []
        return self._psu_change(psu, lambda: self.psu_failed.__setitem__(psu, failed), "fault")

    def _psu_change(self, psu: str, apply: Callable[[], None], reason: str) -> list[Event]:
        was_ok, had_power = self.psu_ok(psu), self.has_power()
        apply()
        events: list[Event] = []
        if self.psu_ok(psu) != was_ok:
            event = PsuChanged(
                device=self.name, at=self._clock.now(), psu=psu, ok=self.psu_ok(psu), reason=reason
            )
            self._emit(event)
            events.append(event)
        if had_power and not self.has_power():
            events += self.power_off("power-lost")
        elif not had_power and self.has_power():
            events += self.power_on("power-restored")
        return events

    def fail_fan(self, fan: str, failed: bool = True) -> list[Event]:
        index = next((i for i, f in enumerate(self.fans) if f.name == fan), None)
        if index is None:
            raise NotFound(f"{self.name} has no fan {fan!r}")
        if (fan in self.failed_fans) == failed:
            return []
        if failed:
            self.failed_fans.add(fan)
        else:
            self.failed_fans.discard(fan)
        now = self._clock.now()
        on = self.state is not SwitchState.OFF
        for i, lag in enumerate(self._fan_lags):
            lag.retarget(now, self._fan_target(i) if on else 0.0)
        self._retarget_thermals(now)
        event = FanChanged(device=self.name, at=now, fan=fan, ok=not failed)
        self._emit(event)
        return [event]

    def _fan_target(self, i: int) -> float:
        fan = self.fans[i]
        if fan.name in self.failed_fans:
            return 0.0
        # The survivors speed up to make up for a failed fan.
        boost = 1.0 + 0.25 * len(self.failed_fans)
        return min(fan.nominal_rpm * 0.55 * boost, fan.nominal_rpm * 1.0)

    def _retarget_thermals(self, now: float) -> None:
        if self.state is SwitchState.OFF:
            return
        # Each failed fan adds heat; with little airflow left the rise grows with its inverse
        # (no fan left: four times the normal rise, past every critical threshold).
        nominal = sum(f.nominal_rpm for f in self.fans)
        airflow = sum(self._fan_target(i) for i in range(len(self.fans))) / nominal
        starved = min(0.55 / max(airflow, 0.55 / 4), 4.0)
        penalty = max(1.0 + 0.3 * len(self.failed_fans), starved)
        for sensor, lag in zip(self.temp_sensors, self._temp_lags, strict=True):
            lag.retarget(now, self.ambient_c + sensor.idle_rise_c * penalty)

    def fan_ok(self, fan: str) -> bool:
        return fan not in self.failed_fans

    def fan_rpm(self, i: int) -> Reading:
        rpm = self._fan_lags[i].value(self._clock.now())
        ok = self.fans[i].name not in self.failed_fans
        return Reading(round(rpm) if self.state is not SwitchState.OFF else None, ok)

    def temperature(self, i: int) -> Reading:
        if self.state is SwitchState.OFF:
            return Reading(None, True)
        value = self._temp_lags[i].value(self._clock.now())
        return Reading(round(value, 1), value < self.temp_sensors[i].warning_c)

    def power_watts(self) -> float:
        if self.state is SwitchState.OFF:
            return 0.0
        up = sum(1 for p in self._by_index if p.oper_up)
        return _MODEL_WATTS[self.spec.role] + 2.5 * up

    # -- configuration -----------------------------------------------------------------------
    def save_config(self, by: Actor | None = None) -> list[Event]:
        """``write memory``."""
        if self.state is not SwitchState.UP:
            raise InvalidState(f"{self.name} is {self.state.value}, not up")
        events = self._changed_by(by, "write memory")
        self.saved = self.running
        now = self._clock.now()
        self.config_saved_at = now
        event = ConfigSaved(device=self.name, at=now, build=self.saved.build)
        self._emit(event)
        return [*events, event]

    @property
    def running(self) -> SwitchConfig:
        """The running configuration, with the ports' admin states as they are now."""
        shut = frozenset(p.name for p in self._by_index if not p.admin_up)
        return dataclasses.replace(self._running, shutdown=shut)

    @property
    def config(self) -> SwitchConfig:
        """The running configuration but the ports' admin states (cheap: for the agent)."""
        return self._running

    @property
    def saved_shutdown(self) -> frozenset[str]:
        """Ports shut in the saved configuration (what a boot loads)."""
        return self.saved.shutdown

    @property
    def provisioned(self) -> bool:
        """Whether the running configuration is the deployment one (not factory defaults)."""
        return self._running.provisioned

    def running_config(self) -> str:
        return self._render(self.running)

    def saved_config(self) -> str:
        return self._render(self.saved)

    def _render(self, cfg: SwitchConfig) -> str:
        """The configuration as text, OS10 style. Generated from the topology: the same spec and
        the same configuration give the same text, byte for byte; :meth:`load_config` reads it
        back."""
        s = self.spec
        lines = [f"! Version {self.os_version}"]
        if cfg.provisioned:
            lines.append(
                f"! Build {cfg.build} generated by scaleunit for {s.name} ({s.model} {self.serial})"
            )
        else:
            lines.append(f"! Factory default configuration ({s.model} {self.serial})")
        lines += ["!", f"hostname {cfg.hostname}", "lldp enable"]
        lines += [u.line() for u in cfg.users]
        if cfg.lockout is not None:
            lines.append(cfg.lockout.line())
        lines.append("!")
        if cfg.provisioned:
            if cfg.contact:
                lines.append(f'snmp-server contact "{cfg.contact}"')
            if cfg.location:
                lines.append(f'snmp-server location "{cfg.location}"')
            lines.append(f"snmp-server community {s.snmp.ro_community} ro")
            if s.snmp.rw_community is not None:
                lines.append(f"snmp-server community {s.snmp.rw_community} rw")
            for user in s.snmp.users:
                priv = "" if user.priv_key is None else f" priv {user.priv.value} ********"
                lines.append(
                    f"snmp-server user {user.name} {user.access.value} auth {user.auth.value} "
                    f"********{priv}"
                )
        lines += render_top(cfg.net)
        for p in self._by_index:
            description = p.alias if cfg.provisioned else ""
            lines += [
                "!",
                f"interface {p.name}",
                f" description {description}" if description else " no description",
                f" speed {p.speed_gbps * 1000}",
                *render_port(cfg.net, p.name),
                " shutdown" if p.name in cfg.shutdown else " no shutdown",
            ]
        lines += render_bottom(cfg.net)
        lines += ["!", "end"]
        return "\n".join(lines) + "\n"

    def parse_config(self, text: str) -> SwitchConfig:
        """Read a configuration text (as :meth:`running_config` writes it, e.g. a backup kept
        on the HLH). Raises InvalidArgument naming the line for anything it does not know, an
        unknown interface, or a text without a hostname; nothing changes. Interface speeds and
        descriptions are read but not applied (the hardware's and the cabling's), nor are SNMP
        lines (their keys are masked: the topology's users and communities come back with a
        deployment configuration). A text with no ``username`` line keeps admin/admin."""
        builder = _Builder(self, SwitchConfig.factory(), whole=True)
        for number, raw in enumerate(text.splitlines(), start=1):
            builder.feed(raw, number)
        if not builder.hostname_seen:
            raise InvalidArgument(f"{self.name}: configuration has no hostname line")
        return builder.result()

    def configure(
        self, line: str, mode: Mode = (), by: Actor | None = None
    ) -> tuple[Mode, list[Event]]:
        """One ``configure terminal`` line, applied to the running configuration at once (as
        OS10 does), inside ``mode`` (the blocks entered: ``("interface ethernet1/1/3",)``,
        ``("router bgp 64801", "neighbor 100.71.49.2")``). Returns the mode the line leaves
        (``router bgp 64801`` enters one) and the events. InvalidArgument and nothing changed
        for a line it does not know or refuses."""
        if self.state is not SwitchState.UP:
            raise InvalidState(f"{self.name} is {self.state.value}, not up")
        builder = _Builder(self, self.running, whole=False)
        builder.mode = mode
        text = line.strip()
        builder.feed_cli(text)
        cfg = builder.result()
        events: list[Event] = []
        if cfg != self.running:
            events += self._changed_by(by, _masked(text))
            events += self._apply_running(cfg, "cli", saved=False)
        return builder.mode, events

    def load_config(self, text: str, by: Actor | None = None, source: str = "") -> list[Event]:
        """``copy <backup> running-configuration``: the text becomes the running configuration
        (ports shut or enabled as it says). Not saved: ``save_config`` after validating, as the
        OEM procedure does. Refused while the switch is not up; a bad text changes nothing."""
        if self.state is not SwitchState.UP:
            raise InvalidState(f"{self.name} is {self.state.value}, not up")
        cfg = self.parse_config(text)
        events = self._changed_by(by, f"copy {source or 'backup'} running-configuration")
        return events + self._apply_running(cfg, "load", saved=False)

    # -- CLI logins --------------------------------------------------------------------------
    def login(self, user: str, password: str, address: str) -> CliRole:
        """Check a CLI login against the running configuration's users: the user's role, or
        LoginRefused (an event says why; the password never appears). A user locked out by
        ``password-attributes`` is refused even with the right password until the period
        ends."""
        now = self._clock.now()

        def refuse(reason: str) -> LoginRefused:
            self._emit(
                CliLogin(
                    device=self.name, at=now, user=user, address=address, ok=False, reason=reason
                )
            )
            return LoginRefused(f"{self.name}: login of {user!r} from {address} refused: {reason}")

        if self.logins.locked(user, now):
            raise refuse("locked-out")
        account = self._running.user(user)
        if account is None or not account.check(password):
            locked = self.logins.failed(user, now, self._running.lockout)
            raise refuse(
                "lockout" if locked else ("unknown-user" if account is None else "bad-password")
            )
        self.logins.succeeded(user)
        self._emit(
            CliLogin(device=self.name, at=now, user=user, address=address, ok=True, reason="ok")
        )
        return account.role

    # -- OS images ---------------------------------------------------------------------------
    def install_image(self, data: bytes, source: str, by: Actor | None = None) -> list[Event]:
        """``image install URL``: check the image whole (InvalidArgument, nothing changed, for a
        corrupt one or one for another model), then write it to the standby partition over
        ``spec.install_s`` emulated seconds. InvalidState while another install runs or the
        switch is not up."""
        if self.state is not SwitchState.UP:
            raise InvalidState(f"{self.name} is {self.state.value}, not up")
        if self._install_timer is not None:
            raise InvalidState(f"{self.name}: an image install is already in progress")
        image = check_image(data, self.spec.model)
        now = self._clock.now()
        events = self._changed_by(by, f"image install {source}")
        status = self.images.install
        status.state, status.version, status.source = (
            InstallState.IN_PROGRESS,
            image.version,
            source,
        )
        status.started_at, status.ended_at, status.size = now, None, len(data)
        status.detail = "Installing"
        standby = self.images.standby
        self._install_timer = self._clock.call_later(self.spec.install_s, self._install_done)
        event = ImageInstallChanged(
            device=self.name,
            at=now,
            partition=standby.value,
            version=image.version,
            state=status.state.value,
            detail=f"from {source}",
        )
        self._emit(event)
        return [*events, event]

    def _install_done(self) -> None:
        self._install_timer = None
        status = self.images.install
        standby = self.images.standby
        self.images.versions[standby] = status.version
        status.state, status.ended_at = InstallState.COMPLETED, self._clock.now()
        status.detail = "Completed: Success"
        self._emit(
            ImageInstallChanged(
                device=self.name,
                at=status.ended_at,
                partition=standby.value,
                version=status.version,
                state=status.state.value,
                detail="installed",
            )
        )

    def _abort_install(self, why: str) -> None:
        if self._install_timer is None:
            return
        self._install_timer.cancel()
        self._install_timer = None
        status = self.images.install
        status.state, status.ended_at = InstallState.FAILED, self._clock.now()
        status.detail = f"Failed: {why}"
        self._emit(
            ImageInstallChanged(
                device=self.name,
                at=status.ended_at,
                partition=self.images.standby.value,
                version=status.version,
                state=status.state.value,
                detail=why,
            )
        )

    @property
    def installing(self) -> bool:
        return self._install_timer is not None

    def boot_system(self, which: str, by: Actor | None = None) -> list[Event]:
        """``boot system standby|active``: the partition the next boot loads."""
        partition = self.images.boot_choice(which)
        events = self._changed_by(by, f"boot system {which}")
        self.images.next_boot = partition
        event = BootPartitionSet(
            device=self.name,
            at=self._clock.now(),
            partition=partition.value,
            version=self.images.versions[partition],
        )
        self._emit(event)
        return [*events, event]

    def drift_os(self, version: str) -> list[Event]:
        """The running OS is another version than installed (the ``switch-os-drift`` fault, and
        its undo with the old version): the active partition's version changes now."""
        if not re.match(r"^[0-9A-Za-z._+-]{1,64}$", version):
            raise InvalidArgument(f"{self.name}: bad OS version {version!r}")
        old = self.os_version
        if old == version:
            return []
        self.images.versions[self.images.active] = version
        event = OsVersionChanged(
            device=self.name, at=self._clock.now(), old=old, new=version, cause="drift"
        )
        self._emit(event)
        return [event]

    def _apply_running(self, cfg: SwitchConfig, cause: str, *, saved: bool) -> list[Event]:
        now = self._clock.now()
        self._running = dataclasses.replace(cfg, shutdown=frozenset())
        before = [p.oper_up for p in self._by_index]
        admin_changes = []
        for p in self._by_index:
            up = p.name not in cfg.shutdown
            if p.admin_up != up:
                p.admin_up = up
                admin_changes.append(p)
        event = SwitchConfigChanged(
            device=self.name, at=now, cause=cause, provisioned=cfg.provisioned, saved=saved
        )
        self._emit(event)
        events: list[Event] = [event]
        for p in admin_changes:
            admin = PortAdminChanged(device=self.name, at=now, port=p.name, up=p.admin_up)
            self._emit(admin)
            events.append(admin)
        for p, was_up in zip(self._by_index, before, strict=True):
            events += self._changed(p, was_up)
        return events

    def factory_reset(self) -> list[Event]:
        """Configuration loss: the running and saved configurations go back to factory defaults
        (every port enabled, no VLANs, VLT, BGP, management address or SNMP), then a reload."""
        if self.state is not SwitchState.UP:
            raise InvalidState(f"{self.name} is {self.state.value}, not up")
        self.saved = SwitchConfig.factory()
        self.config_saved_at = None
        events = self._apply_running(SwitchConfig.factory(), "factory-reset", saved=True)
        return events + self._boot("factory-reset")

    def replace(self, serial: str) -> list[Event]:
        """A replacement switch arrives in the slot, cabled as the old one was: a new serial
        (new PSU and fan serials), no faults, factory configuration, powered and booting."""
        serial = serial.strip()
        if not re.match(r"^[\x21-\x7e]{1,32}$", serial):
            raise InvalidArgument(f"{self.name}: bad serial {serial!r} (1-32 printable characters)")
        if serial == self.serial:
            raise InvalidArgument(f"{self.name}: the replacement has the same serial {serial}")
        now = self._clock.now()
        events: list[Event] = []
        for fault, target in list(self._faults):
            events += self.clear_fault(fault, target)
        for psu in self.psus:
            events += self.set_psu_input(psu.name, True)
        events += self.power_off("replaced")
        old = self.serial
        self._set_serial(serial)
        event = SwitchReplaced(device=self.name, at=now, old_serial=old, serial=serial)
        self._emit(event)
        events.append(event)
        self.saved = SwitchConfig.factory()
        self.config_saved_at = None
        events += self._apply_running(SwitchConfig.factory(), "replaced", saved=True)
        events += self.power_on("replaced")
        return events

    def _set_serial(self, serial: str) -> None:
        self.serial = serial
        self.psus = [
            dataclasses.replace(p, serial=f"{serial}-P{i}") for i, p in enumerate(self.psus, 1)
        ]
        self.fans = [
            dataclasses.replace(f, serial=f"{serial}-F{i}") for i, f in enumerate(self.fans, 1)
        ]

    # -- faults ------------------------------------------------------------------------------
    @property
    def active_faults(self) -> list[tuple[SwitchFault, str]]:
        return list(self._faults)

    def _fault_key(self, fault: SwitchFault | str, target: str) -> tuple[SwitchFault, str]:
        try:
            kind = SwitchFault(fault)
        except ValueError:
            kinds = ", ".join(f.value for f in SwitchFault)
            raise InvalidArgument(f"unknown switch fault {fault!r} (one of {kinds})") from None
        if kind is SwitchFault.POWER:
            if target:
                raise InvalidArgument(f"{self.name}: a power fault takes no target, not {target!r}")
            return kind, ""
        if not target:
            raise InvalidArgument(f"{self.name}: a {kind.value} fault names its {kind.value}")
        if kind is SwitchFault.PSU:
            self._psu(target)
        elif kind is SwitchFault.FAN and target not in {f.name for f in self.fans}:
            raise NotFound(f"{self.name} has no fan {target!r}")
        elif kind is SwitchFault.PORT:
            self._port(target)
        return kind, target

    def inject_fault(self, fault: SwitchFault | str, target: str = "") -> list[Event]:
        """Break a part: NotFound for an unknown part, InvalidArgument for a bad target,
        InvalidState if that fault is already active; nothing changes when it raises."""
        key = self._fault_key(fault, target)
        if key in self._faults:
            raise InvalidState(f"{self.name}: fault {key[0].value} {target} is already active")
        self._faults[key] = None
        return self._set_fault(key, True)

    def clear_fault(self, fault: SwitchFault | str, target: str = "") -> list[Event]:
        """Repair a part (InvalidState if that fault is not active)."""
        key = self._fault_key(fault, target)
        if key not in self._faults:
            raise InvalidState(f"{self.name}: fault {key[0].value} {target} is not active")
        del self._faults[key]
        return self._set_fault(key, False)

    def _set_fault(self, key: tuple[SwitchFault, str], active: bool) -> list[Event]:
        kind, target = key
        events: list[Event] = []
        fault_event = SwitchFaultChanged(
            device=self.name, at=self._clock.now(), fault=kind.value, target=target, active=active
        )
        if kind is SwitchFault.POWER:
            for psu in self.psus:
                events += self.set_psu_input(psu.name, not active)
        elif kind is SwitchFault.PSU:
            events += self.fail_psu(target, active)
        elif kind is SwitchFault.FAN:
            events += self.fail_fan(target, active)
        else:
            p = self._port(target)
            before = p.oper_up
            p.failed = active
            # First the fault (the rack's far ends follow what this port sends), then the link.
            self._emit(fault_event)
            return [fault_event, *self._changed(p, before)]
        self._emit(fault_event)
        return [*events, fault_event]

    # -- state that outlives the process -----------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything the switch holds, JSON-safe: serial, running and saved configuration,
        PSU inputs and faults (what a restart must find again)."""
        return {
            "serial": self.serial,
            "running": self.running.to_dict(),
            "saved": self.saved.to_dict(),
            "config_saved_at": self.config_saved_at,
            "psu_input": dict(self.psu_input),
            "faults": [[f.value, t] for f, t in self._faults],
            "images": self.images.to_dict(),
            "log": [e.to_list() for e in self.log],
        }

    def restore(self, data: dict[str, Any]) -> list[Event]:
        """Put a snapshot back on a freshly built switch: the same serial, configurations, PSU
        inputs and faults (a switch with no power left goes off). The whole record is checked
        first: InvalidArgument and nothing changed if any of it is bad."""
        try:
            serial = str(data["serial"])
            running = SwitchConfig.from_dict(data["running"], self.spec, self.plan.net)
            saved = SwitchConfig.from_dict(data["saved"], self.spec, self.plan.net)
            images = ImageBank(self.spec.os_version)
            if "images" in data:
                images.load(data["images"])
            log = [LogEntry(float(a), int(b), str(c), str(d)) for a, b, c, d in data.get("log", [])]
            saved_at = data["config_saved_at"]
            psu_input = {str(k): bool(v) for k, v in data["psu_input"].items()}
            faults = [self._fault_key(f, t) for f, t in data["faults"]]
        except (KeyError, TypeError, ValueError, AttributeError, NotFound) as exc:
            raise InvalidArgument(f"{self.name}: bad switch snapshot: {exc!r}") from None
        if set(psu_input) != set(self.psu_input):
            raise InvalidArgument(f"{self.name}: snapshot PSUs {sorted(psu_input)} differ")
        unknown = (running.shutdown | saved.shutdown) - set(self.ports)
        if unknown:
            raise InvalidArgument(f"{self.name}: snapshot names unknown ports {sorted(unknown)}")
        events: list[Event] = []
        self.images = images
        if serial != self.serial:
            old = self.serial
            self._set_serial(serial)
            event = SwitchReplaced(
                device=self.name, at=self._clock.now(), old_serial=old, serial=serial
            )
            self._emit(event)
            events.append(event)
        self.saved = saved
        self.config_saved_at = None if saved_at is None else float(saved_at)
        events += self._apply_running(running, "restore", saved=True)
        for key in faults:
            if key not in self._faults and key[0] is not SwitchFault.POWER:
                self._faults[key] = None
                events += self._set_fault(key, True)
        for psu, has_input in psu_input.items():
            events += self.set_psu_input(psu, has_input)
        if (SwitchFault.POWER, "") in faults:
            self._faults[(SwitchFault.POWER, "")] = None
            events.append(
                SwitchFaultChanged(
                    device=self.name, at=self._clock.now(), fault="power", target="", active=True
                )
            )
            self._emit(events[-1])
        # The log as it was (what restoring did is not news to the switch).
        self.log.clear()
        self.log.extend(log)
        return events

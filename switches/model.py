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
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from nodes.clock import Clock, Timer
from nodes.errors import InvalidArgument, InvalidState, NotFound
from nodes.events import Event, EventSink, LinkChanged
from nodes.sensors import Lag
from switches.events import (
    ConfigSaved,
    FanChanged,
    PortAdminChanged,
    PsuChanged,
    SwitchBooted,
    SwitchConfigChanged,
    SwitchFaultChanged,
    SwitchReplaced,
    SwitchState,
    SwitchStateChanged,
)
from switches.spec import SwitchRole, SwitchSpec
from switches.traffic import Counters, TrafficMeter, TrafficProfile

__all__ = [
    "FACTORY_HOSTNAME",
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

    @classmethod
    def factory(cls) -> SwitchConfig:
        return cls(False, FACTORY_HOSTNAME, "", "", "")

    @classmethod
    def deployed(cls, spec: SwitchSpec) -> SwitchConfig:
        return cls(True, spec.name, spec.snmp.contact, spec.snmp.location, spec.config_build)

    def to_dict(self) -> dict[str, Any]:
        return {
            "provisioned": self.provisioned,
            "hostname": self.hostname,
            "contact": self.contact,
            "location": self.location,
            "build": self.build,
            "shutdown": sorted(self.shutdown),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SwitchConfig:
        try:
            return cls(
                bool(data["provisioned"]),
                str(data["hostname"]),
                str(data["contact"]),
                str(data["location"]),
                str(data["build"]),
                frozenset(str(p) for p in data["shutdown"]),
            )
        except (KeyError, TypeError) as exc:
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
        self._emit = emit
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
        self.os_version = spec.os_version
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

    def reboot(self, cause: str = "reload") -> list[Event]:
        """``reload``: the OS restarts; the agent is silent until the boot ends."""
        if self.state is not SwitchState.UP:
            raise InvalidState(f"{self.name} is {self.state.value}, not up")
        return self._boot(cause)

    def _boot(self, cause: str) -> list[Event]:
        events = self._enter(SwitchState.BOOTING, cause)
        self._boot_timer = self._clock.call_later(self.spec.boot_s, self._boot_done)
        return events

    def _boot_done(self) -> None:
        self._boot_timer = None
        now = self._clock.now()
        self.boot_count += 1
        self.booted_at = now
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
    def save_config(self) -> list[Event]:
        """``write memory``."""
        if self.state is not SwitchState.UP:
            raise InvalidState(f"{self.name} is {self.state.value}, not up")
        self.saved = self.running
        now = self._clock.now()
        self.config_saved_at = now
        event = ConfigSaved(device=self.name, at=now, build=self.saved.build)
        self._emit(event)
        return [event]

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
        lines += ["!", f"hostname {cfg.hostname}", "lldp enable", "!"]
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
        for p in self._by_index:
            description = p.alias if cfg.provisioned else ""
            lines += [
                "!",
                f"interface {p.name}",
                f" description {description}" if description else " no description",
                f" speed {p.speed_gbps * 1000}",
                " shutdown" if p.name in cfg.shutdown else " no shutdown",
            ]
        lines += ["!", "end"]
        return "\n".join(lines) + "\n"

    def parse_config(self, text: str) -> SwitchConfig:
        """Read a configuration text (as :meth:`running_config` writes it, e.g. a backup kept
        on the HLH). Raises InvalidArgument naming the line for anything it does not know, an
        unknown interface, or a text without a hostname; nothing changes. Interface speeds and
        descriptions are read but not applied (the hardware's and the cabling's), nor are SNMP
        lines (their keys are masked: the topology's users and communities come back with a
        deployment configuration)."""
        build = ""
        provisioned = False
        hostname: str | None = None
        contact = location = ""
        shutdown: set[str] = set()
        interface: str | None = None
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.rstrip()

            def bad(why: str, number: int = number, raw: str = raw) -> InvalidArgument:
                return InvalidArgument(f"{self.name}: configuration line {number}: {why}: {raw!r}")

            if not line:
                continue
            if line.startswith("!"):
                m = re.match(r"^! Build (\S+) generated by scaleunit for ", line)
                if m:
                    build, provisioned = m.group(1), True
                interface = None
                continue
            if line.startswith(" "):
                command = line.strip()
                if interface is None:
                    raise bad("an interface command outside an interface")
                if command == "shutdown":
                    shutdown.add(interface)
                elif command == "no shutdown":
                    shutdown.discard(interface)
                elif not re.match(r"^(no description|description \S.*|speed \d+)$", command):
                    raise bad("unknown interface command")
                continue
            interface = None
            if m := re.match(r"^hostname ([A-Za-z0-9][A-Za-z0-9-]{0,62})$", line):
                hostname = m.group(1)
            elif m := re.match(r'^snmp-server (contact|location) "([^"]*)"$', line):
                if m.group(1) == "contact":
                    contact = m.group(2)
                else:
                    location = m.group(2)
            elif m := re.match(r"^interface (\S+)$", line):
                if m.group(1) not in self.ports:
                    raise bad(f"{self.name} has no interface {m.group(1)!r}")
                interface = m.group(1)
            elif line in ("lldp enable", "end") or re.match(
                r"^snmp-server (community \S+ (ro|rw)|user \S+ (ro|rw) auth \S+ .*)$", line
            ):
                continue
            else:
                raise bad("unknown command")
        if hostname is None:
            raise InvalidArgument(f"{self.name}: configuration has no hostname line")
        return SwitchConfig(provisioned, hostname, contact, location, build, frozenset(shutdown))

    def load_config(self, text: str) -> list[Event]:
        """``copy <backup> running-configuration``: the text becomes the running configuration
        (ports shut or enabled as it says). Not saved: ``save_config`` after validating, as the
        OEM procedure does. Refused while the switch is not up; a bad text changes nothing."""
        if self.state is not SwitchState.UP:
            raise InvalidState(f"{self.name} is {self.state.value}, not up")
        cfg = self.parse_config(text)
        return self._apply_running(cfg, "load", saved=False)

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
        }

    def restore(self, data: dict[str, Any]) -> list[Event]:
        """Put a snapshot back on a freshly built switch: the same serial, configurations, PSU
        inputs and faults (a switch with no power left goes off). The whole record is checked
        first: InvalidArgument and nothing changed if any of it is bad."""
        try:
            serial = str(data["serial"])
            running = SwitchConfig.from_dict(data["running"])
            saved = SwitchConfig.from_dict(data["saved"])
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
        return events

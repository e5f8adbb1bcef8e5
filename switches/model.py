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

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from nodes.clock import Clock, Timer
from nodes.errors import InvalidState, NotFound
from nodes.events import Event, EventSink, LinkChanged
from nodes.sensors import Lag
from switches.events import (
    ConfigSaved,
    FanChanged,
    PortAdminChanged,
    PsuChanged,
    SwitchBooted,
    SwitchState,
    SwitchStateChanged,
)
from switches.spec import SwitchRole, SwitchSpec
from switches.traffic import Counters, TrafficMeter, TrafficProfile

__all__ = ["Neighbour", "Port", "PortRole", "Switch", "SwitchState"]


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
        self.peer_up = False  # whether the far end transmits
        self.switch_up = False  # whether this switch is UP (ports are dark otherwise)
        self.changed_at = at
        self.neighbour_since = at
        self.meter = TrafficMeter(PROFILES[PortRole.UNUSED], phase=0.0)

    @property
    def driving(self) -> bool:
        """Whether this end transmits (the far end sees a link)."""
        return self.switch_up and self.admin_up

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
        #: Ports shut in the saved configuration (what a boot loads).
        self.saved_shutdown: frozenset[str] = frozenset()
        self.config_saved_at: float | None = None
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
        for p in self._by_index:
            p.admin_up = p.name not in self.saved_shutdown
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
        penalty = 1.0 + 0.3 * len(self.failed_fans)
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
        self.saved_shutdown = frozenset(p.name for p in self._by_index if not p.admin_up)
        now = self._clock.now()
        self.config_saved_at = now
        event = ConfigSaved(device=self.name, at=now, build=self.spec.config_build)
        self._emit(event)
        return [event]

    def running_config(self) -> str:
        return self._render({p.name for p in self._by_index if not p.admin_up})

    def saved_config(self) -> str:
        return self._render(set(self.saved_shutdown))

    def _render(self, shutdown: set[str]) -> str:
        """The configuration as text, OS10 style. Generated from the topology: the same spec and
        the same shut ports give the same text, byte for byte."""
        s = self.spec
        lines = [
            f"! Version {self.os_version}",
            f"! Build {s.config_build} generated by scaleunit for {s.name} ({s.model} {s.serial})",
            "!",
            f"hostname {s.name}",
            "lldp enable",
            "!",
        ]
        if s.snmp.contact:
            lines.append(f'snmp-server contact "{s.snmp.contact}"')
        if s.snmp.location:
            lines.append(f'snmp-server location "{s.snmp.location}"')
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
            lines += [
                "!",
                f"interface {p.name}",
                f" description {p.alias}" if p.alias else " no description",
                f" speed {p.speed_gbps * 1000}",
                " shutdown" if p.name in shutdown else " no shutdown",
            ]
        lines += ["!", "end"]
        return "\n".join(lines) + "\n"

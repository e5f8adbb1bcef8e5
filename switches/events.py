"""What happened to a switch: frozen, past-tense events on the rack's bus.

Port link changes reuse :class:`nodes.events.LinkChanged` (``device`` is the switch, ``port`` the
front-panel port), so that one subscriber sees node and switch links alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from nodes.events import Event


class SwitchState(StrEnum):
    OFF = "off"
    BOOTING = "booting"
    UP = "up"


@dataclass(frozen=True, kw_only=True)
class SwitchEvent(Event):
    _log_name = "switch.event"

    @property
    def name(self) -> str:
        return self._log_name


@dataclass(frozen=True, kw_only=True)
class SwitchStateChanged(SwitchEvent):
    """Power or boot state changed; ``cause`` says why (power-off, power-on, reboot, ...)."""

    _log_name = "switch.state"
    old: SwitchState
    new: SwitchState
    cause: str


@dataclass(frozen=True, kw_only=True)
class SwitchBooted(SwitchEvent):
    """The OS finished booting (the agent answers again and sends coldStart)."""

    _log_name = "switch.booted"
    os_version: str
    boot_count: int


@dataclass(frozen=True, kw_only=True)
class PortAdminChanged(SwitchEvent):
    """A port was shut down (``up`` False) or enabled by configuration."""

    _log_name = "port.admin"
    port: str
    up: bool


@dataclass(frozen=True, kw_only=True)
class PsuChanged(SwitchEvent):
    """A PSU's health changed: ``ok`` False when it failed or lost its input."""

    _log_name = "psu.changed"
    psu: str
    ok: bool
    reason: str


@dataclass(frozen=True, kw_only=True)
class FanChanged(SwitchEvent):
    _log_name = "fan.changed"
    fan: str
    ok: bool


@dataclass(frozen=True, kw_only=True)
class ConfigSaved(SwitchEvent):
    """``write memory``: the running configuration became the saved one."""

    _log_name = "config.saved"
    build: str


@dataclass(frozen=True, kw_only=True)
class SwitchFaultChanged(SwitchEvent):
    """A fault was injected (``active``) or cleared: ``fault`` is a
    :class:`~switches.model.SwitchFault` value, ``target`` the part ("" for power)."""

    _log_name = "switch.fault"
    fault: str
    target: str
    active: bool


@dataclass(frozen=True, kw_only=True)
class SwitchConfigChanged(SwitchEvent):
    """The running (and with ``saved`` the saved) configuration was replaced: ``cause`` is
    "load" (a backup loaded), "factory-reset", "replaced" or "restore"; ``provisioned`` whether
    it is the deployment configuration (VLANs, VLT, BGP, management address, SNMP) or the
    factory one."""

    _log_name = "config.changed"
    cause: str
    provisioned: bool
    saved: bool


@dataclass(frozen=True, kw_only=True)
class SwitchReplaced(SwitchEvent):
    """A replacement switch arrived in the slot: a new serial, factory configuration."""

    _log_name = "switch.replaced"
    old_serial: str
    serial: str


@dataclass(frozen=True, kw_only=True)
class CliLogin(SwitchEvent):
    """A login to the switch's CLI: ``ok``, or why not (``bad-password``, ``unknown-user``,
    ``locked-out``: refused while locked; ``lockout``: this failure locked the user out)."""

    _log_name = "cli.login"
    user: str
    address: str
    ok: bool
    reason: str


@dataclass(frozen=True, kw_only=True)
class SwitchChangeMade(SwitchEvent):
    """Someone changed the switch over its CLI: who, from which address, what (a command with
    any password masked)."""

    _log_name = "cli.change"
    user: str
    address: str
    action: str


@dataclass(frozen=True, kw_only=True)
class ImageInstallChanged(SwitchEvent):
    """``image install``: ``state`` in-progress, completed or failed (``detail`` says why), into
    ``partition`` (the standby one)."""

    _log_name = "image.install"
    partition: str
    version: str
    state: str
    detail: str


@dataclass(frozen=True, kw_only=True)
class BootPartitionSet(SwitchEvent):
    """``boot system``: the partition the next boot loads."""

    _log_name = "image.boot"
    partition: str
    version: str


@dataclass(frozen=True, kw_only=True)
class OsVersionChanged(SwitchEvent):
    """The running OS version changed: ``cause`` boot (another partition booted) or drift (the
    running image differs from what was installed: the switch-os-drift fault)."""

    _log_name = "os.version"
    old: str
    new: str
    cause: str

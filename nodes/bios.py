"""BIOS setup attributes: a typed registry, current values, and settings pending a host reset.

Rules it keeps:

* The attributes are a fixed registry (:data:`ATTRIBUTES`): each has a type (enumeration,
  integer, string), its allowed values or bounds, a default, and may be read-only.
* ``stage`` checks every requested change first (unknown name, read-only, wrong type, value not
  allowed, out of range, too long) and raises :class:`BiosSettingsRejected` listing *all*
  problems without changing anything; otherwise the changes join the pending settings.
* Pending settings take effect when the host next enters POST (``host_reset``, called by the node
  as POST begins, like a staged BIOS firmware image); the pending set is then empty.
* ``reset_defaults`` stages every writable attribute's default: also applied at the next reset.
* Each change is an event: :class:`~nodes.events.BiosSettingsStaged` when the pending set
  changes, :class:`~nodes.events.BiosSettingsApplied` when settings take effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from nodes.clock import Clock
from nodes.errors import InvalidArgument
from nodes.events import BiosSettingsApplied, BiosSettingsStaged, Event, EventSink

BiosValue = str | int


class AttributeType(StrEnum):
    ENUMERATION = "enumeration"
    INTEGER = "integer"
    STRING = "string"


@dataclass(frozen=True)
class BiosAttribute:
    name: str
    display_name: str
    help: str
    kind: AttributeType
    default: BiosValue
    values: tuple[str, ...] = ()
    lower: int | None = None
    upper: int | None = None
    max_length: int | None = None
    read_only: bool = False
    menu: str = "SystemBios"


def _enum(name: str, display: str, help_: str, default: str, *values: str) -> BiosAttribute:
    return BiosAttribute(name, display, help_, AttributeType.ENUMERATION, default, values)


_ON_OFF = ("Enabled", "Disabled")

#: The BIOS setup attributes every node has.
ATTRIBUTES: Final[tuple[BiosAttribute, ...]] = (
    _enum("BootMode", "Boot Mode", "UEFI or legacy BIOS boot.", "Uefi", "Uefi", "Bios"),
    _enum(
        "ProcVirtualization",
        "Virtualization Technology",
        "Hardware virtualization (VT-x/AMD-V).",
        "Enabled",
        *_ON_OFF,
    ),
    _enum("LogicalProc", "Logical Processor", "Simultaneous multithreading.", "Enabled", *_ON_OFF),
    _enum("ProcTurboMode", "Turbo Mode", "Processor turbo boost.", "Enabled", *_ON_OFF),
    _enum(
        "SysProfile",
        "System Profile",
        "Power and performance profile.",
        "PerfPerWattOptimizedDapc",
        "PerfPerWattOptimizedDapc",
        "PerfPerWattOptimizedOs",
        "PerfOptimized",
        "Custom",
    ),
    _enum("SriovGlobalEnable", "SR-IOV Global Enable", "PCIe SR-IOV.", "Disabled", *_ON_OFF),
    _enum("SecureBoot", "Secure Boot", "UEFI Secure Boot.", "Disabled", *_ON_OFF),
    _enum("MemTest", "System Memory Testing", "Memory test during POST.", "Disabled", *_ON_OFF),
    _enum("NumLock", "Keyboard NumLock", "NumLock state at boot.", "On", "On", "Off"),
    _enum(
        "SerialComm",
        "Serial Communication",
        "Serial console redirection.",
        "OnConRedirCom1",
        "OnNoConRedir",
        "OnConRedirCom1",
        "OnConRedirCom2",
        "Off",
    ),
    _enum("PxeDev1EnDis", "PXE Device 1", "PXE boot on the first NIC.", "Enabled", *_ON_OFF),
    _enum(
        "AcPwrRcvryDelay",
        "AC Power Recovery Delay",
        "Delay before powering on after AC returns.",
        "Immediate",
        "Immediate",
        "User",
        "Random",
    ),
    BiosAttribute(
        "AcPwrRcvryUserDelay",
        "User Defined Delay (60 to 600 sec)",
        "Delay used when AC Power Recovery Delay is User.",
        AttributeType.INTEGER,
        60,
        lower=60,
        upper=600,
    ),
    BiosAttribute(
        "AssetTag",
        "Asset Tag",
        "Asset tag shown in setup.",
        AttributeType.STRING,
        "",
        max_length=63,
    ),
    BiosAttribute(
        "SystemServiceTag",
        "Service Tag",
        "The system's serial number.",
        AttributeType.STRING,
        "",
        max_length=63,
        read_only=True,
    ),
)


class Problem(StrEnum):
    UNKNOWN = "unknown"
    READ_ONLY = "read-only"
    WRONG_TYPE = "wrong-type"
    NOT_IN_LIST = "not-in-list"
    OUT_OF_RANGE = "out-of-range"
    TOO_LONG = "too-long"


@dataclass(frozen=True)
class SettingProblem:
    name: str
    problem: Problem
    value: object


class BiosSettingsRejected(InvalidArgument):
    """Requested BIOS settings were refused; nothing was staged."""

    def __init__(self, problems: tuple[SettingProblem, ...]) -> None:
        super().__init__("; ".join(f"{p.name}: {p.problem}" for p in problems))
        self.problems = problems


def check_value(attr: BiosAttribute, value: object) -> Problem | None:
    if attr.read_only:
        return Problem.READ_ONLY
    if attr.kind is AttributeType.INTEGER:
        if type(value) is not int:
            return Problem.WRONG_TYPE
        if (attr.lower is not None and value < attr.lower) or (
            attr.upper is not None and value > attr.upper
        ):
            return Problem.OUT_OF_RANGE
        return None
    if not isinstance(value, str):
        return Problem.WRONG_TYPE
    if attr.kind is AttributeType.ENUMERATION and value not in attr.values:
        return Problem.NOT_IN_LIST
    if attr.max_length is not None and len(value) > attr.max_length:
        return Problem.TOO_LONG
    return None


class Bios:
    """A node's BIOS settings. Synchronous; changes go to the sink as events."""

    def __init__(
        self,
        device: str,
        clock: Clock,
        emit: EventSink,
        initial: Mapping[str, BiosValue] | None = None,
        registry: tuple[BiosAttribute, ...] = ATTRIBUTES,
    ) -> None:
        self._device = device
        self._clock = clock
        self._emit = emit
        self.registry: dict[str, BiosAttribute] = {a.name: a for a in registry}
        self._current: dict[str, BiosValue] = {a.name: a.default for a in registry}
        for name, value in (initial or {}).items():
            if name not in self.registry:
                raise InvalidArgument(f"no BIOS attribute {name!r}")
            self._current[name] = value
        self._pending: dict[str, BiosValue] = {}

    @property
    def current(self) -> dict[str, BiosValue]:
        return dict(self._current)

    @property
    def pending(self) -> dict[str, BiosValue]:
        return dict(self._pending)

    def check(self, changes: Mapping[str, object]) -> tuple[SettingProblem, ...]:
        problems = []
        for name, value in changes.items():
            attr = self.registry.get(name)
            problem = Problem.UNKNOWN if attr is None else check_value(attr, value)
            if problem is not None:
                problems.append(SettingProblem(name, problem, value))
        return tuple(problems)

    def _staged(self) -> list[Event]:
        event = BiosSettingsStaged(
            device=self._device, at=self._clock.now(), names=tuple(sorted(self._pending))
        )
        self._emit(event)
        return [event]

    def stage(self, changes: Mapping[str, object]) -> list[Event]:
        """Add ``changes`` to the settings applied at the next host reset (all or none)."""
        problems = self.check(changes)
        if problems:
            raise BiosSettingsRejected(problems)
        valid: dict[str, BiosValue] = {}
        for name, value in changes.items():
            assert isinstance(value, str | int)
            valid[name] = value
        if not valid:
            return []
        self._pending.update(valid)
        return self._staged()

    def clear_pending(self) -> list[Event]:
        if not self._pending:
            return []
        self._pending.clear()
        return self._staged()

    def reset_defaults(self) -> list[Event]:
        """Stage every writable attribute's default (Redfish ResetBios, setup's "load defaults")."""
        self._pending = {a.name: a.default for a in self.registry.values() if not a.read_only}
        return self._staged()

    def host_reset(self) -> list[Event]:
        """The host entered POST: pending settings take effect."""
        if not self._pending:
            return []
        changes = tuple(
            (name, str(self._current[name]), str(value))
            for name, value in sorted(self._pending.items())
            if self._current[name] != value
        )
        self._current.update(self._pending)
        self._pending.clear()
        event = BiosSettingsApplied(device=self._device, at=self._clock.now(), changes=changes)
        self._emit(event)
        return [event]

    # -- persistence -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"current": dict(self._current), "pending": dict(self._pending)}

    def restore(self, data: dict[str, Any]) -> None:
        """Put back current and pending settings (names this registry does not know are
        dropped: a newer emulator may have removed one)."""
        self._current = {a.name: a.default for a in self.registry.values()}
        self._current.update({k: v for k, v in data["current"].items() if k in self.registry})
        self._pending = {k: v for k, v in data["pending"].items() if k in self.registry}

"""What happened: frozen, past-tense events.

Every model command returns the events it caused at once; transitions that complete later (a POST
that ends, a BMC that comes back) are delivered through the :class:`EventSink` the model was given.
Every event names its ``device`` and carries the emulated time ``at`` it happened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nodes.firmware import JobState, UpdateStep
    from nodes.power import HostState
    from nodes.sel import SelRecord


@dataclass(frozen=True, kw_only=True)
class Event:
    device: str
    at: float

    @property
    def name(self) -> str:
        """A dotted name for logs, e.g. ``power.changed``."""
        return _EVENT_NAMES.get(type(self).__name__, type(self).__name__)


@dataclass(frozen=True, kw_only=True)
class PowerChanged(Event):
    old: HostState
    new: HostState
    cause: str


@dataclass(frozen=True, kw_only=True)
class SelRecordAdded(Event):
    record: SelRecord


@dataclass(frozen=True, kw_only=True)
class SelCleared(Event):
    pass


@dataclass(frozen=True, kw_only=True)
class BootOverrideChanged(Event):
    target: str
    persistent: bool
    uefi: bool


@dataclass(frozen=True, kw_only=True)
class IdentifyChanged(Event):
    on: bool
    until: float | None


@dataclass(frozen=True, kw_only=True)
class PowerRestorePolicyChanged(Event):
    policy: str


@dataclass(frozen=True, kw_only=True)
class BmcResetStarted(Event):
    kind: str
    until: float


@dataclass(frozen=True, kw_only=True)
class BmcReady(Event):
    pass


@dataclass(frozen=True, kw_only=True)
class UserChanged(Event):
    """A BMC user was changed; ``what`` names the field, never the password itself."""

    user_id: int
    what: str


@dataclass(frozen=True, kw_only=True)
class AccountLocked(Event):
    """Too many failed logins: the user is refused until ``until`` (or an unlock)."""

    user_id: int
    until: float


@dataclass(frozen=True, kw_only=True)
class AccountUnlocked(Event):
    """A lockout ended: ``cause`` is "expired", "unlocked" (by an administrator) or
    "deleted" (the account went)."""

    user_id: int
    cause: str


@dataclass(frozen=True, kw_only=True)
class PsuInputChanged(Event):
    psu: str
    has_input: bool


@dataclass(frozen=True, kw_only=True)
class LinkChanged(Event):
    port: str
    up: bool
    peer: str = field(default="")


@dataclass(frozen=True, kw_only=True)
class FirmwareUpdateProgressed(Event):
    """An update job changed state or step; ``step`` is None while the job is new."""

    job_id: str
    component: str
    state: JobState
    percent: int
    step: UpdateStep | None
    message: str


@dataclass(frozen=True, kw_only=True)
class FirmwareChanged(Event):
    """A component now runs another firmware version."""

    component: str
    old: str
    new: str
    job_id: str


@dataclass(frozen=True, kw_only=True)
class VirtualMediaChanged(Event):
    """A virtual media slot got an image, lost it, or changed its inserted/write-protect state."""

    slot: str
    image: str
    inserted: bool
    write_protected: bool


@dataclass(frozen=True, kw_only=True)
class BiosSettingsStaged(Event):
    """BIOS settings waiting for the next host reset changed (``names`` of those pending)."""

    names: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class BiosSettingsApplied(Event):
    """Pending BIOS settings took effect as the host entered POST: (name, old, new) each."""

    changes: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True, kw_only=True)
class SelRecordDeleted(Event):
    record_id: int


@dataclass(frozen=True, kw_only=True)
class SelFull(Event):
    """The SEL is full: it takes no more records (its overflow flag is set) until cleared."""


@dataclass(frozen=True, kw_only=True)
class SelTimeSet(Event):
    """The SEL clock was set (its offset from the emulated clock changed)."""

    offset: float


@dataclass(frozen=True, kw_only=True)
class LockoutPolicyChanged(Event):
    threshold: int
    duration_s: float
    counter_reset_s: float


@dataclass(frozen=True, kw_only=True)
class PartFaultChanged(Event):
    """A part failed (``faulted``) or its fault ended. ``part_kind`` is the fault's name
    ("psu", "fan", "dimm", "data-disk", "boot-drive", "nic-port", "os-hang", "bmc-hang"),
    ``part`` the part ("PSU1", "A3"; "" for the host OS or the BMC), ``cause`` why it ended
    ("cleared", "replaced", "reset", "ac-cycle"...)."""

    part_kind: str
    part: str
    faulted: bool
    summary: str
    cause: str = ""


@dataclass(frozen=True, kw_only=True)
class OsStateChanged(Event):
    """The host OS stopped answering (crash or hang) or runs again (a new boot)."""

    responsive: bool
    cause: str


@dataclass(frozen=True, kw_only=True)
class MemoryMappedOut(Event):
    """POST left DIMMs out of the memory map (``slots``; empty: every DIMM is in use)."""

    slots: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class PartReplaced(Event):
    """A part was swapped for a new one (its serial number)."""

    part_kind: str
    part: str
    serial: str


@dataclass(frozen=True, kw_only=True)
class NodeReplaced(Event):
    """A whole replacement node arrived in the slot: new serial and GUID, factory state."""

    serial: str
    guid: str


@dataclass(frozen=True, kw_only=True)
class NodeRestored(Event):
    """The node's state was put back from a snapshot (after an emulator restart)."""

    host_was_on: bool


_EVENT_NAMES = {
    "PowerChanged": "power.changed",
    "SelRecordAdded": "sel.added",
    "SelCleared": "sel.cleared",
    "BootOverrideChanged": "boot.override",
    "IdentifyChanged": "identify.changed",
    "PowerRestorePolicyChanged": "power.policy",
    "BmcResetStarted": "bmc.reset",
    "BmcReady": "bmc.ready",
    "UserChanged": "user.changed",
    "AccountLocked": "account.locked",
    "AccountUnlocked": "account.unlocked",
    "PsuInputChanged": "psu.input",
    "LinkChanged": "link.changed",
    "FirmwareUpdateProgressed": "firmware.update",
    "FirmwareChanged": "firmware.changed",
    "VirtualMediaChanged": "media.changed",
    "BiosSettingsStaged": "bios.staged",
    "BiosSettingsApplied": "bios.applied",
    "SelRecordDeleted": "sel.deleted",
    "SelTimeSet": "sel.time",
    "SelFull": "sel.full",
    "LockoutPolicyChanged": "account.policy",
    "PartFaultChanged": "part.fault",
    "OsStateChanged": "os.state",
    "MemoryMappedOut": "memory.mapped-out",
    "PartReplaced": "part.replaced",
    "NodeReplaced": "node.replaced",
    "NodeRestored": "node.restored",
}

EventSink = Callable[[Event], None]


class EventBus:
    """Fans events out to subscribers, in subscription order."""

    def __init__(self) -> None:
        self._subscribers: list[EventSink] = []

    def subscribe(self, sink: EventSink) -> Callable[[], None]:
        self._subscribers.append(sink)

        def unsubscribe() -> None:
            if sink in self._subscribers:
                self._subscribers.remove(sink)

        return unsubscribe

    def __call__(self, event: Event) -> None:
        for sink in list(self._subscribers):
            sink(event)

"""The BMC's own life: standby power, resets, hangs, and when it answers again.

Rules it keeps:

* The BMC runs on standby power, which any PSU with input gives (a failed supply's standby rail
  still feeds it): both PSUs failed leave the BMC up and the host off.
* A reset (cold or warm) makes it unreachable for ``bmc_cold_reset_s`` / ``bmc_warm_reset_s``
  (``BmcResetStarted``, then ``BmcReady``); the host keeps running, and a firmware update that
  waits for a BMC reset activates.
* A hung BMC (the ``bmc-hang`` fault) answers nothing until the fault is cleared, the BMC is
  reset, or it loses standby power and gets it back (it boots afresh): the last two end the
  fault with cause ``bmc-reset`` / ``ac-cycle``.
* Losing and regaining standby power is an AC loss and return for the firmware updater.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from nodes.clock import Timer
from nodes.events import BmcReady, BmcResetStarted, Event, EventSink
from nodes.faults import NodeFault

if TYPE_CHECKING:
    from nodes.node import Node


class BmcResetKind(StrEnum):
    COLD = "cold"
    WARM = "warm"


class BmcLifecycle:
    """When one node's BMC answers: its resets, its hang, its standby power."""

    def __init__(self, node: Node, emit: EventSink) -> None:
        self._node = node
        self._emit = emit
        self.ready_at = node.clock.now()
        self.resets = 0
        self.hung = False
        self._timer: Timer | None = None

    def powered(self) -> bool:
        """Whether the BMC has standby power: some PSU has input."""
        return any(self._node.psu_input.values())

    def answering(self) -> bool:
        """Whether the BMC's firmware is up and not hung."""
        return not self.hung and self._node.clock.now() >= self.ready_at

    def reset(self, kind: BmcResetKind) -> list[Event]:
        """Restart the BMC: unreachable for a while, the host keeps running."""
        node = self._node
        kind = BmcResetKind(kind)
        seconds = (
            node.timings.bmc_cold_reset_s
            if kind is BmcResetKind.COLD
            else node.timings.bmc_warm_reset_s
        )
        now = node.clock.now()
        self.ready_at = now + seconds
        self.resets += 1
        if self._timer is not None:
            self._timer.cancel()
        self._timer = node.clock.call_at(self.ready_at, self._back)
        event = BmcResetStarted(device=node.name, at=now, kind=kind.value, until=self.ready_at)
        self._emit(event)
        events: list[Event] = [event]
        if self.hung:  # a restart gets a hung BMC going again
            events += node.fault_book.end(NodeFault.BMC_HANG, "", "bmc-reset")
        return [*events, *node.updater.bmc_reset_started()]

    def _back(self) -> None:
        self._timer = None
        self._node.updater.bmc_back()
        self._emit(BmcReady(device=self._node.name, at=self._node.clock.now()))

    # the bmc-hang fault
    def hang(self) -> list[Event]:
        self.hung = True
        return []

    def unhang(self) -> list[Event]:
        self.hung = False
        return []

    # standby power
    def standby_lost(self) -> list[Event]:
        return self._node.updater.ac_lost()

    def standby_restored(self) -> list[Event]:
        """Standby power is back: the updater sees an AC return, a hung BMC boots afresh."""
        events = list(self._node.updater.ac_restored())
        if self.hung:
            events += self._node.fault_book.end(NodeFault.BMC_HANG, "", "ac-cycle")
        return events


__all__ = ["BmcLifecycle", "BmcResetKind"]

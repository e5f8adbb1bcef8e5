"""Chaos mode: random faults from a seed, reproducible.

:class:`Chaos` draws everything from one ``random.Random(seed)`` stream, on the rack's clock:

* faults arrive as a Poisson process: exponential gaps of mean ``mean_interval_s`` emulated
  seconds between arrivals;
* at an arrival, if fewer than ``max_active`` faults are active on the rack (whoever injected
  them), it picks a kind (among ``kinds``, the whole catalogue by default), then a device of that
  kind's scope, then a part, each uniformly among those the injector would accept *now* (a kind
  with nothing possible is passed over), and injects it through the :class:`FaultInjector`, so
  every rule of the injector holds: no fault twice on a part, no OS hang on a host that is off,
  no reboot of a switch that is down, nothing on a device ``eligible`` refuses (a node being
  replaced or added, say);
* each fault it injected is cleared (``cleared_by="chaos"``) after a duration drawn from the same
  stream (exponential, mean ``mean_duration_s``), as a clear planned on the injector
  (``FaultInjector.schedule_clear``): part of the fault's record, so it survives a restart, and
  retried, backing off, while the models refuse it (a switch still booting, or without power).
  Faults that end by themselves (BMC and switch reboots) are left to do so.

The same seed on the same topology, started at the same virtual time with nothing else
happening, gives the same faults at the same virtual times (:attr:`Chaos.history`). ``stop``
ends the arrivals; the faults already there end as planned (``stop(clear=True)``: now).

Time: each decision reads the clock once (an arrival's inject time and the clear it plans come
from the same reading, so a clock that moves between two reads, as the rack's scaled wall clock
does, cannot make the planned clear "in the past" and leave a fault with no end). The mean
interval is at least :data:`MIN_MEAN_INTERVAL_S` (one emulated second: more often is no test of
anything and only floods the rack), and a fault lasts at least :data:`MIN_DURATION_S`. Should
the injector refuse the planned clear all the same, chaos clears the fault at once rather than
leave it behind.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from emulator.faults import FAULT_KINDS, FaultError, FaultInjector
from emulator.logs import kv
from nodes.clock import Clock, Timer
from switches.model import Switch

__all__ = ["MAX_MEAN_INTERVAL_S", "MIN_DURATION_S", "MIN_MEAN_INTERVAL_S", "Chaos", "ChaosStep"]

#: The shortest mean interval between arrivals, in emulated seconds.
MIN_MEAN_INTERVAL_S = 1.0
#: The longest mean interval (30 days).
MAX_MEAN_INTERVAL_S = 30 * 86_400.0
#: The shortest time a fault chaos injected lasts before its planned clear.
MIN_DURATION_S = 1.0

log = logging.getLogger("emulator.chaos")


@dataclass(frozen=True)
class ChaosStep:
    """One fault chaos injected: when, what, and when it plans to clear it."""

    at: float
    fault_id: str
    kind: str
    device: str
    part: str
    clear_at: float | None


class Chaos:
    """``Chaos(injector, clock, seed=..., mean_interval_s=..., kinds=None, max_active=...)``."""

    def __init__(
        self,
        injector: FaultInjector,
        clock: Clock,
        *,
        seed: int,
        mean_interval_s: float,
        kinds: list[str] | None = None,
        max_active: int,
        mean_duration_s: float | None = None,
        eligible: Callable[[str], bool] | None = None,
    ) -> None:
        """``mean_duration_s``: how long a fault lasts on average (default: twice the mean
        interval); ``eligible(device)``: whether chaos may touch that device now."""
        if not isinstance(mean_interval_s, int | float) or not (
            MIN_MEAN_INTERVAL_S <= mean_interval_s <= MAX_MEAN_INTERVAL_S
        ):
            raise FaultError(
                f"mean_interval_s must be from {MIN_MEAN_INTERVAL_S:g} to "
                f"{MAX_MEAN_INTERVAL_S:g} emulated seconds, not {mean_interval_s!r}"
            )
        if isinstance(max_active, bool) or not isinstance(max_active, int) or max_active < 1:
            raise FaultError(f"max_active must be at least 1, not {max_active!r}")
        duration = 2.0 * mean_interval_s if mean_duration_s is None else mean_duration_s
        if not (math.isfinite(duration) and duration >= MIN_DURATION_S):
            raise FaultError(f"mean_duration_s must be a positive number, not {duration!r}")
        if kinds is not None:
            if not kinds:
                raise FaultError("kinds is empty: name at least one, or none for every kind")
            for kind in kinds:
                if kind not in FAULT_KINDS:
                    injector.check(kind, "")  # raises the injector's "did you mean" FaultError
        self.injector = injector
        self.clock = clock
        self.seed = seed
        self.mean_interval_s = float(mean_interval_s)
        self.mean_duration_s = float(duration)
        self.kinds = list(dict.fromkeys(kinds)) if kinds is not None else list(FAULT_KINDS)
        self.max_active = max_active
        self.eligible = eligible
        self._rng = random.Random(seed)
        self._arrival: Timer | None = None
        self._running = False
        #: Every fault chaos injected, in order.
        self.history: list[ChaosStep] = []
        #: Arrivals passed over because ``max_active`` faults were active or nothing was possible.
        self.skipped = 0

    @property
    def running(self) -> bool:
        return self._running

    # -- start and stop ------------------------------------------------------------------------
    def start(self) -> None:
        if self._running:
            raise FaultError("chaos is already running")
        self._running = True
        self._next_arrival()
        log.info(
            kv(
                proto="chaos",
                event="chaos.started",
                seed=self.seed,
                mean_interval_s=self.mean_interval_s,
                max_active=self.max_active,
                kinds=",".join(self.kinds),
            )
        )

    def stop(self, *, clear: bool = False) -> None:
        """No more arrivals. The faults chaos injected end at their planned time (``clear``:
        now; one the models refuse now keeps its planned clear, which retries)."""
        self._running = False
        if self._arrival is not None:
            self._arrival.cancel()
            self._arrival = None
        if clear:
            ours = {step.fault_id for step in self.history}
            for record in self.injector.records(active_only=True):
                if record.id in ours:
                    # Refused for now (a switch still booting): its planned clear retries.
                    with contextlib.suppress(FaultError):
                        self.injector.clear(record.id, by="chaos")
        log.info(kv(proto="chaos", event="chaos.stopped", seed=self.seed, faults=len(self.history)))

    # -- arrivals ------------------------------------------------------------------------------
    def _next_arrival(self) -> None:
        gap = self._rng.expovariate(1.0 / self.mean_interval_s)
        self._arrival = self.clock.call_later(gap, self._arrive)

    def _arrive(self) -> None:
        self._arrival = None
        if not self._running:
            return
        try:
            if len(self.injector.records(active_only=True)) < self.max_active:
                self._inject_one()
            else:
                self.skipped += 1
        finally:
            if self._running:
                self._next_arrival()

    def _inject_one(self) -> None:
        rng = self._rng
        now = self.clock.now()  # one reading: the inject and its planned clear
        kinds = list(self.kinds)
        rng.shuffle(kinds)
        for kind in kinds:
            choices = self._choices(kind)
            while choices:
                device, part = choices.pop(rng.randrange(len(choices)))
                try:
                    record = self.injector.inject(kind, device, part or None)
                except FaultError:
                    continue  # refused by the model now (an OS hang on a host that is off)
                duration = max(MIN_DURATION_S, rng.expovariate(1.0 / self.mean_duration_s))
                clear_at: float | None = None
                if not FAULT_KINDS[kind].ends_by_itself:
                    clear_at = now + duration
                    self._plan_clear(record.id, clear_at)
                self.history.append(ChaosStep(now, record.id, kind, device, record.part, clear_at))
                log.info(
                    kv(
                        **{FAULT_KINDS[kind].scope: device},
                        proto="chaos",
                        event="chaos.fault",
                        fault_id=record.id,
                        kind=kind,
                        part=record.part or None,
                        clear_in=f"{duration:.1f}" if clear_at is not None else None,
                    )
                )
                return
        self.skipped += 1

    def _plan_clear(self, fault_id: str, clear_at: float) -> None:
        """Plan the clear at ``clear_at``. Should the injector judge it past (its clock ran on
        since the reading ``clear_at`` came from), plan it ``MIN_DURATION_S`` after a fresh
        reading instead, and failing that clear now: a chaos fault never stays without an end."""
        try:
            self.injector.schedule_clear(fault_id, clear_at, by="chaos")
            return
        except FaultError as exc:
            reason = str(exc)
        try:
            self.injector.schedule_clear(fault_id, self.clock.now() + MIN_DURATION_S, by="chaos")
        except FaultError:
            try:
                self.injector.clear(fault_id, by="chaos")
            except FaultError as exc:
                log.error(
                    kv(proto="chaos", event="chaos.unplanned", fault_id=fault_id, reason=str(exc))
                )
                return
        log.warning(
            kv(proto="chaos", event="chaos.clear_replanned", fault_id=fault_id, reason=reason)
        )

    def _choices(self, kind: str) -> list[tuple[str, str]]:
        """Every (device, part) the injector accepts now for ``kind``, in the rack's order."""
        spec = FAULT_KINDS[kind]
        rack = self.injector.rack
        devices = list(rack.nodes) if spec.scope == "node" else list(rack.switches)
        out = []
        for device in devices:
            if self.eligible is not None and not self.eligible(device):
                continue
            parts: list[str] = self.injector.parts(kind, device) or [""]
            if spec.part == "port":
                switch = rack.switches[device]
                assert isinstance(switch, Switch)
                parts = [p for p in parts if switch.ports[p].peer]  # a dark port shows nothing
            for part in parts:
                try:
                    self.injector.check(kind, device, part or None)
                except FaultError:
                    continue
                out.append((device, part))
        return out

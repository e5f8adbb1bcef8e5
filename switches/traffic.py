"""Port counters that grow with time while a link is up, computed lazily (no periodic task).

A port's traffic follows a :class:`TrafficProfile` (one per port role): a mean byte rate in each
direction, modulated by a slow sine wave with a per-port phase so that ports and directions do not
move in lockstep. Bytes over an interval are the closed-form integral of that rate, so reading the
counters at any time is O(1) and they are strictly monotonic while the link is up. Packets, errors
and discards are fixed fractions of the bytes. While the link is down nothing is added; a reboot
resets everything to zero (as the switch's counters do).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Period of the rate modulation, emulated seconds.
PERIOD_S = 300.0
_OMEGA = 2 * math.pi / PERIOD_S


@dataclass(frozen=True)
class TrafficProfile:
    in_bytes_per_s: float
    out_bytes_per_s: float
    mean_packet_bytes: float = 900.0
    swing: float = 0.5  # the rate moves between (1 - swing) and (1 + swing) times the mean
    multicast_share: float = 0.002
    broadcast_share: float = 0.0005
    error_rate: float = 1e-9  # per packet received
    discard_rate: float = 1e-7  # per packet, each direction


@dataclass(frozen=True)
class Counters:
    """Totals since the switch booted; every field only grows until the next boot."""

    in_octets: int = 0
    out_octets: int = 0
    in_ucast: int = 0
    out_ucast: int = 0
    in_multicast: int = 0
    out_multicast: int = 0
    in_broadcast: int = 0
    out_broadcast: int = 0
    in_errors: int = 0
    out_errors: int = 0
    in_discards: int = 0
    out_discards: int = 0


class TrafficMeter:
    """Bytes carried by one port: closed intervals folded into totals, plus the open one."""

    __slots__ = ("_in", "_out", "_phase", "_up_since", "profile")

    def __init__(self, profile: TrafficProfile, phase: float) -> None:
        self.profile = profile
        self._phase = phase
        self._in = 0.0
        self._out = 0.0
        self._up_since: float | None = None

    def _integral(self, mean: float, phase: float, t0: float, t1: float) -> float:
        # The integral of mean * (1 + swing * sin(w t + phase)) dt from t0 to t1.
        swing = self.profile.swing
        return mean * (
            (t1 - t0)
            + swing / _OMEGA * (math.cos(_OMEGA * t0 + phase) - math.cos(_OMEGA * t1 + phase))
        )

    def start(self, now: float) -> None:
        if self._up_since is None:
            self._up_since = now

    def stop(self, now: float) -> None:
        if self._up_since is not None:
            self._in, self._out = self.octets(now)
            self._up_since = None

    def reset(self, now: float) -> None:
        self._in = self._out = 0.0
        if self._up_since is not None:
            self._up_since = now

    def octets(self, now: float) -> tuple[float, float]:
        if self._up_since is None or now <= self._up_since:
            return self._in, self._out
        p = self.profile
        t0 = self._up_since
        return (
            self._in + self._integral(p.in_bytes_per_s, self._phase, t0, now),
            self._out + self._integral(p.out_bytes_per_s, self._phase + 1.3, t0, now),
        )

    def counters(self, now: float) -> Counters:
        p = self.profile
        in_b, out_b = self.octets(now)
        in_pkts = in_b / p.mean_packet_bytes
        out_pkts = out_b / p.mean_packet_bytes
        mc, bc = p.multicast_share, p.broadcast_share
        uc = 1.0 - mc - bc
        return Counters(
            in_octets=int(in_b),
            out_octets=int(out_b),
            in_ucast=int(in_pkts * uc),
            out_ucast=int(out_pkts * uc),
            in_multicast=int(in_pkts * mc),
            out_multicast=int(out_pkts * mc),
            in_broadcast=int(in_pkts * bc),
            out_broadcast=int(out_pkts * bc),
            in_errors=int(in_pkts * p.error_rate),
            out_errors=0,
            in_discards=int(in_pkts * p.discard_rate),
            out_discards=int(out_pkts * p.discard_rate),
        )

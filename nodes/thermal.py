"""A node's temperatures and power draw: first-order lags, and the threshold events they cross.

Rules it keeps:

* The CPU and exhaust temperatures and the power draw each follow a :class:`~nodes.sensors.Lag`
  towards a target set by the host state (the tables below) and the ambient temperature.
* With a fan failed and the host powered, the CPU and exhaust targets rise by
  ``FAN_FAULT_*_RISE`` and their time constants lengthen: the temperatures climb over minutes,
  over the upper non-critical and then the upper critical threshold, short of non-recoverable.
* The targets move on every change of those inputs (:meth:`Thermal.retarget`); in between a
  lag moves monotonically, so the moment it crosses a threshold is exact: a timer is set for the
  next crossing, and each crossing logs an IPMI threshold event (asserted going beyond the
  limit, deasserted coming back), with the reading and the limit in event data 2 and 3.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

from nodes import sensors as sn
from nodes.clock import Timer
from nodes.power import HostState
from nodes.sel import EventType, SensorType
from nodes.sensors import Lag, SensorDef, raw_byte

if TYPE_CHECKING:
    from nodes.node import Node

#: The CPU temperature each powered state heads for (OFF: the ambient temperature).
CPU_TARGET_C: Final[dict[HostState, float]] = {
    HostState.POWERING_ON: 50.0,
    HostState.POST: 45.0,
    HostState.BOOTING: 55.0,
    HostState.RUNNING: 58.0,
    HostState.SHUTTING_DOWN: 50.0,
}
#: The power each state draws, in watts.
WATTS: Final[dict[HostState, float]] = {
    HostState.OFF: 18.0,
    HostState.POWERING_ON: 60.0,
    HostState.POST: 310.0,
    HostState.BOOTING: 280.0,
    HostState.RUNNING: 240.0,
    HostState.SHUTTING_DOWN: 200.0,
}
#: The exhaust runs this much above the ambient temperature (states not named: 12 C).
_EXHAUST_ABOVE_AMBIENT: Final[dict[HostState, float]] = {
    HostState.OFF: 1.0,
    HostState.POWERING_ON: 2.0,
}

#: With a fan failed and the host powered, the CPU and exhaust temperatures climb this much
#: above their usual targets, slowly (time constants in seconds).
FAN_FAULT_CPU_RISE: Final = 40.0
FAN_FAULT_EXHAUST_RISE: Final = 42.0
CPU_TAU: Final = 25.0
EXHAUST_TAU: Final = 40.0
CPU_TAU_FAN_FAULT: Final = 150.0
EXHAUST_TAU_FAN_FAULT: Final = 180.0
POWER_TAU: Final = 3.0

#: Threshold event offsets (IPMI 2.0 table 42-2): (threshold field, offset, upper).
_THRESHOLD_OFFSETS = (
    ("lower_non_critical", 0x00, False),
    ("lower_critical", 0x02, False),
    ("lower_non_recoverable", 0x04, False),
    ("upper_non_critical", 0x07, True),
    ("upper_critical", 0x09, True),
    ("upper_non_recoverable", 0x0B, True),
)
_THRESHOLD_NAMES = {
    "lower_non_critical": "Lower Non-critical going low",
    "lower_critical": "Lower Critical going low",
    "lower_non_recoverable": "Lower Non-recoverable going low",
    "upper_non_critical": "Upper Non-critical going high",
    "upper_critical": "Upper Critical going high",
    "upper_non_recoverable": "Upper Non-recoverable going high",
}
#: Event data 1 of a threshold event: trigger reading in byte 2, trigger threshold in byte 3.
THRESHOLD_DATA1: Final = 0x50

#: The second CPU runs this much cooler than the first.
_CPU_BIAS = {"CPU1": 0.0}
_OTHER_CPU_BIAS = -2.0


def cpu_bias(part: str) -> float:
    """How far a CPU's temperature sits from the CPU lag (CPU1 on it, the others 2 C below)."""
    return _CPU_BIAS.get(part, _OTHER_CPU_BIAS)


class Thermal:
    """The lags of one node, and the threshold events of its temperature sensors."""

    def __init__(self, node: Node) -> None:
        self._node = node
        now = node.clock.now()
        ambient = node.ambient_c
        self.cpu_lag = Lag(ambient, now, tau=CPU_TAU)
        self.exhaust_lag = Lag(ambient + 1.0, now, tau=EXHAUST_TAU)
        self.power_lag = Lag(WATTS[HostState.OFF], now, tau=POWER_TAU)
        #: Threshold events asserted now, per sensor number (threshold field names).
        self._asserted: dict[int, set[str]] = {}
        self._timer: Timer | None = None

    def lags(self) -> tuple[Lag, Lag, Lag]:
        return self.cpu_lag, self.exhaust_lag, self.power_lag

    def host_entered(self, now: float, state: HostState) -> None:
        """The host changed state: temperatures and power draw head for its targets."""
        self.retarget(now)
        self.power_lag.retarget(now, WATTS[state])

    def retarget(self, now: float) -> None:
        """Aim the temperatures at what the host state, the fans and the ambient say now."""
        node = self._node
        state = node.state
        hot = bool(node.failed_fans) and state.chassis_on
        cpu = CPU_TARGET_C.get(state, node.ambient_c)
        exhaust = node.ambient_c + _EXHAUST_ABOVE_AMBIENT.get(state, 12.0)
        if hot:
            cpu += FAN_FAULT_CPU_RISE
            exhaust += FAN_FAULT_EXHAUST_RISE
        self.cpu_lag.retarget(now, cpu)
        self.exhaust_lag.retarget(now, exhaust)
        self.cpu_lag.tau = CPU_TAU_FAN_FAULT if hot else CPU_TAU
        self.exhaust_lag.tau = EXHAUST_TAU_FAN_FAULT if hot else EXHAUST_TAU
        self._check_thresholds()

    def _sensors(self) -> list[tuple[SensorDef, Lag, float]]:
        out = []
        for s in self._node.sensors:
            if s.number == sn.EXHAUST_TEMP:
                out.append((s, self.exhaust_lag, 0.0))
            elif s.sensor_type is SensorType.TEMPERATURE and s.part.startswith("CPU"):
                out.append((s, self.cpu_lag, cpu_bias(s.part)))
        return out

    def _check_thresholds(self) -> None:
        """Log the threshold crossings of the lag-driven temperatures up to now, then set a
        timer for the next one."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        node = self._node
        now = node.clock.now()
        soonest: float | None = None
        for sensor, lag, bias in self._sensors():
            value = lag.value(now) + bias
            asserted = self._asserted.setdefault(sensor.number, set())
            for field_name, offset, upper in _THRESHOLD_OFFSETS:
                limit: float | None = getattr(sensor.thresholds, field_name)
                if limit is None:
                    continue
                beyond = value >= limit if upper else value <= limit
                if beyond != (field_name in asserted):
                    (asserted.add if beyond else asserted.discard)(field_name)
                    node.sel.log(
                        SensorType.TEMPERATURE,
                        sensor.number,
                        offset,
                        f"{sensor.name} {_THRESHOLD_NAMES[field_name]}: "
                        f"reading {value:.1f} C, threshold {limit:g} C"
                        + ("" if beyond else " (deasserted)"),
                        asserted=beyond,
                        event_type=EventType.THRESHOLD,
                        raw_data1=THRESHOLD_DATA1,
                        data2=raw_byte(sensor, value),
                        data3=raw_byte(sensor, limit),
                    )
                when = crossing(lag, limit - bias, now)
                if when is not None and (soonest is None or when < soonest):
                    soonest = when
        if soonest is not None:
            self._timer = node.clock.call_at(soonest, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self._check_thresholds()


def crossing(lag: Lag, limit: float, now: float) -> float | None:
    """When ``lag`` next crosses ``limit`` after ``now`` (None: it never does)."""
    start = lag.value(now)
    target = lag.target
    if (start - limit) * (target - limit) >= 0 or start == target:
        return None  # on the same side as its target (or on the limit): no crossing ahead
    return now + lag.tau * math.log((start - target) / (limit - target)) + 1e-6


__all__ = ["Thermal", "cpu_bias", "crossing"]

"""Health and alerts: hardware alerts from the BMCs' traps (what the SEL record means is
:mod:`nodes.sel_meaning`'s), the periodic health evaluation, opening and closing alerts."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from bmc.snmp.events import BmcTrapSent
from emulator.operator.alerts import ALERT_KINDS, Alert, AlertKind
from emulator.operator.core import ViewCore
from emulator.operator.events import (
    AlertClosed,
    AlertRaised,
)
from emulator.operator.records import Conditions
from emulator.operator.states import (
    NodeStatus,
    ScaleUnitStatus,
)
from nodes.node import Node
from nodes.power import HostState
from nodes.sel import SensorType
from nodes.sel_meaning import Level, SelMeaning, decode, threshold_level
from nodes.sensors import DRIVE_BASE
from switches.model import PortRole
from switches.spec import SwitchRole

#: The hardware alerts a trap of each IPMI sensor type may open or close (voltage, battery and
#: LAN raise none yet; the NIC port fault logs no SEL record, the network alerts cover it).
_TRAP_ALERTS: Final[dict[int, tuple[AlertKind, ...]]] = {
    SensorType.POWER_SUPPLY: (AlertKind.PSU_REDUNDANCY_LOST,),
    SensorType.FAN: (AlertKind.FAN_FAILURE,),
    SensorType.TEMPERATURE: (AlertKind.TEMPERATURE_WARNING, AlertKind.TEMPERATURE_CRITICAL),
    SensorType.MEMORY: (AlertKind.MEMORY_ERROR,),
    SensorType.DRIVE_SLOT: (
        AlertKind.DRIVE_FAILURE,
        AlertKind.BOOT_DRIVE_DEGRADED,
        AlertKind.BOOT_DRIVE_FAILED,
    ),
}

#: Traps that report an event, never deasserted: each one asserted raises its alert (if none is
#: open), which only the operator closes.
_EVENT_TRAP_ALERTS: Final[dict[int, AlertKind]] = {
    SensorType.PROCESSOR: AlertKind.PROCESSOR_ERROR,
    SensorType.CRITICAL_INTERRUPT: AlertKind.PROCESSOR_ERROR,
    SensorType.OS_STOP: AlertKind.OS_CRITICAL_STOP,
    SensorType.WATCHDOG_2: AlertKind.OS_CRITICAL_STOP,
}


def _meaning(trap: BmcTrapSent) -> SelMeaning:
    """What the SEL record behind ``trap`` means (the sender decoded it the same way)."""
    return decode(
        trap.sensor_type,
        trap.sensor_number,
        trap.event_type,
        trap.offset,
        trap.asserted,
        trap.data3,
    )


class Alerting(ViewCore):
    """Raising and closing alerts."""

    def _on_trap(self, trap: BmcTrapSent) -> None:
        """A hardware trap a member's BMC sent: raise its alert, or close it once the same
        hardware's BMC reports every condition of that kind cleared."""
        name = trap.device
        event_kind = _EVENT_TRAP_ALERTS.get(trap.sensor_type)
        kinds = _TRAP_ALERTS.get(trap.sensor_type)
        if name not in self._records or self._status is ScaleUnitStatus.STOPPED:
            return  # not a member, or nobody listens (see _evaluate)
        if kinds is None and event_kind is None:
            return  # no alert of its own
        node = self._node(name)
        hw = self._hw_id(node)
        conditions = Conditions()
        if event_kind is not None:
            if trap.asserted and _meaning(trap).level > Level.INFO:
                conditions.set(event_kind, name, True, hw)
                self._apply(conditions)
            return
        assert kinds is not None
        for old in [k for k in self._trapped if k[0] == name and k[1] != hw]:
            del self._trapped[old]  # swapped hardware: its alerts wait for the operator
        meant = _meaning(trap)
        part = 0xFF if meant.instance is None else meant.instance
        key = (name, hw, trap.sensor_type, trap.sensor_number, part)
        offsets = self._trapped.setdefault(key, set())
        bad = meant.level > Level.INFO
        if meant.one_state:
            offsets.clear()  # a redundancy sensor is in one state at a time
            if bad:
                offsets.add(trap.offset)
        elif trap.asserted and bad:
            offsets.add(trap.offset)
        elif not trap.asserted:
            offsets.discard(trap.offset)
        if not offsets:
            del self._trapped[key]
        active = self._trapped_kinds(node, hw)
        for kind in kinds:
            conditions.set(kind, name, kind in active, hw)
        self._apply(conditions)

    def _trapped_kinds(self, node: Node, hw: str) -> set[AlertKind]:
        """The hardware alerts the conditions the node's BMC trapped (and did not clear) hold."""
        found: set[AlertKind] = set()
        data_disks = len(node.spec.hardware.data_disks)
        boot_failed = 0
        for (name, key_hw, sensor_type, number, _part), offsets in self._trapped.items():
            if name != node.name or key_hw != hw:
                continue
            if sensor_type == SensorType.TEMPERATURE:
                for offset in offsets:
                    found.add(
                        AlertKind.TEMPERATURE_WARNING
                        if threshold_level(offset) is Level.WARNING
                        else AlertKind.TEMPERATURE_CRITICAL
                    )
            elif sensor_type == SensorType.DRIVE_SLOT:
                if number - DRIVE_BASE < data_disks:
                    found.add(AlertKind.DRIVE_FAILURE)
                else:
                    boot_failed += 1
            else:
                found.update(_TRAP_ALERTS.get(sensor_type, ()))
        if boot_failed:
            found.add(AlertKind.BOOT_DRIVE_DEGRADED)
        if boot_failed and boot_failed >= len(node.spec.hardware.boot_drives):
            found.add(AlertKind.BOOT_DRIVE_FAILED)
        return found

    def _evaluate(self) -> None:
        if self._status is ScaleUnitStatus.STOPPED:
            return  # the health service runs on the scale unit
        c = Conditions()
        for rec in self._records.values():
            name = rec.name
            if rec.status is NodeStatus.ADDING:
                continue
            node = self._node(name)
            host_up = node.state is HostState.RUNNING and node.os_responsive
            reachable = host_up and self._connected(name)
            c.set(AlertKind.NODE_OFFLINE, name, not host_up)
            c.set(AlertKind.NODE_NOT_CONNECTED, name, not reachable)
            c.set(
                AlertKind.NODE_NO_PLACEMENT,
                name,
                not reachable or rec.status is NodeStatus.REQUIRES_REMEDIATION,
            )
            c.set(
                AlertKind.BMC_NOT_RESPONDING,
                name,
                self._bmc_problem(name, rec.bmc_address) is not None,
            )
        uplink = False
        for switch in self.rack.switches.values():
            up = bool(getattr(switch, "up", True))
            if switch.spec.role is SwitchRole.TOR:
                c.set(AlertKind.TOR_SWITCH_DOWN, switch.name, not up)
                uplink = uplink or any(
                    p.role is PortRole.UPLINK and p.oper_up for p in switch.ports.values()
                )
            else:
                c.set(AlertKind.BMC_SWITCH_DOWN, switch.name, not up)
        c.set(AlertKind.ROUTE_PUBLICATION_FAILURE, self.name, not uplink)
        self._apply(c)

    def _apply(self, c: Conditions) -> None:
        now = self._now()
        for (kind, component), (value, hw) in c.found.items():
            for key, alert_id in list(self._open.items()):
                if key[0] is kind and key[1] == component and key[2] == hw and value is False:
                    self._close_alert(self._alerts[alert_id], "system")
            key = (kind, component, hw)
            if value is not True:
                self._seen.pop(key, None)
                continue
            if key in self._open:
                continue
            first = self._seen.setdefault(key, now)
            grace = self.settings.bmc_alert_after_s if kind is AlertKind.BMC_NOT_RESPONDING else 0
            if now - first >= grace:
                self._open_alert(kind, component, hw)

    def _open_alert(self, kind: AlertKind, component: str, hw: str) -> None:
        spec = ALERT_KINDS[kind]
        self._alert_ids += 1
        alert = Alert(
            id=f"alert-{self._alert_ids:04d}",
            kind=kind,
            title=spec.title,
            severity=spec.severity,
            component=component,
            description=spec.description.format(component=component),
            remediation=spec.remediation,
            opened_at=self._now(),
            hardware_id=hw,
        )
        self._alerts[alert.id] = alert
        self._open[(kind, component, hw)] = alert.id
        self._seen.pop((kind, component, hw), None)
        self._emit(
            AlertRaised(
                device=component,
                at=alert.opened_at,
                alert_id=alert.id,
                kind=kind,
                title=alert.title,
                severity=alert.severity,
                description=alert.description,
                remediation=alert.remediation,
            )
        )

    def _close_alert(self, alert: Alert, by: str) -> None:
        closed = replace(alert, closed_at=self._now(), closed_by=by)
        self._alerts[alert.id] = closed
        self._open.pop((alert.kind, alert.component, alert.hardware_id), None)
        self._emit(
            AlertClosed(
                device=alert.component,
                at=self._now(),
                alert_id=alert.id,
                kind=alert.kind,
                title=alert.title,
                by=by,
            )
        )

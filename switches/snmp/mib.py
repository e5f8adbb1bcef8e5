"""The MIB objects of one switch, computed from the live model when a request asks for them.

:class:`SwitchMib` is a sorted list of :class:`Column` objects: a column is an OID prefix (a
scalar, or one column of a table), the sorted row indices it has *now* and a getter that turns
(row index) into a wire value by reading the model. Nothing is copied from the model: a GET
computes the value at that moment (``sysUpTime`` moves, counters grow). GETNEXT is a binary
search over the column prefixes, then over the column's rows.

:class:`ModelMibController` plugs it into pysnmp as the MIB instrumentation of the agent's
default context (``read_variables``, ``read_next_variables``, ``write_variables``, synchronous).
Access control: every configured community and user may read every object (the VACM read view is
the whole tree), so reads check VACM once per request; writes check every varbind against the
write view, which only read-write communities and users have.

The one table from model errors to SNMP errors is :data:`ERRORS` (looked up through the MRO).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from pysnmp.proto import error as pysnmp_error
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.smi import error as smi_error
from pysnmp.smi.instrum import AbstractMibInstrumController

from emulator.errors import lookup
from nodes.errors import InvalidArgument, InvalidState, ModelError, NotFound, NotSupported
from switches.model import Neighbour, Port, Switch
from switches.snmp import oids as o
from switches.snmp import smi
from switches.snmp.smi import to_pysnmp

Index = tuple[int, ...]
Value = smi.Value
Getter = Callable[[Index], Value | None]
Setter = Callable[[Index, Any], None]  # the value as pysnmp decoded it

_COUNTER32_MOD = 1 << 32
_GAUGE32_MAX = (1 << 32) - 1

#: Model errors -> SNMP error-status, the adapter's one table (RFC 3416 4.2.5), looked up
#: through the class hierarchy by :func:`wire_error`: a subclass takes its parent's row.
ERRORS: Mapping[type[BaseException], type[smi_error.MibOperationError]] = {
    InvalidArgument: smi_error.WrongValueError,
    InvalidState: smi_error.InconsistentValueError,
    NotFound: smi_error.NoCreationError,
    NotSupported: smi_error.NotWritableError,
    ModelError: smi_error.GenError,
}


def wire_error(exc: ModelError) -> type[smi_error.MibOperationError]:
    """The SNMP error-status for the model's refusal ``exc`` (its row, else its parent's)."""
    return lookup(ERRORS, exc) or smi_error.GenError


@dataclass
class Column:
    """``fixed_rows``: ``rows()`` is the same for the agent's life (ports and entities come from
    the topology), so its instances are indexed once for GETNEXT (see :meth:`SwitchMib.next`)."""

    oid: o.OID
    rows: Callable[[], Sequence[Index]]
    get: Getter
    set: Setter | None = None
    fixed_rows: bool = False
    instances: tuple[o.OID, ...] | None = None  # (*oid, *row) of every row, if fixed_rows


def _mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def _octets(text: str) -> Value:
    return smi.OctetString(text.encode())


def _scalar() -> Sequence[Index]:
    return ((0,),)


class SwitchMib:
    """Every object one switch's agent serves; ``rack`` names the rack in sysLocation."""

    def __init__(self, switch: Switch, *, rack: str, model_number: int = 1) -> None:
        self.switch = switch
        self.rack = rack
        self.model_number = model_number
        self._ports = list(switch.ports.values())
        # Rows are sorted: GETNEXT searches them (entities are built fan tray, then its sensor).
        self._port_rows: tuple[Index, ...] = tuple(sorted((p.index,) for p in self._ports))
        self._entities = self._build_entities()
        self._entity_rows = tuple(sorted((e.index,) for e in self._entities))
        self._entity_by_index = {e.index: e for e in self._entities}
        entities = self._entities
        self._sensor_rows = tuple(sorted((e.index,) for e in entities if e.sensor is not None))
        self._state_rows = tuple(sorted((e.index,) for e in entities if e.state is not None))
        self.columns: list[Column] = []
        self._system()
        self._interfaces()
        self._entity_mib()
        self._entity_sensor_mib()
        self._entity_state_mib()
        self._lldp()
        self.columns.sort(key=lambda c: c.oid)
        self._oids = [c.oid for c in self.columns]
        #: instance OID -> (column position, row position), for the columns with fixed rows: a
        #: walk asks for the successor of the instance it was just given, found here at once.
        self._positions: dict[o.OID, tuple[int, int]] = {}
        for i, column in enumerate(self.columns):
            if column.fixed_rows:
                rows = tuple(column.rows())
                if list(rows) != sorted(set(rows)):
                    raise ValueError(f"rows of {column.oid} are not sorted and unique")
                column.instances = tuple((*column.oid, *row) for row in rows)
                for j, instance in enumerate(column.instances):
                    self._positions[instance] = (i, j)

    # -- time ----------------------------------------------------------------------------------
    def uptime_ticks(self) -> int:
        """sysUpTime: hundredths of a second since the OS booted (0 while it is not up)."""
        up = self.switch.uptime()
        return 0 if up is None else int(up * 100) % _COUNTER32_MOD

    def ticks_at(self, at: float) -> int:
        """A TimeStamp: sysUpTime when ``at`` happened, 0 if before the boot."""
        booted = self.switch.booted_at
        if booted is None or at <= booted:
            return 0
        return int((at - booted) * 100) % _COUNTER32_MOD

    # -- registration helpers ------------------------------------------------------------------
    def _scalar(self, oid: o.OID, get: Callable[[], Value]) -> None:
        self.columns.append(Column(oid, _scalar, lambda _idx: get(), fixed_rows=True))

    def _port_column(
        self,
        entry: o.OID,
        column: int,
        get: Callable[[Port], Value],
        set: Setter | None = None,
        *,
        const: bool = False,
    ) -> None:
        """A column of a table indexed by ifIndex. ``const``: the value is fixed by the topology
        (a port's name, speed, MAC), so its wire object is built once and reused."""
        by_index = {p.index: p for p in self._ports}
        fixed = {p.index: get(p) for p in self._ports} if const else {}

        def getter(idx: Index) -> Value | None:
            if len(idx) != 1:
                return None
            if const:
                return fixed.get(idx[0])
            port = by_index.get(idx[0])
            return None if port is None else get(port)

        rows = self._port_rows
        self.columns.append(Column((*entry, column), lambda: rows, getter, set, fixed_rows=True))

    # -- SNMPv2-MIB system group ---------------------------------------------------------------
    def _system(self) -> None:
        sw = self.switch
        spec = sw.spec

        def descr() -> Value:
            return _octets(
                f"{spec.manufacturer} {spec.model} switch, OS version {sw.os_version}, "
                f"serial {sw.serial} (scaleunit emulator)"
            )

        self._scalar(o.SYS_DESCR, descr)
        self._scalar(
            o.SYS_OBJECT_ID,
            lambda: smi.ObjectIdentifier((*o.SWITCH_PRODUCTS, self.model_number)),
        )
        self._scalar(o.SYS_UPTIME, lambda: smi.TimeTicks(self.uptime_ticks()))
        # The running configuration's (a loaded backup may say otherwise than the topology).
        self._scalar(o.SYS_CONTACT, lambda: _octets(sw.config.contact))
        self._scalar(o.SYS_NAME, lambda: _octets(sw.config.hostname))
        self._scalar(o.SYS_LOCATION, lambda: _octets(sw.config.location or f"rack {self.rack}"))
        # layers 2 (datalink) and 3 (internet): 2 + 4
        self._scalar(o.SYS_SERVICES, lambda: smi.Integer32(6))

    # -- IF-MIB ----------------------------------------------------------------------------------
    def _interfaces(self) -> None:
        sw = self.switch
        count = len(self._ports)
        self._scalar(o.IF_NUMBER, lambda: smi.Integer32(count))
        e, x = o.IF_ENTRY, o.IF_X_ENTRY
        i32, c32, c64, g32 = (
            smi.Integer32,
            smi.Counter32,
            smi.Counter64,
            smi.Gauge32,
        )
        m = _COUNTER32_MOD

        def status(up: bool) -> Value:
            return i32(o.STATUS_UP if up else o.STATUS_DOWN)

        def counter32(field: str) -> Callable[[Port], Value]:
            return lambda p: c32(getattr(sw.counters(p), field) % m)

        def counter64(field: str) -> Callable[[Port], Value]:
            return lambda p: c64(getattr(sw.counters(p), field))

        col = self._port_column
        col(e, 1, lambda p: i32(p.index), const=True)
        col(e, o.IF_DESCR, lambda p: _octets(p.name), const=True)
        col(e, o.IF_TYPE, lambda p: i32(o.IF_TYPE_ETHERNET), const=True)
        col(e, o.IF_MTU, lambda p: i32(9216), const=True)
        col(
            e,
            o.IF_SPEED,
            lambda p: g32(min(p.speed_gbps * 1_000_000_000, _GAUGE32_MAX)),
            const=True,
        )
        col(
            e,
            o.IF_PHYS_ADDRESS,
            lambda p: smi.OctetString(_mac_bytes(sw.port_mac(p))),
            const=True,
        )
        col(e, o.IF_ADMIN, lambda p: status(p.admin_up), self._set_admin)
        col(e, o.IF_OPER, lambda p: status(p.oper_up))
        col(e, o.IF_LAST_CHANGE, lambda p: smi.TimeTicks(self.ticks_at(p.changed_at)))
        col(e, o.IF_IN_OCTETS, counter32("in_octets"))
        col(e, o.IF_IN_UCAST, counter32("in_ucast"))
        col(e, o.IF_IN_DISCARDS, counter32("in_discards"))
        col(e, o.IF_IN_ERRORS, counter32("in_errors"))
        col(e, o.IF_IN_UNKNOWN_PROTOS, lambda p: c32(0), const=True)
        col(e, o.IF_OUT_OCTETS, counter32("out_octets"))
        col(e, o.IF_OUT_UCAST, counter32("out_ucast"))
        col(e, o.IF_OUT_DISCARDS, counter32("out_discards"))
        col(e, o.IF_OUT_ERRORS, counter32("out_errors"))

        col(x, o.IFX_NAME, lambda p: _octets(p.name), const=True)
        col(x, o.IFX_IN_MCAST, counter32("in_multicast"))
        col(x, o.IFX_IN_BCAST, counter32("in_broadcast"))
        col(x, o.IFX_OUT_MCAST, counter32("out_multicast"))
        col(x, o.IFX_OUT_BCAST, counter32("out_broadcast"))
        col(x, o.IFX_HC_IN_OCTETS, counter64("in_octets"))
        col(x, o.IFX_HC_IN_UCAST, counter64("in_ucast"))
        col(x, o.IFX_HC_IN_MCAST, counter64("in_multicast"))
        col(x, o.IFX_HC_IN_BCAST, counter64("in_broadcast"))
        col(x, o.IFX_HC_OUT_OCTETS, counter64("out_octets"))
        col(x, o.IFX_HC_OUT_UCAST, counter64("out_ucast"))
        col(x, o.IFX_HC_OUT_MCAST, counter64("out_multicast"))
        col(x, o.IFX_HC_OUT_BCAST, counter64("out_broadcast"))
        col(x, o.IFX_LINK_TRAP_ENABLE, lambda p: i32(1), const=True)  # enabled
        col(x, o.IFX_HIGH_SPEED, lambda p: g32(p.speed_gbps * 1000), const=True)
        col(x, o.IFX_PROMISCUOUS, lambda p: i32(2), const=True)  # false
        col(x, o.IFX_CONNECTOR, lambda p: i32(1 if p.peer else 2), const=True)
        col(x, o.IFX_ALIAS, lambda p: _octets(p.alias), const=True)
        col(x, o.IFX_DISCONTINUITY, lambda p: smi.TimeTicks(0), const=True)

    def _set_admin(self, idx: Index, value: Any) -> None:
        port = self.switch.port_by_index(idx[0])
        wanted = int(value)
        if wanted not in (o.STATUS_UP, o.STATUS_DOWN):
            raise InvalidArgument(f"ifAdminStatus {wanted}: only up(1) and down(2)")
        self.switch.set_admin(port.name, wanted == o.STATUS_UP)

    def check_admin(self, idx: Index, value: Any) -> None:
        """The SET test phase for ifAdminStatus: type and value, before anything changes."""
        if not isinstance(value, rfc1902.Integer32 | rfc1902.Integer):
            raise smi_error.WrongTypeError()
        if int(value) not in (o.STATUS_UP, o.STATUS_DOWN):
            raise smi_error.WrongValueError()

    # -- ENTITY-MIB ------------------------------------------------------------------------------
    def _build_entities(self) -> list[_Entity]:
        sw = self.switch
        spec = sw.spec
        chassis = _Entity(
            1,
            f"{spec.manufacturer} {spec.model} chassis",
            0,
            o.CLASS_CHASSIS,
            -1,
            "Chassis",
            serial=spec.serial,
            model=spec.model,
            software=sw.os_version,
            firmware="",
            fru=True,
        )
        out = [chassis]
        for i, psu in enumerate(sw.psus):
            name = psu.name
            out.append(
                _Entity(
                    100 + i + 1,
                    f"Power supply {i + 1}, {psu.capacity_w} W",
                    1,
                    o.CLASS_PSU,
                    i + 1,
                    name,
                    serial=psu.serial,
                    model=f"PSU-{psu.capacity_w}W-AC",
                    fru=True,
                    state=partial(sw.psu_ok, name),
                )
            )
        for i, fan in enumerate(sw.fans):
            fan_index = 200 + i + 1
            name = fan.name
            out.append(
                _Entity(
                    fan_index,
                    f"Fan tray {i + 1}",
                    1,
                    o.CLASS_FAN,
                    i + 1,
                    name,
                    serial=fan.serial,
                    model="FAN-TRAY",
                    fru=True,
                    state=partial(sw.fan_ok, name),
                )
            )
            out.append(
                _Entity(
                    300 + i + 1,
                    f"{name} speed",
                    fan_index,
                    o.CLASS_SENSOR,
                    1,
                    f"{name} RPM",
                    sensor=_SensorRef(o.SENSOR_RPM, "rpm", fan=i),
                )
            )
        for i, temp in enumerate(sw.temp_sensors):
            out.append(
                _Entity(
                    400 + i + 1,
                    f"{temp.name} temperature",
                    1,
                    o.CLASS_SENSOR,
                    100 + i + 1,
                    f"{temp.name} Temp",
                    sensor=_SensorRef(o.SENSOR_CELSIUS, "celsius", temp=i),
                )
            )
        for p in self._ports:
            out.append(
                _Entity(
                    1000 + p.index,
                    f"{p.speed_gbps}G port {p.name}",
                    1,
                    o.CLASS_PORT,
                    1000 + p.index,
                    p.name,
                )
            )
        return out

    def _entity_mib(self) -> None:
        sw = self.switch
        spec = sw.spec
        rows = self._entity_rows
        by_index = self._entity_by_index

        def col(column: int, get: Callable[[_Entity], Value]) -> None:
            def getter(idx: Index) -> Value | None:
                entity = by_index.get(idx[0]) if len(idx) == 1 else None
                return None if entity is None else get(entity)

            self.columns.append(
                Column((*o.ENT_PHYSICAL_ENTRY, column), lambda: rows, getter, fixed_rows=True)
            )

        i32 = smi.Integer32
        col(o.ENT_DESCR, lambda e: _octets(e.descr))
        col(o.ENT_VENDOR_TYPE, lambda e: smi.ObjectIdentifier((0, 0)))
        col(o.ENT_CONTAINED_IN, lambda e: i32(e.contained_in))
        col(o.ENT_CLASS, lambda e: i32(e.cls))
        col(o.ENT_PARENT_REL_POS, lambda e: i32(e.rel_pos))
        col(o.ENT_NAME, lambda e: _octets(e.name))
        col(o.ENT_HW_REV, lambda e: _octets("A00" if e.fru else ""))
        col(o.ENT_FW_REV, lambda e: _octets(e.firmware))
        col(o.ENT_SW_REV, lambda e: _octets(sw.os_version if e.software else ""))
        col(o.ENT_SERIAL, lambda e: _octets(self._serial(e)))
        col(o.ENT_MFG_NAME, lambda e: _octets(spec.manufacturer if e.fru else ""))
        col(o.ENT_MODEL_NAME, lambda e: _octets(e.model))
        col(o.ENT_ALIAS, lambda e: _octets(""))
        col(o.ENT_ASSET_ID, lambda e: _octets(""))
        col(o.ENT_IS_FRU, lambda e: i32(1 if e.fru else 2))

    def _serial(self, entity: _Entity) -> str:
        """A FRU's serial now (a replacement switch has new ones)."""
        sw = self.switch
        if entity.cls == o.CLASS_CHASSIS:
            return sw.serial
        parts = sw.psus if entity.cls == o.CLASS_PSU else sw.fans
        if entity.cls in (o.CLASS_PSU, o.CLASS_FAN) and 0 < entity.rel_pos <= len(parts):
            return parts[entity.rel_pos - 1].serial
        return entity.serial

    # -- ENTITY-SENSOR-MIB -----------------------------------------------------------------------
    def _entity_sensor_mib(self) -> None:
        sw = self.switch
        rows = self._sensor_rows
        by_index = self._entity_by_index
        i32 = smi.Integer32

        def reading(e: _Entity) -> tuple[float | None, bool]:
            ref = e.sensor
            assert ref is not None
            r = sw.fan_rpm(ref.fan) if ref.fan is not None else sw.temperature(ref.temp or 0)
            return r.value, r.ok

        def status(e: _Entity) -> int:
            value, ok = reading(e)
            if value is None:
                return o.SENSOR_UNAVAILABLE
            return o.SENSOR_OK if ok else o.SENSOR_NONOPERATIONAL

        def col(column: int, get: Callable[[_Entity], Value]) -> None:
            def getter(idx: Index) -> Value | None:
                entity = by_index.get(idx[0]) if len(idx) == 1 else None
                if entity is None or entity.sensor is None:
                    return None
                return get(entity)

            self.columns.append(
                Column((*o.ENT_SENSOR_ENTRY, column), lambda: rows, getter, fixed_rows=True)
            )

        def ref(e: _Entity) -> _SensorRef:
            assert e.sensor is not None
            return e.sensor

        col(o.SENSOR_TYPE, lambda e: i32(ref(e).kind))
        col(o.SENSOR_SCALE, lambda e: i32(o.SCALE_UNITS))
        col(o.SENSOR_PRECISION, lambda e: i32(0))
        col(o.SENSOR_VALUE, lambda e: i32(round(reading(e)[0] or 0)))
        col(o.SENSOR_OPER_STATUS, lambda e: i32(status(e)))
        col(o.SENSOR_UNITS, lambda e: _octets(ref(e).units))
        col(o.SENSOR_TIMESTAMP, lambda e: smi.TimeTicks(self.uptime_ticks()))
        col(o.SENSOR_UPDATE_RATE, lambda e: smi.Unsigned32(0))  # computed on request

    # -- ENTITY-STATE-MIB ------------------------------------------------------------------------
    def _entity_state_mib(self) -> None:
        rows = self._state_rows
        by_index = self._entity_by_index
        i32 = smi.Integer32

        def col(column: int, get: Callable[[_Entity, bool], Value]) -> None:
            def getter(idx: Index) -> Value | None:
                entity = by_index.get(idx[0]) if len(idx) == 1 else None
                if entity is None or entity.state is None:
                    return None
                return get(entity, entity.state())

            self.columns.append(
                Column((*o.ENT_STATE_ENTRY, column), lambda: rows, getter, fixed_rows=True)
            )

        col(o.STATE_LAST_CHANGED, lambda e, ok: smi.OctetString(b"\x00" * 8))
        col(o.STATE_ADMIN, lambda e, ok: i32(o.ADMIN_UNLOCKED))
        col(o.STATE_OPER, lambda e, ok: i32(o.OPER_ENABLED if ok else o.OPER_DISABLED))
        col(o.STATE_USAGE, lambda e, ok: i32(o.USAGE_ACTIVE))
        col(o.STATE_ALARM, lambda e, ok: smi.Bits(o.ALARM_NONE if ok else o.ALARM_CRITICAL))
        col(o.STATE_STANDBY, lambda e, ok: i32(o.STANDBY_PROVIDING))

    def state_varbinds(self, entity_name: str) -> list[tuple[o.OID, Value]]:
        """The varbinds of entStateOperEnabled/Disabled for the entity named ``entity_name``."""
        entity = next(e for e in self._entities if e.name == entity_name)
        idx = (entity.index,)
        out = []
        for oid in (o.ENT_STATE_ADMIN, o.ENT_STATE_ALARM, o.ENT_PHYSICAL_NAME):
            value = self.get((*oid, *idx))
            if value is not None:
                out.append(((*oid, *idx), value))
        return out

    # -- LLDP-MIB --------------------------------------------------------------------------------
    def _lldp(self) -> None:
        sw = self.switch
        spec = sw.spec
        i32 = smi.Integer32
        caps = o.CAP_BRIDGE_ROUTER
        sys_desc = f"{spec.manufacturer} {spec.model} OS {sw.os_version}"
        self._scalar(o.LLDP_LOC_CHASSIS_SUBTYPE, lambda: i32(o.CHASSIS_SUBTYPE_MAC))
        self._scalar(o.LLDP_LOC_CHASSIS_ID, lambda: smi.OctetString(_mac_bytes(sw.chassis_mac)))
        self._scalar(o.LLDP_LOC_SYS_NAME, lambda: _octets(sw.config.hostname))
        self._scalar(o.LLDP_LOC_SYS_DESC, lambda: _octets(sys_desc))
        self._scalar(o.LLDP_LOC_SYS_CAP_SUPPORTED, lambda: smi.Bits(caps))
        self._scalar(o.LLDP_LOC_SYS_CAP_ENABLED, lambda: smi.Bits(caps))
        loc = o.LLDP_LOC_PORT_ENTRY
        self._port_column(loc, o.LOC_PORT_ID_SUBTYPE, lambda p: i32(o.PORT_SUBTYPE_IFNAME))
        self._port_column(loc, o.LOC_PORT_ID, lambda p: _octets(p.name))
        self._port_column(loc, o.LOC_PORT_DESC, lambda p: _octets(p.alias))

        def rem_rows() -> Sequence[Index]:
            # INDEX { lldpRemTimeMark, lldpRemLocalPortNum, lldpRemIndex }
            return sorted(
                (self.ticks_at(p.neighbour_since), p.index, 1)
                for p in self._ports
                if sw.neighbour(p) is not None
            )

        def rem(column: int, get: Callable[[Neighbour], Value]) -> None:
            def getter(idx: Index) -> Value | None:
                if len(idx) != 3 or idx[2] != 1 or not 1 <= idx[1] <= len(self._ports):
                    return None
                port = self._ports[idx[1] - 1]
                n = sw.neighbour(port)
                if n is None or self.ticks_at(port.neighbour_since) != idx[0]:
                    return None
                return get(n)

            self.columns.append(Column((*o.LLDP_REM_ENTRY, column), rem_rows, getter))

        def port_id(n: Neighbour) -> Value:
            if n.port_id_is_mac:
                return smi.OctetString(_mac_bytes(n.port_id))
            return _octets(n.port_id)

        def rem_caps(n: Neighbour) -> Value:
            return smi.Bits(
                o.CAP_BRIDGE_ROUTER if n.system_name in self._switch_names() else o.CAP_STATION
            )

        rem(o.REM_CHASSIS_SUBTYPE, lambda n: i32(o.CHASSIS_SUBTYPE_MAC))
        rem(o.REM_CHASSIS_ID, lambda n: smi.OctetString(_mac_bytes(n.chassis_id)))
        rem(
            o.REM_PORT_SUBTYPE,
            lambda n: i32(o.PORT_SUBTYPE_MAC if n.port_id_is_mac else o.PORT_SUBTYPE_IFNAME),
        )
        rem(o.REM_PORT_ID, port_id)
        rem(o.REM_PORT_DESC, lambda n: _octets(n.port_description))
        rem(o.REM_SYS_NAME, lambda n: _octets(n.system_name))
        rem(o.REM_SYS_DESC, lambda n: _octets(n.system_description))
        rem(o.REM_CAP_SUPPORTED, rem_caps)
        rem(o.REM_CAP_ENABLED, rem_caps)

    def _switch_names(self) -> set[str]:
        return {p.peer.split(":", 1)[0] for p in self._ports if p.role.value in _SWITCH_ROLES}

    # -- lookups ---------------------------------------------------------------------------------
    def _column_of(self, oid: o.OID) -> int:
        """The position of the column whose prefix ``oid`` starts with, else -1."""
        i = bisect.bisect_right(self._oids, oid) - 1
        if i >= 0:
            prefix = self._oids[i]
            if oid[: len(prefix)] == prefix and len(oid) > len(prefix):
                return i
        return -1

    def get(self, oid: o.OID) -> Value | None:
        i = self._column_of(oid)
        if i < 0:
            return None
        column = self.columns[i]
        return column.get(oid[len(column.oid) :])

    def has_object(self, oid: o.OID) -> bool:
        return self._column_of(oid) >= 0

    def next(self, oid: o.OID) -> tuple[o.OID, Value] | None:
        """The first instance after ``oid`` with its value, or None at the end of the MIB: the
        successor of a known instance, else a binary search over the column prefixes, then over
        the column's rows."""
        at = self._positions.get(oid)
        if at is not None:
            return self._scan(at[0], at[1] + 1)
        i = bisect.bisect_right(self._oids, oid) - 1
        if i >= 0:
            prefix = self._oids[i]
            if oid[: len(prefix)] == prefix:
                rows = self.columns[i].rows()
                return self._scan(i, bisect.bisect_right(rows, oid[len(prefix) :]))
        return self._scan(i + 1, 0)

    def _scan(self, i: int, j: int) -> tuple[o.OID, Value] | None:
        """The first instance with a value from row position ``j`` of column ``i`` on."""
        columns = self.columns
        while i < len(columns):
            column = columns[i]
            rows = column.rows()
            get = column.get
            while j < len(rows):
                value = get(rows[j])
                if value is not None:
                    instances = column.instances
                    oid = instances[j] if instances is not None else (*column.oid, *rows[j])
                    return oid, value
                j += 1
            i += 1
            j = 0
        return None

    def setter(self, oid: o.OID) -> tuple[Column, Index] | None:
        i = self._column_of(oid)
        if i < 0:
            return None
        column = self.columns[i]
        return column, oid[len(column.oid) :]


_SWITCH_ROLES = {"peer-link", "bmc-uplink"}
_READ_OK = "scaleunit.read_ok"
_VACM = 3  # the view-based access control model's id
_NAME_CACHE = 50_000


@dataclass(frozen=True)
class _SensorRef:
    kind: int
    units: str
    fan: int | None = None
    temp: int | None = None


@dataclass
class _Entity:
    index: int
    descr: str
    contained_in: int
    cls: int
    rel_pos: int
    name: str
    serial: str = ""
    model: str = ""
    software: str = ""
    firmware: str = ""
    fru: bool = False
    sensor: _SensorRef | None = None
    state: Callable[[], bool] | None = None


def vacm_allows(
    engine: Any,
    security_model: int,
    security_name: Any,
    security_level: int,
    view: str,
    context_name: Any,
    name: Any,
) -> bool:
    """VACM (RFC 3415) for one object: whether the principal's ``view`` includes ``name``.

    Asks the engine's VACM directly: pysnmp 7's ``verify_access`` (the ``acFun`` it passes)
    lets an object outside the view through, because VACM *returns* its notInView status
    instead of raising it. The pysnmp path and the BER fast path both decide with this."""
    try:
        denied = engine.access_control_model[_VACM].is_access_allowed(
            engine, security_model, security_name, security_level, view, context_name, name
        )
    except pysnmp_error.StatusInformation:
        return False
    return denied is None


class ModelMibController(AbstractMibInstrumController):  # type: ignore[misc]
    """pysnmp's MIB instrumentation interface over a :class:`SwitchMib`: SMI values become
    pysnmp objects here, at the edge of the pysnmp path."""

    def __init__(self, mib: SwitchMib) -> None:
        self.mib = mib
        self._names: dict[o.OID, Any] = {}

    def _name(self, oid: o.OID) -> Any:
        """The wire ObjectName of ``oid``, built once (instances are few: a few thousand)."""
        name = self._names.get(oid)
        if name is None:
            if len(self._names) > _NAME_CACHE:
                self._names.clear()
            name = self._names[oid] = rfc1902.ObjectName(oid)
        return name

    @staticmethod
    def _check(name: Any, view: str, context: dict[str, Any], idx: int) -> bool:
        """VACM for one object, for the principal of the request pysnmp is processing."""
        engine = context.get("snmpEngine")
        if engine is None:
            return False
        request = engine.observer.get_execution_context("rfc3412.receiveMessage:request")
        return vacm_allows(
            engine,
            request["securityModel"],
            request["securityName"],
            request["securityLevel"],
            view,
            request["contextName"],
            name,
        )

    def _read_allowed(self, name: Any, context: dict[str, Any]) -> bool:
        """VACM for a read request, once per request: the read view is the whole tree for every
        principal that has one, so one check decides for every varbind of the PDU (a GETBULK
        calls ``read_next_variables`` once per repetition). The answer is kept in the request's
        execution context, which lives as long as the request."""
        engine = context.get("snmpEngine")
        if engine is None:
            return self._check(name, "read", context, 0)
        request = engine.observer.get_execution_context("rfc3412.receiveMessage:request")
        allowed = request.get(_READ_OK)
        if allowed is None:
            allowed = self._check(name, "read", context, 0)
            request[_READ_OK] = allowed
        return bool(allowed)

    def read_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        out = []
        allowed = self._read_allowed(var_binds[0][0], context) if var_binds else True
        for name, _ in var_binds:
            if not allowed:
                out.append((name, rfc1905.noSuchObject))
                continue
            value = self.mib.get(tuple(name))
            if value is None:
                missing = (
                    rfc1905.noSuchInstance
                    if self.mib.has_object(tuple(name))
                    else rfc1905.noSuchObject
                )
                out.append((name, missing))
            else:
                out.append((name, to_pysnmp(value)))
        return out

    def read_next_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        out: list[tuple[Any, Any]] = []
        allowed = self._read_allowed(var_binds[0][0], context) if var_binds else True
        for name, _ in var_binds:
            if not allowed:
                out.append((name, rfc1905.endOfMibView))
                continue
            found = self.mib.next(tuple(name))
            if found is None:
                out.append((name, rfc1905.endOfMibView))
            else:
                out.append((self._name(found[0]), to_pysnmp(found[1])))
        return out

    def write_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        plans: list[tuple[Column, Index, Any]] = []
        for i, (name, value) in enumerate(var_binds):
            if not self._check(name, "write", context, i):
                raise smi_error.NoAccessError(name=name, idx=i)
            found = self.mib.setter(tuple(name))
            if found is None:
                raise smi_error.NoAccessError(name=name, idx=i)
            column, index = found
            if column.set is None:
                raise smi_error.NotWritableError(name=name, idx=i)
            if column.get(index) is None:
                raise smi_error.NoCreationError(name=name, idx=i)
            try:
                self.mib.check_admin(index, value)
            except smi_error.MibOperationError as exc:
                raise type(exc)(name=name, idx=i) from None
            plans.append((column, index, value))
        for i, (column, index, value) in enumerate(plans):
            assert column.set is not None
            try:
                column.set(index, value)
            except ModelError as exc:
                wire = wire_error(exc)
                raise wire(name=var_binds[i][0], idx=i) from None
        out = []
        for name, _ in var_binds:
            value = self.mib.get(tuple(name))
            out.append((name, rfc1905.noSuchInstance if value is None else to_pysnmp(value)))
        return out

"""BMC hardware traps: SNMPv3 authPriv TRAPs, sent by each BMC when its SEL logs a hardware record.

As OEM BMCs do (PROCEDURES.md: "Hardware faults reach the system as SNMPv3 traps sent by the BMCs
(the BMC's own credentials, AES privacy) to a listener on UDP/TCP 162; only OEM-defined trap OIDs
raise alerts"):

* **What.** A SEL record of a hardware sensor type (power supply and power unit, fan,
  temperature, voltage and current, memory, drive slot, processor, critical interrupt, OS stop
  and watchdog, LAN, battery) becomes one trap; boot progress, ACPI states, firmware progress,
  log housekeeping and the like send nothing. :func:`classify` decides: a category from the
  IPMI sensor type, and the severity (info when a condition clears or is benign, warning,
  critical) that :mod:`nodes.sel_meaning` reads from the sensor type, event type, offset and
  direction.
* **OIDs.** One OEM-style enterprise subtree, the documentation enterprise of RFC 5612 (the
  emulator is nobody's product): ``1.3.6.1.4.1.32473.2`` (scaleunitBmcMIB); traps
  ``...32473.2.0.<category * 10 + severity>`` (e.g. suBmcPowerSupplyCritical = ``...2.0.13``),
  varbinds ``...32473.2.1.<n>.0``: node, serial, IPMI sensor type, severity, message, SEL record
  id. ``mibs/SCALEUNIT-BMC-MIB.txt`` is :func:`mib_text` (a test keeps them equal), for
  snmptrapd/snmptranslate ``-M mibs -m SCALEUNIT-BMC-MIB``.
* **How.** Each BMC is an authoritative SNMPv3 engine (its engine ID from the BMC's MAC, RFC 3411
  format 3 under enterprise 32473: :func:`engine_id`, for snmptrapd's ``createUser -e``; its
  engine boots grow across restarts and BMC resets, its engine time counts from the BMC's last
  start) with one USM user (``bmc_network.traps``: by default the BMC's user, its password as
  the SHA and AES keys), sending from a UDP socket bound to the BMC's own address. The messages
  are encoded and secured by :mod:`bmc.snmp.usm`.
* **When.** Only while the BMC has standby power (some PSU has input), answers (firmware up, not
  hung) and the fabric gives it a path (BMC switch up, cable in): otherwise the trap is lost, as
  on real hardware (an AC loss on both PSUs sends the first PSU's trap, not the second's).
  Either way an event goes on the rack's bus: :class:`BmcTrapSent` or :class:`BmcTrapLost`.
  The operator's health service (``emulator.operator``, the HLH's listener) raises and closes
  its hardware alerts from the :class:`BmcTrapSent` events, so it always receives what was sent;
  the configured receivers get it on the wire too.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from bmc.snmp.events import BmcTrapEvent, BmcTrapLost, BmcTrapSent
from bmc.snmp.usm import UsmUser, encode_trap
from nodes.events import BmcResetStarted, Event, SelRecordAdded
from nodes.sel import SelRecord, SensorType
from nodes.sel_meaning import meaning
from switches.snmp import smi

if TYPE_CHECKING:
    from emulator.rack import Rack
    from nodes.spec import NodeSpec

__all__ = [
    "BmcTrapEvent",
    "BmcTrapLost",
    "BmcTrapSender",
    "BmcTrapSent",
    "Category",
    "HardwareAlert",
    "Severity",
    "classify",
    "engine_id",
    "mib_text",
]

log = logging.getLogger("bmc.snmp")

OID = tuple[int, ...]
ENTERPRISE: OID = (1, 3, 6, 1, 4, 1, 32473)
BMC_MIB: OID = (*ENTERPRISE, 2)
NOTIFICATIONS: OID = (*BMC_MIB, 0)
OBJECTS: OID = (*BMC_MIB, 1)
SYS_UPTIME: OID = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID: OID = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)


class Category(IntEnum):
    """What kind of hardware a trap is about (its trap OID's tens)."""

    POWER_SUPPLY = 1
    FAN = 2
    TEMPERATURE = 3
    VOLTAGE = 4
    MEMORY = 5
    DRIVE = 6
    PROCESSOR = 7
    CRITICAL_INTERRUPT = 8
    OS_STOP = 9
    NETWORK = 10
    BATTERY = 11


class Severity(IntEnum):
    """A trap's severity (its trap OID's units, and the suBmcSeverity varbind)."""

    INFO = 1
    WARNING = 2
    CRITICAL = 3


_CATEGORY_OF: dict[int, Category] = {
    SensorType.POWER_SUPPLY: Category.POWER_SUPPLY,
    SensorType.POWER_UNIT: Category.POWER_SUPPLY,
    SensorType.FAN: Category.FAN,
    SensorType.TEMPERATURE: Category.TEMPERATURE,
    SensorType.VOLTAGE: Category.VOLTAGE,
    SensorType.CURRENT: Category.VOLTAGE,
    SensorType.MEMORY: Category.MEMORY,
    SensorType.DRIVE_SLOT: Category.DRIVE,
    SensorType.PROCESSOR: Category.PROCESSOR,
    SensorType.CRITICAL_INTERRUPT: Category.CRITICAL_INTERRUPT,
    SensorType.OS_STOP: Category.OS_STOP,
    SensorType.WATCHDOG_2: Category.OS_STOP,
    SensorType.LAN: Category.NETWORK,
    SensorType.BATTERY: Category.BATTERY,
}


@dataclass(frozen=True)
class HardwareAlert:
    """What one SEL record becomes on the wire."""

    category: Category
    severity: Severity
    sensor_type: int
    record_id: int
    message: str

    @property
    def trap_oid(self) -> OID:
        return (*NOTIFICATIONS, int(self.category) * 10 + int(self.severity))


def _describe(record: SelRecord, category: Category) -> str:
    if record.message:
        return record.message
    what = category.name.replace("_", " ").lower()
    state = "asserted" if record.asserted else "deasserted"
    return f"{what} sensor {record.sensor_number:#04x} offset {record.offset} {state}"


def classify(record: SelRecord) -> HardwareAlert | None:
    """The trap a SEL record raises, or None (not a hardware record, or an OEM record); what
    the record means is :func:`nodes.sel_meaning.meaning`'s."""
    meant = meaning(record)
    if meant is None or not meant.hardware:
        return None
    category = _CATEGORY_OF[SensorType(record.sensor_type)]
    return HardwareAlert(
        category=category,
        severity=Severity(int(meant.level)),
        sensor_type=record.sensor_type,
        record_id=record.record_id,
        message=_describe(record, category),
    )


# -- the MIB -------------------------------------------------------------------------------------
_OBJECTS: list[tuple[int, str, str, str]] = [
    (1, "suBmcNodeName", "OCTET STRING (SIZE (0..64))", "The node whose BMC sent the trap."),
    (2, "suBmcSerial", "OCTET STRING (SIZE (0..64))", "The node's chassis serial number."),
    (
        3,
        "suBmcSensorType",
        "INTEGER (0..255)",
        "The IPMI sensor type of the SEL record (IPMI 2.0 table 42-3).",
    ),
    (
        4,
        "suBmcSeverity",
        "INTEGER { info(1), warning(2), critical(3) }",
        "info: a condition cleared or a benign one; warning; critical.",
    ),
    (5, "suBmcMessage", "OCTET STRING (SIZE (0..255))", "The SEL record's description."),
    (6, "suBmcSelRecordId", "INTEGER (0..65535)", "The SEL record id (ipmitool sel get ID)."),
]
_OBJECT_NAMES = [name for _, name, _, _ in _OBJECTS]


def _camel(category: Category) -> str:
    return "".join(part.capitalize() for part in category.name.split("_"))


def mib_text() -> str:
    """SCALEUNIT-BMC-MIB, SMIv2, with no IMPORTS (Debian's net-snmp ships no IETF MIBs; its
    parser knows the SMI types): what ``mibs/SCALEUNIT-BMC-MIB.txt`` holds."""
    lines = [
        "SCALEUNIT-BMC-MIB DEFINITIONS ::= BEGIN",
        "",
        "-- The hardware traps scaleunit's emulated BMCs send (bmc/snmp/traps.py writes it).",
        "-- SNMPv3 authPriv TRAPs, one per hardware SEL record; trap = category * 10 + severity.",
        "-- Under enterprise 32473, which RFC 5612 reserves for documentation.",
        "",
        "scaleunit OBJECT IDENTIFIER ::= { iso 3 6 1 4 1 32473 }",
        "scaleunitBmcMIB OBJECT IDENTIFIER ::= { scaleunit 2 }",
        "suBmcNotifications OBJECT IDENTIFIER ::= { scaleunitBmcMIB 0 }",
        "suBmcTrapObjects OBJECT IDENTIFIER ::= { scaleunitBmcMIB 1 }",
        "",
    ]
    for number, name, syntax, description in _OBJECTS:
        lines += [
            f"{name} OBJECT-TYPE",
            f"    SYNTAX {syntax}",
            "    MAX-ACCESS accessible-for-notify",
            "    STATUS current",
            f'    DESCRIPTION "{description}"',
            f"    ::= {{ suBmcTrapObjects {number} }}",
            "",
        ]
    for category in Category:
        for severity in Severity:
            name = f"suBmc{_camel(category)}{severity.name.capitalize()}"
            what = category.name.replace("_", " ").lower()
            lines += [
                f"{name} NOTIFICATION-TYPE",
                f"    OBJECTS {{ {', '.join(_OBJECT_NAMES)} }}",
                "    STATUS current",
                f'    DESCRIPTION "A {what} SEL record of severity {severity.name.lower()}."',
                f"    ::= {{ suBmcNotifications {int(category) * 10 + int(severity)} }}",
                "",
            ]
    lines.append("END")
    return "\n".join(lines) + "\n"


# -- sending -------------------------------------------------------------------------------------
def engine_id(spec: NodeSpec) -> bytes:
    """RFC 3411 SnmpEngineID, MAC format: enterprise 32473 (RFC 5612), 3, the BMC's MAC."""
    return bytes.fromhex("80007ed903" + spec.bmc.mac.replace(":", ""))


#: 2024-01-01T00:00:00Z: engine boots count seconds from here (2^31 - 1 is reached in 2092).
_BOOTS_EPOCH = 1_704_067_200


def _boots_at_start() -> int:
    """snmpEngineBoots when the rack starts. A receiver drops a trap whose boots went back, or
    whose time went back with the same boots (RFC 3414 3.2.7; net-snmp does), and a real BMC
    keeps its boots in NVRAM. The emulator keeps it in the wall clock instead (not the rack's
    clock: this must grow across restarts of the process): the second it started, plus one per
    BMC reset (fewer than one a second, so a later start never goes below)."""
    return max(1, int(time.time()) - _BOOTS_EPOCH)


class _Bmc:
    """One BMC's trap originator: its socket, user and counters."""

    def __init__(
        self, engine: bytes, user: UsmUser, transport: asyncio.DatagramTransport, boots: int
    ) -> None:
        self.engine_id = engine
        self.user = user
        self.transport = transport
        self.boots = boots  # snmpEngineBoots: one more at each BMC reset
        self.requests = itertools.count(1)
        self.salt = int.from_bytes(secrets.token_bytes(8), "big")  # AES IVs never repeat

    def next_salt(self) -> int:
        self.salt = (self.salt + 1) % 2**64
        return self.salt

    def close(self) -> None:
        self.transport.close()


class BmcTrapSender:
    """Every BMC's trap originator, over one rack. Build on the loop that owns the model, then
    ``await start()``; it follows the rack's bus until :meth:`close`."""

    def __init__(self, rack: Rack) -> None:
        self.rack = rack
        settings = rack.topology.bmc_network.traps
        self.settings = settings
        self.targets = settings.targets()
        self._bmcs: dict[str, _Bmc] = {}
        self._unsubscribe: Callable[[], None] | None = None
        #: (node, trap OID) of the last traps sent on the wire (bounded: a long chaos run sends
        #: thousands; the bus has every one as BmcTrapSent).
        self.sent: deque[tuple[str, OID]] = deque(maxlen=1000)

    async def start(self) -> None:
        """One socket and localized user per BMC (none when no receiver is configured), then
        :meth:`follow`."""
        try:
            for name, node in self.rack.nodes.items():
                if self.targets:
                    self._bmcs[name] = await self._bmc(node.spec)
        except BaseException:
            self.close()
            raise
        self.follow()

    def follow(self) -> None:
        """Follow the rack's bus: every hardware SEL record becomes a BmcTrapSent or a
        BmcTrapLost. The operator's health service (the HLH's listener) always receives the
        traps a BMC sends; ``bmc_network.traps.receivers`` are sent them on the wire as well
        (only after :meth:`start`). Synchronous, no socket: a model test calls it alone."""
        if self._unsubscribe is None:
            self._unsubscribe = self.rack.bus.subscribe(self.on_event)

    async def _bmc(self, spec: NodeSpec) -> _Bmc:
        user, auth_key, priv_key = self.rack.topology.bmc_trap_user(spec)
        traps = self.settings
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((str(spec.bmc.address), 0))  # traps leave from the BMC's own address
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=sock)
        engine = engine_id(spec)
        usm = UsmUser.localized(
            user,
            engine,
            auth=traps.auth,
            auth_pass=auth_key,
            priv=traps.priv,
            priv_pass=priv_key,
        )
        return _Bmc(engine, usm, transport, _boots_at_start())

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for bmc in self._bmcs.values():
            bmc.close()
        self._bmcs.clear()

    def on_event(self, event: Event) -> None:
        if isinstance(event, BmcResetStarted) and event.device in self._bmcs:
            self._bmcs[event.device].boots += 1  # its engine restarts
            return
        if not isinstance(event, SelRecordAdded) or event.device not in self.rack.nodes:
            return
        alert = classify(event.record)
        if alert is None:
            return
        name = event.device
        fabric = self.rack.fabric
        fields: dict[str, Any] = {
            "device": name,
            "at": event.at,
            "trap": ".".join(map(str, alert.trap_oid)),
            "category": alert.category.name.lower().replace("_", "-"),
            "severity": alert.severity.name.lower(),
            "record_id": alert.record_id,
            "message": alert.message,
            "sensor_type": alert.sensor_type,
            "sensor_number": event.record.sensor_number,
            "event_type": event.record.event_type,
            "offset": event.record.offset,
            "asserted": event.record.asserted,
            "data3": event.record.event_data[2],
        }
        node = self.rack.nodes[name]
        reason = ""
        if not node.bmc_powered():
            reason = "no-power"  # AC lost on every PSU: no standby power for the BMC
        elif not fabric.bmc_answering(name):
            reason = "no-path" if not fabric.bmc_path_up(name) else "bmc-silent"
        if reason:
            self.rack.bus(BmcTrapLost(**fields, reason=reason))
            return
        if name in self._bmcs:
            self._send(name, alert)
        receivers = ",".join(f"{a}:{p}" for a, p in self.targets if name in self._bmcs)
        self.rack.bus(BmcTrapSent(**fields, receivers=receivers))

    def _send(self, name: str, alert: HardwareAlert) -> None:
        bmc = self._bmcs[name]
        node = self.rack.nodes[name]
        # sysUpTime and snmpEngineTime: since the BMC's firmware last came up.
        uptime = max(0.0, self.rack.clock.now() - node.bmc_ready_at)
        varbinds: list[tuple[OID, smi.Value]] = [
            (SYS_UPTIME, smi.TimeTicks(int(uptime * 100) % 2**32)),
            (SNMP_TRAP_OID, smi.ObjectIdentifier(alert.trap_oid)),
            ((*OBJECTS, 1, 0), smi.OctetString(name.encode())),
            ((*OBJECTS, 2, 0), smi.OctetString(node.fru.chassis_serial.encode())),
            ((*OBJECTS, 3, 0), smi.Integer32(alert.sensor_type)),
            ((*OBJECTS, 4, 0), smi.Integer32(int(alert.severity))),
            ((*OBJECTS, 5, 0), smi.OctetString(alert.message.encode()[:255])),
            ((*OBJECTS, 6, 0), smi.Integer32(alert.record_id)),
        ]
        request_id = next(bmc.requests) % 2**31
        message = encode_trap(
            bmc.user,
            bmc.engine_id,
            boots=bmc.boots,
            time=int(uptime) % 2**31,
            msg_id=request_id,
            request_id=request_id,
            salt=bmc.next_salt(),
            varbinds=varbinds,
        )
        for target in self.targets:
            try:
                bmc.transport.sendto(message, target)
            except OSError as exc:  # a receiver unreachable must not break the model
                log.warning("node=%s proto=snmp event=trap.error error=%r", name, exc)
        self.sent.append((name, alert.trap_oid))  # the bus has the event, the log its line

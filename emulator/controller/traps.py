"""The controller's SNMP trap receiver: a UDP socket on loopback that keeps every SNMPv2c trap
the switches send (the embedded rack's topology names it as a receiver), for the
``snmp-traps`` step to look at (tor-loss: linkDown from the surviving ToR).

It runs in a thread of its own, so traps are kept while the controller waits or talks to the
rack; decoding is pysnmp's (the message and PDU of SNMPv2c), nothing of the rack's model.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

#: SNMPv2-MIB snmpTrapOID.0: the varbind naming the notification.
SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
#: The standard notifications by name (SNMPv2-MIB / IF-MIB).
NAMES = {
    "coldStart": "1.3.6.1.6.3.1.1.5.1",
    "warmStart": "1.3.6.1.6.3.1.1.5.2",
    "linkDown": "1.3.6.1.6.3.1.1.5.3",
    "linkUp": "1.3.6.1.6.3.1.1.5.4",
    "authenticationFailure": "1.3.6.1.6.3.1.1.5.5",
}


@dataclass(frozen=True)
class Trap:
    source: str  # the sender's address
    trap: str  # snmpTrapOID.0's value (an OID)
    varbinds: dict[str, str]
    received: float  # wall time

    def as_dict(self) -> dict[str, Any]:
        name = next((n for n, oid in NAMES.items() if oid == self.trap), self.trap)
        return {"source": self.source, "trap": name, "oid": self.trap, "varbinds": self.varbinds}


def decode(data: bytes) -> tuple[str, dict[str, str]] | None:
    """(snmpTrapOID, {oid: value}) of an SNMPv2c trap, or None for anything else."""
    from pyasn1.codec.ber import decoder
    from pysnmp.proto import api

    try:
        if int(api.decodeMessageVersion(data)) != api.SNMP_VERSION_2C:
            return None
        mod = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
        msg, _ = decoder.decode(data, asn1Spec=mod.Message())
        pdu = mod.apiMessage.get_pdu(msg)
        if not pdu.isSameTypeWith(mod.SNMPv2TrapPDU()):
            return None
        binds = {str(o): v.prettyPrint() for o, v in mod.apiPDU.get_varbinds(pdu)}
    except Exception:  # a malformed datagram is not a trap; the receiver keeps listening
        return None
    trap = binds.get(SNMP_TRAP_OID)
    return (trap, binds) if trap else None


class TrapReceiver:
    """Listens on ``address`` (port 0: any free one) until ``close``."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((address, port))
        self._sock.settimeout(0.2)
        self.address, self.port = self._sock.getsockname()
        self._traps: list[Trap] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trap-receiver", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, (source, _) = self._sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            got = decode(data)
            if got is not None:
                with self._lock:
                    self._traps.append(Trap(source, got[0], got[1], time.time()))

    def traps(self) -> list[Trap]:
        with self._lock:
            return list(self._traps)

    def topology_entry(self) -> str:
        """This receiver as a line of a topology's ``snmp.receivers``."""
        return f"{{address: {self.address}, port: {self.port}, version: v2c, community: public}}"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()

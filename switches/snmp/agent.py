"""One switch's SNMP agent: a pysnmp 7 engine of its own, on its own address.

Per switch (never shared, so that two switches cannot answer for each other): one
:class:`~pysnmp.entity.engine.SnmpEngine` with its engine ID made from the switch's chassis MAC,
one UDP socket (pre-bound by the caller, so a bind error keeps its errno), SNMPv1 and v2c
communities (read-only and read-write; ``snmpv1=False`` leaves v1 out, and v1 requests then get
noSuchName) and SNMPv3 USM users from the topology, VACM views (read: the whole
tree for everyone; write: read-write principals only), command responders over
:class:`~switches.snmp.mib.ModelMibController`, and a notification originator.

The agent answers only while the switch is up: while it is off or booting, datagrams are dropped
(a real agent is silent, not erroring). A datagram then goes to the BER fast path
(:mod:`switches.snmp.fastpath`: v1/v2c GET, GETNEXT and GETBULK with a community the engine
accepts, the same MIB and the same VACM), and whatever it declines to pysnmp's engine. Datagrams
that fail to decode are counted and dropped; no input stops the agent.

Notifications (every receiver of the topology's ``snmp.receivers``, trap or inform, v2c or v3):

* ``SwitchBooted``: coldStart (1.3.6.1.6.3.1.1.5.1), no varbinds;
* ``LinkChanged``: linkUp (1.3.6.1.6.3.1.1.5.4) or linkDown (1.3.6.1.6.3.1.1.5.3) with ifIndex,
  ifAdminStatus and ifOperStatus of the port;
* ``PsuChanged`` / ``FanChanged``: ENTITY-STATE-MIB (RFC 4268) entStateOperDisabled
  (1.3.6.1.2.1.131.0.2) when the part fails, entStateOperEnabled (1.3.6.1.2.1.131.0.1) when it is
  back, with entStateAdmin and entStateAlarm of the part's entPhysicalIndex (PSUs 101-102, fans
  201-...) and, beyond the MIB's list, its entPhysicalName. Standard OIDs, no vendor ones.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import cmdrsp, context, ntforg
from pysnmp.proto import rfc1902

from nodes.events import Event, LinkChanged
from switches.events import FanChanged, PsuChanged, SwitchBooted
from switches.model import Switch
from switches.snmp import oids as o
from switches.snmp import smi
from switches.snmp.fastpath import FastPath
from switches.snmp.mib import ModelMibController, SwitchMib
from switches.spec import (
    Access,
    AuthProtocol,
    NotificationKind,
    PrivProtocol,
    SnmpUserSpec,
    SnmpVersion,
    TrapReceiverSpec,
)

log = logging.getLogger("switches.snmp")

_AUTH = {
    AuthProtocol.SHA256: config.USM_AUTH_HMAC192_SHA256,
    AuthProtocol.SHA: config.USM_AUTH_HMAC96_SHA,
}
_PRIV = {PrivProtocol.AES128: config.USM_PRIV_CFB128_AES, PrivProtocol.NONE: config.USM_PRIV_NONE}
_WHOLE_TREE = (1,)
_RO, _RW = "ro-community", "rw-community"
_TRAP_ONLY_TAG = "scaleunit-notify-only"  # no target address carries it: never accepted inbound
_NOTIFY = "scaleunit-notify"
_CONTEXT = rfc1902.OctetString(b"")  # the default context, typed as VACM keys it


def engine_id(switch: Switch) -> bytes:
    """RFC 3411 SnmpEngineID, MAC format: enterprise 32473 (RFC 5612), 3, the chassis MAC."""
    return bytes.fromhex("80007ed903" + switch.chassis_mac.replace(":", ""))


def bind_udp(address: str, port: int) -> socket.socket:
    """A non-blocking UDP socket bound to ``address:port`` (OSError keeps its errno)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((address, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _level(user: SnmpUserSpec) -> str:
    return "authNoPriv" if user.priv is PrivProtocol.NONE else "authPriv"


class _GatedUdp(udp.UdpAsyncioTransport):  # type: ignore[misc]
    """UDP that hands a datagram to the engine at once (no extra loop turn) and only while
    ``gate()`` holds; anything the engine raises on bad input is counted, never propagated."""

    def __init__(self, gate: Callable[[], bool], agent: SwitchAgent) -> None:
        super().__init__()
        self._gate = gate
        self._agent = agent

    def datagram_received(self, datagram: bytes, transportAddress: Any) -> None:
        if not self._gate():
            self._agent.dropped += 1
            return
        fast = self._agent.fast_path
        if fast is not None and self.transport is not None:
            try:
                reply = fast.answer(datagram, transportAddress)
            except Exception as exc:  # a bug or a model error: pysnmp's path decides
                reply = None
                log.debug(
                    "switch=%s proto=snmp event=fastpath.error error=%r", self._agent.name, exc
                )
            if reply is not None:
                self.transport.sendto(reply, transportAddress)
                return
        callback = self._callback_function
        if callback is None:
            return
        try:
            callback(self, transportAddress, datagram)
        except Exception as exc:  # a malformed packet must never stop the agent
            self._agent.malformed += 1
            log.debug("switch=%s proto=snmp event=datagram.bad error=%r", self._agent.name, exc)


@dataclass(frozen=True)
class AgentEndpoint:
    address: str
    port: int


class SwitchAgent:
    """SNMP for one switch. Build on the loop that owns the model, then ``await start()``."""

    def __init__(
        self,
        switch: Switch,
        *,
        rack: str,
        address: str,
        port: int,
        receivers: list[TrapReceiverSpec],
        reachable: Callable[[], bool] | None = None,
        model_number: int = 1,
        snmpv1: bool = True,
    ) -> None:
        self.switch = switch
        self.snmpv1 = snmpv1
        self.name = switch.name
        self.endpoint = AgentEndpoint(address, port)
        self.mib = SwitchMib(switch, rack=rack, model_number=model_number)
        self.receivers = receivers
        self._reachable = reachable or (lambda: True)
        self.dropped = 0
        self.malformed = 0
        self.sent: list[tuple[str, o.OID]] = []  # (target, snmpTrapOID) of every notification
        self._engine: Any = None
        self._transport: _GatedUdp | None = None
        #: Answers v1/v2c reads from the bytes (see :mod:`switches.snmp.fastpath`); set to
        #: None to send every datagram through pysnmp (the tests compare both paths).
        self.fast_path: FastPath | None = None
        self._ntf: Any = None

    def answering(self) -> bool:
        return self.switch.up and self._reachable()

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self, sock: socket.socket) -> None:
        """Serve on ``sock`` (bound to the agent's address, non-blocking); it is closed with the
        agent, or at once if the start fails."""
        try:
            await self._start(sock)
        except BaseException:
            self.close()
            sock.close()
            raise

    async def _start(self, sock: socket.socket) -> None:
        spec = self.switch.spec
        snmp = spec.snmp
        eng = engine.SnmpEngine(snmpEngineID=rfc1902.OctetString(engine_id(self.switch)))
        self._engine = eng
        transport = _GatedUdp(self.answering, self)
        transport.open_server_mode(sock=sock)
        config.add_transport(eng, udp.DOMAIN_NAME, transport)
        await transport._lport  # the endpoint is made asynchronously: wait until it is
        self._transport = transport

        # The communities serve SNMPv1 (security model 1) and v2c (2) alike.
        models = (1, 2) if self.snmpv1 else (2,)
        config.add_v1_system(eng, _RO, snmp.ro_community, securityName=_RO)
        for model in models:
            config.add_vacm_user(eng, model, _RO, "noAuthNoPriv", _WHOLE_TREE, (), _WHOLE_TREE)
        if snmp.rw_community is not None:
            config.add_v1_system(eng, _RW, snmp.rw_community, securityName=_RW)
            for model in models:
                config.add_vacm_user(
                    eng, model, _RW, "noAuthNoPriv", _WHOLE_TREE, _WHOLE_TREE, _WHOLE_TREE
                )
        for user in snmp.users:
            config.add_v3_user(
                eng,
                user.name,
                _AUTH[user.auth],
                user.auth_key,
                _PRIV[user.priv],
                user.priv_key,
            )
            write = _WHOLE_TREE if user.access is Access.READ_WRITE else ()
            config.add_vacm_user(eng, 3, user.name, _level(user), _WHOLE_TREE, write, _WHOLE_TREE)

        ctx = context.SnmpContext(eng)
        ctx.context_names[b""] = ModelMibController(self.mib)
        self._responders = [
            cmdrsp.GetCommandResponder(eng, ctx),
            cmdrsp.NextCommandResponder(eng, ctx),
            cmdrsp.BulkCommandResponder(eng, ctx),
            cmdrsp.SetCommandResponder(eng, ctx),
        ]
        self._configure_receivers(eng)
        self._ntf = ntforg.NotificationOriginator()
        self.fast_path = FastPath(eng, self.mib)

    def _configure_receivers(self, eng: Any) -> None:
        communities = {self.switch.spec.snmp.ro_community: _RO}
        if self.switch.spec.snmp.rw_community is not None:
            communities[self.switch.spec.snmp.rw_community] = _RW
        users = {u.name: u for u in self.switch.spec.snmp.users}
        for i, r in enumerate(self.receivers):
            params = f"params-{i}"
            if r.version is SnmpVersion.V2C:
                security = communities.get(r.community)
                if security is None:
                    security = f"notify-{i}"
                    config.add_v1_system(
                        eng,
                        security,
                        r.community,
                        securityName=security,
                        transportTag=_TRAP_ONLY_TAG,
                    )
                    config.add_vacm_user(eng, 2, security, "noAuthNoPriv", (), (), _WHOLE_TREE)
                config.add_target_parameters(eng, params, security, "noAuthNoPriv", 1)
            else:
                assert r.user is not None
                user = users[r.user]
                config.add_target_parameters(eng, params, user.name, _level(user), 3)
            config.add_target_address(
                eng,
                f"target-{i}",
                udp.DOMAIN_NAME,
                (str(r.address), r.port),
                params,
                timeout=300,  # hundredths of a second, per try (informs)
                retryCount=2,
                tagList=f"receiver-{i}",
            )
            kind = "inform" if r.kind is NotificationKind.INFORM else "trap"
            config.add_notification_target(eng, f"{_NOTIFY}-{i}", params, f"receiver-{i}", kind)

    def close(self) -> None:
        eng = self._engine
        if eng is None:
            return
        self._engine = None
        self.fast_path = None
        for responder in getattr(self, "_responders", []):
            responder.close(eng)
        if self._transport is not None:
            self._transport.close_transport()
            self._transport = None
        eng.close_dispatcher()

    # -- notifications ---------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        """Turn this switch's model events into notifications (while its agent is up)."""
        if event.device != self.name or self._engine is None or not self.receivers:
            return
        if not self.answering():
            return  # a switch that is off or booting sends nothing
        if isinstance(event, SwitchBooted):
            self.notify(o.COLD_START, [])
        elif isinstance(event, LinkChanged):
            port = self.switch.ports.get(event.port)
            if port is None:
                return
            i = (port.index,)
            self.notify(
                o.LINK_UP if event.up else o.LINK_DOWN,
                [
                    ((*o.IF_INDEX, *i), smi.Integer32(port.index)),
                    ((*o.IF_ADMIN_STATUS, *i), self.mib.get((*o.IF_ADMIN_STATUS, *i))),
                    ((*o.IF_OPER_STATUS, *i), self.mib.get((*o.IF_OPER_STATUS, *i))),
                ],
            )
        elif isinstance(event, PsuChanged | FanChanged):
            part = event.psu if isinstance(event, PsuChanged) else event.fan
            trap = o.ENT_STATE_OPER_ENABLED if event.ok else o.ENT_STATE_OPER_DISABLED
            self.notify(trap, self.mib.state_varbinds(part))

    def notify(self, trap: o.OID, varbinds: Sequence[tuple[o.OID, smi.Value | None]]) -> None:
        """Send ``trap`` with ``varbinds`` to every receiver (sysUpTime and snmpTrapOID first);
        a varbind without a value is left out."""
        eng = self._engine
        if eng is None or self._ntf is None:
            return
        binds = [
            (o.SYS_UPTIME + (0,), rfc1902.TimeTicks(self.mib.uptime_ticks())),
            (o.SNMP_TRAP_OID, rfc1902.ObjectIdentifier(trap)),
            *((name, smi.to_pysnmp(value)) for name, value in varbinds if value is not None),
        ]
        for i, _ in enumerate(self.receivers):
            target = f"{_NOTIFY}-{i}"

            def done(
                snmpEngine: Any,
                sendRequestHandle: Any,
                errorIndication: Any,
                errorStatus: Any,
                errorIndex: Any,
                varBinds: Any,
                cbCtx: Any,
                target: str = target,
            ) -> None:
                if errorIndication:
                    log.info(
                        "switch=%s proto=snmp event=notify.failed target=%s error=%s",
                        self.name,
                        target,
                        errorIndication,
                    )

            try:
                self._ntf.send_varbinds(eng, target, None, _CONTEXT, binds, done)
            except Exception as exc:  # a receiver misconfigured must not break the model
                log.warning(
                    "switch=%s proto=snmp event=notify.error target=%s error=%r",
                    self.name,
                    target,
                    exc,
                )
                continue
            self.sent.append((target, trap))

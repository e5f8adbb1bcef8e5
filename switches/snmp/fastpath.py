"""The BER fast path: SNMPv1/v2c GET, GETNEXT and GETBULK answered without pysnmp's pipeline.

pysnmp spends ~75 us of CPU per varbind of a bulk walk (decoding into pyasn1 objects, building
pysnmp values, encoding them back). :class:`FastPath` answers the requests that make up nearly
all of the traffic (v1/v2c reads with a community the engine knows) straight from the bytes with
:mod:`switches.snmp.ber`, and declines everything else: SNMPv3, SET, notifications and responses,
an unknown community, any datagram the codec does not fully parse. A declined datagram (``None``)
goes to pysnmp unchanged, so what pysnmp did with it stays what happens.

SNMPv1 is served, as v2c: the agents (:class:`~switches.snmp.agent.SwitchAgent`) give their
communities a VACM group for security model 1 as well as 2, so ``snmpget -v1`` reads what
``-v2c`` reads, with v1's errors (noSuchName). An engine without that group (``snmpv1=False``)
answers v1 with noSuchName on both paths, as its VACM says.

What is *the same* in both paths, by construction:

* the principal: the community is resolved by the engine's own community table (pysnmp's
  ``_com2sec`` for that security model, with the transport address, so transport tags count);
* the access rule: :func:`~switches.snmp.mib.vacm_allows` on the engine's VACM, once per request
  with the first varbind's name, exactly as :class:`~switches.snmp.mib.ModelMibController`;
* the objects: the same :class:`~switches.snmp.mib.SwitchMib` ``get``/``next``/``has_object``;
* the PDU rules of pysnmp's command responders (``pysnmp.entity.rfc3413.cmdrsp``): GETBULK's
  N/M/R with M capped to 64 // R, repetitions that continue from the previous row (also past
  endOfMibView), no answer at all when nothing results (pysnmp's genErr there raises); and the
  SNMPv1 rules of its RFC 2576 proxy: GETNEXT steps over Counter64 values, a Counter64 or an
  exception in a GET (exceptions in a GETNEXT) becomes noSuchName with the index of the lowest
  one (a Counter64 scanned from the end stops the scan), and an error response repeats the
  request's varbinds.

One deliberate difference, the response size (RFC 3416 4.2.1-4.2.3, RFC 1157 4.1.2): where pysnmp
silently drops a response larger than the engine's ``snmpEngineMaxMessageSize`` (65507), the fast
path truncates a GETBULK response to the varbinds that fit, answers an oversized GET/GETNEXT with
tooBig (v2c: no varbinds; v1: the request's), and only declines (pysnmp then drops it) when even
that does not fit.
"""

from __future__ import annotations

import logging
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.proto import error as pysnmp_error

from switches.snmp import ber, smi
from switches.snmp.mib import SwitchMib, vacm_allows

log = logging.getLogger("switches.snmp")

OID = tuple[int, ...]

#: pysnmp's BulkCommandResponder.max_varbinds: M is capped to this // R.
BULK_MAX_VARBINDS = 64
_NO_AUTH_NO_PRIV = 1
_NO_SUCH_NAME, _TOO_BIG = 2, 1
_NAME_CACHE = 50_000
_SECURITY_MODEL = {ber.V1: 1, ber.V2C: 2}


class FastPath:
    """Answers v1/v2c reads for one agent's engine and MIB; :meth:`answer` declines with None."""

    def __init__(self, engine: Any, mib: SwitchMib, *, max_message_size: int | None = None):
        self.engine = engine
        self.mib = mib
        builder = engine.get_mib_builder()
        (limit,) = builder.import_symbols("__SNMP-FRAMEWORK-MIB", "snmpEngineMaxMessageSize")
        (engine_id,) = builder.import_symbols("__SNMP-FRAMEWORK-MIB", "snmpEngineID")
        self.max_message_size = max_message_size or int(limit.syntax)
        self._engine_id = bytes(engine_id.syntax)
        self._names: dict[OID, bytes] = {}
        self.answered = 0
        self.declined = 0

    # -- the entry point -------------------------------------------------------------------------
    def answer(self, datagram: bytes, address: tuple[str, int]) -> bytes | None:
        """The response to ``datagram`` from ``address``, or None: pysnmp's to handle."""
        request = ber.decode_request(datagram)
        reply = None if request is None else self._answer(request, address)
        if reply is None:
            self.declined += 1
        else:
            self.answered += 1
        return reply

    def _answer(self, request: ber.Request, address: tuple[str, int]) -> bytes | None:
        model = _SECURITY_MODEL[request.version]
        principal = self._principal(model, request.community, address)
        if principal is None:
            return None
        security_name, context_name = principal
        names = request.names
        allowed = (
            vacm_allows(
                self.engine,
                model,
                security_name,
                _NO_AUTH_NO_PRIV,
                "read",
                context_name,
                names[0],
            )
            if names
            else True
        )
        if request.version == ber.V1:
            return self._v1(request, allowed)
        if request.pdu == ber.GET:
            return self._fit(request, [self._get(n, allowed) for n in names], truncate=False)
        if request.pdu == ber.GETNEXT:
            return self._fit(request, [self._next(n, allowed)[1] for n in names], truncate=False)
        return self._bulk(request, allowed)

    def _principal(self, model: int, community: bytes, address: tuple[str, int]) -> Any:
        """(securityName, contextName) from the engine's community table, as pysnmp finds them
        for this security model and transport; None when pysnmp would not accept the
        community, or maps it to a context the agent's responders do not serve."""
        security = self.engine.security_models.get(model)
        if security is None:
            return None
        try:
            name, context_engine_id, context_name = security._com2sec(
                self.engine, community, (udp.DOMAIN_NAME, address)
            )
        except pysnmp_error.StatusInformation:
            return None
        if bytes(context_engine_id) != self._engine_id or bytes(context_name) != b"":
            return None
        return name, context_name

    # -- one varbind -----------------------------------------------------------------------------
    def _name(self, oid: OID) -> bytes:
        name = self._names.get(oid)
        if name is None:
            if len(self._names) > _NAME_CACHE:
                self._names.clear()
            name = self._names[oid] = ber.encode_oid(oid)
        return name

    def _get(self, name: OID, allowed: bool) -> bytes:
        if not allowed:
            return ber.encode_varbind(self._name(name), ber.NO_SUCH_OBJECT)
        value = self.mib.get(name)
        if value is None:
            missing = ber.NO_SUCH_INSTANCE if self.mib.has_object(name) else ber.NO_SUCH_OBJECT
            return ber.encode_varbind(self._name(name), missing)
        return ber.encode_varbind(self._name(name), ber.encode_value(value))

    def _next(self, name: OID, allowed: bool) -> tuple[OID, bytes]:
        found = self.mib.next(name) if allowed else None
        if found is None:
            return name, ber.encode_varbind(self._name(name), ber.END_OF_MIB_VIEW)
        oid, value = found
        return oid, ber.encode_varbind(self._name(oid), ber.encode_value(value))

    # -- PDUs ------------------------------------------------------------------------------------
    def _bulk(self, request: ber.Request, allowed: bool) -> bytes | None:
        names = request.names
        n = min(request.non_repeaters, len(names))
        m = request.max_repetitions
        r = max(len(names) - n, 0)
        if r:
            m = min(m, BULK_MAX_VARBINDS // r)
        out = [self._next(name, allowed)[1] for name in names[:n]]
        row = list(names[n:])
        if r:
            for _ in range(m):
                for i, name in enumerate(row):
                    row[i], varbind = self._next(name, allowed)
                    out.append(varbind)
        if not out:
            # pysnmp means genErr here but fails on it (``"oid" in SmiError()``: TypeError), so
            # the request is dropped: leave it to pysnmp, for the same silence.
            return None
        return self._fit(request, out, truncate=True)

    def _v1(self, request: ber.Request, allowed: bool) -> bytes | None:
        """GET/GETNEXT of SNMPv1, as pysnmp's RFC 2576 proxy answers them."""
        kinds: list[int | None] = []  # the v2 value's tag, None for a plain value
        varbinds: list[bytes] = []
        for name in request.names:
            if request.pdu == ber.GET:
                if not allowed:
                    kinds.append(smi.NO_SUCH_OBJECT)
                    varbinds.append(b"")
                    continue
                value = self.mib.get(name)
                if value is None:
                    kinds.append(smi.NO_SUCH_OBJECT)
                    varbinds.append(b"")
                    continue
                kinds.append(smi.COUNTER64 if type(value) is smi.Counter64 else None)
                varbinds.append(ber.encode_varbind(self._name(name), ber.encode_value(value)))
                continue
            found = self.mib.next(name) if allowed else None
            while found is not None and type(found[1]) is smi.Counter64:
                found = self.mib.next(found[0])  # RFC 2576 4.1.2.1: v1 cannot carry it
            if found is None:
                kinds.append(smi.END_OF_MIB_VIEW)
                varbinds.append(b"")
            else:
                kinds.append(None)
                oid, value = found
                varbinds.append(ber.encode_varbind(self._name(oid), ber.encode_value(value)))
        error_index = 0
        for i in range(len(kinds) - 1, -1, -1):  # pysnmp's v2_to_v1 scan, from the end
            if kinds[i] is not None:
                error_index = i + 1
                if kinds[i] == smi.COUNTER64:
                    break
        if error_index:
            return self._error(request, _NO_SUCH_NAME, error_index)
        return self._fit(request, varbinds, truncate=False)

    # -- messages --------------------------------------------------------------------------------
    def _echo(self, request: ber.Request) -> bytes:
        """The request's varbinds (NULL values), as an error response repeats them."""
        return b"".join(ber.encode_varbind(self._name(n), ber.NULL_TLV) for n in request.names)

    def _error(self, request: ber.Request, status: int, index: int) -> bytes | None:
        reply = ber.encode_response(
            request.version,
            request.community,
            request.request_id,
            status,
            index,
            self._echo(request),
        )
        return reply if len(reply) <= self.max_message_size else None

    def _fit(self, request: ber.Request, varbinds: list[bytes], *, truncate: bool) -> bytes | None:
        """The response with ``varbinds``, within the size limit (see the module)."""
        body = b"".join(varbinds)
        community, request_id = len(request.community), request.request_id
        limit = self.max_message_size
        if ber.response_size(community, request_id, len(body)) > limit:
            if not truncate:
                if request.version == ber.V1:
                    return self._error(request, _TOO_BIG, 0)
                return ber.encode_response(
                    request.version, request.community, request_id, 1, 0, b""
                )
            size = len(body)
            while varbinds and ber.response_size(community, request_id, size) > limit:
                size -= len(varbinds.pop())
            body = b"".join(varbinds)
        return ber.encode_response(request.version, request.community, request_id, 0, 0, body)

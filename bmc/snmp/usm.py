"""SNMPv3 trap messages with the User-based Security Model, for a sender that is authoritative.

A BMC only sends (unacknowledged SNMPv2-Trap PDUs), so it needs none of an engine's machinery
(no discovery, no responders, no MIB instrumentation): this module encodes one message per trap,
with the BER helpers of :mod:`switches.snmp.ber`, and secures it as RFC 3414 (USM, HMAC-SHA-96),
RFC 7860 (HMAC-SHA-256-192) and RFC 3826 (AES-128 CFB privacy) say. Keys come from passphrases
by pysnmp's RFC 3414 password-to-key and localization (``pysnmp.proto.secmod.rfc3414.localkey``),
once per BMC. A pysnmp engine per BMC did the same in 0.3 s of CPU each at start and 6 ms a
trap; this takes microseconds a trap.

The message (RFC 3412 section 6)::

    SNMPv3Message ::= SEQUENCE { msgVersion 3,
        msgGlobalData SEQUENCE { msgID, msgMaxSize, msgFlags (auth|priv, not reportable),
                                 msgSecurityModel 3 },
        msgSecurityParameters OCTET STRING (UsmSecurityParameters: engine ID, boots, time,
                                 user name, authentication parameters, privacy parameters),
        msgData encryptedPDU OCTET STRING (or the plaintext ScopedPDU for authNoPriv) }
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

try:  # cryptography >= 47 keeps CFB among the "decrepit" modes
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.modes import CFB  # type: ignore[assignment,unused-ignore]
from pyasn1.type import univ
from pysnmp.proto.secmod.rfc3414 import localkey

from switches.snmp import ber, smi
from switches.spec import AuthProtocol, PrivProtocol

OID = tuple[int, ...]
TRAP_V2 = 0xA7  # SNMPv2-Trap-PDU
MAX_SIZE = 65507
_FLAG_AUTH, _FLAG_PRIV = 0x01, 0x02
_USM = 3

#: (hash, size of the HMAC kept on the wire) per authentication protocol.
_AUTH: dict[AuthProtocol, tuple[Callable[[], Any], int]] = {
    AuthProtocol.SHA: (hashlib.sha1, 12),  # usmHMACSHAAuthProtocol, RFC 3414
    AuthProtocol.SHA256: (hashlib.sha256, 24),  # usmHMAC192SHA256AuthProtocol, RFC 7860
}


@cache
def _master_key(passphrase: str, auth: AuthProtocol) -> bytes:
    """RFC 3414 A.2's Ku (a megabyte of hashing): the same for every BMC with that password."""
    return bytes(localkey.hash_passphrase(passphrase.encode(), _AUTH[auth][0]))


@dataclass(frozen=True)
class UsmUser:
    """A user with its keys localized to one engine ID."""

    name: bytes
    auth: AuthProtocol
    auth_key: bytes
    priv_key: bytes | None  # the AES-128 key (16 octets); None: authNoPriv

    @classmethod
    def localized(
        cls,
        name: str,
        engine_id: bytes,
        *,
        auth: AuthProtocol,
        auth_pass: str,
        priv: PrivProtocol,
        priv_pass: str,
    ) -> UsmUser:
        hash_fn = _AUTH[auth][0]

        def local(passphrase: str) -> bytes:
            key = localkey.localize_key(
                _master_key(passphrase, auth), univ.OctetString(engine_id), hash_fn
            )
            return bytes(key)

        priv_key = None if priv is PrivProtocol.NONE else local(priv_pass)[:16]
        return cls(name.encode(), auth, local(auth_pass), priv_key)


def encode_trap(
    user: UsmUser,
    engine_id: bytes,
    *,
    boots: int,
    time: int,
    msg_id: int,
    request_id: int,
    salt: int,
    varbinds: Sequence[tuple[OID, smi.Value]],
) -> bytes:
    """One SNMPv3 TRAP message from the authoritative engine ``engine_id``: authenticated, and
    encrypted with AES-128 CFB when ``user`` has a privacy key (``salt``: a 64-bit counter the
    sender never repeats for a key)."""
    binds = b"".join(
        ber.encode_varbind(ber.encode_oid(name), ber.encode_value(value))
        for name, value in varbinds
    )
    pdu = ber.tlv(
        TRAP_V2,
        ber.encode_integer(request_id)
        + ber.encode_integer(0)
        + ber.encode_integer(0)
        + ber.tlv(smi.SEQUENCE, binds),
    )
    scoped = ber.tlv(
        smi.SEQUENCE, ber.tlv(smi.OCTET_STRING, engine_id) + ber.tlv(smi.OCTET_STRING, b"") + pdu
    )
    flags = _FLAG_AUTH
    priv_params = b""
    data = scoped
    if user.priv_key is not None:
        flags |= _FLAG_PRIV
        priv_params = salt.to_bytes(8, "big")
        iv = boots.to_bytes(4, "big") + time.to_bytes(4, "big") + priv_params
        encryptor = Cipher(algorithms.AES(user.priv_key), CFB(iv)).encryptor()
        data = ber.tlv(smi.OCTET_STRING, encryptor.update(scoped) + encryptor.finalize())
    hash_fn, mac_size = _AUTH[user.auth]
    head = ber.tlv(
        smi.SEQUENCE,
        ber.encode_integer(msg_id)
        + ber.encode_integer(MAX_SIZE)
        + ber.tlv(smi.OCTET_STRING, bytes((flags,)))
        + ber.encode_integer(_USM),
    )
    before_mac = (
        ber.tlv(smi.OCTET_STRING, engine_id)
        + ber.encode_integer(boots)
        + ber.encode_integer(time)
        + ber.tlv(smi.OCTET_STRING, user.name)
    )
    mac_tlv_head = ber.tlv(smi.OCTET_STRING, bytes(mac_size))[:2]
    after_mac = ber.tlv(smi.OCTET_STRING, priv_params)
    usm = ber.tlv(smi.SEQUENCE, before_mac + mac_tlv_head + bytes(mac_size) + after_mac)
    body = ber.encode_integer(3) + head + ber.tlv(smi.OCTET_STRING, usm) + data
    message = ber.tlv(smi.SEQUENCE, body)
    # The HMAC covers the whole message with zeros where it goes (RFC 3414 6.3.1).
    at = message.index(before_mac + mac_tlv_head) + len(before_mac) + len(mac_tlv_head)
    mac = hmac.new(user.auth_key, message, hash_fn).digest()[:mac_size]
    return message[:at] + mac + message[at + mac_size :]

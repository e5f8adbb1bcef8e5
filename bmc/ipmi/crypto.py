"""RMCP+ cipher suites, RAKP key exchange arithmetic and per-session packet crypto.

Shared by the server session layer and the lanplus client; pure functions plus one
small stateful class (:class:`SessionCrypto`). Spec references are IPMI v2.0 rev 1.1:
13.28 (integrity/confidentiality), 13.31-13.32 (RAKP, SIK, K1/K2), 22.15.2 (suites).

Hot-path notes: the keyed HMAC is built once per session and ``copy()``-ed per packet;
AES-CBC uses one long-lived encryptor and one decryptor per session. CBC chaining only
depends on the previous ciphertext block, so

* decrypting ``IV || C`` with a running decryptor yields ``junk || P`` (the IV block
  re-seeds the chain), and
* encrypting ``R || P`` with a running encryptor and a fresh random block ``R`` yields
  ``E(R ^ prev) || C``: the first block is an unpredictable IV and ``C`` is exactly the
  CBC encryption of ``P`` under it.

So no cipher object is created per packet.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# Algorithm numbers (13.28).
AUTH_RAKP_NONE: Final = 0x00
AUTH_RAKP_HMAC_SHA1: Final = 0x01
AUTH_RAKP_HMAC_MD5: Final = 0x02
AUTH_RAKP_HMAC_SHA256: Final = 0x03
INTEGRITY_NONE: Final = 0x00
INTEGRITY_HMAC_SHA1_96: Final = 0x01
INTEGRITY_HMAC_MD5_128: Final = 0x02
INTEGRITY_MD5_128: Final = 0x03
INTEGRITY_HMAC_SHA256_128: Final = 0x04
CONF_NONE: Final = 0x00
CONF_AES_CBC_128: Final = 0x01
CONF_XRC4_128: Final = 0x02
CONF_XRC4_40: Final = 0x03

KNOWN_AUTH: Final = frozenset({0, 1, 2, 3})
KNOWN_INTEGRITY: Final = frozenset({0, 1, 2, 3, 4})
KNOWN_CONFIDENTIALITY: Final = frozenset({0, 1, 2, 3})

_CONST1: Final = b"\x01" * 20
_CONST2: Final = b"\x02" * 20
_ZERO_IV: Final = b"\x00" * 16


@dataclass(frozen=True, slots=True)
class CipherSuite:
    suite_id: int
    auth: int
    integrity: int
    confidentiality: int
    digest: str  # hashlib name used for RAKP and integrity
    rakp4_len: int  # truncated RAKP4 integrity check value length
    integrity_len: int  # per-packet AuthCode length

    @property
    def record(self) -> bytes:
        """The Get Channel Cipher Suites record (C0h, id, auth, 40h|int, 80h|conf)."""
        return bytes(
            (0xC0, self.suite_id, self.auth, 0x40 | self.integrity, 0x80 | self.confidentiality)
        )


SUITE_3: Final = CipherSuite(
    3, AUTH_RAKP_HMAC_SHA1, INTEGRITY_HMAC_SHA1_96, CONF_AES_CBC_128, "sha1", 12, 12
)
SUITE_17: Final = CipherSuite(
    17, AUTH_RAKP_HMAC_SHA256, INTEGRITY_HMAC_SHA256_128, CONF_AES_CBC_128, "sha256", 16, 16
)
SUITES: Final = {3: SUITE_3, 17: SUITE_17}
_BY_ALGORITHMS: Final = {(s.auth, s.integrity, s.confidentiality): s for s in SUITES.values()}


def suite_for(auth: int, integrity: int, confidentiality: int) -> CipherSuite | None:
    return _BY_ALGORITHMS.get((auth, integrity, confidentiality))


def _mac(key: bytes, data: bytes, digest: str) -> bytes:
    return hmac.digest(key, data, digest)


def _name_block(role: int, name: bytes) -> bytes:
    return bytes((role, len(name))) + name


def rakp2_auth_code(
    suite: CipherSuite,
    kuid: bytes,
    console_sid: int,
    bmc_sid: int,
    rm: bytes,
    rc: bytes,
    guid: bytes,
    role: int,
    name: bytes,
) -> bytes:
    """HMAC_Kuid(SIDm, SIDc, Rm, Rc, GUIDc, ROLEm, ULENm, UNAMEm) (13.31)."""
    data = struct.pack("<II", console_sid, bmc_sid) + rm + rc + guid + _name_block(role, name)
    return _mac(kuid, data, suite.digest)


def rakp3_auth_code(
    suite: CipherSuite, kuid: bytes, rc: bytes, console_sid: int, role: int, name: bytes
) -> bytes:
    """HMAC_Kuid(Rc, SIDm, ROLEm, ULENm, UNAMEm) (13.22)."""
    data = rc + struct.pack("<I", console_sid) + _name_block(role, name)
    return _mac(kuid, data, suite.digest)


def session_integrity_key(
    suite: CipherSuite, kg: bytes, rm: bytes, rc: bytes, role: int, name: bytes
) -> bytes:
    """SIK = HMAC_Kg(Rm, Rc, ROLEm, ULENm, UNAMEm); Kg defaults to Kuid (13.31)."""
    return _mac(kg, rm + rc + _name_block(role, name), suite.digest)


def rakp4_icv(suite: CipherSuite, sik: bytes, rm: bytes, bmc_sid: int, guid: bytes) -> bytes:
    """HMAC_SIK(Rm, SIDc, GUIDc), truncated (13.23)."""
    data = rm + struct.pack("<I", bmc_sid) + guid
    return _mac(sik, data, suite.digest)[: suite.rakp4_len]


class SessionCrypto:
    """Integrity (K1) and AES-CBC-128 confidentiality (K2) for one established session."""

    __slots__ = ("_dec", "_enc", "_mac", "integrity_len")

    def __init__(self, suite: CipherSuite, sik: bytes) -> None:
        k1 = _mac(sik, _CONST1, suite.digest)
        k2 = _mac(sik, _CONST2, suite.digest)
        self._mac = hmac.new(k1, digestmod=getattr(hashlib, suite.digest))
        self.integrity_len = suite.integrity_len
        aes = algorithms.AES(k2[:16])
        self._enc = Cipher(aes, modes.CBC(_ZERO_IV)).encryptor()
        self._dec = Cipher(aes, modes.CBC(_ZERO_IV)).decryptor()

    def sign(self, data: bytes | memoryview) -> bytes:
        m = self._mac.copy()
        m.update(data)
        return m.digest()[: self.integrity_len]

    def verify(self, data: bytes | memoryview, code: bytes | memoryview) -> bool:
        m = self._mac.copy()
        m.update(data)
        return hmac.compare_digest(m.digest()[: self.integrity_len], code)

    def encrypt(self, plaintext: bytes) -> bytes:
        """IV || AES-CBC(plaintext || 01 02 .. N || N), N making a whole number of blocks."""
        n = (-(len(plaintext) + 1)) & 15
        padded = plaintext + bytes(range(1, n + 1)) + bytes((n,))
        return self._enc.update(os.urandom(16) + padded)

    def decrypt(self, payload: bytes | memoryview) -> bytes | None:
        """Plaintext of ``IV || ciphertext``; None when the length or the pad is invalid."""
        size = len(payload)
        if size < 32 or size & 15:
            return None
        out = self._dec.update(payload)[16:]
        n = out[-1]
        if n > 15:
            return None
        return out[: -1 - n]


def md5_auth_code(password: bytes, session_id: int, message: bytes, seq: int) -> bytes:
    """IPMI v1.5 MD5 AuthCode: MD5(pw16, session id, message, session seq, pw16) (22.17.1)."""
    pw = password[:16].ljust(16, b"\x00")
    return hashlib.md5(
        pw + struct.pack("<I", session_id) + message + struct.pack("<I", seq) + pw
    ).digest()

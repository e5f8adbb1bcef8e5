"""One self-signed certificate for every BMC of a rack, kept in the state directory, and the
TLS layer the Redfish server speaks it with.

Made on first start (an EC P-256 key, cheap to make and to handshake with); its subject
alternative names list every BMC address, so a client that pins the certificate can check the
host name of any BMC. A certificate that no longer covers the rack's addresses, or is about to
expire, is replaced.

TLS memory: asyncio's TLS protocol keeps a 256 KiB read buffer per connection (``max_size``),
allocated when the connection is accepted, and a connection the client closed without a TLS
close_notify (most clients: they just close the socket) stays, buffer and all, for the 30 s
shutdown timeout waiting for one. Churning through thousands of TLS connections therefore held
(rate x 30 s) x 256 KiB, and the allocator kept the memory afterwards. :func:`tls_protocol` wraps
the HTTP protocol in the same asyncio TLS protocol with a :data:`READ_BUFFER` buffer (a TLS
record is at most 16 KiB) and a :data:`SHUTDOWN_TIMEOUT_S` shutdown: the measurement is
``python3 bench/redfish_tls.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import os
import ssl
from asyncio import sslproto
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

log = logging.getLogger("bmc.redfish")

CERT_FILE = "redfish-cert.pem"
KEY_FILE = "redfish-key.pem"
VALID_DAYS = 3650


def _covers(cert: x509.Certificate, addresses: set[str]) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    return addresses <= have and cert.not_valid_after_utc > soon


def ensure_certificate(state_dir: Path, addresses: Iterable[str]) -> tuple[Path, Path]:
    """The paths of a certificate and key covering ``addresses``, made if needed."""
    wanted = {str(ipaddress.ip_address(a)) for a in addresses}
    state_dir.mkdir(parents=True, exist_ok=True)
    cert_path = state_dir / CERT_FILE
    key_path = state_dir / KEY_FILE
    if cert_path.is_file() and key_path.is_file():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if _covers(cert, wanted):
                return cert_path, key_path
        except ValueError:
            pass
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "scaleunit"),
            x509.NameAttribute(NameOID.COMMON_NAME, "scaleunit BMC"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in sorted(wanted)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp_key = key_path.with_suffix(".tmp")
    fd = os.open(tmp_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_bytes)
    tmp_key.replace(key_path)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    log.info("proto=redfish event=certificate.created path=%s addresses=%d", cert_path, len(wanted))
    return cert_path, key_path


#: The read buffer of a TLS connection (asyncio's default is 256 KiB).
READ_BUFFER = 32 * 1024
#: How long a closing connection waits for the client's close_notify (real seconds; asyncio's
#: default is 30 s). Most clients just close the socket and never send one.
SHUTDOWN_TIMEOUT_S = 2.0
#: How long a new connection may take to finish its handshake (asyncio's default is 60 s).
HANDSHAKE_TIMEOUT_S = 10.0


class _TlsProtocol(sslproto.SSLProtocol):
    """asyncio's TLS protocol with a :data:`READ_BUFFER` read buffer."""

    max_size = READ_BUFFER


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The server side of the rack's TLS identity (what uvicorn would make of the files)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def tls_protocol(
    http: Callable[..., asyncio.Protocol], context: ssl.SSLContext
) -> Callable[..., asyncio.BaseProtocol]:
    """A protocol factory for uvicorn's ``http`` setting (called with uvicorn's keyword
    arguments): ``http``'s protocol behind TLS with ``context``, so the server itself is given
    no ``ssl`` (the transport still says ``sslcontext``, so requests are ``https``)."""

    def factory(**kwargs: Any) -> asyncio.BaseProtocol:
        loop = kwargs.get("_loop") or asyncio.get_running_loop()
        # No waiter: nothing awaits the handshake (asyncio passes None the same way).
        return _TlsProtocol(
            loop,
            http(**kwargs),
            context,
            None,  # type: ignore[arg-type]
            server_side=True,
            ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S,  # type: ignore[arg-type]
            ssl_shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        )

    return factory

"""What a TLS connection holds on the Redfish server, and for how long: asyncio's TLS protocol
with a bounded read buffer while the connection is open, nothing once it is closed. (It used to
be a 256 KiB buffer per connection, held 30 s past the close by uvicorn's keep-alive timer when
the client just closed its socket: RSS grew with connection churn.) The RSS measurement is
``python3 bench/redfish_tls.py``.
"""

from __future__ import annotations

import gc
import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from bmc.redfish import tls
from tests.conftest import wait_for

if TYPE_CHECKING:
    from emulator.harness import RackThread

pytestmark = pytest.mark.timeout(120)

#: Connections the test opens at once (bounded: one request each, then closed).
CONNECTIONS = 100


def _live() -> list[object]:
    gc.collect()
    return [o for o in gc.get_objects() if type(o).__name__ == "_TlsProtocol"]


def test_closed_tls_connections_hold_nothing(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory(nodes=4)
    e = rack.endpoint("n01", "redfish")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for _ in range(2):  # a second round finds nothing left over from the first
        held = []
        try:
            for _ in range(CONNECTIONS):
                s = context.wrap_socket(socket.create_connection((e.address, e.port), timeout=10))
                held.append(s)
                s.sendall(b"GET /redfish/v1/ HTTP/1.1\r\nHost: bmc\r\n\r\n")
                data = b""
                while b"\r\n\r\n" not in data:
                    data += s.recv(65536)
                assert data.startswith(b"HTTP/1.1 200")
            live = rack.call(lambda r: _live())
            assert len(live) >= CONNECTIONS
            # The bound on what each open connection keeps to read into.
            assert all(len(p._ssl_buffer) <= tls.READ_BUFFER for p in live)  # type: ignore[attr-defined]
            del live
        finally:
            for s in held:
                s.close()  # as most clients do: no TLS close_notify
        # Well within uvicorn's 30 s keep-alive timeout, which used to hold them.
        assert wait_for(lambda: not rack.call(lambda r: _live()), 5.0)

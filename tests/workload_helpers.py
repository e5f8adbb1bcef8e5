"""A node's workload endpoint as a tenant sees it: one connection, one JSON line back."""

from __future__ import annotations

import json
import socket
from typing import Any

from emulator.endpoints import Endpoint


def workload_answer(e: Endpoint, timeout: float = 1.0) -> dict[str, Any] | None:
    """The workload's answer, or None when nothing comes back in ``timeout`` seconds, the
    connection is refused or reset, or it is closed with nothing said."""
    try:
        with socket.create_connection((e.address, e.port), timeout=timeout) as s:
            s.settimeout(timeout)
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except (TimeoutError, ConnectionError):
        return None
    return dict(json.loads(data)) if data else None

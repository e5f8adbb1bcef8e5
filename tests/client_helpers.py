"""Real clients against one endpoint of a running rack: a Redfish GET (httpx), ipmitool over
lanplus, and the workload endpoint as a tenant sees it (one connection, one JSON line back)."""

from __future__ import annotations

import json
import socket
import subprocess
from typing import Any

import httpx

from emulator.endpoints import Endpoint
from tests.conftest import require_tool
from tests.snmp_helpers import run


def redfish_get(e: Endpoint, path: str, timeout: float = 5.0) -> httpx.Response:
    """GET ``path`` on a BMC's Redfish service with its credentials (self-signed TLS)."""
    return httpx.get(
        f"{e.scheme}://{e.address}:{e.port}{path}",
        auth=(e.username, e.password),
        verify=False,
        timeout=timeout,
    )


def ipmitool(e: Endpoint, *args: str) -> subprocess.CompletedProcess[str]:
    """``ipmitool -I lanplus -C 17`` against a BMC, one try of 1 s per request, 20 s in all."""
    cmd = [require_tool("ipmitool"), "-I", "lanplus", "-C", "17", "-N", "1", "-R", "1"]
    cmd += ["-H", e.address, "-p", str(e.port), "-U", e.username, "-P", e.password, *args]
    return run(cmd, timeout=20)


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

"""net-snmp's tools against a running rack: command lines, and an ``snmptrapd`` the test owns."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from emulator.endpoints import Endpoint
from tests.conftest import require_tool

MIBS = Path(__file__).resolve().parent / "mibs"
#: Numeric OIDs out, no MIB files in (Debian's net-snmp ships none): deterministic output.
QUIET = ["-On", "-M", str(MIBS), "-m", ""]


def v2c(tool: str, e: Endpoint, *args: str, community: str | None = None) -> list[str]:
    return [
        require_tool(tool),
        *QUIET,
        "-v2c",
        "-c",
        community or e.username,
        "-t",
        "2",
        "-r",
        "1",
        f"{e.address}:{e.port}",
        *args,
    ]


def v3(
    tool: str,
    e: Endpoint,
    *args: str,
    user: str,
    auth: str,
    auth_key: str,
    priv_key: str,
    level: str = "authPriv",
) -> list[str]:
    return [
        require_tool(tool),
        *QUIET,
        "-v3",
        "-l",
        level,
        "-u",
        user,
        "-a",
        auth,
        "-A",
        auth_key,
        "-x",
        "AES",
        "-X",
        priv_key,
        "-t",
        "2",
        "-r",
        "1",
        f"{e.address}:{e.port}",
        *args,
    ]


def run(cmd: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def values(output: str) -> dict[str, str]:
    """``.1.3.6... = TYPE: value`` lines as {oid: "TYPE: value"}."""
    out = {}
    for line in output.splitlines():
        if " = " in line:
            oid, value = line.split(" = ", 1)
            out[oid.strip()] = value.strip()
    return out


def integer(value: str) -> int:
    match = re.search(r"\((\d+)\)", value) or re.search(r"(-?\d+)\s*$", value)
    assert match, value
    return int(match.group(1))


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TrapReceiver:
    """``snmptrapd -f -Lo`` on 127.0.0.1:<port>, its output collected in a thread.

    ``lines`` is everything it printed; :meth:`wait_for` waits for a line matching a predicate.
    By default it accepts every trap (``disableAuthorization yes``), prints numeric OIDs with no
    MIB loaded (:data:`QUIET`) and the sender's address; ``accept_all=False`` leaves the access
    control to ``config_lines`` (``authUser log ...``), ``mib_args`` replaces :data:`QUIET` and
    ``trap_format`` the ``-F`` format of the ``TRAP`` lines.
    """

    def __init__(
        self,
        config_lines: list[str] | None = None,
        port: int | None = None,
        *,
        accept_all: bool = True,
        mib_args: list[str] | None = None,
        trap_format: str = "TRAP %a %b %v\n",
    ) -> None:
        self.port = port or free_udp_port()
        self._dir = tempfile.TemporaryDirectory(prefix="snmptrapd-")
        conf = Path(self._dir.name) / "snmptrapd.conf"
        header = ["disableAuthorization yes"] if accept_all else []
        conf.write_text("\n".join([*header, *(config_lines or [])]) + "\n", encoding="utf-8")
        env = {**os.environ, "SNMP_PERSISTENT_DIR": self._dir.name}
        self._proc = subprocess.Popen(
            [
                require_tool("snmptrapd"),
                "-f",
                "-Lo",
                "-C",
                "-c",
                str(conf),
                *(QUIET if mib_args is None else mib_args),
                "-F",
                trap_format,
                f"udp:127.0.0.1:{self.port}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        # Ready when it says so (it prints "NET-SNMP version ..." once listening).
        assert self.wait_for(lambda line: "NET-SNMP version" in line, 10), self.lines

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def traps(self) -> list[str]:
        with self._lock:
            return [line for line in self.lines if line.startswith("TRAP ")]

    def wait_for(self, predicate: Callable[[str], bool], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._lock:
                if any(predicate(line) for line in self.lines):
                    return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)
        self._dir.cleanup()

    def __enter__(self) -> TrapReceiver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

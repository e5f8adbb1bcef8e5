"""One switch's SSH server (asyncssh): the OS10 CLI of :mod:`switches.cli` over SSH.

Per switch, on its management address: password logins checked by the model (users, roles and
the lockout are the running configuration's), interactive shells with OS10 prompts and exec
requests (``ssh admin@ADDR show version``). The host key is kept in the state directory
(``ssh/<switch>.key``, made once), so clients see the same key across restarts.

While the switch is not up or the management network does not reach it (``reachable``) the
server is silent: a new TCP connection gets no SSH banner (the client times out, as with a
switch that is off), and the sessions open when it went dark are dropped. ``copy`` and
``image install`` fetch over HTTP(S) here; the CLI engine only asks. Passwords are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh

from nodes.errors import InvalidArgument
from nodes.events import Event
from switches.accounts import CliRole, LoginRefused
from switches.cli.session import CliSession, Reply, Transfer, mask_url
from switches.events import SwitchStateChanged
from switches.model import Switch

log = logging.getLogger("switches.ssh")

#: The largest file a ``copy`` or ``image install`` fetches.
MAX_TRANSFER = 64 * 1024 * 1024


def host_key(state_dir: Path, switch: str) -> asyncssh.SSHKey:
    """The switch's Ed25519 host key, made on first use and kept (mode 0600)."""
    path = state_dir / "ssh" / f"{switch}.key"
    if path.exists():
        return asyncssh.read_private_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519")
    tmp = path.with_suffix(".tmp")
    key.write_private_key(tmp)
    tmp.chmod(0o600)
    tmp.replace(path)
    return key


def _fetch_http(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as answer:
        data: bytes = answer.read(MAX_TRANSFER + 1)
    if len(data) > MAX_TRANSFER:
        raise InvalidArgument(f"larger than {MAX_TRANSFER} bytes")
    return data


def _put_http(url: str, data: bytes) -> None:
    request = urllib.request.Request(url, data=data, method="PUT")
    with urllib.request.urlopen(request, timeout=30):
        pass


async def _scp(url: str, data: bytes | None) -> bytes:
    """``scp://USER:PASS@HOST[:PORT]/PATH``: fetch the file (``data`` None) or send ``data``
    over SCP, as OS10's copy does. The server's host key is not checked (a lab's HLH)."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname or not parts.path or parts.path == "/":
        raise InvalidArgument("an scp URL is scp://USER:PASS@HOST[:PORT]/PATH")
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    path = urllib.parse.unquote(parts.path)
    async with asyncssh.connect(
        parts.hostname,
        parts.port or 22,
        username=user,
        password=password,
        known_hosts=None,
        client_keys=None,
        agent_path=None,
        connect_timeout=30,
    ) as conn:
        with tempfile.TemporaryDirectory(prefix="scaleunit-scp-") as tmp:
            local = Path(tmp) / "file"
            if data is None:
                await asyncssh.scp((conn, path), str(local))
                if local.stat().st_size > MAX_TRANSFER:
                    raise InvalidArgument(f"larger than {MAX_TRANSFER} bytes")
                return local.read_bytes()
            local.write_bytes(data)
            await asyncssh.scp(str(local), (conn, path))
            return b""


class _Silent(asyncio.Protocol):
    """A connection to a switch that is dark: nothing is ever sent; closed after a while."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        asyncio.get_running_loop().call_later(30.0, transport.close)


class _Gate:
    """asyncssh's listener hook ("tunnel"): serves the pre-bound socket, handing a connection to
    SSH only while the switch is reachable."""

    def __init__(self, sock: socket.socket, reachable: Callable[[], bool]) -> None:
        self.sock = sock
        self.reachable = reachable

    async def create_server(
        self, session_factory: Callable[[str, int], Any], _host: str, _port: int
    ) -> asyncio.AbstractServer:
        def protocol() -> asyncio.Protocol:
            if not self.reachable():
                return _Silent()
            conn: asyncio.Protocol = session_factory("", 0)
            return conn

        return await asyncio.get_running_loop().create_server(protocol, sock=self.sock)


class SwitchSshServer:
    """SSH for one switch. ``await start(sock)`` on the loop that owns the model."""

    def __init__(
        self,
        switch: Switch,
        *,
        address: str,
        port: int,
        state_dir: Path,
        reachable: Callable[[], bool],
    ) -> None:
        self.switch = switch
        self.address = address
        self.port = port
        self.state_dir = state_dir
        self.reachable = reachable
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self.sessions = 0

    async def start(self, sock: socket.socket) -> None:
        key = host_key(self.state_dir, self.switch.name)
        owner = self

        class Server(asyncssh.SSHServer):
            def __init__(self) -> None:
                self.conn: asyncssh.SSHServerConnection | None = None

            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                self.conn = conn
                owner._connections.add(conn)

            def connection_lost(self, exc: Exception | None) -> None:
                if self.conn is not None:
                    owner._connections.discard(self.conn)

            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                assert self.conn is not None
                peer = str(self.conn.get_extra_info("peername", ("", 0))[0])
                try:
                    role = owner.switch.login(username, password, peer)
                except LoginRefused as exc:
                    log.info(
                        "switch=%s proto=ssh event=login.refused detail=%s", owner.switch.name, exc
                    )
                    return False
                self.conn.set_extra_info(cli_role=role.value)
                return True

        self._acceptor = await asyncssh.create_server(
            Server,
            tunnel=_Gate(sock, self.reachable),
            server_host_keys=[key],
            process_factory=self._session,
            encoding="utf-8",
            errors="replace",
            server_version="OpenSSH_8.9 OS10",
            login_timeout=60,
            keepalive_interval=0,
        )
        log.debug(
            "switch=%s proto=ssh event=endpoint.listening address=%s:%d",
            self.switch.name,
            self.address,
            self.port,
        )

    def on_event(self, event: Event) -> None:
        """A switch that goes down or loses its management path drops its sessions."""
        if event.device != self.switch.name and not isinstance(event, SwitchStateChanged):
            return
        if self._connections and not self.reachable():
            for conn in list(self._connections):
                conn.abort()

    def close(self) -> None:
        for conn in list(self._connections):
            conn.abort()
        if self._acceptor is not None:
            self._acceptor.close()
            self._acceptor = None

    async def _transfer(self, session: CliSession, transfer: Transfer) -> Reply:
        loop = asyncio.get_running_loop()
        scheme = transfer.url.split("://", 1)[0]
        if scheme not in ("http", "https", "scp"):
            return Reply(f"% Error: {scheme}:// transfers are not supported (http, https, scp)")
        put = transfer.direction == "put"
        try:
            if scheme == "scp":
                data = await _scp(transfer.url, transfer.data if put else None)
            elif put:
                await loop.run_in_executor(None, _put_http, transfer.url, transfer.data)
            else:
                data = await loop.run_in_executor(None, _fetch_http, transfer.url)
            if put:
                return Reply()
        except (OSError, asyncssh.Error, urllib.error.URLError, InvalidArgument, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            return session.finish(transfer, None, mask_url(str(reason)))
        return session.finish(transfer, data)

    async def _run(self, session: CliSession, line: str) -> Reply:
        reply = session.execute(line)
        if reply.transfer is not None:
            after = await self._transfer(session, reply.transfer)
            after.output = "\n".join(x for x in (reply.output, after.output) if x)
            return after
        return reply

    async def _session(self, process: asyncssh.SSHServerProcess[str]) -> None:
        conn = process.channel.get_connection()
        peer = str(conn.get_extra_info("peername", ("", 0))[0])
        user = process.get_extra_info("username") or ""
        role = CliRole(conn.get_extra_info("cli_role", CliRole.NETOPERATOR.value))
        session = CliSession(self.switch, user, role, peer)
        self.sessions += 1
        try:
            if process.command is not None:
                reply = await self._run(session, process.command)
                if reply.output:
                    process.stdout.write(reply.output + "\n")
                process.exit(1 if reply.output.startswith("% Error") else 0)
                return
            process.stdout.write("\n" + session.prompt())
            while not process.stdin.at_eof():
                try:
                    line = await process.stdin.readline()
                except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged):
                    continue
                if not line and process.stdin.at_eof():
                    break
                reply = await self._run(session, line)
                if reply.output:
                    process.stdout.write(
                        reply.output + ("" if reply.output.endswith(":") else "\n")
                    )
                if reply.close:
                    break
                process.stdout.write(session.prompt())
            process.exit(0)
        except (asyncssh.Error, ConnectionError, BrokenPipeError):
            process.close()

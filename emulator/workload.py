"""Each node's workload, as a client across the network sees it: a tiny TCP service on the
host's data-path address (``Topology.host_address``, port ``workload.port``).

Connect, read one JSON line, and the server closes::

    $ nc -w 2 127.0.3.1 7070
    {"node": "n01", "host": "running", "paths": ["tor-a", "tor-b"], "nics": {...}, "at": ...}

``paths`` are the ToRs the node's traffic runs through now (see :mod:`emulator.fabric`),
``nics`` which of its NICs have link. It answers only while the fabric says the workload
answers (the host runs a responsive OS and its data path is up). Otherwise nothing comes back,
and nothing is refused either: the connection is held, as a network that drops packets would
(the kernel still completes the TCP handshake: what the client sees is a read that times out).
When the path comes back while the client still waits, the answer is sent then.

This is what a controller probes to see that workloads survived a ToR loss.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable
from typing import cast

from emulator.fabric import WireFabric
from emulator.logs import kv

log = logging.getLogger("emulator.workload")

#: How often a held connection looks whether the workload answers again (seconds, real time).
HOLD_POLL_S = 0.1


def describe(fabric: WireFabric, node: str) -> dict[str, object]:
    """What the workload endpoint says about ``node``."""
    n = fabric.rack.nodes[node]
    return {
        "node": node,
        "host": n.state.value,
        "os_responsive": n.os_responsive,
        "paths": list(fabric.data_path(node)),
        "nics": {nic.name: fabric.nic_link_up(node, nic.name) for nic in n.spec.nics},
        "at": round(fabric.rack.clock.now(), 3),
    }


class _Workload(asyncio.Protocol):
    def __init__(
        self,
        answering: Callable[[], bool],
        answer: Callable[[], bytes],
        live: set[_Workload],
    ) -> None:
        self._answering = answering
        self._answer = answer
        self._live = live
        self._transport: asyncio.Transport | None = None
        self._poll: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's TCPTransport (`scaleunit up` runs on uvloop) is not
        # registered as an asyncio.Transport, and the assert failed every connection there.
        self._transport = cast(asyncio.Transport, transport)
        self._live.add(self)
        self._try()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _try(self) -> None:
        self._poll = None
        t = self._transport
        if t is None or t.is_closing():
            return
        if not self._answering():
            # Dropped on the way: hold the connection, look again a moment later.
            self._poll = asyncio.get_running_loop().call_later(HOLD_POLL_S, self._try)
            return
        t.write(self._answer())
        t.close()

    def data_received(self, data: bytes) -> None:
        pass  # whatever the client says, the answer is the same

    def connection_lost(self, exc: Exception | None) -> None:
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None
        self._transport = None
        self._live.discard(self)


def bind_tcp(address: str, port: int, backlog: int = 64) -> socket.socket:
    """A listening, non-blocking TCP socket on ``address:port`` (OSError keeps its errno)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class WorkloadServer:
    """One node's workload endpoint, served on the running loop from a pre-bound socket."""

    def __init__(self, fabric: WireFabric, node: str, sock: socket.socket) -> None:
        self.fabric = fabric
        self.node = node
        self._sock = sock
        self._server: asyncio.Server | None = None
        self._live: set[_Workload] = set()

    def answering(self) -> bool:
        return self.fabric.workload_answering(self.node)

    def _answer(self) -> bytes:
        return (json.dumps(describe(self.fabric, self.node)) + "\n").encode()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: _Workload(self.answering, self._answer, self._live), sock=self._sock
            )
        except BaseException:
            self._sock.close()
            raise
        address, port = self._sock.getsockname()[:2]
        log.debug(
            kv(
                node=self.node,
                proto="workload",
                event="endpoint.listening",
                address=f"{address}:{port}",
            )
        )

    async def stop(self) -> None:
        """Stop listening and drop the connections still held."""
        if self._server is not None:
            self._server.close()
            self._server = None
        else:
            self._sock.close()
        for conn in list(self._live):
            conn.abort()

"""One asyncio loop hosting a whole rack: the model, its clock, and every protocol endpoint.

:class:`RackRuntime` is a value, not a singleton: a test can run two racks in one process.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time

from bmc.ipmi.commands import NodeIpmiBackend
from bmc.ipmi.session import IpmiEndpoint, serve_ipmi
from emulator.clock import ScaledClock
from emulator.endpoints import Endpoint, StartupError, plan_endpoints
from emulator.logs import EventLogger, kv
from emulator.rack import Rack
from emulator.topology import Topology
from nodes.events import BmcResetStarted, Event

log = logging.getLogger("emulator")


class RackRuntime:
    """Builds the rack on the running loop and serves every BMC's protocols."""

    def __init__(self, topology: Topology, *, speed: float = 1.0) -> None:
        self.topology = topology
        self.speed = speed
        self.rack: Rack | None = None
        self.endpoints: list[Endpoint] = []
        self._ipmi: dict[str, tuple[asyncio.DatagramTransport, IpmiEndpoint]] = {}
        self.started_in: float = 0.0

    async def start(self) -> None:
        t0 = time.perf_counter()
        loop = asyncio.get_running_loop()
        clock = ScaledClock(loop, self.speed)
        rack = Rack(self.topology, clock)
        self.rack = rack
        rack.bus.subscribe(EventLogger(logging.getLogger("model"), set(rack.switches)))
        rack.bus.subscribe(self._on_event)
        try:
            for endpoint in plan_endpoints(self.topology):
                await self._serve_node(loop, rack, endpoint)
        except BaseException:
            await self.stop()
            raise
        self.started_in = time.perf_counter() - t0
        log.info(
            kv(
                rack=self.topology.name,
                proto="runtime",
                event="rack.ready",
                nodes=len(rack.nodes),
                speed=self.speed,
                seconds=f"{self.started_in:.3f}",
            )
        )

    async def _serve_node(
        self, loop: asyncio.AbstractEventLoop, rack: Rack, endpoint: Endpoint
    ) -> None:
        node = rack.nodes[endpoint.device]
        name = endpoint.device
        backend = NodeIpmiBackend(node, reachable=lambda: rack.bmc_port_up(name))
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((endpoint.address, endpoint.port))
        except OSError as exc:
            sock.close()
            hint = ""
            if exc.errno == errno.EADDRNOTAVAIL:
                hint = " (the address is not on this machine; on macOS add a loopback alias)"
            elif exc.errno == errno.EADDRINUSE:
                hint = " (another process uses it: is a rack already running?)"
            raise StartupError(
                f"{endpoint.device}: cannot bind IPMI on {endpoint.address}:{endpoint.port}/udp: "
                f"{exc.strerror}{hint}"
            ) from None
        sock.setblocking(False)
        transport, protocol = await serve_ipmi(
            loop, endpoint.address, endpoint.port, backend, endpoint.device, sock=sock
        )
        self._ipmi[endpoint.device] = (transport, protocol)
        self.endpoints.append(endpoint)
        log.debug(
            kv(
                node=name,
                proto="ipmi",
                event="endpoint.listening",
                address=f"{endpoint.address}:{endpoint.port}",
            )
        )

    def _on_event(self, event: Event) -> None:
        if isinstance(event, BmcResetStarted) and event.device in self._ipmi:
            # A restarting BMC forgets its sessions, as real firmware does.
            self._ipmi[event.device][1].drop_sessions()

    async def stop(self) -> None:
        for transport, protocol in self._ipmi.values():
            protocol.close()
            transport.close()
        self._ipmi.clear()

    async def serve_forever(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

"""One asyncio loop hosting a whole rack: the model, its clock, and every protocol endpoint.

:class:`RackRuntime` is a value, not a singleton: a test can run two racks in one process.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from pathlib import Path

from bmc.ipmi.commands import NodeIpmiBackend
from bmc.ipmi.session import IpmiEndpoint, serve_ipmi
from bmc.redfish.events import EventHub
from bmc.redfish.server import BindError, RedfishServer
from bmc.redfish.service import BmcService
from bmc.redfish.tls import ensure_certificate
from emulator.clock import ScaledClock
from emulator.endpoints import Endpoint, StartupError, plan_endpoints
from emulator.logs import EventLogger, kv
from emulator.rack import Rack
from emulator.topology import Topology
from emulator.workload import WorkloadServer, bind_tcp
from nodes.events import BmcResetStarted, Event
from switches.snmp.agent import SwitchAgent, bind_udp

log = logging.getLogger("emulator")


def default_state_dir() -> Path:
    """``scaleunit up``'s state directory when none is given (platformdirs' user data dir)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("scaleunit"))


def bind_failed(
    device: str, proto: str, address: str, port: int, transport: str, exc: OSError
) -> StartupError:
    """A StartupError saying why ``address:port`` could not be bound, with a hint."""
    hint = ""
    if exc.errno == errno.EADDRNOTAVAIL:
        hint = " (the address is not on this machine; on macOS add a loopback alias)"
    elif exc.errno == errno.EADDRINUSE:
        hint = " (another process uses it: is a rack already running?)"
    return StartupError(
        f"{device}: cannot bind {proto} on {address}:{port}/{transport}: {exc.strerror}{hint}"
    )


class RackRuntime:
    """Builds the rack on the running loop and serves every BMC's protocols."""

    def __init__(
        self, topology: Topology, *, speed: float = 1.0, state_dir: Path | None = None
    ) -> None:
        self.topology = topology
        self.speed = speed
        #: Where the rack keeps what outlives a run (the Redfish TLS certificate).
        self.state_dir = state_dir or default_state_dir()
        self._redfish: RedfishServer | None = None
        self._redfish_bmcs: dict[str, BmcService] = {}
        self._events: EventHub | None = None
        self.rack: Rack | None = None
        self.endpoints: list[Endpoint] = []
        self._ipmi: dict[str, tuple[asyncio.DatagramTransport, IpmiEndpoint]] = {}
        #: One SNMP agent per switch, by switch name.
        self.snmp: dict[str, SwitchAgent] = {}
        #: One workload endpoint per node, by node name.
        self.workloads: dict[str, WorkloadServer] = {}
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
            planned = plan_endpoints(self.topology)
            for endpoint in planned:
                if endpoint.protocol == "ipmi":
                    await self._serve_node(loop, rack, endpoint)
            await self._serve_redfish(rack, [e for e in planned if e.protocol == "redfish"])
            await self._serve_snmp(rack, [e for e in planned if e.protocol == "snmp"])
            await self._serve_workloads(rack, [e for e in planned if e.protocol == "workload"])
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
        # The fabric decides whether packets reach the BMC (its firmware is the node's business).
        backend = NodeIpmiBackend(node, reachable=lambda: rack.fabric.bmc_path_up(name))
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((endpoint.address, endpoint.port))
        except OSError as exc:
            sock.close()
            raise bind_failed(
                endpoint.device, "IPMI", endpoint.address, endpoint.port, "udp", exc
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

    async def _serve_redfish(self, rack: Rack, endpoints: list[Endpoint]) -> None:
        """One server for every node's Redfish endpoint (see bmc.redfish.server)."""
        if not endpoints:
            return
        ipmi_ports = {e.device: e.port for e in self.endpoints if e.protocol == "ipmi"}
        hub = self._events = EventHub()  # every BMC's EventService, fed by the rack's bus
        rack.bus.subscribe(hub)
        services = []
        for e in endpoints:
            name = e.device
            node = rack.nodes[name]

            def reachable(node_name: str = name) -> bool:
                return rack.fabric.bmc_answering(node_name)

            def path_up(node_name: str = name) -> bool:
                return rack.fabric.bmc_path_up(node_name)

            services.append(
                BmcService(
                    node=node,
                    address=e.address,
                    port=e.port,
                    scheme=e.scheme,
                    reachable=reachable,
                    path_up=path_up,
                    ipmi_port=ipmi_ports.get(name),
                    subscribe=rack.bus.subscribe,
                    events=hub.channel(node, e.address, reachable),
                )
            )
        tls = None
        if self.topology.bmc_network.redfish_tls:
            tls = ensure_certificate(self.state_dir, [e.address for e in endpoints])
        server = RedfishServer(services, tls=tls)
        try:
            server.bind_all()
        except BindError as exc:
            raise bind_failed(
                exc.bmc.name, "Redfish", exc.bmc.address, exc.bmc.port, "tcp", exc
            ) from None
        await server.start()
        self._redfish = server
        self._redfish_bmcs = {s.name: s for s in services}
        self.endpoints.extend(endpoints)

    async def _serve_snmp(self, rack: Rack, endpoints: list[Endpoint]) -> None:
        """One SNMP agent, with its own pysnmp engine, per switch on its own address."""
        for e in endpoints:
            name = e.device

            def managed(switch: str = name) -> bool:
                return rack.fabric.management_path_up(switch)

            try:
                sock = bind_udp(e.address, e.port)
            except OSError as exc:
                hint = ""
                if exc.errno == errno.EADDRNOTAVAIL:
                    hint = " (the address is not on this machine; on macOS add a loopback alias)"
                elif exc.errno == errno.EADDRINUSE:
                    hint = " (another process uses it: is a rack already running?)"
                raise StartupError(
                    f"{e.device}: cannot bind SNMP on {e.address}:{e.port}/udp: "
                    f"{exc.strerror}{hint}"
                ) from None
            agent = SwitchAgent(
                rack.switches[e.device],
                rack=self.topology.name,
                address=e.address,
                port=e.port,
                receivers=list(self.topology.snmp.receivers),
                reachable=managed,
            )
            self.snmp[e.device] = agent  # first, so that stop() closes it if start fails
            await agent.start(sock)
            rack.bus.subscribe(agent.on_event)
            self.endpoints.append(e)

    async def _serve_workloads(self, rack: Rack, endpoints: list[Endpoint]) -> None:
        """Each node's workload endpoint on its host address (see emulator.workload)."""
        for e in endpoints:
            try:
                sock = bind_tcp(e.address, e.port)
            except OSError as exc:
                raise bind_failed(e.device, "workload", e.address, e.port, "tcp", exc) from None
            server = WorkloadServer(rack.fabric, e.device, sock)
            self.workloads[e.device] = server  # first, so that stop() closes it if start fails
            await server.start()
            self.endpoints.append(e)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, BmcResetStarted) and event.device in self._redfish_bmcs:
            self._redfish_bmcs[event.device].drop_sessions()
        if isinstance(event, BmcResetStarted) and event.device in self._ipmi:
            # A restarting BMC forgets its sessions, as real firmware does.
            self._ipmi[event.device][1].drop_sessions()

    async def stop(self) -> None:
        if self._events is not None:  # first: ends the SSE streams the server would wait for
            await self._events.close()
            self._events = None
        if self._redfish is not None:
            await self._redfish.stop()
            self._redfish = None
        for transport, protocol in self._ipmi.values():
            protocol.close()
            transport.close()
        self._ipmi.clear()
        for agent in self.snmp.values():
            agent.close()
        self.snmp.clear()
        for workload in self.workloads.values():
            await workload.stop()
        self.workloads.clear()

    async def serve_forever(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

"""One asyncio loop hosting a whole rack: the model, its clock, and every protocol endpoint.

:class:`RackRuntime` is a value, not a singleton: a test can run two racks in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import secrets
import socket
import sqlite3
import time
from pathlib import Path

from bmc.ipmi.commands import NodeIpmiBackend
from bmc.ipmi.session import IpmiEndpoint, serve_ipmi
from bmc.redfish.events import EventHub
from bmc.redfish.server import BindError, RedfishServer
from bmc.redfish.service import BmcService
from bmc.redfish.tls import ensure_certificate
from bmc.snmp.traps import BmcTrapSender
from emulator.clock import ScaledClock, SteppedClock
from emulator.control.app import create_app
from emulator.control.feed import HISTORY, EventFeed, stored_item
from emulator.control.plane import ControlPlane
from emulator.control.server import ControlServer, bind_control
from emulator.endpoints import Endpoint, plan_endpoints
from emulator.errors import StartupError
from emulator.faults import FaultInjector
from emulator.logs import EventLogger, kv
from emulator.operator import OperatorView
from emulator.rack import Rack
from emulator.state import DB_NAME, StateError, StateStore, topology_identity, track_rack
from emulator.topology import Topology
from emulator.workload import WorkloadServer, bind_tcp
from nodes.events import BmcResetStarted, Event, NodeReplaced
from switches.snmp.agent import SwitchAgent, bind_udp
from switches.ssh import SwitchSshServer

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
        self,
        topology: Topology,
        *,
        speed: float = 1.0,
        state_dir: Path | None = None,
        fresh: bool = False,
        token: str | None = None,
        power_on: bool = False,
        virtual: bool = False,
    ) -> None:
        self.topology = topology
        #: Virtual time (emulator.clock.SteppedClock): the clock moves only when a client
        #: advances it (the controller's waits); ``speed`` is then unused.
        self.virtual = virtual
        self.clock: ScaledClock | SteppedClock | None = None
        #: A new rack (nothing restored) starts as a deployed scale unit: every member node is
        #: powered on at start and, once its OS is up, Running in service. A restored rack's
        #: power is left to each node's power-restore policy.
        self.power_on = power_on
        self.speed = speed
        #: Where the rack keeps what outlives a run: its state database (emulator.state) and
        #: the Redfish TLS certificate.
        self.state_dir = state_dir or default_state_dir()
        #: Start over: the state database is deleted (under its lock) before the rack starts.
        self.fresh = fresh
        #: The state store, open from start() to stop().
        self.state: StateStore | None = None
        self._redfish: RedfishServer | None = None
        self._redfish_bmcs: dict[str, BmcService] = {}
        self._events: EventHub | None = None
        self.rack: Rack | None = None
        self.endpoints: list[Endpoint] = []
        self._ipmi: dict[str, tuple[asyncio.DatagramTransport, IpmiEndpoint]] = {}
        #: One SNMP agent per switch, by switch name.
        self.snmp: dict[str, SwitchAgent] = {}
        #: One SSH server (the OS10 CLI) per switch, by switch name.
        self.ssh: dict[str, SwitchSshServer] = {}
        #: The BMCs' SNMPv3 hardware traps (bmc.snmp.traps).
        self.bmc_traps: BmcTrapSender | None = None
        #: One workload endpoint per node, by node name.
        self.workloads: dict[str, WorkloadServer] = {}
        self.started_in: float = 0.0
        #: The control plane's bearer token: given, else made at start (secrets), never logged.
        self.token = token or secrets.token_urlsafe(32)
        #: The operator's view of the scale unit (emulator.operator), built at start.
        self.operator: OperatorView | None = None
        #: The fault injector (emulator.faults), built at start.
        self.faults: FaultInjector | None = None
        #: The control plane's server (emulator.control); None while stopped or disabled.
        self.control: ControlServer | None = None
        self.plane: ControlPlane | None = None
        self.feed: EventFeed | None = None

    def _last_emulated_time(self) -> float:
        """The emulated time of the last event the state store kept (0 without one): a
        restored rack's clock starts no earlier."""
        path = Path(self.state_dir) / DB_NAME
        if self.fresh or not path.exists():
            return 0.0
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                row = db.execute("SELECT MAX(at) FROM history").fetchone()
        except sqlite3.Error:
            return 0.0  # the store's own checks report a damaged database
        return float(row[0]) if row and row[0] is not None else 0.0

    async def start(self) -> None:
        t0 = time.perf_counter()
        loop = asyncio.get_running_loop()
        clock = (
            SteppedClock(loop)
            if self.virtual
            else ScaledClock(loop, self.speed, not_before=self._last_emulated_time())
        )
        self.clock = clock
        rack = Rack(self.topology, clock)
        self.rack = rack
        rack.bus.subscribe(EventLogger(logging.getLogger("model"), set(rack.switches)))
        rack.bus.subscribe(self._on_event)
        # The control plane's event stream sees everything from the first event on.
        self.feed = EventFeed()
        rack.bus.subscribe(self.feed)
        spares = set(self.topology.control.spares)  # in the rack, not yet in the scale unit
        self.operator = OperatorView(rack, members=[n for n in rack.nodes if n not in spares])
        self.faults = FaultInjector(rack, baseline=self.operator.baseline)
        try:
            self._open_state(rack)
            planned = plan_endpoints(self.topology)
            for endpoint in planned:
                if endpoint.protocol == "ipmi":
                    await self._serve_node(loop, rack, endpoint)
            await self._serve_redfish(rack, [e for e in planned if e.protocol == "redfish"])
            await self._serve_snmp(rack, [e for e in planned if e.protocol == "snmp"])
            await self._serve_ssh(rack, [e for e in planned if e.protocol == "ssh"])
            await self._serve_bmc_traps(rack)
            await self._serve_workloads(rack, [e for e in planned if e.protocol == "workload"])
            await self._serve_control(rack, [e for e in planned if e.protocol == "control"])
            if self.power_on and not (self.state is not None and self.state.restored):
                for name in self.operator.members():
                    rack.nodes[name].power_on()
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

    def _open_state(self, rack: Rack) -> None:
        """Open the state store, restore what it holds, and commit every change from here on
        (before any endpoint serves, so nothing is acknowledged that is not committed). Node
        restores end with the power-restore policy. Called once the rack and the parts that
        hold state (the operator's fabric, the fault injector) exist."""
        try:
            store = StateStore(
                self.state_dir, fresh=self.fresh, defer=asyncio.get_running_loop().call_soon
            )
        except StateError as exc:
            raise StartupError(str(exc)) from None
        self.state = store
        try:
            store.bind_topology(topology_identity(self.topology), name=self.topology.name)
            track_rack(
                store,
                rack,
                operator=getattr(self, "operator", None),
                faults=getattr(self, "faults", None),
            )
            if self.feed is not None:  # GET /events shows what happened before a restart
                rows = store.history(limit=self.feed.recent.maxlen or HISTORY)
                self.feed.seed(
                    [stored_item(r.seq, r.kind, r.device, r.at, r.data) for r in rows],
                    rows[-1].seq if rows else 0,
                )
            rack.bus.subscribe(store)
            restored = store.load()
        except BaseException as exc:
            # Never written over: what could not be loaded stays as it is on disk.
            self.state = None
            store.close()
            if isinstance(exc, StateError):
                raise StartupError(str(exc)) from None
            raise
        log.info(
            kv(
                rack=self.topology.name,
                proto="state",
                event="state.opened",
                path=store.path,
                restored=len(restored),
                fresh=self.fresh,
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

    async def _serve_bmc_traps(self, rack: Rack) -> None:
        """Each BMC's SNMPv3 trap originator, from its own address (bmc.snmp.traps). It runs
        without receivers too: the operator's view takes its hardware alerts from the traps."""
        sender = BmcTrapSender(rack)
        self.bmc_traps = sender  # first, so that stop() closes it if start fails
        try:
            await sender.start()
        except OSError as exc:
            raise StartupError(f"BMC traps: cannot bind a BMC's trap socket: {exc}") from None

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

    async def _serve_ssh(self, rack: Rack, endpoints: list[Endpoint]) -> None:
        """One SSH server per switch on its management address (switches.ssh); host keys in
        the state directory."""
        # asyncssh's own INFO lines (listeners "via SSH tunnel", every auth) are noise here:
        # the model's CliLogin events say who logged in, from where, without a password.
        logging.getLogger("asyncssh").setLevel(logging.WARNING)
        for e in endpoints:

            def reachable(switch: str = e.device) -> bool:
                return rack.fabric.cli_path_up(switch)

            try:
                sock = bind_tcp(e.address, e.port, backlog=128)
            except OSError as exc:
                raise bind_failed(e.device, "SSH", e.address, e.port, "tcp", exc) from None
            server = SwitchSshServer(
                rack.switches[e.device],
                address=e.address,
                port=e.port,
                state_dir=self.state_dir,
                reachable=reachable,
            )
            self.ssh[e.device] = server  # first, so that stop() closes it if start fails
            await server.start(sock)
            rack.bus.subscribe(server.on_event)
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

    async def _serve_control(self, rack: Rack, endpoints: list[Endpoint]) -> None:
        """The control plane (emulator.control) on its own address; its URL and token go to
        ``<state dir>/control.json`` (mode 0600), where the CLI finds them."""
        if not endpoints:
            return
        assert self.operator is not None and self.faults is not None and self.feed is not None
        e = endpoints[0]
        settings = self.topology.control
        try:
            sock = bind_control(e.address, e.port, settings.fallback_port)
        except OSError as exc:
            raise bind_failed("control", "control", e.address, e.port, "tcp", exc) from None
        self.plane = ControlPlane(rack, self.operator, self.faults)
        server = ControlServer(create_app(self.plane, self.feed, self.token), sock)
        # What POST /labs wires a lab to (emulator.lab.runner).
        server.app.state.runtime = self
        self.control = server  # first, so that stop() closes it if start fails
        await server.start()
        self.endpoints.append(
            Endpoint(e.device, e.protocol, server.address, server.port, "", "", e.scheme, e.note)
        )
        self._write_control_file(server.url)
        log.info(kv(rack=self.topology.name, proto="control", event="listening", url=server.url))

    @property
    def control_file(self) -> Path:
        return self.state_dir / "control.json"

    def _write_control_file(self, url: str) -> None:
        """The URL and token, readable by the user only, written whole (rename)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_dir / f".control.json.{os.getpid()}"
        data = {"url": url, "token": self.token, "rack": self.topology.name, "pid": os.getpid()}
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)
            json.dump(data, f)
        os.replace(tmp, self.control_file)

    def _remove_control_file(self, url: str) -> None:
        """Removed at stop, unless another rack has written its own since."""
        try:
            data = json.loads(self.control_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if data.get("url") == url and data.get("pid") == os.getpid():
            self.control_file.unlink(missing_ok=True)

    def _on_event(self, event: Event) -> None:
        # A restarting BMC forgets its sessions, as real firmware does; a replacement node's
        # BMC never had them.
        if isinstance(event, BmcResetStarted | NodeReplaced) and event.device in self._redfish_bmcs:
            self._redfish_bmcs[event.device].drop_sessions()
        if isinstance(event, BmcResetStarted | NodeReplaced) and event.device in self._ipmi:
            self._ipmi[event.device][1].drop_sessions()

    async def stop(self) -> None:
        if self.plane is not None:  # no more chaos faults while stopping
            self.plane.close()
        if self.feed is not None:  # ends the control plane's event streams
            self.feed.close()
        if self.control is not None:
            await self.control.stop()
            self._remove_control_file(self.control.url)
            self.control = None
        if self.operator is not None:
            self.operator.close()
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
        for ssh in self.ssh.values():
            ssh.close()
        self.ssh.clear()
        if self.bmc_traps is not None:
            self.bmc_traps.close()
            self.bmc_traps = None
        for workload in self.workloads.values():
            await workload.stop()
        self.workloads.clear()
        if self.state is not None:  # last: whatever the shutdown changed is committed
            self.state.save()
            self.state.close()
            self.state = None

    async def serve_forever(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

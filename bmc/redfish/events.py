"""Redfish events: the model's events as Redfish event records, pushed to subscribers.

::

    rack.bus ──> EventHub ──(by device)──> EventChannel (one per BMC)
                                             │ translate(): model event -> Notice(s)
                                             │ (registry message, origin, resource type)
                                             ├──> Subscription: bounded queue -> HTTP POST worker
                                             │     (httpx, from the BMC's own address, retries
                                             │     per DeliveryRetryAttempts / ...IntervalSeconds
                                             │     on the node's clock)
                                             └──> SSE listeners: bounded queues read by the
                                                   /EventService/SSE stream

Nothing here blocks the model: the bus callback only appends to a list and schedules one flush
on the loop; translation happens in the flush, after the model has finished its transition, and
only while someone listens. A queue that is full drops its oldest record (a dead receiver never
grows memory); a subscription whose retries are exhausted is removed
(``TerminateAfterRetries``) or keeps retrying the same batch (``RetryForever``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

import httpx

from bmc.redfish import mapping
from bmc.redfish import registries as reg
from bmc.redfish.schemas.common import Link
from bmc.redfish.schemas.events import EventPayload, EventRecord
from nodes.events import (
    BiosSettingsApplied,
    BiosSettingsStaged,
    BmcReady,
    BmcResetStarted,
    BootOverrideChanged,
    Event,
    EventSink,
    FirmwareChanged,
    FirmwareUpdateProgressed,
    IdentifyChanged,
    LinkChanged,
    LockoutPolicyChanged,
    MemoryMappedOut,
    NodeReplaced,
    NodeRestored,
    PartFaultChanged,
    PartReplaced,
    PowerChanged,
    PowerRestorePolicyChanged,
    PsuInputChanged,
    SelCleared,
    SelRecordAdded,
    SelRecordDeleted,
    UserChanged,
    VirtualMediaChanged,
)
from nodes.firmware import JobState
from nodes.power import HostState

if TYPE_CHECKING:
    from nodes.node import Node

log = logging.getLogger("bmc.redfish.events")

V1 = "/redfish/v1"
MANAGER = f"{V1}/Managers/{mapping.MANAGER_ID}"
#: Where the TaskService and the firmware inventory show an update job and a component.
TASK_URI = V1 + "/TaskService/Tasks/{job_id}"
FIRMWARE_URI = V1 + "/UpdateService/FirmwareInventory/{component}"

#: Resource types an event's origin can have (EventService.ResourceTypes).
RESOURCE_TYPES = (
    "ComputerSystem",
    "Chassis",
    "Manager",
    "LogEntry",
    "LogService",
    "ManagerAccount",
    "EthernetInterface",
    "PowerSupply",
    "Task",
    "SoftwareInventory",
    "VirtualMedia",
    "Bios",
    "EventService",
)

QUEUE_SIZE = 64
BATCH = 16
MAX_SUBSCRIPTIONS = 16
MAX_SSE = 8
POST_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Notice:
    """A Redfish event record before it is numbered and rendered."""

    prefix: str
    key: str
    args: tuple[str, ...]
    origin: str
    resource_type: str
    at: float
    severity: str | None = None
    message: str | None = None
    log_entry: str | None = None
    event_type: str = "Other"


@dataclass(frozen=True)
class Record:
    """A numbered event record, rendered once and shared by every receiver."""

    notice: Notice
    wire: EventRecord

    @property
    def message_id(self) -> str:
        return self.wire.message_id


# -- filters ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    """What a subscription (or an SSE stream) wants; empty means everything."""

    registry_prefixes: frozenset[str] = frozenset()
    message_ids: frozenset[tuple[str, str]] = frozenset()
    resource_types: frozenset[str] = frozenset()
    origins: tuple[str, ...] = ()
    subordinate: bool = False
    event_types: frozenset[str] = frozenset()
    #: SSE only: alternatives within a property are OR, properties are AND.
    exact_message_ids: frozenset[str] = frozenset()

    def matches(self, n: Notice, message_id: str) -> bool:
        if self.registry_prefixes and n.prefix not in self.registry_prefixes:
            return False
        if self.message_ids and (n.prefix, n.key) not in self.message_ids:
            return False
        if self.exact_message_ids and not (
            message_id in self.exact_message_ids or f"{n.prefix}.{n.key}" in self.exact_message_ids
        ):
            return False
        if self.resource_types and n.resource_type not in self.resource_types:
            return False
        if self.event_types and n.event_type not in self.event_types:
            return False
        if self.origins:
            if self.subordinate:
                return any(
                    n.origin == o or n.origin.startswith(o.rstrip("/") + "/") for o in self.origins
                )
            return n.origin in self.origins
        return True


def split_message_id(message_id: str) -> tuple[str, str] | None:
    """``Prefix.Key`` or ``Prefix.M.m[.e].Key`` -> (prefix, key); None if malformed."""
    parts = message_id.split(".")
    if len(parts) == 2 or (len(parts) in (4, 5) and all(p.isdigit() for p in parts[1:-1])):
        return parts[0], parts[-1]
    return None


_CLAUSE = re.compile(r"\s*(?P<prop>[A-Za-z]+)\s+eq\s+'(?P<value>[^']*)'\s*")
SSE_PROPERTIES = ("EventType", "MessageId", "OriginResource", "RegistryPrefix", "ResourceType")


def parse_sse_filter(text: str) -> Filters:
    """``$filter`` for SSE: ``Prop eq 'v'`` clauses joined by ``or`` / ``and``.

    Clauses on one property are alternatives; different properties must all match. Raises
    ValueError on anything else.
    """
    if len(text) > 1024:
        raise ValueError("filter too long")
    wanted: dict[str, set[str]] = {}
    for conjunct in re.split(r"\s+and\s+", text.strip()):
        for clause in re.split(r"\s+or\s+", conjunct):
            m = _CLAUSE.fullmatch(clause.strip("() "))
            if m is None or m["prop"] not in SSE_PROPERTIES:
                raise ValueError(clause)
            wanted.setdefault(m["prop"], set()).add(m["value"])
    return Filters(
        registry_prefixes=frozenset(wanted.get("RegistryPrefix", ())),
        resource_types=frozenset(wanted.get("ResourceType", ())),
        origins=tuple(sorted(wanted.get("OriginResource", ()))),
        event_types=frozenset(wanted.get("EventType", ())),
        exact_message_ids=frozenset(wanted.get("MessageId", ())),
    )


# -- translation: model events -> notices ----------------------------------------------------------
def _res(key: str, args: tuple[str, ...], origin: str, rtype: str, at: float) -> Notice:
    return Notice("ResourceEvent", key, args, origin, rtype, at)


def _task(key: str, args: tuple[str, ...], job_id: str, at: float) -> Notice:
    return Notice("TaskEvent", key, args, TASK_URI.format(job_id=job_id), "Task", at)


class Translator:
    """One node's model events as Redfish notices (keeps the little state that needs)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.system = f"{V1}/Systems/{node.name}"
        self.chassis = f"{V1}/Chassis/{node.name}"
        self._health: str | None = None
        self._job_states: dict[str, JobState] = {}

    def baseline(self) -> None:
        self._health = mapping.health(self.node)

    def __call__(self, e: Event) -> list[Notice]:
        out = self._notices(e)
        health = mapping.health(self.node)
        if self._health is not None and health != self._health:
            key = {"OK": "ResourceStatusChangedOK", "Warning": "ResourceStatusChangedWarning"}
            out.append(
                _res(
                    key.get(health, "ResourceStatusChangedCritical"),
                    (self.system, health),
                    self.system,
                    "ComputerSystem",
                    e.at,
                )
            )
        self._health = health
        return out

    def _notices(self, e: Event) -> list[Notice]:  # one branch per event type
        sys_, at = self.system, e.at
        if isinstance(e, PowerChanged):
            if e.new is HostState.POWERING_ON:
                return [_res("ResourcePoweringOn", (sys_,), sys_, "ComputerSystem", at)]
            if e.new is HostState.POST and not e.old.chassis_on:
                return [_res("ResourcePoweredOn", (sys_,), sys_, "ComputerSystem", at)]
            if e.new is HostState.SHUTTING_DOWN:
                return [_res("ResourcePoweringOff", (sys_,), sys_, "ComputerSystem", at)]
            if e.new is HostState.OFF:
                return [_res("ResourcePoweredOff", (sys_,), sys_, "ComputerSystem", at)]
            if e.new in (HostState.POST, HostState.RUNNING):
                host = mapping.host_state(e.new)
                return [_res("ResourceStateChanged", (sys_, host), sys_, "ComputerSystem", at)]
            return []
        if isinstance(e, SelRecordAdded):
            uri = f"{MANAGER}/LogServices/SEL/Entries/{e.record.record_id}"
            return [
                Notice(
                    "ResourceEvent",
                    "ResourceCreated",
                    (),
                    uri,
                    "LogEntry",
                    at,
                    severity=mapping.sel_severity(e.record),
                    log_entry=uri,
                )
            ]
        if isinstance(e, SelCleared):
            return [_res("ResourceChanged", (), f"{MANAGER}/LogServices/SEL", "LogService", at)]
        if isinstance(e, BootOverrideChanged | PowerRestorePolicyChanged):
            return [_res("ResourceChanged", (), sys_, "ComputerSystem", at)]
        if isinstance(e, IdentifyChanged):
            return [_res("ResourceChanged", (), self.chassis, "Chassis", at)]
        if isinstance(e, PsuInputChanged):
            uri = f"{self.chassis}/PowerSubsystem/PowerSupplies/{e.psu}"
            state = "Enabled" if e.has_input else "UnavailableOffline"
            return [_res("ResourceStateChanged", (uri, state), uri, "PowerSupply", at)]
        if isinstance(e, LinkChanged):
            uri = f"{sys_}/EthernetInterfaces/{e.port}"
            link = "LinkUp" if e.up else "LinkDown"
            return [_res("ResourceStateChanged", (uri, link), uri, "EthernetInterface", at)]
        if isinstance(e, BmcResetStarted):
            return [_res("ResourceStateChanged", (MANAGER, "Starting"), MANAGER, "Manager", at)]
        if isinstance(e, BmcReady):
            return [_res("ResourceStateChanged", (MANAGER, "Enabled"), MANAGER, "Manager", at)]
        if isinstance(e, UserChanged):
            uri = f"{V1}/AccountService/Accounts/{e.user_id}"
            return [_res("ResourceChanged", (), uri, "ManagerAccount", at)]
        if isinstance(e, VirtualMediaChanged):
            uri = f"{MANAGER}/VirtualMedia/{e.slot}"
            return [_res("ResourceChanged", (), uri, "VirtualMedia", at)]
        if isinstance(e, BiosSettingsStaged):
            return [_res("ResourceChanged", (), f"{sys_}/Bios/Settings", "Bios", at)]
        if isinstance(e, BiosSettingsApplied):
            return [_res("ResourceChanged", (), f"{sys_}/Bios", "Bios", at)]
        if isinstance(e, FirmwareChanged):
            uri = FIRMWARE_URI.format(component=e.component)
            return [_res("ResourceChanged", (), uri, "SoftwareInventory", at)]
        if isinstance(e, FirmwareUpdateProgressed):
            return self._task(e)
        if isinstance(e, PartFaultChanged | PartReplaced):
            return self._part(e)
        if isinstance(e, MemoryMappedOut):
            return [
                _res("ResourceStateChanged", (uri, "Disabled"), uri, "Memory", at)
                for uri in (f"{sys_}/Memory/{slot}" for slot in e.slots)
            ]
        if isinstance(e, NodeReplaced | NodeRestored):
            return [_res("ResourceChanged", (), sys_, "ComputerSystem", at)]
        if isinstance(e, SelRecordDeleted):
            uri = f"{MANAGER}/LogServices/SEL/Entries/{e.record_id}"
            return [_res("ResourceRemoved", (), uri, "LogEntry", at)]
        if isinstance(e, LockoutPolicyChanged):
            return [_res("ResourceChanged", (), f"{V1}/AccountService", "AccountService", at)]
        return []

    #: Where each part kind lives: (collection path under the system or chassis, type).
    _PARTS: ClassVar[dict[str, tuple[str, str, str]]] = {
        "psu": ("chassis", "PowerSubsystem/PowerSupplies", "PowerSupply"),
        "fan": ("chassis", "ThermalSubsystem/Fans", "Fan"),
        "dimm": ("system", "Memory", "Memory"),
        "data-disk": ("chassis", "Drives", "Drive"),
        "boot-drive": ("chassis", "Drives", "Drive"),
        "nic-port": ("system", "EthernetInterfaces", "EthernetInterface"),
        "nic": ("system", "EthernetInterfaces", "EthernetInterface"),
    }

    def _part(self, e: PartFaultChanged | PartReplaced) -> list[Notice]:
        """A part's health changed (Critical while failed), or a new part is in its slot.
        The host OS and the BMC are no Redfish parts: a hang shows only in what follows."""
        where = self._PARTS.get(e.part_kind)
        if where is None:
            return []
        base = self.chassis if where[0] == "chassis" else self.system
        uri = f"{base}/{where[1]}/{e.part}"
        if isinstance(e, PartReplaced):
            return [_res("ResourceChanged", (), uri, where[2], e.at)]
        key = "ResourceStatusChangedCritical" if e.faulted else "ResourceStatusChangedOK"
        health = "Critical" if e.faulted else "OK"
        return [_res(key, (uri, health), uri, where[2], e.at)]

    def _task(self, e: FirmwareUpdateProgressed) -> list[Notice]:
        before = self._job_states.get(e.job_id)
        if e.state.finished:
            self._job_states.pop(e.job_id, None)
        else:
            self._job_states[e.job_id] = e.state
            if len(self._job_states) > 256:  # bounded: forget the oldest unfinished job
                self._job_states.pop(next(iter(self._job_states)))
        jid = e.job_id
        if e.state is JobState.COMPLETED:
            return [_task("TaskCompletedOK", (jid,), jid, e.at)]
        if e.state is JobState.EXCEPTION:
            return [_task("TaskAborted", (jid,), jid, e.at)]
        if e.state is JobState.CANCELLED:
            return [_task("TaskCancelled", (jid,), jid, e.at)]
        if e.state is JobState.NEW:
            return []
        out = []
        if before in (None, JobState.NEW):
            out.append(_task("TaskStarted", (jid,), jid, e.at))
        out.append(_task("TaskProgressChanged", (jid, str(e.percent)), jid, e.at))
        return out


# -- receivers -------------------------------------------------------------------------------------
class Inbox:
    """A bounded queue of records: when full, the oldest is dropped and counted."""

    def __init__(self, size: int = QUEUE_SIZE) -> None:
        self._items: deque[Record] = deque(maxlen=size)
        self._ready = asyncio.Event()
        self.dropped = 0
        self.closed = False

    def put(self, record: Record) -> None:
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(record)
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    def __len__(self) -> int:
        return len(self._items)

    async def take(self, most: int, timeout: float | None = None) -> list[Record]:
        """Up to ``most`` records, waiting for the first (``[]`` on timeout or close)."""
        if not self._items and not self.closed:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout)
        out: list[Record] = []
        while self._items and len(out) < most:
            out.append(self._items.popleft())
        return out


@dataclass
class Subscription:
    id: str
    destination: str
    context: str
    filters: Filters
    registry_prefixes: list[str]
    message_ids: list[str]
    resource_types: list[str]
    origin_resources: list[str]
    subordinate: bool
    include_origin: bool
    retry_policy: str
    owner: str
    http_headers: dict[str, str] = field(default_factory=dict)
    inbox: Inbox = field(default_factory=Inbox)
    task: asyncio.Task[None] | None = None
    delivered: int = 0
    failures: int = 0


@dataclass(eq=False)
class Listener:
    filters: Filters
    inbox: Inbox = field(default_factory=Inbox)


# -- one BMC's event service ---------------------------------------------------------------------
class EventChannel:
    """One BMC's EventService: settings, subscriptions, SSE listeners and their delivery."""

    def __init__(
        self,
        node: Node,
        registries: reg.Registries,
        *,
        source_address: str | None = None,
        answering: Callable[[], bool] = lambda: True,
    ) -> None:
        self.node = node
        self.registries = registries
        self.source_address = source_address
        self.answering = answering
        self.service_enabled = True
        self.retry_attempts = 3
        self.retry_interval_s = 30
        self.subscriptions: dict[str, Subscription] = {}
        self.listeners: set[Listener] = set()
        self._translate = Translator(node)
        self._pending: list[Event] = []
        self._flush_scheduled = False
        self._next_event = 1
        self._next_subscription = 1
        self._client: httpx.AsyncClient | None = None
        self._closed = False
        #: The loop that owns delivery; model events may arrive from another thread (FastAPI
        #: runs plain ``def`` endpoints in its threadpool), so flushes are handed to it.
        self._loop = asyncio.get_running_loop()

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def listening(self) -> bool:
        return bool(self.subscriptions or self.listeners)

    # -- from the bus (synchronous, inside model transitions) -------------------------------------
    def on_event(self, event: Event) -> None:
        if not self.listening or not self.service_enabled or self._closed:
            return
        if self.node.bmc_hung:  # a hung BMC notices nothing: what happens now is never sent
            return
        self._pending.append(event)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            with contextlib.suppress(RuntimeError):  # the loop is closing: nobody to tell
                self._loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        events, self._pending = self._pending, []
        for e in events:
            for notice in self._translate(e):
                self.publish(notice)

    # -- rendering and fan-out ------------------------------------------------------------------
    def render(self, n: Notice, event_id: str | None = None) -> Record:
        registry = self.registries.messages[n.prefix]
        entry = registry.messages[n.key]
        text = n.message
        if text is None:
            text = entry["Message"]
            for i, arg in enumerate(n.args, start=1):
                text = text.replace(f"%{i}", arg)
        if event_id is None:
            event_id = str(self._next_event)
            self._next_event += 1
        wire = EventRecord(
            event_type=n.event_type,
            event_id=event_id,
            event_timestamp=mapping.iso_time(n.at),
            message_id=registry.message_id(n.key),
            message=text,
            message_args=list(n.args),
            message_severity=n.severity or entry.get("MessageSeverity", "OK"),
            origin_of_condition=Link(odata_id=n.origin) if n.origin else None,
            log_entry=Link(odata_id=n.log_entry) if n.log_entry else None,
            member_id="0",
        )
        return Record(n, wire)

    def publish(self, notice: Notice, event_id: str | None = None) -> Record:
        record = self.render(notice, event_id)
        for sub in self.subscriptions.values():
            if sub.filters.matches(notice, record.message_id):
                sub.inbox.put(record)
        for listener in self.listeners:
            if listener.filters.matches(notice, record.message_id):
                listener.inbox.put(record)
        return record

    def payload(
        self, records: Iterable[Record], context: str, include_origin: bool = True
    ) -> bytes:
        events = []
        for i, r in enumerate(records):
            update: dict[str, object] = {"member_id": str(i)}
            if not include_origin:
                update["origin_of_condition"] = None
            events.append(r.wire.model_copy(update=update))
        body = EventPayload(id=events[0].event_id, context=context, events=events)
        return json.dumps(body.wire(), separators=(",", ":")).encode()

    # -- subscriptions ---------------------------------------------------------------------------
    def add(self, sub: Subscription) -> Subscription:
        if not self.listening:
            self._translate.baseline()
        sub.id = str(self._next_subscription)
        self._next_subscription += 1
        self.subscriptions[sub.id] = sub
        sub.task = self._loop.create_task(
            self._deliver(sub), name=f"redfish-events-{self.name}-{sub.id}"
        )
        log.info(
            "node=%s proto=redfish event=subscription.added id=%s destination=%s owner=%s",
            self.name,
            sub.id,
            sub.destination,
            sub.owner,
        )
        return sub

    def remove(self, sub_id: str, reason: str = "deleted") -> Subscription | None:
        sub = self.subscriptions.pop(sub_id, None)
        if sub is None:
            return None
        sub.inbox.close()
        if sub.task is not None and sub.task is not _current_task():
            sub.task.cancel()
        log.info(
            "node=%s proto=redfish event=subscription.removed id=%s reason=%s",
            self.name,
            sub_id,
            reason,
        )
        return sub

    def listen(self, filters: Filters) -> Listener:
        if not self.listening:
            self._translate.baseline()
        listener = Listener(filters)
        self.listeners.add(listener)
        return listener

    def unlisten(self, listener: Listener) -> None:
        listener.inbox.close()
        self.listeners.discard(listener)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            transport = httpx.AsyncHTTPTransport(
                local_address=self.source_address, verify=False, retries=0
            )
            self._client = httpx.AsyncClient(
                transport=transport,
                timeout=POST_TIMEOUT_S,
                follow_redirects=False,
                headers={"User-Agent": "scaleunit-bmc", "Content-Type": "application/json"},
            )
        return self._client

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of the node's (emulated) time."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def wake() -> None:
            if not done.done():
                done.set_result(None)

        timer = self.node.clock.call_later(seconds, wake)
        try:
            await done
        finally:
            timer.cancel()

    async def _post(self, sub: Subscription, body: bytes) -> bool:
        while not self.answering():  # a restarting BMC sends nothing
            await self._sleep(1.0)
        try:
            r = await self._http().post(sub.destination, content=body, headers=sub.http_headers)
        except httpx.HTTPError as exc:
            log.info(
                "node=%s proto=redfish event=delivery.failed id=%s error=%s",
                self.name,
                sub.id,
                type(exc).__name__,
            )
            return False
        if 200 <= r.status_code < 300:
            return True
        log.info(
            "node=%s proto=redfish event=delivery.failed id=%s status=%d",
            self.name,
            sub.id,
            r.status_code,
        )
        return False

    async def _deliver(self, sub: Subscription) -> None:
        while not sub.inbox.closed:
            batch = await sub.inbox.take(BATCH)
            if not batch:
                continue
            body = self.payload(batch, sub.context, sub.include_origin)
            attempt = 0
            while not await self._post(sub, body):
                sub.failures += 1
                attempt += 1
                if sub.retry_policy != "RetryForever" and attempt > self.retry_attempts:
                    self.remove(sub.id, reason="retries-exhausted")
                    return
                await self._sleep(self.retry_interval_s)
            sub.delivered += len(batch)

    async def close(self) -> None:
        self._closed = True
        for sub_id in list(self.subscriptions):
            self.remove(sub_id, reason="shutdown")
        for listener in list(self.listeners):
            self.unlisten(listener)
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _current_task() -> asyncio.Task[object] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


class EventHub:
    """Every BMC's :class:`EventChannel`; subscribe it to the rack's bus."""

    def __init__(self, registries: reg.Registries | None = None) -> None:
        self.registries = registries or reg.load()
        self.channels: dict[str, EventChannel] = {}

    def channel(
        self,
        node: Node,
        source_address: str | None = None,
        answering: Callable[[], bool] = lambda: True,
    ) -> EventChannel:
        ch = EventChannel(node, self.registries, source_address=source_address, answering=answering)
        self.channels[node.name] = ch
        return ch

    def __call__(self, event: Event) -> None:
        ch = self.channels.get(event.device)
        if ch is not None:
            ch.on_event(event)

    async def close(self) -> None:
        for ch in self.channels.values():
            await ch.close()


__all__ = ["EventChannel", "EventHub", "EventSink", "Filters", "Notice", "parse_sse_filter"]


def destination_ok(uri: str) -> bool:
    """An absolute http(s) URI naming a host."""
    if len(uri) > 2048 or any(c.isspace() for c in uri):
        return False
    try:
        parts = urlsplit(uri)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port_ok

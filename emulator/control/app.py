"""The control plane's HTTP API: a FastAPI app over one :class:`ControlPlane`.

Every route needs ``Authorization: Bearer <token>`` (401 with ``WWW-Authenticate: Bearer``
otherwise) except :data:`PUBLIC`: the OpenAPI document (``/openapi.json``) and its pages
(``/docs``, ``/redoc``), which show the API's shape and no state (a deliberate choice: clients
and tools read the schema before they hold a token). A method a path does not take is a 405
whose ``Allow`` names every method the path takes.

Bodies are read whole (at most ``MAX_BODY``, with a Content-Length) and checked before any
parsing: JSON nested deeper than ``MAX_DEPTH`` is a 400 (deep nesting would exhaust the
parser's recursion), so the connection stays in step (the body was consumed) and kept alive.

Every route and dependency is a coroutine, so the model is touched only on the
rack's loop thread (FastAPI runs plain functions in its thread pool).

Errors leave through one table (``emulator.control.errors.STATUS``, looked up through the
class hierarchy), each as ``{"error": "..."}`` and nothing changed:

==============================================  ======
cause                                           status
==============================================  ======
no or wrong token                               401
malformed body or parameter (pydantic details)  422
a body over 64 KiB; a chunked body              413; 411
a bad value (unknown fault kind, part, ...)     400
no such node, switch, fault, alert or route     404
a refused action; a fault already on the part   409
the BMC did not answer (Stop, Start, Repair...) 502
not implemented by the model                    501
==============================================  ======
"""

from __future__ import annotations

import hmac
import json
import logging
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from emulator.control import schemas as s
from emulator.control import ui
from emulator.control.errors import STATUSES, status_of
from emulator.control.feed import EventFeed, encode
from emulator.control.plane import ACTIONS, ControlPlane
from emulator.errors import InvalidRequest, RequestRefused, Unauthenticated, UnknownName
from emulator.faults import FAULT_KINDS, FaultRecord
from emulator.lab import routes as lab_routes
from emulator.logs import kv
from emulator.operator import Alert
from nodes.errors import ModelError
from nodes.events import Event

log = logging.getLogger("emulator.control")

_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": s.ErrorOut} for code in STATUSES}


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="scaleunit"'} if status == 401 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


#: The largest request body accepted (every request body is a small JSON document).
MAX_BODY = 64 * 1024
#: The deepest nesting of arrays and objects a JSON body may have (the API needs three).
MAX_DEPTH = 32
#: The routes served without the token: the API's shape, no state.
PUBLIC = ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def json_depth(body: bytes, limit: int) -> int:
    """How deeply ``body``'s arrays and objects nest (strings skipped), counting no further
    than ``limit + 1``; a scan without recursion, so any body can be measured."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


class BodyLimit:
    """Refuses, before the app reads anything, a body over ``MAX_BODY`` (413) and a body
    without a Content-Length (411), so no request can make the server buffer much; then reads
    the body whole and refuses JSON nested deeper than ``MAX_DEPTH`` (400), before any parser
    recurses into it. The app gets the body it read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        problem = None
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            problem = (411, "a request body needs a Content-Length (no chunked bodies)")
        elif length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            problem = (413, f"the request body is over {MAX_BODY} bytes")
        if problem is not None:
            await _error(*problem)(scope, receive, send)
            return
        if length is None or int(length) == 0:
            await self.app(scope, receive, send)
            return
        body, closing = await _read_body(receive)
        kind = headers.get(b"content-type", b"").lower()
        if (not kind or b"json" in kind) and json_depth(body, MAX_DEPTH) > MAX_DEPTH:
            message = f"the JSON body is nested deeper than {MAX_DEPTH} levels"
            await _error(400, message)(scope, receive, send)
            return
        replayed = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            if closing is not None:
                return closing
            return await receive()

        await self.app(scope, replay, send)


async def _read_body(receive: Receive) -> tuple[bytes, MutableMapping[str, Any] | None]:
    """The whole body (the server holds it to the Content-Length, at most ``MAX_BODY``), and
    the disconnect message if the client left while it was read."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


#: The methods a 405's ``Allow`` may name.
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed(routes: list[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route takes for the path of ``scope`` (a 405's ``Allow``): Starlette
    names only the first matching route's."""
    return [
        method
        for method in _METHODS
        if any(r.matches({**scope, "method": method})[0] is Match.FULL for r in routes)
    ]


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float as its text (JSON has no NaN nor Infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# -- dependencies ------------------------------------------------------------------------------
class _Auth:
    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def __call__(self, request: Request) -> ControlPlane:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if not header and ui.session_allows(request, self._token.decode()):
            plane: ControlPlane = request.app.state.plane
            return plane
        if scheme.lower() != "bearer" or not given:
            raise Unauthenticated("a bearer token is required (Authorization: Bearer <token>)")
        if not hmac.compare_digest(given.strip().encode(), self._token):
            raise Unauthenticated("the token is not valid")
        plane = request.app.state.plane
        return plane


async def _plane(request: Request) -> ControlPlane:
    auth: _Auth = request.app.state.auth
    return await auth(request)


Plane = Annotated[ControlPlane, Depends(_plane)]
NodeAction = Literal["drain", "resume", "stop", "start", "shutdown", "repair", "add"]


def _events(events: list[Event]) -> list[dict[str, Any]]:
    return [encode(e) for e in events]


def _fault(rec: FaultRecord) -> s.FaultOut:
    return s.FaultOut(
        id=rec.id,
        kind=rec.kind,
        device=rec.device,
        part=rec.part or "",
        state=str(rec.state),
        scheduled_for=rec.scheduled_for,
        injected_at=rec.injected_at,
        cleared_at=rec.cleared_at,
        cleared_by=rec.cleared_by or "",
        detail=rec.detail or "",
        version=rec.version,
    )


def _alert(a: Alert) -> s.AlertOut:
    return s.AlertOut(
        id=a.id,
        kind=a.kind.value,
        title=a.title,
        severity=a.severity.value,
        component=a.component,
        description=a.description,
        remediation=a.remediation,
        opened_at=a.opened_at,
        closed_at=a.closed_at,
        closed_by=a.closed_by,
        hardware_id=a.hardware_id,
        open=a.open,
    )


def _chaos(plane: ControlPlane) -> s.ChaosOut:
    run = plane.chaos
    if run is None:
        return s.ChaosOut(running=False)
    return s.ChaosOut(
        running=True,
        seed=run.seed,
        mean_interval_s=run.mean_interval_s,
        kinds=run.kinds,
        max_active=run.max_active,
        started_at=run.started_at,
    )


# -- routers -----------------------------------------------------------------------------------
status_router = APIRouter(tags=["status"])
nodes_router = APIRouter(prefix="/nodes", tags=["nodes"])
faults_router = APIRouter(prefix="/faults", tags=["faults"])
replace_router = APIRouter(prefix="/replace", tags=["replacement"])
alerts_router = APIRouter(prefix="/alerts", tags=["alerts"])
chaos_router = APIRouter(prefix="/chaos", tags=["chaos"])
events_router = APIRouter(prefix="/events", tags=["events"])


@status_router.get("/status", response_model=s.StatusOut, responses=_ERRORS)
async def get_status(plane: Plane) -> s.StatusOut:
    """The scale unit at a glance: nodes, switches, states, open alerts."""
    data = plane.status()
    data["alerts"] = [_alert(a) for a in data["alerts"]]
    return s.StatusOut(**data)


@nodes_router.post("/{name}/{action}", response_model=s.ActionOut, responses=_ERRORS)
async def node_action(
    name: str, action: NodeAction, plane: Plane, body: s.ActionIn | None = None
) -> s.ActionOut:
    """An operator action: drain, resume, stop, start, shutdown, repair or add. 409 with the
    operator's message when a rule refuses it, 502 when the node's BMC does not answer."""
    address = str(body.bmc_address) if body is not None and body.bmc_address else None
    events = plane.node_action(name, action, address)
    op = plane.operator
    log.info(kv(node=name, proto="control", event="action.accepted", action=action))
    return s.ActionOut(
        node=name,
        action=action,
        status=op.node_status(name).value,
        power_state=op.power_state(name).value,
        scale_unit=op.scale_unit_status().value,
        events=_events(events),
    )


@faults_router.get("", response_model=list[s.FaultOut], responses=_ERRORS)
async def list_faults(plane: Plane, active_only: bool = False) -> list[s.FaultOut]:
    """Every fault injected or scheduled (``active_only``: those scheduled or active)."""
    return [_fault(r) for r in plane.faults.records(active_only=active_only)]


@faults_router.get("/catalogue", response_model=list[s.FaultKindOut], responses=_ERRORS)
async def fault_catalogue(plane: Plane) -> list[s.FaultKindOut]:
    """The faults that can be injected, and the part each names."""
    return [
        s.FaultKindOut(name=k.name, scope=k.scope, part=k.part, summary=k.summary)
        for k in FAULT_KINDS.values()
    ]


@faults_router.post("", response_model=s.FaultOut, status_code=201, responses=_ERRORS)
async def inject_fault(body: s.FaultIn, plane: Plane) -> s.FaultOut:
    """Inject a fault now, at an emulated time (``at``) or ``in_s`` seconds from now."""
    # An unknown kind is the injector's FaultError (400), with its "did you mean".
    if body.device not in plane.rack.nodes and body.device not in plane.rack.switches:
        raise UnknownName(f"no node or switch named {body.device!r} in the rack")
    at = body.at if body.in_s is None else plane.now() + body.in_s
    rec = plane.faults.inject(body.kind, body.device, body.part, at=at, version=body.version)
    log.info(
        kv(node=body.device, proto="control", event="fault.requested", kind=body.kind, id=rec.id)
    )
    return _fault(rec)


@faults_router.delete("/{fault_id}", response_model=s.FaultOut, responses=_ERRORS)
async def clear_fault(fault_id: str, plane: Plane) -> s.FaultOut:
    """Clear an active fault (or cancel a scheduled one)."""
    if not any(r.id == fault_id for r in plane.faults.records()):
        raise UnknownName(f"no fault {fault_id!r}")
    return _fault(plane.faults.clear(fault_id))


@replace_router.post("/node", response_model=s.ReplaceOut, responses=_ERRORS)
async def replace_node(body: s.ReplaceNodeIn, plane: Plane) -> s.ReplaceOut:
    """A whole replacement node arrives in the slot (the host must be off): new serial and
    GUID, factory BMC credentials root/calvin, factory firmware, empty SEL, host off."""
    events, info = plane.replace_node(body.node, body.serial, body.firmware, body.cpu_model)
    return s.ReplaceOut(**info, events=_events(events))


@replace_router.post("/part", response_model=s.ReplaceOut, responses=_ERRORS)
async def replace_part(body: s.ReplacePartIn, plane: Plane) -> s.ReplaceOut:
    """A new part in place of the old (DIMMs and NICs need the host off), its fault cleared."""
    events = plane.replace_part(body.node, body.kind, body.target)
    return s.ReplaceOut(device=body.node, events=_events(events))


@replace_router.post("/switch", response_model=s.ReplaceOut, responses=_ERRORS)
async def replace_switch(body: s.ReplaceSwitchIn, plane: Plane) -> s.ReplaceOut:
    """A replacement switch arrives: new serial, factory configuration."""
    events, serial = plane.replace_switch(body.switch, body.serial)
    return s.ReplaceOut(device=body.switch, serial=serial, events=_events(events))


@alerts_router.get("", response_model=list[s.AlertOut], responses=_ERRORS)
async def list_alerts(plane: Plane, open_only: bool = False) -> list[s.AlertOut]:
    """Alerts, open and closed (``open_only``: the open ones)."""
    return [_alert(a) for a in plane.operator.alerts(open_only=open_only)]


@alerts_router.post("/{alert_id}/close", response_model=s.AlertOut, responses=_ERRORS)
async def close_alert(alert_id: str, plane: Plane) -> s.AlertOut:
    """Close an alert by hand (a hardware alert after a swap)."""
    plane.close_alert(alert_id)
    return _alert(plane.operator.alert(alert_id))


@chaos_router.get("", response_model=s.ChaosOut, responses=_ERRORS)
async def get_chaos(plane: Plane) -> s.ChaosOut:
    return _chaos(plane)


@chaos_router.post("", response_model=s.ChaosOut, status_code=201, responses=_ERRORS)
async def start_chaos(body: s.ChaosIn, plane: Plane) -> s.ChaosOut:
    """Random faults drawn from ``seed``: the same seed on the same topology gives the same
    faults at the same emulated times."""
    unknown = sorted(set(body.kinds or ()) - set(FAULT_KINDS))
    if unknown:
        raise InvalidRequest(
            f"unknown fault kind(s) {unknown}; one of: {', '.join(sorted(FAULT_KINDS))}"
        )
    if body.kinds is not None and not body.kinds:
        raise InvalidRequest("kinds is empty: leave it out for every kind")
    plane.start_chaos(body.seed, body.mean_interval_s, body.kinds, body.max_active)
    return _chaos(plane)


@chaos_router.delete("", response_model=s.ChaosOut, responses=_ERRORS)
async def stop_chaos(plane: Plane) -> s.ChaosOut:
    """Stop drawing faults (the active ones stay until cleared)."""
    out = _chaos(plane)
    plane.stop_chaos()
    return out.model_copy(update={"running": False})


@events_router.get("", response_model=s.EventsOut, responses=_ERRORS)
async def recent_events(
    request: Request,
    plane: Plane,
    since: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> s.EventsOut:
    """The most recent events (after ``since``), oldest first."""
    feed: EventFeed = request.app.state.feed
    kept = [e for e in feed.recent if e["seq"] > since]
    return s.EventsOut(last_seq=feed.last_seq, events=kept[-limit:])


def _ndjson(item: dict[str, Any]) -> bytes:
    return json.dumps(item, separators=(",", ":")).encode() + b"\n"


def _sse(item: dict[str, Any]) -> bytes:
    head = f"id: {item['seq']}\n" if "seq" in item else ""
    return f"{head}event: {item['type']}\ndata: {json.dumps(item)}\n\n".encode()


@events_router.get(
    "/stream",
    responses={
        **_ERRORS,
        200: {
            "description": "one JSON object per line (NDJSON), or Server-Sent Events when "
            "the client accepts text/event-stream; a slow client gets a final "
            "stream.dropped, a stopping rack a final stream.closed",
            "content": {"application/x-ndjson": {}, "text/event-stream": {}},
        },
    },
)
async def stream_events(
    request: Request,
    plane: Plane,
    since: Annotated[int | None, Query(ge=0, description="replay kept events after it")] = None,
) -> StreamingResponse:
    """Every event on the rack's bus as it happens: power, SEL, links, traps, faults, alerts,
    operator actions, ``{seq, type, device, at, ...fields}``."""
    feed: EventFeed = request.app.state.feed
    sub = feed.subscribe(since)
    sse = "text/event-stream" in request.headers.get("accept", "")
    fmt: Callable[[dict[str, Any]], bytes] = _sse if sse else _ndjson
    return StreamingResponse(
        feed.stream(sub, fmt),
        media_type="text/event-stream" if sse else "application/x-ndjson",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


ROUTERS = (
    status_router,
    nodes_router,
    faults_router,
    replace_router,
    alerts_router,
    chaos_router,
    events_router,
)


def create_app(plane: ControlPlane, feed: EventFeed, token: str) -> FastAPI:
    """The app for one rack; ``token`` is the bearer token every route requires."""
    if not token:
        raise ValueError("the control plane needs a token")
    app = FastAPI(
        title="scaleunit control plane",
        version="1",
        description="Operate an emulated scale unit: status, node actions, faults, hardware "
        "replacement, chaos and a live event stream. Every route needs "
        "`Authorization: Bearer <token>` (see the state directory's control.json), except "
        "this document (/openapi.json) and its pages (/docs, /redoc).",
    )
    app.state.plane = plane
    app.state.feed = feed
    app.state.auth = _Auth(token)
    app.state.token = token
    app.add_middleware(BodyLimit)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(ui.router)
    app.include_router(lab_routes.router)
    app.state.lab = None

    def refused(request: Request, status: int, message: str) -> JSONResponse:
        # The message, never the headers (the token).
        log.info(
            kv(
                proto="control",
                event="request.refused",
                method=request.method,
                path=request.url.path,
                status=status,
                error=message,
            )
        )
        return _error(status, message)

    @app.exception_handler(RequestRefused)
    @app.exception_handler(ModelError)
    async def refusal(request: Request, exc: Exception) -> JSONResponse:
        return refused(request, status_of(exc), str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {k: v for k, v in e.items() if k in ("type", "loc", "msg", "input")}
            for e in exc.errors()
        ]
        first = details[0] if details else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"invalid request: {where}: {first['msg']}" if where else first["msg"]
        body = _finite(json.loads(json.dumps({"error": message, "detail": details}, default=str)))
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = f"no route {request.url.path}" if exc.status_code == 404 else str(exc.detail)
        resp = _error(exc.status_code, message)
        for key, value in (exc.headers or {}).items():
            resp.headers[key] = value
        if exc.status_code == 405:  # Starlette names the first route's methods only
            allowed = ", ".join(_allowed(request.app.router.routes, request.scope))
            message = f"{request.method} is not allowed on {request.url.path}; allowed: {allowed}"
            resp = _error(405, message)
            resp.headers["Allow"] = allowed
        return resp

    return app


__all__ = ["ACTIONS", "MAX_BODY", "MAX_DEPTH", "PUBLIC", "ROUTERS", "BodyLimit", "create_app"]

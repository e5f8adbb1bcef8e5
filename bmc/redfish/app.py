"""The Redfish application: one FastAPI app for every BMC, behind a small ASGI front.

The front, per request:

1. finds the BMC from ``scope["server"]`` (the local address and port the connection came to)
   and puts it in ``request.state.bmc``;
2. refuses bodies over the limit with 413 before the app reads them (chunked ones too);
3. refuses an OData-Version other than 4.0 (412), treats POST to ``.../Members`` as POST to
   the collection, and applies ``$select``/``$expand``/``only`` (:mod:`bmc.redfish.query`) to
   the plain answer of a GET, refusing other ``$`` parameters (501);
4. adds ``OData-Version: 4.0``, ``Cache-Control`` and the ``Allow`` header (every method any
   route offers for the path) to every response, answers a GET whose If-None-Match names the
   current ETag with 304, and logs one line per request (``node=n03 proto=redfish ...``).

Errors leave through exactly one place: :data:`bmc.redfish.errors` messages rendered with the
Base registry by the handlers installed here.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from bmc.redfish import errors, query
from bmc.redfish.deps import JSON, encode, etag_of, schema_uri
from bmc.redfish.errors import Msg, RedfishError
from bmc.redfish.registries import Registries
from bmc.redfish.routers import (
    accounts,
    bios,
    chassis,
    events,
    managers,
    root,
    sessions,
    systems,
    tasks,
    update,
    virtual_media,
)
from bmc.redfish.service import Directory

log = logging.getLogger("bmc.redfish")

#: EventService, VirtualMedia and Bios.
_MORE = (events, virtual_media, bios)
#: Every router module, in the order the app includes them.
ROUTER_MODULES = (root, systems, chassis, managers, sessions, accounts, update, tasks, *_MORE)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: ``$`` query parameters a route takes itself (the front passes them through untouched).
QUERY_PARAMS: dict[str, frozenset[str]] = {
    "/redfish/v1/EventService/SSE": frozenset({"$filter"}),
}

#: The largest request body accepted (Redfish PATCH/POST bodies are small JSON documents).
MAX_BODY = 64 * 1024
_BODY_METHODS = {"POST", "PATCH", "PUT", "DELETE"}
#: How many paths' Allow headers the front remembers.
ALLOWED_CACHE = 4096


def _error_response(regs: Registries, err: RedfishError) -> Response:
    return Response(
        encode(errors.body(regs.base, err.messages)),
        status_code=err.status,
        media_type=JSON,
        headers=err.headers,
    )


def build_fastapi(registries: Registries) -> FastAPI:
    app = FastAPI(
        title="scaleunit Redfish BMC",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.registries = registries
    routes: list[tuple[re.Pattern[str], set[str]]] = []
    app.state.body_limits = {}  # path -> the largest body it takes, where not MAX_BODY
    app.state.query_params = dict(QUERY_PARAMS)  # path -> the $ parameters it takes itself
    for module in ROUTER_MODULES:
        # The routers' routes go straight into the app's one flat list: include_router would
        # match them through a nested router per module, resolved again on every request
        # (about a sixth of a GET's time). The routers carry nothing but their prefix, which
        # is already in each route's path.
        app.router.routes.extend(module.router.routes)
        app.state.body_limits.update(getattr(module, "BODY_LIMITS", {}))
        app.state.query_params.update(getattr(module, "QUERY_PARAMS", {}))
        routes += [
            (r.path_regex, set(r.methods or ()))
            for r in module.router.routes
            if isinstance(r, APIRoute)
        ]
    #: (path regex, methods) of every route, for the Allow header.
    app.state.route_table = routes

    async def on_redfish_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RedfishError)
        return _error_response(registries, exc)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            err = errors.error(404, "ResourceNotFound", "Resource", request.url.path)
        elif exc.status_code == 405:
            err = errors.error(405, "OperationNotAllowed")
        else:
            err = RedfishError(exc.status_code, [Msg("GeneralError")])
        return _error_response(registries, err)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        return _error_response(registries, errors.error(400, "UnrecognizedRequestBody"))

    async def on_crash(request: Request, exc: Exception) -> Response:
        bmc = getattr(request.state, "bmc", None)
        log.exception(
            "node=%s proto=redfish event=request.crashed path=%s",
            getattr(bmc, "name", "?"),
            request.url.path,
        )
        err = errors.error(500, "InternalError")
        # Starlette raises the exception again once this is sent, and uvicorn then closes the
        # connection: say so, so that a client does not send its next request into it.
        err.headers["Connection"] = "close"
        return _error_response(registries, err)

    app.add_exception_handler(RedfishError, on_redfish_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_crash)
    return app


class RedfishFront:
    """The ASGI layer in front of the app: BMC selection, body limit, headers, logs."""

    def __init__(
        self, app: FastAPI, directory: Directory, registries: Registries, max_body: int = MAX_BODY
    ) -> None:
        self.app = app
        self.directory = directory
        self.registries = registries
        self.max_body = max_body
        self._routes: list[tuple[re.Pattern[str], set[str]]] = app.state.route_table
        self._body_limits: dict[str, int] = app.state.body_limits
        self._query_params: dict[str, frozenset[str]] = app.state.query_params
        #: allowed() per path, for the most recent paths (bounded: paths come from clients).
        self.allowed = functools.lru_cache(maxsize=ALLOWED_CACHE)(self._allowed)

    def _allowed(self, path: str) -> tuple[str, ...]:
        """Every method a route offers for ``path`` (HEAD wherever GET), in a fixed order."""
        methods: set[str] = set()
        for regex, route_methods in self._routes:
            if regex.match(path):
                methods |= route_methods
        if "GET" in methods:
            methods.add("HEAD")
        order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
        return tuple(m for m in order if m in methods)

    async def _refuse(self, send: Send, err: RedfishError, close: bool = True) -> None:
        """Answer with ``err`` before the app sees the request (closing: its body is unread)."""
        data = encode(errors.body(self.registries.base, err.messages))
        headers = [
            (b"content-type", JSON.encode()),
            (b"content-length", str(len(data)).encode()),
            (b"odata-version", b"4.0"),
            (b"cache-control", b"no-cache"),
        ]
        headers += [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": err.status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def _get(self, scope: Scope, path: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """GET ``path`` from the app as the caller of ``scope`` (same BMC, same credentials)."""
        parent = scope["state"]
        # The same BMC, and the caller as the first request authenticated them (once).
        state = {k: parent[k] for k in ("bmc", "principal", "user") if k in parent}
        sub = dict(
            scope,
            method="GET",
            path=path,
            raw_path=path.encode(),
            query_string=b"",
            state=state,
        )
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def nothing() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(sub, nothing, capture)
        if "principal" in state and "principal" not in parent:
            parent["principal"], parent["user"] = state["principal"], state["user"]
        return status, headers, b"".join(chunks)

    async def _shaped(self, scope: Scope, send: Send, q: query.Query) -> None:
        """Answer a GET with $select, $expand or only: the plain resource, reshaped."""
        status, headers, body = await self._get(scope, scope["path"])
        kind = next((v for k, v in headers if k == b"content-type"), b"")
        if status == 200 and kind.startswith(b"application/json"):

            async def fetch(uri: str) -> dict[str, Any] | None:
                if "#" in uri or "?" in uri or not uri.startswith("/redfish/v1"):
                    return None  # a reference into a resource stays a reference
                code, _, data = await self._get(scope, uri)
                doc = json.loads(data) if code == 200 and data.startswith(b"{") else None
                return doc if isinstance(doc, dict) else None

            try:
                doc = await query.shape(json.loads(body), q, fetch)
            except RedfishError as err:
                await self._refuse(send, err, close=False)
                return
            body = encode(doc)
            headers = [(k, v) for k, v in headers if k not in (b"content-length", b"etag", b"link")]
            headers += [(b"content-length", str(len(body)).encode())]
            headers += [(b"etag", etag_of(body).encode())]
            odata_type = doc.get("@odata.type")
            if isinstance(odata_type, str):
                headers += [(b"link", f"<{schema_uri(odata_type)}>; rel=describedby".encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        server = scope.get("server") or ("", 0)
        bmc = self.directory.at(server[0], server[1])
        if bmc is None:
            await self._refuse(send, errors.error(404, "ResourceNotFound", "Manager", str(server)))
            return
        state = scope.setdefault("state", {})
        state["bmc"] = bmc
        method = scope["method"]
        path = scope["path"]
        if method == "POST" and path.endswith("/Members"):
            # POST to a collection's Members is the same as POST to the collection.
            collection = path.removesuffix("/Members")
            if "POST" in self.allowed(collection):
                path = collection
                scope = dict(scope, path=path, raw_path=path.encode())

        if method in _BODY_METHODS:
            limit = self._body_limits.get(path, self.max_body)
            length = _header(scope, b"content-length")
            if length is not None and (not length.isdigit() or int(length) > limit):
                await self._refuse(send, errors.error(413, "PayloadTooLarge"))
                return
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    await self._refuse(send, errors.error(413, "PayloadTooLarge"))
                    return
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            receive = replay

        version = _header(scope, b"odata-version")
        if version is not None and version.strip() != "4.0":
            # Refused once the body (if any) is read: the connection goes on.
            err = errors.error(412, "HeaderInvalid", f"OData-Version: {version}")
            await self._refuse(send, err, close=False)
            return
        head = method == "HEAD"
        if head:  # a GET whose body is not sent
            scope = dict(scope, method="GET")
        allow = ", ".join(self.allowed(path)).encode()
        status = 0
        if_none_match = _header(scope, b"if-none-match") if scope["method"] == "GET" else None
        empty = head

        async def send_with_headers(message: Message) -> None:
            nonlocal status, empty
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k not in (b"allow", b"odata-version")
                ]
                headers.append((b"odata-version", b"4.0"))
                if not any(k == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-cache"))
                if allow:
                    headers.append((b"allow", allow))
                if if_none_match is not None and status == 200:
                    etag = next((v.decode() for k, v in headers if k == b"etag"), None)
                    if etag is not None and _etag_in(etag, if_none_match):
                        status, empty = 304, True  # the client's copy is current
                        headers = [
                            (k, v)
                            for k, v in headers
                            if k not in (b"content-length", b"content-type")
                        ]
                message = dict(message, status=status, headers=headers)
            elif empty and message["type"] == "http.response.body":
                message = dict(message, body=b"")
            await send(message)

        raw_query = scope.get("query_string", b"")
        shaped: query.Query | None = None
        if raw_query and scope["method"] == "GET":
            try:
                shaped = query.parse(
                    raw_query.decode("latin-1"), self._query_params.get(path, frozenset())
                )
            except RedfishError as err:
                await self._refuse(send_with_headers, err, close=False)
                return
        if shaped is not None and shaped.shapes:
            await self._shaped(scope, send_with_headers, shaped)
        else:
            await self.app(scope, receive, send_with_headers)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "node=%s proto=redfish event=request method=%s path=%s status=%d user=%s",
                bmc.name,
                method,
                path,
                status,
                state.get("user", "-"),
            )


def _etag_in(etag: str, header: str) -> bool:
    """Whether an If-None-Match (or If-Match) header value names ``etag`` (weakly)."""
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def create_app(
    directory: Directory, registries: Registries, max_body: int = MAX_BODY
) -> RedfishFront:
    return RedfishFront(build_fastapi(registries), directory, registries, max_body)

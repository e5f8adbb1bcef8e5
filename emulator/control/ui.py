"""The web rack view: ``/ui``, a page that draws the rack live from the control plane's event
stream (plain SVG and JavaScript served from the package; no build step).

Access: the control plane's token opens a session. ``/ui?token=TOKEN`` (the address that
``scaleunit up`` prints) checks the token, sets an HttpOnly, SameSite=Strict cookie and
redirects to ``/ui``; from then on the page's own requests (``/ui/rack``, the event stream,
the trainer's actions) carry the cookie instead of the bearer token. The cookie's value is an
HMAC of the token, so it stays valid across a restart of the rack (the token is kept in the
state directory) and is never the token itself. A state-changing request authenticated by
the cookie must also carry ``X-Scaleunit-UI: 1``, which a cross-site form cannot send.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from importlib import resources
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from emulator.control.feed import EventFeed
from emulator.control.plane import ControlPlane
from emulator.control.rackview import rack_view

COOKIE: Final = "scaleunit_ui"
#: The header a state-changing request authenticated by the cookie must carry.
UI_HEADER: Final = "x-scaleunit-ui"
_STATIC: Final = {
    "rack.js": "text/javascript; charset=utf-8",
    "rack.css": "text/css; charset=utf-8",
}


def session_value(token: str) -> str:
    """The cookie's value for ``token``: an HMAC, so the cookie never carries the token."""
    return hmac.new(token.encode(), b"scaleunit-ui-session/1", hashlib.sha256).hexdigest()


def cookie_valid(request: Request, token: str) -> bool:
    given = request.cookies.get(COOKIE, "")
    return bool(given) and hmac.compare_digest(given.encode(), session_value(token).encode())


def session_allows(request: Request, token: str) -> bool:
    """Whether the rack view's session cookie authenticates ``request``: a valid cookie, and
    for a state-changing request also the header that no cross-site form can send."""
    if not cookie_valid(request, token):
        return False
    return request.method in ("GET", "HEAD") or request.headers.get(UI_HEADER) == "1"


def _asset(name: str) -> bytes:
    return resources.files("emulator.control").joinpath("ui_static", name).read_bytes()


_REFUSED_PAGE: Final = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>scaleunit: no session</title></head><body>
<h1>No session</h1><p>Open the address <code>scaleunit up</code> printed
(<code>/ui?token=...</code>); the token is in the state directory's control.json.</p>
</body></html>"""

# The page and its own data: not part of the API (its OpenAPI document, schemathesis).
router = APIRouter(prefix="/ui", tags=["rack view"], include_in_schema=False)


async def _plane(request: Request) -> ControlPlane:
    auth = request.app.state.auth
    plane: ControlPlane = await auth(request)
    return plane


Plane = Annotated[ControlPlane, Depends(_plane)]


@router.get("", response_class=HTMLResponse)
async def page(
    request: Request, token: Annotated[str | None, Query(description="opens a session")] = None
) -> Response:
    """The rack view. With ``token``: open a session (cookie) and redirect here without it."""
    secret: str = request.app.state.token
    if token is not None:
        if not hmac.compare_digest(token.encode(), secret.encode()):
            return HTMLResponse(_REFUSED_PAGE, status_code=401)
        out = RedirectResponse("/ui", status_code=303)
        out.set_cookie(
            COOKIE,
            session_value(secret),
            httponly=True,
            samesite="strict",
            path="/",
        )
        return out
    if not cookie_valid(request, secret):
        return HTMLResponse(_REFUSED_PAGE, status_code=401)
    return HTMLResponse(
        _asset("index.html"),
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'self'; style-src 'self'; "
            "script-src 'self'; connect-src 'self'; img-src 'self' data:",
            "X-Frame-Options": "DENY",
        },
    )


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    if name not in _STATIC:
        return JSONResponse({"error": {"status": 404, "message": "no such file"}}, 404)
    return Response(_asset(name), media_type=_STATIC[name], headers={"Cache-Control": "no-cache"})


def _unnamed_sse(item: dict[str, Any]) -> bytes:
    # No "event:" field, so the page's one EventSource.onmessage sees every type.
    head = f"id: {item['seq']}\n" if "seq" in item else ""
    return f"{head}data: {json.dumps(item)}\n\n".encode()


@router.get("/events", response_class=StreamingResponse)
async def events(
    request: Request,
    plane: Plane,
    since: Annotated[int | None, Query(ge=0, description="replay kept events after it")] = None,
) -> StreamingResponse:
    """The event stream for the page: Server-Sent Events, every event as an unnamed message
    (``GET /events/stream`` names each by its type)."""
    feed: EventFeed = request.app.state.feed
    sub = feed.subscribe(since)
    return StreamingResponse(
        feed.stream(sub, _unnamed_sse),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/rack")
async def rack(plane: Plane) -> dict[str, Any]:
    """The whole rack for the page: nodes with their parts and links, switches with their
    ports, the scale unit's status, open alerts."""
    return rack_view(plane)

"""/redfish/v1/SessionService: log in (POST Sessions, no auth needed), log out (DELETE)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bmc.redfish import mapping
from bmc.redfish.deps import (
    CurrentBmc,
    CurrentRegistries,
    body_of,
    check_if_match,
    no_content,
    privileged,
    reply,
    self_only,
)
from bmc.redfish.errors import Msg, error, render
from bmc.redfish.schemas.common import Collection, Link, collection_type
from bmc.redfish.schemas.service import SessionIn, SessionOut, SessionService, SessionServicePatch
from bmc.redfish.service import BmcService, LoginRefused, Principal, Session

V1 = "/redfish/v1"
BASE = f"{V1}/SessionService"
SESSIONS = collection_type("SessionCollection.SessionCollection")

router = APIRouter(prefix=BASE)
ServiceReader = Annotated[Principal, privileged("SessionService")]
CollectionReader = Annotated[Principal, privileged("SessionCollection")]
SessionUser = Annotated[Principal, privileged("Session")]


def render_service(bmc: BmcService) -> SessionService:
    return SessionService(
        odata_id=BASE,
        id="SessionService",
        name="Session Service",
        session_timeout=bmc.session_timeout_s,
        sessions=Link(odata_id=f"{BASE}/Sessions"),
    )


@router.get("")
async def session_service(_: ServiceReader, bmc: CurrentBmc) -> Response:
    return reply(render_service(bmc))


@router.patch("")
async def patch_session_service(
    request: Request,
    who: ServiceReader,
    bmc: CurrentBmc,
    patch: Annotated[
        SessionServicePatch, Depends(body_of(SessionServicePatch, shown=SessionService))
    ],
) -> Response:
    check_if_match(request, render_service(bmc))
    if patch.session_timeout is not None:
        bmc.session_timeout_s = patch.session_timeout
        bmc.log_action("sessions.timeout", who, seconds=patch.session_timeout)
    return reply(render_service(bmc))


def render_session(session: Session) -> SessionOut:
    return SessionOut(
        odata_id=f"{BASE}/Sessions/{session.id}",
        id=session.id,
        name="User Session",
        user_name=session.username,
        created_time=mapping.iso_time(session.created),
    )


@router.get("/Sessions")
async def sessions(request: Request, who: CollectionReader, bmc: CurrentBmc) -> Response:
    bmc.expire_sessions()
    mine = "ConfigureManager" not in who.privileges
    uris = [
        f"{BASE}/Sessions/{s.id}"
        for s in bmc.sessions.values()
        if not mine or s.user_id == who.user_id
    ]
    return reply(Collection.of(SESSIONS, f"{BASE}/Sessions", "Session Collection", uris))


@router.post("/Sessions")
async def login(
    bmc: CurrentBmc,
    regs: CurrentRegistries,
    body: Annotated[SessionIn, Depends(body_of(SessionIn, shown=SessionOut))],
) -> Response:
    try:
        principal = bmc.login(body.user_name, body.password)
    except LoginRefused:
        raise error(401, "AccessUnauthorized") from None
    try:
        session = bmc.open_session(principal)
    except OverflowError:
        raise error(503, "SessionLimitExceeded") from None
    location = f"{BASE}/Sessions/{session.id}"
    out = render_session(session)
    if principal.password_change_required:
        msg = Msg("PasswordChangeRequired", (principal.account_uri,))
        out.extended_info = [render(regs.base, msg)]
    return reply(
        out,
        status=201,
        headers={"X-Auth-Token": session.token, "Location": location},
    )


def _session(request: Request, who: Principal, bmc: BmcService, session_id: str) -> Session:
    bmc.expire_sessions()
    session = bmc.sessions.get(session_id)
    if session is None or (self_only(request) and session.user_id != who.user_id):
        raise error(404, "ResourceNotFound", "Session", session_id)
    return session


@router.get("/Sessions/{session_id}")
async def session(session_id: str, request: Request, who: SessionUser, bmc: CurrentBmc) -> Response:
    return reply(render_session(_session(request, who, bmc, session_id)))


@router.delete("/Sessions/{session_id}")
async def logout(session_id: str, request: Request, who: SessionUser, bmc: CurrentBmc) -> Response:
    s = _session(request, who, bmc, session_id)
    check_if_match(request, render_session(s))
    bmc.close_session(s.id)
    return no_content()

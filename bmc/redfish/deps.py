"""Shared dependencies (``Annotated[..., Depends(...)]`` aliases) and response helpers.

A request's BMC was chosen by the ASGI front (:mod:`bmc.redfish.app`) from the local address and
put in ``request.state.bmc``; everything below reads it from there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from bmc.redfish.errors import Msg, RedfishError, error
from bmc.redfish.registries import Registries
from bmc.redfish.schemas.common import Wire
from bmc.redfish.service import BmcService, LoginRefused, Principal

JSON = "application/json; charset=utf-8"
B = TypeVar("B", bound=BaseModel)


# -- the BMC and the registries ----------------------------------------------------------------
async def current_bmc(request: Request) -> BmcService:
    bmc: BmcService = request.scope["state"]["bmc"]
    return bmc


async def registries(request: Request) -> Registries:
    regs: Registries = request.app.state.registries
    return regs


CurrentBmc = Annotated[BmcService, Depends(current_bmc)]
CurrentRegistries = Annotated[Registries, Depends(registries)]


# -- authentication and privileges ------------------------------------------------------------
def _unauthorized() -> RedfishError:
    err = error(401, "AccessUnauthorized")
    err.headers["WWW-Authenticate"] = 'Basic realm="Redfish"'
    return err


def _login(request: Request, bmc: BmcService) -> Principal:
    """Check the request's session token or HTTP Basic credentials (401 when they fail)."""
    token = request.headers.get("x-auth-token")
    if token is not None:
        session = bmc.session_for(token)
        user = bmc.node.users.get(session.user_id) if session is not None else None
        if session is None or user is None or not user.enabled:
            raise _unauthorized()
        return bmc.principal_for(user, session.id)
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise _unauthorized()
    try:
        username, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise _unauthorized() from None
    try:
        return bmc.login(username, password)
    except LoginRefused:
        raise _unauthorized() from None


def _caller(request: Request) -> Principal:
    """Who sent the request, authenticated once per request: the result is kept in the request's
    state (the ASGI front hands it on to the sub-requests of ``$expand``)."""
    state = request.scope["state"]
    principal: Principal | None = state.get("principal")
    if principal is None:
        principal = state["principal"] = _login(request, state["bmc"])
        state["user"] = principal.username
    if principal.password_change_required and not _before_password_change(request, principal):
        raise password_change_required(principal)
    return principal


async def authenticate(request: Request) -> Principal:
    return _caller(request)


def password_change_required(who: Principal) -> RedfishError:
    return error(403, "PasswordChangeRequired", who.account_uri)


def _before_password_change(request: Request, who: Principal) -> bool:
    """What an account that must change its password may still do (Redfish spec, "Password
    change required handling"): read its own account and PATCH its password (the route checks
    that nothing else is patched), and log out of its own session."""
    path = request.url.path.rstrip("/")
    method = request.method
    if path == who.account_uri:
        return method in ("GET", "HEAD", "PATCH")
    own_session = f"/redfish/v1/SessionService/Sessions/{who.session_id}"
    return method == "DELETE" and who.session_id is not None and path == own_session


CurrentUser = Annotated[Principal, Depends(authenticate)]


def may(registries: Registries, who: Principal, entity: str, method: str) -> bool:
    held = who.privileges
    return any(alt <= held for alt in registries.required(entity, method))


def privileged(entity: str) -> Any:
    """A dependency: the caller, once the privilege registry lets them do this to ``entity``.

    ``ConfigureSelf`` alone is never enough here: routes where it is (own account, own session)
    check that themselves with :func:`may_self`.
    """

    async def check(request: Request) -> Principal:
        who = _caller(request)
        regs: Registries = request.app.state.registries
        method = "GET" if request.method == "HEAD" else request.method
        alternatives = regs.required(entity, method)
        held = who.privileges
        if any(alt <= held and alt != frozenset({"ConfigureSelf"}) for alt in alternatives):
            return who
        if any(alt == frozenset({"ConfigureSelf"}) for alt in alternatives) and (
            "ConfigureSelf" in held
        ):
            request.scope["state"]["self_only"] = True
            return who
        raise error(403, "InsufficientPrivilege")

    return Depends(check)


def self_only(request: Request) -> bool:
    return bool(request.scope["state"].get("self_only", False))


# -- responses -----------------------------------------------------------------------------------
def etag_of(data: bytes) -> str:
    return '"' + hashlib.blake2b(data, digest_size=8).hexdigest() + '"'


def encode(payload: Wire | dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON. A schema object is serialised by pydantic directly: the same bytes
    as ``json.dumps`` of its :meth:`Wire.wire` dict with these separators (tests check it)."""
    if isinstance(payload, Wire):
        return payload.model_dump_json(by_alias=True, exclude_none=True).encode()
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _odata(payload: Wire | dict[str, Any]) -> tuple[Any, Any]:
    """A payload's ``@odata.type`` and ``@odata.id`` (None where it has none)."""
    if isinstance(payload, Wire):
        return getattr(payload, "odata_type", None), getattr(payload, "odata_id", None)
    return payload.get("@odata.type"), payload.get("@odata.id")


def reply(
    payload: Wire | dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    data = encode(payload)
    tag = etag_of(data)
    out = {"ETag": tag}
    odata_type, odata_id = _odata(payload)
    if isinstance(odata_type, str) and odata_id is not None:
        # The payload carries its ETag too, and the Link header names the schema that
        # describes it (the version in @odata.type); the ETag is of the payload without it.
        data = b'{"@odata.etag":' + json.dumps(tag).encode() + b"," + data[1:]
        out["Link"] = f"<{schema_uri(odata_type)}>; rel=describedby"
    if headers:
        out.update(headers)
    return Response(data, status_code=status, media_type=JSON, headers=out)


def schema_uri(odata_type: str) -> str:
    """``#ComputerSystem.v1_20_0.ComputerSystem`` -> the DMTF JSON schema it is an instance of."""
    parts = odata_type.lstrip("#").split(".")
    name = ".".join(parts[:-1]) if len(parts) > 2 else parts[0]
    return f"https://redfish.dmtf.org/schemas/v1/{name}.json"


def no_content() -> Response:
    return Response(status_code=204)


def check_if_match(request: Request, current: Wire) -> None:
    """412 unless If-Match (when sent) names the resource's current ETag."""
    wanted = request.headers.get("if-match")
    if wanted is None:
        return
    tag = etag_of(encode(current))
    tags = [t.strip().removeprefix("W/") for t in wanted.split(",")]
    if "*" not in tags and tag not in tags:
        raise error(412, "PreconditionFailed")


# -- request bodies -----------------------------------------------------------------------------
def _aliases(model: type[BaseModel]) -> dict[str, Any]:
    """Redfish name -> nested model (or None) for the fields a GET shows."""
    from bmc.redfish.schemas.common import pascal

    out: dict[str, Any] = {}
    for name, f in model.model_fields.items():
        alias = f.serialization_alias or pascal(name)
        inner = f.annotation
        nested = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
        out[alias] = nested
    return out


def _readable(shown: type[BaseModel] | None, path: Sequence[str]) -> bool:
    model: Any = shown
    for part in path:
        if model is None:
            return False
        fields = _aliases(model)
        if part not in fields:
            return False
        model = fields[part]
    return True


#: How deep a request body's objects and arrays may nest (Redfish bodies nest a few levels; a
#: thousand levels would exhaust the parser's recursion).
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"{}[]")


def json_depth(raw: bytes) -> int:
    """How deep ``raw``'s objects and arrays nest (brackets inside strings do not count)."""
    depth = deepest = 0
    for c in _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS):
        if c in b"{[":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _not_finite(value: str) -> float:
    raise ValueError(f"{value} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large")
    return value


def parse_json(raw: bytes | str) -> Any:
    """A request body's JSON, strictly: RFC 8259 numbers only (no NaN or Infinity, none that
    overflows), nested at most :data:`MAX_JSON_DEPTH` deep, valid UTF-8 with no lone
    surrogates. 400 MalformedJSON
    otherwise, before anything else reads it."""
    data = raw.encode() if isinstance(raw, str) else raw
    try:
        if json_depth(data) > MAX_JSON_DEPTH:
            raise ValueError("nested too deep")
        doc = json.loads(data, parse_constant=_not_finite, parse_float=_finite)
        if _SURROGATE_ESCAPE.search(data):
            # A lone surrogate (\\ud800) is well-formed JSON but no Unicode text: refused
            # here, not when a name holding one is echoed in UTF-8.
            json.dumps(doc, ensure_ascii=False).encode()
        return doc
    except (ValueError, RecursionError):  # UnicodeDecodeError and ...EncodeError are ValueErrors
        raise error(400, "MalformedJSON") from None


async def read_json(request: Request) -> Any:
    raw = await request.body()
    doc = parse_json(raw) if raw else None
    if not isinstance(doc, dict):
        raise error(400, "MalformedJSON") if doc is not None else error(400, "EmptyJSON")
    return doc


def validate_body(
    doc: dict[str, Any],
    model: type[B],
    *,
    shown: type[BaseModel] | None = None,
    action: str = "",
) -> B:
    """Validate a whole body, turning every problem into its Base message (all at once)."""
    if not doc and not action:
        raise error(400, "EmptyJSON")
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        messages = [_message(e, doc, shown, action) for e in exc.errors()]
        raise RedfishError(400, messages) from None


def _value_at(doc: Any, path: Sequence[Any]) -> Any:
    for part in path:
        try:
            doc = doc[part]
        except (KeyError, IndexError, TypeError):
            return None
    return doc


def _message(e: Any, doc: dict[str, Any], shown: type[BaseModel] | None, action: str) -> Msg:
    path = [str(p) for p in e["loc"]]
    prop = "/".join(path)
    kind = e["type"]
    raw = _value_at(doc, e["loc"])
    value = raw if isinstance(raw, str) else json.dumps(raw)
    if any("password" in p.lower() for p in path):
        value = "(hidden)"  # never echo a password, not even a wrong one
    if action:
        name = path[-1] if path else ""
        if kind == "extra_forbidden":
            return Msg("ActionParameterUnknown", (action, name), (prop,))
        if kind == "missing":
            return Msg("ActionParameterMissing", (action, name), (prop,))
        if kind in ("literal_error", "enum") and isinstance(raw, str):
            return Msg("ActionParameterValueNotInList", (value, name, action), (prop,))
        if kind.endswith(("_type", "_parsing", "literal_error", "enum")):
            return Msg("ActionParameterValueTypeError", (value, name, action), (prop,))
        return Msg("ActionParameterValueError", (name, action), (prop,))
    if kind == "extra_forbidden":
        key = "PropertyNotWritable" if _readable(shown, path) else "PropertyUnknown"
        return Msg(key, (prop,), (prop,))
    if kind == "missing":
        return Msg("PropertyMissing", (prop,), (prop,))
    if kind in ("literal_error", "enum") and isinstance(raw, str):
        return Msg("PropertyValueNotInList", (value, prop), (prop,))
    if kind.endswith(("_type", "_parsing", "literal_error", "enum")):
        return Msg("PropertyValueTypeError", (value, prop), (prop,))
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return Msg("PropertyValueOutOfRange", (value, prop), (prop,))
    if kind in ("string_too_long",):
        limit = str(e.get("ctx", {}).get("max_length", ""))
        return Msg("StringValueTooLong", (value, limit), (prop,))
    return Msg("PropertyValueIncorrect", (prop, value), (prop,))


def body_of(
    model: type[B], *, shown: type[BaseModel] | None = None, action: str = ""
) -> Callable[..., Any]:
    """A dependency that reads and validates the request body as ``model``."""

    async def parse(request: Request) -> B:
        doc = await read_json(request)
        # OData annotations (@odata.id, @odata.etag...) in a request are ignored; a PATCH of
        # nothing else asks for no change at all (Redfish spec, "PATCH (update)").
        data = {k: v for k, v in doc.items() if not k.startswith("@odata.")}
        if doc and not data and request.method == "PATCH":
            raise error(400, "NoOperation")
        return validate_body(data, model, shown=shown, action=action)

    return parse

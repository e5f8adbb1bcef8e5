"""/redfish/v1/EventService: settings, subscriptions, SubmitTestEvent and the SSE stream.

The delivery itself is :mod:`bmc.redfish.events`; a BMC's channel is ``bmc.events``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

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
from bmc.redfish.errors import Msg, RedfishError, error
from bmc.redfish.events import (
    MAX_SSE,
    MAX_SUBSCRIPTIONS,
    RESOURCE_TYPES,
    EventChannel,
    Filters,
    Notice,
    Subscription,
    destination_ok,
    parse_sse_filter,
    split_message_id,
)
from bmc.redfish.registries import Registries
from bmc.redfish.schemas.common import Action, Collection, Link, Status, collection_type
from bmc.redfish.schemas.events import (
    EventDestination,
    EventService,
    EventServiceActions,
    EventServicePatch,
    SubmitTestEventBody,
    SubscriptionIn,
    SubscriptionPatch,
)
from bmc.redfish.service import BmcService, Principal

V1 = "/redfish/v1"
BASE = f"{V1}/EventService"
SUBS = f"{BASE}/Subscriptions"
SSE = f"{BASE}/SSE"
SUBSCRIPTIONS = collection_type("EventDestinationCollection.EventDestinationCollection")
SSE_KEEPALIVE_S = 15.0

router = APIRouter(prefix=BASE)
Reader = Annotated[Principal, privileged("EventService")]
Creator = Annotated[Principal, privileged("EventDestinationCollection")]
SubReader = Annotated[Principal, privileged("EventDestination")]


def _channel(bmc: BmcService) -> EventChannel:
    channel: EventChannel | None = getattr(bmc, "events", None)
    if channel is None:
        raise error(404, "ResourceNotFound", "EventService", "EventService")
    return channel


def render_service(ch: EventChannel) -> EventService:
    return EventService(
        odata_id=BASE,
        id="EventService",
        name="Event Service",
        status=Status(state="Enabled" if ch.service_enabled else "Disabled", health="OK"),
        service_enabled=ch.service_enabled,
        delivery_retry_attempts=ch.retry_attempts,
        delivery_retry_interval_seconds=ch.retry_interval_s,
        registry_prefixes=sorted(ch.registries.messages),
        resource_types=list(RESOURCE_TYPES),
        server_sent_event_uri=SSE,
        subscriptions=Link(odata_id=SUBS),
        actions=EventServiceActions(
            submit_test_event=Action(target=f"{BASE}/Actions/EventService.SubmitTestEvent")
        ),
    )


@router.get("")
async def event_service(_: Reader, bmc: CurrentBmc) -> Response:
    return reply(render_service(_channel(bmc)))


@router.patch("")
async def patch_event_service(
    request: Request,
    _: Reader,
    bmc: CurrentBmc,
    patch: Annotated[EventServicePatch, Depends(body_of(EventServicePatch, shown=EventService))],
) -> Response:
    ch = _channel(bmc)
    check_if_match(request, render_service(ch))
    if patch.service_enabled is not None:
        ch.service_enabled = patch.service_enabled
    if patch.delivery_retry_attempts is not None:
        ch.retry_attempts = patch.delivery_retry_attempts
    if patch.delivery_retry_interval_seconds is not None:
        ch.retry_interval_s = patch.delivery_retry_interval_seconds
    return reply(render_service(ch))


@router.post("/Actions/EventService.SubmitTestEvent")
async def submit_test_event(
    _: Reader,
    bmc: CurrentBmc,
    regs: CurrentRegistries,
    body: Annotated[
        SubmitTestEventBody,
        Depends(body_of(SubmitTestEventBody, action="EventService.SubmitTestEvent")),
    ],
) -> Response:
    ch = _channel(bmc)
    action = "EventService.SubmitTestEvent"
    parts = split_message_id(body.message_id)
    if parts is None or parts[0] not in regs.messages:
        raise error(
            400,
            "ActionParameterValueFormatError",
            body.message_id,
            "MessageId",
            action,
            related=["MessageId"],
        )
    prefix, key = parts
    if key not in regs.messages[prefix].messages:
        raise error(
            400,
            "ActionParameterValueNotInList",
            body.message_id,
            "MessageId",
            action,
            related=["MessageId"],
        )
    origin = body.origin_of_condition or ""
    if origin and not origin.startswith(f"{V1}/"):
        raise error(
            400,
            "ActionParameterValueFormatError",
            origin,
            "OriginOfCondition",
            action,
            related=["OriginOfCondition"],
        )
    if not ch.service_enabled:
        raise error(503, "ServiceDisabled", BASE)
    notice = Notice(
        prefix,
        key,
        tuple(body.message_args or ()),
        origin,
        "EventService",
        bmc.now(),
        severity=body.message_severity,
        message=body.message,
        event_type=body.event_type or "Other",
    )
    ch.publish(notice, body.event_id)
    return no_content()


# -- subscriptions -----------------------------------------------------------------------------
def render_subscription(sub: Subscription) -> EventDestination:
    return EventDestination(
        odata_id=f"{SUBS}/{sub.id}",
        id=sub.id,
        name=f"Event Subscription {sub.id}",
        destination=sub.destination,
        context=sub.context,
        registry_prefixes=sub.registry_prefixes,
        message_ids=sub.message_ids,
        resource_types=sub.resource_types,
        origin_resources=[Link(odata_id=o) for o in sub.origin_resources],
        subordinate_resources=sub.subordinate,
        include_origin_of_condition=sub.include_origin,
        delivery_retry_policy=sub.retry_policy,
        status=Status(state="Enabled", health="OK" if not sub.inbox.dropped else "Warning"),
    )


def _check_filters(body: SubscriptionIn, regs: Registries) -> list[Msg]:
    """Every problem with a subscription request, as Base messages (empty when fine)."""
    problems: list[Msg] = []
    if not destination_ok(body.destination):
        problems.append(
            Msg("PropertyValueFormatError", (body.destination, "Destination"), ("Destination",))
        )
    for i, prefix in enumerate(body.registry_prefixes or ()):
        if prefix not in regs.messages:
            prop = f"RegistryPrefixes/{i}"
            problems.append(Msg("PropertyValueNotInList", (prefix, prop), (prop,)))
    for i, mid in enumerate(body.message_ids or ()):
        parts = split_message_id(mid)
        prop = f"MessageIds/{i}"
        if parts is None:
            problems.append(Msg("PropertyValueFormatError", (mid, prop), (prop,)))
        elif parts[0] not in regs.messages or parts[1] not in regs.messages[parts[0]].messages:
            problems.append(Msg("PropertyValueNotInList", (mid, prop), (prop,)))
    for i, rtype in enumerate(body.resource_types or ()):
        if rtype not in RESOURCE_TYPES:
            prop = f"ResourceTypes/{i}"
            problems.append(Msg("PropertyValueNotInList", (rtype, prop), (prop,)))
    for i, link in enumerate(body.origin_resources or ()):
        if not link.odata_id.startswith(f"{V1}/") or any(c.isspace() for c in link.odata_id):
            prop = f"OriginResources/{i}"
            problems.append(Msg("PropertyValueFormatError", (link.odata_id, prop), (prop,)))
    for i, headers in enumerate(body.http_headers or ()):
        if any(not k or "\n" in k + v or "\r" in k + v for k, v in headers.items()):
            prop = f"HttpHeaders/{i}"
            problems.append(Msg("PropertyValueFormatError", ("(hidden)", prop), (prop,)))
    return problems


@router.get("/Subscriptions")
async def subscriptions(_: SubReader, bmc: CurrentBmc) -> Response:
    ch = _channel(bmc)
    uris = [f"{SUBS}/{sid}" for sid in ch.subscriptions]
    return reply(Collection.of(SUBSCRIPTIONS, SUBS, "Event Subscriptions", uris))


@router.post("/Subscriptions")
async def create_subscription(
    who: Creator,
    bmc: CurrentBmc,
    regs: CurrentRegistries,
    body: Annotated[SubscriptionIn, Depends(body_of(SubscriptionIn, shown=EventDestination))],
) -> Response:
    ch = _channel(bmc)
    problems = _check_filters(body, regs)
    if problems:
        raise RedfishError(400, problems)
    if len(ch.subscriptions) >= MAX_SUBSCRIPTIONS:
        raise error(409, "EventSubscriptionLimitExceeded")
    ids = [split_message_id(m) for m in body.message_ids or ()]
    origins = [link.odata_id for link in body.origin_resources or ()]
    headers: dict[str, str] = {}
    for h in body.http_headers or ():
        headers.update(h)
    sub = ch.add(
        Subscription(
            id="",
            destination=body.destination,
            context=body.context,
            filters=Filters(
                registry_prefixes=frozenset(body.registry_prefixes or ()),
                message_ids=frozenset(p for p in ids if p is not None),
                resource_types=frozenset(body.resource_types or ()),
                origins=tuple(origins),
                subordinate=body.subordinate_resources,
            ),
            registry_prefixes=list(body.registry_prefixes or ()),
            message_ids=list(body.message_ids or ()),
            resource_types=list(body.resource_types or ()),
            origin_resources=origins,
            subordinate=body.subordinate_resources,
            include_origin=body.include_origin_of_condition,
            retry_policy=body.delivery_retry_policy,
            owner=who.username,
            http_headers=headers,
        )
    )
    bmc.log_action("subscription.created", who, id=sub.id)
    return reply(render_subscription(sub), status=201, headers={"Location": f"{SUBS}/{sub.id}"})


def _subscription(
    ch: EventChannel, sub_id: str, who: Principal | None = None, request: Request | None = None
) -> Subscription:
    sub = ch.subscriptions.get(sub_id)
    if sub is None:
        raise error(404, "ResourceNotFound", "EventDestination", sub_id)
    if who is not None and request is not None and self_only(request) and sub.owner != who.username:
        raise error(403, "InsufficientPrivilege")
    return sub


@router.get("/Subscriptions/{sub_id}")
async def subscription(sub_id: str, _: SubReader, bmc: CurrentBmc) -> Response:
    return reply(render_subscription(_subscription(_channel(bmc), sub_id)))


@router.patch("/Subscriptions/{sub_id}")
async def patch_subscription(
    sub_id: str,
    request: Request,
    who: SubReader,
    bmc: CurrentBmc,
    patch: Annotated[
        SubscriptionPatch, Depends(body_of(SubscriptionPatch, shown=EventDestination))
    ],
) -> Response:
    sub = _subscription(_channel(bmc), sub_id, who, request)
    check_if_match(request, render_subscription(sub))
    if patch.context is not None:
        sub.context = patch.context
    if patch.delivery_retry_policy is not None:
        sub.retry_policy = patch.delivery_retry_policy
    return reply(render_subscription(sub))


@router.delete("/Subscriptions/{sub_id}")
async def delete_subscription(
    sub_id: str, request: Request, who: SubReader, bmc: CurrentBmc
) -> Response:
    ch = _channel(bmc)
    _subscription(ch, sub_id, who, request)
    ch.remove(sub_id)
    bmc.log_action("subscription.deleted", who, id=sub_id)
    return no_content()


# -- Server-Sent Events ------------------------------------------------------------------------
@router.get("/SSE")
async def sse(request: Request, _: Reader, bmc: CurrentBmc) -> Response:
    ch = _channel(bmc)
    text = request.query_params.get("$filter")
    filters = Filters()
    if text is not None:
        try:
            filters = parse_sse_filter(text)
        except ValueError:
            raise error(400, "QueryParameterValueFormatError", text, "$filter") from None
    if len(ch.listeners) >= MAX_SSE:
        raise error(409, "EventSubscriptionLimitExceeded")
    listener = ch.listen(filters)

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b": scaleunit event stream\n\n"
            while not listener.inbox.closed:
                batch = await listener.inbox.take(1, timeout=SSE_KEEPALIVE_S)
                if not batch:
                    yield b": keep-alive\n\n"
                    continue
                record = batch[0]
                data = ch.payload(batch, "")
                yield b"id: " + record.wire.event_id.encode() + b"\ndata: " + data + b"\n\n"
        except asyncio.CancelledError:
            raise
        finally:
            ch.unlisten(listener)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

"""EventService, its subscriptions (EventDestination) and the Event payloads it sends."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bmc.redfish.schemas.common import Action, Body, Link, Resource, Status, Wire, odata_type

RetryPolicy = Literal["TerminateAfterRetries", "RetryForever"]
RETRY_POLICIES: list[str] = list(RetryPolicy.__args__)  # type: ignore[attr-defined]


class SseFilterProperties(Wire):
    event_format_type: bool = False
    message_id: bool = True
    metric_report_definition: bool = False
    origin_resource: bool = True
    registry_prefix: bool = True
    resource_type: bool = True
    subordinate_resources: bool = False


class EventServiceActions(Wire):
    submit_test_event: Action = Field(serialization_alias="#EventService.SubmitTestEvent")


class EventService(Resource):
    odata_type: str = odata_type("EventService.v1_12_0.EventService")
    status: Status
    service_enabled: bool
    delivery_retry_attempts: int
    delivery_retry_interval_seconds: int
    event_format_types: list[str] = Field(default_factory=lambda: ["Event"])
    registry_prefixes: list[str]
    resource_types: list[str]
    include_origin_of_condition_supported: bool = True
    subordinate_resources_supported: bool = True
    server_sent_event_uri: str
    sse_filter_properties_supported: SseFilterProperties = Field(
        default_factory=SseFilterProperties, serialization_alias="SSEFilterPropertiesSupported"
    )
    subscriptions: Link
    actions: EventServiceActions


class EventServicePatch(Body):
    service_enabled: bool | None = None
    delivery_retry_attempts: int | None = Field(None, ge=0, le=10)
    delivery_retry_interval_seconds: int | None = Field(None, ge=1, le=3600)


class SubmitTestEventBody(Body):
    message_id: str = "ResourceEvent.1.4.TestMessage"
    message: str | None = Field(None, max_length=1024)
    message_args: list[str] | None = None
    message_severity: Literal["OK", "Warning", "Critical"] | None = None
    origin_of_condition: str | None = None
    event_id: str | None = Field(None, max_length=64)
    event_group_id: int | None = None
    event_timestamp: str | None = None
    event_type: (
        Literal["Other", "StatusChange", "ResourceUpdated", "ResourceAdded", "Alert"] | None
    ) = None
    severity: str | None = None


# -- subscriptions ---------------------------------------------------------------------------------
class LinkIn(Body):
    odata_id: str = Field(validation_alias="@odata.id", min_length=1, max_length=512)


class SubscriptionIn(Body):
    destination: str = Field(max_length=2048)
    protocol: Literal["Redfish"]
    context: str = Field("", max_length=256)
    subscription_type: Literal["RedfishEvent"] = "RedfishEvent"
    event_format_type: Literal["Event"] = "Event"
    registry_prefixes: list[str] | None = Field(None, max_length=16)
    message_ids: list[str] | None = Field(None, max_length=64)
    resource_types: list[str] | None = Field(None, max_length=32)
    origin_resources: list[LinkIn] | None = Field(None, max_length=32)
    subordinate_resources: bool = False
    include_origin_of_condition: bool = True
    delivery_retry_policy: RetryPolicy = "TerminateAfterRetries"
    http_headers: list[dict[str, str]] | None = Field(None, max_length=16)
    #: Deprecated since Redfish 1.6; accepted and ignored (every event here is "Other").
    event_types: (
        list[
            Literal[
                "StatusChange",
                "ResourceUpdated",
                "ResourceAdded",
                "ResourceRemoved",
                "Alert",
                "Other",
            ]
        ]
        | None
    ) = None


class SubscriptionPatch(Body):
    context: str | None = Field(None, max_length=256)
    delivery_retry_policy: RetryPolicy | None = None


class EventDestination(Resource):
    odata_type: str = odata_type("EventDestination.v1_16_0.EventDestination")
    destination: str
    context: str
    protocol: str = "Redfish"
    subscription_type: str = "RedfishEvent"
    event_format_type: str = "Event"
    registry_prefixes: list[str]
    message_ids: list[str]
    resource_types: list[str]
    origin_resources: list[Link]
    subordinate_resources: bool
    include_origin_of_condition: bool
    delivery_retry_policy: str
    delivery_retry_policy_allowed: list[str] = Field(
        default_factory=lambda: RETRY_POLICIES,
        serialization_alias="DeliveryRetryPolicy@Redfish.AllowableValues",
    )
    http_headers: list[dict[str, str]] = Field(
        default_factory=list, serialization_alias="HttpHeaders"
    )
    status: Status


# -- what is sent ----------------------------------------------------------------------------------
class EventRecord(Wire):
    event_type: str = "Other"
    event_id: str
    event_timestamp: str
    message_id: str
    message: str
    message_args: list[str]
    message_severity: str
    origin_of_condition: Link | None = None
    log_entry: Link | None = None
    member_id: str = Field(serialization_alias="MemberId")


class EventPayload(Wire):
    odata_type: str = odata_type("Event.v1_13_0.Event")
    id: str
    name: str = "Event Array"
    context: str
    events: list[EventRecord]

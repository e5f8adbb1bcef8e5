"""Shared wire shapes: the base classes every Redfish payload is built from.

Field names are snake_case; the Redfish name is the serialization alias, made by
:func:`pascal` (``power_state`` -> ``PowerState``) or given explicitly where Redfish spells a word
its own way (``@odata.id``, ``MACAddress``, ``OperatingSpeedMhz``). Every resource type used is
recorded by :func:`odata_type`, so ``$metadata`` references exactly the schemas served.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import (
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
)

#: Words Redfish does not simply capitalise.
_WORDS = {
    "id": "Id",
    "uuid": "UUID",
    "mac": "MAC",
    "ipv4": "IPv4",
    "ipv6": "IPv6",
    "gib": "GiB",
    "mib": "MiB",
    "mhz": "MHz",
    "ipmi": "IPMI",
    "https": "HTTPS",
    "http": "HTTP",
    "ssh": "SSH",
    "snmp": "SNMP",
    "sel": "SEL",
    "fqdn": "FQDN",
}


def pascal(name: str) -> str:
    return "".join(_WORDS.get(part, part[:1].upper() + part[1:]) for part in name.split("_"))


#: Every ``#Namespace.Type`` a payload carries, for $metadata.
SCHEMA_TYPES: set[str] = set()


def collection_type(qualified: str) -> str:
    """Record a collection type for $metadata (at import time) and return it."""
    SCHEMA_TYPES.add(qualified)
    return qualified


def odata_type(qualified: str) -> Any:
    """A ``@odata.type`` field whose default is ``#qualified``; records the type for $metadata."""
    SCHEMA_TYPES.add(qualified)
    return Field(f"#{qualified}", serialization_alias="@odata.type")


class Wire(BaseModel):
    """A response shape: serialized by alias, None fields omitted."""

    model_config = ConfigDict(alias_generator=AliasGenerator(serialization_alias=pascal))

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class KeepsNulls(Wire):
    """A shape with properties the schema makes nullable (``Nullable="true"`` in its CSDL): those
    named in ``NULLS`` are sent as ``null`` when None ("no value now", as Redfish says it)
    instead of being omitted; its other None fields are still omitted."""

    NULLS: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _keep_nulls(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        for name in self.NULLS:
            if getattr(self, name) is None:
                alias = type(self).model_fields[name].serialization_alias or pascal(name)
                out[alias if info.by_alias else name] = None
        return out


class Body(BaseModel):
    """A request body: Redfish names in, unknown properties and coercions refused."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=pascal),
        extra="forbid",
        strict=True,
    )


class Link(Wire):
    odata_id: str = Field(serialization_alias="@odata.id")


class Resource(Wire):
    odata_type: str = Field(serialization_alias="@odata.type")
    odata_id: str = Field(serialization_alias="@odata.id")
    id: str
    name: str
    description: str | None = None


Health = Literal["OK", "Warning", "Critical"]
State = Literal["Enabled", "Disabled", "StandbyOffline", "Absent", "UnavailableOffline", "Starting"]


class Status(KeepsNulls):
    NULLS = ("health",)

    state: State = "Enabled"
    health: Health | None = "OK"
    health_rollup: Health | None = None


class Collection(Wire):
    odata_type: str = Field(serialization_alias="@odata.type")
    odata_id: str = Field(serialization_alias="@odata.id")
    name: str
    members: list[Link]
    members_count: int = Field(serialization_alias="Members@odata.count")

    @classmethod
    def of(cls, qualified: str, odata_id: str, name: str, uris: list[str]) -> Collection:
        SCHEMA_TYPES.add(qualified)
        return cls(
            odata_type=f"#{qualified}",
            odata_id=odata_id,
            name=name,
            members=[Link(odata_id=u) for u in uris],
            members_count=len(uris),
        )


class Action(Wire):
    target: str = Field(serialization_alias="target")
    action_info: str | None = Field(None, serialization_alias="@Redfish.ActionInfo")


class ResetAction(Wire):
    target: str = Field(serialization_alias="target")
    allowable_values: list[str] | None = Field(
        None, serialization_alias="ResetType@Redfish.AllowableValues"
    )
    action_info: str | None = Field(None, serialization_alias="@Redfish.ActionInfo")


# -- errors ----------------------------------------------------------------------------------------
class Message(Wire):
    odata_type: str = odata_type("Message.v1_3_0.Message")
    message_id: str
    message: str
    message_args: list[str] = Field(default_factory=list)
    message_severity: str
    resolution: str | None = None
    related_properties: list[str] | None = None


class ErrorDetail(Wire):
    code: str = Field(serialization_alias="code")
    message: str = Field(serialization_alias="message")
    extended_info: list[Message] = Field(serialization_alias="@Message.ExtendedInfo")


class ErrorBody(Wire):
    error: ErrorDetail = Field(serialization_alias="error")

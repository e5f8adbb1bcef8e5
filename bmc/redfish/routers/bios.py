"""/redfish/v1/Systems/{id}/Bios: current attributes, the settings object where PATCH stages
attributes for the next host reset, ``Bios.ResetBios``, and the BIOS AttributeRegistry
(``/redfish/v1/Systems/{id}/Bios/AttributeRegistry``, named by ``Bios.AttributeRegistry``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bmc.redfish.deps import CurrentBmc, body_of, check_if_match, no_content, privileged, reply
from bmc.redfish.errors import Msg, RedfishError, error
from bmc.redfish.schemas.bios import (
    AttributeEntry,
    AttributeRegistry,
    AttributeValue,
    Bios,
    BiosActions,
    BiosSettingsPatch,
    RegistryEntries,
    SettingsObject,
    SupportedSystem,
)
from bmc.redfish.schemas.common import Action, Link
from bmc.redfish.service import BmcService, Principal
from nodes.bios import AttributeType, BiosAttribute, BiosSettingsRejected, Problem
from nodes.node import Node

V1 = "/redfish/v1"
REGISTRY_ID = "BiosAttributeRegistry"
REGISTRY_VERSION = "1.0.0"
REGISTRY_NAME = f"{REGISTRY_ID}.{REGISTRY_VERSION}"
RESET_BIOS = "Bios.ResetBios"

router = APIRouter(prefix=f"{V1}/Systems/{{system_id}}/Bios")
Reader = Annotated[Principal, privileged("Bios")]
RegistryReader = Annotated[Principal, privileged("AttributeRegistry")]

_TYPES = {
    AttributeType.ENUMERATION: "Enumeration",
    AttributeType.INTEGER: "Integer",
    AttributeType.STRING: "String",
}


def _node(bmc: BmcService, system_id: str) -> Node:
    if system_id != bmc.node.name:
        raise error(404, "ResourceNotFound", "ComputerSystem", system_id)
    return bmc.node


def _uri(node: Node, *rest: str) -> str:
    return "/".join([V1, "Systems", node.name, "Bios", *rest])


def render_bios(node: Node) -> Bios:
    return Bios(
        odata_id=_uri(node),
        id="Bios",
        name="BIOS Configuration Current Settings",
        attribute_registry=REGISTRY_NAME,
        attributes=dict(node.bios.current),
        settings=SettingsObject(settings_object=Link(odata_id=_uri(node, "Settings"))),
        actions=BiosActions(reset_bios=Action(target=_uri(node, "Actions", RESET_BIOS))),
    )


def render_settings(node: Node) -> Bios:
    return Bios(
        odata_id=_uri(node, "Settings"),
        id="Settings",
        name="BIOS Configuration Pending Settings",
        attribute_registry=REGISTRY_NAME,
        attributes=dict(node.bios.pending),
    )


@router.get("")
async def bios(system_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    return reply(render_bios(_node(bmc, system_id)))


@router.get("/Settings")
async def settings(system_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    return reply(render_settings(_node(bmc, system_id)))


def _value(v: object) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _messages(exc: BiosSettingsRejected) -> list[Msg]:
    """The one table from BIOS setting problems to Base messages."""
    out = []
    for p in exc.problems:
        prop = f"Attributes/{p.name}"
        value = _value(p.value)
        key, args = {
            Problem.UNKNOWN: ("PropertyUnknown", (prop,)),
            Problem.READ_ONLY: ("PropertyNotWritable", (prop,)),
            Problem.WRONG_TYPE: ("PropertyValueTypeError", (value, prop)),
            Problem.NOT_IN_LIST: ("PropertyValueNotInList", (value, prop)),
            Problem.OUT_OF_RANGE: ("PropertyValueOutOfRange", (value, prop)),
            Problem.TOO_LONG: ("PropertyValueFormatError", (value, prop)),
        }[p.problem]
        out.append(Msg(key, args, (prop,)))
    return out


@router.patch("/Settings")
async def patch_settings(
    system_id: str,
    request: Request,
    who: Reader,
    bmc: CurrentBmc,
    patch: Annotated[BiosSettingsPatch, Depends(body_of(BiosSettingsPatch, shown=Bios))],
) -> Response:
    node = _node(bmc, system_id)
    check_if_match(request, render_settings(node))
    changes: dict[str, Any] = patch.attributes
    if not changes:
        raise error(400, "EmptyJSON")
    try:
        node.bios.stage(changes)
    except BiosSettingsRejected as exc:
        raise RedfishError(400, _messages(exc)) from None
    bmc.log_action("bios.staged", who, attributes=",".join(sorted(changes)))
    return reply(render_settings(node))


@router.post("/Actions/" + RESET_BIOS)
async def reset_bios(system_id: str, who: Reader, bmc: CurrentBmc) -> Response:
    node = _node(bmc, system_id)
    node.bios.reset_defaults()
    bmc.log_action("bios.reset-defaults", who)
    return no_content()


# -- the attribute registry -----------------------------------------------------------------------
def _entry(a: BiosAttribute) -> AttributeEntry:
    return AttributeEntry(
        attribute_name=a.name,
        display_name=a.display_name,
        help_text=a.help,
        type=_TYPES[a.kind],
        default_value=a.default,
        read_only=a.read_only,
        menu_path=f"./{a.menu}",
        value=[AttributeValue(value_name=v, value_display_name=v) for v in a.values] or None,
        lower_bound=a.lower,
        upper_bound=a.upper,
        max_length=a.max_length,
    )


@router.get("/AttributeRegistry")
async def attribute_registry(system_id: str, _: RegistryReader, bmc: CurrentBmc) -> Response:
    node = _node(bmc, system_id)
    return reply(
        AttributeRegistry(
            odata_id=_uri(node, "AttributeRegistry"),
            id=REGISTRY_NAME,
            name="BIOS Attribute Registry",
            owning_entity=node.spec.manufacturer,
            registry_version=REGISTRY_VERSION,
            supported_systems=[
                SupportedSystem(
                    product_name=node.spec.model,
                    system_id=node.spec.model,
                    firmware_version=node.firmware.get("bios", ""),
                )
            ],
            registry_entries=RegistryEntries(
                attributes=[_entry(a) for a in node.bios.registry.values()]
            ),
        )
    )

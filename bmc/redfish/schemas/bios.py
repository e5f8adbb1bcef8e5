"""Bios, its settings object and the small BIOS AttributeRegistry."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from bmc.redfish.schemas.common import Action, Body, Link, Resource, Wire, odata_type


class SettingsObject(Wire):
    odata_type: str = odata_type("Settings.v1_4_0.Settings")
    settings_object: Link
    supported_apply_times: list[str] = Field(default_factory=lambda: ["OnReset"])


class BiosActions(Wire):
    reset_bios: Action = Field(serialization_alias="#Bios.ResetBios")


class Bios(Resource):
    odata_type: str = odata_type("Bios.v1_2_3.Bios")
    attribute_registry: str
    attributes: dict[str, Any]
    settings: SettingsObject | None = Field(None, serialization_alias="@Redfish.Settings")
    actions: BiosActions | None = None


class ApplyTimeIn(Body):
    apply_time: Literal["OnReset"]


class BiosSettingsPatch(Body):
    attributes: dict[str, Any]
    settings_apply_time: ApplyTimeIn | None = Field(
        None, validation_alias="@Redfish.SettingsApplyTime"
    )


class AttributeValue(Wire):
    value_name: str
    value_display_name: str


class AttributeEntry(Wire):
    attribute_name: str
    display_name: str
    help_text: str
    type: str
    default_value: str | int | None = None
    read_only: bool
    reset_required: bool = True
    menu_path: str
    value: list[AttributeValue] | None = None
    lower_bound: int | None = None
    upper_bound: int | None = None
    max_length: int | None = None


class SupportedSystem(Wire):
    product_name: str
    system_id: str = Field(serialization_alias="SystemId")
    firmware_version: str


class RegistryEntries(Wire):
    attributes: list[AttributeEntry]


class AttributeRegistry(Resource):
    odata_type: str = odata_type("AttributeRegistry.v1_4_0.AttributeRegistry")
    language: str = "en"
    owning_entity: str
    registry_version: str
    supported_systems: list[SupportedSystem]
    registry_entries: RegistryEntries

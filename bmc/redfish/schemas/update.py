"""UpdateService, its FirmwareInventory, the SimpleUpdate action and the multipart push's
``UpdateParameters``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bmc.redfish.schemas.common import Body, Health, KeepsNulls, Link, Resource, Wire, odata_type

TransferProtocol = Literal["HTTP", "HTTPS"]
ApplyTime = Literal["Immediate", "OnReset"]
TRANSFER_PROTOCOLS: list[str] = list(TransferProtocol.__args__)  # type: ignore[attr-defined]
APPLY_TIMES: list[str] = list(ApplyTime.__args__)  # type: ignore[attr-defined]


class OperationApplyTimeSupport(Wire):
    odata_type: str = odata_type("Settings.v1_4_0.OperationApplyTimeSupport")
    supported_values: list[str] = Field(default_factory=lambda: list(APPLY_TIMES))


class SimpleUpdateAction(Wire):
    target: str = Field(serialization_alias="target")
    action_info: str = Field(serialization_alias="@Redfish.ActionInfo")
    transfer_protocols: list[str] = Field(
        default_factory=lambda: list(TRANSFER_PROTOCOLS),
        serialization_alias="TransferProtocol@Redfish.AllowableValues",
    )
    apply_time_support: OperationApplyTimeSupport = Field(
        default_factory=OperationApplyTimeSupport,
        serialization_alias="@Redfish.OperationApplyTimeSupport",
    )


class UpdateServiceActions(Wire):
    simple_update: SimpleUpdateAction = Field(serialization_alias="#UpdateService.SimpleUpdate")


class ServiceStatus(Wire):
    state: Literal["Enabled", "Updating"] = "Enabled"
    health: Health = "OK"


class UpdateService(Resource):
    odata_type: str = odata_type("UpdateService.v1_17_0.UpdateService")
    status: ServiceStatus = Field(default_factory=ServiceStatus)
    service_enabled: bool = True
    firmware_inventory: Link
    multipart_http_push_uri: str = Field(serialization_alias="MultipartHttpPushUri")
    max_image_size_bytes: int
    actions: UpdateServiceActions


class SoftwareStatus(Wire):
    #: "Updating" while an update job for this component is running or staged.
    state: Literal["Enabled", "Updating"] = "Enabled"
    health: Health = "OK"


class SoftwareInventory(Resource, KeepsNulls):
    NULLS = ("lowest_supported_version",)

    odata_type: str = odata_type("SoftwareInventory.v1_13_0.SoftwareInventory")
    status: SoftwareStatus
    version: str
    updateable: bool
    software_id: str
    manufacturer: str
    lowest_supported_version: str | None = None
    #: True when an installed image waits to be activated (BIOS until a host reset, ...).
    staged: bool | None = None
    reset_required_on_update: bool
    related_item: list[Link] = Field(default_factory=list)


class ActionParameter(Wire):
    name: str
    required: bool
    data_type: Literal["String", "StringArray"] = "String"
    allowable_values: list[str] | None = None


class ActionInfo(Resource):
    odata_type: str = odata_type("ActionInfo.v1_5_0.ActionInfo")
    parameters: list[ActionParameter]


# -- requests ------------------------------------------------------------------------------------
class SimpleUpdateBody(Body):
    image_uri: str = Field(validation_alias="ImageURI", min_length=1, max_length=2048)
    transfer_protocol: TransferProtocol | None = None
    targets: list[str] | None = Field(None, max_length=16)
    username: str | None = Field(None, max_length=256)
    password: str | None = Field(None, max_length=256)
    apply_time: ApplyTime = Field("Immediate", validation_alias="@Redfish.OperationApplyTime")


class UpdateParametersBody(Body):
    """The ``UpdateParameters`` JSON part of a multipart push."""

    targets: list[str] | None = Field(None, max_length=16)
    apply_time: ApplyTime = Field("Immediate", validation_alias="@Redfish.OperationApplyTime")

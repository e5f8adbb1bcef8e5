"""VirtualMedia: the BMC's virtual CD and USB drives."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bmc.redfish.schemas.common import (
    Action,
    Body,
    KeepsNulls,
    Resource,
    Status,
    Wire,
    odata_type,
)

TransferProtocol = Literal["CIFS", "FTP", "SFTP", "HTTP", "HTTPS", "NFS", "SCP", "TFTP", "OEM"]


class VirtualMediaActions(Wire):
    insert_media: Action = Field(serialization_alias="#VirtualMedia.InsertMedia")
    eject_media: Action = Field(serialization_alias="#VirtualMedia.EjectMedia")


class VirtualMedia(Resource, KeepsNulls):
    NULLS = ("image", "image_name", "transfer_protocol_type")

    odata_type: str = odata_type("VirtualMedia.v1_6_5.VirtualMedia")
    media_types: list[str]
    image: str | None = None
    image_name: str | None = None
    inserted: bool
    write_protected: bool
    connected_via: Literal["NotConnected", "URI"]
    transfer_protocol_type: str | None = None
    transfer_method: str = "Stream"
    status: Status
    actions: VirtualMediaActions


class InsertMediaBody(Body):
    image: str = Field(max_length=1024)
    inserted: bool = True
    write_protected: bool = True
    transfer_protocol_type: TransferProtocol | None = None
    transfer_method: Literal["Stream", "Upload"] | None = None
    user_name: str | None = Field(None, max_length=64)
    password: str | None = Field(None, max_length=64)


class VirtualMediaPatch(Body):
    image: str | None = Field(None, max_length=1024)
    inserted: bool | None = None
    write_protected: bool | None = None

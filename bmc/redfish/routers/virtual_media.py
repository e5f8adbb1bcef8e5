"""Virtual media, under the Manager (``Managers/bmc/VirtualMedia``) and, as DSP2046 2025.4
recommends for new clients, under the system (``Systems/{id}/VirtualMedia``): the same slots.

InsertMedia / EjectMedia actions and PATCH (Image, Inserted, WriteProtected). Booting from an
image: a boot override to ``Cd`` (``Usb``) boots from the inserted CD (USB) image.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bmc.redfish import mapping
from bmc.redfish.deps import CurrentBmc, body_of, check_if_match, no_content, privileged, reply
from bmc.redfish.errors import Context, Msg, RedfishError, error, from_model_error
from bmc.redfish.schemas.common import Action, Collection, Status, collection_type
from bmc.redfish.schemas.virtual_media import (
    InsertMediaBody,
    VirtualMedia,
    VirtualMediaActions,
    VirtualMediaPatch,
)
from bmc.redfish.service import BmcService, Principal
from nodes.errors import InvalidArgument, ModelError
from nodes.media import MediaKind, MediaSlot, check_image_uri

V1 = "/redfish/v1"
COLLECTION = collection_type("VirtualMediaCollection.VirtualMediaCollection")
INSERT = "VirtualMedia.InsertMedia"
EJECT = "VirtualMedia.EjectMedia"
_MEDIA_TYPES = {MediaKind.CD: ["CD", "DVD"], MediaKind.USB: ["USBStick"]}

router = APIRouter()
Reader = Annotated[Principal, privileged("VirtualMedia")]
CollectionReader = Annotated[Principal, privileged("VirtualMediaCollection")]


def _base(bmc: BmcService, owner: str, owner_id: str) -> str:
    if owner == "Managers" and owner_id == mapping.MANAGER_ID:
        return f"{V1}/Managers/{owner_id}/VirtualMedia"
    if owner == "Systems" and owner_id == bmc.node.name:
        return f"{V1}/Systems/{owner_id}/VirtualMedia"
    kind = "Manager" if owner == "Managers" else "ComputerSystem"
    raise error(404, "ResourceNotFound", kind, owner_id)


def _slot(bmc: BmcService, slot_id: str) -> MediaSlot:
    try:
        return bmc.node.media.slot(slot_id)
    except ModelError as exc:
        context = Context(resource_type="VirtualMedia", resource=slot_id)
        raise from_model_error(exc, context) from None


def render(base: str, slot: MediaSlot) -> VirtualMedia:
    uri = f"{base}/{slot.id}"
    return VirtualMedia(
        odata_id=uri,
        id=slot.id,
        name=f"Virtual {'CD' if slot.kind is MediaKind.CD else 'USB'}",
        media_types=_MEDIA_TYPES[slot.kind],
        image=slot.image or None,
        image_name=slot.image_name or None,
        inserted=slot.inserted,
        write_protected=slot.write_protected,
        connected_via="URI" if slot.attached else "NotConnected",
        transfer_protocol_type=slot.transfer_protocol or None,
        status=Status(state="Enabled", health="OK"),
        actions=VirtualMediaActions(
            insert_media=Action(target=f"{uri}/Actions/{INSERT}"),
            eject_media=Action(target=f"{uri}/Actions/{EJECT}"),
        ),
    )


_OWNER = "/redfish/v1/{owner}/{owner_id}/VirtualMedia"


@router.get(_OWNER)
async def collection(owner: str, owner_id: str, _: CollectionReader, bmc: CurrentBmc) -> Response:
    base = _base(bmc, owner, owner_id)
    uris = [f"{base}/{s.id}" for s in bmc.node.media.slots()]
    return reply(Collection.of(COLLECTION, base, "Virtual Media", uris))


@router.get(_OWNER + "/{slot_id}")
async def virtual_media(
    owner: str, owner_id: str, slot_id: str, _: Reader, bmc: CurrentBmc
) -> Response:
    return reply(render(_base(bmc, owner, owner_id), _slot(bmc, slot_id)))


@router.post(_OWNER + "/{slot_id}/Actions/" + INSERT)
async def insert_media(
    owner: str,
    owner_id: str,
    slot_id: str,
    who: Reader,
    bmc: CurrentBmc,
    body: Annotated[InsertMediaBody, Depends(body_of(InsertMediaBody, action=INSERT))],
) -> Response:
    _base(bmc, owner, owner_id)
    slot = _slot(bmc, slot_id)
    if body.transfer_method == "Upload":
        raise error(400, "ActionParameterNotSupported", "TransferMethod", INSERT)
    try:
        check_image_uri(body.image)
    except InvalidArgument:
        raise error(
            400, "ActionParameterValueFormatError", body.image, "Image", INSERT, related=["Image"]
        ) from None
    protocol = body.transfer_protocol_type
    try:
        bmc.node.media.insert(
            slot.id,
            body.image,
            inserted=body.inserted,
            write_protected=body.write_protected,
            transfer_protocol=protocol.lower() if protocol else None,
        )
    except ModelError as exc:
        context = Context(action=INSERT, parameter="TransferProtocolType", value=protocol or "")
        raise from_model_error(exc, context) from None
    bmc.log_action("media.inserted", who, slot=slot.id, image=body.image)
    return no_content()


@router.post(_OWNER + "/{slot_id}/Actions/" + EJECT)
async def eject_media(
    owner: str, owner_id: str, slot_id: str, who: Reader, bmc: CurrentBmc
) -> Response:
    _base(bmc, owner, owner_id)
    slot = _slot(bmc, slot_id)
    try:
        bmc.node.media.eject(slot.id)
    except ModelError as exc:
        raise from_model_error(exc, Context(action=EJECT)) from None
    bmc.log_action("media.ejected", who, slot=slot.id)
    return no_content()


@router.patch(_OWNER + "/{slot_id}")
async def patch_virtual_media(
    owner: str,
    owner_id: str,
    slot_id: str,
    request: Request,
    who: Reader,
    bmc: CurrentBmc,
    patch: Annotated[VirtualMediaPatch, Depends(body_of(VirtualMediaPatch, shown=VirtualMedia))],
) -> Response:
    base = _base(bmc, owner, owner_id)
    slot = _slot(bmc, slot_id)
    check_if_match(request, render(base, slot))
    media = bmc.node.media
    # Validate everything first, then apply: the slot is never left half-changed.
    image = patch.image
    if image is None and "image" in patch.model_fields_set:
        image = ""  # "Image": null ejects
    if image:
        try:
            check_image_uri(image)
        except InvalidArgument:
            raise error(
                400, "PropertyValueFormatError", image, "Image", related=["Image"]
            ) from None
        if slot.attached and image != slot.image:
            raise error(409, "ResourceInUse")
    will_attach = bool(image) or (image is None and slot.attached)
    if patch.inserted and not will_attach:
        raise RedfishError(
            400, [Msg("PropertyValueConflict", ("Inserted", "Image"), ("Inserted",))]
        )
    try:
        if image == "" and slot.attached:
            media.eject(slot.id)
        elif image and not slot.attached:
            media.insert(
                slot.id,
                image,
                inserted=True if patch.inserted is None else patch.inserted,
                write_protected=(
                    slot.write_protected if patch.write_protected is None else patch.write_protected
                ),
            )
        if will_attach and (patch.inserted is not None or patch.write_protected is not None):
            media.set_flags(slot.id, inserted=patch.inserted, write_protected=patch.write_protected)
    except ModelError as exc:
        raise from_model_error(exc, Context(parameter="Image")) from None
    bmc.log_action("media.patched", who, slot=slot.id)
    return reply(render(base, media.slot(slot.id)))

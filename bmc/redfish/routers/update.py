"""/redfish/v1/UpdateService: the firmware inventory, SimpleUpdate (the BMC pulls the image) and
the multipart push (``MultipartHttpPushUri``).

Both ways to update answer 202 with ``Location`` naming the task monitor (see
:mod:`bmc.redfish.routers.tasks`) and the Task. A malformed request (bad JSON, unknown or mistyped
parameters, an ImageURI that is no HTTP(S) URL) is a 400 and no task; an image the model refuses
(not an image, corrupt, another model or component, below the anti-rollback floor, a component
already being updated) or a target that is not in the inventory gets a task that ends in Exception
with the Update-registry message, and the model is unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException

from bmc.redfish.deps import (
    CurrentBmc,
    CurrentRegistries,
    body_of,
    parse_json,
    privileged,
    reply,
    validate_body,
)
from bmc.redfish.errors import error
from bmc.redfish.routers.tasks import CurrentTasks, monitor_reply
from bmc.redfish.schemas.common import Collection, Link, collection_type
from bmc.redfish.schemas.update import (
    TRANSFER_PROTOCOLS,
    ActionInfo,
    ActionParameter,
    SimpleUpdateAction,
    SimpleUpdateBody,
    SoftwareInventory,
    SoftwareStatus,
    UpdateParametersBody,
    UpdateService,
    UpdateServiceActions,
)
from bmc.redfish.service import Principal
from bmc.redfish.updates import MAX_IMAGE_BYTES, Note, TaskBook, UpdateTask, display_uri
from nodes.firmware import ApplyTime, JobState
from nodes.node import Node

V1 = "/redfish/v1"
BASE = f"{V1}/UpdateService"
INVENTORY = f"{BASE}/FirmwareInventory"
SIMPLE_UPDATE = "UpdateService.SimpleUpdate"
ACTION_INFO = f"{BASE}/SimpleUpdateActionInfo"
#: The multipart push URI (not a Redfish resource: POST only).
PUSH_URI = f"{BASE}/update-multipart"
PUSH = "MultipartHttpPushUri"
FIRMWARE = collection_type("SoftwareInventoryCollection.SoftwareInventoryCollection")

#: Request bodies larger than the app's default limit, by path (read by the ASGI front).
#: Multipart framing (boundaries, part headers, the UpdateParameters part) gets 64 KiB on top.
BODY_LIMITS = {PUSH_URI: MAX_IMAGE_BYTES + 64 * 1024}

_APPLY_TIME = {"Immediate": ApplyTime.IMMEDIATE, "OnReset": ApplyTime.ON_RESET}
#: Components whose new firmware runs only after a reset (the host's, the BMC's, an AC cycle).
_RESET_ON_UPDATE = {"bios", "bmc", "cpld"}

router = APIRouter(prefix=BASE)
Reader = Annotated[Principal, privileged("UpdateService")]
Updater = Annotated[Principal, privileged("UpdateService")]
InventoryReader = Annotated[Principal, privileged("SoftwareInventory")]
InfoReader = Annotated[Principal, privileged("ActionInfo")]


def inventory_uri(component: str) -> str:
    return f"{INVENTORY}/{component}"


@router.get("")
async def update_service(_: Reader) -> Response:
    return reply(
        UpdateService(
            odata_id=BASE,
            id="UpdateService",
            name="Update Service",
            firmware_inventory=Link(odata_id=INVENTORY),
            multipart_http_push_uri=PUSH_URI,
            max_image_size_bytes=MAX_IMAGE_BYTES,
            actions=UpdateServiceActions(
                simple_update=SimpleUpdateAction(
                    target=f"{BASE}/Actions/{SIMPLE_UPDATE}", action_info=ACTION_INFO
                )
            ),
        )
    )


@router.get("/FirmwareInventory")
async def firmware_inventory(_: InventoryReader, bmc: CurrentBmc) -> Response:
    uris = [inventory_uri(c) for c in bmc.node.firmware]
    return reply(Collection.of(FIRMWARE, INVENTORY, "Firmware Inventory", uris))


def _related(node: Node, component: str) -> Link:
    if component == "bios":
        return Link(odata_id=f"{V1}/Systems/{node.name}")
    if component == "bmc":
        return Link(odata_id=f"{V1}/Managers/bmc")
    return Link(odata_id=f"{V1}/Chassis/{node.name}")


@router.get("/FirmwareInventory/{component}")
async def firmware_component(component: str, _: InventoryReader, bmc: CurrentBmc) -> Response:
    node = bmc.node
    found = {c.id: c for c in node.firmware_inventory()}.get(component)
    if found is None:
        raise error(404, "ResourceNotFound", "SoftwareInventory", component)
    live = [j for j in node.update_jobs if j.component == component and not j.state.finished]
    staged = any(j.state is JobState.PENDING_ACTIVATION for j in live)
    return reply(
        SoftwareInventory(
            odata_id=inventory_uri(component),
            id=component,
            name=found.name,
            status=SoftwareStatus(state="Updating" if live else "Enabled"),
            version=found.version,
            updateable=found.updateable,
            software_id=f"{node.spec.model}:{component}",
            manufacturer=node.spec.manufacturer,
            lowest_supported_version=getattr(node.spec.firmware_minimum, component, None),
            staged=staged,
            reset_required_on_update=component in _RESET_ON_UPDATE,
            related_item=[_related(node, component)],
        )
    )


@router.get("/SimpleUpdateActionInfo")
async def simple_update_action_info(_: InfoReader, bmc: CurrentBmc) -> Response:
    return reply(
        ActionInfo(
            odata_id=ACTION_INFO,
            id="SimpleUpdateActionInfo",
            name="SimpleUpdate Action Info",
            parameters=[
                ActionParameter(name="ImageURI", required=True),
                ActionParameter(
                    name="TransferProtocol",
                    required=False,
                    allowable_values=list(TRANSFER_PROTOCOLS),
                ),
                ActionParameter(
                    name="Targets",
                    required=False,
                    data_type="StringArray",
                    allowable_values=[inventory_uri(c) for c in bmc.node.firmware],
                ),
                ActionParameter(name="Username", required=False),
                ActionParameter(name="Password", required=False),
            ],
        )
    )


def _components(node: Node, targets: list[str] | None) -> tuple[tuple[str, ...], list[str]]:
    """Target URIs -> component ids, and the targets that name no inventory member."""
    found: list[str] = []
    unknown: list[str] = []
    for uri in targets or ():
        component = uri.rstrip("/").removeprefix(INVENTORY + "/")
        if component in node.firmware and uri.startswith(INVENTORY + "/"):
            found.append(component)
        else:
            unknown.append(uri)
    return tuple(found), unknown


def _image_url(body: SimpleUpdateBody) -> str:
    """The URL to GET, from ImageURI and TransferProtocol (400 when they make no HTTP(S) URL)."""
    uri = body.image_uri
    proto = body.transfer_protocol
    scheme = urlsplit(uri).scheme.lower() if "://" in uri else ""
    if not scheme:
        if proto is None:
            raise error(400, "ActionParameterMissing", SIMPLE_UPDATE, "TransferProtocol")
        uri = f"{proto.lower()}://{uri}"
        scheme = proto.lower()
    elif scheme.upper() not in TRANSFER_PROTOCOLS:
        raise error(
            400,
            "ActionParameterValueNotInList",
            scheme.upper(),
            "TransferProtocol",
            SIMPLE_UPDATE,
            related=["ImageURI"],
        )
    elif proto is not None and proto.lower() != scheme:
        raise error(400, "ActionParameterValueConflict", "TransferProtocol", proto)
    try:
        host = urlsplit(uri).hostname
    except ValueError:
        host = None
    if not host:
        raise error(
            400, "ActionParameterValueFormatError", display_uri(uri), "ImageURI", SIMPLE_UPDATE
        )
    return uri


def _auth(body: SimpleUpdateBody, url: str) -> tuple[str, str] | None:
    if body.username is not None or body.password is not None:
        return (body.username or "", body.password or "")
    parts = urlsplit(url)
    if parts.username is not None:
        return (unquote(parts.username), unquote(parts.password or ""))
    return None


@router.post(f"/Actions/{SIMPLE_UPDATE}")
async def simple_update(
    who: Updater,
    bmc: CurrentBmc,
    book: CurrentTasks,
    regs: CurrentRegistries,
    body: Annotated[SimpleUpdateBody, Depends(body_of(SimpleUpdateBody, action=SIMPLE_UPDATE))],
) -> Response:
    url = _image_url(body)
    auth = _auth(body, url)
    image = display_uri(url)
    components, unknown = _components(bmc.node, body.targets)
    task = book.new(image, _APPLY_TIME[body.apply_time], components, pulled=True)
    bmc.log_action(
        "update.requested",
        who,
        task=task.id,
        image=image,
        targets=",".join(components) or "-",
        apply_time=body.apply_time,
    )
    if unknown:
        _refuse_targets(book, task, unknown)
    else:
        task.fetcher = asyncio.get_running_loop().create_task(
            book.pull(task, url, auth), name=f"redfish-pull-{bmc.name}-{task.id}"
        )
    return monitor_reply(bmc, book, task, regs, accepted=True)


def _refuse_targets(book: TaskBook, task: UpdateTask, unknown: list[str]) -> None:
    """Targets that name no inventory member: the task ends in Exception, nothing is fetched."""
    book.fail(
        task,
        [Note("Update", "NoTargetsDetermined", (task.image,))]
        + [Note("Base", "ResourceMissingAtURI", (uri,)) for uri in unknown],
    )


async def _push_parts(form: FormData) -> tuple[UpdateParametersBody, bytes, str]:
    """The UpdateParameters and the UpdateFile of a multipart push (400 when malformed)."""
    raw = form.get("UpdateParameters")
    upload = form.get("UpdateFile")
    if raw is None:
        raise error(400, "ActionParameterMissing", PUSH, "UpdateParameters")
    if upload is None:
        raise error(400, "ActionParameterMissing", PUSH, "UpdateFile")
    if not isinstance(upload, UploadFile):
        # A part without a filename is a text field: its bytes may have been decoded.
        raise error(400, "ActionParameterValueTypeError", "(text)", "UpdateFile", PUSH)
    if isinstance(raw, UploadFile):
        raw = (await raw.read()).decode("utf-8", errors="replace")
    doc = parse_json(raw)
    if not isinstance(doc, dict):
        raise error(400, "MalformedJSON")
    params = validate_body(doc, UpdateParametersBody, action=PUSH)
    data = await upload.read()
    name = upload.filename or "UpdateFile"
    return params, data, name


@router.post("/update-multipart")
async def multipart_push(
    request: Request,
    who: Updater,
    bmc: CurrentBmc,
    book: CurrentTasks,
    regs: CurrentRegistries,
) -> Response:
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise error(415, "UnrecognizedRequestBody")
    try:
        form = await request.form(max_files=1, max_fields=2, max_part_size=64 * 1024)
    except MultiPartException:
        raise error(400, "UnrecognizedRequestBody") from None
    try:
        params, data, name = await _push_parts(form)
    finally:
        await form.close()
    components, unknown = _components(bmc.node, params.targets)
    task = book.new(name, _APPLY_TIME[params.apply_time], components, pulled=False)
    bmc.log_action(
        "update.pushed",
        who,
        task=task.id,
        image=name,
        size=len(data),
        targets=",".join(components) or "-",
        apply_time=params.apply_time,
    )
    if unknown:
        _refuse_targets(book, task, unknown)
    else:
        book.start(task, data)
    return monitor_reply(bmc, book, task, regs, accepted=True)

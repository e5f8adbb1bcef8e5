"""/redfish, the ServiceRoot, the OData documents and the message registries (no auth needed
for the first four)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import Response

from bmc.redfish import metadata, query
from bmc.redfish.deps import JSON, CurrentBmc, CurrentRegistries, etag_of, privileged, reply
from bmc.redfish.errors import error
from bmc.redfish.schemas.common import Collection, Link, collection_type
from bmc.redfish.schemas.service import (
    ExpandQuery,
    MessageRegistryFile,
    ProtocolFeatures,
    RegistryLocation,
    RootLinks,
    ServiceRoot,
)
from bmc.redfish.service import Principal

V1 = "/redfish/v1"
REDFISH_VERSION = "1.22.0"

REGISTRY_FILES = collection_type("MessageRegistryFileCollection.MessageRegistryFileCollection")
collection_type("MessageRegistry.v1_7_0.MessageRegistry")  # the registry files themselves

router = APIRouter()

#: What bmc.redfish.query does for every GET (the front applies it).
FEATURES = ProtocolFeatures(
    select_query=True,
    only_member_query=True,
    expand_query=ExpandQuery(
        expand_all=True, levels=True, links=True, no_links=True, max_levels=query.MAX_LEVELS
    ),
)


@router.get("/redfish")
async def versions() -> Response:
    return reply({"v1": f"{V1}/"})


@router.get(f"{V1}/")
@router.get(V1, include_in_schema=False)
async def service_root(bmc: CurrentBmc) -> Response:
    node = bmc.node
    return reply(
        ServiceRoot(
            odata_id=f"{V1}/",
            id="RootService",
            name="Root Service",
            redfish_version=REDFISH_VERSION,
            uuid=str(uuid.uuid5(node.guid, "redfish")),
            product=f"{node.spec.manufacturer} {node.spec.model} BMC",
            vendor=node.spec.manufacturer,
            systems=Link(odata_id=f"{V1}/Systems"),
            chassis=Link(odata_id=f"{V1}/Chassis"),
            managers=Link(odata_id=f"{V1}/Managers"),
            session_service=Link(odata_id=f"{V1}/SessionService"),
            account_service=Link(odata_id=f"{V1}/AccountService"),
            registries=Link(odata_id=f"{V1}/Registries"),
            event_service=Link(odata_id=f"{V1}/EventService"),
            update_service=Link(odata_id=f"{V1}/UpdateService"),
            tasks=Link(odata_id=f"{V1}/TaskService"),
            links=RootLinks(sessions=Link(odata_id=f"{V1}/SessionService/Sessions")),
            protocol_features_supported=FEATURES,
        )
    )


@router.get(f"{V1}/odata")
async def odata_service_document() -> Response:
    return reply(metadata.service_document(V1))


@router.get(f"{V1}/$metadata")
async def csdl_metadata() -> Response:
    return Response(
        metadata.document(), media_type="application/xml", headers={"OData-Version": "4.0"}
    )


Reader = Annotated[Principal, privileged("MessageRegistryFile")]


@router.get(f"{V1}/Registries")
async def registry_files(_: Reader, regs: CurrentRegistries) -> Response:
    uris = [f"{V1}/Registries/{prefix}" for prefix in regs.messages]
    return reply(
        Collection.of(
            REGISTRY_FILES,
            f"{V1}/Registries",
            "Registry File Collection",
            uris,
        )
    )


@router.get(f"{V1}/Registries/{{prefix}}")
async def registry_file(prefix: str, _: Reader, regs: CurrentRegistries) -> Response:
    reg = regs.messages.get(prefix)
    if reg is None:
        raise error(404, "ResourceNotFound", "MessageRegistryFile", prefix)
    return reply(
        MessageRegistryFile(
            odata_id=f"{V1}/Registries/{prefix}",
            id=prefix,
            name=f"{prefix} Message Registry File",
            registry=f"{reg.prefix}.{reg.major_minor}",
            location=[
                RegistryLocation(
                    uri=f"{V1}/Registries/{prefix}/{reg.file_name}",
                    publication_uri=reg.publication_uri,
                )
            ],
        )
    )


@router.get(f"{V1}/Registries/{{prefix}}/{{file_name}}")
async def registry(prefix: str, file_name: str, _: Reader, regs: CurrentRegistries) -> Response:
    reg = regs.messages.get(prefix)
    if reg is None or reg.file_name != file_name:
        raise error(404, "ResourceNotFound", "MessageRegistry", file_name)
    return Response(reg.raw, media_type=JSON, headers={"ETag": etag_of(reg.raw)})

"""/redfish/v1/Systems: the host, as the node model sees it."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bmc.redfish import mapping
from bmc.redfish.deps import (
    CurrentBmc,
    body_of,
    check_if_match,
    no_content,
    privileged,
    reply,
)
from bmc.redfish.errors import Context, error, from_model_error
from bmc.redfish.schemas.common import Collection, Link, ResetAction, Status, collection_type
from bmc.redfish.schemas.systems import (
    RESET_TYPES,
    ActionInfo,
    Boot,
    ComputerSystem,
    ComputerSystemPatch,
    EthernetInterface,
    Memory,
    MemorySummary,
    Parameter,
    Processor,
    ProcessorSummary,
    ResetBody,
    Storage,
    SystemActions,
    SystemLinks,
)
from bmc.redfish.service import BmcService, Principal
from nodes.errors import ModelError
from nodes.events import Event
from nodes.faults import PartKind
from nodes.node import BootOverride, Node

V1 = "/redfish/v1"
SYSTEMS = collection_type("ComputerSystemCollection.ComputerSystemCollection")
PROCESSORS = collection_type("ProcessorCollection.ProcessorCollection")
MEMORY = collection_type("MemoryCollection.MemoryCollection")
STORAGE = collection_type("StorageCollection.StorageCollection")
NICS = collection_type("EthernetInterfaceCollection.EthernetInterfaceCollection")

router = APIRouter(prefix=f"{V1}/Systems")

Reader = Annotated[Principal, privileged("ComputerSystem")]
Writer = Reader


def _system(bmc: BmcService, system_id: str) -> Node:
    if system_id != bmc.node.name:
        raise error(404, "ResourceNotFound", "ComputerSystem", system_id)
    return bmc.node


def _uri(node: Node, *rest: str) -> str:
    return "/".join([V1, "Systems", node.name, *rest])


@router.get("")
async def systems(_: Reader, bmc: CurrentBmc) -> Response:
    return reply(
        Collection.of(SYSTEMS, f"{V1}/Systems", "Computer System Collection", [_uri(bmc.node)])
    )


#: Per node, the parts of its ComputerSystem that change only when the node is replaced or
#: POST maps memory out (identity, hardware, links), keyed by what they depend on: building
#: these nested schema objects was most of the time a GET took to render one.
_FIXED: weakref.WeakKeyDictionary[Node, tuple[object, dict[str, Any]]] = weakref.WeakKeyDictionary()


def _fixed_parts(node: Node) -> dict[str, Any]:
    key = (node.spec.serial, node.guid, node.mapped_out_dimms)
    cached = _FIXED.get(node)
    if cached is not None and cached[0] == key:
        return cached[1]
    spec = node.spec
    hw = spec.hardware
    parts = dict(
        odata_id=_uri(node),
        id=node.name,
        name=f"{spec.model} {node.name}",
        manufacturer=spec.manufacturer,
        model=spec.model,
        serial_number=spec.serial,
        part_number=spec.model,
        asset_tag=spec.asset_tag or None,
        uuid=str(node.guid),
        processor_summary=ProcessorSummary(
            count=hw.cpu.count,
            core_count=hw.cpu.count * hw.cpu.cores,
            logical_processor_count=hw.cpu.count * hw.cpu.threads,
            model=hw.cpu.model,
        ),
        memory_summary=MemorySummary(total_system_memory_gib=node.memory_gib()),
        processors=Link(odata_id=_uri(node, "Processors")),
        memory=Link(odata_id=_uri(node, "Memory")),
        storage=Link(odata_id=_uri(node, "Storage")),
        ethernet_interfaces=Link(odata_id=_uri(node, "EthernetInterfaces")),
        bios=Link(odata_id=_uri(node, "Bios")),
        virtual_media=Link(odata_id=_uri(node, "VirtualMedia")),
        links=SystemLinks(
            chassis=[Link(odata_id=f"{V1}/Chassis/{node.name}")],
            managed_by=[Link(odata_id=f"{V1}/Managers/{mapping.MANAGER_ID}")],
        ),
        actions=SystemActions(
            reset=ResetAction(
                target=_uri(node, "Actions", "ComputerSystem.Reset"),
                action_info=_uri(node, "ResetActionInfo"),
            )
        ),
    )
    _FIXED[node] = (key, parts)
    return parts


def render_system(node: Node) -> ComputerSystem:
    override = node.boot_override
    return ComputerSystem(
        **_fixed_parts(node),
        bios_version=node.firmware.get("bios", ""),
        power_state=mapping.power_state(node.state),
        status=Status(state=mapping.host_state(node.state), health=mapping.health(node)),
        boot=Boot(
            boot_source_override_target=mapping.BOOT_TARGET_OUT[override.target],
            boot_source_override_enabled=(
                "Disabled"
                if not override.active
                else ("Continuous" if override.persistent else "Once")
            ),
            boot_source_override_mode="UEFI" if override.uefi else "Legacy",
        ),
    )


@router.get("/{system_id}")
async def system(system_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    return reply(render_system(_system(bmc, system_id)))


@router.patch("/{system_id}")
async def patch_system(
    system_id: str,
    request: Request,
    _: Writer,
    bmc: CurrentBmc,
    patch: Annotated[
        ComputerSystemPatch, Depends(body_of(ComputerSystemPatch, shown=ComputerSystem))
    ],
) -> Response:
    node = _system(bmc, system_id)
    check_if_match(request, render_system(node))
    # Validate everything first, then apply: the model is never left half-changed.
    new_override: BootOverride | None = None
    if patch.boot is not None:
        new_override = mapping.boot_override(node.boot_override, patch.boot)
    if new_override is not None and new_override != node.boot_override:
        try:
            node.set_boot_override(
                new_override.target, persistent=new_override.persistent, uefi=new_override.uefi
            )
        except ModelError as exc:
            raise from_model_error(exc, Context(parameter="Boot")) from None
    return reply(render_system(node))


RESETS: dict[str, Callable[[BmcService, Node], list[Event]]] = {
    "On": lambda b, n: n.power_on(),
    "ForceOff": lambda b, n: n.power_off(),
    "GracefulShutdown": lambda b, n: n.graceful_shutdown(),
    "GracefulRestart": lambda b, n: n.graceful_restart(),
    "ForceRestart": lambda b, n: n.hard_reset(),
    "PowerCycle": lambda b, n: n.power_cycle(),
    "Nmi": lambda b, n: n.diag_interrupt(),
}
assert set(RESETS) == set(RESET_TYPES)


@router.post("/{system_id}/Actions/ComputerSystem.Reset")
async def reset(
    system_id: str,
    who: Writer,
    bmc: CurrentBmc,
    body: Annotated[ResetBody, Depends(body_of(ResetBody, action="ComputerSystem.Reset"))],
) -> Response:
    node = _system(bmc, system_id)
    try:
        RESETS[body.reset_type](bmc, node)
    except ModelError as exc:
        raise from_model_error(
            exc, Context(resource=_uri(node), action="ComputerSystem.Reset", parameter="ResetType")
        ) from None
    bmc.log_action("system.reset", who, reset_type=body.reset_type)
    return no_content()


@router.get("/{system_id}/ResetActionInfo")
async def reset_action_info(system_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _system(bmc, system_id)
    return reply(
        ActionInfo(
            odata_id=_uri(node, "ResetActionInfo"),
            id="ResetActionInfo",
            name="Reset Action Info",
            parameters=[Parameter(name="ResetType", required=True, allowable_values=RESET_TYPES)],
        )
    )


# -- inventory ----------------------------------------------------------------------------------
@router.get("/{system_id}/Processors")
async def processors(system_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _system(bmc, system_id)
    uris = [_uri(node, "Processors", f"CPU{i}") for i in range(1, node.spec.hardware.cpu.count + 1)]
    return reply(Collection.of(PROCESSORS, _uri(node, "Processors"), "Processors", uris))


@router.get("/{system_id}/Processors/{cpu_id}")
async def processor(system_id: str, cpu_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _system(bmc, system_id)
    cpu = node.spec.hardware.cpu
    ids = [f"CPU{i}" for i in range(1, cpu.count + 1)]
    if cpu_id not in ids:
        raise error(404, "ResourceNotFound", "Processor", cpu_id)
    return reply(
        Processor(
            odata_id=_uri(node, "Processors", cpu_id),
            id=cpu_id,
            name=f"Processor {cpu_id}",
            socket=cpu_id,
            manufacturer="Intel(R) Corporation" if "Intel" in cpu.model else "AMD",
            model=cpu.model,
            total_cores=cpu.cores,
            total_threads=cpu.threads,
            max_speed_mhz=cpu.speed_mhz,
            status=Status(state="Enabled", health="OK"),
        )
    )


@router.get("/{system_id}/Memory")
async def memory_collection(system_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _system(bmc, system_id)
    uris = [_uri(node, "Memory", d.slot) for d in node.spec.hardware.dimms]
    return reply(Collection.of(MEMORY, _uri(node, "Memory"), "Memory", uris))


@router.get("/{system_id}/Memory/{slot}")
async def memory(system_id: str, slot: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _system(bmc, system_id)
    dimm = next((d for d in node.spec.hardware.dimms if d.slot == slot), None)
    if dimm is None:
        raise error(404, "ResourceNotFound", "Memory", slot)
    return reply(
        Memory(
            odata_id=_uri(node, "Memory", slot),
            id=slot,
            name=f"DIMM {slot}",
            capacity_mib=dimm.size_gb * 1024,
            operating_speed_mhz=dimm.speed_mts,
            manufacturer=dimm.manufacturer,
            part_number=dimm.part_number,
            serial_number=node.part_serial(PartKind.DIMM, slot),
            # Left out of the memory map by the last POST: Disabled; failed since: Critical.
            status=Status(
                state="Disabled" if slot in node.mapped_out_dimms else "Enabled",
                health=mapping.part_health(node, PartKind.DIMM, slot),
            ),
        )
    )


@router.get("/{system_id}/Storage")
async def storage_collection(system_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _system(bmc, system_id)
    uris = [_uri(node, "Storage", sid) for sid in mapping.storages(node)]
    return reply(Collection.of(STORAGE, _uri(node, "Storage"), "Storage", uris))


@router.get("/{system_id}/Storage/{storage_id}")
async def storage(system_id: str, storage_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _system(bmc, system_id)
    disks = mapping.storages(node).get(storage_id)
    if disks is None:
        raise error(404, "ResourceNotFound", "Storage", storage_id)
    drives = [Link(odata_id=f"{V1}/Chassis/{node.name}/Drives/{d.slot}") for d in disks]
    return reply(
        Storage(
            odata_id=_uri(node, "Storage", storage_id),
            id=storage_id,
            name=mapping.STORAGE_NAMES[storage_id],
            status=Status(state="Enabled", health=mapping.storage_health(node, storage_id)),
            drives=drives,
            drives_count=len(drives),
        )
    )


@router.get("/{system_id}/EthernetInterfaces")
async def nics(system_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _system(bmc, system_id)
    uris = [_uri(node, "EthernetInterfaces", nic.name) for nic in node.spec.nics]
    return reply(Collection.of(NICS, _uri(node, "EthernetInterfaces"), "Ethernet Interfaces", uris))


@router.get("/{system_id}/EthernetInterfaces/{nic_id}")
async def nic(system_id: str, nic_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _system(bmc, system_id)
    spec = next((n for n in node.spec.nics if n.name == nic_id), None)
    if spec is None:
        raise error(404, "ResourceNotFound", "EthernetInterface", nic_id)
    on, up = node.chassis_on, node.nic_link_up(nic_id)
    return reply(
        EthernetInterface(
            odata_id=_uri(node, "EthernetInterfaces", nic_id),
            id=nic_id,
            name=f"{spec.model} {nic_id}",
            mac_address=spec.mac,
            permanent_mac_address=spec.mac,
            speed_mbps=spec.speed_gbps * 1000,
            link_status="LinkUp" if up else "LinkDown",
            # Powered without link (its switch port is down): the NIC works, its path does not.
            # A failed port is Critical whatever its cable does.
            status=Status(
                state="Enabled" if on else "StandbyOffline",
                health="Critical"
                if nic_id in node.failed_nics
                else "Warning"
                if on and not up
                else "OK",
            ),
        )
    )

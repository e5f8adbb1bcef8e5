"""/redfish/v1/Managers: the BMC itself, its network protocols and its SEL."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from bmc.redfish import mapping
from bmc.redfish.deps import (
    CurrentBmc,
    CurrentRegistries,
    body_of,
    no_content,
    privileged,
    reply,
)
from bmc.redfish.errors import Context, error, from_model_error
from bmc.redfish.registries import Registries
from bmc.redfish.schemas.common import (
    Action,
    Collection,
    Link,
    ResetAction,
    Status,
    collection_type,
)
from bmc.redfish.schemas.managers import (
    MANAGER_RESET_TYPES,
    LogEntry,
    LogService,
    LogServiceActions,
    Manager,
    ManagerActions,
    ManagerLinks,
    ManagerResetBody,
    NetworkProtocol,
    Protocol,
)
from bmc.redfish.schemas.systems import EthernetInterface, IPv4Address
from bmc.redfish.service import Principal
from nodes import sensors as sn
from nodes.errors import ModelError
from nodes.node import BmcResetKind
from nodes.sel import SelRecord

V1 = "/redfish/v1"
MID = mapping.MANAGER_ID
BASE = f"{V1}/Managers/{MID}"
MANAGERS = collection_type("ManagerCollection.ManagerCollection")
NICS = collection_type("EthernetInterfaceCollection.EthernetInterfaceCollection")
LOGS = collection_type("LogServiceCollection.LogServiceCollection")
ENTRIES = collection_type("LogEntryCollection.LogEntryCollection")
BMC_NIC = "eth0"

router = APIRouter(prefix=f"{V1}/Managers")
Reader = Annotated[Principal, privileged("Manager")]
LogReader = Annotated[Principal, privileged("LogService")]
EntryReader = Annotated[Principal, privileged("LogEntry")]


def _manager(manager_id: str) -> None:
    if manager_id != MID:
        raise error(404, "ResourceNotFound", "Manager", manager_id)


@router.get("")
async def managers(_: Reader) -> Response:
    return reply(Collection.of(MANAGERS, f"{V1}/Managers", "Manager Collection", [BASE]))


@router.get("/{manager_id}")
async def manager(manager_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    _manager(manager_id)
    node = bmc.node
    return reply(
        Manager(
            odata_id=BASE,
            id=MID,
            name="BMC",
            manufacturer=node.spec.manufacturer,
            model=f"{node.spec.model} BMC",
            uuid=str(node.guid),
            firmware_version=node.firmware["bmc"],
            date_time=mapping.iso_time(node.clock.now()),
            status=Status(state="Enabled", health="OK"),
            network_protocol=Link(odata_id=f"{BASE}/NetworkProtocol"),
            ethernet_interfaces=Link(odata_id=f"{BASE}/EthernetInterfaces"),
            log_services=Link(odata_id=f"{BASE}/LogServices"),
            virtual_media=Link(odata_id=f"{BASE}/VirtualMedia"),
            links=ManagerLinks(
                manager_for_servers=[Link(odata_id=f"{V1}/Systems/{node.name}")],
                manager_for_chassis=[Link(odata_id=f"{V1}/Chassis/{node.name}")],
            ),
            actions=ManagerActions(
                reset=ResetAction(
                    target=f"{BASE}/Actions/Manager.Reset",
                    allowable_values=MANAGER_RESET_TYPES,
                )
            ),
        )
    )


@router.post("/{manager_id}/Actions/Manager.Reset")
async def reset_manager(
    manager_id: str,
    who: Reader,
    bmc: CurrentBmc,
    body: Annotated[ManagerResetBody, Depends(body_of(ManagerResetBody, action="Manager.Reset"))],
) -> Response:
    _manager(manager_id)
    kind = BmcResetKind.COLD if body.reset_type == "ForceRestart" else BmcResetKind.WARM
    bmc.log_action("manager.reset", who, reset_type=body.reset_type)
    try:
        bmc.node.bmc_reset(kind)
    except ModelError as exc:
        raise from_model_error(
            exc, Context(action="Manager.Reset", parameter="ResetType")
        ) from None
    # The answer still goes out; the next request finds the BMC gone until it is back.
    return no_content()


@router.get("/{manager_id}/NetworkProtocol")
async def network_protocol(manager_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    _manager(manager_id)
    https = bmc.scheme == "https"
    return reply(
        NetworkProtocol(
            odata_id=f"{BASE}/NetworkProtocol",
            id="NetworkProtocol",
            name="Manager Network Protocol",
            host_name=f"{bmc.node.name}-bmc",
            status=Status(state="Enabled", health="OK"),
            http=Protocol(protocol_enabled=not https, port=None if https else bmc.port),
            https=Protocol(protocol_enabled=https, port=bmc.port if https else None),
            ipmi=Protocol(protocol_enabled=bmc.ipmi_port is not None, port=bmc.ipmi_port),
            ssh=Protocol(protocol_enabled=False),
            snmp=Protocol(protocol_enabled=False),
        )
    )


@router.get("/{manager_id}/EthernetInterfaces")
async def manager_nics(manager_id: str, _: Reader) -> Response:
    _manager(manager_id)
    base = f"{BASE}/EthernetInterfaces"
    return reply(Collection.of(NICS, base, "Manager Ethernet Interfaces", [f"{base}/{BMC_NIC}"]))


@router.get("/{manager_id}/EthernetInterfaces/{nic_id}")
async def manager_nic(manager_id: str, nic_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    _manager(manager_id)
    if nic_id != BMC_NIC:
        raise error(404, "ResourceNotFound", "EthernetInterface", nic_id)
    lan = bmc.node.lan
    return reply(
        EthernetInterface(
            odata_id=f"{BASE}/EthernetInterfaces/{BMC_NIC}",
            id=BMC_NIC,
            name="BMC dedicated port",
            mac_address=lan.mac,
            permanent_mac_address=bmc.node.spec.bmc.mac,
            speed_mbps=1000,
            link_status="LinkUp",  # it answered this request
            status=Status(state="Enabled", health="OK"),
            ipv4_addresses=[
                IPv4Address(address=lan.address, subnet_mask=lan.netmask, gateway=lan.gateway)
            ],
        )
    )


# -- the SEL -------------------------------------------------------------------------------------
@router.get("/{manager_id}/LogServices")
async def log_services(manager_id: str, _: LogReader) -> Response:
    _manager(manager_id)
    base = f"{BASE}/LogServices"
    return reply(Collection.of(LOGS, base, "Log Services", [f"{base}/SEL"]))


def _log(log_id: str) -> None:
    if log_id != "SEL":
        raise error(404, "ResourceNotFound", "LogService", log_id)


@router.get("/{manager_id}/LogServices/{log_id}")
async def log_service(manager_id: str, log_id: str, _: LogReader, bmc: CurrentBmc) -> Response:
    _manager(manager_id)
    _log(log_id)
    sel = bmc.node.sel
    uri = f"{BASE}/LogServices/SEL"
    return reply(
        LogService(
            odata_id=uri,
            id="SEL",
            name="System Event Log",
            max_number_of_records=sel.capacity,
            date_time=mapping.iso_time(sel.now()),
            status=Status(state="Enabled", health="Warning" if sel.overflow else "OK"),
            entries=Link(odata_id=f"{uri}/Entries"),
            actions=LogServiceActions(
                clear_log=Action(target=f"{uri}/Actions/LogService.ClearLog")
            ),
        )
    )


@router.post("/{manager_id}/LogServices/{log_id}/Actions/LogService.ClearLog")
async def clear_log(manager_id: str, log_id: str, who: LogReader, bmc: CurrentBmc) -> Response:
    _manager(manager_id)
    _log(log_id)
    bmc.node.sel.clear(sn.EVENT_LOG)
    bmc.log_action("sel.cleared", who)
    return no_content()


def render_entry(regs: Registries, record: SelRecord) -> LogEntry:
    """A SEL record as a LogEntry, its message from the service's ``ScaleunitSel`` registry."""
    registry = regs.messages[mapping.SEL_REGISTRY]
    key, args = mapping.sel_message(record)
    return LogEntry(
        odata_id=f"{BASE}/LogServices/SEL/Entries/{record.record_id}",
        id=str(record.record_id),
        name=f"SEL entry {record.record_id}",
        created=mapping.iso_time(record.timestamp),
        message=registry.text(key, args),
        message_id=registry.message_id(key),
        message_args=list(args) or None,
        severity=mapping.sel_severity(record),
        sensor_type=mapping.sel_sensor_type(record),
        sensor_number=record.sensor_number,
        entry_code="Assert" if record.asserted else "Deassert",
        generator_id=f"0x{record.generator_id:04X}",
    )


@router.get("/{manager_id}/LogServices/{log_id}/Entries")
async def entries(
    manager_id: str, log_id: str, _: EntryReader, bmc: CurrentBmc, regs: CurrentRegistries
) -> Response:
    _manager(manager_id)
    _log(log_id)
    base = f"{BASE}/LogServices/SEL/Entries"
    records = bmc.node.sel.records()
    doc = Collection.of(ENTRIES, base, "SEL Entries", [f"{base}/{r.record_id}" for r in records])
    # LogEntryCollection's Members are AutoExpand: each member is the whole entry.
    return reply({**doc.wire(), "Members": [render_entry(regs, r).wire() for r in records]})


@router.get("/{manager_id}/LogServices/{log_id}/Entries/{entry_id}")
async def entry(
    manager_id: str,
    log_id: str,
    entry_id: str,
    _: EntryReader,
    bmc: CurrentBmc,
    regs: CurrentRegistries,
) -> Response:
    _manager(manager_id)
    _log(log_id)
    try:
        record = bmc.node.sel.get(int(entry_id))
    except (ValueError, ModelError):
        raise error(404, "ResourceNotFound", "LogEntry", entry_id) from None
    return reply(render_entry(regs, record))

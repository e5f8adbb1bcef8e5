"""/redfish/v1/Chassis: the enclosure, its PSUs, fans, sensors and identify LED."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bmc.redfish import mapping
from bmc.redfish.deps import CurrentBmc, body_of, check_if_match, privileged, reply
from bmc.redfish.errors import Context, error, from_model_error
from bmc.redfish.schemas.chassis import (
    Chassis,
    ChassisLinks,
    ChassisPatch,
    Fan,
    FanSpeed,
    PowerSubsystem,
    PowerSupply,
    Sensor,
    ThermalSubsystem,
    Threshold,
    Thresholds,
)
from bmc.redfish.schemas.common import Collection, Link, Status, collection_type
from bmc.redfish.schemas.systems import Drive
from bmc.redfish.service import BmcService, Principal
from nodes.errors import ModelError
from nodes.faults import PartKind
from nodes.node import Node
from nodes.sel import SensorType
from nodes.sensors import Health, Reading

V1 = "/redfish/v1"
CHASSIS = collection_type("ChassisCollection.ChassisCollection")
PSUS = collection_type("PowerSupplyCollection.PowerSupplyCollection")
FANS = collection_type("FanCollection.FanCollection")
SENSORS = collection_type("SensorCollection.SensorCollection")
DRIVES = collection_type("DriveCollection.DriveCollection")

router = APIRouter(prefix=f"{V1}/Chassis")
Reader = Annotated[Principal, privileged("Chassis")]


def _chassis(bmc: BmcService, chassis_id: str) -> Node:
    if chassis_id != bmc.node.name:
        raise error(404, "ResourceNotFound", "Chassis", chassis_id)
    return bmc.node


def _uri(node: Node, *rest: str) -> str:
    return "/".join([V1, "Chassis", node.name, *rest])


@router.get("")
async def chassis_collection(_: Reader, bmc: CurrentBmc) -> Response:
    return reply(Collection.of(CHASSIS, f"{V1}/Chassis", "Chassis Collection", [_uri(bmc.node)]))


def render_chassis(node: Node) -> Chassis:
    spec = node.spec
    fru = node.fru
    return Chassis(
        odata_id=_uri(node),
        id=node.name,
        name=f"{spec.model} chassis",
        manufacturer=spec.manufacturer,
        model=spec.model,
        serial_number=fru.chassis_serial,
        part_number=fru.chassis_part,
        asset_tag=fru.asset_tag or None,
        power_state=mapping.power_state(node.state),
        location_indicator_active=node.identify_on,
        status=Status(state="Enabled", health=mapping.health(node)),
        power_subsystem=Link(odata_id=_uri(node, "PowerSubsystem")),
        thermal_subsystem=Link(odata_id=_uri(node, "ThermalSubsystem")),
        sensors=Link(odata_id=_uri(node, "Sensors")),
        drives=Link(odata_id=_uri(node, "Drives")),
        links=ChassisLinks(
            computer_systems=[Link(odata_id=f"{V1}/Systems/{node.name}")],
            managed_by=[Link(odata_id=f"{V1}/Managers/{mapping.MANAGER_ID}")],
        ),
    )


@router.get("/{chassis_id}")
async def chassis(chassis_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    return reply(render_chassis(_chassis(bmc, chassis_id)))


@router.patch("/{chassis_id}")
async def patch_chassis(
    chassis_id: str,
    request: Request,
    who: Reader,
    bmc: CurrentBmc,
    patch: Annotated[ChassisPatch, Depends(body_of(ChassisPatch, shown=Chassis))],
) -> Response:
    node = _chassis(bmc, chassis_id)
    check_if_match(request, render_chassis(node))
    if patch.location_indicator_active is not None:
        try:
            # On until told otherwise, as Redfish means it; off at once.
            node.identify(None if patch.location_indicator_active else 0)
        except ModelError as exc:
            raise from_model_error(exc, Context(parameter="LocationIndicatorActive")) from None
        bmc.log_action("identify", who, on=patch.location_indicator_active)
    return reply(render_chassis(node))


# -- power -----------------------------------------------------------------------------------------
@router.get("/{chassis_id}/PowerSubsystem")
async def power_subsystem(chassis_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _chassis(bmc, chassis_id)
    psus = node.spec.hardware.psus
    redundant = node.psu_redundant()
    return reply(
        PowerSubsystem(
            odata_id=_uri(node, "PowerSubsystem"),
            id="PowerSubsystem",
            name="Power Subsystem",
            capacity_watts=float(min(p.capacity_w for p in psus)),
            status=Status(
                state="Enabled",
                health="OK" if redundant else "Warning" if node.has_input_power() else "Critical",
            ),
            power_supplies=Link(odata_id=_uri(node, "PowerSubsystem", "PowerSupplies")),
        )
    )


@router.get("/{chassis_id}/PowerSubsystem/PowerSupplies")
async def power_supplies(chassis_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _chassis(bmc, chassis_id)
    base = _uri(node, "PowerSubsystem", "PowerSupplies")
    uris = [f"{base}/{p.name}" for p in node.spec.hardware.psus]
    return reply(Collection.of(PSUS, base, "Power Supplies", uris))


@router.get("/{chassis_id}/PowerSubsystem/PowerSupplies/{psu_id}")
async def power_supply(chassis_id: str, psu_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _chassis(bmc, chassis_id)
    psu = next((p for p in node.spec.hardware.psus if p.name == psu_id), None)
    if psu is None:
        raise error(404, "ResourceNotFound", "PowerSupply", psu_id)
    has_input = node.psu_input[psu.name]
    return reply(
        PowerSupply(
            odata_id=_uri(node, "PowerSubsystem", "PowerSupplies", psu_id),
            id=psu_id,
            name=f"Power Supply {psu_id}",
            model=psu.model,
            serial_number=node.part_serial(PartKind.PSU, psu_id),
            firmware_version=psu.firmware_version,
            power_capacity_watts=float(psu.capacity_w),
            line_input_status="Normal" if has_input else "LossOfInput",
            status=Status(
                state="Enabled",
                health="OK" if node.psu_delivering(psu.name) else "Critical",
            ),
        )
    )


# -- thermal ---------------------------------------------------------------------------------------
@router.get("/{chassis_id}/ThermalSubsystem")
async def thermal_subsystem(chassis_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _chassis(bmc, chassis_id)
    return reply(
        ThermalSubsystem(
            odata_id=_uri(node, "ThermalSubsystem"),
            id="ThermalSubsystem",
            name="Thermal Subsystem",
            status=Status(state="Enabled", health=_thermal_health(node)),
            fans=Link(odata_id=_uri(node, "ThermalSubsystem", "Fans")),
        )
    )


def _thermal_health(node: Node) -> Literal["OK", "Warning", "Critical"]:
    """A failed fan is Warning (the others make up for it); a temperature sets the rest."""
    temps = [r.health for r in node.readings() if r.sensor.sensor_type is SensorType.TEMPERATURE]
    worst = max(temps, default=Health.OK)
    if node.failed_fans:
        worst = max(worst, Health.WARNING)
    return mapping.HEALTH_OF[worst]


@router.get("/{chassis_id}/ThermalSubsystem/Fans")
async def fans(chassis_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _chassis(bmc, chassis_id)
    base = _uri(node, "ThermalSubsystem", "Fans")
    uris = [f"{base}/{f.name}" for f in node.spec.hardware.fans]
    return reply(Collection.of(FANS, base, "Fans", uris))


@router.get("/{chassis_id}/ThermalSubsystem/Fans/{fan_id}")
async def fan(chassis_id: str, fan_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _chassis(bmc, chassis_id)
    spec = next((f for f in node.spec.hardware.fans if f.name == fan_id), None)
    if spec is None:
        raise error(404, "ResourceNotFound", "Fan", fan_id)
    sensor = next(s for s in node.sensors if s.part == fan_id)
    rpm = node.read(sensor.number).value
    failed = fan_id in node.failed_fans
    return reply(
        Fan(
            odata_id=_uri(node, "ThermalSubsystem", "Fans", fan_id),
            id=fan_id,
            name=f"Fan {fan_id}",
            speed_percent=FanSpeed(
                reading=None if rpm is None else round(100.0 * rpm / spec.nominal_rpm, 1),
                speed_rpm=rpm,
            ),
            status=Status(
                state="Enabled" if node.chassis_on else "StandbyOffline",
                health="Critical" if failed else "OK",
            ),
        )
    )


# -- sensors ---------------------------------------------------------------------------------------
@router.get("/{chassis_id}/Sensors")
async def sensors(chassis_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _chassis(bmc, chassis_id)
    base = _uri(node, "Sensors")
    uris = [f"{base}/{sid}" for sid in mapping.redfish_sensors(node)]
    return reply(Collection.of(SENSORS, base, "Sensors", uris))


def _threshold(value: float | None) -> Threshold | None:
    return None if value is None else Threshold(reading=value)


def render_sensor(node: Node, sensor_id: str, reading: Reading) -> Sensor:
    s = reading.sensor
    kind, units = mapping.sensor_kind(s)
    t = s.thresholds
    available = reading.value is not None
    return Sensor(
        odata_id=_uri(node, "Sensors", sensor_id),
        id=sensor_id,
        name=s.name,
        reading_type=kind,
        reading=reading.value,
        reading_units=units,
        reading_range_min=s.range_min,
        reading_range_max=s.range_max,
        physical_context=mapping.physical_context(s),
        thresholds=Thresholds(
            lower_caution=_threshold(t.lower_non_critical),
            lower_critical=_threshold(t.lower_critical),
            lower_fatal=_threshold(t.lower_non_recoverable),
            upper_caution=_threshold(t.upper_non_critical),
            upper_critical=_threshold(t.upper_critical),
            upper_fatal=_threshold(t.upper_non_recoverable),
        ),
        status=Status(
            state="Enabled" if available else "UnavailableOffline",
            health=mapping.HEALTH_OF[reading.health] if available else None,
        ),
    )


@router.get("/{chassis_id}/Sensors/{sensor_id}")
async def sensor(chassis_id: str, sensor_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _chassis(bmc, chassis_id)
    s = mapping.redfish_sensors(node).get(sensor_id)
    if s is None:
        raise error(404, "ResourceNotFound", "Sensor", sensor_id)
    return reply(render_sensor(node, sensor_id, node.read(s.number)))


# -- drives (where DSP8010 now puts them: under the chassis) ---------------------------------
def drive_uri(node: Node, drive_id: str) -> str:
    return _uri(node, "Drives", drive_id)


@router.get("/{chassis_id}/Drives")
async def drives(chassis_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _chassis(bmc, chassis_id)
    uris = [drive_uri(node, d.slot) for disks in mapping.storages(node).values() for d in disks]
    return reply(Collection.of(DRIVES, _uri(node, "Drives"), "Drives", uris))


@router.get("/{chassis_id}/Drives/{drive_id}")
async def drive(chassis_id: str, drive_id: str, _: Reader, bmc: CurrentBmc) -> Response:
    node = _chassis(bmc, chassis_id)
    disks = [d for disks in mapping.storages(node).values() for d in disks]
    disk = next((d for d in disks if d.slot == drive_id), None)
    if disk is None:
        raise error(404, "ResourceNotFound", "Drive", drive_id)
    boot = {d.slot for d in node.spec.hardware.boot_drives}
    return reply(
        Drive(
            odata_id=drive_uri(node, drive_id),
            id=drive_id,
            name=f"Drive {drive_id}",
            model=disk.model,
            media_type="HDD" if disk.media == "hdd" else "SSD",
            protocol="NVMe" if disk.media == "nvme" else "SATA",
            capacity_bytes=disk.capacity_gb * 1_000_000_000,
            serial_number=node.part_serial(
                PartKind.BOOT_DRIVE if drive_id in boot else PartKind.DATA_DISK, drive_id
            ),
            status=Status(
                state="Enabled",
                health="Critical" if drive_id in node.failed_drives else "OK",
            ),
        )
    )

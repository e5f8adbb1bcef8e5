"""Chassis, its power and thermal subsystems, and its sensors."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bmc.redfish.schemas.common import Body, KeepsNulls, Link, Resource, Status, Wire, odata_type


class ChassisLinks(Wire):
    computer_systems: list[Link]
    managed_by: list[Link]


class Chassis(Resource, KeepsNulls):
    NULLS = ("sku", "asset_tag")

    odata_type: str = odata_type("Chassis.v1_28_0.Chassis")
    chassis_type: str = "RackMount"
    manufacturer: str
    model: str
    serial_number: str
    part_number: str
    sku: str | None = Field(None, serialization_alias="SKU")
    asset_tag: str | None = None
    power_state: Literal["On", "Off", "PoweringOn", "PoweringOff"]
    location_indicator_active: bool
    status: Status
    power_subsystem: Link
    thermal_subsystem: Link
    sensors: Link
    drives: Link
    links: ChassisLinks


class ChassisPatch(Body):
    location_indicator_active: bool | None = None


class PowerSubsystem(Resource):
    odata_type: str = odata_type("PowerSubsystem.v1_1_3.PowerSubsystem")
    capacity_watts: float
    status: Status
    power_supplies: Link


class PowerSupply(Resource):
    odata_type: str = odata_type("PowerSupply.v1_6_0.PowerSupply")
    model: str
    serial_number: str
    firmware_version: str
    power_supply_type: str = "AC"
    power_capacity_watts: float
    line_input_status: Literal["Normal", "LossOfInput"]
    status: Status


class ThermalSubsystem(Resource):
    odata_type: str = odata_type("ThermalSubsystem.v1_5_0.ThermalSubsystem")
    status: Status
    fans: Link


class FanSpeed(KeepsNulls):
    NULLS = ("reading", "speed_rpm")

    reading: float | None = None
    speed_rpm: float | None = Field(None, serialization_alias="SpeedRPM")


class Fan(Resource):
    odata_type: str = odata_type("Fan.v1_6_0.Fan")
    physical_context: str = "SystemBoard"
    speed_percent: FanSpeed
    status: Status


class Threshold(Wire):
    reading: float


class Thresholds(Wire):
    lower_caution: Threshold | None = None
    lower_critical: Threshold | None = None
    lower_fatal: Threshold | None = None
    upper_caution: Threshold | None = None
    upper_critical: Threshold | None = None
    upper_fatal: Threshold | None = None


class Sensor(Resource, KeepsNulls):
    NULLS = ("reading",)

    odata_type: str = odata_type("Sensor.v1_12_0.Sensor")
    reading_type: str
    reading: float | None = None
    reading_units: str
    reading_range_min: float | None = None
    reading_range_max: float | None = None
    physical_context: str
    thresholds: Thresholds
    status: Status

"""ComputerSystem and what hangs below it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bmc.redfish.schemas.common import (
    Body,
    KeepsNulls,
    Link,
    ResetAction,
    Resource,
    Status,
    Wire,
    odata_type,
)

BootSource = Literal["None", "Pxe", "Floppy", "Cd", "Usb", "Hdd", "BiosSetup"]
BootEnabled = Literal["Disabled", "Once", "Continuous"]
BootMode = Literal["UEFI", "Legacy"]
ResetType = Literal[
    "On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "PowerCycle", "Nmi"
]
RESET_TYPES: list[str] = list(ResetType.__args__)  # type: ignore[attr-defined]
BOOT_SOURCES: list[str] = list(BootSource.__args__)  # type: ignore[attr-defined]
BOOT_ENABLED: list[str] = list(BootEnabled.__args__)  # type: ignore[attr-defined]
BOOT_MODES: list[str] = list(BootMode.__args__)  # type: ignore[attr-defined]


class Boot(Wire):
    boot_source_override_target: BootSource
    boot_source_override_target_allowed: list[str] = Field(
        default_factory=lambda: BOOT_SOURCES,
        serialization_alias="BootSourceOverrideTarget@Redfish.AllowableValues",
    )
    boot_source_override_enabled: BootEnabled
    boot_source_override_enabled_allowed: list[str] = Field(
        default_factory=lambda: BOOT_ENABLED,
        serialization_alias="BootSourceOverrideEnabled@Redfish.AllowableValues",
    )
    boot_source_override_mode: BootMode
    boot_source_override_mode_allowed: list[str] = Field(
        default_factory=lambda: BOOT_MODES,
        serialization_alias="BootSourceOverrideMode@Redfish.AllowableValues",
    )


class ProcessorSummary(Wire):
    count: int
    core_count: int
    logical_processor_count: int
    model: str


class MemorySummary(Wire):
    total_system_memory_gib: float = Field(serialization_alias="TotalSystemMemoryGiB")


class SystemLinks(Wire):
    chassis: list[Link]
    managed_by: list[Link]


class SystemActions(Wire):
    reset: ResetAction = Field(serialization_alias="#ComputerSystem.Reset")


class ComputerSystem(Resource, KeepsNulls):
    NULLS = ("asset_tag",)

    odata_type: str = odata_type("ComputerSystem.v1_27_0.ComputerSystem")
    system_type: str = "Physical"
    manufacturer: str
    model: str
    serial_number: str
    part_number: str
    asset_tag: str | None = None
    uuid: str
    bios_version: str
    power_state: Literal["On", "Off", "PoweringOn", "PoweringOff"]
    status: Status
    boot: Boot
    processor_summary: ProcessorSummary
    memory_summary: MemorySummary
    processors: Link
    memory: Link
    storage: Link
    ethernet_interfaces: Link
    bios: Link | None = None
    virtual_media: Link | None = None
    links: SystemLinks
    actions: SystemActions


class BootPatch(Body):
    boot_source_override_target: BootSource | None = None
    boot_source_override_enabled: BootEnabled | None = None
    boot_source_override_mode: BootMode | None = None


class ComputerSystemPatch(Body):
    boot: BootPatch | None = None


class ResetBody(Body):
    reset_type: ResetType


class Parameter(Wire):
    name: str
    required: bool
    data_type: str = "String"
    allowable_values: list[str]


class ActionInfo(Resource):
    odata_type: str = odata_type("ActionInfo.v1_5_0.ActionInfo")
    parameters: list[Parameter]


class Processor(Resource):
    odata_type: str = odata_type("Processor.v1_22_0.Processor")
    processor_type: str = "CPU"
    socket: str
    manufacturer: str
    model: str
    total_cores: int
    total_threads: int
    max_speed_mhz: int = Field(serialization_alias="MaxSpeedMHz")
    status: Status


class Memory(Resource):
    odata_type: str = odata_type("Memory.v1_23_0.Memory")
    memory_device_type: str = "DDR4"
    memory_type: str = "DRAM"
    capacity_mib: int = Field(serialization_alias="CapacityMiB")
    operating_speed_mhz: int = Field(serialization_alias="OperatingSpeedMhz")
    manufacturer: str
    part_number: str
    serial_number: str
    status: Status


class Storage(Resource):
    odata_type: str = odata_type("Storage.v1_21_0.Storage")
    status: Status
    drives: list[Link]
    drives_count: int = Field(serialization_alias="Drives@odata.count")


class Drive(Resource):
    odata_type: str = odata_type("Drive.v1_22_0.Drive")
    model: str
    media_type: Literal["SSD", "HDD"]
    protocol: str
    capacity_bytes: int
    serial_number: str
    status: Status


class IPv4Address(Wire):
    address: str
    subnet_mask: str
    gateway: str
    address_origin: str = "Static"


class EthernetInterface(Resource):
    odata_type: str = odata_type("EthernetInterface.v1_12_4.EthernetInterface")
    mac_address: str = Field(serialization_alias="MACAddress")
    permanent_mac_address: str = Field(serialization_alias="PermanentMACAddress")
    speed_mbps: int
    link_status: Literal["LinkUp", "LinkDown", "NoLink"]
    interface_enabled: bool = True
    status: Status
    ipv4_addresses: list[IPv4Address] | None = None

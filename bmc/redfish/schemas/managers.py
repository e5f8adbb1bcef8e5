"""The BMC itself: Manager, its network protocols and the SEL."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bmc.redfish.schemas.common import (
    Action,
    Body,
    Link,
    ResetAction,
    Resource,
    Status,
    Wire,
    odata_type,
)

ManagerResetType = Literal["ForceRestart", "GracefulRestart"]
MANAGER_RESET_TYPES: list[str] = list(ManagerResetType.__args__)  # type: ignore[attr-defined]


class ManagerLinks(Wire):
    manager_for_servers: list[Link]
    manager_for_chassis: list[Link]


class ManagerActions(Wire):
    reset: ResetAction = Field(serialization_alias="#Manager.Reset")


class Manager(Resource):
    odata_type: str = odata_type("Manager.v1_24_0.Manager")
    manager_type: str = "BMC"
    manufacturer: str
    model: str
    uuid: str
    firmware_version: str
    power_state: str = "On"
    date_time: str
    date_time_local_offset: str = "+00:00"
    status: Status
    network_protocol: Link
    ethernet_interfaces: Link
    log_services: Link
    virtual_media: Link | None = None
    links: ManagerLinks
    actions: ManagerActions


class ManagerResetBody(Body):
    reset_type: ManagerResetType


class Protocol(Wire):
    protocol_enabled: bool
    port: int | None = None


class NetworkProtocol(Resource):
    odata_type: str = odata_type("ManagerNetworkProtocol.v1_12_0.ManagerNetworkProtocol")
    host_name: str
    status: Status
    http: Protocol
    https: Protocol
    ipmi: Protocol
    ssh: Protocol
    snmp: Protocol


class LogServiceActions(Wire):
    clear_log: Action = Field(serialization_alias="#LogService.ClearLog")


class LogService(Resource):
    odata_type: str = odata_type("LogService.v1_9_0.LogService")
    service_enabled: bool = True
    log_entry_type: str = "SEL"
    max_number_of_records: int
    over_write_policy: str = "NeverOverWrites"
    date_time: str
    date_time_local_offset: str = "+00:00"
    status: Status
    entries: Link
    actions: LogServiceActions


class LogEntry(Resource):
    odata_type: str = odata_type("LogEntry.v1_21_0.LogEntry")
    entry_type: str = "SEL"
    created: str
    message: str
    message_id: str
    message_args: list[str] | None = None
    severity: Literal["OK", "Warning", "Critical"]
    sensor_type: str | None = None
    sensor_number: int
    entry_code: Literal["Assert", "Deassert"]
    generator_id: str

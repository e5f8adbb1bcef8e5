"""The control plane's request and response bodies (pydantic; they make the OpenAPI document).

Requests forbid unknown keys, so a misspelt field is a 422 naming it rather than ignored. Every
time and rate a request takes is finite and bounded (``ge``/``le`` in the OpenAPI document):
NaN, Infinity and 1e308 are a 422 naming the field, never a time the rack cannot print.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emulator.chaos import MAX_MEAN_INTERVAL_S, MIN_MEAN_INTERVAL_S

#: The latest emulated time a request may name: 9999-12-31T23:59:59Z (what a date can show).
MAX_TIME = 253_402_300_799.0
#: The longest delay a request may ask for: ten years of emulated seconds.
MAX_DELAY_S = 10 * 365 * 86_400.0
#: A seed is at most 2^53-1, the largest integer every JSON reader keeps exact.
MAX_SEED = 2**53 - 1


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ErrorOut(BaseModel):
    error: str = Field(description="what was wrong, in one sentence; nothing was changed")
    detail: list[dict[str, Any]] | None = Field(None, description="pydantic's details (422)")


# -- status ------------------------------------------------------------------------------------
class NodeRow(BaseModel):
    name: str
    serial: str
    status: str = Field(description="operational status (running, maintenance, stopped, ...)")
    power_state: str = Field(description="the operator's power state (running, starting, ...)")
    host_state: str = Field(description="the host's own state (off, post, booting, running, ...)")
    bmc_reachable: bool
    health: str = Field(description="the worst sensor reading: ok, warning, critical, ...")
    vms: int
    operation: str | None = Field(None, description="a repair or add running on it")
    faults: list[str] = Field(description="active injected faults as kind or kind:part")


class SwitchRow(BaseModel):
    name: str
    role: str
    serial: str
    up: bool
    managed: bool = Field(description="its management address is reachable (SNMP answers)")
    faults: list[str]


class StorageRepairRow(BaseModel):
    node: str
    reason: str = Field(description="node returned, node repaired")
    expected_end: float


class AlertOut(BaseModel):
    id: str
    kind: str
    title: str
    severity: str
    component: str
    description: str
    remediation: str
    opened_at: float
    closed_at: float | None = None
    closed_by: str | None = None
    hardware_id: str = ""
    open: bool


class StatusOut(BaseModel):
    name: str
    now: float = Field(description="the rack's clock: Unix time at start, then emulated (--speed)")
    scale_unit: str = Field(description="running, stopped, expanding, ... requires-remediation")
    storage_at_risk: bool
    storage_repairs: list[StorageRepairRow] = Field(
        [], description="the storage repairs running (a node back in service is resynced)"
    )
    nodes: list[NodeRow]
    switches: list[SwitchRow]
    alerts: list[AlertOut] = Field(description="the open alerts")
    chaos: bool


# -- node actions ------------------------------------------------------------------------------
class ActionIn(_In):
    bmc_address: IPv4Address | None = Field(
        None, description="repair and add only: the node's BMC address (default: the known one)"
    )


class ActionOut(BaseModel):
    node: str
    action: str
    status: str = Field(description="the node's operational status after the action")
    power_state: str
    scale_unit: str
    events: list[dict[str, Any]] = Field(description="what the action caused at once")


# -- faults ------------------------------------------------------------------------------------
class FaultKindOut(BaseModel):
    name: str
    scope: str
    part: str | None
    summary: str


class FaultIn(_In):
    kind: str = Field(description="a name from GET /faults/catalogue, e.g. psu-both")
    device: str = Field(description="a node or switch of the rack")
    part: str | None = Field(None, description="the part the fault names (PSU1, Fan3, A1, ...)")
    at: float | None = Field(
        None,
        ge=0,
        le=MAX_TIME,
        allow_inf_nan=False,
        description="the rack's clock time to inject at (see now), Unix seconds",
    )
    in_s: float | None = Field(
        None,
        ge=0,
        le=MAX_DELAY_S,
        allow_inf_nan=False,
        description="or: emulated seconds from now (at most ten years)",
    )
    version: str | None = Field(None, min_length=1, description="firmware-drift only")

    @model_validator(mode="after")
    def _one_time(self) -> FaultIn:
        if self.at is not None and self.in_s is not None:
            raise ValueError("give at or in_s, not both")
        return self


class FaultOut(BaseModel):
    id: str
    kind: str
    device: str
    part: str
    state: str
    scheduled_for: float | None
    injected_at: float | None
    cleared_at: float | None
    cleared_by: str
    detail: str
    version: str = Field("", description="firmware-drift: the version the component is set to")


# -- replacement -------------------------------------------------------------------------------
class ReplaceNodeIn(_In):
    node: str
    serial: str | None = Field(None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")
    firmware: dict[str, str] | None = Field(
        None, description="factory versions to use instead of one behind the topology's"
    )
    cpu_model: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[\x20-\x7e]+$",
        description="its processors' model, when not the topology's (a wrong delivery)",
    )


class ReplacePartIn(_In):
    node: str
    kind: Literal["psu", "fan", "dimm", "data-disk", "boot-drive", "nic"]
    target: str = Field(min_length=1, description="the part: PSU1, Fan3, A1, Disk.1, nic1, ...")


class ReplaceSwitchIn(_In):
    switch: str
    serial: str | None = Field(None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")


class ReplaceOut(BaseModel):
    device: str
    serial: str | None = None
    username: str | None = Field(None, description="a new node's factory BMC user")
    password: str | None = Field(None, description="its factory password (the OEM's default)")
    firmware: dict[str, str] | None = None
    cpu_model: str | None = Field(None, description="a new node's processor model")
    events: list[dict[str, Any]]


# -- chaos -------------------------------------------------------------------------------------
class ChaosIn(_In):
    seed: int = Field(ge=0, le=MAX_SEED, description="0 to 2^53-1: the same seed, the same faults")
    mean_interval_s: float = Field(
        600.0,
        ge=MIN_MEAN_INTERVAL_S,
        le=MAX_MEAN_INTERVAL_S,
        allow_inf_nan=False,
        description="emulated seconds between faults on average (1 s to 30 days)",
    )
    kinds: list[str] | None = Field(None, description="fault kinds to draw from (default: all)")
    max_active: int = Field(1, ge=1, le=100)


class ChaosOut(BaseModel):
    running: bool
    seed: int | None = None
    mean_interval_s: float | None = None
    kinds: list[str] | None = None
    max_active: int | None = None
    started_at: float | None = None


# -- events ------------------------------------------------------------------------------------
class EventsOut(BaseModel):
    last_seq: int
    events: list[dict[str, Any]] = Field(
        description="{seq, type, device, at, ...fields}, oldest first"
    )

"""The operator's view: its settings, the rows it shows (snapshots) and the records it
keeps (internal state), shared by the modules behind the view."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from emulator.operator.alerts import AlertKind
from emulator.operator.states import (
    Action,
    NodeStatus,
    PowerState,
    VmState,
)
from nodes.clock import Timer

#: The documented error of Add and Repair (and here Start and Stop) when the BMC does not answer
#: or refuses the rack's credentials.
BMC_NO_ANSWER: Final = (
    "The BMC IP address {address} did not respond to a general query in the expected time"
)

SHUTDOWN_FALLBACK: Final = (
    "Drain the node, then Stop it (power off through its BMC); if Stop fails twice, power it "
    "off through the BMC's own interface."
)


class FabricSettings(BaseModel):
    """Durations in emulated seconds, and the workload set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    health_interval_s: float = Field(30.0, gt=0, le=3600)
    repair_s: float = Field(3 * 3600.0, gt=0, description="Repairing -> Running (about 3 h)")
    add_compute_s: float = Field(4 * 3600.0, gt=0, description="Expanding")
    add_storage_s: float = Field(8 * 3600.0, gt=0, description="Configuring Storage")
    storage_repair_s: float = Field(1800.0, gt=0, description="after a node returns")
    storage_repair_after_repair_s: float = Field(
        2 * 3600.0, gt=0, description="after a Repair (new data drives take hours)"
    )
    shutdown_timeout_s: float = Field(600.0, gt=0, description="the OS must be off by then")
    bmc_alert_after_s: float = Field(60.0, ge=0, description="a BMC silent this long is alerted")
    vms_per_node: int = Field(3, ge=0, le=1000)


# -- snapshots ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    name: str
    node: str | None
    state: VmState


@dataclass(frozen=True)
class StorageJob:
    id: str
    node: str
    reason: str
    started_at: float
    expected_end: float
    completed_at: float | None

    @property
    def running(self) -> bool:
        return self.completed_at is None


@dataclass(frozen=True)
class NodeView:
    """One row of the operator's node list."""

    name: str
    status: NodeStatus
    power_state: PowerState
    bmc_address: str
    model: str
    serial: str
    cores: int
    memory_gb: int
    in_storage_pool: bool
    vms: tuple[str, ...]
    operation: str | None


@dataclass(frozen=True)
class Verification:
    """After a repair: the storage repair finished and the node's alerts are closed."""

    node: str
    ok: bool
    problems: tuple[str, ...]


# -- internal state -----------------------------------------------------------------------------
class Refused(Exception):
    pass


class Failed(Exception):
    pass


@dataclass
class NodeRecord:
    name: str
    status: NodeStatus
    bmc_address: str
    in_pool: bool
    available: bool = False
    storage_away: bool = False
    after_repair: bool = False
    start_pending: bool = False
    shutdown_timer: Timer | None = None
    shown_status: NodeStatus = NodeStatus.RUNNING
    shown_power: PowerState = PowerState.STOPPED


@dataclass
class VmRecord:
    name: str
    #: Where it is first placed (spread evenly); elsewhere if that node is out at a health tick.
    home: str
    node: str | None = None
    state: VmState = VmState.PENDING


@dataclass
class Operation:
    action: Action
    node: str
    started_at: float
    ends_at: float
    timer: Timer | None
    #: For an add: "compute", "storage" or "failed".
    phase: str = "compute"


@dataclass
class StorageJobRecord:
    id: str
    node: str
    reason: str
    started_at: float
    ends_at: float
    timer: Timer | None = None
    completed_at: float | None = None


AlertKey = tuple[AlertKind, str, str]  # kind, component, hardware id
#: A BMC sensor of one piece of hardware: node, hardware id, IPMI sensor type, sensor number,
#: and the part the record names in its event data 3 (the DIMM of a memory record, else 0xFF).
SensorKey = tuple[str, str, int, int, int]


@dataclass
class Conditions:
    """What one health evaluation found: True (alert), False (clear), None (cannot tell)."""

    found: dict[tuple[AlertKind, str], tuple[bool | None, str]] = field(default_factory=dict)

    def set(self, kind: AlertKind, component: str, value: bool | None, hw: str = "") -> None:
        self.found[(kind, component)] = (value, hw)

"""What a switch is made of, as a topology file describes it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class SwitchRole(StrEnum):
    TOR = "tor"
    BMC = "bmc"


class SwitchSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    role: SwitchRole
    manufacturer: str = "Dell"
    model: str = "S5248F-ON"
    serial: str = Field(min_length=1, max_length=32)
    os_version: str = "10.6.1.1"
    ports: int = Field(56, ge=4, le=128, description="front-panel ports ethernet1/1/1..N")
    port_speed_gbps: int = Field(25, ge=1, le=800)

    def port_names(self) -> list[str]:
        return [port_name(i) for i in range(1, self.ports + 1)]


def port_name(index: int) -> str:
    """Front-panel port names, OS10 style."""
    return f"ethernet1/1/{index}"

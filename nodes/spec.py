"""What a node is made of: the typed description a topology file gives for each node.

These are frozen pydantic models with ``extra="forbid"`` so that the topology loader can name a
misspelt key. They carry no behaviour: :class:`nodes.node.Node` is built from a :class:`NodeSpec`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from ipaddress import IPv4Address
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")

#: The documented limit for the rack-wide BMC password (PROCEDURES.md: at most 16 characters).
MAX_BMC_PASSWORD = 16
#: IPMI user names are at most 16 bytes.
MAX_BMC_USERNAME = 16


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _mac(value: str) -> str:
    value = value.strip().lower().replace("-", ":")
    if not _MAC.match(value):
        raise ValueError(f"{value!r} is not a MAC address like 02:00:00:00:01:01")
    return value


Mac = Annotated[str, Field(description="MAC address, aa:bb:cc:dd:ee:ff")]
Version = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z._+-]+$")]


class PowerRestorePolicy(StrEnum):
    ALWAYS_OFF = "always-off"
    ALWAYS_ON = "always-on"
    PREVIOUS = "previous"


class CpuSpec(Spec):
    model: str = "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz"
    count: int = Field(2, ge=1, le=8)
    cores: int = Field(20, ge=1, le=512)
    threads: int = Field(40, ge=1, le=1024)
    speed_mhz: int = Field(2500, ge=100, le=10_000)


class DimmSpec(Spec):
    slot: str
    size_gb: int = Field(32, ge=1, le=4096)
    speed_mts: int = Field(2933, ge=100, le=20_000)
    manufacturer: str = "Samsung"
    part_number: str = "M393A4K40CB2-CVF"
    serial: str | None = None


class DiskSpec(Spec):
    slot: str
    model: str = "SAMSUNG MZ7LH960HAJR"
    media: str = Field("ssd", pattern="^(ssd|hdd|nvme)$")
    capacity_gb: int = Field(960, ge=1, le=1_000_000)
    serial: str | None = None


class NicSpec(Spec):
    name: str
    mac: str
    speed_gbps: int = Field(25, ge=1, le=800)
    model: str = "Mellanox ConnectX-4 Lx"

    _check_mac = field_validator("mac")(_mac)


class PsuSpec(Spec):
    name: str
    model: str = "PWR SPLY,750W,RDNT"
    capacity_w: int = Field(750, ge=100, le=10_000)
    serial: str | None = None
    #: The PSU's own firmware (a Dell 14G 750 W PSU's, by default).
    firmware_version: str = Field("00.1B.53", min_length=1, max_length=32)


class FanSpec(Spec):
    name: str
    nominal_rpm: int = Field(6000, ge=500, le=40_000)


class HardwareSpec(Spec):
    cpu: CpuSpec = CpuSpec()
    dimms: list[DimmSpec] = Field(
        default_factory=lambda: [DimmSpec(slot=f"A{i}") for i in range(1, 13)], min_length=1
    )
    data_disks: list[DiskSpec] = Field(
        default_factory=lambda: [DiskSpec(slot=f"Disk.{i}") for i in range(1, 9)]
    )
    boot_drives: list[DiskSpec] = Field(
        default_factory=lambda: [
            DiskSpec(slot=f"BOSS.{i}", model="MTFDDAV240TDU", capacity_gb=240) for i in (1, 2)
        ],
        min_length=2,
        max_length=2,
    )
    psus: list[PsuSpec] = Field(
        default_factory=lambda: [PsuSpec(name="PSU1"), PsuSpec(name="PSU2")],
        min_length=2,
        max_length=2,
    )
    fans: list[FanSpec] = Field(
        default_factory=lambda: [FanSpec(name=f"Fan{i}") for i in range(1, 7)],
        min_length=1,
        max_length=16,
    )


class FirmwareSpec(Spec):
    """Firmware version per component; the defaults are the Dell 14G example baseline."""

    bios: Version = "2.27.0"
    bmc: Version = "7.00.00.184"
    nic: Version = "14.32.21.04"
    disk: Version = "16.17.01.00"
    cpld: Version = "1.1.4"
    boot_drive: Version = "2.5.13.3024"


class FirmwareMinimumSpec(Spec):
    """An anti-rollback floor per component: updates to a lower version are refused (none by
    default)."""

    bios: Version | None = None
    bmc: Version | None = None
    nic: Version | None = None
    disk: Version | None = None
    cpld: Version | None = None
    boot_drive: Version | None = None


class BmcUserSpec(Spec):
    name: str = Field(min_length=1, max_length=MAX_BMC_USERNAME)
    password: str = Field(min_length=1, max_length=20)
    privilege: str = Field("administrator", pattern="^(callback|user|operator|administrator)$")
    enabled: bool = True


class BmcSpec(Spec):
    address: IPv4Address
    ipmi_port: int | None = Field(None, ge=1, le=65535, description="default: the rack's")
    netmask: IPv4Address = IPv4Address("255.255.255.192")
    gateway: IPv4Address | None = None
    mac: str
    username: str | None = Field(None, min_length=1, max_length=MAX_BMC_USERNAME)
    password: str | None = Field(None, min_length=1, max_length=MAX_BMC_PASSWORD)
    extra_users: list[BmcUserSpec] = Field(default_factory=list, max_length=13)

    _check_mac = field_validator("mac")(_mac)


class FirmwareTimingSpec(Spec):
    """How long a firmware update job takes, in emulated seconds (see ``nodes.firmware``)."""

    job_start_s: float = Field(1.0, ge=0, le=600, description="a new job waits this long to run")
    transfer_bytes_per_s: float = Field(4 * 1024 * 1024, gt=0, le=10 * 1024**3)
    verify_s: float = Field(5.0, ge=0, le=3600)
    flash_bios_s: float = Field(180.0, ge=0, le=7200)
    flash_bmc_s: float = Field(240.0, ge=0, le=7200)
    flash_nic_s: float = Field(120.0, ge=0, le=7200)
    flash_disk_s: float = Field(90.0, ge=0, le=7200)
    flash_cpld_s: float = Field(60.0, ge=0, le=7200)
    flash_boot_drive_s: float = Field(90.0, ge=0, le=7200)


class TimingSpec(Spec):
    """Durations in emulated seconds. Real servers take minutes; these are the lab defaults."""

    power_on_s: float = Field(1.0, ge=0, le=600)
    post_s: float = Field(45.0, ge=0, le=3600)
    os_boot_s: float = Field(60.0, ge=0, le=3600)
    os_shutdown_s: float = Field(20.0, ge=0, le=3600)
    graceful_timeout_s: float = Field(300.0, ge=0, le=7200)
    power_cycle_off_s: float = Field(2.0, ge=1, le=600)
    bmc_cold_reset_s: float = Field(30.0, ge=0, le=3600)
    bmc_warm_reset_s: float = Field(10.0, ge=0, le=3600)
    identify_default_s: float = Field(15.0, ge=1, le=255)
    firmware: FirmwareTimingSpec = FirmwareTimingSpec()


class NodeSpec(Spec):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    manufacturer: str = "Contoso"
    model: str = "CS-2400"
    serial: str = Field(min_length=1, max_length=32)
    asset_tag: str = ""
    power_restore_policy: PowerRestorePolicy = PowerRestorePolicy.ALWAYS_OFF
    hardware: HardwareSpec = HardwareSpec()
    nics: list[NicSpec] = Field(min_length=2, max_length=2)
    firmware: FirmwareSpec = FirmwareSpec()
    firmware_minimum: FirmwareMinimumSpec = FirmwareMinimumSpec()
    bmc: BmcSpec
    host_address: IPv4Address | None = Field(
        None, description="the host's data-path address (its workload endpoint); default: derived"
    )

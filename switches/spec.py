"""What a switch is made of, as a topology file describes it.

Everything here is optional beyond name, role and serial, so that topology files written before a
field existed still load: a switch without ``address`` gets one from the topology (see
``emulator.topology.Topology.switch_address``), one without ``snmp`` gets the lab communities
``public``/``private`` and no SNMPv3 user.
"""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Address

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SwitchRole(StrEnum):
    TOR = "tor"
    BMC = "bmc"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthProtocol(StrEnum):
    """SNMPv3 USM authentication: HMAC-SHA-2 256 (RFC 7860) or HMAC-SHA-96 (RFC 3414)."""

    SHA256 = "sha256"
    SHA = "sha"


class PrivProtocol(StrEnum):
    """SNMPv3 USM privacy: AES-128 CFB (RFC 3826), or none (authNoPriv)."""

    AES128 = "aes128"
    NONE = "none"


class Access(StrEnum):
    READ_ONLY = "ro"
    READ_WRITE = "rw"


_SECRET = r"^[\x21-\x7e]{8,64}$"  # printable, no spaces: what net-snmp's tools take as-is


class SnmpUserSpec(_Spec):
    """An SNMPv3 USM user of one switch (keys are passphrases, localized to that switch)."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$")
    auth: AuthProtocol = AuthProtocol.SHA256
    auth_key: str = Field(pattern=_SECRET)
    priv: PrivProtocol = PrivProtocol.AES128
    priv_key: str | None = Field(None, pattern=_SECRET)
    access: Access = Access.READ_ONLY

    @model_validator(mode="after")
    def _priv_needs_key(self) -> SnmpUserSpec:
        if self.priv is not PrivProtocol.NONE and self.priv_key is None:
            raise ValueError(f"user {self.name}: priv {self.priv.value} needs a priv_key")
        return self


class SwitchSnmpSpec(_Spec):
    """One switch's SNMP agent: SNMPv2c communities and SNMPv3 users (never shared)."""

    ro_community: str = Field("public", pattern=r"^[\x21-\x7e]{1,32}$")
    rw_community: str | None = Field("private", pattern=r"^[\x21-\x7e]{1,32}$")
    users: list[SnmpUserSpec] = Field(default_factory=list, max_length=16)
    contact: str = "lab@example.net"
    location: str = ""

    @model_validator(mode="after")
    def _distinct(self) -> SwitchSnmpSpec:
        if self.rw_community is not None and self.rw_community == self.ro_community:
            raise ValueError("ro_community and rw_community must differ")
        names = [u.name for u in self.users]
        if len(set(names)) != len(names):
            raise ValueError("SNMPv3 user names must be unique per switch")
        return self


class NotificationKind(StrEnum):
    TRAP = "trap"
    INFORM = "inform"


class SnmpVersion(StrEnum):
    V2C = "v2c"
    V3 = "v3"


class TrapReceiverSpec(_Spec):
    """Where every switch sends its notifications. v2c: with ``community``; v3: as the switch's
    own user named ``user`` (every switch must have one), authPriv when it has a priv key."""

    address: IPv4Address
    port: int = Field(162, ge=1, le=65535)
    version: SnmpVersion = SnmpVersion.V2C
    kind: NotificationKind = NotificationKind.TRAP
    community: str = Field("public", pattern=r"^[\x21-\x7e]{1,32}$")
    user: str | None = None

    @model_validator(mode="after")
    def _v3_needs_user(self) -> TrapReceiverSpec:
        if self.version is SnmpVersion.V3 and self.user is None:
            raise ValueError("a v3 receiver names the switches' user to send as (user: ...)")
        return self


class SnmpSettings(_Spec):
    """The rack's SNMP settings: the agents' port and where notifications go."""

    port: int = Field(161, ge=1, le=65535, description="used when the process may bind it")
    fallback_port: int = Field(1161, ge=1024, le=65535, description="otherwise")
    receivers: list[TrapReceiverSpec] = Field(default_factory=list, max_length=8)


class CliUserSpec(_Spec):
    """A user of the switch's CLI (SSH): ``sysadmin`` may change things, ``netoperator`` look."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$")
    password: str = Field(pattern=r"^[\x21-\x7e]{1,64}$")
    role: str = Field("sysadmin", pattern=r"^(sysadmin|netoperator)$")


class SwitchCliSpec(_Spec):
    """The switch's CLI users and login lockout, as the deployment configuration sets them."""

    users: list[CliUserSpec] = Field(
        default_factory=lambda: [
            CliUserSpec(name="admin", password="admin", role="sysadmin"),
            CliUserSpec(name="monitor", password="monitor", role="netoperator"),
        ],
        min_length=1,
        max_length=16,
    )
    max_retry: int = Field(3, ge=1, le=16, description="failed logins before a lockout")
    lockout_period_min: int = Field(5, ge=1, le=43200, description="lockout, minutes")

    @model_validator(mode="after")
    def _distinct(self) -> SwitchCliSpec:
        names = [u.name for u in self.users]
        if len(set(names)) != len(names):
            raise ValueError("CLI user names must be unique per switch")
        if not any(u.role == "sysadmin" for u in self.users):
            raise ValueError("a switch needs at least one sysadmin user")
        return self


class SshSettings(_Spec):
    """The switches' SSH servers (the CLI): the port, and the one used when it cannot be bound."""

    port: int = Field(22, ge=1, le=65535, description="used when the process may bind it")
    fallback_port: int = Field(2222, ge=1024, le=65535, description="otherwise")


class SwitchSpec(_Spec):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    role: SwitchRole
    manufacturer: str = "Dell"
    model: str = "S5248F-ON"
    serial: str = Field(min_length=1, max_length=32)
    os_version: str = "10.6.1.1"
    ports: int = Field(56, ge=4, le=128, description="front-panel ports ethernet1/1/1..N")
    port_speed_gbps: int = Field(25, ge=1, le=800)
    address: IPv4Address | None = Field(None, description="management address (SNMP)")
    fans: int = Field(4, ge=1, le=12)
    boot_s: float = Field(180.0, ge=0, le=3600, description="reload: power-on to agent up")
    install_s: float = Field(240.0, ge=0, le=3600, description="image install, emulated seconds")
    config_build: str = Field("1.0.0", pattern=r"^[0-9A-Za-z._-]{1,32}$")
    snmp: SwitchSnmpSpec = SwitchSnmpSpec()
    cli: SwitchCliSpec = SwitchCliSpec()

    def port_names(self) -> list[str]:
        return [port_name(i) for i in range(1, self.ports + 1)]


def port_name(index: int) -> str:
    """Front-panel port names, OS10 style."""
    return f"ethernet1/1/{index}"

"""Switch kinds: power, a PSU, a fan, a port, a reload, a configuration loss, an OS drift."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emulator.errors import FaultConflict, FaultError
from emulator.faults.kind import Device, FaultKind, ModelFaultKind, Plan, Site
from emulator.faults.kinds.firmware import _VERSION, drift_version
from nodes.events import Event
from switches.events import OsVersionChanged, SwitchBooted, SwitchConfigChanged, SwitchState
from switches.model import Switch, SwitchFault

if TYPE_CHECKING:
    from emulator.faults.records import FaultRecord


class SwitchPower(ModelFaultKind):
    name = "switch-power"
    scope = "switch"
    fault = SwitchFault.POWER
    summary = (
        "the switch loses power: agent silent, every port dark, the peers' ports down "
        "(linkDown), nodes lose that path; clear boots it (coldStart)"
    )


class SwitchPsu(ModelFaultKind):
    name = "switch-psu"
    scope = "switch"
    part = "psu"
    fault = SwitchFault.PSU
    summary = (
        "a switch PSU fails (the first unless named): the switch stays up; entStateOper "
        "disabled and an entStateOperDisabled trap"
    )


class SwitchFan(ModelFaultKind):
    name = "switch-fan"
    scope = "switch"
    part = "fan"
    fault = SwitchFault.FAN
    summary = (
        "a switch fan fails (the first unless named): 0 RPM, temperatures climb; entStateOper "
        "disabled and an entStateOperDisabled trap"
    )


class SwitchPort(ModelFaultKind):
    name = "switch-port"
    scope = "switch"
    part = "port"
    fault = SwitchFault.PORT
    summary = (
        "a port fails (the first cabled one unless named): ifOperStatus down, linkDown trap, "
        "the far end loses link"
    )

    def default_part(self, target: Device, parts: list[str]) -> str:
        assert isinstance(target, Switch)
        cabled = [p.name for p in target.ports.values() if p.peer]
        return cabled[0] if cabled else super().default_part(target, parts)


class _SwitchUpFirst(FaultKind):
    """A fault only a switch that is up can take."""

    def check(self, site: Site, plan: Plan, target: Device) -> None:
        assert isinstance(target, Switch)
        if target.state is not SwitchState.UP:
            raise FaultError(f"{plan.device} is {target.state.value}, not up")


class SwitchReboot(_SwitchUpFirst):
    name = "switch-reboot"
    scope = "switch"
    ends_by_itself = True
    summary = (
        "the switch reloads: agent silent and ports down while it boots, then coldStart; ends "
        "by itself"
    )

    def apply(self, site: Site, plan: Plan, target: Device) -> tuple[str, str]:
        assert isinstance(target, Switch)
        target.reboot(cause="fault")
        return "reload", ""

    def still_active(self, site: Site, record: FaultRecord, target: Device) -> bool:
        assert isinstance(target, Switch)
        return target.state is not SwitchState.UP

    def ends(self, site: Site, record: FaultRecord, target: Device, event: Event) -> str | None:
        if isinstance(event, SwitchBooted) and event.device == record.device:
            return "self"
        return super().ends(site, record, target, event)


class SwitchConfigLoss(_SwitchUpFirst):
    name = "switch-config-loss"
    scope = "switch"
    replacement_ends_it = True
    summary = (
        "factory defaults, then a reload: agent silent, a ToR carries no traffic, until clear "
        "loads and saves the backup, or a replacement"
    )

    def apply(self, site: Site, plan: Plan, target: Device) -> tuple[str, str]:
        assert isinstance(target, Switch)
        backup = target.saved_config()
        target.factory_reset()
        return "running and saved configuration back to factory defaults, reload", backup

    def undo(self, site: Site, record: FaultRecord, target: Device, data: str) -> None:
        # The OEM procedure: load the backup kept on the HLH, validate, save.
        assert isinstance(target, Switch)
        if not data:
            raise FaultError(f"{record.id}: no configuration backup to restore")
        target.load_config(data)
        target.save_config()

    def still_active(self, site: Site, record: FaultRecord, target: Device) -> bool:
        assert isinstance(target, Switch)
        return not target.provisioned

    def ends(self, site: Site, record: FaultRecord, target: Device, event: Event) -> str | None:
        if isinstance(event, SwitchConfigChanged) and event.device == record.device:
            return "self" if event.provisioned else None
        return super().ends(site, record, target, event)


class SwitchOsDrift(_SwitchUpFirst):
    name = "switch-os-drift"
    scope = "switch"
    takes_version = True
    replacement_ends_it = True
    summary = (
        "the switch runs another OS version than the baseline's (default: one step older): "
        "show version and SNMP show it; ended by the OS update or a replacement"
    )

    def version(self, site: Site, target: Device, part: str, version: str | None) -> str:
        assert isinstance(target, Switch)
        wanted = site.baseline.firmware.get("switch-os") or target.spec.os_version
        if version is None or version == "":
            version = drift_version(wanted)
        if not isinstance(version, str) or not _VERSION.match(version):
            raise FaultError(
                f"version {version!r} is not an OS version (1 to 64 of 0-9 A-Z a-z . _ + -)"
            )
        if version == wanted:
            raise FaultError(
                f"{version} is the version the switch should run: a drift needs another"
            )
        return version

    def check(self, site: Site, plan: Plan, target: Device) -> None:
        super().check(site, plan, target)
        assert isinstance(target, Switch)
        if target.os_version == plan.version:
            raise FaultConflict(f"{plan.device} already runs {plan.version}")

    def apply(self, site: Site, plan: Plan, target: Device) -> tuple[str, str]:
        assert isinstance(target, Switch)
        old = target.os_version
        target.drift_os(plan.version)
        return f"OS {old} -> {plan.version}", old

    def undo(self, site: Site, record: FaultRecord, target: Device, data: str) -> None:
        assert isinstance(target, Switch)
        if not data:
            raise FaultError(f"{record.id}: the OS version to put back is not known")
        target.drift_os(data)

    def still_active(self, site: Site, record: FaultRecord, target: Device) -> bool:
        assert isinstance(target, Switch)
        return target.os_version == record.version

    def ends(self, site: Site, record: FaultRecord, target: Device, event: Event) -> str | None:
        if (
            isinstance(event, OsVersionChanged)
            and event.device == record.device
            and event.cause == "boot"
        ):
            return "update"
        return super().ends(site, record, target, event)

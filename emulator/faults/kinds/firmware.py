"""Firmware drift: a component runs another version than the baseline's."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from emulator.errors import FaultConflict, FaultError
from emulator.faults.kind import Device, FaultKind, Plan, Site
from nodes.events import Event, FirmwareChanged
from nodes.node import Node

if TYPE_CHECKING:
    from emulator.faults.records import FaultRecord

__all__ = ["FirmwareDrift", "drift_version"]

#: A firmware version, as the topology and the image header allow it.
_VERSION = re.compile(r"^[0-9A-Za-z._+-]{1,64}$")


def drift_version(version: str) -> str:
    """The default drifted version: ``version`` with its last non-zero number decremented,
    keeping each field's width ("2.27.0" -> "2.26.0", "7.00.00.184" -> "7.00.00.183");
    with no such number, ``version + "-oem"``."""
    fields = re.split(r"([0-9]+)", version)
    for i in range(len(fields) - 1, -1, -1):
        text = fields[i]
        if text.isdigit() and int(text) > 0:
            fields[i] = str(int(text) - 1).zfill(len(text))
            return "".join(fields)
    return version + "-oem"


class FirmwareDrift(FaultKind):
    name = "firmware-drift"
    scope = "node"
    part = "firmware"
    takes_version = True
    # A replacement comes with factory firmware: a new state of things, which the replacement
    # procedure deals with (even when the factory version happens to be the drifted one).
    replacement_ends_it = True
    summary = (
        "a component runs another version than the baseline's (default: its last number minus "
        "one): the Redfish firmware inventory shows it, Repair refuses the node"
    )

    def version(self, site: Site, target: Device, part: str, version: str | None) -> str:
        baseline = site.baseline
        wanted = baseline.firmware.get(part)
        if version is None or version == "":
            if wanted is None:
                raise FaultError(f"the baseline {baseline.name} names no {part} version: give one")
            version = drift_version(wanted)
        if not isinstance(version, str) or not _VERSION.match(version):
            raise FaultError(
                f"version {version!r} is not a firmware version (1 to 64 of 0-9 A-Z a-z . _ + -)"
            )
        if wanted is not None and version == wanted:
            raise FaultError(
                f"{version} is the baseline's {part} version ({baseline.name}); "
                "a drift needs another one"
            )
        return version

    def check(self, site: Site, plan: Plan, target: Device) -> None:
        assert isinstance(target, Node)
        if target.firmware[plan.part] == plan.version:
            raise FaultConflict(f"{plan.device}'s {plan.part} already runs {plan.version}")
        busy = [
            j.id for j in target.update_jobs if j.component == plan.part and not j.state.finished
        ]
        if busy:
            raise FaultError(
                f"{plan.device} has a {plan.part} update job in progress ({busy[0]}): "
                "wait for it to end"
            )

    def apply(self, site: Site, plan: Plan, target: Device) -> tuple[str, str]:
        assert isinstance(target, Node)
        old = target.firmware[plan.part]
        return _set_firmware(site, target, plan.part, plan.version), old

    def undo(self, site: Site, record: FaultRecord, target: Device, data: str) -> None:
        assert isinstance(target, Node)
        previous = data or site.baseline.firmware.get(record.part, "")
        if not previous:
            raise FaultError(f"{record.id}: the version to put back is not known")
        _set_firmware(site, target, record.part, previous)

    def still_active(self, site: Site, record: FaultRecord, target: Device) -> bool:
        assert isinstance(target, Node)
        return target.firmware.get(record.part) == record.version

    def ends(self, site: Site, record: FaultRecord, target: Device, event: Event) -> str | None:
        if (
            isinstance(event, FirmwareChanged)
            and event.device == record.device
            and event.component == record.part
        ):
            return "update" if event.job_id else "self"
        return super().ends(site, record, target, event)


def _set_firmware(site: Site, node: Node, component: str, version: str) -> str:
    old = node.firmware[component]
    node.firmware[component] = version
    site.bus(
        FirmwareChanged(
            device=node.name, at=site.now(), component=component, old=old, new=version, job_id=""
        )
    )
    return f"{component} {old} -> {version}"

"""A node's state as plain data, and the two ways a slot's state starts over.

* :func:`snapshot` returns everything the node holds, JSON-safe: identity (serial, GUID, part
  serials), the SEL (ids, timestamps, overflow, SEL time), users with their passwords and the
  lockout, firmware versions and update jobs, BIOS current and pending settings, virtual media,
  the boot override, the power-restore policy, PSU inputs, active faults, and whether the host
  was on. Not kept: the identify LED, sessions, and where timed transitions were.
* :func:`restore` puts a snapshot back on a freshly built node (host off), then does what a BMC
  does after an AC loss and return: an update job that was new or running ends in EXCEPTION as
  interrupted and its component keeps its old version; staged images waiting for an AC cycle or
  a BMC reset activate; the OS hang and BMC hang are gone (the BMC and the host start afresh);
  a "power input lost" record is logged (Power Unit 09h offset 04h) and the power-restore
  policy decides (always-on powers on, previous powers on when the host was on).
* :func:`replace` is a new node in the slot: new serial and GUID, factory BMC credentials
  and firmware, BIOS defaults, an empty SEL, no faults, the host off.

Every change a snapshot shows is announced on the bus with ``device`` the node's name, so a
store that writes on events writes everything (``restore`` and ``replace`` announce themselves
with ``NodeRestored`` and ``NodeReplaced``).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Final

from nodes import sensors as sn
from nodes.errors import InvalidArgument
from nodes.events import Event, NodeReplaced, NodeRestored, SelCleared
from nodes.faults import NodeFault, PartKind
from nodes.firmware import COMPONENTS
from nodes.power import HostState
from nodes.sel import SensorType
from nodes.spec import PowerRestorePolicy
from nodes.users import MAX_USERS, Privilege

if TYPE_CHECKING:
    from nodes.node import Node

#: The snapshot format; a newer one is refused rather than misread.
FORMAT: Final = 1

#: Faults that do not outlive a power loss of the BMC and the host.
_VOLATILE = (NodeFault.OS_HANG, NodeFault.BMC_HANG)


def snapshot(node: Node) -> dict[str, Any]:
    override = node.boot_override
    return {
        "format": FORMAT,
        "name": node.name,
        "serial": node.spec.serial,
        "guid": str(node.guid),
        "replacements": node._replacements,
        "part_serials": [[k.value, name, s] for (k, name), s in node.part_serials.items()],
        "host_on": node.state is not HostState.OFF,
        "was_on_at_power_loss": node._was_on_at_ac_loss,
        "power_restore_policy": node.power_restore_policy.value,
        "last_power_event": node.last_power_event.value,
        "restart_cause": node.restart_cause.value,
        "boot_override": {
            "target": override.target.value,
            "persistent": override.persistent,
            "uefi": override.uefi,
        },
        "psu_input": dict(node.psu_input),
        "faults": [[f.value, t, at] for (f, t), at in node._faults.items()],
        "mapped_out_dimms": list(node.mapped_out_dimms),
        "sel": node.sel.snapshot(),
        "users": node.users.snapshot(),
        "firmware": dict(node.firmware),
        "updates": node._updater.snapshot(),
        "bios": node.bios.snapshot(),
        "media": node.media.snapshot(),
    }


def _set_identity(node: Node, serial: str, guid: uuid.UUID) -> None:
    from dataclasses import replace as dc_replace

    node.spec = node.spec.model_copy(update={"serial": serial})
    node.guid = guid
    node.fru = dc_replace(
        node.fru,
        chassis_serial=serial,
        board_serial=f"{serial}-MB",
        product_serial=serial,
    )


def restore(node: Node, data: dict[str, Any]) -> list[Event]:
    from nodes.node import BootOverride, BootTarget, PowerEvent, RestartCause

    if data.get("format") != FORMAT:
        raise InvalidArgument(f"unknown node snapshot format {data.get('format')!r}")
    if data.get("name") != node.name:
        raise InvalidArgument(f"the snapshot is of {data.get('name')!r}, not {node.name}")
    if node.state is not HostState.OFF:
        node.power_off("restore")
    _set_identity(node, str(data["serial"]), uuid.UUID(data["guid"]))
    node._replacements = int(data["replacements"])
    for kind, name, serial in data["part_serials"]:
        key = (PartKind(kind), str(name))
        if key in node.part_serials:
            node.part_serials[key] = str(serial)
    node.power_restore_policy = PowerRestorePolicy(data["power_restore_policy"])
    node.last_power_event = PowerEvent(data["last_power_event"])
    node.restart_cause = RestartCause(data["restart_cause"])
    o = data["boot_override"]
    node.boot_override = BootOverride(
        BootTarget(o["target"]), bool(o["persistent"]), bool(o["uefi"])
    )
    node.sel.restore(data["sel"])
    node.users.restore(data["users"])
    node.bios.restore(data["bios"])
    node.media.restore(data["media"])
    for component, version in data["firmware"].items():
        if component in node.firmware:
            node.firmware[component] = str(version)

    # Faults come back quietly (their records are in the SEL already); the volatile ones end
    # with the power loss.
    node._silence_faults()
    for fault, target, at in data["faults"]:
        kind = NodeFault(fault)
        if kind in _VOLATILE:
            continue
        node._faults[(kind, str(target))] = float(at)
        sets = {
            NodeFault.PSU: node.failed_psus,
            NodeFault.FAN: node.failed_fans,
            NodeFault.DIMM: node.failed_dimms,
            NodeFault.DATA_DISK: node.failed_drives,
            NodeFault.BOOT_DRIVE: node.failed_drives,
            NodeFault.NIC_PORT: node.failed_nics,
        }
        sets[kind].add(str(target))
    node.mapped_out_dimms = tuple(data["mapped_out_dimms"])

    events: list[Event] = []
    host_was_on = bool(data["host_on"])
    restored = NodeRestored(device=node.name, at=node.clock.now(), host_was_on=host_was_on)
    node._emit(restored)
    events.append(restored)
    events += node._updater.restore(data["updates"])
    # Back as after an AC loss: every PSU without input at first, then those that had it.
    node.psu_input = dict.fromkeys(node.psu_input, False)
    # A node without power when the snapshot was taken remembers how its host was then.
    powered = any(v and (k not in node.failed_psus) for k, v in dict(data["psu_input"]).items())
    node._was_on_at_ac_loss = host_was_on if powered else bool(data["was_on_at_power_loss"])
    events += node._updater.ac_lost()
    node.sel.log(SensorType.POWER_UNIT, sn.POWER_UNIT, 0x04, "AC lost / power input lost")
    inputs = {str(k): bool(v) for k, v in data["psu_input"].items()}
    for psu in node.psu_input:
        node.psu_input[psu] = inputs.get(psu, True)
    if any(node.psu_input.values()):
        events += node._updater.ac_restored()
    if node.has_input_power():
        events += node._restore_after_ac()
    return events


def replace(
    node: Node, serial: str, *, username: str, password: str, firmware: dict[str, str]
) -> list[Event]:
    from nodes.node import BootOverride

    if not serial or len(serial) > 32:
        raise InvalidArgument("a serial number is 1 to 32 characters")
    for component, version in firmware.items():
        if component not in COMPONENTS or component not in node.firmware:
            raise InvalidArgument(f"unknown firmware component {component!r}: one of {COMPONENTS}")
        if not version:
            raise InvalidArgument(f"empty firmware version for {component}")
    if not username or len(username.encode()) > 16 or len(password.encode()) > 20:
        raise InvalidArgument("factory credentials: a user name of 1-16 bytes, a password <= 20")

    events: list[Event] = []
    if node.state is not HostState.OFF:
        events += node.power_off("replaced")
    # The old hardware leaves with its faults: its BMC logs (and so sends) nothing about them
    # ending, or a receiver would take the swap for a repair of the same part.
    node.sel.muted = True
    try:
        for kind, target in list(node._faults):
            events += node._end_fault(kind, target, "replacement")
    finally:
        node.sel.muted = False
    node._silence_faults()
    guid = uuid.uuid4()
    _set_identity(node, serial, guid)
    node._replacements = 0
    node._init_part_serials()
    node.firmware.update(firmware)
    node._updater.restore({"jobs": [], "next_id": 1})
    node.sel.restore(
        {
            "records": [],
            "next_id": 1,
            "overflow": False,
            "last_add": None,
            "last_erase": None,
            "time_offset": 0.0,
        }
    )
    node._emit(SelCleared(device=node.name, at=node.clock.now()))
    node.users.restore(
        {
            "users": [
                {
                    "user_id": uid,
                    "name": username if uid == 2 else "",
                    "password": password if uid == 2 else "",
                    "enabled": uid == 2,
                    "privilege": int(Privilege.ADMINISTRATOR if uid == 2 else Privilege.NO_ACCESS),
                    "password_change_required": False,
                }
                for uid in range(1, MAX_USERS + 1)
            ],
            "lockout": {"threshold": 5, "duration_s": 300.0, "counter_reset_s": 60.0},
            "locked_until": {},
        }
    )
    node.bios.restore({"current": {"SystemServiceTag": serial[:63], "AssetTag": ""}, "pending": {}})
    node.media.restore(
        [
            {
                "id": s.id,
                "image": "",
                "inserted": False,
                "write_protected": True,
                "transfer_protocol": "",
            }
            for s in node.media.slots()
        ]
    )
    node.boot_override = BootOverride()
    node.power_restore_policy = node.spec.power_restore_policy
    event = NodeReplaced(device=node.name, at=node.clock.now(), serial=serial, guid=str(guid))
    node._emit(event)
    events.append(event)
    return events


__all__ = ["FORMAT", "replace", "restore", "snapshot"]

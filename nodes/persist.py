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

It reads and writes the node through public methods only: each helper's share of the format
(``node.host``, ``node.parts``, ``node.fault_book``, ``node.updater``, the SEL, users, BIOS and
media) comes from its own ``snapshot()`` and goes back through its own ``restore...()``.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any, Final

from nodes.errors import InvalidArgument
from nodes.events import Event, EventSink, NodeReplaced, NodeRestored, SelCleared
from nodes.firmware import COMPONENTS
from nodes.power import HostState
from nodes.users import MAX_USERS, Privilege

if TYPE_CHECKING:
    from nodes.node import Node

#: The snapshot format; a newer one is refused rather than misread.
FORMAT: Final = 1


#: A processor model string as SMBIOS and Redfish show it.
CPU_MODEL: Final = re.compile(r"^[\x20-\x7e]{1,64}$")


def set_cpu_model(node: Node, model: str) -> None:
    """The node's processors are of ``model`` (a replacement node's; not in the snapshot
    format yet, so a restart brings back the topology's)."""
    hardware = node.spec.hardware
    cpu = hardware.cpu.model_copy(update={"model": model})
    node.spec = node.spec.model_copy(update={"hardware": hardware.model_copy(update={"cpu": cpu})})


def snapshot(node: Node) -> dict[str, Any]:
    host = node.host.snapshot()
    parts = node.parts.snapshot()
    return {
        "format": FORMAT,
        "name": node.name,
        "serial": node.spec.serial,
        "guid": str(node.guid),
        "replacements": parts["replacements"],
        "part_serials": parts["part_serials"],
        **host,
        **node.fault_book.snapshot(),
        "mapped_out_dimms": parts["mapped_out_dimms"],
        "sel": node.sel.snapshot(),
        "users": node.users.snapshot(),
        "firmware": dict(node.firmware),
        "updates": node.updater.snapshot(),
        "bios": node.bios.snapshot(),
        "media": node.media.snapshot(),
    }


def restore(node: Node, data: dict[str, Any], emit: EventSink) -> list[Event]:
    if data.get("format") != FORMAT:
        raise InvalidArgument(f"unknown node snapshot format {data.get('format')!r}")
    if data.get("name") != node.name:
        raise InvalidArgument(f"the snapshot is of {data.get('name')!r}, not {node.name}")
    if node.state is not HostState.OFF:
        node.power_off("restore")
    node.set_identity(str(data["serial"]), uuid.UUID(data["guid"]))
    node.parts.restore_serials(data)
    node.host.restore_settings(data)
    node.sel.restore(data["sel"])
    node.users.restore(data["users"])
    node.bios.restore(data["bios"])
    node.media.restore(data["media"])
    for component, version in data["firmware"].items():
        if component in node.firmware:
            node.firmware[component] = str(version)
    node.fault_book.restore(data)
    node.parts.restore_memory_map(data)

    events: list[Event] = []
    host_was_on = bool(data["host_on"])
    restored = NodeRestored(device=node.name, at=node.clock.now(), host_was_on=host_was_on)
    emit(restored)
    events.append(restored)
    events += node.updater.restore(data["updates"])
    events += node.host.restore_power(data)
    return events


def replace(
    node: Node,
    serial: str,
    emit: EventSink,
    *,
    username: str,
    password: str,
    firmware: dict[str, str],
    cpu_model: str | None = None,
) -> list[Event]:
    if not serial or len(serial) > 32:
        raise InvalidArgument("a serial number is 1 to 32 characters")
    if cpu_model is not None and not CPU_MODEL.match(cpu_model):
        raise InvalidArgument(f"bad CPU model {cpu_model!r}: 1 to 64 printable ASCII characters")
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
        events += node.fault_book.end_all("replacement")
    finally:
        node.sel.muted = False
    node.fault_book.silence()
    guid = uuid.uuid4()
    node.set_identity(serial, guid)
    if cpu_model is not None:  # another processor than the topology's (a wrong delivery)
        set_cpu_model(node, cpu_model)
    node.parts.new_parts()
    node.firmware.update(firmware)
    node.updater.restore({"jobs": [], "next_id": 1})
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
    emit(SelCleared(device=node.name, at=node.clock.now()))
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
    node.host.factory_settings()
    event = NodeReplaced(device=node.name, at=node.clock.now(), serial=serial, guid=str(guid))
    emit(event)
    events.append(event)
    return events


__all__ = ["FORMAT", "replace", "restore", "snapshot"]

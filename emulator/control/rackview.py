"""The rack as a person sees it in the datacenter and in the operator's portal at once: every
node with its parts and their health, its NIC links to the ToRs and its BMC link, every switch
with its ports, the scale unit's status and the open alerts. Read-only; the web rack view
(``emulator.control.ui``) draws it and redraws it when the event stream says something changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nodes.faults import PartKind

if TYPE_CHECKING:
    from emulator.control.plane import ControlPlane
    from emulator.operator.alerts import Alert
    from nodes.node import Node
    from switches.model import Switch


def _health(value: Any) -> str:
    return str(value.name).lower().replace("_", "-")


def _parts(node: Node) -> dict[str, list[dict[str, Any]]]:
    hw = node.spec.hardware
    names: dict[PartKind, list[str]] = {
        PartKind.PSU: [p.name for p in hw.psus],
        PartKind.FAN: [f.name for f in hw.fans],
        PartKind.DIMM: [d.slot for d in hw.dimms],
        PartKind.DATA_DISK: [d.slot for d in hw.data_disks],
        PartKind.BOOT_DRIVE: [d.slot for d in hw.boot_drives],
        PartKind.NIC: [n.name for n in node.spec.nics],
    }
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, parts in names.items():
        out[kind.value] = [
            {
                "name": name,
                "health": _health(node.part_health(kind, name)),
                "serial": node.part_serial(kind, name),
            }
            for name in parts
        ]
    return out


def _switch(plane: ControlPlane, name: str, sw: Switch, faults: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "role": sw.spec.role.value,
        "serial": sw.serial,
        "up": sw.up,
        "managed": plane.rack.fabric.management_path_up(name),
        "psus": [{"name": p.name, "ok": sw.psu_ok(p.name)} for p in sw.psus],
        "fans": [{"name": f.name, "ok": sw.fan_ok(f.name)} for f in sw.fans],
        "ports": [
            {
                "name": port.name,
                "index": port.index,
                "peer": port.peer,
                "role": port.role.value,
                "admin_up": port.admin_up,
                "up": port.oper_up,
            }
            for port in sw.ports.values()
            if port.peer
        ],
        "faults": faults,
    }


def rack_view(plane: ControlPlane) -> dict[str, Any]:
    """The whole rack, one JSON-ready dict (see the module's docstring)."""
    rack = plane.rack
    status = plane.status()
    by_name = {n["name"]: n for n in status["nodes"]}
    pulled = set(rack.pulled_cables)
    nodes = []
    for name, node in rack.nodes.items():
        summary = by_name[name]
        links = []
        for nic in node.spec.nics:
            end = f"{name}:{nic.name}"
            peer = rack.links.get(end, "")
            links.append(
                {
                    "nic": nic.name,
                    "peer": peer,
                    "up": rack.nic_link_up(name, nic.name),
                    "cut": end in pulled or peer in pulled,
                }
            )
        bmc_end = f"{name}:bmc"
        bmc_peer = rack.links.get(bmc_end, "")
        nodes.append(
            {
                **summary,
                "model": node.spec.model,
                "chassis_on": node.chassis_on,
                "bmc": {
                    "address": str(node.spec.bmc.address),
                    "answering": summary["bmc_reachable"],
                    "link": {
                        "peer": bmc_peer,
                        "up": rack.bmc_port_up(name),
                        "cut": bmc_end in pulled or bmc_peer in pulled,
                    },
                },
                "links": links,
                "parts": _parts(node),
            }
        )
    faults: dict[str, list[str]] = {s["name"]: s["faults"] for s in status["switches"]}
    return {
        "name": status["name"],
        "now": status["now"],
        "scale_unit": status["scale_unit"],
        "storage_at_risk": status["storage_at_risk"],
        "nodes": nodes,
        "switches": [
            _switch(plane, name, sw, faults.get(name, [])) for name, sw in rack.switches.items()
        ],
        "alerts": [_alert(a) for a in status["alerts"]],
        "chaos": status["chaos"],
    }


def _alert(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "kind": alert.kind.value,
        "title": alert.title,
        "severity": alert.severity.value,
        "component": alert.component,
        "description": alert.description,
        "opened_at": alert.opened_at,
    }

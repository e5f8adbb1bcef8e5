"""What the control plane does, without HTTP: node actions through the operator's view, faults,
chaos, hardware replacement and the status table. The FastAPI app (``emulator.control.app``) is
a thin adapter over :class:`ControlPlane`; everything here runs on the rack's loop thread.

Errors: the emulator's refusals from ``emulator.errors`` (UnknownName for an unknown device,
action or alert; InvalidRequest for a bad value; StateConflict for a refused action or a state
that forbids it; ActionFailed for a BMC that did not answer), and the model's own errors; the
app maps each to its HTTP status in one table (``emulator.control.errors``). A request that
raises changed nothing.

A replacement arrives as from the OEM's depot:

* a node: a new serial (``<old>-R<n>`` unless one is given) and GUID, the OEM's factory BMC
  credentials ``root``/``calvin`` (not the rack's: the procedure's step 4 sets those), and
  factory firmware one version behind the topology's (each component's last non-zero number
  less one, e.g. BIOS 2.27.0 -> 2.26.0), so Repair refuses it until the firmware is levelled;
* a part: a new one of the same model, its fault cleared; DIMMs and NICs only with the host off
  (PSUs, fans and drives are hot-swap);
* a switch: a new serial and its factory configuration.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from emulator.errors import ActionFailed, InvalidRequest, StateConflict, UnknownName
from emulator.operator import OperatorView
from emulator.operator import events as operator_events
from emulator.rack import Rack
from nodes.events import Event
from nodes.node import Node
from nodes.persist import CPU_MODEL
from nodes.power import HostState
from switches.model import Switch

if TYPE_CHECKING:
    from emulator.chaos import Chaos
    from emulator.faults import FaultInjector

#: The factory BMC credentials of a replacement node (the OEM default, as on Dell iDRACs).
FACTORY_USERNAME: Final = "root"
FACTORY_PASSWORD: Final = "calvin"

#: The node actions of the operator's view, by name.
ACTIONS: Final = ("drain", "resume", "stop", "start", "shutdown", "repair", "add")
#: Parts a replacement needs the host off for (the others are hot-swap).
COLD_SWAP: Final = frozenset({"dimm", "nic"})
PART_KINDS: Final = ("psu", "fan", "dimm", "data-disk", "boot-drive", "nic")


def previous_version(version: str) -> str:
    """The version one step behind: the last non-zero number less one, a zero-padded one kept
    padded (2.27.0 -> 2.26.0, 7.00.00.184 -> 7.00.00.183, 16.17.01.00 -> 16.17.00.00,
    10.0 -> 9.0)."""
    parts = re.split(r"(\d+)", version)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i].isdigit() and int(parts[i]) > 0:
            padded = len(parts[i]) > 1 and parts[i].startswith("0")
            lower = str(int(parts[i]) - 1)
            parts[i] = lower.zfill(len(parts[i])) if padded else lower
            return "".join(parts)
    return version


@dataclass
class ChaosRun:
    seed: int
    mean_interval_s: float
    kinds: list[str] | None
    max_active: int
    started_at: float
    chaos: Chaos


class ControlPlane:
    """The rack's operations: ``ControlPlane(rack, operator, faults)``."""

    def __init__(
        self,
        rack: Rack,
        operator: OperatorView,
        faults: FaultInjector,
        *,
        chaos_factory: Callable[..., Chaos] | None = None,
    ) -> None:
        self.rack = rack
        self.operator = operator
        self.faults = faults
        self._chaos_factory = chaos_factory
        self.chaos: ChaosRun | None = None
        self._replacements = 0

    # -- lookups -------------------------------------------------------------------------------
    def node(self, name: str) -> Node:
        node = self.rack.nodes.get(name)
        if node is None:
            raise UnknownName(f"no node named {name!r} in the rack")
        return node

    def switch(self, name: str) -> Switch:
        switch = self.rack.switches.get(name)
        if switch is None:
            raise UnknownName(f"no switch named {name!r} in the rack")
        return switch

    def now(self) -> float:
        return self.rack.clock.now()

    # -- status --------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        op = self.operator
        active: dict[str, list[str]] = {}
        for rec in self.faults.records(active_only=True):
            active.setdefault(rec.device, []).append(
                f"{rec.kind}:{rec.part}" if rec.part else rec.kind
            )
        members = set(op.members())
        nodes = []
        for name, node in self.rack.nodes.items():
            member = name in members
            view = op.node(name) if member else None
            nodes.append(
                {
                    "name": name,
                    "serial": node.spec.serial,
                    "status": op.node_status(name).value if member else "not-a-member",
                    "power_state": op.power_state(name).value,
                    "host_state": node.state.value,
                    "bmc_reachable": self.rack.fabric.bmc_answering(name),
                    "health": node.hardware_health().name.lower().replace("_", "-"),
                    "vms": len(view.vms) if view else 0,
                    "operation": view.operation if view else None,
                    "faults": active.get(name, []),
                }
            )
        switches = [
            {
                "name": name,
                "role": sw.spec.role.value,
                "serial": sw.serial,
                "up": sw.up,
                "managed": self.rack.fabric.management_path_up(name),
                "faults": active.get(name, []),
            }
            for name, sw in self.rack.switches.items()
        ]
        return {
            "name": self.rack.topology.name,
            "now": self.now(),
            "scale_unit": op.scale_unit_status().value,
            "storage_at_risk": op.storage_at_risk(),
            "storage_repairs": [  # the running ones: a node back in service is resynced
                {"node": j.node, "reason": j.reason, "expected_end": j.expected_end}
                for j in op.storage_jobs()
                if j.running
            ],
            "nodes": nodes,
            "switches": switches,
            "alerts": op.alerts(open_only=True),
            "chaos": self.chaos is not None,
        }

    # -- node actions --------------------------------------------------------------------------
    def node_action(self, name: str, action: str, bmc_address: str | None = None) -> list[Event]:
        """Run an operator action; StateConflict (refused) or ActionFailed (the BMC did not
        answer) with the operator's own message, and then nothing changed."""
        if action not in ACTIONS:
            raise UnknownName(f"no node action {action!r}; one of: {', '.join(ACTIONS)}")
        self.node(name)
        if bmc_address is not None and action not in ("repair", "add"):
            raise InvalidRequest(f"bmc_address applies to repair and add, not {action}")
        op = self.operator
        if action == "repair":
            events = op.repair(name, bmc_address)
        elif action == "add":
            events = op.add(name, bmc_address)
        else:
            events = getattr(op, action)(name)
        for event in events:
            if isinstance(event, operator_events.ActionRefused):
                raise StateConflict(event.reason)
            if isinstance(event, operator_events.ActionFailed):
                raise ActionFailed(event.reason)
        return events

    # -- replacement ---------------------------------------------------------------------------
    def _serials(self) -> set[str]:
        serials = {n.spec.serial for n in self.rack.nodes.values()}
        return serials | {s.serial for s in self.rack.switches.values()}

    def _new_serial(self, old: str) -> str:
        taken = self._serials()
        base = old.split("-R")[0][:27]
        for _ in range(1000):
            self._replacements += 1
            serial = f"{base}-R{self._replacements}"
            if serial not in taken:
                return serial
        raise StateConflict("no free serial number for the replacement")  # pragma: no cover

    def _check_serial(self, serial: str | None, old: str) -> str:
        if serial is None:
            return self._new_serial(old)
        if serial in self._serials():
            raise StateConflict(f"serial {serial!r} is already in the rack")
        return serial

    def factory_firmware(self, name: str) -> dict[str, str]:
        spec = self.node(name).spec.firmware
        return {k: previous_version(v) for k, v in spec.model_dump().items() if v}

    def replace_node(
        self,
        name: str,
        serial: str | None = None,
        firmware: dict[str, str] | None = None,
        cpu_model: str | None = None,
    ) -> tuple[list[Event], dict[str, Any]]:
        node = self.node(name)
        if node.state is not HostState.OFF:
            raise StateConflict(
                f"{name} is powered on ({node.state.value}): shut it down (scaleunit node "
                f"shutdown {name}, or drain and stop) before the swap",
            )
        if cpu_model is not None and not CPU_MODEL.match(cpu_model):
            raise InvalidRequest(f"bad CPU model {cpu_model!r}: 1 to 64 printable ASCII characters")
        factory = self.factory_firmware(name)
        unknown = sorted(set(firmware or {}) - set(factory))
        if unknown:
            raise InvalidRequest(
                f"unknown firmware component(s) {unknown}; known: {sorted(factory)}"
            )
        factory.update(firmware or {})
        new_serial = self._check_serial(serial, node.spec.serial)
        events = node.replace(
            new_serial,
            username=FACTORY_USERNAME,
            password=FACTORY_PASSWORD,
            firmware=factory,
            cpu_model=cpu_model,
        )
        return events, {
            "cpu_model": node.spec.hardware.cpu.model,
            "device": name,
            "serial": new_serial,
            "username": FACTORY_USERNAME,
            "password": FACTORY_PASSWORD,
            "firmware": factory,
        }

    def replace_part(self, name: str, kind: str, target: str) -> list[Event]:
        node = self.node(name)
        if kind not in PART_KINDS:
            raise InvalidRequest(f"unknown part kind {kind!r}; one of: {', '.join(PART_KINDS)}")
        if kind in COLD_SWAP and node.state is not HostState.OFF:
            raise StateConflict(
                f"a {kind} is not hot-swap: {name} must be powered off ({node.state.value})"
            )
        events: list[Event] = node.replace_part(kind, target)
        return events

    def replace_switch(self, name: str, serial: str | None = None) -> tuple[list[Event], str]:
        switch = self.switch(name)
        new_serial = self._check_serial(serial, switch.serial)
        events: list[Event] = switch.replace(new_serial)
        return events, new_serial

    # -- alerts --------------------------------------------------------------------------------
    def close_alert(self, alert_id: str) -> list[Event]:
        try:
            self.operator.alert(alert_id)
        except KeyError:
            raise UnknownName(f"no alert {alert_id!r}") from None
        events = self.operator.close_alert(alert_id)
        for event in events:
            if isinstance(event, operator_events.ActionRefused):
                raise StateConflict(event.reason)
        return events

    # -- chaos ---------------------------------------------------------------------------------
    def start_chaos(
        self, seed: int, mean_interval_s: float, kinds: list[str] | None, max_active: int
    ) -> ChaosRun:
        if self.chaos is not None:
            raise StateConflict(f"chaos is already running (seed {self.chaos.seed}): stop it first")
        if self._chaos_factory is None:
            from emulator.chaos import Chaos

            factory: Callable[..., Chaos] = Chaos
        else:
            factory = self._chaos_factory
        chaos = factory(
            self.faults,
            self.rack.clock,
            seed=seed,
            mean_interval_s=mean_interval_s,
            kinds=kinds,
            max_active=max_active,
            eligible=self._chaos_may_touch,
        )
        chaos.start()
        self.chaos = ChaosRun(seed, mean_interval_s, kinds, max_active, self.now(), chaos)
        return self.chaos

    def _chaos_may_touch(self, device: str) -> bool:
        """Chaos leaves alone a node being repaired or added (its replacement under way)."""
        if device not in self.operator.members():
            return True
        return self.operator.node(device).operation is None

    def stop_chaos(self) -> ChaosRun:
        run = self.chaos
        if run is None:
            raise StateConflict("chaos is not running")
        run.chaos.stop()
        self.chaos = None
        return run

    def close(self) -> None:
        if self.chaos is not None:
            self.chaos.chaos.stop()
            self.chaos = None

"""A lab: a scenario's stage set on a live rack, then a person doing the procedure by hand.

The lab does not act after the stage. It follows the runbook's method step by step as the rack
shows each one done, flags rule breaks the moment they happen, gives hints, and grades.

How a step is recognised as done (its *detector*, derived from the runbook step):

=================  ==========================================================================
stage              ``fault-inject`` steps: the lab performs them itself (the scenario's stage)
event              an operator or hand action: the event the rack puts on its stream
                   (``node-action drain`` -> ``fabric.node.drained`` of that node,
                   ``replace-part`` -> ``part.replaced`` of that part, ...)
probe              a probe with an expectation (``wait-until`` or ``expect``): the same probe
                   the controller runs; done when it holds after having failed since the lab
                   began, or when it holds once every earlier step is done
state              firmware leveling and credentials: the rack is in the expected state
                   (inventory at the baseline, the rack's credentials accepted) once every
                   earlier step is done
after              a wait or a read, or a step that needs what a run's earlier step saves
                   (``save-as``): done with the step before it
=================  ==========================================================================

Rules (checked on every event): the runbook's safeguards (never more than one node out of
service, the scale unit never Requires Remediation, a BMC answers) and a repair refused for
firmware that is not at the baseline, and a switch configuration loaded (``copy ...
running-configuration``) that is not the deployment's one the lab read when it began. Each break
is recorded once per occurrence with the documented consequence.

Grade (0-100): steps done 50 x done/total; order 15 x (1 - out of order/total); time 15 x
phases within their RTO/phases; rules 20 - 10 per break (not below 0); then 2 off per hint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from emulator.controller import runbook as rb
from emulator.controller.engine import breaches
from emulator.controller.steps import STEPS, Context, StepFailed, _baseline, control, inventory
from emulator.lab import events as ev
from emulator.logs import kv

log = logging.getLogger("emulator.lab")

Mode = Literal["stage", "event", "probe", "state", "after"]

#: A node action -> the event that shows it done.
ACTION_EVENTS: dict[str, str] = {
    "drain": "fabric.node.drained",
    "resume": "fabric.node.resumed",
    "stop": "fabric.node.stopped",
    "shutdown": "fabric.node.shut-down",
    "start": "fabric.node.started",
    "repair": "fabric.repair.started",
    "add": "fabric.add.started",
}

#: The documented consequence of each rule (PROCEDURES.md).
CONSEQUENCES: dict[str, str] = {
    "max-out-of-service": "only one node may be drained or powered off at once: with two out, "
    "Storage Spaces Direct is at risk and the scale unit Requires Remediation",
    "scale-unit-never": "the scale unit Requires Remediation: its VMs fail until it recovers",
    "bmc-answers": "a silent BMC fails start, stop, repair and add with 'The BMC IP address "
    "... did not respond to a general query in the expected time'",
    "repair-before-baseline": "Repair needs the firmware baseline: firmware that does not match "
    "it risks instability and can stop the automation from deploying the OS",
    "switch-config-mismatch": "the switch runs another configuration than the deployment's "
    "backup: ports, VLANs or BGP peers may be wrong (the procedure diffs the backup against the "
    "generated configuration before loading it, and validates BGP and show version after)",
}


@dataclass
class LabStep:
    id: str
    phase: str
    index: int
    title: str
    kind: str
    mode: Mode
    hint: str
    step: rb.StepBase
    event: str = ""
    device: str = ""
    match: dict[str, Any] = field(default_factory=dict)
    seen_false: bool = False
    done_at: float | None = None
    out_of_order: bool = False

    def view(self, started_at: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "phase": self.phase,
            "title": self.title,
            "kind": self.kind,
            "mode": self.mode,
            "done": self.done_at is not None,
            "done_at": self.done_at,
            "took_s": None if self.done_at is None else self.done_at - started_at,
            "out_of_order": self.out_of_order,
        }


def hint_for(step: rb.StepBase) -> str:
    """The next step in words, with the command a person would type."""
    s: Any = step
    kind = s.kind
    if kind == "node-action":
        return f"{s.action.capitalize()} {s.node}: scaleunit node {s.action} {s.node}"
    if kind == "replace-part":
        return (
            f"Swap the failed {s.part} of {s.node} ({s.target}): "
            f"scaleunit replace part {s.node} {s.part} {s.target}"
        )
    if kind == "replace-node":
        return f"Swap the whole node {s.node}: scaleunit replace node {s.node}"
    if kind == "replace-switch":
        return f"Swap the switch {s.switch}: scaleunit replace switch {s.switch}"
    if kind in ("redfish-level", "redfish-update"):
        return (
            f"Bring the firmware of {s.node} to the baseline through its BMC: read "
            "/redfish/v1/UpdateService/FirmwareInventory and update what differs "
            "(SimpleUpdate or a multipart push)"
        )
    if kind in ("redfish-credentials", "ipmi-credentials"):
        return (
            f"Set the rack's BMC credentials on {s.node} (factory root/calvin now): "
            "ipmitool user set name/password, or PATCH the Redfish account"
        )
    if kind == "fault-clear":
        return "Clear the fault: scaleunit fault list, then scaleunit fault clear ID"
    if kind == "alert-close":
        return "Close the alert: scaleunit alert list, then scaleunit alert close ID"
    if kind == "alerts":
        return "Look at the open alerts: scaleunit alert list"
    if kind == "redfish":
        return f"Ask the BMC of {s.node}: curl -sk -u USER:PASS https://<BMC>{s.path}"
    if kind in ("node-status", "status"):
        expect = s.wait_until.expect if s.wait_until is not None else s.expect
        what = f" until {expect.describe()}" if expect is not None else ""
        return f"Watch the rack: scaleunit status{what}"
    if kind == "switch-cli":
        return f"On {s.switch} over SSH: " + "; ".join(s.commands)
    if kind == "ipmi":
        return f"Over IPMI: ipmitool -I lanplus -H <BMC of {s.node}> ... {s.command}"
    return f"{step.label} ({kind})"


def _detector(step: rb.StepBase) -> tuple[Mode, str, str, dict[str, Any]]:
    """(mode, event, device, fields the event must carry) for a resolved runbook step."""
    s: Any = step
    kind = s.kind
    if kind == "fault-inject":
        return "stage", "", "", {}
    if kind == "node-action":
        return "event", ACTION_EVENTS[s.action], s.node, {}
    if kind == "replace-part":
        return "event", "part.replaced", s.node, {"part": s.target}
    if kind == "replace-node":
        return "event", "node.replaced", s.node, {}
    if kind == "replace-switch":
        return "event", "switch.replaced", s.switch, {}
    if kind == "fault-clear":
        return "event", "fault.cleared", "", {}
    if kind == "alert-close":
        return "event", "fabric.alert.closed", "", {}
    if kind in ("redfish-level", "redfish-update", "redfish-credentials", "ipmi-credentials"):
        return "state", "", "", {}
    if step.wait_until is not None or step.expect is not None:
        return "probe", "", "", {}
    return "after", "", "", {}


class Lab:
    """One lab on a running rack: ``Lab(book, ctx, now, emit)``; ``start()`` sets the stage."""

    def __init__(
        self,
        book: rb.Runbook,
        ctx: Context,
        *,
        now: Callable[[], float],
        emit: Callable[[ev.LabEvent], None],
        source: str = "",
        time_limit_s: float | None = None,
    ) -> None:
        self.book = book
        self.ctx = ctx
        self.now = now
        self.emit = emit
        self.source = source
        self.variables: dict[str, Any] = dict(book.variables) | dict(ctx.variables)
        ctx.variables = self.variables
        self.time_limit_s = time_limit_s or sum(p.rto for p in book.method)
        self.steps: list[LabStep] = []
        index = 0
        for p, phase in enumerate(book.method):
            for s, step in enumerate(phase.steps):
                try:
                    resolved = rb.resolve(step, self.variables)
                    mode, event, device, match = _detector(resolved)
                except (rb.UnknownVariable, ValueError):
                    # It needs what an earlier step of a run saves (save-as): in a lab nobody
                    # runs that step, so this one is done with the steps before it.
                    resolved, (mode, event, device, match) = step, ("after", "", "", {})
                self.steps.append(
                    LabStep(
                        id=f"m{p}/{s}",
                        phase=phase.phase,
                        index=index,
                        title=resolved.label,
                        kind=resolved.kind,  # type: ignore[attr-defined]
                        mode=mode,
                        hint=hint_for(resolved),
                        step=resolved,
                        event=event,
                        device=device,
                        match=match,
                    )
                )
                index += 1
        self.state: Literal["new", "running", "finished"] = "new"
        self.started_at = 0.0
        self.finished_at: float | None = None
        self.rule_breaks: list[dict[str, Any]] = []
        self._active_rules: set[str] = set()
        self.hints: list[dict[str, Any]] = []
        self.grade: dict[str, Any] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.on_finish: Callable[[Lab], Awaitable[None]] | None = None
        self._finishing: asyncio.Future[dict[str, Any]] | None = None
        #: Each switch's running configuration when the lab began (the deployment's).
        self.switch_configs: dict[str, str] = {}
        self._pending_configs: set[str] = set()
        #: The reports' paths once written (journal, junit, html).
        self.reports: dict[str, str] = {}

    # -- what others see -----------------------------------------------------------------------
    @property
    def trainee_steps(self) -> list[LabStep]:
        return [s for s in self.steps if s.mode != "stage"]

    def view(self) -> dict[str, Any]:
        return {
            "title": self.book.title,
            "source": self.source,
            "state": self.state,
            "started_at": self.started_at,
            "now": self.now(),
            "time_limit_s": self.time_limit_s,
            "steps": [s.view(self.started_at) for s in self.trainee_steps],
            "rule_breaks": list(self.rule_breaks),
            "hints_used": len(self.hints),
            "grade": self.grade,
        }

    # -- persistence ---------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "title": self.book.title,
            "variables": {k: v for k, v in self.variables.items() if _plain(v)},
            "state": self.state,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "steps": {
                s.id: {"done_at": s.done_at, "seen_false": s.seen_false, "ooo": s.out_of_order}
                for s in self.steps
            },
            "rule_breaks": self.rule_breaks,
            "active_rules": sorted(self._active_rules),
            "switch_configs": self.switch_configs,
            "hints": self.hints,
            "grade": self.grade,
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.state = data["state"]
        self.started_at = data["started_at"]
        self.finished_at = data.get("finished_at")
        for s in self.steps:
            saved = data["steps"].get(s.id)
            if saved:
                s.done_at, s.seen_false = saved["done_at"], saved["seen_false"]
                s.out_of_order = saved["ooo"]
        self.rule_breaks = list(data["rule_breaks"])
        self._active_rules = set(data.get("active_rules", []))
        self.switch_configs = dict(data.get("switch_configs", {}))
        self.hints = list(data["hints"])
        self.grade = data.get("grade")

    # -- running -------------------------------------------------------------------------------
    async def start(self, *, resumed: bool = False) -> None:
        """Set the stage (unless resumed), then follow the rack until finished."""
        if not resumed:
            self.started_at = self.now()
            await self._observe_probes()  # what already fails before the stage
            self.switch_configs = {
                name: text
                for name in self.ctx.inventory.switches
                if (text := await self._running_config(name)) is not None
            }
            self.state = "running"
            self.emit(ev.LabStarted(device="lab", at=self.now(), title=self.book.title))
            for step in self.steps:
                if step.mode == "stage":
                    await STEPS[step.kind](step.step, self.ctx)
                    step.done_at = self.now()
        self._task = asyncio.create_task(self._follow(), name="lab")
        self._arm_time_limit()

    def _arm_time_limit(self) -> None:
        if self.state != "running":
            return
        left = self.started_at + self.time_limit_s - self.now()
        speed = getattr(self.ctx.time, "speed", 1.0)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(0.0, left) / speed, self._time_up)

    def _time_up(self) -> None:
        self._finishing = asyncio.ensure_future(self.finish("time limit"))

    def notify(self, item: dict[str, Any]) -> None:
        """An event from the rack's stream (``{seq, type, device, at, ...}``)."""
        if self.state != "running" or item.get("type", "").startswith("lab."):
            return
        for step in self.steps:
            if step.done_at is None and step.mode == "event" and self._matches(step, item):
                self._mark(step)
        if item.get("type") == "config.changed" and item.get("cause") == "load":
            self._pending_configs.add(str(item.get("device")))
        if item.get("type") in ("fabric.action.refused", "fabric.action.failed"):
            reason = str(item.get("reason", ""))
            if item.get("action") == "repair" and ("firmware" in reason or "baseline" in reason):
                self._break("repair-before-baseline", f"{item.get('device')}: {reason}")
        self._wake.set()

    def _matches(self, step: LabStep, item: dict[str, Any]) -> bool:
        if item.get("type") != step.event:
            return False
        if step.device and item.get("device") != step.device:
            return False
        return all(item.get(k) == v for k, v in step.match.items())

    async def _follow(self) -> None:
        while self.state == "running":
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(0.05)  # let a burst of events settle
            try:
                await self._check_configs()
                await self._check_rules()
                await self._observe_probes()
            except Exception as exc:  # a probe's trouble must not end the lab
                log.warning(kv(proto="lab", event="lab.check_failed", error=repr(exc)))

    def poke(self) -> None:
        self._wake.set()

    # -- detection -----------------------------------------------------------------------------
    def _previous_done(self, step: LabStep) -> bool:
        return all(s.done_at is not None for s in self.trainee_steps if s.index < step.index)

    async def _holds(self, step: LabStep) -> bool:
        s: Any = step.step
        try:
            if step.mode == "state":
                return await self._state_holds(step)
            output = await STEPS[step.kind](s, self.ctx)
        except (StepFailed, httpx.HTTPError, OSError):
            return False
        expect = s.wait_until.expect if s.wait_until is not None else s.expect
        ok, _ = expect.check(output)
        return bool(ok)

    async def _state_holds(self, step: LabStep) -> bool:
        s: Any = step.step
        if step.kind in ("redfish-level", "redfish-update"):
            want = (
                {s.component: s.version} if step.kind == "redfish-update" else _baseline(s.baseline)
            )
            have = await inventory(self.ctx, s.node, self.ctx.creds(s))
            return all(c not in have or str(have[c]) == str(v) for c, v in want.items())
        # credentials: the rack's own are accepted again
        access = self.ctx.node(s.node)
        async with httpx.AsyncClient(verify=False, timeout=self.ctx.redfish_timeout) as client:
            r = await client.get(
                f"{access.redfish}/redfish/v1/Systems",
                auth=(self.ctx.inventory.username, self.ctx.inventory.password),
            )
        return r.status_code == 200

    async def _observe_probes(self) -> None:
        for step in self.steps:
            if step.done_at is not None or step.mode not in ("probe", "state", "after"):
                continue
            if step.mode == "after":
                if self.state == "running" and self._previous_done(step):
                    self._mark(step)
                continue
            if step.mode == "state" and not self._previous_done(step):
                continue
            holds = await self._holds(step)
            if not holds:
                step.seen_false = True
            elif self.state == "running" and (step.seen_false or self._previous_done(step)):
                self._mark(step)
        # marking a step can complete the ones after it
        if self.state == "running" and any(
            s.done_at is None and s.mode == "after" and self._previous_done(s)
            for s in self.trainee_steps
        ):
            self._wake.set()

    def _mark(self, step: LabStep) -> None:
        step.done_at = self.now()
        # Order is the trainee's for what they do (actions, leveling, credentials); a probe
        # that holds early only says the rack got there sooner.
        step.out_of_order = step.mode != "probe" and not self._previous_done(step)
        self.emit(
            ev.LabStepDone(
                device="lab",
                at=step.done_at,
                step=step.id,
                title=step.title,
                took_s=step.done_at - self.started_at,
                out_of_order=step.out_of_order,
            )
        )
        if all(s.done_at is not None for s in self.trainee_steps):
            self._finishing = asyncio.ensure_future(self.finish("every step done"))

    # -- rules ---------------------------------------------------------------------------------
    async def _check_rules(self) -> None:
        if not self.book.safeguards:
            return
        try:
            data = await control(self.ctx, "GET", "/status")
        except StepFailed:
            return
        broken = {b.safeguard: b.reason for b in breaches(self.book.safeguards, data)}
        for guard in self.book.safeguards:
            self._rule(guard.kind, guard.kind in broken, broken.get(guard.kind, ""))

    async def _running_config(self, switch: str) -> str | None:
        """The switch's running configuration over its CLI (SSH), as a person reads it; None
        when it does not answer."""
        step = rb.SwitchCli(
            kind="switch-cli", switch=switch, commands=["show running-configuration"]
        )
        try:
            out = await STEPS["switch-cli"](step, self.ctx)
        except (StepFailed, OSError):
            return None
        return "\n".join(out) if isinstance(out, list) else str(out)

    async def _check_configs(self) -> None:
        """A configuration loaded onto a switch (``copy ... running-configuration``) must be
        the deployment's, as it was when the lab began (the comment lines aside: version,
        build, serial)."""
        while self._pending_configs:
            switch = self._pending_configs.pop()
            before = self.switch_configs.get(switch)
            now = await self._running_config(switch)
            if before is None or now is None:
                continue
            want, got = _config_lines(before), _config_lines(now)
            if want != got:
                missing = [line for line in want if line not in got]
                extra = [line for line in got if line not in want]
                first = f"-{missing[0]}" if missing else f"+{extra[0]}" if extra else "order"
                self._break(
                    "switch-config-mismatch",
                    f"{switch}: the loaded configuration differs from the deployment's in "
                    f"{len(missing) + len(extra)} line(s), first: {first}",
                )

    def _rule(self, rule: str, broken: bool, detail: str) -> None:
        if broken and rule not in self._active_rules:
            self._active_rules.add(rule)
            self._break(rule, detail)
        elif not broken:
            self._active_rules.discard(rule)

    def _break(self, rule: str, detail: str) -> None:
        at, consequence = self.now(), CONSEQUENCES[rule]
        self.rule_breaks.append(
            {"rule": rule, "detail": detail, "consequence": consequence, "at": at}
        )
        self.emit(
            ev.LabRuleBroken(device="lab", at=at, rule=rule, detail=detail, consequence=consequence)
        )

    # -- hints and the grade -------------------------------------------------------------------
    def hint(self) -> dict[str, Any]:
        step = next((s for s in self.trainee_steps if s.done_at is None), None)
        if step is None:
            return {"step": None, "hint": "Every step is done: scaleunit lab finish"}
        self.hints.append({"step": step.id, "at": self.now()})
        self.emit(ev.LabHintGiven(device="lab", at=self.now(), step=step.id, hint=step.hint))
        return {"step": step.id, "title": step.title, "hint": step.hint}

    async def finish(self, why: str = "finished") -> dict[str, Any]:
        if self.state == "finished" and self.grade is not None:
            return self.grade
        await self._observe_probes() if self.state == "running" else None
        self.state = "finished"
        self.finished_at = self.now()
        if self._timer is not None:
            self._timer.cancel()
        self._wake.set()
        self.grade = grade(self, why)
        self.emit(
            ev.LabFinished(device="lab", at=self.finished_at, score=self.grade["score"], why=why)
        )
        if self.on_finish is not None:
            await self.on_finish(self)
        return self.grade

    def journal(self) -> dict[str, Any]:
        """The lab as a run journal (the same reports as ``scaleunit run``) with its grade."""
        assert self.grade is not None
        steps = []
        ordered = sorted(self.trainee_steps, key=lambda s: s.index)
        last = self.started_at
        for s in ordered:
            entry: dict[str, Any] = {
                "id": s.id,
                "phase": s.phase,
                "name": s.title,
                "kind": s.kind,
                "started_at": last if s.done_at is not None else None,
                "ended_at": s.done_at,
            }
            if s.done_at is None:
                entry |= {"status": "failed", "reason": "not done by the end of the lab"}
            elif s.out_of_order:
                entry |= {"status": "failed", "reason": "done out of order"}
            else:
                entry["status"] = "succeeded"
            if s.done_at is not None:
                last = max(last, s.done_at)
            steps.append(entry)
        failure = None
        if self.rule_breaks:
            first = self.rule_breaks[0]
            failure = {"where": f"rule {first['rule']}", "reason": first["consequence"]}
        return {
            "title": f"lab: {self.book.title}",
            "source": self.source,
            "tags": self.book.tags,
            "status": "completed" if self.grade["score"] == 100 else "failed",
            "strategy": "lab",
            "resumed_from": None,
            "started_at": self.started_at,
            "ended_at": self.finished_at,
            "elapsed_s": (self.finished_at or self.now()) - self.started_at,
            "wall_s": 0.0,
            "wall_started": time.time(),
            "variables": {k: v for k, v in self.variables.items() if _plain(v)},
            "phases": self.grade["phases"],
            "steps": steps,
            "failure": failure,
            "grade": self.grade,
            "rule_breaks": self.rule_breaks,
        }

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def grade(lab: Lab, why: str) -> dict[str, Any]:
    steps = lab.trainee_steps
    total = max(len(steps), 1)
    done = [s for s in steps if s.done_at is not None]
    ooo = [s for s in done if s.out_of_order]
    phases = []
    start = lab.started_at
    for phase in lab.book.method:
        mine = [s for s in steps if s.phase == phase.phase]
        ends = [s.done_at for s in mine if s.done_at is not None]
        complete = len(ends) == len(mine)
        end = max(ends) if complete and ends else None
        elapsed = (end - start) if end is not None else None
        phases.append(
            {
                "phase": phase.phase,
                "rto_s": phase.rto,
                "started_at": start,
                "ended_at": end,
                "elapsed_s": elapsed,
                "rto_met": elapsed is not None and elapsed <= phase.rto,
                "status": "succeeded" if complete else "failed",
            }
        )
        if end is not None:
            start = end
    met = sum(1 for p in phases if p["rto_met"])
    parts = {
        "steps": 50.0 * len(done) / total,
        "order": 15.0 * (1 - len(ooo) / total),
        "time": 15.0 * met / max(len(phases), 1),
        "rules": max(0.0, 20.0 - 10.0 * len(lab.rule_breaks)),
        "hints": -2.0 * len(lab.hints),
    }
    score = max(0, min(100, round(sum(parts.values()))))
    return {
        "score": score,
        "why": why,
        "parts": {k: round(v, 1) for k, v in parts.items()},
        "steps_done": len(done),
        "steps_total": len(steps),
        "out_of_order": [s.id for s in ooo],
        "missing": [s.title for s in steps if s.done_at is None],
        "phases": phases,
        "rule_breaks": list(lab.rule_breaks),
        "hints_used": len(lab.hints),
    }


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | list | dict) or value is None


def _config_lines(text: str) -> list[str]:
    return [
        line.rstrip() for line in text.splitlines() if line.strip() and not line.startswith("!")
    ]

"""One loop over a runbook: steady state, the method's phases and steps, safeguards, rollbacks,
the steady state again; a journal written after every step.

States of a run (the journal's ``status``): running -> completed | failed | interrupted (a
safeguard was breached) | aborted (the steady state did not hold before the method). A step is
succeeded, failed, skipped (resumed: it succeeded in the journal being resumed) or rolled-back.

Rollback strategies (``--rollback-strategy``): default (run the rollbacks when the method did
not complete), always, never, deviated (only when the steady state deviates after the method).
Rollbacks are the completed steps' own ``rollback`` lists, newest first, then the runbook's.

Resume: ``Runner(..., resume=journal)`` takes the variables the journal saved and skips every
step that succeeded in it; the run continues at the first one that did not.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.controller import runbook as rb
from emulator.controller.steps import STEPS, Context, StepFailed, control
from emulator.controller.tolerance import _short, jsonpath_parse

STRATEGIES = ("default", "always", "never", "deviated")
#: The longest any single step may take in real seconds, whatever its emulated timeout.
WALL_CAP_S = 600.0


class SafeguardBreached(Exception):
    def __init__(self, safeguard: str, reason: str, evidence: Any = None) -> None:
        super().__init__(f"safeguard {safeguard} breached: {reason}")
        self.safeguard = safeguard
        self.reason = f"safeguard {safeguard} breached: {reason}"
        self.evidence = evidence


def breaches(safeguards: list[Any], data: dict[str, Any]) -> list[SafeguardBreached]:
    """Every safeguard that ``data`` (the control plane's ``GET /status``) breaks, in order:
    the controller stops at the first; a lab flags each as a rule broken."""
    found: list[SafeguardBreached] = []
    for guard in safeguards:
        if isinstance(guard, rb.MaxOutOfService):
            out = [
                n["name"]
                for n in data["nodes"]
                if n["status"] != "not-a-member"
                and (n["status"] != "running" or n["power_state"] != "running")
            ]
            if len(out) > guard.limit:
                found.append(
                    SafeguardBreached(
                        "max-out-of-service",
                        f"{len(out)} nodes out of service ({', '.join(out)}), at most "
                        f"{guard.limit} allowed",
                        [
                            {k: n[k] for k in ("name", "status", "power_state")}
                            for n in data["nodes"]
                        ],
                    )
                )
        elif isinstance(guard, rb.ScaleUnitNever):
            if data["scale_unit"] == guard.state:
                found.append(
                    SafeguardBreached(
                        "scale-unit-never", f"the scale unit is {guard.state}", data["scale_unit"]
                    )
                )
        elif isinstance(guard, rb.BmcAnswers):
            row = next((n for n in data["nodes"] if n["name"] == guard.node), None)
            if row is not None and not row["bmc_reachable"]:
                found.append(SafeguardBreached("bmc-answers", f"the BMC of {guard.node} is silent"))
    return found


@dataclass
class Runner:
    runbook: rb.Runbook
    ctx: Context
    journal_path: Path | None = None
    strategy: str = "default"
    resume: dict[str, Any] | None = None
    source: str = ""
    #: Called with each journal entry as it starts and ends (the live progress).
    progress: Callable[[str, dict[str, Any]], None] | None = None
    journal: dict[str, Any] = field(default_factory=dict)
    _done: set[str] = field(default_factory=set)
    _guarding: bool = False
    _rollbacks: list[tuple[str, rb.StepBase, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown rollback strategy {self.strategy!r}: one of {STRATEGIES}")
        variables = dict(self.runbook.variables)
        if self.resume is not None:
            variables |= self.resume.get("variables", {})
            self._done = {
                s["id"] for s in self.resume.get("steps", []) if s["status"] == "succeeded"
            }
        variables |= self.ctx.variables  # --var wins, on a resumed run too
        self.ctx.variables = variables
        self.ctx.on_wait = self._on_wait
        self.journal = {
            "title": self.runbook.title,
            "source": self.source,
            "tags": self.runbook.tags,
            "status": "running",
            "strategy": self.strategy,
            "resumed_from": (self.resume or {}).get("path"),
            "started_at": self.ctx.time.now(),
            "wall_started": time.time(),
            "ended_at": None,
            "variables": variables,
            "phases": [],
            "steps": [],
            "failure": None,
        }

    # -- journal -------------------------------------------------------------------------------
    def _write(self) -> None:
        if self.journal_path is not None:
            tmp = self.journal_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.journal, default=str), encoding="utf-8")
            tmp.replace(self.journal_path)

    def _emit(self, what: str, entry: dict[str, Any]) -> None:
        if self.progress is not None:
            self.progress(what, entry)

    # -- safeguards ----------------------------------------------------------------------------
    async def _on_wait(self) -> None:
        if self._guarding:
            await self.check_safeguards()

    async def check_safeguards(self) -> None:
        if not self.runbook.safeguards:
            return
        try:
            data = await control(self.ctx, "GET", "/status")
        except StepFailed:
            return  # the control plane's own trouble is not a breach
        found = breaches(self.runbook.safeguards, data)
        if found:
            raise found[0]

    # -- one step ------------------------------------------------------------------------------
    async def _attempt(self, step: rb.StepBase) -> Any:
        fn = STEPS[step.kind]  # type: ignore[attr-defined]
        if step.fails_with is not None:
            try:
                output = await fn(step, self.ctx)
            except StepFailed as exc:
                if re.search(step.fails_with, exc.reason):
                    return {"failed_as_expected": exc.reason}
                raise StepFailed(
                    f"failed, but not with /{step.fails_with}/: {exc.reason}", exc.evidence
                ) from None
            raise StepFailed(f"succeeded, but should have failed with /{step.fails_with}/", output)
        started = self.ctx.time.now()
        while True:
            output = await fn(step, self.ctx)
            if step.select is not None:
                output = [m.value for m in jsonpath_parse(step.select).find(output)]
            if step.wait_until is None:
                break
            ok, seen = step.wait_until.expect.check(output)
            if ok:
                break
            waited = self.ctx.time.now() - started
            if step.timeout is not None and waited >= step.timeout:
                raise StepFailed(
                    f"waited {waited:.0f} s for {step.wait_until.expect.describe()} "
                    f"(timeout {step.timeout:.0f} s); last seen: {seen}",
                    output,
                )
            await self.ctx.sleep(step.wait_until.every)
        if step.expect is not None:
            ok, seen = step.expect.check(output)
            if not ok:
                raise StepFailed(f"expected {step.expect.describe()}; saw {seen}", output)
        return output

    async def run_step(self, step: rb.StepBase, sid: str, phase: str) -> None:
        if sid in self._done:
            skip = {"id": sid, "phase": phase, "name": step.label, "kind": step.kind}  # type: ignore[attr-defined]
            skip |= {"status": "skipped", "reason": "succeeded in the resumed journal"}
            self.journal["steps"].append(skip)
            self._write()
            self._emit("skip", skip)
            return
        try:
            resolved = rb.resolve(step, self.ctx.variables)
        except (rb.UnknownVariable, ValueError) as exc:
            raise StepFailed(f"{step.label}: {exc}") from None
        if isinstance(resolved, rb.ForEach):
            items = resolved.items
            if not isinstance(items, list):
                raise StepFailed(f"{step.label}: items is not a list ({items!r})")
            for item in items:
                self.ctx.variables[resolved.as_] = item
                for j, inner in enumerate(resolved.steps):
                    await self.run_step(inner, f"{sid}/{item}/{j}", phase)
            return
        entry: dict[str, Any] = {
            "id": sid,
            "phase": phase,
            "name": resolved.label,
            "kind": resolved.kind,  # type: ignore[attr-defined]
            "status": "running",
            "started_at": self.ctx.time.now(),
            "attempts": 0,
        }
        self.journal["steps"].append(entry)
        self._emit("start", entry)
        wall0 = time.perf_counter()
        try:
            for attempt in range(resolved.retry.count + 1):
                entry["attempts"] = attempt + 1
                try:
                    output = await asyncio.wait_for(self._attempt(resolved), WALL_CAP_S)
                    break
                except (StepFailed, TimeoutError) as exc:
                    if attempt >= resolved.retry.count:
                        if isinstance(exc, TimeoutError):
                            raise StepFailed(f"no result within {WALL_CAP_S:.0f} real s") from None
                        raise
                    await self.ctx.sleep(resolved.retry.backoff * 2**attempt)
        except StepFailed as exc:
            entry |= {"status": "failed", "reason": exc.reason, "evidence": _evidence(exc.evidence)}
            if not resolved.fallback:
                raise
            output = None
        except SafeguardBreached as exc:
            entry |= {"status": "failed", "reason": exc.reason, "evidence": _evidence(exc.evidence)}
            raise
        finally:
            entry["ended_at"] = self.ctx.time.now()
            entry["wall_s"] = round(time.perf_counter() - wall0, 4)
            if entry["status"] == "failed":
                self._write()
                self._emit("end", entry)
        if entry["status"] == "failed":  # the fallback, whose failure is the step's
            self._emit("fallback", entry)
            for k, inner in enumerate(resolved.fallback):
                await self.run_step(inner, f"{sid}/fallback/{k}", phase)
            entry["status"] = "recovered"
            self._write()
            return
        # Succeeded: its output and the variable it saves are in the journal at the same time
        # as its status, so a resumed run never skips a step whose output it lacks.
        entry["status"] = "succeeded"
        entry["output"] = _evidence(output)
        if resolved.save_as:
            self.ctx.variables[resolved.save_as] = output
        self._rollbacks.extend((sid, r, dict(self.ctx.variables)) for r in resolved.rollback)
        self._write()
        self._emit("end", entry)
        if self._guarding:
            await self.check_safeguards()

    # -- the run -------------------------------------------------------------------------------
    async def _steady(self, when: str) -> bool:
        ok = True
        for i, probe in enumerate(self.runbook.steady_state):
            try:
                await self.run_step(probe, f"steady-{when}/{i}", f"steady state ({when})")
            except StepFailed:
                ok = False
        return ok

    async def _events_seq(self) -> int:
        try:
            return int((await control(self.ctx, "GET", "/events?limit=1"))["last_seq"])
        except (StepFailed, KeyError, TypeError, ValueError):
            return 0

    async def _collect_events(self, since: int) -> None:
        """The rack's events during the run (the control plane keeps the latest 1,000): type,
        device and emulated time, for the report's timeline."""
        try:
            data = await control(self.ctx, "GET", f"/events?since={since}&limit=1000")
        except StepFailed:
            return
        self.journal["events"] = [
            {"type": e.get("type"), "device": e.get("device"), "at": e.get("at")}
            for e in data.get("events", [])
        ]

    async def run(self) -> dict[str, Any]:
        self._write()
        seq0 = await self._events_seq()
        try:
            return await self._run()
        finally:
            await self._collect_events(seq0)
            self._write()

    async def _run(self) -> dict[str, Any]:
        j = self.journal
        if self.resume is None and not await self._steady("before"):
            j["status"] = "aborted"
            j["failure"] = {"where": "steady state (before)", "reason": "it did not hold"}
            return self._finish()
        method_ok = True
        self._guarding = True
        for p, phase in enumerate(self.runbook.method):
            label = f"{phase.phase}: {phase.name}" if phase.name else phase.phase
            rec: dict[str, Any] = {
                "phase": label,
                "rto_s": phase.rto,
                "started_at": self.ctx.time.now(),
            }
            j["phases"].append(rec)
            self._emit("phase", rec)
            try:
                try:
                    await self.check_safeguards()
                    for s, step in enumerate(phase.steps):
                        await self.run_step(step, f"m{p}/{s}", label)
                finally:
                    rec["ended_at"] = self.ctx.time.now()
                    rec["elapsed_s"] = rec["ended_at"] - rec["started_at"]
                    rec["rto_met"] = rec["elapsed_s"] <= phase.rto
                    self._write()
            except (StepFailed, SafeguardBreached) as exc:
                method_ok = False
                failed = next((e for e in reversed(j["steps"]) if e["status"] == "failed"), None)
                j["status"] = "interrupted" if isinstance(exc, SafeguardBreached) else "failed"
                j["failure"] = {
                    "where": f"{label}: {failed['name']}" if failed else label,
                    "step": failed["id"] if failed else None,
                    "reason": exc.reason,
                }
                rec["status"] = "failed"
                break
            rec["status"] = "succeeded"
        self._guarding = False
        steady_after = await self._steady("after") if method_ok else False
        if self.strategy == "always" or (
            (self.strategy == "default" and not method_ok)
            or (self.strategy == "deviated" and not steady_after)
        ):
            await self._roll_back()
            if self.runbook.steady_state:
                j["steady_after_rollback"] = await self._steady("after rollback")
        if method_ok:
            j["status"] = "completed" if steady_after else "failed"
            if not steady_after:
                j["failure"] = {"where": "steady state (after)", "reason": "it deviated"}
        return self._finish()

    async def _roll_back(self) -> None:
        todo = list(reversed(self._rollbacks))
        todo += [("runbook", r, self.ctx.variables) for r in self.runbook.rollbacks]
        for i, (owner, step, variables) in enumerate(todo):
            self.ctx.variables = dict(variables)
            try:
                await self.run_step(step, f"rollback/{i}", f"rollback of {owner}")
            except (StepFailed, SafeguardBreached):
                continue

    def _finish(self) -> dict[str, Any]:
        self.journal["ended_at"] = self.ctx.time.now()
        self.journal["elapsed_s"] = self.journal["ended_at"] - self.journal["started_at"]
        self.journal["wall_s"] = time.time() - self.journal["wall_started"]
        self._write()
        return self.journal


#: The longest output kept whole in the journal (a 16-node /status with faults fits).
EVIDENCE_LIMIT = 8000


def _evidence(value: Any) -> Any:
    """Output as it goes to the journal: JSON-able, long text cut."""
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        return _short(value)
    if len(text) > EVIDENCE_LIMIT:
        return _short(value, EVIDENCE_LIMIT)
    return json.loads(text)


def load_journal(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "steps" not in data:
        raise ValueError(f"{path} is not a scaleunit run journal")
    data["path"] = str(path)
    return data

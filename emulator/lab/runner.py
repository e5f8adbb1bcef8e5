"""A lab on a running rack: :func:`open_lab` wires a :class:`~emulator.lab.engine.Lab` to a
:class:`~emulator.runtime.RackRuntime` (the controller's probes over the rack's own endpoints,
the event stream, the state store, the control plane's ``/labs``) and sets its stage;
:func:`close_lab` undoes it. ``scaleunit lab`` and ``POST /labs`` (the rack view's trainer
panel) both use it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx

from emulator.controller import report
from emulator.controller import runbook as rb
from emulator.controller.embed import _inventory, _until_running
from emulator.controller.images import ImageServer
from emulator.controller.steps import Context
from emulator.lab.engine import Lab

#: The procedure library, next to the package in a source checkout.
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def library() -> dict[str, Path]:
    """The library's runbooks a lab can be started from, by name (``node-repair``)."""
    if not SCENARIOS.is_dir():
        return {}
    return {p.stem: p for p in sorted(SCENARIOS.glob("*.yaml"))}


class RackTime:
    """The running rack's clock, as the controller's probes see it."""

    def __init__(self, clock: Any, speed: float) -> None:
        self.clock = clock
        self.speed = speed

    def now(self) -> float:
        return float(self.clock.now())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


@dataclass
class Wiring:
    """What :func:`open_lab` set up, for :func:`close_lab`."""

    lab: Lab
    client: httpx.AsyncClient
    follower: asyncio.Task[None]
    resumed: bool


async def open_lab(
    runtime: Any,
    book: rb.Runbook,
    *,
    source: str,
    variables: dict[str, Any],
    report_dir: Path,
    time_limit_s: float | None = None,
    on_reports: Callable[[Lab, dict[str, Path]], None] | None = None,
    on_waiting: Callable[[], None] | None = None,
) -> Wiring:
    """Put a lab on ``runtime`` (a started RackRuntime with its control plane): continue the
    one its state store keeps for ``source`` if it was running, else wait until the rack runs
    and set the stage. The reports go to ``report_dir`` when the lab finishes."""
    assert runtime.control is not None and runtime.rack is not None
    assert runtime.clock is not None and runtime.feed is not None
    url = runtime.control.url
    source_time = RackTime(runtime.clock, runtime.speed)
    client = httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {runtime.token}"}, timeout=30
    )
    ctx = Context(
        inventory=_inventory(runtime.endpoints, url, runtime.token, runtime.topology),
        time=source_time,
        images=cast(ImageServer, None),  # a lab never serves images: the trainee does
        control=client,
        variables=dict(variables),
    )
    lab = Lab(
        book,
        ctx,
        now=runtime.clock.now,
        emit=runtime.rack.bus,
        source=source,
        time_limit_s=time_limit_s,
    )
    stored = runtime.state.stored("lab") if runtime.state is not None else None
    resumed = bool(stored and stored.get("source") == source and stored.get("state") == "running")
    if resumed:
        lab.restore(cast(dict[str, Any], stored))
    if runtime.state is not None and "lab" not in runtime.state.keys:
        runtime.state.track("lab", lambda: _current(runtime), lambda data: None, touched_by=_is_lab)

    async def reports(done: Lab) -> None:
        paths = report.write_all(done.journal(), report_dir)
        done.reports = {k: str(v) for k, v in paths.items()}
        if on_reports is not None:
            on_reports(done, paths)

    lab.on_finish = reports
    runtime.control.app.state.lab = lab
    sub = runtime.feed.subscribe(None)

    async def follow() -> None:
        async for item in sub.items():
            lab.notify(item)

    follower = asyncio.create_task(follow(), name="lab-follow")
    if not resumed:
        if on_waiting is not None:
            on_waiting()
        await _until_running(source_time, url, runtime.token, 4 * 3600.0)
    await lab.start(resumed=resumed)
    return Wiring(lab, client, follower, resumed)


def _current(runtime: Any) -> Any:
    lab = runtime.control.app.state.lab if runtime.control is not None else None
    return lab.snapshot() if lab is not None else None


def _is_lab(event: Any) -> bool:
    return bool(event.device == "lab")


async def close_lab(wiring: Wiring) -> None:
    wiring.follower.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await wiring.follower
    await wiring.lab.close()
    await wiring.client.aclose()


def start_in_background(
    runtime: Any, book: rb.Runbook, *, source: str, variables: dict[str, Any]
) -> Awaitable[Wiring]:
    """``POST /labs``: the lab is set up in a task of the rack's loop (the stage waits until
    the rack runs); its reports go to ``<state dir>/lab-report``."""
    task = asyncio.ensure_future(
        open_lab(
            runtime,
            book,
            source=source,
            variables=variables,
            report_dir=Path(runtime.state_dir) / "lab-report",
        )
    )
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


_background: set[asyncio.Future[Wiring]] = set()

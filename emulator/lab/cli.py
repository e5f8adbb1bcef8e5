"""``scaleunit lab SCENARIO``: start a rack, set the scenario's stage, follow a person doing the
procedure by hand, grade it. ``scaleunit lab status|hint|finish`` ask the running lab."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from emulator.control.cli import connection
from emulator.control.client import ControlClient
from emulator.controller import report
from emulator.controller import runbook as rb
from emulator.errors import StartupError


class _LabGroup(click.Group):
    """``lab SCENARIO`` starts a lab; ``lab status|hint|finish`` ask the running one."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["start", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_LabGroup)
def lab() -> None:
    """Training labs: `lab SCENARIO` starts one; status, hint and finish ask it."""


def _vars(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for text in values:
        try:
            key, value = rb.parse_var(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        out[key] = value
    return out


@lab.command("start")
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--topology", "topology_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--nodes", type=click.IntRange(4, 16), default=None)
@click.option(
    "--speed", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True
)
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--fresh", is_flag=True, help="Start over (a new rack and a new lab).")
@click.option("--var", "variables", multiple=True, callback=_vars, help="NAME=VALUE")
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("lab-report"),
    show_default=True,
)
@click.option(
    "--time-limit",
    type=float,
    default=None,
    help="Emulated seconds (default: the sum of the phases' RTO targets).",
)
@click.option("--token", envvar="SCALEUNIT_TOKEN", default=None)
@click.option("--log-level", default="warning", show_default=True)
def start(
    scenario: Path,
    topology_path: Path | None,
    nodes: int | None,
    speed: float,
    state_dir: Path | None,
    fresh: bool,
    variables: dict[str, Any],
    report_dir: Path,
    time_limit: float | None,
    token: str | None,
    log_level: str,
) -> None:
    """Start a rack, set SCENARIO's stage (its faults), and follow the procedure done by hand."""
    from emulator import logs
    from emulator.cli import _load, _run_loop, serving
    from emulator.lab.runner import close_lab, open_lab
    from emulator.runtime import RackRuntime

    logs.setup(log_level)
    try:
        book = rb.load(scenario)
    except rb.RunbookError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    topology = _load(topology_path, nodes)
    console = Console()

    async def run() -> None:
        runtime = RackRuntime(
            topology, speed=speed, state_dir=state_dir, fresh=fresh, token=token, power_on=True
        )
        async with serving(runtime) as stop:
            await follow_lab(runtime, stop)

    async def follow_lab(runtime: Any, stop: asyncio.Event) -> None:
        def reported(done: Any, paths: dict[str, Path]) -> None:
            g = done.grade or {}
            click.echo(
                f"lab over ({g.get('why')}): score {g.get('score')}/100, "
                f"{g.get('steps_done')}/{g.get('steps_total')} steps, "
                f"{len(g.get('rule_breaks', []))} rule(s) broken, {g.get('hints_used')} hint(s); "
                f"report: {paths['html']}"
            )
            sys.stdout.flush()

        def waiting() -> None:
            click.echo("the rack is coming up (every node powered on, then in service)...")

        wiring = await open_lab(
            runtime,
            book,
            source=str(scenario),
            variables=variables,
            report_dir=report_dir,
            time_limit_s=time_limit,
            on_reports=reported,
            on_waiting=waiting,
        )
        try:
            url = runtime.control.url
            resumed = " (resumed)" if wiring.resumed else ""
            console.print(f"[bold]lab: {book.title}[/bold]{resumed}")
            click.echo(
                f"  rack view: {url}/ui?token={runtime.token}\n"
                f"  the stage is set; do the procedure by hand. In another terminal:\n"
                f"     scaleunit lab status | hint | finish   "
                f"(found as the only running rack, else --state-dir {runtime.state_dir})\n"
                f"     scaleunit endpoints --format json      (addresses and credentials)\n"
                f"  Ctrl-C stops the rack."
            )
            sys.stdout.flush()
            await stop.wait()
        finally:
            await close_lab(wiring)

    try:
        _run_loop(run())
    except StartupError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None


def _print_lab(data: dict[str, Any]) -> None:
    console = Console()
    table = Table(title=f"lab: {data['title']} ({data['state']})")
    for col in ("step", "phase", "done", "after"):
        table.add_column(col)
    for s in data["steps"]:
        took = "" if s["took_s"] is None else f"{s['took_s'] / 60:.1f} min"
        mark = "yes" + (" (out of order)" if s["out_of_order"] else "") if s["done"] else ""
        table.add_row(s["title"], s["phase"], mark, took)
    console.print(table)
    for b in data["rule_breaks"]:
        console.print(f"[red]rule broken[/red]: {b['rule']}: {b['detail']}: {b['consequence']}")
    console.print(f"hints used: {data['hints_used']}")
    if data.get("grade"):
        console.print(f"[bold]score {data['grade']['score']}/100[/bold]")


@lab.command("status")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@connection
def status(client: ControlClient, fmt: str) -> None:
    """Progress: each step done or not, rule breaks, hints used."""
    data = client.request("GET", "/labs/current")
    if fmt == "json":
        import json

        click.echo(json.dumps(data, indent=2))
    else:
        _print_lab(data)


@lab.command("hint")
@connection
def hint(client: ControlClient) -> None:
    """The next step, in words (a hint costs points)."""
    data = client.request("POST", "/labs/current/hint")
    click.echo(data["hint"])


@lab.command("finish")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@connection
def finish(client: ControlClient, fmt: str) -> None:
    """End the lab and grade it (the reports go to the lab's --report directory)."""
    data = client.request("POST", "/labs/current/finish")
    if fmt == "json":
        import json

        click.echo(json.dumps(data, indent=2))
        return
    g = data["grade"]
    click.echo(
        f"score {g['score']}/100 ({g['why']}): {g['steps_done']}/{g['steps_total']} steps, "
        f"out of order {len(g['out_of_order'])}, rules broken {len(g['rule_breaks'])}, "
        f"hints {g['hints_used']}"
    )
    for p in g["phases"]:
        met = "met" if p["rto_met"] else "NOT met"
        took = "-" if p["elapsed_s"] is None else report.duration(p["elapsed_s"])
        click.echo(f"  {p['phase']}: {took} (RTO {report.duration(p['rto_s'])}: {met})")
    for b in g["rule_breaks"]:
        click.echo(f"  rule broken: {b['rule']}: {b['detail']}")
    for title in g["missing"]:
        click.echo(f"  not done: {title}")
    for kind, path in data.get("reports", {}).items():
        click.echo(f"  {kind}: {path}")

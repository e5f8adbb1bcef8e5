"""``scaleunit run`` and ``scaleunit level``: run a runbook against an embedded or running rack."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import click
import httpx
from rich.console import Console

from emulator.controller import engine, report
from emulator.controller import runbook as rb
from emulator.controller.images import ImageServer
from emulator.controller.steps import Context

#: The procedure library, next to the package in a source checkout.
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _describe(step: rb.StepBase) -> str:
    fields = step.model_dump(
        by_alias=True,
        exclude={"name", "kind", "rollback", "fallback", "steps", "retry", "expect", "wait-until"},
        exclude_none=True,
        exclude_defaults=True,
    )
    extra = " ".join(f"{k}={v}" for k, v in fields.items())
    more = []
    if step.wait_until is not None:
        more.append(f"until {step.wait_until.expect.describe()}")
    if step.expect is not None:
        more.append(f"expect {step.expect.describe()}")
    if step.rollback:
        more.append(f"rollback: {', '.join(r.label for r in step.rollback)}")
    return f"{step.label} [{step.kind}] {extra} {'; '.join(more)}".rstrip()  # type: ignore[attr-defined]


def print_plan(book: rb.Runbook, console: Console) -> None:
    console.print(f"[bold]{book.title}[/bold]  (dry run: nothing is touched)")
    for name, value in book.variables.items():
        console.print(f"  var {name} = {value!r}")
    for guard in book.safeguards:
        console.print(f"  safeguard {guard.model_dump(exclude_defaults=False)}")
    for probe in book.steady_state:
        console.print(f"  steady state: {_describe(probe)}")

    def steps(items: list[Any], depth: int) -> None:
        for i, step in enumerate(items, 1):
            console.print(f"{'  ' * depth}{i}. {_describe(step)}", markup=False, highlight=False)
            if isinstance(step, rb.ForEach):
                steps(step.steps, depth + 1)

    for phase in book.method:
        console.print(f"[bold]{phase.phase}[/bold] (RTO {report.duration(phase.rto)})")
        steps(phase.steps, 2)
    for step in book.rollbacks:
        console.print(f"  rollback: {_describe(step)}")


class Progress:
    """Live progress with rich: a line per finished step, and a status line with the phase, the
    step under way, the emulated and wall time, and the phase's time against its RTO."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.phase: dict[str, Any] = {}
        self.wall0 = time.perf_counter()
        self.emulated0: float | None = None
        self.status = console.status("starting", spinner="dots")

    def __enter__(self) -> Progress:
        if self.console.is_terminal:
            self.status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.status.stop()

    def __call__(self, what: str, e: dict[str, Any]) -> None:
        if what == "phase":
            self.phase = e
            return
        if what == "start":
            if self.emulated0 is None:
                self.emulated0 = e.get("started_at") or 0.0
            emulated = report.duration((e.get("started_at") or 0.0) - self.emulated0)
            rto = ""
            if self.phase and e.get("phase") == self.phase.get("phase"):
                spent = (e.get("started_at") or 0) - self.phase["started_at"]
                rto = f" | RTO {report.duration(spent)} of {report.duration(self.phase['rto_s'])}"
            self.status.update(
                f"{e['phase']} / {e['name']} | emulated {emulated}, "
                f"wall {time.perf_counter() - self.wall0:.1f} s{rto}"
            )
            return
        if what == "fallback":
            return
        colour = {"succeeded": "green", "failed": "red", "skipped": "dim"}.get(e["status"], "")
        took = (e.get("ended_at") or 0) - (e.get("started_at") or 0)
        line = (
            f"[{colour}]{e['status']:>9}[/{colour}] {e['phase']} / {e['name']} "
            f"[dim](emulated {report.duration(took)}, wall {e.get('wall_s', 0):.2f} s)[/dim]"
        )
        self.console.print(line)
        if e.get("reason"):
            self.console.print(f"          [red]{e['reason']}[/red]", highlight=False)


async def _drive(
    book: rb.Runbook,
    inventory: Any,
    time_source: Any,
    *,
    variables: dict[str, Any],
    journal: Path | None,
    strategy: str,
    resume: dict[str, Any] | None,
    source: str,
    progress: Any,
) -> dict[str, Any]:
    images = ImageServer()
    headers = {"Authorization": f"Bearer {inventory.token}"}
    try:
        async with httpx.AsyncClient(
            base_url=inventory.control_url, headers=headers, timeout=30
        ) as http:
            ctx = Context(inventory, time_source, images, http, variables=variables)
            runner = engine.Runner(
                book,
                ctx,
                journal_path=journal,
                strategy=strategy,
                resume=resume,
                source=source,
                progress=progress,
            )
            try:
                return await runner.run()
            finally:
                await ctx.aclose()
    finally:
        images.close()


def execute(
    scenario: Path,
    *,
    nodes: int = 4,
    topology_file: Path | None = None,
    virtual: bool = True,
    speed: float = 1.0,
    report_dir: Path | None = None,
    target: str | None = None,
    token: str | None = None,
    variables: dict[str, Any] | None = None,
    resume: Path | None = None,
    strategy: str = "default",
    console: Console | None = None,
) -> dict[str, Any]:
    """Load, run and report one runbook; returns the journal."""
    console = console or Console(stderr=True, soft_wrap=True)
    book = rb.load(scenario)
    resumed = engine.load_journal(resume) if resume is not None else None
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
    journal_path = report_dir / "journal.json" if report_dir is not None else None
    args: dict[str, Any] = dict(
        variables=dict(variables or {}),
        journal=journal_path,
        strategy=strategy,
        resume=resumed,
        source=str(scenario),
        progress=None,
    )
    with Progress(console) as progress:
        args["progress"] = progress
        journal = _start(book, args, target, token, topology_file, nodes, virtual, speed)
    if report_dir is not None:
        paths = report.write_all(journal, report_dir)
        console.print(f"reports: {', '.join(str(p) for p in paths.values())}")
    return journal


def _start(
    book: rb.Runbook,
    args: dict[str, Any],
    target: str | None,
    token: str | None,
    topology_file: Path | None,
    nodes: int,
    virtual: bool,
    speed: float,
) -> dict[str, Any]:
    """Run on a rack: a running one (``target``) or one started here."""
    from emulator import topology as topo_mod
    from emulator.controller import embed

    if target is not None:
        if topology_file is None or token is None:
            raise click.UsageError("--target needs --topology FILE (the addresses) and --token")
        topo = topo_mod.load(topology_file)
        inventory, source = embed.remote(target, token, topo, speed)
        journal = asyncio.run(_drive(book, inventory, source, **args))
    else:
        from emulator.controller.traps import TrapReceiver

        # The embedded rack's switches send their traps to the controller's own receiver.
        receiver = TrapReceiver() if topology_file is None else None
        try:
            topo = (
                topo_mod.load(topology_file)
                if topology_file
                else embed.loopback_topology(
                    nodes, (receiver.topology_entry(),) if receiver else ()
                )
            )
            with embed.embedded(topo, virtual=virtual, speed=speed) as (inventory, source, _):
                inventory.traps = receiver
                journal = asyncio.run(_drive(book, inventory, source, **args))
        finally:
            if receiver is not None:
                receiver.close()
    return journal


def _rack_options(fn: Any) -> Any:
    for option in reversed(
        [
            click.option("--topology", "topology_file", type=click.Path(path_type=Path)),
            click.option("--nodes", type=click.IntRange(4, 16), default=4, show_default=True),
            click.option("--speed", type=float, default=None, help="emulated s per real s"),
            click.option("--virtual", is_flag=True, help="virtual time (default when embedded)"),
            click.option("--report", "report_dir", type=click.Path(path_type=Path)),
            click.option("--target", help="a running rack's control plane URL"),
            click.option("--token", envvar="SCALEUNIT_TOKEN", help="its bearer token"),
            click.option("--var", "var", multiple=True, help="NAME=VALUE (repeatable)"),
            click.option("--dry-run", is_flag=True, help="print the plan, touch nothing"),
            click.option(
                "--rollback-strategy",
                type=click.Choice(engine.STRATEGIES),
                default="default",
                show_default=True,
            ),
        ]
    ):
        fn = option(fn)
    return fn


def _run(scenario: Path, resume: Path | None, o: dict[str, Any]) -> None:
    console = Console(stderr=True, soft_wrap=True)
    try:
        variables = dict(rb.parse_var(v) for v in o["var"])
        if o["dry_run"]:
            book = rb.load(scenario)
            book = book.model_copy(update={"variables": book.variables | variables})
            print_plan(book, Console())
            return
        if o["speed"] is not None and o["virtual"]:
            raise click.UsageError("--speed and --virtual exclude each other")
        if o["target"] is not None and o["virtual"]:
            raise click.UsageError(
                "--virtual needs the rack started here: a running rack (--target) keeps its "
                "own clock; give its --speed"
            )
        journal = execute(
            scenario,
            nodes=o["nodes"],
            topology_file=o["topology_file"],
            virtual=o["speed"] is None,
            speed=o["speed"] or 1.0,
            report_dir=o["report_dir"],
            target=o["target"],
            token=o["token"],
            variables=variables,
            resume=resume,
            strategy=o["rollback_strategy"],
            console=console,
        )
    except (rb.RunbookError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    colour = "green" if journal["status"] == "completed" else "red"
    console.print(
        f"[{colour}]{journal['title']}: {journal['status']}[/{colour}] in emulated "
        f"{report.duration(journal.get('elapsed_s'))}, wall {journal.get('wall_s', 0):.1f} s"
    )
    if journal.get("failure"):
        console.print(f"[red]{journal['failure']['where']}: {journal['failure']['reason']}[/red]")
    if journal["status"] != "completed":
        sys.exit(1)


@click.command("run")
@click.argument("scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--resume", type=click.Path(exists=True, path_type=Path), help="a run's journal")
@_rack_options
def run(scenario: Path, resume: Path | None, **o: Any) -> None:
    """Run a scenario: break the rack, replay the restoration procedure, report."""
    _run(scenario, resume, o)


@click.command("level")
@click.option("--baseline", type=click.Path(exists=True, path_type=Path), required=True)
@_rack_options
def level(baseline: Path, **o: Any) -> None:
    """Level every node's firmware and the ToRs' OS to a baseline file
    (scenarios/firmware-leveling.yaml)."""
    # The tool levels what it finds: the scenario's own drift (its triage) is left out.
    o["var"] = ("drift=[]", "switch_drift=[]", *o["var"], f"baseline={baseline}")
    _run(SCENARIOS / "firmware-leveling.yaml", None, o)


def register(group: click.Group) -> None:
    """Add ``run`` and ``level`` to the ``scaleunit`` group."""
    group.add_command(run)
    group.add_command(level)

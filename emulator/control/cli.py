"""The ``scaleunit`` commands that operate a running rack through its control plane:
``status``, ``fault``, ``node``, ``replace``, ``chaos``, ``alert`` and ``events``.

Each finds the rack from ``--url``/``--token``, ``SCALEUNIT_URL``/``SCALEUNIT_TOKEN`` or the
state directory's control.json (``--state-dir``; without it, the only running rack's, found in
the registry of running racks, and when several run the CLI lists them and asks which, or on a
non-interactive terminal says so and exits 1; with none, the user data directory). A failure
prints one ``error: ...`` line and exits 1; ``--format json`` prints what the API answered.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from emulator.chaos import MAX_MEAN_INTERVAL_S, MIN_MEAN_INTERVAL_S
from emulator.control.client import ClientError, ControlClient, SeveralRacks, locate
from emulator.control.schemas import MAX_DELAY_S, MAX_SEED, MAX_TIME
from emulator.logs import kv

F = TypeVar("F", bound=Callable[..., Any])

ACTIONS = ("drain", "resume", "stop", "start", "shutdown", "repair", "add")
PART_KINDS = ("psu", "fan", "dimm", "data-disk", "boot-drive", "nic")


def label(value: str) -> str:
    """``requires-remediation`` -> ``Requires Remediation`` (the portal's names)."""
    return " ".join(word.capitalize() for word in value.split("-"))


def _when(at: float | None) -> str:
    """A time of the rack's clock as HH:MM:SS.mmm; one no date can show (a fault stored with a
    huge time by an older version) as its number."""
    if at is None:
        return ""
    try:
        return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%H:%M:%S.%f")[:-3]
    except (OverflowError, ValueError, OSError):
        return f"t={at:g}"


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """Refuses NaN and infinities (click's FloatRange lets NaN through)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


def connection(fn: F) -> F:
    """--url, --token, --state-dir; the command gets ``client`` and errors become one line."""

    @click.option("--url", envvar="SCALEUNIT_URL", help="Control plane URL [SCALEUNIT_URL].")
    @click.option("--token", envvar="SCALEUNIT_TOKEN", help="Bearer token [SCALEUNIT_TOKEN].")
    @click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="The rack's state directory, whose control.json gives URL and token "
        "(default: the running rack's; with several, the CLI asks which; with none, the user "
        "data directory, as for 'up').",
    )
    @functools.wraps(fn)
    def wrapper(url: str | None, token: str | None, state_dir: Path | None, **kw: Any) -> Any:
        try:
            try:
                target = locate(url, token, state_dir)
            except SeveralRacks as several:
                target = locate(url, token, _ask_which(several))
            with ControlClient(target) as client:
                return fn(client=client, **kw)
        except ClientError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(1) from None

    return wrapper  # type: ignore[return-value]


def _ask_which(several: SeveralRacks) -> Path:
    """On a terminal, which of the running racks; otherwise the error that lists them."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise several
    for i, entry in enumerate(several.racks, start=1):
        click.echo(f"{i}. {entry.describe()}", err=True)
    choice: int = click.prompt(
        "Which rack", type=click.IntRange(1, len(several.racks)), err=True, default=1
    )
    return several.racks[choice - 1].state_dir


fmt_option = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)


def _json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


# -- status --------------------------------------------------------------------------------------
@click.command()
@connection
@fmt_option
def status(client: ControlClient, fmt: str) -> None:
    """The scale unit: nodes, switches, states, open alerts."""
    data = client.request("GET", "/status")
    if fmt == "json":
        _json(data)
        return
    console = Console(width=max(Console().width, 120))
    risk = "  STORAGE AT RISK" if data["storage_at_risk"] else ""
    chaos = "  (chaos running)" if data["chaos"] else ""
    console.print(f"{data['name']}: scale unit {label(data['scale_unit'])}{risk}{chaos}")
    nodes = Table(title="nodes")
    for col in ("node", "status", "power", "host", "BMC", "health", "VMs", "faults"):
        nodes.add_column(col)
    for n in data["nodes"]:
        nodes.add_row(
            n["name"],
            label(n["status"]) + (f" ({n['operation']})" if n.get("operation") else ""),
            label(n["power_state"]),
            n["host_state"],
            "ok" if n["bmc_reachable"] else "no answer",
            n["health"],
            str(n["vms"]),
            ", ".join(n["faults"]),
        )
    console.print(nodes)
    switches = Table(title="switches")
    for col in ("switch", "role", "state", "managed", "faults"):
        switches.add_column(col)
    for sw in data["switches"]:
        switches.add_row(
            sw["name"],
            sw["role"],
            "up" if sw["up"] else "down",
            "yes" if sw["managed"] else "no",
            ", ".join(sw["faults"]),
        )
    console.print(switches)
    _alerts_table(console, data["alerts"], "open alerts")


def _alerts_table(console: Console, alerts: list[dict[str, Any]], title: str) -> None:
    if not alerts:
        console.print(f"{title}: none")
        return
    table = Table(title=title)
    for col in ("id", "severity", "component", "title", "opened", "closed"):
        table.add_column(col)
    for a in alerts:
        closed = f"{_when(a['closed_at'])} ({a['closed_by']})" if a["closed_at"] else ""
        table.add_row(
            a["id"], a["severity"], a["component"], a["title"], _when(a["opened_at"]), closed
        )
    console.print(table)


# -- faults --------------------------------------------------------------------------------------
@click.group()
def fault() -> None:
    """Inject, clear and list faults."""


def _fault_line(f: dict[str, Any]) -> str:
    part = f" {f['part']}" if f["part"] else ""
    when = {
        "scheduled": f"at {_when(f['scheduled_for'])}",
        "active": f"since {_when(f['injected_at'])}",
        "cleared": f"by {f['cleared_by']} at {_when(f['cleared_at'])}",
    }.get(f["state"], "")
    detail = f": {f['detail']}" if f["detail"] else ""
    return f"{f['id']} {f['kind']} {f['device']}{part} {f['state']} {when}{detail}"


@fault.command("inject")
@connection
@click.argument("device")
@click.argument("kind")
@click.argument("part", required=False)
@click.option(
    "--at",
    "at",
    type=click.FloatRange(min=0, max=MAX_TIME),
    callback=_finite,
    default=None,
    help="Emulated time (epoch seconds).",
)
@click.option(
    "--in",
    "in_s",
    type=click.FloatRange(min=0, max=MAX_DELAY_S),
    callback=_finite,
    default=None,
    help="Emulated seconds from now (at most ten years).",
)
@click.option("--version", "version", default=None, help="firmware-drift: the version to set.")
@fmt_option
def fault_inject(
    client: ControlClient,
    device: str,
    kind: str,
    part: str | None,
    at: float | None,
    in_s: float | None,
    version: str | None,
    fmt: str,
) -> None:
    """Inject fault KIND on DEVICE (a node or switch), on PART if it names one.

    Example: scaleunit fault inject n02 psu-both; scaleunit fault kinds lists them."""
    if at is not None and in_s is not None:
        raise click.UsageError("give --at or --in, not both")
    body = {"kind": kind, "device": device, "part": part, "at": at, "in_s": in_s}
    body["version"] = version
    rec = client.request("POST", "/faults", {k: v for k, v in body.items() if v is not None})
    if fmt == "json":
        _json(rec)
    else:
        click.echo(_fault_line(rec))


@fault.command("clear")
@connection
@click.argument("fault_id", metavar="ID")
@fmt_option
def fault_clear(client: ControlClient, fault_id: str, fmt: str) -> None:
    """Clear fault ID (or cancel it while it is scheduled)."""
    rec = client.request("DELETE", f"/faults/{fault_id}")
    click.echo(json.dumps(rec, indent=2) if fmt == "json" else _fault_line(rec))


@fault.command("list")
@connection
@click.option("--all", "show_all", is_flag=True, help="Also the cleared ones.")
@fmt_option
def fault_list(client: ControlClient, show_all: bool, fmt: str) -> None:
    """The scheduled and active faults (--all: every one)."""
    records = client.request("GET", "/faults")
    if not show_all:
        records = [r for r in records if r["state"] != "cleared"]
    if fmt == "json":
        _json(records)
        return
    if not records:
        click.echo("no faults" if show_all else "no active or scheduled faults")
    for rec in records:
        click.echo(_fault_line(rec))


@fault.command("kinds")
@connection
@fmt_option
def fault_kinds(client: ControlClient, fmt: str) -> None:
    """The fault catalogue: each kind, its scope and the part it names."""
    kinds = client.request("GET", "/faults/catalogue")
    if fmt == "json":
        _json(kinds)
        return
    table = Table()
    for col in ("kind", "scope", "part", "what happens"):
        table.add_column(col)
    for k in kinds:
        table.add_row(k["name"], k["scope"], k["part"] or "", k["summary"])
    Console(width=max(Console().width, 140)).print(table)


# -- node actions --------------------------------------------------------------------------------
@click.group()
def node() -> None:
    """Operator actions on a node: drain, resume, stop, start, shutdown, repair, add."""


def _node_action(action: str, doc: str) -> click.Command:
    @connection
    @click.argument("name")
    @fmt_option
    def run(client: ControlClient, name: str, fmt: str, **kw: Any) -> None:
        address = kw.get("bmc_address")
        body = {"bmc_address": address} if address else None
        out = client.request("POST", f"/nodes/{name}/{action}", body)
        if fmt == "json":
            _json(out)
            return
        click.echo(
            f"{name}: {action} accepted; {name} is {label(out['status'])} (power "
            f"{label(out['power_state'])}); scale unit {label(out['scale_unit'])}"
        )

    run.__doc__ = doc
    if action in ("repair", "add"):
        run = click.option("--bmc-address", default=None, help="The node's BMC address.")(run)
    return click.command(action)(run)


for _action, _doc in (
    ("drain", "Running -> Maintenance: the node's VMs move to the others."),
    ("resume", "Back to Running (workloads do not move back by themselves)."),
    ("stop", "Power off through the BMC, like the power button."),
    ("start", "Power on through the BMC; Resume once its OS runs."),
    ("shutdown", "Drain, then shut the OS down gracefully."),
    ("repair", "Redeploy the node through its BMC (about 3 emulated hours)."),
    ("add", "Add a node of the rack to the scale unit."),
):
    node.add_command(_node_action(_action, _doc))


# -- replacement ---------------------------------------------------------------------------------
@click.group()
def replace() -> None:
    """Hardware replacement: a whole node, a part, a switch."""


def _replaced(out: dict[str, Any], fmt: str, what: str) -> None:
    if fmt == "json":
        _json(out)
        return
    line = f"{out['device']}: {what} replaced"
    if out.get("serial"):
        line += f"; serial {out['serial']}"
    if out.get("username"):
        line += f"; factory BMC credentials {out['username']} / {out['password']}"
    click.echo(line)
    if out.get("firmware"):
        versions = ", ".join(f"{k} {v}" for k, v in sorted(out["firmware"].items()))
        click.echo(f"factory firmware: {versions}")


def _firmware(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> Any:
    out = {}
    for item in value:
        component, sep, version = item.partition("=")
        if not sep or not component or not version:
            raise click.BadParameter(f"{item!r} is not COMPONENT=VERSION (e.g. bios=2.26.0)")
        out[component] = version
    return out or None


@replace.command("node")
@connection
@click.argument("name")
@click.option("--serial", default=None, help="The new node's serial (default: made up).")
@click.option(
    "--firmware",
    multiple=True,
    callback=_firmware,
    help="COMPONENT=VERSION factory firmware (default: one version behind the topology's).",
)
@click.option(
    "--cpu-model",
    default=None,
    metavar="MODEL",
    help="Its processors' model (default: the topology's; another one: a wrong delivery).",
)
@fmt_option
def replace_node(
    client: ControlClient,
    name: str,
    serial: str | None,
    firmware: Any,
    cpu_model: str | None,
    fmt: str,
) -> None:
    """A whole replacement node arrives in NAME's slot (shut it down first)."""
    body = {"node": name, "serial": serial, "firmware": firmware, "cpu_model": cpu_model}
    out = client.request("POST", "/replace/node", {k: v for k, v in body.items() if v})
    _replaced(out, fmt, "node")


@replace.command("part")
@connection
@click.argument("name")
@click.argument("kind", type=click.Choice(PART_KINDS))
@click.argument("target")
@fmt_option
def replace_part(client: ControlClient, name: str, kind: str, target: str, fmt: str) -> None:
    """A new part KIND TARGET in node NAME (e.g. psu PSU1, fan Fan3, dimm A1, nic nic1)."""
    out = client.request("POST", "/replace/part", {"node": name, "kind": kind, "target": target})
    _replaced(out, fmt, f"{kind} {target}")


@replace.command("switch")
@connection
@click.argument("name")
@click.option("--serial", default=None, help="The new switch's serial (default: made up).")
@fmt_option
def replace_switch(client: ControlClient, name: str, serial: str | None, fmt: str) -> None:
    """A replacement switch arrives: new serial, factory configuration."""
    body = {"switch": name, **({"serial": serial} if serial else {})}
    _replaced(client.request("POST", "/replace/switch", body), fmt, "switch")


# -- alerts --------------------------------------------------------------------------------------
@click.group()
def alert() -> None:
    """List and close alerts."""


@alert.command("list")
@connection
@click.option("--all", "show_all", is_flag=True, help="Also the closed ones.")
@fmt_option
def alert_list(client: ControlClient, show_all: bool, fmt: str) -> None:
    """The open alerts (--all: every one)."""
    alerts = client.request("GET", "/alerts", open_only=not show_all)
    if fmt == "json":
        _json(alerts)
        return
    _alerts_table(Console(width=max(Console().width, 120)), alerts, "alerts")


@alert.command("close")
@connection
@click.argument("alert_id", metavar="ID")
def alert_close(client: ControlClient, alert_id: str) -> None:
    """Close alert ID by hand (a hardware alert after a swap)."""
    out = client.request("POST", f"/alerts/{alert_id}/close")
    click.echo(f"{out['id']} closed: {out['title']} ({out['component']})")


# -- chaos ---------------------------------------------------------------------------------------
@click.group()
def chaos() -> None:
    """Random faults from a seed (reproducible)."""


def _chaos_line(out: dict[str, Any]) -> str:
    if not out["running"] and out.get("seed") is None:
        return "chaos is not running"
    kinds = ", ".join(out["kinds"]) if out["kinds"] else "every kind"
    state = "running" if out["running"] else "stopped"
    return (
        f"chaos {state}: seed {out['seed']}, a fault every {out['mean_interval_s']:g} s on "
        f"average, at most {out['max_active']} active, from {kinds}"
    )


@chaos.command("start")
@connection
@click.option("--seed", type=click.IntRange(0, MAX_SEED), required=True)
@click.option(
    "--mean-interval",
    type=click.FloatRange(min=MIN_MEAN_INTERVAL_S, max=MAX_MEAN_INTERVAL_S),
    callback=_finite,
    default=600.0,
    show_default=True,
    help="Emulated seconds between faults, on average (1 s to 30 days).",
)
@click.option("--kind", "kinds", multiple=True, help="A fault kind to draw (repeat; default all).")
@click.option("--max-active", type=click.IntRange(min=1), default=1, show_default=True)
def chaos_start(
    client: ControlClient,
    seed: int,
    mean_interval: float,
    kinds: tuple[str, ...],
    max_active: int,
) -> None:
    """Start injecting random faults."""
    body: dict[str, Any] = {"seed": seed, "mean_interval_s": mean_interval}
    body["max_active"] = max_active
    if kinds:
        body["kinds"] = list(kinds)
    click.echo(_chaos_line(client.request("POST", "/chaos", body)))


@chaos.command("stop")
@connection
def chaos_stop(client: ControlClient) -> None:
    """Stop injecting (active faults stay until cleared)."""
    click.echo(_chaos_line(client.request("DELETE", "/chaos")))


@chaos.command("status")
@connection
def chaos_status(client: ControlClient) -> None:
    """Whether chaos runs, and with what settings."""
    click.echo(_chaos_line(client.request("GET", "/chaos")))


# -- events --------------------------------------------------------------------------------------
_HEAD = ("seq", "type", "device", "at")
#: Long texts left out of the one-line form (--json has them).
_LONG = ("description", "remediation")


def event_line(e: dict[str, Any]) -> str:
    fields = {k: v for k, v in e.items() if k not in _HEAD and k not in _LONG}
    record = fields.pop("record", None)
    if isinstance(record, dict):
        fields["record_id"] = record.get("record_id")
        fields["message"] = record.get("message")
    seq = f"{e['seq']:>6} " if "seq" in e else ""
    shown = {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in fields.items()}
    return f"{seq}{_when(e.get('at'))} {e.get('device', '-')} {e['type']} {kv(**shown)}".rstrip()


@click.command()
@connection
@click.option("--follow", "-f", is_flag=True, help="Keep printing events as they happen.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--since", type=click.IntRange(min=0), default=None, help="After this seq.")
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="Recent events."
)
@click.option(
    "--count", type=click.IntRange(min=1), default=None, help="With --follow: stop after N."
)
def events(
    client: ControlClient,
    follow: bool,
    as_json: bool,
    since: int | None,
    limit: int,
    count: int | None,
) -> None:
    """Recent events (power, SEL, links, traps, faults, alerts, actions); --follow streams."""

    def show(e: dict[str, Any]) -> None:
        click.echo(json.dumps(e) if as_json else event_line(e))

    if not follow:
        for e in client.request("GET", "/events", since=since, limit=limit)["events"]:
            show(e)
        return
    try:
        for shown, e in enumerate(client.stream("/events/stream", since=since), start=1):
            if e["type"] == "stream.closed":
                click.echo(f"the stream ended: {e['reason']}", err=True)
                return
            if e["type"] == "stream.dropped":
                click.echo(f"error: the control plane dropped the stream: {e['reason']}", err=True)
                raise SystemExit(1)
            show(e)
            if count is not None and shown >= count:
                return
    except KeyboardInterrupt:  # Ctrl-C ends a follow quietly
        return


COMMANDS = (status, fault, node, replace, alert, chaos, events)


def register(group: click.Group) -> None:
    """Add the control plane's commands to the ``scaleunit`` group."""
    for command in COMMANDS:
        group.add_command(command)

"""The ``scaleunit`` command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import sys
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from emulator import compose as compose_cli
from emulator import logs
from emulator import topology as topo
from emulator.control import registry
from emulator.control.cli import register as register_control
from emulator.controller import cli as controller_cli
from emulator.endpoints import Endpoint, plan_endpoints
from emulator.errors import StartupError, TopologyError
from emulator.lab import cli as lab_cli
from nodes import firmware as fw
from nodes.errors import InvalidArgument


def _load(path: Path | None, nodes: int | None = None) -> topo.Topology:
    try:
        if path is None:
            return topo.default(nodes or 4)
        if nodes is not None:
            raise click.UsageError("--nodes applies to the built-in rack; not with --topology")
        return topo.load(path)
    except TopologyError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        raise SystemExit(1) from None


def _hint(endpoint: Endpoint) -> str:
    if endpoint.protocol == "control":
        return "bearer token (control.json in the state directory)"
    if endpoint.protocol == "workload":
        return "none (connect, read a JSON line)"
    if endpoint.protocol == "snmp":
        rw = f", {endpoint.password} (rw)" if endpoint.password else ""
        note = f"; {endpoint.note}" if endpoint.note else ""
        return f"v2c {endpoint.username} (ro){rw}{note}"
    if endpoint.protocol == "snmp-trap":
        to = ", ".join(endpoint.receivers)
        return f"v3 user {endpoint.username} to {to} (keys: --format json)"
    if endpoint.password == topo.DEFAULT_PASSWORD:
        return f"{endpoint.username} / {endpoint.password}"
    return f"{endpoint.username} / (see: scaleunit endpoints --format json)"


def _table(title: str, endpoints: list[Endpoint]) -> Table:
    table = Table(title=title)
    for column in ("device", "protocol", "address:port", "scheme", "credentials"):
        table.add_column(column)
    for e in endpoints:
        scheme = e.scheme or ("rmcp+" if e.protocol == "ipmi" else "")
        table.add_row(e.device, e.protocol, f"{e.address}:{e.port}", scheme, _hint(e))
    return table


def _register(state_dir: Path, control: Any, rack: str) -> bool:
    """Put the rack in the registry of running racks (emulator.control.registry), so the
    CLI finds it without --state-dir; a registry that cannot be written is a warning."""
    if control is None:
        return False
    try:
        registry.register(state_dir, control.url, rack)
    except OSError as exc:
        click.echo(f"warning: the rack is not in the registry of running racks: {exc}", err=True)
        return False
    return True


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed (it comes with uvicorn[standard]): bench/ipmi.py
    measured about 15% less server CPU per IPMI round trip than asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


@contextlib.asynccontextmanager
async def serving(runtime: Any) -> AsyncIterator[asyncio.Event]:
    """Start ``runtime`` and put it in the registry of running racks; yield the event that
    SIGINT or SIGTERM sets; then take it out of the registry and stop it (``up``, ``lab``)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start()
    registered = _register(runtime.state_dir, runtime.control, runtime.topology.name)
    try:
        yield stop
    finally:
        if registered:
            registry.unregister(runtime.state_dir)
        await runtime.stop()


topology_option = click.option(
    "--topology",
    "topology_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Topology YAML file (default: the built-in 4-node rack).",
)
nodes_option = click.option(
    "--nodes",
    type=click.IntRange(topo.MIN_NODES, topo.MAX_NODES),
    default=None,
    help="Nodes in the built-in rack (4 to 16).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="scaleunit")
def main() -> None:
    """scaleunit: a datacenter scale unit (nodes, BMCs, switches) emulated on one machine."""


@main.command()
@topology_option
@nodes_option
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True, max=10_000),
    default=1.0,
    show_default=True,
    help="Emulated seconds per real second.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the rack keeps its state: a SQLite database (SEL, users, firmware, BIOS, switch "
    "configurations, faults, alerts; every acknowledged change is committed) and the Redfish TLS "
    "certificate. One rack per directory. "
    "Default: the user data directory (platformdirs), e.g. ~/.local/share/scaleunit.",
)
@click.option(
    "--fresh",
    is_flag=True,
    default=False,
    help="Start over: forget the state kept in --state-dir (a new rack, as built).",
)
@click.option(
    "--token",
    envvar="SCALEUNIT_TOKEN",
    default=None,
    help="The control plane's bearer token [SCALEUNIT_TOKEN] (default: a new random one). "
    "It is written with the URL to control.json in the state directory (mode 0600).",
)
@click.option(
    "--power-on",
    is_flag=True,
    default=False,
    help="Start a new rack as a deployed scale unit: power every node on (each is Running in "
    "service once its OS is up). A restored rack's power follows each node's power-restore policy.",
)
def up(
    topology_path: Path | None,
    nodes: int | None,
    speed: float,
    log_level: str,
    state_dir: Path | None,
    fresh: bool,
    token: str | None,
    power_on: bool,
) -> None:
    """Start the rack and serve every endpoint until Ctrl-C."""
    logs.setup(log_level)
    topology = _load(topology_path, nodes)
    console = Console()

    from emulator.runtime import RackRuntime  # the protocol stack, only when serving

    async def run() -> None:
        runtime = RackRuntime(
            topology, speed=speed, state_dir=state_dir, fresh=fresh, token=token, power_on=power_on
        )
        async with serving(runtime) as stop:
            console.print(
                _table(
                    f"{topology.name}: {len(topology.nodes)} nodes, speed x{speed:g}",
                    runtime.endpoints,
                )
            )
            first = runtime.endpoints[0]
            port = "" if first.port == 623 else f" -p {first.port}"
            if runtime.state is not None:
                click.echo(
                    f"state: {runtime.state.path} "
                    + (
                        "(the rack as it was left; --fresh starts over)"
                        if runtime.state.restored
                        else "(new: the rack as built)"
                    )
                )
            click.echo(
                f"ready in {runtime.started_in * 1000:.0f} ms. Try: ipmitool -I lanplus "
                f"-H {first.address}{port} -U {first.username} -P <password> chassis power on\n"
                + "".join(
                    f"     snmpwalk -v2c -c {e.username} {e.address}:{e.port} 1.3.6.1.2.1.1\n"
                    for e in runtime.endpoints
                    if e.protocol == "snmp" and e.device == topology.switches[0].name
                )
                + (
                    f"     scaleunit status --state-dir {runtime.state_dir}   "
                    f"(control plane {runtime.control.url})\n"
                    f"     rack view: {runtime.control.url}/ui?token={runtime.token}\n"
                    if runtime.control is not None
                    else ""
                )
                + "Ctrl-C stops."
            )
            sys.stdout.flush()
            await stop.wait()
        console.print("stopped")

    try:
        _run_loop(run())
    except StartupError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None


@main.command()
@topology_option
@nodes_option
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def endpoints(topology_path: Path | None, nodes: int | None, fmt: str) -> None:
    """Print every endpoint the rack serves (device, protocol, address, port, credentials)."""
    topology = _load(topology_path, nodes)
    eps = plan_endpoints(topology)
    if fmt == "json":
        click.echo(json.dumps([e.as_dict() for e in eps], indent=2))
    else:
        Console().print(_table(topology.name, eps))


@main.group()
def topology() -> None:
    """Check and create topology files."""


@topology.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def validate(file: Path) -> None:
    """Check FILE and explain every error (file:line: key: message)."""
    try:
        t = topo.load(file)
    except TopologyError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        click.echo(f"{file}: {len(exc.problems)} error(s)", err=True)
        raise SystemExit(1) from None
    click.echo(
        f"{file}: ok ({len(t.nodes)} nodes, {len(t.switches)} switches, {len(t.cabling)} cables)"
    )


@topology.command()
@click.option(
    "--nodes", type=click.IntRange(topo.MIN_NODES, topo.MAX_NODES), default=4, show_default=True
)
@click.option("--name", default=None, help="Rack name (default: scaleunit-N).")
@click.option(
    "--base-address",
    default="127.0.1.0",
    show_default=True,
    help="The BMC network: gateway .1, HLH .2, nodes from .3.",
)
@click.option("--ipmi-port", type=click.IntRange(1, 65535), default=623, show_default=True)
@click.option(
    "--ipmi-fallback-port", type=click.IntRange(1024, 65535), default=6230, show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=None,
    help="Write to FILE (default, or -: standard output).",
)
def init(
    nodes: int,
    name: str | None,
    base_address: str,
    ipmi_port: int,
    ipmi_fallback_port: int,
    output: Path | None,
) -> None:
    """Write a standard rack's topology (to stdout, or -o FILE; -o - is stdout too)."""
    try:
        text = topo.generate(
            nodes,
            name=name,
            base_address=base_address,
            ipmi_port=ipmi_port,
            ipmi_fallback_port=ipmi_fallback_port,
        )
        topo.load_text(text, "<generated>")
    except (ValueError, TopologyError) as exc:
        raise click.BadParameter(str(exc)) from None
    if output is None or str(output) == "-":
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


# -- firmware images ------------------------------------------------------------------------------
_SIZE_UNITS = {"": 1, "b": 1, "kib": 1024, "mib": 1024**2, "kb": 1000, "mb": 1000**2}
_SIZE = re.compile(r"(\d+)\s*([a-z]*)")


def _byte_size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """A byte count: 4096, 256KiB, 1MiB, 100kB, 2MB."""
    if value is None:
        return None
    match = _SIZE.fullmatch(value.strip().lower())
    if match is None or match.group(2) not in _SIZE_UNITS:
        raise click.BadParameter(f"{value!r} is not a size like 4096, 256KiB or 1MiB")
    size = int(match.group(1)) * _SIZE_UNITS[match.group(2)]
    if size > fw.MAX_PAYLOAD:
        raise click.BadParameter(f"{value} is more than the {fw.MAX_PAYLOAD // 1024**2} MiB limit")
    return size


@main.group()
def firmware() -> None:
    """Make and inspect firmware images for the BMCs' update service."""


@firmware.command()
@click.option("--component", type=click.Choice(fw.IMAGE_COMPONENTS), required=True)
@click.option("--model", default="CS-2400", show_default=True, help="Hardware model it is for.")
@click.option("--version", "version", required=True, help="Version string, e.g. 2.28.0.")
@click.option(
    "--size", callback=_byte_size, default=None, help="Filler payload size, e.g. 1MiB [256KiB]."
)
@click.option(
    "--payload",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Use this file as the payload instead of filler.",
)
@click.option(
    "--corrupt",
    is_flag=True,
    help="Test aid: flip a payload byte after hashing, so the image fails its checksum.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def make(
    component: str,
    model: str,
    version: str,
    size: int | None,
    payload: Path | None,
    corrupt: bool,
    output: Path,
) -> None:
    """Write a firmware image: a header naming component, model, version and SHA-256."""
    if size is not None and payload is not None:
        raise click.UsageError("give --size or --payload, not both")
    try:
        if payload is not None:
            if payload.stat().st_size > fw.MAX_PAYLOAD:
                raise click.BadParameter(
                    f"{payload} is larger than {fw.MAX_PAYLOAD} bytes", param_hint="--payload"
                )
            data = fw.build_image(component, model, version, payload.read_bytes())
        else:
            data = fw.build_image(
                component, model, version, size=256 * 1024 if size is None else size
            )
        if corrupt:
            data = fw.corrupt_image(data)
    except InvalidArgument as exc:
        raise click.UsageError(str(exc)) from None
    output.write_bytes(data)
    note = " (deliberately corrupt)" if corrupt else ""
    click.echo(f"wrote {output}: {component} {version} for {model}, {len(data)} bytes{note}")


@firmware.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def inspect(file: Path, fmt: str) -> None:
    """Print FILE's header and whether its checksum holds (exit 1 if it is no good image)."""
    data = file.read_bytes()
    try:
        header = fw.read_header(data)
    except InvalidArgument as exc:
        click.echo(f"error: {file}: {exc}", err=True)
        raise SystemExit(1) from None
    problem: str | None = None
    try:
        fw.verify_payload(header, data)
    except InvalidArgument as exc:
        problem = str(exc)
    fields = {
        "component": header.component,
        "model": header.model,
        "version": header.version,
        "format_version": header.format_version,
        "payload_bytes": header.payload_size,
        "sha256": header.sha256.hex(),
        "checksum_ok": problem is None,
    }
    if fmt == "json":
        click.echo(json.dumps({"file": str(file), **fields, "error": problem}, indent=2))
    else:
        for key, value in fields.items():
            shown = ("ok" if value else "MISMATCH") if key == "checksum_ok" else value
            click.echo(f"{key.replace('_ok', ''):15} {shown}")
    if problem is not None:
        click.echo(f"error: {file}: {problem}", err=True)
        raise SystemExit(1)


# -- operating a running rack (emulator.control) ---------------------------------------------------
register_control(main)
main.add_command(compose_cli.compose)  # emulator.compose: scaleunit compose generate
controller_cli.register(main)  # issue 12: scaleunit run, scaleunit level
main.add_command(lab_cli.lab)  # issue 14: scaleunit lab


if __name__ == "__main__":
    main()

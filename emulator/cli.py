"""The ``scaleunit`` command line."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from emulator import logs
from emulator import topology as topo
from emulator.endpoints import Endpoint, StartupError, plan_endpoints


def _load(path: Path | None, nodes: int | None = None) -> topo.Topology:
    try:
        if path is None:
            return topo.default(nodes or 4)
        if nodes is not None:
            raise click.UsageError("--nodes applies to the built-in rack; not with --topology")
        return topo.load(path)
    except topo.TopologyError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        raise SystemExit(1) from None


def _hint(endpoint: Endpoint) -> str:
    if endpoint.password == topo.DEFAULT_PASSWORD:
        return f"{endpoint.username} / {endpoint.password}"
    return f"{endpoint.username} / (see: scaleunit endpoints --format json)"


def _table(title: str, endpoints: list[Endpoint]) -> Table:
    table = Table(title=title)
    for column in ("device", "protocol", "address:port", "credentials"):
        table.add_column(column)
    for e in endpoints:
        table.add_row(e.device, e.protocol, f"{e.address}:{e.port}", _hint(e))
    return table


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
def up(topology_path: Path | None, nodes: int | None, speed: float, log_level: str) -> None:
    """Start the rack and serve every endpoint until Ctrl-C."""
    logs.setup(log_level)
    topology = _load(topology_path, nodes)
    console = Console()

    from emulator.runtime import RackRuntime  # the protocol stack, only when serving

    async def run() -> None:
        runtime = RackRuntime(topology, speed=speed)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await runtime.start()
        try:
            console.print(
                _table(
                    f"{topology.name}: {len(topology.nodes)} nodes, speed x{speed:g}",
                    runtime.endpoints,
                )
            )
            console.print(
                f"ready in {runtime.started_in:.2f} s. Try: ipmitool -I lanplus -H "
                f"{runtime.endpoints[0].address} -p {runtime.endpoints[0].port} -U "
                f"{runtime.endpoints[0].username} -P <password> chassis power on. Ctrl-C stops."
            )
            sys.stdout.flush()
            await stop.wait()
        finally:
            await runtime.stop()
            console.print("stopped")

    try:
        asyncio.run(run())
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
    except topo.TopologyError as exc:
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
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def init(
    nodes: int,
    name: str | None,
    base_address: str,
    ipmi_port: int,
    ipmi_fallback_port: int,
    output: Path | None,
) -> None:
    """Write a standard rack's topology (to stdout, or -o FILE)."""
    try:
        text = topo.generate(
            nodes,
            name=name,
            base_address=base_address,
            ipmi_port=ipmi_port,
            ipmi_fallback_port=ipmi_fallback_port,
        )
        topo.load_text(text, "<generated>")
    except (ValueError, topo.TopologyError) as exc:
        raise click.BadParameter(str(exc)) from None
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


if __name__ == "__main__":
    main()

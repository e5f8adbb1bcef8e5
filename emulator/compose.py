"""``scaleunit compose generate``: the rack under docker compose, every device at its own address.

The architecture (README "Docker compose"):

* **One rack service.** One ``scaleunit up`` process holds the whole model, as on a laptop; the
  stack does not split it. Its container is on two compose networks with fixed subnets, the
  **management** network (every BMC, every switch, the control plane) and the **data** network
  (each node's workload endpoint). At start it adds every device's address to its interface on
  that network as a secondary address (``compose/rack-entrypoint.sh``, ``ip addr replace``,
  ``cap_add: [NET_ADMIN]``), so each front end binds its own address on its standard port (IPMI
  623/udp and Redfish 443/tcp per BMC, SNMP 161/udp and SSH 22/tcp per switch). Other containers
  on the network reach a BMC exactly as a real one: ARP, then the BMC's address.
* **The addresses** are the topology's, moved onto the networks: an address outside the subnet
  keeps its host part (127.0.1.3 becomes 10.123.1.3 on 10.123.0.0/16), one inside it stays.
  The subnet's gateway (.1) and the rack container's own address (.2) are reserved, and the upper
  half of each subnet is the IPAM ``ip_range`` that docker gives other containers, so a device
  address never collides with a container's.
* **A device lost in the model** stops answering on the wire, because the front ends ask the
  fabric before they answer (``emulator.fabric``): from another container a lost BMC is as
  silent as on loopback.
* **State** lives on a named volume (``/var/lib/scaleunit``), so ``docker compose restart`` and
  ``down``/``up`` (without ``-v``) bring the rack back as it was left. The healthcheck is the
  control plane's ``/status`` through ``scaleunit status``: healthy once every front end serves.
* One image for every service (``compose/Dockerfile``): the rack, the controller
  (``profiles: [controller]``) and a client with ipmitool, net-snmp, OpenSSH and curl
  (``profiles: [client]``).

:func:`generate` returns the two files (the compose file and the re-addressed topology);
nothing here touches docker.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import click
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from emulator import topology as topo
from emulator.errors import ComposeError, TopologyError

DEFAULT_MGMT_SUBNET = "10.123.0.0/16"
DEFAULT_DATA_SUBNET = "10.124.0.0/16"
DEFAULT_IMAGE = "scaleunit:local"
#: Where the rack service reads its topology and keeps its state (compose/rack-entrypoint.sh).
TOPOLOGY_IN_CONTAINER = "/etc/scaleunit/topology.yaml"
STATE_IN_CONTAINER = "/var/lib/scaleunit"
#: The project's source tree, when this is a checkout (the compose file's build context).
SOURCE_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Network:
    """A compose network: its subnet, gateway, the rack container's address and the IPAM range
    left to docker for other containers (the upper half)."""

    name: str
    subnet: IPv4Network

    @property
    def gateway(self) -> IPv4Address:
        return self.subnet.network_address + 1

    @property
    def rack_address(self) -> IPv4Address:
        return self.subnet.network_address + 2

    @property
    def ip_range(self) -> IPv4Network:
        return list(self.subnet.subnets(prefixlen_diff=1))[1]

    def place(self, address: IPv4Address) -> IPv4Address:
        """``address`` on this network: unchanged inside the subnet, else its host part."""
        if address in self.subnet:
            return address
        return self.subnet.network_address + (int(address) & int(self.subnet.hostmask))

    def check(self, device: str, address: IPv4Address) -> None:
        reserved = {
            self.subnet.network_address: "the network address",
            self.gateway: "the network's gateway",
            self.rack_address: "the rack container's own address",
            self.subnet.broadcast_address: "the broadcast address",
        }
        if address in reserved:
            raise ComposeError(
                f"{device}: {address} is {reserved[address]} on the {self.name} network "
                f"{self.subnet}; give the device another address in the topology"
            )
        if address in self.ip_range:
            raise ComposeError(
                f"{device}: {address} is in the {self.name} network's range for containers "
                f"({self.ip_range}); device addresses must be in the lower half of {self.subnet}"
            )


def _network(name: str, subnet: str) -> Network:
    try:
        net = IPv4Network(subnet)
    except ValueError as exc:
        raise ComposeError(f"--{name}-subnet {subnet}: {exc}") from None
    if net.prefixlen > 24:
        raise ComposeError(
            f"--{name}-subnet {subnet}: at least a /24 is needed, not /{net.prefixlen}"
        )
    return Network(name, net)


@dataclass(frozen=True)
class Stack:
    """What :func:`generate` writes: ``compose.yaml`` and ``topology.yaml``."""

    compose: str
    topology: str
    #: every device address on each network, for the entry point (and the tests)
    mgmt_addresses: tuple[IPv4Address, ...]
    data_addresses: tuple[IPv4Address, ...]
    mgmt: Network
    data: Network


def readdress(text: str, file: str, mgmt: Network, data: Network) -> tuple[str, topo.Topology]:
    """The topology text with every device on the compose networks (comments and anchors kept)
    and the control plane on the rack container's management address, port fixed."""
    topology = topo.load_text(text, file)
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    tree = yaml.load(io.StringIO(text))  # valid: load_text read it
    for i, spec in enumerate(topology.nodes):
        node = tree["nodes"][i]
        node["bmc"]["address"] = str(mgmt.place(spec.bmc.address))
        if spec.bmc.gateway is not None:
            node["bmc"]["gateway"] = str(mgmt.place(spec.bmc.gateway))
        node["host_address"] = str(data.place(topology.host_address(spec)))
    for k, switch in enumerate(topology.switches):
        tree["switches"][k]["address"] = str(mgmt.place(topology.switch_address(switch)))
    control = tree.get("control")
    if control is None:
        control = tree["control"] = CommentedMap()
    control["address"] = str(mgmt.rack_address)
    control["port"] = topology.control.port or 8470
    control["fallback_port"] = None  # a known URL: a taken port is an error, not another port
    out = io.StringIO()
    yaml.dump(tree, out)
    header = (
        f"# The topology {Path(file).name} on the compose networks (management {mgmt.subnet}, "
        f"data {data.subnet}).\n# Written by `scaleunit compose generate`; regenerate rather "
        "than edit.\n"
    )
    result = header + out.getvalue()
    return result, topo.load_text(result, f"{file} (re-addressed)")


def generate(
    text: str,
    file: str = "<topology>",
    *,
    mgmt_subnet: str = DEFAULT_MGMT_SUBNET,
    data_subnet: str = DEFAULT_DATA_SUBNET,
    image: str = DEFAULT_IMAGE,
    build_context: str | None = None,
    scenarios: str | None = None,
    command: str = "generate",
) -> Stack:
    """The compose file and the re-addressed topology for the topology ``text``.
    ``build_context`` (relative to the output directory) adds a ``build:`` section;
    ``scenarios`` is the host directory the controller mounts."""
    mgmt = _network("mgmt", mgmt_subnet)
    data = _network("data", data_subnet)
    if mgmt.subnet.overlaps(data.subnet):
        raise ComposeError(
            f"the management ({mgmt.subnet}) and data ({data.subnet}) subnets overlap"
        )
    topology_text, topology = readdress(text, file, mgmt, data)
    mgmt_addresses = tuple(n.bmc.address for n in topology.nodes) + tuple(
        topology.switch_address(s) for s in topology.switches
    )
    data_addresses = tuple(topology.host_address(n) for n in topology.nodes)
    devices = [n.name for n in topology.nodes] + [s.name for s in topology.switches]
    for device, address in zip(devices, mgmt_addresses, strict=True):
        mgmt.check(device, address)
    for spec, address in zip(topology.nodes, data_addresses, strict=True):
        data.check(f"{spec.name} (host)", address)
    compose = _compose_text(
        topology,
        mgmt,
        data,
        mgmt_addresses,
        data_addresses,
        image=image,
        build_context=build_context,
        scenarios=scenarios,
        source=Path(file).name,
        command=command,
    )
    return Stack(compose, topology_text, mgmt_addresses, data_addresses, mgmt, data)


def _compose_text(
    topology: topo.Topology,
    mgmt: Network,
    data: Network,
    mgmt_addresses: tuple[IPv4Address, ...],
    data_addresses: tuple[IPv4Address, ...],
    *,
    image: str,
    build_context: str | None,
    scenarios: str | None,
    source: str,
    command: str,
) -> str:
    port = topology.control.port
    url = f"http://{mgmt.rack_address}:{port}"
    bmcs = ", ".join(f"{n.name} {n.bmc.address}" for n in topology.nodes)
    switches = ", ".join(f"{s.name} {topology.switch_address(s)}" for s in topology.switches)
    hosts = ", ".join(f"{n.name} {topology.host_address(n)}" for n in topology.nodes)
    lines = [
        f"# {topology.name} under docker compose (compose v2: `docker compose`), from {source}.",
        f'# Written by `scaleunit compose {command}`; README "Docker compose" explains it.',
        f"# BMCs (IPMI 623/udp, Redfish 443/tcp): {bmcs}",
        f"# switches (SNMP 161/udp, SSH 22/tcp): {switches}",
        f"# workloads ({topology.workload.port}/tcp): {hosts}",
        f"# control plane: {url} (bearer token: SCALEUNIT_TOKEN)",
        "",
        "x-scaleunit-image: &image",
        f"  image: ${{SCALEUNIT_IMAGE:-{image}}}",
    ]
    if build_context is not None:
        lines += [
            "  build:",
            f"    context: {build_context}",
            "    dockerfile: compose/Dockerfile",
            "    args:",
            "      BASE_IMAGE: ${BASE_IMAGE:-python:3.11-slim-bookworm}",
        ]
    lines += [
        "",
        "x-scaleunit-env: &control",
        f"  SCALEUNIT_URL: {url}",
        "  SCALEUNIT_TOKEN: ${SCALEUNIT_TOKEN:-scaleunit-compose-lab}",
        "",
        "services:",
        "  rack:",
        "    <<: *image",
        "    init: true  # tini as PID 1 passes SIGTERM on: a restart takes a second, not ten",
        "    cap_add: [NET_ADMIN]  # to add the devices' addresses to its interfaces",
        "    entrypoint: [scaleunit-rack]",
        '    command: ["--power-on", "--speed", "${SCALEUNIT_SPEED:-1}"]',
        "    environment:",
        "      <<: *control",
        f"      SCALEUNIT_MGMT_IP: {mgmt.rack_address}",
        f"      SCALEUNIT_MGMT_ADDRESSES: {' '.join(map(str, mgmt_addresses))}",
        f"      SCALEUNIT_DATA_IP: {data.rack_address}",
        f"      SCALEUNIT_DATA_ADDRESSES: {' '.join(map(str, data_addresses))}",
        "    volumes:",
        f"      - state:{STATE_IN_CONTAINER}",
        f"      - ./topology.yaml:{TOPOLOGY_IN_CONTAINER}:ro",
        "    networks:",
        f"      mgmt: {{ipv4_address: {mgmt.rack_address}}}",
        f"      data: {{ipv4_address: {data.rack_address}}}",
        "    healthcheck:  # ready: the control plane answers /status (it starts last)",
        f"      test: [CMD, scaleunit, status, --state-dir, {STATE_IN_CONTAINER}, --format, json]",
        "      interval: 3s",
        "      timeout: 10s",
        "      retries: 40",
        "      start_period: 5s",
        "    stop_grace_period: 20s",
        "",
        "  # docker compose run --rm controller scaleunit run scenarios/node-repair.yaml",
        "  controller:",
        "    <<: *image",
        "    profiles: [controller]",
        "    init: true",
        "    depends_on: {rack: {condition: service_healthy}}",
        "    working_dir: /work",
        "    environment:",
        "      <<: *control",
        f"      SCALEUNIT_TOPOLOGY: {TOPOLOGY_IN_CONTAINER}",
        "    volumes:",
        f"      - ./topology.yaml:{TOPOLOGY_IN_CONTAINER}:ro",
    ]
    if scenarios is not None:
        lines.append(f"      - {scenarios}:/work/scenarios:ro")
    lines += [
        "      - ./reports:/work/reports",
        "    networks: [mgmt, data]",
        "    command: [scaleunit, --help]",
        "",
        "  # docker compose run --rm client ipmitool -I lanplus -H ADDRESS -U USER -P PASS ...",
        "  client:",
        "    <<: *image",
        "    profiles: [client]",
        "    init: true",
        "    environment: *control",
        "    networks: [mgmt, data]",
        "    command: [sleep, infinity]",
        "",
        "volumes:",
        "  state: {}",
        "",
        "networks:",
    ]
    for net in (mgmt, data):
        lines += [
            f"  {net.name}:",
            "    ipam:",
            "      config:",
            f"        - subnet: {net.subnet}",
            f"          gateway: {net.gateway}",
            f"          ip_range: {net.ip_range}  # other containers; devices use the lower half",
        ]
    return "\n".join(lines) + "\n"


# -- the CLI -----------------------------------------------------------------------------------
@click.group()
def compose() -> None:
    """The rack under docker compose (README "Docker compose")."""


@compose.command("generate")
@click.argument("topology_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Directory for compose.yaml and topology.yaml.",
)
@click.option("--mgmt-subnet", default=DEFAULT_MGMT_SUBNET, show_default=True)
@click.option("--data-subnet", default=DEFAULT_DATA_SUBNET, show_default=True)
@click.option("--image", default=DEFAULT_IMAGE, show_default=True, help="The emulator image.")
def generate_command(
    topology_path: Path, out_dir: Path, mgmt_subnet: str, data_subnet: str, image: str
) -> None:
    """Write the compose file (and the topology on the compose networks) for TOPOLOGY_PATH."""
    context = scenarios = None
    out_abs = out_dir.resolve()
    if (SOURCE_ROOT / "compose" / "Dockerfile").is_file():  # a checkout: build from it
        context = os.path.relpath(SOURCE_ROOT, out_abs)
        scenarios = os.path.join(context, "scenarios")
    try:
        stack = generate(
            topology_path.read_text(encoding="utf-8"),
            str(topology_path),
            mgmt_subnet=mgmt_subnet,
            data_subnet=data_subnet,
            image=image,
            build_context=context,
            scenarios=scenarios,
        )
    except (TopologyError, ComposeError) as exc:
        raise click.ClickException(str(exc)) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "compose.yaml").write_text(stack.compose, encoding="utf-8")
    (out_dir / "topology.yaml").write_text(stack.topology, encoding="utf-8")
    click.echo(
        f"wrote {out_dir / 'compose.yaml'} and {out_dir / 'topology.yaml'}: "
        f"docker compose -f {out_dir / 'compose.yaml'} up -d --wait"
    )

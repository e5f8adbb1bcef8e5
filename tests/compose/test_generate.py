"""`scaleunit compose generate`: the compose file and the topology on the compose networks.
No docker here: these run everywhere (the stack itself is test_stack.py)."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from emulator import compose
from emulator import topology as topo
from emulator.cli import main
from emulator.errors import ComposeError

ROOT = Path(__file__).resolve().parents[2]
RACK4 = ROOT / "examples" / "rack-4.yaml"


def stack_for(text: str, **kw: str) -> compose.Stack:
    return compose.generate(text, "rack.yaml", **kw)


def test_the_shipped_files_are_what_generate_writes_for_the_default_rack() -> None:
    stack = compose.generate(
        RACK4.read_text(), str(RACK4), build_context="..", scenarios="../scenarios"
    )
    assert (ROOT / "compose" / "compose.yaml").read_text() == stack.compose
    assert (ROOT / "compose" / "topology.yaml").read_text() == stack.topology


def test_every_device_moves_onto_the_networks_keeping_its_host_part() -> None:
    stack = stack_for(RACK4.read_text())
    moved = topo.load_text(stack.topology)
    original = topo.load(RACK4)
    assert [str(n.bmc.address) for n in moved.nodes] == [f"10.123.1.{i}" for i in (3, 4, 5, 6)]
    assert [str(moved.switch_address(s)) for s in moved.switches] == [
        "10.123.2.1",
        "10.123.2.2",
        "10.123.2.3",
    ]
    assert [str(moved.host_address(n)) for n in moved.nodes] == [
        f"10.124.3.{i}" for i in (1, 2, 3, 4)
    ]
    assert moved.control.address == IPv4Address("10.123.0.2") and moved.control.port == 8470
    assert moved.control.fallback_port is None  # a known URL, or an error
    # everything else is the rack as written: serials, firmware, cabling, credentials
    assert [n.serial for n in moved.nodes] == [n.serial for n in original.nodes]
    assert moved.cabling == original.cabling and moved.credentials == original.credentials
    assert moved.nodes[3].firmware == original.nodes[3].firmware
    assert "&hardware" in stack.topology and "*baseline" in stack.topology  # anchors kept
    # the entry point gets exactly these addresses, the compose file the networks
    assert stack.mgmt_addresses == tuple(n.bmc.address for n in moved.nodes) + tuple(
        moved.switch_address(s) for s in moved.switches
    )
    doc = YAML(typ="safe").load(stack.compose)
    rack = doc["services"]["rack"]
    assert rack["environment"]["SCALEUNIT_MGMT_ADDRESSES"].split() == [
        str(a) for a in stack.mgmt_addresses
    ]
    assert rack["cap_add"] == ["NET_ADMIN"] and rack["init"] is True
    assert rack["networks"]["mgmt"] == {"ipv4_address": "10.123.0.2"}
    assert doc["networks"]["mgmt"]["ipam"]["config"] == [
        {"subnet": "10.123.0.0/16", "gateway": "10.123.0.1", "ip_range": "10.123.128.0/17"}
    ]
    assert "scaleunit" in rack["healthcheck"]["test"] and "status" in rack["healthcheck"]["test"]
    assert doc["volumes"] == {"state": {}}
    assert doc["services"]["controller"]["profiles"] == ["controller"]


def test_addresses_already_on_the_network_stay_and_sixteen_nodes_fit() -> None:
    text = topo.generate(16, base_address="10.50.1.0", host_base_address="10.60.3.0")
    stack = stack_for(text, mgmt_subnet="10.50.0.0/16", data_subnet="10.60.0.0/16")
    moved = topo.load_text(stack.topology)
    assert moved.nodes[15].bmc.address == IPv4Address("10.50.1.18")
    assert len(stack.mgmt_addresses) == 19 and len(stack.data_addresses) == 16


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"mgmt_subnet": "10.123.0.0/25"}, "at least a /24"),
        ({"mgmt_subnet": "10.123.0.0/33"}, "--mgmt-subnet 10.123.0.0/33"),
        ({"data_subnet": "10.123.0.0/16"}, "overlap"),
    ],
)
def test_unusable_subnets_are_refused(kw: dict[str, str], message: str) -> None:
    with pytest.raises(ComposeError, match=message.replace("/", ".")):
        stack_for(RACK4.read_text(), **kw)


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("127.0.0.2", "n01: 10.123.0.2 is the rack container's own address on the mgmt network"),
        ("127.0.0.1", "n01: 10.123.0.1 is the network's gateway"),
        ("127.0.200.3", r"n01: 10.123.200.3 is in the mgmt network's range for containers"),
    ],
)
def test_a_device_on_a_reserved_address_is_named(address: str, message: str) -> None:
    text = topo.generate(4).replace("address: 127.0.1.3\n", f"address: {address}\n")
    with pytest.raises(ComposeError, match=message):
        stack_for(text)


def test_the_cli_writes_both_files_and_reports_errors_in_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main, ["compose", "generate", str(RACK4), "-o", str(tmp_path / "out"), "--image", "x:y"]
    )
    assert result.exit_code == 0, result.output
    assert "docker compose -f" in result.output
    written = (tmp_path / "out" / "compose.yaml").read_text()
    assert "${SCALEUNIT_IMAGE:-x:y}" in written
    assert topo.load(tmp_path / "out" / "topology.yaml").nodes[0].bmc.address == IPv4Address(
        "10.123.1.3"
    )
    bad = runner.invoke(
        main, ["compose", "generate", str(RACK4), "-o", str(tmp_path), "--data-subnet", "x"]
    )
    assert bad.exit_code == 1 and "--data-subnet x" in bad.output
    assert not (tmp_path / "compose.yaml").exists()  # nothing written on an error
    broken = tmp_path / "broken.yaml"
    broken.write_text("nodes: [\n")
    result = runner.invoke(main, ["compose", "generate", str(broken), "-o", str(tmp_path)])
    assert result.exit_code == 1 and "YAML syntax" in result.output

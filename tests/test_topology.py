"""Topology files: the examples load, and every kind of mistake is named with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator import topology as topo
from emulator.rack import Rack
from nodes.clock import VirtualClock

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("nodes", [4, 8, 16])
def test_examples_are_the_generated_racks_and_load(nodes: int) -> None:
    path = EXAMPLES / f"rack-{nodes}.yaml"
    assert path.read_text() == topo.generate(nodes), "regenerate with scaleunit topology init"
    t = topo.load(path)
    assert len(t.nodes) == nodes
    assert [n.name for n in t.nodes] == [f"n{i:02d}" for i in range(1, nodes + 1)]
    # BMC network: gateway .1, HLH .2, nodes from .3, as PROCEDURES.md describes.
    assert str(t.nodes[0].bmc.address) == "127.0.1.3"
    assert str(t.nodes[0].bmc.gateway) == "127.0.1.1"
    assert t.nodes[-1].hardware == t.nodes[0].hardware  # the YAML anchor
    assert len(t.cabling) == 3 * nodes + 8


def test_default_rack_builds_with_cabled_links() -> None:
    rack = Rack(topo.default(), VirtualClock())
    assert set(rack.switches) == {"tor-a", "tor-b", "bmc-switch"}
    tor_a = rack.switches["tor-a"]
    assert tor_a.ports["ethernet1/1/1"].peer == "n01:nic1"
    assert not tor_a.ports["ethernet1/1/1"].oper_up  # the host is off
    assert tor_a.ports["ethernet1/1/49"].oper_up  # peer link
    assert rack.bmc_port_up("n03")


def problems(text: str) -> list[topo.Problem]:
    with pytest.raises(topo.TopologyError) as info:
        topo.load_text(text, "rack.yaml")
    return info.value.problems


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_unknown_key_names_file_line_key_and_suggests() -> None:
    text = topo.generate(4).replace(
        "    power_restore_policy: always-off\n", "    power_restore_polcy: always-off\n", 1
    )
    (p,) = problems(text)
    assert p.file == "rack.yaml"
    assert p.line == line_of(text, "power_restore_polcy")
    assert "nodes[0].power_restore_polcy" in str(p)
    assert "did you mean 'power_restore_policy'" in p.message


def test_node_count_outside_4_to_16_is_refused() -> None:
    text = topo.generate(4)
    head, _, rest = text.partition("  - name: n04\n")
    body = rest[rest.index("switches:") :]
    cabling_trimmed = (
        "\n".join(line for line in (head + body).splitlines() if "'n04:" not in line) + "\n"
    )
    (p,) = problems(cabling_trimmed)
    assert "4 to 16 nodes, not 3" in p.message
    assert p.line == line_of(cabling_trimmed, "nodes:")


def test_duplicates_and_bad_values_are_all_reported() -> None:
    text = topo.generate(4).replace("'02:5a:01:00:02:01'", "'02:5a:01:00:01:01'")
    (p,) = problems(text)
    assert "MAC 02:5a:01:00:01:01 is also used at nodes[0].nics[0].mac" in p.message
    assert p.loc == ("nodes", 1, "nics", 0, "mac")
    lines = [i for i, ln in enumerate(text.splitlines(), 1) if "'02:5a:01:00:01:01'" in ln]
    assert p.line == lines[1]  # the second use is the one reported

    bad = topo.generate(4).replace("address: 127.0.1.4", "address: 127.0.1.999")
    bad = bad.replace("ipmi_port: 623", "ipmi_port: 70000")
    found = problems(bad)
    assert {str(p.loc) for p in found} == {
        str(("nodes", 1, "bmc", "address")),
        str(("bmc_network", "ipmi_port")),
    }
    assert all(p.line for p in found)


def cabling_messages(old: str, new: str) -> list[str]:
    text = topo.generate(4)
    assert old in text
    return [p.message for p in problems(text.replace(old, new))]


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("'tor-b:ethernet1/1/2'}", "'tor-a:ethernet1/1/40'}", "one to each ToR"),
        (
            "'bmc-switch:ethernet1/1/3'",
            "'tor-a:ethernet1/1/30'",
            "n03:bmc must be cabled to bmc-switch, not tor-a",
        ),
        ("'tor-b:ethernet1/1/1'", "'tor-b:ethernet1/1/99'", "tor-b has no port 'ethernet1/1/99'"),
        ("'tor-b:ethernet1/1/1'", "'tor-b:ethernet1/1/2'", "already cabled"),
        ("'n01:nic1'", "'n99:nic1'", "no device named 'n99'"),
    ],
)
def test_cabling_rules(old: str, new: str, needle: str) -> None:
    assert any(needle in m for m in cabling_messages(old, new))


def test_bmc_attach_tors_needs_no_bmc_switch() -> None:
    text = topo.generate(4).replace("bmc_attach: switch", "bmc_attach: tors")
    (p,) = problems(text)
    assert "needs 0 BMC switch" in p.message


def test_password_longer_than_the_documented_16_characters_is_refused() -> None:
    text = topo.generate(4).replace("password: scaleunit-lab1", "password: " + "p" * 17)
    (p,) = problems(text)
    assert p.loc == ("credentials", "password") and p.line == 6


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: x\nnodes: [\n", "YAML syntax"),
        ("- just\n- a list\n", "a YAML mapping"),
        ("name: x\nname: y\n", "YAML syntax"),  # duplicate key
        ("", "a YAML mapping"),
    ],
)
def test_broken_yaml_is_explained(text: str, needle: str) -> None:
    (p,) = problems(text)
    assert needle in p.message


def test_missing_file_and_binary_file(tmp_path: Path) -> None:
    with pytest.raises(topo.TopologyError, match="cannot read"):
        topo.load(tmp_path / "absent.yaml")
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(topo.TopologyError, match="UTF-8"):
        topo.load(binary)

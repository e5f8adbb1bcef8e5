"""The switch configuration's network grammar (issue 11): the management address, VLANs, VLT and
BGP a deployed switch's configuration has, read back from a backup and typed line by line over
``configure terminal`` (the model on the virtual clock, then a paramiko shell over SSH); and
``show ip bgp summary`` / ``show vlan`` / ``show vlt 1`` following the running configuration."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator import topology
from emulator.harness import RackThread
from emulator.rack import Rack
from nodes.clock import VirtualClock
from nodes.errors import InvalidArgument
from switches.accounts import CliRole
from switches.cli import render
from switches.cli.session import CliSession
from switches.model import Switch, SwitchConfig, SwitchFault
from tests.conftest import next_base_address
from tests.rack_helpers import rack_fixture, seen_fixture  # noqa: F401 (fixtures)

SSH_PORT = 16122


def established(sw: Switch) -> dict[str, bool]:
    return {addr: up for addr, _, _, up, _ in render.bgp_peers(sw)}


def session(sw: Switch) -> CliSession:
    s = CliSession(sw, "admin", CliRole.SYSADMIN, "127.0.0.9")
    assert s.execute("configure terminal").output == ""
    return s


# -- the model ---------------------------------------------------------------------------------


def test_deployed_configuration_has_the_network_and_round_trips(rack: Rack) -> None:
    tor_a, tor_b, bmc = (rack.switches[n] for n in ("tor-a", "tor-b", "bmc-switch"))
    a_addr = str(rack.topology.switch_address(tor_a.spec))
    b_addr = str(rack.topology.switch_address(tor_b.spec))
    text = tor_a.running_config()
    for block in (
        f"interface mgmt1/1/1\n ip address {a_addr}/24\n no shutdown\n",
        "interface vlan100\n description hosts\n no shutdown\n",
        "interface vlan200\n description bmc\n no shutdown\n",
        "interface ethernet1/1/1\n description n01:nic1\n speed 25000\n"
        " switchport access vlan 100\n no shutdown\n",
        f"vlt-domain 1\n backup destination {b_addr}\n"
        " discovery-interface ethernet1/1/49,1/1/50\n vlt-mac 02:5a:0f:",
        f"router bgp 64801\n router-id {a_addr}\n !\n neighbor 100.71.49.2\n"
        "  remote-as 64801\n  no shutdown\n",
    ):
        assert block in text, block
    # tor-b mirrors tor-a: the other end of each /30, the same VLT MAC, the other backup.
    other = tor_b.running_config()
    assert f"backup destination {a_addr}" in other and " neighbor 100.71.49.1\n" in other
    assert tor_a.config.net.vlt is not None and tor_b.config.net.vlt is not None
    assert tor_a.config.net.vlt.mac == tor_b.config.net.vlt.mac
    # The BMC switch: its VLAN, its management address, no VLT and no BGP.
    bmc_text = bmc.running_config()
    assert "interface vlan200\n description bmc\n" in bmc_text and "interface mgmt1/1/1" in bmc_text
    assert "router bgp" not in bmc_text and "vlt-domain" not in bmc_text
    assert "interface vlan100" not in bmc_text
    # Render -> parse -> render, byte for byte, and the same configuration.
    for sw in rack.switches.values():
        text = sw.running_config()
        parsed = sw.parse_config(text)
        assert parsed == sw.running
        assert sw._render(parsed) == text
    # A factory configuration has none of it.
    factory = tor_a._render(SwitchConfig.factory())
    for word in ("mgmt1/1/1", "interface vlan", "vlt-domain", "router bgp", "switchport"):
        assert word not in factory
    assert tor_a.parse_config(factory) == SwitchConfig.factory()
    # Every session is Established on a healthy rack.
    assert list(established(tor_a).values()) == [True] * 4
    assert render.ip_bgp_summary(bmc) == "% Error: BGP is not configured."


def test_configure_terminal_sub_modes_prompts_and_show(rack: Rack) -> None:
    sw = rack.switches["tor-a"]
    s = session(sw)
    steps = [
        ("router bgp 64801", "tor-a(config-router-bgp-64801)# "),
        ("neighbor 10.0.0.2", "tor-a(config-router-neighbor)# "),
        ("remote-as 64512", "tor-a(config-router-neighbor)# "),
        ("no shutdown", "tor-a(config-router-neighbor)# "),
        ("exit", "tor-a(config-router-bgp-64801)# "),
        ("exit", "tor-a(config)# "),
        ("interface vlan 300", "tor-a(conf-if-vl-300)# "),
        ("description storage", "tor-a(conf-if-vl-300)# "),
        ("interface ethernet1/1/20", "tor-a(conf-if-eth1/1/20)# "),
        ("switchport access vlan 300", "tor-a(conf-if-eth1/1/20)# "),
        ("vlt-domain 1", "tor-a(conf-vlt-1)# "),
        ("backup destination 10.9.9.9", "tor-a(conf-vlt-1)# "),
        ("interface mgmt1/1/1", "tor-a(conf-if-ma-1/1/1)# "),
        ("ip address 10.1.2.3/16", "tor-a(conf-if-ma-1/1/1)# "),
        # A top-level line typed in a sub-mode leaves it (as OS10 does).
        ("hostname tor-a", "tor-a(config)# "),
    ]
    for line, prompt in steps:
        before = sw.running_config()
        assert s.execute(line).output == "", line
        assert s.prompt() == prompt, line
        enters = ("exit", "router bgp 64801", "vlt-domain 1", "interface mgmt1/1/1")
        if line not in enters and not line.startswith(("interface ethernet", "hostname")):
            assert sw.running_config() != before, line
    text = sw.running_config()
    for block in (
        " neighbor 10.0.0.2\n  remote-as 64512\n  no shutdown\n",
        "interface vlan300\n description storage\n no shutdown\n",
        " switchport access vlan 300\n",
        " backup destination 10.9.9.9\n",
        " ip address 10.1.2.3/16\n",
    ):
        assert block in text, block
    assert sw._render(sw.parse_config(text)) == text
    # The new neighbor has no peer behind it: not Established; the planned ones still are.
    peers = established(sw)
    assert peers["10.0.0.2"] is False and peers["100.71.49.2"] is True
    assert "10.0.0.2       64512   0        0          never             Active" in (
        render.ip_bgp_summary(sw)
    )
    vlan = render.vlan(sw)
    assert "    300    Inactive  storage" in vlan and "A Eth1/1/20" in vlan
    assert "100    Active    hosts" not in vlan or "Eth1/1/1-1/1/4" in vlan
    vlt = render.vlt(sw, "1")
    assert "Domain ID                              : 1" in vlt and "10.9.9.9" in vlt
    assert "port-channel1000                   : up (Eth 1/1/49-1/1/50)" in vlt
    assert render.vlt(sw, "2") == "% Error: VLT domain 2 is not configured."
    # Shutting a neighbor takes its session down; `no neighbor` removes it.
    s.execute("router bgp 64801")
    s.execute("neighbor 100.71.49.2")
    assert s.execute("shutdown").output == ""
    assert established(sw)["100.71.49.2"] is False
    assert "100.71.49.2    64801   0        0          never             Idle" in (
        render.ip_bgp_summary(sw)
    )
    s.execute("exit")
    assert s.execute("no neighbor 10.0.0.2").output == ""
    assert "10.0.0.2" not in established(sw)


@pytest.mark.parametrize(
    ("mode", "line", "needle"),
    [
        ((), "router bgp 65000", "BGP is already running with AS 64801"),
        ((), "router bgp notanumber", "bad AS number"),
        ((), "router bgp 99999999999", "bad AS number"),
        (("router bgp 64801",), "neighbor 10.0.0.300", "bad IPv4 address"),
        (("router bgp 64801",), "no neighbor 10.7.7.7", "no neighbor 10.7.7.7"),
        (("router bgp 64801", "neighbor 100.71.49.2"), "remote-as -1", "bad AS number"),
        (("router bgp 64801", "neighbor 100.71.49.2"), "remote-as", "unknown command"),
        ((), "interface vlan 5000", "bad VLAN id"),
        ((), "interface vlan", "has no interface 'vlan'"),
        ((), "no interface vlan 100", "VLAN 100 has access ports"),
        ((), "no interface vlan 300", "no VLAN 300"),
        (("interface ethernet1/1/20",), "switchport access vlan 300", "VLAN 300 does not exist"),
        (("interface vlan100",), "frobnicate", "unknown interface command"),
        (("vlt-domain 1",), "discovery-interface ethernet1/1/99", "no interface"),
        (("vlt-domain 1",), "vlt-mac zz:zz", "bad MAC address"),
        ((), "vlt-domain 2", "VLT domain 1 is configured"),
        (("interface mgmt1/1/1",), "ip address 10.1.2.3", "needs its prefix length"),
        (("interface mgmt1/1/1",), "ip address 10.1.2.3/40", "bad address"),
        ((), "router ospf 1", "unknown command"),
    ],
)
def test_a_bad_network_line_is_refused_whole(
    rack: Rack, mode: tuple[str, ...], line: str, needle: str
) -> None:
    sw = rack.switches["tor-a"]
    before, snapshot = sw.running_config(), sw.snapshot()
    with pytest.raises(InvalidArgument, match=needle) as caught:
        sw.configure(line, mode)
    assert repr(line) in str(caught.value)  # the error names the line
    assert sw.running_config() == before and sw.snapshot() == snapshot
    # Over the session: the same error, the same mode, nothing changed.
    s = session(sw)
    s.path = mode
    prompt = s.prompt()
    reply = s.execute(line).output
    assert reply.startswith("% Error:") and needle in reply
    assert s.prompt() == prompt and sw.running_config() == before
    # In a backup text too, naming the line number.
    bad = before.replace("!\nend\n", f"!\n{line}\nend\n") if not mode else None
    if bad is not None:
        with pytest.raises(InvalidArgument, match=r"configuration line \d+"):
            sw.load_config(bad)
        assert sw.running_config() == before


def test_bgp_drops_while_the_peer_tor_is_dark_and_comes_back(
    rack: Rack, clock: VirtualClock
) -> None:
    tor_a, tor_b = rack.switches["tor-a"], rack.switches["tor-b"]
    ibgp = ["100.71.49.2", "100.71.50.2"]
    assert all(established(tor_a)[a] for a in ibgp)
    tor_b.inject_fault(SwitchFault.POWER)
    peers = established(tor_a)
    assert not any(peers[a] for a in ibgp)
    assert peers["100.72.51.1"] and peers["100.72.52.1"]  # the border sessions stay up
    assert "port-channel1000                   : down" in render.vlt(tor_a, "1")
    tor_b.clear_fault(SwitchFault.POWER)
    assert not any(established(tor_a)[a] for a in ibgp)  # still booting
    clock.advance(tor_b.spec.boot_s + 1)
    assert all(established(tor_a)[a] for a in ibgp)
    assert all(established(tor_b).values())
    # The far ToR's configuration matters: without its BGP, tor-a's iBGP sessions are down.
    tor_b.configure("no router bgp")
    assert not any(established(tor_a)[a] for a in ibgp)
    assert render.ip_bgp_summary(tor_b) == "% Error: BGP is not configured."


def test_a_factory_reset_switch_restored_from_its_backup_has_bgp_and_vlt_back(
    rack: Rack, clock: VirtualClock
) -> None:
    tor_a, tor_b = rack.switches["tor-a"], rack.switches["tor-b"]
    backup = tor_a.running_config()
    shows = (render.ip_bgp_summary(tor_a), render.vlan(tor_a), render.vlt(tor_a, "1"))
    tor_a.factory_reset()
    clock.advance(tor_a.spec.boot_s + 1)
    assert tor_a.config.net.bgp is None and tor_a.config.net.vlt is None
    assert render.ip_bgp_summary(tor_a) == "% Error: BGP is not configured."
    assert not any(established(tor_b)[a] for a in ("100.71.49.1", "100.71.50.1"))
    tor_a.load_config(backup)
    tor_a.save_config()
    assert tor_a.running_config() == backup
    assert all(established(tor_a).values()) and all(established(tor_b).values())
    assert render.vlan(tor_a) == shows[1] and render.vlt(tor_a, "1") == shows[2]
    assert render.ip_bgp_summary(tor_a).splitlines()[:2] == shows[0].splitlines()[:2]
    # A reload loads the saved configuration: still there.
    tor_a.reboot()
    clock.advance(tor_a.spec.boot_s + 1)
    assert tor_a.running_config() == backup


def test_snapshots_keep_the_network_and_old_records_get_the_plan(rack: Rack) -> None:
    tor_a = rack.switches["tor-a"]
    tor_a.configure("router bgp 64801")
    tor_a.configure("neighbor 10.0.0.2", ("router bgp 64801",))
    data = tor_a.snapshot()
    other = Rack(topology.default(4), VirtualClock())
    other.switches["tor-a"].restore(data)
    assert other.switches["tor-a"].running_config() == tor_a.running_config()
    # A record written before the network part was kept: a provisioned one gets the plan.
    for key in ("running", "saved"):
        del data[key]["net"]
    third = Rack(topology.default(4), VirtualClock())
    third.switches["tor-a"].restore(data)
    assert third.switches["tor-a"].config.net == other.switches["tor-a"].plan.net
    with pytest.raises(InvalidArgument, match="bad switch configuration record"):
        bad = tor_a.snapshot()
        bad["running"]["net"]["bgp"] = [64801, "not-an-ip", []]
        third.switches["tor-a"].restore(bad)


# -- over SSH ----------------------------------------------------------------------------------


@pytest.fixture
def live(tmp_path: Path) -> Iterator[RackThread]:
    base = next_base_address()
    net = base.rsplit(".", 1)[0]
    text = topology.generate(
        4,
        base_address=base,
        ipmi_port=16723,
        redfish_port=16543,
        switch_base_address=f"{net}.240",
        snmp_port=16261,
        host_base_address=f"{net}.200",
        ssh_port=SSH_PORT,
    )
    rack = RackThread(
        topology.load_text(text, "<t>"), speed=100, state_dir=tmp_path / "state", power_on=True
    )
    rack.start()
    yield rack
    rack.close()


class Shell:
    """An interactive paramiko shell: one line at a time, up to the next prompt."""

    def __init__(self, rack: RackThread, device: str) -> None:
        paramiko = pytest.importorskip("paramiko")
        e = rack.endpoint(device, "ssh")
        self.client = paramiko.SSHClient()
        self.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        self.client.connect(
            e.address, e.port, e.username, e.password, look_for_keys=False, allow_agent=False,
            timeout=5,
        )  # fmt: skip
        self.shell = self.client.invoke_shell(width=200)
        self.read()

    def read(self) -> str:
        text = ""
        deadline = time.monotonic() + 10
        while not text.rstrip().endswith("#") and time.monotonic() < deadline:
            if self.shell.recv_ready():
                text += self.shell.recv(65536).decode("utf-8", "replace")
            else:
                time.sleep(0.02)
        return text

    def run(self, line: str) -> str:
        self.shell.send(f"{line}\r\n".encode())
        return self.read()

    def close(self) -> None:
        self.client.close()


def running_config(rack: RackThread, device: str) -> str:
    text: str = rack.call(lambda r: r.switches[device].running_config())
    return text


@pytest.mark.tools
def test_network_lines_over_ssh_change_the_running_configuration(live: RackThread) -> None:
    sh = Shell(live, "tor-a")
    try:
        sh.run("terminal length 0")
        assert "tor-a(config)#" in sh.run("configure terminal")
        steps = [
            ("router bgp 64801", "tor-a(config-router-bgp-64801)#", None),
            ("neighbor 10.0.0.2", "tor-a(config-router-neighbor)#", " neighbor 10.0.0.2\n"),
            ("remote-as 64512", "tor-a(config-router-neighbor)#", "  remote-as 64512\n"),
            ("no shutdown", "tor-a(config-router-neighbor)#", "  remote-as 64512\n  no shutdown"),
            ("exit", "tor-a(config-router-bgp-64801)#", None),
            ("router-id 10.255.0.1", "tor-a(config-router-bgp-64801)#", " router-id 10.255.0.1"),
            ("exit", "tor-a(config)#", None),
            ("interface vlan 300", "tor-a(conf-if-vl-300)#", "interface vlan300\n"),
            ("description storage", "tor-a(conf-if-vl-300)#", " description storage\n"),
            ("interface ethernet1/1/20", "tor-a(conf-if-eth1/1/20)#", None),
            ("switchport access vlan 300", "tor-a(conf-if-eth1/1/20)#", "access vlan 300"),
            ("vlt-domain 1", "tor-a(conf-vlt-1)#", None),
            ("vlt-mac 02:00:00:00:00:01", "tor-a(conf-vlt-1)#", " vlt-mac 02:00:00:00:00:01"),
            ("interface mgmt1/1/1", "tor-a(conf-if-ma-1/1/1)#", None),
            ("ip address 10.1.2.3/16", "tor-a(conf-if-ma-1/1/1)#", " ip address 10.1.2.3/16"),
        ]
        for line, prompt, expect in steps:
            before = running_config(live, "tor-a")
            out = sh.run(line)
            assert out.rstrip().endswith(prompt) and "% Error" not in out, (line, out)
            after = running_config(live, "tor-a")
            if expect is not None:
                assert expect not in before and expect in after, line
        # Bad lines are refused whole, naming the line, and change nothing.
        before = running_config(live, "tor-a")
        for bad, needle in (
            ("router bgp 65000", "BGP is already running with AS 64801"),
            ("interface vlan 9999", "bad VLAN id"),
        ):
            out = sh.run(bad)
            assert "% Error:" in out and needle in out and repr(bad) in out, out
        assert out.rstrip().endswith("tor-a(conf-if-ma-1/1/1)#")
        assert running_config(live, "tor-a") == before
        sh.run("end")
        shown = sh.run("show running-configuration")
        assert " neighbor 10.0.0.2\r\n  remote-as 64512\r\n  no shutdown" in shown
        bgp = sh.run("show ip bgp summary")
        assert "BGP router identifier 10.255.0.1 local AS number 64801" in bgp
        assert "10.0.0.2       64512" in bgp and "Active" in bgp
        assert "100.71.49.2    64801" in bgp
        vlan = sh.run("show vlan")
        assert "300    Inactive  storage" in vlan
        assert "VLT MAC address                        : 02:00:00:00:00:01" in sh.run("show vlt 1")
    finally:
        sh.close()

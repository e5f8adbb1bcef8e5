"""The switches' SNMP agents under net-snmp's own tools, on a running rack.

snmpget/snmpwalk/snmpbulkwalk/snmptable over every MIB served, snmpset of ifAdminStatus with the
change seen in a walk and in a trap, SNMPv3 (SHA-256 and SHA, AES-128) with right and wrong keys,
a node powered on through ipmitool bringing its ToR ports up, reload silence and coldStart,
PSU/fan notifications, and garbage on the wire.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import pytest

from emulator.harness import RackThread
from switches.snmp.agent import engine_id
from tests.conftest import require_tool, wait_for
from tests.snmp_helpers import (
    MIBS,
    TrapReceiver,
    free_udp_port,
    integer,
    run,
    v2c,
    v3,
    values,
)

pytestmark = pytest.mark.tools

SYS = ".1.3.6.1.2.1.1"
IF_TABLE = ".1.3.6.1.2.1.2.2"
IFX_TABLE = ".1.3.6.1.2.1.31.1.1"
ENT_PHYSICAL = ".1.3.6.1.2.1.47.1.1.1"
ENT_SENSOR = ".1.3.6.1.2.1.99.1.1"
ENT_STATE = ".1.3.6.1.2.1.131.1.1"
LLDP_LOCAL = ".1.0.8802.1.1.2.1.3"
LLDP_REMOTE = ".1.0.8802.1.1.2.1.4.1"
LINK_DOWN, LINK_UP, COLD_START = (f".1.3.6.1.6.3.1.1.5.{i}" for i in (3, 4, 1))
TRAP_OID = ".1.3.6.1.6.3.1.1.4.1.0"


def if_oid(column: int, index: int) -> str:
    return f"{IF_TABLE}.1.{column}.{index}"


def receiver(port: int, version: str = "v2c", kind: str = "trap", extra: str = "") -> str:
    return f"{{address: 127.0.0.1, port: {port}, version: {version}, kind: {kind}{extra}}}"


def test_every_switch_answers_every_mib(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory()
    for device, ports in (("tor-a", 56), ("tor-b", 56), ("bmc-switch", 52)):
        e = rack.endpoint(device, "snmp")
        # SNMPv2-MIB system group; sysUpTime moves.
        got = run(v2c("snmpget", e, f"{SYS}.3.0", f"{SYS}.5.0", f"{SYS}.1.0"))
        assert got.returncode == 0, got.stderr
        first = values(got.stdout)
        assert first[f"{SYS}.5.0"] == f'STRING: "{device}"'
        assert "OS version 10.6.1.1" in first[f"{SYS}.1.0"]
        time.sleep(0.2)
        later = values(run(v2c("snmpget", e, f"{SYS}.3.0")).stdout)
        assert integer(later[f"{SYS}.3.0"]) > integer(first[f"{SYS}.3.0"])
        walk = values(run(v2c("snmpwalk", e, SYS)).stdout)
        assert len(walk) == 7 and walk[f"{SYS}.2.0"].startswith("OID: .1.3.6.1.4.1.32473.")
        # IF-MIB: every column of every port, with 64-bit counters and the speed in Mb/s.
        iftable = values(run(v2c("snmpbulkwalk", e, IF_TABLE)).stdout)
        assert len(iftable) == 18 * ports
        assert iftable[if_oid(2, 1)] == 'STRING: "ethernet1/1/1"'
        ifx = values(run(v2c("snmpbulkwalk", e, IFX_TABLE)).stdout)
        assert len(ifx) == 19 * ports
        speed = 25_000 if device != "bmc-switch" else 1_000
        assert ifx[f"{IFX_TABLE}.1.15.1"] == f"Gauge32: {speed}"
        assert ifx[f"{IFX_TABLE}.1.6.1"].startswith("Counter64: ")
        # ENTITY-MIB: the chassis runs the OS version and carries the serial.
        ent = values(run(v2c("snmpwalk", e, ENT_PHYSICAL)).stdout)
        assert ent[f"{ENT_PHYSICAL}.1.10.1"] == 'STRING: "10.6.1.1"'
        assert ent[f"{ENT_PHYSICAL}.1.11.1"].startswith('STRING: "')
        classes = [v for k, v in ent.items() if k.startswith(f"{ENT_PHYSICAL}.1.5.")]
        assert classes.count("INTEGER: 6") == 2 and classes.count("INTEGER: 10") == ports
        # ENTITY-SENSOR-MIB: temperatures in Celsius (8), fans in rpm (10), all ok.
        sensors = values(run(v2c("snmpbulkwalk", e, ENT_SENSOR)).stdout)
        kinds = [v for k, v in sensors.items() if k.startswith(f"{ENT_SENSOR}.1.1.")]
        assert kinds.count("INTEGER: 8") == 3 and kinds.count("INTEGER: 10") == 4
        statuses = {v for k, v in sensors.items() if k.startswith(f"{ENT_SENSOR}.1.5.")}
        assert statuses == {"INTEGER: 1"}
        # LLDP-MIB: the local system, and the neighbours whose links are up (the hosts are off).
        local = values(run(v2c("snmpwalk", e, LLDP_LOCAL)).stdout)
        assert local[f"{LLDP_LOCAL}.3.0"] == f'STRING: "{device}"'
        remote = values(run(v2c("snmpbulkwalk", e, LLDP_REMOTE)).stdout)
        names = {v for k, v in remote.items() if f"{LLDP_REMOTE}.1.9." in k}
        expected = {
            "tor-a": {'STRING: "tor-b"', 'STRING: "border-1"', 'STRING: "border-2"'},
            "tor-b": {'STRING: "tor-a"', 'STRING: "border-1"', 'STRING: "border-2"'},
            "bmc-switch": {'STRING: "tor-a"', 'STRING: "tor-b"'}
            | {f'STRING: "n0{i}-bmc"' for i in range(1, 5)},
        }[device]
        assert names >= expected - {'STRING: "bmc-switch"'}


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        (IF_TABLE, "ethernet1/1/56"),
        (IFX_TABLE, "ethernet1/1/56"),
        (ENT_PHYSICAL, "TORA0001"),
        (ENT_SENSOR, "celsius"),
        (".1.0.8802.1.1.2.1.3.7", "tor-b:ethernet1/1/49"),
        (LLDP_REMOTE, "tor-b"),
    ],
)
def test_snmptable(rack_factory: Callable[..., RackThread], table: str, needle: str) -> None:
    rack = rack_factory()
    e = rack.endpoint("tor-a", "snmp")
    cmd = v2c("snmptable", e, "-Cb", "-Ci", "-Cw", "400", table)
    # snmptable needs the table's definition: the test MIB restates it (no MIB ships in Debian).
    cmd[cmd.index("-m") + 1] = "SCALEUNIT-TEST-TABLES-MIB"
    cmd.remove("-On")  # with numeric output snmptable does not recognise the table
    got = run(cmd)
    assert got.returncode == 0, got.stderr
    assert needle in got.stdout
    assert len(got.stdout.splitlines()) > 3


def test_snmpset_shuts_a_port_and_the_trap_says_so(
    rack_factory: Callable[..., RackThread],
) -> None:
    with TrapReceiver() as traps:
        rack = rack_factory(snmp_receivers=[receiver(traps.port)])
        tor_a, tor_b = rack.endpoint("tor-a", "snmp"), rack.endpoint("tor-b", "snmp")
        # The read-only community may not write: refused, nothing changes.
        ro = run(v2c("snmpset", tor_a, if_oid(7, 49), "i", "2"))
        assert ro.returncode != 0
        assert rack.call(lambda r: r.switches["tor-a"].ports["ethernet1/1/49"].admin_up)
        # A value outside up(1)/down(2) is refused as such.
        bad = run(v2c("snmpset", tor_a, if_oid(7, 49), "i", "3", community="private"))
        assert bad.returncode != 0 and "wrongValue" in bad.stderr + bad.stdout
        got = run(v2c("snmpset", tor_a, if_oid(7, 49), "i", "2", community="private"))
        assert got.returncode == 0, got.stderr
        walk = values(run(v2c("snmpbulkwalk", tor_a, f"{IF_TABLE}.1.7")).stdout)
        assert walk[if_oid(7, 49)] == "INTEGER: 2" and walk[if_oid(7, 50)] == "INTEGER: 1"
        oper = values(run(v2c("snmpget", tor_a, if_oid(8, 49))).stdout)
        assert oper[if_oid(8, 49)] == "INTEGER: 2"
        # The far end lost its link too: tor-b's port 49 is down.
        far = values(run(v2c("snmpget", tor_b, if_oid(8, 49))).stdout)
        assert far[if_oid(8, 49)] == "INTEGER: 2"

        def link_down_from(e_address: str) -> Callable[[str], bool]:
            return lambda line: (
                f"[{e_address}]" in line
                and f"{TRAP_OID} = OID: {LINK_DOWN}" in line
                and f"{if_oid(1, 49)} = INTEGER: 49" in line
            )

        assert traps.wait_for(link_down_from(tor_a.address), 10), traps.lines
        line = next(t for t in traps.traps() if link_down_from(tor_a.address)(t))
        assert f"{if_oid(7, 49)} = INTEGER: 2" in line and f"{if_oid(8, 49)} = INTEGER: 2" in line
        assert traps.wait_for(link_down_from(tor_b.address), 10), traps.lines
        # And back.
        up = run(v2c("snmpset", tor_a, if_oid(7, 49), "i", "1", community="private"))
        assert up.returncode == 0, up.stderr
        assert traps.wait_for(lambda s: f"{TRAP_OID} = OID: {LINK_UP}" in s, 10)


def test_v3_users_authpriv_and_wrong_keys(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory()
    e = rack.endpoint("tor-a", "snmp")
    name = f"{SYS}.5.0"
    ops = {"user": "ops", "auth": "SHA-256", "auth_key": "tor-a-ops-auth"}
    good = run(v3("snmpget", e, name, **ops, priv_key="tor-a-ops-priv"))
    assert good.returncode == 0 and 'STRING: "tor-a"' in good.stdout, good.stderr
    mon = {"user": "monitor", "auth": "SHA", "auth_key": "tor-a-mon-auth"}
    good = run(v3("snmpwalk", e, SYS, **mon, priv_key="tor-a-mon-priv"))
    assert good.returncode == 0 and len(values(good.stdout)) == 7, good.stderr
    # A read-only user cannot SET; the read-write one can.
    denied = run(v3("snmpset", e, if_oid(7, 3), "i", "2", **mon, priv_key="tor-a-mon-priv"))
    assert denied.returncode != 0
    ok = run(v3("snmpset", e, if_oid(7, 3), "i", "2", **ops, priv_key="tor-a-ops-priv"))
    assert ok.returncode == 0, ok.stderr
    assert not rack.call(lambda r: r.switches["tor-a"].ports["ethernet1/1/3"].admin_up)
    # Wrong keys: the USM's report (authentication failure), not a timeout.
    bad_auth = run(v3("snmpget", e, name, **{**ops, "auth_key": "not-the-key"}, priv_key="x" * 8))
    assert bad_auth.returncode != 0
    assert "Authentication failure" in bad_auth.stderr, bad_auth.stderr
    bad_priv = run(v3("snmpget", e, name, **ops, priv_key="not-the-priv-key"))
    assert bad_priv.returncode != 0 and "Timeout" not in bad_priv.stderr, bad_priv.stderr
    assert "ecrypt" in bad_priv.stderr, bad_priv.stderr  # "Decryption error"
    # Keys are per switch: tor-a's user does not open tor-b.
    other = rack.endpoint("tor-b", "snmp")
    wrong_switch = run(v3("snmpget", other, name, **ops, priv_key="tor-a-ops-priv"))
    assert wrong_switch.returncode != 0 and "Authentication failure" in wrong_switch.stderr
    # An unknown user: the USM's unknownUserName report.
    unknown = run(v3("snmpget", e, name, **{**ops, "user": "nobody"}, priv_key="x" * 8))
    assert unknown.returncode != 0 and "Unknown user name" in unknown.stderr, unknown.stderr


def test_wrong_community_gets_no_answer(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory()
    e = rack.endpoint("tor-b", "snmp")
    cmd = v2c("snmpget", e, f"{SYS}.5.0", community="guess")
    cmd[cmd.index("-t") + 1] = "0.5"
    got = run(cmd)
    assert got.returncode != 0 and "Timeout" in got.stderr


def test_ipmi_power_on_brings_the_nodes_tor_ports_up(
    rack_factory: Callable[..., RackThread],
) -> None:
    with TrapReceiver() as traps:
        rack = rack_factory(snmp_receivers=[receiver(traps.port)])
        ipmi = rack.endpoint("n02")
        tors = [rack.endpoint(t, "snmp") for t in ("tor-a", "tor-b")]

        def oper(e: object) -> str:
            got = values(run(v2c("snmpget", e, if_oid(8, 2))).stdout)  # type: ignore[arg-type]
            return got[if_oid(8, 2)]

        assert [oper(e) for e in tors] == ["INTEGER: 2", "INTEGER: 2"]
        on = run(
            [
                require_tool("ipmitool"),
                "-I",
                "lanplus",
                "-C",
                "17",
                "-H",
                ipmi.address,
                "-p",
                str(ipmi.port),
                "-U",
                ipmi.username,
                "-P",
                ipmi.password,
                "chassis",
                "power",
                "on",
            ]
        )
        assert on.returncode == 0, on.stderr
        assert wait_for(lambda: [oper(e) for e in tors] == ["INTEGER: 1"] * 2, 10)
        assert traps.wait_for(
            lambda s: f"{TRAP_OID} = OID: {LINK_UP}" in s and f"{if_oid(1, 2)} = INTEGER: 2" in s,
            10,
        )
        # The node's NIC is now an LLDP neighbour of both ToRs, found by its MAC.
        mac = rack.call(lambda r: r.topology.node("n02").nics[0].mac)
        remote = run(v2c("snmpbulkwalk", tors[0], LLDP_REMOTE)).stdout
        assert 'STRING: "n02"' in remote
        assert mac.replace(":", " ").upper() in remote


def test_reload_is_silent_then_cold_start(rack_factory: Callable[..., RackThread]) -> None:
    with TrapReceiver() as traps:
        rack = rack_factory(speed=100, snmp_receivers=[receiver(traps.port)])
        e = rack.endpoint("bmc-switch", "snmp")
        boot_s = rack.call(lambda r: r.switches["bmc-switch"].spec.boot_s)
        rack.call(lambda r: r.switches["bmc-switch"].reboot())
        quick = v2c("snmpget", e, f"{SYS}.3.0")
        quick[quick.index("-t") + 1] = "0.3"
        assert "Timeout" in run(quick).stderr
        assert traps.wait_for(lambda s: f"{TRAP_OID} = OID: {COLD_START}" in s, boot_s / 100 + 10)
        got = values(run(v2c("snmpget", e, f"{SYS}.3.0")).stdout)
        assert integer(got[f"{SYS}.3.0"]) < 100 * 60  # uptime restarted with the boot


def test_psu_and_fan_failures_notify_entity_state(
    rack_factory: Callable[..., RackThread],
) -> None:
    with TrapReceiver() as traps:
        rack = rack_factory(snmp_receivers=[receiver(traps.port, kind="inform")])
        e = rack.endpoint("tor-b", "snmp")
        rack.call(lambda r: r.switches["tor-b"].fail_psu("PSU2"))
        disabled = ".1.3.6.1.2.1.131.0.2"
        assert traps.wait_for(
            lambda s: f"{TRAP_OID} = OID: {disabled}" in s and '"PSU2"' in s, 10
        ), traps.lines
        state = values(run(v2c("snmpwalk", e, ENT_STATE)).stdout)
        assert state[f"{ENT_STATE}.1.3.102"] == "INTEGER: 2"  # entStateOper: disabled
        assert state[f"{ENT_STATE}.1.3.101"] == "INTEGER: 3"
        rack.call(lambda r: r.switches["tor-b"].fail_fan("Fan3"))
        assert traps.wait_for(lambda s: disabled in s and '"Fan3"' in s, 10), traps.lines
        sensors = values(run(v2c("snmpwalk", e, f"{ENT_SENSOR}.1.5")).stdout)
        assert sensors[f"{ENT_SENSOR}.1.5.303"] == "INTEGER: 3"  # nonoperational
        # Informs are acknowledged: the agent got a response and did not log a failure.
        rack.call(lambda r: r.switches["tor-b"].fail_psu("PSU2", failed=False))
        enabled = ".1.3.6.1.2.1.131.0.1"
        assert traps.wait_for(lambda s: enabled in s and '"PSU2"' in s, 10)


def test_v3_trap_to_a_v3_receiver(rack_factory: Callable[..., RackThread]) -> None:
    port = free_udp_port()
    rack = rack_factory(snmp_receivers=[receiver(port, version="v3", extra=", user: ops")])
    # For traps the sender is authoritative: the receiver knows each switch's user under that
    # switch's engine ID (and each switch has its own keys).
    ids = rack.call(lambda r: {n: engine_id(s).hex() for n, s in r.switches.items()})
    users = [
        f"createUser -e 0x{ids[n]} ops SHA-256 {n}-ops-auth AES {n}-ops-priv"
        for n in ("tor-a", "tor-b", "bmc-switch")
    ]
    with TrapReceiver(users, port=port) as traps:
        rack.call(lambda r: r.switches["tor-a"].set_admin("ethernet1/1/50", False))
        assert traps.wait_for(
            lambda s: f"{TRAP_OID} = OID: {LINK_DOWN}" in s and f"{if_oid(1, 50)} =" in s, 10
        ), traps.lines


def test_v3_inform_to_a_v3_receiver(rack_factory: Callable[..., RackThread]) -> None:
    """For informs the receiver is authoritative: the agent discovers snmptrapd's engine ID,
    then sends the inform authPriv with tor-a's own keys, and snmptrapd acknowledges it."""
    port = free_udp_port()
    rack = rack_factory(
        snmp_receivers=[receiver(port, version="v3", kind="inform", extra=", user: ops")]
    )
    with TrapReceiver(
        ["createUser ops SHA-256 tor-a-ops-auth AES tor-a-ops-priv"], port=port
    ) as traps:
        rack.call(lambda r: r.switches["tor-a"].set_admin("ethernet1/1/50", False))
        assert traps.wait_for(
            lambda s: f"{TRAP_OID} = OID: {LINK_DOWN}" in s and f"{if_oid(1, 50)} =" in s, 10
        ), traps.lines
        rack.call(lambda r: r.switches["tor-a"].set_admin("ethernet1/1/50", True))
        assert traps.wait_for(
            lambda s: f"{TRAP_OID} = OID: {LINK_UP}" in s and f"{if_oid(1, 50)} =" in s, 10
        ), traps.lines


def test_garbage_datagrams_do_not_stop_the_agent(
    rack_factory: Callable[..., RackThread],
) -> None:
    rack = rack_factory()
    e = rack.endpoint("tor-a", "snmp")
    samples = [
        b"",
        b"\x30",
        b"\x30\x82\xff\xff",
        b"\x30\x03\x02\x01\x63",  # version 99
        bytes.fromhex("302602010104067075626c6963a019020101020100020100300e300c0608"),
        bytes.fromhex("3029020103300f02020001020205dc0401040201030400"),  # truncated v3
        b"\xa5" * 1400,
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for data in samples:
            s.sendto(data, (e.address, e.port))
        for _ in range(300):
            s.sendto(os.urandom(int.from_bytes(os.urandom(1)) + 1), (e.address, e.port))
    got = run(v2c("snmpget", e, f"{SYS}.5.0"))
    assert got.returncode == 0 and "tor-a" in got.stdout, got.stderr
    assert rack.runtime.snmp["tor-a"].malformed >= 0
    assert MIBS.is_dir()

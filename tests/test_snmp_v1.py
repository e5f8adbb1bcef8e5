"""SNMPv1 on the switches' agents, under net-snmp's own tools: the fast path's docstring says it
serves v1 reads, and it does (snmpget/snmpgetnext/snmpwalk -v1 with the read-only community,
snmpset -v1 with the read-write one), with v1's own error (noSuchName) for what is not there
and the same answers as v2c; an unknown community still gets no answer."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emulator.harness import RackThread
from tests.snmp_helpers import run, v2c

pytestmark = pytest.mark.tools

SYS = ".1.3.6.1.2.1.1"
IF_ADMIN = ".1.3.6.1.2.1.2.2.1.7"


def v1(tool: str, *args: str, **kw: str) -> list[str]:
    cmd = v2c(tool, *args, **kw)  # type: ignore[arg-type]
    cmd[cmd.index("-v2c")] = "-v1"
    return cmd


def test_v1_reads_answer_as_v2c_does(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory()
    e = rack.endpoint("tor-a", "snmp")
    got = run(v1("snmpget", e, f"{SYS}.5.0", f"{SYS}.3.0"))
    assert got.returncode == 0, got.stderr
    assert f"{SYS}.5.0 = STRING: " in got.stdout and "tor-a" in got.stdout
    assert f"{SYS}.3.0 = Timeticks: " in got.stdout
    same = run(v2c("snmpget", e, f"{SYS}.5.0"))
    assert got.stdout.splitlines()[0] == same.stdout.splitlines()[0]
    nxt = run(v1("snmpgetnext", e, f"{SYS}.4"))
    assert nxt.returncode == 0 and nxt.stdout.startswith(f"{SYS}.4.0 = STRING: "), nxt.stdout
    walk = run(v1("snmpwalk", e, SYS))
    assert walk.returncode == 0, walk.stderr
    assert len(walk.stdout.splitlines()) >= 7
    v2_walk = run(v2c("snmpwalk", e, SYS)).stdout

    def names(text: str) -> list[str]:
        return [line.split(" = ")[0] for line in text.splitlines()]

    assert names(walk.stdout) == names(v2_walk)  # the same objects (no Counter64 in system)
    # v1's error for an object that is not there: noSuchName, the varbind's index
    missing = run(v1("snmpget", e, f"{SYS}.5.0", f"{SYS}.99.0"))
    assert missing.returncode != 0
    assert "noSuchName" in missing.stderr or "no such name" in missing.stderr.lower()
    assert f"{SYS}.99.0" in missing.stderr


def test_v1_set_with_the_rw_community_and_not_with_the_ro_one(
    rack_factory: Callable[..., RackThread],
) -> None:
    rack = rack_factory()
    e = rack.endpoint("tor-b", "snmp")
    port = rack.call(lambda r: next(p for p in r.switches["tor-b"].ports if p))
    index = rack.call(lambda r: r.switches["tor-b"].ports[port].index)
    oid = f"{IF_ADMIN}.{index}"
    assert e.password, "the rack has a read-write community"
    refused = run(v1("snmpset", e, oid, "i", "2"))  # the read-only community
    assert refused.returncode != 0
    assert rack.call(lambda r: r.switches["tor-b"].ports[port].admin_up)
    done = run(v1("snmpset", e, oid, "i", "2", community=e.password))
    assert done.returncode == 0, done.stderr
    assert not rack.call(lambda r: r.switches["tor-b"].ports[port].admin_up)
    assert "INTEGER: 2" in run(v1("snmpget", e, oid)).stdout


def test_v1_with_an_unknown_community_gets_no_answer(
    rack_factory: Callable[..., RackThread],
) -> None:
    rack = rack_factory()
    e = rack.endpoint("tor-a", "snmp")
    cmd = v1("snmpget", e, f"{SYS}.5.0", community="guess")
    cmd[cmd.index("-t") + 1] = "0.5"
    got = run(cmd)
    assert got.returncode != 0 and "Timeout" in got.stderr

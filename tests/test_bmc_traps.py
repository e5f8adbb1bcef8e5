"""BMC hardware traps (bmc.snmp.traps): which SEL records raise which OEM trap (no sockets), the
MIB file net-snmp loads, the topology's trap settings, and a real snmptrapd that decrypts a BMC's
SNMPv3 authPriv trap (its own user, SHA, AES) after a PSU input loss, and gets nothing while the
BMC switch is off or the BMC's cable is out.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bmc.snmp.traps import (
    BmcTrapLost,
    BmcTrapSent,
    Category,
    Severity,
    classify,
    engine_id,
    mib_text,
)
from emulator import topology as topo
from emulator.harness import RackThread
from nodes.events import Event
from nodes.node import BmcResetKind
from nodes.sel import EventType, SelRecord, SensorType
from tests.conftest import next_base_address, require_tool, wait_for
from tests.snmp_helpers import TrapReceiver, free_udp_port

REPO = Path(__file__).resolve().parent.parent
MIBS = REPO / "mibs"
TRAP_OID = ".1.3.6.1.6.3.1.1.4.1.0"
BMC_TRAPS = ".1.3.6.1.4.1.32473.2.0"
OBJECTS = ".1.3.6.1.4.1.32473.2.1"


def record(sensor_type: int, offset: int, **kw: object) -> SelRecord:
    fields: dict[str, object] = {
        "record_id": 7,
        "record_type": 0x02,
        "timestamp": 0,
        "sensor_type": sensor_type,
        "event_data": bytes([offset, 0xFF, 0xFF]),
        **kw,
    }
    return SelRecord(**fields)  # type: ignore[arg-type]


# -- which records raise which trap ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("sensor_type", "offset", "kw", "category", "severity", "trap"),
    [
        (SensorType.POWER_SUPPLY, 3, {}, Category.POWER_SUPPLY, Severity.CRITICAL, 13),
        (SensorType.POWER_SUPPLY, 3, {"asserted": False}, Category.POWER_SUPPLY, Severity.INFO, 11),
        (
            SensorType.POWER_SUPPLY,
            1,
            {"event_type": 0x0B},
            Category.POWER_SUPPLY,
            Severity.WARNING,
            12,
        ),
        (
            SensorType.POWER_SUPPLY,
            0,
            {"event_type": 0x0B},
            Category.POWER_SUPPLY,
            Severity.INFO,
            11,
        ),
        (
            SensorType.FAN,
            2,
            {"event_type": EventType.THRESHOLD},
            Category.FAN,
            Severity.CRITICAL,
            23,
        ),
        (SensorType.TEMPERATURE, 7, {"event_type": 1}, Category.TEMPERATURE, Severity.WARNING, 32),
        (SensorType.TEMPERATURE, 9, {"event_type": 1}, Category.TEMPERATURE, Severity.CRITICAL, 33),
        (SensorType.MEMORY, 1, {}, Category.MEMORY, Severity.CRITICAL, 53),
        (SensorType.MEMORY, 0, {}, Category.MEMORY, Severity.WARNING, 52),
        (SensorType.DRIVE_SLOT, 1, {}, Category.DRIVE, Severity.CRITICAL, 63),
        (SensorType.PROCESSOR, 0, {}, Category.PROCESSOR, Severity.CRITICAL, 73),
        (SensorType.CRITICAL_INTERRUPT, 3, {}, Category.CRITICAL_INTERRUPT, Severity.CRITICAL, 83),
        (SensorType.OS_STOP, 1, {}, Category.OS_STOP, Severity.CRITICAL, 93),
        (SensorType.OS_STOP, 3, {}, Category.OS_STOP, Severity.INFO, 91),
    ],
)
def test_hardware_records_raise_oem_traps(
    sensor_type: int,
    offset: int,
    kw: dict[str, object],
    category: Category,
    severity: Severity,
    trap: int,
) -> None:
    alert = classify(record(sensor_type, offset, message="PSU1 input lost", **kw))
    assert alert is not None
    assert (alert.category, alert.severity) == (category, severity)
    assert alert.trap_oid == (1, 3, 6, 1, 4, 1, 32473, 2, 0, trap)
    assert alert.message == "PSU1 input lost" and alert.record_id == 7


@pytest.mark.parametrize(
    "sensor_type",
    [
        SensorType.SYSTEM_BOOT_INITIATED,
        SensorType.OS_BOOT,
        SensorType.ACPI_POWER_STATE,
        SensorType.SYSTEM_FIRMWARE_PROGRESS,
        SensorType.EVENT_LOGGING_DISABLED,
        SensorType.VERSION_CHANGE,
    ],
)
def test_records_that_are_not_hardware_faults_raise_nothing(sensor_type: int) -> None:
    assert classify(record(sensor_type, 1)) is None
    assert classify(record(SensorType.POWER_SUPPLY, 1, record_type=0xC0)) is None  # OEM record


def test_the_mib_file_is_the_generated_one_and_net_snmp_reads_it() -> None:
    assert (MIBS / "SCALEUNIT-BMC-MIB.txt").read_text(encoding="utf-8") == mib_text()
    cmd = [require_tool("snmptranslate"), "-M", str(MIBS), "-m", "SCALEUNIT-BMC-MIB"]
    out = subprocess.run(
        [*cmd, "-On", "SCALEUNIT-BMC-MIB::suBmcPowerSupplyCritical"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert out.returncode == 0 and out.stdout.strip() == f"{BMC_TRAPS}.13", out.stderr
    assert out.stderr == ""  # the MIB parses without a warning
    names = subprocess.run(
        [*cmd, f"{BMC_TRAPS}.63", f"{OBJECTS}.4"], capture_output=True, text=True, timeout=10
    )
    assert names.stdout.split() == [
        "SCALEUNIT-BMC-MIB::suBmcDriveCritical",
        "SCALEUNIT-BMC-MIB::suBmcSeverity",
    ]


# -- the topology ---------------------------------------------------------------------------------


def with_traps(text: str, traps: str) -> str:
    return text.replace("bmc_network:\n", f"bmc_network:\n  traps: {traps}\n", 1)


@pytest.mark.parametrize(
    ("traps", "password", "needle"),
    [
        ("{receivers: ['127.0.0.1:16262'], auth: md5}", None, "traps.auth: Input should be"),
        ("{receivers: ['127.0.0.1:16262'], priv: des}", None, "traps.priv: Input should be"),
        ("{receivers: ['127.0.0.1:16262'], auth_key: short}", None, "8 to 64 printable"),
        ("{receivers: ['localhost:99999']}", None, "expected ADDRESS or ADDRESS:PORT"),
        ("{receivers: ['127.0.0.1:16262']}", "lab1", r"BMC password \(4 characters\) is too short"),
        ("{receivers: ['127.0.0.1'], colour: red}", None, "unknown key 'colour'"),
    ],
)
def test_bad_trap_settings_are_topology_errors(
    traps: str, password: str | None, needle: str
) -> None:
    text = with_traps(topo.generate(4, password=password or topo.DEFAULT_PASSWORD), traps)
    with pytest.raises(topo.TopologyError, match=needle) as info:
        topo.load_text(text, "rack.yaml")
    assert str(info.value).startswith("rack.yaml:")


def test_trap_settings_default_to_the_bmc_credentials() -> None:
    t = topo.load_text(with_traps(topo.generate(4), "{receivers: ['127.0.0.1']}"), "rack.yaml")
    assert t.bmc_network.traps.targets() == [("127.0.0.1", 162)]
    assert t.bmc_trap_user(t.nodes[0]) == ("admin", topo.DEFAULT_PASSWORD, topo.DEFAULT_PASSWORD)
    own = with_traps(
        topo.generate(4, password="lab1"),
        "{receivers: ['127.0.0.1:1162'], user: traps, auth: sha256, auth_key: auth-key-1, "
        "priv_key: priv-key-1}",
    )
    t = topo.load_text(own, "rack.yaml")
    assert t.bmc_trap_user(t.nodes[1]) == ("traps", "auth-key-1", "priv-key-1")


# -- a real snmptrapd ------------------------------------------------------------------------------


class V3TrapDaemon(TrapReceiver):
    """``snmptrapd`` on 127.0.0.1:<port> that knows each BMC's v3 user (``createUser -e``) and
    logs what its users send (``authUser log``); the BMC MIB loaded, so traps print by name."""

    def __init__(self, port: int, users: list[str], auth_users: list[str]) -> None:
        super().__init__(
            [*users, *auth_users],
            port,
            accept_all=False,
            mib_args=["-M", str(MIBS), "-m", "SCALEUNIT-BMC-MIB"],
            trap_format="TRAP %b %v\n",
        )


def start_trap_rack(
    state_dir: Path, traps: str | None, daemon_user: Callable[[str], str]
) -> tuple[RackThread, V3TrapDaemon]:
    """A 4-node rack whose BMCs send their traps (``traps``: the bmc_network.traps mapping, None
    for the default one) to an snmptrapd with ``daemon_user(engine_id_hex)`` for each BMC."""
    port = free_udp_port()
    base = next_base_address()
    prefix = base.rsplit(".", 1)[0]
    text = topo.generate(
        4,
        base_address=base,
        ipmi_port=16230,
        redfish_port=18443,
        switch_base_address=f"{prefix}.240",
        snmp_port=16161,
        host_base_address=f"{prefix}.200",
        bmc_trap_receivers=[f"127.0.0.1:{port}"],
    )
    if traps is not None:
        text = text.replace(
            f"traps: {{receivers: ['127.0.0.1:{port}']}}",
            f"traps: {{receivers: ['127.0.0.1:{port}'], {traps}}}",
        )
    t = topo.load_text(text, "<test>")
    users = [daemon_user(engine_id(n).hex()) for n in t.nodes]
    name = users[0].split()[3]
    daemon = V3TrapDaemon(port, users, [f"authUser log {name}"])
    rack = RackThread(t, speed=50.0, state_dir=state_dir)
    try:
        rack.start()
    except BaseException:
        daemon.close()
        raise
    return rack, daemon


@pytest.fixture
def trap_rack(tmp_path: Path) -> Iterator[tuple[RackThread, V3TrapDaemon, list[Event]]]:
    """The default settings: each BMC's user and password, SHA and AES."""
    password = topo.DEFAULT_PASSWORD
    rack, daemon = start_trap_rack(
        tmp_path / "state",
        None,
        lambda engine: f"createUser -e 0x{engine} admin SHA {password} AES {password}",
    )
    try:
        seen: list[Event] = []
        rack.call(lambda r: r.bus.subscribe(seen.append))
        yield rack, daemon, seen
    finally:
        rack.close()
        daemon.close()


@pytest.mark.tools
@pytest.mark.parametrize(
    ("traps", "daemon_user", "received"),
    [
        # SHA-256 (RFC 7860), a user and keys of its own.
        (
            "user: hw-traps, auth: sha256, auth_key: trap-auth-1, priv_key: trap-priv-1",
            "createUser -e 0x{e} hw-traps SHA-256 trap-auth-1 AES trap-priv-1",
            True,
        ),
        # authNoPriv.
        ("priv: none", "createUser -e 0x{e} admin SHA scaleunit-lab1", True),
        # The receiver has another privacy key: it cannot read the trap, so logs nothing.
        (None, "createUser -e 0x{e} admin SHA scaleunit-lab1 AES wrong-priv-key", False),
        # Another authentication key: the trap fails authentication.
        (None, "createUser -e 0x{e} admin SHA wrong-auth-key AES scaleunit-lab1", False),
    ],
)
def test_trap_security_settings_with_snmptrapd(
    tmp_path: Path, traps: str | None, daemon_user: str, received: bool
) -> None:
    rack, daemon = start_trap_rack(tmp_path / "state", traps, lambda e: daemon_user.format(e=e))
    try:
        n03 = rack.endpoint("n03", "ipmi")
        rack.call(lambda r: r.nodes["n03"].set_psu_input("PSU2", False))
        arrived = daemon.wait_for(
            lambda line: (
                line.startswith(f"TRAP UDP: [{n03.address}]:")
                and "suBmcPowerSupplyCritical" in line
                and "PSU2 input lost" in line
            ),
            10 if received else 2,
        )
        assert arrived is received, daemon.lines
        sender = rack.runtime.bmc_traps
        assert sender is not None
        assert rack.call(lambda r: len(sender.sent)) >= 1  # sent either way: the receiver decides
    finally:
        rack.close()
        daemon.close()


@pytest.mark.tools
def test_a_psu_input_loss_reaches_snmptrapd_as_a_decrypted_v3_trap(
    trap_rack: tuple[RackThread, V3TrapDaemon, list[Event]],
) -> None:
    rack, daemon, seen = trap_rack
    n02 = rack.endpoint("n02", "ipmi")
    rack.call(lambda r: r.nodes["n02"].set_psu_input("PSU1", False))

    def from_n02(trap: str) -> Callable[[str], bool]:
        return lambda line: (
            line.startswith(f"TRAP UDP: [{n02.address}]:") and f"SCALEUNIT-BMC-MIB::{trap}" in line
        )

    assert daemon.wait_for(from_n02("suBmcPowerSupplyCritical"), 10), daemon.lines
    assert daemon.wait_for(from_n02("suBmcPowerSupplyWarning"), 10), daemon.lines  # redundancy
    line = next(t for t in daemon.traps() if "suBmcPowerSupplyCritical" in t)
    assert 'suBmcNodeName.0 = STRING: "n02"' in line or "suBmcNodeName.0 = STRING: n02" in line
    assert "suBmcSeverity.0 = INTEGER: critical(3)" in line
    assert "suBmcSensorType.0 = INTEGER: 8" in line
    assert "PSU1 input lost" in line
    serial = rack.call(lambda r: r.nodes["n02"].fru.chassis_serial)
    assert serial in line
    sent = [e for e in seen if isinstance(e, BmcTrapSent)]
    assert [(e.device, e.severity) for e in sent][:2] == [("n02", "critical"), ("n02", "warning")]
    # Nothing came from another BMC, and nothing undecryptable was logged.
    assert all(t.startswith(f"TRAP UDP: [{n02.address}]:") for t in daemon.traps())
    assert not any(
        "decryption" in line.lower() or "unknown user" in line.lower() for line in daemon.lines
    )


@pytest.mark.tools
def test_no_trap_arrives_while_the_bmc_switch_is_off_or_the_cable_is_out(
    trap_rack: tuple[RackThread, V3TrapDaemon, list[Event]],
) -> None:
    rack, daemon, seen = trap_rack
    rack.call(lambda r: r.switches["bmc-switch"].power_off())
    rack.call(lambda r: r.nodes["n03"].set_psu_input("PSU2", False))
    rack.call(lambda r: r.pull_cable("n01:bmc"))
    rack.call(lambda r: r.switches["bmc-switch"].power_on())
    rack.call(lambda r: r.nodes["n01"].set_psu_input("PSU2", False))
    time.sleep(2.0)  # long enough for a trap on loopback (the positive test sees one in ms)
    assert daemon.traps() == [], daemon.traps()
    lost = [(e.device, e.reason) for e in seen if isinstance(e, BmcTrapLost)]
    assert ("n03", "no-path") in lost and ("n01", "no-path") in lost
    assert not any(isinstance(e, BmcTrapSent) for e in seen)
    # Path back (the cable in, the BMC switch booted: 180 s at speed 50): traps flow again.
    rack.call(lambda r: r.plug_cable("n01:bmc"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not rack.call(lambda r: r.fabric.bmc_path_up("n01")):
        time.sleep(0.1)
    assert rack.call(lambda r: r.fabric.bmc_path_up("n01"))
    # AC lost on both of n02's PSUs: the first loss is sent, the second finds no standby power.
    rack.call(lambda r: r.nodes["n02"].set_psu_input("PSU1", False))
    rack.call(lambda r: r.nodes["n02"].set_psu_input("PSU2", False))
    n02 = rack.endpoint("n02", "ipmi")
    assert daemon.wait_for(
        lambda line: f"[{n02.address}]:" in line and "PSU1 input lost" in line, 10
    ), daemon.lines
    lost = [(e.device, e.reason, e.message) for e in seen if isinstance(e, BmcTrapLost)]
    assert ("n02", "no-power", "PSU2 input lost") in lost
    assert not any("PSU2 input lost" in line for line in daemon.traps())
    # A BMC restarting (its path is fine now): its firmware is not up to send either.
    rack.call(lambda r: r.nodes["n04"].bmc_reset(BmcResetKind.COLD))
    rack.call(lambda r: r.nodes["n04"].set_psu_input("PSU1", False))
    lost = [(e.device, e.reason) for e in seen if isinstance(e, BmcTrapLost)]
    assert ("n04", "bmc-silent") in lost
    rack.call(lambda r: r.nodes["n01"].set_psu_input("PSU2", True))
    n01 = rack.endpoint("n01", "ipmi")
    assert daemon.wait_for(
        lambda line: (
            line.startswith(f"TRAP UDP: [{n01.address}]:") and "suBmcPowerSupplyInfo" in line
        ),
        10,
    ), daemon.lines
    n04 = rack.endpoint("n04", "ipmi")
    assert not any(f"[{n04.address}]:" in line for line in daemon.traps())


@pytest.mark.tools
def test_traps_still_arrive_after_the_emulator_restarts(tmp_path: Path) -> None:
    """snmptrapd keeps each engine's boots and time, and drops a trap whose clock went back: the
    BMCs' engine boots must grow across a restart (and a BMC reset), as NVRAM keeps them."""
    password = topo.DEFAULT_PASSWORD
    rack, daemon = start_trap_rack(
        tmp_path / "state",
        None,
        lambda engine: f"createUser -e 0x{engine} admin SHA {password} AES {password}",
    )
    try:
        n01 = rack.endpoint("n01", "ipmi")

        def psu_trap(text: str) -> Callable[[str], bool]:
            return lambda line: line.startswith(f"TRAP UDP: [{n01.address}]:") and text in line

        rack.call(lambda r: r.nodes["n01"].set_psu_input("PSU1", False))
        assert daemon.wait_for(psu_trap("PSU1 input lost"), 10), daemon.lines
        # A BMC reset: boots one more, time from zero again.
        rack.call(lambda r: r.nodes["n01"].bmc_reset(BmcResetKind.WARM))
        assert wait_for(lambda: rack.call(lambda r: r.fabric.bmc_answering("n01")), 10, 0.05)
        rack.call(lambda r: r.nodes["n01"].set_psu_input("PSU1", True))
        assert daemon.wait_for(psu_trap("PSU1 input restored"), 10), daemon.lines
        topology = rack.topology
        rack.close()
        time.sleep(1.1)  # a restart takes longer than this anyway
        again = RackThread(topology, speed=50.0, state_dir=tmp_path / "state2").start()
        try:
            again.call(lambda r: r.nodes["n01"].set_psu_input("PSU2", False))
            assert daemon.wait_for(psu_trap("PSU2 input lost"), 10), daemon.lines
        finally:
            again.close()
    finally:
        rack.close()
        daemon.close()


def test_the_trap_sender_and_the_redfish_log_read_one_meaning() -> None:
    """nodes.sel_meaning decodes a record once: the trap's category exists exactly for its
    hardware sensor types, and the trap's severity and the LogEntry's Severity are the same
    level for every hardware record."""
    from bmc.redfish.mapping import sel_severity
    from bmc.snmp.traps import _CATEGORY_OF
    from nodes.sel_meaning import HARDWARE, Level, meaning

    assert set(_CATEGORY_OF) == set(HARDWARE)
    words = {Level.INFO: "OK", Level.WARNING: "Warning", Level.CRITICAL: "Critical"}
    for sensor_type in HARDWARE:
        for offset in range(16):
            for asserted in (True, False):
                rec = record(sensor_type, offset, asserted=asserted)
                alert = classify(rec)
                meant = meaning(rec)
                assert alert is not None and meant is not None and meant.hardware
                assert int(alert.severity) == int(meant.level)
                assert sel_severity(rec) == words[meant.level]
    boot = record(SensorType.SYSTEM_BOOT_INITIATED, 1)
    assert classify(boot) is None and sel_severity(boot) == "OK"
    assert meaning(record(SensorType.POWER_SUPPLY, 1, record_type=0xC0)) is None

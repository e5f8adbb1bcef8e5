"""The IPMI command layer on a virtual clock: NodeIpmiBackend.dispatch with no sockets.

Byte layouts follow IPMI 2.0 (and the Platform Management FRU spec); the same commands are
exercised with the real ipmitool and freeipmi clients in test_ipmi_tools.py.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

import pytest

from bmc.ipmi import commands as c
from bmc.ipmi.fru import checksum, field
from bmc.ipmi.sdr import Linear, choose_linear
from bmc.ipmi.session import Request
from nodes import sensors as sn
from nodes.clock import VirtualClock
from nodes.errors import (
    CapacityExceeded,
    InvalidArgument,
    InvalidState,
    ModelError,
    NotFound,
    NotSupported,
    PowerUnavailable,
    ReservationCanceled,
)
from nodes.events import BmcResetStarted, Event, EventBus
from nodes.node import BootTarget, Node
from nodes.power import HostState
from nodes.sel import SensorType
from nodes.spec import PowerRestorePolicy, TimingSpec
from nodes.users import Privilege
from tests import model_helpers

T = TimingSpec()
APP, CHASSIS, SE, STORAGE, TRANSPORT = 0x06, 0x00, 0x04, 0x0A, 0x0C
CALLBACK, USER, OPERATOR, ADMIN = 1, 2, 3, 4
BOOTED = T.power_on_s + T.post_s + T.os_boot_s + 0.5

Call = Callable[..., tuple[int, bytes]]


def make_node(clock: VirtualClock, bus: EventBus, **kwargs: object) -> Node:
    return model_helpers.make_node(clock, bus, node_options=kwargs)


@pytest.fixture
def events() -> list[Event]:
    return []


@pytest.fixture
def node(clock: VirtualClock, events: list[Event]) -> Node:
    bus = EventBus()
    bus.subscribe(events.append)
    return make_node(clock, bus)


@pytest.fixture
def backend(node: Node) -> c.NodeIpmiBackend:
    return c.NodeIpmiBackend(node)


@pytest.fixture
def call(backend: c.NodeIpmiBackend) -> Call:
    def call(
        netfn: int, cmd: int, data: bytes | list[int] = b"", priv: int = ADMIN
    ) -> tuple[int, bytes]:
        return backend.dispatch(
            Request(netfn, cmd, 0, bytes(data), priv, 2, 0x1234, ("127.0.0.1", 40000))
        )

    return call


def ok(result: tuple[int, bytes]) -> bytes:
    cc, data = result
    assert cc == 0, f"completion code {cc:#04x}"
    return data


def u16(data: bytes, at: int = 0) -> int:
    return data[at] | data[at + 1] << 8


def power_up(clock: VirtualClock, call: Call) -> None:
    ok(call(CHASSIS, 0x02, [0x01]))
    clock.advance(BOOTED)


# -- dispatch rules ------------------------------------------------------------------------------
def test_unknown_command_is_c1(call: Call) -> None:
    assert call(0x30, 0x99) == (0xC1, b"")
    assert call(APP, 0x7F) == (0xC1, b"")


def test_wrong_request_length_is_c7(call: Call) -> None:
    assert call(APP, 0x01, [0x01])[0] == 0xC7  # Get Device ID takes no data
    assert call(CHASSIS, 0x02)[0] == 0xC7  # Chassis Control needs its byte
    assert call(STORAGE, 0x43, [0, 0, 0, 0])[0] == 0xC7  # Get SEL Entry is 6 bytes


def test_privilege_below_the_command_minimum_is_d4(call: Call, node: Node) -> None:
    assert call(CHASSIS, 0x02, [0x01], priv=USER)[0] == 0xD4
    assert node.state is HostState.OFF
    assert call(APP, 0x02, priv=OPERATOR)[0] == 0xD4  # cold reset is administrator
    assert call(APP, 0x01, priv=CALLBACK)[0] == 0xD4
    assert call(APP, 0x01, priv=USER)[0] == 0x00
    assert call(CHASSIS, 0x01, priv=USER)[0] == 0x00
    assert call(APP, 0x47, [0x03, 0x02] + [0] * 16, priv=OPERATOR)[0] == 0xD4


def test_every_model_error_has_one_completion_code() -> None:
    expected = {
        InvalidState: 0xD5,
        PowerUnavailable: 0xD5,
        InvalidArgument: 0xCC,
        NotFound: 0xCB,
        CapacityExceeded: 0xC4,
        ReservationCanceled: 0xC5,
        NotSupported: 0xC1,
        ModelError: 0xFF,
    }
    for error, code in expected.items():
        assert c.completion_code(error("x")) == code, error


def test_an_exception_inside_a_handler_answers_ff_and_is_logged(
    call: Call, node: Node, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(number: int) -> None:
        raise RuntimeError("sensor bus wedged")

    monkeypatch.setattr(node, "read", broken)
    with caplog.at_level(logging.ERROR, logger="bmc.ipmi"):
        assert call(SE, 0x2D, [sn.INLET_TEMP]) == (0xFF, b"")
    assert "event=command.failed" in caplog.text and "node=n01" in caplog.text


def test_every_table_entry_answers_without_raising(call: Call) -> None:
    # Whatever bytes of an accepted length arrive, the answer is a completion code.
    for (netfn, cmd), (_, _, lengths) in c.COMMANDS.items():
        if (netfn, cmd) in ((APP, 0x02), (APP, 0x03)):
            continue
        for n in sorted(lengths)[:3]:
            for fill in (0x00, 0x01, 0xFF):
                cc, _ = call(netfn, cmd, bytes([fill] * n))
                assert cc != 0xFF, (hex(netfn), hex(cmd), n, fill)


# -- App -----------------------------------------------------------------------------------------
def test_get_device_id_layout(call: Call, node: Node) -> None:
    data = ok(call(APP, 0x01))
    assert len(data) == 15
    assert data[0] == 0x20
    assert data[1] & 0x0F == 1 and data[1] & 0x80  # revision 1, provides device SDRs
    assert data[2] == 7  # firmware 7.00: bit 7 clear = device available
    assert data[3] == 0x00
    assert data[4] == 0x02  # IPMI 2.0
    assert data[5] & 0x8F == 0x8F  # chassis, FRU, SEL, SDR repository, sensor device
    assert int.from_bytes(data[6:9], "little") == 32473
    assert u16(data, 9) == 2400
    assert data[11:15] == bytes((0, 184, 0, 0))  # the rest of 7.00.00.184
    node.firmware["bmc"] = "3.45.1.2"
    data = ok(call(APP, 0x01))
    assert data[2] == 3 and data[3] == 0x45  # minor revision in BCD


def test_guids_are_ipmi_byte_order(call: Call, node: Node, backend: c.NodeIpmiBackend) -> None:
    system = ok(call(APP, 0x37))
    assert system == backend.system_guid() == node.guid.bytes[::-1]
    assert uuid.UUID(bytes=system[::-1]) == node.guid
    device = ok(call(APP, 0x08))
    assert len(device) == 16 and device != system


def test_self_test_and_acpi_state(clock: VirtualClock, call: Call) -> None:
    assert ok(call(APP, 0x04)) == b"\x55\x00"
    assert ok(call(APP, 0x07)) == b"\x05\x03"  # S5/G2 soft-off, D3
    power_up(clock, call)
    assert ok(call(APP, 0x07)) == b"\x00\x00"


@pytest.mark.parametrize(
    ("cmd", "seconds"), [(0x02, T.bmc_cold_reset_s), (0x03, T.bmc_warm_reset_s)]
)
def test_bmc_reset_answers_first_then_resets(
    clock: VirtualClock,
    call: Call,
    backend: c.NodeIpmiBackend,
    events: list[Event],
    cmd: int,
    seconds: float,
) -> None:
    assert call(APP, cmd) == (0, b"")
    assert backend.answering()  # the reply leaves before the BMC goes down
    assert not any(isinstance(e, BmcResetStarted) for e in events)
    clock.advance(0)
    assert not backend.answering()
    assert any(isinstance(e, BmcResetStarted) for e in events)
    clock.advance(seconds - 0.1)
    assert not backend.answering()
    clock.advance(0.2)
    assert backend.answering()


def test_answering_needs_the_fabric_too(node: Node) -> None:
    up = [True]
    backend = c.NodeIpmiBackend(node, reachable=lambda: up[0])
    assert backend.answering()
    up[0] = False
    assert not backend.answering()


def test_system_info_parameters(call: Call, node: Node) -> None:
    data = ok(call(APP, 0x59, [0, 2, 0, 0]))  # system name
    assert data[:2] == b"\x11\x00" and data[2] == 0 and data[3] == 3 and data[4:7] == b"n01"
    data = ok(call(APP, 0x59, [0, 1, 0, 0]))  # firmware version
    assert data[4 : 4 + data[3]] == node.firmware["bios"].encode()
    assert ok(call(APP, 0x59, [0x80, 1, 0, 0])) == b"\x11"
    assert call(APP, 0x59, [0, 0x30, 0, 0])[0] == 0x80


# -- App: channels and users ---------------------------------------------------------------------
def test_channel_info_for_lan_and_current_channel(call: Call) -> None:
    for channel in (0x01, 0x0E):
        data = ok(call(APP, 0x42, [channel]))
        assert data[0] == 1 and data[1] == 0x04 and data[2] == 0x01  # 802.3 LAN, IPMB-1.0
        assert data[3] & 0xC0 == 0x80  # multi-session
        assert int.from_bytes(data[4:7], "little") == 7154 and len(data) == 9
    assert call(APP, 0x42, [0x05])[0] == 0xCC


def test_channel_access_is_fixed(call: Call) -> None:
    assert ok(call(APP, 0x41, [0x01, 0x80])) == bytes((0x22, 0x04))
    assert ok(call(APP, 0x41, [0x01, 0x40])) == bytes((0x22, 0x04))
    assert call(APP, 0x41, [0x01, 0x00])[0] == 0xCC
    assert call(APP, 0x40, [0x01, 0x00, 0x00]) == (0, b"")  # sets nothing
    assert call(APP, 0x40, [0x01, 0x80 | 0x22, 0x80 | 0x04]) == (0, b"")  # sets the same
    assert call(APP, 0x40, [0x01, 0x80 | 0x20, 0x00])[0] == 0x83  # disabled access mode


def test_user_access_name_and_privilege(call: Call, node: Node) -> None:
    data = ok(call(APP, 0x44, [0x01, 0x02], priv=OPERATOR))
    assert data[0] == 16 and data[1] & 0x3F == 1 and data[1] >> 6 == 0b01
    assert data[3] & 0x0F == 4 and data[3] & 0x30 == 0x30
    assert ok(call(APP, 0x46, [0x02])) == b"admin".ljust(16, b"\x00")
    assert ok(call(APP, 0x46, [0x05])) == bytes(16)
    assert call(APP, 0x44, [0x01, 0x00])[0] == 0xCC  # user 0 does not exist
    assert call(APP, 0x44, [0x01, 0x11])[0] == 0xCC
    assert call(APP, 0x44, [0x03, 0x02])[0] == 0xCC  # not a LAN channel

    assert call(APP, 0x45, [0x03, *b"ops".ljust(16, b"\x00")]) == (0, b"")
    assert node.users.get(3).name == "ops"
    assert call(APP, 0x45, [0x01, *b"anon".ljust(16, b"\x00")])[0] == 0xCC
    assert call(APP, 0x45, [0x04, *b"ops".ljust(16, b"\x00")])[0] == 0xD5  # name taken
    assert call(APP, 0x43, [0x91, 0x03, 0x03]) == (0, b"")
    assert node.users.get(3).privilege is Privilege.OPERATOR
    assert call(APP, 0x43, [0x91, 0x03, 0x07])[0] == 0xCC


def test_set_user_password_operations(call: Call, node: Node, backend: c.NodeIpmiBackend) -> None:
    ok(call(APP, 0x45, [0x03, *b"ops".ljust(16, b"\x00")]))
    ok(call(APP, 0x43, [0x91, 0x03, 0x03]))
    twenty = b"a-twenty-byte-secret"
    assert len(twenty) == 20
    assert call(APP, 0x47, [0x83, 0x02, *twenty]) == (0, b"")  # set, 20-byte form
    assert call(APP, 0x47, [0x83, 0x03, *twenty]) == (0, b"")  # test: right
    assert call(APP, 0x47, [0x83, 0x03, *b"wrong".ljust(20, b"\x00")])[0] == 0x80
    assert call(APP, 0x47, [0x03, 0x03, *twenty[:16]])[0] == 0x81  # 16-byte form, 20 stored
    assert call(APP, 0x47, [0x03, 0x02, *b"short".ljust(16, b"\x00")]) == (0, b"")
    assert call(APP, 0x47, [0x03, 0x03, *b"short".ljust(16, b"\x00")]) == (0, b"")
    assert call(APP, 0x47, [0x03, 0x02, *b"x" * 10])[0] == 0xC7  # neither 16 nor 20

    assert backend.credential(b"ops") is None  # not enabled yet
    assert call(APP, 0x47, [0x03, 0x01]) == (0, b"")  # enable
    cred = backend.credential(b"ops")
    assert cred is not None and cred.user_id == 3 and cred.password == b"short"
    assert cred.max_privilege == 3 and cred.enabled
    assert call(APP, 0x47, [0x03, 0x00]) == (0, b"")  # disable
    assert backend.credential(b"ops") is None
    assert not node.users.get(3).enabled


def test_credentials_for_login(backend: c.NodeIpmiBackend, node: Node) -> None:
    cred = backend.credential(b"admin")
    assert cred is not None and cred.password == b"secret" and cred.max_privilege == 4
    assert backend.credential(b"nobody") is None
    assert backend.credential(b"") is None
    assert backend.credential(b"\xff\xfe") is None
    by_priv = backend.credential_by_privilege(4)
    assert by_priv is not None and by_priv.user_id == 2
    node.users.set_enabled(2, False)
    assert backend.credential(b"admin") is None
    assert backend.credential_by_privilege(2) is None


def test_passwords_are_never_logged(
    call: Call, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, node: Node
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(node.users, "set_password", broken)
    with caplog.at_level(logging.DEBUG):
        call(APP, 0x47, [0x03, 0x02, *b"hunter2".ljust(16, b"\x00")])
        call(APP, 0x47, [0x02, 0x03, *b"guess-me".ljust(16, b"\x00")])
    assert "hunter2" not in caplog.text and "guess-me" not in caplog.text


# -- Chassis -------------------------------------------------------------------------------------
def test_chassis_capabilities(call: Call) -> None:
    data = ok(call(CHASSIS, 0x00))
    assert len(data) == 5 and data[1:5] == b"\x20\x20\x20\x20"


def test_chassis_status_power_policy_and_last_event(
    clock: VirtualClock, call: Call, node: Node
) -> None:
    data = ok(call(CHASSIS, 0x01))
    assert data[0] == 0x00 and data[1] == 0x00 and data[2] == 0x40
    ok(call(CHASSIS, 0x02, [0x01]))
    clock.advance(T.power_on_s + 0.1)
    data = ok(call(CHASSIS, 0x01))
    assert data[0] & 0x01 and data[1] & 0x10  # on, last power-on by IPMI command
    node.set_power_restore_policy(PowerRestorePolicy.ALWAYS_ON)
    assert ok(call(CHASSIS, 0x01))[0] & 0x60 == 0x40
    node.set_power_restore_policy(PowerRestorePolicy.PREVIOUS)
    assert ok(call(CHASSIS, 0x01))[0] & 0x60 == 0x20
    node.failed_fans.add("Fan2")
    assert ok(call(CHASSIS, 0x01))[2] & 0x08


def test_chassis_identify_states(clock: VirtualClock, call: Call, node: Node) -> None:
    assert call(CHASSIS, 0x04, [10]) == (0, b"")
    assert ok(call(CHASSIS, 0x01))[2] & 0x70 == 0x50  # supported, temporary on
    clock.advance(10.1)
    assert ok(call(CHASSIS, 0x01))[2] & 0x70 == 0x40  # off again
    assert call(CHASSIS, 0x04, [0, 0x01]) == (0, b"")  # force on
    assert ok(call(CHASSIS, 0x01))[2] & 0x70 == 0x60  # indefinite
    assert node.identify_until is None and node.identify_on
    assert call(CHASSIS, 0x04, [0]) == (0, b"")
    assert not node.identify_on
    assert call(CHASSIS, 0x04) == (0, b"")  # default interval
    assert node.identify_until == pytest.approx(clock.now() + T.identify_default_s)


def test_chassis_control_drives_the_model(clock: VirtualClock, call: Call, node: Node) -> None:
    assert call(CHASSIS, 0x02, [0x02])[0] == 0xD5  # power cycle while off
    assert call(CHASSIS, 0x02, [0x03])[0] == 0xD5  # hard reset while off
    assert call(CHASSIS, 0x02, [0x04])[0] == 0xD5  # NMI while off
    assert call(CHASSIS, 0x02, [0x09])[0] == 0xCC
    power_up(clock, call)
    assert node.state is HostState.RUNNING
    assert call(CHASSIS, 0x02, [0x03]) == (0, b"")
    assert node.state is HostState.POST
    clock.advance(BOOTED)
    assert call(CHASSIS, 0x02, [0x05]) == (0, b"")  # soft: ACPI shutdown
    assert node.state is HostState.SHUTTING_DOWN
    clock.advance(T.os_shutdown_s + 1)
    assert node.state is HostState.OFF
    power_up(clock, call)
    assert call(CHASSIS, 0x02, [0x00]) == (0, b"")
    assert node.state is HostState.OFF


def test_power_up_without_psu_input_is_d5(call: Call, node: Node) -> None:
    node.set_psu_input("PSU1", False)
    node.set_psu_input("PSU2", False)
    assert call(CHASSIS, 0x02, [0x01]) == (0xD5, b"")
    assert node.state is HostState.OFF
    node.set_psu_input("PSU2", True)
    assert call(CHASSIS, 0x02, [0x01]) == (0, b"")


def test_power_on_logs_sel_records_and_sensors_become_available(
    clock: VirtualClock, call: Call
) -> None:
    cpu = ok(call(SE, 0x2D, [sn.CPU_TEMP_BASE]))
    assert cpu[1] & 0x20  # reading unavailable while off
    inlet = ok(call(SE, 0x2D, [sn.INLET_TEMP]))
    assert not inlet[1] & 0x20  # standby sensor
    power_up(clock, call)
    cpu = ok(call(SE, 0x2D, [sn.CPU_TEMP_BASE]))
    assert not cpu[1] & 0x20 and cpu[0] > 30
    fan = ok(call(SE, 0x2D, [sn.FAN_BASE]))
    assert not fan[1] & 0x20 and fan[0] * 100 == 3600
    entries = read_sel(call)
    kinds = [(e[10], e[11], e[13] & 0x0F) for e in entries]
    assert (SensorType.SYSTEM_BOOT_INITIATED, sn.SYSTEM_BOOT, 0x00) in kinds  # power up
    assert (SensorType.ACPI_POWER_STATE, sn.ACPI_STATE, 0x00) in kinds  # S0/G0
    assert (SensorType.OS_BOOT, sn.OS_BOOT, 0x01) in kinds  # boot completed from disk
    stamps = [int.from_bytes(e[3:7], "little") for e in entries]
    assert stamps == sorted(stamps) and stamps[-1] == pytest.approx(clock.now(), abs=BOOTED)


def test_power_restore_policy(call: Call, node: Node) -> None:
    assert ok(call(CHASSIS, 0x06, [0x02])) == b"\x07"
    assert node.power_restore_policy is PowerRestorePolicy.ALWAYS_ON
    assert ok(call(CHASSIS, 0x06, [0x03])) == b"\x07"  # query: no change
    assert node.power_restore_policy is PowerRestorePolicy.ALWAYS_ON
    ok(call(CHASSIS, 0x06, [0x01]))
    assert node.power_restore_policy is PowerRestorePolicy.PREVIOUS
    ok(call(CHASSIS, 0x06, [0x00]))
    assert node.power_restore_policy is PowerRestorePolicy.ALWAYS_OFF
    assert call(CHASSIS, 0x06, [0x05])[0] == 0xCC


def test_restart_cause(clock: VirtualClock, call: Call) -> None:
    assert ok(call(CHASSIS, 0x07)) == b"\x00\x00"
    power_up(clock, call)
    assert ok(call(CHASSIS, 0x07)) == b"\x01\x01"  # chassis control, LAN channel


@pytest.mark.parametrize(
    ("selector", "target"),
    [
        (0x1, BootTarget.PXE),
        (0x2, BootTarget.DISK),
        (0x3, BootTarget.DISK),  # safe mode: kept as a plain disk boot
        (0x4, BootTarget.DIAGS),
        (0x5, BootTarget.CDROM),
        (0x6, BootTarget.BIOS),
        (0xF, BootTarget.FLOPPY),
    ],
)
def test_boot_flags_set_the_model_override(
    call: Call, node: Node, selector: int, target: BootTarget
) -> None:
    flags = [0x05, 0x80 | 0x40 | 0x20, selector << 2, 0, 0, 0]
    assert call(CHASSIS, 0x08, flags) == (0, b"")
    assert node.boot_override.target is target
    assert node.boot_override.persistent and node.boot_override.uefi
    data = ok(call(CHASSIS, 0x09, [0x05, 0, 0]))
    assert data[:2] == b"\x01\x05" and len(data) == 7
    assert data[2] == 0xE0
    assert data[3] >> 2 == (0x2 if selector == 0x3 else selector)


def test_boot_flags_next_boot_legacy_and_invalid(
    clock: VirtualClock, call: Call, node: Node
) -> None:
    ok(call(CHASSIS, 0x08, [0x05, 0x80, 0x01 << 2, 0, 0, 0]))  # pxe, next boot, legacy
    assert node.boot_override.target is BootTarget.PXE
    assert not node.boot_override.persistent and not node.boot_override.uefi
    assert ok(call(CHASSIS, 0x09, [0x05, 0, 0]))[2:4] == bytes((0x80, 0x04))
    power_up(clock, call)  # a one-time override is used up by the boot
    assert node.last_boot_device == "pxe"
    data = ok(call(CHASSIS, 0x09, [0x05, 0, 0]))
    assert not data[2] & 0x80 and data[3] == 0
    ok(call(CHASSIS, 0x08, [0x05, 0x80 | 0x40, 0x05 << 2, 0, 0, 0]))
    ok(call(CHASSIS, 0x08, [0x05, 0x20, 0x01 << 2, 0, 0, 0]))  # valid bit clear: no override
    assert node.boot_override.target is BootTarget.NONE
    assert call(CHASSIS, 0x08, [0x05, 0x80, 0x07 << 2, 0, 0, 0])[0] == 0xCC  # remote floppy
    assert call(CHASSIS, 0x08, [0x05, 0x80, 0x04])[0] == 0xC7


def test_boot_option_bookkeeping_parameters(call: Call) -> None:
    assert call(CHASSIS, 0x08, [0x00, 0x01]) == (0, b"")  # set in progress
    assert ok(call(CHASSIS, 0x09, [0x00, 0, 0])) == b"\x01\x00\x01"
    assert call(CHASSIS, 0x08, [0x00, 0x00]) == (0, b"")
    assert ok(call(CHASSIS, 0x09, [0x00, 0, 0])) == b"\x01\x00\x00"
    assert call(CHASSIS, 0x08, [0x04, 0x01, 0x01]) == (0, b"")  # info acknowledge
    assert ok(call(CHASSIS, 0x09, [0x04, 0, 0])) == b"\x01\x04\x00\x01"
    assert call(CHASSIS, 0x08, [0x03, 0x08]) == (0, b"")
    assert ok(call(CHASSIS, 0x09, [0x03, 0, 0])) == b"\x01\x03\x08"
    assert call(CHASSIS, 0x09, [0x07, 0, 0])[0] == 0x80
    assert call(CHASSIS, 0x08, [0x07, 0x00])[0] == 0x80


# -- SDR repository ------------------------------------------------------------------------------
def walk_sdr(call: Call, netfn: int = STORAGE, cmd: int = 0x23) -> list[bytes]:
    records: list[bytes] = []
    record_id = 0x0000
    for _ in range(500):
        data = ok(call(netfn, cmd, [0, 0, record_id & 0xFF, record_id >> 8, 0, 0xFF]))
        records.append(data[2:])
        record_id = u16(data)
        if record_id == 0xFFFF:
            return records
    raise AssertionError("the SDR chain does not end")


def test_sdr_repository_info_and_chain(call: Call, node: Node) -> None:
    info = ok(call(STORAGE, 0x20))
    assert len(info) == 14 and info[0] == 0x51
    count = u16(info, 1)
    added, erased = int.from_bytes(info[5:9], "little"), int.from_bytes(info[9:13], "little")
    assert added == erased and 1_500_000_000 < added < 2_000_000_000
    assert info[13] & 0x02  # reserve supported
    records = walk_sdr(call)
    assert len(records) == count
    ids = [u16(r) for r in records]
    assert len(set(ids)) == len(ids) and 0 not in ids and 0xFFFF not in ids
    for r in records:
        assert r[2] == 0x51 and r[4] == len(r) - 5
    types = [r[3] for r in records]
    analog = [s for s in node.sensors if s.analog]
    assert types.count(0x01) == len(analog)
    assert types.count(0x02) == len(node.sensors) - len(analog)
    assert types.count(0x11) == 1 and types.count(0x12) == 1
    # The same records through the device SDR commands.
    assert walk_sdr(call, SE, 0x21) == records
    assert ok(call(SE, 0x20)) == bytes((len(node.sensors), 0x01))
    assert ok(call(SE, 0x20, [0x01]))[0] == count


def test_sdr_partial_reads_need_the_current_reservation(call: Call) -> None:
    whole = ok(call(STORAGE, 0x23, [0, 0, 1, 0, 0, 0xFF]))
    assert call(STORAGE, 0x23, [0, 0, 1, 0, 5, 10])[0] == 0xC5  # no reservation
    first = u16(ok(call(STORAGE, 0x22)))
    second = u16(ok(call(SE, 0x22)))
    assert second != first
    stale = [first & 0xFF, first >> 8, 1, 0, 5, 10]
    assert call(STORAGE, 0x23, stale)[0] == 0xC5  # a later reservation cancels the first
    good = [second & 0xFF, second >> 8]
    head = ok(call(STORAGE, 0x23, [*good, 1, 0, 0, 5]))
    assert head[2:] == whole[2:7]
    parts = head[2:]
    for offset in range(5, len(whole) - 2, 16):
        n = min(16, len(whole) - 2 - offset)
        parts += ok(call(STORAGE, 0x23, [*good, 1, 0, offset, n]))[2:]
    assert parts == whole[2:]
    assert call(STORAGE, 0x23, [*good, 1, 0, 40, 60])[0] == 0xCA  # more than the record has
    assert call(STORAGE, 0x23, [*good, 1, 0, 200, 1])[0] == 0xCC
    assert call(STORAGE, 0x23, [0, 0, 0x34, 0x12, 0, 0xFF])[0] == 0xCB
    last = ok(call(STORAGE, 0x23, [0, 0, 0xFF, 0xFF, 0, 0xFF]))
    assert u16(last) == 0xFFFF and last[2 + 3] == 0x12  # the MC locator ends the chain
    alloc = ok(call(STORAGE, 0x21))
    assert len(alloc) == 9 and u16(alloc, 2) == 16


def decode_full(record: bytes) -> dict[str, object]:
    """Just enough of a type 01h record for checks (offsets are 0-based record bytes)."""
    m = record[24] | (record[25] >> 6) << 8
    r_exp = record[29] >> 4
    if r_exp & 0x08:
        r_exp -= 16
    signed = record[20] >> 6 == 0b10
    lin = Linear(m, r_exp, signed)
    name_len = record[47] & 0x1F
    thresholds = dict(zip(("unr", "uc", "unc", "lnr", "lc", "lnc"), record[36:42], strict=True))
    return {
        "number": record[7],
        "entity": (record[8], record[9]),
        "type": record[12],
        "event_type": record[13],
        "readable": record[18],
        "unit": record[21],
        "linear": lin,
        "thresholds": {k: lin.value(v) for k, v in thresholds.items()},
        "name": record[48 : 48 + name_len].decode(),
    }


def test_full_sensor_records_describe_the_sensors(call: Call, node: Node) -> None:
    records = {r[7]: r for r in walk_sdr(call) if r[3] == 0x01}
    for sensor in node.sensors:
        if not sensor.analog:
            continue
        d = decode_full(records[sensor.number])
        assert d["name"] == sensor.name
        assert d["type"] == sensor.sensor_type and d["event_type"] == 0x01
        assert d["unit"] == sensor.unit
        assert d["entity"] == (sensor.entity_id, sensor.entity_instance)
        lin = d["linear"]
        assert isinstance(lin, Linear)
        t = sensor.thresholds
        limits = {
            "lnc": t.lower_non_critical,
            "lc": t.lower_critical,
            "lnr": t.lower_non_recoverable,
            "unc": t.upper_non_critical,
            "uc": t.upper_critical,
            "unr": t.upper_non_recoverable,
        }
        values = d["thresholds"]
        assert isinstance(values, dict)
        readable = 0
        for bit, key in enumerate(("lnc", "lc", "lnr", "unc", "uc", "unr")):
            if limits[key] is not None:
                readable |= 1 << bit
                assert values[key] == pytest.approx(limits[key], abs=lin.step / 2 + 1e-9)
        assert d["readable"] == readable
        # The encoding covers the whole declared range.
        assert lin.value(lin.raw(sensor.range_max)) >= sensor.range_max - lin.step
        assert lin.value(lin.raw(sensor.range_min)) <= sensor.range_min + lin.step
    inlet = decode_full(records[sn.INLET_TEMP])
    assert inlet["linear"] == Linear(1, 0, True)


def test_compact_records_for_discrete_sensors(call: Call, node: Node) -> None:
    records = {r[7]: r for r in walk_sdr(call) if r[3] == 0x02}
    discrete = [s for s in node.sensors if not s.analog]
    assert set(records) == {s.number for s in discrete}
    for sensor in discrete:
        r = records[sensor.number]
        assert r[12] == sensor.sensor_type and r[13] == sensor.event_type
        assert r[20] == 0xC0  # no analog reading
        assert r[31 : 32 + (r[31] & 0x1F)][1:].decode() == sensor.name


@pytest.mark.parametrize(
    ("low", "high"), [(-40, 125), (0, 25_500), (0, 2040), (0, 18.0), (0, 4.0), (0, 4.95), (0, 1)]
)
def test_linear_encoding_round_trips(low: float, high: float) -> None:
    lin = choose_linear(low, high)
    steps = 50
    for i in range(steps + 1):
        value = low + (high - low) * i / steps
        assert lin.value(lin.raw(value)) == pytest.approx(value, abs=lin.step / 2 + 1e-9)


# -- sensors -------------------------------------------------------------------------------------
def test_sensor_reading_threshold_status(clock: VirtualClock) -> None:
    hot = make_node(clock, EventBus(), ambient_c=45.0)
    backend = c.NodeIpmiBackend(hot)

    def reading(number: int) -> bytes:
        return ok(backend.dispatch(Request(SE, 0x2D, 0, bytes([number]), 2, 2, 1, ("h", 1))))

    data = reading(sn.INLET_TEMP)
    assert data[0] == 45 and data[1] == 0xC0
    assert data[2] & 0x3F == 0x08  # at or above upper non-critical (42), below critical (47)
    hot.ambient_c = -10
    data = reading(sn.INLET_TEMP)
    assert data[0] == (-10) & 0xFF and data[2] & 0x3F == 0x03  # below LNC (3) and LC (-7)


def test_discrete_sensor_states(call: Call, node: Node) -> None:
    data = ok(call(SE, 0x2D, [sn.PSU_STATUS_BASE]))
    assert data[2] == 0x01 and data[3] & 0x80  # presence detected
    node.set_psu_input("PSU1", False)
    assert ok(call(SE, 0x2D, [sn.PSU_STATUS_BASE]))[2] == 0x09  # and input lost
    assert ok(call(SE, 0x2D, [sn.PSU_REDUNDANCY]))[2] == 0x02  # redundancy lost
    assert ok(call(SE, 0x2D, [sn.ACPI_STATE]))[2:] == bytes((0x20, 0x80))  # S5/G2
    assert call(SE, 0x2D, [0xEE])[0] == 0xCB


def test_thresholds_hysteresis_type_and_event_enable(call: Call) -> None:
    data = ok(call(SE, 0x27, [sn.INLET_TEMP]))
    assert data == bytes((0x1B, 3, (-7) & 0xFF, 0, 42, 47, 0))
    assert ok(call(SE, 0x25, [sn.INLET_TEMP, 0xFF])) == b"\x01\x01"
    assert call(SE, 0x27, [sn.PSU_STATUS_BASE])[0] == 0xCD
    assert call(SE, 0x27, [0xEE])[0] == 0xCB
    assert ok(call(SE, 0x2F, [sn.INLET_TEMP])) == b"\x01\x01"
    assert ok(call(SE, 0x2F, [sn.OS_BOOT])) == bytes((SensorType.OS_BOOT, 0x6F))
    enable = ok(call(SE, 0x29, [sn.INLET_TEMP]))
    assert enable[0] == 0xC0 and len(enable) == 5
    assert u16(enable, 1) == (1 << 0) | (1 << 2) | (1 << 7) | (1 << 9)


def test_platform_event_message_adds_to_the_sel(call: Call, node: Node) -> None:
    before = len(node.sel)
    pem = [0x04, SensorType.TEMPERATURE, sn.INLET_TEMP, 0x01, 0x57, 48, 42]
    assert call(SE, 0x02, pem, priv=OPERATOR) == (0, b"")
    record = node.sel.records()[-1]
    assert len(node.sel) == before + 1
    assert record.sensor_number == sn.INLET_TEMP and record.event_data == bytes((0x57, 48, 42))
    assert record.asserted and record.event_type == 0x01
    assert record.generator_id & 0xFF == 0x81
    assert call(SE, 0x02, [0x41, *pem[:3], 0x81, 0x57, 48, 42]) == (0, b"")  # with generator
    record = node.sel.records()[-1]
    assert record.generator_id == 0x41 and not record.asserted
    assert call(SE, 0x02, pem, priv=USER)[0] == 0xD4


# -- FRU -----------------------------------------------------------------------------------------
def read_fru(call: Call) -> bytes:
    info = ok(call(STORAGE, 0x10, [0]))
    size = u16(info)
    assert info[2] == 0 and size % 8 == 0
    data = b""
    for _ in range(100):
        if len(data) >= size:
            break
        chunk = ok(call(STORAGE, 0x11, [0, len(data) & 0xFF, len(data) >> 8, 24]))
        assert chunk[0] == len(chunk) - 1 > 0
        data += chunk[1:]
    assert len(data) == size
    return data


def fields(area: bytes, skip: int) -> list[str]:
    out: list[str] = []
    i = skip
    while area[i] != 0xC1:
        n = area[i] & 0x3F
        out.append(area[i + 1 : i + 1 + n].decode())
        i += 1 + n
    return out


def test_fru_layout_and_checksums(call: Call, node: Node) -> None:
    fru = read_fru(call)
    header = fru[:8]
    assert header[0] == 0x01 and sum(header) % 256 == 0
    areas = {}
    for name, at in (("chassis", header[2]), ("board", header[3]), ("product", header[4])):
        start = at * 8
        length = fru[start + 1] * 8
        area = fru[start : start + length]
        assert area[0] == 0x01 and sum(area) % 256 == 0, name
        areas[name] = area
    info = node.fru
    assert areas["chassis"][2] == 0x17
    assert fields(areas["chassis"], 3) == [info.chassis_part, info.chassis_serial]
    board = areas["board"]
    assert int.from_bytes(board[3:6], "little") == info.board_mfg_minutes
    assert fields(board, 6)[:4] == [
        info.board_manufacturer,
        info.board_product,
        info.board_serial,
        info.board_part,
    ]
    assert fields(areas["product"], 3)[:5] == [
        info.product_manufacturer,
        info.product_name,
        info.product_part,
        info.product_version,
        info.product_serial,
    ]


def test_fru_field_encoding() -> None:
    assert field("") == b"\xc0"
    assert field("A") == b"\xc2A "  # C1h is the end marker, never a field
    assert field("x" * 100)[0] == 0xC0 | 63
    assert checksum(b"\x01\x02") == 0xFD


def test_fru_errors(call: Call) -> None:
    assert call(STORAGE, 0x10, [1])[0] == 0xCB
    assert call(STORAGE, 0x11, [1, 0, 0, 8])[0] == 0xCB
    assert call(STORAGE, 0x11, [0, 0xFF, 0x0F, 8])[0] == 0xC9
    assert call(STORAGE, 0x12, [0, 0, 0, 0x55], priv=OPERATOR)[0] == 0x80  # write-protected
    assert call(STORAGE, 0x12, [0, 0, 0, 0x55], priv=USER)[0] == 0xD4


# -- SEL -----------------------------------------------------------------------------------------
def read_sel(call: Call) -> list[bytes]:
    entries: list[bytes] = []
    record_id = 0x0000
    for _ in range(1000):
        cc, data = call(STORAGE, 0x43, [0, 0, record_id & 0xFF, record_id >> 8, 0, 0xFF])
        if cc == 0xCB and not entries:
            return []
        assert cc == 0
        assert len(data) == 18
        entries.append(data[2:])
        record_id = u16(data)
        if record_id == 0xFFFF:
            return entries
    raise AssertionError("the SEL chain does not end")


def add_entry(call: Call, sensor_number: int = 0x01, offset: int = 0x07) -> int:
    entry = [0, 0, 0x02, 0, 0, 0, 0, 0x41, 0x00, 0x04, 0x01, sensor_number, 0x01, offset, 0, 0]
    return u16(ok(call(STORAGE, 0x44, entry, priv=OPERATOR)))


def test_sel_info_and_allocation(clock: VirtualClock, call: Call, node: Node) -> None:
    info = ok(call(STORAGE, 0x40))
    assert len(info) == 14 and info[0] == 0x51 and u16(info, 1) == 0
    assert u16(info, 3) == node.sel.capacity * 16
    assert info[5:9] == b"\xff\xff\xff\xff" and info[9:13] == b"\xff\xff\xff\xff"
    assert info[13] & 0x0B == 0x0B and not info[13] & 0x80
    clock.advance(5)
    add_entry(call)
    info = ok(call(STORAGE, 0x40))
    assert u16(info, 1) == 1 and int.from_bytes(info[5:9], "little") == int(clock.now())
    alloc = ok(call(STORAGE, 0x41))
    assert u16(alloc) == node.sel.capacity and u16(alloc, 2) == 16 and alloc[8] == 1


def test_sel_entries_in_order_with_first_and_last(call: Call) -> None:
    assert call(STORAGE, 0x43, [0, 0, 0, 0, 0, 0xFF])[0] == 0xCB  # empty
    ids = [add_entry(call, sensor_number=n) for n in (1, 2, 3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    entries = read_sel(call)
    assert [u16(e) for e in entries] == ids
    assert [e[11] for e in entries] == [1, 2, 3]
    e = entries[0]
    assert e[2] == 0x02 and u16(e, 7) == 0x0041 and e[9] == 0x04 and e[10] == 0x01
    assert e[12] == 0x01 and e[13] == 0x07
    last = ok(call(STORAGE, 0x43, [0, 0, 0xFF, 0xFF, 0, 0xFF]))
    assert u16(last) == 0xFFFF and u16(last, 2) == ids[-1]
    middle = ok(call(STORAGE, 0x43, [0, 0, ids[1] & 0xFF, ids[1] >> 8, 0, 0xFF]))
    assert u16(middle) == ids[2]
    assert call(STORAGE, 0x43, [0, 0, 0x99, 0, 0, 0xFF])[0] == 0xCB


def test_sel_partial_reads_and_delete_need_a_reservation(call: Call, node: Node) -> None:
    ids = [add_entry(call) for _ in range(3)]
    whole = ok(call(STORAGE, 0x43, [0, 0, ids[0], 0, 0, 0xFF]))[2:]
    assert call(STORAGE, 0x43, [0, 0, ids[0], 0, 4, 4])[0] == 0xC5
    res = u16(ok(call(STORAGE, 0x42)))
    r = [res & 0xFF, res >> 8]
    assert ok(call(STORAGE, 0x43, [*r, ids[0], 0, 4, 4]))[2:] == whole[4:8]
    assert call(STORAGE, 0x43, [*r, ids[0], 0, 10, 10])[0] == 0xCA
    assert call(STORAGE, 0x46, [0, 0, ids[1], 0], priv=OPERATOR)[0] == 0xC5
    assert ok(call(STORAGE, 0x46, [*r, ids[1], 0], priv=OPERATOR)) == bytes((ids[1], 0))
    assert [u16(e) for e in read_sel(call)] == [ids[0], ids[2]]
    # The delete cancelled the reservation.
    assert call(STORAGE, 0x46, [*r, ids[2], 0], priv=OPERATOR)[0] == 0xC5
    res = u16(ok(call(STORAGE, 0x42)))
    assert call(STORAGE, 0x46, [res & 0xFF, res >> 8, 0x55, 0], priv=OPERATOR)[0] == 0xCB
    assert call(STORAGE, 0x46, [res & 0xFF, res >> 8, 0xFF, 0xFF], priv=OPERATOR)[0] == 0
    assert [u16(e) for e in read_sel(call)] == [ids[0]]


def test_clear_sel(call: Call, node: Node) -> None:
    for _ in range(4):
        add_entry(call)
    res = u16(ok(call(STORAGE, 0x42)))
    r = [res & 0xFF, res >> 8]
    assert call(STORAGE, 0x47, [*r, *b"CLX", 0xAA], priv=OPERATOR)[0] == 0xCC
    assert call(STORAGE, 0x47, [0, 0, *b"CLR", 0xAA], priv=OPERATOR)[0] == 0xC5
    assert call(STORAGE, 0x47, [*r, *b"CLR", 0x55], priv=OPERATOR)[0] == 0xCC
    assert ok(call(STORAGE, 0x47, [*r, *b"CLR", 0xAA], priv=OPERATOR)) == b"\x01"
    assert ok(call(STORAGE, 0x47, [*r, *b"CLR", 0x00], priv=OPERATOR)) == b"\x01"
    entries = read_sel(call)
    assert len(entries) == 1  # "log area reset/cleared"
    assert entries[0][10] == SensorType.EVENT_LOGGING_DISABLED and entries[0][13] & 0x0F == 0x02
    info = ok(call(STORAGE, 0x40))
    assert info[9:13] != b"\xff\xff\xff\xff"


def test_full_sel_is_c4_and_sets_overflow(clock: VirtualClock) -> None:
    node = make_node(clock, EventBus(), sel_capacity=16)
    backend = c.NodeIpmiBackend(node)

    def call(netfn: int, cmd: int, data: list[int], priv: int = ADMIN) -> tuple[int, bytes]:
        return backend.dispatch(Request(netfn, cmd, 0, bytes(data), priv, 2, 1, ("h", 1)))

    for _ in range(16):
        add_entry(call)
    entry = [0, 0, 0x02, 0, 0, 0, 0, 0x41, 0, 0x04, 0x01, 0x01, 0x01, 0x07, 0, 0]
    assert call(STORAGE, 0x44, entry)[0] == 0xC4
    info = ok(call(STORAGE, 0x40, []))
    assert info[13] & 0x80 and u16(info, 3) == 0


def test_oem_sel_records_round_trip(call: Call) -> None:
    timestamped = [0, 0, 0xC1, 1, 2, 3, 4, 0xD9, 0x7E, 0x00, 1, 2, 3, 4, 5, 6]
    rid = u16(ok(call(STORAGE, 0x44, timestamped)))
    data = ok(call(STORAGE, 0x43, [0, 0, rid & 0xFF, rid >> 8, 0, 0xFF]))[2:]
    assert data[2] == 0xC1 and data[7:16] == bytes(timestamped[7:16])
    assert data[3:7] != bytes((1, 2, 3, 4))  # the BMC stamps it
    plain = [0, 0, 0xE5, *range(13)]
    rid = u16(ok(call(STORAGE, 0x44, plain)))
    data = ok(call(STORAGE, 0x43, [0, 0, rid & 0xFF, rid >> 8, 0, 0xFF]))[2:]
    assert data[2:] == bytes(plain[2:])
    assert call(STORAGE, 0x44, [0, 0, 0x10, *range(13)])[0] == 0xCC


def test_sel_time(clock: VirtualClock, call: Call, node: Node) -> None:
    assert int.from_bytes(ok(call(STORAGE, 0x48)), "little") == int(clock.now())
    target = 1_800_000_000
    assert call(STORAGE, 0x49, list(target.to_bytes(4, "little"))) == (0, b"")
    clock.advance(10)
    assert int.from_bytes(ok(call(STORAGE, 0x48)), "little") == target + 10
    rid = add_entry(call)
    assert node.sel.get(rid).timestamp == target + 10
    assert ok(call(STORAGE, 0x5C)) == b"\x00\x00"


# -- LAN configuration ---------------------------------------------------------------------------
def lan(call: Call, param: int, channel: int = 1) -> bytes:
    data = ok(call(TRANSPORT, 0x02, [channel, param, 0, 0], priv=OPERATOR))
    assert data[0] == 0x11
    return data[1:]


def test_lan_parameters(call: Call, node: Node) -> None:
    assert lan(call, 0) == b"\x00"
    assert lan(call, 1) == b"\x04"  # MD5
    assert lan(call, 2) == b"\x04\x04\x04\x04\x00"
    assert lan(call, 3) == bytes((127, 0, 1, 3))
    assert lan(call, 3, channel=0x0E) == bytes((127, 0, 1, 3))
    assert lan(call, 4) == b"\x01"
    assert lan(call, 5) == bytes.fromhex("020000000201")
    assert lan(call, 6) == bytes((255, 255, 255, 192))
    assert len(lan(call, 7)) == 3
    assert lan(call, 12) == bytes(4)  # no gateway configured
    assert lan(call, 13) == bytes(6)
    assert lan(call, 14) == bytes(4) and lan(call, 15) == bytes(6)
    assert lan(call, 16) == b"public".ljust(18, b"\x00")
    assert lan(call, 20) == b"\x00\x00"
    assert lan(call, 22) == b"\x02"
    assert lan(call, 23) == b"\x00\x03\x11"
    assert lan(call, 24) == b"\x00\x44" + bytes(7)
    assert ok(call(TRANSPORT, 0x02, [0x81, 3, 0, 0])) == b"\x11"  # revision only
    assert call(TRANSPORT, 0x02, [0x01, 0x50, 0, 0])[0] == 0x80
    assert call(TRANSPORT, 0x02, [0x02, 3, 0, 0])[0] == 0xCC
    assert call(TRANSPORT, 0x02, [0x01, 3, 0, 0], priv=USER)[0] == 0xD4


def test_lan_parameters_are_read_only(call: Call) -> None:
    assert call(TRANSPORT, 0x01, [0x01, 0x00, 0x01]) == (0, b"")  # set in progress
    assert lan(call, 0) == b"\x01"
    assert call(TRANSPORT, 0x01, [0x01, 0x03, 10, 0, 0, 9])[0] == 0x82
    assert call(TRANSPORT, 0x01, [0x01, 0x14, 0x05, 0x80])[0] == 0x82
    assert call(TRANSPORT, 0x01, [0x01, 0x50, 0x00])[0] == 0x80
    assert call(TRANSPORT, 0x01, [0x01, 0x00, 0x02]) == (0, b"")  # commit write
    assert lan(call, 0) == b"\x00"
    assert call(TRANSPORT, 0x01, [0x01, 0x03, 10, 0, 0, 9], priv=OPERATOR)[0] == 0xD4


# -- the hot path --------------------------------------------------------------------------------
def test_get_chassis_status_is_cheap(backend: c.NodeIpmiBackend) -> None:
    request = Request(CHASSIS, 0x01, 0, b"", 4, 2, 1, ("127.0.0.1", 1))
    n = 20_000
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            backend.dispatch(request)
        best = min(best, (time.perf_counter() - t0) / n)
    # A few microseconds on a laptop; the bound only catches an accidental slow path.
    assert best < 25e-6, f"{best * 1e6:.1f} us per Get Chassis Status"

"""Real clients against the real runtime: ipmitool 1.8.19 (lanplus, cipher suites 3 and 17) and
freeipmi 1.6.10 (LAN_2_0) talking to a rack of NodeIpmiBackend BMCs on loopback.

Assertions are on the clients' output text and on the model (through ``rack.call``), so a
layout the client misreads fails here even when every exit code is 0.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from nodes.node import BootTarget
from nodes.power import HostState
from nodes.spec import PowerRestorePolicy
from tests.conftest import require_tool

if TYPE_CHECKING:
    from emulator.endpoints import Endpoint
    from emulator.harness import RackThread

pytestmark = [pytest.mark.tools, pytest.mark.timeout(300)]

TOOL_TIMEOUT = 30.0


class Bmc:
    """One node's BMC as the clients see it, plus a handle on its model."""

    def __init__(self, rack: RackThread, device: str, suite: str, sdr_cache: Path) -> None:
        self.rack = rack
        self.device = device
        self.endpoint: Endpoint = rack.endpoint(device)
        self.suite = suite
        self.sdr_cache = sdr_cache

    # -- clients -------------------------------------------------------------------------------
    def run(
        self, argv: list[str], timeout: float = TOOL_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)

    def ipmitool_argv(
        self,
        *args: str,
        user: str | None = None,
        password: str | None = None,
        extra: tuple[str, ...] = (),
    ) -> list[str]:
        e = self.endpoint
        return [
            require_tool("ipmitool"), "-I", "lanplus", "-C", self.suite,
            "-H", e.address, "-p", str(e.port),
            "-U", user or e.username, "-P", password or e.password, *extra, *args,
        ]  # fmt: skip

    def ipmitool(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.run(self.ipmitool_argv(*args, **kw))

    def ok(self, *args: str, **kw: Any) -> str:
        """ipmitool output of a command that must succeed, with nothing on stderr."""
        done = self.ipmitool(*args, **kw)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def freeipmi(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        e = self.endpoint
        argv = [
            require_tool(tool), "-D", "LAN_2_0", "-I", self.suite,
            "-h", f"{e.address}:{e.port}", "-u", e.username, "-p", e.password, *args,
        ]  # fmt: skip
        if tool in ("ipmi-sensors", "ipmi-sel", "ipmi-fru"):
            argv.append(f"--sdr-cache-directory={self.sdr_cache}")
        return self.run(argv)

    def free_ok(self, tool: str, *args: str) -> str:
        done = self.freeipmi(tool, *args)
        assert done.returncode == 0, (tool, args, done.stdout, done.stderr)
        return done.stdout

    # -- the model -----------------------------------------------------------------------------
    def model(self, fn: Callable[[Any], Any]) -> Any:
        device = self.device
        return self.rack.call(lambda r: fn(r.nodes[device]))

    def wait_model(self, predicate: Callable[[Any], bool], seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.model(predicate):
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.device}: the model never got there in {seconds} s")

    def wait_text(self, args: tuple[str, ...], text: str, seconds: float = 30.0) -> str:
        deadline = time.monotonic() + seconds
        out = ""
        while time.monotonic() < deadline:
            done = self.ipmitool(*args)
            out = done.stdout
            if text in out:
                return out
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared in `ipmitool {' '.join(args)}`: {out}")


def line(output: str, label: str) -> str:
    """The value of ``label : value`` in a client's output (spaces around the colon vary)."""
    m = re.search(rf"^\s*{re.escape(label)}\s*:\s*(.*?)\s*$", output, re.M)
    assert m is not None, f"no {label!r} line in:\n{output}"
    return m.group(1)


@pytest.fixture(params=["3", "17"], ids=["suite3", "suite17"])
def suite(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def bmc(rack_factory: Callable[..., RackThread], suite: str, tmp_path: Path) -> Iterator[Bmc]:
    rack = rack_factory(nodes=4, speed=50.0)
    cache = tmp_path / "sdr"
    cache.mkdir()
    yield Bmc(rack, "n01", suite, cache)


# -- chassis -------------------------------------------------------------------------------------
def test_chassis_power_control(bmc: Bmc) -> None:
    assert bmc.ok("chassis", "power", "status").strip() == "Chassis Power is off"
    assert "Chassis Power Control: Up/On" in bmc.ok("chassis", "power", "on")
    bmc.wait_model(lambda n: n.chassis_on)
    assert bmc.ok("chassis", "power", "status").strip() == "Chassis Power is on"
    status = bmc.ok("chassis", "status")
    assert line(status, "System Power") == "on"
    assert line(status, "Last Power Event") == "command"
    assert line(status, "Power Restore Policy") == "always-off"
    bmc.wait_model(lambda n: n.state is HostState.RUNNING)

    assert "Chassis Power Control: Diag" in bmc.ok("chassis", "power", "diag")
    sel = bmc.ok("sel", "elist")
    assert "Critical Interrupt" in sel and "NMI" in sel

    assert "Chassis Power Control: Reset" in bmc.ok("chassis", "power", "reset")
    assert bmc.model(lambda n: n.state) is HostState.POST
    bmc.wait_model(lambda n: n.state is HostState.RUNNING)

    assert "Chassis Power Control: Soft" in bmc.ok("chassis", "power", "soft")
    assert bmc.model(lambda n: n.state) is HostState.SHUTTING_DOWN
    bmc.wait_model(lambda n: n.state is HostState.OFF)

    bmc.ok("chassis", "power", "on")
    bmc.wait_model(lambda n: n.chassis_on)
    assert "Chassis Power Control: Cycle" in bmc.ok("chassis", "power", "cycle")
    bmc.wait_model(lambda n: n.chassis_on)  # back on after the off interval
    assert "Chassis Power Control: Down/Off" in bmc.ok("chassis", "power", "off")
    assert bmc.model(lambda n: n.state) is HostState.OFF
    assert bmc.ok("chassis", "power", "status").strip() == "Chassis Power is off"

    # With the chassis off, reset is refused as IPMI recommends for power cycle.
    done = bmc.ipmitool("chassis", "power", "reset")
    assert done.returncode != 0 and "Command not supported in present state" in done.stderr


def test_chassis_identify(bmc: Bmc) -> None:
    assert "Chassis identify interval: 120 seconds" in bmc.ok("chassis", "identify", "120")
    assert bmc.model(lambda n: n.identify_on and n.identify_until is not None)
    status = bmc.free_ok("ipmi-chassis", "--get-chassis-status")
    assert line(status, "Chassis Identify state") == "Timed on"
    assert "indefinite" in bmc.ok("chassis", "identify", "force")
    assert bmc.model(lambda n: n.identify_on and n.identify_until is None)
    status = bmc.free_ok("ipmi-chassis", "--get-chassis-status")
    assert line(status, "Chassis Identify state") == "Indefinite on"
    assert "Chassis identify interval: off" in bmc.ok("chassis", "identify", "0")
    assert not bmc.model(lambda n: n.identify_on)
    status = bmc.free_ok("ipmi-chassis", "--get-chassis-status")
    assert line(status, "Chassis Identify state") == "off"


@pytest.mark.parametrize(
    ("device", "target", "selector"),
    [
        ("pxe", BootTarget.PXE, "Force PXE"),
        ("disk", BootTarget.DISK, "Force Boot from default Hard-Drive"),
        ("cdrom", BootTarget.CDROM, "Force Boot from CD/DVD"),
        ("bios", BootTarget.BIOS, "Force Boot into BIOS Setup"),
    ],
)
def test_bootdev_round_trips(bmc: Bmc, device: str, target: BootTarget, selector: str) -> None:
    out = bmc.ok("chassis", "bootdev", device, "options=persistent,efiboot")
    assert f"Set Boot Device to {device}" in out
    override = bmc.model(lambda n: n.boot_override)
    assert (override.target, override.persistent, override.uefi) == (target, True, True)
    param = bmc.ok("chassis", "bootparam", "get", "5")
    assert "Boot Flag Valid" in param
    assert "Options apply to all future boots" in param
    assert "BIOS EFI boot" in param
    assert f"Boot Device Selector : {selector}" in param

    bmc.ok("chassis", "bootdev", device)  # next boot only, legacy BIOS
    override = bmc.model(lambda n: n.boot_override)
    assert (override.target, override.persistent, override.uefi) == (target, False, False)
    param = bmc.ok("chassis", "bootparam", "get", "5")
    assert "Options apply to only next boot" in param
    assert "BIOS PC Compatible (legacy) boot" in param


def test_boot_flags_with_freeipmi(bmc: Bmc) -> None:
    bmc.ok("chassis", "bootdev", "pxe", "options=persistent,efiboot")
    flags = bmc.free_ok("ipmi-chassis", "--get-boot-flags")
    assert line(flags, "Boot device selector") == "Force PXE"
    assert line(flags, "BIOS boot type") == "Extensible firmware Interface boot"
    # freeipmi 1.6.10's `ipmi-chassis --set-boot-flags` ignores its --boot-device option (the
    # option is disabled in that release); ipmi-chassis-config is its way to set boot flags.
    bmc.free_ok(
        "ipmi-chassis-config",
        "--commit",
        "-e", "Chassis_Boot_Flags:Boot_Device=CD-DVD",
        "-e", "Chassis_Boot_Flags:Boot_Flags_Persistent=No",
        "-e", "Chassis_Boot_Flags:BIOS_Boot_Type=PC-COMPATIBLE",
    )  # fmt: skip
    override = bmc.model(lambda n: n.boot_override)
    assert (override.target, override.persistent, override.uefi) == (
        BootTarget.CDROM,
        False,
        False,
    )
    flags = bmc.free_ok("ipmi-chassis", "--get-boot-flags")
    assert line(flags, "Boot device selector") == "Force boot from default CD/DVD"
    assert line(flags, "BIOS boot type") == "PC compatible boot"
    param = bmc.ok("chassis", "bootparam", "get", "5")
    assert "Boot Device Selector : Force Boot from CD/DVD" in param


def test_power_restore_policy(bmc: Bmc) -> None:
    for policy in ("always-on", "previous", "always-off"):
        out = bmc.ok("chassis", "policy", policy)
        assert f"Set chassis power restore policy to {policy}" in out
        assert bmc.model(lambda n: n.power_restore_policy) is PowerRestorePolicy(policy)
        assert line(bmc.ok("chassis", "status"), "Power Restore Policy") == policy
    supported = bmc.ok("chassis", "policy", "list")
    assert all(p in supported for p in ("always-on", "previous", "always-off"))


def test_power_on_without_psu_input_is_refused(bmc: Bmc) -> None:
    bmc.model(lambda n: n.set_psu_input("PSU1", False))
    bmc.model(lambda n: n.set_psu_input("PSU2", False))
    done = bmc.ipmitool("chassis", "power", "on")
    assert done.returncode != 0
    assert "Command not supported in present state" in done.stderr
    assert bmc.model(lambda n: n.state) is HostState.OFF
    bmc.model(lambda n: n.set_psu_input("PSU1", True))
    assert "Up/On" in bmc.ok("chassis", "power", "on")


def test_ipmipower(bmc: Bmc) -> None:
    # ipmipower names the host as it was given, minus a default port.
    target = bmc.endpoint.address
    if bmc.endpoint.port != 623:
        target += f":{bmc.endpoint.port}"
    assert bmc.free_ok("ipmipower", "--stat").strip() == f"{target}: off"
    assert bmc.free_ok("ipmipower", "--on").strip() == f"{target}: ok"
    bmc.wait_model(lambda n: n.chassis_on)
    assert bmc.free_ok("ipmipower", "--stat").strip() == f"{target}: on"
    assert bmc.free_ok("ipmipower", "--off").strip() == f"{target}: ok"
    assert bmc.model(lambda n: n.state) is HostState.OFF
    assert bmc.free_ok("ipmipower", "--stat").strip() == f"{target}: off"
    status = bmc.free_ok("ipmi-chassis", "--get-chassis-status")
    assert line(status, "System Power") == "off"
    assert line(status, "Last Power Event") == "power on via ipmi command"


# -- the management controller -------------------------------------------------------------------
def test_mc_info_guid_selftest(bmc: Bmc) -> None:
    info = bmc.ok("mc", "info")
    assert line(info, "Device ID") == "32"
    assert line(info, "Firmware Revision") == "7.00"
    assert line(info, "IPMI Version") == "2.0"
    assert line(info, "Manufacturer ID") == "32473"
    assert line(info, "Product ID").startswith("2400")
    assert line(info, "Device Available") == "yes"
    for support in ("Sensor Device", "SDR Repository Device", "SEL Device"):
        assert support in info
    assert "FRU Inventory Device" in info and "Chassis Device" in info
    guid = str(bmc.model(lambda n: n.guid))
    out = bmc.ok("mc", "guid")
    assert line(out, "System GUID") == guid
    assert line(out, "GUID Encoding") == "IPMI"
    assert bmc.ok("mc", "selftest").strip() == "Selftest: passed"

    device = bmc.free_ok("bmc-info", "--get-device-id")
    assert line(device, "Firmware Revision") == "7.00"
    assert line(device, "Device Available") == "yes (normal operation)"
    assert line(device, "IPMI Version") == "2.0"
    assert line(device, "Chassis Device") == "supported"
    assert line(device, "SEL Device") == "supported"
    assert line(device, "Product ID") == "2400"
    assert bmc.free_ok("bmc-info", "--get-system-guid").strip() == guid
    system = bmc.free_ok("bmc-info", "--get-system-info")
    assert line(system, "System Name") == "n01"
    assert line(system, "System Firmware Version") == bmc.model(lambda n: n.firmware["bios"])


def test_mc_reset_makes_the_bmc_unreachable_for_a_while(
    rack_factory: Callable[..., RackThread], tmp_path: Path
) -> None:
    # At speed 5 a cold reset (30 emulated seconds) keeps the BMC away for 6 real seconds.
    rack = rack_factory(nodes=4, speed=5.0)
    bmc = Bmc(rack, "n02", "3", tmp_path)
    quick = ("-N", "1", "-R", "1")
    done = bmc.ipmitool("mc", "reset", "cold", extra=quick)
    # The answer comes first; ipmitool's Close Session that follows may go unanswered.
    assert "Sent cold reset command to MC" in done.stdout
    assert bmc.model(lambda n: not n.bmc_answering() and n.bmc_resets == 1)
    down = bmc.ipmitool("mc", "selftest", extra=quick)
    assert down.returncode != 0 and "Selftest" not in down.stdout
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        back = bmc.ipmitool("mc", "selftest", extra=quick)
        if back.returncode == 0:
            break
        time.sleep(0.2)
    assert back.stdout.strip() == "Selftest: passed"

    done = bmc.ipmitool("mc", "reset", "warm", extra=quick)
    assert "Sent warm reset command to MC" in done.stdout
    assert bmc.model(lambda n: n.bmc_resets) == 2
    bmc.wait_model(lambda n: n.bmc_answering(), seconds=30)
    assert bmc.ok("mc", "selftest").strip() == "Selftest: passed"


# -- sensors and SDRs ----------------------------------------------------------------------------
def test_sdr_and_sensors_with_ipmitool(bmc: Bmc) -> None:
    listing = bmc.ok("sdr", "list")
    rows = {
        r.split("|")[0].strip(): [f.strip() for f in r.split("|")[1:]] for r in listing.splitlines()
    }
    assert rows["Inlet Temp"] == ["23 degrees C", "ok"]
    assert rows["CPU1 Temp"] == ["no reading", "ns"]  # host off
    assert rows["VBAT"] == ["3.02 Volts", "ok"]
    assert rows["PSU1 Status"][1] == "ok"
    names = set(bmc.model(lambda n: [s.name for s in n.sensors]))
    assert names <= set(rows)

    elist = bmc.ok("sdr", "elist")
    assert re.search(r"^Inlet Temp\s*\| 01h \| ok\s*\| 55\.1 \| 23 degrees C$", elist, re.M)
    assert re.search(r"^PSU1 Status\s*\| 28h \| ok .*\| Presence detected$", elist, re.M)
    temps = bmc.ok("sdr", "type", "Temperature").splitlines()
    assert [t.split("|")[0].strip() for t in temps] == [
        "Inlet Temp", "Exhaust Temp", "CPU1 Temp", "CPU2 Temp",
    ]  # fmt: skip

    sensors = bmc.ok("sensor", "list")
    inlet = next(r for r in sensors.splitlines() if r.startswith("Inlet Temp"))
    fields = [f.strip() for f in inlet.split("|")]
    assert fields[1:4] == ["23.000", "degrees C", "ok"]
    assert fields[5:9] == ["-7.000", "3.000", "42.000", "47.000"]
    got = bmc.ok("sensor", "get", "Inlet Temp")
    assert line(got, "Sensor Reading") == "23 (+/- 0) degrees C"
    assert line(got, "Upper Critical") == "47.000"
    assert line(got, "Lower Non-Critical") == "3.000"
    assert line(got, "Status") == "ok"

    bmc.ok("chassis", "power", "on")
    bmc.wait_model(lambda n: n.state is HostState.RUNNING)
    rows = {
        r.split("|")[0].strip(): [f.strip() for f in r.split("|")[1:]]
        for r in bmc.ok("sdr", "list").splitlines()
    }
    assert rows["CPU1 Temp"][1] == "ok" and rows["CPU1 Temp"][0].endswith("degrees C")
    assert rows["Fan1"][0] == "3600 RPM"


def test_sensors_with_freeipmi(bmc: Bmc) -> None:
    out = bmc.free_ok("ipmi-sensors")
    rows = {}
    for r in out.splitlines():
        f = [x.strip() for x in r.split("|")]
        if len(f) == 6 and f[0].isdigit():
            rows[f[1]] = f[2:]
    assert rows["Inlet Temp"] == ["Temperature", "23.00", "C", "'OK'"]
    assert rows["Exhaust Temp"] == ["Temperature", "N/A", "C", "N/A"]
    assert rows["PSU1 Status"] == ["Power Supply", "N/A", "N/A", "'Presence detected'"]
    assert rows["PS Redundancy"][-1] == "'Fully Redundant'"
    assert len(rows) == len(bmc.model(lambda n: n.sensors))
    # The SDR cache is still valid the second time (same add/erase timestamps).
    again = bmc.freeipmi("ipmi-sensors", "--sensor-types=Temperature")
    assert again.returncode == 0 and "out of date" not in again.stderr
    assert "Caching SDR" not in again.stdout
    assert len([r for r in again.stdout.splitlines() if "Temperature" in r]) == 4
    verbose = bmc.free_ok("ipmi-sensors", "-v", "--record-ids=1")
    assert line(verbose, "Upper Critical Threshold") == "47.000000 C"
    assert line(verbose, "Lower Critical Threshold") == "-7.000000 C"


# -- SEL -----------------------------------------------------------------------------------------
def test_power_on_appears_in_the_sel(bmc: Bmc) -> None:
    empty = bmc.ipmitool("sel", "elist")
    assert empty.returncode == 0 and "SEL has no entries" in empty.stdout + empty.stderr
    bmc.ok("chassis", "power", "on")
    bmc.wait_model(lambda n: n.state is HostState.RUNNING)
    elist = bmc.ok("sel", "elist")
    assert re.search(r"System Boot Initiated .*\| Initiated by power up \| Asserted", elist)
    assert re.search(r"System ACPI Power State .*\| S0/G0: working \| Asserted", elist)
    assert re.search(r"OS Boot .*\| C: boot completed \| Asserted", elist)
    count = len(elist.splitlines())
    info = bmc.ok("sel", "info")
    assert line(info, "Version") == "1.5 (v1.5, v2 compliant)"
    assert line(info, "Entries") == str(count)
    assert line(info, "Overflow") == "false"
    assert line(info, "Last Del Time") == "Not Available"
    one = bmc.ok("sel", "get", "1")
    assert line(one, "SEL Record ID") == "0001"
    assert line(one, "Sensor Type") == "System Boot Initiated"
    assert line(one, "Description") == "Initiated by power up"

    sel = bmc.free_ok("ipmi-sel")
    assert re.search(r"\| System Boot\s*\| System Boot Initiated\s*\| Initiated by power up", sel)
    assert "OS Boot" in sel
    assert len([r for r in sel.splitlines() if r[:1].isdigit()]) == count

    assert "Clearing SEL" in bmc.ok("sel", "clear")
    listing = bmc.ok("sel", "list").strip().splitlines()
    assert len(listing) == 1 and "Log area reset/cleared" in listing[0]
    assert line(bmc.ok("sel", "info"), "Last Del Time") != "Not Available"


# -- FRU -----------------------------------------------------------------------------------------
def test_fru(bmc: Bmc) -> None:
    fru = bmc.model(lambda n: n.fru)
    out = bmc.ok("fru", "print")
    assert "FRU Device Description : Builtin FRU Device (ID 0)" in out
    assert line(out, "Chassis Type") == "Rack Mount Chassis"
    assert line(out, "Chassis Serial") == fru.chassis_serial
    assert line(out, "Board Mfg") == fru.board_manufacturer
    assert line(out, "Board Product") == fru.board_product
    assert line(out, "Board Mfg Date") == "Mon Jul  8 16:00:00 2024 UTC"
    assert line(out, "Product Name") == fru.product_name
    assert line(out, "Product Serial") == fru.product_serial
    assert line(out, "Product Version") == fru.product_version
    free = bmc.free_ok("ipmi-fru")
    assert line(free, "FRU Board Manufacturer") == fru.board_manufacturer
    assert line(free, "FRU Product Serial Number") == fru.product_serial
    assert line(free, "FRU Chassis Type") == "Rack Mount Chassis"
    assert "checksum" not in free.lower()


# -- users, LAN, channel ---------------------------------------------------------------------------
def test_users(bmc: Bmc) -> None:
    users = bmc.ok("user", "list")
    assert re.search(r"^2\s+admin\s+true\s+true\s+true\s+ADMINISTRATOR$", users, re.M)
    bmc.ok("user", "set", "name", "3", "ops")
    assert "successful" in bmc.ok("user", "set", "password", "3", "ops-secret")
    assert "successful" in bmc.ok("user", "priv", "3", "3", "1")
    bmc.ok("user", "enable", "3")
    users = bmc.ok("user", "list")
    assert re.search(r"^3\s+ops\s+true\s+true\s+true\s+OPERATOR$", users, re.M)
    assert bmc.model(lambda n: (n.users.get(3).name, n.users.get(3).enabled)) == ("ops", True)
    assert "Success" in bmc.ok("user", "test", "3", "16", "ops-secret")
    wrong = bmc.ipmitool("user", "test", "3", "16", "nope")
    assert wrong.returncode != 0 and "password incorrect" in wrong.stdout + wrong.stderr

    as_ops: dict[str, Any] = {"user": "ops", "password": "ops-secret", "extra": ("-L", "OPERATOR")}
    assert "Chassis Power is off" in bmc.ok("chassis", "power", "status", **as_ops)
    assert "Up/On" in bmc.ok("chassis", "power", "on", **as_ops)
    denied = bmc.ipmitool("user", "set", "name", "4", "eve", **as_ops)
    assert denied.returncode != 0 and "Insufficient privilege level" in denied.stderr

    bmc.ok("user", "disable", "3")
    as_ops["extra"] = ("-L", "OPERATOR", "-N", "1", "-R", "1")
    refused = bmc.ipmitool("chassis", "power", "status", **as_ops)
    assert refused.returncode != 0


def test_lan_print_and_channel_info(bmc: Bmc) -> None:
    done = bmc.ipmitool("lan", "print", "1")
    assert done.returncode == 0 and done.stderr == ""
    out = done.stdout
    lan = bmc.model(lambda n: n.lan)
    assert line(out, "IP Address Source") == "Static Address"
    assert line(out, "IP Address") == lan.address
    assert line(out, "Subnet Mask") == lan.netmask
    assert line(out, "MAC Address") == lan.mac
    assert line(out, "Default Gateway IP") == lan.gateway
    assert line(out, "Auth Type Support") == "MD5"
    assert line(out, "RMCP+ Cipher Suites") == "3,17"
    assert line(out, "Cipher Suite Priv Max").startswith("aa")
    assert line(out, "802.1q VLAN ID") == "Disabled"
    assert line(out, "Set in Progress") == "Set Complete"
    refused = bmc.ipmitool("lan", "set", "1", "ipaddr", "10.9.9.9")
    assert refused.returncode != 0
    assert bmc.model(lambda n: n.lan.address) == lan.address

    info = bmc.ok("channel", "info")
    assert line(info, "Channel Medium Type") == "802.3 LAN"
    assert line(info, "Channel Protocol Type") == "IPMB-1.0"
    assert line(info, "Session Support") == "multi-session"
    assert line(info, "Access Mode") == "always available"
    channels = bmc.free_ok("bmc-info", "--get-channel-info")
    assert re.search(r"Channel Number\s*: 1\nMedium Type\s*: 802.3 LAN", channels)


# -- completion codes through the real client ----------------------------------------------------
def test_completion_codes_reach_the_client(bmc: Bmc) -> None:
    unknown = bmc.ipmitool("raw", "0x30", "0x99")
    assert unknown.returncode != 0 and "Invalid command" in unknown.stderr
    short = bmc.ipmitool("raw", "0x00", "0x02")  # Chassis Control without its byte
    assert short.returncode != 0 and "Request data length invalid" in short.stderr
    bad = bmc.ipmitool("raw", "0x00", "0x02", "0x09")
    assert bad.returncode != 0 and "Invalid data field in request" in bad.stderr
    missing = bmc.ipmitool("raw", "0x04", "0x2d", "0xee")
    assert missing.returncode != 0 and "Requested sensor, data, or record not found" in (
        missing.stderr
    )
    assert bmc.ok("raw", "0x06", "0x04").split() == ["55", "00"]

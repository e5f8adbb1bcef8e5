"""Real Redfish clients against the running rack: OpenStack's sushy and DMTF's python-redfish
library drive power, boot override, sessions and accounts; ipmitool sees the same node.

Every wait is bounded (``wait_model``); every tool runs with a subprocess timeout.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import redfish
import sushy

from nodes.node import BootOverride, BootTarget
from nodes.power import HostState
from tests.conftest import require_tool

if TYPE_CHECKING:
    from emulator.endpoints import Endpoint
    from emulator.harness import RackThread

pytestmark = [pytest.mark.tools, pytest.mark.timeout(180)]

TOOL_TIMEOUT = 30.0


def base_url(e: Endpoint) -> str:
    return f"{e.scheme}://{e.address}:{e.port}"


def wait_model(
    rack: RackThread, device: str, cond: Callable[[Any], bool], timeout: float = 20.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rack.call(lambda r: cond(r.nodes[device])):
            return
        time.sleep(0.05)
    state = rack.call(lambda r: r.nodes[device].state)
    raise AssertionError(f"{device}: condition not met in {timeout} s (state {state})")


def ipmitool(rack: RackThread, device: str, *args: str, user: str = "", password: str = "") -> str:
    e = rack.endpoint(device, "ipmi")
    argv = [
        require_tool("ipmitool"), "-I", "lanplus", "-C", "17",
        "-H", e.address, "-p", str(e.port),
        "-U", user or e.username, "-P", password or e.password, *args,
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False)
    assert proc.returncode == 0, (argv[-len(args) :], proc.stdout, proc.stderr)
    return proc.stdout


@contextmanager
def sushy_root(e: Endpoint) -> Iterator[sushy.Sushy]:
    """A sushy client that logs out while the BMC is still up (not later, from ``__del__``,
    with ten retries against a rack that is gone)."""
    root = sushy.Sushy(
        base_url(e),
        username=e.username,
        password=e.password,
        verify=False,
        server_side_retries=1,
        server_side_retries_delay=0.1,
    )
    try:
        yield root
    finally:
        root.__del__()


# -- sushy ----------------------------------------------------------------------------------------
def test_sushy_power_and_boot_override(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory(nodes=4)
    e = rack.endpoint("n02", "redfish")
    with sushy_root(e) as root:
        _sushy_power_and_boot(rack, root)


def _sushy_power_and_boot(rack: RackThread, root: sushy.Sushy) -> None:
    system = root.get_system("/redfish/v1/Systems/n02")
    assert system.power_state == sushy.PowerState.OFF
    assert sushy.ResetType.ON in system.get_allowed_reset_system_values()
    assert "Pxe" in (system.boot.allowed_values or [])

    system.set_system_boot_options(
        sushy.BootSource.PXE, enabled=sushy.BootSourceOverrideEnabled.ONCE
    )
    assert rack.call(lambda r: r.nodes["n02"].boot_override) == BootOverride(
        BootTarget.PXE, persistent=False, uefi=True
    )
    system.reset_system(sushy.ResetType.ON)
    wait_model(rack, "n02", lambda n: n.state is HostState.RUNNING)
    # The one-time override was used by that boot, and Redfish says so.
    assert rack.call(lambda r: r.nodes["n02"].last_boot_device) == "pxe"
    system.refresh()
    assert system.power_state == sushy.PowerState.ON
    assert system.boot.enabled == sushy.BootSourceOverrideEnabled.DISABLED

    system.reset_system(sushy.ResetType.GRACEFUL_SHUTDOWN)
    wait_model(rack, "n02", lambda n: n.state is HostState.OFF)
    system.refresh()
    assert system.power_state == sushy.PowerState.OFF

    manager = root.get_manager("/redfish/v1/Managers/bmc")
    assert manager.firmware_version == rack.call(lambda r: r.nodes["n02"].firmware["bmc"])
    chassis = root.get_chassis("/redfish/v1/Chassis/n02")
    assert chassis.serial_number == rack.call(lambda r: r.nodes["n02"].spec.serial)


def test_graceful_restart_takes_the_model_s_time(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory(nodes=4)
    e = rack.endpoint("n01", "redfish")
    with sushy_root(e) as root:
        system = root.get_system("/redfish/v1/Systems/n01")
        _graceful_restart(rack, system)


def _graceful_restart(rack: RackThread, system: Any) -> None:
    system.reset_system(sushy.ResetType.ON)
    wait_model(rack, "n01", lambda n: n.state is HostState.RUNNING)
    system.reset_system(sushy.ResetType.GRACEFUL_RESTART)
    assert rack.call(lambda r: r.nodes["n01"].state) is HostState.SHUTTING_DOWN
    wait_model(rack, "n01", lambda n: n.state is HostState.RUNNING)
    # The OS shut down (ACPI soft-off), then the host powered up again and booted.
    messages = rack.call(lambda r: [rec.message for rec in r.nodes["n01"].sel.records()])
    off = messages.index("ACPI S5/G2 soft-off")
    assert "System Boot Initiated: power up" in messages[off:]
    assert messages[-1].startswith("OS boot completed")
    system.reset_system(sushy.ResetType.FORCE_OFF)
    assert rack.call(lambda r: r.nodes["n01"].state) is HostState.OFF


# -- DMTF python-redfish-library -------------------------------------------------------------------
def test_dmtf_library_sessions(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory(nodes=4)
    e = rack.endpoint("n03", "redfish")
    client = redfish.redfish_client(
        base_url=base_url(e), username=e.username, password=e.password, timeout=10, max_retry=1
    )
    client.login(auth="session")
    sessions = client.get("/redfish/v1/SessionService/Sessions")
    assert sessions.status == 200 and sessions.dict["Members@odata.count"] == 1
    location = sessions.dict["Members"][0]["@odata.id"]
    me = client.get(location)
    assert me.status == 200 and me.dict["UserName"] == e.username

    r = client.post(
        "/redfish/v1/Systems/n03/Actions/ComputerSystem.Reset", body={"ResetType": "On"}
    )
    assert r.status == 204, r.text
    wait_model(rack, "n03", lambda n: n.state is HostState.RUNNING)
    r = client.patch("/redfish/v1/Systems/n03", body={"Boot": {"BootSourceOverrideTarget": "Cd"}})
    assert r.status == 200 and r.dict["Boot"]["BootSourceOverrideEnabled"] == "Once"
    token = client.get_session_key()
    client.logout()
    # The token is gone with the session.
    r = httpx.get(
        f"{base_url(e)}/redfish/v1/Systems/n03",
        headers={"X-Auth-Token": token},
        verify=False,
        timeout=10,
    )
    assert r.status_code == 401


def test_account_lockout_and_roles(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory(nodes=4)
    e = rack.endpoint("n04", "redfish")
    admin = redfish.redfish_client(
        base_url=base_url(e), username=e.username, password=e.password, timeout=10, max_retry=1
    )
    admin.login(auth="basic")
    r = admin.post(
        "/redfish/v1/AccountService/Accounts",
        body={"UserName": "oper", "Password": "oper-secret1", "RoleId": "Operator"},
    )
    assert r.status == 201, r.text
    account = r.getheader("Location")
    # The same user table as IPMI: ipmitool logs in with it at once (operator privilege).
    out = ipmitool(rack, "n04", "-L", "OPERATOR", "chassis", "power", "status",
                   user="oper", password="oper-secret1")  # fmt: skip
    assert "Chassis Power is off" in out

    # Lock out after AccountLockoutThreshold wrong passwords, for AccountLockoutDuration.
    r = admin.patch(
        "/redfish/v1/AccountService",
        body={"AccountLockoutThreshold": 3, "AccountLockoutDuration": 60,
              "AccountLockoutCounterResetAfter": 60},
    )  # fmt: skip
    assert r.status == 200, r.text
    for _ in range(3):
        bad = redfish.redfish_client(base_url=base_url(e), username="oper",
                                     password="wrong-guess", timeout=10, max_retry=1)  # fmt: skip
        with pytest.raises(redfish.rest.v1.InvalidCredentialsError):
            bad.login(auth="session")
    good = redfish.redfish_client(base_url=base_url(e), username="oper",
                                  password="oper-secret1", timeout=10, max_retry=1)  # fmt: skip
    with pytest.raises(redfish.rest.v1.InvalidCredentialsError):
        good.login(auth="session")  # locked: even the right password is refused
    assert admin.get(account).dict["Locked"] is True

    # The lockout ends by itself (60 emulated seconds = 1.2 s at speed 50) ...
    deadline = time.monotonic() + 10
    while admin.get(account).dict["Locked"] and time.monotonic() < deadline:
        time.sleep(0.1)
    good.login(auth="session")
    # ... and an operator may reset the host but not manage accounts.
    r = good.post("/redfish/v1/Systems/n04/Actions/ComputerSystem.Reset", body={"ResetType": "On"})
    assert r.status == 204, r.text
    r = good.patch("/redfish/v1/AccountService", body={"AccountLockoutThreshold": 0})
    assert r.status == 403
    assert r.dict["error"]["@Message.ExtendedInfo"][0]["MessageId"].endswith(
        "InsufficientPrivilege"
    )
    good.logout()

    # An administrator unlocks at once with Locked: false.
    for _ in range(3):
        r = httpx.get(f"{base_url(e)}/redfish/v1/Systems/n04", auth=("oper", "nope-nope"),
                      verify=False, timeout=10)  # fmt: skip
        assert r.status_code == 401
    assert admin.get(account).dict["Locked"] is True
    r = admin.patch(account, body={"Locked": False})
    assert r.status == 200 and r.dict["Locked"] is False
    r = httpx.get(f"{base_url(e)}/redfish/v1/Systems/n04", auth=("oper", "oper-secret1"),
                  verify=False, timeout=10)  # fmt: skip
    assert r.status_code == 200
    admin.logout()


# -- cross-protocol ----------------------------------------------------------------------------
def test_power_on_through_redfish_seen_by_ipmi(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory(nodes=4)
    e = rack.endpoint("n01", "redfish")
    with httpx.Client(base_url=base_url(e), auth=(e.username, e.password), verify=False,
                      timeout=10) as api:  # fmt: skip
        assert "Chassis Power is off" in ipmitool(rack, "n01", "chassis", "power", "status")
        r = api.post("/redfish/v1/Systems/n01/Actions/ComputerSystem.Reset",
                     json={"ResetType": "On"})  # fmt: skip
        assert r.status_code == 204
        wait_model(rack, "n01", lambda n: n.chassis_on)
        assert "Chassis Power is on" in ipmitool(rack, "n01", "chassis", "power", "status")
        wait_model(rack, "n01", lambda n: n.state is HostState.RUNNING)
        elist = ipmitool(rack, "n01", "sel", "elist")
        assert re.search(r"System Boot Initiated .*\| Initiated by power up \| Asserted", elist)
        # The Redfish SEL is the IPMI SEL: same records, same ids.
        entries = api.get("/redfish/v1/Managers/bmc/LogServices/SEL/Entries").json()
        assert entries["Members@odata.count"] == len(elist.splitlines())
        first = api.get(entries["Members"][0]["@odata.id"]).json()
        assert first["Id"] == "1" and first["SensorType"] == "SystemBoot/Restart"
        assert first["Message"].startswith("System Boot Initiated")

        # ipmitool sets the boot device; Redfish reads it.
        ipmitool(rack, "n01", "chassis", "bootdev", "pxe", "options=persistent,efiboot")
        boot = api.get("/redfish/v1/Systems/n01").json()["Boot"]
        assert boot["BootSourceOverrideTarget"] == "Pxe"
        assert boot["BootSourceOverrideEnabled"] == "Continuous"
        assert boot["BootSourceOverrideMode"] == "UEFI"

        # The same sensor readings: the standby inlet sensor reads 23 °C on both.
        inlet = api.get("/redfish/v1/Chassis/n01/Sensors/InletTemp").json()
        got = ipmitool(rack, "n01", "sensor", "get", "Inlet Temp")
        ipmi_value = float(re.search(r"Sensor Reading\s*:\s*([-\d.]+)", got)[1])  # type: ignore[index]
        assert inlet["Reading"] == pytest.approx(ipmi_value, abs=1.0)
        assert inlet["Thresholds"]["UpperCritical"]["Reading"] == 47

        # ClearLog through Redfish empties the log IPMI reads (but its own "cleared" record).
        r = api.post("/redfish/v1/Managers/bmc/LogServices/SEL/Actions/LogService.ClearLog",
                     json={})  # fmt: skip
        assert r.status_code == 204
        info = ipmitool(rack, "n01", "sel", "info")
        assert re.search(r"Entries\s*:\s*1\b", info)


def test_bmc_reset_makes_both_protocols_go_quiet(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory(nodes=4, speed=10)  # a 10 s warm reset lasts 1 s
    e = rack.endpoint("n02", "redfish")
    login = httpx.post(f"{base_url(e)}/redfish/v1/SessionService/Sessions",
                       json={"UserName": e.username, "Password": e.password},
                       verify=False, timeout=10)  # fmt: skip
    assert login.status_code == 201
    token = login.headers["X-Auth-Token"]
    assert login.headers["Location"] == login.json()["@odata.id"]
    r = httpx.post(f"{base_url(e)}/redfish/v1/Managers/bmc/Actions/Manager.Reset",
                   json={"ResetType": "GracefulRestart"}, headers={"X-Auth-Token": token},
                   verify=False, timeout=10)  # fmt: skip
    assert r.status_code == 204
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base_url(e)}/redfish/v1/", verify=False, timeout=2)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{base_url(e)}/redfish/v1/", verify=False, timeout=2)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    assert r.status_code == 200
    # A restarted BMC has forgotten its sessions; the host never noticed.
    r = httpx.get(f"{base_url(e)}/redfish/v1/Systems/n02", headers={"X-Auth-Token": token},
                  verify=False, timeout=10)  # fmt: skip
    assert r.status_code == 401
    assert rack.call(lambda r: r.nodes["n02"].bmc_resets) == 1

"""bmc-factory-reset: the BMC reboots to factory defaults, the host runs on, and the fault ends
only when the rack's credentials are set on the BMC again.

On the virtual clock: what the model keeps and loses, the checks that refuse an injection with
nothing changed, how it ends (credentials set again, the operator's clear, a replacement), a
restart, and the operator's view (a hardware alert raised before stays open). On loopback with
the real clients: ipmitool (RAKP refuses the rack's credentials, takes root/calvin; ``user set``
restores them) and httpx on Redfish (401, then 200 with the factory credentials; a PATCH of the
account in AccountService restores them).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from emulator import topology as topo
from emulator.endpoints import Endpoint
from emulator.faults import FAULT_KINDS, FaultConflict, FaultError, FaultInjector
from emulator.harness import RackThread
from emulator.operator import AlertKind
from emulator.operator.events import ActionFailed, AlertClosed
from emulator.rack import Rack
from nodes.bmc_factory import FACTORY_PASSWORD, FACTORY_USERNAME, has_credentials
from nodes.clock import VirtualClock
from nodes.power import HostState
from nodes.sel import SensorType
from nodes.users import Privilege
from tests.conftest import require_tool, wait_for
from tests.test_operator import Unit, only

KIND = "bmc-factory-reset"
BMC_BACK = 120.0  # emulated seconds: longer than the default cold reset of a BMC


@pytest.fixture
def rack(clock: VirtualClock) -> Rack:
    r = Rack(topo.default(4), clock)
    for node in r.nodes.values():
        node.power_on()
    clock.advance(300)
    return r


@pytest.fixture
def faults(rack: Rack) -> FaultInjector:
    return FaultInjector(rack)


def rack_credentials(rack: Rack) -> tuple[str, str]:
    creds = rack.topology.credentials
    return creds.username, creds.password


def set_credentials(rack: Rack, node: str, user_id: int = 2) -> None:
    """What ``ipmitool user set name`` and ``user set password`` do on the model."""
    username, password = rack_credentials(rack)
    users = rack.nodes[node].users
    users.set_name(user_id, username)
    users.set_password(user_id, password)


# -- the model -----------------------------------------------------------------------------------
def test_the_kind_is_registered_as_a_node_fault_with_no_part() -> None:
    kind = FAULT_KINDS[KIND]
    assert (kind.name, kind.scope, kind.part, kind.ends_by_itself) == (KIND, "node", None, False)
    assert "factory" in kind.summary and "\n" not in kind.summary


def test_the_bmc_reboots_to_factory_defaults_and_the_host_runs_on(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    node = rack.nodes["n02"]
    node.users.provision(3, "ops", "ops-pass", Privilege.OPERATOR)
    node.users.login_failed(2)
    assert len(node.sel.records()) > 1  # the boot's records
    record = faults.inject(KIND, "n02")
    assert (record.state, record.part) == ("active", "")
    assert "factory" in record.detail and FACTORY_PASSWORD not in record.detail
    assert not node.bmc_answering()  # it reboots
    assert node.state is HostState.RUNNING
    clock.advance(BMC_BACK)
    assert node.bmc_answering() and node.state is HostState.RUNNING
    named = [(u.user_id, u.name, u.password, u.enabled, u.privilege) for u in node.users.all()]
    assert [u for u in named if u[1] or u[3]] == [
        (2, FACTORY_USERNAME, FACTORY_PASSWORD, True, Privilege.ADMINISTRATOR)
    ]
    assert node.users.failed_logins(2) == 0
    assert not has_credentials(node, *rack_credentials(rack))
    assert [r.sensor_type for r in node.sel.records()] == [SensorType.EVENT_LOGGING_DISABLED]
    assert node.lan.vlan == 0 and node.lan.address == str(node.spec.bmc.address)
    assert [r.id for r in faults.records(active_only=True)] == [record.id]
    assert rack.nodes["n01"].users.by_name(rack_credentials(rack)[0]) is not None


def test_refused_injections_change_nothing(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    first = faults.inject(KIND, "n01")
    clock.advance(BMC_BACK)
    with pytest.raises(FaultConflict, match=f"already has {KIND}"):
        faults.inject(KIND, "n01")
    with pytest.raises(FaultError, match="takes no part"):
        faults.inject(KIND, "n02", "PSU1")
    with pytest.raises(FaultError, match="is a node fault and tor-a is a switch"):
        faults.inject(KIND, "tor-a")
    rack.nodes["n02"].inject_fault("bmc-hang")
    users = [u for u in rack.nodes["n02"].users.all()]
    with pytest.raises(FaultError, match="not up"):
        faults.inject(KIND, "n02")
    assert rack.nodes["n02"].users.all() == users
    # A replacement node not set up yet: its BMC already refuses the rack's credentials.
    rack.nodes["n03"].users.set_name(2, FACTORY_USERNAME)
    with pytest.raises(FaultConflict, match="already refuses the rack's credentials"):
        faults.inject(KIND, "n03")
    assert [r.id for r in faults.records()] == [first.id]


def test_a_rack_whose_credentials_are_the_factory_ones_cannot_show_it(clock: VirtualClock) -> None:
    text = topo.generate(4, username=FACTORY_USERNAME, password=FACTORY_PASSWORD)
    rack = Rack(topo.load_text(text, "<test>"), clock)
    with pytest.raises(FaultError, match="credentials are the factory ones"):
        FaultInjector(rack).inject(KIND, "n01")


def test_setting_the_racks_credentials_again_ends_it(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    record = faults.inject(KIND, "n02")
    clock.advance(BMC_BACK)
    users = rack.nodes["n02"].users
    username, password = rack_credentials(rack)
    users.set_name(2, username)  # the name first: the password is still the factory one
    assert faults.get(record.id).state == "active"
    users.set_password(2, password)
    ended = faults.get(record.id)
    assert (ended.state, ended.cleared_by) == ("cleared", "credentials")
    assert has_credentials(rack.nodes["n02"], username, password)


def test_the_operators_clear_sets_the_racks_credentials(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    record = faults.inject(KIND, "n02")
    with pytest.raises(FaultError, match="not up"):  # still rebooting
        faults.clear(record.id)
    assert faults.get(record.id).state == "active"
    clock.advance(BMC_BACK)
    assert faults.clear(record.id).cleared_by == "operator"
    assert has_credentials(rack.nodes["n02"], *rack_credentials(rack))


def test_a_reboot_or_a_restart_does_not_end_it_a_replacement_does(
    rack: Rack, faults: FaultInjector, clock: VirtualClock
) -> None:
    record = faults.inject(KIND, "n02")
    clock.advance(BMC_BACK)
    rack.nodes["n02"].bmc_reset("cold")
    clock.advance(BMC_BACK)
    assert faults.reconcile() == []
    restored = FaultInjector(rack)
    restored.restore(faults.snapshot())
    assert restored.get(record.id).state == "active"
    rack.nodes["n02"].power_off()
    rack.nodes["n02"].replace(
        "NEWSERIAL02", username=FACTORY_USERNAME, password=FACTORY_PASSWORD, firmware={}
    )
    ended = faults.get(record.id)
    assert (ended.state, ended.cleared_by) == ("cleared", "replacement")


def test_a_hardware_alert_raised_before_stays_open(clock: VirtualClock) -> None:
    """PROCEDURES.md: hardware alerts do not close by themselves after a BMC factory reset. The
    operator's view also shows the BMC refusing the rack's credentials ("BMC is not
    responding", Stop failing with the documented message) until they are set again; that
    alert closes then, the hardware one stays until the operator closes it."""
    unit = Unit(clock)
    faults = FaultInjector(unit.rack)
    unit.node("n02").inject_fault("psu", "PSU1")
    (alert,) = unit.fabric.alerts(open_only=True)
    assert (alert.kind, alert.component) == (AlertKind.PSU_REDUNDANCY_LOST, "n02")
    record = faults.inject(KIND, "n02")
    clock.advance(10 * BMC_BACK)
    assert set(unit.open_alerts()) == {
        (AlertKind.PSU_REDUNDANCY_LOST, "n02"),
        (AlertKind.BMC_NOT_RESPONDING, "n02"),
    }
    assert unit.fabric.alert(alert.id).open
    failed = only(unit.fabric.stop("n02"), ActionFailed)  # Stop goes through the BMC
    assert "did not respond" in failed.reason
    unit.seen.clear()
    set_credentials(unit.rack, "n02")
    assert faults.get(record.id).cleared_by == "credentials"
    clock.advance(10 * BMC_BACK)
    closed = only(unit.seen, AlertClosed)
    assert (closed.kind, closed.by) == (AlertKind.BMC_NOT_RESPONDING, "system")
    assert unit.fabric.alert(alert.id).open
    assert (AlertKind.PSU_REDUNDANCY_LOST, "n02") in unit.open_alerts()
    assert only(unit.fabric.close_alert(alert.id), AlertClosed).by == "operator"


# -- the real clients ----------------------------------------------------------------------------
SPEED = 100.0


def ipmitool(
    e: Endpoint, username: str, password: str, *args: str
) -> subprocess.CompletedProcess[str]:
    argv = [require_tool("ipmitool"), "-I", "lanplus", "-C", "17", "-N", "1", "-R", "1"]
    argv += ["-H", e.address, "-p", str(e.port), "-U", username, "-P", password, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def redfish(
    e: Endpoint, method: str, path: str, auth: tuple[str, str], **kw: Any
) -> httpx.Response:
    url = f"{e.scheme}://{e.address}:{e.port}{path}"
    return httpx.request(method, url, auth=auth, verify=False, timeout=10, **kw)


def inject(rack: RackThread, node: str) -> str:
    def run(_: Rack) -> str:
        assert rack.runtime.faults is not None
        return rack.runtime.faults.inject(KIND, node).id

    fault_id = rack.call(run)
    assert wait_for(lambda: rack.call(lambda r: r.nodes[node].bmc_answering()), 20)
    return fault_id


def fault_state(rack: RackThread, fault_id: str) -> tuple[str, str]:
    def run(_: Rack) -> tuple[str, str]:
        assert rack.runtime.faults is not None
        record = rack.runtime.faults.get(fault_id)
        return record.state, record.cleared_by

    return rack.call(run)


@pytest.fixture
def running(rack_factory: Callable[..., RackThread]) -> RackThread:
    rack = rack_factory(speed=SPEED)
    rack.call(lambda r: r.nodes["n02"].power_on())
    assert wait_for(lambda: rack.call(lambda r: r.nodes["n02"].state) is HostState.RUNNING, 20)
    return rack


@pytest.mark.tools
def test_ipmi_refuses_the_racks_credentials_until_user_set_restores_them(
    running: RackThread,
) -> None:
    e = running.endpoint("n02", "ipmi")
    assert ipmitool(e, e.username, e.password, "chassis", "power", "status").returncode == 0
    fault_id = inject(running, "n02")
    refused = ipmitool(e, e.username, e.password, "-v", "chassis", "power", "status")
    assert refused.returncode != 0 and "Unable to establish" in refused.stderr, refused.stderr
    assert "RAKP 2 message indicates an error : unauthorized name" in refused.stderr
    factory = ipmitool(e, FACTORY_USERNAME, FACTORY_PASSWORD, "chassis", "power", "status")
    assert factory.returncode == 0 and factory.stdout.strip() == "Chassis Power is on", factory
    users = ipmitool(e, FACTORY_USERNAME, FACTORY_PASSWORD, "user", "list", "1")
    assert users.returncode == 0 and e.username not in users.stdout, users
    # The trainee's two steps: the name (logged in as root), then the password (as the rack's
    # user, still with the factory password).
    named = ipmitool(e, FACTORY_USERNAME, FACTORY_PASSWORD, "user", "set", "name", "2", e.username)
    assert named.returncode == 0, named.stderr
    assert fault_state(running, fault_id) == ("active", "")
    pw = ipmitool(e, e.username, FACTORY_PASSWORD, "user", "set", "password", "2", e.password)
    assert pw.returncode == 0, pw.stderr
    assert wait_for(lambda: fault_state(running, fault_id) == ("cleared", "credentials"), 5)
    back = ipmitool(e, e.username, e.password, "chassis", "power", "status")
    assert back.returncode == 0 and back.stdout.strip() == "Chassis Power is on", back


@pytest.mark.tools
def test_redfish_answers_401_then_the_account_patch_restores_the_credentials(
    running: RackThread,
) -> None:
    e = running.endpoint("n02", "redfish")
    rack_auth = (e.username, e.password)
    factory = (FACTORY_USERNAME, FACTORY_PASSWORD)
    system = "/redfish/v1/Systems/n02"
    assert redfish(e, "GET", system, rack_auth).status_code == 200
    fault_id = inject(running, "n02")
    assert wait_for(lambda: redfish(e, "GET", system, factory).status_code == 200, 10)
    assert redfish(e, "GET", system, rack_auth).status_code == 401
    ok = redfish(e, "GET", system, factory)
    assert ok.json()["PowerState"] == "On"
    accounts = redfish(e, "GET", "/redfish/v1/AccountService/Accounts/2", factory)
    assert accounts.status_code == 200 and accounts.json()["UserName"] == FACTORY_USERNAME
    patched = redfish(
        e,
        "PATCH",
        "/redfish/v1/AccountService/Accounts/2",
        factory,
        json={"UserName": e.username, "Password": e.password},
    )
    assert patched.status_code in (200, 204), patched.text
    assert wait_for(lambda: fault_state(running, fault_id) == ("cleared", "credentials"), 5)
    assert redfish(e, "GET", system, rack_auth).status_code == 200
    assert redfish(e, "GET", system, factory).status_code == 401

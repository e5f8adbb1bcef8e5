"""Bad requests get the right status and Base message, and leave the model exactly as it was.

httpx against the running rack on loopback; the model is read through ``rack.call``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from nodes.node import BootOverride, BootTarget
from nodes.power import HostState

if TYPE_CHECKING:
    from emulator.harness import RackThread

pytestmark = pytest.mark.timeout(120)

SYSTEM = "/redfish/v1/Systems/n01"
RESET = f"{SYSTEM}/Actions/ComputerSystem.Reset"


@pytest.fixture(scope="module")
def rack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RackThread]:
    from emulator import topology
    from emulator.harness import RackThread
    from tests.conftest import TEST_IPMI_PORT, TEST_REDFISH_PORT, next_base_address

    text = topology.generate(
        4,
        base_address=next_base_address(),
        ipmi_port=TEST_IPMI_PORT,
        redfish_port=TEST_REDFISH_PORT,
    )
    r = RackThread(topology.load_text(text, "<test>"), speed=50)
    r.runtime.state_dir = tmp_path_factory.mktemp("state")
    with r:
        yield r


@pytest.fixture
def api(rack: RackThread) -> Iterator[httpx.Client]:
    e = rack.endpoint("n01", "redfish")
    with httpx.Client(
        base_url=f"{e.scheme}://{e.address}:{e.port}",
        auth=(e.username, e.password),
        verify=False,
        timeout=10,
    ) as c:
        yield c


def snapshot(rack: RackThread) -> tuple[Any, ...]:
    def read(r: Any) -> tuple[Any, ...]:
        n = r.nodes["n01"]
        return (n.state, n.boot_override, n.identify_on, len(n.sel), tuple(n.users.all()))

    return rack.call(read)


def message_ids(r: httpx.Response) -> list[str]:
    body = r.json()["error"]
    return [m["MessageId"].split(".")[-1] for m in body["@Message.ExtendedInfo"]]


def test_unauthenticated_documents_and_headers(api: httpx.Client, rack: RackThread) -> None:
    anon = httpx.Client(base_url=str(api.base_url), verify=False, timeout=10)
    for path in ("/redfish", "/redfish/v1/", "/redfish/v1", "/redfish/v1/odata"):
        r = anon.get(path)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["OData-Version"] == "4.0"
        assert r.headers["ETag"].startswith('"')
    meta = anon.get("/redfish/v1/$metadata")
    assert meta.status_code == 200 and meta.headers["content-type"].startswith("application/xml")
    assert b'Namespace="ComputerSystem.v1_27_0"' in meta.content
    r = anon.get(SYSTEM)
    assert r.status_code == 401 and message_ids(r) == ["AccessUnauthorized"]
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    head = api.head(SYSTEM)
    assert head.status_code == 200 and head.content == b""


def test_wrong_password_and_bad_token(api: httpx.Client, rack: RackThread) -> None:
    e = rack.endpoint("n01", "redfish")
    before = snapshot(rack)
    r = api.get(SYSTEM, auth=(e.username, "not-the-password"))
    assert r.status_code == 401 and message_ids(r) == ["AccessUnauthorized"]
    r = api.get(SYSTEM, auth=None, headers={"X-Auth-Token": "forged"})
    assert r.status_code == 401
    r = api.post(RESET, auth=None, json={"ResetType": "On"})
    assert r.status_code == 401
    assert snapshot(rack) == before


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (b"{not json", 400, ["MalformedJSON"]),
        (b"[1, 2]", 400, ["MalformedJSON"]),
        (b"{}", 400, ["EmptyJSON"]),
        (b'{"Boot": {"BootSourceOverrideTarget": 5}}', 400, ["PropertyValueTypeError"]),
        (b'{"Boot": {"BootSourceOverrideTarget": "Floppyy"}}', 400, ["PropertyValueNotInList"]),
        (b'{"Boot": "Pxe"}', 400, ["PropertyValueTypeError"]),
        (b'{"Frobnicate": 1}', 400, ["PropertyUnknown"]),
        (b'{"PowerState": "On"}', 400, ["PropertyNotWritable"]),
        # One good change and one bad one: nothing is applied.
        (
            b'{"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": 1}}',
            400,
            ["PropertyValueTypeError"],
        ),
        (
            b'{"Boot": {"BootSourceOverrideTarget": "Pxe"}, "UUID": "x"}',
            400,
            ["PropertyNotWritable"],
        ),
    ],
)
def test_bad_patch_changes_nothing(
    api: httpx.Client, rack: RackThread, body: bytes, status: int, expected: list[str]
) -> None:
    before = snapshot(rack)
    r = api.patch(SYSTEM, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert message_ids(r) == expected
    assert snapshot(rack) == before


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, ["ActionParameterMissing"]),
        ({"ResetType": "Explode"}, ["ActionParameterValueNotInList"]),
        ({"ResetType": 1}, ["ActionParameterValueTypeError"]),
        ({"ResetType": "On", "Force": True}, ["ActionParameterUnknown"]),
    ],
)
def test_bad_reset_changes_nothing(
    api: httpx.Client, rack: RackThread, body: dict[str, Any], expected: list[str]
) -> None:
    before = snapshot(rack)
    r = api.post(RESET, json=body)
    assert r.status_code == 400, r.text
    assert message_ids(r) == expected
    assert snapshot(rack) == before


def test_refused_by_the_model(api: httpx.Client, rack: RackThread) -> None:
    assert rack.call(lambda r: r.nodes["n01"].state) is HostState.OFF
    before = snapshot(rack)
    r = api.post(RESET, json={"ResetType": "ForceRestart"})  # the host is off
    assert r.status_code == 409 and message_ids(r) == ["ResourceInUse"]
    assert snapshot(rack) == before


def test_huge_bodies(api: httpx.Client, rack: RackThread) -> None:
    before = snapshot(rack)
    pad = "x" * (1024 * 1024)
    r = api.patch(SYSTEM, json={"Boot": {"BootSourceOverrideTarget": "Pxe"}, "Pad": pad})
    assert r.status_code == 413 and message_ids(r) == ["PayloadTooLarge"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"Boot": {"BootSourceOverrideTarget": "Pxe"}, "Pad": "'
        for _ in range(64):
            yield b"y" * 16384
        yield b'"}'

    r = api.patch(SYSTEM, content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert snapshot(rack) == before


def test_etag_and_if_match(api: httpx.Client, rack: RackThread) -> None:
    before = snapshot(rack)
    r = api.patch(
        "/redfish/v1/Chassis/n01",
        json={"LocationIndicatorActive": True},
        headers={"If-Match": '"0000000000000000"'},
    )
    assert r.status_code == 412 and message_ids(r) == ["PreconditionFailed"]
    assert snapshot(rack) == before
    etag = api.get("/redfish/v1/Chassis/n01").headers["ETag"]
    r = api.patch(
        "/redfish/v1/Chassis/n01",
        json={"LocationIndicatorActive": True},
        headers={"If-Match": etag},
    )
    assert r.status_code == 200 and r.json()["LocationIndicatorActive"] is True
    assert r.headers["ETag"] != etag
    assert rack.call(lambda r: r.nodes["n01"].identify_on) is True
    api.patch("/redfish/v1/Chassis/n01", json={"LocationIndicatorActive": False})
    assert rack.call(lambda r: r.nodes["n01"].identify_on) is False


def test_method_not_allowed_and_not_found(api: httpx.Client) -> None:
    r = api.delete(SYSTEM)
    assert r.status_code == 405 and message_ids(r) == ["OperationNotAllowed"]
    assert r.headers["Allow"] == "GET, HEAD, PATCH"
    r = api.post("/redfish/v1/Systems", json={"Name": "x"})
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"
    r = api.get("/redfish/v1/Systems/n02")  # another node's system is not on this BMC
    assert r.status_code == 404 and message_ids(r) == ["ResourceNotFound"]
    r = api.get("/redfish/v1/Chassis/n01/Sensors/NoSuchSensor")
    assert r.status_code == 404


def test_boot_patch_applies_all_at_once(api: httpx.Client, rack: RackThread) -> None:
    r = api.patch(
        SYSTEM,
        json={
            "Boot": {
                "BootSourceOverrideTarget": "Pxe",
                "BootSourceOverrideEnabled": "Continuous",
                "BootSourceOverrideMode": "Legacy",
            }
        },
    )
    assert r.status_code == 200, r.text
    boot = r.json()["Boot"]
    assert boot["BootSourceOverrideTarget"] == "Pxe"
    assert boot["BootSourceOverrideEnabled"] == "Continuous"
    assert rack.call(lambda r: r.nodes["n01"].boot_override) == BootOverride(
        BootTarget.PXE, persistent=True, uefi=False
    )
    r = api.patch(SYSTEM, json={"Boot": {"BootSourceOverrideEnabled": "Disabled"}})
    assert r.json()["Boot"]["BootSourceOverrideTarget"] == "None"
    api.patch(SYSTEM, json={"Boot": {"BootSourceOverrideMode": "UEFI"}})
    assert rack.call(lambda r: r.nodes["n01"].boot_override) == BootOverride()


def test_read_only_user_is_refused(api: httpx.Client, rack: RackThread) -> None:
    r = api.post(
        "/redfish/v1/AccountService/Accounts",
        json={"UserName": "viewer", "Password": "viewer-pass1", "RoleId": "ReadOnly"},
    )
    assert r.status_code == 201, r.text
    account = r.headers["Location"]
    before = snapshot(rack)
    viewer = ("viewer", "viewer-pass1")
    assert api.get(SYSTEM, auth=viewer).status_code == 200
    r = api.post(RESET, json={"ResetType": "On"}, auth=viewer)
    assert r.status_code == 403 and message_ids(r) == ["InsufficientPrivilege"]
    r = api.patch("/redfish/v1/AccountService", json={"AccountLockoutThreshold": 1}, auth=viewer)
    assert r.status_code == 403
    r = api.patch(account, json={"RoleId": "Administrator"}, auth=viewer)
    assert r.status_code == 403
    assert snapshot(rack) == before
    # ConfigureSelf: a read-only user may change their own password, and only that.
    r = api.patch(account, json={"Password": "viewer-pass2"}, auth=viewer)
    assert r.status_code == 200, r.text
    assert "Password" not in r.json()
    assert api.get(SYSTEM, auth=("viewer", "viewer-pass2")).status_code == 200
    assert api.delete(account).status_code == 204
    assert rack.call(lambda r: r.nodes["n01"].users.by_name("viewer")) is None

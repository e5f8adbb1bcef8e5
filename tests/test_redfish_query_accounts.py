"""Query parameters ($select, $expand, only), conditional GET, PasswordChangeRequired, and one
lockout seen by both Redfish and IPMI, with real clients against the running rack."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import require_tool

if TYPE_CHECKING:
    from emulator.harness import RackThread

pytestmark = pytest.mark.timeout(180)

SYSTEM = "/redfish/v1/Systems/n01"
ACCOUNTS = "/redfish/v1/AccountService/Accounts"


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


def client(rack: RackThread, device: str = "n01", auth: Any = None) -> httpx.Client:
    e = rack.endpoint(device, "redfish")
    return httpx.Client(
        base_url=f"{e.scheme}://{e.address}:{e.port}",
        auth=auth or (e.username, e.password),
        verify=False,
        timeout=10,
    )


@pytest.fixture
def api(rack: RackThread) -> Iterator[httpx.Client]:
    with client(rack) as c:
        yield c


def ids(r: httpx.Response) -> list[str]:
    return [m["MessageId"].split(".")[-1] for m in r.json()["error"]["@Message.ExtendedInfo"]]


def test_service_root_advertises_the_queries(api: httpx.Client) -> None:
    features = api.get("/redfish/v1/").json()["ProtocolFeaturesSupported"]
    assert features["SelectQuery"] and features["OnlyMemberQuery"]
    assert not features["FilterQuery"] and not features["ExcerptQuery"]
    assert features["ExpandQuery"] == {
        "ExpandAll": True, "Levels": True, "Links": True, "NoLinks": True, "MaxLevels": 3
    }  # fmt: skip


def test_select_keeps_the_named_properties_and_the_annotations(api: httpx.Client) -> None:
    full = api.get(SYSTEM)
    r = api.get(SYSTEM, params={"$select": "PowerState,Status/Health,Boot"})
    assert r.status_code == 200
    doc = r.json()
    assert set(doc) == {"@odata.id", "@odata.type", "@odata.etag", "PowerState", "Status", "Boot"}
    assert doc["Status"] == {"Health": full.json()["Status"]["Health"]}
    assert doc["Boot"] == full.json()["Boot"]
    assert doc["@odata.etag"] == full.headers["ETag"]  # the resource's version
    assert r.headers["Link"] == full.headers["Link"]


def test_expand_members_and_links_levels_deep(api: httpx.Client) -> None:
    members = api.get("/redfish/v1/Systems", params={"$expand": "."}).json()["Members"]
    assert [m["Id"] for m in members] == ["n01"]
    system = members[0]
    assert set(system["Processors"]) == {"@odata.id"}  # one level only
    assert system["Links"]["Chassis"] == [{"@odata.id": "/redfish/v1/Chassis/n01"}]  # not "."
    deep = api.get("/redfish/v1/Systems", params={"$expand": "*($levels=2)"}).json()
    system = deep["Members"][0]
    assert system["Processors"]["Members@odata.count"] >= 1
    assert system["Links"]["Chassis"][0]["Id"] == "n01"
    links_only = api.get(SYSTEM, params={"$expand": "~"}).json()
    assert links_only["Links"]["Chassis"][0]["Id"] == "n01"
    assert set(links_only["Processors"]) == {"@odata.id"}
    only = api.get("/redfish/v1/Systems", params={"only": ""})
    assert only.json()["@odata.id"] == SYSTEM


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("$top=1", 501, "QueryParameterUnsupported"),
        ("$filter=Id eq 'n01'", 501, "QueryParameterUnsupported"),
        ("$rpvunknown", 501, "QueryParameterUnsupported"),
        ("$expand=.($levels=4)", 400, "QueryParameterOutOfRange"),
        ("$expand=everything", 400, "QueryParameterValueFormatError"),
        ("$select=", 400, "QueryParameterValueFormatError"),
        ("only=foo", 400, "QueryParameterValueFormatError"),
        ("only&$select=Name", 400, "QueryCombinationInvalid"),
    ],
)
def test_bad_queries(api: httpx.Client, query: str, status: int, message: str) -> None:
    r = api.get(f"/redfish/v1/Systems?{query}")
    assert r.status_code == status and ids(r) == [message], r.text
    assert api.get("/redfish/v1/Systems?unknown=1").status_code == 200  # no $: ignored
    r = api.get(f"{SYSTEM}?only")
    assert r.status_code == 400 and ids(r) == ["QueryNotSupportedOnResource"]


def test_conditional_get_and_protocol_headers(api: httpx.Client) -> None:
    r = api.get(SYSTEM)
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.headers["Link"].endswith("rel=describedby")
    assert r.json()["@odata.etag"] == r.headers["ETag"]
    again = api.get(SYSTEM, headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    assert api.get(SYSTEM, headers={"If-None-Match": '"other"'}).status_code == 200
    r = api.get("/redfish/v1/", headers={"OData-Version": "4.1"})
    assert r.status_code == 412 and ids(r) == ["HeaderInvalid"]
    # Annotations in a PATCH are ignored; nothing else in it is NoOperation.
    r = api.patch(SYSTEM, json={"@odata.id": SYSTEM})
    assert r.status_code == 400 and ids(r) == ["NoOperation"]
    r = api.request("FAKEMETHOD", "/redfish/v1/")
    assert r.status_code == 501


def test_password_change_required(api: httpx.Client, rack: RackThread) -> None:
    r = api.post(
        ACCOUNTS,
        json={"UserName": "newbie", "Password": "first-pass", "RoleId": "Operator",
              "PasswordChangeRequired": True},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    uri = r.headers["Location"]
    assert r.json()["PasswordChangeRequired"] is True
    with client(rack, auth=("newbie", "first-pass")) as newbie:
        # It may log in (told why it can do nothing yet), read its account, change its password.
        login = newbie.post(
            "/redfish/v1/SessionService/Sessions/Members",  # same as POST to the collection
            json={"UserName": "newbie", "Password": "first-pass"},
            auth=None,
        )
        assert login.status_code == 201
        assert [m["MessageId"].split(".")[-1] for m in login.json()["@Message.ExtendedInfo"]] == [
            "PasswordChangeRequired"
        ]
        token = {"X-Auth-Token": login.headers["X-Auth-Token"]}
        assert newbie.get(uri).status_code == 200
        for method, path in [("GET", SYSTEM), ("GET", "/redfish/v1/SessionService/Sessions")]:
            r = newbie.request(method, path)
            assert r.status_code == 403 and ids(r) == ["PasswordChangeRequired"]
            assert uri in r.json()["error"]["message"]
        r = newbie.patch(uri, json={"Password": "second-pass", "Enabled": True})
        assert r.status_code == 403 and ids(r) == ["PasswordChangeRequired"]
        r = newbie.patch(uri, json={"Password": "second-pass"})
        assert r.status_code == 200 and r.json()["PasswordChangeRequired"] is False
        # The session opened before the change now works too.
        assert newbie.get(SYSTEM, headers=token, auth=None).status_code == 200
    with client(rack, auth=("newbie", "second-pass")) as newbie:
        assert newbie.get(SYSTEM).status_code == 200
    assert api.delete(uri).status_code == 204


async def rakp_wrong_password(host: str, port: int) -> None:
    from bmc.ipmi.client import IpmiAuthError, LanplusClient

    c = LanplusClient(host, port, "ops", "wrong-pass", privilege=3, timeout=2.0, retries=1)
    with pytest.raises(IpmiAuthError):
        await c.open()


def test_one_lockout_for_redfish_and_ipmi(api: httpx.Client, rack: RackThread) -> None:
    ipmitool = require_tool("ipmitool")
    e = rack.endpoint("n01", "ipmi")
    r = api.patch(
        "/redfish/v1/AccountService",
        json={"AccountLockoutThreshold": 2, "AccountLockoutDuration": 600,
              "AccountLockoutCounterResetAfter": 300},  # 12 s and 6 s at speed 50
    )  # fmt: skip
    assert r.status_code == 200, r.text
    r = api.post(ACCOUNTS, json={"UserName": "ops", "Password": "ops-pass1", "RoleId": "Operator"})
    assert r.status_code == 201, r.text
    uri = r.headers["Location"]

    def ipmi(password: str) -> subprocess.CompletedProcess[str]:
        argv = [ipmitool, "-I", "lanplus", "-H", e.address, "-p", str(e.port), "-U", "ops",
                "-P", password, "-L", "OPERATOR", "-R", "1", "-N", "1", "chassis", "power",
                "status"]  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)

    try:
        assert ipmi("ops-pass1").returncode == 0
        with client(rack, auth=("ops", "wrong-pass")) as bad:
            assert bad.get(SYSTEM).status_code == 401
            assert bad.get(SYSTEM).status_code == 401
        assert api.get(uri).json()["Locked"] is True
        assert ipmi("ops-pass1").returncode != 0  # IPMI is refused too (RAKP 2: 0Dh)
        with client(rack, auth=("ops", "ops-pass1")) as good:
            assert good.get(SYSTEM).status_code == 401
            assert api.patch(uri, json={"Locked": False}).status_code == 200
            assert good.get(SYSTEM).status_code == 200
        assert ipmi("ops-pass1").returncode == 0
        # ipmitool and freeipmi check the BMC's RAKP 2 themselves and walk away without a
        # RAKP 3 when their password is wrong: the BMC cannot tell that from a lost packet, so
        # it does not count it. A console that says so (RAKP 3 status 0Fh, as our client does)
        # or sends a wrong RAKP 3 is counted, towards the same lockout as Redfish.
        assert ipmi("wrong-pass").returncode != 0
        asyncio.run(rakp_wrong_password(e.address, e.port))
        asyncio.run(rakp_wrong_password(e.address, e.port))
        assert api.get(uri).json()["Locked"] is True
        with client(rack, auth=("ops", "ops-pass1")) as good:
            assert good.get(SYSTEM).status_code == 401
    finally:
        api.delete(uri)
        api.patch(
            "/redfish/v1/AccountService",
            json={"AccountLockoutThreshold": 5, "AccountLockoutDuration": 300,
                  "AccountLockoutCounterResetAfter": 60},
        )  # fmt: skip

"""Hostile input against every writable Redfish resource: a corpus of malformed bodies and
headers. Each gets a 4xx in Redfish terms (never a 5xx), and a kept-alive connection stays usable
after each one (or, where the HTTP parser cannot go on, is closed with ``Connection: close``).

The writable routes are enumerated from the app itself, so a new POST/PATCH/PUT/DELETE route is
in the corpus as soon as it exists. Real TLS connections on loopback (``http.client`` for
well-formed HTTP, a raw socket for headers ``http.client`` refuses to send).
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import re
import socket
import ssl
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from fastapi.routing import APIRoute

from bmc.redfish.app import build_fastapi
from bmc.redfish.deps import MAX_JSON_DEPTH
from bmc.redfish.registries import load

if TYPE_CHECKING:
    from emulator.endpoints import Endpoint
    from emulator.harness import RackThread

pytestmark = pytest.mark.timeout(300)

WRITES = {"POST", "PATCH", "PUT", "DELETE"}
#: The issue's body: about 5 KB, nested 1,001 levels.
DEEP = b'{"Oem":' + b'{"a":' * 1000 + b"1" + b"}" * 1001

JSON_TYPE = "application/json"
#: (name, body, content type) of every malformed body the corpus sends.
BODIES: list[tuple[str, bytes, str]] = [
    ("deep-object", DEEP, JSON_TYPE),
    ("deep-array", b'{"Oem":' + b"[" * 5000 + b"]" * 5000 + b"}", JSON_TYPE),
    ("just-over-the-depth-cap", b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * 33, JSON_TYPE),
    ("nan", b'{"ResetType": NaN, "SessionTimeout": NaN, "Name": NaN}', JSON_TYPE),
    ("infinity", b'{"SessionTimeout": Infinity, "Oem": -Infinity}', JSON_TYPE),
    ("overflowing-float", b'{"SessionTimeout": 1e999, "MaxPasswordLength": -1e999}', JSON_TYPE),
    ("huge-float", b'{"SessionTimeout": 1e308, "AccountLockoutThreshold": 1.7e308}', JSON_TYPE),
    ("huge-int", b'{"SessionTimeout": ' + b"9" * 4000 + b"}", JSON_TYPE),
    ("int-over-python-limit", b'{"SessionTimeout": ' + b"9" * 5000 + b"}", JSON_TYPE),
    ("huge-string", json.dumps({"ResetType": "x" * 60000}).encode(), JSON_TYPE),
    ("huge-key", json.dumps({"k" * 60000: 1}).encode(), JSON_TYPE),
    ("many-keys", json.dumps({f"K{i}": i for i in range(4000)}).encode(), JSON_TYPE),
    ("invalid-utf8", b'{"ResetType": "\xff\xfe\xfd", "UserName": "\xc0\xaf"}', JSON_TYPE),
    (
        "lone-surrogate",
        b'{"UserName": "\\ud800", "Password": "\\udfff", "Name": "\\ud800"}',
        JSON_TYPE,
    ),
    (
        "nul-bytes",
        b'{"UserName": "a\\u0000b", "Image": "\\u0000", "Destination": "\\u0000"}',
        JSON_TYPE,
    ),
    ("utf16", '{"ResetType": "On"}'.encode("utf-16"), JSON_TYPE),
    ("utf8-bom", b'\xef\xbb\xbf{"Frobnicate": 1}', JSON_TYPE),
    ("trailing-garbage", b'{"Frobnicate": 1} x', JSON_TYPE),
    ("truncated", b'{"ResetType": "On"', JSON_TYPE),
    ("array", b"[1, 2, 3]", JSON_TYPE),
    ("string", b'"On"', JSON_TYPE),
    ("number", b"1", JSON_TYPE),
    ("null", b"null", JSON_TYPE),
    (
        "wrong-types",
        json.dumps(
            {
                "ResetType": {"a": 1},
                "UserName": [],
                "Password": 1,
                "RoleId": None,
                "Enabled": "yes",
                "Image": 5,
                "Inserted": "no",
                "Destination": [],
                "Boot": [],
                "Attributes": "x",
                "SessionTimeout": "30",
                "ServiceEnabled": 1,
                "LocationIndicatorActive": "on",
                "ImageURI": {},
                "Targets": "x",
                "EventTypes": 1,
                "Context": [],
            }
        ).encode(),
        JSON_TYPE,
    ),
    ("empty", b"", JSON_TYPE),
    ("whitespace", b" \r\n\t ", JSON_TYPE),
    ("text-plain", b'{"Frobnicate": 1}', "text/plain"),
    ("form", b"ResetType=On", "application/x-www-form-urlencoded"),
    ("multipart-garbage", b"--x\r\nnot a part\r\n--x--", "multipart/form-data; boundary=x"),
    ("multipart-no-boundary", b"--x--", "multipart/form-data"),
    ("bad-charset", b'{"Frobnicate": 1}', "application/json; charset=ebcdic-xx"),
]


def _writable_routes() -> list[tuple[str, str]]:
    """(method, path template) of every writable route the app has."""
    app = build_fastapi(load())
    return sorted(
        (method, r.path)
        for r in app.routes
        if isinstance(r, APIRoute)
        for method in (r.methods or set()) & WRITES
    )


ROUTES = _writable_routes()

#: Path parameters: a real resource where the route changes it (bodies that slip through would
#: show), one that does not exist where a DELETE would remove a real one.
PATH_VALUES = {
    "system_id": "n01",
    "chassis_id": "n01",
    "manager_id": "bmc",
    "log_id": "SEL",
    "owner": "Managers",
    "owner_id": "bmc",
    "slot_id": "CD",
    "task_id": "9999",
}


def _context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture(scope="module")
def rack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RackThread]:
    from emulator import topology
    from emulator.harness import RackThread
    from tests.conftest import TEST_IPMI_PORT, TEST_REDFISH_PORT, next_base_address

    text = topology.generate(
        4, base_address=next_base_address(), ipmi_port=TEST_IPMI_PORT,
        redfish_port=TEST_REDFISH_PORT,
    )  # fmt: skip
    r = RackThread(topology.load_text(text, "<test>"), speed=50)
    r.runtime.state_dir = tmp_path_factory.mktemp("state")
    with r:
        yield r


class Conn:
    """One kept-alive TLS connection to a BMC; fails the test if the server drops it."""

    def __init__(self, e: Endpoint, auth: bool = True) -> None:
        self.e = e
        self.http = http.client.HTTPSConnection(e.address, e.port, context=_context(), timeout=10)
        self.http.connect()
        self.sock = self.http.sock
        token = base64.b64encode(f"{e.username}:{e.password}".encode()).decode()
        self.auth = {"Authorization": f"Basic {token}"} if auth else {}

    def send(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        self.http.request(method, path, body=body, headers={**self.auth, **(headers or {})})
        resp = self.http.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def still_usable(self) -> None:
        """The same socket answers a plain GET (http.client would silently reconnect)."""
        status, _, _ = self.send("GET", "/redfish/v1/")
        assert status == 200
        assert self.http.sock is self.sock, "the server closed the kept-alive connection"

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="module")
def ids(rack: RackThread) -> dict[str, str]:
    """Ids of resources the corpus may PATCH: an account and a subscription of its own."""
    c = Conn(rack.endpoint("n01", "redfish"))
    try:
        status, _, data = c.send("POST", "/redfish/v1/AccountService/Accounts", json.dumps({
            "UserName": "hostile", "Password": "Hostile-pass-123", "RoleId": "ReadOnly",
        }).encode(), {"Content-Type": JSON_TYPE})  # fmt: skip
        assert status == 201, data
        account = json.loads(data)["Id"]
        status, _, data = c.send("POST", "/redfish/v1/EventService/Subscriptions", json.dumps({
            "Destination": "https://127.0.0.1:9/events", "Protocol": "Redfish",
        }).encode(), {"Content-Type": JSON_TYPE})  # fmt: skip
        assert status == 201, data
        sub = json.loads(data)["Id"]
    finally:
        c.close()
    return {"account_id": account, "sub_id": sub, "session_id": "no-such-session"}


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def test_the_corpus_covers_every_writable_route() -> None:
    # The corpus is as wide as the app: every path parameter has a value, and the routes named
    # in the issue are there.
    names = {n for _, path in ROUTES for n in re.findall(r"\{(\w+)\}", path)}
    assert names <= set(PATH_VALUES) | {"account_id", "sub_id", "session_id"}
    assert ("POST", "/redfish/v1/SessionService/Sessions") in ROUTES
    assert len(ROUTES) >= 20


def test_deep_nesting_before_login_is_a_clean_400(
    rack: RackThread, caplog: pytest.LogCaptureFixture
) -> None:
    c = Conn(rack.endpoint("n01", "redfish"), auth=False)
    try:
        with caplog.at_level(logging.ERROR):
            for _ in range(3):
                status, headers, data = c.send(
                    "POST", "/redfish/v1/SessionService/Sessions", DEEP,
                    {"Content-Type": JSON_TYPE},
                )  # fmt: skip
                assert status == 400, data
                info = json.loads(data)["error"]["@Message.ExtendedInfo"]
                assert [m["MessageId"] for m in info] == ["Base.1.22.MalformedJSON"]
                assert headers.get("connection", "keep-alive") != "close"
                c.still_usable()
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        c.close()


@pytest.mark.parametrize(("method", "template"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
@pytest.mark.parametrize("auth", [True, False], ids=["auth", "anonymous"])
def test_malformed_bodies_never_5xx(
    rack: RackThread, ids: dict[str, str], method: str, template: str, auth: bool
) -> None:
    e = rack.endpoint("n01", "redfish")
    path = _fill(template, {**PATH_VALUES, **ids})
    c = Conn(e, auth=auth)
    failures = []
    try:
        for name, body, content_type in BODIES:
            status, headers, data = c.send(method, path, body, {"Content-Type": content_type})
            if status >= 500:
                failures.append((name, status, data[:200]))
                c.close()
                c = Conn(e, auth=auth)
                continue
            assert 400 <= status < 500 or status in (200, 202, 204), (name, status, data[:300])
            if status >= 400:
                assert json.loads(data)["error"]["@Message.ExtendedInfo"], (name, data[:300])
            assert headers.get("connection", "keep-alive") != "close", (name, status, data[:300])
            c.still_usable()
    finally:
        c.close()
    assert not failures, failures


def _raw(e: Endpoint, request: bytes) -> tuple[int, bytes, bytes]:
    """Send raw bytes on a new TLS connection: (status, head, body); the connection is then
    read to its end, so a server that keeps it open fails the read's timeout."""
    plain = socket.create_connection((e.address, e.port), timeout=10)
    with plain, _context().wrap_socket(plain) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        m = re.search(rb"content-length: *(\d+)", head, re.I)
        while m and len(body) < int(m.group(1)):
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, head, body


BAD_HEADERS: list[tuple[str, bytes]] = [
    ("space-in-name", b"Bad Header: x\r\n"),
    ("nul-in-value", b"X-Thing: a\x00b\r\n"),
    ("control-in-name", b"X-\x01Thing: 1\r\n"),
    ("no-colon", b"JustAName\r\n"),
    ("non-token-name", b"X(Thing): 1\r\n"),
]


@pytest.mark.parametrize(("name", "line"), BAD_HEADERS, ids=[n for n, _ in BAD_HEADERS])
def test_a_header_the_parser_refuses_is_a_400(rack: RackThread, name: str, line: bytes) -> None:
    e = rack.endpoint("n01", "redfish")
    request = (
        b"POST /redfish/v1/SessionService/Sessions HTTP/1.1\r\nHost: bmc\r\n" + line
        + b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    )  # fmt: skip
    status, head, body = _raw(e, request)
    assert status == 400, (head, body)
    assert re.search(rb"^connection: close", head, re.I | re.M)
    info = json.loads(body)["error"]["@Message.ExtendedInfo"]
    assert [m["MessageId"] for m in info] == ["Base.1.22.HeaderInvalid"]


def test_an_unknown_method_is_still_a_501(rack: RackThread) -> None:
    e = rack.endpoint("n01", "redfish")
    status, head, body = _raw(e, b"FROB /redfish/v1/ HTTP/1.1\r\nHost: bmc\r\n\r\n")
    assert status == 501, (head, body)
    info = json.loads(body)["error"]["@Message.ExtendedInfo"]
    assert [m["MessageId"] for m in info] == ["Base.1.22.OperationNotAllowed"]


@pytest.mark.parametrize(
    ("name", "headers"),
    [
        ("garbage-if-match", {"If-Match": '"unterminated, W/, *x'}),
        ("garbage-odata-version", {"OData-Version": "4.0.0.0.0"}),
        ("non-ascii-token", {"X-Auth-Token": "é" * 64}),
        ("bad-basic", {"Authorization": "Basic !!!not-base64"}),
        ("basic-non-utf8", {"Authorization": "Basic " + base64.b64encode(b"\xff:\xfe").decode()}),
        ("long-header", {"X-Long": "v" * 8000}),
        ("many-headers", {f"X-H{i}": "1" for i in range(90)}),
        ("bad-accept", {"Accept": "application/xml;q=nan"}),
    ],
)
def test_odd_headers_never_5xx(rack: RackThread, name: str, headers: dict[str, str]) -> None:
    e = rack.endpoint("n01", "redfish")
    c = Conn(e)
    try:
        for method, template in ROUTES:
            path = _fill(template, {**PATH_VALUES, "account_id": "9999", "sub_id": "9999",
                                    "session_id": "no-such-session"})  # fmt: skip
            raw = {k: v.encode("utf-8").decode("latin-1") for k, v in headers.items()}
            status, got, data = c.send(method, path, b'{"Frobnicate": 1}', {
                "Content-Type": JSON_TYPE, **raw})  # fmt: skip
            assert status < 500, (name, method, path, status, data[:300])
            assert got.get("connection", "keep-alive") != "close", (name, method, path, status)
            c.still_usable()
    finally:
        c.close()

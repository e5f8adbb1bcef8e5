"""Hostile input against the control plane of a live rack (RackThread, loopback): deeply nested
JSON, non-finite and huge numbers, methods a path does not take, the token on every route but
the public schema. Each answer is a JSON 4xx naming the problem, the rack is unchanged and the
connection stays usable."""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from click.testing import CliRunner

from emulator.cli import main
from emulator.control.app import MAX_DEPTH, PUBLIC
from emulator.control.schemas import MAX_DELAY_S
from tests.test_control import Api, rack_text

if TYPE_CHECKING:
    from emulator.harness import RackThread

pytestmark = pytest.mark.timeout(180)

DEEP = '{"Oem":' + '{"a":' * 1000 + "1" + "}" * 1001


@pytest.fixture
def api(rack_factory: Callable[..., RackThread]) -> Iterator[Api]:
    a = Api(rack_factory(speed=50.0, text=rack_text()))
    yield a
    a.http.close()


class Raw:
    """One kept-alive HTTP/1.1 connection, to see what happens to it after each answer."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.buf = b""

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: control\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.sock.sendall(head.encode() + b"\r\n" + body)
        while b"\r\n\r\n" not in self.buf:
            self._more()
        top, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = top.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
        length = int(fields.get("content-length", "0"))
        while len(self.buf) < length:
            self._more()
        out, self.buf = self.buf[:length], self.buf[length:]
        return status, fields, out

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, "the server closed the connection"
        self.buf += chunk

    def close(self) -> None:
        self.sock.close()


def test_deeply_nested_json_is_a_400_and_the_connection_stays_usable(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    before = api.state()
    raw = Raw(api.url)
    token = {"Authorization": f"Bearer {api.rack.token}", "Content-Type": "application/json"}
    try:
        for headers in ({"Content-Type": "application/json"}, token):  # before and after auth
            for path in ("/faults", "/chaos", "/replace/node", "/nodes/n01/repair"):
                with caplog.at_level(logging.INFO):
                    status, fields, body = raw.request("POST", path, DEEP.encode(), headers)
                assert status == 400, (path, body)
                assert json.loads(body) == {
                    "error": f"the JSON body is nested deeper than {MAX_DEPTH} levels"
                }
                assert fields.get("connection", "").lower() != "close"
                # the same connection answers the next request
                status, _, body = raw.request("GET", "/faults/catalogue", headers=token)
                assert status == 200, body
        # a body exactly at the cap is read (and refused for what it says, not how deep)
        at_cap = '{"kind":' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}"
        status, _, body = raw.request("POST", "/faults", at_cap.encode(), token)
        assert status == 422, body
    finally:
        raw.close()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert api.state() == before


NON_FINITE = [
    ("/faults", '{"kind": "fan", "device": "n02", "in_s": NaN}', "in_s", "finite"),
    ("/faults", '{"kind": "fan", "device": "n02", "in_s": Infinity}', "in_s", "finite"),
    ("/faults", '{"kind": "fan", "device": "n02", "at": -Infinity}', "at", ""),
    ("/faults", '{"kind": "fan", "device": "n02", "in_s": 1e308}', "in_s", "less than or equal"),
    ("/faults", '{"kind": "fan", "device": "n02", "at": 1e300}', "at", "less than or equal"),
    ("/faults", '{"kind": NaN, "device": "n02"}', "kind", ""),
    ("/chaos", '{"seed": 1, "mean_interval_s": NaN}', "mean_interval_s", "finite"),
    ("/chaos", '{"seed": 1, "mean_interval_s": Infinity}', "mean_interval_s", ""),
    ("/chaos", '{"seed": 1, "mean_interval_s": 1e-9}', "mean_interval_s", "greater than"),
    ("/chaos", '{"seed": -1}', "seed", "greater than"),
    ("/chaos", '{"seed": 1e400}', "seed", ""),
    ("/chaos", '{"seed": 1, "max_active": NaN}', "max_active", ""),
]


def test_non_finite_and_huge_numbers_are_a_json_422_naming_the_field(api: Api) -> None:
    before = api.state()
    raw = Raw(api.url)
    headers = {"Authorization": f"Bearer {api.rack.token}", "Content-Type": "application/json"}
    try:
        for path, text, field, words in NON_FINITE:
            status, fields, body = raw.request("POST", path, text.encode(), headers)
            assert status == 422, (text, body)
            assert fields["content-type"] == "application/json"
            error = json.loads(body)  # strict JSON: no NaN in the answer either
            assert error["error"].startswith(f"invalid request: {field}: "), (text, error)
            assert words in error["error"], (text, error)
            assert error["detail"], text
            assert fields.get("connection", "").lower() != "close"
    finally:
        raw.close()
    assert api.state() == before


def test_the_openapi_document_states_the_bounds(api: Api) -> None:
    schemas = httpx.get(api.url + "/openapi.json", timeout=10).json()["components"]["schemas"]

    def bounds(model: str, field: str) -> dict[str, Any]:
        prop = schemas[model]["properties"][field]
        number = next(p for p in prop.get("anyOf", [prop]) if p.get("type") == "number")
        return {k: v for k, v in number.items() if "imum" in k}

    assert bounds("FaultIn", "in_s") == {"minimum": 0.0, "maximum": MAX_DELAY_S}
    assert bounds("FaultIn", "at")["maximum"] == 253_402_300_799.0
    assert bounds("ChaosIn", "mean_interval_s") == {"minimum": 1.0, "maximum": 2_592_000.0}
    seed = schemas["ChaosIn"]["properties"]["seed"]
    assert (seed["minimum"], seed["maximum"]) == (0, 2**53 - 1)


def test_a_stored_fault_with_a_huge_time_does_not_break_the_cli(api: Api) -> None:
    """A fault an older version accepted (in_s 1e300) stays listable; the CLI refuses such a
    time itself with a clean usage error."""
    rack = api.rack
    runtime = rack.runtime
    assert runtime.faults is not None
    faults = runtime.faults
    record = rack.call(lambda r: faults.inject("fan", "n02", at=1e300))
    conn = ["--url", rack.control_url, "--token", rack.token]
    runner = CliRunner()
    listed = runner.invoke(main, ["fault", "list", *conn])
    assert listed.exit_code == 0, listed.output
    assert f"{record.id} fan n02 Fan1 scheduled at t=1e+300" in listed.output
    as_json = runner.invoke(main, ["fault", "list", "--format", "json", *conn])
    assert json.loads(as_json.output)[0]["scheduled_for"] == 1e300
    for option in (["--in", "1e300"], ["--in", "nan"], ["--at", "inf"], ["--at", "1e300"]):
        out = runner.invoke(main, ["fault", "inject", "n03", "fan", *option, *conn])
        assert out.exit_code == 2, (option, out.output)
        assert "Invalid value for" in out.output and "Traceback" not in out.output, out.output
    out = runner.invoke(main, ["chaos", "start", "--seed", "1", "--mean-interval", "1e-9", *conn])
    assert out.exit_code == 2 and "--mean-interval" in out.output
    assert [r["id"] for r in api.get("/faults").json()] == [record.id]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_every_405_names_every_method_of_the_path(api: Api) -> None:
    paths = httpx.get(api.url + "/openapi.json", timeout=10).json()["paths"]
    assert {"get", "post"} <= set(paths["/faults"]) and {"get", "post", "delete"} <= set(
        paths["/chaos"]
    )
    templates = {re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"): p for p in paths}
    for path in paths:
        # every route the path reaches: /faults/catalogue is also a /faults/{fault_id}
        allowed = sorted(
            {m.upper() for t, p in templates.items() if t.match(path) for m in paths[p]}
        )
        for method in ("OPTIONS", "PUT", "PATCH"):
            resp = api.http.request(method, path)
            assert resp.status_code == 405, (method, path, resp.text)
            assert sorted(resp.headers["allow"].split(", ")) == allowed, (method, path)
            assert resp.json()["error"].startswith(f"{method} is not allowed on")
    assert api.http.options("/faults").headers["allow"] == "GET, POST"
    assert api.http.options("/chaos").headers["allow"] == "GET, POST, DELETE"


def test_only_the_schema_and_its_pages_are_served_without_the_token(api: Api) -> None:
    """The decision: /openapi.json, /docs and /redoc show the API's shape and no state, and
    are public (tools read the schema before they hold a token); every other route and method
    needs the token."""
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert path in PUBLIC
        resp = httpx.get(api.url + path, timeout=10)
        assert resp.status_code == 200, path
        assert api.rack.token not in resp.text
    paths = httpx.get(api.url + "/openapi.json", timeout=10).json()["paths"]
    assert not set(paths) & set(PUBLIC)
    for path, operations in paths.items():
        for method in operations:
            if method == "get" and path.endswith("/stream"):
                with httpx.stream("GET", api.url + path, timeout=10) as resp:
                    status = resp.status_code
            else:
                status = httpx.request(method, api.url + _concrete(path), timeout=10).status_code
            assert status == 401, (method, path, status)

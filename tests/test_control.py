"""The control plane's HTTP API against a live rack (RackThread) with httpx: the token, every
route, bad requests that change nothing, concurrent requests, the event stream, replacement
seen through ipmitool, and the event feed's bounds on its own."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from emulator import topology
from emulator.control.app import ROUTERS
from emulator.control.feed import EventFeed, encode
from emulator.control.plane import FACTORY_PASSWORD, FACTORY_USERNAME, previous_version
from nodes.events import PowerChanged
from nodes.power import HostState
from tests.conftest import (
    TEST_IPMI_PORT,
    TEST_REDFISH_PORT,
    TEST_SNMP_PORT,
    next_base_address,
    require_tool,
)

if TYPE_CHECKING:
    from emulator.harness import RackThread

pytestmark = pytest.mark.timeout(180)

SPEED = 100.0
BOOTED_WITHIN = 30.0  # real seconds: a boot is 106 emulated seconds


def rack_text(nodes: int = 4) -> str:
    base = next_base_address()
    prefix = base.rsplit(".", 1)[0]
    return topology.generate(
        nodes,
        base_address=base,
        ipmi_port=TEST_IPMI_PORT,
        redfish_port=TEST_REDFISH_PORT,
        redfish_tls=False,
        switch_base_address=prefix + ".240",
        snmp_port=TEST_SNMP_PORT,
        host_base_address=prefix + ".200",
        control_address="127.0.0.1",
        control_port=0,
    )


class Api:
    """httpx against one rack's control plane, with its token."""

    def __init__(self, rack: RackThread) -> None:
        self.rack = rack
        self.url = rack.control_url
        self.headers = {"Authorization": f"Bearer {rack.token}"}
        self.http = httpx.Client(base_url=self.url, headers=self.headers, timeout=10)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params)

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return self.http.post(path, json=body)

    def delete(self, path: str) -> httpx.Response:
        return self.http.delete(path)

    def status(self) -> dict[str, Any]:
        resp = self.get("/status")
        assert resp.status_code == 200, resp.text
        data: dict[str, Any] = resp.json()
        return data

    def state(self) -> Any:
        """Everything a request could change, for 'nothing changed' checks."""
        status = self.status()
        status.pop("now")
        rack = self.rack.call(
            lambda r: (
                {
                    n: (node.spec.serial, node.state, node.active_faults)
                    for n, node in r.nodes.items()
                },
                {n: (sw.serial, sw.up, sw.active_faults) for n, sw in r.switches.items()},
                r.pulled_cables,
            )
        )
        return status, self.get("/faults").json(), self.get("/alerts").json(), rack

    def settled_state(self, within: float = 10.0) -> Any:
        """The state once two looks a few health ticks apart agree (the operator's health
        service evaluates every 30 emulated seconds, 0.3 s here)."""
        deadline = time.monotonic() + within
        last = self.state()
        while time.monotonic() < deadline:
            time.sleep(0.7)
            now = self.state()
            if now == last:
                return now
            last = now
        pytest.fail(f"the rack did not settle within {within} s")

    def wait(self, check: Callable[[dict[str, Any]], bool], what: str, within: float) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if check(self.status()):
                return
            time.sleep(0.1)
        pytest.fail(f"not {what} within {within} s: {self.status()}")

    def boot_all(self) -> None:
        """Start every node through the control plane, wait for the OS, resume each."""
        for n in self.rack.topology.nodes:
            assert self.post(f"/nodes/{n.name}/start").status_code == 200
        self.wait(
            lambda s: all(n["host_state"] == "running" for n in s["nodes"]), "booted", BOOTED_WITHIN
        )
        for n in self.rack.topology.nodes:
            resp = self.post(f"/nodes/{n.name}/resume")
            assert resp.status_code == 200, resp.text
        self.wait(lambda s: s["scale_unit"] == "running", "running", 10)


@pytest.fixture
def rack(rack_factory: Callable[..., RackThread]) -> RackThread:
    return rack_factory(speed=SPEED, text=rack_text())


@pytest.fixture
def api(rack: RackThread) -> Iterator[Api]:
    a = Api(rack)
    yield a
    a.http.close()


@pytest.fixture
def booted(api: Api) -> Api:
    api.boot_all()
    return api


# -- the app's shape ------------------------------------------------------------------------------
def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def test_every_route_and_dependency_is_a_coroutine() -> None:
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    assert len(routes) >= 15
    sync = {
        f"{r.path}: {getattr(c, '__qualname__', c)}"
        for r in routes
        for c in _calls(r.dependant)
        if not inspect.iscoroutinefunction(c)
    }
    assert not sync, "sync routes or dependencies run in FastAPI's thread pool"


def test_openapi_documents_every_route_without_a_token(api: Api) -> None:
    doc = httpx.get(api.url + "/openapi.json", timeout=10)
    assert doc.status_code == 200
    paths = doc.json()["paths"]
    for path in (
        "/status",
        "/faults",
        "/faults/{fault_id}",
        "/faults/catalogue",
        "/nodes/{name}/{action}",
        "/replace/node",
        "/replace/part",
        "/replace/switch",
        "/alerts",
        "/chaos",
        "/events",
        "/events/stream",
    ):
        assert path in paths, path
    action = paths["/nodes/{name}/{action}"]["post"]
    enum = next(p for p in action["parameters"] if p["name"] == "action")["schema"]["enum"]
    assert enum == ["drain", "resume", "stop", "start", "shutdown", "repair", "add"]
    assert {"401", "404", "409", "422", "502"} <= set(action["responses"])
    assert httpx.get(api.url + "/docs", timeout=10).status_code == 200


# -- the token ------------------------------------------------------------------------------------
def test_every_route_needs_the_bearer_token_and_a_refusal_changes_nothing(api: Api) -> None:
    before = api.settled_state()
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {api.rack.token}"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {api.rack.token}x"},
    ):
        for method, path, body in (
            ("GET", "/status", None),
            ("GET", "/faults", None),
            ("POST", "/nodes/n01/start", None),
            ("POST", "/faults", {"kind": "psu-both", "device": "n02"}),
            ("POST", "/replace/switch", {"switch": "tor-a"}),
            ("POST", "/chaos", {"seed": 1}),
            ("GET", "/events/stream", None),
        ):
            resp = httpx.request(method, api.url + path, headers=headers, json=body, timeout=10)
            assert resp.status_code == 401, (headers, path, resp.text)
            assert resp.headers["www-authenticate"].startswith("Bearer")
            assert "token" in resp.json()["error"]
    assert api.state() == before


def test_the_control_file_holds_url_and_token_for_the_user_only(rack: RackThread) -> None:
    path = rack.runtime.state_dir / "control.json"
    data = json.loads(path.read_text())
    assert data["url"] == rack.control_url and data["token"] == rack.token
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    port = int(rack.control_url.rsplit(":", 1)[1])
    assert any(e.protocol == "control" and e.port == port for e in rack.endpoints)


def test_a_given_token_is_used_and_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from emulator.harness import RackThread

    caplog.set_level(logging.DEBUG)
    token = "given-token-0123456789"
    r = RackThread(
        topology.load_text(rack_text(), "<test>"), speed=SPEED, token=token, state_dir=tmp_path
    )
    with r:
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(r.control_url + "/status", headers=headers).status_code == 200
        httpx.post(r.control_url + "/nodes/n01/start", headers=headers)
        control = r.runtime.state_dir / "control.json"
        assert json.loads(control.read_text())["token"] == token
    assert not control.exists()  # removed at stop: no stale URL for the CLI
    assert caplog.records and not any(token in rec.getMessage() for rec in caplog.records)


# -- status and actions ---------------------------------------------------------------------------
def test_status_of_a_cold_rack(api: Api) -> None:
    s = api.status()
    # Every node is out of the pool, so the operator's view counts storage at risk.
    assert s["scale_unit"] == "stopped" and s["storage_at_risk"] and not s["chaos"]
    assert [n["name"] for n in s["nodes"]] == ["n01", "n02", "n03", "n04"]
    for n in s["nodes"]:
        assert (n["status"], n["power_state"], n["host_state"]) == ("stopped", "stopped", "off")
        assert n["bmc_reachable"] and n["health"] == "ok" and n["faults"] == []
    assert [(w["name"], w["role"], w["up"]) for w in s["switches"]] == [
        ("tor-a", "tor", True),
        ("tor-b", "tor", True),
        ("bmc-switch", "bmc", True),
    ]
    assert s["alerts"] == []


def test_drain_then_a_second_drain_puts_storage_at_risk_as_the_real_system_does(
    booted: Api,
) -> None:
    api = booted
    one = api.post("/nodes/n01/drain")
    assert one.status_code == 200
    body = one.json()
    assert (body["status"], body["power_state"], body["scale_unit"]) == (
        "maintenance",
        "running",
        "running",
    )
    assert [e["type"] for e in body["events"]][:1] == ["fabric.vm.moved"]
    # The operator's view accepts a second drain, and punishes it: storage at risk.
    two = api.post("/nodes/n02/drain")
    assert two.status_code == 200 and two.json()["scale_unit"] == "requires-remediation"
    s = api.status()
    assert s["storage_at_risk"] and all(n["vms"] == 0 for n in s["nodes"])
    # A drain of a drained node is refused with the operator's message, and changes nothing.
    before = api.settled_state()
    again = api.post("/nodes/n01/drain")
    assert again.status_code == 409
    assert again.json() == {"error": "n01 is Maintenance: drain needs Running"}
    assert api.state() == before
    # Resuming one brings the scale unit back.
    assert api.post("/nodes/n02/resume").status_code == 200
    api.wait(lambda s: s["scale_unit"] == "running", "running again", 10)


def test_stop_start_shutdown_through_the_control_plane(booted: Api) -> None:
    api = booted
    assert api.post("/nodes/n04/stop").json()["power_state"] == "stopped"
    assert api.rack.call(lambda r: r.nodes["n04"].state) is HostState.OFF
    refused = api.post("/nodes/n04/stop")
    assert refused.status_code == 409 and refused.json()["error"] == "n04 is already powered off"
    assert api.post("/nodes/n04/start").json()["power_state"] == "starting"
    api.wait(lambda s: s["nodes"][3]["host_state"] == "running", "n04 booted", BOOTED_WITHIN)
    assert api.post("/nodes/n04/resume").json()["status"] == "running"
    shut = api.post("/nodes/n04/shutdown")
    assert shut.status_code == 200 and shut.json()["power_state"] == "stopping"
    api.wait(lambda s: s["nodes"][3]["host_state"] == "off", "n04 off", 10)


def test_a_bmc_that_does_not_answer_fails_start_with_the_documented_message(booted: Api) -> None:
    api = booted
    assert api.post("/nodes/n03/stop").status_code == 200
    api.rack.call(lambda r: r.switches["bmc-switch"].power_off())

    def settled(s: dict[str, Any]) -> bool:  # the health service has seen it all
        kinds = [a["kind"] for a in s["alerts"]]
        return "bmc-switch-down" in kinds and kinds.count("bmc-not-responding") == 4

    api.wait(settled, "alerted", 10)
    before = api.settled_state()
    resp = api.post("/nodes/n03/start")
    assert resp.status_code == 502
    address = api.rack.topology.node("n03").bmc.address
    assert resp.json()["error"] == (
        f"The BMC IP address {address} did not respond to a general query in the expected time"
    )
    assert api.state() == before


# -- faults ---------------------------------------------------------------------------------------
def test_fault_inject_list_clear_and_schedule(booted: Api) -> None:
    api = booted
    kinds = {k["name"]: k for k in api.get("/faults/catalogue").json()}
    assert {"psu-both", "fan", "switch-power", "firmware-drift"} <= set(kinds)
    assert kinds["fan"]["scope"] == "node" and kinds["fan"]["part"] == "fan"

    resp = api.post("/faults", {"kind": "psu-both", "device": "n02"})
    assert resp.status_code == 201, resp.text
    fault = resp.json()
    assert (fault["id"], fault["kind"], fault["device"], fault["state"]) == (
        "f-0001",
        "psu-both",
        "n02",
        "active",
    )
    api.wait(lambda s: s["nodes"][1]["host_state"] == "off", "n02 off", 5)
    n02 = api.status()["nodes"][1]
    assert n02["faults"] == ["psu-both"] and n02["power_state"] == "stopped"
    assert [f["id"] for f in api.get("/faults", active_only=True).json()] == ["f-0001"]

    later = api.post("/faults", {"kind": "fan", "device": "n03", "part": "Fan2", "in_s": 200})
    assert later.status_code == 201 and later.json()["state"] == "scheduled"
    fid = later.json()["id"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if next(f for f in api.get("/faults").json() if f["id"] == fid)["state"] == "active":
            break
        time.sleep(0.1)
    assert api.status()["nodes"][2]["faults"] == ["fan:Fan2"]

    cleared = api.delete("/faults/f-0001")
    assert cleared.status_code == 200
    assert (cleared.json()["state"], cleared.json()["cleared_by"]) == ("cleared", "operator")
    again = api.delete("/faults/f-0001")
    assert again.status_code == 409 and "f-0001" in again.json()["error"]
    assert api.status()["nodes"][1]["faults"] == []


def test_a_fault_already_active_or_scheduled_on_the_part_is_a_conflict(api: Api) -> None:
    """409 (the state forbids it), not 400 (a bad value), and nothing changes."""
    first = api.post("/faults", {"kind": "fan", "device": "n01", "part": "Fan2"})
    assert first.status_code == 201, first.text
    later = api.post("/faults", {"kind": "psu-one", "device": "n01", "part": "PSU1", "in_s": 3600})
    assert later.status_code == 201 and later.json()["state"] == "scheduled"
    pulled = api.post("/faults", {"kind": "cable-bmc", "device": "n03"})
    assert pulled.status_code == 201, pulled.text
    before = api.get("/faults").json()
    for body, message in (
        ({"kind": "fan", "device": "n01", "part": "Fan2"}, "n01 already has fan on Fan2 (f-0001)"),
        (
            {"kind": "psu-one", "device": "n01", "part": "PSU1"},
            "already has psu-one on PSU1 scheduled at",
        ),
        ({"kind": "cable-bmc", "device": "n03"}, "n03 already has cable-bmc"),
    ):
        again = api.post("/faults", body)
        assert again.status_code == 409, again.text
        assert message in again.json()["error"]
    # A bad value is still a 400, and a clear of an ended fault a conflict too.
    bad = api.post("/faults", {"kind": "fan", "device": "n01", "part": "Fan99"})
    assert bad.status_code == 400 and "valid: Fan1" in bad.json()["error"]
    assert api.get("/faults").json() == before
    assert api.delete("/faults/f-0001").status_code == 200
    ended = api.delete("/faults/f-0001")
    assert ended.status_code == 409 and "already ended" in ended.json()["error"]


BAD_REQUESTS: list[tuple[str, str, Any, int, str]] = [
    ("POST", "/nodes/n99/drain", None, 404, "no node named 'n99'"),
    ("POST", "/nodes/n01/explode", None, 422, "invalid request: path.action"),
    ("POST", "/nodes/n01/drain", {"bmc_address": "127.0.1.9"}, 400, "bmc_address applies"),
    ("POST", "/nodes/n01/repair", {"bmc_address": "not-an-ip"}, 422, "bmc_address"),
    ("POST", "/nodes/n01/drain", {"force": True}, 422, "Extra inputs"),
    ("POST", "/faults", {"kind": "psu-one"}, 422, "device: Field required"),
    ("POST", "/faults", {"kind": "psu-onne", "device": "n01"}, 400, "unknown fault kind"),
    ("POST", "/faults", {"kind": "fan", "device": "n77"}, 404, "no node or switch named 'n77'"),
    ("POST", "/faults", {"kind": "fan", "device": "n01", "part": "Fan99"}, 400, "Fan99"),
    ("POST", "/faults", {"kind": "switch-fan", "device": "n01"}, 400, "switch"),
    ("POST", "/faults", {"kind": "fan", "device": "n01", "at": 1, "in_s": 1}, 422, "not both"),
    ("POST", "/faults", {"kind": "fan", "device": "n01", "in_s": -5}, 422, "in_s"),
    ("POST", "/faults", {"kind": "fan", "device": "n01", "at": 10}, 400, "in the past"),
    ("POST", "/faults", "not json", 422, "invalid request"),
    ("DELETE", "/faults/f-9999", None, 404, "no fault 'f-9999'"),
    ("POST", "/replace/node", {"node": "n01"}, 409, "n01 is powered on"),
    ("POST", "/replace/node", {"node": "n42"}, 404, "no node named 'n42'"),
    ("POST", "/replace/node", {"node": "n01", "cpu_model": ""}, 422, "cpu_model"),
    ("POST", "/replace/node", {"node": "n01", "cpu_model": "Xeon\u0007"}, 422, "cpu_model"),
    ("POST", "/replace/node", {"node": "n01", "cpu_model": "X" * 65}, 422, "cpu_model"),
    ("POST", "/replace/part", {"node": "n01", "kind": "gpu", "target": "x"}, 422, "kind"),
    ("POST", "/replace/part", {"node": "n01", "kind": "dimm", "target": "A1"}, 409, "hot-swap"),
    ("POST", "/replace/part", {"node": "n01", "kind": "fan", "target": "Fan99"}, 404, "Fan99"),
    ("POST", "/replace/switch", {"switch": "tor-z"}, 404, "no switch named 'tor-z'"),
    ("POST", "/replace/switch", {"switch": "tor-a", "serial": "TORB0001"}, 409, "already"),
    ("POST", "/replace/switch", {"switch": "tor-a", "serial": "bad serial!"}, 422, "serial"),
    ("POST", "/chaos", {"seed": 1, "kinds": ["meteor"]}, 400, "unknown fault kind"),
    ("POST", "/chaos", {"seed": 1, "mean_interval_s": 0}, 422, "mean_interval_s"),
    ("POST", "/chaos", {"mean_interval_s": 10}, 422, "seed: Field required"),
    ("DELETE", "/chaos", None, 409, "chaos is not running"),
    ("POST", "/alerts/alert-0999/close", None, 404, "no alert 'alert-0999'"),
    ("GET", "/events", {"limit": 0}, 422, "limit"),
    ("GET", "/no/such/route", None, 404, "no route /no/such/route"),
]


def test_bad_requests_get_clear_errors_and_change_nothing(booted: Api) -> None:
    api = booted
    before = api.settled_state()
    for method, path, body, status, needle in BAD_REQUESTS:
        if method == "GET":
            resp = api.http.get(path, params=body)
        elif isinstance(body, str):
            resp = api.http.request(
                method, path, content=body, headers={"Content-Type": "application/json"}
            )
        else:
            resp = api.http.request(method, path, json=body)
        assert resp.status_code == status, (method, path, body, resp.text)
        error = resp.json()["error"]
        assert needle in error, (method, path, error)
        if status == 422:
            assert resp.json()["detail"], resp.text
    assert api.state() == before


# -- replacement ----------------------------------------------------------------------------------
def test_a_replacement_node_arrives_with_factory_credentials_and_firmware(booted: Api) -> None:
    ipmitool = require_tool("ipmitool")
    api = booted
    assert api.post("/nodes/n02/shutdown").status_code == 200
    api.wait(lambda s: s["nodes"][1]["host_state"] == "off", "n02 off", 10)
    old_serial = api.status()["nodes"][1]["serial"]
    resp = api.post("/replace/node", {"node": "n02"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["serial"] != old_serial and body["serial"].startswith(old_serial)
    assert (body["username"], body["password"]) == (FACTORY_USERNAME, FACTORY_PASSWORD)
    spec = api.rack.topology.node("n02").firmware
    assert body["firmware"]["bios"] == previous_version(spec.bios) == "2.26.0"
    assert api.status()["nodes"][1]["serial"] == body["serial"]

    ep = api.rack.endpoint("n02")
    base = [ipmitool, "-I", "lanplus", "-H", ep.address, "-p", str(ep.port), "-N", "2", "-R", "1"]
    factory = subprocess.run(
        base + ["-U", FACTORY_USERNAME, "-P", FACTORY_PASSWORD, "fru", "print", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert factory.returncode == 0, factory.stderr
    assert body["serial"] in factory.stdout
    rack_creds = subprocess.run(
        base + ["-U", ep.username, "-P", ep.password, "mc", "info"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert rack_creds.returncode != 0  # the rack's credentials are not set on it yet
    # Repair needs the rack's credentials: the documented BMC error, nothing changed.
    before = api.settled_state()
    repair = api.post("/nodes/n02/repair")
    assert (
        repair.status_code == 502
        and "did not respond to a general query" in (repair.json()["error"])
    )
    assert api.state() == before


def test_a_part_replacement_ends_its_fault(booted: Api) -> None:
    api = booted
    fault = api.post("/faults", {"kind": "fan", "device": "n01", "part": "Fan3"}).json()
    resp = api.post("/replace/part", {"node": "n01", "kind": "fan", "target": "Fan3"})
    assert resp.status_code == 200, resp.text
    rec = next(f for f in api.get("/faults").json() if f["id"] == fault["id"])
    assert (rec["state"], rec["cleared_by"]) == ("cleared", "replacement")
    assert api.status()["nodes"][0]["faults"] == []


def test_a_replacement_switch_has_a_new_serial(api: Api) -> None:
    resp = api.post("/replace/switch", {"switch": "tor-b"})
    assert resp.status_code == 200, resp.text
    serial = resp.json()["serial"]
    assert serial.startswith("TORB0001-R")
    assert next(s for s in api.status()["switches"] if s["name"] == "tor-b")["serial"] == serial


# -- chaos ----------------------------------------------------------------------------------------
def test_chaos_starts_injects_and_stops(api: Api) -> None:
    resp = api.post("/chaos", {"seed": 7, "mean_interval_s": 30, "kinds": ["fan"], "max_active": 2})
    assert resp.status_code == 201, resp.text
    assert resp.json()["running"] and resp.json()["seed"] == 7
    again = api.post("/chaos", {"seed": 8})
    assert again.status_code == 409 and "already running (seed 7)" in again.json()["error"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not api.get("/faults").json():
        time.sleep(0.1)
    faults = api.get("/faults").json()
    assert faults and {f["kind"] for f in faults} == {"fan"}
    assert api.status()["chaos"]
    stopped = api.delete("/chaos")
    assert stopped.status_code == 200 and not stopped.json()["running"]
    assert api.get("/chaos").json() == {
        "running": False,
        "seed": None,
        "mean_interval_s": None,
        "kinds": None,
        "max_active": None,
        "started_at": None,
    }


# -- concurrency ----------------------------------------------------------------------------------
def test_twenty_concurrent_requests(booted: Api) -> None:
    api = booted

    async def main() -> tuple[list[httpx.Response], list[httpx.Response], list[dict[str, Any]]]:
        async with httpx.AsyncClient(base_url=api.url, headers=api.headers, timeout=20) as c:
            seen: list[dict[str, Any]] = []

            async def watch(ready: asyncio.Event) -> None:
                async with c.stream("GET", "/events/stream") as resp:
                    ready.set()
                    async for line in resp.aiter_lines():
                        seen.append(json.loads(line))
                        if sum(e["type"] == "fault.injected" for e in seen) >= 20:
                            return

            ready = asyncio.Event()
            watcher = asyncio.create_task(watch(ready))
            await asyncio.wait_for(ready.wait(), 10)
            drains = await asyncio.gather(*(c.post("/nodes/n01/drain") for _ in range(20)))
            parts = [(f"n0{n}", f"Fan{f}") for n in range(1, 5) for f in range(1, 6)]
            injects = await asyncio.gather(
                *(c.post("/faults", json={"kind": "fan", "device": d, "part": p}) for d, p in parts)
            )
            await asyncio.wait_for(watcher, 20)
            return drains, injects, seen

    drains, injects, seen = asyncio.run(main())
    codes = sorted(r.status_code for r in drains)
    assert codes == [200] + [409] * 19
    assert {r.json()["error"] for r in drains if r.status_code == 409} == {
        "n01 is Maintenance: drain needs Running"
    }
    assert [r.status_code for r in injects] == [201] * 20, [r.text for r in injects]
    ids = {r.json()["id"] for r in injects}
    assert len(ids) == 20
    active = api.get("/faults", active_only=True).json()
    assert {(f["device"], f["part"]) for f in active} == {
        (r.json()["device"], r.json()["part"]) for r in injects
    }
    # The stream saw every one, in order.
    seqs = [e["seq"] for e in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    injected = [e for e in seen if e["type"] == "fault.injected"]
    assert {e["fault_id"] for e in injected} == ids
    assert sum(e["type"] == "fabric.node.drained" for e in seen) == 1
    assert sum(e["type"] == "fabric.action.refused" for e in seen) == 19


# -- the event stream -----------------------------------------------------------------------------
def test_the_stream_shows_power_changes_and_recent_events_are_kept(booted: Api) -> None:
    api = booted
    last = api.get("/events").json()["last_seq"]
    c = httpx.Client(base_url=api.url, headers=api.headers, timeout=10)
    with c, c.stream("GET", "/events/stream") as resp:
        assert resp.headers["content-type"].startswith("application/x-ndjson")
        assert api.post("/nodes/n03/stop").status_code == 200
        found = None
        deadline = time.monotonic() + 10
        for line in resp.iter_lines():
            event = json.loads(line)
            if event["type"] == "power.changed" and event["device"] == "n03":
                found = event
                break
            assert time.monotonic() < deadline
    assert found is not None and (found["old"], found["new"]) == ("running", "off")
    assert found["cause"] == "fabric-stop" and found["seq"] > last
    recent = api.get("/events", since=last).json()["events"]
    assert any(e["seq"] == found["seq"] for e in recent)
    assert "fabric.node.stopped" in {e["type"] for e in recent}


def test_server_sent_events_when_asked_for(booted: Api) -> None:
    api = booted
    headers = {**api.headers, "Accept": "text/event-stream"}
    last = api.get("/events").json()["last_seq"]
    c = httpx.Client(base_url=api.url, headers=headers, timeout=10)
    with c, c.stream("GET", "/events/stream", params={"since": max(0, last - 3)}) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines: list[str] = []
        for line in resp.iter_lines():
            lines.append(line)
            if len([x for x in lines if x.startswith("data: ")]) >= 3:
                break
    ids = [int(x[4:]) for x in lines if x.startswith("id: ")]
    assert ids == [last - 2, last - 1, last]
    data = [json.loads(x[6:]) for x in lines if x.startswith("data: ")]
    assert [d["seq"] for d in data] == ids
    assert all(x.startswith("event: ") for x in lines if x.startswith("event"))


def test_a_slow_subscriber_is_dropped_with_a_final_message() -> None:
    async def main() -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
        feed = EventFeed(history=10, queue_limit=3)
        slow = feed.subscribe()
        ok = feed.subscribe()
        got_ok: list[dict[str, Any]] = []
        for i in range(5):
            feed(
                PowerChanged(
                    device="n01", at=float(i), old=HostState.OFF, new=HostState.OFF, cause="t"
                )
            )
            async for item in _take(ok, 1):
                got_ok.append(item)
        got_slow = [item async for item in slow.items()]  # ends by itself
        feed.close()
        got_ok += [item async for item in ok.items()]
        return got_slow, got_ok, len(feed.recent)

    slow, ok, kept = asyncio.run(main())
    assert [e["type"] for e in slow] == ["stream.dropped"]
    assert "too slowly" in slow[0]["reason"]
    assert [e.get("seq") for e in ok] == [1, 2, 3, 4, 5, None]
    assert ok[-1]["type"] == "stream.closed"
    assert kept == 5


async def _take(sub: Any, n: int) -> Any:
    it = sub.items()
    for _ in range(n):
        yield await it.__anext__()


def test_events_encode_as_plain_json() -> None:
    event = PowerChanged(
        device="n01", at=12.5, old=HostState.OFF, new=HostState.POWERING_ON, cause="x"
    )
    assert encode(event, 9) == {
        "seq": 9,
        "type": "power.changed",
        "device": "n01",
        "at": 12.5,
        "old": "off",
        "new": "powering-on",
        "cause": "x",
    }


# -- where it listens ---------------------------------------------------------------------------
def _control_text(port: int, extra: str = "") -> str:
    text = rack_text().replace("  port: 0          # 0: any free port", f"  port: {port}")
    assert f"  port: {port}" in text
    return text + extra


def test_a_taken_port_falls_back_to_a_free_one_or_is_a_clear_startup_error(
    tmp_path: Path,
) -> None:
    from emulator.endpoints import StartupError
    from emulator.harness import RackThread

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = RackThread(topology.load_text(_control_text(port), "<t>"), state_dir=tmp_path / "a")
        with r:
            assert r.control_url != f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {r.token}"}
            assert httpx.get(r.control_url + "/status", headers=headers).status_code == 200
        strict = topology.load_text(_control_text(port, "  fallback_port: null\n"), "<t>")
        assert strict.control.fallback_port is None
        r = RackThread(strict, state_dir=tmp_path / "b")
        with pytest.raises(StartupError) as err:
            r.start()
        r.close()
    assert str(err.value) == (
        f"control: cannot bind control on 127.0.0.1:{port}/tcp: Address already in use "
        "(another process uses it: is a rack already running?)"
    )
    assert not (tmp_path / "b" / "control.json").exists()


def test_a_rack_without_a_control_plane(tmp_path: Path) -> None:
    from emulator.harness import RackThread

    text = rack_text().replace("control:", "control:\n  enabled: false", 1)
    r = RackThread(topology.load_text(text, "<t>"), state_dir=tmp_path)
    with r:
        assert r.runtime.control is None and r.runtime.operator is not None
        assert not any(e.protocol == "control" for e in r.endpoints)
        assert not (tmp_path / "control.json").exists()


def test_a_client_that_stops_reading_is_dropped_not_buffered(api: Api) -> None:
    """Two live streams while 5000 events arrive in batches of 40: the client that reads keeps
    up and gets every one; the one that reads nothing fills the socket buffers, then its queue
    (50 here), and is dropped with a final message instead of growing memory."""
    feed = api.rack.runtime.feed
    assert feed is not None
    api.rack.call(lambda r: setattr(feed, "queue_limit", 50))
    # Small kernel buffers (accepted sockets take the listener's), so that 5000 events are more
    # than they hold; with Linux's autotuning they would absorb 4 MiB first.
    control = api.rack.runtime.control
    assert control is not None
    control.listening_socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    host, port = api.url.removeprefix("http://").split(":")
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.settimeout(10)
    slow.connect((host, int(port)))
    request = f"GET /events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api.rack.token}"
    slow.sendall(request.encode() + b"\r\n\r\n")

    fast: list[dict[str, Any]] = []

    def read_fast() -> None:
        c = httpx.Client(base_url=api.url, headers=api.headers, timeout=30)
        identified = 0
        with c, c.stream("GET", "/events/stream") as resp:
            for line in resp.iter_lines():
                fast.append(json.loads(line))
                identified += fast[-1]["type"] == "identify.changed"
                if identified == 5000 or fast[-1]["type"] == "stream.dropped":
                    return

    reader = threading.Thread(target=read_fast, daemon=True)
    reader.start()
    deadline = time.monotonic() + 10
    while api.rack.call(lambda r: feed.subscribers) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    def batch(r: Any) -> None:  # 40 events: identify on, then off
        for _ in range(20):
            r.nodes["n01"].identify(None)
            r.nodes["n01"].identify(0)

    for _ in range(125):
        api.rack.call(batch)
        time.sleep(0.01)
    reader.join(timeout=60)
    assert not reader.is_alive()
    assert sum(e["type"] == "identify.changed" for e in fast) == 5000
    assert "stream.dropped" not in {e["type"] for e in fast}

    data = b""
    while not data.endswith(b"0\r\n\r\n"):  # the chunked body's end
        chunk = slow.recv(65536)
        if not chunk:
            break
        data += chunk
        assert len(data) < 10_000_000
    slow.close()
    assert b'"type":"stream.dropped"' in data
    assert data.count(b'"identify.changed"') < 5000  # it did not get them all
    deadline = time.monotonic() + 10  # both gone, nothing kept
    while api.rack.call(lambda r: feed.subscribers):
        assert time.monotonic() < deadline, "a stream stayed subscribed"
        time.sleep(0.05)


# -- adding a node --------------------------------------------------------------------------------
def test_a_spare_node_is_added_through_the_control_plane(
    rack_factory: Callable[..., RackThread],
) -> None:
    r = rack_factory(speed=SPEED, nodes=5, text=rack_text(5) + "  spares: [n05]\n")
    api = Api(r)
    for n in ("n01", "n02", "n03", "n04"):
        assert api.post(f"/nodes/{n}/start").status_code == 200
    api.wait(lambda s: s["nodes"][3]["host_state"] == "running", "booted", BOOTED_WITHIN)
    for n in ("n01", "n02", "n03", "n04"):
        assert api.post(f"/nodes/{n}/resume").status_code == 200
    api.wait(lambda s: s["scale_unit"] == "running", "running", 10)
    n05 = api.status()["nodes"][4]
    assert (n05["name"], n05["status"], n05["vms"]) == ("n05", "not-a-member", 0)
    refused = api.post("/nodes/n05/drain")
    assert refused.status_code == 409
    assert refused.json()["error"] == "n05 is not in the scale unit: Add it first"

    # Its BMC cable out: the documented BMC error, nothing changed.
    r.call(lambda rack: rack.pull_cable("n05:bmc"))
    before = api.settled_state()
    failed = api.post("/nodes/n05/add")
    assert failed.status_code == 502
    address = r.topology.node("n05").bmc.address
    assert failed.json()["error"] == (
        f"The BMC IP address {address} did not respond to a general query in the expected time"
    )
    assert api.state() == before
    r.call(lambda rack: rack.plug_cable("n05:bmc"))

    added = api.post("/nodes/n05/add", {"bmc_address": str(address)})
    assert added.status_code == 200, added.text
    body = added.json()
    assert (body["status"], body["scale_unit"]) == ("adding", "expanding")
    assert "fabric.add.started" in [e["type"] for e in body["events"]]
    n05 = api.status()["nodes"][4]
    assert (n05["status"], n05["operation"]) == ("adding", "add")
    again = api.post("/nodes/n05/add")
    assert again.status_code == 409
    assert again.json()["error"] == "n05 is already in the scale unit (Adding)"
    busy = api.post("/nodes/n05/drain")
    assert busy.status_code == 409
    assert busy.json()["error"] == "n05 is Adding: wait for that operation to end"


def test_spares_must_be_rack_nodes_and_leave_four(tmp_path: Path) -> None:
    text = topology.generate(5, control_port=0)
    for extra, problem in (
        ("  spares: [n09]\n", "control.spares[0]: no node named 'n09'"),
        ("  spares: [n05, n05]\n", "control.spares[1]: spare node n05 is also used at"),
        ("  spares: [n04, n05]\n", "control.spares: the scale unit keeps at least 4 nodes, not 3"),
    ):
        with pytest.raises(topology.TopologyError) as err:
            topology.load_text(text + extra, "rack.yaml")
        assert any(problem in str(p) for p in err.value.problems), err.value.problems


def test_large_and_chunked_bodies_are_refused_before_they_are_read(api: Api) -> None:
    before = api.state()
    big = {"kind": "fan", "device": "n01", "part": "x" * (70 * 1024)}
    resp = api.post("/faults", big)
    assert resp.status_code == 413
    assert resp.json() == {"error": "the request body is over 65536 bytes"}

    def chunks() -> Iterator[bytes]:
        yield b'{"kind": "fan", '
        yield b'"device": "n01"}'

    resp = api.http.post("/faults", content=chunks(), headers={"Content-Type": "application/json"})
    assert resp.status_code == 411 and "Content-Length" in resp.json()["error"]
    assert api.state() == before


def test_events_after_a_restart_include_what_happened_before_it(tmp_path: Path) -> None:
    """GET /events (and 'scaleunit events') serve the state store's history after a restart,
    then this run's events, numbered on from it; --fresh starts the history over."""
    from click.testing import CliRunner

    from emulator.cli import main
    from emulator.harness import RackThread

    t = topology.load_text(rack_text(), "<test>")
    state = tmp_path / "state"
    with RackThread(t, speed=SPEED, state_dir=state) as rack:
        api = Api(rack)
        fault = api.post("/faults", {"kind": "fan", "device": "n02", "part": "Fan3"})
        assert fault.status_code == 201, fault.text
        fid = fault.json()["id"]
        before = api.get("/events", limit=1000).json()["events"]
        api.http.close()
    injected = [e for e in before if e["type"] == "fault.injected" and e["fault_id"] == fid]
    assert len(injected) == 1

    with RackThread(t, speed=SPEED, state_dir=state) as rack:
        api = Api(rack)
        resp = api.post("/faults", {"kind": "fan", "device": "n03", "part": "Fan1"})
        assert resp.status_code == 201, resp.text
        after = api.get("/events", limit=1000).json()
        api.http.close()
        seqs = [e["seq"] for e in after["events"]]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert after["last_seq"] == seqs[-1]
        old = [e for e in after["events"] if e["type"] == "fault.injected" and e["fault_id"] == fid]
        assert len(old) == 1
        assert {k: old[0][k] for k in ("device", "kind", "part", "at")} == {
            k: injected[0][k] for k in ("device", "kind", "part", "at")
        }
        new = [e for e in after["events"] if e["type"] == "fault.injected" and e["fault_id"] != fid]
        assert [e["device"] for e in new] == ["n03"] and new[0]["seq"] > old[0]["seq"]
        # A SEL record keeps its nested fields, as the live feed encodes them.
        sel = [e for e in after["events"] if e["type"] == "sel.added" and e["device"] == "n02"]
        assert any("Fan3" in str(e["record"].get("message", "")) for e in sel), sel[-3:]
        # The CLI shows it, through the control.json of the state directory.
        shown = CliRunner().invoke(main, ["events", "--state-dir", str(state), "--limit", "1000"])
        assert shown.exit_code == 0, shown.output
        assert "fault.injected" in shown.output and f"fault_id={fid}" in shown.output
        # Since a seq of the earlier run, a live stream replays from the kept history too.
        since = old[0]["seq"] - 1
        replay = api_stream_first(rack, since)
        assert replay["seq"] == old[0]["seq"] and replay["type"] == "fault.injected"

    with RackThread(t, speed=SPEED, state_dir=state, fresh=True) as rack:
        api = Api(rack)
        fresh = api.get("/events", limit=1000).json()["events"]
        api.http.close()
        assert not [e for e in fresh if e["type"] == "fault.injected"]


def api_stream_first(rack: RackThread, since: int) -> dict[str, Any]:
    """The first item of the NDJSON event stream after ``since``."""
    headers = {"Authorization": f"Bearer {rack.token}"}
    with httpx.stream(
        "GET",
        rack.control_url + "/events/stream",
        params={"since": since},
        headers=headers,
        timeout=10,
    ) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            if line.strip():
                item: dict[str, Any] = json.loads(line)
                return item
    pytest.fail("the stream ended without an item")

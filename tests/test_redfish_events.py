"""Redfish events against the running rack: a tiny HTTP receiver on 127.0.0.1 subscribes and gets
power events caused through Redfish and through ipmitool (cross-protocol), SEL entries, and
retried deliveries; an SSE stream read with httpx; bad subscriptions change nothing.

Every wait is bounded in time; the receiver and the BMCs are loopback addresses the test owns.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from nodes.power import HostState
from tests.test_redfish_clients import base_url, ipmitool, wait_model

if TYPE_CHECKING:
    from emulator.endpoints import Endpoint
    from emulator.harness import RackThread

pytestmark = [pytest.mark.tools, pytest.mark.timeout(180)]

SUBS = "/redfish/v1/EventService/Subscriptions"
POWERED_ON = "ResourceEvent.1.4.ResourcePoweredOn"


class Receiver:
    """An HTTP event receiver: records every POST; the first ``fail_first`` get a 503."""

    def __init__(self, fail_first: int = 0, always_fail: bool = False) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []  # (client address, body)
        self.attempts = 0
        self.fail_first = fail_first
        self.always_fail = always_fail
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(min(size, 1 << 20))
                with outer._lock:
                    outer.attempts += 1
                    fail = outer.always_fail or outer.attempts <= outer.fail_first
                    if not fail:
                        outer.posts.append((self.client_address[0], json.loads(body)))
                self.send_response(503 if fail else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r for _, body in self.posts for r in body["Events"]]

    def wait_for(
        self, cond: Callable[[dict[str, Any]], bool], timeout: float = 20.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self.records():
                if cond(r):
                    return r
            time.sleep(0.05)
        ids = [(r["MessageId"], r.get("OriginOfCondition")) for r in self.records()]
        raise AssertionError(f"no such event in {timeout} s; got {ids}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(**kw: Any) -> Receiver:
        r = Receiver(**kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def client(e: Endpoint) -> httpx.Client:
    return httpx.Client(
        base_url=base_url(e), verify=False, auth=(e.username, e.password), timeout=10
    )


def powered_on(system: str) -> Callable[[dict[str, Any]], bool]:
    return lambda r: (
        r["MessageId"] == POWERED_ON
        and r["OriginOfCondition"] == {"@odata.id": f"/redfish/v1/Systems/{system}"}
    )


def test_subscriber_sees_power_on_from_redfish_and_from_ipmitool(
    rack_factory: Callable[..., RackThread], receiver_factory: Callable[..., Receiver]
) -> None:
    rack = rack_factory(nodes=4)
    e = rack.endpoint("n02", "redfish")
    rx = receiver_factory()
    sel_rx = receiver_factory()
    with client(e) as c:
        r = c.post(
            SUBS,
            json={
                "Destination": rx.url,
                "Protocol": "Redfish",
                "Context": "rack-test",
                "RegistryPrefixes": ["ResourceEvent"],
                "OriginResources": [{"@odata.id": "/redfish/v1/Systems/n02"}],
            },
        )
        assert r.status_code == 201, r.text
        sub_uri = r.headers["Location"]
        assert c.get(sub_uri).json()["Destination"] == rx.url
        r = c.post(
            SUBS,
            json={"Destination": sel_rx.url, "Protocol": "Redfish", "ResourceTypes": ["LogEntry"]},
        )
        assert r.status_code == 201, r.text
        assert c.get(SUBS).json()["Members@odata.count"] == 2

        # Through Redfish.
        r = c.post("/redfish/v1/Systems/n02/Actions/ComputerSystem.Reset", json={"ResetType": "On"})
        assert r.status_code == 204, r.text
        rec = rx.wait_for(powered_on("n02"))
        assert rec["EventType"] == "Other" and rec["MessageSeverity"] == "OK"
        assert rec["Message"] == "The resource '/redfish/v1/Systems/n02' has powered on."
        body = next(b for _, b in rx.posts if rec in b["Events"])
        assert body["@odata.type"].startswith("#Event.v1_") and body["Context"] == "rack-test"
        # Pushed from the BMC's own address, as a real BMC would.
        assert {addr for addr, _ in rx.posts} == {e.address}

        # The SEL records of that boot reach the LogEntry subscriber, and only them.
        sel = sel_rx.wait_for(lambda r: r["MessageId"] == "ResourceEvent.1.4.ResourceCreated")
        entry = sel["OriginOfCondition"]["@odata.id"]
        assert entry.startswith("/redfish/v1/Managers/bmc/LogServices/SEL/Entries/")
        got = c.get(entry)
        assert got.status_code == 200 and sel["LogEntry"] == {"@odata.id": entry}
        assert all("/LogServices/SEL/Entries/" in r["OriginOfCondition"]["@odata.id"]
                   for r in sel_rx.records())  # fmt: skip

        wait_model(rack, "n02", lambda n: n.state is HostState.RUNNING)
        c.post(
            "/redfish/v1/Systems/n02/Actions/ComputerSystem.Reset", json={"ResetType": "ForceOff"}
        )
        rx.wait_for(lambda r: r["MessageId"] == "ResourceEvent.1.4.ResourcePoweredOff")
        before = sum(powered_on("n02")(r) for r in rx.records())

        # Through IPMI: the same subscription sees it.
        ipmitool(rack, "n02", "chassis", "power", "on")
        deadline = time.monotonic() + 20
        while sum(powered_on("n02")(r) for r in rx.records()) <= before:
            assert time.monotonic() < deadline, "no power-on event for the ipmitool power on"
            time.sleep(0.05)

        # Another node's power-on is not this BMC's business, nor this subscription's filter's.
        rack.call(lambda r: r.nodes["n03"].power_on())
        time.sleep(0.5)
        assert not any(powered_on("n03")(r) for r in rx.records())

        assert c.delete(sub_uri).status_code == 204
        assert c.get(sub_uri).status_code == 404
        assert c.get(SUBS).json()["Members@odata.count"] == 1


def test_delivery_retries_then_terminates(
    rack_factory: Callable[..., RackThread], receiver_factory: Callable[..., Receiver]
) -> None:
    rack = rack_factory(nodes=4)
    e = rack.endpoint("n01", "redfish")
    flaky = receiver_factory(fail_first=2)
    dead = receiver_factory(always_fail=True)
    with client(e) as c:
        r = c.patch(
            "/redfish/v1/EventService",
            json={"DeliveryRetryAttempts": 3, "DeliveryRetryIntervalSeconds": 5},
        )
        assert r.status_code == 200, r.text
        for url in (flaky.url, dead.url):
            r = c.post(SUBS, json={"Destination": url, "Protocol": "Redfish", "Context": url})
            assert r.status_code == 201, r.text
        dead_uri = f"{SUBS}/2"
        r = c.post(
            "/redfish/v1/EventService/Actions/EventService.SubmitTestEvent",
            json={"MessageId": "ResourceEvent.1.4.TestMessage", "EventId": "t-1"},
        )
        assert r.status_code == 204, r.text
        rec = flaky.wait_for(lambda r: r["EventId"] == "t-1")
        assert rec["MessageId"] == "ResourceEvent.1.4.TestMessage"
        assert flaky.attempts == 3  # two refusals, then delivered
        # The dead receiver is tried 1 + 3 times, then the subscription is removed.
        deadline = time.monotonic() + 20
        while c.get(dead_uri).status_code != 404:
            assert time.monotonic() < deadline, "the dead subscription was not terminated"
            time.sleep(0.1)
        assert dead.attempts == 4
        assert c.get(SUBS).json()["Members@odata.count"] == 1


def test_sse_stream_gets_a_power_event(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory(nodes=4)
    e = rack.endpoint("n04", "redfish")
    flt = f"MessageId eq '{POWERED_ON}' or MessageId eq 'ResourceEvent.ResourcePoweringOn'"
    with client(e) as c:
        assert c.get("/redfish/v1/EventService").json()["ServerSentEventUri"] == (
            "/redfish/v1/EventService/SSE"
        )
        timeout = httpx.Timeout(10.0, read=10.0)
        got: list[dict[str, Any]] = []
        with c.stream(
            "GET", "/redfish/v1/EventService/SSE", params={"$filter": flt}, timeout=timeout
        ) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines).startswith(":")  # the stream is open: now cause the event
            rack.call(lambda r: r.nodes["n04"].power_on())
            deadline = time.monotonic() + 20
            for line in lines:
                assert time.monotonic() < deadline
                if line.startswith("data: "):
                    got += json.loads(line[6:])["Events"]
                    if any(r["MessageId"] == POWERED_ON for r in got):
                        break
        ids = [r["MessageId"] for r in got]
        assert ids == ["ResourceEvent.1.4.ResourcePoweringOn", POWERED_ON], ids
        # The stream's end unregistered it.
        deadline = time.monotonic() + 5
        while rack.call(lambda r: len(rack.runtime._redfish_bmcs["n04"].events.listeners)):  # type: ignore[union-attr]
            assert time.monotonic() < deadline
            time.sleep(0.05)


@pytest.mark.parametrize(
    ("body", "message", "prop"),
    [
        ({"Destination": "ftp://10.0.0.1/x"}, "PropertyValueFormatError", "Destination"),
        ({"Destination": "not a uri"}, "PropertyValueFormatError", "Destination"),
        ({"Destination": "http://"}, "PropertyValueFormatError", "Destination"),
        ({"RegistryPrefixes": ["NoSuchRegistry"]}, "PropertyValueNotInList", "RegistryPrefixes/0"),
        ({"MessageIds": ["ResourceEvent.1.4.Nope"]}, "PropertyValueNotInList", "MessageIds/0"),
        ({"MessageIds": ["garbage"]}, "PropertyValueFormatError", "MessageIds/0"),
        ({"ResourceTypes": ["Toaster"]}, "PropertyValueNotInList", "ResourceTypes/0"),
        ({"OriginResources": [{"@odata.id": "Systems/n01"}]}, "PropertyValueFormatError",
         "OriginResources/0"),
        ({"Protocol": "SNMPv2c"}, "PropertyValueNotInList", "Protocol"),
        ({"Colour": "blue"}, "PropertyUnknown", "Colour"),
        ({"Destination": 42}, "PropertyValueTypeError", "Destination"),
    ],
)  # fmt: skip
def test_bad_subscriptions_are_refused_and_change_nothing(
    rack_factory: Callable[..., RackThread], body: dict[str, Any], message: str, prop: str
) -> None:
    rack = rack_factory(nodes=4)
    e = rack.endpoint("n01", "redfish")
    request = {"Destination": "http://127.0.0.1:9/events", "Protocol": "Redfish", **body}
    with client(e) as c:
        r = c.post(SUBS, json=request)
        assert r.status_code == 400, r.text
        info = r.json()["error"]["@Message.ExtendedInfo"]
        assert [m["MessageId"] for m in info] == [f"Base.1.22.{message}"], info
        assert info[0]["RelatedProperties"] == [f"#/{prop}"]
        assert c.get(SUBS).json()["Members@odata.count"] == 0


def test_bad_sse_filter_and_test_event(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory(nodes=4)
    e = rack.endpoint("n01", "redfish")
    with client(e) as c:
        for flt in ("Colour eq 'blue'", "MessageId ne 'x'", "MessageId eq x", "(" * 2000):
            r = c.get("/redfish/v1/EventService/SSE", params={"$filter": flt})
            assert r.status_code == 400, (flt, r.text)
            assert r.json()["error"]["code"] == "Base.1.22.QueryParameterValueFormatError"
        action = "/redfish/v1/EventService/Actions/EventService.SubmitTestEvent"
        r = c.post(action, json={"MessageId": "ResourceEvent.1.4.NoSuchMessage"})
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "Base.1.22.ActionParameterValueNotInList"
        r = c.patch("/redfish/v1/EventService", json={"DeliveryRetryAttempts": 99})
        assert r.status_code == 400
        assert c.get("/redfish/v1/EventService").json()["DeliveryRetryAttempts"] == 3

"""The Redfish front touches the model only from the rack's loop thread (STYLE: "One loop, many
devices"): every route and dependency is a coroutine, so FastAPI never hands one to its thread
pool, and what a PATCH or an action changes is emitted on the loop's thread. And the loop answers
a kept-alive connection at once (TCP_NODELAY), also the plain asyncio loop the tests use."""

from __future__ import annotations

import inspect
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from bmc.redfish.app import ROUTER_MODULES
from bmc.redfish.server import bind
from bmc.redfish.service import BmcService, Principal
from nodes.events import Event

if TYPE_CHECKING:
    from emulator.harness import RackThread

pytestmark = pytest.mark.timeout(120)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def test_every_route_and_dependency_is_a_coroutine() -> None:
    routes = [r for m in ROUTER_MODULES for r in m.router.routes if isinstance(r, APIRoute)]
    assert len(routes) > 50
    sync = {
        f"{r.path} {sorted(r.methods or ())}: {getattr(c, '__qualname__', c)}"
        for r in routes
        for c in _calls(r.dependant)
        if not inspect.iscoroutinefunction(c)
    }
    assert not sync, "sync routes or dependencies run in FastAPI's thread pool"


def test_requests_run_on_the_loop_thread(
    rack_factory: Callable[..., RackThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    rack = rack_factory(nodes=4, redfish_tls=False)
    loop_thread = rack.call(lambda r: threading.get_ident())
    emitted_on: set[int] = set()

    def sink(_: Event) -> None:
        emitted_on.add(threading.get_ident())

    rack.call(lambda r: r.bus.subscribe(sink))
    to_thread: list[Any] = []
    real_run_sync = anyio.to_thread.run_sync

    async def run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        to_thread.append(func)
        return await real_run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", run_sync)
    logins: list[str] = []
    real_login = BmcService.login

    def login(self: BmcService, username: str, password: str) -> Principal:
        logins.append(username)
        return real_login(self, username, password)

    monkeypatch.setattr(BmcService, "login", login)

    e = rack.endpoint("n01", "redfish")
    system = "/redfish/v1/Systems/n01"
    with httpx.Client(
        base_url=f"http://{e.address}:{e.port}", auth=(e.username, e.password), timeout=10
    ) as api:
        assert api.get(system).status_code == 200
        boot = {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}
        assert api.patch(system, json={"Boot": boot}).status_code == 200
        reset = f"{system}/Actions/ComputerSystem.Reset"
        assert api.post(reset, json={"ResetType": "On"}).status_code == 204
        assert api.patch("/redfish/v1/Chassis/n01", json={"LocationIndicatorActive": True})
        login = {"UserName": e.username, "Password": e.password}
        r = api.post("/redfish/v1/SessionService/Sessions", json=login)
        assert r.status_code == 201
        assert api.delete(r.headers["Location"]).status_code == 204
        assert api.get("/redfish/v1/Managers/bmc/LogServices/SEL/Entries").status_code == 200
        logins.clear()
        expanded = api.get("/redfish/v1/Systems", params={"$expand": "."})
        assert expanded.json()["Members"][0]["Id"] == "n01"
        assert logins == [e.username]  # the request and its sub-requests: one login
        start = time.perf_counter()
        for _ in range(20):  # one kept-alive connection: Nagle + delayed ACK would be ~40 ms each
            assert api.get(system).status_code == 200
        assert time.perf_counter() - start < 0.4

    assert emitted_on == {loop_thread}
    assert not to_thread, f"ran in a worker thread: {to_thread}"


def test_connections_are_accepted_with_nodelay() -> None:
    listener = bind("127.0.0.1", 0)
    with listener, socket.create_connection(listener.getsockname(), timeout=5):
        listener.setblocking(True)
        conn, _ = listener.accept()
        with conn:
            assert conn.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY on these
            assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)

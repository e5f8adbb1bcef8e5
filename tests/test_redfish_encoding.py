"""Responses are serialised by pydantic (``model_dump_json``) yet are the exact bytes
``json.dumps(..., separators=(",", ":"), ensure_ascii=False)`` would write: a crawl of a live
BMC re-encodes every JSON body it finds and compares."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from bmc.redfish.app import ROUTER_MODULES
from bmc.redfish.schemas.common import Wire

if TYPE_CHECKING:
    from emulator.harness import RackThread

pytestmark = pytest.mark.timeout(120)


def _subclasses(cls: type[Wire]) -> Iterator[type[Wire]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_odata_fields_are_named_for_reply() -> None:
    """reply() reads @odata.type and @odata.id from the fields named odata_type and odata_id."""
    assert ROUTER_MODULES  # the routers import every schema class
    for cls in _subclasses(Wire):
        for name, f in cls.model_fields.items():
            alias = f.serialization_alias
            if name in ("odata_type", "odata_id") or alias in ("@odata.type", "@odata.id"):
                assert alias == "@" + name.replace("_", "."), (cls, name, alias)


def _links(doc: Any) -> Iterator[str]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == "@odata.id" and isinstance(v, str):
                yield v
            else:
                yield from _links(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _links(v)


def crawl(api: httpx.Client, limit: int) -> Iterator[tuple[str, httpx.Response]]:
    """Every JSON resource reachable from the root by ``@odata.id`` links (at most ``limit``
    GETs): (URI, response)."""
    seen: set[str] = set()
    todo = ["/redfish/v1/"]
    while todo and len(seen) < limit:
        uri = todo.pop()
        if uri in seen or "#" in uri or not uri.startswith("/redfish/v1"):
            continue
        seen.add(uri)
        r = api.get(uri)
        if r.status_code != 200 or not r.headers["content-type"].startswith("application/json"):
            continue
        yield uri, r
        todo += _links(r.json())


def test_every_body_is_compact_json_byte_for_byte(
    rack_factory: Callable[..., RackThread],
) -> None:
    rack = rack_factory(nodes=4, redfish_tls=False)
    rack.call(lambda r: r.nodes["n01"].power_on())
    e = rack.endpoint("n01", "redfish")
    with httpx.Client(
        base_url=f"http://{e.address}:{e.port}", auth=(e.username, e.password), timeout=10
    ) as api:
        seen = 0
        for uri, r in crawl(api, 400):
            doc = r.json()
            again = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
            assert r.content == again, uri
            seen += 1
    assert seen > 60

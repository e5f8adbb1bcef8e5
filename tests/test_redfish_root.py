"""The ServiceRoot links every service the tree has, each by the property DSP8010's ServiceRoot
defines for its type (the task service is ``Tasks``: the schema has no ``TaskService``
property), and real clients discover the services from it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi.routing import APIRoute

from bmc.redfish.app import build_fastapi
from bmc.redfish.registries import load
from tests.test_redfish_clients import base_url, sushy_root
from tests.test_redfish_validator import SCHEMAS

if TYPE_CHECKING:
    from emulator.harness import RackThread

pytestmark = pytest.mark.timeout(120)

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
#: OData documents, not services.
DOCUMENTS = {"/redfish/v1/$metadata", "/redfish/v1/odata"}


def _root_properties() -> dict[str, str]:
    """ServiceRoot's navigation properties: the entity type each links to -> its name."""
    root = ET.parse(SCHEMAS / "ServiceRoot_v1.xml").getroot()
    out: dict[str, str] = {}
    for entity in root.iter(f"{EDM}EntityType"):
        if entity.get("Name") != "ServiceRoot":
            continue
        for nav in entity.iter(f"{EDM}NavigationProperty"):
            target = nav.get("Type", "").split(".")[-1]
            out.setdefault(target, nav.get("Name", ""))
    return out


def _top_level() -> list[str]:
    app = build_fastapi(load())
    paths = {r.path for r in app.routes if isinstance(r, APIRoute)}
    return sorted(p for p in paths if re.fullmatch(r"/redfish/v1/[^/{}]+", p))


def test_root_links_every_service(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory(nodes=4)
    e = rack.endpoint("n01", "redfish")
    properties = _root_properties()
    assert properties["TaskService"] == "Tasks"
    services = [p for p in _top_level() if p not in DOCUMENTS]
    assert "/redfish/v1/TaskService" in services and len(services) >= 9
    with httpx.Client(base_url=base_url(e), auth=(e.username, e.password), verify=False,
                      timeout=10) as c:  # fmt: skip
        root = c.get("/redfish/v1/").json()
        for path in services:
            doc = c.get(path).json()
            kind = doc["@odata.type"].lstrip("#").split(".")[-1]  # ChassisCollection, ...
            name = properties.get(kind)
            assert name is not None, f"ServiceRoot has no property for {kind} ({path})"
            assert root.get(name) == {"@odata.id": path}, (name, path, root.get(name))
        # Every link of the root leads somewhere.
        for value in root.values():
            if isinstance(value, dict) and set(value) == {"@odata.id"}:
                assert c.get(value["@odata.id"]).status_code == 200, value
    with sushy_root(e) as client:  # a real client finds the task service from the root
        assert client.get_task_service().path == "/redfish/v1/TaskService"

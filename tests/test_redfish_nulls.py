"""Properties the Redfish schema makes nullable are sent as ``null`` when there is no value,
never dropped: a client (and an interoperability profile) finds the property and reads "no value
now". The audit crawls the whole tree and checks every property the service knows (its pydantic
shape has the field) against the DMTF CSDL in ``../shared/redfish-schemas/csdl``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from bmc.redfish.schemas.common import Resource, pascal
from nodes.power import HostState
from tests.test_redfish_clients import base_url
from tests.test_redfish_encoding import crawl
from tests.test_redfish_validator import SCHEMAS as CSDL

if TYPE_CHECKING:
    from emulator.harness import RackThread

pytestmark = pytest.mark.timeout(180)

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
#: The most resources the crawl reads (the default rack has a few hundred).
MAX_GETS = 2000


@cache
def nullable(type_name: str) -> frozenset[str]:
    """Properties of entity type ``type_name`` the CSDL lets be null (OData's default is
    nullable; Redfish says ``Nullable="false"`` where not), over every version namespace."""
    path = CSDL / f"{type_name}_v1.xml"
    if not path.exists():
        return frozenset()
    out: set[str] = set()
    for entity in ET.parse(path).getroot().iter(f"{EDM}EntityType"):
        if entity.get("Name") != type_name:
            continue
        for prop in entity.findall(f"{EDM}Property"):
            if prop.get("Nullable", "true") == "true":
                out.add(prop.get("Name", ""))
    return frozenset(out)


def _shapes() -> dict[str, type[Resource]]:
    """``#Type.vX.Type`` -> the pydantic shape that serves it."""
    out: dict[str, type[Resource]] = {}
    todo: list[type[Any]] = [Resource]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        default = cls.model_fields["odata_type"].default
        if isinstance(default, str) and default.startswith("#"):
            out[default] = cls
    return out


@pytest.fixture
def api(rack_factory: Callable[..., RackThread]) -> Iterator[tuple[RackThread, httpx.Client]]:
    rack = rack_factory(nodes=4)
    e = rack.endpoint("n01", "redfish")
    with httpx.Client(base_url=base_url(e), auth=(e.username, e.password), verify=False,
                      timeout=10) as c:  # fmt: skip
        yield rack, c


def test_schemas_are_found() -> None:
    assert CSDL.is_dir(), CSDL
    assert "Reading" in nullable("Sensor") and "Image" in nullable("VirtualMedia")
    assert "Id" not in nullable("Sensor")


def test_sensors_without_power_read_null(api: tuple[RackThread, httpx.Client]) -> None:
    rack, c = api
    assert rack.call(lambda r: r.nodes["n01"].state) is HostState.OFF
    cpu = c.get("/redfish/v1/Chassis/n01/Sensors/Cpu1Temp").json()
    assert "Reading" in cpu and cpu["Reading"] is None
    assert cpu["Status"]["State"] == "UnavailableOffline"
    inlet = c.get("/redfish/v1/Chassis/n01/Sensors/InletTemp").json()  # on standby power
    assert isinstance(inlet["Reading"], (int, float))
    assert inlet["Status"] == {"State": "Enabled", "Health": "OK"}
    media = c.get("/redfish/v1/Managers/bmc/VirtualMedia/CD").json()
    assert media["Inserted"] is False
    assert "Image" in media and media["Image"] is None


def test_no_nullable_property_is_dropped(api: tuple[RackThread, httpx.Client]) -> None:
    _, c = api
    shapes = _shapes()
    missing: list[str] = []
    checked = 0
    for uri, r in crawl(c, MAX_GETS):
        doc = r.json()
        shape = shapes.get(doc.get("@odata.type", ""))
        if shape is None:
            continue
        type_name = doc["@odata.type"].lstrip("#").split(".")[0]
        checked += 1
        for name, f in shape.model_fields.items():
            alias = f.serialization_alias or pascal(name)
            if alias in nullable(type_name) and alias not in doc:
                missing.append(f"{uri}: {alias}")
    assert checked > 50, checked
    assert not missing, missing

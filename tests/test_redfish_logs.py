"""Every LogEntry of every LogService names its message in a registry the service publishes,
read with DMTF's own tools: the python-redfish-library client and Redfish-Tacklebox's
``redfish_utilities`` log helpers (which read ``MessageId`` unconditionally, as many clients do).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import redfish
import redfish_utilities
from redfish_utilities.logs import log_container

from nodes.power import HostState
from nodes.sel import EventType, SelEntryInput, SensorType
from tests.test_redfish_clients import base_url, wait_model

if TYPE_CHECKING:
    from emulator.harness import RackThread

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def client(rack_factory: Callable[..., RackThread]) -> Iterator[tuple[RackThread, Any]]:
    rack = rack_factory(nodes=4)
    e = rack.endpoint("n01", "redfish")
    c = redfish.redfish_client(
        base_url=base_url(e), username=e.username, password=e.password, timeout=10
    )
    c.login(auth="session")
    try:
        yield rack, c
    finally:
        c.logout()


def _fill_sel(rack: RackThread) -> None:
    """Records of every kind the SEL holds: decoded ones from a boot, an undecoded standard one
    (as IPMI Add SEL Entry logs), a deassertion and an OEM record."""

    def add(r: Any) -> None:
        sel = r.nodes["n01"].sel
        sel.add(SelEntryInput(sensor_type=SensorType.TEMPERATURE, sensor_number=0x31,
                              offset=0x09, event_type=EventType.THRESHOLD))  # fmt: skip
        sel.add(SelEntryInput(sensor_type=SensorType.FAN, sensor_number=0x40, offset=0x01,
                              asserted=False, message="Fan1 lower critical"))  # fmt: skip
        sel.add(SelEntryInput(sensor_type=0, sensor_number=0, offset=0, record_type=0xC1,
                              oem=bytes(range(13))))  # fmt: skip

    rack.call(add)


def _registry(c: Any, prefix: str) -> dict[str, Any]:
    """The message registry the service publishes under /redfish/v1/Registries for ``prefix``."""
    files = c.get("/redfish/v1/Registries").dict["Members"]
    uris = [m["@odata.id"] for m in files]
    assert f"/redfish/v1/Registries/{prefix}" in uris, (prefix, uris)
    location = c.get(f"/redfish/v1/Registries/{prefix}").dict["Location"][0]
    registry: dict[str, Any] = c.get(location["Uri"]).dict
    assert registry["RegistryPrefix"] == prefix
    return registry


def test_every_log_entry_has_a_published_message_id(
    client: tuple[RackThread, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    rack, c = client
    r = c.post("/redfish/v1/Systems/n01/Actions/ComputerSystem.Reset", body={"ResetType": "On"})
    assert r.status == 204
    wait_model(rack, "n01", lambda n: n.state is HostState.RUNNING)
    _fill_sel(rack)

    seen = 0
    for container in log_container:
        collection = c.get(f"/redfish/v1/{container.value}")
        for member in collection.dict.get("Members", []):
            container_id = member["@odata.id"].rsplit("/", 1)[-1]
            resource = c.get(member["@odata.id"]).dict
            if "LogServices" not in resource:
                continue
            _, ids = redfish_utilities.get_log_service_ids(c, container, container_id)
            for log_id in ids:
                entries = redfish_utilities.get_log_entries(
                    c, container, container_id, log_service_id=log_id
                )
                redfish_utilities.print_log_entries(entries, details=True)
                for entry in entries:
                    _check_entry(c, entry)
                seen += len(entries)
    out = capsys.readouterr().out
    assert seen >= 6, seen
    # The tool printed each entry with its message: the decoded ones and the undecoded ones.
    assert "System Boot Initiated" in out
    assert re.search(r"Sensor 0x31 of type 0x01 logged event offset 9 \(Assert\)", out), out
    assert "OEM record of type 0xC1 with data 000102030405060708090A0B0C." in out


_registries: dict[str, dict[str, Any]] = {}


def _check_entry(c: Any, entry: dict[str, Any]) -> None:
    prefix, version, key = re.fullmatch(r"(\w+)\.(\d+\.\d+)\.(\w+)", entry["MessageId"]).groups()  # type: ignore[union-attr]
    if prefix not in _registries:
        _registries[prefix] = _registry(c, prefix)
    registry = _registries[prefix]
    assert registry["RegistryVersion"].startswith(version + ".")
    message = registry["Messages"][key]
    args = entry.get("MessageArgs", [])
    assert len(args) == message["NumberOfArgs"], entry
    text = message["Message"]
    for i, arg in enumerate(args, start=1):
        text = text.replace(f"%{i}", arg)
    assert entry["Message"] == text
    if message["NumberOfArgs"] == 0:
        assert "MessageArgs" not in entry

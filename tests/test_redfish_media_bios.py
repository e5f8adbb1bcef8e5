"""Virtual media and BIOS settings through real clients against the running rack: sushy inserts
an image and boots the node from it (the SEL says CD-ROM boot, ipmitool sees it too), BIOS
pending settings apply only at the next host reset, bad input is refused and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import redfish
import sushy

from nodes.power import HostState
from tests.test_redfish_clients import base_url, ipmitool, wait_model

if TYPE_CHECKING:
    from emulator.endpoints import Endpoint
    from emulator.harness import RackThread

pytestmark = [pytest.mark.tools, pytest.mark.timeout(180)]

ISO = "http://127.0.0.1:8080/images/installer.iso"


def basic_sushy(e: Endpoint) -> sushy.Sushy:
    """sushy with Basic auth: no session for its finalizer to log out of a rack that has gone
    (a Session-auth finalizer retries for a long time, on whichever thread the GC runs it)."""
    auth = sushy.auth.BasicAuth(username=e.username, password=e.password)
    return sushy.Sushy(base_url(e), auth=auth, verify=False)


def test_sushy_virtual_media_boot(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory(nodes=4)
    e = rack.endpoint("n02", "redfish")
    root = basic_sushy(e)
    manager = root.get_manager("/redfish/v1/Managers/bmc")
    media = {m.identity: m for m in manager.virtual_media.get_members()}
    assert set(media) == {"CD", "USB"}
    cd = media["CD"]
    assert sushy.VirtualMediaType.CD in cd.media_types and not cd.inserted

    cd.insert_media(ISO, inserted=True, write_protected=True)
    cd.refresh()
    assert cd.inserted and cd.image == ISO and cd.image_name == "installer.iso"
    slot = rack.call(lambda r: r.nodes["n02"].media.slot("CD"))
    assert slot.visible and slot.image == ISO
    # The same drive through the system (sushy's system.virtual_media).
    system = root.get_system("/redfish/v1/Systems/n02")
    sys_cd = next(m for m in system.virtual_media.get_members() if m.identity == "CD")
    assert sys_cd.image == ISO

    system.set_system_boot_options(
        sushy.BootSource.CD, enabled=sushy.BootSourceOverrideEnabled.ONCE
    )
    system.reset_system(sushy.ResetType.ON)
    wait_model(rack, "n02", lambda n: n.state is HostState.RUNNING)
    assert rack.call(
        lambda r: (r.nodes["n02"].last_boot_device, r.nodes["n02"].last_boot_image)
    ) == (
        "cdrom",
        ISO,
    )
    # The SEL's OS Boot record says CD-ROM boot, in Redfish and in ipmitool.
    with httpx.Client(verify=False, auth=(e.username, e.password), timeout=10) as c:
        entries = c.get(f"{base_url(e)}/redfish/v1/Managers/bmc/LogServices/SEL/Entries").json()
        last = c.get(base_url(e) + entries["Members"][-1]["@odata.id"]).json()
    assert "OS boot completed (cdrom, virtual media " + ISO in last["Message"]
    assert "CD-ROM boot completed" in ipmitool(rack, "n02", "sel", "elist")
    system.refresh()
    assert system.boot.enabled == sushy.BootSourceOverrideEnabled.DISABLED

    cd.eject_media()
    cd.refresh()
    assert not cd.inserted and cd.image is None
    assert not rack.call(lambda r: r.nodes["n02"].media.slot("CD").attached)


def test_virtual_media_bad_input(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory(nodes=4)
    e = rack.endpoint("n01", "redfish")
    cd = "/redfish/v1/Managers/bmc/VirtualMedia/CD"
    insert = f"{cd}/Actions/VirtualMedia.InsertMedia"
    with httpx.Client(
        base_url=base_url(e), verify=False, auth=(e.username, e.password), timeout=10
    ) as c:
        for body, code in [
            ({"Image": "gopher://x/y.iso"}, "ActionParameterValueFormatError"),
            ({"Image": "http://h/dir/"}, "ActionParameterValueFormatError"),
            ({"Image": ISO, "TransferProtocolType": "NFS"}, "ActionParameterValueConflict"),
            ({"Image": ISO, "TransferProtocolType": "Pigeon"}, "ActionParameterValueNotInList"),
            ({"Image": ISO, "Colour": "red"}, "ActionParameterUnknown"),
            ({"Inserted": True}, "ActionParameterMissing"),
        ]:
            r = c.post(insert, json=body)
            assert r.status_code == 400, (body, r.text)
            assert r.json()["error"]["@Message.ExtendedInfo"][0]["MessageId"].endswith(code), body
        assert not rack.call(lambda r: r.nodes["n01"].media.slot("CD").attached)
        assert c.post(insert, json={"Image": ISO}).status_code == 204
        r = c.post(insert, json={"Image": "http://127.0.0.1/other.iso"})
        assert (
            r.status_code == 409
            and rack.call(lambda r: r.nodes["n01"].media.slot("CD").image) == ISO
        )
        r = c.patch(cd, json={"WriteProtected": False})
        assert r.status_code == 200 and r.json()["WriteProtected"] is False
        r = c.patch(cd, json={"Image": None})
        assert r.status_code == 200 and r.json()["Inserted"] is False
        r = c.patch(cd, json={"Inserted": True})
        assert r.status_code == 400
        assert c.get("/redfish/v1/Managers/bmc/VirtualMedia/FLOPPY").status_code == 404


def test_bios_pending_settings_apply_at_the_next_reset(
    rack_factory: Callable[..., RackThread],
) -> None:
    rack = rack_factory(nodes=4)
    e = rack.endpoint("n03", "redfish")
    root = basic_sushy(e)
    system = root.get_system("/redfish/v1/Systems/n03")
    bios = system.bios
    assert bios.attributes["ProcVirtualization"] == "Enabled"
    bios.set_attributes({"ProcVirtualization": "Disabled", "AcPwrRcvryUserDelay": 90})
    bios.refresh()
    assert bios.pending_attributes == {"ProcVirtualization": "Disabled", "AcPwrRcvryUserDelay": 90}
    assert bios.attributes["ProcVirtualization"] == "Enabled"  # not before a reset

    system.reset_system(sushy.ResetType.ON)  # power on from off: POST applies them
    wait_model(rack, "n03", lambda n: n.state is HostState.RUNNING)
    bios.refresh()
    assert bios.attributes["ProcVirtualization"] == "Disabled"
    assert bios.attributes["AcPwrRcvryUserDelay"] == 90
    bios.refresh()
    assert bios.pending_attributes == {}

    # ResetBios stages the defaults; they apply at the next reset, not before.
    bios.reset_bios()
    assert rack.call(lambda r: r.nodes["n03"].bios.current["ProcVirtualization"]) == "Disabled"
    system.reset_system(sushy.ResetType.FORCE_RESTART)
    wait_model(rack, "n03", lambda n: n.bios.current["ProcVirtualization"] == "Enabled")
    assert rack.call(lambda r: r.nodes["n03"].bios.pending) == {}


@pytest.mark.parametrize(
    ("attributes", "message", "prop"),
    [
        ({"NoSuchKnob": "On"}, "PropertyUnknown", "Attributes/NoSuchKnob"),
        ({"SysProfile": "Ludicrous"}, "PropertyValueNotInList", "Attributes/SysProfile"),
        ({"AcPwrRcvryUserDelay": 5}, "PropertyValueOutOfRange", "Attributes/AcPwrRcvryUserDelay"),
        ({"NumLock": True}, "PropertyValueTypeError", "Attributes/NumLock"),
        ({"SystemServiceTag": "X"}, "PropertyNotWritable", "Attributes/SystemServiceTag"),
    ],
)
def test_bios_bad_settings_change_nothing(
    rack_factory: Callable[..., RackThread], attributes: dict[str, Any], message: str, prop: str
) -> None:
    rack = rack_factory(nodes=4)
    e = rack.endpoint("n01", "redfish")
    client = redfish.redfish_client(
        base_url=base_url(e), username=e.username, password=e.password, timeout=10, max_retry=1
    )
    client.login(auth="basic")
    try:
        before = rack.call(lambda r: r.nodes["n01"].bios.current)
        body = {"Attributes": {"ProcTurboMode": "Disabled", **attributes}}
        r = client.patch("/redfish/v1/Systems/n01/Bios/Settings", body=body)
        assert r.status == 400, r.text
        info = r.dict["error"]["@Message.ExtendedInfo"]
        assert [m["MessageId"] for m in info] == [f"Base.1.22.{message}"]
        assert info[0]["RelatedProperties"] == [f"#/{prop}"]
        assert client.get("/redfish/v1/Systems/n01/Bios/Settings").dict["Attributes"] == {}
        assert rack.call(lambda r: r.nodes["n01"].bios.current) == before
    finally:
        client.logout()

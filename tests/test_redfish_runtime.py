"""How the runtime serves Redfish: one certificate in the state directory whose SANs cover every
BMC (a client can verify it), kept across restarts; plain HTTP when ``redfish_tls`` is false;
a ``redfish`` endpoint per node."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from cryptography import x509

from bmc.redfish.tls import CERT_FILE, ensure_certificate
from emulator import topology
from emulator.endpoints import plan_endpoints

if TYPE_CHECKING:
    from emulator.harness import RackThread


def test_a_verified_https_client_reaches_every_bmc(
    rack_factory: Callable[..., RackThread],
) -> None:
    rack = rack_factory(nodes=4)
    cert = rack.runtime.state_dir / CERT_FILE
    context = ssl.create_default_context(cafile=str(cert))
    for e in (x for x in rack.endpoints if x.protocol == "redfish"):
        assert e.scheme == "https"
        r = httpx.get(f"https://{e.address}:{e.port}/redfish/v1/", verify=context, timeout=10)
        assert r.status_code == 200
        assert r.json()["Systems"] == {"@odata.id": "/redfish/v1/Systems"}


def test_certificate_is_kept_and_renewed_for_new_addresses(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path, ["127.0.1.3", "127.0.1.4"])
    pem = first[0].read_bytes()
    assert ensure_certificate(tmp_path, ["127.0.1.4"])[0].read_bytes() == pem  # kept
    assert first[1].stat().st_mode & 0o077 == 0  # the key is private
    ensure_certificate(tmp_path, ["127.0.1.3", "127.0.1.9"])  # a new BMC: a new certificate
    cert = x509.load_pem_x509_certificate(first[0].read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(a) for a in san.get_values_for_type(x509.IPAddress)} == {
        "127.0.1.3",
        "127.0.1.9",
    }


def test_plain_http_when_tls_is_off(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory(nodes=4, redfish_tls=False)
    e = rack.endpoint("n02", "redfish")
    assert e.scheme == "http"
    r = httpx.get(f"http://{e.address}:{e.port}/redfish/v1/Managers/bmc/NetworkProtocol",
                  auth=(e.username, e.password), timeout=10)  # fmt: skip
    assert r.status_code == 200
    body = r.json()
    assert body["HTTP"] == {"ProtocolEnabled": True, "Port": e.port}
    assert body["HTTPS"] == {"ProtocolEnabled": False}
    assert body["IPMI"]["Port"] == rack.endpoint("n02", "ipmi").port
    assert not (rack.runtime.state_dir / CERT_FILE).exists()


def test_endpoints_plan_a_redfish_row_per_node() -> None:
    t = topology.default(4)
    rows = [e for e in plan_endpoints(t) if e.protocol == "redfish"]
    assert [e.device for e in rows] == ["n01", "n02", "n03", "n04"]
    assert all(e.scheme == "https" and e.port in (443, 8443) for e in rows)
    text = topology.generate(4, redfish_port=10443, redfish_tls=False)
    rows = [e for e in plan_endpoints(topology.load_text(text)) if e.protocol == "redfish"]
    assert {(e.port, e.scheme) for e in rows} == {(10443, "http")}

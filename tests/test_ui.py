"""The web rack view (/ui) in a real browser: headless Chromium from Debian, driven by selenium.

The page draws the rack from /ui/rack and redraws it on every event of its stream; these tests
change the rack through the control plane (as a trainer or a script would) and look at what
the page shows. A screenshot after a fault goes to the test artifacts
(``$SCALEUNIT_ARTIFACTS``, default ``test-artifacts/`` in the repository).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.support.ui import WebDriverWait

from emulator.harness import RackThread
from tests.browser_helpers import attr as _attr
from tests.browser_helpers import browser_fixture  # noqa: F401  (the browser fixture)

ARTIFACTS = Path(
    os.environ.get("SCALEUNIT_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts")
)
#: How long a test waits for the page at most (a loaded CI machine); the page's own delay from
#: an event's arrival to the redraw showing it is checked against one second separately.
WAIT_S = 10.0


@pytest.fixture
def rack(rack_factory: Callable[..., RackThread]) -> RackThread:
    return rack_factory(speed=50.0, power_on=True)


def _api(rack: RackThread, method: str, path: str, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {rack.token}"}
    return httpx.request(method, rack.control_url + path, headers=headers, timeout=10, **kw)


def _wait_attr(driver: webdriver.Chrome, element_id: str, name: str, want: str) -> None:
    WebDriverWait(driver, WAIT_S, poll_frequency=0.05).until(
        lambda d: _attr(d, element_id, name) == want,
        message=f"#{element_id} [{name}] never became {want!r}",
    )


def _open(driver: webdriver.Chrome, rack: RackThread) -> None:
    driver.delete_all_cookies()
    driver.get(f"{rack.control_url}/ui?token={rack.token}")
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_element("id", "stream").get_attribute("data-state") == "live"
    )


def _settled(driver: webdriver.Chrome, rack: RackThread) -> None:
    """Wait until the page has drawn every event the rack has had so far."""
    last = _api(rack, "GET", "/events?limit=1").json()["last_seq"]
    WebDriverWait(driver, WAIT_S, poll_frequency=0.05).until(
        lambda d: (
            int(d.find_element("tag name", "body").get_attribute("data-drawn-seq") or 0) >= last
        )
    )


def _wait_running(rack: RackThread) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = _api(rack, "GET", "/status").json()
        if all(n["status"] == "running" for n in status["nodes"]):
            return
        time.sleep(0.2)
    raise AssertionError(f"the nodes never ran: {status['nodes']}")


# -- access ------------------------------------------------------------------------------------
def test_without_the_token_the_page_and_its_stream_refuse(rack: RackThread) -> None:
    url = rack.control_url
    for path in ("/ui", "/ui/rack", "/ui/events", "/events/stream"):
        r = httpx.get(url + path, timeout=10)
        assert r.status_code == 401, (path, r.status_code)
    assert httpx.get(url + "/ui?token=not-the-token", timeout=10).status_code == 401
    # A forged cookie is no session.
    r = httpx.get(url + "/ui/rack", cookies={"scaleunit_ui": "0" * 64}, timeout=10)
    assert r.status_code == 401


def test_the_token_opens_a_strict_httponly_session(rack: RackThread) -> None:
    r = httpx.get(f"{rack.control_url}/ui?token={rack.token}", timeout=10)
    assert r.status_code == 303 and r.headers["location"] == "/ui"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert rack.token not in cookie, "the cookie must not carry the token itself"
    with httpx.Client(base_url=rack.control_url, timeout=10) as client:
        client.cookies.set("scaleunit_ui", r.cookies["scaleunit_ui"])
        assert client.get("/ui").status_code == 200
        view = client.get("/ui/rack").json()
        assert [n["name"] for n in view["nodes"]] == ["n01", "n02", "n03", "n04"]
        # A write with the cookie alone (what a cross-site form could send) is refused and
        # changes nothing; with the page's header it goes through.
        body = {"kind": "fan", "device": "n02"}
        assert client.post("/faults", json=body).status_code == 401
        assert _api(rack, "GET", "/faults").json() == []
        ok = client.post("/faults", json=body, headers={"X-Scaleunit-UI": "1"})
        assert ok.status_code == 201, ok.text


# -- the page ----------------------------------------------------------------------------------
def test_the_page_draws_the_rack(browser: webdriver.Chrome, rack: RackThread) -> None:
    _open(browser, rack)
    _wait_running(rack)
    _settled(browser, rack)
    nodes = browser.find_elements("css selector", "#rack g[id^='node-']")
    switches = browser.find_elements("css selector", "#rack g[id^='switch-']")
    assert [n.get_attribute("id") for n in nodes] == [
        "node-n01",
        "node-n02",
        "node-n03",
        "node-n04",
    ]
    assert [s.get_attribute("id") for s in switches] == [
        "switch-tor-a",
        "switch-tor-b",
        "switch-bmc-switch",
    ]
    assert _attr(browser, "power-n03", "data-state") == "up"
    assert _attr(browser, "part-n03-psu-PSU1", "data-health") == "ok"
    assert _attr(browser, "link-n03-nic1", "data-state") == "up"
    assert _attr(browser, "link-n03-bmc", "data-state") == "up"
    assert browser.find_element("id", "scale-unit").get_attribute("data-state") == "running"
    rows = browser.find_elements("css selector", "#nodes tbody tr")
    assert len(rows) == 4


def test_a_fault_turns_the_right_led_within_a_second(
    browser: webdriver.Chrome, rack: RackThread
) -> None:
    _open(browser, rack)
    _wait_running(rack)
    _settled(browser, rack)
    r = _api(rack, "POST", "/faults", json={"kind": "fan", "device": "n02", "part": "Fan3"})
    assert r.status_code == 201, r.text
    _wait_attr(browser, "part-n02-fan-Fan3", "data-health", "critical")
    _settled(browser, rack)
    delay = browser.find_element("tag name", "body").get_attribute("data-last-delay-ms")
    assert delay is not None and int(delay) < 1000, f"redrawn {delay} ms after the event"
    # Only that fan: its neighbours and the other nodes' fans stay green.
    assert _attr(browser, "part-n02-fan-Fan2", "data-health") == "ok"
    assert _attr(browser, "part-n01-fan-Fan3", "data-health") == "ok"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "rack-view-fault.png"))
    # The timeline shows the fault.
    items = browser.find_elements("css selector", "#timeline li[data-type='fault.injected']")
    assert any("n02" in li.text and "Fan3" in li.text for li in items)


def test_a_cable_pull_darkens_the_right_link(browser: webdriver.Chrome, rack: RackThread) -> None:
    _open(browser, rack)
    _wait_running(rack)
    r = _api(rack, "POST", "/faults", json={"kind": "cable-nic", "device": "n03", "part": "nic2"})
    assert r.status_code == 201, r.text
    _wait_attr(browser, "link-n03-nic2", "data-state", "cut")
    assert _attr(browser, "link-n03-nic1", "data-state") == "up"
    assert _attr(browser, "link-n02-nic2", "data-state") == "up"
    # The ToR's port at the other end goes dark too.
    assert _attr(browser, "port-tor-b-ethernet1_1_3", "data-state") == "down"
    _api(rack, "DELETE", f"/faults/{r.json()['id']}")
    _wait_attr(browser, "link-n03-nic2", "data-state", "up")


def test_an_alert_appears_and_goes_when_it_closes(
    browser: webdriver.Chrome, rack: RackThread
) -> None:
    _open(browser, rack)
    _wait_running(rack)
    r = _api(rack, "POST", "/faults", json={"kind": "psu-one", "device": "n01", "part": "PSU2"})
    assert r.status_code == 201, r.text
    _wait_attr(browser, "part-n01-psu-PSU2", "data-health", "critical")
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.find_elements("css selector", "#alerts li[data-kind='psu-redundancy-lost']"),
        message="the PSU alert never showed",
    )
    _api(rack, "DELETE", f"/faults/{r.json()['id']}")
    WebDriverWait(browser, WAIT_S).until(
        lambda d: (
            not d.find_elements("css selector", "#alerts li[data-kind='psu-redundancy-lost']")
        ),
        message="the PSU alert never closed on the page",
    )
    assert _attr(browser, "part-n01-psu-PSU2", "data-health") == "ok"


def test_the_trainer_panel_injects_a_fault(browser: webdriver.Chrome, rack: RackThread) -> None:
    from selenium.webdriver.support.ui import Select

    _open(browser, rack)
    WebDriverWait(browser, WAIT_S).until(
        lambda d: len(d.find_elements("css selector", "#f-kind option")) > 5
    )
    Select(browser.find_element("id", "f-device")).select_by_value("n04")
    Select(browser.find_element("id", "f-kind")).select_by_value("data-disk")
    browser.find_element("id", "f-part").send_keys("Disk.2")
    browser.find_element("css selector", "#inject button").click()
    _wait_attr(browser, "part-n04-data-disk-Disk.2", "data-health", "critical")
    assert "injected" in browser.find_element("id", "trainer-msg").text
    faults = _api(rack, "GET", "/faults").json()
    assert [(f["device"], f["kind"], f["part"]) for f in faults] == [("n04", "data-disk", "Disk.2")]


def test_the_trainer_starts_a_lab_and_sees_the_grade(
    browser: webdriver.Chrome, rack: RackThread
) -> None:
    from selenium.webdriver.support.ui import Select

    _open(browser, rack)
    WebDriverWait(browser, WAIT_S).until(
        lambda d: len(d.find_elements("css selector", "#l-scenario option")) > 3
    )
    Select(browser.find_element("id", "l-scenario")).select_by_value("node-repair")
    browser.find_element("css selector", "#lab-start button[type='submit']").click()
    # The stage is set once every node runs: PSU1 of n02 fails, and the lab panel lists steps.
    WebDriverWait(browser, 60).until(
        lambda d: d.find_elements("id", "lab-step-m1_0"), message="the lab never started"
    )
    faults = _api(rack, "GET", "/faults").json()
    assert [(f["device"], f["kind"], f["part"]) for f in faults] == [("n02", "psu-one", "PSU1")]
    # A second lab while this one runs is refused (409) and changes nothing.
    again = _api(rack, "POST", "/labs", json={"scenario": "node-repair"})
    assert again.status_code == 409
    assert _api(rack, "POST", "/labs", json={"scenario": "../etc"}).status_code == 422
    r = _api(rack, "POST", "/nodes/n02/shutdown")
    assert r.status_code == 200, r.text
    _wait_attr(browser, "lab-step-m1_0", "data-done", "true")
    browser.find_element("id", "lab-finish").click()
    WebDriverWait(browser, WAIT_S).until(
        lambda d: (
            "grade:" in (d.find_elements("id", "lab-grade") or [None])[0].text
            if d.find_elements("id", "lab-grade")
            else False
        ),
        message="the grade never showed",
    )
    lab = _api(rack, "GET", "/labs/current").json()
    assert lab["state"] == "finished" and lab["grade"]["score"] < 100  # the repair is not done
    assert lab["grade"]["missing"]

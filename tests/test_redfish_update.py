"""Firmware updates through Redfish against the running rack: sushy's SimpleUpdate and task
monitor, DMTF's library and Tacklebox's multipart push, curl-like httpx; the BMC pulls images
from a tiny HTTP server this test starts on 127.0.0.1; ipmitool sees the new BMC firmware; the
DMTF Service Validator passes with UpdateService and Tasks present.

Every poll is bounded in count and time and honours Retry-After; only loopback addresses.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import redfish
import redfish_utilities
import sushy

from emulator import topology
from nodes.firmware import build_image, corrupt_image
from nodes.power import HostState
from tests.conftest import TEST_IPMI_PORT, TEST_REDFISH_PORT, next_base_address, require_tool

if TYPE_CHECKING:
    from emulator.endpoints import Endpoint
    from emulator.harness import RackThread

pytestmark = [pytest.mark.tools, pytest.mark.timeout(300)]

V1 = "/redfish/v1"
INVENTORY = f"{V1}/UpdateService/FirmwareInventory"
PUSH = f"{V1}/UpdateService/update-multipart"
SIMPLE_UPDATE = f"{V1}/UpdateService/Actions/UpdateService.SimpleUpdate"
MODEL = "CS-2400"
BASELINE = {"bios": "2.27.0", "bmc": "7.00.00.184", "nic": "14.32.21.04"}
#: At this speed a BIOS flash (180 emulated seconds) takes about a second.
SPEED = 200.0
POLL_LIMIT = 400
TOOL_TIMEOUT = 30.0


# -- the rack ------------------------------------------------------------------------------------
def rack_text(*, bmc_cold_reset_s: float = 30.0, bios_floor: str | None = None) -> str:
    """A 4-node rack; ``bios_floor`` sets n01's BIOS anti-rollback floor."""
    text = topology.generate(
        4,
        base_address=next_base_address(),
        ipmi_port=TEST_IPMI_PORT,
        redfish_port=TEST_REDFISH_PORT,
    )
    text = text.replace("  bmc_cold_reset_s: 30.0", f"  bmc_cold_reset_s: {bmc_cold_reset_s}")
    if bios_floor is not None:
        line = re.search(r"^( +)firmware: &baseline .*$", text, re.M)
        assert line is not None
        floor = f"\n{line.group(1)}firmware_minimum: {{bios: {bios_floor}}}"
        text = text[: line.end()] + floor + text[line.end() :]
    return text


def base_url(e: Endpoint) -> str:
    return f"{e.scheme}://{e.address}:{e.port}"


def client(e: Endpoint) -> httpx.Client:
    return httpx.Client(
        base_url=base_url(e), auth=(e.username, e.password), verify=False, timeout=10
    )


def firmware(rack: RackThread, device: str) -> dict[str, str]:
    return rack.call(lambda r: dict(r.nodes[device].firmware))


def job_count(rack: RackThread, device: str) -> int:
    return rack.call(lambda r: len(r.nodes[device].update_jobs))


def message_ids(task: dict[str, Any]) -> list[str]:
    """Message keys without registry prefix and version ("Update.1.3.X" -> "X")."""
    return [m["MessageId"].rsplit(".", 1)[-1] for m in task.get("Messages", [])]


def poll(
    c: httpx.Client,
    uri: str,
    *,
    until: Callable[[httpx.Response], bool] = lambda r: r.status_code != 202,
    on_each: Callable[[httpx.Response], None] = lambda r: None,
    timeout: float = 60.0,
) -> httpx.Response:
    """GET the task monitor, sleeping Retry-After between polls, until ``until`` holds."""
    deadline = time.monotonic() + timeout
    for _ in range(POLL_LIMIT):
        r = c.get(uri)
        on_each(r)
        if until(r):
            return r
        assert r.status_code == 202, r.text
        assert time.monotonic() < deadline, f"{uri}: still {r.json().get('TaskState')}"
        time.sleep(float(r.headers["Retry-After"]))
    raise AssertionError(f"{uri}: no end in {POLL_LIMIT} polls")


def push(
    c: httpx.Client,
    image: bytes,
    *,
    name: str = "image.bin",
    targets: list[str] | None = None,
    apply_time: str | None = None,
) -> httpx.Response:
    """A multipart push, as ``curl -F UpdateParameters=...;type=application/json -F UpdateFile=@f``
    sends it."""
    params: dict[str, Any] = {}
    if targets is not None:
        params["Targets"] = targets
    if apply_time is not None:
        params["@Redfish.OperationApplyTime"] = apply_time
    files = {
        "UpdateParameters": (None, json.dumps(params), "application/json"),
        "UpdateFile": (name, image, "application/octet-stream"),
    }
    return c.post(PUSH, files=files)


def ipmi_argv(rack: RackThread, device: str, *args: str, quick: bool = False) -> list[str]:
    e = rack.endpoint(device, "ipmi")
    retry = ["-N", "1", "-R", "1"] if quick else []
    return [
        require_tool("ipmitool"), "-I", "lanplus", "-C", "17", *retry,
        "-H", e.address, "-p", str(e.port), "-U", e.username, "-P", e.password, *args,
    ]  # fmt: skip


def ipmitool(rack: RackThread, device: str, *args: str) -> str:
    argv = ipmi_argv(rack, device, *args)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc.stdout


# -- a tiny image server on loopback -------------------------------------------------------------
class ImageServer:
    """Serves ``files`` over HTTP on 127.0.0.1 (an ephemeral port), optionally behind Basic auth;
    records the requests it saw."""

    def __init__(self, files: dict[str, bytes], auth: tuple[str, str] | None = None) -> None:
        self.files = files
        self.requests: list[tuple[str, str | None]] = []
        expected = None
        if auth is not None:
            expected = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                header = self.headers.get("Authorization")
                server.requests.append((self.path, header))
                if expected is not None and header != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="fw"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> ImageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def sushy_root(e: Endpoint) -> Iterator[sushy.Sushy]:
    root = sushy.Sushy(
        base_url(e),
        verify=False,
        auth=sushy.auth.BasicAuth(username=e.username, password=e.password),
        server_side_retries=1,
        server_side_retries_delay=0.1,
    )
    try:
        yield root
    finally:
        root.__del__()


# -- sushy: SimpleUpdate of the BIOS, pulled by the BMC, through sushy's task monitor -----------
def test_sushy_simple_update_bios_through_its_task_monitor(
    rack_factory: Callable[..., RackThread],
) -> None:
    rack = rack_factory(nodes=4, speed=SPEED)
    e = rack.endpoint("n02", "redfish")
    image = build_image("bios", MODEL, "2.30.0", size=64 * 1024)
    with ImageServer({"/fw/bios-2.30.0.bin": image}) as server, sushy_root(e) as root:
        updates = root.get_update_service()
        inventory = {m.identity: m.version for m in updates.firmware_inventory.get_members()}
        assert inventory["bios"] == BASELINE["bios"]
        monitor = updates.simple_update(
            server.url("/fw/bios-2.30.0.bin"),
            targets=[f"{INVENTORY}/bios"],
            transfer_protocol=sushy.UPDATE_PROTOCOL_HTTP,
        )
        assert monitor.task_monitor_uri.startswith(f"{V1}/TaskService/Tasks/")
        system = root.get_system(f"{V1}/Systems/n02")
        seen: list[str] = []
        deadline = time.monotonic() + 60
        for _ in range(POLL_LIMIT):
            if not monitor.check_is_processing:
                break
            state = monitor.task.task_state.value if monitor.task else "?"
            if state not in seen:
                seen.append(state)
            if state == "Pending" and system.power_state == sushy.PowerState.OFF:
                # The new BIOS runs from the next POST: power the host on.
                system.reset_system(sushy.ResetType.ON)
            assert time.monotonic() < deadline, seen
            time.sleep(float(monitor.sleep_for))  # sushy hands Retry-After over as text
        task = monitor.get_task()
        assert task.task_state == sushy.TaskState.COMPLETED, seen
        assert task.percent_complete == 100
        assert {"Running", "Pending"} <= set(seen), seen
        ids = [m.message_id.rsplit(".", 1)[-1] for m in task.messages]
        assert ids.index("AwaitToActivate") < ids.index("UpdateSuccessful"), ids
        assert ids[-1] == "TaskCompletedOK"
        assert [path for path, _ in server.requests] == ["/fw/bios-2.30.0.bin"]
        updates.firmware_inventory.refresh()
        bios = updates.firmware_inventory.get_member(f"{INVENTORY}/bios")
        assert bios.version == "2.30.0"
    assert firmware(rack, "n02")["bios"] == "2.30.0"
    assert rack.call(lambda r: r.nodes["n02"].state) is not HostState.OFF


# -- DMTF redfish + Tacklebox: a BMC update restarts the BMC; ipmitool sees the new firmware ----
def test_dmtf_multipart_bmc_update_restarts_the_bmc(
    rack_factory: Callable[..., RackThread], tmp_path: Path
) -> None:
    # A cold reset of 1000 emulated seconds: the BMC is away for ~5 s of real time.
    rack = rack_factory(nodes=4, speed=SPEED, text=rack_text(bmc_cold_reset_s=1000.0))
    e = rack.endpoint("n03", "redfish")
    assert "Firmware Revision         : 7.00" in ipmitool(rack, "n03", "mc", "info")
    path = tmp_path / "bmc-7.10.30.00.bin"
    path.write_bytes(build_image("bmc", MODEL, "7.10.30.00", size=128 * 1024))

    context = redfish.redfish_client(
        base_url=base_url(e), username=e.username, password=e.password, timeout=5, max_retry=1
    )
    context.login(auth="basic")
    response = redfish_utilities.multipart_push_update(
        context, str(path), targets=[f"{INVENTORY}/bmc"]
    )
    assert response.status == 202 and response.is_processing
    location = response.task_location
    assert location == response.dict["@odata.id"]

    states: list[str] = []
    away = ipmi_away = False
    deadline = time.monotonic() + 90
    for _ in range(POLL_LIMIT):
        assert time.monotonic() < deadline, states
        try:
            response = context.get(location)
        except Exception:  # the BMC is restarting: no answer at all
            if not away:
                away = True
                quick = ipmi_argv(rack, "n03", "mc", "info", quick=True)
                proc = subprocess.run(quick, capture_output=True, timeout=TOOL_TIMEOUT, check=False)
                ipmi_away = proc.returncode != 0
            time.sleep(0.5)
            continue
        states.append(response.dict.get("TaskState", "?"))
        if not response.is_processing:
            break
        time.sleep(response.retry_after or 1)
    assert response.status == 200, states
    assert response.dict["TaskState"] == "Completed", response.dict
    assert away and ipmi_away, "neither Redfish nor IPMI went quiet while the BMC restarted"
    ids = message_ids(response.dict)
    assert "ApplyingOnComponent" in ids and ids[-2:] == ["UpdateSuccessful", "TaskCompletedOK"]
    context.logout()

    assert "Firmware Revision         : 7.10" in ipmitool(rack, "n03", "mc", "info")
    with client(e) as c:
        assert c.get(f"{V1}/Managers/bmc").json()["FirmwareVersion"] == "7.10.30.00"
        assert c.get(f"{INVENTORY}/bmc").json()["Version"] == "7.10.30.00"
    assert rack.call(lambda r: r.nodes["n03"].bmc_resets) == 1
    # The IPMI SEL recorded the version change.
    assert "Version Change" in ipmitool(rack, "n03", "sel", "list")


# -- curl-like multipart push of a BIOS image, OnReset -------------------------------------------
def test_multipart_push_bios_waits_for_the_host_reset(
    rack_factory: Callable[..., RackThread],
) -> None:
    rack = rack_factory(nodes=4, speed=SPEED)
    e = rack.endpoint("n01", "redfish")
    image = build_image("bios", MODEL, "2.29.1", size=16 * 1024)
    with client(e) as c:
        r = push(c, image, name="bios.bin", targets=[f"{INVENTORY}/bios"], apply_time="OnReset")
        assert r.status_code == 202, r.text
        task = r.json()
        assert r.headers["Location"] == task["@odata.id"] == task["TaskMonitor"]
        assert r.headers["Retry-After"].isdigit()
        assert task["TaskState"] == "New" and "TaskStatus" not in task
        assert message_ids(task) == ["TargetDetermined"]

        percents: list[int] = []
        r = poll(
            c,
            r.headers["Location"],
            until=lambda r: r.json()["TaskState"] == "Pending",
            on_each=lambda r: percents.append(r.json()["PercentComplete"]),
        )
        assert r.status_code == 202  # still under way: the new BIOS is not running yet
        assert percents == sorted(percents) and percents[-1] == 99
        # A pushed image's task has its model job's Id, the one the EventService's events name.
        jobs = rack.call(lambda r: [j.id for j in r.nodes["n01"].update_jobs])
        assert jobs == [task["Id"]]
        pending = r.json()
        ids = message_ids(pending)
        assert ids[-2:] == ["AwaitToActivate", "ResetRequired"], ids
        assert {"TransferringToComponent", "VerifyingAtComponent", "InstallingOnComponent"} <= set(
            ids
        )
        reset_uri = pending["Messages"][-1]["MessageArgs"][0]
        assert reset_uri == f"{V1}/Systems/n01/Actions/ComputerSystem.Reset"
        staged = c.get(f"{INVENTORY}/bios").json()
        assert staged["Staged"] is True and staged["Status"]["State"] == "Updating"
        assert staged["Version"] == BASELINE["bios"]
        assert firmware(rack, "n01")["bios"] == BASELINE["bios"]

        assert c.post(reset_uri, json={"ResetType": "On"}).status_code == 204
        r = poll(c, task["@odata.id"])
        assert r.status_code == 200
        done = r.json()
        assert done["TaskState"] == "Completed" and done["TaskStatus"] == "OK"
        assert done["PercentComplete"] == 100 and "EndTime" in done
        inventory = c.get(f"{INVENTORY}/bios").json()
        assert inventory["Version"] == "2.29.1" and inventory["Staged"] is False
        assert inventory["Status"]["State"] == "Enabled"
        tasks = c.get(f"{V1}/TaskService/Tasks").json()
        assert tasks["Members"] == [{"@odata.id": task["@odata.id"]}]
    assert firmware(rack, "n01")["bios"] == "2.29.1"


# -- SimpleUpdate: credentials, a URI without scheme, servers that fail --------------------------
def test_simple_update_pull_with_credentials_and_failed_transfers(
    rack_factory: Callable[..., RackThread],
) -> None:
    rack = rack_factory(nodes=4, speed=SPEED)
    e = rack.endpoint("n04", "redfish")
    nic = build_image("nic", MODEL, "14.40.10.00", size=32 * 1024)
    with ImageServer({"/nic.bin": nic}, auth=("fwuser", "fw-s3cret")) as server, client(e) as c:
        r = c.post(
            SIMPLE_UPDATE,
            json={
                "ImageURI": f"127.0.0.1:{server.port}/nic.bin",
                "TransferProtocol": "HTTP",
                "Targets": [f"{INVENTORY}/nic"],
                "Username": "fwuser",
                "Password": "fw-s3cret",
                "@Redfish.OperationApplyTime": "Immediate",
            },
        )
        assert r.status_code == 202, r.text
        assert "fw-s3cret" not in r.text
        done = poll(c, r.headers["Location"])
        assert done.json()["TaskState"] == "Completed", done.json()
        assert "fw-s3cret" not in done.text
        assert firmware(rack, "n04")["nic"] == "14.40.10.00"
        # A pulled image's task got its Id before the job existed; it answers to the job's too.
        (job,) = rack.call(lambda r: [j.id for j in r.nodes["n04"].update_jobs])
        alias = c.get(f"{V1}/TaskService/Tasks/{job}")
        assert alias.status_code == 200 and alias.json()["Id"] == done.json()["Id"] != job
        assert server.requests[-1][1] is not None  # it sent the credentials

        failing = {
            "wrong password": (server.url("/nic.bin"), "nope"),
            "no such file": (server.url("/missing.bin"), "fw-s3cret"),
            "nobody listening": (f"http://127.0.0.1:{closed_port()}/nic.bin", "fw-s3cret"),
        }
        for case, (uri, password) in failing.items():
            before = firmware(rack, "n04"), job_count(rack, "n04")
            body = {"ImageURI": uri, "Username": "fwuser", "Password": password}
            r = c.post(SIMPLE_UPDATE, json=body)
            assert r.status_code == 202, (case, r.text)
            task = poll(c, r.headers["Location"]).json()
            assert task["TaskState"] == "Exception", (case, task)
            assert task["TaskStatus"] == "Critical"
            assert message_ids(task)[-2:] == ["TransferFailed", "TaskAborted"], (case, task)
            assert (firmware(rack, "n04"), job_count(rack, "n04")) == before, case


# -- bad images: each ends in Exception with its message, and nothing changes --------------------
def test_bad_images_end_in_exception_and_change_nothing(
    rack_factory: Callable[..., RackThread],
) -> None:
    rack = rack_factory(nodes=4, speed=SPEED, text=rack_text(bios_floor="2.20.0"))
    e = rack.endpoint("n01", "redfish")
    good = build_image("bios", MODEL, "2.28.0", size=4096)
    cases: dict[str, tuple[bytes, list[str] | None, str]] = {
        "corrupt": (corrupt_image(good), None, "VerificationFailed"),
        "not an image": (b"MZ\x90\x00" + bytes(4096), None, "VerificationFailed"),
        "other model": (build_image("bios", "CS-9999", "2.28.0", size=4096), None,
                        "UpdateNotApplicable"),
        "below the floor": (build_image("bios", MODEL, "2.10.0", size=4096), None,
                            "UpdateSkippedVersionTooLow"),
        "other component": (good, [f"{INVENTORY}/bmc"], "UpdateNotApplicable"),
        "unknown target": (good, [f"{INVENTORY}/gpu"], "NoTargetsDetermined"),
    }  # fmt: skip
    with client(e) as c:
        assert c.get(f"{INVENTORY}/bios").json()["LowestSupportedVersion"] == "2.20.0"
        for case, (image, targets, expected) in cases.items():
            before = firmware(rack, "n01"), job_count(rack, "n01")
            r = push(c, image, name=f"{case}.bin", targets=targets)
            assert r.status_code == 202, (case, r.text)
            assert r.json()["TaskState"] == "Exception", (case, r.json())
            final = c.get(r.headers["Location"])
            assert final.status_code == 200  # finished: the monitor answers with the Task
            task = final.json()
            assert task["TaskState"] == "Exception" and task["TaskStatus"] == "Critical"
            assert expected in message_ids(task), (case, message_ids(task))
            assert message_ids(task)[-1] == "TaskAborted"
            assert (firmware(rack, "n01"), job_count(rack, "n01")) == before, case

        # A corrupt image pulled by SimpleUpdate fails the same way, after the transfer.
        with ImageServer({"/bad.bin": corrupt_image(good)}) as server:
            r = c.post(SIMPLE_UPDATE, json={"ImageURI": server.url("/bad.bin")})
            task = poll(c, r.headers["Location"]).json()
            assert task["TaskState"] == "Exception"
            assert message_ids(task)[-2:] == ["VerificationFailed", "TaskAborted"]

        # One update at a time per component.
        first = push(c, good, apply_time="OnReset")
        poll(c, first.headers["Location"], until=lambda r: r.json()["TaskState"] == "Pending")
        second = push(c, build_image("bios", MODEL, "2.28.5", size=4096))
        task = c.get(second.headers["Location"]).json()
        assert task["TaskState"] == "Exception"
        assert "UpdateInProgress" in message_ids(task)
        assert c.get(first.headers["Location"]).json()["TaskState"] == "Pending"
    assert firmware(rack, "n01")["bios"] == BASELINE["bios"]


# -- malformed requests: 400/413/415, no task --------------------------------------------------
def test_malformed_update_requests_are_refused_without_a_task(
    rack_factory: Callable[..., RackThread],
) -> None:
    rack = rack_factory(nodes=4, speed=SPEED, redfish_tls=False)
    e = rack.endpoint("n02", "redfish")
    bad_bodies: list[tuple[dict[str, Any], str]] = [
        ({}, "ActionParameterMissing"),
        ({"ImageURI": "ftp://127.0.0.1/x.bin"}, "ActionParameterValueNotInList"),
        ({"ImageURI": "127.0.0.1/x.bin"}, "ActionParameterMissing"),
        ({"ImageURI": "http://127.0.0.1/x.bin", "TransferProtocol": "TFTP"},
         "ActionParameterValueNotInList"),
        ({"ImageURI": "http://127.0.0.1/x.bin", "TransferProtocol": "HTTPS"},
         "ActionParameterValueConflict"),
        ({"ImageURI": "http://127.0.0.1/x.bin", "Force": True}, "ActionParameterUnknown"),
        ({"ImageURI": "http://127.0.0.1/x.bin", "@Redfish.OperationApplyTime": "AtMaintenance"},
         "ActionParameterValueNotInList"),
    ]  # fmt: skip
    with client(e) as c:
        for body, key in bad_bodies:
            r = c.post(SIMPLE_UPDATE, json=body)
            assert r.status_code == 400, (body, r.text)
            info = r.json()["error"]["@Message.ExtendedInfo"]
            assert any(m["MessageId"].endswith(key) for m in info), (body, info)
        no_params = c.post(PUSH, files={"UpdateFile": ("a.bin", b"x", "application/octet-stream")})
        assert no_params.status_code == 400
        assert c.post(PUSH, json={"UpdateFile": "x"}).status_code == 415
        assert c.get(f"{V1}/TaskService/Tasks").json()["Members"] == []

    # An upload above MaxImageSizeBytes is refused from its Content-Length, before any byte of it.
    limit = client(e).get(f"{V1}/UpdateService").json()["MaxImageSizeBytes"]
    auth = base64.b64encode(f"{e.username}:{e.password}".encode()).decode()
    head = (
        f"POST {PUSH} HTTP/1.1\r\nHost: {e.address}\r\nAuthorization: Basic {auth}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {limit * 2}\r\n\r\n"
    )
    with socket.create_connection((e.address, e.port), timeout=10) as s:
        s.sendall(head.encode())
        chunks = []
        for _ in range(100):  # until the server closes the connection
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        answer = b"".join(chunks).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert "PayloadTooLarge" in answer
    assert job_count(rack, "n02") == 0


# -- cancelling through the task monitor ----------------------------------------------------------
def test_delete_cancels_where_the_model_allows(rack_factory: Callable[..., RackThread]) -> None:
    rack = rack_factory(nodes=4, speed=SPEED)
    e = rack.endpoint("n02", "redfish")
    with client(e) as c:
        staged = push(c, build_image("bios", MODEL, "2.31.0", size=4096), apply_time="OnReset")
        uri = staged.headers["Location"]
        poll(c, uri, until=lambda r: r.json()["TaskState"] == "Pending")
        r = c.delete(uri)
        assert r.status_code == 200 and r.json()["TaskState"] == "Cancelled"
        assert message_ids(r.json())[-1] == "TaskCancelled"
        assert c.get(uri).status_code == 200  # finished
        assert c.post(f"{V1}/Systems/n02/Actions/ComputerSystem.Reset",
                      json={"ResetType": "On"}).status_code == 204  # fmt: skip
        deadline = time.monotonic() + 20
        while rack.call(lambda r: r.nodes["n02"].state) is not HostState.RUNNING:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert firmware(rack, "n02")["bios"] == BASELINE["bios"]  # the staged image is gone

        # Flashing cannot be interrupted: 409 while InstallingOnComponent.
        flashing = push(c, build_image("bios", MODEL, "2.31.1", size=4096))
        uri = flashing.headers["Location"]
        deadline = time.monotonic() + 20
        for _ in range(POLL_LIMIT):  # faster than Retry-After: the flash lasts about a second
            if message_ids(c.get(uri).json())[-1] == "InstallingOnComponent":
                break
            assert time.monotonic() < deadline
            time.sleep(0.02)
        refused = c.delete(uri)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"].endswith("ResourceInUse")

        # A finished task can be deleted: it is gone from the collection.
        finished = push(c, b"not an image")
        uri = finished.headers["Location"]
        assert c.delete(uri).status_code == 204
        assert c.get(uri).status_code == 404
        members = c.get(f"{V1}/TaskService/Tasks").json()["Members"]
        assert {"@odata.id": uri} not in members


# -- the DMTF Service Validator, with UpdateService and Tasks present ------------------------------
def test_validator_with_update_tasks(
    rack_factory: Callable[..., RackThread], tmp_path: Path
) -> None:
    from tests.test_redfish_validator import validate

    rack = rack_factory(nodes=4, speed=SPEED)
    e = rack.endpoint("n02", "redfish")
    with client(e) as c:
        ok = push(c, build_image("nic", MODEL, "14.33.0.0", size=4096))
        refused = push(c, corrupt_image(build_image("bios", MODEL, "2.28.0", size=4096)))
        assert poll(c, ok.headers["Location"]).json()["TaskState"] == "Completed"
        assert c.get(refused.headers["Location"]).json()["TaskState"] == "Exception"
    result = validate(e, tmp_path / "n02", "Basic")
    print(result)
    assert result["fail"] == 0 and result["failures"] == [], result
    assert result["returncode"] == 0, result
    log = "\n".join(p.read_text() for p in (tmp_path / "n02").rglob("*Debug_*.log"))
    info = f"{V1}/UpdateService/SimpleUpdateActionInfo"
    for uri in (f"{V1}/UpdateService", f"{INVENTORY}/bios", info,
                ok.headers["Location"], refused.headers["Location"]):  # fmt: skip
        assert f"Validating {uri}..." in log, uri

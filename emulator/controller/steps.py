"""The step kinds: one small async function each, over a client (never the rack's model).

``STEPS[kind](step, ctx)`` runs a resolved step (variables substituted) and returns its output
(saved with ``save-as``, checked with ``expect`` and ``wait-until``). A step fails by raising
:class:`StepFailed` with the reason and the evidence the report shows; a protocol timeout is named
as one (a silent BMC).
"""

from __future__ import annotations

import asyncio
import difflib
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from bmc.ipmi.client import IpmiError, IpmiTimeout, LanplusClient
from emulator.controller import runbook as rb
from emulator.controller.images import ImageServer
from emulator.errors import ScaleunitError


class StepFailed(ScaleunitError):
    """A step that did not do what it should; ``evidence`` is what was seen."""

    def __init__(self, reason: str, evidence: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.evidence = evidence


# -- what the controller knows about the rack (addresses only) --------------------------------
@dataclass(frozen=True)
class NodeAccess:
    ipmi: tuple[str, int]
    redfish: str  # base URL, https://10.0.0.11:443
    workload: tuple[str, int] | None = None


@dataclass(frozen=True)
class SwitchAccess:
    snmp: tuple[str, int] | None = None
    ssh: tuple[str, int] | None = None
    #: The switch's sysadmin login (the topology's; a factory switch has admin/admin).
    username: str | None = None
    password: str | None = None


@dataclass
class Inventory:
    control_url: str
    token: str
    username: str
    password: str
    nodes: dict[str, NodeAccess] = field(default_factory=dict)
    switches: dict[str, SwitchAccess] = field(default_factory=dict)
    #: the controller's SNMP trap receiver (emulator.controller.traps), when the rack sends to it
    traps: Any = None


class TimeSource(Protocol):
    """Emulated time as the controller sees it; ``sleep`` is where the rack's virtual clock
    moves (``--virtual``) or where wall time passes (scaled by the rack's speed)."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class WallTime:
    """A rack running at ``speed`` times real time."""

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        import time

        self.speed = speed
        self._t0 = time.monotonic()
        self._e0 = start if start is not None else time.time()

    def now(self) -> float:
        import time

        return self._e0 + (time.monotonic() - self._t0) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


@dataclass
class Context:
    inventory: Inventory
    time: TimeSource
    images: ImageServer
    control: httpx.AsyncClient
    variables: dict[str, Any] = field(default_factory=dict)
    #: Called after every wait (the engine checks its safeguards there).
    on_wait: Callable[[], Awaitable[None]] | None = None
    redfish_timeout: float = 3.0
    ipmi_timeout: float = 0.5
    _redfish: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    async def sleep(self, seconds: float) -> None:
        await self.time.sleep(seconds)
        if self.on_wait is not None:
            await self.on_wait()

    def node(self, name: str) -> NodeAccess:
        access = self.inventory.nodes.get(name)
        if access is None:
            raise StepFailed(f"no node named {name!r} (known: {', '.join(self.inventory.nodes)})")
        return access

    def redfish_client(self, node: str) -> httpx.AsyncClient:
        """One client per BMC for the run (a connection kept alive, one TLS context)."""
        client = self._redfish.get(node)
        if client is None:
            client = httpx.AsyncClient(
                base_url=self.node(node).redfish, verify=False, timeout=self.redfish_timeout
            )
            self._redfish[node] = client
        return client

    async def aclose(self) -> None:
        for client in self._redfish.values():
            await client.aclose()
        self._redfish.clear()

    def creds(self, step: rb.Credentials) -> tuple[str, str]:
        return (
            step.username or self.inventory.username,
            step.password or self.inventory.password,
        )


# -- the control plane -------------------------------------------------------------------------
async def control(ctx: Context, method: str, path: str, body: Any = None) -> Any:
    try:
        resp = await ctx.control.request(method, path, json=body)
    except httpx.HTTPError as exc:
        raise StepFailed(f"control plane unreachable ({type(exc).__name__})") from None
    if resp.status_code >= 400:
        try:
            message = resp.json().get("error", resp.text)
        except ValueError:
            message = resp.text
        raise StepFailed(f"{method} {path}: {resp.status_code} {message}", resp.text)
    return resp.json()


async def status(step: rb.Status, ctx: Context) -> Any:
    return await control(ctx, "GET", "/status")


async def node_status(step: rb.NodeStatus, ctx: Context) -> Any:
    data = await control(ctx, "GET", "/status")
    for row in data["nodes"]:
        if row["name"] == step.node:
            return row
    raise StepFailed(f"no node {step.node!r} in the status")


async def node_action(step: rb.NodeAction, ctx: Context) -> Any:
    body = {"bmc_address": step.bmc_address} if step.bmc_address else None
    return await control(ctx, "POST", f"/nodes/{step.node}/{step.action}", body)


async def fault_inject(step: rb.FaultInject, ctx: Context) -> Any:
    body = {"kind": step.fault, "device": step.device, "part": step.part, "version": step.version}
    return await control(ctx, "POST", "/faults", {k: v for k, v in body.items() if v})


async def fault_clear(step: rb.FaultClear, ctx: Context) -> Any:
    return await control(ctx, "DELETE", f"/faults/{step.id}")


async def replace_part(step: rb.ReplacePart, ctx: Context) -> Any:
    body = {"node": step.node, "kind": step.part, "target": step.target}
    return await control(ctx, "POST", "/replace/part", body)


async def replace_node(step: rb.ReplaceNode, ctx: Context) -> Any:
    body = {"node": step.node, "serial": step.serial, "firmware": step.firmware}
    body["cpu_model"] = step.cpu_model
    return await control(ctx, "POST", "/replace/node", {k: v for k, v in body.items() if v})


async def replace_switch(step: rb.ReplaceSwitch, ctx: Context) -> Any:
    body = {"switch": step.switch, "serial": step.serial}
    return await control(ctx, "POST", "/replace/switch", {k: v for k, v in body.items() if v})


async def alerts(step: rb.Alerts, ctx: Context) -> Any:
    return await control(ctx, "GET", f"/alerts?open_only={str(step.open_only).lower()}")


async def alert_close(step: rb.AlertClose, ctx: Context) -> Any:
    return await control(ctx, "POST", f"/alerts/{step.id}/close")


async def wait(step: rb.Wait, ctx: Context) -> Any:
    await ctx.sleep(step.for_)
    return step.for_


# -- Redfish -----------------------------------------------------------------------------------
async def redfish_call(
    ctx: Context,
    node: str,
    method: str,
    path: str,
    creds: tuple[str, str],
    body: Any = None,
    **kw: Any,
) -> httpx.Response:
    client = ctx.redfish_client(node)
    try:
        return await client.request(method, path, json=body, auth=creds, **kw)
    except httpx.TimeoutException:
        raise StepFailed(
            f"{node}: the BMC did not answer Redfish {method} {path} "
            f"within {ctx.redfish_timeout} s (timeout)"
        ) from None
    except httpx.HTTPError as exc:
        raise StepFailed(f"{node}: Redfish {method} {path}: {type(exc).__name__}") from None


def _json_or_fail(node: str, resp: httpx.Response) -> Any:
    if resp.status_code >= 400:
        raise StepFailed(
            f"{node}: Redfish {resp.request.method} {resp.request.url.path}: {resp.status_code} "
            f"{_redfish_message(resp)}",
            resp.text[:2000],
        )
    return resp.json() if resp.content else {}


def _redfish_message(resp: httpx.Response) -> str:
    try:
        err = resp.json()["error"]
        infos = err.get("@Message.ExtendedInfo") or []
        return "; ".join(i.get("Message", "") for i in infos) or err.get("message", "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return resp.text[:200]


async def redfish(step: rb.Redfish, ctx: Context) -> Any:
    resp = await redfish_call(ctx, step.node, step.method, step.path, ctx.creds(step), step.body)
    return _json_or_fail(step.node, resp)


async def inventory(ctx: Context, node: str, creds: tuple[str, str]) -> dict[str, Any]:
    """{component: version} and the node's model (``_model``) from FirmwareInventory."""
    coll = _json_or_fail(
        node,
        await redfish_call(ctx, node, "GET", "/redfish/v1/UpdateService/FirmwareInventory", creds),
    )
    out: dict[str, Any] = {}
    for member in coll.get("Members", []):
        item = _json_or_fail(node, await redfish_call(ctx, node, "GET", member["@odata.id"], creds))
        out[item["Id"]] = item.get("Version")
        out["_model"] = str(item.get("SoftwareId", ":")).split(":")[0]
    return out


async def redfish_inventory(step: rb.RedfishInventory, ctx: Context) -> Any:
    return await inventory(ctx, step.node, ctx.creds(step))


#: Task states after which nothing more happens.
_FINAL = {"Completed", "Exception", "Killed", "Cancelled"}


async def _poll_task(
    ctx: Context,
    node: str,
    uri: str,
    creds: tuple[str, str],
    every: float,
    *,
    stop_pending: bool = True,
) -> dict[str, Any]:
    """The task until it finishes or waits for a reset (Pending); a BMC restarting (connection
    errors, 401, 404 for a while) is waited out."""
    misses = 0
    while True:
        try:
            resp = await redfish_call(ctx, node, "GET", uri, creds)
        except StepFailed:
            resp = None
        if resp is None or resp.status_code in (401, 404, 503):
            misses += 1
            if misses > 60:
                raise StepFailed(f"{node}: the task monitor {uri} stayed unreachable")
            await ctx.sleep(every)
            continue
        misses = 0
        task = _json_or_fail(node, resp)
        state = task.get("TaskState")
        if state in _FINAL or (stop_pending and state == "Pending"):
            return dict(task)
        await ctx.sleep(every)


def _messages(task: dict[str, Any]) -> list[dict[str, Any]]:
    return list(task.get("Messages") or [])


async def update_component(
    ctx: Context,
    node: str,
    component: str,
    version: str,
    creds: tuple[str, str],
    *,
    transfer: str = "pull",
    apply_time: str = "OnReset",
    bad: bool = False,
    every: float = 60.0,
) -> dict[str, Any]:
    """One component to ``version``: send the image, follow the task (polled every ``every``
    emulated seconds: Ironic's default, 60), run the reset its ResetRequired message names (an
    AC cycle for the CPLD), and read the version back."""
    target = f"/redfish/v1/UpdateService/FirmwareInventory/{component}"
    item = _json_or_fail(node, await redfish_call(ctx, node, "GET", target, creds))
    model = str(item.get("SoftwareId", ":")).split(":")[0]
    url = ctx.images.image_url(component, model, version, bad=bad)
    if transfer == "pull":
        body = {
            "ImageURI": url,
            "TransferProtocol": "HTTP",
            "Targets": [target],
            "@Redfish.OperationApplyTime": apply_time,
        }
        path = "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"
        resp = await redfish_call(ctx, node, "POST", path, creds, body)
    else:
        import json

        name = url.rsplit("/", 1)[1]
        image = ctx.images._images[name]
        params = {"Targets": [target], "@Redfish.OperationApplyTime": apply_time}
        files = {
            "UpdateParameters": (None, json.dumps(params), "application/json"),
            "UpdateFile": (name, image, "application/octet-stream"),
        }
        path = "/redfish/v1/UpdateService/update-multipart"
        resp = await redfish_call(ctx, node, "POST", path, creds, files=files)
    if resp.status_code != 202:
        _json_or_fail(node, resp)
        raise StepFailed(f"{node}: {path} answered {resp.status_code}, not 202", resp.text)
    monitor = resp.headers.get("Location")
    if not monitor:
        raise StepFailed(f"{node}: the update was accepted without a task monitor (Location)")
    task = await _poll_task(ctx, node, monitor, creds, every)
    if task.get("TaskState") == "Pending":
        reset = next(
            (m for m in _messages(task) if str(m.get("MessageId", "")).endswith("ResetRequired")),
            None,
        )
        if reset is not None:
            action, kind = reset["MessageArgs"][0], reset["MessageArgs"][1]
            if "/Systems/" in action:  # a host that is off is powered on instead (Ironic does)
                system = action.split("/Actions/")[0]
                power = _json_or_fail(node, await redfish_call(ctx, node, "GET", system, creds))
                if power.get("PowerState") == "Off":
                    kind = "On"
            done = await redfish_call(ctx, node, "POST", action, creds, {"ResetType": kind})
            if done.status_code >= 400:
                _json_or_fail(node, done)
        else:  # the CPLD: an AC power cycle, by hand
            rec = await control(ctx, "POST", "/faults", {"kind": "ac-loss", "device": node})
            await ctx.sleep(10)
            await control(ctx, "DELETE", f"/faults/{rec['id']}")
        task = await _poll_task(ctx, node, monitor, creds, every, stop_pending=False)
    if task.get("TaskState") != "Completed":
        notes = "; ".join(m.get("Message", "") for m in _messages(task))
        raise StepFailed(
            f"{node}: updating {component} to {version} ended {task.get('TaskState')}: {notes}",
            task,
        )
    # The version read back must be the image's (a task that says Completed is not proof).
    for _ in range(60):
        try:
            resp = await redfish_call(ctx, node, "GET", target, creds)
            now = resp.json().get("Version") if resp.status_code == 200 else None
        except (StepFailed, ValueError):
            now = None
        if now == version:
            return {"component": component, "version": now, "task": monitor}
        await ctx.sleep(every)
    raise StepFailed(
        f"{node}: {component} reads back {now!r} after the update, not {version!r}",
        {"wanted": version, "found": now},
    )


async def redfish_update(step: rb.RedfishUpdate, ctx: Context) -> Any:
    return await update_component(
        ctx,
        step.node,
        step.component,
        step.version,
        ctx.creds(step),
        transfer=step.transfer,
        apply_time=step.apply_time,
        bad=step.corrupt,
    )


def _baseline(value: dict[str, str] | str) -> dict[str, str]:
    if isinstance(value, dict):
        return {k: str(v) for k, v in value.items()}
    from pathlib import Path

    from ruamel.yaml import YAML

    path = Path(value)
    if not path.is_absolute() and not path.exists():
        # scenarios name it from the checkout's root (scenarios/baselines/...): run elsewhere
        path = Path(__file__).resolve().parents[2] / path
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StepFailed(f"{value}: cannot read the baseline file ({exc.strerror})") from None
    if not isinstance(data, dict) or not isinstance(data.get("firmware"), dict):
        raise StepFailed(f"{value}: a baseline file has a firmware mapping")
    return {k: str(v) for k, v in data["firmware"].items()}


async def redfish_level(step: rb.RedfishLevel, ctx: Context) -> Any:
    """Every component that is not at the baseline, one at a time (push for the BMC, pull for
    the others), each confirmed by reading its version back."""
    creds = ctx.creds(step)
    wanted = _baseline(step.baseline)
    found = await inventory(ctx, step.node, creds)
    bad = [step.corrupt] if isinstance(step.corrupt, str) else list(step.corrupt)
    done = {}
    for component, version in wanted.items():
        if component not in found or found[component] == version:
            continue
        transfer = "push" if component == "bmc" else "pull"
        out = await update_component(
            ctx, step.node, component, version, creds, transfer=transfer, bad=component in bad
        )
        done[component] = out["version"]
    return done


async def redfish_credentials(step: rb.RedfishCredentials, ctx: Context) -> Any:
    """Set the account's user name and password through AccountService."""
    creds = ctx.creds(step)
    coll = _json_or_fail(
        step.node,
        await redfish_call(ctx, step.node, "GET", "/redfish/v1/AccountService/Accounts", creds),
    )
    for member in coll.get("Members", []):
        acct = _json_or_fail(
            step.node, await redfish_call(ctx, step.node, "GET", member["@odata.id"], creds)
        )
        if acct.get("UserName") == creds[0]:
            body = {"UserName": step.new_username, "Password": step.new_password}
            resp = await redfish_call(ctx, step.node, "PATCH", member["@odata.id"], creds, body)
            _json_or_fail(step.node, resp)
            return {"account": member["@odata.id"], "username": step.new_username}
    raise StepFailed(f"{step.node}: no account named {creds[0]!r}")


async def firmware_plan(step: rb.FirmwarePlan, ctx: Context) -> Any:
    """Per node: no operation, update (the drifted components), or blocked with the reason."""
    wanted = _baseline(step.baseline)
    names = step.nodes if isinstance(step.nodes, list) else list(ctx.inventory.nodes)
    plan: dict[str, Any] = {"update": [], "noop": [], "blocked": {}, "drift": {}}
    for node in names:
        try:
            found = await inventory(ctx, node, ctx.creds(step))
        except StepFailed as exc:
            plan["blocked"][node] = exc.reason
            continue
        drift = {c: [found.get(c), v] for c, v in wanted.items() if c in found and found[c] != v}
        if drift:
            plan["update"].append(node)
            plan["drift"][node] = drift
        else:
            plan["noop"].append(node)
    # The switches' OS, read over SNMP (entPhysicalSoftwareRev of the chassis).
    plan |= {"switch_os": wanted.get("switch-os"), "switch_update": [], "switch_noop": []}
    switches = step.switches if isinstance(step.switches, list) else []
    if switches and plan["switch_os"] is None:
        raise StepFailed(f"{step.baseline}: the baseline names no switch-os for the switches")
    for sw in switches:
        probe = rb.SnmpGet(kind="snmp-get", switch=sw, oid=SOFTWARE_REV)
        try:
            running = await snmp_get(probe, ctx)
        except StepFailed as exc:
            plan["blocked"][sw] = exc.reason
            continue
        if running != plan["switch_os"]:
            plan["switch_update"].append(sw)
            plan["drift"][sw] = {"switch-os": [running, plan["switch_os"]]}
        else:
            plan["switch_noop"].append(sw)
    return plan


#: ENTITY-MIB entPhysicalSoftwareRev of the chassis (entPhysicalIndex 1).
SOFTWARE_REV = "1.3.6.1.2.1.47.1.1.1.1.10.1"


# -- IPMI --------------------------------------------------------------------------------------
_CHASSIS_CONTROL = {"power-off": 0, "power-on": 1, "power-cycle": 2, "power-soft": 5}


async def _ipmi_session(ctx: Context, node: str, creds: tuple[str, str]) -> LanplusClient:
    host, port = ctx.node(node).ipmi
    client = LanplusClient(host, port, creds[0], creds[1], timeout=ctx.ipmi_timeout, retries=3)
    try:
        await client.open()
    except IpmiTimeout:
        raise StepFailed(
            f"{node}: the BMC did not answer IPMI at {host}:{port} (timeout)"
        ) from None
    except IpmiError as exc:
        raise StepFailed(f"{node}: IPMI session refused: {exc}") from None
    return client


async def ipmi(step: rb.Ipmi, ctx: Context) -> Any:
    client = await _ipmi_session(ctx, step.node, ctx.creds(step))
    try:
        if step.command == "power-status":
            data = await client.call(0x00, 0x01)
            return "on" if data[0] & 1 else "off"
        if step.command == "device-id":
            data = await client.call(0x06, 0x01)
            return {"device_id": data[0], "firmware": f"{data[2] & 0x7F}.{data[3]:02x}"}
        await client.call(0x00, 0x02, bytes([_CHASSIS_CONTROL[step.command]]))
        return step.command
    except IpmiTimeout:
        raise StepFailed(f"{step.node}: the BMC did not answer IPMI (timeout)") from None
    except IpmiError as exc:
        raise StepFailed(f"{step.node}: IPMI {step.command}: {exc}") from None
    finally:
        await client.close()


async def ipmi_credentials(step: rb.IpmiCredentials, ctx: Context) -> Any:
    """Set User Name (45h) and Set User Password (47h, 16-byte form) for ``user-id``."""
    client = await _ipmi_session(ctx, step.node, ctx.creds(step))
    try:
        username = step.new_username or ctx.inventory.username
        password = step.new_password or ctx.inventory.password
        await client.call(0x06, 0x45, bytes([step.user_id]) + username.encode().ljust(16, b"\0"))
        pw = password.encode().ljust(16, b"\0")
        await client.call(0x06, 0x47, bytes([step.user_id, 0x02]) + pw)
        return {"user_id": step.user_id, "username": username}
    except IpmiError as exc:
        raise StepFailed(f"{step.node}: IPMI set user: {exc}") from None
    finally:
        await client.close()


# -- workloads, switches -----------------------------------------------------------------------
async def workload(step: rb.Workload, ctx: Context) -> Any:
    """The node's workload endpoint's answer (a JSON line), or None when it stays silent."""
    access = ctx.node(step.node).workload
    if access is None:
        raise StepFailed(f"{step.node} has no workload endpoint")

    def ask() -> Any:
        import json

        try:
            with socket.create_connection(access, timeout=1.0) as s:
                s.settimeout(1.0)
                data = b""
                while not data.endswith(b"\n"):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        except OSError:
            return None
        return json.loads(data) if data else None

    return await asyncio.to_thread(ask)


async def switch_cli(step: rb.SwitchCli, ctx: Context) -> Any:
    """Commands on the switch's CLI over SSH (issue 11): one exec request each (their outputs),
    or with ``shell`` one interactive session (its transcript; a ``reload`` ends it)."""
    access = ctx.inventory.switches.get(step.switch)
    if access is None or access.ssh is None:
        raise StepFailed(f"{step.switch}: no SSH endpoint known (the switch CLI is issue 11)")
    import asyncssh

    host, port = access.ssh
    user = step.username or access.username or ctx.inventory.username
    password = step.password or access.password or ctx.inventory.password
    try:
        async with asyncssh.connect(
            host,
            port,
            username=user,
            password=password,
            known_hosts=None,
            client_keys=None,
            agent_path=None,
            connect_timeout=ctx.redfish_timeout,
        ) as conn:
            if step.shell:
                return await _cli_shell(conn, step)
            outputs = []
            for command in step.commands:
                result = await conn.run(command, check=False)
                outputs.append(str(result.stdout))
                if result.exit_status:
                    raise StepFailed(
                        f"{step.switch}: {command!r}: "
                        f"{(str(result.stdout) or str(result.stderr)).strip()}",
                        {"stdout": result.stdout, "stderr": result.stderr},
                    )
            return outputs
    except TimeoutError:
        raise StepFailed(
            f"{step.switch}: the switch did not answer SSH at {host}:{port} "
            f"within {ctx.redfish_timeout} s (timeout)"
        ) from None
    except (OSError, asyncssh.Error) as exc:
        raise StepFailed(f"{step.switch}: SSH: {str(exc) or type(exc).__name__}") from None


async def _cli_shell(conn: Any, step: rb.SwitchCli) -> str:
    """Every command typed into one shell; the transcript; a ``% Error`` in it fails the step.
    A connection dropped after ``reload`` was asked for is the reload, not a failure."""
    import asyncssh

    lines = [*step.commands, "exit", "exit", "exit"]
    try:
        async with conn.create_process() as proc:
            proc.stdin.write("".join(f"{line}\n" for line in lines))
            proc.stdin.write_eof()
            transcript = str(await proc.stdout.read())
    except (asyncssh.Error, ConnectionError):
        if "reload" not in step.commands:
            raise
        transcript = "(the connection closed: the switch reloads)"
    errors = [
        line[line.index("% Error") :].strip()
        for line in transcript.splitlines()
        if "% Error" in line
    ]
    if errors:
        raise StepFailed(f"{step.switch}: {'; '.join(errors)}", transcript)
    return transcript


async def snmp_get(step: rb.SnmpGet, ctx: Context) -> Any:
    access = ctx.inventory.switches.get(step.switch)
    if access is None or access.snmp is None:
        raise StepFailed(f"{step.switch}: no SNMP endpoint known")
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        get_cmd,
    )

    target = await UdpTransportTarget.create(access.snmp, timeout=1, retries=1)
    err, status_, _, binds = await get_cmd(
        SnmpEngine(),
        CommunityData("public", mpModel=1),
        target,
        ContextData(),
        ObjectType(ObjectIdentity(step.oid)),
    )
    if err:
        raise StepFailed(f"{step.switch}: SNMP get {step.oid}: {err}")
    if status_:
        raise StepFailed(f"{step.switch}: SNMP get {step.oid}: {status_.prettyPrint()}")
    return binds[0][1].prettyPrint()


async def snmp_traps(step: rb.SnmpTraps, ctx: Context) -> Any:
    from emulator.controller.traps import NAMES

    receiver = ctx.inventory.traps
    if receiver is None:
        raise StepFailed("no SNMP trap receiver: the rack was not started with the controller's")
    source = None
    if step.switch is not None:
        access = ctx.inventory.switches.get(step.switch)
        if access is None or access.snmp is None:
            raise StepFailed(f"{step.switch}: no SNMP endpoint known")
        source = access.snmp[0]
    oid = NAMES.get(step.trap, step.trap) if step.trap else None
    await asyncio.sleep(0.05)  # the datagrams of the emulated instant just gone
    return [
        t.as_dict()
        for t in receiver.traps()
        if (source is None or t.source == source) and (oid is None or t.trap == oid)
    ]


async def publish(step: rb.Publish, ctx: Context) -> Any:
    if "/" in step.file or step.file.startswith("."):
        raise StepFailed(f"publish: {step.file!r} is not a plain file name")
    text = step.content if isinstance(step.content, str) else "\n".join(step.content)
    return ctx.images.add(step.file, text.encode())


# -- the controller's file server, comparisons ------------------------------------------------
async def serve_file(step: rb.ServeFile, ctx: Context) -> Any:
    """A saved text (a configuration backup) on the controller's server, as the HLH keeps it;
    output: its ``url`` and the ``server``'s."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", step.file):
        raise StepFailed(f"serve-file: {step.file!r} is not a plain file name")
    url = ctx.images.add(step.file, step.content.encode("utf-8"))
    return {"url": url, "server": ctx.images.url}


async def serve_image(step: rb.ServeImage, ctx: Context) -> Any:
    """An image as ``scaleunit firmware make`` builds it (corrupt: fails verification)."""
    bad = step.corrupt is True or str(step.corrupt).lower() in ("true", "yes", "1")
    return ctx.images.image_url(step.component, step.model, step.version, bad=bad)


def _lines(value: Any, ignore: str | None) -> list[str]:
    text = "\n".join(map(str, value)) if isinstance(value, list) else str(value)
    if ignore is not None:
        text = re.sub(ignore, " ", text)
    return [line.rstrip() for line in text.strip().splitlines()]


async def compare(step: rb.Compare, ctx: Context) -> Any:
    """``equal``: the texts line by line (a unified diff is the evidence); ``greater``: numbers."""
    if step.op == "greater":
        try:
            above = float(step.actual) > float(step.expected)
        except (TypeError, ValueError):
            raise StepFailed(
                f"{step.what}: {step.actual!r} or {step.expected!r} is no number"
            ) from None
        if not above:
            raise StepFailed(f"{step.what}: {step.actual} is not above {step.expected}")
        return {"actual": step.actual, "expected": step.expected}
    got, wanted = _lines(step.actual, step.ignore), _lines(step.expected, step.ignore)
    if got == wanted:
        return {"equal": True, "lines": len(got)}
    diff = list(difflib.unified_diff(wanted, got, "expected", "actual", lineterm="", n=0))
    changed = [d for d in diff[2:] if d[:1] in "+-"]
    raise StepFailed(
        f"{step.what} differs from what was expected in {len(changed)} line(s), first: "
        f"{changed[0] if changed else '?'}",
        "\n".join(diff[:200]),
    )


STEPS: dict[str, Callable[[Any, Context], Awaitable[Any]]] = {
    "wait": wait,
    "status": status,
    "node-status": node_status,
    "node-action": node_action,
    "fault-inject": fault_inject,
    "fault-clear": fault_clear,
    "replace-part": replace_part,
    "replace-node": replace_node,
    "replace-switch": replace_switch,
    "alerts": alerts,
    "alert-close": alert_close,
    "redfish": redfish,
    "redfish-inventory": redfish_inventory,
    "redfish-update": redfish_update,
    "redfish-level": redfish_level,
    "redfish-credentials": redfish_credentials,
    "ipmi": ipmi,
    "ipmi-credentials": ipmi_credentials,
    "workload": workload,
    "firmware-plan": firmware_plan,
    "switch-cli": switch_cli,
    "snmp-get": snmp_get,
    "snmp-traps": snmp_traps,
    "publish": publish,
    "serve-file": serve_file,
    "serve-image": serve_image,
    "compare": compare,
}

"""Runbooks: YAML files (``scenarios/*.yaml``) loaded into pydantic models.

The shape is Chaos Toolkit's (a steady state, a method, rollbacks) plus what its users ask for::

    title: Node repair            # required
    description: ...
    tags: [node]
    variables: {node: n02}        # ${node} anywhere in a step; --var node=n03 overrides
    safeguards:                   # checked continuously; a breach interrupts the run
      - {kind: max-out-of-service, limit: 1}
      - {kind: scale-unit-never, state: requires-remediation}
      - {kind: bmc-answers, node: n01}
    steady-state:                 # probes, each with a tolerance, before and after the method
      - {name: su running, kind: status, expect: {jsonpath: "$.scale_unit", value: running}}
    method:                       # the recovery phases of the seed document, each with its RTO
      - phase: initial triage
        rto: 15m
        steps:
          - name: drain
            kind: node-action
            node: ${node}
            action: drain
            timeout: 5m
            retry: {count: 2, backoff: 30s}
            wait-until: {expect: {jsonpath: "$.status", value: maintenance}, every: 30s}
            save-as: drained
            rollback: {kind: node-action, node: ${node}, action: resume}
    rollbacks: [...]              # run after the steps' own rollbacks, in order

Step kinds are a closed registry: a pydantic discriminated union on ``kind`` (the classes below,
one async function each in :mod:`emulator.controller.steps`). An unknown kind, a missing or
misspelt field, a bad tolerance: a :class:`RunbookError` naming file, line and key.
"""

from __future__ import annotations

import difflib
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    ValidationError,
)
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from emulator.controller.tolerance import Regex, Tolerance
from emulator.errors import ScaleunitError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(v: Any) -> float:
    """``90``, ``"90s"``, ``"5m"``, ``"3h"``, ``"1.5d"`` -> seconds."""
    if isinstance(v, bool):
        raise ValueError("a duration is a number of seconds or text like 30s, 5m, 3h")
    if isinstance(v, int | float):
        if v < 0:
            raise ValueError("a duration is not negative")
        return float(v)
    m = _DURATION.match(str(v))
    if not m:
        raise ValueError(f"{v!r} is not a duration (like 30s, 5m, 3h or a number of seconds)")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


Duration = Annotated[float, BeforeValidator(parse_duration)]


class RunbookError(ScaleunitError):
    """A runbook that cannot be loaded; ``problems`` are (file, line, key, message)."""

    def __init__(self, problems: list[tuple[str, int | None, str, str]]) -> None:
        self.problems = problems
        lines = [
            f"{file}:{line or '?'}: {key + ': ' if key else ''}{msg}"
            for file, line, key, msg in problems
        ]
        super().__init__("\n".join(lines))


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        alias_generator=lambda name: name.replace("_", "-"),
    )


class Retry(_Model):
    count: int = Field(0, ge=0, le=100, description="attempts after the first")
    backoff: Duration = Field(10.0, description="emulated seconds between attempts (doubling)")


class WaitUntil(_Model):
    expect: Tolerance
    every: Duration = Field(30.0, gt=0, description="emulated seconds between polls")


# -- step kinds -------------------------------------------------------------------------------
#: Steps nested in a step: validated as :class:`Step`, kept as the step models themselves.
if TYPE_CHECKING:
    Steps = list["StepBase"]
else:
    Steps = Annotated[list["Step"], AfterValidator(lambda v: _unwrap(v))]


class StepBase(_Model):
    name: str = ""
    timeout: Duration | None = Field(None, gt=0, description="emulated seconds (default: none)")
    retry: Retry = Retry()
    wait_until: WaitUntil | None = None
    expect: Tolerance | None = None
    save_as: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    select: str | None = Field(None, description="a JSONPath: the output becomes its matches")
    fails_with: Regex | None = Field(
        None, description="a regex: the step must fail, with a reason that matches it"
    )
    rollback: Steps = Field(default_factory=list)
    #: Run when the step fails (after its retries): the documented "if that fails, ..."; the
    #: step counts as recovered when they all succeed.
    fallback: Steps = Field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or self.kind  # type: ignore[attr-defined]


class Wait(StepBase):
    kind: Literal["wait"]
    for_: Duration = Field(alias="for")


class Status(StepBase):
    kind: Literal["status"]


class NodeStatus(StepBase):
    kind: Literal["node-status"]
    node: str


class NodeAction(StepBase):
    kind: Literal["node-action"]
    node: str
    action: Literal["drain", "resume", "stop", "start", "shutdown", "repair", "add"]
    bmc_address: str | None = None


class FaultInject(StepBase):
    kind: Literal["fault-inject"]
    device: str
    fault: str
    part: str | None = None
    version: str | None = None


class FaultClear(StepBase):
    kind: Literal["fault-clear"]
    id: str


class ReplacePart(StepBase):
    kind: Literal["replace-part"]
    node: str
    part: str
    target: str


class ReplaceNode(StepBase):
    kind: Literal["replace-node"]
    node: str
    serial: str | None = None
    firmware: dict[str, str] | None = None
    cpu_model: str | None = None  # the delivered node's processor, when not the topology's


class ReplaceSwitch(StepBase):
    kind: Literal["replace-switch"]
    switch: str
    serial: str | None = None


class Alerts(StepBase):
    kind: Literal["alerts"]
    open_only: bool = True


class AlertClose(StepBase):
    kind: Literal["alert-close"]
    id: str


class Credentials(_Model):
    username: str | None = None
    password: str | None = None


class Redfish(StepBase, Credentials):
    kind: Literal["redfish"]
    node: str
    method: Literal["GET", "POST", "PATCH", "DELETE"] = "GET"
    path: str = "/redfish/v1"
    body: dict[str, Any] | None = None


class RedfishInventory(StepBase, Credentials):
    kind: Literal["redfish-inventory"]
    node: str


class RedfishUpdate(StepBase, Credentials):
    kind: Literal["redfish-update"]
    node: str
    component: str
    version: str
    transfer: Literal["pull", "push"] = "pull"
    apply_time: Literal["Immediate", "OnReset"] = "OnReset"
    corrupt: bool = Field(False, description="serve an image whose payload fails verification")


class RedfishLevel(StepBase, Credentials):
    kind: Literal["redfish-level"]
    node: str
    baseline: dict[str, str] | str = Field(description="component: version, or ${baseline}")
    corrupt: list[str] | str = Field(default_factory=list, description="components to corrupt")


class RedfishCredentials(StepBase, Credentials):
    kind: Literal["redfish-credentials"]
    node: str
    new_username: str
    new_password: str


class Ipmi(StepBase, Credentials):
    kind: Literal["ipmi"]
    node: str
    command: Literal[
        "power-status", "power-on", "power-off", "power-cycle", "power-soft", "device-id"
    ]


class IpmiCredentials(StepBase, Credentials):
    kind: Literal["ipmi-credentials"]
    node: str
    user_id: int = Field(2, ge=1, le=15)
    new_username: str | None = Field(None, max_length=16, description="default: the rack's")
    new_password: str | None = Field(None, max_length=16, description="default: the rack's")


class Workload(StepBase):
    kind: Literal["workload"]
    node: str


class FirmwarePlan(StepBase, Credentials):
    kind: Literal["firmware-plan"]
    baseline: dict[str, str] | str
    nodes: list[str] | str | None = None
    #: switches whose OS (SNMP entPhysicalSoftwareRev) is compared with the baseline's switch-os
    switches: list[str] | str | None = None


class SwitchCli(StepBase):
    """The switch's CLI over SSH (issue 11's OS10-style grammar)."""

    kind: Literal["switch-cli"]
    switch: str
    commands: list[str] = Field(min_length=1)
    username: str | None = None
    password: str | None = None
    #: One interactive session for every command (configure terminal ..., reload + yes), its
    #: transcript the output; else one exec request per command, their outputs a list.
    shell: bool = False


class Publish(StepBase):
    """Put a file on the controller's own HTTP server (a configuration backup, an image):
    the output is its URL, for ``copy http://... running-configuration`` or SimpleUpdate."""

    kind: Literal["publish"]
    file: str = Field(min_length=1, description="a plain file name (no /)")
    content: str | list[str]


class SnmpGet(StepBase):
    kind: Literal["snmp-get"]
    switch: str
    oid: str


class SnmpTraps(StepBase):
    """The SNMPv2c traps the controller's receiver got so far (output: a list of
    {source, trap, oid, varbinds}), from one switch and of one notification if given."""

    kind: Literal["snmp-traps"]
    switch: str | None = None
    trap: str | None = Field(None, description="linkDown, linkUp, ... or an OID")


class ServeFile(StepBase):
    """Serve ``content`` (a saved backup) on the controller's own file server; output: its URL."""

    kind: Literal["serve-file"]
    file: str = Field(min_length=1, description="a plain file name (letters, digits, ._-)")
    content: str


class ServeImage(StepBase):
    """Pack an image (``scaleunit firmware make``'s format) and serve it; output: its URL."""

    kind: Literal["serve-image"]
    component: str = "switch-os"
    model: str
    version: str
    corrupt: bool | str = Field(False, description="the payload fails verification (or ${var})")


class Compare(StepBase):
    """``actual`` against ``expected`` (text line by line, or numbers): ``equal`` or
    ``greater``; ``ignore`` (a regex) is blanked out of both texts first."""

    kind: Literal["compare"]
    actual: Any
    expected: Any
    op: Literal["equal", "greater"] = "equal"
    ignore: Regex | None = None
    what: str = "the output"


class ForEach(StepBase):
    kind: Literal["for-each"]
    items: list[Any] | str
    as_: str = Field(alias="as", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    steps: Steps = Field(min_length=1)


STEP_CLASSES: tuple[type[StepBase], ...] = (
    Wait,
    Status,
    NodeStatus,
    NodeAction,
    FaultInject,
    FaultClear,
    ReplacePart,
    ReplaceNode,
    ReplaceSwitch,
    Alerts,
    AlertClose,
    Redfish,
    RedfishInventory,
    RedfishUpdate,
    RedfishLevel,
    RedfishCredentials,
    Ipmi,
    IpmiCredentials,
    Workload,
    FirmwarePlan,
    SwitchCli,
    Publish,
    SnmpGet,
    SnmpTraps,
    ServeFile,
    ServeImage,
    Compare,
    ForEach,
)
KINDS: dict[str, type[StepBase]] = {
    c.model_fields["kind"].annotation.__args__[0]: c  # type: ignore[union-attr]
    for c in STEP_CLASSES
}


def _kind_of(v: Any) -> str | None:
    kind = v.get("kind") if isinstance(v, dict) else getattr(v, "kind", None)
    return kind if kind in KINDS else None


AnyStep = Annotated[
    Annotated[Wait, Tag("wait")]
    | Annotated[Status, Tag("status")]
    | Annotated[NodeStatus, Tag("node-status")]
    | Annotated[NodeAction, Tag("node-action")]
    | Annotated[FaultInject, Tag("fault-inject")]
    | Annotated[FaultClear, Tag("fault-clear")]
    | Annotated[ReplacePart, Tag("replace-part")]
    | Annotated[ReplaceNode, Tag("replace-node")]
    | Annotated[ReplaceSwitch, Tag("replace-switch")]
    | Annotated[Alerts, Tag("alerts")]
    | Annotated[AlertClose, Tag("alert-close")]
    | Annotated[Redfish, Tag("redfish")]
    | Annotated[RedfishInventory, Tag("redfish-inventory")]
    | Annotated[RedfishUpdate, Tag("redfish-update")]
    | Annotated[RedfishLevel, Tag("redfish-level")]
    | Annotated[RedfishCredentials, Tag("redfish-credentials")]
    | Annotated[Ipmi, Tag("ipmi")]
    | Annotated[IpmiCredentials, Tag("ipmi-credentials")]
    | Annotated[Workload, Tag("workload")]
    | Annotated[FirmwarePlan, Tag("firmware-plan")]
    | Annotated[SwitchCli, Tag("switch-cli")]
    | Annotated[Publish, Tag("publish")]
    | Annotated[SnmpGet, Tag("snmp-get")]
    | Annotated[SnmpTraps, Tag("snmp-traps")]
    | Annotated[ServeFile, Tag("serve-file")]
    | Annotated[ServeImage, Tag("serve-image")]
    | Annotated[Compare, Tag("compare")]
    | Annotated[ForEach, Tag("for-each")],
    Discriminator(_kind_of, custom_error_type="unknown_kind", custom_error_message="x"),
]


class Step(RootModel[AnyStep]):
    """One step of any kind: the union as a model of its own, so that steps nested in steps
    (rollback, fallback, for-each) refer to it instead of rebuilding the union each time."""


def _unwrap(steps: list[Any]) -> list[Any]:
    return [s.root if isinstance(s, Step) else s for s in steps]


StepBase.model_rebuild()
for _cls in STEP_CLASSES:
    _cls.model_rebuild()


# -- safeguards -------------------------------------------------------------------------------
class MaxOutOfService(_Model):
    """Never more than ``limit`` nodes out of service (not Running, or powered off)."""

    kind: Literal["max-out-of-service"]
    limit: int = Field(1, ge=0)


class ScaleUnitNever(_Model):
    """The scale unit never enters ``state`` (Requires Remediation)."""

    kind: Literal["scale-unit-never"]
    state: str = "requires-remediation"


class BmcAnswers(_Model):
    """The given node's BMC answers."""

    kind: Literal["bmc-answers"]
    node: str


Safeguard = Annotated[MaxOutOfService | ScaleUnitNever | BmcAnswers, Field(discriminator="kind")]

PHASES = ("initial triage", "hardware restoration", "validation and hand-off")


class Phase(_Model):
    phase: Literal["initial triage", "hardware restoration", "validation and hand-off"]
    #: A part of the phase with an RTO of its own (rack restoration: switch configurations,
    #: BMC credentials, firmware, hardware checks); the journal and report show it.
    name: str = ""
    rto: Duration = Field(gt=0, description="the recovery time objective of the phase")
    steps: list[AnyStep] = Field(min_length=1)


class Runbook(_Model):
    title: str = Field(min_length=1)
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    variables: dict[str, Any] = Field(default_factory=dict)
    safeguards: list[Safeguard] = Field(default_factory=list)
    steady_state: list[AnyStep] = Field(default_factory=list)
    method: list[Phase] = Field(min_length=1)
    rollbacks: list[AnyStep] = Field(default_factory=list)


# -- loading ----------------------------------------------------------------------------------
Loc = tuple[int | str, ...]


def _line_of(tree: Any, loc: Loc) -> int | None:
    """The 1-based line of the deepest part of ``loc`` found in a ruamel round-trip tree."""
    node, line = tree, None
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    if line is None and isinstance(tree, CommentedMap):
        line = tree.lc.line + 1
    return line


def _data_loc(tree: Any, loc: Loc) -> tuple[Loc, Any]:
    """Pydantic's loc without the union's tags (``method.0.steps.1.node-action.node``), and the
    data node it reaches."""
    out: list[int | str] = []
    node = tree
    for part in loc:
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            out.append(part)
            node = node[part]  # type: ignore[index]
        elif (isinstance(node, dict) and not out) or (isinstance(part, str) and part in KINDS):
            continue  # a discriminator tag
        else:
            out.append(part)
            node = None
    return tuple(out), node


def _explain(err: Any, tree: Any, loc: Loc) -> tuple[Loc, str]:
    typ = err["type"]
    if typ == "unknown_kind":
        _, node = _data_loc(tree, loc)
        kind = node.get("kind") if isinstance(node, dict) else None
        if kind is None:
            return (*loc, "kind"), f"a step needs a kind; one of: {', '.join(sorted(KINDS))}"
        close = difflib.get_close_matches(str(kind), KINDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (*loc, "kind"), (
            f"unknown step kind {kind!r}{hint}; one of: {', '.join(sorted(KINDS))}"
        )
    if typ == "extra_forbidden":
        return loc, "unknown key (misspelt?)"
    if typ == "missing":
        return loc, "required key is missing"
    if typ == "union_tag_invalid":
        return (*loc, "kind"), f"unknown kind; {err['msg']}"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return loc, msg


def parse_yaml(text: str, file: str) -> Any:
    try:
        return YAML(typ="rt").load(io.StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise RunbookError([(file, line, "", f"not valid YAML: {exc.problem}")]) from None


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def load_text(text: str, file: str = "<runbook>") -> Runbook:
    tree = parse_yaml(text, file)
    if not isinstance(tree, CommentedMap):
        raise RunbookError([(file, 1, "", "a runbook is a YAML mapping (title, method, ...)")])
    data = _plain(tree)
    try:
        return Runbook.model_validate(data)
    except ValidationError as exc:
        problems = []
        seen = set()
        for err in exc.errors():
            loc, _ = _data_loc(data, tuple(err["loc"]))
            loc, msg = _explain(err, data, loc)
            key = ".".join(str(p) for p in loc)
            if (key, msg) in seen:
                continue
            seen.add((key, msg))
            problems.append((file, _line_of(tree, loc), key, msg))
        raise RunbookError(problems) from None


def load(path: str | Path) -> Runbook:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RunbookError([(str(p), None, "", f"cannot read: {exc.strerror}")]) from None
    return load_text(text, str(p))


# -- variables --------------------------------------------------------------------------------
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*)\}")


class UnknownVariable(ScaleunitError):
    pass


def lookup(variables: dict[str, Any], ref: str) -> Any:
    head, *rest = ref.split(".")
    if head not in variables:
        raise UnknownVariable(
            f"unknown variable ${{{ref}}} (known: {', '.join(sorted(variables))})"
        )
    value = variables[head]
    for part in rest:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise UnknownVariable(f"${{{ref}}}: no {part!r} in {head}")
    return value


def substitute(value: Any, variables: dict[str, Any]) -> Any:
    """``${name}`` alone is the variable's value (any type); inside text, its text."""
    if isinstance(value, str):
        whole = _VAR.fullmatch(value)
        if whole:
            return lookup(variables, whole.group(1))
        return _VAR.sub(lambda m: str(lookup(variables, m.group(1))), value)
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    return value


def resolve(step: StepBase, variables: dict[str, Any]) -> StepBase:
    """The step with its variables substituted (not inside nested steps or rollbacks: those are
    resolved when they run)."""
    raw = step.model_dump(
        by_alias=True, exclude={"rollback", "fallback", "steps"}, exclude_none=True
    )
    done = substitute(raw, variables)
    done["rollback"] = step.rollback
    done["fallback"] = step.fallback
    if isinstance(step, ForEach):
        done["steps"] = step.steps
    return type(step).model_validate(done)


def parse_var(text: str) -> tuple[str, Any]:
    """``k=v`` from ``--var``; the value read as YAML (numbers, lists), else text."""
    key, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise ValueError(f"--var {text!r}: expected NAME=VALUE")
    try:
        parsed = YAML(typ="safe").load(value)
    except Exception:
        parsed = value
    return key, value if parsed is None or isinstance(parsed, dict) else parsed

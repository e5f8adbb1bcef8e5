"""The firmware baseline: the versions every node must run for Repair (the portal's "OEM version").

A baseline is a small YAML file, or derived from the topology (for each component, the version
most nodes are given; ties go to the first node's)::

    name: contoso-2408      # optional
    model: CS-2400          # optional: the hardware model it is for
    firmware:               # component: version (bios, bmc, nic, disk, cpld, boot_drive)
      bios: 2.27.0
      bmc: 7.00.00.184

Only the components it names are checked; a version matches only when it is the same string.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from emulator.errors import BaselineError
from emulator.topology import Topology
from nodes.firmware import COMPONENTS
from nodes.spec import Version


@dataclass(frozen=True)
class Drift:
    """A component whose version is not the baseline's."""

    component: str
    found: str | None
    wanted: str

    def __str__(self) -> str:
        return f"{self.component} {self.found or 'missing'} (baseline {self.wanted})"


class Baseline(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("baseline", min_length=1, max_length=64)
    model: str | None = Field(None, description="the hardware model it is for (any when absent)")
    firmware: dict[str, Version] = Field(min_length=1)

    @field_validator("firmware", mode="before")
    @classmethod
    def _versions_are_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for component, version in value.items():
                if isinstance(version, int | float):
                    raise ValueError(
                        f"the version of '{component}' reads as a number: quote it "
                        f"({component}: '{version}')"
                    )
        return value

    @field_validator("firmware")
    @classmethod
    def _known_components(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(COMPONENTS))
        if unknown:
            raise ValueError(
                f"unknown firmware component {unknown[0]!r}: one of {', '.join(COMPONENTS)}"
            )
        return value

    @classmethod
    def from_topology(cls, topology: Topology) -> Baseline:
        """The versions the topology gives most nodes, per component."""
        firmware: dict[str, str] = {}
        for component in COMPONENTS:
            versions = [str(getattr(n.firmware, component)) for n in topology.nodes]
            counts = Counter(versions)
            best = max(counts.values())
            firmware[component] = next(v for v in versions if counts[v] == best)
        models = Counter(n.model for n in topology.nodes)
        model = models.most_common(1)[0][0] if models else None
        return cls(name=f"{topology.name}-topology", model=model, firmware=firmware)

    def drift(self, firmware: dict[str, str]) -> list[Drift]:
        """The components of ``firmware`` (component -> version) that differ from the baseline."""
        return [
            Drift(component, firmware.get(component), wanted)
            for component, wanted in self.firmware.items()
            if firmware.get(component) != wanted
        ]


def load_text(text: str, file: str = "<baseline>") -> Baseline:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        tree = yaml.load(text)
    except YAMLError as exc:
        raise BaselineError(f"{file}: YAML syntax: {exc}") from None
    if not isinstance(tree, CommentedMap):
        raise BaselineError(f"{file}:1: a baseline is a YAML mapping of keys")
    try:
        return Baseline.model_validate(_plain(tree))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            named = re.search(r"'([a-z_]+)'", str(err["msg"]))
            if loc == ("firmware",) and named:  # point at the component's own line
                loc = ("firmware", named.group(1))
            key = ".".join(str(p) for p in loc)
            message = (
                f"unknown key '{loc[-1]}'"
                if err["type"] == "extra_forbidden"
                else str(err["msg"]).removeprefix("Value error, ")
            )
            problems.append(f"{file}:{_line(tree, loc)}: {key}: {message}")
        raise BaselineError("\n".join(problems)) from None


def load(path: str | Path) -> Baseline:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{p}: cannot read: {exc}") from None
    return load_text(text, str(p))


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _line(tree: CommentedMap, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the deepest part of ``loc`` found in the tree."""
    line = tree.lc.line + 1
    node: Any = tree
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        else:
            break
    return int(line)

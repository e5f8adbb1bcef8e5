"""The registries the service speaks: DMTF message registries (Base, Update, TaskEvent,
ResourceEvent) and the privilege registry, loaded once from the files shipped in ``data/``
(copied unchanged from DSP8011 2025.4, BSD-3-Clause, see ``data/registries/LICENSE.md``), and
the service's own OEM registry ``ScaleunitSel`` (the messages of the SEL's LogEntry resources).

Loaded into one immutable :class:`Registries` value at startup and handed down; nothing is
global.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).parent / "data" / "registries"

#: The message registries served under /redfish/v1/Registries, by file name.
MESSAGE_REGISTRY_FILES = (
    "Base.1.22.1.json",
    "Update.1.3.0.json",
    "TaskEvent.1.0.5.json",
    "ResourceEvent.1.4.3.json",
    "ScaleunitSel.1.0.0.json",
)
#: Registries DMTF publishes (the others are the service's own: no public copy).
DMTF_OWNED = "DMTF"
PRIVILEGE_REGISTRY_FILE = "Redfish_1.8.0_PrivilegeRegistry.json"


@dataclass(frozen=True)
class MessageRegistry:
    prefix: str
    version: str
    file_name: str
    raw: bytes
    messages: dict[str, dict[str, Any]]
    owning_entity: str = DMTF_OWNED

    @property
    def publication_uri(self) -> str | None:
        """Where the registry is published outside the service (DMTF's only)."""
        if self.owning_entity != DMTF_OWNED:
            return None
        return f"https://redfish.dmtf.org/registries/{self.file_name}"

    def text(self, key: str, args: tuple[str, ...] = ()) -> str:
        """The message ``key`` with its ``%1``... filled in from ``args``."""
        text: str = self.messages[key]["Message"]
        for i, arg in enumerate(args, start=1):
            text = text.replace(f"%{i}", arg)
        return text

    @property
    def major_minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    def message_id(self, key: str) -> str:
        return f"{self.prefix}.{self.major_minor}.{key}"


@dataclass(frozen=True)
class Registries:
    messages: dict[str, MessageRegistry]
    #: entity -> HTTP method -> alternatives, each a set of privileges that must all be held.
    privileges: dict[str, dict[str, list[frozenset[str]]]] = field(default_factory=dict)

    @property
    def base(self) -> MessageRegistry:
        return self.messages["Base"]

    def required(self, entity: str, method: str) -> list[frozenset[str]]:
        try:
            return self.privileges[entity][method]
        except KeyError:
            raise KeyError(f"the privilege registry has no {method} for {entity}") from None


def load(directory: Path = DATA_DIR) -> Registries:
    messages: dict[str, MessageRegistry] = {}
    for name in MESSAGE_REGISTRY_FILES:
        raw = (directory / name).read_bytes()
        doc = json.loads(raw)
        reg = MessageRegistry(
            prefix=doc["RegistryPrefix"],
            version=doc["RegistryVersion"],
            file_name=name,
            raw=raw,
            messages=doc["Messages"],
            owning_entity=doc.get("OwningEntity", DMTF_OWNED),
        )
        messages[reg.prefix] = reg
    doc = json.loads((directory / PRIVILEGE_REGISTRY_FILE).read_bytes())
    privileges: dict[str, dict[str, list[frozenset[str]]]] = {}
    for mapping in doc["Mappings"]:
        privileges[mapping["Entity"]] = {
            method: [frozenset(alt["Privilege"]) for alt in alternatives]
            for method, alternatives in mapping["OperationMap"].items()
        }
    return Registries(messages=messages, privileges=privileges)

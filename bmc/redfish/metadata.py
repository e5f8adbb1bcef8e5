"""``$metadata`` and the OData service document, built from the schema types the payloads use.

Every ``#Namespace.vX_Y_Z.Type`` recorded by the schema classes becomes an ``edmx:Reference`` to
DMTF's CSDL file for it, including the unversioned and the versioned namespace. Pass the CSDL
directory to :func:`document` to check that every referenced namespace really exists there.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from bmc.redfish.schemas.common import SCHEMA_TYPES

SCHEMA_BASE = "http://redfish.dmtf.org/schemas/v1"
#: Schemas every Redfish $metadata references besides the payload types.
_ALWAYS = {
    "RedfishExtensions": ("RedfishExtensions.v1_0_0",),
    "Resource": ("Resource", "Resource.v1_0_0"),
}
_VERSIONED = re.compile(r"^(?P<file>[A-Za-z]+)\.(?P<ver>v\d+_\d+_\d+)\.[A-Za-z]+$")


class MetadataError(Exception):
    """A schema type references a namespace its CSDL file does not define."""


def references() -> dict[str, tuple[str, ...]]:
    """CSDL file stem -> namespaces to include."""
    out: dict[str, set[str]] = {k: set(v) for k, v in _ALWAYS.items()}
    for qualified in SCHEMA_TYPES:
        m = _VERSIONED.match(qualified)
        if m:
            out.setdefault(m["file"], set()).update({m["file"], f"{m['file']}.{m['ver']}"})
        else:
            stem = qualified.split(".")[0]
            out.setdefault(stem, set()).add(stem)
    return {k: tuple(sorted(v)) for k, v in sorted(out.items())}


def check(csdl_dir: Path) -> None:
    """Raise :class:`MetadataError` unless every referenced namespace is in ``csdl_dir``."""
    problems = []
    for stem, namespaces in references().items():
        path = csdl_dir / f"{stem}_v1.xml"
        if not path.is_file():
            problems.append(f"{path.name}: no such CSDL file")
            continue
        text = path.read_text(encoding="utf-8")
        for ns in namespaces:
            if f'Namespace="{ns}"' not in text:
                problems.append(f"{path.name}: no namespace {ns}")
    if problems:
        raise MetadataError("; ".join(problems))


@lru_cache(maxsize=1)
def _document(key: frozenset[str]) -> bytes:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">',
    ]
    root_ns = "ServiceRoot"
    for stem, namespaces in references().items():
        lines.append(f"  <edmx:Reference Uri={quoteattr(f'{SCHEMA_BASE}/{stem}_v1.xml')}>")
        for ns in namespaces:
            alias = ' Alias="Redfish"' if stem == "RedfishExtensions" else ""
            lines.append(f"    <edmx:Include Namespace={quoteattr(ns)}{alias}/>")
            if stem == "ServiceRoot" and ns != "ServiceRoot":
                root_ns = ns
        lines.append("  </edmx:Reference>")
    lines += [
        "  <edmx:DataServices>",
        '    <Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="Service">',
        f'      <EntityContainer Name="Service" Extends="{root_ns}.ServiceContainer"/>',
        "    </Schema>",
        "  </edmx:DataServices>",
        "</edmx:Edmx>",
    ]
    return ("\n".join(lines) + "\n").encode()


def document() -> bytes:
    return _document(frozenset(SCHEMA_TYPES))


def service_document(v1: str) -> dict[str, Any]:
    singletons = [
        ("Service", f"{v1}/"),
        ("Systems", f"{v1}/Systems"),
        ("Chassis", f"{v1}/Chassis"),
        ("Managers", f"{v1}/Managers"),
        ("SessionService", f"{v1}/SessionService"),
        ("AccountService", f"{v1}/AccountService"),
        ("Registries", f"{v1}/Registries"),
        ("Sessions", f"{v1}/SessionService/Sessions"),
    ]
    return {
        "@odata.context": f"{v1}/$metadata",
        "value": [{"name": n, "kind": "Singleton", "url": u} for n, u in singletons],
    }

"""Query parameters (Redfish spec, "Query parameters"): ``$select``, ``$expand`` and ``only``.

The ASGI front (:mod:`bmc.redfish.app`) parses a GET's query string with :func:`parse` before
the app sees the request, asks the app for the plain resource, then shapes it here: routers never
see a query parameter (except those a route declares it takes itself, such as ``$filter`` on the
SSE stream). The rules kept:

* a parameter that does not start with ``$`` and is not ``only`` is ignored (``excerpt`` too:
  ExcerptQuery is not advertised); any other ``$`` parameter is 501 QueryParameterUnsupported;
* ``$select=A,B/C`` keeps those properties and every ``@odata`` annotation;
* ``$expand=*|.|~`` with an optional ``($levels=n)``, 1 <= n <= :data:`MAX_LEVELS`, replaces
  each reference (an object whose only property is ``@odata.id``) with the resource it names:
  ``.`` those outside ``Links``, ``~`` those inside it, ``*`` both; ``n`` levels deep;
* ``only`` (no value) on a collection with exactly one member answers with that member;
* ``only`` with ``$select`` or ``$expand`` is QueryCombinationInvalid; a malformed value is
  400 QueryParameterValueFormatError; levels beyond the limit QueryParameterOutOfRange.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from bmc.redfish.errors import error

#: The deepest ``$levels`` accepted (ProtocolFeaturesSupported.ExpandQuery.MaxLevels).
MAX_LEVELS = 3

_EXPAND = re.compile(r"^([*.~])(?:\(\$levels=(\d+)\))?$")
_PROPERTY = re.compile(r"^[A-Za-z_@][A-Za-z0-9_.@#]*(?:/[A-Za-z_@][A-Za-z0-9_.@#]*)*$")

Fetch = Callable[[str], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True)
class Query:
    select: tuple[str, ...] = ()
    expand: str = ""  # "", "*", "." or "~"
    levels: int = 1
    only: bool = False

    @property
    def shapes(self) -> bool:
        """Whether the answer is the plain resource reshaped (otherwise it is passed through)."""
        return bool(self.select or self.expand or self.only)


def parse(query_string: str, handled: frozenset[str] = frozenset()) -> Query:
    """The query of a GET; raises :class:`RedfishError` for what the spec says to refuse.

    ``handled`` names the ``$`` parameters the route itself takes (passed through untouched).
    """
    select: tuple[str, ...] = ()
    expand = ""
    levels = 1
    only = False
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        if name in handled:
            continue
        if name == "$select":
            props = tuple(p.strip() for p in value.split(","))
            if not value or not all(_PROPERTY.match(p) for p in props):
                raise error(400, "QueryParameterValueFormatError", value, name)
            select += props
        elif name == "$expand":
            match = _EXPAND.match(value)
            if match is None:
                raise error(400, "QueryParameterValueFormatError", value, name)
            expand = match.group(1)
            levels = int(match.group(2) or 1)
            if not 1 <= levels <= MAX_LEVELS:
                raise error(
                    400, "QueryParameterOutOfRange", str(levels), "$levels", f"1-{MAX_LEVELS}"
                )
        elif name == "only":
            if value:
                raise error(400, "QueryParameterValueFormatError", value, name)
            only = True
        elif name.startswith("$"):
            raise error(501, "QueryParameterUnsupported", name)
    if only and (select or expand):
        raise error(400, "QueryCombinationInvalid")
    return Query(select, expand, levels, only)


def is_collection(doc: dict[str, Any]) -> bool:
    return isinstance(doc.get("Members"), list) and "Members@odata.count" in doc


async def only_member(doc: dict[str, Any], fetch: Fetch) -> dict[str, Any]:
    """The member of a one-member collection, else the collection unchanged."""
    if not is_collection(doc):
        raise error(400, "QueryNotSupportedOnResource")
    members = doc["Members"]
    if len(members) != 1 or not _is_reference(members[0]):
        return doc
    member = await fetch(members[0]["@odata.id"])
    return member if member is not None else doc


def select(doc: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """The properties named (``A/B`` reaches into objects), with every ``@odata`` annotation."""
    out: dict[str, Any] = {k: v for k, v in doc.items() if k.startswith("@odata.")}
    nested: dict[str, list[str]] = {}
    for path in paths:
        head, _, rest = path.partition("/")
        if head not in doc:
            continue
        if rest and isinstance(doc[head], dict):
            nested.setdefault(head, []).append(rest)
        else:
            out[head] = doc[head]
            nested.pop(head, None)
            nested[head] = []  # the whole property: no narrowing below
    for head, rests in nested.items():
        if rests and head not in out:
            out[head] = select(doc[head], tuple(rests))
    return out


def _is_reference(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("@odata.id"), str)


async def expand(doc: dict[str, Any], kind: str, levels: int, fetch: Fetch) -> dict[str, Any]:
    """Replace the references ``kind`` selects with the resources they name, ``levels`` deep."""

    async def walk(value: Any, in_links: bool, depth: int) -> Any:
        if _is_reference(value):
            wanted = kind == "*" or (kind == "~") == in_links
            if not wanted:
                return value
            resource = await fetch(value["@odata.id"])
            if resource is None:
                return value
            if depth > 1:
                return await walk_object(resource, False, depth - 1)
            return resource
        if isinstance(value, dict):
            return await walk_object(value, in_links, depth)
        if isinstance(value, list):
            return [await walk(v, in_links, depth) for v in value]
        return value

    async def walk_object(obj: dict[str, Any], in_links: bool, depth: int) -> dict[str, Any]:
        return {
            k: (v if k.startswith("@") else await walk(v, in_links or k == "Links", depth))
            for k, v in obj.items()
        }

    return await walk_object(doc, False, levels)


async def shape(doc: dict[str, Any], query: Query, fetch: Fetch) -> dict[str, Any]:
    if query.only:
        return await only_member(doc, fetch)
    if query.expand:
        doc = await expand(doc, query.expand, query.levels, fetch)
    if query.select:
        doc = select(doc, query.select)
    return doc

"""Structured logs: one line per event, ``key=value`` pairs, the device and protocol first."""

from __future__ import annotations

import logging
import sys
from typing import Any

from nodes.events import Event

_SECRET_KEYS = {"password", "key", "token", "secret", "community"}


def kv(**fields: Any) -> str:
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        if key in _SECRET_KEYS:
            value = "***"
        text = str(value)
        if not text or any(c.isspace() for c in text) or "=" in text:
            text = '"' + text.replace('"', '\\"') + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


def event_fields(event: Event) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in event.__dataclass_fields__:
        if name in ("device", "at"):
            continue
        value = getattr(event, name)
        if name == "record":
            fields["record_id"] = value.record_id
            fields["message"] = value.message
            continue
        fields[name] = value.value if hasattr(value, "value") else value
    return fields


class EventLogger:
    """Logs every model event as ``node=n03 proto=model event=power.changed old=off ...``."""

    def __init__(self, logger: logging.Logger, switches: set[str]) -> None:
        self._log = logger
        self._switches = switches

    def __call__(self, event: Event) -> None:
        if not self._log.isEnabledFor(logging.INFO):
            return
        kind = "switch" if event.device in self._switches else "node"
        self._log.info(
            kv(**{kind: event.device}, proto="model", event=event.name, **event_fields(event))
        )


def setup(level: str = "info") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )

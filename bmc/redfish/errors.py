"""Redfish errors: one exception, Base-registry messages, and THE table from model errors.

::

    RedfishError                 an HTTP status plus one or more Base-registry messages
     ├── raised by the adapter   (bad JSON, unknown property, no such resource, 401/403, 412)
     └── from_model_error()      nodes.errors.ModelError -> status + message, via MODEL_ERRORS
                                 (looked up through the class hierarchy)

Every error body is ``{"error": {"code", "message", "@Message.ExtendedInfo": [...]}}`` with the
registry's own text, arguments filled in, severity and resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bmc.redfish.registries import MessageRegistry
from bmc.redfish.schemas.common import ErrorBody, ErrorDetail, Message
from emulator.errors import lookup
from nodes.errors import (
    CapacityExceeded,
    InvalidArgument,
    InvalidState,
    ModelError,
    NotFound,
    NotSupported,
    PowerUnavailable,
    ReservationCanceled,
)


@dataclass(frozen=True)
class Msg:
    """A Base message to send: its key, arguments and the properties it is about."""

    key: str
    args: tuple[str, ...] = ()
    related: tuple[str, ...] = ()


@dataclass
class RedfishError(Exception):
    status: int
    messages: Sequence[Msg]
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} " + ", ".join(m.key for m in self.messages)


def error(status: int, key: str, *args: str, related: Sequence[str] = ()) -> RedfishError:
    return RedfishError(status, [Msg(key, tuple(args), tuple(related))])


def render(registry: MessageRegistry, msg: Msg) -> Message:
    entry = registry.messages[msg.key]
    return Message(
        message_id=registry.message_id(msg.key),
        message=registry.text(msg.key, msg.args),
        message_args=list(msg.args),
        message_severity=entry.get("MessageSeverity", entry.get("Severity", "Warning")),
        resolution=entry.get("Resolution"),
        related_properties=[f"#/{p}" for p in msg.related] or None,
    )


def body(registry: MessageRegistry, messages: Sequence[Msg]) -> ErrorBody:
    rendered = [render(registry, m) for m in messages]
    first = (
        rendered[0]
        if len(rendered) == 1
        else render(registry, Msg("GeneralError"))  # several problems: see ExtendedInfo
    )
    return ErrorBody(
        error=ErrorDetail(code=first.message_id, message=first.message, extended_info=rendered)
    )


# -- the one table from model errors -----------------------------------------------------------
@dataclass(frozen=True)
class Context:
    """What the adapter was doing when the model refused: for the message's arguments."""

    resource_type: str = ""
    resource: str = ""
    action: str = ""
    parameter: str = ""
    value: str = ""


_Rule = Callable[[Context], tuple[int, Msg]]


def _invalid_argument(c: Context) -> tuple[int, Msg]:
    if c.action and c.value:  # an action parameter whose value the model refuses
        return 400, Msg("ActionParameterValueConflict", (c.parameter, c.value), (c.parameter,))
    if c.action:
        return 400, Msg("ActionParameterValueError", (c.parameter, c.action))
    return 400, Msg("PropertyValueIncorrect", (c.parameter, c.value), (c.parameter,))


def _not_supported(c: Context) -> tuple[int, Msg]:
    if c.action:
        return 501, Msg("ActionNotSupported", (c.action,))
    return 501, Msg("OperationNotAllowed")


#: Model error class -> its rule, looked up through the class hierarchy
#: (:func:`emulator.errors.lookup`): a subclass without a row takes its parent's.
MODEL_ERRORS: Mapping[type[BaseException], _Rule] = {
    PowerUnavailable: lambda c: (409, Msg("ResourceExhaustion", (c.resource or "power",))),
    InvalidState: lambda c: (409, Msg("ResourceInUse")),
    InvalidArgument: _invalid_argument,
    NotFound: lambda c: (404, Msg("ResourceNotFound", (c.resource_type, c.resource))),
    CapacityExceeded: lambda c: (409, Msg("CreateLimitReachedForResource")),
    ReservationCanceled: lambda c: (409, Msg("ResourceInUse")),
    NotSupported: _not_supported,
    ModelError: lambda c: (500, Msg("GeneralError")),
}


def from_model_error(exc: ModelError, context: Context) -> RedfishError:
    rule = lookup(MODEL_ERRORS, exc)
    if rule is None:  # pragma: no cover - ModelError has a row
        rule = MODEL_ERRORS[ModelError]
    status, msg = rule(context)
    return RedfishError(status, [msg])

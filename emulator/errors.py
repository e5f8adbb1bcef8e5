"""The emulator's errors: one tree with one root, mapped to wire errors by each adapter.

::

    ScaleunitError                 base of every error the emulator (not the model) raises
     ├── TopologyError             a topology file that cannot be used (every problem listed)
     ├── BaselineError             a firmware baseline file that cannot be used
     ├── ComposeError              a topology that does not fit on the compose networks
     ├── StateError                the state directory cannot be used
     │    ├── StateLocked          another process holds it
     │    ├── StateCorrupt         the database fails its integrity check
     │    ├── StateTooNew          written by a newer scaleunit
     │    └── TopologyMismatch     the stored rack is not the topology given
     ├── StartupError              an endpoint could not be started (address, port)
     └── RequestRefused            a request the rack refuses; nothing changed
          ├── Unauthenticated      no credentials, or credentials that are not valid
          ├── UnknownName          no such node, switch, fault, alert or action
          ├── InvalidRequest       a value that is malformed or out of range
          │    └── FaultError      a fault that cannot be injected or cleared
          │         ├── FaultConflict       (also a StateConflict)
          │         ├── FaultTargetMissing  (also an UnknownName)
          │         └── FaultUnsupported    (also an Unsupported)
          ├── StateConflict        valid, but the present state forbids it
          ├── ActionFailed         the action was tried and did not succeed (a BMC silent)
          └── Unsupported          the model does not do this

:func:`refused_by_model` turns a model error met while applying a fault into the fault's own
kind (NotFound -> FaultTargetMissing, InvalidState -> FaultConflict, NotSupported ->
FaultUnsupported, else FaultError), so an adapter reads the class, never ``__cause__``.

The model's own errors (``nodes.errors.ModelError``) form the other tree; an adapter's table
holds rows for both. Each adapter (the control plane, Redfish, IPMI, SNMP) maps errors to its
wire in exactly one table, looked up through the class hierarchy (:func:`lookup`), so a
subclass gets its parent's row unless it has its own. A class with two parents names first
the one whose row it takes (FaultConflict is a StateConflict before an InvalidRequest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from emulator.topology import Problem
    from nodes.errors import ModelError

_V = TypeVar("_V")


def lookup(table: Mapping[type[BaseException], _V], exc: BaseException) -> _V | None:
    """The row of ``table`` for ``exc``: its own class's, else the nearest ancestor's."""
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return None


class ScaleunitError(Exception):
    """Base of every error the emulator raises outside the model."""


class TopologyError(ScaleunitError):
    """A topology file that cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class BaselineError(ScaleunitError, ValueError):
    """A baseline file that cannot be used; the message names the file, line and key."""


class ComposeError(ScaleunitError):
    """A topology that does not fit on the compose networks (``scaleunit compose generate``)."""


class StateError(ScaleunitError):
    """The state directory cannot be used; the message names the file and what to do."""


class StateLocked(StateError):
    """Another process holds the state directory."""


class StateCorrupt(StateError):
    """The state database fails its integrity check."""


class StateTooNew(StateError):
    """The state database was written by a newer scaleunit."""


class TopologyMismatch(StateError):
    """The state directory holds another rack than the topology given."""


class StartupError(ScaleunitError):
    """An endpoint could not be started (address not available, port in use, ...)."""


class RequestRefused(ScaleunitError):
    """A request the rack refuses; the message says why. Nothing changed."""


class Unauthenticated(RequestRefused):
    """No credentials, or credentials that are not valid."""


class UnknownName(RequestRefused):
    """No node, switch, fault, alert, action or part of that name."""


class InvalidRequest(RequestRefused, ValueError):
    """A value that is malformed or out of range."""


class StateConflict(RequestRefused):
    """The request is valid but the present state forbids it."""


class ActionFailed(RequestRefused):
    """The action was tried and did not succeed (a BMC that did not answer, ...)."""


class Unsupported(RequestRefused):
    """The model does not do this."""


class FaultError(InvalidRequest):
    """A fault that cannot be injected or cleared; the message says why. Nothing changed."""


class FaultConflict(StateConflict, FaultError):
    """The request is valid but the present state forbids it: that fault is already active or
    scheduled on that part (or the model already has it: a cable already out, no input left,
    the version already running), or the fault to clear has already ended. The control plane
    answers 409, as for any state conflict; a bad value stays a plain FaultError (400)."""


class FaultTargetMissing(UnknownName, FaultError):
    """The model has no such part or record for the fault (its NotFound)."""


class FaultUnsupported(Unsupported, FaultError):
    """The model does not do what the fault needs (its NotSupported)."""


def refused_by_model(exc: ModelError, message: str) -> FaultError:
    """The fault error for a model's refusal ``exc``, of the kind that says why."""
    # Imported here: the emulator's tree must not load the model (the controller, a client of
    # the rack, imports it).
    from nodes import errors as model

    if isinstance(exc, model.NotFound):
        return FaultTargetMissing(message)
    if isinstance(exc, model.InvalidState):
        return FaultConflict(message)
    if isinstance(exc, model.NotSupported):
        return FaultUnsupported(message)
    return FaultError(message)

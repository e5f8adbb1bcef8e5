"""The control plane's one table from errors to HTTP statuses.

Every error a route lets out is looked up here through its class hierarchy
(:func:`emulator.errors.lookup`): its own class's row, else the nearest ancestor's. The
emulator's refusals (``emulator.errors``) and the model's errors (``nodes.errors``) have rows in
the same table; nothing below the app chooses a status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from emulator import errors
from nodes import errors as model

#: Error class -> HTTP status. A class with two parents takes the row of its first
#: (FaultConflict, a StateConflict and a FaultError, is a 409).
STATUS: Final[Mapping[type[BaseException], int]] = {
    errors.Unauthenticated: 401,
    errors.InvalidRequest: 400,
    errors.UnknownName: 404,
    errors.StateConflict: 409,
    errors.ActionFailed: 502,
    errors.Unsupported: 501,
    errors.RequestRefused: 400,
    model.NotFound: 404,
    model.InvalidArgument: 400,
    model.InvalidState: 409,
    model.NotSupported: 501,
    model.ModelError: 400,
}

#: Every status of the table (the routes' documented error responses, with 422).
STATUSES: Final = tuple(sorted({*STATUS.values(), 422}))


def status_of(exc: BaseException) -> int:
    """The HTTP status of ``exc``: its row in :data:`STATUS` (400 for an error with none)."""
    status = errors.lookup(STATUS, exc)
    return 400 if status is None else status

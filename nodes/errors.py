"""The model's errors: one tree, mapped to wire errors by each protocol adapter.

::

    ModelError
     ├── InvalidState          the command is not possible in the present state
     │    └── PowerUnavailable  no PSU has input power, so the host cannot power on
     ├── InvalidArgument       a parameter is out of range or malformed
     ├── NotFound              no such user, record, sensor or component
     ├── CapacityExceeded      a table or log is full
     ├── ReservationCanceled   a reservation was cancelled by a later change
     └── NotSupported          the model does not do this

Each adapter has exactly one table from these to its wire errors (IPMI completion codes,
Redfish status and Base-registry messages, SNMP error-status).
"""

from __future__ import annotations


class ModelError(Exception):
    """Base of every error a model command raises; the model's state is unchanged."""


class InvalidState(ModelError):
    """The command is not possible in the present state."""


class PowerUnavailable(InvalidState):
    """No power supply has input power."""


class InvalidArgument(ModelError):
    """A parameter is out of range or malformed."""


class NotFound(ModelError):
    """No such user, record, sensor or component."""


class CapacityExceeded(ModelError):
    """A table or a log is full."""


class ReservationCanceled(ModelError):
    """The reservation given is no longer valid."""


class NotSupported(ModelError):
    """The model does not implement this."""

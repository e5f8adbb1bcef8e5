"""Every fault kind, one module per kind or small family. Importing this package registers them
all in :data:`emulator.faults.kind.FAULT_KINDS`; a new kind is a new module here plus its line
below."""

from __future__ import annotations

from emulator.faults.kinds import (  # noqa: F401  (imported to register their kinds)
    bmc,
    bmc_factory_reset,
    cooling,
    drives,
    firmware,
    host_os,
    memory,
    network,
    power,
    switch,
)

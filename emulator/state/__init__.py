"""The rack's state on disk (see ``store`` for how and when it is written, ``providers`` for
what is kept and in which order it comes back)."""

from emulator.errors import StateCorrupt, StateError, StateLocked, StateTooNew, TopologyMismatch
from emulator.state.providers import topology_identity, track_rack
from emulator.state.store import DB_NAME, HistoryRecord, StateStore

__all__ = [
    "DB_NAME",
    "HistoryRecord",
    "StateCorrupt",
    "StateError",
    "StateLocked",
    "StateStore",
    "StateTooNew",
    "TopologyMismatch",
    "topology_identity",
    "track_rack",
]

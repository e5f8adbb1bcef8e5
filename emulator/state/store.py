"""The rack's state on disk: one SQLite database in the state directory, written as events happen.

What it keeps
    Every *provider* registered with :meth:`StateStore.track` (a node, a switch, the cabling, the
    operator's fabric, the fault injector) is a ``snapshot_fn`` returning a JSON-safe value and a
    ``restore_fn`` putting one back. The store keeps the latest snapshot of each, plus an
    append-only, bounded history of the events (class, device, emulated and wall time, fields).

When it writes
    The store is a subscriber of the rack's event bus. For each event it writes, in ONE
    transaction, the snapshots of the providers the event touches (by default the provider whose
    key names ``event.device``) and the event's history row, and commits, all *inside the bus
    callback*. Model commands emit their events synchronously, and the protocol adapters (IPMI,
    Redfish, SNMP, the control plane) reply only after the command returned, so by the time a
    client sees success the change is committed: **acknowledged implies committed**.

Why a process kill loses nothing
    The database runs in WAL mode with ``synchronous=NORMAL``: a commit appends the transaction to
    the ``-wal`` file with ``write(2)`` before ``COMMIT`` returns, without an ``fsync``. The data
    is then in the operating system's page cache, which a ``kill -9`` of the emulator does not
    touch: the next open replays the WAL. Only an operating-system crash or a power cut can lose
    the last commits (``synchronous="FULL"`` fsyncs the WAL at every commit and closes that gap
    too, for a price ``bench/state.py`` measures). A half-written transaction is never visible:
    SQLite's WAL checksums discard it.

Errors (:class:`StateError` and its subclasses) always name the file::

    StateError
     +-- StateLocked         another process holds the state directory
     +-- StateCorrupt        not a SQLite database, not ours, or failing its integrity check
     +-- StateTooNew         written by a newer scaleunit (a higher schema version)
     +-- TopologyMismatch    the state was made for another rack

Not thread-safe: use it from the thread that runs the rack's loop (as every model is).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import fcntl
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from emulator.errors import StateCorrupt, StateError, StateLocked, StateTooNew, TopologyMismatch
from emulator.logs import kv
from nodes.events import Event

log = logging.getLogger("emulator.state")

#: The database file, its lock file, inside the state directory.
DB_NAME: Final = "state.db"
LOCK_NAME: Final = "state.lock"
#: ``PRAGMA application_id``: 'SUNT', so another program's SQLite file is recognised as foreign.
APPLICATION_ID: Final = 0x53554E54
#: The schema this code writes. Add a migration to :data:`MIGRATIONS` to move it on.
SCHEMA_VERSION: Final = 2
#: Events kept in the history table by default (older ones are dropped, oldest first).
DEFAULT_HISTORY_LIMIT: Final = 100_000
#: How many history rows are appended between two trims.
_TRIM_EVERY: Final = 500

_SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE state (
    key TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    at REAL NOT NULL,
    wall REAL NOT NULL
);
CREATE TABLE history (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    device TEXT NOT NULL,
    at REAL NOT NULL,
    wall REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX history_device ON history (device, seq);
"""

#: Version 2: the items of a provider's big list (a node's SEL records), one row each, so that
#: an event writes the records that changed rather than the whole list.
_SCHEMA_V2 = """
CREATE TABLE items (
    key TEXT NOT NULL,
    item_id NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (key, item_id)
) WITHOUT ROWID;
"""

#: ``MIGRATIONS[n]`` takes a database at schema version ``n`` to ``n + 1``.
MIGRATIONS: Final[dict[int, str]] = {0: _SCHEMA_V1, 1: _SCHEMA_V2}


@dataclass(frozen=True)
class HistoryRecord:
    """One event as the history table keeps it."""

    seq: int
    kind: str
    device: str
    at: float
    wall: float
    data: dict[str, Any]


@dataclass
class _ItemChanges:
    upserts: list[tuple[Any, object, str]]
    deletes: list[Any]


@dataclass
class _Provider:
    key: str
    snapshot: Callable[[], Any]
    restore: Callable[[Any], object]
    touched_by: Callable[[Event], bool]
    #: (section, list field, id field): ``snapshot()[section][field]`` is a list of dicts,
    #: each named by ``item[id field]``, kept one row each in the items table.
    items: tuple[str, str, str] | None = None


def _default(value: object) -> object:
    """JSON for what ``json`` does not know: enums by value, sets and tuples as lists, the rest
    as its ``str``."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def dumps(value: object) -> str:
    """Compact JSON with :func:`_default` for enums and other non-JSON values."""
    return json.dumps(value, default=_default, separators=(",", ":"), ensure_ascii=False)


def event_payload(event: Event) -> dict[str, Any]:
    """An event's fields (``dataclasses.asdict``), minus ``device`` and ``at``; anything that
    cannot be copied is taken as its ``str``."""
    try:
        fields = dataclasses.asdict(event)
    except Exception:  # a field that cannot be deep-copied: fall back to the top level
        fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    fields.pop("device", None)
    fields.pop("at", None)
    return fields


class StateStore:
    """``StateStore(state_dir)``: the state database ``state_dir/state.db``, locked for this
    process until :meth:`close`.

    ``fresh=True`` deletes the database first (starting over). ``history_limit`` bounds the
    event history. ``synchronous`` is SQLite's setting ("NORMAL": durable against a process
    kill; "FULL": also against a power cut).

    ``defer`` (the runtime passes ``loop.call_soon``) adds a safety net: what an event touched is
    looked at once more after the callback that emitted it has returned, and written if it
    changed since (a model that changed something after its last event). The guarantee is the
    write in the bus callback; this only narrows the window of a model that breaks the rule.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        fresh: bool = False,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
        synchronous: str = "NORMAL",
        defer: Callable[[Callable[[], None]], object] | None = None,
    ) -> None:
        if history_limit < 1:
            raise ValueError("history_limit must be at least 1")
        if synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / DB_NAME
        self.history_limit = history_limit
        self._providers: dict[str, _Provider] = {}
        #: The JSON last committed for each key: an unchanged snapshot is not written again.
        self._written: dict[str, str] = {}
        #: Per key with items: item id -> (the item object last seen, its committed JSON).
        self._items: dict[str, dict[Any, tuple[object, str]]] = {}
        self._loading = False
        self._pending: list[Event] = []
        self._defer = defer
        self._unsettled: set[str] = set()
        #: Writes the safety net made (each one a model change after its last event).
        self.late_writes = 0
        self._since_trim = 0
        self._closed = False
        #: The keys the last load() restored (empty: a new state).
        self.restored: list[str] = []
        #: Commits made by the bus subscriber (for tests and the benchmark).
        self.commits = 0
        #: Write errors (a full disk, say): logged, counted, the rack keeps running.
        self.errors = 0
        self._lock_fd = self._lock()
        try:
            if fresh:
                self._delete_database()
            self._db = self._open(synchronous.upper())
        except BaseException:
            self._unlock()
            raise

    # -- opening -------------------------------------------------------------------------------
    def _lock(self) -> int:
        try:
            # It holds BMC passwords: the owner's only.
            self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"{self.state_dir}: cannot create the state directory: {exc.strerror}"
            ) from None
        lock_path = self.state_dir / LOCK_NAME
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StateError(f"{lock_path}: cannot open the lock file: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise StateLocked(
                f"{self.state_dir}: the state directory is in use by another scaleunit "
                f"(pid {holder}); stop it, or pass another --state-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        return fd

    def _unlock(self) -> None:
        if self._lock_fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = -1

    def _delete_database(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / (DB_NAME + suffix)).unlink()
        self._written.clear()
        self._items.clear()

    def _open(self, synchronous: str) -> sqlite3.Connection:
        existed = self.path.exists() and self.path.stat().st_size > 0
        try:
            # It holds BMC passwords: the owner's only (SQLite gives -wal and -shm the same).
            # A file already there is not ours to change.
            if not self.path.exists():
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as exc:
            raise StateError(
                f"{self.path}: cannot open the state database: {exc.strerror}"
            ) from None
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StateError(f"{self.path}: cannot open the state database: {exc}") from None
        try:
            db.execute("PRAGMA journal_mode=WAL").fetchone()
            db.execute(f"PRAGMA synchronous={synchronous}")
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            if existed:
                if app_id != APPLICATION_ID:
                    raise StateCorrupt(
                        f"{self.path}: not a scaleunit state database (another program's "
                        "SQLite file); pass another --state-dir, or --fresh to overwrite it"
                    )
                check = db.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    raise StateCorrupt(
                        f"{self.path}: the state database is damaged ({check}); "
                        "pass --fresh to start over, or another --state-dir"
                    )
            else:
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
            self._migrate(db)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StateCorrupt(
                f"{self.path}: not a usable state database ({exc}); "
                "pass --fresh to start over, or another --state-dir"
            ) from None
        except BaseException:
            db.close()
            raise
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StateTooNew(
                f"{self.path}: written by a newer scaleunit (schema {version}, this one knows "
                f"{SCHEMA_VERSION}); upgrade, or pass another --state-dir"
            )
        while version < SCHEMA_VERSION:
            db.execute("BEGIN IMMEDIATE")
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    db.execute(statement)
            version += 1
            db.execute(f"PRAGMA user_version={version}")
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(version),),
            )
            db.execute("COMMIT")

    # -- what is tracked -----------------------------------------------------------------------
    def track(
        self,
        key: str,
        snapshot_fn: Callable[[], Any],
        restore_fn: Callable[[Any], object],
        *,
        touched_by: Callable[[Event], bool] | None = None,
        items: tuple[str, str, str] | None = None,
    ) -> None:
        """Keep ``snapshot_fn()`` under ``key``; :meth:`load` hands it back to ``restore_fn``.

        ``touched_by(event)`` says whether an event may have changed it; by default an event
        whose ``device`` is ``key`` or ends ``key`` after a colon ("node:n01" for device "n01").
        ``items=(section, field, id_field)`` keeps the list ``snapshot()[section][field]``
        (``snapshot()[field]`` when ``section`` is "") one row per item (named by
        ``item[id_field]``): an event writes only the items that are new or changed, and deletes
        those gone. An item equal to the one last written (or the very same object: a provider
        that keeps its items' dicts while they do not change, as ``nodes.sel`` does, costs
        nothing for them) is not encoded again. Items must not be changed in place once
        returned: a changed item is a new dict.
        Providers are restored in the order they were tracked.
        """
        if key in self._providers:
            raise ValueError(f"{key!r} is already tracked")
        if touched_by is None:
            device = key.rsplit(":", 1)[-1]

            def touched_by(event: Event, device: str = device) -> bool:
                return event.device == device

        self._providers[key] = _Provider(key, snapshot_fn, restore_fn, touched_by, items)

    @property
    def keys(self) -> list[str]:
        return list(self._providers)

    # -- the topology the state belongs to ----------------------------------------------------
    def bind_topology(self, identity: dict[str, Any], *, name: str = "") -> None:
        """Record ``identity`` (what makes a rack this rack: node names and serials, switches)
        on first use; on later opens, refuse a different one with :class:`TopologyMismatch`."""
        text = dumps(identity)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'topology'").fetchone()
        if row is None:
            with self._transaction():
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('topology', ?), ('topology_name', ?)",
                    (text, name),
                )
            return
        if row[0] == text:
            return
        stored = json.loads(row[0])
        differences = _differences(stored, identity)
        raise TopologyMismatch(
            f"{self.path}: this state was made for another rack ("
            + "; ".join(differences[:5])
            + (f"; and {len(differences) - 5} more" if len(differences) > 5 else "")
            + "); pass --fresh to start over, or another --state-dir"
        )

    # -- reading back --------------------------------------------------------------------------
    def stored(self, key: str) -> Any | None:
        """The last committed snapshot of ``key`` (None if there is none)."""
        row = self._db.execute("SELECT data FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else self._assemble(key, json.loads(row[0]))

    def _assemble(self, key: str, data: Any) -> Any:
        """A committed snapshot with its items put back in their list (by item id)."""
        provider = self._providers.get(key)
        if provider is None or provider.items is None:
            return data
        section, field, _ = provider.items
        part = data if section == "" else data.get(section) if isinstance(data, dict) else None
        if not isinstance(part, dict):
            return data
        rows = self._db.execute("SELECT item_id, data FROM items WHERE key = ?", (key,)).fetchall()
        rows.sort(key=lambda row: _id_order(row[0]))
        part[field] = [json.loads(text) for _, text in rows]
        return data

    def load(self) -> list[str]:
        """Restore every tracked provider that has a committed snapshot, in tracking order;
        returns their keys. Events the restores cause are committed together at the end (a
        half-restored provider is never written)."""
        rows = dict(self._db.execute("SELECT key, data FROM state").fetchall())
        restored = []
        self._loading = True
        try:
            for key, provider in self._providers.items():
                text = rows.get(key)
                if text is None:
                    continue
                try:
                    data = self._assemble(key, json.loads(text))
                except json.JSONDecodeError as exc:
                    raise StateCorrupt(
                        f"{self.path}: the snapshot of {key} is damaged: {exc}"
                    ) from None
                try:
                    provider.restore(data)
                except StateError:
                    raise
                except Exception as exc:
                    raise StateCorrupt(
                        f"{self.path}: the snapshot of {key} cannot be restored "
                        f"({type(exc).__name__}: {exc}); pass --fresh to start over"
                    ) from exc
                self._written[key] = text
                if provider.items is not None:
                    self._items[key] = {
                        item_id: (json.loads(item_text), item_text)
                        for item_id, item_text in self._db.execute(
                            "SELECT item_id, data FROM items WHERE key = ?", (key,)
                        )
                    }
                restored.append(key)
        finally:
            self._loading = False
            pending, self._pending = self._pending, []
        self._write(pending, list(self._providers))
        log.info(kv(proto="state", event="state.loaded", path=self.path, restored=len(restored)))
        self.restored = restored
        return restored

    def save(self) -> None:
        """Write every tracked provider now (the first start, and a clean shutdown)."""
        self._write([], list(self._providers))

    def history(self, *, device: str | None = None, limit: int = 100) -> list[HistoryRecord]:
        """The last ``limit`` events kept, oldest first (only ``device``'s, if given)."""
        if device is None:
            rows = self._db.execute(
                "SELECT seq, kind, device, at, wall, data FROM history ORDER BY seq DESC LIMIT ?",
                (limit,),
            ).fetchall()
        else:
            rows = self._db.execute(
                "SELECT seq, kind, device, at, wall, data FROM history WHERE device = ? "
                "ORDER BY seq DESC LIMIT ?",
                (device, limit),
            ).fetchall()
        return [
            HistoryRecord(seq, kind, dev, at, wall, json.loads(data))
            for seq, kind, dev, at, wall, data in reversed(rows)
        ]

    def history_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM history").fetchone()[0])

    # -- writing -------------------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        """The bus subscriber: commit what ``event`` touched, and the event, before returning."""
        if self._closed:
            return
        if self._loading:
            self._pending.append(event)
            return
        keys = [p.key for p in self._providers.values() if _touches(p, event)]
        self._write([event], keys)
        if self._defer is not None and keys:
            if not self._unsettled:
                self._defer(self._settle)
            self._unsettled.update(keys)

    def _settle(self) -> None:
        keys, self._unsettled = self._unsettled, set()
        if self._closed or not keys:
            return
        commits = self.commits
        self._write([], [k for k in self._providers if k in keys])
        if self.commits != commits:
            self.late_writes += 1
            log.warning(kv(proto="state", event="state.late-write", keys=",".join(sorted(keys))))

    def _split(self, provider: _Provider, data: Any) -> tuple[Any, _ItemChanges | None]:
        """The snapshot without its items, and which items to write and delete."""
        assert provider.items is not None
        section, field, id_field = provider.items
        part = data if section == "" else data.get(section) if isinstance(data, dict) else None
        if not isinstance(part, dict) or not isinstance(part.get(field), list):
            return data, None
        cache = self._items.setdefault(provider.key, {})
        upserts: list[tuple[Any, object, str]] = []
        seen = set()
        for item in part[field]:
            item_id = item[id_field]
            seen.add(item_id)
            known = cache.get(item_id)
            if known is not None and (known[0] is item or known[0] == item):
                continue
            text = dumps(item)
            if known is not None and known[1] == text:
                cache[item_id] = (item, text)  # the same content, committed already
                continue
            upserts.append((item_id, item, text))
        deletes = [item_id for item_id in cache if item_id not in seen]
        empty = {**part, field: []}
        stripped = empty if section == "" else {**data, section: empty}
        return stripped, _ItemChanges(upserts, deletes)

    def _write(self, events: Iterable[Event], keys: Iterable[str]) -> None:
        changed: list[tuple[str, str]] = []
        item_changes: list[tuple[str, _ItemChanges]] = []
        now = 0.0
        for key in keys:
            provider = self._providers[key]
            try:
                data = provider.snapshot()
                if provider.items is not None:
                    data, items = self._split(provider, data)
                    if items is not None and (items.upserts or items.deletes):
                        item_changes.append((key, items))
                text = dumps(data)
            except Exception as exc:
                self.errors += 1
                log.error(kv(proto="state", event="state.snapshot-failed", key=key, error=exc))
                continue
            if self._written.get(key) != text:
                changed.append((key, text))
        rows = [(type(e).__name__, e.device, e.at, _payload_text(e), e) for e in events]
        if not changed and not rows and not item_changes:
            return
        wall = time.time()
        try:
            with self._transaction():
                for kind, device, at, payload, _ in rows:
                    self._db.execute(
                        "INSERT INTO history (kind, device, at, wall, data) VALUES (?,?,?,?,?)",
                        (kind, device, at, wall, payload),
                    )
                    now = at
                for key, text in changed:
                    self._db.execute(
                        "INSERT INTO state (key, data, at, wall) VALUES (?,?,?,?) "
                        "ON CONFLICT (key) DO UPDATE SET data = excluded.data, "
                        "at = excluded.at, wall = excluded.wall",
                        (key, text, now, wall),
                    )
                for key, items in item_changes:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO items (key, item_id, data) VALUES (?,?,?)",
                        [(key, item_id, text) for item_id, _, text in items.upserts],
                    )
                    self._db.executemany(
                        "DELETE FROM items WHERE key = ? AND item_id = ?",
                        [(key, item_id) for item_id in items.deletes],
                    )
                self._since_trim += len(rows)
                if self._since_trim >= _TRIM_EVERY:
                    self._since_trim = 0
                    self._db.execute(
                        "DELETE FROM history WHERE seq <= (SELECT max(seq) FROM history) - ?",
                        (self.history_limit,),
                    )
        except sqlite3.Error as exc:
            self.errors += 1
            log.error(kv(proto="state", event="state.write-failed", path=self.path, error=exc))
            return
        self.commits += 1
        for key, text in changed:
            self._written[key] = text
        for key, items in item_changes:
            cache = self._items[key]
            for item_id, item, text in items.upserts:
                cache[item_id] = (item, text)
            for item_id in items.deletes:
                del cache[item_id]

    @contextlib.contextmanager
    def _transaction(self) -> Any:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def trim_history(self) -> None:
        """Drop history rows beyond ``history_limit`` now (it is also done as rows come)."""
        with self._transaction():
            self._db.execute(
                "DELETE FROM history WHERE seq <= (SELECT max(seq) FROM history) - ?",
                (self.history_limit,),
            )
        self._since_trim = 0

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: "ok" when the database is sound."""
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        """Checkpoint, close the database and release the state directory."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()
        self._unlock()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _payload_text(event: Event) -> str:
    """The history row's JSON; never an exception into the model that emitted the event."""
    try:
        return dumps(event_payload(event))
    except Exception as exc:
        return dumps({"unencodable": f"{type(exc).__name__}: {exc}"})


def _id_order(item_id: Any) -> tuple[int, float, str]:
    """Items come back in the order of their ids: numbers by value; strings shorter first, then
    by text, so "f-10000" follows "f-9999"."""
    if isinstance(item_id, int | float):
        return (0, float(item_id), "")
    text = str(item_id)
    return (1, float(len(text)), text)


def _touches(provider: _Provider, event: Event) -> bool:
    try:
        return provider.touched_by(event)
    except Exception:
        return False


def _differences(old: Any, new: Any, where: str = "") -> list[str]:
    """What differs between two identities, as "where: old -> new" lines."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{where}.{key}" if where else str(key)
            if key not in old:
                out.append(f"{path}: not in the state, {new[key]!r} in the topology")
            elif key not in new:
                out.append(f"{path}: {old[key]!r} in the state, not in the topology")
            else:
                out.extend(_differences(old[key], new[key], path))
        return out
    if old != new:
        return [f"{where or 'topology'}: {old!r} in the state, {new!r} in the topology"]
    return []

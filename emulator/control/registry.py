"""The running racks of this user, so the CLI finds one without ``--state-dir``.

``scaleunit up`` writes one small JSON file per rack into ``<runtime dir>/racks/`` when its
control plane serves, and removes it when it stops:
``{"pid", "state_dir", "url", "rack", "started"}`` (no token: that stays in the state
directory's ``control.json``, mode 0600). The runtime directory is platformdirs'
``user_runtime_dir("scaleunit")`` (``$XDG_RUNTIME_DIR/scaleunit``, on Linux usually
``/run/user/<uid>/scaleunit``, emptied at logout; platformdirs itself falls back to
``<temp dir>/runtime-<uid>`` when XDG_RUNTIME_DIR is unusable); when that cannot be made or is
not the user's own, ``<temp dir>/scaleunit-<uid>``. Either is made mode 0700 and refused when
another user owns it.

An entry whose process is gone (a rack killed with -9, a reboot) or whose state directory no
longer names that process in ``control.json`` is removed when :func:`running` finds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RackEntry", "register", "registry_dir", "running", "unregister"]

CONTROL_FILE = "control.json"


@dataclass(frozen=True)
class RackEntry:
    """One running rack: its ``up`` process, state directory and control plane URL."""

    pid: int
    state_dir: Path
    url: str
    rack: str
    started: float

    def describe(self) -> str:
        return f"{self.state_dir}  ({self.rack}, pid {self.pid}, {self.url})"


def _private_dir(path: Path) -> Path | None:
    """``path`` made (mode 0700) and owned by this user, else None."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return None
    if not os.access(path, os.W_OK | os.X_OK):
        return None
    return path


def registry_dir() -> Path:
    """Where the entries are (made on first use); OSError when no place is usable."""
    import platformdirs

    with warnings.catch_warnings():  # platformdirs warns when it falls back to the temp dir
        warnings.simplefilter("ignore")
        runtime = platformdirs.user_runtime_dir("scaleunit")
    candidates = [
        Path(runtime),
        Path(tempfile.gettempdir()) / f"scaleunit-{os.getuid()}",
    ]
    for base in candidates:
        usable = _private_dir(base)
        if usable is not None:
            racks = _private_dir(usable / "racks")
            if racks is not None:
                return racks
    raise OSError(f"no usable runtime directory for the rack registry (tried {candidates})")


def _entry_path(state_dir: Path) -> Path:
    key = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:16]
    return registry_dir() / f"{key}.json"


def register(state_dir: Path, url: str, rack: str, pid: int | None = None) -> Path:
    """Record a rack that now serves (written whole, mode 0600); the entry's path."""
    path = _entry_path(state_dir)
    data = {
        "pid": os.getpid() if pid is None else pid,
        "state_dir": str(state_dir.resolve()),
        "url": url,
        "rack": rack,
        "started": time.time(),
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)
    return path


def unregister(state_dir: Path, pid: int | None = None) -> None:
    """Remove the rack's entry, if it is still this process's (another rack may have taken
    the state directory since)."""
    try:
        path = _entry_path(state_dir)
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(data, dict) and data.get("pid") == (os.getpid() if pid is None else pid):
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, though not ours to judge further
    return True


def _serves(entry: RackEntry) -> bool:
    """The process is alive and the state directory's control.json still names it."""
    if not _alive(entry.pid):
        return False
    try:
        control = json.loads((entry.state_dir / CONTROL_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(control, dict) and control.get("pid") == entry.pid


def _read(path: Path) -> RackEntry | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RackEntry(
            pid=int(data["pid"]),
            state_dir=Path(data["state_dir"]),
            url=str(data["url"]),
            rack=str(data.get("rack", "")),
            started=float(data.get("started", 0.0)),
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None


def running() -> list[RackEntry]:
    """The racks that serve now, oldest first; dead or unreadable entries are removed."""
    try:
        directory = registry_dir()
    except OSError:
        return []
    out = []
    for path in sorted(directory.glob("*.json")):
        entry = _read(path)
        if entry is None or not _serves(entry):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        out.append(entry)
    return sorted(out, key=lambda e: (e.started, str(e.state_dir)))

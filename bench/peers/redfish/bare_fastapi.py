"""The ceiling for our stack: FastAPI on uvicorn serving one static JSON body.

    python bench/peers/redfish/bare_fastapi.py --body system.json \\
        --http httptools --loop uvloop --bind 127.0.87.1:18443 [--bind ...]

``GET /redfish/v1/Systems/{system_id}`` answers the bytes of ``--body`` (bench/redfish.py
writes our n01 ComputerSystem there, so the size is the same) with the same content type;
nothing else: no auth, no model, no middleware. One uvicorn server serves every ``--bind``
socket on one loop, as ``scaleunit up`` does for its BMCs. ``--http h11 --loop asyncio`` is
uvicorn's pure-Python stack, ``--http httptools --loop uvloop`` the C one (ours uses both).
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response

JSON = "application/json; charset=utf-8"


def build_app(body: bytes) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/redfish/v1/Systems/{system_id}")
    async def system(system_id: str) -> Response:
        return Response(body, media_type=JSON)

    return app


def bind(spec: str) -> socket.socket:
    host, _, port = spec.rpartition(":")
    # proto=IPPROTO_TCP, not the default 0: asyncio's transports set TCP_NODELAY only on
    # sockets whose proto says TCP (base_events._set_nodelay), and accepted sockets inherit
    # it; with 0, Nagle + delayed ACK add ~40 ms to every response written in two parts
    # (uvicorn writes headers and body separately). uvloop sets TCP_NODELAY regardless.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--body", type=Path, required=True, help="file whose bytes every GET returns")
    p.add_argument("--bind", action="append", required=True, help="ADDRESS:PORT (repeatable)")
    p.add_argument("--http", choices=("h11", "httptools"), default="httptools")
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    args = p.parse_args()
    sockets = [bind(b) for b in args.bind]
    config = uvicorn.Config(
        build_app(args.body.read_bytes()),
        http=args.http,
        loop=args.loop,
        lifespan="off",
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_keep_alive=30,
    )
    uvicorn.Server(config).run(sockets=sockets)


if __name__ == "__main__":
    main()

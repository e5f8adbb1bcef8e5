"""Serve pyghmi's stock ``FakeBmc`` on chosen loopback addresses.

``pyghmi/cmd/fakebmc.py`` only takes ``--port`` and binds ``::`` (every address), so two
instances cannot share a port and the bench could not give each BMC its own 127.0.x.y.
This launcher reuses that exact ``FakeBmc`` class and only changes the bind address.

    python bench/peers/fakebmc_serve.py --user admin --password password \
        --bind 127.0.11.1:16230 [--bind 127.0.11.2:16230 ...]

One ``--bind`` serves one BMC; several ``--bind`` serve several BMCs from one process
(pyghmi drives every ``Bmc`` of a process from the single ``listen()`` loop).
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

import pyghmi.ipmi.bmc as bmc
from pyghmi.cmd.fakebmc import FakeBmc


class BoundFakeBmc(FakeBmc):  # type: ignore[misc]  # pyghmi is untyped
    """``FakeBmc`` with the bind address that its constructor does not pass through."""

    def __init__(self, authdata: dict[str, str], port: int, address: str) -> None:
        bmc.Bmc.__init__(self, authdata, port, address=address)
        # Same initial state as FakeBmc.__init__.
        self.powerstate = "off"
        self.bootdevice = "default"


def _bind(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not ipaddress.ip_address(host).is_loopback:
        raise argparse.ArgumentTypeError(f"{host} is not a loopback address")
    return host, int(port)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", type=_bind, action="append", required=True)
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default="password")
    args = parser.parse_args()
    for host, port in args.bind:
        BoundFakeBmc({args.user: args.password}, port, host)
    print("ready", flush=True)
    BoundFakeBmc.listen()
    return 0


if __name__ == "__main__":
    sys.exit(main())

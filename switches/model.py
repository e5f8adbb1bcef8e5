"""A switch as a protocol-free model: ports whose link state follows what is cabled to them."""

from __future__ import annotations

from dataclasses import dataclass, field

from nodes.clock import Clock
from nodes.events import EventSink, LinkChanged
from switches.spec import SwitchSpec


@dataclass
class Port:
    name: str
    speed_gbps: int
    peer: str = ""  # "device:port" at the other end of the cable, "" when nothing is cabled
    admin_up: bool = True
    peer_up: bool = False  # whether the far end drives the link
    changed_at: float = 0.0
    alias: str = field(default="")

    @property
    def oper_up(self) -> bool:
        return self.admin_up and self.peer_up and bool(self.peer)


class Switch:
    def __init__(self, spec: SwitchSpec, clock: Clock, emit: EventSink) -> None:
        self.spec = spec
        self.name = spec.name
        self._clock = clock
        self._emit = emit
        now = clock.now()
        self.ports: dict[str, Port] = {
            name: Port(name, spec.port_speed_gbps, changed_at=now) for name in spec.port_names()
        }

    def cable(self, port: str, peer: str, alias: str = "") -> None:
        self.ports[port].peer = peer
        self.ports[port].alias = alias

    def set_peer_link(self, port: str, up: bool) -> list[LinkChanged]:
        """The far end of ``port`` brought its side of the link up or down."""
        p = self.ports[port]
        before = p.oper_up
        p.peer_up = up
        return self._changed(p, before)

    def _changed(self, p: Port, before: bool) -> list[LinkChanged]:
        if p.oper_up == before:
            return []
        p.changed_at = self._clock.now()
        event = LinkChanged(
            device=self.name, at=p.changed_at, port=p.name, up=p.oper_up, peer=p.peer
        )
        self._emit(event)
        return [event]

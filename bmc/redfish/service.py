"""Per-BMC Redfish state that the node model does not hold: sessions, login failures, lockout.

One :class:`BmcService` per node; a :class:`Directory` finds it from the local address a
connection came to (``scope["server"]``). Time is the node's clock, so an idle session expires and
a lockout ends in emulated time, like everything else the BMC does.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nodes.events import EventSink
from nodes.node import Node
from nodes.users import Privilege, User

if TYPE_CHECKING:
    from bmc.redfish.events import EventChannel

log = logging.getLogger("bmc.redfish")

#: Redfish roles and the privileges each holds (Redfish spec, "Roles").
ROLE_PRIVILEGES: dict[str, frozenset[str]] = {
    "Administrator": frozenset(
        {"Login", "ConfigureManager", "ConfigureUsers", "ConfigureSelf", "ConfigureComponents"}
    ),
    "Operator": frozenset({"Login", "ConfigureSelf", "ConfigureComponents"}),
    "ReadOnly": frozenset({"Login", "ConfigureSelf"}),
    "NoAccess": frozenset(),
}

#: IPMI privilege -> Redfish role.
_ROLE_OF = {
    Privilege.ADMINISTRATOR: "Administrator",
    Privilege.OEM: "Administrator",
    Privilege.OPERATOR: "Operator",
    Privilege.USER: "ReadOnly",
    Privilege.CALLBACK: "NoAccess",
    Privilege.NO_ACCESS: "NoAccess",
}
_PRIVILEGE_OF = {
    "Administrator": Privilege.ADMINISTRATOR,
    "Operator": Privilege.OPERATOR,
    "ReadOnly": Privilege.USER,
    "NoAccess": Privilege.NO_ACCESS,
}


def role_of(privilege: Privilege) -> str:
    return _ROLE_OF.get(privilege, "NoAccess")


def privilege_of(role: str) -> Privilege:
    return _PRIVILEGE_OF[role]


@dataclass(frozen=True)
class Principal:
    """Who sent a request."""

    user_id: int
    username: str
    role: str
    session_id: str | None = None
    #: The account must set a new password before anything else.
    password_change_required: bool = False

    @property
    def privileges(self) -> frozenset[str]:
        return ROLE_PRIVILEGES[self.role]

    @property
    def account_uri(self) -> str:
        return f"/redfish/v1/AccountService/Accounts/{self.user_id}"


@dataclass
class Session:
    id: str
    token: str
    user_id: int
    username: str
    created: float
    last_used: float


class LoginRefused(Exception):
    """Wrong user or password, a disabled or locked account; never says which."""


@dataclass
class BmcService:
    node: Node
    address: str
    port: int
    scheme: str
    #: Whether the BMC answers on the network at all (its firmware is up, its cable is live).
    reachable: Callable[[], bool]
    #: Whether the network delivers the BMC's packets (its switch and port are up); when it does
    #: not, connections hang rather than fail (see bmc.redfish.server).
    path_up: Callable[[], bool] = lambda: True
    ipmi_port: int | None = None
    session_timeout_s: int = 1800
    max_sessions: int = 64
    #: The shortest password Redfish accepts (IPMI's longest, 20, is the model's).
    min_password_length: int = 8
    sessions: dict[str, Session] = field(default_factory=dict)
    _by_token: dict[str, str] = field(default_factory=dict)
    _next_session: int = 1
    #: Subscribes to the rack's events.
    subscribe: Callable[[EventSink], Callable[[], None]] | None = None
    #: The BMC's EventService (subscriptions, SSE); None where nothing feeds it events.
    events: EventChannel | None = None

    @property
    def name(self) -> str:
        return self.node.name

    def now(self) -> float:
        return self.node.clock.now()

    def log_action(self, event: str, who: Principal, **fields: object) -> None:
        extra = " ".join(f"{k}={v}" for k, v in fields.items())
        log.info("node=%s proto=redfish event=%s user=%s %s", self.name, event, who.username, extra)

    # -- accounts ------------------------------------------------------------------------------
    def named_users(self) -> list[User]:
        return [u for u in self.node.users.all() if u.name]

    def principal_for(self, user: User, session_id: str | None = None) -> Principal:
        return Principal(
            user.user_id,
            user.name,
            role_of(user.privilege),
            session_id,
            user.password_change_required,
        )

    def login(self, username: str, password: str) -> Principal:
        """Check a user name and password; the model counts failures towards the lockout."""
        users = self.node.users
        known = users.by_name(username)
        locked = known is not None and users.locked(known.user_id)
        user = users.authenticate(username, password)
        if user is None or role_of(user.privilege) == "NoAccess":
            log.info(
                "node=%s proto=redfish event=login.failed user=%s reason=%s",
                self.name,
                username,
                "locked" if locked else "refused",
            )
            raise LoginRefused
        return self.principal_for(user)

    # -- sessions ------------------------------------------------------------------------------
    def open_session(self, principal: Principal) -> Session:
        self.expire_sessions()
        if len(self.sessions) >= self.max_sessions:
            raise OverflowError
        now = self.now()
        sid = f"{self._next_session}"
        self._next_session += 1
        session = Session(
            sid, secrets.token_hex(32), principal.user_id, principal.username, now, now
        )
        self.sessions[sid] = session
        self._by_token[session.token] = sid
        log.info(
            "node=%s proto=redfish event=session.opened user=%s session=%s",
            self.name,
            session.username,
            sid,
        )
        return session

    def session_for(self, token: str) -> Session | None:
        sid = self._by_token.get(token)
        session = self.sessions.get(sid) if sid is not None else None
        if session is None:
            return None
        now = self.now()
        if now - session.last_used > self.session_timeout_s:
            self.close_session(session.id, reason="idle")
            return None
        session.last_used = now
        return session

    def close_session(self, sid: str, reason: str = "logout") -> None:
        session = self.sessions.pop(sid, None)
        if session is not None:
            self._by_token.pop(session.token, None)
            log.info(
                "node=%s proto=redfish event=session.closed user=%s session=%s reason=%s",
                self.name,
                session.username,
                sid,
                reason,
            )

    def close_sessions_of(self, user_id: int) -> None:
        for sid in [s.id for s in self.sessions.values() if s.user_id == user_id]:
            self.close_session(sid, reason="account-changed")

    def drop_sessions(self) -> None:
        for sid in list(self.sessions):
            self.close_session(sid, reason="bmc-reset")

    def expire_sessions(self) -> None:
        now = self.now()
        for s in list(self.sessions.values()):
            if now - s.last_used > self.session_timeout_s:
                self.close_session(s.id, reason="idle")


class Directory:
    """Every BMC served by one server, found by the local address a connection came to."""

    def __init__(self, services: Iterable[BmcService] = ()) -> None:
        self._by_address: dict[tuple[str, int], BmcService] = {}
        self._by_name: dict[str, BmcService] = {}
        for s in services:
            self.add(s)

    def add(self, service: BmcService) -> None:
        self._by_address[(service.address, service.port)] = service
        self._by_name[service.name] = service

    def at(self, address: str, port: int) -> BmcService | None:
        return self._by_address.get((address, port))

    def by_name(self, name: str) -> BmcService | None:
        return self._by_name.get(name)

    def __iter__(self) -> Iterator[BmcService]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

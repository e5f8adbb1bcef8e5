"""BMC users: a fixed table of slots, as on every IPMI BMC.

Slot 1 is the anonymous (null-name) user, disabled. Names are at most 16 bytes and passwords at
most 20 (IPMI 2.0). Privileges are IPMI's levels; Redfish maps them to roles. The table never
reveals a password except to the session layer that needs it as an HMAC key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum

from nodes.clock import Clock
from nodes.errors import InvalidArgument, InvalidState, NotFound
from nodes.events import EventSink, UserChanged

MAX_USERS = 16
MAX_NAME = 16
MAX_PASSWORD = 20


class Privilege(IntEnum):
    CALLBACK = 1
    USER = 2
    OPERATOR = 3
    ADMINISTRATOR = 4
    OEM = 5
    NO_ACCESS = 0x0F

    @classmethod
    def from_name(cls, name: str) -> Privilege:
        try:
            return cls[name.upper().replace("-", "_")]
        except KeyError:
            raise InvalidArgument(f"unknown privilege {name!r}") from None


@dataclass(frozen=True)
class User:
    user_id: int
    name: str
    password: str
    enabled: bool
    privilege: Privilege


class UserTable:
    def __init__(self, device: str, clock: Clock, emit: EventSink) -> None:
        self._device = device
        self._clock = clock
        self._emit = emit
        self._users: dict[int, User] = {
            uid: User(uid, "", "", False, Privilege.NO_ACCESS) for uid in range(1, MAX_USERS + 1)
        }

    @property
    def capacity(self) -> int:
        return MAX_USERS

    def get(self, user_id: int) -> User:
        try:
            return self._users[user_id]
        except KeyError:
            raise NotFound(f"no user slot {user_id} (1..{MAX_USERS})") from None

    def all(self) -> list[User]:
        return list(self._users.values())

    def by_name(self, name: str) -> User | None:
        if not name:
            return None
        for user in self._users.values():
            if user.name == name:
                return user
        return None

    def enabled_count(self) -> int:
        return sum(1 for u in self._users.values() if u.enabled)

    def named_count(self) -> int:
        return sum(1 for u in self._users.values() if u.name)

    def _put(self, user: User, what: str) -> None:
        self._users[user.user_id] = user
        self._emit(
            UserChanged(device=self._device, at=self._clock.now(), user_id=user.user_id, what=what)
        )

    def set_name(self, user_id: int, name: str) -> None:
        user = self.get(user_id)
        if user_id == 1:
            raise InvalidArgument("user 1 is the anonymous user; its name cannot be set")
        if len(name.encode()) > MAX_NAME:
            raise InvalidArgument(f"a user name is at most {MAX_NAME} bytes")
        if any(ord(c) < 0x20 or ord(c) > 0x7E for c in name):
            raise InvalidArgument("a user name is printable ASCII")
        other = self.by_name(name)
        if name and other is not None and other.user_id != user_id:
            raise InvalidState(f"user name {name!r} is already used by user {other.user_id}")
        self._put(replace(user, name=name), "name")

    def set_password(self, user_id: int, password: str) -> None:
        user = self.get(user_id)
        if len(password.encode()) > MAX_PASSWORD:
            raise InvalidArgument(f"a password is at most {MAX_PASSWORD} bytes")
        self._put(replace(user, password=password), "password")

    def check_password(self, user_id: int, password: str) -> bool:
        return self.get(user_id).password == password

    def set_enabled(self, user_id: int, enabled: bool) -> None:
        user = self.get(user_id)
        self._put(replace(user, enabled=enabled), "enabled")

    def set_privilege(self, user_id: int, privilege: Privilege) -> None:
        user = self.get(user_id)
        if privilege not in Privilege:
            raise InvalidArgument(f"unknown privilege {privilege}")
        self._put(replace(user, privilege=Privilege(privilege)), "privilege")

    def provision(
        self, user_id: int, name: str, password: str, privilege: Privilege, enabled: bool = True
    ) -> None:
        """Set a whole slot at once (used when a BMC is built from its topology)."""
        self.get(user_id)
        if len(name.encode()) > MAX_NAME or len(password.encode()) > MAX_PASSWORD:
            raise InvalidArgument("user name or password too long")
        self._users[user_id] = User(user_id, name, password, enabled, privilege)

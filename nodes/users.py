"""BMC users: a fixed table of slots, as on every IPMI BMC, and the lockout that guards them.

Slot 1 is the anonymous (null-name) user, disabled. Names are at most 16 bytes and passwords at
most 20 (IPMI 2.0). Privileges are IPMI's levels; Redfish maps them to roles. The table never
reveals a password except to the session layer that needs it as an HMAC key.

Lockout rules (one set for every protocol; Redfish's AccountService shows and sets them):

* each failed login of a user counts; a count is forgotten ``counter_reset_s`` after the last
  failure, and a successful login clears it;
* the ``threshold``-th failure locks the account for ``duration_s`` (``AccountLocked``); a
  locked account is refused even with the right password, and such a refusal does not count;
* the lock ends on the clock or by :meth:`UserTable.unlock` (``AccountUnlocked``); a threshold
  or a duration of 0 means accounts never lock;
* an account flagged ``password_change_required`` may log in, but its owner must set a new
  password before doing anything else (the protocol adapters enforce what "anything" means);
  setting the password clears the flag.
"""

from __future__ import annotations

import functools
import hmac
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

from nodes.clock import Clock, Timer
from nodes.errors import InvalidArgument, InvalidState, NotFound
from nodes.events import (
    AccountLocked,
    AccountUnlocked,
    Event,
    EventSink,
    LockoutPolicyChanged,
    UserChanged,
)

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
    password_change_required: bool = False


@dataclass(frozen=True)
class LockoutPolicy:
    """Failures that lock an account (0: never), how long it stays locked (0: never locks),
    and the quiet time after which its failure count starts again."""

    threshold: int = 5
    duration_s: float = 300.0
    counter_reset_s: float = 60.0


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    locked_until: float | None = None
    timer: Timer | None = None


class UserTable:
    def __init__(
        self,
        device: str,
        clock: Clock,
        emit: EventSink,
        lockout: LockoutPolicy | None = None,
    ) -> None:
        self._device = device
        self._clock = clock
        self._emit = emit
        self._users: dict[int, User] = {
            uid: User(uid, "", "", False, Privilege.NO_ACCESS) for uid in range(1, MAX_USERS + 1)
        }
        self._lockout = lockout or LockoutPolicy()
        self._failures: dict[int, _Failures] = {}

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

    # -- logins and lockout ---------------------------------------------------------------------
    @property
    def lockout(self) -> LockoutPolicy:
        return self._lockout

    def set_lockout_policy(self, policy: LockoutPolicy) -> None:
        """Change the lockout settings; accounts locked now stay locked until their time."""
        if policy.threshold < 0 or policy.duration_s < 0 or policy.counter_reset_s < 0:
            raise InvalidArgument("lockout settings are not negative")
        if policy.duration_s and policy.counter_reset_s > policy.duration_s:
            raise InvalidArgument("the failure count cannot outlive the lockout it leads to")
        self._lockout = policy
        self._emit(
            LockoutPolicyChanged(
                device=self._device,
                at=self._clock.now(),
                threshold=policy.threshold,
                duration_s=policy.duration_s,
                counter_reset_s=policy.counter_reset_s,
            )
        )

    def locked_until(self, user_id: int) -> float | None:
        """When the account's lockout ends, or None if it is not locked."""
        f = self._failures.get(user_id)
        if f is None or f.locked_until is None or f.locked_until <= self._clock.now():
            return None
        return f.locked_until

    def locked(self, user_id: int) -> bool:
        return self.locked_until(user_id) is not None

    def failed_logins(self, user_id: int) -> int:
        """Failures counted towards the lockout (forgotten after ``counter_reset_s``)."""
        f = self._failures.get(user_id)
        if f is None or self._clock.now() - f.last > self._lockout.counter_reset_s:
            return 0
        return f.count

    def login_failed(self, user_id: int) -> list[Event]:
        """Count a failed login (wrong password); the threshold-th one locks the account."""
        self.get(user_id)
        if self.locked(user_id):
            return []  # refusals while locked do not extend the lock
        now = self._clock.now()
        policy = self._lockout
        f = self._failures.setdefault(user_id, _Failures())
        f.count = self.failed_logins(user_id) + 1
        f.last = now
        if not policy.threshold or not policy.duration_s or f.count < policy.threshold:
            return []
        f.count = 0
        f.locked_until = now + policy.duration_s
        f.timer = self._clock.call_at(f.locked_until, lambda: self._lock_expired(user_id))
        event = AccountLocked(device=self._device, at=now, user_id=user_id, until=f.locked_until)
        self._emit(event)
        return [event]

    def login_succeeded(self, user_id: int) -> None:
        """A successful login clears the failure count (not a lock: locked users never get
        this far)."""
        f = self._failures.get(user_id)
        if f is not None and f.locked_until is None:
            del self._failures[user_id]

    def authenticate(self, name: str, password: str) -> User | None:
        """The enabled, unlocked user with this name and password, counting a wrong password
        towards the lockout; None for every refusal, without saying why."""
        user = self.by_name(name)
        if user is None or self.locked(user.user_id):
            return None
        if not user.enabled or not hmac.compare_digest(user.password.encode(), password.encode()):
            self.login_failed(user.user_id)
            return None
        self.login_succeeded(user.user_id)
        return user

    def unlock(self, user_id: int, cause: str = "unlocked") -> list[Event]:
        """End a lockout early (an administrator's decision) and forget the failures."""
        self.get(user_id)
        was_locked = self.locked(user_id)
        f = self._failures.pop(user_id, None)
        if f is not None and f.timer is not None:
            f.timer.cancel()
        if not was_locked:
            return []
        event = AccountUnlocked(
            device=self._device, at=self._clock.now(), user_id=user_id, cause=cause
        )
        self._emit(event)
        return [event]

    def _lock_expired(self, user_id: int) -> None:
        f = self._failures.pop(user_id, None)
        if f is not None:
            self._emit(
                AccountUnlocked(
                    device=self._device, at=self._clock.now(), user_id=user_id, cause="expired"
                )
            )

    # -- changes -------------------------------------------------------------------------------
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
        if not name:  # the slot is emptied: its lockout goes with the account
            self.unlock(user_id, cause="deleted")
        self._put(replace(user, name=name), "name")

    def set_password(self, user_id: int, password: str) -> None:
        """A new password; it also satisfies a pending password change."""
        user = self.get(user_id)
        if len(password.encode()) > MAX_PASSWORD:
            raise InvalidArgument(f"a password is at most {MAX_PASSWORD} bytes")
        self._put(replace(user, password=password, password_change_required=False), "password")

    def set_password_change_required(self, user_id: int, required: bool) -> None:
        """Make the user set a new password before anything else (or drop that demand)."""
        user = self.get(user_id)
        if user.password_change_required != required:
            self._put(replace(user, password_change_required=required), "password_change_required")

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
        self,
        user_id: int,
        name: str,
        password: str,
        privilege: Privilege,
        enabled: bool = True,
        *,
        password_change_required: bool = False,
    ) -> None:
        """Set a whole slot at once (used when a BMC is built from its topology)."""
        self.get(user_id)
        if len(name.encode()) > MAX_NAME or len(password.encode()) > MAX_PASSWORD:
            raise InvalidArgument("user name or password too long")
        self._users[user_id] = User(
            user_id, name, password, enabled, privilege, password_change_required
        )

    # -- persistence -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Every slot (passwords included: the state store keeps what the BMC keeps), the
        lockout settings and the accounts locked now (until when)."""
        now = self._clock.now()
        return {
            "users": [
                {
                    "user_id": u.user_id,
                    "name": u.name,
                    "password": u.password,
                    "enabled": u.enabled,
                    "privilege": int(u.privilege),
                    "password_change_required": u.password_change_required,
                }
                for u in self._users.values()
            ],
            "lockout": {
                "threshold": self._lockout.threshold,
                "duration_s": self._lockout.duration_s,
                "counter_reset_s": self._lockout.counter_reset_s,
            },
            "locked_until": {
                str(uid): f.locked_until
                for uid, f in self._failures.items()
                if f.locked_until is not None and f.locked_until > now
            },
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Put back what :meth:`snapshot` returned; a lock still running runs on."""
        for f in self._failures.values():
            if f.timer is not None:
                f.timer.cancel()
        self._failures = {}
        for d in data["users"]:
            uid = int(d["user_id"])
            self.get(uid)
            self._users[uid] = User(
                uid,
                str(d["name"]),
                str(d["password"]),
                bool(d["enabled"]),
                Privilege(int(d["privilege"])),
                bool(d["password_change_required"]),
            )
        lock = data["lockout"]
        self._lockout = LockoutPolicy(
            int(lock["threshold"]), float(lock["duration_s"]), float(lock["counter_reset_s"])
        )
        now = self._clock.now()
        for key, until in data["locked_until"].items():
            uid = int(key)
            if until <= now:
                continue
            f = self._failures[uid] = _Failures(last=now, locked_until=float(until))
            f.timer = self._clock.call_at(float(until), functools.partial(self._lock_expired, uid))

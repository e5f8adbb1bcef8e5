"""A switch's CLI users, their roles, and the login lockout, as OS10 keeps them.

Rules:

* users live in the configuration (``username NAME password HASH role ROLE``): a factory
  configuration has only ``admin`` with the password ``admin``; a deployment one has the
  topology's users (an admin role, ``sysadmin``, and a read-only one, ``netoperator``);
* passwords are kept and written only as salted SHA-512 digests (``$6$salt$hex``); the clear text
  never leaves :func:`hash_password`;
* ``password-attributes max-retry N lockout-period M``: after N failed logins in a row a user is
  locked out for M minutes (emulated time), even with the right password; a success resets the
  count. Without the line there is no lockout.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

from nodes.errors import InvalidArgument


class CliRole(StrEnum):
    """OS10's roles: sysadmin may do everything, netoperator only look."""

    SYSADMIN = "sysadmin"
    NETOPERATOR = "netoperator"

    @property
    def may_change(self) -> bool:
        return self is CliRole.SYSADMIN


USER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$")
_HASH = re.compile(r"^\$6\$([A-Za-z0-9./]{1,16})\$([0-9a-f]{128})$")


def hash_password(password: str, salt: str) -> str:
    digest = hashlib.sha512(f"{salt}${password}".encode()).hexdigest()
    return f"$6${salt}${digest}"


def valid_hash(text: str) -> bool:
    return _HASH.match(text) is not None


@dataclass(frozen=True)
class CliUser:
    name: str
    role: CliRole
    secret: str  # hash_password(...), never the password

    @classmethod
    def make(cls, name: str, password: str, role: CliRole | str) -> CliUser:
        if not USER_NAME.match(name):
            raise InvalidArgument(f"bad user name {name!r}")
        if not 1 <= len(password) <= 64 or not password.isprintable() or " " in password:
            raise InvalidArgument(f"user {name}: a password is 1-64 printable characters, no space")
        try:
            kind = CliRole(role)
        except ValueError:
            raise InvalidArgument(f"unknown role {role!r} (sysadmin, netoperator)") from None
        salt = hashlib.sha256(f"{name}/{kind.value}".encode()).hexdigest()[:16]
        return cls(name, kind, hash_password(password, salt))

    def check(self, password: str) -> bool:
        m = _HASH.match(self.secret)
        if m is None:
            return False
        return hmac.compare_digest(hash_password(password, m.group(1)), self.secret)

    def line(self) -> str:
        return f"username {self.name} password {self.secret} role {self.role.value}"


FACTORY_USERS: tuple[CliUser, ...] = (CliUser.make("admin", "admin", CliRole.SYSADMIN),)


@dataclass(frozen=True)
class Lockout:
    """``password-attributes max-retry N lockout-period M`` (minutes)."""

    max_retry: int
    period_min: int

    def line(self) -> str:
        return f"password-attributes max-retry {self.max_retry} lockout-period {self.period_min}"


class LoginRefused(InvalidArgument):
    """Wrong user or password, or a locked-out user (the message says which, for the log;
    the client is told only that authentication failed)."""


class LoginGuard:
    """Failed logins per user and the lockouts they caused (not persisted: a reload clears it,
    as OS10's pam_tally does)."""

    def __init__(self) -> None:
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, float] = {}

    def locked(self, user: str, now: float) -> bool:
        until = self._locked_until.get(user)
        if until is None:
            return False
        if now >= until:
            del self._locked_until[user]
            self._failures.pop(user, None)
            return False
        return True

    def failed(self, user: str, now: float, lockout: Lockout | None) -> bool:
        """Count a failure; True when it locked the user out."""
        count = self._failures.get(user, 0) + 1
        self._failures[user] = count
        if lockout is not None and count >= lockout.max_retry:
            self._locked_until[user] = now + 60.0 * lockout.period_min
            return True
        return False

    def succeeded(self, user: str) -> None:
        self._failures.pop(user, None)

    def clear(self) -> None:
        self._failures.clear()
        self._locked_until.clear()

"""The user table's lockout and password-change rules on a virtual clock (one set for IPMI and
Redfish), and the IPMI backend's view of a locked account."""

from __future__ import annotations

import pytest

from bmc.ipmi.commands import NodeIpmiBackend
from nodes.clock import VirtualClock
from nodes.errors import InvalidArgument
from nodes.events import AccountLocked, AccountUnlocked, Event, UserChanged
from nodes.users import LockoutPolicy
from tests.model_helpers import make_node

ADMIN = 2


def test_the_threshold_th_failure_locks_for_the_duration(clock: VirtualClock) -> None:
    events: list[Event] = []
    node = make_node(clock, events)
    users = node.users
    users.set_lockout_policy(LockoutPolicy(threshold=3, duration_s=120, counter_reset_s=60))
    assert users.authenticate("admin", "wrong") is None
    assert users.authenticate("admin", "wrong") is None
    assert users.failed_logins(ADMIN) == 2 and not users.locked(ADMIN)
    assert users.authenticate("admin", "wrong") is None
    locked = [e for e in events if isinstance(e, AccountLocked)]
    assert locked == [
        AccountLocked(device="n01", at=clock.now(), user_id=ADMIN, until=clock.now() + 120)
    ]
    assert users.locked_until(ADMIN) == clock.now() + 120
    # Locked: even the right password is refused, and refusals do not extend the lock.
    assert users.authenticate("admin", "secret") is None
    assert users.login_failed(ADMIN) == []
    clock.advance(119.9)
    assert users.locked(ADMIN) and users.authenticate("admin", "secret") is None
    clock.advance(0.2)
    assert not users.locked(ADMIN)
    unlocked = [e for e in events if isinstance(e, AccountUnlocked)]
    assert [(e.user_id, e.cause) for e in unlocked] == [(ADMIN, "expired")]
    user = users.authenticate("admin", "secret")
    assert user is not None and user.user_id == ADMIN
    assert users.failed_logins(ADMIN) == 0


def test_failures_are_forgotten_after_the_reset_time_and_on_success(clock: VirtualClock) -> None:
    users = make_node(clock).users
    users.set_lockout_policy(LockoutPolicy(threshold=3, duration_s=120, counter_reset_s=60))
    users.authenticate("admin", "wrong")
    users.authenticate("admin", "wrong")
    clock.advance(60.1)
    assert users.failed_logins(ADMIN) == 0
    users.authenticate("admin", "wrong")
    users.authenticate("admin", "wrong")
    assert users.authenticate("admin", "secret") is not None
    users.authenticate("admin", "wrong")
    users.authenticate("admin", "wrong")
    assert not users.locked(ADMIN)


@pytest.mark.parametrize(
    "policy", [LockoutPolicy(threshold=0), LockoutPolicy(duration_s=0, counter_reset_s=0)]
)
def test_a_zero_threshold_or_duration_never_locks(
    clock: VirtualClock, policy: LockoutPolicy
) -> None:
    users = make_node(clock).users
    users.set_lockout_policy(policy)
    for _ in range(20):
        assert users.authenticate("admin", "wrong") is None
    assert not users.locked(ADMIN)
    assert users.authenticate("admin", "secret") is not None


def test_unknown_and_disabled_users(clock: VirtualClock) -> None:
    users = make_node(clock).users
    assert users.authenticate("nobody", "secret") is None
    assert users.authenticate("", "") is None
    users.set_enabled(ADMIN, False)
    assert users.authenticate("admin", "secret") is None
    assert users.failed_logins(ADMIN) == 1  # a disabled account's logins count as failures


def test_unlock_early_and_deleting_the_account_ends_its_lock(clock: VirtualClock) -> None:
    events: list[Event] = []
    node = make_node(clock, events)
    users = node.users
    users.set_lockout_policy(LockoutPolicy(threshold=1, duration_s=300, counter_reset_s=60))
    users.authenticate("admin", "wrong")
    assert users.locked(ADMIN)
    assert [e.cause for e in users.unlock(ADMIN)] == ["unlocked"]
    assert not users.locked(ADMIN) and users.unlock(ADMIN) == []
    clock.advance(301)  # the cancelled timer does not fire
    assert [e.cause for e in events if isinstance(e, AccountUnlocked)] == ["unlocked"]
    users.authenticate("admin", "wrong")
    assert users.locked(ADMIN)
    users.set_name(ADMIN, "renamed")  # the lock follows the account, not its name
    assert users.locked(ADMIN)
    users.set_name(ADMIN, "")
    assert not users.locked(ADMIN)


def test_bad_lockout_settings_are_refused_and_change_nothing(clock: VirtualClock) -> None:
    users = make_node(clock).users
    before = users.lockout
    with pytest.raises(InvalidArgument):
        users.set_lockout_policy(LockoutPolicy(threshold=-1))
    with pytest.raises(InvalidArgument):
        users.set_lockout_policy(LockoutPolicy(duration_s=30, counter_reset_s=60))
    assert users.lockout == before


def test_password_change_required_is_cleared_by_a_new_password(clock: VirtualClock) -> None:
    events: list[Event] = []
    users = make_node(clock, events).users
    users.set_password_change_required(ADMIN, True)
    user = users.authenticate("admin", "secret")
    assert user is not None and user.password_change_required  # logging in is still allowed
    users.set_password(ADMIN, "new-secret")
    assert not users.get(ADMIN).password_change_required
    whats = [e.what for e in events if isinstance(e, UserChanged)]
    assert whats == ["password_change_required", "password"]


def test_ipmi_sees_a_locked_account_as_unauthorized_and_counts_rakp_failures(
    clock: VirtualClock,
) -> None:
    node = make_node(clock)
    backend = NodeIpmiBackend(node)
    node.users.set_lockout_policy(LockoutPolicy(threshold=2, duration_s=60, counter_reset_s=60))
    assert backend.credential(b"admin") is not None
    backend.login_failed(ADMIN)
    backend.login_succeeded(ADMIN)
    assert node.users.failed_logins(ADMIN) == 0
    backend.login_failed(ADMIN)
    backend.login_failed(ADMIN)
    assert backend.credential(b"admin") is None  # RAKP 2 answers 0Dh, unauthorized name
    assert backend.credential_by_privilege(4) is None
    assert node.users.authenticate("admin", "secret") is None  # Redfish is locked out too
    clock.advance(60)
    assert backend.credential(b"admin") is not None

"""/redfish/v1/AccountService: the BMC's user table (the same slots IPMI sees) and its roles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bmc.redfish.deps import (
    CurrentBmc,
    CurrentRegistries,
    CurrentUser,
    body_of,
    check_if_match,
    may,
    no_content,
    password_change_required,
    privileged,
    reply,
    self_only,
)
from bmc.redfish.errors import Context, Msg, RedfishError, error, from_model_error
from bmc.redfish.schemas.common import Collection, Link, collection_type
from bmc.redfish.schemas.service import (
    Account,
    AccountCreate,
    AccountLinks,
    AccountPatch,
    AccountService,
    AccountServicePatch,
    Role,
)
from bmc.redfish.service import ROLE_PRIVILEGES, BmcService, Principal, privilege_of, role_of
from nodes.errors import ModelError
from nodes.users import MAX_NAME, MAX_PASSWORD, LockoutPolicy, User

V1 = "/redfish/v1"
BASE = f"{V1}/AccountService"
ACCOUNTS = collection_type("ManagerAccountCollection.ManagerAccountCollection")
ROLES = collection_type("RoleCollection.RoleCollection")

router = APIRouter(prefix=BASE)
ServiceUser = Annotated[Principal, privileged("AccountService")]
AccountsUser = Annotated[Principal, privileged("ManagerAccountCollection")]
AccountReader = Annotated[Principal, privileged("ManagerAccount")]
RoleReader = Annotated[Principal, privileged("Role")]


def render_service(bmc: BmcService) -> AccountService:
    p = bmc.node.users.lockout
    return AccountService(
        odata_id=BASE,
        id="AccountService",
        name="Account Service",
        min_password_length=bmc.min_password_length,
        max_password_length=MAX_PASSWORD,
        account_lockout_threshold=p.threshold,
        account_lockout_duration=int(p.duration_s),
        account_lockout_counter_reset_after=int(p.counter_reset_s),
        accounts=Link(odata_id=f"{BASE}/Accounts"),
        roles=Link(odata_id=f"{BASE}/Roles"),
    )


@router.get("")
async def account_service(_: ServiceUser, bmc: CurrentBmc) -> Response:
    return reply(render_service(bmc))


@router.patch("")
async def patch_account_service(
    request: Request,
    who: ServiceUser,
    bmc: CurrentBmc,
    patch: Annotated[
        AccountServicePatch, Depends(body_of(AccountServicePatch, shown=AccountService))
    ],
) -> Response:
    check_if_match(request, render_service(bmc))
    p = bmc.node.users.lockout
    duration = (
        p.duration_s if patch.account_lockout_duration is None else patch.account_lockout_duration
    )
    reset_after = (
        p.counter_reset_s
        if patch.account_lockout_counter_reset_after is None
        else patch.account_lockout_counter_reset_after
    )
    if reset_after > duration and duration:
        raise error(
            400,
            "PropertyValueConflict",
            "AccountLockoutCounterResetAfter",
            "AccountLockoutDuration",
            related=["AccountLockoutCounterResetAfter"],
        )
    threshold = (
        p.threshold if patch.account_lockout_threshold is None else patch.account_lockout_threshold
    )
    policy = LockoutPolicy(threshold=threshold, duration_s=duration, counter_reset_s=reset_after)
    try:
        bmc.node.users.set_lockout_policy(policy)
    except ModelError as exc:  # pragma: no cover - validated above
        raise from_model_error(exc, Context(parameter="AccountLockoutDuration")) from None
    bmc.log_action("accounts.policy", who)
    return reply(render_service(bmc))


def _uri(user: User) -> str:
    return f"{BASE}/Accounts/{user.user_id}"


def render_account(bmc: BmcService, user: User) -> Account:
    role = role_of(user.privilege)
    return Account(
        odata_id=_uri(user),
        id=str(user.user_id),
        name="User Account",
        user_name=user.name,
        role_id=role,
        enabled=user.enabled,
        locked=bmc.node.users.locked(user.user_id),
        password_change_required=user.password_change_required,
        links=AccountLinks(role=Link(odata_id=f"{BASE}/Roles/{role}")),
    )


@router.get("/Accounts")
async def accounts(_: AccountsUser, bmc: CurrentBmc) -> Response:
    uris = [_uri(u) for u in bmc.named_users()]
    return reply(Collection.of(ACCOUNTS, f"{BASE}/Accounts", "Accounts", uris))


def _account(request: Request, who: Principal, bmc: BmcService, account_id: str) -> User:
    user = None
    if account_id.isdigit():
        user = next((u for u in bmc.named_users() if u.user_id == int(account_id)), None)
    if user is None or (self_only(request) and user.user_id != who.user_id):
        raise error(404, "ResourceNotFound", "ManagerAccount", account_id)
    return user


@router.get("/Accounts/{account_id}")
async def account(
    account_id: str, request: Request, who: AccountReader, bmc: CurrentBmc
) -> Response:
    return reply(render_account(bmc, _account(request, who, bmc, account_id)))


def _check_name(bmc: BmcService, name: str, user_id: int | None) -> None:
    if len(name.encode()) > MAX_NAME:
        raise error(400, "StringValueTooLong", name, str(MAX_NAME), related=["UserName"])
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in name) or ":" in name:
        raise error(400, "PropertyValueFormatError", name, "UserName", related=["UserName"])
    other = bmc.node.users.by_name(name)
    if other is not None and other.user_id != user_id:
        raise error(409, "ResourceAlreadyExists", "ManagerAccount", "UserName", name)


def _check_password(bmc: BmcService, password: str) -> None:
    n = len(password.encode())
    if n < bmc.min_password_length or n > MAX_PASSWORD:
        raise RedfishError(400, [Msg("PasswordIncorrectLength", (), ("Password",))])


@router.post("/Accounts")
async def create_account(
    who: AccountsUser,
    bmc: CurrentBmc,
    body: Annotated[AccountCreate, Depends(body_of(AccountCreate, shown=Account))],
) -> Response:
    _check_name(bmc, body.user_name, None)
    _check_password(bmc, body.password)
    free = next(
        (u for u in bmc.node.users.all() if u.user_id > 1 and not u.name and not u.enabled), None
    )
    if free is None:
        raise error(409, "CreateLimitReachedForResource")
    users = bmc.node.users
    uid = free.user_id
    try:
        users.set_name(uid, body.user_name)
        users.set_password(uid, body.password)
        users.set_privilege(uid, privilege_of(body.role_id))
        users.set_enabled(uid, body.enabled)
        users.set_password_change_required(uid, body.password_change_required)
    except ModelError as exc:  # pragma: no cover - validated above
        raise from_model_error(exc, Context(parameter="UserName")) from None
    bmc.log_action("account.created", who, account=uid, role=body.role_id)
    user = users.get(uid)
    return reply(render_account(bmc, user), status=201, headers={"Location": _uri(user)})


@router.patch("/Accounts/{account_id}")
async def patch_account(
    account_id: str,
    request: Request,
    who: CurrentUser,
    regs: CurrentRegistries,
    bmc: CurrentBmc,
    patch: Annotated[AccountPatch, Depends(body_of(AccountPatch, shown=Account))],
) -> Response:
    if who.password_change_required and patch.model_fields_set != {"password"}:
        raise password_change_required(who)  # the new password first, on its own
    admin = may(regs, who, "ManagerAccount", "PATCH")
    own_password_only = (
        patch.password is not None
        and patch.model_fields_set <= {"password"}
        and account_id == str(who.user_id)
        and "ConfigureSelf" in who.privileges
    )
    if not admin and not own_password_only:
        raise error(403, "InsufficientPrivilege")
    user = _account(request, who, bmc, account_id)
    check_if_match(request, render_account(bmc, user))
    # Validate every property, then apply them all.
    if patch.user_name is not None:
        _check_name(bmc, patch.user_name, user.user_id)
    if patch.password is not None:
        _check_password(bmc, patch.password)
    users = bmc.node.users
    uid = user.user_id
    if patch.user_name is not None and patch.user_name != user.name:
        users.set_name(uid, patch.user_name)
    if patch.password is not None:
        users.set_password(uid, patch.password)
    if patch.role_id is not None:
        users.set_privilege(uid, privilege_of(patch.role_id))
    if patch.enabled is not None:
        users.set_enabled(uid, patch.enabled)
    if patch.locked is False:
        users.unlock(uid)
    if patch.password_change_required is not None:
        users.set_password_change_required(uid, patch.password_change_required)
    changed = {"user_name", "password", "role_id", "enabled", "password_change_required"}
    if patch.model_fields_set & changed and uid != who.user_id:
        bmc.close_sessions_of(uid)  # others' sessions end when their account changes
    bmc.log_action(
        "account.changed", who, account=uid, what=",".join(sorted(patch.model_fields_set))
    )
    return reply(render_account(bmc, users.get(uid)))


@router.delete("/Accounts/{account_id}")
async def delete_account(
    account_id: str, request: Request, who: AccountReader, bmc: CurrentBmc
) -> Response:
    user = _account(request, who, bmc, account_id)
    if user.user_id == who.user_id:
        raise error(409, "ResourceCannotBeDeleted")
    check_if_match(request, render_account(bmc, user))
    users = bmc.node.users
    users.set_enabled(user.user_id, False)
    users.set_privilege(user.user_id, privilege_of("NoAccess"))
    users.set_password(user.user_id, "")
    users.set_name(user.user_id, "")
    bmc.close_sessions_of(user.user_id)
    bmc.log_action("account.deleted", who, account=user.user_id)
    return no_content()


# -- roles -----------------------------------------------------------------------------------------
@router.get("/Roles")
async def roles(_: RoleReader) -> Response:
    uris = [f"{BASE}/Roles/{r}" for r in ROLE_PRIVILEGES]
    return reply(Collection.of(ROLES, f"{BASE}/Roles", "Roles", uris))


@router.get("/Roles/{role_id}")
async def role(role_id: str, _: RoleReader) -> Response:
    if role_id not in ROLE_PRIVILEGES:
        raise error(404, "ResourceNotFound", "Role", role_id)
    return reply(
        Role(
            odata_id=f"{BASE}/Roles/{role_id}",
            id=role_id,
            name=f"{role_id} Role",
            role_id=role_id,
            assigned_privileges=sorted(ROLE_PRIVILEGES[role_id]),
        )
    )

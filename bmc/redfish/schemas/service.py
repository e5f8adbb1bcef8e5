"""ServiceRoot, the registries, SessionService and AccountService."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bmc.redfish.schemas.common import Body, Link, Message, Resource, Status, Wire, odata_type


class RootLinks(Wire):
    sessions: Link


class ExpandQuery(Wire):
    expand_all: bool = False
    levels: bool = False
    links: bool = False
    no_links: bool = False
    max_levels: int | None = None


class ProtocolFeatures(Wire):
    excerpt_query: bool = False
    only_member_query: bool = False
    select_query: bool = False
    filter_query: bool = False
    expand_query: ExpandQuery = Field(default_factory=ExpandQuery)


class ServiceRoot(Resource):
    odata_type: str = odata_type("ServiceRoot.v1_20_0.ServiceRoot")
    redfish_version: str
    uuid: str
    product: str
    vendor: str
    systems: Link
    chassis: Link
    managers: Link
    session_service: Link
    account_service: Link
    registries: Link
    event_service: Link | None = None
    update_service: Link | None = None
    tasks: Link | None = None
    links: RootLinks
    protocol_features_supported: ProtocolFeatures = Field(default_factory=ProtocolFeatures)


class RegistryLocation(Wire):
    language: str = "en"
    uri: str
    publication_uri: str | None = None


class MessageRegistryFile(Resource):
    odata_type: str = odata_type("MessageRegistryFile.v1_1_5.MessageRegistryFile")
    languages: list[str] = Field(default_factory=lambda: ["en"])
    registry: str
    location: list[RegistryLocation]


# -- sessions ------------------------------------------------------------------------------------
class SessionService(Resource):
    odata_type: str = odata_type("SessionService.v1_2_0.SessionService")
    status: Status = Field(default_factory=Status)
    service_enabled: bool = True
    session_timeout: int
    sessions: Link


class SessionOut(Resource):
    odata_type: str = odata_type("Session.v1_8_0.Session")
    user_name: str
    session_type: str = "Redfish"
    created_time: str
    #: PasswordChangeRequired, when the account must set a new password first.
    extended_info: list[Message] | None = Field(None, serialization_alias="@Message.ExtendedInfo")


class SessionIn(Body):
    user_name: str
    password: str


class SessionServicePatch(Body):
    session_timeout: int | None = Field(None, ge=30, le=86400)


# -- accounts ------------------------------------------------------------------------------------
class AccountService(Resource):
    odata_type: str = odata_type("AccountService.v1_18_1.AccountService")
    status: Status = Field(default_factory=Status)
    service_enabled: bool = True
    local_account_auth: str = "Enabled"
    min_password_length: int
    max_password_length: int
    account_lockout_threshold: int
    account_lockout_duration: int
    account_lockout_counter_reset_after: int
    account_lockout_counter_reset_enabled: bool = True
    accounts: Link
    roles: Link


class AccountServicePatch(Body):
    account_lockout_threshold: int | None = Field(None, ge=0, le=100)
    account_lockout_duration: int | None = Field(None, ge=0, le=86400)
    account_lockout_counter_reset_after: int | None = Field(None, ge=0, le=86400)


class AccountLinks(Wire):
    role: Link


class Account(Resource):
    odata_type: str = odata_type("ManagerAccount.v1_14_1.ManagerAccount")
    user_name: str
    role_id: str
    enabled: bool
    locked: bool
    password_change_required: bool
    account_types: list[str] = Field(default_factory=lambda: ["Redfish", "IPMI"])
    links: AccountLinks


RoleId = Literal["Administrator", "Operator", "ReadOnly", "NoAccess"]


class AccountCreate(Body):
    user_name: str = Field(min_length=1)
    password: str
    role_id: RoleId
    enabled: bool = True
    password_change_required: bool = False


class AccountPatch(Body):
    user_name: str | None = Field(None, min_length=1)
    password: str | None = None
    role_id: RoleId | None = None
    enabled: bool | None = None
    locked: Literal[False] | None = None
    password_change_required: bool | None = None


class Role(Resource):
    odata_type: str = odata_type("Role.v1_3_3.Role")
    role_id: str
    is_predefined: bool = True
    assigned_privileges: list[str]

"""The IPMI command layer: one node's BMC answering IPMI 2.0 commands over its model.

:class:`NodeIpmiBackend` is the :class:`bmc.ipmi.session.IpmiBackend` of one
:class:`nodes.node.Node`. The session layer authenticates and decrypts; everything it does not
answer itself arrives here as a :class:`~bmc.ipmi.session.Request` and goes through
:meth:`NodeIpmiBackend.dispatch`, which keeps these rules:

* one table, :data:`COMMANDS`, maps ``(netfn, cmd)`` to the handler, the minimum session
  privilege (IPMI 2.0 appendix G) and the request data lengths it accepts; an unknown command
  answers C1h, too low a privilege D4h, a wrong length C7h;
* a handler returns the response data (completion code 00h) or raises: a model error from
  :mod:`nodes.errors`, turned into a completion code by the one table :data:`MODEL_ERRORS`,
  or :class:`CompletionError` for codes that are pure protocol (reservations, parameter
  numbers, a failed password test);
* nothing raised in a handler escapes: anything else is logged and answered FFh.

NetFn, command and parameter numbers live only in this module and its helpers
(:mod:`bmc.ipmi.sdr`, :mod:`bmc.ipmi.fru`); the model speaks in its own terms.

The only state kept here is protocol state that has no meaning to the model: the SDR
reservation, and the "set in progress" / boot-info-acknowledge bytes of the boot options and LAN
parameters. Everything else (power, boot override, identify, users, SEL, sensors) is read from and
written to the node, so Redfish and IPMI see the same BMC.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Final

from bmc.ipmi.codes import (
    CC_ACCESS_MODE_NOT_SUPPORTED,
    CC_CANNOT_RETURN_BYTES,
    CC_FRU_WRITE_PROTECTED,
    CC_ILLEGAL_FOR_SENSOR,
    CC_INSUFFICIENT_PRIVILEGE,
    CC_INVALID_COMMAND,
    CC_INVALID_DATA_FIELD,
    CC_NOT_IN_PRESENT_STATE,
    CC_NOT_PRESENT,
    CC_OK,
    CC_OUT_OF_SPACE,
    CC_PARAMETER_NOT_SUPPORTED,
    CC_PARAMETER_OUT_OF_RANGE,
    CC_PASSWORD_TEST_FAILED,
    CC_PASSWORD_WRONG_SIZE,
    CC_READ_ONLY_PARAMETER,
    CC_REQUEST_DATA_LENGTH_INVALID,
    CC_RESERVATION_CANCELED,
    CC_UNSPECIFIED,
)
from bmc.ipmi.fru import build_fru
from bmc.ipmi.sdr import DEVICE_SUPPORT, SDR_VERSION, SdrRepository, build_repository
from bmc.ipmi.session import Credential, Request
from emulator.errors import lookup
from nodes import sensors as sn
from nodes.errors import (
    CapacityExceeded,
    InvalidArgument,
    InvalidState,
    ModelError,
    NotFound,
    NotSupported,
    ReservationCanceled,
)
from nodes.node import BmcResetKind, BootTarget, Node, PowerEvent, RestartCause
from nodes.power import HostState
from nodes.sel import SYSTEM_EVENT_RECORD, SelEntryInput, SelRecord
from nodes.spec import PowerRestorePolicy
from nodes.users import MAX_NAME, MAX_USERS, Privilege, User

log = logging.getLogger("bmc.ipmi")

# -- wire numbers ------------------------------------------------------------------------------
NETFN_CHASSIS: Final = 0x00
NETFN_SENSOR_EVENT: Final = 0x04
NETFN_APP: Final = 0x06
NETFN_STORAGE: Final = 0x0A
NETFN_TRANSPORT: Final = 0x0C


USER: Final = int(Privilege.USER)
OPERATOR: Final = int(Privilege.OPERATOR)
ADMIN: Final = int(Privilege.ADMINISTRATOR)

#: The model's errors as completion codes: the one table of this adapter.
MODEL_ERRORS: Final[dict[type[BaseException], int]] = {
    InvalidState: CC_NOT_IN_PRESENT_STATE,  # also PowerUnavailable
    InvalidArgument: CC_INVALID_DATA_FIELD,
    NotFound: CC_NOT_PRESENT,
    CapacityExceeded: CC_OUT_OF_SPACE,
    ReservationCanceled: CC_RESERVATION_CANCELED,
    NotSupported: CC_INVALID_COMMAND,
}

# -- identity ----------------------------------------------------------------------------------
#: IANA enterprise number 32473, reserved for documentation (RFC 5612): no real vendor's.
MANUFACTURER_ID: Final = 32473
#: The IPMI forum's IANA number, used in Get Channel Info.
IPMI_FORUM_IANA: Final = 7154
DEVICE_ID: Final = 0x20
#: Bit 7: the device provides device SDRs; bits 3:0: device revision 1.
DEVICE_REVISION: Final = 0x81
IPMI_VERSION_2_0: Final = 0x02

LAN_CHANNEL: Final = 1
CURRENT_CHANNEL: Final = 0x0E
IPMB_CHANNEL: Final = 0x00
SYSTEM_CHANNEL: Final = 0x0F
#: Get Channel Info data after the channel number: medium, protocol, session support.
_CHANNELS: Final = {
    LAN_CHANNEL: bytes((0x04, 0x01, 0x80)),  # 802.3 LAN, IPMB-1.0, multi-session
    IPMB_CHANNEL: bytes((0x01, 0x01, 0x00)),  # IPMB (I2C), IPMB-1.0, session-less
    SYSTEM_CHANNEL: bytes((0x0C, 0x05, 0x00)),  # system interface, KCS, session-less
}
#: Channel access of the LAN channel: PEF alerting disabled, per-message and user-level
#: authentication enabled, access mode "always available"; privilege limit administrator.
_CHANNEL_ACCESS: Final = 0x22
_CHANNEL_PRIVILEGE_LIMIT: Final = ADMIN

#: Authentication types the session layer accepts for IPMI v1.5 (MD5 only).
_AUTH_TYPES: Final = 0x04
#: Cipher suites the session layer offers, all usable up to administrator.
_CIPHER_SUITES: Final = (3, 17)

_RESTORE_POLICY_BITS: Final = {
    PowerRestorePolicy.ALWAYS_OFF: 0x00,
    PowerRestorePolicy.PREVIOUS: 0x20,
    PowerRestorePolicy.ALWAYS_ON: 0x40,
}
_RESTORE_POLICY_CODES: Final = {
    0x00: PowerRestorePolicy.ALWAYS_OFF,
    0x01: PowerRestorePolicy.PREVIOUS,
    0x02: PowerRestorePolicy.ALWAYS_ON,
}
_LAST_POWER_EVENT: Final = {
    PowerEvent.NONE: 0x00,
    PowerEvent.AC_FAILED: 0x01,
    PowerEvent.OVERLOAD: 0x02,
    PowerEvent.INTERLOCK: 0x04,
    PowerEvent.FAULT: 0x08,
    PowerEvent.COMMAND: 0x10,
}
_RESTART_CAUSE: Final = {
    RestartCause.UNKNOWN: 0x00,
    RestartCause.CHASSIS_CONTROL: 0x01,
    RestartCause.RESET_BUTTON: 0x02,
    RestartCause.POWER_BUTTON: 0x03,
    RestartCause.WATCHDOG: 0x04,
    RestartCause.ALWAYS_RESTORE: 0x06,
    RestartCause.RESTORE_PREVIOUS: 0x07,
    RestartCause.SOFT_RESET: 0x0A,
}
#: Boot device selector (boot flags byte 2, bits 5:2) to the model's target. 0011b (hard drive,
#: safe mode) has no model counterpart and is kept as a plain hard drive boot.
_BOOT_DEVICES: Final = {
    0x0: BootTarget.NONE,
    0x1: BootTarget.PXE,
    0x2: BootTarget.DISK,
    0x3: BootTarget.DISK,
    0x4: BootTarget.DIAGS,
    0x5: BootTarget.CDROM,
    0x6: BootTarget.BIOS,
    0x8: BootTarget.CDROM,  # remotely connected CD/DVD
    0xB: BootTarget.DISK,  # remotely connected hard drive
    0xF: BootTarget.FLOPPY,
}
_BOOT_SELECTORS: Final = {
    BootTarget.NONE: 0x0,
    BootTarget.PXE: 0x1,
    BootTarget.DISK: 0x2,
    BootTarget.DIAGS: 0x4,
    BootTarget.CDROM: 0x5,
    BootTarget.BIOS: 0x6,
    BootTarget.FLOPPY: 0xF,
    BootTarget.USB: 0xF,  # "primary removable media"
}
_BOOT_PARAMETER_VERSION: Final = 0x01
_LAN_PARAMETER_REVISION: Final = 0x11
_SYSINFO_PARAMETER_REVISION: Final = 0x11
_SEL_VERSION: Final = 0x51
_SEL_RECORD_SIZE: Final = 16
_SDR_ALLOCATION_UNIT: Final = 16
_UNSPECIFIED_TIME: Final = 0xFFFFFFFF
_CLEAR_SIGNATURE: Final = b"CLR"
_CLEAR_INITIATE: Final = 0xAA
_CLEAR_STATUS: Final = 0x00
_ERASE_COMPLETED: Final = 0x01
#: Generator id of a Platform Event Message that arrives over LAN: software id 81h (remote
#: console), channel 1, LUN 0; as SelRecord stores it (byte 1 in the low bits).
_LAN_GENERATOR: Final = 0x81 | (LAN_CHANNEL << 12)


class CompletionError(Exception):
    """A handler's non-zero completion code that is protocol, not model, business."""

    def __init__(self, code: int, data: bytes = b"") -> None:
        super().__init__(f"completion code {code:#04x}")
        self.code = code
        self.data = data


def completion_code(error: ModelError) -> int:
    """The completion code of a model error (its nearest mapped base class)."""
    code = lookup(MODEL_ERRORS, error)
    return CC_UNSPECIFIED if code is None else code


def _u16(data: bytes, at: int) -> int:
    return data[at] | (data[at + 1] << 8)


def _le16(value: int) -> bytes:
    return bytes((value & 0xFF, (value >> 8) & 0xFF))


def _le32(value: int) -> bytes:
    return (value & 0xFFFFFFFF).to_bytes(4, "little")


def _bcd(value: int) -> int:
    value = max(0, min(99, value))
    return ((value // 10) << 4) | (value % 10)


def _ip(text: str) -> bytes:
    return IPv4Address(text).packed


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _slice(record: bytes, offset: int, count: int) -> bytes:
    """Partial read of an SDR or SEL record; FFh reads to the end."""
    if offset > len(record):
        raise CompletionError(CC_INVALID_DATA_FIELD)
    if count == 0xFF:
        return record[offset:]
    if offset + count > len(record):
        raise CompletionError(CC_CANNOT_RETURN_BYTES)
    return record[offset : offset + count]


def _sel_bytes(record: SelRecord) -> bytes:
    """The 16 bytes of a SEL entry (IPMI 2.0 section 32)."""
    head = _le16(record.record_id) + bytes((record.record_type,))
    if record.record_type >= 0xE0:  # OEM, not timestamped
        return head + record.oem[:13].ljust(13, b"\x00")
    stamp = _le32(record.timestamp)
    if record.record_type >= 0xC0:  # OEM, timestamped: manufacturer id and OEM data
        return head + stamp + record.oem[:9].ljust(9, b"\x00")
    direction = 0x00 if record.asserted else 0x80
    return (
        head
        + stamp
        + _le16(record.generator_id)
        + bytes(
            (
                record.evm_rev,
                record.sensor_type,
                record.sensor_number,
                direction | (record.event_type & 0x7F),
            )
        )
        + record.event_data
    )


def _product_id(model: str) -> int:
    digits = re.sub(r"\D", "", model)
    return int(digits) & 0xFFFF if digits else 0


def _user_id(byte: int) -> int:
    user_id = byte & 0x3F
    if not 1 <= user_id <= MAX_USERS:
        raise CompletionError(CC_INVALID_DATA_FIELD)
    return user_id


def _check_lan_channel(byte: int) -> None:
    if byte & 0x0F not in (LAN_CHANNEL, CURRENT_CHANNEL):
        raise CompletionError(CC_INVALID_DATA_FIELD)


def _padded(data: bytes) -> bytes:
    """A NUL-padded name or password without its padding."""
    end = data.find(b"\x00")
    return data if end < 0 else data[:end]


def _credential(user: User) -> Credential | None:
    if not user.enabled or user.privilege is Privilege.NO_ACCESS:
        return None
    return Credential(
        user_id=user.user_id,
        name=user.name.encode(),
        password=user.password.encode(),
        max_privilege=int(user.privilege),
        enabled=user.enabled,
    )


class NodeIpmiBackend:
    """The IPMI face of one node's BMC."""

    def __init__(self, node: Node, reachable: Callable[[], bool] = lambda: True) -> None:
        self._node = node
        self._reachable = reachable
        self._sdr: SdrRepository = build_repository(node.sensors, node.fru.board_mfg_minutes)
        # The FRU and the GUIDs follow the node's identity (a replacement node has new ones).
        self._fru_of: object = None
        self._fru_bytes = b""
        self._guid_of: uuid.UUID | None = None
        self._guids = (b"", b"")
        self._product_id = _le16(_product_id(node.spec.model))
        self._sdr_reservation = 0
        self._boot_set_in_progress = 0
        self._boot_flag_valid_clearing = 0
        self._boot_info_ack = 0
        self._lan_set_in_progress = 0

    @property
    def _fru(self) -> bytes:
        if self._node.fru is not self._fru_of:
            self._fru_of, self._fru_bytes = self._node.fru, build_fru(self._node.fru)
        return self._fru_bytes

    def _guid(self) -> tuple[bytes, bytes]:
        """System and device GUID. IPMI 2.0 section 20.8: a GUID goes on the wire least
        significant byte first, i.e. the RFC 4122 byte string reversed."""
        guid = self._node.guid
        if guid != self._guid_of:
            self._guid_of = guid
            self._guids = (guid.bytes[::-1], uuid.uuid5(guid, "bmc").bytes[::-1])
        return self._guids

    # -- IpmiBackend -----------------------------------------------------------------------
    def answering(self) -> bool:
        return self._node.bmc_answering() and self._reachable()

    def system_guid(self) -> bytes:
        return self._guid()[0]

    def credential(self, name: bytes) -> Credential | None:
        """An enabled user with this name (disabled users cannot log in)."""
        try:
            text = name.decode()
        except UnicodeDecodeError:
            return None
        users = self._node.users
        user = users.by_name(text)
        if user is None or users.locked(user.user_id):  # locked out: RAKP2 0Dh, as unknown
            return None
        return _credential(user)

    def credential_by_privilege(self, privilege: int) -> Credential | None:
        """For a null user name: the first enabled user whose privilege limit reaches it."""
        users = self._node.users
        for user in users.all():
            if user.privilege is Privilege.NO_ACCESS or user.privilege < privilege:
                continue
            if users.locked(user.user_id):
                continue
            cred = _credential(user)
            if cred is not None:
                return cred
        return None

    def login_failed(self, user_id: int) -> None:
        self._node.users.login_failed(user_id)

    def login_succeeded(self, user_id: int) -> None:
        self._node.users.login_succeeded(user_id)

    def dispatch(self, request: Request) -> tuple[int, bytes]:
        entry = COMMANDS.get((request.netfn, request.cmd))
        if entry is None:
            return CC_INVALID_COMMAND, b""
        handler, privilege, lengths = entry
        if request.privilege < privilege:
            return CC_INSUFFICIENT_PRIVILEGE, b""
        if len(request.data) not in lengths:
            return CC_REQUEST_DATA_LENGTH_INVALID, b""
        if privilege >= OPERATOR:
            # An audit line for every state-changing command: who, from where, what.
            log.info(
                "node=%s proto=ipmi event=command name=%s user_id=%d remote=%s:%d",
                self._node.name,
                handler.__name__,
                request.user_id,
                *request.remote,
            )
        try:
            return CC_OK, handler(self, request.data)
        except CompletionError as e:
            return e.code, e.data
        except ModelError as e:
            log.debug(
                "node=%s proto=ipmi event=command.refused netfn=0x%02x cmd=0x%02x reason=%r",
                self._node.name,
                request.netfn,
                request.cmd,
                str(e),
            )
            return completion_code(e), b""
        except Exception:
            log.exception(
                "node=%s proto=ipmi event=command.failed netfn=0x%02x cmd=0x%02x",
                self._node.name,
                request.netfn,
                request.cmd,
            )
            return CC_UNSPECIFIED, b""

    # -- App: device ---------------------------------------------------------------------------
    def get_device_id(self, data: bytes) -> bytes:
        node = self._node
        major, minor = node.bmc_version()
        parts = [int(p) for p in re.split(r"[.-]", node.firmware["bmc"]) if p.isdigit()]
        aux = bytes((p & 0xFF) for p in (parts[2:] + [0, 0, 0, 0])[:4])
        return (
            bytes(
                (
                    DEVICE_ID,
                    DEVICE_REVISION,
                    major & 0x7F,  # bit 7 clear: device available (normal operation)
                    _bcd(minor),
                    IPMI_VERSION_2_0,
                    DEVICE_SUPPORT,
                )
            )
            + MANUFACTURER_ID.to_bytes(3, "little")
            + self._product_id
            + aux
        )

    def get_device_guid(self, data: bytes) -> bytes:
        return self._guid()[1]

    def get_system_guid(self, data: bytes) -> bytes:
        return self._guid()[0]

    def cold_reset(self, data: bytes) -> bytes:
        return self._reset_after_reply(BmcResetKind.COLD)

    def warm_reset(self, data: bytes) -> bytes:
        return self._reset_after_reply(BmcResetKind.WARM)

    def _reset_after_reply(self, kind: BmcResetKind) -> bytes:
        # A real BMC acknowledges, then restarts: run the reset once this reply is on its way.
        node = self._node

        def reset() -> None:
            node.bmc_reset(kind)

        node.clock.call_later(0.0, reset)
        return b""

    def get_self_test_results(self, data: bytes) -> bytes:
        return b"\x55\x00"  # no error

    def get_acpi_power_state(self, data: bytes) -> bytes:
        # System: S0/G0 working or S5/G2 soft-off; device: D0 or D3.
        return b"\x00\x00" if self._node.chassis_on else b"\x05\x03"

    def get_system_info_parameters(self, data: bytes) -> bytes:
        if data[0] & 0x80:
            return bytes((_SYSINFO_PARAMETER_REVISION,))
        param, set_selector = data[1], data[2]
        node = self._node
        texts = {
            1: node.firmware.get("bios", ""),  # system firmware version
            2: node.name,  # system name
            3: "Linux",  # primary operating system name
            4: "Linux" if node.state is HostState.RUNNING else "",  # running OS name
        }
        if param == 0:
            return bytes((_SYSINFO_PARAMETER_REVISION, 0x00))
        if param not in texts:
            raise CompletionError(CC_PARAMETER_NOT_SUPPORTED)
        raw = texts[param].encode("latin-1", "replace")
        # Set 0: encoding (ASCII+Latin1), length, 14 bytes; set n: 16 bytes from 14 + 16(n-1).
        if set_selector == 0:
            block = bytes((0x00, len(raw))) + raw[:14].ljust(14, b"\x00")
        else:
            start = 14 + 16 * (set_selector - 1)
            if start >= max(len(raw), 14):
                raise CompletionError(CC_PARAMETER_OUT_OF_RANGE)
            block = raw[start : start + 16].ljust(16, b"\x00")
        return bytes((_SYSINFO_PARAMETER_REVISION, set_selector)) + block

    # -- App: channels -------------------------------------------------------------------------
    def get_channel_info(self, data: bytes) -> bytes:
        channel = data[0] & 0x0F
        if channel == CURRENT_CHANNEL:
            channel = LAN_CHANNEL
        info = _CHANNELS.get(channel)
        if info is None:
            raise CompletionError(CC_INVALID_DATA_FIELD)
        return bytes((channel,)) + info + IPMI_FORUM_IANA.to_bytes(3, "little") + b"\x00\x00"

    def get_channel_access(self, data: bytes) -> bytes:
        _check_lan_channel(data[0])
        if data[1] >> 6 not in (0b01, 0b10):  # non-volatile or volatile
            raise CompletionError(CC_INVALID_DATA_FIELD)
        return bytes((_CHANNEL_ACCESS, _CHANNEL_PRIVILEGE_LIMIT))

    def set_channel_access(self, data: bytes) -> bytes:
        # The LAN channel's access is fixed: a request that would change it is refused, one
        # that sets what is already there (or sets nothing) succeeds.
        _check_lan_channel(data[0])
        if data[1] >> 6 in (0b01, 0b10) and data[1] & 0x3F != _CHANNEL_ACCESS:
            raise CompletionError(CC_ACCESS_MODE_NOT_SUPPORTED)
        if data[2] >> 6 in (0b01, 0b10) and data[2] & 0x0F != _CHANNEL_PRIVILEGE_LIMIT:
            raise CompletionError(CC_INVALID_DATA_FIELD)
        return b""

    # -- App: users ------------------------------------------------------------------------------
    def get_user_access(self, data: bytes) -> bytes:
        _check_lan_channel(data[0])
        users = self._node.users
        user = users.get(_user_id(data[1]))
        status = 0x40 if user.enabled else 0x80  # enabled / disabled via Set User Password
        fixed = 1  # user 1, the anonymous user, has a fixed (null) name
        messaging = 0x30 if user.privilege is not Privilege.NO_ACCESS else 0x00
        return bytes(
            (
                MAX_USERS,
                status | users.enabled_count(),
                fixed,
                messaging | int(user.privilege),  # call-in allowed, link auth + IPMI messaging
            )
        )

    def set_user_access(self, data: bytes) -> bytes:
        # Bits 6:4 of byte 1 (callback, link auth, IPMI messaging) are not kept per channel:
        # a user with a privilege other than NO ACCESS may use IPMI messaging.
        _check_lan_channel(data[0])
        user_id = _user_id(data[1])
        level = data[2] & 0x0F
        try:
            privilege = Privilege(level)
        except ValueError:
            raise CompletionError(CC_INVALID_DATA_FIELD) from None
        if self._node.users.get(user_id).privilege != privilege:
            self._node.users.set_privilege(user_id, privilege)
        return b""

    def get_user_name(self, data: bytes) -> bytes:
        user = self._node.users.get(_user_id(data[0]))
        return user.name.encode().ljust(MAX_NAME, b"\x00")

    def set_user_name(self, data: bytes) -> bytes:
        user_id = _user_id(data[0])
        try:
            name = _padded(data[1:]).decode("ascii")
        except UnicodeDecodeError:
            raise CompletionError(CC_INVALID_DATA_FIELD) from None
        self._node.users.set_name(user_id, name)
        return b""

    def set_user_password(self, data: bytes) -> bytes:
        twenty = bool(data[0] & 0x80)
        user_id = _user_id(data[0])
        operation = data[1] & 0x03
        users = self._node.users
        if operation in (0b00, 0b01):  # disable / enable
            users.set_enabled(user_id, operation == 0b01)
            return b""
        if len(data) != (22 if twenty else 18):
            raise CompletionError(CC_REQUEST_DATA_LENGTH_INVALID)
        try:
            password = _padded(data[2:]).decode()
        except UnicodeDecodeError:
            raise CompletionError(CC_INVALID_DATA_FIELD) from None
        if operation == 0b10:  # set password
            users.set_password(user_id, password)
            return b""
        stored = users.get(user_id).password  # test password: compare, never log
        if not twenty and len(stored.encode()) > 16:
            raise CompletionError(CC_PASSWORD_WRONG_SIZE)
        if not users.check_password(user_id, password):
            raise CompletionError(CC_PASSWORD_TEST_FAILED)
        return b""

    # -- Chassis -------------------------------------------------------------------------------
    def get_chassis_capabilities(self, data: bytes) -> bytes:
        # Provides a diagnostic interrupt; FRU, SDR, SEL and system management all at 20h.
        return b"\x04\x20\x20\x20\x20"

    def get_chassis_status(self, data: bytes) -> bytes:
        node = self._node
        power = (1 if node.chassis_on else 0) | _RESTORE_POLICY_BITS[node.power_restore_policy]
        if node.failed_psus and not node.has_input_power():
            power |= 0x08  # power fault: no supply delivers
        misc = 0x40  # identify command and state info supported
        if node.identify_on:
            misc |= 0x20 if node.identify_until is None else 0x10
        if node.failed_fans:
            misc |= 0x08  # cooling/fan fault
        if node.failed_drives:
            misc |= 0x04  # drive fault
        return bytes((power, _LAST_POWER_EVENT[node.last_power_event], misc, 0x00))

    def chassis_control(self, data: bytes) -> bytes:
        # Power up with no PSU input raises PowerUnavailable, answered D5h ("not supported in
        # present state"). Real BMCs differ: some accept it and nothing happens (Get Chassis
        # Status then shows power off and a power fault), some answer D5h or D6h. We answer
        # D5h, so a client fails at once instead of waiting for a power state that never
        # comes. Power cycle, hard reset and diagnostic interrupt with the chassis off are
        # also D5h, as IPMI 2.0 section 28.3 recommends for power cycle.
        node = self._node
        action = data[0] & 0x0F
        if action == 0x00:
            node.power_off()
        elif action == 0x01:
            node.power_on(RestartCause.CHASSIS_CONTROL)
        elif action == 0x02:
            node.power_cycle()
        elif action == 0x03:
            node.hard_reset()
        elif action == 0x04:
            node.diag_interrupt()
        elif action == 0x05:
            node.soft_off()  # ACPI overtemperature emulation: the OS shuts down, if it can
        else:
            raise CompletionError(CC_INVALID_DATA_FIELD)
        return b""

    def chassis_identify(self, data: bytes) -> bytes:
        node = self._node
        if len(data) == 2 and data[1] & 0x01:
            node.identify(None)  # force on, indefinitely
        elif data:
            node.identify(float(data[0]))
        else:
            node.identify(node.timings.identify_default_s)
        return b""

    def set_power_restore_policy(self, data: bytes) -> bytes:
        code = data[0] & 0x07
        if code != 0x03:  # 03h: no change, just report what is supported
            policy = _RESTORE_POLICY_CODES.get(code)
            if policy is None:
                raise CompletionError(CC_INVALID_DATA_FIELD)
            self._node.set_power_restore_policy(policy)
        return b"\x07"  # always-on, previous and always-off supported

    def get_system_restart_cause(self, data: bytes) -> bytes:
        cause = self._node.restart_cause
        channel = LAN_CHANNEL if cause is RestartCause.CHASSIS_CONTROL else 0
        return bytes((_RESTART_CAUSE.get(cause, 0x00), channel))

    def set_system_boot_options(self, data: bytes) -> bytes:
        param = data[0] & 0x7F
        value = data[1:]
        if param == 0:  # set in progress: 00 complete, 01 in progress, 10 commit write
            if len(value) != 1:
                raise CompletionError(CC_REQUEST_DATA_LENGTH_INVALID)
            self._boot_set_in_progress = 0 if value[0] & 0x03 == 0x02 else value[0] & 0x03
            return b""
        if param == 3:  # BMC boot flag valid bit clearing
            if len(value) != 1:
                raise CompletionError(CC_REQUEST_DATA_LENGTH_INVALID)
            self._boot_flag_valid_clearing = value[0] & 0x1F
            return b""
        if param == 4:  # boot info acknowledge: write mask, then data
            if len(value) != 2:
                raise CompletionError(CC_REQUEST_DATA_LENGTH_INVALID)
            mask = value[0]
            self._boot_info_ack = (self._boot_info_ack & ~mask) | (value[1] & mask)
            return b""
        if param == 5:
            if len(value) != 5:
                raise CompletionError(CC_REQUEST_DATA_LENGTH_INVALID)
            flags, device = value[0], (value[1] >> 2) & 0x0F
            target = _BOOT_DEVICES.get(device)
            if target is None:
                raise CompletionError(CC_INVALID_DATA_FIELD)
            if not flags & 0x80:
                target = BootTarget.NONE  # flags not valid: no override
            self._node.set_boot_override(
                target, persistent=bool(flags & 0x40), uefi=bool(flags & 0x20)
            )
            return b""
        raise CompletionError(CC_PARAMETER_NOT_SUPPORTED)

    def get_system_boot_options(self, data: bytes) -> bytes:
        param = data[0] & 0x7F
        head = bytes((_BOOT_PARAMETER_VERSION, param))
        if param == 0:
            return head + bytes((self._boot_set_in_progress,))
        if param == 3:
            return head + bytes((self._boot_flag_valid_clearing,))
        if param == 4:
            return head + bytes((0x00, self._boot_info_ack))
        if param == 5:
            override = self._node.boot_override
            flags = 0x20 if override.uefi else 0x00
            if override.active:
                flags |= 0x80 | (0x40 if override.persistent else 0x00)
            device = _BOOT_SELECTORS.get(override.target, 0x0) << 2
            return head + bytes((flags, device, 0x00, 0x00, 0x00))
        raise CompletionError(CC_PARAMETER_NOT_SUPPORTED)

    # -- Sensor/Event --------------------------------------------------------------------------
    def platform_event(self, data: bytes) -> bytes:
        if len(data) == 8:  # system-interface form: generator id first
            generator, data = data[0], data[1:]
        else:
            generator = _LAN_GENERATOR
        evm_rev, sensor_type, sensor_number, kind, d1, d2, d3 = data
        self._node.sel.add(
            SelEntryInput(
                sensor_type=sensor_type,
                sensor_number=sensor_number,
                offset=d1 & 0x0F,
                event_type=kind & 0x7F,
                asserted=not kind & 0x80,
                data2=d2,
                data3=d3,
                message="Platform Event Message",
                generator_id=generator,
                evm_rev=evm_rev,
                raw_data1=d1,
            )
        )
        return b""

    def _sensor(self, number: int) -> sn.SensorDef:
        entry = self._sdr.sensors.get(number)
        if entry is None:
            raise CompletionError(CC_NOT_PRESENT)
        return entry.sensor

    def get_sensor_reading(self, data: bytes) -> bytes:
        entry = self._sdr.sensors.get(data[0])
        if entry is None:
            raise CompletionError(CC_NOT_PRESENT)
        return entry.reading_bytes(self._node.read(data[0]))

    def get_sensor_thresholds(self, data: bytes) -> bytes:
        entry = self._sdr.sensors.get(data[0])
        if entry is None:
            raise CompletionError(CC_NOT_PRESENT)
        if entry.linear is None:
            raise CompletionError(CC_ILLEGAL_FOR_SENSOR)
        return bytes((entry.readable,)) + entry.thresholds

    def get_sensor_hysteresis(self, data: bytes) -> bytes:
        entry = self._sdr.sensors.get(data[0])
        if entry is None:
            raise CompletionError(CC_NOT_PRESENT)
        if entry.linear is None:
            raise CompletionError(CC_ILLEGAL_FOR_SENSOR)
        return bytes((entry.hysteresis, entry.hysteresis))

    def get_sensor_event_enable(self, data: bytes) -> bytes:
        entry = self._sdr.sensors.get(data[0])
        if entry is None:
            raise CompletionError(CC_NOT_PRESENT)
        return entry.event_enable()

    def get_sensor_type(self, data: bytes) -> bytes:
        sensor = self._sensor(data[0])
        return bytes((int(sensor.sensor_type), int(sensor.event_type)))

    def get_device_sdr_info(self, data: bytes) -> bytes:
        count = len(self._sdr) if data and data[0] & 0x01 else len(self._sdr.sensors)
        return bytes((min(count, 0xFF), 0x01))  # static population, sensors on LUN 0

    # -- SDR repository ------------------------------------------------------------------------
    def reserve_sdr(self, data: bytes) -> bytes:
        self._sdr_reservation = (self._sdr_reservation % 0xFFFF) + 1
        return _le16(self._sdr_reservation)

    def get_sdr(self, data: bytes) -> bytes:
        reservation, record_id, offset, count = _u16(data, 0), _u16(data, 2), data[4], data[5]
        # A reservation is needed for partial reads only (IPMI 2.0 section 33.12).
        if offset and (reservation == 0 or reservation != self._sdr_reservation):
            raise CompletionError(CC_RESERVATION_CANCELED)
        found = self._sdr.get(record_id)
        if found is None:
            raise CompletionError(CC_NOT_PRESENT)
        following, record = found
        return _le16(following) + _slice(record, offset, count)

    def get_sdr_repository_info(self, data: bytes) -> bytes:
        sdr = self._sdr
        stamp = _le32(sdr.timestamp)
        # Free space 0; operations: non-modal update, reserve and get-allocation supported.
        return bytes((SDR_VERSION,)) + _le16(len(sdr)) + b"\x00\x00" + stamp + stamp + b"\x23"

    def get_sdr_repository_allocation_info(self, data: bytes) -> bytes:
        sdr = self._sdr
        unit = _SDR_ALLOCATION_UNIT
        units = -(-sdr.size // unit)
        largest = max(-(-len(r) // unit) for r in sdr.records)
        return _le16(units) + _le16(unit) + b"\x00\x00" + b"\x00\x00" + bytes((largest,))

    # -- FRU -----------------------------------------------------------------------------------
    def get_fru_inventory_area_info(self, data: bytes) -> bytes:
        if data[0] != 0:
            raise CompletionError(CC_NOT_PRESENT)
        return _le16(len(self._fru)) + b"\x00"  # accessed by bytes

    def read_fru_data(self, data: bytes) -> bytes:
        if data[0] != 0:
            raise CompletionError(CC_NOT_PRESENT)
        offset, count = _u16(data, 1), data[3]
        if offset >= len(self._fru):
            raise CompletionError(CC_PARAMETER_OUT_OF_RANGE)
        chunk = self._fru[offset : offset + count]
        return bytes((len(chunk),)) + chunk

    def write_fru_data(self, data: bytes) -> bytes:
        # The FRU is built from the node's inventory, which only a hardware change alters:
        # every offset is write-protected.
        if data[0] != 0:
            raise CompletionError(CC_NOT_PRESENT)
        raise CompletionError(CC_FRU_WRITE_PROTECTED)

    # -- SEL -----------------------------------------------------------------------------------
    def get_sel_info(self, data: bytes) -> bytes:
        sel = self._node.sel
        free = (sel.capacity - len(sel)) * _SEL_RECORD_SIZE
        added = _UNSPECIFIED_TIME if sel.last_add is None else sel.last_add
        erased = _UNSPECIFIED_TIME if sel.last_erase is None else sel.last_erase
        # Operations: non-modal update, delete, reserve and get-allocation supported.
        support = 0x2B | (0x80 if sel.overflow else 0x00)
        return (
            bytes((_SEL_VERSION,))
            + _le16(len(sel))
            + _le16(min(free, 0xFFFE))
            + _le32(added)
            + _le32(erased)
            + bytes((support,))
        )

    def get_sel_allocation_info(self, data: bytes) -> bytes:
        sel = self._node.sel
        free = sel.capacity - len(sel)
        return (
            _le16(sel.capacity)
            + _le16(_SEL_RECORD_SIZE)
            + _le16(free)
            + _le16(free)
            + b"\x01"  # a record is one allocation unit
        )

    def reserve_sel(self, data: bytes) -> bytes:
        return _le16(self._node.sel.reserve())

    def _sel_id(self, record_id: int) -> int:
        sel = self._node.sel
        if record_id == 0x0000:
            first = sel.first_id()
            if first is None:
                raise CompletionError(CC_NOT_PRESENT)
            return first
        if record_id == 0xFFFF:
            last = sel.last_id()
            if last is None:
                raise CompletionError(CC_NOT_PRESENT)
            return last
        return record_id

    def _check_sel_reservation(self, reservation: int) -> None:
        # 0000h is never a reservation (Reserve SEL counts from 1), even before the first one.
        if reservation == 0:
            raise CompletionError(CC_RESERVATION_CANCELED)
        self._node.sel.check_reservation(reservation)

    def get_sel_entry(self, data: bytes) -> bytes:
        sel = self._node.sel
        reservation, offset, count = _u16(data, 0), data[4], data[5]
        if offset:  # a reservation is needed for partial reads only
            self._check_sel_reservation(reservation)
        record_id = self._sel_id(_u16(data, 2))
        record = sel.get(record_id)
        following = sel.next_id_after(record_id)
        return _le16(0xFFFF if following is None else following) + _slice(
            _sel_bytes(record), offset, count
        )

    def add_sel_entry(self, data: bytes) -> bytes:
        record_type = data[2]
        if record_type == SYSTEM_EVENT_RECORD:
            kind = data[12]
            entry = SelEntryInput(
                sensor_type=data[10],
                sensor_number=data[11],
                offset=data[13] & 0x0F,
                event_type=kind & 0x7F,
                asserted=not kind & 0x80,
                data2=data[14],
                data3=data[15],
                message="Added by Add SEL Entry",
                generator_id=_u16(data, 7),
                evm_rev=data[9],
                raw_data1=data[13],
            )
        elif record_type >= 0xE0:
            entry = SelEntryInput(0, 0, 0, record_type=record_type, oem=data[3:16])
        elif record_type >= 0xC0:  # timestamp (bytes 3-6) is the BMC's
            entry = SelEntryInput(0, 0, 0, record_type=record_type, oem=data[7:16])
        else:
            raise CompletionError(CC_INVALID_DATA_FIELD)
        return _le16(self._node.sel.add(entry).record_id)

    def delete_sel_entry(self, data: bytes) -> bytes:
        sel = self._node.sel
        self._check_sel_reservation(_u16(data, 0))
        record_id = self._sel_id(_u16(data, 2))
        sel.delete(record_id)
        return _le16(record_id)

    def clear_sel(self, data: bytes) -> bytes:
        if data[2:5] != _CLEAR_SIGNATURE:
            raise CompletionError(CC_INVALID_DATA_FIELD)
        operation = data[5]
        if operation == _CLEAR_INITIATE:
            self._check_sel_reservation(_u16(data, 0))
            self._node.sel.clear(sn.EVENT_LOG)
        elif operation != _CLEAR_STATUS:
            raise CompletionError(CC_INVALID_DATA_FIELD)
        # Erasure is instant. A status query is answered even with the reservation the
        # erase itself cancelled, so a client polling after "initiate" is not refused.
        return bytes((_ERASE_COMPLETED,))

    def get_sel_time(self, data: bytes) -> bytes:
        return _le32(self._node.sel.now())

    def set_sel_time(self, data: bytes) -> bytes:
        self._node.sel.set_time(int.from_bytes(data, "little"))
        return b""

    def get_sel_utc_offset(self, data: bytes) -> bytes:
        return b"\x00\x00"  # the SEL clock is UTC

    # -- Transport: LAN configuration ---------------------------------------------------------
    def get_lan_configuration(self, data: bytes) -> bytes:
        _check_lan_channel(data[0])
        head = bytes((_LAN_PARAMETER_REVISION,))
        if data[0] & 0x80:  # parameter revision only
            return head
        value = self._lan_parameter(data[1])
        if value is None:
            raise CompletionError(CC_PARAMETER_NOT_SUPPORTED)
        return head + value

    def _lan_parameter(self, param: int) -> bytes | None:
        lan = self._node.lan
        if param == 0:
            return bytes((self._lan_set_in_progress,))
        if param == 1:  # authentication type support
            return bytes((_AUTH_TYPES,))
        if param == 2:  # authentication types enabled: callback, user, operator, admin, OEM
            return bytes((_AUTH_TYPES, _AUTH_TYPES, _AUTH_TYPES, _AUTH_TYPES, 0x00))
        if param == 3:
            return _ip(lan.address)
        if param == 4:
            return b"\x01"  # static address
        if param == 5:
            return _mac(lan.mac)
        if param == 6:
            return _ip(lan.netmask)
        if param == 7:  # IPv4 header: TTL 40h, don't fragment, precedence 0, TOS 10h
            return b"\x40\x40\x10"
        if param == 10:  # BMC-generated ARP: responses enabled, gratuitous ARP disabled
            return b"\x02"
        if param == 11:  # gratuitous ARP interval, 500 ms units
            return b"\x04"
        if param == 12:
            return _ip(lan.gateway)
        if param in (13, 15):  # gateway MACs: not learned
            return bytes(6)
        if param == 14:
            return bytes(4)  # no backup gateway
        if param == 16:
            return b"public".ljust(18, b"\x00")
        if param == 17:
            return b"\x00"  # no alert destinations
        if param == 20:  # 802.1q VLAN id, bit 7 of byte 2 = enabled
            vlan = lan.vlan & 0x0FFF
            return bytes((vlan & 0xFF, (vlan >> 8) | (0x80 if vlan else 0x00)))
        if param == 21:
            return b"\x00"  # VLAN priority
        if param == 22:
            return bytes((len(_CIPHER_SUITES),))
        if param == 23:
            return b"\x00" + bytes(_CIPHER_SUITES)
        if param == 24:  # maximum privilege per cipher suite entry, two 4-bit entries a byte
            levels = [ADMIN] * len(_CIPHER_SUITES) + [0] * (16 - len(_CIPHER_SUITES))
            return b"\x00" + bytes(levels[i] | (levels[i + 1] << 4) for i in range(0, 16, 2))
        if param == 26:  # bad password threshold: none
            return bytes(6)
        return None

    def set_lan_configuration(self, data: bytes) -> bytes:
        # The BMC's network settings come from the topology and the fabric routes packets by
        # them, so they cannot change at run time: every parameter we report answers 82h
        # ("attempt to write a read-only parameter"), except "set in progress", which clients
        # write around their changes. Parameters we do not report answer 80h.
        _check_lan_channel(data[0])
        param = data[1]
        if param == 0:
            self._lan_set_in_progress = 0 if data[2] & 0x03 == 0x02 else data[2] & 0x03
            return b""
        if self._lan_parameter(param) is None:
            raise CompletionError(CC_PARAMETER_NOT_SUPPORTED)
        raise CompletionError(CC_READ_ONLY_PARAMETER)


Handler = Callable[[NodeIpmiBackend, bytes], bytes]


def _lengths(*lengths: int) -> frozenset[int]:
    return frozenset(lengths)


#: (netfn, cmd) -> (handler, minimum privilege, accepted request data lengths).
COMMANDS: Final[dict[tuple[int, int], tuple[Handler, int, frozenset[int]]]] = {
    # App (NetFn 06h)
    (NETFN_APP, 0x01): (NodeIpmiBackend.get_device_id, USER, _lengths(0)),
    (NETFN_APP, 0x02): (NodeIpmiBackend.cold_reset, ADMIN, _lengths(0)),
    (NETFN_APP, 0x03): (NodeIpmiBackend.warm_reset, ADMIN, _lengths(0)),
    (NETFN_APP, 0x04): (NodeIpmiBackend.get_self_test_results, USER, _lengths(0)),
    (NETFN_APP, 0x07): (NodeIpmiBackend.get_acpi_power_state, USER, _lengths(0)),
    (NETFN_APP, 0x08): (NodeIpmiBackend.get_device_guid, USER, _lengths(0)),
    (NETFN_APP, 0x37): (NodeIpmiBackend.get_system_guid, USER, _lengths(0)),
    (NETFN_APP, 0x40): (NodeIpmiBackend.set_channel_access, ADMIN, _lengths(3)),
    (NETFN_APP, 0x41): (NodeIpmiBackend.get_channel_access, USER, _lengths(2)),
    (NETFN_APP, 0x42): (NodeIpmiBackend.get_channel_info, USER, _lengths(1)),
    (NETFN_APP, 0x43): (NodeIpmiBackend.set_user_access, ADMIN, _lengths(3, 4)),
    (NETFN_APP, 0x44): (NodeIpmiBackend.get_user_access, OPERATOR, _lengths(2)),
    (NETFN_APP, 0x45): (NodeIpmiBackend.set_user_name, ADMIN, _lengths(17)),
    (NETFN_APP, 0x46): (NodeIpmiBackend.get_user_name, OPERATOR, _lengths(1)),
    (NETFN_APP, 0x47): (NodeIpmiBackend.set_user_password, ADMIN, _lengths(2, 18, 22)),
    (NETFN_APP, 0x59): (NodeIpmiBackend.get_system_info_parameters, USER, _lengths(4)),
    # Chassis (NetFn 00h)
    (NETFN_CHASSIS, 0x00): (NodeIpmiBackend.get_chassis_capabilities, USER, _lengths(0)),
    (NETFN_CHASSIS, 0x01): (NodeIpmiBackend.get_chassis_status, USER, _lengths(0)),
    (NETFN_CHASSIS, 0x02): (NodeIpmiBackend.chassis_control, OPERATOR, _lengths(1)),
    (NETFN_CHASSIS, 0x04): (NodeIpmiBackend.chassis_identify, OPERATOR, _lengths(0, 1, 2)),
    (NETFN_CHASSIS, 0x06): (NodeIpmiBackend.set_power_restore_policy, OPERATOR, _lengths(1)),
    (NETFN_CHASSIS, 0x07): (NodeIpmiBackend.get_system_restart_cause, USER, _lengths(0)),
    (NETFN_CHASSIS, 0x08): (
        NodeIpmiBackend.set_system_boot_options,
        OPERATOR,
        frozenset(range(1, 18)),
    ),
    (NETFN_CHASSIS, 0x09): (NodeIpmiBackend.get_system_boot_options, OPERATOR, _lengths(3)),
    # Sensor/Event (NetFn 04h)
    (NETFN_SENSOR_EVENT, 0x02): (NodeIpmiBackend.platform_event, OPERATOR, _lengths(7, 8)),
    (NETFN_SENSOR_EVENT, 0x20): (NodeIpmiBackend.get_device_sdr_info, USER, _lengths(0, 1)),
    (NETFN_SENSOR_EVENT, 0x21): (NodeIpmiBackend.get_sdr, USER, _lengths(6)),
    (NETFN_SENSOR_EVENT, 0x22): (NodeIpmiBackend.reserve_sdr, USER, _lengths(0)),
    (NETFN_SENSOR_EVENT, 0x25): (NodeIpmiBackend.get_sensor_hysteresis, USER, _lengths(1, 2)),
    (NETFN_SENSOR_EVENT, 0x27): (NodeIpmiBackend.get_sensor_thresholds, USER, _lengths(1)),
    (NETFN_SENSOR_EVENT, 0x29): (NodeIpmiBackend.get_sensor_event_enable, USER, _lengths(1)),
    (NETFN_SENSOR_EVENT, 0x2D): (NodeIpmiBackend.get_sensor_reading, USER, _lengths(1)),
    (NETFN_SENSOR_EVENT, 0x2F): (NodeIpmiBackend.get_sensor_type, USER, _lengths(1)),
    # Storage (NetFn 0Ah)
    (NETFN_STORAGE, 0x10): (NodeIpmiBackend.get_fru_inventory_area_info, USER, _lengths(1)),
    (NETFN_STORAGE, 0x11): (NodeIpmiBackend.read_fru_data, USER, _lengths(4)),
    (NETFN_STORAGE, 0x12): (NodeIpmiBackend.write_fru_data, OPERATOR, frozenset(range(4, 256))),
    (NETFN_STORAGE, 0x20): (NodeIpmiBackend.get_sdr_repository_info, USER, _lengths(0)),
    (NETFN_STORAGE, 0x21): (NodeIpmiBackend.get_sdr_repository_allocation_info, USER, _lengths(0)),
    (NETFN_STORAGE, 0x22): (NodeIpmiBackend.reserve_sdr, USER, _lengths(0)),
    (NETFN_STORAGE, 0x23): (NodeIpmiBackend.get_sdr, USER, _lengths(6)),
    (NETFN_STORAGE, 0x40): (NodeIpmiBackend.get_sel_info, USER, _lengths(0)),
    (NETFN_STORAGE, 0x41): (NodeIpmiBackend.get_sel_allocation_info, USER, _lengths(0)),
    (NETFN_STORAGE, 0x42): (NodeIpmiBackend.reserve_sel, USER, _lengths(0)),
    (NETFN_STORAGE, 0x43): (NodeIpmiBackend.get_sel_entry, USER, _lengths(6)),
    (NETFN_STORAGE, 0x44): (NodeIpmiBackend.add_sel_entry, OPERATOR, _lengths(16)),
    (NETFN_STORAGE, 0x46): (NodeIpmiBackend.delete_sel_entry, OPERATOR, _lengths(4)),
    (NETFN_STORAGE, 0x47): (NodeIpmiBackend.clear_sel, OPERATOR, _lengths(6)),
    (NETFN_STORAGE, 0x48): (NodeIpmiBackend.get_sel_time, USER, _lengths(0)),
    (NETFN_STORAGE, 0x49): (NodeIpmiBackend.set_sel_time, OPERATOR, _lengths(4)),
    (NETFN_STORAGE, 0x5C): (NodeIpmiBackend.get_sel_utc_offset, USER, _lengths(0)),
    # Transport (NetFn 0Ch)
    (NETFN_TRANSPORT, 0x01): (
        NodeIpmiBackend.set_lan_configuration,
        ADMIN,
        frozenset(range(3, 64)),
    ),
    (NETFN_TRANSPORT, 0x02): (NodeIpmiBackend.get_lan_configuration, OPERATOR, _lengths(4)),
}

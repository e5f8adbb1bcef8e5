"""IPMI completion codes (IPMI v2.0 section 5.2, table 5-2), defined once for the session layer
(``bmc.ipmi.session``) and the commands (``bmc.ipmi.commands``).

Generic codes (00h, C0h-FFh) mean the same for every command; command-specific codes (80h-BEh)
mean something only for the command named beside them, so two names may share a number.
"""

from __future__ import annotations

from typing import Final

# -- generic -----------------------------------------------------------------------------------
CC_OK: Final = 0x00
CC_NODE_BUSY: Final = 0xC0
CC_INVALID_COMMAND: Final = 0xC1
CC_OUT_OF_SPACE: Final = 0xC4
CC_RESERVATION_CANCELED: Final = 0xC5
CC_REQUEST_DATA_LENGTH_INVALID: Final = 0xC7
CC_PARAMETER_OUT_OF_RANGE: Final = 0xC9
CC_CANNOT_RETURN_BYTES: Final = 0xCA
CC_NOT_PRESENT: Final = 0xCB
CC_INVALID_DATA_FIELD: Final = 0xCC
CC_ILLEGAL_FOR_SENSOR: Final = 0xCD
CC_INSUFFICIENT_PRIVILEGE: Final = 0xD4
CC_NOT_IN_PRESENT_STATE: Final = 0xD5
CC_UNSPECIFIED: Final = 0xFF

# -- command-specific (80h-BEh) ----------------------------------------------------------------
CC_PARAMETER_NOT_SUPPORTED: Final = 0x80  # boot options, LAN and system info parameters
CC_PASSWORD_TEST_FAILED: Final = 0x80  # Set User Password, test
CC_PASSWORD_WRONG_SIZE: Final = 0x81  # Set User Password, test with the other size
CC_FRU_WRITE_PROTECTED: Final = 0x80  # Write FRU Data: write-protected offset
CC_READ_ONLY_PARAMETER: Final = 0x82  # Set LAN Configuration / Boot Options
CC_ACCESS_MODE_NOT_SUPPORTED: Final = 0x83  # Set Channel Access
CC_INVALID_USER_NAME: Final = 0x81  # Get Session Challenge: no such (enabled) user
CC_NULL_USER_NAME_DISABLED: Final = 0x82  # Get Session Challenge: null user name not enabled
CC_PRIVILEGE_EXCEEDS_LIMIT: Final = 0x86  # Activate Session: over the user's/channel's limit
CC_PRIVILEGE_NOT_AVAILABLE: Final = 0x81  # Set Session Privilege Level: not for this user
CC_INVALID_SESSION_ID: Final = 0x87  # Close Session
CC_INVALID_SESSION_HANDLE: Final = 0x88  # Close Session

"""Every OID the switch agents serve or send, in one place (the only module that spells them).

MIBs: SNMPv2-MIB (RFC 3418), IF-MIB (RFC 2863), ENTITY-MIB (RFC 6933), ENTITY-SENSOR-MIB
(RFC 3433), ENTITY-STATE-MIB (RFC 4268), LLDP-MIB (IEEE 802.1AB-2005).

Vendor-specific values live under 1.3.6.1.4.1.32473, the enterprise number RFC 5612 reserves for
documentation: the emulator is nobody's product, so it claims no real vendor's OIDs.
"""

from __future__ import annotations

OID = tuple[int, ...]

# -- SNMPv2-MIB ----------------------------------------------------------------------------------
SYSTEM: OID = (1, 3, 6, 1, 2, 1, 1)
SYS_DESCR: OID = (*SYSTEM, 1)
SYS_OBJECT_ID: OID = (*SYSTEM, 2)
SYS_UPTIME: OID = (*SYSTEM, 3)
SYS_CONTACT: OID = (*SYSTEM, 4)
SYS_NAME: OID = (*SYSTEM, 5)
SYS_LOCATION: OID = (*SYSTEM, 6)
SYS_SERVICES: OID = (*SYSTEM, 7)
SNMP_TRAP_OID: OID = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
COLD_START: OID = (1, 3, 6, 1, 6, 3, 1, 1, 5, 1)

# -- IF-MIB --------------------------------------------------------------------------------------
IF_NUMBER: OID = (1, 3, 6, 1, 2, 1, 2, 1)
IF_ENTRY: OID = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IF_X_ENTRY: OID = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
IF_INDEX: OID = (*IF_ENTRY, 1)
IF_ADMIN_STATUS: OID = (*IF_ENTRY, 7)
IF_OPER_STATUS: OID = (*IF_ENTRY, 8)
LINK_DOWN: OID = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)
LINK_UP: OID = (1, 3, 6, 1, 6, 3, 1, 1, 5, 4)

# ifTable columns (ifEntry.N)
IF_DESCR, IF_TYPE, IF_MTU, IF_SPEED, IF_PHYS_ADDRESS = 2, 3, 4, 5, 6
IF_ADMIN, IF_OPER, IF_LAST_CHANGE = 7, 8, 9
IF_IN_OCTETS, IF_IN_UCAST, IF_IN_DISCARDS, IF_IN_ERRORS, IF_IN_UNKNOWN_PROTOS = 10, 11, 13, 14, 15
IF_OUT_OCTETS, IF_OUT_UCAST, IF_OUT_DISCARDS, IF_OUT_ERRORS = 16, 17, 19, 20

# ifXTable columns (ifXEntry.N)
IFX_NAME = 1
IFX_IN_MCAST, IFX_IN_BCAST, IFX_OUT_MCAST, IFX_OUT_BCAST = 2, 3, 4, 5
IFX_HC_IN_OCTETS, IFX_HC_IN_UCAST, IFX_HC_IN_MCAST, IFX_HC_IN_BCAST = 6, 7, 8, 9
IFX_HC_OUT_OCTETS, IFX_HC_OUT_UCAST, IFX_HC_OUT_MCAST, IFX_HC_OUT_BCAST = 10, 11, 12, 13
IFX_LINK_TRAP_ENABLE, IFX_HIGH_SPEED, IFX_PROMISCUOUS, IFX_CONNECTOR = 14, 15, 16, 17
IFX_ALIAS, IFX_DISCONTINUITY = 18, 19

IF_TYPE_ETHERNET = 6
STATUS_UP, STATUS_DOWN = 1, 2

# -- ENTITY-MIB ----------------------------------------------------------------------------------
ENT_PHYSICAL_ENTRY: OID = (1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1)
ENT_DESCR, ENT_VENDOR_TYPE, ENT_CONTAINED_IN, ENT_CLASS, ENT_PARENT_REL_POS = 2, 3, 4, 5, 6
ENT_NAME, ENT_HW_REV, ENT_FW_REV, ENT_SW_REV, ENT_SERIAL = 7, 8, 9, 10, 11
ENT_MFG_NAME, ENT_MODEL_NAME, ENT_ALIAS, ENT_ASSET_ID, ENT_IS_FRU = 12, 13, 14, 15, 16
ENT_PHYSICAL_NAME: OID = (*ENT_PHYSICAL_ENTRY, ENT_NAME)
# entPhysicalClass values
CLASS_CHASSIS, CLASS_PSU, CLASS_FAN, CLASS_SENSOR, CLASS_PORT = 3, 6, 7, 8, 10

# -- ENTITY-SENSOR-MIB ---------------------------------------------------------------------------
ENT_SENSOR_ENTRY: OID = (1, 3, 6, 1, 2, 1, 99, 1, 1, 1)
SENSOR_TYPE, SENSOR_SCALE, SENSOR_PRECISION, SENSOR_VALUE = 1, 2, 3, 4
SENSOR_OPER_STATUS, SENSOR_UNITS, SENSOR_TIMESTAMP, SENSOR_UPDATE_RATE = 5, 6, 7, 8
SENSOR_CELSIUS, SENSOR_RPM, SENSOR_WATTS = 8, 10, 6
SCALE_UNITS = 9
SENSOR_OK, SENSOR_UNAVAILABLE, SENSOR_NONOPERATIONAL = 1, 2, 3

# -- ENTITY-STATE-MIB ----------------------------------------------------------------------------
ENT_STATE_ENTRY: OID = (1, 3, 6, 1, 2, 1, 131, 1, 1, 1)
STATE_LAST_CHANGED, STATE_ADMIN, STATE_OPER, STATE_USAGE, STATE_ALARM, STATE_STANDBY = (
    1,
    2,
    3,
    4,
    5,
    6,
)
ENT_STATE_ADMIN: OID = (*ENT_STATE_ENTRY, STATE_ADMIN)
ENT_STATE_ALARM: OID = (*ENT_STATE_ENTRY, STATE_ALARM)
ENT_STATE_OPER_ENABLED: OID = (1, 3, 6, 1, 2, 1, 131, 0, 1)
ENT_STATE_OPER_DISABLED: OID = (1, 3, 6, 1, 2, 1, 131, 0, 2)
ADMIN_UNLOCKED = 4
OPER_DISABLED, OPER_ENABLED = 2, 3
USAGE_ACTIVE = 3
STANDBY_PROVIDING = 3
#: entStateAlarm is BITS: bit 1 critical (0x40 in the first octet), no bits when clear.
ALARM_CRITICAL = b"\x40"
ALARM_NONE = b""

# -- LLDP-MIB ------------------------------------------------------------------------------------
LLDP_LOCAL: OID = (1, 0, 8802, 1, 1, 2, 1, 3)
LLDP_LOC_CHASSIS_SUBTYPE: OID = (*LLDP_LOCAL, 1)
LLDP_LOC_CHASSIS_ID: OID = (*LLDP_LOCAL, 2)
LLDP_LOC_SYS_NAME: OID = (*LLDP_LOCAL, 3)
LLDP_LOC_SYS_DESC: OID = (*LLDP_LOCAL, 4)
LLDP_LOC_SYS_CAP_SUPPORTED: OID = (*LLDP_LOCAL, 5)
LLDP_LOC_SYS_CAP_ENABLED: OID = (*LLDP_LOCAL, 6)
LLDP_LOC_PORT_ENTRY: OID = (*LLDP_LOCAL, 7, 1)
LOC_PORT_ID_SUBTYPE, LOC_PORT_ID, LOC_PORT_DESC = 2, 3, 4
LLDP_REM_ENTRY: OID = (1, 0, 8802, 1, 1, 2, 1, 4, 1, 1)
REM_CHASSIS_SUBTYPE, REM_CHASSIS_ID, REM_PORT_SUBTYPE, REM_PORT_ID = 4, 5, 6, 7
REM_PORT_DESC, REM_SYS_NAME, REM_SYS_DESC, REM_CAP_SUPPORTED, REM_CAP_ENABLED = 8, 9, 10, 11, 12
CHASSIS_SUBTYPE_MAC = 4
PORT_SUBTYPE_MAC, PORT_SUBTYPE_IFNAME = 3, 5
#: LldpSystemCapabilitiesMap BITS: bridge(2) and router(4) -> 0b00101000.
CAP_BRIDGE_ROUTER = b"\x28"
CAP_STATION = b"\x01"  # other(0)... a host advertises station-only (7): 0x01

# -- vendor (RFC 5612 documentation enterprise) --------------------------------------------------
ENTERPRISE: OID = (1, 3, 6, 1, 4, 1, 32473)
SWITCH_PRODUCTS: OID = (*ENTERPRISE, 1, 1)  # sysObjectID = SWITCH_PRODUCTS.<model number>

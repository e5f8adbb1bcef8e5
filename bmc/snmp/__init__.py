"""The BMCs' SNMP side: SNMPv3 hardware traps (:mod:`bmc.snmp.traps`)."""

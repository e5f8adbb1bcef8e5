"""SNMP for the switches: pysnmp 7 agents serving the live model (see ``agent`` and ``mib``)."""

"""``show`` commands: the model's state laid out as Dell OS10 prints it (fixed columns, the same
headers), so that screen-scraping scripts written for a real switch read it."""

from __future__ import annotations

from datetime import UTC, datetime

from switches.model import Switch

RULE = "-" * 98


def stamp(at: float | None) -> str:
    if at is None:
        return "0000-00-00T00:00:00Z"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def uptime(seconds: float | None) -> str:
    if seconds is None:
        return "0 day 00:00:00"
    s = int(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    word = "day" if days == 1 else "days"
    return f"{days} {word} {hours:02d}:{minutes:02d}:{s:02d}"


def version(sw: Switch) -> str:
    return "\n".join(
        [
            "Dell EMC Networking OS10 Enterprise",
            "Copyright (c) 1999-2026 by Dell Inc. All Rights Reserved.",
            f"OS Version: {sw.os_version}",
            f"Build Version: {sw.os_version}.0",
            "Build Time: 2026-01-01T00:00:00+0000",
            f"System Type: {sw.spec.model}",
            "Architecture: x86_64",
            f"Up Time: {uptime(sw.uptime())}",
        ]
    )


def _psu_fan_tables(sw: Switch) -> list[str]:
    lines = [
        "-- Power Supplies --",
        "PSU-ID  Status      Type    AirFlow   Fan  Speed(rpm)  Status",
        "----------------------------------------------------------------",
    ]
    for i, psu in enumerate(sw.psus, start=1):
        status = "up" if sw.psu_ok(psu.name) else "fail"
        lines.append(f"{i:<7} {status:<11} {'AC':<7} {'NORMAL':<9} {1:<4} {'0':<11} {status}")
    lines += [
        "",
        "-- Fan Status --",
        "FanTray  Status      AirFlow   Fan  Speed(rpm)  Status",
        "----------------------------------------------------------------",
    ]
    for i in range(1, len(sw.fans) + 1):
        reading = sw.fan_rpm(i - 1)
        status = "up" if reading.ok else "fail"
        rpm = "" if reading.value is None else str(int(reading.value))
        lines.append(f"{i:<8} {status:<11} {'NORMAL':<9} {1:<4} {rpm:<11} {status}")
    return lines


def system(sw: Switch) -> str:
    short = sw.spec.model.removesuffix("-ON")
    lines = [
        "Node Id               : 1",
        f"MAC                   : {sw.chassis_mac}",
        "Number of MACs        : 256",
        f"Up Time               : {uptime(sw.uptime())}",
        "",
        "-- Unit 1 --",
        f"Status                : {'up' if sw.up else 'down'}",
        "System Identifier     : 1",
        "Down Reason           : unknown",
        "Digital Optical Monitoring : disable",
        "System Location LED   : off",
        f"Required Type         : {short}",
        f"Current Type          : {short}",
        "Hardware Revision     : A01",
        f"Software Version      : {sw.os_version}",
        f"Physical Ports        : {len(sw.ports)}x{sw.spec.port_speed_gbps}GbE",
        "",
    ]
    return "\n".join(lines + _psu_fan_tables(sw))


def inventory(sw: Switch) -> str:
    lines = [
        f"Product               : {sw.spec.model}",
        "Description           : "
        f"{sw.spec.manufacturer} {sw.spec.model} {len(sw.ports)}x{sw.spec.port_speed_gbps}GbE",
        "Software version      : " + sw.os_version,
        "Product Base          : ",
        "Product Serial Number : ",
        "Product Part Number   : ",
        "",
        "Unit Type                    Part Number Rev Piece Part ID                Svc Tag  "
        "Exp Svc Code",
        "-" * 97,
        f"* 1 {sw.spec.model:<24} 0{'':<10} A01 {sw.serial:<26} {sw.serial[:7]:<8} 0",
    ]
    for i, psu in enumerate(sw.psus, start=1):
        lines.append(f"  1 PSU{i:<21} 0{'':<10} A01 {psu.serial:<26} {'':<8} 0")
    for i, fan in enumerate(sw.fans, start=1):
        lines.append(f"  1 FAN{i:<21} 0{'':<10} A01 {fan.serial:<26} {'':<8} 0")
    return "\n".join(lines)


def environment(sw: Switch) -> str:
    lines = [
        "Unit    State          Temperature",
        "-------------------------------------",
    ]
    cpu = sw.temperature(1).value
    lines.append(f"1       {'up' if sw.up else 'down':<14} {'' if cpu is None else int(cpu)}")
    lines += [
        "",
        "Thermal sensors",
        "Unit   Sensor-Id       Sensor-name                                 Temperature",
        "------------------------------------------------------------------------------",
    ]
    for i, sensor in enumerate(sw.temp_sensors):
        value = sw.temperature(i).value
        text = "" if value is None else str(int(value))
        lines.append(f"1      {i + 1:<15} {sensor.name + ' Temp Sensor':<43} {text}")
    return "\n".join(lines + [""] + _psu_fan_tables(sw))


def short_port(name: str) -> str:
    return "Eth " + name.removeprefix("ethernet")


def interface_status(sw: Switch) -> str:
    lines = [
        RULE,
        f"{'Port':<16}{'Description':<16}{'Status':<9}{'Speed':<9}{'Duplex':<9}"
        f"{'Mode':<5}{'Vlan':<5}Tagged-Vlans",
        RULE,
    ]
    provisioned = sw.provisioned
    access = dict(sw.config.net.access)
    for p in sw.ports.values():
        up = p.oper_up
        description = (p.alias if provisioned else "")[:15]
        speed = f"{p.speed_gbps}G" if up else "0"
        duplex = "full" if up else ""
        mode, vid, tagged = "A", str(access.get(p.name, 1)), "-"
        lines.append(
            f"{short_port(p.name):<16}{description:<16}{'up' if up else 'down':<9}{speed:<9}"
            f"{duplex:<9}{mode:<5}{vid:<5}{tagged}"
        )
    lines.append(RULE)
    return "\n".join(lines)


def lldp_neighbors(sw: Switch) -> str:
    lines = [
        f"{'Loc PortID':<20}{'Rem Host Name':<21}{'Rem Port Id':<31}Rem Chassis Id",
        "-" * 89,
    ]
    for p in sw.ports.values():
        n = sw.neighbour(p)
        if n is None:
            continue
        lines.append(f"{p.name:<20}{n.system_name[:20]:<21}{n.port_id[:30]:<31}{n.chassis_id}")
    return "\n".join(lines)


def bgp_peers(sw: Switch) -> list[tuple[str, int | None, bool, bool, float]]:
    """(address, remote AS, enabled, established, since) per neighbor of the running
    configuration's BGP (see ``Switch.bgp_session``)."""
    bgp = sw.config.net.bgp
    if bgp is None:
        return []
    return [(n.address, n.remote_as, n.enabled, *sw.bgp_session(n)) for n in bgp.neighbors]


def ip_bgp_summary(sw: Switch) -> str:
    bgp = sw.config.net.bgp
    if bgp is None:
        return "% Error: BGP is not configured."
    now = sw.uptime() or 0.0
    lines = [
        f"BGP router identifier {bgp.router_id or '0.0.0.0'} local AS number {bgp.asn}",
        f"{'Neighbor':<15}{'AS':<8}{'MsgRcvd':<9}{'MsgSent':<11}{'Up/Down':<18}State/Pfx",
    ]
    booted = sw.booted_at or 0.0
    for addr, asn, enabled, up, since in bgp_peers(sw):
        age = max(0.0, booted + now - max(since, booted))
        msgs = int(age / 30) + 3 if up else 0
        updown = uptime(age).split(" ", 2)[-1] if up else "never"
        state = "12" if up else ("Active" if enabled else "Idle")
        lines.append(f"{addr:<15}{asn or '':<8}{msgs:<9}{msgs:<11}{updown:<18}{state}")
    return "\n".join(lines)


def _ports_list(ports: list[str]) -> str:
    """OS10's port lists: ``1/1/1-1/1/4,1/1/53`` (runs of consecutive ports as ranges)."""
    runs: list[list[str]] = []
    for name in ports:
        short = name.removeprefix("ethernet")
        if runs and _next_port(runs[-1][-1]) == short:
            runs[-1].append(short)
        else:
            runs.append([short])
    return ",".join(r[0] if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def _next_port(short: str) -> str:
    head, _, last = short.rpartition("/")
    return f"{head}/{int(last) + 1}" if last.isdigit() else ""


def vlan(sw: Switch) -> str:
    """``show vlan``: the default VLAN 1 holds every port not in another."""
    net = sw.config.net
    access = dict(net.access)
    lines = [
        "Codes: * - Default VLAN, M - Management VLAN, R - Remote Port Mirroring VLANs,",
        "       @ - Attached to Virtual Network, P - Primary, C - Community, I - Isolated",
        "Q: A - Access (Untagged), T - Tagged",
        f"    {'NUM':<7}{'Status':<10}{'Description':<32}Q Ports",
    ]
    rows = [("*", 1, "", [p for p in sw.ports if p not in access], True)]
    rows += [
        (" ", v.vid, v.description, [p for p, x in access.items() if x == v.vid], v.enabled)
        for v in net.vlans
        if v.vid != 1
    ]
    for mark, vid, description, members, enabled in rows:
        active = enabled and any(sw.ports[p].oper_up for p in members)
        status = "Active" if active else "Inactive"
        q = "A Eth" + _ports_list(members) if members else ""
        lines.append(f"{mark}   {vid:<7}{status:<10}{description[:31]:<32}{q}".rstrip())
    return "\n".join(lines)


def vlt(sw: Switch, domain: str = "1") -> str:
    """``show vlt 1``: the domain, its VLTi (the discovery interfaces) and the peer."""
    v = sw.config.net.vlt
    if v is None or str(v.domain) != domain:
        return f"% Error: VLT domain {domain} is not configured."
    ports = [sw.ports[p] for p in v.discovery]
    vlti_up = any(p.oper_up for p in ports)
    peer_name = next((p.peer.split(":")[0] for p in ports if p.peer), "")
    peer = sw.fabric.get(peer_name)
    peer_vlt = None if peer is None or not peer.up else peer.config.net.vlt
    peer_up = (
        vlti_up and peer_vlt is not None and peer_vlt.domain == v.domain and peer_vlt.mac == v.mac
    )
    unit = 1 if peer_name == "" or sw.name < peer_name else 2
    lines = [
        f"{'Domain ID':<39}: {v.domain}",
        f"{'Unit ID':<39}: {unit}",
        f"{'Role':<39}: {'primary' if unit == 1 or not peer_up else 'secondary'}",
        f"{'Version':<39}: 3.1",
        f"{'Local System MAC address':<39}: {sw.chassis_mac}",
        f"{'Role priority':<39}: 32768",
        f"{'VLT MAC address':<39}: {v.mac or sw.chassis_mac}",
        f"{'IP address':<39}: {v.backup or '-'} (backup destination)",
        f"{'Delay-Restore timer':<39}: 90 seconds",
        f"{'Peer-Routing':<39}: Disabled",
        "VLTi Link Status",
        f"    {'port-channel1000':<35}: {'up' if vlti_up else 'down'}"
        f" (Eth {_ports_list(list(v.discovery)) or '-'})",
        "",
        f"{'VLT Peer Unit ID':<20}{'System MAC Address':<22}{'Status':<10}{'IP Address':<23}"
        "Version",
        "-" * 86,
    ]
    if peer is not None:
        lines.append(
            f"  {3 - unit:<18}{peer.chassis_mac:<22}{'up' if peer_up else 'down':<10}"
            f"{v.backup or '-':<23}3.1"
        )
    return "\n".join(lines)


def logging(sw: Switch) -> str:
    names = {2: "CRIT", 4: "WARN", 5: "NOTI", 6: "INFO"}
    lines = []
    for e in sw.log:
        lines.append(
            f"<{8 + e.severity}>1 {stamp(e.at)} {sw.config.hostname} dn_alm 1022 - - "
            f"Node.1-Unit.1:PRI [{names.get(e.severity, 'INFO').lower()}], "
            f"Dell EMC (OS10) %{e.tag}: {e.text}"
        )
    return "\n".join(lines)


def alarms(sw: Switch) -> str:
    active: list[tuple[str, str, str]] = []
    for psu in sw.psus:
        if not sw.psu_ok(psu.name):
            active.append(("critical", "EQM_PSU_FAIL", f"{psu.name} failed or lost its input"))
    for fan in sw.fans:
        if not sw.fan_ok(fan.name):
            active.append(("critical", "EQM_FAN_FAIL", f"{fan.name} failed"))
    for i, sensor in enumerate(sw.temp_sensors):
        reading = sw.temperature(i)
        if not reading.ok:
            active.append(("major", "EQM_TEMP_WARN", f"{sensor.name} at {reading.value} C"))
    for fault, target in sw.active_faults:
        if fault.value == "port":
            active.append(("major", "IFM_PORT_FAIL", f"Port hardware failed :{target}"))
    lines = [f"Active-alarm details - {len(active)}", "-------------------------------------------"]
    for n, (severity, name, text) in enumerate(active, start=1):
        lines += [
            f"Sequence Number: {n}",
            f"Severity: {severity}",
            "Source: Node.1-Unit.1",
            f"Name: {name}",
            f"Description: {text}",
            "-------------------------------------------",
        ]
    return "\n".join(lines)


def boot(sw: Switch) -> str:
    bank = sw.images
    standby = bank.standby
    nxt = "active" if bank.next_boot is bank.active else "standby"
    return "\n".join(
        [
            "Current system image information:",
            "===================================",
            f"{'Type':<10}{'Boot Type':<16}{'Active':<22}{'Standby':<22}Next-Boot",
            "-" * 83,
            f"{'Node-id 1':<10}{'Flash Boot':<16}"
            f"{f'[{bank.active.value}] {bank.running}':<22}"
            f"{f'[{standby.value}] {bank.versions[standby]}':<22}"
            f"[{bank.next_boot.value}] {nxt}",
        ]
    )


def image_status(sw: Switch) -> str:
    st = sw.images.install
    overall = {"idle": "idle", "in-progress": "in-progress", "completed": "idle", "failed": "idle"}
    return "\n".join(
        [
            f"Image Upgrade State:     {overall[st.state.value]}",
            "==================================================",
            "File Transfer State:     idle",
            "--------------------------------------------------",
            "  State Detail:          "
            + ("Completed: No error" if st.source else "No download information available"),
            f"  Task Start:            {stamp(st.started_at)}",
            f"  Task End:              {stamp(st.started_at)}",
            f"  Transfer Progress:     {100 if st.source else 0} %",
            f"  Transfer Bytes:        {st.size} bytes",
            f"  File Size:             {st.size} bytes",
            "  Transfer Rate:         0 kbps",
            "",
            f"Installation State:      {st.state.value}",
            "--------------------------------------------------",
            f"  State Detail:          {st.detail}",
            f"  Task Start:            {stamp(st.started_at)}",
            f"  Task End:              {stamp(st.ended_at)}",
        ]
    )

"""The switch CLI: the model's users, lockout, images and configure lines (virtual clock), the
OS10 grammar, and the SSH front end against a running rack with OpenSSH's ssh (sshpass),
paramiko and netmiko's dell_os10 driver."""

from __future__ import annotations

import http.server
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator import topology
from emulator.harness import RackThread
from emulator.rack import Rack
from nodes.clock import VirtualClock
from nodes.errors import InvalidArgument, InvalidState
from nodes.events import Event
from nodes.firmware import build_image, corrupt_image
from switches.accounts import CliRole, LoginRefused
from switches.cli.session import CliSession
from switches.events import CliLogin, SwitchChangeMade
from switches.model import Actor
from tests.client_helpers import workload_answer
from tests.conftest import next_base_address, require_tool, wait_for
from tests.rack_helpers import rack_fixture, seen_fixture  # noqa: F401 (fixtures)
from tests.snmp_helpers import run, v2c

SSH_PORT = 16022
SYS_DESCR, SYS_NAME = ".1.3.6.1.2.1.1.1.0", ".1.3.6.1.2.1.1.5.0"
ENT_SW_REV = ".1.3.6.1.2.1.47.1.1.1.1.10"


def image(version: str, model: str = "S5248F-ON") -> bytes:
    return build_image("switch-os", model, version, size=4096)


# -- the model ---------------------------------------------------------------------------------


def test_login_roles_and_lockout(rack: Rack, clock: VirtualClock, seen: list[Event]) -> None:
    sw = rack.switches["tor-a"]
    assert sw.login("admin", "tor-a-Admin-1", "127.0.0.9") is CliRole.SYSADMIN
    assert sw.login("monitor", "tor-a-Monitor-1", "127.0.0.9") is CliRole.NETOPERATOR
    for _ in range(2):
        with pytest.raises(LoginRefused, match="bad-password"):
            sw.login("admin", "wrong", "127.0.0.9")
    with pytest.raises(LoginRefused, match="lockout"):
        sw.login("admin", "wrong", "127.0.0.9")
    with pytest.raises(LoginRefused, match="locked-out"):
        sw.login("admin", "tor-a-Admin-1", "127.0.0.9")  # the right password, still locked
    clock.advance(5 * 60 + 1)
    assert sw.login("admin", "tor-a-Admin-1", "127.0.0.9") is CliRole.SYSADMIN
    logins = [e for e in seen if isinstance(e, CliLogin)]
    assert [e.reason for e in logins][-3:] == ["lockout", "locked-out", "ok"]
    assert all("wrong" not in repr(e) for e in seen)


def test_factory_switch_has_admin_admin_until_the_backup_restores_the_users(
    clock: VirtualClock,
) -> None:
    rack = Rack(topology.load_text(topology.generate(4), "<t>"), clock)
    sw = rack.switches["tor-a"]
    backup = sw.running_config()
    assert sw.login("admin", "tor-a-Admin-1", "h") is CliRole.SYSADMIN
    sw.factory_reset()
    clock.advance(sw.spec.boot_s + 1)
    assert sw.login("admin", "admin", "h") is CliRole.SYSADMIN
    with pytest.raises(LoginRefused):
        sw.login("admin", "tor-a-Admin-1", "h")
    sw.load_config(backup, Actor("admin", "h"), "http://hlh/tor-a.cfg")
    assert sw.provisioned
    assert sw.login("admin", "tor-a-Admin-1", "h") is CliRole.SYSADMIN
    with pytest.raises(LoginRefused):
        sw.login("admin", "admin", "h")


def test_install_boot_standby_and_reload(
    rack: Rack, clock: VirtualClock, seen: list[Event]
) -> None:
    sw = rack.switches["tor-a"]
    sw.install_image(image("10.6.2.0"), "http://hlh/os10.bin", Actor("admin", "h"))
    assert sw.installing
    with pytest.raises(InvalidState, match="in progress"):
        sw.install_image(image("10.6.2.0"), "x")
    clock.advance(sw.spec.install_s + 1)
    assert sw.images.versions[sw.images.standby] == "10.6.2.0"
    assert sw.os_version == "10.6.1.1"
    sw.boot_system("standby", Actor("admin", "h"))
    sw.reboot("reload", Actor("admin", "h"))
    assert not sw.up
    clock.advance(sw.spec.boot_s + 1)
    assert sw.up and sw.os_version == "10.6.2.0" and sw.images.active.value == "B"
    changes = [e.action for e in seen if isinstance(e, SwitchChangeMade)]
    assert changes == ["image install http://hlh/os10.bin", "boot system standby", "reload"]
    # It survives a restart of the emulator: the snapshot keeps both partitions.
    data = sw.snapshot()
    other = Rack(topology.default(4), VirtualClock())
    other.switches["tor-a"].restore(data)
    assert other.switches["tor-a"].os_version == "10.6.2.0"


def test_bad_images_change_nothing(rack: Rack) -> None:
    sw = rack.switches["tor-a"]
    before = sw.snapshot()
    for data, needle in (
        (corrupt_image(image("10.6.2.0")), "SHA-256"),
        (image("10.6.2.0", model="Z9264F-ON"), "model Z9264F-ON"),
        (build_image("bios", "S5248F-ON", "1.0", size=10), "not a switch OS"),
        (b"garbage", "not a firmware image"),
    ):
        with pytest.raises(InvalidArgument, match=needle):
            sw.install_image(data, "http://hlh/x")
    assert not sw.installing and sw.snapshot() == before


def test_cli_grammar_errors_and_read_only_role(rack: Rack) -> None:
    sw = rack.switches["tor-a"]
    before = sw.running_config()
    ro = CliSession(sw, "monitor", CliRole.NETOPERATOR, "h")
    assert "OS Version: 10.6.1.1" in ro.execute("sh ver").output
    for line in ("configure terminal", "write memory", "reload", "image install http://x/y"):
        assert ro.execute(line).output.startswith("% Error: Permission denied"), line
    rw = CliSession(sw, "admin", CliRole.SYSADMIN, "h")
    assert rw.execute("frobnicate").output == "% Error: Unrecognized command."
    assert "Ambiguous" in rw.execute("e").output
    rw.execute("conf t")
    assert rw.prompt() == "tor-a(config)# "
    reply = rw.execute("ip routing bogus")
    assert reply.output.startswith("% Error:") and "unknown command" in reply.output
    rw.execute("interface ethernet1/1/3")
    assert rw.prompt() == "tor-a(conf-if-eth1/1/3)# "
    assert "unknown interface command" in rw.execute("frobnicate").output
    rw.execute("end")
    assert rw.prompt() == "tor-a# " and sw.running_config() == before
    assert rw.execute("reload").output.endswith("[confirm yes/no]:")
    assert rw.execute("no").output == "" and sw.up


# -- against a running rack --------------------------------------------------------------------


@pytest.fixture
def live(tmp_path: Path) -> Iterator[RackThread]:
    base = next_base_address()
    net = base.rsplit(".", 1)[0]
    text = topology.generate(
        4,
        base_address=base,
        ipmi_port=16623,
        redfish_port=16443,
        switch_base_address=f"{net}.240",
        snmp_port=16161,
        host_base_address=f"{net}.200",
        ssh_port=SSH_PORT,
    )
    rack = RackThread(
        topology.load_text(text, "<t>"), speed=100, state_dir=tmp_path / "state", power_on=True
    )
    rack.start()
    yield rack
    rack.close()


SSH_OPTS = [
    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
    "-o", "ConnectTimeout=3", "-o", "PreferredAuthentications=password",
    "-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=1",
]  # fmt: skip


def ssh(rack: RackThread, device: str, command: str, password: str | None = None,
        user: str | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    require_tool("sshpass")
    e = rack.endpoint(device, "ssh")
    return subprocess.run(
        ["sshpass", "-p", password or e.password, require_tool("ssh"), *SSH_OPTS,
         "-p", str(e.port), f"{user or e.username}@{e.address}", command],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hlh(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A test HTTP server on loopback serving a directory (the HLH's role)."""
    root = tmp_path / "hlh"
    root.mkdir()

    def handler(*a: object, **k: object) -> _Files:
        return _Files(*a, directory=str(root), **k)  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def snmp_get(rack: RackThread, device: str, oid: str) -> subprocess.CompletedProcess[str]:
    cmd = v2c("snmpget", rack.endpoint(device, "snmp"), oid)
    cmd[cmd.index("-t") + 1], cmd[cmd.index("-r") + 1] = "0.5", "0"
    return run(cmd)


def paths(rack: RackThread) -> list[str]:
    answer = workload_answer(rack.endpoint("n01", "workload"))
    return [] if answer is None else list(answer["paths"])


@pytest.mark.tools
def test_backup_config_loss_and_restore_with_plain_ssh(
    live: RackThread, hlh: tuple[str, Path]
) -> None:
    url, root = hlh
    assert wait_for(lambda: paths(live) == ["tor-a", "tor-b"], 30)
    backup = ssh(live, "tor-a", "show running-configuration")
    assert backup.returncode == 0, backup.stderr
    assert "hostname tor-a" in backup.stdout and "tor-a-Admin-1" not in backup.stdout
    (root / "tor-a.cfg").write_text(backup.stdout)

    fault = live.call(lambda r: live.runtime.faults.inject("switch-config-loss", "tor-a"))
    boot_s = live.call(lambda r: r.switches["tor-a"].spec.boot_s) / 100
    assert wait_for(lambda: live.call(lambda r: r.switches["tor-a"].up), boot_s + 10)
    assert paths(live) == ["tor-b"]  # the ToR carries no traffic
    assert snmp_get(live, "tor-a", SYS_NAME).returncode != 0  # SNMP silent
    # The factory switch answers SSH with admin/admin only.
    assert ssh(live, "tor-a", "show version").returncode != 0
    factory = ssh(live, "tor-a", "show running-configuration", password="admin")
    assert "hostname OS10" in factory.stdout, factory.stderr

    restored = ssh(live, "tor-a", f"copy {url}/tor-a.cfg running-configuration", password="admin")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    saved = ssh(live, "tor-a", "write memory")  # the backup's users are back
    assert saved.returncode == 0, saved.stdout + saved.stderr
    assert wait_for(lambda: paths(live) == ["tor-a", "tor-b"], 10)
    assert 'STRING: "tor-a"' in snmp_get(live, "tor-a", SYS_NAME).stdout
    startup = ssh(live, "tor-a", "show startup-configuration")
    assert startup.stdout.splitlines()[2:] == backup.stdout.splitlines()[2:]
    record = live.call(lambda r: live.runtime.faults.get(fault.id))
    assert record.state != "active"
    log = ssh(live, "tor-a", "show logging").stdout
    assert "copy " + url + "/tor-a.cfg running-configuration" in log and "admin" in log


@pytest.mark.tools
def test_os_update_with_netmiko_while_tor_b_carries_traffic(
    live: RackThread, hlh: tuple[str, Path]
) -> None:
    netmiko = pytest.importorskip("netmiko")
    url, root = hlh
    (root / "os10-10.6.2.0.bin").write_bytes(image("10.6.2.0"))
    (root / "broken.bin").write_bytes(corrupt_image(image("10.6.3.0")))
    e = live.endpoint("tor-a", "ssh")
    conn = netmiko.ConnectHandler(
        device_type="dell_os10", host=e.address, port=e.port, username=e.username,
        password=e.password,
    )  # fmt: skip
    assert conn.find_prompt() == "tor-a#"
    bad = conn.send_command(f"image install {url}/broken.bin")
    assert "% Error" in bad and "SHA-256" in bad
    assert "[B] 10.6.1.1" in conn.send_command("show boot")
    conn.send_command(f"image install {url}/os10-10.6.2.0.bin")
    assert "in-progress" in conn.send_command("show image status")
    install_s = live.call(lambda r: r.switches["tor-a"].spec.install_s) / 100
    assert wait_for(
        lambda: "Completed: Success" in conn.send_command("show image status"), install_s + 10, 0.5
    )
    conn.send_command("boot system standby")
    assert "[B] standby" in conn.send_command("show boot")
    out = conn.send_config_set(["interface ethernet1/1/30", "description spare"])
    assert "% Error" not in out
    conn.save_config()
    boots = live.call(lambda r: r.switches["tor-a"].boot_count)
    assert "[confirm yes/no]" in conn.send_command_timing("reload")
    seen: list[list[str]] = []
    watching = threading.Event()

    def watch() -> None:  # the node's traffic while tor-a reloads
        while not watching.is_set():
            seen.append(paths(live))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        conn.send_command_timing("yes")
        conn.disconnect()
        boot_s = live.call(lambda r: r.switches["tor-a"].spec.boot_s) / 100
        assert wait_for(
            lambda: live.call(lambda r: r.switches["tor-a"].boot_count) > boots, boot_s + 15
        )
    finally:
        watching.set()
        watcher.join()
    assert ["tor-b"] in seen and all("tor-b" in p for p in seen)  # tor-b carried the traffic
    assert wait_for(lambda: "10.6.2.0" in ssh(live, "tor-a", "show version").stdout, boot_s + 15)
    assert "OS version 10.6.2.0" in snmp_get(live, "tor-a", SYS_DESCR).stdout
    walk = run(v2c("snmpwalk", live.endpoint("tor-a", "snmp"), ENT_SW_REV))
    assert '"10.6.2.0"' in walk.stdout and '"10.6.1.1"' not in walk.stdout, walk.stdout
    assert wait_for(lambda: paths(live) == ["tor-a", "tor-b"], 10)


@pytest.mark.tools
def test_bad_input_over_ssh_leaves_the_switch_unchanged(live: RackThread) -> None:
    paramiko = pytest.importorskip("paramiko")
    e = live.endpoint("tor-b", "ssh")
    before = live.call(lambda r: r.switches["tor-b"].running_config())
    unknown = ssh(live, "tor-b", "frobnicate the switch")
    assert unknown.returncode == 1 and "% Error: Unrecognized command." in unknown.stdout
    # Garbage and a bad configuration line in an interactive paramiko shell.
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(e.address, e.port, e.username, e.password, look_for_keys=False,
                   allow_agent=False, timeout=5)  # fmt: skip
    shell = client.invoke_shell()
    shell.send(b"\xff\xfe\x00\x1b[999;\x07garbage\r\n")
    shell.send(b"configure terminal\r\nhostname bad_name!\r\nend\r\nshow version\r\n")
    text = ""
    deadline = time.monotonic() + 10
    while "OS Version" not in text and time.monotonic() < deadline:
        if shell.recv_ready():
            text += shell.recv(65536).decode("utf-8", "replace")
        time.sleep(0.05)
    client.close()
    assert "OS Version: 10.6.1.1" in text
    assert "% Error: Unrecognized command." in text and "unknown command" in text
    # A wrong password, then a lockout that refuses even the right one.
    monitor = "tor-b-Monitor-1"
    for _ in range(3):
        assert ssh(live, "tor-b", "show version", password="nope", user="monitor").returncode != 0
    locked = ssh(live, "tor-b", "show version", password=monitor, user="monitor")
    assert locked.returncode != 0 and "Permission denied" in locked.stderr
    assert ssh(live, "tor-b", "show version").returncode == 0  # admin is not locked
    assert live.call(lambda r: r.switches["tor-b"].running_config()) == before
    logs = ssh(live, "tor-b", "show logging").stdout
    assert "lockout" in logs and "nope" not in logs and monitor not in logs
    # Host keys are kept in the state directory.
    assert (live.runtime.state_dir / "ssh" / "tor-b.key").exists()


def host_key_of(rack: RackThread, device: str) -> str:
    paramiko = pytest.importorskip("paramiko")
    e = rack.endpoint(device, "ssh")
    transport = paramiko.Transport((e.address, e.port))
    try:
        transport.start_client(timeout=5)
        return str(transport.get_remote_server_key().get_base64())
    finally:
        transport.close()


@pytest.mark.tools
def test_ssh_is_silent_while_the_switch_is_off_and_keeps_its_host_key(
    live: RackThread, tmp_path: Path
) -> None:
    key = host_key_of(live, "tor-a")
    live.call(lambda r: r.switches["tor-a"].inject_fault("power"))
    dark = ssh(live, "tor-a", "show version")
    assert dark.returncode == 255 and "timed out" in dark.stderr, dark.stderr
    live.call(lambda r: r.switches["tor-a"].clear_fault("power"))
    boot_s = live.call(lambda r: r.switches["tor-a"].spec.boot_s) / 100
    assert wait_for(lambda: ssh(live, "tor-a", "show version").returncode == 0, boot_s + 15)
    topo, state_dir = live.topology, live.runtime.state_dir
    live.close()
    again = RackThread(topo, speed=100, state_dir=state_dir).start()
    try:
        assert host_key_of(again, "tor-a") == key
        # The switch's own log came back from the state store (the logins before the restart).
        assert "ALM_USER_LOGIN" in ssh(again, "tor-a", "show logging").stdout
        assert host_key_of(again, "tor-b") != key
    finally:
        again.close()


def test_firmware_make_builds_a_switch_os_image(tmp_path: Path, rack: Rack) -> None:
    from click.testing import CliRunner

    from emulator.cli import main

    out = tmp_path / "os10.bin"
    result = CliRunner().invoke(
        main,
        ["firmware", "make", "--component", "switch-os", "--model", "S5248F-ON",
         "--version", "10.6.2.0", "-o", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    sw = rack.switches["tor-a"]
    sw.install_image(out.read_bytes(), "file")
    assert sw.installing


@pytest.fixture
def scp_hlh(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An SCP/SFTP server on loopback (asyncssh, password hlh/hlh-pass-1), files under a
    directory: the HLH where backups are kept."""
    import asyncio

    import asyncssh

    root = tmp_path / "scp-hlh"
    root.mkdir()
    loop = asyncio.new_event_loop()
    started: list[asyncssh.SSHAcceptor] = []

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return username == "hlh" and password == "hlh-pass-1"

    async def start() -> None:
        started.append(
            await asyncssh.create_server(
                Server,
                "127.0.0.1",
                0,
                server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
                sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(root)),
                allow_scp=True,
            )
        )

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    port = started[0].sockets[0].getsockname()[1]
    yield port, root
    loop.call_soon_threadsafe(started[0].close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.mark.tools
def test_backup_and_restore_over_scp(live: RackThread, scp_hlh: tuple[int, Path]) -> None:
    port, root = scp_hlh
    url = f"scp://hlh:hlh-pass-1@127.0.0.1:{port}/tor-b.cfg"
    taken = ssh(live, "tor-b", f"copy running-configuration {url}")
    assert taken.returncode == 0, taken.stdout + taken.stderr
    assert (root / "tor-b.cfg").read_text() == ssh(
        live, "tor-b", "show running-configuration"
    ).stdout
    # OpenSSH's scp (-O: the SCP protocol, as the switch speaks it) reads the backup too.
    local = root.parent / "copy.cfg"
    got = subprocess.run(
        ["sshpass", "-p", "hlh-pass-1", require_tool("scp"), "-O", *SSH_OPTS, "-P", str(port),
         "hlh@127.0.0.1:/tor-b.cfg", str(local)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert local.read_text() == (root / "tor-b.cfg").read_text()
    # A port shut by hand, then the backup restored over SCP brings it back.
    live.call(lambda r: r.switches["tor-b"].set_admin("ethernet1/1/3", False))
    restored = ssh(live, "tor-b", f"copy {url} running-configuration")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert live.call(lambda r: r.switches["tor-b"].ports["ethernet1/1/3"].admin_up)
    # A wrong password at the HLH: a clear error, no password echoed, nothing changed.
    bad = ssh(
        live, "tor-b", f"copy scp://hlh:wrong-pw@127.0.0.1:{port}/tor-b.cfg running-configuration"
    )
    assert bad.returncode == 1 and "% Error" in bad.stdout and "wrong-pw" not in bad.stdout
    logs = ssh(live, "tor-b", "show logging").stdout
    assert "hlh:********@" in logs and "hlh-pass-1" not in logs


def test_os_drift_model_side_and_its_documented_fix(rack: Rack, clock: VirtualClock) -> None:
    from switches.events import OsVersionChanged

    sw = rack.switches["tor-a"]
    seen: list[Event] = []
    rack.bus.subscribe(seen.append)
    sw.drift_os("10.6.1.0")
    assert (
        sw.os_version == "10.6.1.0"
        and "OS Version: 10.6.1.0"
        in CliSession(sw, "monitor", CliRole.NETOPERATOR, "h").execute("show version").output
    )
    with pytest.raises(InvalidArgument):
        sw.drift_os("bad version")
    sw.install_image(image("10.6.1.1"), "http://hlh/os10.bin")
    clock.advance(sw.spec.install_s + 1)
    sw.boot_system("standby")
    sw.reboot()
    clock.advance(sw.spec.boot_s + 1)
    assert sw.os_version == "10.6.1.1"
    assert [e.cause for e in seen if isinstance(e, OsVersionChanged)] == ["drift", "boot"]

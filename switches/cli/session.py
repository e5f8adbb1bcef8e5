"""One CLI session on a switch: OS10's modes, prompts and commands, with no I/O.

``execute(line)`` runs one line and answers a :class:`Reply`: the text to print and, for
``copy`` and ``image install``, a :class:`Transfer` the adapter carries out (HTTP or SCP) before
calling ``finish(transfer, data)``. Modes: exec (``tor-a#``), configuration
(``tor-a(config)#``) and an interface's (``tor-a(conf-if-eth1/1/1)#``). Words may be shortened
to any unique prefix (``sh ver``, ``conf t``). Anything the grammar does not know, or the model
refuses, answers ``% Error: ...`` and changes nothing; the netoperator role may only look.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from nodes.errors import ModelError
from switches.accounts import CliRole
from switches.cli import render
from switches.model import Actor, Switch
from switches.netconfig import Mode, prompt_mode

ERROR_UNKNOWN = "% Error: Unrecognized command."
ERROR_DENIED = "% Error: Permission denied: the {role} role cannot run this command."
CONFIRM_RELOAD = "Proceed to reboot the system? [confirm yes/no]:"

_URL = re.compile(r"^(http|https|scp|ftp|tftp|sftp)://\S+$")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def mask_url(url: str) -> str:
    """A URL as a log, an event or an error may show it: ``scp://admin:********@hlh/x``."""
    return _URL_PASSWORD.sub(r"\1********@", url)


@dataclass(frozen=True)
class Transfer:
    """A file to fetch from (``get``) or send to (``put``) ``url``; ``what`` says which command
    asked (``config``: a configuration, ``image``: an OS image)."""

    url: str
    direction: str
    what: str
    data: bytes = b""


@dataclass
class Reply:
    output: str = ""
    transfer: Transfer | None = None
    close: bool = False


@dataclass(frozen=True)
class _Command:
    words: tuple[str, ...]  # literal words; "<url>", "<word>", "<n>" take an argument
    run: Callable[[CliSession, list[str]], Reply]
    change: bool = False  # sysadmin only
    modes: tuple[str, ...] = ("exec",)


@dataclass
class CliSession:
    switch: Switch
    user: str
    role: CliRole
    address: str
    mode: str = "exec"  # exec, config
    #: The configuration blocks entered in config mode (``("interface ethernet1/1/1",)``,
    #: ``("router bgp 64801", "neighbor 100.71.49.2")``): see ``switches.netconfig``.
    path: Mode = ()
    paging: bool = True
    _confirm: Callable[[bool], Reply] | None = field(default=None, repr=False)

    @property
    def actor(self) -> Actor:
        return Actor(self.user, self.address)

    def prompt(self) -> str:
        if self._confirm is not None:
            return ""
        host = self.switch.config.hostname
        if self.mode == "config":
            return f"{host}({prompt_mode(self.path[-1]) if self.path else 'config'})# "
        return f"{host}# "

    # -- one line ------------------------------------------------------------------------------
    def execute(self, line: str) -> Reply:
        text = line.strip()
        if self._confirm is not None:
            answer, self._confirm = self._confirm, None
            return answer(text.lower() in ("yes", "y"))
        if not text or text.startswith("!"):
            return Reply()
        if not text.isprintable():
            return Reply("% Error: Invalid input: non-printable characters.")
        words = text.split()
        if words[0] == "do" and self.mode != "exec" and len(words) > 1:
            words = words[1:]
            mode = "exec"
        else:
            mode = "exec" if self.mode == "exec" else "config"
        command, args, error = _match(words, mode)
        if command is None:
            if mode == "config":
                return self._configure(text)
            return Reply(error)
        if command.change and not self.role.may_change:
            return Reply(ERROR_DENIED.format(role=self.role.value))
        try:
            return command.run(self, args)
        except ModelError as exc:
            return Reply(f"% Error: {exc}")

    def finish(self, transfer: Transfer, data: bytes | None, error: str = "") -> Reply:
        """The adapter's answer to a :class:`Transfer`: the bytes fetched (``get``), or None and
        ``error`` when it failed."""
        source = mask_url(transfer.url)
        if data is None:
            return Reply(f"% Error: {source}: {error or 'transfer failed'}")
        try:
            if transfer.what == "image":
                self.switch.install_image(data, source, self.actor)
                return Reply()
            if transfer.what == "config":
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    return Reply("% Error: the configuration is not text")
                self.switch.load_config(text, self.actor, source)
                return Reply()
        except ModelError as exc:
            return Reply(f"% Error: {exc}")
        return Reply()  # a put: nothing to do once sent

    def _configure(self, text: str) -> Reply:
        if not self.role.may_change:
            return Reply(ERROR_DENIED.format(role=self.role.value))
        try:
            self.path, _ = self.switch.configure(text, self.path, self.actor)
        except ModelError as exc:
            return Reply(f"% Error: {exc}")
        return Reply()


# -- commands ------------------------------------------------------------------------------------
def _show(renderer: Callable[[Switch], str]) -> Callable[[CliSession, list[str]], Reply]:
    return lambda s, _args: Reply(renderer(s.switch))


def _terminal(s: CliSession, args: list[str]) -> Reply:
    if not args[0].isdigit() or int(args[0]) > 512:
        return Reply('% Error: Invalid input detected at "^" marker.')
    s.paging = int(args[0]) != 0
    return Reply()


def _configure(s: CliSession, _args: list[str]) -> Reply:
    s.mode, s.path = "config", ()
    return Reply()


def _end(s: CliSession, _args: list[str]) -> Reply:
    s.mode, s.path = "exec", ()
    return Reply()


def _exit(s: CliSession, _args: list[str]) -> Reply:
    if s.mode == "config" and s.path:
        s.path = s.path[:-1]
    elif s.mode == "config":
        s.mode = "exec"
    else:
        return Reply(close=True)
    return Reply()


def _save(s: CliSession, _args: list[str]) -> Reply:
    s.switch.save_config(s.actor)
    return Reply()


def _copy(s: CliSession, args: list[str]) -> Reply:
    src, dst = args
    names = ("running-configuration", "startup-configuration")
    if src == "running-configuration" and dst == "startup-configuration":
        return _save(s, [])
    if _URL.match(src) and dst == "running-configuration":
        if not s.role.may_change:
            return Reply(ERROR_DENIED.format(role=s.role.value))
        return Reply(transfer=Transfer(src, "get", "config"))
    if src in names and _URL.match(dst):
        text = s.switch.running_config() if src == names[0] else s.switch.saved_config()
        return Reply(transfer=Transfer(dst, "put", "config", text.encode()))
    return Reply('% Error: Invalid input detected at "^" marker.')


def _image_install(s: CliSession, args: list[str]) -> Reply:
    if not _URL.match(args[0]):
        return Reply(f"% Error: {args[0]!r} is not a URL (http://, scp://...)")
    if s.switch.installing:
        return Reply("% Error: an image install is already in progress")
    return Reply(transfer=Transfer(args[0], "get", "image"))


def _boot_system(s: CliSession, args: list[str]) -> Reply:
    s.switch.boot_system(args[0], s.actor)
    return Reply()


def _reload(s: CliSession, _args: list[str]) -> Reply:
    def answer(yes: bool) -> Reply:
        if not yes:
            return Reply()
        try:
            s.switch.reboot("reload", s.actor)
        except ModelError as exc:
            return Reply(f"% Error: {exc}")
        return Reply(close=True)

    s._confirm = answer
    return Reply(CONFIRM_RELOAD)


_EXEC = ("exec",)
_ANY = ("exec", "config")
COMMANDS: tuple[_Command, ...] = (
    _Command(("show", "version"), _show(render.version)),
    _Command(("show", "system"), _show(render.system)),
    _Command(("show", "inventory"), _show(render.inventory)),
    _Command(("show", "environment"), _show(render.environment)),
    _Command(("show", "running-configuration"), _show(lambda sw: sw.running_config().rstrip())),
    _Command(("show", "startup-configuration"), _show(lambda sw: sw.saved_config().rstrip())),
    _Command(("show", "interface", "status"), _show(render.interface_status)),
    _Command(("show", "lldp", "neighbors"), _show(render.lldp_neighbors)),
    _Command(("show", "ip", "bgp", "summary"), _show(render.ip_bgp_summary)),
    _Command(("show", "vlan"), _show(render.vlan)),
    _Command(("show", "vlt", "<word>"), lambda s, a: Reply(render.vlt(s.switch, a[0]))),
    _Command(("show", "logging"), _show(render.logging)),
    _Command(("show", "alarms"), _show(render.alarms)),
    _Command(("show", "image", "status"), _show(render.image_status)),
    _Command(("show", "boot"), _show(render.boot)),
    _Command(("terminal", "length", "<n>"), _terminal, modes=_EXEC),
    _Command(("terminal", "width", "<n>"), lambda s, a: Reply(), modes=_EXEC),
    _Command(("configure", "terminal"), _configure, change=True),
    _Command(("configure",), _configure, change=True),
    _Command(("end",), _end, modes=_ANY),
    _Command(("exit",), _exit, modes=_ANY),
    _Command(("write", "memory"), _save, change=True),
    _Command(("copy", "<word>", "<word>"), _copy),
    _Command(("image", "install", "<word>"), _image_install, change=True),
    _Command(("boot", "system", "<word>"), _boot_system, change=True),
    _Command(("reload",), _reload, change=True),
)


def _match(words: list[str], mode: str) -> tuple[_Command | None, list[str], str]:
    """The command ``words`` name (each literal word may be a unique prefix), its arguments,
    or None and the error to print."""
    candidates = [c for c in COMMANDS if mode in c.modes and len(c.words) == len(words)]
    args: list[list[str]] = [[] for _ in candidates]
    for i, word in enumerate(words):
        exact = [c for c in candidates if c.words[i] == word]
        if exact:
            keep = exact + [c for c in candidates if c.words[i].startswith("<")]
        else:
            keep = [
                c
                for c in candidates
                if c.words[i].startswith("<") or c.words[i].startswith(word.lower())
            ]
            literals = {c.words[i] for c in keep if not c.words[i].startswith("<")}
            if len(literals) > 1:
                return None, [], f'% Error: Ambiguous command: "{" ".join(words[: i + 1])}"'
        args = [
            a + ([word] if c.words[i].startswith("<") else [])
            for c, a in zip(candidates, args, strict=True)
            if c in keep
        ]
        candidates = [c for c in candidates if c in keep]
        if not candidates:
            return None, [], ERROR_UNKNOWN
    if not candidates:
        return None, [], ERROR_UNKNOWN
    return candidates[0], args[0], ""

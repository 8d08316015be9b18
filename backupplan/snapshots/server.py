"""A job's destination folder on a server reached over ssh, and the short POSIX shell scripts run
there for its snapshots (snapshots.remote): each is one ssh command with the job's own ssh options
(engines.ssh: port, key, known_hosts, BatchMode), run with `sh -c` whatever the login shell is,
every name quoted with shlex.quote. Failures are worded with ssh's own error table
(engines.ssh.ssh_problem) first.

The server needs a POSIX `sh` with ls, mkdir, mv (with -T: GNU coreutils or BusyBox), ln, rm,
readlink and find: a login restricted to rsync (`rrsync`) cannot hold snapshots.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from backupplan.engines import TransferSpec
from backupplan.engines.base import location_kind, one_line
from backupplan.engines.ssh import ssh_problem
from backupplan.snapshots.layout import LATEST, Listing, SnapshotError, sort_folders

COMMAND_TIMEOUT = 120.0  # seconds for one remote command when the caller gives no limit
SCRIPT_LIMIT = 60_000  # bytes of names per script: sshd hands the command to a shell as one argument
# Markers in a script's output. A file name cannot hold '/', so no entry of `ls` looks like one.
LISTED, LINK, MISSING, NO_PARENT, RENAMED, MOVED = (
    "//listed", "//latest", "//missing", "//no-parent", "//renamed", "//moved ",
)  # fmt: skip
SHELL_HINT = (
    "snapshots on a server need an ssh login with a POSIX shell and ls, mkdir, mv, ln, rm, readlink "
    "and find (a login restricted to rsync with rrsync cannot hold snapshots); see docs/remote.md"
)
_LOGIN = re.compile(r"^(?P<login>(?:[^@/:]+@)?(?:\[[^\]]+\]|[^:/]+)):(?P<path>.*)$")


class RemoteError(SnapshotError):
    """A command on the server failed: its message and hint are worded for people, and `kind` says
    whether trying again later may help (`retryable`: the server could not be reached)."""

    def __init__(self, message: str, hint: str = SHELL_HINT, kind: str = "fatal") -> None:
        super().__init__(message)
        self.hint = hint
        self.kind = kind


@dataclass(frozen=True)
class Remote:
    """A job's destination folder on a server reached over ssh."""

    ssh: tuple[str, ...]  # the ssh argv without the host (engines.ssh.ssh_argv: the job's settings)
    login: str  # `user@host`, as rsync is given it
    path: str  # the folder on the server; relative paths start at the remote user's home
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def host(self) -> str:
        return self.login.rsplit("@", 1)[-1].strip("[]")

    @property
    def ssh_target(self) -> str:
        """`user@host` as ssh takes it (an IPv6 address without its brackets)."""
        return re.sub(r"\[(.*)\]$", r"\1", self.login)

    def folder(self, name: str | None = None) -> str:
        return self.path if name is None else posixpath.join(self.path, name)

    def operand(self, name: str | None = None) -> str:
        """`user@host:/path[/name]`: the folder as rsync names it."""
        return f"{self.login}:{self.folder(name)}"


def remote_of(spec: TransferSpec) -> Remote | None:
    """Given a transfer, return its destination's folder on a server reached over ssh, or None
    (a local folder, an rsync daemon)."""
    if not spec.rsh or location_kind(spec.destination) == "local" or spec.destination.startswith("rsync://"):
        return None
    match = _LOGIN.match(spec.destination)  # `user@[fd00::1]:path` too, which location_kind misreads
    if match is None or match["path"].startswith(":"):  # `host::module`: an rsync daemon
        return None
    written = match["path"]
    path = written.rstrip("/") or ("/" if written.startswith("/") else ".")
    return Remote(tuple(spec.rsh), match["login"], path, dict(spec.env))


@dataclass(frozen=True)
class Answer:
    """How a script on the server ended, and what it printed (one line per entry)."""

    exit_code: int | None
    output: list[str]
    errors: list[str]


async def run_on_server(
    remote: Remote, script: str, *, timeout: float | None = None, cancel: asyncio.Event | None = None
) -> Answer:
    """Run `script` with `sh -c` on the server over the job's ssh; return how it ended. Raise
    RemoteError when ssh cannot be started, or the script was stopped (time limit, cancel)."""
    from backupplan.errors import BackupplanError
    from backupplan.process.execute import run_process

    output: list[str] = []
    errors: list[str] = []
    argv = (*remote.ssh, "--", remote.ssh_target, "sh -c " + shlex.quote(script))
    try:
        result = await run_process(
            argv,
            env={**os.environ, **remote.env},
            on_stdout=lambda record: output.append(record.decode("utf-8", "surrogateescape")),
            on_stderr=lambda record: errors.append(record.decode("utf-8", "backslashreplace")),
            timeout=COMMAND_TIMEOUT if timeout is None else timeout,
            cancel=cancel,
        )
    except BackupplanError as error:
        raise RemoteError(f"cannot run ssh: {error}", "install openssh-client, or check PATH") from None
    if result.timed_out or result.cancelled:
        why = "it reached its time limit" if result.timed_out else "on request"
        raise RemoteError(f"a command on {remote.host} over ssh was stopped: {why}", "", "fatal")
    return Answer(result.exit_code, output, errors)


def failure(remote: Remote, answer: Answer, doing: str) -> RemoteError:
    """Given a script that failed while `doing` something, return the error worded for people:
    ssh's own words (host key, refused key, unreachable) first, then what the server said."""
    known = ssh_problem(answer.errors, remote.host, answer.exit_code)
    if known is not None:
        return RemoteError(f"{doing}: {known.message}", known.hint, known.kind)
    said = [line for line in answer.errors if line.strip()]
    detail = one_line(said[0], 200) if said else f"exit {answer.exit_code}"
    return RemoteError(f"{doing} on {remote.host} failed: {detail}")


def q(text: str) -> str:
    return shlex.quote(text)


def enter(remote: Remote) -> str:
    return f"cd -- {q(remote.path)} || exit 3"


def point_latest_lines(snapshot: str, on_failure: str) -> list[str]:
    """Shell lines that point `latest` at `snapshot`: a new link under a temporary name, moved over
    the old one (`mv -T` replaces the link itself, not what it points into), then `on_failure`."""
    temporary = q(f".{LATEST}.{os.getpid()}.tmp")
    return [
        f"rm -f -- {temporary}",
        f"if ln -s -- {q(snapshot)} {temporary} && mv -T -- {temporary} {LATEST}; then :; "
        f"else rm -f -- {temporary}; {on_failure}; fi",
    ]


def listing_script(path: str, *, create: bool) -> str:
    """The script that lists a destination folder: its entries (`ls -1ap`: folders end in '/'),
    then where `latest` points. With `create`, a missing folder is made (0700) when its parent
    exists; a missing parent is reported (is the disk mounted?)."""
    folder = q(path)
    parent = q(posixpath.dirname(path.rstrip("/")) or ("/" if path.startswith("/") else "."))
    missing = (
        f"if [ -d {parent} ]; then mkdir -m 700 -- {folder} || exit 3; else echo {NO_PARENT}; exit 0; fi"
        if create
        else f"echo {MISSING}; exit 0"
    )
    return "\n".join([
        f"if [ ! -d {folder} ]; then",
        f"  if [ -e {folder} ] || [ -L {folder} ]; then echo {folder} is not a folder >&2; exit 3; fi",
        f"  {missing}",
        "fi",
        f"cd -- {folder} || exit 3",
        *listing_here(),
        "exit 0",
    ])  # fmt: skip


def listing_here() -> list[str]:
    """Shell lines that list the current folder as the listing script does (`parse_listing`
    reads what they print)."""
    return [f"echo {LISTED}", "ls -1ap || exit 3", f"echo {LINK}", f"readlink {LATEST} 2>/dev/null"]


def parse_listing(remote: Remote, lines: Sequence[str]) -> Listing:
    """Given what the listing script printed, return the listing; raise RemoteError when the
    destination's parent folder is missing, or the output is not the script's."""
    if NO_PARENT in lines:
        parent = posixpath.dirname(remote.path.rstrip("/")) or "the remote user's home"
        raise RemoteError(
            f"the destination's parent folder {parent} does not exist on {remote.host}: is the disk "
            "mounted there? (backupplan does not create it, so that a backup never fills the system disk)",
            "create the folder on the server, or fix the job's destination",
        )
    destination = Path(remote.path)
    if MISSING in lines:
        return Listing(destination, login=remote.login)
    if LISTED not in lines or LINK not in lines:
        raise RemoteError(
            f"the listing of {remote.operand()} came back incomplete: {one_line(' '.join(lines))}"
        )
    start, end = lines.index(LISTED) + 1, lines.index(LINK)
    folders = [entry[:-1] for entry in lines[start:end] if entry.endswith("/") and entry not in ("./", "../")]
    latest = lines[end + 1] if len(lines) > end + 1 and lines[end + 1] else None
    return sort_folders(destination, folders, latest, remote.login)


async def list_remote(
    remote: Remote, *, create: bool = False, timeout: float | None = None, cancel: asyncio.Event | None = None
) -> Listing:
    """Given a destination on a server, return what it holds (with one ssh command); raise
    RemoteError when it cannot be listed."""
    answer = await run_on_server(
        remote, listing_script(remote.path, create=create), timeout=timeout, cancel=cancel
    )
    if answer.exit_code != 0:
        raise failure(remote, answer, f"listing the snapshots in {remote.operand()}")
    return parse_listing(remote, answer.output)


def read_remote_listing(remote: Remote, timeout: float | None = None) -> Listing:
    """`list_remote` for commands, which run outside an event loop."""
    return asyncio.run(list_remote(remote, timeout=timeout))


def batches(words: Iterable[str], limit: int = SCRIPT_LIMIT) -> list[list[str]]:
    """Given words for a script, return them in groups of at most `limit` bytes quoted (one at
    least): sshd hands a command to the login shell as one argument, which Linux caps at 128 KiB."""
    groups: list[list[str]] = [[]]
    size = 0
    for word in words:
        length = len(q(word).encode()) + 1
        if groups[-1] and size + length > limit:
            groups.append([])
            size = 0
        groups[-1].append(word)
        size += length
    return [group for group in groups if group]


async def remove_on_server(
    remote: Remote, folder: str, names: Sequence[str], *, timeout: float | None, cancel: asyncio.Event | None
) -> tuple[int, str | None]:
    """`rm -rf` the `names` in `folder` (relative to the destination) on the server; return how
    many were removed, and the error that stopped it (or None)."""
    removed = 0
    for group in batches(names):
        script = f"{enter(remote)}\ncd -- {q(folder)} || exit 3\nrm -rf -- {' '.join(map(q, group))}"
        try:
            answer = await run_on_server(remote, script, timeout=timeout, cancel=cancel)
        except RemoteError as error:
            return removed, str(error)
        if answer.exit_code != 0:
            return removed, str(failure(remote, answer, f"deleting in {remote.operand(folder)}"))
        removed += len(group)
    return removed, None

"""rsync over ssh: the ssh command line rsync is to run (`--rsh`), pure, with defaults that never
prompt (BatchMode), give up on a dead host (ConnectTimeout, ServerAliveInterval) and never accept
a changed host key; and what ssh's own error lines (and those of rclone's remotes) mean, worded
for people."""

from __future__ import annotations

import re
from collections.abc import Sequence

from backupplan.engines.base import Outcome, TransferSpec, location_kind, one_line

KEEPALIVE_INTERVAL = 15  # seconds between ssh keepalives: a dead connection is noticed in 45 s


def ssh_argv(
    *,
    port: int | None = None,
    identity_file: str | None = None,
    known_hosts: str | None = None,
    host_keys: str = "accept-new",
    connect_timeout: float = 10.0,
    options: Sequence[str] = (),
) -> tuple[str, ...]:
    """Given a job's ssh settings (paths already expanded), return the ssh argv (no host)."""
    argv = ["ssh"]
    for option in options:  # ssh keeps the first value it reads: the job's own options win
        argv += ["-o", option]
    if port is not None:
        argv += ["-p", str(port)]
    if identity_file is not None:
        argv += ["-i", identity_file, "-o", "IdentitiesOnly=yes"]
    if known_hosts is not None:
        argv += ["-o", f"UserKnownHostsFile={known_hosts}"]
    argv += [
        "-o", "BatchMode=yes",
        "-o", f"StrictHostKeyChecking={'yes' if host_keys == 'strict' else 'accept-new'}",
        "-o", f"ConnectTimeout={max(1, round(connect_timeout))}",
        "-o", f"ServerAliveInterval={KEEPALIVE_INTERVAL}",
        "-o", "ServerAliveCountMax=3",
    ]  # fmt: skip
    return tuple(argv)


def ssh_host(spec: TransferSpec) -> str | None:
    """The host a transfer reaches over ssh (`user@host:path`), or None."""
    if not spec.rsh:
        return None
    for text in (spec.source, spec.destination):
        if location_kind(text) == "remote":
            return text.split(":", 1)[0].rsplit("@", 1)[-1].strip("[]")
    return None


def rsh_value(argv: Sequence[str]) -> str:
    """The ssh argv as rsync's `--rsh` reads it: words split at spaces, quotes keep spaces."""
    return " ".join(word if word and not re.search(r"[\s'\"]", word) else _quoted(word) for word in argv)


def _quoted(word: str) -> str:
    if "'" not in word:
        return f"'{word}'"
    if '"' not in word:
        return f'"{word}"'
    raise ValueError(f"{word!r} cannot be passed to rsync --rsh (it holds both kinds of quotes)")


Problems = tuple[tuple[re.Pattern[str], str, str, str], ...]


def _problems(*rows: tuple[str, str, str, str]) -> Problems:
    """A table of (pattern in the error lines, kind, message, hint); the first match wins."""
    return tuple(
        (re.compile(pattern, re.IGNORECASE), kind, message, hint) for pattern, kind, message, hint in rows
    )


def _matched(table: Problems, errors: Sequence[str], exit_code: int | None, host: str = "") -> Outcome | None:
    """The outcome of the first row of `table` that one of `errors` matches (its words with
    `{host}` filled in), or None."""
    for pattern, kind, message, hint in table:
        line = next((text for text in errors if pattern.search(text)), None)
        if line is not None:
            return Outcome(
                kind,  # type: ignore[arg-type]
                f"exit {exit_code}: {message.format(host=host)} ({one_line(line, 200)})",
                hint.format(host=host),
                exit_code,
            )
    return None


# What ssh and the remote rsync say.
_PROBLEMS = _problems(
    (
        r"REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed|"
        r"Host key verification failed",
        "fatal",
        "the ssh host key of {host} is not the one on record (never accepted silently)",
        "if the server was reinstalled, check its new key, then `ssh-keygen -R {host}` (or fix the "
        "job's known_hosts file); otherwise someone may be in between",
    ),
    (
        r"Permission denied \(publickey|Permission denied, please try again|"
        r"Too many authentication failures",
        "fatal",
        "the ssh server of {host} refused the key",
        "add the public key to the remote user's ~/.ssh/authorized_keys, or set ssh.identity_file",
    ),
    (
        r"rsync: (command )?not found|rsync: No such file or directory|"
        r"bash: .*rsync.*: command not found",
        "fatal",
        "rsync is not installed on {host} (or not on the remote user's PATH)",
        "install rsync there, or pass --rsync-path=/path/to/rsync in the job's extra_args",
    ),
    (
        r"No space left on device|Disk quota exceeded",
        "fatal",
        "the disk on {host} is full",
        "free some space on the remote side",
    ),
    (
        r"Connection refused|No route to host|Network is unreachable|Could not resolve hostname|"
        r"Connection timed out|timed out during banner exchange|Name or service not known",
        "retryable",
        "{host} cannot be reached over ssh",
        "is the host up and its ssh server running? the run is tried again",
    ),
    (
        r"connection unexpectedly closed|Broken pipe|Connection reset|closed by remote host|"
        r"Timeout, server .* not responding|client_loop: send disconnect",
        "retryable",
        "the ssh connection to {host} was lost during the transfer",
        "tried again; what was copied is kept and resumed from",
    ),
)


def ssh_problem(errors: Sequence[str], host: str, exit_code: int | None) -> Outcome | None:
    """Given rsync's error lines for a transfer over ssh to `host`, return the outcome ssh's own
    words call for, or None (nothing ssh-specific)."""
    return _matched(_PROBLEMS, errors, exit_code, host)


# What rclone's remotes (SFTP, WebDAV, S3 …) say, worded the same way as ssh's.
_REMOTE_PROBLEMS = _problems(
    (
        r"knownhosts: key mismatch|host key mismatch|REMOTE HOST IDENTIFICATION HAS CHANGED",
        "fatal",
        "the server's host key is not the one on record (never accepted silently)",
        "if the server was reinstalled, check its new key and update the known_hosts file of "
        "the remote's definition; otherwise someone may be in between",
    ),
    (
        r"unable to authenticate|401 Unauthorized|403 Forbidden|AccessDenied|InvalidAccessKeyId|"
        r"SignatureDoesNotMatch|permission denied \(publickey",
        "fatal",
        "the server refused the credentials",
        "check the user, password or key of the remote in the job's env",
    ),
    (
        r"connection refused|no such host|network is unreachable|i/o timeout|no route to host",
        "retryable",
        "the server cannot be reached",
        "is it up, and its address right? the run is tried again",
    ),
)


def remote_problem(errors: Sequence[str], exit_code: int | None) -> Outcome | None:
    """Given rclone's error lines, return the outcome its remote's words call for, or None."""
    return _matched(_REMOTE_PROBLEMS, errors, exit_code)

"""The rclone engine: argv, environment, progress from JSON stats, the exit-code table, verification.

The argv choices and the exit-code table are explained in docs/engines.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from backupplan.engines.base import (
    MAX_MESSAGES,
    Difference,
    DifferenceKind,
    ExitMeaning,
    Outcome,
    Progress,
    Stream,
    TransferSpec,
    TransferStats,
    VerifyMode,
    VerifyParser,
    classify_exit,
    decode,
    location_kind,
    one_line,
    operands,
    program_version,
    seconds,
    verification_outcome,
)
from backupplan.engines.changes import ChangeKind, Changes
from backupplan.engines.ssh import remote_problem
from backupplan.errors import EngineError

LOW_LEVEL_RETRIES = 3

EXIT_CODES: Mapping[int, ExitMeaning] = {
    0: ExitMeaning("ok", "transfer complete"),
    1: ExitMeaning(
        "depends",
        "the transfer failed",
        "see the errors in the log; a network error is retried, anything else needs a fix",
    ),
    2: ExitMeaning(
        "depends",
        "the transfer failed (or a usage error, on newer rclone)",
        "see the errors in the log; check the job's extra_args",
    ),
    3: ExitMeaning("fatal", "directory not found", "check the source path and the remote's name"),
    4: ExitMeaning("fatal", "file not found", "check the source path"),
    5: ExitMeaning("retryable", "temporary error", "rclone says retrying may help; check the network"),
    6: ExitMeaning("fatal", "some files were not transferred (errors not worth retrying)", "see the log"),
    7: ExitMeaning("fatal", "fatal error", "see the log: a quota, an account or a configuration problem"),
    8: ExitMeaning("fatal", "the --max-transfer limit stopped the transfer", "check the job's extra_args"),
    9: ExitMeaning("warning", "nothing was transferred (--error-on-no-transfer)", ""),
    10: ExitMeaning(
        "fatal", "the --max-duration limit stopped the transfer before it finished", "raise --max-duration"
    ),
}

_SECRET_KEY = re.compile(r"pass|secret|token|key|credential|sas|auth|cookie", re.IGNORECASE)
_CONNECTION_KEY = re.compile(r",\s*([A-Za-z0-9_]+)\s*=")
_PLAIN_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\s+(?:[A-Z]+\s*:\s*)?")
_VERSION = re.compile(r"rclone v?(\S+)")
_INFO = b'{"level":"info"'  # rclone sorts JSON keys: the level always comes first
_DEBUG = b'{"level":"debug"'
_COPIED: dict[str, ChangeKind] = {
    "Copied (new)": "+",
    "Copied (replaced existing)": "~",
    "Deleted": "-",
}  # and "Copied (server-side copy)": see RcloneParser._backed_up
_DIFFER = ("Sizes differ", "Modification times differ", "Src and dst checksums differ", "Hashes differ")
_CHECK_LINE: dict[bytes, DifferenceKind] = {b"+": "missing", b"-": "extra", b"*": "changed", b"!": "error"}


def refuse_inline_secrets(text: str, role: str) -> None:
    """Given a source or destination, raise EngineError when it is a connection string that carries
    a credential (`:s3,secret_access_key=…:bucket`): argv is readable by every local user."""
    if location_kind(text) != "remote":
        return
    for key in _CONNECTION_KEY.findall(text):
        if _SECRET_KEY.search(key):
            raise EngineError(
                f"the {role} sets {key} on rclone's command line, where any local user can read it: "
                f"define the remote in rclone.conf, or with RCLONE_CONFIG_<NAME>_{key.upper()} in "
                "the job's env, and name it as NAME:path"
            )


# rclone's log lines start with a date and a level: `2026/12/06 16:17:36 ERROR : `
_LOG_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (?:[A-Z]+\s*: )?")


def last_complaint(stderr: bytes, exit_code: int | None) -> str:
    """Given what a short rclone command printed on stderr, return its last complaint without
    the date and level (or its exit code when it said nothing), at most 400 characters."""
    lines = [_LOG_PREFIX.sub("", line).strip() for line in stderr.decode(errors="replace").splitlines()]
    said = [line for line in lines if line]
    return (said[-1] if said else f"rclone exit {exit_code}")[:400]


def _message(data: Mapping[str, Any]) -> str:
    message = str(data.get("msg", ""))
    target = data.get("object")
    return one_line(f"{target}: {message}" if target else message)


class RcloneParser:
    """Progress and totals from rclone's JSON stats lines, error and notice lines (all on stderr).

    Stats arrive once a second, so every one is parsed; per-file lines are skipped without
    decoding JSON. Lines that are not JSON (rclone's last words on failure) count as errors."""

    def __init__(self, *, interval: float = 0.0, changes: Changes | None = None) -> None:
        self.last_was_progress = False
        self._changes = changes
        self._differing: set[str] = set()  # dry run: objects rclone said differ (so: changed)
        self._copied: set[str] = set()  # copied on the server, not (yet) deleted: see _backed_up
        self._moved: set[str] = set()  # moved into --backup-dir, not (yet) copied anew
        self._unchanged = 0  # -vv: objects the same on both sides
        self._listed = False  # -vv: every object at the destination was named (see stats)
        self._stats: Mapping[str, Any] = {}
        self._latest: Progress | None = None
        self._errors: list[str] = []
        self._warnings: list[str] = []
        self._error_lines = 0

    def feed(self, record: bytes, stream: Stream = "stderr") -> Progress | None:
        """Given one record, return a new progress sample, or None."""
        self.last_was_progress = False
        if self._changes is not None and b'"object":' in record and self._count(record):
            self.last_was_progress = True  # counted: it goes to the changes list, not the log
            return None
        if record.startswith(_DEBUG):
            self._listed = True
        if record.startswith((_INFO, _DEBUG)) and b'"stats":{' not in record:
            return None  # a per-file line (-v): the log keeps it, the totals come from stats
        if b'"stats":{' in record:
            data = _json(record)
            stats = data.get("stats") if data else None
            if isinstance(stats, dict):
                self.last_was_progress = True
                self._stats = stats
                self._latest = _progress(stats)
                return self._latest
        if record.startswith(b"{"):
            if b'"level":"error"' in record or b'"level":"critical"' in record:
                data = _json(record)
                self._keep(self._errors, _message(data) if data else decode(record))
                self._error_lines += 1
            elif (b'"level":"warning"' in record or b'"level":"notice"' in record) and (
                b"not found - using defaults" not in record  # no rclone.conf: fine with env remotes
            ):
                data = _json(record)
                self._keep(self._warnings, _message(data) if data else decode(record))
            return None
        text = _PLAIN_PREFIX.sub("", decode(record).strip(), count=1)
        if text:
            self._keep(self._errors, one_line(text))
            self._error_lines += 1
        return None

    def _count(self, record: bytes) -> bool:
        """Count a per-file line as a change; True when it was one (or a dry run's "differ")."""
        assert self._changes is not None
        data = _json(record)
        if data is None or not isinstance(data.get("object"), str):
            return False
        name, message = data["object"], str(data.get("msg", ""))
        if message == "Unchanged skipping" or message.startswith("Size and modification time the same"):
            self._unchanged += message == "Unchanged skipping"
            return True  # -vv: one line per identical object, counted, not logged
        if self._backed_up(self._changes, name, message, data.get("skipped")):
            return True
        kind = _COPIED.get(message)
        if kind == "+" and name in self._moved:  # the old one went to --backup-dir: replaced
            self._moved.discard(name)
            kind = "~"
        if kind is None and message.startswith("Skipped "):  # a dry run: --dry-run -vv
            skipped = data.get("skipped")
            if skipped == "copy":
                kind = "~" if name in self._differing else "+"
            elif skipped == "delete":
                kind = "-"
        if kind is None:
            if data.get("level") == "debug" and message.startswith(_DIFFER):
                self._differing.add(name)
            return data.get("level") == "debug"
        self._changes.count(kind, name)
        return True

    def _backed_up(self, changes: Changes, name: str, message: str, skipped: object) -> bool:
        """With --backup-dir (versions), a replaced or deleted file is first moved into it: a
        rename where the remote can (`Moved (server-side)`), else a server-side copy then a
        delete (S3). Follow those lines per file; a file moved and then copied anew was replaced
        (counted by its copy), one `Moved into backup dir` was deleted. True when the line was one
        of these steps (counted here or by a later line)."""
        if message == "Copied (server-side copy)":
            self._copied.add(name)  # a move's first half, or a new file copied on the server
            return True
        if message == "Deleted" and name in self._copied:
            self._copied.discard(name)
            self._moved.add(name)
            return True
        if message == "Moved (server-side)":
            self._moved.add(name)
            return True
        if message == "Moved into backup dir" or skipped == "move into backup dir":
            self._moved.discard(name)
            changes.count("-", name)
            return True
        return skipped == "move"  # a dry run's replaced file: its "Skipped copy" counts it

    def _settle(self, changes: Changes) -> None:
        """At the end: a server-side copy that no delete followed was a new file."""
        for name in sorted(self._copied):
            changes.count("+", name)
        self._copied.clear()

    @staticmethod
    def _keep(messages: list[str], text: str) -> None:
        if len(messages) < MAX_MESSAGES and text not in messages:
            messages.append(text)

    def progress(self) -> Progress | None:
        return self._latest

    def stats(self) -> TransferStats:
        """Return the totals of the last stats line and the error lines seen."""
        destination = None
        if self._changes is not None:
            self._settle(self._changes)
            if self._listed:  # -vv names every object it compares: so many were at the destination
                destination = self._unchanged + self._changes.changed + self._changes.deleted
        stats = self._stats
        return TransferStats(
            bytes_transferred=_int(stats.get("bytes")) or 0,
            files_transferred=_int(stats.get("transfers")) or 0,
            total_bytes=_int(stats.get("totalBytes")),
            total_files=None,  # rclone's totals count what it transferred, not what there is
            destination_files=destination,
            checks=_int(stats.get("checks")),
            deletes=_int(stats.get("deletes")) or 0,
            errors=max(_int(stats.get("errors")) or 0, 1 if self._error_lines else 0),
            error_messages=tuple(self._errors),
            warnings=tuple(self._warnings),
        )


def _json(record: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(record)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _progress(stats: Mapping[str, Any]) -> Progress:
    done = _int(stats.get("bytes")) or 0
    total = _int(stats.get("totalBytes"))
    speed = stats.get("speed")
    eta = stats.get("eta")
    return Progress(
        bytes_done=done,
        total_bytes=total,
        percent=round(done * 100 / total, 1) if total else None,
        rate=float(speed) if isinstance(speed, int | float) else None,
        eta=float(eta) if isinstance(eta, int | float) else None,
        files_done=_int(stats.get("transfers")),
        total_files=_int(stats.get("totalTransfers")),
    )


class RcloneVerifyParser:
    """Differences from `rclone check --combined -` (stdout) and its log lines (stderr)."""

    def __init__(self) -> None:
        self._differences: list[Difference] = []
        self._errors: list[str] = []
        self._warnings: list[str] = []

    def feed(self, record: bytes, stream: Stream = "stdout") -> None:
        if stream == "stdout":
            kind = _CHECK_LINE.get(record[:1])
            if kind is not None and record[1:2] == b" ":
                self._differences.append(Difference(kind, decode(record[2:])))
            return
        data = _json(record) if record.startswith(b"{") else None
        if data is None:
            text = _PLAIN_PREFIX.sub("", decode(record).strip(), count=1)
            if text:
                self._errors.append(one_line(text))
        elif data.get("level") in ("error", "critical"):
            self._errors.append(_message(data))
        elif data.get("level") in ("warning", "notice") and "hash" in str(data.get("msg", "")).lower():
            self._warnings.append(_message(data))  # e.g. no common hash: contents were not compared

    def differences(self) -> list[Difference]:
        return list(self._differences)

    def errors(self) -> list[str]:
        return list(self._errors)

    def warnings(self) -> list[str]:
        return list(self._warnings)


class RcloneEngine:
    """rclone: any rclone remote (S3, WebDAV, SFTP, …) and local folders."""

    name = "rclone"
    program = "rclone"

    def _options(self, spec: TransferSpec) -> list[str]:
        refuse_inline_secrets(spec.source, "source")
        refuse_inline_secrets(spec.destination, "destination")
        # The runner owns retries (with backoff, journaled): rclone's own --retries would re-run the
        # whole transfer silently. A few low-level retries absorb a single failed HTTP request.
        options = ["--use-json-log", "--retries=1", f"--low-level-retries={LOW_LEVEL_RETRIES}"]
        if spec.connect_timeout is not None:
            options.append(f"--contimeout={seconds(spec.connect_timeout)}s")
        if spec.io_timeout is not None:
            options.append(f"--timeout={seconds(spec.io_timeout)}s")
        if spec.checksum:
            options.append("--checksum")
        # --filter keeps the plan's order: includes first, then excludes (first match wins).
        options += [f"--filter=+ {pattern}" for pattern in spec.include]
        options += [f"--filter=- {pattern}" for pattern in spec.exclude]
        return options

    def argv(self, spec: TransferSpec) -> tuple[str, ...]:
        """Given a transfer, return rclone's argv (pure: no I/O), with `--backup-dir` when the job
        keeps versions; raise EngineError when the source, destination or versions path carries a
        credential, or asks for snapshots (rsync only)."""
        if spec.link_dest is not None:
            raise EngineError("rclone cannot make hard-linked snapshots: use the rsync engine for them")
        command = "sync" if spec.delete else "copy"
        options = [
            *self._options(spec),
            "--stats=1s",
            "--stats-log-level=NOTICE",
            # No --verbose: one JSON line per file made a full copy of 20,000 files 1.4x slower
            # (rclone formatting them, backupplan logging them, both on the same cores). Errors and
            # the stats still come; add --verbose to extra_args for a per-file list in the log.
        ]
        if spec.bandwidth:
            options.append(f"--bwlimit={spec.bandwidth}B")
        if spec.one_file_system:
            options.append("--one-file-system")
        if spec.backup_dir is not None:  # versions: what this run replaces or deletes goes there
            refuse_inline_secrets(spec.backup_dir, "versions path")
            options.append(f"--backup-dir={spec.backup_dir}")
        if "metadata" in spec.preserve:
            options.append("--metadata")
        if spec.itemize:  # one line per file: a dry run also says why a file differs (so: changed)
            options.append("-vv" if spec.dry_run else "--verbose")
        if spec.dry_run:
            options.append("--dry-run")
        return (self.program, command, *options, *spec.extra_args, *operands(spec))

    def verify_argv(self, spec: TransferSpec, mode: VerifyMode) -> tuple[str, ...]:
        """Given a transfer and `quick` (sizes) or `checksum` (hashes), return the argv of
        `rclone check` listing every difference (pure). A copy job is checked one way: extra files
        at the destination are expected there."""
        options = [*self._options(spec), "--combined=-"]
        if not spec.delete:
            options.append("--one-way")
        if mode == "quick":
            options.append("--size-only")
        return (self.program, "check", *options, *spec.extra_args, *operands(spec))

    def environment(self, spec: TransferSpec, base: Mapping[str, str]) -> dict[str, str]:
        """Given the base environment, return the child's: the job's env added (credentials as
        RCLONE_CONFIG_<REMOTE>_<KEY>), and AWS_CA_BUNDLE removed, because rclone's S3 backend fails
        every request when it is set (use --ca-cert in extra_args for a private CA)."""
        environment = {**base, **spec.env}
        environment.pop("AWS_CA_BUNDLE", None)
        return environment

    def parser(self, *, interval: float = 0.0, changes: Changes | None = None) -> RcloneParser:
        return RcloneParser(interval=interval, changes=changes)

    def verify_parser(self) -> RcloneVerifyParser:
        return RcloneVerifyParser()

    def classify(
        self,
        exit_code: int | None,
        signal: int | None,
        *,
        allow_vanished: bool = False,
        errors: Sequence[str] = (),
    ) -> Outcome:
        """Given how rclone ended and its error lines, return the Outcome from EXIT_CODES. rclone
        1.60 exits 1 for most failures, so 1 and 2 are retryable only when the errors show a network
        problem and nothing a retry cannot fix. What the remote said (credentials refused, a host
        key changed, the server unreachable) is worded for people."""
        outcome = classify_exit(EXIT_CODES, self.program, exit_code, signal, errors)
        if exit_code not in (1, 2):  # the codes that say nothing by themselves
            return outcome
        return remote_problem(errors, exit_code) or outcome

    def verify_outcome(
        self, exit_code: int | None, signal: int | None, parser: VerifyParser, *, metadata: bool = False
    ) -> Outcome:
        """Given how `rclone check` ended and what it listed, return the Outcome (it exits 1 when it
        finds differences). With `metadata`, attribute differences count too."""
        return verification_outcome(self, exit_code, signal, parser, metadata=metadata)

    def version(self, env: Mapping[str, str] | None = None) -> str | None:
        """Return the installed rclone's version (`1.60.1-DEV`), or None when it cannot be run."""
        return program_version([self.program, "version"], _VERSION, env)

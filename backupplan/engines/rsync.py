"""The rsync engine: argv, environment, progress and statistics, the exit-code table, verification.

The argv choices and the exit-code table are explained in docs/engines.md.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence

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

EXIT_CODES: Mapping[int, ExitMeaning] = {
    0: ExitMeaning("ok", "transfer complete"),
    1: ExitMeaning(
        "fatal",
        "syntax or usage error",
        "check the job's extra_args; a daemon module that is read only also gives this",
    ),
    2: ExitMeaning("fatal", "protocol incompatibility", "upgrade the older of the two rsync programs"),
    3: ExitMeaning(
        "fatal",
        "errors selecting input/output files or folders",
        "check that the source exists and that the destination's parent is a folder",
    ),
    4: ExitMeaning(
        "fatal",
        "requested action not supported",
        "one side does not support an option (--mkpath needs rsync 3.2.3 or later on the receiver)",
    ),
    5: ExitMeaning(
        "depends",
        "the rsync daemon refused the session",
        "check the module name and the password (RSYNC_PASSWORD in the job's env)",
    ),
    6: ExitMeaning("fatal", "the daemon cannot write its log file", "fix the log file setting of the daemon"),
    10: ExitMeaning("retryable", "error in socket I/O", "check the network and that the server is running"),
    11: ExitMeaning(
        "fatal",
        "error in file I/O",
        "usually a full disk or a missing destination folder (is the disk mounted?)",
    ),
    12: ExitMeaning(
        "retryable",
        "error in the rsync protocol data stream",
        "the connection broke or the other side died; check the network and the server's log",
    ),
    13: ExitMeaning("fatal", "errors with program diagnostics", "see the log"),
    14: ExitMeaning("fatal", "error in IPC code", "see the log"),
    15: ExitMeaning("fatal", "a sibling rsync process crashed", "see the log (out of memory?)"),
    16: ExitMeaning("fatal", "a sibling rsync process ended abnormally", "see the log (out of memory?)"),
    19: ExitMeaning("fatal", "received SIGUSR1", "something outside backupplan signalled rsync"),
    20: ExitMeaning(
        "fatal", "received SIGINT, SIGTERM or SIGHUP", "something outside backupplan stopped rsync"
    ),
    21: ExitMeaning("fatal", "waitpid() failed", "see the log"),
    22: ExitMeaning("fatal", "could not allocate memory", "the machine is out of memory"),
    23: ExitMeaning(
        "fatal",
        "some files could not be transferred (nothing may have been written)",
        "see the errors in the log: a missing or unreadable source, or an unwritable destination",
    ),
    24: ExitMeaning(
        "warning",
        "some source files vanished during the transfer",
        "set allow_vanished: true for sources that change while they are copied",
    ),
    25: ExitMeaning(
        "fatal", "the --max-delete limit stopped deletions", "check why so much would be deleted"
    ),
    30: ExitMeaning("retryable", "timeout in data send/receive", "the other side stopped answering"),
    35: ExitMeaning("retryable", "timeout waiting for the daemon connection", "check the network"),
    124: ExitMeaning("fatal", "the remote shell failed", "check the job's --rsh option"),
    125: ExitMeaning("fatal", "the remote shell was killed", "see the log"),
    126: ExitMeaning("fatal", "the remote shell could not run rsync", "check rsync on the remote host"),
    127: ExitMeaning("fatal", "rsync was not found on the remote host", "install rsync on the remote host"),
    255: ExitMeaning(
        "depends",
        "the remote shell (ssh) failed",
        "check that `ssh HOST` works without a prompt (keys, known_hosts) and that the host is up",
    ),
}

_PROGRESS_START = frozenset({b" ", *(bytes([digit]) for digit in b"0123456789")})
_PROGRESS = re.compile(
    rb"^\s*(?P<bytes>[\d,.]+)\s+(?P<percent>\d+)%\s+(?P<rate>[\d.,]+)(?P<unit>[kMGTP]?B)/s"
    rb"\s+(?P<eta>[\d:?]+)(?:\s+\(xfr#(?P<xfr>\d+),\s+(?:ir|to)-chk=(?P<left>\d+)/(?P<total>\d+)\))?\s*$"
)
_RATE_UNITS = {b"B": 1, b"kB": 1024, b"MB": 1024**2, b"GB": 1024**3, b"TB": 1024**4, b"PB": 1024**5}
_STATS = {
    "files": re.compile(r"^Number of files: ([\d,.]+)(?: \(reg: ([\d,.]+))?"),
    "transferred": re.compile(r"^Number of regular files transferred: ([\d,.]+)"),
    "deleted": re.compile(r"^Number of deleted files: ([\d,.]+)"),
    "size": re.compile(r"^Total file size: ([\d,.]+) bytes"),
    "transferred_size": re.compile(r"^Total transferred file size: ([\d,.]+) bytes"),
}
_VANISHED = re.compile(r'^file has vanished: "(.*)"$')
_ITEM = re.compile(rb"^(?P<code>[<>ch.][fdLDS][ .+?a-zA-Z]{9}|\*deleting  ) (?P<name>.+)$")
_ITEM_START = frozenset({b"<", b">", b"c", b"h", b".", b"*"})
_ESCAPE = re.compile(rb"\\#([0-7]{3})")
_VERSION = re.compile(r"version\s+(\S+)")


def _number(text: str | bytes) -> int:
    # rsync separates thousands with ',' (or '.' where the decimal point is a comma).
    if isinstance(text, bytes):
        return int(text.replace(b",", b"").replace(b".", b""))
    return int(text.replace(",", "").replace(".", ""))


def _eta(text: bytes) -> float | None:
    parts = text.split(b":")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None  # rsync prints ??:??:?? when it cannot tell
    hours, minutes, secs = (int(part) for part in parts)
    return float(hours * 3600 + minutes * 60 + secs)


def unescape(name: bytes) -> bytes:
    """Given a file name as rsync prints it, return its bytes (rsync writes unprintable bytes,
    newlines included, as \\#ooo)."""
    return _ESCAPE.sub(lambda match: bytes([int(match[1], 8)]), name)


def change_of(code: bytes, name: bytes) -> ChangeKind | None:
    """Given an itemized line's code (`>f.st......`, `*deleting  `) and name, return the change it
    counts as, or None (a folder, a metadata-only update, an unchanged hard link)."""
    if code[:1] == b"*":
        return None if name.endswith(b"/") else "-"
    if code[1:2] == b"d":
        return None
    if code[2:] == b"+++++++++":
        return "+"
    if code[:1] in (b"<", b">") or (code[:1] == b"c" and code[1:2] == b"L"):
        return "~"
    return None


class RsyncParser:
    """Progress from `--info=progress2` records (stdout), totals from `--stats`, errors (stderr),
    and, with `changes`, the itemized lines of `--itemize-changes` counted there (those are not
    worth a log line either: they go to the run's changes list).

    rsync prints a progress record for every file. Only one record per `interval` seconds is
    parsed; the others are kept aside, so the cost stays flat however small the files are."""

    def __init__(self, *, interval: float = 0.25, changes: Changes | None = None) -> None:
        self.last_was_progress = False
        self._changes = changes
        self._interval = interval
        self._parsed_at = float("-inf")
        self._pending: bytes | None = None
        self._latest: Progress | None = None
        self._numbers: dict[str, int] = {}
        self._errors: list[str] = []
        self._error_count = 0
        self._warnings: list[str] = []
        self._vanished: list[str] = []

    def feed(self, record: bytes, stream: Stream = "stdout") -> Progress | None:
        """Given one record, return a new progress sample, or None."""
        if stream == "stdout" and record[:1] in _PROGRESS_START and b"%" in record:
            self.last_was_progress = True
            now = time.monotonic()
            if now - self._parsed_at < self._interval:
                self._pending = record
                return None
            self._parsed_at = now
            self._pending = None
            return self._parse_progress(record)
        self.last_was_progress = False
        if stream == "stdout" and self._changes is not None and record[:1] in _ITEM_START:
            match = _ITEM.match(record)
            if match is not None:
                self.last_was_progress = True
                kind = change_of(match["code"], match["name"])
                if kind is not None:
                    self._changes.count(kind, match["name"].decode("utf-8", "backslashreplace"))
                return None
        text = decode(record).strip()
        if not text:
            return None
        if stream == "stdout":
            self._read_stats(text)
        else:
            self._read_error(text)
        return None

    def _parse_progress(self, record: bytes) -> Progress | None:
        match = _PROGRESS.match(record)
        if match is None:
            return None
        rate = float(match["rate"].replace(b",", b".")) * _RATE_UNITS.get(match["unit"], 1)
        self._latest = Progress(
            bytes_done=_number(match["bytes"]),
            percent=float(match["percent"]),
            rate=rate,
            eta=_eta(match["eta"]),
            files_done=int(match["xfr"]) if match["xfr"] else None,
            total_files=int(match["total"]) if match["total"] else None,
        )
        return self._latest

    def _read_stats(self, text: str) -> None:
        for key, pattern in _STATS.items():
            match = pattern.match(text)
            if match:
                self._numbers[key] = _number(match[1])
                if key == "files" and match[2]:
                    self._numbers["regular_files"] = _number(match[2])
                return

    def _read_error(self, text: str) -> None:
        if match := _VANISHED.match(text):
            if len(self._vanished) < MAX_MESSAGES:
                self._vanished.append(match[1])
        elif text.startswith("rsync warning:") or "--link-dest arg does not exist" in text:
            if len(self._warnings) < MAX_MESSAGES:
                self._warnings.append(one_line(text))
        else:
            if not text.startswith("rsync error:"):  # the summary line repeats the exit code
                self._error_count += 1
            if len(self._errors) < MAX_MESSAGES:
                self._errors.append(one_line(text))

    def progress(self) -> Progress | None:
        """Return the latest progress sample, parsing one held back by throttling."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._parse_progress(pending)
        return self._latest

    def stats(self) -> TransferStats:
        """Return the totals from rsync's --stats block and the error lines seen."""
        numbers = self._numbers
        return TransferStats(
            bytes_transferred=numbers.get("transferred_size", 0),
            files_transferred=numbers.get("transferred", 0),
            total_bytes=numbers.get("size"),
            total_files=numbers.get("regular_files", numbers.get("files")),
            checks=None,
            deletes=numbers.get("deleted", 0),
            errors=self._error_count,
            error_messages=tuple(self._errors),
            warnings=tuple(self._warnings),
            vanished=tuple(self._vanished),
        )


class RsyncVerifyParser:
    """Differences from a `--dry-run --itemize-changes` run (stdout) and its errors (stderr)."""

    def __init__(self) -> None:
        self._differences: list[Difference] = []
        self._errors: list[str] = []
        self._warnings: list[str] = []

    def feed(self, record: bytes, stream: Stream = "stdout") -> None:
        if stream == "stderr":
            text = one_line(decode(record))
            if text:
                target = self._warnings if text.startswith("rsync warning:") else self._errors
                target.append(text)
            return
        match = _ITEM.match(record)
        if match is None:
            return
        code = match["code"].decode("ascii")
        name = unescape(match["name"]).decode("utf-8", errors="surrogateescape")
        self._differences.append(Difference(_difference_kind(code), name))

    def differences(self) -> list[Difference]:
        return list(self._differences)

    def errors(self) -> list[str]:
        return list(self._errors)

    def warnings(self) -> list[str]:
        return list(self._warnings)


def _difference_kind(code: str) -> DifferenceKind:
    if code.startswith("*deleting"):
        return "extra"
    if set(code[2:]) == {"+"}:
        return "missing"
    if code[0] in "<>h" or code[2] == "c" or code[3] == "s":
        return "changed"  # rsync would copy data: content, size or (quick mode) time differs
    return "metadata"


def _partial_dir_options(spec: TransferSpec, destination_kind: str) -> list[str]:
    """Where rsync keeps an interrupted file: a folder inside the destination, never under the
    file's final name. For an absolute local destination it is one folder at the top, named by its
    absolute path: rsync 3.5 then skips the per-file lookup of a relative partial folder, which
    doubles the time of a no-change run. That folder needs its own exclude (rsync adds one only for
    relative ones), placed first so that no include of the job can take it back."""
    if destination_kind == "local" and spec.destination.startswith("/"):
        top = spec.destination.rstrip("/")
        return [f"--partial-dir={top}/{spec.partial_dir}", f"--exclude=/{spec.partial_dir}/"]
    return [f"--partial-dir={spec.partial_dir}"]


class RsyncEngine:
    """rsync: local folders, `host:path` over ssh, and `rsync://` daemons."""

    name = "rsync"
    program = "rsync"

    def _options(self, spec: TransferSpec) -> list[str]:
        source_kind = location_kind(spec.source)
        destination_kind = location_kind(spec.destination)
        kinds = {source_kind, destination_kind}
        options = ["--archive", "--numeric-ids", *_partial_dir_options(spec, destination_kind)]
        if spec.delete:
            options.append("--delete")
        if spec.one_file_system:
            options.append("--one-file-system")
        if spec.checksum:
            options.append("--checksum")
        if spec.bandwidth:
            options.append(f"--bwlimit={max(1, round(spec.bandwidth / 1024))}")
        if spec.io_timeout is not None:
            options.append(f"--timeout={seconds(spec.io_timeout)}")
        if spec.connect_timeout is not None and "rsync_daemon" in kinds:
            options.append(f"--contimeout={seconds(spec.connect_timeout)}")
        if kinds != {"local"}:
            options.append("--protect-args")  # remote names with spaces reach the far side intact
        create_parents = spec.create_parents
        if create_parents is None:
            create_parents = destination_kind != "local"
        if create_parents:
            options.append("--mkpath")
        options += [f"--include={pattern}" for pattern in spec.include]
        options += [f"--exclude={pattern}" for pattern in spec.exclude]
        return options

    def argv(self, spec: TransferSpec) -> tuple[str, ...]:
        """Given a transfer, return rsync's argv (pure: no I/O)."""
        options = self._options(spec)
        options += ["--no-inc-recursive", "--info=progress2", "--stats"]
        if spec.itemize:
            options.append("--out-format=%i %n")  # --itemize-changes, without " -> target"
        if spec.link_dest is not None:
            options.append(f"--link-dest={spec.link_dest}")
        if spec.dry_run:
            options.append("--dry-run")
        return (self.program, *options, *spec.extra_args, *operands(spec))

    def verify_argv(self, spec: TransferSpec, mode: VerifyMode) -> tuple[str, ...]:
        """Given a transfer and `quick` (sizes and times) or `checksum` (contents), return the argv of
        a dry run that itemizes every difference (pure)."""
        options = self._options(spec)
        if mode == "checksum" and "--checksum" not in options:
            options.append("--checksum")
        options += ["--dry-run", "--itemize-changes"]
        return (self.program, *options, *spec.extra_args, *operands(spec))

    def environment(self, spec: TransferSpec, base: Mapping[str, str]) -> dict[str, str]:
        """Given the base environment, return the child's: the job's env added (RSYNC_PASSWORD
        for daemons goes here, never into argv)."""
        return {**base, **spec.env}

    def parser(self, *, interval: float = 0.25, changes: Changes | None = None) -> RsyncParser:
        return RsyncParser(interval=interval, changes=changes)

    def verify_parser(self) -> RsyncVerifyParser:
        return RsyncVerifyParser()

    def classify(
        self,
        exit_code: int | None,
        signal: int | None,
        *,
        allow_vanished: bool = False,
        errors: Sequence[str] = (),
    ) -> Outcome:
        """Given how rsync ended and its error lines, return the Outcome from EXIT_CODES; exit 24
        is a warning only when `allow_vanished`."""
        outcome = classify_exit(EXIT_CODES, self.program, exit_code, signal, errors)
        if exit_code == 24 and not allow_vanished:
            return Outcome("fatal", outcome.message, outcome.hint, 24, None)
        return outcome

    def verify_outcome(self, exit_code: int | None, signal: int | None, parser: VerifyParser) -> Outcome:
        """Given how the verification dry run ended and what it itemized, return the Outcome."""
        return verification_outcome(self, exit_code, signal, parser)

    def version(self, env: Mapping[str, str] | None = None) -> str | None:
        """Return the installed rsync's version (`3.2.7`), or None when it cannot be run."""
        return program_version([self.program, "--version"], _VERSION, env)

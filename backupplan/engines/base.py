"""What every engine provides, and the types the runner passes in and gets back.

An engine is a set of pure functions over a `TransferSpec` (argv, environment), a parser for what
the program prints (progress, final statistics, error lines), and an exit-code table that turns
how the program ended into an `Outcome`: ok, warning, retryable or fatal. Engines never start
anything themselves; the runner hands their argv and environment to `backupplan.process.execute`.
"""

from __future__ import annotations

import re
import signal
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from backupplan.units import format_duration

if TYPE_CHECKING:
    from backupplan.engines.changes import Changes
    from backupplan.process.execute import ProcessResult

Stream = Literal["stdout", "stderr"]
OutcomeKind = Literal["ok", "warning", "retryable", "fatal"]
ExitKind = Literal["ok", "warning", "retryable", "fatal", "depends"]
VerifyMode = Literal["quick", "checksum"]
DifferenceKind = Literal["missing", "extra", "changed", "metadata", "error"]
LocationKind = Literal["local", "remote", "rsync_daemon"]

DEFAULT_PARTIAL_DIR = ".backupplan-partial"
# The file properties a job keeps beside contents, modes and times (`preserve:` keys), as messages
# name them: rsync's exit 23 (engines/rsync.py), the destination probe (runner/fidelity.py), doctor.
PRESERVED_WORDS = {
    "hard_links": "hard links",
    "acls": "ACLs",
    "xattrs": "extended attributes",
    "sparse": "sparse files",
}
MAX_MESSAGES = 50  # error lines kept per run; the log has all of them
MAX_MESSAGE_LENGTH = 400


@dataclass(frozen=True)
class TransferSpec:
    """One transfer, as the runner resolved it from a job.

    `source` and `destination` are passed to the program as they are: for a local folder whose
    *contents* should be copied, the runner passes the source with a trailing slash (`/data/`).
    `bandwidth` is bytes per second (0: unlimited); `io_timeout` and `connect_timeout` are the
    engine's own idle and connect limits in seconds (None: the engine's default). `env` is added
    to the child's environment and may hold secrets: it is never shown in repr().
    """

    source: str
    destination: str
    delete: bool = False
    exclude: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    bandwidth: int = 0
    extra_args: tuple[str, ...] = ()
    dry_run: bool = False
    checksum: bool = False
    link_dest: str | None = None
    io_timeout: float | None = 300.0
    connect_timeout: float | None = 30.0
    partial_dir: str = DEFAULT_PARTIAL_DIR
    create_parents: bool | None = None
    itemize: bool = False  # print one line per changed file (counted into Changes)
    one_file_system: bool = False
    preserve: tuple[str, ...] = ()  # hard_links, acls, xattrs, sparse (rsync); metadata (rclone)
    rsh: tuple[str, ...] = ()  # rsync over ssh: the ssh argv (engines.ssh.ssh_argv)
    backup_dir: str | None = None  # rclone: where this run moves what it replaces or deletes (versions)
    env: Mapping[str, str] = field(default_factory=dict, repr=False, hash=False)

    def __post_init__(self) -> None:
        for name in ("exclude", "include", "extra_args"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.source or not self.destination:
            raise ValueError("a transfer needs a source and a destination")
        if self.bandwidth < 0:
            raise ValueError("bandwidth must be 0 (unlimited) or more bytes per second")
        parts = self.partial_dir.split("/")
        if not self.partial_dir or self.partial_dir.startswith("/") or ".." in parts:
            raise ValueError("partial_dir must be a relative folder name inside the destination")
        for argument in self.extra_args:
            if not argument.startswith("-"):
                raise ValueError(f"extra argument {argument!r} is not an option")


@dataclass(frozen=True)
class Progress:
    """A progress sample: bytes and files so far, and what is known about the whole."""

    bytes_done: int
    total_bytes: int | None = None
    percent: float | None = None
    rate: float | None = None  # bytes per second
    eta: float | None = None  # seconds
    files_done: int | None = None
    total_files: int | None = None

    def as_status(self) -> dict[str, float | int | None]:
        """Return the fields of status.json's `progress` object that the engine knows."""
        return {
            "percent": self.percent,
            "bytes": self.bytes_done,
            "total_bytes": self.total_bytes,
            "rate": self.rate,
            "eta": self.eta,
            "files": self.files_done,
        }


@dataclass(frozen=True)
class TransferStats:
    """What a transfer did, from the program's final statistics and its error lines."""

    bytes_transferred: int = 0
    files_transferred: int = 0
    total_bytes: int | None = None  # size of everything looked at
    total_files: int | None = None  # files at the source (a mirror's destination after the run)
    destination_files: int | None = None  # files at the destination before it, when counted (rclone -vv)
    checks: int | None = None
    deletes: int = 0
    errors: int = 0
    error_messages: tuple[str, ...] = ()  # the first MAX_MESSAGES error lines
    warnings: tuple[str, ...] = ()
    vanished: tuple[str, ...] = ()  # source files that disappeared during the transfer (rsync)


@dataclass(frozen=True)
class Outcome:
    """How a run ended, for people and for the retry policy."""

    kind: OutcomeKind
    message: str
    hint: str = ""
    exit_code: int | None = None
    signal: int | None = None
    stopped: Literal["timeout", "cancel"] | None = None

    @property
    def succeeded(self) -> bool:
        """True for ok and warning: the copy is complete."""
        return self.kind in ("ok", "warning")


@dataclass(frozen=True)
class ExitMeaning:
    """One row of an engine's exit-code table. `depends`: retryable when the error lines show a
    network problem and nothing that a retry cannot fix, fatal otherwise."""

    kind: ExitKind
    meaning: str
    hint: str = ""


@dataclass(frozen=True)
class Difference:
    """One difference a verification found between source and destination."""

    kind: DifferenceKind
    path: str


class TransferParser(Protocol):
    """Reads what the program prints during a transfer."""

    last_was_progress: bool  # the record just fed was a progress tick or a counted change (no log line)

    def feed(self, record: bytes, stream: Stream = "stdout") -> Progress | None:
        """Given one output record, return a new progress sample, or None."""
        ...

    def progress(self) -> Progress | None:
        """Return the latest progress sample, including one held back by throttling."""
        ...

    def stats(self) -> TransferStats:
        """Return the statistics gathered so far (complete once the program has ended)."""
        ...


class VerifyParser(Protocol):
    """Reads what the program prints during a verification."""

    def feed(self, record: bytes, stream: Stream = "stdout") -> None: ...

    def differences(self) -> list[Difference]: ...

    def errors(self) -> list[str]: ...

    def warnings(self) -> list[str]: ...


class Engine(Protocol):
    """An engine: pure builders, parsers and exit-code classification for one program."""

    name: str
    program: str

    def argv(self, spec: TransferSpec) -> tuple[str, ...]: ...

    def verify_argv(self, spec: TransferSpec, mode: VerifyMode) -> tuple[str, ...]: ...

    def environment(self, spec: TransferSpec, base: Mapping[str, str]) -> dict[str, str]: ...

    def parser(self, *, interval: float = 0.25, changes: Changes | None = None) -> TransferParser: ...

    def verify_parser(self) -> VerifyParser: ...

    def classify(
        self,
        exit_code: int | None,
        signal: int | None,
        *,
        allow_vanished: bool = False,
        errors: Sequence[str] = (),
    ) -> Outcome: ...

    def verify_outcome(
        self, exit_code: int | None, signal: int | None, parser: VerifyParser, *, metadata: bool = False
    ) -> Outcome: ...

    def version(self, env: Mapping[str, str] | None = None) -> str | None: ...


# Error lines that say the network or the peer failed: worth another try later.
TRANSIENT = re.compile(
    r"connection refused|connection reset|connection timed out|timed out|i/o timeout|timeout in data"
    r"|no route to host|network is unreachable|host is down|temporary failure in name resolution"
    r"|no such host|broken pipe|unexpected eof|(?-i:\bEOF\b)|tls handshake|connection unexpectedly closed"
    r"|error in socket io|try again later|max connections|service unavailable|slow ?down"
    r"|bad gateway|gateway timeout|internal ?error|requesttimeout|context deadline exceeded"
    r"|temporarily unavailable|\b50[0234]\b",
    re.IGNORECASE,
)
# Error lines that another try cannot fix: a full disk, a refusal, a missing place, bad credentials.
PERMANENT = re.compile(
    r"no space left|disk quota|quota exceeded|file too big for remaining disk space|file too large"
    r"|permission denied|operation not permitted|read-only file system|access ?denied"
    r"|invalidaccesskeyid|signaturedoesnotmatch|unauthori[sz]ed|\b40[13]\b|auth failed"
    r"|unable to authenticate|nosuchbucket|invalidbucketname|directory not found"
    r"|didn't find section in config|couldn't decrypt|unknown module|host key verification failed"
    r"|not a directory",
    re.IGNORECASE,
)


def one_line(text: str, limit: int = MAX_MESSAGE_LENGTH) -> str:
    """Given a message that may span lines, return it on one line, shortened to `limit`."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def decode(record: bytes) -> str:
    """Given raw program output, return text; bytes that are not UTF-8 show as \\xNN."""
    return record.decode("utf-8", errors="backslashreplace")


def classify_exit(
    table: Mapping[int, ExitMeaning],
    program: str,
    exit_code: int | None,
    signal_number: int | None,
    errors: Sequence[str],
) -> Outcome:
    """Given an engine's table and how its program ended, return the Outcome. Only 0 is ok; an
    unknown code or a signal is fatal; a retryable code whose errors show a problem that a retry
    cannot fix (a full disk, a refusal) is fatal too."""
    first = one_line(errors[0]) if errors else ""
    if exit_code is None:
        return Outcome(
            "fatal",
            f"{program} was killed by signal {signal_name(signal_number)}" + (f": {first}" if first else ""),
            "something outside backupplan stopped it (out of memory? an administrator?); see the log",
            None,
            signal_number,
        )
    row = table.get(exit_code)
    if row is None:
        return Outcome(
            "fatal",
            f"exit {exit_code}: {program} ended with an unknown exit code" + (f": {first}" if first else ""),
            "see the log for what it printed",
            exit_code,
        )
    permanent = next((line for line in errors if PERMANENT.search(line)), None)
    transient = next((line for line in errors if TRANSIENT.search(line)), None)
    kind: OutcomeKind
    if row.kind == "depends":
        kind = "retryable" if transient is not None and permanent is None else "fatal"
    elif row.kind == "retryable" and permanent is not None:
        kind = "fatal"
    else:
        kind = row.kind
    detail = permanent or (transient if kind == "retryable" else None) or (errors[0] if errors else "")
    message = f"exit {exit_code}: {row.meaning}"
    if detail and kind != "ok":
        message += f": {one_line(detail)}"
    return Outcome(kind, message, row.hint, exit_code, None)


def judge(
    engine: Engine,
    result: ProcessResult,
    stats: TransferStats,
    *,
    allow_vanished: bool = False,
    remote_host: str | None = None,
) -> Outcome:
    """Given how a transfer's process ended and what its parser gathered, return the Outcome; a
    wall-clock timeout or a stop on request wins over the exit code (rsync exits 20 on TERM). For a
    transfer over ssh to `remote_host`, ssh's own error lines name what went wrong."""
    if result.timed_out:
        return Outcome(
            "fatal",
            f"stopped after {format_duration(result.duration)}: the run reached its time limit",
            "raise the job's timeout if the transfer needs longer; otherwise look for a hung peer",
            result.exit_code,
            result.signal,
            "timeout",
        )
    if result.cancelled:
        return Outcome(
            "fatal",
            f"stopped on request after {format_duration(result.duration)}",
            "",
            result.exit_code,
            result.signal,
            "cancel",
        )
    outcome = engine.classify(
        result.exit_code, result.signal, allow_vanished=allow_vanished, errors=stats.error_messages
    )
    if remote_host is not None and outcome.kind != "ok":
        from backupplan.engines.ssh import ssh_problem

        return ssh_problem(stats.error_messages, remote_host, result.exit_code) or outcome
    return outcome


def location_kind(text: str) -> LocationKind:
    """Given a source or destination as rsync and rclone read it, return where it lives. Their rule:
    a ':' before the first '/' makes it remote (rsync's `host:path` over ssh, rclone's
    `remote:path`); `rsync://` or `host::module` names an rsync daemon."""
    if text.startswith("rsync://"):
        return "rsync_daemon"
    if text.startswith(("/", "./", "../", "~")):
        return "local"
    head = text.split("/", 1)[0]
    if "::" in head:
        return "rsync_daemon"
    if ":" in head:
        return "remote"
    return "local"


def safe_operand(text: str) -> str:
    """Given a local path, return it so that no program can read it as an option."""
    return "./" + text if text.startswith("-") else text


def operands(spec: TransferSpec) -> list[str]:
    """The source and destination operands of an engine's argv, after `--`, local paths made safe."""
    return [
        "--",
        *(
            safe_operand(text) if location_kind(text) == "local" else text
            for text in (spec.source, spec.destination)
        ),
    ]


def program_version(
    argv: Sequence[str], pattern: re.Pattern[str], env: Mapping[str, str] | None
) -> str | None:
    """Run `argv` (a program's version command) and return `pattern`'s first group from its output,
    or None when the program cannot be run, fails, or says something else."""
    from backupplan.errors import EngineError
    from backupplan.process.execute import run_short

    try:
        result = run_short(list(argv), env=env)
    except EngineError:
        return None
    match = pattern.search(decode(result.stdout))
    return match[1] if match and result.exit_code == 0 else None


def seconds(value: float) -> int:
    """Given a duration, return whole seconds, at least 1 (engines take integers)."""
    return max(1, round(value))


def signal_name(number: int | None) -> str:
    """Given a signal number, return its name (SIGKILL), or the number when it has none."""
    try:
        return signal.Signals(number).name if number is not None else "?"
    except ValueError:
        return str(number)


def verification_outcome(
    engine: Engine,
    exit_code: int | None,
    signal_number: int | None,
    parser: VerifyParser,
    *,
    metadata: bool = False,
) -> Outcome:
    """Given how a verification ended and what its parser found, return the Outcome: fatal when
    contents differ (missing, extra, changed or unreadable files), a warning when only metadata
    differs (fatal too with `metadata`: modes, times, owners, ACLs, xattrs, hard links count), the
    engine's exit-code verdict when the check itself failed, else ok."""
    differences = parser.differences()
    if differences:
        counts = Counter(difference.kind for difference in differences)
        summary = ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items()))
        content = [difference for difference in differences if metadata or difference.kind != "metadata"]
        example = one_line((content or differences)[0].path, 200)
        return Outcome(
            "fatal" if content else "warning",
            f"{len(differences)} difference{'s' if len(differences) != 1 else ''} between source "
            f"and destination ({summary}), e.g. {example}",
            "the next run copies what differs; if it keeps differing, look for a failing disk",
            exit_code,
            signal_number,
        )
    if signal_number is None and exit_code == 0:
        warnings = parser.warnings()
        if warnings:
            return Outcome("warning", f"no differences, but: {one_line(warnings[0])}", "", exit_code)
        return Outcome("ok", "no differences", "", exit_code)
    return engine.classify(exit_code, signal_number, errors=parser.errors())

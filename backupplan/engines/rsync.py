"""The rsync engine: argv, environment, progress and statistics, the exit-code table, verification.

The argv choices and the exit-code table are explained in docs/engines.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from backupplan.engines.base import (
    PRESERVED_WORDS,
    ExitMeaning,
    Outcome,
    TransferSpec,
    VerifyMode,
    VerifyParser,
    classify_exit,
    location_kind,
    one_line,
    operands,
    program_version,
    seconds,
    verification_outcome,
)
from backupplan.engines.changes import Changes
from backupplan.engines.rsync_output import (
    RsyncParser,
    RsyncVerifyParser,
    unsupported_properties,
)
from backupplan.engines.ssh import rsh_value

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

# What `preserve:` turns on, beyond --archive (docs/fidelity.md).
PRESERVE_OPTIONS = {
    "hard_links": "--hard-links",
    "acls": "--acls",
    "xattrs": "--xattrs",
    "sparse": "--sparse",
}
_VERSION = re.compile(r"version\s+(\S+)")


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
        options += [PRESERVE_OPTIONS[name] for name in spec.preserve if name in PRESERVE_OPTIONS]
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
        if spec.rsh:
            options.append(f"--rsh={rsh_value(spec.rsh)}")
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
        if exit_code == 23 and (unsupported := unsupported_properties(errors)):
            names = " and ".join(PRESERVED_WORDS[key] for key in unsupported)
            keys = ", ".join(f"{key}: false" for key in unsupported)
            return Outcome(
                "fatal",
                f"exit 23: the destination cannot keep {names} (rsync: {one_line(errors[0])})",
                f"set preserve: {{{keys}}} for this job, or back up to a file system (or an rsync "
                "built) that keeps them; see docs/fidelity.md",
                23,
            )
        return outcome

    def verify_outcome(
        self, exit_code: int | None, signal: int | None, parser: VerifyParser, *, metadata: bool = False
    ) -> Outcome:
        """Given how the verification dry run ended and what it itemized, return the Outcome. With
        `metadata`, attribute differences count too."""
        return verification_outcome(self, exit_code, signal, parser, metadata=metadata)

    def version(self, env: Mapping[str, str] | None = None) -> str | None:
        """Return the installed rsync's version (`3.2.7`), or None when it cannot be run."""
        return program_version([self.program, "--version"], _VERSION, env)

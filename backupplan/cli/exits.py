"""The one place that turns a command's outcome into an exit code: 0 all good, 1 a job failed
or the plan is invalid, 2 usage, 3 internal error (with a crash report), 130 interrupted.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import click

from backupplan.errors import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    BackupplanError,
    PlanError,
)


def crash_report_dir() -> Path:
    """Given the environment, return the folder for crash reports (XDG state home)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "backupplan" / "crash"


def write_crash_report(error: BaseException) -> Path:
    """Write the traceback (secrets masked) to a private file; return its path."""
    import tempfile  # here: every command would import it, and only a crash uses it
    import traceback

    from backupplan import __version__
    from backupplan.secrets import mask

    text = "".join(traceback.format_exception(error))
    body = (
        f"backupplan {__version__} crash report\n"
        f"time: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
        f"python: {sys.version.split()[0]}\n"
        f"argv: {mask(' '.join(sys.argv))}\n\n{mask(text)}"
    )
    name = f"crash-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}.txt"
    for folder in (crash_report_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = folder / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(body)
            return path
        except OSError:
            continue
    return Path("(crash report could not be written)")


def run_cli(command: click.Command, argv: Sequence[str] | None = None) -> int:
    """Run the click command; map every outcome to the documented exit codes."""
    from backupplan.secrets import mask

    try:
        result = command.main(args=argv, prog_name="backupplan", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        print("\nbackupplan: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except click.ClickException as usage:
        usage.show()
        return usage.exit_code
    except PlanError as invalid:
        for problem in invalid.problems:
            print(mask(problem.render()), file=sys.stderr)
        count = len(invalid.problems)
        print(f"{count} problem{'s' if count != 1 else ''} found.", file=sys.stderr)
        return invalid.exit_code
    except BackupplanError as expected:
        print(f"backupplan: {mask(str(expected))}", file=sys.stderr)
        return expected.exit_code
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error worth a report.
        sys.stderr.close()
        return EXIT_FAILED
    except Exception as bug:
        report = write_crash_report(bug)
        summary = mask(f"{type(bug).__name__}: {bug}").splitlines()[0] if str(bug) else type(bug).__name__
        print(
            f"backupplan: internal error: {summary} "
            f"(crash report: {report}; please attach it to a bug report)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return result if isinstance(result, int) else EXIT_OK

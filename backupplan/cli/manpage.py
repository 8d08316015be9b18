"""The man page backupplan(1), in roff, from the click commands: `python -m backupplan.cli.manpage`.

The page in the repository, share/man/man1/backupplan.1 (installed with the wheel), is this
module's output; a test fails when they differ, so the page says what `--help` says.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable

import click
from click.formatting import join_options

from backupplan import __version__
from backupplan.cli import cli
from backupplan.errors import EXIT_FAILED, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

PAGE_PATH = "share/man/man1/backupplan.1"
REGENERATE = f"python -m backupplan.cli.manpage > {PAGE_PATH}"

# Characters that roff would print as typographic glyphs (or read as escapes): the page's commands
# and options must survive copy and paste.
_ROFF_TEXT = str.maketrans({"\\": r"\e", "-": r"\-", "'": r"\(aq", "`": r"\(ga", "~": r"\(ti", "^": r"\(ha"})

EXIT_STATUS = (
    (EXIT_OK, "Success: every run succeeded, or there was nothing to do."),
    (EXIT_FAILED, "A job failed or was held, or the plan is invalid (every problem is listed)."),
    (EXIT_USAGE, "Usage error: an unknown command or option, or a missing argument."),
    (
        EXIT_INTERNAL,
        "Internal error: a bug. The message names a crash report (secrets masked) to attach to a bug report.",
    ),
    (EXIT_INTERRUPTED, "Interrupted (Ctrl-C): running jobs are recorded as interrupted and resume later."),
)

ENVIRONMENT = (
    ("BACKUPPLAN_PLAN", "The plan file when -p/--plan is not given (else ./backups.yaml)."),
    (
        "BACKUPPLAN_HOST",
        "The host this machine acts as in a fleet plan, when settings.host does not say "
        "(else the host name); systemd --host and cron --host set it.",
    ),
    ("XDG_STATE_HOME", "Crash reports go to $XDG_STATE_HOME/backupplan/crash (default ~/.local/state)."),
    (
        "XDG_CACHE_HOME",
        "The validated plan is kept in $XDG_CACHE_HOME/backupplan/plans (default ~/.cache) for the next "
        "command, and the last status document in .../backupplan/status (docs/performance.md).",
    ),
    (
        "BACKUPPLAN_PLAN_CACHE",
        "off: parse and validate the plan every time instead of keeping it (and keep no status document).",
    ),
)

FILES = (
    ("./backups.yaml", "The plan, unless -p/--plan or $BACKUPPLAN_PLAN names another."),
    (
        "STATE_DIR/journal.jsonl",
        "The journal of every run (settings.state_dir, default .backupplan next to the plan); "
        "STATE_DIR/logs holds the runs' logs.",
    ),
    ("SITE_DIR/index.html", "The static status site (settings.site_dir, default site next to the plan)."),
    ("~/.local/state/backupplan/crash/", "Crash reports of internal errors."),
    ("~/.cache/backupplan/plans/", "Validated plans kept between commands; safe to delete at any time."),
    (
        "~/.cache/backupplan/status/",
        "The status document kept since the journal last changed, for status and check; safe to delete.",
    ),
)

SEE_ALSO = (("rsync", "1"), ("rclone", "1"), ("crontab", "5"), ("systemd.timer", "5"))


def render_manpage() -> str:
    """Return the man page of the `backupplan` command and every command under it."""
    context = click.Context(cli, info_name="backupplan")
    description = _help_text(cli)
    summary = " ".join(description.partition("\n\n")[0].split())
    lines = [
        f'.TH BACKUPPLAN 1 "" "backupplan {__version__}" "User Commands"',
        # No hyphenation, ragged right: option names and paths stay whole and copyable.
        ".nh",
        ".ad l",
        ".SH NAME",
        f"backupplan \\- {_escape(summary.rstrip('.'))}",
        ".SH SYNOPSIS",
        ".B backupplan",
        r"[\fIOPTIONS\fR] \fICOMMAND\fR [\fIARGS\fR]...",
        ".SH DESCRIPTION",
        *_paragraphs(description)[1:],  # a heading starts a paragraph already
        ".SH OPTIONS",
        *_options(cli, context),
        ".TP",
        r"\fB\-h\fR, \fB\-\-help\fR",
        "Show the help of backupplan, or of the command it follows, and exit.",
        ".SH COMMANDS",
        _escape("Every command takes -h, --help; its other options are listed with it below."),
    ]
    for name, command in cli.commands.items():
        lines += _command(command, click.Context(command, info_name=name, parent=context))
    lines += [".SH EXIT STATUS", *_definitions((str(code), text) for code, text in EXIT_STATUS)]
    lines += [
        ".PP",
        _escape(
            "check and fleet check exit as monitoring plugins do: 0 OK, 1 WARNING, 2 CRITICAL, "
            "3 UNKNOWN. plan --detailed-exitcode exits 2 when the plan changed."
        ),
    ]
    lines += [".SH ENVIRONMENT", *_definitions(ENVIRONMENT)]
    lines += [".SH FILES", *_definitions(FILES)]
    lines += [".SH SEE ALSO"]
    for index, (page, section) in enumerate(SEE_ALSO, start=1):
        lines.append(f".BR {_escape(page)} ({section}){',' if index < len(SEE_ALSO) else ''}")
    lines += [
        ".PP",
        _escape("The docs/ folder of the source distribution: the plan reference and one page per topic."),
    ]
    return "\n".join(lines) + "\n"


def _command(command: click.Command, context: click.Context) -> list[str]:
    """One subsection: the usage line, the help text and the options; then the subcommands."""
    usage = " ".join(command.collect_usage_pieces(context))
    lines = [
        f".SS {_escape(context.command_path)}",
        f".B {_escape(context.command_path)}",
        _escape(usage),
        *_paragraphs(_help_text(command)),
        *_options(command, context),
    ]
    if isinstance(command, click.Group):
        for name, subcommand in command.commands.items():
            lines += _command(subcommand, click.Context(subcommand, info_name=name, parent=context))
    return lines


def _help_text(command: click.Command) -> str:
    """The help as click shows it: the docstring without its indent, up to a form feed."""
    return inspect.cleandoc(command.help or "").partition("\f")[0]


def _paragraphs(text: str) -> list[str]:
    """Click's help paragraphs as roff: filled text, or verbatim after a `\\b` line (examples)."""
    lines: list[str] = []
    for paragraph in text.split("\n\n"):
        rows = paragraph.splitlines()
        if not rows:
            continue
        if rows[0].strip() == "\b":
            lines += [".PP", ".nf", *(_line(row.rstrip()) for row in rows[1:]), ".fi"]
        else:
            lines += [".PP", *(_line(row.strip()) for row in rows if row.strip())]
    return lines


def _options(command: click.Command, context: click.Context) -> list[str]:
    """Each visible option: its spellings in bold, its value in italics, its help and default."""
    lines: list[str] = []
    for parameter in command.params:
        if not isinstance(parameter, click.Option):
            continue
        record = parameter.get_help_record(context)
        if record is None:
            continue
        spellings = [_spellings(parameter.opts)]
        if parameter.secondary_opts:
            spellings.append(_spellings(parameter.secondary_opts))
        term = " / ".join(spellings)
        if not parameter.is_flag and not parameter.count:
            term += rf" \fI{_escape(parameter.make_metavar(context))}\fR"
        lines += [".TP", term, _line(" ".join(record[1].split()))]
    return lines


def _spellings(names: list[str]) -> str:
    joined, _ = join_options(names)
    return ", ".join(rf"\fB{_escape(name)}\fR" for name in joined.split(", "))


def _definitions(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """A list of terms in bold, each with its text."""
    lines: list[str] = []
    for term, text in pairs:
        lines += [".TP", rf"\fB{_escape(term)}\fR", _line(text)]
    return lines


def _escape(text: str) -> str:
    """Text as roff prints it literally: backslashes, hyphens, quotes, tildes and carets escaped."""
    return text.translate(_ROFF_TEXT)


def _line(text: str) -> str:
    """One input line of text: escaped, and never read as a request (a leading `.` or `'`)."""
    escaped = _escape(text)
    return rf"\&{escaped}" if escaped.startswith((".", "'")) else escaped


if __name__ == "__main__":
    click.echo(render_manpage(), nl=False)

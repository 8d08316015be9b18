"""The man page backupplan(1): generated from the commands, kept current in the repository, and
rendered by the real groff without a warning."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator

import click
import pytest

from backupplan.cli import cli
from backupplan.cli.manpage import PAGE_PATH, REGENERATE, _line, render_manpage
from tests.conftest import REPO, backupplan_env

PAGE = REPO / PAGE_PATH
# The requests the page may use; any other line starting with `.` or `'` would be text read as one.
REQUESTS = {".TH", ".SH", ".SS", ".TP", ".PP", ".B", ".BR", ".nf", ".fi", ".nh", ".ad"}
# The escapes the page may use: fonts, the zero-width guard, and literal -, \, ', `, ~ and ^.
ESCAPES = re.compile(r"\\(f[BIR]|&|-|e|\(aq|\(ga|\(ti|\(ha)")


def commands(group: click.Group, path: str = "backupplan") -> Iterator[tuple[str, click.Command]]:
    """Every command and subcommand under `group`, with its full name."""
    for name, command in group.commands.items():
        yield f"{path} {name}", command
        if isinstance(command, click.Group):
            yield from commands(command, f"{path} {name}")


def hyphens(text: str) -> str:
    return text.replace("-", "\\-")


def test_the_page_in_the_repository_is_current() -> None:
    generated = subprocess.run(
        [sys.executable, "-m", "backupplan.cli.manpage"],
        env=backupplan_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert generated.stdout == render_manpage()
    assert PAGE.read_text() == generated.stdout, f"{PAGE_PATH} is out of date; regenerate it: {REGENERATE}"


def test_every_command_and_option_is_on_the_page() -> None:
    page = render_manpage()
    for name, command in commands(cli):
        assert f"\n.SS {hyphens(name)}\n" in page, name
        for parameter in command.params:
            if isinstance(parameter, click.Option):
                for spelling in parameter.opts:
                    assert rf"\fB{hyphens(spelling)}\fR" in page, (name, spelling)
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS", "ENVIRONMENT", "FILES", "SEE ALSO"):
        assert f"\n.SH {section}\n" in page
    assert "BACKUPPLAN_PLAN" in page
    assert "BACKUPPLAN_HOST" in page


def test_roff_specials_are_escaped() -> None:
    page = render_manpage()
    for line in page.splitlines():
        if line.startswith((".", "'")):
            assert line.split(" ", 1)[0] in REQUESTS, line
    text = ESCAPES.sub("", page)
    assert "\\" not in text, "an unknown escape"
    assert "-" not in text, r"a hyphen not written as \-"
    for character in "'`~^":
        assert character not in text, character


def test_a_line_of_text_is_never_read_as_a_request() -> None:
    assert _line(".hidden files") == r"\&.hidden files"
    assert _line("'quoted' --flag C:\\dir") == r"\(aqquoted\(aq \-\-flag C:\edir"


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed (Debian: groff-base)")
def test_groff_renders_the_page_without_warnings() -> None:
    result = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", str(PAGE)], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert "backupplan completion [OPTIONS] {bash|zsh|fish}" in re.sub(r".\x08", "", result.stdout)

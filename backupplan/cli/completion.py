"""Shell completion: `backupplan completion bash|zsh|fish`, and the callbacks that complete job ids,
run ids and paths.

Click does the completing: the script a shell sources runs `backupplan` again with
$_BACKUPPLAN_COMPLETE set, and click calls the `shell_complete=` callback of the parameter under the
cursor. Job and run ids come from the plan typed on the line (-p/--plan), else $BACKUPPLAN_PLAN,
else ./backups.yaml, through `backupplan.commands.complete`, imported only when a shell asks.

A completion only reads, and never fails: an invalid or missing plan, or a bug, completes nothing
rather than printing into the user's prompt.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import click
from click.shell_completion import CompletionItem

from backupplan.cli.options import CONTEXT, DEFAULT_PLAN

SHELLS = ("bash", "zsh", "fish")
PROG_NAME = "backupplan"
COMPLETE_VAR = "_BACKUPPLAN_COMPLETE"


@click.command(context_settings=CONTEXT)
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> int:
    """Print the completion script for SHELL. It completes commands and flags, the job ids of the
    plan (the -p/--plan on the line, else $BACKUPPLAN_PLAN, else ./backups.yaml) and the ids of
    their runs.

    \b
    Examples:
      backupplan completion bash > ~/.local/share/bash-completion/completions/backupplan
      backupplan completion zsh > ~/.zfunc/_backupplan    # a folder on $fpath, before compinit
      backupplan completion fish > ~/.config/fish/completions/backupplan.fish
    """
    from click.shell_completion import get_completion_class

    script = get_completion_class(shell)
    assert script is not None, shell  # every choice is one of click's shells
    click.echo(script(ctx.find_root().command, {}, PROG_NAME, COMPLETE_VAR).source(), nl=False)
    return 0


def complete_jobs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The job ids starting with `incomplete`, less those already on the line (`run a b`)."""
    from backupplan.commands.complete import job_ids

    plan_path, state_dir = _plan_path(ctx), _text(ctx.params.get("state_dir"))
    typed = ctx.params.get(param.name or "")
    given = set(typed) if isinstance(typed, tuple) else set()
    return _items(lambda: job_ids(plan_path, state_dir=state_dir), incomplete, given)


def complete_runs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The run ids of the job on the line (of every job without one) starting with `incomplete`,
    newest first."""
    from backupplan.commands.complete import run_ids

    plan_path, state_dir = _plan_path(ctx), _text(ctx.params.get("state_dir"))
    # `logs photos --run <TAB>`: an option still waiting for its value stops click's parse before
    # it assigns the arguments, so JOB is still among the leftover args then.
    job = _text(ctx.params.get("job")) or _text(next(iter(ctx.args), None))
    return _items(lambda: run_ids(plan_path, job, state_dir=state_dir), incomplete, set())


def complete_file(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Let the shell complete a file name (click completes nothing for a plain string)."""
    return [CompletionItem(incomplete, type="file")]


def complete_dir(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Let the shell complete a folder name."""
    return [CompletionItem(incomplete, type="dir")]


def _plan_path(ctx: click.Context) -> str:
    """The plan the command on the line would read: click has already applied -p/--plan, then
    $BACKUPPLAN_PLAN, then the default, when it parsed the line up to the cursor."""
    return _text(ctx.params.get("plan_path")) or DEFAULT_PLAN


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _items(
    read: Callable[[], list[tuple[str, str]]], incomplete: str, given: set[str]
) -> list[CompletionItem]:
    """Call `read` quietly (no warning, no traceback: anything it raises completes nothing) and
    keep the candidates starting with `incomplete`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            candidates = read()
    except Exception:
        return []
    return [
        CompletionItem(value, help=help_text or None)
        for value, help_text in candidates
        if value.startswith(incomplete) and value not in given
    ]

"""Hooks: the plan's `before`, `after`, `on_success` and `on_failure` commands.

Each hook runs through the one executor (its own process group, a wall-clock limit of
`timeout`), without a shell unless it is written `{shell: "..."}`. Its output goes to the run's
log tagged `hook`. It gets the run's facts in BACKUPPLAN_* environment variables, plus the job's
`env`. Secrets must reach hooks through the environment: an argv holding a secret is refused.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from backupplan.errors import BackupplanError
from backupplan.plan.model import Hook
from backupplan.runner.logfile import RunLog
from backupplan.units import format_duration

HOOK_STOP_GRACE = 5.0


@dataclass(frozen=True)
class HookFailure:
    """A hook that did not exit 0: which one and why, in one line."""

    when: str
    index: int
    message: str

    def describe(self) -> str:
        return f"{self.when} hook {self.index + 1} {self.message}"


def hook_argv(hook: Hook) -> list[str]:
    if hook.shell is not None:
        return ["/bin/sh", "-c", hook.shell]
    assert hook.argv is not None
    return list(hook.argv)


def hook_environment(
    job_env: Mapping[str, str], facts: Mapping[str, str | int | float | None]
) -> dict[str, str]:
    """The hook's environment: ours, the job's `env`, then BACKUPPLAN_<FACT> for each fact."""
    env = dict(os.environ)
    env.update(job_env)
    for name, value in facts.items():
        env[f"BACKUPPLAN_{name.upper()}"] = "" if value is None else str(value)
    return env


async def run_hooks(
    when: str,
    hooks: Sequence[Hook],
    *,
    log: RunLog,
    env: Mapping[str, str],
    stop_at_first_failure: bool,
    cancel: asyncio.Event | None = None,
) -> list[HookFailure]:
    """Run `hooks` in order; return the failures (at most one when `stop_at_first_failure`)."""
    from backupplan.process.execute import run_process

    failures: list[HookFailure] = []
    for index, hook in enumerate(hooks):
        argv = hook_argv(hook)
        log.line("backupplan", f"{when} hook {index + 1}: {' '.join(argv)}")
        environment = {**env, "BACKUPPLAN_HOOK": when}
        try:
            result = await run_process(
                argv,
                env=environment,
                on_stdout=lambda record: log.output("hook", record),
                on_stderr=lambda record: log.output("hook", record),
                timeout=hook.timeout,
                stop_grace=HOOK_STOP_GRACE,
                cancel=cancel,
            )
        except BackupplanError as error:
            failure = HookFailure(when, index, f"could not start: {error}")
        else:
            if result.timed_out:
                failure = HookFailure(when, index, f"timed out after {format_duration(hook.timeout)}")
            elif result.cancelled:
                failure = HookFailure(when, index, "was stopped")
            elif result.signal is not None:
                failure = HookFailure(when, index, f"was killed by signal {result.signal}")
            elif result.exit_code != 0:
                failure = HookFailure(when, index, f"exited {result.exit_code}")
            else:
                log.line("backupplan", f"{when} hook {index + 1} succeeded")
                continue
        log.line("backupplan", failure.describe() + " (its output is above)")
        failures.append(failure)
        if stop_at_first_failure:
            break
    return failures

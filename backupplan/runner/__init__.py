"""Running jobs: one run of one job done right (locks, hooks, retries, logs, journal), several at
once up to max_parallel. See backupplan.runner.session and backupplan.runner.jobrun."""

from backupplan.runner.results import RunEvent, RunResult, Trigger
from backupplan.runner.session import Session

__all__ = ["RunEvent", "RunResult", "Session", "Trigger"]

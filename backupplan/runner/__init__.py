"""Running jobs: one run of one job done right (locks, hooks, retries, logs, journal), several at
once up to max_parallel. See backupplan.runner.session."""

from backupplan.runner.session import RunEvent, RunResult, Session, Trigger

__all__ = ["RunEvent", "RunResult", "Session", "Trigger"]

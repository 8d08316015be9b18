"""Notifications and monitoring pings: never let a backup fail silently.

- `decide`: pure rules — which events (failure, recovery, success, overdue, interrupted) a job's new
  facts call for, and the small per-job state they need (kept in the job's `notify` note).
- `message`: one masked title and body per notice.
- `send`: targets (settings + job, merged) and one delivery through apprise.
- `ping`: healthchecks-style pings (healthchecks, Uptime Kuma push, Cronitor) with urllib.
- `outbox`: background delivery with per-destination order, retries and a bounded queue.
- `hub`: `Notifications`, the calls the runner and the daemon make.

Nothing here imports the runner, the scheduler or the journal: facts come in as plain data and
journal records go out as plain data.
"""

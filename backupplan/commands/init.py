"""`backupplan init`: write a commented starter plan."""

from __future__ import annotations

import os
from pathlib import Path

import click

from backupplan.errors import BackupplanError

STARTER = """\
# backupplan plan: every key is explained by `backupplan schema` and in docs/plan-reference.md.
# Check it with `backupplan validate`, preview with `backupplan plan`, run with `backupplan apply`.
#
# For completion in editors that use yaml-language-server (VS Code, Neovim, Helix), save the schema
# once with `backupplan schema > backupplan.schema.json` and keep this line:
# yaml-language-server: $schema=./backupplan.schema.json
version: 1

settings:
  state_dir: .backupplan     # journal, logs and locks (relative to this file)
  site_dir: site             # the static status site; open site/index.html in a browser
  timezone: local            # cron schedules run in this timezone (or e.g. Europe/Berlin, UTC)
  max_parallel: 2            # jobs that may run at the same time
  retries: {attempts: 3, backoff: 30s, max_backoff: 30m}
  recovery: resume           # after a crash: resume interrupted runs, or pause the job

# Anything here is merged under every job; a job's own keys win.
defaults:
  engine: rsync
  missed: run_once           # after downtime, run once for the slots that were missed
  timeout: 6h
  exclude: ["*.tmp", ".cache/"]

jobs:
  # The job id (here: documents) is its identity: renaming it makes a new job.
  documents:
    description: My documents to the backup disk
    source: ~/Documents      # the folder's contents are copied
    destination: /mnt/backup/documents
    schedule: "0 2 * * *"    # cron: every day at 02:00; or @daily, or "every 6h"
    snapshots:               # dated, hard-linked snapshots instead of a single mirror
      keep: {last: 3, daily: 7, weekly: 4, monthly: 12}

  # photos-offsite:
  #   engine: rclone
  #   source: ~/Pictures
  #   destination: s3remote:my-bucket/photos   # any rclone remote
  #   schedule: "@weekly"
  #   bandwidth: 5MiB                          # per second
  #   env:
  #     RCLONE_CONFIG_S3REMOTE_SECRET_ACCESS_KEY: ${S3_SECRET}   # from the environment, never shown
"""


def init_command(path: str, *, force: bool) -> int:
    """Write the starter plan to `path`; refuse to overwrite an existing file without `force`."""
    target = Path(path)
    if target.is_dir():
        raise BackupplanError(
            f"{path} is a directory; pass a file name, e.g. {path.rstrip('/')}/backups.yaml"
        )
    if target.exists() and not force:
        raise BackupplanError(f"{path} already exists; pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(STARTER)
    os.replace(temporary, target)
    click.echo(f"Wrote {path}. Next: edit the jobs, then run `backupplan validate {path}`.")
    return 0

"""Database dumps: consistent copies of PostgreSQL, MySQL/MariaDB and SQLite databases, written into
the job's source before the transfer, and loaded back by `backupplan restore JOB --dump NAME`.
See docs/dumps.md.

- `argv`: the clients' command lines, environments and option files (pure);
- `clients`: which program each dump needs, where it is, its version, the 0600 option file;
- `files`: the dumps folder in the source, and the temp-name-then-rename that keeps the previous
  dump until a new one is complete;
- `take`: the run's dumps phase (`take_dumps`), and what the guard makes of rewritten dumps;
- `sqlite`: SQLite's online backup API, both ways;
- `restore`: finding a dump in the backup and loading it into a database;
- `probe`: doctor's look at the clients and the databases.

Only backupplan.process starts the programs; passwords reach them through the environment
(PGPASSWORD) or a 0600 option file, never their command lines.
"""

from __future__ import annotations

from backupplan.dumps.clients import DumpError
from backupplan.dumps.take import Dumped, DumpRecord, discounted, take_dumps

__all__ = ["DumpError", "DumpRecord", "Dumped", "discounted", "take_dumps"]

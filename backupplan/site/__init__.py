"""The static status site: plain files any web server (or `file://`) shows, rebuilt after events.

Public API:

- `SiteInput` (and `JobInput`, `ToolCheck`, `SitePaths`): what a build needs, as plain data;
- `build_site(data, site_dir, *, changed_jobs=None) -> BuildReport`;
- `write_progress(status, site_dir)`: replace only status.json;
- `SiteUpdater`: debounces progress (at most once a second) and flushes events at once;
- `read_recent_log_lines(logs_dir, limit=500)`.
"""

from __future__ import annotations

from backupplan.site.build import BuildReport, build_site, write_progress
from backupplan.site.data import JobInput, SiteInput, SitePaths, ToolCheck, load_site_input
from backupplan.site.logs import LogLine, read_recent_log_lines
from backupplan.site.updater import SiteUpdater

__all__ = [
    "BuildReport",
    "JobInput",
    "LogLine",
    "SiteInput",
    "SitePaths",
    "SiteUpdater",
    "ToolCheck",
    "build_site",
    "load_site_input",
    "read_recent_log_lines",
    "write_progress",
]

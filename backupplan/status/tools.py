"""The tool check: are rsync, rclone and ssh installed, which versions, and are they new enough for
what the plan's jobs use. The site's settings page and `backupplan doctor` show the same answer.

Minimum versions come from the options backupplan passes (docs/engines.md):

- rsync 3.1.0 for `--info=progress2` (progress and totals, every rsync job); 3.2.3 for `--mkpath`,
  passed for remote destinations (the rsync on the receiving side needs it too);
- rclone 1.52.0 for statistics in the JSON log (progress and totals, every rclone job); 1.53.0 for
  `rclone check --combined` (jobs with `verify`);
- ssh, any version, for rsync jobs with a `host:path` source or destination.

Disabled jobs need nothing: they never run.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backupplan.plan.load import LoadedPlan
    from backupplan.site.data import ToolCheck

RSYNC_PROGRESS = "3.1.0"
RSYNC_MKPATH = "3.2.3"
RCLONE_JSON_STATS = "1.52.0"
RCLONE_CHECK_COMBINED = "1.53.0"
TOOLS = ("rsync", "rclone", "ssh")
_NUMBERS = re.compile(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")
_OPENSSH = re.compile(r"OpenSSH_([0-9][\w.]*)")


@dataclass(frozen=True)
class Need:
    """Why the plan needs a tool: the feature, the version it takes (None: any) and the jobs."""

    tool: str
    minimum: str | None
    feature: str
    jobs: tuple[str, ...]


@dataclass(frozen=True)
class ToolReport:
    """One tool: where it is, its version, what the plan needs of it and what is wrong."""

    name: str
    path: str | None
    version: str | None
    needs: tuple[Need, ...] = field(default_factory=tuple)
    problem: str | None = None  # None: usable for everything the plan needs
    hint: str | None = None

    @property
    def needed(self) -> bool:
        return bool(self.needs)

    @property
    def minimum(self) -> Need | None:
        """The need with the highest minimum version, if any need has one."""
        versioned = [need for need in self.needs if need.minimum is not None]
        return max(versioned, key=lambda need: version_key(need.minimum or "")) if versioned else None

    @property
    def jobs(self) -> tuple[str, ...]:
        return tuple(sorted({job for need in self.needs for job in need.jobs}))

    def as_site(self) -> ToolCheck:
        """The site's ToolCheck for this tool (ok: found, version known, new enough)."""
        from backupplan.site.data import ToolCheck

        usable = self.problem is None and self.path is not None
        return ToolCheck(self.name, self.path, self.version, usable, self.problem)


def version_key(text: str) -> tuple[int, int, int]:
    """Given a version (`3.2.7`, `v1.60.1-DEV`, `9.2p1`), return (major, minor, patch) to compare."""
    match = _NUMBERS.match(text.strip())
    if match is None:
        return (0, 0, 0)
    major, minor, patch = (int(part) if part else 0 for part in match.groups())
    return (major, minor, patch)


def plan_needs(loaded: LoadedPlan) -> dict[str, list[Need]]:
    """Given a plan, return what its enabled jobs need of each tool (tool -> needs)."""
    from backupplan.plan.locations import parse_location

    uses: dict[tuple[str, str | None, str], list[str]] = {}

    def add(tool: str, minimum: str | None, feature: str, job_id: str) -> None:
        uses.setdefault((tool, minimum, feature), []).append(job_id)

    for job_id, job in sorted(loaded.jobs.items()):
        if not job.enabled:
            continue
        source = parse_location(job.source, job.engine, loaded.base_dir)
        destination = parse_location(job.destination, job.engine, loaded.base_dir)
        if job.engine == "rsync":
            add("rsync", RSYNC_PROGRESS, "--info=progress2 (progress and totals)", job_id)
            if not destination.is_local:
                add("rsync", RSYNC_MKPATH, "--mkpath (remote destinations)", job_id)
            if "ssh" in (source.kind, destination.kind):
                add("ssh", None, "rsync over ssh", job_id)
        else:
            add("rclone", RCLONE_JSON_STATS, "statistics in the JSON log (progress and totals)", job_id)
            if job.verify != "none":
                add("rclone", RCLONE_CHECK_COMBINED, "rclone check --combined (verify)", job_id)
    needs: dict[str, list[Need]] = {}
    for (tool, minimum, feature), jobs in uses.items():
        needs.setdefault(tool, []).append(Need(tool, minimum, feature, tuple(jobs)))
    return needs


def ssh_version(path: str) -> str | None:
    """Return the installed ssh's version (`9.2p1`), or None when `ssh -V` cannot be run."""
    from backupplan.errors import EngineError
    from backupplan.process.execute import run_short

    try:
        result = run_short([path, "-V"])
    except EngineError:
        return None
    text = (result.stderr + result.stdout).decode("utf-8", "replace")
    match = _OPENSSH.search(text)
    if match:
        return match[1]
    words = text.split()
    return words[0].rstrip(",") if words and result.exit_code == 0 else None


def installed_version(name: str, path: str) -> str | None:
    """Given a tool's name and where it was found, return its version, or None when it cannot be
    run. (rsync and rclone are asked through their engine, which runs them from PATH.)"""
    from backupplan.engines import ENGINES

    if name == "ssh":
        return ssh_version(path)
    return ENGINES[name].version()


def check_tools(
    loaded: LoadedPlan | None,
    *,
    which: Callable[[str], str | None] = shutil.which,
    version_of: Callable[[str, str], str | None] = installed_version,
) -> list[ToolReport]:
    """Given the plan (None: no plan, nothing known to be needed), return a report for rsync and
    rclone, and for ssh when a job uses it. A needed tool that is missing, whose version cannot be
    read, or that is older than a job needs, has a `problem` and a `hint`. `version_of(name, path)`
    is where a caller can put a cache."""
    needs = plan_needs(loaded) if loaded is not None else {}
    reports = []
    for name in TOOLS:
        tool_needs = tuple(needs.get(name, ()))
        if name == "ssh" and not tool_needs:
            continue
        path = which(name)
        if path is None:
            reports.append(_missing(name, tool_needs))
            continue
        reports.append(_found(name, path, version_of(name, path), tool_needs))
    return reports


def _missing(name: str, needs: tuple[Need, ...]) -> ToolReport:
    jobs = sorted({job for need in needs for job in need.jobs})
    install = f"install it (e.g. apt-get install {'openssh-client' if name == 'ssh' else name})"
    if not needs:
        return ToolReport(name, None, None, needs, f"{name} is not installed (no job uses it)", install)
    return ToolReport(
        name,
        None,
        None,
        needs,
        f"{name} is not installed, and {_jobs_text(jobs)} {'needs' if len(jobs) == 1 else 'need'} it",
        install + ", or fix PATH",
    )


def _found(name: str, path: str, version: str | None, needs: tuple[Need, ...]) -> ToolReport:
    if version is None:
        flag = "-V" if name == "ssh" else "version" if name == "rclone" else "--version"
        return ToolReport(
            name, path, None, needs, f"`{path} {flag}` failed", f"check that {path} runs for this user"
        )
    report = ToolReport(name, path, version, needs)
    too_old = [
        need
        for need in needs
        if need.minimum is not None and version_key(version) < version_key(need.minimum)
    ]
    if not too_old:
        return report
    worst = max(too_old, key=lambda need: version_key(need.minimum or ""))
    jobs = sorted({job for need in too_old for job in need.jobs})
    return ToolReport(
        name,
        path,
        version,
        needs,
        f"{name} {version} is older than {worst.minimum}, which {_jobs_text(jobs)} "
        f"{'needs' if len(jobs) == 1 else 'need'} for {worst.feature}",
        f"upgrade {name} to {worst.minimum} or later",
    )


def _jobs_text(jobs: list[str]) -> str:
    shown = ", ".join(jobs[:5]) + (f" and {len(jobs) - 5} more" if len(jobs) > 5 else "")
    return f"job{'s' if len(jobs) != 1 else ''} {shown}"


def tool_checks(loaded: LoadedPlan | None = None, cache: Path | None = None) -> list[ToolCheck]:
    """Is each engine's program (and ssh, when a job uses it) installed, which version, and is it
    new enough for the plan's jobs (the site shows it; `doctor` checks the same with check_tools).

    `rclone version` alone takes ~90 ms, so with `cache` (a file in the state dir) a version is
    asked again only when the program's file changed (path, size or mtime)."""
    known = _read_cache(cache)
    fresh: dict[str, Any] = {}

    def version_of(name: str, path: str) -> str | None:
        status = Path(path).stat()
        key = f"{path}:{status.st_size}:{status.st_mtime_ns}"
        version = known[key] if key in known else installed_version(name, path)
        fresh[key] = version
        return version

    checks = [report.as_site() for report in check_tools(loaded, version_of=version_of)]
    if cache is not None and fresh != known:
        import orjson

        from backupplan.fsutil import atomic_write

        with contextlib.suppress(OSError):
            atomic_write(cache, orjson.dumps(fresh), durable=False)
    return checks


def _read_cache(cache: Path | None) -> dict[str, Any]:
    if cache is None:
        return {}
    try:
        import orjson

        data = orjson.loads(cache.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}

"""Publishing: gather the plan, the journal's state and the tool check into the site's input, and
keep the site current while runs happen.

The site package only ever sees plain data; this module is where the state's classes become that
data (the status document of docs/status-json.md, run summaries, masked configs).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from backupplan.status.kept import keep_current
from backupplan.status.tools import tool_checks

if TYPE_CHECKING:
    from backupplan.journal import Journal
    from backupplan.plan.load import LoadedPlan
    from backupplan.site.build import BuildReport
    from backupplan.site.data import SiteInput, ToolCheck
    from backupplan.status.document import Keeper
    from backupplan.status.publish import Publisher

NEXT_RUNS_SHOWN = 5


def status_document(
    loaded: LoadedPlan, journal: Journal, now: datetime, keeper: Keeper | None = None
) -> dict[str, Any]:
    """The status document for the plan's state, progress files and this machine's facts
    included (`keeper` when the caller knows what keeps the status fresh)."""
    from backupplan.status.document import build_status
    from backupplan.status.facts import machine_facts

    return build_status(
        journal.state,
        journal.health,
        plan=loaded,
        now=now,
        progress_dir=loaded.state_dir / "progress",
        **machine_facts(loaded, loaded.state_dir, keeper),
    )


def site_input(
    loaded: LoadedPlan,
    journal: Journal,
    *,
    now: datetime,
    tools: list[ToolCheck] | None = None,
    keeper: Keeper | None = None,
) -> SiteInput:
    """Given the plan, an open journal and the time, return everything a site build needs."""
    from backupplan.plan.schedule import parse_schedule
    from backupplan.site.data import JobInput, SiteInput, SitePaths
    from backupplan.status.document import run_summary

    status = status_document(loaded, journal, now, keeper)
    normalized = loaded.normalized()
    state = journal.state
    jobs: dict[str, JobInput] = {}
    for entry in status["jobs"]:
        job_id = entry["id"]
        plan_job = loaded.jobs.get(job_id)
        next_runs: list[str] = []
        if plan_job is not None and plan_job.schedule and plan_job.enabled and not entry["paused"]:
            schedule = parse_schedule(plan_job.schedule, loaded.timezone)
            start = datetime.fromisoformat(entry["next_run"]) if entry["next_run"] else now
            times = [start, *schedule.next_runs(loaded.timezone, start, NEXT_RUNS_SHOWN - 1)]
            next_runs = [moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for moment in times]
        job_state = state.jobs.get(job_id)
        history = [run_summary(summary) for summary in job_state.history] if job_state is not None else []
        jobs[job_id] = JobInput(
            id=job_id, config=normalized["jobs"].get(job_id), next_runs=next_runs, history=history
        )
    applied = state.plan
    return SiteInput(
        now=now,
        status=status,
        paths=SitePaths(
            state_dir=str(loaded.state_dir),
            site_dir=str(loaded.site_dir),
            plan_path=str(loaded.path),
            plan_digest=loaded.digest,
            applied_at=status["plan"]["applied_at"] if status["plan"] else None,
            applied_digest=applied.digest if applied is not None else None,
        ),
        jobs=jobs,
        settings=normalized["settings"],
        default_settings=loaded.default_settings(),
        tools=tools if tools is not None else tool_checks(loaded),
        refresh=loaded.plan.settings.refresh,
        log_lines=500,
    )


def build(loaded: LoadedPlan, journal: Journal, *, now: datetime | None = None) -> BuildReport:
    """Rebuild the whole site now."""
    from backupplan.site.build import build_site

    data = site_input(
        loaded,
        journal,
        now=now or datetime.now(UTC),
        tools=tool_checks(loaded, loaded.state_dir / "tools.json"),
    )
    return build_site(data, loaded.site_dir)


class SiteFeed:
    """Keeps one plan's site current from a runner or daemon: `event()` after every journal event
    (rebuilds what the named jobs affect), `progress()` on progress ticks (status.json only, at most
    once a second), `heartbeat()` when nothing happens (status.json only, so that its age tells a
    live daemon from a dead one). Never raises: a site that cannot be written must not stop a
    backup; the problem is reported through `on_error` once per distinct message.

    `keeper` says what keeps the status fresh when the caller knows (the daemon); otherwise each
    document looks for a daemon's lock. With `settings.publish`, every event and heartbeat also
    asks the host's Publisher (backupplan.status.publish) to upload the status; `close()` waits a
    little for the last upload."""

    def __init__(
        self,
        loaded: LoadedPlan,
        journal: Journal,
        *,
        on_error: Callable[[str], None] | None = None,
        keeper: Keeper | None = None,
    ) -> None:
        from backupplan.site.updater import SiteUpdater

        self._loaded = loaded
        self.publisher: Publisher | None = None
        self._nudged_at: int | None = None  # the journal's seq when an upload was last asked for
        self._retarget()
        self.journal = journal
        self.keeper = keeper
        self._last_beat: tuple[int, dict[str, Any]] | None = None  # (journal seq, status.json as written)
        self._tools: list[ToolCheck] | None = None
        self._updater = SiteUpdater(loaded.site_dir)
        self._on_error = on_error
        self._reported: set[str] = set()
        self._lock = threading.Lock()

    @property
    def loaded(self) -> LoadedPlan:
        return self._loaded

    @loaded.setter
    def loaded(self, new: LoadedPlan) -> None:
        """A reloaded plan (the daemon's): publishing follows its settings from now on."""
        self._loaded = new
        self._retarget()

    def _retarget(self) -> None:
        from backupplan.status.publish import Publisher, target_of

        target = target_of(self._loaded)
        if target is None:
            if self.publisher is not None:
                self.publisher.close(0)
            self.publisher = None
        elif self.publisher is None:
            self.publisher = Publisher(
                target,
                self._loaded.site_dir,
                self._loaded.state_dir,
                on_problem=self._report,
                on_change=lambda: self.heartbeat(publish=False),
            )
        else:
            self.publisher.target = target

    def _tool_list(self) -> list[ToolCheck]:
        if self._tools is None:
            self._tools = tool_checks(self.loaded, self.loaded.state_dir / "tools.json")
        return self._tools

    def event(self, changed_jobs: Iterable[str] | None = None) -> None:
        try:
            with self._lock:
                self.journal.refresh()
                seq = self.journal.state.last_seq
                data = site_input(
                    self.loaded,
                    self.journal,
                    now=datetime.now(UTC),
                    tools=self._tool_list(),
                    keeper=self.keeper,
                )
                keep_current(self.loaded, self.journal, seq, data.status)  # for the next `status`
            report = self._updater.event(data, changed_jobs=changed_jobs)
            with self._lock:  # what progress ticks and heartbeats bring up to date
                self._last_beat = (seq, orjson.loads(report.status))
        except Exception as error:  # the site must never stop a backup
            self._report(f"the status site could not be updated in {self.loaded.site_dir}: {error}")
            return
        # Uploads wait until no run is going (an upload beside a run slows it): the run's end
        # nudges, and during long runs the daemon's heartbeat keeps publishing.
        if self.publisher is not None and not self.journal.state.open_runs():
            self._nudged_at = self.journal.state.last_seq
            self.publisher.nudge()

    def progress(self) -> None:
        """Write the running runs' progress: into the document written last when the journal has
        not moved since (`with_progress`), else into a document built anew."""
        from backupplan.site.masking import SiteMasker
        from backupplan.status.document import with_progress

        try:
            with self._lock:
                now = datetime.now(UTC)
                last = self._last_beat
                if last is not None and last[0] == self.journal.state.last_seq:
                    masker = SiteMasker()  # the site's masking, once per tick

                    def masked(value: Any) -> Any:
                        return orjson.loads(masker(orjson.dumps(value).decode()))

                    progress_dir = self.loaded.state_dir / "progress"
                    self._updater.progress(with_progress(last[1], progress_dir, now, masked), masked=True)
                    return
                document = status_document(self.loaded, self.journal, now, self.keeper)
            self._updater.progress(document)
        except Exception as error:
            self._report(f"the status site's status.json could not be updated: {error}")

    def heartbeat(self, *, publish: bool = True) -> None:
        """Rewrite status.json now with what the journal says (no page is rendered). While the
        journal has not changed since the document written last (by a heartbeat or an event), a
        daemon's (`keeper` known) is brought up to date (`restamped`) instead of built again: ~2 ms
        instead of ~90 for 1,000 jobs."""
        from backupplan.status.document import restamped
        from backupplan.status.facts import publish_facts, state_space

        try:
            with self._lock:
                self.journal.refresh()
                now = datetime.now(UTC)
                seq = self.journal.state.last_seq
                last = self._last_beat
                document = None
                if last is not None and last[0] == seq and self.keeper is not None:
                    document = restamped(last[1], now, self.keeper)
                if document is not None:
                    space = state_space(self.loaded.state_dir)
                    document["state_dir"] = {
                        **document["state_dir"],  # its path as masked then
                        "free_bytes": space.free_bytes,
                        "total_bytes": space.total_bytes,
                        "problem": space.problem,
                    }
                    document["publish"] = publish_facts(self.loaded)
                    self._updater.heartbeat(document, masked=True)
                else:
                    document = status_document(self.loaded, self.journal, now, self.keeper)
                    self._last_beat = (seq, orjson.loads(self._updater.heartbeat(document)))
        except Exception as error:
            self._report(f"the status site's status.json could not be updated: {error}")
            return
        if self.publisher is not None and publish:
            self._nudged_at = self.journal.state.last_seq
            self.publisher.nudge()

    def close(self) -> None:
        if self.publisher is not None and self._nudged_at != self.journal.state.last_seq:
            self.publisher.nudge()  # the final state was not asked for yet
        if self.publisher is not None and not self.publisher.close():
            target = self.publisher.target.shown
            self._report(f"publishing: the last upload to {target} was still going at exit")
        try:
            self._updater.close()
        except Exception as error:
            self._report(f"the status site could not be updated: {error}")

    def _report(self, message: str) -> None:
        if message not in self._reported and self._on_error is not None:
            self._reported.add(message)
            self._on_error(message)

"""Checks across the fields of one valid job: what pydantic alone cannot see."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from backupplan.plan.locations import Location, contains, parse_location, real, versions_beside
from backupplan.plan.model import Job, Settings
from backupplan.plan.model.fleet import could_share, selects


@dataclass(frozen=True)
class JobProblem:
    path: tuple[str | int, ...]
    message: str
    hint: str


def check_jobs(
    jobs: dict[str, Job], base_dir: Path, known_hosts: list[str] | None = None
) -> Iterator[tuple[str, JobProblem]]:
    """Yield (job id, problem) for what is wrong between jobs that may run on one machine: a
    destination that overlaps the folder where another job keeps its snapshots (its runs take
    over, clone and prune what is there). Reported on the later of the two jobs."""
    seen: list[tuple[str, str, bool]] = []  # (job id, real destination, keeps snapshots) so far
    for job_id, job in jobs.items():
        destination = parse_location(job.destination, job.engine, base_dir)
        if not destination.is_local:
            continue
        path = real(destination.path)
        keeps = job.snapshots is not None
        for other, other_path, other_keeps in seen:
            if not could_share(job.hosts, jobs[other].hosts, known_hosts or []):
                continue
            if (keeps or other_keeps) and (contains(path, other_path) or contains(other_path, path)):
                owner, folder = (other, other_path) if other_keeps else (job_id, path)
                message = f"destination overlaps the snapshots of job {owner} ({folder})"
                hint = (
                    f"the runs of {owner} clone, take over and prune what is in that folder; give each "
                    "job its own destination folder"
                )
                yield job_id, JobProblem(("destination",), message, hint)
                break
        seen.append((job_id, path, keeps))


def check_fleet(jobs: dict[str, Job], settings: Settings) -> Iterator[tuple[str, JobProblem]]:
    """Yield (job id, warning) for `hosts:` selectors that match none of `settings.fleet.hosts`
    (a misspelt name runs the job nowhere), and ("", warning) for a `settings.host` not listed."""
    if settings.fleet is None or not settings.fleet.hosts:
        return
    known = settings.fleet.hosts
    listed = ", ".join(known)
    for job_id, job in jobs.items():
        for index, selector in enumerate(job.hosts or []):
            if not any(selects([selector], name) for name in known):
                message = f"{selector!r} matches none of settings.fleet.hosts ({listed})"
                hint = "fix the name, or add the machine to settings.fleet.hosts"
                yield job_id, JobProblem(("hosts", index), message, hint)
    if settings.host is not None and settings.host.lower() not in {name.lower() for name in known}:
        message = f"{settings.host!r} is not in settings.fleet.hosts ({listed})"
        yield "", JobProblem(("settings", "host"), message, "add it to settings.fleet.hosts")


def check_job(job_id: str, job: Job, base_dir: Path) -> Iterator[JobProblem]:
    """Yield the problems of `job` (whose relative paths resolve against `base_dir`)."""
    yield from _secrets_in_argv(job)
    source = parse_location(job.source, job.engine, base_dir)
    destination = parse_location(job.destination, job.engine, base_dir)
    if source.is_local and destination.is_local:
        source_path, destination_path = real(source.path), real(destination.path)
        if contains(source_path, destination_path):
            same = source_path == destination_path
            yield JobProblem(
                ("destination",),
                "destination is the source itself"
                if same
                else f"destination {destination.path} is inside source {source.path}",
                "the backup would copy itself into itself; put the destination outside the source",
            )
        elif contains(destination_path, source_path):
            yield JobProblem(
                ("source",),
                f"source {source.path} is inside destination {destination.path}",
                "with delete or snapshots the backup could overwrite its own source; keep them apart",
            )
    if job.engine == "rsync" and not source.is_local and not destination.is_local:
        yield JobProblem(
            ("destination",),
            "rsync cannot copy from one remote host to another",
            "make the source or the destination local, or use engine: rclone",
        )
    if job.snapshots is not None:
        yield from _snapshot_problems(job, destination)
    if job.versions is not None:
        yield from _versions_problems(job, source, destination, base_dir)
    if job.ping is not None and not job.ping.startswith(("http://", "https://")):
        yield JobProblem(
            ("ping",), "ping must be an http:// or https:// URL", "e.g. https://hc-ping.com/<uuid>"
        )
    for index, target in enumerate(job.notify):
        if "://" not in target.url:
            yield JobProblem(
                ("notify", index, "url"),
                "not a notification URL",
                "apprise URLs look like mailto://…, ntfy://…, json://…",
            )


# rsync options that write into existing files instead of replacing them: in a snapshot they would
# write through hard links into older snapshots; and options that fight backupplan's own linking.
IN_PLACE_OPTIONS = ("--inplace", "--append", "--append-verify", "--write-devices")
LINKING_OPTIONS = ("--link-dest", "--copy-dest", "--compare-dest")


def _snapshot_problems(job: Job, destination: Location) -> Iterator[JobProblem]:
    if job.engine == "rclone":
        yield JobProblem(
            ("snapshots",),
            "snapshots are not supported for rclone jobs",
            "a snapshot is a dated folder whose unchanged files are hard links to the previous one, "
            "renamed into place when complete; rclone remotes (S3, WebDAV, …) have neither hard links "
            "nor atomic folder renames, so every snapshot would be a full copy. Use engine: rsync with "
            "a local or ssh destination, or leave snapshots out",
        )
        return
    if destination.kind == "rsync_daemon":
        yield JobProblem(
            ("destination",),
            "snapshots need a local or ssh destination, not an rsync daemon",
            "snapshots are made with renames and links inside the destination, which an rsync daemon "
            "cannot be asked to do; write the destination as user@host:path (rsync over ssh, with a "
            "shell login on the server), back up to a local folder, or leave snapshots out",
        )
    for index, argument in enumerate(job.extra_args):
        option = argument.split("=", 1)[0]
        if option in IN_PLACE_OPTIONS:
            yield JobProblem(
                ("extra_args", index),
                f"{option} cannot be used with snapshots",
                "it makes rsync write into existing files, and in a snapshot those are hard links "
                "shared with older snapshots, which would change too; leave it out",
            )
        elif option in LINKING_OPTIONS:
            yield JobProblem(
                ("extra_args", index),
                f"{option} cannot be used with snapshots",
                "backupplan links each snapshot to the previous one itself; leave it out",
            )


# rclone options that would take over (or fight) the folder `versions:` gives each run.
VERSIONS_OPTIONS = ("--backup-dir", "--suffix", "--suffix-keep-extension")


def _versions_problems(
    job: Job, source: Location, destination: Location, base_dir: Path
) -> Iterator[JobProblem]:
    """What is wrong with `versions:`: on an rsync job, at a place rclone cannot move files to
    (another remote, inside the copy), or with no place at all (a bucket or a remote's top)."""
    assert job.versions is not None
    if job.engine != "rclone":
        yield JobProblem(
            ("versions",),
            "versions are for rclone jobs",
            "an rsync job keeps its history with snapshots: (dated hard-linked copies, see "
            "docs/snapshots.md); use snapshots: here, or engine: rclone",
        )
        return
    for index, argument in enumerate(job.extra_args):
        if argument.split("=", 1)[0] in VERSIONS_OPTIONS:
            yield JobProblem(
                ("extra_args", index),
                f"{argument.split('=', 1)[0]} cannot be used with versions",
                "versions: gives each run its own --backup-dir; leave it out",
            )
    if job.versions.path is None:
        if versions_beside(destination, job.env) is None:
            yield JobProblem(
                ("versions",),
                f"versions need a path: the destination {job.destination} is a bucket or the top of "
                "a remote, with no folder to put `.versions` beside",
                "say where the version folders go, on the same remote and outside the copy, e.g. "
                "versions: {path: 'remote:bucket-name/photos.versions'}; or back up into a folder "
                "of the bucket (remote:bucket/photos)",
            )
        return
    place = parse_location(job.versions.path, "rclone", base_dir)
    if place.kind != destination.kind or place.host != destination.host:
        where = f"the remote {destination.host}:" if destination.host else "a local folder"
        yield JobProblem(
            ("versions", "path"),
            f"versions.path must be on the destination's remote ({where})",
            "rclone moves replaced files into it on the server side, which works only within "
            "one remote; e.g. put it beside the destination",
        )
        return
    inside = contains(place.path, destination.path) or contains(destination.path, place.path)
    if destination.is_local:
        inside = contains(real(place.path), real(destination.path)) or contains(
            real(destination.path), real(place.path)
        )
    if inside:
        yield JobProblem(
            ("versions", "path"),
            f"versions.path {job.versions.path} overlaps the destination {job.destination}",
            "rclone refuses a --backup-dir inside the copy (or holding it); put it beside the "
            "destination, e.g. its name with .versions appended",
        )
    elif source.is_local and place.is_local and contains(real(source.path), real(place.path)):
        yield JobProblem(
            ("versions", "path"),
            f"versions.path {job.versions.path} is inside the source {job.source}",
            "the backup would copy its own history; put it outside the source",
        )


def _secrets_in_argv(job: Job) -> Iterator[JobProblem]:
    """Values that would reach a command line (hooks, extra_args, source, destination) holding a
    secret: any local user can read command lines, so the run would refuse them; say so now."""
    from backupplan.secrets import mask

    fields: list[tuple[tuple[str | int, ...], str]] = [
        (("source",), job.source),
        (("destination",), job.destination),
    ]
    fields += [(("extra_args", index), argument) for index, argument in enumerate(job.extra_args)]
    if job.versions is not None and job.versions.path is not None:
        fields.append((("versions", "path"), job.versions.path))
    for when in ("before", "after", "on_success", "on_failure"):
        for index, hook in enumerate(getattr(job.hooks, when)):
            if hook.shell is not None:
                fields.append((("hooks", when, index, "shell"), hook.shell))
            for position, argument in enumerate(hook.argv or []):
                fields.append((("hooks", when, index, "argv", position), argument))
    for path, text in fields:
        shown = mask(text)
        if shown != text:
            hint = (
                "pass it through the job's env: and use it from there ($NAME in a shell hook; "
                "RSYNC_PASSWORD for an rsync daemon; an rclone remote defined in env)"
            )
            yield JobProblem(
                path, f"its command line would show a secret ({shown}) to every local user", hint
            )

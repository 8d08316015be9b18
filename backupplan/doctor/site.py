"""The site dir: where it is, whether it can be written, when it was last built."""

from __future__ import annotations

import os
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from backupplan.doctor.files import can, kind_of, nearest_existing, why_not_writable
from backupplan.doctor.model import Check, Status, when

if TYPE_CHECKING:
    from backupplan.plan.load import LoadedPlan


def site_checks(site_dir: Path, zone: tzinfo, now: datetime) -> list[Check]:
    """Given the site dir, return a check that it can be written and one saying when it was built
    (status.json's `generated_at`: it is rewritten on every build and progress update)."""
    kind = kind_of(site_dir)
    facts: dict[str, Any] = {"path": str(site_dir), "exists": kind != "missing"}
    if kind == "file":
        return [
            Check(
                "site", "folder", "fail", f"{site_dir} is not a folder", "set settings.site_dir to a folder"
            )
        ]
    folder = site_dir if kind != "missing" else nearest_existing(site_dir.parent)
    if kind_of(folder) != "folder" or not can(folder, os.W_OK | os.X_OK):
        why, hint = why_not_writable(folder)
        text = f"the status site cannot be written in {folder}: {why}"
        return [
            Check(
                "site",
                "folder",
                "fail",
                text,
                hint + "; backups go on, but the site stays out of date",
                facts,
            )
        ]
    if kind == "missing":
        text = f"{site_dir} does not exist yet: it is written after the first run"
        return [Check("site", "folder", "info", text, None, facts)]
    checks = [Check("site", "folder", "ok", f"{site_dir} is writable", None, facts)]
    built = last_build(site_dir)
    if built is None:
        checks.append(
            Check("site", "build", "info", "not built yet: it is written after every run", None, {})
        )
    else:
        text = f"last built {when(built, zone, now)}"
        checks.append(Check("site", "build", "info", text, None, {"generated_at": built}))
    return checks


def last_build(site_dir: Path) -> str | None:
    """The `generated_at` of the site's status.json, or None when there is none to read."""
    try:
        document = orjson.loads((site_dir / "status.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    stamp = document.get("generated_at") if isinstance(document, dict) else None
    return stamp if isinstance(stamp, str) else None


def publish_checks(loaded: LoadedPlan, zone: tzinfo) -> list[Check]:
    """With `settings.publish`: how this host's last uploads for the fleet page went (from the
    state dir's record: doctor uploads nothing), and whether rclone is there to make them."""
    import shutil

    from backupplan.status.facts import publish_facts

    facts = publish_facts(loaded)
    if facts is None:
        return []
    to = facts["to"]
    status: Status
    hint = None
    if shutil.which("rclone") is None:
        status, text = "fail", f"rclone is not installed: nothing is published to {to}"
        hint = "install rclone (apt install rclone): publishing uploads through it"
    elif facts["error"]:
        status = "fail"
        text = f"uploads to {to} fail since {when(facts['failing_since'], zone)}: {facts['error']}"
        hint = "check the target and its credentials (settings.publish.env); backups go on meanwhile"
    elif facts["last_ok"]:
        status, text = "ok", f"published to {to}, last at {when(facts['last_ok'], zone)}"
    else:
        status, text = "info", f"nothing published to {to} yet: the next run or heartbeat does"
    return [Check("site", "publish", status, text, hint, facts)]

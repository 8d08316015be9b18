"""`backupplan site build` from a real plan and journal."""

from __future__ import annotations

import json
from pathlib import Path

from tests.runner.helpers import write_plan
from tests.trees import build


def test_site_build_after_a_run(tmp_path: Path, run_backupplan) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path / "src", {b"a.txt": b"a"})
    plan = write_plan(
        tmp_path,
        "  photos:\n    engine: rsync\n    source: src\n    destination: out\n"
        "  never:\n    engine: rclone\n    source: src\n    destination: other\n",
    )
    assert run_backupplan(["run", "--plan", str(plan), "photos"]).returncode == 0
    for page in (tmp_path / "site").rglob("*.html"):
        page.unlink()
    result = run_backupplan(["site", "build", "--plan", str(plan)])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Built {tmp_path / 'site'}: ")
    for page in (
        "index.html",
        "jobs/index.html",
        "jobs/photos/index.html",
        "jobs/never/index.html",
        "logs.html",
        "settings.html",
        "404.html",
    ):
        assert (tmp_path / "site" / page).is_file(), page
    status = json.loads((tmp_path / "site" / "status.json").read_text())
    assert {job["id"]: job["status"] for job in status["jobs"]} == {
        "never": "never_run",
        "photos": "succeeded",
    }
    settings = (tmp_path / "site" / "settings.html").read_text()
    assert "rsync" in settings and "rclone" in settings

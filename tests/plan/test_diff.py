from __future__ import annotations

from pathlib import Path

from backupplan.plan.diff import FieldChange, diff_plans, render_diff, summary
from backupplan.plan.load import load_plan

OLD = """\
version: 1
settings: {max_parallel: 2}
jobs:
  photos:
    engine: rsync
    source: /data/photos
    destination: /backup/photos
    bandwidth: 5MiB
    exclude: ["*.tmp"]
  old:
    engine: rsync
    source: /data/old
    destination: /backup/old
"""

NEW = """\
version: 1
settings: {max_parallel: 4}
jobs:
  photos:
    engine: rsync
    source: /data/photos
    destination: /backup/photos
    bandwidth: 10MiB
    exclude: ["*.tmp", "*.iso"]
    retries: {attempts: 5}
    env: {TOKEN: "${DIFF_TOKEN}"}
  offsite:
    engine: rclone
    source: /data/photos
    destination: b2:family
    schedule: "0 3 * * 0"
"""


def normalized(tmp_path: Path, name: str, text: str) -> dict:  # type: ignore[type-arg]
    path = tmp_path / name
    path.write_text(text)
    return load_plan(path, environ={"DIFF_TOKEN": "CANARY-diff-token"}).normalized()


def test_diff_fields(tmp_path: Path) -> None:
    diff = diff_plans(normalized(tmp_path, "old.yaml", OLD), normalized(tmp_path, "new.yaml", NEW))
    assert list(diff.added) == ["offsite"]
    assert list(diff.removed) == ["old"]
    assert diff.changed["photos"] == [
        FieldChange("bandwidth", "5MiB", "10MiB"),
        FieldChange("env.TOKEN", None, "${DIFF_TOKEN}"),
        FieldChange("exclude", ["*.tmp"], ["*.tmp", "*.iso"]),
        FieldChange("retries.attempts", 3, 5),
    ]
    assert diff.settings == [FieldChange("max_parallel", 2, 4)]
    assert summary(diff) == "Plan: 1 to add, 2 to change, 1 to remove."


def test_render(tmp_path: Path, snapshot) -> None:  # type: ignore[no-untyped-def]
    diff = diff_plans(normalized(tmp_path, "old.yaml", OLD), normalized(tmp_path, "new.yaml", NEW))
    text = "\n".join(render_diff(diff))
    assert "CANARY" not in text
    assert text == snapshot


def test_first_apply_adds_everything_and_no_settings_diff(tmp_path: Path) -> None:
    diff = diff_plans(None, normalized(tmp_path, "new.yaml", NEW))
    assert sorted(diff.added) == ["offsite", "photos"]
    assert not diff.settings and not diff.removed


def test_unchanged_is_empty(tmp_path: Path) -> None:
    plan = normalized(tmp_path, "old.yaml", OLD)
    reformatted = normalized(tmp_path, "again.yaml", OLD.replace("  old:\n", "  old:   # same job\n"))
    diff = diff_plans(plan, reformatted)
    assert diff.empty
    assert summary(diff) == "Plan: 0 to add, 0 to change, 0 to remove."

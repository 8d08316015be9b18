"""The example Prometheus rules (examples/monitoring/) against the real promtool (Debian's
prometheus package, installed by scripts/bootstrap.sh --test): they load, their unit tests pass,
they only name metrics metrics.prom has, and metrics.prom itself passes `promtool check metrics`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from backupplan.site.machine import metrics_prom
from backupplan.site.views import job_views
from tests.site.test_metrics import document

RULES = Path(__file__).resolve().parent.parent / "examples" / "monitoring"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: scripts/bootstrap.sh --test installs Debian's prometheus package")
    return found


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=RULES, capture_output=True, text=True, check=False, timeout=60)


def test_the_rules_load_and_their_tests_pass(promtool: str) -> None:
    checked = run(promtool, "check", "rules", "backupplan.rules.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 7 rules found" in checked.stdout
    tested = run(promtool, "test", "rules", "backupplan.rules.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_rules_name_only_metrics_that_exist(promtool: str) -> None:
    status = document()
    text = metrics_prom(status, job_views(status["jobs"], {}).values())
    exported = set(re.findall(r"^# TYPE (\w+) ", text, re.MULTILINE))
    wanted = set(re.findall(r"\bbackupplan_\w+", (RULES / "backupplan.rules.yml").read_text()))
    assert wanted and wanted <= exported, wanted - exported
    linted = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr

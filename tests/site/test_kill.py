"""RELIABILITY case 22: a site writer killed mid-build leaves only whole pages (old or new)."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import html5lib
import pytest
from site_helpers import FIXTURES

from backupplan.site import build_site, load_site_input

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent.parent

WRITER = """
import sys
import time
from dataclasses import replace
from pathlib import Path
from backupplan.site import build_site, load_site_input

fixture, state, site = sys.argv[1:4]
data = load_site_input(Path(fixture), state_dir=state, site_dir=site)
photos, photos_status = data.jobs["photos"], data.status["jobs"][5]
jobs = {}
statuses = []
for number in range(200):
    job = f"job-{number:03d}"
    jobs[job] = replace(photos, id=job, history=[dict(run, job=job) for run in photos.history])
    statuses.append(dict(photos_status, id=job))
round = 0
while True:
    round += 1
    changed = [dict(status, description=f"round {round}") for status in statuses]
    started = time.perf_counter()
    build_site(replace(data, jobs=jobs, status=dict(data.status, jobs=changed)), Path(site))
    if round == 1:  # one whole build on disk; the test kills during the ones that follow
        print(f"built {time.perf_counter() - started:.3f}", flush=True)
"""


def rounds_on_disk(site_dir: Path) -> set[str]:
    """Which writer rounds the job pages on disk come from (several: the kill hit mid-build)."""
    found = set()
    for page in site_dir.glob("jobs/job-*/index.html"):
        match = re.search(r'<p class="lead">round (\d+)</p>', page.read_text(encoding="utf-8"))
        if match:
            found.add(match[1])
    return found


def check_whole(site_dir: Path) -> int:
    """Assert every file a reader could open is complete; return how many were checked."""
    checked = 0
    strict = html5lib.HTMLParser(strict=True)
    for page in site_dir.rglob("*.html"):
        if page.name.startswith("."):
            continue  # a writer's temp file: never read by anyone, cleaned by the next build
        text = page.read_text(encoding="utf-8")
        assert text.endswith("</html>"), f"{page} is cut short"
        if page.parent.name in ("site", "jobs") or page.parent.name.endswith("7"):
            strict.parse(text)
        checked += 1
    for document in [
        site_dir / "status.json",
        *site_dir.glob("badges/*.json"),
        site_dir / ".backupplan-site.json",
    ]:
        if document.exists():
            json.loads(document.read_text(encoding="utf-8"))
            checked += 1
    for feed in site_dir.glob("feed.xml"):
        ElementTree.parse(feed)
        checked += 1
    return checked


def test_kill_9_during_builds_never_leaves_half_a_page(tmp_path: Path) -> None:
    state = tmp_path / "state"
    site = tmp_path / "site"
    (state / "logs").mkdir(parents=True)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    rng = random.Random(22)
    kills = 0
    temporaries_seen = 0
    mid_build = 0
    while kills < 25:
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(FIXTURES / "site_input.json"), str(state), str(site)],
            env=env,
            stdout=subprocess.PIPE,
        )
        try:
            assert writer.stdout is not None
            line = writer.stdout.readline().decode()
            assert line.startswith("built "), f"the writer died before its first build: {line!r}"
            # Kill somewhere in the next few builds, scaled to how fast a build runs here (a
            # loaded CI machine or a tracer slows builds several times over).
            time.sleep(rng.uniform(0.1, 3.0) * float(line.split()[1]))
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=10)
            if writer.stdout:
                writer.stdout.close()
        kills += 1
        if site.exists():
            temporaries_seen += len(list(site.rglob(".*.tmp")))
            assert check_whole(site) > 0
            mid_build += len(rounds_on_disk(site)) > 1
    assert (site / "index.html").exists()
    assert mid_build >= 5, f"only {mid_build} of {kills} kills landed mid-build: the test proves little"

    data = load_site_input(FIXTURES / "site_input.json", state_dir=str(state), site_dir=str(site))
    build_site(data, site)  # the next build cleans what killed writers left
    assert list(site.rglob(".*.tmp")) == []
    check_whole(site)
    print(f"{kills} kills, {mid_build} mid-build, {temporaries_seen} temp files left (all cleaned)")

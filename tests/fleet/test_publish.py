"""Publishing: each host uploads its status and site through real rclone (to a real S3-compatible
server, or a folder), after the run is recorded; a store that is down never fails a backup, and
says so in status, doctor and the host's own status.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backupplan.status.publish import Publisher, Target, read_publish_state
from tests.fleet.helpers import HOSTS, as_host, fleet_plan
from tests.runner.helpers import wait_for
from tests.servers import MotoS3

pytestmark = pytest.mark.slow


def test_three_hosts_publish_to_s3_and_the_fleet_is_built_from_it(tmp_path: Path, moto_s3: MotoS3) -> None:
    plan = fleet_plan(tmp_path, "moto:fleet-status", moto_s3.env())
    for host in HOSTS:
        applied = as_host(host, ["apply"], plan)
        assert applied.returncode == (1 if host == "b" else 0), applied.stdout + applied.stderr
        assert f"acting as host {host}:" in applied.stdout
        assert "publishing" not in applied.stderr, applied.stderr
        status = json.loads(as_host(host, ["status", "--json"], plan).stdout)
        assert status["host"] == host
        assert status["publish"]["to"] == f"moto:fleet-status/{host}"
        assert status["publish"]["error"] is None and status["publish"]["last_ok"] is not None

    built = as_host("a", ["fleet", "build", "--site", str(tmp_path / "fleet")], plan)  # the plan's target
    assert built.returncode == 0, built.stdout + built.stderr
    assert "3 hosts, 1 failed or held jobs" in built.stdout
    fleet = json.loads((tmp_path / "fleet" / "status.json").read_text())
    assert [host["host"] for host in fleet["hosts"]] == ["b", "a", "c"]  # the failing host first
    assert fleet["hosts"][0]["state"] == "critical" and fleet["hosts"][0]["jobs"]["failed"] == 1
    assert [(line["host"], line["job"], line["status"]) for line in fleet["attention"]] == [
        ("b", "broken", "failed")
    ]
    assert all(host["site"] is None for host in fleet["hosts"])  # a remote: linked only with --link
    metrics = (tmp_path / "fleet" / "metrics.prom").read_text()
    assert 'backupplan_fleet_host_up{host="c"} 1' in metrics
    assert 'backupplan_fleet_jobs{host="b",status="failed"} 1' in metrics

    # `fleet status` and `fleet check` read the same store; --from takes rclone's environment
    # from this process
    table = as_host("a", ["fleet", "status", "--from", "moto:fleet-status"], plan, env=moto_s3.env())
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[1].split()[:2] == ["b", "CRITICAL"]
    check = as_host("a", ["fleet", "check"], plan)
    assert check.returncode == 2
    assert check.stdout.startswith("BACKUPPLAN CRITICAL - 1 of 3 hosts need a look: b: broken failed")


def test_a_store_that_is_down_fails_no_backup_and_is_shown(tmp_path: Path, moto_s3: MotoS3) -> None:
    plan = fleet_plan(tmp_path, "moto:fleet-status", moto_s3.env())
    moto_s3.kill()
    applied = as_host("a", ["apply"], plan)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "docs  succeeded" in applied.stdout
    assert "backupplan: warning: publishing: the upload to moto:fleet-status/a failed" in applied.stderr
    assert (tmp_path / "dst" / "docs-a" / "a.txt").read_text() == "alpha\n"

    status = as_host("a", ["status"], plan)
    assert "Publishing to moto:fleet-status/a FAILS since" in status.stdout
    document = json.loads(as_host("a", ["status", "--json"], plan).stdout)
    assert document["publish"]["last_ok"] is None and "failed" in document["publish"]["error"]
    site = json.loads((tmp_path / "site-a" / "status.json").read_text())
    assert site["publish"]["error"]  # the host's own site says so too
    doctor = as_host("a", ["doctor"], plan)
    assert "FAIL  uploads to moto:fleet-status/a fail since" in doctor.stdout

    moto_s3.start()  # back: the next run publishes, and the failure is over
    again = as_host("a", ["run", "docs"], plan)
    assert again.returncode == 0 and "publishing" not in again.stderr, again.stderr
    document = json.loads(as_host("a", ["status", "--json"], plan).stdout)
    assert document["publish"]["error"] is None and document["publish"]["failing_since"] is None


def test_publishing_to_a_folder_keeps_each_host_apart(tmp_path: Path) -> None:
    plan = fleet_plan(tmp_path, "shared")
    (tmp_path / "shared").mkdir()
    for host in HOSTS:
        as_host(host, ["apply"], plan)
    for host in HOSTS:
        published = json.loads((tmp_path / "shared" / host / "status.json").read_text())
        assert published["host"] == host
        assert (tmp_path / "shared" / host / "index.html").is_file()
        assert not list((tmp_path / "shared" / host).glob(".backupplan-*"))  # no lock or temp files
    assert sorted(path.name for path in (tmp_path / "shared").iterdir()) == list(HOSTS)


def test_uploads_are_throttled_and_the_last_one_is_made_at_exit(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "status.json").write_text("{}")
    state = tmp_path / "state"
    state.mkdir()
    target = Target(str(tmp_path / "store" / "a"), "store/a", site=False, every=3600.0, env={})
    publisher = Publisher(target, site, state)
    publisher.nudge()
    wait_for(lambda: read_publish_state(state) is not None, timeout=30)
    for _ in range(20):
        publisher.nudge()
    (site / "status.json").write_text('{"last": true}')
    assert publisher.close(30)
    assert publisher.attempts == 2  # the first at once; the rest waited for the hour, then exit
    assert json.loads((tmp_path / "store" / "a" / "status.json").read_text()) == {"last": True}
    recorded = read_publish_state(state)
    assert recorded is not None and recorded.error is None and recorded.to == "store/a"
    assert (state / "publish.json").stat().st_mode & 0o777 == 0o600


def test_every_heartbeat_publishes_even_when_nothing_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's heartbeat mostly restamps the last document: it must still be uploaded, or a
    quiet but healthy host would look silent on the fleet page."""
    from backupplan.journal import Journal
    from backupplan.plan.load import load_plan
    from backupplan.status.sitefeed import SiteFeed

    monkeypatch.setenv("BACKUPPLAN_HOST", "a")
    plan = fleet_plan(tmp_path, "shared")
    plan.write_text(plan.read_text().replace("    site: true", "    site: false\n    every: 0s"))
    loaded = load_plan(plan)
    loaded.state_dir.mkdir()
    with Journal.open(loaded.state_dir) as journal:
        feed = SiteFeed(loaded, journal)
        assert feed.publisher is not None
        stamps = []
        for _ in range(3):  # a full document, then two restamped ones
            feed.heartbeat()
            assert feed.publisher.close(30)
            stamps.append(json.loads((tmp_path / "shared" / "a" / "status.json").read_text())["generated_at"])
        assert feed.publisher.attempts == 3
        feed.close()
    assert stamps == sorted(stamps)

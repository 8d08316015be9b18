"""Each run's changes on the site: counts in run rows, the held banner, the job page's list, and
every list published next to its log, incrementally, masked, hostile names kept as text."""

from __future__ import annotations

import gzip
import os
import re
from dataclasses import replace
from pathlib import Path

from site_helpers import write_changes

from backupplan.secrets import registry
from backupplan.site import SiteInput, build_site
from backupplan.site.tables import changes_cell

HELD = "logs/home-mirror/20261128T010000Z-h01e.changes.txt"


def test_run_rows_show_changes_compactly_with_words_for_screen_readers(built_site: Path) -> None:
    assert changes_cell({"changes": {"added": 3, "changed": 1, "deleted": 2}}) == (
        '<span class="changes" title="3 added, 1 changed, 2 deleted"><span aria-hidden="true">+3 ~1 −2</span>'
        '<span class="vh">3 added, 1 changed, 2 deleted</span></span>'
    )
    assert changes_cell({"changes": {"added": 1234, "changed": 0, "deleted": 0}}, "x.txt") == (
        '<a class="changes" href="x.txt" title="1,234 added"><span aria-hidden="true">+1,234</span>'
        '<span class="vh">1,234 added</span></a>'
    )
    assert "nothing changed" in changes_cell({"changes": {"added": 0, "changed": 0, "deleted": 0}})
    assert changes_cell({"changes": None}) == changes_cell({}) == "—"
    for page in ("index.html", "jobs/index.html", "jobs/photos/index.html"):
        assert "+3 ~1 −2</span>" in (built_site / page).read_text(), page


def test_every_list_is_published_next_to_its_log_and_linked(built_site: Path, site_input: SiteInput) -> None:
    source = Path(site_input.paths.state_dir) / "logs/photos/20261128T020000Z-a28f.changes.gz"
    published = built_site / "logs/photos/20261128T020000Z-a28f.changes.txt"
    assert published.read_text() == gzip.decompress(source.read_bytes()).decode()
    assert os.stat(published).st_mtime_ns == os.stat(source).st_mtime_ns
    assert (os.stat(published).st_mode & 0o777) == 0o644
    page = (built_site / "jobs/photos/index.html").read_text()
    assert '<a href="../../logs/photos/20261128T020000Z-a28f.changes.txt" download>' in page
    assert '<a class="changes" href="../../logs/photos/20261127T020000Z-a27f.changes.txt"' in page


def test_publishing_is_incremental(site_input: SiteInput, built_site: Path) -> None:
    before = {path: os.stat(path).st_ino for path in built_site.glob("logs/*/*.changes.txt")}
    report = build_site(site_input, built_site)
    assert (report.logs.lists_copied, report.logs.lists_current) == (0, 4)
    assert {path: os.stat(path).st_ino for path in built_site.glob("logs/*/*.changes.txt")} == before
    source = Path(site_input.paths.state_dir) / "logs/photos/20261127T020000Z-a27f.changes.gz"
    write_changes(source, b"+ 2026/11/IMG_0400.jpg\n")
    report = build_site(site_input, built_site)
    assert (report.logs.lists_copied, report.logs.lists_current) == (1, 3)
    assert (
        built_site / "logs/photos/20261127T020000Z-a27f.changes.txt"
    ).read_text() == "+ 2026/11/IMG_0400.jpg\n"


def test_a_run_that_changed_nothing_is_not_looked_for(site_input: SiteInput, tmp_path: Path) -> None:
    # a26f counted no change: a list planted for it is never read (nor is one of a run that did not count)
    state = Path(site_input.paths.state_dir)
    for run in ("20261126T020000Z-a26f", "20261125T020000Z-a25f"):
        write_changes(state / f"logs/photos/{run}.changes.gz", b"- planted\n")
    report = build_site(site_input, tmp_path / "site")
    assert report.logs.lists_copied == 4
    assert not list((tmp_path / "site/logs/photos").glob("*a26f.changes.txt"))
    assert not list((tmp_path / "site/logs/photos").glob("*a25f.changes.txt"))


def test_a_list_cut_short_is_published_as_far_as_it_goes(site_input: SiteInput, tmp_path: Path) -> None:
    source = Path(site_input.paths.state_dir) / "logs/photos/20261128T020000Z-a28f.changes.gz"
    whole = gzip.compress(b"".join(b"+ photo-%04d.jpg\n" % number for number in range(2000)))
    source.write_bytes(whole[: len(whole) // 2])  # the runner was killed mid-write
    build_site(site_input, tmp_path / "site")
    text = (tmp_path / "site/logs/photos/20261128T020000Z-a28f.changes.txt").read_text()
    assert text.startswith("+ photo-0000.jpg\n") and "[the rest of this list could not be read:" in text
    page = (tmp_path / "site/jobs/photos/index.html").read_text()
    assert page.count('<li data-kind="added">') == 300


def test_the_held_banner_says_why_shows_samples_and_the_commands(built_site: Path) -> None:
    for page in ("index.html", "jobs/home-mirror/index.html"):
        text = (built_site / page).read_text()
        banner = text[
            text.index('<section class="banner error" role="alert" aria-labelledby="held-heading">') :
        ]
        banner = banner[: banner.index("</section>")]
        assert "held: 812 of 1,000 files would be deleted (limit 10%)" in banner
        assert (
            "Would delete 812: <code>home/<wbr>anna/<wbr>Documents/<wbr>taxes-<wbr>2025.pdf</code>" in banner
        )
        assert "and 809 more" in banner and "Would rewrite 1:" in banner and "Would add 2:" in banner
        assert "<code>backupplan run home-mirror --accept-changes</code>" in banner
        assert "<code>backupplan changes home-mirror</code>" in banner
        assert "&lt;img src=x onerror=alert(1)&gt;" in banner and "<img" not in banner
    assert '<a href="jobs/home-mirror/index.html#changes">' in (built_site / "index.html").read_text()
    assert '<dd data-stat="held" data-alarm>1</dd>' in (built_site / "index.html").read_text()


def test_the_job_page_lists_the_first_300_paths_as_text(built_site: Path) -> None:
    page = (built_site / "jobs/home-mirror/index.html").read_text()
    listed = page[
        page.index('<ul class="paths" id="changes-list">') : page.index("</ul>", page.index("changes-list"))
    ]
    assert listed.count("<li ") == 300
    assert "The first 300 paths of the list" in page and "What the held run would change" in page
    assert "&lt;/<wbr>li&gt;&lt;script&gt;alert(1)&lt;/<wbr>script&gt;.txt" in listed
    assert "line\\#012break.txt" in listed and "caf\\#351 cr\\#350me.txt" in listed
    assert "<script>alert" not in page and '<form class="list-controls" id="changes-controls" hidden>' in page
    documents = (built_site / "jobs/documents/index.html").read_text()
    assert "The list of its paths is no longer kept" in documents  # counted, but its list is gone


def test_an_odd_job_id_is_quoted_in_the_commands(site_input: SiteInput, tmp_path: Path) -> None:
    status = dict(site_input.status)
    status["jobs"] = [
        dict(job, id="my home") if job["id"] == "home-mirror" else job for job in status["jobs"]
    ]
    jobs = dict(site_input.jobs)
    jobs["my home"] = replace(jobs.pop("home-mirror"), id="my home")
    build_site(replace(site_input, status=status, jobs=jobs), tmp_path / "site")
    page = (tmp_path / "site/index.html").read_text()
    assert "<code>backupplan run &#39;my home&#39; --accept-changes</code>" in page


def test_a_narrow_build_keeps_the_samples_of_held_jobs(site_input: SiteInput, built_site: Path) -> None:
    report = build_site(replace(site_input, now=site_input.now), built_site, changed_jobs=["documents"])
    assert "index.html" not in report.written  # the same page again, samples included
    assert "Would delete 812" in (built_site / "index.html").read_text()


def test_paths_are_masked_in_the_page_and_the_published_list(site_input: SiteInput, tmp_path: Path) -> None:
    secret = "hunter2-CHANGES-7d1e"
    registry.add(secret, "LIST_TOKEN")
    source = Path(site_input.paths.state_dir) / "logs/photos/20261128T020000Z-a28f.changes.gz"
    write_changes(source, f"+ backups/{secret}.txt\n- a\x1b[31mred\x07\n".encode() + b"+ bad \xff bytes\n")
    build_site(site_input, tmp_path / "site")
    published = (tmp_path / "site/logs/photos/20261128T020000Z-a28f.changes.txt").read_bytes()
    assert published == b"+ backups/${LIST_TOKEN}.txt\n- a\\x1b[31mred\\x07\n+ bad \\xff bytes\n"
    page = (tmp_path / "site/jobs/photos/index.html").read_text()
    assert secret not in page and "backups/<wbr>${LIST_<wbr>TOKEN}.txt" in page
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f]", page)

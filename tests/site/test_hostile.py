"""Hostile data (RELIABILITY cases 19 and 20): shown escaped, never markup, never a secret."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import html5lib
import pytest
from site_helpers import all_files, html_pages, load_fixture, parse_references, write_changes

from backupplan.secrets import registry
from backupplan.site import JobInput, SiteInput, ToolCheck, build_site

CANARY = "CANARY-7f3a9c1e-secret"
ESCAPED_CANARY = 'Tok&en"<9d2b>'  # a secret whose HTML and JSON forms differ from its raw form
SCRIPT = "<script>alert(1)</script>"
IMAGE = '"><img src=x onerror=alert(1)>'
HOSTILE_ID = f"{SCRIPT}{IMAGE}"
NASTY = (
    f"{SCRIPT} {IMAGE} 'single' \"double\" </textarea></title></pre> javascript:alert(1) "
    "\x1b[31mred\x1b[0m \x1b]8;;http://evil/\x07link\x1b]8;;\x07 bell\x07 nul\x00 cr\r lf\n "
    "\u202eevil-bidi \udcff lone-surrogate"
)
LONG = "A" * 200_000


def hostile_input(tmp_path: Path) -> SiteInput:
    base = load_fixture(tmp_path)
    registry.add(CANARY, "BACKUP_TOKEN")
    registry.add(ESCAPED_CANARY, "OTHER_TOKEN")
    secret_text = f"{NASTY} {CANARY} https://user:{CANARY}@host/x?token={CANARY} {ESCAPED_CANARY}"
    run_id = f"20261128T010000Z-{SCRIPT}"
    run = {
        "run": run_id,
        "job": HOSTILE_ID,
        "status": "failed",
        "reason": secret_text,
        "trigger": SCRIPT,
        "started_at": "2026-11-28T01:00:00Z",
        "finished_at": "2026-11-28T01:00:05Z",
        "duration": 5.0,
        "exit_code": 23,
        "bytes": 10,
        "files": 1,
        "attempts": 1,
        "log": "logs/hostile/run.log",
        "changes": {"added": 2, "changed": 1, "deleted": 1},
    }
    job_status = {
        "id": HOSTILE_ID,
        "description": secret_text,
        "engine": SCRIPT,
        "enabled": True,
        "status": SCRIPT,
        "overdue": True,
        "paused": False,
        "schedule": NASTY,
        "next_run": NASTY,
        "last_run": run,
        "last_success": None,
        "runs": 1,
        "failures": 1,
        "bytes": 10,
        "files": 1,
        "progress": {"run": run_id, "percent": 50.0, "bytes": 5, "total_bytes": 10, "rate": 1.0, "eta": 5.0},
        "verify": None,
        "missed": [{"slot": NASTY, "detected_at": NASTY, "action": NASTY}],
    }
    status = json.loads(json.dumps(base.status))
    status["jobs"].append(job_status)
    status["recent_runs"].insert(0, run)
    status["interruptions"].insert(
        0, {"job": HOSTILE_ID, "run": run_id, "detected_at": NASTY, "handled": NASTY}
    )
    status["journal"] = {
        "healthy": False,
        "problems": [{"kind": SCRIPT, "message": secret_text, "at": NASTY, "quarantine": NASTY}],
    }
    config = {
        "description": secret_text,
        "engine": "rsync",
        "source": f"/home/{SCRIPT}/{LONG}",
        "destination": f"javascript:alert(1)//{CANARY}",
        "hooks": {"before": [{"argv": [NASTY, CANARY]}]},
        "env": {"RSYNC_PASSWORD": CANARY},
    }
    jobs = dict(base.jobs)
    jobs[HOSTILE_ID] = JobInput(HOSTILE_ID, config, [NASTY], [run])
    logs = Path(base.paths.state_dir) / "logs" / "hostile"
    logs.mkdir(parents=True)
    lines = [
        f"2026-11-28T01:00:01Z [hook] {SCRIPT} output with {CANARY}".encode(),
        b"2026-11-28T01:00:02Z [rsync] invalid utf-8: \xff\xfe\xc3\x28 and </textarea> \x1b[1mbold\x1b[0m",
        f"2026-11-28T01:00:03Z [rsync] {LONG}".encode(),
        "2026-11-28T01:00:04Z [rsync] quotes ' \" and \u202e bidi and \x00 nul".encode(),
        f"no timestamp at all {IMAGE}".encode(),
    ]
    (logs / "run.log").write_bytes(b"\n".join(lines) + b"\n")
    changed = [
        f"+ {SCRIPT}/{IMAGE}.jpg".encode(),
        f"~ secrets/{CANARY}/{ESCAPED_CANARY}".encode(),
        b"- raw \xff\xfe bytes, an escape \x1b]8;;http://evil/\x07link and a nul \x00 and a \r",
        f"+ {LONG}".encode(),
        f"\u202eevil-bidi {IMAGE}".encode(),  # a line without a kind (a name with a raw newline)
    ]
    write_changes(logs / "run.changes.gz", b"\n".join(changed) + b"\n")
    (Path(base.paths.state_dir) / "logs" / HOSTILE_ID.replace("/", "_")).mkdir(exist_ok=True)
    settings = dict(base.settings, site_url="javascript:alert(1)", state_dir=f"{SCRIPT}{CANARY}")
    tools = [ToolCheck(SCRIPT, f"/usr/bin/{SCRIPT}", NASTY, False, secret_text)]
    return replace(base, status=status, jobs=jobs, settings=settings, tools=tools)


@pytest.fixture
def hostile_site(tmp_path: Path) -> Path:
    data = hostile_input(tmp_path)
    site_dir = tmp_path / "site"
    build_site(data, site_dir)
    return site_dir


def test_hostile_pages_are_valid_html(hostile_site: Path) -> None:
    parser = html5lib.HTMLParser(strict=True)
    pages = html_pages(hostile_site)
    assert len(pages) == 13
    for page in pages:
        parser.parse(page.read_bytes())


def test_no_element_or_attribute_comes_from_the_data(hostile_site: Path) -> None:
    for page in html_pages(hostile_site):
        references = parse_references(page.read_text(encoding="utf-8"))
        tags = {tag for tag, _ in references.tags}
        assert "img" not in tags and "textarea" not in tags, page
        scripts = [dict(attributes) for tag, attributes in references.tags if tag == "script"]
        assert len(scripts) == 2 and (scripts[0].get("src") or "").endswith("assets/site.js")
        assert scripts[1] == {"type": "application/json", "id": "status-data"}
        for _, attributes in references.tags:
            for name, value in attributes:
                assert not name.startswith("on"), (page, name)
                if name in ("href", "src"):
                    assert not re.match(r"\s*(javascript|data|vbscript):", value or "", re.I), (page, value)


def test_control_characters_are_neutralised_and_long_text_clipped(hostile_site: Path) -> None:
    for path in all_files(hostile_site):
        if path.suffix in (".html", ".xml", ".prom") or path.parent.name == "badges":
            text = path.read_text(encoding="utf-8")
            assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202e]", text), path
    logs = (hostile_site / "logs.html").read_text(encoding="utf-8")
    assert "invalid utf-8: \\xff\\xfe\\xc3( and &lt;/textarea&gt; bold" in logs
    assert "[199,000 more characters]" in logs
    assert "\\u202e bidi and \\x00 nul" in logs
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in logs
    job_pages = [page for page in html_pages(hostile_site / "jobs") if "script" in page.parent.name]
    assert len(job_pages) == 1
    assert "more characters]" in job_pages[0].read_text(encoding="utf-8")


def test_feed_and_status_json_stay_parseable(hostile_site: Path) -> None:
    ElementTree.parse(hostile_site / "feed.xml")
    status = json.loads((hostile_site / "status.json").read_text(encoding="utf-8"))
    assert status["jobs"][-1]["id"] == HOSTILE_ID
    assert "lone-surrogate" in status["jobs"][-1]["schedule"]
    for badge in (hostile_site / "badges").iterdir():
        assert json.loads(badge.read_text(encoding="utf-8"))["schemaVersion"] == 1


def test_user_urls_never_become_links(hostile_site: Path) -> None:
    feed = (hostile_site / "feed.xml").read_text(encoding="utf-8")
    assert 'href="feed.xml"' in feed  # site_url "javascript:…" was refused as a base
    assert "javascript:alert(1)" not in feed.replace("javascript:alert(1) ", "")


def test_no_secret_is_written_anywhere_under_the_site(hostile_site: Path) -> None:
    forms = [CANARY, ESCAPED_CANARY, "Tok&amp;en&#34;&lt;9d2b&gt;", 'Tok&en\\"<9d2b>', "Tok&amp;en"]
    hits = []
    for path in all_files(hostile_site):
        data = path.read_bytes()
        hits += [(str(path), form) for form in forms if form.encode() in data]
    assert hits == []
    assert "${BACKUP_TOKEN}" in (hostile_site / "logs.html").read_text(encoding="utf-8")
    published = next((hostile_site / "logs").glob("script*/*.txt")).read_bytes()
    assert b"${BACKUP_TOKEN}" in published and b"\xff\xfe" in published  # masked, bytes kept


def test_hostile_job_gets_a_file_safe_folder(hostile_site: Path) -> None:
    folders = sorted(path.name for path in (hostile_site / "jobs").iterdir() if path.is_dir())
    hostile = [name for name in folders if name.startswith("script")]
    assert len(hostile) == 1 and re.fullmatch(r"[a-z0-9_-]+", hostile[0])


def test_hostile_changed_paths_stay_text_in_the_page_and_the_published_list(hostile_site: Path) -> None:
    listed = next((hostile_site / "logs").glob("script*/*.changes.txt")).read_text(encoding="utf-8")
    assert "\\xff\\xfe bytes, an escape \\x1b]8;;http://evil/\\x07link and a nul \\x00 and a \\x0d" in listed
    assert "${BACKUP_TOKEN}" in listed and "\\u202eevil-bidi" in listed
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202e]", listed)
    page = next(page for page in html_pages(hostile_site / "jobs") if "script" in page.parent.name)
    text = page.read_text(encoding="utf-8")
    paths = text[text.index('id="changes-list"') : text.index("</ul>", text.index('id="changes-list"'))]
    assert (
        "&lt;script&gt;alert(1)&lt;/<wbr>script&gt;/<wbr>&#34;&gt;&lt;img src=x onerror=alert(1)&gt;.jpg"
        in paths
    )
    assert '<li data-kind="unknown"><span class="sign">?</span>' in paths
    assert "more characters]" in paths  # a runaway path is clipped on the page
    assert (
        "+ " + "A" * 8190 + "... [191,810 more bytes]\n" in listed
    )  # and cut in the file: no path is that long

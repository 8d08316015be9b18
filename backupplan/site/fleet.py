"""The fleet page and its feed, rendered from the fleet's status document
(backupplan.fleet.build): hosts worst first, the jobs that need a look across every host, and
silent hosts impossible to miss — on the server when built, and again in the browser, which
recomputes who is silent from each host's `silent_after` and the reader's clock
(assets/fleet.js), so a page nobody rebuilt still tells the truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backupplan.fsutil import atomic_write
from backupplan.site.templating import environment, template_dir

FLEET_ASSETS = ("site.css", "icon.svg", "fleet.js")


def render_page(document: dict[str, Any], shown: int) -> str:
    """The fleet's index.html; at most `shown` job lines (status.json holds every one)."""
    template = environment(template_dir()).get_template("fleet.html")
    attention = document["attention"]
    return template.render(fleet=document, attention=attention[:shown], hidden=max(0, len(attention) - shown))


def render_feed(document: dict[str, Any], shown: int) -> str:
    """An Atom feed with one entry per silent or damaged host and per job that needs a look."""
    template = environment(template_dir()).get_template("fleet-feed.xml")
    return template.render(fleet=document, attention=document["attention"][:shown])


def write_assets(site_dir: Path) -> None:
    """Copy the stylesheet, icon and script the fleet page uses into `site_dir/assets/`."""
    source = template_dir() / "assets"
    target = site_dir / "assets"
    target.mkdir(exist_ok=True)
    for name in FLEET_ASSETS:
        data = (source / name).read_bytes()
        path = target / name
        if not path.is_file() or path.read_bytes() != data:
            atomic_write(path, data, mode=0o644, durable=False)

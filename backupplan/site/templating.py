"""The jinja2 environment the pages are rendered with, and the helpers every template may call.

Autoescape is on for every template, and every value printed goes through `finalize`, which masks
secrets, neutralises control characters and clips runaway text, so no template can forget to.
Templates live in the top-level `site_templates/` of a source checkout; an installed wheel carries
them as `backupplan/site_templates/`.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from backupplan import __version__
from backupplan.site import tables, views
from backupplan.site.data import JsonDict
from backupplan.site.masking import mask_value as mask
from backupplan.site.text import (
    display,
    format_bytes,
    format_number,
    format_seconds,
    format_time,
    rfc3339,
    shell_word,
)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'"
)
NAV = (
    ("dashboard", "Dashboard", "index.html"),
    ("jobs", "Jobs", "jobs/index.html"),
    ("logs", "Logs", "logs.html"),
    ("settings", "Settings", "settings.html"),
)
HANDLED = {
    "pending": "waiting for backupplan recover",
    "resumed": "run again",
    "paused": "job paused until backupplan resume",
    "dismissed": "dismissed",
}
MISSED = {"run_once": "caught up with one run", "skip": "skipped", "skipped": "skipped", "ran": "caught up"}


def template_dir() -> Path:
    """Given where this module is, return the templates folder: the checkout's top-level
    `site_templates/`, else the copy an installed wheel carries; raise FileNotFoundError naming
    both places when neither exists."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package.parent / "site_templates", package / "site_templates"):
        if (candidate / "base.html").is_file():
            return candidate
    raise FileNotFoundError(
        f"site templates not found in {package.parent / 'site_templates'} or {package / 'site_templates'}"
    )


def _finalize(value: Any) -> Any:
    # Every printed value is masked before it is escaped: a secret is found in its raw form.
    if isinstance(value, Markup):
        return value
    if value is None:
        return ""
    if isinstance(value, str):
        return display(mask(value))
    return value


def time_element(value: object) -> Markup:
    """Given a timestamp, return `<time datetime="2026-11-28T02:00:03Z">2026-11-28 02:00 UTC</time>`:
    the absolute time, which is all a page shows without JavaScript; site.js adds "(3 min ago)" from
    the reader's clock. A value that is not a time is shown as text (masked, neutralised, escaped)."""
    stamp = rfc3339(value)
    if stamp is None:
        return escape(display(mask(format_time(value))))
    return Markup(f'<time datetime="{stamp}">{format_time(stamp)}</time>')  # noqa: S704 - made from a parsed time


def shown_value(value: object, limit: int = 200) -> str | None:
    """A string from the data as the pages show it (masked, neutralised, clipped); None otherwise."""
    return display(mask(value), limit) if isinstance(value, str) else None


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between processes (compiling them costs ~20 ms a page on every
    `backupplan run`); jinja2 checks each entry against its template's source, so a changed
    template is compiled again. None when no private cache folder can be made."""
    import os

    base = (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "backupplan"
        / f"templates-{__version__}"
    )
    try:
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        base.chmod(0o700)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(base))


@functools.lru_cache(maxsize=4)
def environment(folder: Path) -> jinja2.Environment:
    """The jinja2 environment for templates in `folder`: autoescape on; a field missing from the
    data renders as nothing."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        bytecode_cache=_bytecode_cache(),
        autoescape=True,
        finalize=_finalize,
        undefined=jinja2.ChainableUndefined,  # data from older or newer versions may lack fields
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    # The data island (`status_data | tojson`): compact, in the order it was built.
    env.policies["json.dumps_kwargs"] = {"sort_keys": False, "separators": (",", ":")}
    # `{{ path | wbr }}`: a name or path that wraps only after `/`, `-` or `_` (text.with_breaks).
    env.filters["wbr"] = lambda value: Markup(tables.breakable(value))  # noqa: S704 - escaped
    env.globals.update(
        version=__version__,
        csp=CSP,
        nav=NAV,
        badge=views.badge,
        badge_html=tables.badge_html,
        badges_html=tables.badges_html,
        log_cell=lambda href, root: Markup(tables.log_cell(href, root)),  # noqa: S704 - hrefs we built
        changes_cell=lambda run, href=None: Markup(tables.changes_cell(run, href)),  # noqa: S704 - escaped
        job_link=lambda job_id, root: Markup(tables.job_link(str(job_id), root)),  # noqa: S704 - escaped
        job_href=views.job_href,
        shell_word=lambda job_id: shell_word(str(job_id)),
        bytes=format_bytes,
        seconds=format_seconds,
        number=format_number,
        time=format_time,
        when=time_element,
        progress_text=progress_text,
        handled=lambda key: HANDLED.get(str(key), display(key, 40)),
        missed_action=lambda key: MISSED.get(str(key), display(key, 40)),
    )
    return env


def finite_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


def progress_text(progress: JsonDict | None) -> str:
    """Given a JobStatus `progress`, return `42% · 1.0 MiB of 2.0 MiB · 5.0 MiB/s · 12s left`."""
    if not progress:
        return "starting"
    parts = []
    percent = progress.get("percent")
    if isinstance(percent, int | float) and not isinstance(percent, bool):
        parts.append(f"{percent:.0f}%")
    done = format_bytes(progress.get("bytes"))
    total = progress.get("total_bytes")
    parts.append(f"{done} of {format_bytes(total)}" if isinstance(total, int | float) else done)
    rate = progress.get("rate")
    if isinstance(rate, int | float) and not isinstance(rate, bool):
        parts.append(f"{format_bytes(rate)}/s")
    eta = progress.get("eta")
    if isinstance(eta, int | float) and not isinstance(eta, bool):
        parts.append(f"{format_seconds(eta)} left")
    return " · ".join(parts)

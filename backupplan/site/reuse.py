"""Fragments of pages kept between the builds of one process, each under the key of what it shows.

A build after one run (`changed_jobs`) still draws the pages every job appears on: the jobs list
(one run moves its job to the front, so every page's content shifts), the metrics and the feed.
What each job contributes to them is the same as in the build before, except for the job that ran;
drawing its strip of last runs alone again for 1,000 jobs costs ~0.3 s. So each job's part is
kept here, under a key made of the data it was drawn from, and drawn again only when that key
changed. A daemon or runner making many builds profits; a one-shot command draws everything once,
as before.

Keys come in two kinds. `view_key` is the job's whole JobStatus, marshalled: the data island entry
and the metrics depend on nothing else, so a kept fragment is exactly what drawing it again would
give. `history.history_key` is a few fields of the newest and the oldest shown run, for the strips
and the feed: a run's summary does not change once it ended, and a job whose runs changed is named
in `changed_jobs`, whose fragments a build forgets first. A jobs list row, which shows both its
status and its strip, is kept under both.

A full build forgets a site's fragments (it may publish logs a fragment links to). A build whose
secrets differ from the last one's in this process is a full build: every value in a fragment, and
in every page, was masked with them.
"""

from __future__ import annotations

import hashlib
import marshal
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from markupsafe import Markup

from backupplan.site.views import JobView

Fragment = TypeVar("Fragment")
Item = TypeVar("Item", bound=Hashable)
# Where a page's rows go: no text from the data holds a NUL (text.neutralise shows it as `\x00`).
ROWS = Markup("\x00rows\x00")
ROWS_ENCODED = ROWS.encode()


@dataclass(frozen=True)
class Row:
    """A row of a page, encoded (UTF-8), and its sha256: a page of rows is named by their digests."""

    data: bytes
    digest: bytes

    @classmethod
    def of(cls, text: str) -> Row:
        data = text.encode("utf-8", "backslashreplace")
        return cls(data, hashlib.sha256(data).digest())


@dataclass(frozen=True)
class Assembled:
    """A page rendered around ROWS, and the rows that go there, one a line, each encoded as it was
    drawn or kept: a page of a thousand rows is put together from bytes, not text, and named for
    the manifest by its rows' digests instead of hashing half a megabyte again."""

    text: str
    rows: list[Row]

    def whole(self) -> str:
        """The page as text (rows hold no lone surrogate: their text is neutralised, so encoding
        them lost nothing)."""
        return self.text.replace(ROWS, "\n".join(row.data.decode("utf-8") for row in self.rows), 1)

    def _ends(self) -> tuple[bytes, bytes]:
        head, tail = self.text.encode("utf-8", "backslashreplace").split(ROWS_ENCODED)
        return head, tail

    def encoded(self) -> bytes:
        """The page as UTF-8, as `whole().encode("utf-8", "backslashreplace")` gives it."""
        head, tail = self._ends()
        if not self.rows:
            return head + tail
        pieces = [row.data for row in self.rows]  # the page's bytes are copied once
        pieces[0] = head + pieces[0]
        pieces[-1] = pieces[-1] + tail
        return b"\n".join(pieces)

    def digest(self) -> str:
        """A digest of the page: sha256 of its head, its rows' digests and its tail, each part
        preceded by its length or count, so that no two pages share one."""
        head, tail = self._ends()
        hashed = hashlib.sha256(len(head).to_bytes(8, "big") + head + len(self.rows).to_bytes(8, "big"))
        for row in self.rows:
            hashed.update(row.digest)
        hashed.update(len(tail).to_bytes(8, "big") + tail)
        return "rows-" + hashed.hexdigest()[:32]


def view_key(view: JobView) -> bytes | None:
    """What a job's row, data island entry and metrics are drawn from, as bytes that differ when any
    of it does, types too (`true` is not `1`, nor `1.0`); None when it holds something else than
    JSON's types (never kept then). marshal's format 2 writes each value whole, without references
    to values written before, so equal data always gives equal bytes; it is twice as fast as pickle."""
    try:
        return marshal.dumps((view.id, view.status), 2)
    except (ValueError, RecursionError):
        return None


class FragmentCache:
    """Fragments drawn in this process, by site, job and kind, each with the key it was drawn for."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, str, str], tuple[Hashable, object]] = {}
        self._each: dict[tuple[str, str], dict[Hashable, str]] = {}
        self._secrets: dict[str, Hashable] = {}

    def get(
        self, site: str, job_id: str, kind: str, key: Hashable | None, draw: Callable[[], Fragment]
    ) -> Fragment:
        """The fragment kept for this job and kind when it was drawn for `key`, else `draw()`
        (kept for the next build unless `key` is None)."""
        if key is None:
            return draw()
        slot = (site, job_id, kind)
        kept = self._kept.get(slot)
        if kept is not None and kept[0] == key:
            return kept[1]  # type: ignore[return-value]  # each kind is drawn by one caller
        drawn = draw()
        self._kept[slot] = (key, drawn)
        return drawn

    def each(self, site: str, kind: str, items: Sequence[Item], draw: Callable[[Item], str]) -> list[str]:
        """The fragments of `items` that are their own key (log lines), those an earlier build drew
        kept, the others drawn now; only this build's are kept for the next."""
        before = self._each.get((site, kind), {})
        now: dict[Hashable, str] = {}
        for item in items:
            if item not in now:
                kept = before.get(item)
                now[item] = draw(item) if kept is None else kept
        self._each[(site, kind)] = now
        return [now[item] for item in items]

    def secrets_before(self, site: str, secrets: Hashable) -> Hashable | None:
        """The secrets `site` was last built with in this process (None: not built here yet), and
        remember `secrets` for the next build."""
        before = self._secrets.get(site)
        self._secrets[site] = secrets
        return before

    def forget(self, site: str, jobs: Iterable[str] | None = None) -> None:
        """Drop the fragments of `site` (only those of `jobs`, when given)."""
        wanted = None if jobs is None else set(jobs)
        if wanted is None:
            for kind in [kind for kind in self._each if kind[0] == site]:
                del self._each[kind]
        for slot in [
            slot for slot in self._kept if slot[0] == site and (wanted is None or slot[1] in wanted)
        ]:
            del self._kept[slot]


FRAGMENTS = FragmentCache()

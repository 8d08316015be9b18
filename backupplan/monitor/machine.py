"""The rules about the machine behind a status document: is the document still fresh, can its
state dir record runs, is its journal whole.

- `freshness.expected_by` passed by the reader's clock: CRITICAL (the daemon, the timer or the
  whole machine stopped); older than `max_age` when one is given: CRITICAL;
- `state_dir.problem` set, or an `unwritable` journal problem: CRITICAL (no run can be recorded);
- free space in the state dir below the critical / warning threshold: CRITICAL / WARNING;
- a journal that is not healthy (damaged, records of a newer format): WARNING.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from backupplan.monitor.findings import Finding, Rules, moment, when
from backupplan.monitor.verdict import Perfdatum, State, one_line
from backupplan.units import format_duration, format_size

KEEPERS = {"daemon": "the daemon", "timer": "the timer"}


def machine_findings(document: dict[str, Any], generated: datetime | None, rules: Rules) -> list[Finding]:
    """Given a well-formed document and when it was generated, return the machine's problems."""
    findings = _freshness(document, generated, rules)
    findings += _state_dir(document, rules)
    findings += _journal(document)
    return findings


def dict_of(document: dict[str, Any], key: str) -> dict[str, Any]:
    """The object at `key`, or an empty one when it is missing or not an object."""
    value = document.get(key)
    return value if isinstance(value, dict) else {}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def expected_by(document: dict[str, Any]) -> datetime | None:
    """When the document becomes stale; None when nothing keeps it fresh or it does not say."""
    freshness = dict_of(document, "freshness")
    return None if freshness.get("kept_by") == "manual" else moment(freshness.get("expected_by"))


def _freshness(document: dict[str, Any], generated: datetime | None, rules: Rules) -> list[Finding]:
    expected = expected_by(document)
    if expected is not None and rules.now > expected:
        since = "no update since " + (when(generated, rules.now) if generated else "long ago")
        who = KEEPERS.get(str(dict_of(document, "freshness").get("kept_by")), "the daemon or timer")
        host = document.get("host")
        on = f" on {one_line(host, 100)}" if isinstance(host, str) and host else ""
        return [Finding(State.CRITICAL, f"{since} — is {who} still running{on}?")]
    max_age = rules.thresholds.max_age
    if max_age is not None and generated is not None:
        age = (rules.now - generated).total_seconds()
        if age > max_age:
            text = f"status is {format_duration(age)} old (--max-age {format_duration(max_age)})"
            return [Finding(State.CRITICAL, text)]
    return []


def _state_dir(document: dict[str, Any], rules: Rules) -> list[Finding]:
    space = dict_of(document, "state_dir")
    if not space:
        return []
    path = one_line(space.get("path") or "?", 120)
    problem = space.get("problem")
    if isinstance(problem, str) and problem:
        return [Finding(State.CRITICAL, f"state dir {path} {one_line(problem, 240)}")]
    free, total = _int(space.get("free_bytes")), _int(space.get("total_bytes"))
    if free is None:
        return []
    for state, threshold in (
        (State.CRITICAL, rules.thresholds.space_critical),
        (State.WARNING, rules.thresholds.space_warning),
    ):
        limit = threshold.bytes_of(total)
        if limit and free < limit:
            share = f" ({_percent(free, total)})" if total else ""
            text = f"state dir {path} has {format_size(free)} free{share}, less than {threshold}"
            return [Finding(state, text)]
    return []


def _percent(part: int, total: int) -> str:
    share = part * 100 / total
    return f"{share:.0f}%" if share >= 1 or share == 0 else f"{share:.1f}%"


def _journal(document: dict[str, Any]) -> list[Finding]:
    journal = dict_of(document, "journal")
    raw = journal.get("problems")
    problems = [item for item in raw if isinstance(item, dict)] if isinstance(raw, list) else []
    findings = []
    for problem in problems:
        if problem.get("kind") == "unwritable":
            message = one_line(problem.get("message") or "the state dir cannot be written", 240)
            findings.append(Finding(State.CRITICAL, f"journal cannot be written: {message}"))
            break
    if journal.get("healthy") is False:
        damage = next((p for p in problems if p.get("kind") in ("damaged", "newer_format")), None)
        if damage is None:
            text = "journal not healthy (backupplan status)"
        elif damage.get("kind") == "damaged":
            text = (
                f"journal damaged: {one_line(damage.get('message') or '?', 240)} (backupplan journal repair)"
            )
        else:
            text = f"journal has records of a newer format: {one_line(damage.get('message') or '?', 240)}"
        findings.append(Finding(State.WARNING, text))
    return findings


def age_perfdata(document: dict[str, Any], generated: datetime | None, rules: Rules) -> tuple[Perfdatum, ...]:
    """`age`: seconds since the document was generated; critical at the age it becomes stale
    (`expected_by`) or `max_age`, whichever comes first, when either is known."""
    if generated is None:
        return ()
    age = max((rules.now - generated).total_seconds(), 0.0)
    limits = [rules.thresholds.max_age] if rules.thresholds.max_age is not None else []
    expected = expected_by(document)
    if expected is not None:
        limits.append(max((expected - generated).total_seconds(), 0.0))
    critical = f"{min(limits):.0f}" if limits else ""
    return (Perfdatum("age", round(age), "s", critical=critical, minimum=0),)


def space_perfdata(document: dict[str, Any], rules: Rules) -> tuple[Perfdatum, ...]:
    """`state_free`: free bytes in the state dir; warning and critical below the thresholds."""
    space = dict_of(document, "state_dir")
    free, total = _int(space.get("free_bytes")), _int(space.get("total_bytes"))
    if free is None:
        return ()
    warning, critical = (
        threshold.bytes_of(total)
        for threshold in (rules.thresholds.space_warning, rules.thresholds.space_critical)
    )
    return (
        Perfdatum(
            "state_free",
            free,
            "B",
            warning=f"{warning}:" if warning else "",
            critical=f"{critical}:" if critical else "",
            minimum=0,
            maximum=total,
        ),
    )

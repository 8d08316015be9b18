"""What a check concludes, and the text monitoring systems read from it.

The Monitoring Plugins convention: the first line is `SERVICE STATE - summary | perfdata`, any
further lines are long output, and the exit code is the state (0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN). Perfdata items are `'label'=value[UOM];[warn];[crit];[min];[max]`, separated by spaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

SERVICE = "BACKUPPLAN"
ELLIPSIS = "…"
REPLACEMENT = "\ufffd"
PIPE_STAND_IN = "¦"  # `|` starts the perfdata: a `|` in a job's name or a message must not


class State(IntEnum):
    """A check's state; its value is the plugin's exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


def one_line(value: object, limit: int = 200) -> str:
    """Given anything a document says (a job id, a reason, a path), return it as text that is
    safe on one line of a terminal and of plugin output: whitespace and line breaks become one
    space, other control and format characters (escape sequences, bidi overrides) become U+FFFD,
    `|` becomes `¦`; cut to `limit` characters with `…`."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit * 4:
        text = text[: limit * 4]  # a hostile megabyte is not worth cleaning whole
    if not text.isprintable() or "|" in text:
        text = "".join(
            char if char.isprintable() else " " if char.isspace() else REPLACEMENT for char in text
        ).replace("|", PIPE_STAND_IN)
        text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + ELLIPSIS
    return text


def _number(value: float) -> str:
    """Perfdata numbers: POSIX notation, no exponent, integers without a decimal point."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Perfdatum:
    """One performance data item. `warning` and `critical` are threshold ranges in the plugin
    syntax: `0` alerts above 0, `1024:` alerts below 1024; empty when not judged."""

    label: str
    value: float
    unit: str = ""
    warning: str = ""
    critical: str = ""
    minimum: float | None = None
    maximum: float | None = None

    def render(self) -> str:
        fields = [
            self.warning,
            self.critical,
            "" if self.minimum is None else _number(self.minimum),
            "" if self.maximum is None else _number(self.maximum),
        ]
        text = f"'{self.label}'={_number(self.value)}{self.unit};" + ";".join(fields)
        return text.rstrip(";")


@dataclass(frozen=True)
class Verdict:
    """A check's conclusion: its state, the summary after `BACKUPPLAN STATE - `, the long output
    (one problem or note per line) and the performance data."""

    state: State
    summary: str
    details: tuple[str, ...] = ()
    perfdata: tuple[Perfdatum, ...] = field(default_factory=tuple)

    @property
    def exit_code(self) -> int:
        return int(self.state)

    def first_line(self) -> str:
        line = f"{SERVICE} {self.state.name} - {self.summary}"
        if self.perfdata:
            line += " | " + " ".join(item.render() for item in self.perfdata)
        return line

    def lines(self) -> list[str]:
        """The plugin's output: the status line, then the long output."""
        return [self.first_line(), *self.details]


def unknown(summary: str, details: tuple[str, ...] = ()) -> Verdict:
    """Given why nothing could be judged, return an UNKNOWN verdict without perfdata."""
    return Verdict(State.UNKNOWN, one_line(summary, 400), tuple(one_line(line, 400) for line in details))

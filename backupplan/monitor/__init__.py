"""`backupplan check`: judging a status document the way monitoring systems want it.

A monitoring plugin (Nagios, Icinga, Naemon, Checkmk, Zabbix agent, NRPE) prints one status line
with performance data and exits 0 OK, 1 WARNING, 2 CRITICAL or 3 UNKNOWN (docs/monitoring.md).

- `verdict.py`: the states, the `Verdict` (state, summary, long output, perfdata) and its text;
  terminal-safe one-line text for anything a document says.
- `thresholds.py`: the thresholds a check is given (`--late-critical`, `--space-warning` …).
- `judge.py`: the entry point, pure: a status document, the reader's clock and thresholds in, a
  Verdict out; its rules are in `jobs.py` (outcomes, deadlines, pauses) and `machine.py`
  (staleness, the state dir, the journal), over what `findings.py` gives them.
- `source.py`: reading a published status.json from a file, stdin or an http(s) URL.
- `local.py`: building the document from a plan and its journal, opened read-only.

Nothing here prints; `backupplan.commands.check` does. The package imports nothing at its root,
so that judging a status.json never loads the plan's models (pydantic, ruamel).
"""

#!/usr/bin/env bash
# Set up a fresh machine and run the demo plan (backups.yaml) end to end.
# Everything the demo writes stays under demo/ (ignored by git); run it as often as you like.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/bootstrap.sh
bp=".venv/bin/backupplan"

[ -d demo/data ] || .venv/bin/python scripts/demo_data.py demo/data
# rsync never creates a missing destination's parent folder (an unmounted disk must not be
# mistaken for an empty one): the demo's "second disk" is this folder.
mkdir -p demo/backup

echo
echo "== backupplan validate"
$bp validate backups.yaml
echo
echo "== backupplan plan        (what changed since the last apply, what is due and why)"
$bp plan -p backups.yaml
echo
echo "== backupplan apply       (record the plan, run every job that is due)"
$bp apply -p backups.yaml
echo
echo "== backupplan status"
$bp status -p backups.yaml
echo
echo "Done. The status site is demo/site/index.html (or: $bp site serve -p backups.yaml)."
echo "Next steps:"
echo "  $bp apply -p backups.yaml      # again: nothing is due until the next slot"
echo "  $bp daemon -p backups.yaml     # keep running the jobs on their schedules (Ctrl-C stops)"
echo "  $bp schema > backupplan.schema.json   # editor completion for backups.yaml"

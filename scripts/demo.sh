#!/usr/bin/env bash
# Set up a fresh machine and run the demo plan (backups.yaml) end to end.
# Everything the demo writes stays under demo/ (ignored by git); run it as often as you like.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/bootstrap.sh
bp=".venv/bin/backupplan"

[ -d demo/data ] || .venv/bin/python scripts/demo_data.py demo/data
# Local destinations must exist up to their parent folder: backupplan never creates the mount
# point of a missing disk (so an unplugged USB disk is never "backed up" onto the system disk).
mkdir -p demo/backup demo/cloud

echo
echo "== backupplan validate"
$bp validate backups.yaml
echo
echo "== backupplan plan        (what changed since the last apply, what is due and why)"
$bp plan
echo
echo "== backupplan apply       (record the plan, run every job that is due)"
$bp apply
echo
echo "== backupplan status"
$bp status
echo
echo "== backupplan snapshots documents"
$bp snapshots documents
echo
echo "Done. The backups are in demo/backup/ and demo/cloud/; the journal and logs in demo/state/."
echo "The status site is demo/site/index.html: open it in a browser, or run"
echo "  $bp site serve        # then visit http://127.0.0.1:8000/"
echo "Next:"
echo "  $bp apply             # again: nothing is due until the jobs' next slots"
echo "  $bp daemon            # keep running the jobs on their schedules (Ctrl-C stops it)"

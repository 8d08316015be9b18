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
echo "== backupplan run documents photos photos-cloud"
$bp run documents photos photos-cloud
echo
echo "== backupplan status"
$bp status
echo
echo "Done. The backups are in demo/backup/ and demo/cloud/; the journal and logs in demo/state/."
echo "The status site is demo/site/index.html: open it in a browser, or run"
echo "  $bp site serve        # then visit http://127.0.0.1:8000/"

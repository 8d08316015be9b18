#!/usr/bin/env bash
# Set up a fresh machine and run the demo plan (backups.yaml) end to end.
# Everything the demo writes stays under demo/ (ignored by git); run it as often as you like.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/bootstrap.sh
bp=".venv/bin/backupplan"

[ -d demo/data ] || .venv/bin/python scripts/demo_data.py demo/data

echo
echo "== backupplan validate"
$bp validate backups.yaml
echo
echo "The plan is valid. Next steps:"
echo "  $bp schema > backupplan.schema.json   # editor completion for backups.yaml"
echo "  $bp validate examples/plans/laptop-usb.yaml"

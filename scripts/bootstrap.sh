#!/usr/bin/env bash
# Set up everything backupplan needs on a fresh Debian/Ubuntu machine, idempotently:
# OS packages (rsync, rclone; chromium for the browser tests) and a virtualenv in .venv.
#
#   scripts/bootstrap.sh            runtime only (what the demo needs)
#   scripts/bootstrap.sh --test     also the test and lint tools, and chromium
#
# Sourcing is not needed: afterwards, .venv/bin/backupplan is the command.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
mode=${1:-runtime}

# command:package — a package is installed when its command is missing.
need=(rsync:rsync rclone:rclone)
# For the tests: a browser for the site's pages, rsnapshot for the benchmarks, promtool for the
# example alert rules, faketime to move a process's clock, a real OpenSSH server for rsync over
# ssh, PostgreSQL and MariaDB servers for database dumps (each started by the tests in a scratch
# folder of their own, never as the machine's services), zsh and fish to run the completion
# scripts for real, and groff to render the man page.
[ "$mode" = "--test" ] && need+=(
  chromium:chromium rsnapshot:rsnapshot promtool:prometheus faketime:faketime
  ssh:openssh-client /usr/sbin/sshd:openssh-server
  pg_dump:postgresql-client /usr/lib/postgresql:postgresql
  mariadb-dump:mariadb-client /usr/sbin/mariadbd:mariadb-server-core
  zsh:zsh fish:fish groff:groff-base
)

missing=()
for pair in "${need[@]}"; do
  what=${pair%%:*}
  if [[ $what == /* ]]; then [ -e "$what" ] && continue; else command -v "$what" >/dev/null 2>&1 && continue; fi
  missing+=("${pair#*:}")
done
python=${PYTHON:-python3}
if ! "$python" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  missing+=(python3 python3-venv)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing OS packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "bootstrap: need root to install ${missing[*]}; install them yourself and run this again" >&2
      exit 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: no apt-get here; install ${missing[*]} with your package manager and run this again" >&2
    exit 1
  fi
  # The packages' own services (sshd, postgresql, mariadb) are not started by the install: the tests
  # start their own servers in scratch folders (Debian's policy-rc.d answer 101: "not now").
  held=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    held=1
  fi
  $sudo apt-get update -qq
  status=0
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
  [ -n "$held" ] && $sudo rm -f /usr/sbin/policy-rc.d
  [ "$status" -eq 0 ] || exit "$status"
fi

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$python" -m venv .venv
fi

extras=""
[ "$mode" = "--test" ] && extras="[test]"
stamp=".venv/.installed$(echo "$extras" | tr -d '[]')"
wanted=$(cat pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  echo "bootstrap: installing backupplan${extras} into .venv"
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q -e ".${extras}" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import backupplan" # fails loudly if the install did not work
  echo "$wanted" > "$stamp"
fi

#!/usr/bin/env bash
# Create .venv-kit/ at the repo root: toloka-kit 1.2.3 in its own virtualenv, because it cannot be installed
# beside Airflow. Used by tests/toloka_kit. Idempotent: a stamp file marks a finished install, so later runs
# return at once; a half-built venv from an interrupted run is rebuilt.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-kit"
STAMP="$VENV/.installed-toloka-kit-1.2.3"
PYTHON="${PYTHON:-python3}"

if [ -f "$STAMP" ]; then
    exit 0
fi
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
LOG="$VENV/pip-install.log"
if ! "$VENV/bin/pip" install -q "toloka-kit==1.2.3" "httpx<0.28" "cattrs<23.2" >"$LOG" 2>&1; then
    cat "$LOG" >&2
    echo "kit_venv.sh: installing toloka-kit into $VENV failed" >&2
    exit 1
fi
touch "$STAMP"

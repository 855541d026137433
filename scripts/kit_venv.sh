#!/usr/bin/env bash
# Create .venv-kit/ (toloka-kit 1.2.3 in its own virtualenv: it cannot be installed beside Airflow).
# Idempotent: a stamp file records a finished install, so later runs return at once.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-kit"
STAMP="$VENV/.installed-toloka-kit-1.2.3"
PYTHON="${PYTHON:-python3}"

if [ -f "$STAMP" ]; then
    exit 0
fi
# A half-built venv from an interrupted run is rebuilt from scratch.
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q "toloka-kit==1.2.3" "httpx<0.28" "cattrs<23.2"
touch "$STAMP"

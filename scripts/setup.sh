#!/usr/bin/env bash
# Set up .venv with redi and its dependencies. Installs the CPU build of torch first when no torch is present
# (an open requirement would otherwise pull a multi-GB CUDA build); GPU users install their torch before this.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
python -c "import torch" 2>/dev/null || python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[dev]"
echo "redi: environment ready in $(pwd)/.venv"

#!/usr/bin/env bash
# Set up .venv with redi and its dependencies, pinned to the versions CI tested (constraints.txt).
# torch: a torch already importable (the user's own, e.g. a CUDA build) is kept. Otherwise, with a GPU
# (nvidia-smi) the default index's build is installed; without one the CPU build: from pip's configured index when
# that already serves a CPU build (a local wheel folder or mirror), else torch's dependencies (as the CPU wheel
# declares them) from pip's configured index first, then torch alone (--no-deps) from PyTorch's CPU wheel index
# (https://download.pytorch.org/whl/cpu, REDI_TORCH_CPU_INDEX), with a short timeout so an unreachable host fails
# in seconds; no other index is named. REDI_TORCH_VERSION overrides the version (default: the one CI tested).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${REDI_TORCH_VERSION:-2.13.0}"
CPU_INDEX="${REDI_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null 2>&1 || true

# true when pip's configured sources would install a CPU-only torch (no nvidia-* packages, or a +cpu version)
configured_torch_is_cpu() {
  local report
  report="$(mktemp)"
  if ! python -m pip install -q --dry-run --ignore-installed --timeout 15 --report "$report" "torch==$TORCH_VERSION" >/dev/null 2>&1; then
    rm -f "$report"
    return 1
  fi
  python - "$report" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))["install"]
names = [i["metadata"]["name"].lower() for i in items]
torch = [i["metadata"]["version"] for i in items if i["metadata"]["name"].lower() == "torch"]
cpu = bool(torch) and ("+cpu" in torch[0] or not any(n.startswith("nvidia-") for n in names))
sys.exit(0 if cpu else 1)
PY
  local ok=$?
  rm -f "$report"
  return $ok
}

# torch's dependencies as the CPU wheel on $CPU_INDEX declares them (its metadata only), one requirement a line
cpu_torch_requirements() {
  local report
  report="$(mktemp)"
  if ! python -m pip install -q --dry-run --no-deps --ignore-installed --timeout 15 --retries 1 \
      --index-url "$CPU_INDEX" --report "$report" "torch==$TORCH_VERSION" >/dev/null; then
    rm -f "$report"
    return 1
  fi
  python - "$report" <<'PY'
import json, sys
(torch,) = json.load(open(sys.argv[1]))["install"]
for requirement in torch["metadata"].get("requires_dist", []):
    if "extra ==" not in requirement.replace('"', " ").replace("'", " "):  # optional extras are not installed
        print(requirement)
PY
  local ok=$?
  rm -f "$report"
  return $ok
}

cpu_torch_failed() {
  echo "redi: error: could not install the CPU build of torch==$TORCH_VERSION from $CPU_INDEX (unreachable?);" \
    "install torch yourself (https://pytorch.org/get-started/locally/) and rerun this script" >&2
  exit 1
}

if python -c "import torch" 2>/dev/null; then
  echo "redi: keeping the installed torch $(python -c 'import torch; print(torch.__version__)')"
elif command -v nvidia-smi >/dev/null 2>&1; then
  echo "redi: GPU found (nvidia-smi): installing torch==$TORCH_VERSION from the default index"
  python -m pip install -q "torch==$TORCH_VERSION"
elif configured_torch_is_cpu; then
  echo "redi: no GPU: installing the CPU build torch==$TORCH_VERSION that pip's configured index serves"
  python -m pip install -q "torch==$TORCH_VERSION"
else
  echo "redi: no GPU: installing torch's dependencies from pip's configured index, then the CPU build" \
    "torch==$TORCH_VERSION alone from $CPU_INDEX"
  requirements="$(cpu_torch_requirements)" || cpu_torch_failed
  if [ -n "$requirements" ]; then
    mapfile -t requirement_list <<<"$requirements"
    python -m pip install -q -c constraints.txt "${requirement_list[@]}"
  fi
  python -m pip install -q --no-deps --timeout 15 --retries 1 --index-url "$CPU_INDEX" "torch==$TORCH_VERSION" \
    || cpu_torch_failed
fi
python -m pip install -q -e ".[dev]" -c constraints.txt
echo "redi: environment ready in $(pwd)/.venv"

#!/usr/bin/env bash
# The paper's stability-versus-performance ablation in miniature on a CPU (conf/sweep/cpu_ablation.yaml), then its
# raw results, figures and tables in sweeps/cpu_ablation/ (redi analyze --export: recomputable from raw/ alone).
#   bash sweeps/cpu_ablation.sh                 # extra arguments are passed to every redi.run command
# Stage 1 is built first on both cores (or found in the cache); then REDI alpha {0, 0.2, 0.5, 0.8, 1} at lr HI and
# at lr LO (alpha 0 is the control: more SFT on the positives), SimPO (2, 1) and DPO beta {0.01, 0.1} at HI, as two
# streams of single-threaded runs in parallel.
# A Hydra multirun is one Cartesian product, and an objective rejects keys it does not use, hence four commands.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
HI=${HI:-1e-4}
LO=${LO:-2e-5}
SWEEP=runs/sweeps/cpu_ablation
COMMON=(sweep=cpu_ablation "$@")
mkdir -p "$SWEEP"
start=$(date +%s)
echo "cpu_ablation: started $(date -Is); load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" -m redi.run mode=stage1 trainer.threads=2 trainer.progress_bar=false "$@" > "$SWEEP/stage1.log" 2>&1
(
  "$PY" -m redi.run "${COMMON[@]}" objective=redi alpha=0.0,0.2,0.5,0.8,1.0 lr="$HI"
  "$PY" -m redi.run "${COMMON[@]}" objective=simpo lr="$HI"
) > "$SWEEP/stream_a.log" 2>&1 &
a=$!
(
  "$PY" -m redi.run "${COMMON[@]}" objective=redi alpha=0.0,0.2,0.5,0.8,1.0 lr="$LO"
  "$PY" -m redi.run "${COMMON[@]}" objective=dpo beta=0.01,0.1 lr="$HI"
) > "$SWEEP/stream_b.log" 2>&1 &
b=$!
wait "$a" "$b"
trained=$(date +%s)
times > "$SWEEP/.times"  # user and system CPU time of this shell, then of every finished child process
cpu=$(tail -1 "$SWEEP/.times")
"$PY" -m redi.analysis --export "$SWEEP" sweeps/cpu_ablation > /dev/null
end=$(date +%s)
echo "cpu_ablation: training and evaluation $((trained - start)) s, analysis $((end - trained)) s, total $((end - start)) s;" \
  "CPU time of the runs (user, system): $cpu; load at the end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$SWEEP/wall_time.txt"

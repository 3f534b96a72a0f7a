#!/usr/bin/env bash
# The fair ablation on the shortcut task (conf/sweep/fair_ablation.yaml; issue 15), then its raw results, tables and
# figures in sweeps/fair_ablation/ (redi analyze --export: gains.md, failures.md, stability.png, ... from raw/).
#   bash sweeps/fair_ablation.sh            # the full grid, in priority order (see PHASES)
#   bash sweeps/fair_ablation.sh --quick    # the quick variant: alpha 0 / 0.8 / 1 at lr 1e-4, seed 1, 60 steps, 300 x 4
#   PHASES="A" LRS="1e-4 3e-4" SEEDS="1 2 3" bash sweeps/fair_ablation.sh   # a subset
# Stage 1 is built first on both cores (or found in the cache); then single-threaded stage-2 runs, two at a time,
# in this order: A = REDI alpha 0 / 0.8 / 1 at every lr and seed (alpha 0 is the control every other run is paired
# with); B = alpha 0.2 / 0.5; C = DPO at matched start (beta x lr constant: 0.001 x 1e-4, 0.01 x 1e-5, 0.1 x 1e-6),
# SimPO (2, 1) at 5e-5 and (10, 5) at 3e-5 (the paper's 5:3), and the label-inversion control (alpha 0.8 on
# swapped pairs, data.builder.swap_pairs=true, from the same stage-1 model) at every lr, paired with the ordinary
# alpha 0 control. A run already finished is not run again (its status.json).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
SWEEP_NAME=fair_ablation
LRS=${LRS:-"3e-5 1e-4 3e-4"}
SEEDS=${SEEDS:-"1 2 3"}
PHASES=${PHASES:-"A B C"}
if [[ "${1:-}" == "--quick" ]]; then
  shift
  SWEEP_NAME=fair_ablation_quick
  LRS=${QUICK_LR:-1e-4}
  SEEDS=1
  PHASES=A
fi
SWEEP=runs/sweeps/$SWEEP_NAME
mkdir -p "$SWEEP"
start=$(date +%s)
echo "$SWEEP_NAME: started $(date -Is); load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$SWEEP/wall_time.txt"
"$PY" -m redi.run sweep=$SWEEP_NAME mode=stage1 trainer.threads=2 hydra.mode=RUN \
  hydra.run.dir="${SWEEP}_stage1" "$@" > "$SWEEP/stage1.log" 2>&1
STAGE1=$("$PY" -c "import sys; from redi.diagnose import compose_config; from redi.stages.stage1 import stage1_dir
print(stage1_dir(compose_config(['sweep=$SWEEP_NAME', *sys.argv[1:]])))" "$@")
stage1_done=$(date +%s)
RUN=("$PY" -m redi.run "sweep=$SWEEP_NAME" "$@")
cmds=()
for phase in $PHASES; do
  for seed in $SEEDS; do
    for lr in $LRS; do
      case $phase in
        A) for a in 0.0 0.8 1.0; do cmds+=("${RUN[*]} alpha=$a lr=$lr seed=$seed"); done ;;
        B) for a in 0.2 0.5; do cmds+=("${RUN[*]} alpha=$a lr=$lr seed=$seed"); done ;;
        C) cmds+=("${RUN[*]} alpha=0.8 lr=$lr seed=$seed data.builder.swap_pairs=true model.init_from=$STAGE1") ;;
      esac
    done
    if [[ $phase == C ]]; then
      cmds+=("${RUN[*]} objective=dpo beta=0.001 lr=1e-4 seed=$seed" "${RUN[*]} objective=dpo beta=0.01 lr=1e-5 seed=$seed"
             "${RUN[*]} objective=dpo beta=0.1 lr=1e-6 seed=$seed"
             "${RUN[*]} objective=simpo beta=2 gamma=1 lr=5e-5 seed=$seed" "${RUN[*]} objective=simpo beta=10 gamma=5 lr=3e-5 seed=$seed")
    fi
  done
done
printf '%s\n' "${cmds[@]}" > "$SWEEP/commands.txt"
# two single-threaded runs at a time, in the order above; a failed run is recorded and the queue goes on
xargs -P 2 -I{} -d '\n' bash -c '{} >> '"$SWEEP"'/runs.log 2>&1 || echo "failed: {}" >> '"$SWEEP"'/failures.log' < "$SWEEP/commands.txt"
trained=$(date +%s)
"$PY" -m redi.analysis --export "$SWEEP" "sweeps/$SWEEP_NAME" > /dev/null  # raw/, then every table and figure
end=$(date +%s)
echo "$SWEEP_NAME: stage 1 $((stage1_done - start)) s, ${#cmds[@]} stage-2 runs $((trained - stage1_done)) s," \
  "report $((end - trained)) s, total $((end - start)) s; load at the end: $(cut -d' ' -f1-3 /proc/loadavg)" \
  | tee -a "$SWEEP/wall_time.txt"
cp "$SWEEP/wall_time.txt" "sweeps/$SWEEP_NAME/"

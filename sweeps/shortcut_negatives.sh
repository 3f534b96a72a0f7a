#!/usr/bin/env bash
# Items 3 and 4 of issue 21 on the shortcut task (conf/sweep/shortcut_negatives.yaml), at lr 1e-5 (its stable lr).
#   bash sweeps/shortcut_negatives.sh                  # every phase
# Replicates: two stage-1 models (R1: data.synthetic.seed 1234 and stage1.seed 42; R2: 1235 and 43) x stage-2 seeds
# 1 and 2. Phases:
#   S  both stage-1 models (one thread each, in parallel)
#   N  the control (alpha 0), REDI alpha 0.8 on the teacher's pairs, REDI alpha 0.8 on the student's own pairs and
#      RFT (SFT on its own correct samples), the last two for as many steps as the control
#   D  dose-response: the column task's mistakes mixed into the teacher's traces (data.synthetic.error_rate 0.1,
#      0.2, 0.35; from the error_rate-0 stage-1 model), alpha 0.8 and its control on (R1, seed 1) and (R2, seed 2)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
SWEEP=runs/sweeps/shortcut_negatives
PHASES=${PHASES:-"S N D"}
REPS=("data.synthetic.seed=1234 stage1.seed=42" "data.synthetic.seed=1235 stage1.seed=43")
SEEDS=(1 2)
LR=1e-5
RUN=("$PY" -m redi.run sweep=shortcut_negatives "$@")
mkdir -p "$SWEEP"
log() { echo "$(date -Is) $*" | tee -a "$SWEEP/wall_time.txt"; }

stage1_of() {  # the cached stage-1 run directory of a replicate
  "$PY" - "$@" <<'PY'
import sys
from redi.diagnose import compose_config
from redi.stages.stage1 import stage1_dir
print(stage1_dir(compose_config(["sweep=shortcut_negatives", *sys.argv[1:]])))
PY
}

queue() {  # run the commands in $1, two at a time
  xargs -P 2 -I{} -d '\n' bash -c '{} >> '"$SWEEP"'/runs.log 2>&1 || echo "failed: {}" >> '"$SWEEP"'/failures.log' < "$1"
}

for phase in $PHASES; do
  cmds=()
  case $phase in
    S)
      log "S: the stage-1 models of R1 and R2 (one thread each, in parallel)"
      for r in 0 1; do
        # shellcheck disable=SC2086
        "${RUN[@]}" mode=stage1 hydra.mode=RUN hydra.run.dir="$SWEEP/_stage1_R$((r + 1))" ${REPS[$r]} \
          > "$SWEEP/stage1_R$((r + 1)).log" 2>&1 &
      done
      wait
      log "S: done"
      continue ;;
    N)
      steps=208  # one epoch of the teacher's 6,679 pairs at 32 per step (the control's length)
      own="data.self_generated.enabled=true data.self_generated.max_problems=null trainer.epochs=20 trainer.max_steps=$steps"
      for r in 0 1; do
        # shellcheck disable=SC2086
        s1=$(stage1_of ${REPS[$r]})
        for s in "${SEEDS[@]}"; do
          cmds+=("${RUN[*]} alpha=0.0 lr=$LR seed=$s ${REPS[$r]}" "${RUN[*]} alpha=0.8 lr=$LR seed=$s ${REPS[$r]}"
                 "${RUN[*]} alpha=0.8 lr=$LR seed=$s ${REPS[$r]} $own"
                 "${RUN[*]} objective=sft model.base=$s1/model data.self_generated.model=$s1 lr=$LR seed=$s ${REPS[$r]} $own trainer.micro_batch_size=32 trainer.warmup_ratio=0.1 trainer.scheduler=linear trainer.adam_beta2=0.999 trainer.weight_decay=1e-4")
        done
      done ;;
    D)
      for r in 0 1; do
        # shellcheck disable=SC2086
        s1=$(stage1_of ${REPS[$r]})
        s=${SEEDS[$r]}
        for e in 0.1 0.2 0.35; do for a in 0.0 0.8; do
          cmds+=("${RUN[*]} alpha=$a lr=$LR seed=$s ${REPS[$r]} data.synthetic.error_rate=$e model.init_from=$s1")
        done; done
      done ;;
    *) echo "unknown phase $phase" >&2; exit 2 ;;
  esac
  printf '%s\n' "${cmds[@]}" > "$SWEEP/commands_$phase.txt"
  log "$phase: ${#cmds[@]} runs; load $(cut -d' ' -f1-3 /proc/loadavg)"
  queue "$SWEEP/commands_$phase.txt"
  log "$phase: done; load $(cut -d' ' -f1-3 /proc/loadavg)"
done
"$PY" -m redi.analysis --export "$SWEEP" "sweeps/shortcut_negatives" > /dev/null  # raw/, then every table and figure

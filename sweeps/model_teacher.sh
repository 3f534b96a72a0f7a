#!/usr/bin/env bash
# The ablation on the model teacher's task (issue 21; conf/sweep/model_teacher.yaml, conf/data/model_teacher.yaml).
#   bash sweeps/model_teacher.sh                    # every phase, in priority order
#   PHASES="A1 A2" bash sweeps/model_teacher.sh     # some phases
# Replicates: two stage-1 models (R1: the teacher's draw 0 and stage1.seed 42; R2: draw 1 and stage1.seed 43) x two
# stage-2 seeds (1, 2). Phases, each run paired later with the REDI alpha = 0 control of its lr and replicate:
#   S  the teacher (trained once), both draws and both students' stage 1 (in parallel after the first)
#   A1 REDI alpha 0 / 0.8 / 1 at lr 1e-5 and 1e-4          A2 alpha 0.5 at both lrs
#   B  DPO beta 0.01 / 0.1 and SimPO (2, 1) / (10, 5) at 1e-5
#   C  RFT (SFT on the student's own correct samples) and REDI alpha 0.8 on the student's own pairs, at 1e-5, for
#      as many steps as the control (trainer.max_steps)
#   A3 alpha 0 / 0.5 / 0.8 / 1 at lr 3e-5
# Two single-threaded runs at a time; a finished run is not run again (its status.json); a failed one is logged.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
SWEEP=runs/sweeps/model_teacher
PHASES=${PHASES:-"S A1 A2 B C A3"}
REPS=("data.synthetic.model_teacher.draw=0 stage1.seed=42" "data.synthetic.model_teacher.draw=1 stage1.seed=43")
SEEDS=(1 2)
RUN=("$PY" -m redi.run sweep=model_teacher "$@")
mkdir -p "$SWEEP"
log() { echo "$(date -Is) $*" | tee -a "$SWEEP/wall_time.txt"; }

stage1_of() {  # the cached stage-1 run directory of a replicate (the teacher's draw is resolved first: cached)
  # shellcheck disable=SC2086
  "$PY" - "$@" <<'PY'
import sys
from redi.diagnose import compose_config
from redi.infra.distributed import DistEnv
from redi.stages import stage1, teacher, training
from redi.stages.stage1 import stage1_dir
cfg = compose_config(["sweep=model_teacher", *sys.argv[1:]])
teacher.ensure(cfg, DistEnv(), lambda c, e: stage1.ensure(c, e, training.run))
print(stage1_dir(cfg))
PY
}

queue() {  # run the commands in $1, two at a time
  xargs -P 2 -I{} -d '\n' bash -c '{} >> '"$SWEEP"'/runs.log 2>&1 || echo "failed: {}" >> '"$SWEEP"'/failures.log' < "$1"
}

for phase in $PHASES; do
  cmds=()
  case $phase in
    S)
      log "S: the teacher, its draws and the stage-1 models of R1 and R2 (one thread each, in parallel)"
      for r in 0 1; do
        # shellcheck disable=SC2086
        "${RUN[@]}" mode=stage1 hydra.mode=RUN hydra.run.dir="$SWEEP/_stage1_R$((r + 1))" ${REPS[$r]} \
          > "$SWEEP/stage1_R$((r + 1)).log" 2>&1 &
      done
      wait
      log "S: done"
      continue ;;
    A1) for lr in 1e-5 1e-4; do for a in 0.0 0.8 1.0; do for r in 0 1; do for s in "${SEEDS[@]}"; do
          cmds+=("${RUN[*]} alpha=$a lr=$lr seed=$s ${REPS[$r]}"); done; done; done; done ;;
    A2) for lr in 1e-5 1e-4; do for r in 0 1; do for s in "${SEEDS[@]}"; do
          cmds+=("${RUN[*]} alpha=0.5 lr=$lr seed=$s ${REPS[$r]}"); done; done; done ;;
    A3) for a in 0.0 0.8 1.0 0.5; do for r in 0 1; do for s in "${SEEDS[@]}"; do
          cmds+=("${RUN[*]} alpha=$a lr=3e-5 seed=$s ${REPS[$r]}"); done; done; done ;;
    B) for r in 0 1; do for s in "${SEEDS[@]}"; do
         cmds+=("${RUN[*]} objective=dpo beta=0.01 lr=1e-5 seed=$s ${REPS[$r]}"
                "${RUN[*]} objective=dpo beta=0.1 lr=1e-5 seed=$s ${REPS[$r]}"
                "${RUN[*]} objective=simpo beta=2 gamma=1 lr=1e-5 seed=$s ${REPS[$r]}"
                "${RUN[*]} objective=simpo beta=10 gamma=5 lr=1e-5 seed=$s ${REPS[$r]}"); done; done ;;
    C)
      steps=$("$PY" -c "import json,glob; print(max(json.load(open(p))['step'] for p in glob.glob('$SWEEP/redi_a0*lr1e-5*/status.json')))")
      own="data.self_generated.enabled=true data.self_generated.max_problems=null trainer.epochs=20 trainer.max_steps=$steps"
      for r in 0 1; do
        # shellcheck disable=SC2086
        s1=$(stage1_of ${REPS[$r]})
        for s in "${SEEDS[@]}"; do
          cmds+=("${RUN[*]} alpha=0.8 lr=1e-5 seed=$s ${REPS[$r]} $own"
                 "${RUN[*]} objective=sft model.base=$s1/model data.self_generated.model=$s1 lr=1e-5 seed=$s ${REPS[$r]} $own trainer.micro_batch_size=32 trainer.warmup_ratio=0.1 trainer.scheduler=linear trainer.adam_beta2=0.999 trainer.weight_decay=1e-4")
        done
      done ;;
    *) echo "unknown phase $phase" >&2; exit 2 ;;
  esac
  printf '%s\n' "${cmds[@]}" > "$SWEEP/commands_$phase.txt"
  log "$phase: ${#cmds[@]} runs; load $(cut -d' ' -f1-3 /proc/loadavg)"
  queue "$SWEEP/commands_$phase.txt"
  log "$phase: done; load $(cut -d' ' -f1-3 /proc/loadavg)"
done
"$PY" -m redi.analysis --export "$SWEEP" "sweeps/model_teacher" > /dev/null  # raw/, then every table and figure

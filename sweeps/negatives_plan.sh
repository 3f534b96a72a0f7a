#!/usr/bin/env bash
# Issue 21's experiments in the order they were run (two single-threaded streams on 2 cores, priority first):
# the model teacher's ablation (sweeps/model_teacher.sh) and the shortcut task's negatives and dose-response
# (sweeps/shortcut_negatives.sh). A phase that ran already is skipped run by run (each run's status.json).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { local script=$1 phases=$2; shift 2; PHASES="$phases" bash "sweeps/$script.sh" "$@"; }
PHASES=S bash sweeps/model_teacher.sh "$@" & PHASES="S N" bash sweeps/shortcut_negatives.sh "$@" & wait
step model_teacher A1 "$@"
step model_teacher A2 "$@"
step model_teacher B "$@"
step model_teacher C "$@"
step shortcut_negatives D "$@"
step model_teacher A3 "$@"

#!/usr/bin/env bash
# Issue 21's experiments (sweeps/model_teacher.sh, sweeps/shortcut_negatives.sh), in the order they ran on 2 cores
# (two single-threaded streams), then what a third session ran. A run that finished is skipped when its command runs
# again (its status.json), so this script also finishes the grid. Results: sweeps/model_teacher/,
# sweeps/shortcut_negatives/ (raw/ and the tables redi analyze writes; ran/ holds the commands as run).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { local script=$1 phases=$2; shift 2; PHASES="$phases" bash "sweeps/$script.sh" "$@"; }
# ran: the teacher, its two draws and both tasks' stage-1 models; the shortcut task's item 3 (N); the model teacher's
# alpha 0 / 0.8 / 1 at lr 1e-5 (A1), RFT and own pairs (C), alpha 0.5 at 1e-5 (A2), alpha 0 / 0.8 at 1e-4 (A1);
# the dose-response (D) as far as the session allowed
PHASES=S bash sweeps/model_teacher.sh "$@" & PHASES="S N" bash sweeps/shortcut_negatives.sh "$@" & wait
step model_teacher A1 "$@"
step model_teacher C "$@"
step model_teacher A2 "$@"
step shortcut_negatives D "$@"
# ran in a third session (ran/commands_third_session.txt): alpha 1 and 0.5 at lr 1e-4, DPO / SimPO at two betas
# each at 1e-5 (B), lr 3e-5 (A3)
step model_teacher B "$@"
step model_teacher A3 "$@"

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 35's GPU run in one call: DFVO from the shipped file with stage E control's recipe
# (config/train/dfvo-cpu-filled.yaml with the authors' up-convolutions: warm-up + cosine,
# clipping, frozen BatchNorm, best.pt by the honest tiled validation) at the authors' pixel
# budget (3,000 steps of 8 x 256 px = 1.6 G pixels; theirs: ~24,000 x 256x320 = 2 G), then
# the run's held-out pairs and tno42 scored in fp32 beside the shipped file. Resumes an
# interrupted run (same RUN_DIR).
#   bash benchmarks/dfvo_gpu.sh [RUN_DIR]          (default runs/dfvo_gpu)
# Environment: PY (default .venv/bin/python, else python3; the package is used from this
# checkout via PYTHONPATH), DEVICE (cuda), STEPS / PATCH / BATCH (3000 / 256 / 8), EVAL=0 to
# train only, EVERY=N to train on every Nth pair (a quick check of the script on a CPU:
# DEVICE=cpu STEPS=2 PATCH=64 BATCH=1 EVERY=20 EVAL=0).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
RUN=${1:-runs/dfvo_gpu}
DATA=${FUSION_ROS_SHARED:-../shared}/data/pairs
TNO=${FUSION_ROS_SHARED:-../shared}/data/benchmarks/tno42
DEVICE=${DEVICE:-cuda}
sel=${EVERY:+,every=$EVERY}
args=(--config config/train/dfvo-cpu-filled.yaml --option upsample=official
      --steps "${STEPS:-3000}" --patch "${PATCH:-256}" --batch "${BATCH:-8}"
      --device "$DEVICE" --out "$RUN" --no-progress
      --data "$DATA/msrs$sel" --data "$DATA/roadscene$sel" --data "$DATA/llvip$sel")
if [ -f "$RUN/last.pt" ]; then args+=(--resume); else args+=(--init models/dfvo.pt); fi
"$PY" -m fusion_ros train dfvo "${args[@]}"
[ "${EVAL:-1}" = 0 ] && exit 0
"$PY" benchmarks/heldout.py "$RUN" --models dfvo "new=dfvo:$RUN/best.pt" --option dfvo:variant=full \
    --option new:variant=full --out "$RUN/heldout.md"  # full: the enhancement head is scored too
for name in shipped new; do
  weights=models/dfvo.pt; [ "$name" = new ] && weights=$RUN/best.pt
  mkdir -p "$RUN/tno42/$name"
  "$PY" -m fusion_ros fuse --model dfvo --weights "$weights" --device "$DEVICE" --precision fp32 \
      --ir "$TNO/ir" --vi "$TNO/vi" --out "$RUN/tno42/$name" --overwrite
done
"$PY" -m fusion_ros eval --benchmark tno42 --fused "shipped=$RUN/tno42/shipped" \
    --fused "new=$RUN/tno42/new" --metrics EN SD SF AG MI VIF Qabf --out "$RUN/tno42/report"
cat "$RUN/heldout.md" "$RUN/tno42/report/summary.md"

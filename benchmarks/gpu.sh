#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The GPU benchmark in one run (issue "Correct and fast on a CUDA GPU"), for a machine with
# an NVIDIA GPU and this checkout's .venv (with a CUDA build of torch):
#   bash benchmarks/gpu.sh [OUT.md]        (about 10 minutes on a data-centre GPU)
# bench model for every learned model at 640x512 and 1280x1024 in fp32 (TF32 off and on),
# fp16, bf16, auto and compile; bench pipeline (the ROS node on the GPU, 30 Hz and 60 Hz
# cameras); a 200-step training run of each learned model with --precision auto and a
# resume of it. Writes a Markdown table for docs/BENCHMARKS.md.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${1:-gpu_benchmarks.md}
DATA=${FUSION_ROS_SHARED:-../shared}/data/pairs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"; print(torch.cuda.get_device_name(0))' \
  > "$tmp/device" 2>/dev/null || { echo "error: no CUDA device (torch.cuda.is_available() is False)"; exit 1; }
{
  echo "GPU: $(cat "$tmp/device"), torch $("$PY" -c 'import torch; print(torch.__version__)')"
  echo
  echo '| model | size | precision | ms median | ms p95 | frames/s | peak MB |'
  echo '|---|---|---|---:|---:|---:|---:|'
} > "$OUT"
for model in fastfusion didfuse piafusion dfvo; do
  for size in 640x512 1280x1024; do
    for variant in "fp32" "fp16" "bf16" "auto" "auto --compile"; do
      # shellcheck disable=SC2086
      line=$("$PY" -m fusion_ros bench model --model "$model" --random-init --device cuda \
             --size "$size" --repeat 20 --warmup 3 --precision $variant --json 2>"$tmp/err") \
        || { echo "| $model | $size | $variant | failed: $(tail -1 "$tmp/err") | | | |" >> "$OUT"; continue; }
      "$PY" - "$line" >> "$OUT" <<'PYEOF'
import json, sys
r = json.loads(sys.argv[1])
text = r['precision_text'] + (' compiled' if r['compiled'] else '')
print(f"| {r['model']} | {r['size']} | {text} | {r['ms_median']:.2f} | {r['ms_p95']:.2f} | "
      f"{1000 / r['ms_median']:.1f} | {r['peak_mem_mb']:.0f} |")
PYEOF
    done
  done
done
{
  echo
  echo '| pipeline (node on cuda, 640x512, 10 s) | rate | fused | latency p50 / p95 ms | engine in node ms |'
  echo '|---|---:|---:|---:|---:|'
} >> "$OUT"
for model in fastfusion piafusion dfvo; do
  [ -f "models/$model.pt" ] || continue  # the node needs trained weights
  for rate in 30 60; do
    line=$("$PY" -m fusion_ros bench pipeline --model "$model" --device cuda --rate "$rate" \
           --json 2>"$tmp/err") \
      || { echo "| $model | $rate | failed: $(tail -1 "$tmp/err") | | |" >> "$OUT"; continue; }
    "$PY" - "$line" >> "$OUT" <<'PYEOF'
import json, sys
r = json.loads(sys.argv[1])
print(f"| {r['model']} {r['precision']} | {r['rate_hz']:g} Hz | {r['fused_out']}/{r['pairs_in']} | "
      f"{r['latency_p50_ms']:.1f} / {r['latency_p95_ms']:.1f} | {r['node_engine_ms_median'] or 0:.1f} |")
PYEOF
  done
done
{
  echo
  echo '| training (200 steps, --precision auto) | seconds | resumed to 220 |'
  echo '|---|---:|---|'
} >> "$OUT"
for model in fastfusion piafusion-classifier didfuse dfvo; do
  run="$tmp/run_$model"
  start=$(date +%s)
  if "$PY" -m fusion_ros train "$model" --data "$DATA/msrs" --data "$DATA/llvip" \
       --steps 200 --device cuda --precision auto --out "$run" --no-progress > "$tmp/log" 2>&1 \
     && "$PY" -m fusion_ros train "$model" --data "$DATA/msrs" --data "$DATA/llvip" \
       --steps 220 --device cuda --precision auto --out "$run" --resume --no-progress >> "$tmp/log" 2>&1; then
    echo "| $model | $(( $(date +%s) - start )) | ok |" >> "$OUT"
  else
    echo "| $model | | failed: $(tail -1 "$tmp/log") |" >> "$OUT"
  fi
done
cat "$OUT"

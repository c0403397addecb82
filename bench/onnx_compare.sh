#!/usr/bin/env bash
# ONNX Runtime vs dcrnn: inference samples/s at batch 1024, 2 threads each,
# on the same model, for the two `dcrnn bench` workloads (mlp24, dcrnn24).
# Each workload's model is written by `dcrnn export --workload W` (the
# weights `dcrnn bench` starts from, seed 1); dcrnn is timed by `dcrnn bench
# --threads 2` (its inference phase: forward and sigmoid on pre-generated
# batches of uniform ids), ONNX Runtime by bench/onnx_ort.py
# (intra_op_num_threads 2) on batches drawn the same way. Rounds alternate
# the engines; the summary prints medians, the ratio ORT / dcrnn and the
# CPU-normalised figures (samples per CPU-second of the process).
#
# --nice N runs each engine under nice -n N in a session of its own whose
# scheduler autogroup gets the same nice value (as bench/compare.sh does:
# plain nice only ranks processes within their autogroup); a negative N
# needs root. On a machine shared with other jobs the "cores" column shows
# how much CPU each engine really had.
#
# Usage: bench/onnx_compare.sh [--rounds 3] [--seconds 3] [--nice -15]
#        [--python PY (with onnxruntime and numpy)] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3 seconds=3 nice=0 py=python3 out=$(mktemp -d)
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --nice) nice=$2; shift 2 ;;
    --python) py=$2; shift 2 ;;
    --out) out=$2; mkdir -p "$out"; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
export OPENBLAS_NUM_THREADS=1
engine() {
  if [ "$nice" = 0 ]; then
    "$@"
  else
    setsid --wait sh -c 'echo "$0" >/proc/self/autogroup 2>/dev/null; exec nice -n "$0" "$@"' "$nice" "$@"
  fi
}
go build -o "$out/dcrnn" ./cmd/dcrnn
for w in mlp24 dcrnn24; do
  "$out/dcrnn" export --workload "$w" --out "$out/$w.onnx" >/dev/null
done
for r in $(seq 1 "$rounds"); do
  for w in mlp24 dcrnn24; do
    engine "$out/dcrnn" bench --workload "$w" --threads 2 --seconds "$seconds" --json >"$out/dcrnn-$w-$r.json"
    engine "$py" bench/onnx_ort.py --model "$out/$w.onnx" --threads 2 --seconds "$seconds" >"$out/ort-$w-$r.json"
  done
done
"$py" - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
print("| workload | engine | infer samples/s (median) | cores | samples per CPU-s | ORT / dcrnn | ORT / dcrnn per CPU-s |")
print("|---|---|---|---|---|---|---|")
for w in ("mlp24", "dcrnn24"):
    rows = {}
    for e in ("dcrnn", "ort"):
        rs = [json.load(open(f"{out}/{e}-{w}-{r}.json")) for r in range(1, rounds + 1)]
        sps = statistics.median(x["infer_samples_per_second"] for x in rs)
        cores = statistics.median(x["infer_cpu_seconds"] / x["infer_seconds"] for x in rs)
        cpu = statistics.median(x["infer_samples_per_second"] * x["infer_seconds"] / x["infer_cpu_seconds"] for x in rs)
        rows[e] = (sps, cores, cpu, rs[0].get("engine", rs[0].get("backend")))
    for e in ("dcrnn", "ort"):
        sps, cores, cpu, name = rows[e]
        ratio = rows["ort"][0] / rows["dcrnn"][0] if e == "ort" else 1.0
        cratio = rows["ort"][2] / rows["dcrnn"][2] if e == "ort" else 1.0
        label = "dcrnn (" + name + ")" if e == "dcrnn" else name
        print(f"| {w} | {label} | {sps:,.0f} | {cores:.2f} | {cpu:,.0f} | {ratio:.2f} | {cratio:.2f} |")
PY

#!/usr/bin/env bash
# compare.sh — dcrnn (pure-Go and OpenBLAS builds) against PyTorch on the
# DESIGN §7 reference workload, back to back, interleaved rounds.
#
# Usage: bench/compare.sh [--rounds N] [--seconds S] [--threads T] [--workload mlp24]
#                         [--out DIR] [--quiet F] [--max-wait S]
#
# Builds /tmp/dcrnn-go (go build ./cmd/dcrnn) and /tmp/dcrnn-openblas
# (go build -tags openblas ./cmd/dcrnn), then runs, N times (default 3):
# PyTorch (bench/mlp24.py), pure Go, OpenBLAS — each in its own process, with
# OPENBLAS_NUM_THREADS=1 and T threads (default 2). It prints a markdown table
# with the median of each engine and the ratio of each median to PyTorch's,
# plus the date, machine and command. Raw JSON lines go to DIR/runs.jsonl.
# The machine may be shared: before each run the script waits (up to
# --max-wait seconds, default 300) until the CPUs were at least F idle
# (default 0.9) over one second, and records the idle fraction it saw.
#
# Run from the repository root (or anywhere: it cds there). Needs go and
# /usr/bin/python3 with torch (Debian python3-torch).
set -euo pipefail

rounds=3
seconds=3
threads=2
workload=mlp24
out=""
quiet=0.9
maxwait=300
python=${PYTHON:-/usr/bin/python3}
cmdline="bench/compare.sh $*"

while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--workload) workload=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--quiet) quiet=$2; shift 2 ;;
	--max-wait) maxwait=$2; shift 2 ;;
	-h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
case "$rounds$threads" in *[!0-9]*) echo "compare.sh: --rounds and --threads take integers" >&2; exit 2 ;; esac
[ "$workload" = mlp24 ] || [ "$workload" = dcrnn24 ] || { echo "compare.sh: --workload mlp24|dcrnn24" >&2; exit 2; }

cd "$(dirname "$0")/.."
[ -n "$out" ] || out=$(mktemp -d /tmp/dcrnn-compare.XXXXXX)
mkdir -p "$out"
runs="$out/runs.jsonl"
: >"$runs"

export OPENBLAS_NUM_THREADS=1
echo "building /tmp/dcrnn-go and /tmp/dcrnn-openblas ..." >&2
go build -o /tmp/dcrnn-go ./cmd/dcrnn
go build -tags openblas -o /tmp/dcrnn-openblas ./cmd/dcrnn

have_torch=1
if ! "$python" -c 'import torch' 2>/dev/null; then
	have_torch=0
	echo "compare.sh: torch missing: Go builds only" >&2
fi

# idle_fraction: share of CPU time spent idle over the next second.
idle_fraction() {
	local a b
	a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
	local total=0 i
	for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
	awk -v i=$((b[4] + b[5] - a[4] - a[5])) -v t=$total 'BEGIN { printf "%.2f", (t > 0 ? i / t : 1) }'
}

# wait_quiet: waits until idle_fraction >= $quiet or $maxwait seconds pass;
# leaves the last fraction in $idle.
wait_quiet() {
	local start=$SECONDS
	idle=1
	[ -r /proc/stat ] || return 0
	while :; do
		idle=$(idle_fraction)
		awk -v i="$idle" -v q="$quiet" 'BEGIN { exit !(i >= q) }' && return 0
		if [ $((SECONDS - start)) -ge "$maxwait" ]; then
			echo "compare.sh: CPUs only $idle idle after ${maxwait}s; running anyway" >&2
			return 0
		fi
	done
}

# record ENGINE ROUND JSON: appends one line tagged with the engine, round and
# the idle fraction seen before the run.
record() {
	local engine=$1 round=$2 json=$3
	"$python" -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(engine=sys.argv[2], round=int(sys.argv[3]), idle_before=float(sys.argv[4])); print(json.dumps(d))' \
		"$json" "$engine" "$round" "$idle" >>"$runs"
}

for r in $(seq 1 "$rounds"); do
	if [ $have_torch = 1 ]; then
		wait_quiet
		echo "round $r/$rounds: pytorch (idle $idle)" >&2
		record pytorch "$r" "$("$python" bench/mlp24.py --json --workload "$workload" --threads "$threads" --seconds "$seconds")"
	fi
	wait_quiet
	echo "round $r/$rounds: pure Go (idle $idle)" >&2
	record go "$r" "$(/tmp/dcrnn-go bench --json --workload "$workload" --threads "$threads" --seconds "$seconds")"
	wait_quiet
	echo "round $r/$rounds: OpenBLAS (idle $idle)" >&2
	record openblas "$r" "$(/tmp/dcrnn-openblas bench --json --workload "$workload" --threads "$threads" --seconds "$seconds")"
done

"$python" - "$runs" "$cmdline" "$workload" "$threads" "$rounds" "$seconds" <<'EOF'
import json, os, platform, statistics, subprocess, sys, time
runs, cmdline, workload, threads, rounds, seconds = sys.argv[1:]
rows = [json.loads(l) for l in open(runs)]
keys = [("train_samples_per_second", "train samples/s"), ("infer_samples_per_second", "infer samples/s"), ("peak_rss_bytes", "peak RSS MiB")]
engines = [e for e in ("pytorch", "go", "openblas") if any(r["engine"] == e for r in rows)]
label = {"pytorch": "PyTorch", "go": "dcrnn pure Go", "openblas": "dcrnn OpenBLAS"}
med = {e: {k: statistics.median(r[k] for r in rows if r["engine"] == e) for k, _ in keys} for e in engines}
best = {e: {k: max(r[k] for r in rows if r["engine"] == e) for k, _ in keys} for e in engines}
def cpu():
    try:
        for l in open("/proc/cpuinfo"):
            if l.startswith("model name"):
                return l.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
def fmt(k, v):
    return f"{v / 2**20:.0f}" if k == "peak_rss_bytes" else f"{v:,.0f}"
backend = {e: next(r.get("backend", "?") for r in rows if r["engine"] == e) for e in engines}
try:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
except OSError:
    commit = "?"
print(f"### dcrnn bench `{workload}` vs PyTorch — {time.strftime('%Y-%m-%d %H:%M %Z')}")
print()
print(f"Command: `{cmdline.strip()}` (commit {commit}; {rounds} interleaved rounds, ≥ {seconds} s per phase, "
      f"{threads} threads, OPENBLAS_NUM_THREADS=1; {os.cpu_count()} CPUs: {cpu()}). Medians; ratio = engine / PyTorch "
      "(> 1 is faster for samples/s; < 1 is smaller for RSS).")
print()
hdr = "| engine | backend |" + "".join(f" {n} | ×PyTorch |" for _, n in keys)
print(hdr)
print("|" + "---|" * (2 + 2 * len(keys)))
for e in engines:
    cells = []
    for k, _ in keys:
        v = med[e][k]
        ratio = v / med["pytorch"][k] if "pytorch" in med and med["pytorch"][k] else float("nan")
        cells.append(f" {fmt(k, v)} | {ratio:.2f} |")
    print(f"| {label[e]} | {backend[e]} |" + "".join(cells))
print()
print("CPU-normalised (samples per CPU-second of the process, all its threads; robust to other load on the "
      "machine, but it charges spin-waiting threads too). cores = CPU seconds / wall seconds of the timed phase:")
print()
print("| engine | train samples/CPU-s | ×PyTorch | train cores | infer samples/CPU-s | ×PyTorch | infer cores |")
print("|---|---|---|---|---|---|---|")
def per_cpu(r, ph):
    c = r.get(ph + "_cpu_seconds") or 0
    return r[ph + "_samples_per_second"] * r[ph + "_seconds"] / c if c > 0 else float("nan")
pc = {e: {ph: statistics.median(per_cpu(r, ph) for r in rows if r["engine"] == e) for ph in ("train", "infer")} for e in engines}
cores = {e: {ph: statistics.median(r[ph + "_cpu_seconds"] / r[ph + "_seconds"] for r in rows if r["engine"] == e) for ph in ("train", "infer")} for e in engines}
for e in engines:
    cells = []
    for ph in ("train", "infer"):
        ratio = pc[e][ph] / pc["pytorch"][ph] if "pytorch" in pc else float("nan")
        cells.append(f" {pc[e][ph]:,.0f} | {ratio:.2f} | {cores[e][ph]:.2f} |")
    print(f"| {label[e]} |" + "".join(cells))
print()
print("Per round (train / infer samples/s, train / infer cores, peak RSS MiB, CPU idle fraction just before the run):")
print()
for r in rows:
    print(f"- round {r['round']} {label[r['engine']]}: {r['train_samples_per_second']:,.0f} / {r['infer_samples_per_second']:,.0f}, "
          f"{r['train_cpu_seconds'] / r['train_seconds']:.2f} / {r['infer_cpu_seconds'] / r['infer_seconds']:.2f} cores, "
          f"{r['peak_rss_bytes'] / 2**20:.0f} MiB, idle {r['idle_before']:.2f}")
print()
print(f"Raw JSON lines: {runs}")
EOF

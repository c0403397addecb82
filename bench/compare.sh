#!/usr/bin/env bash
# compare.sh — dcrnn (pure-Go and OpenBLAS builds) against PyTorch on the
# reference workload (package doc of internal/bench), back to back, interleaved rounds.
#
# Usage: bench/compare.sh [--rounds N] [--seconds S] [--threads T] [--workload mlp24]
#                         [--out DIR] [--quiet F] [--max-wait S] [--nice N]
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
# --nice N runs every engine under `nice -n N` (a negative N needs root), in
# a session of its own whose scheduler autogroup gets the same nice value
# (Linux with sched_autogroup: plain nice only ranks processes within their
# own session). On a machine shared with other jobs this gives each engine
# the same, larger CPU share, so the comparison is not decided by who got
# descheduled. Other processes are not touched.
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
nice=0
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
	--nice) nice=$2; shift 2 ;;
	-h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
case "$nice" in -[0-9]* | [0-9]*) ;; *) echo "compare.sh: --nice takes an integer" >&2; exit 2 ;; esac
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

# engine CMD...: runs one engine at the requested priority (see --nice).
engine() {
	if [ "$nice" = 0 ]; then
		"$@"
	else
		setsid --wait sh -c 'echo "$0" >/proc/self/autogroup 2>/dev/null; exec nice -n "$0" "$@"' "$nice" "$@"
	fi
}

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
		record pytorch "$r" "$(engine "$python" bench/mlp24.py --json --workload "$workload" --threads "$threads" --seconds "$seconds")"
	fi
	wait_quiet
	echo "round $r/$rounds: pure Go (idle $idle)" >&2
	record go "$r" "$(engine /tmp/dcrnn-go bench --json --workload "$workload" --threads "$threads" --seconds "$seconds")"
	wait_quiet
	echo "round $r/$rounds: OpenBLAS (idle $idle)" >&2
	record openblas "$r" "$(engine /tmp/dcrnn-openblas bench --json --workload "$workload" --threads "$threads" --seconds "$seconds")"
done

"$python" bench/report.py --runs "$runs" --command "$cmdline" --workload "$workload" --threads "$threads" \
	--rounds "$rounds" --seconds "$seconds" --nice "$nice"

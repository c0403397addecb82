#!/usr/bin/env bash
# dcrnn_check.sh: independent numeric check of the DCRNN forward pass against
# a PyTorch re-implementation (bench/dcrnn_check.py).
#
# For each dataset and config it trains a small DCRNN with `dcrnn train`, scores
# 1,000 rows with `dcrnn predict --out P --inputs-out I` and runs
# dcrnn_check.py, which rebuilds the forward pass in float64 torch from the
# model file's safetensors weights and compares every output column. It fails
# (exit 1) as soon as one column differs by more than 1e-4.
#
# Datasets:
#   census  UCI Census-Income (KDD), examples/census.yaml: 2 tasks, no
#           funnel; trained on census-income.test.gz split 0.5,0.25,0.25, 1 epoch
#   synth   dcrnn gen --rows 20000 (click -> conversion funnel, with the noise
#           ids request_id (hashed) and session_user) plus a
#           multi-valued column "tags" (1-3 ids, empty on every 5th row) added
#           here so the mean of a multi-categorical field is checked too;
#           split 0.8,0.1,0.1, 3 epochs
# Configs (each on both datasets):
#   default                                   gru, depth, rho 0.5, deep [256,128], tower [64], transfer
#   cell=lstm cross_mode=fields rho=0         a private cross network per task, one step per field
#   cell=rnn rho=1 transfer=false             hard sharing, no transfer gate
#   rho=0.25 deep=[] tower=[] cross_steps=2   no deep branch, no tower hidden layer
#   cross=false                               no cross block: the towers read the deep branch
#   calibration=isotonic                      isotonic maps instead of the default calibration
# and, on the synthetic funnel, the default config with negative_sampling: 0.5
# declared on click (the correction after the calibration).
# Then it breaks one equation on the Python side (--perturb) and expects the
# check to fail, so that a pass means something.
#
# Usage: bench/dcrnn_check.sh [WORKDIR]      (default: a temporary directory, removed)
# Needs: go, /usr/bin/python3 with torch (Debian: apt install python3-torch;
# numpy is not needed). PYTHON=... overrides the interpreter, DATA=... the
# folder holding census-income-kdd/.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
py=${PYTHON:-/usr/bin/python3}
data=${DATA:-$root/../shared/data}
census=$data/census-income-kdd/census-income.test.gz

if [[ $# -ge 1 ]]; then
	work=$1
	mkdir -p "$work"
else
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
fi
work=$(cd "$work" && pwd)

"$py" -c 'import torch' 2>/dev/null || {
	echo "dcrnn_check.sh: $py cannot import torch (Debian: apt install python3-torch)" >&2
	exit 2
}

echo "== building dcrnn"
(cd "$root" && go build -o "$work/dcrnn" ./cmd/dcrnn)
dcrnn=$work/dcrnn

configs=(
	"default|"
	"lstm-fields-rho0|--set cell=lstm --set cross_mode=fields --set rho=0"
	"rnn-rho1-notransfer|--set cell=rnn --set rho=1 --set transfer=false"
	"rho0.25-nodeep-notower|--set rho=0.25 --set deep=[] --set tower=[] --set cross_steps=2"
	"isotonic|--set calibration=isotonic"
	"nocross|--set cross=false"
)

results=()
# check NAME SCHEMA DATA-ARGS... -- ROWS1000 TRAIN-ARGS...
check() {
	local name=$1 schema=$2 sample=$3 extra=$4
	shift 4
	local d=$work/$name
	mkdir -p "$d"
	echo "== $name: train"
	# shellcheck disable=SC2086 # $extra holds several --set flags
	"$dcrnn" train --schema "$schema" "$@" $extra --out "$d/model.dcrnn" --threads 2 >"$d/train.log" 2>&1 || {
		cat "$d/train.log" >&2
		return 2
	}
	tail -1 "$d/train.log"
	"$dcrnn" predict --model "$d/model.dcrnn" --data "$sample" --out "$d/preds.csv" --inputs-out "$d/inputs.jsonl" --threads 2 >"$d/predict.log" || return 2
	head -1 "$d/predict.log"
	local rc=0
	"$py" "$here/dcrnn_check.py" --model "$d/model.dcrnn" --inputs "$d/inputs.jsonl" --preds "$d/preds.csv" | tee "$d/check.txt" || rc=$?
	results+=("$name: $(tail -1 "$d/check.txt" | sed 's/^ *//')")
	return $rc
}

status=0

# --- Census-Income (KDD)
if [[ -f $census ]]; then
	# zcat dies of SIGPIPE when head has its rows: count them instead.
	{ zcat "$census" || true; } | head -1000 >"$work/census-1000.csv"
	[[ $(wc -l <"$work/census-1000.csv") -eq 1000 ]] || {
		echo "dcrnn_check.sh: could not read 1000 rows from $census" >&2
		exit 2
	}
	for c in "${configs[@]}"; do
		check "census-${c%%|*}" "$root/examples/census.yaml" "$work/census-1000.csv" "${c#*|}" \
			--data "$census" --split 0.5,0.25,0.25 --set epochs=1 || status=1
	done
else
	echo "dcrnn_check.sh: $census missing, Census checks skipped" >&2
	results+=("census: SKIPPED (no data)")
fi

# --- synthetic funnel with a multi-valued field
syn=$work/synth
"$dcrnn" gen --rows 20000 --seed 7 --out "$syn" >/dev/null
awk -F, 'BEGIN { OFS = "," }
	NR == 1 { print $0, "tags"; next }
	{
		n = (NR % 5 == 0) ? 0 : 1 + NR % 3
		t = ""
		if (n >= 1) t = "c" $5
		if (n >= 2) t = t "|h" $10
		if (n >= 3) t = t "|c" ($5 + 1)
		print $0, t
	}' "$syn/data.csv" >"$syn/tagged.csv"
sed '/^  - {name: noise_num/a\  - {name: tags,          type: multi_categorical, separator: "|"}' "$syn/schema.yaml" >"$syn/tagged.yaml"
grep -q 'name: tags' "$syn/tagged.yaml" || {
	echo "dcrnn_check.sh: could not add the tags field to $syn/schema.yaml" >&2
	exit 2
}
head -1001 "$syn/tagged.csv" >"$syn/tagged-1000.csv"
for c in "${configs[@]}"; do
	check "synth-${c%%|*}" "$syn/tagged.yaml" "$syn/tagged-1000.csv" "${c#*|}" \
		--data "$syn/tagged.csv" --split 0.8,0.1,0.1 --set epochs=3 || status=1
done
# The same log declared as down-sampled: the check applies the correction.
sed 's/^\(  - {name: click,.*\)}$/\1, negative_sampling: 0.5}/' "$syn/tagged.yaml" >"$syn/sampled.yaml"
grep -q 'negative_sampling: 0.5' "$syn/sampled.yaml" || {
	echo "dcrnn_check.sh: could not declare negative_sampling in $syn/sampled.yaml" >&2
	exit 2
}
check "synth-negative-sampling" "$syn/sampled.yaml" "$syn/tagged-1000.csv" "" \
	--data "$syn/tagged.csv" --split 0.8,0.1,0.1 --set epochs=3 || status=1

# --- the check must be able to fail: break one equation on the Python side
# (exchange the GRU's r and z gates, sum a multi-valued field instead of
# averaging it, drop the transfer gate, skip the calibration maps and the
# down-sampling correction) and expect a mismatch.
for pc in census-default:swap-gates census-default:skip-transfer synth-default:swap-gates synth-default:mean-as-sum \
	census-isotonic:skip-calibration synth-negative-sampling:skip-calibration; do
	d=$work/${pc%%:*}
	[[ -f $d/inputs.jsonl ]] || continue
	rc=0
	"$py" "$here/dcrnn_check.py" --model "$d/model.dcrnn" --inputs "$d/inputs.jsonl" --preds "$d/preds.csv" \
		--perturb "${pc#*:}" >"$d/perturbed-${pc#*:}.txt" || rc=$?
	if [[ $rc -eq 1 ]]; then
		results+=("${pc%%:*} --perturb ${pc#*:}: detected as expected ($(tail -1 "$d/perturbed-${pc#*:}.txt" | sed 's/^ *//'))")
	else
		results+=("${pc%%:*} --perturb ${pc#*:}: NOT detected (exit $rc): the check is too weak")
		status=1
	fi
done

echo
echo "== summary (max |torch - go| over all output columns, 1,000 rows each)"
printf '  %s\n' "${results[@]}"
exit $status

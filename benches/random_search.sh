#!/usr/bin/env bash
# Random search against a grid of the same size: BENCHMARKS.md's "Random
# search" table. For each --seed, `train --folds 5 --halving 3` over a grid
# of rates and the same number of combinations with the rate drawn from a
# log-uniform range of the same span (--random), the other options listed
# alike; the best is trained on every row (--save) and scored by `predict`
# on a separate test file.
#
#   benches/random_search.sh [shadertrain]
#
# The binary defaults to target/release/shadertrain. 3,000 training rows
# and 5,000 test rows of the synthetic task (6 features), Adam in batches
# of 100 for 81 epochs, standardised, on the cpu backend. Prints a line per
# search: its wall time, the best's options, its folds' mean held-out MSE
# and its test MSE. About 90 seconds on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/shadertrain}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bin" gen --rows 3000 --features 6 --seed 11 --out "$dir/tr.csv" > /dev/null
"$bin" gen --rows 5000 --features 6 --seed 12 --out "$dir/te.csv" > /dev/null
common=(--data "$dir/tr.csv" --backend cpu --optimizer adam --batch-size 100 --standardize
    --epochs 81 --folds 5 --halving 3 -q
    --grid hidden=16,[32,16],[64,32] --grid weight-decay=0,1e-4,1e-3)

search() { # the span's name, the seed, then --grid's rate and --random
    local name=$1 seed=$2
    shift 2
    local start end
    start=$(date +%s.%N)
    "$bin" train "${common[@]}" --seed "$seed" "$@" --save "$dir/m.st" --json "$dir/s.json" > /dev/null
    end=$(date +%s.%N)
    "$bin" predict --model "$dir/m.st" --data "$dir/te.csv" --out "$dir/p.csv" > /dev/null
    python3 - "$dir" "$name" "$seed" "$start" "$end" <<'PY'
import csv, json, sys
dir, name, seed, start, end = sys.argv[1:]
record = json.load(open(f"{dir}/s.json"))
truth = [float(r["y"]) for r in csv.DictReader(open(f"{dir}/te.csv"))]
pred = [float(r["y_pred"]) for r in csv.DictReader(open(f"{dir}/p.csv"))]
test = sum((t - p) ** 2 for t, p in zip(truth, pred)) / len(truth)
best = " ".join(f"{k}={v}" for k, v in sorted(record["best"].items()))
folds = record["results"][0]["val_mse"]["mean"]
kind = "random" if "random" in record else "grid"
print(f"{name:<6} seed {seed} {kind:<6} {float(end) - float(start):6.2f} s  {best:<40} "
      f"folds {folds:.3e}  test {test:.3e}")
PY
}

grep -m1 "model name" /proc/cpuinfo || true
for seed in 0 1 2 3 4; do
    search narrow "$seed" --grid lr=0.001,0.003,0.01,0.03
    search narrow "$seed" --grid lr=log:0.001..0.03 --random 36
done
for seed in 0 1 2 3 4; do
    search wide "$seed" --grid lr=0.001,0.003,0.01,0.03,0.1,0.3
    search wide "$seed" --grid lr=log:0.001..0.3 --random 54
done

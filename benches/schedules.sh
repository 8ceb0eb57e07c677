#!/usr/bin/env bash
# Learning-rate schedules against the constant rate in mini-batches: one
# run per row of BENCHMARKS.md's "Learning-rate schedules" and "The plateau
# schedule" tables.
#
#   benches/schedules.sh [S1.csv] [shadertrain]
#
# The CSV defaults to S1's shape (65,536 rows × 16 features), written by
# `shadertrain gen --rows 65536 --features 16 --seed 0`; the binary to
# target/release/shadertrain. Each run trains 16 → 64 → 1 (tanh) on the cpu
# backend in batches of 200 for a fixed number of epochs, and prints the
# best and final loss and the --json milestones at 1e-3, 1e-4 and 1e-5 as
# (epoch, seconds). About 6 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
csv=${1:-target/s1.csv}
bin=${2:-target/release/shadertrain}
[ -f "$csv" ] || "$bin" gen --rows 65536 --features 16 --seed 0 --out "$csv"
json=$(mktemp --suffix .json)
trap 'rm -f "$json"' EXIT

run() {
    "$bin" train --data "$csv" --no-standardize --hidden 64 --activation tanh --backend cpu \
        --batch-size 200 "$@" --json "$json" -q
    python3 - "$json" "$*" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
at = {m["loss"]: (m["epoch"], round(m["wall_s"], 2)) for m in d["milestones"]}
print(f"{sys.argv[2]:<100} best {d['best_loss']:.3g} final {d['final_loss']:.3g}",
      *(f"{t:g} {at.get(t)}" for t in (1e-3, 1e-4, 1e-5)),
      f"ms/epoch {1000 * d['time_per_epoch_s']:.2f}")
EOF
}

grep -m1 "model name" /proc/cpuinfo || true
for epochs in 400 1000; do
    for opt in "momentum --lr 0.1" "momentum --lr 0.2" "adam --lr 0.01" "adam --lr 0.003"; do
        # shellcheck disable=SC2086 # the optimizer and its rate are two flags
        run --optimizer $opt --epochs "$epochs"
        # shellcheck disable=SC2086
        run --optimizer $opt --epochs "$epochs" --lr-schedule cosine
    done
    for opt in "momentum --lr 0.1" "adam --lr 0.01"; do
        # shellcheck disable=SC2086
        run --optimizer $opt --epochs "$epochs" --lr-schedule step \
            --lr-every $((epochs / 4)) --lr-gamma 0.3
    done
done
# BENCHMARKS.md's "The plateau schedule" table.
for opt in "adam --lr 0.01 1e-4 3e-4" "momentum --lr 0.1 1e-3 3e-3"; do
    read -r name flag lr low high <<<"$opt"
    for plateau in "" "--lr-gamma 0.5 --lr-patience 5" "--lr-min $low" "--lr-min $high"; do
        # shellcheck disable=SC2086
        run --optimizer "$name" "$flag" "$lr" --epochs 1000 --lr-schedule plateau $plateau
    done
done

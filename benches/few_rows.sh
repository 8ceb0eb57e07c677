#!/usr/bin/env bash
# What `train`'s defaults give on few rows: with fewer training rows than
# twice the network's parameters (50 or more), a new run of the default
# L-BFGS first chooses --weight-decay by 5-fold cross-validation of its
# rows among 0, 1e-3, 1e-2 and 1e-1; `--weight-decay 0` trains the
# default before that choice. Each set is trained on its training file and
# scored on a test file of its own (`predict --json`): held-out R², the
# whole command's time, and the decay chosen. The rows of
# docs/optimizers.md's "Few rows" table come from a wider study; these
# sets are drawn here, by Python's random module, with no other package:
#   friedman1 Friedman's #1 (scikit-learn's make_friedman1): 10 features
#             U(0, 1), y = 10·sin(π·x0·x1) + 20·(x2 − 0.5)² + 10·x3 + 5·x4
#             + N(0, 1); 100, 300 and 1,000 training rows (769 parameters)
#   smooth    3 features N(0, 1), y = sin(x0) + x1·x2 + N(0, 0.09); 50, 100
#             and 1,000 training rows (321 parameters)
#   linear20  20 features N(0, 1), y = w·x over five of them (w drawn
#             U(0, 100)) + N(0, 100); 200 and 1,000 training rows (1,409
#             parameters), as scikit-learn's make_regression(n_features=20,
#             n_informative=5, noise=10)
#   clean     2 features U(−1, 1), y = x0 + 0.5·x1² + N(0, 1e-4); 100 and
#             500 training rows (257 parameters): nothing to restrain
# Each test file holds 5,000 rows drawn as its training rows are. Where
# scikit-learn is installed, its diabetes rows too (353 trained on, 89
# scored, split by numpy's default_rng(0)).
#
#   benches/few_rows.sh [shadertrain]
#
# The binary defaults to target/release/shadertrain. About 20 seconds on
# two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/held_out.sh
held_out_start "${1:-}"

python3 - <<'EOF'
import csv, math, random

def write(name, header, rows):
    with open(name, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows([[repr(v) for v in r] for r in rows])

def friedman1(rng):
    x = [rng.random() for _ in range(10)]
    return x + [10 * math.sin(math.pi * x[0] * x[1]) + 20 * (x[2] - 0.5) ** 2
                + 10 * x[3] + 5 * x[4] + rng.gauss(0, 1)]

def smooth(rng):
    x = [rng.gauss(0, 1) for _ in range(3)]
    return x + [math.sin(x[0]) + x[1] * x[2] + rng.gauss(0, 0.3)]

weights = random.Random(20)
w = [weights.uniform(0, 100) for _ in range(5)]

def linear20(rng):
    x = [rng.gauss(0, 1) for _ in range(20)]
    return x + [sum(a * b for a, b in zip(w, x[:5])) + rng.gauss(0, 10)]

def clean(rng):
    x = [rng.uniform(-1, 1) for _ in range(2)]
    return x + [x[0] + 0.5 * x[1] ** 2 + rng.gauss(0, 0.01)]

sets = [("friedman1", 10, friedman1, [100, 300, 1000]),
        ("smooth", 3, smooth, [50, 100, 1000]),
        ("linear20", 20, linear20, [200, 1000]),
        ("clean", 2, clean, [100, 500])]
for seed, (name, features, draw, sizes) in enumerate(sets):
    header = [f"x{i}" for i in range(features)] + ["y"]
    test = random.Random(100 + seed)
    write(f"{name}_test.csv", header, [draw(test) for _ in range(5000)])
    for n in sizes:
        rng = random.Random(seed * 10_000 + n)
        write(f"{name}_{n}.csv", header, [draw(rng) for _ in range(n)])
try:
    import numpy as np
    from sklearn.datasets import load_diabetes
    x, y = load_diabetes(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    header = [f"x{i}" for i in range(10)] + ["y"]
    write("diabetes_353.csv", header, np.c_[x, y][order[:353]].tolist())
    write("diabetes_test.csv", header, np.c_[x, y][order[353:]].tolist())
except ImportError:
    pass
EOF

# `few_rows_run SET ROWS LABEL FLAGS...` trains SET_ROWS.csv with FLAGS,
# scores it on SET_test.csv, and prints a line of the table.
few_rows_run() {
    local set=$1 rows=$2 label=$3
    shift 3
    local start end
    start=$(date +%s.%N)
    if ! "$bin" train --data "${set}_$rows.csv" --backend cpu "$@" --save m.safetensors --json run.json -q; then
        printf '%-10s %6s  %-18s failed (above)\n' "$set" "$rows" "$label"
        return
    fi
    end=$(date +%s.%N)
    "$bin" predict --model m.safetensors --data "${set}_test.csv" --out /dev/null --json test.json > /dev/null
    python3 - "$set" "$rows" "$label" "$start" "$end" <<'PY'
import json, sys
run, test = json.load(open("run.json")), json.load(open("test.json"))
name, rows, label, start, end = sys.argv[1:]
search = run["weight_decay_search"]
chosen = "" if search is None else f"chose {search['chosen']:g} in {search['wall_s']:.2f} s"
print(f"{name:<10} {rows:>6}  {label:<18} held-out r² {test['r2']:8.4f}"
      f"  {float(end) - float(start):6.2f} s  {chosen}")
PY
}

lscpu | sed -n 's/^Model name: *//p'
for data in friedman1_100 friedman1_300 friedman1_1000 smooth_50 smooth_100 smooth_1000 \
    linear20_200 linear20_1000 clean_100 clean_500 diabetes_353; do
    [ -f "$data.csv" ] || continue
    few_rows_run "${data%_*}" "${data##*_}" "defaults"
    few_rows_run "${data%_*}" "${data##*_}" "--weight-decay 0" --weight-decay 0
done

#!/usr/bin/env bash
# What `train`'s defaults give a new user: held-out R² and the whole
# command's time on five data sets, for the defaults (lbfgs, rows
# standardized), the same with --no-standardize (the defaults before
# standardizing was), gd (the default before lbfgs, and the default where
# --lr is given), and one tuned first-order command. The rows of
# docs/optimizers.md's "What the defaults give" table.
#
#   benches/defaults.sh [shadertrain]
#
# The data sets, each 10,000 rows with 20% held out (by --seed 0):
#   gen      `gen --rows 10000 --features 8 --seed 1`: y = sin(πx0)·cos(πx1) + 0.5·x2
#   prices   the same rows with the target 100·y + 500 (a price-like scale)
#   houses   the same rows with the target 100000·y + 200000 (a house
#            price's scale)
#   friedman Friedman's #1 (scikit-learn's make_friedman1): 10 features
#            U(0, 1), y = 10·sin(π·x0·x1) + 20·(x2 − 0.5)² + 10·x3 + 5·x4
#            + N(0, 1), by Python's random.Random(0)
#   friedman2 Friedman's #2 (make_friedman2, no noise): x0 U(0, 100), x1
#            U(40π, 560π), x2 U(0, 1), x3 U(1, 11), y = √(x0² + (x1·x2 −
#            1/(x1·x3))²): features far from ±1, by random.Random(1)
# The binary defaults to target/release/shadertrain. Under a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/held_out.sh
held_out_start "${1:-}"

"$bin" gen --rows 10000 --features 8 --seed 1 --out gen.csv > /dev/null
python3 - <<'EOF'
import csv, math, random
rows = list(csv.reader(open("gen.csv")))
for name, scale, offset in [("prices", 100, 500), ("houses", 100000, 200000)]:
    with open(f"{name}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(rows[0])
        for r in rows[1:]:
            w.writerow(r[:-1] + [repr(scale * float(r[-1]) + offset)])
rng = random.Random(0)
with open("friedman.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow([f"x{i}" for i in range(10)] + ["y"])
    for _ in range(10000):
        x = [rng.random() for _ in range(10)]
        y = (10 * math.sin(math.pi * x[0] * x[1]) + 20 * (x[2] - 0.5) ** 2
             + 10 * x[3] + 5 * x[4] + rng.gauss(0, 1))
        w.writerow([repr(v) for v in x] + [repr(y)])
rng = random.Random(1)
with open("friedman2.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["x0", "x1", "x2", "x3", "y"])
    for _ in range(10000):
        x = [rng.uniform(0, 100), rng.uniform(40 * math.pi, 560 * math.pi),
             rng.random(), rng.uniform(1, 11)]
        y = math.sqrt(x[0] ** 2 + (x[1] * x[2] - 1 / (x[1] * x[3])) ** 2)
        w.writerow([repr(v) for v in x] + [repr(y)])
EOF


grep -m1 "model name" /proc/cpuinfo || true
for data in gen prices houses friedman friedman2; do
    held_out_run "$data" "defaults"
    held_out_run "$data" "--no-standardize" --no-standardize
    held_out_run "$data" "--optimizer gd" --optimizer gd
    held_out_run "$data" "adam, --lr auto, batches of 200" --optimizer adam --lr auto --batch-size 200
done

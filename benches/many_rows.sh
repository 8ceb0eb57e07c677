#!/usr/bin/env bash
# What `train`'s defaults give on many rows: from 50,000 training rows, and
# 30 a parameter of the network, on the cpu backend they train adam in
# mini-batches of 200 at --lr auto's rate on a cosine schedule over 20
# epochs; `--optimizer lbfgs` trains the default of fewer rows (200 L-BFGS
# iterations). Held-out R² and the whole
# command's time for each, 20% held out (by --seed 0), rows standardized.
# The rows of docs/optimizers.md's "Many rows" table.
#
#   benches/many_rows.sh [shadertrain]
#
# The data sets, each at 75,000 and 250,000 rows (60,000 and 200,000 of
# them trained on):
#   gen      `gen --features 8 --seed 1`: y = sin(πx0)·cos(πx1) + 0.5·x2
#   friedman Friedman's #1 (scikit-learn's make_friedman1): 10 features
#            U(0, 1), y = 10·sin(π·x0·x1) + 20·(x2 − 0.5)² + 10·x3 + 5·x4
#            + N(0, 1), by Python's random.Random(0); its noise caps the
#            held-out R² near 0.958
#   friedman2 Friedman's #2 (make_friedman2, no noise): x0 U(0, 100), x1
#            U(40π, 560π), x2 U(0, 1), x3 U(1, 11), y = √(x0² + (x1·x2 −
#            1/(x1·x3))²), by random.Random(1)
#   friedman3 Friedman's #3 (make_friedman3, noise σ 0.1): the same x,
#            y = atan((x1·x2 − 1/(x1·x3))/x0) + N(0, 0.01), by
#            random.Random(2)
#   linear30 30 features N(0, 1), y = w·x + 0.5·tanh(x0·x1) + N(0, 0.25),
#            w drawn N(0, 1) by random.Random(30), the rows by
#            random.Random(3)
# and `gen --rows 500000 --features 16 --seed 1`; and at 125,000 rows
#   wide50, wide100  50 or 100 features N(0, 1), of which the target uses
#            ten: y = x0..x4 · (1, 0.8, 0.6, 0.4, 0.2) + sin(2·x5) + x6·x7
#            + 0.5·|x8| + tanh(x9) + N(0, 0.25), by random.Random(4)
#            (the defaults' 64 units give 100,000 training rows 30 and 15
#            a parameter: the first trains adam in mini-batches, the
#            second L-BFGS)
# The binary defaults to target/release/shadertrain. About a minute and a
# half on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/held_out.sh
held_out_start "${1:-}"

for rows in 75000 250000; do
    "$bin" gen --rows "$rows" --features 8 --seed 1 --out "gen_$rows.csv" > /dev/null
    python3 - "$rows" <<'EOF'
import csv, math, random, sys
n = int(sys.argv[1])

def write(name, header, draw, seed):
    rng = random.Random(seed)
    with open(f"{name}_{n}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for _ in range(n):
            w.writerow([repr(v) for v in draw(rng)])

def friedman1(rng):
    x = [rng.random() for _ in range(10)]
    y = (10 * math.sin(math.pi * x[0] * x[1]) + 20 * (x[2] - 0.5) ** 2
         + 10 * x[3] + 5 * x[4] + rng.gauss(0, 1))
    return x + [y]

def friedman_x(rng):
    return [rng.uniform(0, 100), rng.uniform(40 * math.pi, 560 * math.pi),
            rng.random(), rng.uniform(1, 11)]

def friedman2(rng):
    x = friedman_x(rng)
    return x + [math.sqrt(x[0] ** 2 + (x[1] * x[2] - 1 / (x[1] * x[3])) ** 2)]

def friedman3(rng):
    x = friedman_x(rng)
    y = math.atan((x[1] * x[2] - 1 / (x[1] * x[3])) / x[0]) + rng.gauss(0, 0.1)
    return x + [y]

draw = random.Random(30)
weights = [draw.gauss(0, 1) for _ in range(30)]

def linear30(rng):
    x = [rng.gauss(0, 1) for _ in range(30)]
    y = (sum(a * b for a, b in zip(weights, x)) + 0.5 * math.tanh(x[0] * x[1])
         + rng.gauss(0, 0.5))
    return x + [y]

four = ["x0", "x1", "x2", "x3", "y"]
write("friedman", [f"x{i}" for i in range(10)] + ["y"], friedman1, 0)
write("friedman2", four, friedman2, 1)
write("friedman3", four, friedman3, 2)
write("linear30", [f"x{i}" for i in range(30)] + ["y"], linear30, 3)
EOF
done
"$bin" gen --rows 500000 --features 16 --seed 1 --out gen16_500000.csv > /dev/null
python3 - <<'EOF'
import csv, math, random
for features in (50, 100):
    rng = random.Random(4)
    with open(f"wide{features}_125000.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"x{i}" for i in range(features)] + ["y"])
        for _ in range(125000):
            x = [rng.gauss(0, 1) for _ in range(features)]
            y = (sum(a * b for a, b in zip(x, (1, 0.8, 0.6, 0.4, 0.2)))
                 + math.sin(2 * x[5]) + x[6] * x[7] + 0.5 * abs(x[8])
                 + math.tanh(x[9]) + rng.gauss(0, 0.5))
            w.writerow([f"{v:.6g}" for v in x + [y]])
EOF

grep -m1 "model name" /proc/cpuinfo || true
for rows in 75000 250000; do
    for data in gen friedman friedman2 friedman3 linear30; do
        held_out_run "${data}_$rows" "defaults" --backend cpu
        held_out_run "${data}_$rows" "--optimizer lbfgs" --backend cpu --optimizer lbfgs
    done
done
for data in gen16_500000 wide50_125000 wide100_125000; do
    held_out_run "$data" "defaults" --backend cpu
    held_out_run "$data" "--optimizer lbfgs" --backend cpu --optimizer lbfgs
done

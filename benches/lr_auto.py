"""`train --lr auto` against the optimizer's default rate and against the
best rate of a sweep, judged by time to a target loss.

    python3 benches/lr_auto.py --binary target/release/shadertrain \
        --workdir /tmp/lr_auto [--backend cpu] [--repeats 3] [--only NAME] [--json out.json]

Every run is `train --target-loss T --epochs MAX --json` from the same
initial parameters (--seed 0). The time is the whole process's wall time,
so `--lr auto`'s range test is counted; the data are read and the model
built alike in every run. A run that stops at MAX epochs above T did not
reach the target. For each case the script prints:

- default: the optimizer's default rate (0.1 for gd, 0.001 for adam);
- auto: `--lr auto`, with the rate it chose and its range test's share
  of the time;
- sweep best: the rate of SWEEP that reached T fastest (each rate run once),
  and the rates that reached it at all.

Medians over --repeats runs for default and auto. The data sets are made
here: S1's CSV (`shadertrain gen --rows 65536 --features 16 --seed 0`)
and "scaled", 4,096 rows of 8 features whose target spans about ±25
(y = 20·x0·x1 + 5·sin(3·x2) + 2·x3², x ~ U(−1, 1), numpy seed 1), where
the default rates are far from right.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SWEEP = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0]

# (name, data set, optimizer, extra flags, target loss, most epochs)
CASES = [
    ("S1 adam", "s1", "adam", [], 2e-2, 1500),
    ("S1 adam, batches of 200", "s1", "adam", ["--batch-size", "200"], 2e-3, 100),
    ("S1 momentum", "s1", "momentum", [], 2.4e-1, 1500),
    ("scaled adam", "scaled", "adam", ["--activation", "tanh"], 2e-2, 3000),
    ("scaled gd", "scaled", "gd", ["--activation", "tanh"], 1.0, 3000),
]


def make_data(binary, workdir):
    s1 = os.path.join(workdir, "s1.csv")
    if not os.path.exists(s1):
        subprocess.run(
            [binary, "gen", "--rows", "65536", "--features", "16", "--seed", "0",
             "--out", s1],
            check=True, capture_output=True)
    scaled = os.path.join(workdir, "scaled.csv")
    if not os.path.exists(scaled):
        import numpy as np
        r = np.random.default_rng(1)
        x = r.uniform(-1, 1, (4096, 8))
        y = 20 * x[:, 0] * x[:, 1] + 5 * np.sin(3 * x[:, 2]) + 2 * x[:, 3] ** 2
        with open(scaled, "w") as f:
            f.write(",".join([f"x{i}" for i in range(8)] + ["y"]) + "\n")
            for row, target in zip(x, y):
                f.write(",".join(f"{v:.6f}" for v in row) + f",{target:.6f}\n")
    return {"s1": s1, "scaled": scaled}


def run(binary, workdir, backend, data, opt, extra, target, epochs, lr):
    summary = os.path.join(workdir, "run.json")
    args = [binary, "train", "--data", data, "--no-standardize", "--backend", backend,
            "--optimizer", opt, "--target-loss", repr(target),
            "--epochs", str(epochs), "--json", summary, "--quiet"] + extra
    if lr is not None:
        args += ["--lr", lr if isinstance(lr, str) else repr(lr)]
    t0 = time.perf_counter()
    p = subprocess.run(args, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        return {"reached": False, "wall_s": wall, "error": p.stderr.strip()}
    with open(summary) as f:
        v = json.load(f)
    found = v.get("lr_range_test")
    return {
        "reached": v["stop"] == "target_reached",
        "wall_s": wall,
        "epochs": v["epochs"],
        "final_loss": v["final_loss"],
        "lr": v["options"]["optimizer"]["lr"],
        "test_s": found["wall_s"] if found else 0.0,
        "test_epochs": found["epochs"] if found else 0,
    }


def arguments():
    """The options every script over CASES takes."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/shadertrain")
    ap.add_argument("--workdir", default="/tmp/lr_auto")
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--only", help="run only the cases whose name contains this")
    ap.add_argument("--json")
    return ap


def cases(a):
    """The data sets made, then each case --only keeps: (name, CSV,
    optimizer, extra flags, target loss, most epochs)."""
    os.makedirs(a.workdir, exist_ok=True)
    data = make_data(a.binary, a.workdir)
    for name, which, opt, extra, target, most in CASES:
        if not a.only or a.only in name:
            yield name, data[which], opt, list(extra), target, most


def write_json(a, results):
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


def median_of(runs):
    reached = [r for r in runs if r["reached"]]
    if len(reached) < len(runs):
        return None
    return statistics.median(r["wall_s"] for r in runs)


def main():
    ap = arguments()
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    results = []
    for name, csv, opt, extra, target, epochs in cases(a):
        go = lambda lr: run(a.binary, a.workdir, a.backend, csv, opt,
                            extra, target, epochs, lr)
        default = [go(None) for _ in range(a.repeats)]
        auto = [go("auto") for _ in range(a.repeats)]
        sweep = {lr: go(lr) for lr in SWEEP}
        reached = {lr: r for lr, r in sweep.items() if r["reached"]}
        best = min(reached, key=lambda lr: reached[lr]["wall_s"]) if reached else None

        def say(runs):
            m = median_of(runs)
            r = runs[0]
            if m is None:
                return f"not reached in {epochs} epochs (loss {r.get('final_loss', float('nan')):.3e})"
            return f"{m:.2f} s ({r['epochs']} epochs)"

        a_runs = auto[0]
        line = (f"{name}, target {target:g}: default lr {default[0].get('lr')}: {say(default)}; "
                f"auto lr {a_runs.get('lr')}: {say(auto)}, range test "
                f"{statistics.median(r['test_s'] for r in auto):.2f} s "
                f"({a_runs.get('test_epochs')} epochs); ")
        if best is None:
            line += "no swept rate reached it"
        else:
            line += (f"sweep best lr {best:g}: {reached[best]['wall_s']:.2f} s "
                     f"({reached[best]['epochs']} epochs), reached by "
                     f"{', '.join(f'{lr:g}' for lr in reached)}")
        print(line, flush=True)
        results.append({"case": name, "target": target, "default": default,
                        "auto": auto, "sweep": {repr(k): v for k, v in sweep.items()}})
    write_json(a, results)


if __name__ == "__main__":
    sys.exit(main())

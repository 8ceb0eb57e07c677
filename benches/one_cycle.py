"""`--lr-schedule one-cycle` against the best constant rate, on a fixed
budget of epochs.

    python3 benches/one_cycle.py --binary target/release/shadertrain \
        --workdir /tmp/lr_auto [--backend cpu] [--only NAME] [--json out.json]

The cases and data sets are `benches/lr_auto.py`'s. For each case:

1. Constant rates: every rate of lr_auto.SWEEP runs with the case's
   target loss; the fastest to reach it sets the budget T, the epochs it
   took.
2. One cycle over T epochs (`--lr-schedule one-cycle --epochs T`) at
   every peak of the sweep, at a tenth of the range test's lowest loss's
   rate, and with `--lr auto`, which for one cycle takes that lowest
   loss's rate itself as the peak.

It prints, per case, the budget, the best constant rate's loss after T
epochs, and for each peak the loss one cycle ends at after T epochs and
the first epoch at which it reached the target, if it did. Every run
starts from seed 0's initial parameters.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lr_auto  # noqa: E402


def train(binary, workdir, backend, data, opt, extra, epochs, lr, target=None, schedule=None):
    """One run of `epochs` epochs at `lr` (a string: a number or "auto"), on
    `--lr-schedule schedule` if given; None where it failed, else its
    outcome."""
    summary = os.path.join(workdir, "cycle.json")
    args = [binary, "train", "--data", data, "--no-standardize", "--backend", backend,
            "--optimizer", opt, "--epochs", str(epochs), "--lr", lr,
            "--json", summary, "--quiet"] + extra
    if target is not None:
        args += ["--target-loss", repr(target)]
    if schedule is not None:
        args += ["--lr-schedule", schedule]
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        return None
    with open(summary) as f:
        v = json.load(f)
    return {"reached": v["stop"] == "target_reached", "epochs": v["epochs"],
            "final_loss": v["final_loss"], "lr": v["options"]["optimizer"]["lr"],
            "test": v.get("lr_range_test")}


def main():
    a = lr_auto.arguments().parse_args()
    results = []
    for name, csv, opt, extra, target, most in lr_auto.cases(a):
        go = lambda epochs, lr, **kw: train(a.binary, a.workdir, a.backend, csv,
                                            opt, extra, epochs, lr, **kw)
        constant = {lr: go(most, repr(lr), target=target) for lr in lr_auto.SWEEP}
        reached = {lr: r for lr, r in constant.items() if r and r["reached"]}
        if not reached:
            print(f"{name}: no constant rate reached {target:g}")
            continue
        best = min(reached, key=lambda lr: reached[lr]["epochs"])
        budget = reached[best]["epochs"]
        at_budget = go(budget, repr(best))
        lowest = go(1, "auto")["test"]["lowest_lr"]
        peaks = {f"{lr:g}": repr(lr) for lr in lr_auto.SWEEP}
        peaks[f"a tenth of lowest {lowest / 10:.2g}"] = f"{lowest / 10:.2g}"
        peaks[f"auto (lowest) {lowest:.2g}"] = "auto"
        cycles = {}
        for label, lr in peaks.items():
            end = go(budget, lr, schedule="one-cycle")
            hit = go(budget, lr, target=target, schedule="one-cycle")
            cycles[label] = {"final_loss": end and end["final_loss"],
                             "reached_at": hit["epochs"] if hit and hit["reached"] else None}
        def say(c):
            if c["final_loss"] is None:
                return "failed"
            at = f", target at {c['reached_at']}" if c["reached_at"] else ""
            return f"{c['final_loss']:.3g}{at}"
        print(f"{name}, target {target:g}: budget {budget} epochs (constant {best:g}); "
              f"constant {best:g} ends at {at_budget['final_loss']:.3g}; one cycle: "
              + "; ".join(f"{k}: {say(c)}" for k, c in cycles.items()), flush=True)
        results.append({"case": name, "target": target, "budget": budget,
                        "constant_lr": best, "constant_final": at_budget["final_loss"],
                        "cycles": cycles})
    lr_auto.write_json(a, results)


if __name__ == "__main__":
    sys.exit(main())

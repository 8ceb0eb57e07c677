"""What `--lr auto` should divide its range test's lowest-loss rate by, for
each schedule.

    python3 benches/lr_auto_schedules.py --binary target/release/shadertrain \
        --workdir /tmp/lr_auto [--backend cpu] [--only NAME] [--json out.json]

The cases and data sets are `benches/lr_auto.py`'s. For each case:

1. Budget: every rate of lr_auto.SWEEP at a constant rate, to the case's
   target; T is the epochs of the fastest (as in `benches/one_cycle.py`).
2. The range test's lowest-loss rate α* (`--lr auto`'s, from one epoch's
   run).
3. For each schedule of SCHEDULES and each budget of T and 2·T epochs
   (`--epochs`, which a cosine's and a one cycle's length follows), runs
   at α*/d for every d of DIVISORS, and with `--lr auto` itself (its
   rate, and the rates of runs that diverged and were trained again
   lower): the epoch at which the target was reached, or the loss after
   the budget ("blew up" where the run failed).

Every run starts from seed 0's initial parameters, once; epochs are exact.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lr_auto  # noqa: E402
from clipping import outcome  # noqa: E402
from one_cycle import train  # noqa: E402

SCHEDULES = ["constant", "cosine", "plateau", "one-cycle"]
DIVISORS = [10, 5, 3, 2, 1]
BUDGETS = [1, 2]


def main():
    a = lr_auto.arguments().parse_args()
    results = []
    for name, csv, opt, extra, target, most in lr_auto.cases(a):
        def run(epochs, lr, **kw):
            return train(a.binary, a.workdir, a.backend, csv, opt, extra, epochs, lr, **kw)

        sweep = {lr: run(most, repr(lr), target=target) for lr in lr_auto.SWEEP}
        reached = {lr: r for lr, r in sweep.items() if r and r["reached"]}
        if not reached:
            print(f"{name}: no constant rate reached {target:g} in {most} epochs", flush=True)
            continue
        best = min(reached, key=lambda lr: reached[lr]["epochs"])
        budget = reached[best]["epochs"]
        lowest = run(1, "auto")["test"]["lowest_lr"]
        result = {"case": name, "target": target, "budget": budget, "constant_lr": best,
                  "lowest_lr": lowest, "runs": {}}
        print(f"{name}, target {target:g}: T = {budget} epochs (constant {best:g}); "
              f"lowest loss's rate {lowest:.2g}", flush=True)
        for schedule in SCHEDULES:
            for times in BUDGETS:
                cells = []
                for d in DIVISORS:
                    lr = float(f"{lowest / d:.2g}")
                    v = run(budget * times, repr(lr), target=target, schedule=schedule)
                    cells.append(f"÷{d} ({lr:g}): {outcome(v)}")
                    result["runs"][f"{schedule} {times}T /{d}"] = {"lr": lr,
                                                                    "outcome": outcome(v)}
                # --lr auto itself: its divisor, and its retries after a
                # divergence.
                v = run(budget * times, "auto", target=target, schedule=schedule)
                retried = [r["lr"] for r in (v["test"]["retries"] if v else [])]
                after = f", after {', '.join(f'{r:g}' for r in retried)} diverged"
                cells.append(f"--lr auto ({v['lr']:g}{after if retried else ''}): {outcome(v)}"
                             if v else f"--lr auto: {outcome(v)}")
                result["runs"][f"{schedule} {times}T auto"] = {
                    "lr": v and v["lr"], "retries": retried, "outcome": outcome(v)}
                print(f"  {schedule}, {times}T = {budget * times}: " + "; ".join(cells),
                      flush=True)
        results.append(result)
    lr_auto.write_json(a, results)


if __name__ == "__main__":
    main()

"""`--clip-grad-norm` against no clipping, on `benches/lr_auto.py`'s cases.

    python3 benches/clipping.py --binary target/release/shadertrain \
        --workdir /tmp/lr_auto [--backend cpu] [--only NAME] [--json out.json]

The cases and data sets are `benches/lr_auto.py`'s (S1's CSV, and the
"scaled" set whose target spans about ±25). For each case it prints:

1. Sweep: every rate of lr_auto.SWEEP to the case's target (or its most
   epochs), without clipping and with each max_norm of CLIPS: the rates
   that reached the target and the fastest of them, in epochs and seconds.
2. Auto: `--lr auto` to the target without clipping and with each of
   AUTO_CLIPS (the range test runs clipped too): the rate, and the epochs.
3. One cycle: the budget T is the epochs of the fastest unclipped rate of
   the sweep; `--lr-schedule one-cycle` over T epochs at peaks of the
   range test's lowest loss's rate divided by each of DIVISORS, without
   clipping and with C = 1: the epoch at the target, or the loss after T.

Every run starts from seed 0's initial parameters, once (epochs are exact,
seconds are one run's).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lr_auto  # noqa: E402
from one_cycle import train  # noqa: E402

CLIPS = [None, 0.1, 1.0, 10.0]
AUTO_CLIPS = [None, 1.0, 0.1]
DIVISORS = [10, 5, 3, 2, 1]


def clip_flags(clip):
    return [] if clip is None else ["--clip-grad-norm", repr(clip)]


def label(clip):
    return "no clipping" if clip is None else f"C = {clip:g}"


def outcome(v):
    """one_cycle.train's result, in words (None: the run blew up)."""
    if v is None:
        return "blew up"
    if v["reached"]:
        return f"{v['epochs']} epochs"
    return f"not reached ({v['final_loss']:.3g})"


def main():
    a = lr_auto.arguments().parse_args()
    results = []
    for name, csv, opt, extra, target, epochs in lr_auto.cases(a):
        def run(epochs, lr, clip=None, **kw):
            return train(a.binary, a.workdir, a.backend, csv, opt,
                         extra + clip_flags(clip), epochs, lr, **kw)

        result = {"case": name, "target": target, "sweep": {}, "auto": {}, "cycle": {}}
        budget = None
        for clip in CLIPS:
            sweep = {lr: lr_auto.run(a.binary, a.workdir, a.backend, csv, opt,
                                     extra + clip_flags(clip), target, epochs, repr(lr))
                     for lr in lr_auto.SWEEP}
            reached = {lr: r for lr, r in sweep.items() if r["reached"]}
            line = f"{name}, target {target:g}, sweep, {label(clip)}: "
            if reached:
                best = min(reached, key=lambda lr: reached[lr]["epochs"])
                r = reached[best]
                if clip is None:
                    budget = r["epochs"]
                line += (f"best lr {best:g}: {r['epochs']} epochs, {r['wall_s']:.2f} s; "
                         f"reached by {', '.join(f'{lr:g}' for lr in reached)}")
            else:
                line += f"no swept rate reached it in {epochs} epochs"
            print(line, flush=True)
            result["sweep"][label(clip)] = {repr(k): v for k, v in sweep.items()}
        for clip in AUTO_CLIPS:
            v = run(epochs, "auto", clip, target=target)
            lr = v["lr"] if v else None
            print(f"{name}, target {target:g}, --lr auto, {label(clip)}: lr {lr}, {outcome(v)}",
                  flush=True)
            result["auto"][label(clip)] = {"lr": lr, "outcome": outcome(v)}
        results.append(result)
        test = run(1, "auto")
        if budget is None or test is None:
            continue
        lowest = test["test"]["lowest_lr"]
        cells = []
        for d in DIVISORS:
            peak = float(f"{lowest / d:.2g}")
            for clip in [None, 1.0]:
                v = run(budget, repr(peak), clip, target=target, schedule="one-cycle")
                cells.append(f"÷{d} ({peak:g}), {label(clip)}: {outcome(v)}")
                result["cycle"][f"/{d} {label(clip)}"] = {"peak": peak, "outcome": outcome(v)}
        print(f"{name}, target {target:g}, one cycle over {budget} epochs, lowest loss's rate "
              f"{lowest:.2g}: " + "; ".join(cells), flush=True)
    lr_auto.write_json(a, results)


if __name__ == "__main__":
    main()

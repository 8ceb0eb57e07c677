"""`--clip-grad-norm` against no clipping: the epochs and seconds to a
target loss at every rate of a sweep.

    python3 benches/clipping.py --binary target/release/shadertrain \
        --workdir /tmp/lr_auto [--backend cpu] [--json out.json]

The cases and data sets are `benches/lr_auto.py`'s (S1's CSV, and the
"scaled" set whose target spans about ±25). For each case, every rate of
lr_auto.SWEEP runs to the case's target (or its most epochs) without
clipping and with each max_norm of CLIPS. It prints, per case and
clipping, the rates that reached the target and the fastest of them, in
epochs and seconds; every run starts from seed 0's initial parameters,
once (epochs are exact, seconds are one run's).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lr_auto  # noqa: E402

CLIPS = [None, 0.1, 1.0, 10.0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/shadertrain")
    ap.add_argument("--workdir", default="/tmp/lr_auto")
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--only", help="run only the cases whose name contains this")
    ap.add_argument("--json")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    data = lr_auto.make_data(a.binary, a.workdir)
    results = []
    for name, which, opt, extra, target, epochs in lr_auto.CASES:
        if a.only and a.only not in name:
            continue
        for clip in CLIPS:
            more = list(extra) + ([] if clip is None else ["--clip-grad-norm", repr(clip)])
            sweep = {lr: lr_auto.run(a.binary, a.workdir, a.backend, data[which], opt,
                                     more, target, epochs, repr(lr))
                     for lr in lr_auto.SWEEP}
            reached = {lr: r for lr, r in sweep.items() if r["reached"]}
            label = "no clipping" if clip is None else f"clip {clip:g}"
            line = f"{name}, target {target:g}, {label}: "
            if reached:
                best = min(reached, key=lambda lr: reached[lr]["epochs"])
                r = reached[best]
                line += (f"best lr {best:g}: {r['epochs']} epochs, {r['wall_s']:.2f} s; "
                         f"reached by {', '.join(f'{lr:g}' for lr in reached)}")
            else:
                line += f"no swept rate reached it in {epochs} epochs"
            print(line, flush=True)
            results.append({"case": name, "target": target, "clip": clip,
                            "sweep": {repr(k): v for k, v in sweep.items()}})
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()

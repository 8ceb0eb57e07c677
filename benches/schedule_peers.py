"""Learning-rate schedules on both sides: shadertrain's mini-batch momentum
and Adam against PyTorch's, each with a constant rate, with a cosine over
the whole run and with a plateau schedule, for a fixed number of epochs on
the same CSV (S1's shape: `shadertrain gen --rows 65536 --features 16
--seed 0`, 16 -> 64 -> 1, tanh, batches of 200).

    python3 benches/schedule_peers.py --csv s1.csv [--epochs 1000] \
        [--binary target/release/shadertrain] [--threads 2] [--budget 300] \
        [--only torch]

- shadertrain: `train --batch-size 200 --epochs E [--lr-schedule cosine |
  --lr-schedule plateau --lr-min M] --json`; the times come from the
  summary's milestones, and the loss after epoch k is measured at the start
  of epoch k + 1 (so each milestone also counts the epoch after it).
- PyTorch: torch.optim.SGD(momentum=0.9) or Adam, a fresh `randperm` each
  epoch, and `CosineAnnealingLR(T_max=E, eta_min=0)` stepped once per epoch
  for the cosine, or `ReduceLROnPlateau(factor=0.1, patience=10,
  threshold=1e-4, min_lr=M)` stepped after each epoch with its training
  MSE; that MSE is measured after each epoch with the clock paused. A run
  stops at E epochs or after --budget seconds.

Both sides start from their own seeded initial weights, so single runs
differ by more than the schedule; one run each, as BENCHMARKS.md reports.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

from time_to_accuracy import BATCH, HIDDEN, load, torch_mini_batch_epoch, torch_net

TARGETS = (1e-3, 1e-4, 1e-5)
RULES = (("momentum", 0.1), ("adam", 0.01))
SCHEDULES = ("constant", "cosine", "plateau")
# The plateau schedule's floor per optimizer (BENCHMARKS.md, "The plateau
# schedule"): without one it cuts the rate to about 0 in mini-batches.
PLATEAU_MIN = {"momentum": 3e-3, "adam": 3e-4}


def shadertrain(args, optimizer, lr, schedule):
    with tempfile.TemporaryDirectory() as tmp:
        summary = os.path.join(tmp, "s.json")
        cmd = [
            args.binary, "train", "--data", args.csv, "--no-standardize", "--hidden", str(HIDDEN),
            "--activation", "tanh", "--optimizer", optimizer, "--lr", str(lr),
            "--backend", "cpu", "--threads", str(args.threads), "--batch-size", str(BATCH),
            "--epochs", str(args.epochs), "--max-time", str(args.budget),
            "--json", summary, "-q",
        ]
        if schedule == "cosine":
            cmd += ["--lr-schedule", "cosine"]
        if schedule == "plateau":
            cmd += ["--lr-schedule", "plateau", "--lr-min", str(PLATEAU_MIN[optimizer])]
        subprocess.run(cmd, check=True)
        with open(summary) as f:
            s = json.load(f)
    to = {t: m["wall_s"] for m in s["milestones"] for t in TARGETS
          if math.isclose(m["loss"], t)}
    return {"to": to, "best": s["best_loss"], "final": s["final_loss"],
            "epochs": s["epochs"], "wall_s": s["wall_s"]}


def torch_mini_batch(args, x, y, optimizer, lr, schedule):
    import torch

    xt, yt, net = torch_net(x, y)
    if optimizer == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=lr)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    sched, plateau = None, None
    if schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    if schedule == "plateau":
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, factor=0.1, patience=10, threshold=1e-4, min_lr=PLATEAU_MIN[optimizer])
    order = torch.Generator().manual_seed(0)
    spent, losses, to = 0.0, [], {}
    for _ in range(args.epochs):
        seconds, mse = torch_mini_batch_epoch(net, opt, xt, yt, order)
        if sched:
            sched.step()
        if plateau:
            plateau.step(mse)
        spent += seconds
        losses.append(mse)
        for t in TARGETS:
            if losses[-1] <= t and t not in to:
                to[t] = spent
        if spent > args.budget:
            break
    return {"to": to, "best": min(losses), "final": losses[-1], "epochs": len(losses),
            "wall_s": spent}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default="target/release/shadertrain")
    ap.add_argument("--csv", required=True)
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=float, default=300.0)
    ap.add_argument("--only", default="", help="comma-separated trainer names to run")
    args = ap.parse_args()
    x, y = load(args.csv)
    runs = []
    for optimizer, lr in RULES:
        for schedule in SCHEDULES:
            how = f"{optimizer} lr {lr}, {schedule}"
            runs.append((f"shadertrain {how}",
                         (lambda o, l, s: lambda: shadertrain(args, o, l, s))(
                             optimizer, lr, schedule)))
            runs.append((f"torch {how}",
                         (lambda o, l, s: lambda: torch_mini_batch(args, x, y, o, l, s))(
                             optimizer, lr, schedule)))
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError as e:
        print(f"notice: PyTorch missing ({e}); its runs fail", file=sys.stderr)
    only = [s for s in args.only.split(",") if s]
    for name, run in runs:
        if only and not any(o in name for o in only):
            continue
        r = run()
        to = "  ".join(f"to {t:g}: " + (f"{r['to'][t]:.2f} s" if t in r["to"] else "never")
                       for t in TARGETS)
        print(f"{name:42} {to}  best {r['best']:.3e}  final {r['final']:.3e}  "
              f"{r['epochs']} epochs in {r['wall_s']:.1f} s", flush=True)


if __name__ == "__main__":
    main()

"""Time to accuracy: wall seconds until the training MSE first reaches 1e-2
and 1e-3, and the best MSE within a time budget, for shadertrain's
optimizers and for the peers a user would compare them with, on the same
CSV (S1's shape: `shadertrain gen --rows 65536 --features 16 --seed 0`,
16 -> 64 -> 1, tanh).

    python3 benches/time_to_accuracy.py --binary target/release/shadertrain \
        --csv s1.csv [--budget 60] [--sweep-budget 10] [--threads 2] \
        [--backend cpu] [--only adam,lbfgs] [--json out.json]

Each trainer's learning rate is chosen by the same small sweep (SWEEP
below), each point run for --sweep-budget seconds and ranked by time to
1e-3, then time to 1e-2, then the best MSE; the chosen rate is then run for
--budget seconds. Clocks start after the data and the model are built.

- shadertrain: `train --optimizer X --max-time B --json`; the times come
  from the summary's `milestones` (the wall time at the end of the batch
  in which the loss first fell to each power of ten; on the cpu backend a
  batch is one epoch, or one L-BFGS iteration). With mini-batches
  (`--batch-size 200`, gd, momentum and adam) the loss after epoch k is
  measured at the start of epoch k + 1, so each milestone also counts
  the epoch after it.
- sklearn MLPRegressor, solver lbfgs (alpha=0; the loss of every function
  evaluation is recorded) and solver adam (mini-batches of 200; the training
  MSE is measured after each epoch with the clock paused).
- PyTorch, full batch: Adam (the loss before each step) and LBFGS with the
  strong-Wolfe line search (the loss of every closure call).
- PyTorch, Adam in mini-batches of 200 (a fresh `randperm` each epoch;
  the training MSE measured after each epoch with the clock paused, as for
  sklearn).
- One cycle in mini-batches of 200: shadertrain's `--lr-schedule
  one-cycle --epochs T` (adam and momentum) and PyTorch's Adam with
  OneCycleLR (cycle_momentum=False) stepped once per epoch, as shadertrain
  steps its schedules. Their sweep is over (peak, T) pairs (CYCLES); a run
  ends after its T epochs, so "best" is the loss at the cycle's end.
- `--lr auto` in mini-batches of 200 (adam): at a constant rate, and with
  one cycle over T epochs (AUTO_CYCLES; its peak is then the range test's
  lowest loss's rate). No rate is swept; the range test's time is added
  to every milestone, so the clock covers choosing the rate too.

Peers that are not importable are reported as missing, not silently skipped.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

TARGETS = (1e-2, 1e-3)
SWEEP = {
    "gd": [0.1, 0.3, 0.5],
    "momentum": [0.01, 0.03, 0.1],
    "nesterov": [0.01, 0.03, 0.1],
    "adam": [0.001, 0.003, 0.01, 0.03],
    "lbfgs": [0.5, 1.0],
}
HIDDEN = 64
BATCH = 200
MINI_BATCH = ("gd", "momentum", "adam")
# One cycle's (peak, epochs) sweep, per optimizer.
CYCLES = {
    "adam": [(peak, t) for peak in (0.03, 0.1, 0.3) for t in (10, 20, 40)],
    "momentum": [(peak, t) for peak in (0.1, 0.3, 1.0) for t in (10, 20, 40)],
}


# `--lr auto` with one cycle: the cycle's lengths swept.
AUTO_CYCLES = [("auto", 20), ("auto", 40)]


class Budget(Exception):
    """Raised inside a peer's loop once its time budget is spent."""


def summarise(trace, budget):
    """trace: [(seconds, mse)] in time order."""
    out = {"to": {}, "best": math.inf}
    for t, mse in trace:
        if t > budget:
            break
        mse = float(mse)
        out["best"] = min(out["best"], mse)
        for target in TARGETS:
            if mse <= target and target not in out["to"]:
                out["to"][target] = t
    return out


def rank(result):
    to = result["to"]
    return tuple(to.get(t, math.inf) for t in reversed(TARGETS)) + (result["best"],)


def shadertrain(args, optimizer, lr, budget, batch=None, cycle=False):
    """With `cycle`, lr is (peak, T): one cycle over T epochs."""
    epochs = 1000000000
    if cycle:
        lr, epochs = lr
    with tempfile.TemporaryDirectory() as tmp:
        summary = os.path.join(tmp, "s.json")
        cmd = [
            args.binary, "train", "--data", args.csv, "--no-standardize", "--hidden", str(HIDDEN),
            "--activation", "tanh", "--optimizer", optimizer, "--lr", str(lr),
            "--backend", args.backend, "--threads", str(args.threads),
            "--epochs", str(epochs), "--max-time", str(budget), "--json", summary, "-q",
        ]
        if batch:
            cmd += ["--batch-size", str(batch)]
        if cycle:
            cmd += ["--lr-schedule", "one-cycle"]
        done = subprocess.run(cmd)
        # A run that diverged exits non-zero but still writes its summary.
        if done.returncode != 0 and not os.path.exists(summary):
            raise RuntimeError(f"{' '.join(cmd)} failed with status {done.returncode}")
        with open(summary) as f:
            s = json.load(f)
    out = {"to": {}, "best": s["best_loss"], "epochs": s["epochs"],
           "evaluations": s["evaluations"], "backend": s["backend"],
           "contention": s.get("contention")}
    # --lr auto: the range test, and any runs at its rates that diverged,
    # ran before the run's clock started.
    found = s.get("lr_range_test") or {}
    test_s = found.get("wall_s", 0.0) + sum(r["wall_s"] for r in found.get("retries", []))
    for m in s["milestones"]:
        for target in TARGETS:
            at = m["wall_s"] + test_s
            if math.isclose(m["loss"], target) and at <= budget:
                out["to"][target] = at
    return out


def load(csv):
    data = np.loadtxt(csv, delimiter=",", skiprows=1, dtype=np.float32)
    return data[:, :-1], data[:, -1]


def sklearn_lbfgs(x, y, lr, budget):
    from sklearn.neural_network import MLPRegressor

    trace = []

    class Traced(MLPRegressor):
        def _loss_grad_lbfgs(self, *a, **k):
            loss, grad = super()._loss_grad_lbfgs(*a, **k)
            # sklearn's squared error is halved; alpha = 0 adds nothing.
            trace.append((time.perf_counter() - start, 2.0 * loss))
            if trace[-1][0] > budget:
                raise Budget
            return loss, grad

    m = Traced(hidden_layer_sizes=(HIDDEN,), activation="tanh", solver="lbfgs", alpha=0.0,
               max_iter=10**9, max_fun=10**9, tol=0.0, random_state=0)
    start = time.perf_counter()
    try:
        m.fit(x, y)
    except Budget:
        pass
    return summarise(trace, budget)


def sklearn_adam(x, y, lr, budget):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    warnings.simplefilter("ignore", ConvergenceWarning)
    m = MLPRegressor(hidden_layer_sizes=(HIDDEN,), activation="tanh", solver="adam", alpha=0.0,
                     batch_size=200, learning_rate_init=lr, max_iter=1, warm_start=True,
                     tol=0.0, n_iter_no_change=10**9, shuffle=True, random_state=0)
    trace, spent = [], 0.0
    while spent <= budget:
        t0 = time.perf_counter()
        m.fit(x, y)
        spent += time.perf_counter() - t0
        trace.append((spent, float(np.mean((m.predict(x) - y) ** 2))))
    return summarise(trace, budget)


def torch_net(x, y):
    """The data as tensors and a fresh F -> HIDDEN -> 1 tanh network (seed 0)."""
    import torch

    torch.manual_seed(0)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).unsqueeze(1)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], HIDDEN), torch.nn.Tanh(),
                              torch.nn.Linear(HIDDEN, 1))
    return xt, yt, net


def torch_run(x, y, lr, budget, optimizer):
    import torch

    xt, yt, net = torch_net(x, y)
    trace = []
    start = time.perf_counter()

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(xt), yt)
        loss.backward()
        trace.append((time.perf_counter() - start, loss.item()))
        if trace[-1][0] > budget:
            raise Budget
        return loss

    if optimizer == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=lr)
    else:
        opt = torch.optim.LBFGS(net.parameters(), lr=lr, history_size=10, max_iter=100,
                                line_search_fn="strong_wolfe", tolerance_grad=0.0,
                                tolerance_change=0.0)
    start = time.perf_counter()
    try:
        while True:
            opt.step(closure)
    except Budget:
        pass
    return summarise(trace, budget)


def torch_mini_batch_epoch(net, opt, xt, yt, order):
    """One epoch in shuffled batches of BATCH rows (a `randperm` drawn from
    the generator `order`); returns its seconds and then the full MSE,
    measured with the clock stopped."""
    import torch

    t0 = time.perf_counter()
    perm = torch.randperm(len(yt), generator=order)
    for i in range(0, len(yt), BATCH):
        rows = perm[i:i + BATCH]
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(xt[rows]), yt[rows]).backward()
        opt.step()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        return seconds, torch.nn.functional.mse_loss(net(xt), yt).item()


def torch_mini_batch_adam(x, y, lr, budget, cycle=False):
    """With `cycle`, lr is (peak, T): OneCycleLR over T epochs, stepped
    after each epoch, and the run ends after T epochs."""
    import torch

    xt, yt, net = torch_net(x, y)
    epochs = math.inf
    if cycle:
        lr, epochs = lr
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    schedule = None
    if cycle:
        schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs,
                                                       cycle_momentum=False)
    order = torch.Generator().manual_seed(0)
    trace, spent = [], 0.0
    while spent <= budget and len(trace) < epochs:
        seconds, mse = torch_mini_batch_epoch(net, opt, xt, yt, order)
        spent += seconds
        trace.append((spent, mse))
        if schedule and len(trace) < epochs:
            t0 = time.perf_counter()
            schedule.step()
            spent += time.perf_counter() - t0
    return summarise(trace, budget)


def peers(args, x, y):
    """(name, sweep of lr, run(lr, budget)) for every importable peer."""
    found = []
    try:
        import sklearn  # noqa: F401
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
        found.append(("sklearn lbfgs", [None], lambda lr, b: sklearn_lbfgs(x, y, lr, b)))
        found.append(("sklearn adam", SWEEP["adam"], lambda lr, b: sklearn_adam(x, y, lr, b)))
    except ImportError as e:
        print(f"notice: sklearn peers missing ({e})", file=sys.stderr)
    try:
        import torch
        torch.set_num_threads(args.threads)
        found.append(("torch adam", SWEEP["adam"], lambda lr, b: torch_run(x, y, lr, b, "adam")))
        found.append(("torch lbfgs", SWEEP["lbfgs"],
                      lambda lr, b: torch_run(x, y, lr, b, "lbfgs")))
        found.append((f"torch adam, mini-batches of {BATCH}", SWEEP["adam"],
                      lambda lr, b: torch_mini_batch_adam(x, y, lr, b)))
        found.append((f"torch adam one cycle, mini-batches of {BATCH}", CYCLES["adam"],
                      lambda lr, b: torch_mini_batch_adam(x, y, lr, b, cycle=True)))
    except ImportError as e:
        print(f"notice: PyTorch peers missing ({e})", file=sys.stderr)
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default="target/release/shadertrain")
    ap.add_argument("--csv", required=True)
    ap.add_argument("--budget", type=float, default=60.0)
    ap.add_argument("--sweep-budget", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--only", action="append", default=[],
                    help="run only the trainers whose name contains one of these comma-separated "
                         "texts; a text that is part of a name as given, commas and all "
                         "('cpu adam, mini-batches'), is not split; may be given again")
    ap.add_argument("--json")
    args = ap.parse_args()
    x, y = load(args.csv)
    trainers = [(f"shadertrain {args.backend} {o}", SWEEP[o],
                 (lambda o: lambda lr, b: shadertrain(args, o, lr, b))(o)) for o in SWEEP]
    trainers += [(f"shadertrain {args.backend} {o}, mini-batches of {BATCH}", SWEEP[o],
                  (lambda o: lambda lr, b: shadertrain(args, o, lr, b, BATCH))(o))
                 for o in MINI_BATCH]
    trainers += [(f"shadertrain {args.backend} {o} one cycle, mini-batches of {BATCH}",
                  CYCLES[o],
                  (lambda o: lambda lr, b: shadertrain(args, o, lr, b, BATCH, cycle=True))(o))
                 for o in CYCLES]
    trainers += [
        (f"shadertrain {args.backend} adam --lr auto, mini-batches of {BATCH}", ["auto"],
         lambda lr, b: shadertrain(args, "adam", lr, b, BATCH)),
        (f"shadertrain {args.backend} adam --lr auto one cycle, mini-batches of {BATCH}",
         AUTO_CYCLES, lambda lr, b: shadertrain(args, "adam", lr, b, BATCH, cycle=True)),
    ]
    trainers += peers(args, x, y)
    names = [name for name, _, _ in trainers]
    only = [t for value in args.only
            for t in ([value] if any(value in n for n in names) else value.split(",")) if t]
    records = []
    for name, sweep, run in trainers:
        if only and not any(o in name for o in only):
            continue
        tried = []
        if len(sweep) > 1:
            for lr in sweep:
                r = run(lr, args.sweep_budget)
                tried.append((lr, r))
                print(f"  sweep {name} lr {lr}: {fmt(r)}", file=sys.stderr, flush=True)
        lr = min(tried, key=lambda t: rank(t[1]))[0] if tried else sweep[0]
        r = run(lr, args.budget)
        r.update(name=name, lr=lr, budget_s=args.budget,
                 sweep={str(k): fmt(v) for k, v in tried})
        records.append(r)
        print(f"{name:32} lr {lr}: {fmt(r)}", flush=True)
        c = r.get("contention")
        if c and c["notable"]:
            print(f"  other processes kept the cores busy ({c['others_cores']:.2f} of "
                  f"{c['cores']}, this run {c['own_cores']:.2f}): its times may be longer "
                  "than on an idle machine", file=sys.stderr, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{**r, "to": {str(k): v for k, v in r["to"].items()}} for r in records],
                      f, indent=1)


def fmt(r):
    to = "  ".join(f"to {t:g}: " + (f"{r['to'][t]:.2f} s" if t in r["to"] else "never")
                   for t in TARGETS)
    return f"{to}  best {r['best']:.3e}"


if __name__ == "__main__":
    main()

"""One full-batch epoch of docs/spec.md's network in PyTorch, timed like
`shadertrain bench`: warm-up, then the median of timed epochs, each one
synchronised with the device.

    python3 benches/torch_epoch.py [--device cuda|cpu] [--compile] S1 S2 S3

The formulas are written out by hand, exactly as in benches/numpy_epoch.py
and the trainer (no autograd): sigmoid hidden layer, linear output, MSE with
the 2/N factor, full-batch gradient descent at lr 0.1, float32. One JSON
record per shape goes to stdout.
"""
import argparse
import time

import torch

from epoch_common import problem, report


def epoch(x, y, w1, b1, w2, b2, lr):
    n = x.shape[0]
    z1 = torch.addmm(b1, x, w1.t())          # (N, h)
    a1 = torch.sigmoid(z1)
    yhat = a1 @ w2 + b2                       # (N,)
    e = yhat - y
    loss = (e @ e) / n
    r = (2.0 / n) * e                         # ∂L/∂ŷ
    dw2 = r @ a1                              # (h,)
    db2 = r.sum()
    d1 = torch.outer(r, w2) * (a1 * (1.0 - a1))  # (N, h)
    dw1 = d1.t() @ x                          # (h, f)
    db1 = d1.sum(dim=0)
    w1.sub_(lr * dw1)
    b1.sub_(lr * db1)
    w2.sub_(lr * dw2)
    b2.sub_(lr * db2)
    return loss


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--compile", action="store_true", help="torch.compile the epoch")
    p.add_argument("--samples", type=int, default=10)
    p.add_argument("shapes", nargs="*", default=["S1", "S2", "S3"])
    args = p.parse_args()
    dev = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    step = torch.compile(epoch) if args.compile else epoch
    name_dev = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    for name in args.shapes:
        x, y, w1, w2 = (torch.from_numpy(v).to(dev) for v in problem(name))
        b1 = torch.zeros(w1.shape[0], device=dev)
        b2 = torch.zeros((), device=dev)
        lr = 0.1
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
        times = []
        with torch.no_grad():
            for i in range(args.samples + 3):
                sync()
                t = time.perf_counter()
                step(x, y, w1, b1, w2, b2, lr)
                sync()
                if i >= 3:
                    times.append(time.perf_counter() - t)
        backend = "torch-compile" if args.compile else "torch-eager"
        report(backend, name_dev, name, times, torch=torch.__version__)


if __name__ == "__main__":
    main()

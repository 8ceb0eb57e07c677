"""One full-batch epoch of MATH.md's network in PyTorch, timed like
`shadertrain bench`: warm-up, then the median of timed epochs, each one
synchronised with the device.

    python3 benches/torch_epoch.py [--device cuda|cpu] [--compile] S1 S2 S3

The formulas are written out by hand, exactly as in benches/numpy_epoch.py
and the trainer (no autograd): sigmoid hidden layer, linear output, MSE with
the 2/N factor, full-batch gradient descent at lr 0.1, float32. One JSON
record per shape goes to stdout.
"""
import argparse
import json
import statistics
import time

import torch

SHAPES = {
    "S0": (1_024, 4, 16),
    "S1": (65_536, 16, 64),
    "S2": (1_048_576, 32, 128),
    "S3": (16_384, 256, 1_024),
    "S4": (16_777_216, 16, 64),
}


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
        n, f, h = SHAPES[name]
        g = torch.Generator(device="cpu").manual_seed(0)
        x = (torch.rand(n, f, generator=g) * 2 - 1).to(dev)
        y = (torch.sin(torch.pi * x[:, 0]) * torch.cos(torch.pi * x[:, 1]) + 0.5 * x[:, 2]).contiguous()
        w1 = ((torch.rand(h, f, generator=g) * 2 - 1) / f ** 0.5).to(dev)
        b1 = torch.zeros(h, device=dev)
        w2 = ((torch.rand(h, generator=g) * 2 - 1) / h ** 0.5).to(dev)
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
        med = statistics.median(times)
        flops = 4 * n * f * h + 6 * n * h
        rec = {"backend": "torch-compile" if args.compile else "torch-eager",
               "adapter": name_dev, "shape": name, "n": n, "f": f, "h": h,
               "activation": "sigmoid", "epochs": len(times),
               "median_s": med, "min_s": min(times), "max_s": max(times),
               "samples_per_s": n / med, "gflops": flops / med / 1e9,
               "torch": torch.__version__}
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()

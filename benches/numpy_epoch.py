"""One full-batch epoch of MATH.md's network in numpy (float32, OpenBLAS),
timed like `shadertrain bench`: warm-up, then the median of timed epochs.

    python3 benches/numpy_epoch.py S1 S2 S3

Same formulas as the trainer: sigmoid hidden layer, linear output, MSE with
the 2/N factor, full-batch gradient descent at lr 0.1.
"""
import json
import statistics
import sys
import time

import numpy as np

SHAPES = {
    "S0": (1_024, 4, 16),
    "S1": (65_536, 16, 64),
    "S2": (1_048_576, 32, 128),
    "S3": (16_384, 256, 1_024),
}


def epoch(x, y, w1, b1, w2, b2, lr):
    n = x.shape[0]
    z1 = x @ w1.T + b1                      # (N, h)
    a1 = 1.0 / (1.0 + np.exp(-z1))          # sigmoid
    yhat = a1 @ w2 + b2                     # (N,)
    e = yhat - y
    loss = float(e @ e) / n
    r = (2.0 / n) * e                       # ∂L/∂ŷ
    dw2 = r @ a1                            # (h,)
    db2 = r.sum()
    d1 = np.outer(r, w2) * (a1 * (1.0 - a1))  # (N, h)
    dw1 = d1.T @ x                          # (h, f)
    db1 = d1.sum(axis=0)
    w1 -= lr * dw1
    b1 -= lr * db1
    w2 -= lr * dw2
    b2 -= lr * db2
    return loss, b2


def main():
    out = []
    for name in sys.argv[1:] or ["S1", "S2", "S3"]:
        n, f, h = SHAPES[name]
        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, (n, f)).astype(np.float32)
        y = (np.sin(np.pi * x[:, 0]) * np.cos(np.pi * x[:, 1]) + 0.5 * x[:, 2]).astype(np.float32)
        w1 = rng.uniform(-1, 1, (h, f)).astype(np.float32) / np.float32(np.sqrt(f))
        b1 = np.zeros(h, np.float32)
        w2 = rng.uniform(-1, 1, h).astype(np.float32) / np.float32(np.sqrt(h))
        b2 = np.float32(0.0)
        lr = np.float32(0.1)
        times = []
        for i in range(12):
            t = time.perf_counter()
            _, b2 = epoch(x, y, w1, b1, w2, b2, lr)
            if i >= 2:
                times.append(time.perf_counter() - t)
        med = statistics.median(times)
        flops = 4 * n * f * h + 6 * n * h
        rec = {"backend": "numpy", "shape": name, "n": n, "f": f, "h": h,
               "median_s": med, "min_s": min(times), "max_s": max(times),
               "gflops": flops / med / 1e9}
        print(json.dumps(rec))
        out.append(rec)


if __name__ == "__main__":
    main()

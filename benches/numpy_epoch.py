"""One full-batch epoch of docs/spec.md's network in numpy (float32, OpenBLAS),
timed like `shadertrain bench`: warm-up, then the median of timed epochs.

    python3 benches/numpy_epoch.py S1 S2 S3

Same formulas as the trainer: sigmoid hidden layer, linear output, MSE with
the 2/N factor, full-batch gradient descent at lr 0.1.
"""
import sys
import time

import numpy as np

from epoch_common import problem, report


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
    for name in sys.argv[1:] or ["S1", "S2", "S3"]:
        x, y, w1, w2 = problem(name)
        b1 = np.zeros(w1.shape[0], np.float32)
        b2 = np.float32(0.0)
        lr = np.float32(0.1)
        times = []
        for i in range(12):
            t = time.perf_counter()
            _, b2 = epoch(x, y, w1, b1, w2, b2, lr)
            if i >= 2:
                times.append(time.perf_counter() - t)
        report("numpy", "cpu", name, times)


if __name__ == "__main__":
    main()

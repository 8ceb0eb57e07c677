"""One full-batch epoch of docs/spec.md's network in JAX (`jax.jit`, float32, on
the CPU by default), timed like `shadertrain bench`: warm-up (which includes
the compilation), then the median of timed epochs, each ended with
`block_until_ready`.

    python3 benches/jax_epoch.py S1 S2 S3

The formulas are written out by hand, as in benches/numpy_epoch.py and the
trainer (no autodiff): sigmoid hidden layer, linear output, MSE with the 2/N
factor, full-batch gradient descent at lr 0.1. One JSON record per shape.
Threads: XLA's CPU backend uses every core unless told otherwise.
"""
import sys
import time

import jax
import jax.numpy as jnp

from epoch_common import problem, report


@jax.jit
def epoch(x, y, w1, b1, w2, b2):
    n = x.shape[0]
    z1 = x @ w1.T + b1                        # (N, h)
    a1 = jax.nn.sigmoid(z1)
    yhat = a1 @ w2 + b2                       # (N,)
    e = yhat - y
    loss = (e @ e) / n
    r = (2.0 / n) * e                         # ∂L/∂ŷ
    dw2 = r @ a1                              # (h,)
    db2 = r.sum()
    d1 = jnp.outer(r, w2) * (a1 * (1.0 - a1))  # (N, h)
    dw1 = d1.T @ x                            # (h, f)
    db1 = d1.sum(axis=0)
    lr = 0.1
    return loss, w1 - lr * dw1, b1 - lr * db1, w2 - lr * dw2, b2 - lr * db2


def main():
    device = jax.devices()[0]
    for name in sys.argv[1:] or ["S1", "S2", "S3"]:
        x, y, w1, w2 = (jax.device_put(v, device) for v in problem(name))
        b1 = jnp.zeros(w1.shape[0], jnp.float32)
        b2 = jnp.zeros((), jnp.float32)
        times = []
        for i in range(12):
            t = time.perf_counter()
            loss, w1, b1, w2, b2 = epoch(x, y, w1, b1, w2, b2)
            loss.block_until_ready()
            if i >= 2:
                times.append(time.perf_counter() - t)
        report("jax-jit", str(device), name, times, jax=jax.__version__)


if __name__ == "__main__":
    main()

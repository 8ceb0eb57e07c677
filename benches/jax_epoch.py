"""One full-batch epoch of MATH.md's network in JAX (`jax.jit`, float32, on
the CPU by default), timed like `shadertrain bench`: warm-up (which includes
the compilation), then the median of timed epochs, each ended with
`block_until_ready`.

    python3 benches/jax_epoch.py S1 S2 S3

The formulas are written out by hand, as in benches/numpy_epoch.py and the
trainer (no autodiff): sigmoid hidden layer, linear output, MSE with the 2/N
factor, full-batch gradient descent at lr 0.1. One JSON record per shape.
Threads: XLA's CPU backend uses every core unless told otherwise.
"""
import json
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

SHAPES = {
    "S0": (1_024, 4, 16),
    "S1": (65_536, 16, 64),
    "S2": (1_048_576, 32, 128),
    "S3": (16_384, 256, 1_024),
}


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
        n, f, h = SHAPES[name]
        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, (n, f)).astype(np.float32)
        y = (np.sin(np.pi * x[:, 0]) * np.cos(np.pi * x[:, 1]) + 0.5 * x[:, 2]).astype(np.float32)
        w1 = rng.uniform(-1, 1, (h, f)).astype(np.float32) / np.float32(np.sqrt(f))
        w2 = rng.uniform(-1, 1, h).astype(np.float32) / np.float32(np.sqrt(h))
        x, y, w1, w2 = (jax.device_put(v, device) for v in (x, y, w1, w2))
        b1 = jnp.zeros(h, jnp.float32)
        b2 = jnp.zeros((), jnp.float32)
        times = []
        for i in range(12):
            t = time.perf_counter()
            loss, w1, b1, w2, b2 = epoch(x, y, w1, b1, w2, b2)
            loss.block_until_ready()
            if i >= 2:
                times.append(time.perf_counter() - t)
        med = statistics.median(times)
        flops = 4 * n * f * h + 6 * n * h
        rec = {"backend": "jax-jit", "adapter": str(device), "shape": name,
               "n": n, "f": f, "h": h, "activation": "sigmoid",
               "epochs": len(times), "median_s": med, "min_s": min(times),
               "max_s": max(times), "samples_per_s": n / med,
               "gflops": flops / med / 1e9, "jax": jax.__version__}
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()

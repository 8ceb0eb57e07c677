"""One full-batch epoch of docs/spec.md's network in JAX (`jax.jit`, float32, on
the CPU, where `shadertrain bench` compares it with the cpu backend, even
where jax[cuda] is installed), timed like `shadertrain bench`: warm-up (which includes
the compilation), then the median of timed epochs, each ended with
`block_until_ready`.

    python3 benches/jax_epoch.py [--activation sigmoid|tanh] [--threads T] S1 S2 S3

The formulas are written out by hand, as in benches/numpy_epoch.py and the
trainer (no autodiff): one hidden layer, linear output, MSE with the 2/N
factor, full-batch gradient descent at lr 0.1, on the data and initial
weights of `shadertrain bench`. One JSON record per shape. Threads: XLA's
CPU backend uses every core unless --threads limits its Eigen pool.
"""
import os
import time

import epoch_common as common


def main():
    args = common.arguments(__doc__)
    os.environ["JAX_PLATFORMS"] = "cpu"
    if args.threads > 0:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = (
            f"{flags} --xla_cpu_multi_thread_eigen=false "
            f"intra_op_parallelism_threads={args.threads}").strip()
    import jax
    import jax.numpy as jnp

    act = jax.nn.sigmoid if args.activation == "sigmoid" else jnp.tanh

    @jax.jit
    def epoch(x, y, w1, b1, w2, b2):
        n = x.shape[0]
        a1 = act(x @ w1.T + b1)                   # (N, h)
        yhat = a1 @ w2 + b2                       # (N,)
        e = yhat - y
        loss = (e @ e) / n
        r = (2.0 / n) * e                         # ∂L/∂ŷ
        dw2 = r @ a1                              # (h,)
        db2 = r.sum()
        d1 = jnp.outer(r, w2) * common.derivative(a1, args.activation)  # (N, h)
        dw1 = d1.T @ x                            # (h, f)
        db1 = d1.sum(axis=0)
        lr = 0.1
        return loss, w1 - lr * dw1, b1 - lr * db1, w2 - lr * dw2, b2 - lr * db2

    device = jax.devices("cpu")[0]
    for name in args.shapes:
        x, y, w1, w2 = (jax.device_put(v, device) for v in common.problem(name))
        b1 = jnp.zeros(w1.shape[0], jnp.float32)
        b2 = jnp.zeros((), jnp.float32)
        times = []
        for i in range(args.samples + 2):
            t = time.perf_counter()
            loss, w1, b1, w2, b2 = epoch(x, y, w1, b1, w2, b2)
            loss.block_until_ready()
            if i >= 2:
                times.append(time.perf_counter() - t)
        common.report("jax-jit", str(device), name, args.activation, times, jax=jax.__version__)


if __name__ == "__main__":
    main()

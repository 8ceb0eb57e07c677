"""One full-batch epoch of docs/spec.md's network in JAX (`jax.jit`, float32, on
the CPU, where `shadertrain bench` compares it with the cpu backend, even
where jax[cuda] is installed), timed like `shadertrain bench`: warm-up (which includes
the compilation), then the median of timed samples, each of --batch
epochs ended with `block_until_ready`.

    python3 benches/jax_epoch.py [--activation sigmoid|tanh] [--threads T]
        [--warmup N] [--batch K] S1 S2 S3

The formulas are written out by hand, as in benches/numpy_epoch.py and the
trainer (no autodiff): one hidden layer, linear output, MSE with the 2/N
factor, full-batch gradient descent at lr 0.1, on the data and initial
weights of `shadertrain bench`. One JSON record per shape. Threads: XLA's
CPU backend uses every CPU the process may run on; --threads T keeps it to
T of them.
"""
import os

import epoch_common as common


def main():
    args = common.arguments(__doc__)
    os.environ["JAX_PLATFORMS"] = "cpu"
    if args.threads > 0:
        # XLA sizes its CPU thread pools from the CPUs the process may run
        # on (it has no flag for them): T of them.
        cpus = sorted(os.sched_getaffinity(0))[:args.threads]
        os.sched_setaffinity(0, cpus)
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
        # Put on the device as the epoch's outputs are, so that the second
        # call does not compile again for other inputs.
        b1 = jax.device_put(jnp.zeros(w1.shape[0], jnp.float32), device)
        b2 = jax.device_put(jnp.zeros((), jnp.float32), device)
        state = {"params": (w1, b1, w2, b2), "loss": None}

        def run():
            loss, *params = epoch(x, y, *state["params"])
            state["params"], state["loss"] = tuple(params), loss
            return loss

        def sync():
            # One executable makes the loss and the parameters together.
            if state["loss"] is not None:
                state["loss"].block_until_ready()

        times, first = common.timed(args, run, sync)
        common.report("jax-jit", str(device), name, args.activation, times, args.batch,
                      first_loss=first, jax=jax.__version__)


if __name__ == "__main__":
    main()

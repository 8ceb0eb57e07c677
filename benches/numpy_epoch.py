"""One full-batch epoch of docs/spec.md's network in numpy (float32, its BLAS),
timed like `shadertrain bench`: warm-up, then the median of timed samples.

    python3 benches/numpy_epoch.py [--activation sigmoid|tanh] [--threads T]
        [--warmup N] [--batch K] S1 S2 S3

Same formulas as the trainer: one hidden layer, linear output, MSE with the
2/N factor, full-batch gradient descent at lr 0.1, on the data and initial
weights of `shadertrain bench` (benches/epoch_common.py).
"""

import epoch_common as common


def main():
    args = common.arguments(__doc__)
    np = common.np

    def act(z):
        if args.activation == "sigmoid":
            return 1.0 / (1.0 + np.exp(-z))
        return np.tanh(z)

    def epoch(x, y, w1, b1, w2, b2, lr):
        n = x.shape[0]
        a1 = act(x @ w1.T + b1)                 # (N, h)
        yhat = a1 @ w2 + b2                     # (N,)
        e = yhat - y
        loss = float(e @ e) / n
        r = np.float32(2.0 / n) * e             # ∂L/∂ŷ
        dw2 = r @ a1                            # (h,)
        db2 = r.sum()
        d1 = np.outer(r, w2) * common.derivative(a1, args.activation)  # (N, h)
        dw1 = d1.T @ x                          # (h, f)
        db1 = d1.sum(axis=0)
        w1 -= lr * dw1
        b1 -= lr * db1
        w2 -= lr * dw2
        b2 -= lr * db2
        return loss, b2

    for name in args.shapes:
        x, y, w1, w2 = common.problem(name)
        b1 = np.zeros(w1.shape[0], np.float32)
        b2 = np.float32(0.0)
        lr = np.float32(0.1)
        def run():
            nonlocal b2
            loss, b2 = epoch(x, y, w1, b1, w2, b2, lr)
            return loss

        times, first = common.timed(args, run)
        common.report("numpy", "cpu", name, args.activation, times, args.batch,
                      first_loss=first, numpy=np.__version__)


if __name__ == "__main__":
    main()

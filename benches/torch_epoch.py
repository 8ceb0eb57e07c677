"""One full-batch epoch of docs/spec.md's network in PyTorch, timed like
`shadertrain bench`: warm-up, then the median of timed samples, each of
--batch epochs synchronised with the device once at its end (as the gpu
backend's samples of --gpu-batch epochs are).

    python3 benches/torch_epoch.py [--device cuda|cpu] [--compile]
        [--activation sigmoid|tanh] [--threads T] [--warmup N] [--batch K]
        S1 S2 S3

The formulas are written out by hand, exactly as in benches/numpy_epoch.py
and the trainer (no autograd): one hidden layer, linear output, MSE with
the 2/N factor, full-batch gradient descent at lr 0.1, float32, TF32 off,
on the data and initial weights of `shadertrain bench`. One JSON record per
shape goes to stdout.
"""
import sys

import epoch_common as common


def options(p):
    p.add_argument("--device", default=None, help="cuda or cpu [default: cuda when there is one]")
    p.add_argument("--compile", action="store_true", help="torch.compile the epoch")


def main():
    args = common.arguments(__doc__, options)
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dev_name = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dev_name == "cuda" and not torch.cuda.is_available():
        sys.exit("torch_epoch.py: this torch has no CUDA device")
    dev = torch.device(dev_name)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    act = torch.sigmoid if args.activation == "sigmoid" else torch.tanh

    def epoch(x, y, w1, b1, w2, b2, lr):
        n = x.shape[0]
        a1 = act(torch.addmm(b1, x, w1.t()))      # (N, h)
        yhat = a1 @ w2 + b2                       # (N,)
        e = yhat - y
        loss = (e @ e) / n
        r = (2.0 / n) * e                         # ∂L/∂ŷ
        dw2 = r @ a1                              # (h,)
        db2 = r.sum()
        d1 = torch.outer(r, w2) * common.derivative(a1, args.activation)  # (N, h)
        dw1 = d1.t() @ x                          # (h, f)
        db1 = d1.sum(dim=0)
        w1.sub_(lr * dw1)
        b1.sub_(lr * db1)
        w2.sub_(lr * dw2)
        b2.sub_(lr * db2)
        return loss

    # Compiled for each shape's sizes: with dynamic shapes left to
    # torch, the shapes after the first would run code for symbolic sizes.
    step = torch.compile(epoch, dynamic=False) if args.compile else epoch
    # One compilation per shape; past dynamo's limit it would run eager
    # code and still be reported as torch-compile.
    config = torch._dynamo.config
    for limit in ("recompile_limit", "cache_size_limit"):
        if hasattr(config, limit):
            setattr(config, limit, max(getattr(config, limit), len(args.shapes) + 1))
    adapter = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for name in args.shapes:
        x, y, w1, w2 = (torch.from_numpy(v).to(dev) for v in common.problem(name))
        b1 = torch.zeros(w1.shape[0], device=dev)
        b2 = torch.zeros((), device=dev)
        with torch.no_grad():
            times, first = common.timed(args, lambda: step(x, y, w1, b1, w2, b2, 0.1), sync)
        backend = "torch-compile" if args.compile else "torch-eager"
        common.report(backend, adapter, name, args.activation, times, args.batch,
                      first_loss=first, torch=torch.__version__)


if __name__ == "__main__":
    main()

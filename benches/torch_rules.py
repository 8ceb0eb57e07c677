"""The update rules against PyTorch's, step for step: shadertrain's f64
reference backend and torch.optim in f64 train the same network from the
same initial weights on the same rows, full batch, and the script prints
the largest relative difference of their loss histories.

    python3 benches/torch_rules.py [--binary target/release/shadertrain] [--epochs 60]

The rows are `shadertrain gen --rows 200 --features 3 --seed 2`; the
network 3 -> 5 -> 1, tanh. The initial weights are shadertrain's, read
from a model saved after one epoch at a rate of 1e-30 (which moves no
f32 weight). shadertrain stores θ in f32 after every step and torch keeps
it in f64, so the histories agree to about 1e-8, not exactly.
"""

import argparse
import array
import csv
import json
import os
import struct
import subprocess
import tempfile

import torch

CASES = [
    (["--optimizer", "gd", "--lr", "0.1"],
     lambda p: torch.optim.SGD(p, lr=0.1)),
    (["--optimizer", "momentum", "--lr", "0.1", "--weight-decay", "0.05"],
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.05)),
    (["--optimizer", "nesterov", "--lr", "0.1", "--weight-decay", "0.05"],
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.05)),
    (["--optimizer", "adam", "--lr", "0.05"],
     lambda p: torch.optim.Adam(p, lr=0.05)),
    (["--optimizer", "adam", "--lr", "0.05", "--weight-decay", "0.05"],
     lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=0.05)),
    (["--optimizer", "adamw", "--lr", "0.05"],
     lambda p: torch.optim.AdamW(p, lr=0.05)),
    (["--optimizer", "adamw", "--lr", "0.05", "--weight-decay", "2"],
     lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=2)),
]


def tensors(path):
    """The F32 tensors of a safetensors file, by name."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header, body = json.loads(raw[8:8 + n]), raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        values = array.array("f")
        values.frombytes(body[start:end])
        out[name] = torch.tensor(list(values), dtype=torch.float64).reshape(info["shape"])
    return out


def torch_losses(init, x, y, make, epochs):
    l1, l2 = torch.nn.Linear(3, 5).double(), torch.nn.Linear(5, 1).double()
    with torch.no_grad():
        l1.weight.copy_(init["layers.0.weight"])
        l1.bias.copy_(init["layers.0.bias"])
        l2.weight.copy_(init["layers.1.weight"])
        l2.bias.copy_(init["layers.1.bias"])
    opt = make(list(l1.parameters()) + list(l2.parameters()))
    losses = []
    for _ in range(epochs):
        opt.zero_grad()
        loss = ((l2(torch.tanh(l1(x))).squeeze(1) - y) ** 2).mean()
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return losses


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default="target/release/shadertrain")
    ap.add_argument("--epochs", type=int, default=60)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data, init, history = (os.path.join(tmp, f) for f in ("d.csv", "init.st", "h.csv"))
        net = ["--data", data, "--no-standardize", "--hidden", "5", "--activation", "tanh", "--backend", "reference", "-q"]
        subprocess.run([args.binary, "gen", "--rows", "200", "--features", "3", "--seed", "2",
                        "--out", data], check=True, capture_output=True)
        subprocess.run([args.binary, "train", *net, "--epochs", "1", "--lr", "1e-30",
                        "--save", init], check=True)
        rows = list(csv.reader(open(data)))[1:]
        x = torch.tensor([[float(v) for v in r[:-1]] for r in rows], dtype=torch.float64)
        y = torch.tensor([float(r[-1]) for r in rows], dtype=torch.float64)
        start = tensors(init)
        for flags, make in CASES:
            subprocess.run([args.binary, "train", *net, "--epochs", str(args.epochs),
                            "--history", history, *flags], check=True)
            ours = [float(r[1]) for r in list(csv.reader(open(history)))[1:]][:args.epochs]
            theirs = torch_losses(start, x, y, make, args.epochs)
            worst = max(abs(a - b) / abs(b) for a, b in zip(ours, theirs))
            print(f"{' '.join(flags):55} loss {theirs[0]:.4f} -> {theirs[-1]:.4f}  "
                  f"largest relative difference {worst:.1e}")


if __name__ == "__main__":
    main()

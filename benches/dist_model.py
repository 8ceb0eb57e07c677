#!/usr/bin/env python3
"""Paper model of `train --distributed` on P GPUs over a network.

    epoch(P) = max shard compute + all-gather + host sum
             = (T1 - c0)/P + (K/P)*c + (P-1)*alpha + bytes_in(P)/B + h

T1: the one-GPU epoch of the shape (H200, BENCHMARKS.md), c0 its fixed
cost (S0's epoch, 34 us), c the fixed cost of one shard pass (c0 plus a
submit-wait-readback round trip, assumed 30 us), K shards of which each GPU
computes K/P, bytes_in = (K - K/P) * 8 * (p + 2) received per GPU (the
packet of a shard: signal, loss, p gradient values in f64), B the link
(100 or 400 Gb/s), alpha a per-step latency of a ring all-gather (5 us),
h the host's shard-order sum (K*p f64 adds, ~1 ns each).

Prints epoch(P), the speedup over the one-GPU epoch T1 (the unsharded
trainer), and the crossover: the fewest rows N at which P GPUs beat one,
from the shape's per-row cost.
"""

C0 = 34e-6      # H200 S0 epoch: the fixed per-epoch cost
C = C0 + 30e-6  # one shard pass with its own round trip (assumed)
ALPHA = 5e-6    # per ring step
SHAPES = {      # name: (N, f, h, H200 s/epoch)
    "S2": (1_048_576, 32, 128, 1.549e-3),
    "S4": (16_777_216, 16, 64, 7.936e-3),
}
LINKS = {"100 Gb/s": 100e9 / 8, "400 Gb/s": 400e9 / 8}


def params(f, h):
    return f * h + h + h + 1


def epoch(t1, p_count, k, p, bw, rows_scale=1.0):
    per_row_part = (t1 - C0) * rows_scale
    bytes_in = (k - k / p) * 8 * (p_count + 2)
    host = k * p_count * 1e-9
    comm = (p - 1) * ALPHA + bytes_in / bw if p > 1 else 0.0
    return per_row_part / p + (k / p) * C + comm + host, bytes_in


def crossover_rows(n, t1, p_count, k, p, bw):
    """Fewest rows at which epoch(P) < one GPU's unsharded epoch."""
    per_row = (t1 - C0) / n
    lo, hi = 1, 1 << 40
    if epoch(t1, p_count, k, p, bw, hi / n)[0] >= C0 + per_row * hi:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if epoch(t1, p_count, k, p, bw, mid / n)[0] < C0 + per_row * mid:
            hi = mid
        else:
            lo = mid + 1
    return lo


def main():
    print("| shape | link | K | P | bytes in/GPU/epoch | epoch s | speedup over 1 GPU | crossover rows |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (n, f, h, t1) in SHAPES.items():
        pc = params(f, h)
        for link, bw in LINKS.items():
            for k_rule in ("16", "P"):
                for p in (2, 4, 8, 16):
                    k = 16 if k_rule == "16" else p
                    t, b = epoch(t1, pc, k, p, bw)
                    x = crossover_rows(n, t1, pc, k, p, bw)
                    xs = f"{x:,}" if x is not None else "never"
                    print(f"| {name} | {link} | {k} | {p} | {int(b):,} | {t:.3e} | {t1 / t:.2f}x | {xs} |")


if __name__ == "__main__":
    main()

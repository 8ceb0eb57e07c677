"""What the Python epoch benchmarks share: docs/spec.md's shapes, the same
seeded data and initial weights for every framework, and the JSON record
`shadertrain bench --json` writes."""
import json
import statistics

import numpy as np

SHAPES = {
    "S0": (1_024, 4, 16),
    "S1": (65_536, 16, 64),
    "S2": (1_048_576, 32, 128),
    "S3": (16_384, 256, 1_024),
    "S4": (16_777_216, 16, 64),
}


def problem(name):
    """(x, y, w1, w2) in float32 for shape `name`: the synthetic task of
    docs/spec.md and uniform weights scaled by 1/sqrt(fan-in), from seed 0."""
    n, f, h = SHAPES[name]
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (n, f)).astype(np.float32)
    y = (np.sin(np.pi * x[:, 0]) * np.cos(np.pi * x[:, 1]) + 0.5 * x[:, 2]).astype(np.float32)
    w1 = rng.uniform(-1, 1, (h, f)).astype(np.float32) / np.float32(np.sqrt(f))
    w2 = rng.uniform(-1, 1, h).astype(np.float32) / np.float32(np.sqrt(h))
    return x, y, w1, w2


def report(backend, adapter, name, times, **extra):
    """Prints (and returns) the record of one case: median, min and max of
    the per-epoch `times`, samples/s and nominal GFLOP/s."""
    n, f, h = SHAPES[name]
    med = statistics.median(times)
    flops = 4 * n * f * h + 6 * n * h
    rec = {"backend": backend, "adapter": adapter, "shape": name,
           "n": n, "f": f, "h": h, "activation": "sigmoid",
           "epochs": len(times), "median_s": med, "min_s": min(times),
           "max_s": max(times), "samples_per_s": n / med,
           "gflops": flops / med / 1e9, **extra}
    print(json.dumps(rec), flush=True)
    return rec

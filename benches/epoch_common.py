"""What the Python epoch benchmarks share: docs/spec.md's shapes, the data
and initial weights `shadertrain bench` itself uses (seed 0, drawn with a
port of src/rng.rs, so a peer's trajectory can be compared with
shadertrain's epoch by epoch), the command line, and the JSON record
`shadertrain bench --json` writes.

Every script takes the same arguments:

    python3 benches/<peer>_epoch.py [--activation sigmoid|tanh]
        [--samples N] [--threads T] S1 S2 S3 65536x16x48

(a shape is a name of SHAPES, or ROWSxFEATURESxHIDDEN as `shadertrain
bench --shapes` labels it)

and prints one JSON record per shape on stdout. `shadertrain bench --peers`
runs them; they also run on their own.
"""
import argparse
import json
import os
import statistics
import time

# numpy is imported by `arguments`, after the thread count is set: OpenBLAS
# reads it once, when it loads. The scalar generator needs no numpy.
np = None

SHAPES = {
    "S0": (1_024, 4, 16),
    "S1": (65_536, 16, 64),
    "S2": (1_048_576, 32, 128),
    "S3": (16_384, 256, 1_024),
    "S4": (16_777_216, 16, 64),
}

# src/rng.rs's stream ids: the features, and the weights of layer i at 16 + i.
FEATURES = 0
LAYER0 = 16

_M32 = 0xFFFF_FFFF


def _mix(x):
    """src/rng.rs's `mix` on one Python int (32 bits)."""
    x ^= x >> 16
    x = (x * 0x7FEB_352D) & _M32
    x ^= x >> 15
    x = (x * 0x846C_A68B) & _M32
    x ^= x >> 16
    return x


def bits(seed, stream, index):
    """src/rng.rs's `bits`: 32 random bits for (seed, stream, index)."""
    h = _mix((index & _M32) ^ 0x9E37_79B9)
    h = _mix(h ^ (index >> 32))
    h = _mix(h ^ stream)
    h = _mix(h ^ (seed & _M32))
    return _mix(h ^ (seed >> 32))


def symmetric(seed, stream, index):
    """src/rng.rs's `symmetric`: uniform on [-1, 1), exact in float32."""
    return 2.0 * ((bits(seed, stream, index) >> 8) / 16_777_216.0) - 1.0


def _mix_array(x):
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x7FEB_352D)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x846C_A68B)
    x ^= x >> np.uint32(16)
    return x


def symmetric_array(seed, stream, count, chunk=1 << 22):
    """`symmetric` for indices 0..count as a float32 array, in chunks so
    S4's 268 million values need no 64-bit temporaries."""
    out = np.empty(count, np.float32)
    lo_seed, hi_seed = np.uint32(seed & _M32), np.uint32(seed >> 32)
    for start in range(0, count, chunk):
        idx = np.arange(start, min(start + chunk, count), dtype=np.uint64)
        h = _mix_array((idx & np.uint64(_M32)).astype(np.uint32) ^ np.uint32(0x9E37_79B9))
        h = _mix_array(h ^ (idx >> np.uint64(32)).astype(np.uint32))
        h = _mix_array(h ^ np.uint32(stream))
        h = _mix_array(h ^ lo_seed)
        h = _mix_array(h ^ hi_seed)
        u = (h >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / 16_777_216.0)
        out[start:start + len(idx)] = np.float32(2.0) * u - np.float32(1.0)
    return out


def sizes(name):
    """(N, f, h) of a shape: a name of SHAPES, or `NxFxH`; None for
    neither."""
    if name in SHAPES:
        return SHAPES[name]
    parts = name.split("x")
    if len(parts) == 3 and all(p.isdigit() and int(p) > 0 for p in parts):
        return tuple(int(p) for p in parts)
    return None


def problem(name, seed=0):
    """(x, y, w1, w2) in float32 for shape `name`: `shadertrain bench`'s
    synthetic data and initial weights for `seed` (src/data.rs's
    `Dataset::synthetic`, src/model.rs's `Model::init`; biases start at 0)."""
    n, f, h = sizes(name)
    x = symmetric_array(seed, FEATURES, n * f).reshape(n, f)
    # The terms of features the shape lacks are dropped, as there; in f64,
    # rounded to f32 once (src/data.rs's synthetic_target).
    x64 = x.astype(np.float64)
    y = np.sin(np.pi * x64[:, 0])
    if f > 1:
        y = y * np.cos(np.pi * x64[:, 1])
    if f > 2:
        y = y + 0.5 * x64[:, 2]
    y = y.astype(np.float32)
    w1 = symmetric_array(seed, LAYER0, h * f).reshape(h, f) * np.float32(1.0 / np.sqrt(f))
    w2 = symmetric_array(seed, LAYER0 + 1, h) * np.float32(1.0 / np.sqrt(h))
    return x, y, w1.astype(np.float32), w2.astype(np.float32)


def arguments(doc, extra=None):
    """The scripts' shared command line; `extra(parser)` adds a script's own
    options. Sets the BLAS and OpenMP thread count from --threads before the
    framework is imported (the scripts import it after this call)."""
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--activation", choices=["sigmoid", "tanh"], default="sigmoid")
    p.add_argument("--samples", type=int, default=10, help="timed samples per shape")
    p.add_argument("--warmup", type=int, default=2,
                   help="untimed samples before them (at least 1: the first compiles)")
    p.add_argument("--batch", type=int, default=1,
                   help="epochs per sample, synchronised once at its end (the gpu "
                        "backend's --gpu-batch); a sample's time over its epochs is "
                        "its per-epoch time")
    p.add_argument("--threads", type=int, default=0,
                   help="threads for the framework [default: its own choice]")
    if extra:
        extra(p)
    p.add_argument("shapes", nargs="*", default=["S1", "S2", "S3"])
    args = p.parse_args()
    args.warmup = max(args.warmup, 1)
    if args.batch < 1:
        p.error("--batch must be at least 1")
    for s in args.shapes:
        if sizes(s) is None:
            p.error(f"unknown shape {s!r}; expected some of {', '.join(SHAPES)}, "
                    "or ROWSxFEATURESxHIDDEN")
    if args.threads > 0:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    global np
    import numpy
    np = numpy
    return args


# Seconds of warm-up after the first sample, at least: `shadertrain bench`'s
# bench::WARM_FOR (a process's first milliseconds can run well below its
# speed).
WARM_FOR = 0.2


def timed(args, run_epoch, sync=lambda: None):
    """Per-epoch seconds of `args.samples` samples after `args.warmup`
    untimed ones (and more, until WARM_FOR has passed since the first),
    each sample `args.batch` calls of `run_epoch`, with `sync` (waiting
    for the device) before its clock starts and after the last epoch; and
    the loss the first call returned, before any update, read once the
    clock has stopped (`report`'s `first_loss`, which `shadertrain bench`
    compares with its own)."""
    times = []
    first = None
    warm = None
    i = 0
    while len(times) < args.samples:
        sync()
        t = time.perf_counter()
        for _ in range(args.batch):
            loss = run_epoch()
            if first is None:
                first = loss
        sync()
        end = time.perf_counter()
        warm = end if warm is None else warm
        # As `shadertrain bench`: the warm-up's count, and after the first
        # sample WARM_FOR seconds at least.
        if i >= args.warmup and t - warm >= WARM_FOR:
            times.append((end - t) / args.batch)
        i += 1
    return times, float(first)


def derivative(a, activation):
    """g'(z) from a = g(z): a(1 − a) for the sigmoid, 1 − a² for tanh."""
    return a * (1.0 - a) if activation == "sigmoid" else 1.0 - a * a


def report(backend, adapter, name, activation, times, batch, **extra):
    """Prints (and returns) the record of one case: median, min and max of
    the per-epoch `times` (samples of `batch` epochs each, as `timed` ran
    them), the epochs timed, samples/s and nominal GFLOP/s."""
    n, f, h = sizes(name)
    med = statistics.median(times)
    flops = 4 * n * f * h + 6 * n * h
    rec = {"backend": backend, "adapter": adapter, "shape": name,
           "n": n, "f": f, "h": h, "activation": activation,
           "epochs": len(times) * batch, "median_s": med, "min_s": min(times),
           "max_s": max(times), "samples_per_s": n / med,
           "gflops": flops / med / 1e9, **extra}
    print(json.dumps(rec), flush=True)
    return rec

// The data kernels.
// synthesize: the synthetic data for one chunk of rows, generated on
// the device so a large batch never crosses the bus. X ~ U(−1, 1) comes from
// the same counter-based hash as src/rng.rs, bit for bit; y = sin(π·x0)·
// cos(π·x1) + 0.5·x2 (terms for missing features dropped) in f32.

@group(0) @binding(1) var<storage, read_write> x_out: array<f32>; // (rows, inputs)
@group(0) @binding(2) var<storage, read_write> y_out: array<f32>; // (rows)

const PI: f32 = 3.14159265358979;
// Random stream of the synthetic features: rng::Stream::Features.id()
// (tests/shaders.rs checks the two agree).
const STREAM: u32 = 0u;

// One round of the lowbias32 hash, as rng::mix.
fn mix(v: u32) -> u32 {
    var x = v;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

// rng::symmetric(seed, STREAM, index) with index = (hi << 32) | lo.
fn symmetric(lo: u32, hi: u32) -> f32 {
    var h = mix(lo ^ 0x9e3779b9u);
    h = mix(h ^ hi);
    h = mix(h ^ STREAM);
    h = mix(h ^ p.seed_lo);
    h = mix(h ^ p.seed_hi);
    let u = f32(h >> 8u) * (1.0 / 16777216.0);
    return 2.0 * u - 1.0;
}

@compute @workgroup_size(LINEAR)
fn synthesize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = linear_workgroup(wid, nwg) * LINEAR + lid.x;
    if (row >= p.rows) {
        return;
    }
    let f = p.inputs;
    var x0 = 0.0;
    var x1 = 0.0;
    var x2 = 0.0;
    for (var j = 0u; j < f; j++) {
        // The value's index in the whole data set, as a 64-bit (lo, hi) pair.
        let offset = row * f + j;
        let lo = p.first_lo + offset;
        let hi = p.first_hi + select(0u, 1u, lo < offset);
        let v = symmetric(lo, hi);
        x_out[offset] = v;
        if (j == 0u) { x0 = v; }
        if (j == 1u) { x1 = v; }
        if (j == 2u) { x2 = v; }
    }
    var y = sin(PI * x0);
    if (f > 1u) {
        y *= cos(PI * x1);
    }
    if (f > 2u) {
        y += 0.5 * x2;
    }
    y_out[row] = y;
}

// gather_rows: one mini-batch's rows, in the epoch's order, copied out of
// the whole training set: batch row i (i < rows) is row
// order[batches[0]·stride + i] of X and y, where batches[0] counts the
// batches the epoch has done (the update of each advances it) and stride
// is the batch size. The host writes the order before each epoch.
@group(0) @binding(3) var<storage, read> x_all: array<f32>;   // (N, inputs)
@group(0) @binding(4) var<storage, read> y_all: array<f32>;   // (N)
@group(0) @binding(5) var<storage, read> order: array<u32>;   // (N)
@group(0) @binding(6) var<storage, read> batches: array<u32>; // (1)

@compute @workgroup_size(LINEAR)
fn gather_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = linear_workgroup(wid, nwg) * LINEAR + lid.x;
    if (row >= p.rows) {
        return;
    }
    let n = order[batches[0] * p.stride + row];
    let f = p.inputs;
    for (var j = 0u; j < f; j++) {
        x_out[row * f + j] = x_all[n * f + j];
    }
    y_out[row] = y_all[n];
}

// Shared by every kernel family: the uniform block at binding 0, the
// activations in the stable forms of docs/spec.md, and the 2D dispatch grid.
// Each kernel file is compiled with this one prepended (at build time, by
// concat! in src/gpu/kernels.rs).

// Mirrored by `Params` in src/gpu/kernels.rs; 112 bytes.
struct Params {
    rows: u32,        // rows in this dispatch's chunk of the batch
    inputs: u32,      // width of the layer's input
    outputs: u32,     // width of the layer's output
    w_off: u32,       // first weight of the layer in the parameter block
    b_off: u32,       // first bias of the layer
    group_rows: u32,  // rows summed into one gradient partial
    group_base: u32,  // global index of this chunk's first row group
    stride: u32,      // elements per row of a partials buffer
    len: u32,         // reduce: columns to sum; output, fused: the loss column of a partials row
    count: u32,       // reduce: partials rows to sum
    dst_off: u32,     // reduce: first element written; fused: first weight of the output layer
    scheduled: u32,   // reduce_sgd, reduce_momentum, reduce_nesterov: 1 takes α per epoch from `corrections`
    scale: f32,       // output, fused: 2/N; reduce: factor applied to each sum
    lr: f32,          // reduce_sgd, reduce_momentum, reduce_nesterov: learning rate (scheduled = 0)
    momentum: f32,    // reduce_momentum, reduce_nesterov: μ; reduce_adam: β1
    beta2: f32,       // reduce_adam: β2
    seed_lo: u32,     // synthesize: the data seed, low and high words
    seed_hi: u32,
    first_lo: u32,    // synthesize: index of the chunk's first value, low and high words
    first_hi: u32,
    eps: f32,         // reduce_adam: ε
    one_minus_beta1: f32, // reduce_adam: 1 − β1 and 1 − β2, rounded once from f64
    one_minus_beta2: f32,
    weight_decay: f32, // reduce_sgd, reduce_momentum, reduce_nesterov, reduce_adam: λ of torch's weight_decay
    max_grad_norm: f32, // clip_norm: clip_grad_norm_'s max_norm c; update kernels: > 0 reads the clip factor after the one row
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// The register block of the matrix-product kernels: each invocation owns
// ROWS × COLS outputs. Mirrored by kernels::BLOCK_ROWS and BLOCK_COLS.
const ROWS: u32 = 8u;
const COLS: u32 = 4u;
// Invocations per workgroup of the one-dimensional kernels. Mirrored by
// kernels::LINEAR_WORKGROUP.
const LINEAR: u32 = 64u;

// The workgroup-tiled products: TM × TN outputs per workgroup of TILED
// (16 × 16) invocations, 4 × 4 each, in steps of TK along the sum; each
// operand's step is staged as TK × 16 vec4s. Mirrored by kernels::TILED_M,
// TILED_N, TILED_K and TILED_WORKGROUP.
const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;
const TILED: u32 = 256u;
const TILE_VEC4S: u32 = 256u;

const TANH_CLAMP: f32 = 15.0;
const ACT_SIGMOID: u32 = 0u;
const ACT_TANH: u32 = 1u;

// σ(z) without overflow: e^(−z) for z ≥ 0, e^z for z < 0.
fn sigmoid(z: f32) -> f32 {
    if (z >= 0.0) {
        return 1.0 / (1.0 + exp(-z));
    }
    let e = exp(z);
    return e / (1.0 + e);
}

fn activate(z: f32, act: u32) -> f32 {
    if (act == ACT_SIGMOID) {
        return sigmoid(z);
    }
    // WGSL's tanh is sinh/cosh on some drivers: NaN for large |z| unless
    // clamped. The clamp of a NaN is a bound, so a NaN z, told by its bits
    // (a compiler may take z == z as true), is passed on as it is: a
    // parameter gone NaN makes the loss NaN, and the run's divergence is
    // seen.
    let nan = (bitcast<u32>(z) & 0x7fffffffu) > 0x7f800000u;
    return select(tanh(clamp(z, -TANH_CLAMP, TANH_CLAMP)), z, nan);
}

// g′ through the activation's output a = g(z).
fn slope(a: f32, act: u32) -> f32 {
    if (act == ACT_SIGMOID) {
        return a * (1.0 - a);
    }
    return 1.0 - a * a;
}

// Dispatches past 65,535 workgroups use a 2D grid; this is the linear index.
fn linear_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

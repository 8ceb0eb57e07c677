// The wide epoch of a network with exactly one hidden layer, of any width
// over any number of inputs: the two products with X and almost nothing
// else. Per chunk of rows:
//   forward_wide_*:     A1 = g(X·W1ᵀ + 1·b1ᵀ)                 (rows, hidden)
//                       and each 64-unit column tile's share of A1·w2ᵀ (tiles, rows)
//   output_wide:        ŷ = b2 + Σ_tiles,  r = (2/N)(ŷ − y)     (rows)
//                       and the row group's Σe²/N and ∂b2 = Σₙ r
//   weight_grad_wide_*: ∂W1 = Δ1ᵀ·X with Δ1 = (r·w2) ⊙ g′(A1) formed as it is
//                       staged; the input tile 0 workgroups also add
//                       ∂b1 = Σₙ Δ1 and ∂w2 = rᵀ·A1 over the same rows
// Every sum over rows goes, per row group, into that group's partials row
// (partials[(group_base + group)·stride + index]) in a fixed order, as
// grad.wgsl's kernels do, so the reduce chain in update.wgsl runs as is.
//
// Params: inputs, outputs = f, h; w_off, b_off = W1's and b1's first
// index; dst_off = w2's first index (b2 follows w2); len = the loss column.

@group(0) @binding(1) var<storage, read> x: array<f32>;               // X (rows, inputs)
@group(0) @binding(2) var<storage, read> theta: array<f32>;           // the flat parameter block
@group(0) @binding(3) var<storage, read> labels: array<f32>;          // y (rows)
@group(0) @binding(4) var<storage, read_write> a1: array<f32>;        // A1 (rows, outputs)
@group(0) @binding(5) var<storage, read_write> yparts: array<f32>;    // (⌈outputs/TN⌉, rows)
@group(0) @binding(6) var<storage, read_write> residual: array<f32>;  // r (rows)
@group(0) @binding(7) var<storage, read_write> partials: array<f32>;  // (row groups, stride)

// The wide products' tiles: WM × WN outputs per workgroup of TILED (16 ×
// 16) invocations, 8 × 8 each: invocation (ty, tx) owns rows 4·ty .. + 3
// and 64 + 4·ty .. + 3 of the tile, and likewise columns from 4·tx, so
// each of its reads from workgroup memory is a whole vec4. The sum goes in
// steps of WK, each operand's step staged as WK × WM/4 vec4s ([k][m/4]),
// double-buffered: step s + 1 is loaded into the other stage while step s
// is multiplied, one barrier per step. Each step is staged in PARTS of 8
// along the sum, each invocation loading one quad per operand per part.
// Two stages of both operands are 2 × 2 × WIDE_STAGE vec4s = 16 KiB at WK
// = 8, WebGPU's default max_compute_workgroup_storage_size; the epilogues
// reuse the stages. Mirrored by kernels::WIDE_M, WIDE_N, WIDE_K;
// SHADERTRAIN_WIDE_STEP=16 builds this module with WK = 16 (32 KiB).
const WM: u32 = 128u;
const WN: u32 = 128u;
const WK: u32 = 8u;
const WIDE_STAGE: u32 = WK * WM / 4u; // = WK · WN / 4
const PARTS: u32 = WK / 8u;
// A part's vec4s in a stage: 8 rows of the sum × WM / 4.
const PART: u32 = 8u * WM / 4u;

// Two stages of the row operand (X in the forward, Δ1 in the gradient)
// and of the column operand (W1, X): stage s is [s·WIDE_STAGE, + WIDE_STAGE).
var<workgroup> a_stage: array<vec4<f32>, 2u * WIDE_STAGE>;
var<workgroup> b_stage: array<vec4<f32>, 2u * WIDE_STAGE>;

// The 8 × 8 register block: c[i] are rows i (0 .. 3 from 4·ty, 4 .. 7 from
// 64 + 4·ty) times columns 4·tx .. + 3 (lo) and 64 + 4·tx .. + 3 (hi).
struct Block {
    lo: array<vec4<f32>, 8>,
    hi: array<vec4<f32>, 8>,
}

// One step of WK from stage `base` (0 or WIDE_STAGE): for each k in order,
// each output gains a[row]·b[column] by one fma.
fn multiply_step(acc: ptr<function, Block>, base: u32, ty: u32, tx: u32) {
    for (var k = 0u; k < WK; k++) {
        let at = base + k * 32u;
        let a0 = a_stage[at + ty];
        let a1 = a_stage[at + 16u + ty];
        let b0 = b_stage[at + tx];
        let b1 = b_stage[at + 16u + tx];
        (*acc).lo[0] = fma(vec4(a0.x), b0, (*acc).lo[0]);
        (*acc).lo[1] = fma(vec4(a0.y), b0, (*acc).lo[1]);
        (*acc).lo[2] = fma(vec4(a0.z), b0, (*acc).lo[2]);
        (*acc).lo[3] = fma(vec4(a0.w), b0, (*acc).lo[3]);
        (*acc).lo[4] = fma(vec4(a1.x), b0, (*acc).lo[4]);
        (*acc).lo[5] = fma(vec4(a1.y), b0, (*acc).lo[5]);
        (*acc).lo[6] = fma(vec4(a1.z), b0, (*acc).lo[6]);
        (*acc).lo[7] = fma(vec4(a1.w), b0, (*acc).lo[7]);
        (*acc).hi[0] = fma(vec4(a0.x), b1, (*acc).hi[0]);
        (*acc).hi[1] = fma(vec4(a0.y), b1, (*acc).hi[1]);
        (*acc).hi[2] = fma(vec4(a0.z), b1, (*acc).hi[2]);
        (*acc).hi[3] = fma(vec4(a0.w), b1, (*acc).hi[3]);
        (*acc).hi[4] = fma(vec4(a1.x), b1, (*acc).hi[4]);
        (*acc).hi[5] = fma(vec4(a1.y), b1, (*acc).hi[5]);
        (*acc).hi[6] = fma(vec4(a1.z), b1, (*acc).hi[6]);
        (*acc).hi[7] = fma(vec4(a1.w), b1, (*acc).hi[7]);
    }
}

// Row i (0 .. 7) of an invocation's block, as an offset in the tile.
fn block_row(ty: u32, i: u32) -> u32 {
    return (i / 4u) * 64u + 4u * ty + i % 4u;
}

// forward_wide_*: A1's tile of rows m0 .. + WM, units n0 .. + WN, from
// X's rows and W1's rows over every input; then the epilogue's ŷ shares,
// one per 64-unit half of the tile (yparts keeps its ⌈outputs/TN⌉ rows).

// Element k of row `row` of X, zero outside it.
fn x_at(row: u32, k: u32) -> f32 {
    if (row < p.rows && k < p.inputs) {
        return x[row * p.inputs + k];
    }
    return 0.0;
}

// Element k of row `row` of W1 (outputs, inputs), zero outside it.
fn w_at(row: u32, k: u32) -> f32 {
    if (row < p.outputs && k < p.inputs) {
        return theta[p.w_off + row * p.inputs + k];
    }
    return 0.0;
}

// w2[c .. c + 3], zero past the last hidden unit.
fn w2_quad(c: u32) -> vec4<f32> {
    var v = vec4(0.0);
    for (var j = 0u; j < 4u; j++) {
        if (c + j < p.outputs) {
            v[j] = theta[p.dst_off + c + j];
        }
    }
    return v;
}

// One staged quad of each operand: rows lr of X's and W1's tiles, inputs
// k .. k + 3.
struct Rows {
    x: vec4<f32>,
    w: vec4<f32>,
}

fn forward_rows(m: u32, n: u32, k: u32) -> Rows {
    return Rows(
        vec4(x_at(m, k), x_at(m, k + 1u), x_at(m, k + 2u), x_at(m, k + 3u)),
        vec4(w_at(n, k), w_at(n, k + 1u), w_at(n, k + 2u), w_at(n, k + 3u)),
    );
}

// Into the stage at `base`, [k][m/4]: inputs lk + q at slot + 32·q, the
// row's lane of its quad.
fn stage_rows(base: u32, slot: u32, lane: u32, v: Rows) {
    for (var q = 0u; q < 4u; q++) {
        a_stage[base + slot + 32u * q][lane] = v.x[q];
        b_stage[base + slot + 32u * q][lane] = v.w[q];
    }
}

// Row `row` of the block, columns c .. c + 3: A1 = g(z + b1) where it
// exists; returns Σⱼ A1[row, c + j]·w2[c + j] in j order (0 outside).
fn store_a1(row: u32, c: u32, z: vec4<f32>, w2: vec4<f32>, act: u32) -> f32 {
    if (row >= p.rows) {
        return 0.0;
    }
    var s = 0.0;
    for (var j = 0u; j < 4u; j++) {
        let o = c + j;
        if (o < p.outputs) {
            let a = activate(z[j] + theta[p.b_off + o], act);
            a1[row * p.outputs + o] = a;
            s = fma(a, w2[j], s);
        }
    }
    return s;
}

// Block row i's A1 (both column quads), and its two 4-unit shares of ŷ
// into a_stage (half 0) and b_stage (half 1) at [m][tx/4][tx % 4].
fn store_block_row(m0: u32, n0: u32, ty: u32, tx: u32, i: u32, lo: vec4<f32>, hi: vec4<f32>, w2lo: vec4<f32>, w2hi: vec4<f32>, act: u32) {
    let m = block_row(ty, i);
    let slot = m * 4u + tx / 4u;
    let lane = tx % 4u;
    a_stage[slot][lane] = store_a1(m0 + m, n0 + 4u * tx, lo, w2lo, act);
    b_stage[slot][lane] = store_a1(m0 + m, n0 + 64u + 4u * tx, hi, w2hi, act);
}

fn forward_wide(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, act: u32) {
    let tiles_n = (p.outputs + WN - 1u) / WN;
    let tile = linear_workgroup(wid, nwg);
    let m0 = (tile / tiles_n) * WM;
    let n0 = (tile % tiles_n) * WN;
    if (m0 >= p.rows) {
        return;
    }
    let t = lid.x;
    let tx = t % 16u;
    let ty = t / 16u;
    // The staging: invocation t loads inputs 8·h + lk .. + 3 of the step
    // of row lr of each tile, for each part h.
    let lr = t / 2u;
    let lk = (t % 2u) * 4u;
    let slot = lk * 32u + lr / 4u;
    let lane = lr % 4u;
    let steps = (p.inputs + WK - 1u) / WK;
    var acc: Block;
    var next: array<Rows, PARTS>;
    for (var h = 0u; h < PARTS; h++) {
        next[h] = forward_rows(m0 + lr, n0 + lr, 8u * h + lk);
        stage_rows(h * PART, slot, lane, next[h]);
    }
    workgroupBarrier();
    // Step s multiplies stage s % 2 while step s + 1 goes into the other,
    // which every invocation finished reading before the last barrier.
    for (var s = 0u; s < steps; s++) {
        let more = s + 1u < steps;
        if (more) {
            for (var h = 0u; h < PARTS; h++) {
                next[h] = forward_rows(m0 + lr, n0 + lr, (s + 1u) * WK + 8u * h + lk);
            }
        }
        multiply_step(&acc, (s % 2u) * WIDE_STAGE, ty, tx);
        if (more) {
            for (var h = 0u; h < PARTS; h++) {
                stage_rows(((s + 1u) % 2u) * WIDE_STAGE + h * PART, slot, lane, next[h]);
            }
        }
        workgroupBarrier();
    }
    let w2lo = w2_quad(n0 + 4u * tx);
    let w2hi = w2_quad(n0 + 64u + 4u * tx);
    // Every component of both arrays (m < WM, tx < 16) is written here,
    // after the loop's last barrier and before the next.
    store_block_row(m0, n0, ty, tx, 0u, acc.lo[0], acc.hi[0], w2lo, w2hi, act);
    store_block_row(m0, n0, ty, tx, 1u, acc.lo[1], acc.hi[1], w2lo, w2hi, act);
    store_block_row(m0, n0, ty, tx, 2u, acc.lo[2], acc.hi[2], w2lo, w2hi, act);
    store_block_row(m0, n0, ty, tx, 3u, acc.lo[3], acc.hi[3], w2lo, w2hi, act);
    store_block_row(m0, n0, ty, tx, 4u, acc.lo[4], acc.hi[4], w2lo, w2hi, act);
    store_block_row(m0, n0, ty, tx, 5u, acc.lo[5], acc.hi[5], w2lo, w2hi, act);
    store_block_row(m0, n0, ty, tx, 6u, acc.lo[6], acc.hi[6], w2lo, w2hi, act);
    store_block_row(m0, n0, ty, tx, 7u, acc.lo[7], acc.hi[7], w2lo, w2hi, act);
    workgroupBarrier();
    // Invocation t: row m0 + t % WM of half t / WM, its 16 shares added as
    // a fixed tree: the four quads pairwise, then the lanes pairwise.
    let half = t / WM;
    let m = t % WM;
    let share = n0 / TN + half;
    if (m0 + m < p.rows && share * TN < p.outputs) {
        var q = array<vec4<f32>, 4>();
        for (var j = 0u; j < 4u; j++) {
            if (half == 0u) {
                q[j] = a_stage[4u * m + j];
            } else {
                q[j] = b_stage[4u * m + j];
            }
        }
        let s = (q[0] + q[1]) + (q[2] + q[3]);
        yparts[share * p.rows + m0 + m] = (s.x + s.y) + (s.z + s.w);
    }
}

@compute @workgroup_size(TILED)
fn forward_wide_sigmoid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    forward_wide(wid, nwg, lid, ACT_SIGMOID);
}

@compute @workgroup_size(TILED)
fn forward_wide_tanh(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    forward_wide(wid, nwg, lid, ACT_TANH);
}

// output_wide: one workgroup per row group; (Σe², Σr) per invocation, then
// a fixed tree across the workgroup.
var<workgroup> sums: array<vec2<f32>, LINEAR>;

@compute @workgroup_size(LINEAR)
fn output_wide(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let group = linear_workgroup(wid, nwg);
    let groups = (p.rows + p.group_rows - 1u) / p.group_rows;
    if (group >= groups) {
        return;
    }
    let tiles_n = (p.outputs + TN - 1u) / TN;
    let first = group * p.group_rows;
    let end = min(first + p.group_rows, p.rows);
    let bias = theta[p.dst_off + p.outputs];
    // Invocation t takes every LINEAR-th row from the group's first.
    var acc = vec2(0.0);
    for (var n = first + lid.x; n < end; n += LINEAR) {
        var s = 0.0;
        for (var tn = 0u; tn < tiles_n; tn++) {
            s += yparts[tn * p.rows + n];
        }
        let e = (bias + s) - labels[n];
        let r = p.scale * e;
        residual[n] = r;
        acc += vec2(e * e, r);
    }
    // Written by every invocation before the barrier the tree reads after.
    sums[lid.x] = acc;
    workgroupBarrier();
    for (var half = LINEAR / 2u; half > 0u; half /= 2u) {
        if (lid.x < half) {
            sums[lid.x] += sums[lid.x + half];
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        let row = (p.group_base + group) * p.stride;
        // scale is 2/N; halving it is exact.
        partials[row + p.len] = sums[0].x * (0.5 * p.scale);
        // A partials row of one value (stride 1) holds the loss alone: a
        // pass that only measures it (plan::Partials::Loss) has no ∂b₂.
        if (p.stride > 1u) {
            partials[row + p.dst_off + p.outputs] = sums[0].y;
        }
    }
}

// weight_grad_wide_*: ∂W1's tile of outputs o0 .. + WM, inputs i0 .. + WN
// over one row group, with Δ1 = (r·w2) ⊙ g′(A1) formed as it is staged.

// Four consecutive values from column c of row n of A1, zero past its
// last column.
fn a1_quad(n: u32, c: u32) -> vec4<f32> {
    var v = vec4(0.0);
    for (var j = 0u; j < 4u; j++) {
        if (c + j < p.outputs) {
            v[j] = a1[n * p.outputs + c + j];
        }
    }
    return v;
}

fn x_quad(n: u32, c: u32) -> vec4<f32> {
    var v = vec4(0.0);
    for (var j = 0u; j < 4u; j++) {
        if (c + j < p.inputs) {
            v[j] = x[n * p.inputs + c + j];
        }
    }
    return v;
}

// g′ of each of four outputs.
fn slope4(a: vec4<f32>, act: u32) -> vec4<f32> {
    return vec4(slope(a.x, act), slope(a.y, act), slope(a.z, act), slope(a.w, act));
}

// One row's staged quads: Δ1[n, o .. o + 3], X[n, i .. i + 3], and the r
// and A1 the small sums take; all zero for a row past the group.
struct Staged {
    d: vec4<f32>,
    x: vec4<f32>,
    r: f32,
    a: vec4<f32>,
}

fn grad_row(n: u32, end: u32, o: u32, i: u32, w2: vec4<f32>, act: u32) -> Staged {
    var s = Staged(vec4(0.0), vec4(0.0), 0.0, vec4(0.0));
    if (n < end) {
        s.r = residual[n];
        s.a = a1_quad(n, o);
        s.d = (s.r * w2) * slope4(s.a, act);
        s.x = x_quad(n, i);
    }
    return s;
}

// ∂b1 or ∂w2 for o .. o + 3 where they exist, at column `at` + o.
fn store_quad(row: u32, at: u32, o: u32, v: vec4<f32>) {
    for (var j = 0u; j < 4u; j++) {
        if (o + j < p.outputs) {
            partials[row + at + o + j] = v[j];
        }
    }
}

// ∂W1[o, i .. i + 3] for the inputs that exist.
fn store_w1_row(row: u32, o: u32, i: u32, v: vec4<f32>) {
    if (o >= p.outputs) {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        if (i + j < p.inputs) {
            partials[row + p.w_off + o * p.inputs + i + j] = v[j];
        }
    }
}

// Block row i: ∂W1 for output o0 + block_row(ty, i), both input quads.
fn store_grad_row(row: u32, o0: u32, i0: u32, ty: u32, tx: u32, i: u32, lo: vec4<f32>, hi: vec4<f32>) {
    let o = o0 + block_row(ty, i);
    store_w1_row(row, o, i0 + 4u * tx, lo);
    store_w1_row(row, o, i0 + 64u + 4u * tx, hi);
}

// One workgroup per (row group, WM outputs, WN inputs). Invocation t stages
// row n0 + t/32 + 8·h of each part h, outputs o0 + 4·(t % 32) .. + 3 of
// Δ1 and the same inputs of X, at [t + h·PART] of each stage ([k][o/4]
// with k = t/32 + 8·h), and keeps its own sums of those Δ1 and r·A1 over
// its rows (every 8th of the group).
fn weight_grad_wide(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, act: u32) {
    let tiles_o = (p.outputs + WM - 1u) / WM;
    let tiles_i = (p.inputs + WN - 1u) / WN;
    let id = linear_workgroup(wid, nwg);
    let group = id / (tiles_o * tiles_i);
    let groups = (p.rows + p.group_rows - 1u) / p.group_rows;
    if (group >= groups) {
        return;
    }
    let o0 = (id % tiles_o) * WM;
    let i0 = ((id / tiles_o) % tiles_i) * WN;
    let first = group * p.group_rows;
    let end = min(first + p.group_rows, p.rows);
    let t = lid.x;
    let tx = t % 16u; // inputs i0 + 4·tx .. + 3 and i0 + 64 + 4·tx .. + 3
    let ty = t / 16u; // outputs o0 + 4·ty .. + 3 and o0 + 64 + 4·ty .. + 3
    let lr = t / 32u;
    let lc = (t % 32u) * 4u;
    // Zero past the last output, so Δ1 and r·A1 are 0 there.
    let w2 = w2_quad(o0 + lc);
    let steps = (end - first + WK - 1u) / WK;
    var acc: Block;
    var db = vec4(0.0); // Σ Δ1 over this invocation's rows
    var dw = vec4(0.0); // Σ r·A1 over the same rows
    var next: array<Staged, PARTS>;
    for (var h = 0u; h < PARTS; h++) {
        next[h] = grad_row(first + 8u * h + lr, end, o0 + lc, i0 + lc, w2, act);
        db += next[h].d;
        dw = fma(vec4(next[h].r), next[h].a, dw);
        a_stage[h * PART + t] = next[h].d;
        b_stage[h * PART + t] = next[h].x;
    }
    workgroupBarrier();
    // Double-buffered as forward_wide: step s + 1 is loaded while step s
    // is multiplied, then staged, then one barrier.
    for (var s = 0u; s < steps; s++) {
        let more = s + 1u < steps;
        if (more) {
            for (var h = 0u; h < PARTS; h++) {
                next[h] = grad_row(first + (s + 1u) * WK + 8u * h + lr, end, o0 + lc, i0 + lc, w2, act);
                db += next[h].d;
                dw = fma(vec4(next[h].r), next[h].a, dw);
            }
        }
        multiply_step(&acc, (s % 2u) * WIDE_STAGE, ty, tx);
        if (more) {
            let base = ((s + 1u) % 2u) * WIDE_STAGE;
            for (var h = 0u; h < PARTS; h++) {
                a_stage[base + h * PART + t] = next[h].d;
                b_stage[base + h * PART + t] = next[h].x;
            }
        }
        workgroupBarrier();
    }
    let row = (p.group_base + group) * p.stride;
    store_grad_row(row, o0, i0, ty, tx, 0u, acc.lo[0], acc.hi[0]);
    store_grad_row(row, o0, i0, ty, tx, 1u, acc.lo[1], acc.hi[1]);
    store_grad_row(row, o0, i0, ty, tx, 2u, acc.lo[2], acc.hi[2]);
    store_grad_row(row, o0, i0, ty, tx, 3u, acc.lo[3], acc.hi[3]);
    store_grad_row(row, o0, i0, ty, tx, 4u, acc.lo[4], acc.hi[4]);
    store_grad_row(row, o0, i0, ty, tx, 5u, acc.lo[5], acc.hi[5]);
    store_grad_row(row, o0, i0, ty, tx, 6u, acc.lo[6], acc.hi[6]);
    store_grad_row(row, o0, i0, ty, tx, 7u, acc.lo[7], acc.hi[7]);
    // Input tile 0 (uniform across the workgroup): the 8 invocations of
    // each output quad add their sums in row-offset order, through stage
    // 0, which the loop above finished reading before its last barrier.
    if (i0 == 0u) {
        a_stage[t] = db;
        b_stage[t] = dw;
        workgroupBarrier();
        if (t < 32u) {
            var b = a_stage[t];
            var w = b_stage[t];
            for (var k = 1u; k < TILED / 32u; k++) {
                b += a_stage[k * 32u + t];
                w += b_stage[k * 32u + t];
            }
            store_quad(row, p.b_off, o0 + 4u * t, b);
            store_quad(row, p.dst_off, o0 + 4u * t, w);
        }
    }
}

@compute @workgroup_size(TILED)
fn weight_grad_wide_sigmoid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    weight_grad_wide(wid, nwg, lid, ACT_SIGMOID);
}

@compute @workgroup_size(TILED)
fn weight_grad_wide_tanh(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    weight_grad_wide(wid, nwg, lid, ACT_TANH);
}

// The whole gradient of a one-hidden-layer network in one pass over the rows:
//   z = x·W1ᵀ + b1,  a = g(z),  ŷ = a·w2 + b2,  e = ŷ − y,  r = (2/N)·e
//   ∂W1 = Σ (r·w2 ⊙ g′(a))ᵀ·x,  ∂b1 = Σ r·w2 ⊙ g′(a),  ∂w2 = Σ r·a,  ∂b2 = Σ r
// and Σ e²/N, for networks with F ≤ 4·MAX_F4 inputs and H ≤ FUSED hidden
// units. Neither a nor the deltas are written to memory.
//
// One workgroup per row group of `group_rows` rows. Invocation t is hidden
// unit j = t % HB on lane t / HB; it keeps W1[j, :] and its own ∂W1[j, :] in
// registers (w0..w7, g0..g7: named, so no driver has to prove an array can
// live in registers) and takes every LANES-th row of each tile of TILE rows.
// The tile of x and the tile's activations sit in workgroup memory; x is
// read as vec4s that every unit shares, and the next tile's x and y are
// loaded while the current tile computes. The lanes' sums are added in lane
// order into the group's partials row,
//   partials[(group_base + group)·stride + parameter index],
// with the loss term at column `len`; reduce then adds the rows in a fixed
// order. No atomics: reruns are bit-identical.

@group(0) @binding(1) var<storage, read> x: array<f32>;              // (rows, F)
@group(0) @binding(2) var<storage, read> labels: array<f32>;         // y (rows)
@group(0) @binding(3) var<storage, read> theta: array<f32>;          // the flat parameter block
@group(0) @binding(4) var<storage, read_write> partials: array<f32>; // (row groups, stride)

// Invocations per workgroup. Mirrored by kernels::FUSED_WORKGROUP.
const FUSED: u32 = 256u;
// Most inputs, as vec4s: F ≤ 32. Mirrored by kernels::FUSED_MAX_INPUTS.
const MAX_F4: u32 = 8u;
// Workgroup memory for the tile: TILE·F4 vec4s of x and TILE·HB activations.
// Mirrored by kernels::FUSED_X_CAP and FUSED_PROD_CAP.
const X_CAP: u32 = 256u;
const PROD_CAP: u32 = 2048u;
const MAX_TILE: u32 = 64u;

// Set per network when the pipeline is built (kernels::FusedShape); the
// defaults only let the module validate on its own.
override F: u32 = 4u;     // inputs
override F4: u32 = 1u;    // ⌈F/4⌉
override H: u32 = 16u;    // hidden units
override HB: u32 = 16u;   // H rounded up to a power of two
override TILE: u32 = 64u; // rows per tile: a power of two ≤ MAX_TILE

var<workgroup> xt: array<vec4<f32>, X_CAP>;    // the x tile (TILE, F4)
var<workgroup> acts: array<f32, PROD_CAP>;     // a of the tile (TILE, HB)
var<workgroup> w2s: array<f32, FUSED>;         // w2, zero past H
var<workgroup> rt: array<f32, MAX_TILE>;       // r of the tile
var<workgroup> yt: array<f32, MAX_TILE>;       // y of the tile
var<workgroup> sums: array<vec2<f32>, FUSED>;  // row-sum segments, then (Σe², Σr)

fn x_at(row: u32, c: u32) -> f32 {
    if (c < F) {
        return x[row * F + c];
    }
    return 0.0;
}

// Vec4 i of the x tile that starts at row `start`, zero past `end` and F.
fn x_vec4(start: u32, end: u32, i: u32) -> vec4<f32> {
    let row = start + i / F4;
    let c = 4u * (i % F4);
    if (row < end && i < TILE * F4) {
        return vec4(x_at(row, c), x_at(row, c + 1u), x_at(row, c + 2u), x_at(row, c + 3u));
    }
    return vec4(0.0);
}

// y of row `start + r`, zero past `end`.
fn y_at(start: u32, end: u32, r: u32) -> f32 {
    if (start + r < end && r < TILE) {
        return labels[start + r];
    }
    return 0.0;
}

// Inputs c..c+3 of W1's row `unit`, zero past F.
fn w1_at(unit: u32, k: u32) -> vec4<f32> {
    var v = vec4(0.0);
    for (var i = 0u; i < 4u; i++) {
        let c = 4u * k + i;
        if (c < F) {
            v[i] = theta[p.w_off + unit * F + c];
        }
    }
    return v;
}

// x[r, :]·w for the tile row whose vec4s start at o; vec4s past F4 skipped
// (F4 is a pipeline constant, so the skipped terms compile away).
fn dot_row(o: u32, w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>, w3: vec4<f32>, w4: vec4<f32>, w5: vec4<f32>, w6: vec4<f32>, w7: vec4<f32>) -> f32 {
    var z = dot(xt[o], w0);
    if (F4 > 1u) { z += dot(xt[o + 1u], w1); }
    if (F4 > 2u) { z += dot(xt[o + 2u], w2); }
    if (F4 > 3u) { z += dot(xt[o + 3u], w3); }
    if (F4 > 4u) { z += dot(xt[o + 4u], w4); }
    if (F4 > 5u) { z += dot(xt[o + 5u], w5); }
    if (F4 > 6u) { z += dot(xt[o + 6u], w6); }
    if (F4 > 7u) { z += dot(xt[o + 7u], w7); }
    return z;
}

// The lanes' values of v for unit j, added in lane order; meaningful on
// lane 0. Uses the x tile's memory, one vec4 per invocation.
fn lane_total(t: u32, j: u32, v: vec4<f32>) -> vec4<f32> {
    workgroupBarrier();
    xt[t] = v;
    workgroupBarrier();
    var s = xt[j];
    for (var l = 1u; l < FUSED / HB; l++) {
        s += xt[l * HB + j];
    }
    return s;
}

// ∂W1[j, 4k..4k+3] into the partials row at base.
fn store_w(base: u32, j: u32, k: u32, v: vec4<f32>) {
    for (var i = 0u; i < 4u; i++) {
        let c = 4u * k + i;
        if (c < F) {
            partials[base + p.w_off + j * F + c] = v[i];
        }
    }
}

fn fused(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, act: u32) {
    let group = linear_workgroup(wid, nwg);
    let groups = (p.rows + p.group_rows - 1u) / p.group_rows;
    if (group >= groups) {
        return;
    }
    let t = lid.x;
    let lanes = FUSED / HB;
    let j = t % HB;
    let lane = t / HB;
    let live = j < H;
    let unit = min(j, H - 1u);
    let first = group * p.group_rows;
    let end = min(first + p.group_rows, p.rows);

    // W1[j, :] (zero past F) and ∂W1[j, :].
    let w0 = w1_at(unit, 0u);
    let w1 = w1_at(unit, 1u);
    let w2 = w1_at(unit, 2u);
    let w3 = w1_at(unit, 3u);
    let w4 = w1_at(unit, 4u);
    let w5 = w1_at(unit, 5u);
    let w6 = w1_at(unit, 6u);
    let w7 = w1_at(unit, 7u);
    var g0 = vec4(0.0);
    var g1 = vec4(0.0);
    var g2 = vec4(0.0);
    var g3 = vec4(0.0);
    var g4 = vec4(0.0);
    var g5 = vec4(0.0);
    var g6 = vec4(0.0);
    var g7 = vec4(0.0);
    let b1 = theta[p.b_off + unit];
    let w_out = select(0.0, theta[p.dst_off + unit], live);
    let b2 = theta[p.dst_off + H];
    if (lane == 0u) {
        w2s[j] = w_out;
    }
    var db1 = 0.0;
    var dw2 = 0.0;
    // Kept by the first invocation of each tile row's segments.
    var sq = 0.0;
    var rsum = 0.0;
    let lane_rows = max(TILE / lanes, 1u);
    // The row sums a·w2: `segs` invocations per tile row.
    let segs = FUSED / TILE;
    let srow = t / segs;
    let seg = t % segs;

    // Invocation t stages vec4 t of each x tile (TILE·F4 ≤ FUSED) and y of
    // tile row t, loaded one tile ahead so the loads overlap a tile's work.
    var x_next = x_vec4(first, end, t);
    var y_next = y_at(first, end, t);
    for (var start = first; start < end; start += TILE) {
        if (t < TILE * F4) {
            xt[t] = x_next;
        }
        if (t < TILE) {
            yt[t] = y_next;
        }
        workgroupBarrier();
        x_next = x_vec4(start + TILE, end, t);
        y_next = y_at(start + TILE, end, t);

        // Forward for this lane's rows of the tile.
        for (var i = 0u; i < lane_rows; i++) {
            let r = lane + i * lanes;
            if (r < TILE) {
                let z = b1 + dot_row(r * F4, w0, w1, w2, w3, w4, w5, w6, w7);
                acts[r * HB + j] = activate(z, act);
            }
        }
        workgroupBarrier();

        // ŷ per tile row: each segment a strided partial sum, then the
        // first invocation of the row adds the segments in order.
        var s = 0.0;
        for (var q = seg; q < HB; q += segs) {
            s = fma(acts[srow * HB + q], w2s[q], s);
        }
        sums[t] = vec2(s, 0.0);
        workgroupBarrier();
        if (seg == 0u) {
            var yhat = b2;
            for (var q = 0u; q < segs; q++) {
                yhat += sums[t + q].x;
            }
            let n = start + srow;
            var r = 0.0;
            if (n < end) {
                let e = yhat - yt[srow];
                r = p.scale * e;
                sq += e * e;
                rsum += r;
            }
            rt[srow] = r;
        }
        workgroupBarrier();

        // Backward: δ = r·w2·g′(a); rows past the end have r = 0.
        for (var i = 0u; i < lane_rows; i++) {
            let r = lane + i * lanes;
            if (r < TILE) {
                let rr = rt[r];
                let av = acts[r * HB + j];
                let d = rr * w_out * slope(av, act);
                db1 += d;
                dw2 += rr * av;
                let dv = vec4(d);
                let o = r * F4;
                g0 = fma(dv, xt[o], g0);
                if (F4 > 1u) { g1 = fma(dv, xt[o + 1u], g1); }
                if (F4 > 2u) { g2 = fma(dv, xt[o + 2u], g2); }
                if (F4 > 3u) { g3 = fma(dv, xt[o + 3u], g3); }
                if (F4 > 4u) { g4 = fma(dv, xt[o + 4u], g4); }
                if (F4 > 5u) { g5 = fma(dv, xt[o + 5u], g5); }
                if (F4 > 6u) { g6 = fma(dv, xt[o + 6u], g6); }
                if (F4 > 7u) { g7 = fma(dv, xt[o + 7u], g7); }
            }
        }
        // The next tile overwrites xt, acts and rt.
        workgroupBarrier();
    }

    // The lanes' sums, added in lane order.
    if (lanes > 1u) {
        g0 = lane_total(t, j, g0);
        if (F4 > 1u) { g1 = lane_total(t, j, g1); }
        if (F4 > 2u) { g2 = lane_total(t, j, g2); }
        if (F4 > 3u) { g3 = lane_total(t, j, g3); }
        if (F4 > 4u) { g4 = lane_total(t, j, g4); }
        if (F4 > 5u) { g5 = lane_total(t, j, g5); }
        if (F4 > 6u) { g6 = lane_total(t, j, g6); }
        if (F4 > 7u) { g7 = lane_total(t, j, g7); }
        let b = lane_total(t, j, vec4(db1, dw2, 0.0, 0.0));
        db1 = b.x;
        dw2 = b.y;
    }
    // (Σe², Σr) over the workgroup, in a fixed tree.
    workgroupBarrier();
    sums[t] = vec2(sq, rsum);
    workgroupBarrier();
    for (var half = FUSED / 2u; half > 0u; half /= 2u) {
        if (t < half) {
            sums[t] += sums[t + half];
        }
        workgroupBarrier();
    }

    let base = (p.group_base + group) * p.stride;
    if (live && lane == 0u) {
        store_w(base, j, 0u, g0);
        if (F4 > 1u) { store_w(base, j, 1u, g1); }
        if (F4 > 2u) { store_w(base, j, 2u, g2); }
        if (F4 > 3u) { store_w(base, j, 3u, g3); }
        if (F4 > 4u) { store_w(base, j, 4u, g4); }
        if (F4 > 5u) { store_w(base, j, 5u, g5); }
        if (F4 > 6u) { store_w(base, j, 6u, g6); }
        if (F4 > 7u) { store_w(base, j, 7u, g7); }
        partials[base + p.b_off + j] = db1;
        partials[base + p.dst_off + j] = dw2;
    }
    if (t == 0u) {
        partials[base + p.dst_off + H] = sums[0].y;
        // Σe²/N: scale is 2/N, and halving it is exact.
        partials[base + p.len] = sums[0].x * (0.5 * p.scale);
    }
}

@compute @workgroup_size(FUSED)
fn fused_sigmoid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    fused(wid, nwg, lid, ACT_SIGMOID);
}

@compute @workgroup_size(FUSED)
fn fused_tanh(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    fused(wid, nwg, lid, ACT_TANH);
}

// The wide epoch of a network with exactly one hidden layer, of any width
// over any number of inputs: the two products with X and almost nothing
// else. Per chunk of rows:
//   forward_wide_*:     A1 = g(X·W1ᵀ + 1·b1ᵀ)                 (rows, hidden)
//                       and each column tile's share of A1·w2ᵀ  (tiles, rows)
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

// forward_wide_*: the tiled forward of dense.wgsl's forward_tiled, then
// the epilogue's ŷ shares.
var<workgroup> x_tile: array<vec4<f32>, TILE_VEC4S>; // [k][m/4]: X[m0 + m .. m + 3, k0 + k]
var<workgroup> w_tile: array<vec4<f32>, TILE_VEC4S>; // [k][n/4]: W1[n0 + n .. n + 3, k0 + k]
var<workgroup> y_tile: array<vec4<f32>, TILE_VEC4S>; // [m][tx/4]: row m0 + m's Σ over tx's 4 columns

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

fn forward_wide(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, act: u32) {
    let tiles_n = (p.outputs + TN - 1u) / TN;
    let tile = linear_workgroup(wid, nwg);
    let m0 = (tile / tiles_n) * TM;
    let tile_n = tile % tiles_n;
    let n0 = tile_n * TN;
    if (m0 >= p.rows) {
        return;
    }
    let t = lid.x;
    let tx = t % 16u; // outputs n0 + 4·tx .. + 3
    let ty = t / 16u; // rows m0 + 4·ty .. + 3
    // The staging: invocation t loads 4 inputs of one row of each tile.
    let lr = t / 4u;
    let lk = (t % 4u) * 4u;
    var c0 = vec4(0.0);
    var c1 = vec4(0.0);
    var c2 = vec4(0.0);
    var c3 = vec4(0.0);
    for (var k0 = 0u; k0 < p.inputs; k0 += TK) {
        let k = k0 + lk;
        let slot = lk * 16u + lr / 4u;
        let c = lr % 4u;
        x_tile[slot][c] = x_at(m0 + lr, k);
        x_tile[slot + 16u][c] = x_at(m0 + lr, k + 1u);
        x_tile[slot + 32u][c] = x_at(m0 + lr, k + 2u);
        x_tile[slot + 48u][c] = x_at(m0 + lr, k + 3u);
        w_tile[slot][c] = w_at(n0 + lr, k);
        w_tile[slot + 16u][c] = w_at(n0 + lr, k + 1u);
        w_tile[slot + 32u][c] = w_at(n0 + lr, k + 2u);
        w_tile[slot + 48u][c] = w_at(n0 + lr, k + 3u);
        workgroupBarrier();
        for (var k = 0u; k < TK; k++) {
            let xv = x_tile[k * 16u + ty];
            let wv = w_tile[k * 16u + tx];
            c0 = fma(vec4(xv.x), wv, c0);
            c1 = fma(vec4(xv.y), wv, c1);
            c2 = fma(vec4(xv.z), wv, c2);
            c3 = fma(vec4(xv.w), wv, c3);
        }
        workgroupBarrier();
    }
    let row = m0 + 4u * ty;
    let col = n0 + 4u * tx;
    let w2 = w2_quad(col);
    // Each of the block's rows: its 4 columns' share of ŷ, by column
    // quad tx, into y_tile; every slot is written before the barrier.
    let q = tx / 4u;
    let lane = tx % 4u;
    y_tile[(4u * ty) * 4u + q][lane] = store_a1(row, col, c0, w2, act);
    y_tile[(4u * ty + 1u) * 4u + q][lane] = store_a1(row + 1u, col, c1, w2, act);
    y_tile[(4u * ty + 2u) * 4u + q][lane] = store_a1(row + 2u, col, c2, w2, act);
    y_tile[(4u * ty + 3u) * 4u + q][lane] = store_a1(row + 3u, col, c3, w2, act);
    workgroupBarrier();
    // Row m0 + t's 16 shares, added as a fixed tree: the four quads
    // pairwise, then the lanes pairwise.
    if (t < TM && m0 + t < p.rows) {
        let s = (y_tile[4u * t] + y_tile[4u * t + 1u]) + (y_tile[4u * t + 2u] + y_tile[4u * t + 3u]);
        yparts[tile_n * p.rows + m0 + t] = (s.x + s.y) + (s.z + s.w);
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
        partials[row + p.dst_off + p.outputs] = sums[0].y;
    }
}

// weight_grad_wide_*: grad.wgsl's weight_grad_tiled with D = Δ1 formed as
// it is staged, from r, w2 and A1.
var<workgroup> d_tile: array<vec4<f32>, TILE_VEC4S>; // [n][o/4]: Δ1[n0 + n, o0 + o .. o + 3]
var<workgroup> p_tile: array<vec4<f32>, TILE_VEC4S>; // [n][i/4]: X[n0 + n, i0 + i .. i + 3]

// Four consecutive values from column c of row n of a (rows, width)
// matrix, zero past its last column.
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

// ∂b1 or ∂w2 for o .. o + 3 where they exist, at column `at` + o.
fn store_quad(row: u32, at: u32, o: u32, v: vec4<f32>) {
    for (var j = 0u; j < 4u; j++) {
        if (o + j < p.outputs) {
            partials[row + at + o + j] = v[j];
        }
    }
}

// One workgroup per (row group, TM outputs, TN inputs). Invocation t stages
// row n0 + t/16, outputs o0 + 4·(t % 16) .. + 3 of Δ1, and keeps its own
// sums of those Δ1 and r·A1 over its rows (every 16th of the group).
fn weight_grad_wide(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, act: u32) {
    let tiles_o = (p.outputs + TM - 1u) / TM;
    let tiles_i = (p.inputs + TN - 1u) / TN;
    let id = linear_workgroup(wid, nwg);
    let group = id / (tiles_o * tiles_i);
    let groups = (p.rows + p.group_rows - 1u) / p.group_rows;
    if (group >= groups) {
        return;
    }
    let o0 = (id % tiles_o) * TM;
    let i0 = ((id / tiles_o) % tiles_i) * TN;
    let first = group * p.group_rows;
    let end = min(first + p.group_rows, p.rows);
    let t = lid.x;
    let tx = t % 16u; // inputs i0 + 4·tx .. + 3
    let ty = t / 16u; // outputs o0 + 4·ty .. + 3
    let lr = t / 16u;
    let lc = (t % 16u) * 4u;
    // Zero past the last output, so Δ1 and r·A1 are 0 there.
    let w2 = w2_quad(o0 + lc);
    var c0 = vec4(0.0);
    var c1 = vec4(0.0);
    var c2 = vec4(0.0);
    var c3 = vec4(0.0);
    var db = vec4(0.0); // Σ Δ1 over this invocation's rows
    var dw = vec4(0.0); // Σ r·A1 over the same rows
    for (var n0 = first; n0 < end; n0 += TK) {
        let n = n0 + lr;
        var dv = vec4(0.0);
        var xv = vec4(0.0);
        if (n < end) {
            let r = residual[n];
            let a = a1_quad(n, o0 + lc);
            dv = (r * w2) * slope4(a, act);
            xv = x_quad(n, i0 + lc);
            db += dv;
            dw = fma(vec4(r), a, dw);
        }
        d_tile[t] = dv;
        p_tile[t] = xv;
        workgroupBarrier();
        for (var k = 0u; k < TK; k++) {
            let d = d_tile[k * 16u + ty];
            let xk = p_tile[k * 16u + tx];
            c0 = fma(vec4(d.x), xk, c0);
            c1 = fma(vec4(d.y), xk, c1);
            c2 = fma(vec4(d.z), xk, c2);
            c3 = fma(vec4(d.w), xk, c3);
        }
        workgroupBarrier();
    }
    let row = (p.group_base + group) * p.stride;
    let o = o0 + 4u * ty;
    let i = i0 + 4u * tx;
    store_w1_row(row, o, i, c0);
    store_w1_row(row, o + 1u, i, c1);
    store_w1_row(row, o + 2u, i, c2);
    store_w1_row(row, o + 3u, i, c3);
    // Input tile 0 (uniform across the workgroup): the 16 invocations of
    // each output quad add their sums in row-offset order, through the
    // tiles the loop above left behind its last barrier.
    if (i0 == 0u) {
        d_tile[t] = db;
        p_tile[t] = dw;
        workgroupBarrier();
        if (t < 16u) {
            var b = d_tile[t];
            var w = p_tile[t];
            for (var k = 1u; k < 16u; k++) {
                b += d_tile[k * 16u + t];
                w += p_tile[k * 16u + t];
            }
            store_quad(row, p.b_off, o0 + 4u * t, b);
            store_quad(row, p.dst_off, o0 + 4u * t, w);
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

@compute @workgroup_size(TILED)
fn weight_grad_wide_sigmoid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    weight_grad_wide(wid, nwg, lid, ACT_SIGMOID);
}

@compute @workgroup_size(TILED)
fn weight_grad_wide_tanh(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    weight_grad_wide(wid, nwg, lid, ACT_TANH);
}

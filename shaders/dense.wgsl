// Matrix products of the dense layers, register-blocked: each invocation
// computes an 8 × 4 block of outputs (ROWS rows × COLS columns), so every
// value it loads feeds 4 or 8 fused multiply-adds. The forward also comes
// workgroup-tiled (forward_tiled_*, at the end).
//   forward_*:  A_out = g(A_in·Wᵀ + 1·bᵀ)          (rows, outputs)
//   backprop_*: Δ = (D·W) ⊙ g′(A)                   (rows, inputs)
//   backprop_output_*: the same for a layer of one output, by columns

@group(0) @binding(1) var<storage, read> lhs: array<f32>;          // forward: A_in (rows, inputs); backprop: D (rows, outputs)
@group(0) @binding(2) var<storage, read> theta: array<f32>;        // the flat parameter block
@group(0) @binding(3) var<storage, read> act_in: array<f32>;       // backprop: A (rows, inputs)
@group(0) @binding(4) var<storage, read_write> result: array<f32>;

const LANE4 = vec4<u32>(0u, 1u, 2u, 3u);

// The block of invocation `lid` in workgroup `t`: (first row, first column),
// for `cols` columns. Columns vary fastest across workgroups so the rows'
// loads are shared through the cache.
fn block_origin(t: u32, lid: u32, cols: u32) -> vec2<u32> {
    let col_blocks = (cols + COLS - 1u) / COLS;
    return vec2<u32>(((t / col_blocks) * LINEAR + lid) * ROWS, (t % col_blocks) * COLS);
}

// Writes row `row` of a block, columns c0..c0+3 of a (rows, width) matrix;
// past the last row or column nothing is written.
fn store_forward(row: u32, c0: u32, z: vec4<f32>, act: u32) {
    if (row >= p.rows) {
        return;
    }
    for (var j = 0u; j < COLS; j++) {
        let o = c0 + j;
        if (o < p.outputs) {
            result[row * p.outputs + o] = activate(z[j] + theta[p.b_off + o], act);
        }
    }
}

fn store_backprop(row: u32, c0: u32, s: vec4<f32>, act: u32) {
    if (row >= p.rows) {
        return;
    }
    for (var j = 0u; j < COLS; j++) {
        let i = c0 + j;
        if (i < p.inputs) {
            let idx = row * p.inputs + i;
            result[idx] = s[j] * slope(act_in[idx], act);
        }
    }
}

fn forward(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, act: u32) {
    let origin = block_origin(linear_workgroup(wid, nwg), lid.x, p.outputs);
    let row0 = origin.x;
    let o0 = origin.y;
    if (row0 >= p.rows) {
        return;
    }
    let n = p.inputs;
    // Past the last row or output the block repeats it; those sums are dropped.
    let w = p.w_off + min(vec4(o0) + LANE4, vec4(p.outputs - 1u)) * n;
    let a = min(vec4(row0) + LANE4, vec4(p.rows - 1u)) * n;
    let b = min(vec4(row0 + 4u) + LANE4, vec4(p.rows - 1u)) * n;
    var z0 = vec4<f32>(0.0);
    var z1 = vec4<f32>(0.0);
    var z2 = vec4<f32>(0.0);
    var z3 = vec4<f32>(0.0);
    var z4 = vec4<f32>(0.0);
    var z5 = vec4<f32>(0.0);
    var z6 = vec4<f32>(0.0);
    var z7 = vec4<f32>(0.0);
    for (var k = 0u; k < n; k++) {
        let wk = vec4(theta[w.x + k], theta[w.y + k], theta[w.z + k], theta[w.w + k]);
        z0 = fma(vec4(lhs[a.x + k]), wk, z0);
        z1 = fma(vec4(lhs[a.y + k]), wk, z1);
        z2 = fma(vec4(lhs[a.z + k]), wk, z2);
        z3 = fma(vec4(lhs[a.w + k]), wk, z3);
        z4 = fma(vec4(lhs[b.x + k]), wk, z4);
        z5 = fma(vec4(lhs[b.y + k]), wk, z5);
        z6 = fma(vec4(lhs[b.z + k]), wk, z6);
        z7 = fma(vec4(lhs[b.w + k]), wk, z7);
    }
    store_forward(row0, o0, z0, act);
    store_forward(row0 + 1u, o0, z1, act);
    store_forward(row0 + 2u, o0, z2, act);
    store_forward(row0 + 3u, o0, z3, act);
    store_forward(row0 + 4u, o0, z4, act);
    store_forward(row0 + 5u, o0, z5, act);
    store_forward(row0 + 6u, o0, z6, act);
    store_forward(row0 + 7u, o0, z7, act);
}

fn backprop(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, act: u32) {
    let origin = block_origin(linear_workgroup(wid, nwg), lid.x, p.inputs);
    let row0 = origin.x;
    let i0 = origin.y;
    if (row0 >= p.rows) {
        return;
    }
    let m = p.outputs;
    let w = p.w_off + min(vec4(i0) + LANE4, vec4(p.inputs - 1u));
    let d = min(vec4(row0) + LANE4, vec4(p.rows - 1u)) * m;
    let e = min(vec4(row0 + 4u) + LANE4, vec4(p.rows - 1u)) * m;
    var s0 = vec4<f32>(0.0);
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    var s3 = vec4<f32>(0.0);
    var s4 = vec4<f32>(0.0);
    var s5 = vec4<f32>(0.0);
    var s6 = vec4<f32>(0.0);
    var s7 = vec4<f32>(0.0);
    for (var o = 0u; o < m; o++) {
        let wo = o * p.inputs;
        let wk = vec4(theta[w.x + wo], theta[w.y + wo], theta[w.z + wo], theta[w.w + wo]);
        s0 = fma(vec4(lhs[d.x + o]), wk, s0);
        s1 = fma(vec4(lhs[d.y + o]), wk, s1);
        s2 = fma(vec4(lhs[d.z + o]), wk, s2);
        s3 = fma(vec4(lhs[d.w + o]), wk, s3);
        s4 = fma(vec4(lhs[e.x + o]), wk, s4);
        s5 = fma(vec4(lhs[e.y + o]), wk, s5);
        s6 = fma(vec4(lhs[e.z + o]), wk, s6);
        s7 = fma(vec4(lhs[e.w + o]), wk, s7);
    }
    store_backprop(row0, i0, s0, act);
    store_backprop(row0 + 1u, i0, s1, act);
    store_backprop(row0 + 2u, i0, s2, act);
    store_backprop(row0 + 3u, i0, s3, act);
    store_backprop(row0 + 4u, i0, s4, act);
    store_backprop(row0 + 5u, i0, s5, act);
    store_backprop(row0 + 6u, i0, s6, act);
    store_backprop(row0 + 7u, i0, s7, act);
}

@compute @workgroup_size(LINEAR)
fn forward_sigmoid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    forward(wid, nwg, lid, ACT_SIGMOID);
}

@compute @workgroup_size(LINEAR)
fn forward_tanh(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    forward(wid, nwg, lid, ACT_TANH);
}

@compute @workgroup_size(LINEAR)
fn backprop_sigmoid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    backprop(wid, nwg, lid, ACT_SIGMOID);
}

@compute @workgroup_size(LINEAR)
fn backprop_tanh(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    backprop(wid, nwg, lid, ACT_TANH);
}

// backprop_output_*: backprop_* for a layer with one output (the output
// layer, whose D is the residual r): Δ[n, i′] = (r[n]·w[i′])·g′(A[n, i′]).
// Each invocation takes one column i′ of a block of ROWS rows, the columns
// fastest, so neighbouring invocations read and write neighbouring words of
// A and Δ (backprop_*'s blocks put them 8 rows apart); one division per
// invocation finds its column. The arithmetic is backprop_*'s with one
// output, fma(r, w, 0) then the product with the slope, so the two give the
// same bits.
fn backprop_output(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, act: u32) {
    let id = linear_workgroup(wid, nwg) * LINEAR + lid.x;
    let blocks = (p.rows + ROWS - 1u) / ROWS;
    if (id >= blocks * p.inputs) {
        return;
    }
    let i = id % p.inputs;
    let first = (id / p.inputs) * ROWS;
    let end = min(first + ROWS, p.rows);
    let w = theta[p.w_off + i];
    for (var n = first; n < end; n++) {
        let idx = n * p.inputs + i;
        result[idx] = fma(lhs[n], w, 0.0) * slope(act_in[idx], act);
    }
}

@compute @workgroup_size(LINEAR)
fn backprop_output_sigmoid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    backprop_output(wid, nwg, lid, ACT_SIGMOID);
}

@compute @workgroup_size(LINEAR)
fn backprop_output_tanh(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    backprop_output(wid, nwg, lid, ACT_TANH);
}

// forward_tiled_*: the same forward as a workgroup-tiled product, for
// hardware GPUs. Each workgroup computes a TM × TN tile of outputs. Per step
// of TK inputs it stages TK columns of A_in's TM rows and of W's TN rows in
// workgroup memory, k-major as vec4s, then each invocation adds the step
// into its 4 × 4 block: two vec4 reads feed 16 fused multiply-adds. (On CPU
// adapters the register-blocked forward above measures faster, and runs
// instead.)

var<workgroup> a_tile: array<vec4<f32>, TILE_VEC4S>; // [k][m/4]: A_in[m0 + m .. m + 3, k0 + k]
var<workgroup> w_tile: array<vec4<f32>, TILE_VEC4S>; // [k][n/4]: W[n0 + n .. n + 3, k0 + k]

// Element k of row `row` of A_in (rows, inputs), zero outside it.
fn a_at(row: u32, k: u32) -> f32 {
    if (row < p.rows && k < p.inputs) {
        return lhs[row * p.inputs + k];
    }
    return 0.0;
}

// Element k of row `row` of W (outputs, inputs), zero outside it.
fn w_at(row: u32, k: u32) -> f32 {
    if (row < p.outputs && k < p.inputs) {
        return theta[p.w_off + row * p.inputs + k];
    }
    return 0.0;
}

fn forward_tiled(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, act: u32) {
    let tiles_n = (p.outputs + TN - 1u) / TN;
    let tile = linear_workgroup(wid, nwg);
    let m0 = (tile / tiles_n) * TM;
    let n0 = (tile % tiles_n) * TN;
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
        a_tile[slot][c] = a_at(m0 + lr, k);
        a_tile[slot + 16u][c] = a_at(m0 + lr, k + 1u);
        a_tile[slot + 32u][c] = a_at(m0 + lr, k + 2u);
        a_tile[slot + 48u][c] = a_at(m0 + lr, k + 3u);
        w_tile[slot][c] = w_at(n0 + lr, k);
        w_tile[slot + 16u][c] = w_at(n0 + lr, k + 1u);
        w_tile[slot + 32u][c] = w_at(n0 + lr, k + 2u);
        w_tile[slot + 48u][c] = w_at(n0 + lr, k + 3u);
        workgroupBarrier();
        for (var k = 0u; k < TK; k++) {
            let av = a_tile[k * 16u + ty];
            let wv = w_tile[k * 16u + tx];
            c0 = fma(vec4(av.x), wv, c0);
            c1 = fma(vec4(av.y), wv, c1);
            c2 = fma(vec4(av.z), wv, c2);
            c3 = fma(vec4(av.w), wv, c3);
        }
        workgroupBarrier();
    }
    let row = m0 + 4u * ty;
    let col = n0 + 4u * tx;
    store_forward(row, col, c0, act);
    store_forward(row + 1u, col, c1, act);
    store_forward(row + 2u, col, c2, act);
    store_forward(row + 3u, col, c3, act);
}

@compute @workgroup_size(TILED)
fn forward_tiled_sigmoid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    forward_tiled(wid, nwg, lid, ACT_SIGMOID);
}

@compute @workgroup_size(TILED)
fn forward_tiled_tanh(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    forward_tiled(wid, nwg, lid, ACT_TANH);
}

// Matrix products of the dense layers, register-blocked: each invocation
// computes an 8 × 4 block of outputs (ROWS rows × COLS columns), so every
// value it loads feeds 4 or 8 fused multiply-adds.
//   forward_*:  A_out = g(A_in·Wᵀ + 1·bᵀ)          (rows, outputs)
//   backprop_*: Δ = (D·W) ⊙ g′(A)                   (rows, inputs)

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

// Gradient partials: one sum per row group of `group_rows` rows, written to
// partials[(group_base + group) · stride + parameter index]. reduce (in
// update.wgsl) then sums the groups in a fixed pairwise order, so there are
// no float atomics and reruns are bit-identical.
//   weight_grad:       ∂W = Dᵀ·A_prev   (outputs, inputs), register-blocked
//   weight_grad_tiled: the same, workgroup-tiled (for hardware GPUs)
//   weight_grad_output: the same for a layer of one output
//   bias_grad:         ∂b = Σₙ D[n, :]   (outputs)

@group(0) @binding(1) var<storage, read> delta: array<f32>;         // D (rows, outputs)
@group(0) @binding(2) var<storage, read> act_prev: array<f32>;      // A_prev (rows, inputs)
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

// One invocation per (row group, block of COLS outputs, block of ROWS
// inputs): each row's COLS deltas and ROWS activations feed ROWS × COLS
// fused multiply-adds. acc_j holds ∂W[o0..o0+3, i0 + j].
@compute @workgroup_size(LINEAR)
fn weight_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let out_blocks = (p.outputs + COLS - 1u) / COLS;
    let in_blocks = (p.inputs + ROWS - 1u) / ROWS;
    let per_group = out_blocks * in_blocks;
    let id = linear_workgroup(wid, nwg) * LINEAR + lid.x;
    let groups = (p.rows + p.group_rows - 1u) / p.group_rows;
    let group = id / per_group;
    if (group >= groups) {
        return;
    }
    let o0 = (id % out_blocks) * COLS;
    let i0 = ((id % per_group) / out_blocks) * ROWS;
    let first = group * p.group_rows;
    let end = min(first + p.group_rows, p.rows);
    let oc = min(vec4(o0) + vec4<u32>(0u, 1u, 2u, 3u), vec4(p.outputs - 1u));
    let ia = min(vec4(i0) + vec4<u32>(0u, 1u, 2u, 3u), vec4(p.inputs - 1u));
    let ib = min(vec4(i0 + 4u) + vec4<u32>(0u, 1u, 2u, 3u), vec4(p.inputs - 1u));
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0);
    var acc5 = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    for (var n = first; n < end; n++) {
        let dr = n * p.outputs;
        let ar = n * p.inputs;
        let d = vec4(delta[dr + oc.x], delta[dr + oc.y], delta[dr + oc.z], delta[dr + oc.w]);
        acc0 = fma(d, vec4(act_prev[ar + ia.x]), acc0);
        acc1 = fma(d, vec4(act_prev[ar + ia.y]), acc1);
        acc2 = fma(d, vec4(act_prev[ar + ia.z]), acc2);
        acc3 = fma(d, vec4(act_prev[ar + ia.w]), acc3);
        acc4 = fma(d, vec4(act_prev[ar + ib.x]), acc4);
        acc5 = fma(d, vec4(act_prev[ar + ib.y]), acc5);
        acc6 = fma(d, vec4(act_prev[ar + ib.z]), acc6);
        acc7 = fma(d, vec4(act_prev[ar + ib.w]), acc7);
    }
    let base = (p.group_base + group) * p.stride + p.w_off;
    store_weight_grad(base, o0, i0, acc0);
    store_weight_grad(base, o0, i0 + 1u, acc1);
    store_weight_grad(base, o0, i0 + 2u, acc2);
    store_weight_grad(base, o0, i0 + 3u, acc3);
    store_weight_grad(base, o0, i0 + 4u, acc4);
    store_weight_grad(base, o0, i0 + 5u, acc5);
    store_weight_grad(base, o0, i0 + 6u, acc6);
    store_weight_grad(base, o0, i0 + 7u, acc7);
}

// Column i of the block: ∂W[o0 + j, i] for the outputs that exist.
fn store_weight_grad(base: u32, o0: u32, i: u32, acc: vec4<f32>) {
    if (i >= p.inputs) {
        return;
    }
    for (var j = 0u; j < COLS; j++) {
        if (o0 + j < p.outputs) {
            partials[base + (o0 + j) * p.inputs + i] = acc[j];
        }
    }
}

// weight_grad_output: weight_grad for a layer with one output (the output
// layer, whose D is the residual r): ∂w[i′] = Σₙ r[n]·A_prev[n, i′] per row
// group, one invocation per (row group, input) with the inputs fastest, so
// neighbouring invocations read neighbouring words of A_prev (weight_grad
// and weight_grad_tiled spend 4 and 64 columns of work on the one output).
// Each sum runs over the group's rows in order from 0.0, one fma per row, as
// in weight_grad and weight_grad_tiled, so the three give the same bits.
@compute @workgroup_size(LINEAR)
fn weight_grad_output(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let id = linear_workgroup(wid, nwg) * LINEAR + lid.x;
    let groups = (p.rows + p.group_rows - 1u) / p.group_rows;
    if (id >= groups * p.inputs) {
        return;
    }
    let group = id / p.inputs;
    let i = id % p.inputs;
    let first = group * p.group_rows;
    let end = min(first + p.group_rows, p.rows);
    var acc = 0.0;
    for (var n = first; n < end; n++) {
        acc = fma(delta[n], act_prev[n * p.inputs + i], acc);
    }
    partials[(p.group_base + group) * p.stride + p.w_off + i] = acc;
}

@compute @workgroup_size(LINEAR)
fn bias_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let id = linear_workgroup(wid, nwg) * LINEAR + lid.x;
    let groups = (p.rows + p.group_rows - 1u) / p.group_rows;
    if (id >= groups * p.outputs) {
        return;
    }
    let group = id / p.outputs;
    let o = id % p.outputs;
    let first = group * p.group_rows;
    let end = min(first + p.group_rows, p.rows);
    var acc = 0.0;
    for (var n = first; n < end; n++) {
        acc += delta[n * p.outputs + o];
    }
    partials[(p.group_base + group) * p.stride + p.b_off + o] = acc;
}

var<workgroup> d_tile: array<vec4<f32>, TILE_VEC4S>; // [n][o/4]: D[n0 + n, o0 + o .. o + 3]
var<workgroup> p_tile: array<vec4<f32>, TILE_VEC4S>; // [n][i/4]: A_prev[n0 + n, i0 + i .. i + 3]

// Four consecutive values from column c of row n of a (rows, width)
// matrix, zero past its last column.
fn delta_quad(n: u32, c: u32) -> vec4<f32> {
    var v = vec4(0.0);
    let base = n * p.outputs + c;
    if (c < p.outputs) { v.x = delta[base]; }
    if (c + 1u < p.outputs) { v.y = delta[base + 1u]; }
    if (c + 2u < p.outputs) { v.z = delta[base + 2u]; }
    if (c + 3u < p.outputs) { v.w = delta[base + 3u]; }
    return v;
}

fn act_quad(n: u32, c: u32) -> vec4<f32> {
    var v = vec4(0.0);
    let base = n * p.inputs + c;
    if (c < p.inputs) { v.x = act_prev[base]; }
    if (c + 1u < p.inputs) { v.y = act_prev[base + 1u]; }
    if (c + 2u < p.inputs) { v.z = act_prev[base + 2u]; }
    if (c + 3u < p.inputs) { v.w = act_prev[base + 3u]; }
    return v;
}

// One workgroup per (row group, TM outputs, TN inputs): per step of TK rows
// it stages D's and A_prev's rows, already laid out along the outputs and
// inputs, and each invocation adds the step into its 4 × 4 block.
@compute @workgroup_size(TILED)
fn weight_grad_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
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
    // The staging: invocation t loads 4 values of one row of each step.
    let lr = t / 16u;
    let lc = (t % 16u) * 4u;
    var c0 = vec4(0.0);
    var c1 = vec4(0.0);
    var c2 = vec4(0.0);
    var c3 = vec4(0.0);
    for (var n0 = first; n0 < end; n0 += TK) {
        let n = n0 + lr;
        var dv = vec4(0.0);
        var av = vec4(0.0);
        if (n < end) {
            dv = delta_quad(n, o0 + lc);
            av = act_quad(n, i0 + lc);
        }
        d_tile[t] = dv;
        p_tile[t] = av;
        workgroupBarrier();
        for (var k = 0u; k < TK; k++) {
            let d = d_tile[k * 16u + ty];
            let a = p_tile[k * 16u + tx];
            c0 = fma(vec4(d.x), a, c0);
            c1 = fma(vec4(d.y), a, c1);
            c2 = fma(vec4(d.z), a, c2);
            c3 = fma(vec4(d.w), a, c3);
        }
        workgroupBarrier();
    }
    let base = (p.group_base + group) * p.stride + p.w_off;
    let o = o0 + 4u * ty;
    let i = i0 + 4u * tx;
    store_tiled_row(base, o, i, c0);
    store_tiled_row(base, o + 1u, i, c1);
    store_tiled_row(base, o + 2u, i, c2);
    store_tiled_row(base, o + 3u, i, c3);
}

// ∂W[o, i .. i + 3] for the inputs that exist.
fn store_tiled_row(base: u32, o: u32, i: u32, v: vec4<f32>) {
    if (o >= p.outputs) {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        if (i + j < p.inputs) {
            partials[base + o * p.inputs + i + j] = v[j];
        }
    }
}

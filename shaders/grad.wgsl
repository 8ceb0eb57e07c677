// Gradient partials: one sum per row group of `group_rows` rows, written to
// partials[(group_base + group) · stride + parameter index]. reduce (in
// update.wgsl) then sums the groups in a fixed pairwise order, so there are
// no float atomics and reruns are bit-identical.
//   weight_grad: ∂W = Dᵀ·A_prev   (outputs, inputs)
//   bias_grad:   ∂b = Σₙ D[n, :]   (outputs)

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

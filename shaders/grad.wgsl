// Gradient partials: one sum per row group of `group_rows` rows, written to
// partials[(group_base + group) · stride + parameter index]. reduce (in
// update.wgsl) then sums the groups in a fixed pairwise order, so there are
// no float atomics and reruns are bit-identical.
//   weight_grad: ∂W = Dᵀ·A_prev   (outputs, inputs), 16 × 16 tiles
//   bias_grad:   ∂b = Σₙ D[n, :]   (outputs)

@group(0) @binding(1) var<storage, read> delta: array<f32>;         // D (rows, outputs)
@group(0) @binding(2) var<storage, read> act_prev: array<f32>;      // A_prev (rows, inputs)
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

var<workgroup> tile_d: array<array<f32, TILE>, TILE>; // [row][out]
var<workgroup> tile_a: array<array<f32, TILE>, TILE>; // [row][in]

@compute @workgroup_size(TILE, TILE)
fn weight_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tiles_in = (p.inputs + TILE - 1u) / TILE;
    let tiles_out = (p.outputs + TILE - 1u) / TILE;
    let groups = (p.rows + p.group_rows - 1u) / p.group_rows;
    let t = linear_workgroup(wid, nwg);
    if (t >= tiles_in * tiles_out * groups) {
        return;
    }
    let group = t / (tiles_in * tiles_out);
    let tile = t % (tiles_in * tiles_out);
    let out0 = (tile / tiles_in) * TILE;
    let in0 = (tile % tiles_in) * TILE;
    let first = group * p.group_rows;
    let end = min(first + p.group_rows, p.rows);
    var acc = 0.0;
    for (var n0 = first; n0 < end; n0 += TILE) {
        let n = n0 + lid.y;
        var d = 0.0;
        if (n < end && out0 + lid.x < p.outputs) {
            d = delta[n * p.outputs + out0 + lid.x];
        }
        tile_d[lid.y][lid.x] = d;
        var a = 0.0;
        if (n < end && in0 + lid.x < p.inputs) {
            a = act_prev[n * p.inputs + in0 + lid.x];
        }
        tile_a[lid.y][lid.x] = a;
        workgroupBarrier();
        for (var j = 0u; j < TILE; j++) {
            acc += tile_d[j][lid.y] * tile_a[j][lid.x];
        }
        workgroupBarrier();
    }
    let o = out0 + lid.y;
    let i = in0 + lid.x;
    if (o < p.outputs && i < p.inputs) {
        partials[(p.group_base + group) * p.stride + p.w_off + o * p.inputs + i] = acc;
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

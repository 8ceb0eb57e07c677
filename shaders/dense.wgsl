// Matrix products of the dense layers, with 16 × 16 output tiles staged
// through workgroup memory.
//   forward_*:  A_out = g(A_in·Wᵀ + 1·bᵀ)          (rows, outputs)
//   backprop_*: Δ = (D·W) ⊙ g′(A)                   (rows, inputs)

@group(0) @binding(1) var<storage, read> lhs: array<f32>;          // forward: A_in (rows, inputs); backprop: D (rows, outputs)
@group(0) @binding(2) var<storage, read> theta: array<f32>;        // the flat parameter block
@group(0) @binding(3) var<storage, read> act_in: array<f32>;       // backprop: A (rows, inputs)
@group(0) @binding(4) var<storage, read_write> result: array<f32>;

var<workgroup> tile_l: array<array<f32, TILE>, TILE>;
var<workgroup> tile_r: array<array<f32, TILE>, TILE>;

fn forward(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, act: u32) {
    let tiles_x = (p.outputs + TILE - 1u) / TILE;
    let tiles_y = (p.rows + TILE - 1u) / TILE;
    let t = linear_workgroup(wid, nwg);
    if (t >= tiles_x * tiles_y) {
        return;
    }
    let row0 = (t / tiles_x) * TILE;
    let out0 = (t % tiles_x) * TILE;
    var acc = 0.0;
    for (var k0 = 0u; k0 < p.inputs; k0 += TILE) {
        let k = k0 + lid.x;
        var a = 0.0;
        if (row0 + lid.y < p.rows && k < p.inputs) {
            a = lhs[(row0 + lid.y) * p.inputs + k];
        }
        tile_l[lid.y][lid.x] = a;            // [row][k]
        var w = 0.0;
        if (out0 + lid.y < p.outputs && k < p.inputs) {
            w = theta[p.w_off + (out0 + lid.y) * p.inputs + k];
        }
        tile_r[lid.y][lid.x] = w;            // [out][k]
        workgroupBarrier();
        for (var j = 0u; j < TILE; j++) {
            acc += tile_l[lid.y][j] * tile_r[lid.x][j];
        }
        workgroupBarrier();
    }
    let row = row0 + lid.y;
    let o = out0 + lid.x;
    if (row < p.rows && o < p.outputs) {
        result[row * p.outputs + o] = activate(acc + theta[p.b_off + o], act);
    }
}

fn backprop(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, act: u32) {
    let tiles_x = (p.inputs + TILE - 1u) / TILE;
    let tiles_y = (p.rows + TILE - 1u) / TILE;
    let t = linear_workgroup(wid, nwg);
    if (t >= tiles_x * tiles_y) {
        return;
    }
    let row0 = (t / tiles_x) * TILE;
    let in0 = (t % tiles_x) * TILE;
    var acc = 0.0;
    for (var k0 = 0u; k0 < p.outputs; k0 += TILE) {
        var d = 0.0;
        if (row0 + lid.y < p.rows && k0 + lid.x < p.outputs) {
            d = lhs[(row0 + lid.y) * p.outputs + k0 + lid.x];
        }
        tile_l[lid.y][lid.x] = d;            // [row][k]
        var w = 0.0;
        if (k0 + lid.y < p.outputs && in0 + lid.x < p.inputs) {
            w = theta[p.w_off + (k0 + lid.y) * p.inputs + in0 + lid.x];
        }
        tile_r[lid.y][lid.x] = w;            // [k][in]
        workgroupBarrier();
        for (var j = 0u; j < TILE; j++) {
            acc += tile_l[lid.y][j] * tile_r[j][lid.x];
        }
        workgroupBarrier();
    }
    let row = row0 + lid.y;
    let i = in0 + lid.x;
    if (row < p.rows && i < p.inputs) {
        let idx = row * p.inputs + i;
        result[idx] = acc * slope(act_in[idx], act);
    }
}

@compute @workgroup_size(TILE, TILE)
fn forward_sigmoid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    forward(wid, nwg, lid, ACT_SIGMOID);
}

@compute @workgroup_size(TILE, TILE)
fn forward_tanh(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    forward(wid, nwg, lid, ACT_TANH);
}

@compute @workgroup_size(TILE, TILE)
fn backprop_sigmoid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    backprop(wid, nwg, lid, ACT_SIGMOID);
}

@compute @workgroup_size(TILE, TILE)
fn backprop_tanh(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    backprop(wid, nwg, lid, ACT_TANH);
}

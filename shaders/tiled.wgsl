// The dense forward as a workgroup-tiled matrix product, for hardware GPUs:
//   A_out = g(A_in·Wᵀ + 1·bᵀ)          (rows, outputs)
// Each workgroup computes a TM × TN tile of outputs. Per step of TK inputs
// it stages TK columns of A_in's TM rows and of W's TN rows in workgroup
// memory, k-major as vec4s, then each invocation adds the step into its 4 × 4
// block: two vec4 reads feed 16 fused multiply-adds. (On CPU adapters the
// register-blocked forward of dense.wgsl measures faster, and runs instead.)

@group(0) @binding(1) var<storage, read> lhs: array<f32>;          // A_in (rows, inputs)
@group(0) @binding(2) var<storage, read> theta: array<f32>;        // the flat parameter block
@group(0) @binding(4) var<storage, read_write> result: array<f32>; // A_out (rows, outputs)

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

fn store_row(row: u32, c0: u32, z: vec4<f32>, act: u32) {
    if (row >= p.rows) {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        let o = c0 + j;
        if (o < p.outputs) {
            result[row * p.outputs + o] = activate(z[j] + theta[p.b_off + o], act);
        }
    }
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
    store_row(row, col, c0, act);
    store_row(row + 1u, col, c1, act);
    store_row(row + 2u, col, c2, act);
    store_row(row + 3u, col, c3, act);
}

@compute @workgroup_size(TILED)
fn forward_tiled_sigmoid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    forward_tiled(wid, nwg, lid, ACT_SIGMOID);
}

@compute @workgroup_size(TILED)
fn forward_tiled_tanh(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    forward_tiled(wid, nwg, lid, ACT_TANH);
}

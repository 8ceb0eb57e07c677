// The products one invocation per output, in f32 from f16 operands, for
// adapters without cooperative matrices; appended to mixed.wgsl. The same
// operands, tiles and stores as mixed_coop.wgsl; each sum runs in order
// along k (or n), where the cooperative matrices' order within a block is
// the hardware's.

// Half h of the left and right copies, as f32 (exact).
fn lhs_at(h: u32) -> f32 {
    return f32(lhs_h[h]);
}

fn rhs_at(h: u32) -> f32 {
    return f32(rhs_h[h]);
}

// Element e (row-major in the tile) of the forward tile's X·W₁ᵀ, along k
// in order.
fn forward_sum(tile: vec3<u32>, e: u32) -> f32 {
    let a = (tile.y + e / T) * p.len;
    let b = (tile.z + e % T) * p.len;
    var sum = 0.0;
    for (var k = 0u; k < p.len; k++) {
        sum = fma(lhs_at(a + k), rhs_at(b + k), sum);
    }
    return sum;
}

@compute @workgroup_size(MIXED)
fn forward_coop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let tile = forward_tile(wid, nwg);
    for (var e = li; e < T * T; e += MIXED) {
        put_forward(tile, e / T, e % T, activated(tile, e % T, forward_sum(tile, e)));
    }
}

@compute @workgroup_size(MIXED)
fn weight_grad_coop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let tile = weight_grad_tile(wid, nwg);
    let rows = group_rows(tile.y);
    for (var e = li; e < T * T; e += MIXED) {
        let o = tile.z + e / T;
        let i = tile.w + e % T;
        var sum = 0.0;
        for (var n = rows.x; n < rows.y; n++) {
            sum = fma(lhs_at(n * p.count + o), rhs_at(n * p.len + i), sum);
        }
        put_weight_grad(tile, e / T, e % T, sum);
    }
}

// forward_coop_shares: each element's a·w₂, T × T.
var<workgroup> terms: array<f32, 4096>;

@compute @workgroup_size(MIXED)
fn forward_coop_shares(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let tile = forward_tile(wid, nwg);
    for (var e = li; e < T * T; e += MIXED) {
        let a = activated(tile, e % T, forward_sum(tile, e));
        put_forward(tile, e / T, e % T, a);
        terms[e] = share_term(tile, e % T, a);
    }
    workgroupBarrier();
    for (var r = li; r < T; r += MIXED) {
        var s = 0.0;
        for (var c = 0u; c < T; c++) {
            s += terms[r * T + c];
        }
        put_share(tile, r, s);
    }
}

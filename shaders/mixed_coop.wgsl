// The products through cooperative matrices; appended to mixed.wgsl.
// Cooperative operations must sit in workgroup-uniform control flow, so the
// block loops live in the entry points (naga takes a helper's arguments as
// non-uniform) and are bounded only by the uniform block, constants and
// values derived from the workgroup id.

@compute @workgroup_size(MIXED)
fn forward_coop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sg: u32, @builtin(num_subgroups) nsg: u32) {
    let tile = forward_tile(wid, nwg);
    clear_tile(li);
    workgroupBarrier();
    for (var t = 0u; t < TRIPS; t++) {
        let slot = block_slot(t, sg, nsg);
        var acc = coopLoadT<MatC>(&c_tile[slot.x], T);
        for (var k = 0u; k < p.len; k += CS) {
            // X[m0 + br .., k ..], row-major; W₁ᵀ's block is W₁[n0 + bc .., k ..] read column-major.
            let a = coopLoadT<MatA>(&lhs16[(tile.y + slot.y) * p.len + k], p.len);
            let b = coopLoad<MatB>(&rhs16[(tile.z + slot.z) * p.len + k], p.len);
            acc = coopMultiplyAdd(a, b, acc);
        }
        coopStoreT(acc, &c_tile[slot.x], T);
    }
    workgroupBarrier();
    store_forward(li, tile);
}

// Each block sums its row group's rows CS at a time, in order, so reruns
// are bit-identical.
@compute @workgroup_size(MIXED)
fn weight_grad_coop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sg: u32, @builtin(num_subgroups) nsg: u32) {
    let tile = weight_grad_tile(wid, nwg);
    let rows = group_rows(tile.y);
    clear_tile(li);
    workgroupBarrier();
    for (var t = 0u; t < TRIPS; t++) {
        let slot = block_slot(t, sg, nsg);
        var acc = coopLoadT<MatC>(&c_tile[slot.x], T);
        for (var n = rows.x; n < rows.y; n += CS) {
            // Δ₁ᵀ's block is Δ₁[n .., o0 + bo ..] read column-major; X[n .., i0 + bi ..] row-major.
            let a = coopLoad<MatA>(&lhs16[n * p.count + tile.z + slot.y], p.count);
            let b = coopLoadT<MatB>(&rhs16[n * p.len + tile.w + slot.z], p.len);
            acc = coopMultiplyAdd(a, b, acc);
        }
        coopStoreT(acc, &c_tile[slot.x], T);
    }
    workgroupBarrier();
    store_weight_grad(li, tile);
}

// output_residual_subgroup: output_residual (output.wgsl, compiled with
// this file and common.wgsl) for devices opened with
// wgpu::Features::SUBGROUP. The same ŷ, e, r and Σ e²/N, with the rows' dot
// products and the group's Σ e² added by subgroups.
//
// The rows. output_residual gives each invocation whole rows, so at each
// step of its sum neighbouring invocations read words `inputs` apart. Here
// each subgroup takes whole rows (first + s, first + s + S, …, for subgroup
// s of S in the workgroup) and its lanes take the row's units (u = lane,
// lane + lanes, …), so neighbouring lanes read neighbouring words. Each
// lane adds its units left to right from 0.0; subgroupAdd adds the lanes;
// the subgroup's leader adds the bias, forms e and r, writes r and keeps
// its rows' Σ e², left to right.
//
// The order of the sums:
//   1. subgroupAdd adds in the order the driver's compiled pipeline adds its
//      lanes: fixed for a given device, driver and pipeline (the subgroup
//      size and the invocations' lanes are fixed there), so reruns are
//      bit-identical, but not output_residual's order, so the two agree
//      within float tolerance only;
//   2. the group's Σ e²: the leaders' sums, left to right from 0.0, in the
//      order of each leader's local index; every other slot holds 0.0,
//      which adds exactly.
//
// Right for any subgroup size, 1 to 128, and for subgroups the workgroup
// leaves partly empty: a lane's place among its subgroup's active lanes is
// subgroupExclusiveAdd(1) and their number subgroupAdd(1), so the units are
// split among the lanes that exist, whichever they are; the leader is the
// lane of place 0. Every subgroup_id below num_subgroups names one subgroup.
// Nothing depends on the size the adapter reports: lavapipe (Mesa 22.3)
// reports 8 lanes (4 or 16 with LP_NATIVE_VECTOR_WIDTH=128 or 512) and runs
// this kernel as 16 subgroups of 4 lanes at every one of those widths.
//
// No `enable subgroups;`: naga 30 refuses the directive ("not yet
// supported") and takes the subgroup built-ins without it, from modules of
// a device opened with wgpu::Features::SUBGROUP.

@compute @workgroup_size(LINEAR)
fn output_residual_subgroup(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(subgroup_id) subgroup: u32,
    @builtin(num_subgroups) subgroups: u32,
) {
    let group = linear_workgroup(wid, nwg);
    let groups = (p.rows + p.group_rows - 1u) / p.group_rows;
    if (group >= groups) {
        return;
    }
    let lane = subgroupExclusiveAdd(1u);
    let lanes = subgroupAdd(1u);
    let first = group * p.group_rows;
    let end = min(first + p.group_rows, p.rows);
    let bias = theta[p.b_off];
    var sq = 0.0;
    // The trip count depends only on the subgroup: its lanes stay together
    // for subgroupAdd.
    for (var n = first + subgroup; n < end; n += subgroups) {
        let row = n * p.inputs;
        var part = 0.0;
        // Every lane goes round as often (a lane past the inputs adds
        // nothing), so the lanes meet at subgroupAdd without relying on
        // the driver to reconverge them.
        for (var base = 0u; base < p.inputs; base += lanes) {
            let u = base + lane;
            if (u < p.inputs) {
                part += act_in[row + u] * theta[p.w_off + u];
            }
        }
        let dot = subgroupAdd(part);
        if (lane == 0u) {
            let e = bias + dot - labels[n];
            residual[n] = p.scale * e;
            sq += e * e;
        }
    }
    // Written by every invocation before the barrier the sum reads after;
    // sq is 0.0 on every lane but the leader.
    sums[lid.x] = sq;
    workgroupBarrier();
    if (lid.x == 0u) {
        var s = 0.0;
        for (var t = 0u; t < LINEAR; t++) {
            s += sums[t];
        }
        store_loss(group, s);
    }
}

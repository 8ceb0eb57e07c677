// output_residual_subgroup: output_residual (output.wgsl, compiled with
// this file and common.wgsl) with the group's Σ e² added by subgroups
// rather than a workgroup tree; for devices opened with
// wgpu::Features::SUBGROUP. The order of the sum:
//   1. each subgroup's values, by subgroupAdd, in the order the driver's
//      compiled pipeline adds its lanes: fixed for a given device, driver
//      and pipeline (the subgroup size and the invocations' lanes are fixed
//      there), so reruns are bit-identical, but not the tree of
//      output_residual, so the two agree within float tolerance only;
//   2. the subgroups' sums, left to right from 0.0, in the order of the
//      local index of each subgroup's leader (its active invocation with
//      the lowest subgroup_invocation_id); every other slot holds 0.0,
//      which adds exactly.
// Right for any subgroup size, 1 to 128, and for subgroups the workgroup
// leaves partly empty: every invocation is in one subgroup, and each
// subgroup has exactly one leader (subgroupBroadcastFirst reads the lowest
// active invocation; naga 30 has no subgroupElect).
//
// No `enable subgroups;`: naga 30 refuses the directive ("not yet
// supported") and takes the subgroup built-ins without it, from modules of
// a device opened with wgpu::Features::SUBGROUP.

@compute @workgroup_size(LINEAR)
fn output_residual_subgroup(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) sid: u32) {
    let group = linear_workgroup(wid, nwg);
    let groups = (p.rows + p.group_rows - 1u) / p.group_rows;
    if (group >= groups) {
        return;
    }
    let total = subgroupAdd(residual_rows(group, lid.x));
    // Written by every invocation before the barrier the sum reads after.
    let leader = subgroupBroadcastFirst(sid) == sid;
    sums[lid.x] = select(0.0, total, leader);
    workgroupBarrier();
    if (lid.x == 0u) {
        var s = 0.0;
        for (var t = 0u; t < LINEAR; t++) {
            s += sums[t];
        }
        store_loss(group, s);
    }
}

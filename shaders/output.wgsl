// The output layer and the residual, one workgroup per row group:
//   ŷ = A·wᵀ + b,  e = ŷ − y,  r = (2/N)·e          (rows)
// and the group's Σ e²/N, summed in a fixed tree across the workgroup, into
// the loss column (`len`) of the group's partials row.

@group(0) @binding(1) var<storage, read> act_in: array<f32>;        // A of the last hidden layer (rows, inputs)
@group(0) @binding(2) var<storage, read> theta: array<f32>;         // the flat parameter block
@group(0) @binding(3) var<storage, read> labels: array<f32>;        // y (rows)
@group(0) @binding(4) var<storage, read_write> residual: array<f32>; // r (rows)
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;      // (row groups, stride)

var<workgroup> sums: array<f32, LINEAR>;

// ŷ, e and r for the rows of row group `group` that invocation `t` takes
// (every LINEAR-th from the group's first), r into the residual; returns
// their Σ e².
fn residual_rows(group: u32, t: u32) -> f32 {
    let first = group * p.group_rows;
    let end = min(first + p.group_rows, p.rows);
    let bias = theta[p.b_off];
    var sq = 0.0;
    for (var n = first + t; n < end; n += LINEAR) {
        var yhat = bias;
        for (var i = 0u; i < p.inputs; i++) {
            yhat += act_in[n * p.inputs + i] * theta[p.w_off + i];
        }
        let e = yhat - labels[n];
        residual[n] = p.scale * e;
        sq += e * e;
    }
    return sq;
}

// The group's Σ e² into its loss column, as Σ e²/N.
fn store_loss(group: u32, total: f32) {
    // scale is 2/N; halving it is exact.
    partials[(p.group_base + group) * p.stride + p.len] = total * (0.5 * p.scale);
}

@compute @workgroup_size(LINEAR)
fn output_residual(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let group = linear_workgroup(wid, nwg);
    let groups = (p.rows + p.group_rows - 1u) / p.group_rows;
    if (group >= groups) {
        return;
    }
    // Written by every invocation before the barrier the tree reads after.
    sums[lid.x] = residual_rows(group, lid.x);
    workgroupBarrier();
    for (var half = LINEAR / 2u; half > 0u; half /= 2u) {
        if (lid.x < half) {
            sums[lid.x] += sums[lid.x + half];
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        store_loss(group, sums[0]);
    }
}

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

// `sum` plus act_in[a + j]·theta[w + j] for j = 0, 1, 2, 3, added in order.
fn add_products(sum: f32, a: u32, w: u32) -> f32 {
    var s = sum;
    s += act_in[a] * theta[w];
    s += act_in[a + 1u] * theta[w + 1u];
    s += act_in[a + 2u] * theta[w + 2u];
    s += act_in[a + 3u] * theta[w + 3u];
    return s;
}

// ŷ, e and r for the rows of row group `group` that invocation `t` takes
// (every LINEAR-th from the group's first), r into the residual; returns
// their Σ e².
fn residual_rows(group: u32, t: u32) -> f32 {
    let first = group * p.group_rows;
    let end = min(first + p.group_rows, p.rows);
    let bias = theta[p.b_off];
    var sq = 0.0;
    for (var n = first + t; n < end; n += LINEAR) {
        let row = n * p.inputs;
        var yhat = bias;
        // 16 units a step, then one: the same sum in the same order, in a
        // sixteenth of the loop's trips (Mesa 22.3's lavapipe ends an
        // invocation's loops after 65,535 trips in all).
        var i = 0u;
        for (; i + 16u <= p.inputs; i += 16u) {
            yhat = add_products(yhat, row + i, p.w_off + i);
            yhat = add_products(yhat, row + i + 4u, p.w_off + i + 4u);
            yhat = add_products(yhat, row + i + 8u, p.w_off + i + 8u);
            yhat = add_products(yhat, row + i + 12u, p.w_off + i + 12u);
        }
        for (; i < p.inputs; i++) {
            yhat += act_in[row + i] * theta[p.w_off + i];
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

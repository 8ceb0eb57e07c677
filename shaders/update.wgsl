// reduce: for each segment s of `group_rows` consecutive rows of the
//   partials (count rows in all, `stride` apart) and each i < len,
//   out[dst_off + s·len + i] = scale · Σ_g partials[g · stride + i], summed
//   pairwise (a binary tree over the segment's rows, in a fixed order). With
//   many rows, a first dispatch makes one row per segment and a second adds
//   those: every segment runs in parallel.
// sgd:    θ ← θ − α·∂L/∂θ over the flat parameter block.

@group(0) @binding(1) var<storage, read> source: array<f32>;
@group(0) @binding(2) var<storage, read_write> dest: array<f32>;

// Deep enough for 2^32 row groups.
const STACK: u32 = 33u;

@compute @workgroup_size(LINEAR)
fn reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let id = linear_workgroup(wid, nwg) * LINEAR + lid.x;
    let segments = (p.count + p.group_rows - 1u) / p.group_rows;
    if (id >= p.len * segments) {
        return;
    }
    let i = id % p.len;
    let segment = id / p.len;
    let first = segment * p.group_rows;
    let rows = min(p.count - first, p.group_rows);
    // A binary counter of complete subtrees: leaf g closes one subtree for
    // each trailing 1 bit of g.
    var stack: array<f32, STACK>;
    var depth = 0u;
    for (var g = 0u; g < rows; g++) {
        var v = source[(first + g) * p.stride + i];
        var k = g;
        while ((k & 1u) == 1u) {
            depth -= 1u;
            v = stack[depth] + v;
            k = k >> 1u;
        }
        stack[depth] = v;
        depth += 1u;
    }
    var total = 0.0;
    while (depth > 0u) {
        depth -= 1u;
        total = stack[depth] + total;
    }
    dest[p.dst_off + segment * p.len + i] = total * p.scale;
}

@compute @workgroup_size(LINEAR)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_workgroup(wid, nwg) * LINEAR + lid.x;
    if (i >= p.len) {
        return;
    }
    dest[i] = dest[i] - p.lr * source[i];
}

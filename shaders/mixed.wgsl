// --precision mixed: the first hidden layer's products on f16 operands with
// f32 accumulators. src/gpu/mixed.rs prepends the enables and CS (and, for
// cooperative matrices, the MatA/MatB/MatC types of the adapter's
// configuration), then common.wgsl, and appends the products' entry
// points: mixed_coop.wgsl (cooperative matrices) or mixed_scalar.wgsl (the
// same sums one invocation per output, for adapters without them: the
// tests' way to run the mixed path on lavapipe).
//   to_half:            dst = f16(scale · src), zero-padded     (count, len)
//   forward_coop:       A₁ = g(X·W₁ᵀ + b₁)                      (rows, outputs)
//   weight_grad_coop:   ∂W₁ = (Δ₁ᵀ·X) / scale per row group     (outputs, inputs)
// and, for --kernels wide:
//   forward_coop_shares: forward_coop, and each row's share of ŷ = A₁·w₂
//                       from each tile's T = 64 units             (⌈outputs/64⌉, rows)
//   delta_half:         f16(scale·Δ₁), Δ₁ = (r·w₂) ⊙ g′(A₁), with ∂b₁ and ∂w₂ per row group
// The f16 copies are padded with zeros to multiples of T in their rows
// and outputs, and in their inputs to a multiple of T or of 16
// (mixed::InputPad), so every load along a sum reads inside its row;
// padded rows and columns add zeros and are never stored. The weight
// gradient's T-wide input tiles may reach past a row shorter than T: into
// the next row, and past the last into the X copy's tail of T f16s
// (mixed::X_TAIL: zeros, or a longer chunk's rows); those columns are past
// the inputs and never stored.
// Each workgroup owns a T × T output tile (mixed_coop.wgsl and
// mixed_scalar.wgsl say how it is formed).
// Params: len is the padded inputs (the row stride of the X, W₁ and A
// copies), count the padded outputs (of the W₁ rows and Δ₁ copy).

const T: u32 = 64u;
const MIXED: u32 = 128u;

@group(0) @binding(1) var<storage, read> src_f32: array<f32>;            // to_half: the f32 matrix (rows, inputs) from w_off
@group(0) @binding(2) var<storage, read_write> dst_f16: array<f16>;      // to_half: its f16 copy (count, len)

// The products' f16 copies.
@group(0) @binding(3) var<storage, read> lhs_h: array<f16>;              // forward: X (rows_p, len); weight_grad: Δ₁ (rows_p, count)
@group(0) @binding(4) var<storage, read> rhs_h: array<f16>;              // forward: W₁ (count, len); weight_grad: X (rows_p, len)
@group(0) @binding(5) var<storage, read> theta: array<f32>;              // forward: the parameter block (b₁)
@group(0) @binding(6) var<storage, read_write> out_f32: array<f32>;      // forward: A₁ (rows, outputs); weight_grad, delta_half: the partials
@group(0) @binding(7) var<storage, read> acts: array<f32>;               // delta_half: A₁ (rows, outputs)
@group(0) @binding(8) var<storage, read> resid: array<f32>;              // delta_half: r (rows)
@group(0) @binding(9) var<storage, read_write> shares: array<f32>;       // forward_coop_shares: ŷ's shares (⌈outputs/T⌉, rows)

// Invocations per workgroup of the cooperative kernels (mixed_coop.wgsl):
// one subgroup of the adapter's largest size per patch of the tile
// (mixed::coop_workgroup), so every patch has a subgroup however the
// device cuts the workgroup.
override COOP: u32 = 128u;
// The forward's activation: ACT_SIGMOID or ACT_TANH.
override ACT: u32 = 0u;
// Invocations per delta_half workgroup: MIXED units × 1, 2 or 4 slices of
// the row group's rows (mixed::DELTA_SLICES, SHADERTRAIN_DELTA_SLICES).
override DELTA: u32 = 128u;
// How forward_coop_shares (cooperative) sums each row's share terms over a
// block's CS columns: 0 in a pass of their own after the activations
// (share_parts), 1 by subgroup shuffles as the activations are stored
// (emit_forward_shuffled); mixed::Shares, SHADERTRAIN_MIXED_SHARES.
override SHARES: u32 = 0u;

// One invocation per element of the padded copy; the padding is zero.
@compute @workgroup_size(MIXED)
fn to_half(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let idx = linear_workgroup(wid, nwg) * MIXED + li;
    if (idx >= p.count * p.len) {
        return;
    }
    let r = idx / p.len;
    let c = idx % p.len;
    var v = 0.0;
    if (r < p.rows && c < p.inputs) {
        v = p.scale * src_f32[p.w_off + r * p.inputs + c];
    }
    dst_f16[idx] = f16(v);
}

// The forward's tile: whether the workgroup has one, and its first row and
// output. A workgroup past the last tile (a 2D grid's overshoot) takes the
// first tile and stores nothing.
fn forward_tile(wid: vec3<u32>, nwg: vec3<u32>) -> vec3<u32> {
    let tiles_n = p.count / T;
    let rows_p = ((p.rows + T - 1u) / T) * T;
    let tile = linear_workgroup(wid, nwg);
    let valid = tile < (rows_p / T) * tiles_n;
    let t0 = select(0u, tile, valid);
    return vec3<u32>(u32(valid), (t0 / tiles_n) * T, (t0 % tiles_n) * T);
}

// a = g(z + b₁) for z = X·W₁ᵀ at column c of the tile, 0 past the
// outputs.
fn activated(tile: vec3<u32>, c: u32, z: f32) -> f32 {
    let col = tile.z + c;
    if (col < p.outputs) {
        return activate(z + theta[p.b_off + col], ACT);
    }
    return 0.0;
}

// A₁ = a for element (r, c) of the tile, if it exists.
fn put_forward(tile: vec3<u32>, r: u32, c: u32, a: f32) {
    let row = tile.y + r;
    let col = tile.z + c;
    if (tile.x == 1u && row < p.rows && col < p.outputs) {
        out_f32[row * p.outputs + col] = a;
    }
}

// The weight gradient's tile: whether the workgroup has one, its row
// group, and its first output and input.
fn weight_grad_tile(wid: vec3<u32>, nwg: vec3<u32>) -> vec4<u32> {
    let tiles_o = p.count / T;
    let tiles_i = (p.len + T - 1u) / T;
    let id = linear_workgroup(wid, nwg);
    let groups = (p.rows + p.group_rows - 1u) / p.group_rows;
    let valid = id < groups * tiles_o * tiles_i;
    let id0 = select(0u, id, valid);
    return vec4<u32>(u32(valid), id0 / (tiles_o * tiles_i), (id0 % tiles_o) * T, ((id0 / tiles_o) % tiles_i) * T);
}

// The rows of row group `group` in the padded copies: [first, end).
fn group_rows(group: u32) -> vec2<u32> {
    let rows_p = ((p.rows + T - 1u) / T) * T;
    let first = group * p.group_rows;
    return vec2<u32>(first, min(first + p.group_rows, rows_p));
}

// Element (r, c) of the tile ÷ scale into the group's partials row, if
// that output and input exist.
fn put_weight_grad(tile: vec4<u32>, r: u32, c: u32, sum: f32) {
    let o = tile.z + r;
    let i = tile.w + c;
    if (tile.x == 1u && o < p.outputs && i < p.inputs) {
        out_f32[(p.group_base + tile.y) * p.stride + p.w_off + o * p.inputs + i] = sum * p.scale;
    }
}

// a·w₂ for a = A₁ at column c of the tile (w₂ from dst_off), 0 past the
// outputs: a term of ŷ's share.
fn share_term(tile: vec3<u32>, c: u32, a: f32) -> f32 {
    let col = tile.z + c;
    if (col < p.outputs) {
        return a * theta[p.dst_off + col];
    }
    return 0.0;
}

// Row r of the tile's share of ŷ (the tile's T units are one share of
// output_wide's: T = TN), if that row exists.
fn put_share(tile: vec3<u32>, r: u32, s: f32) {
    let row = tile.y + r;
    if (tile.x == 1u && row < p.rows) {
        shares[(tile.z / T) * p.rows + row] = s;
    }
}

// delta_half in slices: each slice's (Σ Δ₁, Σ r·A₁) per unit, slice by
// slice (invocation li's at li), for the first slice to add in order.
var<workgroup> slice_sums: array<vec2<f32>, 4u * MIXED>; // 4: the most slices (mixed::DELTA_SLICES)

// --kernels wide: Δ₁ = (r·w₂) ⊙ g′(A₁) for one row group and MIXED of
// the padded units, one invocation per unit and slice of the group's
// rows, each slice's rows in order: its f16 copy f16(scale·Δ₁) at row
// stride `count`, zeros in the padding (the rows past the chunk's, to the
// next multiple of T, and the units past `outputs`: the copy is shared by
// every chunk, and a smaller last chunk must not read the rows of the one
// before), and the group's ∂b₁ = Σₙ Δ₁ (at b_off) and ∂w₂ = Σₙ r·A₁ (at
// dst_off) into its partials row: one slice's sums, or the slices' sums
// added in slice order. With one slice (the default) each invocation walks
// the whole group; more slices put more invocations on the same rows.
@compute @workgroup_size(DELTA)
fn delta_half(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let slices = DELTA / MIXED;
    let blocks = (p.count + MIXED - 1u) / MIXED;
    let id = linear_workgroup(wid, nwg);
    let group = id / blocks;
    let groups = (p.rows + p.group_rows - 1u) / p.group_rows;
    if (group >= groups) {
        return;
    }
    let unit = li % MIXED;
    let slice = li / MIXED;
    let o = (id % blocks) * MIXED + unit;
    let rows_p = ((p.rows + T - 1u) / T) * T;
    let first = group * p.group_rows;
    let end = min(first + p.group_rows, rows_p);
    // This slice's rows: [lo, hi) of the group's, in order.
    let per = (end - first + slices - 1u) / slices;
    let lo = min(first + slice * per, end);
    let hi = min(lo + per, end);
    let live = o < p.outputs;
    var w2 = 0.0;
    if (live) {
        w2 = theta[p.dst_off + o];
    }
    var db = 0.0;
    var dw = 0.0;
    if (o < p.count) {
        for (var n = lo; n < hi; n++) {
            var d = 0.0;
            if (live && n < p.rows) {
                let a = acts[n * p.outputs + o];
                let r = resid[n];
                d = r * w2 * slope(a, ACT);
                db += d;
                dw = fma(r, a, dw);
            }
            dst_f16[n * p.count + o] = f16(p.scale * d);
        }
    }
    var sums = vec2(db, dw);
    if (slices > 1u) {
        slice_sums[li] = sums;
        workgroupBarrier();
        if (slice == 0u) {
            for (var s = 1u; s < slices; s++) {
                sums += slice_sums[s * MIXED + unit];
            }
        }
    }
    if (slice == 0u && live) {
        let base = (p.group_base + group) * p.stride;
        out_f32[base + p.b_off + o] = sums.x;
        out_f32[base + p.dst_off + o] = sums.y;
    }
}

// The whole gradient of a one-hidden-layer network in one pass over the rows:
//   z = x·W1ᵀ + b1,  a = g(z),  ŷ = a·w2 + b2,  e = ŷ − y,  r = (2/N)·e
//   ∂W1 = Σ (r·w2 ⊙ g′(a))ᵀ·x,  ∂b1 = Σ r·w2 ⊙ g′(a),  ∂w2 = Σ r·a,  ∂b2 = Σ r
// and Σ e²/N, for networks with F ≤ 4·MAX_F4 inputs and H ≤ FUSED hidden
// units. Neither a nor the deltas are written to memory.
//
// One workgroup per row group of `group_rows` rows. Invocation t is hidden
// unit j = t % HB on lane t / HB; it keeps W1[j, :] and its own ∂W1[j, :] in
// registers and takes every LANES-th row of each tile of TILE rows. The tile
// of x sits in workgroup memory, read as vec4s that every unit shares. The
// lanes' sums are added in lane order into the group's partials row,
//   partials[(group_base + group)·stride + parameter index],
// with the loss term at column `len`; reduce then adds the rows in a fixed
// order. No atomics: reruns are bit-identical.

@group(0) @binding(1) var<storage, read> x: array<f32>;              // (rows, F)
@group(0) @binding(2) var<storage, read> labels: array<f32>;         // y (rows)
@group(0) @binding(3) var<storage, read> theta: array<f32>;          // the flat parameter block
@group(0) @binding(4) var<storage, read_write> partials: array<f32>; // (row groups · LANES, stride)

// Invocations per workgroup. Mirrored by kernels::FUSED_WORKGROUP.
const FUSED: u32 = 256u;
// Most inputs, as vec4s: F ≤ 32. Mirrored by kernels::FUSED_MAX_INPUTS.
const MAX_F4: u32 = 8u;
// Workgroup memory for the tile: TILE·F4 vec4s of x and TILE·HB products a·w2.
// Mirrored by kernels::FUSED_X_CAP and FUSED_PROD_CAP.
const X_CAP: u32 = 256u;
const PROD_CAP: u32 = 2048u;
const MAX_TILE: u32 = 64u;
// TILE·HB ≤ PROD_CAP keeps each lane's rows per tile within this.
const MAX_LANE_ROWS: u32 = 8u;

// Set per network when the pipeline is built (kernels::FusedShape); the
// defaults only let the module validate on its own.
override F: u32 = 4u;     // inputs
override F4: u32 = 1u;    // ⌈F/4⌉
override H: u32 = 16u;    // hidden units
override HB: u32 = 16u;   // H rounded up to a power of two
override TILE: u32 = 64u; // rows per tile: a power of two ≤ MAX_TILE

var<workgroup> xt: array<vec4<f32>, X_CAP>;    // the x tile (TILE, F4)
var<workgroup> prod: array<f32, PROD_CAP>;     // a·w2 of the tile (TILE, HB)
var<workgroup> rt: array<f32, MAX_TILE>;       // r of the tile
var<workgroup> sums: array<vec2<f32>, FUSED>;  // row-sum segments, then (Σe², Σr)

fn x_at(row: u32, c: u32) -> f32 {
    if (c < F) {
        return x[row * F + c];
    }
    return 0.0;
}

fn w1_at(unit: u32, c: u32) -> f32 {
    if (c < F) {
        return theta[p.w_off + unit * F + c];
    }
    return 0.0;
}

fn fused(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, act: u32) {
    let group = linear_workgroup(wid, nwg);
    let groups = (p.rows + p.group_rows - 1u) / p.group_rows;
    if (group >= groups) {
        return;
    }
    let t = lid.x;
    let lanes = FUSED / HB;
    let j = t % HB;
    let lane = t / HB;
    let live = j < H;
    let unit = min(j, H - 1u);
    let first = group * p.group_rows;
    let end = min(first + p.group_rows, p.rows);

    // W1[j, :] and ∂W1[j, :] as vec4s, zero past F.
    var w: array<vec4<f32>, MAX_F4>;
    var g: array<vec4<f32>, MAX_F4>;
    for (var k = 0u; k < F4; k++) {
        let c = 4u * k;
        w[k] = vec4(w1_at(unit, c), w1_at(unit, c + 1u), w1_at(unit, c + 2u), w1_at(unit, c + 3u));
        g[k] = vec4(0.0);
    }
    let b1 = theta[p.b_off + unit];
    let w2 = select(0.0, theta[p.dst_off + unit], live);
    let b2 = theta[p.dst_off + H];
    var db1 = 0.0;
    var dw2 = 0.0;
    // Kept by the first invocation of each tile row's segments.
    var sq = 0.0;
    var rsum = 0.0;
    var a: array<f32, MAX_LANE_ROWS>;
    let lane_rows = max(TILE / lanes, 1u);
    // The row sums of prod: `segs` invocations per tile row.
    let segs = FUSED / TILE;
    let srow = t / segs;
    let seg = t % segs;

    for (var start = first; start < end; start += TILE) {
        for (var i = t; i < TILE * F4; i += FUSED) {
            let row = start + i / F4;
            let c = 4u * (i % F4);
            var v = vec4(0.0);
            if (row < end) {
                v = vec4(x_at(row, c), x_at(row, c + 1u), x_at(row, c + 2u), x_at(row, c + 3u));
            }
            xt[i] = v;
        }
        workgroupBarrier();

        // Forward for this lane's rows of the tile.
        for (var i = 0u; i < lane_rows; i++) {
            let r = lane + i * lanes;
            if (r < TILE) {
                var z = b1;
                for (var k = 0u; k < F4; k++) {
                    z += dot(xt[r * F4 + k], w[k]);
                }
                let av = activate(z, act);
                a[i] = av;
                prod[r * HB + j] = av * w2;
            }
        }
        workgroupBarrier();

        // ŷ per tile row: each segment a strided partial sum, then the
        // first invocation of the row adds the segments in order.
        var s = 0.0;
        for (var q = seg; q < HB; q += segs) {
            s += prod[srow * HB + q];
        }
        sums[t] = vec2(s, 0.0);
        workgroupBarrier();
        if (seg == 0u) {
            var yhat = b2;
            for (var q = 0u; q < segs; q++) {
                yhat += sums[t + q].x;
            }
            let n = start + srow;
            var r = 0.0;
            if (n < end) {
                let e = yhat - labels[n];
                r = p.scale * e;
                sq += e * e;
                rsum += r;
            }
            rt[srow] = r;
        }
        workgroupBarrier();

        // Backward: δ = r·w2·g′(a); rows past the end have r = 0.
        for (var i = 0u; i < lane_rows; i++) {
            let r = lane + i * lanes;
            if (r < TILE) {
                let rr = rt[r];
                let av = a[i];
                let d = rr * w2 * slope(av, act);
                db1 += d;
                dw2 += rr * av;
                for (var k = 0u; k < F4; k++) {
                    g[k] = fma(vec4(d), xt[r * F4 + k], g[k]);
                }
            }
        }
        // The next tile overwrites xt, prod and rt.
        workgroupBarrier();
    }

    // The lanes' ∂W1 rows, added in lane order by lane 0 (x tile memory
    // holds one vec4 per invocation), then ∂b1 and ∂w2 the same way.
    for (var k = 0u; k < F4; k++) {
        xt[t] = g[k];
        workgroupBarrier();
        if (lane == 0u) {
            var s = xt[j];
            for (var l = 1u; l < lanes; l++) {
                s += xt[l * HB + j];
            }
            g[k] = s;
        }
        workgroupBarrier();
    }
    prod[t] = db1;
    prod[FUSED + t] = dw2;
    // (Σe², Σr) over the workgroup, in a fixed tree.
    sums[t] = vec2(sq, rsum);
    workgroupBarrier();
    if (lane == 0u) {
        for (var l = 1u; l < lanes; l++) {
            db1 += prod[l * HB + j];
            dw2 += prod[FUSED + l * HB + j];
        }
    }
    for (var half = FUSED / 2u; half > 0u; half /= 2u) {
        if (t < half) {
            sums[t] += sums[t + half];
        }
        workgroupBarrier();
    }

    let base = (p.group_base + group) * p.stride;
    if (live && lane == 0u) {
        for (var k = 0u; k < F4; k++) {
            for (var c = 0u; c < 4u; c++) {
                let i = 4u * k + c;
                if (i < F) {
                    partials[base + p.w_off + j * F + i] = g[k][c];
                }
            }
        }
        partials[base + p.b_off + j] = db1;
        partials[base + p.dst_off + j] = dw2;
    }
    if (t == 0u) {
        partials[base + p.dst_off + H] = sums[0].y;
        // Σe²/N: scale is 2/N, and halving it is exact.
        partials[base + p.len] = sums[0].x * (0.5 * p.scale);
    }
}

@compute @workgroup_size(FUSED)
fn fused_sigmoid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    fused(wid, nwg, lid, ACT_SIGMOID);
}

@compute @workgroup_size(FUSED)
fn fused_tanh(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    fused(wid, nwg, lid, ACT_TANH);
}

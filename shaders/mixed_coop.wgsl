// The products through cooperative matrices; appended to mixed.wgsl.
//
// Each workgroup owns a T × T output tile, and each subgroup a patch of
// RB × CB blocks of CS × CS in it (mixed::CoopBlocks: 4 × 2 in the
// forward kernels, 4 × 4 in the weight gradient, each from a module of its
// own, unless SHADERTRAIN_COOP_BLOCKS says otherwise), holding the patch's
// accumulators throughout. Per CS along the sum, the subgroup loads RB A
// and CB B blocks straight from the f16 copies (the device's caches serve
// the neighbouring patches' reads of the same rows) into RB · CB
// multiply-adds: no staging and no barriers in the loop. On an H200 this
// measured faster than staging each step's T × 32 slices in workgroup
// memory (S3's weight gradient 0.18 ms against 0.33 ms, its mixed epoch
// 0.75 ms against 0.89 ms, 2 × 2 blocks): at most 8 KiB of workgroup memory, so
// more workgroups per multiprocessor hide the loads' latency. A
// whole-tile `outbox` written out after one barrier (a 24 KiB outbox,
// 27 KiB in all) measured slower again (1.23 ms), and so did loading each
// step's blocks a step ahead by hand (S3 0.70 ms against 0.64 at the
// default blocks).
//
// The tile has PATCHES patches, and the workgroup COOP invocations: PATCHES
// subgroups of the adapter's largest size, so subgroup j takes patch j
// however the device cuts the workgroup (where its subgroups are smaller,
// the ones past PATCHES repeat the last patch and store it to a spare
// slot). At the end the accumulators go out one block position at a time:
// each subgroup stores its block to its patch's slot in `outbox`, and
// every invocation then writes its part of the slots, with the bias and
// activation, or ÷ scale.
//
// WGSL has no arrays of cooperative matrices here, so the accumulators
// are named variables, one per block, and src/gpu/mixed.rs writes out the
// lines that name them for the configured RB × CB before compiling:
//   //% accumulators   declares c<i><j> for each block (i < RB, j < CB), zeroed;
//   //% multiply K     loads a<i> = K_a(ak, i) and b<j> = K_b(bk, j), then
//                      c<i><j> += a<i>·b<j> for each block;
//   //% emit F G       for each block position q in order (along the
//                      rows of the patch): stores its accumulator to
//                      `slot`, then F(li, tile, q) and G(li, tile, q), with
//                      a workgroup barrier between each two of these.
//
// Cooperative operations must sit in workgroup-uniform control flow, so
// these kernels never return early and every loop around one is bounded by
// the uniform block, a constant or the workgroup id (naga takes a helper's
// arguments as non-uniform, so the loops over the sum live in the entry
// points); a workgroup past the last tile (a 2D grid's overshoot)
// computes the first tile and stores nothing.

// A subgroup's patch: RB × CB blocks, SR rows by SC columns of the tile;
// ACROSS patches side by side, PATCHES in the tile.
const SR: u32 = RB * CS;
const SC: u32 = CB * CS;
const ACROSS: u32 = T / SC;
const PATCHES: u32 = (T / SR) * ACROSS;

// Per block position, each patch's CS × CS block (row-major) in slot j,
// and a spare slot PATCHES for repeated patches: (T/2)² + CS² ≤ 1280
// floats. On an H200 this measured faster than storing a band (a row of
// CB blocks) at a time at row stride SC, which takes CB times the memory:
// at 4 × 4 blocks, S3's mixed weight gradient took 0.197 ms that way
// against 0.120, its forward 0.413 against 0.334.
var<workgroup> outbox: array<f32, (PATCHES + 1u) * CS * CS>;
// CS × CS zeros, the accumulators' start.
var<workgroup> zeros: array<f32, 256>;
// forward_coop_shares: each tile row's share terms summed over each CS
// columns, T / CS per row, in column order: T·T/CS ≤ 512.
var<workgroup> row_parts: array<f32, 512>;

// Subgroup sg's patch: its slot in `outbox` (PATCHES past the last
// patch), and its first row and column in the tile.
fn patch_of(sg: u32) -> vec3<u32> {
    let jc = min(sg, PATCHES - 1u);
    return vec3<u32>(select(PATCHES, jc, sg < PATCHES), (jc / ACROSS) * SR, (jc % ACROSS) * SC);
}

// Element e of `outbox` as (row in the tile, column in the tile) for
// block position q (row q / CB, column q % CB of the patch).
fn outbox_place(e: u32, q: u32) -> vec2<u32> {
    let j = e / (CS * CS);
    let r = (j / ACROSS) * SR + (q / CB) * CS + (e % (CS * CS)) / CS;
    let c = (j % ACROSS) * SC + (q % CB) * CS + e % CS;
    return vec2<u32>(r, c);
}

fn clear_zeros(li: u32) {
    for (var e = li; e < CS * CS; e += COOP) {
        zeros[e] = 0.0;
    }
}

// Block position q of every patch, from `outbox` into A₁, each
// element's activation left in its place in `outbox` for share_parts.
fn emit_forward(li: u32, tile: vec3<u32>, q: u32) {
    for (var e = li; e < PATCHES * CS * CS; e += COOP) {
        let at = outbox_place(e, q);
        let a = activated(tile, at.y, outbox[e]);
        put_forward(tile, at.x, at.y, a);
        outbox[e] = a;
    }
}

// forward_coop_shares: for block position q, after emit_forward and a
// barrier, each of its rows' sums of a·w₂ over the block's CS columns in
// order, into row_parts; with put_shares, the rows' shares.
fn share_parts(li: u32, tile: vec3<u32>, q: u32) {
    for (var e = li; e < PATCHES * CS; e += COOP) {
        let j = e / CS;
        let ii = e % CS;
        let r = (j / ACROSS) * SR + (q / CB) * CS + ii;
        let block = (j % ACROSS) * CB + q % CB;
        var s = 0.0;
        for (var jj = 0u; jj < CS; jj++) {
            s += share_term(tile, block * CS + jj, outbox[j * CS * CS + ii * CS + jj]);
        }
        row_parts[r * (T / CS) + block] = s;
    }
}

// forward_coop_shares with SHARES = 1: block position q of every patch
// from `outbox` into A₁, as emit_forward, and each of its rows' sums of
// a·w₂ over the block's CS columns into row_parts, added across the CS
// invocations that hold them by a butterfly of subgroup shuffles (each
// lane adds its partner's partial sum, so every lane of the row ends with
// the same bits); the row's first lane stores it. Element e goes to
// invocation li = e mod COOP, with li its subgroup's first invocation plus
// its lane (the entry point numbers them so), so a row's CS elements sit
// in CS consecutive lanes of one subgroup (mixed::Shares::usable: subgroups
// of at least CS). Every lane takes part in every shuffle: each runs
// PATCHES·CS·CS / COOP = CS·CS / (the largest subgroup) elements.
fn emit_forward_shuffled(li: u32, tile: vec3<u32>, q: u32) {
    for (var t = 0u; t < PATCHES * CS * CS / COOP; t++) {
        let e = li + t * COOP;
        let at = outbox_place(e, q);
        let a = activated(tile, at.y, outbox[e]);
        put_forward(tile, at.x, at.y, a);
        var s = share_term(tile, at.y, a);
        if (CS == 16u) {
            s += subgroupShuffleXor(s, 8u);
        }
        s += subgroupShuffleXor(s, 4u);
        s += subgroupShuffleXor(s, 2u);
        s += subgroupShuffleXor(s, 1u);
        if (e % CS == 0u) {
            row_parts[at.x * (T / CS) + at.y / CS] = s;
        }
    }
}

// Each row's share: its T / CS sums, in column order.
fn put_shares(li: u32, tile: vec3<u32>) {
    for (var r = li; r < T; r += COOP) {
        var s = 0.0;
        for (var block = 0u; block < T / CS; block++) {
            s += row_parts[r * (T / CS) + block];
        }
        put_share(tile, r, s);
    }
}

// Block position q of every patch, from `outbox` into the partials.
fn emit_weight_grad(li: u32, tile: vec4<u32>, q: u32) {
    for (var e = li; e < PATCHES * CS * CS; e += COOP) {
        let at = outbox_place(e, q);
        put_weight_grad(tile, at.x, at.y, outbox[e]);
    }
}

// Block i of the forward's A, X's rows (row-major) from ak; block j of
// its B, W₁ᵀ (W₁'s rows read column-major) from bk; both at row stride
// len.
fn forward_a(ak: u32, i: u32) -> MatA {
    return coopLoadT<MatA>(&lhs_h[ak + i * CS * p.len], p.len);
}

fn forward_b(bk: u32, j: u32) -> MatB {
    return coopLoad<MatB>(&rhs_h[bk + j * CS * p.len], p.len);
}

// Block i of the weight gradient's A, Δ₁ᵀ (Δ₁'s rows read column-major,
// row stride count) from ak; block j of its B, X (row-major, row stride
// len) from bk.
fn weight_grad_a(ak: u32, i: u32) -> MatA {
    return coopLoad<MatA>(&lhs_h[ak + i * CS], p.count);
}

fn weight_grad_b(bk: u32, j: u32) -> MatB {
    return coopLoadT<MatB>(&rhs_h[bk + j * CS], p.len);
}

// A₁ = g(X·W₁ᵀ + b₁).
@compute @workgroup_size(COOP)
fn forward_coop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sg: u32) {
    let tile = forward_tile(wid, nwg);
    clear_zeros(li);
    workgroupBarrier();
    let sq = patch_of(sg);
    //% accumulators
    let ra = (tile.y + sq.y) * p.len;
    let rb = (tile.z + sq.z) * p.len;
    for (var k = 0u; k < p.len; k += CS) {
        let ak = ra + k;
        let bk = rb + k;
        //% multiply forward
    }
    let slot = &outbox[sq.x * CS * CS];
    //% emit emit_forward
}

// forward_coop, and each row's share of ŷ from the tile's units, for
// --kernels wide. With SHARES = 1 the invocations are numbered by
// subgroup and lane (emit_forward_shuffled needs it). That numbers the
// workgroup's COOP invocations once each where its subgroups are full and
// of one size, which Vulkan does not promise without
// REQUIRE_FULL_SUBGROUPS (wgpu does not ask for it) but every driver
// tested gives (patch_of relies on the same): tests/mixed.rs holds A₁
// bit for bit to the plain forward's and the shares to their twin on each
// adapter the tests run on.
@compute @workgroup_size(COOP)
fn forward_coop_shares(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) index: u32, @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) size: u32) {
    let li = select(index, sg * size + lane, SHARES == 1u);
    let tile = forward_tile(wid, nwg);
    clear_zeros(li);
    workgroupBarrier();
    let sq = patch_of(sg);
    //% accumulators
    let ra = (tile.y + sq.y) * p.len;
    let rb = (tile.z + sq.z) * p.len;
    for (var k = 0u; k < p.len; k += CS) {
        let ak = ra + k;
        let bk = rb + k;
        //% multiply forward
    }
    let slot = &outbox[sq.x * CS * CS];
    if (SHARES == 0u) {
        //% emit emit_forward share_parts
    } else {
        //% emit emit_forward_shuffled
    }
    workgroupBarrier();
    put_shares(li, tile);
}

// ∂W₁ = Δ₁ᵀ·X / scale over the workgroup's row group. Each block sums the
// group's rows CS at a time, in order, so reruns are bit-identical.
@compute @workgroup_size(COOP)
fn weight_grad_coop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sg: u32) {
    let tile = weight_grad_tile(wid, nwg);
    let rows = group_rows(tile.y);
    clear_zeros(li);
    workgroupBarrier();
    let sq = patch_of(sg);
    //% accumulators
    // Δ₁'s rows n .. n + CS at the patch's units and X's at its inputs.
    for (var n = rows.x; n < rows.y; n += CS) {
        let ak = n * p.count + tile.z + sq.y;
        let bk = n * p.len + tile.w + sq.z;
        //% multiply weight_grad
    }
    let slot = &outbox[sq.x * CS * CS];
    //% emit emit_weight_grad
}

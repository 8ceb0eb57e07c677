// The products through cooperative matrices; appended to mixed.wgsl.
//
// Each workgroup owns a T × T output tile, and each subgroup a square of
// 2 × 2 blocks of CS × CS in it, holding the square's four accumulators
// throughout. Per CS along the sum, the subgroup loads two A and two B
// blocks straight from the f16 copies (the device's caches serve the
// neighbouring squares' reads of the same rows) into four multiply-adds:
// no staging and no barriers in the loop. On an H200 this measured faster
// than staging each step's T × 32 slices in workgroup memory (S3's weight
// gradient 0.18 ms against 0.33 ms, its mixed epoch 0.75 ms against
// 0.89 ms): 8 KiB of workgroup memory, so more workgroups per
// multiprocessor hide the loads' latency. A whole-tile `outbox` written
// out after one barrier (a 24 KiB outbox, 27 KiB in all) measured slower
// again (1.23 ms).
//
// The tile has SQUARES squares, and the workgroup COOP invocations: SQUARES
// subgroups of the adapter's largest size, so subgroup j takes square j
// however the device cuts the workgroup (where its subgroups are smaller,
// the ones past SQUARES repeat the last square and store it to a spare
// slot). At the end the accumulators go out one block position at a time:
// each subgroup stores its block to its square's slot in `outbox`, and
// every invocation then writes its share of the slots, with the bias and
// activation, or ÷ scale.
//
// Cooperative operations must sit in workgroup-uniform control flow, so
// these kernels never return early and every loop around one is bounded by
// the uniform block, a constant or the workgroup id (naga takes a helper's
// arguments as non-uniform, so a loop bounded by the workgroup's rows lives
// in its entry point; forward_sums' loop, bounded by the uniform block
// alone, is a helper both forward kernels call); a
// workgroup past the last tile (a 2D grid's overshoot) computes the first
// tile and stores nothing.

// A subgroup's square: 2 × 2 blocks; the tile has SQUARES of them.
const SQ: u32 = 2u * CS;
const SQUARES: u32 = (T / SQ) * (T / SQ);

// Per block position, each square's CS × CS block (row-major) in slot j,
// and a spare slot SQUARES for repeated squares: (T/2)² + CS² ≤ 1280.
var<workgroup> outbox: array<f32, 1280>;
// CS × CS zeros, the accumulators' start.
var<workgroup> zeros: array<f32, 256>;
// forward_coop_shares: each tile row's share terms summed over each CS
// columns, T / CS per row, in column order: T·T/CS ≤ 512.
var<workgroup> row_parts: array<f32, 512>;

// Subgroup sg's square: its slot in `outbox` (SQUARES past the last
// square), and its first row and column in the tile.
fn square(sg: u32) -> vec3<u32> {
    let jc = min(sg, SQUARES - 1u);
    return vec3<u32>(select(SQUARES, jc, sg < SQUARES), (jc / (T / SQ)) * SQ, (jc % (T / SQ)) * SQ);
}

// Element e of `outbox` as (row in the tile, column in the tile) for
// block position q (row q / 2, column q % 2 of the square).
fn outbox_place(e: u32, q: u32) -> vec2<u32> {
    let j = e / (CS * CS);
    let r = (j / (T / SQ)) * SQ + (q / 2u) * CS + (e % (CS * CS)) / CS;
    let c = (j % (T / SQ)) * SQ + (q % 2u) * CS + e % CS;
    return vec2<u32>(r, c);
}

fn clear_zeros(li: u32) {
    for (var e = li; e < CS * CS; e += COOP) {
        zeros[e] = 0.0;
    }
}

// Block position q of every square, from `outbox` into A₁, each
// element's activation left in its place in `outbox` for share_parts.
fn emit_forward(li: u32, tile: vec3<u32>, q: u32) {
    for (var e = li; e < SQUARES * CS * CS; e += COOP) {
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
    for (var e = li; e < SQUARES * CS; e += COOP) {
        let j = e / CS;
        let ii = e % CS;
        let r = (j / (T / SQ)) * SQ + (q / 2u) * CS + ii;
        let block = (j % (T / SQ)) * 2u + q % 2u;
        var s = 0.0;
        for (var jj = 0u; jj < CS; jj++) {
            s += share_term(tile, block * CS + jj, outbox[j * CS * CS + ii * CS + jj]);
        }
        row_parts[r * (T / CS) + block] = s;
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

// Block position q of every square, from `outbox` into the partials.
fn emit_weight_grad(li: u32, tile: vec4<u32>, q: u32) {
    for (var e = li; e < SQUARES * CS * CS; e += COOP) {
        let at = outbox_place(e, q);
        put_weight_grad(tile, at.x, at.y, outbox[e]);
    }
}

// The forward product's sums of the square `sq` of `tile` into its four
// accumulators: A is X's rows of the square (row-major), B is W₁ᵀ (W₁'s
// rows read column-major), both at row stride len. The accumulators are
// declared `MatC` by their callers (naga types an undeclared one apart
// from the alias, and refuses the pointer).
fn forward_sums(tile: vec3<u32>, sq: vec3<u32>, c00: ptr<function, MatC>, c01: ptr<function, MatC>, c10: ptr<function, MatC>, c11: ptr<function, MatC>) {
    let ra = (tile.y + sq.y) * p.len;
    let rb = (tile.z + sq.z) * p.len;
    for (var k = 0u; k < p.len; k += CS) {
        let a0 = coopLoadT<MatA>(&lhs_h[ra + k], p.len);
        let a1 = coopLoadT<MatA>(&lhs_h[ra + CS * p.len + k], p.len);
        let b0 = coopLoad<MatB>(&rhs_h[rb + k], p.len);
        let b1 = coopLoad<MatB>(&rhs_h[rb + CS * p.len + k], p.len);
        *c00 = coopMultiplyAdd(a0, b0, *c00);
        *c01 = coopMultiplyAdd(a0, b1, *c01);
        *c10 = coopMultiplyAdd(a1, b0, *c10);
        *c11 = coopMultiplyAdd(a1, b1, *c11);
    }
}

// A₁ = g(X·W₁ᵀ + b₁): A is X's rows (row-major), B is W₁ᵀ (W₁'s rows
// read column-major).
@compute @workgroup_size(COOP)
fn forward_coop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sg: u32) {
    let tile = forward_tile(wid, nwg);
    clear_zeros(li);
    workgroupBarrier();
    let sq = square(sg);
    var c00: MatC = coopLoadT<MatC>(&zeros[0], CS);
    var c01: MatC = coopLoadT<MatC>(&zeros[0], CS);
    var c10: MatC = coopLoadT<MatC>(&zeros[0], CS);
    var c11: MatC = coopLoadT<MatC>(&zeros[0], CS);
    forward_sums(tile, sq, &c00, &c01, &c10, &c11);
    let slot = &outbox[sq.x * CS * CS];
    coopStoreT(c00, slot, CS);
    workgroupBarrier();
    emit_forward(li, tile, 0u);
    workgroupBarrier();
    coopStoreT(c01, slot, CS);
    workgroupBarrier();
    emit_forward(li, tile, 1u);
    workgroupBarrier();
    coopStoreT(c10, slot, CS);
    workgroupBarrier();
    emit_forward(li, tile, 2u);
    workgroupBarrier();
    coopStoreT(c11, slot, CS);
    workgroupBarrier();
    emit_forward(li, tile, 3u);
}

// forward_coop, and each row's share of ŷ from the tile's units, for
// --kernels wide.
@compute @workgroup_size(COOP)
fn forward_coop_shares(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sg: u32) {
    let tile = forward_tile(wid, nwg);
    clear_zeros(li);
    workgroupBarrier();
    let sq = square(sg);
    var c00: MatC = coopLoadT<MatC>(&zeros[0], CS);
    var c01: MatC = coopLoadT<MatC>(&zeros[0], CS);
    var c10: MatC = coopLoadT<MatC>(&zeros[0], CS);
    var c11: MatC = coopLoadT<MatC>(&zeros[0], CS);
    forward_sums(tile, sq, &c00, &c01, &c10, &c11);
    let slot = &outbox[sq.x * CS * CS];
    coopStoreT(c00, slot, CS);
    workgroupBarrier();
    emit_forward(li, tile, 0u);
    workgroupBarrier();
    share_parts(li, tile, 0u);
    workgroupBarrier();
    coopStoreT(c01, slot, CS);
    workgroupBarrier();
    emit_forward(li, tile, 1u);
    workgroupBarrier();
    share_parts(li, tile, 1u);
    workgroupBarrier();
    coopStoreT(c10, slot, CS);
    workgroupBarrier();
    emit_forward(li, tile, 2u);
    workgroupBarrier();
    share_parts(li, tile, 2u);
    workgroupBarrier();
    coopStoreT(c11, slot, CS);
    workgroupBarrier();
    emit_forward(li, tile, 3u);
    workgroupBarrier();
    share_parts(li, tile, 3u);
    workgroupBarrier();
    put_shares(li, tile);
}

// ∂W₁ = Δ₁ᵀ·X / scale over the workgroup's row group: A is Δ₁ᵀ (Δ₁'s
// rows read column-major), B is X (row-major). Each block sums the group's
// rows CS at a time, in order, so reruns are bit-identical.
@compute @workgroup_size(COOP)
fn weight_grad_coop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sg: u32) {
    let tile = weight_grad_tile(wid, nwg);
    let rows = group_rows(tile.y);
    clear_zeros(li);
    workgroupBarrier();
    let sq = square(sg);
    var c00: MatC = coopLoadT<MatC>(&zeros[0], CS);
    var c01: MatC = coopLoadT<MatC>(&zeros[0], CS);
    var c10: MatC = coopLoadT<MatC>(&zeros[0], CS);
    var c11: MatC = coopLoadT<MatC>(&zeros[0], CS);
    // Δ₁'s rows n .. n + CS at the square's units (Δ₁ᵀ read column-major,
    // row stride count) and X's at its inputs (row-major, row stride len).
    for (var n = rows.x; n < rows.y; n += CS) {
        let ra = n * p.count + tile.z + sq.y;
        let rb = n * p.len + tile.w + sq.z;
        let a0 = coopLoad<MatA>(&lhs_h[ra], p.count);
        let a1 = coopLoad<MatA>(&lhs_h[ra + CS], p.count);
        let b0 = coopLoadT<MatB>(&rhs_h[rb], p.len);
        let b1 = coopLoadT<MatB>(&rhs_h[rb + CS], p.len);
        c00 = coopMultiplyAdd(a0, b0, c00);
        c01 = coopMultiplyAdd(a0, b1, c01);
        c10 = coopMultiplyAdd(a1, b0, c10);
        c11 = coopMultiplyAdd(a1, b1, c11);
    }
    let slot = &outbox[sq.x * CS * CS];
    coopStoreT(c00, slot, CS);
    workgroupBarrier();
    emit_weight_grad(li, tile, 0u);
    workgroupBarrier();
    coopStoreT(c01, slot, CS);
    workgroupBarrier();
    emit_weight_grad(li, tile, 1u);
    workgroupBarrier();
    coopStoreT(c10, slot, CS);
    workgroupBarrier();
    emit_weight_grad(li, tile, 2u);
    workgroupBarrier();
    coopStoreT(c11, slot, CS);
    workgroupBarrier();
    emit_weight_grad(li, tile, 3u);
}

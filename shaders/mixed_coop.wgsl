// The products through cooperative matrices; appended to mixed.wgsl.
//
// Each workgroup owns a T × T output tile. Per step of BK along the sum,
// its invocations stage the tile's T × BK slices of both operands in
// workgroup memory (each half read from memory once per workgroup, four
// at a time), and each subgroup multiplies its square of 2 × 2 blocks of
// CS × CS from there, holding the square's four accumulators throughout:
// per CS of the step, two A and two B loads feed four multiply-adds.
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
// arguments as non-uniform, so the loops live in the entry points); a
// workgroup past the last tile (a 2D grid's overshoot) computes the first
// tile and stores nothing.

// Halves along the sum per staged step; T is a multiple of it.
const BK: u32 = 32u;
// A subgroup's square: 2 × 2 blocks; the tile has SQUARES of them.
const SQ: u32 = 2u * CS;
const SQUARES: u32 = (T / SQ) * (T / SQ);

// The staged slices of the left and right operands: forward, T rows by BK
// halves (X's rows, W₁'s rows); weight gradient, BK rows by T halves (Δ₁'s
// and X's rows n .. n + BK).
var<workgroup> a_stage: array<f16, 2048>;
var<workgroup> b_stage: array<f16, 2048>;
// Per block position, each square's CS × CS block (row-major) in slot j,
// and a spare slot SQUARES for repeated squares: (T/2)² + CS² ≤ 1280.
var<workgroup> outbox: array<f32, 1280>;
// CS × CS zeros, the accumulators' start.
var<workgroup> zeros: array<f32, 256>;
// forward_coop_shares: each tile row's share terms summed over each CS
// columns, T / CS per row, in column order: T·T/CS ≤ 512.
var<workgroup> row_parts: array<f32, 512>;

// Stages vec4 `idx` of a slice `width` halves wide whose rows start at
// half `first` of the left (right) copy with row stride `stride`, into
// a_stage (b_stage) at row stride `width`.
fn stage_lhs(idx: u32, width: u32, first: u32, stride: u32) {
    let r = idx / (width / 4u);
    let c = (idx % (width / 4u)) * 4u;
    let v = lhs_h[(first + r * stride + c) / 4u];
    let o = r * width + c;
    a_stage[o] = v.x;
    a_stage[o + 1u] = v.y;
    a_stage[o + 2u] = v.z;
    a_stage[o + 3u] = v.w;
}

fn stage_rhs(idx: u32, width: u32, first: u32, stride: u32) {
    let r = idx / (width / 4u);
    let c = (idx % (width / 4u)) * 4u;
    let v = rhs_h[(first + r * stride + c) / 4u];
    let o = r * width + c;
    b_stage[o] = v.x;
    b_stage[o + 1u] = v.y;
    b_stage[o + 2u] = v.z;
    b_stage[o + 3u] = v.w;
}

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

// A₁ = g(X·W₁ᵀ + b₁): A is X's slice (row-major), B is W₁ᵀ's, W₁'s rows
// read column-major.
@compute @workgroup_size(COOP)
fn forward_coop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sg: u32) {
    let tile = forward_tile(wid, nwg);
    clear_zeros(li);
    workgroupBarrier();
    let sq = square(sg);
    var c00 = coopLoadT<MatC>(&zeros[0], CS);
    var c01 = coopLoadT<MatC>(&zeros[0], CS);
    var c10 = coopLoadT<MatC>(&zeros[0], CS);
    var c11 = coopLoadT<MatC>(&zeros[0], CS);
    for (var k = 0u; k < p.len; k += BK) {
        workgroupBarrier();
        for (var idx = li; idx < T * BK / 4u; idx += COOP) {
            stage_lhs(idx, BK, tile.y * p.len + k, p.len);
            stage_rhs(idx, BK, tile.z * p.len + k, p.len);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk += CS) {
            let a0 = coopLoadT<MatA>(&a_stage[sq.y * BK + kk], BK);
            let a1 = coopLoadT<MatA>(&a_stage[(sq.y + CS) * BK + kk], BK);
            let b0 = coopLoad<MatB>(&b_stage[sq.z * BK + kk], BK);
            let b1 = coopLoad<MatB>(&b_stage[(sq.z + CS) * BK + kk], BK);
            c00 = coopMultiplyAdd(a0, b0, c00);
            c01 = coopMultiplyAdd(a0, b1, c01);
            c10 = coopMultiplyAdd(a1, b0, c10);
            c11 = coopMultiplyAdd(a1, b1, c11);
        }
    }
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
// --kernels wide (the entry points hold the cooperative loops: see above).
@compute @workgroup_size(COOP)
fn forward_coop_shares(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sg: u32) {
    let tile = forward_tile(wid, nwg);
    clear_zeros(li);
    workgroupBarrier();
    let sq = square(sg);
    var c00 = coopLoadT<MatC>(&zeros[0], CS);
    var c01 = coopLoadT<MatC>(&zeros[0], CS);
    var c10 = coopLoadT<MatC>(&zeros[0], CS);
    var c11 = coopLoadT<MatC>(&zeros[0], CS);
    for (var k = 0u; k < p.len; k += BK) {
        workgroupBarrier();
        for (var idx = li; idx < T * BK / 4u; idx += COOP) {
            stage_lhs(idx, BK, tile.y * p.len + k, p.len);
            stage_rhs(idx, BK, tile.z * p.len + k, p.len);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk += CS) {
            let a0 = coopLoadT<MatA>(&a_stage[sq.y * BK + kk], BK);
            let a1 = coopLoadT<MatA>(&a_stage[(sq.y + CS) * BK + kk], BK);
            let b0 = coopLoad<MatB>(&b_stage[sq.z * BK + kk], BK);
            let b1 = coopLoad<MatB>(&b_stage[(sq.z + CS) * BK + kk], BK);
            c00 = coopMultiplyAdd(a0, b0, c00);
            c01 = coopMultiplyAdd(a0, b1, c01);
            c10 = coopMultiplyAdd(a1, b0, c10);
            c11 = coopMultiplyAdd(a1, b1, c11);
        }
    }
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

// ∂W₁ = Δ₁ᵀ·X / scale over the workgroup's row group: A is Δ₁ᵀ's slice
// (Δ₁'s rows read column-major), B is X's (row-major). Each block sums
// the group's rows BK at a time, in order, so reruns are bit-identical.
@compute @workgroup_size(COOP)
fn weight_grad_coop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sg: u32) {
    let tile = weight_grad_tile(wid, nwg);
    let rows = group_rows(tile.y);
    clear_zeros(li);
    workgroupBarrier();
    let sq = square(sg);
    var c00 = coopLoadT<MatC>(&zeros[0], CS);
    var c01 = coopLoadT<MatC>(&zeros[0], CS);
    var c10 = coopLoadT<MatC>(&zeros[0], CS);
    var c11 = coopLoadT<MatC>(&zeros[0], CS);
    for (var n = rows.x; n < rows.y; n += BK) {
        workgroupBarrier();
        for (var idx = li; idx < T * BK / 4u; idx += COOP) {
            stage_lhs(idx, T, n * p.count + tile.z, p.count);
            stage_rhs(idx, T, n * p.len + tile.w, p.len);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk += CS) {
            let a0 = coopLoad<MatA>(&a_stage[kk * T + sq.y], T);
            let a1 = coopLoad<MatA>(&a_stage[kk * T + sq.y + CS], T);
            let b0 = coopLoadT<MatB>(&b_stage[kk * T + sq.z], T);
            let b1 = coopLoadT<MatB>(&b_stage[kk * T + sq.z + CS], T);
            c00 = coopMultiplyAdd(a0, b0, c00);
            c01 = coopMultiplyAdd(a0, b1, c01);
            c10 = coopMultiplyAdd(a1, b0, c10);
            c11 = coopMultiplyAdd(a1, b1, c11);
        }
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

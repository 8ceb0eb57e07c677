// The partials rows' sums and the update, in a fixed order (no atomics):
//   reduce:      out row s = scale · Σ of partials rows FAN·s .. FAN·s + FAN − 1
//                (count rows in all, `stride` apart), as a binary tree over
//                the FAN rows; a missing row adds an exact 0. Each dispatch
//                shrinks count rows to ⌈count / FAN⌉, until at most FAN
//                are left (one, under --clip-grad-norm).
//   reduce_sgd:  the last of them, over at most FAN rows, applied at once:
//                θ ← θ − α·g for the len − 1 parameters, and the loss (the
//                last column) appended to the batch's loss history at the
//                device-side epoch counter, which the host zeroes per batch.
//   reduce_momentum, reduce_nesterov, reduce_adam: as reduce_sgd, with
//                the optimizer's rule (torch.optim's; see docs/optimizers.md)
//                and its state in `state`.
// With coupled weight decay (p.weight_decay = λ > 0) every rule takes
// g + λ·θ for g; AdamW's decay is instead the factor on θ below (and its
// p.weight_decay 0).
// Per-epoch factors come from `corrections`, which the host writes before
// each submit, FACTORS per epoch of the batch: Adam's α_e/(1 − β1ᵗ),
// √(1 − β2ᵗ) and the factor on θ (AdamW's 1 − α_e·λ, else 1); with a
// learning-rate schedule (p.scheduled = 1) the other rules' α_e, then two
// unused slots. A kernel that reads them records the loss at the counter
// without advancing it, and count_epoch, the next dispatch, advances it:
// no invocation may read the counter while another writes it.
//   reduce_eval: the same with no update: the loss only.
//   clip_squares, clip_norm: --clip-grad-norm c (p.max_grad_norm): the
//                factor min(1, c/(‖g‖ + 1e-6)) of torch's clip_grad_norm_
//                for the gradient in dest[0 .. len − 2] (one row of sums,
//                its loss at len − 1), stored at dest[len]. clip_squares
//                adds the squares of each span of CLIP_SPAN values into
//                dest[len + 1 + span]; clip_norm, one workgroup, adds those
//                and stores the factor. The update kernels then read that
//                row (count 1) and take g·factor for g where the factor is
//                below 1, before the decay and the rule.

@group(0) @binding(1) var<storage, read> source: array<f32>;
@group(0) @binding(2) var<storage, read_write> dest: array<f32>;    // reduce: the next rows; reduce_sgd: θ
@group(0) @binding(3) var<storage, read_write> history: array<f32>; // losses of the batch
@group(0) @binding(4) var<storage, read_write> counter: array<u32>; // epochs recorded in the batch
@group(0) @binding(5) var<storage, read_write> state: array<f32>;   // momentum, nesterov: v; adam: m, then v
@group(0) @binding(6) var<storage, read> corrections: array<f32>;   // per epoch: adam α/(1 − β1ᵗ), √(1 − β2ᵗ); scheduled α_e, unused

// Rows one invocation adds. Mirrored by kernels::REDUCE_FAN.
const FAN: u32 = 32u;
// Factors per epoch in `corrections`. Mirrored by kernels::FACTORS.
const FACTORS: u32 = 3u;

// Column i of rows first .. first + FAN − 1, summed pairwise.
fn tree(first: u32, i: u32) -> f32 {
    var v: array<f32, FAN>;
    // Every load is issued before the adds.
    for (var k = 0u; k < FAN; k++) {
        let row = first + k;
        var x = 0.0;
        if (row < p.count) {
            x = source[row * p.stride + i];
        }
        v[k] = x;
    }
    for (var width = FAN / 2u; width > 0u; width /= 2u) {
        for (var k = 0u; k < width; k++) {
            v[k] = v[2u * k] + v[2u * k + 1u];
        }
    }
    return v[0];
}

@compute @workgroup_size(LINEAR)
fn reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let id = linear_workgroup(wid, nwg) * LINEAR + lid.x;
    let out_rows = (p.count + FAN - 1u) / FAN;
    if (id >= p.len * out_rows) {
        return;
    }
    let i = id % p.len;
    let s = id / p.len;
    dest[p.dst_off + s * p.len + i] = p.scale * tree(s * FAN, i);
}

// The gradient as the rules take it: with --clip-grad-norm, g times the
// clip factor clip_norm stored after the one row, where it is below 1 (as
// the CPU's optim::step; a NaN factor leaves g, which is then NaN too).
fn clipped(g: f32) -> f32 {
    if (p.max_grad_norm > 0.0) {
        let factor = source[p.len];
        if (factor < 1.0) {
            return g * factor;
        }
    }
    return g;
}

// Gradient values per clip_squares workgroup: LINEAR invocations, 16
// each. Mirrored by kernels::CLIP_SPAN.
const CLIP_SPAN: u32 = 1024u;

var<workgroup> squares: array<f32, LINEAR>;

// The workgroup's LINEAR values in `squares`, added pairwise; the sum in
// squares[0]. Every invocation must call it.
fn workgroup_sum(t: u32, value: f32) {
    squares[t] = value;
    workgroupBarrier();
    for (var width = LINEAR / 2u; width > 0u; width /= 2u) {
        if (t < width) {
            squares[t] = squares[t] + squares[t + width];
        }
        workgroupBarrier();
    }
}

// Workgroup w: invocation t adds gᵢ² for i = w·CLIP_SPAN + t + k·LINEAR,
// k < 16, in order (0 past the gradient), then the workgroup's sums
// pairwise. A workgroup past the last span returns whole.
@compute @workgroup_size(LINEAR)
fn clip_squares(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let span = linear_workgroup(wid, nwg);
    let n = p.len - 1u;
    if (span >= (n + CLIP_SPAN - 1u) / CLIP_SPAN) {
        return;
    }
    let t = lid.x;
    var sum = 0.0;
    for (var k = 0u; k < CLIP_SPAN / LINEAR; k++) {
        let i = span * CLIP_SPAN + k * LINEAR + t;
        if (i < n) {
            let g = dest[i];
            sum += g * g;
        }
    }
    workgroup_sum(t, sum);
    if (t == 0u) {
        dest[p.len + 1u + span] = squares[0];
    }
}

// One workgroup: invocation t adds the spans' sums t, t + LINEAR, ... in
// order, then the LINEAR sums pairwise; invocation 0 stores the factor.
@compute @workgroup_size(LINEAR)
fn clip_norm(@builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    let spans = (p.len - 1u + CLIP_SPAN - 1u) / CLIP_SPAN;
    var sum = 0.0;
    for (var j = t; j < spans; j += LINEAR) {
        sum += dest[p.len + 1u + j];
    }
    workgroup_sum(t, sum);
    if (t == 0u) {
        dest[p.len] = min(1.0, p.max_grad_norm / (sqrt(squares[0]) + 1e-6));
    }
}

// The loss of this epoch into the history, at the counter.
fn append_loss(loss: f32) {
    let epoch = counter[0];
    history[epoch] = loss;
    counter[0] = epoch + 1u;
}

// The learning rate of this epoch: p.lr, or the schedule's for the epoch
// at the counter.
fn rate() -> f32 {
    if (p.scheduled != 0u) {
        return corrections[FACTORS * counter[0]];
    }
    return p.lr;
}

// The loss of this epoch into the history; advancing the counter is left
// to count_epoch when the rate was read from it.
fn record_loss(loss: f32) {
    if (p.scheduled != 0u) {
        history[counter[0]] = loss;
    } else {
        append_loss(loss);
    }
}

// The gradient of parameter i as the rules take it: g, or with weight
// decay g + λ·θᵢ (θ before the step; dest is θ in the update kernels).
fn decayed(i: u32, g: f32) -> f32 {
    if (p.weight_decay == 0.0) {
        return g;
    }
    return g + p.weight_decay * dest[i];
}

@compute @workgroup_size(LINEAR)
fn reduce_sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_workgroup(wid, nwg) * LINEAR + lid.x;
    if (i >= p.len) {
        return;
    }
    let total = p.scale * tree(0u, i);
    if (i + 1u < p.len) {
        dest[i] = dest[i] - rate() * decayed(i, clipped(total));
    } else {
        record_loss(total);
    }
}

// Momentum's and Nesterov's velocity of parameter i: v ← μ·v + g, stored.
fn velocity(i: u32, g: f32) -> f32 {
    let v = p.momentum * state[i] + g;
    state[i] = v;
    return v;
}

@compute @workgroup_size(LINEAR)
fn reduce_momentum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_workgroup(wid, nwg) * LINEAR + lid.x;
    if (i >= p.len) {
        return;
    }
    let total = p.scale * tree(0u, i);
    if (i + 1u < p.len) {
        dest[i] = dest[i] - rate() * velocity(i, decayed(i, clipped(total)));
    } else {
        record_loss(total);
    }
}

@compute @workgroup_size(LINEAR)
fn reduce_nesterov(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_workgroup(wid, nwg) * LINEAR + lid.x;
    if (i >= p.len) {
        return;
    }
    let total = p.scale * tree(0u, i);
    if (i + 1u < p.len) {
        let g = decayed(i, clipped(total));
        dest[i] = dest[i] - rate() * (g + p.momentum * velocity(i, g));
    } else {
        record_loss(total);
    }
}

@compute @workgroup_size(LINEAR)
fn reduce_adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_workgroup(wid, nwg) * LINEAR + lid.x;
    if (i >= p.len) {
        return;
    }
    let total = p.scale * tree(0u, i);
    let epoch = counter[0];
    if (i + 1u < p.len) {
        let n = p.len - 1u;
        let g = decayed(i, clipped(total));
        let m = p.momentum * state[i] + p.one_minus_beta1 * g;
        let v = p.beta2 * state[n + i] + p.one_minus_beta2 * g * g;
        state[i] = m;
        state[n + i] = v;
        let step_size = corrections[FACTORS * epoch];
        let root2 = corrections[FACTORS * epoch + 1u];
        let shrink = corrections[FACTORS * epoch + 2u];
        dest[i] = dest[i] * shrink - step_size * m / (sqrt(v) / root2 + p.eps);
    } else {
        history[epoch] = total;
    }
}

// Advances the epoch counter after reduce_adam, or a scheduled update.
@compute @workgroup_size(1)
fn count_epoch() {
    counter[0] = counter[0] + 1u;
}

// One invocation: only the loss column is summed.
@compute @workgroup_size(LINEAR)
fn reduce_eval(@builtin(local_invocation_id) lid: vec3<u32>) {
    if (lid.x == 0u) {
        append_loss(p.scale * tree(0u, p.len - 1u));
    }
}

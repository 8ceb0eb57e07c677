//! The reference ops, in f64, as plain loops over row-major matrices: the
//! CPU twins of the WGSL kernels, each named after its kernels' entry point
//! (less the activation and `_tiled`, which they take as an argument or do
//! not need), and each kernel held to its twin in the tests
//! ([`crate::gpu::kernels::Kernel`] names the test). Shapes are given as
//! `(rows, cols)`; `n` is the number of rows in the block being processed.

use crate::data::synthetic_target;
use crate::gpu::kernels::REDUCE_FAN;
use crate::model::{Activation, LayerView};
use crate::optim::{self, Optimizer, State};
use crate::rng;

/// Z = A·Wᵀ + 1·bᵀ, then A_out = g(Z) (identity for `None`): the twin of
/// `forward_*` and `forward_tiled_*`.
/// a: (n, inputs), w: (outputs, inputs), b: (outputs) → (n, outputs)
pub fn forward(
    a: &[f64],
    w: &[f64],
    b: &[f64],
    inputs: usize,
    outputs: usize,
    act: Option<Activation>,
) -> Vec<f64> {
    let n = a.len() / inputs;
    let mut out = vec![0.0; n * outputs];
    for r in 0..n {
        let row = &a[r * inputs..(r + 1) * inputs];
        for o in 0..outputs {
            let wrow = &w[o * inputs..(o + 1) * inputs];
            let mut z = b[o];
            for i in 0..inputs {
                z += row[i] * wrow[i];
            }
            out[r * outputs + o] = act.map_or(z, |g| g.apply(z));
        }
    }
    out
}

/// The output layer and the residual, the twin of `output_residual`:
/// ŷ = A·wᵀ + b, e = ŷ − y, r = (2/N)·e with N the whole batch's size.
/// Returns (r, Σ e²); the kernel stores Σ e²/N per row group.
/// a: (n, inputs), w: (inputs), y: (n) → r: (n)
pub fn output_residual(
    a: &[f64],
    w: &[f64],
    b: f64,
    y: &[f64],
    total_rows: usize,
) -> (Vec<f64>, f64) {
    let yhat = forward(a, w, &[b], w.len(), 1, None);
    let scale = 2.0 / total_rows as f64;
    let mut sq = 0.0;
    let r = yhat
        .iter()
        .zip(y)
        .map(|(p, t)| {
            let e = p - t;
            sq += e * e;
            scale * e
        })
        .collect();
    (r, sq)
}

/// Δ = (D·W) ⊙ g′(A), with g′ taken from the activation's output: the twin
/// of `backprop_*`.
/// d: (n, outputs), w: (outputs, inputs), a: (n, inputs) → (n, inputs)
pub fn backprop(
    d: &[f64],
    w: &[f64],
    a: &[f64],
    outputs: usize,
    inputs: usize,
    act: Activation,
) -> Vec<f64> {
    let n = d.len() / outputs;
    let mut out = vec![0.0; n * inputs];
    for r in 0..n {
        for i in 0..inputs {
            let mut s = 0.0;
            for o in 0..outputs {
                s += d[r * outputs + o] * w[o * inputs + i];
            }
            out[r * inputs + i] = s * act.derivative_from_output(a[r * inputs + i]);
        }
    }
    out
}

/// dW += Dᵀ·A over the block's rows: the twin of `weight_grad` and
/// `weight_grad_tiled`, per row group.
/// d: (n, outputs), a: (n, inputs), dw: (outputs, inputs)
pub fn weight_grad(d: &[f64], a: &[f64], outputs: usize, inputs: usize, dw: &mut [f64]) {
    let n = d.len() / outputs;
    for r in 0..n {
        for o in 0..outputs {
            let g = d[r * outputs + o];
            for i in 0..inputs {
                dw[o * inputs + i] += g * a[r * inputs + i];
            }
        }
    }
}

/// db += Σₙ D[n, :], the twin of `bias_grad`, per row group.
/// d: (n, outputs), db: (outputs)
pub fn bias_grad(d: &[f64], outputs: usize, db: &mut [f64]) {
    for row in d.chunks_exact(outputs) {
        for (acc, v) in db.iter_mut().zip(row) {
            *acc += v;
        }
    }
}

/// One row group's partials row through a network of one hidden layer, the
/// twin of `fused_sigmoid` and `fused_tanh`: ∂W1, ∂b1, ∂w2 and ∂b2 at their
/// places in θ (the rest 0), then Σ e²/N with N = `total_rows`. `m` is
/// applied to both factors of every product the gradient sums add: the
/// identity gives the row; `f64::abs` gives Σ|terms| of each entry, the
/// scale of the rounding error an f32 sum of those terms can make (the loss
/// column is the same either way).
/// x: (n, f), y: (n), theta: (p) with `layers` (hidden, output) in it → (p + 1)
pub fn fused(
    act: Activation,
    [hidden, out]: &[LayerView; 2],
    x: &[f64],
    y: &[f64],
    theta: &[f64],
    total_rows: usize,
    m: fn(f64) -> f64,
) -> Vec<f64> {
    let (f, h) = (hidden.inputs, hidden.outputs);
    let (w1, b1) = (&theta[hidden.weight.clone()], &theta[hidden.bias.clone()]);
    let (w2, b2) = (&theta[out.weight.clone()], theta[out.bias.start]);
    let a = forward(x, w1, b1, f, h, Some(act)); // (n, h)
    let (r, sq) = output_residual(&a, w2, b2, y, total_rows); // (n)
    let d1 = backprop(&r, w2, &a, 1, h, act); // (n, h)
    let map = |v: &[f64]| v.iter().map(|&x| m(x)).collect::<Vec<_>>();
    let (x, a, r, d1) = (map(x), map(&a), map(&r), map(&d1));
    let p = theta.len();
    let mut row = vec![0.0; p + 1];
    weight_grad(&d1, &x, h, f, &mut row[hidden.weight.clone()]);
    bias_grad(&d1, h, &mut row[hidden.bias.clone()]);
    weight_grad(&r, &a, 1, h, &mut row[out.weight.clone()]);
    bias_grad(&r, 1, &mut row[out.bias.clone()]);
    row[p] = sq / total_rows as f64;
    row
}

/// The twin of `forward_wide_*`: A1 = g(X·W1ᵀ + 1·b1ᵀ), and each tile of
/// `tile` hidden units' share of A1·w2ᵀ (the kernels' tile is TILED_N).
/// x: (n, inputs), w1: (hidden, inputs), b1, w2: (hidden)
/// → a1: (n, hidden), yparts: (⌈hidden/tile⌉, n)
#[allow(clippy::too_many_arguments)]
pub fn forward_wide(
    x: &[f64],
    w1: &[f64],
    b1: &[f64],
    w2: &[f64],
    inputs: usize,
    hidden: usize,
    tile: usize,
    act: Activation,
) -> (Vec<f64>, Vec<f64>) {
    let a1 = forward(x, w1, b1, inputs, hidden, Some(act));
    let n = a1.len() / hidden;
    let tiles = hidden.div_ceil(tile);
    let mut yparts = vec![0.0; tiles * n];
    for (r, row) in a1.chunks_exact(hidden).enumerate() {
        for (o, (a, w)) in row.iter().zip(w2).enumerate() {
            yparts[(o / tile) * n + r] += a * w;
        }
    }
    (a1, yparts)
}

/// The twin of `output_wide`: ŷ = b2 + the tiles' shares, e = ŷ − y,
/// r = (2/N)·e with N the whole batch's size. Returns (r, Σ e², Σ r); the
/// kernel stores Σ e²/N and ∂b2 = Σ r per row group.
/// yparts: (tiles, n), y: (n) → r: (n)
pub fn output_wide(
    yparts: &[f64],
    tiles: usize,
    b2: f64,
    y: &[f64],
    total_rows: usize,
) -> (Vec<f64>, f64, f64) {
    let n = y.len();
    let scale = 2.0 / total_rows as f64;
    let (mut sq, mut sum) = (0.0, 0.0);
    let r = (0..n)
        .map(|row| {
            let yhat = b2 + (0..tiles).map(|t| yparts[t * n + row]).sum::<f64>();
            let e = yhat - y[row];
            sq += e * e;
            sum += scale * e;
            scale * e
        })
        .collect();
    (r, sq, sum)
}

/// The twin of `weight_grad_wide_*`, per row group: Δ1 = (r·w2) ⊙ g′(A1),
/// then dw1 += Δ1ᵀ·X, db1 += Σₙ Δ1 and dw2 += rᵀ·A1.
/// r: (n), a1: (n, hidden), x: (n, inputs), w2: (hidden)
/// → dw1: (hidden, inputs), db1, dw2: (hidden)
#[allow(clippy::too_many_arguments)]
pub fn weight_grad_wide(
    r: &[f64],
    a1: &[f64],
    x: &[f64],
    w2: &[f64],
    inputs: usize,
    act: Activation,
    dw1: &mut [f64],
    db1: &mut [f64],
    dw2: &mut [f64],
) {
    let hidden = w2.len();
    let d1 = backprop(r, w2, a1, 1, hidden, act); // (n, hidden)
    weight_grad(&d1, x, hidden, inputs, dw1);
    bias_grad(&d1, hidden, db1);
    weight_grad(r, a1, 1, hidden, dw2);
}

/// Column sums of the first `len` values of each `stride`-wide row, times
/// `scale`, in f64.
fn column_sums(rows: &[f32], len: usize, stride: usize, scale: f64) -> Vec<f64> {
    let mut sums = vec![0.0f64; len];
    for row in rows.chunks(stride) {
        for (s, &v) in sums.iter_mut().zip(&row[..len]) {
            *s += v as f64;
        }
    }
    sums.iter_mut().for_each(|s| *s *= scale);
    sums
}

/// The twin of `reduce`: `count` partials rows (`len` values each, `stride`
/// apart) summed REDUCE_FAN rows at a time, times `scale`, in f64 (the
/// kernel adds each run of rows as a pairwise tree in f32).
/// partials: (count, stride) → (⌈count / REDUCE_FAN⌉, len)
pub fn reduce(partials: &[f32], count: usize, len: usize, stride: usize, scale: f64) -> Vec<f64> {
    let fan = REDUCE_FAN as usize;
    (0..count.div_ceil(fan))
        .flat_map(|s| {
            let rows = s * fan..((s + 1) * fan).min(count);
            let end = (rows.end - 1) * stride + len;
            column_sums(&partials[rows.start * stride..end], len, stride, scale)
        })
        .collect()
}

/// The twin of `reduce_eval`: the loss column (the last of `width`) of the
/// partials rows, summed, times `scale`.
pub fn reduce_eval(partials: &[f32], width: usize, scale: f64) -> f64 {
    column_sums(partials, width, width, scale)[width - 1]
}

/// The twin of `clip_norm`: clip_grad_norm_'s factor min(1, c/(‖g‖ +
/// 10⁻⁶)) for the gradient in the first `len − 1` values of the summed row
/// (its loss at len − 1), with ‖g‖ in f64 (the kernel adds the squares in
/// f32: LINEAR strided sums, then their pairwise tree), as `optim::step`
/// computes it.
pub fn clip_norm(row: &[f32], len: usize, c: f64) -> f64 {
    optim::clip_factor(c, &row[..len - 1])
}

/// The twin of `count_epoch`: the batch's epoch counter, which reduce_adam
/// leaves where it wrote its loss, moves on by one.
pub fn count_epoch(counter: &mut u32) {
    *counter += 1;
}

/// The twin of `gather_rows`: the `rows` rows of batch `batch` (batches of
/// `size` rows) of the whole set (`x_all`, `features` wide, and `y_all`),
/// taken in `order`. → x: (rows, features), y: (rows)
pub fn gather_rows(
    (x_all, y_all): (&[f32], &[f32]),
    features: usize,
    order: &[u32],
    (batch, size, rows): (usize, usize, usize),
) -> (Vec<f32>, Vec<f32>) {
    let picked = &order[batch * size..batch * size + rows];
    let x = picked
        .iter()
        .flat_map(|&n| &x_all[n as usize * features..(n as usize + 1) * features])
        .copied()
        .collect();
    let y = picked.iter().map(|&n| y_all[n as usize]).collect();
    (x, y)
}

/// The twin of `synthesize`: `rows` rows of the synthetic task's X
/// (`features` wide, the first of them value number `first` of the whole
/// data set, bit for bit as [`crate::data::Dataset::synthetic`]) and y.
/// → x: (rows, features), y: (rows)
pub fn synthesize(rows: usize, features: usize, seed: u64, first: u64) -> (Vec<f32>, Vec<f32>) {
    let x: Vec<f32> = (0..(rows * features) as u64)
        .map(|i| rng::symmetric(seed, rng::Stream::Features, first + i))
        .collect();
    let y = x.chunks_exact(features).map(synthetic_target).collect();
    (x, y)
}

/// The last reduce and the update, the twin of the `reduce_sgd`,
/// `reduce_momentum`, `reduce_nesterov` and `reduce_adam` kernels: the
/// column sums of the partials rows (`width` = parameters + 1 columns, the
/// loss last) times `scale`, in f64; then `opt`'s step on θ and its state.
/// Returns the summed loss.
pub fn reduce_update(
    opt: &Optimizer,
    partials: &[f32],
    width: usize,
    scale: f64,
    theta: &mut [f32],
    state: &mut State<f64>,
) -> f64 {
    let sums = column_sums(partials, width, width, scale);
    optim::step(opt, theta, &sums[..width - 1], state);
    sums[width - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `reduce` sums the first `len` values of rows `stride` apart,
    /// REDUCE_FAN rows at a time (the last run shorter), times `scale`;
    /// `reduce_eval` sums the last column, times its scale.
    #[test]
    fn reduce_sums_strided_rows_by_the_fan_and_scales() {
        let fan = REDUCE_FAN as usize;
        let (count, len, stride) = (fan + 3, 2, 5);
        let partials: Vec<f32> = (0..count * stride).map(|i| i as f32).collect();
        let sum = |rows: std::ops::Range<usize>, c: usize| {
            rows.map(|r| f64::from(partials[r * stride + c]))
                .sum::<f64>()
                * 0.5
        };
        let want = [
            sum(0..fan, 0),
            sum(0..fan, 1),
            sum(fan..count, 0),
            sum(fan..count, 1),
        ];
        assert_eq!(reduce(&partials, count, len, stride, 0.5), want);
        let rows = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 rows of width 3
        assert_eq!(reduce_eval(&rows, 3, 0.25), (3.0 + 6.0) * 0.25);
    }
}

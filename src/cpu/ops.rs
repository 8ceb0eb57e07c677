//! The reference ops, in f64, as plain loops over row-major matrices. Each GPU
//! kernel is held to one of these in the tests. Shapes are given as
//! `(rows, cols)`; `n` is the number of rows in the block being processed.

use crate::model::Activation;
use crate::optim::{self, Optimizer, State};

/// Z = A·Wᵀ + 1·bᵀ, then A_out = g(Z) (identity for `None`).
/// a: (n, inputs), w: (outputs, inputs), b: (outputs) → (n, outputs)
pub fn dense_forward(
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

/// The output layer and the residual: ŷ = A·wᵀ + b, e = ŷ − y,
/// r = (2/N)·e with N the whole batch's size. Returns (r, Σ e²).
/// a: (n, inputs), w: (inputs), y: (n) → r: (n)
pub fn output_residual(
    a: &[f64],
    w: &[f64],
    b: f64,
    y: &[f64],
    total_rows: usize,
) -> (Vec<f64>, f64) {
    let yhat = dense_forward(a, w, &[b], w.len(), 1, None);
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

/// Δ = (D·W) ⊙ g′(A), with g′ taken from the activation's output.
/// d: (n, outputs), w: (outputs, inputs), a: (n, inputs) → (n, inputs)
pub fn backprop_delta(
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

/// dW += Dᵀ·A over the block's rows.
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

/// db += Σₙ D[n, :].   d: (n, outputs), db: (outputs)
pub fn bias_grad(d: &[f64], outputs: usize, db: &mut [f64]) {
    for row in d.chunks_exact(outputs) {
        for (acc, v) in db.iter_mut().zip(row) {
            *acc += v;
        }
    }
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
    let mut sums = vec![0.0f64; width];
    for row in partials.chunks_exact(width) {
        for (s, &v) in sums.iter_mut().zip(row) {
            *s += v as f64;
        }
    }
    sums.iter_mut().for_each(|s| *s *= scale);
    optim::step(opt, theta, &sums[..width - 1], state);
    sums[width - 1]
}

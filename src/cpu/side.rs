//! [`ops::forward`]'s values, bit for bit, summed side by side: the layer
//! pass of predictions over many rows (`predict`, `importance`, the
//! scores of rows held out), through [`super::reference::predict_on_cores`].
//!
//! Each output's sum is [`ops::forward`]'s: b + a₀·w₀ + a₁·w₁ + … in input
//! order, each product rounded and then added. [`ops::forward`] sums one
//! output at a time, each add waiting on the one before; here a tile of
//! rows × outputs is summed at once from Wᵀ, each weight loaded once for
//! the tile's rows, in loops of fixed length that the compiler vectorises
//! (across outputs; with AVX2 where the CPU has it). Rust
//! neither fuses a multiply into an add nor reorders float operations, so
//! every build gives the same bits; only the speed differs.
//!
//! [`ops::forward`]: super::ops::forward

use super::fast::Isa;
use crate::model::Activation;

/// Z = A·Wᵀ + 1·bᵀ, then g(Z) (identity for `None`), as [`ops::forward`]
/// gives it, bit for bit: a (n, inputs), w (outputs, inputs), b (outputs)
/// → (n, outputs). With AVX2 where this CPU has it ([`Isa::detect`]).
///
/// [`ops::forward`]: super::ops::forward
pub fn forward(
    a: &[f64],
    w: &[f64],
    b: &[f64],
    inputs: usize,
    outputs: usize,
    act: Option<Activation>,
) -> Vec<f64> {
    forward_on(Isa::detect(), (a, w, b), (inputs, outputs), act)
}

/// [`forward`] on the build `isa`: AVX2's for [`Isa::Avx2`] and
/// [`Isa::Avx512`] where the CPU runs it, the baseline's otherwise.
pub fn forward_on(
    isa: Isa,
    (a, w, b): (&[f64], &[f64], &[f64]),
    shape: (usize, usize),
    act: Option<Activation>,
) -> Vec<f64> {
    match isa {
        // SAFETY: the CPU runs the build (checked here). An AVX-512 CPU
        // runs AVX2's: wider tiles spilled their sums (below).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx2 if Isa::Avx2.available() => unsafe { avx2((a, w, b), shape, act) },
        _ => by_width((a, w, b), shape, act),
    }
}

/// AVX2's 16 registers of 4 f64: the same tiles, each row's 8 sums in two
/// registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2(
    parts: (&[f64], &[f64], &[f64]),
    shape: (usize, usize),
    act: Option<Activation>,
) -> Vec<f64> {
    by_width(parts, shape, act)
}

/// Tiles of 2 rows × 8 outputs, or for a single output (the output layer)
/// of 8 rows, whose 8 sums go side by side instead. Tiles of 32 sums or
/// more ran at a third of the speed, their sums kept in memory rather
/// than in registers: a 256 → 256 sigmoid layer on 4,096 rows, on an
/// Intel Xeon with AVX-512, ran at 8.3 GMAC/s in tiles of 2 × 8 with
/// AVX2 (6.4 with AVX-512, 6.0 on the baseline), 1.8 in tiles of 4 × 8,
/// and 1.4 one sum at a time ([`ops::forward`]).
///
/// [`ops::forward`]: super::ops::forward
#[inline(always)]
fn by_width(
    parts: (&[f64], &[f64], &[f64]),
    shape: (usize, usize),
    act: Option<Activation>,
) -> Vec<f64> {
    match shape.1 {
        1 => tiled::<8, 1>(parts, shape, act),
        _ => tiled::<2, 8>(parts, shape, act),
    }
}

/// [`forward`] in tiles of `R` rows × `L` outputs (rows past a multiple
/// of `R` one at a time; outputs past a multiple of `L` summed in lanes
/// of weight 0 and bias 0, which are not kept).
#[inline(always)]
fn tiled<const R: usize, const L: usize>(
    (a, w, b): (&[f64], &[f64], &[f64]),
    (inputs, outputs): (usize, usize),
    act: Option<Activation>,
) -> Vec<f64> {
    let n = a.len() / inputs.max(1);
    let tiles = outputs.div_ceil(L);
    // Wᵀ by tile: tile t's input i holds outputs t·L .. t·L + L.
    let mut wt = vec![0.0; tiles * inputs * L];
    for o in 0..outputs {
        let (t, l) = (o / L, o % L);
        for i in 0..inputs {
            wt[(t * inputs + i) * L + l] = w[o * inputs + i];
        }
    }
    let mut bias = vec![0.0; tiles * L];
    bias[..outputs].copy_from_slice(&b[..outputs]);
    let mut out = vec![0.0; n * outputs];
    let whole = n / R * R;
    let (a_whole, a_rest) = a[..n * inputs].split_at(whole * inputs);
    let (out_whole, out_rest) = out.split_at_mut(whole * outputs);
    let layer = Layer {
        wt: &wt,
        bias: &bias,
        inputs,
        outputs,
        act,
    };
    for (x, z) in (a_whole.chunks_exact(R * inputs)).zip(out_whole.chunks_exact_mut(R * outputs)) {
        layer.rows::<R, L>(x, z);
    }
    for (x, z) in (a_rest.chunks_exact(inputs)).zip(out_rest.chunks_exact_mut(outputs)) {
        layer.rows::<1, L>(x, z);
    }
    out
}

/// A layer's weights as [`tiled`] lays them out.
struct Layer<'a> {
    wt: &'a [f64],
    bias: &'a [f64],
    inputs: usize,
    outputs: usize,
    act: Option<Activation>,
}

impl Layer<'_> {
    /// The outputs `z` (`R` × outputs) of the rows `x` (`R` × inputs).
    #[inline(always)]
    fn rows<const R: usize, const L: usize>(&self, x: &[f64], z: &mut [f64]) {
        let inputs = self.inputs;
        for (t, bias) in self.bias.chunks_exact(L).enumerate() {
            let bias: &[f64; L] = bias.try_into().expect("L lanes");
            let mut sums = [*bias; R];
            let tile = &self.wt[t * inputs * L..(t + 1) * inputs * L];
            for (i, wi) in tile.chunks_exact(L).enumerate() {
                let wi: &[f64; L] = wi.try_into().expect("L lanes");
                for (r, sum) in sums.iter_mut().enumerate() {
                    let v = x[r * inputs + i];
                    for (s, &w) in sum.iter_mut().zip(wi) {
                        *s += v * w;
                    }
                }
            }
            let first = t * L;
            let kept = L.min(self.outputs - first);
            for (r, sum) in sums.iter().enumerate() {
                let row = &mut z[r * self.outputs + first..][..kept];
                for (out, &s) in row.iter_mut().zip(sum) {
                    *out = self.act.map_or(s, |g| g.apply(s));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::ops;

    /// Values in [−2, 2) from a fixed sequence, with a few exact zeros
    /// and large ones, so that sums round differently in other orders.
    fn values(len: usize, seed: u64) -> Vec<f64> {
        (0..len as u64)
            .map(|k| {
                let u = crate::rng::symmetric(seed, crate::rng::Stream::Layer(0), k) as f64;
                match k % 17 {
                    0 => 0.0,
                    5 => u * 1e6,
                    _ => 2.0 * u,
                }
            })
            .collect()
    }

    /// Every build this CPU runs gives ops::forward's bits, on shapes
    /// whose rows and outputs are and are not multiples of each tile's,
    /// with each activation and none.
    #[test]
    fn every_build_gives_the_reference_bits() {
        let shapes = [
            (1, 1, 1),
            (7, 3, 1),
            (13, 5, 17),
            (6, 16, 16),
            (25, 33, 9),
            (12, 64, 65),
            (5, 1, 40),
        ];
        let acts = [None, Some(Activation::Sigmoid), Some(Activation::Tanh)];
        for (n, inputs, outputs) in shapes {
            let a = values(n * inputs, 1);
            let w = values(outputs * inputs, 2);
            let b = values(outputs, 3);
            for act in acts {
                let want = ops::forward(&a, &w, &b, inputs, outputs, act);
                for isa in Isa::ALL.into_iter().filter(|isa| isa.available()) {
                    let got = forward_on(isa, (&a, &w, &b), (inputs, outputs), act);
                    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "{isa:?}, {n} × {inputs} → {outputs}, {act:?}"
                    );
                }
            }
        }
    }
}

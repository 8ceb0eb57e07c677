//! The widths the cpu backend's block code runs on.
//!
//! A hidden width just short of a multiple of the SGEMM's tile costs
//! more than a multiple. The block code's loops over a row (the
//! activation's bias, the output layer's backward step, the bias sums)
//! leave a row's last width mod 16 (mod 8 with AVX2) values to narrower
//! vectors or scalar code, all of them for a width of 15 (7), and the
//! SGEMM computes a whole tile for an edge and copies it out through a
//! mask. On a Xeon with AVX-512 (16-wide tiles) an epoch at width 15 took
//! 1.6–1.8× the time at 16, and 127 1.6× the time at 128; on a Zen 3 with
//! AVX2 (8-wide tiles) widths 21–23 took 1.3–1.4× the time at 24
//! (BENCHMARKS.md).
//!
//! So the block code runs on a padded copy of the layout: each hidden
//! layer whose width [`padded_width`] rounds up gets zero rows in its
//! weight and bias, and the next layer zero columns for them. Products
//! whose sum runs over a padded width are given the real one as their
//! depth, and ŷ is the dot product of the real units, so every real
//! value is computed by the same operations in the same order as without
//! padding: the bits are unchanged (`fast`'s tests train both ways). The
//! padding's own values (g(0) for its activations, 0 for its deltas) are
//! never read by a real one, and their gradients are dropped.

use crate::model::Layout;

/// The tile edge to pad hidden widths to on this CPU: 16 with AVX-512,
/// where the block code runs 16 lanes and matrixmultiply's SGEMM kernels
/// are 16×16 (when built by rustc 1.89 or later; older compilers give it
/// its 8×8 AVX2 kernels, where padding keeps the bits but its gain is
/// unmeasured); 8 with AVX2 and FMA but no AVX-512 (8 lanes, 8×8
/// kernels). `None` elsewhere, where padding is unmeasured. The CPU decides,
/// not `--cpu-isa`: with `--cpu-isa avx2` on an AVX-512 CPU the SGEMM
/// keeps its 16×16 kernels, and padding to 16 took 1.03–1.24× less time
/// at h 14, 15, 31, 63 and 127 (one thread, the Xeon of BENCHMARKS.md's
/// padding table).
pub fn tile() -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return Some(16);
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Some(8);
        }
    }
    None
}

/// The width hidden width `h` runs at for tile edge `tile` (8 or 16;
/// others pad nothing): the next multiple of `tile` where the CPUs
/// measured ran faster so (BENCHMARKS.md, "Padded hidden widths"), else
/// `h`. An epoch of 65,536 rows and 16 features, one thread:
///
/// - 16 (a Xeon with AVX-512): padded by at most 4. 1.16–1.79× less
///   time at h 14, 15, 30, 31, 47, 63 and 127 (1.09–1.45× on two
///   threads); padding by more lost: h 17 → 32 took 1.18× longer,
///   20 → 32 1.16×, 100 → 112 1.11× and 2–8 → 16 about 1.1×.
/// - 8 (a Zen 3 with AVX2): padded by at most 3 where `h` is over 16, and
///   by 1 elsewhere. 1.01–1.36× less time at h 21–23, 29–31, 37–39,
///   45–47, 53–55, 61–63, 69–71 and 125–127 (h 21–23 had taken 1.3–1.4×
///   the time of 24), and 1.03–1.07× at 7 and 15; h 5, 6, 13 and 14 took
///   1.03–1.08× longer padded.
pub fn padded_width(h: usize, tile: usize) -> usize {
    let up = h.div_ceil(tile) * tile;
    let by = up - h;
    let pads = match tile {
        16 => by <= 4,
        8 => by == 1 || (h > 16 && by <= 3),
        _ => false,
    };
    if pads {
        up
    } else {
        h
    }
}

/// The layout the block code runs on, where it differs from the model's.
pub struct Padded {
    /// The model's layout.
    real: Layout,
    pub layout: Layout,
    /// The parameters in this layout; the padding's stay 0.
    params: Vec<f32>,
}

/// The layout `real` runs at for tile edge `tile`: `None` where no hidden
/// width rounds up, or `tile` is `None`.
pub fn widths(real: &Layout, tile: Option<usize>) -> Option<Layout> {
    let tile = tile?;
    let widths: Vec<usize> = real
        .hidden()
        .iter()
        .map(|&h| padded_width(h, tile))
        .collect();
    if widths == real.hidden() {
        return None;
    }
    // Wider than a layout that `Layout::new` accepted, so its count may
    // overflow where the real one's did not; then the block code runs
    // unpadded.
    Layout::new(real.sizes()[0], &widths).ok()
}

/// The runs of parameters that lie together in both layouts, as (where
/// in `real`, where it starts in `padded`): each weight row's real
/// inputs, and each bias.
fn runs<'a>(
    real: &'a Layout,
    padded: &'a Layout,
) -> impl Iterator<Item = (std::ops::Range<usize>, usize)> + 'a {
    real.layers()
        .iter()
        .zip(padded.layers())
        .flat_map(|(r, p)| {
            let rows = (0..r.outputs).map(move |o| {
                let start = r.weight.start + o * r.inputs;
                (start..start + r.inputs, p.weight.start + o * p.inputs)
            });
            rows.chain([(r.bias.clone(), p.bias.start)])
        })
}

impl Padded {
    /// [`widths`]' layout for `real`, with room for its parameters.
    pub fn new(real: &Layout, tile: Option<usize>) -> Option<Padded> {
        let layout = widths(real, tile)?;
        Some(Padded {
            real: real.clone(),
            params: vec![0.0; layout.len()],
            layout,
        })
    }

    /// `params` (the model's layout) placed in this layout: the layout
    /// and the placed parameters.
    pub fn load(&mut self, params: &[f32]) -> (&Layout, &[f32]) {
        for (from, to) in runs(&self.real, &self.layout) {
            self.params[to..][..from.len()].copy_from_slice(&params[from]);
        }
        (&self.layout, &self.params)
    }

    /// A gradient in this layout added to `g`, one in the model's.
    pub fn add_to(&self, g: &mut [f32], padded: &[f32]) {
        for (from, to) in runs(&self.real, &self.layout) {
            for (g, p) in g[from.clone()].iter_mut().zip(&padded[to..]) {
                *g += p;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_a_little_short_of_a_tile_are_filled_out() {
        // (tile, widths, the widths they run at)
        let cases: [(usize, [usize; 16], [usize; 16]); 2] = [
            (
                16,
                [1, 4, 8, 9, 11, 12, 15, 16, 17, 20, 27, 28, 31, 33, 63, 100],
                [1, 4, 8, 9, 11, 16, 16, 16, 17, 20, 27, 32, 32, 33, 64, 100],
            ),
            (
                8,
                [3, 5, 6, 7, 8, 13, 14, 15, 17, 20, 21, 22, 23, 24, 125, 126],
                [3, 5, 6, 8, 8, 13, 14, 16, 17, 20, 24, 24, 24, 24, 128, 128],
            ),
        ];
        for (tile, widths, want) in cases {
            assert_eq!(widths.map(|h| padded_width(h, tile)), want, "tile {tile}");
        }
        for h in 1..600 {
            for (tile, most) in [(8, 3), (16, 4)] {
                let p = padded_width(h, tile);
                assert!(
                    p == h || (p.is_multiple_of(tile) && p - h <= most),
                    "{h} {tile}"
                );
            }
            assert_eq!(padded_width(h, 4), h);
        }
    }

    #[test]
    fn parameters_land_in_their_rows_and_the_padding_stays_zero() {
        let real = Layout::new(3, &[15, 7]).unwrap();
        let mut padded = Padded::new(&real, Some(8)).unwrap();
        assert_eq!(padded.layout.hidden(), [16, 8]);
        let params: Vec<f32> = (1..=real.len()).map(|i| i as f32).collect();
        let placed = padded.load(&params).1.to_vec();
        // Every real value once, in its own layer's row and column.
        let mut seen: Vec<f32> = placed.iter().copied().filter(|&v| v != 0.0).collect();
        seen.sort_by(f32::total_cmp);
        assert_eq!(seen, params);
        for (r, p) in real.layers().iter().zip(padded.layout.layers()) {
            for o in 0..p.outputs {
                for i in 0..p.inputs {
                    let want = if o < r.outputs && i < r.inputs {
                        params[r.weight.start + o * r.inputs + i]
                    } else {
                        0.0
                    };
                    assert_eq!(placed[p.weight.start + o * p.inputs + i], want);
                }
                let want = if o < r.outputs {
                    params[r.bias.start + o]
                } else {
                    0.0
                };
                assert_eq!(placed[p.bias.start + o], want);
            }
        }
        let mut g = vec![1.0; real.len()];
        padded.add_to(&mut g, &placed);
        let want: Vec<f32> = params.iter().map(|p| p + 1.0).collect();
        assert_eq!(g, want);
    }

    /// The tile is the CPU's (not `--cpu-isa`'s): 16 with AVX-512 F, 8
    /// with AVX2 and FMA but no AVX-512.
    #[test]
    fn the_tile_is_the_cpu_s() {
        #[cfg(target_arch = "x86_64")]
        {
            use std::is_x86_feature_detected as d;
            let want = match (d!("avx512f"), d!("avx2") && d!("fma")) {
                (true, _) => Some(16),
                (false, true) => Some(8),
                _ => None,
            };
            assert_eq!(tile(), want);
        }
    }

    #[test]
    fn nothing_to_pad_is_none() {
        let real = Layout::new(3, &[16, 17, 32]).unwrap();
        assert!(Padded::new(&real, Some(16)).is_none());
        assert!(Padded::new(&Layout::new(3, &[15]).unwrap(), None).is_none());
    }
}

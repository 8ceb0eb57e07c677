//! Mini-batches (`--batch-size`): an epoch is one pass over a fresh
//! shuffle of the rows, ⌈N/B⌉ updates, each from the exact gradient of
//! the mean squared error over its B rows (the last batch takes what is
//! left).
//!
//! The shuffle of epoch e is a pure function of (seed, e), drawn from the
//! counter-based generator's [`Stream::Order`], and a backend finds e from
//! its optimizer's step count (every epoch takes the same number of
//! steps). So a snapshot, a restore and a rerun, or a checkpoint and a
//! resume, replay exactly the batches the uninterrupted run took, with no
//! generator state to keep.

use crate::data::Dataset;
use crate::rng::{self, Stream};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MiniBatches {
    /// Rows per update, at least 1 (0 panics: an epoch of no rows per
    /// update never ends).
    pub size: usize,
    /// The run's `--seed`.
    pub seed: u64,
}

impl MiniBatches {
    /// Updates per epoch over `rows` rows.
    pub fn per_epoch(&self, rows: usize) -> usize {
        rows.div_ceil(self.size).max(1)
    }

    /// The epoch an optimizer that has taken `steps` steps on `rows` rows
    /// is at.
    pub fn epoch(&self, rows: usize, steps: u64) -> u64 {
        steps / self.per_epoch(rows) as u64
    }

    /// The batches of an epoch, as ranges of its shuffled order.
    pub fn ranges(&self, rows: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
        let size = self.size;
        (0..rows)
            .step_by(size)
            .map(move |start| start..(start + size).min(rows))
    }

    /// The order of `rows` rows in `epoch`: a Fisher–Yates shuffle whose
    /// draw for position i is 64 bits of [`Stream::Order`] at index
    /// 2·(e·N + i) and the one after, mapped to 0..=i by a 128-bit multiply
    /// (so every row count works, with a bias below 2⁻³²).
    pub fn order(&self, rows: usize, epoch: u64) -> Vec<usize> {
        let mut order = Vec::new();
        self.order_into(rows, epoch, &mut order);
        order
    }

    /// [`MiniBatches::order`] into `order`, reusing its allocation.
    pub fn order_into(&self, rows: usize, epoch: u64, order: &mut Vec<usize>) {
        order.clear();
        order.extend(0..rows);
        let base = epoch.wrapping_mul(rows as u64);
        for i in (1..rows).rev() {
            let at = base.wrapping_add(i as u64).wrapping_mul(2);
            let lo = rng::bits(self.seed, Stream::Order, at) as u64;
            let hi = rng::bits(self.seed, Stream::Order, at.wrapping_add(1)) as u64;
            let draw = (hi << 32) | lo;
            let j = ((draw as u128 * (i as u128 + 1)) >> 64) as usize;
            order.swap(i, j);
        }
    }
}

impl Dataset {
    /// Overwrites `out` with this set's rows in `order`.
    pub fn gather_into(&self, order: &[usize], out: &mut Dataset) {
        let f = self.features;
        out.x.clear();
        out.y.clear();
        out.x.reserve(order.len() * f);
        out.y.reserve(order.len());
        for &n in order {
            out.x.extend_from_slice(self.row(n));
            out.y.push(self.y[n]);
        }
        out.rows = order.len();
        out.features = f;
    }

    /// The first `n` rows of epoch 0's shuffle by `seed` (every row, where
    /// there are no more): a seeded sample, in the shuffle's order.
    pub fn sample(&self, n: usize, seed: u64) -> Dataset {
        // The shuffle does not depend on the batch size.
        let order = MiniBatches { size: 1, seed }.order(self.rows, 0);
        let mut out = self.empty_like();
        self.gather_into(&order[..n.min(self.rows)], &mut out);
        out
    }

    /// An empty set with this one's columns, for [`Dataset::gather_into`].
    pub fn empty_like(&self) -> Dataset {
        Dataset {
            x: Vec::new(),
            y: Vec::new(),
            rows: 0,
            features: self.features,
            feature_names: self.feature_names.clone(),
            target_name: self.target_name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_epoch_is_a_permutation_and_epochs_differ() {
        let b = MiniBatches { size: 7, seed: 3 };
        let first = b.order(1000, 0);
        let mut sorted = first.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_ne!(first, (0..1000).collect::<Vec<_>>());
        assert_ne!(first, b.order(1000, 1));
        assert_ne!(first, MiniBatches { seed: 4, ..b }.order(1000, 0));
        assert_eq!(first, b.order(1000, 0));
    }

    #[test]
    fn shuffles_put_each_row_everywhere_about_equally() {
        // Row 0's position over 4,000 epochs of 8 rows: each of the 8
        // places about 500 times (binomial sd ≈ 21).
        let b = MiniBatches { size: 1, seed: 0 };
        let mut seen = [0usize; 8];
        for e in 0..4000 {
            let order = b.order(8, e);
            seen[order.iter().position(|&n| n == 0).unwrap()] += 1;
        }
        for count in seen {
            assert!((400..600).contains(&count), "{seen:?}");
        }
    }

    #[test]
    fn batches_cover_the_rows_once_and_the_last_takes_the_rest() {
        let b = MiniBatches { size: 4, seed: 0 };
        let ranges: Vec<_> = b.ranges(10).collect();
        assert_eq!(ranges, vec![0..4, 4..8, 8..10]);
        assert_eq!(b.per_epoch(10), 3);
        assert_eq!(b.epoch(10, 5), 1);
        assert_eq!(b.epoch(10, 6), 2);
        let whole = MiniBatches { size: 50, seed: 0 };
        assert_eq!(whole.ranges(10).collect::<Vec<_>>(), vec![0..10]);
    }
}

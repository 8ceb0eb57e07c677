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
        self.order_into(rows, epoch, &mut order, 1);
        order
    }

    /// [`MiniBatches::order`] into `order`, reusing its allocation. The
    /// draws, which depend on nothing but their position, are made on up
    /// to `threads` threads; the swaps then run in order on this one. (At
    /// 10⁶ rows the draws took about 40 ms an epoch on one thread, and the
    /// GPU's mini-batch epochs wait for them.)
    pub fn order_into(&self, rows: usize, epoch: u64, order: &mut Vec<usize>, threads: usize) {
        shuffle_into(self.seed, Stream::Order, epoch, rows, order, threads);
    }
}

/// Shuffle `e` of `rows` rows by `seed` from `stream`, into `order`: a
/// Fisher–Yates shuffle whose draw for position i is 64 bits of `stream`
/// at index 2·(e·N + i) and the one after, mapped to 0..=i by a 128-bit
/// multiply. The draws are made on up to `threads` threads
/// ([`MiniBatches::order_into`] is this on [`Stream::Order`], with the
/// epoch for `e`).
pub fn shuffle_into(
    seed: u64,
    stream: Stream,
    e: u64,
    rows: usize,
    order: &mut Vec<usize>,
    threads: usize,
) {
    order.clear();
    order.extend(0..rows);
    let base = e.wrapping_mul(rows as u64);
    let draw = |i: usize| {
        let at = base.wrapping_add(i as u64).wrapping_mul(2);
        let lo = rng::bits(seed, stream, at) as u64;
        let hi = rng::bits(seed, stream, at.wrapping_add(1)) as u64;
        let draw = (hi << 32) | lo;
        ((draw as u128 * (i as u128 + 1)) >> 64) as usize
    };
    // draws[i] is position i's; draws[0] is never used.
    let mut draws = vec![0usize; rows];
    on_threads(&mut draws, 1, threads, |first, part| {
        for (k, d) in part.iter_mut().enumerate() {
            *d = draw(first + k);
        }
    });
    for i in (1..rows).rev() {
        order.swap(i, draws[i]);
    }
}

/// Below this many values a slice is filled on the calling thread alone:
/// starting a thread costs tens of microseconds.
const PER_THREAD: usize = 1 << 15;

/// Runs `fill(first, part)` over `out` cut into up to `threads` parts of
/// whole chunks of `chunk` values (and at least [`PER_THREAD`] values
/// each), `first` being the part's first chunk's index; the first part on
/// the calling thread.
fn on_threads<T: Send>(
    out: &mut [T],
    chunk: usize,
    threads: usize,
    fill: impl Fn(usize, &mut [T]) + Sync,
) {
    let chunks = out.len() / chunk.max(1);
    let parts = threads.min(out.len() / PER_THREAD).max(1);
    let per = chunks.div_ceil(parts).max(1);
    if parts == 1 {
        fill(0, out);
        return;
    }
    std::thread::scope(|scope| {
        let mut pieces = out.chunks_mut(per * chunk.max(1)).enumerate();
        let first = pieces.next();
        for (n, part) in pieces {
            let fill = &fill;
            scope.spawn(move || fill(n * per, part));
        }
        if let Some((_, part)) = first {
            fill(0, part);
        }
    });
}

impl Dataset {
    /// Overwrites `out` with this set's rows in `order`, copied on up to
    /// `threads` threads.
    pub fn gather_into(&self, order: &[usize], out: &mut Dataset, threads: usize) {
        let f = self.features;
        out.x.clear();
        out.y.clear();
        out.x.resize(order.len() * f, 0.0);
        out.y.extend(order.iter().map(|&n| self.y[n]));
        on_threads(&mut out.x, f, threads, |first, part| {
            for (row, &n) in part.chunks_exact_mut(f.max(1)).zip(&order[first..]) {
                row.copy_from_slice(self.row(n));
            }
        });
        out.rows = order.len();
        out.features = f;
    }

    /// The first `n` rows of epoch 0's shuffle by `seed` (every row, where
    /// there are no more): a seeded sample, in the shuffle's order.
    pub fn sample(&self, n: usize, seed: u64) -> Dataset {
        // The shuffle does not depend on the batch size.
        let order = MiniBatches { size: 1, seed }.order(self.rows, 0);
        let mut out = self.empty_like();
        self.gather_into(&order[..n.min(self.rows)], &mut out, 1);
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

    /// Threads change neither the shuffle nor the gathered rows: 100,003
    /// rows, on 1, 2 and 3 threads (parts of 33,335 and 33,334 positions),
    /// against the draws written out one by one as the spec gives them.
    #[test]
    fn threads_change_no_shuffle_and_no_gather() {
        let rows = 100_003;
        let b = MiniBatches { size: 1, seed: 9 };
        let mut want: Vec<usize> = (0..rows).collect();
        let base = 5 * rows as u64;
        for i in (1..rows).rev() {
            let at = (base + i as u64) * 2;
            let draw = (u64::from(rng::bits(9, Stream::Order, at + 1)) << 32)
                | u64::from(rng::bits(9, Stream::Order, at));
            want.swap(i, ((u128::from(draw) * (i as u128 + 1)) >> 64) as usize);
        }
        let data = Dataset::synthetic(rows, 3, 1).unwrap();
        let mut gathered = Vec::new();
        for threads in [1, 2, 3] {
            let mut order = vec![7; 3];
            b.order_into(rows, 5, &mut order, threads);
            assert!(order == want, "{threads} threads");
            let mut out = data.empty_like();
            data.gather_into(&order, &mut out, threads);
            assert_eq!((out.rows, out.x.len(), out.y.len()), (rows, 3 * rows, rows));
            for (k, &n) in order.iter().enumerate().step_by(997) {
                assert_eq!(out.row(k), data.row(n), "{threads} threads, row {k}");
                assert_eq!(out.y[k], data.y[n]);
            }
            gathered.push(out.x);
        }
        assert!(gathered.iter().all(|x| *x == gathered[0]));
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
        // No rows still make one update an epoch: epoch() never divides by 0.
        assert_eq!((b.per_epoch(0), b.epoch(0, 3)), (1, 3));
    }

    /// A sample is the head of epoch 0's shuffle by its seed, in that
    /// order, with the set's names; asked for more rows than there are, it
    /// is every row, shuffled.
    #[test]
    fn a_sample_is_the_head_of_epoch_0_s_shuffle() {
        let data = Dataset::synthetic(50, 2, 1).unwrap();
        let order = MiniBatches { size: 1, seed: 7 }.order(50, 0);
        for (n, rows) in [(20, 20), (80, 50)] {
            let sample = data.sample(n, 7);
            assert_eq!((sample.rows, sample.y.len()), (rows, rows));
            for (k, &from) in order[..rows].iter().enumerate() {
                assert_eq!(sample.row(k), data.row(from), "row {k} of {n}");
                assert_eq!(sample.y[k], data.y[from], "row {k} of {n}");
            }
            assert_eq!(sample.feature_names, ["x0", "x1"]);
            assert_eq!(sample.target_name, data.target_name);
        }
        assert!(data.sample(20, 8) != data.sample(20, 7));
    }
}

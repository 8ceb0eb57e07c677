//! A counter-based random generator: the value at (seed, stream, index) is a
//! pure function of those three, so any slice of a data set or parameter
//! block can be drawn on its own, in any order, on any backend. It uses only
//! 32-bit integer operations so a WGSL twin can produce the same bits.

/// Every random stream: what each draw is for, and the number the hash
/// mixes in for it ([`Stream::id`]). An id must never change: the
/// synthetic data, the validation split and the initial weights of a seed
/// all follow from it (docs/spec.md lists them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    /// The synthetic features, one value per (row, feature) at index n·F + j.
    /// y is computed from them, not drawn. shaders/synth.wgsl's `STREAM`.
    Features,
    /// The validation split's keys, one per row.
    Split,
    /// The row order of each mini-batch epoch (`crate::batches`).
    Order,
    /// The shuffles of `importance`, one per repeat
    /// (`crate::importance::shuffle`).
    Importance,
    /// `train --grid --random`'s draws of combinations
    /// (`crate::app::random`).
    Search,
    /// The initial weights of layer i (0 the first hidden layer, the output
    /// layer last), at their row-major position in the weight matrix.
    Layer(usize),
    /// A stream the program itself never draws from, numbered by the caller:
    /// for tests and tools that want inputs of their own.
    Other(u32),
}

impl Stream {
    /// The number the hash mixes in: 0 for the features, 8 for the split,
    /// 9 for the mini-batch order, 10 for importance's shuffles, 11 for
    /// `--random`'s draws, 16 + i for layer i, the given number for [`Stream::Other`].
    pub const fn id(self) -> u32 {
        match self {
            Stream::Features => 0,
            Stream::Split => 8,
            Stream::Order => 9,
            Stream::Importance => 10,
            Stream::Search => 11,
            Stream::Layer(i) => 16 + i as u32,
            Stream::Other(id) => id,
        }
    }
}

/// One round of a 32-bit avalanche hash (lowbias32 constants).
#[inline]
fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// 32 random bits for element `index` of `stream` under `seed`.
#[inline]
pub fn bits(seed: u64, stream: Stream, index: u64) -> u32 {
    let mut h = mix(index as u32 ^ 0x9e37_79b9);
    h = mix(h ^ (index >> 32) as u32);
    h = mix(h ^ stream.id());
    h = mix(h ^ seed as u32);
    mix(h ^ (seed >> 32) as u32)
}

/// Uniform on [-1, 1) with 24 random bits; exact in f32.
#[inline]
pub fn symmetric(seed: u64, stream: Stream, index: u64) -> f32 {
    let u = (bits(seed, stream, index) >> 8) as f32 * (1.0 / 16_777_216.0);
    2.0 * u - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_is_in_range_and_roughly_uniform() {
        let n = 100_000u64;
        let mut sum = 0.0f64;
        let mut lo = 0usize;
        for i in 0..n {
            let v = symmetric(7, Stream::Features, i);
            assert!((-1.0..1.0).contains(&v), "{v}");
            sum += v as f64;
            if v < 0.0 {
                lo += 1;
            }
        }
        assert!((sum / n as f64).abs() < 0.01, "mean {}", sum / n as f64);
        assert!((lo as f64 / n as f64 - 0.5).abs() < 0.01);
    }

    #[test]
    fn stream_ids_are_fixed() {
        assert_eq!(Stream::Features.id(), 0);
        assert_eq!(Stream::Split.id(), 8);
        assert_eq!(Stream::Order.id(), 9);
        assert_eq!(Stream::Importance.id(), 10);
        assert_eq!(Stream::Search.id(), 11);
        assert_eq!(Stream::Layer(0).id(), 16);
        assert_eq!(Stream::Layer(3).id(), 19);
        assert_eq!(Stream::Other(99).id(), 99);
    }

    #[test]
    fn streams_and_seeds_differ() {
        let (f, s) = (Stream::Features, Stream::Split);
        assert_ne!(bits(1, f, 0), bits(2, f, 0));
        assert_ne!(bits(1, f, 0), bits(1, s, 0));
        assert_ne!(bits(1, f, 0), bits(1, f, 1));
        assert_ne!(bits(1, f, 1 << 32), bits(1, f, 0));
        assert_eq!(bits(1, s, 3), bits(1, s, 3));
        assert_ne!(bits(1 << 32, f, 0), bits(0, f, 0));
    }

    /// Bits of seeds, streams and indices of 64 bits: the same on every
    /// backend and in every version (benches/epoch_common.py draws them
    /// too).
    #[test]
    fn bits_are_these() {
        let drawn = [
            bits(0, Stream::Features, 0),
            bits(1, Stream::Split, 3),
            bits(1 << 32, Stream::Features, 0),
            bits(0xdead_beef << 32 | 7, Stream::Layer(0), 5),
            bits(u64::MAX, Stream::Search, u64::MAX),
        ];
        let want = [246052113, 4017380713, 1618519239, 3352160099, 1352218932];
        assert_eq!(drawn, want);
    }
}

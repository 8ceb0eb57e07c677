//! A counter-based random generator: the value at (seed, stream, index) is a
//! pure function of those three, so any slice of a data set or parameter
//! block can be drawn on its own, in any order, on any backend. It uses only
//! 32-bit integer operations so a WGSL twin can produce the same bits.

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
pub fn bits(seed: u64, stream: u32, index: u64) -> u32 {
    let mut h = mix(index as u32 ^ 0x9e37_79b9);
    h = mix(h ^ (index >> 32) as u32);
    h = mix(h ^ stream);
    h = mix(h ^ seed as u32);
    mix(h ^ (seed >> 32) as u32)
}

/// Uniform on [-1, 1) with 24 random bits; exact in f32.
#[inline]
pub fn symmetric(seed: u64, stream: u32, index: u64) -> f32 {
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
            let v = symmetric(7, 0, i);
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
    fn streams_and_seeds_differ() {
        assert_ne!(bits(1, 0, 0), bits(2, 0, 0));
        assert_ne!(bits(1, 0, 0), bits(1, 1, 0));
        assert_ne!(bits(1, 0, 0), bits(1, 0, 1));
        assert_ne!(bits(1, 0, 1 << 32), bits(1, 0, 0));
        assert_eq!(bits(1, 2, 3), bits(1, 2, 3));
    }
}

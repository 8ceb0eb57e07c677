//! Flush-to-zero and denormals-are-zero for the threads that run the fast
//! backend's block code.
//!
//! Saturated sigmoid units give a ≈ 1.6e-38 (or a = 1), so g′ = a(1 − a)
//! is tiny and the deltas r·w·g′ and the products that use them fall below
//! f32's smallest normal, 2⁻¹²⁶ ≈ 1.18e-38. Intel cores take a microcode
//! assist of about a hundred cycles for each subnormal operand or result,
//! so an epoch whose deltas are all subnormal ran 55× slower (issue 11,
//! BENCHMARKS.md).

/// While alive, this thread's SSE/AVX arithmetic runs with MXCSR's FTZ
/// (bit 15) and DAZ (bit 6) set:
///
/// - FTZ: a result that would be subnormal (|v| < 2⁻¹²⁶ for f32, 2⁻¹⁰²² for
///   f64) is stored as ±0 instead;
/// - DAZ: a subnormal operand (in the data, the parameters or a buffer) is
///   read as ±0 by arithmetic and comparisons; loads, stores and moves
///   still copy it unchanged.
///
/// Normal values and their rounding are unaffected: the rounding mode and
/// exception masks are left as they were. Dropping the guard loads the
/// thread's previous MXCSR back (also when unwinding from a panic), so
/// code that runs after it on that thread (the f64 reference, a library
/// user's own arithmetic) sees the mode it had. The register is per
/// thread: each thread that computes makes its own guard, and the guard
/// is neither `Send` nor `Sync`.
///
/// Rust and LLVM assume the default floating-point environment, so an
/// operation folded at compile time does not flush, while the same one at
/// run time does; the guarded code depends on run-time data and uses no
/// float to decide an index or a length, so the worst a difference could
/// do is change a value below 2⁻¹²⁶ by that value.
///
/// On targets other than x86-64 the guard does nothing.
pub(crate) struct FlushDenormals {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
    _this_thread: std::marker::PhantomData<*const ()>,
}

/// MXCSR bit 15, flush to zero.
#[cfg(target_arch = "x86_64")]
const FTZ: u32 = 1 << 15;
/// MXCSR bit 6, denormals are zero.
#[cfg(target_arch = "x86_64")]
const DAZ: u32 = 1 << 6;

impl FlushDenormals {
    /// Sets FTZ and DAZ on the current thread until the guard is dropped.
    #[inline]
    pub(crate) fn new() -> FlushDenormals {
        #[cfg(target_arch = "x86_64")]
        {
            let saved = mxcsr::read();
            mxcsr::write(saved | FTZ | DAZ);
            FlushDenormals {
                saved,
                _this_thread: std::marker::PhantomData,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        FlushDenormals {
            _this_thread: std::marker::PhantomData,
        }
    }
}

impl Drop for FlushDenormals {
    #[inline]
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        mxcsr::write(self.saved);
    }
}

/// Whether the current thread flushes subnormal f32 results to zero now.
#[cfg(test)]
pub(crate) fn flushing() -> bool {
    use std::hint::black_box;
    // 2⁻¹²⁶ · ½ is 2⁻¹²⁷, a subnormal, unless FTZ turns it into 0.
    black_box(black_box(f32::MIN_POSITIVE) * black_box(0.5)) == 0.0
}

/// `stmxcsr` and `ldmxcsr` through inline assembly: `_mm_getcsr` and
/// `_mm_setcsr` are deprecated since Rust 1.75.
#[cfg(target_arch = "x86_64")]
mod mxcsr {
    use std::arch::asm;

    #[inline]
    pub(super) fn read() -> u32 {
        let mut csr = 0u32;
        // SAFETY: stmxcsr writes the 4-byte register to the address given,
        // `csr`'s, and touches nothing else; x86-64 always has SSE.
        unsafe {
            asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
        }
        csr
    }

    #[inline]
    pub(super) fn write(csr: u32) {
        // SAFETY: ldmxcsr reads 4 bytes from `csr`'s address. The value is
        // one read from the register with at most FTZ and DAZ added, so no
        // reserved bit is set (which would fault).
        unsafe {
            asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, readonly, preserves_flags));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn flushes_inside_and_restores_after() {
        // A fresh thread, so the test harness's own state does not matter.
        std::thread::spawn(|| {
            let tiny = f32::from_bits(1); // the smallest subnormal
            assert!(!flushing(), "a new thread starts without FTZ");
            let before = mxcsr::read();
            {
                let _flush = FlushDenormals::new();
                assert!(flushing());
                // DAZ: a subnormal operand counts as 0.
                assert_eq!(black_box(black_box(tiny) * black_box(2.0f32)), 0.0);
                assert_eq!(black_box(black_box(tiny) + black_box(0.0f32)), 0.0);
                // Where the result would be normal, only DAZ makes it 0:
                // 2⁻¹⁴⁹ · 2¹⁰⁰ is 2⁻⁴⁹ unflushed.
                let big = black_box(2.0f32.powi(100));
                assert_eq!(black_box(black_box(tiny) * big), 0.0);
                // f64 too.
                let tiny64 = black_box(f64::MIN_POSITIVE) * black_box(0.5);
                assert_eq!(tiny64, 0.0);
                // Nested guards restore the outer one's mode.
                {
                    let _inner = FlushDenormals::new();
                    assert!(flushing());
                }
                assert!(flushing());
            }
            assert!(!flushing(), "the guard's drop restores gradual underflow");
            assert_eq!(black_box(black_box(tiny) * black_box(2.0f32)).to_bits(), 2);
            assert_eq!(
                mxcsr::read() & !0x3f,
                before & !0x3f,
                "control bits as before"
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn restores_when_unwinding() {
        std::thread::spawn(|| {
            let r = std::panic::catch_unwind(|| {
                let _flush = FlushDenormals::new();
                assert!(flushing());
                panic!("inside the guard");
            });
            assert!(r.is_err());
            assert!(!flushing());
        })
        .join()
        .unwrap();
    }
}

//! Distance kernels. This is the only module of the core that looks at the
//! target: AVX2+FMA chosen at run time on x86_64, `simd128` on wasm32 when the
//! module is built with it, and a scalar fallback everywhere (on aarch64 the
//! compiler auto-vectorises it with baseline NEON).
//! Everything outside this module calls the safe functions in [`Kernels`].
//!
//! Soundness rests on one rule: a safe wrapper around a `#[target_feature]`
//! kernel is private to its submodule and leaves it only inside a [`Kernels`]
//! table that is built after the feature was detected (or, where there is no
//! run-time detection, when the feature is enabled at compile time). All
//! kernels use `min(a.len(), b.len())` as the length, so mismatched slices are
//! a logic error (caught by `debug_assert`) but never an out-of-bounds read.

use std::sync::OnceLock;

/// The kernels chosen for this machine, resolved once.
#[derive(Clone, Copy, Debug)]
pub struct Kernels {
    /// Inner product of two equal-length `f32` slices.
    pub dot: fn(&[f32], &[f32]) -> f32,
    /// Squared Euclidean distance of two equal-length `f32` slices.
    pub l2_sq: fn(&[f32], &[f32]) -> f32,
    /// Number of differing bits of two equal-length byte slices.
    pub hamming: fn(&[u8], &[u8]) -> u32,
    /// Name of the instruction set in use, for diagnostics and benchmarks.
    pub isa: &'static str,
}

/// Portable kernels, used where no vector path exists (and by the tests,
/// which is the only use where the vector path is chosen at compile time).
#[cfg_attr(
    all(target_arch = "wasm32", target_feature = "simd128"),
    allow(dead_code)
)]
const SCALAR: Kernels = Kernels {
    dot: scalar::dot,
    l2_sq: scalar::l2_sq,
    hamming: scalar::hamming,
    isa: "scalar",
};

/// The best kernels for the running machine.
///
/// Detection runs on the first call only; later calls are one atomic load, so
/// callers may fetch the table per distance without caching it themselves.
pub fn kernels() -> &'static Kernels {
    static BEST: OnceLock<Kernels> = OnceLock::new();
    BEST.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Kernels {
    avx2::kernels().unwrap_or(SCALAR)
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn detect() -> Kernels {
    wasm::KERNELS
}

#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128"),
)))]
fn detect() -> Kernels {
    SCALAR
}

/// Hint the CPU to start loading the cache line at `ptr`. A no-op where the
/// target has no prefetch instruction.
#[inline(always)]
pub fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: SSE is part of the x86_64 baseline, and a prefetch is only
        // a hint: it never faults and never dereferences, even for a dangling
        // or null pointer, so any `ptr` is fine.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(ptr.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

/// Trims both slices to the shorter length. The kernels' contract is equal
/// lengths; trimming turns a violation into a wrong answer (and a panic in
/// debug builds) instead of an out-of-bounds read in a vector loop.
#[inline(always)]
fn same_len<'a, T>(a: &'a [T], b: &'a [T]) -> (&'a [T], &'a [T]) {
    debug_assert_eq!(a.len(), b.len(), "slices of different lengths");
    let n = a.len().min(b.len());
    (&a[..n], &b[..n])
}

// Plain loops for the few elements a vector loop leaves over.
#[inline(always)]
fn dot_tail(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[inline(always)]
fn l2_tail(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Portable kernels. The compiler may not reassociate float adds, so a single
/// running sum would stay a serial chain; eight independent accumulators let
/// it map the loop onto baseline vector registers (SSE2 on x86_64, NEON on
/// aarch64, and so on).
pub mod scalar {
    use super::{dot_tail, l2_tail, same_len};

    /// Inner product.
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        let (a, b) = same_len(a, b);
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let tail = dot_tail(ca.remainder(), cb.remainder());
        let mut acc = [0.0f32; 8];
        for (x, y) in ca.zip(cb) {
            for k in 0..8 {
                acc[k] += x[k] * y[k];
            }
        }
        acc.iter().sum::<f32>() + tail
    }

    /// Squared Euclidean distance.
    pub fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
        let (a, b) = same_len(a, b);
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let tail = l2_tail(ca.remainder(), cb.remainder());
        let mut acc = [0.0f32; 8];
        for (x, y) in ca.zip(cb) {
            for k in 0..8 {
                acc[k] += (x[k] - y[k]) * (x[k] - y[k]);
            }
        }
        acc.iter().sum::<f32>() + tail
    }

    /// Differing bits, a 64-bit word at a time.
    #[inline(always)] // so the AVX2 kernel recompiles it with `popcnt`
    pub fn hamming(a: &[u8], b: &[u8]) -> u32 {
        let (a, b) = same_len(a, b);
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let rest = ca.remainder().iter().zip(cb.remainder());
        let tail: u32 = rest.map(|(x, y)| (x ^ y).count_ones()).sum();
        let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().expect("chunk of 8"));
        let xor = ca.zip(cb).map(|(x, y)| word(x) ^ word(y));
        xor.map(u64::count_ones).sum::<u32>() + tail
    }
}

/// AVX2+FMA kernels for x86_64, selected at run time.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Kernels, dot_tail, l2_tail, same_len};
    use core::arch::x86_64::*;

    /// The AVX2 table if this CPU has AVX2, FMA and POPCNT (every AVX2 CPU
    /// has POPCNT, but the Hamming kernel is compiled for it, so check).
    pub(super) fn kernels() -> Option<Kernels> {
        let ok = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("popcnt");
        ok.then_some(Kernels {
            dot,
            l2_sq,
            hamming,
            isa: "avx2+fma",
        })
    }

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: this private fn escapes the module only in the table that
        // `kernels()` builds after AVX2 and FMA were detected.
        unsafe { dot_avx2(a, b) }
    }

    fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: as for `dot`.
        unsafe { l2_sq_avx2(a, b) }
    }

    fn hamming(a: &[u8], b: &[u8]) -> u32 {
        // SAFETY: as for `dot`; POPCNT was detected as well.
        unsafe { hamming_popcnt(a, b) }
    }

    // Four 8-lane accumulators (32 floats per iteration): an FMA has a
    // latency of 4-5 cycles and two can issue per cycle, so one accumulator
    // would leave the loop latency-bound at a fraction of its throughput.
    // Lengths that are not a multiple of 32 go through one accumulator 8
    // floats at a time, and the last < 8 through a plain loop.

    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        let (a, b) = same_len(a, b);
        let (a32, b32) = (a.chunks_exact(32), b.chunks_exact(32));
        let (a8, b8) = (
            a32.remainder().chunks_exact(8),
            b32.remainder().chunks_exact(8),
        );
        let tail = dot_tail(a8.remainder(), b8.remainder());
        // SAFETY: the caller guarantees AVX2+FMA. `ld(c, k)` reads floats
        // 8k..8k+8 of chunk `c`, and is only called with k < 4 on 32-float
        // chunks and k = 0 on 8-float chunks, so every read is in bounds;
        // `loadu` has no alignment requirement.
        unsafe {
            let ld = |c: &[f32], k: usize| _mm256_loadu_ps(c.as_ptr().add(8 * k));
            let mut acc = [_mm256_setzero_ps(); 4];
            for (x, y) in a32.zip(b32) {
                for (k, s) in acc.iter_mut().enumerate() {
                    *s = _mm256_fmadd_ps(ld(x, k), ld(y, k), *s);
                }
            }
            for (x, y) in a8.zip(b8) {
                acc[0] = _mm256_fmadd_ps(ld(x, 0), ld(y, 0), acc[0]);
            }
            hsum(acc) + tail
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn l2_sq_avx2(a: &[f32], b: &[f32]) -> f32 {
        let (a, b) = same_len(a, b);
        let (a32, b32) = (a.chunks_exact(32), b.chunks_exact(32));
        let (a8, b8) = (
            a32.remainder().chunks_exact(8),
            b32.remainder().chunks_exact(8),
        );
        let tail = l2_tail(a8.remainder(), b8.remainder());
        // SAFETY: as in `dot_avx2`: AVX2+FMA guaranteed by the caller, and
        // `diff(x, y, k)` reads floats 8k..8k+8 with the same bounds on `k`.
        unsafe {
            let diff = |x: &[f32], y: &[f32], k: usize| {
                _mm256_sub_ps(
                    _mm256_loadu_ps(x.as_ptr().add(8 * k)),
                    _mm256_loadu_ps(y.as_ptr().add(8 * k)),
                )
            };
            let mut acc = [_mm256_setzero_ps(); 4];
            for (x, y) in a32.zip(b32) {
                for (k, s) in acc.iter_mut().enumerate() {
                    let d = diff(x, y, k);
                    *s = _mm256_fmadd_ps(d, d, *s);
                }
            }
            for (x, y) in a8.zip(b8) {
                let d = diff(x, y, 0);
                acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
            }
            hsum(acc) + tail
        }
    }

    /// Sum of all lanes of the accumulators. Runs once per call, so a plain
    /// store and scalar adds are as good as a shuffle sequence.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(acc: [__m256; 4]) -> f32 {
        let mut l = [0.0f32; 8];
        // SAFETY: the caller guarantees AVX2; the store writes exactly 8
        // floats into an 8-float array, and `storeu` has no alignment needs.
        // The adds sit inside too: they are `unsafe fn`s on older toolchains.
        unsafe {
            let v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
            _mm256_storeu_ps(l.as_mut_ptr(), v);
        }
        ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]))
    }

    /// The portable word-at-a-time loop, recompiled so `count_ones` becomes
    /// `popcnt` (which LLVM may further vectorise) instead of a bit trick.
    #[target_feature(enable = "avx2,fma,popcnt")]
    unsafe fn hamming_popcnt(a: &[u8], b: &[u8]) -> u32 {
        super::scalar::hamming(a, b)
    }
}

/// `simd128` kernels for wasm32. Wasm has no run-time feature detection: a
/// module with SIMD instructions fails to validate on an engine without them,
/// so the choice is made when the module is built. Hamming stays portable:
/// `u64::count_ones` is already a native `i64.popcnt`.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use super::{Kernels, dot_tail, l2_tail, same_len};
    use core::arch::wasm32::*;

    pub(super) const KERNELS: Kernels = Kernels {
        dot,
        l2_sq,
        hamming: super::scalar::hamming,
        isa: "simd128",
    };

    // Four 4-lane accumulators (16 floats per iteration) to hide add latency,
    // as on x86_64. Baseline simd128 has no FMA: each step is a mul and an add.

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        let (a, b) = same_len(a, b);
        let (a16, b16) = (a.chunks_exact(16), b.chunks_exact(16));
        let (a4, b4) = (
            a16.remainder().chunks_exact(4),
            b16.remainder().chunks_exact(4),
        );
        let tail = dot_tail(a4.remainder(), b4.remainder());
        // SAFETY: simd128 is enabled at compile time (cfg above). `ld(c, k)`
        // reads floats 4k..4k+4 of chunk `c`, only with k < 4 on 16-float
        // chunks and k = 0 on 4-float chunks; wasm loads need no alignment.
        unsafe {
            let ld = |c: &[f32], k: usize| v128_load(c.as_ptr().add(4 * k).cast::<v128>());
            let mut acc = [f32x4_splat(0.0); 4];
            for (x, y) in a16.zip(b16) {
                for (k, s) in acc.iter_mut().enumerate() {
                    *s = f32x4_add(*s, f32x4_mul(ld(x, k), ld(y, k)));
                }
            }
            for (x, y) in a4.zip(b4) {
                acc[0] = f32x4_add(acc[0], f32x4_mul(ld(x, 0), ld(y, 0)));
            }
            hsum(acc) + tail
        }
    }

    fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
        let (a, b) = same_len(a, b);
        let (a16, b16) = (a.chunks_exact(16), b.chunks_exact(16));
        let (a4, b4) = (
            a16.remainder().chunks_exact(4),
            b16.remainder().chunks_exact(4),
        );
        let tail = l2_tail(a4.remainder(), b4.remainder());
        // SAFETY: as in `dot`, with `diff(x, y, k)` reading floats 4k..4k+4.
        unsafe {
            let ld = |c: &[f32], k: usize| v128_load(c.as_ptr().add(4 * k).cast::<v128>());
            let diff = |x: &[f32], y: &[f32], k: usize| f32x4_sub(ld(x, k), ld(y, k));
            let mut acc = [f32x4_splat(0.0); 4];
            for (x, y) in a16.zip(b16) {
                for (k, s) in acc.iter_mut().enumerate() {
                    let d = diff(x, y, k);
                    *s = f32x4_add(*s, f32x4_mul(d, d));
                }
            }
            for (x, y) in a4.zip(b4) {
                let d = diff(x, y, 0);
                acc[0] = f32x4_add(acc[0], f32x4_mul(d, d));
            }
            hsum(acc) + tail
        }
    }

    fn hsum(acc: [v128; 4]) -> f32 {
        let v = f32x4_add(f32x4_add(acc[0], acc[1]), f32x4_add(acc[2], acc[3]));
        (f32x4_extract_lane::<0>(v) + f32x4_extract_lane::<2>(v))
            + (f32x4_extract_lane::<1>(v) + f32x4_extract_lane::<3>(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::{collection::vec, prelude::*};

    /// Every table this build can run: the selected one, the portable one,
    /// and each vector one the machine supports, so a kernel that is not
    /// selected (say, scalar on an AVX2 box) is still tested.
    fn tables() -> Vec<Kernels> {
        #[allow(unused_mut)]
        let mut t = vec![*kernels(), SCALAR];
        #[cfg(target_arch = "x86_64")]
        t.extend(avx2::kernels());
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        t.push(wasm::KERNELS);
        t
    }

    /// Plain f64 references and the error scale `sum |term|` for each.
    fn ref_dot(a: &[f32], b: &[f32]) -> (f64, f64) {
        let terms = a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y));
        terms.fold((0.0, 0.0), |(s, m), t| (s + t, m + t.abs()))
    }

    fn ref_l2(a: &[f32], b: &[f32]) -> (f64, f64) {
        let sq = |(&x, &y): (&f32, &f32)| (f64::from(x) - f64::from(y)).powi(2);
        let s = a.iter().zip(b).map(sq).sum();
        (s, s)
    }

    fn ref_hamming(a: &[u8], b: &[u8]) -> u32 {
        a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
    }

    /// Two vectors of the same random length in `0..=max`.
    fn pair<S: Strategy + Clone>(
        max: usize,
        elem: S,
    ) -> impl Strategy<Value = (Vec<S::Value>, Vec<S::Value>)> {
        (0..=max).prop_flat_map(move |n| (vec(elem.clone(), n), vec(elem.clone(), n)))
    }

    fn close(fast: f32, (exact, scale): (f64, f64)) -> bool {
        (f64::from(fast) - exact).abs() <= 1e-4 * scale + 1e-5
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn float_kernels_match_reference((a, b) in pair(300, -100f32..100f32)) {
            for k in tables() {
                let (d, l) = ((k.dot)(&a, &b), (k.l2_sq)(&a, &b));
                prop_assert!(close(d, ref_dot(&a, &b)), "{} dot {d} vs {:?}", k.isa, ref_dot(&a, &b));
                prop_assert!(close(l, ref_l2(&a, &b)), "{} l2 {l} vs {:?}", k.isa, ref_l2(&a, &b));
            }
        }

        #[test]
        fn hamming_is_exact((a, b) in pair(200, any::<u8>())) {
            for k in tables() {
                prop_assert_eq!((k.hamming)(&a, &b), ref_hamming(&a, &b), "{}", k.isa);
            }
        }
    }

    #[test]
    fn empty_is_zero() {
        for k in tables() {
            assert_eq!((k.dot)(&[], &[]), 0.0, "{}", k.isa);
            assert_eq!((k.l2_sq)(&[], &[]), 0.0, "{}", k.isa);
            assert_eq!((k.hamming)(&[], &[]), 0, "{}", k.isa);
        }
    }

    #[test]
    fn dim_384_known_values() {
        // Small integers: every product and partial sum is exact in f32, so
        // any summation order must give exactly the integer answer.
        let a: Vec<f32> = (0..384).map(|i| (i % 7) as f32 - 3.0).collect();
        let b: Vec<f32> = (0..384).map(|i| (i % 5) as f32 - 2.0).collect();
        let dot: i64 = (0..384i64).map(|i| (i % 7 - 3) * (i % 5 - 2)).sum();
        let l2: i64 = (0..384i64).map(|i| (i % 7 - 3 - (i % 5 - 2)).pow(2)).sum();
        for k in tables() {
            assert_eq!((k.dot)(&a, &b), dot as f32, "{}", k.isa);
            assert_eq!((k.l2_sq)(&a, &b), l2 as f32, "{}", k.isa);
            assert_eq!((k.dot)(&[1.0; 384], &[2.0; 384]), 768.0, "{}", k.isa);
            assert_eq!((k.hamming)(&[0xAA; 48], &[0x55; 48]), 384, "{}", k.isa);
            assert_eq!((k.hamming)(&[0x0F; 48], &[0x0F; 48]), 0, "{}", k.isa);
        }
    }

    #[test]
    fn prefetch_accepts_any_pointer() {
        prefetch(std::ptr::null::<u8>());
        prefetch([1.0f32; 4].as_ptr().wrapping_add(1 << 20));
    }

    /// Catches a silent fall-back to scalar on a machine that has a vector path.
    #[test]
    fn selects_best_isa() {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            assert_eq!(kernels().isa, "avx2+fma");
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        assert_eq!(kernels().isa, "simd128");
        assert!(std::ptr::eq(kernels(), kernels()), "resolved once");
    }
}

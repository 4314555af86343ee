//! Principal component analysis over any [`FeatureStore`] (or a flat slice).
//!
//! Fitting takes two passes over the points (all of them, or a random sample
//! of at most [`PcaParams::max_points`]): the first sums them for the mean,
//! the second accumulates the `dim` × `dim` covariance matrix. The covariance
//! pass works on blocks of 256 centred points, transposed so that each
//! coordinate is one row, and lets the blocked product of the SIMD module
//! ([`simd::Kernels::dots`]) form every inner product of two coordinates
//! over the block; the block's results are then added into `f64` sums. Only
//! the lower triangle is computed, a band of columns at a time, and the
//! upper one mirrored from it, so the matrix is exactly symmetric.
//!
//! The leading eigenvectors come from subspace (block power) iteration on
//! the covariance, with a few more columns than components asked for (which
//! speeds up convergence of the last wanted ones). Each iteration multiplies
//! the block by the covariance, solves the small projected eigenproblem
//! (Rayleigh–Ritz, by cyclic Jacobi rotations) to get Ritz pairs sorted by
//! eigenvalue, and re-orthonormalises (Gram–Schmidt, twice). It stops when
//! every wanted Ritz pair `(λ, v)` has a residual `‖Cv − λv‖` within
//! [`PcaParams::tolerance`] times the largest eigenvalue, or after
//! [`PcaParams::max_iters`] iterations.
//!
//! The starting block comes from the seeded generator, so a seed gives the
//! same model on every run. Each component's sign is fixed afterwards (its
//! largest-magnitude coordinate is made positive), so different targets,
//! whose SIMD kernels may round the covariance differently in the last
//! bits, agree on the components up to that rounding rather than up to a
//! sign.
//!
//! The fitting and projecting code is `#[inline]`, so that it is compiled in
//! the crate that calls it: the browser package builds it with its
//! size-optimised settings, native callers with theirs. This changes no
//! result (the arithmetic is fixed by the source, not by the optimiser); the
//! inner products it spends its time in ([`simd::Kernels::dots`], `dot64`,
//! `axpy64`) are not inlined and stay optimised for speed everywhere.
//!
//! ```
//! use vectrove_core::{Pca, PcaParams};
//!
//! // Points along the diagonal of the plane, with a little noise across it.
//! let data = [0.0, 0.1, 1.0, 0.9, 2.0, 2.1, 3.0, 2.9f32];
//! let params = PcaParams { components: 1, ..PcaParams::default() };
//! let pca = Pca::fit(&data, 2, &params)?;
//! let axis = pca.components();
//! assert!((axis[0] - axis[1]).abs() < 0.05); // about (0.707, 0.707)
//! assert!(pca.explained_variance_ratio()[0] > 0.99);
//! let projected = pca.transform(&data)?; // one value per point
//! assert_eq!(projected.len(), 4);
//! # Ok::<(), vectrove_core::Error>(())
//! ```
//!
//! (Longer than most files: the fit, the subspace iteration and its Jacobi
//! solver are one algorithm, and half of the file is its tests.)

use crate::error::{Error, Result, invalid_n};

use crate::rng::SplitMix64;
use crate::simd;
use crate::store::{Access, FeatureStore};

/// Fitting parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PcaParams {
    /// Number of principal components to keep: from 1 to the dimension, and
    /// at most the number of points fitted on.
    pub components: usize,
    /// Most subspace iterations (at least one is always run).
    pub max_iters: usize,
    /// Stop when every kept component's residual `‖Cv − λv‖` is at most
    /// this times the largest eigenvalue.
    pub tolerance: f64,
    /// Fit on at most this many points, drawn at random; 0 fits on all.
    pub max_points: usize,
    /// Seed of the sample and of the starting block.
    pub seed: u64,
}

impl Default for PcaParams {
    fn default() -> Self {
        Self {
            components: 2,
            max_iters: 300,
            tolerance: 1e-7,
            max_points: 100_000,
            seed: 1234,
        }
    }
}

impl PcaParams {
    #[inline]
    fn validate(&self, dim: usize) -> Result<()> {
        let bad = |name, reason: &str| Err(invalid(name, reason));
        if dim == 0 {
            return bad("dim", "must be at least 1");
        }
        if self.components == 0 {
            return bad("components", "must be at least 1");
        }
        if self.components > dim {
            return Err(invalid_n(
                "components",
                "more components than dimensions; dimensions:",
                dim as u64,
            ));
        }
        if self.tolerance.is_nan() || self.tolerance < 0.0 {
            return bad("tolerance", "must be a number >= 0");
        }
        Ok(())
    }
}

/// An [`Error::InvalidParameter`]: one out-of-line constructor for every
/// refusal here.
#[cold]
#[inline(never)]
fn invalid(name: &'static str, reason: &str) -> Error {
    Error::InvalidParameter {
        name,
        reason: reason.into(),
    }
}

/// A fitted projection: the mean and the leading principal axes.
#[derive(Clone, Debug)]
pub struct Pca {
    dim: usize,
    mean: Vec<f32>,
    /// The mean as computed, for centring in `transform`.
    mean64: Vec<f64>,
    components: Vec<f32>,
    variance: Vec<f64>,
    variance_ratio: Vec<f64>,
    total_variance: f64,
    points: usize,
    iterations: usize,
}

/// Points read, centred and multiplied per block.
const CHUNK: usize = 256;

/// Coordinates per band of the covariance: the lower triangle is formed a
/// band of this many columns at a time.
const TILE: usize = 64;

/// Columns of the iterated block beyond the components asked for: at least
/// this many, or half the components when that is more.
const MIN_EXTRA: usize = 8;

/// Jacobi sweeps before giving up on a (tiny) eigenproblem; the method
/// converges quadratically, so real inputs need under a dozen.
const MAX_SWEEPS: usize = 60;

/// Vectors back to back in a borrowed slice: the store behind [`Pca::fit`].
struct Flat<'a> {
    data: &'a [f32],
    dim: usize,
}

impl FeatureStore for Flat<'_> {
    type Elem = f32;

    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    fn with_vector<R>(&self, slot: u32, f: impl FnOnce(&[f32]) -> R) -> Result<Access<R>> {
        let start = slot as usize * self.dim;
        match self.data.get(start..start + self.dim) {
            Some(v) => Ok(Access::Ready(f(v))),
            None => Err(Error::SlotOutOfRange {
                slot,
                len: self.len(),
            }),
        }
    }
}

/// Copy the vectors of `slots` back to back into `buf`.
fn read_rows<S: FeatureStore<Elem = f32>>(
    store: &S,
    slots: &[u32],
    buf: &mut Vec<f32>,
) -> Result<()> {
    buf.clear();
    let mut missing = Vec::new();
    store.with_vectors(slots, |_, v| buf.extend_from_slice(v), &mut missing)?;
    if !missing.is_empty() {
        return Err(Error::NotResident {
            count: missing.len(),
        });
    }
    Ok(())
}

/// The first non-finite value of `v`, if any.
#[inline]
fn non_finite(v: &[f32]) -> Option<usize> {
    // A branch-free pass first (it vectorises); the position only on failure.
    if v.iter().fold(true, |ok, x| ok & x.is_finite()) {
        None
    } else {
        v.iter().position(|x| !x.is_finite())
    }
}

/// Inner product in `f64` with four running sums (the same order on every
/// target, and enough independent work to keep the FPU busy). Not
/// inlined: one copy of the vectorised loop serves every caller, which
/// keeps the browser package small at no measurable cost.
#[inline(never)]
fn dot64(a: &[f64], b: &[f64]) -> f64 {
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0.0f64; 4];
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `y += alpha * x` (not inlined, as for [`dot64`]).
#[inline(never)]
fn axpy64(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

fn norm64(a: &[f64]) -> f64 {
    dot64(a, a).sqrt()
}

/// The slots to fit on: all of them, or a sorted random sample.
#[inline]
fn sample(params: &PcaParams, n: usize) -> Vec<u32> {
    if params.max_points == 0 {
        return (0..n).map(|i| i as u32).collect();
    }
    // The salt of PCA's sample, folded with the one k-means' sampling adds
    // (the sample is the one PCA has always drawn for a seed).
    let salt = 0x0BCA_5EED_0F1E_2D3C ^ crate::kmeans::SAMPLE_SALT;
    crate::sample::random_slots(n, params.max_points, params.seed ^ salt)
}

/// A zeroed `f64` buffer of `len` values, or an error naming `what` when it
/// cannot be had (rather than an abort on allocation failure).
#[inline]
fn zeroed(len: Option<usize>, what: &'static str) -> Result<Vec<f64>> {
    let mut v = Vec::new();
    match len {
        Some(len) if v.try_reserve_exact(len).is_ok() => {
            v.resize(len, 0.0);
            Ok(v)
        }
        _ => Err(invalid(
            what,
            "too large: the working matrices cannot be allocated",
        )),
    }
}

/// Add to `acc` the sum over the points of `y yᵀ` with
/// `y = (x − mean) · inv_scale`, making it a full, exactly symmetric
/// `dim` × `dim` matrix.
fn scatter<S: FeatureStore<Elem = f32>>(
    store: &S,
    slots: &[u32],
    mean: &[f64],
    inv_scale: f64,
    acc: &mut [f64],
) -> Result<()> {
    let dim = mean.len();
    let kernels = simd::kernels();
    let mut rows = Vec::new();
    // The block transposed: coordinate j of point i at j * m + i.
    let mut t = vec![0f32; CHUNK.min(slots.len()) * dim];
    let mut prod = vec![0f32; TILE.min(dim) * dim];
    for chunk in slots.chunks(CHUNK) {
        read_rows(store, chunk, &mut rows)?;
        let m = chunk.len();
        let t = &mut t[..m * dim];
        for i in 0..m {
            for j in 0..dim {
                t[j * m + i] = ((f64::from(rows[i * dim + j]) - mean[j]) * inv_scale) as f32;
            }
        }
        // The coordinates from the first of a band of them on, times the
        // band: the lower triangle, a band of columns at a time.
        for cs in (0..dim).step_by(TILE) {
            let ce = (cs + TILE).min(dim);
            let w = ce - cs;
            let panel = kernels.pack(&t[cs * m..ce * m], m);
            let prod = &mut prod[..(dim - cs) * w];
            (kernels.dots)(&t[cs * m..], &panel, prod);
            for r in cs..dim {
                let p = &prod[(r - cs) * w..(r - cs + 1) * w];
                (kernels.widen_add)(&mut acc[r * dim + cs..r * dim + ce], p);
            }
        }
    }
    // The upper triangle: products commute, so this is exact.
    for r in 0..dim {
        for c in 0..r {
            acc[c * dim + r] = acc[r * dim + c];
        }
    }
    Ok(())
}

/// Eigen-decomposition of the symmetric `n` × `n` matrix `a` (row-major;
/// destroyed) by cyclic Jacobi rotations. Returns the eigenvalues in
/// descending order and the matching unit eigenvectors as the rows of an
/// `n` × `n` matrix.
#[inline]
fn jacobi_eigen(a: &mut [f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    debug_assert_eq!(a.len(), n * n);
    // v accumulates the rotations, transposed: its rows become the
    // eigenvectors.
    let mut v = vec![0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let total: f64 = a.iter().map(|x| x * x).sum();
    for _ in 0..MAX_SWEEPS {
        let mut off = 0.0;
        for p in 0..n {
            for q in p + 1..n {
                off += a[p * n + q] * a[p * n + q];
            }
        }
        // Off-diagonal mass negligible next to the whole (or none at all).
        if off <= total * 1e-30 || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                // Rotation angle φ with cot 2φ = (a_qq − a_pp) / (2 a_pq);
                // t = tan φ is the smaller root of t² + 2θt − 1 = 0.
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = if theta.abs() > 1e150 {
                    0.5 / theta
                } else {
                    let s = if theta >= 0.0 { 1.0 } else { -1.0 };
                    s / (theta.abs() + (theta * theta + 1.0).sqrt())
                };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A ← Jᵀ A J with J the rotation in the (p, q) plane:
                // columns first, then rows.
                rotate(a, n, p, q, n, c, s);
                rotate(a, n, p * n, q * n, 1, c, s);
                a[p * n + q] = 0.0;
                a[q * n + p] = 0.0;
                rotate(&mut v, n, p * n, q * n, 1, c, s);
            }
        }
    }
    // Descending, ties in index order: the largest remaining diagonal
    // entry (the first of equal ones) at each step, then struck out. The
    // entries are finite, as the matrix is. A selection: `n` is the small
    // block size, and it keeps a general sort out of the browser package.
    let mut values = Vec::with_capacity(n);
    let mut vectors = Vec::with_capacity(n * n);
    for _ in 0..n {
        let mut best = 0;
        for i in 1..n {
            if a[i * (n + 1)] > a[best * (n + 1)] {
                best = i;
            }
        }
        values.push(a[best * (n + 1)]);
        a[best * (n + 1)] = f64::NEG_INFINITY;
        vectors.extend_from_slice(&v[best * n..(best + 1) * n]);
    }
    (values, vectors)
}

/// Rotate the `n` pairs `(m[p + k·step], m[q + k·step])` by the angle of
/// cosine `c` and sine `s`: two columns (`step` the row length) or two rows
/// (`step` 1) of a row-major matrix.
fn rotate(m: &mut [f64], n: usize, p: usize, q: usize, step: usize, c: f64, s: f64) {
    for k in 0..n {
        let (x, y) = (m[p + k * step], m[q + k * step]);
        m[p + k * step] = c * x - s * y;
        m[q + k * step] = s * x + c * y;
    }
}

/// Turn the rows of `q` (`dim` values each) into an orthonormal set, in
/// order, by modified Gram–Schmidt applied twice. A row that (numerically)
/// lies in the span of the earlier ones is replaced by a random direction
/// orthogonal to them. `q` must hold at most `dim` rows.
#[inline]
pub(crate) fn orthonormalize(q: &mut [f64], dim: usize, rng: &mut SplitMix64) {
    let rows = q.len() / dim;
    // A remainder below this is rounding noise: relative to the largest
    // row before orthogonalisation, or to the replacement row.
    let noise = 1e-13 * q.chunks_exact(dim).map(norm64).fold(0.0, f64::max);
    for j in 0..rows {
        let mut floor = noise;
        let (done, rest) = q.split_at_mut(j * dim);
        let row = &mut rest[..dim];
        // Four random directions, then the coordinate axes in turn: as there
        // are fewer earlier rows than dimensions, some axis lies well
        // outside their span, so the last attempt is never reached.
        for attempt in 0..=4 + dim {
            for _ in 0..2 {
                for prev in done.chunks_exact(dim) {
                    let r = dot64(prev, row);
                    axpy64(-r, prev, row);
                }
            }
            let n = norm64(row);
            if (n > floor && n > 0.0) || attempt == 4 + dim {
                for x in row.iter_mut() {
                    *x /= n;
                }
                break;
            }
            if attempt < 4 {
                row.iter_mut().for_each(|x| *x = rng.next_f64() - 0.5);
            } else {
                row.fill(0.0);
                row[attempt - 4] = 1.0;
            }
            floor = 1e-13 * norm64(row);
        }
    }
}

/// The top `k` eigenpairs of the symmetric `dim` × `dim` matrix `c` by
/// subspace iteration: eigenvalues (descending), unit eigenvectors (rows of
/// `k` × `dim`), and the iterations run; an error if the working block
/// cannot be allocated.
#[inline]
fn leading_eigen(
    c: &[f64],
    dim: usize,
    k: usize,
    params: &PcaParams,
) -> Result<(Vec<f64>, Vec<f64>, usize)> {
    let b = (k + MIN_EXTRA.max(k / 2)).min(dim);
    let len = b * dim;
    let mut rng = SplitMix64::new(params.seed);
    // The block, its image under C, the Ritz vectors and their images, and
    // the projected matrix, in one allocation.
    let size = len.checked_mul(4).and_then(|x| x.checked_add(b * b));
    let mut work = zeroed(size, "components")?;
    let (mut q, rest) = work.split_at_mut(len);
    let (z, rest) = rest.split_at_mut(len);
    let (ritz, rest) = rest.split_at_mut(len);
    let (mut image, h) = rest.split_at_mut(len);
    q.iter_mut().for_each(|x| *x = rng.next_f64() - 0.5);
    orthonormalize(q, dim, &mut rng);
    let mut resid = vec![0f64; dim];
    let mut iterations = 0;
    loop {
        iterations += 1;
        // z = C q, one row of C at a time (it stays in cache for all b).
        for (i, row) in c.chunks_exact(dim).enumerate() {
            for (j, qj) in q.chunks_exact(dim).enumerate() {
                z[j * dim + i] = dot64(row, qj);
            }
        }
        // The projected matrix qᵀ C q, symmetrised.
        for a in 0..b {
            for e in a..b {
                let x = 0.5
                    * (dot64(&q[a * dim..(a + 1) * dim], &z[e * dim..(e + 1) * dim])
                        + dot64(&q[e * dim..(e + 1) * dim], &z[a * dim..(a + 1) * dim]));
                h[a * b + e] = x;
                h[e * b + a] = x;
            }
        }
        let (mut values, w) = jacobi_eigen(h, b);
        // Ritz vectors q w and their images C q w = z w.
        ritz.fill(0.0);
        image.fill(0.0);
        for (a, w) in w.chunks_exact(b).enumerate() {
            for (e, &coef) in w.iter().enumerate() {
                let at = e * dim..(e + 1) * dim;
                axpy64(coef, &q[at.clone()], &mut ritz[a * dim..(a + 1) * dim]);
                axpy64(coef, &z[at], &mut image[a * dim..(a + 1) * dim]);
            }
        }
        let limit = params.tolerance * values[0].abs();
        // The residuals C v − λ v (x + (−λ)·y rounds as x − λ·y).
        let converged = (0..k).all(|a| {
            resid.copy_from_slice(&image[a * dim..(a + 1) * dim]);
            axpy64(-values[a], &ritz[a * dim..(a + 1) * dim], &mut resid);
            norm64(&resid) <= limit
        });
        if converged || iterations >= params.max_iters {
            values.truncate(k);
            return Ok((values, ritz[..k * dim].to_vec(), iterations));
        }
        // The next block spans C times the Ritz vectors, leading ones first.
        std::mem::swap(&mut q, &mut image);
        orthonormalize(q, dim, &mut rng);
    }
}

impl Pca {
    /// Fit on `data`, vectors of `dim` values back to back.
    ///
    /// Errors: `dim` 0, no vectors, more components than the dimension or
    /// the points, or another bad parameter ([`Error::InvalidParameter`],
    /// also when the working matrices cannot be allocated); a length that is not a whole number
    /// of vectors ([`Error::DimensionMismatch`], whose `got` is the length
    /// of the incomplete last vector); NaN or an infinity
    /// ([`Error::NonFinite`], with the position inside its vector).
    #[inline]
    pub fn fit(data: &[f32], dim: usize, params: &PcaParams) -> Result<Pca> {
        // A `dim` of 0 is refused by `fit_store` before the store is used.
        if dim > 0 && !data.len().is_multiple_of(dim) {
            return Err(Error::DimensionMismatch {
                expected: dim,
                got: data.len() % dim,
            });
        }
        Self::fit_store(&Flat { data, dim }, params)
    }

    /// Fit on the vectors of `store` (a random sample of at most
    /// [`PcaParams::max_points`] of them). Reads them twice, through
    /// [`FeatureStore::with_vectors`]; a store that answers `Missing` gives
    /// [`Error::NotResident`]. Memory: the `dim` × `dim` covariance in
    /// `f64`, plus a block of points.
    pub fn fit_store<S: FeatureStore<Elem = f32>>(store: &S, params: &PcaParams) -> Result<Pca> {
        let dim = store.dim();
        params.validate(dim)?;
        if store.is_empty() {
            return Err(invalid("data", "no vectors to fit on"));
        }
        if u32::try_from(store.len() - 1).is_err() {
            return Err(invalid("data", "more than 2^32 vectors"));
        }
        let slots = sample(params, store.len());
        let n = slots.len();
        // No more axes than points to find them in: this also bounds the
        // working block (components times the dimension) by the data.
        if params.components > n {
            return Err(invalid_n(
                "components",
                "more components than points; points:",
                n as u64,
            ));
        }
        // The largest allocation first: a dimension too large for the
        // covariance matrix fails before any reading.
        let mut cov = zeroed(dim.checked_mul(dim), "dim")?;

        // Pass 1: the mean, and the largest magnitude (for scaling).
        let mut sum = vec![0f64; dim];
        let mut rows = Vec::new();
        let mut max_abs = 0f32;
        let kernels = simd::kernels();
        for chunk in slots.chunks(CHUNK) {
            read_rows(store, chunk, &mut rows)?;
            for x in rows.chunks_exact(dim) {
                if let Some(position) = non_finite(x) {
                    return Err(Error::NonFinite { position });
                }
                (kernels.widen_add)(&mut sum, x);
                max_abs = x.iter().fold(max_abs, |m, v| m.max(v.abs()));
            }
        }
        let mut mean64 = sum;
        let mut mean = vec![0f32; dim];
        for j in 0..dim {
            mean64[j] /= n as f64;
            mean[j] = mean64[j] as f32;
        }

        // Pass 2: the covariance of the points scaled into [-1, 1] (no
        // square can overflow or vanish in f32), rescaled in f64 at the end.
        let scale = 2.0 * f64::from(max_abs);
        let inv_scale = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        scatter(store, &slots, &mean64, inv_scale, &mut cov)?;
        let denom = n.saturating_sub(1).max(1) as f64;
        cov.iter_mut().for_each(|x| *x /= denom);
        let trace: f64 = (0..dim).map(|i| cov[i * dim + i]).sum();

        let k = params.components;
        let (values, vectors, iterations) = leading_eigen(&cov, dim, k, params)?;

        let scale2 = scale * scale;
        let mut components = vec![0f32; k * dim];
        let mut variance = vec![0f64; k];
        let mut variance_ratio = vec![0f64; k];
        for i in 0..k {
            let v = &vectors[i * dim..(i + 1) * dim];
            // The sign: the first coordinate of largest magnitude positive.
            let lead = v
                .iter()
                .fold(0.0, |b: f64, &x| if x.abs() > b.abs() { x } else { b });
            let sign = if lead < 0.0 { -1.0 } else { 1.0 };
            for j in 0..dim {
                components[i * dim + j] = (sign * v[j]) as f32;
            }
            // Rounding can leave a tiny negative eigenvalue of a singular
            // matrix.
            let l = values[i].max(0.0);
            variance[i] = l * scale2;
            variance_ratio[i] = if trace > 0.0 { l / trace } else { 0.0 };
        }
        Ok(Pca {
            dim,
            mean,
            mean64,
            components,
            variance,
            variance_ratio,
            total_variance: trace * scale2,
            points: n,
            iterations,
        })
    }

    /// Elements per input vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of components kept.
    pub fn n_components(&self) -> usize {
        self.variance.len()
    }

    /// The principal axes, [`n_components`](Self::n_components) unit
    /// vectors of [`dim`](Self::dim) values back to back, by decreasing
    /// variance.
    pub fn components(&self) -> &[f32] {
        &self.components
    }

    /// The mean of the points fitted on.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// The variance along each component (the covariance matrix's
    /// eigenvalues, with the `n − 1` denominator), largest first.
    pub fn explained_variance(&self) -> &[f64] {
        &self.variance
    }

    /// Each component's share of the total variance (eigenvalue divided by
    /// the covariance's trace); all zero when the points coincide.
    pub fn explained_variance_ratio(&self) -> &[f64] {
        &self.variance_ratio
    }

    /// The total variance: the sum over all dimensions (the covariance's
    /// trace).
    pub fn total_variance(&self) -> f64 {
        self.total_variance
    }

    /// Number of points fitted on (after sampling).
    pub fn points(&self) -> usize {
        self.points
    }

    /// Subspace iterations run.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// Project `data` (vectors back to back) onto the components: for each
    /// vector, [`n_components`](Self::n_components) coordinates.
    #[inline]
    pub fn transform(&self, data: &[f32]) -> Result<Vec<f32>> {
        let n = self.count(data)?;
        let mut out = vec![0f32; n * self.n_components()];
        self.project(data, &mut out)?;
        Ok(out)
    }

    /// Project one vector.
    #[inline]
    pub fn transform_one(&self, v: &[f32]) -> Result<Vec<f32>> {
        if v.len() != self.dim {
            return Err(Error::DimensionMismatch {
                expected: self.dim,
                got: v.len(),
            });
        }
        self.transform(v)
    }

    /// [`transform`](Self::transform) into `out`, which must hold exactly
    /// [`n_components`](Self::n_components) values per vector of `data`.
    /// Products and sums are in `f64`, so the result does not depend on the
    /// target.
    #[inline]
    pub fn transform_into(&self, data: &[f32], out: &mut [f32]) -> Result<()> {
        let n = self.count(data)?;
        let k = self.n_components();
        if out.len() != n * k {
            return Err(invalid_n(
                "out",
                "the wrong number of output values:",
                out.len() as u64,
            ));
        }
        self.project(data, out)
    }

    /// The number of vectors in `data`, or an error if its length is not a
    /// whole number of them.
    #[inline]
    fn count(&self, data: &[f32]) -> Result<usize> {
        if !data.len().is_multiple_of(self.dim) {
            return Err(Error::DimensionMismatch {
                expected: self.dim,
                got: data.len() % self.dim,
            });
        }
        Ok(data.len() / self.dim)
    }

    /// [`transform_into`](Self::transform_into) once the shapes are
    /// checked.
    #[inline]
    fn project(&self, data: &[f32], out: &mut [f32]) -> Result<()> {
        let (dim, k) = (self.dim, self.n_components());
        let mut centred = vec![0f64; dim];
        let comps: Vec<f64> = self.components.iter().map(|&x| f64::from(x)).collect();
        for i in 0..data.len() / dim {
            let x = &data[i * dim..(i + 1) * dim];
            if let Some(position) = non_finite(x) {
                return Err(Error::NonFinite { position });
            }
            for j in 0..dim {
                centred[j] = f64::from(x[j]) - self.mean64[j];
            }
            for c in 0..k {
                out[i * k + c] = dot64(&centred, &comps[c * dim..(c + 1) * dim]) as f32;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    /// A standard normal draw (Box–Muller).
    fn normal(rng: &mut SplitMix64) -> f64 {
        let u = rng.next_f64().max(1e-300);
        let v = rng.next_f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// A random orthonormal basis of `dim` vectors (rows).
    fn basis(dim: usize, seed: u64) -> Vec<f64> {
        let mut rng = SplitMix64::new(seed);
        let mut b: Vec<f64> = (0..dim * dim).map(|_| normal(&mut rng)).collect();
        // Classical Gram–Schmidt, twice: independent of the code under test.
        for j in 0..dim {
            for _ in 0..2 {
                for i in 0..j {
                    let r: f64 = (0..dim).map(|t| b[i * dim + t] * b[j * dim + t]).sum();
                    for t in 0..dim {
                        b[j * dim + t] -= r * b[i * dim + t];
                    }
                }
            }
            let n: f64 = (0..dim).map(|t| b[j * dim + t].powi(2)).sum::<f64>().sqrt();
            for t in 0..dim {
                b[j * dim + t] /= n;
            }
        }
        b
    }

    /// `n` points `offset + Σ_i sqrt(var_i) g_i axis_i` (g standard normal).
    fn gaussian(n: usize, axes: &[f64], vars: &[f64], offset: f32, seed: u64) -> Vec<f32> {
        let dim = axes.len() / vars.len();
        let mut rng = SplitMix64::new(seed);
        let mut out = Vec::with_capacity(n * dim);
        for _ in 0..n {
            let mut p = vec![0f64; dim];
            for (axis, &var) in axes.chunks_exact(dim).zip(vars) {
                let g = normal(&mut rng) * var.sqrt();
                for (p, a) in p.iter_mut().zip(axis) {
                    *p += g * a;
                }
            }
            out.extend(
                p.iter()
                    .enumerate()
                    .map(|(i, &x)| x as f32 + offset + i as f32),
            );
        }
        out
    }

    /// The sample covariance in plain f64 (two loops, n − 1 denominator).
    fn naive_cov(data: &[f32], dim: usize) -> Vec<f64> {
        let n = data.len() / dim;
        let mut mean = vec![0f64; dim];
        for x in data.chunks_exact(dim) {
            for (m, &v) in mean.iter_mut().zip(x) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut c = vec![0f64; dim * dim];
        for x in data.chunks_exact(dim) {
            for r in 0..dim {
                for s in 0..dim {
                    c[r * dim + s] += (f64::from(x[r]) - mean[r]) * (f64::from(x[s]) - mean[s]);
                }
            }
        }
        c.iter_mut().for_each(|v| *v /= (n - 1).max(1) as f64);
        c
    }

    fn dot(a: &[f32], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| f64::from(x) * y).sum()
    }

    #[test]
    fn recovers_known_axes_and_variances() {
        let dim = 16;
        let axes = basis(dim, 11);
        let vars = [25.0, 9.0, 4.0, 1.0, 0.5, 0.25, 0.1, 0.05];
        let data = gaussian(6000, &axes[..vars.len() * dim], &vars, 3.0, 5);
        let params = PcaParams {
            components: 4,
            ..PcaParams::default()
        };
        let pca = Pca::fit(&data, dim, &params).unwrap();
        assert_eq!((pca.dim(), pca.n_components()), (dim, 4));
        assert!(pca.iterations() >= 1 && pca.iterations() < params.max_iters);
        for (i, c) in pca.components().chunks_exact(dim).enumerate() {
            let cos = dot(c, &axes[i * dim..(i + 1) * dim]).abs();
            assert!(cos > 0.999, "axis {i}: |cos| = {cos}");
            let got = pca.explained_variance()[i];
            assert!((got / vars[i] - 1.0).abs() < 0.08, "variance {i}: {got}");
        }
        let total: f64 = vars.iter().sum();
        assert!((pca.total_variance() / total - 1.0).abs() < 0.08);
        let ratio_sum: f64 = pca.explained_variance_ratio().iter().sum();
        assert!(ratio_sum > 0.9 && ratio_sum < 1.0);
        // The mean is the offset plus the coordinate ramp.
        for (i, &m) in pca.mean().iter().enumerate() {
            assert!((m - 3.0 - i as f32).abs() < 0.2, "mean {i}: {m}");
        }
    }

    #[test]
    fn components_are_orthonormal_and_sorted() {
        let dim = 40;
        let axes = basis(dim, 3);
        let vars: Vec<f64> = (0..dim).map(|i| 1.0 / (1.0 + i as f64)).collect();
        let data = gaussian(1500, &axes, &vars, 0.0, 9);
        let params = PcaParams {
            components: 10,
            ..PcaParams::default()
        };
        let pca = Pca::fit(&data, dim, &params).unwrap();
        let c = pca.components();
        for i in 0..10 {
            for j in 0..10 {
                let d: f64 = (0..dim)
                    .map(|t| f64::from(c[i * dim + t]) * f64::from(c[j * dim + t]))
                    .sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((d - want).abs() < 1e-5, "({i}, {j}): {d}");
            }
        }
        let v = pca.explained_variance();
        assert!(v.windows(2).all(|w| w[0] >= w[1]), "{v:?}");
        let r = pca.explained_variance_ratio();
        assert!(r.windows(2).all(|w| w[0] >= w[1]), "{r:?}");
        for (&v, &r) in v.iter().zip(r) {
            assert!((v / pca.total_variance() - r).abs() < 1e-12);
        }
    }

    #[test]
    fn agrees_with_full_jacobi_decomposition() {
        let dim = 12;
        let axes = basis(dim, 21);
        let vars: Vec<f64> = (0..dim).map(|i| 10.0 * 0.6f64.powi(i as i32)).collect();
        let data = gaussian(800, &axes, &vars, -2.0, 4);
        let cov = naive_cov(&data, dim);
        let (values, vectors) = jacobi_eigen(&mut cov.clone(), dim);
        // Jacobi itself: C v = λ v for every pair, values descending.
        for (l, v) in values.iter().zip(vectors.chunks_exact(dim)) {
            for r in 0..dim {
                let cv: f64 = (0..dim).map(|s| cov[r * dim + s] * v[s]).sum();
                assert!((cv - l * v[r]).abs() < 1e-10, "{cv} vs {}", l * v[r]);
            }
        }
        assert!(values.windows(2).all(|w| w[0] >= w[1]));
        let trace: f64 = (0..dim).map(|i| cov[i * dim + i]).sum();
        for k in [1, 5, 12] {
            let params = PcaParams {
                components: k,
                tolerance: 1e-10,
                ..PcaParams::default()
            };
            let pca = Pca::fit(&data, dim, &params).unwrap();
            for i in 0..k {
                let c = &pca.components()[i * dim..(i + 1) * dim];
                let cos = dot(c, &vectors[i * dim..(i + 1) * dim]).abs();
                assert!(cos > 0.99999, "k {k}, component {i}: |cos| = {cos}");
                let (got, want) = (pca.explained_variance()[i], values[i]);
                assert!((got - want).abs() <= 1e-5 * want, "{got} vs {want}");
            }
            assert!((pca.total_variance() - trace).abs() <= 1e-5 * trace);
        }
    }

    #[test]
    fn covariance_matches_plain_sums_across_tiles_and_chunks() {
        // More than one tile of coordinates and one chunk of points.
        let dim = TILE * 2 + 13;
        let mut rng = SplitMix64::new(8);
        let n = CHUNK + 77;
        let data: Vec<f32> = (0..n * dim)
            .map(|i| (normal(&mut rng) * (1.0 + (i % dim) as f64 / 10.0)) as f32 + 100.0)
            .collect();
        let want = naive_cov(&data, dim);
        let params = PcaParams {
            components: 1,
            ..PcaParams::default()
        };
        let store = Flat { data: &data, dim };
        let slots = sample(&params, n);
        let mean: Vec<f64> = (0..dim)
            .map(|j| {
                data.iter()
                    .skip(j)
                    .step_by(dim)
                    .map(|&x| f64::from(x))
                    .sum::<f64>()
                    / n as f64
            })
            .collect();
        let max_abs = data.iter().fold(0f32, |m, x| m.max(x.abs()));
        let s = 2.0 * f64::from(max_abs);
        let mut got = vec![0f64; dim * dim];
        scatter(&store, &slots, &mean, 1.0 / s, &mut got).unwrap();
        let scale = s * s / (n - 1) as f64;
        for r in 0..dim {
            for c in 0..dim {
                let (g, w) = (got[r * dim + c] * scale, want[r * dim + c]);
                let tol = 1e-5 * (want[r * dim + r] * want[c * dim + c]).sqrt();
                assert!((g - w).abs() <= tol, "({r}, {c}): {g} vs {w}");
                assert_eq!(got[r * dim + c], got[c * dim + r]);
            }
        }
    }

    #[test]
    fn transform_centres_and_projects() {
        let dim = 6;
        let axes = basis(dim, 2);
        let vars = [4.0, 1.0, 0.5];
        let data = gaussian(500, &axes[..3 * dim], &vars, 7.0, 1);
        let params = PcaParams {
            components: 3,
            ..PcaParams::default()
        };
        let pca = Pca::fit(&data, dim, &params).unwrap();
        let at_mean = pca.transform_one(pca.mean()).unwrap();
        assert_eq!(at_mean.len(), 3);
        assert!(at_mean.iter().all(|x| x.abs() < 1e-5), "{at_mean:?}");
        let all = pca.transform(&data).unwrap();
        assert_eq!(all.len(), 500 * 3);
        // The projections have the explained variances as variances.
        for c in 0..3 {
            let col: Vec<f64> = all
                .iter()
                .skip(c)
                .step_by(3)
                .map(|&x| f64::from(x))
                .collect();
            let m = col.iter().sum::<f64>() / 500.0;
            let var = col.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / 499.0;
            assert!(m.abs() < 1e-4, "{m}");
            let want = pca.explained_variance()[c];
            assert!((var / want - 1.0).abs() < 1e-4, "{var} vs {want}");
        }
        // One vector, and into a slice, agree with the batch.
        let one = pca.transform_one(&data[dim..2 * dim]).unwrap();
        assert_eq!(one, &all[3..6]);
        let mut out = vec![0f32; 500 * 3];
        pca.transform_into(&data, &mut out).unwrap();
        assert_eq!(out, all);
        assert!(pca.transform(&[]).unwrap().is_empty());
    }

    #[test]
    fn a_seed_gives_the_same_model_and_seeds_agree() {
        let dim = 20;
        let axes = basis(dim, 6);
        let vars: Vec<f64> = (0..dim).map(|i| 2.0f64.powi(-(i as i32))).collect();
        let data = gaussian(700, &axes, &vars, 1.0, 2);
        let fit = |seed| {
            let params = PcaParams {
                components: 3,
                seed,
                ..PcaParams::default()
            };
            Pca::fit(&data, dim, &params).unwrap()
        };
        let (a, b, c) = (fit(1), fit(1), fit(99));
        assert_eq!(a.components(), b.components());
        assert_eq!(a.explained_variance(), b.explained_variance());
        assert_eq!(a.iterations(), b.iterations());
        // Another seed starts elsewhere but reaches the same, same-signed axes.
        for (x, y) in a.components().iter().zip(c.components()) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
    }

    #[test]
    fn sampling_store_and_slice_agree() {
        let dim = 8;
        let axes = basis(dim, 4);
        let vars = [9.0, 4.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.01];
        let data = gaussian(3000, &axes, &vars, 0.0, 3);
        let all = PcaParams {
            components: 2,
            max_points: 0,
            ..PcaParams::default()
        };
        let from_slice = Pca::fit(&data, dim, &all).unwrap();
        let store = MemoryStore::from_flat(dim, &data).unwrap();
        let from_store = Pca::fit_store(&store, &all).unwrap();
        assert_eq!(from_slice.components(), from_store.components());
        assert_eq!(from_slice.points(), 3000);
        let capped = PcaParams {
            max_points: 1000,
            ..all
        };
        let sampled = Pca::fit(&data, dim, &capped).unwrap();
        assert_eq!(sampled.points(), 1000);
        for i in 0..2 {
            let (x, y) = (
                &sampled.components()[i * dim..(i + 1) * dim],
                &from_slice.components()[i * dim..(i + 1) * dim],
            );
            let cos: f64 = x.iter().zip(y).map(|(&a, &b)| f64::from(a * b)).sum();
            assert!(cos > 0.99, "{cos}");
        }
    }

    #[test]
    fn degenerate_inputs_still_fit() {
        // Two equal points: no variance at all.
        let pair = [1.0, 2.0, 3.0, 1.0, 2.0, 3.0];
        let pca = Pca::fit(&pair, 3, &PcaParams::default()).unwrap();
        assert_eq!(pca.explained_variance(), [0.0, 0.0]);
        assert_eq!(pca.explained_variance_ratio(), [0.0, 0.0]);
        assert_eq!(pca.transform(&[1.0, 2.0, 3.0]).unwrap(), [0.0, 0.0]);
        // More components than points is refused.
        assert!(matches!(
            Pca::fit(&pair[..3], 3, &PcaParams::default()),
            Err(Error::InvalidParameter {
                name: "components",
                ..
            })
        ));
        // Points on a line in 5-d, more components than the rank, and a
        // single dimension.
        let line: Vec<f32> = (0..50)
            .flat_map(|i| [i as f32, 2.0 * i as f32, 0.0, -(i as f32), 1.0])
            .collect();
        let params = PcaParams {
            components: 5,
            ..PcaParams::default()
        };
        let pca = Pca::fit(&line, 5, &params).unwrap();
        let r = pca.explained_variance_ratio();
        assert!(
            (r[0] - 1.0).abs() < 1e-9 && r[1..].iter().all(|&x| x < 1e-9),
            "{r:?}"
        );
        let c = pca.components();
        let gram =
            |i: usize, j: usize| -> f32 { (0..5).map(|t| c[i * 5 + t] * c[j * 5 + t]).sum() };
        for i in 0..5 {
            for j in 0..5 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((gram(i, j) - want).abs() < 1e-5);
            }
        }
        let one_d = Pca::fit(
            &[1.0, 3.0, 5.0],
            1,
            &PcaParams {
                components: 1,
                ..PcaParams::default()
            },
        )
        .unwrap();
        assert_eq!(one_d.components(), [1.0]);
        assert!((one_d.explained_variance()[0] - 4.0).abs() < 1e-5);
        // Huge and tiny values neither overflow nor vanish.
        for s in [1e37f32, 1e-37] {
            let data: Vec<f32> = [1.0, 0.0, -1.0, 0.0, 0.0, 0.5, 0.0, -0.5]
                .iter()
                .map(|x| x * s)
                .collect();
            let p = PcaParams {
                components: 2,
                ..PcaParams::default()
            };
            let pca = Pca::fit(&data, 2, &p).unwrap();
            let c = pca.components();
            assert!((c[0] - 1.0).abs() < 1e-6 && c[1].abs() < 1e-6, "{c:?}");
            assert!(c[2].abs() < 1e-6 && (c[3] - 1.0).abs() < 1e-6, "{c:?}");
            let v = pca.explained_variance();
            let want = 2.0 / 3.0 * f64::from(s) * f64::from(s);
            assert!((v[0] / want - 1.0).abs() < 1e-6 && v[0] > 0.0, "{v:?}");
        }
    }

    #[test]
    fn dependent_rows_are_replaced() {
        let dim = 4;
        let mut rng = SplitMix64::new(1);
        // Two equal rows, a zero row and a combination of the first and the
        // last: the whole space, so the axes fallback may be needed too.
        let mut q = vec![
            1.0, 2.0, 0.0, 0.0, //
            1.0, 2.0, 0.0, 0.0, //
            0.0, 0.0, 0.0, 0.0, //
            0.0, 0.0, 3.0, 0.0,
        ];
        orthonormalize(&mut q, dim, &mut rng);
        for i in 0..dim {
            for j in 0..dim {
                let d = dot64(&q[i * dim..(i + 1) * dim], &q[j * dim..(j + 1) * dim]);
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((d - want).abs() < 1e-12, "({i}, {j}): {d}");
            }
        }
        // The first row keeps its direction.
        let s5 = 5f64.sqrt();
        assert!((q[0] - 1.0 / s5).abs() < 1e-15 && (q[1] - 2.0 / s5).abs() < 1e-15);
    }

    /// A store of `len` vectors of `dim` that never has one resident.
    struct Absent {
        dim: usize,
        len: usize,
    }

    impl FeatureStore for Absent {
        type Elem = f32;

        fn dim(&self) -> usize {
            self.dim
        }

        fn len(&self) -> usize {
            self.len
        }

        fn with_vector<R>(&self, _: u32, _: impl FnOnce(&[f32]) -> R) -> Result<Access<R>> {
            Ok(Access::Missing)
        }
    }

    #[test]
    fn unreadable_or_oversized_stores_are_errors() {
        let p = PcaParams::default();
        let store = Absent { dim: 4, len: 300 };
        assert!(matches!(
            Pca::fit_store(&store, &p),
            Err(Error::NotResident { count: 256 })
        ));
        // No covariance matrix of that size can be allocated (nor its size
        // computed): refused before anything is read.
        #[cfg(target_pointer_width = "64")]
        for dim in [1 << 28, 1 << 33] {
            assert!(matches!(
                Pca::fit_store(&Absent { dim, len: 2 }, &p),
                Err(Error::InvalidParameter { name: "dim", .. })
            ));
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let p = PcaParams::default();
        let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let param = |r: Result<Pca>, want: &str| match r {
            Err(Error::InvalidParameter { name, .. }) => assert_eq!(name, want),
            other => panic!("expected a bad `{want}`, got {other:?}"),
        };
        param(Pca::fit(&[], 3, &p), "data");
        param(Pca::fit(&data, 0, &p), "dim");
        param(Pca::fit(&[], 0, &p), "dim");
        let with = |components| PcaParams { components, ..p };
        param(Pca::fit(&data, 3, &with(0)), "components");
        param(Pca::fit(&data, 3, &with(4)), "components");
        for tolerance in [-1.0, f64::NAN] {
            param(
                Pca::fit(&data, 3, &PcaParams { tolerance, ..p }),
                "tolerance",
            );
        }
        assert!(matches!(
            Pca::fit(&data, 4, &p),
            Err(Error::DimensionMismatch {
                expected: 4,
                got: 2
            })
        ));
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut d = data;
            d[4] = bad;
            assert!(matches!(
                Pca::fit(&d, 3, &p),
                Err(Error::NonFinite { position: 1 })
            ));
        }
        let pca = Pca::fit(&data, 3, &p).unwrap();
        assert!(matches!(
            pca.transform(&data[..4]),
            Err(Error::DimensionMismatch {
                expected: 3,
                got: 1
            })
        ));
        assert!(matches!(
            pca.transform_one(&data),
            Err(Error::DimensionMismatch {
                expected: 3,
                got: 6
            })
        ));
        assert!(matches!(
            pca.transform(&[0.0, f32::NAN, 0.0]),
            Err(Error::NonFinite { position: 1 })
        ));
        assert!(matches!(
            pca.transform_into(&data, &mut [0.0; 3]),
            Err(Error::InvalidParameter { name: "out", .. })
        ));
        // max_iters 0 still runs one iteration.
        let once = Pca::fit(&data, 3, &PcaParams { max_iters: 0, ..p }).unwrap();
        assert_eq!(once.iterations(), 1);
    }
}

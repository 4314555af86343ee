//! Data for the benchmarks.

use vectrove_core::Metric;
use vectrove_core::rng::SplitMix64;

/// Dimension of debian-384, and of the synthetic stand-in.
pub const DIM: usize = 384;

/// The first `n` base vectors of debian-384, or `None` if it is absent.
pub fn debian_base(n: usize) -> Option<Vec<f32>> {
    let dir = vectrove_testkit::debian_dir()?;
    let (dim, base) = vectrove_testkit::read_fvecs(&dir.join("base.fvecs"), n);
    assert_eq!(dim, DIM, "debian-384 has dimension {dim}");
    Some(base)
}

/// `n` vectors of `dim` values uniform in `[-1, 1)`, the same for a seed on
/// every machine.
pub fn generated(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..n * dim)
        .map(|_| (rng.next_f64() * 2.0 - 1.0) as f32)
        .collect()
}

/// Base vectors, queries and exact ground truth for the benchmarks, from
/// debian-384 when present, else synthetic (say which in `source`).
pub struct BenchData {
    /// Where the vectors came from, for the printed report.
    pub source: &'static str,
    /// Dimension.
    pub dim: usize,
    /// Base vectors, back to back.
    pub base: Vec<f32>,
    /// Query vectors, back to back.
    pub queries: Vec<f32>,
    /// The `k` true nearest base rows of every query (cosine).
    pub truth: Vec<Vec<u32>>,
}

impl BenchData {
    /// `n_base` base vectors and `n_queries` queries with their true `k`
    /// nearest neighbours; synthetic data uses `seed`.
    pub fn load_or_generate(n_base: usize, n_queries: usize, k: usize, seed: u64) -> Self {
        if let Some(d) = vectrove_testkit::Debian::load(n_base, n_queries, k) {
            return Self {
                source: "debian-384",
                dim: d.dim,
                base: d.base,
                queries: d.queries,
                truth: d.truth,
            };
        }
        let base = generated(n_base, DIM, seed);
        let queries = generated(n_queries, DIM, seed ^ 0x9E37_79B9);
        let truth = vectrove_testkit::exact_ids(Metric::Cosine, DIM, &base, &queries, k);
        Self {
            source: "generated uniform 384-d",
            dim: DIM,
            base,
            queries,
            truth,
        }
    }

    /// Number of base vectors.
    pub fn n_base(&self) -> usize {
        self.base.len() / self.dim
    }

    /// The queries one by one.
    pub fn queries(&self) -> std::slice::ChunksExact<'_, f32> {
        self.queries.chunks_exact(self.dim)
    }
}

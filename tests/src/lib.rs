//! Shared helpers of the integration tests: the real data set, readers for
//! the texmex formats, exact ground truth and recall.

use std::path::PathBuf;

/// Where the debian-384 data set lives: `$VECTROVE_DATA`, else
/// `../shared/data/debian-384` beside the repository.
///
/// Returns `None` (after printing why) when it is absent, so a fresh clone
/// skips the real-data tests visibly. With `VECTROVE_REQUIRE_DATA=1` (CI) a
/// missing data set is a failure instead.
pub fn debian_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("VECTROVE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/debian-384")
        });
    if dir.join("base.fvecs").is_file() {
        return Some(dir);
    }
    let msg = format!(
        "debian-384 data not found at {} (set VECTROVE_DATA to its folder)",
        dir.display()
    );
    if std::env::var("VECTROVE_REQUIRE_DATA").is_ok_and(|v| v == "1") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// Read up to `limit` vectors of a `.fvecs` file: (dimension, flat values).
pub fn read_fvecs(path: &std::path::Path, limit: usize) -> (usize, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dim = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
    let rec = 4 + 4 * dim;
    let n = (bytes.len() / rec).min(limit);
    let mut out = Vec::with_capacity(n * dim);
    for r in bytes.chunks_exact(rec).take(n) {
        out.extend(
            r[4..]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap())),
        );
    }
    (dim, out)
}

/// Read up to `limit` rows of a `.ivecs` file.
pub fn read_ivecs(path: &std::path::Path, limit: usize) -> Vec<Vec<u32>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dim = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
    bytes
        .chunks_exact(4 + 4 * dim)
        .take(limit)
        .map(|r| {
            r[4..]
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                .collect()
        })
        .collect()
}

/// The debian-384 data: base vectors, queries, and ground truth for the
/// requested base prefix (the shipped file when the whole base is used, an
/// exact brute-force computation otherwise).
pub struct Debian {
    /// Dimension (384).
    pub dim: usize,
    /// Base vectors, back to back.
    pub base: Vec<f32>,
    /// Query vectors, back to back.
    pub queries: Vec<f32>,
    /// For each query, the ids of its nearest base vectors, nearest first.
    pub truth: Vec<Vec<u32>>,
}

impl Debian {
    /// Load `n_base` base vectors and `n_queries` queries, with the `k` true
    /// nearest neighbours of each query; `None` if the data is absent.
    pub fn load(n_base: usize, n_queries: usize, k: usize) -> Option<Self> {
        let dir = debian_dir()?;
        let (dim, base) = read_fvecs(&dir.join("base.fvecs"), n_base);
        let (_, queries) = read_fvecs(&dir.join("queries.fvecs"), n_queries);
        let truth = if base.len() / dim >= 50_000 {
            read_ivecs(&dir.join("groundtruth.ivecs"), n_queries)
                .into_iter()
                .map(|mut r| {
                    r.truncate(k);
                    r
                })
                .collect()
        } else {
            exact_knn(dim, &base, &queries, k)
        };
        Some(Self {
            dim,
            base,
            queries,
            truth,
        })
    }

    /// Number of base vectors.
    pub fn n_base(&self) -> usize {
        self.base.len() / self.dim
    }

    /// Query `i`.
    pub fn query(&self, i: usize) -> &[f32] {
        &self.queries[i * self.dim..(i + 1) * self.dim]
    }
}

/// Exact `k` nearest neighbours by cosine distance, by brute force.
pub fn exact_knn(dim: usize, base: &[f32], queries: &[f32], k: usize) -> Vec<Vec<u32>> {
    vectrove_core::exact_knn(vectrove_core::Metric::Cosine, dim, base, queries, k)
        .expect("finite vectors of one dimension")
        .into_iter()
        .map(|r| r.into_iter().map(|(i, _)| i).collect())
        .collect()
}

/// Mean recall@k: the share of each query's true top-k found in its results.
pub fn recall(results: &[Vec<u64>], truth: &[Vec<u32>], k: usize) -> f64 {
    let mut hit = 0usize;
    for (r, t) in results.iter().zip(truth) {
        let t = &t[..k.min(t.len())];
        hit += r
            .iter()
            .take(k)
            .filter(|id| t.contains(&(**id as u32)))
            .count();
    }
    hit as f64 / (k * truth.len()) as f64
}

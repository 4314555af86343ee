//! The debian-384 data set: 384-d sentence embeddings of Debian package
//! descriptions (50,000 base vectors, 1,000 queries, exact ground truth).

use std::path::PathBuf;

use vectrove_core::Metric;

use crate::{exact_ids, read_fvecs, read_ivecs};

/// Where the debian-384 data set lives: `$VECTROVE_DATA`, else
/// `../shared/data/debian-384` beside the repository.
///
/// Returns `None` (after printing a `SKIPPED:` line saying why) when it is
/// absent, so a fresh clone skips the real-data tests visibly. With
/// `VECTROVE_REQUIRE_DATA=1` (CI) a missing data set is a failure instead.
pub fn debian_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("VECTROVE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // The kit sits at `tests/kit`; spelled from `tests` so the path
            // printed below reads as it always has.
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("the kit sits in the tests folder")
                .join("../../shared/data/debian-384")
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
    /// For each query, the ids (base rows) of its nearest base vectors by
    /// cosine distance, nearest first.
    pub truth: Vec<Vec<u32>>,
}

impl Debian {
    /// Load `n_base` base vectors and `n_queries` queries, with the `k` true
    /// nearest neighbours of each query; `None` if the data is absent (see
    /// [`debian_dir`]).
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
            exact_ids(Metric::Cosine, dim, &base, &queries, k)
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

    /// Number of queries.
    pub fn n_queries(&self) -> usize {
        self.queries.len() / self.dim
    }

    /// Query `i`.
    pub fn query(&self, i: usize) -> &[f32] {
        &self.queries[i * self.dim..(i + 1) * self.dim]
    }
}

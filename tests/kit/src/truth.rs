//! Ground truth and recall, through the core's one implementation of each
//! ([`vectrove_core::exact_knn`], [`vectrove_core::recall_at_k`]).

use vectrove_core::{Element, FeatureStore, Hnsw, Metric, Neighbor, exact_knn, recall_at_k};

/// The exact `k` nearest base rows of every query, nearest first (ties by
/// the lower row), as ids: row `i` of `base` is id `i`.
///
/// # Panics
///
/// On input [`exact_knn`] refuses (a length that is not a multiple of
/// `dim`, a non-finite value, a zero vector under cosine).
pub fn exact_ids<T: Element>(
    metric: Metric,
    dim: usize,
    base: &[T],
    queries: &[T],
    k: usize,
) -> Vec<Vec<u32>> {
    exact_knn(metric, dim, base, queries, k)
        .expect("finite vectors of one dimension")
        .into_iter()
        .map(|row| row.into_iter().map(|(id, _)| id).collect())
        .collect()
}

/// The ids of a result list, in its order.
pub fn ids(hits: &[Neighbor]) -> Vec<u64> {
    hits.iter().map(|n| n.id).collect()
}

/// Mean recall@k of one result list per query against `truth` (see
/// [`recall_at_k`]).
pub fn recall(results: &[Vec<Neighbor>], truth: &[Vec<u32>], k: usize) -> f64 {
    let found: Vec<Vec<u64>> = results.iter().map(|r| ids(r)).collect();
    recall_at_k(&found, truth, k)
}

/// The ids of the `k` nearest found by `index.search` at beam width `ef`,
/// for every query of `queries` (back to back).
///
/// # Panics
///
/// If a search fails (a query of the wrong dimension, a store that cannot
/// serve a vector).
pub fn search_ids<S: FeatureStore>(
    index: &Hnsw<S>,
    queries: &[S::Elem],
    k: usize,
    ef: usize,
) -> Vec<Vec<u64>> {
    queries
        .chunks_exact(index.dim())
        .map(|q| ids(&index.search(q, k, ef).expect("valid query")))
        .collect()
}

/// Mean recall@k of `index` searched at beam width `ef` for `queries`,
/// against `truth` (for instance from [`exact_ids`]).
pub fn hnsw_recall<S: FeatureStore>(
    index: &Hnsw<S>,
    queries: &[S::Elem],
    truth: &[Vec<u32>],
    k: usize,
    ef: usize,
) -> f64 {
    recall_at_k(&search_ids(index, queries, k, ef), truth, k)
}

/// Which slots of `index` its entry point reaches over level-0 edges: the
/// graph's first promise, that no node is lost.
pub fn reachable<S: FeatureStore>(index: &Hnsw<S>) -> Vec<bool> {
    let n = index.slot_count();
    let mut seen = vec![false; n];
    let Some(entry) = index.entry_point() else {
        return seen;
    };
    let mut stack = vec![entry];
    seen[entry as usize] = true;
    while let Some(s) = stack.pop() {
        for &nb in index.neighbors(s, 0).unwrap_or(&[]) {
            if !seen[nb as usize] {
                seen[nb as usize] = true;
                stack.push(nb);
            }
        }
    }
    seen
}

//! The one HNSW search, written as an explicit, resumable state.
//!
//! A search is a sequence of expansion steps: take a node, gather its
//! unvisited neighbours, compute their distances, update the candidate and
//! result heaps. If the store cannot produce some of a step's vectors, the
//! step stops with those slots in [`SearchState::missing`]; the caller fetches
//! them all at once and calls [`Hnsw::resume`] again, which finishes the same
//! step. The synchronous driver ([`Hnsw::search`]) never sees a miss with an
//! in-memory or blocking store; the asynchronous driver
//! ([`Hnsw::search_async`]) awaits one batched fetch per incomplete step.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;

use super::Hnsw;
use super::visited::Visited;
use crate::distance::{Dist, DistanceFn, Element, Metric, RowsDistanceFn};
use crate::error::{Error, Result};
use crate::index::SearchParams;
use crate::neighbor::Neighbor;
use crate::quant::{CodeQuery, Codes};
use crate::store::FeatureStore;

/// A candidate: distance first, then slot, so ties order the same everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Cand {
    pub(crate) dist: Dist,
    pub(crate) node: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Distance to the entry point.
    Entry,
    /// Greedy descent (one closest node) on the levels above `layer_level`.
    Greedy,
    /// Beam search with `ef` on `level == layer_level`.
    Layer,
    /// Exact distances for the best candidates found on codes.
    Rerank,
    /// Finished.
    Done,
}

/// What [`Hnsw::resume`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Step {
    /// The search is complete; take the results with [`Hnsw::finish_search`].
    Done,
    /// The store lacks the vectors in [`SearchState::missing`]; fetch them
    /// all, then resume.
    Missing,
}

/// Counters of one search.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Nodes whose neighbour lists were expanded.
    pub expansions: u32,
    /// Distances computed.
    pub distances: u32,
    /// Times the search stopped for missing vectors.
    pub misses: u32,
}

/// A search in progress: candidate heap, result heap, visited set and the
/// step it is in. Create it with [`Hnsw::start_search`].
#[derive(Debug)]
pub struct SearchState<T: Element> {
    query: Vec<T>,
    k: usize,
    ef: usize,
    level: usize,
    layer_level: usize,
    stage: Stage,
    cur: Cand,
    candidates: BinaryHeap<Reverse<Cand>>,
    results: BinaryHeap<Cand>,
    visited: Visited,
    /// The slots of the current step, and their distances once known
    /// (NaN until then).
    pending: Vec<u32>,
    dists: Vec<f32>,
    /// Scratch: the pending slots still to be read.
    need: Vec<u32>,
    missing: Vec<u32>,
    retrying: bool,
    stats: SearchStats,
    /// The query prepared for codes, when the search traverses on them.
    code_query: Option<CodeQuery>,
    /// Candidates reranked with exact distances after a search on codes.
    rerank: usize,
}

impl<T: Element> SearchState<T> {
    pub(crate) fn new(query: Vec<T>, k: usize, ef: usize, visited: Visited) -> Self {
        Self {
            query,
            k,
            ef: ef.max(k).max(1),
            level: 0,
            layer_level: 0,
            stage: Stage::Done,
            cur: Cand {
                dist: Dist(f32::INFINITY),
                node: 0,
            },
            candidates: BinaryHeap::new(),
            results: BinaryHeap::new(),
            visited,
            pending: Vec::new(),
            dists: Vec::new(),
            need: Vec::new(),
            missing: Vec::new(),
            retrying: false,
            stats: SearchStats::default(),
            code_query: None,
            rerank: 0,
        }
    }

    /// Traverse on codes with `query`, then rerank the best `rerank`
    /// candidates (at least `k`) exactly.
    pub(crate) fn on_codes(&mut self, query: CodeQuery, rerank: usize) {
        self.code_query = Some(query);
        self.rerank = rerank.max(self.k);
    }

    /// The beam search of the bottom layer is over: rerank, or stop.
    fn end_layer(&mut self) {
        if self.code_query.is_none() || self.layer_level > 0 {
            self.stage = Stage::Done;
            return;
        }
        let mut best = std::mem::take(&mut self.results).into_vec();
        best.sort_unstable();
        best.truncate(self.rerank);
        self.clear_step();
        self.pending.extend(best.iter().map(|c| c.node));
        self.results = BinaryHeap::from(best);
        self.stage = Stage::Rerank;
    }

    /// Begin at `entry` on `top`, descending greedily to `layer_level`.
    pub(crate) fn begin(&mut self, entry: u32, top: usize, layer_level: usize, n: usize) {
        self.level = top;
        self.layer_level = layer_level.min(top);
        self.visited.reset(n);
        self.candidates.clear();
        self.results.clear();
        self.clear_step();
        self.pending.push(entry);
        self.stage = Stage::Entry;
    }

    /// The slots the current step lacks (after [`Step::Missing`]).
    pub fn missing(&self) -> &[u32] {
        &self.missing
    }

    /// Counters so far.
    pub fn stats(&self) -> SearchStats {
        self.stats
    }

    /// The level the search is on now (0 once it reaches the bottom layer).
    pub fn level(&self) -> usize {
        self.level
    }

    /// Up to `n` nodes the search is likely to expand next: its best
    /// unexpanded candidates, nearest first. An asynchronous driver can
    /// fetch their neighbours' vectors along with a step's missing ones, so
    /// that the next steps find them resident.
    pub fn upcoming(&self, n: usize) -> Vec<u32> {
        let mut best: Vec<Cand> = Vec::with_capacity(n.min(self.candidates.len()) + 1);
        for &Reverse(c) in self.candidates.iter() {
            if best.len() < n || best.last().is_some_and(|w| c < *w) {
                let at = best.partition_point(|b| *b < c);
                best.insert(at, c);
                best.truncate(n);
            }
        }
        best.into_iter().map(|c| c.node).collect()
    }

    /// The results of the finished layer, nearest first.
    pub(crate) fn layer_results(&self) -> Vec<Cand> {
        let mut r = self.results.clone().into_vec();
        r.sort_unstable();
        r
    }

    /// Continue from the finished layer's results to a beam search one level down.
    pub(crate) fn next_layer(&mut self, n: usize) {
        debug_assert!(self.stage == Stage::Done && self.layer_level > 0);
        self.layer_level -= 1;
        self.level = self.layer_level;
        self.visited.reset(n);
        self.candidates.clear();
        for c in self.results.iter() {
            self.visited.insert(c.node);
            self.candidates.push(Reverse(*c));
        }
        self.stage = Stage::Layer;
    }

    pub(crate) fn into_parts(self) -> (Vec<Cand>, Visited) {
        let mut r = self.results.into_vec();
        r.sort_unstable();
        r.truncate(self.k);
        (r, self.visited)
    }

    fn worst(&self) -> Option<Dist> {
        if self.results.len() >= self.ef {
            self.results.peek().map(|c| c.dist)
        } else {
            None
        }
    }

    /// Compute the distances of the pending slots the store can provide.
    /// Returns false if some are missing (listed in `self.missing`).
    fn evaluate<S: FeatureStore<Elem = T>>(
        &mut self,
        store: &S,
        dist: DistanceFn<T>,
        rows_dist: Option<RowsDistanceFn<T>>,
        codes: Option<&Codes>,
    ) -> Result<bool> {
        self.missing.clear();
        if let (Some(codes), Some(cq)) = (codes, &self.code_query)
            && self.stage != Stage::Rerank
        {
            // Codes are resident: never a miss.
            codes.distances(cq, &self.pending, &mut self.dists);
            self.stats.distances += self.pending.len() as u32;
            return Ok(true);
        }
        let q = &self.query[..];
        if let Some(rows_dist) = rows_dist
            && let Some(rows) = store.rows()
        {
            // Every vector is resident: one kernel call for the whole step.
            // A step is evaluated in one go here, so nothing is computed yet.
            if let Some(&slot) = self.pending.iter().find(|&&s| s as usize >= rows.len()) {
                return Err(Error::SlotOutOfRange {
                    slot,
                    len: rows.len(),
                });
            }
            self.dists.resize(self.pending.len(), 0.0);
            rows_dist(q, rows, &self.pending, &mut self.dists);
            // A stored vector that was never checked may hold a NaN (a
            // mapped file): it ranks after every other.
            for d in &mut self.dists {
                if d.is_nan() {
                    *d = f32::INFINITY;
                }
            }
            self.stats.distances += self.pending.len() as u32;
            self.retrying = false;
            return Ok(true);
        }
        // The slots still without a distance (NaN marks one), in order.
        self.dists.resize(self.pending.len(), f32::NAN);
        self.need.clear();
        self.need.extend(
            self.pending
                .iter()
                .zip(&self.dists)
                .filter(|(_, d)| d.is_nan())
                .map(|(&s, _)| s),
        );
        let mut computed = 0u32;
        let (pending, dists) = (&self.pending, &mut self.dists);
        let mut at = 0;
        store.with_vectors(
            &self.need,
            |slot, v| {
                // Resident slots come in order: find this one's place.
                while at < pending.len() && (pending[at] != slot || !dists[at].is_nan()) {
                    at += 1;
                }
                if let Some(d) = dists.get_mut(at) {
                    let x = dist(q, v);
                    *d = if x.is_nan() { f32::INFINITY } else { x };
                    computed += 1;
                }
            },
            &mut self.missing,
        )?;
        self.stats.distances += computed;
        if self.missing.is_empty() {
            self.retrying = false;
            return Ok(true);
        }
        if self.retrying && computed == 0 {
            return Err(Error::FetchIncomplete {
                count: self.missing.len(),
            });
        }
        self.retrying = true;
        self.stats.misses += 1;
        Ok(false)
    }

    /// Forget the step just finished.
    fn clear_step(&mut self) {
        self.pending.clear();
        self.dists.clear();
    }

    fn start_layer(&mut self, accept: &impl Fn(u32) -> bool) {
        self.level = self.layer_level;
        self.visited.insert(self.cur.node);
        self.candidates.push(Reverse(self.cur));
        if accept(self.cur.node) {
            self.results.push(self.cur);
        }
        self.stage = Stage::Layer;
    }

    /// Run until done or until a step lacks vectors.
    pub(crate) fn advance<S: FeatureStore<Elem = T>>(
        &mut self,
        index: &Hnsw<S>,
        accept: &impl Fn(u32) -> bool,
    ) -> Result<Step> {
        let walk = Walk {
            graph: &index.graph,
            store: &index.points.store,
            dist: index.dist,
            metric: index.points.metric,
            codes: index.points.codes(),
        };
        self.advance_in(&walk, accept)
    }

    /// [`advance`](Self::advance) over any graph and store.
    pub(crate) fn advance_in<S: FeatureStore<Elem = T>, G: Links>(
        &mut self,
        walk: &Walk<'_, G, S>,
        accept: &impl Fn(u32) -> bool,
    ) -> Result<Step> {
        let (graph, store, dist) = (walk.graph, walk.store, walk.dist);
        // A search on codes needs them all; without, it goes exact.
        let codes = walk.codes.filter(|_| self.code_query.is_some());
        if codes.is_none() {
            self.code_query = None;
        }
        // Stores read in place prefetch in the distance kernel; others get
        // the hint per step (but for a search on codes, which reads the
        // store only to rerank).
        let rows_dist = match crate::simd::ROWS_IN_PLACE && store.rows().is_some() {
            true => Some(T::rows_distance_fn(walk.metric)?),
            false => None,
        };
        let hint = rows_dist.is_none() && codes.is_none();
        loop {
            match self.stage {
                Stage::Done => return Ok(Step::Done),
                Stage::Rerank => {
                    if !self.evaluate(store, dist, rows_dist, None)? {
                        return Ok(Step::Missing);
                    }
                    self.results.clear();
                    for (&node, &d) in self.pending.iter().zip(&self.dists) {
                        self.results.push(Cand {
                            dist: Dist(d),
                            node,
                        });
                    }
                    self.clear_step();
                    self.stage = Stage::Done;
                }
                Stage::Entry => {
                    if !self.evaluate(store, dist, rows_dist, codes)? {
                        return Ok(Step::Missing);
                    }
                    let node = self.pending[0];
                    let d = self.dists[0];
                    self.clear_step();
                    self.cur = Cand {
                        dist: Dist(d),
                        node,
                    };
                    if self.level > self.layer_level {
                        self.stage = Stage::Greedy;
                    } else {
                        self.start_layer(accept);
                    }
                }
                Stage::Greedy => {
                    if self.pending.is_empty() {
                        let pending = &mut self.pending;
                        graph.each_neighbor(self.cur.node, self.level, |nb| pending.push(nb));
                        if hint {
                            store.prefetch(&self.pending);
                        }
                        self.stats.expansions += 1;
                    }
                    if !self.evaluate(store, dist, rows_dist, codes)? {
                        return Ok(Step::Missing);
                    }
                    let mut changed = false;
                    for (&node, &d) in self.pending.iter().zip(&self.dists) {
                        let dist = Dist(d);
                        if dist < self.cur.dist {
                            self.cur = Cand { dist, node };
                            changed = true;
                        }
                    }
                    self.clear_step();
                    if !changed {
                        self.level -= 1;
                        if self.level == self.layer_level {
                            self.start_layer(accept);
                        }
                    }
                }
                Stage::Layer => {
                    if self.pending.is_empty() {
                        let Some(Reverse(c)) = self.candidates.pop() else {
                            self.end_layer();
                            continue;
                        };
                        if self.worst().is_some_and(|w| c.dist > w) {
                            self.end_layer();
                            continue;
                        }
                        // The next expansion's list loads while this step computes.
                        if let Some(Reverse(next)) = self.candidates.peek() {
                            if crate::simd::PREFETCH {
                                graph.prefetch_list(next.node);
                            } else {
                                let mut sum = 0u32;
                                graph.each_neighbor(next.node, self.level, |nb| sum ^= nb);
                                std::hint::black_box(sum);
                            }
                        }
                        let (pending, visited) = (&mut self.pending, &mut self.visited);
                        graph.each_neighbor(c.node, self.level, |nb| {
                            if visited.insert(nb) {
                                pending.push(nb);
                            }
                        });
                        if self.pending.is_empty() {
                            continue;
                        }
                        self.stats.expansions += 1;
                        if hint {
                            store.prefetch(&self.pending);
                        }
                    }
                    if !self.evaluate(store, dist, rows_dist, codes)? {
                        return Ok(Step::Missing);
                    }
                    for i in 0..self.pending.len() {
                        let (node, dist) = (self.pending[i], Dist(self.dists[i]));
                        if self.worst().is_none_or(|w| dist < w) {
                            let c = Cand { dist, node };
                            // Where its list is will be wanted if it is expanded.
                            graph.prefetch(node);
                            self.candidates.push(Reverse(c));
                            if accept(node) {
                                self.results.push(c);
                                if self.results.len() > self.ef {
                                    self.results.pop();
                                }
                            }
                        }
                    }
                    self.clear_step();
                }
            }
        }
    }
}

/// Replace the distances of `found` with exact ones from `query` to the
/// vectors of `store`, nearest first again: a build that searched on codes
/// chooses its links on these.
pub(crate) fn remeasure<S: FeatureStore>(
    store: &S,
    dist: DistanceFn<S::Elem>,
    query: &[S::Elem],
    found: &mut [Cand],
) -> Result<()> {
    for c in found.iter_mut() {
        match store.with_vector(c.node, |v| dist(query, v))? {
            crate::store::Access::Ready(d) => c.dist = Dist(d),
            crate::store::Access::Missing => return Err(Error::NotResident { count: 1 }),
        }
    }
    found.sort_unstable();
    Ok(())
}

/// Where a search walks: the neighbour lists, the vectors and how to
/// compare them.
pub(crate) struct Walk<'a, G, S: FeatureStore> {
    pub(crate) graph: &'a G,
    pub(crate) store: &'a S,
    pub(crate) dist: DistanceFn<S::Elem>,
    pub(crate) metric: Metric,
    /// The codes to traverse on, for a search started on them.
    pub(crate) codes: Option<&'a Codes>,
}

/// Neighbour lists a search can walk: the index's own graph, or the one
/// that concurrent inserts change while searches read it.
pub(crate) trait Links {
    /// Call `f` on every neighbour of `node` at `level` (none if the node
    /// lacks the level).
    fn each_neighbor(&self, node: u32, level: usize, f: impl FnMut(u32));

    /// A hint that the lists of `node` will be read soon.
    fn prefetch(&self, _node: u32) {}

    /// A hint that the level-0 list of `node` will be read next.
    fn prefetch_list(&self, node: u32) {
        self.prefetch(node);
    }
}

impl Links for super::Graph {
    #[inline]
    fn each_neighbor(&self, node: u32, level: usize, f: impl FnMut(u32)) {
        self.neighbors(node, level).iter().copied().for_each(f);
    }

    #[inline]
    fn prefetch(&self, node: u32) {
        super::Graph::prefetch(self, node);
    }

    #[inline]
    fn prefetch_list(&self, node: u32) {
        super::Graph::prefetch_list(self, node);
    }
}

/// Fetches vectors for an asynchronous store: called with every slot one
/// search step lacks, it loads them (in one transaction, one batch of reads)
/// so that the store has them when the search resumes.
pub trait Fetcher {
    /// Make `slots` resident in the store.
    fn fetch(&mut self, slots: &[u32]) -> impl Future<Output = Result<()>>;
}

impl<S: FeatureStore> Hnsw<S> {
    /// Start a resumable search for the `k` nearest neighbours of `query`
    /// with beam width `ef`. Drive it with [`resume`](Self::resume), or use
    /// [`search`](Self::search) / [`search_async`](Self::search_async) which do.
    pub fn start_search(
        &self,
        query: &[S::Elem],
        k: usize,
        ef: usize,
    ) -> Result<SearchState<S::Elem>> {
        let params = SearchParams {
            ef,
            ..SearchParams::default()
        };
        self.start_search_with(query, k, &params)
    }

    /// [`start_search`](Self::start_search) with every knob: `params.ef`,
    /// and `params.rerank` for an index with codes.
    pub fn start_search_with(
        &self,
        query: &[S::Elem],
        k: usize,
        params: &SearchParams,
    ) -> Result<SearchState<S::Elem>> {
        let q = self.points.prepare(query)?;
        let codes = self.points.codes();
        let code_query = codes.and_then(|c| S::Elem::as_f32(&q).map(|q| c.query(q)));
        let mut state = SearchState::new(q, k, params.ef, self.take_visited());
        if let Some(cq) = code_query {
            state.on_codes(cq, params.rerank_for(k));
        }
        if let Some(entry) = self.entry {
            state.begin(entry, self.max_level, 0, self.graph.len());
        }
        Ok(state)
    }

    /// Advance `state` until it is done or a step lacks vectors. `filter`
    /// sees user ids; only ids it accepts are returned, but every node is
    /// still used to navigate. Deleted ids are never returned.
    pub fn resume(
        &self,
        state: &mut SearchState<S::Elem>,
        filter: impl Fn(u64) -> bool,
    ) -> Result<Step> {
        let accept = |node: u32| !self.is_deleted(node) && filter(self.points.id(node));
        state.advance(self, &accept)
    }

    /// The results of a finished search, nearest first, and its scratch
    /// memory returned to the index.
    pub fn finish_search(&self, state: SearchState<S::Elem>) -> Vec<Neighbor> {
        let (results, visited) = state.into_parts();
        self.return_visited(visited);
        results
            .into_iter()
            .map(|c| Neighbor {
                id: self.points.id(c.node),
                distance: c.dist.0,
            })
            .collect()
    }

    /// The `k` nearest neighbours of `query`, nearest first, searching with
    /// beam width `ef` (raised to `k` if smaller). Returns fewer than `k` when
    /// the index holds fewer; an empty index gives an empty list.
    pub fn search(&self, query: &[S::Elem], k: usize, ef: usize) -> Result<Vec<Neighbor>> {
        self.search_filtered(query, k, ef, |_| true)
    }

    /// Like [`search`](Self::search), returning only ids that `filter` accepts.
    pub fn search_filtered(
        &self,
        query: &[S::Elem],
        k: usize,
        ef: usize,
        filter: impl Fn(u64) -> bool,
    ) -> Result<Vec<Neighbor>> {
        let params = SearchParams {
            ef,
            ..SearchParams::default()
        };
        self.search_with(query, k, &params, filter)
    }

    /// [`search_filtered`](Self::search_filtered) with every knob of
    /// [`SearchParams`] (`ef`, and `rerank` for an index with codes).
    pub fn search_with(
        &self,
        query: &[S::Elem],
        k: usize,
        params: &SearchParams,
        filter: impl Fn(u64) -> bool,
    ) -> Result<Vec<Neighbor>> {
        let mut state = self.start_search_with(query, k, params)?;
        match self.resume(&mut state, filter)? {
            Step::Done => Ok(self.finish_search(state)),
            Step::Missing => Err(Error::NotResident {
                count: state.missing().len(),
            }),
        }
    }

    /// The search for stores that load asynchronously: whenever a step lacks
    /// vectors, awaits one `fetcher.fetch` of all of them, then resumes the
    /// same search. Returns the results and the number of fetches.
    pub async fn search_async<F: Fetcher>(
        &self,
        query: &[S::Elem],
        k: usize,
        ef: usize,
        filter: impl Fn(u64) -> bool,
        fetcher: &mut F,
    ) -> Result<(Vec<Neighbor>, SearchStats)> {
        let mut state = self.start_search(query, k, ef)?;
        while let Step::Missing = self.resume(&mut state, &filter)? {
            fetcher.fetch(state.missing()).await?;
        }
        let stats = state.stats();
        Ok((self.finish_search(state), stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Candidates order by distance (`f32::total_cmp`), then slot.
    #[test]
    fn cand_order_is_total_cmp_then_slot() {
        let ds = [
            f32::NEG_INFINITY,
            -3.5,
            -1.0,
            -f32::MIN_POSITIVE,
            -0.0,
            0.0,
            f32::MIN_POSITIVE,
            1.0,
            2.0,
            f32::INFINITY,
            f32::NAN,
            -f32::NAN,
        ];
        for &a in &ds {
            for &b in &ds {
                for (x, y) in [(0u32, 0u32), (0, 1), (1, 0), (7, u32::MAX)] {
                    let (p, q) = (
                        Cand {
                            dist: Dist(a),
                            node: x,
                        },
                        Cand {
                            dist: Dist(b),
                            node: y,
                        },
                    );
                    let want = a.total_cmp(&b).then(x.cmp(&y));
                    assert_eq!(p.cmp(&q), want, "{a} {x} vs {b} {y}");
                }
            }
        }
    }
}

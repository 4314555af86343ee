//! Multi-threaded construction (feature `parallel`).
//!
//! Points go in in batches. Each point of a batch searches the graph as it
//! stood before the batch (in parallel, the graph frozen) and also considers
//! the other points of its batch, so no link a serial build would make is out
//! of reach. Its neighbours are chosen with the same heuristic; then the
//! reverse links are grouped by the node that receives them and every such
//! node's list is updated in parallel. The batches are cut by the index size
//! alone, and every parallel step collects its results in input order, so the
//! graph depends on the seed and the data but not on the number of threads.
//!
//! Batches grow with the index (a fiftieth of it, at most [`MAX_BATCH`]), so a
//! point never misses more than a small fraction of the graph while it is
//! being linked. The first [`SERIAL_PREFIX`] points go in one at a time.

use rayon::prelude::*;

use super::search::{Cand, remeasure};
use super::{Hnsw, NO_PARENT};
use crate::distance::Dist;
use crate::error::{Error, Result};
use crate::points::LinkCodes;
use crate::quant::Codes;
use crate::store::FeatureStoreMut;

/// Points inserted serially before batches start.
const SERIAL_PREFIX: usize = 512;

/// Largest batch.
const MAX_BATCH: usize = 1024;

/// What the parallel planning of one batch point produced.
struct Planned {
    /// Chosen neighbours per level, nearest first.
    own: Vec<Vec<Cand>>,
    /// Nearest nodes found on level 0 (for adoption).
    found0: Vec<u32>,
}

impl<S> Hnsw<S>
where
    S: FeatureStoreMut + Sync,
{
    /// Insert many points using all of rayon's threads. The result does not
    /// depend on the thread count (it differs from [`insert_many`](Self::insert_many)'s
    /// graph, but is as good); run it inside a `rayon::ThreadPool::install`
    /// to choose the threads. Input is checked as by `insert_many`; a store
    /// failing midway leaves the points before the failing batch inserted.
    pub fn insert_many_parallel(&mut self, ids: &[u64], vectors: &[S::Elem]) -> Result<()> {
        self.insert_many_parallel_with(ids, vectors, &|_| {})
    }

    /// [`insert_many_parallel`](Self::insert_many_parallel), calling
    /// `progress` with the number of points linked so far after every
    /// batch.
    pub fn insert_many_parallel_with(
        &mut self,
        ids: &[u64],
        vectors: &[S::Elem],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<()> {
        let r = self.insert_batches(ids, vectors, progress);
        self.sync_codes();
        r
    }

    /// The codes a multi-threaded build traverses on, if the index builds
    /// on codes: `fresh` of its points already stored after the graph's
    /// nodes, then those of `batch`, stored as it goes.
    pub(super) fn link_codes<'b>(
        &mut self,
        fresh: usize,
        batch: impl IntoIterator<Item = &'b [S::Elem]> + Clone,
    ) -> LinkCodes
    where
        S::Elem: 'b,
    {
        match self.build_on_codes {
            true => self
                .points
                .link_codes(self.graph.len() + fresh, fresh, batch),
            false => LinkCodes::Exact,
        }
    }

    fn insert_batches(
        &mut self,
        ids: &[u64],
        vectors: &[S::Elem],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<()> {
        let prepared = self.prepare_batch(ids, vectors)?;
        self.points.store.reserve(ids.len());
        self.graph.reserve(ids.len());
        let mut link = self.link_codes(0, prepared.iter().map(Vec::as_slice));
        let mut prepared = prepared.into_iter();
        let mut i = 0;
        while i < ids.len() {
            let len = self.graph.len();
            if len < SERIAL_PREFIX {
                let v = prepared.next().unwrap_or_default();
                self.insert_prepared(ids[i], v, &mut link)?;
                i += 1;
                continue;
            }
            let b = (len / 50).clamp(16, MAX_BATCH).min(ids.len() - i);
            let batch: Vec<Vec<S::Elem>> = prepared.by_ref().take(b).collect();
            self.insert_batch(&ids[i..i + b], &batch, &mut link)?;
            i += b;
            progress(i);
        }
        Ok(())
    }

    fn insert_batch(
        &mut self,
        ids: &[u64],
        vecs: &[Vec<S::Elem>],
        link: &mut LinkCodes,
    ) -> Result<()> {
        let base = self.graph.len();
        if base + vecs.len() >= u32::MAX as usize {
            return Err(Error::StoreFull {
                reason: "the index holds 2^32 - 1 points".into(),
            });
        }
        let rng = self.rng.clone();
        let levels: Vec<usize> = vecs.iter().map(|_| self.random_level()).collect();
        let upper: usize = levels.iter().map(|&l| l * (1 + self.params.m)).sum();
        if !self.graph.can_push(upper / (1 + self.params.m)) {
            self.rng = rng;
            return Err(Error::StoreFull {
                reason: "the upper levels of the graph are full".into(),
            });
        }
        let undo = |this: &mut Self, e: Error| {
            let _ = this.points.store.truncate(base);
            this.rng = rng.clone();
            Err(e)
        };
        if let Err(e) = self.push_vectors(base, vecs.iter().map(Vec::as_slice)) {
            return undo(self, e);
        }
        for v in vecs {
            self.points.push_link_code(link, v);
        }
        let codes = self.points.link_codes_ref(link, base + vecs.len());
        match self.plan_batch(base, &levels, vecs, codes) {
            Ok((planned, updates)) => {
                self.apply_batch(base, &levels, planned, updates);
                for &id in ids {
                    self.points.record(id);
                }
                Ok(())
            }
            Err(e) => {
                self.points.truncate_link_codes(link, base);
                undo(self, e)
            }
        }
    }

    /// Everything a batch will write, computed from the frozen graph.
    #[allow(clippy::type_complexity)]
    fn plan_batch(
        &self,
        base: usize,
        levels: &[usize],
        vecs: &[Vec<S::Elem>],
        codes: Option<&Codes>,
    ) -> Result<(Vec<Planned>, Vec<(u32, usize, Vec<u32>)>)> {
        let slot = |k: usize| (base + k) as u32;
        let planned: Vec<Planned> = (0..vecs.len())
            .into_par_iter()
            .map(|k| self.plan_point(base, k, levels, vecs, codes))
            .collect::<Result<_>>()?;

        // Reverse links, grouped by the node and level that receive them.
        let mut edges: Vec<(u32, usize, Cand)> = Vec::new();
        for (k, p) in planned.iter().enumerate() {
            for (l, sel) in p.own.iter().enumerate() {
                for c in sel {
                    edges.push((
                        c.node,
                        l,
                        Cand {
                            dist: c.dist,
                            node: slot(k),
                        },
                    ));
                }
            }
        }
        edges.sort_unstable();
        let mut groups: Vec<(u32, usize, &[(u32, usize, Cand)])> = Vec::new();
        let mut start = 0;
        while start < edges.len() {
            let (t, l) = (edges[start].0, edges[start].1);
            let mut end = start + 1;
            while end < edges.len() && edges[end].0 == t && edges[end].1 == l {
                end += 1;
            }
            groups.push((t, l, &edges[start..end]));
            start = end;
        }
        let current = |node: u32, l: usize| -> Vec<u32> {
            if (node as usize) >= base {
                planned[node as usize - base].own[l]
                    .iter()
                    .map(|c| c.node)
                    .collect()
            } else {
                self.graph.neighbors(node, l).to_vec()
            }
        };
        let updates: Vec<(u32, usize, Vec<u32>)> = groups
            .par_iter()
            .map(|&(t, l, incoming)| -> Result<(u32, usize, Vec<u32>)> {
                let old = current(t, l);
                let bound = self.graph.max_degree(l);
                let mut list = old.clone();
                for e in incoming {
                    if !list.contains(&e.2.node) {
                        list.push(e.2.node);
                    }
                }
                if list.len() <= bound {
                    return Ok((t, l, list));
                }
                let mut cands: Vec<Cand> = incoming
                    .iter()
                    .map(|e| e.2)
                    .filter(|c| !old.contains(&c.node))
                    .collect();
                for &nb in &old {
                    cands.push(Cand {
                        dist: Dist(self.slot_distance(t, nb)?),
                        node: nb,
                    });
                }
                cands.sort_unstable();
                let mut kept = Vec::with_capacity(bound);
                self.select_neighbors(&cands, bound, &mut kept)?;
                let mut list: Vec<u32> = kept.iter().map(|c| c.node).collect();
                if l == 0 {
                    self.keep_protected(t, &old, &mut list, bound);
                }
                Ok((t, l, list))
            })
            .collect::<Result<_>>()?;
        Ok((planned, updates))
    }

    /// Search the frozen graph for batch point `k` (on `codes` when given),
    /// add the other batch points as candidates, and choose its neighbours
    /// on every level, on exact distances.
    fn plan_point(
        &self,
        base: usize,
        k: usize,
        levels: &[usize],
        vecs: &[Vec<S::Elem>],
        codes: Option<&Codes>,
    ) -> Result<Planned> {
        let level = levels[k];
        let ef = self.params.ef_construction.max(self.params.m);
        let n = base;
        let mut found: Vec<Vec<Cand>> = vec![Vec::new(); level + 1];
        if let Some(entry) = self.entry {
            let (mut state, exact) = self.build_search(vecs[k].clone(), ef, codes);
            let top = level.min(self.max_level);
            state.begin(entry, self.max_level, top, n);
            let run = (|| -> Result<()> {
                for l in (0..=top).rev() {
                    self.run_sync(&mut state, codes)?;
                    found[l] = state.layer_results();
                    if let (Some(q), true) = (&exact, l > 0) {
                        // Above the bottom layer the results still have
                        // code distances.
                        remeasure(&self.points.store, self.dist, q, &mut found[l])?;
                    }
                    if l > 0 {
                        state.next_layer(n);
                    }
                }
                Ok(())
            })();
            let (_, visited) = state.into_parts();
            self.return_visited(visited);
            run?;
        }
        let dist = self.dist;
        let mut own = Vec::with_capacity(level + 1);
        let mut merged = Vec::new();
        let mut selected = Vec::new();
        for (l, f) in found.iter().enumerate() {
            merged.clear();
            merged.extend_from_slice(f);
            for (j, w) in vecs.iter().enumerate() {
                if j != k && levels[j] >= l {
                    merged.push(Cand {
                        dist: Dist(dist(&vecs[k], w)),
                        node: (base + j) as u32,
                    });
                }
            }
            merged.sort_unstable();
            merged.truncate(ef);
            self.select_neighbors(&merged, self.params.m, &mut selected)?;
            own.push(selected.clone());
        }
        let found0 = found[0].iter().map(|c| c.node).collect();
        Ok(Planned { own, found0 })
    }

    fn apply_batch(
        &mut self,
        base: usize,
        levels: &[usize],
        planned: Vec<Planned>,
        updates: Vec<(u32, usize, Vec<u32>)>,
    ) {
        // New nodes, with the entry point moving up as in serial inserts.
        let mut extra = Vec::new();
        for (k, p) in planned.iter().enumerate() {
            let slot = self.graph.push(levels[k]);
            debug_assert_eq!(slot as usize, base + k);
            for (l, sel) in p.own.iter().enumerate() {
                let list: Vec<u32> = sel.iter().map(|c| c.node).collect();
                self.graph.set_neighbors(slot, l, &list);
            }
            match self.entry {
                None => {
                    self.entry = Some(slot);
                    self.max_level = levels[k];
                }
                Some(old) if levels[k] > self.max_level => {
                    self.entry_links.push((slot, old));
                    extra.push((slot, old));
                    self.entry = Some(slot);
                    self.max_level = levels[k];
                }
                Some(_) => {}
            }
        }
        for (node, l, list) in &updates {
            self.graph.set_neighbors(*node, *l, list);
        }
        // Entry links are added after the updates so none prunes them.
        for (slot, old) in extra {
            let mut list = self.graph.neighbors(slot, 0).to_vec();
            if !list.contains(&old) {
                if list.len() >= self.graph.max_degree(0) {
                    let pos = list
                        .iter()
                        .rposition(|&z| !self.is_protected(slot, z))
                        .unwrap_or(list.len() - 1);
                    list.remove(pos);
                }
                list.push(old);
                self.graph.set_neighbors(slot, 0, &list);
            }
        }
        // Parents: the nearest earlier node that kept its link, else adoption.
        for (k, p) in planned.iter().enumerate() {
            let slot = (base + k) as u32;
            let parent = p.own[0]
                .iter()
                .map(|c| c.node)
                .find(|&t| t < slot && self.graph.neighbors(t, 0).contains(&slot));
            let parent = match parent {
                Some(t) => t,
                None if slot == 0 => NO_PARENT,
                None => self.adopt_into_graph(slot, &p.own[0], &p.found0),
            };
            self.parent.push(parent);
        }
    }

    /// Link `slot` from the nearest earlier node whose level-0 list is not
    /// all protected edges, and return that node.
    fn adopt_into_graph(&mut self, slot: u32, own: &[Cand], found: &[u32]) -> u32 {
        let bound = self.graph.max_degree(0);
        let near = own.iter().map(|c| c.node).chain(found.iter().copied());
        for q in near.chain(0..slot) {
            if q >= slot {
                continue;
            }
            let mut list = self.graph.neighbors(q, 0).to_vec();
            if list.contains(&slot) {
                return q;
            }
            if list.len() < bound {
                list.push(slot);
            } else if let Some(pos) = list.iter().rposition(|&z| !self.is_protected(q, z)) {
                list[pos] = slot;
            } else {
                continue;
            }
            self.graph.set_neighbors(q, 0, &list);
            return q;
        }
        NO_PARENT
    }
}

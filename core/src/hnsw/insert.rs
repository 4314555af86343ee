//! Insertion: find neighbours level by level with the shared search, choose
//! them with the diversity heuristic (Malkov & Yashunin, Algorithm 4), and
//! link both ways, pruning lists that overflow.
//!
//! An insert first plans every list it will change, reading vectors as it
//! goes, and only then writes them; a failed read therefore leaves the index
//! as it was.

use super::search::{Cand, SearchState, Step, Walk, remeasure};
use super::{Hnsw, MAX_LEVEL, NO_PARENT};
use crate::distance::{Dist, Element};
use crate::error::{Error, Result};
use crate::points::LinkCodes;
use crate::quant::Codes;
use crate::store::{Access, FeatureStore, FeatureStoreMut};

/// The lists one insert will write.
struct Plan {
    slot: u32,
    level: usize,
    /// The node whose protected edge will reach the new node.
    parent: u32,
    /// The new node's neighbours, level 0 first.
    own: Vec<Vec<u32>>,
    /// Replaced lists of existing nodes: (node, level, new list).
    updates: Vec<(u32, usize, Vec<u32>)>,
}

pub(super) fn ready<R>(a: Access<R>) -> Result<R> {
    match a {
        Access::Ready(r) => Ok(r),
        Access::Missing => Err(Error::NotResident { count: 1 }),
    }
}

/// Put back into `list` the edges of `old` that `protected` names and
/// pruning dropped, each displacing the farthest unprotected choice of a full
/// list (at most `bound` protected edges exist, so one can always give way).
pub(super) fn restore_protected(
    old: &[u32],
    list: &mut Vec<u32>,
    bound: usize,
    protected: impl Fn(u32) -> bool,
) {
    for &y in old {
        if !protected(y) || list.contains(&y) {
            continue;
        }
        match list.iter().rposition(|&z| !protected(z)) {
            Some(pos) if list.len() >= bound => list[pos] = y,
            _ => list.push(y),
        }
    }
}

impl<S: FeatureStore> Hnsw<S> {
    /// Distance between two stored vectors.
    pub(super) fn slot_distance(&self, a: u32, b: u32) -> Result<f32> {
        let dist = self.dist;
        ready(self.points.store.with_vector(a, |va| {
            self.points
                .store
                .with_vector(b, |vb| dist(va, vb))
                .and_then(ready)
        })?)?
    }

    /// Algorithm 4 without extension or kept pruned links (as hnswlib): walk
    /// the candidates nearest first and keep one unless an already kept
    /// neighbour is nearer to it than the base is.
    pub(super) fn select_neighbors(
        &self,
        cands: &[Cand],
        bound: usize,
        out: &mut Vec<Cand>,
    ) -> Result<()> {
        out.clear();
        if cands.len() <= bound {
            out.extend_from_slice(cands);
            return Ok(());
        }
        let dist = self.dist;
        for c in cands {
            if out.len() >= bound {
                break;
            }
            let keep = ready(
                self.points
                    .store
                    .with_vector(c.node, |vc| -> Result<bool> {
                        for r in out.iter() {
                            let d =
                                ready(self.points.store.with_vector(r.node, |vr| dist(vc, vr))?)?;
                            if Dist(d) < c.dist {
                                return Ok(false);
                            }
                        }
                        Ok(true)
                    })?,
            )??;
            if keep {
                out.push(*c);
            }
        }
        Ok(())
    }

    pub(super) fn random_level(&mut self) -> usize {
        // P(level >= l) = m^-l, the paper's mL = 1/ln(m), drawn with integer
        // comparisons so every target gets the same levels.
        let threshold = (1u64 << 32) / self.params.m as u64;
        let mut level = 0;
        while level < MAX_LEVEL && u64::from(self.rng.next_u32()) < threshold {
            level += 1;
        }
        level
    }

    /// Run a construction search to the end, traversing on `codes` if the
    /// search was started on them; stores must be resident.
    pub(super) fn run_sync(
        &self,
        state: &mut SearchState<S::Elem>,
        codes: Option<&Codes>,
    ) -> Result<()> {
        let walk = Walk {
            graph: &self.graph,
            store: &self.points.store,
            dist: self.dist,
            metric: self.points.metric,
            codes,
        };
        match state.advance_in(&walk, &|_| true)? {
            Step::Done => Ok(()),
            Step::Missing => Err(Error::NotResident {
                count: state.missing().len(),
            }),
        }
    }

    /// A construction search for `query` with beam `ef`: on `codes` when
    /// given (every result of the bottom layer then measured exactly; the
    /// query is returned for the levels above), else on the vectors.
    pub(super) fn build_search(
        &self,
        query: Vec<S::Elem>,
        ef: usize,
        codes: Option<&Codes>,
    ) -> (SearchState<S::Elem>, Option<Vec<S::Elem>>) {
        let code_query = codes.zip(S::Elem::as_f32(&query)).map(|(c, q)| c.query(q));
        let exact = code_query.is_some().then(|| query.clone());
        let mut state = SearchState::new(query, ef, ef, self.take_visited());
        if let Some(cq) = code_query {
            state.on_codes(cq, ef);
        }
        (state, exact)
    }

    /// Whether the level-0 edge `from -> to` is part of the reachability
    /// skeleton: the tree edge by which `to` was first linked, or the link
    /// from an entry point to the entry point it replaced.
    pub(super) fn is_protected(&self, from: u32, to: u32) -> bool {
        self.parent.get(to as usize) == Some(&from) || self.entry_links.contains(&(from, to))
    }

    /// Put back the protected level-0 edges of `node` (from its `old` list)
    /// that pruning dropped, displacing the farthest unprotected choices.
    pub(super) fn keep_protected(&self, node: u32, old: &[u32], list: &mut Vec<u32>, bound: usize) {
        restore_protected(old, list, bound, |z| self.is_protected(node, z));
    }

    /// Everything linking `slot` (its vector `query`, stored) will write;
    /// the searches traverse on `codes` when given (and the results are
    /// measured exactly before any link is chosen).
    fn plan(
        &self,
        slot: u32,
        level: usize,
        query: Vec<S::Elem>,
        codes: Option<&Codes>,
    ) -> Result<Plan> {
        let mut plan = Plan {
            slot,
            level,
            parent: NO_PARENT,
            own: vec![Vec::new(); level + 1],
            updates: Vec::new(),
        };
        let Some(entry) = self.entry else {
            return Ok(plan);
        };
        let n = self.graph.len();
        let ef = self.params.ef_construction.max(self.params.m);
        let (mut state, exact) = self.build_search(query, ef, codes);
        let top = level.min(self.max_level);
        state.begin(entry, self.max_level, top, n);
        let result = (|| -> Result<()> {
            let mut selected = Vec::new();
            let mut pruned = Vec::new();
            let mut cands = Vec::new();
            for l in (0..=top).rev() {
                self.run_sync(&mut state, codes)?;
                let mut found = state.layer_results();
                if let (Some(q), true) = (&exact, l > 0) {
                    // Above the bottom layer the results still have code
                    // distances.
                    remeasure(&self.points.store, self.dist, q, &mut found)?;
                }
                self.select_neighbors(&found, self.params.m, &mut selected)?;
                plan.own[l] = selected.iter().map(|c| c.node).collect();
                let bound = self.graph.max_degree(l);
                for s in &selected {
                    let old = self.graph.neighbors(s.node, l);
                    let list = if old.len() < bound {
                        let mut list = old.to_vec();
                        list.push(slot);
                        list
                    } else {
                        cands.clear();
                        cands.push(Cand {
                            dist: s.dist,
                            node: slot,
                        });
                        for &nb in old {
                            let d = self.slot_distance(s.node, nb)?;
                            cands.push(Cand {
                                dist: Dist(d),
                                node: nb,
                            });
                        }
                        cands.sort_unstable();
                        self.select_neighbors(&cands, bound, &mut pruned)?;
                        let mut list: Vec<u32> = pruned.iter().map(|c| c.node).collect();
                        if l == 0 {
                            self.keep_protected(s.node, old, &mut list, bound);
                        }
                        list
                    };
                    if l == 0 && plan.parent == NO_PARENT && list.contains(&slot) {
                        plan.parent = s.node;
                    }
                    plan.updates.push((s.node, l, list));
                }
                if l == 0 && plan.parent == NO_PARENT {
                    self.adopt(slot, &found, &mut plan);
                }
                if l > 0 {
                    state.next_layer(n);
                }
            }
            Ok(())
        })();
        let (_, visited) = state.into_parts();
        self.return_visited(visited);
        result?;
        if level > self.max_level && !plan.own[0].contains(&entry) {
            // The new entry point links to the old one, so everything stays
            // reachable from the top.
            if plan.own[0].len() >= self.graph.max_degree(0) {
                plan.own[0].pop();
            }
            plan.own[0].push(entry);
        }
        Ok(plan)
    }

    /// Give the new node a parent when every chosen neighbour pruned it: the
    /// nearest node (of the search's results, else of the whole graph) whose
    /// list is not all protected edges takes it in. One always exists, since
    /// protected edges number fewer than 2 per node and every list holds at least 2.
    fn adopt(&self, slot: u32, found: &[Cand], plan: &mut Plan) {
        let bound = self.graph.max_degree(0);
        let nearest = found.iter().map(|c| c.node);
        for q in nearest.chain(0..self.graph.len() as u32) {
            let at = plan
                .updates
                .iter()
                .position(|(node, l, _)| *node == q && *l == 0);
            let mut list = match at {
                Some(i) => plan.updates[i].2.clone(),
                None => self.graph.neighbors(q, 0).to_vec(),
            };
            if list.len() < bound {
                list.push(slot);
            } else if let Some(pos) = list.iter().rposition(|&z| !self.is_protected(q, z)) {
                list[pos] = slot;
            } else {
                continue;
            }
            plan.parent = q;
            match at {
                Some(i) => plan.updates[i].2 = list,
                None => plan.updates.push((q, 0, list)),
            }
            return;
        }
    }

    fn apply(&mut self, plan: Plan) {
        let old_entry = self.entry;
        let slot = self.graph.push(plan.level);
        debug_assert_eq!(slot, plan.slot);
        self.parent.push(plan.parent);
        for (l, list) in plan.own.iter().enumerate() {
            self.graph.set_neighbors(slot, l, list);
        }
        for (node, l, list) in &plan.updates {
            self.graph.set_neighbors(*node, *l, list);
        }
        if old_entry.is_none() || plan.level > self.max_level {
            if let Some(old) = old_entry {
                self.entry_links.push((slot, old));
            }
            self.entry = Some(slot);
            self.max_level = plan.level;
        }
    }
}

impl<S: FeatureStoreMut> Hnsw<S> {
    /// Insert `vector` under the user id `id`. A wrong dimension, a
    /// non-finite value or an id already present is an error and changes nothing.
    pub fn insert(&mut self, id: u64, vector: &[S::Elem]) -> Result<()> {
        if self.contains(id) {
            return Err(Error::DuplicateId { id });
        }
        let prepared = self.points.prepare(vector)?;
        let r = self.insert_prepared(id, prepared, &mut LinkCodes::Exact);
        self.sync_codes();
        r
    }

    /// Insert many points: `vectors` holds `ids.len()` vectors back to back.
    /// Everything is checked before anything is inserted, so bad input leaves
    /// the index unchanged.
    pub fn insert_many(&mut self, ids: &[u64], vectors: &[S::Elem]) -> Result<()> {
        let prepared = self.prepare_batch(ids, vectors)?;
        self.points.store.reserve(ids.len());
        self.graph.reserve(ids.len());
        // On the vectors: a serial build is the same graph however its
        // points are split into calls (the browser's slices).
        let mut r = Ok(());
        for (&id, v) in ids.iter().zip(prepared) {
            r = self.insert_prepared(id, v, &mut LinkCodes::Exact);
            if r.is_err() {
                break;
            }
        }
        self.sync_codes();
        r
    }

    /// Check a batch as [`insert_many`](Self::insert_many) would (lengths,
    /// values, ids new and distinct) without inserting anything: a caller
    /// that inserts a large batch in parts checks it whole first.
    pub fn check_batch(&self, ids: &[u64], vectors: &[S::Elem]) -> Result<()> {
        self.prepare_batch(ids, vectors).map(drop)
    }

    /// Check a batch (lengths, values, ids new and distinct) and put its
    /// vectors in stored form.
    pub(super) fn prepare_batch(
        &self,
        ids: &[u64],
        vectors: &[S::Elem],
    ) -> Result<Vec<Vec<S::Elem>>> {
        self.points.prepare_batch(ids, vectors)
    }

    /// Push the vectors of a batch to the store as slots `base`, `base + 1`,
    /// ... (the caller truncates the store back to `base` on an error).
    #[cfg(feature = "parallel")]
    pub(super) fn push_vectors<'a>(
        &mut self,
        base: usize,
        vectors: impl Iterator<Item = &'a [S::Elem]>,
    ) -> Result<()> {
        for (k, v) in vectors.enumerate() {
            if self.points.store.push(v)? as usize != base + k {
                return Err(Error::InvalidParameter {
                    name: "store",
                    reason: "the store and the graph disagree on the number of vectors".into(),
                });
            }
        }
        Ok(())
    }

    /// Store `v` and link it under `id`, searching on the codes of `link`
    /// (which gain its code).
    pub(super) fn insert_prepared(
        &mut self,
        id: u64,
        v: Vec<S::Elem>,
        link: &mut LinkCodes,
    ) -> Result<()> {
        if self.graph.len() >= u32::MAX as usize {
            return Err(Error::StoreFull {
                reason: "the index holds 2^32 - 1 points".into(),
            });
        }
        let rng = self.rng.clone();
        let level = self.random_level();
        if !self.graph.can_push(level) {
            self.rng = rng;
            return Err(Error::StoreFull {
                reason: "the upper levels of the graph are full".into(),
            });
        }
        let slot = match self.points.store.push(&v) {
            Ok(s) => s,
            Err(e) => {
                self.rng = rng;
                return Err(e);
            }
        };
        if slot as usize != self.graph.len() {
            let _ = self.points.store.truncate(self.graph.len());
            self.rng = rng;
            return Err(Error::InvalidParameter {
                name: "store",
                reason: "the store and the graph disagree on the number of vectors".into(),
            });
        }
        self.points.push_link_code(link, &v);
        let codes = self.points.link_codes_ref(link, slot as usize);
        match self.plan(slot, level, v, codes) {
            Ok(plan) => {
                self.apply(plan);
                self.points.record(id);
                Ok(())
            }
            Err(e) => {
                let _ = self.points.store.truncate(slot as usize);
                self.points.truncate_link_codes(link, slot as usize);
                self.rng = rng;
                Err(e)
            }
        }
    }
}

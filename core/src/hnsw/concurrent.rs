//! Inserts that run on many threads at once, and searches beside them.
//!
//! [`SharedGraph`] holds every node's lists in atomic words and guards each
//! node with its own lock. An insert searches the graph without any lock
//! (a list it reads may be a moment old, never invalid: every id in it is a
//! node whose vector is already stored), then takes the locks of the nodes
//! it links one at a time, so inserts on different nodes never wait for each
//! other and searches never wait at all. Only an insert that raises the top
//! level holds the one global lock, for its whole insert (a few in a
//! thousand at `m = 16`).
//!
//! The lists keep the serial build's reachability skeleton: every node's
//! `parent` edge (the first level-0 link that reached it) and every entry
//! point's link to the entry point it replaced are never pruned. Both are
//! set under the lock of the node that holds the edge, so a prune (under the
//! same lock) always sees them.
//!
//! Two users: [`Hnsw::insert_many_concurrent`](super::Hnsw), the fast
//! multi-threaded build, which stores all new vectors first and then links
//! them on every thread; and [`SharedHnsw`], an index that threads search
//! and insert into through `&self`.

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use super::search::{Cand, Links, SearchState, Step, Walk};
use super::visited::Visited;
use super::{Graph, Hnsw, HnswParams, MAX_LEVEL, NO_PARENT};
use crate::distance::{Dist, DistanceFn, Element, Metric};
use crate::error::{Error, Result};
use crate::neighbor::Neighbor;
use crate::points::{Points, ids::Ids};
use crate::quant::Codes;
use crate::rng::SplitMix64;
use crate::store::{Access, FeatureStore, MemoryStore};

/// `n` values from `make`, or an error (not an abort) if memory runs out:
/// the sizes come from a caller's capacity.
fn filled<T>(n: usize, make: impl FnMut() -> T) -> Result<Box<[T]>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        crate::alloc::out_of_memory("the shared graph", n.saturating_mul(size_of::<T>()))
    })?;
    v.extend(std::iter::repeat_with(make).take(n));
    Ok(v.into_boxed_slice())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The top of the graph: where searches start. Read without a lock (one
/// atomic word holds the entry point and the top level); changed only by
/// an insert that holds the lock of [`Top::raise`].
#[derive(Debug)]
pub(crate) struct Top {
    /// `max_level << 32 | entry`, entry `u32::MAX` while the graph is empty.
    word: std::sync::atomic::AtomicU64,
    /// Level-0 links from each entry point to the one it replaced, in order;
    /// its lock is held by an insert that raises the top, for the whole insert.
    raise: Mutex<Vec<(u32, u32)>>,
}

impl Top {
    pub(crate) fn new(entry: Option<u32>, max_level: usize, entry_links: Vec<(u32, u32)>) -> Self {
        Self {
            word: std::sync::atomic::AtomicU64::new(Self::pack(entry, max_level)),
            raise: Mutex::new(entry_links),
        }
    }

    fn pack(entry: Option<u32>, max_level: usize) -> u64 {
        (max_level as u64) << 32 | u64::from(entry.unwrap_or(u32::MAX))
    }

    /// The entry point and the top level.
    pub(crate) fn get(&self) -> (Option<u32>, usize) {
        let w = self.word.load(Ordering::Acquire);
        let e = w as u32;
        ((e != u32::MAX).then_some(e), (w >> 32) as usize)
    }

    fn set(&self, entry: u32, max_level: usize) {
        self.word
            .store(Self::pack(Some(entry), max_level), Ordering::Release);
    }

    pub(crate) fn into_parts(self) -> (Option<u32>, usize, Vec<(u32, u32)>) {
        let (e, l) = self.get();
        (
            e,
            l,
            self.raise.into_inner().unwrap_or_else(|e| e.into_inner()),
        )
    }
}

/// Neighbour lists that many threads read and change at once. Room for a
/// fixed number of nodes is made up front; a node's upper lists are made
/// when the node is.
#[derive(Debug)]
pub(crate) struct SharedGraph {
    m: usize,
    m0: usize,
    /// Level 0 of node `i`: a count word then `m0` ids, at `i * (1 + m0)`.
    level0: Box<[AtomicU32]>,
    /// Levels 1 and up of each node, `1 + m` words a level.
    upper: Box<[OnceLock<Box<[AtomicU32]>>]>,
    locks: Box<[Mutex<()>]>,
    parent: Box<[AtomicU32]>,
    /// The level-0 link an entry point keeps to the one it replaced.
    entry_link: Box<[AtomicU32]>,
}

impl SharedGraph {
    /// Room for `capacity` nodes, holding a copy of `graph` (whose parents
    /// are `parent`).
    fn from_graph(
        graph: &Graph,
        parent: &[u32],
        capacity: usize,
        m: usize,
        m0: usize,
    ) -> Result<Self> {
        let words = capacity
            .checked_mul(1 + m0)
            .ok_or_else(|| Error::StoreFull {
                reason: "capacity times m0 overflows".into(),
            })?;
        let this = Self {
            m,
            m0,
            level0: filled(words, || AtomicU32::new(0))?,
            upper: filled(capacity, OnceLock::new)?,
            locks: filled(capacity, || Mutex::new(()))?,
            parent: filled(capacity, || AtomicU32::new(NO_PARENT))?,
            entry_link: filled(capacity, || AtomicU32::new(NO_PARENT))?,
        };
        for node in 0..graph.len() as u32 {
            this.add_node(node, graph.level(node));
            for l in 0..=graph.level(node) {
                this.store_list(node, l, graph.neighbors(node, l));
            }
            if let Some(&p) = parent.get(node as usize) {
                this.parent[node as usize].store(p, Ordering::Relaxed);
            }
        }
        Ok(this)
    }

    fn capacity(&self) -> usize {
        self.locks.len()
    }

    /// Make the upper lists of `node`, which has `level` (once).
    fn add_node(&self, node: u32, level: usize) {
        if level > 0 {
            let words = level * (1 + self.m);
            let _ = self.upper[node as usize].set((0..words).map(|_| AtomicU32::new(0)).collect());
        }
    }

    /// The words of the list of `node` at `level`, if it has the level.
    #[inline]
    fn list(&self, node: u32, level: usize) -> Option<&[AtomicU32]> {
        let (words, at, cap): (&[AtomicU32], usize, usize) = if level == 0 {
            (&self.level0, node as usize * (1 + self.m0), self.m0)
        } else {
            let up = self.upper.get(node as usize)?.get()?;
            (up, (level - 1) * (1 + self.m), self.m)
        };
        words.get(at..at + 1 + cap)
    }

    fn level(&self, node: u32) -> usize {
        self.upper[node as usize]
            .get()
            .map_or(0, |u| u.len() / (1 + self.m))
    }

    fn max_degree(&self, level: usize) -> usize {
        if level == 0 { self.m0 } else { self.m }
    }

    /// Copy the list of `node` at `level` into `out`.
    fn read_list(&self, node: u32, level: usize, out: &mut Vec<u32>) {
        out.clear();
        self.each_neighbor(node, level, |nb| out.push(nb));
    }

    /// Write the list of `node` at `level` (hold the node's lock, or be the
    /// only thread). The ids go first and the count last, so a reader never
    /// sees a count longer than the ids written.
    fn store_list(&self, node: u32, level: usize, ids: &[u32]) {
        let Some(words) = self.list(node, level) else {
            return;
        };
        let n = ids.len().min(words.len() - 1);
        // Release: a reader that sees an id also sees the node's vector
        // and lists, written before the id was linked.
        for (w, &id) in words[1..].iter().zip(&ids[..n]) {
            w.store(id, Ordering::Release);
        }
        words[0].store(n as u32, Ordering::Release);
    }

    fn set_entry_links(&self, links: &[(u32, u32)]) {
        for &(from, to) in links {
            if let Some(a) = self.entry_link.get(from as usize) {
                a.store(to, Ordering::Relaxed);
            }
        }
    }

    fn is_protected(&self, from: u32, to: u32) -> bool {
        self.parent[to as usize].load(Ordering::Relaxed) == from
            || self.entry_link[from as usize].load(Ordering::Relaxed) == to
    }

    /// The first `len` nodes as a [`Graph`], and their parents.
    fn to_graph(&self, len: usize) -> (Graph, Vec<u32>) {
        let mut g = Graph::new(self.m, self.m0);
        g.reserve(len);
        let mut list = Vec::new();
        for node in 0..len as u32 {
            g.push(self.level(node));
            for l in 0..=self.level(node) {
                self.read_list(node, l, &mut list);
                g.set_neighbors(node, l, &list);
            }
        }
        let parent = self.parent[..len]
            .iter()
            .map(|p| p.load(Ordering::Relaxed))
            .collect();
        (g, parent)
    }
}

impl Links for SharedGraph {
    #[inline]
    fn each_neighbor(&self, node: u32, level: usize, mut f: impl FnMut(u32)) {
        if let Some(words) = self.list(node, level) {
            let n = (words[0].load(Ordering::Acquire) as usize).min(words.len() - 1);
            for w in &words[1..1 + n] {
                f(w.load(Ordering::Acquire));
            }
        }
    }

    #[inline]
    fn prefetch(&self, node: u32) {
        if let Some(w) = self.level0.get(node as usize * (1 + self.m0)) {
            crate::simd::prefetch(w.as_ptr());
        }
    }
}

/// Everything one concurrent insert reads: the graph, the vectors and the
/// rules. Shared by all inserting and searching threads.
pub(crate) struct Linker<'a, S: FeatureStore> {
    pub(crate) graph: &'a SharedGraph,
    pub(crate) store: &'a S,
    pub(crate) dist: DistanceFn<S::Elem>,
    pub(crate) metric: Metric,
    pub(crate) params: HnswParams,
    pub(crate) top: &'a Top,
    pub(crate) visited: &'a Mutex<Vec<Visited>>,
    /// Codes the searches for neighbours traverse on (their results are
    /// then measured exactly before any link is chosen).
    pub(crate) codes: Option<&'a Codes>,
}

impl<S: FeatureStore + Sync> Linker<'_, S> {
    fn walk(&self) -> Walk<'_, SharedGraph, S> {
        Walk {
            graph: self.graph,
            store: self.store,
            dist: self.dist,
            metric: self.metric,
            codes: self.codes,
        }
    }

    fn take_visited(&self) -> Visited {
        lock(self.visited).pop().unwrap_or_default()
    }

    fn return_visited(&self, v: Visited) {
        let mut pool = lock(self.visited);
        if pool.len() < 64 {
            pool.push(v);
        }
    }

    fn vector<R>(&self, slot: u32, f: impl FnOnce(&[S::Elem]) -> R) -> Result<R> {
        if let Some(rows) = self.store.rows() {
            return rows.get(slot).map(f).ok_or(Error::SlotOutOfRange {
                slot,
                len: rows.len(),
            });
        }
        match self.store.with_vector(slot, f)? {
            Access::Ready(r) => Ok(r),
            Access::Missing => Err(Error::NotResident { count: 1 }),
        }
    }

    fn pair(&self, a: u32, b: u32) -> Result<f32> {
        let dist = self.dist;
        self.vector(a, |va| self.vector(b, |vb| dist(va, vb)))?
    }

    /// The diversity heuristic of the serial build (Algorithm 4, as hnswlib).
    fn select(&self, cands: &[Cand], bound: usize, out: &mut Vec<Cand>) -> Result<()> {
        out.clear();
        if cands.len() <= bound {
            out.extend_from_slice(cands);
            return Ok(());
        }
        for c in cands {
            if out.len() >= bound {
                break;
            }
            let mut keep = true;
            for r in out.iter() {
                if Dist(self.pair(c.node, r.node)?) < c.dist {
                    keep = false;
                    break;
                }
            }
            if keep {
                out.push(*c);
            }
        }
        Ok(())
    }

    /// Search for `query` and return the nearest `k` nodes, nearest first.
    pub(crate) fn search(
        &self,
        query: Vec<S::Elem>,
        k: usize,
        ef: usize,
        accept: &impl Fn(u32) -> bool,
    ) -> Result<Vec<Cand>> {
        let (entry, max_level) = self.top.get();
        let mut state = SearchState::new(query, k, ef, self.take_visited());
        if let Some(e) = entry {
            state.begin(e, max_level, 0, self.graph.capacity());
        }
        let r = self.run(&mut state, accept);
        let (found, visited) = state.into_parts();
        self.return_visited(visited);
        r.map(|()| found)
    }

    fn run(&self, state: &mut SearchState<S::Elem>, accept: &impl Fn(u32) -> bool) -> Result<()> {
        match state.advance_in(&self.walk(), accept)? {
            Step::Done => Ok(()),
            Step::Missing => Err(Error::NotResident {
                count: state.missing().len(),
            }),
        }
    }

    /// Link node `slot` (its vector stored, its lists made with `level`)
    /// into the graph. The search for its neighbours runs first, on every
    /// level; the links are then made from level 0 up, so a search that
    /// reaches the node on some level finds its lists below complete.
    pub(crate) fn link(&self, slot: u32, level: usize) -> Result<()> {
        let (mut entry, mut max_level) = self.top.get();
        // An insert that may raise the top holds the raise lock throughout.
        let mut raising = None;
        if entry.is_none() || level > max_level {
            let guard = lock(&self.top.raise);
            (entry, max_level) = self.top.get();
            if entry.is_none() || level > max_level {
                raising = Some(guard);
            }
        }
        let Some(entry) = entry else {
            self.top.set(slot, level);
            return Ok(());
        };
        let query = self.vector(slot, <[S::Elem]>::to_vec)?;
        let ef = self.params.ef_construction.max(self.params.m);
        let n = self.graph.capacity();
        let first = level.min(max_level);
        let mut chosen: Vec<Vec<Cand>> = vec![Vec::new(); first + 1];
        let mut found0 = Vec::new();
        let code_query = self
            .codes
            .zip(S::Elem::as_f32(&query))
            .map(|(c, q)| c.query(q));
        let on_codes = code_query.is_some();
        let exact = on_codes.then(|| query.clone());
        let mut state = SearchState::new(query, ef, ef, self.take_visited());
        if let Some(cq) = code_query {
            // Every result of the bottom layer is measured exactly.
            state.on_codes(cq, ef);
        }
        state.begin(entry, max_level, first, n);
        let r = (|| -> Result<()> {
            for l in (0..=first).rev() {
                self.run(&mut state, &|_| true)?;
                let mut found = state.layer_results();
                if let (Some(q), true) = (&exact, l > 0) {
                    // Above the bottom layer the results still have code
                    // distances: measure them before choosing links.
                    super::search::remeasure(self.store, self.dist, q, &mut found)?;
                }
                self.select(&found, self.params.m, &mut chosen[l])?;
                if l > 0 {
                    state.next_layer(n);
                } else {
                    found0 = found;
                }
            }
            Ok(())
        })();
        let (_, visited) = state.into_parts();
        self.return_visited(visited);
        r?;
        let (mut own, mut old, mut cands, mut pruned) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (l, sel) in chosen.iter().enumerate() {
            own.clear();
            own.extend(sel.iter().map(|c| c.node));
            if l == 0 && raising.is_some() && !own.contains(&entry) {
                // The new entry point links to the old one, so everything
                // stays reachable from the top.
                if own.len() >= self.graph.m0 {
                    own.pop();
                }
                own.push(entry);
            }
            {
                let _g = lock(&self.graph.locks[slot as usize]);
                if l == 0 && raising.is_some() {
                    self.graph.entry_link[slot as usize].store(entry, Ordering::Relaxed);
                }
                self.graph.store_list(slot, l, &own);
            }
            for s in sel {
                self.add_link(s, slot, l, &mut old, &mut cands, &mut pruned)?;
            }
            if l == 0 && self.graph.parent[slot as usize].load(Ordering::Relaxed) == NO_PARENT {
                self.adopt(slot, &found0);
            }
        }
        if let Some(mut links) = raising {
            links.push((slot, entry));
            self.top.set(slot, level);
        }
        Ok(())
    }

    /// Add `slot` to the list of `s.node` at `l`, pruning it if full.
    fn add_link(
        &self,
        s: &Cand,
        slot: u32,
        l: usize,
        old: &mut Vec<u32>,
        cands: &mut Vec<Cand>,
        pruned: &mut Vec<Cand>,
    ) -> Result<()> {
        let t = s.node;
        let bound = self.graph.max_degree(l);
        let _g = lock(&self.graph.locks[t as usize]);
        self.graph.read_list(t, l, old);
        if old.contains(&slot) {
            return Ok(());
        }
        let mut list = if old.len() < bound {
            let mut list = old.clone();
            list.push(slot);
            list
        } else {
            cands.clear();
            cands.push(Cand {
                dist: s.dist,
                node: slot,
            });
            let dist = self.dist;
            self.vector(t, |vt| -> Result<()> {
                for &nb in old.iter() {
                    let d = self.vector(nb, |v| dist(vt, v))?;
                    cands.push(Cand {
                        dist: Dist(d),
                        node: nb,
                    });
                }
                Ok(())
            })??;
            cands.sort_unstable();
            self.select(cands, bound, pruned)?;
            pruned.iter().map(|c| c.node).collect()
        };
        if l == 0 {
            // Put back the skeleton's edges that pruning dropped.
            super::insert::restore_protected(old, &mut list, bound, |z| {
                self.graph.is_protected(t, z)
            });
        }
        list.truncate(bound);
        // A parent is older than its child (the file's rule for the tree).
        if l == 0 && t < slot && list.contains(&slot) {
            let _ = self.graph.parent[slot as usize].compare_exchange(
                NO_PARENT,
                t,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
        self.graph.store_list(t, l, &list);
        Ok(())
    }

    /// Give `slot` a parent when no older chosen neighbour kept it: the
    /// nearest older node whose level-0 list is not all protected edges
    /// takes it in (one always exists: protected edges number fewer than two
    /// a node).
    fn adopt(&self, slot: u32, found: &[Cand]) {
        let bound = self.graph.m0;
        let mut list = Vec::new();
        let all = 0..self.graph.capacity() as u32;
        for q in found.iter().map(|c| c.node).chain(all) {
            // An older node whose own level-0 list is written (or the root,
            // whose list may still be empty): a younger parent would break
            // the file's rule, and a list not written yet would be replaced.
            if q >= slot {
                continue;
            }
            let _g = lock(&self.graph.locks[q as usize]);
            self.graph.read_list(q, 0, &mut list);
            if list.is_empty() && q != 0 {
                continue;
            }
            if list.contains(&slot) {
            } else if list.len() < bound {
                list.push(slot);
            } else if let Some(pos) = list.iter().rposition(|&z| !self.graph.is_protected(q, z)) {
                list[pos] = slot;
            } else {
                continue;
            }
            self.graph.parent[slot as usize].store(q, Ordering::Relaxed);
            self.graph.store_list(q, 0, &list);
            return;
        }
    }
}

/// Raw slots for vectors written once each, by one thread, while others read
/// the slots already written.
struct SlotVectors<T> {
    dim: usize,
    cells: Box<[UnsafeCell<T>]>,
    /// 0 empty, 1 being written, 2 written.
    state: Box<[AtomicU8]>,
    len: AtomicUsize,
}

// SAFETY: a slot's cells are written only by the one thread that moved its
// state from 0 to 1, and read only after its state became 2 (a release
// store after the write, an acquire load before the read), so no cell is
// ever read and written at once. `T` is plain data (`Element: Pod + Send +
// Sync`).
unsafe impl<T: Element> Sync for SlotVectors<T> {}

impl<T: Element> SlotVectors<T> {
    fn new(dim: usize, capacity: usize) -> Result<Self> {
        let n = dim.checked_mul(capacity).ok_or_else(|| Error::StoreFull {
            reason: "capacity times dimension overflows".into(),
        })?;
        let mut cells = Vec::new();
        cells
            .try_reserve_exact(n)
            .map_err(|_| crate::alloc::out_of_memory("the vectors", n * size_of::<T>()))?;
        cells.extend((0..n).map(|_| UnsafeCell::new(T::default())));
        Ok(Self {
            dim,
            cells: cells.into_boxed_slice(),
            state: filled(capacity, || AtomicU8::new(0))?,
            len: AtomicUsize::new(0),
        })
    }

    /// Store `v` (`dim` long) in `slot`, once.
    fn write(&self, slot: u32, v: &[T]) -> Result<()> {
        let s = self.state.get(slot as usize).ok_or(Error::SlotOutOfRange {
            slot,
            len: self.state.len(),
        })?;
        if v.len() != self.dim
            || s.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return Err(Error::InvalidParameter {
                name: "slot",
                reason: "written twice or with the wrong length".into(),
            });
        }
        let start = slot as usize * self.dim;
        for (cell, &x) in self.cells[start..start + self.dim].iter().zip(v) {
            // SAFETY: this thread owns the slot (state 1, see the Sync impl);
            // no reference to these cells exists until the state is 2.
            unsafe { *cell.get() = x };
        }
        s.store(2, Ordering::Release);
        self.len.fetch_max(slot as usize + 1, Ordering::AcqRel);
        Ok(())
    }

    fn get(&self, slot: u32) -> Option<&[T]> {
        let s = self.state.get(slot as usize)?;
        if s.load(Ordering::Acquire) != 2 {
            return None;
        }
        let start = slot as usize * self.dim;
        let cells = &self.cells[start..start + self.dim];
        // SAFETY: the slot is written (state 2) and never written again, so
        // a shared view of its cells is sound; `UnsafeCell<T>` has the
        // layout of `T`, so the cells are `dim` consecutive `T`s.
        Some(unsafe { std::slice::from_raw_parts(cells.as_ptr().cast::<T>(), self.dim) })
    }
}

impl<T: Element> FeatureStore for SlotVectors<T> {
    type Elem = T;

    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    fn with_vector<R>(&self, slot: u32, f: impl FnOnce(&[T]) -> R) -> Result<Access<R>> {
        match self.get(slot) {
            Some(v) => Ok(Access::Ready(f(v))),
            None => Err(Error::SlotOutOfRange {
                slot,
                len: self.len(),
            }),
        }
    }

    fn prefetch(&self, slots: &[u32]) {
        for &s in slots {
            if let Some(c) = self.cells.get(s as usize * self.dim) {
                crate::simd::prefetch(c.get());
            }
        }
    }
}

/// Ids of a [`SharedHnsw`]: taken under a lock when a point is inserted.
#[derive(Debug, Default)]
struct SharedIds {
    /// Slot of every live id.
    slots: HashMap<u64, u32>,
    next: u32,
}

/// An HNSW index that many threads search and insert into at once, through
/// `&self`: searches never wait, and inserts wait only for the one node
/// they are linking at a time. Made from an [`Hnsw`] with room for a fixed
/// number of points, and turned back into one (to save or delete) with
/// [`into_hnsw`](Self::into_hnsw).
///
/// ```
/// use vectrove_core::{Hnsw, Metric};
/// use vectrove_core::hnsw::SharedHnsw;
///
/// let index = Hnsw::builder(2, Metric::L2).build()?;
/// let shared = SharedHnsw::new(index, 1000)?;
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         for i in 0..500u64 {
///             shared.insert(i, &[i as f32, 1.0]).unwrap();
///         }
///     });
///     s.spawn(|| {
///         for _ in 0..100 {
///             for hit in shared.search(&[3.0, 1.0], 3, 16).unwrap() {
///                 assert!(hit.id < 500);
///             }
///         }
///     });
/// });
/// let index = shared.into_hnsw()?;
/// assert_eq!(index.search(&[3.0, 1.0], 1, 16)?[0].id, 3);
/// # Ok::<(), vectrove_core::Error>(())
/// ```
pub struct SharedHnsw<T: Element = f32> {
    params: HnswParams,
    dist: DistanceFn<T>,
    metric: Metric,
    vectors: SlotVectors<T>,
    graph: SharedGraph,
    top: Top,
    /// User id of every slot, written before the slot is linked.
    slot_ids: Box<[std::sync::atomic::AtomicU64]>,
    ids: Mutex<SharedIds>,
    /// Tombstones of the index it was made from (fixed).
    deleted: Vec<u64>,
    rng: Mutex<SplitMix64>,
    visited: Mutex<Vec<Visited>>,
    /// The index's codes (searches here go exact; `into_hnsw` brings the
    /// codes up to date).
    quant: crate::quant::Quant,
    /// The index's choice of [`HnswBuilder::build_on_codes`](super::HnswBuilder::build_on_codes).
    build_on_codes: bool,
}

impl<T: Element> std::fmt::Debug for SharedHnsw<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedHnsw")
            .field("dim", &self.vectors.dim)
            .field("metric", &self.metric)
            .field("slots", &self.vectors.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl<T: Element> SharedHnsw<T> {
    /// `index`, open to concurrent inserts of up to `capacity` slots in all
    /// (its own included). The vectors are held as `f32` here (an index that
    /// kept them as `f16` comes back from [`into_hnsw`](Self::into_hnsw) in
    /// `f32`: [`Hnsw::set_vector_type`] stores it as `f16` again).
    pub fn new(index: Hnsw<MemoryStore<T>>, capacity: usize) -> Result<Self> {
        let n = index.slot_count();
        if capacity < n || capacity >= u32::MAX as usize {
            return Err(Error::InvalidParameter {
                name: "capacity",
                reason: format!("must be at least the index's {n} slots and below 2^32 - 1"),
            });
        }
        let dim = index.dim();
        let vectors = SlotVectors::new(dim, capacity)?;
        let mut ids = SharedIds {
            slots: HashMap::with_capacity(n),
            next: n as u32,
        };
        let slot_ids = filled(capacity, || std::sync::atomic::AtomicU64::new(0))?;
        for slot in 0..n as u32 {
            // Read through the store: one that keeps f16 hands out f32.
            match index
                .points
                .store
                .with_vector(slot, |v| vectors.write(slot, v))?
            {
                Access::Ready(r) => r?,
                Access::Missing => return Err(Error::NotResident { count: 1 }),
            }
            let id = index.points.id(slot);
            slot_ids[slot as usize].store(id, Ordering::Relaxed);
            if !index.is_deleted(slot) {
                ids.slots.insert(id, slot);
            }
        }
        let graph = SharedGraph::from_graph(
            &index.graph,
            &index.parent,
            capacity,
            index.params.m,
            index.params.m0,
        )?;
        graph.set_entry_links(&index.entry_links);
        Ok(Self {
            params: index.params,
            dist: index.dist,
            metric: index.points.metric,
            vectors,
            graph,
            top: Top::new(index.entry, index.max_level, index.entry_links),
            slot_ids,
            ids: Mutex::new(ids),
            deleted: index.points.deleted,
            rng: Mutex::new(index.rng),
            visited: Mutex::new(Vec::new()),
            quant: index.points.quant,
            build_on_codes: index.build_on_codes,
        })
    }

    /// Slots in all, used and free.
    pub fn capacity(&self) -> usize {
        self.graph.capacity()
    }

    /// Number of live points.
    pub fn len(&self) -> usize {
        lock(&self.ids).slots.len()
    }

    /// Whether the index has no live point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn linker(&self) -> Linker<'_, SlotVectors<T>> {
        Linker {
            graph: &self.graph,
            store: &self.vectors,
            dist: self.dist,
            metric: self.metric,
            params: self.params,
            top: &self.top,
            visited: &self.visited,
            codes: None,
        }
    }

    /// Insert `vector` under `id`, beside any other inserts and searches. A
    /// wrong dimension, a non-finite value, an id already present or a full
    /// index is an error and changes nothing.
    pub fn insert(&self, id: u64, vector: &[T]) -> Result<()> {
        if vector.len() != self.vectors.dim {
            return Err(Error::DimensionMismatch {
                expected: self.vectors.dim,
                got: vector.len(),
            });
        }
        let mut v = Vec::with_capacity(vector.len());
        T::prepare(self.metric, vector, &mut v)?;
        let slot = {
            let mut ids = lock(&self.ids);
            if ids.slots.contains_key(&id) {
                return Err(Error::DuplicateId { id });
            }
            if ids.next as usize >= self.capacity() {
                return Err(Error::StoreFull {
                    reason: format!("the shared index has room for {} slots", self.capacity()),
                });
            }
            let slot = ids.next;
            ids.next += 1;
            ids.slots.insert(id, slot);
            if self.top.get().0.is_none() {
                // The first point is the root of the spanning tree, which
                // the format wants to be slot 0: link it (nothing to search)
                // before any other insert can take a slot.
                let level = self.draw_level();
                self.slot_ids[slot as usize].store(id, Ordering::Relaxed);
                self.vectors.write(slot, &v)?;
                self.graph.add_node(slot, level);
                return self.linker().link(slot, level);
            }
            slot
        };
        let level = self.draw_level();
        self.slot_ids[slot as usize].store(id, Ordering::Relaxed);
        self.vectors.write(slot, &v)?;
        self.graph.add_node(slot, level);
        self.linker().link(slot, level)
    }

    /// A level for a new node, as the serial insert draws it.
    fn draw_level(&self) -> usize {
        let mut rng = lock(&self.rng);
        let threshold = (1u64 << 32) / self.params.m as u64;
        let mut level = 0;
        while level < MAX_LEVEL && u64::from(rng.next_u32()) < threshold {
            level += 1;
        }
        level
    }

    /// The `k` nearest live points to `query`, nearest first, with beam `ef`.
    pub fn search(&self, query: &[T], k: usize, ef: usize) -> Result<Vec<Neighbor>> {
        if query.len() != self.vectors.dim {
            return Err(Error::DimensionMismatch {
                expected: self.vectors.dim,
                got: query.len(),
            });
        }
        let mut q = Vec::with_capacity(query.len());
        T::prepare(self.metric, query, &mut q)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let accept = |slot: u32| !crate::points::ids::is_deleted(&self.deleted, slot);
        let found = self.linker().search(q, k, ef.max(k), &accept)?;
        Ok(found
            .into_iter()
            .map(|c| Neighbor {
                id: self.slot_ids[c.node as usize].load(Ordering::Relaxed),
                distance: c.dist.0,
            })
            .collect())
    }

    /// The index as an [`Hnsw`] again (call once the threads are done).
    pub fn into_hnsw(self) -> Result<Hnsw<MemoryStore<T>>> {
        let n = lock(&self.ids).next as usize;
        let dim = self.vectors.dim;
        let mut flat = Vec::with_capacity(n * dim);
        for slot in 0..n as u32 {
            flat.extend_from_slice(
                self.vectors
                    .get(slot)
                    .ok_or(Error::SlotOutOfRange { slot, len: n })?,
            );
        }
        let store = MemoryStore::from_flat(dim, &flat)?;
        let (graph, parent) = self.graph.to_graph(n);
        let (entry, max_level, entry_links) = self.top.into_parts();
        let slot_ids: Vec<u64> = self.slot_ids[..n]
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect();
        let mut deleted = self.deleted;
        deleted.resize(n.div_ceil(64).max(deleted.len()), 0);
        let ids = Ids::from_slots(slot_ids, &deleted).ok_or_else(|| Error::InvalidParameter {
            name: "ids",
            reason: "a live id is held by two slots".into(),
        })?;
        let mut points = Points::from_parts(store, self.metric, ids, deleted);
        points.quant = self.quant;
        let mut index = Hnsw {
            params: self.params,
            dist: self.dist,
            points,
            graph,
            parent,
            entry_links,
            entry,
            max_level,
            rng: self.rng.into_inner().unwrap_or_else(|e| e.into_inner()),
            visited_pool: Mutex::new(Vec::new()),
            build_on_codes: self.build_on_codes,
        };
        index.sync_codes();
        Ok(index)
    }
}

#[cfg(feature = "parallel")]
impl<S> Hnsw<S>
where
    S: crate::store::FeatureStoreMut + Sync,
{
    /// Insert many points on all of rayon's threads at once (run it inside
    /// a `rayon::ThreadPool::install` to choose them), each thread linking
    /// one point after another as hnswlib does. The fastest build, but the
    /// graph depends on how the threads interleave; for the same graph on
    /// any number of threads use [`insert_many_parallel`](Self::insert_many_parallel).
    /// Input is checked as by [`insert_many`](Self::insert_many), and bad
    /// input changes nothing.
    pub fn insert_many_concurrent(&mut self, ids: &[u64], vectors: &[S::Elem]) -> Result<()> {
        self.insert_many_concurrent_with(ids, vectors, &|_| {})
    }

    /// [`insert_many_concurrent`](Self::insert_many_concurrent), calling
    /// `progress` with the number of points linked so far every thousand or
    /// so (from any of the threads).
    pub fn insert_many_concurrent_with(
        &mut self,
        ids: &[u64],
        vectors: &[S::Elem],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<()> {
        let r = self.link_concurrent(ids, vectors, progress);
        self.sync_codes();
        r
    }

    fn link_concurrent(
        &mut self,
        ids: &[u64],
        vectors: &[S::Elem],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<()> {
        let prepared = self.points.prepare_flat(ids, vectors)?;
        let base = self.graph.len();
        let count = ids.len();
        if count == 0 {
            return Ok(());
        }
        if base + count >= u32::MAX as usize {
            return Err(Error::StoreFull {
                reason: "the index holds 2^32 - 1 points".into(),
            });
        }
        let rng = self.rng.clone();
        let levels: Vec<usize> = (0..count).map(|_| self.random_level()).collect();
        if !self
            .graph
            .can_push(levels.iter().copied().max().unwrap_or(0))
        {
            self.rng = rng;
            return Err(Error::StoreFull {
                reason: "the upper levels of the graph are full".into(),
            });
        }
        self.points.store.reserve(count);
        let undo = |this: &mut Self, e: Error| {
            let _ = this.points.store.truncate(base);
            this.rng = rng.clone();
            Err(e)
        };
        let dim = self.dim();
        if let Err(e) = self.push_vectors(base, prepared.chunks_exact(dim)) {
            return undo(self, e);
        }
        drop(prepared);
        let graph = match SharedGraph::from_graph(
            &self.graph,
            &self.parent,
            base + count,
            self.params.m,
            self.params.m0,
        ) {
            Ok(g) => g,
            Err(e) => return undo(self, e),
        };
        graph.set_entry_links(&self.entry_links);
        for (k, &l) in levels.iter().enumerate() {
            graph.add_node((base + k) as u32, l);
        }
        // The searches for neighbours traverse on 8-bit codes: a quarter of
        // the bytes of the vectors, and every link is still chosen on exact
        // distances.
        let link_codes = self.link_codes(count, std::iter::empty());
        let codes = self.points.link_codes_ref(&link_codes, base + count);
        let top = Top::new(self.entry, self.max_level, self.entry_links.clone());
        let pool = Mutex::new(Vec::new());
        // The first point of an empty graph becomes the root of the
        // spanning tree (slot `base`, as the format wants): link it alone.
        let next = AtomicUsize::new(usize::from(self.entry.is_none()));
        let failed: Mutex<Option<Error>> = Mutex::new(None);
        {
            let linker = Linker {
                graph: &graph,
                store: &self.points.store,
                dist: self.dist,
                metric: self.points.metric,
                params: self.params,
                top: &top,
                visited: &pool,
                codes,
            };
            if self.entry.is_none()
                && let Err(e) = linker.link(base as u32, levels[0])
            {
                lock(&failed).get_or_insert(e);
                next.store(count, Ordering::Relaxed);
            }
            // With level-0 lists of fewer than 4 links, the older nodes that
            // could adopt a point no other kept may all be full of protected
            // links while other threads are still linking theirs; such tiny
            // graphs are linked on one thread.
            let work = || {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= count {
                        return;
                    }
                    if let Err(e) = linker.link((base + k) as u32, levels[k]) {
                        next.store(count, Ordering::Relaxed);
                        lock(&failed).get_or_insert(e);
                        return;
                    }
                    if k % 1024 == 1023 {
                        progress(k + 1);
                    }
                }
            };
            if self.params.m0 < 4 {
                work();
            } else {
                rayon::broadcast(|_| work());
            }
        }
        let (entry, max_level, entry_links) = top.into_parts();
        if let Some(e) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
            // The graph as it was is untouched: only the copy was linked.
            drop(entry_links);
            return undo(self, e);
        }
        let (g, parent) = graph.to_graph(base + count);
        self.graph = g;
        self.parent = parent;
        self.entry = entry;
        self.max_level = max_level;
        self.entry_links = entry_links;
        for &id in ids {
            self.points.record(id);
        }
        Ok(())
    }
}

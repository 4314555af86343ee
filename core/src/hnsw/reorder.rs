//! Renumbering the slots for locality.
//!
//! A search reads the vectors of one small neighbourhood of the graph. When
//! slots follow insertion order, that neighbourhood is scattered over the
//! whole store: every vector a search reads is likely on a page (or a cache
//! line, or a disk block) of its own. [`Hnsw::reorder`] gives the points of
//! one neighbourhood nearby slots, so a search reads few pages of a file and
//! few distant lines of memory. User ids do not change; only the internal
//! slots, and everything that names them, do.
//!
//! The order is nested by the levels of the graph. The top level is laid out
//! by a breadth-first walk from the entry point. Each level below is then
//! split among the nodes of the level above: a breadth-first walk started
//! from all of them at once (in their order) lets every node be claimed by
//! the first of them to reach it, which is about the nearest, and each
//! node's claim follows it, in the order the walk found them. With `m` links
//! a node, a node of level 2 ends up heading a run of about `m²` points of
//! its neighbourhood, a node of level 3 a run of about `m³`, and so on: the
//! points near one another share pages at every scale. Nodes no walk reaches
//! keep their old relative order, after those it reaches.
//!
//! The spanning tree that keeps every node reachable (`parent`, the file's
//! `PRNT`) needs every node but the first reached by a level-0 edge from an
//! earlier one. A last pass therefore moves a node the nested order puts
//! before all of its in-neighbours to just after the first of them, and the
//! tree is renumbered with the slots: a node keeps its parent when the parent
//! still comes first, else takes the first earlier node that links to it.

use super::{Graph, Hnsw, NO_PARENT};
use crate::alloc;
use crate::distance::Element;
use crate::error::{Error, Result};
use crate::store::{FeatureStore, MemoryStore};

/// Flags of [`Hnsw::rooted`].
const PLACED: u8 = 1;
const REACHED: u8 = 2;
const WAITING: u8 = 4;

impl<S: FeatureStore> Hnsw<S> {
    /// The slots in locality order: `order[new] = old`, a permutation of
    /// `0..slot_count()` that [`renumber`](Hnsw::renumber) applies. The same
    /// graph always gives the same order. It starts at the entry point (or,
    /// should that not reach every node, at the root of the spanning tree),
    /// and every later slot is reached by a level-0 edge from an earlier one.
    pub fn locality_order(&self) -> Result<Vec<u32>> {
        let mut nested = self.nested_order()?;
        if let Some(order) = self.rooted(&nested)? {
            return Ok(order);
        }
        // The entry point does not reach every node on level 0: start from
        // the root of the spanning tree instead, which does.
        if let Some(root) = self.parent.iter().position(|&p| p == NO_PARENT)
            && let Some(at) = nested.iter().position(|&s| s as usize == root)
        {
            nested[..=at].rotate_right(1);
            if let Some(order) = self.rooted(&nested)? {
                return Ok(order);
            }
        }
        // A graph that no node reaches whole (never one this crate built)
        // keeps its numbering.
        Ok((0..self.graph.len() as u32).collect())
    }

    /// `wanted` changed as little as needed for every slot after the first
    /// to be reached by a level-0 edge from an earlier one (which the file
    /// format asks of the spanning tree): a node none of whose in-neighbours
    /// is placed yet waits, and goes in, with every node waiting on it, just
    /// after the first one is. `None` if some node is never reached.
    fn rooted(&self, wanted: &[u32]) -> Result<Option<Vec<u32>>> {
        let g = &self.graph;
        let n = g.len();
        let mut flags: Vec<u8> = alloc::zeroed(n, "the slot order")?;
        let mut order = Vec::with_capacity(n);
        let mut ready: Vec<u32> = Vec::new();
        let place = |v: u32, order: &mut Vec<u32>, flags: &mut [u8], ready: &mut Vec<u32>| {
            flags[v as usize] |= PLACED;
            order.push(v);
            for &w in g.neighbors(v, 0) {
                let Some(f) = flags.get_mut(w as usize) else {
                    continue;
                };
                if *f & REACHED == 0 {
                    *f |= REACHED;
                    if *f & (WAITING | PLACED) == WAITING {
                        ready.push(w);
                    }
                }
            }
        };
        for &v in wanted {
            let f = flags[v as usize];
            if f & PLACED != 0 {
                continue;
            }
            if f & REACHED == 0 && !order.is_empty() {
                flags[v as usize] |= WAITING;
                continue;
            }
            place(v, &mut order, &mut flags, &mut ready);
            let mut head = 0;
            while let Some(&w) = ready.get(head) {
                head += 1;
                if flags[w as usize] & PLACED == 0 {
                    place(w, &mut order, &mut flags, &mut ready);
                }
            }
            ready.clear();
        }
        Ok((order.len() == n).then_some(order))
    }

    /// The order nested by levels (see the module's documentation), before
    /// [`rooted`](Self::rooted) makes it a valid numbering of the tree.
    fn nested_order(&self) -> Result<Vec<u32>> {
        let g = &self.graph;
        let n = g.len();
        let mut order: Vec<u32> = alloc::zeroed(n, "the slot order")?;
        let Some(entry) = self.entry.filter(|&e| (e as usize) < n) else {
            order.iter_mut().zip(0..).for_each(|(o, s)| *o = s);
            return Ok(order);
        };
        // `seeds` lays out the nodes of the level above the one being split;
        // the entry point alone stands above the top.
        let mut seeds = vec![entry];
        // The level a node was last claimed on, plus one (0: never).
        let mut claimed: Vec<u8> = alloc::zeroed(n, "the slot order")?;
        // Walk order of one level: (node, index of the seed that claimed it).
        let mut walk: Vec<(u32, u32)> = Vec::new();
        let mut counts: Vec<u32> = Vec::new();
        let top = self.max_level.min(super::MAX_LEVEL);
        for level in (0..=top).rev() {
            let stamp = level as u8 + 1;
            walk.clear();
            for (i, &s) in seeds.iter().enumerate() {
                claimed[s as usize] = stamp;
                walk.push((s, i as u32));
            }
            let mut head = 0;
            while let Some(&(node, seed)) = walk.get(head) {
                head += 1;
                for &nb in g.neighbors(node, level) {
                    let i = nb as usize;
                    if i < n && claimed[i] != stamp && g.level(nb) >= level {
                        claimed[i] = stamp;
                        walk.push((nb, seed));
                    }
                }
            }
            // Nodes of this level no walk reached, each a group of its own.
            let mut groups = seeds.len() as u32;
            for node in 0..n as u32 {
                if claimed[node as usize] != stamp && g.level(node) >= level {
                    walk.push((node, groups));
                    groups += 1;
                }
            }
            // Group by seed, keeping the walk order within a group.
            counts.clear();
            counts.resize(groups as usize + 1, 0);
            for &(_, seed) in &walk {
                counts[seed as usize + 1] += 1;
            }
            for i in 1..counts.len() {
                counts[i] += counts[i - 1];
            }
            let next = if level == 0 { &mut order } else { &mut seeds };
            next.clear();
            next.resize(walk.len(), 0);
            for &(node, seed) in &walk {
                let at = &mut counts[seed as usize];
                next[*at as usize] = node;
                *at += 1;
            }
        }
        Ok(order)
    }
}

impl<T: Element> Hnsw<MemoryStore<T>> {
    /// Renumber the slots so that neighbours in the graph sit near each
    /// other in the store, and so in a saved file: a search then reads fewer
    /// pages of a file opened lazily, and fewer scattered cache lines in
    /// memory. User ids, the graph's edges and every search result stay the
    /// same (up to the order of results at exactly equal distances, which
    /// follows the slots). Inserts and deletes work as before afterwards.
    ///
    /// It takes a walk over the graph and one pass over the vectors, moving
    /// them in place; the graph is rebuilt beside the old one. An index built
    /// with ids `0..n` keeps a table of its ids after renumbering.
    ///
    /// ```
    /// use vectrove_core::{Hnsw, Metric};
    /// let mut index = Hnsw::builder(2, Metric::L2).m(4).build()?;
    /// for i in 0..100u64 {
    ///     let x = (i * 37 % 100) as f32;
    ///     index.insert(i, &[x, (x * 0.7).sin()])?;
    /// }
    /// let before = index.search(&[42.0, 0.3], 5, 32)?;
    /// index.reorder()?;
    /// index.verify()?;
    /// assert_eq!(index.search(&[42.0, 0.3], 5, 32)?, before);
    /// assert_eq!(index.get(7)?, vec![59.0, (59.0f32 * 0.7).sin()]);
    /// # Ok::<(), vectrove_core::Error>(())
    /// ```
    pub fn reorder(&mut self) -> Result<()> {
        let order = self.locality_order()?;
        self.renumber(&order)
    }

    /// Renumber the slots by `order`: new slot `s` is old slot `order[s]`.
    /// `order` must be a permutation of `0..slot_count()`; anything else
    /// is an error and leaves the index unchanged.
    pub fn renumber(&mut self, order: &[u32]) -> Result<()> {
        let n = self.graph.len();
        if self.points.slot_count() != n || self.parent.len() != n {
            return Err(Error::InvalidParameter {
                name: "index",
                reason: "the graph and the points disagree on the number of slots".into(),
            });
        }
        if order.len() != n {
            return Err(Error::InvalidParameter {
                name: "order",
                reason: format!("{} slots for an index of {n}", order.len()),
            });
        }
        // `to_new[old] = new`; u32::MAX until a slot is named, so a repeat
        // or a slot out of range shows.
        let mut to_new: Vec<u32> = alloc::zeroed(n, "renumbering")?;
        to_new.iter_mut().for_each(|x| *x = u32::MAX);
        for (new, &old) in order.iter().enumerate() {
            match to_new.get_mut(old as usize) {
                Some(x) if *x == u32::MAX => *x = new as u32,
                _ => {
                    return Err(Error::InvalidParameter {
                        name: "order",
                        reason: format!("slot {old} out of range or named twice"),
                    });
                }
            }
        }
        let map = |s: u32| to_new.get(s as usize).copied();
        let bad_edge = || Error::InvalidParameter {
            name: "graph",
            reason: "an edge to a missing node".into(),
        };

        let old = &self.graph;
        let mut graph = Graph::new(self.params.m, self.params.m0);
        graph.reserve(n);
        let mut list = Vec::new();
        for (new, &o) in order.iter().enumerate() {
            let level = old.level(o);
            if !graph.can_push(level) {
                return Err(Error::StoreFull {
                    reason: "the upper levels of the graph are full".into(),
                });
            }
            let slot = graph.push(level);
            debug_assert_eq!(slot as usize, new);
            for l in 0..=level {
                list.clear();
                for &nb in old.neighbors(o, l) {
                    list.push(map(nb).ok_or_else(bad_edge)?);
                }
                if list.len() > graph.max_degree(l) {
                    return Err(Error::InvalidParameter {
                        name: "graph",
                        reason: "a neighbour list over its bound".into(),
                    });
                }
                graph.set_neighbors(slot, l, &list);
            }
        }
        // The spanning tree in the new numbering: a node keeps its parent
        // when that comes before it, else takes the first earlier node with
        // an edge to it. The first slot must be the root of the tree or the
        // entry point (which reaches the root by the entry links), so that
        // the entry point still reaches everything.
        let mut parent: Vec<u32> = alloc::zeroed(n, "renumbering")?;
        parent.iter_mut().for_each(|p| *p = NO_PARENT);
        for (new, &o) in order.iter().enumerate() {
            for &nb in old.neighbors(o, 0) {
                let t = map(nb).ok_or_else(bad_edge)? as usize;
                if t > new && parent[t] == NO_PARENT {
                    parent[t] = new as u32;
                }
            }
        }
        let bad_tree = |what: &str| Error::InvalidParameter {
            name: "order",
            reason: format!(
                "{what}: the first slot must be the entry point or the root, and every later \
                 one reached by a level-0 edge from an earlier one"
            ),
        };
        if let Some(&first) = order.first()
            && self.parent[first as usize] != NO_PARENT
            && self.entry != Some(first)
        {
            return Err(bad_tree("slot 0"));
        }
        for (new, &o) in order.iter().enumerate().skip(1) {
            let kept = match self.parent[o as usize] {
                NO_PARENT => None,
                q => map(q).filter(|&p| (p as usize) < new && old.neighbors(q, 0).contains(&o)),
            };
            match kept {
                Some(p) => parent[new] = p,
                None if parent[new] != NO_PARENT => {}
                None => return Err(bad_tree(&format!("slot {new}"))),
            }
        }
        if let Some(p) = parent.first_mut() {
            *p = NO_PARENT;
        }
        let entry_links = self
            .entry_links
            .iter()
            .map(|&(a, b)| Some((map(a)?, map(b)?)))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(bad_edge)?;
        let entry = match self.entry {
            Some(e) => Some(map(e).ok_or_else(bad_edge)?),
            None => None,
        };
        // The last step that can fail; it changes nothing when it does.
        self.points.permute(order)?;
        self.graph = graph;
        self.parent = parent;
        self.entry_links = entry_links;
        self.entry = entry;
        Ok(())
    }
}

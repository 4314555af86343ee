//! The proximity graph: compact `u32` neighbour lists per node and level.

use crate::error::{Error, Result};

/// Layer 0 holds every node in one flat array (`1 + m0` words a node: the
/// count, then the neighbours), so a search's hot loop touches one cache line
/// run per node. The upper levels of the few nodes that have them sit in a
/// second flat array (`1 + m` words a level), found by a binary search of
/// the (ascending) list of those nodes: about one node in `m` has upper
/// levels, so this costs a few bytes per such node and nothing for the rest.
#[derive(Clone, Debug, Default)]
pub(crate) struct Graph {
    m: usize,
    m0: usize,
    levels: Vec<u8>,
    base: Vec<u32>,
    /// The nodes with upper levels, ascending (nodes are added in order).
    upper_nodes: Vec<u32>,
    /// Where each of `upper_nodes`' lists start in `upper`.
    upper_at: Vec<u32>,
    upper: Vec<u32>,
}

impl Graph {
    pub(crate) fn new(m: usize, m0: usize) -> Self {
        Self {
            m,
            m0,
            ..Self::default()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.levels.len()
    }

    /// The neighbour bound at `level`.
    #[inline]
    pub(crate) fn max_degree(&self, level: usize) -> usize {
        if level == 0 { self.m0 } else { self.m }
    }

    pub(crate) fn level(&self, node: u32) -> usize {
        usize::from(self.levels[node as usize])
    }

    /// Whether a node of `level` fits (the upper array is addressed with u32).
    pub(crate) fn can_push(&self, level: usize) -> bool {
        self.upper.len() + level * (1 + self.m) <= u32::MAX as usize
    }

    /// Add a node with lists on levels `0..=level`, all empty (check
    /// [`can_push`](Self::can_push) first).
    pub(crate) fn push(&mut self, level: usize) -> u32 {
        let id = self.levels.len() as u32;
        self.levels.push(level as u8);
        self.base.resize(self.base.len() + 1 + self.m0, 0);
        if level > 0 {
            self.upper_nodes.push(id);
            self.upper_at.push(self.upper.len() as u32);
            self.upper
                .resize(self.upper.len() + level * (1 + self.m), 0);
        }
        id
    }

    pub(crate) fn reserve(&mut self, additional: usize) {
        self.levels.reserve(additional);
        self.base.reserve(additional * (1 + self.m0));
    }

    /// Where the upper lists of `node` (which has upper levels) start.
    #[inline]
    fn upper_start(&self, node: u32) -> usize {
        match self.upper_nodes.binary_search(&node) {
            Ok(i) => self.upper_at[i] as usize,
            // Callers check the node's level first.
            Err(_) => self.upper.len(),
        }
    }

    #[inline]
    fn list(&self, node: u32, level: usize) -> &[u32] {
        if level == 0 {
            let at = node as usize * (1 + self.m0);
            &self.base[at..at + 1 + self.m0]
        } else {
            let at = self.upper_start(node) + (level - 1) * (1 + self.m);
            // A node without this level (callers check first) has no neighbours.
            self.upper.get(at..at + 1 + self.m).unwrap_or(&[0])
        }
    }

    /// The neighbours of `node` at `level` (which must be at most its level).
    #[inline]
    pub(crate) fn neighbors(&self, node: u32, level: usize) -> &[u32] {
        let list = self.list(node, level);
        &list[1..1 + list[0] as usize]
    }

    /// Replace the neighbours of `node` at `level`; `ids` must fit the bound.
    pub(crate) fn set_neighbors(&mut self, node: u32, level: usize, ids: &[u32]) {
        let list = if level == 0 {
            let at = node as usize * (1 + self.m0);
            &mut self.base[at..at + 1 + self.m0]
        } else {
            let at = self.upper_start(node) + (level - 1) * (1 + self.m);
            &mut self.upper[at..at + 1 + self.m]
        };
        assert!(ids.len() < list.len(), "neighbour list over its bound");
        list[0] = ids.len() as u32;
        list[1..1 + ids.len()].copy_from_slice(ids);
    }

    /// Bytes held by the graph.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.levels.capacity()
            + self.base.capacity() * 4
            + self.upper_nodes.capacity() * 4
            + self.upper_at.capacity() * 4
            + self.upper.capacity() * 4
    }

    /// Check every structural invariant: lists within bounds, every edge to an
    /// existing node that has the level, no self-loops or repeated edges.
    pub(crate) fn validate(&self) -> Result<()> {
        let n = self.len() as u32;
        let bad = |reason: String| Error::InvalidParameter {
            name: "graph",
            reason,
        };
        for node in 0..n {
            for level in 0..=self.level(node) {
                let list = self.list(node, level);
                if list[0] as usize > self.max_degree(level) {
                    return Err(bad(format!(
                        "node {node} level {level}: {} neighbours",
                        list[0]
                    )));
                }
                let nbrs = self.neighbors(node, level);
                for (i, &nb) in nbrs.iter().enumerate() {
                    if nb >= n || nb == node || self.level(nb) < level {
                        return Err(bad(format!("node {node} level {level}: bad edge to {nb}")));
                    }
                    if nbrs[..i].contains(&nb) {
                        return Err(bad(format!(
                            "node {node} level {level}: repeated edge {nb}"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip() {
        let mut g = Graph::new(2, 4);
        let a = g.push(0);
        let b = g.push(2);
        let c = g.push(1);
        g.set_neighbors(a, 0, &[b, c]);
        g.set_neighbors(b, 1, &[c]);
        g.set_neighbors(b, 2, &[]);
        assert_eq!(g.neighbors(a, 0), &[b, c]);
        assert_eq!(g.neighbors(b, 1), &[c]);
        assert_eq!(g.neighbors(c, 0), &[] as &[u32]);
        g.validate().unwrap();
        g.set_neighbors(c, 1, &[a]); // a has no level 1
        assert!(g.validate().is_err());
    }
}

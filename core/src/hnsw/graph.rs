//! The proximity graph: compact `u32` neighbour lists per node and level.

use crate::alloc;
use crate::error::{Error, Result};
use crate::format::{corrupt, corrupt_n};

/// Bits of a list's header word that hold its neighbour count; the bits
/// above hold its capacity. Both are at most 2048 (the largest `m0`).
const COUNT_BITS: u32 = 16;
const COUNT_MASK: u32 = (1 << COUNT_BITS) - 1;

/// The error for a list that breaks an invariant.
#[cold]
#[inline(never)]
fn bad_list(node: u32, level: usize, what: &str) -> Error {
    Error::InvalidParameter {
        name: "graph",
        reason: format!("node {node} level {level}: {what}"),
    }
}

/// A list's header word.
#[inline]
fn header(count: usize, cap: usize) -> u32 {
    count as u32 | (cap as u32) << COUNT_BITS
}

/// Every node's lists sit together in one block of `words`, level 0 first,
/// then each upper level in turn: a header word (the neighbour count in the
/// low 16 bits, the list's capacity in the high 16) and `capacity` slots, of
/// which the first `count` are the neighbours. `at[node]` is where the
/// node's block starts, so a search's hot loop (level 0) reads one offset
/// and one run of words per node.
///
/// A node inserted in memory gets full capacities (`m0` on level 0, `m`
/// above), so its lists change in place. A node read from a file gets
/// exactly the room its lists use, so the graph's memory follows the file's
/// bytes rather than `m0` times the nodes; the first time one of its lists
/// must grow, the node's block is copied to the end of `words` with full
/// capacities (once per node; the old block is left unused).
#[derive(Clone, Debug, Default)]
pub(crate) struct Graph {
    m: usize,
    m0: usize,
    levels: Vec<u8>,
    at: Vec<usize>,
    words: Vec<u32>,
}

impl Graph {
    pub(crate) fn new(m: usize, m0: usize) -> Self {
        Self {
            m,
            m0,
            ..Self::default()
        }
    }

    /// The graph stored in a file: `levels` holds every node's level and
    /// `words`, for node after node and level 0 up to its level, a neighbour
    /// count and that many neighbours (the `GRPH` section's layout, which
    /// becomes this graph's `words` in place). Counts over their bound, and
    /// words missing or left over, are errors; the edges themselves are
    /// checked by [`validate`](Self::validate).
    pub(crate) fn from_file(
        m: usize,
        m0: usize,
        levels: Vec<u8>,
        mut words: Vec<u32>,
    ) -> Result<Self> {
        let mut at: Vec<usize> = alloc::zeroed(levels.len(), "the graph")?;
        let mut pos = 0usize;
        for (node, (start, &level)) in at.iter_mut().zip(&levels).enumerate() {
            *start = pos;
            for l in 0..=usize::from(level) {
                // A count past the end reads as too long a list.
                let n = words.get(pos).map_or(usize::MAX, |&n| n as usize);
                let bound = if l == 0 { m0 } else { m };
                if n > bound || words.len() - pos - 1 < n {
                    return Err(corrupt_n("graph", "a list too long at node", node as u64));
                }
                words[pos] = header(n, n);
                pos += 1 + n;
            }
        }
        if pos != words.len() {
            return Err(corrupt("graph", "unexpected trailing bytes"));
        }
        Ok(Self {
            m,
            m0,
            levels,
            at,
            words,
        })
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

    /// Words of a block with full capacities on levels `0..=level`.
    fn block_words(&self, level: usize) -> usize {
        1 + self.m0 + level * (1 + self.m)
    }

    /// Whether a node of `level` fits (the words stay addressable).
    pub(crate) fn can_push(&self, level: usize) -> bool {
        self.words
            .len()
            .checked_add(self.block_words(level))
            .is_some_and(|n| n <= isize::MAX as usize / 4)
    }

    /// Append a block with full capacities for lists on levels
    /// `0..=level`, copying into it the lists of `from` (a node of that
    /// level) if given, and return where it starts.
    fn push_block(&mut self, level: usize, from: Option<u32>) -> usize {
        let start = self.words.len();
        self.words.resize(start + self.block_words(level), 0);
        let mut to = start;
        for l in 0..=level {
            let cap = self.max_degree(l);
            let mut n = 0;
            if let Some(node) = from {
                let old = self.list_start(node, l);
                n = (self.words[old] & COUNT_MASK) as usize;
                self.words.copy_within(old + 1..old + 1 + n, to + 1);
            }
            self.words[to] = header(n, cap);
            to += 1 + cap;
        }
        start
    }

    /// Add a node with lists on levels `0..=level`, all empty (check
    /// [`can_push`](Self::can_push) first).
    pub(crate) fn push(&mut self, level: usize) -> u32 {
        let id = self.levels.len() as u32;
        let start = self.push_block(level, None);
        self.levels.push(level as u8);
        self.at.push(start);
        id
    }

    pub(crate) fn reserve(&mut self, additional: usize) {
        self.levels.reserve(additional);
        self.at.reserve(additional);
        self.words.reserve(additional.saturating_mul(1 + self.m0));
    }

    /// Where the list of `node` at `level` (at most its level) starts.
    #[inline]
    fn list_start(&self, node: u32, level: usize) -> usize {
        let mut at = self.at[node as usize];
        for _ in 0..level {
            at += 1 + (self.words[at] >> COUNT_BITS) as usize;
        }
        at
    }

    /// A hint that the lists of `node` will be read soon: fetch where they
    /// start (the block itself follows once that is known).
    #[inline]
    pub(crate) fn prefetch(&self, node: u32) {
        crate::simd::prefetch(self.at.as_ptr().wrapping_add(node as usize));
    }

    /// A hint that the level-0 list of `node` will be read soon: fetch its
    /// first lines (where it starts is usually cached already).
    #[inline]
    pub(crate) fn prefetch_list(&self, node: u32) {
        if let Some(&at) = self.at.get(node as usize) {
            let p = self.words.as_ptr().wrapping_add(at);
            crate::simd::prefetch(p);
            crate::simd::prefetch(p.wrapping_add(16));
        }
    }

    /// The neighbours of `node` at `level` (none if the node lacks the level).
    #[inline]
    pub(crate) fn neighbors(&self, node: u32, level: usize) -> &[u32] {
        if level > 0 && level > self.level(node) {
            return &[];
        }
        let at = self.list_start(node, level);
        let n = (self.words[at] & COUNT_MASK) as usize;
        &self.words[at + 1..at + 1 + n]
    }

    /// Replace the neighbours of `node` at `level` (at most its level); `ids`
    /// must fit the level's bound.
    pub(crate) fn set_neighbors(&mut self, node: u32, level: usize, ids: &[u32]) {
        assert!(
            ids.len() <= self.max_degree(level) && level <= self.level(node),
            "neighbour list over its bound"
        );
        let mut at = self.list_start(node, level);
        if ids.len() > (self.words[at] >> COUNT_BITS) as usize {
            let start = self.push_block(self.level(node), Some(node));
            self.at[node as usize] = start;
            at = self.list_start(node, level);
        }
        let cap = (self.words[at] >> COUNT_BITS) as usize;
        self.words[at] = header(ids.len(), cap);
        self.words[at + 1..at + 1 + ids.len()].copy_from_slice(ids);
    }

    /// Bytes held by the graph.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.levels.capacity() + self.at.capacity() * size_of::<usize>() + self.words.capacity() * 4
    }

    /// Check every structural invariant: lists within bounds, every edge to an
    /// existing node that has the level, no self-loops or repeated edges. The
    /// work is proportional to the edges.
    pub(crate) fn validate(&self) -> Result<()> {
        let n = self.len() as u32;
        // One bit per node, set while its list is being checked.
        let mut seen: Vec<u8> = alloc::zeroed(self.len().div_ceil(8), "checking the graph")?;
        for node in 0..n {
            for level in 0..=self.level(node) {
                let head = self.words[self.list_start(node, level)];
                if (head & COUNT_MASK) as usize > self.max_degree(level) {
                    return Err(bad_list(node, level, "too many neighbours"));
                }
                let nbrs = self.neighbors(node, level);
                let mut result = Ok(());
                for &nb in nbrs {
                    if nb >= n || nb == node || self.level(nb) < level {
                        result = Err(bad_list(node, level, "an edge to a node without the level"));
                        break;
                    }
                    let (w, bit) = (nb as usize / 8, 1u8 << (nb % 8));
                    if seen[w] & bit != 0 {
                        result = Err(bad_list(node, level, "a repeated edge"));
                        break;
                    }
                    seen[w] |= bit;
                }
                for &nb in nbrs {
                    if let Some(w) = seen.get_mut(nb as usize / 8) {
                        *w = 0;
                    }
                }
                result?;
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
        assert_eq!(g.neighbors(a, 1), &[] as &[u32], "a has no level 1");
        g.validate().unwrap();
        g.set_neighbors(c, 1, &[a]); // a has no level 1
        assert!(g.validate().is_err());
    }

    /// The lists of a file take the room they use; growing one moves the
    /// node's block, keeping every other list as it was.
    #[test]
    fn lists_from_a_file_are_exact_and_grow() {
        // Node 0 (level 1): [1] on level 0, [] on level 1; node 1 (level 1):
        // [0] and []; node 2 (level 0): [].
        let words = vec![1, 1, 0, 1, 0, 0, 0];
        let mut g = Graph::from_file(2, 4, vec![1, 1, 0], words).unwrap();
        g.validate().unwrap();
        assert_eq!(g.heap_bytes(), 3 + 3 * size_of::<usize>() + 7 * 4);
        assert_eq!(g.neighbors(0, 0), &[1]);
        assert_eq!(g.neighbors(1, 0), &[0]);
        g.set_neighbors(0, 0, &[1, 2]);
        g.set_neighbors(0, 1, &[1]);
        g.set_neighbors(2, 0, &[0, 1, 1]);
        assert_eq!(g.neighbors(0, 0), &[1, 2]);
        assert_eq!(g.neighbors(0, 1), &[1]);
        assert_eq!(g.neighbors(1, 0), &[0]);
        assert_eq!(g.neighbors(1, 1), &[] as &[u32]);
        assert!(g.validate().is_err(), "node 2 repeats an edge");
        g.set_neighbors(2, 0, &[0, 1]);
        g.validate().unwrap();
        // Once moved, a node's lists have full room: no further move.
        let words = g.words.len();
        g.set_neighbors(0, 0, &[1, 2]);
        g.set_neighbors(0, 1, &[1, 2]);
        assert_eq!(g.words.len(), words);
    }

    #[test]
    fn bad_file_lists_are_errors() {
        for (levels, words) in [
            (vec![0], vec![]),                 // no count
            (vec![0], vec![2, 0]),             // a neighbour missing
            (vec![0], vec![5, 1, 2, 3, 4, 5]), // over m0
            (vec![0], vec![0, 0]),             // a word left over
            (vec![1], vec![0, 3, 0, 0, 0]),    // over m on level 1
        ] {
            assert!(Graph::from_file(2, 4, levels, words).is_err());
        }
    }
}

//! Saving an HNSW index in the file format and loading it back.

use std::io::Write;
use std::sync::Mutex;

use super::read::PointsFile;
use super::write::finish_index;
use super::{
    Header, IndexKind, Reader, VectorChecksums, Writer, corrupt, corrupt_n, le_u32s, tag, u32s,
};
use crate::distance::Element;
use crate::error::{Error, Result};
use crate::hnsw::{Graph, Hnsw, HnswParams, MAX_LEVEL, NO_PARENT};
use crate::rng::SplitMix64;
use crate::store::{FeatureStore, MemoryStore};

/// Every section an HNSW file has.
pub(super) const SECTIONS: [[u8; 4]; 12] = [
    tag::PARAMS,
    tag::LEVELS,
    tag::GRAPH,
    tag::PARENTS,
    tag::ENTRY_LINKS,
    tag::IDS,
    tag::DELETED,
    tag::VECTOR_SUMS,
    tag::VECTORS,
    tag::QUANT_PARAMS,
    tag::CODES,
    tag::CODE_SUMS,
];

/// A decoded HNSW file without its vectors: everything needed to serve
/// searches once a store for the vectors is attached with
/// [`into_index`](Self::into_index).
#[derive(Debug)]
pub struct HnswFile {
    points: PointsFile,
    params: HnswParams,
    entry: Option<u32>,
    max_level: usize,
    rng: SplitMix64,
    graph: Graph,
    parent: Vec<u32>,
    entry_links: Vec<(u32, u32)>,
}

impl<S: FeatureStore> Hnsw<S> {
    /// Write the index in the file format (`docs/format.md`). The store's
    /// vectors must all be readable synchronously.
    pub fn write_to<W: Write>(&self, out: &mut W) -> Result<()> {
        self.write_file(out)
    }

    /// [`write_to`](Self::write_to) through one writer type, so the encoder
    /// is compiled once whatever the caller writes to.
    pub(crate) fn write_file(&self, out: &mut dyn Write) -> Result<()> {
        let count = self.points.slot_count();
        if self.dim() > crate::format::MAX_DIM || count >= u32::MAX as usize {
            return Err(Error::InvalidParameter {
                name: "index",
                reason: format!(
                    "the file format holds at most {} dimensions and 2^32 - 2 points",
                    crate::format::MAX_DIM
                ),
            });
        }

        let mut w = Writer::new(
            IndexKind::Hnsw,
            super::write::elem_code(&self.points.store),
            self.metric(),
            self.dim(),
            count,
        );
        let mut params = Vec::with_capacity(40);
        for x in [
            self.params.m,
            self.params.m0,
            self.params.ef_construction,
            self.max_level,
        ] {
            params.extend_from_slice(&(x as u32).to_le_bytes());
        }
        params.extend_from_slice(&self.params.seed.to_le_bytes());
        params.extend_from_slice(&self.rng.state().to_le_bytes());
        params.extend_from_slice(&self.entry.unwrap_or(u32::MAX).to_le_bytes());
        params.extend_from_slice(&[0; 4]);
        w.section(tag::PARAMS, params);
        w.section(
            tag::LEVELS,
            (0..count as u32)
                .map(|n| self.graph.level(n) as u8)
                .collect(),
        );
        let mut graph = Vec::new();
        for node in 0..count as u32 {
            for l in 0..=self.graph.level(node) {
                let nb = self.graph.neighbors(node, l);
                graph.extend_from_slice(&(nb.len() as u32).to_le_bytes());
                for &x in nb {
                    graph.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
        w.section(tag::GRAPH, graph);
        w.section(tag::PARENTS, u32s(self.parent.iter().copied()));
        w.section(
            tag::ENTRY_LINKS,
            u32s(self.entry_links.iter().flat_map(|&(a, b)| [a, b])),
        );
        finish_index(w, out, &self.points)
    }

    /// The index as file bytes (see [`write_to`](Self::write_to)).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }
}

impl<T: Element> Hnsw<MemoryStore<T>> {
    /// Load an index from file bytes into memory, checking every section.
    ///
    /// ```
    /// use vectrove_core::{Hnsw, Metric};
    /// let mut index = Hnsw::builder(2, Metric::L2).build()?;
    /// index.insert(7, &[1.0, 2.0])?;
    /// let bytes = index.to_bytes()?;
    /// let copy: Hnsw = Hnsw::from_bytes(&bytes)?;
    /// assert_eq!(copy.search(&[1.0, 2.0], 1, 8)?[0].id, 7);
    /// # Ok::<(), vectrove_core::Error>(())
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (file, store) = super::read::whole_file::<T>(bytes, IndexKind::Hnsw)?;
        file.into_index(store)?.into_hnsw()
    }
}

impl HnswFile {
    /// Decode and check everything but the vectors. `meta` is the start of
    /// the file, at least [`Header::meta_len`] bytes, or the metadata as
    /// [`read_meta`](crate::format::read_meta) returns it (without the
    /// optional sections this build does not know).
    pub fn decode(header: Header, meta: &[u8]) -> Result<Self> {
        header.check_kind(IndexKind::Hnsw)?;
        header.check_known(&SECTIONS)?;
        header.check_padding(meta)?;
        let count = header.count;

        let mut r = Reader::new(
            header.section_bytes(meta, tag::PARAMS, "parameters")?,
            "parameters",
        );
        let params = HnswParams {
            m: r.u32()? as usize,
            m0: r.u32()? as usize,
            ef_construction: r.u32()? as usize,
            seed: 0,
        };
        let max_level = r.u32()? as usize;
        let params = HnswParams {
            seed: r.u64()?,
            ..params
        };
        let rng = SplitMix64::from_state(r.u64()?);
        let entry = r.u32()?;
        r.take(4)?;
        r.finish()?;
        params
            .validate()
            .map_err(|e| corrupt("parameters", e.to_string()))?;
        if max_level > MAX_LEVEL {
            return Err(corrupt_n("parameters", "top level", max_level as u64));
        }
        let entry = match (entry, count) {
            (u32::MAX, 0) => None,
            (e, c) if (e as usize) < c => Some(e),
            _ => {
                return Err(corrupt_n(
                    "parameters",
                    "entry point out of range:",
                    entry.into(),
                ));
            }
        };

        let levels = header.section_bytes(meta, tag::LEVELS, "levels")?;
        if levels.len() != count {
            return Err(corrupt_n(
                "levels",
                "wrong number of levels:",
                levels.len() as u64,
            ));
        }
        if let Some(&bad) = levels.iter().find(|&&l| usize::from(l) > max_level) {
            return Err(corrupt_n(
                "levels",
                "a level above the top level:",
                bad.into(),
            ));
        }
        if let Some(e) = entry
            && usize::from(levels[e as usize]) != max_level
        {
            return Err(corrupt("levels", "the entry point is not on the top level"));
        }

        // The graph in memory takes the words of the file's lists, so its
        // size follows the section's bytes, whatever `m0` or the levels say.
        let levels = super::copy_bytes(levels, "the levels")?;
        let bytes = header.section_bytes(meta, tag::GRAPH, "graph")?;
        if bytes.len() % 4 != 0 {
            return Err(corrupt("graph", "not a whole number of words"));
        }
        let words = le_u32s(bytes, "the graph")?;
        let graph = Graph::from_file(params.m, params.m0, levels, words)?;
        graph
            .validate()
            .map_err(|e| corrupt("graph", e.to_string()))?;

        let bytes = header.section_bytes(meta, tag::PARENTS, "parents")?;
        if bytes.len() != 4 * count {
            return Err(corrupt("parents", "wrong length"));
        }
        let parent: Vec<u32> = le_u32s(bytes, "the parents")?;
        check_tree(&graph, &parent)?;

        let bytes = header.section_bytes(meta, tag::ENTRY_LINKS, "entry links")?;
        // Each link records the entry point moving up a level.
        if bytes.len() % 8 != 0 || bytes.len() / 8 > MAX_LEVEL {
            return Err(corrupt("entry links", "wrong length"));
        }
        let mut entry_links = Vec::with_capacity(bytes.len() / 8);
        for c in bytes.chunks_exact(8) {
            let a = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            let b = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
            if a as usize >= count || b as usize >= count || !graph.neighbors(a, 0).contains(&b) {
                return Err(corrupt("entry links", "not an edge of the graph"));
            }
            entry_links.push((a, b));
        }

        let points = PointsFile::decode(header, meta)?;

        Ok(Self {
            params,
            entry,
            max_level,
            rng,
            graph,
            parent,
            entry_links,
            points,
        })
    }

    /// What every kind's file holds about its points.
    pub(crate) fn points(&self) -> &PointsFile {
        &self.points
    }

    /// The file's header.
    pub fn header(&self) -> &Header {
        &self.points.header
    }

    /// The checksums of the vectors section, for stores that verify what they load.
    pub fn vector_checksums(&self) -> &VectorChecksums {
        &self.points.sums
    }

    /// The index over `store`, which must hold the file's vectors (same
    /// element type, dimension and count).
    pub fn into_index<S: FeatureStore>(self, store: S) -> Result<Hnsw<S>> {
        let (points, dist) = self.points.into_points(store)?;
        Ok(Hnsw {
            params: self.params,
            dist,
            points,
            graph: self.graph,
            parent: self.parent,
            entry_links: self.entry_links,
            entry: self.entry,
            max_level: self.max_level,
            rng: self.rng,
            visited_pool: Mutex::new(Vec::new()),
            build_on_codes: true,
        })
    }
}

/// Check the spanning tree that keeps every node reachable: every node but
/// the first is reached from an older node whose level-0 list holds it.
fn check_tree(graph: &Graph, parent: &[u32]) -> Result<()> {
    for (v, &p) in parent.iter().enumerate() {
        let ok = if v == 0 {
            p == NO_PARENT
        } else {
            (p as usize) < v && graph.neighbors(p, 0).contains(&(v as u32))
        };
        if !ok {
            return Err(corrupt_n(
                "parents",
                "no valid parent link for node",
                v as u64,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four nodes on level 0 with the given out-lists.
    fn graph(lists: [&[u32]; 4]) -> Graph {
        let mut g = Graph::new(4, 8);
        for (node, list) in lists.iter().enumerate() {
            assert_eq!(g.push(0) as usize, node);
            g.set_neighbors(node as u32, 0, list);
        }
        g
    }

    #[test]
    fn every_parent_is_an_older_node_with_an_edge() {
        let g = graph([&[1, 2], &[3], &[1, 3], &[2]]);
        let m = NO_PARENT;
        check_tree(&g, &[m, 0, 0, 1]).unwrap();
        check_tree(&g, &[m, 0, 0, 2]).unwrap();
        // Younger, not an edge, a second root, past the nodes, a parent for node 0.
        for bad in [
            [m, 2, 0, 1],
            [m, 0, 0, 0],
            [m, m, 0, 1],
            [m, 0, 0, 9],
            [1, 0, 0, 1],
        ] {
            assert!(check_tree(&g, &bad).is_err(), "{bad:?}");
        }
        check_tree(&Graph::new(4, 8), &[]).unwrap();
    }
}

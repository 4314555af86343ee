//! The rust-cv `hnsw` crate (v0.11), the seed's index, wrapped for the sweep.
//! Only its public API is called; nothing of it is copied here.

use hnsw::{Hnsw, Params, Searcher};
use rand_pcg::Pcg64;
use space::{Metric, Neighbor};
use vectrove_core::distance;

use crate::data::DIM;

/// A stored point: the peer keeps its features by value in a `Vec<T>`.
pub type Point = [f32; DIM];

/// Cosine distance over unit vectors, `1 - a·b`, computed with the same SIMD
/// dot product vectrove uses, so the comparison measures the index and not
/// the kernel.
#[derive(Clone, Copy, Debug, Default)]
pub struct CosineDot;

impl Metric<Point> for CosineDot {
    // The peer wants an unsigned, totally ordered unit. The bits of a
    // non-negative IEEE float order like its value, hence the clamp at zero
    // (rounding can make `1 - a·a` slightly negative).
    type Unit = u32;

    fn distance(&self, a: &Point, b: &Point) -> u32 {
        (1.0 - distance::inner_product(a, b)).max(0.0).to_bits()
    }
}

/// The peer's index with M = 16 and M0 = 32 (const generics in its API).
pub type PeerIndex = Hnsw<CosineDot, Point, Pcg64, 16, 32>;

/// The peer index with its reusable search scratch.
pub struct Peer {
    index: PeerIndex,
    searcher: Searcher<u32>,
    dest: Vec<Neighbor<u32>>,
}

impl Peer {
    /// Build from `base` (`DIM`-d vectors back to back, normalised here, as
    /// vectrove does for cosine) by inserting one at a time on this thread,
    /// with a PCG level generator seeded from `seed`.
    pub fn build(base: &[f32], ef_construction: usize, seed: u64) -> Self {
        let params = Params::new().ef_construction(ef_construction);
        let mut index =
            PeerIndex::new_params_and_prng(CosineDot, params, Pcg64::new(u128::from(seed), 0));
        let mut searcher = Searcher::default();
        for v in base.chunks_exact(DIM) {
            index.insert(unit_point(v), &mut searcher);
        }
        Self {
            index,
            searcher,
            dest: Vec::new(),
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The row numbers of the (up to) `k` nearest points to `query`
    /// (already unit length), nearest first, searching with beam width `ef`.
    pub fn search(&mut self, query: &Point, k: usize, ef: usize) -> Vec<u64> {
        let empty = Neighbor {
            index: !0,
            distance: !0,
        };
        self.dest.clear();
        self.dest.resize(k, empty);
        self.index
            .nearest(query, ef, &mut self.searcher, &mut self.dest)
            .iter()
            .map(|n| n.index as u64)
            .collect()
    }
}

/// `v` scaled to unit length, as a peer point.
///
/// # Panics
/// If `v` is not `DIM` long or is zero.
pub fn unit_point(v: &[f32]) -> Point {
    let mut p: Point = v.try_into().expect("a peer point has DIM values");
    distance::normalize(&mut p).expect("benchmark vectors are non-zero");
    p
}

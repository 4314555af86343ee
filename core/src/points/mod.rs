//! The points table every index kind embeds: the vectors' store, the metric,
//! the user id of every slot and the tombstones of deleted ones, with the
//! checks on input that do not depend on how the index searches.
//!
//! An index kind adds its own structure over the slots (a graph, inverted
//! lists) and asks the table for everything about a point itself.

pub(crate) mod ids;

use crate::distance::{Element, Metric};
use crate::error::{Error, Result};
use crate::quant::{Codes, Quant, Quantization, Sq8, TRAIN_AT};
use crate::store::{Access, FeatureStore, FeatureStoreMut, MemoryStore, copy_vector};
use ids::Ids;

/// Slots are `u32`, and `u32::MAX` marks "no slot" in the file format.
pub(crate) const MAX_POINTS: usize = u32::MAX as usize - 1;

/// Vectors, ids and tombstones of one index.
pub(crate) struct Points<S: FeatureStore> {
    pub(crate) store: S,
    pub(crate) metric: Metric,
    /// User id of every slot, and the slot of every live id.
    pub(crate) ids: Ids,
    /// Tombstones, one bit a slot.
    pub(crate) deleted: Vec<u64>,
    n_deleted: usize,
    /// Compact codes for traversal, if the index has them.
    pub(crate) quant: Quant,
}

impl<S: FeatureStore> Points<S> {
    /// An empty table over `store`, which must be empty.
    pub(crate) fn new(store: S, metric: Metric) -> Result<Self> {
        if !store.is_empty() {
            return Err(Error::InvalidParameter {
                name: "store",
                reason: "a new index needs an empty store".into(),
            });
        }
        Ok(Self::from_parts(store, metric, Ids::default(), Vec::new()))
    }

    /// A table from decoded parts (a file's ids and deletion bits).
    pub(crate) fn from_parts(store: S, metric: Metric, ids: Ids, deleted: Vec<u64>) -> Self {
        let n_deleted = deleted.iter().map(|w| w.count_ones() as usize).sum();
        Self {
            store,
            metric,
            ids,
            deleted,
            n_deleted,
            quant: Quant::None,
        }
    }

    /// Elements per vector.
    pub(crate) fn dim(&self) -> usize {
        self.store.dim()
    }

    /// Live points.
    pub(crate) fn len(&self) -> usize {
        self.ids.len() - self.n_deleted
    }

    /// Slots in use, deleted ones included.
    pub(crate) fn slot_count(&self) -> usize {
        self.ids.len()
    }

    /// The ids of the live points, in slot order.
    pub(crate) fn live_ids(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.slot_count() as u32)
            .filter(|&s| !self.is_deleted(s))
            .map(|s| self.id(s))
    }

    /// Whether `id` is a live point.
    pub(crate) fn contains(&self, id: u64) -> bool {
        self.ids.slot(id, &self.deleted).is_some()
    }

    /// The user id of `slot` (below [`slot_count`](Self::slot_count)).
    #[inline]
    pub(crate) fn id(&self, slot: u32) -> u64 {
        self.ids.id(slot)
    }

    /// Whether `slot` holds a deleted point.
    #[inline]
    pub(crate) fn is_deleted(&self, slot: u32) -> bool {
        ids::is_deleted(&self.deleted, slot)
    }

    /// The stored vector of a live `id`.
    pub(crate) fn get(&self, id: u64) -> Result<Vec<S::Elem>> {
        let slot = self
            .ids
            .slot(id, &self.deleted)
            .ok_or(Error::UnknownId { id })?;
        let mut out = Vec::with_capacity(self.dim());
        match copy_vector(&self.store, slot, &mut out)? {
            Access::Ready(()) => Ok(out),
            Access::Missing => Err(Error::NotResident { count: 1 }),
        }
    }

    /// Delete a live `id`; its slot stays, marked.
    pub(crate) fn delete(&mut self, id: u64) -> Result<u32> {
        let slot = self.ids.delete(id, &mut self.deleted)?;
        self.n_deleted += 1;
        Ok(slot)
    }

    /// Check a vector's length and values and put it in stored form
    /// (normalised for cosine).
    pub(crate) fn prepare(&self, v: &[S::Elem]) -> Result<Vec<S::Elem>> {
        if v.len() != self.dim() {
            return Err(Error::DimensionMismatch {
                expected: self.dim(),
                got: v.len(),
            });
        }
        let mut out = Vec::with_capacity(v.len());
        S::Elem::prepare(self.metric, v, &mut out)?;
        Ok(out)
    }

    /// Check a batch (`vectors` holds one vector per id, every id new and
    /// distinct, room left for all) and put its vectors in stored form, back
    /// to back.
    pub(crate) fn prepare_flat(&self, ids: &[u64], vectors: &[S::Elem]) -> Result<Vec<S::Elem>> {
        let dim = self.dim();
        ids::check_new(ids, vectors.len(), dim, |id| self.contains(id))?;
        self.check_room(ids.len())?;
        let mut out = Vec::with_capacity(vectors.len());
        let mut one = Vec::with_capacity(dim);
        for v in vectors.chunks_exact(dim) {
            S::Elem::prepare(self.metric, v, &mut one)?;
            out.extend_from_slice(&one);
        }
        // Values the store cannot keep (beyond the range of f16) are
        // refused before anything is inserted.
        crate::store::check_storable(self.store.vector_type(), &out)?;
        Ok(out)
    }

    /// [`prepare_flat`](Self::prepare_flat), one vector apiece.
    pub(crate) fn prepare_batch(
        &self,
        ids: &[u64],
        vectors: &[S::Elem],
    ) -> Result<Vec<Vec<S::Elem>>> {
        let flat = self.prepare_flat(ids, vectors)?;
        Ok(flat.chunks_exact(self.dim()).map(<[_]>::to_vec).collect())
    }

    /// Whether `more` points still fit in the `u32` slots.
    pub(crate) fn check_room(&self, more: usize) -> Result<()> {
        if self.ids.len().saturating_add(more) > MAX_POINTS {
            return Err(Error::StoreFull {
                reason: "the index holds 2^32 - 1 points".into(),
            });
        }
        Ok(())
    }

    /// Record `id` for the slot just pushed to the store.
    pub(crate) fn record(&mut self, id: u64) {
        self.ids.push(id, &self.deleted);
        if self.deleted.len() * 64 < self.ids.len() {
            self.deleted.push(0);
        }
    }

    /// Heap bytes of the ids, tombstones and codes (not the store).
    pub(crate) fn heap_bytes(&self) -> usize {
        let codes = match &self.quant {
            Quant::Trained(c) => c.heap_bytes(),
            _ => 0,
        };
        self.ids.heap_bytes() + self.deleted.capacity() * 8 + codes
    }

    /// The codes to search with: trained, one for every slot.
    #[inline]
    pub(crate) fn codes(&self) -> Option<&Codes> {
        self.quant.complete(self.slot_count())
    }

    /// Train `kind` on every stored vector now and encode them all; later
    /// inserts are encoded with the same parameters.
    pub(crate) fn quantize(&mut self, kind: Quantization) -> Result<()> {
        let codes = self.train_codes(kind, self.slot_count(), std::iter::empty())?;
        self.quant = Quant::Trained(codes);
        Ok(())
    }

    /// A quantiser of `kind` trained on the first `n` stored vectors and the
    /// vectors of `batch` (the smallest and largest value of every
    /// dimension), with the codes of the `n` stored ones.
    fn train_codes<'b>(
        &self,
        kind: Quantization,
        n: usize,
        batch: impl IntoIterator<Item = &'b [S::Elem]>,
    ) -> Result<Codes>
    where
        S::Elem: 'b,
    {
        let mut lo = Vec::new();
        let mut hi = Vec::new();
        let mut widen = |v: &[S::Elem]| -> Result<()> {
            let v = S::Elem::as_f32(v).ok_or_else(not_real::<S::Elem>)?;
            if lo.is_empty() {
                lo = v.to_vec();
                hi = v.to_vec();
            }
            for ((l, h), &x) in lo.iter_mut().zip(hi.iter_mut()).zip(v) {
                *l = l.min(x);
                *h = h.max(x);
            }
            Ok(())
        };
        for slot in 0..n as u32 {
            match self.store.with_vector(slot, &mut widen)? {
                Access::Ready(r) => r?,
                Access::Missing => return Err(Error::NotResident { count: 1 }),
            }
        }
        for v in batch {
            widen(v)?;
        }
        if lo.is_empty() {
            if S::Elem::as_f32(&[S::Elem::default()]).is_none() {
                return Err(not_real::<S::Elem>());
            }
            return Err(Error::InvalidParameter {
                name: "quantize",
                reason: "the index holds no vectors to train the quantiser on".into(),
            });
        }
        let sq = Sq8::train_top(self.dim(), [&lo, &hi], kind.top())?;
        let mut codes = Codes::new(kind, sq, self.metric);
        encode_slots(&self.store, &mut codes, n)?;
        Ok(codes)
    }

    /// Choose `kind` for an index that has no vectors yet: the quantiser
    /// trains itself once the index holds [`TRAIN_AT`] points.
    pub(crate) fn quantize_later(&mut self, kind: Quantization) -> Result<()> {
        if S::Elem::as_f32(&[S::Elem::default()]).is_none() {
            return Err(not_real::<S::Elem>());
        }
        self.quant = Quant::Pending(kind);
        Ok(())
    }

    /// Bring the codes up to the slots: train a pending quantiser once
    /// there are enough points, encode the slots inserted since. A store
    /// that cannot produce a vector now (or memory running out) leaves the
    /// codes behind, and searches then go without them until a later call
    /// catches up.
    pub(crate) fn sync_codes(&mut self) -> Result<()> {
        self.sync_codes_to(self.slot_count(), std::iter::empty())
    }

    /// [`sync_codes`](Self::sync_codes) for the first `n` stored vectors (a
    /// build stores its vectors before it records their ids), a pending
    /// quantiser also trained on `batch`, vectors about to be stored.
    fn sync_codes_to<'b>(
        &mut self,
        n: usize,
        batch: impl IntoIterator<Item = &'b [S::Elem]>,
    ) -> Result<()>
    where
        S::Elem: 'b,
    {
        if let Quant::Pending(kind) = self.quant {
            let batch: Vec<&[S::Elem]> = batch.into_iter().collect();
            if n + batch.len() < TRAIN_AT {
                return Ok(());
            }
            self.quant = Quant::Trained(self.train_codes(kind, n, batch)?);
            return Ok(());
        }
        let Quant::Trained(codes) = &mut self.quant else {
            return Ok(());
        };
        if codes.len() > n {
            codes.truncate(n);
        }
        encode_slots(&self.store, codes, n)
    }

    /// The codes a build traverses on while it links vectors: the first
    /// `n` stored ones, of which the last `fresh` are the build's, and then
    /// those of `batch`, which it stores one by one, each added with
    /// [`push_link_code`](Self::push_link_code) (the concurrent build stores
    /// them all first: `batch` is empty). They are the index's own 8-bit
    /// codes (trained now if they were waiting for data, on the vectors
    /// they would have been trained on), or, for an index without them,
    /// 8-bit codes made for the build alone. Exact when the vectors are not
    /// `f32`, there are fewer than [`TRAIN_AT`] in all, or the codes cannot
    /// be made (memory): codes only make the build faster. Codes for the
    /// build alone are made only when it adds at least as many points as
    /// the index held before, so that encoding the old ones costs less than
    /// the build saves: small builds into a large index stay exact.
    #[cfg(feature = "parallel")]
    pub(crate) fn link_codes<'b>(
        &mut self,
        n: usize,
        fresh: usize,
        batch: impl IntoIterator<Item = &'b [S::Elem]> + Clone,
    ) -> LinkCodes
    where
        S::Elem: 'b,
    {
        let old = n - fresh.min(n);
        let new = n - old + batch.clone().into_iter().count();
        if old + new < TRAIN_AT || S::Elem::as_f32(&[S::Elem::default()]).is_none() {
            return LinkCodes::Exact;
        }
        if self.quant.kind() == Some(Quantization::Sq8) {
            return match self.sync_codes_to(n, batch) {
                Ok(()) if matches!(&self.quant, Quant::Trained(c) if c.len() == n) => {
                    LinkCodes::Own
                }
                _ => LinkCodes::Exact,
            };
        }
        if new < old {
            return LinkCodes::Exact;
        }
        match self.train_codes(Quantization::Sq8, n, batch) {
            Ok(codes) => LinkCodes::Temporary(codes),
            Err(_) => LinkCodes::Exact,
        }
    }

    /// Add the code of `v`, the vector just stored, to the codes of `link`;
    /// a failure (memory) turns the rest of the build exact.
    pub(crate) fn push_link_code(&mut self, link: &mut LinkCodes, v: &[S::Elem]) {
        let codes = match link {
            LinkCodes::Own => match &mut self.quant {
                Quant::Trained(c) => c,
                _ => return *link = LinkCodes::Exact,
            },
            LinkCodes::Temporary(c) => c,
            LinkCodes::Exact => return,
        };
        let pushed = S::Elem::as_f32(v).map(|v| codes.push(v));
        if !matches!(pushed, Some(Ok(()))) {
            *link = LinkCodes::Exact;
        }
    }

    /// Forget the codes of `link` from slot `n` on (an insert undone).
    pub(crate) fn truncate_link_codes(&mut self, link: &mut LinkCodes, n: usize) {
        match (link, &mut self.quant) {
            (LinkCodes::Own, Quant::Trained(c)) | (LinkCodes::Temporary(c), _) => c.truncate(n),
            _ => {}
        }
    }

    /// The codes `link` stands for, if they cover the first `n` slots (see
    /// [`link_codes`](Self::link_codes)).
    pub(crate) fn link_codes_ref<'a>(&'a self, link: &'a LinkCodes, n: usize) -> Option<&'a Codes> {
        let codes = match link {
            LinkCodes::Own => match &self.quant {
                Quant::Trained(c) => c,
                _ => return None,
            },
            LinkCodes::Temporary(c) => c,
            LinkCodes::Exact => return None,
        };
        (codes.len() >= n).then_some(codes)
    }
}

/// What a build traverses on (see [`Points::link_codes`]). Only the
/// multi-threaded builds (feature `parallel`) make codes.
#[cfg_attr(not(feature = "parallel"), allow(dead_code))]
pub(crate) enum LinkCodes {
    /// The index's own codes.
    Own,
    /// Codes made for the build, dropped after it.
    Temporary(Codes),
    /// The vectors themselves.
    Exact,
}

/// Append the codes of slots `codes.len()..n` of `store` to `codes`.
fn encode_slots<S: FeatureStore>(store: &S, codes: &mut Codes, n: usize) -> Result<()> {
    for slot in codes.len() as u32..n as u32 {
        let r = store.with_vector(slot, |v| match S::Elem::as_f32(v) {
            Some(v) => codes.push(v),
            None => Err(not_real::<S::Elem>()),
        })?;
        match r {
            Access::Ready(r) => r?,
            Access::Missing => return Err(Error::NotResident { count: 1 }),
        }
    }
    Ok(())
}

/// The error for quantising vectors that are not real-valued.
fn not_real<T: Element>() -> Error {
    Error::InvalidParameter {
        name: "quantize",
        reason: format!("quantisation needs f32 vectors, not {}", T::NAME),
    }
}

impl<S: FeatureStoreMut> Points<S> {
    /// Push a prepared vector for a new `id`; returns its slot.
    pub(crate) fn push(&mut self, id: u64, v: &[S::Elem]) -> Result<u32> {
        let slot = self.store.push(v)?;
        if slot as usize != self.ids.len() {
            let _ = self.store.truncate(self.ids.len());
            return Err(Error::InvalidParameter {
                name: "store",
                reason: "the store and the index disagree on the number of vectors".into(),
            });
        }
        self.record(id);
        Ok(slot)
    }
}

impl<T: Element> Points<MemoryStore<T>> {
    /// Keep the vectors as `vector_type` from now on (see
    /// [`MemoryStore::convert`]); the codes, if any, are encoded again from
    /// the values now stored. An error changes nothing.
    pub(crate) fn convert_vectors(&mut self, vector_type: crate::store::VectorType) -> Result<()> {
        self.store.convert(vector_type)?;
        if let Quant::Trained(c) = &mut self.quant {
            c.truncate(0);
        }
        let _ = self.sync_codes();
        Ok(())
    }

    /// Renumber the slots: new slot `s` takes the vector, id and deletion
    /// bit of old slot `order[s]`. `order` must be a permutation of
    /// `0..slot_count`; anything else is an error and changes nothing.
    pub(crate) fn permute(&mut self, order: &[u32]) -> Result<()> {
        let n = self.slot_count();
        let not_permutation = || Error::InvalidParameter {
            name: "order",
            reason: "not a permutation of the slots".into(),
        };
        if order.len() != n || self.store.len() != n {
            return Err(not_permutation());
        }
        // One bit a slot: first the slots `order` names, then the slots moved.
        let mut done: Vec<u64> = crate::alloc::zeroed(n.div_ceil(64), "renumbering")?;
        for &old in order {
            let (w, bit) = (old as usize / 64, 1u64 << (old % 64));
            match done.get_mut(w) {
                Some(word) if *word & bit == 0 => *word |= bit,
                _ => return Err(not_permutation()),
            }
        }
        done.iter_mut().for_each(|w| *w = 0);
        let mut bits: Vec<u64> = crate::alloc::zeroed(self.deleted.len(), "the deletion bits")?;
        for (new, &old) in order.iter().enumerate() {
            if self.is_deleted(old) {
                bits[new / 64] |= 1 << (new % 64);
            }
        }
        let ids = self
            .ids
            .permuted(order, &bits)
            .ok_or_else(not_permutation)?;
        // Nothing below can fail: the vectors move in place, cycle by cycle.
        self.store.permute(order, &mut done);
        self.ids = ids;
        self.deleted = bits;
        // The codes follow their vectors: encoded again, they come out as
        // they were, in the new order.
        if let Quant::Trained(c) = &mut self.quant {
            c.truncate(0);
        }
        let _ = self.sync_codes();
        Ok(())
    }
}

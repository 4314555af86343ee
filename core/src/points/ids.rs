//! User ids of the slots. Most indexes are built with ids `0, 1, 2, ...`
//! equal to their slots; those need no table at all (a million points save
//! about 45 MB). The first id that breaks the pattern switches to a slot ->
//! id array and an id -> slot lookup: an array indexed by id while the ids
//! stay small (as after renumbering the slots of such an index: 4 bytes a
//! point, where a map takes about 34), a map otherwise.

use std::collections::HashMap;

#[derive(Clone, Debug, Default)]
pub(crate) struct Ids {
    len: usize,
    table: Option<Table>,
}

#[derive(Clone, Debug, Default)]
struct Table {
    ids: Vec<u64>,
    /// Live ids only.
    slots: Slots,
}

/// The slot of every live id.
#[derive(Clone, Debug)]
enum Slots {
    /// `slot + 1` at index `id`, 0 for an id not live; kept while every id
    /// is below [`dense_bound`] of the slots.
    Dense(Vec<u32>),
    Map(HashMap<u64, u32>),
}

impl Default for Slots {
    fn default() -> Self {
        Slots::Dense(Vec::new())
    }
}

/// Ids below this (for `len` slots) are looked up in an array: at most
/// about twice the slots' words.
fn dense_bound(len: usize) -> u64 {
    let bound = (len as u64).saturating_mul(2).saturating_add(1024);
    // Indexes into the array stay far from overflowing a 32-bit `usize`.
    bound.min(usize::MAX as u64 / 8)
}

impl Slots {
    fn get(&self, id: u64) -> Option<u32> {
        match self {
            Slots::Dense(v) => match usize::try_from(id).ok().and_then(|i| v.get(i)) {
                Some(&s) if s != 0 => Some(s - 1),
                _ => None,
            },
            Slots::Map(m) => m.get(&id).copied(),
        }
    }

    /// Record the live `id` at `slot`; `len` is the slots' count with it.
    fn insert(&mut self, id: u64, slot: u32, len: usize) {
        if let Slots::Dense(v) = self {
            if id >= dense_bound(len) {
                let live = v.iter().enumerate().filter(|&(_, &s)| s != 0);
                *self = Slots::Map(live.map(|(i, &s)| (i as u64, s - 1)).collect());
            } else {
                let i = id as usize;
                if i >= v.len() {
                    v.resize(i + 1, 0);
                }
                v[i] = slot + 1;
                return;
            }
        }
        if let Slots::Map(m) = self {
            m.insert(id, slot);
        }
    }

    fn remove(&mut self, id: u64) {
        match self {
            Slots::Dense(v) => {
                if let Some(s) = usize::try_from(id).ok().and_then(|i| v.get_mut(i)) {
                    *s = 0;
                }
            }
            Slots::Map(m) => {
                m.remove(&id);
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Slots::Dense(v) => v.capacity() * 4,
            Slots::Map(m) => m.capacity() * 17,
        }
    }
}

use crate::error::{Error, Result};

fn deleted(bits: &[u64], slot: usize) -> bool {
    bits.get(slot / 64)
        .is_some_and(|w| w & (1 << (slot % 64)) != 0)
}

/// Whether `slot` is marked deleted in the bitmap `bits`.
pub(crate) fn is_deleted(bits: &[u64], slot: u32) -> bool {
    deleted(bits, slot as usize)
}

/// Check a batch for an index: `vectors` holds one `dim`-long vector per
/// id, and every id is new (`live` says which are taken) and distinct.
pub(crate) fn check_new(
    ids: &[u64],
    vectors: usize,
    dim: usize,
    live: impl Fn(u64) -> bool,
) -> Result<()> {
    if vectors != ids.len() * dim {
        return Err(Error::DimensionMismatch {
            expected: ids.len() * dim,
            got: vectors,
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    for &id in ids {
        if live(id) || !seen.insert(id) {
            return Err(Error::DuplicateId { id });
        }
    }
    Ok(())
}

impl Ids {
    /// Slots in use, deleted ones included.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The id of `slot` (which must be below `len`).
    #[inline]
    pub(crate) fn id(&self, slot: u32) -> u64 {
        match &self.table {
            None => u64::from(slot),
            // Slots below `len` all have an id.
            Some(t) => t.ids[slot as usize],
        }
    }

    /// The slot of a live `id`.
    pub(crate) fn slot(&self, id: u64, bits: &[u64]) -> Option<u32> {
        match &self.table {
            None => (id < self.len as u64 && !deleted(bits, id as usize)).then_some(id as u32),
            Some(t) => t.slots.get(id),
        }
    }

    /// Give the next slot the id `id` (not live).
    pub(crate) fn push(&mut self, id: u64, bits: &[u64]) {
        let slot = self.len;
        if self.table.is_none() && id != slot as u64 {
            let mut t = Table {
                ids: (0..slot as u64).collect(),
                slots: Slots::default(),
            };
            for s in 0..slot {
                if !deleted(bits, s) {
                    t.slots.insert(s as u64, s as u32, slot + 1);
                }
            }
            self.table = Some(t);
        }
        if let Some(t) = &mut self.table {
            t.ids.push(id);
            t.slots.insert(id, slot as u32, slot + 1);
        }
        self.len += 1;
    }

    /// Delete a live `id`: forget it and set its slot's bit in `bits`.
    pub(crate) fn delete(&mut self, id: u64, bits: &mut [u64]) -> Result<u32> {
        let slot = self.slot(id, bits).ok_or(Error::UnknownId { id })?;
        if let Some(t) = &mut self.table {
            t.slots.remove(id);
        }
        bits[slot as usize / 64] |= 1 << (slot % 64);
        Ok(slot)
    }

    /// Rebuild from the id of every slot; `None` if a live id repeats. The
    /// lookup's size follows the slots given (a file's ids section: at most
    /// about twice its bytes).
    pub(crate) fn from_slots(ids: Vec<u64>, bits: &[u64]) -> Option<Self> {
        let len = ids.len();
        if ids.iter().enumerate().all(|(s, &id)| id == s as u64) {
            return Some(Self { len, table: None });
        }
        let live = || {
            ids.iter()
                .enumerate()
                .filter(|&(s, _)| !deleted(bits, s))
                .map(|(s, &id)| (id, s as u32))
        };
        let bound = dense_bound(len);
        let slots = if live().all(|(id, _)| id < bound) {
            let top = live().map(|(id, _)| id as usize + 1).max().unwrap_or(0);
            let mut v = vec![0u32; top];
            for (id, s) in live() {
                let at = &mut v[id as usize];
                if *at != 0 {
                    return None;
                }
                *at = s + 1;
            }
            Slots::Dense(v)
        } else {
            let mut m = HashMap::with_capacity(len);
            for (id, s) in live() {
                if m.insert(id, s).is_some() {
                    return None;
                }
            }
            Slots::Map(m)
        };
        Some(Self {
            len,
            table: Some(Table { ids, slots }),
        })
    }

    /// The ids after renumbering the slots: new slot `s` takes the id of old
    /// slot `order[s]`. `order` must be a permutation of `0..len` and
    /// `bits` the deletion bits already renumbered the same way.
    pub(crate) fn permuted(&self, order: &[u32], bits: &[u64]) -> Option<Self> {
        if order.len() != self.len {
            return None;
        }
        let ids: Vec<u64> = match &self.table {
            // Identity ids renumbered by the identity stay implicit.
            None if order.iter().enumerate().all(|(s, &o)| o as usize == s) => {
                return Some(self.clone());
            }
            None => order.iter().map(|&o| u64::from(o)).collect(),
            Some(t) => order
                .iter()
                .map(|&o| t.ids.get(o as usize).copied())
                .collect::<Option<_>>()?,
        };
        Self::from_slots(ids, bits)
    }

    /// Heap bytes.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.table
            .as_ref()
            .map_or(0, |t| t.ids.capacity() * 8 + t.slots.heap_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits_for(n: usize) -> Vec<u64> {
        vec![0; n.div_ceil(64).max(1)]
    }

    #[test]
    fn small_ids_use_an_array_and_large_ones_a_map() {
        let n = 3000;
        let mut bits = bits_for(n + 1);
        // A permutation of 0..n: looked up in an array.
        let perm: Vec<u64> = (0..n as u64).rev().collect();
        let mut ids = Ids::from_slots(perm, &bits).unwrap();
        assert!(matches!(ids.table.as_ref().unwrap().slots, Slots::Dense(_)));
        assert!(ids.heap_bytes() < n * 13, "8 bytes a slot, 4 an id");
        assert_eq!(ids.slot(0, &bits), Some(n as u32 - 1));
        assert_eq!(ids.id(0), n as u64 - 1);
        assert_eq!(ids.slot(n as u64, &bits), None);
        assert_eq!(ids.delete(5, &mut bits).unwrap(), n as u32 - 6);
        assert_eq!(ids.slot(5, &bits), None);
        assert!(ids.delete(5, &mut bits).is_err());
        // A new small id stays in the array; a huge one moves all to a map.
        ids.push(n as u64 + 10, &bits);
        assert_eq!(ids.slot(n as u64 + 10, &bits), Some(n as u32));
        assert!(matches!(ids.table.as_ref().unwrap().slots, Slots::Dense(_)));
        bits.push(0);
        ids.push(u64::MAX, &bits);
        assert_eq!(ids.id(n as u32 + 1), u64::MAX);
        assert_eq!(ids.id(0), n as u64 - 1);
        assert!(matches!(ids.table.as_ref().unwrap().slots, Slots::Map(_)));
        assert_eq!(ids.slot(u64::MAX, &bits), Some(n as u32 + 1));
        assert_eq!(ids.slot(n as u64 + 10, &bits), Some(n as u32));
        assert_eq!(ids.slot(0, &bits), Some(n as u32 - 1));
        assert_eq!(ids.slot(5, &bits), None, "deleted ids stay gone");
        assert_eq!(ids.len(), n + 2);
    }

    #[test]
    fn repeated_live_ids_are_refused_either_way() {
        let bits = bits_for(3);
        assert!(Ids::from_slots(vec![1, 2, 1], &bits).is_none());
        assert!(Ids::from_slots(vec![u64::MAX, 2, u64::MAX], &bits).is_none());
        // A repeat whose first slot is deleted is fine.
        let bits = vec![1u64];
        let ids = Ids::from_slots(vec![1, 2, 1], &bits).unwrap();
        assert_eq!(ids.slot(1, &bits), Some(2));
        let ids = Ids::from_slots(vec![u64::MAX, 2, u64::MAX], &bits).unwrap();
        assert_eq!(ids.slot(u64::MAX, &bits), Some(2));
    }

    #[test]
    fn breaking_the_identity_keeps_every_live_id() {
        let mut bits = bits_for(10);
        let mut ids = Ids::default();
        for i in 0..5 {
            ids.push(i, &bits);
        }
        ids.delete(2, &mut bits).unwrap();
        ids.push(77, &bits);
        for i in [0, 1, 3, 4] {
            assert_eq!(ids.slot(i, &bits), Some(i as u32));
        }
        assert_eq!(ids.slot(2, &bits), None);
        assert_eq!(ids.slot(77, &bits), Some(5));
    }
}

//! User ids of the slots. Most indexes are built with ids `0, 1, 2, ...`
//! equal to their slots; those need no table at all (a million points save
//! about 45 MB). The first id that breaks the pattern switches to a slot ->
//! id array and an id -> slot map.

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
    slots: HashMap<u64, u32>,
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
            Some(t) => t.ids[slot as usize],
        }
    }

    /// The slot of a live `id`.
    pub(crate) fn slot(&self, id: u64, bits: &[u64]) -> Option<u32> {
        match &self.table {
            None => (id < self.len as u64 && !deleted(bits, id as usize)).then_some(id as u32),
            Some(t) => t.slots.get(&id).copied(),
        }
    }

    /// Give the next slot the id `id` (not live).
    pub(crate) fn push(&mut self, id: u64, bits: &[u64]) {
        let slot = self.len;
        if self.table.is_none() && id != slot as u64 {
            let mut t = Table {
                ids: (0..slot as u64).collect(),
                slots: HashMap::with_capacity(slot + 1),
            };
            for s in 0..slot {
                if !deleted(bits, s) {
                    t.slots.insert(s as u64, s as u32);
                }
            }
            self.table = Some(t);
        }
        if let Some(t) = &mut self.table {
            t.ids.push(id);
            t.slots.insert(id, slot as u32);
        }
        self.len += 1;
    }

    /// Delete a live `id`: forget it and set its slot's bit in `bits`.
    pub(crate) fn delete(&mut self, id: u64, bits: &mut [u64]) -> Result<u32> {
        let slot = self.slot(id, bits).ok_or(Error::UnknownId { id })?;
        if let Some(t) = &mut self.table {
            t.slots.remove(&id);
        }
        bits[slot as usize / 64] |= 1 << (slot % 64);
        Ok(slot)
    }

    /// Rebuild from the id of every slot; `None` if a live id repeats. The
    /// map's size follows the slots given (a file's ids section: about
    /// twice its bytes).
    pub(crate) fn from_slots(ids: Vec<u64>, bits: &[u64]) -> Option<Self> {
        let len = ids.len();
        if ids.iter().enumerate().all(|(s, &id)| id == s as u64) {
            return Some(Self { len, table: None });
        }
        let mut slots = HashMap::with_capacity(len);
        for (s, &id) in ids.iter().enumerate() {
            if !deleted(bits, s) && slots.insert(id, s as u32).is_some() {
                return None;
            }
        }
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
            .map_or(0, |t| t.ids.capacity() * 8 + t.slots.capacity() * 17)
    }
}

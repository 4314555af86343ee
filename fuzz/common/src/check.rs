//! What must hold of any index that opened, and of any search result.

use std::collections::{BTreeMap, BTreeSet};

use vectrove_core::distance::DistanceFn;
use vectrove_core::{AnyIndex, Element, Hnsw, Ivf, MemoryStore, Metric, Neighbor};

/// The query in the form the index searches with (normalised for cosine),
/// or `None` when the index must refuse it.
pub fn prepared<T: Element>(metric: Metric, q: &[T]) -> Option<Vec<T>> {
    let mut out = Vec::new();
    T::prepare(metric, q, &mut out).ok().map(|()| out)
}

/// The distance a search reports for the exact distance `d`: a NaN (a
/// stored vector whose products overflow, say) ranks after every other
/// point and is reported as +inf.
pub fn reported(d: f32) -> f32 {
    if d.is_nan() { f32::INFINITY } else { d }
}

/// Checks `hits` for a query: at most `k`, nearest first, distinct, every id
/// live (`vector_of` gives its stored vector), and every distance exactly
/// the distance from `q` (prepared) to that id's vector (see [`reported`]).
pub fn check_hits<T: Element>(
    hits: &[Neighbor],
    k: usize,
    q: &[T],
    dist: DistanceFn<T>,
    vector_of: impl Fn(u64) -> Option<Vec<T>>,
) {
    assert!(hits.len() <= k, "{} hits for k = {k}", hits.len());
    for w in hits.windows(2) {
        assert!(
            w[0].distance.total_cmp(&w[1].distance).is_le(),
            "hits out of order: {hits:?}"
        );
    }
    let mut seen = BTreeSet::new();
    for h in hits {
        assert!(seen.insert(h.id), "id {} returned twice: {hits:?}", h.id);
        let v = vector_of(h.id).unwrap_or_else(|| panic!("id {} is not live", h.id));
        let d = reported(dist(q, &v));
        assert_eq!(
            d.to_bits(),
            h.distance.to_bits(),
            "id {}: distance {} reported, {} exact",
            h.id,
            h.distance,
            d
        );
    }
}

/// The `k` smallest distances from `q` to `points`, in order: what an exact
/// search returns, whatever ids it picks among equal distances.
pub fn exact_distances<T: Element>(
    points: &BTreeMap<u64, Vec<T>>,
    q: &[T],
    k: usize,
    dist: DistanceFn<T>,
    accept: impl Fn(u64) -> bool,
) -> Vec<u32> {
    let mut d: Vec<f32> = points
        .iter()
        .filter(|(id, _)| accept(**id))
        .map(|(_, v)| reported(dist(q, v)))
        .collect();
    d.sort_by(f32::total_cmp);
    d.truncate(k);
    d.into_iter().map(f32::to_bits).collect()
}

/// The bytes of `v`, so that vectors holding NaNs compare.
pub fn bits<T: Element>(v: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    T::write_le(v, &mut out);
    out
}

/// The distances of `hits`, as bits (so NaNs compare).
pub fn hit_distances(hits: &[Neighbor]) -> Vec<u32> {
    hits.iter().map(|h| h.distance.to_bits()).collect()
}

/// Queries for an index of dimension `dim`: a few stored vectors (some may
/// be refused, a file can hold anything) and a fixed one.
fn queries<T: Element>(store: &MemoryStore<T>, dim: usize) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = (0..store.len().min(3) as u32)
        .filter_map(|s| store.get(s).map(<[T]>::to_vec))
        .collect();
    let bytes = vec![0x3fu8; dim * size_of::<T>()];
    let mut fixed = vec![T::default(); dim];
    T::read_le(&bytes, &mut fixed);
    out.push(fixed);
    out
}

use vectrove_core::FeatureStore;

/// An opened HNSW index is consistent: the graph verifies, the points table
/// agrees with the store, and searches return well-formed results.
pub fn check_hnsw<T: Element>(index: &Hnsw<MemoryStore<T>>) {
    index.verify().expect("an opened index verifies");
    let store = index.store();
    assert_eq!(store.dim(), index.dim());
    assert_eq!(store.len(), index.slot_count());
    let mut live = BTreeMap::new();
    for slot in 0..index.slot_count() as u32 {
        let id = index.slot_id(slot).expect("every slot has an id");
        if index.is_deleted(slot) {
            continue;
        }
        assert!(index.contains(id), "live id {id} not contained");
        let v = index.get(id).expect("a live id reads");
        let stored = store.get(slot).expect("every slot is in the store");
        assert_eq!(bits(&v), bits(stored), "get({id}) is not slot {slot}");
        assert!(live.insert(id, v).is_none(), "live id {id} twice");
    }
    assert_eq!(live.len(), index.len());
    let dist = T::distance_fn(index.metric()).expect("the file's metric fits its elements");
    for q in queries(store, index.dim()) {
        let Some(p) = prepared(index.metric(), &q) else {
            assert!(index.search(&q, 3, 8).is_err(), "a refused query searched");
            continue;
        };
        for (k, ef) in [
            (1, 1),
            (3, 8),
            (index.slot_count() + 1, index.slot_count() + 1),
        ] {
            let hits = index.search(&q, k, ef).expect("search on an opened index");
            check_hits(&hits, k, &p, dist, |id| live.get(&id).cloned());
        }
    }
}

/// An opened IVF index is consistent: a search of every list finds every
/// live point, exactly, and list sizes add up to the slots.
pub fn check_ivf(index: &Ivf<MemoryStore<f32>>) {
    let store = index.store();
    assert_eq!(store.dim(), index.dim());
    assert_eq!(store.len(), index.slot_count());
    assert_eq!(index.list_sizes().iter().sum::<usize>(), index.slot_count());
    assert_eq!(index.nlist(), index.list_sizes().len());
    assert!(index.len() <= index.slot_count());
    let dist = f32::distance_fn(index.metric()).expect("IVF metrics are f32 metrics");
    let all = index.nlist();
    let qs = queries(store, index.dim());
    // Every live point, from an exhaustive search.
    let mut live = BTreeMap::new();
    let Some((raw, first)) = qs
        .iter()
        .find_map(|q| prepared(index.metric(), q).map(|p| (q, p)))
    else {
        return;
    };
    let hits = index
        .search(raw, index.slot_count() + 1, all)
        .expect("search on an opened index");
    assert_eq!(
        hits.len(),
        index.len(),
        "an exhaustive search misses points"
    );
    for h in &hits {
        assert!(index.contains(h.id));
        let v = index.get(h.id).expect("a live id reads");
        assert_eq!(v.len(), index.dim());
        live.insert(h.id, v);
    }
    check_hits(&hits, index.slot_count() + 1, &first, dist, |id| {
        live.get(&id).cloned()
    });
    for q in qs {
        let Some(p) = prepared(index.metric(), &q) else {
            assert!(
                index.search(&q, 3, all).is_err(),
                "a refused query searched"
            );
            continue;
        };
        for (k, nprobe) in [(1, 1), (3, all), (5, 1 + all / 2)] {
            let hits = index
                .search(&q, k, nprobe)
                .expect("search on an opened index");
            check_hits(&hits, k, &p, dist, |id| live.get(&id).cloned());
            if nprobe >= all {
                assert_eq!(
                    hit_distances(&hits),
                    exact_distances(&live, &p, k, dist, |_| true),
                    "probing every list is not exact"
                );
            }
        }
    }
}

/// [`check_hnsw`] or [`check_ivf`], whichever `index` is.
pub fn check_any(index: &AnyIndex<MemoryStore<f32>>) {
    match index {
        AnyIndex::Hnsw(h) => check_hnsw(h),
        AnyIndex::Ivf(i) => check_ivf(i),
    }
}

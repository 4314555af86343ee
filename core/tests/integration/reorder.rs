//! Renumbering the slots for locality: the same points under the same ids,
//! the same graph under new slot numbers, the same search results.

use vectrove_core::rng::SplitMix64;
use vectrove_core::{Error, Hnsw, MemoryStore, Metric, Neighbor};
use vectrove_testkit::{clustered, uniform};

/// An index of `n` clustered points with scattered ids, some deleted.
fn index_with_deletions(n: usize, dim: usize, metric: Metric) -> (Hnsw, Vec<u64>) {
    let mut index = Hnsw::builder(dim, metric)
        .m(6)
        .ef_construction(40)
        .seed(11)
        .build()
        .unwrap();
    let data = clustered(n, dim, 8, 5);
    let ids: Vec<u64> = (0..n as u64).map(|i| i * 7 + 1000).collect();
    index.insert_many(&ids, &data).unwrap();
    let mut rng = SplitMix64::new(2);
    let mut live = Vec::new();
    for &id in &ids {
        if rng.below(5) == 0 {
            index.delete(id).unwrap();
        } else {
            live.push(id);
        }
    }
    (index, live)
}

/// The edges of the graph as pairs of user ids, per level (deleted slots
/// keep their ids, so this names every node).
fn edges<S: vectrove_core::FeatureStore>(index: &Hnsw<S>) -> Vec<(usize, u64, u64)> {
    let mut out = Vec::new();
    for s in 0..index.slot_count() as u32 {
        let level = index.node_level(s).unwrap();
        for l in 0..=level {
            for &t in index.neighbors(s, l).unwrap() {
                out.push((l, index.slot_id(s).unwrap(), index.slot_id(t).unwrap()));
            }
        }
    }
    out.sort_unstable();
    out
}

/// Results equal but for the order within runs of exactly equal distances.
fn same_results(a: &[Neighbor], b: &[Neighbor]) {
    assert_eq!(a.len(), b.len());
    let key = |r: &[Neighbor]| {
        let mut v: Vec<(u32, u64)> = r.iter().map(|h| (h.distance.to_bits(), h.id)).collect();
        v.sort_unstable_by(|x, y| {
            f32::from_bits(x.0)
                .total_cmp(&f32::from_bits(y.0))
                .then(x.1.cmp(&y.1))
        });
        v
    };
    assert_eq!(key(a), key(b));
}

#[test]
fn renumbering_keeps_points_graph_and_results() {
    let (dim, n) = (8, 600);
    let (mut index, live) = index_with_deletions(n, dim, Metric::L2);
    let queries = uniform(40, dim, -3.0..3.0, 17);
    let before: Vec<Vec<Neighbor>> = queries
        .chunks_exact(dim)
        .map(|q| index.search(q, 10, 24).unwrap())
        .collect();
    let vectors: Vec<Vec<f32>> = live.iter().map(|&id| index.get(id).unwrap()).collect();
    let graph = edges(&index);
    let (entry_id, top) = (
        index.slot_id(index.entry_point().unwrap()),
        index.max_level(),
    );
    let deleted: Vec<u64> = (0..n as u32)
        .filter(|&s| index.is_deleted(s))
        .map(|s| index.slot_id(s).unwrap())
        .collect();

    let order = index.locality_order().unwrap();
    assert_ne!(
        order,
        (0..n as u32).collect::<Vec<_>>(),
        "the order changes something"
    );
    index.reorder().unwrap();
    index.verify().unwrap();
    assert_eq!(index.slot_count(), n);
    assert_eq!(index.len(), live.len());
    assert_eq!(index.max_level(), top);
    assert_eq!(index.slot_id(index.entry_point().unwrap()), entry_id);
    assert_eq!(edges(&index), graph);
    for (&id, v) in live.iter().zip(&vectors) {
        assert_eq!(&index.get(id).unwrap(), v, "id {id}");
    }
    let mut now_deleted: Vec<u64> = (0..n as u32)
        .filter(|&s| index.is_deleted(s))
        .map(|s| index.slot_id(s).unwrap())
        .collect();
    now_deleted.sort_unstable();
    assert_eq!(now_deleted, deleted);
    for d in &deleted {
        assert!(!index.contains(*d));
    }
    for (q, b) in queries.chunks_exact(dim).zip(&before) {
        // Float distances of random data never tie: exactly the same lists.
        assert_eq!(&index.search(q, 10, 24).unwrap(), b);
    }

    // A second pass over a renumbered index is a fixed point of the walk.
    let again = index.locality_order().unwrap();
    assert_eq!(again, (0..n as u32).collect::<Vec<_>>());

    // The file holds the new numbering and reads back to the same index.
    let bytes = index.to_bytes().unwrap();
    let copy: Hnsw = Hnsw::from_bytes(&bytes).unwrap();
    copy.verify().unwrap();
    assert_eq!(edges(&copy), graph);
    for (q, b) in queries.chunks_exact(dim).zip(&before) {
        assert_eq!(&copy.search(q, 10, 24).unwrap(), b);
    }

    // Inserting and deleting go on as before.
    let extra = uniform(50, dim, -3.0..3.0, 23);
    for (i, v) in extra.chunks_exact(dim).enumerate() {
        index.insert(1_000_000 + i as u64, v).unwrap();
    }
    index.verify().unwrap();
    for (i, v) in extra.chunks_exact(dim).enumerate() {
        let hit = index.search(v, 1, 32).unwrap();
        assert_eq!(hit[0].id, 1_000_000 + i as u64);
    }
    assert!(matches!(
        index.insert(live[0], &extra[..dim]),
        Err(Error::DuplicateId { .. })
    ));
    index.delete(live[0]).unwrap();
    assert!(!index.contains(live[0]));
    assert!(matches!(index.get(live[0]), Err(Error::UnknownId { .. })));
    assert!(
        index
            .search(&vectors[0], 10, 64)
            .unwrap()
            .iter()
            .all(|h| h.id != live[0])
    );
    // A deleted id may come back, at a new slot.
    index.insert(deleted[0], &vectors[0]).unwrap();
    assert_eq!(index.search(&vectors[0], 1, 64).unwrap()[0].id, deleted[0]);
    index.verify().unwrap();
    let copy: Hnsw = Hnsw::from_bytes(&index.to_bytes().unwrap()).unwrap();
    assert_eq!(edges(&copy), edges(&index));
}

#[test]
fn ids_equal_to_slots_survive_renumbering() {
    let dim = 4;
    let mut index = Hnsw::builder(dim, Metric::Cosine)
        .m(4)
        .seed(1)
        .build()
        .unwrap();
    let data = uniform(300, dim, -1.0..1.0, 3);
    let ids: Vec<u64> = (0..300).collect();
    index.insert_many(&ids, &data).unwrap();
    let before: Vec<Vec<f32>> = ids.iter().map(|&i| index.get(i).unwrap()).collect();
    index.reorder().unwrap();
    index.verify().unwrap();
    for (&i, v) in ids.iter().zip(&before) {
        assert_eq!(&index.get(i).unwrap(), v);
    }
    // The next insert after renumbering takes the next slot, under any id.
    index.insert(300, &[0.5, 0.5, 0.5, 0.5]).unwrap();
    assert_eq!(index.slot_id(300), Some(300));
    assert_eq!(
        index.search(&[0.5, 0.5, 0.5, 0.5], 1, 16).unwrap()[0].id,
        300
    );
}

#[test]
fn empty_and_single_point_indexes() {
    let mut empty = Hnsw::builder(3, Metric::L2).build().unwrap();
    assert!(empty.locality_order().unwrap().is_empty());
    empty.reorder().unwrap();
    empty.verify().unwrap();
    assert!(empty.search(&[0.0; 3], 5, 10).unwrap().is_empty());
    empty.insert(9, &[1.0, 2.0, 3.0]).unwrap();
    assert_eq!(empty.search(&[0.0; 3], 5, 10).unwrap()[0].id, 9);

    let mut one = Hnsw::builder(3, Metric::L2).build().unwrap();
    one.insert(42, &[1.0, 2.0, 3.0]).unwrap();
    one.reorder().unwrap();
    one.verify().unwrap();
    assert_eq!(one.entry_point(), Some(0));
    assert_eq!(one.search(&[0.0; 3], 5, 10).unwrap()[0].id, 42);
    let copy: Hnsw = Hnsw::from_bytes(&one.to_bytes().unwrap()).unwrap();
    assert_eq!(copy.get(42).unwrap(), vec![1.0, 2.0, 3.0]);

    // Every point deleted: still renumbered, still empty to a search.
    one.delete(42).unwrap();
    one.reorder().unwrap();
    assert!(one.search(&[0.0; 3], 5, 10).unwrap().is_empty());
}

#[test]
fn hamming_codes_are_renumbered_too() {
    let (dim, n) = (8, 400);
    let mut index = Hnsw::builder(dim, Metric::Hamming)
        .m(6)
        .ef_construction(32)
        .seed(4)
        .build_with_store(MemoryStore::<u8>::new(dim).unwrap())
        .unwrap();
    let mut rng = SplitMix64::new(8);
    let codes: Vec<u8> = (0..n * dim).map(|_| rng.next_u32() as u8).collect();
    let ids: Vec<u64> = (0..n as u64).map(|i| i * 3).collect();
    index.insert_many(&ids, &codes).unwrap();
    for id in ids.iter().step_by(9) {
        index.delete(*id).unwrap();
    }
    let queries: Vec<u8> = (0..20 * dim).map(|_| rng.next_u32() as u8).collect();
    // Hamming distances tie all the time, so the beam covers the whole
    // graph (`ef` above the count): the result lists are then exact and
    // differ only in the order of equal distances, and where a run of equal
    // distances is cut at `k`.
    let k = 10;
    let search = |index: &Hnsw<MemoryStore<u8>>, q: &[u8]| index.search(q, n, 2 * n).unwrap();
    let before: Vec<Vec<Neighbor>> = queries
        .chunks_exact(dim)
        .map(|q| search(&index, q))
        .collect();
    let stored: Vec<(u64, Vec<u8>)> = ids
        .iter()
        .filter(|&&id| index.contains(id))
        .map(|&id| (id, index.get(id).unwrap()))
        .collect();
    let graph = edges(&index);
    index.reorder().unwrap();
    index.verify().unwrap();
    assert_eq!(edges(&index), graph);
    for (id, v) in &stored {
        assert_eq!(&index.get(*id).unwrap(), v);
    }
    for (q, b) in queries.chunks_exact(dim).zip(&before) {
        let after = search(&index, q);
        same_results(&after, b);
        let top = index.search(q, k, 2 * n).unwrap();
        let cut = b[k - 1].distance;
        assert_eq!(
            top.iter().map(|h| h.distance).collect::<Vec<_>>(),
            b[..k].iter().map(|h| h.distance).collect::<Vec<_>>()
        );
        for h in top.iter().filter(|h| h.distance < cut) {
            assert!(b[..k].iter().any(|x| x.id == h.id));
        }
    }
    let bytes = index.to_bytes().unwrap();
    let copy = Hnsw::<MemoryStore<u8>>::from_bytes(&bytes).unwrap();
    assert_eq!(edges(&copy), graph);
}

#[test]
fn bad_orders_are_refused_and_change_nothing() {
    let (mut index, live) = index_with_deletions(100, 4, Metric::L2);
    let graph = edges(&index);
    let v = index.get(live[3]).unwrap();
    let n = index.slot_count() as u32;
    let mut repeat: Vec<u32> = (0..n).collect();
    repeat[5] = 6;
    let mut outside: Vec<u32> = (0..n).collect();
    outside[0] = n;
    for bad in [
        vec![],
        (0..n - 1).collect(),
        (0..=n).collect(),
        repeat,
        outside,
        vec![u32::MAX; n as usize],
    ] {
        assert!(matches!(
            index.renumber(&bad),
            Err(Error::InvalidParameter { .. })
        ));
        assert_eq!(edges(&index), graph);
        assert_eq!(index.get(live[3]).unwrap(), v);
    }
    // A permutation that breaks the spanning tree (every slot after the
    // first reached from an earlier one) is refused too.
    let reversed: Vec<u32> = (0..n).rev().collect();
    assert!(matches!(
        index.renumber(&reversed),
        Err(Error::InvalidParameter { .. })
    ));
    assert_eq!(edges(&index), graph);

    // Other orders that keep it are taken: the identity, and a plain
    // breadth-first walk from the entry point.
    index.renumber(&(0..n).collect::<Vec<_>>()).unwrap();
    assert_eq!(edges(&index), graph);
    let entry = index.entry_point().unwrap();
    let mut bfs = vec![entry];
    let mut seen = vec![false; n as usize];
    seen[entry as usize] = true;
    let mut head = 0;
    while head < bfs.len() {
        for &nb in index.neighbors(bfs[head], 0).unwrap() {
            if !std::mem::replace(&mut seen[nb as usize], true) {
                bfs.push(nb);
            }
        }
        head += 1;
    }
    assert_eq!(bfs.len(), n as usize);
    index.renumber(&bfs).unwrap();
    index.verify().unwrap();
    assert_eq!(index.entry_point(), Some(0));
    assert_eq!(edges(&index), graph);
    assert_eq!(index.get(live[3]).unwrap(), v);
    let copy: Hnsw = Hnsw::from_bytes(&index.to_bytes().unwrap()).unwrap();
    assert_eq!(edges(&copy), graph);
}

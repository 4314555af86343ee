//! Searches on 8-bit codes with an exact rerank: recall on real data, exact
//! distances in the results, the codes through the file format (and a
//! damaged codes section refused), and the codes kept in step with inserts,
//! deletions, renumbering and the concurrent form.
// Native only: the real-data loader reads files (the wasm32 tests of the
// codes are in `wasm.rs`).
#![cfg(not(target_arch = "wasm32"))]

use vectrove_core::format::reseal;
use vectrove_core::{
    AnyIndex, Error, Hnsw, IndexFile, Ivf, IvfParams, MemoryStore, Metric, Quantization,
    SearchParams,
};
use vectrove_testkit::{Debian, base_and_queries, exact_ids, recall, uniform};

fn ids_of(v: &[vectrove_core::Neighbor]) -> Vec<u64> {
    v.iter().map(|n| n.id).collect()
}

fn hnsw(metric: Metric, dim: usize, data: &[f32]) -> Hnsw {
    let mut index = Hnsw::builder(dim, metric)
        .m(12)
        .ef_construction(100)
        .build()
        .unwrap();
    let ids: Vec<u64> = (0..(data.len() / dim) as u64).collect();
    index.insert_many(&ids, data).unwrap();
    index
}

/// On real embeddings, traversal on codes finds what exact traversal
/// finds, and every distance returned is the exact one.
#[test]
fn codes_keep_recall_on_real_data_and_results_carry_exact_distances() {
    let Some(d) = Debian::load(10_000, 200, 10) else {
        eprintln!("debian-384 data not found: skipped");
        return;
    };
    let exact = hnsw(Metric::Cosine, d.dim, &d.base);
    let mut coded = hnsw(Metric::Cosine, d.dim, &d.base);
    for (kind, slack) in [(Quantization::Sq8, 0.01), (Quantization::Sq4, 0.015)] {
        coded.quantize(kind).unwrap();
        assert!(coded.is_quantized() && !exact.is_quantized());
        for ef in [32, 96] {
            let run = |ix: &Hnsw| -> Vec<_> {
                (0..d.n_queries())
                    .map(|i| ix.search(d.query(i), 10, ef).unwrap())
                    .collect()
            };
            let (e, c) = (run(&exact), run(&coded));
            let (re, rc) = (recall(&e, &d.truth, 10), recall(&c, &d.truth, 10));
            eprintln!("ef {ef}: recall exact {re:.4}, on {kind} codes {rc:.4}");
            assert!(
                rc >= re - slack,
                "ef {ef}: {rc} on {kind} codes vs {re} exact"
            );
            for (i, hits) in c.iter().enumerate().take(50) {
                for h in hits {
                    let v = coded.get(h.id).unwrap();
                    let dot: f32 = v.iter().zip(d.query(i)).map(|(a, b)| a * b).sum();
                    let norm: f32 = d.query(i).iter().map(|x| x * x).sum::<f32>().sqrt();
                    assert!((h.distance - (1.0 - dot / norm)).abs() < 1e-4);
                }
            }
        }
    }
}

/// Every code and metric, and IVF: recall on codes close to exact search.
#[test]
fn every_metric_and_ivf_search_well_on_codes() {
    let dim = 40;
    let (base, queries) = base_and_queries(3_000, 40, dim, 7);
    let cases = [Quantization::Sq8, Quantization::Sq4]
        .into_iter()
        .flat_map(|q| [Metric::L2, Metric::InnerProduct, Metric::Cosine].map(|m| (q, m)));
    for (kind, metric) in cases {
        // 4-bit codes rank more coarsely: the rerank list makes up for it.
        let slack = if kind == Quantization::Sq8 {
            0.02
        } else {
            0.05
        };
        let truth = exact_ids(metric, dim, &base, &queries, 10);
        let mut index = hnsw(metric, dim, &base);
        let exact: Vec<_> = queries
            .chunks_exact(dim)
            .map(|q| index.search(q, 10, 64).unwrap())
            .collect();
        index.quantize(kind).unwrap();
        let coded: Vec<_> = queries
            .chunks_exact(dim)
            .map(|q| index.search(q, 10, 64).unwrap())
            .collect();
        let (re, rc) = (recall(&exact, &truth, 10), recall(&coded, &truth, 10));
        assert!(rc >= re - slack, "{kind} {metric}: {rc} on codes vs {re}");

        let params = IvfParams {
            nlist: 16,
            ..IvfParams::default()
        };
        let train = MemoryStore::from_flat(dim, &base).unwrap();
        let mut ivf = Ivf::train(metric, params, &train).unwrap();
        let ids: Vec<u64> = (0..3_000).collect();
        ivf.insert_many(&ids, &base).unwrap();
        let p = SearchParams {
            nprobe: 16,
            ..SearchParams::default()
        };
        let exact: Vec<_> = queries
            .chunks_exact(dim)
            .map(|q| ivf.search_with(q, 10, &p, |_| true).unwrap())
            .collect();
        ivf.quantize(kind).unwrap();
        assert!(ivf.is_quantized());
        let coded: Vec<_> = queries
            .chunks_exact(dim)
            .map(|q| ivf.search_with(q, 10, &p, |_| true).unwrap())
            .collect();
        // All lists probed: exact search is exact; codes must come close.
        let (re, rc) = (recall(&exact, &truth, 10), recall(&coded, &truth, 10));
        assert!(
            re > 0.999 && rc >= 1.0 - slack,
            "IVF {kind} {metric}: {rc} on codes vs {re}"
        );
        // A rerank of everything probed is exact again.
        let all = SearchParams { rerank: 3_000, ..p };
        for (q, e) in queries.chunks_exact(dim).zip(&exact) {
            assert_eq!(&ivf.search_with(q, 10, &all, |_| true).unwrap(), e);
        }
    }
}

/// The codes survive the file byte for byte, for both kinds; a file with
/// codes reopens to the same results, and writing it again gives the same
/// bytes.
#[test]
fn codes_round_trip_through_the_file() {
    let dim = 16;
    let (base, queries) = base_and_queries(1_500, 20, dim, 3);
    let mut h = hnsw(Metric::L2, dim, &base);
    h.quantize(Quantization::Sq4).unwrap();
    let train = MemoryStore::from_flat(dim, &base).unwrap();
    let mut ivf = Ivf::train(
        Metric::Cosine,
        IvfParams {
            nlist: 8,
            ..IvfParams::default()
        },
        &train,
    )
    .unwrap();
    ivf.insert_many(&(0..1_500).collect::<Vec<u64>>(), &base)
        .unwrap();
    ivf.quantize(Quantization::Sq8).unwrap();
    for index in [AnyIndex::from(h), AnyIndex::from(ivf)] {
        let bytes = index.to_bytes().unwrap();
        let back: AnyIndex = IndexFile::from_bytes(&bytes).unwrap();
        assert!(back.is_quantized());
        assert_eq!(back.quantization(), index.quantization());
        assert_eq!(back.to_bytes().unwrap(), bytes);
        let p = SearchParams::default();
        for q in queries.chunks_exact(dim) {
            assert_eq!(
                back.search(q, 10, &p).unwrap(),
                index.search(q, 10, &p).unwrap()
            );
        }
    }
}

/// A quantiser chosen at build time trains once the index holds enough
/// points, and the choice survives a save before that.
#[test]
fn a_quantiser_chosen_at_build_time_trains_itself() {
    let dim = 8;
    let data = uniform(1_500, dim, -1.0..1.0, 9);
    let mut index = Hnsw::builder(dim, Metric::L2)
        .quantize(Quantization::Sq8)
        .build()
        .unwrap();
    let ids: Vec<u64> = (0..1_500).collect();
    index.insert_many(&ids[..500], &data[..500 * dim]).unwrap();
    assert_eq!(index.quantization(), Some(Quantization::Sq8));
    assert!(!index.is_quantized());
    // Pending survives the file.
    let bytes = index.to_bytes().unwrap();
    let mut index = Hnsw::from_bytes(&bytes).unwrap();
    assert_eq!(index.quantization(), Some(Quantization::Sq8));
    assert!(!index.is_quantized());
    for i in 500..1_500 {
        index.insert(ids[i], &data[i * dim..(i + 1) * dim]).unwrap();
        assert_eq!(
            index.is_quantized(),
            i + 1 >= vectrove_core::quant::TRAIN_AT
        );
    }
}

/// Inserts after training are encoded; deletions, filters and k beyond
/// the index behave as without codes; renumbering and the concurrent form
/// keep the codes in step.
#[test]
fn codes_follow_inserts_deletions_renumbering_and_the_concurrent_form() {
    let dim = 12;
    let (base, queries) = base_and_queries(2_000, 20, dim, 5);
    let mut index = hnsw(Metric::L2, dim, &base[..1_000 * dim]);
    index.quantize(Quantization::Sq8).unwrap();
    let ids: Vec<u64> = (1_000..2_000).collect();
    index.insert_many(&ids, &base[1_000 * dim..]).unwrap();
    assert!(index.is_quantized());
    for id in (0..2_000).step_by(3) {
        index.delete(id).unwrap();
    }
    let filter = |id: u64| id.is_multiple_of(2);
    let before: Vec<_> = queries
        .chunks_exact(dim)
        .map(|q| index.search_filtered(q, 10, 64, filter).unwrap())
        .collect();
    for hits in &before {
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| filter(h.id) && !h.id.is_multiple_of(3)));
    }
    // More than the index holds: every live point that passes, once.
    let all = index.search(&queries[..dim], 5_000, 64).unwrap();
    assert!(all.len() <= index.len() && !all.is_empty());
    let mut seen = ids_of(&all);
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), all.len());

    index.reorder().unwrap();
    assert!(index.is_quantized());
    for (q, b) in queries.chunks_exact(dim).zip(&before) {
        let after = index.search_filtered(q, 10, 64, filter).unwrap();
        // The graph is the same graph renumbered; ties aside, the same hits.
        let common = ids_of(&after)
            .iter()
            .filter(|i| ids_of(b).contains(i))
            .count();
        assert!(common >= 9, "{common} of 10 after renumbering");
    }

    let shared = vectrove_core::hnsw::SharedHnsw::new(index, 2_100).unwrap();
    for i in 0..50u64 {
        let v: Vec<f32> = base[i as usize * dim..(i as usize + 1) * dim]
            .iter()
            .map(|x| x + 0.01)
            .collect();
        shared.insert(10_000 + i, &v).unwrap();
    }
    let index = shared.into_hnsw().unwrap();
    assert!(index.is_quantized());
    let hit = index.search(
        &base[..dim].iter().map(|x| x + 0.01).collect::<Vec<_>>(),
        1,
        64,
    );
    assert_eq!(hit.unwrap()[0].id, 10_000);
}

/// Codes need f32 vectors and something to train on.
#[test]
fn bad_quantisation_requests_are_errors() {
    let mut index = Hnsw::builder(2, Metric::L2).build().unwrap();
    assert!(matches!(
        index.quantize(Quantization::Sq8),
        Err(Error::InvalidParameter { .. })
    ));
    let bits = Hnsw::builder(16, Metric::Hamming).quantize(Quantization::Sq8);
    assert!(
        bits.build_with_store(MemoryStore::<u8>::new(16).unwrap())
            .is_err()
    );
    let mut bits = Hnsw::builder(16, Metric::Hamming)
        .build_with_store(MemoryStore::<u8>::new(16).unwrap())
        .unwrap();
    bits.insert(1, &[7u8; 16]).unwrap();
    assert!(bits.quantize(Quantization::Sq8).is_err());
    assert!(!bits.is_quantized());
    assert!("sq2".parse::<Quantization>().is_err());
    assert_eq!("sq4".parse::<Quantization>().unwrap(), Quantization::Sq4);
    assert_eq!("sq8".parse::<Quantization>().unwrap(), Quantization::Sq8);
}

/// Where the codes sections sit in a small quantised file.
fn sections(bytes: &[u8]) -> Vec<([u8; 4], usize, usize)> {
    let h = vectrove_core::format::Header::parse(bytes, bytes.len() as u64).unwrap();
    h.sections
        .iter()
        .map(|s| (s.tag, s.offset as usize, s.len as usize))
        .collect()
}

/// A damaged codes section (checksums recomputed, so only the checks on
/// its contents can catch it) is refused with a clear error, never a panic.
#[test]
fn damaged_codes_sections_are_refused() {
    let dim = 4;
    let data = uniform(300, dim, -1.0..1.0, 2);
    let mut index = hnsw(Metric::L2, dim, &data);
    index.quantize(Quantization::Sq8).unwrap();
    let bytes = index.to_bytes().unwrap();
    let secs = sections(&bytes);
    let find = |t: &[u8; 4]| secs.iter().find(|s| &s.0 == t).copied().unwrap();
    let (_, par, par_len) = find(b"QPAR");
    let (_, cod, _) = find(b"QCOD");
    assert_eq!(cod % 64, 0, "codes start on a cache line");
    assert_eq!(par_len, 16 + 8 * dim);
    let refuse = |what: &str, patch: &dyn Fn(&mut Vec<u8>)| {
        let mut b = bytes.clone();
        patch(&mut b);
        reseal(&mut b);
        let r = IndexFile::from_bytes::<MemoryStore<f32>>(&b);
        assert!(
            matches!(r, Err(Error::Corrupt { .. })),
            "{what}: {:?}",
            r.map(|i| i.len())
        );
    };
    refuse("unknown kind", &|b| b[par] = 9);
    refuse("unknown state", &|b| b[par + 4] = 7);
    refuse("pending with codes", &|b| b[par + 4] = 0);
    refuse("wrong dimension", &|b| b[par + 8] = 5);
    refuse("NaN in the parameters", &|b| {
        b[par + 16..par + 20].copy_from_slice(&f32::NAN.to_le_bytes())
    });
    refuse("a negative step", &|b| {
        let at = par + 16 + 4 * dim;
        b[at..at + 4].copy_from_slice(&(-1.0f32).to_le_bytes())
    });
    // A flipped byte in the codes without a resealed checksum.
    let mut b = bytes.clone();
    b[cod + 3] ^= 0x40;
    assert!(matches!(
        IndexFile::from_bytes::<MemoryStore<f32>>(&b),
        Err(Error::Corrupt { .. })
    ));
    // 4-bit codes take half a byte a dimension, in blocks of 32: the 8-bit
    // length is wrong for them.
    let mut b = bytes.clone();
    b[par] = 2;
    reseal(&mut b);
    assert!(matches!(
        IndexFile::from_bytes::<MemoryStore<f32>>(&b),
        Err(Error::Corrupt { .. })
    ));
    // Any code value is a valid code: a changed one (resealed) still opens.
    let mut b = bytes.clone();
    b[cod + 3] ^= 0x40;
    reseal(&mut b);
    assert!(IndexFile::from_bytes::<MemoryStore<f32>>(&b).is_ok());
}

/// Codes read in place from the file's bytes (what a memory map gives)
/// search exactly as a private copy does, cost no private memory, and go
/// back to a copy at the first insert.
#[test]
fn codes_can_be_read_in_place_from_the_file() {
    let dim = 16;
    let (base, queries) = base_and_queries(1_200, 10, dim, 8);
    let mut index = hnsw(Metric::L2, dim, &base[..1_000 * dim]);
    index.quantize(Quantization::Sq8).unwrap();
    let bytes = index.to_bytes().unwrap();
    let header = vectrove_core::format::Header::parse(&bytes, bytes.len() as u64).unwrap();
    let mut mapped = Hnsw::from_bytes(&bytes).unwrap();
    let before = mapped.graph_bytes();
    assert!(!mapped.share_codes(std::sync::Arc::new(vec![0u8; bytes.len()]), &header));
    assert!(mapped.share_codes(std::sync::Arc::new(bytes.clone()), &header));
    // The private copy of the codes is gone.
    assert!(before - mapped.graph_bytes() >= 1_000 * dim);
    for q in queries.chunks_exact(dim) {
        assert_eq!(
            mapped.search(q, 10, 64).unwrap(),
            index.search(q, 10, 64).unwrap()
        );
    }
    let ids: Vec<u64> = (1_000..1_200).collect();
    mapped.insert_many(&ids, &base[1_000 * dim..]).unwrap();
    index.insert_many(&ids, &base[1_000 * dim..]).unwrap();
    assert!(mapped.is_quantized());
    assert_eq!(mapped.to_bytes().unwrap(), index.to_bytes().unwrap());
    let mut none = hnsw(Metric::L2, dim, &base[..100 * dim]);
    assert!(!none.share_codes(std::sync::Arc::new(bytes), &header));
}

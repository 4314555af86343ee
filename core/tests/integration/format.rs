//! The file format: round trips, and a deterministic corruption test that
//! truncates a small index at every length and damages every byte.

use vectrove_core::format::{self, Header};
use vectrove_core::rng::SplitMix64;
use vectrove_core::store::{VectorType, copy_vector};
use vectrove_core::{Error, FeatureStore, Hnsw, HnswFile, MemoryStore, Metric};

/// Both ways an index keeps `f32` vectors.
const TYPES: [VectorType; 2] = [VectorType::F32, VectorType::F16];

fn small_index(n: usize, dim: usize, metric: Metric, seed: u64) -> Hnsw {
    small_index_as(VectorType::F32, n, dim, metric, seed)
}

fn small_index_as(ty: VectorType, n: usize, dim: usize, metric: Metric, seed: u64) -> Hnsw {
    let mut rng = SplitMix64::new(seed);
    let mut index = Hnsw::builder(dim, metric)
        .m(4)
        .ef_construction(32)
        .seed(seed)
        .vector_type(ty)
        .build()
        .unwrap();
    for i in 0..n {
        let v: Vec<f32> = (0..dim).map(|_| rng.next_f64() as f32 - 0.5).collect();
        index.insert(1000 + i as u64, &v).unwrap();
    }
    // Some deletions, so the bitmap is not all zero.
    for i in (0..n).step_by(7) {
        index.delete(1000 + i as u64).unwrap();
    }
    index
}

fn same_index(a: &Hnsw, b: &Hnsw) {
    assert_eq!(a.len(), b.len());
    assert_eq!(a.slot_count(), b.slot_count());
    assert_eq!(a.params(), b.params());
    assert_eq!(a.metric(), b.metric());
    assert_eq!(a.entry_point(), b.entry_point());
    assert_eq!(a.max_level(), b.max_level());
    for slot in 0..a.slot_count() as u32 {
        assert_eq!(a.slot_id(slot), b.slot_id(slot));
        assert_eq!(a.is_deleted(slot), b.is_deleted(slot));
        for l in 0..=a.node_level(slot).unwrap() {
            assert_eq!(a.neighbors(slot, l), b.neighbors(slot, l));
        }
        assert_eq!(vector(a, slot), vector(b, slot));
    }
    assert_eq!(a.store().vector_type(), b.store().vector_type());
}

/// The stored vector of `slot`, as the index hands it out.
fn vector(ix: &Hnsw, slot: u32) -> Vec<f32> {
    let mut v = Vec::new();
    assert!(
        copy_vector(ix.store(), slot, &mut v)
            .unwrap()
            .ready()
            .is_some()
    );
    v
}

#[test]
fn round_trip_is_exact_and_searchable() {
    for (ty, metric) in TYPES
        .into_iter()
        .flat_map(|t| [Metric::L2, Metric::Cosine, Metric::InnerProduct].map(|m| (t, m)))
    {
        let a = small_index_as(ty, 300, 12, metric, 3);
        let bytes = a.to_bytes().unwrap();
        let b: Hnsw = Hnsw::from_bytes(&bytes).unwrap();
        same_index(&a, &b);
        b.verify().unwrap();
        assert_eq!(b.to_bytes().unwrap(), bytes, "re-encoding changes nothing");
        let q = vector(&a, 5);
        assert_eq!(a.search(&q, 10, 32).unwrap(), b.search(&q, 10, 32).unwrap());
    }
}

/// An index of f16 vectors: element type 3 in the header, two bytes an
/// element in the vectors section, each value the nearest f16 of the one
/// inserted; its file is half the vectors of the same index in f32.
#[test]
fn f16_files_store_two_bytes_an_element() {
    let a = small_index_as(VectorType::F16, 100, 6, Metric::L2, 1);
    let f = small_index_as(VectorType::F32, 100, 6, Metric::L2, 1);
    let bytes = a.to_bytes().unwrap();
    let header = Header::parse(&bytes, bytes.len() as u64).unwrap();
    assert_eq!((header.elem, header.vector_type()), (3, VectorType::F16));
    assert_eq!(format::elem_name(header.elem), "f16");
    assert_eq!(header.vector_stride(), 12);
    assert_eq!(header.vector_bytes(), 100 * 12);
    assert_eq!(header.file_len, header.meta_len + 1200);
    let v = header.vectors();
    for slot in [0u32, 17, 99] {
        let at = v.base_offset as usize + slot as usize * 12;
        let raw: Vec<f32> = bytes[at..at + 12]
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect();
        let exact = vector(&f, slot);
        let rounded: Vec<f32> = exact
            .iter()
            .map(|&x| half::f16::from_f32(x).to_f32())
            .collect();
        assert_eq!(raw, vector(&a, slot));
        assert_eq!(raw, rounded);
    }
    // Opened over a store of plain f32s holding the same values, it works
    // alike and saves as that store keeps them (f32).
    let meta = &bytes[..header.meta_len as usize];
    let file = HnswFile::decode(header.clone(), meta).unwrap();
    let flat: Vec<f32> = (0..100).flat_map(|s| vector(&a, s)).collect();
    let opened = file
        .into_index(MemoryStore::from_flat(6, &flat).unwrap())
        .unwrap();
    assert_eq!(
        opened.search(&flat[..6], 5, 16).unwrap(),
        a.search(&flat[..6], 5, 16).unwrap()
    );
    let saved = opened.to_bytes().unwrap();
    assert_eq!(
        Header::parse(&saved, saved.len() as u64)
            .unwrap()
            .vector_type(),
        VectorType::F32
    );
    // f16 files are f32 indexes: opening one as u8 is a clear error.
    let err = Hnsw::<MemoryStore<u8>>::from_bytes(&bytes).unwrap_err();
    assert!(err.to_string().contains("f16"), "{err}");
}

/// The finiteness check applies to the decoded f16 values: a stored
/// infinity or NaN (checksums recomputed) is refused on opening.
#[test]
fn f16_infinities_and_nans_in_a_file_are_refused() {
    let index = small_index_as(VectorType::F16, 40, 4, Metric::L2, 2);
    let bytes = index.to_bytes().unwrap();
    let header = Header::parse(&bytes, bytes.len() as u64).unwrap();
    let at = header.meta_len as usize + 5 * 8 + 2;
    for bits in [0x7C00u16, 0xFC00, 0x7E00, 0x7C01, 0xFFFF] {
        let mut damaged = bytes.clone();
        damaged[at..at + 2].copy_from_slice(&bits.to_le_bytes());
        format::reseal(&mut damaged);
        let err = Hnsw::<MemoryStore<f32>>::from_bytes(&damaged).unwrap_err();
        assert!(err.to_string().contains("non-finite"), "{bits:#x}: {err}");
    }
    // The largest finite f16 is fine.
    let mut big = bytes.clone();
    big[at..at + 2].copy_from_slice(&0x7BFFu16.to_le_bytes());
    format::reseal(&mut big);
    let ix = Hnsw::<MemoryStore<f32>>::from_bytes(&big).unwrap();
    assert_eq!(vector(&ix, 5)[1], 65504.0);
    // A header that claims f32 for f16 bytes (or the reverse) does not
    // fit the vectors section.
    for code in [1u32, 2, 4] {
        let mut other = bytes.clone();
        other[20..24].copy_from_slice(&code.to_le_bytes());
        format::reseal(&mut other);
        expect_corrupt(&other, &format!("element type {code}"));
    }
}

#[test]
fn loaded_index_keeps_growing_like_the_original() {
    let mut a = small_index(200, 8, Metric::L2, 9);
    let mut b: Hnsw = Hnsw::from_bytes(&a.to_bytes().unwrap()).unwrap();
    let mut rng = SplitMix64::new(77);
    for i in 0..100u64 {
        let v: Vec<f32> = (0..8).map(|_| rng.next_f64() as f32).collect();
        a.insert(5000 + i, &v).unwrap();
        b.insert(5000 + i, &v).unwrap();
    }
    // The level generator's state was saved too, so the graphs stay identical.
    same_index(&a, &b);
}

#[test]
fn empty_and_hamming_indexes_round_trip() {
    let empty = Hnsw::builder(5, Metric::Cosine).build().unwrap();
    let back: Hnsw = Hnsw::from_bytes(&empty.to_bytes().unwrap()).unwrap();
    assert!(back.is_empty());
    assert_eq!(back.dim(), 5);
    assert!(back.search(&[1.0; 5], 3, 10).unwrap().is_empty());

    let mut codes = Hnsw::builder(3, Metric::Hamming)
        .build_with_store(MemoryStore::<u8>::new(3).unwrap())
        .unwrap();
    for i in 0..50u8 {
        codes
            .insert(u64::from(i), &[i, i.wrapping_mul(7), 255 - i])
            .unwrap();
    }
    let bytes = codes.to_bytes().unwrap();
    let back = Hnsw::<MemoryStore<u8>>::from_bytes(&bytes).unwrap();
    assert_eq!(back.get(10).unwrap(), vec![10, 70, 245]);
    // Opening u8 vectors as f32 is a clear error.
    let err = Hnsw::<MemoryStore<f32>>::from_bytes(&bytes).unwrap_err();
    assert!(err.to_string().contains("u8"), "{err}");
}

#[test]
fn vectors_sit_at_an_aligned_computable_offset() {
    let index = small_index(100, 6, Metric::L2, 1);
    let bytes = index.to_bytes().unwrap();
    let header = Header::parse(&bytes, bytes.len() as u64).unwrap();
    let v = header.vectors();
    assert_eq!(v.base_offset % format::VECTOR_ALIGN, 0);
    assert_eq!((v.stride, header.vector_stride()), (Some(24), 24));
    for slot in [0u32, 17, 99] {
        let at = v.base_offset as usize + slot as usize * header.vector_stride();
        let raw: Vec<f32> = bytes[at..at + 24]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(raw, index.store().get(slot).unwrap());
    }
    // The metadata alone decodes, and the index opens over any store.
    let meta = &bytes[..header.meta_len as usize];
    let file = HnswFile::decode(header.clone(), meta).unwrap();
    let store = MemoryStore::from_flat(6, index.store().as_flat()).unwrap();
    let opened = file.into_index(store).unwrap();
    same_index(&index, &opened);
    // A store of the wrong size is refused.
    let file = HnswFile::decode(header, meta).unwrap();
    assert!(
        file.into_index(MemoryStore::<f32>::new(6).unwrap())
            .is_err()
    );
}

fn expect_corrupt(bytes: &[u8], what: &str) {
    match Hnsw::<MemoryStore<f32>>::from_bytes(bytes) {
        Err(Error::Corrupt { .. }) => {}
        Err(e) => panic!("{what}: expected a corruption error, got {e}"),
        Ok(_) => panic!("{what}: damaged bytes were accepted"),
    }
}

#[test]
fn every_truncation_and_every_flipped_byte_is_refused() {
    for ty in TYPES {
        truncations_and_flips_are_refused(ty);
    }
}

fn truncations_and_flips_are_refused(ty: VectorType) {
    let index = small_index_as(ty, 80, 8, Metric::L2, 5);
    let bytes = index.to_bytes().unwrap();
    let mut cases = 0usize;
    for len in 0..bytes.len() {
        expect_corrupt(&bytes[..len], &format!("truncated to {len}"));
        cases += 1;
    }
    let mut longer = bytes.clone();
    longer.push(0);
    expect_corrupt(&longer, "one byte appended");
    cases += 1;
    // Every byte of the file is covered by a checksum or the zero-padding
    // check, so any flipped bit anywhere is caught.
    let mut damaged = bytes.clone();
    for at in 0..bytes.len() {
        for bit in [0u8, 3, 7] {
            damaged[at] ^= 1 << bit;
            expect_corrupt(&damaged, &format!("bit {bit} of byte {at} flipped"));
            damaged[at] ^= 1 << bit;
            cases += 1;
        }
    }
    println!(
        "corruption cases refused: {cases} ({ty} file of {} bytes)",
        bytes.len()
    );
}

/// Damage with the checksums recomputed, so the structural checks behind
/// them are what must catch it: nothing may panic, and whatever opens must
/// be a consistent index.
#[test]
fn resealed_damage_never_panics() {
    for ty in TYPES {
        resealed_damage_is_refused_or_consistent(ty);
    }
}

fn resealed_damage_is_refused_or_consistent(ty: VectorType) {
    let index = small_index_as(ty, 80, 8, Metric::L2, 5);
    let bytes = index.to_bytes().unwrap();
    let header = Header::parse(&bytes, bytes.len() as u64).unwrap();
    let meta_len = header.meta_len as usize;
    let mut rng = SplitMix64::new(11);
    let (mut refused, mut opened) = (0usize, 0usize);
    let mut damaged = bytes.clone();
    // Every metadata byte, set to a few values that make lengths, counts and
    // ids extreme.
    for at in 0..meta_len {
        for value in [0x00, 0xff, 0x80, 0x01, rng.next_u32() as u8] {
            damaged[at] = value;
            format::reseal(&mut damaged);
            match Hnsw::<MemoryStore<f32>>::from_bytes(&damaged) {
                Ok(ix) => {
                    ix.verify().unwrap();
                    let _ = ix.search(&[0.1; 8], 5, 16).unwrap();
                    opened += 1;
                }
                Err(_) => refused += 1,
            }
            damaged.copy_from_slice(&bytes);
        }
    }
    println!("resealed {ty} cases: {refused} refused, {opened} still valid");
    assert!(refused > meta_len, "most damage must be refused");
}

#[test]
fn header_checks_read_only_the_prefix() {
    let bytes = small_index(10, 4, Metric::L2, 2).to_bytes().unwrap();
    let hl = Header::header_len(&bytes[..Header::PREFIX_LEN]).unwrap();
    assert!(hl > Header::PREFIX_LEN);
    assert!(Header::parse(&bytes[..hl], bytes.len() as u64).is_ok());
    assert!(Header::parse(&bytes[..hl - 1], bytes.len() as u64).is_err());
    assert!(Header::parse(&bytes[..hl], bytes.len() as u64 + 1).is_err());
    let mut other = bytes.clone();
    other[..8].copy_from_slice(b"NOTVTROV");
    let err = Hnsw::<MemoryStore<f32>>::from_bytes(&other).unwrap_err();
    assert!(err.to_string().contains("magic"), "{err}");
}

/// Ids equal to slots need no table; the first other id switches to one,
/// and both forms save, load, delete and re-insert alike.
#[test]
fn dense_and_sparse_ids_behave_alike() {
    let mut rng = SplitMix64::new(4);
    let mut index = Hnsw::builder(4, Metric::L2).m(4).build().unwrap();
    let vecs: Vec<Vec<f32>> = (0..60)
        .map(|_| (0..4).map(|_| rng.next_f64() as f32).collect())
        .collect();
    for (i, v) in vecs.iter().enumerate().take(50) {
        index.insert(i as u64, v).unwrap();
    }
    index.delete(7).unwrap();
    assert!(!index.contains(7) && index.contains(8) && !index.contains(50));
    assert!(index.delete(7).is_err());
    let dense: Hnsw = Hnsw::from_bytes(&index.to_bytes().unwrap()).unwrap();
    assert!(!dense.contains(7) && dense.contains(49));
    // Re-inserting a deleted id gives it a new slot: the table appears.
    index.insert(7, &vecs[50]).unwrap();
    index.insert(1_000_000, &vecs[51]).unwrap();
    assert!(index.contains(7) && index.contains(1_000_000) && index.contains(3));
    assert_eq!(index.get(7).unwrap(), vecs[50]);
    assert_eq!(index.slot_id(50), Some(7));
    let sparse: Hnsw = Hnsw::from_bytes(&index.to_bytes().unwrap()).unwrap();
    same_index(&index, &sparse);
    assert_eq!(sparse.search(&vecs[51], 1, 16).unwrap()[0].id, 1_000_000);
    assert_eq!(sparse.len(), 51);
}

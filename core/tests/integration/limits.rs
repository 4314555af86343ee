//! Decoding and searching within bounds: memory follows the bytes a file
//! really holds, sections a reader does not know are not read, and huge
//! counts from a caller or a header never turn into an allocation.

use std::cell::RefCell;
use std::ops::Range;

use vectrove_core::format::{self, Header, MetaReader};
use vectrove_core::store::{ByteSource, SourceRead};
use vectrove_core::{
    AnyIndex, Error, Hnsw, IndexFile, Ivf, IvfParams, MemoryStore, Metric, Result, SearchParams,
    exact_knn,
};

// On wasm32 the same tests run in Node.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// A section to lay out: tag, flags, bytes.
type Part = ([u8; 4], u32, Vec<u8>);

/// A file laid out from its sections and vectors (8-byte aligned sections,
/// the vectors at the next 4096-byte boundary), every checksum filled in by
/// [`format::reseal`].
fn assemble(
    kind: u32,
    metric: u32,
    dim: usize,
    count: usize,
    parts: &[Part],
    vectors: &[u8],
) -> Vec<u8> {
    let mut parts = parts.to_vec();
    parts.push((*b"VSUM", 0, vec![0; 4 * vectors.len().div_ceil(64 << 10)]));
    let n = parts.len() + 1;
    let header_len = 64 + 32 * n;
    let mut at = header_len as u64;
    let mut offsets = Vec::new();
    for (_, _, b) in &parts {
        at = at.next_multiple_of(8);
        offsets.push(at);
        at += b.len() as u64;
    }
    let meta_len = at.next_multiple_of(4096);
    let file_len = meta_len + vectors.len() as u64;
    let mut out = vec![0u8; file_len as usize];
    out[..8].copy_from_slice(b"VECTROVE");
    let fields: [(usize, u64, usize); 9] = [
        (8, 1, 4),
        (12, header_len as u64, 4),
        (16, u64::from(kind), 4),
        (20, 1, 4),
        (24, u64::from(metric), 4),
        (28, dim as u64, 4),
        (32, count as u64, 8),
        (40, meta_len, 8),
        (48, file_len, 8),
    ];
    for (at, v, w) in fields {
        out[at..at + w].copy_from_slice(&v.to_le_bytes()[..w]);
    }
    out[56..60].copy_from_slice(&(n as u32).to_le_bytes());
    let entries = parts
        .iter()
        .zip(&offsets)
        .map(|((t, f, b), &o)| (*t, *f, o, b.len() as u64))
        .chain([(*b"VECS", 0, meta_len, vectors.len() as u64)]);
    for (i, (t, f, o, l)) in entries.enumerate() {
        let e = 64 + 32 * i;
        out[e..e + 4].copy_from_slice(&t);
        out[e + 4..e + 8].copy_from_slice(&f.to_le_bytes());
        out[e + 8..e + 16].copy_from_slice(&o.to_le_bytes());
        out[e + 16..e + 24].copy_from_slice(&l.to_le_bytes());
    }
    for ((_, _, b), &o) in parts.iter().zip(&offsets) {
        out[o as usize..o as usize + b.len()].copy_from_slice(b);
    }
    out[meta_len as usize..].copy_from_slice(vectors);
    format::reseal(&mut out);
    out
}

fn u32s(v: impl IntoIterator<Item = u32>) -> Vec<u8> {
    v.into_iter().flat_map(u32::to_le_bytes).collect()
}

fn u64s(v: impl IntoIterator<Item = u64>) -> Vec<u8> {
    v.into_iter().flat_map(u64::to_le_bytes).collect()
}

/// The sections of an HNSW file of `n` one-dimensional points on level 0,
/// node `i` linked to `i + 1` (a chain, so every node has its parent), with
/// the given `m0`.
fn chain_hnsw(n: usize, m0: u32) -> (Vec<Part>, Vec<u8>) {
    let mut params = u32s([2, m0, 16, 0]);
    params.extend(u64s([7, 7]));
    params.extend(u32s([0, 0]));
    let mut graph = Vec::new();
    for i in 0..n as u32 {
        if i + 1 < n as u32 {
            graph.extend(u32s([1, i + 1]));
        } else {
            graph.extend(u32s([0]));
        }
    }
    let parts = vec![
        (*b"PARM", 0, params),
        (*b"LEVL", 0, vec![0; n]),
        (*b"GRPH", 0, graph),
        (*b"PRNT", 0, u32s((0..n as u32).map(|i| i.wrapping_sub(1)))),
        (*b"ELNK", 0, Vec::new()),
        (*b"IDS_", 0, u64s(0..n as u64)),
        (*b"DELS", 0, vec![0; 8 * n.div_ceil(64)]),
    ];
    let vectors = u32s((0..n).map(|i| (i as f32).to_bits()));
    (parts, vectors)
}

/// A file with `m0 = 2048` over 300,000 nodes holds a few bytes a node; its
/// graph in memory takes what the file's lists take, not `m0` words a node
/// (2.4 GB), and inserting after opening grows the lists it needs to.
#[test]
fn a_wide_graph_takes_the_memory_of_its_links() {
    let n = 300_000;
    let (parts, vectors) = chain_hnsw(n, 2048);
    let bytes = assemble(1, 1, 1, n, &parts, &vectors);
    let mut index: Hnsw = Hnsw::from_bytes(&bytes).unwrap();
    assert_eq!((index.len(), index.params().m0), (n, 2048));
    assert!(
        index.graph_bytes() < bytes.len(),
        "{} bytes of graph for a file of {}",
        index.graph_bytes(),
        bytes.len()
    );
    index.verify().unwrap();
    assert_eq!(index.search(&[2.2], 1, 8).unwrap()[0].id, 2);
    for (i, x) in [0.5f32, 1.5, 0.25].into_iter().enumerate() {
        index.insert(n as u64 + i as u64, &[x]).unwrap();
    }
    index.verify().unwrap();
    assert_eq!(index.search(&[0.26], 1, 8).unwrap()[0].id, n as u64 + 2);
    // The grown index saves and opens as any other.
    let again: Hnsw = Hnsw::from_bytes(&index.to_bytes().unwrap()).unwrap();
    again.verify().unwrap();
    assert_eq!(again.search(&[1.5], 1, 8).unwrap()[0].id, n as u64 + 1);
}

/// Bytes served from a few stored pieces, zeros elsewhere (a sparse file),
/// recording every range read.
struct Sparse {
    len: u64,
    pieces: Vec<(u64, Vec<u8>)>,
    reads: RefCell<Vec<Range<u64>>>,
}

impl ByteSource for Sparse {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<SourceRead> {
        let end = offset + buf.len() as u64;
        assert!(end <= self.len, "a read past the end");
        self.reads.borrow_mut().push(offset..end);
        buf.fill(0);
        for (at, piece) in &self.pieces {
            let (s, e) = (offset.max(*at), end.min(at + piece.len() as u64));
            if s < e {
                buf[(s - offset) as usize..(e - offset) as usize]
                    .copy_from_slice(&piece[(s - at) as usize..(e - at) as usize]);
            }
        }
        Ok(SourceRead::Done)
    }
}

/// `bytes` with an unknown optional section of `extra` zero bytes inserted
/// after its first section: the pieces of the sparse file it makes (the
/// extra section's bytes are not stored) and its length.
fn with_unknown_section(bytes: &[u8], extra: u64) -> (Vec<(u64, Vec<u8>)>, u64) {
    let h = Header::parse(bytes, bytes.len() as u64).unwrap();
    let mut meta: Vec<_> = h
        .sections
        .iter()
        .filter(|s| &s.tag != b"VECS")
        .copied()
        .collect();
    meta.sort_by_key(|s| s.offset);
    let header_len = 64 + 32 * (h.sections.len() + 1);
    let mut at = header_len as u64;
    let mut placed = Vec::new();
    for (i, s) in meta.iter().enumerate() {
        at = at.next_multiple_of(8);
        placed.push((*s, at));
        at += s.len;
        if i == 0 {
            at = at.next_multiple_of(8);
            let x = format::Section {
                tag: *b"XTRA",
                flags: 1,
                offset: at,
                len: extra,
                crc: 0,
            };
            placed.push((x, at));
            at += extra;
        }
    }
    let meta_len = at.next_multiple_of(4096);
    let file_len = meta_len + h.vector_bytes();
    let mut head = bytes[..64].to_vec();
    head[12..16].copy_from_slice(&(header_len as u32).to_le_bytes());
    head[40..48].copy_from_slice(&meta_len.to_le_bytes());
    head[48..56].copy_from_slice(&file_len.to_le_bytes());
    head[56..60].copy_from_slice(&((h.sections.len() + 1) as u32).to_le_bytes());
    let v = h.section(*b"VECS").unwrap();
    let entries = placed
        .iter()
        .map(|&(s, o)| format::Section { offset: o, ..s })
        .chain([format::Section {
            offset: meta_len,
            ..v
        }]);
    for s in entries {
        head.extend_from_slice(&s.tag);
        head.extend_from_slice(&s.flags.to_le_bytes());
        head.extend_from_slice(&s.offset.to_le_bytes());
        head.extend_from_slice(&s.len.to_le_bytes());
        head.extend_from_slice(&s.crc.to_le_bytes());
        head.extend_from_slice(&[0; 4]);
    }
    head[60..64].fill(0);
    let crc = format::checksum(&head);
    head[60..64].copy_from_slice(&crc.to_le_bytes());
    let mut pieces = vec![(0, head)];
    for (s, o) in placed.iter().filter(|(s, _)| &s.tag != b"XTRA") {
        pieces.push((
            *o,
            bytes[s.offset as usize..(s.offset + s.len) as usize].to_vec(),
        ));
    }
    pieces.push((meta_len, bytes[v.offset as usize..].to_vec()));
    (pieces, file_len)
}

fn small_hnsw() -> Hnsw {
    let mut index = Hnsw::builder(3, Metric::L2).m(4).seed(5).build().unwrap();
    for i in 0..200u64 {
        let x = i as f32;
        index.insert(i * 3, &[x, (x * 0.37).sin(), 1.0]).unwrap();
    }
    index.delete(6).unwrap();
    index
}

/// A 1.5 GB optional section this build does not know, in the middle of the
/// metadata, is never read: opening reads the other sections only, keeps
/// only their bytes, and the index is the same as without it.
#[test]
fn unknown_optional_sections_are_skipped_not_read() {
    let index = small_hnsw();
    let bytes = index.to_bytes().unwrap();
    let extra = 1_500_000_000u64;
    let (pieces, len) = with_unknown_section(&bytes, extra);
    let first = pieces[1].0; // the first section, which the unknown one follows
    let source = Sparse {
        len,
        pieces,
        reads: RefCell::new(Vec::new()),
    };
    let (header, meta) = format::read_meta(&source).unwrap();
    let skipped = header.skipped();
    assert_eq!(skipped.len(), 1);
    let (start, end) = skipped[0];
    assert_eq!(end - start, extra);
    assert!(start > first);
    assert_eq!(meta.len() as u64, header.meta_len - extra);
    for r in source.reads.borrow().iter() {
        assert!(r.end <= start || r.start >= end, "read {r:?}");
    }
    let file = IndexFile::decode(header, &meta).unwrap();
    let vectors = &bytes[Header::parse(&bytes, bytes.len() as u64).unwrap().meta_len as usize..];
    let store = file.memory_store::<f32>(vectors).unwrap();
    let opened = file.into_index(store).unwrap().into_hnsw().unwrap();
    opened.verify().unwrap();
    assert_eq!(opened.to_bytes().unwrap(), bytes, "the same index");

    // A small unknown section: the whole file in memory, read in full,
    // decodes to the same index as the file read without it.
    let (pieces, len) = with_unknown_section(&bytes, 1000);
    let mut whole = vec![0u8; len as usize];
    for (at, p) in &pieces {
        whole[*at as usize..*at as usize + p.len()].copy_from_slice(p);
    }
    let from_whole: AnyIndex = IndexFile::from_bytes(&whole).unwrap();
    assert_eq!(from_whole.to_bytes().unwrap(), bytes);
    // Unknown required sections stay an error.
    let h = Header::parse(&whole, len).unwrap();
    let i = h.sections.iter().position(|s| &s.tag == b"XTRA").unwrap();
    whole[64 + 32 * i + 4] = 0;
    format::reseal(&mut whole);
    let err = IndexFile::from_bytes::<MemoryStore<f32>>(&whole).unwrap_err();
    assert!(err.to_string().contains("XTRA"), "{err}");
}

/// A stream whose header claims gigabytes of metadata is asked for them a
/// step at a time, so nothing the size of the claim is allocated before
/// the bytes arrive.
#[test]
fn a_stream_is_not_trusted_with_its_claimed_length() {
    let (parts, vectors) = chain_hnsw(10, 4);
    let mut bytes = assemble(1, 1, 1, 10, &parts, &vectors);
    let h = Header::parse(&bytes, bytes.len() as u64).unwrap();
    // The last metadata section (the vector checksums) claims 2 GiB; the
    // header still parses, the stream ends long before.
    let entry = |tag: &[u8; 4]| 64 + 32 * h.sections.iter().position(|s| &s.tag == tag).unwrap();
    let sums = h.section(*b"VSUM").unwrap();
    let claim = 2u64 << 30;
    let meta_len = (sums.offset + claim).next_multiple_of(4096);
    let file_len = meta_len + h.vector_bytes();
    let (e, v) = (entry(b"VSUM"), entry(b"VECS"));
    bytes[e + 16..e + 24].copy_from_slice(&claim.to_le_bytes());
    bytes[v + 8..v + 16].copy_from_slice(&meta_len.to_le_bytes());
    bytes[40..48].copy_from_slice(&meta_len.to_le_bytes());
    bytes[48..56].copy_from_slice(&file_len.to_le_bytes());
    let header_len = 64 + 32 * h.sections.len();
    bytes[60..64].fill(0);
    let crc = format::checksum(&bytes[..header_len]);
    bytes[60..64].copy_from_slice(&crc.to_le_bytes());
    Header::parse(&bytes[..header_len], file_len).expect("a header that parses");

    for total in [None, Some(file_len)] {
        let mut reader = MetaReader::new(total);
        let mut fed = 0u64;
        while let Some(r) = reader.wants() {
            assert!(
                r.end - r.start <= fed.max(1 << 20),
                "asked for {r:?} after {fed} bytes"
            );
            if r.end as usize > bytes.len() {
                break; // the stream ends here
            }
            reader
                .feed(&bytes[r.start as usize..r.end as usize])
                .unwrap();
            fed = r.end;
        }
        assert!(fed > 0, "the header was read");
        assert!(reader.finish().is_err(), "the metadata never arrived whole");
    }
}

/// Searches with an absurd `k` return what there is, with no allocation
/// sized by `k`.
#[test]
fn huge_k_is_clamped_everywhere() {
    let hnsw = small_hnsw();
    let points: Vec<f32> = (0..400)
        .map(|i| (i % 20) as f32 + (i / 20) as f32 * 0.01)
        .collect();
    let training = MemoryStore::from_flat(2, &points).unwrap();
    let mut ivf = Ivf::train(
        Metric::L2,
        IvfParams {
            nlist: 4,
            ..IvfParams::default()
        },
        &training,
    )
    .unwrap();
    ivf.insert_many(&(0..200).collect::<Vec<u64>>(), &points)
        .unwrap();
    let q = [3.0f32, 0.5, 1.0];
    for k in [1usize << 28, 1 << 31, usize::MAX] {
        assert_eq!(hnsw.search(&q, k, 16).unwrap().len(), hnsw.len());
        assert_eq!(hnsw.search(&q, k, usize::MAX).unwrap().len(), hnsw.len());
        assert_eq!(ivf.search(&q[..2], k, 4).unwrap().len(), 200);
        assert_eq!(ivf.search(&q[..2], k, usize::MAX).unwrap().len(), 200);
        let any = AnyIndex::from(small_hnsw());
        let p = SearchParams {
            ef: k,
            nprobe: k,
            rerank: 0,
        };
        assert_eq!(any.search(&q, k, &p).unwrap().len(), any.len());
        let state = hnsw.start_search(&q, k, k).unwrap();
        assert!(state.upcoming(k).is_empty());
        assert_eq!(
            exact_knn(Metric::L2, 2, &points, &points[..2], k).unwrap()[0].len(),
            200
        );
    }
}

/// PCA refuses more components than the data has points (or dimensions)
/// before allocating anything sized by them.
#[test]
fn pca_components_are_bounded_by_the_data() {
    use vectrove_core::{Pca, PcaParams};
    let dim = 8192;
    let data: Vec<f32> = (0..10 * dim).map(|i| ((i * 7919) % 101) as f32).collect();
    for components in [11, 8192, 1 << 20] {
        let params = PcaParams {
            components,
            ..PcaParams::default()
        };
        let err = Pca::fit(&data, dim, &params).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidParameter {
                    name: "components",
                    ..
                }
            ),
            "{err}"
        );
    }
    let params = PcaParams {
        components: 3,
        ..PcaParams::default()
    };
    assert_eq!(
        Pca::fit(&data[..10 * 16], 16, &params)
            .unwrap()
            .n_components(),
        3
    );
}

/// The offset and length of section `tag` in the file `bytes`.
fn section_range(bytes: &[u8], tag: &[u8; 4]) -> Range<usize> {
    let h = Header::parse(bytes, bytes.len() as u64).unwrap();
    let s = h.section(*tag).unwrap();
    s.offset as usize..(s.offset + s.len) as usize
}

/// IVF cosine centroids must have unit length, as the format says.
#[test]
fn cosine_centroids_of_another_length_are_refused() {
    let points: Vec<f32> = (0..600)
        .map(|i| ((i * 37) % 23) as f32 - 11.0 + 0.5)
        .collect();
    let training = MemoryStore::from_flat(3, &points).unwrap();
    let params = IvfParams {
        nlist: 5,
        ..IvfParams::default()
    };
    let mut ivf = Ivf::train(Metric::Cosine, params, &training).unwrap();
    ivf.insert_many(&(0..200).collect::<Vec<u64>>(), &points)
        .unwrap();
    let bytes = ivf.to_bytes().unwrap();
    Ivf::from_bytes(&bytes).expect("a trained index opens");
    let cent = section_range(&bytes, b"CENT");
    for scale in [2.0f32, 0.5, 1.01] {
        let mut bad = bytes.clone();
        // The second centroid, scaled.
        for at in (cent.start + 12..cent.start + 24).step_by(4) {
            let x = f32::from_le_bytes(bad[at..at + 4].try_into().unwrap()) * scale;
            bad[at..at + 4].copy_from_slice(&x.to_le_bytes());
        }
        format::reseal(&mut bad);
        let err = Ivf::from_bytes(&bad).unwrap_err().to_string();
        assert!(err.contains("centroids: not of unit length"), "{err}");
    }
}

/// A stored NaN or infinity is refused wherever the vectors are read in
/// full or verified; a lazily read file that was not verified still
/// searches without a panic, the bad vector ranked last.
#[test]
fn non_finite_stored_vectors_are_refused_when_checked() {
    let index = small_hnsw();
    let bytes = index.to_bytes().unwrap();
    let h = Header::parse(&bytes, bytes.len() as u64).unwrap();
    for bad_value in [f32::NAN, f32::INFINITY, -f32::NAN, f32::NEG_INFINITY] {
        let mut bad = bytes.clone();
        // Slot 10's second value.
        let at = h.meta_len as usize + 10 * h.vector_stride() + 4;
        bad[at..at + 4].copy_from_slice(&bad_value.to_le_bytes());
        format::reseal(&mut bad);
        let err = Hnsw::<MemoryStore<f32>>::from_bytes(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("non-finite"), "{err}");
        let source = Sparse {
            len: bad.len() as u64,
            pieces: vec![(0, bad.clone())],
            reads: RefCell::new(Vec::new()),
        };
        let file = IndexFile::read(&source).unwrap();
        let err =
            format::verify_vectors(&source, file.header(), file.vector_checksums()).unwrap_err();
        assert!(err.to_string().contains("non-finite"), "{err}");
        // Not verified: opened lazily, the search still answers.
        let layout = file.header().vectors();
        let store =
            vectrove_core::store::PagedStore::<_, f32>::new(source, layout, 1 << 20).unwrap();
        let lazy = file.into_index(store).unwrap().into_hnsw().unwrap();
        // Ids are three times the slots: slot 10 (id 30) holds the bad value.
        let q = index.get(90).unwrap();
        let hits = lazy.search(&q, lazy.len(), 400).unwrap();
        assert_eq!(hits[0].id, 90);
        if bad_value.is_nan() {
            assert_eq!(hits.last().unwrap().id, 30, "{hits:?}");
            assert_eq!(hits.last().unwrap().distance, f32::INFINITY);
        }
    }
    // u8 codes have no non-finite values: every byte is a valid code.
    let mut codes = Hnsw::builder(2, Metric::Hamming)
        .build_with_store(MemoryStore::<u8>::new(2).unwrap())
        .unwrap();
    codes.insert(1, &[0xFF, 0x80]).unwrap();
    Hnsw::<MemoryStore<u8>>::from_bytes(&codes.to_bytes().unwrap()).unwrap();
}

/// A header pairing a metric with an element type it has no distance for
/// (f32 with Hamming, u8 with L2) is refused by the header check itself, so
/// a streamed import refuses it before storing anything.
#[test]
fn a_metric_without_a_distance_for_the_element_is_refused_by_the_header() {
    let bytes = small_hnsw().to_bytes().unwrap();
    let mut bad = bytes.clone();
    bad[24..28].copy_from_slice(&4u32.to_le_bytes()); // Hamming, over f32 vectors
    format::reseal(&mut bad);
    let err = Header::parse(&bad, bad.len() as u64)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("metric not defined for the element type"),
        "{err}"
    );
    let mut reader = MetaReader::new(None);
    let err = loop {
        let Some(r) = reader.wants() else {
            panic!("the stream's metadata was accepted");
        };
        if let Err(e) = reader.feed(&bad[r.start as usize..r.end as usize]) {
            break e.to_string();
        }
    };
    assert!(
        err.contains("metric not defined for the element type"),
        "{err}"
    );

    let mut bytes = Hnsw::builder(8, Metric::Hamming)
        .seed(1)
        .build_with_store(MemoryStore::<u8>::new(8).unwrap())
        .unwrap();
    for i in 0..20u8 {
        bytes.insert(u64::from(i), &[i; 8]).unwrap();
    }
    let mut bad = bytes.to_bytes().unwrap();
    bad[24..28].copy_from_slice(&1u32.to_le_bytes()); // L2, over u8 vectors
    format::reseal(&mut bad);
    let err = Header::parse(&bad, bad.len() as u64)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("metric not defined for the element type"),
        "{err}"
    );
}

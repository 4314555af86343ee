//! Index files searched over HTTP (`vectrove::remote`) from a real server on
//! loopback: the same results as the file opened from disk, in the promised
//! number of round trips, every request pinned to the opened version, and
//! each way a host can misbehave reported as its `RemoteFailure`, with
//! nothing unverified cached.

use std::path::Path;
use std::time::{Duration, Instant};

use vectrove::file::{self, OpenOptions, Storage};
use vectrove::remote::{RemoteIndex, RemoteOptions};
use vectrove::{
    AnyIndex, Error, Ivf, IvfParams, MemoryStore, Metric, Neighbor, Quantization, RemoteFailure,
    SearchParams,
};
use vectrove_testkit::http::{Failure, Server};
use vectrove_testkit::{base_and_queries, build_index};

const DIM: usize = 32;

/// Options with a short timeout, as the failure tests need.
fn quick() -> RemoteOptions {
    RemoteOptions {
        timeout: Duration::from_secs(1),
        ..RemoteOptions::default()
    }
}

fn data() -> (Vec<f32>, Vec<f32>) {
    base_and_queries(3000, 12, DIM, 5)
}

fn hnsw_file(dir: &Path, codes: bool) -> std::path::PathBuf {
    let (base, _) = data();
    let mut index = build_index(&base, DIM, Metric::L2, 8, 64, 3);
    if codes {
        index.quantize(Quantization::Sq8).unwrap();
    }
    let path = dir.join(if codes { "hnsw-sq8.vtrv" } else { "hnsw.vtrv" });
    file::save(&index, &path).unwrap();
    path
}

fn ivf_file(dir: &Path, codes: bool) -> std::path::PathBuf {
    let (base, _) = data();
    let training = MemoryStore::from_flat(DIM, &base).unwrap();
    let params = IvfParams {
        nlist: 30,
        ..IvfParams::default()
    };
    let mut index = Ivf::train(Metric::L2, params, &training).unwrap();
    let ids: Vec<u64> = (0..3000).map(|i| 50_000 + 3 * i).collect();
    index.insert_many(&ids, &base).unwrap();
    if codes {
        index.quantize(Quantization::Sq8).unwrap();
    }
    let path = dir.join(if codes { "ivf-sq8.vtrv" } else { "ivf.vtrv" });
    file::save(&index, &path).unwrap();
    path
}

fn local(path: &Path) -> AnyIndex<file::FileStore<f32>> {
    file::open_any(path, OpenOptions::new(Storage::Memory)).unwrap()
}

fn failure_of(e: &Error) -> RemoteFailure {
    match e {
        Error::Remote { failure, .. } => *failure,
        e => panic!("not a remote error: {e}"),
    }
}

/// Every query over HTTP gives what the file gives from disk; returns the
/// round trips of each (from a cold cache). A repeated query fetches nothing.
fn same_results(server: &Server, path: &Path, p: &SearchParams) -> Vec<u32> {
    let name = path.file_name().unwrap().to_str().unwrap();
    let want = local(path);
    let remote = RemoteIndex::<f32>::open(&server.url(name), quick()).unwrap();
    assert_eq!((remote.len(), remote.dim()), (want.len(), want.dim()));
    assert_eq!(remote.header().kind, want.kind());
    let (_, queries) = data();
    let mut rounds = Vec::new();
    for q in queries.chunks_exact(DIM) {
        let expect: Vec<Neighbor> = want.search(q, 10, p).unwrap();
        remote.clear_cache();
        let (got, trips) = remote.search_with_trips(q, 10, p).unwrap();
        assert_eq!(got, expect, "{name}");
        assert!(
            trips.bytes > 0 && trips.requests >= trips.rounds,
            "{trips:?}"
        );
        rounds.push(trips.rounds);
        let (again, trips) = remote.search_with_trips(q, 10, p).unwrap();
        assert_eq!(again, expect);
        assert_eq!(
            trips.rounds, 0,
            "a repeated query is answered from the cache"
        );
    }
    rounds
}

#[test]
fn hnsw_over_http_equals_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let plain = hnsw_file(dir.path(), false);
    let codes = hnsw_file(dir.path(), true);
    let server = Server::serve_dir("127.0.0.1:0", dir.path()).unwrap();
    let p = SearchParams {
        ef: 48,
        ..SearchParams::default()
    };
    let rounds = same_results(&server, &plain, &p);
    assert!(rounds.iter().all(|&r| r >= 1), "{rounds:?}");
    // With codes the beam search reads codes in memory; only the rerank
    // fetches vectors: one round a query.
    let rounds = same_results(&server, &codes, &p);
    assert!(rounds.iter().all(|&r| r == 1), "{rounds:?}");
}

#[test]
fn ivf_over_http_equals_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let plain = ivf_file(dir.path(), false);
    let codes = ivf_file(dir.path(), true);
    let server = Server::serve_dir("127.0.0.1:0", dir.path()).unwrap();
    let p = SearchParams {
        nprobe: 6,
        ..SearchParams::default()
    };
    // Without codes the probed lists' vectors come in one round.
    let rounds = same_results(&server, &plain, &p);
    assert!(rounds.iter().all(|&r| r == 1), "{rounds:?}");
    // With codes: the probed lists' codes, then the rerank's vectors.
    let rounds = same_results(&server, &codes, &p);
    assert!(rounds.iter().all(|&r| (1..=2).contains(&r)), "{rounds:?}");
}

#[test]
fn requests_of_a_round_go_out_together_and_are_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let path = ivf_file(dir.path(), true);
    let server = Server::serve_dir("127.0.0.1:0", dir.path()).unwrap();
    server.set_latency(Duration::from_millis(30));
    let remote = RemoteIndex::<f32>::open(&server.url("ivf-sq8.vtrv"), quick()).unwrap();
    let info = remote.info();
    assert_eq!(info.file_len, std::fs::metadata(&path).unwrap().len());
    assert!(info.etag.is_some());
    assert!(
        info.opened.rounds <= 3 && info.opened.requests >= 1,
        "{info:?}"
    );
    let opened = server.stats();
    // The first request has nothing to be pinned to; every later one is.
    assert_eq!(opened.conditional, opened.requests - 1);
    server.reset_stats();
    let (_, queries) = data();
    let p = SearchParams {
        nprobe: 12,
        ..SearchParams::default()
    };
    let mut widest = 0;
    for q in queries.chunks_exact(DIM).take(4) {
        let (_, t) = remote.search_with_trips(q, 10, &p).unwrap();
        assert!(t.rounds <= 2, "{t:?}");
        widest = widest.max(t.requests.div_ceil(t.rounds.max(1)));
    }
    let s = server.stats();
    assert_eq!(
        s.conditional, s.requests,
        "every search request carries the pin"
    );
    assert_eq!(s.range_requests, s.requests);
    assert_eq!(s.bytes, remote.stats().bytes);
    // The requests of a round are in flight together.
    assert!(widest >= 2, "some round needs several requests: {widest}");
    assert!(s.max_in_flight >= 2, "{s:?}");
}

/// The HNSW file (no codes: every search fetches) served at `x.vtrv`, the
/// index opened over it, a query and its results from the file.
struct Opened {
    remote: RemoteIndex,
    q: Vec<f32>,
    want: Vec<Neighbor>,
    bytes: Vec<u8>,
}

fn opened(server: &Server) -> Opened {
    let dir = tempfile::tempdir().unwrap();
    let path = hnsw_file(dir.path(), false);
    let bytes = std::fs::read(&path).unwrap();
    server.put("x.vtrv", bytes.clone());
    let remote = RemoteIndex::open(&server.url("x.vtrv"), quick()).unwrap();
    let (_, queries) = data();
    let q = queries[..DIM].to_vec();
    let want = local(&path)
        .search(&q, 10, &SearchParams::default())
        .unwrap();
    Opened {
        remote,
        q,
        want,
        bytes,
    }
}

#[test]
fn misbehaving_hosts_fail_searches_with_their_failure_and_cache_nothing() {
    let server = Server::start().unwrap();
    let Opened {
        remote, q, want, ..
    } = opened(&server);
    let p = SearchParams::default();
    for (failure, expect) in [
        (Failure::IgnoreRange, RemoteFailure::RangeIgnored),
        (Failure::NoContentRange, RemoteFailure::RangeIgnored),
        (Failure::Truncate, RemoteFailure::Length),
        (Failure::CutOff, RemoteFailure::Length),
        (Failure::ExtraBytes, RemoteFailure::Length),
        (Failure::ShiftRange, RemoteFailure::Length),
        (Failure::Status(500), RemoteFailure::Status(500)),
        (Failure::Status(403), RemoteFailure::Status(403)),
        (Failure::Status(404), RemoteFailure::Status(404)),
        (Failure::Hang, RemoteFailure::Timeout),
    ] {
        remote.clear_cache();
        server.set_failure(failure);
        server.reset_stats();
        let t = Instant::now();
        let e = remote.search(&q, 10, &p).unwrap_err();
        assert_eq!(failure_of(&e), expect, "{failure:?}: {e}");
        assert!(e.to_string().contains("x.vtrv"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(4), "{failure:?}");
        let asked = server.stats().requests;
        match failure {
            // One quick retry of a 5xx, none of a 4xx.
            Failure::Status(500) => assert!((2..=2 * 16).contains(&asked), "{asked}"),
            Failure::Status(_) => assert!(asked <= 16, "{asked}"),
            _ => {}
        }
        // Fixed, the same index searches correctly: nothing bad was kept.
        server.set_failure(Failure::None);
        assert_eq!(
            remote.search(&q, 10, &p).unwrap(),
            want,
            "after {failure:?}"
        );
    }
}

#[test]
fn misbehaving_hosts_fail_the_open() {
    let server = Server::start().unwrap();
    opened(&server);
    let url = server.url("x.vtrv");
    for (failure, expect) in [
        (Failure::IgnoreRange, RemoteFailure::RangeIgnored),
        (Failure::NoContentRange, RemoteFailure::RangeIgnored),
        (Failure::Truncate, RemoteFailure::Length),
        (Failure::ExtraBytes, RemoteFailure::Length),
        (Failure::Status(503), RemoteFailure::Status(503)),
        (Failure::Hang, RemoteFailure::Timeout),
    ] {
        server.set_failure(failure);
        let e = RemoteIndex::<f32>::open(&url, quick()).unwrap_err();
        assert_eq!(failure_of(&e), expect, "{failure:?}: {e}");
    }
    server.set_failure(Failure::None);
    let e = RemoteIndex::<f32>::open(&server.url("missing.vtrv"), quick()).unwrap_err();
    assert_eq!(failure_of(&e), RemoteFailure::Status(404));
    assert!(e.to_string().contains(&server.url("missing.vtrv")), "{e}");
    // Nothing listens on a port just freed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e =
        RemoteIndex::<f32>::open(&format!("http://127.0.0.1:{port}/x.vtrv"), quick()).unwrap_err();
    assert_eq!(failure_of(&e), RemoteFailure::Network, "{e}");
    // Not an index at all.
    server.put("junk.bin", vec![7u8; 5000]);
    let e = RemoteIndex::<f32>::open(&server.url("junk.bin"), quick()).unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    let e = RemoteIndex::<f32>::open("ftp://example.com/x.vtrv", quick()).unwrap_err();
    assert!(matches!(e, Error::InvalidParameter { .. }), "{e}");
}

#[test]
fn a_replaced_file_is_changed_for_every_later_search() {
    let dir = tempfile::tempdir().unwrap();
    let other = std::fs::read(ivf_file(dir.path(), false)).unwrap();
    let p = SearchParams::default();
    // Pinned by ETag, by Last-Modified, and by length alone.
    for (etag, modified) in [(true, true), (false, true), (false, false)] {
        for same_length in [true, false] {
            let server = Server::start().unwrap();
            server.set_etag(etag);
            server.set_last_modified(modified);
            let Opened {
                remote, q, bytes, ..
            } = opened(&server);
            if !etag && !modified && same_length {
                // With neither header, only the length is pinned: a change
                // that keeps it shows where the changed bytes are read, as
                // a checksum error.
                continue;
            }
            let now = if same_length {
                let mut b = bytes;
                let at = b.len() - 100;
                b[at] ^= 1;
                b
            } else {
                other.clone()
            };
            server.put("x.vtrv", now);
            let e = remote.search(&q, 10, &p).unwrap_err();
            assert_eq!(
                failure_of(&e),
                RemoteFailure::Changed,
                "{etag} {modified}: {e}"
            );
            let e = remote.search(&q, 10, &p).unwrap_err();
            assert_eq!(failure_of(&e), RemoteFailure::Changed, "stays changed: {e}");
        }
    }
}

#[test]
fn the_async_api_runs_on_any_executor_and_blocking_calls_in_async_code_are_refused() {
    let server = Server::start().unwrap();
    let Opened {
        remote, q, want, ..
    } = opened(&server);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let e = remote.search(&q, 10, &SearchParams::default()).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { .. }), "{e}");
        let (got, _) = remote
            .search_async(&q, 10, &SearchParams::default())
            .await
            .unwrap();
        assert_eq!(got, want);
        let again = RemoteIndex::<f32>::open_async(&server.url("x.vtrv"), quick())
            .await
            .unwrap();
        assert_eq!(again.len(), remote.len());
        // Dropped inside async code: no panic.
        drop(again);
    });
}

#[test]
fn any_object_store_plugs_in() {
    use object_store::memory::InMemory;
    use object_store::path::Path as ObjectPath;
    use object_store::{ObjectStore, ObjectStoreExt};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let path = ivf_file(dir.path(), true);
    let store = Arc::new(InMemory::new());
    let at = ObjectPath::from("indexes/ivf.vtrv");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(store.put(&at, std::fs::read(&path).unwrap().into()))
        .unwrap();
    let dyn_store: Arc<dyn ObjectStore> = store.clone();
    let remote = RemoteIndex::<f32>::open_store(dyn_store, at.clone(), quick()).unwrap();
    let want = local(&path);
    let (_, queries) = data();
    let p = SearchParams::default();
    for q in queries.chunks_exact(DIM) {
        let (got, trips) = remote.search_with_trips(q, 10, &p).unwrap();
        assert_eq!(got, want.search(q, 10, &p).unwrap());
        assert!(trips.rounds <= 2);
    }
    // Replaced under the open index: the pinned ETag no longer matches.
    rt.block_on(store.put(&at, vec![0u8; 100].into())).unwrap();
    remote.clear_cache();
    let e = remote.search(&queries[..DIM], 10, &p).unwrap_err();
    assert_eq!(failure_of(&e), RemoteFailure::Changed, "{e}");
    let e = RemoteIndex::<f32>::open_store(store, ObjectPath::from("none"), quick()).unwrap_err();
    assert_eq!(failure_of(&e), RemoteFailure::Status(404), "{e}");
}

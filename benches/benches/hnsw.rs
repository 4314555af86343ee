//! Criterion benchmarks of vectrove's HNSW: build throughput and search
//! latency by ef.
//!
//! ```text
//! cargo bench -p vectrove-benches --bench hnsw
//! ```
//!
//! Data: debian-384 when present, else seeded uniform 384-d vectors (the
//! bench prints which). Builds use M = 16, ef_construction = 200; searches
//! run on one thread against a prebuilt 10k index (a 50k build would make
//! each run minutes longer; the sweep bench covers 50k).

use std::hint::black_box;
use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use vectrove_benches::data::{BenchData, DIM, debian_base, generated};
use vectrove_core::{Hnsw, MemoryStore, Metric, recall_at_k};

const M: usize = 16;
const EF_CONSTRUCTION: usize = 200;
const SEED: u64 = 42;
const K: usize = 10;
const SEARCH_BASE: usize = 10_000;
const SEARCH_QUERIES: usize = 1_000;

fn build(dim: usize, base: &[f32]) -> Hnsw<MemoryStore<f32>> {
    let ids: Vec<u64> = (0..(base.len() / dim) as u64).collect();
    let mut index = Hnsw::builder(dim, Metric::Cosine)
        .m(M)
        .ef_construction(EF_CONSTRUCTION)
        .seed(SEED)
        .build()
        .expect("valid parameters");
    index.insert_many(&ids, base).expect("valid data");
    index
}

fn insert(c: &mut Criterion) {
    let mut group = c.benchmark_group("hnsw_insert");
    // A 10k build takes seconds: ten samples of one build each.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1));
    // Long enough for ten 10k builds (about 4.5 s each here) without criterion's warning.
    for (n, secs) in [(2_000, 15), (10_000, 60)] {
        group.measurement_time(Duration::from_secs(secs));
        let (source, base) = match debian_base(n) {
            Some(b) => ("debian-384", b),
            None => ("generated uniform 384-d, seed 42", generated(n, DIM, SEED)),
        };
        eprintln!("hnsw_insert/{n}: {source}, M={M}, ef_construction={EF_CONSTRUCTION}");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &base, |b, base| {
            b.iter(|| build(DIM, base));
        });
    }
    group.finish();
}

fn search(c: &mut Criterion) {
    let data = BenchData::load_or_generate(SEARCH_BASE, SEARCH_QUERIES, K, SEED);
    let index = build(data.dim, &data.base);
    let queries: Vec<&[f32]> = data.queries().collect();
    eprintln!(
        "hnsw_search: {} base {} ({} queries), k={K}, one thread",
        data.source,
        data.n_base(),
        queries.len()
    );

    let mut group = c.benchmark_group("hnsw_search_10k");
    // One query per iteration, so the reported throughput is queries per second.
    group.throughput(Throughput::Elements(1));
    for ef in [16, 32, 64, 128, 256] {
        let results: Vec<Vec<u64>> = queries
            .iter()
            .map(|q| {
                index
                    .search(q, K, ef)
                    .unwrap()
                    .iter()
                    .map(|h| h.id)
                    .collect()
            })
            .collect();
        eprintln!(
            "hnsw_search_10k/{ef}: recall@{K} = {:.4}",
            recall_at_k(&results, &data.truth, K)
        );
        group.bench_with_input(BenchmarkId::from_parameter(ef), &ef, |b, &ef| {
            let mut next = queries.iter().cycle();
            b.iter(|| {
                let q = next.next().expect("cycle never ends");
                black_box(index.search(q, K, ef).expect("valid query"))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, insert, search);
criterion_main!(benches);

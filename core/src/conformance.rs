//! The conformance suite every storage backend runs (feature `conformance`).
//!
//! A backend proves it honours the [`FeatureStore`] contract by handing the
//! suite a way to build a store over given vectors; the suite then reads the
//! vectors back in every way the algorithms do and compares them bit for bit
//! with what it put in. The same code checks the in-memory store, the paged
//! store, the native file backends and the browser backends: it uses no
//! files, no threads and no clock, so it runs unchanged on wasm32.
//!
//! * [`check_read`] for any store: dimensions 1 to 384 (including vectors
//!   whose size is not a multiple of 16 bytes), the empty store, every
//!   slot's contents, out-of-range slots (up to `u32::MAX`) as
//!   [`Error::SlotOutOfRange`], batches with repeated slots and the `missing`
//!   list, prefetch hints, and enough data that a small page cache must
//!   evict many times over while it keeps answering correctly. It ends by
//!   building an HNSW index whose every distance is computed on vectors read
//!   through the store, and checks it matches an index built in memory.
//! * [`check_mut`] for stores that take new vectors: consecutive slots from
//!   `push`, refused wrong-length pushes that change nothing, `truncate`
//!   (beyond the length it does nothing, as
//!   [`MemoryStore`](crate::MemoryStore) does), `reserve`, pushes after a
//!   truncate, and an index built with
//!   [`HnswBuilder::build_with_store`](crate::HnswBuilder::build_with_store)
//!   on the store, which must equal one built in memory.
//!
//! Both return `Err` with a message naming the case that failed, so a test
//! only has to `unwrap` (or `expect`) the result.
//!
//! To exercise a cache, build the store with a small one: the suite gives
//! each store about [`DATA_BYTES`] of vectors. An asynchronous store (one
//! that answers [`Access::Missing`]) gets its vectors through `fill`; the
//! suite fills at most [`MAX_FILLED`] distinct slots before it reads them. A
//! single slot must be readable right after its fill. A batch may take a few
//! rounds of fill and read (a cache can evict a page it was just given to
//! make room for the next one of the same fill) but must be complete within
//! `MAX_FILLED + 1` of them.
//!
//! (Longer than most files: it is one suite, a flat list of checks every
//! backend must pass, read top to bottom.)

use std::cell::{Cell, RefCell};

use crate::distance::Metric;
use crate::error::{Error, Result};
use crate::hnsw::Hnsw;
use crate::rng::SplitMix64;
use crate::store::{Access, FeatureStore, FeatureStoreMut};

/// The dimensions the suite runs with: one element, vectors of 12, 20 and
/// 132 bytes (not multiples of 16, so SIMD tails and odd strides show), and
/// a common embedding size.
pub const DIMS: [usize; 5] = [1, 3, 5, 33, 384];

/// About how many bytes of vectors the suite stores per dimension: more than
/// a small test cache holds, so reads run through many evictions.
pub const DATA_BYTES: usize = 96 << 10;

/// The most distinct slots the suite fills (for an asynchronous store) before
/// reading them; such a store's cache should hold at least twice as many
/// pages (a fill may need a few rounds, see the module documentation).
pub const MAX_FILLED: usize = 4;

/// Builds a store of `dim`-element vectors holding `data` (vector `i` at
/// `data[i * dim..]`); `data` may be empty.
pub type MakeStore<'a, S> = &'a mut dyn FnMut(usize, &[f32]) -> Result<S>;

/// Makes `slots` of a store resident; a synchronous store passes a closure
/// that does nothing.
pub type FillStore<'a, S> = &'a mut dyn FnMut(&S, &[u32]) -> Result<()>;

/// Builds an empty store of `dim`-element vectors.
pub type MakeEmpty<'a, S> = &'a mut dyn FnMut(usize) -> Result<S>;

/// Return `Err(format!(...))` from the enclosing function unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Check a store built by `make` against the read side of the contract.
///
/// `make(dim, data)` builds a store over `data`. A dimension of 0 must be
/// refused. `fill(store, slots)` must make `slots` resident in a store that
/// answered [`Access::Missing`] for them; it is never called for a store
/// whose [`may_miss`](FeatureStore::may_miss) is false.
pub fn check_read<S: FeatureStore<Elem = f32>>(
    make: MakeStore<'_, S>,
    fill: FillStore<'_, S>,
) -> Result<(), String> {
    ensure!(make(0, &[]).is_err(), "a store of dimension 0 was accepted");
    for dim in [1, 384] {
        let store = make(dim, &[]).map_err(|e| format!("empty store of dim {dim}: {e}"))?;
        check_contents(&store, dim, &[], fill).map_err(|e| format!("empty, dim {dim}: {e}"))?;
    }
    for (k, dim) in DIMS.into_iter().enumerate() {
        let data = dataset(dim, vectors_for(dim), 100 + k as u64);
        let store = make(dim, &data).map_err(|e| format!("dim {dim}: make: {e}"))?;
        check_contents(&store, dim, &data, fill).map_err(|e| format!("dim {dim}: {e}"))?;
    }
    for (dim, n) in INDEX_CASES {
        let data = points(dim, n, dim as u64);
        let store = make(dim, &data).map_err(|e| format!("index, dim {dim}: make: {e}"))?;
        let backed = reference_builder(dim)
            .build_with_store(Replay::new(&store, fill))
            .map_err(|e| format!("index, dim {dim}: {e}"))?;
        check_index(backed, dim, &data).map_err(|e| format!("index, dim {dim}: {e}"))?;
    }
    Ok(())
}

/// Check a store that takes new vectors: the mutable side of the contract,
/// then (on stores filled by `push`) everything [`check_read`] checks, then
/// an index built on an empty store from `make_empty`. Mutable stores are
/// expected to answer synchronously: an [`Access::Missing`] is a failure.
pub fn check_mut<S: FeatureStoreMut<Elem = f32>>(
    make_empty: MakeEmpty<'_, S>,
) -> Result<(), String> {
    ensure!(
        make_empty(0).is_err(),
        "a store of dimension 0 was accepted"
    );
    for (k, dim) in DIMS.into_iter().enumerate() {
        let data = dataset(dim, vectors_for(dim), 200 + k as u64);
        check_mutation(make_empty, dim, &data).map_err(|e| format!("dim {dim}: {e}"))?;
    }
    let mut make = |dim: usize, data: &[f32]| -> Result<S> {
        let mut s = make_empty(dim)?;
        s.reserve(data.len() / dim);
        for v in data.chunks_exact(dim) {
            s.push(v)?;
        }
        Ok(s)
    };
    let mut no_fill = |_: &S, _: &[u32]| -> Result<()> { Ok(()) };
    check_read(&mut make, &mut no_fill).map_err(|e| format!("filled by push: {e}"))?;
    for (dim, n) in INDEX_CASES {
        let data = points(dim, n, 50 + dim as u64);
        let store = make_empty(dim).map_err(|e| format!("index, dim {dim}: {e}"))?;
        let mut backed = reference_builder(dim)
            .build_with_store(store)
            .map_err(|e| format!("index, dim {dim}: {e}"))?;
        // Half one by one, half as a batch, which reserves first.
        let half = n / 2;
        for (i, v) in data[..half * dim].chunks_exact(dim).enumerate() {
            backed
                .insert(id(i), v)
                .map_err(|e| format!("index, dim {dim}: insert {i}: {e}"))?;
        }
        let ids: Vec<u64> = (half..n).map(id).collect();
        backed
            .insert_many(&ids, &data[half * dim..])
            .map_err(|e| format!("index, dim {dim}: insert_many: {e}"))?;
        compare_index(&backed, dim, &data).map_err(|e| format!("index, dim {dim}: {e}"))?;
    }
    Ok(())
}

/// Vectors per dimension: about [`DATA_BYTES`], and never fewer than 48.
fn vectors_for(dim: usize) -> usize {
    (DATA_BYTES / (dim * 4)).max(48)
}

/// `n` vectors of `dim` random values, with a few values whose bits a lossy
/// copy would change (negative zero, subnormals, the extremes) spread over them.
fn dataset(dim: usize, n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let special = [
        -0.0,
        f32::MIN_POSITIVE / 8.0,
        f32::MAX,
        f32::MIN,
        f32::EPSILON,
        -1.0e-30,
    ];
    (0..n * dim)
        .map(|i| {
            if i % 37 == 5 {
                special[(i / 37) % special.len()]
            } else {
                (rng.next_f64() * 2000.0 - 1000.0) as f32
            }
        })
        .collect()
}

/// `n` finite random points in the unit cube, for the index checks.
fn points(dim: usize, n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..n * dim).map(|_| rng.next_f64() as f32).collect()
}

/// Bit-for-bit equality, so `-0.0 != 0.0` and a changed NaN payload shows.
fn same(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn describe<T>(r: &Result<T>) -> String {
    match r {
        Ok(_) => "Ok".into(),
        Err(e) => format!("Err({e:?})"),
    }
}

/// Whether `r` is exactly the out-of-range error for `slot` in a store of `len`.
fn is_out_of_range<T>(r: &Result<T>, slot: u32, len: usize) -> bool {
    matches!(r, Err(Error::SlotOutOfRange { slot: s, len: l }) if *s == slot && *l == len)
}

/// Whether `r` is the out-of-range error for one of the `slots` that are
/// out of range in a store of `len` (a batch may report any of them).
fn batch_out_of_range<T>(r: &Result<T>, slots: &[u32], len: usize) -> bool {
    matches!(r, Err(Error::SlotOutOfRange { slot: s, len: l })
        if *l == len && *s as usize >= len && slots.contains(s))
}

/// Vector `slot`, filled first if the store misses it.
fn read<S: FeatureStore<Elem = f32>>(
    s: &S,
    slot: u32,
    fill: FillStore<'_, S>,
) -> Result<Vec<f32>, String> {
    let first = s
        .with_vector(slot, <[f32]>::to_vec)
        .map_err(|e| format!("reading slot {slot}: {e}"))?;
    if let Access::Ready(v) = first {
        return Ok(v);
    }
    ensure!(
        s.may_miss(),
        "slot {slot} answered Missing but may_miss() is false"
    );
    fill(s, &[slot]).map_err(|e| format!("filling slot {slot}: {e}"))?;
    match s.with_vector(slot, <[f32]>::to_vec) {
        Ok(Access::Ready(v)) => Ok(v),
        Ok(Access::Missing) => Err(format!("slot {slot} is still missing after fill")),
        Err(e) => Err(format!("reading slot {slot} after fill: {e}")),
    }
}

fn expect_vector<S: FeatureStore<Elem = f32>>(
    s: &S,
    slot: u32,
    want: &[f32],
    fill: FillStore<'_, S>,
    when: &str,
) -> Result<(), String> {
    let got = read(s, slot, fill)?;
    ensure!(
        same(&got, want),
        "{when}: slot {slot} reads {} values {:?}.. instead of {} values {:?}..",
        got.len(),
        &got[..got.len().min(4)],
        want.len(),
        &want[..want.len().min(4)]
    );
    Ok(())
}

/// Run `with_vectors` on `slots` and check what it reports against `data`:
/// the resident slots in order, the others appended to `missing` after what
/// it already held. Returns the slots reported missing.
fn batch<S: FeatureStore<Elem = f32>>(
    s: &S,
    slots: &[u32],
    data: &[f32],
    dim: usize,
) -> Result<Vec<u32>, String> {
    const SENTINEL: u32 = 0xDEAD_BEEF;
    let mut seen: Vec<u32> = Vec::with_capacity(slots.len());
    let mut bad: Option<String> = None;
    let mut missing = vec![SENTINEL];
    s.with_vectors(
        slots,
        |slot, v| {
            let i = slot as usize;
            let want = data.get(i * dim..(i + 1) * dim).unwrap_or(&[]);
            if bad.is_none() && !same(v, want) {
                bad = Some(format!("with_vectors gave wrong contents for slot {slot}"));
            }
            seen.push(slot);
        },
        &mut missing,
    )
    .map_err(|e| format!("with_vectors({slots:?}): {e}"))?;
    if let Some(bad) = bad {
        return Err(bad);
    }
    ensure!(
        missing.first() == Some(&SENTINEL),
        "with_vectors dropped what `missing` held before the call"
    );
    let missing = missing.split_off(1);
    ensure!(
        missing.is_empty() || s.may_miss(),
        "with_vectors reported {missing:?} missing but may_miss() is false"
    );
    // Every slot asked for is either seen (in order) or reported missing.
    let mut left = missing.clone();
    let mut expected_seen = Vec::with_capacity(slots.len());
    for &slot in slots {
        if let Some(p) = left.iter().position(|&m| m == slot) {
            left.swap_remove(p);
        } else {
            expected_seen.push(slot);
        }
    }
    ensure!(
        left.is_empty(),
        "with_vectors({slots:?}) reported {missing:?} missing, which it was not asked for"
    );
    ensure!(
        seen == expected_seen,
        "with_vectors({slots:?}) visited {seen:?}, expected {expected_seen:?} (missing {missing:?})"
    );
    Ok(missing)
}

/// [`batch`], and for an asynchronous store fills of what it missed, each
/// followed by the same batch again, until it finds every slot.
///
/// A cache may evict a page it was just given to make room for the next one
/// of the same fill (a CLOCK hand that has cleared the bits of the older
/// pages lands on the fresh, unreferenced one), so one fill is not required
/// to be enough; every vector must be found within `MAX_FILLED + 1` rounds.
/// The search driver is as tolerant: it needs a fetch to make some progress.
fn batch_filled<S: FeatureStore<Elem = f32>>(
    s: &S,
    slots: &[u32],
    data: &[f32],
    dim: usize,
    fill: FillStore<'_, S>,
) -> Result<(), String> {
    let mut missing = batch(s, slots, data, dim)?;
    for _ in 0..=MAX_FILLED {
        if missing.is_empty() {
            return Ok(());
        }
        fill(s, &missing).map_err(|e| format!("filling {missing:?}: {e}"))?;
        missing = batch(s, slots, data, dim)?;
    }
    ensure!(
        missing.is_empty(),
        "with_vectors({slots:?}) still misses {missing:?} after {} fills",
        MAX_FILLED + 1
    );
    Ok(())
}

/// Everything the read side promises, on a store that should hold `data`.
fn check_contents<S: FeatureStore<Elem = f32>>(
    s: &S,
    dim: usize,
    data: &[f32],
    fill: FillStore<'_, S>,
) -> Result<(), String> {
    let n = data.len() / dim;
    ensure!(s.dim() == dim, "dim() is {}, expected {dim}", s.dim());
    ensure!(s.len() == n, "len() is {}, expected {n}", s.len());
    ensure!(
        s.is_empty() == (n == 0),
        "is_empty() is {} with {n} vectors",
        s.is_empty()
    );
    let vector = |i: usize| &data[i * dim..(i + 1) * dim];

    // Every slot, in order; the closure's result comes back as is.
    for i in 0..n {
        expect_vector(s, i as u32, vector(i), fill, "first pass")?;
    }
    if n > 0 && !s.may_miss() {
        let r = s.with_vector(0, |v| v.len() * 3 + 1);
        ensure!(
            matches!(r, Ok(Access::Ready(x)) if x == dim * 3 + 1),
            "with_vector did not return the closure's value: {r:?}"
        );
    }

    // Slots past the end are errors, and the closure never runs for them.
    let mut bad_slots = vec![
        n as u32,
        n as u32 + 1,
        n as u32 + 1000,
        u32::MAX - 1,
        u32::MAX,
    ];
    bad_slots.dedup();
    for &slot in &bad_slots {
        let ran = Cell::new(false);
        let r = s.with_vector(slot, |_| ran.set(true));
        ensure!(
            is_out_of_range(&r, slot, n),
            "with_vector({slot}) on {n} vectors gave {}, expected SlotOutOfRange",
            describe(&r)
        );
        ensure!(!ran.get(), "with_vector({slot}) ran its closure");
        for slots in [vec![slot], vec![0, slot], vec![slot, slot]] {
            let r = s.with_vectors(&slots, |_, _| (), &mut Vec::new());
            ensure!(
                batch_out_of_range(&r, &slots, n),
                "with_vectors({slots:?}) on {n} vectors gave {}, expected SlotOutOfRange",
                describe(&r)
            );
        }
    }

    // Batches: empty, repeated slots, random ones, and a sliding window.
    let ran = Cell::new(false);
    let mut missing = vec![7];
    s.with_vectors(&[], |_, _| ran.set(true), &mut missing)
        .map_err(|e| format!("with_vectors(&[]): {e}"))?;
    ensure!(
        !ran.get() && missing == [7],
        "with_vectors(&[]) visited a slot or touched `missing`"
    );
    let mut rng = SplitMix64::new(n as u64 ^ dim as u64);
    if n > 0 {
        let last = n as u32 - 1;
        let mid = last / 2;
        for slots in [
            vec![0],
            vec![last],
            vec![mid, mid, mid],
            vec![0, last, 0, last],
            vec![last, mid, 0],
            vec![mid, 0, mid, last, mid],
        ] {
            batch_filled(s, &slots, data, dim, fill)?;
        }
        for _ in 0..64 {
            let len = 1 + rng.below(MAX_FILLED as u64) as usize;
            let slots: Vec<u32> = (0..len).map(|_| rng.below(n as u64) as u32).collect();
            batch_filled(s, &slots, data, dim, fill)?;
        }
        let step = (n / 200).max(1);
        for start in (0..n).step_by(step) {
            let slots: Vec<u32> = (start..n.min(start + MAX_FILLED))
                .map(|i| i as u32)
                .collect();
            batch_filled(s, &slots, data, dim, fill)?;
        }
        if !s.may_miss() {
            // One batch over the whole store, backwards: a cache must keep
            // what the batch still needs however little it may hold.
            let all: Vec<u32> = (0..n as u32).rev().collect();
            batch(s, &all, data, dim)?;
        }
    }

    // Prefetch is only a hint, valid or not.
    s.prefetch(&[]);
    s.prefetch(&bad_slots);
    let some: Vec<u32> = (0..n.min(64))
        .map(|_| rng.below(n.max(1) as u64) as u32)
        .collect();
    s.prefetch(&some);
    s.prefetch(&[0, 0, u32::MAX, 0]);
    ensure!(
        s.len() == n && s.dim() == dim,
        "prefetch changed len() or dim()"
    );
    for &slot in some.iter().take(8) {
        expect_vector(s, slot, vector(slot as usize), fill, "after prefetch")?;
    }

    // Many more reads than a small cache holds, in orders that defeat it:
    // random, backwards, and strided. Each must still be its own vector.
    if n > 0 {
        for _ in 0..2 * n {
            let i = rng.below(n as u64) as usize;
            expect_vector(s, i as u32, vector(i), fill, "random pass")?;
        }
        for i in (0..n).rev() {
            expect_vector(s, i as u32, vector(i), fill, "backward pass")?;
        }
        let stride = 1 + n / 7;
        for start in 0..stride.min(16) {
            for i in (start..n).step_by(stride) {
                expect_vector(s, i as u32, vector(i), fill, "strided pass")?;
            }
        }
    }
    Ok(())
}

/// The mutable side: pushes, refused pushes, truncate, reserve.
fn check_mutation<S: FeatureStoreMut<Elem = f32>>(
    make_empty: MakeEmpty<'_, S>,
    dim: usize,
    data: &[f32],
) -> Result<(), String> {
    let mut no_fill = |_: &S, _: &[u32]| -> Result<()> { Ok(()) };
    let fill: FillStore<'_, S> = &mut no_fill;
    let n = data.len() / dim;
    let vector = |i: usize| &data[i * dim..(i + 1) * dim];
    let mut s = make_empty(dim).map_err(|e| format!("make_empty: {e}"))?;
    ensure!(
        s.dim() == dim && s.is_empty() && s.len() == 0,
        "a new store has dim {} and len {}",
        s.dim(),
        s.len()
    );
    for slot in [0, u32::MAX] {
        let r = s.with_vector(slot, |_| ());
        ensure!(
            is_out_of_range(&r, slot, 0),
            "with_vector({slot}) on an empty store gave {}",
            describe(&r)
        );
    }
    s.reserve(0);
    s.reserve(16);
    ensure!(s.len() == 0, "reserve changed len()");

    // Consecutive slots; older vectors stay intact as the store grows.
    let mut rng = SplitMix64::new(dim as u64);
    for i in 0..n {
        let slot = s.push(vector(i)).map_err(|e| format!("push #{i}: {e}"))?;
        ensure!(slot as usize == i, "push #{i} returned slot {slot}");
        ensure!(s.len() == i + 1, "after push #{i} len() is {}", s.len());
        expect_vector(&s, slot, vector(i), fill, "just pushed")?;
        if i % 97 == 0 || i + 1 == n {
            let j = rng.below(i as u64 + 1) as usize;
            expect_vector(&s, 0, vector(0), fill, "while pushing")?;
            expect_vector(&s, j as u32, vector(j), fill, "while pushing")?;
        }
        if i == n / 3 {
            s.reserve(n);
        }
    }

    // A wrong length is refused and changes nothing.
    let long = vec![1.5; dim + 1];
    let mut wrong: Vec<&[f32]> = vec![&long[..0], &long[..]];
    if dim > 1 {
        wrong.push(&long[..dim - 1]);
    }
    for v in wrong {
        let r = s.push(v);
        ensure!(
            matches!(r, Err(Error::DimensionMismatch { expected, got }) if expected == dim && got == v.len()),
            "push of {} values into a dim-{dim} store gave {}, expected DimensionMismatch",
            v.len(),
            describe(&r)
        );
        ensure!(s.len() == n, "a refused push changed len() to {}", s.len());
    }
    expect_vector(
        &s,
        n as u32 - 1,
        vector(n - 1),
        fill,
        "after refused pushes",
    )?;
    check_contents(&s, dim, data, fill)?;

    // Truncating to the length or beyond it changes nothing.
    for len in [n, n + 1, n + 1000, usize::MAX] {
        s.truncate(len)
            .map_err(|e| format!("truncate({len}) of {n} vectors: {e}"))?;
        ensure!(
            s.len() == n,
            "truncate({len}) of {n} vectors left {}",
            s.len()
        );
    }

    // Shrink, then grow again over the dropped slots.
    let k = n / 2;
    s.truncate(k).map_err(|e| format!("truncate({k}): {e}"))?;
    ensure!(s.len() == k, "truncate({k}) left {}", s.len());
    let r = s.with_vector(k as u32, |_| ());
    ensure!(
        is_out_of_range(&r, k as u32, k),
        "after truncate({k}), with_vector({k}) gave {}",
        describe(&r)
    );
    for i in 0..k {
        expect_vector(&s, i as u32, vector(i), fill, "after truncate")?;
    }
    let fresh: Vec<f32> = vector(n - 1).iter().map(|x| -x).collect();
    let slot = s
        .push(&fresh)
        .map_err(|e| format!("push after truncate: {e}"))?;
    ensure!(
        slot as usize == k,
        "push after truncate({k}) returned slot {slot}"
    );
    expect_vector(&s, slot, &fresh, fill, "pushed after truncate")?;
    if k > 0 {
        expect_vector(
            &s,
            k as u32 - 1,
            vector(k - 1),
            fill,
            "pushed after truncate",
        )?;
    }
    let r = s.with_vector(k as u32 + 1, |_| ());
    ensure!(
        is_out_of_range(&r, k as u32 + 1, k + 1),
        "after truncate and one push, slot {} gave {}",
        k + 1,
        describe(&r)
    );
    // Refill the dropped slots and read everything back once more.
    s.truncate(k).map_err(|e| format!("truncate({k}): {e}"))?;
    for i in k..n {
        let slot = s
            .push(vector(i))
            .map_err(|e| format!("re-push #{i}: {e}"))?;
        ensure!(slot as usize == i, "re-push #{i} returned slot {slot}");
    }
    for i in 0..n {
        expect_vector(&s, i as u32, vector(i), fill, "after re-push")?;
    }

    s.truncate(0).map_err(|e| format!("truncate(0): {e}"))?;
    ensure!(s.is_empty(), "truncate(0) left {}", s.len());
    s.reserve(3);
    let slot = s
        .push(vector(1 % n))
        .map_err(|e| format!("push into emptied: {e}"))?;
    ensure!(slot == 0, "push into an emptied store returned slot {slot}");
    expect_vector(&s, 0, vector(1 % n), fill, "after truncate(0)")?;
    Ok(())
}

/// Index sizes for the search checks: small enough for wasm in Node, with a
/// dimension whose vectors are not a multiple of 16 bytes.
const INDEX_CASES: [(usize, usize); 2] = [(3, 300), (65, 200)];

fn id(i: usize) -> u64 {
    1000 + 7 * i as u64
}

fn reference_builder(dim: usize) -> crate::HnswBuilder {
    Hnsw::builder(dim, Metric::L2)
        .m(8)
        .ef_construction(48)
        .seed(11)
}

/// Insert `data` into `backed` and compare it with the same index in memory.
fn check_index<S: FeatureStoreMut<Elem = f32>>(
    mut backed: Hnsw<S>,
    dim: usize,
    data: &[f32],
) -> Result<(), String> {
    for (i, v) in data.chunks_exact(dim).enumerate() {
        backed
            .insert(id(i), v)
            .map_err(|e| format!("insert {i}: {e}"))?;
    }
    compare_index(&backed, dim, data)
}

/// The same points inserted in the same order with the same seed give the
/// same graph and the same answers whatever store holds the vectors, as long
/// as the store gives back exactly what it was given.
fn compare_index<S: FeatureStore<Elem = f32>>(
    backed: &Hnsw<S>,
    dim: usize,
    data: &[f32],
) -> Result<(), String> {
    let n = data.len() / dim;
    let mut reference = reference_builder(dim)
        .build()
        .map_err(|e| format!("reference index: {e}"))?;
    for (i, v) in data.chunks_exact(dim).enumerate() {
        reference
            .insert(id(i), v)
            .map_err(|e| format!("reference insert {i}: {e}"))?;
    }
    ensure!(
        backed.len() == n && backed.slot_count() == n,
        "the index holds {} points, expected {n}",
        backed.len()
    );
    ensure!(
        backed.entry_point() == reference.entry_point()
            && backed.max_level() == reference.max_level(),
        "entry point or top level differs from the in-memory index"
    );
    for slot in 0..n as u32 {
        ensure!(
            backed.slot_id(slot) == reference.slot_id(slot)
                && backed.node_level(slot) == reference.node_level(slot),
            "slot {slot} has another id or level than in memory"
        );
        for level in 0..=reference.node_level(slot).unwrap_or(0) {
            ensure!(
                backed.neighbors(slot, level) == reference.neighbors(slot, level),
                "slot {slot} has other neighbours at level {level} than in memory"
            );
        }
        let got = backed
            .get(id(slot as usize))
            .map_err(|e| format!("get: {e}"))?;
        let i = slot as usize;
        ensure!(
            same(&got, &data[i * dim..(i + 1) * dim]),
            "get({}) differs from what was inserted",
            id(i)
        );
    }
    let mut queries = points(dim, 12, 77);
    queries.extend_from_slice(&data[..4 * dim]);
    for (q, query) in queries.chunks_exact(dim).enumerate() {
        let got = backed
            .search(query, 10, 40)
            .map_err(|e| format!("query {q}: {e}"))?;
        let want = reference
            .search(query, 10, 40)
            .map_err(|e| format!("reference query {q}: {e}"))?;
        let key = |hits: &[crate::neighbor::Neighbor]| -> Vec<(u64, u32)> {
            hits.iter().map(|h| (h.id, h.distance.to_bits())).collect()
        };
        ensure!(
            key(&got) == key(&want),
            "query {q}: the store's index answers {:?}, in memory {:?}",
            key(&got),
            key(&want)
        );
    }
    Ok(())
}

/// Lets an index be built over a read-only store holding the points already:
/// it starts empty, each push reveals the next stored vector (after checking
/// it is the one pushed), and every read goes to the store, filling it first
/// when it misses, so the index computes each distance on the store's data.
struct Replay<'a, S> {
    store: &'a S,
    visible: usize,
    fill: RefCell<FillStore<'a, S>>,
}

impl<'a, S: FeatureStore<Elem = f32>> Replay<'a, S> {
    fn new(store: &'a S, fill: FillStore<'a, S>) -> Self {
        Self {
            store,
            visible: 0,
            fill: RefCell::new(fill),
        }
    }

    fn check(&self, slot: u32) -> Result<()> {
        if (slot as usize) < self.visible {
            Ok(())
        } else {
            Err(Error::SlotOutOfRange {
                slot,
                len: self.visible,
            })
        }
    }
}

impl<S: FeatureStore<Elem = f32>> FeatureStore for Replay<'_, S> {
    type Elem = f32;

    fn dim(&self) -> usize {
        self.store.dim()
    }

    fn len(&self) -> usize {
        self.visible
    }

    fn with_vector<R>(&self, slot: u32, f: impl FnOnce(&[f32]) -> R) -> Result<Access<R>> {
        self.check(slot)?;
        if !self.store.may_miss() {
            return self.store.with_vector(slot, f);
        }
        let mut v = Vec::new();
        if crate::store::copy_vector(self.store, slot, &mut v)? == Access::Missing {
            (self.fill.borrow_mut())(self.store, &[slot])?;
            if crate::store::copy_vector(self.store, slot, &mut v)? == Access::Missing {
                return Ok(Access::Missing);
            }
        }
        Ok(Access::Ready(f(&v)))
    }

    fn with_vectors(
        &self,
        slots: &[u32],
        mut f: impl FnMut(u32, &[f32]),
        missing: &mut Vec<u32>,
    ) -> Result<()> {
        for &slot in slots {
            self.check(slot)?;
        }
        if !self.store.may_miss() {
            return self.store.with_vectors(slots, f, missing);
        }
        for &slot in slots {
            if let Access::Missing = self.with_vector(slot, |v| f(slot, v))? {
                missing.push(slot);
            }
        }
        Ok(())
    }

    fn prefetch(&self, slots: &[u32]) {
        self.store.prefetch(slots);
    }

    fn may_miss(&self) -> bool {
        false
    }
}

impl<S: FeatureStore<Elem = f32>> FeatureStoreMut for Replay<'_, S> {
    fn push(&mut self, v: &[f32]) -> Result<u32> {
        let slot = u32::try_from(self.visible).map_err(|_| Error::StoreFull {
            reason: "more than 2^32 vectors".into(),
        })?;
        if self.visible >= self.store.len() {
            return Err(Error::StoreFull {
                reason: format!("the store holds only {} vectors", self.store.len()),
            });
        }
        self.visible += 1;
        let stored = self.with_vector(slot, |s| same(s, v));
        if !matches!(stored, Ok(Access::Ready(true))) {
            self.visible -= 1;
            return Err(Error::Storage {
                message: format!("slot {slot} of the store is not the vector inserted there"),
            });
        }
        Ok(slot)
    }

    fn truncate(&mut self, len: usize) -> Result<()> {
        self.visible = self.visible.min(len);
        Ok(())
    }
}

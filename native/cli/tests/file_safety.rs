//! Index files shared between processes: a memory-mapped reader while other
//! processes save over its file, saves killed with SIGKILL at random points,
//! and the temporary file of a live save beside cleanups.
//!
//! Every test runs real processes: this binary starts copies of itself in a
//! child role (`--child-save`, `--child-map`). It has its own `main`
//! (`harness = false` in Cargo.toml) so that a child runs its role only, not
//! the tests; the tests run one after another, as their processes share the
//! machine's two cores. Arguments that do not start with `-` filter the
//! tests by name, like the standard harness's.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use vectrove::file::{self, OpenOptions, Storage};
use vectrove::{AnyIndex, FeatureStore, Hnsw, IndexFile, MemoryStore, Metric, SearchParams};

const DIM: usize = 32;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--child-save") => return child_save(Path::new(&args[1]), Path::new(&args[2])),
        Some("--child-map") => return child_map(Path::new(&args[1])),
        _ => {}
    }
    let tests: [(&str, fn()); 3] = [
        (
            "a_mapped_reader_keeps_its_version_while_saves_replace_the_file",
            a_mapped_reader_keeps_its_version_while_saves_replace_the_file,
        ),
        (
            "saves_killed_at_random_points_leave_the_old_or_the_new_index_whole",
            saves_killed_at_random_points_leave_the_old_or_the_new_index_whole,
        ),
        (
            "cleanups_never_remove_the_temporary_file_of_a_live_save",
            cleanups_never_remove_the_temporary_file_of_a_live_save,
        ),
    ];
    if args.iter().any(|a| a == "--list") {
        for (name, _) in tests {
            println!("{name}: test");
        }
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let chosen: Vec<_> = tests
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", chosen.len());
    let t = Instant::now();
    for (name, test) in &chosen {
        let t = Instant::now();
        // A failing test panics, which fails this binary with its message.
        test();
        println!("test {name} ... ok ({:.1} s)", t.elapsed().as_secs_f64());
    }
    println!(
        "\ntest result: ok. {} passed; {} filtered out; finished in {:.2}s\n",
        chosen.len(),
        tests.len() - chosen.len(),
        t.elapsed().as_secs_f64()
    );
}

// ---- child roles ----

/// Opens `source` in memory, says `ready`, saves it over `target`, says
/// `saved <microseconds the save took>`, then waits for its stdin to close.
fn child_save(source: &Path, target: &Path) {
    let ix = file::open_any::<f32>(source, OpenOptions::new(Storage::Memory)).unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    let t = Instant::now();
    file::save(&ix, target).unwrap();
    writeln!(out, "saved {}", t.elapsed().as_micros()).unwrap();
    out.flush().unwrap();
    let mut rest = String::new();
    let _ = std::io::stdin().read_line(&mut rest);
}

/// Opens `path` memory-mapped and prints what it holds (see [`describe`]),
/// then again for every line read from stdin, until stdin closes.
fn child_map(path: &Path) {
    let ix = file::open_any::<f32>(path, OpenOptions::new(Storage::Mmap)).unwrap();
    let mut out = std::io::stdout().lock();
    let mut line = String::new();
    loop {
        writeln!(out, "{}", describe(&ix)).unwrap();
        out.flush().unwrap();
        line.clear();
        if std::io::stdin().read_line(&mut line).unwrap() == 0 {
            return;
        }
    }
}

// ---- data ----

/// splitmix64: the seeded generator of the data and of the kill points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn vectors(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed);
    (0..n * DIM).map(|_| rng.unit() as f32).collect()
}

/// An index of `n` points; different seeds give different files.
fn index(n: usize, seed: u64) -> Hnsw {
    let mut ix = Hnsw::builder(DIM, Metric::L2)
        .m(6)
        .ef_construction(24)
        .seed(seed)
        .build()
        .unwrap();
    let ids: Vec<u64> = (0..n as u64).map(|i| i * 7 + seed).collect();
    ix.insert_many_parallel(&ids, &vectors(n, seed)).unwrap();
    ix
}

/// What an opened index answers: the ids found for fixed queries, and a
/// digest of every stored vector (so a reader touches every page of a map).
fn describe<S: FeatureStore<Elem = f32>>(ix: &AnyIndex<S>) -> String {
    let queries = vectors(16, 99);
    let params = SearchParams {
        ef: 48,
        nprobe: 1,
        rerank: 0,
    };
    let mut ids = Vec::new();
    for q in queries.chunks(DIM) {
        ids.extend(
            ix.search(q, 5, &params)
                .unwrap()
                .iter()
                .map(|n| n.id.to_string()),
        );
    }
    let text = ids.join(" ");
    let mut digest = 0u64;
    for slot in 0..ix.slot_count() as u32 {
        let v = ix
            .store()
            .with_vector(slot, |v| {
                v.iter().map(|x| u64::from(x.to_bits())).sum::<u64>()
            })
            .unwrap();
        let vectrove::Access::Ready(sum) = v else {
            panic!("slot {slot} missing")
        };
        digest = digest.rotate_left(5) ^ sum;
    }
    format!(
        "{} slots, digest {digest:016x}, ids {text}",
        ix.slot_count()
    )
}

fn open_described(path: &Path, storage: Storage) -> String {
    describe(&file::open_any::<f32>(path, OpenOptions::new(storage)).unwrap())
}

/// Two versions of an index, each saved to a file of its own, with its
/// bytes and what it answers.
struct Versions {
    _dir: tempfile::TempDir,
    src: [PathBuf; 2],
    bytes: [Vec<u8>; 2],
    answers: [String; 2],
}

impl Versions {
    fn new(n: [usize; 2]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let src = [0, 1].map(|v| dir.path().join(format!("v{v}.vtrv")));
        for v in 0..2 {
            file::save(&index(n[v], v as u64 + 1), &src[v]).unwrap();
        }
        let bytes = [0, 1].map(|v| std::fs::read(&src[v]).unwrap());
        assert_ne!(bytes[0], bytes[1]);
        let answers = [0, 1].map(|v| open_described(&src[v], Storage::Memory));
        assert_ne!(answers[0], answers[1]);
        Versions {
            _dir: dir,
            src,
            bytes,
            answers,
        }
    }

    /// The version `bytes` are, or a panic if they are neither.
    fn which(&self, bytes: &[u8], context: &str) -> usize {
        match (0..2).find(|&v| self.bytes[v] == bytes) {
            Some(v) => v,
            None => panic!(
                "{context}: the file ({} bytes) is neither version ({} and {} bytes)",
                bytes.len(),
                self.bytes[0].len(),
                self.bytes[1].len()
            ),
        }
    }
}

fn me() -> Command {
    Command::new(std::env::current_exe().unwrap())
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with(".vectrove-") && name.ends_with(".tmp")
        })
        .collect();
    found.sort();
    found
}

/// A saving child, started and past its `ready`.
struct Saver {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Saver {
    fn start(source: &Path, target: &Path) -> Self {
        let mut child = me()
            .arg("--child-save")
            .arg(source)
            .arg(target)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        Saver { child, out }
    }

    /// Reads the child's `saved` line: the save's duration, or `None` if
    /// the child died first.
    fn saved(&mut self) -> Option<Duration> {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        let micros = line.strip_prefix("saved ")?.trim().parse().unwrap();
        Some(Duration::from_micros(micros))
    }

    /// Lets a child that saved exit, and checks that it succeeded.
    fn finish(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "saving child: {status}");
    }
}

/// A failing test must not leave a child behind (a stopped one would hold
/// the test's output open forever): SIGKILL ends it, stopped or not.
impl Drop for Saver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The mapped reader's process, killed if the test fails first.
struct Reader(Child);

impl Drop for Reader {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---- the tests ----

fn a_mapped_reader_keeps_its_version_while_saves_replace_the_file() {
    let versions = Versions::new([3_000, 2_000]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.vtrv");
    std::fs::copy(&versions.src[0], &path).unwrap();

    let mut reader = Reader(
        me().arg("--child-map")
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut to_reader = reader.0.stdin.take().unwrap();
    let mut from_reader = BufReader::new(reader.0.stdout.take().unwrap());
    let mut read_answer = |reader: &mut Reader| {
        let mut line = String::new();
        from_reader.read_line(&mut line).unwrap();
        if line.is_empty() {
            panic!("the mapped reader died: {}", reader.0.wait().unwrap());
        }
        line.trim_end().to_string()
    };
    assert_eq!(read_answer(&mut reader), versions.answers[0]);
    for round in 0..20 {
        // Other processes save the two versions in turn over the mapped
        // file: the second is smaller, so a save in place would cut the
        // map short (SIGBUS) and any in-place write would change its bytes.
        let v = 1 - round % 2;
        Saver::start(&versions.src[v], &path).finish();
        assert_eq!(
            versions.which(&std::fs::read(&path).unwrap(), "after a save"),
            v
        );
        // The reader searches (and reads every vector) again: still the
        // version it opened.
        writeln!(to_reader, "again").unwrap();
        to_reader.flush().unwrap();
        assert_eq!(
            read_answer(&mut reader),
            versions.answers[0],
            "round {round}"
        );
        // A new open sees the new version, in each mode.
        let storage = [Storage::Mmap, Storage::Memory][round % 2];
        assert_eq!(open_described(&path, storage), versions.answers[v]);
    }
    drop(to_reader);
    let status = reader.0.wait().unwrap();
    assert!(status.success(), "the mapped reader: {status}");
}

fn saves_killed_at_random_points_leave_the_old_or_the_new_index_whole() {
    let t0 = Instant::now();
    let versions = Versions::new([24_000, 21_000]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.vtrv");
    std::fs::copy(&versions.src[0], &path).unwrap();
    let mut current = 0;
    let setup = t0.elapsed();

    // How long a save takes here, from its child's own clock.
    let mut durations = Vec::new();
    for _ in 0..3 {
        let other = 1 - current;
        let mut saver = Saver::start(&versions.src[other], &path);
        durations.push(saver.saved().expect("an uninterrupted save"));
        saver.finish();
        current = versions.which(&std::fs::read(&path).unwrap(), "an uninterrupted save");
        assert_eq!(current, other);
    }
    durations.sort();
    let save = durations[1];
    // Kill points spread over 1.6 times the save: every phase (writing,
    // flushing, the rename, the directory flush, after it) gets some.
    let spread = save.mul_f64(1.6);

    const KILLS: usize = 120;
    let mut rng = Rng(0x5eed_c0de);
    let (mut old, mut new, mut new_unconfirmed) = (0, 0, 0);
    let (mut temps_found, mut cleaned_by_open, mut cleaned_by_save) = (0, 0, 0);
    let mut left_for_the_next_save: Vec<PathBuf> = Vec::new();
    for kill in 0..KILLS {
        let other = 1 - current;
        let mut saver = Saver::start(&versions.src[other], &path);
        std::thread::sleep(spread.mul_f64(rng.unit()));
        saver.child.kill().unwrap();
        let status = saver.child.wait().unwrap();
        assert!(!status.success(), "kill {kill}: the child was not killed");
        let confirmed = saver.saved().is_some();

        // The index is the old or the new version, byte for byte.
        let bytes = std::fs::read(&path).unwrap();
        let found = versions.which(&bytes, &format!("kill {kill}"));
        match (found == other, confirmed) {
            (false, false) => old += 1,
            (false, true) => panic!("kill {kill}: the save said it saved, the old file is there"),
            (true, true) => new += 1,
            (true, false) => new_unconfirmed += 1,
        }
        current = found;

        // A save removes the leftovers it finds first thing: all of them
        // if it ran to its end.
        for p in &left_for_the_next_save {
            assert!(
                !confirmed || !p.exists(),
                "kill {kill}: the save left {}",
                p.display()
            );
            cleaned_by_save += usize::from(!p.exists());
        }
        let temps = temp_files(dir.path());
        temps_found += temps
            .iter()
            .filter(|p| !left_for_the_next_save.contains(p))
            .count();

        // Whole, and it answers as that version: checked from the bytes
        // alone, then opened from the path (which removes the leftovers)
        // every other time; otherwise they are left for the next save.
        let whole = IndexFile::from_bytes::<MemoryStore<f32>>(&bytes).unwrap();
        assert_eq!(describe(&whole), versions.answers[found], "kill {kill}");
        if kill % 2 == 0 {
            let storage = [
                Storage::Mmap,
                Storage::Paged {
                    cache_bytes: 1 << 20,
                },
            ][kill % 4 / 2];
            assert_eq!(open_described(&path, storage), versions.answers[found]);
            cleaned_by_open += temps.len();
            assert_eq!(temp_files(dir.path()), Vec::<PathBuf>::new(), "kill {kill}");
            left_for_the_next_save.clear();
        } else {
            left_for_the_next_save = temps;
        }
    }
    // One last save cleans whatever is left, and the directory holds the index only.
    let leftovers = temp_files(dir.path()).len();
    Saver::start(&versions.src[1 - current], &path).finish();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["index.vtrv"]);

    println!(
        "    {KILLS} kills over {:.1} ms (a save takes {:.1} ms; measured {:?}): {old} left the old \
         version, {} the new one ({new} after the save reported, {new_unconfirmed} before); \
         {temps_found} temporary files left by killed saves, {cleaned_by_open} removed by opens, \
         {cleaned_by_save} by the next save, {leftovers} by the last save; {:.1} s in all \
         ({:.1} s building the two versions)",
        spread.as_secs_f64() * 1e3,
        save.as_secs_f64() * 1e3,
        durations,
        new + new_unconfirmed,
        t0.elapsed().as_secs_f64(),
        setup.as_secs_f64()
    );
    assert!(
        old > 0 && new + new_unconfirmed > 0,
        "the kill points missed a phase"
    );
}

fn cleanups_never_remove_the_temporary_file_of_a_live_save() {
    let versions = Versions::new([12_000, 11_000]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.vtrv");
    std::fs::copy(&versions.src[0], &path).unwrap();
    let signal = |child: &Child, sig: &str| {
        let ok = Command::new("kill")
            .arg(sig)
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
    };
    // Stop a saving child while its temporary file exists (a save can
    // finish before the stop lands: then try again).
    for _attempt in 0..50 {
        let mut saver = Saver::start(&versions.src[1], &path);
        let done = || std::fs::metadata(&path).unwrap().len() == versions.bytes[1].len() as u64;
        // A temporary file with bytes in it: its save holds its lock (taken
        // before the first byte is written).
        let written = |p: &PathBuf| std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
        let mut temp = temp_files(dir.path());
        while !temp.iter().any(written) && !done() {
            temp = temp_files(dir.path());
        }
        signal(&saver.child, "-STOP");
        // `kill` returns once the signal is sent, not once the child has
        // stopped: wait until the kernel reports it stopped, so that it
        // writes nothing more.
        let stat = format!("/proc/{}/stat", saver.child.id());
        let stopped = || {
            std::fs::read_to_string(&stat).is_ok_and(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with(['T', 't']))
            })
        };
        let waited = Instant::now();
        while !stopped() && waited.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let Some(temp) = temp.into_iter().find(written).filter(|p| p.exists()) else {
            signal(&saver.child, "-CONT");
            saver.saved().expect("the save finished");
            saver.finish();
            std::fs::copy(&versions.src[0], &path).unwrap();
            continue;
        };
        // While it is stopped mid-save: a listing cleanup, a save and an
        // open of the same index all leave its temporary file alone.
        let before = std::fs::metadata(&temp).unwrap().len();
        assert_eq!(file::remove_stale_temp_files(dir.path()).unwrap(), 0);
        file::save(&index(500, 9), &path).unwrap();
        open_described(&path, Storage::Memory);
        assert_eq!(std::fs::metadata(&temp).unwrap().len(), before);
        // Resumed, it completes its save: the index is its version.
        signal(&saver.child, "-CONT");
        saver.saved().expect("the stopped save completes");
        saver.finish();
        assert_eq!(
            versions.which(&std::fs::read(&path).unwrap(), "after the resumed save"),
            1
        );
        assert_eq!(temp_files(dir.path()), Vec::<PathBuf>::new());
        return;
    }
    panic!("no save was caught with its temporary file in 50 attempts");
}

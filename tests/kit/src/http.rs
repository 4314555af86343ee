//! A small HTTP/1.1 file server on loopback, for the tests and benchmarks
//! that read index files by range requests.
//!
//! It serves files held in memory (or read from a directory on first use)
//! the way a static host does: single `Range` requests answered with `206`
//! and `Content-Range`, `HEAD`, `ETag` and `Last-Modified`, and the
//! conditional headers `If-Match`, `If-Unmodified-Since` and `If-Range`.
//! Connections are kept alive, one thread each, with `TCP_NODELAY`.
//!
//! A test reads what it was asked ([`Server::stats`]), adds latency to
//! every answer ([`Server::set_latency`]) and switches it into a
//! misbehaving host at any time ([`Server::set_failure`], [`Failure`]):
//! ranges ignored, bodies cut short or too long, error statuses, no answer
//! at all, or a file replaced under its readers ([`Server::put`]).
//!
//! ```
//! use std::io::{Read, Write};
//! use vectrove_testkit::http::Server;
//!
//! let server = Server::start()?;
//! server.put("a.bin", (0..100u8).collect());
//! let mut s = std::net::TcpStream::connect(server.addr())?;
//! s.write_all(b"GET /a.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\nConnection: close\r\n\r\n")?;
//! let mut answer = Vec::new();
//! s.read_to_end(&mut answer)?;
//! let text = String::from_utf8_lossy(&answer);
//! assert!(text.starts_with("HTTP/1.1 206"));
//! assert!(text.contains("Content-Range: bytes 10-19/100"));
//! assert_eq!(server.stats().bytes, 10);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, UNIX_EPOCH};

/// How the server misbehaves (see [`Server::set_failure`]). Every mode
/// applies to the answers of `GET` and `HEAD` requests for files that
/// exist; [`Failure::Status`] and [`Failure::Hang`] to every request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Failure {
    /// Serve correctly.
    #[default]
    None,
    /// Answer a range request with `200` and the whole file, as a host that
    /// does not serve ranges does.
    IgnoreRange,
    /// Answer `206` without a `Content-Range` header.
    NoContentRange,
    /// Answer `206` naming the range asked for, but with a body (and a
    /// `Content-Length`) of only half of it.
    Truncate,
    /// Announce the whole range in `Content-Length`, send half of it and
    /// close the connection.
    CutOff,
    /// Answer with 16 bytes more than the range asked for (and a
    /// `Content-Length` that counts them).
    ExtraBytes,
    /// Answer `206` with other bytes than asked for: the range one byte
    /// further on, as its `Content-Range` says.
    ShiftRange,
    /// Answer every request with this status and a short text body.
    Status(u16),
    /// Read the request and never answer (until the mode changes or the
    /// server stops; then close the connection).
    Hang,
}

/// What the server was asked and sent since it started or was last
/// [`reset`](Server::reset_stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests answered (or left hanging).
    pub requests: u64,
    /// Requests with a `Range` header.
    pub range_requests: u64,
    /// Requests that carried `If-Match` or `If-Unmodified-Since`.
    pub conditional: u64,
    /// `HEAD` requests.
    pub heads: u64,
    /// Body bytes sent.
    pub bytes: u64,
    /// Connections accepted.
    pub connections: u64,
    /// The most requests the server was answering at one time (with some
    /// [latency](Server::set_latency), how many a client sent at once).
    pub max_in_flight: u64,
}

/// One file the server serves.
#[derive(Clone)]
struct Entry {
    bytes: Arc<Vec<u8>>,
    etag: String,
    /// Seconds since the Unix epoch.
    modified: u64,
}

struct Shared {
    files: Mutex<HashMap<String, Entry>>,
    dir: Option<PathBuf>,
    failure: Mutex<Failure>,
    latency_us: AtomicU64,
    send_etag: AtomicBool,
    send_last_modified: AtomicBool,
    stop: AtomicBool,
    version: AtomicU64,
    requests: AtomicU64,
    range_requests: AtomicU64,
    conditional: AtomicU64,
    heads: AtomicU64,
    bytes: AtomicU64,
    connections: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

/// Locks `m`, also after a panic elsewhere (the data stay usable).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The server; it stops when dropped.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

/// A modification time every file starts from (2026-01-01T00:00:00Z), so
/// that `Last-Modified` is the same on every run.
const EPOCH_2026: u64 = 1_767_225_600;

/// The longest request head read (request line and headers).
const MAX_HEAD: usize = 16 << 10;

impl Server {
    /// A server on `127.0.0.1`, on a port the system picks, serving the
    /// files given to [`put`](Self::put).
    pub fn start() -> io::Result<Self> {
        Self::bind("127.0.0.1:0", None)
    }

    /// A server on `addr` (`"127.0.0.1:8080"`, port 0 for any) that also
    /// serves the files of `dir`, read into memory on their first request.
    pub fn serve_dir(addr: &str, dir: impl AsRef<Path>) -> io::Result<Self> {
        Self::bind(addr, Some(dir.as_ref().to_path_buf()))
    }

    fn bind(addr: &str, dir: Option<PathBuf>) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            files: Mutex::new(HashMap::new()),
            dir,
            failure: Mutex::new(Failure::None),
            latency_us: AtomicU64::new(0),
            send_etag: AtomicBool::new(true),
            send_last_modified: AtomicBool::new(true),
            stop: AtomicBool::new(false),
            version: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            range_requests: AtomicU64::new(0),
            conditional: AtomicU64::new(0),
            heads: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
        });
        let s = shared.clone();
        let accept = thread::Builder::new()
            .name("testkit-http-accept".into())
            .spawn(move || accept_loop(listener, s))?;
        Ok(Self {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of `path` on this server (`http://127.0.0.1:PORT/path`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// Serve `bytes` at `path` (without a leading `/`), replacing what was
    /// there: a new version, with a new `ETag` and a `Last-Modified` one
    /// second later than the previous version's.
    pub fn put(&self, path: &str, bytes: Vec<u8>) {
        let v = self.shared.version.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = Entry {
            etag: format!("\"v{v}-{:x}\"", bytes.len()),
            bytes: Arc::new(bytes),
            modified: EPOCH_2026 + v,
        };
        lock(&self.shared.files).insert(path.trim_start_matches('/').to_string(), entry);
    }

    /// Stop serving `path` (requests for it get `404`).
    pub fn remove(&self, path: &str) {
        lock(&self.shared.files).remove(path.trim_start_matches('/'));
    }

    /// Misbehave as `failure` from now on (for requests already waiting for
    /// their answer too).
    pub fn set_failure(&self, failure: Failure) {
        *lock(&self.shared.failure) = failure;
    }

    /// Wait `latency` before answering each request (as a distant host).
    pub fn set_latency(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.shared.latency_us.store(us, Ordering::Relaxed);
    }

    /// Whether answers carry an `ETag` (on by default); off, clients can
    /// pin a file by its `Last-Modified` only.
    pub fn set_etag(&self, on: bool) {
        self.shared.send_etag.store(on, Ordering::Relaxed);
    }

    /// Whether answers carry `Last-Modified` (on by default).
    pub fn set_last_modified(&self, on: bool) {
        self.shared.send_last_modified.store(on, Ordering::Relaxed);
    }

    /// The counters since the start or the last [`reset_stats`](Self::reset_stats).
    pub fn stats(&self) -> Stats {
        let s = &self.shared;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            requests: get(&s.requests),
            range_requests: get(&s.range_requests),
            conditional: get(&s.conditional),
            heads: get(&s.heads),
            bytes: get(&s.bytes),
            connections: get(&s.connections),
            max_in_flight: get(&s.max_in_flight),
        }
    }

    /// Set every counter to zero.
    pub fn reset_stats(&self) {
        let s = &self.shared;
        for a in [
            &s.requests,
            &s.range_requests,
            &s.conditional,
            &s.heads,
            &s.bytes,
            &s.connections,
            &s.max_in_flight,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop; the connection threads notice the flag
        // within their read timeout.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let Ok(stream) = stream else { continue };
        shared.connections.fetch_add(1, Ordering::Relaxed);
        let s = shared.clone();
        let _ = thread::Builder::new()
            .name("testkit-http-conn".into())
            .spawn(move || {
                let _ = serve_connection(stream, &s);
            });
    }
}

/// How often an idle connection or a hanging answer looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// One parsed request.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request head; `None` when the client closed the connection
/// (or the server stops).
fn read_request(r: &mut BufReader<TcpStream>, shared: &Shared) -> io::Result<Option<Request>> {
    let mut head = Vec::new();
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let mut line = Vec::new();
        match r
            .by_ref()
            .take(MAX_HEAD as u64)
            .read_until(b'\n', &mut line)
        {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                // Idle keep-alive connection (a partial line stays in `line`
                // only if the client stalls mid-line: drop it then).
                if line.is_empty() && head.is_empty() {
                    continue;
                }
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        if line == b"\r\n" || line == b"\n" {
            if head.is_empty() {
                continue; // stray blank line between requests
            }
            break;
        }
        head.extend_from_slice(&line);
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too long",
            ));
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.lines();
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let method = first.next().unwrap_or("").to_string();
    let target = first.next().unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/");
    let path = percent_decode(path.trim_start_matches('/'));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Some(Request {
        method,
        path,
        headers,
    }))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        if b[i] == b'%'
            && let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn serve_connection(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(POLL))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader, shared)? {
        // Request bodies (none expected) are skipped.
        if let Some(n) = req
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok())
        {
            io::copy(&mut reader.by_ref().take(n), &mut io::sink())?;
        }
        let keep = answer(&req, &mut out, shared)?;
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if !keep || close {
            break;
        }
    }
    let _ = out.shutdown(Shutdown::Both);
    Ok(())
}

/// A file at `path`: put there, or read from the directory.
fn lookup(shared: &Shared, path: &str) -> Option<Entry> {
    if let Some(e) = lock(&shared.files).get(path) {
        return Some(e.clone());
    }
    let dir = shared.dir.as_ref()?;
    if path.split('/').any(|part| part == ".." || part.is_empty()) {
        return None;
    }
    let full = dir.join(path);
    let meta = std::fs::metadata(&full).ok().filter(|m| m.is_file())?;
    let bytes = std::fs::read(&full).ok()?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(EPOCH_2026, |d| d.as_secs());
    let entry = Entry {
        etag: format!("\"{modified:x}-{:x}\"", bytes.len()),
        bytes: Arc::new(bytes),
        modified,
    };
    lock(&shared.files).insert(path.to_string(), entry.clone());
    Some(entry)
}

/// What a `Range` header asks for, over a file of `len` bytes.
enum Wanted {
    Whole,
    Part(u64, u64),
    Unsatisfiable,
}

fn parse_range(value: &str, len: u64) -> Wanted {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        // Several ranges: a host may answer with the whole file.
        return Wanted::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(s), Ok(e)) if s <= e => (s, e.min(len.saturating_sub(1))),
        (Ok(s), Err(_)) if b.is_empty() => (s, len.saturating_sub(1)),
        (Err(_), Ok(n)) if a.is_empty() && n > 0 => (len.saturating_sub(n), len.saturating_sub(1)),
        _ => return Wanted::Whole,
    };
    if start >= len {
        return Wanted::Unsatisfiable;
    }
    Wanted::Part(start, end + 1)
}

/// Whether an `If-Match` list names `etag` (strong comparison).
fn etag_listed(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == etag)
}

/// Answers `req`; returns whether the connection may serve another.
fn answer(req: &Request, out: &mut TcpStream, shared: &Shared) -> io::Result<bool> {
    let now = shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::Relaxed);
    let r = answer_counted(req, out, shared);
    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
    r
}

fn answer_counted(req: &Request, out: &mut TcpStream, shared: &Shared) -> io::Result<bool> {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    if req.header("range").is_some() {
        shared.range_requests.fetch_add(1, Ordering::Relaxed);
    }
    if req.header("if-match").is_some() || req.header("if-unmodified-since").is_some() {
        shared.conditional.fetch_add(1, Ordering::Relaxed);
    }
    let head = req.method.eq_ignore_ascii_case("HEAD");
    if head {
        shared.heads.fetch_add(1, Ordering::Relaxed);
    }
    let latency = shared.latency_us.load(Ordering::Relaxed);
    if latency > 0 {
        thread::sleep(Duration::from_micros(latency));
    }
    let failure = *lock(&shared.failure);
    match failure {
        Failure::Hang => {
            while *lock(&shared.failure) == Failure::Hang && !shared.stop.load(Ordering::Relaxed) {
                thread::sleep(POLL);
            }
            return Ok(false);
        }
        Failure::Status(code) => {
            return simple(out, code, "failure switched on by the test", head, shared);
        }
        _ => {}
    }
    if !head && !req.method.eq_ignore_ascii_case("GET") {
        return simple(out, 405, "only GET and HEAD", head, shared);
    }
    let Some(entry) = lookup(shared, &req.path) else {
        return simple(
            out,
            404,
            "no such file\n(loopback test server)\n",
            head,
            shared,
        );
    };
    let len = entry.bytes.len() as u64;
    let send_etag = shared.send_etag.load(Ordering::Relaxed);
    let send_lm = shared.send_last_modified.load(Ordering::Relaxed);
    // Preconditions (RFC 9110 13.2.2): If-Match, else If-Unmodified-Since.
    if let Some(list) = req.header("if-match") {
        if !etag_listed(list, &entry.etag) {
            return simple(out, 412, "the file changed", head, shared);
        }
    } else if let Some(since) = req.header("if-unmodified-since").and_then(parse_http_date)
        && entry.modified > since
    {
        return simple(out, 412, "the file changed", head, shared);
    }
    let mut wanted = match req.header("range") {
        Some(r) => parse_range(r, len),
        None => Wanted::Whole,
    };
    if let Some(cond) = req.header("if-range") {
        let fresh = if cond.starts_with('"') || cond.starts_with("W/") {
            cond == entry.etag
        } else {
            parse_http_date(cond).is_some_and(|d| d == entry.modified)
        };
        if !fresh {
            wanted = Wanted::Whole;
        }
    }
    if failure == Failure::IgnoreRange {
        wanted = Wanted::Whole;
    }
    let mut h = String::new();
    let (status, body): (u16, &[u8]) = match wanted {
        Wanted::Whole => (200, &entry.bytes[..]),
        Wanted::Unsatisfiable => {
            h.push_str(&format!("Content-Range: bytes */{len}\r\n"));
            (416, &[])
        }
        Wanted::Part(mut s, mut e) => {
            if failure == Failure::ShiftRange {
                if e < len {
                    s += 1;
                    e += 1;
                } else if s > 0 {
                    s -= 1;
                    e -= 1;
                }
            }
            if failure != Failure::NoContentRange {
                h.push_str(&format!("Content-Range: bytes {s}-{}/{len}\r\n", e - 1));
            }
            (206, &entry.bytes[s as usize..e as usize])
        }
    };
    let extra = [0x5au8; 16];
    let (declared, sent, then_close): (usize, Vec<&[u8]>, bool) = match failure {
        Failure::Truncate if status == 206 => {
            (body.len() / 2, vec![&body[..body.len() / 2]], false)
        }
        Failure::CutOff if status == 206 => (body.len(), vec![&body[..body.len() / 2]], true),
        Failure::ExtraBytes if status == 206 => {
            (body.len() + extra.len(), vec![body, &extra], false)
        }
        _ => (body.len(), vec![body], false),
    };
    h.push_str("Accept-Ranges: bytes\r\nContent-Type: application/octet-stream\r\n");
    if send_etag {
        h.push_str(&format!("ETag: {}\r\n", entry.etag));
    }
    if send_lm {
        h.push_str(&format!("Last-Modified: {}\r\n", http_date(entry.modified)));
    }
    let mut msg = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: {declared}\r\n{h}\r\n",
        reason(status)
    )
    .into_bytes();
    if !head {
        for part in sent {
            msg.extend_from_slice(part);
            shared.bytes.fetch_add(part.len() as u64, Ordering::Relaxed);
        }
    }
    out.write_all(&msg)?;
    out.flush()?;
    Ok(!then_close)
}

/// A short text answer with `status`.
fn simple(
    out: &mut TcpStream,
    status: u16,
    text: &str,
    head: bool,
    shared: &Shared,
) -> io::Result<bool> {
    let mut msg = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        reason(status),
        text.len()
    )
    .into_bytes();
    if !head {
        msg.extend_from_slice(text.as_bytes());
        shared.bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
    }
    out.write_all(&msg)?;
    out.flush()?;
    Ok(true)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        412 => "Precondition Failed",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// `secs` since the epoch as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// An HTTP date in the preferred format, as seconds since the epoch.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let mut parts = s.split_whitespace();
    let _day = parts.next()?;
    let d: u32 = parts.next()?.parse().ok()?;
    let mon = parts.next()?;
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(mon))? as u32 + 1;
    let y: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|x| x.parse::<u64>().ok());
    let (hh, mm, ss) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT" || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = u64::try_from(days_from_civil(y, m, d)).ok()?;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        for secs in [0, EPOCH_2026, EPOCH_2026 + 86_399, 4_102_444_800] {
            assert_eq!(parse_http_date(&http_date(secs)), Some(secs));
        }
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn ranges_are_parsed_like_a_host_does() {
        let part = |v: &str| match parse_range(v, 100) {
            Wanted::Part(s, e) => Some((s, e)),
            _ => None,
        };
        assert_eq!(part("bytes=0-9"), Some((0, 10)));
        assert_eq!(part("bytes=90-200"), Some((90, 100)));
        assert_eq!(part("bytes=95-"), Some((95, 100)));
        assert_eq!(part("bytes=-5"), Some((95, 100)));
        assert_eq!(part("bytes=0-1,5-6"), None);
        assert!(matches!(
            parse_range("bytes=100-", 100),
            Wanted::Unsatisfiable
        ));
    }

    #[test]
    fn percent_escapes_are_decoded() {
        assert_eq!(percent_decode("a%20b.vtrv"), "a b.vtrv");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("x%2"), "x%2");
    }
}

//! Serve a directory of index files by range requests on loopback, as the
//! benchmarks over HTTP do from the shell:
//!
//! ```text
//! cargo run --release -p vectrove-testkit --example serve -- --dir D [--port P] [--latency-ms N]
//! ```
//!
//! Prints the URL of the directory, then the server's counters (requests,
//! bytes, ...) whenever a line is read on standard input. Runs until killed.

use std::io::BufRead;
use std::time::Duration;

use vectrove_testkit::http::Server;

fn main() {
    let mut dir = None;
    let mut port = 0u16;
    let mut latency_ms = 0u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--dir" => dir = Some(value()),
            "--port" => port = value().parse().unwrap_or_else(|_| usage("bad --port")),
            "--latency-ms" => {
                latency_ms = value()
                    .parse()
                    .unwrap_or_else(|_| usage("bad --latency-ms"))
            }
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    let dir = dir.unwrap_or_else(|| usage("--dir is required"));
    let server = Server::serve_dir(&format!("127.0.0.1:{port}"), &dir)
        .unwrap_or_else(|e| usage(&format!("cannot listen: {e}")));
    server.set_latency(Duration::from_millis(latency_ms));
    println!("serving {dir} at {}", server.url(""));
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
        println!("{:?}", server.stats());
    }
    // Standard input closed: keep serving until killed.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("serve: {msg}\nusage: serve --dir D [--port P] [--latency-ms N]");
    std::process::exit(2)
}

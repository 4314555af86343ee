//! Index files given as `http://` or `https://` URLs: searched in place by
//! range requests (`vectrove::remote`).

use std::path::Path;
use std::time::Duration;

use clap::Args;
use vectrove::Error;
use vectrove::remote::{RemoteIndex, RemoteOptions};

use crate::error::{CliError, CliResult, fail};

// Taken by search, bench and info.
#[derive(Args, Clone)]
pub struct RemoteArgs {
    /// Seconds one request for an index given as a URL may take
    #[arg(long, default_value_t = 30.0)]
    pub timeout_s: f64,
}

/// The URL `index` is, if it is one (`http://` or `https://`).
pub fn url_of(index: &Path) -> Option<&str> {
    let s = index.to_str()?;
    let scheme = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    (scheme.starts_with("http://") || scheme.starts_with("https://")).then_some(s)
}

/// Opens the index at `url` with a cache of `cache_bytes`.
pub fn open(url: &str, cache_bytes: usize, args: &RemoteArgs) -> CliResult<RemoteIndex> {
    let t = args.timeout_s;
    if !(t.is_finite() && t > 0.0 && t <= 86_400.0) {
        return fail("--timeout-s must be between 0 and 86400 seconds");
    }
    let options = RemoteOptions {
        cache_bytes,
        timeout: Duration::from_secs_f64(t),
        ..RemoteOptions::default()
    };
    RemoteIndex::open(url, options).map_err(|e| in_url(e, url))
}

/// An error of a remote index, naming the URL once.
pub fn in_url(e: Error, url: &str) -> CliError {
    match e {
        // These name it already.
        e @ Error::Remote { .. } => CliError::Message(e.to_string()),
        e => CliError::Message(format!("{url}: {e}")),
    }
}

//! Options more than one command takes.

use clap::Args;
use vectrove::file::Storage;

use crate::error::{CliError, CliResult, fail};

// Taken by search and bench.
#[derive(Args, Clone)]
pub struct StorageArgs {
    /// Where the vectors live while searching: memory, mmap or paged
    /// (several, comma-separated, for bench). mmap trusts the file: nothing
    /// may truncate it or write it in place meanwhile (a truncation kills
    /// the process with SIGBUS); saves by vectrove replace a file by rename,
    /// which is safe. paged suits files that others may change
    #[arg(long, default_value = "memory", value_delimiter = ',')]
    pub storage: Vec<String>,
    /// Page cache budget for --storage paged, in MiB (for an index URL:
    /// the cache of the bytes fetched)
    #[arg(long, default_value_t = 64)]
    pub cache_mb: usize,
}

impl StorageArgs {
    /// The storage modes asked for, with the page cache budget in bytes.
    pub fn modes(&self) -> CliResult<Vec<Storage>> {
        self.storage
            .iter()
            .map(|s| {
                let mode: Storage = s.parse().map_err(CliError::Message)?;
                Ok(match mode {
                    Storage::Paged { .. } => Storage::Paged {
                        cache_bytes: self.cache_bytes()?,
                    },
                    m => m,
                })
            })
            .collect()
    }

    /// `--cache-mb` in bytes.
    pub fn cache_bytes(&self) -> CliResult<usize> {
        self.cache_mb
            .checked_mul(1 << 20)
            .ok_or_else(|| CliError::Message("--cache-mb is too large".into()))
    }
}

/// The most threads `--threads` may ask for: far more than any machine's
/// cores, and few enough to start in a moment (a million would take minutes).
const MAX_THREADS: usize = 1024;

/// A thread pool of `threads` threads, or one per core.
pub fn pool(threads: Option<usize>) -> CliResult<rayon::ThreadPool> {
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(t) = threads {
        if t == 0 || t > MAX_THREADS {
            return fail(format!("--threads must be between 1 and {MAX_THREADS}"));
        }
        b = b.num_threads(t);
    }
    Ok(b.build()?)
}

/// `--kmeans-init` / `--init`: kmeans++, random or hierarchical.
pub fn parse_init(s: &str) -> Result<vectrove::kmeans::Init, String> {
    vectrove::kmeans::Init::from_name(s)
        .ok_or_else(|| format!("`{s}` is not kmeans++, random or hierarchical"))
}

//! Options more than one command takes.

use clap::Args;
use vectrove::file::Storage;

use crate::error::{CliError, CliResult, fail};

// Taken by search and bench.
#[derive(Args, Clone)]
pub struct StorageArgs {
    /// Where the vectors live while searching: memory, mmap or paged
    /// (several, comma-separated, for bench)
    #[arg(long, default_value = "memory", value_delimiter = ',')]
    pub storage: Vec<String>,
    /// Page cache budget for --storage paged, in MiB
    #[arg(long, default_value_t = 64)]
    pub cache_mb: usize,
}

impl StorageArgs {
    /// The storage modes asked for, with the page cache budget in bytes.
    pub fn modes(&self) -> CliResult<Vec<Storage>> {
        self.storage
            .iter()
            .map(|s| {
                let mode: Storage = s.parse().map_err(CliError)?;
                Ok(match mode {
                    Storage::Paged { .. } => Storage::Paged {
                        cache_bytes: self
                            .cache_mb
                            .checked_mul(1 << 20)
                            .ok_or_else(|| CliError("--cache-mb is too large".into()))?,
                    },
                    m => m,
                })
            })
            .collect()
    }
}

/// A thread pool of `threads` threads, or one per core.
pub fn pool(threads: Option<usize>) -> CliResult<rayon::ThreadPool> {
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(t) = threads {
        if t == 0 {
            return fail("--threads must be at least 1");
        }
        b = b.num_threads(t);
    }
    Ok(b.build()?)
}

//! The current process's memory use, as Linux reports it in `/proc`.
//!
//! Resident memory splits into anonymous private memory (the heap: what an
//! in-memory index costs) and file-backed pages (what a memory-mapped index
//! keeps in the page cache, which the kernel can drop and re-read).

/// Resident memory of the current process, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// All resident memory (RSS).
    pub rss_bytes: u64,
    /// Anonymous memory: heap, stacks and copied-on-write pages
    /// (`Anonymous:` in `/proc/self/smaps_rollup`, `RssAnon:` in `/proc/self/status`).
    pub private_bytes: u64,
    /// The rest of the resident memory: pages of mapped files (and shared
    /// memory), `rss_bytes - private_bytes`.
    pub file_bytes: u64,
}

/// The current process's memory use, or `None` where it cannot be read
/// (outside Linux, or with `/proc` unavailable).
///
/// Reads `/proc/self/smaps_rollup` (Linux 4.14 and later), else the
/// counters in `/proc/self/status`, which the kernel updates slightly lazily.
pub fn current() -> Option<MemoryUsage> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let from_rollup = std::fs::read_to_string("/proc/self/smaps_rollup")
            .ok()
            .and_then(|text| usage(&text, "Rss", "Anonymous"));
        from_rollup.or_else(|| {
            let text = std::fs::read_to_string("/proc/self/status").ok()?;
            usage(&text, "VmRSS", "RssAnon")
        })
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        None
    }
}

/// Builds the usage from a `/proc` text holding `<rss>:` and `<anon>:` lines in kB.
#[cfg_attr(
    not(any(target_os = "linux", target_os = "android", test)),
    allow(dead_code)
)]
fn usage(text: &str, rss: &str, anon: &str) -> Option<MemoryUsage> {
    let rss_bytes = kb_field(text, rss)?;
    let private_bytes = kb_field(text, anon)?;
    Some(MemoryUsage {
        rss_bytes,
        private_bytes,
        file_bytes: rss_bytes.saturating_sub(private_bytes),
    })
}

/// The value of a `Name:   1234 kB` line, in bytes.
#[cfg_attr(
    not(any(target_os = "linux", target_os = "android", test)),
    allow(dead_code)
)]
fn kb_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        let mut words = rest.split_whitespace();
        let value: u64 = words.next()?.parse().ok()?;
        match words.next() {
            Some("kB") => value.checked_mul(1024),
            None => Some(value),
            Some(_) => None,
        }
    })
}

/// A byte count for people, in decimal units: `"512 B"`, `"512 KB"`,
/// `"215.8 MB"`, `"1.30 GB"`, `"2.05 TB"`.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    // Each unit is used while its rounded value stays below 1000.
    if bytes < 1000 {
        format!("{bytes} B")
    } else if b < 999.5e3 {
        format!("{:.0} KB", b / 1e3)
    } else if b < 999.95e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b < 999.995e9 {
        format!("{:.2} GB", b / 1e9)
    } else {
        format!("{:.2} TB", b / 1e12)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(999), "999 B");
        assert_eq!(human(1000), "1 KB");
        assert_eq!(human(512_000), "512 KB");
        assert_eq!(human(999_499), "999 KB");
        assert_eq!(human(999_500), "1.0 MB");
        assert_eq!(human(215_800_000), "215.8 MB");
        assert_eq!(human(999_960_000), "1.00 GB");
        assert_eq!(human(1_300_000_000), "1.30 GB");
        assert_eq!(human(2_050_000_000_000), "2.05 TB");
        assert_eq!(human(u64::MAX), "18446744.07 TB");
    }

    #[test]
    fn parses_proc_texts() {
        let rollup = "55d0c0a00000-7ffd5a1fe000 ---p 00000000 00:00 0    [rollup]\n\
                      Rss:              204800 kB\n\
                      Pss:              150000 kB\n\
                      Pss_Anon:          51200 kB\n\
                      Anonymous:         51200 kB\n";
        assert_eq!(
            usage(rollup, "Rss", "Anonymous"),
            Some(MemoryUsage {
                rss_bytes: 204_800 * 1024,
                private_bytes: 51_200 * 1024,
                file_bytes: 153_600 * 1024,
            })
        );
        // `Pss_Anon` must not be taken for `Anonymous`, nor `VmRSS` for `Rss`.
        let status =
            "Name:\tvectrove\nVmRSS:\t    1000 kB\nRssAnon:\t     400 kB\nRssFile:\t     600 kB\n";
        assert_eq!(usage(status, "Rss", "Anonymous"), None);
        let u = usage(status, "VmRSS", "RssAnon").unwrap();
        assert_eq!(
            (u.rss_bytes, u.private_bytes, u.file_bytes),
            (1_024_000, 409_600, 614_400)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn touched_heap_memory_shows_as_private() {
        const SIZE: usize = 50 << 20;
        let before = current().expect("Linux reports memory use");
        let mut block = vec![0u8; SIZE];
        // Write every page so all of it becomes resident.
        for i in (0..SIZE).step_by(4096) {
            block[i] = 1;
        }
        std::hint::black_box(&mut block);
        let after = current().unwrap();
        let grown = after.private_bytes.saturating_sub(before.private_bytes);
        assert!(
            grown >= 40 << 20,
            "private memory grew by only {} ({before:?} -> {after:?})",
            human(grown)
        );
        assert!(after.rss_bytes >= after.private_bytes);
        assert_eq!(after.file_bytes, after.rss_bytes - after.private_bytes);
        drop(block);
    }
}

//! A global allocator that backs large blocks with transparent huge pages.
//!
//! A search reads vectors scattered over the whole index: on 4 KiB pages
//! nearly every row it touches is also a TLB miss, a walk of the page
//! tables before the row itself can load. Backed by 2 MiB pages, the
//! vectors of a 50,000 × 384 index fit in the TLB's reach, and the same
//! searches answer more queries a second (the README's peer table has the
//! figures).
//!
//! Linux gives anonymous memory huge pages when the system setting
//! `/sys/kernel/mm/transparent_hugepage/enabled` is `always`, or when it is
//! `madvise` (a common default) and the program asks for them. [`HugePages`]
//! asks: every block of at least [`HUGE_PAGE`] bytes is aligned to a huge
//! page and advised with `MADV_HUGEPAGE` before its memory is first touched.
//! Smaller blocks, and every block on other systems, are the system
//! allocator's as they are. A block can hold up to one huge page more
//! than it asked for once its last page is touched.
//!
//! A library does not choose the allocator of the program it is linked into,
//! so this one is opt-in (the `vectrove` command-line tool installs it):
//!
//! ```
//! #[global_allocator]
//! static ALLOC: vectrove::HugePages = vectrove::HugePages;
//!
//! let big = vec![0u8; 8 << 20];
//! assert!(big.iter().all(|&b| b == 0));
//! ```

use std::alloc::{GlobalAlloc, Layout, System};

/// The size of a huge page on x86-64 and most aarch64 Linux systems, and
/// the smallest block [`HugePages`] advises.
pub const HUGE_PAGE: usize = 2 << 20;

/// The system allocator, with blocks of [`HUGE_PAGE`] bytes or more aligned
/// to huge pages and advised to use them (Linux; elsewhere the system
/// allocator alone). See the [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct HugePages;

/// The layout a large block is allocated with (the caller's size, aligned
/// to a huge page), or `None` for a block left to the system allocator as
/// it is. The same for a layout on allocation and on release, as it must be.
fn huge(layout: Layout) -> Option<Layout> {
    if !cfg!(target_os = "linux") || layout.size() < HUGE_PAGE {
        return None;
    }
    layout.align_to(HUGE_PAGE).ok()
}

/// Asks the kernel for huge pages over the `len` bytes at `ptr` (aligned to
/// a huge page). Advice only: where it is refused the memory works as before.
#[cfg(target_os = "linux")]
fn advise(ptr: *mut u8, len: usize) {
    // SAFETY: `ptr..ptr + len` is a block this allocator just obtained and
    // owns; MADV_HUGEPAGE changes how its pages are backed, never what
    // they hold, and a failure leaves the mapping as it was.
    unsafe {
        libc::madvise(ptr.cast(), len, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_ptr: *mut u8, _len: usize) {}

// SAFETY: every block comes from `System` with the layout that `huge`
// derives from the caller's, and goes back to it with the same derived
// layout (`huge` depends on the layout alone); `advise` does not change
// the contents of a block.
unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match huge(layout) {
            None => {
                // SAFETY: the caller's contract for `alloc`, passed on.
                unsafe { System.alloc(layout) }
            }
            Some(big) => {
                // SAFETY: `big` has a non-zero size (at least a huge page).
                let ptr = unsafe { System.alloc(big) };
                if !ptr.is_null() {
                    advise(ptr, big.size());
                }
                ptr
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if huge(layout).is_none() {
            // SAFETY: the caller's contract for `alloc_zeroed`, passed on.
            return unsafe { System.alloc_zeroed(layout) };
        }
        // Advised first, then cleared, so that the clearing is what first
        // touches the pages and they are huge from the start.
        // SAFETY: as for `alloc`.
        let ptr = unsafe { self.alloc(layout) };
        if !ptr.is_null() {
            // SAFETY: `ptr` holds `layout.size()` writable bytes.
            unsafe { ptr.write_bytes(0, layout.size()) };
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` with `layout`, so from `System`
        // with the layout `huge` gives for it now.
        unsafe { System.dealloc(ptr, huge(layout).unwrap_or(layout)) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees a valid layout of `new_size` bytes
        // at `layout`'s alignment (the contract of `realloc`).
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if huge(layout).is_none() && huge(new).is_none() {
            // SAFETY: both layouts are the system allocator's own.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // A block that is or becomes large moves to a block advised before
        // the copy touches it.
        // SAFETY: `new` has a non-zero size, as `new_size` is non-zero by
        // the contract of `realloc`.
        let moved = unsafe { self.alloc(new) };
        if !moved.is_null() {
            // SAFETY: both blocks are live, distinct, and hold at least the
            // bytes copied; the old one is released only after the copy.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_blocks_keep_their_layout_and_large_ones_are_aligned_to_a_huge_page() {
        let small = Layout::from_size_align(4096, 8).unwrap();
        assert_eq!(huge(small), None);
        let large = Layout::from_size_align(3 << 20, 8).unwrap();
        let expected =
            cfg!(target_os = "linux").then(|| Layout::from_size_align(3 << 20, HUGE_PAGE).unwrap());
        assert_eq!(huge(large), expected);
    }

    #[test]
    fn blocks_keep_their_bytes_as_they_grow_and_shrink_across_the_threshold() {
        let a = HugePages;
        let layout = Layout::from_size_align(1000, 8).unwrap();
        // SAFETY: every block is used within the size it was given and
        // released once, with the layout it has at that point.
        unsafe {
            let p = a.alloc_zeroed(layout);
            assert!(!p.is_null());
            assert!(std::slice::from_raw_parts(p, 1000).iter().all(|&b| b == 0));
            for i in 0..1000 {
                *p.add(i) = i as u8;
            }
            let grown = a.realloc(p, layout, HUGE_PAGE + 12345);
            assert!(!grown.is_null());
            assert_eq!(
                grown as usize
                    % if cfg!(target_os = "linux") {
                        HUGE_PAGE
                    } else {
                        8
                    },
                0
            );
            assert!((0..1000).all(|i| *grown.add(i) == i as u8));
            *grown.add(HUGE_PAGE + 12344) = 7;
            let big = Layout::from_size_align(HUGE_PAGE + 12345, 8).unwrap();
            let shrunk = a.realloc(grown, big, 900);
            assert!(!shrunk.is_null());
            assert!((0..900).all(|i| *shrunk.add(i) == i as u8));
            a.dealloc(shrunk, Layout::from_size_align(900, 8).unwrap());

            let z = a.alloc_zeroed(big);
            assert!(!z.is_null());
            assert!(
                std::slice::from_raw_parts(z, big.size())
                    .iter()
                    .all(|&b| b == 0)
            );
            a.dealloc(z, big);
        }
    }

    /// The kernel's huge pages in the mapping that holds `addr`, in KiB,
    /// from this process's smaps.
    #[cfg(target_os = "linux")]
    fn huge_kib_at(addr: usize) -> Option<u64> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((lo, hi)) = first.split_once('-')
                && let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                inside = (lo..hi).contains(&addr);
            } else if inside && let Some(kb) = line.strip_prefix("AnonHugePages:") {
                return kb.trim().trim_end_matches("kB").trim().parse().ok();
            }
        }
        None
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_large_block_is_backed_by_huge_pages_unless_the_system_forbids_them() {
        let setting = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        let layout = Layout::from_size_align(8 << 20, 8).unwrap();
        // SAFETY: the block is written within its size and released once
        // with its layout.
        unsafe {
            let p = HugePages.alloc(layout);
            assert!(!p.is_null());
            p.write_bytes(1, layout.size());
            let huge = huge_kib_at(p as usize);
            HugePages.dealloc(p, layout);
            if setting.is_empty() || setting.contains("[never]") {
                return; // no transparent huge pages on this system
            }
            // Of the four huge pages the block spans, at least one.
            assert!(
                huge.unwrap_or(0) >= 2048,
                "{huge:?} KiB of huge pages ({setting})"
            );
        }
    }
}

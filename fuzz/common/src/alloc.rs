//! A global allocator with a ceiling on any single allocation.
//!
//! The decoders promise that what they allocate is bounded by the bytes
//! they were given (the graph by 64 MiB plus 40 times the file's length,
//! everything else by the file itself). A target sets the ceiling from its
//! input with [`Cap::for_input`]; an allocation above it prints its size and
//! aborts, which libFuzzer records as a crash with the input that caused it.
//! This catches a huge allocation even when the system would have granted
//! it lazily (zeroed pages cost no memory until touched), which an RSS limit
//! alone misses.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The allocator; install it with
/// `#[global_allocator] static ALLOC: CappedAlloc = CappedAlloc;`.
pub struct CappedAlloc;

static CEILING: AtomicUsize = AtomicUsize::new(usize::MAX);
static INPUT: AtomicUsize = AtomicUsize::new(0);

/// The ceiling while it lives; dropping it lifts the ceiling.
pub struct Cap(());

impl Cap {
    /// The ceiling for decoding `len` bytes: the documented bound on the
    /// graph (64 MiB + 40 × len) with room to spare, but nowhere near what
    /// a hostile length field could ask for.
    pub fn for_input(len: usize) -> Cap {
        let ceiling = (80 << 20) + len.saturating_mul(64);
        INPUT.store(len, Ordering::Relaxed);
        CEILING.store(ceiling, Ordering::Relaxed);
        Cap(())
    }
}

impl Drop for Cap {
    fn drop(&mut self) {
        CEILING.store(usize::MAX, Ordering::Relaxed);
    }
}

#[inline]
fn check(size: usize) {
    if size > CEILING.load(Ordering::Relaxed) {
        too_big(size);
    }
}

/// Report without allocating (we are inside the allocator), then abort.
#[cold]
fn too_big(size: usize) -> ! {
    let mut msg = Message([0; 160], 0);
    msg.put(b"\n==== oversized allocation: ");
    msg.num(size);
    msg.put(b" bytes while decoding an input of ");
    msg.num(INPUT.load(Ordering::Relaxed));
    msg.put(b" bytes (ceiling ");
    msg.num(CEILING.load(Ordering::Relaxed));
    msg.put(b")\n");
    let _ = std::io::stderr().write_all(&msg.0[..msg.1]);
    std::process::abort();
}

/// A message in a fixed buffer.
struct Message([u8; 160], usize);

impl Message {
    fn put(&mut self, s: &[u8]) {
        let n = s.len().min(self.0.len() - self.1);
        self.0[self.1..self.1 + n].copy_from_slice(&s[..n]);
        self.1 += n;
    }

    fn num(&mut self, mut n: usize) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.put(&buf[i..]);
    }
}

// SAFETY: every call is passed straight to the system allocator; the only
// addition is a size check that aborts before anything is allocated.
unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: the caller's contract is forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

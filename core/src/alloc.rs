//! Fallible allocation for everything sized by bytes the core did not
//! produce (a file's sections, a caller's counts): running out of memory is
//! an [`Error`], never an abort.
//!
//! Buffers come zeroed from the allocator ([`zeroed`]): fresh pages from the
//! system are already clear, so a large buffer costs no pass to clear it,
//! and one small function per element type serves every decoder (the
//! browser package compiles them all).

use std::alloc::Layout;

use crate::error::{Error, Result};

/// The error for an allocation of `bytes` bytes for `what` that failed.
#[cold]
#[inline(never)]
pub(crate) fn out_of_memory(what: &str, bytes: usize) -> Error {
    Error::Storage {
        message: format!("out of memory: {what} needs {bytes} bytes"),
    }
}

/// Zeroed memory for `layout` (of non-zero size), or an error naming `what`.
#[inline(never)]
fn alloc_zeroed(layout: Layout, what: &str) -> Result<*mut u8> {
    // SAFETY: callers pass a layout of non-zero size.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        Err(out_of_memory(what, layout.size()))
    } else {
        Ok(ptr)
    }
}

/// `n` zeroed values of `T` (a type for which all-zero bytes are a value),
/// or an error naming `what`.
#[inline(never)]
pub(crate) fn zeroed<T: bytemuck::Zeroable>(n: usize, what: &str) -> Result<Vec<T>> {
    let layout = Layout::array::<T>(n).map_err(|_| out_of_memory(what, usize::MAX))?;
    if layout.size() == 0 {
        return Ok(Vec::new());
    }
    let ptr = alloc_zeroed(layout, what)?.cast::<T>();
    // SAFETY: `ptr` comes from the global allocator with the layout of
    // `[T; n]`, which is what a `Vec<T>` of capacity `n` frees with; all
    // `n` values are initialised, as all-zero bytes are a `T`.
    Ok(unsafe { Vec::from_raw_parts(ptr, n, n) })
}

/// `n` copies of `value`, or an error naming `what` (for element types
/// that are not all-zero bytes).
pub(crate) fn vec_of<T: Clone>(n: usize, value: T, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| out_of_memory(what, n.saturating_mul(size_of::<T>())))?;
    v.resize(n, value);
    Ok(v)
}

/// Room for `more` values past the length of `v` (amortised growth), or an
/// error naming `what`.
pub(crate) fn reserve<T>(v: &mut Vec<T>, more: usize, what: &str) -> Result<()> {
    v.try_reserve(more)
        .map_err(|_| out_of_memory(what, more.saturating_mul(size_of::<T>())))
}

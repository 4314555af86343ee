//! Fallible allocation for everything sized by bytes the core did not
//! produce (a file's sections, a caller's counts): running out of memory is
//! an [`Error`], never an abort.

use crate::error::{Error, Result};

/// The error for an allocation of `bytes` bytes for `what` that failed.
pub(crate) fn out_of_memory(what: &str, bytes: usize) -> Error {
    Error::Storage {
        message: format!("out of memory: {what} needs {bytes} bytes"),
    }
}

/// An empty vector with room for `n` items, or an error naming `what`.
pub(crate) fn vec_with_capacity<T>(n: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    reserve(&mut v, n, what)?;
    Ok(v)
}

/// Make room for `n` more items in `v`, or an error naming `what`.
pub(crate) fn reserve<T>(v: &mut Vec<T>, n: usize, what: &str) -> Result<()> {
    v.try_reserve_exact(n)
        .map_err(|_| out_of_memory(what, n.saturating_mul(size_of::<T>())))
}

/// `n` copies of `value`, or an error naming `what`.
pub(crate) fn vec_of<T: Clone>(n: usize, value: T, what: &str) -> Result<Vec<T>> {
    let mut v = vec_with_capacity(n, what)?;
    v.resize(n, value);
    Ok(v)
}

/// `n` zero bytes, or an error naming `what`. Zeroed memory comes from the
/// allocator already cleared (fresh pages from the system), so a large
/// buffer costs no pass to clear it.
pub(crate) fn zeroed_bytes(n: usize, what: &str) -> Result<Vec<u8>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let layout = std::alloc::Layout::array::<u8>(n).map_err(|_| out_of_memory(what, n))?;
    // SAFETY: the layout's size, `n`, is not zero.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return Err(out_of_memory(what, n));
    }
    // SAFETY: `ptr` comes from the global allocator with the layout of `n`
    // bytes aligned to 1, which is what a `Vec<u8>` of capacity `n` frees
    // with; all `n` bytes are initialised (zero).
    Ok(unsafe { Vec::from_raw_parts(ptr, n, n) })
}

//! A cache prefetch hint for the per-packet tables.
//!
//! The flow and uptime tables are larger than the caches, so each SYN's
//! lookup is a memory access of some 100 ns; the analyzer decodes a few
//! packets ahead and asks for their table lines early so those accesses
//! overlap instead of queueing one behind the other.

/// Asks the CPU to start loading the cache line that holds `value`.
/// A hint only: it never faults, changes nothing observable, and compiles to
/// nothing where no prefetch instruction is available.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 reads nothing into registers and cannot fault for
    // any address; the pointer comes from a live reference besides.
    #[allow(unsafe_code)]
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

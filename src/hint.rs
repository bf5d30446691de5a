//! Memory hints for the per-packet tables: a cache prefetch and huge pages.
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

/// A vector of `n` copies of `value` whose memory the kernel is asked to back
/// with huge pages where it can (Linux transparent huge pages in `madvise`
/// mode; in `always` mode they come anyway): the flow table is touched at random, one line
/// per SYN, and with 4 KiB pages nearly every touch also misses the TLB.
/// Elsewhere, or when the kernel declines, it is an ordinary vector.
pub(crate) fn huge_page_vec<T: Clone>(n: usize, value: T) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    #[cfg(target_os = "linux")]
    {
        let bytes = v.capacity() * std::mem::size_of::<T>();
        // Only whole huge pages inside the allocation can be huge; smaller
        // tables gain nothing.
        if bytes >= 4 << 20 {
            let start = v.as_mut_ptr() as usize;
            // SAFETY: sysconf reads a constant of the system.
            #[allow(unsafe_code)]
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            // 16 and 64 KiB pages exist (arm64, ppc64): advising by 4 KiB
            // would start or end between the kernel's pages.
            let page = usize::try_from(page).unwrap_or(4096).max(4096);
            let aligned = start.next_multiple_of(page);
            let len = (start + bytes).saturating_sub(aligned) / page * page;
            // SAFETY: MADV_HUGEPAGE only changes how the kernel backs the
            // range [aligned, aligned + len), which lies inside this
            // vector's allocation (page-aligned as madvise requires); it
            // does not read or write the memory, and failure (an old
            // kernel, THP disabled) just leaves ordinary pages.
            #[allow(unsafe_code)]
            unsafe {
                libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
            }
        }
    }
    // The pages are faulted in here, after the advice, so they come huge.
    v.resize(n, value);
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn huge_page_vectors_hold_what_was_asked_for() {
        // Below and above the size where huge pages are requested.
        for n in [0usize, 1, 1000, (8 << 20) / 8 + 3] {
            let v = super::huge_page_vec(n, 0x5a5a_u64);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x == 0x5a5a));
        }
    }
}

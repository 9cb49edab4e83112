//! The only `unsafe` in the build: a cache prefetch hint.

/// Asks the CPU to start loading `slice[index]` into the cache; does nothing if `index` is out
/// of bounds or on other architectures.
#[inline(always)]
pub(crate) fn prefetch<T>(slice: &[T], index: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(r) = slice.get(index) {
        // SAFETY: PREFETCHT0 is a hint: it never faults and changes no program state; the
        // address comes from a valid reference anyway. SSE is part of the x86_64 baseline,
        // so the instruction always exists.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                (r as *const T).cast(),
            )
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (slice, index);
}

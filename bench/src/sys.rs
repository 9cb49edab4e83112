//! The few libc calls the harness needs, each wrapped safely. The only `unsafe` in the crate.

/// User and system CPU seconds the calling thread has used so far (RUSAGE_THREAD).
pub fn thread_cpu_s() -> (f64, f64) {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `ru` is a valid, writable rusage; RUSAGE_THREAD is a valid `who` on Linux
    // (since 2.6.26). getrusage only writes into the struct and cannot fail with these.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, ru.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage(RUSAGE_THREAD) cannot fail");
    // SAFETY: getrusage returned 0, so it initialised the whole struct (it was zeroed anyway).
    let ru = unsafe { ru.assume_init() };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

/// Clock ticks per second, the unit of utime/stime in /proc/PID/stat.
pub fn clock_ticks_per_s() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v > 0 {
        v as u64
    } else {
        100
    }
}

/// Send a signal to a process we started. Returns false if it is gone.
pub fn kill(pid: u32, sig: i32) -> bool {
    // SAFETY: kill has no memory-safety preconditions; the pid is one of our children.
    unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
}

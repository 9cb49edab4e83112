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

/// CPU nanoseconds process `pid` has used so far, all its threads together, those that have
/// exited included (the process's CPU-time clock, CLOCK_PROCESS_CPUTIME_ID as seen from
/// outside: clock_getcpuclockid(3)). Nanoseconds, where /proc/PID/stat counts 10 ms ticks.
/// None if the process is gone or its clock cannot be read.
pub fn process_cpu_ns(pid: u32) -> Option<u64> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a valid, writable clockid_t for the call; the function has no other
    // memory-safety preconditions and returns an error number for a missing process.
    let rc = unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) };
    if rc != 0 {
        return None;
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; an invalid or stale clock id gives -1.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return None;
    }
    Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Send a signal to a process we started. Returns false if it is gone.
pub fn kill(pid: u32, sig: i32) -> bool {
    // SAFETY: kill has no memory-safety preconditions; the pid is one of our children.
    unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
}

/// A system call's return value as a Result: -1 (any negative value) is the errno.
fn cvt(rc: libc::c_int) -> std::io::Result<()> {
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// setsockopt(2) with an int value.
fn setsockopt_int(
    fd: std::os::fd::BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `fd` is a live descriptor borrowed for the call; the option value points to a
    // c_int that lives across the call, and its size is passed correctly.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
}

/// Set SO_RCVBUF on a socket (the kernel doubles it for bookkeeping, and stops auto-tuning it).
pub fn set_rcvbuf(fd: std::os::fd::BorrowedFd<'_>, bytes: usize) -> std::io::Result<()> {
    let v = bytes.min(libc::c_int::MAX as usize) as libc::c_int;
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, v)
}

/// A new TCP socket for `addr`'s family (close-on-exec, non-blocking if asked), with
/// SO_RCVBUF set to `rcvbuf` bytes first when it is not 0: set before connect, it also sizes
/// the initial receive window that the SYN announces (`tcp_select_initial_window`).
pub fn tcp_socket(
    addr: &std::net::SocketAddr,
    rcvbuf: usize,
    nonblocking: bool,
) -> std::io::Result<std::net::TcpStream> {
    use std::os::fd::{AsFd, FromRawFd, OwnedFd};
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let flags = if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: socket has no memory-safety preconditions.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC | flags, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2), is open, and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if rcvbuf > 0 {
        set_rcvbuf(fd.as_fd(), rcvbuf)?;
    }
    if let std::net::SocketAddr::V4(a) = addr {
        if a.ip().is_loopback() {
            bind_loopback_source(fd.as_fd())?;
        }
    }
    Ok(std::net::TcpStream::from(fd))
}

/// Source addresses a client spreads its loopback connections over: 127.0.0.1 to this.
pub const LOOPBACK_SOURCES: u32 = 16;

/// Binds a socket about to connect to an IPv4 loopback target to the next of
/// [`LOOPBACK_SOURCES`] source addresses (127.0.0.1, .2, ...), leaving the port to connect
/// (IP_BIND_ADDRESS_NO_PORT, so connect still picks a port unique for the whole 4-tuple).
///
/// Why: the client closes first, so every transfer leaves a TIME_WAIT socket on the client's
/// side for 60 s. From one source address, a run of a few seconds at 15,000-45,000
/// connections/s fills the 28,000 ephemeral ports towards the server's port, and connect(2)
/// then spends its time searching them: perf showed `__inet_check_established`,
/// `__inet_hash_connect` and `tcp_twsk_unique` at 45% of the client's CPU, which tripled
/// (21 to 67 µs per one-message transfer) and capped the rate at 14,500/s for every server.
/// Sixteen source addresses give sixteen times the ports. Every server `compare` starts
/// allows transfers from 127.0.0.0/8.
fn bind_loopback_source(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % LOOPBACK_SOURCES;
    setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1)?;
    // SAFETY: sockaddr_in is plain data; all zeroes is a valid value of it.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1 + n as u8]).to_be();
    // SAFETY: `sa` is a valid sockaddr_in that lives across the call and its exact size is
    // passed; the descriptor is open (borrowed).
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    })
}

/// connect(2) on a socket from `tcp_socket`: blocking (bounded by its SO_SNDTIMEO, set with
/// `set_write_timeout`; a timeout returns EINPROGRESS) or, on a non-blocking socket, started
/// (EINPROGRESS while the handshake is under way).
pub fn connect(s: &std::net::TcpStream, addr: &std::net::SocketAddr) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let rc = match addr {
        std::net::SocketAddr::V4(a) => {
            // SAFETY: sockaddr_in is plain data; all zeroes is a valid value of it.
            let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_port = a.port().to_be();
            sa.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            // SAFETY: `sa` is a valid sockaddr_in that lives across the call and its exact
            // size is passed; the descriptor is open (borrowed from `s`).
            unsafe {
                libc::connect(
                    s.as_raw_fd(),
                    (&sa as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        std::net::SocketAddr::V6(a) => {
            // SAFETY: sockaddr_in6 is plain data; all zeroes is a valid value of it.
            let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_port = a.port().to_be();
            sa.sin6_flowinfo = a.flowinfo();
            sa.sin6_addr.s6_addr = a.ip().octets();
            sa.sin6_scope_id = a.scope_id();
            // SAFETY: as above, for a sockaddr_in6.
            unsafe {
                libc::connect(
                    s.as_raw_fd(),
                    (&sa as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    cvt(rc)
}

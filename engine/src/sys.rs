//! The only module of the engine with `unsafe`: socket set-up, signal masks, and pushing
//! entries onto an io_uring submission queue.
//!
//! What it owns: the system calls that std does not offer (SO_REUSEPORT listeners with a chosen
//! backlog, getpeername on a raw fd, sigwait) and the one place where submission entries reach
//! the kernel. What it does not own: deciding what to submit, or the memory entries point into;
//! that is the core's (see `core.rs`, "memory ownership").

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use io_uring::{squeue, IoUring};

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and the length passed is its size; the kernel only reads it.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// A `sockaddr_storage` holding `addr`, and its length.
pub fn sockaddr_from(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid (AF_UNSPEC) value.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Reads a socket address the kernel wrote into `storage`.
pub fn sockaddr_to(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in; storage is aligned for it.
            let sin: &libc::sockaddr_in =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6; storage is aligned for it.
            let sin6: &libc::sockaddr_in6 =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn socket(addr: &SocketAddr, kind: libc::c_int) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain system call with constant arguments.
    let fd = cvt(unsafe { libc::socket(family, kind | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    use std::os::fd::AsRawFd;
    let raw = fd.as_raw_fd();
    setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    if addr.is_ipv6() {
        // Separate IPv4 and IPv6 listeners: `[::]` must not take IPv4 too.
        setsockopt_int(raw, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    let (storage, len) = sockaddr_from(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes; the kernel only reads it.
    cvt(unsafe { libc::bind(raw, (&storage as *const libc::sockaddr_storage).cast(), len) })?;
    Ok(fd)
}

/// A TCP listener bound to `addr` with SO_REUSEPORT (one per core) and `backlog`.
pub fn tcp_listener(addr: &SocketAddr, backlog: u32) -> io::Result<OwnedFd> {
    let fd = socket(addr, libc::SOCK_STREAM)?;
    use std::os::fd::AsRawFd;
    // Accepted sockets inherit TCP_NODELAY. xfrd writes whole messages in large batches, so
    // Nagle never saves a packet here; it could only hold the last short segment of a
    // transfer until the client acknowledges the rest (a delayed ACK can make that 40 ms).
    set_tcp_nodelay(fd.as_raw_fd())?;
    // SAFETY: plain system call on a socket we own.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog.min(i32::MAX as u32) as libc::c_int) })?;
    Ok(fd)
}

/// A UDP socket bound to `addr` with SO_REUSEPORT (one per core).
pub fn udp_socket(addr: &SocketAddr) -> io::Result<OwnedFd> {
    socket(addr, libc::SOCK_DGRAM)
}

/// The local address a socket is bound to (to learn the port when binding port 0).
pub fn local_addr(fd: RawFd) -> io::Result<SocketAddr> {
    // SAFETY: zeroed sockaddr_storage is valid; getsockname writes at most `len` bytes into it.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: pointers to live locals with the right length.
    cvt(unsafe {
        libc::getsockname(
            fd,
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    })?;
    sockaddr_to(&storage).ok_or_else(|| io::Error::other("unknown address family"))
}

/// The peer of a connected socket, IPv4-mapped IPv6 addresses turned into IPv4. Multishot
/// accept does not return the peer address, so this one system call per connection remains.
pub fn peer_ip(fd: RawFd) -> io::Result<IpAddr> {
    // SAFETY: zeroed sockaddr_storage is valid; getpeername writes at most `len` bytes into it.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: pointers to live locals with the right length.
    cvt(unsafe {
        libc::getpeername(
            fd,
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    })?;
    let addr = sockaddr_to(&storage).ok_or_else(|| io::Error::other("unknown address family"))?;
    Ok(addr.ip().to_canonical())
}

/// An all-zero `msghdr` (no name, no iovecs, no control data).
pub fn msghdr_zeroed() -> libc::msghdr {
    // SAFETY: msghdr is plain old data: null pointers and zero lengths are a valid empty value.
    unsafe { zeroed() }
}

/// Blocks `signals` in the calling thread (and in threads it spawns afterwards).
pub fn block_signals(signals: &[libc::c_int]) -> io::Result<()> {
    // SAFETY: sigset_t is initialised by sigemptyset before use; pthread_sigmask reads it.
    unsafe {
        let mut set: libc::sigset_t = zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
    }
    Ok(())
}

/// Waits for one of `signals` (which must be blocked in every thread) and returns it.
pub fn wait_signal(signals: &[libc::c_int]) -> io::Result<libc::c_int> {
    // SAFETY: sigset_t initialised by sigemptyset; sigwait writes the signal number into `sig`.
    unsafe {
        let mut set: libc::sigset_t = zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        let mut sig: libc::c_int = 0;
        let rc = libc::sigwait(&set, &mut sig);
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(sig)
    }
}

/// SIGPIPE is ignored: a peer that closes mid-transfer gives EPIPE, not a dead process.
pub fn ignore_sigpipe() {
    // SAFETY: installing SIG_IGN for SIGPIPE has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Sends `signal` to this process (used by tests and by the shutdown path of `xfrd`).
pub fn raise(signal: libc::c_int) {
    // SAFETY: kill on our own pid with a valid signal number.
    unsafe {
        libc::kill(libc::getpid(), signal);
    }
}

/// Pushes `entry` onto the submission queue; `Err(())` when the queue is full.
///
/// Contract (what makes this sound, upheld by `core.rs`): every pointer inside `entry` points
/// into memory owned by the core or by one of its connection slots, boxed so it never moves,
/// and that memory is neither freed nor reused until the entry's completion has been reaped
/// (a slot with operations in flight is parked, never freed; the ring is dropped only after
/// every completion has been reaped). File descriptors in `entry` stay open until then too.
#[allow(clippy::result_unit_err)]
pub fn push(ring: &mut IoUring, entry: &squeue::Entry) -> Result<(), ()> {
    // SAFETY: see the contract above: the memory and descriptors `entry` names outlive the
    // operation, which is exactly io_uring's requirement for `push`.
    unsafe { ring.submission().push(entry).map_err(|_| ()) }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (each connection is a descriptor; the
/// common soft default of 1024 would cap a server far below its connection limits). Returns
/// the soft limit now in force.
pub fn raise_nofile_limit() -> io::Result<u64> {
    // SAFETY: zeroed rlimit is valid; getrlimit writes into it.
    let mut lim: libc::rlimit = unsafe { zeroed() };
    // SAFETY: pointer to a live local.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: pointer to a live, initialised local.
        cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) })?;
    }
    Ok(lim.rlim_cur)
}

/// Hands freed heap memory back to the kernel. Compiling a zone allocates about its text size
/// several times over and frees it all; glibc keeps it otherwise (a 1M-record compile left
/// 200 MiB resident).
pub fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim has no preconditions; it only returns free pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The uid of the process at the other end of a Unix socket (SO_PEERCRED).
pub fn peer_uid(fd: RawFd) -> io::Result<u32> {
    // SAFETY: zeroed ucred is valid; getsockopt writes at most `len` bytes into it.
    let mut cred: libc::ucred = unsafe { zeroed() };
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: pointers to live locals with the right length.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    })?;
    Ok(cred.uid)
}

/// Turns Nagle's algorithm off on a TCP socket; fails on anything else (a UDP socket:
/// ENOPROTOOPT, a Unix socket: EOPNOTSUPP, a file: ENOTSOCK). The handoff path uses it as its
/// "is this TCP" check, so the option costs no extra system call.
pub fn set_tcp_nodelay(fd: RawFd) -> io::Result<()> {
    setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
}

/// Whether the kernel offers kernel TLS (the "tls" TCP upper-layer protocol, CONFIG_TLS): set
/// on a fresh unconnected socket, the option fails with ENOENT when the kernel has no such ULP
/// (nor a module to load for it), and with ENOTCONN when it has one (a ULP needs a connected
/// socket). Nothing is attached either way.
pub fn kernel_tls_available() -> bool {
    // SAFETY: socket(2) with constant arguments; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return false;
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let name = b"tls";
    // SAFETY: `name` is live for the call and its length is passed; the kernel only reads it.
    let ret = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_ULP,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    ret == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ENOENT)
}

/// Sets the process's file-creation mask, returning the previous one. The mask is process-wide:
/// called at start-up, around the creation of the handoff socket file only.
pub fn set_umask(mask: u32) -> u32 {
    // SAFETY: umask has no preconditions and cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

/// This process's effective uid.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Takes ownership of the descriptors an io_uring RECVMSG delivered in `msg`'s control data.
/// Called exactly once per completed RECVMSG, before the msghdr is reused.
pub fn take_received_fds(msg: &libc::msghdr) -> Vec<OwnedFd> {
    // SAFETY: the core calls this once per completed RECVMSG on a msghdr the kernel just filled
    // (control pointer and length describe the received control data, the buffer is alive in
    // the front-end slot), and nothing else takes those descriptors.
    unsafe { xfr_handoff::sys::fds_from_control(msg) }
}

/// CLOCK_MONOTONIC in microseconds: the clock systemd's `RELOADING=1` message is stamped with
/// (`MONOTONIC_USEC=`, sd_notify(3)). `Instant` reads the same clock but does not show it.
pub fn monotonic_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live timespec that clock_gettime only writes; CLOCK_MONOTONIC always
    // exists on Linux, so the call cannot fail with a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

#[cfg(test)]
mod tests {
    #[test]
    fn kernel_tls_probe_agrees_with_the_kernels_ulp_list() {
        // The probe loads the tls module where one exists, so afterwards the kernel's list of
        // upper-layer protocols names "tls" exactly when the probe says kTLS is there.
        let available = super::kernel_tls_available();
        let listed = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_ulp")
            .map(|l| l.split_whitespace().any(|u| u == "tls"))
            .unwrap_or(false);
        assert_eq!(available, listed);
    }
}

//! `sendmsg`/`recvmsg` with SCM_RIGHTS on a Unix stream socket: the only `unsafe` of this
//! crate. Blocking calls, for front ends and tests; the engine receives through io_uring and
//! parses control messages with [`fds_from_control`].

use std::io::{self, IoSlice};
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Most descriptors one `recvmsg` accepts; more are truncated by the kernel (MSG_CTRUNC) and
/// closed by it. A conforming front end sends one.
pub const RECV_FDS_MAX: usize = 4;

/// Bytes of control buffer for `n` descriptors (CMSG_SPACE).
pub const fn control_bytes(n: usize) -> usize {
    // CMSG_SPACE(n * 4) on Linux: header (16 bytes on 64-bit) + data rounded up to 8.
    let hdr = size_of::<libc::cmsghdr>();
    let align = size_of::<usize>();
    let data = n * size_of::<RawFd>();
    hdr + data.div_ceil(align) * align
}

/// A control buffer aligned for `cmsghdr`.
#[repr(C, align(8))]
pub struct ControlBuf(pub [u8; control_bytes(RECV_FDS_MAX)]);

impl Default for ControlBuf {
    fn default() -> Self {
        ControlBuf([0; control_bytes(RECV_FDS_MAX)])
    }
}

/// Sends `iov` in one `sendmsg` with `fd` in SCM_RIGHTS. Returns the bytes sent (a stream
/// socket may send fewer than asked only when interrupted or non-blocking).
pub fn send_with_fd(
    sock: BorrowedFd<'_>,
    iov: &[IoSlice<'_>],
    fd: BorrowedFd<'_>,
) -> io::Result<usize> {
    send_with_fds(sock, iov, &[fd])
}

/// Sends `iov` in one `sendmsg` with `fds` (1 to [`RECV_FDS_MAX`]) in one SCM_RIGHTS message.
/// A conforming front end sends exactly one; more exist for testing the engine's rejection.
pub fn send_with_fds(
    sock: BorrowedFd<'_>,
    iov: &[IoSlice<'_>],
    fds: &[BorrowedFd<'_>],
) -> io::Result<usize> {
    if fds.is_empty() || fds.len() > RECV_FDS_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "1 to RECV_FDS_MAX descriptors",
        ));
    }
    let mut control = ControlBuf::default();
    let space = control_bytes(fds.len());
    // SAFETY: msghdr is plain data; zeroed is a valid empty value.
    let mut msg: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
    msg.msg_iov = iov.as_ptr() as *mut libc::iovec; // IoSlice is ABI-compatible with iovec
    msg.msg_iovlen = iov.len();
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = space;
    // SAFETY: msg_control points at `space` bytes of an aligned buffer that lives to the end of
    // this function, so CMSG_FIRSTHDR returns a pointer inside it with room for one header and
    // fds.len() descriptors (control_bytes(n) == CMSG_SPACE(4 n), n <= RECV_FDS_MAX).
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN((fds.len() * size_of::<RawFd>()) as u32) as usize;
        let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
        for (i, fd) in fds.iter().enumerate() {
            std::ptr::write_unaligned(data.add(i), fd.as_raw_fd());
        }
    }
    loop {
        // SAFETY: msg points at valid iovecs and control data for the duration of the call.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Receives into `buf` with up to [`RECV_FDS_MAX`] descriptors (close-on-exec). Returns the
/// bytes read (0 at end of stream) and the descriptors, owned.
pub fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut control = ControlBuf::default();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid empty value.
    let mut msg: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len();
    let n = loop {
        // SAFETY: the iovec and the control buffer outlive the call and their lengths are right.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    // SAFETY: the kernel filled `msg` and the control buffer it points to.
    let fds = unsafe { fds_from_control(&msg) };
    Ok((n, fds))
}

/// Waits until `sock` is readable (data, end of stream or an error), or `timeout` passes
/// (`ErrorKind::TimedOut`); `None` waits without limit.
pub fn wait_readable(sock: BorrowedFd<'_>, timeout: Option<std::time::Duration>) -> io::Result<()> {
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let ms: libc::c_int = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                // Round up so that a sub-millisecond remainder still waits.
                left.as_micros()
                    .div_ceil(1000)
                    .min(libc::c_int::MAX as u128) as libc::c_int
            }
        };
        let mut pfd = libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd on the stack, count 1, for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        match n {
            n if n > 0 => return Ok(()),
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no handoff status within the read timeout",
                ))
            }
            _ => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
}

/// Takes ownership of every descriptor in the SCM_RIGHTS messages of a received `msghdr`.
///
/// # Safety
/// `msg` must be a `msghdr` that `recvmsg` (or io_uring RECVMSG) has just filled: its control
/// pointer and length describe the received control data, the buffer is still alive, and no
/// one else has taken the descriptors in it.
pub unsafe fn fds_from_control(msg: &libc::msghdr) -> Vec<OwnedFd> {
    let mut fds = Vec::new();
    if msg.msg_control.is_null() || msg.msg_controllen == 0 {
        return fds;
    }
    // SAFETY: the caller guarantees msg describes valid received control data.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !cmsg.is_null() {
        // SAFETY: CMSG_FIRSTHDR/NXTHDR return headers inside the control buffer.
        let hdr = unsafe { &*cmsg };
        if hdr.cmsg_level == libc::SOL_SOCKET && hdr.cmsg_type == libc::SCM_RIGHTS {
            // SAFETY: as above; CMSG_LEN(0) is the header's size.
            let data_len = hdr.cmsg_len - unsafe { libc::CMSG_LEN(0) } as usize;
            // SAFETY: as above.
            let data = unsafe { libc::CMSG_DATA(cmsg) };
            for i in 0..data_len / size_of::<RawFd>() {
                // SAFETY: data_len bytes of descriptors follow the header; unaligned read.
                let raw = unsafe { std::ptr::read_unaligned(data.cast::<RawFd>().add(i)) };
                // SAFETY: the kernel installed this descriptor in our table for us alone.
                fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
            }
        }
        // SAFETY: walking the kernel-filled control buffer.
        cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
    }
    fds
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn an_fd_travels_and_is_usable() {
        let (a, b) = UnixStream::pair().unwrap();
        let (p1, p2) = UnixStream::pair().unwrap();
        let n = send_with_fd(
            a.as_fd(),
            &[IoSlice::new(b"hi"), IoSlice::new(b"!")],
            p1.as_fd(),
        )
        .unwrap();
        assert_eq!(n, 3);
        drop(p1);
        let mut buf = [0u8; 16];
        let (n, fds) = recv_with_fds(b.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hi!");
        assert_eq!(fds.len(), 1);
        // The received copy is the other end of p2's pair.
        let got = UnixStream::from(fds.into_iter().next().unwrap());
        use std::io::{Read, Write};
        (&got).write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        (&p2).read_exact(&mut one).unwrap();
        assert_eq!(&one, b"x");
    }
}

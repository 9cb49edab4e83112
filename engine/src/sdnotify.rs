//! systemd's service notification protocol (sd_notify(3)): tells the service manager that xfrd
//! serves (`READY=1`), reloads (`RELOADING=1`, then `READY=1` again) or stops (`STOPPING=1`),
//! so that a `Type=notify` unit (`dist/systemd/xfrd.service`) counts as started only once every
//! zone is loaded and every core has its ring, and units ordered after it start then.
//!
//! What it owns: the wire side, one datagram per change to the AF_UNIX socket that
//! `$NOTIFY_SOCKET` names: a path (`/run/systemd/notify`) or, with a leading `@`, an address in
//! the abstract namespace. What it does not own: when to say what (`server.rs` decides).
//!
//! Without `$NOTIFY_SOCKET` (not started by systemd, or by a unit of another `Type=`) every call
//! does nothing. A message that cannot be sent is logged and never stops serving: systemd then
//! times the start out, and that is its diagnostic. The variable is read, not unset, at each
//! call (unsetting it would race with other threads reading the environment), so child
//! processes would inherit it; xfrd starts none.
//!
//! No crate: the protocol is one `sendto(2)` of `KEY=VALUE` lines, and std has abstract
//! addresses (`SocketAddrExt::from_abstract_name`).

use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The environment variable systemd sets for a `Type=notify` service.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Zones loaded, sockets bound, every core's ring built: xfrd answers.
pub fn ready() {
    send_logged("READY=1");
}

/// A SIGHUP reload has begun; [`ready`] follows when it has ended, whatever its outcome.
/// Stamped with CLOCK_MONOTONIC, which `Type=notify-reload` (systemd 253 and later) requires.
pub fn reloading() {
    send_logged(&format!(
        "RELOADING=1\nMONOTONIC_USEC={}",
        crate::sys::monotonic_us()
    ));
}

/// SIGTERM or SIGINT: no new connections, transfers in flight may finish.
pub fn stopping() {
    send_logged("STOPPING=1");
}

fn send_logged(state: &str) {
    match notify(state) {
        Ok(_) => {}
        Err(e) => tracing::warn!(state, "sd_notify to ${NOTIFY_SOCKET}: {e}"),
    }
}

/// Sends `state` (newline-separated `KEY=VALUE` assignments) to `$NOTIFY_SOCKET`. `Ok(false)`
/// when the variable is not set: nobody listens.
pub fn notify(state: &str) -> io::Result<bool> {
    match std::env::var_os(NOTIFY_SOCKET) {
        None => Ok(false),
        Some(target) if target.is_empty() => Ok(false),
        Some(target) => send(&target, state).map(|()| true),
    }
}

/// Sends `state` to the notification socket `target` (a `$NOTIFY_SOCKET` value).
pub fn send(target: &OsStr, state: &str) -> io::Result<()> {
    let addr = address(target)?;
    let sock = UnixDatagram::unbound()?;
    let sent = sock.send_to_addr(state.as_bytes(), &addr)?;
    if sent != state.len() {
        // A datagram is sent whole or not at all; a short count would be a kernel surprise.
        return Err(io::Error::other(format!(
            "sent {sent} of {} bytes",
            state.len()
        )));
    }
    Ok(())
}

/// The socket address a `$NOTIFY_SOCKET` value names: `@name` in the abstract namespace,
/// otherwise an absolute path. systemd's `vsock:` addresses (for virtual machines) are refused
/// with an error that says so.
fn address(target: &OsStr) -> io::Result<SocketAddr> {
    let bytes = target.as_bytes();
    match bytes.first() {
        Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..]),
        Some(b'/') => SocketAddr::from_pathname(target),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{target:?}: neither an absolute path nor an abstract address (@name); \
                 vsock addresses are not supported"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn receive(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).expect("a notification arrives");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn a_path_socket_receives_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        send(path.as_os_str(), "READY=1").unwrap();
        assert_eq!(receive(&listener), "READY=1");
    }

    #[test]
    fn an_abstract_socket_receives_the_state() {
        let name = format!("xfrd-sdnotify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        send(OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
        assert_eq!(receive(&listener), "STOPPING=1");
    }

    #[test]
    fn other_addresses_are_refused_with_a_reason() {
        for bad in ["relative/path", "vsock:2:1234"] {
            let e = send(OsStr::new(bad), "READY=1").unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}");
            assert!(e.to_string().contains("abstract"), "{e}");
        }
    }

    #[test]
    fn nobody_listening_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let e = send(dir.path().join("absent").as_os_str(), "READY=1").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}

//! The handoff assembler, fed any byte stream cut anywhere with descriptors attached anywhere,
//! never panics, buffers at most one frame, and hands on or closes every descriptor it got.
#![no_main]
use std::os::fd::OwnedFd;

use libfuzzer_sys::fuzz_target;
use xfr_handoff::{Assembler, Event};

fn fd() -> OwnedFd {
    std::fs::File::open("/dev/null").expect("/dev/null").into()
}

fuzz_target!(|data: &[u8]| {
    let mut a = Assembler::new();
    let mut events = Vec::new();
    let (mut fds_in, mut fds_out) = (0usize, 0usize);
    let mut rest = data;
    // Each chunk: a control byte (low 6 bits: length; top 2 bits: descriptors attached), then data.
    while let Some((&ctl, tail)) = rest.split_first() {
        let len = usize::from(ctl & 0x3f).min(tail.len());
        let nfds = usize::from(ctl >> 6);
        let fds: Vec<OwnedFd> = (0..nfds).map(|_| fd()).collect();
        fds_in += nfds;
        a.feed(&tail[..len], fds, &mut events);
        rest = &tail[len..];
        if len == 0 && nfds == 0 {
            break;
        }
    }
    a.finish(&mut events);
    for e in events.drain(..) {
        fds_out += match e {
            Event::Handoff { query, .. } => {
                assert!(query.len() >= xfr_handoff::frame::QUERY_BYTES_MIN);
                1
            }
            Event::Reject { fds, .. } | Event::Fatal { fds, .. } => fds.len(),
        };
    }
    // Descriptors beyond the per-frame bound are closed on arrival; none are kept.
    assert!(fds_out <= fds_in);
});

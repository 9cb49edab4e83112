//! The transfer-in client (proto's `xfrin`) on whatever a primary might send: the bytes are cut
//! into messages by 2-byte length prefixes, as on TCP, and fed in order. It never panics, its
//! sink sees a well-formed sequence of calls (a full zone or diffs, never both, additions only
//! after a diff began), and a transfer it calls complete has the counts it reports.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xfr_proto::tsig::Key;
use xfr_proto::xfrin::{Kind, Progress, Rr, Sink, SinkError, XfrIn};

/// Checks the order of the calls and counts the records.
#[derive(Default)]
struct Checker {
    full: bool,
    in_diff: bool,
    adding: bool,
    diffs: u32,
    records: u64,
}

impl Sink for Checker {
    fn begin_full(&mut self, _: &Rr<'_>) -> Result<(), SinkError> {
        assert!(!self.full && self.diffs == 0 && !self.in_diff);
        self.full = true;
        Ok(())
    }
    fn record(&mut self, rr: &Rr<'_>) -> Result<(), SinkError> {
        assert!(self.full && !rr.owner.is_empty());
        self.records += 1;
        Ok(())
    }
    fn end_full(&mut self) -> Result<(), SinkError> {
        assert!(self.full);
        Ok(())
    }
    fn begin_diff(&mut self, _: &Rr<'_>) -> Result<(), SinkError> {
        assert!(!self.full && !self.in_diff);
        self.in_diff = true;
        Ok(())
    }
    fn delete(&mut self, _: &Rr<'_>) -> Result<(), SinkError> {
        assert!(self.in_diff && !self.adding);
        Ok(())
    }
    fn begin_additions(&mut self, _: &Rr<'_>) -> Result<(), SinkError> {
        assert!(self.in_diff && !self.adding);
        self.adding = true;
        Ok(())
    }
    fn add(&mut self, _: &Rr<'_>) -> Result<(), SinkError> {
        assert!(self.adding);
        Ok(())
    }
    fn end_diff(&mut self, _: u32, _: u32) -> Result<(), SinkError> {
        assert!(self.adding);
        (self.in_diff, self.adding) = (false, false);
        self.diffs += 1;
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let kind = match mode & 1 {
        0 => Kind::Axfr,
        _ => Kind::Ixfr { serial: 7 },
    };
    let key = Key::from_text("k.", "hmac-sha256", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0").unwrap();
    let key = (mode & 2 != 0).then_some(&key);
    let mut query = Vec::new();
    let mut x = XfrIn::new(b"\x07example\x00", kind, 0x1234, key, 1000, &mut query);
    let mut sink = Checker::default();
    while rest.len() >= 2 {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        let Some(msg) = rest.get(2..2 + len) else {
            break;
        };
        rest = &rest[2 + len..];
        match x.feed(msg, 1000, &mut sink) {
            Ok(Progress::More) => {}
            Ok(Progress::Done(o)) => {
                assert_eq!(o.diffs, sink.diffs);
                assert!(!sink.in_diff);
                if sink.full {
                    assert!(o.records >= sink.records);
                }
                if key.is_some() {
                    assert_eq!(o.messages_signed, o.messages as u64);
                }
                break;
            }
            Err(_) => {
                // Poisoned: every later call fails.
                assert!(x.feed(msg, 1000, &mut sink).is_err());
                assert!(x.finish().is_err());
                return;
            }
        }
    }
    let _ = x.finish();
});

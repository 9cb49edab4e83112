//! TCP framing over a receive buffer never panics and never yields a frame outside the bytes
//! received, whatever the stream and however it is cut.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xfr_proto::framing::{consume, frame};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(cut).max(1);
    let mut buf = vec![0u8; 4096];
    let mut filled = 0;
    for piece in stream.chunks(chunk) {
        let take = piece.len().min(buf.len() - filled);
        buf[filled..filled + take].copy_from_slice(&piece[..take]);
        filled += take;
        loop {
            match frame(&buf[..filled], buf.len()) {
                Ok(Some(range)) => {
                    assert!(range.end <= filled && range.start == 2);
                    consume(&mut buf, &mut filled, range.end);
                }
                Ok(None) => break,
                Err(_) => return, // the engine closes such a connection
            }
        }
    }
});

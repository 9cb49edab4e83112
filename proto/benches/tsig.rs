//! The HMAC's own single-core speed on the message sizes xfrd sends, against which a signed
//! transfer's throughput is judged (issue 13: at least 0.7x of it). Every MAC of a transfer
//! chains on the previous one (RFC 8945 section 5.3.1), so one transfer can sign no faster
//! than one core runs the HMAC, one message after another.
//!
//! - `chained/hmac-sha256-crate`: RustCrypto's `Hmac<Sha256>` alone, keyed once and cloned per
//!   message, digesting the prior MAC, the message and the timers: the crate's speed, what
//!   the goal is measured against.
//! - `chained/response-signer-*`: `tsig::ResponseSigner::sign` exactly as the transfer cursor
//!   calls it (header, question and body as three pieces, the TSIG record written out), per
//!   algorithm: the crate's speed plus proto's bookkeeping.
//! - `sha256-alone`: one SHA-256 over the message, no HMAC, the floor under both.
//!
//! Sizes: 16,383 bytes is zone-store's `render::MESSAGE_BYTES_TARGET_DEFAULT`, the size of
//! nearly every message of a large xfrd transfer (BENCHMARKS.md: median 16,359, max 16,383);
//! 1 KiB and 4 KiB for small zones' last messages; 65,535 for the largest a message can be.
//!
//! `cargo bench -p xfr-proto --bench tsig`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use xfr_proto::message;
use xfr_proto::tsig::{self, Algorithm, Key, ResponseSigner};
use xfr_proto::wire::TYPE_AXFR;

/// zone-store's `render::MESSAGE_BYTES_TARGET_DEFAULT` (not a dependency of proto).
const XFRD_MESSAGE_BYTES: usize = 16_383;
const SIZES: [usize; 4] = [1024, 4096, XFRD_MESSAGE_BYTES, 65_535];
const SECRET: &[u8] = b"a 32-byte secret for the bench!!";
const NOW_S: u64 = 1_800_000_000;

/// A message of `bytes` bytes with a plausible header and question, split as the cursor
/// hands it to the signer: header, question, body.
fn message_parts(bytes: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let q = message::build_query(
        0x1234,
        &message::text_to_wire("large.bench.").unwrap(),
        TYPE_AXFR,
        None,
    );
    let (header, question) = (q[..12].to_vec(), q[12..].to_vec());
    let body_len = bytes - header.len() - question.len();
    // Bytes that vary, so nothing about the input is special.
    let body = (0..body_len).map(|i| (i * 31 + i / 7) as u8).collect();
    (header, question, body)
}

/// A response signer for a verified, signed AXFR query: what the engine holds per transfer.
fn signer(key: &Key) -> ResponseSigner {
    let mut q = message::build_query(
        0x1234,
        &message::text_to_wire("large.bench.").unwrap(),
        TYPE_AXFR,
        None,
    );
    tsig::sign_request(key, &mut q, NOW_S);
    let rr = tsig::find_record(&q).unwrap().unwrap();
    let request = tsig::verify_request(&q, &rr, |_| Some(key), NOW_S).unwrap();
    ResponseSigner::new(&request)
}

fn chained(c: &mut Criterion) {
    let mut g = c.benchmark_group("chained");
    for bytes in SIZES {
        let (header, question, body) = message_parts(bytes);
        g.throughput(Throughput::Bytes(bytes as u64));
        let keyed = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
        let mut prior = [0u8; 32];
        g.bench_with_input(
            BenchmarkId::new("hmac-sha256-crate", bytes),
            &bytes,
            |b, _| {
                b.iter(|| {
                    let mut m = keyed.clone();
                    m.update(&32u16.to_be_bytes());
                    m.update(&prior);
                    m.update(black_box(&header));
                    m.update(black_box(&question));
                    m.update(black_box(&body));
                    m.update(&[0, 0, 0x6b, 0x49, 0xd2, 0x00, 0x01, 0x2c]);
                    prior.copy_from_slice(&m.finalize().into_bytes());
                })
            },
        );
        for algorithm in Algorithm::ALL {
            // Every algorithm at xfrd's size; SHA-256, the issue's, at every size.
            if algorithm != Algorithm::HmacSha256 && bytes != XFRD_MESSAGE_BYTES {
                continue;
            }
            let key = Key::new(
                &message::text_to_wire("bench-key.").unwrap(),
                algorithm,
                SECRET,
            )
            .unwrap();
            let mut s = signer(&key);
            let mut out = [0u8; tsig::RR_BYTES_MAX];
            g.bench_with_input(
                BenchmarkId::new(format!("response-signer-{}", algorithm.text_name()), bytes),
                &bytes,
                |b, _| {
                    b.iter(|| {
                        let n = s.sign(
                            &[black_box(&header), black_box(&question), black_box(&body)],
                            NOW_S,
                            &mut out,
                        );
                        black_box(&out[..n]);
                    })
                },
            );
        }
    }
    g.finish();
    let mut g = c.benchmark_group("sha256-alone");
    let (_, _, body) = message_parts(XFRD_MESSAGE_BYTES);
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function(BenchmarkId::from_parameter(XFRD_MESSAGE_BYTES), |b| {
        b.iter(|| black_box(Sha256::digest(black_box(&body))))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    // Short runs: each case is a few µs, and the machine is shared with others' builds.
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = chained
}
criterion_main!(benches);

//! The cipher's own speed on one core, the bound XoT's send path is measured against
//! (BENCHMARKS.md, "Zone transfers over TLS"): ring's AEADs, the ones rustls uses here, sealing
//! full 16 KiB TLS records in place in a loop, a fresh nonce per record as TLS 1.3 does.
//!
//! `taskset -c 1 cargo run --release -p xfr-bench --example cipher_speed`

use std::time::Instant;

use ring::aead::{
    Aad, Algorithm, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305,
};

/// Bytes of plaintext in a full TLS record.
const RECORD: usize = 16384;
/// Records sealed per cipher: about 650 MB, a fraction of a second at AES-GCM speed.
const RECORDS: u64 = 40_000;

fn main() {
    let ciphers: [(&str, &'static Algorithm); 3] = [
        ("AES-128-GCM", &AES_128_GCM),
        ("AES-256-GCM", &AES_256_GCM),
        ("ChaCha20-Poly1305", &CHACHA20_POLY1305),
    ];
    for (name, alg) in ciphers {
        let key = LessSafeKey::new(UnboundKey::new(alg, &vec![7u8; alg.key_len()]).expect("key"));
        let mut record = vec![0u8; RECORD];
        let started = Instant::now();
        for i in 0..RECORDS {
            let mut nonce = [0u8; 12];
            nonce[4..].copy_from_slice(&i.to_be_bytes());
            // The TLS 1.3 record header is the additional data.
            let aad = Aad::from([23u8, 3, 3, 0x40, 0x11]);
            let tag = key
                .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), aad, &mut record)
                .expect("seal");
            let _ = std::hint::black_box(tag);
        }
        let s = started.elapsed().as_secs_f64();
        println!(
            "{name}: {:.2} GB/s ({RECORDS} records of {RECORD} bytes in {s:.3} s, one core)",
            (RECORDS as usize * RECORD) as f64 / s / 1e9
        );
    }
}

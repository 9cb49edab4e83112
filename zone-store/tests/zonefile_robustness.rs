//! Mutated zone text never panics the parser: it parses or fails with an error that names a
//! line inside the file. Deterministic (a fixed xorshift stream), bounded in count.

use std::path::{Path, PathBuf};

use zone_store::zonefile::{parse_bytes, ParseOptions};
use zone_store::Name;

/// Mutations per corpus file.
const MUTATIONS_PER_FILE: usize = 1500;

/// Bytes that matter to the lexer and RDATA parsers, to insert.
const INTERESTING: &[u8] = b" \t\n\r;()\"\\.@$#0123456789:-=,*ABCabc\x00\xff";

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn mutated_zones_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/zones/tricky");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zone"))
        .collect();
    files.sort();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut failed) = (0, 0);
    for file in &files {
        let stem = file.file_stem().unwrap().to_str().unwrap();
        let opts = ParseOptions::new(Name::parse(&format!("{stem}."), None).unwrap());
        let original = std::fs::read(file).unwrap();
        for _ in 0..MUTATIONS_PER_FILE {
            let mut text = original.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(text.len());
                match rng.below(3) {
                    0 => {
                        text.remove(at);
                    }
                    1 => text.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
                    _ => text[at] = INTERESTING[rng.below(INTERESTING.len())],
                }
            }
            let lines = text.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
            match parse_bytes(&text, file, &opts) {
                Ok(_) => ok += 1,
                Err(e) => {
                    failed += 1;
                    if e.file == *file {
                        assert!(e.line <= lines, "{e} is past the end ({lines} lines)");
                    }
                }
            }
        }
    }
    eprintln!("mutations: {ok} parsed, {failed} rejected");
    assert!(ok > 0 && failed > 0);
}

//! Every file in `tests/zones/malformed/` must fail to parse, with the file and line its header
//! names:
//! - `; expect-line: N` (0 for a zone-level problem such as a missing SOA),
//! - `; expect-error: text` (optional), a substring of the message,
//! - `; expect-file: path` (optional), relative to the folder, when the error is in an include.
//!
//! When named-checkzone is installed, BIND must reject each file too (so the corpus holds only
//! genuinely broken zones), unless the header says `; named-accepts: why`: those are the known
//! places where we are stricter than BIND, and BIND must then accept them (so the note stays
//! true). All zones are for the origin `example.`.

use std::path::{Path, PathBuf};
use std::process::Command;

use zone_store::zonefile::{parse_file, ParseOptions};
use zone_store::Name;

mod common;
use common::named_checkzone;

const POLICY_OFF: &[&str] = &[
    "-i", "none", "-k", "ignore", "-n", "ignore", "-m", "ignore", "-M", "ignore", "-S", "ignore",
    "-T", "ignore", "-W", "ignore", "-r", "ignore",
];

fn header<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .take_while(|l| l.starts_with(';'))
        .find_map(|l| l.strip_prefix(&format!("; {key}: ")))
        .map(str::trim)
}

#[test]
fn malformed_zones_fail_at_the_expected_line() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/zones/malformed")
        .canonicalize()
        .expect("tests/zones/malformed exists");
    let named = named_checkzone();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zone"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "only {} malformed zones", files.len());
    let origin = Name::parse("example.", None).unwrap();
    let mut problems = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).unwrap();
        let line: u32 = header(&text, "expect-line")
            .unwrap_or_else(|| panic!("{name}: no '; expect-line: N' header"))
            .parse()
            .unwrap();
        let want_file = header(&text, "expect-file").map_or(file.clone(), |f| dir.join(f));
        for threads in [1, 4] {
            let opts = ParseOptions {
                threads,
                ..ParseOptions::new(origin.clone())
            };
            match parse_file(file, &opts) {
                Ok(z) => problems.push(format!(
                    "{name}: parsed ({} records) but must fail",
                    z.records.len()
                )),
                Err(e) => {
                    if e.line != line || e.file != want_file {
                        problems.push(format!(
                            "{name}: error at {}:{}, expected {}:{line}: {e}",
                            e.file.display(),
                            e.line,
                            want_file.display()
                        ));
                    }
                    if let Some(want) = header(&text, "expect-error") {
                        if !e.message.contains(want) {
                            problems.push(format!("{name}: message lacks {want:?}: {e}"));
                        }
                    }
                    // The Display form names the file and line.
                    let shown = e.to_string();
                    assert!(
                        shown.starts_with(&format!("{}:{}: ", want_file.display(), line))
                            || e.line != line
                    );
                }
            }
        }
        if let Some(bin) = &named {
            let out = Command::new(bin)
                .args(POLICY_OFF)
                .args(["example.", &name])
                .current_dir(&dir)
                .output()
                .unwrap();
            let accepts = header(&text, "named-accepts").is_some();
            if out.status.success() != accepts {
                problems.push(format!(
                    "{name}: named-checkzone {} it (header says named-accepts: {accepts}): {}",
                    if out.status.success() {
                        "accepts"
                    } else {
                        "rejects"
                    },
                    String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .next()
                        .unwrap_or("")
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

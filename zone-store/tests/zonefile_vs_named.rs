//! BIND is the truth: every zone in `tests/zones/tricky/` is loaded by `named-checkzone` twice,
//! once from the original text and once from our parse of it written back as RFC 3597 generic
//! records (`owner ttl IN TYPEnnn \# len hex`, so BIND re-reads our wire bytes and nothing of
//! our presentation code); the two dumps must be the same set of records. The out-of-zone
//! records we skip must be the ones BIND reports as ignored.
//!
//! named-checkzone runs with the zone's directory as working directory: BIND resolves a
//! relative `$INCLUDE` against it, we against the including file's directory, which is the
//! same directory for the corpus' one-level includes.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use zone_store::zonefile::{parse_file, ParseOptions};
use zone_store::Name;

mod common;
use common::named_checkzone;

/// Turns off BIND's policy checks (MX/NS/SRV targets, names, SPF...) to compare content only.
const POLICY_OFF: &[&str] = &[
    "-i", "none", "-k", "ignore", "-n", "ignore", "-m", "ignore", "-M", "ignore", "-S", "ignore",
    "-T", "ignore", "-W", "ignore", "-r", "ignore",
];

fn tricky_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/zones/tricky")
}

/// BIND's dump of a zone: normalized record lines, and the `file:line` of ignored records.
struct Dump {
    records: BTreeSet<String>,
    ignored: BTreeSet<String>,
}

fn named_dump(bin: &Path, dir: &Path, origin: &str, file: &Path) -> Result<Dump, String> {
    let out = Command::new(bin)
        .args(POLICY_OFF)
        .args(["-D", "-o", "-", origin])
        .arg(file)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run named-checkzone: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "named-checkzone rejected {}:\n{stdout}{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut records = BTreeSet::new();
    let mut ignored = BTreeSet::new();
    for line in stdout
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 4 && f[2] == "IN" && f[0].ends_with('.') {
            records.insert(format!(
                "{} {}",
                f[0].to_ascii_lowercase(),
                f[1..].join(" ")
            ));
        } else if let Some((place, _)) = line.split_once(": ignoring out-of-zone data") {
            ignored.insert(place.to_string());
        }
    }
    Ok(Dump { records, ignored })
}

#[test]
fn tricky_zones_match_named() {
    let Some(bin) = named_checkzone() else { return };
    let dir = tricky_dir()
        .canonicalize()
        .expect("tests/zones/tricky exists");
    let mut zones: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zone"))
        .collect();
    zones.sort();
    assert!(zones.len() >= 10, "corpus too small: {zones:?}");
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = String::new();
    for zone in &zones {
        let stem = zone.file_stem().unwrap().to_str().unwrap();
        let origin_text = format!("{stem}.");
        let origin = Name::parse(&origin_text, None).unwrap();
        let parsed = match parse_file(zone, &ParseOptions::new(origin.clone())) {
            Ok(p) => p,
            Err(e) => {
                writeln!(failures, "{stem}: we reject what named loads: {e}").unwrap();
                continue;
            }
        };
        let mut generic = String::new();
        for r in &parsed.records {
            let hex = data_encoding::HEXUPPER.encode(&r.rdata);
            writeln!(
                generic,
                "{} {} IN TYPE{} \\# {} {}",
                r.owner,
                r.ttl,
                r.rtype,
                r.rdata.len(),
                hex
            )
            .unwrap();
        }
        let generic_path = tmp.path().join(format!("{stem}.generic"));
        std::fs::write(&generic_path, generic).unwrap();
        // Relative to its directory, so BIND names files as we do (`include/x.inc:3`).
        let theirs = match named_dump(&bin, &dir, stem, Path::new(zone.file_name().unwrap())) {
            Ok(d) => d,
            Err(e) => {
                writeln!(failures, "{stem}: {e}").unwrap();
                continue;
            }
        };
        let ours = match named_dump(&bin, tmp.path(), stem, &generic_path) {
            Ok(d) => d,
            Err(e) => {
                writeln!(failures, "{stem}: named rejects our records: {e}").unwrap();
                continue;
            }
        };
        assert!(
            theirs.records.len() > 3,
            "{stem}: named dumped {:?}",
            theirs.records
        );
        if theirs.records != ours.records {
            writeln!(failures, "{stem}: records differ").unwrap();
            for l in theirs.records.difference(&ours.records) {
                writeln!(failures, "  only named: {l}").unwrap();
            }
            for l in ours.records.difference(&theirs.records) {
                writeln!(failures, "  only ours:  {l}").unwrap();
            }
        }
        let our_ignored: BTreeSet<String> = parsed
            .warnings
            .iter()
            .filter(|w| w.message.contains("out-of-zone"))
            .map(|w| {
                let rel = w.file.strip_prefix(&dir).unwrap_or(&w.file);
                format!("{}:{}", rel.display(), w.line)
            })
            .collect();
        if our_ignored != theirs.ignored {
            writeln!(
                failures,
                "{stem}: out-of-zone warnings differ: named {:?}, ours {our_ignored:?}",
                theirs.ignored
            )
            .unwrap();
        }
        // The same zone with several threads gives the same records.
        let mut opts = ParseOptions::new(origin);
        opts.threads = 4;
        assert!(parse_file(zone, &opts).unwrap().records == parsed.records);
    }
    assert!(failures.is_empty(), "disagreements with BIND:\n{failures}");
}

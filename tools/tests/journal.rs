//! `xfr-zone inspect` lists a store's journal and `xfr-zone diff` prints a version's diff as
//! master-file lines; a serial outside the history and a refused journal are clear errors.

use std::path::Path;
use std::process::{Command, Output};

use zone_store::compile::CompileOptions;
use zone_store::journal::{Journal, JournalLimits, SerialPolicy};
use zone_store::store::Store;
use zone_store::update::{compile_update, journal_path};
use zone_store::Name;

const XFR_ZONE: &str = env!("CARGO_BIN_EXE_xfr-zone");

fn run(args: &[&str]) -> Output {
    Command::new(XFR_ZONE).args(args).output().unwrap()
}

fn version(dir: &Path, serial: u32, hosts: std::ops::Range<u32>) {
    let file = dir.join("z.db");
    let mut t = format!(
        "$ORIGIN d.example.\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\n"
    );
    for i in hosts {
        t.push_str(&format!("h{i} A 10.0.0.{i}\n"));
    }
    // Records every version shares: the default journal bound (the AXFR's size) keeps both
    // diffs.
    for i in 0..200 {
        t.push_str(&format!("s{i} A 10.1.0.{}\n", i % 250));
    }
    std::fs::write(&file, t).unwrap();
    let store_path = dir.join("d.example.store");
    let jpath = journal_path(&store_path);
    let old = Store::open(&store_path).ok();
    let j = old.as_ref().and_then(|s| Journal::open(&jpath, s).ok());
    compile_update(
        &file,
        &Name::parse("d.example.", None).unwrap(),
        &store_path,
        &jpath,
        old.as_ref().map(|s| (s, j.as_ref())),
        &CompileOptions::default(),
        &JournalLimits::default(),
        SerialPolicy::Keep,
    )
    .unwrap();
}

#[test]
fn inspect_and_diff_show_the_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("d.example.store");
    let s = store.to_str().unwrap();
    version(tmp.path(), 1, 0..10);
    let out = run(&["inspect", s]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("journal: none"));
    version(tmp.path(), 2, 2..12);
    version(tmp.path(), 3, 3..12);
    let out = run(&["inspect", s]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("2 versions to serial 3"), "{text}");
    assert!(text.contains("from serial 1: 3 deleted, 2 added"), "{text}");
    assert!(text.contains("from serial 2: 1 deleted, 0 added"), "{text}");

    let out = run(&["diff", s, "--from", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "; d.example.: from serial 1 to 3: 3 deleted, 2 added"
    );
    assert!(
        lines[1].starts_with("-d.example.")
            && lines[1].contains("SOA")
            && lines[1].contains(" 1 3600")
    );
    for h in ["h0", "h1", "h2"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("-{h}.d.example.\t300\tIN\tA\t"))),
            "{text}"
        );
    }
    assert!(lines
        .iter()
        .any(|l| l.starts_with("+d.example.") && l.contains(" 3 3600")));
    for h in ["h10", "h11"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("+{h}.d.example."))),
            "{text}"
        );
    }
    assert_eq!(lines.len(), 1 + 1 + 3 + 1 + 2);

    let out = run(&["diff", s, "--from", "7"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("serial 7 is not in the history (it holds 1, 2)"));

    // A journal that no longer matches its store is reported, not read.
    let jpath = journal_path(&store);
    let mut bytes = std::fs::read(&jpath).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    std::fs::write(&jpath, bytes).unwrap();
    let text = String::from_utf8_lossy(&run(&["inspect", s]).stdout).to_string();
    assert!(
        text.contains("journal: refused") && text.contains("checksum"),
        "{text}"
    );
    assert!(!run(&["diff", s, "--from", "1"]).status.success());
}

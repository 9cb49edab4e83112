//! compile(): zone text with an $INCLUDE to a store that reads back as the parsed records, with
//! the source files tracked and the warnings reported.

use zone_store::compile::{compile, CompileError, CompileOptions};
use zone_store::render::decode::decode_body;
use zone_store::store::Store;
use zone_store::zonefile::{parse_file, ParseOptions};
use zone_store::{rtype, Name};

const MAIN: &str = "$ORIGIN example.com.
$TTL 1h
@       IN SOA ns1 hostmaster ( 2026112301 7200 900 1209600 300 )
        IN NS  ns1
        IN NS  ns2.example.net.
ns1     IN A   192.0.2.1
www     300 IN A 192.0.2.10
www     600 IN A 192.0.2.11
$INCLUDE hosts.inc hosts
txt     IN TXT ( \"v=DKIM1; k=rsa; \" \"p=MIGf\" )
";
const HOSTS: &str = "a IN A 192.0.2.20
b IN CNAME a
a IN A 192.0.2.20
";

#[test]
fn compile_reads_back_and_tracks_sources() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("example.com.zone");
    std::fs::write(&main, MAIN).unwrap();
    std::fs::write(dir.path().join("hosts.inc"), HOSTS).unwrap();
    let origin = Name::parse("example.com.", None).unwrap();
    let out = dir.path().join("example.com.store");
    let report = compile(
        &main,
        &origin,
        &out,
        &CompileOptions {
            workers: 2,
            message_bytes_target: 0,
        },
    )
    .unwrap();
    assert_eq!(report.serial, 2026112301);
    assert_eq!(report.records, 9, "{report}");
    assert_eq!(report.duplicates_dropped, 1);
    assert_eq!(report.messages, 1);
    assert_eq!(report.sources.len(), 2);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("TTL 600 set to prior TTL (300)")),
        "{report}"
    );
    assert!(report.timings.total >= report.timings.parse);

    let store = Store::open(&out).unwrap();
    assert_eq!(store.record_count(), 9);
    assert_eq!(store.sources().len(), 2);
    assert!(store.matches_sources());
    // The main file is recorded from the bytes the parser read (not read again): the same
    // length and hash as reading it afresh; the include is read again.
    let afresh = zone_store::store::SourceFile::capture(&main, None).unwrap();
    assert_eq!(
        (store.sources()[0].len, store.sources()[0].xxh3),
        (afresh.len, afresh.xxh3)
    );
    // The answers are the parsed records, SOA first and last, TTLs made equal per RRset.
    let parsed = parse_file(&main, &ParseOptions::new(origin.clone())).unwrap();
    let m = store.message(0);
    let got = decode_body(m.body, store.body_base(), m.ancount).unwrap();
    assert_eq!(got.len(), 10);
    assert_eq!(got[0].rtype, rtype::SOA);
    assert_eq!(got[9], got[0]);
    for r in &parsed.records {
        assert!(
            got.iter()
                .any(|g| g.owner == r.owner && g.rtype == r.rtype && g.rdata == r.rdata),
            "{r:?} missing"
        );
    }
    assert!(got
        .iter()
        .filter(|g| g.owner.to_string() == "www.example.com.")
        .all(|g| g.ttl == 300));

    // Editing an included file is noticed.
    std::fs::write(dir.path().join("hosts.inc"), "a IN A 192.0.2.21\n").unwrap();
    assert!(!store.matches_sources());
}

#[test]
fn parse_errors_name_the_file_and_leave_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("bad.zone");
    std::fs::write(
        &main,
        "$ORIGIN example.com.\n@ IN SOA ns1 hm 1 2 3 4 5\nwww IN A 300.1.1.1\n",
    )
    .unwrap();
    let out = dir.path().join("bad.store");
    let origin = Name::parse("example.com.", None).unwrap();
    let e = compile(&main, &origin, &out, &CompileOptions::default()).unwrap_err();
    assert!(matches!(e, CompileError::Parse(_)), "{e}");
    assert!(e.to_string().contains("bad.zone:3"), "{e}");
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "a temporary file was left behind"
    );
}

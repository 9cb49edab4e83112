//! `$INCLUDE` beyond what the named comparison can show: nesting (paths relative to each
//! including file), absolute paths, the `sources` list, and includes inside a file big enough to
//! be parsed in parallel (the `$TTL` set inside an include must reach the chunks after it).

use std::fmt::Write as _;
use std::path::Path;

use zone_store::zonefile::{parse_file, parse_str, ParseOptions};
use zone_store::{rtype, Name};

fn opts(threads: usize) -> ParseOptions {
    ParseOptions {
        threads,
        ..ParseOptions::new(Name::parse("example.com.", None).unwrap())
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn nested_includes_resolve_against_each_including_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        &d.join("zone/main.zone"),
        "$TTL 60\n@ SOA ns hm 1 2 3 4 5\n NS ns\nns A 192.0.2.1\n$INCLUDE sub/a.inc\nz A 192.0.2.9\n",
    );
    write(
        &d.join("zone/sub/a.inc"),
        "a A 192.0.2.2\n$INCLUDE b.inc deeper\nc A 192.0.2.4\n",
    );
    write(&d.join("zone/sub/b.inc"), "b A 192.0.2.3\n");
    let abs = d.join("elsewhere/abs.inc");
    write(&abs, "abs TXT \"absolute\"\n");
    let main_text = std::fs::read_to_string(d.join("zone/main.zone")).unwrap();
    write(
        &d.join("zone/main.zone"),
        &format!("{main_text}$INCLUDE {}\n", abs.display()),
    );

    let z = parse_file(&d.join("zone/main.zone"), &opts(1)).unwrap();
    let owners: Vec<String> = z.records.iter().map(|r| r.owner.to_string()).collect();
    assert_eq!(
        owners,
        [
            "example.com.",
            "example.com.",
            "ns.example.com.",
            "a.example.com.",
            "b.deeper.example.com.",
            "c.example.com.",
            "z.example.com.",
            "abs.example.com.",
        ]
    );
    let sources: Vec<_> = z
        .sources
        .iter()
        .map(|p| p.strip_prefix(d).unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        sources,
        [
            "zone/main.zone",
            "zone/sub/a.inc",
            "zone/sub/b.inc",
            "elsewhere/abs.inc"
        ]
    );
    // An error in a nested include names that file and its line.
    write(&d.join("zone/sub/b.inc"), "b A 192.0.2.3\nbad A 192.0.2\n");
    let e = parse_file(&d.join("zone/main.zone"), &opts(1)).unwrap_err();
    assert_eq!((e.file, e.line), (d.join("zone/sub/b.inc"), 2));
}

#[test]
fn parse_str_resolves_includes_against_the_named_file() {
    let tmp = tempfile::tempdir().unwrap();
    write(&tmp.path().join("inc/x.inc"), "x A 192.0.2.7\n");
    let text = "$TTL 60\n@ SOA ns hm 1 2 3 4 5\n NS ns\n$INCLUDE inc/x.inc\n";
    let z = parse_str(text, &tmp.path().join("virtual.zone"), &opts(1)).unwrap();
    assert_eq!(z.records.last().unwrap().rtype, rtype::A);
    assert_eq!(z.sources.len(), 2);
}

/// Includes in the middle of a large file: the parallel parse must give what the sequential
/// one gives, including the `$TTL` that an included file leaves behind.
#[test]
fn includes_in_a_parallel_parse() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(&d.join("inc/ttl.inc"), "$TTL 777\ninc1 A 192.0.2.1\n");
    write(&d.join("inc/plain.inc"), "inc2 AAAA 2001:db8::2\n");
    let mut text = String::from("$TTL 60\n@ SOA ns hm 1 2 3 4 5\n NS ns\n");
    for i in 0..40_000 {
        if i == 10_000 {
            text.push_str("$INCLUDE inc/ttl.inc\n");
        }
        if i == 30_000 {
            text.push_str("$INCLUDE inc/plain.inc sub\n");
        }
        writeln!(text, "h{i} A 192.0.2.{}", i % 250).unwrap();
    }
    let path = d.join("big.zone");
    write(&path, &text);
    let one = parse_file(&path, &opts(1)).unwrap();
    assert_eq!(one.records.len(), 2 + 40_000 + 2);
    let last = one.records.last().unwrap();
    assert_eq!(
        (last.owner.to_string().as_str(), last.ttl),
        ("h39999.example.com.", 777)
    );
    for threads in [2, 3, 8] {
        let many = parse_file(&path, &opts(threads)).unwrap();
        assert!(many.records == one.records, "threads {threads}");
        assert_eq!(many.sources, one.sources);
    }
}

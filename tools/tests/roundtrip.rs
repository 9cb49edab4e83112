//! End-to-end tests of `xfr-zone` against BIND's `named-checkzone`.
//!
//! For every zone of the tricky corpus (tests/zones/tricky/, origins in its README) and for
//! generated zones: `named-checkzone -D` of the original zone equals, as a set of normalised
//! lines, `named-checkzone -D` of `xfr-zone dump --generic` of the compiled store, and of the
//! default (presentation) dump. Every malformed zone (tests/zones/malformed/, first line
//! `; expect-line: N`) fails to compile with `FILE:N:` on stderr. `inspect` prints the counts.
//!
//! Without named-checkzone these tests fail when CI=true and skip loudly otherwise.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const XFR_ZONE: &str = env!("CARGO_BIN_EXE_xfr-zone");

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    out
}

fn xfr_zone(args: &[&str]) -> Output {
    run(Command::new(XFR_ZONE).args(args))
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `named-checkzone -D` of a zone file as a set of normalised lines (the shared helper of the
/// interop tests: named runs from the zone's folder, policy checks off).
fn checkzone_set(origin: &str, zonefile: &Path) -> BTreeSet<String> {
    xfrd_tests::canonical_zone(origin, zonefile).unwrap_or_else(|e| panic!("{e:#}"))
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("xfr-zone-test")
        .tempdir()
        .expect("temp dir")
}

/// Compiles `zonefile`, dumps the store both ways, and compares all three with
/// named-checkzone. Returns the number of lines of the generic dump.
fn roundtrip(origin: &str, zonefile: &Path, dir: &Path, hickory_strict: bool) -> usize {
    let store = dir.join("zone.store");
    ok(
        run(Command::new(XFR_ZONE)
            .current_dir(zonefile.parent().unwrap())
            .args([
                "compile",
                "--origin",
                origin,
                zonefile.to_str().unwrap(),
                "-o",
                store.to_str().unwrap(),
                "--workers",
                "2",
            ])),
        &format!("compile {}", zonefile.display()),
    );
    let want = checkzone_set(origin, zonefile);
    let mut lines = 0;
    for (flag, name) in [(Some("--generic"), "generic"), (None, "default")] {
        let mut args = vec!["dump", store.to_str().unwrap()];
        args.extend(flag);
        let out = ok(xfr_zone(&args), &format!("dump {name}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.is_empty() {
            // hickory-proto failing on a message is reported, not fatal: the records are
            // still exact. Generated zones hold only types it reads, so there it is an error.
            eprintln!("{} ({name} dump): {stderr}", zonefile.display());
            assert!(
                !hickory_strict,
                "{}: dump warned: {stderr}",
                zonefile.display()
            );
        }
        let dumped = dir.join(format!("dump-{name}.zone"));
        fs::write(&dumped, &out.stdout).unwrap();
        let got = checkzone_set(origin, &dumped);
        if got != want {
            let missing: Vec<_> = want.difference(&got).take(10).collect();
            let extra: Vec<_> = got.difference(&want).take(10).collect();
            panic!(
                "{} ({name} dump, origin {origin}): named-checkzone sees different zones\n\
                 in the original only ({}): {missing:#?}\nin the dump only ({}): {extra:#?}",
                zonefile.display(),
                want.difference(&got).count(),
                got.difference(&want).count(),
            );
        }
        if flag.is_some() {
            lines = String::from_utf8_lossy(&out.stdout).lines().count();
        }
    }
    lines
}

/// Origins of the tricky zones, from the corpus README: a line naming a zone file of the
/// directory and an absolute name (ending with a dot).
fn tricky_zones() -> Vec<(PathBuf, String)> {
    let dir = repo_root().join("tests/zones/tricky");
    let readme = fs::read_to_string(dir.join("README.md"))
        .expect("tests/zones/tricky/README.md lists the origins");
    let mut zones = Vec::new();
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    files.sort();
    for file in files {
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        let origin = readme.lines().find_map(|line| {
            let tokens: Vec<&str> = line
                .split(|c: char| c.is_whitespace() || "|`,:()*".contains(c))
                .filter(|t| !t.is_empty())
                .collect();
            if !tokens.contains(&name.as_str()) {
                return None;
            }
            tokens
                .iter()
                .find(|t| t.ends_with('.') && **t != name && !t.contains('/'))
                .map(|t| t.to_string())
        });
        match origin {
            Some(o) => zones.push((file, o)),
            // Files included by others ($INCLUDE) need no origin of their own.
            None => eprintln!("tricky: no origin for {name} in the README; taken as an include"),
        }
    }
    assert!(!zones.is_empty(), "no zones found in {}", dir.display());
    zones
}

#[test]
fn tricky_corpus_round_trips_through_named_checkzone() {
    let Some(_) = xfrd_tests::require_program("named-checkzone") else {
        return;
    };
    let mut failures = Vec::new();
    for (file, origin) in tricky_zones() {
        let dir = tempdir();
        let r = std::panic::catch_unwind(|| roundtrip(&origin, &file, dir.path(), false));
        if let Err(e) = r {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn generate(origin: &str, records: usize, seed: u64, dir: &Path) -> PathBuf {
    xfrd_tests::generated_zone(origin, records, seed, dir)
}

#[test]
fn generated_zones_round_trip_through_named_checkzone() {
    let Some(_) = xfrd_tests::require_program("named-checkzone") else {
        return;
    };
    for (origin, records, seed) in [
        ("example.com.", 5_000, 1),
        ("example.com.", 5_000, 2),
        ("corp.example.org.", 5_000, 3),
        ("example.net.", 100_000, 4),
        ("Mixed-Case.example.", 100_000, 5),
    ] {
        let dir = tempdir();
        let zonefile = generate(origin, records, seed, dir.path());
        let lines = roundtrip(origin, &zonefile, dir.path(), true);
        assert_eq!(lines, records, "{origin} seed {seed}: dump line count");
    }
}

/// Every type dump prints in presentation form, and the fall-backs to generic form, read back
/// into named-checkzone unchanged; the types on the list really are printed in presentation
/// form (the guards are not so strict that everything falls back).
#[test]
fn presentation_types_round_trip_through_named_checkzone() {
    let Some(_) = xfrd_tests::require_program("named-checkzone") else {
        return;
    };
    let zonefile = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/presentation.zone");
    let dir = tempdir();
    roundtrip("example.com.", &zonefile, dir.path(), false);
    let store = dir.path().join("zone.store");
    let out = ok(xfr_zone(&["dump", store.to_str().unwrap()]), "dump");
    let text = String::from_utf8(out.stdout).unwrap();
    for ty in [
        "A",
        "AAAA",
        "NS",
        "CNAME",
        "PTR",
        "MX",
        "SOA",
        "SRV",
        "CAA",
        "NAPTR",
        "SSHFP",
        "TLSA",
        "SMIMEA",
        "OPENPGPKEY",
    ] {
        assert!(
            text.lines().any(|l| l.split('\t').nth(3) == Some(ty)),
            "no {ty} in presentation form:\n{text}"
        );
    }
    for generic in [
        "caa8.", "caa9.", "naptr3.", "srv2.", "cn.", "idn.", "spc.", "txt.",
    ] {
        let line = text.lines().find(|l| l.starts_with(generic)).unwrap();
        assert!(line.contains("\\# "), "{line}");
    }
}

fn inspect_field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("inspect prints no {key:?}:\n{text}"))
        .to_string()
}

#[test]
fn inspect_prints_the_counts() {
    let dir = tempdir();
    let records = 20_000;
    let zonefile = generate("example.org.", records, 9, dir.path());
    let text = fs::read_to_string(&zonefile).unwrap();
    // The serial, as the generator writes it: the line after "SOA ... (".
    let serial = text
        .lines()
        .skip_while(|l| !l.contains("SOA"))
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let store = dir.path().join("z.store");
    ok(
        xfr_zone(&[
            "compile",
            "--origin",
            "example.org.",
            zonefile.to_str().unwrap(),
            "-o",
            store.to_str().unwrap(),
        ]),
        "compile",
    );
    let out = ok(xfr_zone(&["inspect", store.to_str().unwrap()]), "inspect");
    let info = String::from_utf8(out.stdout).unwrap();
    assert_eq!(inspect_field(&info, "zone"), "example.org.");
    assert_eq!(inspect_field(&info, "serial"), serial);
    assert_eq!(inspect_field(&info, "records"), records.to_string());
    assert!(inspect_field(&info, "records in a transfer").starts_with(&(records + 1).to_string()));
    assert_eq!(inspect_field(&info, "sources"), "1");
    assert_eq!(inspect_field(&info, "sources match"), "yes");

    // Messages: as many as the dump's messages; wire bytes: what the messages add up to.
    let messages: usize = inspect_field(&info, "messages").parse().unwrap();
    assert!(messages >= 1);
    let wire: u64 = inspect_field(&info, "wire bytes")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let sizes = inspect_field(&info, "message bytes");
    let f: Vec<u64> = sizes
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    let (min, max) = (f[0], f[2]);
    assert!(min <= max && max <= 65535, "{sizes}");
    assert!(wire >= messages as u64 * (2 + min) && wire <= messages as u64 * (2 + max));
    // The dump agrees on the record count.
    let dump = ok(
        xfr_zone(&["dump", "--generic", store.to_str().unwrap()]),
        "dump",
    );
    assert_eq!(
        String::from_utf8_lossy(&dump.stdout).lines().count(),
        records
    );

    // A changed source is noticed.
    fs::write(
        &zonefile,
        text.replace("; Zone generated", "; Zone edited   "),
    )
    .unwrap();
    let out = ok(xfr_zone(&["inspect", store.to_str().unwrap()]), "inspect");
    let info = String::from_utf8(out.stdout).unwrap();
    assert_eq!(inspect_field(&info, "sources match"), "no");
}

#[test]
fn malformed_zones_fail_with_file_and_line() {
    let dir = repo_root().join("tests/zones/malformed");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e != "md"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no malformed zones in {}", dir.display());
    let tmp = tempdir();
    let mut failures = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        let Some(line) = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("; expect-line:"))
            .and_then(|n| n.trim().parse::<u32>().ok())
        else {
            // Included files live in include/, which is not listed: every file here is a case.
            failures.push(format!("{}: no `; expect-line: N` header", file.display()));
            continue;
        };
        let header = |key: &str| {
            text.lines()
                .take_while(|l| l.starts_with(';'))
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_string())
        };
        // The corpus README: every file is for the origin `example.`; an error inside an
        // included file names that file (`; expect-file:`, relative to the corpus).
        let origin = "example.";
        let err_file = header("; expect-file:").map_or(file.clone(), |f| dir.join(f));
        let out = xfr_zone(&[
            "compile",
            "--origin",
            origin,
            file.to_str().unwrap(),
            "-o",
            tmp.path().join("m.store").to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want = format!("{}:{line}:", err_file.display());
        let message = header("; expect-error:").unwrap_or_default();
        if out.status.success() || !stderr.contains(&want) || !stderr.contains(&message) {
            failures.push(format!(
                "{}: exit {}, want {want:?} and {message:?} in stderr: {stderr}",
                file.display(),
                out.status
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn usage_errors_are_clear() {
    let out = xfr_zone(&["inspect", "/nonexistent/zone.store"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/zone.store"), "{stderr}");

    let dir = tempdir();
    let out = xfr_zone(&[
        "gen",
        "--origin",
        "example.com.",
        "--records",
        "0",
        "-o",
        dir.path().join("z").to_str().unwrap(),
    ]);
    assert!(!out.status.success());

    let bad = dir.path().join("not-a-store");
    fs::write(&bad, b"this is not a store").unwrap();
    let out = xfr_zone(&["dump", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not-a-store"));
}

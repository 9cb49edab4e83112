//! XoT (RFC 9103) in the harness, against a real xfrd with a `[[tls]]` listener and a CA made
//! for the test (xfrd-tests' `tls::make_pki`): `axfr --tls` transfers the whole zone with
//! both drivers, with `--tls-resume` the connections after the first resume their sessions
//! (the counts are in the report), TSIG and `--verify` work inside TLS, a wrong `--tls-name`
//! fails every transfer with the certificate's reason; `compare --tls` runs xfrd, nsd and
//! named over TLS, signed and verified, with full and resumed handshakes (knotd is skipped
//! with its reason).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use xfrd_tests::tls::{make_pki, Pki, SERVER_NAME};
use xfrd_tests::Proc;

const OPEN: &str = "open.xot.";
const SIGNED: &str = "signed.xot.";
/// A throwaway key (base64 of "xot-bench-test-secret").
const KEY: &str = "xot-key.:hmac-sha256:eG90LWJlbmNoLXRlc3Qtc2VjcmV0";

/// The server, its plain and TLS ports and PKI, and the records of an AXFR of OPEN.
struct Xfrd {
    port: u16,
    tls_port: u16,
    pki: Pki,
    records: u64,
    /// Held until the test ends: the process (killed on drop) and its folder.
    _held: (Proc, tempfile::TempDir),
}

/// xfrd with a plain and a TLS listener: OPEN under the default ACL (loopback, any
/// transport), SIGNED only over TLS with the key.
fn start_xfrd() -> Xfrd {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = make_pki(&d.join("pki")).unwrap();
    let records = write_zone(&d.join("open.zone"), OPEN, 2000, 3);
    write_zone(&d.join("signed.zone"), SIGNED, 300, 4);
    let (port, tls_port) = (free_port(), free_port());
    let conf = d.join("xfrd.toml");
    std::fs::write(&conf, config(d, port, tls_port, &pki)).unwrap();
    let mut cmd = Command::new(xfrd_bin());
    cmd.arg("serve").arg("--config").arg(&conf);
    let proc = spawn_listening("xfrd", cmd, d.join("xfrd.log"), tls_port, || true);
    Xfrd {
        port,
        tls_port,
        pki,
        records,
        _held: (proc, dir),
    }
}

fn config(d: &Path, port: u16, tls_port: u16, pki: &Pki) -> String {
    let (name, secret) = {
        let mut p = KEY.split(':');
        (p.next().unwrap(), p.nth(1).unwrap())
    };
    format!(
        "listen = [\"127.0.0.1:{port}\"]\ncores = 1\nstore_dir = \"{dir}/stores\"\n\
         [[tls]]\nlisten = [\"127.0.0.1:{tls_port}\"]\ncert = \"{cert}\"\nkey = \"{key}\"\n\
         [[key]]\nname = \"{name}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{secret}\"\n\
         [[zone]]\norigin = \"{OPEN}\"\nfile = \"{dir}/open.zone\"\n\
         [[zone]]\norigin = \"{SIGNED}\"\nfile = \"{dir}/signed.zone\"\n\
         allow_transfer = [{{ address = \"127.0.0.0/8\", key = \"{name}\", transport = \"tls\" }}]\n",
        dir = d.display(),
        cert = pki.cert.display(),
        key = pki.key.display(),
    )
}

/// xfr-bench `cmd` (axfr, ixfr) over TLS to `x`'s `port`, checking the certificate against
/// `name`, with `extra` flags; the report must be there.
fn bench_tls(
    x: &Xfrd,
    cmd: &str,
    port: u16,
    name: &str,
    extra: &[&str],
) -> (std::process::Output, serde_json::Value) {
    let target = format!("127.0.0.1:{port}");
    let ca = x.pki.ca.display().to_string();
    let mut args = vec![
        cmd,
        "--target",
        &target,
        "--tls",
        "--tls-ca",
        &ca,
        "--tls-name",
        name,
        "--timeout",
        "10",
    ];
    args.extend_from_slice(extra);
    let (out, j) = run_bench(&args);
    let j = j.unwrap_or_else(|| panic!("no report: {}", String::from_utf8_lossy(&out.stderr)));
    (out, j)
}

/// `axfr` over TLS to `x`'s TLS listener.
fn axfr_tls(x: &Xfrd, name: &str, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    bench_tls(x, "axfr", x.tls_port, name, extra)
}

#[test]
fn axfr_over_tls_resumes_sessions_with_both_drivers() {
    let x = start_xfrd();
    let records = x.records.to_string();
    for driver in ["events", "threads"] {
        let (out, j) = axfr_tls(
            &x,
            SERVER_NAME,
            &[
                "--zone",
                OPEN,
                "--transfers",
                "96",
                "--concurrency",
                "16",
                "--driver",
                driver,
                "--verify",
                "--expect-records",
                &records,
                "--tls-resume",
                "--fail-on-error",
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{driver}: {text}\n{j}");
        assert_eq!(j["transfers"], 96, "{driver}: {j}");
        assert_eq!(j["errors"], 0, "{driver}: {j}");
        assert_eq!(j["verify"]["records"], x.records, "{driver}");
        let t = &j["tls"];
        assert_eq!(t["server_name"], SERVER_NAME);
        assert_eq!(t["resumption"], true);
        let (full, resumed) = (
            t["handshakes_full"].as_u64().unwrap(),
            t["handshakes_resumed"].as_u64().unwrap(),
        );
        assert_eq!(full + resumed, 96, "{driver}: {t}");
        // At most one full handshake per connection: the first of each, before any ticket
        // (more connections than rustls's memory cache keeps tickets for one name, 8).
        assert!((1..=16).contains(&full), "{driver}: {t}");
        assert!(resumed >= 80, "{driver}: {t}");
        assert_eq!(t["kx_group"], "X25519", "{driver}: {t}");
        // The tls object's schema (an interface, as the rest of the report: json_schema.rs).
        for (k, want) in [
            ("server_name", "string"),
            ("resumption", "bool"),
            ("handshakes_full", "uint"),
            ("handshakes_resumed", "uint"),
            ("handshake_ms", "object"),
            ("kx_group", "string"),
        ] {
            assert_eq!(kind(&t[k]), want, "{k}: {t}");
        }
        for p in ["p50", "p90", "p99", "p999", "max"] {
            assert!(t["handshake_ms"][p].is_number(), "{p}: {t}");
        }
        assert!(text.contains("resumed handshakes"), "{text}");
    }
    // With --tls-padding xfrd pads every message (to 468-byte blocks): the records are the
    // same, the bytes more, the check of every message still passes.
    let padded = |pad: bool| {
        let mut extra = vec![
            "--zone",
            OPEN,
            "--transfers",
            "2",
            "--verify",
            "--expect-records",
            &records,
            "--fail-on-error",
        ];
        if pad {
            extra.push("--tls-padding");
        }
        let (out, j) = axfr_tls(&x, SERVER_NAME, &extra);
        assert!(out.status.success(), "padding {pad}: {j}");
        assert_eq!(j["verify"]["records"], x.records, "{j}");
        (
            j["bytes_total"].as_u64().unwrap(),
            j["messages_total"].as_u64().unwrap(),
        )
    };
    let ((plain, m1), (pad, m2)) = (padded(false), padded(true));
    assert_eq!(m1, m2);
    assert!(
        pad > plain && pad < plain + m2 * 2 * 485,
        "{plain} -> {pad}"
    );
    // Without --tls-resume every handshake is a full one.
    let (out, j) = axfr_tls(
        &x,
        SERVER_NAME,
        &["--zone", OPEN, "--transfers", "6", "--fail-on-error"],
    );
    assert!(out.status.success(), "{j}");
    assert_eq!(j["tls"]["handshakes_full"], 6, "{j}");
    assert_eq!(j["tls"]["handshakes_resumed"], 0, "{j}");
    assert_eq!(j["tls"]["resumption"], false, "{j}");
}

#[test]
fn tsig_and_ixfr_inside_tls() {
    let x = start_xfrd();
    // Signed, every MAC verified, the zone allowed over TLS only.
    let (out, j) = axfr_tls(
        &x,
        SERVER_NAME,
        &[
            "--zone",
            SIGNED,
            "--transfers",
            "5",
            "--concurrency",
            "2",
            "--tsig",
            KEY,
            "--verify",
            "--fail-on-error",
        ],
    );
    assert!(out.status.success(), "{j}");
    assert_eq!(j["transfers"], 5, "{j}");
    assert_eq!(j["tsig"]["responses_verified"], true, "{j}");
    assert_eq!(j["tsig"]["messages_signed"], j["messages_total"], "{j}");
    // Without the key: refused inside TLS, after a handshake that worked.
    let (_, j) = axfr_tls(&x, SERVER_NAME, &["--zone", SIGNED, "--transfers", "2"]);
    assert_eq!(j["transfers"], 0, "{j}");
    assert_eq!(j["errors_by_kind"]["rcode_refused"], 2, "{j}");
    assert_eq!(j["tls"]["handshakes_full"], 2, "{j}");
    // IXFR from serial 0: an AXFR-style answer, also by IP address as the name.
    let (out, j) = bench_tls(
        &x,
        "ixfr",
        x.tls_port,
        "127.0.0.1",
        &[
            "--zone",
            OPEN,
            "--serial",
            "0",
            "--transfers",
            "3",
            "--verify",
            "--fail-on-error",
        ],
    );
    assert!(out.status.success(), "{j}");
    assert_eq!(j["mode"], "ixfr");
    assert_eq!(j["verify"]["records"], x.records, "{j}");
}

#[test]
fn wrong_tls_name_fails_with_the_certificate_reason() {
    let x = start_xfrd();
    for driver in ["events", "threads"] {
        let (out, j) = axfr_tls(
            &x,
            "other.test",
            &[
                "--zone",
                OPEN,
                "--transfers",
                "3",
                "--driver",
                driver,
                "--fail-on-error",
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{driver}: {j}");
        assert_eq!(j["transfers"], 0, "{driver}: {j}");
        assert_eq!(j["errors_by_kind"]["tls"], 3, "{driver}: {j}");
        let e = j["first_error"].as_str().unwrap();
        assert!(
            e.starts_with("TLS: invalid peer certificate") && e.contains("other.test"),
            "{driver}: {e}"
        );
        assert_eq!(j["tls"]["handshakes_full"], 0, "{driver}: {j}");
    }
    // A plain DNS listener is not a TLS one: said so, for both drivers.
    for driver in ["events", "threads"] {
        let extra = ["--zone", OPEN, "--transfers", "1", "--driver", driver];
        let (_, j) = bench_tls(&x, "axfr", x.port, SERVER_NAME, &extra);
        let e = j["first_error"].as_str().unwrap();
        assert!(
            e.contains("closed the connection during the handshake"),
            "{driver}: {e}"
        );
    }
    // Flags that go together: --tls needs the CA and the name.
    let (out, _) = run_bench(&["axfr", "--zone", OPEN, "--tls", "--tls-name", "x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-ca"));
}

#[test]
fn compare_over_tls_runs_xfrd_nsd_and_named_and_skips_knotd() {
    for p in ["named", "nsd", "knotd", "taskset"] {
        if require_program(p).is_none() {
            return;
        }
    }
    // Signed too: xfrd's keyed ACL must name transport "any" to cover TLS.
    let r = compare(
        "xfrd,knotd,nsd,named",
        &["--tls", "--verify", "--tsig", KEY],
    );
    assert!(r.out.status.success(), "{}", stderr(&r));
    let err = stderr(&r);
    assert!(
        err.contains("== knotd: skipped over TLS: knotd (no XoT server"),
        "{err}"
    );
    let j = r.json.as_ref().unwrap();
    assert_eq!(j["tls"]["server_name"], "xfr-bench.test", "{j}");
    assert!(j["skipped"][0]
        .as_str()
        .unwrap()
        .starts_with("knotd (no XoT"));
    let servers = j["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 3, "{j}");
    for s in servers {
        let name = s["name"].as_str().unwrap();
        assert_eq!(s["large_records"], r.records, "{name}");
        assert!(s["tls_port"].is_u64(), "{name}");
        let how = s["unsigned_refused"].as_str().unwrap();
        assert!(how.starts_with("rcode_"), "{name}: {how}");
        assert_eq!(
            s["large_signed"]["signed"], s["large_signed"]["messages"],
            "{name}"
        );
        // Every timed transfer over TLS, checked in full (--verify), and the handshakes
        // counted: full ones in `small`, resumed ones in `small_resumed`.
        assert_eq!(s["large_axfr"]["tls"]["handshakes_full"], 1, "{name}");
        for (set, resumed) in [("small", false), ("small_resumed", true)] {
            let runs = s[set].as_array().unwrap();
            assert_eq!(runs.len(), 2, "{name} {set}");
            for t in runs {
                assert_eq!(t["errors"], 0, "{name} {set}: {t}");
                let n = t["transfers"].as_u64().unwrap();
                assert!(n > 0, "{name} {set}");
                let tls = &t["tls"];
                assert_eq!(tls["resumption"], resumed, "{name} {set}");
                let full = tls["handshakes_full"].as_u64().unwrap();
                let res = tls["handshakes_resumed"].as_u64().unwrap();
                assert_eq!(full + res, n, "{name} {set}: {tls}");
                if resumed {
                    assert!(res > 0 && full <= 4, "{name} {set}: {tls}");
                } else {
                    assert_eq!(res, 0, "{name} {set}: {tls}");
                }
            }
        }
        // SOA queries stay on UDP.
        assert!(s["soa_udp"].get("tls").is_none(), "{name}");
        assert_eq!(s["soa_udp"]["errors"], 0, "{name}");
    }
    let md = &r.md;
    assert!(
        md.contains("| workload | metric | xfrd | nsd | named |"),
        "{md}"
    );
    assert!(md.contains("Over TLS (XoT, RFC 9103)"), "{md}");
    assert!(
        md.contains("| XoT 10k-zone, c=4, resumed | transfers/s |"),
        "{md}"
    );
    assert!(md.contains("handshakes full / resumed"), "{md}");
    assert!(md.contains("skipped: knotd (no XoT server"), "{md}");
    assert!(
        md.contains("large zone agree") && md.contains("small zone agree"),
        "{md}"
    );
}

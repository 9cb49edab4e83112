//! The systemd unit and the example config as shipped: `systemd-analyze verify` accepts the unit
//! (with ExecStart pointing at the xfrd just built, as verify checks that it exists, and the
//! man pages of Documentation= findable), its `systemd-analyze security` exposure stays low, its
//! ExecStart line is a valid xfrd command, and the example config serves a zone that dig reads.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use xfrd_tests::{free_port, require_program, wait_until, workspace_bin, workspace_root, Proc};

/// Where the unit says xfrd is installed (README: `install -m 0755 ... /usr/local/bin/xfrd`).
const INSTALLED_XFRD: &str = "/usr/local/bin/xfrd";
/// Where the unit says the config is.
const INSTALLED_CONFIG: &str = "/etc/xfrd/xfrd.toml";

fn unit_text() -> String {
    std::fs::read_to_string(workspace_root().join("dist/systemd/xfrd.service")).unwrap()
}

/// The unit with ExecStart's binary replaced by `xfrd`, written into `dir` under its own name
/// (verify derives the unit's name from the file's).
fn unit_at(dir: &Path, xfrd: &Path) -> PathBuf {
    let text = unit_text();
    assert!(text.contains(&format!("ExecStart={INSTALLED_XFRD} ")));
    let path = dir.join("xfrd.service");
    std::fs::write(
        &path,
        text.replace(INSTALLED_XFRD, &xfrd.display().to_string()),
    )
    .unwrap();
    path
}

/// `systemd-analyze verify` on `unit`: exit status and what it said about the unit.
fn verify(analyze: &Path, unit: &Path, manpath: &Path) -> (bool, String) {
    let out = Command::new(analyze)
        .arg("verify")
        .arg(unit)
        .env("MANPATH", manpath)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (out.status.success(), said)
}

#[test]
fn the_unit_verifies() {
    let (Some(analyze), Some(_man)) = (require_program("systemd-analyze"), require_program("man"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Documentation=man:xfrd(1) man:xfrd-serve(1): verify runs man on each, so they must exist.
    let man1 = dir.path().join("man/man1");
    let status = Command::new(env!("CARGO_BIN_EXE_xfr-dist"))
        .arg("man")
        .arg(&man1)
        .output()
        .unwrap()
        .status;
    assert!(status.success());
    let unit = unit_at(dir.path(), &workspace_bin("xfrd"));
    let (ok, said) = verify(&analyze, &unit, &dir.path().join("man"));
    // Unknown or misspelt keys are only warnings (exit 0): anything said of the unit fails too.
    let about_unit: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("xfrd.service"))
        .collect();
    assert!(
        ok && about_unit.is_empty(),
        "systemd-analyze verify:\n{said}"
    );

    // And verify is really looking: a missing binary or a missing man page fails it.
    let missing = unit_at(dir.path(), Path::new("/nonexistent/xfrd"));
    let (ok, said) = verify(&analyze, &missing, &dir.path().join("man"));
    assert!(!ok && said.contains("/nonexistent/xfrd"), "{said}");
    let unit = unit_at(dir.path(), &workspace_bin("xfrd"));
    let (ok, said) = verify(&analyze, &unit, &dir.path().join("no-man-here"));
    assert!(!ok && said.contains("xfrd(1)"), "{said}");
}

#[test]
fn the_unit_keeps_its_hardening() {
    let text = unit_text();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for directive in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "StateDirectory=xfrd",
        "DynamicUser=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    ] {
        assert!(lines.contains(&directive), "the unit lost {directive}");
    }
    // The config keeps its stores in the unit's StateDirectory, the one writable folder.
    let config = std::fs::read_to_string(workspace_root().join("dist/xfrd.toml")).unwrap();
    assert!(config.lines().any(|l| l == "store_dir = \"/var/lib/xfrd\""));

    let Some(analyze) = require_program("systemd-analyze") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_at(dir.path(), &workspace_bin("xfrd"));
    // Exposure on systemd's 0-10 scale, times 10: 3.0 with systemd 252 (Debian 12). Above 4.0
    // a hardening line was dropped; what is left open is the network xfrd serves on,
    // CAP_NET_BIND_SERVICE, and no SystemCallFilter (see the unit).
    let out = Command::new(analyze)
        .args(["security", "--offline=yes", "--threshold=40", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "systemd-analyze security: {}\n{said}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("Overall exposure level for xfrd.service"),
        "{said}"
    );
}

/// The unit's ExecStart, split into words, its binary and config replaced.
fn exec_start(xfrd: &Path, config: &Path) -> Vec<String> {
    let text = unit_text();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart=");
    line.split_whitespace()
        .map(|w| match w {
            INSTALLED_XFRD => xfrd.display().to_string(),
            INSTALLED_CONFIG => config.display().to_string(),
            w => w.to_string(),
        })
        .collect()
}

#[test]
fn exec_start_with_the_example_config_checks_out() {
    let xfrd = workspace_bin("xfrd");
    let words = exec_start(&xfrd, &workspace_root().join("dist/xfrd.toml"));
    let out = Command::new(&words[0])
        .args(&words[1..])
        .arg("--check")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{words:?} --check: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_example_config_serves_its_zone() {
    let Some(_dig) = require_program("dig") else {
        return;
    };
    // /etc/xfrd as the README lays it out, in a temporary folder: the config and zones/.
    let etc = tempfile::tempdir().unwrap();
    std::fs::copy(
        workspace_root().join("dist/xfrd.toml"),
        etc.path().join("xfrd.toml"),
    )
    .unwrap();
    std::fs::create_dir(etc.path().join("zones")).unwrap();
    std::fs::copy(
        workspace_root().join("examples/example.com.zone"),
        etc.path().join("zones/example.com.zone"),
    )
    .unwrap();
    let port = free_port("127.0.0.1");
    // Port 53 and /var/lib/xfrd are the unit's; a test takes a free port and a temporary store.
    let mut words = exec_start(&workspace_bin("xfrd"), &etc.path().join("xfrd.toml"));
    words.extend([
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--store-dir".into(),
        etc.path().join("stores").display().to_string(),
        "--cores".into(),
        "1".into(),
    ]);
    let mut cmd = Command::new(&words[0]);
    cmd.args(&words[1..]);
    let mut xfrd = Proc::spawn("xfrd", cmd, etc.path().join("xfrd.log")).unwrap();
    wait_until(Duration::from_secs(60), "an SOA from xfrd", || {
        xfrd.check_running()?;
        Ok(xfrd_tests::soa_serial("127.0.0.1", port, "example.com.").is_some())
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", xfrd.log_text()));
    assert_eq!(
        xfrd_tests::soa_serial("127.0.0.1", port, "example.com."),
        Some(2026112301)
    );
}

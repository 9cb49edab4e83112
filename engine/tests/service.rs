//! xfrd as a service: `[log] format = "json"` read back line by line with serde_json.

mod common;

use std::process::Command;

use common::*;

/// Every line of `text` as a JSON object with a string `level` and a string `message`.
fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}\nwhole log:\n{text}"));
            for field in ["level", "message"] {
                assert!(v[field].is_string(), "no string {field:?} in {l:?}");
            }
            v
        })
        .collect()
}

#[test]
fn json_log_format_writes_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("xfrd.toml");
    std::fs::write(
        &config,
        format!(
            "listen = [\"127.0.0.1:{port}\"]\ncores = 2\n[log]\nformat = \"json\"\n\
             [[zone]]\norigin = \"example.com.\"\nfile = \"{}\"\n",
            examples_zone().display()
        ),
    )
    .unwrap();
    let args = vec!["--config".into(), config.display().to_string()];
    let mut x = Xfrd::start(dir.path(), port, "example.com.", &args);
    // A transfer: its line comes from a serving core, through the core's log buffer.
    let t = axfr(([127, 0, 0, 1], port).into(), "example.com.");
    assert!(t.records > 2);
    assert!(x.log_shows("transfer done"), "{}", x.log_text());
    // A line from the reload thread.
    x.signal("HUP");
    assert!(x.log_shows("reload done"), "{}", x.log_text());
    assert!(x.stop().success());

    let lines = json_lines(&x.log_text());
    let find = |message: &str| {
        lines
            .iter()
            .find(|v| v["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} line in {lines:#?}"))
    };
    let serving = find("xfrd serving");
    assert_eq!(serving["level"], "INFO");
    assert_eq!(serving["listen"], format!("127.0.0.1:{port}"));
    let done = find("transfer done");
    assert_eq!(done["zone"], "example.com.", "{done}");
    find("reload done");
    find("xfrd stopped");
}

#[test]
fn the_log_format_flag_overrides_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("xfrd.toml");
    std::fs::write(&config, "[log]\nformat = \"json\"\n").unwrap();
    let args: Vec<String> = [
        "--config",
        &config.display().to_string(),
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--log-format",
        "text",
    ]
    .map(String::from)
    .to_vec();
    let mut x = Xfrd::start(dir.path(), port, "example.com.", &args);
    assert!(x.stop().success());
    let text = x.log_text();
    assert!(text.contains("xfrd serving"), "{text}");
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_err()),
        "--log-format text still wrote JSON:\n{text}"
    );

    // And a word that is neither is refused by name.
    let out = Command::new(env!("CARGO_BIN_EXE_xfrd"))
        .args(["serve", "--log-format", "xml", "--check"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("json") && err.contains("text"), "{err}");
}

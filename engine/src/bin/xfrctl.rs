//! `xfrctl`: asks a running xfrd what it serves and tells it what to do, over its control
//! socket (`[control] socket` in xfrd's config; engine/src/control.rs has the protocol).
//!
//! Exit status: 0 done, 1 the server refused or failed the command (its reason printed), 2 the
//! server could not be reached or answered something unreadable.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use serde_json::Value;
use xfrd::cli::xfrctl::{Cli, Command};
use xfrd::control::Request;

fn request(c: &Command) -> Request {
    let (command, origin) = match c {
        Command::Status => ("status", None),
        Command::Zones => ("zones", None),
        Command::Zone { origin } => ("zone", Some(origin.clone())),
        Command::Reload { origin } => ("reload", origin.clone()),
        Command::Notify { origin } => ("notify", Some(origin.clone())),
        Command::Refresh { origin } => ("refresh", Some(origin.clone())),
        Command::Stop => ("stop", None),
    };
    Request {
        command: command.into(),
        origin,
    }
}

fn ask(cli: &Cli, req: &Request) -> Result<Value, String> {
    let path = cli.socket.display();
    let s = UnixStream::connect(&cli.socket).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => format!(
            "no xfrd answers on {path} ({e}): is it running with [control] socket = \"{path}\" in its config? (--socket or XFRCTL_SOCKET name another socket)"
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "permission denied on {path}: run xfrctl as the user xfrd runs as, or as root"
        ),
        _ => format!("connecting to {path}: {e}"),
    })?;
    let timeout = Some(Duration::from_secs(cli.timeout.max(1)));
    s.set_read_timeout(timeout).map_err(|e| e.to_string())?;
    s.set_write_timeout(timeout).map_err(|e| e.to_string())?;
    let mut line = serde_json::to_vec(req).expect("JSON of a request");
    line.push(b'\n');
    (&s).write_all(&line)
        .map_err(|e| format!("sending to {path}: {e}"))?;
    let mut answer = Vec::new();
    BufReader::new(&s)
        .read_until(b'\n', &mut answer)
        .map_err(|e| format!("reading the answer from {path}: {e}"))?;
    if answer.is_empty() {
        return Err(format!("{path} closed the connection without an answer"));
    }
    serde_json::from_slice(&answer).map_err(|e| format!("unreadable answer from {path}: {e}"))
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn bytes(v: &Value) -> String {
    let Some(n) = v.as_u64() else {
        return text(v);
    };
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn load_text(v: &Value) -> String {
    if v.is_null() {
        return "-".into();
    }
    let ms = text(&v["ms"]);
    if v["ok"].as_bool() == Some(true) {
        format!("{} ({ms} ms)", text(&v["how"]))
    } else {
        format!("FAILED ({ms} ms): {}", text(&v["error"]))
    }
}

/// Rows as columns padded to their widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &mut dyn Iterator<Item = &str>, out: &mut String| {
        let parts: Vec<String> = cells
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied(), &mut out);
    for r in rows {
        line(&mut r.iter().map(String::as_str), &mut out);
    }
    out
}

fn pairs(rows: &[(&str, String)]) -> String {
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<w$}  {v}\n"))
        .collect()
}

fn render(c: &Command, r: &Value) -> String {
    match c {
        Command::Status => {
            let listen: Vec<String> = r["listen"]
                .as_array()
                .map(|a| a.iter().map(text).collect())
                .unwrap_or_default();
            pairs(&[
                ("version", text(&r["version"])),
                ("pid", text(&r["pid"])),
                ("uptime", format!("{} s", text(&r["uptime_s"]))),
                ("cores", text(&r["cores"])),
                ("listen", listen.join(" ")),
                ("zones", text(&r["zones"])),
                ("connections open", text(&r["connections_open"])),
                ("transfers in flight", text(&r["transfers_in_flight"])),
                (
                    "reloads",
                    format!(
                        "{} ({} failed, last {} ms)",
                        text(&r["reloads"]),
                        text(&r["reload_failures"]),
                        text(&r["last_reload_ms"])
                    ),
                ),
                ("store dir", text(&r["store_dir"])),
                ("config file", text(&r["config_file"])),
                ("metrics", text(&r["metrics_listen"])),
            ])
        }
        Command::Zones => {
            let rows: Vec<Vec<String>> = r
                .as_array()
                .map(|zones| {
                    zones
                        .iter()
                        .map(|z| {
                            vec![
                                text(&z["origin"]),
                                text(&z["serial"]),
                                text(&z["kind"]),
                                text(&z["records"]),
                                bytes(&z["axfr_bytes"]),
                                text(&z["versions"]),
                                bytes(&z["journal_bytes"]),
                                load_text(&z["last_load"]),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            table(
                &[
                    "ZONE",
                    "SERIAL",
                    "KIND",
                    "RECORDS",
                    "AXFR",
                    "VERSIONS",
                    "JOURNAL",
                    "LAST LOAD",
                ],
                &rows,
            )
        }
        Command::Zone { .. } => {
            let t = &r["transfers"];
            let notify: Vec<String> = r["notify"]
                .as_array()
                .map(|a| a.iter().map(text).collect())
                .unwrap_or_default();
            let mut out = pairs(&[
                ("zone", text(&r["origin"])),
                ("serial", text(&r["serial"])),
                ("kind", text(&r["kind"])),
                ("file", text(&r["file"])),
                ("store", text(&r["store"])),
                ("records", text(&r["records"])),
                (
                    "axfr",
                    format!(
                        "{} in {} messages",
                        bytes(&r["axfr_bytes"]),
                        text(&r["messages"])
                    ),
                ),
                (
                    "journal",
                    format!("{} ({})", text(&r["journal"]), bytes(&r["journal_bytes"])),
                ),
                ("last load", load_text(&r["last_load"])),
                (
                    "loads",
                    format!(
                        "{} ({} failed)",
                        text(&r["loads"]),
                        text(&r["load_failures"])
                    ),
                ),
                (
                    "notify",
                    if notify.is_empty() {
                        "-".into()
                    } else {
                        notify.join(" ")
                    },
                ),
                (
                    "transfers",
                    format!(
                        "axfr {}, ixfr {}, axfr-style {}, soa-only {}, aborted {}",
                        text(&t["axfr"]),
                        text(&t["ixfr"]),
                        text(&t["axfr_style"]),
                        text(&t["soa_only"]),
                        text(&r["transfers_aborted"])
                    ),
                ),
                (
                    "sent",
                    format!(
                        "{} in {} messages",
                        bytes(&r["transfer_bytes"]),
                        text(&r["transfer_messages"])
                    ),
                ),
                ("refused", text(&r["refused"])),
            ]);
            if let Some(h) = r["history"].as_array().filter(|h| !h.is_empty()) {
                out.push_str("\nIXFR history (condensed diffs to the current serial):\n");
                let rows: Vec<Vec<String>> = h
                    .iter()
                    .map(|v| {
                        vec![
                            text(&v["serial"]),
                            text(&v["deleted"]),
                            text(&v["added"]),
                            bytes(&v["ixfr_bytes"]),
                        ]
                    })
                    .collect();
                out.push_str(&table(&["FROM SERIAL", "DELETED", "ADDED", "IXFR"], &rows));
            }
            out
        }
        Command::Reload { .. } => {
            let rows: Vec<Vec<String>> = r["zones"]
                .as_array()
                .map(|zones| {
                    zones
                        .iter()
                        .map(|z| {
                            vec![
                                text(&z["origin"]),
                                text(&z["serial"]),
                                load_text(&z["last_load"]),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            table(&["ZONE", "SERIAL", "LAST LOAD"], &rows)
        }
        Command::Notify { .. } => {
            let targets: Vec<String> = r["targets"]
                .as_array()
                .map(|a| a.iter().map(text).collect())
                .unwrap_or_default();
            format!(
                "NOTIFY of {} serial {} queued for {}\n",
                text(&r["zone"]),
                text(&r["serial"]),
                targets.join(" ")
            )
        }
        Command::Refresh { .. } => format!("{}\n", r),
        Command::Stop => format!(
            "xfrd stopping (transfers in flight have {} ms to finish)\n",
            text(&r["grace_ms"])
        ),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let req = request(&cli.command);
    let answer = match ask(&cli, &req) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("xfrctl: {e}");
            return ExitCode::from(2);
        }
    };
    let good = answer["ok"].as_bool() == Some(true);
    if cli.json {
        println!("{answer}");
    } else if good || !answer["result"].is_null() {
        // A failed reload still says what each zone serves.
        print!("{}", render(&cli.command, &answer["result"]));
    }
    if !good {
        eprintln!(
            "xfrctl: {}",
            answer["error"]
                .as_str()
                .unwrap_or("the server failed the command")
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

//! The control socket `xfrctl` talks to (`[control] socket`).
//!
//! A Unix stream socket, created owner-only (mode 0600, as the handoff socket); a connecting
//! process must also have a uid in `[control] uids` (SO_PEERCRED; default xfrd's own and root).
//! One request per connection: a JSON object on one line, `{"command": "...", "origin": "..."}`,
//! answered by one JSON object on one line, `{"ok": true, "result": ...}` or
//! `{"ok": false, "error": "..."}`, then the connection is closed. Requests are read with a 5 s
//! timeout and at most [`REQUEST_BYTES_MAX`] bytes; they are served one at a time, on a thread
//! of their own (a reload answers when it is done).
//!
//! | command | does |
//! |---|---|
//! | `status` | version, uptime, cores, listen addresses, zones, connections and transfers now |
//! | `zones` | every zone: origin, serial, kind, records, sizes, journal, last load and its outcome |
//! | `zone` ORIGIN | one zone, with its journal's versions, notify targets and transfer counts |
//! | `reload` [ORIGIN] | re-reads the configuration and reloads every zone (as SIGHUP), or only ORIGIN |
//! | `notify` ORIGIN | sends a NOTIFY of the zone's serial to its notify targets now |
//! | `refresh` ORIGIN | for secondary zones; every zone is primary for now, so it says so |
//! | `stop` | stops as SIGTERM does |

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::{CliOverrides, Config};
use crate::core::Shared;
use crate::metrics::Served;
use crate::zones::{Scope, Zone};

/// The most a request line may take.
pub const REQUEST_BYTES_MAX: usize = 4096;
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// One request, as `xfrctl` sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// Parses a request line (without its newline).
pub fn parse_request(line: &[u8]) -> std::result::Result<Request, String> {
    serde_json::from_slice(line).map_err(|e| format!("malformed request: {e}"))
}

/// Binds the control socket (a stale socket file is replaced; any other file there is an
/// error) and serves it on its own thread.
pub fn start(path: &Path, cli: CliOverrides, cfg: Config, shared: Arc<Shared>) -> Result<()> {
    let fd = crate::server::unix_listener(path, 0o600, "control")?;
    let listener = UnixListener::from(fd);
    let uids = cfg.control_uids.clone();
    std::thread::Builder::new()
        .name("xfrd-control".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(s) => {
                        if let Err(e) = serve_one(s, &uids, &cli, &cfg, &shared) {
                            tracing::debug!("control: {e}");
                        }
                    }
                    Err(e) => {
                        tracing::warn!("control: accept: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })
        .context("starting the control thread")?;
    Ok(())
}

fn serve_one(
    s: UnixStream,
    uids: &[u32],
    cli: &CliOverrides,
    cfg: &Config,
    shared: &Shared,
) -> std::io::Result<()> {
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let reply = match crate::sys::peer_uid(s.as_raw_fd()) {
        Ok(uid) if uids.contains(&uid) => {
            let mut line = Vec::new();
            let mut reader = BufReader::new((&s).take(REQUEST_BYTES_MAX as u64 + 1));
            reader.read_until(b'\n', &mut line)?;
            if line.len() > REQUEST_BYTES_MAX {
                error(format!("request longer than {REQUEST_BYTES_MAX} bytes"))
            } else {
                let line = line.strip_suffix(b"\n").unwrap_or(&line);
                match parse_request(line) {
                    Ok(req) => handle(&req, cli, cfg, shared),
                    Err(e) => error(e),
                }
            }
        }
        Ok(uid) => {
            tracing::warn!(
                uid,
                "control: connection refused: uid not in [control] uids"
            );
            error(format!(
                "permission denied: uid {uid} is not allowed ([control] uids)"
            ))
        }
        Err(e) => error(format!("reading the peer's credentials: {e}")),
    };
    let mut out = serde_json::to_vec(&reply).expect("JSON of a Value");
    out.push(b'\n');
    (&s).write_all(&out)?;
    Ok(())
}

fn error(msg: impl Into<String>) -> Value {
    json!({ "ok": false, "error": msg.into() })
}

fn ok(result: Value) -> Value {
    json!({ "ok": true, "result": result })
}

fn unix_s(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Answers one request.
pub fn handle(req: &Request, cli: &CliOverrides, cfg: &Config, shared: &Shared) -> Value {
    let origin = req.origin.as_deref();
    let needs_origin = |what: &str| error(format!("{what} needs a zone: xfrctl {what} ORIGIN"));
    match (req.command.as_str(), origin) {
        ("status", None) => ok(status(cfg, shared)),
        ("zones", None) => {
            let (set, _) = shared.zones.snapshot();
            ok(Value::Array(set.zones().iter().map(|z| zone_summary(z)).collect()))
        }
        ("zone", Some(o)) => match find(shared, o) {
            Ok(z) => ok(zone_detail(&z)),
            Err(e) => e,
        },
        ("zone", None) => needs_origin("zone"),
        ("reload", o) => reload(cli, cfg, shared, o),
        ("notify", Some(o)) => match find(shared, o) {
            Ok(z) if z.notify.is_empty() => error(format!(
                "zone {} has no notify targets: add notify = [\"ADDR:PORT\"] to its [[zone]] table",
                z.origin_text
            )),
            Ok(z) => {
                shared.notify.announce(crate::notify::Announce::of(&z));
                ok(json!({
                    "zone": &*z.origin_text,
                    "serial": z.store.serial(),
                    "targets": z.notify.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }))
            }
            Err(e) => e,
        },
        ("notify", None) => needs_origin("notify"),
        ("refresh", Some(o)) => match find(shared, o) {
            Ok(z) if z.file.as_os_str().is_empty() => error(format!(
                "zone {} is a secondary zone: it refreshes at its SOA REFRESH interval; refresh on demand is not built yet",
                z.origin_text
            )),
            Ok(z) => error(format!(
                "zone {} is a primary zone served from {}: refresh applies to secondary zones; use xfrctl reload {} after changing the file",
                z.origin_text,
                z.file.display(),
                z.origin_text
            )),
            Err(e) => e,
        },
        ("refresh", None) => needs_origin("refresh"),
        ("stop", None) => {
            crate::server::request_stop(shared, cfg.limits.shutdown_grace_ms);
            ok(json!({ "stopping": true, "grace_ms": cfg.limits.shutdown_grace_ms }))
        }
        ("status" | "zones" | "stop", Some(_)) => {
            error(format!("{} takes no zone", req.command))
        }
        (other, _) => error(format!(
            "unknown command `{other}`: expected status, zones, zone, reload, notify, refresh or stop"
        )),
    }
}

/// A zone name as given (the final dot optional), or the error answer.
fn parse_origin(origin: &str) -> std::result::Result<zone_store::Name, Value> {
    let text = if origin.ends_with('.') {
        origin.to_string()
    } else {
        format!("{origin}.")
    };
    zone_store::Name::parse(&text, None)
        .map_err(|e| error(format!("`{origin}` is not a domain name: {e}")))
}

fn find(shared: &Shared, origin: &str) -> std::result::Result<Arc<Zone>, Value> {
    let name = parse_origin(origin)?;
    let (set, _) = shared.zones.snapshot();
    set.find(name.as_wire()).cloned().ok_or_else(|| {
        error(format!(
            "zone {name} is not served (xfrctl zones lists them)"
        ))
    })
}

fn status(cfg: &Config, shared: &Shared) -> Value {
    let m = &shared.metrics;
    let (set, _) = shared.zones.snapshot();
    let uptime = SystemTime::now()
        .duration_since(m.started)
        .map_or(0, |d| d.as_secs());
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "uptime_s": uptime,
        "started_at": unix_s(m.started),
        "cores": cfg.cores,
        "listen": cfg.listen.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "store_dir": cfg.store_dir.display().to_string(),
        "config_file": cfg.config_file.as_ref().map(|p| p.display().to_string()),
        "zones": set.zones().len(),
        "connections_open": m.connections_open(),
        "transfers_in_flight": m.transfers_in_flight(),
        "reloads": m.reloads.get(),
        "reload_failures": m.reload_failures.get(),
        "last_reload_ms": m.last_reload_us.get() / 1000,
        "metrics_listen": cfg.metrics_listen.map(|a| a.to_string()),
        "stopping": shared.stop.load(std::sync::atomic::Ordering::Acquire),
    })
}

fn last_load(z: &Zone) -> Value {
    match &*z.stats.last_load.lock().expect("load record lock") {
        None => Value::Null,
        Some(r) => match &r.outcome {
            Ok(how) => json!({ "at": unix_s(r.at), "ms": r.ms, "ok": true, "how": how }),
            Err(e) => json!({ "at": unix_s(r.at), "ms": r.ms, "ok": false, "error": e }),
        },
    }
}

fn zone_summary(z: &Zone) -> Value {
    json!({
        "origin": &*z.origin_text,
        "serial": z.store.serial(),
        "kind": if z.file.as_os_str().is_empty() { "secondary" } else { "primary" },
        "records": z.store.record_count(),
        "messages": z.store.message_count(),
        "axfr_bytes": z.store.body_bytes(),
        "store_bytes": z.store.file_bytes(),
        "versions": z.journal.as_ref().map_or(0, |j| j.versions()),
        "journal_bytes": z.journal.as_ref().map_or(0, |j| j.file_bytes()),
        "last_load": last_load(z),
    })
}

fn zone_detail(z: &Zone) -> Value {
    let mut v = zone_summary(z);
    let t = z.stats.totals();
    let transfers: serde_json::Map<String, Value> = Served::ALL
        .iter()
        .map(|s| (s.label().to_string(), json!(t.transfers[*s as usize])))
        .collect();
    let history: Vec<Value> = z.journal.as_ref().map_or_else(Vec::new, |j| {
        (0..j.versions())
            .map(|i| {
                let info = j.version(i);
                json!({
                    "serial": info.serial,
                    "deleted": info.deleted,
                    "added": info.added,
                    "ixfr_bytes": info.wire_bytes,
                })
            })
            .collect()
    });
    let extra = json!({
        "file": z.file.display().to_string(),
        "store": z.store.path().display().to_string(),
        "journal": z.journal.as_ref().map(|j| j.path().display().to_string()),
        "history": history,
        "notify": z.notify.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "transfers": transfers,
        "transfers_aborted": t.aborted,
        "transfer_bytes": t.bytes,
        "transfer_messages": t.messages,
        "refused": t.refused,
        "loads": z.stats.loads.get(),
        "load_failures": z.stats.load_failures.get(),
    });
    if let (Value::Object(a), Value::Object(b)) = (&mut v, extra) {
        a.extend(b);
    }
    v
}

fn reload(cli: &CliOverrides, cfg: &Config, shared: &Shared, origin: Option<&str>) -> Value {
    let name = match origin.map(parse_origin).transpose() {
        Ok(n) => n,
        Err(e) => return e,
    };
    let scope = name.as_ref().map_or(Scope::All, Scope::Only);
    let errors = crate::server::reload(cli, cfg, shared, scope);
    let (set, _) = shared.zones.snapshot();
    let zones: Vec<Value> = set
        .zones()
        .iter()
        .filter(|z| name.as_ref().is_none_or(|n| z.origin.eq_ignore_case(n)))
        .map(|z| {
            json!({
                "origin": &*z.origin_text,
                "serial": z.store.serial(),
                "last_load": last_load(z),
            })
        })
        .collect();
    if errors.is_empty() {
        ok(json!({ "zones": zones }))
    } else {
        let msgs: Vec<String> = errors.iter().map(|e| format!("{e:#}")).collect();
        json!({
            "ok": false,
            "error": format!("reload failed: {}; what was served before keeps serving", msgs.join("; ")),
            "result": { "zones": zones },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_or_say_why() {
        assert_eq!(
            parse_request(br#"{"command":"zone","origin":"example.com."}"#),
            Ok(Request {
                command: "zone".into(),
                origin: Some("example.com.".into())
            })
        );
        assert_eq!(
            parse_request(br#"{"command":"status"}"#).unwrap().origin,
            None
        );
        assert!(parse_request(b"status").is_err());
        assert!(parse_request(br#"{"command":"status","extra":1}"#).is_err());
        assert!(parse_request(br#"{"origin":"x."}"#).is_err());
    }
}

//! Real DNS servers (knotd, nsd, named) started on loopback for the interop tests, each in a
//! folder of its own, configured either as a secondary of a primary under test or, for
//! checking the harness itself, as a primary.
//!
//! Configuration notes measured on these machines (FINDINGS.md): knotd needs an ACL with
//! `action: transfer` to serve AXFR; nsd 4.6 needs `database: ""` or it keeps zones in
//! /var/lib/nsd/nsd.db between runs; named 9.18 as a secondary refuses RRsets of more than 100
//! records unless `max-records-per-type 0` is set.
//!
//! XoT secondaries ([`Role::XotSecondary`], RFC 9103): named 9.18 with a `tls` clause
//! (`ca-file`, `remote-hostname`) named in its `primaries`; nsd 4.6 with `tls-cert-bundle:` (the
//! CA) in `server:` and a `tls-auth:` clause (`auth-domain-name:`) named at the end of its
//! `request-xfr:`. knotd 3.2 is not configured for XoT here.
//!
//! Primaries given a TSIG key require it for transfers: knotd an ACL with `key:` (unsigned
//! queries get NOTAUTH), nsd `provide-xfr: ADDR KEY` and named `allow-transfer { key ...; }`
//! (both REFUSED). A [`Role::JournaledPrimary`] answers IXFR after [`PeerServer::reload_zone`]
//! with the diff of the reload, as a [`Role::Primary`] does not (knotd keeps no journal,
//! named computes no difference: both answer IXFR AXFR-style, as nsd 4.6 always does).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::{require_program, soa_serial, wait_until, Proc};

/// The peer implementations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Knot,
    Nsd,
    Bind,
}

impl Peer {
    pub fn program(self) -> &'static str {
        match self {
            Peer::Knot => "knotd",
            Peer::Nsd => "nsd",
            Peer::Bind => "named",
        }
    }
}

/// A running peer server.
pub struct PeerServer {
    pub peer: Peer,
    pub ip: String,
    pub port: u16,
    pub dir: PathBuf,
    pub proc: Proc,
}

/// Where the zone comes from.
pub enum Role<'a> {
    /// A secondary that transfers `zone` from `primary_ip`:`primary_port`.
    Secondary {
        primary_ip: &'a str,
        primary_port: u16,
    },
    /// A secondary that transfers `zone` over TLS (XoT) from `primary_ip`:`tls_port`,
    /// checking that the primary's certificate is signed by `ca` and names `server_name`.
    XotSecondary {
        primary_ip: &'a str,
        tls_port: u16,
        ca: &'a Path,
        server_name: &'a str,
    },
    /// A primary that serves `zonefile`. With [`PeerOptions::tsig`], transfers need the key.
    Primary { zonefile: &'a Path },
    /// A [`Role::Primary`] that also keeps the difference between each version it loads and
    /// the one before (knotd: `zonefile-load: difference`, named: `ixfr-from-differences`),
    /// so it answers IXFR after [`PeerServer::reload_zone`]. nsd 4.6 serves no IXFR (it came
    /// in 4.7): refused.
    JournaledPrimary { zonefile: &'a Path },
}

/// The name of the TLS settings in the peers' configurations (named `tls`, nsd `tls-auth:`).
const XOT_TLS_NAME: &str = "xot-primary";

/// A TSIG key as the peers' configurations name it.
#[derive(Clone, Debug)]
pub struct TsigSpec {
    /// With the trailing dot: `xfr-key.`.
    pub name: String,
    /// `hmac-sha256` and the like.
    pub algorithm: String,
    /// Base64.
    pub secret: String,
}

impl TsigSpec {
    /// `ALG:NAME:SECRET`, as `dig -y` and `kdig -y` take it.
    pub fn dig_arg(&self) -> String {
        format!("{}:{}:{}", self.algorithm, self.name, self.secret)
    }
}

/// How a peer is started beyond its role.
#[derive(Clone, Debug)]
pub struct PeerOptions {
    /// A secondary signs its SOA queries and transfers with this key.
    pub tsig: Option<TsigSpec>,
    /// Wait until the peer answers SOA for the zone (a secondary: until it holds the zone).
    /// Off for a peer that is expected to fail its transfer.
    pub wait_for_zone: bool,
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            tsig: None,
            wait_for_zone: true,
        }
    }
}

/// Starts `peer` on `ip`:`port` for `zone` (absolute, with the trailing dot) in `dir`.
/// Returns `None` (the test skips) when the program is missing outside CI.
pub fn start(
    peer: Peer,
    ip: &str,
    port: u16,
    zone: &str,
    role: Role<'_>,
    dir: &Path,
) -> Result<Option<PeerServer>> {
    start_with(peer, ip, port, zone, role, dir, &PeerOptions::default())
}

/// [`start`] with options.
pub fn start_with(
    peer: Peer,
    ip: &str,
    port: u16,
    zone: &str,
    role: Role<'_>,
    dir: &Path,
    opts: &PeerOptions,
) -> Result<Option<PeerServer>> {
    let Some(prog) = require_program(peer.program()) else {
        return Ok(None);
    };
    std::fs::create_dir_all(dir)?;
    let zone_bare = zone.trim_end_matches('.');
    let zonefile = dir.join(format!("{zone_bare}.zone"));
    let journaled = matches!(role, Role::JournaledPrimary { .. });
    let (primary, is_secondary, xot) = match role {
        Role::Secondary {
            primary_ip,
            primary_port,
        } => ((primary_ip.to_string(), primary_port), true, None),
        Role::XotSecondary {
            primary_ip,
            tls_port,
            ca,
            server_name,
        } => (
            (primary_ip.to_string(), tls_port),
            true,
            Some((ca.display().to_string(), server_name)),
        ),
        Role::Primary { zonefile: src } | Role::JournaledPrimary { zonefile: src } => {
            std::fs::copy(src, &zonefile).with_context(|| format!("copy {}", src.display()))?;
            ((String::new(), 0), false, None)
        }
    };
    let conf = dir.join("peer.conf");
    let d = dir.display();
    let zf = zonefile.display();
    let mut cmd = Command::new(prog);
    let key = opts.tsig.as_ref();
    match peer {
        Peer::Knot => {
            if xot.is_some() {
                bail!("knotd as an XoT secondary is not configured by this harness");
            }
            // knotd keeps its journal there: without it an IXFR cannot be stored and knotd
            // falls back to AXFR ("failed to store changes (not exists)").
            std::fs::create_dir_all(dir.join("db"))?;
            let key_part = key.map_or(String::new(), |k| {
                format!(
                    "key:\n  - id: {}\n    algorithm: {}\n    secret: {}\n",
                    k.name, k.algorithm, k.secret
                )
            });
            let remote_key = key.map_or(String::new(), |k| format!("    key: {}\n", k.name));
            let zone_part = if is_secondary {
                format!(
                    "{key_part}remote:\n  - id: primary\n    address: {}@{}\n{remote_key}\
                     acl:\n  - id: notify_in\n    address: {}\n    action: notify\n  - id: xfr_out\n    address: [127.0.0.0/8, ::1]\n    action: transfer\n\
                     zone:\n  - domain: {zone}\n    file: \"{zf}\"\n    master: primary\n    acl: [notify_in, xfr_out]\n    zonefile-load: none\n",
                    primary.0, primary.1, primary.0
                )
            } else {
                let acl_key = key.map_or(String::new(), |k| format!("    key: {}\n", k.name));
                let journal = if journaled {
                    "    zonefile-load: difference\n    journal-content: changes\n"
                } else {
                    "    journal-content: none\n"
                };
                format!(
                    "{key_part}acl:\n  - id: xfr_out\n    address: [127.0.0.0/8, ::1]\n{acl_key}    action: transfer\n\
                     zone:\n  - domain: {zone}\n    file: \"{zf}\"\n    acl: [xfr_out]\n    zonefile-sync: -1\n{journal}"
                )
            };
            std::fs::write(
                &conf,
                format!(
                    "server:\n    rundir: \"{d}\"\n    listen: {ip}@{port}\n    tcp-reuseport: on\n\
                     database:\n    storage: \"{d}/db\"\n\
                     log:\n  - target: stderr\n    any: info\n{zone_part}"
                ),
            )?;
            cmd.arg("-c").arg(&conf);
        }
        Peer::Nsd => {
            let key_part = key.map_or(String::new(), |k| {
                format!(
                    "key:\n    name: \"{}\"\n    algorithm: {}\n    secret: \"{}\"\n",
                    k.name, k.algorithm, k.secret
                )
            });
            let key_name = key.map_or("NOKEY".to_string(), |k| k.name.clone());
            let (tls_server, tls_auth, tls_ref) = xot.as_ref().map_or_else(
                || (String::new(), String::new(), String::new()),
                |(ca, name)| {
                    (
                        format!("    tls-cert-bundle: \"{ca}\"\n"),
                        format!("tls-auth:\n    name: \"{XOT_TLS_NAME}\"\n    auth-domain-name: \"{name}\"\n"),
                        format!(" {XOT_TLS_NAME}"),
                    )
                },
            );
            let zone_part = if is_secondary {
                format!(
                    "    request-xfr: {}@{} {key_name}{tls_ref}\n    allow-notify: {} NOKEY\n    provide-xfr: 127.0.0.0/8 NOKEY\n    provide-xfr: ::1 NOKEY\n",
                    primary.0, primary.1, primary.0
                )
            } else {
                if journaled {
                    bail!("nsd 4.6 serves no IXFR: it cannot be a journaled primary");
                }
                format!(
                    "    provide-xfr: 127.0.0.0/8 {key_name}\n    provide-xfr: ::1 {key_name}\n"
                )
            };
            std::fs::write(
                &conf,
                format!(
                    "server:\n    ip-address: {ip}@{port}\n    database: \"\"\n    zonesdir: \"{d}\"\n\
                     username: \"\"\n    chroot: \"\"\n    pidfile: \"{d}/nsd.pid\"\n    xfrdfile: \"{d}/xfrd.state\"\n\
                     zonelistfile: \"{d}/zone.list\"\n    xfrdir: \"{d}\"\n    logfile: \"{d}/nsd.log\"\n    verbosity: 2\n\
                     server-count: 1\n{tls_server}\
                     remote-control:\n    control-enable: no\n{key_part}{tls_auth}\
                     zone:\n    name: {zone}\n    zonefile: \"{zf}\"\n{zone_part}"
                ),
            )?;
            cmd.arg("-d").arg("-c").arg(&conf);
        }
        Peer::Bind => {
            let key_part = key.map_or(String::new(), |k| {
                format!(
                    "key \"{}\" {{ algorithm {}; secret \"{}\"; }};\n",
                    k.name, k.algorithm, k.secret
                )
            });
            let primary_key = key.map_or(String::new(), |k| format!(" key \"{}\"", k.name));
            let (tls_part, primary_tls) = xot.as_ref().map_or_else(
                || (String::new(), String::new()),
                |(ca, name)| {
                    (
                        format!("tls {XOT_TLS_NAME} {{ ca-file \"{ca}\"; remote-hostname \"{name}\"; }};\n"),
                        format!(" tls {XOT_TLS_NAME}"),
                    )
                },
            );
            let zone_part = if is_secondary {
                format!(
                    "{key_part}{tls_part}zone \"{zone}\" {{ type secondary; primaries {{ {} port {}{primary_key}{primary_tls}; }}; file \"{zf}\"; }};\n",
                    primary.0, primary.1
                )
            } else {
                let allow = key.map_or(String::new(), |k| {
                    format!(" allow-transfer {{ key \"{}\"; }};", k.name)
                });
                let ixfr = if journaled {
                    " ixfr-from-differences yes;"
                } else {
                    ""
                };
                format!(
                    "{key_part}zone \"{zone}\" {{ type primary; file \"{zf}\";{allow}{ixfr} }};\n"
                )
            };
            let (v4, v6) = if ip.contains(':') {
                ("none;".to_string(), format!("{ip};"))
            } else {
                (format!("{ip};"), "none;".to_string())
            };
            std::fs::write(
                &conf,
                format!(
                    "options {{\n  directory \"{d}\";\n  listen-on port {port} {{ {v4} }};\n  listen-on-v6 port {port} {{ {v6} }};\n\
                     pid-file \"{d}/named.pid\";\n  session-keyfile \"{d}/session.key\";\n  managed-keys-directory \"{d}\";\n\
                     recursion no;\n  notify no;\n  allow-transfer {{ 127.0.0.0/8; ::1; }};\n  max-records-per-type 0;\n\
                     dnssec-validation no;\n}};\ncontrols {{ }};\n{zone_part}"
                ),
            )?;
            cmd.arg("-g").arg("-c").arg(&conf);
        }
    }
    let mut proc = Proc::spawn(peer.program(), cmd, dir.join("peer.log"))?;
    let _ = zone_bare;
    if !opts.wait_for_zone {
        return Ok(Some(PeerServer {
            peer,
            ip: ip.to_string(),
            port,
            dir: dir.to_path_buf(),
            proc,
        }));
    }
    // The server is ready when it answers SOA for the zone (a secondary: once it has the zone).
    wait_until(
        Duration::from_secs(60),
        &format!("{} to answer SOA for {zone}", peer.program()),
        || {
            proc.check_running()?;
            Ok(soa_serial(ip, port, zone).is_some())
        },
    )
    .with_context(|| format!("{} log:\n{}", peer.program(), proc.log_text()))?;
    Ok(Some(PeerServer {
        peer,
        ip: ip.to_string(),
        port,
        dir: dir.to_path_buf(),
        proc,
    }))
}

impl PeerServer {
    /// The zone file the peer serves (a primary's copy of the file it was started with).
    pub fn zonefile(&self, zone: &str) -> PathBuf {
        self.dir
            .join(format!("{}.zone", zone.trim_end_matches('.')))
    }

    /// Replaces a primary's zone with `text` and makes the peer load it (SIGHUP: knotd, nsd
    /// and named all reload changed zone files on it), then waits until it answers SOA with
    /// `serial` (30 s at most). The file is written and the signal sent again every 2 s while
    /// the old serial is served: a peer that compares modification times in whole seconds
    /// may not see a file rewritten in the second it loaded the last one.
    pub fn reload_zone(&mut self, zone: &str, text: &str, serial: u32) -> Result<()> {
        let file = self.zonefile(zone);
        let (ip, port) = (self.ip.clone(), self.port);
        let proc = &mut self.proc;
        let mut next_hup = std::time::Instant::now();
        wait_until(
            Duration::from_secs(30),
            &format!("{} to serve serial {serial} of {zone}", self.peer.program()),
            || {
                proc.check_running()?;
                if std::time::Instant::now() >= next_hup {
                    std::fs::write(&file, text)?;
                    proc.signal("HUP")?;
                    next_hup += Duration::from_secs(2);
                }
                Ok(soa_serial(&ip, port, zone) == Some(serial))
            },
        )
        .with_context(|| format!("{} log:\n{}", self.peer.program(), self.proc.log_text()))
    }
}

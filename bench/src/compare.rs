//! `xfr-bench compare`: the same workloads against xfrd, knotd, nsd and named, one at a time.
//!
//! Owns: generating the zones (`xfr-zone gen`) or taking them from flags, writing a config for
//! each peer into a temporary folder, starting each server pinned to one core (taskset), waiting
//! until it answers for both zones, running the workloads with the client pinned to another
//! core, stopping it, and writing a table (stdout), JSON, Markdown and an SVG chart.
//!
//! Every server process is owned by a `Running` whose Drop stops it (SIGTERM, then SIGKILL),
//! so an error or a panic in the middle of a run leaves nothing behind.
//!
//! Peer settings, and why (FINDINGS.md): knotd serves AXFR only with an ACL `action: transfer`,
//! and its listen backlog is fixed (not configurable in 3.2), so it drops SYNs under many
//! simultaneous connects; nsd 4.6 needs `database: ""` or it keeps a zone database between
//! runs, `username: ""` to run without dropping to a user that cannot read our temp folder,
//! `tcp-count` raised above the highest concurrency, and response rate limiting off
//! (`rrl-ratelimit: 0`: Debian's nsd limits to 200 answers/s per source by default, which
//! turns a SOA benchmark into a measurement of the limiter); named limits concurrent outgoing
//! transfers (`transfers-out`, default 10), TCP clients and its listen queue (default 10): all
//! three are raised so that the table compares serving, not admission limits.
//!
//! Signed runs (`--tsig NAME:ALG:SECRET`): every server gets the key in its config and allows
//! transfers only with it (xfrd: a `[[key]]` and a keyed `[acl] allow_transfer` entry; knotd:
//! a `key:` and `key:` in the transfer ACL; nsd: a `key:` and `provide-xfr: 127.0.0.0/8 NAME`;
//! named: a `key` and `allow-transfer { key NAME; }`). Each server must then refuse one
//! unsigned AXFR, and its untimed AXFRs verify the MAC chain of every message. The timed
//! transfers sign their queries; they verify the responses only with `--verify`, because the
//! client's HMAC runs at the server's speed and would otherwise bound what it measures. SOA
//! queries stay unsigned. Without `--tsig` the configs and outputs are what they always were.
//!
//! Over TLS (`--tls`, XoT, RFC 9103): a CA and a server certificate for `TLS_SERVER_NAME` and
//! 127.0.0.1 are made with rcgen in the work folder; each server gets a TLS listener on its own
//! port (`--base-port` + the number of servers + its index) besides its plain one: xfrd a
//! `[[tls]]` table (and `transport = "any"` in its keyed ACL with `--tsig`), named a `tls`
//! statement and `listen-on port T tls xfr-bench`, nsd `tls-port`, `tls-service-key`,
//! `tls-service-pem` and an `ip-address` on that port (nsd serves TLS only on interfaces whose
//! port is the tls-port). knotd 3.2 has no XoT server and is skipped, saying so. The untimed
//! verified AXFRs, the large zone and the small zone run over TLS, the small zone twice: every
//! connection with a full handshake, then with one session store for the run (resumed
//! handshakes); SOA queries stay on UDP, and the handoff workload (plain TCP by nature) is not
//! run. Seen over TLS: nsd 4.6.1 takes about 44 ms for any small transfer (kdig +tls too, 2.5
//! ms over TCP). strace shows it writing the whole answer as a full TLS record and a short
//! one, then nothing for 44 ms; it sets no TCP_NODELAY, so the short record most likely waits
//! (Nagle) for the client's delayed ACK of the first. Not worked around: it is the server's.

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;
use serde::Serialize;
use xfr_proto::message;
use xfr_proto::tsig;
use xfr_proto::wire::TYPE_SOA;

use crate::load::{self, LoadConfig, Mode, Report};

/// How long a server may take from start to answering SOA for both zones. named needs about
/// 4 s for a 1M-record zone here (FINDINGS.md); a slow disk or a debug build may need more.
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// Front-end connections to xfrd's handoff socket in the handoff workload.
const HANDOFF_CONNS: usize = 4;
/// Grace period between SIGTERM and SIGKILL when stopping a server.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long to wait before quoting a server's log after a failed transfer: xfrd's serving
/// cores write their log lines in batches, up to 100 ms after the event (engine/CONFIG.md).
const LOG_FLUSH_WAIT: Duration = Duration::from_millis(300);
/// The name in the server certificate of `--tls` runs (with 127.0.0.1 as an IP address).
const TLS_SERVER_NAME: &str = "xfr-bench.test";

#[derive(Args, Clone)]
pub struct CompareArgs {
    /// Servers to run, in order; the first one present is the reference of the ratios.
    #[arg(long, value_delimiter = ',', default_value = "xfrd,knotd,nsd,named")]
    servers: Vec<String>,
    /// The xfrd binary (default: next to xfr-bench, then PATH).
    #[arg(long)]
    xfrd: Option<PathBuf>,
    /// The xfr-zone binary used to generate the zones (default: next to xfr-bench, then PATH).
    #[arg(long)]
    xfr_zone: Option<PathBuf>,
    /// Use this zone file for the large zone instead of generating one: ORIGIN=FILE.
    #[arg(long)]
    large: Option<String>,
    /// Use this zone file for the small zone instead of generating one: ORIGIN=FILE.
    #[arg(long)]
    small: Option<String>,
    #[arg(long, default_value_t = 1_000_000)]
    large_records: u64,
    #[arg(long, default_value_t = 10_000)]
    small_records: u64,
    /// Seed for `xfr-zone gen`.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Single AXFRs of the large zone per server (the median is reported).
    #[arg(long, default_value_t = 5)]
    large_repeat: u64,
    /// Concurrency levels for the small zone.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64,256")]
    concurrency: Vec<usize>,
    /// Transfers per concurrency level for the small zone (at most).
    #[arg(long, default_value_t = 3000)]
    small_transfers: u64,
    /// Seconds per concurrency level for the small zone (at most).
    #[arg(long, default_value_t = 5.0)]
    small_duration: f64,
    /// SOA queries over UDP (at most), their sockets (one query in flight on each), and seconds.
    #[arg(long, default_value_t = 200_000)]
    soa_queries: u64,
    #[arg(long, default_value_t = 4)]
    soa_concurrency: usize,
    #[arg(long, default_value_t = 5.0)]
    soa_duration: f64,
    /// Core the server is pinned to (taskset), and cores for the client threads.
    #[arg(long, default_value_t = 0)]
    server_core: usize,
    #[arg(long, value_delimiter = ',', default_value = "1")]
    client_cores: Vec<usize>,
    /// First loopback port; each server gets the next one.
    #[arg(long, default_value_t = 25353)]
    base_port: u16,
    /// Per-transfer timeout in seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    #[arg(long)]
    json: Option<PathBuf>,
    #[arg(long)]
    markdown: Option<PathBuf>,
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Keep configs, zones and logs here instead of a temporary folder removed at the end.
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// TSIG key NAME:ALG:SECRET (or ALG:NAME:SECRET, as with dig -y; secret in base64): every
    /// server allows transfers only with it, and every AXFR query is signed with it.
    #[arg(long)]
    tsig: Option<String>,
    /// Configure the servers with this key instead of --tsig's (to check that a client with
    /// the wrong key fails, and how).
    #[arg(long, requires = "tsig")]
    server_tsig: Option<String>,
    /// Check the timed transfers as the untimed ones are: records decoded, digests compared,
    /// and with --tsig every response MAC verified (the client then does the server's HMAC
    /// work too, and may bound the throughput).
    #[arg(long)]
    verify: bool,
    /// Run the transfers over TLS (XoT, RFC 9103): a CA and server certificate are made in the
    /// work folder, each server gets a TLS listener, knotd (no XoT server) is skipped, and the
    /// small zone runs with full and with resumed handshakes.
    #[arg(long)]
    tls: bool,
}

/// The PEM files of a `--tls` run, in the work folder.
#[derive(Debug, Clone, Serialize)]
struct Certs {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// A CA, and a server certificate for `TLS_SERVER_NAME` and 127.0.0.1 that it signed (P-256
/// keys), written as PEM into `dir`.
fn make_certs(dir: &Path) -> anyhow::Result<Certs> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    std::fs::create_dir_all(dir)?;
    let ca_key = KeyPair::generate().context("CA key")?;
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "xfr-bench compare CA");
    let ca = ca.self_signed(&ca_key).context("CA certificate")?;
    let key = KeyPair::generate().context("server key")?;
    let names = vec![TLS_SERVER_NAME.to_string(), "127.0.0.1".to_string()];
    let cert = CertificateParams::new(names)?
        .signed_by(&key, &ca, &ca_key)
        .context("server certificate")?;
    let certs = Certs {
        ca: dir.join("ca.pem"),
        cert: dir.join("server-cert.pem"),
        key: dir.join("server-key.pem"),
    };
    for (path, pem) in [
        (&certs.ca, ca.pem()),
        (&certs.cert, cert.pem()),
        (&certs.key, key.serialize_pem()),
    ] {
        write(path, pem)?;
    }
    Ok(certs)
}

/// A server's TLS listener in a `--tls` run.
struct TlsListen<'a> {
    port: u16,
    certs: &'a Certs,
}

/// A TSIG key as the servers' configs spell it, from a `--tsig` value.
#[derive(Clone)]
struct KeySpec {
    /// Lowercased, with the final dot.
    name: String,
    algorithm: &'static str,
    /// Base64, as given.
    secret: String,
    key: tsig::Key,
}

impl std::fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySpec")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl KeySpec {
    fn parse(flag: &str, spec: &str) -> anyhow::Result<KeySpec> {
        let key = tsig::Key::parse_spec(spec).with_context(|| flag.to_string())?;
        // parse_spec took the secret as the third part, whichever order the first two had.
        let secret = spec.splitn(3, ':').nth(2).unwrap_or_default().trim();
        let name = tsig::name_text(key.name());
        // The name goes into four config syntaxes unquoted or quoted: keep it plain.
        anyhow::ensure!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
            "{flag}: a key name of letters, digits, '-', '_' and '.' only, for the servers' \
             configs (got {name:?})"
        );
        Ok(KeySpec {
            name,
            algorithm: key.algorithm().text_name(),
            secret: secret.to_string(),
            key,
        })
    }
}

/// The command line as recorded in the report, with the secrets of `--tsig` and
/// `--server-tsig` replaced by `<secret>`.
fn command_line(args: impl Iterator<Item = String>) -> String {
    let redact = |v: &str| match v.rsplit_once(':') {
        Some((head, _)) => format!("{head}:<secret>"),
        None => v.to_string(),
    };
    let mut out = Vec::new();
    let mut next_is_key = false;
    for a in args {
        if next_is_key {
            out.push(redact(&a));
            next_is_key = false;
        } else if let Some((flag, v)) = a
            .split_once('=')
            .filter(|(f, _)| matches!(*f, "--tsig" | "--server-tsig"))
        {
            out.push(format!("{flag}={}", redact(v)));
        } else {
            next_is_key = matches!(a.as_str(), "--tsig" | "--server-tsig");
            out.push(a);
        }
    }
    out.join(" ")
}

/// One zone as served in the comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Zone {
    pub origin: String,
    pub file: PathBuf,
}

/// A server process we started; stopped on drop.
struct Running {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Running {
    fn pid(&self) -> u32 {
        self.child.id()
    }
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        crate::sys::kill(self.child.id(), libc::SIGTERM);
        let t = Instant::now();
        while t.elapsed() < STOP_GRACE {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("{}: did not stop on SIGTERM, killing", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary folder removed on drop unless the user named it.
struct WorkDir {
    path: PathBuf,
    remove: bool,
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn find_binary(flag: &Option<PathBuf>, name: &str) -> Option<PathBuf> {
    if let Some(p) = flag {
        return p.is_file().then(|| p.clone());
    }
    if let Ok(me) = std::env::current_exe() {
        if let Some(dir) = me.parent() {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn version_of(bin: &Path, args: &[&str]) -> String {
    Command::new(bin)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).to_string();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_default()
}

/// Ask for the zone's SOA over UDP, then TCP; true when one answers NOERROR with a SOA.
fn answers_soa(addr: SocketAddr, zone: &str) -> bool {
    let Some(qname) = message::text_to_wire(zone) else {
        return false;
    };
    let q = message::build_query(0x5eed, &qname, TYPE_SOA, None);
    let ok = |m: &[u8]| {
        message::Header::parse(m)
            .map(|h| h.id == 0x5eed && h.is_response() && h.rcode() == 0 && h.ancount > 0)
            .unwrap_or(false)
    };
    if let Ok(s) = UdpSocket::bind("127.0.0.1:0") {
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        if s.send_to(&q, addr).is_ok() {
            let mut b = [0u8; 4096];
            if let Ok(n) = s.recv(&mut b) {
                if ok(&b[..n]) {
                    return true;
                }
            }
        }
    }
    use std::io::{Read, Write};
    if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut f = (q.len() as u16).to_be_bytes().to_vec();
        f.extend_from_slice(&q);
        let mut lb = [0u8; 2];
        if s.write_all(&f).is_ok() && s.read_exact(&mut lb).is_ok() {
            let mut b = vec![0u8; u16::from_be_bytes(lb) as usize];
            if s.read_exact(&mut b).is_ok() {
                return ok(&b);
            }
        }
    }
    false
}

fn write(path: &Path, text: String) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Write the server's config into `dir` and return the command that starts it in the
/// foreground.
fn server_command(
    name: &str,
    bin: &Path,
    dir: &Path,
    port: u16,
    zones: &[Zone],
    key: Option<&KeySpec>,
    tls: Option<&TlsListen>,
) -> anyhow::Result<Command> {
    let d = dir.display();
    let mut cmd = Command::new(bin);
    match name {
        "xfrd" => {
            cmd.arg("serve");
            let mut conf = String::new();
            if let Some(t) = tls {
                conf.push_str(&format!(
                    "[[tls]]\nlisten = [\"127.0.0.1:{}\"]\ncert = \"{}\"\nkey = \"{}\"\n\n",
                    t.port,
                    t.certs.cert.display(),
                    t.certs.key.display()
                ));
            }
            if let Some(k) = key {
                // The --zone zones below take the default ACL, [acl]; a rule covers plain TCP
                // only unless it names its transport.
                let transport = if tls.is_some() { "any" } else { "tcp" };
                conf.push_str(&format!(
                    "[[key]]\nname = \"{}\"\nalgorithm = \"{}\"\nsecret = \"{}\"\n\n\
                     [acl]\nallow_transfer = [{{ address = \"127.0.0.0/8\", key = \"{}\", \
                     transport = \"{transport}\" }}]\n",
                    k.name, k.algorithm, k.secret, k.name
                ));
            }
            if !conf.is_empty() {
                write(&dir.join("xfrd.toml"), conf)?;
                cmd.arg("--config").arg(dir.join("xfrd.toml"));
            }
            cmd.arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--cores")
                .arg("1")
                .arg("--store-dir")
                .arg(dir.join("store"));
            for z in zones {
                cmd.arg("--zone")
                    .arg(format!("{}={}", z.origin, z.file.display()));
            }
            if xfrd_has_handoff(bin) {
                cmd.arg("--handoff").arg(dir.join("handoff.sock"));
            }
        }
        "knotd" => {
            let (keys, acl_key) = match key {
                Some(k) => (
                    format!(
                        "key:\n  - id: {}\n    algorithm: {}\n    secret: {}\n",
                        k.name, k.algorithm, k.secret
                    ),
                    format!("    key: {}\n", k.name),
                ),
                None => (String::new(), String::new()),
            };
            let mut c = format!(
                "server:\n    rundir: \"{d}\"\n    listen: 127.0.0.1@{port}\n    tcp-reuseport: on\n\
                 database:\n    storage: \"{d}/db\"\n\
                 log:\n  - target: stderr\n    any: warning\n{keys}\
                 acl:\n  - id: xfr_out\n    address: 127.0.0.0/8\n{acl_key}    action: transfer\n\
                 template:\n  - id: default\n    storage: \"{d}\"\n    acl: xfr_out\n    zonefile-sync: -1\n\
                 \x20   journal-content: none\n    semantic-checks: off\n\
                 zone:\n"
            );
            for z in zones {
                c.push_str(&format!(
                    "  - domain: {}\n    file: \"{}\"\n",
                    z.origin,
                    z.file.display()
                ));
            }
            write(&dir.join("knot.conf"), c)?;
            cmd.arg("-c").arg(dir.join("knot.conf"));
        }
        "nsd" => {
            // TLS only on the interfaces whose port is the tls-port.
            let tls_conf = match tls {
                Some(t) => format!(
                    "    ip-address: 127.0.0.1@{p}\n    tls-port: {p}\n    \
                     tls-service-key: \"{}\"\n    tls-service-pem: \"{}\"\n",
                    t.certs.key.display(),
                    t.certs.cert.display(),
                    p = t.port
                ),
                None => String::new(),
            };
            let mut c = format!(
                "server:\n    ip-address: 127.0.0.1@{port}\n{tls_conf}    database: \"\"\n    zonesdir: \"{d}\"\n\
                 \x20   username: \"\"\n    chroot: \"\"\n    pidfile: \"{d}/nsd.pid\"\n\
                 \x20   xfrdfile: \"{d}/xfrd.state\"\n    zonelistfile: \"{d}/zone.list\"\n\
                 \x20   xfrdir: \"{d}\"\n    logfile: \"{d}/nsd.log\"\n    verbosity: 1\n\
                 \x20   server-count: 1\n    tcp-count: 1024\n    rrl-ratelimit: 0\n\
                 remote-control:\n    control-enable: no\n"
            );
            let provide_key = match key {
                Some(k) => {
                    c.push_str(&format!(
                        "key:\n    name: \"{}\"\n    algorithm: {}\n    secret: \"{}\"\n",
                        k.name, k.algorithm, k.secret
                    ));
                    k.name.as_str()
                }
                None => "NOKEY",
            };
            for z in zones {
                c.push_str(&format!(
                    "zone:\n    name: {}\n    zonefile: \"{}\"\n    provide-xfr: 127.0.0.0/8 {provide_key}\n",
                    z.origin,
                    z.file.display()
                ));
            }
            write(&dir.join("nsd.conf"), c)?;
            cmd.arg("-d").arg("-c").arg(dir.join("nsd.conf"));
        }
        "named" => {
            let (keys, allow) = match key {
                Some(k) => (
                    format!(
                        "key \"{}\" {{ algorithm {}; secret \"{}\"; }};\n",
                        k.name, k.algorithm, k.secret
                    ),
                    format!("key \"{}\";", k.name),
                ),
                None => (String::new(), "127.0.0.0/8;".to_string()),
            };
            let (tls_def, tls_listen) = match tls {
                Some(t) => (
                    format!(
                        "tls xfr-bench {{ cert-file \"{}\"; key-file \"{}\"; }};\n",
                        t.certs.cert.display(),
                        t.certs.key.display()
                    ),
                    format!(
                        "  listen-on port {} tls xfr-bench {{ 127.0.0.1; }};\n",
                        t.port
                    ),
                ),
                None => (String::new(), String::new()),
            };
            let mut c = format!(
                "{keys}{tls_def}options {{\n  directory \"{d}\";\n  listen-on port {port} {{ 127.0.0.1; }};\n\
                 {tls_listen}\
                 \x20 listen-on-v6 {{ none; }};\n  pid-file \"{d}/named.pid\";\n\
                 \x20 session-keyfile \"{d}/session.key\";\n  managed-keys-directory \"{d}\";\n\
                 \x20 recursion no;\n  notify no;\n  dnssec-validation no;\n\
                 \x20 allow-transfer {{ {allow} }};\n  transfers-out 1000;\n\
                 \x20 tcp-clients 1000;\n  tcp-listen-queue 1024;\n}};\ncontrols {{ }};\n"
            );
            for z in zones {
                c.push_str(&format!(
                    "zone \"{}\" {{ type primary; file \"{}\"; }};\n",
                    z.origin,
                    z.file.display()
                ));
            }
            write(&dir.join("named.conf"), c)?;
            cmd.arg("-g").arg("-c").arg(dir.join("named.conf"));
        }
        other => bail!("unknown server {other:?} (xfrd, knotd, nsd, named)"),
    }
    Ok(cmd)
}

/// Whether this xfrd takes handoffs (`serve --handoff`, handoff protocol v1).
fn xfrd_has_handoff(bin: &Path) -> bool {
    Command::new(bin)
        .args(["serve", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("--handoff"))
        .unwrap_or(false)
}

/// Start `cmd` pinned to `core` with taskset (which execs, so the pid is the server's).
fn start_pinned(name: &str, cmd: Command, core: usize, log: PathBuf) -> anyhow::Result<Running> {
    let mut t = Command::new("taskset");
    t.arg("-c").arg(core.to_string()).arg(cmd.get_program());
    t.args(cmd.get_args());
    let f = std::fs::File::create(&log)?;
    t.stdin(Stdio::null()).stdout(f.try_clone()?).stderr(f);
    let child = t
        .spawn()
        .with_context(|| format!("starting {name} with taskset"))?;
    Ok(Running {
        name: name.to_string(),
        child,
        log,
    })
}

#[derive(Serialize)]
struct ServerResult {
    name: String,
    version: String,
    /// The server's process id while it ran (it is stopped before the report is written).
    pid: u32,
    load_s: f64,
    large_records: u64,
    large_digest: String,
    small_digest: String,
    large_axfr: Report,
    /// Median of the single large AXFRs, in ms.
    large_axfr_median_ms: f64,
    small: Vec<Report>,
    /// With --tls: the small zone again at the same levels with session resumption (`small`
    /// then has a full handshake per connection).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    small_resumed: Vec<Report>,
    /// With --tls: the port of the server's TLS listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_port: Option<u16>,
    /// The small zone through handoff protocol v1 (xfr-bench as the front end), at the same
    /// concurrency levels; only for a server that takes handoffs (xfrd).
    small_handoff: Vec<Report>,
    /// Direct TCP with the blocking client threads that the handoff mode uses, at the same
    /// levels, right before each handoff level: the reference of its ratios, so that they
    /// compare the paths into the engine rather than the two client drivers.
    small_direct_threads: Vec<Report>,
    soa_udp: Report,
    peak_rss_mib: f64,
    /// With --tsig: the untimed AXFR of the large zone, its messages and how many of them
    /// were signed (every MAC verified; RFC 8945 allows up to 99 unsigned in a row).
    #[serde(skip_serializing_if = "Option::is_none")]
    large_signed: Option<SignedMessages>,
    /// With --tsig: how the server refused an unsigned AXFR of the small zone (error kind).
    #[serde(skip_serializing_if = "Option::is_none")]
    unsigned_refused: Option<String>,
    /// /proc/loadavg (1, 5, 15 min) when this server's workloads started and ended: other
    /// work on the machine shows up here, and in the wall times, not in the CPU seconds.
    loadavg_start: String,
    loadavg_end: String,
}

#[derive(Serialize)]
struct CompareReport {
    date_utc: String,
    machine: String,
    kernel: String,
    cpus: usize,
    server_core: usize,
    client_cores: Vec<usize>,
    command: String,
    zones: Vec<Zone>,
    zone_source: String,
    reference: String,
    servers: Vec<ServerResult>,
    skipped: Vec<String>,
    /// Present only for a signed run (--tsig).
    #[serde(skip_serializing_if = "Option::is_none")]
    tsig: Option<SignedRun>,
    /// Present only for a run over TLS (--tls).
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<TlsRun>,
}

/// How a `--tls` run was protected.
#[derive(Serialize)]
struct TlsRun {
    /// The name the certificates were checked against.
    server_name: &'static str,
    /// The PEM files made for the run (in the work folder).
    certs: Certs,
}

#[derive(Serialize)]
struct SignedMessages {
    signed: u64,
    messages: u64,
}

/// How a run was signed.
#[derive(Serialize)]
struct SignedRun {
    key: String,
    algorithm: &'static str,
    /// Whether the timed transfers verified every response MAC too (--verify); the untimed
    /// ones always do.
    timed_responses_verified: bool,
    /// The servers were configured with another key (--server-tsig).
    server_key: Option<String>,
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn gen_zone(
    xfr_zone: &Path,
    origin: &str,
    records: u64,
    seed: u64,
    out: &Path,
) -> anyhow::Result<()> {
    let st = Command::new(xfr_zone)
        .args(["gen", "--origin", origin, "--records"])
        .arg(records.to_string())
        .arg("--seed")
        .arg(seed.to_string())
        .arg("-o")
        .arg(out)
        .status()
        .with_context(|| format!("running {}", xfr_zone.display()))?;
    anyhow::ensure!(st.success(), "xfr-zone gen failed for {origin}");
    Ok(())
}

fn zone_flag(spec: &str) -> anyhow::Result<Zone> {
    let (o, f) = spec
        .split_once('=')
        .context("zone flags want ORIGIN=FILE")?;
    let mut origin = o.to_string();
    if !origin.ends_with('.') {
        origin.push('.');
    }
    let file = std::fs::canonicalize(f).with_context(|| format!("zone file {f}"))?;
    Ok(Zone { origin, file })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        0.0
    } else {
        v[v.len() / 2]
    }
}

pub fn run(a: CompareArgs) -> anyhow::Result<()> {
    let t_all = Instant::now();
    let client_key = a
        .tsig
        .as_deref()
        .map(|v| KeySpec::parse("--tsig", v))
        .transpose()?;
    let server_key = match &a.server_tsig {
        Some(v) => Some(KeySpec::parse("--server-tsig", v)?),
        None => client_key.clone(),
    };
    // Counted before any pinning: available_parallelism follows this thread's affinity.
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let work = match &a.workdir {
        Some(p) => {
            std::fs::create_dir_all(p)?;
            WorkDir {
                path: std::fs::canonicalize(p)?,
                remove: false,
            }
        }
        None => {
            let p = std::env::temp_dir().join(format!("xfr-bench-compare-{}", std::process::id()));
            std::fs::create_dir_all(&p)?;
            WorkDir {
                path: p,
                remove: true,
            }
        }
    };
    anyhow::ensure!(
        find_binary(&None, "taskset").is_some(),
        "taskset is needed to pin servers (util-linux)"
    );

    // Zones.
    let (large, small, zone_source) = match (&a.large, &a.small) {
        (Some(l), Some(s)) => (
            zone_flag(l)?,
            zone_flag(s)?,
            "given by --large/--small".to_string(),
        ),
        (None, None) => {
            let xz = find_binary(&a.xfr_zone, "xfr-zone").context(
                "xfr-zone not found: build it (cargo build -p xfr-tools) or pass --xfr-zone, \
                 or give zone files with --large ORIGIN=FILE --small ORIGIN=FILE",
            )?;
            let l = Zone {
                origin: "large.bench.".into(),
                file: work.path.join("large.bench.zone"),
            };
            let s = Zone {
                origin: "small.bench.".into(),
                file: work.path.join("small.bench.zone"),
            };
            let t = Instant::now();
            gen_zone(&xz, &l.origin, a.large_records, a.seed, &l.file)?;
            gen_zone(&xz, &s.origin, a.small_records, a.seed, &s.file)?;
            eprintln!("zones generated in {:.1} s", t.elapsed().as_secs_f64());
            (
                l,
                s,
                format!(
                    "xfr-zone gen --seed {} ({} and {} records)",
                    a.seed, a.large_records, a.small_records
                ),
            )
        }
        _ => bail!("give both --large and --small, or neither"),
    };
    let zones = vec![large.clone(), small.clone()];
    let timeout = Duration::from_secs_f64(a.timeout);
    let certs = match a.tls {
        true => Some(make_certs(&work.path.join("tls"))?),
        false => None,
    };
    let tls_opts = |resume: bool| {
        certs.as_ref().map(|c| crate::tls::TlsOptions {
            ca: c.ca.clone(),
            name: TLS_SERVER_NAME.to_string(),
            resume,
            padding: false,
        })
    };

    let mut results = Vec::new();
    let mut skipped = Vec::new();
    for (i, name) in a.servers.iter().enumerate() {
        let bin = match name.as_str() {
            "xfrd" => find_binary(&a.xfrd, "xfrd"),
            other => find_binary(&None, other),
        };
        let Some(bin) = bin else {
            eprintln!("== {name}: binary not found, skipped");
            skipped.push(format!("{name} (binary not found)"));
            continue;
        };
        if a.tls && name == "knotd" {
            // Knot DNS serves DNS over QUIC from 3.3 on and XoT not at all (3.2 here).
            let why = "knotd (no XoT server in Knot DNS 3.2: it serves zone transfers over \
                       plain TCP only)";
            eprintln!("== {name}: skipped over TLS: {why}");
            skipped.push(why.to_string());
            continue;
        }
        let version = match name.as_str() {
            "nsd" => version_of(&bin, &["-v"]),
            "named" => version_of(&bin, &["-v"]),
            _ => version_of(&bin, &["--version"]),
        };
        let port = a.base_port + i as u16;
        let target: SocketAddr = ([127, 0, 0, 1], port).into();
        let tls_listen = certs.as_ref().map(|c| TlsListen {
            port: a.base_port + (a.servers.len() + i) as u16,
            certs: c,
        });
        // The transfers go to the TLS listener; readiness and SOA queries to the plain one.
        let xfr_target: SocketAddr = match &tls_listen {
            Some(t) => ([127, 0, 0, 1], t.port).into(),
            None => target,
        };
        let dir = work.path.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        eprintln!(
            "== {name} ({version}) on {target}{}, pinned to core {}",
            tls_listen
                .as_ref()
                .map(|t| format!(" (TLS on {})", t.port))
                .unwrap_or_default(),
            a.server_core
        );
        let cmd = server_command(
            name,
            &bin,
            &dir,
            port,
            &zones,
            server_key.as_ref(),
            tls_listen.as_ref(),
        )?;
        let t_start = Instant::now();
        let mut server = start_pinned(name, cmd, a.server_core, dir.join("server.log"))?;
        // Ready when it answers SOA for both zones; bounded.
        loop {
            if let Ok(Some(st)) = server.child.try_wait() {
                bail!("{name} exited ({st}) while loading:\n{}", server.log_tail());
            }
            let tls_up = || {
                tls_listen.is_none()
                    || TcpStream::connect_timeout(&xfr_target, Duration::from_millis(200)).is_ok()
            };
            if zones.iter().all(|z| answers_soa(target, &z.origin)) && tls_up() {
                break;
            }
            if t_start.elapsed() > READY_TIMEOUT {
                bail!(
                    "{name} did not answer SOA within {READY_TIMEOUT:?}:\n{}",
                    server.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let load_s = t_start.elapsed().as_secs_f64();
        let loadavg_start = loadavg();
        eprintln!("   ready in {load_s:.2} s (load average {loadavg_start})");
        let base = LoadConfig {
            mode: Mode::Axfr,
            target: xfr_target,
            zone: large.origin.clone(),
            concurrency: 1,
            transfers: 1,
            duration: Duration::from_secs(120),
            timeout,
            tsig: client_key.as_ref().map(|k| k.key.clone()),
            tsig_verify: true,
            verify: true,
            expect_records: None,
            server_pid: Some(server.pid()),
            client_cores: a.client_cores.clone(),
            progress: false,
            handoff_socket: None,
            read_bytes: load::READ_BUF_BYTES,
            handoff_conns: HANDOFF_CONNS,
            rcvbuf: load::RCVBUF_BYTES,
            driver: load::Driver::Events,
            client_threads: 0,
            tls: tls_opts(false),
            busy_poll: false,
        };
        // Untimed verified transfers first: they warm caches and give the digests that must
        // agree between servers.
        let vl = load::run(&base)?;
        let vs = load::run(&LoadConfig {
            zone: small.origin.clone(),
            ..base.clone()
        })?;
        for (z, r) in [(&large, &vl), (&small, &vs)] {
            if r.transfers != 1 {
                let signed = match &client_key {
                    Some(k) => format!(
                        " (signed with TSIG key {} {}: NOTAUTH, REFUSED or a tsig_* error \
                         means that the server and the client do not share the key)",
                        k.name, k.algorithm
                    ),
                    None => String::new(),
                };
                std::thread::sleep(LOG_FLUSH_WAIT);
                bail!(
                    "{name}: verified AXFR of {} failed: {}{signed}\n{}",
                    z.origin,
                    r.first_error.as_deref().unwrap_or("no transfer"),
                    server.log_tail()
                );
            }
        }
        // Signed runs: the server must refuse a transfer without the key (bounded: one
        // transfer, 5 s at most).
        let unsigned_refused = match &client_key {
            None => None,
            Some(k) => {
                let r = load::run(&LoadConfig {
                    zone: small.origin.clone(),
                    tsig: None,
                    verify: false,
                    timeout: timeout.min(Duration::from_secs(5)),
                    ..base.clone()
                })?;
                if r.transfers > 0 {
                    bail!(
                        "{name} served an unsigned AXFR of {}, though its config allows \
                         transfers only with key {}",
                        small.origin,
                        k.name
                    );
                }
                let how = r.errors_by_kind.keys().next().cloned().unwrap_or_default();
                eprintln!("   unsigned AXFR refused: {how}");
                Some(how)
            }
        };
        // The timed runs: signed as the untimed ones, checked in full only with --verify.
        let timed = LoadConfig {
            verify: a.verify,
            tsig_verify: a.verify,
            ..base.clone()
        };
        let digest = |r: &Report| {
            r.verify
                .as_ref()
                .map(|v| v.digest.clone())
                .unwrap_or_default()
        };
        // The large zone, one transfer at a time, each its own run (median of the runs).
        let mut singles = Vec::new();
        for _ in 0..a.large_repeat {
            singles.push(load::run(&timed)?);
        }
        let large_axfr_median_ms = median(singles.iter().map(|r| r.latency_ms.max).collect());
        // The report kept for the large zone is the median run.
        let mut sorted: Vec<&Report> = singles.iter().collect();
        sorted.sort_by(|x, y| x.latency_ms.max.total_cmp(&y.latency_ms.max));
        let large_axfr = sorted[sorted.len() / 2].clone();
        eprintln!(
            "   AXFR {} records: median {:.1} ms",
            vl.verify.as_ref().map(|v| v.records).unwrap_or(0),
            large_axfr_median_ms
        );
        // The small zone at each concurrency level; over TLS twice: a full handshake on every
        // connection, then with one session store for the run (resumed handshakes).
        // One level of the small zone: at most --small-transfers or --small-duration.
        let small_level = |c: usize| LoadConfig {
            zone: small.origin.clone(),
            concurrency: c,
            transfers: a.small_transfers,
            duration: Duration::from_secs_f64(a.small_duration),
            ..timed.clone()
        };
        let small_levels = |tls: Option<crate::tls::TlsOptions>, what: &str| {
            let mut reports = Vec::new();
            for &c in &a.concurrency {
                let r = load::run(&LoadConfig {
                    tls: tls.clone(),
                    ..small_level(c)
                })?;
                let handshakes = r.tls.as_ref().map_or(String::new(), |t| {
                    format!(
                        ", handshakes {} full {} resumed",
                        t.handshakes_full, t.handshakes_resumed
                    )
                });
                eprintln!(
                    "   AXFR small c={c}{what}: {:.0}/s p99 {:.1} ms, {} errors{handshakes}",
                    r.transfers_per_s, r.latency_ms.p99, r.errors
                );
                reports.push(r);
            }
            anyhow::Ok(reports)
        };
        let small_reports = small_levels(tls_opts(false), "")?;
        let small_resumed = match a.tls {
            true => small_levels(tls_opts(true), ", TLS resumed")?,
            false => Vec::new(),
        };
        let mut small_handoff = Vec::new();
        let mut small_direct_threads = Vec::new();
        let sock = dir.join("handoff.sock");
        if name == "xfrd" && sock.exists() && !a.tls {
            for &c in &a.concurrency {
                let d = load::run(&LoadConfig {
                    driver: load::Driver::Threads,
                    ..small_level(c)
                })?;
                small_direct_threads.push(d);
                let r = load::run(&LoadConfig {
                    mode: Mode::Handoff,
                    handoff_socket: Some(sock.clone()),
                    ..small_level(c)
                })?;
                eprintln!(
                    "   AXFR small by handoff c={c}: {:.0}/s p99 {:.1} ms, {} errors",
                    r.transfers_per_s, r.latency_ms.p99, r.errors
                );
                small_handoff.push(r);
            }
        }
        let soa_udp = load::run(&LoadConfig {
            mode: Mode::Soa { tcp: false },
            target,
            zone: small.origin.clone(),
            concurrency: a.soa_concurrency,
            transfers: a.soa_queries,
            duration: Duration::from_secs_f64(a.soa_duration),
            timeout: Duration::from_secs(1),
            tsig: None,
            tls: None,
            verify: false,
            ..base.clone()
        })?;
        eprintln!(
            "   SOA UDP: {:.0} q/s p99 {:.3} ms, {} errors",
            soa_udp.transfers_per_s, soa_udp.latency_ms.p99, soa_udp.errors
        );
        let peak_rss_mib = crate::procstat::Sampler::start(server.pid())
            .map(|s| s.peak_rss_mib())
            .unwrap_or(0.0);
        results.push(ServerResult {
            name: name.clone(),
            version,
            pid: server.pid(),
            load_s,
            large_records: vl.verify.as_ref().map(|v| v.records).unwrap_or(0),
            large_digest: digest(&vl),
            small_digest: digest(&vs),
            large_axfr,
            large_axfr_median_ms,
            small: small_reports,
            small_resumed,
            tls_port: tls_listen.as_ref().map(|t| t.port),
            small_handoff,
            small_direct_threads,
            soa_udp,
            peak_rss_mib,
            large_signed: vl.tsig.as_ref().map(|t| SignedMessages {
                signed: t.messages_signed,
                messages: vl.messages_total,
            }),
            unsigned_refused,
            loadavg_start,
            loadavg_end: loadavg(),
        });
        drop(server);
    }
    anyhow::ensure!(!results.is_empty(), "no server could be run: {skipped:?}");
    let reference = results[0].name.clone();
    let report = CompareReport {
        date_utc: sh("date -u +%Y-%m-%dT%H:%M:%SZ"),
        machine: sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"),
        kernel: sh("uname -r"),
        cpus,
        server_core: a.server_core,
        client_cores: a.client_cores.clone(),
        command: command_line(std::env::args()),
        zones,
        zone_source,
        reference,
        servers: results,
        skipped,
        tsig: client_key.as_ref().map(|k| SignedRun {
            key: k.name.clone(),
            algorithm: k.algorithm,
            timed_responses_verified: a.verify,
            server_key: a
                .server_tsig
                .as_ref()
                .and(server_key.as_ref())
                .map(|k| format!("{} ({})", k.name, k.algorithm)),
        }),
        tls: certs.as_ref().map(|c| TlsRun {
            server_name: TLS_SERVER_NAME,
            certs: c.clone(),
        }),
    };
    let md = markdown(&report, &a, t_all.elapsed());
    println!("{md}");
    if let Some(p) = &a.markdown {
        write(p, md)?;
    }
    if let Some(p) = &a.json {
        write(p, serde_json::to_string_pretty(&report)? + "\n")?;
    }
    if let Some(p) = &a.svg {
        write(p, crate::svg::chart(&chart_data(&report, &a)))?;
    }
    Ok(())
}

fn chart_data(r: &CompareReport, a: &CompareArgs) -> crate::svg::Data {
    crate::svg::Data {
        title: format!(
            "xfr-bench compare, {} ({} cores), {}{}",
            r.machine,
            r.cpus,
            r.date_utc,
            r.tsig
                .as_ref()
                .map(|t| format!(", TSIG {}", t.algorithm))
                .unwrap_or_default()
                + if r.tls.is_some() {
                    ", over TLS (full handshakes)"
                } else {
                    ""
                }
        ),
        servers: r.servers.iter().map(|s| s.name.clone()).collect(),
        concurrency: a.concurrency.clone(),
        small_tps: r
            .servers
            .iter()
            .map(|s| s.small.iter().map(|x| x.transfers_per_s).collect())
            .collect(),
        small_latency: r
            .servers
            .iter()
            .map(|s| {
                s.small
                    .iter()
                    .map(|x| {
                        let p = x.latency_ms;
                        [p.p50, p.p90, p.p99, p.p999, p.max]
                    })
                    .collect()
            })
            .collect(),
        large_ms: r.servers.iter().map(|s| s.large_axfr_median_ms).collect(),
    }
}

fn ratio(v: f64, reference: f64) -> String {
    if reference > 0.0 {
        format!("{:.2}×", v / reference)
    } else {
        "–".into()
    }
}

fn markdown(r: &CompareReport, a: &CompareArgs, took: Duration) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let names: Vec<&str> = r.servers.iter().map(|s| s.name.as_str()).collect();
    let _ = writeln!(
        s,
        "Measured {} on {} ({} cores, kernel {}).",
        r.date_utc,
        r.machine.trim(),
        r.cpus,
        r.kernel
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "Versions, and the machine's load average (1, 5, 15 min) when each server's run began and ended:");
    for x in &r.servers {
        let _ = writeln!(
            s,
            "- {}: {} (load {} → {})",
            x.name, x.version, x.loadavg_start, x.loadavg_end
        );
    }
    for x in &r.skipped {
        let _ = writeln!(s, "- skipped: {x}");
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Noise control: one server at a time, pinned to core {} with `taskset`; the client's \
         threads pinned to core(s) {:?} with core_affinity; everything on loopback. The AXFR \
         client is xfr-bench's event driver: one thread per client core multiplexing all its \
         connections with epoll into one buffer, each socket with a 1 MiB SO_RCVBUF; the SOA \
         client likewise multiplexes its UDP sockets on one thread. Each server \
         first serves one verified AXFR of each zone (untimed; the record-set digests below must \
         agree). The large zone: {} single AXFRs, each its own run, median shown. The small zone: \
         at most {} transfers or {} s per concurrency level. SOA: at most {} UDP queries or {} s \
         on {} sockets, one query in flight on each. Zones: {}. Whole run: {:.0} s.",
        r.server_core,
        r.client_cores,
        a.large_repeat,
        a.small_transfers,
        a.small_duration,
        a.soa_queries,
        a.soa_duration,
        a.soa_concurrency,
        r.zone_source,
        took.as_secs_f64()
    );
    let _ = writeln!(s);
    if let Some(t) = &r.tsig {
        let refused = r
            .servers
            .iter()
            .map(|x| {
                format!(
                    "{} {}",
                    x.name,
                    x.unsigned_refused.as_deref().unwrap_or("?")
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            s,
            "Signed (TSIG, RFC 8945): every AXFR query signed with key `{}` ({}); each server's \
             config holds the key and allows transfers only with it (an unsigned AXFR was \
             refused: {refused}). The untimed AXFRs verified the MAC chain of every message \
             (signed messages below); the timed ones {}. SOA queries are unsigned.",
            t.key,
            t.algorithm,
            if t.timed_responses_verified {
                "verified every MAC too (`--verify`)"
            } else {
                "signed their queries and read the answers without verifying the MACs, so \
                 that the client's HMAC does not bound them"
            }
        );
        if let Some(k) = &t.server_key {
            let _ = writeln!(s, "The servers were configured with another key: {k}.");
        }
        let _ = writeln!(s);
    }
    if let Some(t) = &r.tls {
        let _ = writeln!(
            s,
            "Over TLS (XoT, RFC 9103): every AXFR on a TLS 1.3 connection with ALPN \"dot\", \
             the server certificate (made for the run, name `{}`) checked against the run's CA; \
             the client is rustls (ring provider, X25519 first), one connection per transfer. \
             The small zone ran twice per level: a full handshake on every connection, then \
             with one session store for the run (TLS 1.3 tickets; the first connection of each \
             client thread or so is full). SOA queries stay on UDP.",
            t.server_name
        );
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "Command: `{}`", r.command);
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Ratios are to {} (for times, below 1 is faster than {}; for rates, above 1).",
        r.reference, r.reference
    );
    let _ = writeln!(s);
    let _ = write!(s, "| workload | metric |");
    for n in &names {
        let _ = write!(s, " {n} |");
    }
    let _ = writeln!(s);
    let _ = write!(s, "|---|---|");
    for _ in &names {
        let _ = write!(s, "---:|");
    }
    let _ = writeln!(s);
    let row = |s: &mut String, w: &str, m: &str, vals: Vec<f64>, fmt: &dyn Fn(f64) -> String| {
        let _ = write!(s, "| {w} | {m} |");
        let r0 = vals.first().copied().unwrap_or(0.0);
        for (i, v) in vals.iter().enumerate() {
            if i == 0 {
                let _ = write!(s, " {} |", fmt(*v));
            } else {
                let _ = write!(s, " {} ({}) |", fmt(*v), ratio(*v, r0));
            }
        }
        let _ = writeln!(s);
    };
    let f0 = |v: f64| format!("{v:.0}");
    let f1 = |v: f64| format!("{v:.1}");
    let f2 = |v: f64| format!("{v:.2}");
    let f3 = |v: f64| format!("{v:.3}");
    let srv = &r.servers;
    let large_name = match r.tls {
        Some(_) => format!("XoT AXFR {} records", srv[0].large_records),
        None => format!("AXFR {} records", srv[0].large_records),
    };
    row(
        &mut s,
        "start",
        "load to first SOA answer, s",
        srv.iter().map(|x| x.load_s).collect(),
        &f2,
    );
    row(
        &mut s,
        &large_name,
        "median time, ms",
        srv.iter().map(|x| x.large_axfr_median_ms).collect(),
        &f1,
    );
    row(
        &mut s,
        &large_name,
        "MB/s",
        srv.iter().map(|x| x.large_axfr.mb_per_s).collect(),
        &f0,
    );
    row(
        &mut s,
        &large_name,
        "bytes on the wire, MB",
        srv.iter()
            .map(|x| x.large_axfr.bytes_total as f64 / 1e6)
            .collect(),
        &f1,
    );
    row(
        &mut s,
        &large_name,
        "messages",
        srv.iter()
            .map(|x| x.large_axfr.messages_per_transfer)
            .collect(),
        &f0,
    );
    if r.tsig.is_some() {
        let _ = write!(
            s,
            "| {large_name} | signed / all messages (untimed AXFR, every MAC verified) |"
        );
        for x in srv {
            let (signed, all) = x
                .large_signed
                .as_ref()
                .map_or((0, 0), |m| (m.signed, m.messages));
            let _ = write!(s, " {signed} / {all} |");
        }
        let _ = writeln!(s);
    }
    row(
        &mut s,
        &large_name,
        "time to first byte, ms",
        srv.iter().map(|x| x.large_axfr.ttfb_ms.max).collect(),
        &f2,
    );
    row(
        &mut s,
        &large_name,
        "server CPU, s",
        srv.iter()
            .map(|x| x.large_axfr.server_cpu_s.unwrap_or(0.0))
            .collect(),
        &f3,
    );
    row(
        &mut s,
        &large_name,
        "client CPU, s",
        srv.iter().map(|x| x.large_axfr.client_cpu_s).collect(),
        &f3,
    );
    // Over TLS the small zone ran twice: a full handshake per connection, then resumed.
    type Set = fn(&ServerResult) -> &Vec<Report>;
    let sets: Vec<(&str, Set)> = if r.tls.is_some() {
        vec![
            (", full handshakes", |x| &x.small),
            (", resumed", |x| &x.small_resumed),
        ]
    } else {
        vec![("", |x| &x.small)]
    };
    let proto = if r.tls.is_some() { "XoT" } else { "AXFR" };
    for (label, set) in sets {
        for (i, c) in a.concurrency.iter().enumerate() {
            let w = format!("{proto} 10k-zone, c={c}{label}");
            let get = |f: &dyn Fn(&Report) -> f64| {
                srv.iter()
                    .map(|x| set(x).get(i).map(f).unwrap_or(0.0))
                    .collect::<Vec<f64>>()
            };
            row(&mut s, &w, "transfers/s", get(&|r| r.transfers_per_s), &f0);
            row(
                &mut s,
                &w,
                "latency p50, ms",
                get(&|r| r.latency_ms.p50),
                &f2,
            );
            row(
                &mut s,
                &w,
                "latency p99, ms",
                get(&|r| r.latency_ms.p99),
                &f2,
            );
            row(
                &mut s,
                &w,
                "latency max, ms",
                get(&|r| r.latency_ms.max),
                &f1,
            );
            // Runs end at a transfer count or a duration, so CPU is compared per transfer.
            let per_ms = |cpu: f64, r: &Report| {
                if r.transfers > 0 {
                    cpu * 1000.0 / r.transfers as f64
                } else {
                    0.0
                }
            };
            row(
                &mut s,
                &w,
                "server CPU per transfer, ms",
                get(&|r| per_ms(r.server_cpu_s.unwrap_or(0.0), r)),
                &f3,
            );
            let _ = write!(s, "| {w} | client CPU per transfer, ms; errors |");
            for x in srv {
                match set(x).get(i) {
                    Some(r) => {
                        let _ = write!(s, " {:.3}; {} |", per_ms(r.client_cpu_s, r), r.errors);
                    }
                    None => {
                        let _ = write!(s, " – |");
                    }
                }
            }
            let _ = writeln!(s);
            if r.tls.is_some() {
                let _ = write!(s, "| {w} | handshakes full / resumed; p50 ms |");
                for x in srv {
                    let t = set(x).get(i).and_then(|r| r.tls.as_ref());
                    let _ = match t {
                        Some(t) => write!(
                            s,
                            " {} / {}; {:.2} |",
                            t.handshakes_full, t.handshakes_resumed, t.handshake_ms.p50
                        ),
                        None => write!(s, " – |"),
                    };
                }
                let _ = writeln!(s);
            }
        }
    }
    row(
        &mut s,
        "SOA over UDP",
        "queries/s",
        srv.iter().map(|x| x.soa_udp.transfers_per_s).collect(),
        &f0,
    );
    row(
        &mut s,
        "SOA over UDP",
        "latency p50, ms",
        srv.iter().map(|x| x.soa_udp.latency_ms.p50).collect(),
        &f3,
    );
    row(
        &mut s,
        "SOA over UDP",
        "latency p99, ms",
        srv.iter().map(|x| x.soa_udp.latency_ms.p99).collect(),
        &f3,
    );
    let _ = write!(
        s,
        "| SOA over UDP | CPU per query, µs: server / client; errors |"
    );
    for x in srv {
        let q = x.soa_udp.transfers.max(1) as f64;
        let _ = write!(
            s,
            " {:.1} / {:.1}; {} |",
            x.soa_udp.server_cpu_s.unwrap_or(0.0) * 1e6 / q,
            x.soa_udp.client_cpu_s * 1e6 / q,
            x.soa_udp.errors
        );
    }
    let _ = writeln!(s);
    row(
        &mut s,
        "memory",
        "peak RSS, MiB",
        srv.iter().map(|x| x.peak_rss_mib).collect(),
        &f0,
    );
    let _ = writeln!(s);
    for x in srv.iter().filter(|x| !x.small_handoff.is_empty()) {
        let _ = writeln!(
            s,
            "{} through handoff protocol v1 (xfr-bench as the front end: per transfer it \
             connects to itself, passes the accepted socket and the query over the Unix \
             socket, and reads the AXFR on the client end, one blocking thread per connection), \
             10k-record zone, against direct TCP with the same blocking client threads in the \
             same run:",
            x.name
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "| concurrency | transfers/s | ratio to direct | p50, ms | p99, ms | server CPU per transfer, ms | errors |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|");
        for (i, c) in a.concurrency.iter().enumerate() {
            let (Some(h), Some(d)) = (x.small_handoff.get(i), x.small_direct_threads.get(i)) else {
                continue;
            };
            let _ = writeln!(
                s,
                "| {c} | {:.0} | {} | {:.2} | {:.2} | {:.3} | {} |",
                h.transfers_per_s,
                ratio(h.transfers_per_s, d.transfers_per_s),
                h.latency_ms.p50,
                h.latency_ms.p99,
                h.server_cpu_s.unwrap_or(0.0) * 1000.0 / h.transfers.max(1) as f64,
                h.errors
            );
        }
        let _ = writeln!(s);
    }
    // Is the harness cheaper than what it measures? Listed per throughput workload.
    let mut heavier = Vec::new();
    for x in srv {
        let mut runs: Vec<(String, &Report)> = vec![("large AXFR".into(), &x.large_axfr)];
        for (i, c) in a.concurrency.iter().enumerate() {
            if let Some(r) = x.small.get(i) {
                runs.push((format!("10k c={c}"), r));
            }
            if let Some(r) = x.small_resumed.get(i) {
                runs.push((format!("10k c={c} resumed"), r));
            }
        }
        runs.push(("SOA UDP".into(), &x.soa_udp));
        for (w, r) in runs {
            // /proc CPU times tick at 10 ms: below 50 ms a comparison says nothing.
            let server = r.server_cpu_s.unwrap_or(0.0);
            if r.client_cpu_s >= server && (r.client_cpu_s >= 0.05 || server >= 0.05) {
                heavier.push(format!(
                    "{} {w} ({:.2} s vs {:.2} s)",
                    x.name,
                    r.client_cpu_s,
                    r.server_cpu_s.unwrap_or(0.0)
                ));
            }
        }
    }
    if heavier.is_empty() {
        let _ = writeln!(
            s,
            "The client used less CPU than the server in every workload above."
        );
    } else {
        // Over TLS the client also checks certificates, makes key exchanges and decrypts.
        let spent = if r.tls.is_some() {
            "its time spent on handshakes (certificate checks, key exchange), decryption \
             and the kernel's copy of received bytes"
        } else {
            "its time mostly the kernel copying received bytes"
        };
        let _ = writeln!(
            s,
            "The client used as much CPU as the server or more in: {}. There the \
             throughput is a lower bound for the server: the client (one core, {spent}) may \
             have limited it.",
            heavier.join(", ")
        );
    }
    let _ = writeln!(s);
    let agree_l = srv.iter().all(|x| x.large_digest == srv[0].large_digest);
    let agree_s = srv.iter().all(|x| x.small_digest == srv[0].small_digest);
    let _ = writeln!(
        s,
        "Record-set digests (xxh3 of canonical records): large zone {} ({}), small zone {} ({}).",
        if agree_l { "agree" } else { "DIFFER" },
        srv.iter()
            .map(|x| format!("{} {}", x.name, &x.large_digest))
            .collect::<Vec<_>>()
            .join(", "),
        if agree_s { "agree" } else { "DIFFER" },
        srv.iter()
            .map(|x| format!("{} {}", x.name, &x.small_digest))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_spec_in_either_order_for_the_configs() {
        for spec in [
            "Bench-Key:hmac-sha256:c2VjcmV0c2VjcmV0",
            "hmac-sha256:bench-key.:c2VjcmV0c2VjcmV0",
        ] {
            let k = KeySpec::parse("--tsig", spec).unwrap();
            assert_eq!(k.name, "bench-key.");
            assert_eq!(k.algorithm, "hmac-sha256");
            assert_eq!(k.secret, "c2VjcmV0c2VjcmV0");
        }
        let e = KeySpec::parse("--tsig", "k:hmac-md5:c2VjcmV0").unwrap_err();
        assert!(format!("{e:#}").contains("unknown TSIG algorithm"), "{e:#}");
        // A name that would need quoting or escapes in a config is refused, not written.
        let e = KeySpec::parse("--tsig", r"a\;b:hmac-sha256:c2VjcmV0").unwrap_err();
        assert!(format!("{e:#}").contains("letters, digits"), "{e:#}");
    }

    #[test]
    fn recorded_command_hides_secrets() {
        let args = [
            "xfr-bench",
            "compare",
            "--tsig",
            "k.:hmac-sha256:c2VjcmV0",
            "--server-tsig=k.:hmac-sha1:b3RoZXI=",
            "--servers",
            "xfrd",
        ]
        .map(String::from);
        assert_eq!(
            command_line(args.into_iter()),
            "xfr-bench compare --tsig k.:hmac-sha256:<secret> \
             --server-tsig=k.:hmac-sha1:<secret> --servers xfrd"
        );
    }
}

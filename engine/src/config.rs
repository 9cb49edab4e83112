//! Configuration: the TOML file and the command-line flags that override it.
//!
//! Every key, its default and why is listed in `engine/CONFIG.md`; the defaults live here as
//! named constants. Unknown keys are errors (a typo must not silently fall back to a default).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use std::sync::Arc;

use crate::acl::{Acl, Prefix, Rule, RuleTransport};
use crate::keys::Keys;

/// Where `xfrd serve` listens with no configuration at all.
pub const LISTEN_DEFAULT: &str = "127.0.0.1:5353";
/// Connection slots per core. Each slot is about 8 KiB, allocated at start-up, so the default
/// costs 8 MiB per core; 1024 per core serves the 1,000-connection test on 2 cores with room.
pub const MAX_CONNECTIONS_PER_CORE_DEFAULT: u32 = 1024;
/// Transfers in flight per core. A transfer costs no memory beyond its slot (sends come from
/// the mmap), so the bound is about fairness of the link, not memory: 256 per core.
pub const MAX_TRANSFERS_PER_CORE_DEFAULT: u32 = 256;
/// A connection with no query and nothing to send for this long is closed (RFC 7766 section
/// 6.2.3 asks servers to close idle connections; knotd and nsd use a few seconds to tens).
pub const IDLE_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// A send that makes no progress for this long means the peer stopped reading: it is cut off.
/// One batch is at most 256 KiB; a secondary that cannot take that in 10 s is not reading.
pub const SEND_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Queries answered on one connection before the server closes it after the last answer.
pub const MAX_QUERIES_PER_CONNECTION_DEFAULT: u32 = 1000;
/// Transfers served at once on one connection (RFC 7766 section 6.2.1.1, RFC 9103 section 5.1):
/// queries beyond it wait in the connection's receive buffer until one ends.
pub const MAX_TRANSFERS_PER_CONNECTION_DEFAULT: u32 = 8;
/// The most `max_transfers_per_connection` may be: each transfer in flight holds a question and
/// an OPT buffer, and a round of the connection's sends visits each once.
pub const MAX_TRANSFERS_PER_CONNECTION_MAX: u32 = 64;
/// On SIGTERM/SIGINT, transfers in flight get this long to finish.
pub const SHUTDOWN_GRACE_MS_DEFAULT: u64 = 10_000;
/// A SENDMSG stops taking messages once it holds this many bytes (at most 64 messages in any
/// case). Measured on the 2-vCPU dev VM (1M-record AXFR, 600 10k-record AXFRs at concurrency
/// 8, xfr-bench): 64 KiB, 256 KiB and 1 MiB were within noise of each other (about 60 ms and
/// 10 ms of server CPU per 1M-record AXFR); 256 KiB means about 140 SENDMSGs per 1M-record
/// AXFR and stays below a loopback socket's send buffer.
pub const SEND_BATCH_BYTES_DEFAULT: u32 = 256 * 1024;
/// listen(2) backlog. knotd's 10 drops SYNs at 64 simultaneous connects (FINDINGS.md); the
/// kernel caps it at net.core.somaxconn (4096 on current kernels).
pub const LISTEN_BACKLOG_DEFAULT: u32 = 4096;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub listen: Vec<String>,
    #[serde(default)]
    pub cores: Option<usize>,
    #[serde(default)]
    pub store_dir: Option<PathBuf>,
    /// Unix socket for handoff protocol v1 (DESIGN.md); absent: no handoff.
    #[serde(default)]
    pub handoff: Option<PathBuf>,
    /// Peer uids allowed on the handoff socket; absent: xfrd's own effective uid and root.
    #[serde(default)]
    pub handoff_uids: Option<Vec<u32>>,
    /// Permission bits of the handoff socket file; absent: 0o600 (owner only).
    #[serde(default)]
    pub handoff_mode: Option<u32>,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub acl: AclConfig,
    #[serde(default, rename = "zone")]
    pub zones: Vec<ZoneFileConfig>,
    #[serde(default, rename = "key")]
    pub keys: Vec<KeyFileConfig>,
    #[serde(default)]
    pub notify: NotifyConfig,
    #[serde(default)]
    pub ixfr: IxfrConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub control: ControlConfig,
    #[serde(default, rename = "tls")]
    pub tls: Vec<TlsFileConfig>,
}

/// A `[[tls]]` table: a DNS-over-TLS (XoT, RFC 9103) listener.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsFileConfig {
    /// "ADDR:PORT" addresses (853 is the DoT/XoT port).
    pub listen: Vec<String>,
    /// PEM file: the certificate chain, the server's certificate first.
    pub cert: PathBuf,
    /// PEM file: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM file of CA certificates: clients must present a certificate signed by one (mutual
    /// TLS); absent: no client certificate asked for.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// EDNS padding (RFC 7830) of answers to queries that carry a Padding option.
    #[serde(default = "default_true")]
    pub padding: bool,
    /// The block length answers are padded to (RFC 8467 section 4.1 recommends 468).
    #[serde(default = "default_padding_block")]
    pub padding_block: usize,
}

fn default_true() -> bool {
    true
}

fn default_padding_block() -> usize {
    xfr_proto::wire::PADDING_BLOCK_RESPONSES
}

/// One XoT listener, resolved (file paths relative to the config file's folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsListenerConfig {
    pub listen: Vec<SocketAddr>,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
    /// Answers to queries with a Padding option are padded to a multiple of this many bytes;
    /// 0: no padding (`padding = false`).
    pub pad_block: usize,
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `ADDR:PORT` serving `/metrics` over HTTP, e.g. "127.0.0.1:9153"; absent: off.
    #[serde(default)]
    pub listen: Option<String>,
}

/// `[control]`: the socket `xfrctl` talks to.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// Unix socket path (created owner-only); absent: no control socket.
    #[serde(default)]
    pub socket: Option<PathBuf>,
    /// Peer uids allowed; absent: xfrd's own effective uid and root.
    #[serde(default)]
    pub uids: Option<Vec<u32>>,
}

/// `[notify]`: how NOTIFYs are retried and paced (RFC 1996).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    pub attempts: u32,
    pub retry_interval_ms: u64,
    pub max_per_second: u32,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        let p = xfr_proto::notify::NotifyPolicy::default();
        NotifyConfig {
            attempts: p.attempts,
            retry_interval_ms: p.retry_interval_ms,
            max_per_second: p.max_per_second,
        }
    }
}

impl NotifyConfig {
    pub fn policy(&self) -> xfr_proto::notify::NotifyPolicy {
        xfr_proto::notify::NotifyPolicy {
            attempts: self.attempts,
            retry_interval_ms: self.retry_interval_ms,
            max_per_second: self.max_per_second,
        }
    }
}

/// Versions of a zone's IXFR history kept (RFC 1995 leaves it to the server; knotd keeps a
/// journal bounded by size, BIND by size too): 20 covers a secondary that missed a day of
/// hourly changes.
pub const IXFR_MAX_VERSIONS_DEFAULT: usize = 20;
/// An incremental answer larger than this times the AXFR is sent AXFR-style instead: past that
/// point the diff costs the secondary more than the zone.
pub const IXFR_MAX_RATIO_DEFAULT: f64 = 1.0;

/// `[ixfr]`: the journal's bounds.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IxfrConfig {
    pub max_versions: usize,
    /// Bytes of rendered diffs kept per zone; absent: the size of the zone's AXFR.
    pub max_journal_bytes: Option<u64>,
    pub max_ratio: f64,
}

impl Default for IxfrConfig {
    fn default() -> Self {
        IxfrConfig {
            max_versions: IXFR_MAX_VERSIONS_DEFAULT,
            max_journal_bytes: None,
            max_ratio: IXFR_MAX_RATIO_DEFAULT,
        }
    }
}

/// A `[[key]]` table: a TSIG key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFileConfig {
    pub name: String,
    pub algorithm: String,
    /// The base64 secret; exactly one of `secret` and `secret_file`.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// A file holding the base64 secret (whitespace around it ignored).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

/// A secret as written in the config: never shown by `Debug`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One entry of an `allow_transfer` list: a prefix string, or a table with an address and a
/// key.
#[derive(Debug, Clone)]
pub enum AclEntry {
    Prefix(String),
    Rule(AclRuleConfig),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclRuleConfig {
    pub address: String,
    #[serde(default)]
    pub key: Option<String>,
    /// "tcp" (the default: plain DNS only), "tls" or "any".
    #[serde(default)]
    pub transport: Option<String>,
}

impl<'de> Deserialize<'de> for AclEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = AclEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "an address prefix like \"192.0.2.0/24\" or a table like \
                     { address = \"192.0.2.0/24\", key = \"xfr-key.\" }",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<AclEntry, E> {
                Ok(AclEntry::Prefix(v.to_string()))
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                map: M,
            ) -> std::result::Result<AclEntry, M::Error> {
                AclRuleConfig::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(AclEntry::Rule)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter (`info`, `xfrd=debug`...); RUST_LOG overrides it.
    #[serde(default = "default_log_level")]
    pub level: String,
    /// How each line is written; `xfrd serve --log-format` overrides it.
    #[serde(default)]
    pub format: LogFormat,
}

/// The shape of xfrd's log lines on stderr. Read at start-up only: a reload keeps the format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// time, level, target, message and key=value fields on a line, for people
    #[default]
    Text,
    /// one JSON object per line (timestamp, level, message, the fields, target), for shippers
    Json,
}

fn default_log_level() -> String {
    "info".into()
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: default_log_level(),
            format: LogFormat::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_connections_per_core: u32,
    pub max_transfers_per_core: u32,
    pub idle_timeout_ms: u64,
    pub send_timeout_ms: u64,
    pub max_queries_per_connection: u32,
    pub max_transfers_per_connection: u32,
    pub shutdown_grace_ms: u64,
    pub listen_backlog: u32,
    pub send_batch_bytes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections_per_core: MAX_CONNECTIONS_PER_CORE_DEFAULT,
            max_transfers_per_core: MAX_TRANSFERS_PER_CORE_DEFAULT,
            idle_timeout_ms: IDLE_TIMEOUT_MS_DEFAULT,
            send_timeout_ms: SEND_TIMEOUT_MS_DEFAULT,
            max_queries_per_connection: MAX_QUERIES_PER_CONNECTION_DEFAULT,
            max_transfers_per_connection: MAX_TRANSFERS_PER_CONNECTION_DEFAULT,
            shutdown_grace_ms: SHUTDOWN_GRACE_MS_DEFAULT,
            listen_backlog: LISTEN_BACKLOG_DEFAULT,
            send_batch_bytes: SEND_BATCH_BYTES_DEFAULT,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclConfig {
    /// Default allow-transfer list for zones without their own; absent: loopback only.
    #[serde(default)]
    pub allow_transfer: Option<Vec<AclEntry>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneFileConfig {
    pub origin: String,
    /// The master file of a primary zone; exactly one of `file` and `primaries`.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// The primaries of a secondary zone, "ADDR:PORT", tried in order.
    #[serde(default)]
    pub primaries: Option<Vec<String>>,
    /// The `[[key]]` transfers in from the primaries are signed with.
    #[serde(default)]
    pub primary_key: Option<String>,
    #[serde(default)]
    pub allow_transfer: Option<Vec<AclEntry>>,
    /// Secondaries told of each new serial: "ADDR:PORT" (or "ADDR": port 53).
    #[serde(default)]
    pub notify: Vec<String>,
    /// The `[[key]]` NOTIFYs for this zone are signed with.
    #[serde(default)]
    pub notify_key: Option<String>,
    /// "keep" (default: a changed file whose serial did not increase is not served) or
    /// "increment" (xfrd bumps the serial).
    #[serde(default)]
    pub serial_policy: Option<String>,
}

/// What to do with a changed zone file whose SOA serial did not increase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SerialPolicy {
    /// Keep serving the old version, and log why.
    #[default]
    Keep,
    /// Serve the new content with the old serial + 1.
    Increment,
}

/// Where a secondary zone is transferred from.
#[derive(Debug, Clone)]
pub struct SecondaryConfig {
    /// Tried in order, failing over.
    pub primaries: Vec<SocketAddr>,
    /// The key every transfer in is signed with (and every answer verified with).
    pub primary_key: Option<xfr_proto::tsig::Key>,
}

/// One zone to serve, resolved.
#[derive(Debug, Clone)]
pub struct ZoneConfig {
    pub origin: zone_store::Name,
    /// The master file; empty (and never read) for a secondary zone.
    pub file: PathBuf,
    /// `Some`: a secondary zone, served from the store its transfers in wrote.
    pub secondary: Option<SecondaryConfig>,
    pub allow_transfer: Acl,
    pub notify: Vec<SocketAddr>,
    pub notify_key: Option<xfr_proto::tsig::Key>,
    pub serial_policy: SerialPolicy,
}

impl ZoneConfig {
    fn new(origin: zone_store::Name, file: PathBuf, allow_transfer: Acl) -> ZoneConfig {
        ZoneConfig {
            origin,
            file,
            secondary: None,
            allow_transfer,
            notify: Vec::new(),
            notify_key: None,
            serial_policy: SerialPolicy::Keep,
        }
    }
}

/// The handoff socket file's mode unless configured: only xfrd's own user may connect (the
/// SO_PEERCRED uid check comes on top). A front end running as another user needs a wider mode
/// and a shared group, e.g. `handoff_mode = 0o660`, and its uid in `handoff_uids`.
pub const HANDOFF_MODE_DEFAULT: u32 = 0o600;

/// The whole resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Vec<SocketAddr>,
    pub cores: usize,
    pub store_dir: PathBuf,
    pub handoff: Option<PathBuf>,
    pub handoff_uids: Vec<u32>,
    /// Permission bits the handoff socket file is given (connecting needs write permission).
    pub handoff_mode: u32,
    pub log_level: String,
    pub log_format: LogFormat,
    pub limits: Limits,
    pub zones: Vec<ZoneConfig>,
    /// The TSIG keys, shared with every zone set built from this configuration.
    pub keys: Arc<Keys>,
    pub notify: NotifyConfig,
    pub ixfr: IxfrConfig,
    /// `[metrics] listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// `[control] socket`.
    pub control_socket: Option<PathBuf>,
    pub control_uids: Vec<u32>,
    /// The config file read, if any (for `xfrctl status`).
    pub config_file: Option<PathBuf>,
    /// `[[tls]]`: XoT listeners.
    pub tls: Vec<TlsListenerConfig>,
}

/// What the command line said (see `main.rs`).
#[derive(Debug, Clone, Default)]
pub struct CliOverrides {
    pub config: Option<PathBuf>,
    pub listen: Vec<SocketAddr>,
    pub zones: Vec<String>,
    pub cores: Option<usize>,
    pub store_dir: Option<PathBuf>,
    pub handoff: Option<PathBuf>,
}

/// The bundled example zone, served when nothing else is configured.
pub fn example_zone() -> PathBuf {
    let here = PathBuf::from("examples/example.com.zone");
    if here.is_file() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/example.com.zone")
}

/// Default store folder: `$XDG_CACHE_HOME/xfrd`, else `$HOME/.cache/xfrd`, else
/// `<temp dir>/xfrd-stores`.
pub fn default_store_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("xfrd");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h).join(".cache/xfrd");
    }
    std::env::temp_dir().join("xfrd-stores")
}

fn parse_origin(text: &str) -> Result<zone_store::Name> {
    let absolute = if text.ends_with('.') {
        text.to_string()
    } else {
        format!("{text}.")
    };
    zone_store::Name::parse(&absolute, None).with_context(|| format!("zone origin `{text}`"))
}

/// Reads the config file (when given) and applies the command-line overrides.
pub fn resolve(cli: &CliOverrides) -> Result<Config> {
    let (file, base) = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config {}", path.display()))?;
            let file: FileConfig = toml::from_str(&text)
                .map_err(|e| anyhow::anyhow!(toml_error(&text, &e)))
                .with_context(|| format!("config {}", path.display()))?;
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (file, base)
        }
        None => (
            toml::from_str::<FileConfig>("").expect("empty config"),
            PathBuf::new(),
        ),
    };
    let keys = Arc::new(Keys::resolve(&file.keys, &base)?);
    let default_acl = match &file.acl.allow_transfer {
        Some(list) => acl_from(list, &keys).context("acl.allow_transfer")?,
        None => Acl::loopback(),
    };

    let mut zones = Vec::new();
    for z in &file.zones {
        let allow_transfer = match &z.allow_transfer {
            Some(list) => acl_from(list, &keys)
                .with_context(|| format!("zone {}: allow_transfer", z.origin))?,
            None => default_acl.clone(),
        };
        let origin = parse_origin(&z.origin)?;
        let mut zc = match (&z.file, &z.primaries) {
            (Some(file), None) => {
                if z.primary_key.is_some() {
                    bail!(
                        "zone {}: primary_key is for a secondary zone (one with primaries, not file)",
                        z.origin
                    );
                }
                ZoneConfig::new(origin, base.join(file), allow_transfer)
            }
            (None, Some(list)) => {
                let secondary = secondary_from(&z.origin, list, z.primary_key.as_deref(), &keys)?;
                let mut zc = ZoneConfig::new(origin, PathBuf::new(), allow_transfer);
                zc.secondary = Some(secondary);
                zc
            }
            (Some(_), Some(_)) => bail!(
                "zone {}: both file and primaries: a zone is either a primary zone (file) or a secondary zone (primaries)",
                z.origin
            ),
            (None, None) => bail!(
                "zone {}: needs file (a primary zone) or primaries (a secondary zone)",
                z.origin
            ),
        };
        for t in &z.notify {
            zc.notify.push(
                parse_target(t)
                    .with_context(|| format!("zone {}: notify target `{t}`", z.origin))?,
            );
        }
        if let Some(name) = &z.notify_key {
            zc.notify_key = Some(
                keys.find_by_text(name)
                    .with_context(|| {
                        format!(
                            "zone {}: notify_key `{name}` is not defined in a [[key]] table",
                            z.origin
                        )
                    })?
                    .clone(),
            );
        }
        zc.serial_policy = match z.serial_policy.as_deref() {
            None | Some("keep") => SerialPolicy::Keep,
            Some("increment") => SerialPolicy::Increment,
            Some(other) => bail!(
                "zone {}: serial_policy `{other}`: expected \"keep\" or \"increment\"",
                z.origin
            ),
        };
        zones.push(zc);
    }
    for spec in &cli.zones {
        let Some((origin, file)) = spec.split_once('=') else {
            bail!("--zone `{spec}`: expected ORIGIN=ZONEFILE");
        };
        zones.push(ZoneConfig::new(
            parse_origin(origin)?,
            PathBuf::from(file),
            default_acl.clone(),
        ));
    }
    if zones.is_empty() {
        zones.push(ZoneConfig::new(
            parse_origin("example.com.")?,
            example_zone(),
            default_acl.clone(),
        ));
    }
    for (i, z) in zones.iter().enumerate() {
        if zones[..i]
            .iter()
            .any(|o| o.origin.eq_ignore_case(&z.origin))
        {
            bail!("zone {} is configured twice", z.origin);
        }
    }

    let mut listen = cli.listen.clone();
    if listen.is_empty() {
        for l in &file.listen {
            listen.push(l.parse().with_context(|| format!("listen address `{l}`"))?);
        }
    }
    if listen.is_empty() {
        listen.push(LISTEN_DEFAULT.parse().expect("constant address"));
    }
    let available = core_affinity::get_core_ids().map_or(1, |c| c.len()).max(1);
    let cores = match cli.cores.or(file.cores) {
        Some(0) | None => available,
        Some(n) => n,
    };
    let notify = file.notify;
    if notify.attempts == 0 || notify.max_per_second == 0 {
        bail!("notify: attempts and max_per_second must be at least 1");
    }
    let ixfr = file.ixfr;
    if !(ixfr.max_ratio.is_finite() && ixfr.max_ratio >= 0.0) {
        bail!("ixfr: max_ratio must be a number of at least 0");
    }
    let mut tls = Vec::with_capacity(file.tls.len());
    for (i, t) in file.tls.iter().enumerate() {
        let what = format!("tls[{i}]");
        if t.listen.is_empty() {
            bail!("{what}: listen needs at least one address, e.g. [\"127.0.0.1:853\"]");
        }
        let mut addrs = Vec::with_capacity(t.listen.len());
        for l in &t.listen {
            let a: SocketAddr = l
                .parse()
                .with_context(|| format!("{what}: listen address `{l}`: expected ADDR:PORT"))?;
            if listen.contains(&a) && a.port() != 0 {
                bail!("{what}: {a} is also a plain DNS listen address");
            }
            // Listeners bind with SO_REUSEPORT: a second bind of the same address would succeed
            // and the kernel would spread connections over both.
            if a.port() != 0 {
                if let Some(j) = tls
                    .iter()
                    .position(|o: &TlsListenerConfig| o.listen.contains(&a))
                {
                    bail!("{what}: {a} is also a listen address of tls[{j}]");
                }
                if addrs.contains(&a) {
                    bail!("{what}: {a} is listed twice");
                }
            }
            addrs.push(a);
        }
        let max = xfr_proto::wire::PADDING_BLOCK_MAX;
        if !(1..=max).contains(&t.padding_block) {
            bail!(
                "{what}: padding_block {} is not between 1 and {max} (468 is RFC 8467's)",
                t.padding_block
            );
        }
        tls.push(TlsListenerConfig {
            listen: addrs,
            cert: base.join(&t.cert),
            key: base.join(&t.key),
            client_ca: t.client_ca.as_ref().map(|c| base.join(c)),
            pad_block: if t.padding { t.padding_block } else { 0 },
        });
    }
    let limits = file.limits;
    if limits.max_connections_per_core == 0 || limits.max_transfers_per_core == 0 {
        bail!("limits: max_connections_per_core and max_transfers_per_core must be at least 1");
    }
    if !(1..=MAX_TRANSFERS_PER_CONNECTION_MAX).contains(&limits.max_transfers_per_connection) {
        bail!(
            "limits: max_transfers_per_connection must be between 1 and {MAX_TRANSFERS_PER_CONNECTION_MAX} (it is {})",
            limits.max_transfers_per_connection
        );
    }
    Ok(Config {
        listen,
        cores,
        store_dir: cli
            .store_dir
            .clone()
            .or(file.store_dir.map(|d| base.join(d)))
            .unwrap_or_else(default_store_dir),
        handoff: cli.handoff.clone().or(file.handoff.map(|h| base.join(h))),
        handoff_uids: file.handoff_uids.unwrap_or_else(|| {
            let mut uids = vec![crate::sys::euid(), 0];
            uids.dedup();
            uids
        }),
        handoff_mode: match file.handoff_mode {
            None => HANDOFF_MODE_DEFAULT,
            Some(m) if m & !0o777 == 0 => m,
            Some(m) => {
                bail!("handoff_mode {m:#o}: only permission bits (0o000 to 0o777) are allowed")
            }
        },
        log_level: file.log.level,
        log_format: file.log.format,
        limits,
        zones,
        keys,
        notify,
        ixfr,
        metrics_listen: match &file.metrics.listen {
            None => None,
            Some(l) => Some(l.parse().with_context(|| {
                format!("metrics: listen `{l}`: expected ADDR:PORT, e.g. \"127.0.0.1:9153\"")
            })?),
        },
        control_socket: file.control.socket.map(|p| base.join(p)),
        control_uids: file.control.uids.unwrap_or_else(|| {
            let mut uids = vec![crate::sys::euid(), 0];
            uids.dedup();
            uids
        }),
        config_file: cli.config.clone(),
        tls,
    })
}

/// A secondary zone's `primaries` and `primary_key`, resolved.
fn secondary_from(
    zone: &str,
    primaries: &[String],
    key: Option<&str>,
    keys: &Keys,
) -> Result<SecondaryConfig> {
    if primaries.is_empty() {
        bail!("zone {zone}: primaries is empty: list at least one \"ADDR:PORT\"");
    }
    let mut addrs = Vec::with_capacity(primaries.len());
    for p in primaries {
        addrs.push(parse_target(p).with_context(|| format!("zone {zone}: primary `{p}`"))?);
    }
    let primary_key = match key {
        None => None,
        Some(name) => Some(
            keys.find_by_text(name)
                .with_context(|| {
                    format!("zone {zone}: primary_key `{name}` is not defined in a [[key]] table")
                })?
                .clone(),
        ),
    };
    Ok(SecondaryConfig {
        primaries: addrs,
        primary_key,
    })
}

/// A NOTIFY target: "ADDR:PORT", "[V6]:PORT", or a bare address (port 53).
fn parse_target(text: &str) -> Result<SocketAddr> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Ok(a);
    }
    match text.parse::<std::net::IpAddr>() {
        Ok(ip) => Ok(SocketAddr::new(ip, 53)),
        Err(_) => bail!("expected ADDR:PORT, [V6ADDR]:PORT or an address"),
    }
}

/// An access list from its config entries; every key named must be defined.
fn acl_from(entries: &[AclEntry], keys: &Keys) -> Result<Acl> {
    let mut rules = Vec::with_capacity(entries.len());
    for e in entries {
        let (address, key, transport) = match e {
            AclEntry::Prefix(p) => (p, None, None),
            AclEntry::Rule(r) => (&r.address, r.key.as_deref(), r.transport.as_deref()),
        };
        let prefix: Prefix = address.parse()?;
        let transport = match transport {
            None => RuleTransport::Plain,
            Some(t) => t.parse().map_err(|e| anyhow::anyhow!("{address}: {e}"))?,
        };
        let key = match key {
            None => None,
            Some(name) => Some(
                keys.find_by_text(name)
                    .with_context(|| format!("key `{name}` is not defined in a [[key]] table"))?
                    .name()
                    .into(),
            ),
        };
        rules.push(Rule {
            prefix,
            key,
            transport,
        });
    }
    Ok(Acl::from_rules(rules))
}

/// A TOML error as "line N, column M: message", without the excerpt of the file that the
/// default rendering quotes: that line may hold a TSIG secret.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {}", e.message())
        }
        None => e.message().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_text(text: &str) -> Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xfrd.toml");
        std::fs::write(&path, text).unwrap();
        resolve(&CliOverrides {
            config: Some(path),
            ..Default::default()
        })
    }

    #[test]
    fn handoff_mode_and_uids() {
        let c = resolve_text("handoff = \"h.sock\"\n").unwrap();
        assert_eq!(c.handoff_mode, 0o600);
        assert!(c.handoff_uids.contains(&crate::sys::euid()) && c.handoff_uids.contains(&0));
        let c = resolve_text("handoff_mode = 0o660\nhandoff_uids = [1000]\n").unwrap();
        assert_eq!((c.handoff_mode, c.handoff_uids), (0o660, vec![1000]));
        let e = resolve_text("handoff_mode = 0o4755\n").unwrap_err();
        assert!(e.to_string().contains("handoff_mode"), "{e:#}");
    }

    #[test]
    fn tls_listeners_padding_and_addresses() {
        let tls = |extra: &str| {
            format!(
                "listen = [\"127.0.0.1:5300\"]\n[[tls]]\nlisten = [\"127.0.0.1:8530\"]\n\
                 cert = \"c.pem\"\nkey = \"k.pem\"\n{extra}"
            )
        };
        let c = resolve_text(&tls("")).unwrap();
        assert_eq!(c.tls[0].pad_block, 468, "padding on, RFC 8467's block");
        let c = resolve_text(&tls("padding = false\n")).unwrap();
        assert_eq!(c.tls[0].pad_block, 0);
        let c = resolve_text(&tls("padding_block = 128\n")).unwrap();
        assert_eq!(c.tls[0].pad_block, 128);
        for bad in ["padding_block = 0\n", "padding_block = 5000\n"] {
            let e = format!("{:#}", resolve_text(&tls(bad)).unwrap_err());
            assert!(e.contains("tls[0]: padding_block"), "{e}");
        }
        let twice = "[[tls]]\nlisten = [\"127.0.0.1:8530\"]\ncert = \"c.pem\"\nkey = \"k.pem\"\n";
        let e = format!("{:#}", resolve_text(&tls(twice)).unwrap_err());
        assert!(
            e.contains("tls[1]: 127.0.0.1:8530 is also a listen address of tls[0]"),
            "{e}"
        );
        let e = resolve_text(&tls("").replace(":8530\"]", ":5300\"]")).unwrap_err();
        assert!(
            format!("{e:#}").contains("also a plain DNS listen address"),
            "{e:#}"
        );
    }

    #[test]
    fn full_config_parses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xfrd.toml");
        std::fs::write(
            &path,
            r#"
listen = ["127.0.0.1:5300", "[::1]:5300"]
cores = 2
store_dir = "stores"
[log]
level = "debug"
[limits]
max_connections_per_core = 10
send_timeout_ms = 500
[acl]
allow_transfer = ["10.0.0.0/8"]
[[zone]]
origin = "example.org"
file = "example.org.zone"
[[zone]]
origin = "example.net."
file = "/abs/example.net.zone"
allow_transfer = ["::1"]
"#,
        )
        .unwrap();
        let c = resolve(&CliOverrides {
            config: Some(path),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.listen.len(), 2);
        assert_eq!(c.cores, 2);
        assert_eq!(c.store_dir, dir.path().join("stores"));
        assert_eq!(c.limits.max_connections_per_core, 10);
        assert_eq!(c.limits.send_timeout_ms, 500);
        assert_eq!(c.limits.idle_timeout_ms, IDLE_TIMEOUT_MS_DEFAULT);
        assert_eq!(c.zones[0].file, dir.path().join("example.org.zone"));
        assert!(c.zones[0]
            .allow_transfer
            .allows("10.1.2.3".parse().unwrap(), None));
        assert!(!c.zones[0]
            .allow_transfer
            .allows("127.0.0.1".parse().unwrap(), None));
        assert!(c.zones[1]
            .allow_transfer
            .allows("::1".parse().unwrap(), None));
        assert_eq!(c.zones[1].file, PathBuf::from("/abs/example.net.zone"));
    }

    #[test]
    fn log_format_is_text_unless_json_is_asked_for() {
        assert_eq!(resolve_text("").unwrap().log_format, LogFormat::Text);
        let c = resolve_text("[log]\nformat = \"json\"\n").unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        let e = resolve_text("[log]\nformat = \"xml\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("text"), "{e:#}");
    }

    #[test]
    fn unknown_keys_and_duplicate_zones_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xfrd.toml");
        std::fs::write(&path, "[limits]\nmax_conections_per_core = 1\n").unwrap();
        let cli = CliOverrides {
            config: Some(path),
            ..Default::default()
        };
        assert!(resolve(&cli).is_err());
        let cli = CliOverrides {
            zones: vec!["a.=x".into(), "A.=y".into()],
            ..Default::default()
        };
        assert!(resolve(&cli).is_err());
    }

    #[test]
    fn secondary_zones_have_primaries_instead_of_a_file() {
        let key = "[[key]]\nname = \"k.\"\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0\"\n";
        let c = resolve_text(&format!(
            "{key}[[zone]]\norigin = \"s.test\"\nprimaries = [\"127.0.0.1:5300\", \"[::1]:53\"]\nprimary_key = \"k\"\n"
        ))
        .unwrap();
        let s = c.zones[0].secondary.as_ref().unwrap();
        assert_eq!(s.primaries.len(), 2);
        assert_eq!(s.primaries[0], "127.0.0.1:5300".parse().unwrap());
        assert!(s.primary_key.is_some());
        assert_eq!(c.zones[0].file, PathBuf::new());
        for (text, says) in [
            ("origin = \"s.test\"\n", "needs file"),
            (
                "origin = \"s.test\"\nfile = \"z\"\nprimaries = [\"127.0.0.1:53\"]\n",
                "both file and primaries",
            ),
            (
                "origin = \"s.test\"\nprimaries = []\n",
                "primaries is empty",
            ),
            (
                "origin = \"s.test\"\nprimaries = [\"nowhere\"]\n",
                "primary `nowhere`",
            ),
            (
                "origin = \"s.test\"\nprimaries = [\"127.0.0.1:53\"]\nprimary_key = \"nokey.\"\n",
                "primary_key `nokey.`",
            ),
            (
                "origin = \"s.test\"\nfile = \"z\"\nprimary_key = \"k.\"\n",
                "primary_key is for a secondary",
            ),
        ] {
            let e = format!(
                "{:#}",
                resolve_text(&format!("{key}[[zone]]\n{text}")).unwrap_err()
            );
            assert!(e.contains("zone s.test") && e.contains(says), "{e}");
        }
    }

    #[test]
    fn keys_and_keyed_acl_entries() {
        let c = resolve_text(
            r#"
[[key]]
name = "xfr-key."
algorithm = "hmac-sha256"
secret = "c2VjcmV0LXNlY3JldA=="
[acl]
allow_transfer = ["::1", { address = "192.0.2.0/24", key = "XFR-KEY" }]
[[zone]]
origin = "example.org."
file = "x.zone"
allow_transfer = [{ address = "0.0.0.0/0", key = "xfr-key." }]
"#,
        )
        .unwrap();
        assert_eq!(c.keys.len(), 1);
        let k: &[u8] = b"\x07xfr-key\x00";
        let z = &c.zones[0].allow_transfer;
        assert!(z.allows("198.51.100.7".parse().unwrap(), Some(k)));
        assert!(!z.allows("198.51.100.7".parse().unwrap(), None));
        assert!(
            !z.allows("127.0.0.1".parse().unwrap(), None),
            "keyed only: no unsigned"
        );

        for (text, want) in [
            (
                "[acl]\nallow_transfer = [{ address = \"::1\", key = \"nokey.\" }]\n",
                "not defined",
            ),
            (
                "[acl]\nallow_transfer = [{ address = \"::1\", kye = \"k.\" }]\n",
                "unknown field",
            ),
            ("[acl]\nallow_transfer = [42]\n", "address prefix"),
        ] {
            let e = format!("{:#}", resolve_text(text).unwrap_err());
            assert!(e.contains(want), "{e}");
        }
        // A syntax error on the secret's line is reported without the line's text.
        let e = format!(
            "{:#}",
            resolve_text(
                "[[key]]\nname = \"k.\"\nalgorithm = \"hmac-sha256\"\nsecret = \"TOPSECRET\n"
            )
            .unwrap_err()
        );
        assert!(e.contains("line 4") && !e.contains("TOPSECRET"), "{e}");
        let e = format!(
            "{:#}",
            resolve_text(
                "[[key]]\nname = \"k.\"\nalgorithm = \"hmac-sha256\"\nsecret = \"TOPSECRET!\"\n"
            )
            .unwrap_err()
        );
        assert!(e.contains("key `k.`") && !e.contains("TOPSECRET"), "{e}");
    }

    #[test]
    fn no_arguments_serve_the_example() {
        let c = resolve(&CliOverrides::default()).unwrap();
        assert_eq!(
            c.listen,
            vec![LISTEN_DEFAULT.parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(c.zones.len(), 1);
        assert!(c.zones[0].file.is_file(), "{}", c.zones[0].file.display());
        assert!(c.zones[0]
            .allow_transfer
            .allows("127.0.0.1".parse().unwrap(), None));
    }
}

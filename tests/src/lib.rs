//! Helpers shared by the integration tests: finding binaries and peer programs, free loopback
//! ports, child processes that are always stopped, and the canonical form of a zone that the
//! comparisons use.
//!
//! The canonical form is what `named-checkzone -D` prints for a zone, one record per line with
//! whitespace collapsed and owner names lowercased, as a set. BIND's parser and printer are the
//! reference: both sides of a comparison go through the same program, so a difference is a
//! difference in the records, not in their spelling.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xfr_proto::tsig::Key;
use xfr_proto::xfrin::{Kind, Outcome, Sink, XfrInError};

pub mod peers;
pub mod tls;

/// True when running under CI, where a missing peer program is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Finds a program in PATH or the sbin folders (Debian puts daemons in /usr/sbin).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The path of a peer program the test needs. Missing: a panic under CI, else `None` after a
/// loud message, and the caller returns early (the test is skipped, visibly).
pub fn require_program(name: &str) -> Option<PathBuf> {
    match find_program(name) {
        Some(p) => Some(p),
        None if in_ci() => {
            panic!("{name} is not installed; CI needs it (scripts/test.sh installs it)")
        }
        None => {
            eprintln!("SKIPPED: {name} is not installed (scripts/test.sh installs it)");
            None
        }
    }
}

/// A binary of this workspace (`xfrd`, `xfr-zone`, `xfr-bench`), built into the same target
/// folder as the running test: `cargo build --workspace --bins` runs before the tests in
/// scripts/test.sh. Missing: built here, once.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test-binary>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = profile_dir.join(name);
    if !bin.is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--bins", "--workspace"])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --bins failed");
    }
    assert!(bin.is_file(), "{} was not built", bin.display());
    bin
}

/// The command that runs xfrd on `127.0.0.1:port` serving the bundled example zone
/// (example.com.) with a handoff socket at `socket`, keeping its stores under `dir`, on
/// `cores` cores. Callers add arguments and start it (with [`Proc::spawn`]).
pub fn xfrd_with_handoff(dir: &Path, port: u16, socket: &Path, cores: usize) -> Command {
    let mut cmd = Command::new(workspace_bin("xfrd"));
    cmd.arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--zone")
        .arg(format!(
            "example.com.={}",
            workspace_root().join("examples/example.com.zone").display()
        ))
        .arg("--store-dir")
        .arg(dir.join("stores"))
        .arg("--handoff")
        .arg(socket)
        .arg("--cores")
        .arg(cores.to_string());
    cmd
}

/// Starts `xfrd serve --config CONF` with its output in `log`, and returns once it answers SOA
/// for `origin` on 127.0.0.1:`port` (60 s at most; the error carries its log).
pub fn xfrd_from_config(conf: &Path, log: PathBuf, port: u16, origin: &str) -> Result<Proc> {
    let mut cmd = Command::new(workspace_bin("xfrd"));
    cmd.args(["serve", "--config"]).arg(conf);
    let mut proc = Proc::spawn("xfrd", cmd, log)?;
    let serving = |p: &mut Proc| -> Result<bool> {
        p.check_running()?;
        Ok(soa_serial("127.0.0.1", port, origin).is_some())
    };
    match wait_until(Duration::from_secs(60), "xfrd to answer SOA", || {
        serving(&mut proc)
    }) {
        Ok(()) => Ok(proc),
        Err(e) => Err(e.context(proc.log_text())),
    }
}

/// A zone of exactly `records` records for `origin`, written by `xfr-zone gen --seed SEED`
/// into `dir`; returns its path.
pub fn generated_zone(origin: &str, records: usize, seed: u64, dir: &Path) -> PathBuf {
    let file = dir.join(format!("{origin}{records}-{seed}.zone"));
    let status = Command::new(workspace_bin("xfr-zone"))
        .args([
            "gen",
            "--origin",
            origin,
            "--records",
            &records.to_string(),
            "--seed",
            &seed.to_string(),
            "-o",
        ])
        .arg(&file)
        .status()
        .expect("run xfr-zone gen");
    assert!(status.success(), "xfr-zone gen failed");
    file
}

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A loopback port free for both TCP and UDP at the time of the call, and never handed out
/// before in this process: the kernel may give a port just released to the next bind, and two
/// servers (or two listeners of one) told the same port would share it, since xfrd binds with
/// SO_REUSEPORT.
pub fn free_port(ip: &str) -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    for _ in 0..100 {
        let tcp = TcpListener::bind((ip, 0)).expect("bind tcp");
        let port = tcp.local_addr().unwrap().port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) && UdpSocket::bind((ip, port)).is_ok() {
            given.push(port);
            return port;
        }
    }
    panic!("no free port on {ip}");
}

/// A child process that is killed and reaped when dropped, whatever happened in the test.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr into `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> Result<Proc> {
        let out =
            std::fs::File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("start {name}"))?;
        Ok(Proc {
            name: name.to_string(),
            child,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last 40 lines of the process's log, for failure messages.
    pub fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The whole log.
    pub fn full_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends signal `name` (`HUP`, `TERM`...) with kill(1).
    pub fn signal(&self, name: &str) -> Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()?;
        if !status.success() {
            bail!("kill -{name} {} failed", self.pid());
        }
        Ok(())
    }

    /// Fails with the log if the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited with {status}; log:\n{}",
                self.name,
                self.log_text()
            );
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `dig` with the given arguments and returns stdout; a failure carries stderr.
pub fn dig(args: &[&str]) -> Result<String> {
    let dig = find_program("dig").context("dig not installed")?;
    let out = Command::new(dig).args(args).output()?;
    if !out.status.success() {
        bail!(
            "dig {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// The serial the server at `ip`:`port` answers for `zone` over UDP, if it answers one.
pub fn soa_serial(ip: &str, port: u16, zone: &str) -> Option<u32> {
    let at = format!("@{ip}");
    let p = port.to_string();
    let out = dig(&[&at, "-p", &p, zone, "SOA", "+short", "+time=1", "+tries=1"]).ok()?;
    out.split_whitespace().nth(2)?.parse().ok()
}

/// Polls until `cond` holds, at most `limit`.
pub fn wait_until(
    limit: Duration,
    what: &str,
    mut cond: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let start = Instant::now();
    loop {
        if cond()? {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The options that make named-checkzone print the zone as it is, without refusing it for
/// policy reasons (MX to CNAME, missing glue and the like) that are not this test's business.
const CHECKZONE_RELAXED: &[&str] = &[
    "-i", "none", "-k", "ignore", "-m", "ignore", "-M", "ignore", "-n", "ignore", "-r", "ignore",
    "-S", "ignore", "-T", "ignore", "-W", "ignore",
];

/// The canonical record set of a zone file, as named-checkzone reads it.
pub fn canonical_zone(origin: &str, zonefile: &Path) -> Result<BTreeSet<String>> {
    let prog = find_program("named-checkzone").context("named-checkzone not installed")?;
    let zonefile =
        &std::fs::canonicalize(zonefile).with_context(|| format!("{}", zonefile.display()))?;
    // BIND resolves relative $INCLUDE paths against its working directory: run where the zone is.
    let out = Command::new(prog)
        .current_dir(zonefile.parent().unwrap_or(Path::new("/")))
        .args(CHECKZONE_RELAXED)
        .args(["-D", "-o", "-", origin])
        .arg(zonefile)
        .output()?;
    if !out.status.success() {
        bail!(
            "named-checkzone {origin} {} failed:\n{}{}",
            zonefile.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(normalize_lines(&String::from_utf8(out.stdout)?))
}

/// Lines of master-file text as a set: comments and blanks dropped, whitespace collapsed,
/// owner lowercased.
pub fn normalize_lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(';'))
        .map(|l| {
            let mut fields = l.split_whitespace();
            let owner = fields.next().unwrap_or_default().to_ascii_lowercase();
            std::iter::once(owner)
                .chain(fields.map(str::to_string))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// Transfers `zone` from `ip`:`port` with dig and returns its canonical record set (the AXFR
/// text goes through named-checkzone like the source does).
pub fn axfr_canonical(ip: &str, port: u16, zone: &str, scratch: &Path) -> Result<BTreeSet<String>> {
    let at = format!("@{ip}");
    let p = port.to_string();
    let text = dig(&[
        &at,
        "-p",
        &p,
        zone,
        "AXFR",
        "+onesoa",
        "+nocmd",
        "+nostats",
        "+nocomments",
        "+time=5",
        "+tries=1",
    ])?;
    if text.contains("Transfer failed") || !text.contains("SOA") {
        bail!("AXFR of {zone} from {ip}:{port} failed:\n{text}");
    }
    let file = scratch.join(format!("axfr-{ip}-{port}.zone"));
    std::fs::File::create(&file)?.write_all(text.as_bytes())?;
    canonical_zone(zone, &file)
}

/// Describes how two record sets differ, at most a few lines each way.
pub fn diff_summary(expected: &BTreeSet<String>, got: &BTreeSet<String>) -> String {
    let missing: Vec<_> = expected.difference(got).take(5).collect();
    let extra: Vec<_> = got.difference(expected).take(5).collect();
    format!(
        "{} expected, {} got; missing (first 5): {missing:#?}; unexpected (first 5): {extra:#?}",
        expected.len(),
        got.len()
    )
}

/// A socket address on loopback.
pub fn addr(ip: &str, port: u16) -> SocketAddr {
    format!("{ip}:{port}")
        .parse()
        .unwrap_or_else(|_| format!("[{ip}]:{port}").parse().unwrap())
}

/// A zone of `records` TXT records `r0`..`rN` (each naming its origin and `tag`) with its SOA at
/// `serial`, an NS and its glue: what the transfer tests serve and change.
pub fn txt_zone(origin: &str, serial: u32, records: usize, tag: &str) -> String {
    let mut t = format!(
        "$ORIGIN {origin}\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\n"
    );
    for i in 0..records {
        t.push_str(&format!("r{i} TXT \"record {i} of {origin} {tag}\"\n"));
    }
    t
}

/// How long [`xfrin_transfer`] lets one transfer run, from connect to the last message: a
/// stalled primary fails the test instead of hanging it.
pub const XFRIN_TRANSFER_LIMIT: Duration = Duration::from_secs(30);

/// One transfer in of `zone` from `ip`:`port` over one TCP connection, driven to its end by the
/// engine's blocking driver ([`xfrd::refresh::transfer_in`]): proto's sans-IO [`xfr_proto::xfrin::XfrIn`] is fed
/// every complete message and hands the records to `sink`. The outer error is the socket's (or
/// a stall past [`XFRIN_TRANSFER_LIMIT`]); the inner one the transfer's.
pub fn xfrin_transfer(
    ip: &str,
    port: u16,
    zone: &str,
    kind: Kind,
    key: Option<&Key>,
    sink: &mut impl Sink,
) -> Result<std::result::Result<Outcome, XfrInError>> {
    let origin = xfr_proto::message::text_to_wire(zone).context("zone name")?;
    let never = std::sync::atomic::AtomicBool::new(false);
    xfrd::refresh::transfer_in(
        addr(ip, port),
        &origin,
        kind,
        key,
        sink,
        XFRIN_TRANSFER_LIMIT,
        &never,
    )
    .with_context(|| format!("transfer of {zone} from {ip}:{port}"))
}

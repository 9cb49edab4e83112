//! `xfr-bench`: parses the command line (`xfr_bench::cli`) and runs the harness (the library).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use xfr_bench::cli::{Cli, Cmd, LoadArgs};
use xfr_bench::{compare, load};

fn secs(name: &str, v: f64) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        v.is_finite() && v > 0.0 && v < 1e7,
        "{name} must be a positive number of seconds"
    );
    Ok(Duration::from_secs_f64(v))
}

fn run_load(
    a: LoadArgs,
    mode: load::Mode,
    handoff_socket: Option<PathBuf>,
    handoff_conns: usize,
) -> anyhow::Result<()> {
    let tsig = a
        .tsig
        .as_deref()
        .map(xfr_proto::tsig::Key::parse_spec)
        .transpose()
        .context("--tsig")?;
    anyhow::ensure!(
        tsig.is_none() || !matches!(mode, load::Mode::Soa { .. }),
        "--tsig applies to axfr and ixfr"
    );
    let cfg = load::LoadConfig {
        mode,
        target: a.target,
        zone: a.zone,
        concurrency: a.concurrency,
        transfers: a.transfers,
        duration: secs("--duration", a.duration)?,
        timeout: secs("--timeout", a.timeout)?,
        tsig,
        tsig_verify: !a.tsig_sign_only,
        verify: a.verify,
        expect_records: a.expect_records,
        server_pid: a.server_pid,
        client_cores: a.client_cores,
        progress: true,
        handoff_socket,
        read_bytes: a.read_kib.max(64) * 1024,
        handoff_conns,
        rcvbuf: a.rcvbuf_kib * 1024,
        driver: a.driver,
        client_threads: a.client_threads,
        busy_poll: a.busy_poll,
        tls: match (a.tls, a.tls_ca, a.tls_name) {
            (true, Some(ca), Some(name)) => Some(xfr_bench::tls::TlsOptions {
                ca,
                name,
                resume: a.tls_resume,
                padding: a.tls_padding,
            }),
            _ => None,
        },
    };
    let report = load::run(&cfg)?;
    print!("{}", report.table());
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    if a.fail_on_error && report.errors > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Axfr(a) => run_load(a, load::Mode::Axfr, None, 1),
        Cmd::Ixfr { load, serial } => run_load(load, load::Mode::Ixfr { serial }, None, 1),
        Cmd::Soa { load, tcp } => run_load(load, load::Mode::Soa { tcp }, None, 1),
        Cmd::Handoff {
            load,
            socket,
            conns,
        } => run_load(load, load::Mode::Handoff, Some(socket), conns),
        Cmd::Compare(a) => compare::run(a),
    }
}

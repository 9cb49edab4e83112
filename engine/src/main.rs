//! `xfrd`: the zone-transfer server. `xfrd serve --help` lists the flags; `engine/CONFIG.md`
//! documents the config file.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use xfrd::config::{self, CliOverrides};

#[derive(Parser, Debug)]
#[command(
    name = "xfrd",
    version,
    about = "Serves DNS zone transfers (AXFR, IXFR) from compiled zone stores"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve zones (with no flags: examples/example.com.zone on 127.0.0.1:5353).
    Serve(ServeArgs),
}

#[derive(clap::Args, Debug, Default)]
struct ServeArgs {
    /// TOML configuration file (see engine/CONFIG.md); flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on, TCP and UDP (repeatable; IPv6 as [::1]:53).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Vec<SocketAddr>,
    /// A zone to serve (repeatable), added to the config file's zones.
    #[arg(long, value_name = "ORIGIN=ZONEFILE")]
    zone: Vec<String>,
    /// Serving threads, one per core, pinned (default: every core).
    #[arg(long, value_name = "N")]
    cores: Option<usize>,
    /// Where compiled stores live (default: $XDG_CACHE_HOME/xfrd, ~/.cache/xfrd or a temp dir).
    #[arg(long, value_name = "DIR")]
    store_dir: Option<PathBuf>,
    /// Unix socket on which front ends hand off client connections (handoff protocol v1).
    #[arg(long, value_name = "PATH")]
    handoff: Option<PathBuf>,
    /// Check the configuration and the kernel's io_uring, then exit.
    #[arg(long)]
    check: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(a)) => a,
        None => ServeArgs::default(),
    };
    let overrides = CliOverrides {
        config: args.config,
        listen: args.listen,
        zones: args.zone,
        cores: args.cores,
        store_dir: args.store_dir,
        handoff: args.handoff,
    };
    let cfg = config::resolve(&overrides)?;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.log_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(xfrd::logbuf::Stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if args.check {
        xfrd::server::check(&cfg)?;
        println!("configuration and kernel OK");
        return Ok(());
    }
    xfrd::server::serve(overrides, cfg)
}

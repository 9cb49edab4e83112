//! xfrd's command line: the clap definitions that `main.rs` parses and from which `xfr-dist`
//! (dist/) generates the man pages and shell completions, so `--help`, `man xfrd-serve` and
//! the completions always list the same flags.
//!
//! What it owns: the flags, their help text, and their translation into [`CliOverrides`].
//! What it does not own: what the flags mean once resolved (`config`), or acting on them
//! (`main.rs`, `server`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::config::{CliOverrides, LogFormat};

#[derive(Parser, Debug)]
#[command(
    name = "xfrd",
    version,
    about = "Serves DNS zone transfers (AXFR, IXFR) from compiled zone stores"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve zones (with no flags: examples/example.com.zone on 127.0.0.1:5353).
    Serve(ServeArgs),
}

#[derive(clap::Args, Debug, Default)]
pub struct ServeArgs {
    /// TOML configuration file (see engine/CONFIG.md); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, TCP and UDP (repeatable; IPv6 as [::1]:53).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Vec<SocketAddr>,
    /// A zone to serve (repeatable), added to the config file's zones.
    #[arg(long, value_name = "ORIGIN=ZONEFILE")]
    pub zone: Vec<String>,
    /// Serving threads, one per core, pinned (default: every core).
    #[arg(long, value_name = "N")]
    pub cores: Option<usize>,
    /// Where compiled stores live (default: $XDG_CACHE_HOME/xfrd, ~/.cache/xfrd or a temp dir).
    #[arg(long, value_name = "DIR")]
    pub store_dir: Option<PathBuf>,
    /// Unix socket on which front ends hand off client connections (handoff protocol v1).
    #[arg(long, value_name = "PATH")]
    pub handoff: Option<PathBuf>,
    /// Log lines as text or as one JSON object each (overrides the config's [log] format).
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Check the configuration and the kernel's io_uring, then exit.
    #[arg(long)]
    pub check: bool,
}

impl ServeArgs {
    /// What the config file's values give way to (kept for every reload).
    pub fn overrides(&self) -> CliOverrides {
        CliOverrides {
            config: self.config.clone(),
            listen: self.listen.clone(),
            zones: self.zone.clone(),
            cores: self.cores,
            store_dir: self.store_dir.clone(),
            handoff: self.handoff.clone(),
        }
    }
}

/// The clap command of `xfrd`, for the man page and completion generator.
pub fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definitions_are_consistent() {
        command().debug_assert();
    }

    #[test]
    fn no_subcommand_and_serve_flags_parse() {
        assert!(Cli::try_parse_from(["xfrd"]).unwrap().command.is_none());
        let cli = Cli::try_parse_from([
            "xfrd",
            "serve",
            "--listen",
            "[::1]:53",
            "--store-dir",
            "/var/lib/xfrd",
            "--log-format",
            "json",
        ])
        .unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!("serve expected");
        };
        assert_eq!(args.log_format, Some(LogFormat::Json));
        let o = args.overrides();
        assert_eq!(o.listen, vec!["[::1]:53".parse::<SocketAddr>().unwrap()]);
        assert_eq!(o.store_dir, Some(PathBuf::from("/var/lib/xfrd")));
    }
}

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

/// `xfrctl`'s command line (engine/src/bin/xfrctl.rs), here so that its man page and
/// completions are generated from it too.
pub mod xfrctl {
    use std::path::PathBuf;

    use clap::{CommandFactory, Parser, Subcommand};

    /// Where xfrctl looks for the socket when neither --socket nor XFRCTL_SOCKET says.
    const SOCKET_DEFAULT: &str = "/run/xfrd/control.sock";

    #[derive(Parser, Debug)]
    #[command(
        name = "xfrctl",
        version,
        about = "Controls a running xfrd over its control socket"
    )]
    pub struct Cli {
        /// The control socket ([control] socket in xfrd's config).
        #[arg(long, short, value_name = "PATH", env = "XFRCTL_SOCKET", default_value = SOCKET_DEFAULT)]
        pub socket: PathBuf,
        /// Print the server's JSON answer instead of a table.
        #[arg(long)]
        pub json: bool,
        /// Seconds to wait for the answer (a reload of a large zone takes a while).
        #[arg(long, value_name = "S", default_value_t = 300)]
        pub timeout: u64,
        #[command(subcommand)]
        pub command: Command,
    }

    #[derive(Subcommand, Debug)]
    pub enum Command {
        /// Version, uptime, cores, listen addresses, zones, connections and transfers now.
        Status,
        /// Every zone: serial, kind, records, sizes, journal, last load.
        Zones,
        /// One zone in detail: its journal's versions, notify targets, transfer counts.
        Zone { origin: String },
        /// Re-read the configuration and reload every zone whose file changed, or only ORIGIN.
        Reload { origin: Option<String> },
        /// Send a NOTIFY of the zone's serial to its notify targets now.
        Notify { origin: String },
        /// Check a secondary zone's primary now (secondary zones only).
        Refresh { origin: String },
        /// Stop xfrd (transfers in flight get the shutdown grace period).
        Stop,
    }

    /// The clap command, for man pages and completions.
    pub fn command() -> clap::Command {
        Cli::command()
    }
}

//! `xfrd`: the zone-transfer server. `xfrd serve --help` lists the flags (defined in
//! `xfrd::cli`); `engine/CONFIG.md` documents the config file.

use anyhow::Result;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use xfrd::cli::{Cli, Command, ServeArgs};
use xfrd::config::{self, LogFormat};

fn main() -> Result<()> {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(a)) => a,
        None => ServeArgs::default(),
    };
    let overrides = args.overrides();
    let cfg = config::resolve(&overrides)?;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.log_level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(xfrd::logbuf::Stderr);
    match args.log_format.unwrap_or(cfg.log_format) {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        // Flattened: `message` and the event's fields beside `level`, as shippers expect.
        LogFormat::Json => logs.json().flatten_event(true).with_ansi(false).init(),
    }
    if args.check {
        xfrd::server::check(&cfg)?;
        println!("configuration and kernel OK");
        return Ok(());
    }
    xfrd::server::serve(overrides, cfg)
}

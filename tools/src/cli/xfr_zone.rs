//! `xfr-zone`'s command line: parsed by `src/bin/xfr-zone.rs`, and the source of its man pages
//! and shell completions (`xfr-dist`, dist/).

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "xfr-zone",
    version,
    about = "Compile zone files into xfrd stores, dump and inspect stores, generate test zones"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Compile a zone file (RFC 1035 master file) into a store of pre-rendered AXFR messages.
    ///
    /// Warnings go to stderr as FILE:LINE: message; a summary line with the timings follows.
    /// On an error the message names the file and line and the exit status is non-zero.
    Compile {
        /// The zone's origin (its apex), e.g. example.com.
        #[arg(long)]
        origin: String,
        /// The zone file.
        zonefile: PathBuf,
        /// The store file to write (replaced atomically).
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Render with this many worker threads (0: one per core).
        #[arg(long, default_value_t = 0)]
        workers: usize,
        /// Keep IXFR history as xfrd does on reload: when OUTPUT already holds a version of
        /// the zone, diff against it and write its journal (`<output stem>.journal`); a
        /// changed zone whose serial did not increase is an error and nothing is written.
        #[arg(long)]
        update: bool,
    },
    /// Print every record of a store in master-file format, in transfer order.
    ///
    /// One record per line: owner TTL class type rdata, names absolute; the output reads back
    /// into named-checkzone. A transfer carries the SOA first and last: it is printed once,
    /// first. Records are decoded from the stored messages themselves (each checked by a
    /// strict reader and by hickory-proto).
    Dump {
        /// The store file.
        store: PathBuf,
        /// Print every record in RFC 3597 generic form (TYPEnnn \# len hex), exact for any
        /// type. Without it, the types hickory-proto prints correctly (A, AAAA, NS, CNAME, PTR,
        /// MX, SOA, SRV, CAA, NAPTR, SSHFP, TLSA, SMIMEA, OPENPGPKEY) are in presentation form,
        /// unless a record needs escapes, and everything else is in generic form.
        #[arg(long)]
        generic: bool,
    },
    /// Summarise a store: zone, serial, counts, bytes on the wire, compression, message sizes,
    /// the time to open it, and whether its source files still match.
    Inspect {
        /// The store file.
        store: PathBuf,
    },
    /// Print a diff of the IXFR journal beside a store as text: on the way from version FROM
    /// to the store's current version, "-" lines are the records deleted (FROM's SOA first),
    /// "+" lines the records added (the current SOA first), in master-file format.
    ///
    /// The journal holds for each version of the history the condensed diff straight to the
    /// current version: that is what an IXFR from FROM is answered with, and what is printed.
    Diff {
        /// The store file; its journal (`<store stem>.journal`) is read.
        store: PathBuf,
        /// The serial to diff from; without it every version's summary is listed.
        #[arg(long)]
        from: Option<u32>,
    },
    /// Generate a realistic zone file (deterministic for its seed).
    Gen {
        /// The zone's origin, e.g. example.com.
        #[arg(long)]
        origin: String,
        /// Records to write, the SOA included.
        #[arg(long)]
        records: usize,
        /// Seed of the generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The zone file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
}

/// The clap command of `xfr-zone`, for the man page and completion generator.
pub fn command() -> clap::Command {
    Cli::command()
}

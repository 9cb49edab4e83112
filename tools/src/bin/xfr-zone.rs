//! `xfr-zone`: compile zone files into xfrd stores, dump and inspect stores and their IXFR
//! journals, print a journal's diffs, generate zones.
//!
//! `dump` and `inspect` read a store back through code that shares nothing with the renderer:
//! every message is rebuilt as the engine sends it (12-byte header, the question for the
//! origin, the stored body), read by xfr-proto's strict message reader
//! ([`xfr_proto::message::read_answers`]: pointers only backwards and only into the body) and
//! by hickory-proto's `Message::from_vec`, and the two must agree.

#[path = "xfr-zone/present.rs"]
mod present;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use hickory_proto::op::Message;
use hickory_proto::rr::Record as HRecord;
use xfr_proto::message::{self, Answer, DisplayName, Header};
use xfr_proto::wire::{FLAG_AA, FLAG_QR};
use xfr_tools::cli::xfr_zone::{Cli, Command};
use zone_store::compile::{compile, CompileOptions};
use zone_store::journal::Journal;
use zone_store::store::Store;
use zone_store::update::journal_path;
use zone_store::{rtype, Name};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compile {
            origin,
            zonefile,
            output,
            workers,
            update,
        } => {
            if update {
                cmd_update(&origin, &zonefile, &output, workers)
            } else {
                cmd_compile(&origin, &zonefile, &output, workers)
            }
        }
        Command::Dump { store, generic } => cmd_dump(&store, generic),
        Command::Inspect { store } => cmd_inspect(&store),
        Command::Diff { store, from } => cmd_diff(&store, from),
        Command::Gen {
            origin,
            records,
            seed,
            output,
        } => cmd_gen(&origin, records, seed, &output),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xfr-zone: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `xfr-zone dump | head` must end quietly.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn parse_origin(text: &str) -> Result<Name> {
    let text = if text.ends_with('.') {
        text.to_string()
    } else {
        format!("{text}.")
    };
    Name::parse(&text, None).with_context(|| format!("invalid origin {text:?}"))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

// ---- compile -----------------------------------------------------------------------------

fn cmd_compile(origin: &str, zonefile: &Path, output: &Path, workers: usize) -> Result<()> {
    let origin = parse_origin(origin)?;
    let opts = CompileOptions {
        workers,
        message_bytes_target: 0,
    };
    let report = compile(zonefile, &origin, output, &opts)?;
    for w in &report.warnings {
        eprintln!("{w}");
    }
    let t = &report.timings;
    eprintln!(
        "compiled {} serial {}: {} records ({} RRsets, {} duplicates dropped) in {} messages, \
         {} bytes on the wire, store {} bytes at {}; parse {}, group {}, render {}, sources {}, \
         write {}, total {} (workers: {})",
        report.origin,
        report.serial,
        report.records,
        report.rrsets,
        report.duplicates_dropped,
        report.messages,
        report.wire_bytes,
        report.store_bytes,
        output.display(),
        ms(t.parse),
        ms(t.group),
        ms(t.render),
        ms(t.sources),
        ms(t.write),
        ms(t.total),
        if workers == 0 {
            "all cores".to_string()
        } else {
            workers.to_string()
        },
    );
    Ok(())
}

fn cmd_update(origin: &str, zonefile: &Path, output: &Path, workers: usize) -> Result<()> {
    let origin = parse_origin(origin)?;
    let opts = CompileOptions {
        workers,
        message_bytes_target: 0,
    };
    let jpath = journal_path(output);
    let t_total = Instant::now();
    let old = Store::open(output)
        .ok()
        .filter(|s| s.origin().eq_ignore_case(&origin));
    let journal = old.as_ref().and_then(|s| {
        Journal::open(&jpath, s)
            .map_err(|e| eprintln!("xfr-zone: journal dropped: {e}"))
            .ok()
    });
    let r = zone_store::update::compile_update(
        zonefile,
        &origin,
        output,
        &jpath,
        old.as_ref().map(|s| (s, journal.as_ref())),
        &opts,
        &zone_store::journal::JournalLimits::default(),
        zone_store::journal::SerialPolicy::Keep,
    )?;
    for w in &r.compile.warnings {
        eprintln!("{w}");
    }
    let t = &r.timings;
    eprintln!(
        "{:?}: serial {}, {} records, {} history versions, journal {} bytes; parse {}, build {}, \
         decode {}, diff {}, render diffs {}, store write {}, journal write {}, total {} \
         ({} with opening the previous version)",
        r.outcome,
        r.compile.serial,
        r.compile.records,
        r.history,
        r.journal_bytes,
        ms(t.parse),
        ms(t.build),
        ms(t.decode_old),
        ms(t.diff),
        ms(t.render),
        ms(t.store_write),
        ms(t.journal_write),
        ms(t.total),
        ms(t_total.elapsed()),
    );
    Ok(())
}

// ---- reading messages back -------------------------------------------------------------

/// Message `i` as the engine sends it (without the TCP length): header, question, body.
fn full_message(store: &Store, i: usize) -> (Vec<u8>, usize, u16) {
    let m = store.message(i);
    let origin = store.origin().as_wire();
    let mut buf = Vec::with_capacity(12 + origin.len() + 4 + m.body.len());
    buf.extend_from_slice(&answer_header(m.ancount).to_bytes());
    buf.extend_from_slice(origin);
    buf.extend_from_slice(&rtype::AXFR.to_be_bytes());
    buf.extend_from_slice(&store.class().to_be_bytes());
    let base = buf.len();
    debug_assert_eq!(base, store.body_base());
    buf.extend_from_slice(m.body);
    (buf, base, m.ancount)
}

/// The header of a transfer message with `ancount` answers: ID 0, QR and AA, NOERROR.
fn answer_header(ancount: u16) -> Header {
    Header {
        id: 0,
        flags: FLAG_QR | FLAG_AA,
        qdcount: 1,
        ancount,
        nscount: 0,
        arcount: 0,
    }
}

fn open_store(path: &Path) -> Result<(Store, Duration)> {
    let t = Instant::now();
    let store = Store::open(path).with_context(|| format!("opening store {}", path.display()))?;
    Ok((store, t.elapsed()))
}

/// Checks the transfer's shape: the first record is the SOA and the last is the same SOA.
fn check_soa_bracket(store: &Store, first: &Answer, last: &Answer) -> Result<()> {
    ensure!(
        first.rtype == rtype::SOA,
        "the transfer does not start with the SOA"
    );
    ensure!(
        last.rtype == rtype::SOA && last.rdata == first.rdata && last.owner == first.owner,
        "the transfer does not end with the SOA it started with"
    );
    ensure!(
        first.rdata == store.soa_rdata(),
        "the first SOA differs from the store header's"
    );
    Ok(())
}

// ---- dump ----------------------------------------------------------------------------------

fn cmd_dump(path: &Path, generic: bool) -> Result<()> {
    let (store, _) = open_store(path)?;
    let n = store.message_count();
    ensure!(n > 0, "store has no messages");
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut text = String::with_capacity(1 << 16);
    let mut first_soa: Option<Answer> = None;
    let mut records = 0u64;
    let mut hickory_failures = 0usize;
    for i in 0..n {
        let (msg, base, ancount) = full_message(&store, i);
        let mut recs = message::read_answers(&msg, base, ancount)
            .with_context(|| format!("message {i} of {n}"))?;
        // hickory-proto's view of every record: from the whole message, or, where it rejects
        // the message, record by record (it refuses any RDATA of length 0 outside UPDATE,
        // which RFC 3597 allows: `TYPE65000 \# 0`, an empty APL).
        let decoded: Vec<Option<HRecord>> = match Message::from_vec(&msg) {
            Ok(m) => {
                check_agrees(&m.answers, &recs).with_context(|| format!("message {i} of {n}"))?;
                m.answers.into_iter().map(Some).collect()
            }
            Err(_) => recs
                .iter()
                .map(|r| {
                    let single = single_record_message(&store, r);
                    match Message::from_vec(&single) {
                        Ok(m) => {
                            check_agrees(&m.answers, std::slice::from_ref(r))
                                .with_context(|| format!("message {i} of {n}"))?;
                            Ok(m.answers.into_iter().next())
                        }
                        Err(e) => {
                            hickory_failures += 1;
                            if hickory_failures <= HICKORY_FAILURES_SHOWN {
                                eprintln!(
                                    "xfr-zone: note: hickory-proto cannot decode {} {} ({e}); \
                                     printed in generic form",
                                    DisplayName(r.owner.as_wire()),
                                    present::type_text(r.rtype)
                                );
                            }
                            Ok(None)
                        }
                    }
                })
                .collect::<Result<_>>()?,
        };
        if i == 0 {
            let first = recs.first().context("the first message is empty")?;
            first_soa = Some(first.clone());
        }
        let mut skip_last = false;
        if i + 1 == n {
            let last = recs.last().context("the last message is empty")?;
            let first = first_soa.as_ref().context("no first SOA")?;
            check_soa_bracket(&store, first, last)?;
            skip_last = true;
        }
        if skip_last {
            recs.pop();
        }
        text.clear();
        for (j, rec) in recs.iter().enumerate() {
            if generic {
                present::write_generic(&mut text, rec);
            } else {
                present::write_default(&mut text, rec, decoded[j].as_ref());
            }
        }
        records += recs.len() as u64;
        out.write_all(text.as_bytes())?;
    }
    out.flush()?;
    ensure!(
        records == store.record_count(),
        "decoded {records} records but the store says {}",
        store.record_count()
    );
    if hickory_failures > 0 {
        // The records are still exact (the wire reader is strict); only the cross-check and
        // the presentation form were lost for them.
        eprintln!(
            "xfr-zone: note: hickory-proto could not decode {hickory_failures} records \
             (printed in generic form)"
        );
    }
    Ok(())
}

/// Notes about records hickory-proto cannot decode, before they are only counted.
const HICKORY_FAILURES_SHOWN: usize = 10;

/// One record alone in a message (header, question, the record uncompressed), for
/// hickory-proto when it rejects the message the record came in.
fn single_record_message(store: &Store, r: &Answer) -> Vec<u8> {
    let origin = store.origin().as_wire();
    let mut buf = Vec::with_capacity(12 + origin.len() + 4 + r.uncompressed_bytes());
    buf.extend_from_slice(&answer_header(1).to_bytes());
    buf.extend_from_slice(origin);
    buf.extend_from_slice(&rtype::AXFR.to_be_bytes());
    buf.extend_from_slice(&store.class().to_be_bytes());
    buf.extend_from_slice(r.owner.as_wire());
    buf.extend_from_slice(&r.rtype.to_be_bytes());
    buf.extend_from_slice(&r.class.to_be_bytes());
    buf.extend_from_slice(&r.ttl.to_be_bytes());
    buf.extend_from_slice(&(r.rdata.len() as u16).to_be_bytes());
    buf.extend_from_slice(&r.rdata);
    buf
}

/// hickory-proto must see the same records as the wire reader.
fn check_agrees(answers: &[HRecord], recs: &[Answer]) -> Result<()> {
    ensure!(
        answers.len() == recs.len(),
        "hickory-proto reads {} answers, the wire reader {}",
        answers.len(),
        recs.len()
    );
    for (h, r) in answers.iter().zip(recs) {
        let mut owner = Vec::with_capacity(r.owner.as_wire().len());
        let mut enc = hickory_proto::serialize::binary::BinEncoder::new(&mut owner);
        enc.set_name_encoding(hickory_proto::serialize::binary::NameEncoding::Uncompressed);
        hickory_proto::serialize::binary::BinEncodable::emit(&h.name, &mut enc)
            .context("re-encoding an owner")?;
        ensure!(
            owner == r.owner.as_wire()
                && u16::from(h.record_type()) == r.rtype
                && h.ttl == r.ttl
                && u16::from(h.dns_class) == r.class,
            "hickory-proto reads {h} where the wire reader reads {} {} {}",
            DisplayName(r.owner.as_wire()),
            r.ttl,
            r.rtype
        );
    }
    Ok(())
}

// ---- inspect -------------------------------------------------------------------------------

fn cmd_inspect(path: &Path) -> Result<()> {
    let (store, open_time) = open_store(path)?;
    let n = store.message_count();
    ensure!(n > 0, "store has no messages");
    let question = store.origin().wire_len() + 4;
    let mut sizes = Vec::with_capacity(n);
    let mut wire_bytes = 0u64;
    let mut uncompressed_bytes = 0u64;
    let mut transfer_records = 0u64;
    let mut first_soa: Option<Answer> = None;
    let t_walk = Instant::now();
    for i in 0..n {
        let (msg, base, ancount) = full_message(&store, i);
        let recs = message::read_answers(&msg, base, ancount)
            .with_context(|| format!("message {i} of {n}"))?;
        if i == 0 {
            first_soa = recs.first().cloned();
        }
        if i + 1 == n {
            let first = first_soa.as_ref().context("the first message is empty")?;
            let last = recs.last().context("the last message is empty")?;
            check_soa_bracket(&store, first, last)?;
        }
        let size = msg.len();
        sizes.push(size);
        wire_bytes += 2 + size as u64;
        uncompressed_bytes += 2
            + 12
            + question as u64
            + recs
                .iter()
                .map(|r| r.uncompressed_bytes() as u64)
                .sum::<u64>();
        transfer_records += recs.len() as u64;
    }
    let walk_time = t_walk.elapsed();
    sizes.sort_unstable();
    let records = store.record_count();
    let mut o = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(o, "store: {}", path.display());
    let _ = writeln!(o, "zone: {}", store.origin());
    let _ = writeln!(o, "class: {}", present::class_text(store.class()));
    let _ = writeln!(o, "serial: {}", store.serial());
    let _ = writeln!(o, "records: {records}");
    let _ = writeln!(o, "rrsets: {}", store.rrset_count());
    let _ = writeln!(
        o,
        "records in a transfer: {transfer_records} (the SOA twice)"
    );
    let _ = writeln!(o, "messages: {n}");
    let _ = writeln!(
        o,
        "wire bytes: {wire_bytes} (per message: 2-byte length, header, question, answers; no TSIG)"
    );
    let _ = writeln!(
        o,
        "bytes per record: {:.2}",
        wire_bytes as f64 / records.max(1) as f64
    );
    let _ = writeln!(
        o,
        "uncompressed wire bytes: {uncompressed_bytes} (the same messages with every name in full)"
    );
    let _ = writeln!(
        o,
        "compression gain: {:.1}%",
        100.0 * (1.0 - wire_bytes as f64 / uncompressed_bytes as f64)
    );
    let _ = writeln!(
        o,
        "message bytes: min {} median {} max {} (header, question, answers)",
        sizes[0],
        sizes[sizes.len() / 2],
        sizes[sizes.len() - 1]
    );
    let _ = writeln!(
        o,
        "store file bytes: {} ({:.3}x the wire bytes)",
        store.file_bytes(),
        store.file_bytes() as f64 / wire_bytes as f64
    );
    let _ = writeln!(
        o,
        "open time: {:.3} ms (Store::open: map, validate header, checksum and index)",
        open_time.as_secs_f64() * 1e3
    );
    let _ = writeln!(
        o,
        "read-back time: {} (every message decoded)",
        ms(walk_time)
    );
    let _ = writeln!(o, "sources: {}", store.sources().len());
    for s in store.sources() {
        let _ = writeln!(
            o,
            "  {} ({} bytes, xxh3 {:016x}): {}",
            s.path.display(),
            s.len,
            s.xxh3,
            if s.matches() { "matches" } else { "changed" }
        );
    }
    let _ = writeln!(
        o,
        "sources match: {}",
        if store.matches_sources() { "yes" } else { "no" }
    );
    inspect_journal(&mut o, &store, wire_bytes);
    io::stdout().write_all(o.as_bytes())?;
    if transfer_records != records + 1 {
        bail!("the messages hold {transfer_records} records, the header says {records} (+1 for the closing SOA)");
    }
    Ok(())
}

// ---- journal -------------------------------------------------------------------------------

/// The journal beside `store`: `None` when there is none, an error when it is refused.
fn open_journal(store: &Store) -> Option<Result<Journal>> {
    let path = journal_path(store.path());
    path.exists()
        .then(|| Journal::open(&path, store).with_context(|| format!("journal {}", path.display())))
}

/// Appends the journal's summary to an `inspect` report.
fn inspect_journal(o: &mut String, store: &Store, axfr_bytes: u64) {
    use std::fmt::Write as _;
    let j = match open_journal(store) {
        None => {
            let _ = writeln!(o, "journal: none (IXFR is answered AXFR-style)");
            return;
        }
        Some(Err(e)) => {
            let _ = writeln!(o, "journal: refused: {e:#}");
            return;
        }
        Some(Ok(j)) => j,
    };
    let _ = writeln!(
        o,
        "journal: {} ({} bytes), {} versions to serial {}",
        j.path().display(),
        j.file_bytes(),
        j.versions(),
        j.current_serial()
    );
    for v in 0..j.versions() {
        let i = j.version(v);
        let _ = writeln!(
            o,
            "  from serial {}: {} deleted, {} added, {} messages, {} wire bytes ({:.4}x the AXFR)",
            i.serial,
            i.deleted,
            i.added,
            i.messages,
            i.wire_bytes,
            i.wire_bytes as f64 / axfr_bytes.max(1) as f64
        );
    }
}

/// Message `i` of version `v`'s diff as the engine sends it (header, question, body).
fn journal_message(j: &Journal, store: &Store, v: usize, i: usize) -> (Vec<u8>, usize, u16) {
    let m = j.message(v, i);
    let origin = store.origin().as_wire();
    let mut buf = Vec::with_capacity(12 + origin.len() + 4 + m.body.len());
    buf.extend_from_slice(&answer_header(m.ancount).to_bytes());
    buf.extend_from_slice(origin);
    buf.extend_from_slice(&rtype::IXFR.to_be_bytes());
    buf.extend_from_slice(&store.class().to_be_bytes());
    let base = buf.len();
    buf.extend_from_slice(m.body);
    (buf, base, m.ancount)
}

fn cmd_diff(path: &Path, from: Option<u32>) -> Result<()> {
    let (store, _) = open_store(path)?;
    let j = match open_journal(&store) {
        None => bail!("{} has no journal: no history", path.display()),
        Some(j) => j?,
    };
    let Some(from) = from else {
        let mut o = String::new();
        let axfr =
            store.body_bytes() + store.message_count() as u64 * (2 + store.body_base() as u64);
        inspect_journal(&mut o, &store, axfr);
        io::stdout().write_all(o.as_bytes())?;
        return Ok(());
    };
    let v = j.find(from).with_context(|| {
        let serials: Vec<String> = (0..j.versions())
            .map(|v| j.version(v).serial.to_string())
            .collect();
        format!(
            "serial {from} is not in the history (it holds {})",
            if serials.is_empty() {
                "nothing".to_string()
            } else {
                serials.join(", ")
            }
        )
    })?;
    let mut records = Vec::new();
    for i in 0..j.message_count(v) {
        let (msg, base, ancount) = journal_message(&j, &store, v, i);
        records.extend(
            message::read_answers(&msg, base, ancount)
                .with_context(|| format!("journal message {i} of version {from}"))?,
        );
    }
    // Current SOA, FROM's SOA, deleted, current SOA, added, current SOA (RFC 1995).
    let soas: Vec<usize> = (0..records.len())
        .filter(|&i| records[i].rtype == rtype::SOA)
        .collect();
    ensure!(
        soas.len() == 4 && soas[1] == 1 && soas[3] + 1 == records.len(),
        "the diff is not framed by SOAs as an IXFR is"
    );
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    writeln!(
        out,
        "; {}: from serial {from} to {}: {} deleted, {} added",
        store.origin(),
        j.current_serial(),
        soas[2] - 2,
        soas[3] - soas[2] - 1
    )?;
    let mut line = String::new();
    for (i, rec) in records.iter().enumerate() {
        let sign = match i {
            _ if i == 1 => '-',
            _ if i == soas[2] => '+',
            _ if i > 1 && i < soas[2] => '-',
            _ if i > soas[2] && i < soas[3] => '+',
            _ => continue,
        };
        let decoded = hickory_single(&store, rec);
        line.clear();
        present::write_default(&mut line, rec, decoded.as_ref());
        write!(out, "{sign}{line}")?;
    }
    out.flush()?;
    Ok(())
}

/// hickory-proto's decoding of one record, for presentation form; `None` where it cannot.
fn hickory_single(store: &Store, rec: &Answer) -> Option<HRecord> {
    let single = single_record_message(store, rec);
    Message::from_vec(&single)
        .ok()
        .and_then(|m| m.answers.into_iter().next())
}

// ---- gen -----------------------------------------------------------------------------------

fn cmd_gen(origin: &str, records: usize, seed: u64, output: &Path) -> Result<()> {
    let origin = parse_origin(origin)?;
    let t = Instant::now();
    let file = File::create(output).with_context(|| format!("creating {}", output.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let stats = zone_store::gen::generate(&origin, records, seed, &mut w)
        .with_context(|| format!("writing {}", output.display()))?;
    w.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .with_context(|| format!("writing {}", output.display()))?;
    let mix: Vec<String> = stats
        .per_type
        .iter()
        .map(|(t, c)| {
            let name = rtype::mnemonic(*t).map_or_else(|| format!("TYPE{t}"), str::to_string);
            format!("{name} {c}")
        })
        .collect();
    eprintln!(
        "wrote {} records ({} bytes) for {origin}, seed {seed}, to {} in {}: {}",
        stats.records,
        stats.bytes,
        output.display(),
        ms(t.elapsed()),
        mix.join(", ")
    );
    Ok(())
}

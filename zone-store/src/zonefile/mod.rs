//! Zone-file parser: RFC 1035 section 5 master files, as used in production, to [`Record`]s.
//!
//! What it owns: reading the main file and its `$INCLUDE`s, the directives (`$ORIGIN`, `$TTL`,
//! `$INCLUDE` with or without an origin), the record fields (owner, TTL with units, class,
//! type, in either order), every RDATA presentation format in `rdata` (RFC 3597 generic
//! RDATA for any type), and the zone-level checks: class, one SOA at the apex, out-of-zone data
//! skipped with a warning (as BIND and Knot do). What it does not own: ordering, deduplication
//! or rendering of records; the result keeps file order, includes expanded in place.
//!
//! Errors name the file and line of the entry (or of the broken token) and the parse is all or
//! nothing. Where RFCs leave room, BIND 9 is the reference (see `tests/zonefile_vs_named.rs`),
//! with one deliberate difference: a relative `$INCLUDE` path is resolved against the including
//! file's directory (as Knot does), not against the process's working directory (BIND).
//!
//! # Known differences from BIND 9.18 (named-checkzone)
//! - Relative `$INCLUDE` paths: against the including file's directory (BIND: working dir).
//! - `$GENERATE` is not supported (an error naming the line).
//! - RFC 3597 `\#` RDATA of a known type is checked against that type's layout only for A,
//!   AAAA, single-name types, MX-like types, SOA and TXT/SPF; BIND checks every type.
//! - Error lines: an unclosed `(` is reported at the line where its record starts (BIND: end
//!   of file); bad base64/hex at the line where the encoded field starts (BIND: its end).
//! - Zone-content policy is not checked here: duplicate records are kept, RRsets whose records
//!   carry different TTLs keep them (BIND rewrites them to the first TTL), CNAME next to other
//!   data and missing glue are not reported. Those need the whole zone grouped by owner and
//!   type, which the build does anyway.
//!
//! # Parallel parse
//! With `threads > 1` and a large file, the main file is cut into chunks at lines that start
//! with an owner name. A cheap parallel scan finds every line that starts with `$`; those
//! directives are evaluated in order (following `$INCLUDE`s for their `$TTL`) to know the
//! `$ORIGIN` and `$TTL` at each cut; then the chunks are parsed in parallel. The guess is
//! checked afterwards: every chunk must have processed exactly the directives the scan saw (a
//! `$` line inside parentheses is not a directive) and must not have needed state from an
//! earlier chunk (a cut inside parentheses fails the chunk before it; a record without TTL and
//! no `$TTL` in force needs the previous chunk's last TTL). If any check fails, or any chunk
//! fails, the whole file is parsed again sequentially, so results and errors are the same for
//! any number of threads.

mod entry;
mod lexer;
mod loc;
mod rdata;
mod svcb;
mod text;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::name::Name;
use crate::record::{Record, CLASS_IN};

use entry::{Env, IncludeCache, Out, Scratch, State, Stop};

/// Below this size a file is parsed on one thread: splitting costs more than it saves.
pub const PARALLEL_BYTES_MIN: usize = 256 * 1024;

/// How to parse.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// The zone's apex; also the initial `$ORIGIN`.
    pub origin: Name,
    /// The zone's class; records of another class are an error. Normally [`CLASS_IN`].
    pub class: u16,
    /// Worker threads for a large main file; 0 means all available cores.
    pub threads: usize,
}

impl ParseOptions {
    /// Class IN, one thread.
    pub fn new(origin: Name) -> ParseOptions {
        ParseOptions {
            origin,
            class: CLASS_IN,
            threads: 1,
        }
    }
}

/// The records of a zone, in file order (includes expanded in place).
#[derive(Clone, Debug)]
pub struct ParsedZone {
    pub origin: Name,
    /// File order; out-of-zone records skipped.
    pub records: Vec<Record>,
    /// Things skipped or assumed, with file and line.
    pub warnings: Vec<ParseWarning>,
    /// Every file read: the main file, then each `$INCLUDE` in the order read.
    pub sources: Vec<PathBuf>,
    /// Length and xxh3-64 of the main file's bytes as parsed ([`parse_file`]; `None` for text
    /// parsed from memory): the store records them without reading the file again.
    pub main_file: Option<(u64, u64)>,
}

/// A warning with its place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseWarning {
    pub file: PathBuf,
    pub line: u32,
    pub message: String,
}

impl fmt::Display for ParseWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Why a zone could not be parsed. `line` is 0 for problems of the zone as a whole (no SOA).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{}: {}", file.display(), line, message)]
pub struct ParseError {
    pub file: PathBuf,
    pub line: u32,
    pub message: String,
}

/// Parses the master file at `path` and everything it includes.
pub fn parse_file(path: &Path, opts: &ParseOptions) -> Result<ParsedZone, ParseError> {
    let text = std::fs::read(path).map_err(|e| ParseError {
        file: path.to_path_buf(),
        line: 0,
        message: format!("cannot read zone file: {e}"),
    })?;
    let mut zone = parse_bytes(&text, path, opts)?;
    zone.main_file = Some((text.len() as u64, xxhash_rust::xxh3::xxh3_64(&text)));
    Ok(zone)
}

/// Parses `text` as if read from `file_for_errors` (relative `$INCLUDE`s resolve against its
/// directory).
pub fn parse_str(
    text: &str,
    file_for_errors: &Path,
    opts: &ParseOptions,
) -> Result<ParsedZone, ParseError> {
    parse_bytes(text.as_bytes(), file_for_errors, opts)
}

/// Parses master-file bytes (zone files need not be UTF-8: TXT data may hold any byte).
pub fn parse_bytes(
    text: &[u8],
    file: &Path,
    opts: &ParseOptions,
) -> Result<ParsedZone, ParseError> {
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let outs = if threads > 1 && text.len() >= PARALLEL_BYTES_MIN {
        match parallel(text, file, opts, threads) {
            Some(outs) => outs,
            None => vec![sequential(text, file, opts)?],
        }
    } else {
        vec![sequential(text, file, opts)?]
    };
    finish(file, opts, outs)
}

fn sequential(text: &[u8], file: &Path, opts: &ParseOptions) -> Result<Out, ParseError> {
    let cache = IncludeCache::new();
    let env = Env {
        zone: &opts.origin,
        class: opts.class,
        cache: &cache,
        include_effects: None,
    };
    let mut state = State::new(opts.origin.clone(), None, true);
    let mut out = Out::default();
    let mut sc = Scratch::default();
    match entry::parse_text(
        &env, file, text, 0, 1, true, 0, &mut state, &mut out, &mut sc,
    ) {
        Ok(()) => Ok(out),
        Err(Stop::Fail(e)) => Err(e),
        Err(Stop::Sequential) => unreachable!("a sequential parse knows all its state"),
    }
}

/// Chunk boundaries: `n` roughly equal parts, each (but the first) starting on a line whose
/// first byte starts an owner name.
fn split(text: &[u8], n: usize) -> Vec<usize> {
    let mut cuts = vec![0];
    for k in 1..n {
        let mut p = (text.len() * k / n).max(*cuts.last().expect("non-empty"));
        let found = loop {
            match text[p..].iter().position(|&b| b == b'\n') {
                None => break None,
                Some(nl) => {
                    p += nl + 1;
                    match text.get(p) {
                        None => break None,
                        Some(b' ' | b'\t' | b'\r' | b'\n' | b';' | b'$' | b'(' | b')') => {}
                        Some(_) => break Some(p),
                    }
                }
            }
        };
        match found {
            Some(p) if p > *cuts.last().expect("non-empty") => cuts.push(p),
            _ => break,
        }
    }
    cuts.push(text.len());
    cuts
}

/// Offsets in `text[start..end]` of every `$` that starts a line.
fn dollar_lines(text: &[u8], start: usize, end: usize) -> Vec<usize> {
    const BLOCK: usize = 4096;
    let mut found = Vec::new();
    let mut b = start;
    while b < end {
        let e = (b + BLOCK).min(end);
        // `contains` on bytes is memchr: this skips blocks without '$' at memory speed.
        if text[b..e].contains(&b'$') {
            for p in b..e {
                if text[p] == b'$' && (p == 0 || text[p - 1] == b'\n') {
                    found.push(p);
                }
            }
        }
        b = e;
    }
    found
}

/// What the pre-scan knows while it walks the directives.
struct Pre {
    origin: Name,
    default_ttl: Option<u32>,
}

/// Evaluates the directive at `off` in `text`; `None` if it cannot (the real parse will say why).
fn prescan_directive(
    text: &[u8],
    off: usize,
    file: &Path,
    pre: &mut Pre,
    cache: &mut IncludeCache,
    depth: u32,
) -> Option<()> {
    let mut toks = Vec::new();
    let mut lx = lexer::Lexer::new(&text[off..], 1);
    lx.next_entry(&mut toks).ok()??;
    let t = |i: usize| toks.get(i).map(|t| text::tok_bytes(&text[off..], t));
    let word = t(0)?;
    let mut scratch = Vec::new();
    if word.eq_ignore_ascii_case(b"$ORIGIN") {
        pre.origin = text::name(t(1)?, &pre.origin, &mut scratch).ok()?;
    } else if word.eq_ignore_ascii_case(b"$TTL") {
        let v = text::ttl(t(1)?)?;
        pre.default_ttl = Some(if v > entry::TTL_MAX { 0 } else { v });
    } else if word.eq_ignore_ascii_case(b"$INCLUDE") {
        if depth >= entry::INCLUDE_DEPTH_MAX {
            return None;
        }
        let mut raw = Vec::new();
        text::unescape_into(t(1)?, &mut raw).ok()?;
        let path = entry::resolve_include(file, &raw);
        let saved = pre.origin.clone();
        if let Some(o) = t(2) {
            pre.origin = text::name(o, &pre.origin, &mut scratch).ok()?;
        }
        let content = match cache.get(&path) {
            Some(c) => c.clone(),
            None => {
                let c = Arc::new(std::fs::read(&path).ok()?);
                cache.insert(path.clone(), c.clone());
                c
            }
        };
        for p in dollar_lines(&content, 0, content.len()) {
            prescan_directive(&content, p, &path, pre, cache, depth + 1)?;
        }
        pre.origin = saved;
    } else {
        return None;
    }
    Some(())
}

/// The speculative parallel parse; `None` when it must be done sequentially instead.
fn parallel(text: &[u8], file: &Path, opts: &ParseOptions, threads: usize) -> Option<Vec<Out>> {
    let cuts = split(text, threads);
    let chunks = cuts.len() - 1;
    if chunks < 2 {
        return None;
    }
    // 1. Every line starting with '$', scanned in parallel.
    let candidates: Vec<Vec<usize>> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..chunks)
            .map(|k| {
                let (a, b) = (cuts[k], cuts[k + 1]);
                s.spawn(move || dollar_lines(text, a, b))
            })
            .collect();
        let mut all = vec![dollar_lines(text, cuts[0], cuts[1])];
        all.extend(handles.into_iter().map(|h| h.join().expect("scan thread")));
        all
    });
    // 2. The state at each cut, from the directives in order.
    let mut cache = IncludeCache::new();
    let mut effects: HashMap<usize, Option<u32>> = HashMap::new();
    let mut pre = Pre {
        origin: opts.origin.clone(),
        default_ttl: None,
    };
    let mut starts = Vec::with_capacity(chunks);
    for cand in &candidates {
        starts.push((pre.origin.clone(), pre.default_ttl));
        for &off in cand {
            prescan_directive(text, off, file, &mut pre, &mut cache, 0)?;
            if text[off..].len() >= 8 && text[off..off + 8].eq_ignore_ascii_case(b"$INCLUDE") {
                effects.insert(off, pre.default_ttl);
            }
        }
    }
    // 3. The chunks, in parallel.
    let env = Env {
        zone: &opts.origin,
        class: opts.class,
        cache: &cache,
        include_effects: Some(&effects),
    };
    let run = |k: usize| -> Result<Out, Stop> {
        let (origin, default_ttl) = starts[k].clone();
        let mut state = State::new(origin, default_ttl, k == 0 || default_ttl.is_some());
        let mut out = Out::default();
        let body = &text[cuts[k]..cuts[k + 1]];
        // About 40 bytes of text per record in real zones.
        out.records.reserve(body.len() / 40);
        let mut sc = Scratch::default();
        entry::parse_text(
            &env, file, body, cuts[k], 1, true, 0, &mut state, &mut out, &mut sc,
        )?;
        Ok(out)
    };
    let results: Vec<Result<Out, Stop>> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..chunks).map(|k| s.spawn(move || run(k))).collect();
        let mut all = vec![run(0)];
        all.extend(handles.into_iter().map(|h| h.join().expect("parse thread")));
        all
    });
    // 4. Check the guess.
    let mut outs = Vec::with_capacity(chunks);
    for (k, r) in results.into_iter().enumerate() {
        let out = r.ok()?;
        if out.directives != candidates[k] {
            return None;
        }
        outs.push(out);
    }
    Some(outs)
}

/// Joins the chunks' results and checks the zone as a whole.
fn finish(file: &Path, opts: &ParseOptions, outs: Vec<Out>) -> Result<ParsedZone, ParseError> {
    let total: usize = outs.iter().map(|o| o.records.len()).sum();
    let mut records = Vec::new();
    let mut warnings = Vec::new();
    let mut sources = vec![file.to_path_buf()];
    let mut soas = Vec::new();
    let mut line_base = 0u32;
    for out in outs {
        let fix = |line: u32, in_main: bool| if in_main { line + line_base } else { line };
        if records.is_empty() {
            // The first chunk's vector becomes the result: one copy fewer.
            records = out.records;
            records.reserve(total - records.len());
        } else {
            records.extend(out.records);
        }
        for w in out.warnings {
            let mut warning = w.warning;
            warning.line = fix(warning.line, w.in_main);
            warnings.push(warning);
        }
        for (f, line, in_main) in out.soas {
            soas.push((f, fix(line, in_main)));
        }
        sources.extend(out.sources);
        line_base += out.end_line.saturating_sub(1);
    }
    match soas.len() {
        1 => {}
        0 => {
            return Err(ParseError {
                file: file.to_path_buf(),
                line: 0,
                message: format!("zone {} has no SOA record at its apex", opts.origin),
            })
        }
        _ => {
            let (f, line) = soas.swap_remove(1);
            return Err(ParseError {
                file: f,
                line,
                message: format!(
                    "second SOA record for {} (a zone has exactly one)",
                    opts.origin
                ),
            });
        }
    }
    Ok(ParsedZone {
        origin: opts.origin.clone(),
        records,
        warnings,
        sources,
        main_file: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(threads: usize) -> ParseOptions {
        ParseOptions {
            threads,
            ..ParseOptions::new(Name::parse("example.com.", None).unwrap())
        }
    }

    fn parse(text: &str) -> Result<ParsedZone, ParseError> {
        parse_str(text, Path::new("t.zone"), &opts(1))
    }

    const HEAD: &str = "$TTL 1h\n@ SOA ns hm 1 2 3 4 5\n NS ns.example.net.\n";

    #[test]
    fn fields_in_any_order() {
        let z = parse(&format!(
            "{HEAD}a 10 IN A 192.0.2.1\nb IN 20 A 192.0.2.2\nc A 192.0.2.3\n  in 5m aaaa ::1\n"
        ))
        .unwrap();
        let ttls: Vec<u32> = z.records.iter().map(|r| r.ttl).collect();
        assert_eq!(ttls, [3600, 3600, 10, 20, 3600, 300]);
        assert_eq!(z.records[5].owner.to_string(), "c.example.com.");
    }

    #[test]
    fn ttl_without_dollar_ttl_follows_bind() {
        let z =
            parse("@ SOA ns hm 1 2 3 4 5\n NS ns.example.net.\nns 600 A 1.2.3.4\nx A 1.2.3.5\n")
                .unwrap();
        let ttls: Vec<u32> = z.records.iter().map(|r| r.ttl).collect();
        assert_eq!(ttls, [5, 5, 600, 5]);
        assert!(z.warnings[0].message.contains("MINIMUM"));
        let z = parse(
            "@ 300 SOA ns hm 1 2 3 4 5\n NS ns.example.net.\nns 600 A 1.2.3.4\nx A 1.2.3.5\n",
        )
        .unwrap();
        let ttls: Vec<u32> = z.records.iter().map(|r| r.ttl).collect();
        assert_eq!(ttls, [300, 300, 600, 600]);
        let e = parse("a A 1.2.3.4\n@ SOA ns hm 1 2 3 4 5\n").unwrap_err();
        assert_eq!(e.line, 1);
    }

    #[test]
    fn crlf_tabs_and_no_final_newline() {
        let z = parse(
            "$TTL 1h\r\n@\tSOA\tns hm ( 1 2 3\r\n 4 5 )\r\n\tNS ns.example.net.\r\na A 192.0.2.1",
        )
        .unwrap();
        assert_eq!(z.records.len(), 3);
        assert_eq!(z.records[2].rdata[..], [192, 0, 2, 1]);
    }

    #[test]
    fn zone_checks() {
        let e = parse("$TTL 1\na A 1.2.3.4\n").unwrap_err();
        assert!(e.message.contains("no SOA"), "{e}");
        let e = parse(&format!("{HEAD}@ SOA ns hm 2 2 3 4 5\n")).unwrap_err();
        assert_eq!(e.line, 4);
        let e = parse(&format!("{HEAD}a SOA ns hm 2 2 3 4 5\n")).unwrap_err();
        assert!(e.message.contains("apex"), "{e}");
        let e = parse(&format!("{HEAD}a CH A 1.2.3.4\n")).unwrap_err();
        assert_eq!((e.line, e.to_string().starts_with("t.zone:4:")), (4, true));
        let z = parse(&format!("{HEAD}a.example.net. A 1.2.3.4\n")).unwrap();
        assert_eq!(z.records.len(), 2);
        assert_eq!(
            z.warnings[0].to_string().split(": ").next(),
            Some("t.zone:4")
        );
    }

    /// A `$TTL` inside an include reaches the chunks after it without a sequential re-parse.
    #[test]
    fn includes_keep_the_parallel_path() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("ttl.inc"), "$TTL 777\ninc A 192.0.2.1\n").unwrap();
        let mut text = String::from(HEAD);
        for i in 0..40_000 {
            if i == 10_000 {
                text.push_str("$INCLUDE ttl.inc\n");
            }
            text.push_str(&format!("h{i} A 192.0.2.{}\n", i % 250));
        }
        let file = tmp.path().join("main.zone");
        let outs = parallel(text.as_bytes(), &file, &opts(2), 2).expect("parallel path");
        let last = outs.last().unwrap().records.last().unwrap();
        assert_eq!(last.ttl, 777);
    }

    /// The generator's realistic zone takes the parallel path (no sequential fallback).
    #[test]
    fn generated_zone_is_parsed_in_parallel() {
        let origin = Name::parse("example.com.", None).unwrap();
        let mut text = Vec::new();
        crate::gen::generate(&origin, 30_000, 7, &mut text).unwrap();
        let file = Path::new("gen.zone");
        let outs = parallel(&text, file, &opts(2), 2).expect("parallel path");
        assert_eq!(outs.len(), 2);
        let z1 = parse_bytes(&text, file, &opts(1)).unwrap();
        let z2 = parse_bytes(&text, file, &opts(2)).unwrap();
        assert_eq!(z1.records.len(), 30_000);
        assert!(z1.records == z2.records);
    }

    /// A zone large enough to be split, with directives, parentheses across the cuts and
    /// out-of-zone data, parses identically with any thread count; the parallel path is taken
    /// unless a line inside parentheses starts with '$'.
    #[test]
    fn thread_count_does_not_change_the_result() {
        let big = |dollar_in_parens: bool| {
            let mut text = String::from(HEAD);
            for i in 0..20_000 {
                match i % 1000 {
                    0 => text.push_str(&format!("$ORIGIN s{i}.example.com.\n")),
                    1 => text.push_str("$TTL 2h\n"),
                    2 => text.push_str("t TXT ( \"a;b\"\nc\n\"d\" )\n"),
                    3 => text.push_str("x.example.org. A 1.2.3.4\n"),
                    4 if dollar_in_parens => text.push_str("t TXT ( \"a;b\"\n$x )\n"),
                    _ => {}
                }
                text.push_str(&format!(
                    "h{i} IN A 192.0.2.{}\n  AAAA 2001:db8::{i:x}\n",
                    i % 256
                ));
            }
            text
        };
        for dollar_in_parens in [false, true] {
            let text = big(dollar_in_parens);
            let file = Path::new("big.zone");
            let one = parse_str(&text, file, &opts(1)).unwrap();
            assert_eq!(
                parallel(text.as_bytes(), file, &opts(2), 2).is_some(),
                !dollar_in_parens
            );
            for threads in [2, 3, 7] {
                let many = parse_str(&text, file, &opts(threads)).unwrap();
                assert_eq!(one.records, many.records, "threads {threads}");
                assert_eq!(one.warnings, many.warnings, "threads {threads}");
            }
        }
        let text = big(false);
        // An error deep in the file has the same line whatever the threads.
        let bad = format!("{text}bad A 1.2.3\n");
        let e1 = parse_str(&bad, Path::new("big.zone"), &opts(1)).unwrap_err();
        let e4 = parse_str(&bad, Path::new("big.zone"), &opts(4)).unwrap_err();
        assert_eq!(e1, e4);
        assert_eq!(e1.line as usize, bad.lines().count());
    }
}

//! The sequential parser of one text (a whole file, an `$INCLUDE`d file, or one chunk of the
//! main file): directives, owner/TTL/class/type fields, TTL defaults, and records.
//!
//! TTL rules follow BIND 9 (checked with named-checkzone 9.18): a record without a TTL takes
//! `$TTL` when one was given; otherwise the previous record's TTL (RFC 1035 section 5.1);
//! a first SOA without any TTL takes its MINIMUM field, which then serves as the default
//! (RFC 2308 section 4 semantics, with a warning). TTLs above 2^31-1 become 0 with a warning
//! (RFC 2181 section 8). `$INCLUDE` keeps the includer's origin and previous owner for the
//! lines after it, but a `$TTL` inside the included file stays in force, as in BIND.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::name::Name;
use crate::record::Record;
use crate::rtype;

use super::lexer::{EntryKind, Lexer, Tok};
use super::rdata::{self, Cursor};
use super::text::{self, show, tok_bytes};
use super::{ParseError, ParseWarning};

/// Deepest `$INCLUDE` nesting; deeper is almost surely a loop.
pub const INCLUDE_DEPTH_MAX: u32 = 16;
/// Largest TTL (RFC 2181 section 8); larger values are read as 0.
pub const TTL_MAX: u32 = 0x7FFF_FFFF;

/// Files read for `$INCLUDE` ahead of the parse (by the parallel pre-scan), by resolved path.
pub type IncludeCache = HashMap<PathBuf, Arc<Vec<u8>>>;

/// What the parse of a text needs from outside and never changes.
pub struct Env<'a> {
    pub zone: &'a Name,
    pub class: u16,
    pub cache: &'a IncludeCache,
    /// For a chunk of a split main file: the `$TTL` in force after each `$INCLUDE` (by offset
    /// of the directive), as the pre-scan predicted it. A different outcome stops the chunk.
    pub include_effects: Option<&'a HashMap<usize, Option<u32>>>,
}

/// Parser state that flows from entry to entry.
#[derive(Clone)]
pub struct State {
    pub origin: Name,
    pub default_ttl: Option<u32>,
    pub last_ttl: Option<u32>,
    /// The previous owner in wire format (empty when there is none yet), and whether it is
    /// inside the zone.
    owner_wire: Vec<u8>,
    owner_in_zone: bool,
    /// False for a chunk that starts where no `$TTL` is known: a record without a TTL then
    /// depends on records in earlier chunks, and the chunk gives up ([`Stop::Sequential`]).
    pub ttl_known: bool,
    /// Text of the previous owner token, to reuse `prev_owner` without parsing it again.
    owner_text: Vec<u8>,
    owner_text_valid: bool,
}

impl State {
    pub fn new(origin: Name, default_ttl: Option<u32>, ttl_known: bool) -> State {
        State {
            origin,
            default_ttl,
            last_ttl: None,
            owner_wire: Vec::new(),
            owner_in_zone: false,
            ttl_known,
            owner_text: Vec::new(),
            owner_text_valid: false,
        }
    }
}

/// Why a parse stopped.
#[derive(Debug)]
pub enum Stop {
    Fail(ParseError),
    /// The chunk depends on state it cannot know; parse the file sequentially instead.
    Sequential,
}

impl From<ParseError> for Stop {
    fn from(e: ParseError) -> Stop {
        Stop::Fail(e)
    }
}

/// A warning, marked when its line is relative to the start of a main-file chunk.
pub struct Warn {
    pub warning: ParseWarning,
    pub in_main: bool,
}

/// What one parse produced.
#[derive(Default)]
pub struct Out {
    pub records: Vec<Record>,
    pub warnings: Vec<Warn>,
    pub sources: Vec<PathBuf>,
    /// Every SOA seen: file, line, whether the line is in the main text.
    pub soas: Vec<(PathBuf, u32, bool)>,
    /// Offsets of the directives processed in the main text.
    pub directives: Vec<usize>,
    /// Line after the last one of the main text.
    pub end_line: u32,
}

/// Reusable buffers, one set per thread.
#[derive(Default)]
pub struct Scratch {
    toks: Vec<Tok>,
    rdata: Vec<u8>,
    buf: Vec<u8>,
    name: Vec<u8>,
}

fn err(file: &Path, line: u32, message: impl Into<String>) -> Stop {
    Stop::Fail(ParseError {
        file: file.to_path_buf(),
        line,
        message: message.into(),
    })
}

/// The class named by `b` (`IN`, `CH`, `HS`, `CS`, `NONE`, `ANY`, `CLASSnnn`), if it is one.
fn class_of(b: &[u8]) -> Option<u16> {
    const NAMES: &[(&[u8], u16)] = &[
        (b"IN", 1),
        (b"CS", 2),
        (b"CH", 3),
        (b"HS", 4),
        (b"NONE", 254),
        (b"ANY", 255),
    ];
    if let Some(&(_, v)) = NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(b)) {
        return Some(v);
    }
    if b.len() > 5 && b[..5].eq_ignore_ascii_case(b"CLASS") {
        return text::number(&b[5..], u16::MAX as u64).map(|v| v as u16);
    }
    None
}

/// The type named by `b`; the common ones by one integer match instead of a table walk.
#[inline]
fn type_of(b: &[u8]) -> Option<u16> {
    const fn key(s: &[u8]) -> u64 {
        let mut v = 0u64;
        let mut i = 0;
        while i < s.len() {
            v = (v << 8) | s[i] as u64;
            i += 1;
        }
        v
    }
    if b.len() <= 8 {
        let mut k = 0u64;
        for &c in b {
            k = (k << 8) | c.to_ascii_uppercase() as u64;
        }
        const A: u64 = key(b"A");
        const NS: u64 = key(b"NS");
        const CNAME: u64 = key(b"CNAME");
        const MX: u64 = key(b"MX");
        const TXT: u64 = key(b"TXT");
        const AAAA: u64 = key(b"AAAA");
        const SRV: u64 = key(b"SRV");
        const PTR: u64 = key(b"PTR");
        const CAA: u64 = key(b"CAA");
        const SOA: u64 = key(b"SOA");
        const DS: u64 = key(b"DS");
        const RRSIG: u64 = key(b"RRSIG");
        const NSEC: u64 = key(b"NSEC");
        const DNSKEY: u64 = key(b"DNSKEY");
        const HTTPS: u64 = key(b"HTTPS");
        let t = match k {
            A => rtype::A,
            NS => rtype::NS,
            CNAME => rtype::CNAME,
            MX => rtype::MX,
            TXT => rtype::TXT,
            AAAA => rtype::AAAA,
            SRV => rtype::SRV,
            PTR => rtype::PTR,
            CAA => rtype::CAA,
            SOA => rtype::SOA,
            DS => rtype::DS,
            RRSIG => rtype::RRSIG,
            NSEC => rtype::NSEC,
            DNSKEY => rtype::DNSKEY,
            HTTPS => rtype::HTTPS,
            _ => return rdata::type_from_text(b),
        };
        return Some(t);
    }
    rdata::type_from_text(b)
}

/// Parses `text` (from `file`) entry by entry, appending to `out`.
///
/// `base` is the offset of `text` in the main file and `main` says whether `text` is (part of)
/// the main file; `first_line` is the line number of its first byte.
#[allow(clippy::too_many_arguments)]
pub fn parse_text(
    env: &Env<'_>,
    file: &Path,
    text: &[u8],
    base: usize,
    first_line: u32,
    main: bool,
    depth: u32,
    state: &mut State,
    out: &mut Out,
    sc: &mut Scratch,
) -> Result<(), Stop> {
    if text.len() > u32::MAX as usize {
        // Token offsets are u32 to keep tokens small.
        return Err(err(file, 0, "file larger than 4 GiB"));
    }
    let mut lx = Lexer::new(text, first_line);
    loop {
        let entry = match lx.next_entry(&mut sc.toks) {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) => return Err(err(file, e.line, e.message)),
        };
        match entry.kind {
            EntryKind::Directive => {
                if main {
                    out.directives.push(base + entry.offset);
                }
                directive(
                    env,
                    file,
                    text,
                    base + entry.offset,
                    entry.line,
                    main,
                    depth,
                    state,
                    out,
                    sc,
                )?;
            }
            EntryKind::Owned | EntryKind::Blank => {
                record(
                    env, file, text, entry.kind, entry.line, main, state, out, sc,
                )?;
            }
        }
    }
    if main {
        out.end_line = lx.line();
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn directive(
    env: &Env<'_>,
    file: &Path,
    text: &[u8],
    offset: usize,
    line: u32,
    main: bool,
    depth: u32,
    state: &mut State,
    out: &mut Out,
    sc: &mut Scratch,
) -> Result<(), Stop> {
    let toks = &sc.toks;
    let word = tok_bytes(text, &toks[0]);
    let arg = |i: usize, what: &str| -> Result<&[u8], Stop> {
        match toks.get(i) {
            Some(t) => Ok(tok_bytes(text, t)),
            None => Err(err(file, line, format!("{} needs {what}", show(word)))),
        }
    };
    let at_most = |n: usize| -> Result<(), Stop> {
        match toks.get(n) {
            Some(t) => Err(err(
                file,
                t.line,
                format!(
                    "too many fields in {}: unexpected '{}'",
                    show(word),
                    show(tok_bytes(text, t))
                ),
            )),
            None => Ok(()),
        }
    };
    if word.eq_ignore_ascii_case(b"$ORIGIN") {
        let b = arg(1, "a domain name")?;
        at_most(2)?;
        let origin = text::name(b, &state.origin, &mut sc.name)
            .map_err(|e| err(file, line, format!("bad $ORIGIN '{}': {e}", show(b))))?;
        state.origin = origin;
        state.owner_text_valid = false;
    } else if word.eq_ignore_ascii_case(b"$TTL") {
        let b = arg(1, "a TTL")?;
        at_most(2)?;
        let mut v =
            text::ttl(b).ok_or_else(|| err(file, line, format!("bad $TTL '{}'", show(b))))?;
        if v > TTL_MAX {
            warn(
                out,
                file,
                line,
                main,
                format!("$TTL {v} is above 2^31-1; using 0"),
            );
            v = 0;
        }
        state.default_ttl = Some(v);
        state.ttl_known = true;
    } else if word.eq_ignore_ascii_case(b"$INCLUDE") {
        let p = arg(1, "a file name")?;
        let mut raw = Vec::new();
        text::unescape_into(p, &mut raw).map_err(|e| err(file, line, e))?;
        let new_origin = match toks.get(2) {
            Some(t) => {
                let b = tok_bytes(text, t);
                Some(text::name(b, &state.origin, &mut sc.name).map_err(|e| {
                    err(
                        file,
                        line,
                        format!("bad $INCLUDE origin '{}': {e}", show(b)),
                    )
                })?)
            }
            None => None,
        };
        at_most(3)?;
        if depth >= INCLUDE_DEPTH_MAX {
            return Err(err(
                file,
                line,
                format!("$INCLUDE nested deeper than {INCLUDE_DEPTH_MAX} (a loop?)"),
            ));
        }
        let path = resolve_include(file, &raw);
        let content = match env.cache.get(&path) {
            Some(c) => c.clone(),
            None => Arc::new(std::fs::read(&path).map_err(|e| {
                err(
                    file,
                    line,
                    format!("cannot read $INCLUDE file {}: {e}", path.display()),
                )
            })?),
        };
        out.sources.push(path.clone());
        let saved_origin = state.origin.clone();
        let saved_owner = (state.owner_wire.clone(), state.owner_in_zone);
        if let Some(o) = new_origin {
            state.origin = o;
        }
        state.owner_text_valid = false;
        parse_text(env, &path, &content, 0, 1, false, depth + 1, state, out, sc)?;
        state.origin = saved_origin;
        (state.owner_wire, state.owner_in_zone) = saved_owner;
        state.owner_text_valid = false;
        if main {
            if let Some(effects) = env.include_effects {
                if effects.get(&offset) != Some(&state.default_ttl) {
                    return Err(Stop::Sequential);
                }
            }
        }
    } else {
        return Err(err(
            file,
            line,
            format!("unknown or unsupported directive '{}'", show(word)),
        ));
    }
    Ok(())
}

/// An `$INCLUDE` path: absolute as given, relative to the including file's directory otherwise
/// (as Knot does; BIND resolves against its working directory).
pub fn resolve_include(file: &Path, raw: &[u8]) -> PathBuf {
    let p = PathBuf::from(String::from_utf8_lossy(raw).into_owned());
    if p.is_absolute() {
        return p;
    }
    match file.parent() {
        Some(dir) => dir.join(p),
        None => p,
    }
}

fn warn(out: &mut Out, file: &Path, line: u32, main: bool, message: String) {
    out.warnings.push(Warn {
        warning: ParseWarning {
            file: file.to_path_buf(),
            line,
            message,
        },
        in_main: main,
    });
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn record(
    env: &Env<'_>,
    file: &Path,
    text: &[u8],
    kind: EntryKind,
    line: u32,
    main: bool,
    state: &mut State,
    out: &mut Out,
    sc: &mut Scratch,
) -> Result<(), Stop> {
    let toks = &sc.toks[..];
    if toks.is_empty() {
        // Only parentheses (with blanks or comments) on the line: BIND reads nothing there.
        // Found by fuzz/fuzz_targets/zonefile.rs (`( \t)` indexed an empty token list).
        return Ok(());
    }
    let mut i = 0;
    if kind == EntryKind::Owned {
        let t = &toks[0];
        i = 1;
        let b = tok_bytes(text, t);
        // A quoted owner is read as the name inside the quotes, as BIND does.
        if !(state.owner_text_valid && state.owner_text == b) {
            state.owner_wire.clear();
            text::name_into(b, &state.origin, &mut state.owner_wire).map_err(|e| {
                state.owner_wire.clear();
                err(file, line, format!("bad owner name '{}': {e}", show(b)))
            })?;
            state.owner_in_zone = is_in_zone(&state.owner_wire, env.zone);
            state.owner_text.clear();
            state.owner_text.extend_from_slice(b);
            state.owner_text_valid = true;
        }
    } else if state.owner_wire.is_empty() {
        return Err(err(
            file,
            line,
            "line starts with white space but there is no previous owner name",
        ));
    }

    // [TTL] [class] or [class] [TTL], then the type.
    let mut ttl: Option<u32> = None;
    let mut class_seen = false;
    let rtype = loop {
        let Some(t) = toks.get(i) else {
            return Err(err(file, line, "missing type (record has no RR type)"));
        };
        let b = tok_bytes(text, t);
        if t.quoted {
            return Err(err(
                file,
                t.line,
                format!("expected an RR type, found \"{}\"", show(b)),
            ));
        }
        i += 1;
        if ttl.is_none() && b.first().is_some_and(u8::is_ascii_digit) {
            let mut v =
                text::ttl(b).ok_or_else(|| err(file, t.line, format!("bad TTL '{}'", show(b))))?;
            if v > TTL_MAX {
                warn(
                    out,
                    file,
                    t.line,
                    main,
                    format!("TTL {v} is above 2^31-1; using 0"),
                );
                v = 0;
            }
            ttl = Some(v);
            continue;
        }
        // `IN` is the common case; other class names are looked up only when the token is not
        // a type (no class name is a type but ANY, which is an error either way).
        let class = if !class_seen && b.eq_ignore_ascii_case(b"IN") {
            1
        } else if let Some(v) = type_of(b) {
            break v;
        } else {
            match class_of(b).filter(|_| !class_seen) {
                Some(c) => c,
                None => {
                    return Err(err(file, t.line, format!("unknown RR type '{}'", show(b))));
                }
            }
        };
        if class != env.class {
            return Err(err(
                file,
                t.line,
                format!("class '{}' does not match the zone's class", show(b)),
            ));
        }
        class_seen = true;
    };
    if rtype::is_meta(rtype) {
        return Err(err(
            file,
            line,
            format!("type {} cannot appear in a zone", rtype_name(rtype)),
        ));
    }

    let mut c = Cursor {
        text,
        toks: &toks[i..],
        pos: 0,
        line,
        origin: &state.origin,
    };
    rdata::parse(rtype, &mut c, &mut sc.rdata, &mut sc.buf).map_err(|f| {
        err(
            file,
            f.line,
            format!("{} record: {}", rtype_name(rtype), f.msg),
        )
    })?;

    let ttl = match ttl {
        Some(v) => v,
        None => match state.default_ttl {
            Some(d) => d,
            None if !state.ttl_known => return Err(Stop::Sequential),
            None => match state.last_ttl {
                Some(l) => l,
                None if rtype == rtype::SOA => {
                    let r = &sc.rdata;
                    let min = u32::from_be_bytes(r[r.len() - 4..].try_into().expect("4 bytes"));
                    warn(
                        out,
                        file,
                        line,
                        main,
                        format!("no TTL and no $TTL: using the SOA MINIMUM {min}"),
                    );
                    state.default_ttl = Some(min);
                    min
                }
                None => {
                    return Err(err(
                        file,
                        line,
                        "no TTL specified (no $TTL and no earlier record with a TTL)",
                    ))
                }
            },
        },
    };
    state.last_ttl = Some(ttl);

    let owner = Name::from_wire(&state.owner_wire).expect("built by name_into");
    if !state.owner_in_zone {
        warn(
            out,
            file,
            line,
            main,
            format!("ignoring out-of-zone data ({owner} is not in {})", env.zone),
        );
        return Ok(());
    }
    if rtype == rtype::SOA {
        if !owner.eq_ignore_case(env.zone) {
            return Err(err(
                file,
                line,
                format!(
                    "SOA record not at the zone apex ({owner} is not {})",
                    env.zone
                ),
            ));
        }
        out.soas.push((file.to_path_buf(), line, main));
    }
    out.records.push(Record {
        owner,
        rtype,
        class: env.class,
        ttl,
        rdata: sc.rdata.as_slice().into(),
    });
    Ok(())
}

/// Whether the wire name `wire` is `zone` or below it (ASCII case-insensitive).
fn is_in_zone(wire: &[u8], zone: &Name) -> bool {
    let z = zone.as_wire();
    if z.len() > wire.len() {
        return false;
    }
    let start = wire.len() - z.len();
    let mut pos = 0;
    while pos < start {
        pos += 1 + wire[pos] as usize;
    }
    pos == start && wire[start..].eq_ignore_ascii_case(z)
}

fn rtype_name(t: u16) -> String {
    rtype::mnemonic(t)
        .map(str::to_string)
        .unwrap_or_else(|| format!("TYPE{t}"))
}

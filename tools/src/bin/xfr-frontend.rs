//! `xfr-frontend`: a minimal real authoritative TCP front end that hands zone-transfer
//! connections to xfrd over handoff protocol v1 (the BIND 10 Xfrout model).
//!
//! It accepts DNS over TCP, reads exactly one message at a time (the 2-byte length, then that
//! many bytes: nothing a client pipelined behind it is read), and:
//! - AXFR or IXFR: passes the client's socket and the query to xfrd. Taken: closes its own
//!   copy; xfrd answers and serves the connection from then on. Not taken: keeps the
//!   connection and answers itself (NOTAUTH for a zone xfrd does not serve, SERVFAIL when xfrd
//!   is overloaded or unreachable, FORMERR for a malformed query), then reads the next query.
//! - SOA for a zone it was given: answers itself, authoritatively, from the zone file.
//! - anything else: REFUSED.
//!
//! It is both the reference integration of the protocol and the load source of the handoff
//! benchmark. A fixed pool of worker threads accepts and serves client connections (no thread
//! is started per connection), sharing a pool of long-lived connections to xfrd.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use crossbeam::channel::{Receiver, Sender};
use xfr_handoff::{Client, Status};
use zone_store::zonefile::{parse_file, ParseOptions};
use zone_store::{rtype, Name};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Authoritative TCP front end that hands zone transfers to xfrd (handoff protocol v1)"
)]
struct Args {
    /// TCP address to accept DNS clients on.
    #[arg(long, default_value = "127.0.0.1:5300")]
    listen: SocketAddr,
    /// xfrd's handoff socket (its `--handoff PATH`).
    #[arg(long)]
    handoff: PathBuf,
    /// A zone whose SOA this front end answers itself: ORIGIN=ZONEFILE (repeatable).
    #[arg(long = "zone", value_name = "ORIGIN=ZONEFILE")]
    zones: Vec<String>,
    /// Long-lived connections to xfrd, shared by the workers.
    #[arg(long, default_value_t = 16)]
    engine_connections: usize,
    /// Worker threads; each accepts and serves one client connection at a time, so this is
    /// also the most client connections served at once (a transfer's connection is handed off
    /// at once, freeing its worker; an SOA client holds one until it closes or goes idle).
    #[arg(long, default_value_t = 64)]
    workers: usize,
    /// A client that sends nothing for this long is closed.
    #[arg(long, default_value_t = 10_000)]
    idle_timeout_ms: u64,
}

/// What the front end answers itself: the SOA of each zone, by lowercased wire origin.
struct Zones {
    soa: HashMap<Vec<u8>, (u32, Box<[u8]>)>,
}

/// Long-lived connections to the engine, lent to one client thread at a time.
struct EnginePool {
    path: PathBuf,
    take: Receiver<Option<Client>>,
    give: Sender<Option<Client>>,
}

impl EnginePool {
    fn new(path: PathBuf, n: usize) -> Result<EnginePool> {
        let (give, take) = crossbeam::channel::bounded(n);
        for _ in 0..n {
            let c = Client::connect(&path)
                .with_context(|| format!("connect to xfrd's handoff socket {}", path.display()))?;
            give.send(Some(c)).expect("pool has room");
        }
        Ok(EnginePool { path, take, give })
    }

    /// Hands `client` off. Err: the engine could not be reached; the caller keeps the client.
    fn hand_off(&self, client: &TcpStream, query: &[u8]) -> io::Result<Status> {
        let slot = self.take.recv().expect("pool sender lives in self");
        let mut conn = match slot {
            Some(c) => c,
            None => match Client::connect(&self.path) {
                Ok(c) => c,
                Err(e) => {
                    let _ = self.give.send(None);
                    return Err(e);
                }
            },
        };
        let result = conn.hand_off(client.as_fd(), query);
        // A connection that failed mid-handoff is out of step: drop it, reconnect next time.
        let _ = self
            .give
            .send(if result.is_ok() { Some(conn) } else { None });
        result
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut zones = Zones {
        soa: HashMap::new(),
    };
    for spec in &args.zones {
        let (origin, file) = spec
            .split_once('=')
            .with_context(|| format!("--zone {spec}: expected ORIGIN=ZONEFILE"))?;
        let origin = Name::parse(origin, Some(&Name::root()))
            .map_err(|e| anyhow::anyhow!("--zone {spec}: origin: {e}"))?;
        let parsed = parse_file(
            file.as_ref(),
            &ParseOptions {
                origin: origin.clone(),
                class: zone_store::record::CLASS_IN,
                threads: 1,
            },
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let soa = parsed
            .records
            .iter()
            .find(|r| r.rtype == rtype::SOA)
            .context("zone has no SOA")?;
        zones.soa.insert(
            origin.to_lowercase().as_wire().to_vec(),
            (soa.ttl, soa.rdata.clone()),
        );
    }
    let zones = Arc::new(zones);
    let pool = Arc::new(EnginePool::new(
        args.handoff.clone(),
        args.engine_connections.max(1),
    )?);
    let listener = Arc::new(
        TcpListener::bind(args.listen).with_context(|| format!("listen on {}", args.listen))?,
    );
    eprintln!(
        "xfr-frontend: serving on {} with {} workers, handing transfers to {}",
        args.listen,
        args.workers,
        args.handoff.display()
    );
    let idle = Duration::from_millis(args.idle_timeout_ms);
    let workers: Vec<_> = (0..args.workers.max(1))
        .map(|i| {
            let (zones, pool, listener) = (zones.clone(), pool.clone(), listener.clone());
            std::thread::Builder::new()
                .name(format!("frontend-{i}"))
                .spawn(move || loop {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _ = serve_client(stream, &zones, &pool, idle);
                        }
                        Err(e) => {
                            // EMFILE and friends: back off instead of spinning on accept.
                            eprintln!("xfr-frontend: accept: {e}");
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                })
                .context("starting a worker")
        })
        .collect::<Result<_>>()?;
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}

/// Serves one client connection until it closes, goes idle, or is handed off.
fn serve_client(
    mut stream: TcpStream,
    zones: &Zones,
    pool: &EnginePool,
    idle: Duration,
) -> Result<()> {
    stream.set_read_timeout(Some(idle))?;
    stream.set_nodelay(true)?;
    let mut msg = Vec::with_capacity(512);
    loop {
        let mut len = [0u8; 2];
        match stream.read_exact(&mut len) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(())
            }
            Err(e) => return Err(e.into()),
        }
        msg.resize(u16::from_be_bytes(len) as usize, 0);
        stream.read_exact(&mut msg)?;
        let Some(q) = parse_query(&msg) else {
            // Not even a header and a question: nothing sensible to echo.
            let _ = stream.shutdown(Shutdown::Both);
            return Ok(());
        };
        let answer = match q.qtype {
            rtype::AXFR | rtype::IXFR => match pool.hand_off(&stream, &msg) {
                Ok(Status::Taken) => return Ok(()), // the engine owns it now; close our copy
                Ok(Status::NotServed) => response(&msg, &q, RCODE_NOTAUTH, None),
                Ok(Status::Malformed) => response(&msg, &q, RCODE_FORMERR, None),
                Ok(Status::Overloaded) | Err(_) => response(&msg, &q, RCODE_SERVFAIL, None),
            },
            rtype::SOA => match zones.soa.get(&q.qname_lower) {
                Some(soa) => response(&msg, &q, 0, Some(soa)),
                None => response(&msg, &q, RCODE_REFUSED, None),
            },
            _ => response(&msg, &q, RCODE_REFUSED, None),
        };
        stream.write_all(&answer)?;
    }
}

const RCODE_FORMERR: u8 = 1;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_NOTAUTH: u8 = 9;
const RCODE_REFUSED: u8 = 5;

struct Query {
    qname_lower: Vec<u8>,
    qtype: u16,
    /// End of the question in the message.
    question_end: usize,
}

/// Header and first question of a query; `None` if they are not there.
fn parse_query(msg: &[u8]) -> Option<Query> {
    if msg.len() < 12 || msg[2] & 0x80 != 0 || u16::from_be_bytes([msg[4], msg[5]]) != 1 {
        return None;
    }
    let name_len = zone_store::name::wire_name_len(&msg[12..]).ok()?;
    let end = 12 + name_len + 4;
    if msg.len() < end {
        return None;
    }
    Some(Query {
        qname_lower: msg[12..12 + name_len].to_ascii_lowercase(),
        qtype: u16::from_be_bytes([msg[12 + name_len], msg[13 + name_len]]),
        question_end: end,
    })
}

/// A TCP-framed response echoing the query's ID, opcode, RD and question; with `soa`, an
/// authoritative answer holding the zone's SOA.
fn response(query: &[u8], q: &Query, rcode: u8, soa: Option<&(u32, Box<[u8]>)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + q.question_end + 16 + soa.map_or(0, |s| s.1.len()));
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&query[..2]); // ID
    let aa = if soa.is_some() { 0x04 } else { 0 };
    out.push(0x80 | (query[2] & 0x79) | aa); // QR, opcode and RD kept
    out.push(rcode);
    out.extend_from_slice(&[0, 1, 0, soa.is_some() as u8, 0, 0, 0, 0]);
    out.extend_from_slice(&query[12..q.question_end]);
    if let Some((ttl, rdata)) = soa {
        out.extend_from_slice(&[0xC0, 12]); // owner: the question's name
        out.extend_from_slice(&rtype::SOA.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
    }
    let len = (out.len() - 2) as u16;
    out[..2].copy_from_slice(&len.to_be_bytes());
    out
}

//! Counters for Prometheus, and the `/metrics` endpoint (`[metrics] listen`).
//!
//! The serving cores count without sharing a cache line: every counter a core writes lives in
//! that core's own [`CachePadded`] block ([`CoreStats`] for the process, one [`ZoneCoreStats`]
//! per zone and core), and it is the only writer, so an increment is a relaxed load and store
//! (a plain `add` to memory on x86), never a locked read-modify-write. A scrape reads every
//! core's blocks and sums them; it may see one core's counters a few increments apart from
//! another's, never a torn or decreasing value. Counters outside the cores (reloads, NOTIFY)
//! have one writer each too: the reload lock's holder and the notifier thread.
//!
//! A zone's counters survive reloads: a new version of a zone takes the previous version's
//! [`ZoneStats`]. A zone removed from the configuration disappears from the output.
//!
//! The endpoint is a small HTTP/1.1 server on its own thread: `GET /metrics` (or HEAD) gets the
//! OpenMetrics text encoding (prometheus-client's encoder), anything else 404, 405 or 400, every
//! connection closed after one answer. Requests are read with a 5 s timeout and at most
//! [`REQUEST_BYTES_MAX`] bytes; scrapes are served one at a time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use crossbeam::utils::CachePadded;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// A counter or gauge with one writer. Readers on other threads see its value at some recent
/// moment.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the counter's owner (one thread) may call this.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Sets a gauge. Only the owner may call this.
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Why a request was refused, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedReason {
    /// No allow_transfer rule matched.
    Acl,
    TsigBadKey,
    TsigBadSig,
    TsigBadTime,
    TsigBadTrunc,
    /// A TSIG record malformed (FORMERR) or refused for another TSIG reason.
    TsigOther,
    /// The core's transfer slots were all taken (SERVFAIL).
    Quota,
}

impl RefusedReason {
    pub const ALL: [RefusedReason; 7] = [
        RefusedReason::Acl,
        RefusedReason::TsigBadKey,
        RefusedReason::TsigBadSig,
        RefusedReason::TsigBadTime,
        RefusedReason::TsigBadTrunc,
        RefusedReason::TsigOther,
        RefusedReason::Quota,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RefusedReason::Acl => "acl",
            RefusedReason::TsigBadKey => "tsig_badkey",
            RefusedReason::TsigBadSig => "tsig_badsig",
            RefusedReason::TsigBadTime => "tsig_badtime",
            RefusedReason::TsigBadTrunc => "tsig_badtrunc",
            RefusedReason::TsigOther => "tsig_other",
            RefusedReason::Quota => "quota",
        }
    }

    /// The reason of a TSIG refusal, from the verifier's reason text.
    pub fn of_tsig(reason: &str) -> RefusedReason {
        match reason {
            "BADKEY" => RefusedReason::TsigBadKey,
            "BADSIG" => RefusedReason::TsigBadSig,
            "BADTIME" => RefusedReason::TsigBadTime,
            "BADTRUNC" => RefusedReason::TsigBadTrunc,
            _ => RefusedReason::TsigOther,
        }
    }
}

/// What a transfer served, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    Axfr,
    /// A diff from the journal (TCP, or one datagram over UDP).
    Ixfr,
    /// An IXFR answered with the whole zone (RFC 1995 section 4).
    IxfrAsAxfr,
    /// An IXFR answered with the single SOA: up to date, or "use TCP" over UDP.
    SoaOnly,
}

impl Served {
    pub const ALL: [Served; 4] = [
        Served::Axfr,
        Served::Ixfr,
        Served::IxfrAsAxfr,
        Served::SoaOnly,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Served::Axfr => "axfr",
            Served::Ixfr => "ixfr",
            Served::IxfrAsAxfr => "axfr_style",
            Served::SoaOnly => "soa_only",
        }
    }

    /// From the transfer's log label (answer.rs `TransferStart::served`).
    pub fn of_log_label(served: &str) -> Served {
        match served {
            "IXFR" => Served::Ixfr,
            "IXFR as AXFR" => Served::IxfrAsAxfr,
            _ => Served::Axfr,
        }
    }
}

/// Upper bounds (seconds) of the transfer duration histogram's buckets; +Inf follows.
pub const DURATION_BUCKETS_S: [f64; 12] = [
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// A duration histogram with one writer.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Per bucket (not cumulative); the last is +Inf.
    buckets: [Counter; DURATION_BUCKETS_S.len() + 1],
    sum_us: Counter,
    count: Counter,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = DURATION_BUCKETS_S
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(DURATION_BUCKETS_S.len());
        self.buckets[i].inc();
        self.sum_us.add(d.as_micros() as u64);
        self.count.inc();
    }
}

/// Sums of histograms, for encoding.
#[derive(Debug, Default)]
struct HistogramSum {
    buckets: [u64; DURATION_BUCKETS_S.len() + 1],
    sum_us: u64,
    count: u64,
}

impl HistogramSum {
    fn add(&mut self, h: &Histogram) {
        for (s, b) in self.buckets.iter_mut().zip(&h.buckets) {
            *s += b.get();
        }
        self.sum_us += h.sum_us.get();
        self.count += h.count.get();
    }

    fn bucket_list(&self) -> Vec<(f64, u64)> {
        DURATION_BUCKETS_S
            .iter()
            .copied()
            .chain(std::iter::once(f64::MAX))
            .zip(self.buckets.iter().copied())
            .collect()
    }
}

/// The transports counted apart.
pub const TRANSPORTS: [&str; 3] = ["udp", "tcp", "tls"];

/// One core's counters for the whole process.
#[derive(Debug, Default)]
pub struct CoreStats {
    /// Gauges, set once per loop turn.
    pub connections_open: Counter,
    pub transfers_in_flight: Counter,
    pub connections_accepted: Counter,
    /// Over `max_connections_per_core`: closed at once.
    pub connections_rejected: Counter,
    /// Replies by transport ([`TRANSPORTS`]) and rcode ([`rcode_slot`]).
    pub responses: [[Counter; RCODE_SLOTS]; TRANSPORTS.len()],
    /// SOA queries answered with the SOA, by transport.
    pub soa_answers: [Counter; TRANSPORTS.len()],
    /// Requests refused, by [`RefusedReason`], whatever the zone (served or not).
    pub refused: [Counter; RefusedReason::ALL.len()],
    /// Handoff frames answered, by status (taken, malformed, overloaded, not served).
    pub handoffs: [Counter; 4],
    /// XoT handshakes completed: full, resumed.
    pub tls_handshakes: [Counter; 2],
    /// XoT connections closed on a TLS error (a failed handshake included).
    pub tls_failures: Counter,
}

/// The handoff statuses, in `CoreStats::handoffs` order.
pub const HANDOFF_STATUSES: [&str; 4] = ["taken", "malformed", "overloaded", "not_served"];

/// One core's counters for one zone.
#[derive(Debug, Default)]
pub struct ZoneCoreStats {
    /// Transfers started, by [`Served`] (SOA-only answers counted when sent).
    pub transfers: [Counter; Served::ALL.len()],
    /// Transfers that ended before their last message was sent (peer gone, timeout, stop).
    pub transfers_aborted: Counter,
    pub bytes: Counter,
    pub messages: Counter,
    /// Transfers sent to the end: from the query to the last byte handed to the kernel.
    pub duration: Histogram,
    pub refused: [Counter; RefusedReason::ALL.len()],
}

/// The last load of a zone (start-up, reload, or `xfrctl reload`).
#[derive(Debug, Clone)]
pub struct LoadRecord {
    pub at: SystemTime,
    pub ms: u64,
    /// How the store was obtained (zones::Origin, as text), or the error that kept the previous
    /// version (or left the zone unserved).
    pub outcome: std::result::Result<&'static str, String>,
}

/// A zone's counters, carried from version to version.
#[derive(Debug)]
pub struct ZoneStats {
    cores: Box<[CachePadded<ZoneCoreStats>]>,
    /// Written under the reload lock.
    pub loads: Counter,
    pub load_failures: Counter,
    pub last_load: Mutex<Option<LoadRecord>>,
}

impl ZoneStats {
    pub fn new(cores: usize) -> ZoneStats {
        ZoneStats {
            cores: (0..cores.max(1)).map(|_| Default::default()).collect(),
            loads: Counter::default(),
            load_failures: Counter::default(),
            last_load: Mutex::new(None),
        }
    }

    /// Core `i`'s block (the last one for an index beyond: never the case for a serving core).
    #[inline]
    pub fn core(&self, i: usize) -> &ZoneCoreStats {
        &self.cores[i.min(self.cores.len() - 1)]
    }

    pub fn record_load(
        &self,
        started: Instant,
        outcome: std::result::Result<&'static str, String>,
    ) {
        self.loads.inc();
        if outcome.is_err() {
            self.load_failures.inc();
        }
        *self.last_load.lock().expect("load record lock") = Some(LoadRecord {
            at: SystemTime::now(),
            ms: started.elapsed().as_millis() as u64,
            outcome,
        });
    }

    /// Sums over the cores, for `xfrctl zone`.
    pub fn totals(&self) -> ZoneTotals {
        let mut t = ZoneTotals::default();
        for c in self.cores.iter() {
            for (s, v) in t.transfers.iter_mut().zip(&c.transfers) {
                *s += v.get();
            }
            t.aborted += c.transfers_aborted.get();
            t.bytes += c.bytes.get();
            t.messages += c.messages.get();
            t.refused += c.refused.iter().map(Counter::get).sum::<u64>();
        }
        t
    }
}

/// A zone's counters summed over the cores.
#[derive(Debug, Default, Clone, Copy)]
pub struct ZoneTotals {
    /// By [`Served`].
    pub transfers: [u64; Served::ALL.len()],
    pub aborted: u64,
    pub bytes: u64,
    pub messages: u64,
    pub refused: u64,
}

/// The process's counters: the cores' blocks and the counters of the other threads.
#[derive(Debug)]
pub struct Metrics {
    cores: Box<[CachePadded<CoreStats>]>,
    pub started: SystemTime,
    /// Written under the reload lock.
    pub reloads: Counter,
    pub reload_failures: Counter,
    pub last_reload_us: Counter,
    /// Written by the notifier thread.
    pub notify_sent: Counter,
    pub notify_acknowledged: Counter,
    /// Answered with an error rcode, or never answered after every retry.
    pub notify_failed: Counter,
}

impl Metrics {
    pub fn new(cores: usize) -> Metrics {
        Metrics {
            cores: (0..cores.max(1)).map(|_| Default::default()).collect(),
            started: SystemTime::now(),
            reloads: Counter::default(),
            reload_failures: Counter::default(),
            last_reload_us: Counter::default(),
            notify_sent: Counter::default(),
            notify_acknowledged: Counter::default(),
            notify_failed: Counter::default(),
        }
    }

    #[inline]
    pub fn core(&self, i: usize) -> &CoreStats {
        &self.cores[i.min(self.cores.len() - 1)]
    }

    pub fn cores(&self) -> impl Iterator<Item = &CoreStats> {
        self.cores.iter().map(|c| &**c)
    }

    fn sum(&self, f: impl Fn(&CoreStats) -> &Counter) -> u64 {
        self.cores().map(|c| f(c).get()).sum()
    }

    pub fn connections_open(&self) -> u64 {
        self.sum(|c| &c.connections_open)
    }

    pub fn transfers_in_flight(&self) -> u64 {
        self.sum(|c| &c.transfers_in_flight)
    }
}

/// Encodes every metric at scrape time from the counters and the current zone set.
#[derive(Debug)]
pub struct XfrdCollector {
    pub shared: Arc<crate::core::Shared>,
}

type Enc<'a> = DescriptorEncoder<'a>;

fn counter(e: &mut Enc<'_>, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, MetricType::Counter)?)
}

fn gauge(e: &mut Enc<'_>, name: &str, help: &str, v: i64) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

impl Collector for XfrdCollector {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> std::fmt::Result {
        let m = &self.shared.metrics;
        let (set, _) = self.shared.zones.snapshot();
        let zones = set.zones();

        // ---- per zone ----
        {
            let mut f = e.encode_descriptor(
                "xfrd_zone_transfers",
                "Transfers served, by type: axfr, ixfr (a diff from the journal), axfr_style (an IXFR answered with the whole zone), soa_only (an IXFR answered with the single SOA).",
                None,
                MetricType::Counter,
            )?;
            for z in zones {
                for (k, served) in Served::ALL.iter().enumerate() {
                    let v: u64 = (0..z.stats.cores.len())
                        .map(|i| z.stats.core(i).transfers[k].get())
                        .sum();
                    let labels = [("zone", &*z.origin_text), ("type", served.label())];
                    ConstCounter::new(v).encode(f.encode_family(&labels)?)?;
                }
            }
        }
        let per_zone = |e: &mut Enc<'_>,
                        name: &str,
                        help: &str,
                        pick: &dyn Fn(&ZoneCoreStats) -> u64|
         -> std::fmt::Result {
            let mut f = e.encode_descriptor(name, help, None, MetricType::Counter)?;
            for z in zones {
                let v: u64 = z.stats.cores.iter().map(|c| pick(c)).sum();
                ConstCounter::new(v).encode(f.encode_family(&[("zone", &*z.origin_text)])?)?;
            }
            Ok(())
        };
        per_zone(
            &mut e,
            "xfrd_zone_transfers_aborted",
            "Transfers that ended before their last message (peer gone, timeout, shutdown).",
            &|c| c.transfers_aborted.get(),
        )?;
        per_zone(
            &mut e,
            "xfrd_zone_transfer_bytes",
            "Bytes of transfer messages sent (TCP length prefixes and TSIG records included).",
            &|c| c.bytes.get(),
        )?;
        per_zone(
            &mut e,
            "xfrd_zone_transfer_messages",
            "Transfer messages sent.",
            &|c| c.messages.get(),
        )?;
        {
            let mut f = e.encode_descriptor(
                "xfrd_zone_transfer_duration_seconds",
                "Duration of transfers sent to the end, from the query to the last byte handed to the kernel.",
                None,
                MetricType::Histogram,
            )?;
            for z in zones {
                let mut h = HistogramSum::default();
                for c in z.stats.cores.iter() {
                    h.add(&c.duration);
                }
                let labels = [("zone", &*z.origin_text)];
                let mut fe = f.encode_family(&labels)?;
                fe.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                    h.sum_us as f64 / 1e6,
                    h.count,
                    &h.bucket_list(),
                    None,
                )?;
            }
        }
        {
            let mut f = e.encode_descriptor(
                "xfrd_zone_refused",
                "Transfer and TSIG refusals for the zone, by reason: acl, tsig_badkey, tsig_badsig, tsig_badtime, tsig_badtrunc, tsig_other, quota.",
                None,
                MetricType::Counter,
            )?;
            for z in zones {
                for (k, r) in RefusedReason::ALL.iter().enumerate() {
                    let v: u64 = z.stats.cores.iter().map(|c| c.refused[k].get()).sum();
                    let labels = [("zone", &*z.origin_text), ("reason", r.label())];
                    ConstCounter::new(v).encode(f.encode_family(&labels)?)?;
                }
            }
        }
        let zone_gauge = |e: &mut Enc<'_>,
                          name: &str,
                          help: &str,
                          pick: &dyn Fn(&crate::zones::Zone) -> i64|
         -> std::fmt::Result {
            let mut f = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for z in zones {
                ConstGauge::new(pick(z)).encode(f.encode_family(&[("zone", &*z.origin_text)])?)?;
            }
            Ok(())
        };
        zone_gauge(&mut e, "xfrd_zone_serial", "The SOA serial served.", &|z| {
            z.store.serial() as i64
        })?;
        zone_gauge(
            &mut e,
            "xfrd_zone_records",
            "Records of the version served.",
            &|z| z.store.record_count() as i64,
        )?;
        zone_gauge(
            &mut e,
            "xfrd_zone_journal_versions",
            "Older versions an IXFR can start from (the journal's history).",
            &|z| z.journal.as_ref().map_or(0, |j| j.versions()) as i64,
        )?;
        zone_gauge(
            &mut e,
            "xfrd_zone_journal_bytes",
            "Bytes of the zone's journal file.",
            &|z| z.journal.as_ref().map_or(0, |j| j.file_bytes()) as i64,
        )?;
        per_zone_load(&mut e, zones)?;

        // ---- per process ----
        gauge(
            &mut e,
            "xfrd_connections_open",
            "TCP connections open (accepted and handed off).",
            m.connections_open() as i64,
        )?;
        gauge(
            &mut e,
            "xfrd_transfers_in_flight",
            "Transfers being sent.",
            m.transfers_in_flight() as i64,
        )?;
        counter(
            &mut e,
            "xfrd_connections_accepted",
            "TCP connections accepted on the listeners.",
            m.sum(|c| &c.connections_accepted),
        )?;
        counter(
            &mut e,
            "xfrd_connections_rejected",
            "TCP connections closed at once: the core was at max_connections_per_core.",
            m.sum(|c| &c.connections_rejected),
        )?;
        {
            let mut f = e.encode_descriptor(
                "xfrd_responses",
                "Replies sent (transfers not included), by transport and rcode.",
                None,
                MetricType::Counter,
            )?;
            for (t, transport) in TRANSPORTS.iter().enumerate() {
                for (slot, name) in RCODE_NAMES.iter().enumerate() {
                    let v: u64 = m.cores().map(|c| c.responses[t][slot].get()).sum();
                    if v == 0 && slot != 0 {
                        continue;
                    }
                    let labels = [("transport", *transport), ("rcode", *name)];
                    ConstCounter::new(v).encode(f.encode_family(&labels)?)?;
                }
            }
        }
        {
            let mut f = e.encode_descriptor(
                "xfrd_tls_handshakes",
                "XoT (TLS) handshakes completed, full or resumed.",
                None,
                MetricType::Counter,
            )?;
            for (k, kind) in ["full", "resumed"].iter().enumerate() {
                let v: u64 = m.cores().map(|c| c.tls_handshakes[k].get()).sum();
                ConstCounter::new(v).encode(f.encode_family(&[("kind", *kind)])?)?;
            }
        }
        counter(
            &mut e,
            "xfrd_tls_failures",
            "XoT connections closed on a TLS error, failed handshakes included.",
            m.sum(|c| &c.tls_failures),
        )?;
        {
            let mut f = e.encode_descriptor(
                "xfrd_soa_answers",
                "SOA queries answered with the SOA, by transport.",
                None,
                MetricType::Counter,
            )?;
            for (t, transport) in TRANSPORTS.iter().enumerate() {
                let v: u64 = m.cores().map(|c| c.soa_answers[t].get()).sum();
                ConstCounter::new(v).encode(f.encode_family(&[("transport", *transport)])?)?;
            }
        }
        {
            let mut f = e.encode_descriptor(
                "xfrd_refused",
                "Requests refused, served zone or not, by reason.",
                None,
                MetricType::Counter,
            )?;
            for (k, r) in RefusedReason::ALL.iter().enumerate() {
                let v: u64 = m.cores().map(|c| c.refused[k].get()).sum();
                ConstCounter::new(v).encode(f.encode_family(&[("reason", r.label())])?)?;
            }
        }
        {
            let mut f = e.encode_descriptor(
                "xfrd_handoffs",
                "Connections handed over by front ends, by the status answered.",
                None,
                MetricType::Counter,
            )?;
            for (k, s) in HANDOFF_STATUSES.iter().enumerate() {
                let v: u64 = m.cores().map(|c| c.handoffs[k].get()).sum();
                ConstCounter::new(v).encode(f.encode_family(&[("status", *s)])?)?;
            }
        }
        counter(
            &mut e,
            "xfrd_notify_sent",
            "NOTIFY messages sent (retries included).",
            m.notify_sent.get(),
        )?;
        counter(
            &mut e,
            "xfrd_notify_acknowledged",
            "NOTIFYs answered NOERROR by the secondary.",
            m.notify_acknowledged.get(),
        )?;
        counter(
            &mut e,
            "xfrd_notify_failed",
            "NOTIFYs answered with an error, or unanswered after every retry.",
            m.notify_failed.get(),
        )?;
        counter(
            &mut e,
            "xfrd_reloads",
            "Reloads (SIGHUP or xfrctl reload).",
            m.reloads.get(),
        )?;
        counter(
            &mut e,
            "xfrd_reload_failures",
            "Reloads in which the configuration or a zone failed (what was served stayed).",
            m.reload_failures.get(),
        )?;
        ConstGauge::new(m.last_reload_us.get() as f64 / 1e6).encode(e.encode_descriptor(
            "xfrd_last_reload_duration_seconds",
            "Duration of the last reload.",
            None,
            MetricType::Gauge,
        )?)?;
        gauge(&mut e, "xfrd_zones", "Zones served.", zones.len() as i64)?;
        let up = m
            .started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        gauge(
            &mut e,
            "xfrd_start_time_seconds",
            "When this xfrd started, in seconds since the Unix epoch.",
            up as i64,
        )?;
        Ok(())
    }
}

fn per_zone_load(e: &mut Enc<'_>, zones: &[Arc<crate::zones::Zone>]) -> std::fmt::Result {
    {
        let mut f = e.encode_descriptor(
            "xfrd_zone_loads",
            "Loads of the zone (start-up, reloads): each one kept, reused or compiled a version.",
            None,
            MetricType::Counter,
        )?;
        for z in zones {
            ConstCounter::new(z.stats.loads.get())
                .encode(f.encode_family(&[("zone", &*z.origin_text)])?)?;
        }
    }
    {
        let mut f = e.encode_descriptor(
            "xfrd_zone_load_failures",
            "Loads that failed (the version served before stayed).",
            None,
            MetricType::Counter,
        )?;
        for z in zones {
            ConstCounter::new(z.stats.load_failures.get())
                .encode(f.encode_family(&[("zone", &*z.origin_text)])?)?;
        }
    }
    let mut f = e.encode_descriptor(
        "xfrd_zone_last_load_duration_seconds",
        "Duration of the zone's last load.",
        None,
        MetricType::Gauge,
    )?;
    for z in zones {
        let ms = z
            .stats
            .last_load
            .lock()
            .expect("load record lock")
            .as_ref()
            .map_or(0, |r| r.ms);
        ConstGauge::new(ms as f64 / 1e3).encode(f.encode_family(&[("zone", &*z.origin_text)])?)?;
    }
    Ok(())
}

/// Rcodes counted apart: the header's sixteen, BADVERS (16, an extended rcode), and any other.
pub const RCODE_SLOTS: usize = 18;
const RCODE_NAMES: [&str; RCODE_SLOTS] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE", "11", "12", "13", "14", "15", "BADVERS", "other",
];

/// The slot of `rcode` (extended rcodes included) in `CoreStats::responses`.
#[inline]
pub fn rcode_slot(rcode: u16) -> usize {
    match rcode {
        0..=16 => rcode as usize,
        _ => RCODE_SLOTS - 1,
    }
}

/// The whole `/metrics` body.
pub fn render(collector: XfrdCollector) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector));
    let mut out = String::with_capacity(16 * 1024);
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .expect("encoding into a String cannot fail");
    out
}

// ---- HTTP ----

/// The most a request (line and headers) may take.
pub const REQUEST_BYTES_MAX: usize = 8192;
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// GET or HEAD /metrics (a query string ignored); `head`: no body.
    Metrics { head: bool },
    /// GET or HEAD /: a line pointing to /metrics.
    Index { head: bool },
}

/// Why a request gets no metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("400 Bad Request")]
    BadRequest,
    #[error("404 Not Found")]
    NotFound,
    #[error("405 Method Not Allowed")]
    MethodNotAllowed,
    #[error("431 Request Header Fields Too Large")]
    TooLarge,
    #[error("505 HTTP Version Not Supported")]
    Version,
}

/// Where the request's head ends (after the blank line), if it has arrived.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Parses a complete request head (`buf` up to and including the blank line).
pub fn parse_request(head: &[u8]) -> std::result::Result<Route, HttpError> {
    let line_end = head
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or(HttpError::BadRequest)?;
    let line = std::str::from_utf8(&head[..line_end]).map_err(|_| HttpError::BadRequest)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::BadRequest);
    };
    if !version.starts_with("HTTP/") {
        return Err(HttpError::BadRequest);
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HttpError::Version);
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(HttpError::BadRequest);
    }
    // Header lines: each must be `name: value`.
    for h in head[line_end + 2..].split(|&b| b == b'\n') {
        let h = h.strip_suffix(b"\r").unwrap_or(h);
        if h.is_empty() {
            continue;
        }
        let colon = h
            .iter()
            .position(|&b| b == b':')
            .ok_or(HttpError::BadRequest)?;
        if colon == 0 || h[..colon].iter().any(|b| b.is_ascii_whitespace()) {
            return Err(HttpError::BadRequest);
        }
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(HttpError::MethodNotAllowed),
    };
    let path = target.split('?').next().unwrap_or("");
    match path {
        "/metrics" => Ok(Route::Metrics { head: head_only }),
        "/" => Ok(Route::Index { head: head_only }),
        _ if path.starts_with('/') => Err(HttpError::NotFound),
        _ => Err(HttpError::BadRequest),
    }
}

/// Binds the metrics listener (at start-up, so that a bad address stops xfrd with a clear
/// error) and serves it on a thread of its own.
pub fn start(
    addr: SocketAddr,
    collector: impl Fn() -> XfrdCollector + Send + 'static,
) -> Result<SocketAddr> {
    let listener =
        TcpListener::bind(addr).with_context(|| format!("metrics: listening on {addr}"))?;
    let local = listener.local_addr()?;
    if !local.ip().is_loopback() {
        tracing::warn!(%local, "metrics served beyond loopback: anyone who reaches it reads zone names and counters");
    }
    std::thread::Builder::new()
        .name("xfrd-metrics".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(s) => {
                        if let Err(e) = serve_one(s, &collector) {
                            tracing::debug!("metrics: {e}");
                        }
                    }
                    Err(e) => {
                        tracing::warn!("metrics: accept: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })
        .context("starting the metrics thread")?;
    Ok(local)
}

fn serve_one(mut s: TcpStream, collector: &dyn Fn() -> XfrdCollector) -> std::io::Result<()> {
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut buf = vec![0u8; REQUEST_BYTES_MAX];
    let mut filled = 0;
    let route = loop {
        let n = s.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        if let Some(end) = head_end(&buf[..filled]) {
            break parse_request(&buf[..end]);
        }
        if filled == buf.len() {
            break Err(HttpError::TooLarge);
        }
    };
    match route {
        Ok(Route::Metrics { head }) => {
            let body = render(collector());
            respond(
                &mut s,
                "200 OK",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                body.as_bytes(),
                head,
            )
        }
        Ok(Route::Index { head }) => respond(
            &mut s,
            "200 OK",
            "text/plain; charset=utf-8",
            b"xfrd: metrics at /metrics\n",
            head,
        ),
        Err(e) => {
            let status = e.to_string();
            let body = format!("{status}\n");
            respond(
                &mut s,
                &status,
                "text/plain; charset=utf-8",
                body.as_bytes(),
                false,
            )
        }
    }
}

fn respond(
    s: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    s.write_all(&out)?;
    let _ = s.shutdown(std::net::Shutdown::Write);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_to_routes_or_errors() {
        let p = |s: &str| parse_request(s.as_bytes());
        assert_eq!(
            p("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Ok(Route::Metrics { head: false })
        );
        assert_eq!(
            p("HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Ok(Route::Metrics { head: true })
        );
        assert_eq!(
            p("GET / HTTP/1.1\r\n\r\n"),
            Ok(Route::Index { head: false })
        );
        assert_eq!(p("GET /other HTTP/1.1\r\n\r\n"), Err(HttpError::NotFound));
        assert_eq!(
            p("POST /metrics HTTP/1.1\r\n\r\n"),
            Err(HttpError::MethodNotAllowed)
        );
        assert_eq!(p("GET /metrics HTTP/2.0\r\n\r\n"), Err(HttpError::Version));
        assert_eq!(p("GET /metrics\r\n\r\n"), Err(HttpError::BadRequest));
        assert_eq!(
            p("GET  /metrics HTTP/1.1\r\n\r\n"),
            Err(HttpError::BadRequest)
        );
        assert_eq!(
            p("GET /metrics HTTP/1.1\r\nno colon\r\n\r\n"),
            Err(HttpError::BadRequest)
        );
        assert_eq!(
            p("get /metrics HTTP/1.1\r\n\r\n"),
            Err(HttpError::BadRequest)
        );
        assert_eq!(
            p("GET metrics HTTP/1.1\r\n\r\n"),
            Err(HttpError::BadRequest)
        );
        assert_eq!(p("\u{ff}\r\n\r\n"), Err(HttpError::BadRequest));
    }

    #[test]
    fn head_end_finds_the_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
    }

    #[test]
    fn histogram_puts_durations_in_their_bucket() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(1000));
        let mut s = HistogramSum::default();
        s.add(&h);
        assert_eq!(s.count, 3);
        assert_eq!(s.buckets[0], 1);
        assert_eq!(s.buckets[1], 1);
        assert_eq!(s.buckets[DURATION_BUCKETS_S.len()], 1);
        assert_eq!(s.sum_us, 500 + 3000 + 1_000_000_000);
    }

    #[test]
    fn counters_sum_over_cores() {
        let m = Metrics::new(3);
        m.core(0).connections_open.set(2);
        m.core(2).connections_open.set(5);
        m.core(1).transfers_in_flight.inc();
        assert_eq!(m.connections_open(), 7);
        assert_eq!(m.transfers_in_flight(), 1);
        let z = ZoneStats::new(2);
        z.core(0).transfers[0].inc();
        z.core(1).transfers[0].add(2);
        z.core(1).bytes.add(100);
        let t = z.totals();
        assert_eq!(t.transfers[0], 3);
        assert_eq!(t.bytes, 100);
    }
}

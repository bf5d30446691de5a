//! Counters for Prometheus' text exposition format, written by hand (a
//! dozen series do not need a metrics library).

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::capture::CaptureCounters;
use crate::store::StoreStats;

/// Endpoints, as a closed set so label values are bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Classify,
    All,
    Stats,
    Healthz,
    Metrics,
    OpenApi,
    Other,
}

impl Endpoint {
    const ALL: [Endpoint; 7] = [
        Endpoint::Classify,
        Endpoint::All,
        Endpoint::Stats,
        Endpoint::Healthz,
        Endpoint::Metrics,
        Endpoint::OpenApi,
        Endpoint::Other,
    ];

    fn label(self) -> &'static str {
        match self {
            Endpoint::Classify => "/classify",
            Endpoint::All => "/all",
            Endpoint::Stats => "/stats",
            Endpoint::Healthz => "/healthz",
            Endpoint::Metrics => "/metrics",
            Endpoint::OpenApi => "/openapi.json",
            Endpoint::Other => "other",
        }
    }
}

/// Why the HTTP layer refused a request before synprint saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not HTTP/1.x, or a request head that does not parse (400).
    Malformed,
    /// A URL or request head over the limits (414, 431).
    TooLarge,
    /// A request head not finished within the timeout (closed).
    HeadTimeout,
}

impl Refusal {
    const ALL: [Refusal; 3] = [Refusal::Malformed, Refusal::TooLarge, Refusal::HeadTimeout];

    fn label(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::TooLarge => "too_large",
            Refusal::HeadTimeout => "head_timeout",
        }
    }
}

/// Upper bounds (seconds) of the request latency histogram.
const BUCKETS: [f64; 10] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

#[derive(Default)]
pub struct Metrics {
    /// Accepted connections whose saved SYN was fingerprinted.
    pub listener_syns: AtomicU64,
    /// Accepted connections without a saved SYN (SYN cookies).
    pub listener_no_syn: AtomicU64,
    /// Saved SYNs that could not be read or decoded.
    pub listener_bad_syn: AtomicU64,
    /// Records answered with a classification.
    pub classified: AtomicU64,
    /// Connections closed to give their slot to a new one (every slot was
    /// taken).
    pub connections_reclaimed: AtomicU64,
    requests: [AtomicU64; Endpoint::ALL.len()],
    errors: [AtomicU64; Endpoint::ALL.len()],
    refused: [AtomicU64; Refusal::ALL.len()],
    latency: Histogram,
    captures: Mutex<Vec<(String, Arc<CaptureCounters>)>>,
}

impl Metrics {
    pub fn capture(&self, interface: &str) -> Arc<CaptureCounters> {
        let c = Arc::new(CaptureCounters::default());
        let mut list = self.captures.lock().unwrap_or_else(|e| e.into_inner());
        list.push((interface.to_string(), Arc::clone(&c)));
        c
    }

    pub fn request(&self, endpoint: Endpoint, status: u16, elapsed_ns: u64) {
        let i = Endpoint::ALL
            .iter()
            .position(|e| *e == endpoint)
            .unwrap_or(0);
        if let Some(c) = self.requests.get(i) {
            c.fetch_add(1, Relaxed);
        }
        if status >= 400 {
            if let Some(c) = self.errors.get(i) {
                c.fetch_add(1, Relaxed);
            }
        }
        let secs = elapsed_ns as f64 / 1e9;
        if let Some(b) = BUCKETS.iter().position(|&le| secs <= le) {
            if let Some(c) = self.latency.buckets.get(b) {
                c.fetch_add(1, Relaxed);
            }
        }
        self.latency.count.fetch_add(1, Relaxed);
        self.latency.sum_ns.fetch_add(elapsed_ns, Relaxed);
    }

    pub fn refused(&self, why: Refusal) {
        if let Some(c) = self.refused.get(why as usize) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// Whether every capture has delivered what its kernel held at `t`;
    /// with `wake`, those that have not are woken to look.
    pub fn captures_caught_up_to(&self, t: crate::packet::Timestamp, wake: bool) -> bool {
        let list = self.captures.lock().unwrap_or_else(|e| e.into_inner());
        let mut caught_up = true;
        for (_, c) in list.iter().filter(|(_, c)| !c.caught_up_to(t)) {
            caught_up = false;
            if wake {
                c.wake();
            }
        }
        caught_up
    }

    /// The interfaces whose capture ended on an error.
    pub fn stopped_captures(&self) -> Vec<String> {
        self.interfaces_where(|c| c.stopped.load(Relaxed))
    }

    /// The interfaces whose capture waits for its link to come back up.
    pub fn links_down(&self) -> Vec<String> {
        self.interfaces_where(|c| c.link_down.load(Relaxed) && !c.stopped.load(Relaxed))
    }

    fn interfaces_where(&self, pred: impl Fn(&CaptureCounters) -> bool) -> Vec<String> {
        let list = self.captures.lock().unwrap_or_else(|e| e.into_inner());
        list.iter()
            .filter(|(_, c)| pred(c))
            .map(|(i, _)| i.clone())
            .collect()
    }

    /// Kernel drops summed over all capture interfaces.
    pub fn kernel_drops(&self) -> u64 {
        let list = self.captures.lock().unwrap_or_else(|e| e.into_inner());
        list.iter().map(|(_, c)| c.kernel_drops.load(Relaxed)).sum()
    }

    pub fn render(&self, store: &StoreStats) -> String {
        let mut o = String::with_capacity(4096);
        let mut family = |name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            "synprint_syns_total",
            "counter",
            "SYNs and SYN+ACKs fingerprinted, by source.",
        );
        let _ = writeln!(
            o,
            "synprint_syns_total{{source=\"listener\"}} {}",
            self.listener_syns.load(Relaxed)
        );
        let captures = self.captures.lock().unwrap_or_else(|e| e.into_inner());
        for (iface, c) in captures.iter() {
            let _ = writeln!(
                o,
                "synprint_syns_total{{source=\"capture\",interface=\"{}\"}} {}",
                escape(iface),
                c.records.load(Relaxed)
            );
        }
        let mut simple = |name: &str, help: &str, v: u64, kind: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        };
        simple(
            "synprint_listener_no_saved_syn_total",
            "Accepted connections the kernel saved no SYN for (SYN cookies).",
            self.listener_no_syn.load(Relaxed),
            "counter",
        );
        simple(
            "synprint_listener_bad_syn_total",
            "Saved SYNs that could not be read or decoded.",
            self.listener_bad_syn.load(Relaxed),
            "counter",
        );
        simple(
            "synprint_connections_reclaimed_total",
            "Connections closed, the quietest first, to make room for new ones when every slot was taken.",
            self.connections_reclaimed.load(Relaxed),
            "counter",
        );
        simple(
            "synprint_classified_total",
            "Answers that carried a classification.",
            self.classified.load(Relaxed),
            "counter",
        );
        simple(
            "synprint_store_ips",
            "Addresses in the store.",
            store.ips as u64,
            "gauge",
        );
        simple(
            "synprint_store_fingerprints",
            "Distinct fingerprints in the store.",
            store.fingerprints as u64,
            "gauge",
        );
        simple(
            "synprint_store_connections",
            "Exact connections in the store.",
            store.connections as u64,
            "gauge",
        );
        simple(
            "synprint_store_same_syn_again_total",
            "SYNs stored already (the same packet from a second source: saved by the kernel and captured, or captured twice).",
            store.same_syn_again,
            "counter",
        );
        let _ = writeln!(
            o,
            "# HELP synprint_store_evictions_total Entries dropped from the store, by reason.\n\
             # TYPE synprint_store_evictions_total counter\n\
             synprint_store_evictions_total{{reason=\"ip_capacity\"}} {}\n\
             synprint_store_evictions_total{{reason=\"per_ip\"}} {}\n\
             synprint_store_evictions_total{{reason=\"connection_capacity\"}} {}\n\
             synprint_store_evictions_total{{reason=\"ttl\"}} {}",
            store.evicted_ips, store.evicted_fingerprints, store.evicted_connections, store.expired
        );
        let _ = writeln!(
            o,
            "# HELP synprint_capture_packets_total Packets per capture interface: passed by the kernel filter, dropped by the kernel (ring full), read, and read without making a record (skips, retransmissions).\n\
             # TYPE synprint_capture_packets_total counter"
        );
        for (iface, c) in captures.iter() {
            let i = escape(iface);
            let _ = writeln!(
                o,
                "synprint_capture_packets_total{{interface=\"{i}\",stage=\"kernel\"}} {}\n\
                 synprint_capture_packets_total{{interface=\"{i}\",stage=\"kernel_dropped\"}} {}\n\
                 synprint_capture_packets_total{{interface=\"{i}\",stage=\"received\"}} {}\n\
                 synprint_capture_packets_total{{interface=\"{i}\",stage=\"not_fingerprinted\"}} {}",
                c.kernel_packets.load(Relaxed),
                c.kernel_drops.load(Relaxed),
                c.received.load(Relaxed),
                c.not_fingerprinted.load(Relaxed),
            );
        }
        // Each gauge is 0 while its flag is set.
        type Flag = fn(&CaptureCounters) -> &AtomicBool;
        let flags: [(&str, &str, Flag); 2] = [
            (
                "synprint_capture_up",
                "1 while the interface's capture runs, 0 once it ended on an error.",
                |c| &c.stopped,
            ),
            (
                "synprint_capture_link_up",
                "0 while the interface is down (the capture waits for it) or gone, else 1.",
                |c| &c.link_down,
            ),
        ];
        for (name, help, down) in flags {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (iface, c) in captures.iter() {
                let up = u8::from(!down(c).load(Relaxed));
                let _ = writeln!(o, "{name}{{interface=\"{}\"}} {up}", escape(iface));
            }
        }
        drop(captures);
        let _ = writeln!(
            o,
            "# HELP synprint_http_requests_total HTTP requests by endpoint and outcome.\n\
             # TYPE synprint_http_requests_total counter"
        );
        for (i, e) in Endpoint::ALL.iter().enumerate() {
            let all = self.requests.get(i).map_or(0, |c| c.load(Relaxed));
            let err = self.errors.get(i).map_or(0, |c| c.load(Relaxed));
            let _ = writeln!(
                o,
                "synprint_http_requests_total{{endpoint=\"{}\",outcome=\"ok\"}} {}\n\
                 synprint_http_requests_total{{endpoint=\"{}\",outcome=\"error\"}} {}",
                e.label(),
                all.saturating_sub(err),
                e.label(),
                err
            );
        }
        let _ = writeln!(
            o,
            "# HELP synprint_http_refused_total Requests the HTTP layer refused before \
             synprint saw them (not in synprint_http_requests_total), by reason.\n\
             # TYPE synprint_http_refused_total counter"
        );
        for why in Refusal::ALL {
            let n = self
                .refused
                .get(why as usize)
                .map_or(0, |c| c.load(Relaxed));
            let _ = writeln!(
                o,
                "synprint_http_refused_total{{reason=\"{}\"}} {n}",
                why.label()
            );
        }
        let _ = writeln!(
            o,
            "# HELP synprint_http_request_duration_seconds Time to answer a request.\n\
             # TYPE synprint_http_request_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (le, c) in BUCKETS.iter().zip(self.latency.buckets.iter()) {
            cumulative += c.load(Relaxed);
            let _ = writeln!(
                o,
                "synprint_http_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let count = self.latency.count.load(Relaxed);
        let _ = writeln!(
            o,
            "synprint_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             synprint_http_request_duration_seconds_sum {}\n\
             synprint_http_request_duration_seconds_count {count}",
            self.latency.sum_ns.load(Relaxed) as f64 / 1e9
        );
        o
    }
}

/// Label values escape backslash, quote and newline.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        m.request(Endpoint::Classify, 200, 200_000);
        m.request(Endpoint::Classify, 403, 3_000_000);
        let c = m.capture("eth\"0");
        c.kernel_drops.store(7, Relaxed);
        let text = m.render(&StoreStats::default());
        assert!(text
            .contains("synprint_http_requests_total{endpoint=\"/classify\",outcome=\"error\"} 1"));
        assert!(
            text.contains("synprint_http_requests_total{endpoint=\"/classify\",outcome=\"ok\"} 1")
        );
        assert!(text.contains("synprint_http_request_duration_seconds_bucket{le=\"0.00025\"} 1"));
        assert!(text.contains("synprint_http_request_duration_seconds_bucket{le=\"0.005\"} 2"));
        assert!(text.contains("interface=\"eth\\\"0\",stage=\"kernel_dropped\"} 7"));
        assert_eq!(m.kernel_drops(), 7);
        // Every sample line is "name{labels} value" or "name value".
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let v = line.rsplit(' ').next().expect("value");
            assert!(v.parse::<f64>().is_ok(), "{line}");
        }
    }
}

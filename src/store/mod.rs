//! Bounded, expiring memory of recent fingerprints per source address.
//!
//! The API answers "what did this address (or this exact connection) send
//! lately?" from here. [`FingerprintStore`] is a trait because the next step
//! is a store shared by several sensors; [`MemoryStore`] is the in-process
//! implementation. An [`Inventory`] is the other memory per address: every
//! host of a whole run and the stacks it used (`analyze --inventory`).
//!
//! Time is whatever the caller says it is: records carry their packet (or
//! accept) time, lookups pass `now`. The store never reads a clock, so tests
//! and replays are deterministic.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use foldhash::fast::RandomState;

use crate::analyze::Record;
use crate::p0f::{Label, Uptime};
use crate::packet::{Kind, Observation, Timestamp};

mod inventory;

pub use inventory::{Answer, Host, Inventory, InventoryLimits, Stack};

/// Limits of a store. Memory is bounded by roughly
/// `max_ips * per_ip + max_connections` records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Source addresses remembered; the least recently updated is evicted.
    pub max_ips: usize,
    /// Distinct fingerprints remembered per address (newest kept).
    pub per_ip: usize,
    /// (address, port) pairs remembered for exact connection lookups.
    pub max_connections: usize,
    /// Entries not updated for this long are forgotten.
    pub ttl_ns: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_ips: 100_000,
            per_ip: 8,
            max_connections: 100_000,
            ttl_ns: 3600 * 1_000_000_000,
        }
    }
}

/// One distinct fingerprint seen from an address: the newest record that
/// carried it and how often it was seen.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Seen {
    pub count: u64,
    /// Seconds since the Unix epoch (packet or accept time).
    #[serde(serialize_with = "ser_ts")]
    pub first_seen: Timestamp,
    #[serde(serialize_with = "ser_ts")]
    pub last_seen: Timestamp,
    /// The record, as `fp` like zardaxt's detailed answer.
    #[serde(rename = "fp")]
    pub record: Arc<Record>,
}

fn ser_ts<S: serde::Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(ts.as_secs_f64())
}

/// What p0f keeps of a host between its connections, each part from the
/// newest record that had it: the history keeps only the newest few
/// fingerprints, and a host whose last SYNs p0f does not know still has
/// the OS it was last known by (p0f's query answer).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HostFacts {
    /// The oldest record's time since the address was first remembered.
    pub first_seen: Timestamp,
    /// The newest p0f OS match; a userland tool's (NMap's) never counts.
    pub os: Option<OsMatch>,
    /// Hops from the newest signature that does not randomise its TTL.
    pub hops: Option<u8>,
    /// The newest p0f MTU link label.
    pub link: Option<&'static str>,
    pub uptime: Option<Uptime>,
    /// The newest p0f `ip sharing` and `host change` reports about it
    /// ([`Record::host_change`]), where the capture tracks hosts.
    pub last_nat: Option<Timestamp>,
    pub last_chg: Option<Timestamp>,
}

/// A p0f OS match as p0f's host data keeps it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OsMatch {
    pub label: &'static Label,
    pub fuzzy: bool,
    pub generic: bool,
}

impl HostFacts {
    fn new(first_seen: Timestamp) -> HostFacts {
        HostFacts {
            first_seen,
            ..HostFacts::default()
        }
    }

    /// Takes in a record, in the order they arrive (p0f's order).
    fn note(&mut self, r: &Record) {
        self.first_seen = self.first_seen.min(r.obs().ts);
        let m = r.p0f();
        if let Some(label) = m.os.filter(|l| !l.is_app()) {
            self.os = Some(OsMatch {
                label,
                fuzzy: m.fuzzy,
                generic: m.generic,
            });
        }
        if !m.bad_ttl {
            self.hops = Some(m.dist);
        }
        if let Some(link) = r.mtu().and_then(|mtu| mtu.link) {
            self.link = Some(link);
        }
        if let Some(&u) = r.uptime() {
            self.uptime = Some(u);
        }
        match r.host_change() {
            Some(c) if c.sharing => self.last_nat = Some(r.obs().ts),
            Some(_) => self.last_chg = Some(r.obs().ts),
            None => {}
        }
    }
}

/// Everything remembered about one source address, newest fingerprint first.
#[derive(Clone, Debug, serde::Serialize)]
pub struct IpHistory {
    pub ip: IpAddr,
    /// Client SYNs seen from this address while it was remembered.
    pub syns: u64,
    /// SYN+ACKs it sent as a server (stored by a capture without a port
    /// filter).
    pub syn_acks: u64,
    pub fingerprints: Vec<Seen>,
    /// Also what the fingerprints dropped since held.
    #[serde(skip)]
    pub facts: HostFacts,
}

impl IpHistory {
    /// What answers "which OS is this address?": its newest client SYN.
    /// A capture without a port filter also stores the SYN+ACKs an address
    /// sent as a server, whose stack settings (and so answer) can differ
    /// from its SYNs'; those answer only for an address that sent nothing
    /// else.
    pub fn newest_client(&self) -> Option<&Seen> {
        let syn = |s: &&Seen| s.record.obs().kind == Kind::Syn;
        self.fingerprints
            .iter()
            .find(syn)
            .or_else(|| self.fingerprints.first())
    }

    /// The distinct fingerprints and the records of one kind (client SYNs
    /// or server SYN+ACKs) remembered from this address.
    pub fn counts(&self, kind: Kind) -> (usize, u64) {
        let fingerprints = self
            .fingerprints
            .iter()
            .filter(|s| s.record.obs().kind == kind)
            .count();
        let records = match kind {
            Kind::Syn => self.syns,
            Kind::SynAck => self.syn_acks,
        };
        (fingerprints, records)
    }
}

/// Counters and sizes of a store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    /// Addresses currently remembered.
    pub ips: usize,
    /// Distinct (address, fingerprint) entries currently remembered.
    pub fingerprints: usize,
    /// Exact (address, port) entries currently remembered.
    pub connections: usize,
    pub inserted: u64,
    /// Addresses dropped to make room (capacity).
    pub evicted_ips: u64,
    /// Fingerprints dropped from an address's history to keep the newest N.
    pub evicted_fingerprints: u64,
    /// Connection entries dropped to make room.
    pub evicted_connections: u64,
    /// Entries dropped because they outlived the time-to-live.
    pub expired: u64,
    /// SYNs stored already: the same packet (address, ports, sequence
    /// number) from a second source, the kernel's saved copy and a capture
    /// or two captures of one path. Counted here, not again in history.
    pub same_syn_again: u64,
}

/// Where fingerprints are remembered. Implementations are shared between
/// the capture threads and the HTTP tasks, hence `Send + Sync` and `&self`.
pub trait FingerprintStore: Send + Sync {
    /// Remembers a record under its source address and port. The record's
    /// own timestamp is the time of the insertion.
    fn insert(&self, record: Arc<Record>);
    /// The history of one address, unless forgotten or expired at `now`.
    fn by_ip(&self, ip: IpAddr, now: Timestamp) -> Option<IpHistory>;
    /// The newest record of one exact connection (source address and port).
    fn by_connection(&self, ip: IpAddr, port: u16, now: Timestamp) -> Option<Arc<Record>>;
    /// Every remembered address (for the key-protected listing endpoints).
    fn all(&self, now: Timestamp) -> Vec<IpHistory>;
    /// Counters, and the sizes of what is remembered at `now` (entries
    /// past the time-to-live are dropped first).
    fn stats(&self, now: Timestamp) -> StoreStats;
}

/// The stable part of a SYN: what stays the same between two connections
/// from one stack (not ports, sequence numbers, IP IDs or timestamp values).
/// Two records with the same key count as one fingerprint seen twice.
pub fn signature_key(o: &Observation) -> u64 {
    // A fixed seed: keys only need to agree within one process, and the
    // store is bounded, so collision flooding buys an attacker nothing.
    let mut h = foldhash::fast::FixedState::default().build_hasher();
    o.kind.hash(&mut h);
    o.ip_version.hash(&mut h);
    o.ttl.hash(&mut h);
    o.tos.hash(&mut h);
    o.df.hash(&mut h);
    o.ip_header_len.hash(&mut h);
    o.ip_total_length.hash(&mut h);
    o.window.hash(&mut h);
    o.tcp_flags.hash(&mut h);
    o.tcp_data_offset.hash(&mut h);
    o.options.mss.hash(&mut h);
    o.options.window_scale.hash(&mut h);
    o.options.eol_pad.hash(&mut h);
    for kind in o.options.kinds() {
        kind.hash(&mut h);
    }
    h.finish()
}

struct IpSlot {
    /// Insertion sequence number of the latest update; the eviction queue
    /// entry with this number is the live one, older ones are stale.
    seq: u64,
    updated: Timestamp,
    syns: u64,
    syn_acks: u64,
    /// Newest first.
    entries: VecDeque<Entry>,
    /// Boxed: the address table keeps spare slots, which would each carry
    /// its ~120 bytes (22 MiB of the default store's 162 MiB).
    facts: Box<HostFacts>,
}

struct Entry {
    key: u64,
    seen: Seen,
}

struct ConnSlot {
    seq: u64,
    record: Arc<Record>,
    /// The SYN's time, or the last lookup's if later: what expiry and the
    /// eviction queue's order go by.
    used: Timestamp,
}

struct Inner {
    config: StoreConfig,
    ips: HashMap<IpAddr, IpSlot, RandomState>,
    /// (seq, ip) in update order. Stale entries (the address was updated
    /// again later) are skipped when popped and purged when the queue grows
    /// past twice the map, so the queue stays O(max_ips).
    ip_order: VecDeque<(u64, IpAddr)>,
    conns: HashMap<(IpAddr, u16), ConnSlot, RandomState>,
    conn_order: VecDeque<(u64, (IpAddr, u16))>,
    seq: u64,
    /// The entries of every address: kept as they change, since `/metrics`
    /// and `/stats` ask for it and anyone may ask `/metrics` often.
    fingerprints: usize,
    stats: StoreStats,
}

/// Addresses [`MemoryStore::all`] copies per hold of the lock.
const ALL_BATCH: usize = 1024;

/// The in-memory [`FingerprintStore`]: hash maps plus update-ordered queues,
/// one mutex (critical sections are a few hash operations).
///
/// Eviction is least-recently-updated first: under a flood of distinct
/// spoofed addresses each new address pushes out the oldest one, so memory
/// stays at the configured bound and addresses that keep connecting stay.
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new(config: StoreConfig) -> Self {
        let config = StoreConfig {
            max_ips: config.max_ips.max(1),
            per_ip: config.per_ip.max(1),
            max_connections: config.max_connections.max(1),
            ttl_ns: config.ttl_ns,
        };
        MemoryStore {
            inner: Mutex::new(Inner {
                config,
                ips: HashMap::with_hasher(RandomState::default()),
                ip_order: VecDeque::new(),
                conns: HashMap::with_hasher(RandomState::default()),
                conn_order: VecDeque::new(),
                seq: 0,
                fingerprints: 0,
                stats: StoreStats::default(),
            }),
        }
    }

    pub fn config(&self) -> StoreConfig {
        self.lock().config
    }

    /// A poisoned lock means a panic elsewhere mid-update; the maps are still
    /// structurally valid, so keep serving rather than crash the server.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn expired(&self, updated: Timestamp, now: Timestamp) -> bool {
        now.0.saturating_sub(updated.0) > self.config.ttl_ns
    }

    fn history(&self, ip: IpAddr, slot: &IpSlot) -> IpHistory {
        IpHistory {
            ip,
            syns: slot.syns,
            syn_acks: slot.syn_acks,
            fingerprints: slot.entries.iter().map(|e| e.seen.clone()).collect(),
            facts: *slot.facts,
        }
    }

    /// Drops addresses and connections whose last update is older than the
    /// time-to-live, oldest first; stops at the first live one.
    fn expire(&mut self, now: Timestamp) {
        while let Some(&(seq, ip)) = self.ip_order.front() {
            let Some(slot) = self.ips.get(&ip) else {
                self.ip_order.pop_front();
                continue;
            };
            if slot.seq != seq {
                self.ip_order.pop_front();
                continue;
            }
            if !self.expired(slot.updated, now) {
                break;
            }
            self.ip_order.pop_front();
            if let Some(slot) = self.ips.remove(&ip) {
                self.stats.expired += slot.entries.len() as u64;
                self.fingerprints -= slot.entries.len();
            }
        }
        while let Some(&(seq, key)) = self.conn_order.front() {
            let live = match self.conns.get(&key) {
                Some(c) if c.seq == seq => Some(c.used),
                _ => None,
            };
            match live {
                None => {
                    self.conn_order.pop_front();
                }
                Some(ts) if self.expired(ts, now) => {
                    self.conn_order.pop_front();
                    self.conns.remove(&key);
                    self.stats.expired += 1;
                }
                Some(_) => break,
            }
        }
    }

    fn evict_ip(&mut self) {
        while let Some((seq, ip)) = self.ip_order.pop_front() {
            if self.ips.get(&ip).is_some_and(|s| s.seq == seq) {
                if let Some(slot) = self.ips.remove(&ip) {
                    self.fingerprints -= slot.entries.len();
                }
                self.stats.evicted_ips += 1;
                return;
            }
        }
    }

    fn evict_conn(&mut self) {
        while let Some((seq, key)) = self.conn_order.pop_front() {
            if self.conns.get(&key).is_some_and(|c| c.seq == seq) {
                self.conns.remove(&key);
                self.stats.evicted_connections += 1;
                return;
            }
        }
    }

    /// Rebuilds a queue without stale entries once they dominate it, so a
    /// few busy addresses updated millions of times cannot grow it.
    fn compact(&mut self) {
        if self.ip_order.len() > 2 * self.ips.len() + 64 {
            let ips = &self.ips;
            self.ip_order
                .retain(|(seq, ip)| ips.get(ip).is_some_and(|s| s.seq == *seq));
        }
        if self.conn_order.len() > 2 * self.conns.len() + 64 {
            let conns = &self.conns;
            self.conn_order
                .retain(|(seq, k)| conns.get(k).is_some_and(|c| c.seq == *seq));
        }
    }

    fn insert(&mut self, record: Arc<Record>) {
        let ts = record.obs().ts;
        // Expiry goes by this record's time, not the latest ever seen: after
        // the wall clock steps back (an NTP step, a restored VM) the latest
        // would expire every SYN since the step at each insert.
        self.expire(ts);
        let ip = record.obs().src_ip;
        let port = record.obs().src_port;
        if let Some(c) = self.conns.get(&(ip, port)) {
            let (was, is) = (c.record.obs(), record.obs());
            let same = (was.kind, was.seq, was.dst_ip, was.dst_port)
                == (is.kind, is.seq, is.dst_ip, is.dst_port);
            if same {
                self.stats.same_syn_again += 1;
                return;
            }
        }
        self.seq += 1;
        let seq = self.seq;
        self.stats.inserted += 1;
        let key = signature_key(record.obs());

        if !self.ips.contains_key(&ip) && self.ips.len() >= self.config.max_ips {
            self.evict_ip();
        }
        let per_ip = self.config.per_ip;
        let slot = self.ips.entry(ip).or_insert_with(|| IpSlot {
            seq,
            updated: ts,
            syns: 0,
            syn_acks: 0,
            entries: VecDeque::new(),
            facts: Box::new(HostFacts::new(ts)),
        });
        slot.seq = seq;
        slot.updated = slot.updated.max(ts);
        slot.facts.note(&record);
        match record.obs().kind {
            Kind::Syn => slot.syns += 1,
            Kind::SynAck => slot.syn_acks += 1,
        }
        if let Some(pos) = slot.entries.iter().position(|e| e.key == key) {
            if let Some(mut e) = slot.entries.remove(pos) {
                e.seen.count += 1;
                e.seen.first_seen = e.seen.first_seen.min(ts);
                e.seen.last_seen = e.seen.last_seen.max(ts);
                e.seen.record = Arc::clone(&record);
                slot.entries.push_front(e);
            }
        } else {
            slot.entries.push_front(Entry {
                key,
                seen: Seen {
                    count: 1,
                    first_seen: ts,
                    last_seen: ts,
                    record: Arc::clone(&record),
                },
            });
            self.fingerprints += 1;
            if slot.entries.len() > per_ip {
                slot.entries.truncate(per_ip);
                self.fingerprints -= 1;
                self.stats.evicted_fingerprints += 1;
            }
        }
        self.ip_order.push_back((seq, ip));

        let ckey = (ip, port);
        if !self.conns.contains_key(&ckey) && self.conns.len() >= self.config.max_connections {
            self.evict_conn();
        }
        self.conns.insert(
            ckey,
            ConnSlot {
                seq,
                record,
                used: ts,
            },
        );
        self.conn_order.push_back((seq, ckey));
        self.compact();
    }
}

impl FingerprintStore for MemoryStore {
    fn insert(&self, record: Arc<Record>) {
        self.lock().insert(record);
    }

    fn by_ip(&self, ip: IpAddr, now: Timestamp) -> Option<IpHistory> {
        let inner = self.lock();
        let slot = inner.ips.get(&ip)?;
        if inner.expired(slot.updated, now) {
            return None;
        }
        Some(inner.history(ip, slot))
    }

    fn by_connection(&self, ip: IpAddr, port: u16, now: Timestamp) -> Option<Arc<Record>> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let key = (ip, port);
        let slot = inner.conns.get(&key)?;
        if inner.expired(slot.used, now) {
            return None;
        }
        let record = Arc::clone(&slot.record);
        // A connection asked about is in use (a keep-alive or HTTP/2 client
        // whose proxy asks at each request): its time-to-live starts again
        // and it goes to the back of the queue, so new connections push out
        // idle ones first and expiry still meets the oldest first.
        inner.seq += 1;
        let seq = inner.seq;
        if let Some(slot) = inner.conns.get_mut(&key) {
            slot.seq = seq;
            slot.used = slot.used.max(now);
        }
        inner.conn_order.push_back((seq, key));
        inner.compact();
        Some(record)
    }

    /// Copied in batches, each under the lock for a moment: a whole store
    /// of 100,000 addresses at once held it for 150 ms, with every SYN and
    /// lookup waiting. An address that arrives or is dropped meanwhile is
    /// not listed; one updated meanwhile is listed as updated.
    fn all(&self, now: Timestamp) -> Vec<IpHistory> {
        let ips: Vec<IpAddr> = self.lock().ips.keys().copied().collect();
        let mut all = Vec::with_capacity(ips.len());
        for batch in ips.chunks(ALL_BATCH) {
            let inner = self.lock();
            for &ip in batch {
                match inner.ips.get(&ip) {
                    Some(s) if !inner.expired(s.updated, now) => all.push(inner.history(ip, s)),
                    _ => {}
                }
            }
        }
        all
    }

    fn stats(&self, now: Timestamp) -> StoreStats {
        let mut inner = self.lock();
        inner.expire(now);
        let mut s = inner.stats;
        s.ips = inner.ips.len();
        s.fingerprints = inner.fingerprints;
        s.connections = inner.conns.len();
        s
    }
}

impl MemoryStore {
    /// Lengths of the internal eviction queues (for the flood test: they
    /// must stay proportional to the capacity).
    #[doc(hidden)]
    pub fn queue_lengths(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.ip_order.len(), inner.conn_order.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::Engine;
    use crate::packet::{IpVersion, Kind, TcpOptions};
    use std::net::Ipv4Addr;

    const SEC: u64 = 1_000_000_000;

    fn record(ip: IpAddr, port: u16, ttl: u8, secs: u64) -> Arc<Record> {
        Arc::new(Engine::default().fingerprint(observation(ip, port, ttl, secs), None))
    }

    fn observation(ip: IpAddr, port: u16, ttl: u8, secs: u64) -> Observation {
        Observation {
            ts: Timestamp(secs * SEC),
            kind: Kind::Syn,
            ip_version: IpVersion::V4,
            src_ip: ip,
            dst_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ttl,
            tos: 0,
            df: true,
            mf: false,
            ip_reserved_flag: false,
            ip_id: 1,
            ip_total_length: 60,
            ip_header_len: 20,
            ip_options_len: 0,
            flow_label: 0,
            src_port: port,
            dst_port: 443,
            seq: u32::from(port),
            ack: 0,
            tcp_flags: 2,
            tcp_data_offset: 10,
            window: 64240,
            urgent_ptr: 0,
            payload_len: 0,
            options: TcpOptions::parse(&[2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2]),
            tunnel: None,
        }
    }

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    fn small() -> MemoryStore {
        MemoryStore::new(StoreConfig {
            max_ips: 3,
            per_ip: 2,
            max_connections: 4,
            ttl_ns: 100 * SEC,
        })
    }

    /// A connection asked about stays: new connections evict the ones
    /// nobody asked about since first.
    #[test]
    fn looking_a_connection_up_keeps_it() {
        let s = small();
        for port in 1..=4 {
            s.insert(record(v4(port.into()), port, 64, 1));
        }
        let now = Timestamp(2 * SEC);
        assert!(s.by_connection(v4(1), 1, now).is_some());
        s.insert(record(v4(5), 5, 64, 2));
        assert!(s.by_connection(v4(1), 1, now).is_some(), "asked about");
        assert!(
            s.by_connection(v4(2), 2, now).is_none(),
            "the idle one went"
        );
        assert_eq!(s.stats(now).evicted_connections, 1);
    }

    /// A connection looked up lives a time-to-live from its last lookup,
    /// and expiry still meets the oldest first (a looked-up entry must not
    /// sit past its time behind live ones while a live one is evicted).
    #[test]
    fn a_looked_up_connection_expires_from_its_last_lookup() {
        let s = small();
        for (port, secs) in [(1, 0), (2, 10), (3, 20), (4, 30)] {
            s.insert(record(v4(port.into()), port, 64, secs));
        }
        let at = |secs| Timestamp(secs * SEC);
        assert!(s.by_connection(v4(1), 1, at(40)).is_some());
        // Full at 105 s: the least recently used, 2, makes room; 1, asked
        // about at 40 s, still answers although its SYN is 105 s old.
        s.insert(record(v4(5), 5, 64, 105));
        assert!(
            s.by_connection(v4(1), 1, at(105)).is_some(),
            "asked at 40 s"
        );
        assert!(s.by_connection(v4(1), 1, at(141)).is_some(), "at 105 s");
        assert!(s.by_connection(v4(2), 2, at(105)).is_none());
        assert_eq!(s.stats(at(105)).evicted_connections, 1);
        // At 206 s, 3, 4 and 5 are past their time and expire; 1, asked
        // about at 141 s, stays.
        s.insert(record(v4(6), 6, 64, 206));
        let st = s.stats(at(206));
        assert_eq!((st.connections, st.evicted_connections), (2, 1), "{st:?}");
        for gone in [3, 4, 5] {
            assert!(s.by_connection(v4(gone), gone as u16, at(206)).is_none());
        }
        assert!(s.by_connection(v4(1), 1, at(206)).is_some());
    }

    /// The same SYN from two sources (saved by the kernel and captured) is
    /// one SYN; the same address and port with another sequence number (a
    /// reused port) is another.
    #[test]
    fn the_same_syn_from_two_sources_is_stored_once() {
        let s = small();
        s.insert(record(v4(1), 1000, 64, 1));
        s.insert(record(v4(1), 1000, 64, 2));
        let h = s.by_ip(v4(1), Timestamp(2 * SEC)).expect("remembered");
        assert_eq!((h.syns, h.fingerprints[0].count), (1, 1));
        let st = s.stats(Timestamp(2 * SEC));
        assert_eq!((st.same_syn_again, st.inserted), (1, 1));
        let mut obs = record(v4(1), 1000, 64, 3).obs().clone();
        obs.seq += 1;
        s.insert(Arc::new(Engine::default().fingerprint(obs, None)));
        let h = s.by_ip(v4(1), Timestamp(3 * SEC)).expect("remembered");
        assert_eq!((h.syns, h.fingerprints[0].count), (2, 2));
    }

    #[test]
    fn same_signature_counts_new_signature_prepends() {
        let s = small();
        s.insert(record(v4(1), 1000, 128, 1));
        s.insert(record(v4(1), 1001, 128, 2));
        s.insert(record(v4(1), 1002, 64, 3));
        let h = s.by_ip(v4(1), Timestamp(3 * SEC)).expect("remembered");
        assert_eq!(h.syns, 3);
        assert_eq!(h.fingerprints.len(), 2);
        assert_eq!(h.fingerprints[0].record.obs().ttl, 64);
        assert_eq!(h.fingerprints[1].count, 2);
        assert_eq!(h.fingerprints[1].first_seen, Timestamp(SEC));
        assert_eq!(h.fingerprints[1].last_seen, Timestamp(2 * SEC));
        // The third distinct signature pushes out the oldest.
        s.insert(record(v4(1), 1003, 255, 4));
        let h = s.by_ip(v4(1), Timestamp(4 * SEC)).expect("remembered");
        let ttls: Vec<u8> = h.fingerprints.iter().map(|f| f.record.obs().ttl).collect();
        assert_eq!(ttls, vec![255, 64]);
        assert_eq!(s.stats(Timestamp(4 * SEC)).evicted_fingerprints, 1);
    }

    /// A reserved TCP bit shows in `tcp_flags`: another fingerprint.
    #[test]
    fn reserved_tcp_bits_make_another_signature() {
        let a = observation(v4(1), 1000, 64, 1);
        let mut b = observation(v4(1), 1001, 64, 2);
        assert_eq!(signature_key(&a), signature_key(&b));
        b.tcp_flags |= 0x800;
        assert_ne!(signature_key(&a), signature_key(&b));
    }

    #[test]
    fn an_address_is_answered_by_its_client_syn_before_its_syn_acks() {
        let s = small();
        let syn_ack = |port, secs| {
            let mut obs = record(v4(1), port, 64, secs).obs().clone();
            obs.kind = Kind::SynAck;
            obs.tcp_flags = 0x12;
            Arc::new(Engine::default().fingerprint(obs, None))
        };
        s.insert(syn_ack(443, 1));
        let h = s.by_ip(v4(1), Timestamp(SEC)).expect("remembered");
        let kind = |h: &IpHistory| h.newest_client().map(|f| f.record.obs().kind);
        assert_eq!(kind(&h), Some(Kind::SynAck), "all there is");
        s.insert(record(v4(1), 50000, 128, 2));
        s.insert(syn_ack(8443, 3));
        let h = s.by_ip(v4(1), Timestamp(3 * SEC)).expect("remembered");
        assert_eq!(h.fingerprints[0].record.obs().kind, Kind::SynAck);
        assert_eq!(kind(&h), Some(Kind::Syn));
        assert_eq!(h.newest_client().map(|f| f.record.obs().ttl), Some(128));
        // Counted apart: one client SYN; two SYN+ACKs of one fingerprint.
        assert_eq!(h.counts(Kind::Syn), (1, 1));
        assert_eq!(h.counts(Kind::SynAck), (1, 2));
    }

    #[test]
    fn least_recently_updated_ip_is_evicted_first() {
        let s = small();
        s.insert(record(v4(1), 1, 64, 1));
        s.insert(record(v4(2), 1, 64, 2));
        s.insert(record(v4(3), 1, 64, 3));
        // Touch 1 again, so 2 is now the oldest.
        s.insert(record(v4(1), 2, 64, 4));
        s.insert(record(v4(4), 1, 64, 5));
        let now = Timestamp(5 * SEC);
        assert!(s.by_ip(v4(2), now).is_none());
        for ip in [1, 3, 4] {
            assert!(s.by_ip(v4(ip), now).is_some(), "{ip} kept");
        }
        let st = s.stats(now);
        assert_eq!(st.ips, 3);
        assert_eq!(st.evicted_ips, 1);
    }

    #[test]
    fn exact_connection_lookup_and_its_bound() {
        let s = small();
        for port in 0..6u16 {
            s.insert(record(v4(9), port, 64, 1));
        }
        let now = Timestamp(SEC);
        assert_eq!(
            s.by_connection(v4(9), 5, now).map(|r| r.obs().src_port),
            Some(5)
        );
        assert!(s.by_connection(v4(9), 0, now).is_none());
        let st = s.stats(now);
        assert_eq!((st.connections, st.evicted_connections), (4, 2));
    }

    #[test]
    fn entries_expire_after_ttl() {
        let s = small();
        s.insert(record(v4(1), 1, 64, 1));
        assert!(s.by_ip(v4(1), Timestamp(50 * SEC)).is_some());
        assert!(s.by_ip(v4(1), Timestamp(102 * SEC)).is_none());
        assert!(s.by_connection(v4(1), 1, Timestamp(102 * SEC)).is_none());
        // Sizes count what is remembered at the time asked, whether or not
        // anything was inserted since.
        let st = s.stats(Timestamp(102 * SEC));
        assert_eq!((st.ips, st.fingerprints, st.connections), (0, 0, 0));
        assert_eq!(st.expired, 2);
        s.insert(record(v4(2), 1, 64, 200));
        let st = s.stats(Timestamp(200 * SEC));
        assert_eq!(st.ips, 1);
        assert_eq!(st.expired, 2);
        assert_eq!(s.all(Timestamp(200 * SEC)).len(), 1);
    }

    /// Two hours ahead, then the clock steps back: the SYNs after the
    /// step stay their time-to-live (the one from the future is evicted
    /// first, as the least recently updated).
    #[test]
    fn a_clock_stepped_back_keeps_the_syns_after_the_step() {
        let s = small();
        s.insert(record(v4(1), 1, 64, 7200));
        for ip in 21..=29u16 {
            s.insert(record(v4(ip.into()), ip, 64, u64::from(ip)));
        }
        let now = Timestamp(30 * SEC);
        for ip in [27, 28, 29] {
            assert!(s.by_ip(v4(ip), now).is_some(), "{ip} kept");
        }
        assert_eq!(s.stats(now).expired, 0);
    }

    /// A listing longer than one batch holds every live address once, and
    /// no expired one.
    #[test]
    fn all_lists_every_live_address_across_batches() {
        let s = MemoryStore::new(StoreConfig {
            max_ips: 10_000,
            per_ip: 2,
            max_connections: 10_000,
            ttl_ns: 100 * SEC,
        });
        let n = 2 * ALL_BATCH as u32 + 7;
        for ip in 0..n {
            s.insert(record(v4(ip), 1, 64, if ip < 5 { 60 } else { 150 }));
        }
        // At 165 s the first five, held still, are past their 100 s.
        let mut listed: Vec<IpAddr> = s.all(Timestamp(165 * SEC)).iter().map(|h| h.ip).collect();
        listed.sort();
        let live: Vec<IpAddr> = (5..n).map(v4).collect();
        assert_eq!(listed, live);
    }

    proptest::proptest! {
        /// The fingerprint count `stats` gives, kept as entries come and
        /// go, is the count of what the store holds, through new, repeated
        /// and pushed-out fingerprints, evicted and expired addresses.
        #[test]
        fn the_fingerprint_count_is_what_the_store_holds(
            steps in proptest::collection::vec((0u32..6, 0u16..4, 60u8..64, 0u64..40), 1..200),
        ) {
            let s = small();
            let mut secs = 1;
            for (ip, port, ttl, gap) in steps {
                secs += gap;
                s.insert(record(v4(ip), port, ttl, secs));
                let now = Timestamp(secs * SEC);
                let counted = s.stats(now).fingerprints;
                let held: usize = s.lock().ips.values().map(|slot| slot.entries.len()).sum();
                proptest::prop_assert_eq!(counted, held);
            }
        }
    }

    #[test]
    fn queues_stay_bounded_when_one_ip_repeats() {
        let s = small();
        for i in 0..10_000u64 {
            s.insert(record(v4(1), 7, 64, 1 + i / 1000));
        }
        let (a, b) = s.queue_lengths();
        assert!(a < 200 && b < 200, "queues {a} {b}");
        assert_eq!(s.stats(Timestamp(11 * SEC)).fingerprints, 1);
    }
}

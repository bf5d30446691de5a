//! The pipeline: frames → observations → records, with retransmission
//! tracking and counters. Files, live capture and the kernel's saved SYNs
//! all go through the [`Engine`], so there is one code path from an
//! observation to a record.

mod flows;
mod follow;
mod record;
mod shapes;
mod stats;

pub use flows::{FlowKey, FlowTable, SynSeen};
pub use follow::{Again, ConnUptime, Follower, Following, Side};
pub use record::{Claim, JsonMemo, Record, TextKey};
pub use stats::Stats;

use std::sync::atomic::Ordering::Relaxed;

#[cfg(doc)]
use crate::capture::LiveCapture;
use crate::capture::{CaptureCounters, Delivery, LinkEvent};
use crate::classify::{self, Model};
use crate::p0f::{self, HostKey, UptimeTracker};
use crate::packet::{self, Filter, Kind, LinkType, Observation, Timestamp};
use shapes::ShapeCache;

/// What [`Analyzer::live`] hands on, in order: records as it makes them,
/// the end of each block the kernel delivered (every record of it is out:
/// a writer flushes here), and the capture's link events.
pub enum LiveEvent<'r> {
    Record(&'r mut Record),
    BlockEnd,
    Link(LinkEvent<'r>),
}

/// One block's frames and records, not yet in a capture's counters.
#[derive(Default)]
struct BlockTally {
    frames: u64,
    records: u64,
}

impl BlockTally {
    /// Adds the tally and starts the next block: each counter grows by one
    /// block's whole count, so neither ever goes back. The records last: a
    /// reader that sees them sees the rest of their block's packets too.
    fn add_to(&mut self, counters: &CaptureCounters) {
        let BlockTally { frames, records } = std::mem::take(self);
        counters
            .not_fingerprinted
            .fetch_add(frames.saturating_sub(records), Relaxed);
        counters.records.fetch_add(records, Relaxed);
    }
}

/// The read-only half of the pipeline: databases and models, shareable
/// between threads. Turns one observation into one record.
#[derive(Debug)]
pub struct Engine {
    /// Unique per engine and changed by every builder call: records carry
    /// it, so the JSON writer never takes one engine's text for another's.
    id: u64,
    p0f: &'static p0f::Database,
    /// `None` only where a caller turns classification off (the benchmark
    /// measures its cost that way).
    model: Option<Model>,
}

impl Default for Engine {
    fn default() -> Self {
        // A process's first engine parses the two built-in data files, the
        // model on a second thread: most of a small capture's run is this.
        // (Should the built-in model not compile, a build defect, its
        // panic shows twice: the thread's, then this thread's retry.)
        let model = if BUILTIN_MODEL.get().is_none() {
            std::thread::scope(|s| {
                let model = std::thread::Builder::new().spawn_scoped(s, builtin_model);
                p0f::Database::builtin();
                model.ok().and_then(|t| t.join().ok())
            })
        } else {
            None
        };
        Engine {
            id: fresh_engine_id(),
            p0f: p0f::Database::builtin(),
            model: Some(model.unwrap_or_else(builtin_model).clone()),
        }
    }
}

fn fresh_engine_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

static BUILTIN_MODEL: std::sync::OnceLock<Model> = std::sync::OnceLock::new();

/// The built-in classifier, compiled once per process.
fn builtin_model() -> &'static Model {
    BUILTIN_MODEL.get_or_init(|| match Model::builtin() {
        Ok(m) => m,
        // The built-in data file is compiled into the binary and checked by
        // tests; failing here is a build defect, not bad input.
        Err(e) => panic!("built-in OS model does not load: {e}"),
    })
}

impl Engine {
    /// Uses `model` (built-in knowledge plus learned counts) to classify.
    pub fn with_model(mut self, model: Model) -> Self {
        self.model = Some(model);
        self.id = fresh_engine_id();
        self
    }

    /// Leaves the `classification` field out of every record.
    pub fn without_classification(mut self) -> Self {
        self.model = None;
        self.id = fresh_engine_id();
        self
    }

    pub fn model(&self) -> Option<&Model> {
        self.model.as_ref()
    }

    /// An engine with another p0f database than the built-in one. The
    /// database lives as long as the process (records borrow its labels).
    pub fn with_p0f_database(mut self, db: p0f::Database) -> Self {
        self.p0f = Box::leak(Box::new(db));
        self.id = fresh_engine_id();
        self
    }

    pub fn p0f_database(&self) -> &'static p0f::Database {
        self.p0f
    }

    /// `syn_mss` is the MSS of the client SYN a SYN+ACK answers, when it was
    /// seen (p0f renders server windows relative to it).
    pub fn fingerprint(&self, obs: Observation, syn_mss: Option<u16>) -> Record {
        let d = self.derive(&obs, syn_mss, None);
        let shape = shapes::ShapeKey::of(&obs, syn_mss);
        Record::new(self.id, shape, obs, d.p0f, d.mtu, None, d.classification)
    }

    /// Everything a record adds to its observation, computed by reference
    /// so the observation (up to 192 bytes) is moved once, into the record.
    /// Once per new shape: kept out of line so the per-packet path stays small.
    /// `answers` keeps the classifier's answers across calls.
    #[inline(never)]
    fn derive(
        &self,
        obs: &Observation,
        syn_mss: Option<u16>,
        answers: Option<&mut classify::AnswerCache>,
    ) -> Derived {
        let sig = p0f::TcpSignature::from_observation(obs, syn_mss);
        let p0f = self.p0f.match_signature(sig);
        // p0f stops following a connection whose packet matched a userland
        // tool or its own probe: no MTU for it, as in p0f.
        let mtu = if p0f.ends_connection() {
            None
        } else {
            self.p0f.mtu_of(&p0f.raw_sig)
        };
        let classification = self.model.as_ref().map(|model| {
            let features = classify::Features::of(obs, classify::P0fClass::of_match(&p0f));
            match answers {
                Some(cache) => model.classify_cached(features, cache),
                None => model.classify_features(features),
            }
        });
        Derived {
            p0f,
            mtu,
            classification,
        }
    }
}

/// The parts of a [`Record`] derived from its observation alone.
#[derive(Clone, Copy)]
struct Derived {
    p0f: p0f::P0fMatch<'static>,
    mtu: Option<p0f::Mtu<'static>>,
    classification: Option<crate::classify::Classification>,
}

/// Settings of the stateful part of the pipeline.
#[derive(Clone, Copy, Debug)]
pub struct AnalyzerConfig {
    /// Handshakes remembered for retransmission detection.
    pub flow_capacity: usize,
    /// How long (packet time) a handshake is remembered at least (at most
    /// twice as long); SYN retransmissions back off to about a minute, so
    /// two minutes catches them all.
    pub flow_ttl_ns: u64,
    /// Hosts remembered for uptime estimation (p0f's per-host timestamps).
    pub uptime_capacity: usize,
    /// Follow connections past the handshake as p0f does, for the uptime
    /// it estimates from their later segments ([`Analyzer::take_conn_uptime`]).
    /// Costs a second decode of every non-SYN segment; off by default.
    pub follow_connections: bool,
    /// p0f's host tracking ([`Record::host_change`]) without following
    /// connections (which implies it): SYN+ACKs count where their SYN was
    /// seen, and idle hosts are forgotten once a capture minute.
    pub track_hosts: bool,
    /// Distinct SYN shapes whose answers are remembered (rounded to a
    /// power of two, at most 16k).
    pub shape_capacity: usize,
}

impl AnalyzerConfig {
    /// The default settings, with tables no larger than an uncompressed
    /// capture of `bytes` bytes can use: each packet takes at least 36
    /// bytes of it (a 16-byte record header and a 20-byte IP header) and
    /// makes at most one handshake and one host entry; sixteen times that
    /// keeps the buckets from overflowing. The uptime table (1 MiB at
    /// most) is made that size at once; the handshake table (16 MiB)
    /// starts small and grows towards it only as handshakes arrive
    /// ([`FlowTable`]), since most captures hold far fewer than one per
    /// packet.
    ///
    /// The shape cache holds at most one shape per packet: its entries are
    /// large (a whole classification each), and touching a thousand of
    /// them was two thirds of the page faults of a one-SYN file.
    pub fn for_capture_bytes(bytes: u64) -> Self {
        let d = AnalyzerConfig::default();
        let packets = usize::try_from(bytes / 36).unwrap_or(usize::MAX);
        let room = packets.saturating_mul(16).max(1024);
        AnalyzerConfig {
            flow_capacity: d.flow_capacity.min(room),
            uptime_capacity: d.uptime_capacity.min(room),
            shape_capacity: d.shape_capacity.min(packets),
            ..d
        }
    }
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            flow_capacity: 1 << 20,
            flow_ttl_ns: 120 * 1_000_000_000,
            uptime_capacity: 1 << 16,
            follow_connections: false,
            track_hosts: false,
            shape_capacity: shapes::MAX_SHAPES,
        }
    }
}

/// How many SYNs and SYN+ACKs [`Analyzer::feed_frame`] decodes ahead of
/// the one it processes: enough to overlap the table lines' memory
/// latency, few enough that the queue stays in the first-level cache.
const LOOKAHEAD: usize = 8;

/// A decoded SYN or SYN+ACK waiting for its table lines.
struct Pending {
    obs: Observation,
    flow: FlowKey,
    host: Option<HostKey>,
}

/// The SYNs and SYN+ACKs decoded ahead, oldest at `head` once the ring is
/// full. A full ring's oldest is processed where it lies and the newest
/// written over it: each move of an observation (up to 192 bytes) through
/// a queue is a `memcpy` call, and they showed in profiles.
#[derive(Default)]
struct Lookahead {
    slots: Vec<Pending>,
    head: usize,
}

impl Lookahead {
    /// In arrival order.
    fn iter(&self) -> impl Iterator<Item = &Pending> {
        let (newer, older) = self.slots.split_at(self.head.min(self.slots.len()));
        older.iter().chain(newer)
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.head = 0;
    }
}

/// The stateful pipeline over a stream of frames (one capture, one
/// interface): an [`Engine`] plus handshake memory and counters.
pub struct Analyzer<'e> {
    engine: &'e Engine,
    flows: FlowTable,
    uptime: UptimeTracker,
    /// Whether the tables' hash seed is set ([`Analyzer::seed_tables`]).
    seeded: bool,
    shapes: ShapeCache,
    /// The classifier's answers for SYNs of new shapes.
    answers: classify::AnswerCache,
    stats: Stats,
    pending: Lookahead,
    follower: Option<Follower>,
    /// p0f's host tracking, beside the follower: see [`Record::host_change`].
    hosts: Option<p0f::HostTracker>,
    conn_uptime: Option<ConnUptime>,
    /// See [`Analyzer::keep_only_port`].
    only_port: Option<u16>,
    /// See [`Analyzer::keep_only_matching`].
    filter: Option<Filter>,
}

impl<'e> Analyzer<'e> {
    pub fn new(engine: &'e Engine, config: AnalyzerConfig) -> Self {
        Analyzer {
            engine,
            flows: FlowTable::new(config.flow_capacity, config.flow_ttl_ns),
            uptime: UptimeTracker::new(config.uptime_capacity),
            seeded: false,
            shapes: ShapeCache::with_capacity(config.shape_capacity),
            answers: classify::AnswerCache::new(),
            stats: Stats::default(),
            pending: Lookahead::default(),
            follower: config.follow_connections.then(Follower::default),
            hosts: (config.follow_connections || config.track_hosts)
                .then(p0f::HostTracker::default),
            conn_uptime: None,
            only_port: None,
            filter: None,
        }
    }

    /// Makes records only of SYNs to and SYN+ACKs from `port`; the others
    /// are counted as `other_port` and touch no table. A live capture's
    /// kernel filter checks the port of plain SYNs itself, but passes
    /// tunnelled ones (and those behind IPv6 extension headers) whatever
    /// their port.
    pub fn keep_only_port(&mut self, port: Option<u16>) {
        self.only_port = port;
    }

    /// Makes records only of SYNs and SYN+ACKs that `filter` keeps; the
    /// others are counted as `filtered_out` and touch no table.
    pub fn keep_only_matching(&mut self, filter: Option<Filter>) {
        self.filter = filter;
    }

    /// Whether `obs` is left out by the port or the filter (and counted
    /// so).
    fn left_out(&mut self, obs: &Observation) -> bool {
        if let Some(port) = self.only_port {
            let server_port = match obs.kind {
                Kind::Syn => obs.dst_port,
                Kind::SynAck => obs.src_port,
            };
            if server_port != port {
                self.stats.other_port += 1;
                return true;
            }
        }
        if self.filter.as_ref().is_some_and(|f| !f.matches(obs)) {
            self.stats.filtered_out += 1;
            return true;
        }
        false
    }

    /// Seeds the handshake and uptime tables' hashes from the first SYN or
    /// SYN+ACK, before anything is filed in them. Which entries a full
    /// table evicts depends on the seed, so a seed drawn at random would
    /// let two runs over one file differ; this one replays. Traffic still
    /// cannot aim collisions: the seed hangs on the capture's clock to the
    /// microsecond or finer, and on the first packet's addresses, ports
    /// and sequence number.
    #[cold]
    fn seed_tables(&mut self, obs: &Observation) {
        use std::hash::BuildHasher;
        // The handshake's key under a fixed seed covers the addresses and
        // ports as the table itself reads them.
        self.flows.reseed(0);
        let handshake = self.flows.key_of(obs);
        let seed = foldhash::fast::FixedState::default().hash_one((handshake, obs.ts.0, obs.seq));
        self.flows.reseed(seed);
        // Another seed for the other table, so that its buckets are not
        // the same function of the addresses.
        self.uptime
            .reseed(seed.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15);
        self.seeded = true;
    }

    /// One captured frame, for callers that process many in a row (files,
    /// capture rings): the handshake tables are far bigger than the caches,
    /// so SYNs are decoded a few (`LOOKAHEAD`) ahead and their table lines
    /// prefetched while earlier ones are processed. Records reach `emit` in
    /// capture order, up to that many handshake packets late; call
    /// [`Analyzer::drain`] when the input pauses or ends. `emit` gets each
    /// record where it was built (a record is ~600 bytes; moving it into a
    /// callee is a copy, and copies showed in profiles); one that keeps it
    /// clones it.
    pub fn feed_frame<E>(
        &mut self,
        link: LinkType,
        ts: Timestamp,
        frame: &[u8],
        emit: &mut impl FnMut(&mut Record) -> Result<(), E>,
    ) -> Result<(), E> {
        self.stats.packets += 1;
        // Read where decoding left it: copied once, into the ring.
        let decoded = packet::decode(link, ts, frame);
        let obs = match &decoded {
            Err(skip) => {
                self.stats.skipped[skip.index()] += 1;
                return Ok(());
            }
            Ok(None) => {
                self.stats.other_tcp += 1;
                if self.follower.is_some() {
                    return self.drain_and_follow(link, ts, frame, emit);
                }
                return Ok(());
            }
            Ok(Some(obs)) => obs,
        };
        if self.left_out(obs) {
            return Ok(());
        }
        if !self.seeded {
            self.seed_tables(obs);
        }
        let flow = self.flows.key_of(obs);
        let host = self.uptime.key_of(obs);
        self.flows.prefetch(flow);
        if let Some(h) = host {
            self.uptime.prefetch(h);
        }
        if self.pending.slots.len() < LOOKAHEAD {
            self.pending.slots.push(Pending {
                obs: obs.clone(),
                flow,
                host,
            });
            return Ok(());
        }
        // The ring is taken out of `self` while its oldest is processed (a
        // swap of four words).
        let mut ring = std::mem::take(&mut self.pending);
        let head = ring.head;
        let mut result = Ok(());
        if let Some(p) = ring.slots.get_mut(head) {
            // Bound by reference: moving the record out of the `Option` is
            // a copy.
            if let Some(record) = self.process_keyed(p).as_mut() {
                result = emit(record);
            }
            p.obs.clone_from(obs);
            p.flow = flow;
            p.host = host;
        }
        ring.head = (head + 1) % LOOKAHEAD;
        self.pending = ring;
        result
    }

    /// Analyzes a live capture's deliveries ([`LiveCapture::stream`]):
    /// each block's frames go through the lookahead as a file's do, and the
    /// analyzer is drained at the block's end, so no record waits for the
    /// next block. With a file's default tables it tells retransmissions
    /// apart as well as a file's analysis does. Keeps only SYNs to the
    /// capture's `port` and SYN+ACKs from it, and counts the records in
    /// `counters`.
    pub fn live<'s, E, F>(
        &'s mut self,
        port: Option<u16>,
        counters: &'s CaptureCounters,
        mut out: F,
    ) -> impl FnMut(Delivery<'_>) -> Result<(), E> + use<'s, 'e, E, F>
    where
        F: FnMut(LiveEvent<'_>) -> Result<(), E> + 's,
    {
        self.keep_only_port(port);
        // This block's frames and the records made of them, counted at its
        // end (one atomic add per block, not per record), or where the
        // caller fails and the block ends early.
        let mut block = BlockTally::default();
        move |delivery| {
            let mut counted = |r: &mut Record| {
                block.records += 1;
                out(LiveEvent::Record(r))
            };
            match delivery {
                Delivery::Frame { link, ts, data } => {
                    let fed = self.feed_frame(link, ts, data, &mut counted);
                    block.frames += 1;
                    if fed.is_err() {
                        block.add_to(counters);
                    }
                    fed
                }
                Delivery::BlockEnd => {
                    let drained = self.drain(&mut counted);
                    block.add_to(counters);
                    drained?;
                    out(LiveEvent::BlockEnd)
                }
                Delivery::Link(event) => out(LiveEvent::Link(event)),
            }
        }
    }

    /// Processes every frame [`Analyzer::feed_frame`] still holds.
    pub fn drain<E>(
        &mut self,
        emit: &mut impl FnMut(&mut Record) -> Result<(), E>,
    ) -> Result<(), E> {
        let ring = std::mem::take(&mut self.pending);
        let mut result = Ok(());
        for p in ring.iter() {
            if let Some(record) = self.process_keyed(p).as_mut() {
                result = emit(record);
                if result.is_err() {
                    break;
                }
            }
        }
        self.pending = ring;
        self.pending.clear();
        result
    }

    /// One captured frame; returns a record for a first-seen SYN or SYN+ACK.
    pub fn process_frame(&mut self, link: LinkType, ts: Timestamp, frame: &[u8]) -> Option<Record> {
        self.stats.packets += 1;
        let decoded = packet::decode(link, ts, frame);
        if matches!(decoded, Ok(None)) && self.follower.is_some() {
            self.follow(link, ts, frame);
        }
        self.after_decode(decoded)
    }

    /// Connection following from [`Analyzer::feed_frame`]: the queued
    /// SYNs must reach the follower first. Out of line, so the common
    /// path of a file analysis without following stays as it was.
    #[cold]
    #[inline(never)]
    fn drain_and_follow<E>(
        &mut self,
        link: LinkType,
        ts: Timestamp,
        frame: &[u8],
        emit: &mut impl FnMut(&mut Record) -> Result<(), E>,
    ) -> Result<(), E> {
        self.drain(emit)?;
        self.follow(link, ts, frame);
        Ok(())
    }

    /// A segment after the handshake, for connection following.
    fn follow(&mut self, link: LinkType, ts: Timestamp, frame: &[u8]) {
        let Some(follower) = self.follower.as_mut() else {
            return;
        };
        follower.packet(ts);
        expire_hosts(follower, self.hosts.as_mut());
        // p0f reads at most 65,535 bytes of a frame (its SNAPLEN): a longer
        // one (a GRO/TSO segment captured on loopback) fails its length
        // check, and p0f follows the connection as if it had not come.
        if frame.len() > p0f::SNAPLEN {
            return;
        }
        let Some(seg) = packet::decode_followed(link, ts, frame) else {
            return;
        };
        if let Some(u) = follower.segment(&seg, &self.uptime) {
            self.stats.conn_uptimes += 1;
            self.conn_uptime = Some(u);
        }
    }

    /// Whether connections are followed past the handshake
    /// ([`AnalyzerConfig::follow_connections`]).
    pub fn follows_connections(&self) -> bool {
        self.follower.is_some()
    }

    /// The uptime the last frame gave by connection following (at most
    /// one per frame; see [`AnalyzerConfig::follow_connections`]). Records
    /// of earlier frames have all been emitted by then, so writing it
    /// after the frame keeps capture order.
    pub fn take_conn_uptime(&mut self) -> Option<ConnUptime> {
        self.conn_uptime.take()
    }

    /// One bare IP packet (no link layer).
    pub fn process_ip(&mut self, ts: Timestamp, packet: &[u8]) -> Option<Record> {
        self.stats.packets += 1;
        let decoded = packet::decode_ip(ts, packet);
        if matches!(decoded, Ok(None)) && self.follower.is_some() {
            self.follow(LinkType::RAW, ts, packet);
        }
        self.after_decode(decoded)
    }

    fn after_decode(
        &mut self,
        decoded: Result<Option<Observation>, packet::Skip>,
    ) -> Option<Record> {
        match decoded {
            Err(skip) => {
                self.stats.skipped[skip.index()] += 1;
                None
            }
            Ok(None) => {
                self.stats.other_tcp += 1;
                None
            }
            Ok(Some(obs)) => self.process_observation(obs),
        }
    }

    /// An already decoded SYN or SYN+ACK.
    pub fn process_observation(&mut self, obs: Observation) -> Option<Record> {
        if self.left_out(&obs) {
            return None;
        }
        if !self.seeded {
            self.seed_tables(&obs);
        }
        let flow = self.flows.key_of(&obs);
        let host = self.uptime.key_of(&obs);
        self.process_keyed(&Pending { obs, flow, host })
    }

    /// Processes one decoded packet: a record, if it makes one.
    fn process_keyed(
        &mut self,
        &Pending {
            ref obs,
            flow,
            host,
        }: &Pending,
    ) -> Option<Record> {
        let mut seen = self.flows.observe_keyed(flow, obs);
        if let Some(f) = self.follower.as_mut() {
            seen = f.sees(obs, seen);
            expire_hosts(f, self.hosts.as_mut());
        }
        // p0f fingerprints a SYN again once it no longer follows the
        // connection (expired after 30 s, pruned, or ended), and then the
        // SYN+ACK answering it: so do the formats that write p0f's lines.
        let again = match (seen, self.follower.as_ref()) {
            (SynSeen::Retransmission, Some(f)) => f.fingerprints_again(obs),
            _ => None,
        };
        let (syn_mss, follows_syn) = match (seen, again) {
            (SynSeen::Retransmission, Some(Again { syn_mss })) => {
                match obs.kind {
                    Kind::Syn => self.stats.syn_fingerprinted_again += 1,
                    Kind::SynAck => self.stats.syn_ack_fingerprinted_again += 1,
                }
                (syn_mss, true)
            }
            (SynSeen::Retransmission, None) => {
                match obs.kind {
                    Kind::Syn => self.stats.syn_retransmissions += 1,
                    Kind::SynAck => self.stats.syn_ack_retransmissions += 1,
                }
                return None;
            }
            (
                SynSeen::New {
                    syn_mss,
                    follows_syn,
                },
                _,
            ) => {
                // p0f reads a SYN+ACK's window against the SYN it follows,
                // which is the handshake table's first one unless a SYN
                // of the same ISN was fingerprinted again since, with
                // another MSS.
                let followed = match (obs.kind, self.follower.as_ref()) {
                    (Kind::SynAck, Some(f)) => f.syn_mss_answered(obs),
                    _ => None,
                };
                (followed.unwrap_or(syn_mss), follows_syn)
            }
        };
        match obs.kind {
            Kind::Syn => self.stats.syn += 1,
            Kind::SynAck => self.stats.syn_ack += 1,
        }
        let engine = self.engine;
        let shape = shapes::ShapeKey::of(obs, syn_mss);
        let answers = &mut self.answers;
        let d = self
            .shapes
            .answers(shape, || engine.derive(obs, syn_mss, Some(answers)));
        // p0f drops the connection at a userland tool's SYN or its own
        // probe: no uptime from it, and its SYN+ACK is a stray.
        let ends = d.p0f.ends_connection();
        if ends && obs.kind == Kind::Syn {
            self.flows.stop_following(flow);
        }
        // p0f keeps no per-host timestamp for a SYN+ACK whose SYN it did not
        // see, nor for connections it stops following (when following them
        // too, we know: one that expired, ended or was answered already);
        // neither do we, so later estimates for the host agree with p0f's.
        let ts1 = obs.options.p0f.ts1(&obs.options);
        // The follower's table is p0f's; the handshake table may have
        // forgotten a SYN that p0f still follows, or the reverse.
        let p0f_reads = match &self.follower {
            Some(f) => f.reads(obs, follows_syn),
            None => follows_syn,
        };
        let measured = match host {
            Some(h) if p0f_reads && !ends => self.uptime.observe_keyed(h, ts1, obs.ts),
            _ => Err(p0f::NoEstimate::Unpaired),
        };
        if let Some(f) = self.follower.as_mut() {
            // A probe has no host key: p0f keeps no timestamps of it.
            let following = if d.p0f.raw_sig.is_sendsyn_probe() {
                Following::Probe
            } else if host.is_some() && !ends {
                Following::Yes
            } else {
                Following::No
            };
            f.handshake(obs, following, measured.as_ref().err().copied());
        }
        let uptime = measured.ok();
        // The record is built from the cached answers and this packet's own
        // timestamp value.
        let p0f = p0f::P0fMatch {
            raw_sig: p0f::TcpSignature {
                ts1,
                ..d.p0f.raw_sig
            },
            ..d.p0f
        };
        let host_change = match self.hosts.as_mut() {
            Some(hosts) if p0f_reads => {
                if self.follower.is_none() {
                    hosts.expire_idle(obs.ts);
                }
                hosts.observe(&p0f::Sighting {
                    host: obs.src_ip,
                    peer: obs.dst_ip,
                    to_server: obs.kind == Kind::Syn,
                    client_port: match obs.kind {
                        Kind::Syn => obs.src_port,
                        Kind::SynAck => obs.dst_port,
                    },
                    ts: obs.ts,
                    p0f: &p0f,
                })
            }
            _ => None,
        };
        let mut record = Record::new(
            engine.id,
            shape,
            obs.clone(),
            p0f,
            d.mtu,
            uptime,
            d.classification,
        );
        record.host_change = host_change;
        Some(record)
    }

    /// Counters so far (frames still held by [`Analyzer::feed_frame`] are
    /// counted as packets only until [`Analyzer::drain`]).
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.flow_evictions = self.flows.evictions();
        s.uptime_evictions = self.uptime.evictions();
        s
    }

    /// Counts a frame the capture layer could not deliver whole.
    pub fn count_capture_error(&mut self) {
        self.stats.capture_errors += 1;
    }
}

/// p0f expires idle hosts right after connections, sparing those a
/// connection it still follows involves.
fn expire_hosts(follower: &mut Follower, hosts: Option<&mut p0f::HostTracker>) {
    if let (Some(now), Some(hosts)) = (follower.take_expiry(), hosts) {
        let in_use = follower.addresses();
        hosts.expire(now, |a| in_use.contains(a));
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::craft::{ethernet_frame, OptionBytes, Stack, TcpPacket};
    use crate::json::JsonBuf;

    /// Tables for a small capture are small, for a large one the default;
    /// either way a file of that size cannot fill them past a quarter.
    #[test]
    fn tables_are_sized_by_what_the_capture_can_hold() {
        let d = AnalyzerConfig::default();
        let tiny = AnalyzerConfig::for_capture_bytes(0);
        assert_eq!((tiny.flow_capacity, tiny.uptime_capacity), (1024, 1024));
        assert_eq!(tiny.shape_capacity, 0);
        let huge = AnalyzerConfig::for_capture_bytes(u64::MAX);
        assert_eq!(huge.flow_capacity, d.flow_capacity);
        assert_eq!(huge.uptime_capacity, d.uptime_capacity);
        assert_eq!(huge.flow_ttl_ns, d.flow_ttl_ns);
        // 10,000 packets of the smallest kind.
        let small = AnalyzerConfig::for_capture_bytes(36 * 10_000);
        assert_eq!(small.flow_capacity, 160_000);
        assert_eq!(small.uptime_capacity, d.uptime_capacity);
        assert_eq!(small.shape_capacity, 10_000);
        // The same records as with the default tables.
        let engine = Engine::default();
        let frames = stream();
        let records = |config| {
            let mut a = Analyzer::new(&engine, config);
            let mut out = Vec::new();
            let mut keep = |r: &mut Record| {
                let mut j = JsonBuf::new();
                r.write_json(&mut j);
                out.push(j.into_bytes());
                Ok::<(), ()>(())
            };
            for (ts, f) in &frames {
                let _ = a.feed_frame(LinkType::ETHERNET, *ts, f, &mut keep);
            }
            let _ = a.drain(&mut keep);
            out
        };
        let bytes: usize = frames.iter().map(|(_, f)| 16 + f.len()).sum();
        let fitted = AnalyzerConfig::for_capture_bytes(bytes as u64);
        assert!(fitted.flow_capacity < d.flow_capacity);
        let want = records(d);
        assert!(want.len() > 5, "{} records", want.len());
        assert_eq!(records(fitted), want);
    }

    /// A stream where order matters: SYN+ACKs right after their SYNs (the
    /// SYN's MSS must reach them), retransmissions within and beyond the
    /// lookahead, hosts that return with later timestamps (uptime pairs),
    /// and frames that make no record in between.
    fn stream() -> Vec<(Timestamp, Vec<u8>)> {
        let server = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
        let mut out = Vec::new();
        let mut syns: Vec<TcpPacket> = Vec::new();
        let mut t = 1_700_000_000_000_000_000u64;
        for i in 0..200u32 {
            t += 40_000_000;
            let host = IpAddr::V4(Ipv4Addr::new(10, 0, 0, (i % 13) as u8));
            let stack = Stack::ALL[i as usize % Stack::ALL.len()];
            let mut syn = stack.syn(host, 1000 + i as u16, server, 443, i);
            syn.options = OptionBytes::new()
                .mss(1460)
                .sok()
                .ts(1_000_000 + i * 40, 0)
                .nop()
                .ws(7)
                .0;
            let mut ack = TcpPacket::syn_ack_for(&syn);
            ack.options = OptionBytes::new().mss(1400).nop().ws(8).0;
            out.push((Timestamp(t), ethernet_frame(&syn.ip_bytes())));
            if i % 3 == 0 {
                out.push((Timestamp(t + 1), ethernet_frame(&ack.ip_bytes())));
            }
            if i % 5 == 0 {
                out.push((Timestamp(t + 2), b"not a frame".to_vec()));
            }
            if i % 7 == 0 {
                // Retransmissions: this SYN, and one from twenty SYNs back.
                out.push((Timestamp(t + 3), ethernet_frame(&syn.ip_bytes())));
                if let Some(old) = syns.get(i.saturating_sub(20) as usize) {
                    out.push((Timestamp(t + 4), ethernet_frame(&old.ip_bytes())));
                }
            }
            syns.push(syn);
        }
        out
    }

    /// Tables that overflow evict by the hash seed; the seed comes from the
    /// capture, so a second run over the same frames evicts the same
    /// entries and writes the same records.
    #[test]
    fn a_capture_that_fills_the_tables_replays_exactly() {
        let engine = Engine::default();
        let server = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
        let mut frames = Vec::new();
        let mut syns = Vec::new();
        let t0 = 1_700_000_000_000_000_000u64;
        // 3,000 hosts' first SYNs, then a second SYN of each two seconds
        // later (an uptime pair if the host is still remembered), then
        // the first SYNs again (retransmissions if their handshake is).
        for round in 0..2u32 {
            for i in 0..3_000u32 {
                let host = IpAddr::V4(Ipv4Addr::from(0x0a01_0000 | i));
                let ts = t0 + u64::from(round) * 2_000_000_000 + u64::from(i) * 100_000;
                let port = 10_000 + round as u16;
                let mut syn = Stack::Linux.syn(host, port, server, 443, i);
                syn.options = OptionBytes::new()
                    .mss(1460)
                    .sok()
                    .ts(5_000_000 + i + round * 2_000, 0)
                    .nop()
                    .ws(7)
                    .0;
                frames.push((Timestamp(ts), ethernet_frame(&syn.ip_bytes())));
                if round == 0 {
                    syns.push(syn);
                }
            }
        }
        for (i, syn) in syns.iter().enumerate() {
            let ts = t0 + 4_000_000_000 + i as u64 * 100_000;
            frames.push((Timestamp(ts), ethernet_frame(&syn.ip_bytes())));
        }
        let config = AnalyzerConfig {
            flow_capacity: 1024,
            uptime_capacity: 1024,
            ..AnalyzerConfig::default()
        };
        let run = || {
            let mut a = Analyzer::new(&engine, config);
            let mut out = Vec::new();
            let mut keep = |r: &mut Record| {
                out.push(json(r));
                Ok::<(), ()>(())
            };
            for (ts, f) in &frames {
                let _ = a.feed_frame(LinkType::ETHERNET, *ts, f, &mut keep);
            }
            let _ = a.drain(&mut keep);
            let s = a.stats();
            (out, s.flow_evictions, s.uptime_evictions)
        };
        let first = run();
        let (records, flow_evictions, uptime_evictions) = &first;
        assert!(*flow_evictions > 0 && *uptime_evictions > 0, "{first:?}");
        let uptimes = records.iter().filter(|r| r.contains("\"uptime\"")).count();
        assert!((1..3_000).contains(&uptimes), "{uptimes} uptimes");
        assert!(records.len() > 6_000, "{} records", records.len());
        assert!(run() == first, "a second run differs");
    }

    fn json(r: &Record) -> String {
        let mut j = JsonBuf::new();
        r.write_json(&mut j);
        String::from_utf8_lossy(j.as_bytes()).into_owned()
    }

    /// Only the kept port's SYNs (to it) and SYN+ACKs (from it) make
    /// records, by either path; the others are counted, not remembered.
    #[test]
    fn a_kept_port_leaves_the_others_counted() {
        let engine = Engine::default();
        let ip = |a: u8| IpAddr::V4(Ipv4Addr::new(192, 0, 2, a));
        let to = |port: u16, client: u8| Stack::Linux.syn(ip(client), 40000, ip(9), port, 7);
        let packets = [
            to(443, 1),
            TcpPacket::syn_ack_for(&to(443, 1)),
            to(80, 2),
            TcpPacket::syn_ack_for(&to(80, 2)),
            // From port 443 to a client's port 443 is not the server's SYN.
            Stack::Linux.syn(ip(9), 443, ip(3), 8443, 7),
        ];
        let frames: Vec<Vec<u8>> = packets
            .iter()
            .map(|p| ethernet_frame(&p.ip_bytes()))
            .collect();
        let mut direct = Analyzer::new(&engine, AnalyzerConfig::default());
        direct.keep_only_port(Some(443));
        let kept: Vec<String> = frames
            .iter()
            .filter_map(|f| direct.process_frame(LinkType::ETHERNET, Timestamp(1), f))
            .map(|r| json(&r))
            .collect();
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert!(kept
            .iter()
            .all(|r| r.contains("\"dst_port\":443") || r.contains("\"src_port\":443,")));
        let s = direct.stats();
        assert_eq!((s.syn, s.syn_ack, s.other_port), (1, 1, 3));
        assert!(s
            .to_string()
            .contains("other ports:         3 syn or syn_ack"));

        let mut fed = Analyzer::new(&engine, AnalyzerConfig::default());
        fed.keep_only_port(Some(443));
        let mut out = Vec::new();
        let mut emit = |r: &mut Record| -> Result<(), ()> {
            out.push(json(r));
            Ok(())
        };
        for f in &frames {
            fed.feed_frame(LinkType::ETHERNET, Timestamp(1), f, &mut emit)
                .unwrap();
        }
        fed.drain(&mut emit).unwrap();
        assert_eq!(out, kept);
        assert_eq!(fed.stats(), direct.stats());
    }

    #[test]
    fn lookahead_gives_the_records_of_frame_by_frame_processing() {
        let engine = Engine::default();
        let frames = stream();

        let mut one = Analyzer::new(&engine, AnalyzerConfig::default());
        let direct: Vec<String> = frames
            .iter()
            .filter_map(|(ts, f)| one.process_frame(LinkType::ETHERNET, *ts, f))
            .map(|r| json(&r))
            .collect();

        let mut ahead = Analyzer::new(&engine, AnalyzerConfig::default());
        let mut fed = Vec::new();
        let mut emit = |r: &mut Record| -> Result<(), ()> {
            fed.push(json(r));
            Ok(())
        };
        for (i, (ts, f)) in frames.iter().enumerate() {
            ahead
                .feed_frame(LinkType::ETHERNET, *ts, f, &mut emit)
                .unwrap();
            // Drained now and then, as a capture ring's blocks end: with
            // the lookahead full and its oldest anywhere in the ring.
            if i % 37 == 36 {
                ahead.drain(&mut emit).unwrap();
            }
        }
        ahead.drain(&mut emit).unwrap();

        assert!(direct.iter().any(|r| r.contains("\"uptime\":{")));
        assert!(direct.iter().any(|r| r.contains("\"kind\":\"syn_ack\"")));
        assert_eq!(fed, direct);
        let (a, b) = (one.stats(), ahead.stats());
        assert!(a.syn_retransmissions > 0 && a.skipped.iter().sum::<u64>() > 0);
        assert_eq!(a, b);
    }
}

//! The pipeline: frames → observations → records, with retransmission
//! tracking and counters. Files, live capture and the kernel's saved SYNs
//! all go through the [`Engine`], so there is one code path from an
//! observation to a record.

mod flows;
mod record;
mod shapes;
mod stats;

pub use flows::{FlowTable, SynSeen};
pub use record::{Claim, JsonMemo, Record};
pub use stats::Stats;

use crate::classify::{self, Model};
use crate::p0f::{self, UptimeTracker};
use crate::packet::{self, Kind, LinkType, Observation, Timestamp};
use shapes::ShapeCache;

/// The read-only half of the pipeline: databases and models, shareable
/// between threads. Turns one observation into one record.
#[derive(Debug)]
pub struct Engine {
    p0f: &'static p0f::Database,
    /// `None` only where a caller turns classification off (the benchmark
    /// measures its cost that way).
    model: Option<Model>,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            p0f: p0f::Database::builtin(),
            model: Some(builtin_model().clone()),
        }
    }
}

/// The built-in classifier, compiled once per process.
fn builtin_model() -> &'static Model {
    static MODEL: std::sync::OnceLock<Model> = std::sync::OnceLock::new();
    MODEL.get_or_init(|| match Model::builtin() {
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
        self
    }

    /// Leaves the `classification` field out of every record.
    pub fn without_classification(mut self) -> Self {
        self.model = None;
        self
    }

    pub fn model(&self) -> Option<&Model> {
        self.model.as_ref()
    }

    /// An engine with another p0f database than the built-in one. The
    /// database lives as long as the process (records borrow its labels).
    pub fn with_p0f_database(mut self, db: p0f::Database) -> Self {
        self.p0f = Box::leak(Box::new(db));
        self
    }

    pub fn p0f_database(&self) -> &'static p0f::Database {
        self.p0f
    }

    /// `syn_mss` is the MSS of the client SYN a SYN+ACK answers, when it was
    /// seen (p0f renders server windows relative to it).
    pub fn fingerprint(&self, obs: Observation, syn_mss: Option<u16>) -> Record {
        let d = self.derive(&obs, syn_mss);
        Record {
            obs,
            p0f: d.p0f,
            mtu: d.mtu,
            uptime: None,
            classification: d.classification,
            verdict: None,
        }
    }

    /// Everything a record adds to its observation, computed by reference
    /// so the ~200-byte observation is moved once, into the record.
    fn derive(&self, obs: &Observation, syn_mss: Option<u16>) -> Derived {
        self.derive_with(obs, syn_mss, None)
    }

    /// [`Engine::derive`], looking the costly steps up in `cache` first.
    fn derive_with(
        &self,
        obs: &Observation,
        syn_mss: Option<u16>,
        cache: Option<&mut ShapeCache>,
    ) -> Derived {
        let sig = p0f::TcpSignature::from_observation(obs, syn_mss);
        let (p0f, p0f_class, cache) = match cache {
            Some(c) => {
                let (m, class) = c.p0f(self.p0f, sig);
                (m, class, Some(c))
            }
            None => {
                let m = self.p0f.match_signature(sig);
                (m, shapes::p0f_class(&m), None)
            }
        };
        // p0f stops following a connection whose packet matched a userland
        // tool or its own probe: no MTU for it, as in p0f.
        let mtu = if p0f.ends_connection() {
            None
        } else {
            self.p0f.mtu_of(&p0f.raw_sig)
        };
        let classification = self.model.as_ref().map(|m| {
            let features = classify::Features::of(obs, p0f_class);
            match cache {
                Some(c) => c.classify(m, features),
                None => m.classify_features(features),
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
    /// How long (packet time) a handshake is remembered; SYN retransmissions
    /// back off to about a minute, so two minutes catches them all.
    pub flow_ttl_ns: u64,
    /// Hosts remembered for uptime estimation (p0f's per-host timestamps).
    pub uptime_capacity: usize,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            flow_capacity: 1 << 20,
            flow_ttl_ns: 120 * 1_000_000_000,
            uptime_capacity: 1 << 16,
        }
    }
}

/// The stateful pipeline over a stream of frames (one capture, one
/// interface): an [`Engine`] plus handshake memory and counters.
pub struct Analyzer<'e> {
    engine: &'e Engine,
    flows: FlowTable,
    uptime: UptimeTracker,
    shapes: ShapeCache,
    stats: Stats,
}

impl<'e> Analyzer<'e> {
    pub fn new(engine: &'e Engine, config: AnalyzerConfig) -> Self {
        Analyzer {
            engine,
            flows: FlowTable::new(config.flow_capacity, config.flow_ttl_ns),
            uptime: UptimeTracker::new(config.uptime_capacity),
            shapes: ShapeCache::default(),
            stats: Stats::default(),
        }
    }

    /// One captured frame; returns a record for a first-seen SYN or SYN+ACK.
    pub fn process_frame(&mut self, link: LinkType, ts: Timestamp, frame: &[u8]) -> Option<Record> {
        self.stats.packets += 1;
        let decoded = packet::decode(link, ts, frame);
        self.after_decode(decoded)
    }

    /// One bare IP packet (no link layer).
    pub fn process_ip(&mut self, ts: Timestamp, packet: &[u8]) -> Option<Record> {
        self.stats.packets += 1;
        let decoded = packet::decode_ip(ts, packet);
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
        let (syn_mss, follows_syn) = match self.flows.observe(&obs) {
            SynSeen::Retransmission => {
                match obs.kind {
                    Kind::Syn => self.stats.syn_retransmissions += 1,
                    Kind::SynAck => self.stats.syn_ack_retransmissions += 1,
                }
                return None;
            }
            SynSeen::New {
                syn_mss,
                follows_syn,
            } => (syn_mss, follows_syn),
        };
        match obs.kind {
            Kind::Syn => self.stats.syn += 1,
            Kind::SynAck => self.stats.syn_ack += 1,
        }
        let d = self
            .engine
            .derive_with(&obs, syn_mss, Some(&mut self.shapes));
        // p0f keeps no per-host timestamp for a SYN+ACK whose SYN it did not
        // see, nor for connections it stops following; neither do we, so
        // later estimates for the host agree with p0f's.
        let uptime = if d.p0f.ends_connection() || !follows_syn {
            None
        } else {
            self.uptime.observe(&obs)
        };
        Some(Record {
            obs,
            p0f: d.p0f,
            mtu: d.mtu,
            uptime,
            classification: d.classification,
            verdict: None,
        })
    }

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

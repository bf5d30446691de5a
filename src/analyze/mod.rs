//! The pipeline: frames → observations → records, with retransmission
//! tracking and counters. Files, live capture and the kernel's saved SYNs
//! all go through [`Engine::fingerprint`], so there is one code path from an
//! observation to a record.

mod flows;
mod record;
mod stats;

pub use flows::{FlowTable, SynSeen};
pub use record::Record;
pub use stats::Stats;

use crate::packet::{self, Kind, LinkType, Observation, Timestamp};

/// The read-only half of the pipeline: databases and models, shareable
/// between threads. Turns one observation into one record.
#[derive(Debug, Default)]
pub struct Engine {}

impl Engine {
    /// `syn_mss` is the MSS of the client SYN a SYN+ACK answers, when it was
    /// seen (p0f renders server windows relative to it).
    pub fn fingerprint(&self, obs: Observation, syn_mss: Option<u16>) -> Record {
        let _ = syn_mss;
        Record { obs }
    }
}

/// Settings of the stateful part of the pipeline.
#[derive(Clone, Copy, Debug)]
pub struct AnalyzerConfig {
    /// Handshakes remembered for retransmission detection.
    pub flow_capacity: usize,
    /// How long (packet time) a handshake is remembered; SYN retransmissions
    /// back off to about a minute, so two minutes catches them all.
    pub flow_ttl_ns: u64,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            flow_capacity: 1 << 20,
            flow_ttl_ns: 120 * 1_000_000_000,
        }
    }
}

/// The stateful pipeline over a stream of frames (one capture, one
/// interface): an [`Engine`] plus handshake memory and counters.
pub struct Analyzer<'e> {
    engine: &'e Engine,
    flows: FlowTable,
    stats: Stats,
}

impl<'e> Analyzer<'e> {
    pub fn new(engine: &'e Engine, config: AnalyzerConfig) -> Self {
        Analyzer {
            engine,
            flows: FlowTable::new(config.flow_capacity, config.flow_ttl_ns),
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
        let syn_mss = match self.flows.observe(&obs) {
            SynSeen::Retransmission => {
                match obs.kind {
                    Kind::Syn => self.stats.syn_retransmissions += 1,
                    Kind::SynAck => self.stats.syn_ack_retransmissions += 1,
                }
                return None;
            }
            SynSeen::New { syn_mss } => syn_mss,
        };
        match obs.kind {
            Kind::Syn => self.stats.syn += 1,
            Kind::SynAck => self.stats.syn_ack += 1,
        }
        Some(self.engine.fingerprint(obs, syn_mss))
    }

    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.flow_evictions = self.flows.evictions();
        s
    }

    /// Counts a frame the capture layer could not deliver whole.
    pub fn count_capture_error(&mut self) {
        self.stats.capture_errors += 1;
    }
}

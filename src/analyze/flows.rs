use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::net::IpAddr;

use foldhash::fast::RandomState;

use crate::packet::{Kind, Observation, Timestamp};

/// A handshake named from the client's side, reduced to a 64-bit keyed hash
/// of (client, server, client port, server port). The hash seed is random
/// per table, so nobody can aim collisions at it; an accidental collision of
/// two live handshakes (about n²/2⁶⁴) would at worst merge their
/// retransmission tracking.
type FlowKey = u64;

/// What one handshake left behind: 12 bytes, so a table entry is 24 (the
/// table is large and its lookups miss the cache; smaller entries miss less).
#[derive(Clone, Copy, Debug)]
struct FlowState {
    syn_isn: u32,
    syn_ack_isn: u32,
    /// The SYN's MSS as p0f remembers it, 0 for none.
    syn_mss: u16,
    seen: u8,
}

impl FlowState {
    const SYN: u8 = 1;
    const SYN_ACK: u8 = 2;

    fn syn(obs: &Observation) -> Self {
        FlowState {
            syn_isn: obs.seq,
            syn_ack_isn: 0,
            syn_mss: obs.options.p0f.mss,
            seen: Self::SYN,
        }
    }

    fn syn_ack(obs: &Observation) -> Self {
        FlowState {
            syn_isn: 0,
            syn_ack_isn: obs.seq,
            syn_mss: 0,
            seen: Self::SYN_ACK,
        }
    }

    fn syn_isn(&self) -> Option<u32> {
        (self.seen & Self::SYN != 0).then_some(self.syn_isn)
    }

    fn syn_ack_isn(&self) -> Option<u32> {
        (self.seen & Self::SYN_ACK != 0).then_some(self.syn_ack_isn)
    }

    /// The SYN's MSS as p0f remembers it for the SYN+ACK's window: the one
    /// among the first 24 options, none when 0.
    fn syn_mss(&self) -> Option<u16> {
        (self.syn_mss != 0).then_some(self.syn_mss)
    }
}

/// The keys are already uniformly distributed hashes: hashing them again
/// would only cost time.
#[derive(Default)]
struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Generation = HashMap<FlowKey, FlowState, BuildHasherDefault<KeyIsHash>>;

/// What the flow table knows about a SYN or SYN+ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynSeen {
    /// Same 4-tuple and same initial sequence number as one already seen.
    Retransmission,
    /// First of its kind; for a SYN+ACK, the MSS of the SYN it answers.
    New { syn_mss: Option<u16> },
}

/// Bounded memory of recent handshakes, for retransmission detection and to
/// hand the client's MSS to the SYN+ACK.
///
/// Two generations of hash maps: entries live in `current`; when it is full
/// or older than the time-to-live it becomes `previous` and the old
/// `previous` is dropped whole. Lookups that hit `previous` move the entry
/// forward. That bounds memory at `capacity` entries, costs O(1) per packet
/// with no per-entry timers, and evicts roughly oldest first. A flood of
/// distinct spoofed SYNs only rotates generations faster.
pub struct FlowTable {
    seed: RandomState,
    current: Generation,
    previous: Generation,
    generation_cap: usize,
    generation_start: Timestamp,
    ttl_ns: u64,
    evictions: u64,
}

impl FlowTable {
    pub fn new(capacity: usize, ttl_ns: u64) -> Self {
        let generation_cap = (capacity / 2).max(1);
        FlowTable {
            seed: RandomState::default(),
            // Sized once: growing step by step would rehash every entry
            // several times while the first generation fills.
            current: Generation::with_capacity_and_hasher(generation_cap, Default::default()),
            previous: Generation::default(),
            generation_cap,
            generation_start: Timestamp(0),
            // Each generation lives for half the TTL, so an entry survives
            // between one half and one whole TTL.
            ttl_ns: (ttl_ns / 2).max(1),
            evictions: 0,
        }
    }

    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn rotate_if_due(&mut self, now: Timestamp) {
        let age = now.0.saturating_sub(self.generation_start.0);
        if self.current.len() < self.generation_cap && age <= self.ttl_ns {
            return;
        }
        self.evictions += self.previous.len() as u64;
        // The next generation will likely fill as this one did: size it
        // once instead of growing it step by step.
        let next = Generation::with_capacity_and_hasher(self.current.len(), Default::default());
        self.previous = std::mem::replace(&mut self.current, next);
        if age > 2 * self.ttl_ns {
            // A long gap in packet time: the generation just retired is as
            // stale as the one dropped.
            self.evictions += self.previous.len() as u64;
            self.previous.clear();
        }
        self.generation_start = now;
    }

    fn key(&self, client: IpAddr, server: IpAddr, client_port: u16, server_port: u16) -> FlowKey {
        let mut h = self.seed.build_hasher();
        for addr in [client, server] {
            match addr {
                IpAddr::V4(a) => h.write_u32(u32::from(a)),
                IpAddr::V6(a) => h.write_u128(u128::from(a)),
            }
        }
        h.write_u32(u32::from(client_port) << 16 | u32::from(server_port));
        h.finish()
    }

    /// The handshake's state, or where to put it: one probe of `current`
    /// (plus one of `previous` for a handshake not seen in this generation).
    fn entry(&mut self, key: FlowKey) -> Slot<'_> {
        use std::collections::hash_map::Entry;
        match self.current.entry(key) {
            Entry::Occupied(e) => Slot::Known(e.into_mut()),
            Entry::Vacant(e) => match self.previous.remove(&key) {
                Some(moved) => Slot::Known(e.insert(moved)),
                None => Slot::New(e),
            },
        }
    }

    pub fn observe(&mut self, obs: &Observation) -> SynSeen {
        self.rotate_if_due(obs.ts);
        match obs.kind {
            Kind::Syn => {
                let key = self.key(obs.src_ip, obs.dst_ip, obs.src_port, obs.dst_port);
                match self.entry(key) {
                    Slot::Known(state) => {
                        if state.syn_isn() == Some(obs.seq) {
                            return SynSeen::Retransmission;
                        }
                        // Same 4-tuple, new ISN: a new connection reusing
                        // the port.
                        *state = FlowState::syn(obs);
                    }
                    Slot::New(e) => {
                        e.insert(FlowState::syn(obs));
                    }
                }
                SynSeen::New { syn_mss: None }
            }
            Kind::SynAck => {
                let key = self.key(obs.dst_ip, obs.src_ip, obs.dst_port, obs.src_port);
                match self.entry(key) {
                    Slot::Known(state) => {
                        if state.syn_ack_isn() == Some(obs.seq) {
                            return SynSeen::Retransmission;
                        }
                        state.syn_ack_isn = obs.seq;
                        state.seen |= FlowState::SYN_ACK;
                        SynSeen::New {
                            syn_mss: state.syn_mss(),
                        }
                    }
                    Slot::New(e) => {
                        // The capture started after the SYN: remember the
                        // SYN+ACK only to spot its own retransmissions.
                        e.insert(FlowState::syn_ack(obs));
                        SynSeen::New { syn_mss: None }
                    }
                }
            }
        }
    }
}

enum Slot<'a> {
    Known(&'a mut FlowState),
    New(std::collections::hash_map::VacantEntry<'a, FlowKey, FlowState>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::{OptionBytes, TcpPacket};
    use crate::packet::{decode_ip, flags};
    use std::net::Ipv4Addr;

    fn obs(p: &TcpPacket, t: u64) -> Observation {
        match decode_ip(Timestamp(t), &p.ip_bytes()) {
            Ok(Some(o)) => o,
            other => panic!("crafted packet did not decode: {other:?}"),
        }
    }

    fn syn(port: u16, seq: u32) -> TcpPacket {
        let mut p = TcpPacket::syn(
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            port,
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
            443,
        );
        p.seq = seq;
        p.options = OptionBytes::new().mss(1400).0;
        p
    }

    #[test]
    fn retransmitted_syn_and_syn_ack_are_recognised() {
        let mut t = FlowTable::new(100, 10_000_000_000);
        let s = syn(1000, 7);
        assert_eq!(t.observe(&obs(&s, 1)), SynSeen::New { syn_mss: None });
        assert_eq!(t.observe(&obs(&s, 2)), SynSeen::Retransmission);
        let mut sa = TcpPacket::syn_ack_for(&s);
        sa.flags = flags::SYN | flags::ACK;
        assert_eq!(
            t.observe(&obs(&sa, 3)),
            SynSeen::New {
                syn_mss: Some(1400)
            }
        );
        assert_eq!(t.observe(&obs(&sa, 4)), SynSeen::Retransmission);
        // A new ISN on the same 4-tuple is a new connection.
        assert_eq!(
            t.observe(&obs(&syn(1000, 8), 5)),
            SynSeen::New { syn_mss: None }
        );
    }

    #[test]
    fn memory_stays_bounded_under_a_flood() {
        let mut t = FlowTable::new(1000, u64::MAX);
        for i in 0..100_000u32 {
            let mut p = syn((i % 60000) as u16 + 1, i);
            p.src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            t.observe(&obs(&p, u64::from(i)));
            assert!(t.len() <= 1000);
        }
        assert!(t.evictions() >= 99_000);
    }

    #[test]
    fn entries_expire_by_packet_time() {
        let mut t = FlowTable::new(1000, 1_000);
        let s = syn(1, 1);
        t.observe(&obs(&s, 0));
        // Long after the TTL the same SYN counts as new again.
        assert_eq!(t.observe(&obs(&s, 10_000)), SynSeen::New { syn_mss: None });
    }
}

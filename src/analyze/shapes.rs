use std::hash::{BuildHasher, Hash};

use foldhash::fast::RandomState;

use crate::classify::{Classification, Features, Model, P0fClass};
use crate::p0f::{Database, P0fMatch, TcpSignature};

/// Slots per table: real traffic shows a few hundred distinct SYN shapes.
const SLOTS: usize = 1 << 12;

/// Remembers the answers of the two pure, costly steps of a record, keyed
/// by their complete inputs: p0f's match of a signature and the
/// classification of a feature set. Most SYNs of a capture repeat a shape
/// already seen (same stack, same path), so both become a lookup.
///
/// Correct by construction: a key is everything the step reads, so a hit
/// returns exactly what the step would compute. The one field left out of
/// the p0f key is `ts1`, the timestamp value, which the matcher never reads
/// (only its zero-ness, already a quirk bit); the returned match carries
/// the packet's own signature. Direct-mapped and fixed-size: memory is
/// bounded, and a flood of distinct shapes only costs the full computation.
/// A remembered p0f answer: the key (signature without `ts1`), the match,
/// and the classifier's reduction of its label.
type P0fSlot = (TcpSignature, P0fMatch<'static>, Option<P0fClass>);

pub struct ShapeCache {
    seed: RandomState,
    p0f: Box<[Option<P0fSlot>]>,
    class: Box<[Option<(Features, Classification)>]>,
}

impl Default for ShapeCache {
    fn default() -> Self {
        ShapeCache {
            seed: RandomState::default(),
            p0f: vec![None; SLOTS].into_boxed_slice(),
            class: vec![None; SLOTS].into_boxed_slice(),
        }
    }
}

impl ShapeCache {
    fn slot(&self, key: &impl Hash) -> usize {
        (self.seed.hash_one(key) as usize) & (SLOTS - 1)
    }

    /// p0f's match of `sig`, and the classifier's reduction of its label.
    pub fn p0f(
        &mut self,
        db: &'static Database,
        sig: TcpSignature,
    ) -> (P0fMatch<'static>, Option<P0fClass>) {
        let key = TcpSignature { ts1: 0, ..sig };
        let i = self.slot(&key);
        if let Some(Some((k, m, class))) = self.p0f.get(i) {
            if *k == key {
                return (P0fMatch { raw_sig: sig, ..*m }, *class);
            }
        }
        let m = db.match_signature(sig);
        let class = p0f_class(&m);
        if let Some(slot) = self.p0f.get_mut(i) {
            *slot = Some((key, m, class));
        }
        (m, class)
    }

    pub fn classify(&mut self, model: &Model, features: Features) -> Classification {
        let i = self.slot(&features);
        if let Some(Some((k, c))) = self.class.get(i) {
            if *k == features {
                return *c;
            }
        }
        let c = model.classify_features(features);
        if let Some(slot) = self.class.get_mut(i) {
            *slot = Some((features, c));
        }
        c
    }
}

/// The classifier's view of a p0f label.
pub(super) fn p0f_class(m: &P0fMatch<'_>) -> Option<P0fClass> {
    m.os.map(|l| P0fClass::of(&l.name, l.flavor.as_deref().unwrap_or("")))
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use crate::analyze::{Analyzer, AnalyzerConfig, Engine};
    use crate::craft::{Stack, TcpPacket};
    use crate::packet::{flags, Timestamp};

    /// Records through the cache (the Analyzer) equal records computed
    /// without it (Engine::fingerprint), SYN and SYN+ACK alike, over stacks,
    /// TTLs, timestamp values (zero and not) and both IP versions, each shape
    /// seen many times.
    #[test]
    fn cached_answers_equal_fresh_ones() {
        let engine = Engine::default();
        let mut analyzer = Analyzer::new(&engine, AnalyzerConfig::default());
        let mut n = 0u32;
        for round in 0..6u32 {
            for stack in Stack::ALL {
                for v6 in [false, true] {
                    n += 1;
                    let (c, s) = if v6 {
                        (
                            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, n as u16)),
                            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 2, 1)),
                        )
                    } else {
                        (
                            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)),
                            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                        )
                    };
                    let mut syn = stack.syn(c, 1024 + n as u16, s, 443, n * 7919 + round);
                    syn.ttl -= (round % 3) as u8;
                    let mut sa = TcpPacket::syn_ack_for(&syn);
                    sa.flags = flags::SYN | flags::ACK;
                    sa.options = crate::craft::OptionBytes::new()
                        .mss(1400)
                        .sok()
                        .ts(round, 5)
                        .nop()
                        .ws(7)
                        .0;
                    for p in [&syn, &sa] {
                        let ts = Timestamp(u64::from(n) * 1_000_000);
                        let Some(cached) = analyzer.process_ip(ts, &p.ip_bytes()) else {
                            panic!("first-seen packet makes a record")
                        };
                        let syn_mss = if p.flags & flags::ACK != 0 {
                            cached_syn_mss(&syn)
                        } else {
                            None
                        };
                        let fresh = engine.fingerprint(cached.obs.clone(), syn_mss);
                        assert_eq!(
                            format!("{}", cached.p0f.raw_sig),
                            format!("{}", fresh.p0f.raw_sig)
                        );
                        assert_eq!(cached.p0f.os, fresh.p0f.os);
                        assert_eq!(cached.p0f.dist, fresh.p0f.dist);
                        assert_eq!(cached.p0f.generic, fresh.p0f.generic);
                        assert_eq!(cached.p0f.fuzzy, fresh.p0f.fuzzy);
                        assert_eq!(cached.mtu, fresh.mtu);
                        assert_eq!(cached.classification, fresh.classification);
                    }
                }
            }
        }
    }

    /// The MSS the client SYN carried, as the flow table hands it to the
    /// SYN+ACK.
    fn cached_syn_mss(syn: &TcpPacket) -> Option<u16> {
        crate::packet::decode_ip(Timestamp(0), &syn.ip_bytes())
            .ok()
            .flatten()
            .and_then(|o| o.options.mss)
    }
}

use std::hash::{BuildHasher, Hash, Hasher};

use foldhash::fast::RandomState;

use crate::classify::{Classification, P0fClass};
use crate::p0f::{P0fMatch, TcpSignature, MAX_OPTIONS};
use crate::packet::{flags, Observation};

/// Slots in the table: real traffic shows a few hundred distinct SYN shapes.
const SLOTS: usize = 1 << 12;

/// Everything p0f's match and the classifier read of an observation, except
/// the timestamp value: p0f's signature with `ts1` cleared (the matcher
/// never reads it; its zero-ness is already in the quirks and the window
/// multiplier), plus the few fields the classifier reads beyond it.
///
/// The classifier's features are a function of this key: TTL, window, IP
/// version and IP ID zero-ness (the `id+`/`id-` quirks with `df`) are in the
/// signature; its option layout is the signature's plus the EOL padding when
/// that is all zero; MSS and window scale are the last ones of the whole
/// list. That holds for lists p0f reads whole (up to 24 options); longer
/// ones are never cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ShapeKey {
    sig: TcpSignature,
    mss: Option<u16>,
    wscale: Option<u8>,
    ece_and_cwr: bool,
    eol_pad_nonzero: bool,
}

/// Hashes the fields that tell shapes apart in practice, packed into three
/// words (equality still compares everything): field-by-field hashing cost
/// more than the rest of the lookup.
impl Hash for ShapeKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let s = &self.sig;
        h.write_u64(s.layout.key());
        h.write_u64(
            u64::from(s.window)
                | u64::from(s.mss) << 16
                | u64::from(s.ttl) << 32
                | u64::from(s.wscale) << 40
                | u64::from(s.eol_pad) << 48
                | (s.kind as u64) << 56
                | (s.ip_version as u64) << 58,
        );
        h.write_u32(s.quirks.0);
    }
}

impl ShapeKey {
    fn of(obs: &Observation, sig: TcpSignature) -> Option<ShapeKey> {
        let o = &obs.options;
        (o.len() <= MAX_OPTIONS).then_some(ShapeKey {
            sig: TcpSignature { ts1: 0, ..sig },
            mss: o.mss,
            wscale: o.window_scale,
            ece_and_cwr: obs.has_flag(flags::ECE) && obs.has_flag(flags::CWR),
            eol_pad_nonzero: o.eol_pad_nonzero,
        })
    }
}

/// What a record derives from its shape: p0f's match and the classification.
pub(super) type Answers = (P0fMatch<'static>, Option<Classification>);

/// Remembers the answers of the pure, costly steps of a record by their
/// complete inputs ([`ShapeKey`]): most SYNs of a capture repeat a shape
/// already seen (same stack, same path), so p0f's match and the
/// classification become one lookup. The returned match carries the
/// packet's own signature. Direct-mapped and fixed-size: memory is bounded,
/// and a flood of distinct shapes only costs the full computation.
pub struct ShapeCache {
    seed: RandomState,
    slots: Box<[Option<(ShapeKey, Answers)>]>,
}

impl Default for ShapeCache {
    fn default() -> Self {
        ShapeCache {
            seed: RandomState::default(),
            slots: vec![None; SLOTS].into_boxed_slice(),
        }
    }
}

impl ShapeCache {
    /// The answers for `obs` (whose signature is `sig`), from `compute` when
    /// this shape is not remembered.
    pub fn answers(
        &mut self,
        obs: &Observation,
        sig: TcpSignature,
        compute: impl FnOnce() -> Answers,
    ) -> Answers {
        let Some(key) = ShapeKey::of(obs, sig) else {
            return compute();
        };
        let i = (self.seed.hash_one(key) as usize) & (SLOTS - 1);
        if let Some(Some((k, (m, c)))) = self.slots.get(i) {
            if *k == key {
                return (P0fMatch { raw_sig: sig, ..*m }, *c);
            }
        }
        let answers = compute();
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = Some((key, answers));
        }
        answers
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

    /// A small xorshift generator: the test is reproducible without a seed
    /// file.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<T: Copy>(&mut self, from: &[T]) -> T {
            from[(self.next() % from.len() as u64) as usize]
        }
    }

    /// Every field the key leaves out or reduces, varied over few shapes so
    /// the cache hits often: per-connection fields (addresses, ports, ISN,
    /// IP ID, timestamp values) change freely, zero-ness included, while
    /// ECN flags one at a time or both, repeated MSS and window-scale
    /// options, EOL padding that is non-zero only in the last byte, and
    /// lists past p0f's 24 options vary the shape. Every record equals the
    /// one computed without the cache.
    #[test]
    fn cache_keys_cover_everything_the_answers_read() {
        let engine = Engine::default();
        let mut analyzer = Analyzer::new(&engine, AnalyzerConfig::default());
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let option_lists: [&[u8]; 8] = [
            &[
                2, 4, 5, 180, 1, 3, 3, 8, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 4, 2, 0, 0,
            ],
            &[2, 4, 5, 180, 2, 4, 5, 100, 3, 3, 6, 3, 3, 2],
            &[2, 4, 5, 180, 1, 1, 4, 2, 0, 0, 0, 7],
            &[2, 4, 5, 180, 1, 1, 4, 2, 0, 0, 0, 0],
            &[1; 30],
            &[2, 4, 5, 160, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0, 1, 3, 3, 7],
            &[],
            &[2, 4, 1, 0, 1, 3, 3, 15, 8, 10, 0, 0, 0, 0, 0, 0, 0, 5],
        ];
        for n in 0..3000u32 {
            let client = IpAddr::V4(Ipv4Addr::from(rng.next() as u32));
            let server = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
            let mut p = TcpPacket::syn(client, rng.next() as u16, server, 443);
            p.ttl = rng.pick(&[64, 63, 128, 117, 255]);
            p.tos = rng.pick(&[0, 1, 2, 3]);
            p.df = rng.pick(&[true, false]);
            p.ip_id = rng.pick(&[0, 1, 0x4321]) as u16 ^ (n as u16 & 1);
            let isn = rng.next() as u32;
            p.seq = rng.pick(&[0, 1, isn]);
            p.window = rng.pick(&[65535, 64240, 29200, 5840]);
            p.flags = flags::SYN | rng.pick(&[0, flags::ECE, flags::CWR, flags::ECE | flags::CWR]);
            let mut options = rng.pick(&option_lists).to_vec();
            // Timestamp values, zero or not, wherever a timestamp option is.
            let mut i = 0;
            while i + 1 < options.len() {
                match options[i] {
                    0 => break,
                    1 => i += 1,
                    8 if i + 10 <= options.len() => {
                        for b in &mut options[i + 2..i + 10] {
                            *b = rng.pick(&[0, 0, 1, 0xff]);
                        }
                        i += 10;
                    }
                    _ => i += usize::from(options[i + 1]).max(1),
                }
            }
            p.options = options;
            let ts = Timestamp(u64::from(n) * 1_000_000);
            let Some(cached) = analyzer.process_ip(ts, &p.ip_bytes()) else {
                continue;
            };
            let fresh = engine.fingerprint(cached.obs.clone(), None);
            assert_eq!(
                format!("{}", cached.p0f.raw_sig),
                format!("{}", fresh.p0f.raw_sig),
                "packet {n}"
            );
            assert_eq!(cached.p0f.os, fresh.p0f.os, "packet {n}");
            assert_eq!(cached.p0f.dist, fresh.p0f.dist, "packet {n}");
            assert_eq!(cached.mtu, fresh.mtu, "packet {n}");
            assert_eq!(cached.classification, fresh.classification, "packet {n}");
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

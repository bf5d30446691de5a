use std::hash::{BuildHasher, Hash, Hasher};

use foldhash::fast::RandomState;

use super::Derived;
use crate::packet::{IpVersion, Kind, Observation, OptionsShape};

/// Shapes the table holds at most (about 8 MB). A handful of stacks make
/// a few hundred shapes, but a busy site's visitors multiply them by the
/// MSS values of their paths and their hop counts: on a generated capture
/// of five stacks, 33 MSS values and 0-40 hops, 16k entries instead of 4k
/// took `--format none` from 0.28-0.35 s to 0.18-0.20 s user per 1M SYNs.
pub const MAX_SHAPES: usize = 1 << 14;

/// Everything p0f's match and the classifier read of an observation, and
/// the MSS of the SYN a SYN+ACK answers (p0f reads it for the window), in
/// eleven words.
///
/// Per-connection values (addresses, ports, capture time) are left out, and
/// those read only for being zero or not are reduced to that: the ISN
/// (`seq-`), the IP ID (`id+`/`id-`), the IPv6 flow label (`flow`), the
/// urgent pointer (`uptr+`), the payload length (`+`) and the timestamp
/// values (`ts1-`, `ts2+`, the window multiplier's timestamp test); the
/// acknowledgment number keeps its zero-ness and the one bit p0f's `ack+`
/// reads. Everything else is kept whole, so two observations with equal keys
/// get equal answers, except for the timestamp value in `raw_sig`, which the
/// analyzer puts back. A hit skips p0f's signature as well as its match, the
/// MTU lookup and the classification. The JSON templates rely on the same
/// key: a value whose zero-ness it keeps exactly is written as constant
/// text when zero (`Record::fixed_by_key`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ShapeKey {
    header: [u64; 3],
    options: OptionsShape,
}

impl ShapeKey {
    /// Every observation field is named, so a field added to
    /// [`Observation`] does not compile until it is given its place here.
    pub(super) fn of(obs: &Observation, syn_mss: Option<u16>) -> ShapeKey {
        let &Observation {
            ts: _,
            kind,
            ip_version,
            src_ip: _,
            dst_ip: _,
            ttl,
            tos,
            df,
            mf,
            ip_reserved_flag,
            ip_id,
            ip_total_length,
            ip_header_len,
            ip_options_len,
            flow_label,
            src_port: _,
            dst_port: _,
            seq,
            ack,
            tcp_flags,
            tcp_data_offset,
            window,
            urgent_ptr,
            payload_len,
            ref options,
            // Written into the record like the addresses (a JSON hole).
            tunnel: _,
        } = obs;
        let bit = |b: bool, at: u32| u64::from(b) << at;
        ShapeKey {
            header: [
                u64::from(window)
                    | u64::from(ttl) << 16
                    | u64::from(tos) << 24
                    | u64::from(tcp_flags) << 32
                    | u64::from(tcp_data_offset) << 48,
                u64::from(ip_options_len) << 16
                    | u64::from(ip_header_len) << 32
                    | bit(kind == Kind::SynAck, 40)
                    | bit(ip_version == IpVersion::V6, 41)
                    | bit(df, 42)
                    | bit(mf, 43)
                    | bit(ip_reserved_flag, 44)
                    | bit(ip_id != 0, 45)
                    | bit(flow_label & 0xF_FFFF != 0, 46)
                    | bit(seq != 0, 47)
                    | bit(ack != 0, 48)
                    | bit(ack & (1 << 24) != 0, 49)
                    | bit(urgent_ptr != 0, 50)
                    | bit(payload_len != 0, 51)
                    | bit(syn_mss.is_some(), 52),
                u64::from(syn_mss.unwrap_or(0)) | u64::from(ip_total_length) << 16,
            ],
            options: options.shape(),
        }
    }

    /// The key's eleven words, for comparisons that know all are nearly
    /// always equal (see `TemplateKey`).
    pub(super) fn words(&self) -> [u64; 11] {
        let [a, b, c] = self.header;
        let [d, e, f, g, h, i, j, l] = self.options.0;
        [a, b, c, d, e, f, g, h, i, j, l]
    }

    /// The words that tell shapes apart in practice, folded into one
    /// (equality still compares all eleven).
    pub(super) fn fold(&self) -> u64 {
        let [a, b, c] = self.header;
        let o = &self.options.0;
        a ^ c.rotate_left(29)
            ^ b.rotate_left(11)
            ^ o[0].rotate_left(17)
            ^ o[1].rotate_left(43)
            ^ o[6].rotate_left(5)
            ^ o[7].rotate_left(37)
    }
}

impl Hash for ShapeKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.fold());
    }
}

/// Shapes per set. With two, a capture of a few hundred shapes put three
/// busy ones in one set in about one run in eight (the seed is random per
/// process), and they evicted each other on every SYN: the same file then
/// took twice the instructions. Four ways made that rare, not impossible
/// (five busy shapes in one set: one callgrind run in 277 took 1.68 times
/// the instructions), hence [`RESEED_WINDOW`].
const WAYS: usize = 4;

/// Lookups per look at the miss rate. Where more than a quarter missed, the
/// cache starts again under a new seed, which spreads shapes that had
/// crowded into one set; at most [`MAX_RESEEDS`] times, because traffic
/// whose shapes never repeat misses whatever the seed.
const RESEED_WINDOW: u32 = 1 << 16;
const MAX_RESEEDS: u8 = 3;

/// Remembers the answers of the pure, costly steps of a record by their
/// complete inputs ([`ShapeKey`]): most SYNs of a capture repeat a shape
/// already seen (same stack, same path), so p0f's signature and match, the
/// MTU and the classification become one lookup. Set associative and
/// fixed-size: memory is bounded, and a flood of distinct shapes only
/// costs the full computation.
pub struct ShapeCache {
    seed: RandomState,
    sets: Box<[Set]>,
    /// The remembered shapes and their answers, in the order they first
    /// filled a way; an evicted entry is overwritten where it lies. Grown
    /// as shapes arrive rather than made whole at the start: an entry is a
    /// whole classification, and a table of empty ones, each written to
    /// mark it empty, was half the page faults of a 2,200-packet file's run.
    entries: Vec<(ShapeKey, Derived)>,
    lookups: u32,
    misses: u32,
    reseeds: u8,
}

/// One set's ways, in one cache line (56 bytes, aligned to 64 so none
/// straddles two): a lookup reads it before any key.
#[derive(Clone, Copy, Default)]
#[repr(align(64))]
struct Set {
    /// Each way's hash (never zero; zero marks an empty way).
    tags: [u64; WAYS],
    /// Where each filled way's entry is in [`ShapeCache::entries`].
    entries: [u32; WAYS],
    /// The way filled next: the oldest entry goes, and nothing moves.
    next: u8,
}

const _: () = assert!(std::mem::size_of::<Set>() == 64);

impl ShapeCache {
    /// Room for `shapes` (a power of two from [`WAYS`] to [`MAX_SHAPES`]).
    pub fn with_capacity(shapes: usize) -> Self {
        let sets = (shapes.clamp(WAYS, MAX_SHAPES) / WAYS).next_power_of_two();
        ShapeCache {
            seed: RandomState::default(),
            sets: vec![Set::default(); sets].into_boxed_slice(),
            entries: Vec::new(),
            lookups: 0,
            misses: 0,
            reseeds: 0,
        }
    }

    fn hash_and_set(&self, key: &ShapeKey) -> (u64, usize) {
        let hash = self.seed.hash_one(key) | 1;
        // Keys whose folds differ only in high bits get hashes whose
        // differences barely depend on the seed, so the set taken straight
        // from the hash's bits kept them together under every seed (a test
        // found five such shapes in one set after three reseeds). A
        // multiply-xorshift finalizer makes every set bit depend on all
        // of the hash. The mask keeps the index inside the tables, whose
        // length is a power of two.
        let mut m = hash ^ (hash >> 33);
        m = m.wrapping_mul(0xff51_afd7_ed55_8ccd);
        m ^= m >> 33;
        m = m.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        m ^= m >> 33;
        (hash, (m >> 32) as usize & (self.sets.len() - 1))
    }

    /// Ends a window of lookups; starts afresh under a new seed if too
    /// many of them missed.
    #[cold]
    fn end_window(&mut self) {
        if self.misses > RESEED_WINDOW / 4 && self.reseeds < MAX_RESEEDS {
            self.reseeds += 1;
            self.seed = RandomState::default();
            self.sets.fill(Set::default());
            self.entries.clear();
        }
        self.lookups = 0;
        self.misses = 0;
    }

    /// The answers for an observation of shape `key`, from `compute` when
    /// this shape is not remembered. The match's `raw_sig` carries the
    /// timestamp value of the packet the answers were computed for: the
    /// caller puts its own packet's in.
    #[inline]
    pub fn answers(&mut self, key: ShapeKey, compute: impl FnOnce() -> Derived) -> &Derived {
        self.lookups += 1;
        if self.lookups == RESEED_WINDOW {
            self.end_window();
        }
        let (hash, set) = self.hash_and_set(&key);
        // A filled way's index is always inside `entries`: both are set
        // together, and a new seed empties both.
        let s = &mut self.sets[set];
        let entries = &mut self.entries;
        let found = (0..WAYS).find(|&w| {
            s.tags[w] == hash
                && matches!(entries.get(s.entries[w] as usize), Some((k, _)) if *k == key)
        });
        let at = match found {
            Some(w) => s.entries[w] as usize,
            None => {
                self.misses += 1;
                let w = usize::from(s.next) % WAYS;
                s.next = ((w + 1) % WAYS) as u8;
                let entry = (key, compute());
                let at = match entries.get_mut(s.entries[w] as usize) {
                    Some(old) if s.tags[w] != 0 => {
                        *old = entry;
                        s.entries[w] as usize
                    }
                    _ => {
                        entries.push(entry);
                        entries.len() - 1
                    }
                };
                s.tags[w] = hash;
                // At most `WAYS` entries per set: the index fits in 32 bits.
                s.entries[w] = at as u32;
                at
            }
        };
        &entries[at].1
    }
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
        // The full table, and one of two entries that evicts all the time.
        for shape_capacity in [AnalyzerConfig::default().shape_capacity, 2] {
            let config = AnalyzerConfig {
                shape_capacity,
                ..AnalyzerConfig::default()
            };
            let mut analyzer = Analyzer::new(&engine, config);
            let mut n = 0u32;
            for round in 0..6u32 {
                for stack in Stack::ALL {
                    for v6 in [false, true] {
                        n += 1;
                        let (c, s) = crate::craft::numbered_hosts(n, v6);
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
                            let fresh = engine.fingerprint(cached.obs().clone(), syn_mss);
                            assert_eq!(
                                format!("{}", cached.p0f().raw_sig),
                                format!("{}", fresh.p0f().raw_sig)
                            );
                            assert_eq!(cached.p0f().os, fresh.p0f().os);
                            assert_eq!(cached.p0f().dist, fresh.p0f().dist);
                            assert_eq!(cached.p0f().generic, fresh.p0f().generic);
                            assert_eq!(cached.p0f().fuzzy, fresh.p0f().fuzzy);
                            assert_eq!(cached.mtu(), fresh.mtu());
                            assert_eq!(cached.classification(), fresh.classification());
                        }
                    }
                }
            }
        }
    }

    /// A client SYN of `stack`, changed by `edit`, as an observation.
    fn syn_of(stack: Stack, edit: impl FnOnce(&mut TcpPacket)) -> crate::packet::Observation {
        let server = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let client = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let mut syn = stack.syn(client, 40000, server, 443, 1);
        edit(&mut syn);
        crate::packet::decode_ip(Timestamp(1), &syn.ip_bytes())
            .ok()
            .flatten()
            .expect("a SYN is an observation")
    }

    /// One set holds as many busy shapes as it has ways, whatever order
    /// they come in: each is computed once (with two ways, the third and
    /// fourth shape evicted the first two on every round).
    #[test]
    fn a_set_keeps_as_many_shapes_as_it_has_ways() {
        let engine = Engine::default();
        let observations: Vec<_> = Stack::ALL
            .iter()
            .take(super::WAYS)
            .map(|&stack| syn_of(stack, |_| {}))
            .collect();
        let mut cache = super::ShapeCache::with_capacity(super::WAYS);
        let mut computed = 0;
        for _ in 0..5 {
            for obs in &observations {
                let key = super::ShapeKey::of(obs, None);
                cache.answers(key, || {
                    computed += 1;
                    engine.derive(obs, None, None)
                });
            }
        }
        assert_eq!(computed, super::WAYS);
    }

    /// Entries are made as shapes arrive, and an evicted one is reused:
    /// the cache holds as many entries as shapes it has seen, never more
    /// than its ways.
    #[test]
    fn entries_grow_with_the_shapes_and_stay_bounded() {
        let engine = Engine::default();
        let mut cache = super::ShapeCache::with_capacity(64);
        assert!(cache.entries.is_empty());
        let shapes: Vec<_> = (1000..1200)
            .map(|window| syn_of(Stack::Linux, |syn| syn.window = window))
            .collect();
        for obs in shapes.iter().take(3) {
            cache.answers(super::ShapeKey::of(obs, None), || {
                engine.derive(obs, None, None)
            });
        }
        assert_eq!(cache.entries.len(), 3);
        for obs in &shapes {
            let d = cache.answers(super::ShapeKey::of(obs, None), || {
                engine.derive(obs, None, None)
            });
            let fresh = engine.derive(obs, None, None);
            assert_eq!(
                format!("{}", d.p0f.raw_sig),
                format!("{}", fresh.p0f.raw_sig)
            );
        }
        assert!(cache.entries.len() <= 64, "{}", cache.entries.len());
    }

    /// More busy shapes than ways in one set (an unlucky seed) evict each
    /// other on every lookup; the cache notices and spreads them under a
    /// new seed instead of computing every answer for the rest of the run.
    #[test]
    fn crowded_set_is_spread_by_a_new_seed() {
        let engine = Engine::default();
        let mut cache = super::ShapeCache::with_capacity(64);
        // Shapes differing in window only, until WAYS + 1 share a set under
        // this cache's seed.
        let mut by_set: Vec<Vec<_>> = vec![Vec::new(); 16];
        let crowd = (1000..)
            .find_map(|window| {
                let obs = syn_of(Stack::Linux, |syn| syn.window = window);
                let (_, set) = cache.hash_and_set(&super::ShapeKey::of(&obs, None));
                by_set[set].push(obs);
                (by_set[set].len() > super::WAYS).then(|| by_set[set].clone())
            })
            .expect("some set fills");
        let rounds = 3 * super::RESEED_WINDOW as usize / crowd.len();
        let mut computed = 0;
        for _ in 0..rounds {
            for obs in &crowd {
                cache.answers(super::ShapeKey::of(obs, None), || {
                    computed += 1;
                    engine.derive(obs, None, None)
                });
            }
        }
        // Every lookup of the first window misses; after it, a new seed
        // puts all five in one of sixteen sets again with probability
        // 16^-4 (and there are three tries).
        assert!(cache.reseeds >= 1);
        let first_window = super::RESEED_WINDOW as usize;
        assert!(
            computed < first_window + 1000,
            "{computed} of {} lookups computed",
            rounds * crowd.len()
        );
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
    /// acknowledgment, IP ID, flow label, urgent pointer, payload, timestamp
    /// values) change freely, zero-ness included, while ECN flags one at a
    /// time or both, URG/PSH/NS/ACK (SYN+ACKs whose SYN was not seen),
    /// repeated MSS and window-scale options, EOL
    /// padding that is non-zero only in the last byte, and lists past p0f's
    /// 24 options vary the shape. Every record equals the one computed
    /// without the cache.
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
        // Few shapes, so the cache hits often...
        let bases: Vec<TcpPacket> = (0..48)
            .map(|_| {
                let server = if rng.next() % 4 == 0 {
                    IpAddr::V6(Ipv6Addr::LOCALHOST)
                } else {
                    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
                };
                let mut p = TcpPacket::syn(server, 1, server, 443);
                p.ttl = rng.pick(&[64, 63, 128, 117, 255]);
                p.tos = rng.pick(&[0, 1, 2, 3]);
                p.df = rng.pick(&[true, false]);
                p.window = rng.pick(&[65535, 64240, 29200, 5840]);
                p.flags = flags::SYN
                    | rng.pick(&[0, flags::ECE, flags::CWR, flags::ECE | flags::CWR])
                    | rng.pick(&[0, 0, 0, flags::URG, flags::PSH, flags::NS, flags::ACK]);
                p.options = rng.pick(&option_lists).to_vec();
                p
            })
            .collect();
        // ...and per-connection values that differ in every packet.
        for n in 0..4000u32 {
            let mut p = bases[(rng.next() % bases.len() as u64) as usize].clone();
            p.src = match p.dst {
                IpAddr::V6(_) => {
                    IpAddr::V6(Ipv6Addr::from(u128::from(rng.next()) | 0x2001_0db8 << 96))
                }
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(rng.next() as u32)),
            };
            p.src_port = rng.next() as u16;
            p.flow_label = rng.pick(&[0, 0x12345, 1]);
            p.ack = rng.pick(&[0, 0, 1 << 24, 5]);
            p.urgent = rng.pick(&[0, 0, 9]);
            p.payload = rng.pick(&[&[][..], &[1, 2, 3][..]]).to_vec();
            p.ip_id = rng.pick(&[0, 1, 0x4321]);
            let isn = rng.next() as u32;
            p.seq = rng.pick(&[0, 1, isn]);
            // Timestamp values, zero or not, wherever a timestamp option is.
            let val = rng.pick(&[0, 1, 0xff00_0001, 0x0100_ff00]);
            let ecr = rng.pick(&[0, 0, 1, 0xff]);
            p.set_timestamp(val, ecr);
            let ts = Timestamp(u64::from(n) * 1_000_000);
            let Some(cached) = analyzer.process_ip(ts, &p.ip_bytes()) else {
                continue;
            };
            let fresh = engine.fingerprint(cached.obs().clone(), None);
            assert_eq!(
                format!("{}", cached.p0f().raw_sig),
                format!("{}", fresh.p0f().raw_sig),
                "packet {n}"
            );
            assert_eq!(cached.p0f().os, fresh.p0f().os, "packet {n}");
            assert_eq!(cached.p0f().dist, fresh.p0f().dist, "packet {n}");
            assert_eq!(cached.mtu(), fresh.mtu(), "packet {n}");
            assert_eq!(
                cached.classification(),
                fresh.classification(),
                "packet {n}"
            );
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

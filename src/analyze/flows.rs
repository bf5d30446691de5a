use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;

use foldhash::fast::{FixedState, RandomState};

use crate::packet::{Kind, Observation, Timestamp};
use crate::table::BucketTable;

/// A handshake named from the client's side, reduced to a 64-bit keyed hash
/// of (client, server, client port, server port): the low bits pick the
/// bucket, the high 32 are kept as the entry's tag. The hash seed is random
/// per table, or set from data no sender can predict
/// ([`FlowTable::reseed`]), so nobody can aim collisions at it; an
/// accidental collision of two live handshakes (bucket and tag, about
/// n²/2⁵⁰ for n live entries) would at worst merge their retransmission
/// tracking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey(u64);

/// Epochs are counted in 13 bits (three bits of `meta` say which half of
/// the handshake was seen, and whether p0f stopped following it).
const EPOCH_MASK: u16 = 0x1fff;

/// Slots per bucket: eight 16-byte slots, two adjacent cache lines that the
/// memory system fetches together. One line of four overflowed long before
/// the table was full (100,000 handshakes in a million slots evicted 18 to
/// 106 live ones, and their retransmissions made second records); eight
/// evict none in 99 runs of 100 (3 in the other), for 43 more instructions
/// per SYN (2.6%, callgrind; the bucket index's mixing adds 25 more).
const FLOW_WAYS: usize = 8;

/// What one handshake left behind, in 16 bytes.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    tag: u32,
    syn_isn: u32,
    syn_ack_isn: u32,
    /// The SYN's MSS as p0f remembers it, 0 for none.
    syn_mss: u16,
    /// `SYN`/`SYN_ACK`/`UNFOLLOWED` bits above the epoch the entry was
    /// last written in; 0 for an empty slot.
    meta: u16,
}

impl Slot {
    /// p0f dropped the connection at its SYN (a userland tool's, or its
    /// own sendsyn probe): the SYN+ACK answering it is a stray to p0f.
    const UNFOLLOWED: u16 = 1 << 13;
    const SYN: u16 = 1 << 14;
    const SYN_ACK: u16 = 1 << 15;

    fn epoch(&self) -> u16 {
        self.meta & EPOCH_MASK
    }

    fn seen(&self, half: u16) -> bool {
        self.meta & half != 0
    }

    fn syn(tag: u32, obs: &Observation, epoch: u16) -> Self {
        Slot {
            tag,
            syn_isn: obs.seq,
            syn_ack_isn: 0,
            syn_mss: obs.options.p0f.mss,
            meta: Self::SYN | epoch,
        }
    }

    fn syn_ack(tag: u32, obs: &Observation, epoch: u16) -> Self {
        Slot {
            tag,
            syn_isn: 0,
            syn_ack_isn: obs.seq,
            syn_mss: 0,
            meta: Self::SYN_ACK | epoch,
        }
    }

    /// The SYN's MSS as p0f remembers it for the SYN+ACK's window: the one
    /// among the first 24 options, none when 0.
    fn syn_mss(&self) -> Option<u16> {
        (self.syn_mss != 0).then_some(self.syn_mss)
    }
}

/// What the flow table knows about a SYN or SYN+ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynSeen {
    /// Same 4-tuple and same initial sequence number as one already seen.
    Retransmission,
    /// First of its kind. For a SYN+ACK: the MSS of the SYN it answers,
    /// and whether that SYN was seen at all (`follows_syn`; always true for
    /// a SYN).
    New {
        syn_mss: Option<u16>,
        follows_syn: bool,
    },
}

/// The handshake table's first size, in slots (256 KiB): a capture of a
/// thousand handshakes never zeroes more, one of a few thousand 1 MiB.
/// Zeroing the full table (16 MiB) was a third of a run over a 7 MB
/// capture of 2,000 handshakes.
const START_SLOTS: usize = 1 << 14;

/// Each growth multiplies the buckets by this.
const GROWTH: usize = 4;

/// The table grows once the handshakes filed since it last grew, with the
/// ones it kept, reach this fraction of its slots: at a sixteenth full an
/// eight-way bucket practically never overflows.
const FILL_SHARE: usize = 16;

/// Bounded memory of recent handshakes, for retransmission detection and to
/// hand the client's MSS to the SYN+ACK.
///
/// A bucket table (`table::BucketTable`: eight-way buckets of two cache lines; the handshake rate
/// is what the table must keep up with). Packet time is cut into epochs as
/// long as the time-to-live; an entry lives while it was written in the
/// current or the previous epoch, so it survives between one and two TTLs,
/// with no timers: at least the TTL, as promised (epochs of half the TTL
/// let a quiet capture forget a 108-second-old SYN at a two-minute TTL). A new
/// handshake takes an expired or empty slot of its bucket, else the one
/// written longest ago (an eviction).
///
/// The table starts small and grows fourfold whenever the handshakes
/// filed since it last grew, with those it kept, reach a sixteenth of its
/// slots, up to the capacity it was created with (so a slow trickle grows
/// it too, to full size after about 21,500 handshakes in all). Memory is
/// bounded by that capacity, plus a quarter of it while the last growth
/// moves the entries over, and a flood of distinct spoofed SYNs only
/// evicts faster once it is reached. A slot keeps only part of its key's
/// hash, not enough to place it in a larger table, so until the table is
/// full-sized it also lists the keys it filed, and a larger table is
/// filled by looking each of them up: live entries move, expired ones stay
/// behind. Records are the same as from a table full-sized from the start
/// while nothing is evicted; once buckets overflow, which of a bucket's
/// equally old entries goes can differ, as the moved entries sit in other
/// ways than they would have. The last growth (to 16 MiB) takes a few
/// milliseconds, once, which a live capture's ring absorbs.
///
/// Epochs count in 13 bits: an entry untouched for 8 192 epochs (11 days
/// at the default TTL) could look fresh again; its only effect would be a
/// retransmission verdict or a SYN MSS for a 4-tuple and ISN seen that long
/// ago.
pub struct FlowTable {
    seed: FixedState,
    table: BucketTable<Slot, FLOW_WAYS>,
    /// The buckets the table may grow to.
    max_buckets: usize,
    /// Keys filed since the table was created (or kept when it last grew),
    /// while it can still grow.
    filed: Vec<FlowKey>,
    /// `filed`'s length that makes the table grow; `usize::MAX` once it is
    /// full-sized.
    grow_at: usize,
    epoch: u16,
    epoch_start: Timestamp,
    epoch_ns: u64,
    evictions: u64,
}

impl FlowTable {
    /// Room for about `capacity` handshakes (rounded down to a power of two
    /// times eight, at least one bucket), reached by growing.
    pub fn new(capacity: usize, ttl_ns: u64) -> Self {
        FlowTable::starting_at(START_SLOTS, capacity, ttl_ns)
    }

    /// [`FlowTable::new`], first `start` slots large (tests compare a
    /// growing table with one full-sized from the start).
    fn starting_at(start: usize, capacity: usize, ttl_ns: u64) -> Self {
        let max_buckets = BucketTable::<Slot, FLOW_WAYS>::buckets_for(capacity);
        let buckets = BucketTable::<Slot, FLOW_WAYS>::buckets_for(start).min(max_buckets);
        FlowTable {
            seed: FixedState::with_seed(RandomState::default().hash_one(0u8)),
            table: BucketTable::with_buckets(buckets),
            max_buckets,
            filed: Vec::new(),
            grow_at: grow_at(buckets, max_buckets),
            epoch: 0,
            epoch_start: Timestamp(0),
            epoch_ns: ttl_ns.max(1),
            evictions: 0,
        }
    }

    /// Hashes keys with `seed` from now on. Only for a table nothing was
    /// filed in yet: entries filed before would not be found again.
    pub fn reseed(&mut self, seed: u64) {
        self.seed = FixedState::with_seed(seed);
    }

    /// Live handshakes evicted to make room for new ones.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Live entries (a scan of the whole table: for tests and summaries).
    pub fn len(&self) -> usize {
        self.table.slots().filter(|s| self.is_live(s)).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn is_live(&self, s: &Slot) -> bool {
        s.meta & !EPOCH_MASK != 0 && self.epoch.wrapping_sub(s.epoch()) & EPOCH_MASK <= 1
    }

    fn advance_epoch(&mut self, now: Timestamp) {
        let age = now.0.saturating_sub(self.epoch_start.0);
        if age < self.epoch_ns {
            return;
        }
        // Epochs keep to a fixed grid, whenever the packet that crosses a
        // boundary comes: started at that packet, an epoch could begin up
        // to a whole epoch late and an entry live three TTLs. After two
        // epochs or more everything has expired.
        let steps = age / self.epoch_ns;
        self.epoch = (self.epoch + steps.min(2) as u16) & EPOCH_MASK;
        self.epoch_start = Timestamp(self.epoch_start.0 + steps * self.epoch_ns);
    }

    /// The key [`FlowTable::observe`] files `obs` under: its handshake.
    pub fn key_of(&self, obs: &Observation) -> FlowKey {
        match obs.kind {
            Kind::Syn => self.key(obs.src_ip, obs.dst_ip, obs.src_port, obs.dst_port),
            Kind::SynAck => self.key(obs.dst_ip, obs.src_ip, obs.dst_port, obs.src_port),
        }
    }

    /// Starts loading the line `key` lives in, ahead of its `observe`.
    pub fn prefetch(&self, key: FlowKey) {
        self.table.prefetch(key.0);
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
        FlowKey(h.finish())
    }

    /// Where the handshake's live entry is in its bucket — way, `true` — or
    /// where a new one should go — way, `false` — and whether that evicts a
    /// live entry.
    // Inlined into the per-SYN path, where a call showed (+70 instructions
    // per SYN under callgrind once `stop_following` shared it).
    #[inline(always)]
    fn lookup(&self, key: FlowKey) -> (usize, bool, bool) {
        find(&self.table, key, self.epoch)
    }

    /// Marks the SYN filed under `key` as one p0f stops following (see
    /// [`crate::p0f::P0fMatch::ends_connection`]): the SYN+ACK answering
    /// it will not follow a SYN, as p0f sees it.
    #[cold]
    pub fn stop_following(&mut self, key: FlowKey) {
        let (way, known, _) = self.lookup(key);
        if let (true, Some(slot)) = (
            known,
            self.table.bucket_mut(key.0).and_then(|b| b.0.get_mut(way)),
        ) {
            if slot.seen(Slot::SYN) {
                slot.meta |= Slot::UNFOLLOWED;
            }
        }
    }

    pub fn observe(&mut self, obs: &Observation) -> SynSeen {
        self.observe_keyed(self.key_of(obs), obs)
    }

    /// [`FlowTable::observe`] with the key already computed by
    /// [`FlowTable::key_of`].
    pub fn observe_keyed(&mut self, key: FlowKey, obs: &Observation) -> SynSeen {
        self.advance_epoch(obs.ts);
        let epoch = self.epoch;
        let tag = (key.0 >> 32) as u32;
        let (way, known, evicts) = self.lookup(key);
        let Some(slot) = self.table.bucket_mut(key.0).and_then(|b| b.0.get_mut(way)) else {
            // Unreachable: `lookup` indexes within the table.
            return SynSeen::New {
                syn_mss: None,
                follows_syn: obs.kind == Kind::Syn,
            };
        };
        let seen = match obs.kind {
            Kind::Syn => {
                if known && slot.seen(Slot::SYN) && slot.syn_isn == obs.seq {
                    // Retransmissions keep the handshake alive, as
                    // touching it would.
                    slot.meta = (slot.meta & !EPOCH_MASK) | epoch;
                    return SynSeen::Retransmission;
                }
                // New, or the same 4-tuple with a new ISN: a new connection
                // reusing the port.
                *slot = Slot::syn(tag, obs, epoch);
                SynSeen::New {
                    syn_mss: None,
                    follows_syn: true,
                }
            }
            Kind::SynAck if known => {
                if slot.seen(Slot::SYN_ACK) && slot.syn_ack_isn == obs.seq {
                    slot.meta = (slot.meta & !EPOCH_MASK) | epoch;
                    return SynSeen::Retransmission;
                }
                slot.syn_ack_isn = obs.seq;
                slot.meta = (slot.meta & !EPOCH_MASK) | Slot::SYN_ACK | epoch;
                SynSeen::New {
                    syn_mss: slot.syn_mss(),
                    follows_syn: slot.seen(Slot::SYN) && !slot.seen(Slot::UNFOLLOWED),
                }
            }
            Kind::SynAck => {
                // The capture started after the SYN: remember the SYN+ACK
                // only to spot its own retransmissions.
                *slot = Slot::syn_ack(tag, obs, epoch);
                SynSeen::New {
                    syn_mss: None,
                    follows_syn: false,
                }
            }
        };
        if evicts {
            self.evictions += 1;
        }
        if !known && self.grow_at != usize::MAX {
            self.file(key);
        }
        seen
    }

    /// Lists a new entry's key while the table can grow, and grows it when
    /// it is time. Out of line: a full-sized table never calls it.
    #[inline(never)]
    fn file(&mut self, key: FlowKey) {
        self.filed.push(key);
        if self.filed.len() >= self.grow_at {
            self.grow();
        }
    }

    /// Moves every live entry into a table `GROWTH` times larger (at most
    /// the full size), finding each by its key in `filed`.
    #[cold]
    fn grow(&mut self) {
        let buckets = self
            .table
            .buckets()
            .saturating_mul(GROWTH)
            .min(self.max_buckets);
        let old = std::mem::replace(&mut self.table, BucketTable::with_buckets(buckets));
        let mut kept = Vec::new();
        for key in std::mem::take(&mut self.filed) {
            let (way, live, _) = find(&old, key, self.epoch);
            let slot = old.bucket(key.0).and_then(|b| b.0.get(way)).copied();
            let (to, moved, evicts) = find(&self.table, key, self.epoch);
            // Expired, evicted, or filed twice (its live entry moved with
            // the first).
            let (Some(slot), true, false) = (slot, live, moved) else {
                continue;
            };
            if let Some(s) = self.table.bucket_mut(key.0).and_then(|b| b.0.get_mut(to)) {
                *s = slot;
            }
            if evicts {
                self.evictions += 1;
            }
            kept.push(key);
        }
        self.grow_at = grow_at(buckets, self.max_buckets);
        if self.grow_at != usize::MAX {
            self.filed = kept;
        }
    }
}

/// [`FlowTable::lookup`] in `table` at `epoch`.
#[inline(always)]
fn find(table: &BucketTable<Slot, FLOW_WAYS>, key: FlowKey, epoch: u16) -> (usize, bool, bool) {
    let tag = (key.0 >> 32) as u32;
    let mut victim = 0;
    let mut victim_age = 0u16;
    let mut free = false;
    if let Some(bucket) = table.bucket(key.0) {
        for (i, s) in bucket.0.iter().enumerate() {
            let age = epoch.wrapping_sub(s.epoch()) & EPOCH_MASK;
            let live = s.meta & !EPOCH_MASK != 0 && age <= 1;
            if live {
                if s.tag == tag {
                    return (i, true, false);
                }
                // Among live entries, the one written longest ago goes.
                if !free && age >= victim_age {
                    victim = i;
                    victim_age = age;
                }
            } else if !free {
                // A free or expired slot beats any live one.
                victim = i;
                free = true;
            }
        }
    }
    (victim, false, !free)
}

/// The length of [`FlowTable::filed`] at which a table of `buckets` grows.
fn grow_at(buckets: usize, max_buckets: usize) -> usize {
    if buckets < max_buckets {
        (buckets * FLOW_WAYS / FILL_SHARE).max(1)
    } else {
        usize::MAX
    }
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

    /// The SYN of client `i` (its own address and port) with ISN `isn`.
    fn client(i: u32, isn: u32) -> TcpPacket {
        let mut p = syn(1024 + (i % 60_000) as u16, isn);
        p.src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | i));
        p
    }

    #[test]
    fn retransmitted_syn_and_syn_ack_are_recognised() {
        let mut t = FlowTable::new(100, 10_000_000_000);
        let s = syn(1000, 7);
        assert_eq!(
            t.observe(&obs(&s, 1)),
            SynSeen::New {
                syn_mss: None,
                follows_syn: true
            }
        );
        assert_eq!(t.observe(&obs(&s, 2)), SynSeen::Retransmission);
        let mut sa = TcpPacket::syn_ack_for(&s);
        sa.flags = flags::SYN | flags::ACK;
        assert_eq!(
            t.observe(&obs(&sa, 3)),
            SynSeen::New {
                syn_mss: Some(1400),
                follows_syn: true
            }
        );
        assert_eq!(t.observe(&obs(&sa, 4)), SynSeen::Retransmission);
        // A SYN+ACK whose SYN the capture never saw.
        let mut lone = TcpPacket::syn_ack_for(&syn(2000, 9));
        lone.flags = flags::SYN | flags::ACK;
        assert_eq!(
            t.observe(&obs(&lone, 5)),
            SynSeen::New {
                syn_mss: None,
                follows_syn: false
            }
        );
        // A new ISN on the same 4-tuple is a new connection.
        assert_eq!(
            t.observe(&obs(&syn(1000, 8), 5)),
            SynSeen::New {
                syn_mss: None,
                follows_syn: true
            }
        );
    }

    #[test]
    fn memory_stays_bounded_under_a_flood() {
        let mut t = FlowTable::new(1000, u64::MAX);
        for i in 0..100_000u32 {
            t.observe(&obs(&client(i, i), u64::from(i)));
            assert!(t.len() <= 1000);
        }
        assert!(t.evictions() >= 99_000);
    }

    #[test]
    fn entries_live_between_one_and_two_ttls_and_retransmissions_refresh_them() {
        let ttl = 1_000_000;
        let mut t = FlowTable::new(1000, ttl);
        let s = syn(7, 7);
        assert_eq!(
            t.observe(&obs(&s, 1)),
            SynSeen::New {
                syn_mss: None,
                follows_syn: true
            }
        );
        // Within the TTL.
        assert_eq!(t.observe(&obs(&s, ttl * 9 / 10)), SynSeen::Retransmission);
        // The retransmission refreshed it: still known one TTL after the
        // first packet.
        assert_eq!(t.observe(&obs(&s, ttl * 3 / 2)), SynSeen::Retransmission);
        assert_eq!(t.len(), 1);
        // Three TTLs of silence: forgotten.
        assert_eq!(
            t.observe(&obs(&s, ttl * 4)),
            SynSeen::New {
                syn_mss: None,
                follows_syn: true
            }
        );
    }

    #[test]
    fn a_full_bucket_evicts_and_counts() {
        // One bucket: the ninth handshake evicts one of the first eight.
        let mut t = FlowTable::new(8, u64::MAX);
        for port in 1..=9 {
            t.observe(&obs(&syn(port, 1), u64::from(port)));
        }
        assert_eq!(t.len(), 8);
        assert_eq!(t.evictions(), 1);
    }

    /// A tenth of the default table's room: a bucket overflows in about
    /// one run of a hundred (the hash seed is random), so nearly every
    /// retransmission is known as one; four-way buckets evicted 18-106.
    #[test]
    fn a_tenth_full_table_keeps_nearly_every_handshake() {
        let mut t = FlowTable::new(1 << 20, u64::MAX);
        let syns: Vec<Observation> = (0..100_000u32).map(|i| obs(&client(i, i), 1)).collect();
        for o in &syns {
            assert!(matches!(t.observe(o), SynSeen::New { .. }));
        }
        let forgotten = syns
            .iter()
            .filter(|o| t.observe(o) != SynSeen::Retransmission)
            .count();
        assert!(forgotten <= 6, "{forgotten} retransmissions taken for new");
        assert!(t.evictions() <= 6, "{} evictions", t.evictions());
    }

    /// However the epochs fall, a handshake is known for a whole TTL after
    /// its last packet, with nothing in between (a quiet capture: one other
    /// SYN, then the client's, then its retransmission one TTL later).
    #[test]
    fn an_entry_lives_at_least_one_ttl_wherever_it_falls_in_its_epoch() {
        let ttl = 120_000;
        for offset in [
            0, 1, 13_000, 59_999, 60_000, 100_000, 119_999, 120_000, 130_000,
        ] {
            let mut t = FlowTable::new(1000, ttl);
            t.observe(&obs(&syn(1, 1), 1));
            let s = syn(2, 2);
            t.observe(&obs(&s, 1 + offset));
            assert_eq!(
                t.observe(&obs(&s, 1 + offset + ttl)),
                SynSeen::Retransmission,
                "written {offset} after the epoch began"
            );
        }
    }

    /// Two TTLs after its last packet a handshake is forgotten, whenever
    /// the packets in between cross the epochs' boundaries.
    #[test]
    fn an_entry_lives_at_most_two_ttls() {
        let ttl = 120_000;
        for between in [ttl, ttl + 1, 2 * ttl - 1, 2 * ttl] {
            let mut t = FlowTable::new(1000, ttl);
            let s = syn(2, 2);
            t.observe(&obs(&s, 0));
            t.observe(&obs(&syn(1, 1), between));
            assert_eq!(
                t.observe(&obs(&s, 2 * ttl + 1)),
                SynSeen::New {
                    syn_mss: None,
                    follows_syn: true
                },
                "another packet at {between}"
            );
        }
    }

    /// Handshakes filed while the table was small are still known after it
    /// grew, twice and more: their retransmissions are retransmissions and
    /// their SYN+ACKs get their SYN's MSS. Expired ones stay forgotten.
    #[test]
    fn growing_keeps_every_live_handshake() {
        let ttl = 1_000_000;
        let mut t = FlowTable::new(1 << 20, ttl);
        let start = t.table.buckets();
        // Filed at time 0, expired by the time the table first grows.
        let stale = syn(7, 7);
        t.observe(&obs(&stale, 0));
        let n = 20_000u32;
        for i in 0..n {
            assert!(matches!(
                t.observe(&obs(&client(i, i), 3 * ttl)),
                SynSeen::New { .. }
            ));
            if i == 100 {
                assert_eq!(t.table.buckets(), start, "grew before it had to");
            }
        }
        // 20,000 handshakes at a sixteenth full: 320,000 slots at least,
        // reached in two steps or more.
        assert!(t.table.buckets() * FLOW_WAYS >= 16 * n as usize);
        assert!(t.table.buckets() >= start * GROWTH * GROWTH);
        assert_eq!(t.evictions(), 0);
        for i in 0..n {
            let c = client(i, i);
            assert_eq!(t.observe(&obs(&c, 3 * ttl)), SynSeen::Retransmission);
            let mut sa = TcpPacket::syn_ack_for(&c);
            sa.flags = flags::SYN | flags::ACK;
            assert_eq!(
                t.observe(&obs(&sa, 3 * ttl)),
                SynSeen::New {
                    syn_mss: Some(1400),
                    follows_syn: true
                },
                "handshake {i}"
            );
        }
        assert_eq!(t.len(), n as usize);
        assert_eq!(
            t.observe(&obs(&stale, 3 * ttl)),
            SynSeen::New {
                syn_mss: None,
                follows_syn: true
            }
        );
    }

    proptest::proptest! {
        /// Whatever the traffic (new handshakes, retransmissions, new ISNs
        /// on a known 4-tuple, SYN+ACKs with and without their SYN, p0f
        /// dropping a connection, time passing by less and more than a
        /// TTL), a table that grows from one bucket answers every packet
        /// as one full-sized from the start does.
        #[test]
        fn a_growing_table_answers_as_a_full_sized_one(
            ops in proptest::collection::vec((0u8..4, 0u32..300, 0u32..3, 0u8..8), 1..1500)
        ) {
            let ttl = 1_000_000u64;
            let capacity = 1 << 12;
            let mut growing = FlowTable::starting_at(FLOW_WAYS, capacity, ttl);
            let mut full = FlowTable::starting_at(capacity, capacity, ttl);
            growing.reseed(7);
            full.reseed(7);
            let mut now = 0u64;
            for (what, flow, isn, step) in ops {
                now += match step {
                    0..=4 => 0,
                    5 => 1,
                    6 => ttl / 3,
                    _ => 2 * ttl + 1,
                };
                let s = client(flow, isn);
                let packet = match what {
                    0 | 1 => s,
                    2 => {
                        let mut sa = TcpPacket::syn_ack_for(&s);
                        sa.flags = flags::SYN | flags::ACK;
                        sa.seq = isn;
                        sa
                    }
                    _ => {
                        let o = obs(&s, now);
                        growing.stop_following(growing.key_of(&o));
                        full.stop_following(full.key_of(&o));
                        continue;
                    }
                };
                let o = obs(&packet, now);
                proptest::prop_assert_eq!(growing.observe(&o), full.observe(&o));
            }
            proptest::prop_assert_eq!(growing.len(), full.len());
            proptest::prop_assert_eq!(growing.evictions(), full.evictions());
        }
    }

    /// A full-sized table lists no keys: memory stays at its capacity.
    #[test]
    fn a_full_sized_table_stops_listing_keys() {
        let mut t = FlowTable::new(1 << 15, u64::MAX);
        for i in 0..10_000u32 {
            t.observe(&obs(&client(i, i), 1));
        }
        assert_eq!(t.table.buckets() * FLOW_WAYS, 1 << 15);
        assert_eq!((t.filed.capacity(), t.grow_at), (0, usize::MAX));
    }

    #[test]
    fn entries_expire_by_packet_time() {
        let mut t = FlowTable::new(1000, 1_000);
        let s = syn(1, 1);
        t.observe(&obs(&s, 0));
        // Long after the TTL the same SYN counts as new again.
        assert_eq!(
            t.observe(&obs(&s, 10_000)),
            SynSeen::New {
                syn_mss: None,
                follows_syn: true
            }
        );
    }
}

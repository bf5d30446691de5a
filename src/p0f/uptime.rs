//! Uptime from TCP timestamps, as p0f 3.09b's `check_ts_tcp` computes it on
//! SYNs and SYN+ACKs: the host's own timestamp (TSval) against the one in
//! its previous SYN (or SYN+ACK), over the capture time between the two.
//!
//! p0f also estimates from a connection's later ACK/FIN/RST segments, against
//! the same per-host timestamps: that is `analyze`'s connection following,
//! which reads this tracker through [`UptimeTracker::last`].

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;

use foldhash::fast::{FixedState, RandomState};

use serde::Serialize;

use super::signature::{SENDSYN_MSS, SENDSYN_WIN};
use crate::packet::{Kind, Observation, Timestamp};
use crate::sink::{format_with, TextSink};
use crate::table::BucketTable;

/// p0f's MIN_TWAIT / MAX_TWAIT (ms): the previous packet must be 25 ms to
/// 10 minutes older.
const MIN_TWAIT_MS: u64 = 25;
const MAX_TWAIT_MS: u64 = 10 * 60 * 1000;
/// p0f's TSTAMP_GRACE (ms) and MIN/MAX_TSCALE (Hz).
const TSTAMP_GRACE_MS: u64 = 100;
const MIN_TSCALE: f64 = 0.7;
const MAX_TSCALE: u32 = 1500;

/// A host's uptime as p0f estimates it.
///
/// JSON fields: `uptime_min` (minutes since the timestamp clock was zero,
/// modulo its wraparound), `days`/`hours`/`minutes` (the same split as p0f
/// prints it), `modulo_days` (the clock wraps every that many days at this
/// frequency), `freq_hz` (the clock frequency, rounded as p0f rounds it) and
/// `raw_freq_hz` (the measured frequency before rounding; p0f's `raw_freq`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Uptime {
    pub uptime_min: u32,
    pub days: u32,
    pub hours: u32,
    pub minutes: u32,
    pub modulo_days: u32,
    pub freq_hz: u32,
    pub raw_freq_hz: f64,
}

impl Uptime {
    /// p0f's `uptime=` text: `3 days 4 hrs 5 min (modulo 49 days)`.
    pub fn write_to(&self, out: &mut impl TextSink) {
        out.number(self.days.into());
        out.text(" days ");
        out.number(self.hours.into());
        out.text(" hrs ");
        out.number(self.minutes.into());
        out.text(" min (modulo ");
        out.number(self.modulo_days.into());
        out.text(" days)");
    }
}

impl fmt::Display for Uptime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_with(f, |out| self.write_to(out))
    }
}

impl Uptime {
    /// Appends the object serde gives (field names above) without serde.
    pub fn write_json(&self, j: &mut crate::json::JsonBuf) {
        j.begin_object();
        for (k, v) in [
            ("uptime_min", self.uptime_min),
            ("days", self.days),
            ("hours", self.hours),
            ("minutes", self.minutes),
            ("modulo_days", self.modulo_days),
            ("freq_hz", self.freq_hz),
        ] {
            j.key(k);
            j.u64(v.into());
        }
        j.key("raw_freq_hz");
        j.f64(self.raw_freq_hz);
        j.end_object();
    }

    /// From one timestamp pair: `None` wherever p0f reports nothing.
    pub fn estimate(prev_ts1: u32, prev_ms: u64, ts1: u32, now_ms: u64) -> Option<Uptime> {
        Self::measure(prev_ts1, prev_ms, ts1, now_ms).ok()
    }

    /// [`Uptime::estimate`], telling a clock rate out of p0f's range (which
    /// makes p0f give up on the rest of a connection) from a pair that
    /// measures nothing.
    pub fn measure(
        prev_ts1: u32,
        prev_ms: u64,
        ts1: u32,
        now_ms: u64,
    ) -> Result<Uptime, NoEstimate> {
        if ts1 == 0 || prev_ts1 == 0 {
            return Err(NoEstimate::Unpaired);
        }
        // Out-of-order packets wrap to a huge interval, as in p0f.
        let ms_diff = now_ms.wrapping_sub(prev_ms);
        if !(MIN_TWAIT_MS..=MAX_TWAIT_MS).contains(&ms_diff) {
            return Err(NoEstimate::Unpaired);
        }
        let ts_diff = ts1.wrapping_sub(prev_ts1);
        // A clock that went back a little within the grace window is
        // reordering, not a measurement.
        if ts_diff < 5
            || (ms_diff < TSTAMP_GRACE_MS
                && u64::from(!ts_diff / 1000) < u64::from(MAX_TSCALE) / TSTAMP_GRACE_MS)
        {
            return Err(NoEstimate::Unpaired);
        }
        let raw = if ts_diff > !ts_diff {
            f64::from(!ts_diff) * -1000.0 / ms_diff as f64
        } else {
            f64::from(ts_diff) * 1000.0 / ms_diff as f64
        };
        if !(MIN_TSCALE..=f64::from(MAX_TSCALE)).contains(&raw) {
            return Err(NoEstimate::BadRate);
        }
        let freq = match raw as u32 {
            0 => 1,
            f @ 1..=10 => f,
            f @ 11..=50 => (f + 3) / 5 * 5,
            f @ 51..=100 => (f + 7) / 10 * 10,
            f @ 101..=500 => (f + 33) / 50 * 50,
            f => (f + 67) / 100 * 100,
        };
        let uptime_min = ts1 / freq / 60;
        Ok(Uptime {
            uptime_min,
            days: uptime_min / 60 / 24,
            hours: (uptime_min / 60) % 24,
            minutes: uptime_min % 60,
            modulo_days: u32::MAX / (freq * 60 * 60 * 24),
            freq_hz: freq,
            raw_freq_hz: raw,
        })
    }
}

/// Why a timestamp pair gave no [`Uptime`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoEstimate {
    /// No usable pair: a timestamp missing, too little or too much time
    /// between the two, too few ticks, or a small step back.
    Unpaired,
    /// The pair implies a clock rate p0f does not believe (below 0.7 Hz or
    /// above 1500 Hz).
    BadRate,
}

/// A host and packet kind reduced to a 64-bit keyed hash: the seed is random
/// per tracker, or set from data no sender can predict
/// ([`UptimeTracker::reseed`]), so collisions cannot be aimed. The low bits
/// pick the bucket and the high 32 (lowest bit forced on) are kept as the
/// tag; an accidental collision of two live hosts (about n²/2⁴⁷ for n hosts
/// at the default size) would pair their timestamps, which the frequency
/// checks almost always reject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostKey(u64);

impl HostKey {
    fn tag(self) -> u32 {
        (self.0 >> 32) as u32 | 1
    }
}

/// A host's last timestamp and its capture time; tag 0 is an empty slot.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    tag: u32,
    ts1: u32,
    ms: u64,
}

/// The per-host memory uptime needs: the timestamp and capture time of each
/// address's last SYN and last SYN+ACK (kept apart, as p0f keeps them).
///
/// Bounded and flat: a bucket table (`table::BucketTable`) fixed at creation, so a lookup reads
/// one line and can be prefetched ([`UptimeTracker::prefetch`]). An entry older than p0f's MAX_TWAIT (ten
/// minutes of capture time) can never pair again and counts as free; a new
/// host in a bucket without room replaces the one seen longest ago, counted
/// in [`UptimeTracker::evictions`].
pub struct UptimeTracker {
    seed: FixedState,
    table: BucketTable<Slot>,
    /// Capture time of the latest packet, for [`UptimeTracker::len`].
    latest_ms: u64,
    evictions: u64,
}

impl std::fmt::Debug for UptimeTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UptimeTracker")
            .field("hosts", &self.len())
            .field("buckets", &self.table.buckets())
            .field("evictions", &self.evictions)
            .finish()
    }
}

impl UptimeTracker {
    /// Room for about `capacity` hosts (rounded down to a power of two times
    /// four, at least one bucket).
    pub fn new(capacity: usize) -> Self {
        UptimeTracker {
            seed: FixedState::with_seed(RandomState::default().hash_one(0u8)),
            table: BucketTable::new(capacity),
            latest_ms: 0,
            evictions: 0,
        }
    }

    /// Hashes keys with `seed` from now on. Only for a tracker nothing was
    /// filed in yet: hosts filed before would not be found again.
    pub fn reseed(&mut self, seed: u64) {
        self.seed = FixedState::with_seed(seed);
    }

    /// Hosts dropped for room while they could still have paired.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Hosts that could still pair with a later packet (a scan of the whole
    /// table: for tests and summaries).
    pub fn len(&self) -> usize {
        self.table
            .slots()
            .filter(|s| s.tag != 0 && !expired(s, self.latest_ms))
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key [`UptimeTracker::observe`] would use for `obs`, or `None` when
    /// it keeps nothing for it (p0f's own probes).
    pub fn key_of(&self, obs: &Observation) -> Option<HostKey> {
        let view = &obs.options.p0f;
        if obs.kind == Kind::Syn && obs.window == SENDSYN_WIN && view.mss == SENDSYN_MSS {
            return None;
        }
        Some(self.key(obs.src_ip, obs.kind))
    }

    /// Starts loading the line `key` lives in, ahead of its `observe`.
    pub fn prefetch(&self, key: HostKey) {
        self.table.prefetch(key.0);
    }

    /// Call once per fingerprinted SYN or SYN+ACK (not for retransmissions,
    /// nor for connections p0f stops following: see
    /// [`super::P0fMatch::ends_connection`]). Returns p0f's estimate when
    /// the same host's previous SYN (resp. SYN+ACK) allows one.
    pub fn observe(&mut self, obs: &Observation) -> Option<Uptime> {
        let key = self.key_of(obs)?;
        self.observe_keyed(key, obs.options.p0f.ts1(&obs.options), obs.ts)
            .ok()
    }

    /// The same from the sender's address, the packet kind, its TSval as p0f
    /// reads it (0 when absent) and the capture time.
    pub fn observe_ts(
        &mut self,
        ip: IpAddr,
        kind: Kind,
        ts1: u32,
        ts: Timestamp,
    ) -> Option<Uptime> {
        let key = self.key(ip, kind);
        self.observe_keyed(key, ts1, ts).ok()
    }

    /// The TSval and capture time (ms) of the last SYN (or SYN+ACK) this
    /// tracker holds for `ip`, without updating anything: what p0f compares
    /// a connection's later packets with.
    pub fn last(&self, ip: IpAddr, kind: Kind) -> Option<(u32, u64)> {
        let key = self.key(ip, kind);
        let tag = key.tag();
        let bucket = self.table.bucket(key.0)?;
        bucket
            .0
            .iter()
            .find(|s| s.tag == tag)
            .map(|s| (s.ts1, s.ms))
    }

    /// [`UptimeTracker::observe`] with the key from
    /// [`UptimeTracker::key_of`] and the TSval as p0f reads it, telling a
    /// rate p0f does not believe from no pair (a host seen first is one).
    pub fn observe_keyed(
        &mut self,
        key: HostKey,
        ts1: u32,
        ts: Timestamp,
    ) -> Result<Uptime, NoEstimate> {
        let now = ts.as_millis();
        self.latest_ms = self.latest_ms.max(now);
        let tag = key.tag();
        let bucket = self.table.bucket_mut(key.0).ok_or(NoEstimate::Unpaired)?;
        let seen = Slot { tag, ts1, ms: now };
        if let Some(s) = bucket.0.iter_mut().find(|s| s.tag == tag) {
            let prev = std::mem::replace(s, seen);
            return Uptime::measure(prev.ts1, prev.ms, ts1, now);
        }
        // A free or expired slot, else the host seen longest ago: one pass,
        // free slots ranking before any live one.
        let mut way = 0;
        let mut best = (true, u64::MAX);
        for (w, s) in bucket.0.iter().enumerate() {
            let rank = (s.tag != 0 && !expired(s, now), s.ms);
            if rank < best {
                best = rank;
                way = w;
            }
        }
        if best.0 {
            self.evictions += 1;
        }
        if let Some(s) = bucket.0.get_mut(way) {
            *s = seen;
        }
        Err(NoEstimate::Unpaired)
    }

    fn key(&self, ip: IpAddr, kind: Kind) -> HostKey {
        let mut h = self.seed.build_hasher();
        let kind = kind as u64 + 1;
        match ip {
            // One word for the common case: address, kind, and a version tag.
            IpAddr::V4(a) => h.write_u64(u64::from(u32::from(a)) | kind << 32),
            IpAddr::V6(a) => {
                h.write_u128(u128::from(a));
                h.write_u64(kind << 34);
            }
        }
        HostKey(h.finish())
    }
}

/// Too old to pair with a packet at `now` (out-of-order entries from the
/// future count as too old too, as p0f's wrapping interval makes them).
fn expired(s: &Slot, now: u64) -> bool {
    now.wrapping_sub(s.ms) > MAX_TWAIT_MS
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    const MS: u64 = 1_000_000;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    #[test]
    fn estimates_like_p0f() {
        // 1000 Hz over one second, clock at ~1 day 10 hours.
        let u = Uptime::estimate(123_456_789, 5_000, 123_457_789, 6_000).expect("estimate");
        assert_eq!(u.freq_hz, 1000);
        assert_eq!(u.raw_freq_hz, 1000.0);
        assert_eq!(u.uptime_min, 123_457_789 / 1000 / 60);
        assert_eq!(u.to_string(), "1 days 10 hrs 17 min (modulo 49 days)");
        let mut j = crate::json::JsonBuf::new();
        u.write_json(&mut j);
        let fast: serde_json::Value = serde_json::from_slice(j.as_bytes()).expect("valid JSON");
        assert_eq!(fast, serde_json::to_value(u).expect("json"));
        // Rounding bands.
        for (ticks, ms, hz) in [
            (3, 1000, 0),
            (7, 1000, 7),
            (23, 1000, 25),
            (96, 1000, 100),
            (260, 1000, 250),
            (1234, 1000, 1300),
        ] {
            let got = Uptime::estimate(1000, 0, 1000 + ticks, ms).map(|u| u.freq_hz);
            let want = (hz > 0).then_some(hz);
            assert_eq!(got, want, "{ticks} ticks in {ms} ms");
        }
        // Under 0.7 Hz: too slow; p0f's case 0 (0.7..1 Hz) rounds to 1.
        assert_eq!(
            Uptime::estimate(1000, 0, 1008, 10_000).map(|u| u.freq_hz),
            Some(1)
        );
        assert_eq!(Uptime::estimate(1000, 0, 1006, 10_000), None);
    }

    #[test]
    fn refuses_what_p0f_refuses() {
        // No timestamps on either side.
        assert_eq!(Uptime::estimate(0, 0, 5000, 1000), None);
        assert_eq!(Uptime::estimate(5000, 0, 0, 1000), None);
        // Too soon (< 25 ms), too late (> 10 min), out of order.
        assert_eq!(Uptime::estimate(1000, 0, 1024, 24), None);
        assert!(Uptime::estimate(1000, 0, 1025, 25).is_some());
        assert!(Uptime::estimate(1000, 0, 1000 + 600_000, 600_000).is_some());
        assert_eq!(Uptime::estimate(1000, 0, 1000 + 600_001, 600_001), None);
        assert_eq!(Uptime::estimate(1000, 5000, 2000, 4000), None);
        // Fewer than 5 ticks; a clock going backwards; too fast.
        assert_eq!(Uptime::estimate(1000, 0, 1004, 1000), None);
        assert_eq!(Uptime::estimate(1000, 0, 900, 1000), None);
        assert_eq!(Uptime::estimate(1000, 0, 1000 + 1_501, 1000), None);
    }

    #[test]
    fn clock_wraparound_counts_forward() {
        let u = Uptime::estimate(u32::MAX - 499, 0, 500, 1000).expect("wraps");
        assert_eq!(u.freq_hz, 1000);
        assert_eq!(u.uptime_min, 0);
    }

    #[test]
    fn tracker_pairs_each_host_and_kind_with_its_previous_packet() {
        let mut t = UptimeTracker::new(16);
        let at = |ms: u64| Timestamp(ms * MS);
        assert_eq!(t.observe_ts(ip(1), Kind::Syn, 100_000, at(0)), None);
        // Another host and the same host's SYN+ACKs do not pair with it.
        assert_eq!(t.observe_ts(ip(2), Kind::Syn, 200_000, at(500)), None);
        assert_eq!(t.observe_ts(ip(1), Kind::SynAck, 300_000, at(700)), None);
        let u = t
            .observe_ts(ip(1), Kind::Syn, 101_000, at(1000))
            .expect("pair");
        assert_eq!(u.freq_hz, 1000);
        // Each packet replaces the previous one, including one without
        // timestamps, which then prevents the next estimate.
        assert_eq!(t.observe_ts(ip(1), Kind::Syn, 0, at(2000)), None);
        assert_eq!(t.observe_ts(ip(1), Kind::Syn, 103_000, at(3000)), None);
        assert!(t.observe_ts(ip(1), Kind::Syn, 104_000, at(4000)).is_some());
        assert_eq!(t.len(), 3);
        assert_eq!(t.evictions(), 0);
    }

    #[test]
    fn tracker_is_bounded_and_counts_evictions() {
        let mut t = UptimeTracker::new(4);
        for n in 0..10u8 {
            t.observe_ts(ip(n), Kind::Syn, 1000, Timestamp(u64::from(n) * MS));
            assert!(t.len() <= 4, "{}", t.len());
        }
        // Every host beyond the capacity was dropped while still young.
        assert_eq!(t.evictions() + t.len() as u64, 10);
        // The most recent hosts survive, the first ones are gone.
        assert!(t
            .observe_ts(ip(9), Kind::Syn, 2000, Timestamp(1000 * MS))
            .is_some());
        assert!(t
            .observe_ts(ip(0), Kind::Syn, 2000, Timestamp(1000 * MS))
            .is_none());
        // A refreshed host outlives one seen earlier than its refresh.
        let mut t = UptimeTracker::new(4);
        t.observe_ts(ip(1), Kind::Syn, 1000, Timestamp(0));
        t.observe_ts(ip(2), Kind::Syn, 1000, Timestamp(MS));
        t.observe_ts(ip(3), Kind::Syn, 1000, Timestamp(2 * MS));
        t.observe_ts(ip(4), Kind::Syn, 1000, Timestamp(3 * MS));
        t.observe_ts(ip(1), Kind::Syn, 1000, Timestamp(4 * MS));
        t.observe_ts(ip(5), Kind::Syn, 1000, Timestamp(5 * MS));
        assert_eq!(t.evictions(), 1);
        assert!(t
            .observe_ts(ip(1), Kind::Syn, 2000, Timestamp(1000 * MS))
            .is_some());
        assert!(t
            .observe_ts(ip(2), Kind::Syn, 2000, Timestamp(1000 * MS))
            .is_none());
    }

    #[test]
    fn entries_expire_after_ten_minutes_of_capture_time() {
        let mut t = UptimeTracker::new(100);
        t.observe_ts(ip(1), Kind::Syn, 1000, Timestamp(0));
        t.observe_ts(ip(2), Kind::Syn, 1000, Timestamp(0));
        t.observe_ts(ip(3), Kind::Syn, 1000, Timestamp(601_000 * MS));
        t.observe_ts(ip(4), Kind::Syn, 1000, Timestamp(1_100_000 * MS));
        // Hosts 1 and 2 expired unseen; 3 and 4 remain; nobody was evicted.
        assert_eq!(t.len(), 2);
        assert_eq!(t.evictions(), 0);
        // Expired entries make room without an eviction: a one-bucket
        // tracker takes four new hosts ten minutes later.
        let mut t = UptimeTracker::new(4);
        for n in 0..4u8 {
            t.observe_ts(ip(n), Kind::Syn, 1000, Timestamp(0));
        }
        for n in 4..8u8 {
            t.observe_ts(ip(n), Kind::Syn, 1000, Timestamp(600_001 * MS));
        }
        assert_eq!((t.len(), t.evictions()), (4, 0));
    }
}

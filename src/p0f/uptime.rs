//! Uptime from TCP timestamps, as p0f 3.09b's `check_ts_tcp` computes it on
//! SYNs and SYN+ACKs: the host's own timestamp (TSval) against the one in
//! its previous SYN (or SYN+ACK), over the capture time between the two.
//!
//! p0f also re-estimates on later ACK/FIN/RST packets of a connection;
//! synprint only fingerprints SYNs and SYN+ACKs, so it reports the estimate
//! p0f makes on those.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use super::signature::{SENDSYN_MSS, SENDSYN_WIN};
use crate::packet::{Kind, Observation, Timestamp};

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

impl fmt::Display for Uptime {
    /// p0f's `uptime=` text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} days {} hrs {} min (modulo {} days)",
            self.days, self.hours, self.minutes, self.modulo_days
        )
    }
}

impl Uptime {
    /// From one timestamp pair: `None` wherever p0f reports nothing.
    pub fn estimate(prev_ts1: u32, prev_ms: u64, ts1: u32, now_ms: u64) -> Option<Uptime> {
        if ts1 == 0 || prev_ts1 == 0 {
            return None;
        }
        // Out-of-order packets wrap to a huge interval, as in p0f.
        let ms_diff = now_ms.wrapping_sub(prev_ms);
        if !(MIN_TWAIT_MS..=MAX_TWAIT_MS).contains(&ms_diff) {
            return None;
        }
        let ts_diff = ts1.wrapping_sub(prev_ts1);
        // A clock that went back a little within the grace window is
        // reordering, not a measurement.
        if ts_diff < 5
            || (ms_diff < TSTAMP_GRACE_MS
                && u64::from(!ts_diff / 1000) < u64::from(MAX_TSCALE) / TSTAMP_GRACE_MS)
        {
            return None;
        }
        let raw = if ts_diff > !ts_diff {
            f64::from(!ts_diff) * -1000.0 / ms_diff as f64
        } else {
            f64::from(ts_diff) * 1000.0 / ms_diff as f64
        };
        if !(MIN_TSCALE..=f64::from(MAX_TSCALE)).contains(&raw) {
            return None;
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
        Some(Uptime {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct HostKey {
    ip: IpAddr,
    kind: Kind,
}

#[derive(Clone, Copy, Debug)]
struct LastSeen {
    ts1: u32,
    ms: u64,
    generation: u64,
}

/// The per-host memory uptime needs: the timestamp and capture time of each
/// address's last SYN and last SYN+ACK (kept apart, as p0f keeps them).
///
/// Bounded: at most `capacity` hosts; when full the least recently updated
/// one is evicted (counted in [`UptimeTracker::evictions`]). Entries older
/// than 10 minutes of capture time can never produce an estimate (p0f's
/// MAX_TWAIT) and are dropped as time advances.
#[derive(Debug)]
pub struct UptimeTracker {
    capacity: usize,
    hosts: HashMap<HostKey, LastSeen>,
    /// Update order; stale entries (older generation than the map's) are
    /// skipped lazily and compacted away when they pile up.
    order: VecDeque<(HostKey, u64)>,
    next_generation: u64,
    evictions: u64,
}

impl UptimeTracker {
    pub fn new(capacity: usize) -> Self {
        UptimeTracker {
            capacity: capacity.max(1),
            hosts: HashMap::new(),
            order: VecDeque::new(),
            next_generation: 0,
            evictions: 0,
        }
    }

    /// Hosts evicted because the tracker was full.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Call once per fingerprinted SYN or SYN+ACK (not for retransmissions,
    /// nor for connections p0f stops following: see
    /// [`super::P0fMatch::ends_connection`]). Returns p0f's estimate when
    /// the same host's previous SYN (resp. SYN+ACK) allows one.
    pub fn observe(&mut self, obs: &Observation) -> Option<Uptime> {
        let view = &obs.options.p0f;
        if obs.kind == Kind::Syn && obs.window == SENDSYN_WIN && view.mss == SENDSYN_MSS {
            return None;
        }
        self.observe_ts(obs.src_ip, obs.kind, view.ts1(&obs.options), obs.ts)
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
        let now = ts.as_millis();
        self.expire(now);
        let key = HostKey { ip, kind };
        let estimate = self
            .hosts
            .get(&key)
            .and_then(|p| Uptime::estimate(p.ts1, p.ms, ts1, now));
        let generation = self.next_generation;
        self.next_generation += 1;
        let fresh = self
            .hosts
            .insert(
                key,
                LastSeen {
                    ts1,
                    ms: now,
                    generation,
                },
            )
            .is_none();
        self.order.push_back((key, generation));
        if fresh && self.hosts.len() > self.capacity {
            self.evict_oldest();
        }
        if self.order.len() > 2 * self.hosts.len() + 64 {
            let hosts = &self.hosts;
            self.order
                .retain(|(k, g)| hosts.get(k).is_some_and(|e| e.generation == *g));
        }
        estimate
    }

    fn evict_oldest(&mut self) {
        while let Some((k, g)) = self.order.pop_front() {
            if self.hosts.get(&k).is_some_and(|e| e.generation == g) {
                self.hosts.remove(&k);
                self.evictions += 1;
                return;
            }
        }
    }

    fn expire(&mut self, now: u64) {
        while let Some(&(k, g)) = self.order.front() {
            match self.hosts.get(&k) {
                Some(e) if e.generation == g => {
                    if e.ms.saturating_add(MAX_TWAIT_MS) >= now {
                        return;
                    }
                    self.hosts.remove(&k);
                }
                _ => {}
            }
            self.order.pop_front();
        }
    }
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
    }

    #[test]
    fn tracker_is_bounded_and_counts_evictions() {
        let mut t = UptimeTracker::new(3);
        for n in 0..10u8 {
            t.observe_ts(ip(n), Kind::Syn, 1000, Timestamp(u64::from(n) * MS));
        }
        assert_eq!(t.len(), 3);
        assert_eq!(t.evictions(), 7);
        // The survivors are the three most recent hosts.
        assert!(t
            .observe_ts(ip(9), Kind::Syn, 2000, Timestamp(1000 * MS))
            .is_some());
        assert!(t
            .observe_ts(ip(0), Kind::Syn, 2000, Timestamp(1000 * MS))
            .is_none());
        // Refreshing a host moves it to the back of the eviction order.
        let mut t = UptimeTracker::new(2);
        t.observe_ts(ip(1), Kind::Syn, 1000, Timestamp(0));
        t.observe_ts(ip(2), Kind::Syn, 1000, Timestamp(MS));
        t.observe_ts(ip(1), Kind::Syn, 1000, Timestamp(2 * MS));
        t.observe_ts(ip(3), Kind::Syn, 1000, Timestamp(3 * MS));
        assert_eq!(t.evictions(), 1);
        assert!(t
            .observe_ts(ip(1), Kind::Syn, 2000, Timestamp(1000 * MS))
            .is_some());
        // Stale bookkeeping stays bounded under churn on a few hosts.
        for i in 0..10_000u64 {
            t.observe_ts(ip((i % 2) as u8), Kind::Syn, 1000, Timestamp(i * MS));
        }
        assert!(t.order.len() <= 2 * t.hosts.len() + 65);
    }

    #[test]
    fn entries_expire_after_ten_minutes_of_capture_time() {
        let mut t = UptimeTracker::new(100);
        t.observe_ts(ip(1), Kind::Syn, 1000, Timestamp(0));
        t.observe_ts(ip(2), Kind::Syn, 1000, Timestamp(0));
        t.observe_ts(ip(3), Kind::Syn, 1000, Timestamp(601_000 * MS));
        assert_eq!(t.len(), 1);
        assert_eq!(t.evictions(), 0);
    }
}

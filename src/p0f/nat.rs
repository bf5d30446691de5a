//! p0f's host tracking: the `host change` and `ip sharing` observations.
//!
//! p0f keeps, per address, the last SYN and SYN+ACK signature it saw and
//! the OS it last named, and scores each new signature against them: a
//! different OS, changed quirks or option layout, a TTL or MSS that moved,
//! a source port that went back, a timestamp clock that does not follow.
//! Thirty-two scores per address and role are kept; a high score alone
//! reports a `host change`, many of them an `ip sharing` (NAT). The rules,
//! thresholds and the order of the reasons are p0f 3.09b's, so that its
//! log lines can be written as p0f writes them.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;

use super::db::Sys;
use super::{Layout, P0fMatch, Quirks};
use crate::packet::Timestamp;

/// Scores kept per address and role (p0f's `NAT_SCORES`).
const SCORES: usize = 32;
/// p0f's `NEAR_TTL_LIMIT`, `LOCAL_TTL_LIMIT` and `SMALL_TTL_CHG`: a TTL
/// change of one is ignored past 9 hops, and one of at most two weighs
/// little past 5.
const NEAR_TTL_LIMIT: u8 = 9;
const LOCAL_TTL_LIMIT: u8 = 5;
const SMALL_TTL_CHG: i16 = 2;
/// p0f's `MIN_PORT_DROP`: connections opened together arrive out of order.
const MIN_PORT_DROP: u16 = 64;
/// p0f's `MAX_NAT_TS` and `TSTAMP_GRACE` (ms), `MAX_TSCALE` (Hz).
const MAX_NAT_TS_MS: u64 = 24 * 60 * 60 * 1000;
const TSTAMP_GRACE_MS: u64 = 100;
const MAX_TSCALE: u64 = 1500;
/// p0f's defaults: hosts idle for two hours are forgotten (when no
/// connection p0f follows involves them), and past 10,000 the least
/// recently seen one goes as each new one comes.
const HOST_IDLE_SECS: u32 = 120 * 60;
pub const MAX_HOSTS: usize = 10_000;

/// Why a score was given; p0f's `NAT_*` reasons, in the order it writes
/// them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reasons(u16);

impl Reasons {
    pub const APP_VS_OS: Reasons = Reasons(1);
    pub const OS_DIFF: Reasons = Reasons(1 << 1);
    pub const SIG_DIFF: Reasons = Reasons(1 << 2);
    pub const X_KNOWN: Reasons = Reasons(1 << 3);
    pub const TSTAMP: Reasons = Reasons(1 << 4);
    pub const TTL: Reasons = Reasons(1 << 5);
    pub const PORT: Reasons = Reasons(1 << 6);
    pub const MTU: Reasons = Reasons(1 << 7);
    pub const FUZZY: Reasons = Reasons(1 << 8);

    const NAMES: [(Reasons, &'static str); 9] = [
        (Reasons::APP_VS_OS, "app_vs_os"),
        (Reasons::OS_DIFF, "os_diff"),
        (Reasons::SIG_DIFF, "sig_diff"),
        (Reasons::X_KNOWN, "x_known"),
        (Reasons::TSTAMP, "tstamp"),
        (Reasons::TTL, "ttl"),
        (Reasons::PORT, "port"),
        (Reasons::MTU, "mtu"),
        (Reasons::FUZZY, "fuzzy"),
    ];

    pub fn contains(self, r: Reasons) -> bool {
        self.0 & r.0 == r.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn add(&mut self, r: Reasons) {
        self.0 |= r.0;
    }
}

/// p0f's `reason=` value: the names separated by spaces, `???` for none.
impl fmt::Display for Reasons {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("???");
        }
        let mut sep = "";
        for (r, name) in Reasons::NAMES {
            if self.contains(r) {
                write!(f, "{sep}{name}")?;
                sep = " ";
            }
        }
        Ok(())
    }
}

/// A `host change` or `ip sharing` observation about the host that sent
/// a SYN (the client) or a SYN+ACK (the server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostChange {
    /// `ip sharing`: many recent signatures disagreed (the scores since
    /// the last such report are cleared); otherwise `host change`.
    pub sharing: bool,
    /// For `ip sharing`, every reason since the last one.
    pub reasons: Reasons,
    /// p0f's `raw_hits`: how many of the kept scores exceed 5, 2, 1 and 0.
    pub raw_hits: [u8; 4],
}

impl HostChange {
    /// p0f's module name for the observation.
    pub fn module(&self) -> &'static str {
        if self.sharing {
            "ip sharing"
        } else {
            "host change"
        }
    }
}

/// One SYN or SYN+ACK p0f fingerprints, as host tracking reads it.
#[derive(Clone, Copy, Debug)]
pub struct Sighting<'a> {
    /// The host that sent it, and the one it was sent to.
    pub host: IpAddr,
    pub peer: IpAddr,
    /// A SYN (from the client) rather than a SYN+ACK.
    pub to_server: bool,
    /// The client's port (for a SYN+ACK too, as p0f keeps it).
    pub client_port: u16,
    /// Packet time.
    pub ts: Timestamp,
    pub p0f: &'a P0fMatch<'a>,
}

/// What p0f keeps of a signature to compare the next one with.
#[derive(Clone, Copy, Debug)]
struct Remembered {
    matched: Option<Matched>,
    fuzzy: bool,
    quirks: Quirks,
    layout: Layout,
    ttl: u8,
    mss: u16,
    ts1: u32,
    at_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Matched {
    label: u32,
    name: u32,
    line: Option<u32>,
    bad_ttl: bool,
}

impl Remembered {
    fn of(s: &Sighting<'_>) -> Remembered {
        let m = s.p0f;
        Remembered {
            matched: m.os.map(|l| Matched {
                label: l.id,
                name: l.name_id,
                line: m.line,
                bad_ttl: m.bad_ttl,
            }),
            fuzzy: m.fuzzy,
            quirks: m.raw_sig.quirks,
            layout: m.raw_sig.layout,
            ttl: m.raw_sig.ttl,
            mss: m.raw_sig.mss,
            ts1: m.raw_sig.ts1,
            at_ms: s.ts.0 / 1_000_000,
        }
    }
}

#[derive(Clone, Debug)]
struct Host {
    last_syn: Option<Remembered>,
    last_syn_ack: Option<Remembered>,
    /// Class and name of the OS last matched (p0f's `last_class_id`,
    /// `last_name_id`).
    last_os: Option<(u32, u32)>,
    last_port: u16,
    client_scores: [u8; SCORES],
    server_scores: [u8; SCORES],
    reasons: Reasons,
    /// Capture second p0f last saw the host open or receive a connection,
    /// and the touch that set it (its place in [`HostTracker::by_touch`]).
    seen: u32,
    touch: u64,
}

impl Host {
    fn new(seen: u32, touch: u64) -> Host {
        Host {
            last_syn: None,
            last_syn_ack: None,
            last_os: None,
            last_port: 0,
            client_scores: [0; SCORES],
            server_scores: [0; SCORES],
            reasons: Reasons::default(),
            seen,
            touch,
        }
    }
}

/// p0f's per-address state for host tracking, bounded as p0f bounds it.
#[derive(Debug)]
pub struct HostTracker {
    hosts: HashMap<IpAddr, Host>,
    /// Hosts in the order p0f keeps them, least recently touched first;
    /// an entry whose touch is not its host's is stale and skipped.
    by_touch: VecDeque<(IpAddr, u64)>,
    touches: u64,
    max_hosts: usize,
    /// Capture second of the last [`HostTracker::expire_idle`] sweep.
    swept: u32,
}

impl Default for HostTracker {
    fn default() -> Self {
        HostTracker::with_capacity(MAX_HOSTS)
    }
}

impl HostTracker {
    pub fn with_capacity(max_hosts: usize) -> HostTracker {
        HostTracker {
            hosts: HashMap::new(),
            by_touch: VecDeque::new(),
            touches: 0,
            max_hosts: max_hosts.max(1),
            swept: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Scores one fingerprinted SYN or SYN+ACK against what its sender sent
    /// before, as p0f does, and returns the observation p0f logs, if any.
    /// A p0f-sendsyn probe is not scored.
    pub fn observe(&mut self, s: &Sighting<'_>) -> Option<HostChange> {
        let secs = s.ts.p0f_secs();
        // A SYN opens a connection, a probe's too: p0f refreshes (or
        // creates) both hosts.
        if s.to_server {
            self.touch(s.peer, secs);
            self.touch(s.host, secs);
        }
        if s.p0f.raw_sig.is_sendsyn_probe() {
            return None;
        }
        let h = self.host(s.host, secs);
        if let Some(tool) = s.p0f.os.filter(|l| l.is_app()) {
            // A userland tool says nothing of the OS, but one that does not
            // run on the OS the host showed is of note.
            let (class, name) = h.last_os?;
            let fits = tool.sys.iter().any(|&sys| match sys {
                Sys::Class(c) => c == class,
                Sys::Name(n) => n == name,
            });
            return if fits {
                add_score(h, s.to_server, Reasons::default(), 0)
            } else {
                add_score(h, s.to_server, Reasons::APP_VS_OS, 4)
            };
        }
        let now = Remembered::of(s);
        let (reasons, score) = score(h, s, &now);
        let change = add_score(h, s.to_server, reasons, score);
        if let (Some(m), Some(label)) = (now.matched, s.p0f.os) {
            if let Some(class) = label.class_id {
                h.last_os = Some((class, m.name));
            }
        }
        h.last_port = s.client_port;
        if s.to_server {
            h.last_syn = Some(now);
        } else {
            h.last_syn_ack = Some(now);
        }
        change
    }

    /// The host's state, created (as p0f creates it: touched, and with
    /// the least recently touched host forgotten past the limit) if new.
    fn host(&mut self, addr: IpAddr, secs: u32) -> &mut Host {
        if !self.hosts.contains_key(&addr) {
            self.touch(addr, secs);
        }
        self.hosts.entry(addr).or_insert_with(|| Host::new(secs, 0))
    }

    /// p0f's `touch_host` (and `create_host`): the host becomes the most
    /// recently seen.
    fn touch(&mut self, addr: IpAddr, secs: u32) {
        if !self.hosts.contains_key(&addr) && self.hosts.len() > self.max_hosts {
            self.forget_oldest();
        }
        let touch = self.touches;
        self.touches += 1;
        let h = self
            .hosts
            .entry(addr)
            .or_insert_with(|| Host::new(secs, touch));
        (h.seen, h.touch) = (secs, touch);
        self.by_touch.push_back((addr, touch));
        // Stale entries are dropped as expiry meets them; those of hosts
        // touched again and again would pile up behind live ones.
        if self.by_touch.len() > 2 * self.hosts.len() + 64 {
            let hosts = &self.hosts;
            self.by_touch
                .retain(|(a, t)| hosts.get(a).is_some_and(|h| h.touch == *t));
        }
    }

    /// p0f's host expiry, which runs beside its connection expiry
    /// ([`crate::analyze::Follower`]'s rhythm): from the least recently
    /// touched host on, those idle past two hours at capture second `now`
    /// are forgotten unless a connection p0f still follows involves them,
    /// up to the first that is not idle (behind which an idle one, touched
    /// at an earlier capture time, stays: packets out of time order).
    pub fn expire(&mut self, now: u32, in_use: impl Fn(&IpAddr) -> bool) {
        let mut spared = Vec::new();
        while let Some(&(addr, touch)) = self.by_touch.front() {
            if let Some(h) = self.hosts.get(&addr).filter(|h| h.touch == touch) {
                if now.wrapping_sub(h.seen) <= HOST_IDLE_SECS {
                    break;
                }
                if in_use(&addr) {
                    spared.push((addr, touch));
                } else {
                    self.hosts.remove(&addr);
                }
            }
            self.by_touch.pop_front();
        }
        for entry in spared.into_iter().rev() {
            self.by_touch.push_front(entry);
        }
    }

    /// [`HostTracker::expire`] once a capture minute, for an analyzer that
    /// does not follow connections as p0f does (so none is in use).
    pub fn expire_idle(&mut self, ts: Timestamp) {
        let now = ts.p0f_secs();
        if now.wrapping_sub(self.swept) >= 60 {
            self.swept = now;
            self.expire(now, |_| false);
        }
    }

    /// Forgets the least recently touched host. (p0f spares one a
    /// connection involves, but first drops a tenth of its connections.)
    fn forget_oldest(&mut self) {
        while let Some((addr, touch)) = self.by_touch.pop_front() {
            if self.hosts.get(&addr).is_some_and(|h| h.touch == touch) {
                self.hosts.remove(&addr);
                return;
            }
        }
    }
}

/// p0f's `score_nat`: what differs between this signature and the sender's
/// previous one of the same kind, and the OS the host showed last.
fn score(h: &Host, s: &Sighting<'_>, now: &Remembered) -> (Reasons, u8) {
    let mut reasons = Reasons::default();
    let mut score: u8 = 0;
    let os_differs = |m: &Matched| matches!(h.last_os, Some((_, name)) if name != m.name);
    let prev = if s.to_server {
        h.last_syn
    } else {
        h.last_syn_ack
    };
    let Some(prev) = prev else {
        // Nothing of this kind before; the OS may still be on file from
        // the other kind.
        if now.matched.as_ref().is_some_and(os_differs) {
            reasons.add(Reasons::OS_DIFF);
            score += 8;
        }
        return (reasons, score);
    };
    let mut diff_already = false;
    match (now.matched, prev.matched) {
        (Some(m), Some(p)) => {
            if m.name != p.name {
                score += 8;
                reasons.add(Reasons::OS_DIFF);
                diff_already = true;
            } else if s.to_server {
                // SYN+ACK labels group less intuitively: only SYNs' count.
                if m.label != p.label {
                    score += 2;
                    reasons.add(Reasons::OS_DIFF);
                } else if m.line != p.line {
                    score += 1;
                    reasons.add(Reasons::OS_DIFF);
                } else if now.fuzzy != prev.fuzzy {
                    score += 1;
                    reasons.add(Reasons::FUZZY);
                }
            }
        }
        (m, p) => {
            // An unknown signature may be a userland tool's: weak scores.
            let loose = Quirks::ECN.0 | Quirks::DF.0 | Quirks::NZ_ID.0 | Quirks::ZERO_ID.0;
            if (now.quirks.0 ^ prev.quirks.0) & !loose != 0 {
                reasons.add(Reasons::SIG_DIFF);
                score += 2;
            } else if s.to_server && now.layout != prev.layout {
                reasons.add(Reasons::SIG_DIFF);
                score += 1;
            }
            if s.to_server && m.is_some() != p.is_some() {
                score += 1;
                reasons.add(Reasons::X_KNOWN);
            }
        }
    }
    if !diff_already && now.matched.as_ref().is_some_and(os_differs) {
        score += 8;
        reasons.add(Reasons::OS_DIFF);
        diff_already = true;
    }
    let ttl_diff = i16::from(now.ttl) - i16::from(prev.ttl);
    let random_ttl = |r: &Remembered| r.matched.is_some_and(|m| m.bad_ttl);
    let dist = s.p0f.dist;
    if !diff_already
        && ttl_diff != 0
        && !random_ttl(now)
        && !random_ttl(&prev)
        && (dist <= NEAR_TTL_LIMIT || ttl_diff > 1)
    {
        score += if dist > LOCAL_TTL_LIMIT && ttl_diff.abs() <= SMALL_TTL_CHG {
            1
        } else {
            4
        };
        reasons.add(Reasons::TTL);
    }
    if s.to_server
        && h.last_port != 0
        && s.client_port < h.last_port
        && h.last_port - s.client_port >= MIN_PORT_DROP
    {
        score += 1;
        reasons.add(Reasons::PORT);
    }
    if now.mss != prev.mss {
        score += 1;
        reasons.add(Reasons::MTU);
    }
    // Timestamps only adjust a score: some systems randomise them.
    if score != 0 && now.ts1 != 0 && prev.ts1 != 0 {
        let ms = now.at_ms.wrapping_sub(prev.at_ms);
        if ms < MAX_NAT_TS_MS {
            let max_ticks = ms.max(TSTAMP_GRACE_MS) * MAX_TSCALE / 1000;
            let ticks = now.ts1.wrapping_sub(prev.ts1);
            if u64::from(ticks) > max_ticks
                && (ms >= TSTAMP_GRACE_MS || u64::from(!ticks) > max_ticks)
            {
                score += 4;
                reasons.add(Reasons::TSTAMP);
            } else {
                score /= 2;
            }
        }
    }
    (reasons, score)
}

/// p0f's `add_nat_score`: keeps the score and decides whether it, with the
/// others kept, makes an observation.
fn add_score(h: &mut Host, to_server: bool, reasons: Reasons, score: u8) -> Option<HostChange> {
    let scores = if to_server {
        &mut h.client_scores
    } else {
        &mut h.server_scores
    };
    scores.rotate_left(1);
    scores[SCORES - 1] = score;
    h.reasons.add(reasons);
    if score == 0 {
        return None;
    }
    let mut hits = [0u8; 4];
    for &s in scores.iter() {
        let above = [s > 5, s > 2, s > 1, s > 0];
        for (n, a) in hits.iter_mut().zip(above) {
            *n += u8::from(a);
        }
    }
    let [over5, over2, over1, over0] = hits;
    if over5 > 2 || over2 > 4 || over1 > 6 || over0 > 8 {
        let all = h.reasons;
        scores.fill(0);
        h.reasons = Reasons::default();
        Some(HostChange {
            sharing: true,
            reasons: all,
            raw_hits: hits,
        })
    } else if score == 1 {
        // Wait for something more substantial.
        None
    } else {
        Some(HostChange {
            sharing: false,
            reasons,
            raw_hits: hits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_written_in_p0fs_order() {
        let mut r = Reasons::default();
        assert_eq!(r.to_string(), "???");
        for x in [Reasons::MTU, Reasons::TTL, Reasons::OS_DIFF] {
            r.add(x);
        }
        assert_eq!(r.to_string(), "os_diff ttl mtu");
    }

    /// One score of 2 or more is a host change; three above 5 (or five
    /// above 2, seven above 1, nine at all) among the last 32 are IP
    /// sharing, reported with every reason since and then forgotten; a
    /// score of 1 alone is not reported, and 32 later scores push a score
    /// out.
    #[test]
    fn scores_add_up_to_host_changes_and_ip_sharing() {
        let mut h = Host::new(0, 0);
        assert_eq!(add_score(&mut h, true, Reasons::PORT, 1), None);
        let change = add_score(&mut h, true, Reasons::OS_DIFF, 8).unwrap();
        assert!(!change.sharing);
        assert_eq!(
            (change.reasons, change.raw_hits),
            (Reasons::OS_DIFF, [1, 1, 1, 2])
        );
        // The other role's scores are kept apart.
        assert!(!add_score(&mut h, false, Reasons::TTL, 8).unwrap().sharing);
        assert!(!add_score(&mut h, true, Reasons::TTL, 8).unwrap().sharing);
        let sharing = add_score(&mut h, true, Reasons::MTU, 6).unwrap();
        assert!(sharing.sharing);
        assert_eq!(sharing.raw_hits, [3, 3, 3, 4]);
        assert_eq!(sharing.reasons.to_string(), "os_diff ttl port mtu");
        assert_eq!(h.client_scores, [0; SCORES]);
        assert!(h.reasons.is_empty());
        // Two scores above 5, then 32 zeros: the next is alone again.
        let mut h = Host::new(0, 0);
        add_score(&mut h, true, Reasons::OS_DIFF, 8);
        add_score(&mut h, true, Reasons::OS_DIFF, 8);
        for _ in 0..SCORES {
            add_score(&mut h, true, Reasons::default(), 0);
        }
        let change = add_score(&mut h, true, Reasons::OS_DIFF, 8).unwrap();
        assert_eq!((change.sharing, change.raw_hits), (false, [1, 1, 1, 1]));
    }

    #[test]
    fn idle_hosts_are_forgotten_unless_in_use_and_the_table_is_bounded() {
        let addr = |n: u8| IpAddr::from([10, 0, 0, n]);
        let mut t = HostTracker::with_capacity(10);
        t.touch(addr(1), 0);
        t.touch(addr(2), 0);
        t.touch(addr(3), HOST_IDLE_SECS);
        t.expire(HOST_IDLE_SECS, |_| false);
        assert_eq!(t.len(), 3, "two hours idle is not yet past the limit");
        t.expire(HOST_IDLE_SECS + 1, |a| *a == addr(2));
        let mut left: Vec<IpAddr> = t.hosts.keys().copied().collect();
        left.sort();
        assert_eq!(left, [addr(2), addr(3)]);
        // Expiry stops at the first host, in touch order, that is not idle:
        // one touched later at an earlier time (out of order) stays.
        t.touch(addr(4), 10 * HOST_IDLE_SECS);
        t.touch(addr(5), 0);
        t.expire(10 * HOST_IDLE_SECS, |_| false);
        left = t.hosts.keys().copied().collect();
        left.sort();
        assert_eq!(left, [addr(4), addr(5)]);
        // Past the limit, each new host makes the least recently touched go.
        for n in 10..40 {
            t.touch(addr(n), 11 * HOST_IDLE_SECS);
            assert!(t.len() <= 11);
        }
        assert!(t.hosts.contains_key(&addr(39)) && !t.hosts.contains_key(&addr(4)));
        // Touching again moves a host to the back.
        t.touch(addr(29), 11 * HOST_IDLE_SECS);
        t.touch(addr(40), 11 * HOST_IDLE_SECS);
        assert!(t.hosts.contains_key(&addr(29)) && !t.hosts.contains_key(&addr(30)));
    }
}

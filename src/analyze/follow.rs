//! p0f's connection following, for the uptime it estimates after the
//! handshake. p0f keeps reading a connection's ACK, FIN and RST segments
//! and, on the first one whose TSval measures a believable clock against
//! the host's last SYN (or, for the server, SYN+ACK), logs that side's
//! uptime. synprint's records are one per SYN and SYN+ACK, so these
//! estimates are events of their own ([`ConnUptime`]), written by the text
//! and p0f formats. The same table says when p0f fingerprints a
//! retransmitted SYN again ([`Follower::fingerprints_again`]).
//!
//! What decides which segments are read is p0f 3.09b's, rule for rule: a
//! connection is followed from its SYN until a FIN or RST, until 30 seconds
//! of capture time after the SYN, until the client's first 15 bytes are
//! not an HTTP `GET /` or `HEAD /` request, or until the server sends data;
//! ACKs are read only in sequence, after the SYN+ACK; each side is
//! estimated at most once (a clock rate out of range also ends that side);
//! above 1000 connections the oldest tenth is dropped; expiry runs at p0f's
//! rhythm (every 50th TCP packet, at most once a capture second). Two
//! simplifications: the packets counted are the TCP segments synprint
//! decodes (p0f counts what its `tcp` capture filter passes, which leaves
//! out tunnelled ones), and an HTTP connection ends at the server's first
//! data (p0f reads on until the response headers are complete, which is the
//! same segment unless the headers span several).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;

use foldhash::fast::RandomState;

use super::flows::SynSeen;
use crate::p0f::{NoEstimate, Uptime, UptimeTracker};
use crate::packet::{flags, Kind, Observation, Segment, Timestamp};

/// p0f's MAX_CONN, CONN_MAX_AGE (seconds), KILL_PERCENT and
/// EXPIRE_INTERVAL (packets).
const MAX_CONNS: usize = 1000;
const MAX_AGE_SECS: u32 = 30;
const KILL_PERCENT: usize = 10;
const EXPIRE_INTERVAL: u64 = 50;

/// The request bytes p0f needs before it decides whether a connection is
/// HTTP.
const HTTP_DECIDE_LEN: u32 = 15;

/// What p0f does with the connection a SYN or SYN+ACK opens or answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Following {
    /// Follows it.
    Yes,
    /// A p0f-sendsyn probe: its connection is kept until answered, and
    /// read for nothing.
    Probe,
    /// Drops it (a userland tool's SYN or SYN+ACK).
    No,
}

/// Which end of a connection an estimate is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// An uptime p0f estimates from a segment after the handshake.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConnUptime {
    /// Capture time of the segment that gave it.
    pub ts: Timestamp,
    pub client: (IpAddr, u16),
    pub server: (IpAddr, u16),
    pub side: Side,
    pub uptime: Uptime,
}

/// A connection named from the client's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Tuple {
    client: IpAddr,
    server: IpAddr,
    client_port: u16,
    server_port: u16,
}

/// What p0f knows of the client's request so far.
#[derive(Clone, Copy, Debug)]
enum Request {
    /// Fewer than 15 bytes seen: their start and their count.
    Undecided { head: [u8; 6], len: u32 },
    /// Starts as an HTTP GET or HEAD request.
    Http,
}

#[derive(Clone, Copy, Debug)]
struct Conn {
    /// Creation order, to drop the oldest.
    serial: u64,
    /// Capture second of the SYN, in p0f's 32 bits.
    created_secs: u32,
    next_client_seq: u32,
    next_server_seq: u32,
    /// The SYN's MSS, which p0f reads for its SYN+ACK's window.
    syn_mss: Option<u16>,
    acked: bool,
    /// p0f's `cli_tps` / `srv_tps` set: that side has its estimate, or
    /// read a clock rate p0f does not believe.
    client_done: bool,
    server_done: bool,
    request: Request,
    /// p0f-sendsyn's probe: p0f keeps the connection (a repeat of the SYN
    /// is a retransmission) until its answer, but reads nothing of it.
    probe: bool,
}

/// A retransmission p0f fingerprints again; for a SYN+ACK, with the MSS of
/// the SYN it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Again {
    pub syn_mss: Option<u16>,
}

/// The connections p0f would be following, bounded as p0f bounds them.
///
/// The methods the analyzer calls per handshake packet are `#[cold]`: they
/// run only in the formats that follow connections, and kept out of line
/// they leave the analyzer's common path as it was.
pub struct Follower {
    conns: HashMap<Tuple, Conn, RandomState>,
    /// Tuples in creation order, with the serial they were created under;
    /// entries of connections since ended are skipped (and compacted away).
    by_age: VecDeque<(Tuple, u64)>,
    next_serial: u64,
    /// TCP packets seen, and the capture second of the last expiry.
    packets: u64,
    expired_at: u32,
    /// An expiry ran since [`Follower::take_expiry`] last asked.
    expired: bool,
}

impl Default for Follower {
    fn default() -> Self {
        Follower {
            conns: HashMap::with_capacity_and_hasher(MAX_CONNS + 1, RandomState::default()),
            by_age: VecDeque::new(),
            next_serial: 0,
            packets: 0,
            expired_at: 0,
            expired: false,
        }
    }
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("connections", &self.conns.len())
            .finish()
    }
}

/// The connection a SYN+ACK answers, keyed as its SYN went: the other way.
fn answered_tuple(syn_ack: &Observation) -> Tuple {
    let o = syn_ack;
    Tuple::new((o.dst_ip, o.dst_port), (o.src_ip, o.src_port))
}

impl Follower {
    /// Connections being followed.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// A SYN or SYN+ACK the analyzer writes a record for (first-seen, or
    /// a SYN fingerprinted again), after [`Follower::packet`].
    /// `following`: what p0f does with its connection; `unmeasured`: why
    /// the packet itself gave no uptime of its sender (`None`: it gave one).
    #[cold]
    pub fn handshake(
        &mut self,
        obs: &Observation,
        following: Following,
        unmeasured: Option<NoEstimate>,
    ) {
        match obs.kind {
            Kind::Syn => self.syn(obs, following, unmeasured.is_none()),
            // p0f gives up on the server's clock at a SYN+ACK whose rate it
            // does not believe, as at one it measured (only a plain SYN's
            // bad rate leaves the side open).
            Kind::SynAck => {
                let done = unmeasured != Some(NoEstimate::Unpaired);
                self.syn_ack(obs, following == Following::Yes, done)
            }
        }
    }

    fn syn(&mut self, obs: &Observation, following: Following, estimated: bool) {
        let tuple = Tuple::new((obs.src_ip, obs.src_port), (obs.dst_ip, obs.dst_port));
        // A new SYN replaces whatever p0f followed on these addresses.
        self.conns.remove(&tuple);
        self.conns.remove(&tuple.reversed());
        if self.conns.len() > MAX_CONNS {
            self.drop_oldest(1 + self.conns.len() * KILL_PERCENT / 100);
        }
        let probe = match following {
            Following::No => return,
            Following::Yes => false,
            Following::Probe => true,
        };
        let serial = self.next_serial;
        self.next_serial += 1;
        self.conns.insert(
            tuple,
            Conn {
                serial,
                created_secs: obs.ts.p0f_secs(),
                next_client_seq: obs.seq.wrapping_add(1),
                next_server_seq: 0,
                // p0f's own reading: no MSS after its 24-option limit.
                syn_mss: Some(obs.options.p0f.mss).filter(|&m| m != 0),
                acked: false,
                client_done: estimated || probe,
                server_done: probe,
                request: Request::Undecided {
                    head: [0; 6],
                    len: 0,
                },
                probe,
            },
        );
        self.by_age.push_back((tuple, serial));
        if self.by_age.len() > 2 * self.conns.len() + 64 {
            let conns = &self.conns;
            self.by_age
                .retain(|(t, s)| conns.get(t).is_some_and(|c| c.serial == *s));
        }
    }

    /// A retransmitted SYN or SYN+ACK (after [`Follower::packet`]):
    /// whether p0f fingerprints it again. It does for a SYN, unless it still
    /// follows the connection the SYN opened (same addresses, ports and
    /// sequence number), and for a SYN+ACK answering a connection it follows
    /// and has seen no SYN+ACK for (one opened by a SYN fingerprinted
    /// again). When this says yes, the packet goes on to
    /// [`Follower::handshake`].
    #[cold]
    pub fn fingerprints_again(&self, obs: &Observation) -> Option<Again> {
        match obs.kind {
            Kind::Syn => (!self.follows_syn(obs)).then_some(Again { syn_mss: None }),
            Kind::SynAck => {
                let c = self.answered(obs)?;
                (!c.acked).then_some(Again { syn_mss: c.syn_mss })
            }
        }
    }

    /// A SYN or SYN+ACK as p0f sees it, given what the handshake table
    /// made of it: p0f counts the packet (its expiry rhythm) before it
    /// reads it, and a SYN the table forgot (minutes later) while p0f
    /// still follows its connection is a retransmission to p0f.
    #[cold]
    pub fn sees(&mut self, obs: &Observation, seen: SynSeen) -> SynSeen {
        self.packet(obs.ts);
        match seen {
            SynSeen::New { .. } if obs.kind == Kind::Syn && self.follows_syn(obs) => {
                SynSeen::Retransmission
            }
            seen => seen,
        }
    }

    /// Whether p0f still follows the connection this SYN opened (same
    /// addresses, ports and sequence number): a retransmission to p0f,
    /// which expires connections only every 50 packets, however long ago
    /// the first one came.
    #[cold]
    pub fn follows_syn(&self, obs: &Observation) -> bool {
        let tuple = Tuple::new((obs.src_ip, obs.src_port), (obs.dst_ip, obs.dst_port));
        self.conns
            .get(&tuple)
            .is_some_and(|c| c.next_client_seq.wrapping_sub(1) == obs.seq)
    }

    /// The MSS of the SYN whose connection a SYN+ACK answers, if p0f
    /// follows that connection (`Some(None)`: a SYN without MSS).
    #[cold]
    pub fn syn_mss_answered(&self, obs: &Observation) -> Option<Option<u16>> {
        self.answered(obs).map(|c| c.syn_mss)
    }

    /// Whether p0f reads a SYN or SYN+ACK (its fingerprint, its timestamp
    /// for the host's uptime), `follows_syn` telling for a SYN: a SYN+ACK
    /// only when it answers a connection p0f follows and has seen no
    /// SYN+ACK for. synprint writes a record for the others too.
    #[cold]
    pub fn reads(&self, obs: &Observation, follows_syn: bool) -> bool {
        match obs.kind {
            Kind::Syn => follows_syn,
            Kind::SynAck => self.answered(obs).is_some_and(|c| !c.acked && !c.probe),
        }
    }

    /// The followed connection a SYN+ACK answers.
    fn answered(&self, syn_ack: &Observation) -> Option<&Conn> {
        self.conns.get(&answered_tuple(syn_ack))
    }

    fn syn_ack(&mut self, obs: &Observation, followed: bool, done: bool) {
        let tuple = answered_tuple(obs);
        let Some(c) = self.conns.get_mut(&tuple) else {
            return;
        };
        // A second SYN+ACK changes nothing in p0f.
        if c.acked {
            return;
        }
        // p0f fingerprints a probe's answer and drops the connection.
        if !followed || c.probe {
            self.conns.remove(&tuple);
            return;
        }
        c.acked = true;
        c.server_done = done;
        c.next_server_seq = obs.seq.wrapping_add(1);
    }

    /// A segment after the handshake; the uptime p0f logs for it, if any.
    /// `hosts` holds the hosts' last SYN and SYN+ACK timestamps.
    pub fn segment(&mut self, seg: &Segment, hosts: &UptimeTracker) -> Option<ConnUptime> {
        let forward = Tuple::new((seg.src_ip, seg.src_port), (seg.dst_ip, seg.dst_port));
        let (tuple, side) = if self.conns.contains_key(&forward) {
            (forward, Side::Client)
        } else {
            (forward.reversed(), Side::Server)
        };
        let c = self.conns.get_mut(&tuple)?;
        let ends = u16::from(seg.flags) & (flags::FIN | flags::RST) != 0;
        if ends {
            let found = check(c, &tuple, side, seg, hosts);
            self.conns.remove(&tuple);
            return found;
        }
        if !c.acked {
            self.conns.remove(&tuple);
            return None;
        }
        let next = match side {
            Side::Client => &mut c.next_client_seq,
            Side::Server => &mut c.next_server_seq,
        };
        // No reassembly: a segment out of sequence is not read.
        if *next != seg.seq {
            return None;
        }
        *next = next.wrapping_add(seg.payload_len);
        let found = check(c, &tuple, side, seg, hosts);
        if seg.payload_len > 0 && !keeps_following(c, side, seg) {
            self.conns.remove(&tuple);
        }
        found
    }

    /// Call for every TCP packet, before handing it to the other methods:
    /// p0f's cache expiry runs on a packet count.
    #[cold]
    pub fn packet(&mut self, ts: Timestamp) {
        self.packets += 1;
        let now = ts.p0f_secs();
        if self.packets % EXPIRE_INTERVAL == 0 && now != self.expired_at {
            self.expired_at = now;
            self.expired = true;
            self.expire(now);
        }
    }

    /// The capture second of an expiry run since the last call: p0f
    /// expires idle hosts right after connections
    /// ([`crate::p0f::HostTracker::expire`]).
    pub fn take_expiry(&mut self) -> Option<u32> {
        std::mem::take(&mut self.expired).then_some(self.expired_at)
    }

    /// The addresses at either end of the connections p0f follows (at
    /// most 1,000 of them).
    pub fn addresses(&self) -> HashSet<IpAddr> {
        self.conns
            .keys()
            .flat_map(|t| [t.client, t.server])
            .collect()
    }

    /// Drops connections past p0f's age limit, oldest first.
    fn expire(&mut self, now: u32) {
        while let Some(&(tuple, serial)) = self.by_age.front() {
            match self.conns.get(&tuple) {
                Some(c) if c.serial == serial => {
                    // In p0f's unsigned arithmetic: a connection "created"
                    // after `now` (packets out of time order) is expired.
                    if now.wrapping_sub(c.created_secs) <= MAX_AGE_SECS {
                        return;
                    }
                    self.conns.remove(&tuple);
                }
                // Ended earlier, or replaced by a newer connection.
                _ => {}
            }
            self.by_age.pop_front();
        }
    }

    /// p0f's pruning when its connection table is full: the `n` oldest go.
    fn drop_oldest(&mut self, mut n: usize) {
        while n > 0 {
            let Some((tuple, serial)) = self.by_age.pop_front() else {
                return;
            };
            if self.conns.get(&tuple).is_some_and(|c| c.serial == serial) {
                self.conns.remove(&tuple);
                n -= 1;
            }
        }
    }
}

impl Tuple {
    fn new(client: (IpAddr, u16), server: (IpAddr, u16)) -> Tuple {
        Tuple {
            client: client.0,
            server: server.0,
            client_port: client.1,
            server_port: server.1,
        }
    }

    fn reversed(self) -> Tuple {
        Tuple {
            client: self.server,
            server: self.client,
            client_port: self.server_port,
            server_port: self.client_port,
        }
    }
}

/// p0f's `check_ts_tcp` on a segment after the handshake.
fn check(
    c: &mut Conn,
    tuple: &Tuple,
    side: Side,
    seg: &Segment,
    hosts: &UptimeTracker,
) -> Option<ConnUptime> {
    let (done, host, kind) = match side {
        Side::Client => (&mut c.client_done, tuple.client, Kind::Syn),
        Side::Server => (&mut c.server_done, tuple.server, Kind::SynAck),
    };
    if seg.ts1 == 0 || *done {
        return None;
    }
    let (prev_ts1, prev_ms) = hosts.last(host, kind)?;
    match Uptime::measure(prev_ts1, prev_ms, seg.ts1, seg.ts.as_millis()) {
        Ok(uptime) => {
            *done = true;
            Some(ConnUptime {
                ts: seg.ts,
                client: (tuple.client, tuple.client_port),
                server: (tuple.server, tuple.server_port),
                side,
                uptime,
            })
        }
        Err(NoEstimate::BadRate) => {
            *done = true;
            None
        }
        Err(NoEstimate::Unpaired) => None,
    }
}

/// After a data segment: whether p0f's HTTP module still wants the
/// connection (the only reason p0f follows one past its first data).
fn keeps_following(c: &mut Conn, side: Side, seg: &Segment) -> bool {
    if side == Side::Server {
        return false;
    }
    let Request::Undecided { mut head, len } = c.request else {
        return true;
    };
    let have = len.min(6) as usize;
    for (d, s) in head.iter_mut().skip(have).zip(seg.payload_head) {
        *d = s;
    }
    let len = len.saturating_add(seg.payload_len);
    if len < HTTP_DECIDE_LEN {
        c.request = Request::Undecided { head, len };
        return true;
    }
    if head.starts_with(b"GET /") || head.starts_with(b"HEAD /") {
        c.request = Request::Http;
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::analyze::{Analyzer, AnalyzerConfig, Engine};
    use crate::craft::{OptionBytes, TcpPacket};

    const MS: u64 = 1_000_000;
    const T0: u64 = 1_700_000_000_000_000_000;

    fn addr(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
    }

    /// A segment of the connection 192.0.2.1:40000 -> 192.0.2.2:443 with
    /// a 1000 Hz clock started at 5000, sent `ms` after the SYN.
    fn seg(from_client: bool, ms: u64, seq: u32, flags: u16, data: &[u8]) -> (u64, Vec<u8>) {
        let (src, sp, dst, dp) = if from_client {
            (addr(1), 40000, addr(2), 443)
        } else {
            (addr(2), 443, addr(1), 40000)
        };
        let mut p = TcpPacket::syn(src, sp, dst, dp);
        p.flags = flags;
        p.seq = seq;
        p.ack = 1;
        let clock = if from_client { 5000 } else { 90_000 };
        let ts = clock + ms as u32;
        p.options = if flags & crate::packet::flags::SYN != 0 {
            OptionBytes::new().mss(1460).sok().ts(ts, 0).nop().ws(7).0
        } else {
            OptionBytes::new().nop().nop().ts(ts, 1).0
        };
        p.payload = data.to_vec();
        (T0 + ms * MS, p.ip_bytes())
    }

    fn following(engine: &Engine) -> Analyzer<'_> {
        let config = AnalyzerConfig {
            follow_connections: true,
            ..AnalyzerConfig::default()
        };
        Analyzer::new(engine, config)
    }

    fn run(packets: &[(u64, Vec<u8>)]) -> Vec<ConnUptime> {
        let engine = Engine::default();
        let mut a = following(&engine);
        let mut found = Vec::new();
        for (at, ip) in packets {
            a.process_ip(Timestamp(*at), ip);
            found.extend(a.take_conn_uptime());
        }
        assert_eq!(a.stats().conn_uptimes, found.len() as u64);
        found
    }

    const SYN: u16 = crate::packet::flags::SYN;
    const ACK: u16 = crate::packet::flags::ACK;
    const FIN: u16 = crate::packet::flags::FIN;

    fn handshake() -> Vec<(u64, Vec<u8>)> {
        vec![
            seg(true, 0, 100, SYN, &[]),
            seg(false, 0, 900, SYN | ACK, &[]),
        ]
    }

    #[test]
    fn each_side_is_estimated_once_from_the_first_segment_that_can() {
        let mut p = handshake();
        // 10 ms is too soon (p0f waits 25 ms); 40 ms measures 1000 Hz.
        p.push(seg(true, 10, 101, ACK, &[]));
        p.push(seg(true, 40, 101, ACK, &[]));
        p.push(seg(true, 80, 101, ACK, &[]));
        p.push(seg(false, 90, 901, ACK, &[]));
        let found = run(&p);
        let sides: Vec<Side> = found.iter().map(|u| u.side).collect();
        assert_eq!(sides, [Side::Client, Side::Server]);
        assert_eq!(found[0].ts, Timestamp(T0 + 40 * MS));
        assert_eq!(found[0].uptime.freq_hz, 1000);
        assert_eq!(found[0].client, (addr(1), 40000));
        assert_eq!(found[1].server, (addr(2), 443));
    }

    /// A server SYN+ACK whose clock, against the server's previous one,
    /// runs at a rate p0f does not believe ends the server's side: its FIN
    /// gives no uptime (p0f's `srv_tps = -1`). Without the earlier
    /// SYN+ACK to measure against, the same FIN does.
    #[test]
    fn a_syn_ack_with_an_unbelievable_clock_ends_the_server_side() {
        let server_ts = |jump: bool, ms: u64| -> u32 {
            if jump && ms >= 1000 {
                1000 + ms as u32
            } else {
                3_000_000_000u32.wrapping_add(ms as u32)
            }
        };
        let packet = |src: IpAddr, sp: u16, dst: IpAddr, dp: u16, flags: u16, ts: u32| {
            let mut p = TcpPacket::syn(src, sp, dst, dp);
            p.flags = flags;
            p.seq = 1;
            p.ack = 1;
            p.options = if flags & SYN != 0 {
                OptionBytes::new().mss(1460).sok().ts(ts, 1).nop().ws(7).0
            } else {
                OptionBytes::new().nop().nop().ts(ts, 1).0
            };
            p.ip_bytes()
        };
        for jump in [true, false] {
            let mut p = Vec::new();
            let earlier = if jump { &[(addr(1), 0u64)][..] } else { &[] };
            for &(client, ms) in earlier.iter().chain(&[(addr(3), 1000)]) {
                p.push((T0 + ms * MS, packet(client, 40000, addr(2), 443, SYN, 7)));
                let sa = packet(addr(2), 443, client, 40000, SYN | ACK, server_ts(jump, ms));
                p.push((T0 + (ms + 1) * MS, sa));
            }
            let fin = packet(
                addr(2),
                443,
                addr(3),
                40000,
                FIN | ACK,
                server_ts(jump, 1100),
            );
            p.push((T0 + 1100 * MS, fin));
            let server_side = run(&p).iter().filter(|u| u.side == Side::Server).count();
            assert_eq!(server_side, usize::from(!jump), "jump: {jump}");
        }
    }

    /// A frame longer than the 65,535 bytes p0f reads is passed over as p0f
    /// never sees it: following goes on, and a later segment in sequence
    /// with what p0f saw gives the uptime.
    #[test]
    fn frames_longer_than_p0f_reads_are_passed_over() {
        let engine = Engine::default();
        let mut a = following(&engine);
        let mut p = handshake();
        let data = [b"\x16\x03\x01".to_vec(), vec![0; 65_480]].concat();
        p.push(seg(true, 10, 101, ACK, &data));
        p.push(seg(true, 40, 101, FIN | ACK, &[]));
        let mut found = Vec::new();
        for (at, ip) in &p {
            let frame = crate::craft::ethernet_frame(ip);
            a.process_frame(crate::packet::LinkType::ETHERNET, Timestamp(*at), &frame);
            found.extend(a.take_conn_uptime());
        }
        assert_eq!(found.len(), 1, "the FIN after the long frame is read");
    }

    #[test]
    fn segments_out_of_sequence_or_before_the_syn_ack_are_not_read() {
        let mut p = handshake();
        p.push(seg(true, 40, 555, ACK, &[]));
        assert!(run(&p).is_empty());
        // Without the SYN+ACK, p0f stops following at the first ACK.
        let p = vec![seg(true, 0, 100, SYN, &[]), seg(true, 40, 101, ACK, &[])];
        assert!(run(&p).is_empty());
    }

    #[test]
    fn data_that_is_not_http_ends_following_but_http_does_not() {
        let tls = [0x16, 0x03, 0x01, 0, 200, 1, 0, 0, 196, 3, 3, 9, 9, 9, 9, 9];
        let mut p = handshake();
        p.push(seg(true, 1, 101, ACK, &tls));
        p.push(seg(true, 40, 101 + 16, ACK, &[]));
        assert!(run(&p).is_empty(), "the TLS record ends following");

        let get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut p = handshake();
        // In pieces: p0f decides once it has 15 bytes.
        p.push(seg(true, 1, 101, ACK, &get[..4]));
        p.push(seg(true, 2, 105, ACK, &get[4..]));
        p.push(seg(true, 40, 101 + get.len() as u32, FIN | ACK, &[]));
        assert_eq!(run(&p).len(), 1, "the FIN of an HTTP request is read");
    }

    #[test]
    fn a_syn_is_fingerprinted_again_once_its_connection_expired() {
        let engine = Engine::default();
        let mut a = following(&engine);
        let mut records = 0;
        let mut other = TcpPacket::syn(addr(7), 1, addr(8), 2);
        other.flags = ACK;
        for at in [0u64, 1000, 3000, 31_000, 63_000] {
            let (_, syn) = seg(true, at, 100, SYN, &[]);
            records += usize::from(a.process_ip(Timestamp(T0 + at * MS), &syn).is_some());
            // Traffic in between, so p0f's expiry (every 50th packet) runs.
            for k in 1..=60 {
                a.process_ip(Timestamp(T0 + (at + k) * MS), &other.ip_bytes());
            }
        }
        // Followed until the expiry after 31 s; the SYN at 63 s is new to p0f.
        assert_eq!(records, 2);
        let s = a.stats();
        assert_eq!(
            (s.syn, s.syn_retransmissions, s.syn_fingerprinted_again),
            (2, 3, 1)
        );
    }

    /// The kind and p0f signature of each record `packets` make, a
    /// millisecond apart, and the analyzer's counts.
    fn analyzed(packets: &[Vec<u8>], follow: bool) -> (Vec<(Kind, String)>, crate::analyze::Stats) {
        let engine = Engine::default();
        let config = AnalyzerConfig {
            follow_connections: follow,
            ..AnalyzerConfig::default()
        };
        let mut a = Analyzer::new(&engine, config);
        let records = packets
            .iter()
            .enumerate()
            .filter_map(|(i, ip)| {
                let r = a.process_ip(Timestamp(T0 + i as u64 * MS), ip)?;
                Some((r.obs().kind, r.p0f().raw_sig.to_string()))
            })
            .collect();
        (records, a.stats())
    }

    /// The client's SYN of ISN 100 with MSS `mss`, as it retries after a
    /// reset.
    fn retry_syn(mss: u16) -> Vec<u8> {
        let mut p = TcpPacket::syn(addr(1), 40000, addr(2), 443);
        p.seq = 100;
        p.options = OptionBytes::new().mss(mss).sok().ts(5, 0).nop().ws(7).0;
        p.ip_bytes()
    }

    /// The server's SYN+ACK of ISN `seq` (the same each time from SYN
    /// cookies), its own MSS 1400 and a window of 20 times 1380.
    fn cookie_syn_ack(seq: u32) -> Vec<u8> {
        let mut p = TcpPacket::syn(addr(2), 443, addr(1), 40000);
        p.flags = SYN | ACK;
        p.seq = seq;
        p.ack = 101;
        p.window = 1380 * 20;
        p.options = OptionBytes::new().mss(1400).sok().ts(9, 1).nop().ws(7).0;
        p.ip_bytes()
    }

    /// A handshake the client resets, then its retry with the same ISN and
    /// MSS `retry_mss`, answered by a SYN+ACK of ISN `answer_isn`.
    fn reset_then_retry(first_mss: u16, retry_mss: u16, answer_isn: u32) -> Vec<Vec<u8>> {
        let (_, rst) = seg(true, 2, 101, crate::packet::flags::RST, &[]);
        vec![
            retry_syn(first_mss),
            cookie_syn_ack(500),
            rst,
            retry_syn(retry_mss),
            cookie_syn_ack(answer_isn),
        ]
    }

    /// After a reset, the same SYN and the same SYN+ACK (a client retrying
    /// with its ISN, a server answering with the same SYN cookie): p0f
    /// follows the connection anew and fingerprints both again, the
    /// SYN+ACK's window read against the SYN's MSS (1380, through a tunnel;
    /// no other rule of p0f's makes 27,600 a multiple); a third SYN+ACK is
    /// a duplicate to it.
    #[test]
    fn a_syn_ack_answering_a_syn_fingerprinted_again_is_too() {
        let mut packets = reset_then_retry(1380, 1380, 500);
        packets.push(cookie_syn_ack(500));
        for follow in [true, false] {
            let (records, s) = analyzed(&packets, follow);
            let sigs: Vec<String> = records.iter().map(|(_, sig)| sig.clone()).collect();
            if follow {
                assert_eq!(sigs.len(), 4, "{sigs:?}");
                assert_eq!(sigs[0], sigs[2]);
                assert_eq!(sigs[1], sigs[3]);
                assert!(sigs[1].contains(":mss*20,7:"), "{sigs:?}");
                let again = (s.syn_fingerprinted_again, s.syn_ack_fingerprinted_again);
                assert_eq!(again, (1, 1));
                assert_eq!(s.syn_ack_retransmissions, 1);
            } else {
                assert_eq!(sigs.len(), 2, "{sigs:?}");
                assert_eq!(s.syn_ack_retransmissions, 2);
            }
        }
    }

    /// The retried SYN carries another MSS and the server answers with a
    /// new ISN: p0f reads that SYN+ACK's window against the retried SYN's
    /// MSS (1380: 27,600 is 20 of them), not the first SYN's (1460).
    #[test]
    fn a_new_syn_ack_is_read_against_the_syn_fingerprinted_again() {
        let packets = reset_then_retry(1460, 1380, 900);
        let windows: Vec<String> = analyzed(&packets, true)
            .0
            .into_iter()
            .filter_map(|(kind, sig)| (kind == Kind::SynAck).then_some(sig))
            .collect();
        assert_eq!(windows.len(), 2, "{windows:?}");
        assert!(windows[0].contains(":27600,7:"), "{windows:?}");
        assert!(windows[1].contains(":mss*20,7:"), "{windows:?}");
    }

    /// p0f keeps a p0f-sendsyn probe's connection until its answer: the
    /// probe sent again is a duplicate to it, unless a reset ended the
    /// connection (found by a review: the probe was fingerprinted twice).
    #[test]
    fn a_probe_sent_again_is_a_duplicate_while_p0f_keeps_its_connection() {
        let mut probe = TcpPacket::syn(addr(1), 40000, addr(2), 443);
        probe.seq = 100;
        probe.window = 1337;
        probe.options = OptionBytes::new().mss(1331).0;
        let probe = probe.ip_bytes();
        let (_, rst) = seg(true, 2, 101, crate::packet::flags::RST, &[]);
        let records = |packets: &[Vec<u8>]| analyzed(packets, true).0.len();
        assert_eq!(records(&[probe.clone(), probe.clone()]), 1);
        assert_eq!(records(&[probe.clone(), rst, probe]), 2);
    }

    /// A flood of distinct SYNs within a second: the table stays at p0f's
    /// bound, its age list too.
    #[test]
    fn memory_stays_bounded_under_a_flood_of_connections() {
        let mut f = Follower::default();
        for n in 0..20_000u32 {
            let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
            let syn = TcpPacket::syn(src, 1024 + (n % 60_000) as u16, addr(2), 443);
            let obs =
                crate::packet::decode_ip(Timestamp(T0 + u64::from(n) * 1000), &syn.ip_bytes())
                    .expect("a SYN decodes")
                    .expect("a SYN is an observation");
            f.packet(obs.ts);
            f.handshake(&obs, Following::Yes, Some(NoEstimate::Unpaired));
            assert!(f.len() <= MAX_CONNS + 1);
            assert!(f.by_age.len() <= 2 * f.len() + 65);
        }
        assert!(f.len() > MAX_CONNS * 8 / 10, "{} followed", f.len());
    }

    #[test]
    fn connections_end_at_fin_and_after_thirty_seconds() {
        let mut p = handshake();
        p.push(seg(true, 5, 101, FIN | ACK, &[]));
        // In sequence for a connection still followed (a FIN moves no
        // sequence number here), so only the FIN's ending keeps it unread.
        p.push(seg(true, 40, 101, ACK, &[]));
        assert!(run(&p).is_empty(), "nothing after the FIN");

        // p0f expires on every 50th packet: 60 segments of another
        // connection make sure it ran past the age limit.
        let mut p = handshake();
        for i in 0..60u64 {
            let mut other = TcpPacket::syn(addr(7), 1, addr(8), 2);
            other.flags = ACK;
            p.push((T0 + (31_000 + i) * MS, other.ip_bytes()));
        }
        p.push(seg(true, 31_100, 101, ACK, &[]));
        assert!(run(&p).is_empty(), "expired after 30 s");
    }
}

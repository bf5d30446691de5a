//! The hosts a capture saw and the stacks each one used: a network
//! defender's device inventory, gathered from the records of a whole run
//! (`synprint analyze --inventory`).
//!
//! Unlike [`MemoryStore`](super::MemoryStore), which answers for recent
//! visitors and forgets, an inventory keeps what it lists until the end,
//! within bounds: the first [`InventoryLimits::max_hosts`] addresses are
//! listed and records of later ones only counted, so a flood of spoofed
//! sources cannot push out the hosts seen before it; per address,
//! [`InventoryLimits::stacks_per_host`] distinct stacks (past that, a new
//! one takes the place of the one with the fewest records) and the first
//! [`InventoryLimits::ports_per_host`] served ports.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;

use foldhash::fast::RandomState;

use crate::analyze::{ConnUptime, Record, Side};
use crate::classify::{Family, Os};
use crate::p0f::{Mtu, P0fMatch, Uptime};
use crate::packet::{Kind, Timestamp};

/// Bounds of an [`Inventory`]: memory stays below `max_hosts` times a host
/// with `stacks_per_host` stacks (about 0.2 KiB each) and `ports_per_host`
/// ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InventoryLimits {
    pub max_hosts: usize,
    pub stacks_per_host: usize,
    pub ports_per_host: usize,
}

impl Default for InventoryLimits {
    fn default() -> Self {
        InventoryLimits {
            max_hosts: 100_000,
            stacks_per_host: 8,
            ports_per_host: 64,
        }
    }
}

/// One distinct stack seen from a host: one p0f signature (`stack_key`),
/// with what the first record of it said. Only the parts an inventory
/// shows are kept, as a host may keep several and an inventory many hosts.
#[derive(Clone, Debug)]
pub struct Stack {
    key: u64,
    pub kind: Kind,
    pub count: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub p0f: P0fMatch<'static>,
    pub mtu: Option<Mtu<'static>>,
    /// The classification's answer (absent when classification is off).
    pub answer: Option<Answer>,
    /// JA4T of a client stack, JA4TS of a server's.
    #[cfg(feature = "ja4t")]
    pub ja4t: Box<str>,
}

/// What makes two records one stack: the fields of p0f's signature as it
/// renders them (TTL, IP options, MSS, window, window scale, options in
/// order, EOL padding, quirks, whether data rides along), and the window
/// itself (p0f can write it as a multiple). Not ports, sequence numbers, IP
/// IDs or timestamps, which change from one connection to the next, nor the
/// TOS or how much data a Fast Open SYN carries, which an application
/// chooses.
fn stack_key(record: &Record) -> u64 {
    let s = &record.p0f().raw_sig;
    let mut h = foldhash::fast::FixedState::default().build_hasher();
    (s.kind, s.ip_version, s.ttl, s.ip_opt_len, s.mss, s.window).hash(&mut h);
    (s.wscale, s.layout, s.eol_pad, s.quirks, s.payload).hash(&mut h);
    h.finish()
}

/// The part of a [`Classification`](crate::classify::Classification) an
/// inventory shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Answer {
    pub os: Os,
    pub family: Family,
    pub confidence: f32,
}

impl Stack {
    fn of(key: u64, record: &Record) -> Stack {
        let o = record.obs();
        Stack {
            key,
            kind: o.kind,
            count: 1,
            first_seen: o.ts,
            last_seen: o.ts,
            p0f: *record.p0f(),
            mtu: record.mtu().copied(),
            answer: record.classification().map(|c| Answer {
                os: c.os,
                family: c.family,
                confidence: c.confidence,
            }),
            #[cfg(feature = "ja4t")]
            ja4t: crate::fingerprint::ja4t::Ja4t(o).to_string().into(),
        }
    }
}

/// Everything an inventory knows of one address.
#[derive(Clone, Debug)]
pub struct Host {
    pub ip: IpAddr,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Client SYNs it sent.
    pub syns: u64,
    /// SYN+ACKs it answered with, as a server.
    pub syn_acks: u64,
    /// Distinct stacks in the order first listed, at most
    /// [`InventoryLimits::stacks_per_host`].
    pub stacks: Vec<Stack>,
    /// Records of stacks that gave their place to newer ones, past the
    /// limit.
    pub unlisted_stack_records: u64,
    /// Ports it answered SYNs on (its SYN+ACKs' source ports).
    pub ports: BTreeSet<u16>,
    /// Some served port is not in `ports`: there were more than the limit.
    pub ports_incomplete: bool,
    /// The newest uptime estimate (captures need not be in time order),
    /// with the time of the packet that gave it: a record's, or a later
    /// segment's where connections are followed ([`Inventory::add_uptime`]).
    pub uptime: Option<(Timestamp, Uptime)>,
}

impl Host {
    fn new(record: &Record) -> Host {
        let ts = record.obs().ts;
        Host {
            ip: record.obs().src_ip,
            first_seen: ts,
            last_seen: ts,
            syns: 0,
            syn_acks: 0,
            stacks: Vec::new(),
            unlisted_stack_records: 0,
            ports: BTreeSet::new(),
            ports_incomplete: false,
            uptime: None,
        }
    }

    fn add(&mut self, record: &Record, limits: &InventoryLimits) {
        let o = record.obs();
        // Captures merged from several sensors need not be in time order.
        self.first_seen = self.first_seen.min(o.ts);
        self.last_seen = self.last_seen.max(o.ts);
        match o.kind {
            Kind::Syn => self.syns += 1,
            Kind::SynAck => {
                self.syn_acks += 1;
                if self.ports.len() < limits.ports_per_host {
                    self.ports.insert(o.src_port);
                } else if !self.ports.contains(&o.src_port) {
                    self.ports_incomplete = true;
                }
            }
        }
        if let Some(&u) = record.uptime() {
            self.take_uptime(o.ts, u);
        }
        let key = stack_key(record);
        if let Some(s) = self.stacks.iter_mut().find(|s| s.key == key) {
            s.count += 1;
            s.first_seen = s.first_seen.min(o.ts);
            s.last_seen = s.last_seen.max(o.ts);
        } else if self.stacks.len() < limits.stacks_per_host {
            // One at a time: a first push would make room for four, and
            // most hosts show one stack.
            self.stacks.reserve_exact(1);
            self.stacks.push(Stack::of(key, record));
        } else if let Some(weakest) = self.weakest_stack() {
            // A new stack takes the place of the one with the fewest
            // records (of those, the one seen least recently), whose
            // records are then counted as unlisted: a host that moved to
            // another stack, or an address shared by more devices than the
            // limit, shows what it sends now, while a flood of one-off
            // stacks churns only the weakest place.
            let gone = self.stacks.remove(weakest);
            self.unlisted_stack_records += gone.count;
            self.stacks.push(Stack::of(key, record));
        }
    }

    /// Keeps the newest estimate by capture time: captures need not be
    /// read in time order.
    fn take_uptime(&mut self, ts: Timestamp, uptime: Uptime) {
        if self.uptime.is_none_or(|(newest, _)| ts >= newest) {
            self.uptime = Some((ts, uptime));
        }
    }

    fn weakest_stack(&self) -> Option<usize> {
        let by_strength = |(_, s): &(usize, &Stack)| (s.count, s.last_seen);
        let weakest = self.stacks.iter().enumerate().min_by_key(by_strength);
        weakest.map(|(i, _)| i)
    }

    /// The stack that answers for the host: its client stack with the most
    /// SYNs (of a tie, the one seen last: a host whose OS changed is
    /// answered as it is now); for a host that only answered as a server,
    /// its server stack with the most SYN+ACKs. A server's SYN+ACK can be
    /// set otherwise than its SYNs, so it answers only where there is
    /// nothing else.
    pub fn main_stack(&self) -> Option<&Stack> {
        let most = |kind: Kind| {
            self.stacks
                .iter()
                .filter(|s| s.kind == kind)
                .max_by_key(|s| (s.count, s.last_seen))
        };
        most(Kind::Syn).or_else(|| most(Kind::SynAck))
    }

    /// The families the answers for its listed client stacks name, in the
    /// order first seen. More than one is an address shared by several
    /// devices (NAT, a proxy's egress) or a host whose OS changed.
    pub fn client_families(&self) -> Vec<Family> {
        let mut families = Vec::new();
        let client = self.stacks.iter().filter(|s| s.kind == Kind::Syn);
        for c in client.filter_map(|s| s.answer) {
            if !families.contains(&c.family) {
                families.push(c.family);
            }
        }
        families
    }
}

/// Hosts by address, bounded by [`InventoryLimits`].
pub struct Inventory {
    limits: InventoryLimits,
    hosts: HashMap<IpAddr, Host, RandomState>,
    unlisted_records: u64,
}

impl Inventory {
    pub fn new(limits: InventoryLimits) -> Self {
        Inventory {
            limits: InventoryLimits {
                max_hosts: limits.max_hosts.max(1),
                stacks_per_host: limits.stacks_per_host.max(1),
                ports_per_host: limits.ports_per_host,
            },
            hosts: HashMap::with_hasher(RandomState::default()),
            unlisted_records: 0,
        }
    }

    /// Counts a record under its sender's address; false when that is not
    /// listed (past [`InventoryLimits::max_hosts`]): only counted.
    pub fn add(&mut self, record: &Record) -> bool {
        let ip = record.obs().src_ip;
        if let Some(host) = self.hosts.get_mut(&ip) {
            host.add(record, &self.limits);
        } else if self.hosts.len() < self.limits.max_hosts {
            let mut host = Host::new(record);
            host.add(record, &self.limits);
            self.hosts.insert(ip, host);
        } else {
            self.unlisted_records += 1;
            return false;
        }
        true
    }

    /// An uptime p0f estimates from a later segment of a followed
    /// connection, for the host it is about (listed already: its SYN or
    /// SYN+ACK came first), if newer than the one it has.
    pub fn add_uptime(&mut self, u: &ConnUptime) {
        let subject = match u.side {
            Side::Client => u.client.0,
            Side::Server => u.server.0,
        };
        if let Some(host) = self.hosts.get_mut(&subject) {
            host.take_uptime(u.ts, u.uptime);
        }
    }

    /// The hosts, by address (IPv4 before IPv6).
    pub fn hosts(&self) -> Vec<&Host> {
        let mut hosts: Vec<&Host> = self.hosts.values().collect();
        hosts.sort_unstable_by_key(|h| h.ip);
        hosts
    }

    /// Hosts listed.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Records from addresses past [`InventoryLimits::max_hosts`], not
    /// listed.
    pub fn unlisted_records(&self) -> u64 {
        self.unlisted_records
    }

    pub fn limits(&self) -> InventoryLimits {
        self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::Engine;
    use crate::craft::{Stack as Preset, TcpPacket};
    use crate::packet::decode_ip;
    use std::net::Ipv4Addr;

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    const SERVER: u8 = 200;

    struct Feed {
        engine: Engine,
        inventory: Inventory,
    }

    impl Feed {
        fn new(limits: InventoryLimits) -> Feed {
            Feed {
                engine: Engine::default(),
                inventory: Inventory::new(limits),
            }
        }

        /// Whether the record went to a listed host.
        fn add(&mut self, p: &TcpPacket, secs: u64) -> bool {
            let ts = Timestamp(secs * 1_000_000_000);
            let obs = decode_ip(ts, &p.ip_bytes())
                .expect("decodes")
                .expect("a SYN");
            self.inventory.add(&self.engine.fingerprint(obs, None))
        }

        fn syn(&mut self, stack: Preset, host: u8, port: u16, secs: u64) -> TcpPacket {
            let p = stack.syn(v4(host), port, v4(SERVER), 443, u32::from(port));
            let listed = self.add(&p, secs);
            assert_eq!(listed, self.inventory.hosts.contains_key(&v4(host)));
            p
        }

        fn host(&self, last: u8) -> &Host {
            let ip = v4(last);
            self.inventory.hosts.get(&ip).expect("listed")
        }
    }

    #[test]
    fn a_host_is_its_stacks_counted_and_answered_by_the_commonest() {
        let mut f = Feed::new(InventoryLimits::default());
        // Out of time order, as merged captures can be.
        f.syn(Preset::Windows, 1, 40000, 20);
        f.syn(Preset::Windows, 1, 40001, 10);
        f.syn(Preset::Linux, 1, 40002, 30);
        let h = f.host(1);
        assert_eq!((h.syns, h.syn_acks), (3, 0));
        assert_eq!(
            (h.first_seen.0, h.last_seen.0),
            (10_000_000_000, 30_000_000_000)
        );
        let counts: Vec<(u64, Family)> = h
            .stacks
            .iter()
            .map(|s| (s.count, s.answer.unwrap().family))
            .collect();
        assert_eq!(counts, [(2, Family::Windows), (1, Family::Linux)]);
        let main = h.main_stack().unwrap();
        assert_eq!(main.answer.unwrap().os, Os::Windows);
        assert_eq!(main.first_seen.0, 10_000_000_000);
        assert_eq!(h.client_families(), [Family::Windows, Family::Linux]);
        // A tie goes to the stack seen last, whichever came first: the host
        // as it is now.
        let family = |f: &Feed, host| {
            let main = f.host(host).main_stack().unwrap();
            main.answer.unwrap().family
        };
        f.syn(Preset::Linux, 1, 40003, 5);
        assert_eq!(family(&f, 1), Family::Linux);
        f.syn(Preset::Linux, 2, 40000, 1);
        f.syn(Preset::Windows, 2, 40001, 2);
        assert_eq!(family(&f, 2), Family::Windows);
    }

    #[test]
    fn a_server_is_answered_by_its_syn_acks_and_lists_its_ports() {
        let mut f = Feed::new(InventoryLimits {
            ports_per_host: 2,
            ..InventoryLimits::default()
        });
        for (i, port) in [443u16, 22, 443, 8080].into_iter().enumerate() {
            let syn = Preset::Windows.syn(v4(1), 40000 + i as u16, v4(SERVER), port, 7);
            let mut answer = TcpPacket::syn_ack_for(&syn);
            answer.options = crate::craft::OptionBytes::new()
                .mss(1460)
                .sok()
                .nop()
                .ws(7)
                .0;
            f.add(&answer, i as u64);
        }
        let server = f.host(SERVER);
        assert_eq!((server.syns, server.syn_acks), (0, 4));
        assert_eq!(server.ports.iter().copied().collect::<Vec<_>>(), [22, 443]);
        assert!(server.ports_incomplete);
        assert_eq!(server.main_stack().unwrap().kind, Kind::SynAck);
        assert!(server.client_families().is_empty());
        // Its own SYNs, once it sends some, answer for it instead.
        f.syn(Preset::FreeBsd, SERVER, 50000, 9);
        let server = f.host(SERVER);
        assert_eq!(server.main_stack().unwrap().kind, Kind::Syn);
        assert_eq!(server.client_families(), [Family::Bsd]);
    }

    #[test]
    fn hosts_past_the_limit_are_counted_and_new_stacks_replace_the_weakest() {
        let mut f = Feed::new(InventoryLimits {
            max_hosts: 2,
            stacks_per_host: 2,
            ports_per_host: 64,
        });
        f.syn(Preset::Windows, 1, 40000, 1);
        f.syn(Preset::Linux, 2, 40000, 2);
        // Past the hosts: only counted; a listed host still adds.
        f.syn(Preset::Linux, 3, 40000, 3);
        f.syn(Preset::Linux, 4, 40000, 4);
        f.syn(Preset::MacOs, 1, 40001, 5);
        f.syn(Preset::Android, 1, 40002, 6);
        f.syn(Preset::Android, 1, 40003, 7);
        f.syn(Preset::Windows, 1, 40004, 8);
        let ips: Vec<IpAddr> = f.inventory.hosts().iter().map(|h| h.ip).collect();
        assert_eq!(ips, [v4(1), v4(2)]);
        assert_eq!(f.inventory.unlisted_records(), 2);
        // Host 1's two places: Windows then macOS; Android took the
        // place of Windows (one record, seen before macOS' one), and
        // Windows, back, that of macOS (one record against Android's two).
        let h = f.host(1);
        assert_eq!(h.syns, 5);
        assert_eq!(h.stacks.iter().map(|s| s.count).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(h.client_families(), [Family::Linux, Family::Windows]);
        assert_eq!(h.unlisted_stack_records, 2);
    }

    /// A host whose full list of stacks is all of one OS, that then sends
    /// only another's, is answered by the new one once it has the most
    /// records, and shows both families.
    #[test]
    fn a_host_past_its_stacks_limit_is_answered_as_it_is_now() {
        let mut f = Feed::new(InventoryLimits::default());
        for hops in 0..8 {
            let mut syn = Preset::Windows.syn(v4(1), 40000 + hops, v4(SERVER), 443, 1);
            syn.ttl -= hops as u8;
            f.add(&syn, u64::from(hops));
        }
        for i in 0..3 {
            f.syn(Preset::MacOs, 1, 41000 + i, 100 + u64::from(i));
        }
        let h = f.host(1);
        assert_eq!(h.stacks.len(), 8);
        assert_eq!(h.unlisted_stack_records, 1);
        let main = h.main_stack().and_then(|s| s.answer).map(|a| a.family);
        assert_eq!(main, Some(Family::Apple));
        assert_eq!(h.client_families(), [Family::Windows, Family::Apple]);
    }

    /// What an application or the moment chooses (TOS, how much data a Fast
    /// Open SYN carries, ports, IP IDs) leaves one stack; a different p0f
    /// signature (here: a zero IP ID under DF, p0f's `id+` missing) is
    /// another.
    #[test]
    fn a_stack_is_one_p0f_signature() {
        let mut f = Feed::new(InventoryLimits::default());
        let syn = |port: u16| Preset::Linux.syn(v4(1), port, v4(SERVER), 443, u32::from(port));
        f.add(&syn(40000), 1);
        let mut marked = syn(40001);
        marked.tos = 0x28;
        f.add(&marked, 2);
        for (port, data) in [(40002, 10), (40003, 300)] {
            let mut fast_open = syn(port);
            fast_open.payload = vec![7; data];
            f.add(&fast_open, 3);
        }
        let mut zero_id = syn(40004);
        zero_id.ip_id = 0;
        f.add(&zero_id, 4);
        let h = f.host(1);
        let stacks: Vec<(u64, String)> = h
            .stacks
            .iter()
            .map(|s| (s.count, s.p0f.raw_sig.to_string()))
            .collect();
        assert_eq!(stacks.len(), 3, "{stacks:?}");
        assert_eq!(stacks[0].0, 2, "{stacks:?}");
        assert!(stacks[0].1.ends_with(":df,id+:0"), "{stacks:?}");
        assert_eq!(stacks[1].0, 2, "{stacks:?}");
        assert!(stacks[1].1.ends_with(":df,id+:+"), "{stacks:?}");
        assert_eq!(stacks[2].0, 1, "{stacks:?}");
        assert!(stacks[2].1.ends_with(":df:0"), "{stacks:?}");
    }

    #[test]
    fn hosts_come_out_by_address() {
        let mut f = Feed::new(InventoryLimits::default());
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let p = Preset::Linux.syn(v6, 1, "2001:db8::2".parse().unwrap(), 443, 1);
        f.add(&p, 0);
        f.syn(Preset::Linux, 10, 1, 1);
        f.syn(Preset::Linux, 9, 1, 2);
        let ips: Vec<IpAddr> = f.inventory.hosts().iter().map(|h| h.ip).collect();
        assert_eq!(ips, [v4(9), v4(10), v6]);
        assert_eq!(f.inventory.len(), 3);
    }
}

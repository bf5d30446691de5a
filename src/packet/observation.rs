use std::net::IpAddr;

use super::TcpOptions;

/// Capture time in nanoseconds since the Unix epoch. Always taken from the
/// packet (capture record, kernel), never from the wall clock, so a replayed
/// file gives the same results every time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn from_secs_nanos(secs: u64, nanos: u32) -> Self {
        Timestamp(
            secs.saturating_mul(1_000_000_000)
                .saturating_add(u64::from(nanos)),
        )
    }

    /// The wall clock, the one a live capture's kernel stamps packets
    /// with: for comparing with those stamps, never for a record read from
    /// a file.
    pub fn wall_clock() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_secs_nanos(d.as_secs(), d.subsec_nanos())
    }

    /// Whole seconds in 32 bits, as p0f keeps capture times.
    pub fn p0f_secs(self) -> u32 {
        (self.0 / 1_000_000_000) as u32
    }

    /// Seconds, the double nearest to the exact time. `nanos as f64 / 1e9`
    /// rounds twice once the nanoseconds pass 2^53 (every date after April
    /// 1970), which puts a stray seventh decimal on about a quarter of
    /// microsecond timestamps (`...0000021` for 2 µs).
    pub fn as_secs_f64(self) -> f64 {
        let n = self.0;
        if n < 1 << 53 {
            // Both operands exact: IEEE division rounds once.
            return n as f64 / 1e9;
        }
        // q = n * 2^64 / 10^9 has 88 to 99 bits: keep 53 and round to
        // nearest on the bits dropped. Half or more rounds up: an exact tie
        // is impossible here (a midpoint between doubles below 2^35 s has a
        // denominator of at least 2^19, and 10^9 holds only 2^9), and at
        // exactly half the division's remainder is never zero.
        let num = u128::from(n) << 64;
        let q = num / 1_000_000_000;
        let shift = (128 - q.leading_zeros()) - 53;
        let mut m = q >> shift;
        let dropped = q & ((1 << shift) - 1);
        let half = 1u128 << (shift - 1);
        if dropped >= half {
            m += 1;
        }
        // m <= 2^53 and a power of two: both exact, so is the product.
        let scale = f64::from_bits(u64::from(1023 + shift - 64) << 52);
        m as f64 * scale
    }

    pub fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpVersion {
    V4,
    V6,
}

impl IpVersion {
    pub fn number(self) -> u8 {
        match self {
            IpVersion::V4 => 4,
            IpVersion::V6 => 6,
        }
    }
}

/// The innermost tunnel a fingerprinted segment came through, as records
/// show it. Nothing else reads it: hosts and connections are told apart
/// by their inner addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tunnel {
    pub kind: TunnelKind,
    /// The tunnel's own identifier, where its header has one: the VNI of
    /// VXLAN, VXLAN-GPE and Geneve, the GRE key, the session ID of ERSPAN
    /// types II and III (type I: the GRE key),
    /// PPTP's call ID, GTP-U's TEID, LISP's instance ID, and for L2TP the
    /// tunnel ID times 65,536 plus the session ID.
    pub id: Option<u32>,
    /// The addresses of the IP header around the tunnel: its endpoints.
    pub outer_src: IpAddr,
    pub outer_dst: IpAddr,
}

/// Kinds of [`Tunnel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// IPv4 or IPv6 straight in IPv4 or IPv6 (protocols 4 and 41).
    IpInIp,
    /// MPLS in IP (protocol 137).
    MplsInIp,
    /// MPLS in UDP (port 6635).
    MplsInUdp,
    EtherIp,
    Gre,
    Erspan,
    /// PPTP's enhanced GRE.
    Pptp,
    Vxlan,
    VxlanGpe,
    Geneve,
    GtpU,
    L2tp,
    Lisp,
    Teredo,
}

impl TunnelKind {
    pub const ALL: [TunnelKind; 14] = [
        TunnelKind::IpInIp,
        TunnelKind::MplsInIp,
        TunnelKind::MplsInUdp,
        TunnelKind::EtherIp,
        TunnelKind::Gre,
        TunnelKind::Erspan,
        TunnelKind::Pptp,
        TunnelKind::Vxlan,
        TunnelKind::VxlanGpe,
        TunnelKind::Geneve,
        TunnelKind::GtpU,
        TunnelKind::L2tp,
        TunnelKind::Lisp,
        TunnelKind::Teredo,
    ];

    /// The name records give it.
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelKind::IpInIp => "ip_in_ip",
            TunnelKind::MplsInIp => "mpls_in_ip",
            TunnelKind::MplsInUdp => "mpls_in_udp",
            TunnelKind::EtherIp => "etherip",
            TunnelKind::Gre => "gre",
            TunnelKind::Erspan => "erspan",
            TunnelKind::Pptp => "pptp",
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::VxlanGpe => "vxlan_gpe",
            TunnelKind::Geneve => "geneve",
            TunnelKind::GtpU => "gtp_u",
            TunnelKind::L2tp => "l2tp",
            TunnelKind::Lisp => "lisp",
            TunnelKind::Teredo => "teredo",
        }
    }
}

/// Which side of the handshake a packet is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// SYN without ACK: the client opening a connection.
    Syn,
    /// SYN with ACK: the server answering.
    SynAck,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Syn => "syn",
            Kind::SynAck => "syn_ack",
        }
    }
}

/// Every header field of one SYN or SYN+ACK that matters for fingerprinting,
/// taken from the innermost IP/TCP headers (after any tunnel).
///
/// Field meanings follow the wire, not any one tool: conversions to p0f's,
/// zardaxt's or JA4T's forms happen downstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub ts: Timestamp,
    pub kind: Kind,

    pub ip_version: IpVersion,
    pub src_ip: IpAddr,
    pub dst_ip: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// Type of service (IPv4) or traffic class (IPv6), ECN bits included.
    pub tos: u8,
    /// IPv4 "don't fragment"; always false for IPv6.
    pub df: bool,
    /// IPv4 "more fragments"; always false for IPv6 (fragments are skipped).
    pub mf: bool,
    /// IPv4 reserved ("must be zero") flag bit.
    pub ip_reserved_flag: bool,
    /// IPv4 identification; 0 for IPv6.
    pub ip_id: u16,
    /// IPv4 total length, or IPv6 payload length + 40 (so up to 65,575).
    pub ip_total_length: u32,
    /// IPv4 header length in bytes including options (IHL × 4); 40 for IPv6.
    pub ip_header_len: u8,
    /// Bytes of IPv4 options (p0f's `olen`); for IPv6 the bytes of extension
    /// headers walked before TCP.
    pub ip_options_len: u16,
    /// IPv6 flow label; 0 for IPv4.
    pub flow_label: u32,

    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    /// The 12 flag bits after the data offset, as tshark's `tcp.flags`:
    /// CWR..FIN in the low 8, NS (the ECN nonce bit) as 0x100, the three
    /// reserved bits as 0x200-0x800 (scanners set them).
    pub tcp_flags: u16,
    /// TCP data offset in 32-bit words.
    pub tcp_data_offset: u8,
    pub window: u16,
    pub urgent_ptr: u16,
    /// Bytes of TCP payload present in this segment (from the IP length).
    pub payload_len: u16,

    pub options: TcpOptions,
    /// The innermost tunnel around the packet, if any (boxed: see the
    /// size test).
    pub tunnel: Option<Box<Tunnel>>,
}

pub mod flags {
    pub const FIN: u16 = 0x01;
    pub const SYN: u16 = 0x02;
    pub const RST: u16 = 0x04;
    pub const PSH: u16 = 0x08;
    pub const ACK: u16 = 0x10;
    pub const URG: u16 = 0x20;
    pub const ECE: u16 = 0x40;
    pub const CWR: u16 = 0x80;
    pub const NS: u16 = 0x100;
}

/// The common initial TTL (32, 64, 128 or 255) a received TTL most likely
/// started from: the nearest one at or above it. p0f's hop distance and the
/// classifier's TTL feature both rest on this one rule.
pub fn initial_ttl(ttl: u8) -> u8 {
    const INITIAL: [u8; 4] = [32, 64, 128, 255];
    INITIAL.get(initial_ttl_rank(ttl)).copied().unwrap_or(255)
}

/// Hops from the sender, as p0f guesses them: `initial_ttl(ttl) - ttl`.
pub fn hops(ttl: u8) -> u8 {
    initial_ttl(ttl) - ttl
}

/// Which of 32, 64, 128 and 255 [`initial_ttl`] gives for `ttl` (0 to 3);
/// the same for the initial TTL itself. Counted, not matched: where TTLs
/// vary, a chain of comparisons mispredicts.
pub fn initial_ttl_rank(ttl: u8) -> usize {
    usize::from(ttl > 32) + usize::from(ttl > 64) + usize::from(ttl > 128)
}

impl Observation {
    pub fn has_flag(&self, flag: u16) -> bool {
        self.tcp_flags & flag != 0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn observation_stays_small() {
        // Observations are moved through the pipeline by value; keep them
        // within a few cache lines (so a tunnel, which few have, is boxed:
        // inline it took 40 more bytes).
        assert!(
            std::mem::size_of::<super::Observation>() <= 192,
            "{}",
            std::mem::size_of::<super::Observation>()
        );
    }

    #[test]
    fn initial_ttl_is_the_nearest_common_one_at_or_above() {
        for ttl in 0..=255u8 {
            let initial = super::initial_ttl(ttl);
            let expected = [32, 64, 128, 255].into_iter().find(|&i| i >= ttl);
            assert_eq!(Some(initial), expected, "{ttl}");
            // The rank is the initial TTL's place, whichever of the two is asked.
            let rank = super::initial_ttl_rank(ttl);
            assert_eq!(rank, super::initial_ttl_rank(initial), "{ttl}");
            assert_eq!([32, 64, 128, 255][rank], initial, "{ttl}");
        }
    }

    /// What Rust's (correctly rounding) parser makes of the exact decimal.
    fn parsed(n: u64) -> f64 {
        format!("{}.{:09}", n / 1_000_000_000, n % 1_000_000_000)
            .parse()
            .expect("a decimal parses")
    }

    #[test]
    fn seconds_are_the_nearest_double() {
        let t = |n| super::Timestamp(n).as_secs_f64();
        // 1700000000.000002 s: dividing the rounded nanoseconds gave
        // 1700000000.0000021.
        assert_eq!(
            t(1_700_000_000_000_002_000).to_string(),
            "1700000000.000002"
        );
        for n in [0, 1, (1 << 53) - 1, 1 << 53, (1 << 53) + 1, u64::MAX] {
            assert_eq!(t(n), parsed(n), "{n}");
        }
    }

    proptest::proptest! {
        #[test]
        fn seconds_round_as_the_parser_does(
            n in proptest::prelude::any::<u64>(),
            micros in 0u64..(1 << 32) * 1_000_000,
        ) {
            proptest::prop_assert_eq!(super::Timestamp(n).as_secs_f64(), parsed(n));
            let n = micros * 1000;
            proptest::prop_assert_eq!(super::Timestamp(n).as_secs_f64(), parsed(n));
        }
    }
}

//! Tunnels opened to reach the inner TCP: GRE (with ERSPAN, MPLS, PPP and
//! PPTP's enhanced GRE), EtherIP, VXLAN and VXLAN-GPE, Geneve, GTP-U,
//! L2TPv2, LISP, Teredo, and MPLS and GRE in UDP. IP-in-IP and MPLS-in-IP
//! need no header of their own and live in `ip`.

use super::ip::{self, Cx, IpHeader, TunnelLayer};
use super::link::{below_labels, ethernet, ethertype, mpls, ppp, up_to};
use super::tcp::Segments;
use super::{Skip, TunnelKind};

pub const VXLAN_PORT: u16 = 4789;
/// Linux's own VXLAN port, from before IANA assigned 4789: the kernel's
/// default where `ip link add ... type vxlan` names no port, and flannel's
/// and Cilium's default in Kubernetes clusters.
pub const VXLAN_LINUX_PORT: u16 = 8472;
pub const GENEVE_PORT: u16 = 6081;
/// GTP-U, the user plane of mobile networks' core (3GPP TS 29.281).
pub const GTP_U_PORT: u16 = 2152;
/// L2TP (RFC 2661), usually carrying a subscriber's PPP.
pub const L2TP_PORT: u16 = 1701;
/// VXLAN with a next-protocol field (VXLAN-GPE).
pub const VXLAN_GPE_PORT: u16 = 4790;
/// LISP data plane (RFC 9300).
pub const LISP_DATA_PORT: u16 = 4341;
/// Teredo (RFC 4380): IPv6 in UDP through NATs.
pub const TEREDO_PORT: u16 = 3544;
/// MPLS in UDP (RFC 7510), as segment-routed data centres and Linux's
/// foo-over-UDP carry it.
pub const MPLS_UDP_PORT: u16 = 6635;
/// GRE in UDP (RFC 8086).
pub const GRE_UDP_PORT: u16 = 4754;

/// The ports `udp` opens a tunnel at (as source or destination).
pub const UDP_TUNNEL_PORTS: [u16; 10] = [
    VXLAN_PORT,
    VXLAN_LINUX_PORT,
    GENEVE_PORT,
    GTP_U_PORT,
    L2TP_PORT,
    VXLAN_GPE_PORT,
    LISP_DATA_PORT,
    TEREDO_PORT,
    MPLS_UDP_PORT,
    GRE_UDP_PORT,
];

/// UDP tunnels by well-known port.
#[derive(Clone, Copy)]
enum UdpTunnel {
    Vxlan,
    VxlanGpe,
    Geneve,
    GtpU,
    L2tp,
    Lisp,
    Teredo,
    Mpls,
    Gre,
}

impl UdpTunnel {
    fn of_port(port: u16) -> Option<UdpTunnel> {
        match port {
            VXLAN_PORT | VXLAN_LINUX_PORT => Some(UdpTunnel::Vxlan),
            GENEVE_PORT => Some(UdpTunnel::Geneve),
            GTP_U_PORT => Some(UdpTunnel::GtpU),
            L2TP_PORT => Some(UdpTunnel::L2tp),
            VXLAN_GPE_PORT => Some(UdpTunnel::VxlanGpe),
            LISP_DATA_PORT => Some(UdpTunnel::Lisp),
            TEREDO_PORT => Some(UdpTunnel::Teredo),
            MPLS_UDP_PORT => Some(UdpTunnel::Mpls),
            GRE_UDP_PORT => Some(UdpTunnel::Gre),
            _ => None,
        }
    }

    fn kind(self) -> TunnelKind {
        match self {
            UdpTunnel::Vxlan => TunnelKind::Vxlan,
            UdpTunnel::VxlanGpe => TunnelKind::VxlanGpe,
            UdpTunnel::Geneve => TunnelKind::Geneve,
            UdpTunnel::GtpU => TunnelKind::GtpU,
            UdpTunnel::L2tp => TunnelKind::L2tp,
            UdpTunnel::Lisp => TunnelKind::Lisp,
            UdpTunnel::Teredo => TunnelKind::Teredo,
            UdpTunnel::Mpls => TunnelKind::MplsInUdp,
            // `gre` names it again, with its key.
            UdpTunnel::Gre => TunnelKind::Gre,
        }
    }

    /// The tunnel's identifier in `body` (see [`super::Tunnel::id`]), read
    /// before the header is checked: a header found wrong makes no record.
    fn id(self, body: &[u8]) -> Option<u32> {
        let word = |at: usize| {
            body.get(at..at + 4)
                .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        };
        match self {
            // The VNI: the word's top 24 bits.
            UdpTunnel::Vxlan | UdpTunnel::VxlanGpe | UdpTunnel::Geneve => word(4).map(|w| w >> 8),
            UdpTunnel::GtpU => word(4),
            // The instance ID, where the I flag says there is one.
            UdpTunnel::Lisp => word(4).filter(|_| body[0] & 0x08 != 0).map(|w| w >> 8),
            // Tunnel and session IDs, after the length where the L flag
            // says there is one.
            UdpTunnel::L2tp => word(if body[0] & 0x40 != 0 { 4 } else { 2 }),
            UdpTunnel::Teredo | UdpTunnel::Mpls | UdpTunnel::Gre => None,
        }
    }

    /// Whether `body` holds at least the tunnel's fixed header (Teredo's
    /// is the inner IPv6 header: its indicators are optional).
    fn header_fits(self, body: &[u8]) -> bool {
        let min = match self {
            UdpTunnel::Vxlan
            | UdpTunnel::VxlanGpe
            | UdpTunnel::Geneve
            | UdpTunnel::GtpU
            | UdpTunnel::Lisp => 8,
            // Flags and version, tunnel and session ids.
            UdpTunnel::L2tp => 6,
            UdpTunnel::Teredo => 40,
            // One label stack entry; GRE's flags and protocol.
            UdpTunnel::Mpls | UdpTunnel::Gre => 4,
        };
        body.len() >= min
    }
}

/// GRE protocol numbers for ERSPAN (Cisco's mirrored-traffic tunnels).
const ERSPAN_II: u16 = 0x88be;
const ERSPAN_III: u16 = 0x22eb;

mod gre_flag {
    pub const CHECKSUM: u16 = 0x8000;
    pub const ROUTING: u16 = 0x4000;
    pub const KEY: u16 = 0x2000;
    pub const SEQUENCE: u16 = 0x1000;
    /// Enhanced GRE (version 1) only: an acknowledgement number follows.
    pub const ACK: u16 = 0x0080;
    pub const VERSION: u16 = 0x0007;
}

/// A UDP datagram: a tunnel when either port is a tunnel's, the
/// destination port first (a tunnel's well-known port is where it is sent;
/// Wireshark tries the lower port first instead), otherwise not TCP.
///
/// Ordinary UDP uses these ports too (an old stack's or a NAT's ephemeral
/// source port, a DNS reply back to it): a datagram whose first bytes are
/// not that tunnel's header is counted as `not_tcp`, as the plain UDP it
/// is, rather than under whatever a forced decode of it would fail with.
/// Only a header that is that tunnel's makes its contents' skip reasons
/// count.
pub(super) fn udp<S: Segments>(
    cx: &Cx<'_>,
    outer: IpHeader<'_>,
    datagram: &[u8],
) -> Result<Option<S::Out>, Skip> {
    let (h, _) = datagram.split_first_chunk::<8>().ok_or(Skip::Truncated)?;
    let src_port = u16::from_be_bytes([h[0], h[1]]);
    let dst_port = u16::from_be_bytes([h[2], h[3]]);
    let Some(tunnel) = UdpTunnel::of_port(dst_port).or_else(|| UdpTunnel::of_port(src_port)) else {
        return Err(Skip::NotTcp);
    };
    let cx = &cx.deeper()?;
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    if len < 8 {
        return Err(Skip::BadHeaderLength);
    }
    // A datagram shorter than its length was cut by the snap length; the
    // inner IP header notices that for itself.
    let (body, cut) = match datagram.get(8..len) {
        Some(body) => (body, false),
        None => (datagram.get(8..).ok_or(Skip::Truncated)?, true),
    };
    // A tunnel header running past the end of the datagram: cut by the
    // snap length, or a datagram that was never that tunnel.
    let past_end = if cut { Skip::Truncated } else { Skip::NotTcp };
    if !tunnel.header_fits(body) {
        return Err(past_end);
    }
    let layer = TunnelLayer {
        kind: tunnel.kind(),
        id: tunnel.id(body),
        outer,
    };
    let cx = &cx.within(&layer);
    match tunnel {
        UdpTunnel::Vxlan => {
            // Flags (I: a VNI follows, which RFC 7348 requires), reserved,
            // VNI, reserved; the inner frame is Ethernet.
            let (h, inner) = body.split_first_chunk::<8>().ok_or(Skip::Truncated)?;
            if h[0] & VXLAN_I_FLAG == 0 {
                return Err(Skip::NotTcp);
            }
            ethernet::<S>(cx, inner)
        }
        UdpTunnel::VxlanGpe => vxlan_gpe::<S>(cx, body),
        UdpTunnel::Geneve => geneve::<S>(cx, body, past_end),
        UdpTunnel::GtpU => gtp_u::<S>(cx, body),
        UdpTunnel::L2tp => l2tp::<S>(cx, body),
        UdpTunnel::Lisp => {
            // Flags, nonce / map-version, instance id / locator bits; the
            // inner packet is IP, so anything else was not LISP.
            let (_, inner) = body.split_first_chunk::<8>().ok_or(Skip::Truncated)?;
            match inner.first().map(|b| b >> 4) {
                Some(4 | 6) => ip::any::<S>(cx, inner),
                None => Err(past_end),
                Some(_) => Err(Skip::NotTcp),
            }
        }
        UdpTunnel::Teredo => teredo::<S>(cx, body, past_end),
        // MPLS has no header of its own to recognise: a label stack that
        // does not end over IP was not MPLS. (An Ethernet pseudowire,
        // which MPLS in UDP rarely carries, is not told from it.)
        UdpTunnel::Mpls => match below_labels(body) {
            Ok(inner) if matches!(inner.first().map(|b| b >> 4), Some(4 | 6)) => {
                ip::any::<S>(cx, inner)
            }
            Ok([]) | Err(Skip::Truncated) => Err(past_end),
            _ => Err(Skip::NotTcp),
        },
        // GRE version 0 (RFC 8086) with its reserved bits clear, carrying
        // something `gre` opens: anything else was not GRE.
        UdpTunnel::Gre => {
            let flags = u16::from_be_bytes([body[0], body[1]]);
            let protocol = u16::from_be_bytes([body[2], body[3]]);
            if flags & 0x0fff != 0 || !GRE_IN_UDP_PROTOCOLS.contains(&protocol) {
                return Err(Skip::NotTcp);
            }
            gre::<S>(cx, outer, body)
        }
    }
}

/// What GRE in UDP is taken to carry: what `gre` opens.
const GRE_IN_UDP_PROTOCOLS: [u16; 8] = [
    ethertype::IPV4,
    ethertype::IPV6,
    ethertype::TEB,
    ethertype::MPLS,
    ethertype::MPLS_MULTICAST,
    ethertype::PPP,
    ERSPAN_II,
    ERSPAN_III,
];

/// VXLAN's and VXLAN-GPE's I flag: the VNI field is valid.
const VXLAN_I_FLAG: u8 = 0x08;

/// VXLAN-GPE: the `P` flag (0x04 of the first byte) says the fourth byte
/// names the payload (1 IPv4, 2 IPv6, 3 Ethernet, 5 MPLS); without it the
/// payload is Ethernet, as in VXLAN.
fn vxlan_gpe<S: Segments>(cx: &Cx<'_>, body: &[u8]) -> Result<Option<S::Out>, Skip> {
    let (h, inner) = body.split_first_chunk::<8>().ok_or(Skip::Truncated)?;
    // Version 0 (bits 0x30) with a VNI.
    if h[0] & 0x30 != 0 || h[0] & VXLAN_I_FLAG == 0 {
        return Err(Skip::NotTcp);
    }
    if h[0] & 0x04 == 0 {
        return ethernet::<S>(cx, inner);
    }
    match h[3] {
        1 => ip::v4::<S>(cx, inner),
        2 => ip::v6::<S>(cx, inner),
        3 => ethernet::<S>(cx, inner),
        5 => mpls::<S>(cx, inner),
        _ => Err(Skip::UnsupportedEncapsulation),
    }
}

/// Teredo: an IPv6 packet, possibly after an authentication indicator
/// (`00 01`, id and value lengths, id, value, 8-byte nonce, confirmation
/// byte) and an origin indication (`00 00` and six bytes); anything but
/// IPv6 after them was not Teredo.
fn teredo<S: Segments>(cx: &Cx<'_>, body: &[u8], past_end: Skip) -> Result<Option<S::Out>, Skip> {
    let mut rest = body;
    if let [0x00, 0x01, id_len, au_len, ..] = *rest {
        let len = 4 + usize::from(id_len) + usize::from(au_len) + 8 + 1;
        rest = rest.get(len..).ok_or(past_end)?;
    }
    if let [0x00, 0x00, ..] = *rest {
        rest = rest.get(8..).ok_or(past_end)?;
    }
    match rest.first() {
        Some(b) if b >> 4 == 6 => ip::v6::<S>(cx, rest),
        Some(_) => Err(Skip::NotTcp),
        None => Err(past_end),
    }
}

/// GTPv1-U: only G-PDUs (message type 255) carry a subscriber's packets;
/// echo, error and end-marker messages do not.
fn gtp_u<S: Segments>(cx: &Cx<'_>, body: &[u8]) -> Result<Option<S::Out>, Skip> {
    let (h, rest) = body.split_first_chunk::<8>().ok_or(Skip::Truncated)?;
    // Version 1, protocol type GTP: GTP' (type 0) has a port of its own,
    // so neither is GTP-U.
    if h[0] >> 4 != 0x3 {
        return Err(Skip::NotTcp);
    }
    if h[1] != 0xff {
        return Err(Skip::NotIp);
    }
    let (extension, sequence, n_pdu) = (h[0] & 4 != 0, h[0] & 2 != 0, h[0] & 1 != 0);
    let mut rest = rest;
    if extension || sequence || n_pdu {
        // Sequence number, N-PDU number, next extension header type: all
        // present when any flag is.
        let (opt, after) = rest.split_first_chunk::<4>().ok_or(Skip::Truncated)?;
        rest = after;
        let mut next = if extension { opt[3] } else { 0 };
        // Each extension header gives its length in 4-byte words and ends
        // with the next one's type; every step consumes at least 4 bytes.
        while next != 0 {
            let words = usize::from(*rest.first().ok_or(Skip::Truncated)?);
            if words == 0 {
                return Err(Skip::BadHeaderLength);
            }
            let (ext, after) = rest.split_at_checked(words * 4).ok_or(Skip::Truncated)?;
            next = ext.last().copied().unwrap_or(0);
            rest = after;
        }
    }
    ip::any::<S>(cx, rest)
}

/// L2TPv2 data messages carry PPP; control messages (T bit) and L2TPv3
/// (whose session headers cannot be read without the tunnel's setup) do
/// not get opened.
fn l2tp<S: Segments>(cx: &Cx<'_>, body: &[u8]) -> Result<Option<S::Out>, Skip> {
    let (h, mut rest) = body.split_first_chunk::<2>().ok_or(Skip::Truncated)?;
    let flags = u16::from_be_bytes(*h);
    match flags & 0x000f {
        2 => {}
        3 => return Err(Skip::UnsupportedEncapsulation),
        _ => return Err(Skip::NotTcp),
    }
    if flags & 0x8000 != 0 {
        return Err(Skip::NotIp);
    }
    fn skip(rest: &[u8], n: usize) -> Result<&[u8], Skip> {
        rest.get(n..).ok_or(Skip::Truncated)
    }
    if flags & 0x4000 != 0 {
        rest = skip(rest, 2)?; // length
    }
    rest = skip(rest, 4)?; // tunnel and session ids
    if flags & 0x0800 != 0 {
        rest = skip(rest, 4)?; // Ns, Nr
    }
    if flags & 0x0200 != 0 {
        let (size, after) = rest.split_first_chunk::<2>().ok_or(Skip::Truncated)?;
        rest = skip(after, usize::from(u16::from_be_bytes(*size)))?;
    }
    ppp::<S>(cx, rest)
}

/// Geneve (RFC 8926).
fn geneve<S: Segments>(cx: &Cx<'_>, body: &[u8], past_end: Skip) -> Result<Option<S::Out>, Skip> {
    let (h, _) = body.split_first_chunk::<8>().ok_or(Skip::Truncated)?;
    // Geneve has only ever had version 0.
    if h[0] >> 6 != 0 {
        return Err(Skip::NotTcp);
    }
    // Options are opaque to us; their total length is in 4-byte units.
    let options_len = usize::from(h[0] & 0x3f) * 4;
    let inner = body.get(8 + options_len..).ok_or(past_end)?;
    match u16::from_be_bytes([h[2], h[3]]) {
        ethertype::TEB => ethernet::<S>(cx, inner),
        ethertype::IPV4 => ip::v4::<S>(cx, inner),
        ethertype::IPV6 => ip::v6::<S>(cx, inner),
        _ => Err(Skip::UnsupportedEncapsulation),
    }
}

/// GRE: version 0 (RFC 2784 with the RFC 2890 key and sequence fields) and
/// PPTP's version 1.
pub(super) fn gre<S: Segments>(
    cx: &Cx<'_>,
    outer: IpHeader<'_>,
    packet: &[u8],
) -> Result<Option<S::Out>, Skip> {
    let (h, _) = packet.split_first_chunk::<4>().ok_or(Skip::Truncated)?;
    let flags = u16::from_be_bytes([h[0], h[1]]);
    let protocol = u16::from_be_bytes([h[2], h[3]]);
    match flags & gre_flag::VERSION {
        0 => {}
        1 => return pptp_gre::<S>(cx, outer, packet, flags, protocol),
        _ => return Err(Skip::UnsupportedEncapsulation),
    }
    let routing = flags & gre_flag::ROUTING != 0;
    // RFC 1701: the checksum word (checksum and routing offset) is there
    // when either the checksum or the routing bit is set.
    let checksum_word = flags & gre_flag::CHECKSUM != 0 || routing;
    let words = [
        checksum_word,
        flags & gre_flag::KEY != 0,
        flags & gre_flag::SEQUENCE != 0,
    ]
    .iter()
    .filter(|&&present| present)
    .count();
    let key_at = 4 + 4 * usize::from(checksum_word);
    let key = packet
        .get(key_at..key_at + 4)
        .filter(|_| flags & gre_flag::KEY != 0)
        .map(|k| u32::from_be_bytes([k[0], k[1], k[2], k[3]]));
    let mut at = 4 + 4 * words;
    if routing {
        at = after_source_routes(packet, at)?;
    }
    let inner = packet.get(at..).ok_or(Skip::Truncated)?;
    let (kind, id) = match protocol {
        // Type I has no header of its own; II and III name their session
        // in their second half-word's low ten bits.
        ERSPAN_II if flags & gre_flag::SEQUENCE == 0 => (TunnelKind::Erspan, key),
        ERSPAN_II | ERSPAN_III => (
            TunnelKind::Erspan,
            inner
                .get(2..4)
                .map(|s| u32::from(u16::from_be_bytes([s[0], s[1]]) & 0x3ff)),
        ),
        _ => (TunnelKind::Gre, key),
    };
    let layer = TunnelLayer { kind, id, outer };
    let cx = &cx.within(&layer);
    match protocol {
        ethertype::IPV4 => ip::v4::<S>(cx, inner),
        ethertype::IPV6 => ip::v6::<S>(cx, inner),
        ethertype::TEB => ethernet::<S>(cx, inner),
        ethertype::MPLS | ethertype::MPLS_MULTICAST => mpls::<S>(cx, inner),
        ethertype::PPP => ppp::<S>(cx, inner),
        // ERSPAN type I has no header of its own and no GRE sequence
        // number; type II adds both.
        ERSPAN_II if flags & gre_flag::SEQUENCE == 0 => ethernet::<S>(cx, inner),
        ERSPAN_II => erspan_ii::<S>(cx, inner),
        ERSPAN_III => erspan_iii::<S>(cx, inner),
        _ => Err(Skip::UnsupportedEncapsulation),
    }
}

/// PPTP's enhanced GRE (RFC 2637 4.1, version 1): the key field holds the
/// payload length and call ID, an optional sequence and acknowledgement
/// number follow, then a PPP frame. A packet that only acknowledges
/// carries no payload: not IP. PPTP usually encrypts its PPP frames (MPPE,
/// PPP protocol 0x00fd), which synprint cannot open.
fn pptp_gre<S: Segments>(
    cx: &Cx<'_>,
    outer: IpHeader<'_>,
    packet: &[u8],
    flags: u16,
    protocol: u16,
) -> Result<Option<S::Out>, Skip> {
    if protocol != ethertype::PPP
        || flags & (gre_flag::CHECKSUM | gre_flag::ROUTING | gre_flag::KEY) != gre_flag::KEY
    {
        return Err(Skip::UnsupportedEncapsulation);
    }
    let (key, _) = packet
        .get(4..)
        .and_then(|k| k.split_first_chunk::<4>())
        .ok_or(Skip::Truncated)?;
    let payload_len = usize::from(u16::from_be_bytes([key[0], key[1]]));
    let words = [gre_flag::SEQUENCE, gre_flag::ACK]
        .iter()
        .filter(|&&bit| flags & bit != 0)
        .count();
    let body = packet.get(8 + 4 * words..).ok_or(Skip::Truncated)?;
    if payload_len == 0 {
        return Err(Skip::NotIp);
    }
    let layer = TunnelLayer {
        kind: TunnelKind::Pptp,
        id: Some(u32::from(u16::from_be_bytes([key[2], key[3]]))),
        outer,
    };
    ppp::<S>(&cx.within(&layer), up_to(body, payload_len))
}

/// EtherIP (RFC 3378): a two-byte header, then an Ethernet frame. The
/// header's version (3) is not checked: FreeBSD 6.1 to 7.1 sent it in the
/// wrong nibble (`03 00`) and its gif(4) still accepts that, and Wireshark
/// decodes the frame whatever the version says.
pub(super) fn etherip<S: Segments>(cx: &Cx<'_>, packet: &[u8]) -> Result<Option<S::Out>, Skip> {
    let frame = packet.get(2..).ok_or(Skip::Truncated)?;
    ethernet::<S>(cx, frame)
}

/// Where RFC 1701's source route entries starting at `at` end: each is an
/// address family, an offset and a length byte, then that many bytes; a
/// family and length of zero ends the list. Every entry moves on by at least
/// four bytes, so a list that never ends runs off the packet.
fn after_source_routes(packet: &[u8], mut at: usize) -> Result<usize, Skip> {
    loop {
        let sre = packet.get(at..at + 4).ok_or(Skip::Truncated)?;
        let (family, len) = (u16::from_be_bytes([sre[0], sre[1]]), sre[3]);
        at += 4 + usize::from(len);
        if family == 0 && len == 0 {
            return Ok(at);
        }
    }
}

fn erspan_ii<S: Segments>(cx: &Cx<'_>, body: &[u8]) -> Result<Option<S::Out>, Skip> {
    let (h, frame) = body.split_first_chunk::<8>().ok_or(Skip::Truncated)?;
    if h[0] >> 4 != 1 {
        return Err(Skip::UnsupportedEncapsulation);
    }
    ethernet::<S>(cx, frame)
}

fn erspan_iii<S: Segments>(cx: &Cx<'_>, body: &[u8]) -> Result<Option<S::Out>, Skip> {
    let (h, rest) = body.split_first_chunk::<12>().ok_or(Skip::Truncated)?;
    if h[0] >> 4 != 2 {
        return Err(Skip::UnsupportedEncapsulation);
    }
    // Last word: SGT(16) P(1) FT(5) HwID(6) D(1) Gra(2) O(1).
    let frame_type = (h[10] >> 2) & 0x1f;
    let has_subheader = h[11] & 1 != 0;
    let frame = if has_subheader {
        rest.get(8..).ok_or(Skip::Truncated)?
    } else {
        rest
    };
    match frame_type {
        0 => ethernet::<S>(cx, frame),
        2 => ip::any::<S>(cx, frame),
        _ => Err(Skip::UnsupportedEncapsulation),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The live capture's kernel filter passes the ports in the list: it
    /// must be exactly the ports `udp` opens.
    #[test]
    fn the_port_list_is_the_ports_opened() {
        for port in 0..=u16::MAX {
            assert_eq!(
                UdpTunnel::of_port(port).is_some(),
                UDP_TUNNEL_PORTS.contains(&port),
                "port {port}"
            );
        }
    }
}

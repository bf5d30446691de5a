//! Wrapping an IP packet in the link layers and tunnels synprint decodes,
//! so tests can build a frame of every kind from one crafted packet.

use crate::packet::LinkType;

use super::internet_checksum;

/// Outer addresses of crafted tunnels (documentation ranges).
const OUTER_V4: ([u8; 4], [u8; 4]) = ([203, 0, 113, 1], [203, 0, 113, 2]);
const OUTER_V6: ([u8; 16], [u8; 16]) = (
    [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
    ],
    [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
    ],
);

const MAC_DST: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const MAC_SRC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

/// Whether `ip` is an IPv6 packet (by its version nibble).
fn is_ipv6(ip: &[u8]) -> bool {
    ip.first().map(|b| b >> 4) == Some(6)
}

fn ethertype_of(ip: &[u8]) -> u16 {
    if is_ipv6(ip) {
        0x86dd
    } else {
        0x0800
    }
}

/// Ethernet II with the given VLAN tags (outermost first): each is
/// (TPID, VLAN id). EtherType from the packet's version nibble.
pub fn ethernet_tagged(ip: &[u8], tags: &[(u16, u16)]) -> Vec<u8> {
    ethernet(tags, ethertype_of(ip), ip)
}

/// An 802.3 frame carrying `ip`: after any VLAN `tags`, the length of what
/// follows where Ethernet II has its EtherType, then LLC/SNAP (RFC 1042)
/// naming the EtherType.
pub fn ethernet_8023(ip: &[u8], tags: &[(u16, u16)]) -> Vec<u8> {
    let mut llc = vec![0xaa, 0xaa, 0x03, 0, 0, 0];
    llc.extend_from_slice(&ethertype_of(ip).to_be_bytes());
    llc.extend_from_slice(ip);
    let len = u16::try_from(llc.len()).unwrap_or(u16::MAX);
    ethernet(tags, len, &llc)
}

/// Ethernet II with VLAN `tags` carrying `payload` as `ethertype`.
fn ethernet(tags: &[(u16, u16)], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 4 * tags.len() + payload.len());
    f.extend_from_slice(&MAC_DST);
    f.extend_from_slice(&MAC_SRC);
    for &(tpid, vid) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Linux cooked capture v1 header (an incoming packet from a 6-byte
/// hardware address).
pub fn linux_sll(ip: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(16 + ip.len());
    f.extend_from_slice(&0u16.to_be_bytes()); // to us
    f.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
    f.extend_from_slice(&6u16.to_be_bytes());
    f.extend_from_slice(&MAC_SRC);
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&ethertype_of(ip).to_be_bytes());
    f.extend_from_slice(ip);
    f
}

/// Linux cooked capture v2 header.
pub fn linux_sll2(ip: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(20 + ip.len());
    f.extend_from_slice(&ethertype_of(ip).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&2u32.to_be_bytes()); // ifindex
    f.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
    f.push(0); // to us
    f.push(6);
    f.extend_from_slice(&MAC_SRC);
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(ip);
    f
}

/// BSD loopback header: the address family as a 4-byte integer in the
/// chosen byte order (LINKTYPE_NULL uses the writer's, LINKTYPE_LOOP
/// network order).
pub fn bsd_loopback(ip: &[u8], family: u32, big_endian: bool) -> Vec<u8> {
    let mut f = Vec::with_capacity(4 + ip.len());
    if big_endian {
        f.extend_from_slice(&family.to_be_bytes());
    } else {
        f.extend_from_slice(&family.to_le_bytes());
    }
    f.extend_from_slice(ip);
    f
}

/// An outer IPv4 header (protocol `proto`) around `payload`.
pub fn ipv4_outer(proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&[0x43, 0x21, 0x40, 0, 64, proto, 0, 0]);
    p.extend_from_slice(&OUTER_V4.0);
    p.extend_from_slice(&OUTER_V4.1);
    let sum = internet_checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An outer IPv6 header (next header `next`) around `payload`.
pub fn ipv6_outer(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(40 + payload.len());
    p.extend_from_slice(&0x6000_0000u32.to_be_bytes());
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.push(next);
    p.push(64);
    p.extend_from_slice(&OUTER_V6.0);
    p.extend_from_slice(&OUTER_V6.1);
    p.extend_from_slice(payload);
    p
}

/// A UDP header (checksum 0, allowed over IPv4) around `payload`.
pub fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&src_port.to_be_bytes());
    u.extend_from_slice(&dst_port.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// Optional GRE fields; the flags follow from which are present.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GreFields {
    pub checksum: bool,
    pub key: Option<u32>,
    pub sequence: Option<u32>,
    /// RFC 1701 source routing: one entry of two IPv4 addresses, then the
    /// entry that ends the list.
    pub routing: bool,
}

/// A GRE header (version 0) carrying `protocol` around `payload`.
pub fn gre(protocol: u16, fields: GreFields, payload: &[u8]) -> Vec<u8> {
    let mut flags = 0u16;
    if fields.checksum {
        flags |= 0x8000;
    }
    if fields.key.is_some() {
        flags |= 0x2000;
    }
    if fields.sequence.is_some() {
        flags |= 0x1000;
    }
    if fields.routing {
        flags |= 0x4000;
    }
    let mut g = Vec::with_capacity(16 + payload.len());
    g.extend_from_slice(&flags.to_be_bytes());
    g.extend_from_slice(&protocol.to_be_bytes());
    let checksum_at = g.len();
    if fields.checksum || fields.routing {
        g.extend_from_slice(&[0, 0, 0, 0]);
    }
    if let Some(key) = fields.key {
        g.extend_from_slice(&key.to_be_bytes());
    }
    if let Some(seq) = fields.sequence {
        g.extend_from_slice(&seq.to_be_bytes());
    }
    if fields.routing {
        // Family IPv4, offset 0, eight bytes: 192.0.2.1 and 192.0.2.2.
        g.extend_from_slice(&[0x08, 0x00, 0, 8, 192, 0, 2, 1, 192, 0, 2, 2]);
        g.extend_from_slice(&[0, 0, 0, 0]);
    }
    g.extend_from_slice(payload);
    if fields.checksum {
        let sum = internet_checksum(&g);
        g[checksum_at..checksum_at + 2].copy_from_slice(&sum.to_be_bytes());
    }
    g
}

/// PPTP's enhanced GRE (RFC 2637, version 1, call ID 0x0b0b) around a PPP
/// frame, with a sequence number and, when `ack` is given, an
/// acknowledgement number.
pub fn pptp_gre(ppp_frame: &[u8], sequence: u32, ack: Option<u32>) -> Vec<u8> {
    let flags: u16 = 0x2000 | 0x1000 | if ack.is_some() { 0x0080 } else { 0 } | 1;
    let mut g = Vec::with_capacity(16 + ppp_frame.len());
    g.extend_from_slice(&flags.to_be_bytes());
    g.extend_from_slice(&0x880bu16.to_be_bytes());
    g.extend_from_slice(&(ppp_frame.len() as u16).to_be_bytes());
    g.extend_from_slice(&0x0b0bu16.to_be_bytes());
    g.extend_from_slice(&sequence.to_be_bytes());
    if let Some(ack) = ack {
        g.extend_from_slice(&ack.to_be_bytes());
    }
    g.extend_from_slice(ppp_frame);
    g
}

/// EtherIP's header (RFC 3378: version 3) before an Ethernet frame; goes
/// in IP protocol 97.
pub fn etherip(frame: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(2 + frame.len());
    f.extend_from_slice(&[0x30, 0x00]);
    f.extend_from_slice(frame);
    f
}

/// ERSPAN type II header (version 1, class of service 5, session 257)
/// before a mirrored Ethernet frame; goes in GRE protocol 0x88be with a
/// sequence number.
pub fn erspan_ii(frame: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(8 + frame.len());
    e.extend_from_slice(&[0x10, 0x00, 0xa9, 0x01]);
    e.extend_from_slice(&[0x00, 0x00, 0x00, 0x00]);
    e.extend_from_slice(frame);
    e
}

/// ERSPAN type III header (version 2, class of service 5, session 257,
/// frame type Ethernet) before a mirrored frame, with the optional 8-byte
/// platform subheader when asked; goes in GRE protocol 0x22eb.
pub fn erspan_iii(frame: &[u8], subheader: bool) -> Vec<u8> {
    let mut e = Vec::with_capacity(20 + frame.len());
    e.extend_from_slice(&[0x20, 0x00, 0xa9, 0x01]);
    e.extend_from_slice(&0x0102_0304u32.to_be_bytes()); // timestamp
    e.extend_from_slice(&[0x00, 0x00, 0x00, u8::from(subheader)]);
    if subheader {
        // Platform id 3 with a 4-byte timestamp-seconds field.
        e.extend_from_slice(&[0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]);
    }
    e.extend_from_slice(frame);
    e
}

/// VXLAN header (VNI 42) before an Ethernet frame; goes in UDP port 4789.
pub fn vxlan(frame: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + frame.len());
    v.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 42, 0]);
    v.extend_from_slice(frame);
    v
}

/// Geneve header (VNI 42) with `option_words` 4-byte words of opaque
/// options; goes in UDP port 6081.
pub fn geneve(protocol: u16, option_words: u8, payload: &[u8]) -> Vec<u8> {
    let words = option_words & 0x3f;
    let mut g = Vec::with_capacity(8 + 4 * usize::from(words) + payload.len());
    g.push(words);
    g.push(0);
    g.extend_from_slice(&protocol.to_be_bytes());
    g.extend_from_slice(&[0, 0, 42, 0]);
    if words > 0 {
        // One option (class 0x0103, type 1) filling the option space.
        g.extend_from_slice(&[0x01, 0x03, 0x01, words - 1]);
        g.resize(g.len() + 4 * usize::from(words - 1), 0xab);
    }
    g.extend_from_slice(payload);
    g
}

/// IPv6 extension headers synprint walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv6Ext {
    HopByHop,
    /// Type 0 routing header with no addresses left to visit.
    Routing,
    DestinationOptions,
    /// Fragment header with this offset (in 8-byte units) and M flag.
    Fragment {
        offset: u16,
        more: bool,
    },
    /// A Shim6 payload extension header (RFC 5533: P bit set, receiver
    /// context tag 1), the form that carries upper-layer data.
    Shim6,
    /// Another header of the generic layout (length in eight-byte units
    /// after the first eight), with this number: 135 mobility, 139 HIP.
    Generic(u8),
    /// A hop-by-hop (0) or destination-options (60) header of this many
    /// eight-byte units after the first eight (at most 31), filled with
    /// one PadN option.
    PaddedOptions {
        number: u8,
        units: u8,
    },
}

impl Ipv6Ext {
    fn number(self) -> u8 {
        match self {
            Ipv6Ext::HopByHop => 0,
            Ipv6Ext::Routing => 43,
            Ipv6Ext::DestinationOptions => 60,
            Ipv6Ext::Fragment { .. } => 44,
            Ipv6Ext::Shim6 => 140,
            Ipv6Ext::Generic(n) => n,
            Ipv6Ext::PaddedOptions { number, .. } => number,
        }
    }
}

/// Inserts extension headers (eight bytes each unless padded, in the given order) between
/// an IPv6 packet's fixed header and its payload, fixing up the next-header
/// chain and the payload length. Panics if `ip6` is not an IPv6 packet
/// (this is a test helper).
pub fn ipv6_with_extensions(ip6: &[u8], exts: &[Ipv6Ext]) -> Vec<u8> {
    assert!(ip6.len() >= 40 && ip6[0] >> 4 == 6, "not an IPv6 packet");
    let mut p = ip6[..40].to_vec();
    let upper = ip6[6];
    if let Some(first) = exts.first() {
        p[6] = first.number();
    }
    for (i, ext) in exts.iter().enumerate() {
        let next = exts.get(i + 1).map_or(upper, |e| e.number());
        match *ext {
            Ipv6Ext::HopByHop | Ipv6Ext::DestinationOptions => {
                // PadN filling the six option bytes.
                p.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
            }
            Ipv6Ext::Routing => p.extend_from_slice(&[next, 0, 0, 0, 0, 0, 0, 0]),
            Ipv6Ext::Shim6 => p.extend_from_slice(&[next, 0, 0x80, 0, 0, 0, 0, 1]),
            Ipv6Ext::Generic(_) => p.extend_from_slice(&[next, 0, 0, 0, 0, 0, 0, 0]),
            Ipv6Ext::PaddedOptions { units, .. } => {
                assert!(units <= 31, "one PadN option fills at most 257 bytes");
                let pad = 6 + 8 * usize::from(units);
                p.extend_from_slice(&[next, units, 1, (pad - 2) as u8]);
                p.resize(p.len() + pad - 2, 0);
            }
            Ipv6Ext::Fragment { offset, more } => {
                let field = (offset << 3) | u16::from(more);
                p.extend_from_slice(&[next, 0]);
                p.extend_from_slice(&field.to_be_bytes());
                p.extend_from_slice(&0x0bad_cafeu32.to_be_bytes());
            }
        }
    }
    p.extend_from_slice(&ip6[40..]);
    let payload_len = (p.len() - 40) as u16;
    p[4..6].copy_from_slice(&payload_len.to_be_bytes());
    p
}

/// The IP packet with an IPsec authentication header (RFC 4302; SPI,
/// sequence number and a 12-byte ICV) between its IP header (and, for
/// IPv6, its extension headers: none here) and its payload. Panics on a
/// packet that is not IP (this is a test helper).
pub fn with_auth_header(ip: &[u8]) -> Vec<u8> {
    let v6 = is_ipv6(ip);
    let header_len = if v6 {
        40
    } else {
        usize::from(ip[0] & 0x0f) * 4
    };
    let next_at = if v6 { 6 } else { 9 };
    let mut ah = vec![ip[next_at], 4, 0, 0];
    ah.extend_from_slice(&0x0000_1001u32.to_be_bytes());
    ah.extend_from_slice(&7u32.to_be_bytes());
    ah.extend_from_slice(&[0xa5; 12]);
    let mut p = ip[..header_len].to_vec();
    p[next_at] = 51;
    p.extend_from_slice(&ah);
    p.extend_from_slice(&ip[header_len..]);
    if v6 {
        let payload_len = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&payload_len.to_be_bytes());
    } else {
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[10..12].copy_from_slice(&[0, 0]);
        let sum = internet_checksum(&p[..header_len]);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// PPP's protocol number for the packet's IP version.
fn ppp_protocol_of(ip: &[u8]) -> u16 {
    if is_ipv6(ip) {
        0x0057
    } else {
        0x0021
    }
}

/// A PPP frame: RFC 1662's `ff 03` when `framed`, then the protocol, two
/// bytes or (`compressed`, RFC 1661 6.5) one.
pub fn ppp(ip: &[u8], framed: bool, compressed: bool) -> Vec<u8> {
    let mut f = Vec::with_capacity(4 + ip.len());
    if framed {
        f.extend_from_slice(&[0xff, 0x03]);
    }
    let protocol = ppp_protocol_of(ip);
    if compressed {
        f.push(protocol as u8);
    } else {
        f.extend_from_slice(&protocol.to_be_bytes());
    }
    f.extend_from_slice(ip);
    f
}

/// A PPPoE session header (session 0x1234) around a PPP frame without
/// address and control bytes.
pub fn pppoe_session(ip: &[u8]) -> Vec<u8> {
    let body = ppp(ip, false, false);
    let mut f = Vec::with_capacity(6 + body.len());
    f.extend_from_slice(&[0x11, 0x00, 0x12, 0x34]);
    f.extend_from_slice(&(body.len() as u16).to_be_bytes());
    f.extend_from_slice(&body);
    f
}

/// An MPLS label stack (outermost first, TTL 64) around `payload`.
pub fn mpls(labels: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(4 * labels.len() + payload.len());
    for (i, &label) in labels.iter().enumerate() {
        let bottom = u32::from(i + 1 == labels.len());
        f.extend_from_slice(&((label << 12) | (bottom << 8) | 64).to_be_bytes());
    }
    f.extend_from_slice(payload);
    f
}

/// A GTPv1-U G-PDU (TEID 0x01020304) around an IP packet, with a sequence
/// number and a PDU session container extension header (5G), as a core
/// network's user plane sends them.
pub fn gtp_u(ip: &[u8]) -> Vec<u8> {
    let mut g = Vec::with_capacity(20 + ip.len());
    // Version 1, GTP, E and S flags; G-PDU.
    g.extend_from_slice(&[0x36, 0xff]);
    g.extend_from_slice(&((8 + ip.len()) as u16).to_be_bytes());
    g.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    // Sequence number 7, N-PDU 0, next extension: PDU session container.
    g.extend_from_slice(&[0x00, 0x07, 0x00, 0x85]);
    // One word: length, PDU type/QFI, QFI 9, no next extension.
    g.extend_from_slice(&[0x01, 0x10, 0x09, 0x00]);
    g.extend_from_slice(ip);
    g
}

/// An L2TPv2 data message with length and sequence fields (tunnel 7,
/// session 9) around PPP in HDLC-like framing.
pub fn l2tp(ip: &[u8]) -> Vec<u8> {
    let body = ppp(ip, true, false);
    let mut l = Vec::with_capacity(12 + body.len());
    l.extend_from_slice(&0x4802u16.to_be_bytes());
    l.extend_from_slice(&((12 + body.len()) as u16).to_be_bytes());
    l.extend_from_slice(&[0x00, 0x07, 0x00, 0x09, 0x00, 0x01, 0x00, 0x02]);
    l.extend_from_slice(&body);
    l
}

/// A VXLAN-GPE header (VNI 42): with `next` the P flag and the next
/// protocol (1 IPv4, 2 IPv6, 3 Ethernet, 5 MPLS), without it plain VXLAN
/// semantics (Ethernet).
pub fn vxlan_gpe(next: Option<u8>, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + payload.len());
    let flags = 0x08 | if next.is_some() { 0x04 } else { 0 };
    v.extend_from_slice(&[flags, 0, 0, next.unwrap_or(0), 0, 0, 42, 0]);
    v.extend_from_slice(payload);
    v
}

/// A LISP data header (nonce present, instance id 7) around an IP packet.
pub fn lisp(ip: &[u8]) -> Vec<u8> {
    let mut l = Vec::with_capacity(8 + ip.len());
    l.extend_from_slice(&[0x88, 0x12, 0x34, 0x56, 0x00, 0x00, 0x07, 0x01]);
    l.extend_from_slice(ip);
    l
}

/// A Teredo payload: an IPv6 packet, after an authentication indicator
/// (client id "ab", authentication value "xyz") and an origin indication
/// when asked.
pub fn teredo(ip6: &[u8], authentication: bool, origin: bool) -> Vec<u8> {
    let mut t = Vec::with_capacity(40 + ip6.len());
    if authentication {
        t.extend_from_slice(&[0x00, 0x01, 2, 3]);
        t.extend_from_slice(b"abxyz");
        t.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 0]);
    }
    if origin {
        t.extend_from_slice(&[0x00, 0x00, 0xe2, 0x3c, 0x3f, 0xff, 0x8d, 0xfe]);
    }
    t.extend_from_slice(ip6);
    t
}

/// An unprotected IEEE 802.11 data frame carrying `ip` after LLC/SNAP:
/// to the access point (ToDS) as a plain data frame, or from it (FromDS) as
/// a QoS data frame.
pub fn wifi_data(ip: &[u8], qos: bool) -> Vec<u8> {
    let mut f = Vec::with_capacity(40 + ip.len());
    if qos {
        f.extend_from_slice(&[0x88, 0x02]); // QoS data, FromDS
    } else {
        f.extend_from_slice(&[0x08, 0x01]); // data, ToDS
    }
    f.extend_from_slice(&[0x00, 0x00]); // duration
    f.extend_from_slice(&MAC_DST);
    f.extend_from_slice(&MAC_SRC);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x03]);
    f.extend_from_slice(&[0x10, 0x00]); // sequence control
    if qos {
        f.extend_from_slice(&[0x05, 0x00]); // QoS control: TID 5
    }
    f.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0]);
    f.extend_from_slice(&ethertype_of(ip).to_be_bytes());
    f.extend_from_slice(ip);
    f
}

/// A minimal radiotap header (no fields present) before an 802.11 frame.
pub fn radiotap(frame: &[u8]) -> Vec<u8> {
    let mut r = vec![0, 0, 8, 0, 0, 0, 0, 0];
    r.extend_from_slice(frame);
    r
}

/// A netfilter log message (resource id 5): a packet header attribute,
/// then the packet; attributes in the capturing host's byte order, which is
/// the capture file's (`big_endian`).
pub fn nflog(ip: &[u8], big_endian: bool) -> Vec<u8> {
    let host = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let family = if is_ipv6(ip) { 10 } else { 2 };
    let mut f = vec![family, 0, 0, 5];
    // NFULA_PACKET_HDR: hardware protocol, hook, pad.
    f.extend_from_slice(&host(8));
    f.extend_from_slice(&host(1));
    f.extend_from_slice(&ethertype_of(ip).to_be_bytes());
    f.extend_from_slice(&[1, 0]);
    // NFULA_PAYLOAD, padded to four bytes.
    f.extend_from_slice(&host((4 + ip.len()) as u16));
    f.extend_from_slice(&host(9));
    f.extend_from_slice(ip);
    f.resize(f.len().next_multiple_of(4), 0);
    f
}

/// A pf log header (OpenBSD's layout: 61 bytes used, padded to 64; rule
/// 3 passed the packet inbound on `em0`) before an IP packet.
pub fn pflog(ip: &[u8]) -> Vec<u8> {
    let v6 = is_ipv6(ip);
    let mut h = vec![0u8; 64];
    h[0] = 61; // header length
    h[1] = if v6 { 24 } else { 2 }; // AF_INET6 on OpenBSD, AF_INET
    h[2] = 0; // action: pass
    h[3] = 0; // reason: match
    h[4..7].copy_from_slice(b"em0");
    h[36..40].copy_from_slice(&3u32.to_be_bytes()); // rule number
    h[40..44].copy_from_slice(&u32::MAX.to_be_bytes()); // no sub-rule
    h[60] = 1; // direction: in
    h.extend_from_slice(ip);
    h
}

/// A PKTAP header of the shortest length (108 bytes, little-endian,
/// interface `en0`, process 4242 `curl`) before a frame of link type
/// `link`.
pub fn pktap(link: LinkType, frame: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 108];
    h[0..4].copy_from_slice(&108u32.to_le_bytes());
    h[4..8].copy_from_slice(&1u32.to_le_bytes()); // a packet follows
    h[8..12].copy_from_slice(&link.0.to_le_bytes());
    h[12..15].copy_from_slice(b"en0");
    h[52..56].copy_from_slice(&4242u32.to_le_bytes()); // pid
    h[56..60].copy_from_slice(b"curl");
    h.extend_from_slice(frame);
    h
}

/// Every way of carrying an IP packet that synprint decodes, for tests
/// that want one frame of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encapsulation {
    Ethernet,
    Vlan,
    /// 802.1ad outer tag + 802.1Q inner tag.
    QinQ,
    /// The pre-standard 0x9100 outer tag.
    QinQ9100,
    LinuxSll,
    LinuxSll2,
    /// LINKTYPE_NULL, little-endian family (FreeBSD AF_INET6 = 28).
    NullLe,
    /// LINKTYPE_NULL, big-endian family (macOS AF_INET6 = 30).
    NullBe,
    /// LINKTYPE_LOOP (OpenBSD AF_INET6 = 24).
    Loop,
    Raw,
    /// LINKTYPE_IPV4 / LINKTYPE_IPV6, picked by the packet's version.
    RawVersioned,
    /// IP-in-IPv4 (protocol 4 or 41).
    IpInIpv4,
    /// IP-in-IPv6.
    IpInIpv6,
    /// Ethernet, an IPsec authentication header after the IP header.
    AuthHeader,
    /// GRE with checksum, key and sequence, over IPv4.
    Gre,
    /// GRE over IPv6 carrying transparent Ethernet.
    GreEthernet,
    /// GRE with RFC 1701's source routing and a key, over IPv4.
    GreRouted,
    /// ERSPAN type I: GRE 0x88be without a sequence number nor a header.
    ErspanI,
    ErspanII,
    ErspanIII,
    ErspanIIISubheader,
    Vxlan,
    /// Geneve with options, carrying Ethernet.
    GeneveEthernet,
    /// Geneve carrying the IP packet directly.
    GeneveIp,
    /// VXLAN inside GRE inside a VLAN-tagged frame.
    Nested,
    /// VLAN-tagged 802.3 with LLC/SNAP (a length for the type).
    Ieee8023,
    /// PPPoE session over Ethernet (DSL subscribers).
    Pppoe,
    /// Two MPLS labels over Ethernet.
    Mpls,
    /// An MPLS Ethernet pseudowire without control word, between two
    /// Cisco MAC addresses (the first nibble is 0, as in a control word).
    /// With a control word the frame is not here: Wireshark, the oracle
    /// of the tests that use this list, tells the two apart by whether
    /// the MAC addresses' vendors are known, which is not synprint's rule.
    MplsPseudowire,
    /// GRE carrying MPLS.
    GreMpls,
    /// MPLS-in-IP (IP protocol 137), over IPv6.
    MplsInIp,
    /// MPLS in UDP (port 6635), over IPv6.
    MplsInUdp,
    /// GRE with a key in UDP (port 4754).
    GreInUdp,
    /// GRE (version 0) carrying PPP.
    GrePpp,
    /// PPTP's enhanced GRE carrying PPP, with an acknowledgement number.
    PptpGre,
    /// EtherIP (IP protocol 97).
    EtherIp,
    /// LINKTYPE_PPP with `ff 03`.
    Ppp,
    /// LINKTYPE_PPP without `ff 03` and with a one-byte protocol.
    PppCompressed,
    /// LINKTYPE_PPP carrying MPLS.
    PppMpls,
    /// LINKTYPE_PPP_HDLC.
    PppHdlc,
    /// LINKTYPE_PPP_ETHER: PPPoE without Ethernet.
    PppEther,
    /// LINKTYPE_PPP_WITH_DIR.
    PppWithDir,
    /// LINKTYPE_C_HDLC (Cisco HDLC).
    CiscoHdlc,
    /// GTPv1-U with a sequence number and an extension header.
    GtpU,
    /// L2TPv2 carrying PPP.
    L2tp,
    /// VXLAN-GPE naming the inner IP version.
    VxlanGpe,
    /// VXLAN-GPE carrying Ethernet (next protocol 3).
    VxlanGpeEthernet,
    /// LISP data plane.
    Lisp,
    /// LINKTYPE_IEEE802_11: a data frame to the access point.
    Wifi,
    /// LINKTYPE_IEEE802_11_RADIOTAP: a QoS data frame from the access point.
    WifiRadiotap,
    /// LINKTYPE_PFLOG (OpenBSD/FreeBSD pf's log).
    Pflog,
    /// LINKTYPE_PKTAP (macOS): Ethernet under the header for IPv4, BSD
    /// loopback (macOS's AF_INET6, 30) for IPv6.
    Pktap,
}

impl Encapsulation {
    pub const ALL: [Encapsulation; 52] = [
        Encapsulation::Ethernet,
        Encapsulation::Vlan,
        Encapsulation::QinQ,
        Encapsulation::QinQ9100,
        Encapsulation::LinuxSll,
        Encapsulation::LinuxSll2,
        Encapsulation::NullLe,
        Encapsulation::NullBe,
        Encapsulation::Loop,
        Encapsulation::Raw,
        Encapsulation::RawVersioned,
        Encapsulation::IpInIpv4,
        Encapsulation::IpInIpv6,
        Encapsulation::AuthHeader,
        Encapsulation::Gre,
        Encapsulation::GreEthernet,
        Encapsulation::GreRouted,
        Encapsulation::ErspanI,
        Encapsulation::ErspanII,
        Encapsulation::ErspanIII,
        Encapsulation::ErspanIIISubheader,
        Encapsulation::Vxlan,
        Encapsulation::GeneveEthernet,
        Encapsulation::GeneveIp,
        Encapsulation::Nested,
        Encapsulation::Ieee8023,
        Encapsulation::Pppoe,
        Encapsulation::Mpls,
        Encapsulation::MplsPseudowire,
        Encapsulation::GreMpls,
        Encapsulation::MplsInIp,
        Encapsulation::MplsInUdp,
        Encapsulation::GreInUdp,
        Encapsulation::GrePpp,
        Encapsulation::PptpGre,
        Encapsulation::EtherIp,
        Encapsulation::Ppp,
        Encapsulation::PppCompressed,
        Encapsulation::PppMpls,
        Encapsulation::PppHdlc,
        Encapsulation::PppEther,
        Encapsulation::PppWithDir,
        Encapsulation::CiscoHdlc,
        Encapsulation::GtpU,
        Encapsulation::L2tp,
        Encapsulation::VxlanGpe,
        Encapsulation::VxlanGpeEthernet,
        Encapsulation::Lisp,
        Encapsulation::Wifi,
        Encapsulation::WifiRadiotap,
        Encapsulation::Pflog,
        Encapsulation::Pktap,
    ];

    /// The link type and frame carrying `ip` this way.
    pub fn wrap(self, ip: &[u8]) -> (LinkType, Vec<u8>) {
        let v6 = is_ipv6(ip);
        let eth = |p: &[u8]| ethernet_tagged(p, &[]);
        let ip_proto = if v6 { 41 } else { 4 };
        match self {
            Encapsulation::Ethernet => (LinkType::ETHERNET, eth(ip)),
            Encapsulation::Vlan => (LinkType::ETHERNET, ethernet_tagged(ip, &[(0x8100, 10)])),
            Encapsulation::QinQ => (
                LinkType::ETHERNET,
                ethernet_tagged(ip, &[(0x88a8, 100), (0x8100, 10)]),
            ),
            Encapsulation::QinQ9100 => (
                LinkType::ETHERNET,
                ethernet_tagged(ip, &[(0x9100, 100), (0x8100, 10)]),
            ),
            Encapsulation::LinuxSll => (LinkType::LINUX_SLL, linux_sll(ip)),
            Encapsulation::LinuxSll2 => (LinkType::LINUX_SLL2, linux_sll2(ip)),
            Encapsulation::NullLe => (
                LinkType::NULL,
                bsd_loopback(ip, if v6 { 28 } else { 2 }, false),
            ),
            Encapsulation::NullBe => (
                LinkType::NULL,
                bsd_loopback(ip, if v6 { 30 } else { 2 }, true),
            ),
            Encapsulation::Loop => (
                LinkType::LOOP,
                bsd_loopback(ip, if v6 { 24 } else { 2 }, true),
            ),
            Encapsulation::Ieee8023 => (LinkType::ETHERNET, ethernet_8023(ip, &[(0x8100, 10)])),
            Encapsulation::Raw => (LinkType::RAW, ip.to_vec()),
            Encapsulation::RawVersioned => (
                if v6 { LinkType::IPV6 } else { LinkType::IPV4 },
                ip.to_vec(),
            ),
            Encapsulation::IpInIpv4 => (LinkType::ETHERNET, eth(&ipv4_outer(ip_proto, ip))),
            Encapsulation::IpInIpv6 => (LinkType::ETHERNET, eth(&ipv6_outer(ip_proto, ip))),
            Encapsulation::AuthHeader => (LinkType::ETHERNET, eth(&with_auth_header(ip))),
            Encapsulation::Gre => {
                let fields = GreFields {
                    checksum: true,
                    key: Some(7),
                    sequence: Some(1),
                    routing: false,
                };
                let g = gre(ethertype_of(ip), fields, ip);
                (LinkType::ETHERNET, eth(&ipv4_outer(47, &g)))
            }
            Encapsulation::GreRouted => {
                let fields = GreFields {
                    key: Some(9),
                    routing: true,
                    ..GreFields::default()
                };
                let g = gre(ethertype_of(ip), fields, ip);
                (LinkType::ETHERNET, eth(&ipv4_outer(47, &g)))
            }
            Encapsulation::GreEthernet => {
                let g = gre(0x6558, GreFields::default(), &eth(ip));
                (LinkType::ETHERNET, eth(&ipv6_outer(47, &g)))
            }
            Encapsulation::ErspanI => {
                let g = gre(0x88be, GreFields::default(), &eth(ip));
                (LinkType::ETHERNET, eth(&ipv4_outer(47, &g)))
            }
            Encapsulation::ErspanII => {
                let fields = GreFields {
                    sequence: Some(5),
                    ..GreFields::default()
                };
                let g = gre(0x88be, fields, &erspan_ii(&eth(ip)));
                (LinkType::ETHERNET, eth(&ipv4_outer(47, &g)))
            }
            Encapsulation::ErspanIII | Encapsulation::ErspanIIISubheader => {
                let fields = GreFields {
                    sequence: Some(5),
                    ..GreFields::default()
                };
                let sub = self == Encapsulation::ErspanIIISubheader;
                let g = gre(0x22eb, fields, &erspan_iii(&eth(ip), sub));
                (LinkType::ETHERNET, eth(&ipv4_outer(47, &g)))
            }
            Encapsulation::Vxlan => {
                let u = udp(49152, 4789, &vxlan(&eth(ip)));
                (LinkType::ETHERNET, eth(&ipv4_outer(17, &u)))
            }
            Encapsulation::GeneveEthernet => {
                let u = udp(49152, 6081, &geneve(0x6558, 3, &eth(ip)));
                (LinkType::ETHERNET, eth(&ipv4_outer(17, &u)))
            }
            Encapsulation::GeneveIp => {
                let u = udp(49152, 6081, &geneve(ethertype_of(ip), 0, ip));
                (LinkType::ETHERNET, eth(&ipv4_outer(17, &u)))
            }
            Encapsulation::Nested => {
                let u = udp(49152, 4789, &vxlan(&eth(ip)));
                let g = gre(0x0800, GreFields::default(), &ipv4_outer(17, &u));
                (
                    LinkType::ETHERNET,
                    ethernet_tagged(&ipv4_outer(47, &g), &[(0x8100, 5)]),
                )
            }
            Encapsulation::Pppoe => (
                LinkType::ETHERNET,
                ethernet(&[], 0x8864, &pppoe_session(ip)),
            ),
            Encapsulation::Mpls => (
                LinkType::ETHERNET,
                ethernet(&[], 0x8847, &mpls(&[100, 200], ip)),
            ),
            Encapsulation::MplsPseudowire => {
                let mut pw = eth(ip);
                pw[..12].copy_from_slice(&[0, 0, 0x0c, 0, 0, 2, 0, 0, 0x0c, 0, 0, 1]);
                (
                    LinkType::ETHERNET,
                    ethernet(&[], 0x8847, &mpls(&[300], &pw)),
                )
            }
            Encapsulation::GreMpls => {
                let g = gre(0x8847, GreFields::default(), &mpls(&[16], ip));
                (LinkType::ETHERNET, eth(&ipv4_outer(47, &g)))
            }
            Encapsulation::MplsInUdp => {
                let u = udp(49152, 6635, &mpls(&[16, 17], ip));
                (LinkType::ETHERNET, eth(&ipv6_outer(17, &u)))
            }
            Encapsulation::GreInUdp => {
                let fields = GreFields {
                    key: Some(0x0102_0304),
                    ..GreFields::default()
                };
                let u = udp(49152, 4754, &gre(ethertype_of(ip), fields, ip));
                (LinkType::ETHERNET, eth(&ipv4_outer(17, &u)))
            }
            Encapsulation::MplsInIp => (
                LinkType::ETHERNET,
                eth(&ipv6_outer(137, &mpls(&[16, 17], ip))),
            ),
            Encapsulation::GrePpp => {
                let g = gre(0x880b, GreFields::default(), &ppp(ip, false, false));
                (LinkType::ETHERNET, eth(&ipv4_outer(47, &g)))
            }
            Encapsulation::PptpGre => {
                let g = pptp_gre(&ppp(ip, true, false), 7, Some(3));
                (LinkType::ETHERNET, eth(&ipv4_outer(47, &g)))
            }
            Encapsulation::EtherIp => {
                (LinkType::ETHERNET, eth(&ipv4_outer(97, &etherip(&eth(ip)))))
            }
            Encapsulation::Ppp => (LinkType::PPP, ppp(ip, true, false)),
            Encapsulation::PppCompressed => (LinkType::PPP, ppp(ip, false, true)),
            Encapsulation::PppMpls => {
                let mut f = vec![0xff, 0x03, 0x02, 0x81];
                f.extend_from_slice(&mpls(&[100, 200], ip));
                (LinkType::PPP, f)
            }
            Encapsulation::PppHdlc => (LinkType::PPP_HDLC, ppp(ip, true, false)),
            Encapsulation::PppEther => (LinkType::PPP_ETHER, pppoe_session(ip)),
            Encapsulation::PppWithDir => {
                let mut f = vec![1u8];
                f.extend_from_slice(&ppp(ip, true, false));
                (LinkType::PPP_WITH_DIR, f)
            }
            Encapsulation::CiscoHdlc => {
                let mut f = vec![0x0f, 0x00];
                f.extend_from_slice(&ethertype_of(ip).to_be_bytes());
                f.extend_from_slice(ip);
                (LinkType::C_HDLC, f)
            }
            Encapsulation::GtpU => {
                let u = udp(2152, 2152, &gtp_u(ip));
                (LinkType::ETHERNET, eth(&ipv4_outer(17, &u)))
            }
            Encapsulation::L2tp => {
                let u = udp(1701, 1701, &l2tp(ip));
                (LinkType::ETHERNET, eth(&ipv4_outer(17, &u)))
            }
            Encapsulation::VxlanGpe => {
                let u = udp(49152, 4790, &vxlan_gpe(Some(if v6 { 2 } else { 1 }), ip));
                (LinkType::ETHERNET, eth(&ipv6_outer(17, &u)))
            }
            Encapsulation::VxlanGpeEthernet => {
                let u = udp(49152, 4790, &vxlan_gpe(Some(3), &eth(ip)));
                (LinkType::ETHERNET, eth(&ipv4_outer(17, &u)))
            }
            Encapsulation::Lisp => {
                let u = udp(49152, 4341, &lisp(ip));
                (LinkType::ETHERNET, eth(&ipv4_outer(17, &u)))
            }
            Encapsulation::Wifi => (LinkType::IEEE802_11, wifi_data(ip, false)),
            Encapsulation::WifiRadiotap => (
                LinkType::IEEE802_11_RADIOTAP,
                radiotap(&wifi_data(ip, true)),
            ),
            Encapsulation::Pflog => (LinkType::PFLOG, pflog(ip)),
            Encapsulation::Pktap => (
                LinkType::PKTAP,
                if v6 {
                    pktap(LinkType::NULL, &bsd_loopback(ip, 30, false))
                } else {
                    pktap(LinkType::ETHERNET, &eth(ip))
                },
            ),
        }
    }
}

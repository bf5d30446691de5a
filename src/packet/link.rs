//! Link layers: from a captured frame to the IP packet it carries.

use super::ip::{self, Cx};
use super::tcp::Segments;
use super::{Skip, Timestamp};

/// A capture's link-layer header type, as numbered by tcpdump.org
/// (LINKTYPE_*). Always read from the capture file, never guessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: a 4-byte address family in the writer's byte order.
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    /// DLT_RAW as most BSDs number it; old files carry it instead of 101.
    pub const DLT_RAW_12: LinkType = LinkType(12);
    /// DLT_RAW as OpenBSD numbers it.
    pub const DLT_RAW_14: LinkType = LinkType(14);
    /// Raw IP (version from the first nibble).
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1 (`tcpdump -i any`).
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// PPP (RFC 1661), with or without RFC 1662's address and control bytes.
    pub const PPP: LinkType = LinkType(9);
    /// PPP in HDLC-like framing (RFC 1662).
    pub const PPP_HDLC: LinkType = LinkType(50);
    /// PPPoE session frames without their Ethernet header.
    pub const PPP_ETHER: LinkType = LinkType(51);
    /// Cisco HDLC: address, control, EtherType.
    pub const C_HDLC: LinkType = LinkType(104);
    /// PPP after one direction byte.
    pub const PPP_WITH_DIR: LinkType = LinkType(204);
    /// IEEE 802.11 frames (Wi-Fi in monitor mode, without radio header).
    pub const IEEE802_11: LinkType = LinkType(105);
    /// IEEE 802.11 frames after a radiotap header.
    pub const IEEE802_11_RADIOTAP: LinkType = LinkType(127);
    /// Linux netfilter log (`tcpdump -i nflog:N`, iptables' NFLOG target).
    pub const NFLOG: LinkType = LinkType(239);
    /// OpenBSD/FreeBSD pf's log (`tcpdump -i pflog0`).
    pub const PFLOG: LinkType = LinkType(117);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    /// Apple's PKTAP (`tcpdump -i any` and `-i pktap` on macOS): a
    /// header naming the interface, process and the packet's own link type.
    pub const PKTAP: LinkType = LinkType(258);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// The link types `decode` reads; frames of any other are skipped as
    /// `unknown_link_type`.
    pub const DECODED: &'static [LinkType] = &[
        LinkType::NULL,
        LinkType::ETHERNET,
        LinkType::PPP,
        LinkType::DLT_RAW_12,
        LinkType::DLT_RAW_14,
        LinkType::PPP_HDLC,
        LinkType::PPP_ETHER,
        LinkType::RAW,
        LinkType::C_HDLC,
        LinkType::IEEE802_11,
        LinkType::LOOP,
        LinkType::LINUX_SLL,
        LinkType::PFLOG,
        LinkType::IEEE802_11_RADIOTAP,
        LinkType::PPP_WITH_DIR,
        LinkType::IPV4,
        LinkType::IPV6,
        LinkType::NFLOG,
        LinkType::PKTAP,
        LinkType::LINUX_SLL2,
    ];

    pub fn is_decoded(self) -> bool {
        LinkType::DECODED.contains(&self)
    }
}

/// EtherTypes synprint follows.
pub(crate) mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    /// Pre-standard QinQ tag some switches still emit.
    pub const QINQ_OLD: u16 = 0x9100;
    /// Transparent Ethernet bridging (GRE, Geneve).
    pub const TEB: u16 = 0x6558;
    pub const PPPOE_SESSION: u16 = 0x8864;
    pub const MPLS: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
    /// PPP, as GRE names it (PPTP's enhanced GRE among others).
    pub const PPP: u16 = 0x880b;
    /// Type fields up to this are 802.3 lengths, not EtherTypes.
    pub const MAX_8023_LENGTH: u16 = 1500;

    /// The EtherTypes `ether_payload` opens (a test holds the two together).
    /// 802.3 lengths, which it opens too, are left out: any two bytes below
    /// 1501 look like one, so the MPLS pseudowire test takes one for a
    /// frame's length field only where an LLC/SNAP header naming IP
    /// follows ([`snap_is_followed`](super::snap_is_followed)).
    pub fn is_followed(ty: u16) -> bool {
        matches!(
            ty,
            IPV4 | IPV6 | VLAN | QINQ | QINQ_OLD | PPPOE_SESSION | MPLS | MPLS_MULTICAST
        )
    }
}

/// PPP protocol numbers synprint follows.
mod ppp_protocol {
    pub const IPV4: u16 = 0x0021;
    pub const IPV6: u16 = 0x0057;
    pub const MPLS: u16 = 0x0281;
    pub const MPLS_MULTICAST: u16 = 0x0283;
    /// Compressed or encrypted (MPPE) datagrams, per link and per session.
    pub const COMPRESSED_LINK: u16 = 0x00fb;
    pub const COMPRESSED: u16 = 0x00fd;
}

pub(super) fn decode<S: Segments>(
    link: LinkType,
    ts: Timestamp,
    frame: &[u8],
) -> Result<Option<S::Out>, Skip> {
    let cx = &Cx::top(ts);
    match link {
        LinkType::ETHERNET => ethernet::<S>(cx, frame),
        LinkType::RAW | LinkType::DLT_RAW_12 | LinkType::DLT_RAW_14 => ip::any::<S>(cx, frame),
        LinkType::IPV4 => ip::v4::<S>(cx, frame),
        LinkType::IPV6 => ip::v6::<S>(cx, frame),
        LinkType::LINUX_SLL => {
            // packet type, ARPHRD, address length, 8 address bytes, protocol.
            let (h, rest) = frame.split_first_chunk::<16>().ok_or(Skip::Truncated)?;
            ether_payload::<S>(cx, u16::from_be_bytes([h[14], h[15]]), rest)
        }
        LinkType::LINUX_SLL2 => {
            // protocol, reserved, ifindex, ARPHRD, packet type, address
            // length, 8 address bytes.
            let (h, rest) = frame.split_first_chunk::<20>().ok_or(Skip::Truncated)?;
            ether_payload::<S>(cx, u16::from_be_bytes([h[0], h[1]]), rest)
        }
        LinkType::NULL => {
            let (h, rest) = frame.split_first_chunk::<4>().ok_or(Skip::Truncated)?;
            // The family is written in the capturing host's byte order. It
            // is a small number, so read the wrong way round it would exceed
            // 16 bits: that tells the two orders apart without guessing.
            let le = u32::from_le_bytes(*h);
            let family = if le <= 0xffff {
                le
            } else {
                u32::from_be_bytes(*h)
            };
            address_family::<S>(cx, family, rest)
        }
        LinkType::LOOP => {
            let (h, rest) = frame.split_first_chunk::<4>().ok_or(Skip::Truncated)?;
            address_family::<S>(cx, u32::from_be_bytes(*h), rest)
        }
        LinkType::PPP | LinkType::PPP_HDLC => ppp::<S>(cx, frame),
        LinkType::PPP_WITH_DIR => ppp::<S>(cx, frame.get(1..).ok_or(Skip::Truncated)?),
        LinkType::PPP_ETHER => pppoe_session::<S>(cx, frame),
        LinkType::IEEE802_11 => wifi::<S>(cx, frame),
        LinkType::NFLOG => nflog::<S>(cx, frame),
        LinkType::PFLOG => {
            // The header gives its own length (61 on current systems) and
            // the address family; the packet starts at the next multiple of
            // four.
            let (&[len, family], _) = frame.split_first_chunk::<2>().ok_or(Skip::Truncated)?;
            if len < 2 {
                return Err(Skip::BadHeaderLength);
            }
            let start = usize::from(len).next_multiple_of(4);
            address_family::<S>(
                cx,
                u32::from(family),
                frame.get(start..).ok_or(Skip::Truncated)?,
            )
        }
        LinkType::IEEE802_11_RADIOTAP => {
            // Version, pad, little-endian length of the whole radio header.
            let (h, _) = frame.split_first_chunk::<4>().ok_or(Skip::Truncated)?;
            let len = usize::from(u16::from_le_bytes([h[2], h[3]]));
            wifi::<S>(cx, frame.get(len..).ok_or(Skip::Truncated)?)
        }
        LinkType::C_HDLC => {
            let (h, rest) = frame.split_first_chunk::<4>().ok_or(Skip::Truncated)?;
            ether_payload::<S>(cx, u16::from_be_bytes([h[2], h[3]]), rest)
        }
        LinkType::PKTAP => pktap::<S>(cx, frame),
        _ => Err(Skip::UnknownLinkType),
    }
}

/// The shortest PKTAP header Wireshark accepts; the header begins with its
/// own length so that macOS can extend it, and later versions do.
const PKTAP_MIN_HEADER: usize = 108;

/// Apple's PKTAP header, in the capturing Mac's (little-endian) byte
/// order: its own length, a record type (1: a packet follows), the link
/// type of the packet after the header, then interface and process
/// details synprint does not need.
fn pktap<S: Segments>(cx: &Cx<'_>, frame: &[u8]) -> Result<Option<S::Out>, Skip> {
    let (h, _) = frame.split_first_chunk::<12>().ok_or(Skip::Truncated)?;
    let word = |at: usize| u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    let len = usize::try_from(word(0)).unwrap_or(usize::MAX);
    if len < PKTAP_MIN_HEADER {
        return Err(Skip::BadHeaderLength);
    }
    if word(4) != 1 {
        return Err(Skip::NotIp);
    }
    let packet = frame.get(len..).ok_or(Skip::Truncated)?;
    // A DLT value, not a link type: the two differ only where DLT_RAW is
    // 12 or 14, which `decode` reads as raw IP too. An inner link type
    // synprint does not read (or PKTAP again, which macOS never writes) is
    // an encapsulation it does not open: `unknown_link_type` is kept for
    // the file's own link types, which the summary names.
    match LinkType(word(8)) {
        inner if inner.is_decoded() && inner != LinkType::PKTAP => {
            decode::<S>(inner, cx.ts, packet)
        }
        _ => Err(Skip::UnsupportedEncapsulation),
    }
}

/// An IEEE 802.11 frame: only unprotected data frames carry IP, after
/// the MAC header (24 bytes; a fourth address between access points; QoS
/// and HT control fields where the subtype and flags say) and an LLC/SNAP
/// header naming the EtherType. Encrypted frames cannot be read.
fn wifi<S: Segments>(cx: &Cx<'_>, frame: &[u8]) -> Result<Option<S::Out>, Skip> {
    let (&[fc0, fc1], _) = frame.split_first_chunk::<2>().ok_or(Skip::Truncated)?;
    let (frame_type, subtype) = ((fc0 >> 2) & 0x3, fc0 >> 4);
    // Management, control and extension frames; data subtypes without a
    // body (null, CF-ack/poll only).
    if frame_type != 2 || subtype & 0x4 != 0 {
        return Err(Skip::NotIp);
    }
    if fc1 & 0x40 != 0 {
        return Err(Skip::UnsupportedEncapsulation);
    }
    let qos = subtype & 0x8 != 0;
    let mut header = 24;
    if fc1 & 0x03 == 0x03 {
        header += 6;
    }
    if qos {
        // An A-MSDU packs several subframes; not followed.
        let qos_control = frame.get(header).ok_or(Skip::Truncated)?;
        if qos_control & 0x80 != 0 {
            return Err(Skip::UnsupportedEncapsulation);
        }
        header += 2;
        if fc1 & 0x80 != 0 {
            header += 4;
        }
    }
    let body = frame.get(header..).ok_or(Skip::Truncated)?;
    let (ty, rest) = llc_snap(body)?;
    ether_payload::<S>(cx, ty, rest)
}

/// An 802.2 LLC header with SNAP (AA AA 03) and RFC 1042's or 802.1H's
/// organisation code, as 802.11 and 802.3 frames carry IP: the EtherType it
/// names and what follows it.
fn llc_snap(body: &[u8]) -> Result<(u16, &[u8]), Skip> {
    let (llc, rest) = body.split_first_chunk::<8>().ok_or(Skip::Truncated)?;
    if llc[..3] != [0xaa, 0xaa, 0x03] || !matches!(llc[3..6], [0, 0, 0] | [0, 0, 0xf8]) {
        return Err(Skip::NotIp);
    }
    Ok((u16::from_be_bytes([llc[6], llc[7]]), rest))
}

/// A netfilter log message: family, version, resource id, then
/// type-length-value attributes, one of which (type 9) is the packet. The
/// attributes are in the capturing host's byte order. That is the capture
/// file's byte order (libpcap and Wireshark swap them by it when reading),
/// but the file header does not reach the decoder; the first attribute's
/// type, a small number, tells the same for every file a capture writes.
fn nflog<S: Segments>(cx: &Cx<'_>, frame: &[u8]) -> Result<Option<S::Out>, Skip> {
    const PAYLOAD: u16 = 9;
    let (h, mut rest) = frame.split_first_chunk::<4>().ok_or(Skip::Truncated)?;
    let little_endian = match rest.get(2..4) {
        Some([_, 0]) => true,
        Some([0, _]) => false,
        Some(_) => return Err(Skip::BadHeaderLength),
        None => return Err(Skip::Truncated),
    };
    let u16_at = |b: [u8; 2]| {
        if little_endian {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    };
    // Each attribute is at least its four-byte header long, so the walk
    // ends with the frame.
    loop {
        let (tlv, _) = rest.split_first_chunk::<4>().ok_or(Skip::Truncated)?;
        let len = usize::from(u16_at([tlv[0], tlv[1]]));
        // The top two type bits are netlink flags (nested, byte order).
        let kind = u16_at([tlv[2], tlv[3]]) & 0x3fff;
        if len < 4 {
            return Err(Skip::BadHeaderLength);
        }
        let value = rest.get(4..len).ok_or(Skip::Truncated)?;
        if kind == PAYLOAD {
            return match h[0] {
                2 => ip::v4::<S>(cx, value),
                10 => ip::v6::<S>(cx, value),
                _ => ip::any::<S>(cx, value),
            };
        }
        // Attributes are padded to four bytes. A message that ends without
        // the packet attribute was cut (or logged without the packet).
        rest = rest
            .get(len.next_multiple_of(4)..)
            .filter(|r| !r.is_empty())
            .ok_or(Skip::Truncated)?;
    }
}

/// BSD address families: AF_INET is 2 everywhere, AF_INET6 differs by
/// system (Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, macOS 30).
fn address_family<S: Segments>(
    cx: &Cx<'_>,
    family: u32,
    packet: &[u8],
) -> Result<Option<S::Out>, Skip> {
    match family {
        2 => ip::v4::<S>(cx, packet),
        10 | 24 | 28 | 30 => ip::v6::<S>(cx, packet),
        _ => Err(Skip::NotIp),
    }
}

/// An Ethernet II frame (destination, source, EtherType, payload).
pub(super) fn ethernet<S: Segments>(cx: &Cx<'_>, frame: &[u8]) -> Result<Option<S::Out>, Skip> {
    let (h, rest) = frame.split_first_chunk::<14>().ok_or(Skip::Truncated)?;
    ether_payload::<S>(cx, u16::from_be_bytes([h[12], h[13]]), rest)
}

/// The payload of an EtherType, after any number of VLAN tags. Each tag
/// consumes four bytes, so the loop ends with the frame.
fn ether_payload<S: Segments>(
    cx: &Cx<'_>,
    mut ty: u16,
    mut rest: &[u8],
) -> Result<Option<S::Out>, Skip> {
    while matches!(ty, ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD) {
        let (tag, inner) = rest.split_first_chunk::<4>().ok_or(Skip::Truncated)?;
        ty = u16::from_be_bytes([tag[2], tag[3]]);
        rest = inner;
    }
    match ty {
        ethertype::IPV4 => ip::v4::<S>(cx, rest),
        ethertype::IPV6 => ip::v6::<S>(cx, rest),
        ethertype::PPPOE_SESSION => pppoe_session::<S>(cx, rest),
        ethertype::MPLS | ethertype::MPLS_MULTICAST => mpls::<S>(cx, rest),
        ..=ethertype::MAX_8023_LENGTH => ieee8023::<S>(cx, rest),
        _ => Err(Skip::NotIp),
    }
}

/// An 802.3 frame (a length where Ethernet II has its EtherType): IP
/// follows an LLC/SNAP header. The EtherType SNAP names is opened without
/// VLAN tags or a second LLC header, which no stack puts there, so a
/// crafted chain of them cannot recurse. Rare: kept out of the Ethernet
/// path (inlined, it cost 5 instructions per SYN there).
#[cold]
#[inline(never)]
fn ieee8023<S: Segments>(cx: &Cx<'_>, frame: &[u8]) -> Result<Option<S::Out>, Skip> {
    let (ty, rest) = llc_snap(frame)?;
    match ty {
        ethertype::IPV4 => ip::v4::<S>(cx, rest),
        ethertype::IPV6 => ip::v6::<S>(cx, rest),
        _ => Err(Skip::NotIp),
    }
}

/// The EtherTypes [`ieee8023`] opens after LLC/SNAP (a test holds the two
/// together).
fn snap_is_followed(ty: u16) -> bool {
    matches!(ty, ethertype::IPV4 | ethertype::IPV6)
}

/// A PPPoE session frame (RFC 2516): version/type, code, session id,
/// length, then a PPP frame without address and control bytes.
fn pppoe_session<S: Segments>(cx: &Cx<'_>, frame: &[u8]) -> Result<Option<S::Out>, Skip> {
    let (h, rest) = frame.split_first_chunk::<6>().ok_or(Skip::Truncated)?;
    // Version 1, type 1, code 0 (session data).
    if h[0] != 0x11 || h[1] != 0 {
        return Err(Skip::UnsupportedEncapsulation);
    }
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    ppp::<S>(cx, up_to(rest, len))
}

/// The first `len` bytes of a tunnel's payload, or all there is: a payload
/// shorter than its header says was cut by the snap length, and the inner
/// IP header notices that for itself.
pub(super) fn up_to(payload: &[u8], len: usize) -> &[u8] {
    payload.get(..len).unwrap_or(payload)
}

/// A PPP frame (RFC 1661), with or without RFC 1662's `ff 03` address and
/// control bytes, and with a one- or two-byte protocol field (an odd first
/// byte is a compressed protocol, RFC 1661 6.5).
pub(super) fn ppp<S: Segments>(cx: &Cx<'_>, frame: &[u8]) -> Result<Option<S::Out>, Skip> {
    let frame = match frame {
        [0xff, 0x03, rest @ ..] => rest,
        // The address byte alone: no protocol starts with 0xff.
        [0xff] => return Err(Skip::Truncated),
        _ => frame,
    };
    let (protocol, rest) = match frame {
        [lo, rest @ ..] if lo & 1 == 1 => (u16::from(*lo), rest),
        [hi, lo, rest @ ..] => (u16::from_be_bytes([*hi, *lo]), rest),
        _ => return Err(Skip::Truncated),
    };
    match protocol {
        ppp_protocol::IPV4 => ip::v4::<S>(cx, rest),
        ppp_protocol::IPV6 => ip::v6::<S>(cx, rest),
        ppp_protocol::MPLS | ppp_protocol::MPLS_MULTICAST => mpls::<S>(cx, rest),
        // Traffic, but unreadable, as encrypted 802.11 frames are.
        ppp_protocol::COMPRESSED | ppp_protocol::COMPRESSED_LINK => {
            Err(Skip::UnsupportedEncapsulation)
        }
        // LCP, IPCP, CHAP and the rest of PPP's own traffic.
        _ => Err(Skip::NotIp),
    }
}

/// Reserved MPLS labels (RFC 3032, RFC 7274) that say what follows.
mod mpls_label {
    pub const GAL: u32 = 13;
    pub const OAM_ALERT: u32 = 14;
}

/// What an MPLS label stack (RFC 3032) carries: the bytes after its
/// bottom entry.
pub(super) fn below_labels(mut rest: &[u8]) -> Result<&[u8], Skip> {
    loop {
        let (entry, inner) = rest.split_first_chunk::<4>().ok_or(Skip::Truncated)?;
        rest = inner;
        // The generic associated channel label (RFC 5586) and the OAM
        // alert label (RFC 3429) carry a control channel, counted as an
        // associated channel header without either label is (first
        // nibble 1).
        let label =
            (u32::from(entry[0]) << 12) | (u32::from(entry[1]) << 4) | u32::from(entry[2] >> 4);
        if label == mpls_label::GAL || label == mpls_label::OAM_ALERT {
            return Err(Skip::UnsupportedEncapsulation);
        }
        if entry[2] & 1 == 1 {
            return Ok(rest);
        }
    }
}

/// An MPLS label stack (RFC 3032) and what it carries. MPLS does not say
/// what is under the stack: like Wireshark, synprint reads the first
/// nibble: 4 or 6 is IP; 0 is an Ethernet pseudowire (RFC 4448), whose
/// optional control word shows as four more bytes before the frame: the
/// frame is where an EtherType synprint follows sits at its offset 12, or
/// an 802.3 length followed by LLC/SNAP naming IP.
pub(super) fn mpls<S: Segments>(cx: &Cx<'_>, rest: &[u8]) -> Result<Option<S::Out>, Skip> {
    let rest = below_labels(rest)?;
    match rest.first().map(|b| b >> 4) {
        Some(4) => ip::v4::<S>(cx, rest),
        Some(6) => ip::v6::<S>(cx, rest),
        Some(0) => {
            // An Ethernet II frame of an EtherType the decoder follows, or
            // an 802.3 frame whose LLC/SNAP header names IP.
            let followed = |frame: &[u8]| match frame.get(12..14) {
                Some(&[a, b]) => match u16::from_be_bytes([a, b]) {
                    ..=ethertype::MAX_8023_LENGTH => frame
                        .get(14..)
                        .and_then(|llc| llc_snap(llc).ok())
                        .is_some_and(|(ty, _)| snap_is_followed(ty)),
                    ty => ethertype::is_followed(ty),
                },
                _ => false,
            };
            let with_cw = rest.get(4..).unwrap_or_default();
            let frame = if followed(rest) {
                rest
            } else if followed(with_cw) {
                with_cw
            } else if with_cw.len() < 14 {
                return Err(Skip::Truncated);
            } else {
                return Err(Skip::UnsupportedEncapsulation);
            };
            // A pseudowire may carry MPLS again, so it counts as a tunnel.
            ethernet::<S>(&cx.deeper()?, frame)
        }
        Some(_) => Err(Skip::UnsupportedEncapsulation),
        None => Err(Skip::Truncated),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tcp::Handshakes;
    use super::*;

    /// Every EtherType `is_followed` names is opened by `ether_payload`
    /// (an empty payload then ends as truncated), and every other one is
    /// not IP: the pseudowire check cannot drift from the dispatch.
    #[test]
    fn followed_ethertypes_are_the_dispatched_ones() {
        for ty in 0..=u16::MAX {
            let opened =
                ether_payload::<Handshakes>(&Cx::top(Timestamp(0)), ty, &[]) != Err(Skip::NotIp);
            let length = ty <= ethertype::MAX_8023_LENGTH;
            assert_eq!(
                opened,
                ethertype::is_followed(ty) || length,
                "EtherType {ty:#06x}"
            );
        }
    }

    /// Every EtherType `snap_is_followed` names is opened after an 802.3
    /// frame's LLC/SNAP header, and no other one.
    #[test]
    fn followed_snap_types_are_the_dispatched_ones() {
        for ty in 0..=u16::MAX {
            let [hi, lo] = ty.to_be_bytes();
            let llc = [0xaa, 0xaa, 0x03, 0, 0, 0, hi, lo];
            let opened = ieee8023::<Handshakes>(&Cx::top(Timestamp(0)), &llc) != Err(Skip::NotIp);
            assert_eq!(opened, snap_is_followed(ty), "EtherType {ty:#06x}");
        }
    }

    /// 802.3 frames (a length for a type) carry IP after LLC/SNAP, with or
    /// without a VLAN tag before the length; other LLC payloads (spanning
    /// tree's 42 42 03) are not IP, and SNAP cannot name another length or
    /// a VLAN tag, so crafted chains of them end at once.
    #[test]
    fn ieee8023_llc_snap_carries_ip() {
        use crate::craft::{ethernet_8023, Stack};
        let p = Stack::Linux.syn(
            "192.0.2.1".parse().unwrap(),
            40000,
            "192.0.2.2".parse().unwrap(),
            443,
            1,
        );
        let ip = p.ip_bytes();
        for tags in [&[][..], &[(0x8100, 10)][..]] {
            let frame = ethernet_8023(&ip, tags);
            let obs = decode::<Handshakes>(LinkType::ETHERNET, Timestamp(0), &frame)
                .expect("decodes")
                .expect("a SYN");
            assert_eq!((obs.src_port, obs.window), (40000, p.window));
        }
        let mut stp = ethernet_8023(&ip, &[]);
        stp[14..17].copy_from_slice(&[0x42, 0x42, 0x03]);
        assert_eq!(
            decode::<Handshakes>(LinkType::ETHERNET, Timestamp(0), &stp),
            Err(Skip::NotIp)
        );
        // SNAP naming a length (whose LLC header follows at once), or a
        // VLAN tag (whose inner type is a length again), 200,000 times: a
        // decoder that followed them would recurse off its stack.
        let snap = |ty: u16| [0xaa, 0xaa, 0x03, 0, 0, 0, (ty >> 8) as u8, ty as u8];
        let vlan_tag = [0x00, 0x0a, 0x00, 0x40];
        for via_vlan in [false, true] {
            let mut frame = vec![0u8; 12];
            frame.extend_from_slice(&[0x00, 0x40]);
            for _ in 0..200_000 {
                if via_vlan {
                    frame.extend_from_slice(&snap(0x8100));
                    frame.extend_from_slice(&vlan_tag);
                } else {
                    frame.extend_from_slice(&snap(0x0040));
                }
            }
            assert_eq!(
                decode::<Handshakes>(LinkType::ETHERNET, Timestamp(0), &frame),
                Err(Skip::NotIp)
            );
        }
    }

    /// `LinkType::DECODED` is what `decode` reads: the summary's note on
    /// link types it does not read cannot drift from the dispatch.
    #[test]
    fn decoded_link_types_are_the_dispatched_ones() {
        for n in 0..=u32::from(u16::MAX) {
            let link = LinkType(n);
            let read = decode::<Handshakes>(link, Timestamp(0), &[]) != Err(Skip::UnknownLinkType);
            assert_eq!(read, link.is_decoded(), "link type {n}");
        }
    }
}

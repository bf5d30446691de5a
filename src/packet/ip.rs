//! IPv4 and IPv6: from an IP packet to its transport payload, opening
//! IP-in-IP, MPLS-in-IP, EtherIP, GRE and UDP tunnels on the way.

use super::tcp::Segments;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{tunnel, Skip, Timestamp, Tunnel, TunnelKind};

/// Tunnel layers followed around the fingerprinted TCP segment. Real
/// traffic rarely nests more than two; the bound keeps hostile input from
/// recursing deeply.
pub const MAX_TUNNEL_DEPTH: u8 = 8;

/// IP protocol numbers (IPv6 next headers) the decoder follows.
pub(crate) mod proto {
    pub const HOP_BY_HOP: u8 = 0;
    pub const IPV4: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6: u8 = 41;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const GRE: u8 = 47;
    pub const AUTH: u8 = 51;
    pub const DEST_OPTS: u8 = 60;
    /// EtherIP (RFC 3378): Ethernet frames between bridges.
    pub const ETHERIP: u8 = 97;
    pub const MOBILITY: u8 = 135;
    /// L2TPv3 straight over IP (RFC 3931), not opened: its session
    /// header's length is configured per session, not written in it.
    pub const L2TP: u8 = 115;
    /// MPLS-in-IP (RFC 4023).
    pub const MPLS: u8 = 137;
    pub const HIP: u8 = 139;
    pub const SHIM6: u8 = 140;

    /// Protocols carrying another packet that `transport` opens (UDP
    /// opens only at its tunnel ports).
    pub const TUNNELS: [u8; 5] = [IPV4, IPV6, GRE, ETHERIP, MPLS];
    /// IPv6 headers walked on the way to the transport header.
    pub const IPV6_EXTENSIONS: [u8; 8] = [
        HOP_BY_HOP, ROUTING, FRAGMENT, AUTH, DEST_OPTS, MOBILITY, HIP, SHIM6,
    ];
}

/// The IP header in front of a TCP segment. Kept as borrowed bytes so the
/// common non-SYN path never converts addresses or fields it will not use.
#[derive(Clone, Copy)]
pub(super) enum IpHeader<'a> {
    V4 {
        fixed: &'a [u8; 20],
        options_len: u16,
    },
    V6 {
        fixed: &'a [u8; 40],
        /// Bytes of extension headers between the fixed header and TCP.
        ext_len: u16,
    },
}

/// Where the walk is: the capture time, the tunnel layers opened so far,
/// and the innermost tunnel, kept as the borrowed outer header until a
/// SYN needs it.
#[derive(Clone, Copy)]
pub(super) struct Cx<'t> {
    pub ts: Timestamp,
    depth: u8,
    pub tunnel: Option<&'t TunnelLayer<'t>>,
}

impl<'t> Cx<'t> {
    /// The outermost layer of a frame.
    pub fn top(ts: Timestamp) -> Cx<'static> {
        Cx {
            ts,
            depth: 0,
            tunnel: None,
        }
    }

    /// One more layer, or `TooDeep`: the bound keeps hostile input from
    /// recursing deeply.
    pub fn deeper(self) -> Result<Cx<'t>, Skip> {
        if self.depth >= MAX_TUNNEL_DEPTH {
            Err(Skip::TooDeep)
        } else {
            Ok(Cx {
                depth: self.depth + 1,
                ..self
            })
        }
    }

    /// Inside `tunnel`, which this layer ([`Cx::deeper`]) has opened.
    pub fn within<'u>(self, tunnel: &'u TunnelLayer<'u>) -> Cx<'u>
    where
        't: 'u,
    {
        Cx {
            tunnel: Some(tunnel),
            ..self
        }
    }
}

/// A tunnel as the walk meets it: its kind, its own identifier, and the
/// IP header around it, whose addresses are read only for a SYN.
#[derive(Clone, Copy)]
pub(super) struct TunnelLayer<'a> {
    pub kind: TunnelKind,
    pub id: Option<u32>,
    pub outer: IpHeader<'a>,
}

impl TunnelLayer<'_> {
    pub fn resolve(&self) -> Tunnel {
        let (outer_src, outer_dst) = self.outer.addresses();
        Tunnel {
            kind: self.kind,
            id: self.id,
            outer_src,
            outer_dst,
        }
    }
}

impl IpHeader<'_> {
    /// Source and destination.
    #[inline(always)]
    pub fn addresses(self) -> (IpAddr, IpAddr) {
        match self {
            IpHeader::V4 { fixed, .. } => {
                let at =
                    |i: usize| Ipv4Addr::new(fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]);
                (IpAddr::V4(at(12)), IpAddr::V4(at(16)))
            }
            IpHeader::V6 { fixed, .. } => {
                let at = |i: usize| {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&fixed[i..i + 16]);
                    IpAddr::V6(Ipv6Addr::from(a))
                };
                (at(8), at(24))
            }
        }
    }
}

/// An IP packet of either version, told apart by its first nibble.
pub(super) fn any<S: Segments>(cx: &Cx<'_>, packet: &[u8]) -> Result<Option<S::Out>, Skip> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => v4::<S>(cx, packet),
        Some(6) => v6::<S>(cx, packet),
        Some(_) => Err(Skip::BadIpVersion),
        None => Err(Skip::Truncated),
    }
}

pub(super) fn v4<S: Segments>(cx: &Cx<'_>, packet: &[u8]) -> Result<Option<S::Out>, Skip> {
    let fixed = packet.first_chunk::<20>().ok_or(Skip::Truncated)?;
    if fixed[0] >> 4 != 4 {
        return Err(Skip::BadIpVersion);
    }
    let header_len = usize::from(fixed[0] & 0x0f) * 4;
    if header_len < 20 {
        return Err(Skip::BadHeaderLength);
    }
    let total_len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
    if total_len < header_len {
        return Err(Skip::BadHeaderLength);
    }
    // Bytes past the total length are link padding (short Ethernet frames)
    // or a trailing FCS, never IP payload. Fewer bytes than the total length
    // means a snap length cut the packet.
    let (packet, cut) = within(packet, total_len);
    let flags_offset = u16::from_be_bytes([fixed[6], fixed[7]]);
    if flags_offset & 0x3fff != 0 {
        // MF or a non-zero offset: the TCP header may be split or absent,
        // and p0f does not reassemble either.
        return Err(Skip::Fragment);
    }
    let mut payload = packet.get(header_len..).ok_or(Skip::Truncated)?;
    let short = Skip::short_of_headers(cut);
    let mut protocol = fixed[9];
    // IPsec's authentication header (RFC 4302) signs what follows but does
    // not hide it: walked as in IPv6, where it is an extension header. Each
    // is at least eight bytes long, so the walk ends with the packet.
    while protocol == proto::AUTH {
        let [next, units, ..] = *payload else {
            return Err(short);
        };
        payload = payload.get((usize::from(units) + 2) * 4..).ok_or(short)?;
        protocol = next;
    }
    let ip = IpHeader::V4 {
        fixed,
        options_len: (header_len - 20) as u16,
    };
    transport::<S>(cx, ip, protocol, payload, cut)
}

/// The first `len` bytes of `packet`, or all of it and `true` when it was
/// cut short by the capture's snap length.
fn within(packet: &[u8], len: usize) -> (&[u8], bool) {
    match packet.get(..len) {
        Some(p) => (p, false),
        None => (packet, true),
    }
}

pub(super) fn v6<S: Segments>(cx: &Cx<'_>, packet: &[u8]) -> Result<Option<S::Out>, Skip> {
    let (fixed, _) = packet.split_first_chunk::<40>().ok_or(Skip::Truncated)?;
    if fixed[0] >> 4 != 6 {
        return Err(Skip::BadIpVersion);
    }
    let total_len = 40 + usize::from(u16::from_be_bytes([fixed[4], fixed[5]]));
    let (packet, cut) = within(packet, total_len);
    let mut rest = packet.get(40..).ok_or(Skip::Truncated)?;
    let short = Skip::short_of_headers(cut);
    let mut next = fixed[6];
    let mut ext_len = 0usize;
    // Every extension header is at least eight bytes long, so the walk ends
    // with the packet.
    loop {
        let len = match next {
            // The extension headers of RFC 8200's generic layout (RFC 7045
            // lists them): length in eight-byte units after the first eight.
            // Mobility and HIP headers are normally last (next header 59);
            // a Shim6 payload header sits in front of TCP.
            proto::HOP_BY_HOP
            | proto::ROUTING
            | proto::DEST_OPTS
            | proto::MOBILITY
            | proto::HIP
            | proto::SHIM6 => {
                let [_, units, ..] = *rest else {
                    return Err(short);
                };
                (usize::from(units) + 1) * 8
            }
            proto::AUTH => {
                let [_, units, ..] = *rest else {
                    return Err(short);
                };
                (usize::from(units) + 2) * 4
            }
            proto::FRAGMENT => {
                let frag = rest.first_chunk::<8>().ok_or(short)?;
                let offset_m = u16::from_be_bytes([frag[2], frag[3]]);
                // Offset 0 without "more fragments" is an atomic fragment
                // (RFC 6946): the whole packet is here.
                if offset_m & 0xfff9 != 0 {
                    return Err(Skip::Fragment);
                }
                8
            }
            _ => break,
        };
        let (header, tail) = rest.split_at_checked(len).ok_or(short)?;
        next = header.first().copied().ok_or(short)?;
        rest = tail;
        ext_len += len;
    }
    let ip = IpHeader::V6 {
        fixed,
        ext_len: u16::try_from(ext_len).unwrap_or(u16::MAX),
    };
    transport::<S>(cx, ip, next, rest, cut)
}

/// A tunnel with no header of its own: IP in IP, EtherIP, MPLS in IP. Out
/// of line: rare, and kept off `transport`, which every TCP segment goes
/// through.
#[cold]
#[inline(never)]
fn headerless_tunnel<S: Segments>(
    cx: &Cx<'_>,
    outer: IpHeader<'_>,
    protocol: u8,
    payload: &[u8],
) -> Result<Option<S::Out>, Skip> {
    let kind = match protocol {
        proto::ETHERIP => TunnelKind::EtherIp,
        proto::MPLS => TunnelKind::MplsInIp,
        _ => TunnelKind::IpInIp,
    };
    let layer = TunnelLayer {
        kind,
        id: None,
        outer,
    };
    let cx = &cx.deeper()?.within(&layer);
    match protocol {
        proto::IPV4 => v4::<S>(cx, payload),
        proto::IPV6 => v6::<S>(cx, payload),
        proto::ETHERIP => tunnel::etherip::<S>(cx, payload),
        _ => super::link::mpls::<S>(cx, payload),
    }
}

/// `cut`: the packet is shorter than its IP length says. A cut SYN is not
/// fingerprinted (p0f gives up on it too), but a cut segment whose flags
/// show it is no SYN is simply not interesting: captures with a small snap
/// length cut most data segments, and those are not skips.
fn transport<S: Segments>(
    cx: &Cx<'_>,
    ip: IpHeader<'_>,
    protocol: u8,
    payload: &[u8],
    cut: bool,
) -> Result<Option<S::Out>, Skip> {
    match protocol {
        proto::TCP => S::segment(cx, ip, payload, cut),
        proto::UDP => tunnel::udp::<S>(cx, ip, payload),
        proto::GRE => tunnel::gre::<S>(&cx.deeper()?, ip, payload),
        proto::IPV4 | proto::IPV6 | proto::ETHERIP | proto::MPLS => {
            headerless_tunnel::<S>(cx, ip, protocol, payload)
        }
        // A tunnel, as over UDP (port 1701), which is not opened either.
        proto::L2TP => Err(Skip::UnsupportedEncapsulation),
        _ => Err(Skip::NotTcp),
    }
}

//! Packets → one plain [`Observation`] per client SYN or server SYN+ACK
//! (and, for connection following, a small [`Segment`] per ACK/FIN/RST).
//!
//! Everything downstream (p0f signature, JA4T, zardaxt fields, MTU, uptime,
//! classifier features) is a pure function of an [`Observation`], so a
//! SYN's bytes are parsed exactly once, here.

mod filter;
mod ip;
mod link;
mod observation;
mod options;
mod skip;
mod tcp;
mod tunnel;

pub use filter::{Filter, FilterError};
pub(crate) use ip::proto as ip_protocol;
pub use ip::MAX_TUNNEL_DEPTH;
pub(crate) use link::ethertype;
pub use link::LinkType;
pub use observation::{
    flags, hops, initial_ttl, initial_ttl_rank, IpVersion, Kind, Observation, Timestamp, Tunnel,
    TunnelKind,
};
pub use options::{OptionsShape, P0fOptionView, TcpOption, TcpOptions, MAX_TCP_OPTIONS};
pub use skip::Skip;
pub use tcp::Segment;
pub use tunnel::UDP_TUNNEL_PORTS;

use tcp::{Followed, Handshakes};

/// Decodes one captured frame of the given link type.
///
/// `Ok(Some(_))` for a SYN or SYN+ACK, `Ok(None)` for any other TCP segment
/// (the common case, kept cheap), `Err(skip)` when the frame cannot be
/// fingerprinted and why.
///
/// A SYN is a segment with SYN set and neither RST nor FIN; it is a
/// [`Kind::SynAck`] when ACK is set too. Tunnels (the README lists them:
/// GRE, ERSPAN, PPTP, VXLAN, Geneve, GTP-U, L2TP, MPLS, IP-in-IP, ...) are
/// opened up to [`MAX_TUNNEL_DEPTH`] layers and the innermost TCP segment
/// is the one fingerprinted.
///
/// A packet shorter than its IP length (cut by the capture's snap length)
/// is `Skip::Truncated` if it is a SYN, as p0f gives up on it, but
/// `Ok(None)` when its TCP flags show it is not: a small snap length cuts
/// most data segments, and those are not worth a skip.
///
/// For IPv6, `ip_options_len` counts the bytes of the extension headers
/// walked to reach TCP (hop-by-hop, routing, destination options, atomic
/// fragment, authentication, mobility, HIP, Shim6). p0f does not walk them
/// at all: it reads only packets whose next header is TCP, so a
/// p0f-faithful caller should treat an IPv6 observation with
/// `ip_options_len > 0` as one p0f would not see.
pub fn decode(link: LinkType, ts: Timestamp, frame: &[u8]) -> Result<Option<Observation>, Skip> {
    link::decode::<Handshakes>(link, ts, frame)
}

/// Decodes one captured frame for connection following: `Some` for an
/// ACK, FIN or RST segment p0f would read (whole, not a SYN), through the
/// same links and tunnels as [`decode`].
pub fn decode_followed(link: LinkType, ts: Timestamp, frame: &[u8]) -> Option<Segment> {
    link::decode::<Followed>(link, ts, frame).ok().flatten()
}

/// Decodes a bare IPv4 or IPv6 packet (as the kernel's saved SYN gives it).
pub fn decode_ip(ts: Timestamp, packet: &[u8]) -> Result<Option<Observation>, Skip> {
    ip::any::<Handshakes>(&ip::Cx::top(ts), packet)
}

/// Decodes the kernel's saved SYN (`TCP_SAVED_SYN`). The kernel saves a
/// SYN's headers, not its data, which a TCP Fast Open SYN carries: without
/// it the packet is shorter than its IP length, which [`decode_ip`] counts
/// as cut. The data is put back as zeros, up to that length, so that the
/// observation's lengths are the packet's (of a SYN's data only the length
/// is read).
pub fn decode_saved_syn(ts: Timestamp, mut saved: Vec<u8>) -> Result<Option<Observation>, Skip> {
    let be16 = |at: usize| {
        saved
            .get(at..at + 2)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
    };
    let ip_length = match saved.first().map(|b| b >> 4) {
        Some(4) => be16(2),
        Some(6) => be16(4).map(|payload| payload + 40),
        _ => None,
    };
    if let Some(len) = ip_length.filter(|&len| len > saved.len()) {
        saved.resize(len, 0);
    }
    decode_ip(ts, &saved)
}

#[cfg(test)]
mod tests;

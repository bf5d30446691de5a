//! Packets → one plain [`Observation`] per client SYN or server SYN+ACK.
//!
//! Everything downstream (p0f signature, JA4T, zardaxt fields, MTU, uptime,
//! classifier features) is a pure function of an [`Observation`], so the
//! bytes are parsed exactly once, here.

mod link;
mod observation;
mod options;
mod skip;

pub use link::LinkType;
pub use observation::{flags, IpVersion, Kind, Observation, Timestamp};
pub use options::{TcpOption, TcpOptions, MAX_TCP_OPTIONS};
pub use skip::Skip;

/// Decodes one captured frame of the given link type.
///
/// `Ok(Some(_))` for a SYN or SYN+ACK, `Ok(None)` for any other TCP segment
/// (the common case, kept cheap), `Err(skip)` when the frame cannot be
/// fingerprinted and why.
pub fn decode(link: LinkType, ts: Timestamp, frame: &[u8]) -> Result<Option<Observation>, Skip> {
    let _ = (link, ts, frame);
    todo!("link layers, tunnels, IPv4/IPv6, TCP")
}

/// Decodes a bare IPv4 or IPv6 packet (as the kernel's saved SYN gives it).
pub fn decode_ip(ts: Timestamp, packet: &[u8]) -> Result<Option<Observation>, Skip> {
    let _ = (ts, packet);
    todo!("IPv4/IPv6 + TCP")
}

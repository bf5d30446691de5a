//! Tunnels opened to reach the inner TCP: GRE (with ERSPAN), VXLAN and
//! Geneve. IP-in-IP needs no header of its own and lives in `ip`.

use super::ip::{self, deeper};
use super::link::{ethernet, ethertype};
use super::{Observation, Skip, Timestamp};

pub const VXLAN_PORT: u16 = 4789;
pub const GENEVE_PORT: u16 = 6081;

/// GRE protocol numbers for ERSPAN (Cisco's mirrored-traffic tunnels).
const ERSPAN_II: u16 = 0x88be;
const ERSPAN_III: u16 = 0x22eb;

mod gre_flag {
    pub const CHECKSUM: u16 = 0x8000;
    pub const ROUTING: u16 = 0x4000;
    pub const KEY: u16 = 0x2000;
    pub const SEQUENCE: u16 = 0x1000;
    pub const VERSION: u16 = 0x0007;
}

/// A UDP datagram: a tunnel when it goes to the VXLAN or Geneve port,
/// otherwise simply not TCP.
pub(super) fn udp(ts: Timestamp, datagram: &[u8], depth: u8) -> Result<Option<Observation>, Skip> {
    let (h, _) = datagram.split_first_chunk::<8>().ok_or(Skip::Truncated)?;
    let dst_port = u16::from_be_bytes([h[2], h[3]]);
    if dst_port != VXLAN_PORT && dst_port != GENEVE_PORT {
        return Err(Skip::NotTcp);
    }
    let depth = deeper(depth)?;
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    if len < 8 {
        return Err(Skip::BadHeaderLength);
    }
    // A datagram shorter than its length was cut by the snap length; the
    // inner IP header notices that for itself.
    let body = datagram
        .get(8..len)
        .or_else(|| datagram.get(8..))
        .ok_or(Skip::Truncated)?;
    if dst_port == VXLAN_PORT {
        // Flags, reserved, VNI, reserved; the inner frame is Ethernet.
        let (_, inner) = body.split_first_chunk::<8>().ok_or(Skip::Truncated)?;
        return ethernet(ts, inner, depth);
    }
    geneve(ts, body, depth)
}

fn geneve(ts: Timestamp, body: &[u8], depth: u8) -> Result<Option<Observation>, Skip> {
    let (h, _) = body.split_first_chunk::<8>().ok_or(Skip::Truncated)?;
    if h[0] >> 6 != 0 {
        return Err(Skip::UnsupportedEncapsulation);
    }
    // Options are opaque to us; their total length is in 4-byte units.
    let options_len = usize::from(h[0] & 0x3f) * 4;
    let inner = body.get(8 + options_len..).ok_or(Skip::Truncated)?;
    match u16::from_be_bytes([h[2], h[3]]) {
        ethertype::TEB => ethernet(ts, inner, depth),
        ethertype::IPV4 => ip::v4(ts, inner, depth),
        ethertype::IPV6 => ip::v6(ts, inner, depth),
        _ => Err(Skip::UnsupportedEncapsulation),
    }
}

/// GRE version 0 (RFC 2784 with the RFC 2890 key and sequence fields).
pub(super) fn gre(ts: Timestamp, packet: &[u8], depth: u8) -> Result<Option<Observation>, Skip> {
    let (h, _) = packet.split_first_chunk::<4>().ok_or(Skip::Truncated)?;
    let flags = u16::from_be_bytes([h[0], h[1]]);
    // Version 1 is PPTP's enhanced GRE (PPP inside); source routing
    // (RFC 1701) has variable-length fields that nobody sends any more.
    if flags & (gre_flag::VERSION | gre_flag::ROUTING) != 0 {
        return Err(Skip::UnsupportedEncapsulation);
    }
    let optional = [gre_flag::CHECKSUM, gre_flag::KEY, gre_flag::SEQUENCE]
        .iter()
        .filter(|&&f| flags & f != 0)
        .count();
    let inner = packet.get(4 + 4 * optional..).ok_or(Skip::Truncated)?;
    match u16::from_be_bytes([h[2], h[3]]) {
        ethertype::IPV4 => ip::v4(ts, inner, depth),
        ethertype::IPV6 => ip::v6(ts, inner, depth),
        ethertype::TEB => ethernet(ts, inner, depth),
        // ERSPAN type I has no header of its own and no GRE sequence
        // number; type II adds both.
        ERSPAN_II if flags & gre_flag::SEQUENCE == 0 => ethernet(ts, inner, depth),
        ERSPAN_II => erspan_ii(ts, inner, depth),
        ERSPAN_III => erspan_iii(ts, inner, depth),
        _ => Err(Skip::UnsupportedEncapsulation),
    }
}

fn erspan_ii(ts: Timestamp, body: &[u8], depth: u8) -> Result<Option<Observation>, Skip> {
    let (h, frame) = body.split_first_chunk::<8>().ok_or(Skip::Truncated)?;
    if h[0] >> 4 != 1 {
        return Err(Skip::UnsupportedEncapsulation);
    }
    ethernet(ts, frame, depth)
}

fn erspan_iii(ts: Timestamp, body: &[u8], depth: u8) -> Result<Option<Observation>, Skip> {
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
        0 => ethernet(ts, frame, depth),
        2 => ip::any(ts, frame, depth),
        _ => Err(Skip::UnsupportedEncapsulation),
    }
}

//! TCP: the flags decide, before anything else, whether a segment is worth
//! fingerprinting.

use std::net::IpAddr;

use super::ip::{Cx, IpHeader};
use super::{flags, IpVersion, Kind, Observation, Skip, TcpOptions, Timestamp};

/// What the link and IP walk hands a TCP segment to, and what it returns:
/// the walk is written once and compiled for each.
pub(super) trait Segments {
    type Out;
    fn segment(
        cx: &Cx<'_>,
        ip: IpHeader<'_>,
        segment: &[u8],
        cut: bool,
    ) -> Result<Option<Self::Out>, Skip>;
}

/// SYNs and SYN+ACKs, fully decoded; every other segment is `None`.
pub(super) struct Handshakes;

impl Segments for Handshakes {
    type Out = Observation;
    #[inline(always)]
    fn segment(
        cx: &Cx<'_>,
        ip: IpHeader<'_>,
        segment: &[u8],
        cut: bool,
    ) -> Result<Option<Observation>, Skip> {
        handshake(cx, ip, segment, cut)
    }
}

/// The segments after the handshake that p0f's connection following reads
/// (ACK, FIN, RST); SYNs and what p0f drops are `None`.
pub(super) struct Followed;

impl Segments for Followed {
    type Out = Segment;
    fn segment(
        cx: &Cx<'_>,
        ip: IpHeader<'_>,
        segment: &[u8],
        cut: bool,
    ) -> Result<Option<Segment>, Skip> {
        Ok(followed(cx.ts, ip, segment, cut))
    }
}

/// A TCP segment other than a SYN, as p0f reads it to follow a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub ts: Timestamp,
    pub src_ip: IpAddr,
    pub dst_ip: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    /// The flag byte (FIN 0x01 ... CWR 0x80).
    pub flags: u8,
    pub seq: u32,
    pub payload_len: u32,
    /// The payload's first bytes, zero-padded: enough to tell an HTTP
    /// request (`GET /`, `HEAD /`) from anything else.
    pub payload_head: [u8; 6],
    /// TSval as p0f reads the options, 0 without one.
    pub ts1: u32,
}

fn followed(ts: Timestamp, ip: IpHeader<'_>, segment: &[u8], cut: bool) -> Option<Segment> {
    let h = segment.first_chunk::<20>()?;
    let flag_byte = h[13];
    let syn = flag_byte & flags::SYN as u8 != 0;
    let fin = flag_byte & flags::FIN as u8 != 0;
    let rst = flag_byte & flags::RST as u8 != 0;
    let ack = flag_byte & flags::ACK as u8 != 0;
    // p0f drops a packet cut short by the snap length, SYNs (fingerprinted
    // elsewhere), FIN with RST, and segments with none of SYN, ACK, FIN or
    // RST.
    if cut || syn || (fin && rst) || !(ack || fin || rst) {
        return None;
    }
    let header_len = usize::from(h[12] >> 4) * 4;
    if header_len < 20 {
        return None;
    }
    let option_bytes = segment.get(20..header_len)?;
    let payload = segment.get(header_len..)?;
    let mut payload_head = [0u8; 6];
    for (d, s) in payload_head.iter_mut().zip(payload) {
        *d = *s;
    }
    let ts1 = if option_bytes.is_empty() {
        0
    } else {
        let options = TcpOptions::parse(option_bytes);
        options.p0f.ts1(&options)
    };
    let f = IpFields::of(ip);
    Some(Segment {
        ts,
        src_ip: f.src,
        dst_ip: f.dst,
        src_port: u16::from_be_bytes([h[0], h[1]]),
        dst_port: u16::from_be_bytes([h[2], h[3]]),
        flags: flag_byte,
        seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        payload_len: payload.len() as u32,
        payload_head,
        ts1,
    })
}

fn handshake(
    cx: &Cx<'_>,
    ip: IpHeader<'_>,
    segment: &[u8],
    cut: bool,
) -> Result<Option<Observation>, Skip> {
    let h = segment
        .first_chunk::<20>()
        .ok_or(Skip::short_of_headers(cut))?;
    // The common case (data, ACKs, FINs) stops here, before any option or
    // address is looked at.
    let flag_byte = h[13];
    let syn_rst_fin = (flags::SYN | flags::RST | flags::FIN) as u8;
    if flag_byte & syn_rst_fin != flags::SYN as u8 {
        return Ok(None);
    }
    if cut {
        return Err(Skip::Truncated);
    }
    let data_offset = h[12] >> 4;
    let header_len = usize::from(data_offset) * 4;
    if data_offset < 5 {
        return Err(Skip::BadHeaderLength);
    }
    let option_bytes = segment.get(20..header_len).ok_or(Skip::BadHeaderLength)?;
    let tcp_flags = u16::from(flag_byte) | (u16::from(h[12] & 0x0f) << 8);
    let kind = if tcp_flags & flags::ACK != 0 {
        Kind::SynAck
    } else {
        Kind::Syn
    };
    let payload_len = (segment.len() - header_len) as u16;
    let be16 = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    let be32 = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);

    let f = IpFields::of(ip);
    // Built in one expression, straight into the caller's slot: the
    // observation is up to 192 bytes and this runs for every SYN.
    Ok(Some(Observation {
        ts: cx.ts,
        kind,
        ip_version: f.version,
        src_ip: f.src,
        dst_ip: f.dst,
        ttl: f.ttl,
        tos: f.tos,
        df: f.df,
        mf: f.mf,
        ip_reserved_flag: f.reserved_flag,
        ip_id: f.id,
        ip_total_length: f.total_length,
        ip_header_len: f.header_len,
        ip_options_len: f.options_len,
        flow_label: f.flow_label,
        src_port: be16(0),
        dst_port: be16(2),
        seq: be32(4),
        ack: be32(8),
        tcp_flags,
        tcp_data_offset: data_offset,
        window: be16(14),
        urgent_ptr: be16(18),
        payload_len,
        options: TcpOptions::parse(option_bytes),
        tunnel: cx.tunnel.map(|t| Box::new(t.resolve())),
    }))
}

/// The IP header's part of an observation.
struct IpFields {
    version: IpVersion,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    tos: u8,
    df: bool,
    mf: bool,
    reserved_flag: bool,
    id: u16,
    total_length: u32,
    header_len: u8,
    options_len: u16,
    flow_label: u32,
}

impl IpFields {
    #[inline(always)]
    fn of(ip: IpHeader<'_>) -> IpFields {
        let (src, dst) = ip.addresses();
        match ip {
            IpHeader::V4 { fixed, options_len } => IpFields {
                version: IpVersion::V4,
                src,
                dst,
                ttl: fixed[8],
                tos: fixed[1],
                df: fixed[6] & 0x40 != 0,
                mf: fixed[6] & 0x20 != 0,
                reserved_flag: fixed[6] & 0x80 != 0,
                id: u16::from_be_bytes([fixed[4], fixed[5]]),
                total_length: u16::from_be_bytes([fixed[2], fixed[3]]).into(),
                header_len: (fixed[0] & 0x0f) * 4,
                options_len,
                flow_label: 0,
            },
            IpHeader::V6 { fixed, ext_len } => {
                let first = u32::from_be_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]);
                IpFields {
                    version: IpVersion::V6,
                    src,
                    dst,
                    ttl: fixed[7],
                    tos: (first >> 20) as u8,
                    df: false,
                    mf: false,
                    reserved_flag: false,
                    id: 0,
                    total_length: u32::from(u16::from_be_bytes([fixed[4], fixed[5]])) + 40,
                    header_len: 40,
                    options_len: ext_len,
                    flow_label: first & 0x000f_ffff,
                }
            }
        }
    }
}

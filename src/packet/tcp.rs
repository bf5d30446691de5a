//! TCP: the flags decide, before anything else, whether a segment is worth
//! fingerprinting.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ip::IpHeader;
use super::{flags, IpVersion, Kind, Observation, Skip, TcpOptions, Timestamp};

pub(super) fn segment(
    ts: Timestamp,
    ip: IpHeader<'_>,
    segment: &[u8],
    cut: bool,
) -> Result<Option<Observation>, Skip> {
    let h = segment.first_chunk::<20>().ok_or(Skip::Truncated)?;
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
    let tcp_flags = u16::from(flag_byte) | (u16::from(h[12] & 1) << 8);
    let kind = if tcp_flags & flags::ACK != 0 {
        Kind::SynAck
    } else {
        Kind::Syn
    };
    let payload_len = (segment.len() - header_len) as u16;
    let be16 = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    let be32 = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);

    let mut obs = Observation {
        ts,
        kind,
        ip_version: IpVersion::V4,
        src_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        dst_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        ttl: 0,
        tos: 0,
        df: false,
        mf: false,
        ip_reserved_flag: false,
        ip_id: 0,
        ip_total_length: 0,
        ip_header_len: 0,
        ip_options_len: 0,
        flow_label: 0,
        src_port: be16(0),
        dst_port: be16(2),
        seq: be32(4),
        ack: be32(8),
        tcp_flags,
        tcp_data_offset: data_offset,
        tcp_reserved: (h[12] >> 1) & 0x07,
        window: be16(14),
        urgent_ptr: be16(18),
        payload_len,
        options: TcpOptions::parse(option_bytes),
    };
    fill_ip(&mut obs, ip);
    Ok(Some(obs))
}

fn fill_ip(obs: &mut Observation, ip: IpHeader<'_>) {
    match ip {
        IpHeader::V4 { fixed, options_len } => {
            let [a, b, c, d] = [fixed[12], fixed[13], fixed[14], fixed[15]];
            let [e, f, g, k] = [fixed[16], fixed[17], fixed[18], fixed[19]];
            obs.ip_version = IpVersion::V4;
            obs.src_ip = IpAddr::V4(Ipv4Addr::new(a, b, c, d));
            obs.dst_ip = IpAddr::V4(Ipv4Addr::new(e, f, g, k));
            obs.ttl = fixed[8];
            obs.tos = fixed[1];
            obs.df = fixed[6] & 0x40 != 0;
            obs.mf = fixed[6] & 0x20 != 0;
            obs.ip_reserved_flag = fixed[6] & 0x80 != 0;
            obs.ip_id = u16::from_be_bytes([fixed[4], fixed[5]]);
            obs.ip_total_length = u16::from_be_bytes([fixed[2], fixed[3]]);
            obs.ip_header_len = (fixed[0] & 0x0f) * 4;
            obs.ip_options_len = options_len;
        }
        IpHeader::V6 { fixed, ext_len } => {
            let first = u32::from_be_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]);
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src.copy_from_slice(&fixed[8..24]);
            dst.copy_from_slice(&fixed[24..40]);
            obs.ip_version = IpVersion::V6;
            obs.src_ip = IpAddr::V6(Ipv6Addr::from(src));
            obs.dst_ip = IpAddr::V6(Ipv6Addr::from(dst));
            obs.ttl = fixed[7];
            obs.tos = (first >> 20) as u8;
            obs.flow_label = first & 0x000f_ffff;
            obs.ip_total_length = u16::from_be_bytes([fixed[4], fixed[5]]).saturating_add(40);
            obs.ip_header_len = 40;
            obs.ip_options_len = ext_len;
        }
    }
}

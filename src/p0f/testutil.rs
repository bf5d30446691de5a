//! Observations straight from crafted packets, for unit tests: the fields a
//! correct decoder reads from `TcpPacket::ip_bytes()`.

use crate::craft::TcpPacket;
use crate::packet::{flags, IpVersion, Kind, Observation, TcpOptions, Timestamp};

pub(crate) fn observe(p: &TcpPacket, ts: Timestamp) -> Observation {
    let v4 = p.src.is_ipv4() && p.dst.is_ipv4();
    let opt_len = p.options.len().div_ceil(4) * 4;
    let mut opts = p.options.clone();
    opts.resize(opt_len, 0);
    let ip_opts = if v4 {
        p.ip_options.len().div_ceil(4) * 4
    } else {
        0
    };
    let ip_header_len = if v4 { 20 + ip_opts } else { 40 };
    let tcp_len = 20 + opt_len + p.payload.len();
    Observation {
        ts,
        kind: if p.flags & flags::ACK != 0 {
            Kind::SynAck
        } else {
            Kind::Syn
        },
        ip_version: if v4 { IpVersion::V4 } else { IpVersion::V6 },
        src_ip: p.src,
        dst_ip: p.dst,
        ttl: p.ttl,
        tos: p.tos,
        df: v4 && p.df,
        mf: v4 && p.mf,
        ip_reserved_flag: v4 && p.ip_reserved_flag,
        ip_id: if v4 { p.ip_id } else { 0 },
        ip_total_length: (ip_header_len + tcp_len) as u16,
        ip_header_len: ip_header_len as u8,
        ip_options_len: ip_opts as u16,
        flow_label: if v4 { 0 } else { p.flow_label & 0xF_FFFF },
        src_port: p.src_port,
        dst_port: p.dst_port,
        seq: p.seq,
        ack: p.ack,
        tcp_flags: p.flags,
        tcp_data_offset: ((20 + opt_len) / 4) as u8,
        tcp_reserved: 0,
        window: p.window,
        urgent_ptr: p.urgent,
        payload_len: p.payload.len() as u16,
        options: TcpOptions::parse(&opts),
    }
}

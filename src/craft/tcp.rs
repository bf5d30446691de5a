use std::net::{IpAddr, Ipv4Addr};

use crate::packet::flags;

/// One IPv4 or IPv6 + TCP packet, every header field settable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpPacket {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    /// IPv4 TOS / IPv6 traffic class, ECN bits included.
    pub tos: u8,
    pub df: bool,
    pub mf: bool,
    pub ip_reserved_flag: bool,
    pub ip_id: u16,
    pub flow_label: u32,
    /// IPv4 option bytes (padded by the caller to a multiple of four).
    pub ip_options: Vec<u8>,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    /// Low 8 bits are the classic flags; 0x100 is NS, 0x200-0x800 the
    /// reserved bits.
    pub flags: u16,
    pub window: u16,
    pub urgent: u16,
    /// Raw option bytes; the data offset is rounded up to cover them, with
    /// zero padding.
    pub options: Vec<u8>,
    pub payload: Vec<u8>,
}

impl TcpPacket {
    /// A bare SYN between two addresses; set the other fields as needed.
    pub fn syn(src: IpAddr, src_port: u16, dst: IpAddr, dst_port: u16) -> Self {
        TcpPacket {
            src,
            dst,
            ttl: 64,
            tos: 0,
            df: true,
            mf: false,
            ip_reserved_flag: false,
            ip_id: 0x1234,
            flow_label: 0,
            ip_options: Vec::new(),
            src_port,
            dst_port,
            seq: 0x1000_0000,
            ack: 0,
            flags: flags::SYN,
            window: 65535,
            urgent: 0,
            options: Vec::new(),
            payload: Vec::new(),
        }
    }

    /// The SYN+ACK a server would answer this SYN with (addresses and ports
    /// swapped, ACK = seq + 1); header fields are left for the caller.
    pub fn syn_ack_for(syn: &TcpPacket) -> Self {
        let mut p = TcpPacket::syn(syn.dst, syn.dst_port, syn.src, syn.src_port);
        p.flags = flags::SYN | flags::ACK;
        p.ack = syn.seq.wrapping_add(1);
        p.seq = syn.seq.wrapping_mul(2_654_435_761).wrapping_add(7);
        p
    }

    /// Rewrites the values of every timestamp option in `options` (the
    /// layout stays as crafted); false when there is none. Walks the bytes
    /// as a sender lays them out: it stops at EOL or at a length that does
    /// not fit.
    pub fn set_timestamp(&mut self, val: u32, ecr: u32) -> bool {
        let mut found = false;
        let mut i = 0;
        while let Some(&kind) = self.options.get(i) {
            match kind {
                0 => break,
                1 => i += 1,
                _ => {
                    let Some(&len) = self.options.get(i + 1) else {
                        break;
                    };
                    let len = usize::from(len).max(2);
                    if kind == 8 && len == 10 {
                        if let Some(body) = self.options.get_mut(i + 2..i + 10) {
                            body[..4].copy_from_slice(&val.to_be_bytes());
                            body[4..].copy_from_slice(&ecr.to_be_bytes());
                            found = true;
                        }
                    }
                    i += len;
                }
            }
        }
        found
    }

    fn tcp_header_len(&self) -> usize {
        20 + self.options.len().div_ceil(4) * 4
    }

    /// The TCP header and payload, with the checksum over the pseudo-header.
    pub fn tcp_bytes(&self) -> Vec<u8> {
        let hlen = self.tcp_header_len();
        let mut t = Vec::with_capacity(hlen + self.payload.len());
        t.extend_from_slice(&self.src_port.to_be_bytes());
        t.extend_from_slice(&self.dst_port.to_be_bytes());
        t.extend_from_slice(&self.seq.to_be_bytes());
        t.extend_from_slice(&self.ack.to_be_bytes());
        let doff = (hlen / 4) as u8;
        t.push((doff << 4) | ((self.flags >> 8) as u8 & 0x0f));
        t.push(self.flags as u8);
        t.extend_from_slice(&self.window.to_be_bytes());
        t.extend_from_slice(&[0, 0]);
        t.extend_from_slice(&self.urgent.to_be_bytes());
        t.extend_from_slice(&self.options);
        t.resize(hlen, 0);
        t.extend_from_slice(&self.payload);

        let mut pseudo = Vec::with_capacity(40 + t.len());
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                pseudo.extend_from_slice(&s.octets());
                pseudo.extend_from_slice(&d.octets());
                pseudo.extend_from_slice(&[0, 6]);
                pseudo.extend_from_slice(&(t.len() as u16).to_be_bytes());
            }
            (s, d) => {
                pseudo.extend_from_slice(&v6_octets(s));
                pseudo.extend_from_slice(&v6_octets(d));
                pseudo.extend_from_slice(&(t.len() as u32).to_be_bytes());
                pseudo.extend_from_slice(&[0, 0, 0, 6]);
            }
        }
        pseudo.extend_from_slice(&t);
        let sum = internet_checksum(&pseudo);
        t[16..18].copy_from_slice(&sum.to_be_bytes());
        t
    }

    /// The whole IP packet (IPv4 when both addresses are IPv4, else IPv6).
    pub fn ip_bytes(&self) -> Vec<u8> {
        let tcp = self.tcp_bytes();
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let ihl = 20 + self.ip_options.len().div_ceil(4) * 4;
                let total = ihl + tcp.len();
                let mut p = Vec::with_capacity(total);
                p.push(0x40 | (ihl / 4) as u8);
                p.push(self.tos);
                p.extend_from_slice(&(total as u16).to_be_bytes());
                p.extend_from_slice(&self.ip_id.to_be_bytes());
                let mut fl = 0u16;
                if self.ip_reserved_flag {
                    fl |= 0x8000;
                }
                if self.df {
                    fl |= 0x4000;
                }
                if self.mf {
                    fl |= 0x2000;
                }
                p.extend_from_slice(&fl.to_be_bytes());
                p.push(self.ttl);
                p.push(6);
                p.extend_from_slice(&[0, 0]);
                p.extend_from_slice(&s.octets());
                p.extend_from_slice(&d.octets());
                p.extend_from_slice(&self.ip_options);
                p.resize(ihl, 0);
                let sum = internet_checksum(&p[..ihl]);
                p[10..12].copy_from_slice(&sum.to_be_bytes());
                p.extend_from_slice(&tcp);
                p
            }
            (s, d) => {
                let mut p = Vec::with_capacity(40 + tcp.len());
                let first: u32 =
                    (6 << 28) | (u32::from(self.tos) << 20) | (self.flow_label & 0xF_FFFF);
                p.extend_from_slice(&first.to_be_bytes());
                p.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
                p.push(6);
                p.push(self.ttl);
                p.extend_from_slice(&v6_octets(s));
                p.extend_from_slice(&v6_octets(d));
                p.extend_from_slice(&tcp);
                p
            }
        }
    }
}

fn v6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

/// Wraps an IP packet in an Ethernet II header (EtherType from the version
/// nibble).
pub fn ethernet_frame(ip: &[u8]) -> Vec<u8> {
    super::encap::ethernet_tagged(ip, &[])
}

/// RFC 1071 ones' complement sum.
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl Default for TcpPacket {
    fn default() -> Self {
        let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let b = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
        TcpPacket::syn(a, 40000, b, 443)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_timestamp_rewrites_the_values_the_decoder_reads() {
        use crate::craft::Stack;
        use crate::packet::{decode_ip, Timestamp};
        let a = "192.0.2.1".parse().expect("address");
        let b = "192.0.2.2".parse().expect("address");
        let mut mac = Stack::MacOs.syn(a, 1, b, 2, 3);
        let before = mac.options.len();
        assert!(mac.set_timestamp(0x0102_0304, 0x0a0b_0c0d));
        assert_eq!(mac.options.len(), before);
        let obs = decode_ip(Timestamp(0), &mac.ip_bytes())
            .ok()
            .flatten()
            .expect("a SYN");
        assert_eq!(obs.options.timestamp, Some((0x0102_0304, 0x0a0b_0c0d)));
        let mut win = Stack::Windows.syn(a, 1, b, 2, 3);
        let options = win.options.clone();
        assert!(!win.set_timestamp(1, 2));
        assert_eq!(win.options, options);
    }

    #[test]
    fn ipv4_header_checksum_verifies() {
        let p = TcpPacket::default().ip_bytes();
        assert_eq!(internet_checksum(&p[..20]), 0);
        assert_eq!(p.len(), 40);
    }
}

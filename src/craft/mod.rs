//! Crafting packets byte by byte: for tests, fixtures, the benchmark's
//! generated captures and the capture-mode test that sends SYNs over veth.
//!
//! Everything here produces wire bytes with correct lengths and checksums,
//! so tshark and p0f read the result exactly as they read real traffic.

mod encap;
mod options;
mod stacks;
mod tcp;

pub use encap::{
    bsd_loopback, erspan_ii, erspan_iii, etherip, ethernet_8023, ethernet_tagged, geneve, gre,
    gtp_u, ipv4_outer, ipv6_outer, ipv6_with_extensions, l2tp, linux_sll, linux_sll2, lisp, mpls,
    nflog, pflog, pktap, ppp, pppoe_session, pptp_gre, radiotap, teredo, udp, vxlan, vxlan_gpe,
    wifi_data, with_auth_header, Encapsulation, GreFields, Ipv6Ext,
};
pub use options::OptionBytes;
pub use stacks::Stack;
pub use tcp::{ethernet_frame, internet_checksum, TcpPacket};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Client number `n` and a server, both IPv6 or both IPv4, from the
/// documentation and private ranges: one distinct client per `n`
/// (2001:db8::hi:lo from the two halves of `n`, or 10.0.0.0/8 by its low 24
/// bits).
pub fn numbered_hosts(n: u32, v6: bool) -> (IpAddr, IpAddr) {
    if v6 {
        (
            IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                0,
                0,
                0,
                0,
                (n >> 16) as u16,
                n as u16,
            )),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1)),
        )
    } else {
        (
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (n & 0x00ff_ffff))),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        )
    }
}

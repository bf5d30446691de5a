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
    bsd_loopback, erspan_ii, erspan_iii, ethernet_tagged, geneve, gre, ipv4_outer, ipv6_outer,
    ipv6_with_extensions, linux_sll, linux_sll2, udp, vxlan, Encapsulation, GreFields, Ipv6Ext,
};
pub use options::OptionBytes;
pub use stacks::Stack;
pub use tcp::{ethernet_frame, internet_checksum, TcpPacket};

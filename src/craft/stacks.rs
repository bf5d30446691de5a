use std::net::IpAddr;

use super::{OptionBytes, TcpPacket};
use crate::packet::{Observation, Timestamp};

/// Typical client SYN layouts of today's stacks, with their default header
/// values. Used to build labelled test captures and benchmark traffic; the
/// classifier's knowledge lives in its data file, not here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stack {
    /// Windows 10/11: TTL 128, window 64240 (64800 over IPv6), no timestamps.
    Windows,
    /// macOS 12+: window 65535, ws 6, timestamps, EOL padding, IP ID 0.
    MacOs,
    /// iOS 15+: the macOS stack (IP ID 0), typically with a cellular MSS.
    Ios,
    /// Desktop Linux 5.x/6.x: window 64240 = 44 × 1460 (64800 = 45 × 1440
    /// over IPv6), ws 7.
    Linux,
    /// Android 10+: Linux option order, window 65535, ws 9.
    Android,
    /// FreeBSD 13/14: window 65535, mss,nop,ws,sok,ts, IP ID 0.
    FreeBsd,
    /// OpenBSD 7: window 16384 and its NOP-heavy layout.
    OpenBsd,
    /// A small embedded Linux (router/IoT): window a multiple of MSS, ws 2.
    Embedded,
}

impl Stack {
    pub const ALL: [Stack; 8] = [
        Stack::Windows,
        Stack::MacOs,
        Stack::Ios,
        Stack::Linux,
        Stack::Android,
        Stack::FreeBsd,
        Stack::OpenBsd,
        Stack::Embedded,
    ];

    /// A SYN from this stack; `n` varies the per-connection values (IP ID,
    /// sequence number, timestamp) deterministically.
    pub fn syn(self, src: IpAddr, src_port: u16, dst: IpAddr, dst_port: u16, n: u32) -> TcpPacket {
        let mut p = TcpPacket::syn(src, src_port, dst, dst_port);
        let mix = n.wrapping_mul(2_654_435_761) ^ 0x5bd1_e995;
        p.seq = mix;
        p.ip_id = (mix >> 16) as u16 | 1;
        let v6 = src.is_ipv6();
        let mss = if v6 { 1440 } else { 1460 };
        let ts = mix.rotate_left(7) | 1;
        // Windows and Linux offer the largest multiple of their own MSS
        // under 64 KiB: 64240 = 44 x 1460, over IPv6 64800 = 45 x 1440.
        let mss_multiple = 65535 / mss * mss;
        let (ttl, window, opts) = match self {
            Stack::Windows => (
                128,
                mss_multiple,
                OptionBytes::new().mss(mss).nop().ws(8).nop().nop().sok(),
            ),
            Stack::MacOs => (
                64,
                65535,
                OptionBytes::new()
                    .mss(mss)
                    .nop()
                    .ws(6)
                    .nop()
                    .nop()
                    .ts(ts, 0)
                    .sok()
                    .eol()
                    .eol(),
            ),
            Stack::Ios => (
                64,
                65535,
                OptionBytes::new()
                    .mss(mss - 80)
                    .nop()
                    .ws(6)
                    .nop()
                    .nop()
                    .ts(ts, 0)
                    .sok()
                    .eol()
                    .eol(),
            ),
            Stack::Linux => (
                64,
                mss_multiple,
                OptionBytes::new().mss(mss).sok().ts(ts, 0).nop().ws(7),
            ),
            Stack::Android => (
                64,
                65535,
                OptionBytes::new().mss(mss).sok().ts(ts, 0).nop().ws(9),
            ),
            Stack::FreeBsd => (
                64,
                65535,
                OptionBytes::new().mss(mss).nop().ws(6).sok().ts(ts, 0),
            ),
            Stack::OpenBsd => (
                64,
                16384,
                OptionBytes::new()
                    .mss(mss)
                    .nop()
                    .nop()
                    .sok()
                    .nop()
                    .ws(6)
                    .nop()
                    .nop()
                    .ts(ts, 0),
            ),
            Stack::Embedded => (
                64,
                14600,
                OptionBytes::new().mss(1460).sok().ts(ts, 0).nop().ws(2),
            ),
        };
        // Apple stacks send IP ID 0 on DF SYNs (zardaxt's labelled SYNs,
        // 2022-2023), as FreeBSD does (net.inet.ip.rfc6864, on by default);
        // the others a per-connection random ID.
        if matches!(self, Stack::MacOs | Stack::Ios | Stack::FreeBsd) {
            p.ip_id = 0;
        }
        p.ttl = ttl;
        p.window = window;
        p.options = opts.0;
        if v6 {
            p.flow_label = mix & 0xF_FFFF;
        }
        p
    }
}

impl TcpPacket {
    /// The [`Observation`] the decoder makes of this packet's bytes; `None`
    /// when it is not a SYN or SYN+ACK. One decoder for real and crafted
    /// packets alike, so tests cannot drift from what users run.
    pub fn to_observation(&self, ts: Timestamp) -> Option<Observation> {
        crate::packet::decode_ip(ts, &self.ip_bytes())
            .ok()
            .flatten()
    }
}

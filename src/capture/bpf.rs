//! The classic BPF program the capture attaches to its AF_PACKET socket, so
//! the kernel hands user space only TCP SYN and SYN+ACK segments (IPv4 and
//! IPv6), optionally only those to or from one server port.
//!
//! The link type is read from the kernel's `skb->protocol` (an ancillary
//! load), so the same program works for Ethernet frames (network header at
//! offset 14) and cooked SOCK_DGRAM packets (offset 0). Limits, by design of
//! a short filter: IPv6 packets whose TCP header follows extension headers,
//! and IPv4 fragments other than the first, are not passed (p0f skips them
//! too); tunnels are not opened in the kernel (capture a tunnel's inner
//! interface instead).

use crate::sys::SockFilter;

const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const W: u16 = 0x00;
const H: u16 = 0x08;
const B: u16 = 0x10;
const ABS: u16 = 0x20;
const IND: u16 = 0x40;
const MSH: u16 = 0xa0;
const JA: u16 = 0x00;
const JEQ: u16 = 0x10;
const JSET: u16 = 0x40;
const K: u16 = 0x00;

/// `SKF_AD_OFF + SKF_AD_PROTOCOL`: loads the EtherType of the packet.
const AD_PROTOCOL: u32 = (-0x1000i32) as u32;
/// `SKF_AD_OFF + SKF_AD_PKTTYPE`: loads the packet type (`PACKET_HOST`,
/// `PACKET_OUTGOING`, ...).
const AD_PKTTYPE: u32 = (-0x1000i32 + 4) as u32;
/// `SKF_AD_OFF + SKF_AD_IFINDEX`: loads the interface index.
const AD_IFINDEX: u32 = (-0x1000i32 + 8) as u32;
const PACKET_OUTGOING: u32 = 4;
/// The loopback interface has this index in every network namespace.
const LOOPBACK_IFINDEX: u32 = 1;

/// Bytes passed to user space per packet: the whole packet. Only SYNs and
/// SYN+ACKs pass, nearly all under 128 bytes (the ring's frames are as long
/// as their packet), but one carrying data (TCP Fast Open, or padding to
/// hide from a short snap length) must arrive whole: the decoder counts a
/// packet shorter than its IP length as truncated, not fingerprinted.
pub const SNAPLEN: u32 = 0xffff;

const TCP_SYN: u32 = 0x02;
const TCP_ACK: u32 = 0x10;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Label {
    V4,
    V4Ack,
    V6,
    V6Ack,
    Proto,
    Accept,
    Reject,
}

enum Op {
    Stmt(u16, u32),
    /// Conditional jump: (code, k, target if true, target if false); `None`
    /// is the next instruction.
    Jump(u16, u32, Option<Label>, Option<Label>),
    Goto(Label),
    Mark(Label),
}

/// Builds the filter. `l3` is the offset of the IP header in what the
/// socket sees (14 for Ethernet SOCK_RAW, 0 for SOCK_DGRAM); `port` keeps
/// only SYNs to that port and SYN+ACKs from it.
///
/// A packet on the loopback interface is seen twice, as it leaves and as
/// it arrives: the leaving copy is dropped, so one SYN is one sighting, not
/// a SYN and its retransmission. (Elsewhere what leaves is this host's own
/// SYNs and SYN+ACKs, seen once.)
pub fn syn_filter(l3: u32, port: Option<u16>) -> Vec<SockFilter> {
    use Label::*;
    let mut ops = vec![
        Op::Stmt(LD | W | ABS, AD_PKTTYPE),
        Op::Jump(JMP | JEQ | K, PACKET_OUTGOING, None, Some(Proto)),
        Op::Stmt(LD | W | ABS, AD_IFINDEX),
        Op::Jump(JMP | JEQ | K, LOOPBACK_IFINDEX, Some(Reject), None),
        Op::Mark(Proto),
        Op::Stmt(LD | W | ABS, AD_PROTOCOL),
        Op::Jump(JMP | JEQ | K, 0x0800, Some(V4), None),
        Op::Jump(JMP | JEQ | K, 0x86dd, Some(V6), Some(Reject)),
        Op::Mark(V4),
        Op::Stmt(LD | B | ABS, l3 + 9),
        Op::Jump(JMP | JEQ | K, 6, None, Some(Reject)),
        // Fragment offset non-zero: no TCP header here.
        Op::Stmt(LD | H | ABS, l3 + 6),
        Op::Jump(JMP | JSET | K, 0x1fff, Some(Reject), None),
        // X = IPv4 header length.
        Op::Stmt(LDX | B | MSH, l3),
        Op::Stmt(LD | B | IND, l3 + 13),
        Op::Jump(JMP | JSET | K, TCP_SYN, None, Some(Reject)),
    ];
    match port {
        Some(p) => ops.extend([
            Op::Jump(JMP | JSET | K, TCP_ACK, Some(V4Ack), None),
            Op::Stmt(LD | H | IND, l3 + 2),
            Op::Jump(JMP | JEQ | K, u32::from(p), Some(Accept), Some(Reject)),
            Op::Mark(V4Ack),
            Op::Stmt(LD | H | IND, l3),
            Op::Jump(JMP | JEQ | K, u32::from(p), Some(Accept), Some(Reject)),
        ]),
        None => ops.push(Op::Goto(Accept)),
    }
    ops.extend([
        Op::Mark(V6),
        Op::Stmt(LD | B | ABS, l3 + 6),
        Op::Jump(JMP | JEQ | K, 6, None, Some(Reject)),
        Op::Stmt(LD | B | ABS, l3 + 40 + 13),
        Op::Jump(JMP | JSET | K, TCP_SYN, None, Some(Reject)),
    ]);
    match port {
        Some(p) => ops.extend([
            Op::Jump(JMP | JSET | K, TCP_ACK, Some(V6Ack), None),
            Op::Stmt(LD | H | ABS, l3 + 40 + 2),
            Op::Jump(JMP | JEQ | K, u32::from(p), Some(Accept), Some(Reject)),
            Op::Mark(V6Ack),
            Op::Stmt(LD | H | ABS, l3 + 40),
            Op::Jump(JMP | JEQ | K, u32::from(p), Some(Accept), Some(Reject)),
        ]),
        None => ops.push(Op::Goto(Accept)),
    }
    ops.extend([
        Op::Mark(Accept),
        Op::Stmt(RET | K, SNAPLEN),
        Op::Mark(Reject),
        Op::Stmt(RET | K, 0),
    ]);
    assemble(&ops)
}

/// Resolves labels to the relative offsets classic BPF jumps use. The
/// program is tiny and all jumps go forward, so offsets always fit a u8.
fn assemble(ops: &[Op]) -> Vec<SockFilter> {
    let mut at = Vec::new();
    let mut n = 0u32;
    for op in ops {
        match op {
            Op::Mark(l) => at.push((*l, n)),
            _ => n += 1,
        }
    }
    let target = |l: Label| at.iter().find(|(m, _)| *m == l).map_or(0, |(_, i)| *i);
    let rel = |from: u32, to: Option<Label>| -> u32 {
        to.map_or(0, |l| target(l).saturating_sub(from + 1))
    };
    let mut out = Vec::new();
    for op in ops {
        let pc = out.len() as u32;
        match *op {
            Op::Mark(_) => {}
            Op::Stmt(code, k) => out.push(SockFilter {
                code,
                jt: 0,
                jf: 0,
                k,
            }),
            Op::Jump(code, k, t, f) => out.push(SockFilter {
                code,
                jt: rel(pc, t) as u8,
                jf: rel(pc, f) as u8,
                k,
            }),
            Op::Goto(l) => out.push(SockFilter {
                code: JMP | JA,
                jt: 0,
                jf: 0,
                k: rel(pc, Some(l)),
            }),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::craft::{ethernet_frame, Stack, TcpPacket};
    use crate::packet::flags;
    use std::net::IpAddr;

    /// What the kernel knows of a packet besides its bytes.
    #[derive(Clone, Copy)]
    pub(crate) struct Meta {
        ethertype: u16,
        pkttype: u32,
        ifindex: u32,
    }

    /// A packet arriving on an interface other than loopback.
    pub(crate) fn run(prog: &[SockFilter], pkt: &[u8], ethertype: u16) -> u32 {
        let meta = Meta {
            ethertype,
            pkttype: 0,
            ifindex: 2,
        };
        run_with(prog, pkt, meta)
    }

    /// A classic BPF interpreter for the instructions the filter uses, with
    /// the kernel's semantics: loads past the end reject the packet.
    pub(crate) fn run_with(prog: &[SockFilter], pkt: &[u8], meta: Meta) -> u32 {
        let (mut a, mut x) = (0u32, 0u32);
        let mut pc = 0usize;
        let load = |off: u32, size: usize| -> Option<u32> {
            let off = off as usize;
            let b = pkt.get(off..off.checked_add(size)?)?;
            Some(b.iter().fold(0u32, |acc, &v| (acc << 8) | u32::from(v)))
        };
        for _ in 0..=prog.len() {
            let Some(i) = prog.get(pc) else { return 0 };
            pc += 1;
            let size = match i.code & 0x18 {
                W => 4,
                H => 2,
                _ => 1,
            };
            match i.code & 0x07 {
                0x00 => {
                    let v = match i.code & 0xe0 {
                        ABS if i.k == AD_PROTOCOL => Some(u32::from(meta.ethertype)),
                        ABS if i.k == AD_PKTTYPE => Some(meta.pkttype),
                        ABS if i.k == AD_IFINDEX => Some(meta.ifindex),
                        ABS => load(i.k, size),
                        IND => load(x.wrapping_add(i.k), size),
                        other => panic!("unused mode {other:#x}"),
                    };
                    match v {
                        Some(v) => a = v,
                        None => return 0,
                    }
                }
                0x01 => {
                    assert_eq!(i.code, LDX | B | MSH);
                    match load(i.k, 1) {
                        Some(v) => x = (v & 0xf) * 4,
                        None => return 0,
                    }
                }
                0x05 => {
                    let taken = match i.code & 0xf0 {
                        JA => {
                            pc += i.k as usize;
                            continue;
                        }
                        JEQ => a == i.k,
                        JSET => a & i.k != 0,
                        other => panic!("unused jump {other:#x}"),
                    };
                    pc += usize::from(if taken { i.jt } else { i.jf });
                }
                0x06 => return i.k,
                other => panic!("unused class {other:#x}"),
            }
        }
        panic!("program did not terminate");
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn packets(v6: bool) -> (TcpPacket, TcpPacket) {
        let (c, s) = if v6 {
            (ip("2001:db8::1"), ip("2001:db8::2"))
        } else {
            (ip("192.0.2.1"), ip("192.0.2.2"))
        };
        let syn = Stack::Windows.syn(c, 50000, s, 443, 1);
        let synack = TcpPacket::syn_ack_for(&syn);
        (syn, synack)
    }

    fn verdict(prog: &[SockFilter], p: &TcpPacket, ethernet: bool) -> bool {
        let bytes = p.ip_bytes();
        let ethertype = if p.src.is_ipv6() { 0x86dd } else { 0x0800 };
        let frame = if ethernet {
            ethernet_frame(&bytes)
        } else {
            bytes
        };
        run(prog, &frame, ethertype) > 0
    }

    #[test]
    fn passes_syn_and_syn_ack_only() {
        for ethernet in [true, false] {
            let prog = syn_filter(if ethernet { 14 } else { 0 }, None);
            for v6 in [false, true] {
                let (syn, synack) = packets(v6);
                assert!(verdict(&prog, &syn, ethernet), "syn v6={v6} eth={ethernet}");
                assert!(verdict(&prog, &synack, ethernet), "synack v6={v6}");
                let mut ack = syn.clone();
                ack.flags = flags::ACK;
                assert!(!verdict(&prog, &ack, ethernet), "ack v6={v6}");
                let mut fin = syn.clone();
                fin.flags = flags::FIN | flags::ACK;
                assert!(!verdict(&prog, &fin, ethernet), "fin v6={v6}");
            }
        }
    }

    /// A SYN carrying data (TCP Fast Open) reaches user space whole, so it
    /// is fingerprinted rather than counted as truncated.
    #[test]
    fn a_syn_with_data_passes_whole() {
        for v6 in [false, true] {
            let (mut syn, _) = packets(v6);
            syn.payload = vec![0x58; 1200];
            let frame = ethernet_frame(&syn.ip_bytes());
            let ethertype = if v6 { 0x86dd } else { 0x0800 };
            let kept = run(&syn_filter(14, Some(443)), &frame, ethertype);
            assert!(
                kept as usize >= frame.len(),
                "v6={v6}: {kept} of {}",
                frame.len()
            );
        }
    }

    #[test]
    fn drops_the_leaving_copy_on_loopback_only() {
        let prog = syn_filter(14, None);
        let (syn, _) = packets(false);
        let frame = ethernet_frame(&syn.ip_bytes());
        let on = |pkttype, ifindex| {
            let meta = Meta {
                ethertype: 0x0800,
                pkttype,
                ifindex,
            };
            run_with(&prog, &frame, meta) > 0
        };
        assert!(on(0, LOOPBACK_IFINDEX), "arriving on loopback");
        assert!(!on(PACKET_OUTGOING, LOOPBACK_IFINDEX), "leaving loopback");
        assert!(on(PACKET_OUTGOING, 2), "leaving another interface");
        assert!(on(0, 2), "arriving on another interface");
    }

    #[test]
    fn rejects_non_tcp_fragments_and_short_packets() {
        let prog = syn_filter(0, None);
        let (syn, _) = packets(false);
        let mut bytes = syn.ip_bytes();
        // UDP with the same bytes otherwise.
        let mut udp = bytes.clone();
        udp[9] = 17;
        assert_eq!(run(&prog, &udp, 0x0800), 0);
        // ARP EtherType.
        assert_eq!(run(&prog, &bytes, 0x0806), 0);
        // A later fragment.
        let mut frag = syn.clone();
        frag.mf = false;
        bytes = frag.ip_bytes();
        bytes[7] = 8;
        assert_eq!(run(&prog, &bytes, 0x0800), 0);
        // Cut off before the TCP flags.
        let short = &syn.ip_bytes()[..30];
        assert_eq!(run(&prog, short, 0x0800), 0);
    }

    #[test]
    fn ipv4_options_move_the_tcp_header() {
        let prog = syn_filter(0, Some(443));
        let (mut syn, _) = packets(false);
        syn.ip_options = vec![1, 1, 1, 0];
        assert!(verdict(&prog, &syn, false));
        let mut ack = syn.clone();
        ack.flags = flags::ACK;
        assert!(!verdict(&prog, &ack, false));
    }

    #[test]
    fn port_filter_matches_direction() {
        for v6 in [false, true] {
            let prog = syn_filter(14, Some(443));
            let (syn, synack) = packets(v6);
            assert!(verdict(&prog, &syn, true));
            assert!(verdict(&prog, &synack, true));
            let other = syn_filter(14, Some(80));
            assert!(!verdict(&other, &syn, true));
            assert!(!verdict(&other, &synack, true));
            // A SYN *from* port 443 (to elsewhere) is not to the server.
            let mut rev = syn.clone();
            rev.src_port = 443;
            rev.dst_port = 50000;
            assert!(!verdict(&prog, &rev, true));
        }
    }

    #[test]
    fn every_jump_lands_inside_the_program() {
        for port in [None, Some(1)] {
            for l3 in [0, 14] {
                let prog = syn_filter(l3, port);
                for (pc, i) in prog.iter().enumerate() {
                    if i.code & 0x07 == 0x05 {
                        let next = pc + 1;
                        let targets = if i.code & 0xf0 == JA {
                            vec![next + i.k as usize]
                        } else {
                            vec![next + usize::from(i.jt), next + usize::from(i.jf)]
                        };
                        assert!(targets.iter().all(|&t| t < prog.len()), "pc {pc}");
                    }
                }
                assert_eq!(prog.last().map(|i| i.code), Some(RET | K));
            }
        }
    }
}

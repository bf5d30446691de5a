//! The classic BPF program the capture attaches to its AF_PACKET socket, so
//! the kernel hands user space only TCP SYN and SYN+ACK segments (IPv4 and
//! IPv6), optionally only those to or from one server port.
//!
//! The link type is read from the kernel's `skb->protocol` (an ancillary
//! load), so the same program works for Ethernet frames (network header at
//! offset 14) and cooked SOCK_DGRAM packets (offset 0). The kernel has
//! already taken one VLAN tag off a frame (into metadata) when the filter
//! runs; a frame that still carries one (QinQ) is read past it.
//!
//! One IPv6 hop-by-hop, destination-options or routing header is walked.
//! What the filter cannot look into cheaply it passes whole, for user space
//! to decode and (with a port) filter: IPv4 with an authentication header,
//! IPv6 behind a chain of extension headers or other ones, frames under a
//! third VLAN tag, and, when asked for ([`Scope::tunnels`]), every packet of the
//! tunnels the decoder opens (IP-in-IP, GRE, EtherIP, MPLS-in-IP, the UDP
//! tunnel ports, and on Ethernet MPLS and PPPoE frames), which on a busy
//! tunnel endpoint is most of its traffic. IP fragments are never passed
//! (the decoder skips them all, as p0f does), but for IPv6's atomic ones.

use crate::packet::{ethertype, ip_protocol, UDP_TUNNEL_PORTS};
use crate::sys::SockFilter;

const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const W: u16 = 0x00;
const H: u16 = 0x08;
const B: u16 = 0x10;
const ABS: u16 = 0x20;
const IND: u16 = 0x40;
const IMM: u16 = 0x00;
const MSH: u16 = 0xa0;
const ADD: u16 = 0x00;
const LSH: u16 = 0x60;
const TAX: u16 = 0x00;
const TXA: u16 = 0x80;
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

/// Where the network header starts in an Ethernet frame.
pub const ETHERNET_L3: u32 = 14;
/// Where it starts behind the one tag the kernel leaves in a QinQ frame.
const TAGGED_L3: u32 = 18;

const TCP_SYN: u32 = 0x02;
const TCP_ACK: u32 = 0x10;

const VLAN_TAGS: [u16; 3] = [ethertype::VLAN, ethertype::QINQ, ethertype::QINQ_OLD];
/// Frames of these EtherTypes carry IP only behind headers of their own.
const LINK_TUNNELS: [u16; 3] = [
    ethertype::MPLS,
    ethertype::MPLS_MULTICAST,
    ethertype::PPPOE_SESSION,
];

/// What the filter passes besides plain SYNs and SYN+ACKs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Only SYNs to (and SYN+ACKs from) this port; tunnelled ones are
    /// checked in user space.
    pub port: Option<u16>,
    /// Also pass every packet of the tunnels the decoder opens.
    pub tunnels: bool,
}

/// Labels name where a jump goes. The IP headers' blocks are written once
/// per place the header can start; they leave the transport header's
/// offset in X for the one TCP and one UDP block.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Label {
    V4(u32),
    V6(u32),
    V6Ext(u32),
    V6Fragment(u32),
    Tcp,
    TcpAck,
    Udp,
    Tagged,
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

/// Jumps to `t` when A is `k`, to `f` when not (`None`: the next
/// instruction).
fn jeq(k: impl Into<u32>, t: Option<Label>, f: Option<Label>) -> Op {
    Op::Jump(JMP | JEQ | K, k.into(), t, f)
}

/// Jumps to `to` when A is one of `values`; falls through otherwise.
fn when_one_of(ops: &mut Vec<Op>, values: impl IntoIterator<Item = u32>, to: Label) {
    ops.extend(values.into_iter().map(|v| jeq(v, Some(to), None)));
}

/// Builds the filter. `l3` is the offset of the IP header in what the
/// socket sees ([`ETHERNET_L3`] for Ethernet SOCK_RAW, 0 for SOCK_DGRAM).
///
/// A packet on the loopback interface is seen twice, as it leaves and as
/// it arrives: the leaving copy is dropped, so one SYN is one sighting, not
/// a SYN and its retransmission. (Elsewhere what leaves is this host's own
/// SYNs and SYN+ACKs, seen once.)
pub fn syn_filter(l3: u32, scope: Scope) -> Vec<SockFilter> {
    use Label::*;
    let ethernet = l3 == ETHERNET_L3;
    let mut ops = vec![
        Op::Stmt(LD | W | ABS, AD_PKTTYPE),
        jeq(PACKET_OUTGOING, None, Some(Proto)),
        Op::Stmt(LD | W | ABS, AD_IFINDEX),
        jeq(LOOPBACK_IFINDEX, Some(Reject), None),
        Op::Mark(Proto),
        Op::Stmt(LD | W | ABS, AD_PROTOCOL),
    ];
    by_ethertype(&mut ops, l3, scope, ethernet.then_some(Tagged));
    if ethernet {
        // The EtherType behind the tag the kernel left in the frame.
        ops.extend([Op::Mark(Tagged), Op::Stmt(LD | H | ABS, TAGGED_L3 - 2)]);
        by_ethertype(&mut ops, TAGGED_L3, scope, Some(Accept));
    }
    let starts: &[u32] = if ethernet { &[l3, TAGGED_L3] } else { &[l3] };
    for &at in starts {
        ipv4(&mut ops, at, scope);
        ipv6(&mut ops, at, scope);
    }
    tcp(&mut ops, scope.port);
    if scope.tunnels {
        udp(&mut ops);
    }
    ops.extend([
        Op::Mark(Accept),
        Op::Stmt(RET | K, SNAPLEN),
        Op::Mark(Reject),
        Op::Stmt(RET | K, 0),
    ]);
    assemble(&ops)
}

/// A holds an EtherType, whose IP header would start at `at`. On Ethernet,
/// a VLAN tag goes to `tagged`, and with tunnels MPLS and PPPoE are passed.
fn by_ethertype(ops: &mut Vec<Op>, at: u32, scope: Scope, tagged: Option<Label>) {
    use Label::*;
    ops.extend([
        jeq(ethertype::IPV4, Some(V4(at)), None),
        jeq(ethertype::IPV6, Some(V6(at)), None),
    ]);
    if let Some(tagged) = tagged {
        when_one_of(ops, VLAN_TAGS.map(u32::from), tagged);
        if scope.tunnels {
            when_one_of(ops, LINK_TUNNELS.map(u32::from), Accept);
        }
    }
    ops.push(Op::Goto(Reject));
}

/// The IPv4 header at `at`. Fragments are not passed: the decoder skips
/// every IPv4 fragment, the first too, as p0f does.
fn ipv4(ops: &mut Vec<Op>, at: u32, scope: Scope) {
    use Label::*;
    ops.extend([
        Op::Mark(V4(at)),
        Op::Stmt(LD | H | ABS, at + 6),
        Op::Jump(JMP | JSET | K, 0x3fff, Some(Reject), None),
        // X = where the payload starts: the header's length, plus `at`.
        Op::Stmt(LDX | B | MSH, at),
        Op::Stmt(MISC | TXA, 0),
        Op::Stmt(ALU | ADD | K, at),
        Op::Stmt(MISC | TAX, 0),
        Op::Stmt(LD | B | ABS, at + 9),
        jeq(ip_protocol::TCP, Some(Tcp), None),
        jeq(ip_protocol::AUTH, Some(Accept), None),
    ]);
    tunnels(ops, scope);
}

/// The IPv6 header at `at`. One hop-by-hop, destination-options or routing
/// header is walked in the kernel (MLD reports, which carry a router alert,
/// stop there); a chain of them, an atomic fragment and the other extension
/// headers go to user space whole; real fragments do not.
fn ipv6(ops: &mut Vec<Op>, at: u32, scope: Scope) {
    use Label::*;
    let payload = at + 40;
    ops.extend([
        Op::Mark(V6(at)),
        Op::Stmt(LDX | W | IMM, payload),
        Op::Stmt(LD | B | ABS, at + 6),
        jeq(ip_protocol::TCP, Some(Tcp), None),
    ]);
    let walked = [
        ip_protocol::HOP_BY_HOP,
        ip_protocol::DEST_OPTS,
        ip_protocol::ROUTING,
    ];
    when_one_of(ops, walked.map(u32::from), V6Ext(at));
    ops.push(jeq(ip_protocol::FRAGMENT, Some(V6Fragment(at)), None));
    when_one_of(ops, ip_protocol::IPV6_EXTENSIONS.map(u32::from), Accept);
    tunnels(ops, scope);
    ops.extend([
        // Only an atomic fragment (offset 0, no more to come: RFC 6946)
        // holds a whole packet; the decoder skips the others.
        Op::Mark(V6Fragment(at)),
        Op::Stmt(LD | H | ABS, payload + 2),
        Op::Jump(JMP | JSET | K, 0xfff9, Some(Reject), Some(Accept)),
        Op::Mark(V6Ext(at)),
        // X = past the extension header: 8 bytes and 8 per unit after.
        Op::Stmt(LD | B | ABS, payload + 1),
        Op::Stmt(ALU | ADD | K, 1),
        Op::Stmt(ALU | LSH | K, 3),
        Op::Stmt(ALU | ADD | K, payload),
        Op::Stmt(MISC | TAX, 0),
        Op::Stmt(LD | B | ABS, payload),
        jeq(ip_protocol::TCP, Some(Tcp), None),
    ]);
    when_one_of(ops, ip_protocol::IPV6_EXTENSIONS.map(u32::from), Accept);
    tunnels(ops, scope);
}

/// A holds an IP protocol that is not TCP, X where its header starts: with
/// tunnels, the tunnels the decoder opens are passed (UDP at their ports);
/// anything else is not.
fn tunnels(ops: &mut Vec<Op>, scope: Scope) {
    if scope.tunnels {
        when_one_of(ops, ip_protocol::TUNNELS.map(u32::from), Label::Accept);
        ops.push(jeq(ip_protocol::UDP, Some(Label::Udp), None));
    }
    ops.push(Op::Goto(Label::Reject));
}

/// The TCP header at X: SYNs (to `port`) and SYN+ACKs (from it) pass.
fn tcp(ops: &mut Vec<Op>, port: Option<u16>) {
    use Label::*;
    ops.extend([
        Op::Mark(Tcp),
        Op::Stmt(LD | B | IND, 13),
        Op::Jump(JMP | JSET | K, TCP_SYN, None, Some(Reject)),
    ]);
    match port {
        Some(p) => ops.extend([
            Op::Jump(JMP | JSET | K, TCP_ACK, Some(TcpAck), None),
            Op::Stmt(LD | H | IND, 2),
            jeq(p, Some(Accept), Some(Reject)),
            Op::Mark(TcpAck),
            Op::Stmt(LD | H | IND, 0),
            jeq(p, Some(Accept), Some(Reject)),
        ]),
        None => ops.push(Op::Goto(Accept)),
    }
}

/// The UDP header at X: a datagram to or from a tunnel port (the decoder
/// opens either) passes.
fn udp(ops: &mut Vec<Op>) {
    ops.push(Op::Mark(Label::Udp));
    for offset in [2, 0] {
        ops.push(Op::Stmt(LD | H | IND, offset));
        when_one_of(ops, UDP_TUNNEL_PORTS.map(u32::from), Label::Accept);
    }
    ops.push(Op::Goto(Label::Reject));
}

/// Resolves labels to the relative offsets classic BPF jumps use. All
/// jumps go forward; a conditional one must stay within 255 instructions,
/// which `every_jump_lands_inside_the_program` checks for every scope.
fn assemble(ops: &[Op]) -> Vec<SockFilter> {
    let mut at = Vec::new();
    let mut n = 0u32;
    for op in ops {
        match op {
            Op::Mark(l) => at.push((*l, n)),
            _ => n += 1,
        }
    }
    let target = |l: Label| {
        at.iter()
            .find(|(m, _)| *m == l)
            .map(|(_, i)| *i)
            .unwrap_or_else(|| panic!("a jump to {l:?}, which is not in the program"))
    };
    let rel = |from: u32, to: Option<Label>| -> u32 {
        to.map_or(0, |l| target(l).saturating_sub(from + 1))
    };
    // The program is fixed by this file, not by input: a jump too long for
    // a conditional is a defect the tests meet.
    let short = |d: u32| u8::try_from(d).expect("a BPF conditional jump of at most 255");
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
                jt: short(rel(pc, t)),
                jf: short(rel(pc, f)),
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
                0x01 if i.code == LDX | W | IMM => x = i.k,
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
                0x04 => match i.code & 0xf0 {
                    ADD => a = a.wrapping_add(i.k),
                    LSH => a = a.wrapping_shl(i.k),
                    other => panic!("unused ALU op {other:#x}"),
                },
                0x06 => return i.k,
                0x07 if i.code == MISC | TAX => x = a,
                0x07 if i.code == MISC | TXA => a = x,
                other => panic!("unused class {other:#x}"),
            }
        }
        panic!("program did not terminate");
    }

    fn port(p: u16) -> Scope {
        Scope {
            port: Some(p),
            tunnels: false,
        }
    }

    /// What an AF_PACKET socket's filter sees of an Ethernet frame
    /// received: the kernel has taken an 802.1Q or 802.1ad tag out of the
    /// frame into metadata (`skb_vlan_untag`), and `skb->protocol` is the
    /// EtherType then in the frame (802.3 frames with LLC: ETH_P_802_2).
    fn kernel_view(frame: &[u8]) -> (u16, Vec<u8>) {
        let type_at = |f: &[u8], i: usize| u16::from_be_bytes([f[i], f[i + 1]]);
        let mut f = frame.to_vec();
        if [ethertype::VLAN, ethertype::QINQ].contains(&type_at(&f, 12)) {
            f.drain(12..16);
        }
        let t = type_at(&f, 12);
        // The kernel reads a type field below 0x600 as an 802.3 length.
        (if t < 0x600 { 0x0004 } else { t }, f)
    }

    fn passes(prog: &[SockFilter], frame: &[u8]) -> bool {
        let (protocol, f) = kernel_view(frame);
        run(prog, &f, protocol) > 0
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
            let prog = syn_filter(if ethernet { 14 } else { 0 }, Scope::default());
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
            let kept = run(&syn_filter(14, port(443)), &frame, ethertype);
            assert!(
                kept as usize >= frame.len(),
                "v6={v6}: {kept} of {}",
                frame.len()
            );
        }
    }

    #[test]
    fn drops_the_leaving_copy_on_loopback_only() {
        let prog = syn_filter(14, Scope::default());
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
        let prog = syn_filter(0, Scope::default());
        let wide = syn_filter(
            0,
            Scope {
                port: None,
                tunnels: true,
            },
        );
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
        // A first fragment, which the decoder skips too; a tunnel's, or
        // one with an authentication header, alike.
        frag.mf = true;
        assert!(frag.ip_bytes()[6] & 0x20 != 0, "MF set");
        assert_eq!(run(&prog, &frag.ip_bytes(), 0x0800), 0);
        for protocol in [47, 51] {
            let mut bytes = frag.ip_bytes();
            bytes[9] = protocol;
            assert_eq!(run(&wide, &bytes, 0x0800), 0, "{protocol}");
        }
        assert_eq!(
            crate::packet::decode_ip(crate::packet::Timestamp::default(), &frag.ip_bytes()),
            Err(crate::packet::Skip::Fragment)
        );
        // Cut off before the TCP flags.
        let short = &syn.ip_bytes()[..30];
        assert_eq!(run(&prog, short, 0x0800), 0);
    }

    #[test]
    fn ipv4_options_move_the_tcp_header() {
        let prog = syn_filter(0, port(443));
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
            let prog = syn_filter(14, port(443));
            let (syn, synack) = packets(v6);
            assert!(verdict(&prog, &syn, true));
            assert!(verdict(&prog, &synack, true));
            let other = syn_filter(14, port(80));
            assert!(!verdict(&other, &syn, true));
            assert!(!verdict(&other, &synack, true));
            // A SYN *from* port 443 (to elsewhere) is not to the server.
            let mut rev = syn.clone();
            rev.src_port = 443;
            rev.dst_port = 50000;
            assert!(!verdict(&prog, &rev, true));
        }
    }

    /// A QinQ frame keeps its inner tag when the kernel has taken the
    /// outer one: the filter reads the IP header behind it.
    #[test]
    fn double_tagged_frames_are_read_behind_the_inner_tag() {
        for v6 in [false, true] {
            let (syn, synack) = packets(v6);
            for outer in [ethertype::QINQ, ethertype::VLAN, ethertype::QINQ_OLD] {
                let tagged = |p: &TcpPacket| {
                    crate::craft::ethernet_tagged(&p.ip_bytes(), &[(outer, 100), (0x8100, 10)])
                };
                let mut ack = syn.clone();
                ack.flags = flags::ACK;
                // The kernel does not untag 0x9100: two tags left, and the
                // frame is passed whole for user space.
                let whole = outer == ethertype::QINQ_OLD;
                for scope in [Scope::default(), port(443)] {
                    let prog = syn_filter(ETHERNET_L3, scope);
                    assert!(passes(&prog, &tagged(&syn)), "syn v6={v6} {outer:#x}");
                    assert!(passes(&prog, &tagged(&synack)), "syn+ack v6={v6}");
                    assert_eq!(
                        passes(&prog, &tagged(&ack)),
                        whole,
                        "ack v6={v6} {outer:#x}"
                    );
                }
                let other = syn_filter(ETHERNET_L3, port(80));
                assert_eq!(passes(&other, &tagged(&syn)), whole, "v6={v6} {outer:#x}");
            }
        }
    }

    /// One hop-by-hop, destination-options or routing header is walked in
    /// the kernel; what lies beyond (a chain of them, other extension
    /// headers, an IPv4 authentication header) goes to user space whole,
    /// which decodes it and checks its port.
    #[test]
    fn ipv6_extension_headers_and_ipv4_ah() {
        use crate::craft::{ipv6_outer, ipv6_with_extensions, with_auth_header, Ipv6Ext};
        let prog = syn_filter(0, port(443));
        let (syn6, synack6) = packets(true);
        let mut ack6 = syn6.clone();
        ack6.flags = flags::ACK;
        let mut elsewhere = syn6.clone();
        elsewhere.dst_port = 80;
        let with = |p: &TcpPacket, exts: &[Ipv6Ext]| {
            let bytes = ipv6_with_extensions(&p.ip_bytes(), exts);
            run(&prog, &bytes, 0x86dd) > 0
        };
        let padded = |number, units| Ipv6Ext::PaddedOptions { number, units };
        for ext in [
            Ipv6Ext::HopByHop,
            Ipv6Ext::Routing,
            Ipv6Ext::DestinationOptions,
            padded(0, 1),
            padded(60, 2),
            padded(60, 31),
        ] {
            assert!(with(&syn6, &[ext]), "{ext:?}");
            assert!(with(&synack6, &[ext]), "syn+ack {ext:?}");
            assert!(!with(&ack6, &[ext]), "ack {ext:?}");
            assert!(!with(&elsewhere, &[ext]), "port 80 {ext:?}");
        }
        let chain = [Ipv6Ext::HopByHop, Ipv6Ext::DestinationOptions];
        assert!(
            with(&syn6, &chain) && with(&ack6, &chain),
            "a chain goes whole"
        );
        assert!(with(&ack6, &[Ipv6Ext::Shim6]), "unwalked headers go whole");
        // Fragments: an atomic one goes whole; the others, first or later,
        // are skipped by the decoder and stay in the kernel.
        let fragment = |offset, more| Ipv6Ext::Fragment { offset, more };
        assert!(with(&ack6, &[fragment(0, false)]), "atomic fragment");
        for (offset, more) in [(0, true), (8, true), (8, false)] {
            let frag = [fragment(offset, more)];
            assert!(!with(&syn6, &frag), "fragment {offset} {more}");
            let bytes = ipv6_with_extensions(&syn6.ip_bytes(), &frag);
            let decoded = crate::packet::decode_ip(crate::packet::Timestamp::default(), &bytes);
            assert_eq!(decoded, Err(crate::packet::Skip::Fragment));
        }
        // An MLD report: hop-by-hop (router alert), then ICMPv6.
        let mld = ipv6_outer(0, &[58, 0, 5, 2, 0, 0, 1, 0, 143, 0, 0, 0]);
        assert_eq!(run(&prog, &mld, 0x86dd), 0);
        let (syn4, _) = packets(false);
        assert!(run(&prog, &with_auth_header(&syn4.ip_bytes()), 0x0800) > 0);
    }

    /// Every frame the decoder opens to a SYN inside passes the filter
    /// asked for tunnels; without, only those of plain IP (tagged or not,
    /// behind extension headers or not). So the filter and the decoder
    /// keep to the same tunnels.
    #[test]
    fn with_tunnels_every_decoded_encapsulation_passes() {
        use crate::craft::Encapsulation;
        use crate::packet::{decode, LinkType, Timestamp};
        let plain = [
            Encapsulation::Ethernet,
            Encapsulation::Vlan,
            Encapsulation::QinQ,
            Encapsulation::QinQ9100,
            Encapsulation::AuthHeader,
        ];
        let ip_view = |frame: &[u8]| {
            let (protocol, f) = kernel_view(frame);
            [ethertype::IPV4, ethertype::IPV6]
                .contains(&protocol)
                .then(|| (protocol, f[14..].to_vec()))
        };
        let (mut ethernet, mut cooked) = (0, 0);
        for v6 in [false, true] {
            let (syn, _) = packets(v6);
            for enc in Encapsulation::ALL {
                let (link, frame) = enc.wrap(&syn.ip_bytes());
                if link != LinkType::ETHERNET {
                    continue;
                }
                let decoded = decode(link, Timestamp::default(), &frame);
                assert!(matches!(decoded, Ok(Some(_))), "{enc:?} v6={v6}");
                // 802.3 frames reach the socket as ETH_P_802_2: not read.
                let readable = enc != Encapsulation::Ieee8023;
                for scope in [port(443), Scope::default()] {
                    let tunnels = Scope {
                        tunnels: true,
                        ..scope
                    };
                    let wide = syn_filter(ETHERNET_L3, tunnels);
                    assert_eq!(passes(&wide, &frame), readable, "{enc:?} v6={v6}");
                    let narrow = syn_filter(ETHERNET_L3, scope);
                    let want = plain.contains(&enc);
                    assert_eq!(passes(&narrow, &frame), want, "{enc:?} v6={v6} plain");
                    // `any` and interfaces without an Ethernet header hand
                    // over what follows the link header.
                    if let Some((protocol, ip)) = ip_view(&frame) {
                        let wide = syn_filter(0, tunnels);
                        assert!(run(&wide, &ip, protocol) > 0, "{enc:?} v6={v6} cooked");
                        let narrow = syn_filter(0, scope);
                        assert_eq!(run(&narrow, &ip, protocol) > 0, want, "{enc:?} cooked");
                        cooked += 1;
                    }
                    ethernet += 1;
                }
            }
        }
        assert!(
            ethernet >= 60 && cooked >= 40,
            "{ethernet} frames, {cooked} cooked"
        );
    }

    /// Tunnel traffic that the decoder would not open stays in the kernel.
    #[test]
    fn other_udp_and_protocols_are_rejected_with_tunnels() {
        use crate::craft::{ipv4_outer, ipv6_outer, udp};
        let wide = syn_filter(
            0,
            Scope {
                port: None,
                tunnels: true,
            },
        );
        let dns = udp(53000, 53, b"query");
        assert_eq!(run(&wide, &ipv4_outer(17, &dns), 0x0800), 0);
        assert_eq!(run(&wide, &ipv6_outer(17, &dns), 0x86dd), 0);
        // ICMP, SCTP, ESP.
        for proto in [1, 132, 50] {
            assert_eq!(run(&wide, &ipv4_outer(proto, &dns), 0x0800), 0, "{proto}");
        }
        let vxlan_reply = udp(4789, 40000, b"12345678");
        assert!(run(&wide, &ipv4_outer(17, &vxlan_reply), 0x0800) > 0);
        // A later fragment of a datagram to a tunnel port has no UDP header.
        let mut frag = ipv4_outer(17, &udp(40000, 4789, b"12345678"));
        frag[7] = 8;
        assert_eq!(run(&wide, &frag, 0x0800), 0);
    }

    #[test]
    fn every_jump_lands_inside_the_program() {
        let scopes = [None, Some(1)]
            .into_iter()
            .flat_map(|port| [false, true].map(|tunnels| Scope { port, tunnels }));
        for scope in scopes {
            for l3 in [0, ETHERNET_L3] {
                let prog = syn_filter(l3, scope);
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
                // Room for more tunnels: no conditional jump near the limit.
                let longest = prog.iter().map(|i| i.jt.max(i.jf)).max();
                assert!(longest < Some(200), "{scope:?} l3 {l3}: {longest:?}");
            }
        }
    }
}

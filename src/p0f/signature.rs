//! The p0f signature of one SYN or SYN+ACK, as p0f 3.09b computes and logs it
//! (`raw_sig`). Built without allocation; rendered only on output.

use std::fmt;

use crate::packet::{flags, IpVersion, Kind, Observation, TcpOption};
use crate::sink::{format_with, TextSink};

use super::{MAX_DIST, MAX_OPTIONS};

/// p0f's quirk bits. The values are p0f's own, so the rendering order below
/// (p0f's) and the fuzzy-match rules read like fp_tcp.c.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Quirks(pub u32);

impl Quirks {
    pub const ECN: Quirks = Quirks(0x0000_0001);
    pub const DF: Quirks = Quirks(0x0000_0002);
    pub const NZ_ID: Quirks = Quirks(0x0000_0004);
    pub const ZERO_ID: Quirks = Quirks(0x0000_0008);
    pub const NZ_MBZ: Quirks = Quirks(0x0000_0010);
    pub const FLOW: Quirks = Quirks(0x0000_0020);
    pub const ZERO_SEQ: Quirks = Quirks(0x0000_1000);
    pub const NZ_ACK: Quirks = Quirks(0x0000_2000);
    pub const ZERO_ACK: Quirks = Quirks(0x0000_4000);
    pub const NZ_URG: Quirks = Quirks(0x0000_8000);
    pub const URG: Quirks = Quirks(0x0001_0000);
    pub const PUSH: Quirks = Quirks(0x0002_0000);
    pub const OPT_ZERO_TS1: Quirks = Quirks(0x0100_0000);
    pub const OPT_NZ_TS2: Quirks = Quirks(0x0200_0000);
    pub const OPT_EOL_NZ: Quirks = Quirks(0x0400_0000);
    pub const OPT_EXWS: Quirks = Quirks(0x0800_0000);
    pub const OPT_BAD: Quirks = Quirks(0x1000_0000);

    /// Every quirk with its p0f.fp spelling, in the order p0f prints them.
    pub const NAMES: [(Quirks, &'static str); 17] = [
        (Quirks::DF, "df"),
        (Quirks::NZ_ID, "id+"),
        (Quirks::ZERO_ID, "id-"),
        (Quirks::ECN, "ecn"),
        (Quirks::NZ_MBZ, "0+"),
        (Quirks::FLOW, "flow"),
        (Quirks::ZERO_SEQ, "seq-"),
        (Quirks::NZ_ACK, "ack+"),
        (Quirks::ZERO_ACK, "ack-"),
        (Quirks::NZ_URG, "uptr+"),
        (Quirks::URG, "urgf+"),
        (Quirks::PUSH, "pushf+"),
        (Quirks::OPT_ZERO_TS1, "ts1-"),
        (Quirks::OPT_NZ_TS2, "ts2+"),
        (Quirks::OPT_EOL_NZ, "opt+"),
        (Quirks::OPT_EXWS, "exws"),
        (Quirks::OPT_BAD, "bad"),
    ];

    pub fn contains(self, q: Quirks) -> bool {
        self.0 & q.0 == q.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(crate) fn insert(&mut self, q: Quirks) {
        self.0 |= q.0;
    }
}

impl Quirks {
    /// The quirk names p0f prints, comma-separated, in its order.
    pub(crate) fn write_to(&self, out: &mut impl TextSink) {
        let mut first = true;
        for (q, name) in Quirks::NAMES {
            if self.contains(q) {
                if !first {
                    out.text(",");
                }
                out.text(name);
                first = false;
            }
        }
    }
}

impl fmt::Display for Quirks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_with(f, |out| self.write_to(out))
    }
}

/// The TCP option kinds in wire order, as far as p0f reads them (at most
/// 24). Unused slots stay zero so derived equality sees only the layout;
/// `key` is a hash built while pushing, so the signature index hashes one
/// word per packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    kinds: [u8; MAX_OPTIONS],
    len: u8,
    key: u64,
}

impl std::hash::Hash for Layout {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.key);
    }
}

impl Layout {
    /// The 64-bit hash built while the layout was read (what `Hash` writes).
    pub fn key(&self) -> u64 {
        self.key
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.kinds[..usize::from(self.len)]
    }

    /// Appends a kind; false when the layout is already full.
    pub(crate) fn push(&mut self, kind: u8) -> bool {
        match self.kinds.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = kind;
                self.len += 1;
                self.key = Layout::mix(self.key, kind);
                true
            }
            None => false,
        }
    }

    /// The running layout hash: injective enough for an index key (equality
    /// still compares the kinds) and two instructions per option.
    fn mix(key: u64, kind: u8) -> u64 {
        key.wrapping_mul(257).wrapping_add(u64::from(kind) + 1)
    }

    /// The first `MAX_OPTIONS` kinds of an option list.
    pub(crate) fn from_kinds(kinds: &[u8]) -> Layout {
        let mut l = Layout::default();
        for (slot, &kind) in l.kinds.iter_mut().zip(kinds) {
            *slot = kind;
            l.key = Layout::mix(l.key, kind);
        }
        l.len = kinds.len().min(MAX_OPTIONS) as u8;
        l
    }

    /// Renders the layout in p0f.fp syntax; `eol_pad` is written after the
    /// EOL (which p0f only ever records last).
    pub(crate) fn write_with_pad(&self, out: &mut impl TextSink, eol_pad: u8) {
        for (i, &k) in self.as_slice().iter().enumerate() {
            if i > 0 {
                out.text(",");
            }
            match k {
                0 => {
                    out.text("eol+");
                    out.number(eol_pad.into());
                }
                1 => out.text("nop"),
                2 => out.text("mss"),
                3 => out.text("ws"),
                4 => out.text("sok"),
                5 => out.text("sack"),
                8 => out.text("ts"),
                other => {
                    out.text("?");
                    out.number(other.into());
                }
            }
        }
    }
}

/// How p0f writes a window size: a multiple of the MSS or MTU where it
/// detects one, else the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowForm {
    Value(u16),
    Mss(u16),
    Mtu(u16),
}

/// p0f's `SPECIAL_MSS`: the MSS p0f-sendsyn uses, shown as `*` when echoed
/// back in a SYN+ACK.
pub(crate) const SENDSYN_MSS: u16 = 1331;
/// p0f's `SPECIAL_WIN`, the window of p0f-sendsyn probes.
pub(crate) const SENDSYN_WIN: u16 = 1337;

/// Everything p0f derives from one SYN or SYN+ACK for its signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpSignature {
    pub kind: Kind,
    pub ip_version: IpVersion,
    /// Observed TTL / hop limit.
    pub ttl: u8,
    /// IPv4 option bytes (0 for IPv6).
    pub ip_opt_len: u8,
    /// The last MSS option p0f read, 0 without one.
    pub mss: u16,
    pub window: u16,
    /// The last window scale option p0f read, 0 without one.
    pub wscale: u8,
    pub layout: Layout,
    pub eol_pad: u8,
    pub quirks: Quirks,
    /// The segment carries payload (p0f's `pclass` `+`).
    pub payload: bool,
    /// The sender's own timestamp (TSval of the last timestamp option), 0
    /// without one.
    pub ts1: u32,
    /// IP + TCP header bytes, for p0f's "MTU (actual size)" window test.
    pub tot_hdr: u16,
    /// p0f's window multiplier (`detect_win_multi`): positive when the
    /// window is rendered as `mss*N`/`mtu*N`.
    pub(crate) win_multi: i16,
    pub(crate) win_mtu: bool,
}

impl TcpSignature {
    /// Computes p0f's signature. `syn_mss_for_synack` is the MSS of the SYN
    /// this SYN+ACK answers (p0f remembers it per connection and tries it as
    /// a window divisor); it is ignored for SYNs, which p0f always
    /// fingerprints with no peer MSS.
    pub fn from_observation(obs: &Observation, syn_mss_for_synack: Option<u16>) -> Self {
        let mut quirks = Quirks::default();
        let v4 = obs.ip_version == IpVersion::V4;

        if obs.tos & 0x03 != 0 {
            quirks.insert(Quirks::ECN);
        }
        if v4 {
            if obs.ip_reserved_flag {
                quirks.insert(Quirks::NZ_MBZ);
            }
            if obs.df {
                quirks.insert(Quirks::DF);
                if obs.ip_id != 0 {
                    quirks.insert(Quirks::NZ_ID);
                }
            } else if obs.ip_id == 0 {
                quirks.insert(Quirks::ZERO_ID);
            }
        } else if obs.flow_label & 0xF_FFFF != 0 {
            quirks.insert(Quirks::FLOW);
        }

        if obs.tcp_flags & (flags::ECE | flags::CWR | flags::NS) != 0 {
            quirks.insert(Quirks::ECN);
        }
        if obs.seq == 0 {
            quirks.insert(Quirks::ZERO_SEQ);
        }
        if obs.has_flag(flags::ACK) {
            if obs.ack == 0 {
                quirks.insert(Quirks::ZERO_ACK);
            }
        } else if !obs.has_flag(flags::RST) && (obs.ack >> 24) & 1 != 0 {
            // p0f tests `raw_word & 1` on the unconverted big-endian word;
            // on the little-endian hosts it runs on that is bit 24.
            quirks.insert(Quirks::NZ_ACK);
        }
        if obs.has_flag(flags::URG) {
            quirks.insert(Quirks::URG);
        } else if obs.urgent_ptr != 0 {
            quirks.insert(Quirks::NZ_URG);
        }
        if obs.has_flag(flags::PSH) {
            quirks.insert(Quirks::PUSH);
        }

        // p0f's "plain SYN" test looks at SYN/ACK/FIN/RST only.
        let plain_syn =
            obs.tcp_flags & (flags::SYN | flags::ACK | flags::FIN | flags::RST) == flags::SYN;

        let view = &obs.options.p0f;
        if view.ts1_zero() {
            quirks.insert(Quirks::OPT_ZERO_TS1);
        }
        if plain_syn && view.ts2_nonzero() {
            quirks.insert(Quirks::OPT_NZ_TS2);
        }
        if view.ws_excessive() {
            quirks.insert(Quirks::OPT_EXWS);
        }
        let opts = obs.options.kinds();
        let layout = Layout::from_kinds(opts);
        // The option parser stops at the first EOL, so an EOL is last; p0f
        // sees it only within its first 24 options.
        let mut eol_pad = 0u8;
        if opts.len() <= MAX_OPTIONS && obs.options.last() == Some(TcpOption::Eol) {
            eol_pad = obs.options.eol_pad;
            if obs.options.eol_pad_nonzero_not_last() {
                quirks.insert(Quirks::OPT_EOL_NZ);
            }
        }
        let (mss, wscale, ts1) = (view.mss, view.wscale, view.ts1(&obs.options));
        // p0f stops after 24 options and calls whatever is left unparsed.
        if obs.options.malformed || opts.len() > MAX_OPTIONS {
            quirks.insert(Quirks::OPT_BAD);
        }

        let (ip_opt_len, ip_hdr) = if v4 {
            (
                u8::try_from(obs.ip_options_len).unwrap_or(u8::MAX),
                u16::from(obs.ip_header_len),
            )
        } else {
            (0, 40)
        };
        let tot_hdr = ip_hdr + u16::from(obs.tcp_data_offset) * 4;

        let syn_mss = match obs.kind {
            Kind::Syn => 0,
            Kind::SynAck => syn_mss_for_synack.unwrap_or(0),
        };

        let mut sig = TcpSignature {
            kind: obs.kind,
            ip_version: obs.ip_version,
            ttl: obs.ttl,
            ip_opt_len,
            mss,
            window: obs.window,
            wscale,
            layout,
            eol_pad,
            quirks,
            payload: obs.payload_len > 0,
            ts1,
            tot_hdr,
            win_multi: -1,
            win_mtu: false,
        };
        let (m, mtu) = win_multiplier(WinInputs {
            win: sig.window,
            mss: i32::from(sig.mss),
            ts1: sig.ts1,
            v6: !v4,
            tot_hdr: i32::from(tot_hdr),
            syn_mss: i32::from(syn_mss),
        });
        sig.win_multi = m;
        sig.win_mtu = mtu;
        sig
    }

    /// The window as p0f writes it in `raw_sig`.
    pub fn window_form(&self) -> WindowForm {
        if self.win_multi > 0 {
            let n = self.win_multi as u16;
            if self.win_mtu {
                WindowForm::Mtu(n)
            } else {
                WindowForm::Mss(n)
            }
        } else {
            WindowForm::Value(self.window)
        }
    }

    /// p0f-sendsyn's probe SYN, which p0f treats as a tool, not an OS.
    pub fn is_sendsyn_probe(&self) -> bool {
        self.kind == Kind::Syn && self.window == SENDSYN_WIN && self.mss == SENDSYN_MSS
    }
}

pub(crate) struct WinInputs {
    pub win: u16,
    pub mss: i32,
    pub ts1: u32,
    pub v6: bool,
    pub tot_hdr: i32,
    pub syn_mss: i32,
}

/// p0f's `detect_win_multi`: the first divisor, in p0f's order, that divides
/// the window; (-1, false) when none does. The result is truncated to 16
/// bits exactly as p0f's `s16` return value is.
pub(crate) fn win_multiplier(w: WinInputs) -> (i16, bool) {
    let win = i32::from(w.win);
    if win == 0 || w.mss < 100 {
        return (-1, false);
    }
    // The result is truncated to p0f's s16.
    let divides = |div: i32| div != 0 && win % div == 0;
    let found = |div: i32, mtu: bool| ((win / div) as i16, mtu);
    if divides(w.mss) {
        return found(w.mss, false);
    }
    if w.ts1 != 0 && divides(w.mss - 12) {
        return found(w.mss - 12, false);
    }
    for div in [1500 - 40, 1500 - 40 - 12] {
        if divides(div) {
            return found(div, false);
        }
    }
    if w.v6 {
        for div in [1500 - 60, 1500 - 60 - 12] {
            if divides(div) {
                return found(div, false);
            }
        }
    }
    for div in [w.mss + 40, w.mss + w.tot_hdr] {
        if divides(div) {
            return found(div, true);
        }
    }
    if w.v6 && divides(w.mss + 60) {
        return found(w.mss + 60, true);
    }
    if divides(1500) {
        return found(1500, true);
    }
    if w.syn_mss != 0 {
        for div in [w.syn_mss, w.syn_mss - 12] {
            if divides(div) {
                return found(div, false);
            }
        }
    }
    (-1, false)
}

impl TcpSignature {
    /// Byte for byte what p0f 3.09b logs as `raw_sig=`, written piece by
    /// piece: records render it straight into their output buffer.
    pub fn write_to(&self, out: &mut impl TextSink) {
        let dist = crate::packet::hops(self.ttl);
        out.number(self.ip_version.number().into());
        out.text(":");
        out.number(self.ttl.into());
        if dist > MAX_DIST {
            out.text("+?");
        } else {
            out.text("+");
            out.number(dist.into());
        }
        out.text(":");
        out.number(self.ip_opt_len.into());
        out.text(":");
        if self.mss == SENDSYN_MSS && self.kind == Kind::SynAck {
            out.text("*");
        } else {
            out.number(self.mss.into());
        }
        out.text(":");
        match self.window_form() {
            WindowForm::Value(v) => out.number(v.into()),
            WindowForm::Mss(n) => {
                out.text("mss*");
                out.number(n.into());
            }
            WindowForm::Mtu(n) => {
                out.text("mtu*");
                out.number(n.into());
            }
        }
        out.text(",");
        out.number(self.wscale.into());
        out.text(":");
        self.layout.write_with_pad(out, self.eol_pad);
        out.text(":");
        self.quirks.write_to(out);
        out.text(if self.payload { ":+" } else { ":0" });
    }
}

impl fmt::Display for TcpSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_with(f, |out| self.write_to(out))
    }
}

#[cfg(test)]
mod tests {
    /// The crafting crate's default SYN, built through a call clippy does
    /// not treat as `Default::default()` (tests tweak its fields).
    fn plain_syn() -> crate::craft::TcpPacket {
        Default::default()
    }

    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::craft::{OptionBytes, Stack, TcpPacket};
    use crate::p0f::testutil::observe;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    const A6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    const B6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));

    fn sig(p: &TcpPacket, syn_mss: Option<u16>) -> String {
        TcpSignature::from_observation(&observe(p, Timestamp::default()), syn_mss).to_string()
    }

    use crate::packet::Timestamp;

    #[test]
    fn stacks_render_as_p0f_does() {
        let cases = [
            (
                Stack::Linux,
                "4:64+0:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0",
            ),
            (
                Stack::Windows,
                "4:128+0:0:1460:mss*44,8:mss,nop,ws,nop,nop,sok:df,id+:0",
            ),
            (
                Stack::MacOs,
                "4:64+0:0:1460:65535,6:mss,nop,ws,nop,nop,ts,sok,eol+1:df:0",
            ),
            (
                Stack::OpenBsd,
                "4:64+0:0:1460:16384,6:mss,nop,nop,sok,nop,ws,nop,nop,ts:df,id+:0",
            ),
            (
                Stack::Embedded,
                "4:64+0:0:1460:mss*10,2:mss,sok,ts,nop,ws:df,id+:0",
            ),
        ];
        for (stack, want) in cases {
            assert_eq!(sig(&stack.syn(A, 1000, B, 80, 3), None), want, "{stack:?}");
        }
        // IPv6: no IPv4 quirks, a flow label, MSS 1440 and the window a
        // multiple of it; 64240 with that MSS is still mss*44 (p0f also
        // tries 1460, Ethernet's IPv4 MSS).
        let mut p = Stack::Linux.syn(A6, 1000, B6, 80, 3);
        assert_eq!(
            sig(&p, None),
            "6:64+0:0:1440:mss*45,7:mss,sok,ts,nop,ws:flow:0"
        );
        p.window = 64240;
        assert_eq!(
            sig(&p, None),
            "6:64+0:0:1440:mss*44,7:mss,sok,ts,nop,ws:flow:0"
        );
    }

    #[test]
    fn ttl_distance_is_guessed_from_the_next_common_initial_ttl() {
        for (ttl, want) in [
            (1, "1+31"),
            (32, "32+0"),
            (33, "33+31"),
            (64, "64+0"),
            (65, "65+?"),
            (93, "93+35"),
            (92, "92+?"),
            (128, "128+0"),
            (129, "129+?"),
            (220, "220+35"),
            (255, "255+0"),
        ] {
            let mut p = plain_syn();
            p.ttl = ttl;
            assert!(
                sig(&p, None).starts_with(&format!("4:{want}:")),
                "ttl {ttl}"
            );
        }
    }

    #[test]
    fn every_quirk_in_p0f_order() {
        let mut p = plain_syn();
        p.tos = 0x01;
        p.ip_reserved_flag = true;
        p.seq = 0;
        p.ack = 0x0100_0000;
        p.urgent = 1;
        p.flags |= flags::PSH | flags::ECE;
        // 20 bytes: an MSS with a wrong length byte, then EOL and a
        // non-zero padding byte that is not the last.
        p.options = OptionBytes::new()
            .ts(0, 9)
            .ws(15)
            .raw(&[2, 5, 5, 180])
            .eol()
            .raw(&[7, 0])
            .0;
        assert_eq!(
            sig(&p, None),
            "4:64+0:0:1460:65535,15:ts,ws,mss,eol+2:df,id+,ecn,0+,seq-,ack+,uptr+,pushf+,ts1-,ts2+,opt+,exws,bad:0"
        );
        let mut p = TcpPacket::syn_ack_for(&plain_syn());
        p.df = false;
        p.ip_id = 0;
        p.ack = 0;
        p.flags |= flags::URG;
        p.payload = vec![1];
        p.options = OptionBytes::new().ts(5, 9).0;
        // Ten option bytes: the crafted header pads them with two zeros.
        assert_eq!(
            sig(&p, None),
            "4:64+0:0:0:65535,0:ts,eol+1:id-,ack-,urgf+:+"
        );
    }

    #[test]
    fn ack_quirk_tests_bit_24_only_as_p0f_does() {
        for (ack, quirk) in [
            (1, false),
            (0x00ff_ffff, false),
            (0x0100_0000, true),
            (0xfe00_0000, false),
        ] {
            let mut p = plain_syn();
            p.ack = ack;
            assert_eq!(sig(&p, None).contains("ack+"), quirk, "{ack:#x}");
        }
    }

    #[test]
    fn layout_from_options_equals_pushing() {
        let o = crate::packet::TcpOptions::parse(&[1; 30]);
        let fast = Layout::from_kinds(o.kinds());
        let mut slow = Layout::default();
        for opt in o.iter() {
            slow.push(opt.kind());
        }
        assert_eq!(fast, slow);
        assert_eq!(fast.as_slice().len(), 24);
    }

    #[test]
    fn only_the_first_24_options_count() {
        let mut p = plain_syn();
        p.options = OptionBytes::new().raw(&[1; 24]).mss(1460).0;
        let s = sig(&p, None);
        assert!(s.starts_with("4:64+0:0:0:65535,0:nop,"), "{s}");
        assert!(s.ends_with(":df,id+,bad:0"), "{s}");
        assert_eq!(s.matches("nop").count(), 24);
        p.options = vec![1; 24];
        assert!(sig(&p, None).ends_with(":df,id+:0"));
    }

    #[test]
    fn window_multipliers_follow_p0f_divisor_order() {
        let mut p = plain_syn();
        let cases: [(u16, u16, bool, Option<u16>, &str); 9] = [
            (1460, 1460 * 44, false, None, "mss*44"),
            (1460, 1448 * 3, true, None, "mss*3"),
            (1460, 1448 * 3, false, None, "mss*3"),
            (1000, 1040 * 2, false, None, "mtu*2"),
            (1000, 1044 * 3, false, None, "mtu*3"),
            (1000, 1500 * 7, false, None, "mtu*7"),
            (99, 99 * 2, false, None, "198"),
            (1000, 1001, false, Some(1001), "1001"),
            (1000, 0, false, None, "0"),
        ];
        for (mss, win, ts, _, want) in cases {
            let mut o = OptionBytes::new().mss(mss);
            if ts {
                o = o.ts(1, 0);
            }
            p.options = o.0;
            p.window = win;
            let s = sig(&p, None);
            assert!(s.contains(&format!(":{mss}:{want},")), "{mss} {win}: {s}");
        }
        // On SYN+ACKs the peer's MSS (and MSS - 12) are tried last.
        let mut sa = TcpPacket::syn_ack_for(&p);
        sa.options = OptionBytes::new().mss(1301).0;
        sa.window = 1000 * 5;
        assert!(sig(&sa, Some(1000)).contains(":1301:mss*5,"));
        assert!(sig(&sa, None).contains(":1301:5000,"));
        sa.window = 988 * 3;
        assert!(sig(&sa, Some(1000)).contains(":1301:mss*3,"));
        // A SYN never uses a peer MSS.
        p.options = OptionBytes::new().mss(1301).0;
        p.window = 5000;
        assert!(sig(&p, Some(1000)).contains(":1301:5000,"));
        // p0f's 16-bit result: 40000 / 1 wraps negative and is not shown.
        sa.window = 40000;
        assert!(sig(&sa, Some(1)).contains(":1301:40000,"));
        sa.window = 20000;
        assert!(sig(&sa, Some(1)).contains(":1301:mss*20000,"));
        // The sendsyn MSS is a wildcard on SYN+ACKs only.
        sa.options = OptionBytes::new().mss(1331).0;
        sa.window = 7;
        assert!(sig(&sa, None).contains(":*:7,"));
        p.options = OptionBytes::new().mss(1331).0;
        assert!(sig(&p, None).contains(":1331:"));
    }

    #[test]
    fn ipv6_extension_headers_do_not_show() {
        // p0f drops IPv6 packets with extension headers; synprint renders
        // them as p0f would the same packet without (olen 0, 40-byte header).
        let mut p6 = Stack::Linux.syn(A6, 1000, B6, 80, 3);
        p6.options = OptionBytes::new().mss(1000).0;
        p6.window = 1060 * 2;
        let mut obs = observe(&p6, Timestamp::default());
        let plain = TcpSignature::from_observation(&obs, None).to_string();
        obs.ip_options_len = 8;
        obs.ip_total_length += 8;
        assert_eq!(
            TcpSignature::from_observation(&obs, None).to_string(),
            plain
        );
        assert_eq!(plain, "6:64+0:0:1000:mtu*2,0:mss:flow:0");
    }

    #[test]
    fn ip_options_and_ipv6_header_lengths() {
        let mut p = plain_syn();
        p.ip_options = vec![1, 1, 1, 1, 1, 1, 1, 1];
        p.options = OptionBytes::new().mss(1000).0;
        // MSS + actual headers (28 + 24) divides the window.
        p.window = 1052 * 3;
        assert_eq!(sig(&p, None), "4:64+0:8:1000:mtu*3,0:mss:df,id+:0");
        let mut p6 = TcpPacket::syn(A6, 1, B6, 2);
        p6.options = OptionBytes::new().mss(1000).0;
        p6.window = 1060 * 2;
        assert_eq!(sig(&p6, None), "6:64+0:0:1000:mtu*2,0:mss::0");
    }
}

//! Matching a signature against p0f.fp as fp_tcp.c's `tcp_find_match` does:
//! among the signatures with the same option layout, in file order, the
//! first exact specific match wins; else the first exact generic one; else
//! the first fuzzy one (quirks `df`/`id+` lost or `id-`/`ecn` gained, or the
//! TTL out of range).

use serde::ser::SerializeStruct;

use super::db::{Database, Label};
use super::signature::{Quirks, TcpSignature};
use super::MAX_DIST;
use crate::packet::{IpVersion, Kind, Observation};

/// How a p0f.fp signature gives the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WinRef {
    Any,
    /// `%N`: a multiple of N.
    Mod(u16),
    /// `mss*N`.
    Mss(u16),
    /// `mtu*N`.
    Mtu(u16),
    Value(u16),
}

/// One `sig` line of a `[tcp:*]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TcpRecord {
    pub label: u32,
    pub line: u32,
    pub generic: bool,
    /// Userland tool (`!` class): p0f never matches those fuzzily.
    pub app: bool,
    /// None = `*`.
    pub ip_ver: Option<IpVersion>,
    /// Initial TTL (plus any `+dist`).
    pub ttl: u8,
    pub bad_ttl: bool,
    pub olen: u8,
    pub mss: Option<u16>,
    pub window: WinRef,
    pub wscale: Option<u8>,
    pub eol_pad: u8,
    pub quirks: Quirks,
    /// `quirks` as compared with an IPv4 packet: a `*` line loses `flow`.
    pub quirks_v4: u32,
    /// `quirks` as compared with anything else: a `*` line loses `df`,
    /// `id+` and `id-`.
    pub quirks_v6: u32,
    /// None = `*`, else whether there is payload.
    pub pclass: Option<bool>,
}

/// What is compared against the records: a packet's signature, or (when
/// p0f checks a new p0f.fp line for duplicates) another record.
pub(crate) struct Probe {
    pub quirks: Quirks,
    /// IPv4 (anything else, including a `*` record, counts as IPv6 for the
    /// version-specific quirk masking, as in p0f).
    pub v4: bool,
    pub eol_pad: u8,
    pub olen: u8,
    pub ttl: u8,
    /// -1 = any.
    pub mss: i32,
    /// -1 = any.
    pub wscale: i16,
    /// -1 = any, 0 = none, 1 = some.
    pub pay_class: i8,
    pub win: u16,
    /// The record's own window form when the probe is a record with a
    /// non-literal window; None for packets.
    pub win_ref: Option<WinRef>,
    pub win_multi: i16,
    pub use_mtu: bool,
}

pub(crate) struct Outcome<'a> {
    pub record: Option<&'a TcpRecord>,
    pub fuzzy: bool,
    pub dist: u8,
}

const FUZZY_DELETABLE: u32 = Quirks::DF.0 | Quirks::NZ_ID.0;
const FUZZY_ADDABLE: u32 = Quirks::ZERO_ID.0 | Quirks::ECN.0;

pub(crate) fn find_match<'a>(cands: &'a [TcpRecord], p: &Probe, dupe_det: bool) -> Outcome<'a> {
    let mut fmatch: Option<&TcpRecord> = None;
    let mut gmatch: Option<&TcpRecord> = None;
    let pq = p.quirks.0;

    // Each test below only rejects a line or marks it fuzzy, so their order
    // does not change the outcome: the most selective come first.
    for r in cands {
        if r.wscale.is_some_and(|w| i16::from(w) != p.wscale) {
            continue;
        }
        if r.mss.is_some_and(|m| i32::from(m) != p.mss) {
            continue;
        }
        if r.pclass.is_some_and(|c| i8::from(c) != p.pay_class) {
            continue;
        }
        if r.eol_pad != p.eol_pad || r.olen != p.olen {
            continue;
        }
        let window_ok = match p.win_ref {
            Some(own) => own == r.window,
            None => match r.window {
                WinRef::Any => true,
                WinRef::Value(v) => v == p.win,
                WinRef::Mod(m) => p.win % m == 0,
                WinRef::Mss(n) => !p.use_mtu && i32::from(n) == i32::from(p.win_multi),
                WinRef::Mtu(n) => p.use_mtu && i32::from(n) == i32::from(p.win_multi),
            },
        };
        if !window_ok {
            continue;
        }
        let mut fuzzy = false;
        let rq = if p.v4 { r.quirks_v4 } else { r.quirks_v6 };
        if rq != pq {
            let deleted = (rq ^ pq) & rq;
            let added = (rq ^ pq) & pq;
            if fmatch.is_some() || deleted & !FUZZY_DELETABLE != 0 || added & !FUZZY_ADDABLE != 0 {
                continue;
            }
            fuzzy = true;
        }
        if r.bad_ttl {
            if r.ttl < p.ttl {
                continue;
            }
        } else if r.ttl < p.ttl || r.ttl - p.ttl > MAX_DIST {
            fuzzy = true;
        }
        if !fuzzy {
            if !r.generic {
                return Outcome {
                    record: Some(r),
                    fuzzy: false,
                    dist: r.ttl.wrapping_sub(p.ttl),
                };
            }
            gmatch = gmatch.or(Some(r));
        } else {
            fmatch = fmatch.or(Some(r));
        }
    }

    let none = Outcome {
        record: None,
        fuzzy: false,
        dist: 0,
    };
    if dupe_det {
        return none;
    }
    if let Some(g) = gmatch {
        return Outcome {
            record: Some(g),
            fuzzy: false,
            dist: g.ttl.wrapping_sub(p.ttl),
        };
    }
    // p0f does not match userland tools fuzzily, and then leaves the
    // distance at 0 rather than guessing it.
    if fmatch.is_some_and(|f| f.app) {
        return none;
    }
    let dist = match fmatch {
        Some(f) if f.ttl >= p.ttl && (f.bad_ttl || f.ttl - p.ttl <= MAX_DIST) => f.ttl - p.ttl,
        _ => crate::packet::hops(p.ttl),
    };
    Outcome {
        record: fmatch,
        fuzzy: fmatch.is_some(),
        dist,
    }
}

/// p0f's verdict on one SYN or SYN+ACK.
///
/// Serialises as `{"raw_sig", "os", "dist", "generic", "fuzzy"}`: `os` is
/// the label as p0f logs it (`"Linux 3.11 and newer"`) or null for `???`.
/// For a userland-tool match (p0f.fp class `!`, e.g. NMap) p0f logs the
/// label as `app=` instead of `os=`; synprint still reports it in `os`, and
/// [`Label::is_app`] tells them apart.
#[derive(Clone, Copy, Debug)]
pub struct P0fMatch<'db> {
    /// The signature; its `Display` is p0f's `raw_sig`.
    pub raw_sig: TcpSignature,
    pub os: Option<&'db Label>,
    /// Hop distance as p0f logs it. With a bad-TTL signature p0f logs
    /// `<= dist` (see [`P0fMatch::bad_ttl`]).
    pub dist: u8,
    pub generic: bool,
    pub fuzzy: bool,
    /// The matched signature says the TTL is randomised: `dist` is an upper
    /// bound (p0f logs `dist=<= N`).
    pub bad_ttl: bool,
    /// p0f.fp line of the matched signature.
    pub line: Option<u32>,
}

impl P0fMatch<'_> {
    /// p0f stops following a connection whose SYN or SYN+ACK matches a
    /// userland tool or is a p0f-sendsyn probe: it reports no MTU, no uptime
    /// and (after such a SYN) no SYN+ACK for it.
    pub fn ends_connection(&self) -> bool {
        self.os.is_some_and(Label::is_app) || self.raw_sig.is_sendsyn_probe()
    }
}

impl P0fMatch<'_> {
    /// Appends `{"raw_sig","os","dist","generic","fuzzy"}`, the same object
    /// serde gives, without going through serde.
    pub fn write_json(&self, j: &mut crate::json::JsonBuf) {
        j.begin_object();
        // raw_sig is digits, letters and `:+*,?-`: nothing to escape.
        j.raw("\"raw_sig\":\"");
        self.raw_sig.write_to(j);
        j.raw("\",\"os\":");
        match self.os {
            Some(label) => j.string_with(|s| label.write_to(s)),
            None => j.null(),
        }
        j.key("dist");
        j.u64(self.dist.into());
        j.key("generic");
        j.bool(self.generic);
        j.key("fuzzy");
        j.bool(self.fuzzy);
        j.end_object();
    }
}

impl serde::Serialize for P0fMatch<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("P0fMatch", 5)?;
        st.serialize_field("raw_sig", &format_args!("{}", self.raw_sig))?;
        st.serialize_field("os", &self.os)?;
        st.serialize_field("dist", &self.dist)?;
        st.serialize_field("generic", &self.generic)?;
        st.serialize_field("fuzzy", &self.fuzzy)?;
        st.end()
    }
}

impl Database {
    /// Fingerprints a SYN or SYN+ACK as p0f does. For a SYN+ACK, pass the
    /// MSS of the SYN it answers (`None` when the SYN had no MSS option or
    /// was not seen): p0f tries it as a window divisor.
    pub fn fingerprint(&self, obs: &Observation, syn_mss_for_synack: Option<u16>) -> P0fMatch<'_> {
        let sig = TcpSignature::from_observation(obs, syn_mss_for_synack);
        self.match_signature(sig)
    }

    /// Matches an already computed signature.
    pub fn match_signature(&self, sig: TcpSignature) -> P0fMatch<'_> {
        let table = &self.tcp[usize::from(sig.kind == Kind::Syn)];
        let probe = Probe {
            quirks: sig.quirks,
            v4: sig.ip_version == IpVersion::V4,
            eol_pad: sig.eol_pad,
            olen: sig.ip_opt_len,
            ttl: sig.ttl,
            mss: i32::from(sig.mss),
            wscale: i16::from(sig.wscale),
            pay_class: i8::from(sig.payload),
            win: sig.window,
            win_ref: None,
            win_multi: sig.win_multi,
            use_mtu: sig.win_mtu,
        };
        let out = find_match(table.candidates(&sig.layout, sig.wscale), &probe, false);
        P0fMatch {
            raw_sig: sig,
            os: out.record.and_then(|r| self.label(r.label)),
            dist: out.dist,
            generic: out.record.is_some_and(|r| r.generic),
            fuzzy: out.fuzzy,
            bad_ttl: out.record.is_some_and(|r| r.bad_ttl),
            line: out.record.map(|r| r.line),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Instant;

    use super::*;
    use crate::craft::{OptionBytes, Stack, TcpPacket};
    use crate::p0f::testutil::observe;
    use crate::packet::Timestamp;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    fn fp(p: &TcpPacket, syn_mss: Option<u16>) -> P0fMatch<'static> {
        Database::builtin().fingerprint(&observe(p, Timestamp::default()), syn_mss)
    }

    fn linux_311() -> TcpPacket {
        let mut p = Stack::Linux.syn(A, 1000, B, 80, 1);
        p.window = 1460 * 20;
        p
    }

    #[test]
    fn specific_exact_match() {
        let m = fp(&linux_311(), None);
        assert_eq!(
            m.os.map(|l| l.to_string()).as_deref(),
            Some("Linux 3.11 and newer")
        );
        assert_eq!(
            (m.dist, m.generic, m.fuzzy, m.bad_ttl),
            (0, false, false, false)
        );
        let mut p = linux_311();
        p.ttl = 50;
        assert_eq!(fp(&p, None).dist, 14);
    }

    #[test]
    fn generic_when_nothing_specific() {
        let m = fp(&Stack::Linux.syn(A, 1000, B, 80, 1), None);
        assert_eq!(
            m.os.map(|l| l.to_string()).as_deref(),
            Some("Linux 2.2.x-3.x")
        );
        assert!(m.generic && !m.fuzzy);
    }

    #[test]
    fn fuzzy_on_lost_df_or_far_ttl() {
        let mut p = linux_311();
        p.df = false;
        let m = fp(&p, None);
        assert_eq!(
            m.os.map(|l| l.to_string()).as_deref(),
            Some("Linux 3.11 and newer")
        );
        assert!(m.fuzzy && !m.generic);
        // 64 - 20 = 44 hops is beyond MAX_DIST: fuzzy, distance guessed.
        let mut p = linux_311();
        p.ttl = 20;
        let m = fp(&p, None);
        assert!(m.fuzzy);
        assert_eq!(m.dist, 12);
        // A new quirk that is not ecn/id- rules the signature out.
        let mut p = linux_311();
        p.flags |= crate::packet::flags::PSH;
        let m = fp(&p, None);
        assert!(m.os.is_none());
        assert_eq!(m.dist, 0);
    }

    #[test]
    fn user_tools_match_exactly_but_never_fuzzily() {
        let mut p = TcpPacket::syn(A, 1000, B, 80);
        p.df = false;
        p.ip_id = 7;
        p.ttl = 50;
        p.window = 2048;
        p.options = OptionBytes::new().mss(1460).0;
        let m = fp(&p, None);
        let label = m.os.expect("NMap");
        assert_eq!(label.to_string(), "NMap SYN scan");
        assert!(label.is_app() && m.bad_ttl && m.ends_connection());
        assert_eq!(m.dist, 14);
        // An NMap OS-detection probe with an extra `ecn` is only a fuzzy
        // candidate: p0f reports nothing and leaves the distance at 0.
        let mut p = TcpPacket::syn(A, 1000, B, 80);
        p.ttl = 50;
        p.window = 512;
        p.ack = 0x0100_0000;
        p.options = OptionBytes::new().mss(265).sok().ts(1, 0).0;
        p.df = false;
        let m = fp(&p, None);
        assert_eq!(
            m.os.map(|l| l.to_string()).as_deref(),
            Some("NMap OS detection")
        );
        p.tos = 1;
        let m = fp(&p, None);
        assert!(m.os.is_none() && !m.fuzzy);
        assert_eq!(m.dist, 0);
    }

    #[test]
    fn syn_ack_uses_the_response_section_and_peer_mss() {
        let syn = Stack::Linux.syn(A, 1000, B, 80, 1);
        let mut sa = TcpPacket::syn_ack_for(&syn);
        sa.ip_id = 0;
        sa.options = OptionBytes::new().mss(1460).0;
        sa.window = 14600;
        let m = fp(&sa, Some(1460));
        assert_eq!(m.os.map(|l| l.to_string()).as_deref(), Some("Linux 3.x"));
        assert_eq!(m.raw_sig.to_string(), "4:64+0:0:1460:mss*10,0:mss:df:0");
    }

    #[test]
    fn serialises_the_json_contract() {
        let v = serde_json::to_value(fp(&linux_311(), None)).expect("json");
        assert_eq!(
            v,
            serde_json::json!({
                "raw_sig": "4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0",
                "os": "Linux 3.11 and newer",
                "dist": 0,
                "generic": false,
                "fuzzy": false,
            })
        );
        let mut p = linux_311();
        p.options.clear();
        let m = fp(&p, None);
        let v = serde_json::to_value(m).expect("json");
        assert_eq!(v["os"], serde_json::Value::Null);
        // The hand-written JSON is the same object.
        for m in [m, fp(&linux_311(), None)] {
            let mut j = crate::json::JsonBuf::new();
            m.write_json(&mut j);
            let fast: serde_json::Value = serde_json::from_slice(j.as_bytes()).expect("valid JSON");
            assert_eq!(fast, serde_json::to_value(m).expect("json"));
        }
    }

    #[test]
    fn candidates_are_only_the_same_layout() {
        let db = Database::builtin();
        let sig =
            TcpSignature::from_observation(&observe(&linux_311(), Timestamp::default()), None);
        // Linux's layout, window scale 7: the lines saying 7 or `*`.
        let c = db.tcp[1].candidates(&sig.layout, 7);
        let by_line: Vec<u32> = c.iter().map(|r| r.line).collect();
        let want: Vec<u32> = db.tcp[1]
            .records
            .iter()
            .filter(|r| {
                let text = crate::p0f::db::tests_support::line(r.line);
                text.contains(":mss,sok,ts,nop,ws:")
                    && (text.contains(",7:mss") || text.contains(",*:mss"))
            })
            .map(|r| r.line)
            .collect();
        assert!(want.len() >= 5, "{want:?}");
        assert_eq!(by_line, want);
        // A scale no line names: only the `*` lines.
        let c = db.tcp[1].candidates(&sig.layout, 13);
        assert!(!c.is_empty() && c.iter().all(|r| r.wscale.is_none()));
        assert!(c.windows(2).all(|w| w[0].line < w[1].line));
    }

    /// `cargo test --release --lib p0f::matcher::tests::speed -- --ignored --nocapture`
    #[test]
    #[ignore = "timing; run in release mode"]
    fn speed() {
        let db = Database::builtin();
        let mut obs = Vec::new();
        for (i, stack) in Stack::ALL.iter().enumerate() {
            let p = stack.syn(A, 1000 + i as u16, B, 443, i as u32);
            obs.push(observe(&p, Timestamp::default()));
            let sa = TcpPacket::syn_ack_for(&p);
            obs.push(observe(&sa, Timestamp::default()));
        }
        let rounds = 200_000;
        let start = Instant::now();
        let mut found = 0usize;
        for _ in 0..rounds {
            for o in &obs {
                let m = db.fingerprint(std::hint::black_box(o), Some(1460));
                found += usize::from(m.os.is_some());
            }
        }
        let per = start.elapsed().as_nanos() as f64 / (rounds * obs.len()) as f64;
        eprintln!("signature + match: {per:.1} ns per packet ({found} matches)");
    }
}

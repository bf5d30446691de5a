//! Matching a signature against p0f.fp as fp_tcp.c's `tcp_find_match` does:
//! among the signatures with the same option layout, in file order, the
//! first exact specific match wins; else the first exact generic one; else
//! the first fuzzy one (quirks `df`/`id+` lost or `id-`/`ecn` gained, or the
//! TTL out of range).

use serde::ser::SerializeStruct;

use super::db::{Database, Label};
use super::signature::{guess_dist, Layout, Quirks, TcpSignature};
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
    pub layout: Layout,
    pub eol_pad: u8,
    pub quirks: Quirks,
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

    for r in cands {
        let mut fuzzy = false;
        let mut rq = r.quirks.0;
        if r.ip_ver.is_none() {
            rq &= if p.v4 {
                !Quirks::FLOW.0
            } else {
                !(Quirks::DF.0 | Quirks::NZ_ID.0 | Quirks::ZERO_ID.0)
            };
        }
        if rq != pq {
            let deleted = (rq ^ pq) & rq;
            let added = (rq ^ pq) & pq;
            if fmatch.is_some() || deleted & !FUZZY_DELETABLE != 0 || added & !FUZZY_ADDABLE != 0 {
                continue;
            }
            fuzzy = true;
        }
        if r.eol_pad != p.eol_pad || r.olen != p.olen {
            continue;
        }
        if r.bad_ttl {
            if r.ttl < p.ttl {
                continue;
            }
        } else if r.ttl < p.ttl || r.ttl - p.ttl > MAX_DIST {
            fuzzy = true;
        }
        if r.mss.is_some_and(|m| i32::from(m) != p.mss) {
            continue;
        }
        if r.wscale.is_some_and(|w| i16::from(w) != p.wscale) {
            continue;
        }
        if r.pclass.is_some_and(|c| i8::from(c) != p.pay_class) {
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
        _ => guess_dist(p.ttl),
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
        let out = find_match(table.candidates(&sig.layout), &probe, false);
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

//! The discrete features the classifier scores, computed from an
//! [`Observation`] with integer arithmetic only (no allocation), and their
//! canonical text forms as written in model files.
//!
//! Every feature value has two forms: a `u64` key (what the hot path looks
//! up) and a canonical string (what a model file holds). Parsing the string
//! and extracting from a packet give the same key; that is the one invariant
//! this module guarantees.

use std::fmt;

use crate::p0f::P0fMatch;
use crate::packet::{
    flags, hops, initial_ttl, initial_ttl_rank, IpVersion, Kind, Observation, TcpOption, TcpOptions,
};
use crate::sink::{format_with, TextSink};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// Initial TTL inferred from the observed one (32, 64, 128, 255).
    Ttl,
    /// Window size: exact value, else `mss*N` when it is a multiple of the MSS.
    Window,
    /// Window scale shift, or `none`.
    WScale,
    /// Option kinds in wire order (`M,N,W,N,N,T,S,E,E`).
    Options,
    /// MSS bucket, in IPv4 terms (IPv6 MSS + 20).
    Mss,
    /// ECN negotiation requested in the SYN (ECE+CWR).
    Ecn,
    /// IPv4 identification zero / nonzero, or `v6`.
    IpId,
    /// The p0f match, when the caller supplies one.
    P0f,
    /// Hops from the TTL (initial - observed, 40 meaning 40 or more).
    /// Empty in the built-in model (the path, not the stack, decides it);
    /// learned from traffic, it tells mobile from fixed networks.
    Hops,
    /// The exact MSS, or `none`. Empty in the built-in model; learned from
    /// traffic, it separates carriers and tunnels that buckets merge.
    MssValue,
    /// The SYN's whole shape: initial TTL, window, window scale and option
    /// layout (`64:65535:6:M,N,W,N,N,T,S,E,E`). Empty in the built-in
    /// model; learned, it remembers which OSes each exact shape came from
    /// (what zardaxt's database does), which the per-feature counts cannot
    /// combine: e.g. a carrier proxy's SYN carrying mostly Android users.
    Signature,
    /// The network path: the exact MSS and the hop count together
    /// (`1400:13`, `none:7`). Empty in the built-in model; learned, it
    /// remembers the paths a site's visitors come over (a carrier's
    /// clamped MSS at its distance is phones; an ISP's is desktops), which
    /// `hops` and `mss_value` scored apart cannot.
    Path,
    /// The whole fingerprint: the signature, the exact MSS and the hop
    /// count (`64:65535:6:M,N,W,N,N,T,S,E,E:1400:13`). Not a scored
    /// feature: its learned counts are observations of exactly this SYN,
    /// which update the model's answer (zardaxt's database, with the model
    /// as the prior). Empty in the built-in model.
    Exact,
}

pub const N_FEATURES: usize = 13;

impl Feature {
    /// Features the built-in model leaves empty, filled only by `learn`.
    pub fn learned_only(self) -> bool {
        matches!(
            self,
            Feature::Hops | Feature::MssValue | Feature::Signature | Feature::Path | Feature::Exact
        )
    }

    pub const ALL: [Feature; N_FEATURES] = [
        Feature::Ttl,
        Feature::Window,
        Feature::WScale,
        Feature::Options,
        Feature::Mss,
        Feature::Ecn,
        Feature::IpId,
        Feature::P0f,
        Feature::Hops,
        Feature::MssValue,
        Feature::Signature,
        Feature::Path,
        Feature::Exact,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The key used in model files.
    pub fn name(self) -> &'static str {
        match self {
            Feature::Ttl => "ttl",
            Feature::Window => "window",
            Feature::WScale => "wscale",
            Feature::Options => "options",
            Feature::Mss => "mss",
            Feature::Ecn => "ecn",
            Feature::IpId => "ipid",
            Feature::P0f => "p0f",
            Feature::Hops => "hops",
            Feature::MssValue => "mss_value",
            Feature::Signature => "signature",
            Feature::Path => "path",
            Feature::Exact => "exact",
        }
    }

    pub fn from_name(s: &str) -> Option<Feature> {
        Feature::ALL.into_iter().find(|f| f.name() == s)
    }

    /// Parses a model-file value of this feature into its key.
    pub fn parse_key(self, s: &str) -> Result<u64, FeatureValueError> {
        let s = s.trim();
        match self {
            Feature::Ttl => match s.parse::<u8>() {
                Ok(t @ (32 | 64 | 128 | 255)) => Ok(u64::from(t)),
                _ => Err(FeatureValueError::Expected(
                    "an initial TTL: 32, 64, 128 or 255",
                )),
            },
            Feature::Window => {
                if let Some((w, mss)) = s.split_once(" or ") {
                    let either = || FeatureValueError::Expected("W or mss*N, N dividing W");
                    let w = w.trim().parse::<u16>().map_err(|_| either())?;
                    let n = match mss.trim().strip_prefix("mss*").map(str::parse::<u16>) {
                        Some(Ok(n)) if n > 0 && w % n == 0 => n,
                        _ => return Err(either()),
                    };
                    Ok(window_either_key(w, n))
                } else if let Some(n) = s.strip_prefix("mss*") {
                    match n.parse::<u16>() {
                        Ok(n) if n > 0 => Ok(window_mss_key(n)),
                        _ => Err(FeatureValueError::Expected("mss*N with N in 1..=65535")),
                    }
                } else {
                    s.parse::<u16>().map(u64::from).map_err(|_| {
                        FeatureValueError::Expected("a window size 0..=65535 or mss*N")
                    })
                }
            }
            Feature::WScale => {
                if s == "none" {
                    Ok(WSCALE_NONE)
                } else {
                    s.parse::<u8>()
                        .map(wscale_key)
                        .map_err(|_| FeatureValueError::Expected("a shift 0..=255 or none"))
                }
            }
            Feature::Options => parse_layout(s).map(|l| l.key()),
            Feature::Mss => MssBucket::ALL
                .into_iter()
                .find(|b| b.name() == s)
                .map(|b| b as u64)
                .ok_or(FeatureValueError::MssBucket),
            Feature::Ecn => match s {
                "no" => Ok(0),
                "yes" => Ok(1),
                _ => Err(FeatureValueError::Expected("yes or no")),
            },
            Feature::IpId => IpIdClass::ALL
                .into_iter()
                .find(|c| c.name() == s)
                .map(|c| c as u64)
                .ok_or(FeatureValueError::Expected("zero, nonzero or v6")),
            Feature::Hops => match s.parse::<u8>() {
                Ok(h) => Ok(u64::from(h.min(MAX_HOPS))),
                Err(_) => Err(FeatureValueError::Expected("a hop count 0..=255")),
            },
            Feature::MssValue => {
                if s == "none" {
                    Ok(MSS_NONE)
                } else {
                    s.parse::<u16>()
                        .map(u64::from)
                        .map_err(|_| FeatureValueError::Expected("an MSS 0..=65535 or none"))
                }
            }
            Feature::Signature => parse_signature(s),
            Feature::Path => {
                let (mss, hops) = s.split_once(':').ok_or(FeatureValueError::Expected(
                    "mss:hops, e.g. 1400:13 or none:7",
                ))?;
                let mss = Feature::MssValue.parse_key(mss)?;
                let hops = Feature::Hops.parse_key(hops)?;
                Ok(path_key(mss, hops))
            }
            Feature::Exact => {
                let mut parts = s.rsplitn(3, ':');
                let (Some(hops), Some(mss), Some(signature)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(FeatureValueError::Expected(
                        "ttl:window:wscale:options:mss:hops",
                    ));
                };
                let path = path_key(
                    Feature::MssValue.parse_key(mss)?,
                    Feature::Hops.parse_key(hops)?,
                );
                Ok(exact_key(parse_signature(signature)?, path))
            }
            Feature::P0f => P0fClass::ALL
                .into_iter()
                .find(|c| c.name() == s)
                .map(|c| c as u64)
                .ok_or(FeatureValueError::P0fClass),
        }
    }
}

/// Why a model file's value of a feature does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FeatureValueError {
    #[error("expected {0}")]
    Expected(&'static str),
    #[error("expected an MSS bucket: {}", MssBucket::ALL.map(|b| b.name()).join(", "))]
    MssBucket,
    #[error("expected a p0f OS class: {}", P0fClass::ALL.map(|c| c.name()).join(", "))]
    P0fClass,
    #[error("option token {0:?}: expected M, N, W, S, T, E or U<kind>")]
    OptionToken(String),
    #[error("more than {LAYOUT_KEEP} options")]
    TooManyOptions,
}

pub const WSCALE_NONE: u64 = 0xFF;

/// `ttl:window:wscale:layout` into the key [`Features::key`] gives.
fn parse_signature(s: &str) -> Result<u64, FeatureValueError> {
    let err = || {
        FeatureValueError::Expected("ttl:window:wscale:options, e.g. 64:65535:6:M,N,W,N,N,T,S,E,E")
    };
    let mut parts = s.splitn(4, ':');
    let (Some(ttl), Some(window), Some(ws), Some(layout)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(err());
    };
    let ttl = Feature::Ttl.parse_key(ttl)? as u8;
    let window = window.trim().parse::<u16>().map_err(|_| err())?;
    let ws = Feature::WScale.parse_key(ws)?;
    let layout = parse_layout(layout)?;
    Ok(signature_key(ttl, window, ws, layout.key()))
}

/// One key from a SYN's shape (a 64-bit mix: collisions are negligible
/// among the few thousand shapes a model holds).
fn signature_key(initial_ttl: u8, window: u16, wscale: u64, layout: u64) -> u64 {
    let mut h = layout ^ 0x9e37_79b9_7f4a_7c15;
    for v in [u64::from(initial_ttl), u64::from(window), wscale] {
        h = (h ^ v).wrapping_mul(0xff51_afd7_ed55_8ccd).rotate_left(29);
    }
    h
}

/// The exact MSS key ([`Feature::MssValue`]) and the hop count in one.
fn path_key(mss: u64, hops: u64) -> u64 {
    mss << 8 | hops
}

/// A signature key and a path key in one.
fn exact_key(signature: u64, path: u64) -> u64 {
    (signature ^ path.wrapping_mul(0x9e37_79b9_7f4a_7c15)).rotate_left(17)
}

/// Hop counts from here on are one value.
pub const MAX_HOPS: u8 = 40;
pub const HOPS_SLOTS: usize = MAX_HOPS as usize + 1;
const MSS_NONE: u64 = 1 << 16;

/// Shifts above 14 are invalid (RFC 7323) and all treated alike.
fn wscale_key(ws: u8) -> u64 {
    u64::from(ws.min(15))
}

/// Sizes of the small feature domains, indexed directly (no hashing).
pub const TTL_DOMAIN: [u8; 4] = [32, 64, 128, 255];
pub const WSCALE_SLOTS: usize = 17;
pub const MSS_SLOTS: usize = 10;
pub const IPID_SLOTS: usize = 3;
pub const P0F_SLOTS: usize = 8;

/// The key of each direct index of a small-domain feature.
pub fn dense_key(f: Feature, i: usize) -> u64 {
    match f {
        Feature::Ttl => TTL_DOMAIN.get(i).map_or(255, |&t| u64::from(t)),
        Feature::WScale if i >= 16 => WSCALE_NONE,
        _ => i as u64,
    }
}

pub fn window_mss_key(n: u16) -> u64 {
    (1 << 32) | u64::from(n)
}

/// A learned window that is N times its SYN's MSS (`W or mss*N`): the model
/// counts it as `W` when any class knows that window exactly, else as
/// `mss*N`, wherever the classifier will look it up
/// ([`window_either_parts`] takes it apart).
pub fn window_either_key(window: u16, n: u16) -> u64 {
    (2 << 32) | u64::from(window) << 16 | u64::from(n)
}

/// The exact window and `mss*N` key of a [`window_either_key`].
pub fn window_either_parts(key: u64) -> Option<(u64, u64)> {
    (key >> 32 == 2).then(|| ((key >> 16) & 0xFFFF, window_mss_key(key as u16)))
}

/// MSS buckets in IPv4 terms. Boundaries follow the MTUs that actually
/// occur: 1500 Ethernet (1460), PPPoE 1492 (1452), tunnels and mobile
/// networks below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MssBucket {
    None,
    Above1460,
    Eth1460,
    Pppoe1452,
    M1440To1459,
    M1400To1439,
    M1360To1399,
    M1300To1359,
    M1200To1299,
    Below1200,
}

impl MssBucket {
    pub const ALL: [MssBucket; 10] = [
        MssBucket::None,
        MssBucket::Above1460,
        MssBucket::Eth1460,
        MssBucket::Pppoe1452,
        MssBucket::M1440To1459,
        MssBucket::M1400To1439,
        MssBucket::M1360To1399,
        MssBucket::M1300To1359,
        MssBucket::M1200To1299,
        MssBucket::Below1200,
    ];

    pub fn of(mss: Option<u16>, v: IpVersion) -> MssBucket {
        let Some(m) = mss else {
            return MssBucket::None;
        };
        let m = match v {
            IpVersion::V4 => u32::from(m),
            IpVersion::V6 => u32::from(m) + 20,
        };
        // The range's rank, counted rather than matched: a SYN of a new
        // shape often brings an MSS of a new range, and a chain of
        // comparisons then mispredicts.
        const BY_RANK: [MssBucket; 8] = [
            MssBucket::Below1200,
            MssBucket::M1200To1299,
            MssBucket::M1300To1359,
            MssBucket::M1360To1399,
            MssBucket::M1400To1439,
            MssBucket::M1440To1459,
            MssBucket::Eth1460,
            MssBucket::Above1460,
        ];
        let rank = [1200, 1300, 1360, 1400, 1440, 1460, 1461]
            .into_iter()
            .map(|low| usize::from(m >= low))
            .sum::<usize>();
        let b = BY_RANK.get(rank).copied().unwrap_or(MssBucket::Above1460);
        if m == 1452 {
            MssBucket::Pppoe1452
        } else {
            b
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MssBucket::None => "none",
            MssBucket::Above1460 => ">1460",
            MssBucket::Eth1460 => "1460",
            MssBucket::Pppoe1452 => "1452",
            MssBucket::M1440To1459 => "1440-1459",
            MssBucket::M1400To1439 => "1400-1439",
            MssBucket::M1360To1399 => "1360-1399",
            MssBucket::M1300To1359 => "1300-1359",
            MssBucket::M1200To1299 => "1200-1299",
            MssBucket::Below1200 => "<1200",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpIdClass {
    Zero,
    NonZero,
    V6,
}

impl IpIdClass {
    pub const ALL: [IpIdClass; 3] = [IpIdClass::Zero, IpIdClass::NonZero, IpIdClass::V6];
    pub fn name(self) -> &'static str {
        match self {
            IpIdClass::Zero => "zero",
            IpIdClass::NonZero => "nonzero",
            IpIdClass::V6 => "v6",
        }
    }
}

/// The OS named by a p0f label, reduced to the classes p0f's databases use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum P0fClass {
    Windows,
    Linux,
    Android,
    MacOsX,
    Ios,
    FreeBsd,
    OpenBsd,
    Other,
}

impl P0fClass {
    pub const ALL: [P0fClass; 8] = [
        P0fClass::Windows,
        P0fClass::Linux,
        P0fClass::Android,
        P0fClass::MacOsX,
        P0fClass::Ios,
        P0fClass::FreeBsd,
        P0fClass::OpenBsd,
        P0fClass::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            P0fClass::Windows => "Windows",
            P0fClass::Linux => "Linux",
            P0fClass::Android => "Android",
            P0fClass::MacOsX => "Mac OS X",
            P0fClass::Ios => "iOS",
            P0fClass::FreeBsd => "FreeBSD",
            P0fClass::OpenBsd => "OpenBSD",
            P0fClass::Other => "other",
        }
    }

    /// The class of a p0f match's label; `None` where p0f gave none.
    pub fn of_match(m: &P0fMatch<'_>) -> Option<P0fClass> {
        m.os.map(|l| P0fClass::of(&l.name, l.flavor.as_deref().unwrap_or("")))
    }

    /// Maps a p0f label's name and flavor (`Linux` + `(Android)`, `MacOS X`,
    /// `iOS/macOS`, ...) to a class. Plain byte comparisons: this runs per SYN.
    pub fn of(name: &str, flavor: &str) -> P0fClass {
        // The names p0f databases use, compared exactly first (the common
        // case), then loosely.
        match name {
            "Windows" => return P0fClass::Windows,
            // p0f.fp writes Android as the flavor `(Android)` of Linux.
            "Linux" => {
                let f = flavor.trim_start_matches('(');
                return if f.starts_with("Android") {
                    P0fClass::Android
                } else {
                    P0fClass::Linux
                };
            }
            "Mac OS X" | "MacOS X" => return P0fClass::MacOsX,
            "iOS" => return P0fClass::Ios,
            "FreeBSD" => return P0fClass::FreeBsd,
            "OpenBSD" => return P0fClass::OpenBsd,
            _ => {}
        }
        let has = |hay: &str, needle: &str| {
            hay.as_bytes()
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
        };
        if has(name, "android") || has(flavor, "android") {
            P0fClass::Android
        } else if has(name, "windows") {
            P0fClass::Windows
        } else if has(name, "linux") {
            P0fClass::Linux
        } else if name.eq_ignore_ascii_case("ios") {
            P0fClass::Ios
        } else if has(name, "mac") || has(name, "ios") {
            P0fClass::MacOsX
        } else if has(name, "freebsd") {
            P0fClass::FreeBsd
        } else if has(name, "openbsd") {
            P0fClass::OpenBsd
        } else {
            P0fClass::Other
        }
    }
}

/// How many option kinds a layout keeps for display; longer lists still
/// hash completely.
pub const LAYOUT_KEEP: usize = 20;

/// Option kinds in wire order: a hash key for lookups plus the first
/// `LAYOUT_KEEP` kinds for display.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    kinds: [u8; LAYOUT_KEEP],
    len: u8,
    truncated: bool,
    key: u64,
}

impl Layout {
    fn new() -> Layout {
        Layout {
            kinds: [0; LAYOUT_KEEP],
            len: 0,
            truncated: false,
            key: 0,
        }
    }

    /// One option's step of the key: a rotate-xor (one-cycle steps: this
    /// runs per option per SYN); kind + 1 so EOL (0) still counts; the first
    /// seven options are encoded exactly, longer layouts are mixed.
    fn key_step(key: u64, kind: u8) -> u64 {
        key.rotate_left(9) ^ (u64::from(kind) + 1)
    }

    /// Appends a kind.
    fn push(&mut self, kind: u8) {
        self.key = Layout::key_step(self.key, kind);
        if usize::from(self.len) < LAYOUT_KEEP {
            self.kinds[usize::from(self.len)] = kind;
            self.len += 1;
        } else {
            self.truncated = true;
        }
    }

    /// The layout of a parsed option list. Zero bytes after the first EOL
    /// count as further EOLs, as zardaxt writes them (`...,S,E,E`), so the
    /// padding a stack adds is part of its layout.
    pub fn of(opts: &TcpOptions) -> Layout {
        let list = opts.kinds();
        let mut l = Layout {
            kinds: opts.first_kinds(),
            len: list.len().min(LAYOUT_KEEP) as u8,
            truncated: list.len() > LAYOUT_KEEP,
            key: list.iter().fold(0, |key, &k| Layout::key_step(key, k)),
        };
        if opts.last() == Some(TcpOption::Eol) && !opts.eol_pad_nonzero() {
            for _ in 0..opts.eol_pad {
                l.push(0);
            }
        }
        l
    }

    pub fn key(&self) -> u64 {
        self.key
    }
}

impl Layout {
    /// Letters without values, `M,N,W,N,N,T,S,E,E` (zardaxt's letters for
    /// the options SYNs carry; any other kind is `U<kind>`, where zardaxt's
    /// string has letters for a few more); `none` when empty.
    pub fn write_to(&self, out: &mut impl TextSink) {
        if self.len == 0 {
            return out.text("none");
        }
        for (i, &k) in self.kinds.iter().take(usize::from(self.len)).enumerate() {
            if i > 0 {
                out.text(",");
            }
            match k {
                0 => out.text("E"),
                1 => out.text("N"),
                2 => out.text("M"),
                3 => out.text("W"),
                4 => out.text("S"),
                8 => out.text("T"),
                k => {
                    out.text("U");
                    out.number(k.into());
                }
            }
        }
        if self.truncated {
            out.text(",...");
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_with(f, |out| self.write_to(out))
    }
}

/// Parses [`Layout::write_to`]'s letters: `M,N,W,N,N,T,S,E,E`, other kinds
/// as `U<kind>`, `none` for an empty list. A trailing comma is allowed
/// (zardaxt writes one).
pub fn parse_layout(s: &str) -> Result<Layout, FeatureValueError> {
    let mut l = Layout::new();
    let s = s.trim();
    if s == "none" || s.is_empty() {
        return Ok(l);
    }
    for tok in s.trim_end_matches(',').split(',') {
        let tok = tok.trim();
        let kind = match tok {
            "E" => 0,
            "N" => 1,
            "M" => 2,
            "W" => 3,
            "S" => 4,
            "T" => 8,
            t => match t.strip_prefix('U').map(str::parse::<u8>) {
                Some(Ok(k)) => k,
                _ => return Err(FeatureValueError::OptionToken(t.to_string())),
            },
        };
        if l.truncated || usize::from(l.len) >= LAYOUT_KEEP {
            return Err(FeatureValueError::TooManyOptions);
        }
        l.push(kind);
    }
    Ok(l)
}

/// The feature values of one SYN, in typed form (for evidence and for
/// writing learned counts) and as lookup keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Features {
    pub initial_ttl: u8,
    /// Initial TTL minus observed TTL, capped at `MAX_HOPS`.
    pub hops: u8,
    pub window: u16,
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub layout: Layout,
    pub mss_bucket: MssBucket,
    pub ecn: bool,
    pub ip_id: IpIdClass,
    pub p0f: Option<P0fClass>,
    /// A SYN+ACK: the model's counts describe clients, so a server gets
    /// server priors and its IP ID is not read.
    pub server: bool,
}

impl Features {
    /// These values with every one that no shown feature displays cleared
    /// (`shown` says which features the evidence shows), so that feature
    /// sets with the same answer compare equal when their evidence reads
    /// the same.
    pub fn displayed(&self, shown: impl Fn(Feature) -> bool) -> Features {
        // The learned features show values built from several fields.
        if [Feature::Signature, Feature::Path, Feature::Exact]
            .into_iter()
            .any(&shown)
        {
            return *self;
        }
        let mut d = *self;
        for f in Feature::ALL {
            if shown(f) {
                continue;
            }
            match f {
                Feature::Ttl => d.initial_ttl = 0,
                Feature::Window => d.window = 0,
                Feature::WScale => d.wscale = None,
                Feature::Options => d.layout = Layout::new(),
                Feature::Mss => d.mss_bucket = MssBucket::None,
                Feature::Ecn => d.ecn = false,
                Feature::IpId => d.ip_id = IpIdClass::V6,
                Feature::P0f => d.p0f = None,
                Feature::Hops => d.hops = 0,
                Feature::MssValue => d.mss = None,
                Feature::Signature | Feature::Path | Feature::Exact => {}
            }
        }
        d
    }

    pub fn of(obs: &Observation, p0f: Option<P0fClass>) -> Features {
        let ip_id = match obs.ip_version {
            IpVersion::V6 => IpIdClass::V6,
            IpVersion::V4 if obs.ip_id == 0 => IpIdClass::Zero,
            IpVersion::V4 => IpIdClass::NonZero,
        };
        let initial = initial_ttl(obs.ttl);
        Features {
            initial_ttl: initial,
            hops: hops(obs.ttl).min(MAX_HOPS),
            window: obs.window,
            mss: obs.options.mss,
            wscale: obs.options.window_scale,
            layout: Layout::of(&obs.options),
            mss_bucket: MssBucket::of(obs.options.mss, obs.ip_version),
            ecn: obs.has_flag(flags::ECE) && obs.has_flag(flags::CWR),
            ip_id,
            p0f,
            server: obs.kind == Kind::SynAck,
        }
    }

    /// `mss*N` key of the window, when it is an exact multiple of a non-zero
    /// MSS.
    pub fn window_mss_multiple(&self) -> Option<u16> {
        let mss = self.mss.filter(|&m| m > 0)?;
        if self.window != 0 && self.window % mss == 0 {
            Some(self.window / mss)
        } else {
            None
        }
    }

    /// Keys of every feature, in [`Feature::ALL`] order. The window key is
    /// the exact value; the model falls back to [`Features::window_mss_multiple`].
    pub fn key(&self, f: Feature) -> Option<u64> {
        Some(match f {
            Feature::Ttl => u64::from(self.initial_ttl),
            Feature::Window => u64::from(self.window),
            Feature::WScale => self.wscale.map_or(WSCALE_NONE, wscale_key),
            Feature::Options => self.layout.key(),
            Feature::Mss => self.mss_bucket as u64,
            Feature::Ecn => u64::from(self.ecn),
            Feature::IpId => self.ip_id as u64,
            Feature::P0f => self.p0f? as u64,
            Feature::Hops => u64::from(self.hops),
            Feature::MssValue => self.mss.map_or(MSS_NONE, u64::from),
            Feature::Signature => signature_key(
                self.initial_ttl,
                self.window,
                self.wscale.map_or(WSCALE_NONE, wscale_key),
                self.layout.key(),
            ),
            Feature::Path => path_key(self.mss.map_or(MSS_NONE, u64::from), u64::from(self.hops)),
            Feature::Exact => exact_key(self.key(Feature::Signature)?, self.key(Feature::Path)?),
        })
    }

    /// A client SYN that starts at TTL 255, where no browser's OS starts:
    /// a network rewrote its TTL, or a proxy or router built it (see
    /// [`crate::classify::Model::classify_features`]).
    pub fn client_from_ttl_255(&self) -> bool {
        !self.server && self.initial_ttl == 255
    }

    /// Index of the initial TTL among 32, 64, 128 and 255.
    pub fn ttl_index(&self) -> usize {
        initial_ttl_rank(self.initial_ttl)
    }

    pub fn wscale_index(&self) -> usize {
        self.wscale.map_or(16, |w| usize::from(w.min(15)))
    }

    pub fn window_mss_key(&self) -> Option<u64> {
        self.window_mss_multiple().map(window_mss_key)
    }

    /// The canonical model-file string of a feature value. With `learned`,
    /// a window that is a multiple of the MSS is written `W or mss*N`:
    /// which of the two it counts as depends on
    /// every count of the model it ends up in, so `learn` writes both.
    pub fn value_string(&self, f: Feature, learned: bool) -> Option<String> {
        // A layout longer than `LAYOUT_KEEP` options (crafted SYNs only) is
        // shown cut short, and a cut list names no key a model file can
        // hold: such a SYN teaches nothing about its options.
        let layout_fits = !self.layout.truncated;
        Some(match f {
            Feature::Ttl => self.initial_ttl.to_string(),
            Feature::Window => match (learned, self.window_mss_multiple()) {
                (true, Some(n)) => format!("{} or mss*{n}", self.window),
                _ => self.window.to_string(),
            },
            Feature::WScale => self.wscale.map_or("none".into(), |w| w.to_string()),
            Feature::Options if layout_fits => self.layout.to_string(),
            Feature::Options => return None,
            Feature::Mss => self.mss_bucket.name().into(),
            Feature::Ecn => if self.ecn { "yes" } else { "no" }.into(),
            Feature::IpId => self.ip_id.name().into(),
            Feature::P0f => self.p0f?.name().into(),
            Feature::Hops => self.hops.to_string(),
            Feature::MssValue => self.mss.map_or("none".into(), |m| m.to_string()),
            Feature::Signature if !layout_fits => return None,
            Feature::Signature => format!(
                "{}:{}:{}:{}",
                self.initial_ttl,
                self.window,
                self.wscale.map_or("none".into(), |w| w.to_string()),
                self.layout
            ),
            Feature::Path => format!(
                "{}:{}",
                self.mss.map_or("none".into(), |m| m.to_string()),
                self.hops
            ),
            Feature::Exact => format!(
                "{}:{}",
                self.value_string(Feature::Signature, false)?,
                self.value_string(Feature::Path, false)?
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_text_and_packet_agree() {
        let o = TcpOptions::parse(&[
            2, 4, 5, 180, 1, 3, 3, 6, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 4, 2, 0, 0,
        ]);
        let from_packet = Layout::of(&o);
        assert_eq!(from_packet.to_string(), "M,N,W,N,N,T,S,E,E");
        let parsed = parse_layout("M,N,W,N,N,T,S,E,E,").unwrap();
        assert_eq!(parsed.key(), from_packet.key());
        assert_ne!(
            parse_layout("M,N,W,N,N,S").unwrap().key(),
            parse_layout("M,S,T,N,W").unwrap().key()
        );
        assert_eq!(parse_layout("none").unwrap().to_string(), "none");
        assert!(parse_layout("M,X").is_err());
    }

    #[test]
    fn every_value_string_parses_back_to_its_key() {
        let o = TcpOptions::parse(&[
            2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ]);
        let f = Features {
            initial_ttl: 64,
            hops: 7,
            window: 64240,
            mss: o.mss,
            wscale: o.window_scale,
            layout: Layout::of(&o),
            mss_bucket: MssBucket::of(o.mss, IpVersion::V4),
            ecn: true,
            ip_id: IpIdClass::NonZero,
            p0f: Some(P0fClass::Linux),
            server: false,
        };
        for feat in Feature::ALL {
            let s = f.value_string(feat, false).unwrap();
            assert_eq!(feat.parse_key(&s), Ok(f.key(feat).unwrap()), "{feat:?} {s}");
        }
        let s = f.value_string(Feature::Window, true).unwrap();
        assert_eq!(s, "64240 or mss*44");
        let key = Feature::Window.parse_key(&s).unwrap();
        assert_eq!(
            window_either_parts(key),
            Some((64240, f.window_mss_key().unwrap()))
        );
        assert_eq!(Feature::Window.parse_key("mss*44").ok(), f.window_mss_key());
        for bad in [
            "64241 or mss*44",
            "64240 or mss*0",
            "64240 or 44",
            "x or mss*2",
        ] {
            assert!(Feature::Window.parse_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ttl_and_mss_buckets() {
        assert_eq!(initial_ttl(0), 32);
        assert_eq!(initial_ttl(57), 64);
        assert_eq!(initial_ttl(113), 128);
        assert_eq!(initial_ttl(240), 255);
        assert_eq!(MssBucket::of(Some(1440), IpVersion::V6), MssBucket::Eth1460);
        assert_eq!(
            MssBucket::of(Some(1440), IpVersion::V4),
            MssBucket::M1440To1459
        );
        assert_eq!(
            MssBucket::of(Some(1452), IpVersion::V4),
            MssBucket::Pppoe1452
        );
        assert_eq!(MssBucket::of(None, IpVersion::V4), MssBucket::None);
        assert_eq!(
            MssBucket::of(Some(536), IpVersion::V4),
            MssBucket::Below1200
        );
    }

    #[test]
    fn p0f_labels_map_to_classes() {
        assert_eq!(P0fClass::of("Linux", "(Android)"), P0fClass::Android);
        assert_eq!(P0fClass::of("Windows", "7 or 8"), P0fClass::Windows);
        assert_eq!(P0fClass::of("MacOS X", "10.9"), P0fClass::MacOsX);
        assert_eq!(P0fClass::of("iOS", "iPhone"), P0fClass::Ios);
        assert_eq!(P0fClass::of("Solaris", "10"), P0fClass::Other);
    }
}

//! The one TCP option parser. It keeps the options in wire order and notes
//! every irregularity p0f's quirks need, so no other module re-reads the
//! option bytes.

/// Forty bytes of option space can hold at most forty one-byte options.
pub const MAX_TCP_OPTIONS: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpOption {
    /// End of option list (kind 0). Any bytes after it are padding, counted
    /// in [`TcpOptions::eol_pad`].
    Eol,
    Nop,
    /// Maximum segment size; the value is in [`TcpOptions::mss`].
    Mss,
    /// Window scale; the shift is in [`TcpOptions::window_scale`].
    WindowScale,
    SackPermitted,
    Sack,
    /// Timestamps; the values are in [`TcpOptions::timestamp`].
    Timestamp,
    /// A kind without a dedicated variant (TFO 34, MPTCP 30, MD5 19, ...).
    Other {
        kind: u8,
    },
    /// An option whose body runs past the end of the header or has an
    /// impossible length: parsing stopped here (the options are `malformed`).
    Truncated {
        kind: u8,
    },
}

impl TcpOption {
    /// The option a parsed kind byte stands for, when it is whole.
    #[inline]
    pub fn whole(kind: u8) -> TcpOption {
        match kind {
            0 => TcpOption::Eol,
            1 => TcpOption::Nop,
            2 => TcpOption::Mss,
            3 => TcpOption::WindowScale,
            4 => TcpOption::SackPermitted,
            5 => TcpOption::Sack,
            8 => TcpOption::Timestamp,
            kind => TcpOption::Other { kind },
        }
    }

    /// The option's kind byte. (Fingerprints read the kinds straight from
    /// [`TcpOptions::kinds`]; this is for code that walks the options.)
    pub fn kind(&self) -> u8 {
        match *self {
            TcpOption::Eol => 0,
            TcpOption::Nop => 1,
            TcpOption::Mss => 2,
            TcpOption::WindowScale => 3,
            TcpOption::SackPermitted => 4,
            TcpOption::Sack => 5,
            TcpOption::Timestamp => 8,
            TcpOption::Other { kind } | TcpOption::Truncated { kind } => kind,
        }
    }
}

/// The parsed option list of one TCP header, stored inline (no allocation
/// per packet). The list is kept as kind bytes, which is what fingerprints
/// read, and option values live in the named fields, which keeps an
/// [`Observation`](super::Observation) small enough to move around cheaply;
/// when an option repeats, the last value wins, as in p0f.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpOptions {
    /// Kinds in wire order, up to and including the first EOL; zero past
    /// `len`, so the array compares and hashes as the list does.
    kinds: [u8; MAX_TCP_OPTIONS],
    len: u8,
    /// The last option is cut off ([`TcpOption::Truncated`]).
    cut: bool,
    /// Bytes that follow the first EOL up to the end of the header.
    pub eol_pad: u8,
    /// An option had a wrong length byte, ran past the header end, or parsing
    /// stopped early (p0f quirk `bad`).
    pub malformed: bool,
    /// Zero bytes right after the first EOL, up to the first non-zero one
    /// (`eol_pad` when the padding is all zeros). Wireshark lists each as
    /// one more EOL and stops at a non-zero byte, so these are the padding
    /// kinds FoxIO's JA4T (made from Wireshark's fields) shows.
    pub eol_zeros: u8,
    /// The option cut off at the end of the list ([`TcpOption::Truncated`])
    /// is one Wireshark leaves out of its list: it has no length byte, a
    /// length below 2, or one running past the header end. (Wireshark does
    /// list one whose length fits but is wrong for its kind.)
    pub cut_unlisted: bool,
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    /// (TSval, TSecr) of the timestamp option.
    pub timestamp: Option<(u32, u32)>,
    pub sack_permitted: bool,
    /// The values and irregularities p0f 3.09b reads, which differ from the
    /// fields above when options repeat or there are more than 24.
    pub p0f: P0fOptionView,
}

/// What p0f 3.09b reads of a TCP option list: it stops after
/// [`P0fOptionView::MAX_OPTIONS`] options, keeps the last MSS, window scale
/// and TSval among those, and notes its timestamp and window-scale quirks on
/// any of them (not just the last). Four bytes, to keep observations small.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct P0fOptionView {
    /// Last MSS value p0f reads, 0 without one.
    pub mss: u16,
    /// Last window scale p0f reads, 0 without one.
    pub wscale: u8,
    flags: u8,
}

impl P0fOptionView {
    /// p0f's MAX_TCP_OPT.
    pub const MAX_OPTIONS: usize = 24;
    const TS1_ZERO: u8 = 1;
    const TS2_NONZERO: u8 = 2;
    const WS_EXCESSIVE: u8 = 4;
    const TS_UNREAD: u8 = 8;

    /// Some timestamp option p0f reads has TSval 0 (quirk `ts1-`).
    pub fn ts1_zero(&self) -> bool {
        self.flags & Self::TS1_ZERO != 0
    }

    /// Some timestamp option p0f reads has a non-zero TSecr (quirk `ts2+`
    /// on a plain SYN).
    pub fn ts2_nonzero(&self) -> bool {
        self.flags & Self::TS2_NONZERO != 0
    }

    /// Some window scale p0f reads is above 14 (quirk `exws`).
    pub fn ws_excessive(&self) -> bool {
        self.flags & Self::WS_EXCESSIVE != 0
    }

    /// The last TSval p0f reads, 0 without one. More than 24 options leave
    /// room for only one timestamp option (10 bytes + 24 others > 40 bytes
    /// would be needed for two), so it is either the recorded one or none.
    pub fn ts1(&self, options: &TcpOptions) -> u32 {
        match options.timestamp {
            Some((val, _)) if self.flags & Self::TS_UNREAD == 0 => val,
            _ => 0,
        }
    }
}

/// A [`TcpOptions`] as eight plain words, with the timestamp values reduced
/// to whether each is zero: what a fingerprint reads of the options, in a
/// form that compares and hashes in a few instructions (the analyzer keys
/// its cache of per-shape answers on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OptionsShape(pub [u64; 8]);

impl TcpOptions {
    /// See [`OptionsShape`]. Every field is named below, so a field added to
    /// [`TcpOptions`] does not compile until it is given its place.
    pub fn shape(&self) -> OptionsShape {
        let &TcpOptions {
            kinds,
            len,
            cut: truncated,
            eol_pad,
            malformed,
            eol_zeros,
            cut_unlisted,
            mss,
            window_scale,
            timestamp,
            sack_permitted,
            p0f:
                P0fOptionView {
                    mss: p0f_mss,
                    wscale: p0f_wscale,
                    flags: p0f_flags,
                },
        } = self;
        // Kinds one byte each (words 0-4; word 5 stays zero). A cut-off
        // option can only end the list (the parser stops there), so one bit
        // tells it from a whole option of the same kind.
        let mut w = [0u64; 8];
        for (word, chunk) in w.iter_mut().zip(kinds.chunks_exact(8)) {
            if let Ok(c) = <[u8; 8]>::try_from(chunk) {
                *word = u64::from_le_bytes(c);
            }
        }
        let bit = |b: bool, at: u32| u64::from(b) << at;
        let (ts_val_nz, ts_ecr_nz) = timestamp.map_or((false, false), |(v, e)| (v != 0, e != 0));
        w[6] = u64::from(len)
            | u64::from(eol_pad) << 8
            | u64::from(mss.unwrap_or(0)) << 16
            | u64::from(window_scale.unwrap_or(0)) << 32
            | u64::from(p0f_flags) << 40
            | bit(malformed, 50)
            | bit(mss.is_some(), 51)
            | bit(window_scale.is_some(), 52)
            | bit(timestamp.is_some(), 53)
            | bit(ts_val_nz, 54)
            | bit(ts_ecr_nz, 55)
            | bit(sack_permitted, 56)
            | bit(truncated, 57);
        w[7] = u64::from(p0f_mss)
            | u64::from(p0f_wscale) << 16
            | u64::from(eol_zeros) << 24
            | bit(cut_unlisted, 32);
        OptionsShape(w)
    }
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl TcpOptions {
    /// No options. A constant, so starting a parse is one block copy rather
    /// than forty element stores.
    const EMPTY: TcpOptions = TcpOptions {
        kinds: [0; MAX_TCP_OPTIONS],
        len: 0,
        cut: false,
        eol_pad: 0,
        malformed: false,
        eol_zeros: 0,
        cut_unlisted: false,
        mss: None,
        window_scale: None,
        timestamp: None,
        sack_permitted: false,
        p0f: P0fOptionView {
            mss: 0,
            wscale: 0,
            flags: 0,
        },
    };

    /// The option kinds in wire order, up to and including the first EOL
    /// (a cut-off option's kind last).
    pub fn kinds(&self) -> &[u8] {
        &self.kinds[..usize::from(self.len)]
    }

    /// The first `N` kinds, zeros past the list's end: a fixed-size copy,
    /// for callers that keep a prefix.
    pub fn first_kinds<const N: usize>(&self) -> [u8; N] {
        const { assert!(N <= MAX_TCP_OPTIONS) };
        let mut out = [0; N];
        out.copy_from_slice(&self.kinds[..N]);
        out
    }

    /// Options in wire order, up to and including the first EOL.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = TcpOption> + ExactSizeIterator + '_ {
        let last = usize::from(self.len).wrapping_sub(1);
        self.kinds().iter().enumerate().map(move |(i, &kind)| {
            if self.cut && i == last {
                TcpOption::Truncated { kind }
            } else {
                TcpOption::whole(kind)
            }
        })
    }

    pub fn last(&self) -> Option<TcpOption> {
        self.iter().next_back()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Some byte after the first EOL is not zero.
    pub fn eol_pad_nonzero(&self) -> bool {
        self.eol_zeros < self.eol_pad
    }

    /// Some byte after the first EOL other than the header's last byte is
    /// not zero: what p0f 3.09b's `opt+` quirk actually tests (its scan
    /// steps past the first non-zero byte before checking for the end).
    pub fn eol_pad_nonzero_not_last(&self) -> bool {
        u16::from(self.eol_zeros) + 1 < u16::from(self.eol_pad)
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    #[inline(always)]
    fn push(&mut self, kind: u8) {
        // `bytes` is at most 40 long and every option consumes at least one
        // byte, so the list cannot overflow; the check keeps that local.
        if let Some(slot) = self.kinds.get_mut(usize::from(self.len)) {
            *slot = kind;
            self.len += 1;
        }
    }

    /// Parses the option bytes of a TCP header (everything between the fixed
    /// 20-byte header and the data offset). Never fails: irregularities are
    /// recorded in the result, as p0f 3 records them.
    #[inline]
    pub fn parse(bytes: &[u8]) -> TcpOptions {
        Self::common_layout(bytes).unwrap_or_else(|| Self::walk(bytes))
    }

    /// The whole option list of the layouts nearly every SYN and SYN+ACK
    /// carries (Linux and Android, Windows, macOS and iOS, FreeBSD, Linux
    /// without timestamps), recognised by their fixed bytes and read at
    /// fixed places: a fraction of the option-by-option walk, whose
    /// branches mispredict when stacks alternate. Gives exactly what
    /// [`TcpOptions::walk`] gives for the same bytes (a test holds it to
    /// that), `None` for anything else.
    #[inline(always)]
    fn common_layout(bytes: &[u8]) -> Option<TcpOptions> {
        // The eight bytes of TSval and TSecr.
        let ts = |b: &[u8]| {
            let &[v0, v1, v2, v3, e0, e1, e2, e3] = b.first_chunk::<8>()?;
            Some((
                u32::from_be_bytes([v0, v1, v2, v3]),
                u32::from_be_bytes([e0, e1, e2, e3]),
            ))
        };
        let o = match *bytes {
            // M, S, T, N, W: Linux, Android, ChromeOS.
            [2, 4, m0, m1, 4, 2, 8, 10, ref t @ .., 1, 3, 3, shift] if t.len() == 8 => {
                Self::fixed(&[2, 4, 8, 1, 3], [m0, m1], shift, Some(ts(t)?), 0)
            }
            // M, N, W, S, T: FreeBSD.
            [2, 4, m0, m1, 1, 3, 3, shift, 4, 2, 8, 10, ref t @ ..] if t.len() == 8 => {
                Self::fixed(&[2, 1, 3, 4, 8], [m0, m1], shift, Some(ts(t)?), 0)
            }
            // M, N, W, N, N, S: Windows.
            [2, 4, m0, m1, 1, 3, 3, shift, 1, 1, 4, 2] => {
                Self::fixed(&[2, 1, 3, 1, 1, 4], [m0, m1], shift, None, 0)
            }
            // M, N, N, S, N, W: Linux with timestamps off.
            [2, 4, m0, m1, 1, 1, 4, 2, 1, 3, 3, shift] => {
                Self::fixed(&[2, 1, 1, 4, 1, 3], [m0, m1], shift, None, 0)
            }
            // M, N, W, N, N, T, S, E, E: macOS, iOS.
            [2, 4, m0, m1, 1, 3, 3, shift, 1, 1, 8, 10, ref t @ .., 4, 2, 0, 0] if t.len() == 8 => {
                Self::fixed(&[2, 1, 3, 1, 1, 8, 4, 0], [m0, m1], shift, Some(ts(t)?), 1)
            }
            _ => return None,
        };
        Some(o)
    }

    /// A list of whole options holding one MSS, one window scale, SACK
    /// permitted and at most one timestamp, fewer than p0f's 24, ending in
    /// `eol_pad` zero bytes after an EOL when it has one.
    #[inline(always)]
    fn fixed(
        kinds: &[u8],
        mss: [u8; 2],
        shift: u8,
        timestamp: Option<(u32, u32)>,
        eol_pad: u8,
    ) -> TcpOptions {
        let mss = u16::from_be_bytes(mss);
        let mut o = TcpOptions::EMPTY;
        for &k in kinds {
            o.push(k);
        }
        o.eol_pad = eol_pad;
        o.eol_zeros = eol_pad;
        o.mss = Some(mss);
        o.window_scale = Some(shift);
        o.sack_permitted = true;
        o.timestamp = timestamp;
        o.p0f.mss = mss;
        o.p0f.wscale = shift;
        if shift > 14 {
            o.p0f.flags |= P0fOptionView::WS_EXCESSIVE;
        }
        if let Some((val, ecr)) = timestamp {
            if val == 0 {
                o.p0f.flags |= P0fOptionView::TS1_ZERO;
            }
            if ecr != 0 {
                o.p0f.flags |= P0fOptionView::TS2_NONZERO;
            }
        }
        o
    }

    /// The option-by-option parse. It walks the bytes as a shrinking slice
    /// and reads fixed-size bodies as arrays, so the loop carries no index
    /// arithmetic or bounds checks beyond one length test per option.
    #[inline(never)]
    fn walk(bytes: &[u8]) -> TcpOptions {
        let mut rest = bytes.get(..MAX_TCP_OPTIONS).unwrap_or(bytes);
        let mut o = TcpOptions::default();
        while let Some((&kind, after)) = rest.split_first() {
            match kind {
                0 => {
                    o.push(0);
                    let pad = after;
                    o.eol_pad = pad.len() as u8;
                    o.eol_zeros = pad.iter().take_while(|&&b| b == 0).count() as u8;
                    return o;
                }
                1 => {
                    o.push(1);
                    rest = after;
                }
                // Fixed-size options: like p0f, a wrong length byte is noted
                // but the value is still read at its usual place; only a body
                // past the header end stops parsing.
                2 => {
                    let Some(&[len, hi, lo]) = after.first_chunk::<3>() else {
                        return o.abort(kind, rest);
                    };
                    o.malformed |= len != 4;
                    let mss = u16::from_be_bytes([hi, lo]);
                    o.mss = Some(mss);
                    if o.len() < P0fOptionView::MAX_OPTIONS {
                        o.p0f.mss = mss;
                    }
                    o.push(2);
                    rest = after.get(3..).unwrap_or_default();
                }
                3 => {
                    let Some(&[len, shift]) = after.first_chunk::<2>() else {
                        return o.abort(kind, rest);
                    };
                    o.malformed |= len != 3;
                    o.window_scale = Some(shift);
                    if o.len() < P0fOptionView::MAX_OPTIONS {
                        o.p0f.wscale = shift;
                        if shift > 14 {
                            o.p0f.flags |= P0fOptionView::WS_EXCESSIVE;
                        }
                    }
                    o.push(3);
                    rest = after.get(2..).unwrap_or_default();
                }
                4 => {
                    let Some(&len) = after.first() else {
                        return o.abort(kind, rest);
                    };
                    o.malformed |= len != 2;
                    o.sack_permitted = true;
                    o.push(4);
                    rest = after.get(1..).unwrap_or_default();
                }
                8 => {
                    let Some(&[len, v0, v1, v2, v3, e0, e1, e2, e3]) = after.first_chunk::<9>()
                    else {
                        return o.abort(kind, rest);
                    };
                    o.malformed |= len != 10;
                    let val = u32::from_be_bytes([v0, v1, v2, v3]);
                    let ecr = u32::from_be_bytes([e0, e1, e2, e3]);
                    o.timestamp = Some((val, ecr));
                    if o.len() >= P0fOptionView::MAX_OPTIONS {
                        o.p0f.flags |= P0fOptionView::TS_UNREAD;
                    } else {
                        if val == 0 {
                            o.p0f.flags |= P0fOptionView::TS1_ZERO;
                        }
                        if ecr != 0 {
                            o.p0f.flags |= P0fOptionView::TS2_NONZERO;
                        }
                    }
                    o.push(8);
                    rest = after.get(9..).unwrap_or_default();
                }
                _ => {
                    // Variable-length options: SACK must be 10..=34 bytes,
                    // anything else 2..=40; a length that cannot be trusted
                    // stops parsing because the next option cannot be found.
                    let Some(&len) = after.first() else {
                        return o.abort(kind, rest);
                    };
                    let len = usize::from(len);
                    let (min, max) = if kind == 5 { (10, 34) } else { (2, 40) };
                    if len < min || len > max || len > rest.len() {
                        return o.abort(kind, rest);
                    }
                    o.push(kind);
                    rest = rest.get(len..).unwrap_or_default();
                }
            }
        }
        o
    }

    /// Ends the list with a cut-off option; `from_kind`: the bytes from its
    /// kind byte to the header end.
    fn abort(mut self, kind: u8, from_kind: &[u8]) -> TcpOptions {
        self.push(kind);
        self.cut = true;
        self.malformed = true;
        self.cut_unlisted = !wireshark_lists(from_kind);
        self
    }
}

/// Whether Wireshark shows the option starting `from_kind` (which runs to
/// the header end) in its list: it needs a length byte of at least 2 that
/// stays within the header, whatever the option's kind.
fn wireshark_lists(from_kind: &[u8]) -> bool {
    from_kind
        .get(1)
        .is_some_and(|&len| len >= 2 && usize::from(len) <= from_kind.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parser as it was before it was tuned for speed, kept as the
    /// reference the tuned one must match on every input.
    fn reference_parse(bytes: &[u8]) -> TcpOptions {
        let bytes = &bytes[..bytes.len().min(40)];
        let mut o = TcpOptions::default();
        let end = bytes.len();
        let mut i = 0usize;
        while i < end {
            let kind = bytes[i];
            i += 1;
            match kind {
                0 => {
                    push(&mut o, TcpOption::Eol);
                    let pad = &bytes[i..];
                    o.eol_pad = pad.len() as u8;
                    o.eol_zeros = pad.iter().take_while(|&&b| b == 0).count() as u8;
                    return o;
                }
                1 => push(&mut o, TcpOption::Nop),
                // Fixed-size options: like p0f, a wrong length byte is noted
                // but the value is still read at its usual place; only a body
                // past the header end stops parsing.
                2 | 3 | 4 | 8 => {
                    let size = match kind {
                        2 => 4,
                        3 => 3,
                        4 => 2,
                        _ => 10,
                    };
                    if i + size - 1 > end {
                        return abort(o, kind, &bytes[i - 1..]);
                    }
                    if bytes[i] as usize != size {
                        o.malformed = true;
                    }
                    let body = &bytes[i + 1..i + size - 1];
                    let p0f_reads = usize::from(o.len) < P0fOptionView::MAX_OPTIONS;
                    let opt = match kind {
                        2 => {
                            let mss = u16::from_be_bytes([body[0], body[1]]);
                            o.mss = Some(mss);
                            if p0f_reads {
                                o.p0f.mss = mss;
                            }
                            TcpOption::Mss
                        }
                        3 => {
                            o.window_scale = Some(body[0]);
                            if p0f_reads {
                                o.p0f.wscale = body[0];
                                if body[0] > 14 {
                                    o.p0f.flags |= P0fOptionView::WS_EXCESSIVE;
                                }
                            }
                            TcpOption::WindowScale
                        }
                        4 => {
                            o.sack_permitted = true;
                            TcpOption::SackPermitted
                        }
                        _ => {
                            let val = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                            let ecr = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                            o.timestamp = Some((val, ecr));
                            if !p0f_reads {
                                o.p0f.flags |= P0fOptionView::TS_UNREAD;
                            } else {
                                if val == 0 {
                                    o.p0f.flags |= P0fOptionView::TS1_ZERO;
                                }
                                if ecr != 0 {
                                    o.p0f.flags |= P0fOptionView::TS2_NONZERO;
                                }
                            }
                            TcpOption::Timestamp
                        }
                    };
                    push(&mut o, opt);
                    i += size - 1;
                }
                _ => {
                    // Variable-length options: SACK must be 10..=34 bytes,
                    // anything else 2..=40; a length that cannot be trusted
                    // stops parsing because the next option cannot be found.
                    let Some(&len) = bytes.get(i) else {
                        return abort(o, kind, &bytes[i - 1..]);
                    };
                    let len = usize::from(len);
                    let (min, max) = if kind == 5 { (10, 34) } else { (2, 40) };
                    if len < min || len > max || i - 1 + len > end {
                        return abort(o, kind, &bytes[i - 1..]);
                    }
                    push(
                        &mut o,
                        if kind == 5 {
                            TcpOption::Sack
                        } else {
                            TcpOption::Other { kind }
                        },
                    );
                    i += len - 1;
                }
            }
        }
        o
    }

    fn push(o: &mut TcpOptions, opt: TcpOption) {
        if usize::from(o.len) < MAX_TCP_OPTIONS {
            o.kinds[usize::from(o.len)] = opt.kind();
            o.len += 1;
            o.cut = matches!(opt, TcpOption::Truncated { .. });
        }
    }

    fn abort(mut o: TcpOptions, kind: u8, from_kind: &[u8]) -> TcpOptions {
        push(&mut o, TcpOption::Truncated { kind });
        o.malformed = true;
        o.cut_unlisted = !wireshark_lists(from_kind);
        o
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(8_000))]
        #[test]
        fn tuned_parser_matches_the_reference(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    0u8..=10,
                    proptest::prelude::any::<u8>(),
                ],
                0..48,
            )
        ) {
            proptest::prop_assert_eq!(TcpOptions::parse(&bytes), reference_parse(&bytes));
        }
    }

    /// The layouts [`TcpOptions::common_layout`] reads, zero in the places
    /// that vary (MSS, shift, timestamps).
    const COMMON_LAYOUTS: [&[u8]; 5] = [
        &[2, 4, 0, 0, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 0],
        &[2, 4, 0, 0, 1, 3, 3, 0, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0],
        &[2, 4, 0, 0, 1, 3, 3, 0, 1, 1, 4, 2],
        &[2, 4, 0, 0, 1, 1, 4, 2, 1, 3, 3, 0],
        &[
            2, 4, 0, 0, 1, 3, 3, 0, 1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 4, 2, 0, 0,
        ],
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4_000))]
        /// The fast path for common layouts agrees with the reference on
        /// them, whatever their values, and on them with one byte changed.
        #[test]
        fn common_layouts_parse_as_the_reference_does(
            which in 0..COMMON_LAYOUTS.len(),
            values in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(0u8),
                    13u8..=16,
                    proptest::prelude::any::<u8>(),
                ],
                24,
            ),
            changed in proptest::option::of((0usize..24, proptest::prelude::any::<u8>())),
        ) {
            let layout = COMMON_LAYOUTS[which];
            let mut b = layout.to_vec();
            // Values go where the layout has zeros before its EOL.
            let eol = if which == 4 { 22 } else { b.len() };
            for (i, byte) in b.iter_mut().enumerate().take(eol) {
                if *byte == 0 {
                    *byte = values[i];
                }
            }
            if changed.is_none() {
                proptest::prop_assert!(TcpOptions::common_layout(&b).is_some());
            }
            if let Some((at, value)) = changed {
                let at = at % b.len();
                b[at] = value;
            }
            proptest::prop_assert_eq!(TcpOptions::parse(&b), reference_parse(&b));
        }
    }

    #[test]
    fn linux_syn_options() {
        // mss 1460, sackOK, ts 0x01020304/0, nop, ws 7
        let b = [
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let o = TcpOptions::parse(&b);
        assert_eq!(
            o.iter().collect::<Vec<_>>(),
            [
                TcpOption::Mss,
                TcpOption::SackPermitted,
                TcpOption::Timestamp,
                TcpOption::Nop,
                TcpOption::WindowScale
            ]
        );
        assert!(!o.malformed);
        assert_eq!(o.mss, Some(1460));
        assert_eq!(o.window_scale, Some(7));
        assert_eq!(o.timestamp, Some((0x01020304, 0)));
    }

    #[test]
    fn eol_padding_is_counted_and_nonzero_noted() {
        let o = TcpOptions::parse(&[1, 0, 0, 0]);
        assert_eq!(
            o.iter().collect::<Vec<_>>(),
            &[TcpOption::Nop, TcpOption::Eol]
        );
        assert_eq!(o.eol_pad, 2);
        assert!(!o.eol_pad_nonzero());
        let o = TcpOptions::parse(&[0, 0, 7, 0]);
        assert_eq!(o.eol_pad, 3);
        assert!(o.eol_pad_nonzero());
        assert!(o.eol_pad_nonzero_not_last());
        // p0f does not see a non-zero byte in the last position.
        let o = TcpOptions::parse(&[0, 0, 0, 7]);
        assert!(o.eol_pad_nonzero());
        assert!(!o.eol_pad_nonzero_not_last());
    }

    #[test]
    fn bad_lengths_are_malformed_not_panics() {
        // MSS with length byte 5: value still read, option flagged.
        let o = TcpOptions::parse(&[2, 5, 0x05, 0xb4]);
        assert_eq!(o.mss, Some(1460));
        assert!(o.malformed);
        // Unknown option with length 0 stops parsing.
        let o = TcpOptions::parse(&[1, 30, 0, 1]);
        assert_eq!(
            o.iter().collect::<Vec<_>>(),
            [TcpOption::Nop, TcpOption::Truncated { kind: 30 }]
        );
        assert!(o.malformed);
        // Timestamp cut off by the header end.
        let o = TcpOptions::parse(&[8, 10, 1, 2]);
        assert_eq!(
            o.iter().collect::<Vec<_>>(),
            &[TcpOption::Truncated { kind: 8 }]
        );
        assert_eq!(o.timestamp, None);
        // SACK with an out-of-range length.
        let o = TcpOptions::parse(&[5, 4, 0, 0]);
        assert!(o.malformed);
    }

    #[test]
    fn p0f_view_stops_after_24_options_and_keeps_sticky_quirks() {
        let mut b = vec![8, 10, 0, 0, 0, 0, 0, 0, 0, 9, 8, 10, 0, 0, 0, 7, 0, 0, 0, 0];
        b.extend_from_slice(&[3, 3, 15, 3, 3, 2]);
        let o = TcpOptions::parse(&b);
        assert_eq!(o.timestamp, Some((7, 0)));
        assert_eq!(o.p0f.ts1(&o), 7);
        assert!(o.p0f.ts1_zero() && o.p0f.ts2_nonzero() && o.p0f.ws_excessive());
        assert_eq!(o.p0f.wscale, 2);
        let mut b = vec![1; 23];
        b.extend_from_slice(&[2, 4, 5, 0xb4, 2, 4, 2, 0, 3, 3, 9]);
        let o = TcpOptions::parse(&b);
        assert_eq!(o.mss, Some(512));
        assert_eq!(o.p0f.mss, 1460);
        assert_eq!(o.window_scale, Some(9));
        assert_eq!(o.p0f.wscale, 0);
        let mut b = vec![1; 24];
        b.extend_from_slice(&[8, 10, 0, 0, 0, 0, 0, 0, 0, 9]);
        let o = TcpOptions::parse(&b);
        assert_eq!(o.timestamp, Some((0, 9)));
        assert_eq!(o.p0f.ts1(&o), 0);
        assert!(!o.p0f.ts1_zero() && !o.p0f.ts2_nonzero());
    }

    #[test]
    fn forty_nops_fit() {
        let o = TcpOptions::parse(&[1; 40]);
        assert_eq!(o.len(), 40);
        assert!(!o.malformed);
    }
}

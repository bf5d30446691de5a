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
/// per packet). Option values live in the named fields rather than in the
/// list, which keeps an [`Observation`](super::Observation) small enough to
/// move around cheaply; when an option repeats, the last value wins, as in
/// p0f.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpOptions {
    list: [TcpOption; MAX_TCP_OPTIONS],
    len: u8,
    /// Bytes that follow the first EOL up to the end of the header.
    pub eol_pad: u8,
    /// Some byte after the first EOL is not zero (p0f quirk `opt+`).
    pub eol_pad_nonzero: bool,
    /// An option had a wrong length byte, ran past the header end, or parsing
    /// stopped early (p0f quirk `bad`).
    pub malformed: bool,
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    /// (TSval, TSecr) of the timestamp option.
    pub timestamp: Option<(u32, u32)>,
    pub sack_permitted: bool,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            list: [TcpOption::Nop; MAX_TCP_OPTIONS],
            len: 0,
            eol_pad: 0,
            eol_pad_nonzero: false,
            malformed: false,
            mss: None,
            window_scale: None,
            timestamp: None,
            sack_permitted: false,
        }
    }
}

impl TcpOptions {
    /// Options in wire order, up to and including the first EOL.
    pub fn as_slice(&self) -> &[TcpOption] {
        &self.list[..usize::from(self.len)]
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    fn push(&mut self, opt: TcpOption) {
        // `bytes` is at most 40 long and every option consumes at least one
        // byte, so the list cannot overflow; the check keeps that local.
        if usize::from(self.len) < MAX_TCP_OPTIONS {
            self.list[usize::from(self.len)] = opt;
            self.len += 1;
        }
    }

    /// Parses the option bytes of a TCP header (everything between the fixed
    /// 20-byte header and the data offset). Never fails: irregularities are
    /// recorded in the result, as p0f 3 records them.
    pub fn parse(bytes: &[u8]) -> TcpOptions {
        let mut o = TcpOptions::default();
        let mut rest = bytes.get(..40).unwrap_or(bytes);
        while let Some((&kind, tail)) = rest.split_first() {
            // Fixed-size options: like p0f, a wrong length byte is noted but
            // the value is still read at its usual place; only a body past
            // the header end stops parsing. `tail` starts at the length byte.
            rest = match kind {
                0 => {
                    o.push(TcpOption::Eol);
                    o.eol_pad = tail.len() as u8;
                    o.eol_pad_nonzero = tail.iter().any(|&b| b != 0);
                    return o;
                }
                1 => {
                    o.push(TcpOption::Nop);
                    tail
                }
                2 => {
                    let Some(([len, hi, lo], next)) = tail.split_first_chunk::<3>() else {
                        return o.abort(kind);
                    };
                    o.malformed |= *len != 4;
                    o.mss = Some(u16::from_be_bytes([*hi, *lo]));
                    o.push(TcpOption::Mss);
                    next
                }
                3 => {
                    let Some(([len, shift], next)) = tail.split_first_chunk::<2>() else {
                        return o.abort(kind);
                    };
                    o.malformed |= *len != 3;
                    o.window_scale = Some(*shift);
                    o.push(TcpOption::WindowScale);
                    next
                }
                4 => {
                    let Some(([len], next)) = tail.split_first_chunk::<1>() else {
                        return o.abort(kind);
                    };
                    o.malformed |= *len != 2;
                    o.sack_permitted = true;
                    o.push(TcpOption::SackPermitted);
                    next
                }
                8 => {
                    let Some((b, next)) = tail.split_first_chunk::<9>() else {
                        return o.abort(kind);
                    };
                    o.malformed |= b[0] != 10;
                    let val = u32::from_be_bytes([b[1], b[2], b[3], b[4]]);
                    let ecr = u32::from_be_bytes([b[5], b[6], b[7], b[8]]);
                    o.timestamp = Some((val, ecr));
                    o.push(TcpOption::Timestamp);
                    next
                }
                _ => {
                    // Variable-length options: SACK must be 10..=34 bytes,
                    // anything else 2..=40; a length that cannot be trusted
                    // stops parsing because the next option cannot be found.
                    let Some(&len) = tail.first() else {
                        return o.abort(kind);
                    };
                    let len = usize::from(len);
                    let (min, max) = if kind == 5 { (10, 34) } else { (2, 40) };
                    let next = match tail.get(len.wrapping_sub(1)..) {
                        Some(next) if (min..=max).contains(&len) => next,
                        _ => return o.abort(kind),
                    };
                    o.push(if kind == 5 {
                        TcpOption::Sack
                    } else {
                        TcpOption::Other { kind }
                    });
                    next
                }
            };
        }
        o
    }

    fn abort(mut self, kind: u8) -> TcpOptions {
        self.push(TcpOption::Truncated { kind });
        self.malformed = true;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_syn_options() {
        // mss 1460, sackOK, ts 0x01020304/0, nop, ws 7
        let b = [
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let o = TcpOptions::parse(&b);
        assert_eq!(
            o.as_slice(),
            &[
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
        assert_eq!(o.as_slice(), &[TcpOption::Nop, TcpOption::Eol]);
        assert_eq!(o.eol_pad, 2);
        assert!(!o.eol_pad_nonzero);
        let o = TcpOptions::parse(&[0, 0, 7, 0]);
        assert_eq!(o.eol_pad, 3);
        assert!(o.eol_pad_nonzero);
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
            o.as_slice(),
            &[TcpOption::Nop, TcpOption::Truncated { kind: 30 }]
        );
        assert!(o.malformed);
        // Timestamp cut off by the header end.
        let o = TcpOptions::parse(&[8, 10, 1, 2]);
        assert_eq!(o.as_slice(), &[TcpOption::Truncated { kind: 8 }]);
        assert_eq!(o.timestamp, None);
        // SACK with an out-of-range length.
        let o = TcpOptions::parse(&[5, 4, 0, 0]);
        assert!(o.malformed);
    }

    /// The straightforward index-based form of `parse` (its previous
    /// implementation), kept as the oracle the faster one must equal.
    fn reference(bytes: &[u8]) -> TcpOptions {
        let bytes = &bytes[..bytes.len().min(40)];
        let mut o = TcpOptions::default();
        let end = bytes.len();
        let mut i = 0usize;
        while i < end {
            let kind = bytes[i];
            i += 1;
            match kind {
                0 => {
                    o.push(TcpOption::Eol);
                    let pad = &bytes[i..];
                    o.eol_pad = pad.len() as u8;
                    o.eol_pad_nonzero = pad.iter().any(|&b| b != 0);
                    return o;
                }
                1 => o.push(TcpOption::Nop),
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
                        return o.abort(kind);
                    }
                    if bytes[i] as usize != size {
                        o.malformed = true;
                    }
                    let body = &bytes[i + 1..i + size - 1];
                    let opt = match kind {
                        2 => {
                            let mss = u16::from_be_bytes([body[0], body[1]]);
                            o.mss = Some(mss);
                            TcpOption::Mss
                        }
                        3 => {
                            o.window_scale = Some(body[0]);
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
                            TcpOption::Timestamp
                        }
                    };
                    o.push(opt);
                    i += size - 1;
                }
                _ => {
                    // Variable-length options: SACK must be 10..=34 bytes,
                    // anything else 2..=40; a length that cannot be trusted
                    // stops parsing because the next option cannot be found.
                    let Some(&len) = bytes.get(i) else {
                        return o.abort(kind);
                    };
                    let len = usize::from(len);
                    let (min, max) = if kind == 5 { (10, 34) } else { (2, 40) };
                    if len < min || len > max || i - 1 + len > end {
                        return o.abort(kind);
                    }
                    o.push(if kind == 5 {
                        TcpOption::Sack
                    } else {
                        TcpOption::Other { kind }
                    });
                    i += len - 1;
                }
            }
        }
        o
    }

    proptest::proptest! {
        #[test]
        fn parse_equals_the_reference(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![0u8, 1, 2, 3, 4, 5, 8, 10, 30, 34, 255]),
                0..44,
            ),
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..44),
        ) {
            proptest::prop_assert_eq!(TcpOptions::parse(&bytes), reference(&bytes));
            proptest::prop_assert_eq!(TcpOptions::parse(&noise), reference(&noise));
        }
    }

    #[test]
    fn forty_nops_fit() {
        let o = TcpOptions::parse(&[1; 40]);
        assert_eq!(o.len(), 40);
        assert!(!o.malformed);
    }
}

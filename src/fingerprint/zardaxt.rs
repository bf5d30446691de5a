use std::fmt;

use crate::packet::{TcpOption, TcpOptions};
use crate::sink::TextSink;

/// zardaxt's option string, e.g. `M1460,S,T,N,W7,` (every option followed by
/// a comma; `E` for each EOL byte, `K` SACK, `U<kind>` for kinds without a
/// letter).
///
/// zardaxt lets dpkt walk the bytes after EOL as further options, so each
/// zero padding byte becomes another `E`; we write one `E` per padding byte
/// too (non-zero padding, which dpkt would decode as options, is written as
/// `E` as well — it never occurs in real stacks, and p0f flags it `opt+`).
pub struct ZardaxtOptions<'a>(pub &'a TcpOptions);

impl ZardaxtOptions<'_> {
    /// Writes the string to `out` (the record writer's fast path; `Display`
    /// goes through here too).
    #[inline]
    pub fn write_to(&self, out: &mut impl TextSink) {
        for opt in self.0.iter() {
            match opt {
                TcpOption::Eol => out.text("E,"),
                TcpOption::Nop => out.text("N,"),
                TcpOption::Mss => {
                    out.text("M");
                    out.number(self.0.mss.unwrap_or(0).into());
                    out.text(",");
                }
                TcpOption::WindowScale => {
                    out.text("W");
                    out.number(self.0.window_scale.unwrap_or(0).into());
                    out.text(",");
                }
                TcpOption::SackPermitted => out.text("S,"),
                TcpOption::Sack => out.text("K,"),
                TcpOption::Timestamp => out.text("T,"),
                TcpOption::Other { kind } | TcpOption::Truncated { kind } => match kind {
                    6 => out.text("J,"),
                    7 => out.text("F,"),
                    9 => out.text("P,"),
                    10 => out.text("R,"),
                    k => {
                        out.text("U");
                        out.number(k.into());
                        out.text(",");
                    }
                },
            }
        }
        for _ in 0..self.0.eol_pad {
            out.text("E,");
        }
    }
}

impl fmt::Display for ZardaxtOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::sink::format_with(f, |sink| self.write_to(sink))
    }
}

/// The option kinds in wire order, each zero padding byte after an EOL
/// counted as one more EOL (kind 0): mod_tcpfingerprint's
/// `tcp_options_kinds` and JA4T's part b.
#[derive(Clone, Copy)]
pub struct OptionKinds<'a>(pub &'a TcpOptions);

impl<'a> OptionKinds<'a> {
    /// As Wireshark lists them (and so FoxIO's JA4T): a cut-off option it
    /// cannot delimit is left out, and after an EOL each zero byte counts
    /// as one more EOL up to the first non-zero byte.
    pub fn iter(self) -> impl Iterator<Item = u8> + 'a {
        let o = self.0;
        let kinds = o.kinds();
        let kinds = match kinds.split_last() {
            Some((_, shown)) if o.cut_unlisted => shown,
            _ => kinds,
        };
        kinds
            .iter()
            .copied()
            .chain(std::iter::repeat_n(0, usize::from(o.eol_zeros)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::OptionBytes;

    #[test]
    fn macos_layout_writes_each_eol_byte() {
        let b = OptionBytes::new()
            .mss(1460)
            .nop()
            .ws(6)
            .nop()
            .nop()
            .ts(1, 0)
            .sok()
            .eol()
            .eol();
        let o = TcpOptions::parse(&b.0);
        assert_eq!(ZardaxtOptions(&o).to_string(), "M1460,N,W6,N,N,T,S,E,E,");
        assert_eq!(
            OptionKinds(&o).iter().collect::<Vec<_>>(),
            vec![2, 1, 3, 1, 1, 8, 4, 0, 0]
        );
    }

    #[test]
    fn unknown_kinds_get_u_prefix() {
        let b = OptionBytes::new()
            .mss(1400)
            .raw(&[34, 2])
            .raw(&[30, 4, 0, 0]);
        let o = TcpOptions::parse(&b.0);
        assert_eq!(ZardaxtOptions(&o).to_string(), "M1400,U34,U30,");
    }

    #[test]
    fn empty_options_are_empty() {
        let o = TcpOptions::parse(&[]);
        assert_eq!(ZardaxtOptions(&o).to_string(), "");
        assert_eq!(OptionKinds(&o).iter().count(), 0);
    }
}

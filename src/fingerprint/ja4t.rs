//! JA4T (client SYN) and JA4TS (server SYN+ACK).
//!
//! JA4T and JA4TS are part of JA4+ by FoxIO, licensed under the FoxIO
//! License 1.1 (free for internal and non-commercial use; see README).
//! This module is compiled only with the default-on `ja4t` cargo feature so
//! builds that must not carry it can leave it out.

use std::fmt;

use super::OptionKinds;
use crate::packet::{Kind, Observation};
use crate::sink::TextSink;

/// `window_kinds_mss_wscale`, e.g. `64240_2-1-3-1-1-4_1460_8`.
///
/// Decisions (each tested below): an empty option list, a missing MSS, and
/// a missing or zero window scale are written `00`; an MSS below 10 is
/// written with two digits (`05`), as FoxIO's implementation formats it;
/// with several MSS or window scale options the last one counts, as
/// Wireshark (FoxIO's decoder) reports it. The kinds are those Wireshark
/// lists ([`OptionKinds`]): after an EOL each zero padding byte is one more
/// `0`, up to the first non-zero byte; an option cut off by the header end
/// (or with a length byte below 2) is left out. Where an MSS, window scale,
/// SACK-permitted or timestamp option has a wrong length byte, synprint
/// reads it at its usual size, as p0f does, while Wireshark steps by the
/// length byte, or stops before it when that is below 2 or runs past the
/// header end: the kinds from it on can differ.
pub struct Ja4t<'a>(pub &'a Observation);

impl Ja4t<'_> {
    /// Writes the string to `out` (the record writer's fast path; `Display`
    /// goes through here too).
    #[inline]
    pub fn write_to(&self, out: &mut impl TextSink) {
        let obs = self.0;
        out.number(obs.window.into());
        out.text("_");
        let mut kinds = OptionKinds(&obs.options).iter();
        match kinds.next() {
            None => out.text("00"),
            Some(k) => {
                out.number(k.into());
                for k in kinds {
                    out.text("-");
                    out.number(k.into());
                }
            }
        }
        match obs.options.mss {
            Some(m) => {
                out.text(if m < 10 { "_0" } else { "_" });
                out.number(m.into());
            }
            None => out.text("_00"),
        }
        match obs.options.window_scale {
            Some(w) if w != 0 => {
                out.text("_");
                out.number(w.into());
            }
            _ => out.text("_00"),
        }
    }
}

/// The record field (and text line) a fingerprint of `kind` goes under:
/// `ja4t` for a client's SYN, `ja4ts` for a server's SYN+ACK.
pub fn field_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Syn => "ja4t",
        Kind::SynAck => "ja4ts",
    }
}

impl fmt::Display for Ja4t<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::sink::format_with(f, |sink| self.write_to(sink))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{IpVersion, TcpOptions, Timestamp};
    use std::net::{IpAddr, Ipv4Addr};

    fn obs(window: u16, opts: &[u8]) -> Observation {
        let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
        Observation {
            ts: Timestamp(0),
            kind: Kind::Syn,
            ip_version: IpVersion::V4,
            src_ip: a,
            dst_ip: a,
            ttl: 64,
            tos: 0,
            df: true,
            mf: false,
            ip_reserved_flag: false,
            ip_id: 0,
            ip_total_length: 60,
            ip_header_len: 20,
            ip_options_len: 0,
            flow_label: 0,
            src_port: 1,
            dst_port: 2,
            seq: 1,
            ack: 0,
            tcp_flags: 2,
            tcp_data_offset: 10,
            window,
            urgent_ptr: 0,
            payload_len: 0,
            options: TcpOptions::parse(opts),
            tunnel: None,
        }
    }

    #[test]
    fn windows_11_example_from_the_spec() {
        let o = crate::craft::OptionBytes::new()
            .mss(1460)
            .nop()
            .ws(8)
            .nop()
            .nop()
            .sok();
        assert_eq!(
            Ja4t(&obs(64240, &o.0)).to_string(),
            "64240_2-1-3-1-1-4_1460_8"
        );
    }

    #[test]
    fn macos_eol_padding_counts() {
        let o = crate::craft::OptionBytes::new()
            .mss(1460)
            .nop()
            .ws(6)
            .nop()
            .nop()
            .ts(9, 0)
            .sok()
            .eol()
            .eol();
        assert_eq!(
            Ja4t(&obs(65535, &o.0)).to_string(),
            "65535_2-1-3-1-1-8-4-0-0_1460_6"
        );
    }

    #[test]
    fn placeholders_for_missing_parts() {
        assert_eq!(Ja4t(&obs(5840, &[])).to_string(), "5840_00_00_00");
        let o = crate::craft::OptionBytes::new().mss(1460);
        assert_eq!(Ja4t(&obs(5840, &o.0)).to_string(), "5840_2_1460_00");
        let o = crate::craft::OptionBytes::new().nop().ws(0);
        assert_eq!(Ja4t(&obs(1024, &o.0)).to_string(), "1024_1-3_00_00");
    }

    fn bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// Option bytes tshark 4.0 was run on (2026-12-04), and the kinds,
    /// MSS and window scale it listed, as FoxIO's JA4T reads them.
    #[test]
    fn kinds_as_wireshark_lists_them() {
        for (hex, want) in [
            // Non-zero bytes after an EOL: zeros listed up to the first.
            ("020405b400aabbcc", "64240_2-0_1460_00"),
            ("020405b400000001", "64240_2-0-0-0_1460_00"),
            ("020405b4000102040578000000000000", "64240_2-0_1460_00"),
            // Cut off: past the end, a length below 2, no length byte.
            ("020405b40101080a", "64240_2-1-1_1460_00"),
            ("020405b408010000", "64240_2_1460_00"),
            ("020405b401010122", "64240_2-1-1-1_1460_00"),
            // A length that fits but is too short for SACK: listed.
            ("020405b40503000001010101", "64240_2-5_1460_00"),
        ] {
            assert_eq!(Ja4t(&obs(64240, &bytes(hex))).to_string(), want, "{hex}");
        }
    }

    /// The documented exception: MSS and window scale options with a
    /// length byte below 2 are read at their usual size, as p0f reads them.
    /// tshark 4.0 (2026-12-05) lists no options for the first and only the
    /// MSS for the second, so FoxIO's JA4T differs on such crafted SYNs.
    #[test]
    fn fixed_size_options_are_read_as_p0f_reads_them() {
        for (hex, want) in [
            ("020105b401030307", "64240_2-1-3_1460_7"),
            ("020405b403010307", "64240_2-3_1460_3"),
        ] {
            assert_eq!(Ja4t(&obs(64240, &bytes(hex))).to_string(), want, "{hex}");
        }
    }

    #[test]
    fn small_mss_has_two_digits_and_the_last_option_counts() {
        let o = crate::craft::OptionBytes::new().mss(0);
        assert_eq!(Ja4t(&obs(1024, &o.0)).to_string(), "1024_2_00_00");
        let o = crate::craft::OptionBytes::new().mss(7).ws(3);
        assert_eq!(Ja4t(&obs(1024, &o.0)).to_string(), "1024_2-3_07_3");
        let o = crate::craft::OptionBytes::new()
            .mss(1460)
            .ws(2)
            .mss(1200)
            .ws(8);
        assert_eq!(Ja4t(&obs(1024, &o.0)).to_string(), "1024_2-3-2-3_1200_8");
    }
}

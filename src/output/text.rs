use std::io::{self, Write};
use std::net::IpAddr;

use crate::analyze::{ConnUptime, Record, Side};
use crate::fingerprint::ZardaxtOptions;
use crate::json::JsonBuf;
use crate::p0f::Uptime;
use crate::packet::{IpVersion, Kind, Timestamp};
use crate::sink::TextSink;

/// A p0f-style block for an uptime estimated after the handshake (the
/// record writer's text format writes these between records).
pub fn write_text_conn_uptime<W: Write>(out: &mut W, u: &ConnUptime) -> io::Result<()> {
    let mut b = JsonBuf::new();
    text_conn_uptime(&mut b, u);
    out.write_all(b.as_bytes())
}

/// A p0f-style block for a record, into the record writer's buffer:
///
/// ```text
/// .-[ 192.0.2.1/40000 -> 198.51.100.1/443 (syn) ]-
/// |
/// | client   = 192.0.2.1/40000
/// | ...
/// `----
/// ```
///
/// Built piece by piece (as the JSON is), not through `fmt`: formatting
/// machinery made this the slowest format by far (about 30,000
/// instructions a record).
pub(super) fn text_record(b: &mut JsonBuf, r: &Record) {
    let o = r.obs();
    let role = match o.kind {
        Kind::Syn => "client",
        Kind::SynAck => "server",
    };
    let sender = (o.src_ip, o.src_port);
    let head = Head {
        from: sender,
        to: (o.dst_ip, o.dst_port),
        what: o.kind.as_str(),
        role,
        who: sender,
        ts: o.ts,
    };
    head.write(b);
    if let Some(t) = &o.tunnel {
        field(b, "tunnel");
        b.raw_text(t.kind.as_str());
        if let Some(id) = t.id {
            b.raw_text(" id ");
            b.number(id.into());
        }
        b.raw_text(", ");
        b.raw_ip(t.outer_src);
        b.raw_text(" -> ");
        b.raw_ip(t.outer_dst);
    }
    field(b, "ip/tcp");
    b.raw_text("ttl ");
    b.number(o.ttl.into());
    b.raw_text(" win ");
    b.number(o.window.into());
    // IPv6 has neither (the JSON writes null).
    if o.ip_version == IpVersion::V4 {
        b.raw_text(" df ");
        b.number(o.df.into());
        b.raw_text(" id ");
        b.number(o.ip_id.into());
    }
    b.raw_text(" mss ");
    opt(b, o.options.mss.map(u64::from));
    b.raw_text(" ws ");
    opt(b, o.options.window_scale.map(u64::from));
    let m = r.p0f();
    field(b, "os");
    match m.os {
        Some(label) => {
            label.write_to(b);
            if m.fuzzy {
                b.raw_text(" (fuzzy)");
            }
        }
        None => b.raw_text("???"),
    }
    field(b, "dist");
    b.number(m.dist.into());
    field(b, "raw_sig");
    m.raw_sig.write_to(b);
    if let Some(mtu) = r.mtu() {
        field(b, "mtu");
        b.number(mtu.raw_mtu.into());
        b.raw_text(" (");
        b.raw_text(mtu.link.unwrap_or("???"));
        b.raw_text(")");
    }
    if let Some(u) = r.uptime() {
        uptime(b, u);
    }
    if let Some(change) = r.host_change() {
        // p0f's host tracking: "host change" or "ip sharing".
        field(b, if change.sharing { "nat" } else { "change" });
        b.raw_text(change.module());
        b.raw_text(": ");
        b.raw_text(&change.reasons.to_string());
        b.raw_text(" (raw_hits ");
        for (i, n) in change.raw_hits.into_iter().enumerate() {
            if i > 0 {
                b.raw_text(",");
            }
            b.number(n.into());
        }
        b.raw_text(")");
    }
    field(b, "options");
    ZardaxtOptions(&o.options).write_to(b);
    if let Some(c) = r.classification() {
        field(b, "class");
        b.raw_text(c.os.name());
        b.raw_text(" (");
        fixed2(b, c.confidence);
        b.raw_text("), family ");
        b.raw_text(c.family.name());
        b.raw_text(" (");
        fixed2(b, c.family_confidence());
        b.raw_text(")");
        for e in c.evidence.texts() {
            continuation(b);
            e.write_to(b);
        }
    }
    if let Some(v) = &r.verdict {
        field(b, "verdict");
        // The JSON names, so "mismatch no" is not read as a mismatch.
        b.raw_text(match v.os_mismatch {
            Some(true) => "os_mismatch yes",
            Some(false) => "os_mismatch no",
            None => "os_mismatch unknown",
        });
        b.raw_text(if v.tunnel_suspected {
            ", tunnel_suspected yes"
        } else {
            ", tunnel_suspected no"
        });
        b.raw_text(if v.embedded_suspected {
            ", embedded_suspected yes"
        } else {
            ", embedded_suspected no"
        });
        if v.middlebox_suspected {
            b.raw_text(", middlebox_suspected yes");
        }
        b.raw_text(", hops ");
        b.number(v.hops.into());
        for reason in &v.reasons {
            continuation(b);
            b.raw_text(reason);
        }
    }
    #[cfg(feature = "ja4t")]
    {
        field(b, crate::fingerprint::ja4t::field_name(o.kind));
        crate::fingerprint::ja4t::Ja4t(o).write_to(b);
    }
    b.raw_text("\n|\n`----\n\n");
}

/// [`write_text_conn_uptime`] into the record writer's buffer.
pub(super) fn text_conn_uptime(b: &mut JsonBuf, u: &ConnUptime) {
    let (role, who) = match u.side {
        Side::Client => ("client", u.client),
        Side::Server => ("server", u.server),
    };
    let head = Head {
        from: u.client,
        to: u.server,
        what: "uptime",
        role,
        who,
        ts: u.ts,
    };
    head.write(b);
    uptime(b, &u.uptime);
    field(b, "raw_freq");
    // A measured frequency: any finite value, rare (one per estimate).
    b.raw_text(&format!("{:.2}", u.uptime.raw_freq_hz));
    b.raw_text(" Hz\n|\n`----\n\n");
}

/// What every block starts with: `.-[ from -> to (what) ]-`, then the
/// `role` line naming `who` and the `time` line.
struct Head {
    from: (IpAddr, u16),
    to: (IpAddr, u16),
    what: &'static str,
    role: &'static str,
    who: (IpAddr, u16),
    ts: Timestamp,
}

impl Head {
    fn write(&self, b: &mut JsonBuf) {
        b.raw_text(".-[ ");
        endpoint(b, self.from);
        b.raw_text(" -> ");
        endpoint(b, self.to);
        b.raw_text(" (");
        b.raw_text(self.what);
        b.raw_text(") ]-\n|");
        field(b, self.role);
        endpoint(b, self.who);
        field(b, "time");
        micros(b, self.ts);
        // The date, as p0f writes it, for a person reading the block; of
        // the time rounded as `micros` rounds it.
        let rounded = Timestamp(self.ts.0.saturating_add(500));
        let [y, m, d, h, min, s] = super::p0flog::utc_fields(rounded);
        b.raw_text(" (");
        for (v, width, after) in [
            (y, 4, "/"),
            (m, 2, "/"),
            (d, 2, " "),
            (h, 2, ":"),
            (min, 2, ":"),
            (s, 2, " UTC)"),
        ] {
            decimals(b, v, width);
            b.raw_text(after);
        }
    }
}

/// The `uptime` line: p0f's text and the clock's rounded frequency.
fn uptime(b: &mut JsonBuf, u: &Uptime) {
    field(b, "uptime");
    u.write_to(b);
    b.raw_text(" (");
    b.number(u.freq_hz.into());
    b.raw_text(" Hz)");
}

/// Ends the previous line and starts `| name     = ` (names padded to nine).
fn field(b: &mut JsonBuf, name: &str) {
    const PAD: &str = "         ";
    b.raw_text("\n| ");
    b.raw_text(name);
    b.raw_text(PAD.get(name.len()..).unwrap_or_default());
    b.raw_text("= ");
}

/// Ends the previous line and starts an indented one under a field.
fn continuation(b: &mut JsonBuf) {
    b.raw_text("\n|            ");
}

fn endpoint(b: &mut JsonBuf, (ip, port): (IpAddr, u16)) {
    b.raw_ip(ip);
    b.raw_text("/");
    b.number(port.into());
}

fn opt(b: &mut JsonBuf, v: Option<u64>) {
    match v {
        Some(v) => b.number(v),
        None => b.raw_text("-"),
    }
}

/// Seconds with six decimals, rounded to the nearest microsecond from the
/// exact nanoseconds (a double holds only about seven significant
/// decimals after today's ten-digit seconds).
fn micros(b: &mut JsonBuf, ts: Timestamp) {
    let us = ts.0 / 1000 + u64::from(ts.0 % 1000 >= 500);
    b.number(us / 1_000_000);
    b.raw_text(".");
    decimals(b, us % 1_000_000, 6);
}

/// `v` (below 10^width) as exactly `width` digits, zeros first.
fn decimals(b: &mut JsonBuf, v: u64, width: usize) {
    const ZEROS: &str = "000000";
    let digits = v.checked_ilog10().map_or(1, |d| d as usize + 1);
    b.raw_text(
        ZEROS
            .get(..width.saturating_sub(digits))
            .unwrap_or_default(),
    );
    b.number(v);
}

/// A probability with two decimals, as `{:.2}` writes it (ties to even on
/// the exact value: `v * 100` is exact in a double).
fn fixed2(b: &mut JsonBuf, v: f32) {
    // Negative zero and NaN fall through to `fmt` too.
    if !(v.is_sign_positive() && v <= 1.0) {
        return b.raw_text(&format!("{v:.2}"));
    }
    let n = (f64::from(v) * 100.0).round_ties_even() as u64;
    b.number(n / 100);
    b.raw_text(".");
    decimals(b, n % 100, 2);
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn text(write: impl FnOnce(&mut JsonBuf)) -> String {
        let mut b = JsonBuf::new();
        write(&mut b);
        String::from_utf8(b.into_bytes()).expect("utf-8")
    }

    /// Every probability with up to five decimals, every tie of two
    /// decimals, and the values around them: what `{:.2}` writes.
    #[test]
    fn fixed2_writes_what_format_writes() {
        let mut values: Vec<f32> = (0..=100_000).map(|k| k as f32 / 100_000.0).collect();
        for k in 0..=200 {
            let tie = k as f32 / 200.0;
            values.extend([tie, tie.next_down(), tie.next_up()]);
        }
        values.extend([f32::NAN, -0.0, -0.25, 1.0001, 7.5, f32::INFINITY]);
        for v in values {
            assert_eq!(text(|b| fixed2(b, v)), format!("{v:.2}"), "{v:e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn fixed2_writes_what_format_writes_for_any_float(bits: u32) {
            let v = f32::from_bits(bits);
            proptest::prop_assert_eq!(text(|b| fixed2(b, v)), format!("{v:.2}"));
        }

        /// Microsecond timestamps read as the double `{:.6}` formats
        /// (nanosecond ones may differ in the last digit, where the double
        /// has no exact value to give).
        #[test]
        fn micros_write_what_the_double_formats(secs in 0u64..1 << 33, us in 0u64..1_000_000) {
            let ts = Timestamp(secs * 1_000_000_000 + us * 1000);
            proptest::prop_assert_eq!(
                text(|b| micros(b, ts)),
                format!("{:.6}", ts.as_secs_f64())
            );
        }
    }

    #[test]
    fn micros_round_nanoseconds_to_the_nearest_microsecond() {
        for (ns, want) in [
            (1_700_000_000_000_000_499, "1700000000.000000"),
            (1_700_000_000_000_000_500, "1700000000.000001"),
            (1_700_000_000_999_999_500, "1700000001.000000"),
            (0, "0.000000"),
            (12_000, "0.000012"),
        ] {
            assert_eq!(text(|b| micros(b, Timestamp(ns))), want);
        }
    }

    /// The date is of the time as written, rounded to the microsecond.
    #[test]
    fn the_time_line_carries_its_date() {
        let head = |ns| Head {
            from: (IpAddr::from([192, 0, 2, 1]), 1),
            to: (IpAddr::from([192, 0, 2, 2]), 2),
            what: "syn",
            role: "client",
            who: (IpAddr::from([192, 0, 2, 1]), 1),
            ts: Timestamp(ns),
        };
        for (ns, want) in [
            (
                1_700_000_000_999_999_600,
                "1700000001.000000 (2023/11/14 22:13:21 UTC)",
            ),
            (
                1_700_000_000_999_999_400,
                "1700000000.999999 (2023/11/14 22:13:20 UTC)",
            ),
            (0, "0.000000 (1970/01/01 00:00:00 UTC)"),
        ] {
            let got = text(|b| head(ns).write(b));
            assert!(got.ends_with(&format!("| time     = {want}")), "{got}");
        }
    }

    /// A whole block, IPv6 and with a verdict: every line p0f's readers
    /// and people expect, in order.
    #[test]
    fn a_block_shows_every_field() {
        use crate::analyze::{Analyzer, AnalyzerConfig, Engine};
        use crate::craft::Stack;

        let engine = Engine::default();
        let mut a = Analyzer::new(&engine, AnalyzerConfig::default());
        let client: IpAddr = "2001:db8::7".parse().expect("address");
        let server: IpAddr = "2001:db8:1::1".parse().expect("address");
        let mut p = Stack::Linux.syn(client, 40001, server, 443, 3);
        p.ttl -= 5;
        let ts = Timestamp(1_700_000_000_123_456_700);
        let mut r = a.process_ip(ts, &p.ip_bytes()).expect("a first SYN");
        r.judge_user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0")
            .expect("User-Agent parser");
        let got = text(|b| text_record(b, &r));
        let want = "\
.-[ 2001:db8::7/40001 -> 2001:db8:1::1/443 (syn) ]-
|
| client   = 2001:db8::7/40001
| time     = 1700000000.123457 (2023/11/14 22:13:20 UTC)
| ip/tcp   = ttl 59 win 64800 mss 1440 ws 7
| os       = ???
| dist     = 5
| raw_sig  = 6:59+5:0:1440:mss*45,7:mss,sok,ts,nop,ws:flow:0
| mtu      = 1500 (Ethernet or modem)
| options  = M1440,S,T,N,W7,
| class    = Linux (0.73), family Linux (1.00)
|            wscale 7 -> Linux
|            options M,S,T,N,W -> Linux
| verdict  = os_mismatch yes, tunnel_suspected no, embedded_suspected no, hops 5
|            User-Agent says Windows (Windows family) but the TCP stack is Linux family (p=1.000; p(Windows)=0.000)
| ja4t     = 64800_2-4-8-1-3_1440_7
|
`----

";
        let want = if cfg!(feature = "ja4t") {
            want.to_string()
        } else {
            want.replace("| ja4t     = 64800_2-4-8-1-3_1440_7\n", "")
        };
        assert_eq!(got, want);
    }

    /// A SYN that came through a tunnel names it, after the time.
    #[test]
    fn a_tunnelled_block_names_its_tunnel() {
        use crate::analyze::{Analyzer, AnalyzerConfig, Engine};
        use crate::craft::{Encapsulation, Stack};

        let engine = Engine::default();
        let mut a = Analyzer::new(&engine, AnalyzerConfig::default());
        let c: IpAddr = "10.0.0.7".parse().expect("address");
        let s: IpAddr = "10.0.0.1".parse().expect("address");
        let mut lines = Vec::new();
        for (port, enc) in [
            (40001, Encapsulation::Vxlan),
            (40002, Encapsulation::IpInIpv6),
        ] {
            let p = Stack::Linux.syn(c, port, s, 443, 3);
            let (link, frame) = enc.wrap(&p.ip_bytes());
            let r = a.process_frame(link, Timestamp(1), &frame).expect("a SYN");
            let got = text(|b| text_record(b, &r));
            let line = got.lines().find(|l| l.starts_with("| tunnel"));
            lines.push(line.map(str::to_owned).unwrap_or(got));
        }
        assert_eq!(
            lines,
            [
                "| tunnel   = vxlan id 42, 203.0.113.1 -> 203.0.113.2",
                "| tunnel   = ip_in_ip, 2001:db8::1 -> 2001:db8::2",
            ]
        );
    }

    #[test]
    fn fields_are_padded_to_nine() {
        assert_eq!(text(|b| field(b, "os")), "\n| os       = ");
        assert_eq!(text(|b| field(b, "raw_freq")), "\n| raw_freq = ");
        assert_eq!(text(continuation), "\n|            ");
    }
}

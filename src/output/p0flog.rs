//! p0f 3's log lines (`p0f -o FILE`), so tools written for p0f's log keep
//! working: per record a `mod=syn` or `mod=syn+ack` line, then `mod=mtu`
//! and `mod=uptime` lines when p0f would write them, in p0f's order; and
//! the `mod=uptime` lines p0f writes for segments after the handshake.
//!
//! After a `mod=syn` or `mod=syn+ack` line comes p0f's `mod=host change`
//! or `mod=ip sharing` line where its host tracking writes one
//! ([`crate::p0f::HostTracker`]).
//!
//! p0f writes the packet's time in local time; these lines use UTC (the
//! same text when p0f runs with `TZ=UTC`). p0f's HTTP lines are not
//! produced.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::net::IpAddr;

use crate::analyze::{ConnUptime, Record, Side, TextKey};
use crate::p0f::{Mtu, Uptime};
use crate::packet::{Kind, Timestamp};

/// p0f's `MAX_DIST`: a larger hop distance is flagged `excess_dist`.
const P0F_MAX_DIST: u8 = 35;

/// Shapes whose line endings are kept; past this the cache starts over
/// (a capture holds a few hundred shapes).
const MAX_SHAPES: usize = 4096;

/// Writes p0f's log lines. Everything a line shows past its date,
/// addresses and ports (`|os=...|raw_sig=...`, `|link=...|raw_mtu=...`) is
/// the same for every record of one shape ([`Record::text_key`]), so it is
/// formatted once per shape and copied after; the date once per second.
#[derive(Default)]
pub struct P0fLog {
    line: Vec<u8>,
    /// The last whole second written and its `YYYY/MM/DD HH:MM:SS`.
    date: Option<(u64, [u8; 19])>,
    ends: HashMap<TextKey, LineEnds, foldhash::fast::RandomState>,
}

/// A shape's text after the `subj=` of its lines.
struct LineEnds {
    handshake: Box<[u8]>,
    mtu: Option<Box<[u8]>>,
}

impl P0fLog {
    pub fn new() -> Self {
        P0fLog::default()
    }

    /// Per record a `mod=syn` or `mod=syn+ack` line, then `mod=host change`
    /// or `mod=ip sharing`, `mod=mtu` and `mod=uptime` lines when p0f would
    /// write them, in p0f's order.
    pub fn write<W: Write>(&mut self, out: &mut W, r: &Record) -> io::Result<()> {
        let o = r.obs();
        let (client, server, module, subject) = match o.kind {
            Kind::Syn => ((o.src_ip, o.src_port), (o.dst_ip, o.dst_port), "syn", "cli"),
            Kind::SynAck => (
                (o.dst_ip, o.dst_port),
                (o.src_ip, o.src_port),
                "syn+ack",
                "srv",
            ),
        };
        if self.ends.len() >= MAX_SHAPES {
            self.ends.clear();
        }
        let ends = self.ends.entry(r.text_key()).or_insert_with(|| LineEnds {
            handshake: handshake_end(r).into(),
            mtu: r.mtu().map(|m| mtu_end(m).into()),
        });
        let line = &mut self.line;
        line.clear();
        let mut head = |line: &mut Vec<u8>, module: &str| {
            write_head(line, &mut self.date, o.ts, module, client, server, subject);
        };
        head(line, module);
        line.extend_from_slice(&ends.handshake);
        if let Some(change) = r.host_change() {
            head(line, change.module());
            let [a, b, c, d] = change.raw_hits;
            // Writing into a Vec cannot fail.
            let _ = writeln!(line, "|reason={}|raw_hits={a},{b},{c},{d}", change.reasons);
        }
        if let Some(mtu) = &ends.mtu {
            head(line, "mtu");
            line.extend_from_slice(mtu);
        }
        if let Some(u) = r.uptime() {
            head(line, "uptime");
            uptime_end(line, u);
        }
        out.write_all(line)
    }

    /// p0f's `mod=uptime` line for an estimate made after the handshake.
    pub fn write_conn_uptime<W: Write>(&mut self, out: &mut W, u: &ConnUptime) -> io::Result<()> {
        let subject = match u.side {
            Side::Client => "cli",
            Side::Server => "srv",
        };
        let line = &mut self.line;
        line.clear();
        write_head(
            line,
            &mut self.date,
            u.ts,
            "uptime",
            u.client,
            u.server,
            subject,
        );
        uptime_end(line, &u.uptime);
        out.write_all(line)
    }
}

/// [`P0fLog::write_conn_uptime`] without a log to keep (each call formats
/// its date afresh).
pub fn write_p0f_conn_uptime<W: Write>(out: &mut W, u: &ConnUptime) -> io::Result<()> {
    P0fLog::new().write_conn_uptime(out, u)
}

/// `|os=...|dist=...|params=...|raw_sig=...` and the newline.
fn handshake_end(r: &Record) -> Vec<u8> {
    let m = r.p0f();
    let mut end = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = match m.os {
        Some(label) if label.is_app() => write!(end, "|app={label}"),
        Some(label) => write!(end, "|os={label}"),
        None => end.write_all(b"|os=???"),
    };
    let _ = if m.bad_ttl {
        write!(end, "|dist=<= {}", m.dist)
    } else {
        write!(end, "|dist={}", m.dist)
    };
    let _ = writeln!(end, "|params={}|raw_sig={}", Params(r), m.raw_sig);
    end
}

/// `|link=...|raw_mtu=...` and the newline.
fn mtu_end(mtu: &Mtu<'_>) -> Vec<u8> {
    let mut end = Vec::new();
    let _ = writeln!(
        end,
        "|link={}|raw_mtu={}",
        mtu.link.unwrap_or("???"),
        mtu.raw_mtu
    );
    end
}

fn uptime_end(line: &mut Vec<u8>, u: &Uptime) {
    let _ = writeln!(line, "|uptime={u}|raw_freq={:.2} Hz", u.raw_freq_hz);
}

/// What every p0f log line starts with: `[date] mod=..|cli=..|srv=..|subj=..`.
fn write_head(
    line: &mut Vec<u8>,
    date: &mut Option<(u64, [u8; 19])>,
    ts: Timestamp,
    module: &str,
    client: (IpAddr, u16),
    server: (IpAddr, u16),
    subject: &str,
) {
    let secs = ts.0 / 1_000_000_000;
    line.push(b'[');
    match date {
        Some((last, text)) if *last == secs => line.extend_from_slice(text),
        _ => {
            let at = line.len();
            let _ = write!(line, "{}", UtcTime(ts));
            if let Some(text) = line.get(at..).and_then(|t| <[u8; 19]>::try_from(t).ok()) {
                *date = Some((secs, text));
            }
        }
    }
    line.extend_from_slice(b"] mod=");
    line.extend_from_slice(module.as_bytes());
    line.extend_from_slice(b"|cli=");
    write_addr(line, client);
    line.extend_from_slice(b"|srv=");
    write_addr(line, server);
    line.extend_from_slice(b"|subj=");
    line.extend_from_slice(subject.as_bytes());
}

/// p0f's address text and the port: a dotted quad, or eight unpadded,
/// uncompressed hex groups (`0:0:0:0:0:0:0:1`), then `/port`.
fn write_addr(line: &mut Vec<u8>, (ip, port): (IpAddr, u16)) {
    let mut digits = itoa::Buffer::new();
    match ip {
        IpAddr::V4(a) => {
            for (i, b) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    line.push(b'.');
                }
                line.extend_from_slice(digits.format(b).as_bytes());
            }
        }
        IpAddr::V6(a) => {
            for (i, g) in a.segments().into_iter().enumerate() {
                if i > 0 {
                    line.push(b':');
                }
                let (text, len) = crate::json::hex_group(g);
                line.extend_from_slice(text.to_le_bytes().get(..len).unwrap_or_default());
            }
        }
    }
    line.push(b'/');
    line.extend_from_slice(digits.format(port).as_bytes());
}

/// p0f's `params=`: the match's flags, an excessive distance, the DSCP
/// bits (the top six of IPv4's TOS and of IPv6's traffic class); `none`
/// without any.
struct Params<'a>(&'a Record);

impl fmt::Display for Params<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.0.p0f();
        let matched = m.os.is_some();
        let dscp = self.0.obs().tos >> 2;
        let flags = [
            (matched && m.generic, "generic"),
            (matched && m.fuzzy, "fuzzy"),
            (matched && m.bad_ttl, "random_ttl"),
            (m.dist > P0F_MAX_DIST, "excess_dist"),
        ];
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            let s = if first { "" } else { " " };
            first = false;
            f.write_str(s)
        };
        for (on, name) in flags {
            if on {
                sep(f)?;
                f.write_str(name)?;
            }
        }
        if dscp != 0 {
            sep(f)?;
            write!(f, "tos:0x{dscp:02x}")?;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// `YYYY/MM/DD HH:MM:SS` of a packet time, in UTC.
pub(super) struct UtcTime(pub(super) Timestamp);

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [y, m, d, h, min, s] = utc_fields(self.0);
        write!(f, "{y:04}/{m:02}/{d:02} {h:02}:{min:02}:{s:02}")
    }
}

/// Year, month, day, hour, minute and second of a packet time, in UTC.
pub(super) fn utc_fields(ts: Timestamp) -> [u64; 6] {
    let secs = ts.0 / 1_000_000_000;
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    [
        y,
        m,
        d,
        day_secs / 3600,
        day_secs % 3600 / 60,
        day_secs % 60,
    ]
}

/// Year, month, day of the `days`-th day after 1970-01-01 (proleptic
/// Gregorian; H. Hinnant's era arithmetic).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_days() {
        for (secs, want) in [
            (0, "1970/01/01 00:00:00"),
            (951_782_400, "2000/02/29 00:00:00"),
            (1_795_446_453, "2026/11/23 15:07:33"),
            (4_107_542_399, "2100/02/28 23:59:59"),
        ] {
            let t = UtcTime(Timestamp(secs * 1_000_000_000 + 999_999_999));
            assert_eq!(t.to_string(), want);
        }
    }

    fn addr_text(ip: &str, port: u16) -> String {
        let mut line = Vec::new();
        write_addr(&mut line, (ip.parse().expect("address"), port));
        String::from_utf8(line).expect("text")
    }

    #[test]
    fn addresses_are_written_as_p0f_writes_them() {
        assert_eq!(addr_text("2001:db8::1", 443), "2001:db8:0:0:0:0:0:1/443");
        assert_eq!(addr_text("fe80::abcd:10:0", 0), "fe80:0:0:0:0:abcd:10:0/0");
        assert_eq!(addr_text("192.0.2.7", 65535), "192.0.2.7/65535");
        assert_eq!(addr_text("10.0.100.255", 8), "10.0.100.255/8");
    }
}

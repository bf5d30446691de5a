//! p0f 3's log lines (`p0f -o FILE`), so tools written for p0f's log keep
//! working: per record a `mod=syn` or `mod=syn+ack` line, then `mod=mtu`
//! and `mod=uptime` lines when p0f would write them, in p0f's order; and
//! the `mod=uptime` lines p0f writes for segments after the handshake.
//!
//! p0f writes the packet's time in local time; these lines use UTC (the
//! same text when p0f runs with `TZ=UTC`). p0f's host-tracking lines
//! (`host change`, `ip sharing`) and HTTP lines are not produced.

use std::fmt;
use std::io::{self, Write};
use std::net::IpAddr;

use crate::analyze::{ConnUptime, Record, Side};
use crate::packet::{Kind, Timestamp};

/// p0f's `MAX_DIST`: a larger hop distance is flagged `excess_dist`.
const P0F_MAX_DIST: u8 = 35;

pub fn write_p0f_log<W: Write>(out: &mut W, r: &Record) -> io::Result<()> {
    let o = &r.obs();
    let (client, server, module, subject) = match o.kind {
        Kind::Syn => ((o.src_ip, o.src_port), (o.dst_ip, o.dst_port), "syn", "cli"),
        Kind::SynAck => (
            (o.dst_ip, o.dst_port),
            (o.src_ip, o.src_port),
            "syn+ack",
            "srv",
        ),
    };
    let head = |out: &mut W, module: &str| write_head(out, o.ts, module, client, server, subject);

    head(out, module)?;
    let m = &r.p0f();
    match m.os {
        Some(label) if label.is_app() => write!(out, "|app={label}")?,
        Some(label) => write!(out, "|os={label}")?,
        None => out.write_all(b"|os=???")?,
    }
    if m.bad_ttl {
        write!(out, "|dist=<= {}", m.dist)?;
    } else {
        write!(out, "|dist={}", m.dist)?;
    }
    writeln!(out, "|params={}|raw_sig={}", Params(r), m.raw_sig)?;

    if let Some(mtu) = &r.mtu() {
        head(out, "mtu")?;
        writeln!(
            out,
            "|link={}|raw_mtu={}",
            mtu.link.unwrap_or("???"),
            mtu.raw_mtu
        )?;
    }
    if let Some(u) = &r.uptime() {
        head(out, "uptime")?;
        writeln!(out, "|uptime={u}|raw_freq={:.2} Hz", u.raw_freq_hz)?;
    }
    Ok(())
}

/// p0f's `mod=uptime` line for an estimate made after the handshake.
pub fn write_p0f_conn_uptime<W: Write>(out: &mut W, u: &ConnUptime) -> io::Result<()> {
    let subject = match u.side {
        Side::Client => "cli",
        Side::Server => "srv",
    };
    write_head(out, u.ts, "uptime", u.client, u.server, subject)?;
    writeln!(
        out,
        "|uptime={}|raw_freq={:.2} Hz",
        u.uptime, u.uptime.raw_freq_hz
    )
}

/// What every p0f log line starts with: `[date] mod=..|cli=..|srv=..|subj=..`.
fn write_head<W: Write>(
    out: &mut W,
    ts: Timestamp,
    module: &str,
    client: (IpAddr, u16),
    server: (IpAddr, u16),
    subject: &str,
) -> io::Result<()> {
    write!(
        out,
        "[{}] mod={module}|cli={}/{}|srv={}/{}|subj={subject}",
        UtcTime(ts),
        P0fAddr(client.0),
        client.1,
        P0fAddr(server.0),
        server.1,
    )
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

/// p0f's address text: a dotted quad, or eight unpadded, uncompressed hex
/// groups (`0:0:0:0:0:0:0:1`).
struct P0fAddr(IpAddr);

impl fmt::Display for P0fAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}"),
            IpAddr::V6(a) => {
                for (i, s) in a.segments().iter().enumerate() {
                    if i > 0 {
                        f.write_str(":")?;
                    }
                    write!(f, "{s:x}")?;
                }
                Ok(())
            }
        }
    }
}

/// `YYYY/MM/DD HH:MM:SS` of a packet time, in UTC.
struct UtcTime(Timestamp);

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 .0 / 1_000_000_000;
        let (days, day_secs) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}/{m:02}/{d:02} {:02}:{:02}:{:02}",
            day_secs / 3600,
            day_secs % 3600 / 60,
            day_secs % 60
        )
    }
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

    #[test]
    fn addresses_are_written_as_p0f_writes_them() {
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(P0fAddr(v6).to_string(), "2001:db8:0:0:0:0:0:1");
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(P0fAddr(v4).to_string(), "192.0.2.7");
    }
}

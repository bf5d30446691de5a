use std::io::{self, Write};

use crate::analyze::{ConnUptime, Record, Side};
use crate::fingerprint::ZardaxtOptions;
use crate::packet::Kind;

/// A p0f-style block:
///
/// ```text
/// .-[ 192.0.2.1/40000 -> 198.51.100.1/443 (syn) ]-
/// |
/// | client   = 192.0.2.1/40000
/// | ...
/// `----
/// ```
pub fn write_text<W: Write>(out: &mut W, r: &Record) -> io::Result<()> {
    let o = &r.obs();
    let role = match o.kind {
        Kind::Syn => "client",
        Kind::SynAck => "server",
    };
    writeln!(
        out,
        ".-[ {} -> {} ({}) ]-\n|",
        Endpoint(o.src_ip, o.src_port),
        Endpoint(o.dst_ip, o.dst_port),
        o.kind.as_str()
    )?;
    writeln!(out, "| {:<9}= {}", role, Endpoint(o.src_ip, o.src_port))?;
    writeln!(out, "| {:<9}= {:.6}", "time", o.ts.as_secs_f64())?;
    writeln!(
        out,
        "| {:<9}= ttl {} win {} df {} id {} mss {} ws {}",
        "ip/tcp",
        o.ttl,
        o.window,
        u8::from(o.df),
        o.ip_id,
        Opt(o.options.mss),
        Opt(o.options.window_scale)
    )?;
    match r.p0f().os {
        Some(label) => writeln!(
            out,
            "| {:<9}= {}{}",
            "os",
            label,
            if r.p0f().fuzzy { " (fuzzy)" } else { "" }
        )?,
        None => writeln!(out, "| {:<9}= ???", "os")?,
    }
    writeln!(out, "| {:<9}= {}", "dist", r.p0f().dist)?;
    writeln!(out, "| {:<9}= {}", "raw_sig", r.p0f().raw_sig)?;
    if let Some(m) = &r.mtu() {
        writeln!(
            out,
            "| {:<9}= {} ({})",
            "mtu",
            m.raw_mtu,
            m.link.unwrap_or("???")
        )?;
    }
    if let Some(u) = &r.uptime() {
        writeln!(out, "| {:<9}= {} ({} Hz)", "uptime", u, u.freq_hz)?;
    }
    writeln!(out, "| {:<9}= {}", "options", ZardaxtOptions(&o.options))?;
    if let Some(c) = &r.classification() {
        writeln!(
            out,
            "| {:<9}= {} ({:.2}), family {} ({:.2})",
            "class",
            c.os.name(),
            c.confidence,
            c.family.name(),
            c.family_confidence()
        )?;
        for e in c.evidence.texts() {
            writeln!(out, "| {:<9}  {}", "", e)?;
        }
    }
    if let Some(v) = &r.verdict {
        writeln!(
            out,
            "| {:<9}= mismatch {} tunnel {} hops {}",
            "verdict",
            v.os_mismatch
                .map_or("unknown", |m| if m { "yes" } else { "no" }),
            if v.tunnel_suspected {
                "suspected"
            } else {
                "no"
            },
            v.hops
        )?;
        for reason in &v.reasons {
            writeln!(out, "| {:<9}  {}", "", reason)?;
        }
    }
    #[cfg(feature = "ja4t")]
    writeln!(
        out,
        "| {:<9}= {}",
        if o.kind == Kind::Syn { "ja4t" } else { "ja4ts" },
        crate::fingerprint::ja4t::Ja4t(o)
    )?;
    writeln!(out, "|\n`----\n")
}

/// A p0f-style block for an uptime estimated after the handshake.
pub fn write_text_conn_uptime<W: Write>(out: &mut W, u: &ConnUptime) -> io::Result<()> {
    let (role, host) = match u.side {
        Side::Client => ("client", u.client),
        Side::Server => ("server", u.server),
    };
    writeln!(
        out,
        ".-[ {} -> {} (uptime) ]-\n|",
        Endpoint(u.client.0, u.client.1),
        Endpoint(u.server.0, u.server.1),
    )?;
    writeln!(out, "| {:<9}= {}", role, Endpoint(host.0, host.1))?;
    writeln!(out, "| {:<9}= {:.6}", "time", u.ts.as_secs_f64())?;
    writeln!(
        out,
        "| {:<9}= {} ({} Hz)",
        "uptime", u.uptime, u.uptime.freq_hz
    )?;
    writeln!(out, "| {:<9}= {:.2} Hz", "raw_freq", u.uptime.raw_freq_hz)?;
    writeln!(out, "|\n`----\n")
}

struct Endpoint(std::net::IpAddr, u16);

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.0, self.1)
    }
}

struct Opt<T>(Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for Opt<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("-"),
        }
    }
}

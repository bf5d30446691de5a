//! An [`Inventory`] as JSON lines (one object per host, documented in the
//! README) or as p0f-like blocks for a person. Written once, at the end of
//! a run, so plain `serde` and `fmt` suffice.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::p0flog::UtcTime;
use crate::store::{Host, Inventory, Stack};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InventoryFormat {
    /// A block per host, for a person.
    Text,
    /// One JSON object per host.
    Jsonl,
}

/// Writes every host of `inventory`, by address.
pub fn write_inventory(
    out: &mut impl Write,
    inventory: &Inventory,
    format: InventoryFormat,
) -> io::Result<()> {
    for host in inventory.hosts() {
        match format {
            InventoryFormat::Jsonl => {
                serde_json::to_writer(&mut *out, &HostJson(host))?;
                out.write_all(b"\n")?;
            }
            InventoryFormat::Text => out.write_all(host_text(host).as_bytes())?,
        }
    }
    out.flush()
}

/// What a stack's first record says of the host: the answer and the path
/// (`null`s without a stack).
fn answer<M: SerializeMap>(map: &mut M, st: Option<&Stack>) -> Result<(), M::Error> {
    let c = st.and_then(|st| st.answer);
    map.serialize_entry("os", &c.map(|c| c.os.name()))?;
    map.serialize_entry("family", &c.map(|c| c.family.name()))?;
    map.serialize_entry("confidence", &c.map(|c| prob4(c.confidence)))?;
    let mtu = st.and_then(|st| st.mtu);
    map.serialize_entry("hops", &st.map(|st| st.p0f.dist))?;
    map.serialize_entry("raw_mtu", &mtu.map(|m| m.raw_mtu))?;
    map.serialize_entry("link", &mtu.and_then(|m| m.link))
}

/// A probability as the records write it ([`JsonBuf::prob4`](super::JsonBuf::prob4)):
/// to four decimals, `0` and `1` without a fraction.
fn prob4(v: f32) -> serde_json::Value {
    let units = (f64::from(v.clamp(0.0, 1.0)) * 10_000.0 + 0.5) as u64;
    if units % 10_000 == 0 {
        (units / 10_000).into()
    } else {
        (units as f64 / 10_000.0).into()
    }
}

struct HostJson<'a>(&'a Host);

impl Serialize for HostJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("ip", &h.ip)?;
        map.serialize_entry("first_seen", &h.first_seen.as_secs_f64())?;
        map.serialize_entry("last_seen", &h.last_seen.as_secs_f64())?;
        map.serialize_entry("syns", &h.syns)?;
        map.serialize_entry("syn_acks", &h.syn_acks)?;
        answer(&mut map, h.main_stack())?;
        let families: Vec<&str> = h.client_families().iter().map(|f| f.name()).collect();
        map.serialize_entry("client_families", &families)?;
        map.serialize_entry("uptime", &h.uptime.map(|(_, u)| u))?;
        map.serialize_entry("server_ports", &h.ports)?;
        map.serialize_entry("server_ports_complete", &!h.ports_incomplete)?;
        let stacks: Vec<StackJson> = h.stacks.iter().map(StackJson).collect();
        map.serialize_entry("stacks", &stacks)?;
        map.serialize_entry("unlisted_stack_records", &h.unlisted_stack_records)?;
        map.end()
    }
}

struct StackJson<'a>(&'a Stack);

impl Serialize for StackJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let st = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("kind", st.kind.as_str())?;
        map.serialize_entry("count", &st.count)?;
        map.serialize_entry("first_seen", &st.first_seen.as_secs_f64())?;
        map.serialize_entry("last_seen", &st.last_seen.as_secs_f64())?;
        answer(&mut map, Some(st))?;
        map.serialize_entry("p0f_os", &st.p0f.os)?;
        map.serialize_entry("p0f_raw_sig", &st.p0f.raw_sig.to_string())?;
        #[cfg(feature = "ja4t")]
        map.serialize_entry(crate::fingerprint::ja4t::field_name(st.kind), &st.ja4t)?;
        map.end()
    }
}

/// A host as a block:
///
/// ```text
/// .-[ 192.0.2.7 ]-
/// |
/// | os       = Windows (Windows family, p=1.00)
/// | ...
/// | stack    = syn x12: p0f Windows 7 or 8, Windows p=1.00
/// |            raw_sig 4:128+0:0:1460:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0
/// `----
/// ```
fn host_text(h: &Host) -> String {
    let mut t = Block(format!(".-[ {} ]-\n|", h.ip));
    let main = h.main_stack();
    if let Some(c) = main.and_then(|s| s.answer) {
        let (os, family, p) = (c.os, c.family, c.confidence);
        t.field("os", format_args!("{os} ({family} family, p={p:.2})"));
    }
    let families = h.client_families();
    if families.len() > 1 {
        let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
        t.field(
            "families",
            format_args!(
                "{}: several client stacks (NAT, a proxy, or a changed OS)",
                names.join(", ")
            ),
        );
    }
    let (first, last) = (UtcTime(h.first_seen), UtcTime(h.last_seen));
    t.field("seen", format_args!("{first} to {last} UTC"));
    let (syns, syn_acks) = (h.syns, h.syn_acks);
    t.field("records", format_args!("{syns} syn, {syn_acks} syn_ack"));
    if let Some(st) = main {
        t.field("hops", format_args!("{}", st.p0f.dist));
        if let Some(m) = st.mtu {
            let link = m.link.unwrap_or("???");
            t.field("link", format_args!("{link} (mtu {})", m.raw_mtu));
        }
    }
    if let Some((_, u)) = &h.uptime {
        t.field(
            "uptime",
            format_args!(
                "{} days {} hrs {} min (modulo {} days), {} Hz",
                u.days, u.hours, u.minutes, u.modulo_days, u.freq_hz
            ),
        );
    }
    if !h.ports.is_empty() {
        let ports: Vec<String> = h.ports.iter().map(u16::to_string).collect();
        let more = if h.ports_incomplete { ", ..." } else { "" };
        t.field("serves", format_args!("{}{more}", ports.join(", ")));
    }
    for st in &h.stacks {
        let answer = match st.answer {
            Some(c) => format!(", {} p={:.2}", c.os, c.confidence),
            None => String::new(),
        };
        let p0f = match st.p0f.os {
            Some(label) => label.to_string(),
            None => "???".into(),
        };
        let (kind, count) = (st.kind.as_str(), st.count);
        t.field("stack", format_args!("{kind} x{count}: p0f {p0f}{answer}"));
        t.more(format_args!("raw_sig {}", st.p0f.raw_sig));
        #[cfg(feature = "ja4t")]
        t.more(format_args!(
            "{} {}",
            crate::fingerprint::ja4t::field_name(st.kind),
            st.ja4t
        ));
    }
    if h.unlisted_stack_records > 0 {
        let n = h.unlisted_stack_records;
        t.field(
            "more",
            format_args!("{n} records of further stacks, not listed"),
        );
    }
    t.0.push_str("\n`----\n\n");
    t.0
}

/// A block being written (writing to a String cannot fail).
struct Block(String);

impl Block {
    /// `| name     = value` on a line of its own.
    fn field(&mut self, name: &str, value: std::fmt::Arguments<'_>) {
        let _ = write!(self.0, "\n| {name:<9}= {value}");
    }

    /// A line under the previous field's value, indented to it.
    fn more(&mut self, value: std::fmt::Arguments<'_>) {
        let _ = write!(self.0, "\n|{:12}{value}", "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_read_as_in_the_records() {
        for n in 0..=10_000u16 {
            let v = f32::from(n) / 10_000.0;
            let mut j = super::super::JsonBuf::new();
            j.begin_array();
            j.prob4(v);
            let record = String::from_utf8_lossy(j.as_bytes()).replace('[', "");
            let ours = serde_json::to_string(&prob4(v)).expect("serializes");
            assert_eq!(ours, record, "{v}");
        }
    }
}

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::fingerprint::{OptionKinds, ZardaxtOptions};
use crate::packet::{IpVersion, Kind, Observation};

/// One fingerprinted SYN or SYN+ACK: the observation and everything derived
/// from it. Its JSON form (see [`Serialize`] below and the README) is a
/// contract downstream tools rely on: add fields, never rename them.
#[derive(Clone, Debug)]
pub struct Record {
    pub obs: Observation,
}

/// `tcp_options_kinds` as a JSON array without allocating.
struct Kinds<'a>(&'a Observation);

impl Serialize for Kinds<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(OptionKinds(&self.0.options).iter())
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let o = &self.obs;
        let v4 = o.ip_version == IpVersion::V4;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("kind", o.kind.as_str())?;
        m.serialize_entry("ts", &o.ts.as_secs_f64())?;
        m.serialize_entry("src_ip", &o.src_ip)?;
        m.serialize_entry("src_port", &o.src_port)?;
        m.serialize_entry("dst_ip", &o.dst_ip)?;
        m.serialize_entry("dst_port", &o.dst_port)?;
        m.serialize_entry("ip_version", &o.ip_version.number())?;
        m.serialize_entry("ip_ttl", &o.ttl)?;
        // zardaxt writes the IPv4 flag bits as 0/1 integers; IPv6 has none.
        m.serialize_entry("ip_df", &v4.then_some(u8::from(o.df)))?;
        m.serialize_entry("ip_mf", &v4.then_some(u8::from(o.mf)))?;
        m.serialize_entry("ip_id", &v4.then_some(o.ip_id))?;
        m.serialize_entry("ip_tos", &o.tos)?;
        m.serialize_entry("ip_total_length", &o.ip_total_length)?;
        // zardaxt (dpkt) counts the IPv4 header in 32-bit words.
        m.serialize_entry("ip_hdr_length", &(o.ip_header_len / 4))?;
        m.serialize_entry("ip_flow_label", &(!v4).then_some(o.flow_label))?;
        m.serialize_entry("tcp_window_size", &o.window)?;
        m.serialize_entry("tcp_flags", &o.tcp_flags)?;
        m.serialize_entry("tcp_off", &o.tcp_data_offset)?;
        m.serialize_entry("tcp_urp", &o.urgent_ptr)?;
        m.serialize_entry("tcp_ack", &o.ack)?;
        m.serialize_entry("tcp_seq", &o.seq)?;
        m.serialize_entry("tcp_options", &DisplayStr(ZardaxtOptions(&o.options)))?;
        m.serialize_entry("tcp_options_kinds", &Kinds(o))?;
        m.serialize_entry("tcp_mss", &o.options.mss)?;
        m.serialize_entry("tcp_window_scaling", &o.options.window_scale)?;
        m.serialize_entry("tcp_timestamp", &o.options.timestamp.map(|t| t.0))?;
        m.serialize_entry(
            "tcp_timestamp_echo_reply",
            &o.options.timestamp.map(|t| t.1),
        )?;
        #[cfg(feature = "ja4t")]
        {
            let key = match o.kind {
                Kind::Syn => "ja4t",
                Kind::SynAck => "ja4ts",
            };
            m.serialize_entry(key, &DisplayStr(crate::fingerprint::ja4t::Ja4t(o)))?;
        }
        #[cfg(not(feature = "ja4t"))]
        let _ = Kind::Syn;
        m.end()
    }
}

/// Serializes anything `Display` as a JSON string without an intermediate
/// `String`.
pub(crate) struct DisplayStr<T>(pub T);

impl<T: std::fmt::Display> Serialize for DisplayStr<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

use serde::ser::{Serialize, Serializer};

use crate::fingerprint::{OptionKinds, ZardaxtOptions};
use crate::output::JsonBuf;
use crate::p0f::{Mtu, P0fMatch, Uptime};
use crate::packet::{IpVersion, Observation};

/// One fingerprinted SYN or SYN+ACK: the observation and everything derived
/// from it. Its JSON form ([`Record::write_json`], documented in the README)
/// is a contract downstream tools rely on: add fields, never rename them.
#[derive(Clone, Debug)]
pub struct Record {
    pub obs: Observation,
    /// p0f 3.09b's signature and match.
    pub p0f: P0fMatch<'static>,
    /// p0f's MTU module; `None` without an MSS option.
    pub mtu: Option<Mtu<'static>>,
    /// Uptime from TCP timestamps, when the same host's earlier SYN (or
    /// SYN+ACK) in the stream allows an estimate.
    pub uptime: Option<Uptime>,
}

impl Record {
    /// Appends this record as one JSON object.
    pub fn write_json(&self, j: &mut JsonBuf) {
        let o = &self.obs;
        let v4 = o.ip_version == IpVersion::V4;
        j.begin_object();
        j.key("kind");
        j.str(o.kind.as_str());
        j.key("ts");
        j.f64(o.ts.as_secs_f64());
        j.key("src_ip");
        j.ip(o.src_ip);
        j.key("src_port");
        j.u64(o.src_port.into());
        j.key("dst_ip");
        j.ip(o.dst_ip);
        j.key("dst_port");
        j.u64(o.dst_port.into());
        j.key("ip_version");
        j.u64(o.ip_version.number().into());
        j.key("ip_ttl");
        j.u64(o.ttl.into());
        // zardaxt writes the IPv4 flag bits as 0/1 integers; IPv6 has none.
        j.key("ip_df");
        j.opt_u64(v4.then_some(u64::from(o.df)));
        j.key("ip_mf");
        j.opt_u64(v4.then_some(u64::from(o.mf)));
        j.key("ip_id");
        j.opt_u64(v4.then_some(u64::from(o.ip_id)));
        j.key("ip_tos");
        j.u64(o.tos.into());
        j.key("ip_total_length");
        j.u64(o.ip_total_length.into());
        // zardaxt (dpkt) counts the IPv4 header in 32-bit words.
        j.key("ip_hdr_length");
        j.u64(u64::from(o.ip_header_len / 4));
        j.key("ip_flow_label");
        j.opt_u64((!v4).then_some(u64::from(o.flow_label)));
        j.key("tcp_window_size");
        j.u64(o.window.into());
        j.key("tcp_flags");
        j.u64(o.tcp_flags.into());
        j.key("tcp_off");
        j.u64(o.tcp_data_offset.into());
        j.key("tcp_urp");
        j.u64(o.urgent_ptr.into());
        j.key("tcp_ack");
        j.u64(o.ack.into());
        j.key("tcp_seq");
        j.u64(o.seq.into());
        j.key("tcp_options");
        j.display_plain(ZardaxtOptions(&o.options));
        j.key("tcp_options_kinds");
        j.begin_array();
        for k in OptionKinds(&o.options).iter() {
            j.u64(k.into());
        }
        j.end_array();
        j.key("tcp_mss");
        j.opt_u64(o.options.mss.map(u64::from));
        j.key("tcp_window_scaling");
        j.opt_u64(o.options.window_scale.map(u64::from));
        j.key("tcp_timestamp");
        j.opt_u64(o.options.timestamp.map(|t| u64::from(t.0)));
        j.key("tcp_timestamp_echo_reply");
        j.opt_u64(o.options.timestamp.map(|t| u64::from(t.1)));
        j.key("p0f");
        j.begin_object();
        j.key("raw_sig");
        j.display_plain(self.p0f.raw_sig);
        j.key("os");
        match self.p0f.os {
            Some(label) => j.display(label),
            None => j.null(),
        }
        j.key("dist");
        j.u64(self.p0f.dist.into());
        j.key("generic");
        j.bool(self.p0f.generic);
        j.key("fuzzy");
        j.bool(self.p0f.fuzzy);
        j.end_object();
        j.key("mtu");
        match &self.mtu {
            Some(m) => {
                j.begin_object();
                j.key("raw_mtu");
                j.u64(m.raw_mtu.into());
                j.key("link");
                j.opt_str(m.link);
                j.end_object();
            }
            None => j.null(),
        }
        if let Some(u) = &self.uptime {
            j.key("uptime");
            j.begin_object();
            j.key("uptime_min");
            j.u64(u.uptime_min.into());
            j.key("days");
            j.u64(u.days.into());
            j.key("hours");
            j.u64(u.hours.into());
            j.key("minutes");
            j.u64(u.minutes.into());
            j.key("modulo_days");
            j.u64(u.modulo_days.into());
            j.key("freq_hz");
            j.u64(u.freq_hz.into());
            j.key("raw_freq_hz");
            j.f64(u.raw_freq_hz);
            j.end_object();
        }
        #[cfg(feature = "ja4t")]
        {
            j.key(match o.kind {
                crate::packet::Kind::Syn => "ja4t",
                crate::packet::Kind::SynAck => "ja4ts",
            });
            j.display_plain(crate::fingerprint::ja4t::Ja4t(o));
        }
        j.end_object();
    }

    /// The record as a `serde_json::Value` (for APIs that embed it).
    pub fn to_json_value(&self) -> serde_json::Value {
        let mut j = JsonBuf::new();
        self.write_json(&mut j);
        // The writer only produces valid JSON; Null is unreachable but
        // keeps this total.
        serde_json::from_slice(j.as_bytes()).unwrap_or(serde_json::Value::Null)
    }
}

/// Embeds [`Record::write_json`]'s bytes, so every JSON consumer sees the
/// same contract.
impl Serialize for Record {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut j = JsonBuf::new();
        self.write_json(&mut j);
        let text = String::from_utf8(j.into_bytes()).map_err(serde::ser::Error::custom)?;
        let raw =
            serde_json::value::RawValue::from_string(text).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}
#[cfg(test)]
mod size_probe {
    #[test]
    fn print_sizes() {
        eprintln!(
            "Record {} Observation {} P0fMatch {} Sig {} Mtu {} Uptime {}",
            std::mem::size_of::<super::Record>(),
            std::mem::size_of::<crate::packet::Observation>(),
            std::mem::size_of::<crate::p0f::P0fMatch>(),
            std::mem::size_of::<crate::p0f::TcpSignature>(),
            std::mem::size_of::<Option<crate::p0f::Mtu>>(),
            std::mem::size_of::<Option<crate::p0f::Uptime>>()
        );
    }
}

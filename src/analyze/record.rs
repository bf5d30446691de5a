use serde::ser::{Serialize, Serializer};

use crate::classify::{Classification, Verdict};
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
    /// The OS classifier's answer (absent only when classification is off).
    pub classification: Option<Classification>,
    /// The classification against the client's User-Agent, where one is
    /// known (labels, the HTTP API): see [`Record::judge_user_agent`].
    pub verdict: Option<Verdict>,
}

impl Record {
    /// Sets [`Record::verdict`] from the User-Agent the client claims.
    pub fn judge_user_agent(
        &mut self,
        user_agent: &str,
    ) -> Result<(), crate::classify::UaParserError> {
        if let Some(c) = &self.classification {
            let link = self.mtu.and_then(|m| m.link);
            self.verdict = Some(crate::classify::verdict(
                c,
                Some(user_agent),
                &self.obs,
                link,
            )?);
        }
        Ok(())
    }

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
        self.p0f.write_json(j);
        j.key("mtu");
        match &self.mtu {
            Some(m) => m.write_json(j),
            None => j.null(),
        }
        if let Some(u) = &self.uptime {
            j.key("uptime");
            u.write_json(j);
        }
        #[cfg(feature = "ja4t")]
        {
            j.key(match o.kind {
                crate::packet::Kind::Syn => "ja4t",
                crate::packet::Kind::SynAck => "ja4ts",
            });
            j.display_plain(crate::fingerprint::ja4t::Ja4t(o));
        }
        if let Some(c) = &self.classification {
            j.key("classification");
            c.write_json(j);
        }
        if let Some(v) = &self.verdict {
            j.key("verdict");
            v.write_json(j);
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

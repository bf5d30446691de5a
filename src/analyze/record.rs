use serde::ser::{Serialize, Serializer};

use super::shapes::ShapeKey;
use crate::classify::{
    Classification, ClassificationTextKey, Os, UaParserError, UaReading, Verdict,
};
use crate::fingerprint::{OptionKinds, ZardaxtOptions};
use crate::json::JsonBuf;
use crate::p0f::{HostChange, Mtu, P0fMatch, Uptime};
use crate::packet::{IpVersion, Kind, Observation, Tunnel};

/// What a client claims to run, to judge a record against.
#[derive(Clone, Copy, Debug)]
pub enum Claim<'a> {
    /// A User-Agent header (`None`: the request sent none).
    UserAgent(Option<&'a str>),
    /// A User-Agent read already ([`crate::classify::read_user_agent`]).
    UserAgentRead(UaReading),
    /// An OS known otherwise (`None`: a label that names no known OS).
    Os(Option<Os>),
}

/// One fingerprinted SYN or SYN+ACK: the observation and everything derived
/// from it. Its JSON form ([`Record::write_json`], documented in the README)
/// is a contract downstream tools rely on: add fields, never rename them.
///
/// Only the analyzer makes records, and only the verdict changes after: the
/// JSON writer reuses the text of records of the same shape, keyed on the
/// shape the analyzer computed, which an edited field would contradict.
#[derive(Clone, Debug)]
pub struct Record {
    obs: Observation,
    p0f: P0fMatch<'static>,
    mtu: Option<Mtu<'static>>,
    uptime: Option<Uptime>,
    classification: Option<Classification>,
    /// The classification against the client's User-Agent, where one is
    /// known (labels, the HTTP API): see [`Record::judge_user_agent`].
    pub verdict: Option<Verdict>,
    /// The analyzer's shape key for `obs` and the id of the engine that
    /// derived the rest: with the optional parts present, everything the
    /// record's JSON reads outside its holes ([`Record::template_key`]).
    shape: ShapeKey,
    engine: u64,
    /// p0f's `host change` or `ip sharing` about the sender, where the
    /// analyzer tracks hosts as p0f does ([`AnalyzerConfig::follow_connections`](super::AnalyzerConfig::follow_connections)).
    pub(super) host_change: Option<HostChange>,
}

impl Record {
    /// `shape` is the analyzer's key for `obs` (with the MSS of the SYN a
    /// SYN+ACK answers), under which `engine` derived the other parts.
    pub(super) fn new(
        engine: u64,
        shape: ShapeKey,
        obs: Observation,
        p0f: P0fMatch<'static>,
        mtu: Option<Mtu<'static>>,
        uptime: Option<Uptime>,
        classification: Option<Classification>,
    ) -> Record {
        Record {
            obs,
            p0f,
            mtu,
            uptime,
            classification,
            verdict: None,
            shape,
            engine,
            host_change: None,
        }
    }

    /// Records with equal keys have the same text in every format outside
    /// their per-packet values (times, addresses, ports, IP ID, flow label,
    /// sequence and acknowledgment numbers, TCP timestamps, uptime, tunnel,
    /// verdict): the p0f match and its signature, the MTU, the
    /// classification. Writers cache that text by it.
    pub fn text_key(&self) -> TextKey {
        TextKey {
            engine: self.engine,
            shape: self.shape,
        }
    }

    /// The key of this record's JSON template: taken when it is written,
    /// since a verdict can be added after the record is made.
    fn template_key(&self) -> TemplateKey {
        TemplateKey {
            engine: self.engine,
            shape: self.shape,
            has_uptime: self.uptime.is_some(),
            has_verdict: self.verdict.is_some(),
            has_tunnel: self.obs.tunnel.is_some(),
        }
    }

    /// The same fingerprint as sent by another client (an address, a port)
    /// at another time: none of these is part of its shape, so everything
    /// derived stays true (store load tests, replays). `None` for an
    /// address of the other IP version, which the header fields, the shape
    /// and the JSON template all carry.
    pub fn with_source(
        mut self,
        src_ip: std::net::IpAddr,
        src_port: u16,
        ts: crate::packet::Timestamp,
    ) -> Option<Record> {
        if src_ip.is_ipv4() != (self.obs.ip_version == IpVersion::V4) {
            return None;
        }
        self.obs.src_ip = src_ip;
        self.obs.src_port = src_port;
        self.obs.ts = ts;
        Some(self)
    }

    /// The packet's header fields.
    pub fn obs(&self) -> &Observation {
        &self.obs
    }

    /// p0f 3.09b's signature and match.
    pub fn p0f(&self) -> &P0fMatch<'static> {
        &self.p0f
    }

    /// p0f's MTU module; `None` without an MSS option.
    pub fn mtu(&self) -> Option<&Mtu<'static>> {
        self.mtu.as_ref()
    }

    /// Uptime from TCP timestamps, when the same host's earlier SYN (or
    /// SYN+ACK) in the stream allows an estimate.
    pub fn uptime(&self) -> Option<&Uptime> {
        self.uptime.as_ref()
    }

    /// What p0f's host tracking makes of this signature against the
    /// sender's earlier ones: a `host change` or `ip sharing` line, where
    /// the analyzer follows connections as p0f does.
    pub fn host_change(&self) -> Option<&HostChange> {
        self.host_change.as_ref()
    }

    /// The OS classifier's answer (absent only when classification is off).
    pub fn classification(&self) -> Option<&Classification> {
        self.classification.as_ref()
    }

    /// This record's classification judged against the OS a client claims:
    /// its User-Agent, or an OS already known (a labels CSV's `os`). `None`
    /// without a classification. The tunnel judgement reads `mtu`, p0f's.
    pub fn verdict_for(&self, claim: Claim<'_>) -> Result<Option<Verdict>, UaParserError> {
        let Some(c) = &self.classification else {
            return Ok(None);
        };
        let mtu = self.mtu;
        Ok(Some(match claim {
            Claim::UserAgent(ua) => crate::classify::verdict(c, ua, &self.obs, mtu)?,
            Claim::UserAgentRead(reading) => {
                crate::classify::verdict_for_user_agent_reading(c, reading, &self.obs, mtu)
            }
            Claim::Os(os) => crate::classify::verdict_for_os(c, os, &self.obs, mtu),
        }))
    }

    /// Sets [`Record::verdict`] from the User-Agent the client claims.
    pub fn judge_user_agent(&mut self, user_agent: &str) -> Result<(), UaParserError> {
        self.verdict = self.verdict_for(Claim::UserAgent(Some(user_agent)))?;
        Ok(())
    }

    /// Appends this record as one JSON object.
    ///
    /// Keys and the separators between them are written as pre-built runs
    /// (`,"src_port":`), and fixed alternatives (IPv6's null IPv4 fields,
    /// the flag bits) as whole literals: this is the hot output path.
    pub fn write_json(&self, j: &mut JsonBuf) {
        self.write_json_with(j, None);
    }

    /// [`Record::write_json`] for a stream of records: a record of a shape
    /// written before is copied from its template in `memo`, only its
    /// per-packet values formatted. The bytes are the same either way.
    pub fn write_json_memo(&self, j: &mut JsonBuf, memo: &mut JsonMemo) {
        self.write_json_with(j, Some(memo));
    }

    fn write_json_with(&self, j: &mut JsonBuf, memo: Option<&mut JsonMemo>) {
        let Some(memo) = memo else {
            return self.write_parts(j, None, None);
        };
        // A record of a shape written before: its constant text from the
        // template, its per-packet values in the holes.
        let key = self.template_key();
        let hash = key.hash();
        if let Some(t) = memo.templates.find(hash, &key) {
            return self.fill(j, t);
        }
        self.write_new_template(j, memo, hash, key);
    }

    /// A record of a shape not in `memo`: written whole, and kept as the
    /// template for its key if its shape was seen once before (a template
    /// costs a copy into memory the table has not touched lately; a shape
    /// seen once may never come again). Out of line, so the common path
    /// above stays small.
    #[inline(never)]
    fn write_new_template(
        &self,
        j: &mut JsonBuf,
        memo: &mut JsonMemo,
        hash: u64,
        key: TemplateKey,
    ) {
        if memo.first_sighting(hash) {
            return self.write_parts(j, None, Some(&mut memo.classifications));
        }
        let mut holes = std::mem::take(&mut memo.holes);
        holes.clear();
        let start = j.len();
        self.write_parts(j, Some(&mut holes), Some(&mut memo.classifications));
        memo.templates.insert(hash, key, j, start, &holes);
        memo.holes = holes;
    }

    /// Writes the record; `holes`, when given, collects where each
    /// per-packet value went (offsets into `j`); `classifications`, when
    /// given, supplies and keeps classification objects' text.
    fn write_parts(
        &self,
        j: &mut JsonBuf,
        mut holes: Option<&mut Vec<(usize, usize, Hole)>>,
        classifications: Option<&mut ClassificationTexts>,
    ) {
        let o = &self.obs;
        let mut hole = |j: &mut JsonBuf, h: Hole| {
            let at = j.len();
            self.write_hole(j, h);
            // A zero or an absent part stays in the template's text: the
            // key holds the zero-ness of every such value and the presence
            // of the optional parts, so each record of the key has it too.
            if let (Some(list), false) = (holes.as_deref_mut(), self.fixed_by_key(h)) {
                list.push((at, j.len(), h));
            }
        };
        j.begin_object();
        j.raw(match o.kind {
            Kind::Syn => "\"kind\":\"syn\",\"ts\":",
            Kind::SynAck => "\"kind\":\"syn_ack\",\"ts\":",
        });
        hole(j, Hole::Ts);
        j.raw(",\"src_ip\":\"");
        hole(j, Hole::SrcIp);
        j.raw("\",\"src_port\":");
        hole(j, Hole::SrcPort);
        j.raw(",\"dst_ip\":\"");
        hole(j, Hole::DstIp);
        j.raw("\",\"dst_port\":");
        hole(j, Hole::DstPort);
        hole(j, Hole::Tunnel);
        // zardaxt writes the IPv4 flag bits as 0/1 integers; IPv6 has none.
        match o.ip_version {
            IpVersion::V4 => {
                j.raw(",\"ip_version\":4,\"ip_ttl\":");
                j.u64(o.ttl.into());
                j.raw(match (o.df, o.mf) {
                    (false, false) => ",\"ip_df\":0,\"ip_mf\":0,\"ip_id\":",
                    (false, true) => ",\"ip_df\":0,\"ip_mf\":1,\"ip_id\":",
                    (true, false) => ",\"ip_df\":1,\"ip_mf\":0,\"ip_id\":",
                    (true, true) => ",\"ip_df\":1,\"ip_mf\":1,\"ip_id\":",
                });
                hole(j, Hole::IpId);
            }
            IpVersion::V6 => {
                j.raw(",\"ip_version\":6,\"ip_ttl\":");
                j.u64(o.ttl.into());
                j.raw(",\"ip_df\":null,\"ip_mf\":null,\"ip_id\":null");
            }
        }
        j.raw(",\"ip_tos\":");
        j.u64(o.tos.into());
        j.raw(",\"ip_total_length\":");
        j.u64(o.ip_total_length.into());
        // zardaxt (dpkt) counts the IPv4 header in 32-bit words.
        j.raw(",\"ip_hdr_length\":");
        j.u64(u64::from(o.ip_header_len / 4));
        match o.ip_version {
            IpVersion::V4 => j.raw(",\"ip_flow_label\":null,\"tcp_window_size\":"),
            IpVersion::V6 => {
                j.raw(",\"ip_flow_label\":");
                hole(j, Hole::FlowLabel);
                j.raw(",\"tcp_window_size\":");
            }
        }
        j.u64(o.window.into());
        j.raw(",\"tcp_flags\":");
        j.u64(o.tcp_flags.into());
        j.raw(",\"tcp_off\":");
        j.u64(o.tcp_data_offset.into());
        j.raw(",\"tcp_urp\":");
        hole(j, Hole::Urp);
        j.raw(",\"tcp_ack\":");
        hole(j, Hole::Ack);
        j.raw(",\"tcp_seq\":");
        hole(j, Hole::Seq);
        j.raw(",\"tcp_options\":\"");
        ZardaxtOptions(&o.options).write_to(j);
        j.raw("\",\"tcp_options_kinds\":[");
        for k in OptionKinds(&o.options).iter() {
            j.u64(k.into());
        }
        j.raw("],\"tcp_mss\":");
        j.opt_u64(o.options.mss.map(u64::from));
        j.raw(",\"tcp_window_scaling\":");
        j.opt_u64(o.options.window_scale.map(u64::from));
        if o.options.timestamp.is_some() {
            j.raw(",\"tcp_timestamp\":");
            hole(j, Hole::TsVal);
            j.raw(",\"tcp_timestamp_echo_reply\":");
            hole(j, Hole::TsEcr);
        } else {
            j.raw(",\"tcp_timestamp\":null,\"tcp_timestamp_echo_reply\":null");
        }
        j.raw(",\"p0f\":");
        self.p0f.write_json(j);
        match &self.mtu {
            Some(m) => {
                j.raw(",\"mtu\":");
                m.write_json(j);
            }
            None => j.raw(",\"mtu\":null"),
        }
        hole(j, Hole::Uptime);
        #[cfg(feature = "ja4t")]
        {
            j.raw(match o.kind {
                Kind::Syn => ",\"ja4t\":\"",
                Kind::SynAck => ",\"ja4ts\":\"",
            });
            crate::fingerprint::ja4t::Ja4t(o).write_to(j);
            j.raw("\"");
        }
        if let Some(c) = &self.classification {
            j.raw(",\"classification\":");
            match classifications {
                Some(texts) => texts.write(j, c),
                None => c.write_json(j),
            }
        }
        hole(j, Hole::Verdict);
        j.end_object();
    }

    /// Whether hole `h` holds a zero whose zero-ness the shape key
    /// ([`ShapeKey`]) keeps exactly (SYNs have no urgent pointer,
    /// acknowledgment or timestamp echo, and many stacks send IP ID 0; the
    /// key keeps only the flow label's low 20 bits, so it stays a hole), or
    /// an optional part the record lacks ([`TemplateKey`] keeps which).
    fn fixed_by_key(&self, h: Hole) -> bool {
        let o = &self.obs;
        let (ts_val, ts_ecr) = o.options.timestamp.unwrap_or((1, 1));
        match h {
            Hole::IpId => o.ip_id == 0,
            Hole::Urp => o.urgent_ptr == 0,
            Hole::Ack => o.ack == 0,
            Hole::TsVal => ts_val == 0,
            Hole::TsEcr => ts_ecr == 0,
            Hole::Uptime => self.uptime.is_none(),
            Hole::Tunnel => o.tunnel.is_none(),
            Hole::Verdict => self.verdict.is_none(),
            Hole::Ts
            | Hole::FlowLabel
            | Hole::SrcIp
            | Hole::SrcPort
            | Hole::DstIp
            | Hole::DstPort
            | Hole::Seq => false,
        }
    }

    /// One per-packet value, as [`Record::write_parts`] writes it. Inlined:
    /// a template fill writes about ten of these per record, and a call
    /// each cost more than most of them do.
    #[inline(always)]
    fn write_hole(&self, j: &mut JsonBuf, h: Hole) {
        let o = &self.obs;
        let (ts_val, ts_ecr) = o.options.timestamp.unwrap_or((0, 0));
        match h {
            Hole::Ts => j.timestamp(o.ts),
            Hole::SrcIp => j.raw_ip(o.src_ip),
            Hole::SrcPort => j.u64(o.src_port.into()),
            Hole::DstIp => j.raw_ip(o.dst_ip),
            Hole::DstPort => j.u64(o.dst_port.into()),
            Hole::IpId => j.u64(o.ip_id.into()),
            Hole::FlowLabel => j.u64(o.flow_label.into()),
            Hole::Urp => j.u64(o.urgent_ptr.into()),
            Hole::Ack => j.u64(o.ack.into()),
            Hole::Seq => j.u64(o.seq.into()),
            Hole::TsVal => j.u64(ts_val.into()),
            Hole::TsEcr => j.u64(ts_ecr.into()),
            Hole::Tunnel => {
                if let Some(t) = &o.tunnel {
                    write_tunnel(j, t);
                }
            }
            Hole::Uptime => {
                if let Some(u) = &self.uptime {
                    j.raw(",\"uptime\":");
                    u.write_json(j);
                }
            }
            Hole::Verdict => {
                if let Some(v) = &self.verdict {
                    j.raw(",\"verdict\":");
                    v.write_json(j);
                }
            }
        }
    }

    /// The record from its shape's template: the constant runs verbatim,
    /// the holes written as [`Record::write_parts`] writes them, so the
    /// bytes are the same.
    fn fill(&self, j: &mut JsonBuf, t: &Template) {
        j.begin_object();
        let mut at = 0;
        for &(len, h) in &t.parts {
            let end = at + len;
            j.raw_bytes(t.text.get(at..end).unwrap_or_default());
            self.write_hole(j, h);
            at = end;
        }
        j.raw_bytes(t.text.get(at..).unwrap_or_default());
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

/// `,"tunnel":{...}`: out of line, as few records have one and every
/// template fill inlines the holes' writer.
#[cold]
#[inline(never)]
fn write_tunnel(j: &mut JsonBuf, t: &Tunnel) {
    j.raw(",\"tunnel\":{\"type\":\"");
    j.raw(t.kind.as_str());
    j.raw("\",\"id\":");
    j.opt_u64(t.id.map(u64::from));
    j.raw(",\"outer_src_ip\":\"");
    j.raw_ip(t.outer_src);
    j.raw("\",\"outer_dst_ip\":\"");
    j.raw_ip(t.outer_dst);
    j.raw("\"}");
}

/// Templates of the records written recently, by shape (`TemplateKey`):
/// a bounded, four-way set associative table; a template is used only for a
/// record whose key equals its own (compared whole), so a hit gives exactly
/// the bytes the direct writer would. On a miss the direct writer runs, and
/// at a shape's second miss its record is cut into a template.
pub struct JsonMemo {
    templates: Templates,
    /// Scratch for the holes of the record being cut into a template.
    holes: Vec<(usize, usize, Hole)>,
    classifications: ClassificationTexts,
    /// A tag of the last shape that missed, per slot: a template is made
    /// at a shape's second sighting.
    sightings: Vec<u32>,
}

/// Shapes a [`JsonMemo`] keeps templates for: as many as the analyzer's
/// shape cache keeps answers for.
const MEMO_SHAPES: usize = 1 << 14;

impl Default for JsonMemo {
    fn default() -> Self {
        JsonMemo::with_shapes(MEMO_SHAPES)
    }
}

/// Classification objects' JSON by [`ClassificationTextKey`], for records
/// of shapes without a template: SYNs of ever-new shapes mostly share a
/// few thousand classifications, and writing one (sixteen probabilities,
/// the evidence strings) costs more than the rest of its record.
/// Direct-mapped; a slot is used only for a key equal to its own.
struct ClassificationTexts {
    /// Boxed: a table of empty pointers is zeroed memory the kernel hands
    /// out untouched, where a thousand inline keys were forty pages that
    /// every start paid for.
    slots: Vec<Option<Box<ClassificationText>>>,
}

/// A classification's key and its JSON.
type ClassificationText = (ClassificationTextKey, Vec<u8>);

impl ClassificationTexts {
    const SLOTS: usize = 1 << 10;

    fn new() -> Self {
        ClassificationTexts {
            slots: vec![None; Self::SLOTS],
        }
    }

    fn write(&mut self, j: &mut JsonBuf, c: &Classification) {
        let key = c.text_key();
        let at = key.slot_hash() as usize & (Self::SLOTS - 1);
        let Some(slot) = self.slots.get_mut(at) else {
            return c.write_json(j);
        };
        if let Some((k, text)) = slot.as_deref() {
            if *k == key {
                return j.value_bytes(text);
            }
        }
        let start = j.len();
        c.write_json(j);
        let text = j.as_bytes().get(start..).unwrap_or_default();
        match slot.as_deref_mut() {
            Some((k, t)) => {
                *k = key;
                t.clear();
                t.extend_from_slice(text);
            }
            None => *slot = Some(Box::new((key, text.to_vec()))),
        }
    }
}

impl JsonMemo {
    pub fn new() -> Self {
        JsonMemo::default()
    }

    /// A memo with templates for about `shapes` shapes (a power of two,
    /// at least two).
    pub fn with_shapes(shapes: usize) -> Self {
        let shapes = shapes.max(2).next_power_of_two();
        JsonMemo {
            templates: Templates::new(shapes),
            holes: Vec::with_capacity(16),
            classifications: ClassificationTexts::new(),
            sightings: vec![0; shapes],
        }
    }

    /// Whether the shape of `hash` missed for the first time lately
    /// (remembering it if so). A collision only makes a template one
    /// sighting early or late.
    fn first_sighting(&mut self, hash: u64) -> bool {
        let tag = (hash >> 32) as u32 | 1;
        // Spread: the folded key's low bits vary little between shapes, and
        // two shapes sharing a slot here would never get a template.
        let at = slot_of(hash, self.sightings.len());
        match self.sightings.get_mut(at) {
            Some(seen) if *seen != tag => {
                *seen = tag;
                true
            }
            _ => false,
        }
    }
}

/// The values of a record's JSON that differ from packet to packet; all
/// the text between them is the same for every record of one
/// [`TemplateKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hole {
    Ts,
    SrcIp,
    SrcPort,
    DstIp,
    DstPort,
    IpId,
    FlowLabel,
    Urp,
    Ack,
    Seq,
    TsVal,
    TsEcr,
    /// `,"tunnel":{...}` or nothing.
    Tunnel,
    /// `,"uptime":{...}` or nothing.
    Uptime,
    /// `,"verdict":{...}` or nothing.
    Verdict,
}

/// See [`Record::text_key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextKey {
    engine: u64,
    shape: ShapeKey,
}

/// The same fold the JSON templates use: equality compares the whole key.
impl std::hash::Hash for TextKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(fold(&self.shape, self.engine));
    }
}

/// A shape and engine in one word, for the text caches' tables.
fn fold(shape: &ShapeKey, engine: u64) -> u64 {
    shape.fold() ^ engine.rotate_left(23)
}

/// Everything a record's JSON reads outside its holes: the observation's
/// shape (the key of the analyzer's answer cache, which leaves out or
/// reduces exactly the per-packet values), the engine whose answers for
/// that shape the record carries (p0f's timestamp value aside, which its
/// text never shows), and which of the optional parts it has. Compared
/// whole, so a template is used only for a record whose constant text it
/// is.
#[derive(Clone, Copy, Debug, Eq)]
pub(super) struct TemplateKey {
    engine: u64,
    shape: ShapeKey,
    has_uptime: bool,
    has_verdict: bool,
    has_tunnel: bool,
}

/// Every word folded into one test, without early exits or the `bcmp`
/// call the derived comparison makes: a record's key is compared with a
/// template's for every record, and nearly always equals it.
impl PartialEq for TemplateKey {
    fn eq(&self, other: &Self) -> bool {
        let flags = |k: &TemplateKey| {
            u64::from(k.has_uptime) | u64::from(k.has_verdict) << 1 | u64::from(k.has_tunnel) << 2
        };
        self.shape.words().iter().zip(other.shape.words()).fold(
            (self.engine ^ other.engine) | (flags(self) ^ flags(other)),
            |diff, (x, y)| diff | (x ^ y),
        ) == 0
    }
}

impl TemplateKey {
    fn hash(&self) -> u64 {
        fold(&self.shape, self.engine)
            ^ u64::from(self.has_uptime) << 62
            ^ u64::from(self.has_verdict) << 63
            ^ u64::from(self.has_tunnel) << 61
    }
}

/// A record's JSON cut at its holes: `parts` are (length of the constant
/// run before the hole, the hole), `text` the runs end to end, the last
/// one up to the closing brace.
#[derive(Clone, Default)]
struct Template {
    text: Vec<u8>,
    parts: Vec<(usize, Hole)>,
}

impl Template {
    /// Becomes the record written into `j` from `start` (its opening
    /// brace), cut at `holes`. Refills the storage of the template it
    /// replaces: captures of mostly new shapes cut one per record.
    fn refill(&mut self, j: &JsonBuf, start: usize, holes: &[(usize, usize, Hole)]) {
        let bytes = j.as_bytes();
        // Inside the braces.
        let body_start = start + 1;
        let body_end = bytes.len().saturating_sub(1);
        self.text.clear();
        self.parts.clear();
        let mut at = body_start;
        for &(hole_start, hole_end, h) in holes {
            let run = bytes.get(at..hole_start).unwrap_or_default();
            self.text.extend_from_slice(run);
            self.parts.push((run.len(), h));
            at = hole_end;
        }
        self.text
            .extend_from_slice(bytes.get(at..body_end).unwrap_or_default());
    }
}

/// Where `hash` goes in a table of `len` slots (a power of two): from the
/// top bits of a multiplicative hash, which every bit of `hash` moves.
fn slot_of(hash: u64, len: usize) -> usize {
    let bits = len.trailing_zeros();
    hash.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .checked_shr(64 - bits)
        .unwrap_or(0) as usize
}

/// Slots a template may sit in. With two, a few hundred shapes put three
/// in one set for some captures (the hash is fixed, so always for those),
/// and they would evict each other on every record.
const TEMPLATE_WAYS: usize = 4;

/// Templates by shape: a fixed number (as many as the analyzer's shape
/// cache holds), set associative (see [`TEMPLATE_WAYS`]).
struct Templates {
    /// Boxed, so the table is zeroed memory that the kernel maps only
    /// where a template lands: inline, its megabytes were most of the page
    /// faults of a small capture's run.
    slots: Vec<Option<Box<(TemplateKey, Template)>>>,
}

impl Templates {
    fn new(size: usize) -> Self {
        Templates {
            slots: vec![None; size.next_power_of_two().max(TEMPLATE_WAYS)],
        }
    }

    /// The first of the slots `hash` may sit in.
    fn set(&self, hash: u64) -> usize {
        slot_of(hash, self.slots.len()) & !(TEMPLATE_WAYS - 1)
    }

    fn find(&self, hash: u64, key: &TemplateKey) -> Option<&Template> {
        let set = self.set(hash);
        self.slots
            .get(set..set + TEMPLATE_WAYS)?
            .iter()
            .flatten()
            .find(|kt| kt.0 == *key)
            .map(|kt| &kt.1)
    }

    /// Keeps the record in `j` from `start`, cut at `holes`, as the
    /// template of `key` in the first slot of its set, the others moving
    /// one down (the last one's template goes, its storage reused).
    fn insert(
        &mut self,
        hash: u64,
        key: TemplateKey,
        j: &JsonBuf,
        start: usize,
        holes: &[(usize, usize, Hole)],
    ) {
        let set = self.set(hash);
        if let Some(ways) = self.slots.get_mut(set..set + TEMPLATE_WAYS) {
            ways.rotate_right(1);
            match ways.first_mut() {
                Some(Some(kt)) => {
                    kt.0 = key;
                    kt.1.refill(j, start, holes);
                }
                Some(empty) => {
                    let mut t = Template::default();
                    t.refill(j, start, holes);
                    *empty = Some(Box::new((key, t)));
                }
                None => {}
            }
        }
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
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::analyze::{Analyzer, AnalyzerConfig, Engine};
    use crate::craft::{Encapsulation, OptionBytes, Stack, TcpPacket};
    use crate::packet::Timestamp;

    /// The records of a few crafted packets covering every optional part of
    /// the contract: IPv4 and IPv6, SYN and SYN+ACK, uptime, EOL padding,
    /// unknown options, no MSS, a verdict.
    fn records() -> Vec<Record> {
        let engine = Engine::default();
        let mut a = Analyzer::new(&engine, AnalyzerConfig::default());
        let c4 = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20));
        let s4 = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
        let c6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x20));
        let s6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0xa, 0x7));
        let mut packets = Vec::new();
        let mut mac = Stack::MacOs.syn(c4, 50123, s4, 443, 7);
        mac.set_timestamp(3_000_000, 0);
        packets.push((1_700_000_000_123_456_789, mac));
        // The same host 90 s later with its timestamp clock advanced at
        // 1 kHz: an uptime estimate.
        let mut later = Stack::MacOs.syn(c4, 50124, s4, 443, 8);
        later.set_timestamp(3_090_000, 0);
        packets.push((1_700_000_090_123_456_789, later));
        let linux6 = Stack::Linux.syn(c6, 40000, s6, 80, 3);
        packets.push((1_700_000_100_000_000_000, linux6.clone()));
        let mut ack6 = TcpPacket::syn_ack_for(&linux6);
        ack6.ttl = 57;
        ack6.window = 28800;
        ack6.flow_label = 0xabcde;
        ack6.options = OptionBytes::new().mss(1400).sok().ts(5, 6).nop().ws(7).0;
        packets.push((1_700_000_100_000_500_000, ack6));
        let mut odd = TcpPacket::syn(c4, 1, s4, 2);
        odd.ttl = 255;
        odd.tos = 0x03;
        odd.df = false;
        odd.window = 512;
        // A reserved TCP bit, as scanners set (its absence from p0f's
        // signature has its own test: this packet's TOS sets p0f's ecn).
        odd.flags |= 0x800;
        odd.options = OptionBytes::new().raw(&[34, 2]).nop().raw(&[7, 3, 1]).0;
        packets.push((1_700_000_200_000_000_001, odd));
        let mut out = Vec::new();
        for (ts, p) in packets {
            if let Some(r) = a.process_ip(Timestamp(ts), &p.ip_bytes()) {
                out.push(r);
            }
        }
        if let Some(r) = out.first_mut() {
            r.judge_user_agent(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            )
            .expect("user agent parses");
        }
        out
    }

    /// The verdict judges the path MTU the record shows (p0f's, from the
    /// MSS among the options p0f reads), not an MSS option further on.
    #[test]
    fn the_verdict_judges_the_records_own_mtu() {
        let c4 = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20));
        let s4 = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
        let mut p = Stack::Linux.syn(c4, 40000, s4, 443, 1);
        let mut options = OptionBytes::new().mss(1460);
        for _ in 0..24 {
            options = options.nop();
        }
        p.options = options.mss(1300).0;
        let obs = crate::packet::decode_ip(Timestamp(1), &p.ip_bytes())
            .expect("decodes")
            .expect("a SYN");
        let r = Engine::default().fingerprint(obs, None);
        // The premise: p0f stops reading before the second MSS.
        assert_eq!(r.obs().options.mss, Some(1300));
        assert_eq!(r.mtu().map(|m| m.raw_mtu), Some(1500));
        let v = r
            .verdict_for(Claim::UserAgent(None))
            .expect("no User-Agent to parse")
            .expect("classified");
        assert!(!v.tunnel_suspected, "{v:?}");
    }

    /// A record takes another client of its own IP version only: the
    /// header fields and the JSON template carry the version.
    #[test]
    fn another_source_keeps_the_ip_version() {
        let recs = records();
        let (v4, v6) = (&recs[0], &recs[2]);
        let a4 = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9));
        let a6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 9));
        let moved = v4.clone().with_source(a4, 9, Timestamp(9)).expect("IPv4");
        assert_eq!((moved.obs().src_ip, moved.obs().src_port), (a4, 9));
        assert_eq!(
            moved.to_json_value()["tcp_window_size"],
            v4.to_json_value()["tcp_window_size"]
        );
        assert!(v6.clone().with_source(a6, 9, Timestamp(9)).is_some());
        assert!(v4.clone().with_source(a6, 9, Timestamp(9)).is_none());
        assert!(v6.clone().with_source(a4, 9, Timestamp(9)).is_none());
    }

    /// A template serves only its own key: each part of the key, changed
    /// alone, makes it another (templates of different keys rarely share a
    /// set, so the template tests alone would not see a comparison that
    /// ignored a part).
    #[test]
    fn template_keys_differ_in_every_part() {
        let rs = records();
        let shapes: Vec<TemplateKey> = rs.iter().map(Record::template_key).collect();
        for (i, a) in shapes.iter().enumerate() {
            for (j, b) in shapes.iter().enumerate() {
                let same = a.engine == b.engine
                    && a.shape == b.shape
                    && a.has_uptime == b.has_uptime
                    && a.has_verdict == b.has_verdict
                    && a.has_tunnel == b.has_tunnel;
                assert_eq!(a == b, same, "records {i} and {j}");
            }
            assert_eq!(*a, TemplateKey { ..*a });
            assert_ne!(
                *a,
                TemplateKey {
                    engine: a.engine ^ 1,
                    ..*a
                }
            );
            assert_ne!(
                *a,
                TemplateKey {
                    has_uptime: !a.has_uptime,
                    ..*a
                }
            );
            assert_ne!(
                *a,
                TemplateKey {
                    has_verdict: !a.has_verdict,
                    ..*a
                }
            );
            assert_ne!(
                *a,
                TemplateKey {
                    has_tunnel: !a.has_tunnel,
                    ..*a
                }
            );
        }
        let distinct = (0..shapes.len())
            .filter(|&i| {
                shapes
                    .iter()
                    .skip(i + 1)
                    .all(|b| b.shape != shapes[i].shape)
            })
            .count();
        assert!(distinct >= 4, "{distinct} distinct shapes");
    }

    /// A tunnelled record names its tunnel after the addresses; others
    /// have no `tunnel` key.
    #[test]
    fn a_tunnelled_record_names_its_tunnel() {
        let engine = Engine::default();
        let mut a = Analyzer::new(&engine, AnalyzerConfig::default());
        let c = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));
        let s = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let mut got = Vec::new();
        for (port, enc) in [
            (1, Encapsulation::GtpU),
            (2, Encapsulation::GreEthernet),
            (3, Encapsulation::Ethernet),
        ] {
            let p = Stack::Windows.syn(c, port, s, 443, 1);
            let (link, frame) = enc.wrap(&p.ip_bytes());
            let r = a.process_frame(link, Timestamp(1), &frame).expect("a SYN");
            let text = json(&r);
            let tunnel = text
                .split_once(",\"tunnel\":")
                .map(|(_, t)| t.split_inclusive('}').next().unwrap_or(t).to_owned());
            assert!(text.contains("\"dst_port\":443,\"tunnel\"") == tunnel.is_some());
            got.push(tunnel);
        }
        assert_eq!(
            got,
            [
                Some(r#"{"type":"gtp_u","id":16909060,"outer_src_ip":"203.0.113.1","outer_dst_ip":"203.0.113.2"}"#.to_owned()),
                Some(r#"{"type":"gre","id":null,"outer_src_ip":"2001:db8::1","outer_dst_ip":"2001:db8::2"}"#.to_owned()),
                None,
            ]
        );
    }

    fn json(r: &Record) -> String {
        let mut j = JsonBuf::new();
        r.write_json(&mut j);
        String::from_utf8(j.into_bytes()).expect("UTF-8")
    }

    /// A reserved TCP bit is in `tcp_flags` (as in tshark's `tcp.flags`),
    /// not in p0f's signature: p0f reads NS alone.
    #[test]
    fn reserved_tcp_bits_show_in_tcp_flags_only() {
        let engine = Engine::default();
        let syn = Stack::Linux.syn(
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            40000,
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
            443,
            1,
        );
        let mut odd = syn.clone();
        odd.flags |= 0x800;
        let value = |p: &TcpPacket| {
            let mut a = Analyzer::new(&engine, AnalyzerConfig::default());
            let r = a.process_ip(Timestamp(1), &p.ip_bytes()).expect("a SYN");
            serde_json::from_str::<serde_json::Value>(&json(&r)).expect("JSON")
        };
        let (plain, reserved) = (value(&syn), value(&odd));
        assert_eq!(
            (plain["tcp_flags"].as_u64(), reserved["tcp_flags"].as_u64()),
            (Some(2), Some(0x802))
        );
        assert_eq!(plain["p0f"], reserved["p0f"]);
    }

    /// The JSON form is a documented contract: these bytes pin it, so any
    /// change to the writer (speed work included) that alters a single byte
    /// fails here.
    // The pinned bytes include the JA4T fields.
    #[cfg(feature = "ja4t")]
    #[test]
    fn json_bytes_are_pinned() {
        let got: Vec<String> = records().iter().map(json).collect();
        for (i, (g, w)) in got.iter().zip(PINNED).enumerate() {
            assert_eq!(g, w, "record {i}");
        }
        assert_eq!(got.len(), PINNED.len(), "{got:#?}");
    }

    /// Templates give the same bytes, on a miss and on a hit.
    #[cfg(feature = "ja4t")]
    #[test]
    fn memo_writes_the_pinned_bytes_twice_over() {
        let mut memo = JsonMemo::new();
        for _ in 0..2 {
            for (r, want) in records().iter().zip(PINNED) {
                let mut j = JsonBuf::new();
                r.write_json_memo(&mut j, &mut memo);
                assert_eq!(std::str::from_utf8(j.as_bytes()).expect("UTF-8"), *want);
            }
        }
    }

    /// A shape seen once is written directly; at its second sighting it
    /// becomes a template, which serves from then on.
    #[test]
    fn templates_are_made_at_a_shapes_second_sighting() {
        let held = |memo: &JsonMemo, r: &Record| {
            let k = r.template_key();
            memo.templates.find(k.hash(), &k).is_some()
        };
        let rs = records();
        let mut memo = JsonMemo::new();
        let first = &rs[0];
        first.write_json_memo(&mut JsonBuf::new(), &mut memo);
        assert!(!held(&memo, first));
        for _ in 0..2 {
            for r in &rs {
                r.write_json_memo(&mut JsonBuf::new(), &mut memo);
            }
        }
        assert!(rs.iter().all(|r| held(&memo, r)));
    }

    /// Records of few shapes whose per-packet values all change (addresses
    /// of both versions, ports, ISN, acknowledgment, IP ID, flow label,
    /// urgent pointer, timestamps, an uptime estimate on some, a verdict on
    /// others, every encapsulation and so tunnels of every kind on others)
    /// come out of the templates byte for byte as written directly.
    #[test]
    fn templates_write_what_the_record_writes() {
        let engine = Engine::default();
        let mut a = Analyzer::new(&engine, AnalyzerConfig::default());
        let mut memo = JsonMemo::new();
        let mut templated = 0;
        let mut tunnelled = 0;
        for n in 0..600u32 {
            let v6 = n % 3 == 0;
            let host = n % 7;
            let (c, srv) = if v6 {
                (
                    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, host as u16)),
                    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 2, 1)),
                )
            } else {
                (
                    IpAddr::V4(Ipv4Addr::new(10, 1, 0, host as u8)),
                    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                )
            };
            let mut p = Stack::ALL[n as usize % 3].syn(c, 2000 + n as u16, srv, 443, n);
            p.ip_id = 1 + n as u16;
            p.flow_label = 1 + n;
            p.urgent = 1 + n as u16;
            p.ack = (n + 1) << 1;
            if n % 2 == 0 {
                p.options = OptionBytes::new()
                    .mss(1460)
                    .sok()
                    .ts(1_000_000 + n * 10, n)
                    .nop()
                    .ws(7)
                    .0;
            }
            let ts = Timestamp(1_700_000_000_000_000_000 + u64::from(n) * 50_000_000);
            let (link, frame) =
                Encapsulation::ALL[n as usize % Encapsulation::ALL.len()].wrap(&p.ip_bytes());
            let Some(mut r) = a.process_frame(link, ts, &frame) else {
                panic!("every SYN here is new")
            };
            tunnelled += usize::from(r.obs.tunnel.is_some());
            if n % 5 == 0 {
                r.judge_user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64)")
                    .expect("user agent parses");
            }
            let mut direct = JsonBuf::new();
            r.write_json(&mut direct);
            let mut via = JsonBuf::new();
            r.write_json_memo(&mut via, &mut memo);
            assert_eq!(
                std::str::from_utf8(via.as_bytes()).expect("UTF-8"),
                std::str::from_utf8(direct.as_bytes()).expect("UTF-8"),
                "record {n}"
            );
            templated += usize::from(r.uptime.is_some());
        }
        assert!(templated > 50, "uptime estimates in {templated} records");
        assert!(tunnelled > 200, "tunnels around {tunnelled} records");
    }

    /// An IPv6 packet's total length (payload length + 40) can exceed
    /// 65,535; it is written whole, from templates too.
    #[test]
    fn ipv6_total_length_above_16_bits() {
        let engine = Engine::default();
        let mut a = Analyzer::new(&engine, AnalyzerConfig::default());
        let mut memo = JsonMemo::new();
        let c = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x20));
        let s = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0xa, 0x7));
        for port in 40000..40004 {
            let mut p = Stack::Linux.syn(c, port, s, 80, u32::from(port));
            let header = p.ip_bytes().len() - 40;
            p.payload = vec![0; 65_535 - header];
            let Some(r) = a.process_ip(Timestamp(1), &p.ip_bytes()) else {
                panic!("a new connection's SYN makes a record")
            };
            assert_eq!(r.obs.ip_total_length, 65_575);
            let mut direct = JsonBuf::new();
            r.write_json(&mut direct);
            let mut via = JsonBuf::new();
            r.write_json_memo(&mut via, &mut memo);
            let text = std::str::from_utf8(direct.as_bytes()).expect("UTF-8");
            assert!(text.contains("\"ip_total_length\":65575,"), "{text}");
            assert_eq!(via.as_bytes(), direct.as_bytes(), "port {port}");
        }
    }

    /// Templates are keyed on the shape, which keeps only the zero-ness of
    /// the sender's timestamp: the signature text must not depend on more.
    #[test]
    fn raw_sig_text_ignores_the_timestamp_value() {
        for r in records() {
            let sig = r.p0f.raw_sig;
            for ts1 in [1, 2, 0x7fff_ffff, u32::MAX] {
                if sig.ts1 != 0 {
                    let other = crate::p0f::TcpSignature { ts1, ..sig };
                    assert_eq!(other.to_string(), sig.to_string());
                }
            }
        }
    }

    #[test]
    fn json_is_valid_and_round_trips_through_serde() {
        for r in records() {
            let text = json(&r);
            let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
            assert_eq!(r.to_json_value(), v);
            assert_eq!(serde_json::to_string(&r).expect("serializes"), text);
        }
    }

    #[cfg(feature = "ja4t")]
    const PINNED: &[&str] = &[
    "{\"kind\":\"syn\",\"ts\":1700000000.1234567,\"src_ip\":\"192.168.1.20\",\"src_port\":50123,\"dst_ip\":\"203.0.113.7\",\"dst_port\":443,\"ip_version\":4,\"ip_ttl\":64,\"ip_df\":1,\"ip_mf\":0,\"ip_id\":0,\"ip_tos\":0,\"ip_total_length\":64,\"ip_hdr_length\":5,\"ip_flow_label\":null,\"tcp_window_size\":65535,\"tcp_flags\":2,\"tcp_off\":11,\"tcp_urp\":0,\"tcp_ack\":0,\"tcp_seq\":139835970,\"tcp_options\":\"M1460,N,W6,N,N,T,S,E,E,\",\"tcp_options_kinds\":[2,1,3,1,1,8,4,0,0],\"tcp_mss\":1460,\"tcp_window_scaling\":6,\"tcp_timestamp\":3000000,\"tcp_timestamp_echo_reply\":0,\"p0f\":{\"raw_sig\":\"4:64+0:0:1460:65535,6:mss,nop,ws,nop,nop,ts,sok,eol+1:df:0\",\"os\":\"Mac OS X\",\"dist\":0,\"generic\":true,\"fuzzy\":true},\"mtu\":{\"raw_mtu\":1500,\"link\":\"Ethernet or modem\"},\"ja4t\":\"65535_2-1-3-1-1-8-4-0-0_1460_6\",\"classification\":{\"os\":\"macOS\",\"family\":\"Apple\",\"confidence\":0.6037,\"scores\":{\"Windows\":0,\"macOS\":0.6037,\"iOS\":0.3963,\"Android\":0,\"Linux\":0,\"ChromeOS\":0,\"FreeBSD\":0,\"OpenBSD\":0,\"embedded\":0,\"unknown\":0},\"family_scores\":{\"Windows\":0,\"Apple\":1,\"Linux\":0,\"BSD\":0,\"other\":0},\"evidence\":[\"options M,N,W,N,N,T,S,E,E -> Apple\",\"p0f Mac OS X -> Apple\"]},\"verdict\":{\"ua_os\":\"Windows\",\"ua_family\":\"Windows\",\"ua_crawler\":false,\"os_mismatch\":true,\"tunnel_suspected\":false,\"embedded_suspected\":false,\"middlebox_suspected\":false,\"mtu_link\":null,\"hops\":0,\"reasons\":[\"User-Agent says Windows (Windows family) but the TCP stack is Apple family (p=1.000; p(Windows)=0.000)\"]}}",
    "{\"kind\":\"syn\",\"ts\":1700000090.1234567,\"src_ip\":\"192.168.1.20\",\"src_port\":50124,\"dst_ip\":\"203.0.113.7\",\"dst_port\":443,\"ip_version\":4,\"ip_ttl\":64,\"ip_df\":1,\"ip_mf\":0,\"ip_id\":0,\"ip_tos\":0,\"ip_total_length\":64,\"ip_hdr_length\":5,\"ip_flow_label\":null,\"tcp_window_size\":65535,\"tcp_flags\":2,\"tcp_off\":11,\"tcp_urp\":0,\"tcp_ack\":0,\"tcp_seq\":2859082781,\"tcp_options\":\"M1460,N,W6,N,N,T,S,E,E,\",\"tcp_options_kinds\":[2,1,3,1,1,8,4,0,0],\"tcp_mss\":1460,\"tcp_window_scaling\":6,\"tcp_timestamp\":3090000,\"tcp_timestamp_echo_reply\":0,\"p0f\":{\"raw_sig\":\"4:64+0:0:1460:65535,6:mss,nop,ws,nop,nop,ts,sok,eol+1:df:0\",\"os\":\"Mac OS X\",\"dist\":0,\"generic\":true,\"fuzzy\":true},\"mtu\":{\"raw_mtu\":1500,\"link\":\"Ethernet or modem\"},\"uptime\":{\"uptime_min\":51,\"days\":0,\"hours\":0,\"minutes\":51,\"modulo_days\":49,\"freq_hz\":1000,\"raw_freq_hz\":1000.0},\"ja4t\":\"65535_2-1-3-1-1-8-4-0-0_1460_6\",\"classification\":{\"os\":\"macOS\",\"family\":\"Apple\",\"confidence\":0.6037,\"scores\":{\"Windows\":0,\"macOS\":0.6037,\"iOS\":0.3963,\"Android\":0,\"Linux\":0,\"ChromeOS\":0,\"FreeBSD\":0,\"OpenBSD\":0,\"embedded\":0,\"unknown\":0},\"family_scores\":{\"Windows\":0,\"Apple\":1,\"Linux\":0,\"BSD\":0,\"other\":0},\"evidence\":[\"options M,N,W,N,N,T,S,E,E -> Apple\",\"p0f Mac OS X -> Apple\"]}}",
    "{\"kind\":\"syn\",\"ts\":1700000100.0,\"src_ip\":\"2001:db8::20\",\"src_port\":40000,\"dst_ip\":\"2001:db8:0:1::a:7\",\"dst_port\":80,\"ip_version\":6,\"ip_ttl\":64,\"ip_df\":null,\"ip_mf\":null,\"ip_id\":null,\"ip_tos\":0,\"ip_total_length\":80,\"ip_hdr_length\":10,\"ip_flow_label\":492678,\"tcp_window_size\":64800,\"tcp_flags\":2,\"tcp_off\":10,\"tcp_urp\":0,\"tcp_ack\":0,\"tcp_seq\":2172093574,\"tcp_options\":\"M1440,S,T,N,W7,\",\"tcp_options_kinds\":[2,4,8,1,3],\"tcp_mss\":1440,\"tcp_window_scaling\":7,\"tcp_timestamp\":3150070593,\"tcp_timestamp_echo_reply\":0,\"p0f\":{\"raw_sig\":\"6:64+0:0:1440:mss*45,7:mss,sok,ts,nop,ws:flow:0\",\"os\":null,\"dist\":0,\"generic\":false,\"fuzzy\":false},\"mtu\":{\"raw_mtu\":1500,\"link\":\"Ethernet or modem\"},\"ja4t\":\"64800_2-4-8-1-3_1440_7\",\"classification\":{\"os\":\"Linux\",\"family\":\"Linux\",\"confidence\":0.7311,\"scores\":{\"Windows\":0.0001,\"macOS\":0.0001,\"iOS\":0.0001,\"Android\":0.1276,\"Linux\":0.7311,\"ChromeOS\":0.1409,\"FreeBSD\":0,\"OpenBSD\":0,\"embedded\":0.0001,\"unknown\":0},\"family_scores\":{\"Windows\":0.0001,\"Apple\":0.0002,\"Linux\":0.9997,\"BSD\":0,\"other\":0},\"evidence\":[\"wscale 7 -> Linux\",\"options M,S,T,N,W -> Linux\"]}}",
    "{\"kind\":\"syn_ack\",\"ts\":1700000100.0005,\"src_ip\":\"2001:db8:0:1::a:7\",\"src_port\":80,\"dst_ip\":\"2001:db8::20\",\"dst_port\":40000,\"ip_version\":6,\"ip_ttl\":57,\"ip_df\":null,\"ip_mf\":null,\"ip_id\":null,\"ip_tos\":0,\"ip_total_length\":80,\"ip_hdr_length\":10,\"ip_flow_label\":703710,\"tcp_window_size\":28800,\"tcp_flags\":18,\"tcp_off\":10,\"tcp_urp\":0,\"tcp_ack\":2172093575,\"tcp_seq\":772798125,\"tcp_options\":\"M1400,S,T,N,W7,\",\"tcp_options_kinds\":[2,4,8,1,3],\"tcp_mss\":1400,\"tcp_window_scaling\":7,\"tcp_timestamp\":5,\"tcp_timestamp_echo_reply\":6,\"p0f\":{\"raw_sig\":\"6:57+7:0:1400:mss*20,7:mss,sok,ts,nop,ws:flow:0\",\"os\":null,\"dist\":7,\"generic\":false,\"fuzzy\":false},\"mtu\":{\"raw_mtu\":1460,\"link\":\"generic tunnel or VPN\"},\"ja4ts\":\"28800_2-4-8-1-3_1400_7\",\"classification\":{\"os\":\"Linux\",\"family\":\"Linux\",\"confidence\":0.9442,\"scores\":{\"Windows\":0,\"macOS\":0,\"iOS\":0,\"Android\":0.0011,\"Linux\":0.9442,\"ChromeOS\":0.001,\"FreeBSD\":0.0001,\"OpenBSD\":0,\"embedded\":0.0533,\"unknown\":0.0003},\"family_scores\":{\"Windows\":0,\"Apple\":0,\"Linux\":0.9996,\"BSD\":0.0001,\"other\":0.0003},\"evidence\":[\"window 28800 -> embedded\",\"wscale 7 -> Linux\",\"options M,S,T,N,W -> Linux\"]}}",
    "{\"kind\":\"syn\",\"ts\":1700000200.0,\"src_ip\":\"192.168.1.20\",\"src_port\":1,\"dst_ip\":\"203.0.113.7\",\"dst_port\":2,\"ip_version\":4,\"ip_ttl\":255,\"ip_df\":0,\"ip_mf\":0,\"ip_id\":4660,\"ip_tos\":3,\"ip_total_length\":48,\"ip_hdr_length\":5,\"ip_flow_label\":null,\"tcp_window_size\":512,\"tcp_flags\":2050,\"tcp_off\":7,\"tcp_urp\":0,\"tcp_ack\":0,\"tcp_seq\":268435456,\"tcp_options\":\"U34,N,F,E,E,\",\"tcp_options_kinds\":[34,1,7,0,0],\"tcp_mss\":null,\"tcp_window_scaling\":null,\"tcp_timestamp\":null,\"tcp_timestamp_echo_reply\":null,\"p0f\":{\"raw_sig\":\"4:255+0:0:0:512,0:?34,nop,?7,eol+1:ecn:0\",\"os\":null,\"dist\":0,\"generic\":false,\"fuzzy\":false},\"mtu\":null,\"ja4t\":\"512_34-1-7-0-0_00_00\",\"classification\":{\"os\":\"Windows\",\"family\":\"Linux\",\"confidence\":0.1901,\"scores\":{\"Windows\":0.1901,\"macOS\":0.1453,\"iOS\":0.1453,\"Android\":0.1723,\"Linux\":0.1465,\"ChromeOS\":0.0173,\"FreeBSD\":0.006,\"OpenBSD\":0.0026,\"embedded\":0.0344,\"unknown\":0.1402},\"family_scores\":{\"Windows\":0.1901,\"Apple\":0.2906,\"Linux\":0.3705,\"BSD\":0.0086,\"other\":0.1402},\"evidence\":[\"ttl 255 -> middlebox\"]}}",
    ];

    proptest::proptest! {
        /// SYNs of every stack with random bytes of their IP and TCP headers
        /// and options overwritten, through one analyzer and one memo: every
        /// record the memo's templates write is the direct
        /// writer's bytes, and valid JSON.
        #[test]
        fn mutated_syns_write_the_same_json_through_the_memo(
            packets in proptest::collection::vec(
                (
                    0..Stack::ALL.len(),
                    proptest::bool::ANY,
                    proptest::collection::vec(
                        (proptest::prelude::any::<proptest::sample::Index>(), proptest::num::u8::ANY),
                        0..4,
                    ),
                ),
                1..40,
            ),
        ) {
            let engine = Engine::default();
            let mut a = Analyzer::new(&engine, AnalyzerConfig::default());
            let mut memo = JsonMemo::new();
            for (n, (stack, v6, flips)) in packets.into_iter().enumerate() {
                let n = n as u32;
                let (c, srv) = crate::craft::numbered_hosts(n, v6);
                let mut bytes = Stack::ALL[stack].syn(c, 1000 + n as u16, srv, 443, n).ip_bytes();
                for (at, b) in flips {
                    let i = at.index(bytes.len());
                    bytes[i] = b;
                }
                let ts = Timestamp(1_700_000_000_000_000_000 + u64::from(n) * 30_000_000);
                if let Some(r) = a.process_ip(ts, &bytes) {
                    let mut direct = JsonBuf::new();
                    r.write_json(&mut direct);
                    let mut via = JsonBuf::new();
                    r.write_json_memo(&mut via, &mut memo);
                    proptest::prop_assert_eq!(via.as_bytes(), direct.as_bytes());
                    proptest::prop_assert!(
                        serde_json::from_slice::<serde_json::Value>(direct.as_bytes()).is_ok()
                    );
                }
            }
        }
    }
}

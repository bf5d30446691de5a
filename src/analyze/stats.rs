use std::fmt;

use crate::packet::Skip;

/// Counters of one analysis run: every frame is counted exactly once, as a
/// record, a retransmission, another TCP segment, or a skip with its reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub packets: u64,
    pub syn: u64,
    pub syn_ack: u64,
    pub syn_retransmissions: u64,
    pub syn_ack_retransmissions: u64,
    /// TCP segments that are neither SYN nor SYN+ACK.
    pub other_tcp: u64,
    /// SYNs and SYN+ACKs of other ports than the one asked for
    /// ([`crate::analyze::Analyzer::keep_only_port`]).
    pub other_port: u64,
    /// SYNs and SYN+ACKs the filter left out
    /// ([`crate::analyze::Analyzer::keep_only_matching`]).
    pub filtered_out: u64,
    #[serde(serialize_with = "serialize_skips")]
    pub skipped: [u64; Skip::ALL.len()],
    pub flow_evictions: u64,
    pub uptime_evictions: u64,
    /// Records the capture reader could not deliver (cut-off file).
    pub capture_errors: u64,
    /// Uptimes estimated from segments after the handshake (only when
    /// following connections: text and p0f formats).
    pub conn_uptimes: u64,
    /// SYN retransmissions written again because p0f fingerprints them
    /// again (only when following connections); counted in `syn` too.
    pub syn_fingerprinted_again: u64,
    /// SYN+ACK retransmissions written again, answering such a SYN.
    pub syn_ack_fingerprinted_again: u64,
}

fn serialize_skips<S: serde::Serializer>(
    skipped: &[u64; Skip::ALL.len()],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(None)?;
    for skip in Skip::ALL {
        let n = skipped[skip.index()];
        if n > 0 {
            m.serialize_entry(skip.as_str(), &n)?;
        }
    }
    m.end()
}

impl Stats {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.iter().sum()
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "packets read:        {}", self.packets)?;
        writeln!(
            f,
            "records:             {} syn, {} syn_ack",
            self.syn, self.syn_ack
        )?;
        writeln!(
            f,
            "retransmissions:     {} syn, {} syn_ack (no record)",
            self.syn_retransmissions, self.syn_ack_retransmissions
        )?;
        if self.syn_fingerprinted_again + self.syn_ack_fingerprinted_again > 0 {
            writeln!(
                f,
                "written again:       {} syn, {} syn_ack retransmissions, fingerprinted again \
                 as p0f does for a connection it follows anew (counted in the records)",
                self.syn_fingerprinted_again, self.syn_ack_fingerprinted_again
            )?;
        }
        writeln!(f, "other tcp segments:  {}", self.other_tcp)?;
        if self.other_port > 0 {
            writeln!(
                f,
                "other ports:         {} syn or syn_ack (no record)",
                self.other_port
            )?;
        }
        if self.filtered_out > 0 {
            writeln!(
                f,
                "filtered out:        {} syn or syn_ack (no record)",
                self.filtered_out
            )?;
        }
        if self.conn_uptimes > 0 {
            writeln!(
                f,
                "uptime after syn:    {} (from ACK/FIN/RST segments)",
                self.conn_uptimes
            )?;
        }
        write!(f, "skipped:             {}", self.skipped_total())?;
        let mut first = true;
        for skip in Skip::ALL {
            let n = self.skipped[skip.index()];
            if n > 0 {
                write!(
                    f,
                    "{}{} {}",
                    if first { " (" } else { ", " },
                    skip.as_str(),
                    n
                )?;
                first = false;
            }
        }
        if !first {
            f.write_str(")")?;
        }
        if self.flow_evictions > 0 || self.uptime_evictions > 0 {
            write!(
                f,
                "\nevictions:           {} handshakes, {} uptime hosts",
                self.flow_evictions, self.uptime_evictions
            )?;
        }
        Ok(())
    }
}

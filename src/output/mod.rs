//! Records → bytes: JSON lines (the documented contract) or p0f-like text
//! blocks for people. `none` analyses everything and writes nothing.

mod inventory;
mod p0flog;
mod preallocate;
mod text;

use std::io::{self, Write};

use crate::analyze::{ConnUptime, JsonMemo, Record};
use crate::json::JsonBuf;

pub use inventory::{write_inventory, InventoryFormat};
pub use p0flog::{write_p0f_conn_uptime, P0fLog};
pub use preallocate::PreallocatedFile;
pub use text::write_text_conn_uptime;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// p0f-like blocks a person can read.
    Text,
    /// One JSON object per line.
    Jsonl,
    /// p0f 3's log lines (`mod=syn|cli=...|raw_sig=...`), for tools that
    /// parse p0f's `-o` log.
    P0f,
    /// Full analysis, no records written (summaries, benchmarks).
    None,
}

/// JSON lines and text blocks are gathered into chunks of about this size
/// before they go to the sink: one large copy instead of one call per
/// record. Writes this large also let the kernel cache a file in large
/// folios: on ext4 (Linux 6.18) 1 MiB writes cost the kernel about half the
/// time per record that 64 KiB writes did (0.22-0.31 s against 0.43-0.54 s
/// for 1M JSON records), and more than 1 MiB measured no better.
const CHUNK: usize = 1 << 20;

/// Writes records in one format to one sink. Records may stay buffered
/// until [`RecordWriter::flush`].
pub struct RecordWriter<W: Write> {
    out: W,
    format: Format,
    /// JSON lines and text blocks, gathered until [`CHUNK`] long.
    buf: JsonBuf,
    /// JSON lines' templates (its tables are made only for that format).
    memo: Option<Box<JsonMemo>>,
    p0f: P0fLog,
}

impl<W: Write> RecordWriter<W> {
    pub fn new(out: W, format: Format) -> Self {
        RecordWriter {
            out,
            format,
            buf: JsonBuf::new(),
            memo: (format == Format::Jsonl).then(Box::default),
            p0f: P0fLog::new(),
        }
    }

    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        match self.format {
            Format::None => Ok(()),
            Format::Jsonl => {
                let memo = self.memo.get_or_insert_with(Box::default);
                record.write_json_memo(&mut self.buf, memo);
                self.buf.newline();
                self.write_if_full()
            }
            Format::Text => {
                text::text_record(&mut self.buf, record);
                self.write_if_full()
            }
            Format::P0f => self.p0f.write(&mut self.out, record),
        }
    }

    /// Whether this format writes [`ConnUptime`]s (text and p0f do; JSON
    /// lines hold one record per SYN and SYN+ACK only).
    pub fn wants_conn_uptimes(&self) -> bool {
        matches!(self.format, Format::Text | Format::P0f)
    }

    /// An uptime estimated after the handshake, where the format has a
    /// place for it.
    pub fn write_conn_uptime(&mut self, u: &ConnUptime) -> io::Result<()> {
        match self.format {
            Format::Text => {
                text::text_conn_uptime(&mut self.buf, u);
                self.write_if_full()
            }
            Format::P0f => self.p0f.write_conn_uptime(&mut self.out, u),
            Format::Jsonl | Format::None => Ok(()),
        }
    }

    fn write_if_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= CHUNK {
            self.write_pending()?;
        }
        Ok(())
    }

    fn write_pending(&mut self) -> io::Result<()> {
        let pending = self.buf.as_bytes();
        if !pending.is_empty() {
            // Cleared even on error: a failed sink does not get the same
            // bytes again.
            let result = self.out.write_all(pending);
            self.buf.clear();
            result?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.write_pending()?;
        self.out.flush()
    }

    /// The sink, after the buffered records are written to it.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.write_pending()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::analyze::{Analyzer, AnalyzerConfig, Engine};
    use crate::craft::Stack;
    use crate::packet::Timestamp;

    /// JSON lines are gathered into chunks; what reaches the sink after
    /// `flush` must be every record, whole and in order.
    #[test]
    fn jsonl_chunks_hold_every_record_in_order() {
        let engine = Engine::default();
        let mut a = Analyzer::new(&engine, AnalyzerConfig::default());
        let mut w = RecordWriter::new(Vec::new(), Format::Jsonl);
        let mut want = Vec::new();
        let server = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        for n in 0..2500u32 {
            let stack = Stack::ALL[n as usize % Stack::ALL.len()];
            let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
            let p = stack.syn(client, 1024 + n as u16, server, 443, n);
            let ts = Timestamp(1_700_000_000_000_000_000 + u64::from(n) * 1000);
            let rec = a.process_ip(ts, &p.ip_bytes()).expect("a first SYN");
            let mut j = JsonBuf::new();
            rec.write_json(&mut j);
            want.extend_from_slice(j.as_bytes());
            want.push(b'\n');
            w.write(&rec).expect("writes to memory");
        }
        assert!(want.len() > 2 * CHUNK, "the test must cross chunks");
        w.flush().expect("flush");
        let got = w.into_inner().expect("nothing pending");
        assert_eq!(got.len(), want.len());
        assert!(got == want);
    }
}

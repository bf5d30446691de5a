//! Records → bytes: JSON lines (the documented contract) or p0f-like text
//! blocks for people. `none` analyses everything and writes nothing.

mod json;
mod text;

use std::io::{self, Write};

use crate::analyze::Record;

pub use json::JsonBuf;
pub use text::write_text;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// p0f-like blocks a person can read.
    Text,
    /// One JSON object per line.
    Jsonl,
    /// Full analysis, no records written (summaries, benchmarks).
    None,
}

/// Writes records in one format to one sink.
pub struct RecordWriter<W: Write> {
    out: W,
    format: Format,
    json: JsonBuf,
}

impl<W: Write> RecordWriter<W> {
    pub fn new(out: W, format: Format) -> Self {
        RecordWriter {
            out,
            format,
            json: JsonBuf::new(),
        }
    }

    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        match self.format {
            Format::None => Ok(()),
            Format::Jsonl => {
                self.json.clear();
                record.write_json(&mut self.json);
                self.json.buf.push(b'\n');
                self.out.write_all(self.json.as_bytes())
            }
            Format::Text => write_text(&mut self.out, record),
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

//! Records → bytes: JSON lines (the documented contract) or p0f-like text
//! blocks for people. `none` analyses everything and writes nothing.

mod text;

use std::io::{self, Write};

use crate::analyze::Record;

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
}

impl<W: Write> RecordWriter<W> {
    pub fn new(out: W, format: Format) -> Self {
        RecordWriter { out, format }
    }

    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        match self.format {
            Format::None => Ok(()),
            Format::Jsonl => {
                serde_json::to_writer(&mut self.out, record)?;
                self.out.write_all(b"\n")
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

use std::io::{self, Write};

use crate::packet::{LinkType, Timestamp};

/// Writes a classic little-endian pcap file (nanosecond timestamps), for
/// fixtures, tests and the benchmark's generated captures.
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    pub fn new(mut out: W, link: LinkType) -> io::Result<Self> {
        out.write_all(&0xa1b2_3c4du32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&262_144u32.to_le_bytes())?;
        out.write_all(&link.0.to_le_bytes())?;
        Ok(PcapWriter { out })
    }

    pub fn write(&mut self, ts: Timestamp, frame: &[u8]) -> io::Result<()> {
        let secs = (ts.0 / 1_000_000_000) as u32;
        let nanos = (ts.0 % 1_000_000_000) as u32;
        let len = frame.len() as u32;
        self.out.write_all(&secs.to_le_bytes())?;
        self.out.write_all(&nanos.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(frame)
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

use std::io::{self, Write};

use crate::packet::{LinkType, Timestamp};

/// Byte order of a written capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    fn u16(self, v: u16) -> [u8; 2] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }
    fn u32(self, v: u32) -> [u8; 4] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }
    fn u64(self, v: u64) -> [u8; 8] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }
}

/// Timestamp precision of a classic pcap file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcapPrecision {
    Micros,
    Nanos,
}

/// Writes a classic pcap file, for fixtures, tests and the benchmark's
/// generated captures.
pub struct PcapWriter<W: Write> {
    out: W,
    order: ByteOrder,
    precision: PcapPrecision,
}

impl<W: Write> PcapWriter<W> {
    /// A little-endian file with nanosecond timestamps.
    pub fn new(out: W, link: LinkType) -> io::Result<Self> {
        PcapWriter::with_format(out, link, ByteOrder::Little, PcapPrecision::Nanos)
    }

    pub fn with_format(
        mut out: W,
        link: LinkType,
        order: ByteOrder,
        precision: PcapPrecision,
    ) -> io::Result<Self> {
        let magic: u32 = match precision {
            PcapPrecision::Micros => 0xa1b2_c3d4,
            PcapPrecision::Nanos => 0xa1b2_3c4d,
        };
        out.write_all(&order.u32(magic))?;
        out.write_all(&order.u16(2))?;
        out.write_all(&order.u16(4))?;
        out.write_all(&order.u32(0))?; // GMT offset
        out.write_all(&order.u32(0))?; // accuracy
        out.write_all(&order.u32(262_144))?;
        out.write_all(&order.u32(link.0))?;
        Ok(PcapWriter {
            out,
            order,
            precision,
        })
    }

    pub fn write(&mut self, ts: Timestamp, frame: &[u8]) -> io::Result<()> {
        let len = frame.len() as u32;
        self.write_truncated(ts, frame, len)
    }

    /// Writes a record whose original length (`orig_len`) exceeds what was
    /// captured, as a snap length produces.
    pub fn write_truncated(
        &mut self,
        ts: Timestamp,
        frame: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let secs = (ts.0 / 1_000_000_000) as u32;
        let nanos = (ts.0 % 1_000_000_000) as u32;
        let frac = match self.precision {
            PcapPrecision::Micros => nanos / 1000,
            PcapPrecision::Nanos => nanos,
        };
        let o = self.order;
        self.out.write_all(&o.u32(secs))?;
        self.out.write_all(&o.u32(frac))?;
        self.out.write_all(&o.u32(frame.len() as u32))?;
        self.out.write_all(&o.u32(orig_len))?;
        self.out.write_all(frame)
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// pcapng `if_tsresol`: timestamp units of one interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsResolution {
    /// 10^-n seconds (6 is the pcapng default, microseconds).
    Decimal(u8),
    /// 2^-n seconds.
    Binary(u8),
}

impl TsResolution {
    fn option_byte(self) -> u8 {
        match self {
            TsResolution::Decimal(n) => n & 0x7f,
            TsResolution::Binary(n) => 0x80 | (n & 0x7f),
        }
    }

    /// Timestamp units for `ts`, before any `if_tsoffset`.
    fn units(self, ts: Timestamp) -> u64 {
        let ns = u128::from(ts.0);
        let units = match self {
            TsResolution::Decimal(n) if n <= 9 => ns / 10u128.pow(9 - u32::from(n)),
            TsResolution::Decimal(n) => ns * 10u128.pow(u32::from(n.min(28)) - 9),
            TsResolution::Binary(n) => (ns << n.min(64)) / 1_000_000_000,
        };
        units as u64
    }
}

/// One interface of a pcapng file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapngInterface {
    pub link: LinkType,
    pub resolution: TsResolution,
    /// `if_tsoffset` in seconds (written only when non-zero).
    pub offset_secs: i64,
    /// Snap length (0: unlimited).
    pub snaplen: u32,
}

impl PcapngInterface {
    pub fn new(link: LinkType) -> Self {
        PcapngInterface {
            link,
            resolution: TsResolution::Decimal(6),
            offset_secs: 0,
            snaplen: 0,
        }
    }
}

/// Writes a pcapng file: sections, several interfaces each with its own
/// link type and clock, and enhanced, simple and obsolete packet blocks.
pub struct PcapngWriter<W: Write> {
    out: W,
    order: ByteOrder,
    interfaces: Vec<PcapngInterface>,
}

impl<W: Write> PcapngWriter<W> {
    /// Starts the first section.
    pub fn new(out: W, order: ByteOrder) -> io::Result<Self> {
        let mut w = PcapngWriter {
            out,
            order,
            interfaces: Vec::new(),
        };
        w.section(order)?;
        Ok(w)
    }

    /// Starts a new section (in its own byte order); interfaces must be
    /// described again.
    pub fn section(&mut self, order: ByteOrder) -> io::Result<()> {
        self.order = order;
        self.interfaces.clear();
        let mut body = Vec::with_capacity(16);
        body.extend_from_slice(&order.u32(0x1a2b_3c4d));
        body.extend_from_slice(&order.u16(1));
        body.extend_from_slice(&order.u16(0));
        body.extend_from_slice(&order.u64(u64::MAX)); // length unknown
        self.block(0x0a0d_0d0a, &body)
    }

    /// Describes an interface; returns its index for `write`.
    pub fn add_interface(&mut self, iface: PcapngInterface) -> io::Result<u32> {
        let o = self.order;
        let mut body = Vec::with_capacity(40);
        body.extend_from_slice(&o.u16(iface.link.0 as u16));
        body.extend_from_slice(&o.u16(0));
        body.extend_from_slice(&o.u32(iface.snaplen));
        if iface.resolution != TsResolution::Decimal(6) {
            body.extend_from_slice(&o.u16(9));
            body.extend_from_slice(&o.u16(1));
            body.extend_from_slice(&[iface.resolution.option_byte(), 0, 0, 0]);
        }
        if iface.offset_secs != 0 {
            body.extend_from_slice(&o.u16(14));
            body.extend_from_slice(&o.u16(8));
            body.extend_from_slice(&o.u64(iface.offset_secs as u64));
        }
        if body.len() > 8 {
            body.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        }
        self.block(1, &body)?;
        self.interfaces.push(iface);
        Ok(self.interfaces.len() as u32 - 1)
    }

    fn stamp(&self, interface: u32, ts: Timestamp) -> io::Result<u64> {
        let iface = self
            .interfaces
            .get(interface as usize)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no such interface"))?;
        let shift = iface.offset_secs.saturating_mul(1_000_000_000);
        let local = Timestamp((ts.0 as i64).saturating_sub(shift) as u64);
        Ok(iface.resolution.units(local))
    }

    /// An enhanced packet block.
    pub fn write(&mut self, interface: u32, ts: Timestamp, frame: &[u8]) -> io::Result<()> {
        let units = self.stamp(interface, ts)?;
        let head = self.order.u32(interface);
        self.packet_block(6, &head, units, frame)
    }

    /// An obsolete packet block (pcapng's predecessor of the enhanced one).
    pub fn write_obsolete(
        &mut self,
        interface: u16,
        ts: Timestamp,
        frame: &[u8],
    ) -> io::Result<()> {
        let units = self.stamp(u32::from(interface), ts)?;
        let o = self.order;
        let mut head = [0u8; 4];
        head[..2].copy_from_slice(&o.u16(interface));
        // The drops count: none.
        head[2..].copy_from_slice(&o.u16(0));
        self.packet_block(2, &head, units, frame)
    }

    /// A packet block of `kind`: `head` (the interface fields), the
    /// timestamp in the interface's units, the captured and original
    /// lengths, the frame.
    fn packet_block(&mut self, kind: u32, head: &[u8], units: u64, frame: &[u8]) -> io::Result<()> {
        let o = self.order;
        let mut body = Vec::with_capacity(head.len() + 16 + frame.len() + 3);
        body.extend_from_slice(head);
        body.extend_from_slice(&o.u32((units >> 32) as u32));
        body.extend_from_slice(&o.u32(units as u32));
        body.extend_from_slice(&o.u32(frame.len() as u32));
        body.extend_from_slice(&o.u32(frame.len() as u32));
        body.extend_from_slice(frame);
        self.block(kind, &body)
    }

    /// A simple packet block: no timestamp, always interface 0.
    pub fn write_simple(&mut self, frame: &[u8]) -> io::Result<()> {
        let mut body = Vec::with_capacity(4 + frame.len() + 3);
        body.extend_from_slice(&self.order.u32(frame.len() as u32));
        body.extend_from_slice(frame);
        self.block(3, &body)
    }

    /// Any other block (for tests of blocks the reader skips).
    pub fn write_block(&mut self, block_type: u32, body: &[u8]) -> io::Result<()> {
        self.block(block_type, body)
    }

    fn block(&mut self, block_type: u32, body: &[u8]) -> io::Result<()> {
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        let o = self.order;
        self.out.write_all(&o.u32(block_type))?;
        self.out.write_all(&o.u32(total))?;
        self.out.write_all(body)?;
        self.out.write_all(&[0; 3][..padded - body.len()])?;
        self.out.write_all(&o.u32(total))
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

//! One streaming reader for classic pcap and pcapng, over any `Read`.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::error::{CaptureError, Malformation, Part};
use super::input::Input;
use crate::packet::{LinkType, Timestamp};

/// The largest record or block accepted. Real snap lengths stop at 256 KiB;
/// the limit keeps a corrupt length from allocating gigabytes.
pub const MAX_RECORD_LEN: usize = 16 << 20;

const PCAP_MICROS: u32 = 0xa1b2_c3d4;
const PCAP_NANOS: u32 = 0xa1b2_3c4d;
const SHB: u32 = 0x0a0d_0d0a;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const IDB: u32 = 1;
const OPB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;

/// One captured frame, borrowed from the reader's buffer until the next call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub ts: Timestamp,
    /// The link type of the interface the frame was captured on.
    pub link: LinkType,
    /// The captured bytes (possibly fewer than `orig_len`).
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub orig_len: u32,
    /// pcapng interface index within its section; 0 for classic pcap.
    pub interface: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureFormat {
    Pcap,
    Pcapng,
}

/// Reads frames one at a time:
///
/// ```no_run
/// # fn main() -> Result<(), synprint::capture::CaptureError> {
/// let mut reader = synprint::capture::CaptureReader::open("dump.pcapng".as_ref())?;
/// while let Some(frame) = reader.next_frame()? {
///     let _ = synprint::packet::decode(frame.link, frame.ts, frame.data);
/// }
/// # Ok(()) }
/// ```
///
/// An error ends the stream: the frames returned before it stand, the error
/// names the byte offset where reading stopped, and later calls return
/// `Ok(None)`.
pub struct CaptureReader<R> {
    input: Input<R>,
    format: Format,
    failed: bool,
}

enum Format {
    Pcap {
        big_endian: bool,
        nanos: bool,
        link: LinkType,
    },
    Pcapng(Section),
}

/// The state of the current pcapng section.
struct Section {
    big_endian: bool,
    interfaces: Vec<Interface>,
    /// Simple packet blocks carry no time; they get the last one seen.
    last_ts: Timestamp,
    /// The distinct link types of every section's interfaces so far, up to
    /// [`MAX_LINK_TYPES`].
    links: Vec<LinkType>,
}

/// Link types kept for [`CaptureReader::link_types`]: a file's interfaces
/// have a few; a crafted one with thousands is not worth a quadratic scan.
const MAX_LINK_TYPES: usize = 16;

/// Interfaces one pcapng section may describe. Each is kept until the
/// section ends, so without a bound a file of nothing but interface blocks
/// (a few MB gzipped) would take all memory; captures on every interface
/// of a large router have hundreds.
const MAX_INTERFACES: usize = 1 << 16;

#[derive(Clone, Copy)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    clock: Clock,
}

/// How an interface's timestamp units become nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Clock {
    unit: Unit,
    /// `if_tsoffset`: seconds added to every timestamp.
    offset_secs: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    /// 10^-k seconds with k <= 9: multiply by 10^(9-k).
    Mul(u64),
    /// 10^-k seconds with k > 9: divide by 10^(k-9).
    Div(u64),
    /// 2^-k seconds.
    Pow2(u8),
    /// Units so small that every u64 count is below a nanosecond.
    Zero,
}

impl Clock {
    const MICROS: Clock = Clock {
        unit: Unit::Mul(1000),
        offset_secs: 0,
    };

    /// From the `if_tsresol` byte: 10^-v, or 2^-v when the top bit is set.
    fn with_resolution(byte: u8) -> Clock {
        let unit = if byte & 0x80 != 0 {
            Unit::Pow2(byte & 0x7f)
        } else if byte <= 9 {
            Unit::Mul(10u64.pow(9 - u32::from(byte)))
        } else {
            10u64
                .checked_pow(u32::from(byte) - 9)
                .map_or(Unit::Zero, Unit::Div)
        };
        Clock {
            unit,
            offset_secs: 0,
        }
    }

    #[inline]
    fn timestamp(self, units: u64) -> Timestamp {
        if let (Unit::Mul(m), 0) = (self.unit, self.offset_secs) {
            return Timestamp(units.saturating_mul(m));
        }
        let nanos: u128 = match self.unit {
            Unit::Mul(m) => u128::from(units) * u128::from(m),
            Unit::Div(d) => u128::from(units / d),
            Unit::Pow2(k) => (u128::from(units) * 1_000_000_000) >> k,
            Unit::Zero => 0,
        };
        let nanos = i128::try_from(nanos).unwrap_or(i128::MAX);
        let total = nanos.saturating_add(i128::from(self.offset_secs) * 1_000_000_000);
        Timestamp(total.clamp(0, i128::from(u64::MAX)) as u64)
    }
}

/// Integer fields of a header in its writer's byte order. Reads past the
/// end give 0; callers check lengths first, so that never happens on a
/// field they use.
#[derive(Clone, Copy)]
struct Fields<'a> {
    bytes: &'a [u8],
    big_endian: bool,
}

impl Fields<'_> {
    fn u16(self, at: usize) -> u16 {
        let b = self
            .bytes
            .get(at..at + 2)
            .and_then(|s| <[u8; 2]>::try_from(s).ok())
            .unwrap_or_default();
        if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }

    fn u32(self, at: usize) -> u32 {
        let b = self
            .bytes
            .get(at..at + 4)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .unwrap_or_default();
        if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    fn u64_hi_lo(self, at: usize) -> u64 {
        (u64::from(self.u32(at)) << 32) | u64::from(self.u32(at + 4))
    }
}

impl CaptureReader<Box<dyn Read>> {
    /// Opens a capture file, or standard input for `-`; either may be
    /// gzip-compressed.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let io_error = |source| CaptureError::Io { offset: 0, source };
        let src = if path.as_os_str() == "-" {
            super::decompressing(io::stdin().lock())
        } else {
            super::decompressing(File::open(path).map_err(CaptureError::Open)?)
        };
        CaptureReader::new(src.map_err(io_error)?)
    }
}

impl<R: Read> CaptureReader<R> {
    /// Reads the file header (pcap) or first section header (pcapng).
    pub fn new(src: R) -> Result<Self, CaptureError> {
        let mut input = Input::new(src);
        let have = fill(&mut input, 4)?;
        let head = input.peek();
        let magic = head.first_chunk::<4>().copied().unwrap_or_default();
        if have < 4 {
            return Err(CaptureError::NotACapture {
                offset: 0,
                magic: head.to_vec(),
            });
        }
        let le = u32::from_le_bytes(magic);
        let be = u32::from_be_bytes(magic);
        let format = if le == SHB {
            // The section header is parsed by the first `next_frame`.
            Format::Pcapng(Section {
                big_endian: false,
                interfaces: Vec::new(),
                last_ts: Timestamp::default(),
                links: Vec::new(),
            })
        } else if [le, be]
            .iter()
            .any(|&m| m == PCAP_MICROS || m == PCAP_NANOS)
        {
            read_pcap_header(&mut input, be == PCAP_MICROS || be == PCAP_NANOS)?
        } else {
            return Err(CaptureError::NotACapture {
                offset: 0,
                magic: magic.to_vec(),
            });
        };
        Ok(CaptureReader {
            input,
            format,
            failed: false,
        })
    }

    pub fn format(&self) -> CaptureFormat {
        match self.format {
            Format::Pcap { .. } => CaptureFormat::Pcap,
            Format::Pcapng(_) => CaptureFormat::Pcapng,
        }
    }

    /// The link types the file has declared so far (its header's, or its
    /// interfaces' in every section read), each once.
    pub fn link_types(&self) -> &[LinkType] {
        match &self.format {
            Format::Pcap { link, .. } => std::slice::from_ref(link),
            Format::Pcapng(section) => &section.links,
        }
    }

    /// Bytes consumed so far (for progress reporting).
    pub fn bytes_read(&self) -> u64 {
        self.input.offset()
    }

    /// The next frame, `Ok(None)` at the clean end of the input.
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        if self.failed {
            return Ok(None);
        }
        let result = match self.format {
            Format::Pcap {
                big_endian,
                nanos,
                link,
            } => {
                // Monomorphised per byte order: no branch per field read.
                if big_endian {
                    next_pcap::<true, R>(&mut self.input, nanos, link)
                } else {
                    next_pcap::<false, R>(&mut self.input, nanos, link)
                }
            }
            Format::Pcapng(ref mut section) => next_pcapng(&mut self.input, section),
        };
        if result.is_err() {
            self.failed = true;
        }
        result
    }
}

fn fill<R: Read>(input: &mut Input<R>, n: usize) -> Result<usize, CaptureError> {
    let offset = input.offset();
    input
        .fill(n)
        .map_err(|source| CaptureError::Io { offset, source })
}

/// Makes exactly `need` bytes available or reports the cut.
fn require<R: Read>(input: &mut Input<R>, need: usize, part: Part) -> Result<(), CaptureError> {
    let have = fill(input, need)?;
    if have < need {
        return Err(CaptureError::CutOff {
            offset: input.offset(),
            part,
            need: need as u64,
            have: have as u64,
        });
    }
    Ok(())
}

fn malformed(offset: u64, part: Part, why: Malformation) -> CaptureError {
    CaptureError::Malformed { offset, part, why }
}

fn read_pcap_header<R: Read>(
    input: &mut Input<R>,
    big_endian: bool,
) -> Result<Format, CaptureError> {
    require(input, 24, Part::PcapHeader)?;
    let h = Fields {
        bytes: input.take(24),
        big_endian,
    };
    let (major, minor) = (h.u16(4), h.u16(6));
    if major != 2 {
        return Err(malformed(
            0,
            Part::PcapHeader,
            Malformation::UnsupportedVersion { major, minor },
        ));
    }
    // The upper bits of the link type field carry FCS information.
    let link = LinkType(h.u32(20) & 0xffff);
    Ok(Format::Pcap {
        big_endian,
        nanos: h.u32(0) == PCAP_NANOS,
        link,
    })
}

/// A 32-bit field at `at` in byte order `BE`; 0 past the end (callers
/// check lengths first).
#[inline(always)]
fn word<const BE: bool>(bytes: &[u8], at: usize) -> u32 {
    let b = bytes
        .get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .unwrap_or_default();
    if BE {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

#[inline]
fn next_pcap<const BE: bool, R: Read>(
    input: &mut Input<R>,
    nanos: bool,
    link: LinkType,
) -> Result<Option<Frame<'_>>, CaptureError> {
    let have = fill(input, 16)?;
    if have == 0 {
        return Ok(None);
    }
    let offset = input.offset();
    if have < 16 {
        return Err(CaptureError::CutOff {
            offset,
            part: Part::PcapRecord,
            need: 16,
            have: have as u64,
        });
    }
    let h = input
        .peek()
        .first_chunk::<16>()
        .copied()
        .unwrap_or_default();
    let (secs, frac) = (u64::from(word::<BE>(&h, 0)), u64::from(word::<BE>(&h, 4)));
    let (caplen, orig_len) = (word::<BE>(&h, 8), word::<BE>(&h, 12));
    let len = caplen as usize;
    if len > MAX_RECORD_LEN {
        return Err(malformed(
            offset,
            Part::PcapRecord,
            Malformation::TooLarge {
                len: u64::from(caplen),
                max: MAX_RECORD_LEN as u64,
            },
        ));
    }
    require(input, 16 + len, Part::PcapRecord)?;
    let frac_nanos = if nanos { frac } else { frac * 1000 };
    let ts = Timestamp(
        secs.saturating_mul(1_000_000_000)
            .saturating_add(frac_nanos),
    );
    let record = input.take(16 + len);
    Ok(Some(Frame {
        ts,
        link,
        data: record.get(16..).unwrap_or_default(),
        orig_len,
        interface: 0,
    }))
}

/// Packet blocks found by the block loop, with where their data lies.
struct PacketAt {
    ts: Timestamp,
    link: LinkType,
    interface: u32,
    orig_len: u32,
    /// Range of the packet bytes within the block.
    data: std::ops::Range<usize>,
}

fn next_pcapng<'a, R: Read>(
    input: &'a mut Input<R>,
    section: &mut Section,
) -> Result<Option<Frame<'a>>, CaptureError> {
    let fast = if section.big_endian {
        enhanced_packet_block::<true>(input.peek(), section)
    } else {
        enhanced_packet_block::<false>(input.peek(), section)
    };
    let found = match fast {
        Some(found) => Some(found),
        None => next_packet_block(input, section)?,
    };
    let Some((p, len)) = found else {
        return Ok(None);
    };
    let block = input.take(len);
    Ok(Some(Frame {
        ts: p.ts,
        link: p.link,
        data: block.get(p.data).unwrap_or_default(),
        orig_len: p.orig_len,
        interface: p.interface,
    }))
}

/// The common case: a well-formed enhanced packet block already in the
/// buffer. Anything else (other blocks, errors, a block not yet read) is
/// left to [`next_packet_block`].
#[inline]
fn enhanced_packet_block<const BE: bool>(
    buf: &[u8],
    section: &mut Section,
) -> Option<(PacketAt, usize)> {
    let h = buf.first_chunk::<28>()?;
    if word::<BE>(h, 0) != EPB {
        return None;
    }
    let len = word::<BE>(h, 4) as usize;
    let caplen = word::<BE>(h, 20) as usize;
    if len % 4 != 0 || len > buf.len() || len > MAX_RECORD_LEN || caplen + 32 > len {
        return None;
    }
    if word::<BE>(buf, len - 4) as usize != len {
        return None;
    }
    let interface = word::<BE>(h, 8);
    let iface = section.interfaces.get(interface as usize)?;
    let units = (u64::from(word::<BE>(h, 12)) << 32) | u64::from(word::<BE>(h, 16));
    let ts = iface.clock.timestamp(units);
    let link = iface.link;
    section.last_ts = ts;
    Some((
        PacketAt {
            ts,
            link,
            interface,
            orig_len: word::<BE>(h, 24),
            data: 28..28 + caplen,
        },
        len,
    ))
}

/// Reads blocks up to the next packet block, which is left unconsumed and
/// returned with its length; other blocks update the section or are skipped.
fn next_packet_block<R: Read>(
    input: &mut Input<R>,
    section: &mut Section,
) -> Result<Option<(PacketAt, usize)>, CaptureError> {
    loop {
        let have = fill(input, 12)?;
        if have == 0 {
            return Ok(None);
        }
        let offset = input.offset();
        let head = input.peek();
        let ty_bytes = head.first_chunk::<4>().copied().unwrap_or_default();
        let ty = u32::from_le_bytes(ty_bytes);
        let part = Part::Block(if ty == SHB {
            SHB
        } else {
            Fields {
                bytes: head,
                big_endian: section.big_endian,
            }
            .u32(0)
        });
        if have < 12 {
            return Err(CaptureError::CutOff {
                offset,
                // Fewer than four bytes do not say which block it was.
                part: if have < 4 { Part::BlockHeader } else { part },
                need: 12,
                have: have as u64,
            });
        }
        if ty == SHB {
            // The byte-order magic decides how this section, including its
            // own length field, is read.
            let bom = Fields {
                bytes: head,
                big_endian: false,
            }
            .u32(8);
            section.big_endian = match bom {
                BYTE_ORDER_MAGIC => false,
                m if m.swap_bytes() == BYTE_ORDER_MAGIC => true,
                m => return Err(malformed(offset, part, Malformation::ByteOrderMagic(m))),
            };
            section.interfaces.clear();
        }
        let fields = Fields {
            bytes: input.peek(),
            big_endian: section.big_endian,
        };
        let ty = fields.u32(0);
        let block_len = fields.u32(4);
        let len = block_len as usize;
        if block_len < 12 || block_len % 4 != 0 {
            return Err(malformed(
                offset,
                part,
                Malformation::BlockLength(block_len),
            ));
        }
        if len > MAX_RECORD_LEN {
            let why = Malformation::BlockTooLarge {
                len: u64::from(block_len),
                max: MAX_RECORD_LEN as u64,
            };
            return Err(malformed(offset, part, why));
        }
        require(input, len, part)?;
        let block = Fields {
            bytes: input.peek().get(..len).unwrap_or_default(),
            big_endian: section.big_endian,
        };
        let trailing = block.u32(len - 4);
        if trailing != block_len {
            let why = Malformation::TrailerMismatch {
                leading: block_len,
                trailing,
            };
            return Err(malformed(offset, part, why));
        }
        let body = Fields {
            bytes: block.bytes.get(8..len - 4).unwrap_or_default(),
            big_endian: section.big_endian,
        };
        let packet = match ty {
            SHB => {
                check_body(body, 16, offset, part)?;
                let (major, minor) = (body.u16(4), body.u16(6));
                if major != 1 {
                    let why = Malformation::UnsupportedVersion { major, minor };
                    return Err(malformed(offset, part, why));
                }
                None
            }
            IDB => {
                check_body(body, 8, offset, part)?;
                let clock = interface_clock(body, offset, part)?;
                let link = LinkType(u32::from(body.u16(0)));
                if section.links.len() < MAX_LINK_TYPES && !section.links.contains(&link) {
                    section.links.push(link);
                }
                if section.interfaces.len() >= MAX_INTERFACES {
                    let why = Malformation::TooManyInterfaces(MAX_INTERFACES);
                    return Err(malformed(offset, part, why));
                }
                section.interfaces.push(Interface {
                    link,
                    snaplen: body.u32(4),
                    clock,
                });
                None
            }
            EPB | OPB => {
                check_body(body, 20, offset, part)?;
                let interface = if ty == EPB {
                    body.u32(0)
                } else {
                    u32::from(body.u16(0))
                };
                let iface = interface_of(section, interface, offset, part)?;
                let caplen = body.u32(12);
                if caplen as usize > body.bytes.len() - 20 {
                    let why = Malformation::CapturedPastBlock { caplen };
                    return Err(malformed(offset, part, why));
                }
                let ts = iface.clock.timestamp(body.u64_hi_lo(4));
                section.last_ts = ts;
                Some(PacketAt {
                    ts,
                    link: iface.link,
                    interface,
                    orig_len: body.u32(16),
                    data: 28..28 + caplen as usize,
                })
            }
            SPB => {
                check_body(body, 4, offset, part)?;
                let iface = interface_of(section, 0, offset, part)?;
                let orig_len = body.u32(0);
                // The captured length is implied: the original length,
                // bounded by the snap length and the block.
                let mut caplen = (orig_len as usize).min(body.bytes.len() - 4);
                if iface.snaplen != 0 {
                    caplen = caplen.min(iface.snaplen as usize);
                }
                Some(PacketAt {
                    ts: section.last_ts,
                    link: iface.link,
                    interface: 0,
                    orig_len,
                    data: 12..12 + caplen,
                })
            }
            // Name resolution, statistics, custom and future blocks carry
            // nothing synprint uses.
            _ => None,
        };
        match packet {
            Some(p) => return Ok(Some((p, len))),
            None => {
                input.take(len);
            }
        }
    }
}

fn check_body(body: Fields<'_>, min: usize, offset: u64, part: Part) -> Result<(), CaptureError> {
    if body.bytes.len() < min {
        let why = Malformation::BodyTooShort {
            len: body.bytes.len(),
        };
        return Err(malformed(offset, part, why));
    }
    Ok(())
}

fn interface_of(
    section: &Section,
    id: u32,
    offset: u64,
    part: Part,
) -> Result<Interface, CaptureError> {
    section
        .interfaces
        .get(id as usize)
        .copied()
        .ok_or_else(|| malformed(offset, part, Malformation::UnknownInterface(id)))
}

/// Reads `if_tsresol` (9) and `if_tsoffset` (14) from an interface
/// description's options.
fn interface_clock(body: Fields<'_>, offset: u64, part: Part) -> Result<Clock, CaptureError> {
    let mut clock = Clock::MICROS;
    // Each may appear once; where a writer repeats one, the first counts,
    // as in tshark.
    let (mut resolution_seen, mut offset_seen) = (false, false);
    let mut at = 8;
    while at + 4 <= body.bytes.len() {
        let code = body.u16(at);
        let len = usize::from(body.u16(at + 2));
        let value = at + 4;
        if code == 0 {
            break;
        }
        if value + len > body.bytes.len() {
            return Err(malformed(offset, part, Malformation::OptionPastBlock));
        }
        match (code, len) {
            (9, 1) if !resolution_seen => {
                resolution_seen = true;
                let resolution = body.bytes.get(value).copied().unwrap_or(6);
                clock.unit = Clock::with_resolution(resolution).unit;
            }
            (14, 8) if !offset_seen => {
                offset_seen = true;
                clock.offset_secs = body.u64(value) as i64;
            }
            _ => {}
        }
        at = value + len.div_ceil(4) * 4;
    }
    Ok(clock)
}

impl Fields<'_> {
    /// A 64-bit integer stored whole in the section's byte order (unlike
    /// packet timestamps, which are two 32-bit halves, high first).
    fn u64(self, at: usize) -> u64 {
        let b = self
            .bytes
            .get(at..at + 8)
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
            .unwrap_or_default();
        if self.big_endian {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        }
    }
}

#[cfg(test)]
pub(super) mod tests_support {
    use super::Clock;

    /// Nanoseconds for `units` at the given `if_tsresol` byte.
    pub fn nanos_for(resolution: u8, units: u64) -> u64 {
        Clock::with_resolution(resolution).timestamp(units).0
    }
}

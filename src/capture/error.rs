use std::fmt;
use std::io;

/// Why a capture file cannot be read further. Every variant carries the
/// byte offset (from the start of the input) of the record or block where
/// reading stopped; records before it have been delivered.
///
/// The `Display` form is `error at byte N: why`, so a command line tool
/// prints `FILE: {error}`.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("error at byte {offset}: {}", not_a_capture(magic))]
    NotACapture { offset: u64, magic: Vec<u8> },
    #[error(
        "error at byte {offset}: the file ends in the middle of {part} ({have} of {need} bytes)"
    )]
    CutOff {
        offset: u64,
        part: Part,
        need: u64,
        have: u64,
    },
    #[error("error at byte {offset}: {part} is malformed: {why}")]
    Malformed {
        offset: u64,
        part: Part,
        why: Malformation,
    },
    /// The file could not be opened: no byte was read, so no offset.
    #[error("{0}")]
    Open(#[source] io::Error),
    #[error("error at byte {offset}: {source}")]
    Io {
        offset: u64,
        #[source]
        source: io::Error,
    },
}

/// What input that is not a capture is, where its first bytes tell: what
/// people most often hand over by mistake gets the command that helps.
fn not_a_capture(magic: &[u8]) -> String {
    let what = match magic {
        [] => return "the input is empty: not a pcap or pcapng capture".into(),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => {
            Some("zstd-compressed: `zstd -dc FILE | synprint analyze -`")
        }
        [0xfd, 0x37, 0x7a, 0x58, ..] => Some("xz-compressed: `xz -dc FILE | synprint analyze -`"),
        [b'B', b'Z', b'h', ..] => Some("bzip2-compressed: `bzip2 -dc FILE | synprint analyze -`"),
        // The frame format, and the legacy one (`lz4 -l`).
        [0x04, 0x22, 0x4d, 0x18, ..] | [0x02, 0x21, 0x4c, 0x18, ..] => {
            Some("lz4-compressed: `lz4 -dc FILE | synprint analyze -`")
        }
        [0xa1, 0xb2, 0xcd, 0x34] | [0x34, 0xcd, 0xb2, 0xa1] => {
            Some("a modified (Kuznetzov) pcap: convert it with `editcap -F pcap IN OUT`")
        }
        _ => None,
    };
    let bytes: Vec<String> = magic.iter().map(|b| format!("{b:02x}")).collect();
    match what {
        Some(what) => format!("not a pcap or pcapng capture but {what}"),
        None => format!(
            "not a pcap or pcapng capture (its first bytes, in hex: {})",
            bytes.join(" ")
        ),
    }
}

impl CaptureError {
    /// Byte offset of the record or block where reading stopped.
    pub fn offset(&self) -> u64 {
        match *self {
            CaptureError::NotACapture { offset, .. }
            | CaptureError::CutOff { offset, .. }
            | CaptureError::Malformed { offset, .. }
            | CaptureError::Io { offset, .. } => offset,
            CaptureError::Open(_) => 0,
        }
    }
}

/// The piece of a capture file an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The 24-byte header of a classic pcap file.
    PcapHeader,
    /// A classic pcap record (16-byte header and packet bytes).
    PcapRecord,
    /// A pcapng block of this type.
    Block(u32),
    /// The start of a pcapng block, too short to say its type.
    BlockHeader,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Part::PcapHeader => f.write_str("the pcap file header"),
            Part::PcapRecord => f.write_str("a pcap record"),
            Part::BlockHeader => f.write_str("a pcapng block header"),
            Part::Block(ty) => match block_name(ty) {
                Some(name) => write!(f, "a pcapng {name} block"),
                None => write!(f, "a pcapng block of type {ty:#x}"),
            },
        }
    }
}

fn block_name(ty: u32) -> Option<&'static str> {
    Some(match ty {
        0x0a0d_0d0a => "section header",
        1 => "interface description",
        2 => "obsolete packet",
        3 => "simple packet",
        6 => "enhanced packet",
        _ => return None,
    })
}

/// What is wrong with a malformed record or block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Malformation {
    #[error("version {major}.{minor} is not supported")]
    UnsupportedVersion { major: u16, minor: u16 },
    #[error("byte-order magic {0:#010x} is neither 0x1a2b3c4d nor its mirror")]
    ByteOrderMagic(u32),
    #[error("captured length {len} exceeds the {max}-byte limit")]
    TooLarge { len: u64, max: u64 },
    #[error("block length {len} exceeds the {max}-byte limit")]
    BlockTooLarge { len: u64, max: u64 },
    #[error("block length {0} is not a multiple of 4 of at least 12")]
    BlockLength(u32),
    #[error("block length {leading} at the start but {trailing} at the end")]
    TrailerMismatch { leading: u32, trailing: u32 },
    #[error("the block body is {len} bytes, too short for its fixed fields")]
    BodyTooShort { len: usize },
    #[error("captured length {caplen} runs past the end of the block")]
    CapturedPastBlock { caplen: u32 },
    #[error("an option runs past the end of the block")]
    OptionPastBlock,
    #[error("packet refers to interface {0}, which this section has not described")]
    UnknownInterface(u32),
    #[error("more than {0} interfaces in one section")]
    TooManyInterfaces(usize),
}

//! Capture files → timestamped frames with their link type.
//!
//! [`CaptureReader`] streams classic pcap and pcapng from any `Read`
//! (files, standard input, gzip-compressed either way through
//! [`decompressing`]), handing out frames borrowed from one reusable
//! buffer. The writers build captures for tests, fixtures and benchmarks.

mod compressed;
mod error;
mod input;
mod reader;
mod writer;

pub use compressed::{decompressing, decompressing_told};
pub use error::{CaptureError, Malformation, Part};
pub use reader::{CaptureFormat, CaptureReader, Frame, MAX_RECORD_LEN};
pub use writer::{
    ByteOrder, PcapPrecision, PcapWriter, PcapngInterface, PcapngWriter, TsResolution,
};

#[cfg(test)]
mod tests;

//! Capture files and live interfaces → timestamped frames with their link
//! type.
//!
//! [`CaptureReader`] streams classic pcap and pcapng from any `Read`
//! (files, standard input, gzip-compressed either way through
//! [`decompressing`]), handing out frames borrowed from one reusable
//! buffer; [`LiveCapture`] reads an interface's SYNs and SYN+ACKs (Linux,
//! CAP_NET_RAW). The writers build captures for tests, fixtures and
//! benchmarks.

mod bpf;
mod compressed;
mod error;
mod input;
mod live;
mod reader;
mod writer;

pub use compressed::{decompressing, plain_size};
pub use error::{CaptureError, Malformation, Part};
pub use live::{
    open_all, CaptureCounters, CaptureOptions, Delivery, LinkEvent, LiveCapture, LiveCaptureError,
    Stopped,
};
pub use reader::{CaptureFormat, CaptureReader, Frame, MAX_RECORD_LEN};
pub use writer::{
    ByteOrder, PcapPrecision, PcapWriter, PcapngInterface, PcapngWriter, TsResolution,
};

#[cfg(test)]
mod tests;

//! Capture files → timestamped frames with their link type.

mod writer;

pub use writer::PcapWriter;

//! synprint: passive TCP/IP fingerprinting.
//!
//! Data flows one way through these modules:
//!
//! - [`capture`]: capture files (pcap, pcapng) and live interfaces →
//!   timestamped frames with their link type (a live capture's in the
//!   blocks the kernel delivers them in).
//! - [`packet`]: a frame (or the kernel's saved SYN) → one
//!   [`packet::Observation`] per SYN / SYN+ACK, or a counted
//!   [`packet::Skip`] reason. The only place packet bytes are parsed.
//! - [`fingerprint`]: pure functions of an observation: zardaxt's fields,
//!   JA4T/JA4TS.
//! - [`p0f`]: the p0f 3 database, signature rendering and matching, MTU and
//!   uptime, exactly as p0f 3.09b computes them.
//! - [`classify`]: calibrated OS probabilities from built-in knowledge and
//!   learned models; the User-Agent verdict.
//! - [`analyze`]: the pipeline that ties the above into [`analyze::Record`]s,
//!   with retransmission tracking and counters.
//! - [`store`]: bounded, expiring memory of recent fingerprints per address,
//!   and the per-host inventory of a whole run.
//! - [`output`]: records (and inventories) → JSON lines or p0f-like text.
//! - [`serve`]: the HTTP API and kernel SAVED_SYN listener, fed also by
//!   live captures.
//! - [`craft`]: building packets byte by byte (tests, benchmarks, fixtures).
//! - [`json`], [`sink`]: leaves every layer uses: the JSON writer that
//!   records, matches and classifications write themselves into, and text
//!   written to either a formatter or that writer.
//!
//! What `synprint analyze` does, as a library: frames in, one [`analyze::Record`]
//! per first-seen SYN and SYN+ACK out, each with p0f's match, JA4T and the
//! classification (the built-in model and p0f database unless the
//! [`analyze::Engine`] is given others).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use synprint::analyze::{Analyzer, AnalyzerConfig, Engine};
//! use synprint::capture::CaptureReader;
//!
//! let engine = Engine::default();
//! let mut analyzer = Analyzer::new(&engine, AnalyzerConfig::default());
//! let mut reader = CaptureReader::open("samples/linux-loopback.pcap".as_ref())?;
//! let mut records = Vec::new();
//! while let Some(frame) = reader.next_frame()? {
//!     if let Some(record) = analyzer.process_frame(frame.link, frame.ts, frame.data) {
//!         records.push(record);
//!     }
//! }
//! let first = &records[0];
//! let class = first.classification().expect("every record is classified");
//! assert_eq!(class.family.name(), "Linux");
//! assert_eq!(first.p0f().raw_sig.to_string(), "4:64+0:0:65495:mss*1,10:mss,sok,ts,nop,ws:df,id+:0");
//! // The JSON line `synprint analyze --format jsonl` writes for it:
//! #[cfg(feature = "ja4t")]
//! assert_eq!(first.to_json_value()["ja4t"], "65495_2-4-8-1-3_65495_10");
//! // Every frame is counted once: as a record, a retransmission, another
//! // TCP segment or a skip with its reason.
//! let stats = analyzer.stats();
//! assert_eq!(stats.syn + stats.syn_ack, records.len() as u64);
//! assert_eq!(stats.packets, 128);
//! # Ok(()) }
//! ```
// Unsafe code is confined to the few system-call wrappers in `sys` that
// say why they need it, and the two memory hints in `hint`.
#![deny(unsafe_code)]

/// `eprintln!` that does not panic when standard error is gone: after a
/// hang-up (the terminal closed, SIGHUP) or with its pipe closed, a
/// message that cannot be written is dropped, and the run still ends as
/// it should (records flushed, the service drained).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
    }};
}

pub mod analyze;
pub mod bounded;
pub mod capture;
pub mod classify;
pub mod craft;
pub mod fingerprint;
mod hint;
pub mod json;
pub mod output;
pub mod p0f;
pub mod packet;
pub mod serve;
pub mod sink;
pub mod store;
pub mod sys;
mod table;

// The unit tests' skips are reported as the integration tests' are.
#[cfg(test)]
#[path = "../tests/skipped/mod.rs"]
mod skipped;

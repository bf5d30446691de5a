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

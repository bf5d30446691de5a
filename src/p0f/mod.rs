//! p0f 3.09b, exactly: the `p0f.fp` database, TCP signatures of SYNs and
//! SYN+ACKs as p0f renders them (`raw_sig`), matching as p0f matches them
//! (`os`, `dist`, generic and fuzzy flags), the MTU module and uptime from
//! TCP timestamps.
//!
//! The behaviour follows p0f 3.09b's source (fp_tcp.c, fp_mtu.c, readfp.c,
//! process.c), including its oddities, because p0f itself is the oracle the
//! differential test compares against:
//!
//! - the `ack+` quirk tests bit 24 of the acknowledgement number only (p0f
//!   masks the raw big-endian word with 1 on a little-endian host);
//! - `opt+` is set only when a non-zero byte after EOL is not the header's
//!   last byte;
//! - p0f reads at most 24 options; more make the signature `bad` and the rest
//!   is ignored (MSS, window scale, timestamps and EOL included);
//! - an IPv4 signature line can match an IPv6 packet and vice versa (p0f
//!   never compares the IP version, only version-specific quirks);
//! - a `ttl-` (bad TTL) line in p0f.fp silently swallows the first digit of
//!   the IP option length field.
//!
//! IPv6 packets with extension headers: p0f never fingerprints them (it drops
//! any IPv6 packet whose next header is not TCP). synprint fingerprints them
//! as if the extension headers were absent: `olen` is 0 and the header
//! length used for the `mtu*N` window form is 40 + the TCP header, exactly
//! the signature p0f would give the same SYN without extension headers.

mod db;
mod hasher;
mod matcher;
mod mtu;
mod nat;
mod signature;
mod uptime;

pub use db::{Database, DbError, DbErrorKind, Label, LoadError, Sys, TcpSigError, MAX_DB_BYTES};
pub use matcher::P0fMatch;
pub use mtu::{header_bytes, Mtu};
pub use nat::{HostChange, HostTracker, Reasons, Sighting};
pub use signature::{Layout, Quirks, TcpSignature, WindowForm};
pub use uptime::{HostKey, NoEstimate, Uptime, UptimeTracker};

/// p0f's MAX_DIST: the furthest a host may be from its signature's initial
/// TTL before the match counts as fuzzy.
pub const MAX_DIST: u8 = 35;

/// p0f's MAX_TCP_OPT: options past this many are not read.
pub(crate) const MAX_OPTIONS: usize = crate::packet::P0fOptionView::MAX_OPTIONS;

/// The most of a frame p0f reads (its `SNAPLEN`): a longer one fails its
/// length check, and p0f goes on as if it had not come.
pub(crate) const SNAPLEN: usize = 65_535;

#[cfg(test)]
pub(crate) mod testutil;

//! Text written piece by piece, to a formatter or into a record's JSON
//! ([`TextSink`]).

use std::fmt;

/// Where a fingerprint, signature or label is written: a formatter
/// (`Display`) or, on the record path, straight into the JSON buffer. One
/// writer per string serves both, so the two forms cannot drift apart.
pub trait TextSink {
    /// Text that needs no JSON escaping.
    fn text(&mut self, s: &str);
    fn number(&mut self, n: u64);
}

impl TextSink for crate::json::JsonBuf {
    #[inline]
    fn text(&mut self, s: &str) {
        self.raw_text(s);
    }

    #[inline]
    fn number(&mut self, n: u64) {
        self.raw_u64(n);
    }
}

/// A formatter as a [`TextSink`], keeping the first error.
pub(crate) struct FmtSink<'a, 'b> {
    f: &'a mut fmt::Formatter<'b>,
    result: fmt::Result,
}

impl TextSink for FmtSink<'_, '_> {
    fn text(&mut self, s: &str) {
        if self.result.is_ok() {
            self.result = self.f.write_str(s);
        }
    }

    fn number(&mut self, n: u64) {
        if self.result.is_ok() {
            self.result = write!(self.f, "{n}");
        }
    }
}

/// Runs `write` against `f`.
pub(crate) fn format_with(
    f: &mut fmt::Formatter<'_>,
    write: impl FnOnce(&mut FmtSink<'_, '_>),
) -> fmt::Result {
    let mut sink = FmtSink { f, result: Ok(()) };
    write(&mut sink);
    sink.result
}

//! A small, fast JSON writer for records.
//!
//! Records are the hot output path (millions per second from a capture), and
//! their shape is fixed, so keys are written as pre-escaped literals and
//! numbers with `itoa`/`ryu` instead of going through a generic serializer.
//! This is the only place a record's JSON is produced; `Serialize` for
//! `Record` embeds these bytes, so files and the HTTP API cannot drift apart.

use std::fmt::{self, Write as _};

/// Appends JSON to a byte buffer. Callers write well-formed structure; the
/// writer takes care of commas and string escaping.
#[derive(Default)]
pub struct JsonBuf {
    pub(crate) buf: Vec<u8>,
    /// Whether the next value in the current object/array needs a comma.
    comma: bool,
}

impl JsonBuf {
    pub fn new() -> Self {
        JsonBuf::default()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.comma = false;
    }

    fn sep(&mut self) {
        if self.comma {
            self.buf.push(b',');
        }
        self.comma = true;
    }

    pub fn begin_object(&mut self) {
        self.sep();
        self.buf.push(b'{');
        self.comma = false;
    }

    pub fn end_object(&mut self) {
        self.buf.push(b'}');
        self.comma = true;
    }

    pub fn begin_array(&mut self) {
        self.sep();
        self.buf.push(b'[');
        self.comma = false;
    }

    pub fn end_array(&mut self) {
        self.buf.push(b']');
        self.comma = true;
    }

    /// A key; `key` must not need escaping (all record keys are ASCII
    /// identifiers).
    pub fn key(&mut self, key: &str) {
        self.sep();
        self.buf.push(b'"');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\":");
        self.comma = false;
    }

    pub fn null(&mut self) {
        self.sep();
        self.buf.extend_from_slice(b"null");
    }

    pub fn bool(&mut self, v: bool) {
        self.sep();
        self.buf
            .extend_from_slice(if v { b"true" } else { b"false" });
    }

    pub fn u64(&mut self, v: u64) {
        self.sep();
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    /// A finite float; NaN and infinities (which JSON cannot hold) become null.
    pub fn f64(&mut self, v: f64) {
        if !v.is_finite() {
            return self.null();
        }
        self.sep();
        self.buf
            .extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    }

    /// A probability or score rounded to four decimals, written without
    /// float formatting (the classification writes a dozen per record).
    pub fn fixed4(&mut self, v: f32) {
        if !v.is_finite() {
            return self.null();
        }
        self.sep();
        let scaled = (f64::from(v) * 10_000.0).round();
        if scaled < 0.0 {
            self.buf.push(b'-');
        }
        let n = scaled.abs() as u64;
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(n / 10_000).as_bytes());
        let frac = n % 10_000;
        if frac != 0 {
            let digits = [
                b'0' + (frac / 1000) as u8,
                b'0' + (frac / 100 % 10) as u8,
                b'0' + (frac / 10 % 10) as u8,
                b'0' + (frac % 10) as u8,
            ];
            let len = 4 - digits.iter().rev().take_while(|&&d| d == b'0').count();
            self.buf.push(b'.');
            self.buf.extend_from_slice(&digits[..len]);
        }
    }

    pub fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            Some(v) => self.u64(v),
            None => self.null(),
        }
    }

    /// A string value, escaped as JSON requires.
    pub fn str(&mut self, s: &str) {
        self.sep();
        self.buf.push(b'"');
        escape_into(&mut self.buf, s);
        self.buf.push(b'"');
    }

    /// Any `Display` value as a JSON string, formatted straight into the
    /// buffer and escaped on the way.
    pub fn display(&mut self, v: impl fmt::Display) {
        self.sep();
        self.buf.push(b'"');
        let _ = write!(Escaper(&mut self.buf), "{v}");
        self.buf.push(b'"');
    }

    /// A `Display` value known to need no escaping (numbers, addresses,
    /// fingerprint strings built from digits, letters and punctuation other
    /// than `"` and `\\`); skips the escaping scan on the hot path.
    pub fn display_plain(&mut self, v: impl fmt::Display) {
        self.sep();
        self.buf.push(b'"');
        let _ = write!(Plain(&mut self.buf), "{v}");
        self.buf.push(b'"');
    }

    /// An IP address as a JSON string; IPv4 without the formatting machinery.
    pub fn ip(&mut self, addr: std::net::IpAddr) {
        match addr {
            std::net::IpAddr::V4(a) => {
                self.sep();
                self.buf.push(b'"');
                let mut itoa = itoa::Buffer::new();
                for (i, octet) in a.octets().into_iter().enumerate() {
                    if i > 0 {
                        self.buf.push(b'.');
                    }
                    self.buf.extend_from_slice(itoa.format(octet).as_bytes());
                }
                self.buf.push(b'"');
            }
            std::net::IpAddr::V6(a) => self.display_plain(a),
        }
    }

    pub fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.null(),
        }
    }
}

struct Plain<'a>(&'a mut Vec<u8>);

impl fmt::Write for Plain<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        debug_assert!(
            !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20),
            "needs escaping: {s:?}"
        );
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

struct Escaper<'a>(&'a mut Vec<u8>);

impl fmt::Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

fn escape_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_valid_json_that_serde_reads_back() {
        let mut j = JsonBuf::new();
        j.begin_object();
        j.key("a");
        j.str("quote \" backslash \\ newline \n bell \u{7} é");
        j.key("b");
        j.begin_array();
        j.u64(1);
        j.null();
        j.bool(true);
        j.f64(1.5);
        j.f64(f64::NAN);
        j.end_array();
        j.key("c");
        j.display(format_args!("{}-{}", 1, "x\"y"));
        j.key("d");
        j.begin_object();
        j.end_object();
        j.end_object();
        let v: serde_json::Value = serde_json::from_slice(j.as_bytes()).expect("valid JSON");
        assert_eq!(v["a"], "quote \" backslash \\ newline \n bell \u{7} é");
        assert_eq!(v["b"], serde_json::json!([1, null, true, 1.5, null]));
        assert_eq!(v["c"], "1-x\"y");
        assert_eq!(v["d"], serde_json::json!({}));
    }

    #[test]
    fn fixed4_rounds_and_trims() {
        let mut j = JsonBuf::new();
        j.begin_array();
        for v in [0.0f32, 1.0, 0.5, 0.12345, 0.99999, 0.0001, 0.00004] {
            j.fixed4(v);
        }
        j.end_array();
        assert_eq!(
            String::from_utf8_lossy(j.as_bytes()),
            "[0,1,0.5,0.1235,1,0.0001,0]"
        );
    }
}

//! A small, fast JSON writer for records.
//!
//! Records are the hot output path (millions per second from a capture), and
//! their shape is fixed, so keys are written as pre-escaped literals and
//! numbers with `itoa`/`ryu` instead of going through a generic serializer.
//! This is the only place a record's JSON is produced; `Serialize` for
//! `Record` embeds these bytes, so files and the HTTP API cannot drift apart.

use crate::packet::Timestamp;
use crate::sink::TextSink;

/// Appends JSON to a byte buffer. Callers write well-formed structure; the
/// writer takes care of commas and string escaping.
///
/// The storage is kept longer than the text written so far (`len` marks the
/// end of the text): the hot writers make room once and then copy into the
/// slack, instead of paying `Vec`'s capacity check and a `memcpy` call for
/// every few bytes of a ~1 KB record.
#[derive(Default)]
pub struct JsonBuf {
    buf: Vec<u8>,
    len: usize,
    /// Whether the next value in the current object/array needs a comma.
    comma: bool,
    /// The whole seconds [`JsonBuf::timestamp`] wrote last, and their
    /// digits: records come in time order, many to a second, so most
    /// timestamps copy ten digits instead of converting them.
    last_secs: (u64, [u8; 10]),
}

/// Room made at a time: one record fits many times over.
const GROW_MIN: usize = 4096;

/// `"00".."99"`: integers are written two digits at a time.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

impl JsonBuf {
    pub fn new() -> Self {
        JsonBuf::default()
    }

    pub fn into_bytes(mut self) -> Vec<u8> {
        self.buf.truncate(self.len);
        self.buf
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.len = 0;
        self.comma = false;
    }

    /// Ends a line of JSON lines; the next value starts a new document.
    pub fn newline(&mut self) {
        self.put(b"\n");
        self.comma = false;
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, n: usize) {
        let want = self.len.saturating_add(n).max(GROW_MIN);
        let size = want.max(self.buf.len().saturating_mul(2));
        self.buf.resize(size, 0);
    }

    /// The next `n` bytes of storage, made available if they are not.
    #[inline(always)]
    fn slack(&mut self, n: usize) -> &mut [u8] {
        // `len` is bounded by memory, far from overflowing.
        let end = self.len + n;
        if end > self.buf.len() {
            self.grow(n);
        }
        self.buf.get_mut(self.len..end).unwrap_or_default()
    }

    /// Appends bytes verbatim.
    #[inline(always)]
    fn put(&mut self, s: &[u8]) {
        let n = s.len();
        // Short runs (keys, names, numbers' pieces) are copied as two
        // overlapping fixed-size blocks, inline: a `memcpy` call costs more
        // than the copy itself at these sizes.
        let dst = self.slack(n.max(16));
        let copied = match n {
            0 => true,
            1..=3 => copy_upto3(dst, s),
            4..=7 => copy_overlapping::<4>(dst, s),
            8..=16 => copy_overlapping::<8>(dst, s),
            _ => match dst.get_mut(..n) {
                Some(d) => {
                    d.copy_from_slice(s);
                    true
                }
                None => false,
            },
        };
        if copied {
            self.len += n;
        }
    }

    /// Appends pre-built JSON structure verbatim, e.g. `,"key":` runs: the
    /// caller has written the separators, so the next value writes none.
    /// `s` must be valid, escaped JSON text.
    #[inline(always)]
    pub fn raw(&mut self, s: &str) {
        self.put(s.as_bytes());
        self.comma = false;
    }

    /// [`JsonBuf::raw`] for bytes remembered from earlier output (they are
    /// JSON text this buffer wrote).
    #[inline]
    pub fn raw_bytes(&mut self, s: &[u8]) {
        self.put(s);
        self.comma = false;
    }

    /// Appends a whole JSON value this buffer wrote before (a remembered
    /// object), as the value's own writer would leave the separators.
    #[inline]
    pub fn value_bytes(&mut self, v: &[u8]) {
        self.sep();
        self.put(v);
    }

    /// Appends text known to need no escaping (digits, letters, `,`, `_`…)
    /// inside a string value the caller opened with [`JsonBuf::raw`].
    #[inline(always)]
    pub fn raw_text(&mut self, s: &str) {
        self.put(s.as_bytes());
    }

    #[inline(always)]
    fn sep(&mut self) {
        if self.comma {
            self.put(b",");
        }
        self.comma = true;
    }

    #[inline]
    pub fn begin_object(&mut self) {
        self.sep();
        self.put(b"{");
        self.comma = false;
    }

    #[inline]
    pub fn end_object(&mut self) {
        self.put(b"}");
        self.comma = true;
    }

    #[inline]
    pub fn begin_array(&mut self) {
        self.sep();
        self.put(b"[");
        self.comma = false;
    }

    #[inline]
    pub fn end_array(&mut self) {
        self.put(b"]");
        self.comma = true;
    }

    /// A key; `key` must not need escaping (all record keys are ASCII
    /// identifiers).
    #[inline(always)]
    pub fn key(&mut self, key: &str) {
        let k = key.as_bytes();
        let comma = usize::from(self.comma);
        let head: &[u8] = if comma == 1 { b",\"" } else { b"\"" };
        let n = head.len() + k.len() + 2;
        let dst = self.slack(n);
        if let Some((h, rest)) = dst.split_at_mut_checked(head.len()) {
            if let Some((name, close)) = rest.split_at_mut_checked(k.len()) {
                if close.len() == 2 {
                    h.copy_from_slice(head);
                    name.copy_from_slice(k);
                    close.copy_from_slice(b"\":");
                    self.len += n;
                }
            }
        }
        self.comma = false;
    }

    #[inline]
    pub fn null(&mut self) {
        self.sep();
        self.put(b"null");
    }

    #[inline]
    pub fn bool(&mut self, v: bool) {
        self.sep();
        self.put(if v { b"true" } else { b"false" });
    }

    /// An integer's digits, written in place two at a time.
    #[inline]
    fn digits(&mut self, v: u64) {
        let n = decimal_len(v);
        let dst = self.slack(20);
        let Some(dst) = dst.get_mut(..n) else {
            return;
        };
        let mut v = v;
        let mut end = n;
        while v >= 100 {
            let pair = (v % 100) as usize * 2;
            v /= 100;
            if let (Some(d), Some(p)) = (
                dst.get_mut(end.wrapping_sub(2)..end),
                DIGIT_PAIRS.get(pair..pair + 2),
            ) {
                d.copy_from_slice(p);
            }
            end = end.wrapping_sub(2);
        }
        if v >= 10 {
            let pair = v as usize * 2;
            if let (Some(d), Some(p)) = (dst.get_mut(..2), DIGIT_PAIRS.get(pair..pair + 2)) {
                d.copy_from_slice(p);
            }
        } else if let Some(d) = dst.first_mut() {
            *d = b'0' + v as u8;
        }
        self.len += n;
    }

    #[inline]
    pub fn u64(&mut self, v: u64) {
        self.sep();
        self.digits(v);
    }

    /// An integer inside a string value the caller opened with
    /// [`JsonBuf::raw`] (fingerprint strings).
    #[inline]
    pub fn raw_u64(&mut self, v: u64) {
        self.digits(v);
    }

    /// A finite float; NaN and infinities (which JSON cannot hold) become null.
    pub fn f64(&mut self, v: f64) {
        if !v.is_finite() {
            return self.null();
        }
        self.sep();
        self.put(ryu::Buffer::new().format_finite(v).as_bytes());
    }

    /// A capture time in seconds: the text [`JsonBuf::f64`] writes for
    /// [`Timestamp::as_secs_f64`], the double nearest to it.
    ///
    /// Most captures stamp whole microseconds, and there that text is the
    /// microseconds' own decimal, trailing zeros trimmed, so no float is
    /// needed: f64 resolves steps finer than a microsecond below 2^32 s, so
    /// the nearest double reads back from that decimal and from no other
    /// with six decimals or fewer.
    pub fn timestamp(&mut self, ts: Timestamp) {
        let (secs, sub) = (ts.0 / 1_000_000_000, ts.0 % 1_000_000_000);
        // Below one second ryu switches to exponents.
        if sub % 1000 != 0 || !(1..1 << 32).contains(&secs) {
            return self.f64(ts.as_secs_f64());
        }
        self.sep();
        self.secs(secs);
        // Whole seconds print as `.0`, as ryu writes them.
        self.decimals::<3>((sub / 1000) as u32);
    }

    /// `secs` (1 to 2^32) from the last timestamp's digits when they are
    /// the same; only ten-digit seconds are kept (every date from 2001 on).
    #[inline]
    fn secs(&mut self, secs: u64) {
        let (last, text) = self.last_secs;
        if secs == last {
            return self.put(&text);
        }
        let at = self.len;
        self.digits(secs);
        if let Some(t) = self
            .buf
            .get(at..self.len)
            .and_then(|d| d.first_chunk::<10>())
        {
            self.last_secs = (secs, *t);
        }
    }

    /// A dot and the `2 * PAIRS` decimals of `frac` (below 10^(2 * PAIRS)),
    /// trailing zeros dropped but one digit kept: `.5`, `.0625`, `.0`.
    #[inline]
    fn decimals<const PAIRS: usize>(&mut self, frac: u32) {
        let n = 1 + 2 * PAIRS;
        let dst = self.slack(n);
        let Some(dst) = dst.get_mut(..n) else {
            return;
        };
        dst[0] = b'.';
        let mut rest = frac as usize;
        for i in (0..PAIRS).rev() {
            let pair = rest % 100 * 2;
            rest /= 100;
            if let (Some(d), Some(p)) = (
                dst.get_mut(1 + 2 * i..3 + 2 * i),
                DIGIT_PAIRS.get(pair..pair + 2),
            ) {
                d.copy_from_slice(p);
            }
        }
        let mut len = n;
        let mut rest = frac;
        while len > 2 && rest % 10 == 0 {
            rest /= 10;
            len -= 1;
        }
        self.len += len;
    }

    /// A probability or score rounded to four decimals, written without
    /// float formatting (the classification writes a dozen per record).
    pub fn fixed4(&mut self, v: f32) {
        if !v.is_finite() {
            return self.null();
        }
        self.sep();
        let scaled = f64::from(v) * 10_000.0;
        let mag = scaled.abs();
        // Below 2^40, `mag` holds at most 38 significant bits (an f32 times
        // 10 000), so adding one half is exact and truncating it rounds
        // half away from zero exactly as `f64::round` does, without the
        // libm call.
        let n = if mag < (1u64 << 40) as f64 {
            (mag + 0.5) as u64
        } else {
            mag.round() as u64
        };
        // Most scores of a record are 0 or 1.
        match n {
            0 => return self.put(b"0"),
            10_000 if scaled > 0.0 => return self.put(b"1"),
            _ => {}
        }
        if scaled < 0.0 {
            self.put(b"-");
        }
        self.digits(n / 10_000);
        let frac = (n % 10_000) as u32;
        if frac != 0 {
            self.decimals::<2>(frac);
        }
    }

    /// A probability: what [`JsonBuf::fixed4`] writes, with a short path
    /// for values in `[0, 1]` (`0`, `1` or `0.` and up to four decimals),
    /// which a classification writes sixteen of.
    #[inline]
    pub fn prob4(&mut self, v: f32) {
        // NaN fails both comparisons.
        if !(0.0..=1.0).contains(&v) {
            return self.fixed4(v);
        }
        self.sep();
        // As in fixed4: exact rounding half away from zero (v * 10 000
        // holds at most 38 significant bits in an f64).
        let n = (f64::from(v) * 10_000.0 + 0.5) as usize;
        let (hi, lo) = (n / 100, n % 100);
        let (Some(h), Some(l)) = (
            DIGIT_PAIRS.get(hi * 2..hi * 2 + 2),
            DIGIT_PAIRS.get(lo * 2..lo * 2 + 2),
        ) else {
            // n is 10 000: one.
            return self.put(b"1");
        };
        if n == 0 {
            return self.put(b"0");
        }
        let text = [b'0', b'.', h[0], h[1], l[0], l[1]];
        // Trailing zeros go; n is not 0, so a digit stays.
        let zeros = if lo != 0 {
            usize::from(lo % 10 == 0)
        } else {
            2 + usize::from(hi % 10 == 0)
        };
        self.put(text.get(..6 - zeros).unwrap_or_default());
    }

    #[inline]
    pub fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            Some(v) => self.u64(v),
            None => self.null(),
        }
    }

    /// A string value, escaped as JSON requires.
    pub fn str(&mut self, s: &str) {
        self.sep();
        self.put(b"\"");
        self.escaped(s);
        self.put(b"\"");
    }

    /// A string value written piece by piece (a fingerprint's or label's
    /// `write_to`), escaped on the way, without the formatting machinery.
    #[inline]
    pub fn string_with(&mut self, write: impl FnOnce(&mut Escaped<'_>)) {
        self.sep();
        self.put(b"\"");
        write(&mut Escaped(self));
        self.put(b"\"");
    }

    /// An IP address as a JSON string; IPv4 without the formatting machinery.
    #[inline]
    pub fn ip(&mut self, addr: std::net::IpAddr) {
        self.sep();
        self.put(b"\"");
        self.raw_ip(addr);
        self.put(b"\"");
    }

    /// An IP address's text (as `Display` writes it), without quotes.
    #[inline]
    pub fn raw_ip(&mut self, addr: std::net::IpAddr) {
        match addr {
            std::net::IpAddr::V4(a) => self.raw_ipv4(a),
            std::net::IpAddr::V6(a) => self.raw_ipv6(a),
        }
    }

    /// An IPv4 address's dotted quad inside a string value the caller
    /// opened with [`JsonBuf::raw`].
    ///
    /// Each octet's digits and dot come whole from a table and are shifted
    /// into place in a register; the address goes out as one 16-byte store
    /// (the last dot is not counted). Storing the pieces byte by byte into
    /// a local array and reading it back as a word stalls the CPU's store
    /// forwarding: that cost more than the rest of the record's numbers.
    #[inline]
    pub fn raw_ipv4(&mut self, a: std::net::Ipv4Addr) {
        let mut text = 0u128;
        let mut bits = 0u32;
        for b in a.octets() {
            let piece = OCTET_DOT[usize::from(b)];
            // The low 32 bits are the text, the high ones its length.
            text |= u128::from(piece as u32) << bits;
            bits += 8 * (piece >> 32) as u32;
        }
        let dst = self.slack(16);
        if let Some(dst) = dst.first_chunk_mut::<16>() {
            *dst = text.to_le_bytes();
            self.len += (bits / 8) as usize - 1;
        }
    }

    /// An IPv6 address as `Display` writes it (RFC 5952: lowercase hex, the
    /// first longest run of two or more zero groups as `::`, IPv4-mapped
    /// addresses in dotted form), without the formatting machinery, inside
    /// a string value the caller opened with [`JsonBuf::raw`].
    pub fn raw_ipv6(&mut self, a: std::net::Ipv6Addr) {
        if let Some(v4) = a.to_ipv4_mapped() {
            self.put(b"::ffff:");
            return self.raw_ipv4(v4);
        }
        let groups = a.segments();
        // The first longest run of zero groups, if two or more long.
        let (mut best_at, mut best_len) = (0, 0);
        let mut run = 0;
        for (i, &g) in groups.iter().enumerate() {
            run = if g == 0 { run + 1 } else { 0 };
            if run > best_len {
                best_len = run;
                best_at = i + 1 - run;
            }
        }
        let skip = if best_len >= 2 {
            best_at..best_at + best_len
        } else {
            0..0
        };
        // At most 39 characters; each group is stored as four bytes and
        // the position advanced by its length, so room for one more group.
        let dst = self.slack(44);
        let Some(out) = dst.first_chunk_mut::<44>() else {
            return;
        };
        let mut at = 0;
        for (i, &g) in groups.iter().enumerate() {
            if skip.contains(&i) {
                if i == skip.start {
                    if let Some(d) = out.get_mut(at..at + 2) {
                        d.copy_from_slice(b"::");
                    }
                    at += 2;
                }
                continue;
            }
            if i > 0 && i != skip.end {
                if let Some(d) = out.get_mut(at) {
                    *d = b':';
                }
                at += 1;
            }
            let (text, len) = hex_group(g);
            if let Some(d) = out.get_mut(at..).and_then(|d| d.first_chunk_mut::<4>()) {
                *d = text.to_le_bytes();
            }
            at += len;
        }
        self.len += at.min(44);
    }

    #[inline]
    pub fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.null(),
        }
    }

    /// `s` escaped, without quotes.
    #[inline]
    fn escaped(&mut self, s: &str) {
        let bytes = s.as_bytes();
        // Nearly every string needs no escaping: one table scan, one copy.
        if !bytes.iter().any(|&b| ESCAPE[usize::from(b)] != 0) {
            return self.put(bytes);
        }
        self.escaped_slow(bytes);
    }

    #[cold]
    fn escaped_slow(&mut self, bytes: &[u8]) {
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let code = ESCAPE[usize::from(b)];
            if code == 0 {
                continue;
            }
            self.put(bytes.get(start..i).unwrap_or_default());
            start = i + 1;
            if code == b'u' {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let hi = HEX[usize::from(b >> 4)];
                let lo = HEX[usize::from(b & 0xf)];
                self.put(&[b'\\', b'u', b'0', b'0', hi, lo]);
            } else {
                self.put(&[b'\\', code]);
            }
        }
        self.put(bytes.get(start..).unwrap_or_default());
    }
}

/// A 16-bit group's lowercase hex digits without leading zeros (one digit
/// for 0), little-endian in the bytes of a word, and how many there are.
/// The four nibbles are spread one per byte and turned into digits in one
/// go, instead of a table lookup and a store per digit.
#[inline(always)]
pub(crate) fn hex_group(g: u16) -> (u32, usize) {
    let x = u32::from(g);
    // The first digit (the top nibble) in the lowest byte: text order.
    let spread = (x >> 12) | (x >> 8 & 0xf) << 8 | (x >> 4 & 0xf) << 16 | (x & 0xf) << 24;
    // 0x01 in each byte whose nibble is 10 or more (adding 6 carries into bit 4).
    let letters = (spread + 0x0606_0606) >> 4 & 0x0101_0101;
    let text = spread + 0x3030_3030 + letters * u32::from(b'a' - b'0' - 10);
    let len = (16 - g.leading_zeros() as usize).div_ceil(4).max(1);
    // Off the leading zeros' digits: the low bytes.
    (text >> (8 * (4 - len)), len)
}

/// Each byte's decimal text followed by a dot, little-endian in the low 32
/// bits, and the length of both in the bits above.
static OCTET_DOT: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let (h, te, o) = ((i / 100) as u64, (i / 10 % 10) as u64, (i % 10) as u64);
        let (d, dot) = (b'0' as u64, b'.' as u64);
        t[i] = if i >= 100 {
            (d + h) | (d + te) << 8 | (d + o) << 16 | dot << 24 | 4 << 32
        } else if i >= 10 {
            (d + te) | (d + o) << 8 | dot << 16 | 3 << 32
        } else {
            (d + o) | dot << 8 | 2 << 32
        };
        i += 1;
    }
    t
};

/// Number of decimal digits of `v` (1 for 0), from its bit length.
#[inline(always)]
fn decimal_len(v: u64) -> usize {
    const POW10: [u64; 20] = {
        let mut t = [1u64; 20];
        let mut i = 1;
        while i < 20 {
            t[i] = t[i - 1] * 10;
            i += 1;
        }
        t
    };
    let bits = 64 - (v | 1).leading_zeros();
    // bits * log10(2), by 1233/4096: the digit count or one more.
    let guess = ((bits * 1233) >> 12) as usize;
    let below = POW10.get(guess).is_some_and(|&p| (v | 1) < p);
    guess + 1 - usize::from(below)
}

/// Copies 1 to 3 bytes: first, middle and last (which may coincide).
#[inline(always)]
fn copy_upto3(dst: &mut [u8], s: &[u8]) -> bool {
    let n = s.len();
    let (Some(&a), Some(&b), Some(&c)) = (s.first(), s.get(n / 2), s.last()) else {
        return false;
    };
    if dst.len() < n {
        return false;
    }
    for (i, v) in [(0, a), (n / 2, b), (n - 1, c)] {
        if let Some(d) = dst.get_mut(i) {
            *d = v;
        }
    }
    true
}

/// Copies `K..=2K` bytes as the first `K` and the last `K` (overlapping).
#[inline(always)]
fn copy_overlapping<const K: usize>(dst: &mut [u8], s: &[u8]) -> bool {
    let n = s.len();
    let tail_at = n.wrapping_sub(K);
    let (Some(head), Some(tail)) = (
        s.first_chunk::<K>(),
        s.get(tail_at..).and_then(|t| t.first_chunk::<K>()),
    ) else {
        return false;
    };
    let Some(d) = dst.get_mut(..n) else {
        return false;
    };
    if let Some(dh) = d.first_chunk_mut::<K>() {
        *dh = *head;
    }
    if let Some(dt) = d.get_mut(tail_at..).and_then(|t| t.first_chunk_mut::<K>()) {
        *dt = *tail;
    }
    true
}

/// For each byte: 0 when it stands for itself in a JSON string, else the
/// letter after the backslash (`u` for `\u00XX`).
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// The inside of a JSON string as a [`TextSink`]: text is escaped as
/// needed (labels come from user-supplied databases), numbers are digits.
pub struct Escaped<'a>(&'a mut JsonBuf);

impl TextSink for Escaped<'_> {
    #[inline]
    fn text(&mut self, s: &str) {
        self.0.escaped(s);
    }

    #[inline]
    fn number(&mut self, n: u64) {
        self.0.digits(n);
    }
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
        j.string_with(|s| {
            s.number(1);
            s.text("-x\"y");
        });
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

    fn prob4_text(v: f32) -> String {
        let mut j = JsonBuf::new();
        j.begin_array();
        j.prob4(v);
        j.prob4(v);
        text(&j).to_string()
    }

    fn fixed4_text(v: f32) -> String {
        let mut j = JsonBuf::new();
        j.begin_array();
        j.fixed4(v);
        j.fixed4(v);
        text(&j).to_string()
    }

    /// Every four-decimal probability, and the halfway points between
    /// them (the rounding and trimming edges).
    #[test]
    fn prob4_on_every_four_decimal_value() {
        for n in 0..=10_000u16 {
            for v in [f32::from(n) / 10_000.0, (f32::from(n) + 0.5) / 10_000.0] {
                assert_eq!(prob4_text(v), fixed4_text(v), "{v}");
            }
        }
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

    fn text(j: &JsonBuf) -> &str {
        std::str::from_utf8(j.as_bytes()).expect("UTF-8")
    }

    #[test]
    fn integers_of_every_length() {
        let mut v = 1u64;
        let mut cases = vec![0, u64::MAX, 9, 10, 99, 100, 101];
        let u32_max = u64::from(u32::MAX);
        cases.extend([u32_max - 1, u32_max, u32_max + 1, 100_000_001, 10_000_100]);
        while let Some(next) = v.checked_mul(10) {
            cases.extend([v - 1, v, v + 1, next / 2 + 7]);
            v = next;
        }
        for n in cases {
            let mut j = JsonBuf::new();
            j.u64(n);
            assert_eq!(text(&j), n.to_string());
        }
    }

    /// Every copy path of `put` (inline blocks by size, `memcpy` above
    /// 16 bytes) appends exactly the bytes given, at any offset.
    #[test]
    fn runs_of_every_length_append_verbatim() {
        let source: Vec<u8> = (0..100u8).map(|i| b'!' + i % 90).collect();
        for n in 0..=source.len() {
            for offset in [0usize, 1, 7, 13] {
                let mut j = JsonBuf::new();
                let lead = &source[..offset];
                j.raw_bytes(lead);
                j.raw_bytes(&source[..n]);
                j.raw_bytes(b"|");
                let mut want = lead.to_vec();
                want.extend_from_slice(&source[..n]);
                want.push(b'|');
                assert_eq!(j.as_bytes(), &want[..], "{n} bytes at {offset}");
            }
        }
    }

    #[test]
    fn growing_keeps_earlier_text() {
        let mut j = JsonBuf::new();
        j.begin_array();
        let mut want = String::from("[");
        for i in 0..5000u64 {
            j.u64(i * 7919);
            j.str("ab\"c");
            want.push_str(&format!(
                "{}{},\"ab\\\"c\"",
                if i > 0 { "," } else { "" },
                i * 7919
            ));
        }
        j.end_array();
        want.push(']');
        assert_eq!(text(&j), want);
        assert_eq!(j.len(), want.len());
        assert_eq!(j.into_bytes(), want.into_bytes());
    }

    #[test]
    fn every_byte_escapes_as_before() {
        for b in 0u8..0x80 {
            let s = format!("a{}b", char::from(b));
            let mut j = JsonBuf::new();
            j.str(&s);
            let want = match b {
                b'\n' => "\\n".to_string(),
                b'\r' => "\\r".to_string(),
                b'\t' => "\\t".to_string(),
                b'"' => "\\\"".to_string(),
                b'\\' => "\\\\".to_string(),
                0..0x20 => format!("\\u{b:04x}"),
                _ => char::from(b).to_string(),
            };
            assert_eq!(text(&j), format!("\"a{want}b\""), "{b:#x}");
            let back: String = serde_json::from_slice(j.as_bytes()).expect("valid JSON");
            assert_eq!(back, s);
        }
    }

    #[test]
    fn ipv4_addresses_with_every_octet() {
        for i in 0..=255u8 {
            let a = std::net::Ipv4Addr::new(i, 255 - i, i / 2, i % 10);
            let mut j = JsonBuf::new();
            j.ip(a.into());
            assert_eq!(text(&j), format!("\"{a}\""));
        }
    }

    #[test]
    fn ipv6_edge_cases() {
        for text_form in [
            "::",
            "::1",
            "1::",
            "1:0:0:1::1",
            "1::1:0:0:1",
            "1:0:1:0:1:0:1:0",
            "2001:db8::ff00:42:8329",
            "::ffff:192.0.2.1",
            "::192.0.2.1",
            "fe80::1:0:0:0",
            "2::7",
            "1:2:3:4:5:6:7:8",
            "a:bc:def:1234::f",
            "20:300:4000:ffff:9:a0:b00:c000",
        ] {
            let a: std::net::Ipv6Addr = text_form.parse().expect("valid address");
            let mut j = JsonBuf::new();
            j.ip(a.into());
            assert_eq!(text(&j), format!("\"{a}\""), "{text_form}");
        }
    }

    fn secs_text(nanos: u64) -> (String, String) {
        let (mut fast, mut slow) = (JsonBuf::new(), JsonBuf::new());
        fast.timestamp(Timestamp(nanos));
        slow.f64(Timestamp(nanos).as_secs_f64());
        (text(&fast).to_string(), text(&slow).to_string())
    }

    /// Every microsecond of a few seconds across the range, and the edges:
    /// the shortcut must write what ryu writes, digit for digit.
    #[test]
    fn timestamps_write_what_ryu_writes() {
        for secs in [
            1u64,
            9,
            10,
            1_073_741_823,
            1_073_741_824,
            1_700_000_000,
            2_147_483_647,
            4_294_967_295,
        ] {
            for micros in (0..1_000_000u64).step_by(7).chain([999_999, 100_000, 10]) {
                let nanos = secs * 1_000_000_000 + micros * 1000;
                let (fast, slow) = secs_text(nanos);
                assert_eq!(fast, slow, "{nanos}");
            }
        }
        for nanos in [
            0,
            1,
            999,
            1000,
            999_999_000,
            4_294_967_296_000_000_000,
            u64::MAX,
        ] {
            let (fast, slow) = secs_text(nanos);
            assert_eq!(fast, slow, "{nanos}");
        }
    }

    proptest::proptest! {
        #[test]
        fn integers_of_any_length_write_what_display_writes(
            v in proptest::prelude::any::<u64>(),
            shift in 0u32..64,
        ) {
            let v = v >> shift;
            let mut j = JsonBuf::new();
            j.begin_array();
            j.u64(v);
            j.u64(v % 1000);
            j.end_array();
            proptest::prop_assert_eq!(text(&j), format!("[{v},{}]", v % 1000));
        }

        #[test]
        fn ipv6_addresses_as_display_writes_them(
            groups in proptest::array::uniform8(proptest::prop_oneof![
                proptest::prelude::Just(0u16),
                proptest::prelude::Just(0xffffu16),
                proptest::prelude::any::<u16>(),
            ])
        ) {
            for a in [
                std::net::Ipv6Addr::from(groups),
                std::net::Ipv4Addr::from(u32::from(groups[0]) << 16 | u32::from(groups[1]))
                    .to_ipv6_mapped(),
                std::net::Ipv4Addr::from(u32::from(groups[0]) << 16 | u32::from(groups[1]))
                    .to_ipv6_compatible(),
            ] {
                let mut j = JsonBuf::new();
                j.ip(a.into());
                proptest::prop_assert_eq!(text(&j), format!("\"{a}\""));
            }
        }

        #[test]
        fn timestamps_of_any_precision_write_what_ryu_writes(
            nanos in proptest::prelude::any::<u64>(),
            micros in 0u64..(1 << 32) * 1_000_000,
        ) {
            let (fast, slow) = secs_text(nanos);
            proptest::prop_assert_eq!(fast, slow);
            let (fast, slow) = secs_text(micros * 1000);
            proptest::prop_assert_eq!(fast, slow);
        }

        /// One buffer across records, as the writers keep it: the digits
        /// remembered from one timestamp's seconds must serve only the same
        /// seconds.
        #[test]
        fn timestamps_in_one_buffer_write_what_ryu_writes(
            stamps in proptest::collection::vec(
                (
                    proptest::prop_oneof![
                        proptest::prelude::Just(1_700_000_000u64),
                        proptest::prelude::Just(1_700_000_001u64),
                        proptest::prelude::Just(999_999_999u64),
                        proptest::prelude::Just(1u64 << 32),
                        0u64..(1 << 33),
                    ],
                    0u64..1_000_000_000,
                    proptest::prelude::any::<bool>(),
                ),
                1..40,
            )
        ) {
            let (mut fast, mut slow) = (JsonBuf::new(), JsonBuf::new());
            fast.begin_array();
            slow.begin_array();
            for (secs, nanos, whole_micros) in stamps {
                let nanos = if whole_micros { nanos / 1000 * 1000 } else { nanos };
                let t = Timestamp(secs * 1_000_000_000 + nanos);
                fast.timestamp(t);
                slow.f64(t.as_secs_f64());
            }
            fast.end_array();
            slow.end_array();
            proptest::prop_assert_eq!(text(&fast), text(&slow));
        }

        #[test]
        fn strings_round_trip(s in "\\PC*") {
            let mut j = JsonBuf::new();
            j.begin_array();
            j.str(&s);
            j.string_with(|t| t.text(&s));
            j.end_array();
            let v: Vec<String> = serde_json::from_slice(j.as_bytes()).expect("valid JSON");
            proptest::prop_assert_eq!(v, vec![s.clone(), s]);
        }

        #[test]
        fn fixed4_matches_rounding_by_the_book(v in proptest::num::f32::ANY) {
            let mut j = JsonBuf::new();
            j.fixed4(v);
            let want = if v.is_finite() {
                let scaled = (f64::from(v) * 10_000.0).round();
                let n = scaled.abs() as u64;
                let mut w = String::new();
                if scaled < 0.0 {
                    w.push('-');
                }
                w.push_str(&(n / 10_000).to_string());
                let frac = format!("{:04}", n % 10_000);
                let frac = frac.trim_end_matches('0');
                if !frac.is_empty() {
                    w.push('.');
                    w.push_str(frac);
                }
                w
            } else {
                "null".to_string()
            };
            proptest::prop_assert_eq!(text(&j), want);
        }

        #[test]
        fn prob4_writes_what_fixed4_writes(v in proptest::num::f32::ANY, p in 0.0f32..=1.0) {
            for v in [v, p] {
                proptest::prop_assert_eq!(prob4_text(v), fixed4_text(v), "{}", v);
            }
        }
    }
}

use std::io::{self, Read};

/// Bytes are read from the source in chunks of this size: large enough that
/// one `read` call serves thousands of records.
const CHUNK: usize = 1 << 20;

/// The buffer starts smaller and grows to `CHUNK` once the stream proves
/// longer, so short inputs (tests, fuzzing, tiny files) stay cheap.
const FIRST_CHUNK: usize = 64 << 10;

/// A window over a byte stream with one reusable buffer. Records are handed
/// out as slices of the buffer, so nothing is allocated per packet; the
/// buffer grows only for a record larger than any before it.
pub(super) struct Input<R> {
    src: R,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// Offset in the stream of `buf[start]`.
    offset: u64,
    eof: bool,
}

impl<R: Read> Input<R> {
    pub(super) fn new(src: R) -> Self {
        Input {
            src,
            buf: vec![0; FIRST_CHUNK],
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
        }
    }

    /// Stream offset of the next unconsumed byte.
    pub(super) fn offset(&self) -> u64 {
        self.offset
    }

    /// Makes `n` bytes available if the stream has them; returns how many
    /// are available (fewer than `n` only at the end of the stream).
    #[inline]
    pub(super) fn fill(&mut self, n: usize) -> io::Result<usize> {
        let have = self.end - self.start;
        if have >= n {
            return Ok(have);
        }
        self.fill_slow(n)
    }

    #[cold]
    fn fill_slow(&mut self, n: usize) -> io::Result<usize> {
        if self.buf.len() < CHUNK && self.offset >= FIRST_CHUNK as u64 {
            self.buf.resize(CHUNK, 0);
        }
        if self.buf.len() - self.start < n || self.start >= self.buf.len() / 2 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end - self.start < n && !self.eof {
            if self.end == self.buf.len() {
                // Grow only as data arrives: a corrupt length field must not
                // allocate what the stream never delivers.
                let want = (self.buf.len() * 2).min(n.next_power_of_two());
                self.buf.resize(want.max(self.buf.len() + 1), 0);
            }
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end - self.start)
    }

    /// The available bytes from the current position (call `fill` first).
    #[inline]
    pub(super) fn peek(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Consumes `n` bytes (at most what `fill` made available) and returns
    /// them.
    #[inline]
    pub(super) fn take(&mut self, n: usize) -> &[u8] {
        let at = self.start;
        let n = n.min(self.end - at);
        self.start += n;
        self.offset += n as u64;
        &self.buf[at..at + n]
    }
}

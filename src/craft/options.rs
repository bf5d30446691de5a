/// Builder for raw TCP option bytes, in the order the calls are made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OptionBytes(pub Vec<u8>);

impl OptionBytes {
    pub fn new() -> Self {
        OptionBytes(Vec::new())
    }
    pub fn mss(mut self, mss: u16) -> Self {
        self.0.extend_from_slice(&[2, 4]);
        self.0.extend_from_slice(&mss.to_be_bytes());
        self
    }
    pub fn nop(mut self) -> Self {
        self.0.push(1);
        self
    }
    pub fn ws(mut self, shift: u8) -> Self {
        self.0.extend_from_slice(&[3, 3, shift]);
        self
    }
    pub fn sok(mut self) -> Self {
        self.0.extend_from_slice(&[4, 2]);
        self
    }
    pub fn ts(mut self, val: u32, ecr: u32) -> Self {
        self.0.extend_from_slice(&[8, 10]);
        self.0.extend_from_slice(&val.to_be_bytes());
        self.0.extend_from_slice(&ecr.to_be_bytes());
        self
    }
    pub fn eol(mut self) -> Self {
        self.0.push(0);
        self
    }
    /// Arbitrary bytes, for malformed or unusual options.
    pub fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
    /// Pads with zero bytes (EOL) to a multiple of four, as stacks do.
    pub fn pad(mut self) -> Self {
        while self.0.len() % 4 != 0 {
            self.0.push(0);
        }
        self
    }
}

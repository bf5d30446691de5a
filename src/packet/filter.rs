//! Which SYNs and SYN+ACKs to keep: the part of tcpdump's filter language
//! (pcap-filter(7)) that p0f users pass as `'port 443'` or
//! `'net 10.0.0.0/8 and not host 10.0.0.1'`, read without libpcap and
//! applied to each decoded [`Observation`] (so to the fingerprinted TCP
//! segment, inside a tunnel too, and past IPv6 extension headers, where a
//! BPF program reads the outer header or gives up).
//!
//! Understood: `host ADDR`, `net ADDR/LEN`, `net ADDR mask MASK`, `net`
//! with a short dotted form or a number (`net 192.168`, `net 10`), `port N`,
//! `portrange N-M`, each with `src`, `dst`, `src or dst` or `src and dst`,
//! and `ip`, `ip6` or `tcp` before them or alone; `not`/`!`, `and`/`&&`,
//! `or`/`||` and parentheses. Read as tcpdump reads them: `not` binds
//! tightest, `and` and `or` bind equally and from the left; a bare value
//! repeats the qualifiers before it (`port 80 or 443`), and after a
//! parenthesised group those from before the group; numbers in C's bases;
//! dotted IPv4 with leading zeros, short forms widened to the network they
//! name. Anything else (link-layer and byte-offset tests, host names,
//! service names) is an error naming it, never a guess; so is what tcpdump
//! refuses (`net 10.0.0.1/8`, `tcp host X`, `ip port N`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{IpVersion, Observation};

/// A parsed filter; [`Filter::matches`] says whether to keep an observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    expr: Expr,
    text: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Expr {
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Test(Test),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Any,
    /// Every observation is TCP: as `Any`, but named.
    Tcp,
    Ip,
    Ip6,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    SrcOrDst,
    SrcAndDst,
    Src,
    Dst,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum What {
    Host,
    Net,
    Port,
    PortRange,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    /// Nothing to compare: `ip`, `ip6` or `tcp` alone.
    Always,
    /// An address and the number of leading bits that must agree.
    Net(IpAddr, u8),
    Ports(u16, u16),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Test {
    proto: Proto,
    dir: Dir,
    value: Value,
}

/// Why a filter cannot be read: what and where (a byte offset into it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (at byte {at})")]
pub struct FilterError {
    pub filter: String,
    pub at: usize,
    pub reason: String,
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let tokens = tokenize(text)?;
        let mut p = Parser {
            text,
            tokens,
            next: 0,
            last: None,
            depth: 0,
            tests: 0,
        };
        let expr = p.expr()?;
        if let Some(t) = p.peek() {
            return Err(p.error(t.at, format!("unexpected {:?}", t.text)));
        }
        Ok(Filter {
            expr,
            text: text.to_string(),
        })
    }

    pub fn matches(&self, obs: &Observation) -> bool {
        self.expr.matches(obs)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Expr {
    fn matches(&self, obs: &Observation) -> bool {
        match self {
            Expr::Not(e) => !e.matches(obs),
            Expr::And(a, b) => a.matches(obs) && b.matches(obs),
            Expr::Or(a, b) => a.matches(obs) || b.matches(obs),
            Expr::Test(t) => t.matches(obs),
        }
    }
}

impl Test {
    fn matches(&self, obs: &Observation) -> bool {
        let version_ok = match self.proto {
            Proto::Any | Proto::Tcp => true,
            Proto::Ip => obs.ip_version == IpVersion::V4,
            Proto::Ip6 => obs.ip_version == IpVersion::V6,
        };
        if !version_ok {
            return false;
        }
        let side = |src: bool| match self.value {
            Value::Always => true,
            Value::Net(net, bits) => in_net(if src { obs.src_ip } else { obs.dst_ip }, net, bits),
            Value::Ports(lo, hi) => {
                let port = if src { obs.src_port } else { obs.dst_port };
                (lo..=hi).contains(&port)
            }
        };
        match self.dir {
            Dir::SrcOrDst => side(true) || side(false),
            Dir::SrcAndDst => side(true) && side(false),
            Dir::Src => side(true),
            Dir::Dst => side(false),
        }
    }
}

/// `ip` with all but its first `bits` bits cleared.
fn network(ip: IpAddr, bits: u8) -> IpAddr {
    let keep = |width: u32| {
        let bits = u32::from(bits).min(width);
        if bits == 0 {
            0
        } else {
            u128::MAX << (128 - bits) >> (128 - width)
        }
    };
    match ip {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & keep(32) as u32)),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & keep(128))),
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    ip.is_ipv4() == net.is_ipv4() && network(ip, bits) == network(net, bits)
}

#[derive(Clone, Debug)]
struct Token<'a> {
    text: &'a str,
    at: usize,
}

fn tokenize(text: &str) -> Result<Vec<Token<'_>>, FilterError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let start = i;
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if matches!(b, b'(' | b')') || (b == b'!' && bytes.get(i + 1) != Some(&b'=')) {
            i += 1;
        } else if text[i..].starts_with("&&") || text[i..].starts_with("||") {
            i += 2;
        } else if b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'-' | b'_') {
            while bytes.get(i).is_some_and(|&c| {
                c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'/' | b'-' | b'_')
            }) {
                i += 1;
            }
        } else {
            let c = text[i..].chars().next().unwrap_or('?');
            // pcap-filter's byte tests (`tcp[13] & 2 != 0`) and arithmetic
            // are beyond what synprint reads; say so rather than only
            // naming the character.
            let reason = if matches!(c, '[' | ']' | '&' | '|' | '=' | '<' | '>' | '+' | '*') {
                format!("unexpected {c:?}: byte tests and arithmetic (tcp[13] & 2 != 0) are not supported ({SUPPORTED})")
            } else {
                format!("unexpected {c:?}")
            };
            return Err(FilterError {
                filter: text.to_string(),
                at: i,
                reason,
            });
        }
        out.push(Token {
            text: &text[start..i],
            at: start,
        });
    }
    Ok(out)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token<'a>>,
    next: usize,
    /// The qualifiers of the last test, which a bare value repeats.
    last: Option<(Proto, Dir, What)>,
    /// Parentheses and `not`s open around the current test.
    depth: usize,
    tests: usize,
}

/// Bounds on a filter's shape: the parser, the matcher and dropping the
/// tree recurse, so a hostile argument of a million parentheses must not
/// exhaust the stack.
const MAX_DEPTH: usize = 100;
const MAX_TESTS: usize = 10_000;

const SUPPORTED: &str = "this filter reads host, net, port, portrange, src/dst, ip/ip6/tcp, \
                         and/or/not and parentheses";

impl<'a> Parser<'a> {
    fn error(&self, at: usize, reason: String) -> FilterError {
        FilterError {
            filter: self.text.to_string(),
            at,
            reason,
        }
    }

    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.next).cloned()
    }

    fn peek_is(&self, words: &[&str]) -> bool {
        self.peek().is_some_and(|t| words.contains(&t.text))
    }

    fn take(&mut self) -> Option<Token<'a>> {
        let t = self.peek();
        self.next += 1;
        t
    }

    fn end(&self) -> usize {
        self.text.len()
    }

    /// `and` and `or` bind equally, from the left (pcap-filter(7)).
    fn expr(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.unary()?;
        loop {
            let and = if self.peek_is(&["and", "&&"]) {
                true
            } else if self.peek_is(&["or", "||"]) {
                false
            } else {
                return Ok(left);
            };
            self.take();
            let right = self.unary()?;
            left = if and {
                Expr::And(Box::new(left), Box::new(right))
            } else {
                Expr::Or(Box::new(left), Box::new(right))
            };
        }
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        let Some(t) = self.peek() else {
            return Err(self.error(self.end(), "the filter ends where a test should be".into()));
        };
        if !matches!(t.text, "not" | "!" | "(") {
            self.tests += 1;
            if self.tests > MAX_TESTS {
                return Err(self.error(t.at, format!("more than {MAX_TESTS} tests")));
            }
            return self.test().map(Expr::Test);
        }
        if self.depth == MAX_DEPTH {
            let reason = format!("more than {MAX_DEPTH} parentheses and 'not's around a test");
            return Err(self.error(t.at, reason));
        }
        self.take();
        self.depth += 1;
        let inner = if t.text == "(" {
            // After the group, a bare value repeats the qualifiers from
            // before it, not from inside (pcap's grammar).
            let before = self.last;
            let group = self.parenthesized(t.at);
            self.last = before;
            group
        } else {
            self.unary().map(|e| Expr::Not(Box::new(e)))
        };
        self.depth -= 1;
        inner
    }

    /// What follows a `(` at byte `open`, through its `)`.
    fn parenthesized(&mut self, open: usize) -> Result<Expr, FilterError> {
        let e = self.expr()?;
        match self.take() {
            Some(c) if c.text == ")" => Ok(e),
            Some(c) => Err(self.error(c.at, format!("expected ')', found {:?}", c.text))),
            None => Err(self.error(self.end(), format!("'(' at byte {open} is not closed"))),
        }
    }

    fn test(&mut self) -> Result<Test, FilterError> {
        let start = self.next;
        let mut proto = None;
        if let Some(t) = self.peek() {
            proto = match t.text {
                "ip" => Some(Proto::Ip),
                "ip6" => Some(Proto::Ip6),
                "tcp" => Some(Proto::Tcp),
                _ => None,
            };
            if proto.is_some() {
                self.take();
            }
        }
        let dir = self.dir();
        let what = match self.peek().map(|t| t.text) {
            Some("host") => Some(What::Host),
            Some("net") => Some(What::Net),
            Some("port") => Some(What::Port),
            Some("portrange") => Some(What::PortRange),
            _ => None,
        };
        if what.is_some() {
            self.take();
        }
        let qualified = self.next > start;
        // `ip`, `ip6` or `tcp` alone (followed by an operator, a ')' or
        // the end): a test of the protocol.
        if let (Some(p), None, None) = (proto, dir, what) {
            if self
                .peek()
                .is_none_or(|t| [")", "and", "&&", "or", "||"].contains(&t.text))
            {
                self.last = None;
                return Ok(Test {
                    proto: p,
                    dir: Dir::SrcOrDst,
                    value: Value::Always,
                });
            }
        }
        let Some(id) = self.take() else {
            return Err(self.error(self.end(), "the filter ends where a value should be".into()));
        };
        if ["(", ")", "and", "&&", "or", "||", "not", "!"].contains(&id.text) {
            return Err(self.error(id.at, format!("expected a test, found {:?}", id.text)));
        }
        let (proto, dir, what) = match (qualified, self.last) {
            // A bare value repeats the qualifiers before it, as in
            // `port 80 or 443`.
            (false, Some(last)) => last,
            // tcpdump refuses a bare first value too.
            (false, None) => {
                let reason = unsupported(id.text).unwrap_or_else(|| {
                    format!("{:?} needs host, net, port or portrange before it", id.text)
                });
                return Err(self.error(id.at, reason));
            }
            _ => (
                proto.unwrap_or(Proto::Any),
                dir.unwrap_or(Dir::SrcOrDst),
                what.unwrap_or(What::Host),
            ),
        };
        // As tcpdump: `tcp host X`, `ip port N` are refused there.
        let clash = match (proto, what) {
            (Proto::Tcp, What::Host | What::Net) => Some("'tcp' before host or net"),
            (Proto::Ip | Proto::Ip6, What::Port | What::PortRange) => {
                Some("'ip' or 'ip6' before port or portrange (write 'ip and port N')")
            }
            _ => None,
        };
        if let Some(clash) = clash {
            // Where the protocol was named: that word is the mistake.
            let at = self.tokens.get(start).map_or(id.at, |t| t.at);
            return Err(self.error(at, clash.to_string()));
        }
        let value = self.value(&id, what)?;
        if let Value::Net(ip, _) = value {
            // As tcpdump: a test that could never hold is a mistake.
            if (proto == Proto::Ip6 && ip.is_ipv4()) || (proto == Proto::Ip && ip.is_ipv6()) {
                let family = if ip.is_ipv4() { "an IPv4" } else { "an IPv6" };
                let reason = format!(
                    "{family} address under {:?}",
                    if proto == Proto::Ip { "ip" } else { "ip6" }
                );
                return Err(self.error(id.at, reason));
            }
        }
        self.last = Some((proto, dir, what));
        Ok(Test { proto, dir, value })
    }

    fn dir(&mut self) -> Option<Dir> {
        let first = match self.peek().map(|t| t.text) {
            Some("src") => Dir::Src,
            Some("dst") => Dir::Dst,
            _ => return None,
        };
        self.take();
        // `src or dst` / `src and dst` are one qualifier when a type or a
        // value follows the second word.
        let second = self.tokens.get(self.next + 1).map(|t| t.text);
        let other = if first == Dir::Src { "dst" } else { "src" };
        let joined = match (self.peek().map(|t| t.text), second) {
            (Some("or" | "||"), Some(w)) if w == other => Some(Dir::SrcOrDst),
            (Some("and" | "&&"), Some(w)) if w == other => Some(Dir::SrcAndDst),
            _ => None,
        };
        if let Some(d) = joined {
            self.next += 2;
            return Some(d);
        }
        Some(first)
    }

    fn value(&mut self, id: &Token<'a>, what: What) -> Result<Value, FilterError> {
        let at = id.at;
        let text = id.text;
        let wanted = match what {
            What::Port => "a port number (0 to 65535)",
            What::PortRange => "a port range such as 1024-2048",
            What::Host => "an IPv4 or IPv6 address (host names are not resolved)",
            What::Net => "a network: ADDR/LEN, ADDR mask MASK, or 1 to 3 dotted bytes",
        };
        let read = match what {
            What::Port => port(text).map(|p| Value::Ports(p, p)),
            // pcap reads a lone number as one port, and takes the two ends
            // in either order.
            What::PortRange => match text.split_once('-') {
                Some((a, b)) => decimal_port(a)
                    .and_then(|a| Ok((a, decimal_port(b)?)))
                    .map(|(a, b)| Value::Ports(a.min(b), a.max(b))),
                None => port(text).map(|p| Value::Ports(p, p)),
            },
            What::Host => host(text),
            What::Net if self.peek_is(&["mask"]) => {
                self.take();
                let Some(m) = self.take() else {
                    return Err(self.error(self.end(), "'mask' needs a mask".into()));
                };
                return self.masked(id, &m);
            }
            What::Net => net(text).and_then(|v| match v {
                // As tcpdump, which refuses `net 10.0.0.1/8`: a typo for a
                // host, or a longer prefix, more likely than not.
                Value::Net(ip, bits) if network(ip, bits) != ip => {
                    Err(Some(format!("{text:?} has bits set past its /{bits}")))
                }
                v => Ok(v),
            }),
        };
        read.map_err(|reason| {
            let reason = reason.unwrap_or_else(|| self.unreadable(text, wanted));
            self.error(at, reason)
        })
    }

    /// `net ADDR mask MASK`, both IPv4, short forms widened as pcap does.
    fn masked(&self, id: &Token<'a>, m: &Token<'a>) -> Result<Value, FilterError> {
        let (Some((net, net_len)), Some((mask, mask_len))) = (dotted(id.text), dotted(m.text))
        else {
            return Err(self.error(m.at, "'mask' takes an IPv4 network and mask".into()));
        };
        let (net, mask) = (net << (32 - net_len), mask << (32 - mask_len));
        if mask.leading_ones() + mask.trailing_zeros() != 32 {
            return Err(self.error(m.at, format!("mask {} is not contiguous", m.text)));
        }
        if net & !mask != 0 {
            let reason = format!("{:?} has bits set past mask {}", id.text, m.text);
            return Err(self.error(id.at, reason));
        }
        let bits = mask.leading_ones() as u8;
        Ok(Value::Net(IpAddr::V4(Ipv4Addr::from(net)), bits))
    }

    fn unreadable(&self, text: &str, wanted: &str) -> String {
        unsupported(text).unwrap_or_else(|| format!("expected {wanted}, found {text:?}"))
    }
}

/// A word of pcap's language this filter does not read, said so.
fn unsupported(text: &str) -> Option<String> {
    let known = [
        "ether",
        "vlan",
        "mpls",
        "arp",
        "rarp",
        "udp",
        "icmp",
        "icmp6",
        "proto",
        "gateway",
        "broadcast",
        "multicast",
        "less",
        "greater",
        "len",
        "inbound",
        "outbound",
        "ifname",
        "sctp",
        "igmp",
        "pppoes",
        "geneve",
        "wlan",
        "type",
        "subtype",
    ];
    known
        .contains(&text)
        .then(|| format!("{text:?} is not supported ({SUPPORTED})"))
}

/// A reading that failed: `Some` with a reason of its own, or `None` for
/// the caller's "expected ..., found ...".
type Read<T> = Result<T, Option<String>>;

/// A number as pcap's lexer reads one: `0x` hexadecimal, a leading `0`
/// octal, else decimal.
fn number(s: &str) -> Read<u32> {
    let (digits, radix) = if let Some(hex) = s.strip_prefix("0x").or(s.strip_prefix("0X")) {
        (hex, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    let digit = |b: u8| b.is_ascii_digit() || (radix == 16 && b.is_ascii_hexdigit());
    if digits.is_empty() || !digits.bytes().all(digit) {
        return Err(None);
    }
    if radix == 8 && digits.bytes().any(|b| b > b'7') {
        return Err(Some(format!("number {s} contains a non-octal digit")));
    }
    u32::from_str_radix(digits, radix).map_err(|_| Some(format!("number {s} is too large")))
}

fn port(s: &str) -> Read<u16> {
    let n = number(s)?;
    u16::try_from(n).map_err(|_| Some(format!("port {n} is above 65535")))
}

/// The ends of a port range are plain decimal in pcap.
fn decimal_port(s: &str) -> Read<u16> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(None);
    }
    let n: u64 = s.parse().map_err(|_| None)?;
    u16::try_from(n).map_err(|_| Some(format!("port {n} is above 65535")))
}

/// Dotted IPv4 as pcap reads it (each part decimal, leading zeros
/// allowed): the value and its length in bits, 8 per part.
fn dotted(s: &str) -> Option<(u32, u32)> {
    let mut value = 0u32;
    let mut parts = 0;
    for part in s.split('.') {
        if part.is_empty() || part.len() > 8 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u32 = part.parse().ok().filter(|&n| n <= 255)?;
        value = value.checked_mul(256)? | n;
        parts += 1;
    }
    (1..=4).contains(&parts).then_some((value, 8 * parts))
}

fn v4(value: u32, bits: u32) -> Value {
    Value::Net(IpAddr::V4(Ipv4Addr::from(value)), bits as u8)
}

/// A host: an IPv6 address; dotted IPv4 (with fewer than four parts, the
/// network they name, as pcap widens them); or a number, the address it
/// is as 32 bits (`host 10` is 0.0.0.10).
fn host(s: &str) -> Read<Value> {
    if s.contains(':') {
        return s
            .parse::<Ipv6Addr>()
            .map(|a| Value::Net(IpAddr::V6(a), 128))
            .map_err(|_| None);
    }
    if s.contains('.') {
        let (value, len) = dotted(s).ok_or(None)?;
        return Ok(v4(value << (32 - len), len));
    }
    number(s).map(|n| v4(n, 32))
}

/// A network: `ADDR/LEN` (dotted IPv4, widened, or IPv6), a dotted short
/// form (`10.1` is 10.1.0.0/16), or a number, widened to its first nonzero
/// byte (`net 10` is 10.0.0.0/8; `net 0` is 0.0.0.0 alone).
fn net(s: &str) -> Read<Value> {
    if let Some((addr, len)) = s.split_once('/') {
        let bits: u32 = len
            .parse()
            .ok()
            .filter(|_| len.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(None)?;
        let (ip, max) = if addr.contains(':') {
            let a = addr.parse::<Ipv6Addr>().map_err(|_| None)?;
            (IpAddr::V6(a), 128)
        } else if addr.contains('.') {
            let (value, len) = dotted(addr).ok_or(None)?;
            (IpAddr::V4(Ipv4Addr::from(value << (32 - len))), 32)
        } else {
            return Err(None);
        };
        if bits > max {
            return Err(Some(format!("/{bits} is longer than the address")));
        }
        return Ok(Value::Net(ip, bits as u8));
    }
    if s.contains(':') || s.contains('.') {
        return host(s);
    }
    let mut value = number(s)?;
    let mut bits = 32;
    while value != 0 && value & 0xff00_0000 == 0 {
        value <<= 8;
        bits -= 8;
    }
    Ok(v4(value, bits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::{Stack, TcpPacket};
    use crate::packet::{decode_ip, Timestamp};

    fn syn(src: &str, sport: u16, dst: &str, dport: u16) -> Observation {
        let p = Stack::Linux.syn(src.parse().unwrap(), sport, dst.parse().unwrap(), dport, 1);
        decode_ip(Timestamp(1), &p.ip_bytes()).unwrap().unwrap()
    }

    fn syn_ack(src: &str, sport: u16, dst: &str, dport: u16) -> Observation {
        let s = Stack::Linux.syn(dst.parse().unwrap(), dport, src.parse().unwrap(), sport, 1);
        let p = TcpPacket::syn_ack_for(&s);
        decode_ip(Timestamp(1), &p.ip_bytes()).unwrap().unwrap()
    }

    fn keeps(filter: &str, obs: &Observation) -> bool {
        Filter::parse(filter)
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .matches(obs)
    }

    #[test]
    fn tests_read_addresses_ports_and_directions() {
        let a = syn("10.1.2.3", 40000, "192.0.2.80", 443);
        assert!(keeps("host 10.1.2.3", &a));
        assert!(keeps("src 10.1.2.3", &a), "a direction alone means host");
        assert!(keeps("dst host 192.0.2.80", &a));
        assert!(!keeps("src host 192.0.2.80", &a));
        assert!(keeps("port 443", &a));
        assert!(keeps("tcp dst port 443", &a));
        assert!(!keeps("src port 443", &a));
        assert!(keeps("src or dst port 40000", &a));
        assert!(!keeps("src and dst port 443", &a));
        assert!(keeps("portrange 443-443", &a));
        assert!(keeps("portrange 50000-30000", &a), "ends in either order");
        assert!(keeps("net 10.0.0.0/8", &a));
        assert!(keeps("net 10", &a));
        assert!(keeps("net 10.1", &a));
        assert!(!keeps("net 10.2", &a));
        assert!(keeps("net 10.1.0.0 mask 255.255.0.0", &a));
        assert!(keeps("src net 0.0.0.0/0", &a));
        assert!(keeps("ip", &a) && !keeps("ip6", &a) && keeps("tcp", &a));
        assert!(!keeps("ip6 and port 443", &a));
        // Numbers as pcap's lexer reads them: octal, hexadecimal.
        assert!(keeps("port 0x1bb", &a) && keeps("port 0673", &a));
        assert!(keeps("portrange 443", &a) && keeps("portrange 0443-0443", &a));
        // A short dotted host is the network it names; a number, 32 bits.
        assert!(keeps("host 10.1", &a) && keeps("src host 010.001.002.003", &a));
        assert!(keeps("dst host 3221226064", &a), "192.0.2.80 as a number");
        assert!(keeps("net 10.1/16", &a) && keeps("net 10.1 mask 255.255", &a));
        assert!(keeps("net 012", &a), "octal 10: 10.0.0.0/8");
        assert!(!keeps("net 0", &a), "0.0.0.0 alone");
        assert!(keeps("dst or src port 443", &a) && !keeps("dst and src port 443", &a));
        // A v6 network never holds a v4 address.
        assert!(!keeps("net ::/0", &a));

        let b = syn_ack("2001:db8::1", 443, "2001:db8:ff::7", 50000);
        assert!(keeps("ip6 src host 2001:db8::1", &b));
        assert!(keeps("dst net 2001:db8:ff::/48", &b));
        assert!(!keeps("dst net 2001:db8:fe::/48", &b));
        assert!(keeps("src port 443", &b));
        assert!(!keeps("ip", &b));
    }

    /// pcap-filter(7): `not` binds tightest; `and` and `or` bind equally,
    /// from the left; a bare value repeats the qualifiers before it.
    #[test]
    fn precedence_and_repeated_qualifiers_are_pcaps() {
        let a = syn("10.1.2.3", 40000, "192.0.2.80", 443);
        // (false or true) and false: false; read the usual way it is true.
        assert!(!keeps("port 1 or port 443 and port 2", &a));
        assert!(keeps("port 1 or (port 443 and not port 2)", &a));
        assert!(keeps("not port 1 and not port 2", &a));
        assert!(keeps("port 80 or 443", &a));
        assert!(!keeps("port 80 or 8443", &a));
        // `not host X and Y`: Y is a host too.
        assert!(keeps("not host 10.9.9.9 and 10.1.2.3", &a));
        assert!(!keeps("not host 10.9.9.9 and 10.1.2.4", &a));
        assert!(keeps("src host 10.1.2.3 and (192.0.2.9 or 10.1.2.3)", &a));
        assert!(
            !keeps("dst port 80 or 40000", &a),
            "the bare 40000 is a dst port"
        );
        assert!(keeps("! ( port 1 || port 2 ) && port 443", &a));
        // After a group, a bare value takes the qualifiers from before it.
        assert!(keeps("src port 1 and (dst port 2) or 40000", &a));
        assert!(!keeps("src port 1 and (dst port 2) or 443", &a));
        assert!(keeps("port 80 and not (host 10.9.9.9) or 443", &a));
    }

    #[test]
    fn what_is_not_understood_is_named() {
        for (filter, at, says) in [
            (
                "ether host 00:11:22:33:44:55",
                0,
                "\"ether\" is not supported",
            ),
            ("tcp[13] & 2 != 0", 3, "byte tests and arithmetic"),
            ("port 443 and", 12, "ends where a test should be"),
            ("(port 443", 9, "'(' at byte 0 is not closed"),
            ("port 443)", 8, "unexpected \")\""),
            ("host example.com", 5, "host names are not resolved"),
            ("port https", 5, "a port number"),
            ("port 65536", 5, "above 65535"),
            ("port 08", 5, "non-octal digit"),
            ("port 0x", 5, "a port number"),
            ("portrange 0x10-0x20", 10, "a port range"),
            ("net 10/8", 4, "a network"),
            (
                "(dst port 2) or 3",
                16,
                "needs host, net, port or portrange",
            ),
            ("tcp host 10.0.0.1", 0, "'tcp' before host or net"),
            ("ip port 80", 0, "'ip' or 'ip6' before port"),
            ("ip6 src port 80", 0, "'ip' or 'ip6' before port"),
            ("net 10.0.0.0/33", 4, "longer than the address"),
            ("net 10.0.0.0 mask 255.0.255.0", 18, "not contiguous"),
            ("net 1.2.3.4.5", 4, "a network"),
            ("udp port 53", 0, "\"udp\" is not supported"),
            ("", 0, "ends where a test should be"),
            ("port é", 5, "unexpected 'é'"),
            ("10.1.2.3", 0, "needs host, net, port or portrange"),
            ("net 10.0.0.1/8", 4, "bits set past its /8"),
            ("net 2001:db8::1/32", 4, "bits set past its /32"),
            ("net 10.1.0.0 mask 255.0.0.0", 4, "bits set past mask"),
            ("()", 1, "expected a test, found \")\""),
            ("port 1 or or port 2", 10, "expected a test"),
            ("host and port 1", 5, "expected a test"),
            (&"(".repeat(101), 100, "more than 100 parentheses"),
            (&"not ".repeat(200), 400, "more than 100 parentheses"),
            (
                &"port 1 or ".repeat(10_001),
                100_000,
                "more than 10000 tests",
            ),
            ("ip6 host 10.0.0.1", 9, "an IPv4 address under \"ip6\""),
            ("ip net 2001:db8::/32", 7, "an IPv6 address under \"ip\""),
            ("tcp and 443", 8, "needs host, net, port or portrange"),
        ] {
            let shown = filter.get(..60).unwrap_or(filter);
            let e = Filter::parse(filter).expect_err(shown);
            assert_eq!(e.at, at, "{shown}: {e}");
            assert!(e.reason.contains(says), "{shown}: {e}");
        }
    }
}

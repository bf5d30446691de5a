//! Labelled test SYNs for the classifier's tests: `craft::Stack` presets
//! with the noise real traffic has (hop counts, MSS lowered by PPPoE, VPNs
//! and mobile networks, the windows and scales that vary with it, IPv6).
//!
//! The variation follows the public facts cited in data/os-model.toml, but is
//! written independently of that file's counts: these generators describe
//! stacks, the model file describes evidence.

use crate::craft::{Stack, TcpPacket};
use crate::packet::{Observation, Timestamp};

use super::Os;

/// The Observation of a crafted packet.
pub fn observation(p: &TcpPacket) -> Observation {
    p.to_observation(Timestamp(1_700_000_000_000_000_000))
        .expect("a crafted SYN or SYN+ACK decodes")
}

/// xorshift64*: deterministic, so every test run sees the same traffic.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

pub fn label(stack: Stack) -> Os {
    match stack {
        Stack::Windows => Os::Windows,
        Stack::MacOs => Os::MacOs,
        Stack::Ios => Os::Ios,
        Stack::Linux => Os::Linux,
        Stack::Android => Os::Android,
        Stack::FreeBsd => Os::FreeBsd,
        Stack::OpenBsd => Os::OpenBsd,
        Stack::Embedded => Os::Embedded,
    }
}

/// Rewrites the MSS option in place (the preset's layout is kept).
fn set_mss(p: &mut TcpPacket, mss: u16) {
    if let Some(i) = p.options.windows(2).position(|w| w == [2, 4]) {
        if let Some(b) = p.options.get_mut(i + 2..i + 4) {
            b.copy_from_slice(&mss.to_be_bytes());
        }
    }
}

fn set_ws(p: &mut TcpPacket, ws: u8) {
    if let Some(i) = p.options.windows(2).position(|w| w == [3, 3]) {
        if let Some(b) = p.options.get_mut(i + 2) {
            *b = ws;
        }
    }
}

/// One SYN as a real client of `stack` sends it through a real network.
pub fn realistic_syn(stack: Stack, n: u32, rng: &mut Rng) -> Observation {
    let v6 = rng.chance(match stack {
        Stack::Ios | Stack::Android => 30,
        _ => 15,
    });
    let (src, dst) = crate::craft::numbered_hosts(n, v6);
    let port = 1024 + (n % 60000) as u16;
    let mut p = stack.syn(src, port, dst, 443, n);
    let base = if v6 { 1440u16 } else { 1460 };
    // Path MSS: what the link below the client allows.
    let mobile = matches!(stack, Stack::Ios | Stack::Android);
    let deficit: u16 = if mobile {
        rng.pick(&[0, 0, 0, 8, 20, 40, 48, 60, 60, 80, 100, 120, 160, 220])
    } else {
        rng.pick(&[0, 0, 0, 0, 0, 0, 8, 8, 20, 40, 60, 100])
    };
    let mss = base - deficit;
    set_mss(&mut p, mss);
    match stack {
        Stack::Windows => {
            p.window = rng.pick(&[64240, 64240, 64240, 64240, 65535, 8192]);
            if p.window == 8192 {
                set_ws(&mut p, 2);
            }
        }
        Stack::MacOs | Stack::Ios => {
            set_ws(&mut p, rng.pick(&[6, 6, 5]));
            if rng.chance(12) {
                p.flags |= crate::packet::flags::ECE | crate::packet::flags::CWR;
            }
        }
        Stack::Linux => {
            // The host either knows the lower MTU itself (VPN on the host:
            // window follows its MSS) or a router clamps the MSS later
            // (window stays 64240).
            if rng.chance(50) {
                p.window = (65535 / mss) * mss;
            }
            // Kernels since 6.16 scale by 10 (32 MiB tcp_rmem[2]); tuned
            // or smaller machines by 8 or 9.
            if rng.chance(20) {
                set_ws(&mut p, 10);
            } else if rng.chance(10) {
                set_ws(&mut p, rng.pick(&[8, 9]));
            }
        }
        Stack::Android => {
            set_ws(&mut p, rng.pick(&[8, 8, 8, 9, 9, 10, 7, 12]));
        }
        Stack::Embedded => {
            let mult = rng.pick(&[4u16, 10, 20]);
            p.window = mss.saturating_mul(mult);
            set_ws(&mut p, rng.pick(&[1, 2, 3, 4, 5]));
        }
        Stack::FreeBsd | Stack::OpenBsd => {}
    }
    let hops = rng.pick(&[2u8, 5, 8, 10, 12, 14, 16, 20]);
    p.ttl = p.ttl.saturating_sub(hops);
    observation(&p)
}

/// `per_stack` SYNs of each given stack, labelled.
pub fn labelled_set(stacks: &[Stack], per_stack: u32, seed: u64) -> Vec<(Observation, Os)> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let mut n = 0;
    for &s in stacks {
        for _ in 0..per_stack {
            n += 1;
            out.push((realistic_syn(s, n, &mut rng), label(s)));
        }
    }
    out
}

/// The five client OSes of the held-out set.
pub const BROWSER_STACKS: [Stack; 5] = [
    Stack::Windows,
    Stack::MacOs,
    Stack::Ios,
    Stack::Android,
    Stack::Linux,
];

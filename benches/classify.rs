//! Cost of OS classification per SYN, in release mode:
//! `cargo bench --bench classify`.
//!
//! Measures, in one run and over the same observations, a pass that only
//! walks the observations and a pass that classifies each one, and prints
//! the difference per SYN (the analyze benchmark's budget is 100 ns).
//!
//! 8,192 distinct observations are classified 128 times each: in `analyze`
//! the observation was decoded a moment before and is in cache, so the
//! benchmark measures the classifier's arithmetic, not DRAM latency.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

/// CPU time of this thread in seconds: on a shared machine wall-clock time
/// measures the neighbours, this measures us.
fn cpu_now() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to the valid pointer given.
    #[allow(unsafe_code)]
    unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

struct Instant(f64);
impl Instant {
    fn now() -> Instant {
        Instant(cpu_now())
    }
    fn elapsed(&self) -> Secs {
        Secs(cpu_now() - self.0)
    }
}
struct Secs(f64);
impl Secs {
    fn as_secs_f64(&self) -> f64 {
        self.0
    }
}

use synprint::classify::{Features, Model, P0fClass};
use synprint::craft::Stack;
use synprint::packet::{Observation, Timestamp};

fn observations(n: u32) -> Vec<Observation> {
    let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    (0..n)
        .map(|i| {
            let stack = Stack::ALL[(i as usize * 7 + (i as usize >> 3)) % Stack::ALL.len()];
            let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | i));
            let mut p = stack.syn(src, 1024 + (i % 60000) as u16, dst, 443, i);
            p.ttl = p.ttl.saturating_sub((i % 23) as u8);
            p.window = p.window.wrapping_sub(((i % 5) * 40) as u16);
            p.to_observation(Timestamp(u64::from(i)))
                .expect("a crafted SYN decodes")
        })
        .collect()
}

fn main() {
    let model = match Model::builtin() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let obs = observations(8192);
    // SYNPRINT_CLASSIFY_REPEAT=1 for instruction counts under callgrind.
    let repeat: usize = std::env::var("SYNPRINT_CLASSIFY_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    let n = (obs.len() * repeat) as f64;
    // The p0f label is mapped to its class inside the loop, as it was
    // when `classify` took the label.
    let hint = ("Linux", "3.11 and newer");
    let rounds = if repeat < 128 { 1 } else { 3 };
    for round in 0..rounds {
        let t = Instant::now();
        let mut acc = 0u64;
        for o in obs.iter().cycle().take(obs.len() * repeat) {
            let o = black_box(o);
            acc = acc.wrapping_add(u64::from(o.window) + o.options.len() as u64);
        }
        black_box(acc);
        let walk = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let mut acc = 0f32;
        for o in obs.iter().cycle().take(obs.len() * repeat) {
            acc += model.classify(black_box(o), None).confidence;
        }
        black_box(acc);
        let classify = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let mut acc = 0u64;
        for o in obs.iter().cycle().take(obs.len() * repeat) {
            acc = acc.wrapping_add(Features::of(black_box(o), None).layout.key());
        }
        black_box(acc);
        let features = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let mut acc = 0f32;
        for o in obs.iter().cycle().take(obs.len() * repeat) {
            let (name, flavor) = black_box(hint);
            acc += model
                .classify(black_box(o), Some(P0fClass::of(name, flavor)))
                .confidence;
        }
        black_box(acc);
        let with_p0f = t.elapsed().as_secs_f64();

        println!(
            "round {round} (CPU time): walk {:.1} ns/SYN, features only {:.1} ns, walk+classify {:.1} ns/SYN (classification adds {:.1} ns), with p0f hint {:.1} ns/SYN",
            walk / n * 1e9,
            features / n * 1e9,
            classify / n * 1e9,
            (classify - walk) / n * 1e9,
            with_p0f / n * 1e9,
        );
    }
}

//! Resident memory of the fingerprint store under a flood of SYNs from
//! distinct spoofed addresses, for the README:
//!
//!     cargo run --release --example store_flood -- [ADDRESSES] [MAX_IPS]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use synprint::analyze::Engine;
use synprint::craft::Stack;
use synprint::packet::{self, Timestamp};
use synprint::store::{FingerprintStore, MemoryStore, StoreConfig};

fn resident_mib() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(f64::NAN, |pages| pages as f64 * 4096.0 / 1048576.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u32 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let defaults = StoreConfig::default();
    let max_ips: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(defaults.max_ips);
    let config = StoreConfig {
        max_ips,
        max_connections: max_ips,
        ..defaults
    };
    let engine = Engine::default();
    let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let bytes = Stack::Windows
        .syn(src, 40000, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 443, 1)
        .ip_bytes();
    let Ok(Some(template)) = packet::decode_ip(Timestamp(0), &bytes) else {
        eprintln!("the crafted SYN did not decode");
        std::process::exit(1);
    };
    let template = engine.fingerprint(template, None);
    let store = MemoryStore::new(config);
    let base = resident_mib();
    let start = Instant::now();
    for i in 0..n {
        // IPv4 addresses for an IPv4 template: always a record.
        let Some(r) = template.clone().with_source(
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | i)),
            (i % 60000) as u16 + 1024,
            Timestamp(1_700_000_000_000_000_000 + u64::from(i) * 1000),
        ) else {
            continue;
        };
        store.insert(Arc::new(r));
    }
    let secs = start.elapsed().as_secs_f64();
    let s = store.stats(Timestamp(1_700_000_000_000_000_000 + u64::from(n) * 1000));
    println!(
        "{n} distinct addresses, store bound {max_ips} addresses / {} connections",
        config.max_connections
    );
    println!(
        "kept {} addresses, {} connections; evicted {} addresses",
        s.ips, s.connections, s.evicted_ips
    );
    println!(
        "resident memory: {:.1} MiB before, {:.1} MiB after ({:.0} inserts/s)",
        base,
        resident_mib(),
        f64::from(n) / secs
    );
}

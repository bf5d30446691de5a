//! A flood of SYNs from a million distinct (spoofed) source addresses keeps
//! the store within its configured bound.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use synprint::analyze::Engine;
use synprint::craft::Stack;
use synprint::packet::{self, Timestamp};
use synprint::store::{FingerprintStore, MemoryStore, StoreConfig};

fn resident_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

#[test]
fn million_distinct_addresses_stay_within_bound() {
    let engine = Engine::default();
    let server = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let template = |stack: Stack, src: IpAddr| {
        let bytes = stack.syn(src, 40000, server, 443, 1).ip_bytes();
        packet::decode_ip(Timestamp(0), &bytes)
            .expect("decodes")
            .expect("a SYN")
    };
    // Fingerprint two templates once; the flood varies only the addresses,
    // ports and times of copies (the store never looks past them).
    let v4 = engine.fingerprint(
        template(Stack::Windows, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
        None,
    );
    let v6 = engine.fingerprint(
        template(Stack::Android, IpAddr::V6(Ipv6Addr::LOCALHOST)),
        None,
    );
    let config = StoreConfig {
        max_ips: 50_000,
        per_ip: 4,
        max_connections: 20_000,
        ttl_ns: 3600 * 1_000_000_000,
    };
    let store = MemoryStore::new(config);
    let before = resident_kib();
    const N: u32 = 1_000_000;
    for i in 0..N {
        // Every tenth address is IPv6; all are distinct.
        let (r, src) = if i % 10 == 0 {
            let a = Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(i));
            (v6.clone(), IpAddr::V6(a))
        } else {
            (v4.clone(), IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | i)))
        };
        let r = r
            .with_source(
                src,
                (i % 60000) as u16 + 1024,
                Timestamp(1_700_000_000_000_000_000 + u64::from(i) * 1000),
            )
            .expect("the template's IP version");
        store.insert(Arc::new(r));
        if i % 100_000 == 0 {
            let s = store.stats(Timestamp(1_700_000_000_000_000_000 + u64::from(i) * 1000));
            assert!(s.ips <= config.max_ips && s.connections <= config.max_connections);
        }
    }
    let s = store.stats(Timestamp(1_700_000_000_000_000_000 + u64::from(N) * 1000));
    assert_eq!(s.inserted, u64::from(N));
    assert_eq!(s.ips, config.max_ips);
    assert_eq!(s.connections, config.max_connections);
    assert_eq!(
        s.fingerprints, config.max_ips,
        "one fingerprint per spoofed address"
    );
    assert_eq!(s.evicted_ips, u64::from(N) - config.max_ips as u64);
    assert_eq!(
        s.evicted_connections,
        u64::from(N) - config.max_connections as u64
    );
    let (q_ips, q_conns) = store.queue_lengths();
    assert!(q_ips <= 2 * config.max_ips + 64, "ip queue {q_ips}");
    assert!(
        q_conns <= 2 * config.max_connections + 64,
        "conn queue {q_conns}"
    );
    // The newest addresses are the ones kept.
    let now = Timestamp(1_700_000_000_000_000_000 + u64::from(N) * 1000);
    let newest = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (N - 1)));
    assert!(store.by_ip(newest, now).is_some());
    assert!(store
        .by_ip(IpAddr::V4(Ipv4Addr::from(0x0a00_0001)), now)
        .is_none());
    // Resident memory grows with the bound, not with the flood: 50,000
    // addresses + 20,000 connections of records fit well within 256 MiB
    // (the process baseline is included in neither side).
    if let (Some(b), Some(a)) = (before, resident_kib()) {
        let grown_mib = a.saturating_sub(b) / 1024;
        assert!(grown_mib < 256, "resident memory grew {grown_mib} MiB");
    }
}

//! The `--filter` expression reader on arbitrary text: a filter or a typed
//! error whose offset lies within the text, never a panic; a filter is
//! applied to an IPv4 and an IPv6 SYN.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use synprint::craft::Stack;
use synprint::packet::{decode_ip, Filter, Timestamp};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let filter = match Filter::parse(text) {
        Ok(f) => f,
        Err(e) => {
            assert!(e.at <= text.len(), "{e}");
            let _ = e.to_string();
            return;
        }
    };
    let v4 = |d| IpAddr::V4(Ipv4Addr::new(10, 0, 0, d));
    let v6 = |d| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, d));
    for (a, b) in [(v4(1), v4(2)), (v6(1), v6(2))] {
        let p = Stack::Linux.syn(a, 40000, b, 443, 1);
        if let Ok(Some(obs)) = decode_ip(Timestamp(1), &p.ip_bytes()) {
            let _ = filter.matches(&obs);
        }
    }
});

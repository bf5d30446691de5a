//! Own-listener mode over real loopback connections: each connection is
//! answered from its own saved SYN.

mod skipped;
use skipped::skipped;
mod serve_common;

use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Duration;

use serve_common::{connect, get_on, loopback_config, SynShape, TestServer};
use socket2::{Domain, Protocol, Socket, Type};

fn shaped(mss: u32, ttl: u32, rcvbuf: usize) -> SynShape {
    SynShape {
        mss: Some(mss),
        ttl: Some(ttl),
        rcvbuf: Some(rcvbuf),
    }
}

#[test]
fn each_connection_gets_its_own_syn_ipv4_and_ipv6() {
    let srv = TestServer::start(loopback_config());
    for v6 in [false, true] {
        let addr = srv.addr(v6);
        let shapes = [shaped(1000, 100, 8192), shaped(1200, 42, 1 << 20)];
        for shape in shapes {
            let mut s = connect(addr, shape);
            let local = s.local_addr().expect("local addr");
            let r = get_on(&mut s, "/classify?detail=1", &[]);
            assert_eq!(r.status, 200);
            let j = r.json();
            let fp = &j["fp"];
            assert_eq!(fp["tcp_mss"], shape.mss.expect("set"), "v6={v6} {j}");
            assert_eq!(fp["ip_ttl"], shape.ttl.expect("set"), "v6={v6}");
            assert_eq!(fp["ip_version"], if v6 { 6 } else { 4 });
            assert_eq!(fp["src_port"], local.port());
            assert_eq!(fp["kind"], "syn");
            assert_eq!(j["syn_source"], "saved_syn");
            assert_eq!(j["lookup_port"], local.port());
            assert!(j["rtt_ms"].is_number(), "TCP_INFO rtt: {j}");
            // The test classifier says Windows for TTL > 64.
            let windows = j["avg_score_os_class"]["Windows"].as_f64().expect("score");
            assert_eq!(windows > 0.5, shape.ttl > Some(64), "{j}");
            // A second request on the same keep-alive connection is answered
            // from the cached SYN (the kernel gives it out only once).
            let again = get_on(&mut s, "/classify?detail=1", &[]).json();
            assert_eq!(again["fp"], j["fp"]);
        }
    }
}

/// A SYN whose IPv6 extension headers make its saved headers longer than
/// the listener's first buffer (512 bytes) is still read and fingerprinted:
/// a client cannot turn the User-Agent check off by padding its SYN.
#[test]
fn long_ipv6_extension_headers_are_read_whole() {
    let srv = TestServer::start(loopback_config());
    let addr = srv.addr(true);
    let s = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP)).expect("socket");
    // A 448-byte hop-by-hop header: its length in 8-byte units after the
    // first, then two options of a type to skip when unknown (0x1e).
    const LEN: usize = 448;
    let mut hbh = vec![0, (LEN / 8 - 1) as u8];
    for len in [250u8, 192] {
        hbh.extend([0x1e, len]);
        hbh.resize(hbh.len() + usize::from(len), 0);
    }
    assert_eq!(hbh.len(), LEN);
    // SAFETY: `hbh` is readable for its length, passed as the option length.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_HOPOPTS,
            hbh.as_ptr().cast(),
            hbh.len() as libc::socklen_t,
        )
    };
    if rc != 0 {
        skipped(&format!(
            "IPV6_HOPOPTS needs CAP_NET_RAW: {}",
            std::io::Error::last_os_error()
        ));
        return;
    }
    s.connect_timeout(&addr.into(), Duration::from_secs(5))
        .expect("connect");
    let mut t: TcpStream = s.into();
    t.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let port = t.local_addr().expect("local addr").port();
    let j = get_on(&mut t, "/classify?detail=1", &[]).json();
    assert_eq!(j["syn_source"], "saved_syn", "{j}");
    assert_eq!(j["fp"]["ip_version"], 6, "{j}");
    assert_eq!(j["fp"]["src_port"], port, "{j}");
}

/// A kernel SYN shaped as a router's (MSS 1452, a 5,808-byte window
/// without scaling, as mod_tcpfingerprint's botnet SYNs) under a phone's
/// User-Agent: the family agrees, so `os_mismatch` is false, and the short
/// answer says a device's stack instead; this machine's own SYN does not.
#[test]
fn a_routers_stack_under_a_phones_user_agent_is_said_in_the_short_answer() {
    const ANDROID_UA: &str = "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 \
                              (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36";
    let classifier = synprint::serve::installed_classifier();
    let srv = TestServer::start_with(loopback_config(), classifier, Vec::new());
    let ask = |shape: SynShape| {
        let mut s = connect(srv.addr(false), shape);
        let short = get_on(&mut s, "/classify", &[("User-Agent", ANDROID_UA)]).json();
        let detail = get_on(&mut s, "/classify?detail=1", &[("User-Agent", ANDROID_UA)]).json();
        (short, detail)
    };
    let (short, _) = ask(SynShape::default());
    assert_eq!(short["embedded_suspected"], false, "{short}");
    assert_eq!(short["middlebox_suspected"], false, "{short}");
    let (short, detail) = ask(SynShape {
        mss: Some(1452),
        rcvbuf: Some(5808),
        ..SynShape::default()
    });
    let fp = &detail["fp"];
    if fp["tcp_window_size"] != 5808 || fp["tcp_window_scaling"] != 0 {
        skipped(&format!(
            "a_routers_stack_under_a_phones_user_agent_is_said_in_the_short_answer: this \
             kernel's SYN for a 5808-byte receive buffer is not a router's ({fp})"
        ));
        return;
    }
    assert_eq!(short["classification"]["os"], "embedded", "{short}");
    assert_eq!(short["os_mismatch"], false, "{short}");
    assert_eq!(short["embedded_suspected"], true, "{short}");
    assert_eq!(detail["verdict"]["embedded_suspected"], true, "{detail}");
}

#[test]
fn short_answer_has_zardaxt_shape() {
    let srv = TestServer::start(loopback_config());
    let mut s = connect(srv.addr(false), SynShape::default());
    let r = get_on(
        &mut s,
        "/classify",
        &[("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let j = r.json();
    assert_eq!(j["lookup_ip"], "127.0.0.1");
    assert_eq!(j["kind"], "syn");
    // zardaxt's clients divide by it.
    assert_eq!(j["perfect_score"], 1.0);
    let scores = j["avg_score_os_class"].as_object().expect("scores");
    let mut keys: Vec<&str> = scores.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "Android",
            "Chromium OS",
            "Linux",
            "Mac OS",
            "Windows",
            "iOS"
        ]
    );
    // Loopback SYNs carry TTL 64: the test classifier says Linux, so a
    // Windows User-Agent is a mismatch.
    assert_eq!(j["os_mismatch"], true, "{j}");
    assert_eq!(j["classification"]["os"], "Linux");
    assert!(j.get("fp").is_none(), "short answer has no record");

    // A byte that is not ASCII anywhere in the User-Agent (hyper will not
    // give such a header out as text) must not switch the check off.
    let mut s = connect(srv.addr(false), SynShape::default());
    let j = get_on(
        &mut s,
        "/classify",
        &[(
            "User-Agent",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) caf\u{e9}",
        )],
    )
    .json();
    assert_eq!(j["os_mismatch"], true, "{j}");
}

#[test]
fn concurrent_connections_from_one_address_get_different_answers() {
    let srv = TestServer::start(loopback_config());
    let addr = srv.addr(false);
    // Open all connections first, then ask on each: they are alive at the
    // same time from the same address.
    let mut conns: Vec<_> = (0..8u32)
        .map(|i| {
            let mss = 600 + i * 50;
            (
                mss,
                connect(
                    addr,
                    SynShape {
                        mss: Some(mss),
                        ..Default::default()
                    },
                ),
            )
        })
        .collect();
    let handles: Vec<_> = conns
        .drain(..)
        .map(|(mss, mut s)| {
            std::thread::spawn(move || {
                let port = s.local_addr().expect("local").port();
                let j = get_on(&mut s, "/classify?detail=1", &[]).json();
                (mss, port, j)
            })
        })
        .collect();
    for h in handles {
        let (mss, port, j) = h.join().expect("client thread");
        assert_eq!(j["fp"]["tcp_mss"], mss, "{j}");
        assert_eq!(j["fp"]["src_port"], port);
    }
    // by_ip answers with the address's newest fingerprint instead, and the
    // store holds one history with eight distinct fingerprints (per-IP cap
    // is 8 by default).
    let mut s = connect(
        addr,
        SynShape {
            mss: Some(1400),
            ..Default::default()
        },
    );
    let j = get_on(&mut s, "/classify?by_ip=1&detail=1", &[]).json();
    assert_eq!(j["syn_source"], "store");
    assert_eq!(j["fp"]["tcp_mss"], 1400);
    assert_eq!(j["num_fingerprints"], 8);
    assert_eq!(j["details"]["num_syns"], 9);
}

#[test]
fn dual_stack_wildcard_accepts_ipv4() {
    let mut config = loopback_config();
    config.listen = vec!["[::]:0".parse().expect("addr")];
    let srv = TestServer::start(config);
    let port = srv.addr(true).port();
    let v4: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let mut s = connect(
        v4,
        SynShape {
            ttl: Some(77),
            ..Default::default()
        },
    );
    let j = get_on(&mut s, "/classify?detail=1", &[]).json();
    assert_eq!(j["lookup_ip"], "127.0.0.1", "v4-mapped peer shown as IPv4");
    assert_eq!(j["fp"]["ip_version"], 4);
    assert_eq!(j["fp"]["ip_ttl"], 77);
}

#[test]
fn real_classifier_answers_and_judges_the_user_agent() {
    let srv = TestServer::start_with(
        loopback_config(),
        synprint::serve::installed_classifier(),
        Vec::new(),
    );
    let mut s = connect(srv.addr(false), SynShape::default());
    let j = get_on(
        &mut s,
        "/classify?detail=1",
        &[(
            "User-Agent",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120",
        )],
    )
    .json();
    // This machine's kernel is Linux: the classifier's family for its own
    // SYN, and the verdict against a Windows User-Agent.
    assert_eq!(j["classification"]["family"], "Linux", "{j}");
    assert_eq!(j["fp"]["classification"], j["classification"]);
    assert_eq!(j["verdict"]["ua_family"], "Windows", "{j}");
    assert_eq!(j["os_mismatch"], j["verdict"]["os_mismatch"]);
    assert_eq!(j["os_mismatch"], true, "{j}");
    assert_eq!(j["verdict"]["ua_crawler"], false, "{j}");
    let sum: f64 = j["avg_score_os_class"]
        .as_object()
        .expect("scores")
        .values()
        .filter_map(serde_json::Value::as_f64)
        .sum();
    assert!(sum > 0.0 && sum <= 1.001, "{sum}");

    // The same claim from a declared crawler, or past the bytes read, is
    // not judged, and the answer says which.
    let windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120";
    let crawler = format!("{windows} MyBot/1.0");
    let padded = format!("{} {windows}", "X".repeat(520));
    for (ua, crawls, reason) in [
        (crawler.as_str(), true, "User-Agent declares a crawler"),
        (
            padded.as_str(),
            false,
            "names no known OS in its first 512 bytes",
        ),
    ] {
        let j = get_on(&mut s, "/classify?detail=1", &[("User-Agent", ua)]).json();
        assert_eq!(j["os_mismatch"], serde_json::Value::Null, "{j}");
        assert_eq!(j["verdict"]["ua_crawler"], crawls, "{j}");
        assert_eq!(j["verdict"]["ua_os"], serde_json::Value::Null, "{j}");
        let reasons = j["verdict"]["reasons"].to_string();
        assert!(reasons.contains(reason), "{reasons}");
    }
}
